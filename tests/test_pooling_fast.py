"""The tile path of the pooling layers and rules (windows that do not overlap) against the general path and loops.

When ``stride == kernel_size`` the pooling layers view the (padded) input as
tiles (a reshape) instead of a sliding-window view, and write the adjoint
directly instead of folding (see :mod:`dtd.layers.pooling`).  Here, for tiling
geometries with exact tiling, cropped rows/columns, padding, kernels of one
row or one column, and batch and channels > 1:

* the tile path equals the general path (the same layer with
  ``_tiles_input`` answering False) and an explicit loop over windows written
  here: forward of max, sum, average and Lp pooling, the gradient of sum and
  average pooling, winner-take-all (ties split and first) and the proportional rule;
* ``out=forward(x)`` gives the same result as without it;
* float32 in gives float32 out; mixed dtypes give what the general path gives;
* winner-take-all and the proportional rule (positive inputs) conserve relevance.

Tolerances (float64): winner-take-all only compares and divides by a count,
in the same order on both paths, so it is held to ``rtol 1e-12, atol 0`` (in
fact exact); sums are regrouped (rows first), so sum/average/Lp pooling and the
proportional rule differ from the general path and the loops by a few ulps:
``rtol 1e-12`` with ``atol 1e-12`` on values of order 1.  float32 against
float64: ``rtol 1e-5`` (float32 epsilon 6e-8 times sums of a few terms).
"""
import copy
import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dtd.layers import AvgPool2d, LpPool2d, MaxPool2d, PaddedAvgPool2d, PaddedMaxPool2d, SumPool2d
from dtd.rules import Proportional, WinnerTakeAll

EXACT = dict(rtol=1e-12, atol=0)
CLOSE = dict(rtol=1e-12, atol=1e-12)

# kernel, padding, (H, W); stride = kernel
TILINGS = [
    ((2, 2), (0, 0), (6, 6)),      # the input is exactly tiled
    ((2, 2), (0, 0), (7, 5)),      # last row and column in no window
    ((3, 3), (1, 1), (7, 8)),      # padding, and the last padded column cropped
    ((2, 3), (0, 0), (5, 7)),      # rectangular, both cropped
    ((2, 3), (1, 2), (4, 5)),      # rectangular with padding, exact tiling of the padded input
    ((3, 3), (0, 0), (3, 3)),      # a single window (global pooling)
    ((1, 2), (0, 1), (3, 5)),      # one row per window
    ((3, 1), (1, 0), (5, 2)),      # one column per window
]
IDS = [f"k{k[0]}x{k[1]}-p{p[0]}{p[1]}-{s[0]}x{s[1]}" for k, p, s in TILINGS]


def general(layer):
    """The same layer, forced onto the general (sliding-window view and fold) path."""
    layer = copy.copy(layer)
    layer._tiles_input = lambda: False
    return layer


def window_slices(x_shape, kernel, padding):
    """(i, j, rows, cols) of each window of a tiling geometry, in padded coordinates."""
    (kH, kW), (pH, pW) = kernel, padding
    Ho = (x_shape[2] + 2 * pH - kH) // kH + 1
    Wo = (x_shape[3] + 2 * pW - kW) // kW + 1
    for i, j in itertools.product(range(Ho), range(Wo)):
        yield i, j, slice(i * kH, (i + 1) * kH), slice(j * kW, (j + 1) * kW)


def padded(x, padding, fill):
    pH, pW = padding
    return np.pad(x, ((0, 0), (0, 0), (pH, pH), (pW, pW)), constant_values=fill)


def crop(xp, x_shape, padding):
    pH, pW = padding
    return xp[:, :, pH:pH + x_shape[2], pW:pW + x_shape[3]]


def pool_loop(x, kernel, padding, reduce, fill):
    """``reduce`` over each window (N, C, kH*kW) -> (N, C), one window at a time."""
    xp = padded(x, padding, fill)
    wins = list(window_slices(x.shape, kernel, padding))
    y = np.empty(x.shape[:2] + (wins[-1][0] + 1, wins[-1][1] + 1))
    for i, j, r, c in wins:
        y[:, :, i, j] = reduce(xp[:, :, r, c].reshape(x.shape[:2] + (-1,)))
    return y


