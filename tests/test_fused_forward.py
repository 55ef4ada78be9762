"""A network's explain computes step 1 of some groups in the same product as the forward pass.

``LinearRule.forward(layer, x)`` returns the layer's output and the
denominators of the groups whose terms all take x (stacked into one product
on Dense and Conv2d); ``relevance(..., prepared=...)`` then skips their step 1.
Both must give the same numbers as the plain routes: the output equals
``layer.forward(x)`` and the relevance equals the one computed without the
prepared denominators (float64; the same products summed in another blocking
order, so 1e-12 relative).
"""
import numpy as np
import pytest

from dtd import Sequential
from dtd.layers import AvgPool2d, Conv2d, Dense, Flatten, GroupedConv2d, ReLU, SumPool2d
from dtd.layers.base import LinearLayer
from dtd.rules import AlphaBeta, Epsilon, Flat, Gamma, WSquare, ZBox, ZPlus

RULES = {
    "epsilon": Epsilon(0.1), "gamma": Gamma(0.25), "gamma-generalized": Gamma(0.5, generalized=True),
    "alpha2-beta1": AlphaBeta(2, 1), "zplus": ZPlus(), "zplus-bias": ZPlus(bias="plain"),
    "wsquare": WSquare(), "flat": Flat(), "zbox": ZBox(-1.0, 2.0),
}
LAYERS = {
    "dense": (lambda rng: Dense(rng.normal(size=(6, 8)), rng.normal(size=6)), (8,)),
    "conv": (lambda rng: Conv2d(rng.normal(size=(4, 3, 3, 3)), rng.normal(size=4), padding=1), (3, 6, 7)),
    "conv-s2": (lambda rng: Conv2d(rng.normal(size=(4, 3, 2, 2)), rng.normal(size=4), stride=2), (3, 6, 6)),
    "grouped": (lambda rng: GroupedConv2d(rng.normal(size=(4, 1, 3, 3)), rng.normal(size=4), groups=2), (2, 5, 5)),
    "sumpool": (lambda rng: SumPool2d(2), (2, 4, 4)),
}


@pytest.mark.parametrize("layer_name", sorted(LAYERS))
@pytest.mark.parametrize("rule_name", sorted(RULES))
@pytest.mark.parametrize("sign", ["positive", "signed"])
def test_prepared_forward_gives_the_same_output_and_relevance(layer_name, rule_name, sign):
    rng = np.random.default_rng(len(layer_name) * 31 + len(rule_name))
    make, shape = LAYERS[layer_name]
    layer, rule = make(rng), RULES[rule_name]
    x = rng.normal(size=(2,) + shape)
    if sign == "positive":
        x = np.abs(x)
    y, prepared = rule.forward(layer, x)
    np.testing.assert_allclose(y, layer.forward(x), rtol=1e-12, atol=1e-12)
    R = rng.normal(size=y.shape)
    want = layer.relevance(x, R, rule)
    got = rule.relevance(layer, x, R, out=y, prepared=prepared)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * np.abs(want).max())
    fused = len(prepared["z"])
    if layer_name in ("dense", "conv", "conv-s2") and sign == "positive" and rule_name in (
            "gamma", "gamma-generalized", "alpha2-beta1", "zplus", "zplus-bias"):
        assert fused >= 1              # after a ReLU these rules share the forward's product
    if layer_name in ("grouped", "sumpool") or rule_name in ("epsilon", "wsquare", "flat", "zbox"):
        assert fused == 0              # not stackable, or no group whose terms all take x


def test_network_explain_uses_the_prepared_forward_and_matches_layer_by_layer():
    """Sequential.explain (fused forward) equals the layer-by-layer relevance of the recorded activations."""
    rng = np.random.default_rng(7)
    net = Sequential([Conv2d(rng.normal(size=(4, 2, 3, 3)), -np.abs(rng.normal(size=4)), padding=1), ReLU(),
                      Conv2d(rng.normal(size=(3, 4, 3, 3)), -np.abs(rng.normal(size=3))), ReLU(), Flatten(),
                      Dense(rng.normal(size=(5, 48)), rng.normal(size=5))])
    x = rng.uniform(size=(3, 2, 6, 6))
    rules = [ZBox(0.0, 1.0), None, Gamma(0.25, generalized=True), None, None, AlphaBeta(2, 1)]
    got = net.explain(x, rules, return_all=True)
    acts = net.forward(x, return_all=True)
    R = got[-1]
    for i in reversed(range(len(net.layers))):
        R = net.layers[i].relevance(acts[i], R, rules[i])
        np.testing.assert_allclose(got[i], R, rtol=1e-12, atol=1e-12 * np.abs(R).max())


