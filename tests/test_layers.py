"""Layers against independent references.

* Conv2d forward against ``scipy.signal.correlate`` summed over input channels.
* A naive Conv2d (loops over output positions, kept here) against the im2col one:
  forward, backward and parameter gradients.
* Pooling forwards against naive loops.
* Every layer's ``backward`` and the parameter gradients of Dense and Conv2d
  against central finite differences of the layer's own forward.
* Max pooling ties: the winner share is split equally.
* float32 in gives float32 out (forward, backward, relevance with every applicable rule).

Tolerances (float64):

* exact rearrangements of the same sums (naive loops, scipy): rtol 1e-12, atol 1e-12;
* finite differences use central differences with step ``h = 1e-6`` on inputs of
  order 1: the truncation error is ``h^2/6 |f'''| ~ 1e-13`` and the rounding error
  ``~ 1e-16 |L| / h ~ 1e-9`` (|L| <~ 1e1), so the check is ``atol 1e-7`` + ``rtol 1e-6``;
  a wrong gradient is off by O(1).  Inputs of ReLU and max pooling are kept at
  least 1e-2 from their kinks (zero, ties) so that ``x +- h`` stays on one side.
* float32 against float64 results: forward/backward rtol 1e-5 (float32 epsilon
  6e-8 times sums of at most a few dozen terms), relevance rtol 1e-4 with an
  absolute floor of 1e-5 times the largest relevance (the rules divide by sums
  that may partly cancel).
"""
import itertools

import numpy as np
import pytest
from scipy import signal

from dtd.layers import LRN, AvgPool2d, Conv2d, Dense, Flatten, LpPool2d, MaxPool2d, ReLU, SumPool2d
from dtd.network import Sequential
from dtd import composites
from dtd.rules import (AlphaBeta, Epsilon, Flat, Gamma, LRNIdentity, LRNTaylor, PassThrough, Proportional,
                       WinnerTakeAll, WSquare, ZBox, ZPlus)

H_FD = 1e-6
FD_TOL = dict(rtol=1e-6, atol=1e-7)
EXACT = dict(rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------- references

def fd_grad(f, x, G, h=H_FD):
    """Central finite differences of ``L(x) = sum(G * f(x))``, shape of x.

    The layers act on each sample independently, so for each sample all the
    perturbed copies are pushed through ``f`` as one batch.
    """
    out = np.empty_like(x)
    for n in range(x.shape[0]):
        D = x[n].size
        E = (h * np.eye(D)).reshape((D,) + x.shape[1:])
        Lp = (f(x[n] + E) * G[n]).reshape(D, -1).sum(axis=1)
        Lm = (f(x[n] - E) * G[n]).reshape(D, -1).sum(axis=1)
        out[n] = ((Lp - Lm) / (2 * h)).reshape(x.shape[1:])
    return out


def fd_param_grad(make, param, x, G, h=H_FD):
    """Central differences of ``sum(G * make(param).forward(x))`` w.r.t. every entry of ``param``."""
    out = np.empty_like(param)
    for idx in np.ndindex(param.shape):
        p, m = param.copy(), param.copy()
        p[idx] += h
        m[idx] -= h
        out[idx] = (np.sum(G * make(p).forward(x)) - np.sum(G * make(m).forward(x))) / (2 * h)
    return out


class NaiveConv2d:
    """Reference convolution: explicit loops over output positions (no im2col).

    ``padding``: an int, ``(pH, pW)`` or ``(top, left, bottom, right)``.
    """

    def __init__(self, weight, bias, stride, padding):
        self.w, self.b = weight, bias
        self.s = (stride, stride) if np.isscalar(stride) else tuple(stride)
        p = (padding, padding) if np.isscalar(padding) else tuple(padding)
        self.p4 = p + p if len(p) == 2 else p          # (top, left, bottom, right)
        self.p = self.p4[:2]                           # top, left: where the input starts

    def _geometry(self, x):
        N, C, H, W = x.shape
        kH, kW = self.w.shape[2:]
        t, l, b, r = self.p4
        Ho = (H + t + b - kH) // self.s[0] + 1
        Wo = (W + l + r - kW) // self.s[1] + 1
        return Ho, Wo, kH, kW

    def _pad(self, x):
        t, l, b, r = self.p4
        return np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)))

    def _win(self, i, j, kH, kW):
        return (slice(None), slice(None), slice(i * self.s[0], i * self.s[0] + kH),
                slice(j * self.s[1], j * self.s[1] + kW))

    def forward(self, x):
        Ho, Wo, kH, kW = self._geometry(x)
        xp = self._pad(x)
        y = np.empty((x.shape[0], self.w.shape[0], Ho, Wo))
        for i in range(Ho):
            for j in range(Wo):
                y[:, :, i, j] = np.einsum("ncab,ocab->no", xp[self._win(i, j, kH, kW)], self.w) + self.b
        return y

    def backward(self, x, g):
        Ho, Wo, kH, kW = self._geometry(x)
        gp = np.zeros_like(self._pad(x))
        for i in range(Ho):
            for j in range(Wo):
                gp[self._win(i, j, kH, kW)] += np.einsum("no,ocab->ncab", g[:, :, i, j], self.w)
        H, W = x.shape[2:]
        return gp[:, :, self.p[0]:self.p[0] + H, self.p[1]:self.p[1] + W]

    def param_grads(self, x, g):
        Ho, Wo, kH, kW = self._geometry(x)
        xp = self._pad(x)
        dw = np.zeros_like(self.w)
        for i in range(Ho):
            for j in range(Wo):
                dw += np.einsum("no,ncab->ocab", g[:, :, i, j], xp[self._win(i, j, kH, kW)])
        return dw, g.sum(axis=(0, 2, 3))


