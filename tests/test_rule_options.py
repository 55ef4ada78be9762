"""The options added to the rules to reproduce other backends' conventions (docs/backends.md).

- ``Gamma(bias=..., generalized=...)``, ``ZPlus(bias=...)``, ``WSquare(bias=...)``:
  the fast path equals the closed form over the explicit matrix (rtol 1e-10:
  both sum the same products in another order), and hand-computed numbers.
- ``WinnerTakeAll(ties="first")`` against a plain loop over windows.
- ``AlphaBeta(bias="whole"|"none")`` (iNNvestigate's whole bias in both parts, and its ``_IB`` rules):
  fast path = closed form, and the formula written out with NumPy and by hand (rtol 1e-14).
- ``GradientPass`` on a ReLU: ``R * 1[x > 0]`` exactly (iNNvestigate's separate ReLU layers).
"""
import zlib

import numpy as np
import pytest

from dtd.layers import Conv2d, Dense, MaxPool2d
from dtd.layers import Flatten, ReLU
from dtd.rules import AlphaBeta, Gamma, GradientPass, WinnerTakeAll, WSquare, ZPlus

from _matrices import dense_matrix

OPTION_RULES = {
    "gamma-plain": Gamma(0.5, bias="plain"),
    "gamma-none": Gamma(0.5, bias="none"),
    "gamma-generalized": Gamma(0.5, generalized=True),
    "gamma-generalized-plain-eps": Gamma(0.25, epsilon=0.01, bias="plain", generalized=True),
    "gamma-generalized-none": Gamma(0.25, bias="none", generalized=True),
    "zplus-positive": ZPlus(bias="positive"),
    "zplus-plain": ZPlus(bias="plain"),
    "zplus-positive-eps": ZPlus(epsilon=0.1, bias="positive"),
    "wsquare-square": WSquare(bias="square"),
    "wsquare-square-eps": WSquare(epsilon=0.1, bias="square"),
    "alphabeta-whole": AlphaBeta(2, 1, bias="whole"),
    "alphabeta-whole-eps": AlphaBeta(3, 2, epsilon=0.1, bias="whole"),
    "alpha1beta0-whole": AlphaBeta(1, 0, bias="whole"),
    "alphabeta-none": AlphaBeta(2, 1, bias="none"),
}

LAYERS = {
    "dense": (lambda rng: Dense(rng.normal(size=(5, 7)), rng.normal(size=5)), (7,)),
    "conv-s2-p1": (lambda rng: Conv2d(rng.normal(size=(3, 2, 3, 3)), rng.normal(size=3), stride=2, padding=1),
                   (2, 5, 5)),
}


@pytest.mark.parametrize("kind", ["signed", "positive"])
@pytest.mark.parametrize("layer_name", list(LAYERS))
@pytest.mark.parametrize("rule_name", list(OPTION_RULES))
def test_fast_path_equals_closed_form(rule_name, layer_name, kind):
    rng = np.random.default_rng(zlib.crc32(f"{rule_name}/{layer_name}/{kind}".encode()))
    make, shape = LAYERS[layer_name]
    layer = make(rng)
    x = rng.normal(size=(3,) + shape)
    if kind == "positive":
        x = np.maximum(x, 0)
    y = layer.forward(x)
    R = rng.normal(size=y.shape)
    W, b, connected = dense_matrix(layer, shape)
    rule = OPTION_RULES[rule_name]
    fast = layer.relevance(x, R, rule).reshape(3, -1)
    ref = rule.explicit(W, b, x.reshape(3, -1), R.reshape(3, -1), connected=connected)
    np.testing.assert_allclose(fast, ref, rtol=1e-10, atol=1e-12)


def test_options_by_hand():
    W = np.array([[1.0, -2.0], [3.0, 1.0]])      # (out, in)
    b = np.array([0.5, -1.0])
    x = np.array([[2.0, 1.0]])
    R = np.array([[1.0, 2.0]])
    layer = Dense(W, b)
    # z+ with b+: neuron 0: z+ = [2, 0] + 0.5; neuron 1: [6, 1] + 0
    zp_pos = [2 / 2.5 * 1 + 6 / 7 * 2, 1 / 7 * 2]
    # z+ with b: neuron 1 denominator 7 - 1 = 6
    zp_plain = [2 / 2.5 * 1 + 6 / 6 * 2, 1 / 6 * 2]
    # w^2 with b^2: neuron 0: [1, 4] / (5 + 0.25); neuron 1: [9, 1] / (10 + 1)
    ws = [1 / 5.25 * 1 + 9 / 11 * 2, 4 / 5.25 * 1 + 1 / 11 * 2]
    # gamma 1 with plain b: w + w+ = [[2, -2], [6, 2]]; z = [4 - 2 + 0.5, 12 + 2 - 1] = [2.5, 13]
    gp = [4 / 2.5 * 1 + 12 / 13 * 2, -2 / 2.5 * 1 + 2 / 13 * 2]
    # gamma 1 without bias: z = [2, 14]
    gn = [4 / 2 * 1 + 12 / 14 * 2, -2 / 2 * 1 + 2 / 14 * 2]
    for rule, ref in [(ZPlus(bias="positive"), zp_pos), (ZPlus(bias="plain"), zp_plain),
                      (WSquare(bias="square"), ws), (Gamma(1.0, bias="plain"), gp), (Gamma(1.0, bias="none"), gn)]:
        np.testing.assert_allclose(rule.explicit(W, b, x, R), [ref], rtol=1e-14, err_msg=repr(rule))
        np.testing.assert_allclose(layer.relevance(x, R, rule), [ref], rtol=1e-14, err_msg=repr(rule))


