"""Item 1 of the core issue: the fast path of every linear rule equals its explicit closed form.

The closed form (``rule.explicit``) is written over the layer's explicit dense
matrix, built by plain loops in ``tests/_matrices.py``; the fast path runs the
layer's own im2col forward and gradient.  float64, rtol 1e-10 (both sides sum
the same products in a different order: the difference is rounding, ~1e-15
relative, far below 1e-10).

The closed forms themselves are checked by hand-computed numbers in the rules'
doctests and below (``test_closed_form_by_hand``).
"""
import zlib

import numpy as np
import pytest

from dtd.layers import AvgPool2d, Conv2d, Dense, GroupedConv2d, SumPool2d
from dtd.rules import AlphaBeta, Epsilon, Flat, Gamma, WSquare, ZBox, ZPlus

from _matrices import dense_matrix

RTOL, ATOL = 1e-10, 1e-12

def _blocked_dense(rng, block_bytes):
    """A Dense layer that rules modifying its weights run in blocks of output rows (Dense.output_blocks)."""
    layer = Dense(rng.normal(size=(5, 7)), rng.normal(size=5))
    layer.block_bytes = block_bytes          # 7 float64 = 56 bytes a row: 16 -> one row a block, 112 -> two
    assert len(layer.output_blocks(layer.weight, layer.bias, True)) > 1
    return layer


LAYERS = {
    "dense": (lambda rng: Dense(rng.normal(size=(5, 7)), rng.normal(size=5)), (7,)),
    "dense-blocks-of-1": (lambda rng: _blocked_dense(rng, 16), (7,)),
    "dense-blocks-of-2": (lambda rng: _blocked_dense(rng, 112), (7,)),
    "conv-s1-p0": (lambda rng: Conv2d(rng.normal(size=(3, 2, 3, 3)), rng.normal(size=3)), (2, 6, 6)),
    "conv-s2-p1": (lambda rng: Conv2d(rng.normal(size=(3, 2, 3, 3)), rng.normal(size=3), stride=2, padding=1),
                   (2, 7, 7)),
    "conv-s1-p1": (lambda rng: Conv2d(rng.normal(size=(4, 2, 3, 3)), rng.normal(size=4), padding=1), (2, 5, 5)),
    "conv-nonsquare": (lambda rng: Conv2d(rng.normal(size=(3, 2, 2, 3)), rng.normal(size=3),
                                          stride=(2, 1), padding=(1, 0)), (2, 6, 7)),
    # grouped convolutions (unrolled block-diagonally by _matrices; more geometries in test_grouped_conv.py)
    "depthwise-s2-p1": (lambda rng: GroupedConv2d(rng.normal(size=(3, 1, 3, 3)), rng.normal(size=3), 2, 1, 3),
                        (3, 6, 7)),
    "grouped-2x2-to-3": (lambda rng: GroupedConv2d(rng.normal(size=(6, 2, 3, 3)), rng.normal(size=6), 1, 1, 2),
                         (4, 5, 5)),
    # padding (top, left, bottom, right) that differs at the two ends of an axis: the padded positions are
    # not inputs of the matrix (no relevance, no share of z^B's / w^2's / flat's denominators)
    "conv-asym-s2-same": (lambda rng: Conv2d(rng.normal(size=(3, 2, 3, 3)), rng.normal(size=3), stride=2,
                                             padding=(0, 0, 1, 1)), (2, 7, 6)),
    "conv-asym-s1": (lambda rng: Conv2d(rng.normal(size=(3, 2, 3, 2)), rng.normal(size=3),
                                        padding=(2, 0, 1, 1)), (2, 5, 5)),
    "depthwise-asym-s2": (lambda rng: GroupedConv2d(rng.normal(size=(3, 1, 3, 3)), rng.normal(size=3), 2,
                                                    (1, 0, 0, 1), 3), (3, 6, 7)),
    "grouped-asym": (lambda rng: GroupedConv2d(rng.normal(size=(6, 2, 3, 3)), rng.normal(size=6), 1,
                                               (0, 2, 1, 0), 2), (4, 5, 5)),
    "sumpool": (lambda rng: SumPool2d(2), (3, 6, 6)),
    "sumpool-overlap": (lambda rng: SumPool2d(3, stride=1, padding=1), (2, 5, 5)),
    "avgpool": (lambda rng: AvgPool2d((2, 3), stride=(2, 1)), (2, 6, 7)),
}