def spread_loop(x, R, kernel, padding, weights, fill):
    """``R_i = sum_j weights(window_j)_i R_j``; ``weights`` maps a window (kH, kW) to (kH, kW)."""
    xp = padded(x, padding, fill)
    out = np.zeros(xp.shape)
    for i, j, r, c in window_slices(x.shape, kernel, padding):
        for n, ch in np.ndindex(x.shape[:2]):
            out[n, ch, r, c] += weights(xp[n, ch, r, c]) * R[n, ch, i, j]
    return crop(out, x.shape, padding)


def winners_split(win):
    is_max = (win == win.max()).astype(float)
    return is_max / is_max.sum()


def winners_first(win):
    onehot = np.zeros(win.size)
    onehot[np.argmax(win)] = 1.0          # first maximum in row-major order
    return onehot.reshape(win.shape)


def proportional(win):
    s = win.sum()
    return win / s if s != 0 else np.zeros_like(win)


def tied(rng, shape):
    """Small integers: many windows with several maxima, and some windows summing to zero."""
    return rng.integers(-1, 3, size=shape).astype(np.float64)


# ----------------------------------------------------------------- forwards

@pytest.mark.parametrize("kernel, padding, size", TILINGS, ids=IDS)
def test_forwards_tile_path_equals_general_and_loop(kernel, padding, size):
    rng = np.random.default_rng(70)
    x = rng.normal(size=(2, 3) + size)
    k = kernel[0] * kernel[1]
    cases = [
        (MaxPool2d(kernel, padding=padding), lambda w: w.max(-1), -np.inf, EXACT),
        (SumPool2d(kernel, padding=padding), lambda w: w.sum(-1), 0.0, CLOSE),
        (AvgPool2d(kernel, padding=padding), lambda w: w.sum(-1) / k, 0.0, CLOSE),
        (LpPool2d(2, kernel, padding=padding), lambda w: np.sqrt((w ** 2).sum(-1)), 0.0, CLOSE),
        (LpPool2d(3, kernel, padding=padding), lambda w: (np.abs(w) ** 3).sum(-1) ** (1 / 3), 0.0, CLOSE),
    ]
    for layer, reduce, fill, tol in cases:
        assert layer._tiles_input()
        y = layer.forward(x)
        np.testing.assert_allclose(y, general(layer).forward(x), **tol, err_msg=repr(layer))
        np.testing.assert_allclose(y, pool_loop(x, kernel, padding, reduce, fill), **tol, err_msg=repr(layer))


@pytest.mark.parametrize("kernel, padding, size", TILINGS, ids=IDS)
def test_sum_and_avg_gradient_tile_path_equals_general_loop_and_adjoint(kernel, padding, size):
    rng = np.random.default_rng(71)
    x = rng.normal(size=(2, 3) + size)
    k = kernel[0] * kernel[1]
    for layer, w in [(SumPool2d(kernel, padding=padding), 1.0), (AvgPool2d(kernel, padding=padding), 1.0 / k)]:
        G = rng.normal(size=layer.forward(x).shape)
        got = layer.backward(x, G)
        assert got.shape == x.shape
        np.testing.assert_allclose(got, general(layer).backward(x, G), **EXACT)
        np.testing.assert_allclose(got, spread_loop(x, G, kernel, padding, lambda win: np.full(win.shape, w), 0.0),
                                   **CLOSE)
        # <forward(x), G> = <x, backward(G)>: the adjoint of the forward
        np.testing.assert_allclose(np.sum(layer.forward(x) * G), np.sum(x * got), rtol=1e-12)


# ----------------------------------------------------------------- winner-take-all

