"""The golden vectors (dtd.conformance, data/golden/) and the ``dtd conformance`` command.

- data/golden/ is in step with the code: regenerating gives the same
  catalogue (weights, inputs, targets, JSON) bit for bit, and the same computed
  arrays (output, starting relevance, relevance at every layer) to 1e-12
  relative: the arithmetic is the same, but the order of a BLAS sum may change
  with the machine's kernel or the layout of a product (a last-bit change),
  which is rounding, not a change of the numbers dtd defines;
- the golden values agree with independent references: the closed form of
  each rule over explicit matrices built by loops (tests/_matrices.py, not the
  im2col code), a loop over max-pooling windows, the LRN rules by loops over
  channels (tests/test_lrn.py: the window written from the ONNX and PyTorch
  definitions, the Taylor terms from their formulas), and numbers by hand;
- ``check`` finds a perturbed file, a missing or misshaped backend output, and
  the command's exit codes are 0 / 1 / 2.
"""
import json
import os
import shutil

import numpy as np
import pytest

from dtd import cli
from dtd._paths import data_dir
from dtd.conformance import (CATALOGUE_VERSION, ConformanceFileError, case_names, cases, check, export, file_name,
                             read_case, read_index, rule_from_spec, rule_spec)
from dtd.conformance.files import read_arrays
from dtd.layers import LRN, AvgPool2d, Conv2d, Dense, MaxPool2d, SumPool2d
from dtd.rules import Epsilon, LinearRule, LRNIdentity, LRNTaylor, PassThrough, Proportional, WinnerTakeAll

from _matrices import dense_matrix
from test_lrn import taylor_rule_loop

GOLDEN = data_dir() / "golden"
#: arrays computed by dtd (compared to 1e-12); everything else is the catalogue (compared bit for bit)
COMPUTED = {"output", "start_relevance"}


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    out = tmp_path_factory.mktemp("golden")
    export(out)
    return out


def _json_of(arrays, key):
    return json.loads(str(arrays[key][()]))


def test_golden_files_are_in_step_with_the_code(regenerated):
    hint = "the catalogue or dtd changed: regenerate with `python -m dtd conformance export data/golden`"
    # data/golden/peers/: other implementations' stored relevances (tests/test_crosscheck_toolbox.py), not dtd's
    assert sorted(set(os.listdir(GOLDEN)) - {"peers"}) == sorted(os.listdir(regenerated)), hint
    with open(GOLDEN / "index.json") as f, open(regenerated / "index.json") as g:
        assert json.load(f) == json.load(g), hint
    for name in os.listdir(regenerated):
        if not name.endswith(".npz"):
            continue
        old, new = read_arrays(GOLDEN / name), read_arrays(regenerated / name)
        assert sorted(old) == sorted(new), f"{name}: {hint}"
        for key in new:
            if key.startswith("__"):
                assert _json_of(old, key) == _json_of(new, key), f"{name}/{key}: {hint}"
            else:
                a, b = old[key], new[key]
                assert (a.dtype, a.shape) == (b.dtype, b.shape), f"{name}/{key}: {hint}"
                if key in COMPUTED or key.startswith("relevance."):
                    scale = max(float(np.abs(a).max()), 1e-300) if a.size else 1.0
                    assert np.abs(a - b).max(initial=0.0) <= 1e-12 * scale, f"{name}/{key} differs: {hint}"
                else:
                    assert a.tobytes() == b.tobytes(), f"{name}/{key} differs bitwise: {hint}"


def test_golden_set_is_small_and_complete():
    total = sum(p.stat().st_size for p in GOLDEN.iterdir() if p.is_file())
    assert total < 600_000
    index = read_index(GOLDEN)
    assert index["catalogue_version"] == CATALOGUE_VERSION
    assert [c["name"] for c in index["cases"]] == case_names()
    # every composite and every rule class of dtd.rules is used somewhere
    from dtd import composites, rules
    used_composites = {c["composite"]["name"] for c in index["cases"] if c["composite"]}
    assert used_composites == set(composites.names())
    used_rules = {layer["rule"]["rule"] for c in index["cases"] for layer in c["layers"]}
    assert used_rules == set(rules.__all__) - {"Rule", "LinearRule", "DTDRule"}
    tags = {t for c in index["cases"] for t in c["tags"]}
    for edge in ("zero denominators", "max-pool ties", "signed inputs", "1x1 image", "batch of one",
                 "batch of several", "zero activations"):
        assert edge in tags


