"""The layers that model import needs: Affine, GroupedConv2d, PaddedMaxPool2d, PaddedAvgPool2d,
ScaledSumPool2d, Tanh, Identity, Transpose.

References:

* forwards against naive loops / plain NumPy written here (padded pooling with
  explicit windows and divisors, grouped convolution as a block-diagonal Conv2d);
* backward against central finite differences of the layer's own forward
  (h = 1e-6, inputs of order 1: truncation ~1e-13, rounding ~1e-10; atol 1e-7 + rtol 1e-6);
* every linear rule's fast path against its closed form ``rule.explicit`` over the
  layer's matrix (probed column by column from the forward, which is itself
  checked against the loops): rtol 1e-10 (same sums in another order);
* relevance of the pass-through layers and of Transpose is conserved exactly.

float64 throughout; float32 in gives float32 out.
"""
import zlib

import numpy as np
import pytest

from dtd.layers import (Affine, AvgPool2d, Conv2d, GroupedConv2d, Identity, MaxPool2d, PaddedAvgPool2d,
                        PaddedMaxPool2d, PermuteBack, ReLU, ScaledSumPool2d, SumPool2d, Tanh, Transpose)
from dtd.rules import AlphaBeta, Epsilon, Flat, Gamma, PassThrough, Proportional, WinnerTakeAll, WSquare, ZBox, ZPlus

FD = dict(rtol=1e-6, atol=1e-7)
CLOSED = dict(rtol=1e-10, atol=1e-12)


def rng_for(name):
    return np.random.default_rng(zlib.crc32(name.encode()))


def fd_backward(layer, x, G, h=1e-6):
    out = np.empty_like(x)
    flat = x.reshape(-1)
    for k in range(flat.size):
        e = np.zeros_like(flat)
        e[k] = h
        xp, xm = (flat + e).reshape(x.shape), (flat - e).reshape(x.shape)
        out.reshape(-1)[k] = ((layer.forward(xp) - layer.forward(xm)) * G).sum() / (2 * h)
    return out


def probe_matrix(layer, shape):
    """``(W, b)`` with ``forward(x).ravel() == W @ x.ravel() + b`` for one sample of ``shape``."""
    D = int(np.prod(shape))
    b = layer.forward(np.zeros((1,) + shape)).reshape(-1)
    E = np.eye(D).reshape((D,) + shape)
    W = (layer.forward(E).reshape(D, -1) - b).T
    return W, b


def linear_rules(shape, rng):
    """Pairs (rule for the layer, the same rule for the flattened explicit form)."""
    low, high = -rng.uniform(0.5, 1.5, size=shape), rng.uniform(0.5, 1.5, size=shape)
    plain = [Epsilon(0.0), Epsilon(0.1), Gamma(0.25), AlphaBeta(2, 1), AlphaBeta(1, 0), ZPlus(), WSquare(), Flat()]
    return [(r, r) for r in plain] + [(ZBox(low, high), ZBox(low.reshape(-1), high.reshape(-1)))]


def check_rules_closed_form(layer, shape, rng, x=None):
    x = rng.normal(size=(3,) + shape) if x is None else x
    N = x.shape[0]
    W, b = probe_matrix(layer, shape)
    y = layer.forward(x)
    np.testing.assert_allclose(x.reshape(N, -1) @ W.T + b, y.reshape(N, -1), rtol=1e-12, atol=1e-12)
    R = rng.normal(size=y.shape)
    for rule, flat_rule in linear_rules(shape, rng):
        fast = layer.relevance(x, R, rule).reshape(N, -1)
        # random weights: W != 0 is the layer's structure here (flat's "connected", dtd.rules.Flat)
        ref = flat_rule.explicit(W, b, x.reshape(N, -1), R.reshape(N, -1), connected=W != 0)
        np.testing.assert_allclose(fast, ref, **CLOSED, err_msg=repr(rule))


# ----------------------------------------------------------------------- Affine
def test_affine_forward_backward_and_rules():
    rng = rng_for("affine")
    s, t = rng.normal(size=3), rng.normal(size=3)
    layer = Affine(s, t)
    x = rng.normal(size=(2, 3, 4, 5))
    ref = np.empty_like(x)
    for c in range(3):
        ref[:, c] = s[c] * x[:, c] + t[c]
    np.testing.assert_allclose(layer.forward(x), ref, rtol=1e-15)
    G = rng.normal(size=x.shape)
    np.testing.assert_allclose(layer.backward(x, G), fd_backward(layer, x, G), **FD)
    check_rules_closed_form(layer, (3, 4, 5), rng)
    check_rules_closed_form(Affine(s, t), (3,), rng)          # on (N, features)


def test_affine_default_rule_is_lrp0_and_shift_absorbs():
    layer = Affine([2.0, 1.0], [1.0, 0.0])
    x = np.array([[3.0, 4.0]])
    R = layer.relevance(x, layer.forward(x))
    # R_x = s x / (s x + t) * R_y with R_y = y: the shift keeps 1 of channel 0
    assert R.tolist() == [[6.0, 4.0]]
    with pytest.raises(ValueError, match="shift has 1 entries, scale has 2"):
        Affine([1.0, 2.0], [0.0])
    with pytest.raises(ValueError, match="expected 2"):
        layer.forward(np.ones((1, 3)))


