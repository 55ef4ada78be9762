"""Pooling with overlapping windows and p-norm pooling with p != 2, against loops over the windows (issue 15).

tests/test_pooling_fast.py holds the tiling geometries (stride = kernel); here the windows overlap
(stride < kernel), with zero padding, and LpPool2d has p = 1, 1.5, 3.  References, written here one
window at a time from the definitions (padding is zero for sums and p-norms, -inf for maxima):

* the proportional rule, ``R_i = sum_j x_i / sum_{window j} x R_j`` (0/0 := 0), on MaxPool2d, AvgPool2d
  and LpPool2d (the rule does not depend on the layer: every window is a sum pooling);
* LpPool2d's forward ``(sum_{window} |x|^p)^(1/p)``, and onnxruntime's LpPool (float32, integer p only:
  ONNX's attribute is an int);
* LpPool2d's gradient, by central differences of its forward (h = 1e-6: truncation ~1e-12, rounding
  ~1e-10; rtol 1e-6, atol 1e-8).

float64 against the loops: rtol 1e-12 (the same sums in another order), atol 1e-12 times the largest
entry (a window sum near zero amplifies rounding).
"""
import itertools

import numpy as np
import pytest

from dtd.layers import AvgPool2d, LpPool2d, MaxPool2d
from dtd.rules import Proportional

# kernel, stride, padding, (H, W): every window overlaps its neighbours
GEOMETRIES = [
    ((2, 2), (1, 1), (0, 0), (5, 5)),
    ((3, 3), (1, 1), (1, 1), (5, 6)),
    ((3, 3), (2, 2), (1, 1), (7, 7)),
    ((3, 2), (2, 1), (1, 0), (6, 5)),
    ((2, 3), (1, 2), (0, 1), (4, 7)),
]
IDS = [f"k{k[0]}x{k[1]}-s{s[0]}{s[1]}-p{p[0]}{p[1]}" for k, s, p, _ in GEOMETRIES]


def windows(shape, kernel, stride, padding):
    """``(i, j, [(r, c), ...])``: each output position and the input positions of its window inside x."""
    (kH, kW), (sH, sW), (pH, pW) = kernel, stride, padding
    H, W = shape[-2:]
    Ho, Wo = (H + 2 * pH - kH) // sH + 1, (W + 2 * pW - kW) // sW + 1
    for i, j in itertools.product(range(Ho), range(Wo)):
        cells = [(i * sH - pH + a, j * sW - pW + b) for a in range(kH) for b in range(kW)]
        yield i, j, [(r, c) for r, c in cells if 0 <= r < H and 0 <= c < W]


def out_shape(shape, kernel, stride, padding):
    last = list(windows(shape, kernel, stride, padding))[-1]
    return shape[:2] + (last[0] + 1, last[1] + 1)


def proportional_loop(x, R, kernel, stride, padding):
    out = np.zeros_like(x)
    for n, ch in np.ndindex(*x.shape[:2]):
        for i, j, cells in windows(x.shape, kernel, stride, padding):
            s = sum(x[n, ch, r, c] for r, c in cells)
            if s == 0:
                continue
            for r, c in cells:
                out[n, ch, r, c] += x[n, ch, r, c] / s * R[n, ch, i, j]
    return out


def lp_loop(x, p, kernel, stride, padding):
    y = np.zeros(out_shape(x.shape, kernel, stride, padding))
    for n, ch in np.ndindex(*x.shape[:2]):
        for i, j, cells in windows(x.shape, kernel, stride, padding):
            y[n, ch, i, j] = sum(abs(x[n, ch, r, c]) ** p for r, c in cells) ** (1.0 / p)
    return y


def max_loop(x, kernel, stride, padding):
    y = np.zeros(out_shape(x.shape, kernel, stride, padding))
    for n, ch in np.ndindex(*x.shape[:2]):
        for i, j, cells in windows(x.shape, kernel, stride, padding):
            y[n, ch, i, j] = max(x[n, ch, r, c] for r, c in cells)
    return y


def _close(got, ref):
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12 * max(np.abs(ref).max(), 1.0))