def test_every_golden_case_recomputes_exactly():
    results = check(GOLDEN)
    assert len(results) == len(cases())
    # within the default tolerance (1e-10); in practice 0 or a last-bit difference (another BLAS kernel)
    assert all(r.ok and r.rel_err <= 1e-12 and r.compared >= 4 for r in results), [r for r in results if not r.ok]


def _max_pool_loop(layer, a, R, rule):
    """Winner-take-all by a loop over the windows (ties shared, or all to the first maximum)."""
    (k, _), (s, _), (p, _) = layer.kernel_size, layer.stride, layer.padding
    N, C, H, W = a.shape
    ap = np.full((N, C, H + 2 * p, W + 2 * p), -np.inf)
    ap[:, :, p:p + H, p:p + W] = a
    out = np.zeros_like(ap)
    for n, c, i, j in np.ndindex(*R.shape):
        win = ap[n, c, i * s:i * s + k, j * s:j * s + k]
        winners = np.argwhere(win == win.max())
        if rule.ties == "first":
            winners = winners[:1]
        for q, r in winners:
            out[n, c, i * s + q, j * s + r] += R[n, c, i, j] / len(winners)
    return out[:, :, p:p + H, p:p + W]


def _explicit_chain(net, x, rules, target):
    """Relevance by the closed forms over explicit matrices (loops), layer by layer; None if a layer has none."""
    acts = net.forward(x, return_all=True)
    out = acts[-1]
    R = np.zeros_like(out)
    R[np.arange(len(x)), target] = out[np.arange(len(x)), target]
    for layer, a, rule in zip(reversed(net.layers), reversed(acts[:-1]), reversed(rules)):
        N = a.shape[0]
        if isinstance(rule, PassThrough):
            R = R.reshape(a.shape)
        elif isinstance(rule, LRNIdentity) and isinstance(layer, LRN):
            R = R.copy()
        elif isinstance(rule, LRNTaylor) and isinstance(layer, LRN):   # loops over k and j (tests/test_lrn.py)
            R = taylor_rule_loop(a, R, layer.size, layer.alpha, layer.beta, layer.k, layer.window, rule.epsilon)
        elif isinstance(rule, WinnerTakeAll) and isinstance(layer, MaxPool2d):
            R = _max_pool_loop(layer, a, R, rule)
        elif isinstance(rule, Proportional):       # in proportion to the inputs of each window: a sum pooling
            W, b, _ = dense_matrix(SumPool2d(layer.kernel_size, layer.stride, layer.padding), a.shape[1:])
            R = Epsilon(0.0).explicit(W, 0 * b, a.reshape(N, -1), R.reshape(N, -1)).reshape(a.shape)
        elif isinstance(rule, LinearRule) and isinstance(layer, (Dense, Conv2d, SumPool2d, AvgPool2d)):
            W, b, connected = dense_matrix(layer, a.shape[1:])
            if type(rule).__name__ == "ZBox":
                lo, hi = rule.bounds(a)
                rule = type(rule)(lo[0].reshape(-1), hi[0].reshape(-1), epsilon=rule.epsilon)
            R = rule.explicit(W, b, a.reshape(N, -1), R.reshape(N, -1), connected=connected).reshape(a.shape)
        else:
            return None
    return R


def test_golden_values_match_the_closed_forms():
    checked = 0
    for entry in read_index(GOLDEN)["cases"]:
        net, x, rules, target, expected, _ = read_case(GOLDEN / entry["file"])
        ref = _explicit_chain(net, x, rules, target)
        if ref is None:
            continue
        scale = np.abs(ref).max()
        np.testing.assert_allclose(expected["relevance.0"], ref, rtol=0, atol=1e-12 * max(scale, 1.0),
                                   err_msg=entry["name"])
        checked += 1
    assert checked == len(cases()), checked       # every case, the LRN ones included