def test_generalized_gamma_by_hand():
    """Signed inputs and a neuron with z < 0: the negative contributions are boosted there."""
    W = np.array([[1.0, -1.0], [-2.0, 1.0]])
    b = np.array([0.5, -0.5])
    x = np.array([[2.0, -1.0]])                  # z = [2 + 1 + 0.5, -4 - 1 - 0.5] = [3.5, -5.5]
    R = np.array([[1.0, 2.0]])
    g = 1.0
    # neuron 0 (z > 0): x+ (w + w+) + x- (w + w-): [2 * 2, -1 * (-2)] = [4, 2]; bias b + b+ = 1
    # neuron 1 (z < 0): x+ (w + w-) + x- (w + w+): [2 * -4, -1 * 2] = [-8, -2]; bias b + b- = -1
    ref = [4 / 7 * 1 + -8 / -11 * 2, 2 / 7 * 1 + -2 / -11 * 2]
    rule = Gamma(g, generalized=True)
    np.testing.assert_allclose(rule.explicit(W, b, x, R), [ref], rtol=1e-14)
    np.testing.assert_allclose(Dense(W, b).relevance(x, R, rule), [ref], rtol=1e-14)
    # a neuron with z = 0 sends nothing
    x0 = np.array([[1.0, 1.5]])                  # z_0 = 1 - 1.5 + 0.5 = 0
    out = Dense(W, b).relevance(x0, np.array([[1.0, 0.0]]), rule)
    np.testing.assert_array_equal(out, [[0.0, 0.0]])
    # for x >= 0 and z > 0 it is the ordinary gamma rule
    xp = np.array([[2.0, 0.5]])
    np.testing.assert_allclose(Dense(W[:1], b[:1]).relevance(xp, np.array([[1.0]]), rule),
                               Dense(W[:1], b[:1]).relevance(xp, np.array([[1.0]]), Gamma(g)), rtol=1e-14)


def _first_winner_loop(x, R, k, s, p):
    """Reference: each window sends R_j to its first maximum in row-major order (as PyTorch's max pooling)."""
    N, C, H, W = x.shape
    xp = np.full((N, C, H + 2 * p, W + 2 * p), -np.inf)
    xp[:, :, p:p + H, p:p + W] = x
    out = np.zeros_like(xp)
    for n in range(N):
        for c in range(C):
            for i in range(R.shape[2]):
                for j in range(R.shape[3]):
                    win = xp[n, c, i * s:i * s + k, j * s:j * s + k]
                    a, bb = np.unravel_index(np.argmax(win), win.shape)
                    out[n, c, i * s + a, j * s + bb] += R[n, c, i, j]
    return out[:, :, p:p + H, p:p + W]


@pytest.mark.parametrize("k, s, p", [(2, 2, 0), (3, 1, 1), (2, 1, 0)])
def test_winner_take_all_first(k, s, p):
    rng = np.random.default_rng(k * 100 + s * 10 + p)
    x = rng.integers(0, 3, size=(2, 2, 5, 5)).astype(np.float64)    # many ties
    layer = MaxPool2d(k, stride=s, padding=p)
    R = rng.normal(size=layer.forward(x).shape)
    out = layer.relevance(x, R, WinnerTakeAll(ties="first"))
    np.testing.assert_allclose(out, _first_winner_loop(x, R, k, s, p), rtol=1e-14, atol=1e-14)
    # conservative, and equal to the default wherever a window has a single maximum
    np.testing.assert_allclose(out.sum(axis=(1, 2, 3)), R.sum(axis=(1, 2, 3)), rtol=1e-12)
    xu = rng.permutation(np.arange(x.size, dtype=np.float64)).reshape(x.shape)
    np.testing.assert_allclose(layer.relevance(xu, R, WinnerTakeAll("first")), layer.relevance(xu, R, WinnerTakeAll()),
                               rtol=1e-14)


def test_winner_take_all_first_keeps_float32():
    x = np.array([[[[1.0, 1.0], [0.0, 1.0]]]], dtype=np.float32)
    out = MaxPool2d(2).relevance(x, np.ones((1, 1, 1, 1), np.float32), WinnerTakeAll("first"))
    assert out.dtype == np.float32 and out[0, 0].tolist() == [[1.0, 0.0], [0.0, 0.0]]


