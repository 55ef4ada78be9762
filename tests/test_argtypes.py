"""The command line's number parsers (dtd.commands.argtypes), used by every command, and the one
NumPy-read-error message (dtd._files.numpy_error) that the commands and dtd.batch share.

Compared against Python's own int()/float() and the bounds each option states; no tolerance.
"""
import argparse
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

from dtd._files import numpy_error
from dtd.cli import main
from dtd.commands.argtypes import fraction, integer, number


@given(st.integers(-10**6, 10**6), st.integers(-5, 5))
def test_integer_matches_int_and_its_bound(v, low):
    parse = integer(low)
    if v >= low:
        assert parse(str(v)) == v
    else:
        with pytest.raises(argparse.ArgumentTypeError, match=f"must be >= {low}"):
            parse(str(v))


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_number_is_a_finite_float(v):
    if math.isfinite(v):
        assert number()(repr(v)) == v
        if v > 0:
            assert number(0, strict=True)(repr(v)) == v
        elif v == 0:
            with pytest.raises(argparse.ArgumentTypeError, match="must be > 0"):
                number(0, strict=True)(repr(v))
    else:
        with pytest.raises(argparse.ArgumentTypeError, match="must be finite"):
            number()(repr(v))


@pytest.mark.parametrize("text, value", [("1/255", 1 / 255), ("0.5", 0.5), ("255", 255.0)])
def test_fraction(text, value):
    assert fraction(text) == value


@pytest.mark.parametrize("text", ["0", "1/0", "-1/2", "abc", "inf"])
def test_fraction_refuses(text):
    with pytest.raises(argparse.ArgumentTypeError):
        fraction(text)


@pytest.mark.parametrize("args, message", [
    (["explain", "m.npz", "x.npy", "--zoom", "0"], "argument --zoom: must be >= 1, got '0'"),
    (["evaluate", "m.npz", "x.npy", "--region", "0"], "argument --region: must be >= 1, got '0'"),
    (["evaluate", "m.npz", "x.npy", "--blur-sigma", "0"], "argument --blur-sigma: must be > 0, got '0'"),
    (["evaluate", "m.npz", "x.npy", "--box", "0", "nan"], "argument --box: must be finite, got 'nan'"),
    (["explain", "m.npz", "--dataset", "x.npy", "--chunk-size", "0"], "argument --chunk-size: must be >= 1, got '0'"),
    (["explain", "m.npz", "--dataset", "x.npy", "--workers", "two"], "argument --workers: expected an int, got 'two'"),
    (["conformance", "check", "d", "--tol", "inf"], "argument --tol: must be finite, got 'inf'"),
    (["conformance", "check", "d", "--tol", "-1"], "argument --tol: must be >= 0, got '-1'"),
    (["demo", "--heatmap-scale", "column"], "argument --heatmap-scale: invalid choice: 'column'"),
])
def test_every_command_uses_them(capsys, args, message):
    with pytest.raises(SystemExit) as e:
        main(args)
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_one_read_error_message(tmp_path):
    import dtd.batch.inputs
    import dtd.commands._common
    assert dtd.batch.inputs.numpy_error is numpy_error is dtd.commands._common.numpy_error
    np.save(tmp_path / "p.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    try:
        np.load(tmp_path / "p.npy", allow_pickle=False)
    except ValueError as e:
        text = numpy_error("p.npy", e)
    assert text.startswith("input p.npy holds Python objects") and "allow_pickle" not in text
    assert numpy_error("q.npy", OSError("bad header"), "inputs:") == \
        "cannot read inputs q.npy: bad header (truncated or damaged?)"


def test_every_command_accepts_no_progress():
    from dtd.cli import build_parser

    def leaves(p, name):
        subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            return [(name, p)]
        return [leaf for n, child in subs[0].choices.items() for leaf in leaves(child, f"{name} {n}")]

    found = leaves(build_parser(), "dtd")
    assert len(found) >= 10                       # 9 commands, conformance has two actions
    for name, p in found:
        assert "--no-progress" in p._option_string_actions, name