@pytest.mark.parametrize("ties, reference", [("split", winners_split), ("first", winners_first)])
@pytest.mark.parametrize("kernel, padding, size", TILINGS, ids=IDS)
def test_winner_take_all_tile_path_equals_general_and_loop(kernel, padding, size, ties, reference):
    rng = np.random.default_rng(72)
    layer = MaxPool2d(kernel, padding=padding)
    rule = WinnerTakeAll(ties=ties)
    for x in (tied(rng, (2, 3) + size), rng.normal(size=(2, 3) + size)):
        y = layer.forward(x)
        R = rng.normal(size=y.shape)
        got = layer.relevance(x, R, rule)
        np.testing.assert_allclose(got, rule.relevance(general(layer), x, R), **EXACT)
        np.testing.assert_allclose(got, spread_loop(x, R, kernel, padding, reference, -np.inf), **EXACT)
        # the recorded output changes nothing (tile path and general path)
        np.testing.assert_array_equal(rule.relevance(layer, x, R, out=y), got)
        np.testing.assert_array_equal(rule.relevance(general(layer), x, R, out=y), got)
        # every window sends all of its relevance to inputs (padding never wins)
        np.testing.assert_allclose(got.sum(axis=(1, 2, 3)), R.sum(axis=(1, 2, 3)), rtol=1e-12)


def test_winner_take_all_ties_are_exercised():
    # guard for the test above: the integer inputs do have windows with several maxima
    rng = np.random.default_rng(72)
    x = tied(rng, (2, 3, 6, 6))
    w = x.reshape(2, 3, 3, 2, 3, 2)
    n_max = (w == w.max(axis=(3, 5), keepdims=True)).sum(axis=(3, 5))
    assert (n_max > 1).mean() > 0.3


def test_gradient_of_max_pooling_is_the_split_rule():
    """The gradient of max pooling: central differences of the forward where the maxima are unique, and the
    loop written here (ties split equally: the subgradient dtd chooses) where they are not; it equals the
    winner-take-all rule on both paths."""
    rng = np.random.default_rng(73)
    layer = MaxPool2d((2, 3), padding=(1, 1))
    # distinct values, at least 1e-3 apart: the maximum of each window is unique and stays so within +-h
    x = rng.permutation(np.arange(2 * 2 * 5 * 7)).reshape(2, 2, 5, 7) * 1e-2
    G = rng.normal(size=layer.forward(x).shape)
    h = 1e-4
    fd = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        e = np.zeros_like(x)
        e[idx] = h
        fd[idx] = np.sum((layer.forward(x + e) - layer.forward(x - e)) * G) / (2 * h)
    np.testing.assert_allclose(layer.backward(x, G), fd, rtol=1e-9, atol=1e-9)
    xt = tied(rng, (2, 2, 5, 7))
    loop = spread_loop(xt, G, (2, 3), (1, 1), winners_split, -np.inf)
    np.testing.assert_allclose(layer.backward(xt, G), loop, **EXACT)
    np.testing.assert_allclose(layer.relevance(xt, G, WinnerTakeAll()), loop, **EXACT)
    np.testing.assert_allclose(general(layer).spread_to_winners(xt, G), loop, **EXACT)


@pytest.mark.parametrize("kernel", [(16, 16), (16, 17)])
def test_winner_take_all_counts_more_than_255_maxima(kernel):
    # a constant window of kH*kW >= 256 entries: counted in int64, not in bytes
    layer = MaxPool2d(kernel)
    x = np.full((1, 2) + kernel, 3.0)
    x[0, 1, 5, 7] = 4.0                                    # channel 1: a single winner
    R = np.array([[[[2.0]], [[5.0]]]])
    got = layer.relevance(x, R)
    np.testing.assert_allclose(got[0, 0], np.full(kernel, 2.0 / np.prod(kernel)), **EXACT)
    expect = np.zeros(kernel)
    expect[5, 7] = 5.0
    np.testing.assert_array_equal(got[0, 1], expect)
    np.testing.assert_allclose(got, WinnerTakeAll().relevance(general(layer), x, R), **EXACT)


# ----------------------------------------------------------------- proportional

@pytest.mark.parametrize("kernel, padding, size", TILINGS, ids=IDS)
def test_proportional_tile_path_equals_general_and_loop(kernel, padding, size):
    rng = np.random.default_rng(74)
    rule = Proportional()
    for layer in (MaxPool2d(kernel, padding=padding), SumPool2d(kernel, padding=padding),
                  AvgPool2d(kernel, padding=padding), LpPool2d(2, kernel, padding=padding)):
        for x in (tied(rng, (2, 3) + size), rng.normal(size=(2, 3) + size)):   # tied: some windows sum to 0
            y = layer.forward(x)
            R = rng.normal(size=y.shape)
            got = layer.relevance(x, R, rule)
            # regrouped sums, and a window sum near zero amplifies their rounding: relative to the largest entry
            scale = np.abs(got).max()
            np.testing.assert_allclose(got, rule.relevance(general(layer), x, R), rtol=1e-12, atol=1e-12 * scale)
            np.testing.assert_allclose(got, spread_loop(x, R, kernel, padding, proportional, 0.0),
                                       rtol=1e-12, atol=1e-12 * scale)
            np.testing.assert_array_equal(rule.relevance(layer, x, R, out=y), got)