# ----------------------------------------------------------------- GroupedConv2d
def block_diagonal(w, groups):
    co, ci = w.shape[0] // groups, w.shape[1]
    full = np.zeros((w.shape[0], ci * groups) + w.shape[2:])
    for k in range(groups):
        full[k * co:(k + 1) * co, k * ci:(k + 1) * ci] = w[k * co:(k + 1) * co]
    return full


@pytest.mark.parametrize("groups,stride,padding", [(2, 1, 0), (3, 2, 1), (4, (1, 2), (1, 0))])
def test_grouped_conv_equals_block_diagonal_conv(groups, stride, padding):
    rng = rng_for(f"grouped{groups}")
    w = rng.normal(size=(2 * groups, 2, 3, 3))
    b = rng.normal(size=2 * groups)
    layer = GroupedConv2d(w, b, stride, padding, groups)
    ref = Conv2d(block_diagonal(w, groups), b, stride, padding)
    x = rng.normal(size=(2, 2 * groups, 6, 7))
    y = layer.forward(x)
    np.testing.assert_allclose(y, ref.forward(x), rtol=1e-12, atol=1e-12)
    G = rng.normal(size=y.shape)
    np.testing.assert_allclose(layer.backward(x, G), ref.backward(x, G), rtol=1e-12, atol=1e-12)
    dw, db = layer.param_grads(x, G)
    dw_ref, db_ref = ref.param_grads(x, G)
    np.testing.assert_allclose(dw, np.concatenate([dw_ref[k * 2:(k + 1) * 2, k * 2:(k + 1) * 2]
                                                   for k in range(groups)]), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(db, db_ref, rtol=1e-12)
    # every linear rule, flat included: cross-group pairs are not connected (W == 0 there)
    check_rules_closed_form(layer, (2 * groups, 6, 7), rng, x)


def test_grouped_conv_checks():
    with pytest.raises(ValueError, match="do not split into 2 groups"):
        GroupedConv2d(np.ones((3, 1, 1, 1)), groups=2)
    with pytest.raises(ValueError, match="expected 4"):
        GroupedConv2d(np.ones((4, 2, 1, 1)), groups=2).forward(np.ones((1, 2, 3, 3)))


# -------------------------------------------------------------- padded pooling
def naive_pool(x, k, s, pads, reduce, fill):
    t, l, b, r = pads
    N, C, H, W = x.shape
    xp = np.full((N, C, H + t + b, W + l + r), fill)
    xp[:, :, t:t + H, l:l + W] = x
    valid = np.zeros(xp.shape[2:])
    valid[t:t + H, l:l + W] = 1
    Ho, Wo = (H + t + b - k[0]) // s[0] + 1, (W + l + r - k[1]) // s[1] + 1
    out = np.empty((N, C, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            win = xp[:, :, i * s[0]:i * s[0] + k[0], j * s[1]:j * s[1] + k[1]]
            count = valid[i * s[0]:i * s[0] + k[0], j * s[1]:j * s[1] + k[1]].sum()
            out[:, :, i, j] = reduce(win, count)
    return out


POOLS = [((3, 3), (2, 2), (0, 0, 1, 1)), ((2, 3), (1, 2), (1, 0, 0, 2)), ((7, 7), (1, 1), (0, 0, 1, 1)),
         ((3, 3), (1, 1), (1, 1, 1, 1))]


@pytest.mark.parametrize("k,s,pads", POOLS)
def test_padded_max_pool(k, s, pads):
    rng = rng_for(f"maxpool{k}{s}{pads}")
    H = W = 7
    x = rng.normal(size=(2, 2, H, W))
    layer = PaddedMaxPool2d(k, s, pads)
    y = layer.forward(x)
    np.testing.assert_array_equal(y, naive_pool(x, k, s, pads, lambda w, c: w.max(axis=(2, 3)), -np.inf))
    assert y.shape == layer.output_shape(x.shape)
    G = rng.normal(size=y.shape)
    np.testing.assert_allclose(layer.backward(x, G), fd_backward(layer, x, G), **FD)
    R = np.abs(rng.normal(size=y.shape))
    for rule in (WinnerTakeAll(), Proportional()):
        Rx = layer.relevance(np.abs(x), R, rule)
        np.testing.assert_allclose(Rx.sum(), R.sum(), rtol=1e-12)   # every window has an input entry
    assert isinstance(layer, MaxPool2d)


@pytest.mark.parametrize("include", [True, False])
@pytest.mark.parametrize("k,s,pads", POOLS)
def test_padded_avg_pool(k, s, pads, include):
    rng = rng_for(f"avgpool{k}{s}{pads}{include}")
    x = rng.normal(size=(2, 2, 7, 7))
    layer = PaddedAvgPool2d(k, s, pads, count_include_pad=include)
    y = layer.forward(x)
    div = (lambda c: k[0] * k[1]) if include else (lambda c: c)
    np.testing.assert_allclose(y, naive_pool(x, k, s, pads, lambda w, c: w.sum(axis=(2, 3)) / div(c), 0.0),
                               rtol=1e-13, atol=1e-14)
    G = rng.normal(size=y.shape)
    np.testing.assert_allclose(layer.backward(x, G), fd_backward(layer, x, G), **FD)
    check_rules_closed_form(layer, (2, 7, 7), rng, x)
    assert isinstance(layer, AvgPool2d)


def test_padded_pool_checks_and_symmetric_case():
    x = rng_for("sym").normal(size=(1, 2, 6, 6))
    np.testing.assert_array_equal(PaddedMaxPool2d(3, 2, (1, 1, 1, 1)).forward(x), MaxPool2d(3, 2, 1).forward(x))
    np.testing.assert_allclose(PaddedAvgPool2d(3, 2, 1, True).forward(x), AvgPool2d(3, 2, 1).forward(x),
                               rtol=1e-15)
    with pytest.raises(ValueError, match="smaller than the kernel"):
        PaddedMaxPool2d(2, 1, (0, 0, 2, 0))
    with pytest.raises(ValueError, match="4 non-negative ints"):
        PaddedAvgPool2d(2, 1, (0, 0, -1, 0))


def test_scaled_sum_pool():
    rng = rng_for("scaled")
    x = rng.normal(size=(2, 3, 6, 6))
    layer = ScaledSumPool2d((2, 3), (2, 1))
    assert layer.scale == 1 / np.sqrt(6)
    np.testing.assert_allclose(layer.forward(x), SumPool2d((2, 3), (2, 1)).forward(x) / np.sqrt(6), rtol=1e-15)
    check_rules_closed_form(layer, (3, 6, 6), rng, x)
    R = rng.normal(size=layer.output_shape(x.shape))
    # the relevance of LRP-0 does not depend on the scale
    np.testing.assert_allclose(layer.relevance(x, R, Epsilon(0.0)),
                               SumPool2d((2, 3), (2, 1)).relevance(x, R, Epsilon(0.0)), rtol=1e-12)


# ------------------------------------------------------- Tanh, Identity, Transpose
def test_tanh_and_identity():
    rng = rng_for("tanh")
    x = rng.normal(size=(2, 5))
    G = rng.normal(size=x.shape)
    t = Tanh()
    np.testing.assert_allclose(t.forward(x), np.tanh(x), rtol=1e-15)
    np.testing.assert_allclose(t.backward(x, G), fd_backward(t, x, G), **FD)
    R = rng.normal(size=x.shape)
    for layer in (Tanh(), Identity()):
        np.testing.assert_array_equal(layer.relevance(x, R), R)
        assert PassThrough().applies_to(layer)
    np.testing.assert_array_equal(Identity().forward(x), x)
    np.testing.assert_array_equal(Identity().backward(x, G), G)


def test_transpose():
    rng = rng_for("transpose")
    x = rng.normal(size=(2, 4, 5, 3))             # NHWC
    layer = Transpose((0, 3, 1, 2))
    y = layer.forward(x)
    np.testing.assert_array_equal(y, np.transpose(x, (0, 3, 1, 2)))
    assert y.shape == layer.output_shape(x.shape) == (2, 3, 4, 5)
    G = rng.normal(size=y.shape)
    np.testing.assert_array_equal(layer.backward(x, G), np.transpose(G, (0, 2, 3, 1)))
    Rx = layer.relevance(x, G)
    np.testing.assert_array_equal(Rx, np.transpose(G, (0, 2, 3, 1)))
    assert isinstance(layer.default_rule(), PermuteBack)
    assert not PassThrough().applies_to(layer) and not ZPlus().applies_to(layer)
    with pytest.raises(ValueError, match="keeps the batch axis"):
        Transpose((1, 0, 2))
    with pytest.raises(ValueError, match="4 dimensions"):
        layer.forward(np.ones((2, 3)))


def test_float32_in_float32_out():
    rng = rng_for("f32")
    x = rng.normal(size=(2, 4, 6, 6)).astype(np.float32)
    layers = [Affine(np.ones(4), np.zeros(4)), GroupedConv2d(rng.normal(size=(4, 2, 3, 3)), groups=2),
              PaddedMaxPool2d(3, 2, (0, 0, 1, 1)), PaddedAvgPool2d(3, 2, (0, 0, 1, 1), False),
              ScaledSumPool2d(2), Tanh(), Identity(), Transpose((0, 2, 3, 1)), ReLU()]
    for layer in layers:
        y = layer.forward(x)
        assert y.dtype == np.float32, layer
        assert layer.backward(x, np.ones_like(y)).dtype == np.float32, layer
        assert layer.relevance(x, np.ones_like(y)).dtype == np.float32, layer