def pool_loop(x, kernel, stride, padding, reduce, fill=0.0):
    """Reference pooling: ``reduce`` applied to each window, one output position at a time."""
    (kH, kW), (sH, sW), (pH, pW) = kernel, stride, padding
    xp = np.pad(x, ((0, 0), (0, 0), (pH, pH), (pW, pW)), constant_values=fill)
    Ho = (xp.shape[2] - kH) // sH + 1
    Wo = (xp.shape[3] - kW) // sW + 1
    y = np.empty(x.shape[:2] + (Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            win = xp[:, :, i * sH:i * sH + kH, j * sW:j * sW + kW].reshape(x.shape[:2] + (-1,))
            y[:, :, i, j] = reduce(win)
    return y


def maxpool_backward_loop(x, g, kernel, stride, padding):
    """Reference max-pool gradient: each window's g split equally among its maxima."""
    (kH, kW), (sH, sW), (pH, pW) = kernel, stride, padding
    xp = np.pad(x, ((0, 0), (0, 0), (pH, pH), (pW, pW)), constant_values=-np.inf)
    out = np.zeros_like(xp)
    N, C, Ho, Wo = g.shape
    for n, c, i, j in itertools.product(range(N), range(C), range(Ho), range(Wo)):
        win = xp[n, c, i * sH:i * sH + kH, j * sW:j * sW + kW]
        winners = win == win.max()
        out[n, c, i * sH:i * sH + kH, j * sW:j * sW + kW] += g[n, c, i, j] * winners / winners.sum()
    return out[:, :, pH:pH + x.shape[2], pW:pW + x.shape[3]]


def spaced(rng, shape, offset=0.0, step=0.05):
    """Distinct values at least ``step`` apart (in random order): no ties, far from kinks."""
    v = (rng.permutation(int(np.prod(shape))) + 1) * step + offset
    return v.reshape(shape)


# ----------------------------------------------------------------- Conv2d

CONV_CASES = [
    # C_in, C_out, (H, W), (kH, kW), stride, padding
    (1, 1, (5, 5), (3, 3), 1, 0),
    (2, 3, (6, 7), (2, 3), 1, 1),
    (3, 2, (7, 6), (3, 2), 2, 0),
    (2, 2, (7, 7), (3, 3), 2, 1),
    (2, 3, (8, 5), (1, 2), (2, 1), (1, 0)),
    (1, 2, (5, 6), (4, 1), (1, 3), (0, 2)),
    (3, 1, (4, 4), (4, 4), 1, 0),
    # asymmetric padding (top, left, bottom, right): TensorFlow SAME with stride 2, and others
    (2, 3, (7, 7), (3, 3), 2, (0, 0, 1, 1)),
    (2, 2, (6, 5), (3, 2), (1, 2), (2, 0, 1, 3)),
    (1, 2, (5, 6), (2, 3), 1, (0, 1, 1, 0)),
]


def _conv(rng, C_in, C_out, size, kernel, stride, padding, N=2):
    w = rng.normal(size=(C_out, C_in) + kernel)
    b = rng.normal(size=C_out)
    x = rng.normal(size=(N, C_in) + size)
    return Conv2d(w, b, stride, padding), NaiveConv2d(w, b, stride, padding), x


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_forward_equals_scipy_correlate(case):
    rng = np.random.default_rng(10)
    layer, _, x = _conv(rng, *case)
    sH, sW = layer.stride
    t, l, b, r = layer.pads
    xp = np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)))
    ref = np.stack([
        np.stack([
            sum(signal.correlate(xp[n, c], layer.weight[o, c], mode="valid", method="direct")
                for c in range(x.shape[1]))[::sH, ::sW] + layer.bias[o]
            for o in range(layer.weight.shape[0])])
        for n in range(x.shape[0])])
    y = layer.forward(x)
    assert y.shape == ref.shape == layer.output_shape(x.shape)
    np.testing.assert_allclose(y, ref, **EXACT)


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_equals_naive_loop(case):
    rng = np.random.default_rng(11)
    layer, naive, x = _conv(rng, *case)
    y = layer.forward(x)
    np.testing.assert_allclose(y, naive.forward(x), **EXACT)
    g = rng.normal(size=y.shape)
    np.testing.assert_allclose(layer.backward(x, g), naive.backward(x, g), **EXACT)
    for got, ref in zip(layer.param_grads(x, g), naive.param_grads(x, g)):
        np.testing.assert_allclose(got, ref, **EXACT)


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_gradients_equal_finite_differences(case):
    rng = np.random.default_rng(12)
    layer, _, x = _conv(rng, *case)
    G = rng.normal(size=layer.forward(x).shape)
    np.testing.assert_allclose(layer.backward(x, G), fd_grad(layer.forward, x, G), **FD_TOL)
    dw, db = layer.param_grads(x, G)
    s, p = layer.stride, layer.padding
    np.testing.assert_allclose(dw, fd_param_grad(lambda w: Conv2d(w, layer.bias, s, p), layer.weight, x, G), **FD_TOL)
    np.testing.assert_allclose(db, fd_param_grad(lambda b: Conv2d(layer.weight, b, s, p), layer.bias, x, G), **FD_TOL)