@pytest.mark.parametrize("make, message", [
    (lambda: Gamma(bias="positive"), r"Gamma: bias must be one of 'gamma', 'plain', 'none'"),
    (lambda: ZPlus(bias="square"), r"ZPlus: bias must be one of 'none', 'positive', 'plain'"),
    (lambda: WSquare(bias="plain"), r"WSquare: bias must be one of 'none', 'square'"),
    (lambda: WinnerTakeAll(ties="last"), r"WinnerTakeAll: ties must be one of 'split', 'first'"),
    (lambda: AlphaBeta(2, 1, bias="plain"), r"AlphaBeta: bias must be one of 'parts', 'absorb', 'whole', 'none'"),
])
def test_bad_options(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def _alphabeta_whole_numpy(W, b, x, R, alpha, beta, bias):
    """iNNvestigate's AlphaBetaRule written out: z+_ij = max(0, x_i w_ij), denominators sum_i z+_ij + b_j and
    sum_i z-_ij + b_j (bias="whole"), or without b (bias="none"); 0 where a denominator is 0."""
    z = x[:, None, :] * W[None]                  # (N, out, in)
    zp, zn = np.maximum(z, 0), np.minimum(z, 0)
    bb = b if bias == "whole" else 0 * b
    dp, dn = zp.sum(2) + bb, zn.sum(2) + bb
    sp = np.divide(R, dp, out=np.zeros_like(R), where=dp != 0)
    sn = np.divide(R, dn, out=np.zeros_like(R), where=dn != 0)
    return alpha * np.einsum("nji,nj->ni", zp, sp) - beta * np.einsum("nji,nj->ni", zn, sn)


@pytest.mark.parametrize("bias", ["whole", "none"])
@pytest.mark.parametrize("alpha,beta", [(2.0, 1.0), (1.0, 0.0), (3.0, 2.0)])
def test_alphabeta_whole_and_no_bias_against_numpy(alpha, beta, bias):
    rng = np.random.default_rng(15)
    W, b = rng.normal(size=(6, 9)), rng.normal(size=6)
    x, R = rng.normal(size=(4, 9)), rng.normal(size=(4, 6))
    rule = AlphaBeta(alpha, beta, bias=bias)
    ref = _alphabeta_whole_numpy(W, b, x, R, alpha, beta, bias)
    np.testing.assert_allclose(Dense(W, b).relevance(x, R, rule), ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(rule.explicit(W, b, x, R), ref, rtol=1e-12, atol=1e-14)
    if bias == "whole" and beta:
        # b in both parts is not b+ / b- (the default): the two differ on this layer
        assert np.abs(Dense(W, b).relevance(x, R, AlphaBeta(alpha, beta)) - ref).max() > 1e-3


def test_alphabeta_whole_bias_by_hand():
    """One neuron, w = [1, -2], b = 0.5, x = [2, 1], R = 1: z+ = [2, 0], z- = [0, -2];
    alpha 2, beta 1: 2 [2, 0] / (2 + 0.5) - [0, -2] / (-2 + 0.5) = [1.6, -4/3];
    the default (b+ = 0.5 in z+, b- = 0 in z-): 2 [2, 0] / 2.5 - [0, -2] / -2 = [1.6, -1]."""
    layer, x, R = Dense([[1.0, -2.0]], [0.5]), np.array([[2.0, 1.0]]), np.array([[1.0]])
    np.testing.assert_allclose(layer.relevance(x, R, AlphaBeta(2, 1, bias="whole")), [[1.6, -4 / 3]], rtol=1e-15)
    np.testing.assert_allclose(layer.relevance(x, R, AlphaBeta(2, 1)), [[1.6, -1.0]], rtol=1e-15)
    np.testing.assert_allclose(layer.relevance(x, R, AlphaBeta(2, 1, bias="none")), [[2.0, -1.0]], rtol=1e-15)
    assert repr(AlphaBeta(2, 1, bias="whole")) == "AlphaBeta(alpha=2.0, beta=1.0, epsilon=0.0, bias='whole')"
    assert repr(AlphaBeta(2, 1)) == "AlphaBeta(alpha=2.0, beta=1.0, epsilon=0.0)"


def test_gradient_pass_on_relu_closed_form():
    """R_x = R_y 1[x > 0] on a ReLU (0 at x = 0: TensorFlow's ReLU gradient); Flatten: the reshape; float32 kept."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 2, 4, 4))
    x[0, 0, 0, :2] = 0.0
    R = rng.normal(size=x.shape)
    for dtype in (np.float64, np.float32):
        out = GradientPass().relevance(ReLU(), x.astype(dtype), R.astype(dtype))
        assert out.dtype == dtype
        np.testing.assert_array_equal(out, np.where(x > 0, R, 0).astype(dtype))
    np.testing.assert_array_equal(GradientPass().relevance(Flatten(), x, R.reshape(3, -1)), R)
    with pytest.raises(TypeError, match="GradientPass"):
        Dense(np.ones((1, 1))).check_rule(GradientPass())
