"""The command line end to end, through ``python -m dtd`` in a temporary folder.

Files written, PNG sizes, table values equal to the library's; bad input gives
exit code 1 (runtime) or 2 (usage) and a message naming the problem.
"""
import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import dtd
from dtd import composites
from dtd._paths import data_dir
from dtd.evaluate import compare, evaluate_method
from dtd.examples import make_demo_inputs, make_demo_network
from dtd.render import grid, heatmap

ROOT = Path(__file__).resolve().parent.parent


def run(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "dtd", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def work(tmp_path):
    """A folder with the demo model, its inputs as .npy and the first as a PNG (exact in 8 bits)."""
    dtd.save(make_demo_network(), tmp_path / "net.npz")
    x = make_demo_inputs()
    np.save(tmp_path / "x.npy", x)
    Image.fromarray(np.round(x[0, 0] * 255).astype(np.uint8)).save(tmp_path / "cross.png")
    return tmp_path


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def png_size(path):
    with Image.open(path) as im:
        return im.size[::-1]            # (H, W)


def no_temporary_files(folder):
    return not [f for f in os.listdir(folder) if f.endswith(".tmp")]


def test_explain_writes_relevance_and_heatmaps(work):
    r = run("explain", "net.npz", "cross.png", "x.npy", "--box", "0", "1", "--out", "out", cwd=work)
    assert r.returncode == 0, r.stderr
    out = work / "out"
    assert sorted(os.listdir(out)) == ["cross_heatmap.png", "cross_relevance.npy", "x_0_heatmap.png",
                                       "x_1_heatmap.png", "x_2_heatmap.png", "x_relevance.npy"]
    net, x = make_demo_network(), make_demo_inputs()
    R = net.explain(x, composites.DTD(low=0.0, high=1.0))
    np.testing.assert_array_equal(np.load(out / "x_relevance.npy"), R)
    R0 = np.load(out / "cross_relevance.npy")
    assert R0.shape == (1, 16, 16)                    # one image: no batch axis
    np.testing.assert_allclose(R0, R[0], rtol=1e-12, atol=1e-15)   # p/255 * 255 round trip, float64
    assert png_size(out / "cross_heatmap.png") == (128, 128)       # 16 x 16, zoomed 8x by default
    with Image.open(out / "x_2_heatmap.png") as im:
        np.testing.assert_array_equal(np.asarray(im), np.repeat(np.repeat(heatmap(R[2]), 8, 0), 8, 1))
    assert "cross" in r.stdout and "x_2" in r.stdout
    assert no_temporary_files(out)


def test_explain_image_box_defaults_to_the_preprocessed_range(work):
    r = run("explain", "net.npz", "cross.png", "--mean", "0.5", "--std", "0.25", "--rules", "epsilon-gamma-box",
            "--zoom", "2", "--out", "o", cwd=work)
    assert r.returncode == 0, r.stderr
    x = (make_demo_inputs()[:1] - 0.5) / 0.25
    comp = composites.get("epsilon-gamma-box", low=-2.0, high=2.0)
    np.testing.assert_allclose(np.load(work / "o" / "cross_relevance.npy"),
                               make_demo_network().explain(x, comp)[0], rtol=1e-10, atol=1e-14)
    assert "input box [-2, 2]" in r.stdout
    assert png_size(work / "o" / "cross_heatmap.png") == (32, 32)


def test_evaluate_table_equals_the_library(work):
    r = run("evaluate", "net.npz", "x.npy", "--rules", "lrp-0", "--box", "0", "1", "--region", "4",
            "--per-step", "2", "--n-noise", "2", "--out", "ev", cwd=work)
    assert r.returncode == 0, r.stderr
    ev = evaluate_method(make_demo_network(), make_demo_inputs(), "lrp-0", box=(0.0, 1.0),
                         continuity_options=dict(n_noise=2, noise=0.01, seed=0),
                         flipping_options=dict(region=4, per_step=2))
    rows = read_csv(work / "ev" / "evaluation.csv")
    assert [r["sample"] for r in rows] == ["x_0", "x_1", "x_2"]
    for got, want in zip(rows, ev.rows()):
        for k, v in want.items():
            if k not in ("method", "sample"):
                assert float(got[k]) == v, k                   # exact: floats written with repr
    assert png_size(work / "ev" / "pixel_flipping.png") == (360, 560)
    curves = read_csv(work / "ev" / "pixel_flipping.csv")
    assert len(curves) == 9                                     # 16 regions, 2 per step: steps 0..8
    assert float(curves[-1]["most"]) == ev.flipping["most"].curve[:, -1].mean()
    md = (work / "ev" / "evaluation.md").read_text()
    assert "| lrp-0 | mean |" in md


def test_compare_table_and_grid(work):
    r = run("compare", "net.npz", "x.npy", "--methods", "dtd,lrp-0,epsilon", "--rule-param", "epsilon:epsilon=0.5",
            "--box", "0", "1", "--region", "8", "--n-noise", "1", "--zoom", "2", "--out", "cmp", cwd=work)
    assert r.returncode == 0, r.stderr
    res = compare(make_demo_network(), make_demo_inputs(), ["dtd", "lrp-0", "epsilon"], box=(0.0, 1.0),
                  params={"epsilon": {"epsilon": 0.5}}, continuity_options=dict(n_noise=1),
                  flipping_options=dict(region=8))
    rows = read_csv(work / "cmp" / "compare.csv")
    assert len(rows) == 9
    for got, want in zip(rows, res.rows()):
        assert got["method"] == want["method"]
        for k in ("f_c", "sum_R", "conservation_error", "negative_share", "continuity", "auc_most",
                  "aopc_least", "auc_random"):
            assert float(got[k]) == want[k], k
    summary = read_csv(work / "cmp" / "compare_summary.csv")
    assert [s["method"] for s in summary] == ["dtd", "lrp-0", "epsilon"]
    assert float(summary[0]["conservation_error"]) < 1e-12
    assert png_size(work / "cmp" / "heatmaps.png") == figure_size(3, (32, 32), 4)   # title lines and colour bars
    for f in ("compare.md", "pixel_flipping_most.png", "pixel_flipping_least.png"):
        assert (work / "cmp" / f).is_file()


def test_render(work):
    np.save(work / "r.npy", np.random.default_rng(0).normal(size=(2, 3, 10, 20)))
    r = run("render", "r.npy", "--zoom", "3", "--cmap", "coldnhot", cwd=work)
    assert r.returncode == 0, r.stderr
    R = np.load(work / "r.npy")
    for i in range(2):
        with Image.open(work / f"r_{i}.png") as im:
            assert im.size == (60, 30)
            np.testing.assert_array_equal(np.asarray(im)[::3, ::3], heatmap(R[i], "coldnhot"))
    r = run("render", "r.npy", "--grid", "--bound", "1", "--out", "g", cwd=work)
    assert r.returncode == 0, r.stderr
    assert (work / "g" / "r_grid.png").is_file()


DEMO_FILES = ["heatmaps.png", "comparison.csv", "summary.csv", "comparison.md", "pixel_flipping_most.png",
              "pixel_flipping_least.png"]


def test_demo_writes_the_files_of_every_shipped_example(tmp_path):
    """The README's main job, as shipped: the shapes net and the two trained MNIST nets."""
    from dtd.commands.demo import EXAMPLES
    r = run("demo", "--out", "d", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    names = [e.name for e in EXAMPLES if (data_dir() / e.model).is_file() and (data_dir() / e.inputs).is_file()]
    assert {"shapes", "mnist_detector", "mnist_cnn"} <= set(names)
    assert sorted(os.listdir(tmp_path / "d")) == sorted(f"{n}_{f}" for n in names for f in DEMO_FILES)
    for n in names:
        summary = {s["method"]: s for s in read_csv(tmp_path / "d" / f"{n}_summary.csv")}
        assert float(summary["dtd"]["conservation_error"]) < 1e-12, n


def figure_size(n_rows, cell, n_cols):
    """Size of Comparison.figure: two header lines, then per row a title line, the grid and a colour bar."""
    from dtd.render import colorbar, text_strip
    row = grid([np.zeros(cell + (3,), np.uint8)] * n_cols, ["c"] * n_cols, ncols=n_cols).shape
    line = text_strip("x", 10).shape[0]
    return (2 * line + n_rows * (line + row[0]), row[1] + colorbar("bwr", 1.0, height=row[0]).shape[1])


def test_demo_writes_its_files(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    for f in ("shapes_net.npz", "demo_inputs.npy"):
        shutil.copy(data_dir() / f, folder / f)
    r = run("demo", "--data", folder, "--out", "d", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    files = sorted(os.listdir(tmp_path / "d"))
    assert files == sorted(f"shapes_{f}" for f in DEMO_FILES)
    assert "conservation" in r.stdout and "rel. err" in r.stdout
    summary = {s["method"]: s for s in read_csv(tmp_path / "d" / "shapes_summary.csv")}
    assert float(summary["dtd"]["conservation_error"]) < 1e-12 and float(summary["dtd"]["negative_share"]) == 0
    # 3 inputs x (input + 8 methods), 16x16 zoomed 8x, a title line per row and a colour bar
    assert png_size(tmp_path / "d" / "shapes_heatmaps.png") == figure_size(3, (128, 128), 9)


def test_demo_without_models(tmp_path):
    r = run("demo", "--data", tmp_path, cwd=tmp_path)
    assert r.returncode == 1 and "no example model" in r.stderr


@pytest.mark.parametrize("args, code, message", [
    (["explain", "net.npz", "missing.png"], 1, "cannot read input missing.png: no such file"),
    (["explain", "missing.npz", "cross.png"], 1, "cannot read model missing.npz: no such file"),
    (["explain", "net.npz", "bad.png"], 1, "cannot read image bad.png"),
    (["explain", "net.npz", "big.png"], 1,
     "input big.png (one sample of shape (1, 32, 32)) does not fit the model"),
    (["explain", "net.npz", "cross.png", "--rules", "lrp-42"], 2, "argument --rules: invalid choice: 'lrp-42'"),
    (["compare", "net.npz", "cross.png", "--methods", "dtd,lrp-42"], 2, "unknown method lrp-42"),
    (["explain", "net.npz", "cross.png", "--target", "3"], 1, "target out of range: the network has 3 outputs"),
    (["explain", "net.npz", "cross.png", "--target", "-1"], 2, "argument --target: must be >= 0"),
    (["explain", "net.npz", "cross.png", "--out", "."], 0, ""),        # cross_heatmap.png: not the input
    (["render", "cross_relevance.npy", "--out", "."], 0, ""),
    (["explain", "net.npz", "x.npy", "--rules", "epsilon-gamma-box"], 1, "give the input bounds with --box"),
    (["explain", "net.npz", "x.npy", "--rules", "epsilon", "--rule-param", "gamma=1"], 1,
     "composite 'epsilon' takes epsilon=0.0, bias='plain'; got gamma"),
    (["explain", "net.npz", "x.npy", "--rule-param", "gamma"], 2, "expected NAME=VALUE"),
    (["explain", "net.npz", "cross.png", "--size", "1", "2", "3"], 2, "--size takes one or two positive ints"),
    (["explain", "net.npz", "cross.png", "--rgb"], 1, "x has 3 channels/features on axis 1, expected 1"),
    (["explain", "net.npz", "obj.npy"], 1, "input obj.npy holds Python objects (pickled data), which dtd never loads"),
    (["evaluate", "net.npz", "x.npy", "--steps", "500"], 1, "--steps 500 is more than the 86 steps"),
    (["evaluate", "net.npz", "x.npy", "cross.png", "big.png"], 1, "inputs have different shapes"),
    (["compare", "net.npz", "x.npy", "--rule-param", "gamma:gamma=1", "--methods", "dtd"], 1,
     "'gamma' is not among the compared methods"),
])
def test_bad_input(work, args, code, message):
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(work / "big.png")
    (work / "bad.png").write_bytes(b"this is not a PNG")
    np.save(work / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(work / "cross_relevance.npy", np.zeros((1, 16, 16)))
    r = run(*args, cwd=work)
    assert r.returncode == code, (r.stdout, r.stderr)
    if code == 1:
        line = r.stderr.strip().splitlines()
        assert len(line) == 1 and line[0].startswith(f"dtd {args[0]}: error: ")
    assert message in r.stderr
    assert (work / "cross.png").stat().st_size > 0


def test_never_overwrites_an_input(work):
    # an input named like an output, inside the output folder
    (work / "out").mkdir()
    np.save(work / "out" / "x_relevance.npy", make_demo_inputs())
    before = (work / "out" / "x_relevance.npy").read_bytes()
    r = run("explain", "net.npz", "out/x_relevance.npy", "x.npy", "--box", "0", "1", "--out", "out", cwd=work)
    assert r.returncode == 1 and "refusing to overwrite the input file out/x_relevance.npy" in r.stderr
    assert (work / "out" / "x_relevance.npy").read_bytes() == before
    assert os.listdir(work / "out") == ["x_relevance.npy"]         # nothing else was written
    r = run("render", "r.npy", cwd=work)
    assert r.returncode == 1 and "no such file" in r.stderr


def test_debug_shows_the_traceback(work):
    r = run("--debug", "explain", "net.npz", "cross.png", "--target", "5", cwd=work)
    assert r.returncode == 1 and "Traceback" in r.stderr and "target out of range" in r.stderr


def _dense_net(d, rng):
    from dtd.layers import Dense, ReLU
    return dtd.Sequential([Dense(rng.normal(size=(6, d)), -0.1 * rng.uniform(size=6)), ReLU(),
                           Dense(rng.normal(size=(2, 6)), np.zeros(2))])


def test_dense_model_on_image_shaped_inputs(tmp_path):
    # a model taking flat samples (N, 64) explained on 8x8 images: relevance keeps the image shape
    rng = np.random.default_rng(0)
    net = _dense_net(64, rng)
    dtd.save(net, tmp_path / "mlp.npz")
    x = rng.uniform(size=(2, 1, 8, 8))
    np.save(tmp_path / "x.npy", x)
    Image.fromarray(np.round(x[0, 0] * 255).astype(np.uint8)).save(tmp_path / "a.png")
    r = run("explain", "mlp.npz", "x.npy", "a.png", "--rules", "zplus", "--out", "o", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    R = net.explain(x.reshape(2, 64), composites.get("zplus")).reshape(x.shape)
    np.testing.assert_array_equal(np.load(tmp_path / "o" / "x_relevance.npy"), R)
    xa = np.round(x[:1] * 255) / 255
    np.testing.assert_allclose(np.load(tmp_path / "o" / "a_relevance.npy"),
                               net.explain(xa.reshape(1, 64), composites.get("zplus")).reshape(1, 8, 8),
                               rtol=1e-12)
    assert png_size(tmp_path / "o" / "a_heatmap.png") == (128, 128)


def test_demo_picks_up_further_examples(tmp_path):
    # a stand-in for a trained MNIST-pairs detector under the name the demo looks for
    from dtd.commands.demo import EXAMPLES
    rng = np.random.default_rng(1)
    data = tmp_path / "data"
    data.mkdir()
    e = EXAMPLES[1]
    dtd.save(_dense_net(28 * 56, rng), data / e.model)
    np.save(data / e.inputs, rng.uniform(size=(2, 1, 28, 56)))
    r = run("demo", "--data", data, "--out", "d", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"== {e.name}" in r.stdout and "== shapes" not in r.stdout
    rows = read_csv(tmp_path / "d" / f"{e.name}_comparison.csv")
    assert len(rows) == 2 * 8
    # zoom 3: longer side 168 >= 128
    assert png_size(tmp_path / "d" / f"{e.name}_heatmaps.png") == figure_size(2, (28 * 3, 56 * 3), 9)


def test_explain_an_onnx_model(tmp_path):
    # the CLI loads models by content (dtd.io.load_any): a model file named .model, not .onnx
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(0)
    arrays = {"W1": rng.normal(size=(4, 1, 3, 3)), "b1": np.full(4, -0.1), "W2": rng.normal(size=(3, 1024)),
              "b2": np.zeros(3)}
    nodes = [helper.make_node("Conv", ["x", "W1", "b1"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]), helper.make_node("Flatten", ["r"], ["f"]),
             helper.make_node("Gemm", ["f", "W2", "b2"], ["y"], transB=1)]
    graph = helper.make_graph(nodes, "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 16, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
                              [numpy_helper.from_array(a.astype(np.float32), n) for n, a in arrays.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8                                            # what onnxruntime reads
    onnx.save(model, tmp_path / "m.model")
    x = make_demo_inputs()
    np.save(tmp_path / "x.npy", x.astype(np.float32))
    r = run("explain", "m.model", "x.npy", "--rules", "lrp-0", "--out", "o", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    ref = ort.InferenceSession(str(tmp_path / "m.model")).run(None, {"x": x.astype(np.float32)})[0]
    R = np.load(tmp_path / "o" / "x_relevance.npy")
    assert R.dtype == np.float32
    # LRP-0 keeps f_c(x) minus what the biases absorb; the explained f_c is onnxruntime's output
    net = dtd.io.load_any(tmp_path / "m.model")
    np.testing.assert_array_equal(R, net.explain(x.astype(np.float32), dtd.rules.Epsilon(0.0)))
    shown = [float(line.split()[2]) for line in r.stdout.splitlines()[1:4]]
    np.testing.assert_allclose(shown, ref.max(axis=1), rtol=1e-4)   # printed with 5 digits


def test_dataset_runs_through_dtd_batch(work):
    from dtd.batch import load_results
    # evaluate a .npy data set in this process (--workers 0): the means equal evaluate_method's
    r = run("evaluate", "net.npz", "--dataset", "x.npy", "--results", "res", "--workers", "0", "--box", "0", "1",
            "--region", "4", "--n-noise", "1", "--no-progress", cwd=work)
    assert r.returncode == 0, r.stderr
    ev = evaluate_method(make_demo_network(), make_demo_inputs(), "dtd", box=(0.0, 1.0),
                         continuity_options=dict(n_noise=1), flipping_options=dict(region=4))
    summary = read_csv(work / "res" / "summary.csv")
    assert [s["method"] for s in summary] == ["dtd"]
    for k in ("f_c", "conservation_error", "continuity", "auc_most", "aopc_random"):
        assert float(summary[0][k]) == pytest.approx(ev.summary()[k], rel=1e-12), k
    # explain a folder of images, read with this command's preprocessing; the box follows from it
    (work / "imgs").mkdir()
    (work / "cross.png").rename(work / "imgs" / "cross.png")
    r = run("explain", "net.npz", "--dataset", "imgs", "--results", "res2", "--workers", "0",
            "--mean", "0.5", "--std", "0.5", cwd=work)
    assert r.returncode == 0, r.stderr
    x = (make_demo_inputs()[:1] - 0.5) / 0.5
    np.testing.assert_allclose(load_results(work / "res2"),
                               make_demo_network().explain(x, composites.DTD(low=-1.0, high=1.0)),
                               rtol=1e-12, atol=1e-15)
    r = run("explain", "net.npz", "x.npy", "--dataset", "imgs", "--results", "r3", cwd=work)
    assert r.returncode == 2 and "give INPUT... or --dataset PATH, not both" in r.stderr
    r = run("evaluate", "net.npz", cwd=work)
    assert r.returncode == 2 and "give at least one INPUT (or --dataset PATH)" in r.stderr
    r = run("compare", "net.npz", cwd=work)
    assert r.returncode == 2 and "give at least one INPUT\n" in r.stderr