def _rules(input_shape, rng):
    low = -rng.uniform(0.5, 1.5, size=input_shape)
    high = rng.uniform(0.5, 1.5, size=input_shape)
    return {
        "lrp-0": Epsilon(0.0),
        "epsilon": Epsilon(0.1),
        "epsilon-absorb": Epsilon(0.1, bias="absorb"),
        "epsilon-none": Epsilon(0.1, bias="none"),
        "gamma": Gamma(0.25),
        "gamma-stabilised": Gamma(0.5, epsilon=0.01),
        "gamma-generalized": Gamma(0.25, generalized=True),
        "gamma-absorb": Gamma(0.25, bias="absorb"),
        "gamma-none": Gamma(0.25, bias="none"),
        "gamma-generalized-none": Gamma(0.5, bias="none", generalized=True),
        "gamma-generalized-absorb": Gamma(0.5, bias="absorb", generalized=True),
        "alpha1-beta0": AlphaBeta(1, 0),
        "alpha2-beta1": AlphaBeta(2, 1),
        "alpha2-beta1-conserve": AlphaBeta(2, 1, one_sided="conserve"),
        "alpha2-beta1-absorb": AlphaBeta(2, 1, bias="absorb"),
        "alpha2-beta1-conserve-absorb": AlphaBeta(2, 1, one_sided="conserve", bias="absorb"),
        "alpha1-beta0-absorb": AlphaBeta(1, 0, bias="absorb"),
        "alpha2-beta1-conserve-none": AlphaBeta(2, 1, one_sided="conserve", bias="none"),
        "alpha3-beta2-conserve-stabilised": AlphaBeta(3, 2, epsilon=0.01, one_sided="conserve"),
        "zplus": ZPlus(),
        "zplus-signed": ZPlus(signed=True),
        "zplus-signed-positive-bias": ZPlus(bias="positive", signed=True),
        "wsquare": WSquare(),
        "zbox-array": ZBox(low, high),
        "zbox-scalar": ZBox(-1.0, 1.0),
        "flat": Flat(),
    }


def _inputs(kind, shape, rng, n=3):
    x = rng.normal(size=(n,) + shape)
    if kind == "positive":
        x = np.abs(x)
    elif kind == "sparse":  # zero activations, and a sample that is all zero (zero denominators)
        x = np.maximum(x, 0) * (rng.uniform(size=x.shape) < 0.4)
        x[0] = 0.0
    return x


def check_fast_path(layer, shape, kind, rng, rtol, atol, label):
    """Every rule of :func:`_rules` on ``layer``: the fast path against the closed form over the layer's explicit
    matrix (also used by tests/test_grouped_conv.py)."""
    x = _inputs(kind, shape, rng)
    N = x.shape[0]
    y = layer.forward(x)
    R = rng.normal(size=y.shape)
    W, b, connected = dense_matrix(layer, shape)
    # the explicit matrix is the layer
    np.testing.assert_allclose(x.reshape(N, -1) @ W.T + b, y.reshape(N, -1), rtol=1e-12, atol=1e-12)
    for name, rule in _rules(shape, rng).items():
        fast = layer.relevance(x, R, rule).reshape(N, -1)
        if isinstance(rule, ZBox):
            lo, hi = rule.bounds(x)
            rule_flat = ZBox(lo[0].reshape(-1), hi[0].reshape(-1), epsilon=rule.epsilon)
        else:
            rule_flat = rule
        ref = rule_flat.explicit(W, b, x.reshape(N, -1), R.reshape(N, -1), connected=connected)
        np.testing.assert_allclose(fast, ref, rtol=rtol, atol=atol, err_msg=f"{label}/{name}")