@pytest.mark.parametrize("kernel, padding, size", TILINGS, ids=IDS)
def test_proportional_conserves_for_positive_inputs(kernel, padding, size):
    rng = np.random.default_rng(75)
    layer = MaxPool2d(kernel, padding=padding)
    x = 0.1 + rng.random((2, 3) + size)        # every window sum > 0 (zero padding adds nothing)
    R = rng.normal(size=layer.forward(x).shape)
    got = layer.relevance(x, R, Proportional())
    np.testing.assert_allclose(got.sum(axis=(1, 2, 3)), R.sum(axis=(1, 2, 3)), rtol=1e-12)


# ----------------------------------------------------------------- dtypes

@pytest.mark.parametrize("kernel, padding, size", TILINGS[:5], ids=IDS[:5])
def test_float32_in_float32_out(kernel, padding, size):
    rng = np.random.default_rng(76)
    x64 = 0.5 + rng.random((2, 3) + size)
    x32 = x64.astype(np.float32)
    for layer in (MaxPool2d(kernel, padding=padding), SumPool2d(kernel, padding=padding),
                  AvgPool2d(kernel, padding=padding), LpPool2d(2, kernel, padding=padding)):
        y32, y64 = layer.forward(x32), layer.forward(x64)
        assert y32.dtype == np.float32
        np.testing.assert_allclose(y32, y64, rtol=1e-5)
        R64 = rng.random(y64.shape)
        R32 = R64.astype(np.float32)
        g = layer.backward(x32, R32)
        assert g.dtype == np.float32
        rules = [Proportional()] + ([WinnerTakeAll(), WinnerTakeAll("first")] if isinstance(layer, MaxPool2d) else [])
        for rule in rules:
            r32 = layer.relevance(x32, R32, rule)
            assert r32.dtype == np.float32, (layer, rule)
            assert rule.relevance(layer, x32, R32, out=y32).dtype == np.float32
            np.testing.assert_allclose(r32, layer.relevance(x64, R64, rule), rtol=1e-5, atol=1e-6)


def test_mixed_dtypes_as_the_general_path():
    # float32 input with float64 relevance: the same result dtype on both paths
    rng = np.random.default_rng(77)
    layer = MaxPool2d(2, padding=1)
    x = rng.random((2, 2, 5, 5)).astype(np.float32)
    R = rng.random(layer.forward(x).shape)
    for rule in (WinnerTakeAll(), WinnerTakeAll("first"), Proportional()):
        got, ref = rule.relevance(layer, x, R), rule.relevance(general(layer), x, R)
        assert got.dtype == ref.dtype, rule
        np.testing.assert_allclose(got, ref, rtol=1e-6)


# ----------------------------------------------------------------- geometry

@pytest.mark.parametrize("kernel, padding, size", TILINGS, ids=IDS)
def test_new_tiled_view_writes_into_the_result(kernel, padding, size):
    layer = MaxPool2d(kernel, padding=padding)
    x_shape = (2, 3) + size
    out, tiles = layer._new_tiled(x_shape, np.float64)
    assert out.shape == x_shape and np.shares_memory(out, tiles)
    tiles[...] = 1.0
    # each input position in a window is 1, the cropped ones 0: the gradient of sum pooling of ones
    ones = SumPool2d(kernel, padding=padding)
    expect = general(ones).backward(np.zeros(x_shape), np.ones(ones.output_shape(x_shape)))
    np.testing.assert_array_equal(out, expect)