@pytest.mark.parametrize("kernel, stride, padding, size", GEOMETRIES, ids=IDS)
def test_proportional_rule_with_overlapping_windows_equals_the_loop(kernel, stride, padding, size):
    rng = np.random.default_rng(31)
    for layer in (MaxPool2d(kernel, stride, padding), AvgPool2d(kernel, stride, padding),
                  LpPool2d(3, kernel, stride, padding)):
        for x in (rng.uniform(0, 1, size=(2, 3) + size),                         # after a ReLU
                  rng.integers(-1, 3, size=(2, 3) + size).astype(np.float64)):  # windows summing to 0
            y = layer.forward(x)
            assert y.shape == out_shape(x.shape, kernel, stride, padding)
            R = rng.normal(size=y.shape)
            _close(layer.relevance(x, R, Proportional()), proportional_loop(x, R, kernel, stride, padding))
        # x >= 0 with every window sum > 0: conservative, the relevance of overlapping windows adds up
        x = 0.1 + rng.uniform(0, 1, size=(2, 3) + size)
        R = rng.normal(size=layer.forward(x).shape)
        np.testing.assert_allclose(layer.relevance(x, R, Proportional()).sum(axis=(1, 2, 3)), R.sum(axis=(1, 2, 3)),
                                   rtol=1e-12)


@pytest.mark.parametrize("kernel, stride, padding, size", GEOMETRIES, ids=IDS)
def test_max_pooling_forward_with_overlapping_windows_equals_the_loop(kernel, stride, padding, size):
    x = np.random.default_rng(32).normal(size=(2, 2) + size)
    np.testing.assert_array_equal(MaxPool2d(kernel, stride, padding).forward(x), max_loop(x, kernel, stride, padding))


@pytest.mark.parametrize("p", [1.0, 1.5, 3.0])
@pytest.mark.parametrize("kernel, stride, padding, size", GEOMETRIES + [((2, 2), (2, 2), (0, 0), (4, 6))],
                         ids=IDS + ["tiles"])
def test_lp_pooling_forward_and_gradient(p, kernel, stride, padding, size):
    rng = np.random.default_rng(33)
    layer = LpPool2d(p, kernel, stride, padding)
    x = rng.normal(size=(2, 2) + size)                  # signed: |x|^p
    _close(layer.forward(x), lp_loop(x, p, kernel, stride, padding))
    G = rng.normal(size=layer.forward(x).shape)
    h = 1e-6
    fd = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        e = np.zeros_like(x)
        e[idx] = h
        fd[idx] = np.sum((layer.forward(x + e) - layer.forward(x - e)) * G) / (2 * h)
    np.testing.assert_allclose(layer.backward(x, G), fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("p", [1, 3])
@pytest.mark.parametrize("kernel, stride, padding, size", GEOMETRIES, ids=IDS)
def test_lp_pooling_equals_onnxruntime(p, kernel, stride, padding, size):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper
    x = np.random.default_rng(34).normal(size=(2, 2) + size).astype(np.float32)
    node = helper.make_node("LpPool", ["x"], ["y"], kernel_shape=list(kernel), strides=list(stride),
                            pads=[padding[0], padding[1], padding[0], padding[1]], p=p)
    graph = helper.make_graph([node], "lp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT,
                                                             list(out_shape(x.shape, kernel, stride, padding)))])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=8)
    onnx.checker.check_model(model)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    ref = sess.run(None, {"x": x})[0]
    got = LpPool2d(p, kernel, stride, padding).forward(x)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


def test_flat_on_max_pooling_spreads_over_the_window_loop():
    """Flat() given to a MaxPool2d: each input of window j gets R_j / (its number of real inputs), whatever the
    maximum (the LRP Toolbox's 'flat'/'ww' on MaxPool); a loop over windows, overlapping and padded."""
    from dtd.layers import MaxPool2d
    from dtd.rules import Flat
    rng = np.random.default_rng(3)
    layer = MaxPool2d(3, stride=2, padding=1)
    x = rng.normal(size=(2, 2, 5, 6))
    R = rng.normal(size=layer.forward(x).shape)
    ref = np.zeros_like(x)
    for n, c, i, j in np.ndindex(R.shape):
        r0, c0 = i * 2 - 1, j * 2 - 1
        rows = [r for r in range(r0, r0 + 3) if 0 <= r < 5]
        cols = [q for q in range(c0, c0 + 3) if 0 <= q < 6]
        for r in rows:
            for q in cols:
                ref[n, c, r, q] += R[n, c, i, j] / (len(rows) * len(cols))
    np.testing.assert_allclose(layer.relevance(x, R, Flat()), ref, rtol=1e-13, atol=1e-15)