def test_golden_zeros_case_by_hand():
    """zeros/lrp-0, sample 0: hidden z = [0, 0, -0.125, 0.375], only neuron 3 is on; f_0 = -0.375.
    Output layer: all of R = -0.375 goes to neuron 3; first layer: x_i w_3i = [-0.25, 0.5, 0.125] over
    z = 0.375.  Sample 1 is all zero: every message is 0/0 := 0 (its f_1 = 0.25 is the bias)."""
    net, x, rules, target, expected, _ = read_case(GOLDEN / file_name("zeros/lrp-0"))
    np.testing.assert_array_equal(expected["output"], [[-0.375, 0.625], [0.0, 0.25]])
    np.testing.assert_array_equal(expected["start_relevance"], [[-0.375, 0.0], [0.0, 0.25]])
    np.testing.assert_allclose(expected["relevance.0"], [[0.25, -0.5, -0.125], [0.0, 0.0, 0.0]], rtol=1e-15)
    # with a stabiliser the neuron at z = 0 (sign(0) = +1) gets relevance: zeros/stabilised
    _, _, rules_s, _, expected_s, _ = read_case(GOLDEN / file_name("zeros/stabilised"))
    assert [r.epsilon for r in (rules_s[0], rules_s[2])] == [0.01, 0.01]
    assert np.abs(expected_s["relevance.1"][0, 0]) == 0.0          # its activation is 0: nothing sent up
    assert not np.allclose(expected_s["relevance.0"][0], expected["relevance.0"][0])


def test_rule_specs_round_trip():
    for case in cases():
        for rule in case.rules:
            assert rule_from_spec(json.loads(json.dumps(rule_spec(rule)))) == rule
    with pytest.raises(ValueError, match="unknown rule 'os.system'"):
        rule_from_spec({"rule": "os.system"})
    with pytest.raises(ValueError, match="unknown rule 'Layer'"):
        rule_from_spec({"rule": "Layer"})
    with pytest.raises(ValueError, match="rule Epsilon: .*unexpected keyword"):
        rule_from_spec({"rule": "Epsilon", "foo": 1})


@pytest.fixture
def golden_copy(tmp_path):
    dst = tmp_path / "golden"
    shutil.copytree(GOLDEN, dst)
    return dst


def _perturb(path, key, factor=1 + 1e-8):
    arrays = read_arrays(path)
    a = arrays[key].copy()
    a.flat[np.argmax(np.abs(a))] *= factor
    arrays[key] = a
    np.savez_compressed(path, **arrays)


def test_check_finds_a_perturbed_golden_file(golden_copy, capsys):
    bad = "conv-sum/epsilon-gamma-box"
    _perturb(golden_copy / file_name(bad), "relevance.0")
    results = {r.name: r for r in check(golden_copy)}
    assert not results[bad].ok and 5e-9 < results[bad].rel_err < 2e-8
    assert all(r.ok for n, r in results.items() if n != bad)
    assert results[bad].rel_err <= 1e-7 and check(golden_copy, tol=1e-7, pattern=bad)[0].ok
    assert cli.main(["conformance", "check", str(golden_copy)]) == 1
    out = capsys.readouterr().out
    assert f"{bad}" in out and "FAIL: relative error" in out and "82 within tolerance, 1 failed" in out
    assert cli.main(["conformance", "check", str(golden_copy), "--tol", "1e-7"]) == 0


def _backend_dir(tmp_path, keys=("relevance.0",)):
    """A fake backend's output: the golden arrays it would compute, only ``keys``."""
    out = tmp_path / "backend"
    out.mkdir()
    for entry in read_index(GOLDEN)["cases"]:
        arrays = read_arrays(GOLDEN / entry["file"])
        np.savez(out / entry["file"], **{k: arrays[k] for k in keys})
    return out