@pytest.mark.parametrize("kind", ["signed", "positive", "sparse"])
@pytest.mark.parametrize("layer_name", list(LAYERS))
def test_fast_path_equals_closed_form(layer_name, kind):
    rng = np.random.default_rng(zlib.crc32(f"{layer_name}/{kind}".encode()))
    make, shape = LAYERS[layer_name]
    check_fast_path(make(rng), shape, kind, rng, RTOL, ATOL, f"{layer_name}/{kind}")


def test_closed_form_by_hand():
    """Two inputs, two outputs, every rule's messages computed by hand from the table in DESIGN.md."""
    W = np.array([[1.0, -2.0], [3.0, 1.0]])      # (out, in)
    b = np.array([0.5, -1.0])
    x = np.array([[2.0, 1.0]])
    R = np.array([[1.0, 2.0]])
    # z = x W^T + b = [2 - 2 + 0.5, 6 + 1 - 1] = [0.5, 6]
    # LRP-0: R_i = x_i w_ji / z_j R_j
    lrp0 = [2 * 1 / 0.5 * 1 + 2 * 3 / 6 * 2, 1 * -2 / 0.5 * 1 + 1 * 1 / 6 * 2]
    np.testing.assert_allclose(Epsilon().explicit(W, b, x, R), [lrp0], rtol=1e-14)
    # epsilon 0.5: denominators 0.5 + 0.5 = 1 and 6.5
    eps = [2 * 1 / 1.0 * 1 + 6 / 6.5 * 2, -2 / 1.0 * 1 + 1 / 6.5 * 2]
    np.testing.assert_allclose(Epsilon(0.5).explicit(W, b, x, R), [eps], rtol=1e-14)
    # z+: z+_ij = max(0, x_i w_ji): neuron 0: [2, 0], neuron 1: [6, 1]; bias ignored
    zp = [2 / 2 * 1 + 6 / 7 * 2, 0 + 1 / 7 * 2]
    np.testing.assert_allclose(ZPlus().explicit(W, b, x, R), [zp], rtol=1e-14)
    # alpha2 beta1: neuron 0: z+ = [2, 0] + b+ 0.5 -> 2.5; z- = [0, -2] + b- 0 -> -2
    #               neuron 1: z+ = [6, 1] + 0 -> 7;      z- = [0, 0] + (-1) -> -1
    ab = [2 * (2 / 2.5 * 1 + 6 / 7 * 2) - 1 * (0 + 0),
          2 * (0 + 1 / 7 * 2) - 1 * (-2 / -2 * 1 + 0)]
    np.testing.assert_allclose(AlphaBeta(2, 1).explicit(W, b, x, R), [ab], rtol=1e-14)
    # w^2: neuron 0: [1, 4] / 5; neuron 1: [9, 1] / 10
    ws = [1 / 5 * 1 + 9 / 10 * 2, 4 / 5 * 1 + 1 / 10 * 2]
    np.testing.assert_allclose(WSquare().explicit(W, b, x, R), [ws], rtol=1e-14)
    # gamma 1: w + w+ = [[2, -2], [6, 2]], b + b+ = [1, -1]; z = [4 - 2 + 1, 12 + 2 - 1] = [3, 13]
    gm = [4 / 3 * 1 + 12 / 13 * 2, -2 / 3 * 1 + 2 / 13 * 2]
    np.testing.assert_allclose(Gamma(1.0).explicit(W, b, x, R), [gm], rtol=1e-14)
    # z^B on [-1, 3]: q = x w - l w+ - h w-; neuron 0: [2 + 1, -2 + 6] = [3, 4]; neuron 1: [6 + 3, 1 + 1] = [9, 2]
    zb = [3 / 7 * 1 + 9 / 11 * 2, 4 / 7 * 1 + 2 / 11 * 2]
    np.testing.assert_allclose(ZBox(-1.0, 3.0).explicit(W, b, x, R), [zb], rtol=1e-14)
    # flat: every pair: 1/2 each
    np.testing.assert_allclose(Flat().explicit(W, b, x, R), [[1.5, 1.5]], rtol=1e-14)
    # and the fast path on the Dense layer agrees with each
    layer = Dense(W, b)
    for rule, ref in [(Epsilon(), lrp0), (Epsilon(0.5), eps), (ZPlus(), zp), (AlphaBeta(2, 1), ab),
                      (WSquare(), ws), (Gamma(1.0), gm), (ZBox(-1.0, 3.0), zb), (Flat(), [1.5, 1.5])]:
        np.testing.assert_allclose(layer.relevance(x, R, rule), [ref], rtol=1e-14, err_msg=repr(rule))