# ----------------------------------------------------------------- Dense

def test_dense_forward_and_gradients():
    rng = np.random.default_rng(13)
    w, b = rng.normal(size=(4, 6)), rng.normal(size=4)
    layer = Dense(w, b)
    x = rng.normal(size=(3, 6))
    y = layer.forward(x)
    ref = np.array([[sum(w[o, i] * x[n, i] for i in range(6)) + b[o] for o in range(4)] for n in range(3)])
    np.testing.assert_allclose(y, ref, **EXACT)
    G = rng.normal(size=y.shape)
    np.testing.assert_allclose(layer.backward(x, G), fd_grad(layer.forward, x, G), **FD_TOL)
    dw, db = layer.param_grads(x, G)
    np.testing.assert_allclose(dw, fd_param_grad(lambda v: Dense(v, b), w, x, G), **FD_TOL)
    np.testing.assert_allclose(db, fd_param_grad(lambda v: Dense(w, v), b, x, G), **FD_TOL)


def test_dense_default_bias_is_zero():
    layer = Dense(np.ones((2, 3)))
    np.testing.assert_array_equal(layer.forward(np.ones((1, 3))), [[3.0, 3.0]])


# ----------------------------------------------------------------- pooling forwards

POOL_GEOMETRIES = [
    # kernel, stride, padding, input (H, W)
    ((2, 2), (2, 2), (0, 0), (6, 6)),
    ((3, 3), (1, 1), (0, 0), (5, 6)),
    ((3, 2), (2, 1), (1, 0), (7, 5)),
    ((2, 3), (1, 2), (1, 1), (5, 7)),
    ((3, 3), (2, 2), (1, 1), (6, 6)),
]


