"""Doubtful input, treated alike by the command line and the API, each case said in words (issue 17).

Every case is run through the command line (``dtd.cli.main`` in this process, its
stderr read with ``capsys``; one case through ``python -m dtd`` in a subprocess)
and through the API, and the numbers a case computes are checked against an
independent reference:

- uint8 / int16 arrays with ``--scale``: the relevance equals ``net.explain`` on
  ``a * scale`` computed by NumPy here (float64, to 1e-12 relative: the same
  operations in another order at most);
- float16: the relevance equals ``net.explain`` on the float32 conversion
  exactly (the conversion is exact and the CLI does nothing else);
- vanished relevance: all zeros (exactly) for epsilon = 1e300, where
  ``z / (z + 1e300) = 0`` in float64 for every |z| < 1e-16 * 1e300;
- the ``explain --dataset`` summary: f_c from ``net.forward`` and sum R from
  ``net.explain`` here (1e-12 relative: chunked BLAS sums in another order);
- ``dtd.load`` of an ONNX Gemm: its forward equals ``x @ W.T + b`` (1e-12).
"""
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import dtd
from dtd import composites
from dtd._validation import InputWarning, RelevanceWarning
from dtd.cli import main
from dtd.examples import make_demo_inputs, make_demo_network
from dtd.rules import Epsilon, Gamma, ZPlus

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def work(tmp_path, monkeypatch):
    """The demo network and inputs; the current folder is tmp_path."""
    monkeypatch.chdir(tmp_path)
    net = make_demo_network()
    dtd.save(net, "net.npz")
    x = make_demo_inputs()
    np.save("x.npy", x)
    Image.fromarray(np.round(x[0, 0] * 255).astype(np.uint8)).save("cross.png")
    return tmp_path, dtd.load("net.npz"), x


def cli(capsys, *args):
    """``dtd ARGS`` in this process: (exit code, stdout, stderr)."""
    try:
        code = main([str(a) for a in args])
    except SystemExit as e:          # argparse: usage errors, --help, --version
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def one_error_line(err, command="explain"):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"dtd {command}: error: "), err
    return lines[0]


# ------------------------------------------------------------------ integer and float16 arrays

def test_uint8_needs_scale_in_the_cli_as_the_api_refuses_it(work, capsys):
    tmp, net, x = work
    a = np.round(x * 255).astype(np.uint8)
    np.save("x8.npy", a)
    code, _, err = cli(capsys, "explain", "net.npz", "x8.npy", "--out", "o")
    line = one_error_line(err)
    assert code == 1 and "input x8.npy holds uint8 values" in line and "--scale 1/255" in line
    assert not os.path.exists("o")
    with pytest.raises(TypeError, match=r"does not guess the scale of 8-bit values: use x / 255.0"):
        net.explain(a, ZPlus())
    # with --scale 1/255: the values a / 255, and the box of the 8-bit range, as for an image
    code, out, err = cli(capsys, "explain", "net.npz", "x8.npy", "--scale", "1/255", "--out", "o")
    assert code == 0, err
    ref = net.explain(a / 255.0, composites.get("dtd", low=0.0, high=1.0))
    np.testing.assert_allclose(np.load("o/x8_relevance.npy"), ref, rtol=1e-12, atol=1e-15)
    assert "input box [0, 1]" in out


def test_uint8_dataset_is_refused_with_the_conversion(work, capsys):
    from dtd.batch import explain_dataset
    tmp, net, x = work
    np.save("x8.npy", np.round(x * 255).astype(np.uint8))
    code, _, err = cli(capsys, "explain", "net.npz", "--dataset", "x8.npy", "--results", "r", "--workers", "0")
    line = one_error_line(err)
    assert code == 1 and "--dataset x8.npy holds uint8 values" in line and "/ 255.0" in line
    with pytest.raises(TypeError, match=r"inputs have dtype uint8; .*x / 255.0"):
        explain_dataset(net, "x8.npy", "dtd", "r", executor="serial", progress=False)