def test_signed_zplus_by_hand():
    """z+ for signed outputs: neurons with z < 0 redistribute over their negative contributions."""
    W = np.array([[1.0, -2.0], [-3.0, 1.0]])
    b = np.array([0.5, -1.0])
    x = np.array([[2.0, 1.0]])
    R = np.array([[1.0, -2.0]])
    # z = [2 - 2 + 0.5, -6 + 1 - 1] = [0.5, -6]: neuron 0 by z+ = [2, 0]; neuron 1 by z- = [-6, 0]
    ref = [[2 / 2 * 1 + -6 / -6 * -2, 0.0]]
    np.testing.assert_allclose(ZPlus(signed=True).explicit(W, b, x, R), ref, rtol=1e-14)
    np.testing.assert_allclose(Dense(W, b).relevance(x, R, ZPlus(signed=True)), ref, rtol=1e-14)
    # plain z+ loses neuron 1's relevance (no positive contribution... x_1 w_11 = 1 is positive: it gets all)
    np.testing.assert_allclose(ZPlus().explicit(W, b, x, R), [[1.0, -2.0]], rtol=1e-14)
    # with b^- in the negative denominator (bias="positive"): -6 / (-6 - 1)
    np.testing.assert_allclose(ZPlus(bias="positive", signed=True).explicit(W, b, x, R),
                               [[2 / 2.5 * 1 + 6 / 7 * -2, 0.0]], rtol=1e-14)
    assert ZPlus().for_signed_output() == ZPlus(signed=True)


def test_absorb_by_hand():
    """bias="absorb": the bias first keeps its share of R_j, then the rule runs without a bias.

    The inputs' share is t_j = clip(1 - b_j / z_j, 0, 1) (0 where z_j = 0), z_j the neuron's output."""
    W = np.array([[1.0, -2.0], [3.0, 1.0], [1.0, 1.0]])
    b = np.array([0.5, -1.0, 4.0])
    x = np.array([[2.0, 1.0]])
    R = np.array([[1.0, 2.0, 5.0]])
    # z = [0 + 0.5, 7 - 1, 3 + 4] = [0.5, 6, 7]; t = [1 - 0.5/0.5, 1 + 1/6 -> 1, 1 - 4/7] = [0, 1, 3/7]
    t = np.array([0.0, 1.0, 3 / 7])
    # gamma 1 without a bias: q = x (w + w+) = [[4, -2], [12, 2], [4, 2]], sums [2, 14, 6]
    ref = [[4 / 2 * 0 + 12 / 14 * 2 + 4 / 6 * 5 * t[2], -2 / 2 * 0 + 2 / 14 * 2 + 2 / 6 * 5 * t[2]]]
    np.testing.assert_allclose(Gamma(1.0, bias="absorb").explicit(W, b, x, R), ref, rtol=1e-14)
    np.testing.assert_allclose(Dense(W, b).relevance(x, R, Gamma(1.0, bias="absorb")), ref, rtol=1e-14)
    # epsilon 0: q = x w = [[2, -2], [6, 1], [2, 1]], sums [0, 7, 3]: neuron 0 sends nothing either way
    ref = [[6 / 7 * 2 + 2 / 3 * 5 * t[2], 1 / 7 * 2 + 1 / 3 * 5 * t[2]]]
    np.testing.assert_allclose(Dense(W, b).relevance(x, R, Epsilon(bias="absorb")), ref, rtol=1e-14)
    np.testing.assert_allclose(Epsilon(bias="absorb").explicit(W, b, x, R), ref, rtol=1e-14)
    # alpha 2 beta 1, conserve: neuron 0 [2 | -2] -> 2 [1, 0] - 1 [0, 1] (times t_0 = 0); neuron 1 has no
    # negative part: [6, 1] / 7; neuron 2 [2, 1] / 3
    ref = [[6 / 7 * 2 + 2 / 3 * 5 * t[2], 1 / 7 * 2 + 1 / 3 * 5 * t[2]]]
    rule = AlphaBeta(2, 1, one_sided="conserve", bias="absorb")
    np.testing.assert_allclose(Dense(W, b).relevance(x, R, rule), ref, rtol=1e-14)
    np.testing.assert_allclose(rule.explicit(W, b, x, R), ref, rtol=1e-14)