@pytest.mark.parametrize("geom", POOL_GEOMETRIES)
def test_pool_forwards_equal_loops(geom):
    kernel, stride, padding, size = geom
    rng = np.random.default_rng(14)
    x = rng.normal(size=(2, 3) + size)
    k = kernel[0] * kernel[1]
    cases = [
        (SumPool2d(kernel, stride, padding), lambda w: w.sum(-1), 0.0),
        (AvgPool2d(kernel, stride, padding), lambda w: w.sum(-1) / k, 0.0),      # zero padding counted
        (MaxPool2d(kernel, stride, padding), lambda w: w.max(-1), -np.inf),      # padding never wins
        (LpPool2d(2, kernel, stride, padding), lambda w: np.sqrt((w ** 2).sum(-1)), 0.0),
        (LpPool2d(3, kernel, stride, padding), lambda w: (np.abs(w) ** 3).sum(-1) ** (1 / 3), 0.0),
        (LpPool2d(1.5, kernel, stride, padding), lambda w: (np.abs(w) ** 1.5).sum(-1) ** (1 / 1.5), 0.0),
    ]
    for layer, reduce, fill in cases:
        y = layer.forward(x)
        assert y.shape == layer.output_shape(x.shape)
        np.testing.assert_allclose(y, pool_loop(x, kernel, stride, padding, reduce, fill), **EXACT,
                                   err_msg=repr(layer))


def test_maxpool_padding_is_minus_infinity():
    # all inputs negative: a zero padding would win at the border; -inf padding never does
    x = -1.0 - np.arange(16.0).reshape(1, 1, 4, 4)
    y = MaxPool2d(3, stride=1, padding=1).forward(x)
    np.testing.assert_array_equal(y, pool_loop(x, (3, 3), (1, 1), (1, 1), lambda w: w.max(-1), -np.inf))
    assert y.max() == -1.0


def test_pool_stride_defaults_to_kernel():
    for cls in (SumPool2d, AvgPool2d, MaxPool2d):
        assert cls((2, 3)).stride == (2, 3)
    assert LpPool2d(2, 3).stride == (3, 3)


# ----------------------------------------------------------------- max pooling ties

def test_maxpool_tie_split_by_hand():
    x = np.array([[[[1.0, 3.0], [3.0, 0.0]]]])
    layer = MaxPool2d(2)
    g = np.array([[[[4.0]]]])
    expect = [[[[0.0, 2.0], [2.0, 0.0]]]]
    np.testing.assert_array_equal(layer.backward(x, g), expect)
    np.testing.assert_array_equal(layer.relevance(x, g, WinnerTakeAll()), expect)
    np.testing.assert_array_equal(layer.relevance(x, g), expect)   # WinnerTakeAll is the default
    # a constant window: four-way split
    np.testing.assert_array_equal(layer.backward(np.full((1, 1, 2, 2), 5.0), g), np.ones((1, 1, 2, 2)))


@pytest.mark.parametrize("kernel, stride, padding", [((2, 2), (2, 2), (0, 0)), ((3, 3), (1, 1), (1, 1)),
                                                     ((2, 3), (1, 2), (1, 0))])
def test_maxpool_ties_equal_loop(kernel, stride, padding):
    # small integers: many ties, including between overlapping windows
    rng = np.random.default_rng(15)
    x = rng.integers(0, 3, size=(2, 2, 6, 6)).astype(np.float64)
    layer = MaxPool2d(kernel, stride, padding)
    g = rng.normal(size=layer.forward(x).shape)
    ref = maxpool_backward_loop(x, g, kernel, stride, padding)
    np.testing.assert_allclose(layer.backward(x, g), ref, **EXACT)
    np.testing.assert_allclose(layer.relevance(x, g, WinnerTakeAll()), ref, **EXACT)
    # every window sends all of its g, whatever the ties
    np.testing.assert_allclose(layer.backward(x, g).sum(), g.sum(), rtol=1e-12)
    share = layer.winner_share(x)
    np.testing.assert_allclose(share.sum(axis=(-2, -1)), 1.0, rtol=1e-15)


