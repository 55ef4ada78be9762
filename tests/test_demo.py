"""The demo a newcomer runs first (issue 17): a trained shapes network, named classes, annotated heatmaps.

References: the shapes network's predictions against the labels :func:`dtd.examples.make_shapes`
drew (accuracy recorded 1.0 on 1,500 new images; the test accepts 0.98, as the other shipped
models accept 0.02 below their record); the heatmap cells against :func:`dtd.render.heatmap` with
the bound computed here from ``numpy.percentile`` and ``numpy.median``; the colour bar's colours
against the colormap's table (blue, white, red at -bound, 0, +bound); the console against the
library's numbers (f_c(x) = net.forward(x) at the argmax).  All in float64; colours compared exactly
(bytes) or within one byte step where a bar row falls between two table positions.
"""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import dtd
from dtd._paths import data_dir
from dtd.evaluate import compare
from dtd.evaluate.figures import zoom
from dtd.examples import (SHAPES_CLASSES, SHAPES_MODEL, SHAPES_TRAINING, make_demo_inputs, make_shapes,
                          train_shapes_network)
from dtd.render import colorbar, heatmap, shared_bound, text_strip

ROOT = Path(__file__).resolve().parent.parent


def run(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "dtd", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def shapes():
    return dtd.load(data_dir() / SHAPES_MODEL), make_demo_inputs()


def test_shipped_shapes_network_works(shapes):
    net, x = shapes
    assert [SHAPES_CLASSES[k] for k in net.forward(x).argmax(axis=1)] == ["cross", "square", "diagonal"]
    xt, yt = make_shapes(SHAPES_TRAINING["n_test"], SHAPES_TRAINING["test_seed"])
    assert np.mean(net.forward(xt).argmax(axis=1) == yt) >= 0.98
    # biases <= 0: the DTD training-free model is conservative and positive on it
    assert all((layer.bias <= 0).all() for layer in net.layers if hasattr(layer, "bias"))
    R = net.explain(x, dtd.composites.get("dtd", low=0.0, high=1.0))
    np.testing.assert_allclose(R.sum(axis=(1, 2, 3)), net.forward(x).max(axis=1), rtol=1e-12)
    assert (R >= 0).all()


def test_shapes_generator():
    x, y = make_shapes(300, seed=5)
    assert x.shape == (300, 1, 16, 16) and x.dtype == np.float64
    assert np.bincount(y).tolist() == [100, 100, 100]
    assert 0 <= x.min() and x.max() <= 1
    # every image has a shape: at least 5 pixels at >= 0.5 (the noise stays below 0.1)
    assert ((x >= 0.5).sum(axis=(1, 2, 3)) >= 5).all()
    # a cross is symmetric under a transpose about its centre: compare row and column sums' spread
    bright = x[:, 0] >= 0.5
    rows, cols = bright.any(axis=2).sum(axis=1), bright.any(axis=1).sum(axis=1)
    assert np.abs(rows - cols)[y == 0].max() <= 1 and np.abs(rows - cols)[y == 1].max() <= 1
    x2, y2 = make_shapes(300, seed=5)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)


def test_training_is_reproducible_and_learns():
    kw = dict(n_train=600, n_test=300, epochs=2)
    net1, rec1 = train_shapes_network(**kw)
    net2, rec2 = train_shapes_network(**kw)
    for a, b in zip(net1.layers, net2.layers):
        if hasattr(a, "weight"):
            np.testing.assert_array_equal(a.weight, b.weight)
            np.testing.assert_array_equal(a.bias, b.bias)
    assert rec1 == {**rec2, "seconds": rec1["seconds"]}
    assert rec1["test_accuracy"] >= 0.9, rec1
    with pytest.raises(TypeError, match="unknown settings"):
        train_shapes_network(epoch=1)


def test_shared_bound_is_the_median_of_the_maps_scales():
    rng = np.random.default_rng(0)
    maps = [rng.normal(size=(1, 8, 8)) * s for s in (0.1, 1.0, 10.0, 3.0)]
    own = [np.percentile(np.abs(m), 99.5) for m in maps]
    assert shared_bound(maps) == pytest.approx(np.median(own), rel=1e-15)
    assert shared_bound([np.zeros((2, 2)), np.array([[0.0, 0.0, 0.0, 2.0]])], 50) == 2.0    # sparse map: its maximum
    assert shared_bound([np.zeros((2, 2))]) == 1.0
    with pytest.raises(ValueError, match="percentile"):
        shared_bound(maps, 0)


