"""A single rule for a whole network leaves sum and average pooling their default (issue 15).

``explain(x, rule)`` and :class:`dtd.composites.Uniform` give the rule to every
layer it applies to except sum/average pooling, which keeps LRP-0 under a linear
rule (:func:`dtd.network.single_rule_applies`), as Zennit and iNNvestigate do.

References:

* by hand: a 2x2 average pooling of ReLU outputs under ``AlphaBeta(2, 1)`` sends
  ``2 R`` (no negative part), LRP-0 sends ``R`` in proportion to the inputs;
* the rules each layer used (``return_all=True``) and the same explanation with
  the rules written out as a list;
* Zennit 0.5.1 (torch float64): its ``LayerMapComposite`` with a rule on
  ``Linear``/``Conv`` layers and ``Norm`` (stabiliser 1e-6) on average pooling
  equals ``explain(x, rule)`` to 1e-5 relative (the 1e-6 stabilisers: Zennit's
  ``Epsilon`` and ``Norm`` versus dtd's ``Epsilon(e)`` and LRP-0 on the pooling).
"""
import numpy as np
import pytest

from dtd import Graph, Sequential
from dtd.composites import Uniform, get
from dtd.evaluate import conservation_by_layer
from dtd.layers import AvgPool2d, Conv2d, Dense, Flatten, LpPool2d, MaxPool2d, ReLU, SumPool2d
from dtd.network import single_rule_applies
from dtd.rules import AlphaBeta, Epsilon, Flat, Gamma, Proportional, WinnerTakeAll, WSquare, ZPlus

from _peers import random_input, random_net


def _pool_net(pool):
    rng = np.random.default_rng(3)
    return Sequential([Conv2d(rng.normal(size=(3, 1, 3, 3)), rng.normal(0, 0.2, size=3), padding=1), ReLU(), pool,
                       Flatten(), Dense(rng.normal(size=(2, 12)), rng.normal(0, 0.2, size=2))])


def test_alpha_beta_on_average_pooling_by_hand():
    """One 2x2 window of ReLU outputs [1, 3, 0, 4] (all >= 0), R = 2 at its output."""
    pool = AvgPool2d(2)
    x = np.array([[[[1.0, 3.0], [0.0, 4.0]]]])
    R = np.array([[[[2.0]]]])
    # alpha-beta: alpha * x_i / sum x * R, no negative part: 2 * [1, 3, 0, 4] / 8 * 2, summing to 2 R
    np.testing.assert_allclose(pool.relevance(x, R, AlphaBeta(2, 1)), [[[[0.5, 1.5], [0.0, 2.0]]]], rtol=1e-15)
    # the pooling's default, LRP-0: [1, 3, 0, 4] / 8 * 2, summing to R
    np.testing.assert_allclose(pool.relevance(x, R), [[[[0.25, 0.75], [0.0, 1.0]]]], rtol=1e-15)


@pytest.mark.parametrize("pool", [AvgPool2d(2), SumPool2d(2)], ids=["avg", "sum"])
@pytest.mark.parametrize("rule", [AlphaBeta(2, 1), Gamma(0.5), Epsilon(0.1), ZPlus(), WSquare(), Flat()],
                         ids=repr)
def test_single_rule_leaves_pooling_its_default(pool, rule):
    net = _pool_net(pool)
    x = np.random.default_rng(4).uniform(0, 1, size=(3, 1, 4, 4))
    Rs = net.explain(x, rule, return_all=True)
    assert Rs.rules == [rule, ReLU().default_rule(), Epsilon(0.0), Flatten().default_rule(), rule]
    listed = net.explain(x, [rule, None, None, None, rule])
    np.testing.assert_array_equal(Rs[0], listed)
    np.testing.assert_array_equal(net.explain(x, Uniform(rule)), listed)
    # the pooling layer passes on what it receives, except (LRP-0: 0/0 := 0) what reaches a window whose
    # inputs are all zero: none for rules whose messages are proportional to x; flat and w^2 ignore x and
    # send relevance to such windows, which then keep it
    acc = conservation_by_layer(net, x, rule)
    a = net.forward(x, return_all=True)[2]
    zero_window = pool.forward(a) == 0
    lost = np.where(zero_window, Rs[3], 0).reshape(len(x), -1).sum(axis=1)
    if not isinstance(rule, (WSquare, Flat)):
        assert not lost.any()
    else:
        assert np.abs(lost).max() > 0.05 * np.abs(acc.received[:, 2]).max()    # the case has such windows
    np.testing.assert_allclose(acc.sent[:, 2], acc.received[:, 2] - lost, rtol=1e-12, atol=1e-14)
    # given per layer, the rule still runs on the pooling (and then, for alpha-beta, sends 2 R)
    if isinstance(rule, AlphaBeta):
        acc2 = conservation_by_layer(net, x, [rule, None, rule, None, rule])
        np.testing.assert_allclose(acc2.sent[:, 2], 2 * acc2.received[:, 2], rtol=1e-12)