@pytest.mark.parametrize("rule", [Gamma(0.25, bias="absorb"), Gamma(0.25, bias="absorb", generalized=True),
                                  Epsilon(0.0, bias="absorb"), AlphaBeta(2, 1, one_sided="conserve", bias="absorb")],
                         ids=repr)
def test_absorb_passes_on_a_fraction_in_0_1_of_each_neuron(rule):
    """Each neuron sends exactly t_j R_j, t_j = clip(1 - b_j / z_j, 0, 1): a bias absorbs, never creates
    (rules that conserve without a bias: gamma with a non-zero denominator, LRP-0, conserving alpha-beta)."""
    rng = np.random.default_rng(0)
    generalized = getattr(rule, "generalized", True)
    W, b = rng.normal(size=(6, 5)), rng.normal(size=6)
    x = rng.normal(size=(4, 5)) if generalized else np.abs(rng.normal(size=(4, 5)))
    z = x @ W.T + b
    R = rng.normal(size=z.shape) if generalized else np.where(z > 0, rng.normal(size=z.shape), 0)
    t = np.clip(1 - b / z, 0, 1)
    assert 0 < t.mean() < 1 and np.any(t == 0) and np.any(t == 1)       # all three cases occur
    for j in range(6):
        Rj = np.zeros_like(R)
        Rj[:, j] = R[:, j]
        np.testing.assert_allclose(rule.explicit(W, b, x, Rj).sum(axis=1), t[:, j] * R[:, j], rtol=1e-10,
                                   atol=1e-12)
        np.testing.assert_allclose(Dense(W, b).relevance(x, Rj, rule).sum(axis=1), t[:, j] * R[:, j],
                                   rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("rule", [Gamma(0.25, bias="none"), Gamma(0.25, bias="none", generalized=True),
                                  Epsilon(0.0, bias="none"), AlphaBeta(2, 1, one_sided="conserve", bias="none")],
                         ids=repr)
def test_no_bias_passes_on_all_of_each_neuron(rule):
    """bias="none" (a preset's ``bias="none"``): each neuron sends exactly R_j whatever its bias, by hand for
    one neuron and over random layers; LRP-0's messages are x_i w_ij / (z_j - b_j)."""
    W, b, x = np.array([[1.0, 3.0]]), np.array([-2.0]), np.array([[1.0, 1.0]])
    if isinstance(rule, Epsilon):      # z = 2, s = z - b = 4: [1/4, 3/4] of R (the plain rule: [1/2, 3/2])
        np.testing.assert_allclose(Dense(W, b).relevance(x, np.array([[8.0]]), rule), [[2.0, 6.0]], rtol=1e-15)
    rng = np.random.default_rng(1)
    generalized = getattr(rule, "generalized", True)
    W, b = rng.normal(size=(6, 5)), 3 * rng.normal(size=6)
    x = rng.normal(size=(4, 5)) if generalized else np.abs(rng.normal(size=(4, 5)))
    z = x @ W.T + b
    R = rng.normal(size=z.shape) if generalized else np.where(z > 0, rng.normal(size=z.shape), 0)
    for j in range(6):
        Rj = np.zeros_like(R)
        Rj[:, j] = R[:, j]
        np.testing.assert_allclose(rule.explicit(W, b, x, Rj).sum(axis=1), R[:, j], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(Dense(W, b).relevance(x, Rj, rule).sum(axis=1), R[:, j], rtol=1e-10,
                                   atol=1e-12)


def test_one_sided_alpha_beta_conserves():
    """AlphaBeta(one_sided="conserve"): a neuron whose contributions have one sign sends R_j through that part."""
    W = np.array([[1.0, 2.0], [-1.0, -3.0], [1.0, -1.0]])
    b = np.zeros(3)
    x = np.array([[1.0, 1.0]])
    R = np.array([[3.0, -4.0, 2.0]])
    # contributions: neuron 0 [1, 2] (no negative part), neuron 1 [-1, -3] (no positive part), neuron 2 [1, -1]
    # conserve: neuron 0 by z+ alone ([1, 2] / 3 * 3), neuron 1 by z- alone ([-1, -3] / -4 * -4),
    # neuron 2 as usual (2 * [1, 0] / 1 * 2 - 1 * [0, -1] / -1 * 2 = [4, -2])
    ref = [[1 - 1 + 4, 2 - 3 - 2]]
    rule = AlphaBeta(2, 1, one_sided="conserve")
    np.testing.assert_allclose(rule.explicit(W, b, x, R), ref, rtol=1e-14)
    np.testing.assert_allclose(Dense(W, b).relevance(x, R, rule), ref, rtol=1e-14)
    assert np.sum(ref) == pytest.approx(R.sum())
    # the default drops the empty part: neuron 0 sends 2 * 3 = [2, 4], neuron 1 -1 * -4 = [1, 3]
    np.testing.assert_allclose(AlphaBeta(2, 1).explicit(W, b, x, R), [[2 + 1 + 4, 4 + 3 - 2]], rtol=1e-14)
    # conservation over random sparse layers with zero bias, where one-sided neurons are common
    rng = np.random.default_rng(0)
    W = rng.normal(size=(40, 3)) * (rng.uniform(size=(40, 3)) < 0.6)
    b = np.zeros(40)
    x = np.abs(rng.normal(size=(5, 3)))
    R = rng.normal(size=(5, 40))
    live = (np.abs(x[:, None, :] * W[None]) > 0).any(axis=2)      # neurons with some contribution
    got = Dense(W, b).relevance(x, R, rule).sum(axis=1)
    np.testing.assert_allclose(got, (R * live).sum(axis=1), rtol=1e-12)
    assert not np.allclose(AlphaBeta(2, 1).explicit(W, b, x, R).sum(axis=1), (R * live).sum(axis=1))


def test_zero_denominator_sends_nothing():
    """0/0 := 0 without a stabiliser; with one, eps * sign(0) = +eps."""
    layer = Dense(np.array([[1.0, -1.0], [2.0, 0.0]]), np.zeros(2))
    x = np.array([[1.0, 1.0]])   # z_0 = 0
    R = np.array([[5.0, 1.0]])
    out = layer.relevance(x, R, Epsilon(0.0))
    np.testing.assert_allclose(out, [[1.0, 0.0]], rtol=1e-14)   # neuron 0 sends nothing
    out = layer.relevance(x, R, Epsilon(0.5))
    # neuron 0: z = 0 -> 0 + 0.5: messages [1, -1] / 0.5 * 5 = [10, -10]; neuron 1: z = 2 + 0.5
    np.testing.assert_allclose(out, [[10 + 2 / 2.5, -10.0]], rtol=1e-14)


def test_alpha1_beta0_equals_zplus_when_bias_nonpositive():
    rng = np.random.default_rng(3)
    layer = Conv2d(rng.normal(size=(4, 3, 3, 3)), -np.abs(rng.normal(size=4)), padding=1)
    x = np.abs(rng.normal(size=(2, 3, 5, 5)))
    R = np.abs(rng.normal(size=layer.forward(x).shape))
    np.testing.assert_allclose(layer.relevance(x, R, AlphaBeta(1, 0)), layer.relevance(x, R, ZPlus()),
                               rtol=1e-12, atol=1e-14)
    # and they differ when a bias is positive (b+ enters alpha-beta's denominator, not z+'s)
    layer = Conv2d(layer.weight, np.abs(layer.bias) + 1.0, padding=1)
    assert not np.allclose(layer.relevance(x, R, AlphaBeta(1, 0)), layer.relevance(x, R, ZPlus()))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rules_preserve_dtype(dtype):
    rng = np.random.default_rng(0)
    layer = Conv2d(rng.normal(size=(3, 2, 3, 3)), rng.normal(size=3), padding=1)
    x = rng.normal(size=(2, 2, 4, 4)).astype(dtype)
    R = rng.normal(size=layer.forward(x).shape).astype(dtype)
    for rule in _rules((2, 4, 4), rng).values():
        out = layer.relevance(x, R, rule)
        assert out.dtype == dtype, rule
        # float32 agrees with float64 to float32 precision, relative to the size of the messages
        ref = layer.relevance(x.astype(np.float64), R.astype(np.float64), rule)
        scale = np.abs(ref).max()
        assert np.abs(out - ref).max() <= 1e-4 * scale, rule


def test_flat_counts_a_zero_weight_as_a_connection():
    """Issue 15: one definition of "connected" for the flat rule, the layer's structure (a weight that is
    exactly 0 still connects).  Dense [[1, 0, 2]], x = 1, R = 3: each input gets 3 / 3 = 1, by hand, on the
    fast path and in the closed form; the closed form with ``connected = W != 0`` (the other reading) is
    [1.5, 0, 1.5].  A convolution with a zero kernel entry: the fast path equals the closed form over the
    receptive fields of tests/_matrices.py (loops), not over ``W != 0``."""
    W, b = np.array([[1.0, 0.0, 2.0]]), np.array([0.0])
    x, R = np.ones((1, 3)), np.array([[3.0]])
    np.testing.assert_array_equal(Dense(W, b).relevance(x, R, Flat()), [[1.0, 1.0, 1.0]])
    np.testing.assert_array_equal(Flat().explicit(W, b, x, R), [[1.0, 1.0, 1.0]])
    np.testing.assert_array_equal(Flat().explicit(W, b, x, R, connected=W != 0), [[1.5, 0.0, 1.5]])
    rng = np.random.default_rng(21)
    w = rng.normal(size=(2, 2, 3, 3))
    w[0, 1, 1, 2] = 0.0
    w[1, :, 0, :] = 0.0                                  # a whole kernel row of zeros
    layer = Conv2d(w, rng.normal(size=2), padding=1)
    x = rng.normal(size=(2, 2, 4, 5))
    R = rng.normal(size=layer.forward(x).shape)
    Wm, bm, connected = dense_matrix(layer, x.shape[1:])
    assert (connected & (Wm == 0)).any()                 # the case has zero weights inside the windows
    fast = layer.relevance(x, R, Flat()).reshape(2, -1)
    np.testing.assert_allclose(fast, Flat().explicit(Wm, bm, x.reshape(2, -1), R.reshape(2, -1), connected=connected),
                               rtol=RTOL, atol=ATOL)
    assert not np.allclose(fast, Flat().explicit(Wm, bm, x.reshape(2, -1), R.reshape(2, -1), connected=Wm != 0))


def test_flat_with_a_zero_weight_equals_zennit():
    """The same Dense [[1, 0, 2]] case through Zennit 0.5.1's Flat rule (weights and input set to ones)."""
    from _peers import import_zennit
    torch, zennit = import_zennit()
    lin = torch.nn.Linear(3, 1).double()
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, 0.0, 2.0]], dtype=torch.float64))
        lin.bias.zero_()
    comp = zennit.composites.LayerMapComposite([(torch.nn.Linear, zennit.rules.Flat())])
    xt = torch.ones((1, 3), dtype=torch.float64, requires_grad=True)
    with zennit.attribution.Gradient(lin, comp) as attributor:
        _, Rz = attributor(xt, torch.tensor([[1.0]], dtype=torch.float64))
    f = 3.0                                             # f(x) = 1 + 0 + 2: dtd starts from R = f(x)
    # Zennit's denominator is 3 + its stabiliser 1e-6; the zero weight's input gets its third all the same
    np.testing.assert_allclose(Rz.detach().numpy() * f, [[3.0 / (3.0 + 1e-6)] * 3], rtol=1e-12)