def test_forward_overwrites_only_its_own_intermediate_arrays():
    """Sequential.forward runs ReLU in place on arrays it made, never on the input or a view of it."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 3, 4, 4))
    keep = x.copy()
    for layers in ([ReLU(), Flatten(), ReLU()], [Flatten(), ReLU(), ReLU()],
                   [Conv2d(rng.normal(size=(2, 3, 3, 3))), ReLU(), Flatten(), ReLU(), Dense(rng.normal(size=(2, 8)))]):
        net = Sequential(layers)
        want = net.forward(x, return_all=True)[-1]
        np.testing.assert_array_equal(net.forward(x), want)
        np.testing.assert_array_equal(x, keep)


class _Identity(LinearLayer):
    """A linear layer whose output is its input itself (the worst case for a ReLU run in place after it)."""

    def params(self, dtype):
        return None, None

    def linear(self, x, weight, bias):
        return x

    def linear_backward(self, g, weight, x_shape):
        return g


@pytest.mark.parametrize("tile", [1, 10 ** 9])          # a piece per output row, or the whole batch at once
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_linear_layer_and_its_relu_in_one_pass_equal_the_two_layers(monkeypatch, tile, dtype):
    """Sequential.forward runs a linear layer and the ReLU after it in one pass (the ReLU on each piece of
    a convolution's output as soon as its product is done): exactly the numbers of the layer-by-layer pass
    (same products, the ReLU is exact), the input left untouched."""
    import dtd.workspace as workspace
    monkeypatch.setattr(workspace, "TILE", tile)
    rng = np.random.default_rng(8)
    layers = [Conv2d(rng.normal(size=(4, 3, 3, 3)).astype(dtype), rng.normal(size=4).astype(dtype), padding=1),
              ReLU(), AvgPool2d(2), ReLU(), _Identity(), ReLU(),
              Conv2d(rng.normal(size=(5, 4, 2, 2)).astype(dtype), stride=2), ReLU(), Flatten(),
              Dense(rng.normal(size=(6, 20)).astype(dtype), rng.normal(size=6).astype(dtype)), ReLU()]
    net = Sequential(layers)
    x = rng.normal(size=(3, 3, 8, 8)).astype(dtype)
    keep = x.copy()
    want = x
    for layer in layers:                                   # plain layer-by-layer forward
        want = layer.forward(want)
    got = net.forward(x)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(x, keep)
    # the identity layer right after the input: its ReLU must not run in place on x
    net = Sequential([_Identity(), ReLU(), Flatten()])
    np.testing.assert_array_equal(net.forward(x), np.maximum(keep, 0).reshape(3, -1))
    np.testing.assert_array_equal(x, keep)


@pytest.mark.parametrize("rules", [ZPlus(), Gamma(0.25, generalized=True), AlphaBeta(2, 1)])
def test_graph_explain_with_the_prepared_forward_equals_the_unprepared_one(monkeypatch, rules):
    """Graph.explain prepares the denominators too; turning stacking off (nothing prepared) changes nothing."""
    from test_graph import rng as make_rng, two_branch
    g = two_branch(make_rng(5))
    x = np.abs(make_rng(6).normal(size=(3, 2, 6, 6)))
    got = g.explain(x, rules, return_all=True)
    monkeypatch.setattr(Conv2d, "stackable", False)
    monkeypatch.setattr(Dense, "stackable", False)
    want = g.explain(x, rules, return_all=True)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-12, atol=1e-12 * np.abs(want[name]).max())


@pytest.mark.parametrize("rule", [ZPlus(), Gamma(0.25, generalized=True), AlphaBeta(2, 1), WSquare(), Flat()])
def test_blocked_dense_keeps_float32(rule):
    """A dense layer run in blocks of output rows (Dense.output_blocks) stays in float32 and agrees with
    float64 to float32 rounding (rtol 1e-4: a few thousand products summed in float32)."""
    rng = np.random.default_rng(4)
    layer = Dense(rng.normal(size=(40, 30)), rng.normal(size=40))
    layer.block_bytes = 200                      # 30 floats a row: blocks of a few rows in either dtype
    assert len(layer.output_blocks(layer.weight.astype(np.float32), None, True)) > 1
    x = np.abs(rng.normal(size=(3, 30)))
    R = np.abs(layer.forward(x))
    r64 = layer.relevance(x, R, rule)
    r32 = layer.relevance(x.astype(np.float32), R.astype(np.float32), rule)
    assert r32.dtype == np.float32
    np.testing.assert_allclose(r32, r64, rtol=1e-4, atol=1e-5 * np.abs(r64).max())


def test_generalized_gamma_prepares_both_groups_from_two_products(monkeypatch):
    """After a ReLU the generalised gamma's two denominators come from x w and x w+ (one extra product, not
    two), and equal the direct x (w + g w+) + b + g b+ and x (w + g w-) + b + g b- on their outputs."""
    rng = np.random.default_rng(9)
    layer = Conv2d(rng.normal(size=(4, 3, 3, 3)), rng.normal(size=4), padding=1)
    x = np.abs(rng.normal(size=(2, 3, 5, 5)))
    rule = Gamma(0.5, generalized=True)
    calls = []
    original = Conv2d.linear_stack
    monkeypatch.setattr(Conv2d, "linear_stack", lambda self, x, maps: calls.append(len(maps)) or original(self, x, maps))
    y, prepared = rule.forward(layer, x)
    assert calls == [2] and sorted(prepared["z"]) == [0, 1]
    w, b = layer.weight, layer.bias
    up = Conv2d(w + 0.5 * np.maximum(w, 0), b + 0.5 * np.maximum(b, 0), padding=1).forward(x)
    un = Conv2d(w + 0.5 * np.minimum(w, 0), b + 0.5 * np.minimum(b, 0), padding=1).forward(x)
    z = {g: v() if callable(v) else v for g, v in prepared["z"].items()}   # made on demand (a group may get no R)
    np.testing.assert_allclose(z[0][y > 0], up[y > 0], rtol=1e-12)
    np.testing.assert_allclose(z[1][y < 0], un[y < 0], rtol=1e-12)