def test_single_pooling_rules_still_reach_pooling():
    for pool, rule in [(MaxPool2d(2), Proportional()), (MaxPool2d(2), WinnerTakeAll("first")),
                       (AvgPool2d(2), Proportional()), (LpPool2d(3, 2), Proportional())]:
        assert single_rule_applies(rule, pool)
        net = _pool_net(pool)
        Rs = net.explain(np.ones((1, 1, 4, 4)), rule, return_all=True)
        assert Rs.rules[2] == rule
    assert not single_rule_applies(Epsilon(0.0), MaxPool2d(2))          # does not apply at all
    assert single_rule_applies(AlphaBeta(2, 1), Dense(np.ones((1, 2))))


def test_graph_and_named_uniform_composites_follow():
    net = _pool_net(AvgPool2d(2))
    names = [f"n{i}" for i in range(len(net.layers))]
    g = Graph([(n, layer, [prev]) for n, layer, prev in zip(names, net.layers, ["input"] + names[:-1])])
    x = np.random.default_rng(5).uniform(0, 1, size=(2, 1, 4, 4))
    want = net.explain(x, [AlphaBeta(2, 1), None, None, None, AlphaBeta(2, 1)])
    np.testing.assert_array_equal(net.explain(x, get("alpha2-beta1")), want)
    Rg = g.explain(x, AlphaBeta(2, 1), return_all=True)
    assert Rg.rules["n2"] == Epsilon(0.0) and Rg.rules["n0"] == AlphaBeta(2, 1)
    np.testing.assert_allclose(Rg["input"], want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ["Epsilon", "AlphaBeta", "ZPlus"])
def test_single_rule_equals_zennit_rule_on_linear_layers(name):
    """Zennit gives a rule to Linear/Conv layers and its Norm to average pooling: dtd's single rule now does the
    same.  Conv-ReLU-AvgPool-Conv-ReLU-MaxPool-Flatten-Dense-ReLU-Dense (tests/_peers.py), x >= 0."""
    from _peers import import_zennit, to_torch
    torch, zennit = import_zennit()
    net, shape = random_net("conv", True, 11)
    x = random_input(shape, False, 11)
    target = net.forward(x).argmax(axis=1)
    zrule, ours_rule = {"Epsilon": (lambda: zennit.rules.Epsilon(epsilon=0.25), Epsilon(0.25)),
                        "AlphaBeta": (lambda: zennit.rules.AlphaBeta(alpha=2.0, beta=1.0), AlphaBeta(2, 1)),
                        "ZPlus": (lambda: zennit.rules.ZPlus(), ZPlus(bias="positive"))}[name]
    comp = zennit.composites.LayerMapComposite(zennit.composites.layer_map_base() + [(zennit.types.Linear, zrule())])
    tnet = to_torch(net)
    xt = torch.from_numpy(x).requires_grad_(True)
    out = tnet(xt).detach().numpy()
    one_hot = torch.eye(out.shape[1], dtype=torch.float64)[torch.from_numpy(target)]
    with zennit.attribution.Gradient(tnet, comp) as attributor:
        _, Rz = attributor(xt, one_hot)
    fc = out[np.arange(len(x)), target]
    ref = Rz.detach().numpy() * fc.reshape(-1, 1, 1, 1)
    # max pooling: Zennit takes PyTorch's gradient (first maximum); no ties in these float inputs
    ours = net.explain(x, ours_rule, target=target)
    assert np.abs(ours - ref).max() <= 1e-5 * np.abs(ref).max()
    # the old behaviour (the rule on the average pooling too) is measurably different for alpha-beta
    if name == "AlphaBeta":
        old = net.explain(x, [ours_rule if isinstance(layer, (Conv2d, Dense, AvgPool2d)) else None
                              for layer in net.layers], target=target)
        assert np.abs(old - ref).max() > 1e-2 * np.abs(ref).max()