def test_colorbar_colours_and_size():
    bar = colorbar("bwr", 0.5, height=100)
    assert bar.shape[0] == 100 and bar.dtype == np.uint8
    column = bar[:, 4].astype(int)
    inside = np.flatnonzero(column.max(axis=1) > column.min(axis=1))        # coloured rows (text is gray)
    top, bottom = column[inside[0]], column[inside[-1]]
    assert top[0] == 255 and top[1] <= 20 and bottom[2] == 255 and bottom[0] <= 20    # red on top, blue below
    mid = column[(inside[0] + inside[-1]) // 2]
    assert (mid >= 235).all()                                                       # white at 0
    hot = colorbar("hot", 1.0, height=100)[:, 4].astype(int)                        # sequential: black at 0
    assert hot[inside[-1]].max() <= 20 and hot[inside[0]].min() >= 235          # white at +bound
    with pytest.raises(ValueError, match="bound"):
        colorbar("bwr", 0.0)
    assert text_strip("x" * 500, 60).shape[1] == 60


@pytest.mark.parametrize("scale", ["figure", "row", "panel"])
def test_figure_cells_use_the_chosen_scale(shapes, scale):
    net, x = shapes
    res = compare(net, x, ["dtd", "lrp-0"], box=(0.0, 1.0), flipping_options=dict(region=4),
                  continuity_options=dict(n_noise=2))
    img = res.figure(x, classes=SHAPES_CLASSES, scale=scale, zoom=2)
    R = {m: ev.relevance for m, ev in res.evaluations.items()}
    own = {(m, n): np.percentile(np.abs(R[m][n].sum(axis=0)), 99.5) for m in R for n in range(3)}
    for n in range(3):
        for k, m in enumerate(R):
            if scale == "figure":
                b = np.median(list(own.values()))
            elif scale == "row":
                b = np.median([own[(q, n)] for q in R])
            else:
                b = own[(m, n)]
            cell = zoom(heatmap(R[m][n], bound=b), 2)
            # find the cell: it appears exactly once in the figure (searched by its first row)
            hits = [(i, j) for i in range(img.shape[0] - 32) for j in range(img.shape[1] - 32)
                    if img[i, j, 0] == cell[0, 0, 0] and np.array_equal(img[i:i + 32, j:j + 32], cell)]
            assert hits, (scale, m, n)
    # each row's title names the class as the console does, with f_c(x): drawn text, compared as pixels
    f = net.forward(x).max(axis=1)
    line = text_strip("x", 10).shape[0]
    row_height = (img.shape[0] - 2 * line) // 3                    # two header lines
    for n, name in enumerate(SHAPES_CLASSES):
        title = text_strip(f"input {n}: explained output '{name}', f_c(x) = {f[n]:.4g}", img.shape[1])
        top = 2 * line + n * row_height
        np.testing.assert_array_equal(img[top:top + line], title)
    with pytest.raises(ValueError, match="scale must be"):
        res.figure(x, scale="column")


def test_demo_console_names_classes_and_explains_its_numbers(tmp_path, shapes):
    import shutil
    net, x = shapes
    (tmp_path / "data").mkdir()
    for f in (SHAPES_MODEL, "demo_inputs.npy"):
        shutil.copy(data_dir() / f, tmp_path / "data" / f)
    r = run("demo", "--data", "data", "--out", "d", "--no-progress", "--heatmap-scale", "row", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    out = r.stdout
    assert "normalised to [0, 1]" not in out and "seed 00" not in out
    assert "AUC = mean of f_c over the steps" in out
    assert out.startswith("methods: lrp-0") and "rel. err = |sum R - f_c(x)| / |f_c(x)|" in out
    f = net.forward(x).max(axis=1)
    for n, name in enumerate(["cross", "square", "diagonal"]):
        assert f"{n:>6} {name:>9} {f[n]:>10.4f}  dtd" in out
    assert "class 1" not in out and "trained in NumPy" in out
    assert (tmp_path / "d" / "shapes_heatmaps.png").is_file()


def test_demo_refuses_a_bad_scale(tmp_path):
    r = run("demo", "--heatmap-scale", "column", cwd=tmp_path)
    assert r.returncode == 2 and "invalid choice: 'column'" in r.stderr


def test_conformance_check_of_the_shipped_golden_set_is_quiet(capsys):
    # cases made to absorb all relevance (zero inputs, large stabilisers) must not print RelevanceWarnings
    from dtd.cli import main
    assert main(["conformance", "check", str(data_dir() / "golden")]) == 0
    out, err = capsys.readouterr()
    assert "0 failed" in out and "warning" not in err


def test_demo_runs_on_one_blas_thread(tmp_path, monkeypatch, capsys):
    # many products of small matrices: several OpenBLAS threads on a busy machine made the demo 10-20x slower
    import contextlib
    import shutil

    import dtd.experiments.common as common
    from dtd.cli import main
    calls = []
    monkeypatch.setattr(common, "blas_limit", lambda n: calls.append(n) or contextlib.nullcontext())
    (tmp_path / "data").mkdir()
    for f in (SHAPES_MODEL, "demo_inputs.npy"):
        shutil.copy(data_dir() / f, tmp_path / "data" / f)
    assert main(["demo", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "d"), "--no-progress"]) == 0
    assert calls == [1]
    import threadpoolctl  # noqa: F401  (a dependency: setup.cfg install_requires)