def test_int16_with_scale_and_float_with_scale(work, capsys):
    tmp, net, x = work
    a = np.round(x * 1000).astype(np.int16)
    np.save("i16.npy", a)
    code, _, err = cli(capsys, "explain", "net.npz", "i16.npy", "--scale", "0.001", "--rules", "epsilon",
                       "--rule-param", "epsilon=0.1", "--out", "o")
    assert code == 0, err
    ref = net.explain(a * 0.001, Epsilon(0.1))
    np.testing.assert_allclose(np.load("o/i16_relevance.npy"), ref, rtol=1e-12, atol=1e-15)
    # mean and std per channel of an integer array (axis -3), counted against its channels
    code, _, err = cli(capsys, "explain", "net.npz", "i16.npy", "--scale", "0.001", "--mean", "0.1", "0.2")
    assert code == 1 and "--mean gives 2 values, but input i16.npy has 1 channel(s)" in one_error_line(err)
    code, _, err = cli(capsys, "explain", "net.npz", "i16.npy", "--scale", "0.001", "--mean", "0.1", "--std", "2",
                       "--rules", "epsilon", "--rule-param", "epsilon=0.1", "--out", "o3")
    assert code == 0, err
    np.testing.assert_allclose(np.load("o3/i16_relevance.npy"), net.explain((a * 0.001 - 0.1) / 2, Epsilon(0.1)),
                               rtol=1e-12, atol=1e-15)
    # a float array is used as it is: --scale is said not to apply
    code, _, err = cli(capsys, "explain", "net.npz", "x.npy", "--scale", "2", "--out", "o2")
    assert code == 0 and "warning: input x.npy is floating point (float64) and used as it is: --scale" in err
    np.testing.assert_array_equal(np.load("o2/x_relevance.npy"), net.explain(x, composites.get("dtd")))


def test_scale_fraction_is_parsed(work, capsys):
    code, _, err = cli(capsys, "explain", "net.npz", "x.npy", "--scale", "1/0")
    assert code == 2 and "argument --scale: expected a number or a fraction such as 1/255" in err


def test_float16_is_computed_in_float32_with_a_note(work, capsys):
    tmp, net, x = work
    h = x.astype(np.float16)
    np.save("x16.npy", h)
    code, _, err = cli(capsys, "explain", "net.npz", "x16.npy", "--out", "o")
    assert code == 0
    assert err.count("warning") == 1 and "input x16.npy is float16: computing in float32" in err
    R = np.load("o/x16_relevance.npy")
    assert R.dtype == np.float32
    np.testing.assert_array_equal(R, net.explain(h.astype(np.float32), composites.get("dtd")))
    # the API: the same conversion, with an InputWarning
    with pytest.warns(InputWarning, match="x is float16; computing in float32"):
        Ra = net.explain(h, composites.get("dtd"))
    assert Ra.dtype == np.float32
    np.testing.assert_array_equal(Ra, R)
    with pytest.warns(InputWarning):
        assert net.forward(h).dtype == np.float32