def test_padded_pools_take_the_tile_path_only_with_symmetric_pads():
    rng = np.random.default_rng(78)
    x = tied(rng, (2, 2, 5, 7))
    sym = [PaddedMaxPool2d(2, 2, pads=(1, 1, 1, 1)), PaddedAvgPool2d(2, 2, pads=(1, 0, 1, 0), count_include_pad=False)]
    for layer in sym:
        assert layer._tiles_input()
        R = rng.normal(size=layer.forward(x).shape)
        np.testing.assert_allclose(layer.forward(x), general(layer).forward(x), **CLOSE)
        np.testing.assert_allclose(layer.backward(x, R), general(layer).backward(x, R), **CLOSE)
        np.testing.assert_allclose(layer.relevance(x, R, Proportional()),
                                   Proportional().relevance(general(layer), x, R), **CLOSE)
    assert not PaddedMaxPool2d(2, 2, pads=(0, 0, 1, 1))._tiles_input()
    assert not MaxPool2d(2, stride=1)._tiles_input()


# ----------------------------------------------------------------- property

@st.composite
def tiling_cases(draw):
    kH, kW = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    pH, pW = draw(st.integers(0, kH - 1)), draw(st.integers(0, kW - 1))
    H = draw(st.integers(max(1, kH - 2 * pH), 8))
    W = draw(st.integers(max(1, kW - 2 * pW), 8))
    N, C = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    integers = draw(st.booleans())
    return (kH, kW), (pH, pW), (N, C, H, W), seed, integers


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tiling_cases())
def test_property_tile_path_equals_general_path(case):
    kernel, padding, shape, seed, integers = case
    rng = np.random.default_rng(seed)
    x = tied(rng, shape) if integers else rng.normal(size=shape)
    maxpool, sumpool = MaxPool2d(kernel, padding=padding), SumPool2d(kernel, padding=padding)
    y = maxpool.forward(x)
    R = rng.normal(size=y.shape)
    np.testing.assert_array_equal(y, general(maxpool).forward(x))
    np.testing.assert_allclose(sumpool.forward(x), general(sumpool).forward(x), **CLOSE)
    np.testing.assert_array_equal(sumpool.backward(x, R), general(sumpool).backward(x, R))
    for rule in (WinnerTakeAll(), WinnerTakeAll("first")):
        got = rule.relevance(maxpool, x, R, out=y)
        np.testing.assert_allclose(got, rule.relevance(general(maxpool), x, R), **EXACT)
        np.testing.assert_allclose(got.sum(), R.sum(), rtol=1e-12, atol=1e-12)
    got = Proportional().relevance(maxpool, x, R)
    np.testing.assert_allclose(got, Proportional().relevance(general(maxpool), x, R),
                               rtol=1e-12, atol=1e-12 * max(1.0, np.abs(got).max()))


def test_spread_to_winners_rejects_unknown_ties():
    x = np.zeros((1, 1, 2, 2))
    for layer in (MaxPool2d(2), MaxPool2d(2, stride=1)):
        with pytest.raises(ValueError, match="ties must be 'split' or 'first', got 'last'"):
            layer.spread_to_winners(x, np.ones(layer.output_shape(x.shape)), ties="last")


def test_gradient_ties_first_by_hand():
    """``gradient(..., ties="first")`` sends a tied window's gradient to its first maximum (row-major), as
    TensorFlow and PyTorch do; the default shares it.  One 2x2 window with maxima at (0, 1) and (1, 0)."""
    from dtd import Graph, Sequential
    from dtd.graph import Node
    from dtd.layers import Dense, Flatten, MaxPool2d
    net = Sequential([MaxPool2d(2), Flatten(), Dense([[3.0]])])
    x = np.array([[[[1.0, 2.0], [2.0, 0.0]]]])
    assert net.gradient(x, 0)[0].tolist() == [[[[0.0, 1.5], [1.5, 0.0]]]]
    assert net.gradient(x, 0, ties="first")[0].tolist() == [[[[0.0, 3.0], [0.0, 0.0]]]]
    g = Graph([Node("p", MaxPool2d(2), ["input"]), Node("f", Flatten(), ["p"]), Node("d", Dense([[3.0]]), ["f"])])
    assert g.gradient(x, 0, ties="first")[0].tolist() == [[[[0.0, 3.0], [0.0, 0.0]]]]
    with pytest.raises(ValueError, match="ties"):
        net.gradient(x, 0, ties="last")