# ----------------------------------------------------------------- backward = finite differences

def _backward_cases():
    rng = np.random.default_rng(16)
    away = lambda shape: rng.choice([-1.0, 1.0], size=shape) * (0.1 + rng.random(shape))  # noqa: E731
    cases = [
        ("Dense", Dense(rng.normal(size=(3, 5)), rng.normal(size=3)), rng.normal(size=(2, 5))),
        ("ReLU", ReLU(), away((2, 3, 4, 4))),
        ("ReLU-2d", ReLU(), away((3, 7))),
        ("Flatten", Flatten(), rng.normal(size=(2, 2, 3, 4))),
    ]
    for C_in, C_out, size, kernel, stride, padding in [(2, 3, (6, 6), (3, 3), 1, 0), (2, 3, (6, 6), (3, 3), 1, 1),
                                                       (2, 2, (7, 6), (3, 2), 2, 0), (2, 2, (7, 6), (2, 3), 2, 1)]:
        layer = Conv2d(rng.normal(size=(C_out, C_in) + kernel), rng.normal(size=C_out), stride, padding)
        cases.append((f"Conv2d-s{stride}-p{padding}", layer, rng.normal(size=(2, C_in) + size)))
    for kernel, stride, padding, size in POOL_GEOMETRIES:
        tag = f"k{kernel}-s{stride}-p{padding}"
        cases += [
            (f"SumPool2d-{tag}", SumPool2d(kernel, stride, padding), rng.normal(size=(2, 2) + size)),
            (f"AvgPool2d-{tag}", AvgPool2d(kernel, stride, padding), rng.normal(size=(2, 2) + size)),
            # distinct values 0.05 apart (no ties within h), all negative so padding matters
            (f"MaxPool2d-{tag}", MaxPool2d(kernel, stride, padding), spaced(rng, (2, 2) + size, offset=-20.0)),
            (f"LpPool2d-p2-{tag}", LpPool2d(2, kernel, stride, padding), away((2, 2) + size)),
            (f"LpPool2d-p3-{tag}", LpPool2d(3, kernel, stride, padding), away((2, 2) + size)),
        ]
    for size, window in itertools.product((1, 2, 3, 4, 5), ("onnx", "pytorch")):
        cases.append((f"LRN-n{size}-{window}", LRN(size, alpha=0.5, beta=0.75, k=1.5, window=window),
                      rng.normal(size=(2, 5, 2, 3))))
    cases.append(("LRN-2d", LRN(3, alpha=1.0, beta=0.6, k=2.0), rng.normal(size=(3, 6))))
    return cases


BACKWARD_CASES = _backward_cases()


@pytest.mark.parametrize("name, layer, x", BACKWARD_CASES, ids=[c[0] for c in BACKWARD_CASES])
def test_backward_equals_finite_differences(name, layer, x):
    rng = np.random.default_rng(17)
    G = rng.normal(size=layer.forward(x).shape)
    got = layer.backward(x, G)
    assert got.shape == x.shape and got.dtype == np.float64
    np.testing.assert_allclose(got, fd_grad(layer.forward, x, G), **FD_TOL)


def test_maxpool_fd_cases_have_no_ties_within_step():
    # guard for the test above: the max of each window is unique by a margin >> H_FD
    for name, layer, x in BACKWARD_CASES:
        if isinstance(layer, MaxPool2d):
            w = np.sort(layer._windows(x, -np.inf).reshape(layer.output_shape(x.shape) + (-1,)), axis=-1)
            assert np.all(w[..., -1] - w[..., -2] >= 0.04), name


# ----------------------------------------------------------------- float32 in, float32 out

LINEAR_RULES = [Epsilon(0.0), Epsilon(0.1), Gamma(0.25), AlphaBeta(1, 0), AlphaBeta(2, 1), ZPlus(), WSquare(),
                ZBox(-3.0, 3.0), Flat()]