def test_float16_dataset_is_float32(work, capsys):
    from dtd.batch import load_results
    from dtd.batch.inputs import open_inputs
    tmp, net, x = work
    np.save("x16.npy", x.astype(np.float16))
    with pytest.warns(UserWarning, match="inputs are float16: computing and storing in float32"):
        assert open_inputs("x16.npy").dtype == np.float32
    code, out, err = cli(capsys, "explain", "net.npz", "--dataset", "x16.npy", "--results", "r", "--workers", "0",
                         "--no-progress")
    assert code == 0, err
    assert "inputs are float16" in err
    R = load_results("r")
    assert R.dtype == np.float32
    np.testing.assert_allclose(R, net.explain(x.astype(np.float16).astype(np.float32), composites.get("dtd")),
                               rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ rule parameters

@pytest.mark.parametrize("param, message", [
    ("epsilon=abc", "composite 'epsilon': epsilon must be a number, got 'abc'"),
    ("foo=1", "composite 'epsilon' takes epsilon=0.0, bias='plain'; got foo"),
])
def test_rule_param_checked_with_the_rules_signature(work, capsys, param, message):
    code, _, err = cli(capsys, "explain", "net.npz", "x.npy", "--rules", "epsilon", "--rule-param", param)
    assert code == 1 and message in one_error_line(err)


def test_rule_param_api():
    with pytest.raises(ValueError, match="composite 'epsilon': epsilon must be a number, got 'abc'"):
        composites.get("epsilon", epsilon="abc")
    with pytest.raises(ValueError, match=r"composite 'gamma' takes gamma=0.25, epsilon=0.0, bias='gamma', "
                                         r"generalized=False; got foo"):
        composites.get("gamma", foo=1)
    with pytest.raises(ValueError, match="composite 'zplus' takes epsilon=0.0, bias='none', signed=False; got g"):
        composites.get("zplus", g=1)
    assert composites.parse_params("gamma", {"gamma": "inf", "epsilon": "1e-3"}) == {"gamma": np.inf,
                                                                                     "epsilon": 1e-3}
    assert composites.parse_params("zplus", {"signed": "true"}) == {"signed": True}
    with pytest.raises(ValueError, match="signed must be true or false, got 'maybe'"):
        composites.parse_params("zplus", {"signed": "maybe"})
    with pytest.raises(ValueError, match="epsilon must be a number, got nan"):
        composites.parse_params("epsilon", {"epsilon": float("nan")})
    assert composites.get("epsilon", epsilon="0.5").rule.epsilon == 0.5
    # a required box bound from a command line is a number too; the presets' bias setting is a word
    assert composites.parse_params("epsilon-gamma-box", {"low": "0", "high": "1", "bias": "plain"}) == {
        "low": 0.0, "high": 1.0, "bias": "plain"}
    with pytest.raises(ValueError, match="low must be a number, got 'a'"):
        composites.parse_params("epsilon-gamma-box", {"low": "a"})
    with pytest.raises(ValueError, match="EpsilonPlus: bias must be one of 'absorb', 'plain', 'none', got 'parts'"):
        composites.get("epsilon-plus", bias="parts")
    with pytest.raises(ValueError, match=r"Gamma: gamma must be finite, got inf .*use ZPlus\(\), composite 'zplus'"):
        Gamma(np.inf)


def test_inf_is_parsed(work, capsys):
    tmp, net, x = work
    code, _, err = cli(capsys, "explain", "net.npz", "x.npy", "--rules", "gamma", "--rule-param", "gamma=inf")
    assert code == 1 and "Gamma: gamma must be finite, got inf" in one_error_line(err)
    # epsilon = inf absorbs everything: computed, and said
    code, _, err = cli(capsys, "explain", "net.npz", "x.npy", "--rules", "epsilon", "--rule-param", "epsilon=inf",
                       "--out", "o")
    assert code == 0 and "warning: explain: the relevance vanished for 3 of 3 samples" in err
    assert not np.load("o/x_relevance.npy").any()


# ------------------------------------------------------------------ relevance that vanishes or overflows

def test_vanished_and_overflow_said_in_words_cli(work, capsys):
    code, out, err = cli(capsys, "explain", "net.npz", "x.npy", "--rules", "epsilon", "--rule-param",
                         "epsilon=1e300", "--out", "o")
    assert code == 0
    assert err.strip().splitlines() == [
        "dtd explain: warning: explain: the relevance vanished for 3 of 3 samples (0, 1, 2): sum |R| <= 1e-10 "
        "|f_c(x)|, the rules absorbed all of f_c(x) (a stabiliser epsilon or a bias far larger than the neurons' "
        "inputs, or no contribution of the sign a rule keeps, e.g. z+ where every z_ij <= 0?)"]
    assert not np.load("o/x_relevance.npy").any()
    code, out, err = cli(capsys, "explain", "net.npz", "x.npy", "--rules", "gamma", "--rule-param", "gamma=1e308",
                         "--out", "o2")
    assert code == 0
    assert "warning: explain: a float overflow occurred in the forward or relevance pass" in err
    assert "RuntimeWarning" not in err and ".py" not in err


def test_no_raw_numpy_warning_in_a_subprocess(work):
    tmp, net, x = work
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = subprocess.run([sys.executable, "-m", "dtd", "explain", "net.npz", "x.npy", "--rules", "gamma",
                        "--rule-param", "gamma=1e308", "--out", "o"], cwd=tmp, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines and all(line.startswith("dtd explain: warning: ") for line in lines), r.stderr
    assert "RuntimeWarning" not in r.stderr


def test_vanished_and_overflow_api(work):
    tmp, net, x = work
    with warnings.catch_warnings():
        warnings.simplefilter("error")                      # a normal explanation warns about nothing
        R = net.explain(x, Epsilon(0.1))
    assert R.any()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        R = net.explain(x, Epsilon(1e300))
    assert [type(m.message) for m in w] == [RelevanceWarning]
    assert "the relevance vanished for 3 of 3 samples" in str(w[0].message)
    assert w[0].filename == __file__                                   # names the caller's line
    assert not R.any()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        net.explain(x, Gamma(1e308))
    assert {type(m.message) for m in w} == {RelevanceWarning}          # no numpy RuntimeWarning
    assert any("a float overflow occurred" in str(m.message) for m in w)
    # a sample whose output is 0 has nothing to lose: not reported
    from dtd.layers import Dense
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        R = dtd.Sequential([Dense([[1.0, -1.0]])]).explain(np.array([[1.0, 1.0]]), Epsilon(1e300))
    assert not R.any() and not w


def test_vanished_graph():
    from dtd import Graph
    from dtd.layers import Dense, ReLU
    r = np.random.default_rng(0)
    g = Graph([("a", Dense(r.normal(size=(4, 3))), "x"), ("h", ReLU(), "a"), ("b", Dense(np.ones((1, 4))), "h")],
              input="x")
    x = np.abs(r.normal(size=(2, 3)))
    with pytest.warns(RelevanceWarning, match="the relevance vanished for 2 of 2 samples"):
        R = g.explain(x, Epsilon(1e300))
    assert not R.any()


# ------------------------------------------------------------------ files

def test_empty_npy_file(work, capsys):
    Path("empty.npy").write_bytes(b"")
    code, _, err = cli(capsys, "explain", "net.npz", "empty.npy")
    assert code == 1 and "input empty.npy is an empty file (0 bytes); write it again with numpy.save" in err
    np.save("none.npy", np.zeros((0, 1, 16, 16)))
    code, _, err = cli(capsys, "explain", "net.npz", "none.npy")
    assert code == 1 and "input none.npy holds no samples" in one_error_line(err)


def test_text_file_as_npz_never_suggests_allow_pickle(work, capsys):
    Path("text.npz").write_text("hello world\n")
    code, _, err = cli(capsys, "explain", "net.npz", "text.npz")
    line = one_error_line(err)
    assert code == 1 and "input text.npz is not a NumPy file" in line and "numpy.savez" in line
    assert "allow_pickle" not in err and "pickle.load" not in err
    np.savez("objects.npz", x=np.array([{"a": 1}], dtype=object))
    code, _, err = cli(capsys, "explain", "net.npz", "objects.npz")
    assert code == 1 and "input objects.npz[x] holds Python objects (pickled data), which dtd never loads" in err
    assert "allow_pickle" not in err


@pytest.mark.parametrize("name, content, message", [
    ("empty.npy", b"", "relevance file empty.npy is an empty file (0 bytes)"),
    ("text.npy", b"hello world\n", "relevance file text.npy is not a NumPy file"),
    ("pick.npy", None, "relevance file pick.npy holds Python objects (pickled data), which dtd never loads"),
])
def test_render_names_the_file_and_never_suggests_allow_pickle(work, capsys, name, content, message):
    if content is None:
        np.save(name, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    else:
        Path(name).write_bytes(content)
    code, _, err = cli(capsys, "render", name)
    assert code == 1 and message in one_error_line(err, "render") and "allow_pickle" not in err


def test_pickled_file_in_a_dataset_folder(work, capsys):
    Path("d").mkdir()
    np.save("d/pick.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    code, _, err = cli(capsys, "explain", "net.npz", "--dataset", "d", "--results", "r", "--workers", "0")
    assert code == 1 and "pick.npy holds Python objects (pickled data), which dtd never loads" in one_error_line(err)
    assert "allow_pickle" not in err


def test_pickled_dataset(work, capsys):
    from dtd.batch import explain_dataset
    from dtd.batch.inputs import open_inputs
    tmp, net, x = work
    np.save("pick.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    code, _, err = cli(capsys, "explain", "net.npz", "--dataset", "pick.npy", "--results", "r", "--workers", "0")
    line = one_error_line(err)
    assert code == 1 and "inputs: pick.npy holds Python objects (pickled data), which dtd never loads" in line
    assert "memory-mapped" not in err and "allow_pickle" not in err
    with pytest.raises(ValueError, match="pick.npy holds Python objects"):
        open_inputs("pick.npy")
    with pytest.raises(ValueError, match="pick.npy holds Python objects"):
        explain_dataset(net, "pick.npy", "dtd", "r", executor="serial", progress=False)


def test_results_naming_an_existing_file(work, capsys):
    from dtd.batch import explain_dataset
    tmp, net, x = work
    before = Path("x.npy").read_bytes()
    code, _, err = cli(capsys, "explain", "net.npz", "--dataset", "x.npy", "--results", "x.npy", "--workers", "0")
    line = one_error_line(err)
    assert code == 1 and "--results x.npy is a file, not a directory" in line and "--results x-results/" in line
    assert "Errno" not in err
    with pytest.raises(FileExistsError, match="results directory x.npy is a file, not a directory"):
        explain_dataset(net, x, "dtd", "x.npy", executor="serial", progress=False)
    assert Path("x.npy").read_bytes() == before


def test_mean_count_for_gray_images(work, capsys):
    code, _, err = cli(capsys, "explain", "net.npz", "cross.png", "--mean", "0.5", "0.5", "0.5")
    line = one_error_line(err)
    assert code == 1 and "--mean gives 3 values, but image cross.png has 1 channel" in line and "--rgb" in line
    from dtd.commands._common import read_image
    with pytest.raises(ValueError, match="--std gives 2 values, but image cross.png has 1 channel"):
        read_image("cross.png", channels=1, std=(1.0, 2.0))
    with pytest.raises(ValueError, match="--std gives 2 values, but image cross.png has 3 channels: give 1 or 3"):
        read_image("cross.png", channels=3, std=(1.0, 2.0))


def test_stack_of_gray_images(work, capsys):
    tmp, net, x = work
    np.save("nhw.npy", x[:, 0])
    code, _, err = cli(capsys, "explain", "net.npz", "nhw.npy")
    line = one_error_line(err)
    assert code == 1 and "input nhw.npy has shape (3, 16, 16), read as one sample (C, H, W) with 3 channels, " \
                         "but the model takes 1" in line and "x[:, None]" in line
    # the fix works: the same numbers as the batch (N, 1, H, W)
    np.save("fixed.npy", x[:, 0][:, None])
    code, _, err = cli(capsys, "explain", "net.npz", "fixed.npy", "--out", "o")
    assert code == 0
    np.testing.assert_array_equal(np.load("o/fixed_relevance.npy"), net.explain(x, composites.get("dtd")))


# ------------------------------------------------------------------ dtd.load

def test_load_reads_every_format(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper
    r = np.random.default_rng(0)
    W, b = r.normal(size=(3, 4)), r.normal(size=3)
    g = helper.make_graph([helper.make_node("Gemm", ["x", "W", "b"], ["y"], transB=1)], "g",
                          [helper.make_tensor_value_info("x", TensorProto.DOUBLE, [1, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.DOUBLE, [1, 3])],
                          [numpy_helper.from_array(W, "W"), numpy_helper.from_array(b, "b")])
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)
    x = r.normal(size=(5, 4))
    np.testing.assert_allclose(dtd.load(path).forward(x), x @ W.T + b, rtol=1e-12)
    np.testing.assert_allclose(dtd.load(str(path)).forward(x), x @ W.T + b, rtol=1e-12)
    # the native reader alone says where the other formats are read
    with pytest.raises(dtd.ModelFileError, match=r"wrong magic number .*dtd.load \(or dtd.io.load_any\) reads ONNX"):
        dtd.io.load(path)
    # a file of no format: the native reader's message, naming the file
    bad = tmp_path / "image.gif"
    bad.write_bytes(b"GIF89a" + bytes(100))
    with pytest.raises(dtd.ModelFileError, match=r"image.gif: not a dtd model file .*wrong magic number"):
        dtd.load(bad)


# ------------------------------------------------------------------ explain --dataset

def test_dataset_summary_and_reading_back(work, capsys):
    from dtd.batch import load_results
    tmp, net, x = work
    code, out, err = cli(capsys, "explain", "net.npz", "--dataset", "x.npy", "--results", "r", "--workers", "0",
                         "--chunk-size", "2", "--box", "0", "1", "--no-progress")
    assert code == 0, err
    assert "| inputs | mean f_c | mean sum_R | median error | max error | vanished |" in out
    assert "dtd.batch.load_results('r')" in out
    assert sorted(f for f in os.listdir("r") if not f.startswith(".")) == ["chunk-00000.npy", "chunk-00001.npy", "index.json", "summary.csv",
                                       "summary.md"]
    R = load_results("r")
    ref = net.explain(x, composites.get("dtd", low=0.0, high=1.0))
    np.testing.assert_allclose(R, ref, rtol=1e-12, atol=1e-15)
    import csv
    with open("r/summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    out_ = net.forward(x)
    t = out_.argmax(axis=1)
    assert [int(r_["index"]) for r_ in rows] == [0, 1, 2]
    assert [int(r_["target"]) for r_ in rows] == t.tolist()
    np.testing.assert_allclose([float(r_["f_c"]) for r_ in rows], out_[np.arange(3), t], rtol=1e-12)
    np.testing.assert_allclose([float(r_["sum_R"]) for r_ in rows], ref.sum(axis=(1, 2, 3)), rtol=1e-12)
    errs = np.abs(ref.sum(axis=(1, 2, 3)) - out_[np.arange(3), t]) / np.abs(out_[np.arange(3), t])
    np.testing.assert_allclose([float(r_["conservation_error"]) for r_ in rows], errs, atol=1e-14)
    assert Path("r/summary.md").read_text().startswith("# dtd explain: the data set")


def test_dataset_summary_counts_vanished(work, capsys):
    code, out, err = cli(capsys, "explain", "net.npz", "--dataset", "x.npy", "--results", "r", "--workers", "0",
                         "--rules", "epsilon", "--rule-param", "epsilon=1e300", "--no-progress")
    assert code == 0, err
    assert out.strip().splitlines()[-2].endswith("| 3 |")      # the 'vanished' column: all three


# ------------------------------------------------------------------ CLI polish

def test_version(capsys):
    code, out, err = cli(capsys, "--version")
    assert code == 0 and out.strip() == f"dtd {dtd.__version__}"


def test_usage_error_is_short(capsys):
    code, out, err = cli(capsys, "explain")
    assert code == 2
    assert err.strip().splitlines() == ["dtd explain: error: the following arguments are required: MODEL, INPUT",
                                        "(see 'dtd explain --help')"]
    code, out, err = cli(capsys, "explain", "net.npz", "x.npy", "--target", "x")
    assert code == 2 and len(err.strip().splitlines()) == 2 and "argument --target: expected an int" in err
    code, out, err = cli(capsys, "conformance")
    assert code == 2 and err.strip().splitlines()[0] == ("dtd conformance: error: the following arguments are "
                                                          "required: ACTION")


@pytest.mark.parametrize("args, words", [
    (["render"], "relevance arrays to heatmap PNGs (see dtd.render)"),
    (["info"], "print one line per layer or graph node: the layer, its output shape"),
    (["convert"], "write it to OUT.npz in dtd's native format"),
    (["conformance", "export"], "Write the golden vectors of the conformance catalogue into DIR"),
])
def test_help_has_a_plain_description(capsys, args, words):
    code, out, err = cli(capsys, *args, "--help")
    assert code == 0
    text = " ".join(out.split())
    assert words in text
    assert "``" not in out and ":mod:" not in out and ":func:" not in out


def test_explain_no_progress(work, capsys):
    code, out, err = cli(capsys, "explain", "net.npz", "x.npy", "cross.png", "--box", "0", "1", "--out", "o",
                         "--no-progress")
    assert code == 0 and err == ""
