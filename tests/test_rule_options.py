"""The options added to the rules to reproduce other backends' conventions (docs/backends.md).

- ``Gamma(bias=..., generalized=...)``, ``ZPlus(bias=...)``, ``WSquare(bias=...)``:
  the fast path equals the closed form over the explicit matrix (rtol 1e-10:
  both sum the same products in another order), and hand-computed numbers.
- ``WinnerTakeAll(ties="first")`` against a plain loop over windows.
"""
import zlib

import numpy as np
import pytest

from dtd.layers import Conv2d, Dense, MaxPool2d
from dtd.rules import Gamma, WinnerTakeAll, WSquare, ZPlus

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
])
def test_bad_options(make, message):
    with pytest.raises(ValueError, match=message):
        make()