def test_check_backend_output(tmp_path, capsys):
    backend = _backend_dir(tmp_path)
    assert all(r.ok and r.compared == 1 for r in check(GOLDEN, backend))
    assert cli.main(["conformance", "check", str(GOLDEN), "--backend-output", str(backend)]) == 0
    # float32 results: fail at the default tolerance, pass at a float32 one
    case = "conv-sum/epsilon-gamma-box"
    name = file_name(case)
    arrays = read_arrays(GOLDEN / name)
    np.savez(backend / name, **{"relevance.0": arrays["relevance.0"].astype(np.float32)})
    r = check(GOLDEN, backend, pattern=case)[0]
    assert not r.ok and 1e-9 < r.rel_err < 1e-6
    assert check(GOLDEN, backend, tol=1e-6, pattern=case)[0].ok
    # misshaped, NaN, missing array, missing file
    np.savez(backend / name, **{"relevance.0": arrays["relevance.0"][:1]})
    assert "shape" in check(GOLDEN, backend, pattern=case)[0].message
    np.savez(backend / name, **{"relevance.0": arrays["relevance.0"] * np.nan})
    assert "NaN" in check(GOLDEN, backend, pattern=case)[0].message
    np.savez(backend / name, **{"relevance.1": arrays["relevance.1"]})
    assert "missing arrays: relevance.0" in check(GOLDEN, backend, pattern=case)[0].message
    os.remove(backend / name)
    r = check(GOLDEN, backend, pattern="conv-sum/*")
    assert [x.ok for x in r].count(False) == 1
    assert cli.main(["conformance", "check", str(GOLDEN), "--backend-output", str(backend)]) == 1
    assert "no such file" in capsys.readouterr().out


def test_check_refuses_malformed_golden_files(golden_copy, tmp_path):
    with pytest.raises(ConformanceFileError, match="index.json: no such file"):
        check(tmp_path)
    with pytest.raises(ConformanceFileError, match="matches 'nothing/\\*'"):
        check(golden_copy, pattern="nothing/*")
    # a pickled object array in a case file is refused, not unpickled
    victim = golden_copy / file_name("pixel/lrp-0")
    arrays = read_arrays(victim)
    arrays["relevance.0"] = np.array([{"a": 1}], dtype=object)
    np.savez(victim, **arrays)
    with pytest.raises(ConformanceFileError, match="unreadable"):
        check(golden_copy, pattern="pixel/lrp-0")
    # an unknown rule in the case's JSON
    arrays = read_arrays(golden_copy / file_name("pixel/zplus"))
    meta = json.loads(str(arrays["__case__"][()]))
    meta["rules"][0] = {"rule": "Nope"}
    arrays["__case__"] = np.array(json.dumps(meta))
    np.savez(golden_copy / file_name("pixel/zplus"), **arrays)
    with pytest.raises(ConformanceFileError, match="unknown rule 'Nope'"):
        check(golden_copy, pattern="pixel/zplus")
    # an index entry pointing outside the directory
    index = read_index(golden_copy)
    index["cases"][0]["file"] = "../../etc/passwd"
    (golden_copy / "index.json").write_text(json.dumps(index))
    with pytest.raises(ConformanceFileError, match="malformed case entry"):
        read_index(golden_copy)


def test_cli_exit_codes(tmp_path, capsys):
    out = tmp_path / "g"
    assert cli.main(["conformance", "export", str(out)]) == 0
    assert "wrote 83 cases" in capsys.readouterr().out
    assert cli.main(["conformance", "check", str(out), "--cases", "pixel/*"]) == 0
    text = capsys.readouterr().out
    assert "pixel/lrp-0" in text and "6 cases: 6 within tolerance, 0 failed" in text
    assert cli.main(["conformance", "check", str(tmp_path / "nowhere")]) == 1
    assert "index.json: no such file" in capsys.readouterr().err
    for argv in (["conformance"], ["conformance", "check"], ["conformance", "check", str(out), "--tol", "x"],
                 ["conformance", "check", str(out), "--tol", "-1"]):
        with pytest.raises(SystemExit) as e:
            cli.main(argv)
        assert e.value.code == 2