def _dtype_cases():
    rng = np.random.default_rng(18)
    x4 = 0.5 + rng.random((2, 3, 6, 6))          # positive: denominators of the relevance rules stay away from 0
    return [
        (Dense(rng.normal(size=(4, 5)), -rng.random(4)), 0.5 + rng.random((2, 5)), LINEAR_RULES),
        (Conv2d(rng.normal(size=(2, 3, 3, 2)), -rng.random(2), 2, 1), x4, LINEAR_RULES),
        (Conv2d(rng.normal(size=(2, 3, 2, 2)), -rng.random(2)), x4, LINEAR_RULES),
        (SumPool2d(2), x4, LINEAR_RULES + [Proportional()]),
        (AvgPool2d(3, 1, 1), x4, LINEAR_RULES + [Proportional()]),
        (MaxPool2d(2), x4, [WinnerTakeAll(), Proportional()]),
        (MaxPool2d(3, 2, 1), x4, [WinnerTakeAll(), Proportional()]),
        (LpPool2d(2, 2), x4, [Proportional()]),
        (LpPool2d(3, (2, 3), 1), x4, [Proportional()]),
        (LRN(3, alpha=0.5, beta=0.75, k=1.0), x4, [LRNIdentity(), LRNTaylor()]),
        (LRN(4, window="pytorch"), x4, [LRNIdentity(), LRNTaylor(0.0)]),
        (ReLU(), x4 - 1.0, [PassThrough()]),
        (Flatten(), x4, [PassThrough()]),
    ]


DTYPE_CASES = _dtype_cases()


@pytest.mark.parametrize("layer, x, rules", DTYPE_CASES, ids=[repr(c[0]) for c in DTYPE_CASES])
def test_float32_in_float32_out(layer, x, rules):
    rng = np.random.default_rng(19)
    x32 = x.astype(np.float32)
    y64, y32 = layer.forward(x), layer.forward(x32)
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, y64, rtol=1e-5, atol=1e-6)
    g = rng.normal(size=y64.shape)
    g32 = layer.backward(x32, g.astype(np.float32))
    assert g32.dtype == np.float32
    np.testing.assert_allclose(g32, layer.backward(x, g), rtol=1e-5, atol=1e-5)
    R = np.abs(y64)        # a relevance that, like f(x), has the sign of the output
    for rule in rules:
        r64 = layer.relevance(x, R, rule)
        r32 = layer.relevance(x32, R.astype(np.float32), rule)
        assert r32.dtype == np.float32, rule
        assert r32.shape == x.shape
        np.testing.assert_allclose(r32, r64, rtol=1e-4, atol=1e-5 * np.abs(r64).max(), err_msg=repr(rule))
    # the default rule as well
    assert layer.relevance(x32, R.astype(np.float32)).dtype == np.float32


def test_float32_network_explain():
    rng = np.random.default_rng(20)
    net = Sequential([Conv2d(rng.normal(size=(3, 2, 3, 3)), -0.1 * rng.random(3), 1, 1), ReLU(),
                      MaxPool2d(2), LRN(3), Conv2d(rng.normal(size=(2, 3, 2, 2)), -0.1 * rng.random(2)), ReLU(),
                      AvgPool2d(2, 1), LpPool2d(2, 1), Flatten(), Dense(rng.normal(size=(3, 2)))])
    x = rng.random((2, 2, 6, 6))
    for rules in (composites.get("dtd", low=0.0, high=1.0), composites.get("lrp-composition", low=0.0, high=1.0),
                  composites.get("epsilon-gamma-box", low=0.0, high=1.0), Epsilon(0.01), ZPlus()):
        Rs = net.explain(x.astype(np.float32), rules, return_all=True)
        assert all(R.dtype == np.float32 for R in Rs), rules
        np.testing.assert_allclose(Rs[0], net.explain(x, rules), rtol=1e-3, atol=1e-4 * np.abs(Rs[0]).max())
    g, _ = net.gradient(x.astype(np.float32))
    assert g.dtype == np.float32
    assert net.forward(x.astype(np.float32)).dtype == np.float32
