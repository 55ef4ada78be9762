"""Frozen networks (issue 18): ``net.freeze()`` caches what the rules derive from the weights across calls.

References: the same network unfrozen (the code path of every rule without any cache), compared exactly
(``np.array_equal``, float64: the cached arrays are the very arrays an unfrozen call builds, so nothing may
differ, not even the last bit), for every rule that modifies the weights (z+, gamma plain and generalised,
alpha-beta, z^B, w^2, flat) and for the composites that combine them, on a Sequential with convolutions
(stride 1 and 2, 1x1 and 3x3: the stacked, flipped and bias-column forms) and dense layers, and on a Graph
with a residual Add.  Also: a write to a frozen weight raises, ``unfreeze`` restores writeability and drops
the cache, and the cache stays within its bound when many parameter values are used.
"""
import numpy as np
import pytest

import dtd
import dtd.frozen as fz
from dtd.conformance import peers
from dtd import Graph, Sequential
from dtd.layers import Conv2d, Dense, Flatten, ReLU
from dtd.merge import Add
from dtd.rules import AlphaBeta, Epsilon, Flat, Gamma, WSquare, ZBox, ZPlus


def _seq(rng):
    def conv(o, c, k, **kw):
        return Conv2d(rng.normal(size=(o, c, k, k)) / (c * k), rng.normal(size=o) * 0.1, **kw)
    return Sequential([conv(4, 3, 3, padding=1), ReLU(), conv(6, 4, 1), ReLU(), conv(5, 6, 3, stride=2, padding=1),
                       ReLU(), Flatten(), Dense(rng.normal(size=(3, 5 * 4 * 4)) / 9, rng.normal(size=3) * 0.1)])


def _graph(rng):
    def conv(o, c, k, **kw):
        return Conv2d(rng.normal(size=(o, c, k, k)) / (c * k), rng.normal(size=o) * 0.1, **kw)
    return Graph([("c1", conv(4, 3, 3, padding=1), "x"), ("r1", ReLU(), "c1"),
                  ("c2", conv(4, 4, 3, padding=1), "r1"), ("c3", conv(4, 4, 1), "r1"),
                  ("add", Add(), ["c2", "c3"]), ("r2", ReLU(), "add"), ("f", Flatten(), "r2"),
                  ("d", Dense(rng.normal(size=(3, 4 * 8 * 8)) / 16, rng.normal(size=3) * 0.1), "f")], input="x")


RULES = [ZPlus(), ZPlus(bias="positive", signed=True), Gamma(0.25), Gamma(0.5, generalized=True),
         Gamma(0.25, epsilon=1e-3, bias="absorb"), AlphaBeta(2, 1), AlphaBeta(2, 1, one_sided="conserve"),
         WSquare(), Flat(), Epsilon(0.1)]


def _explanations(net, x, rules):
    return [net.explain(x, r) for r in rules]


@pytest.mark.parametrize("make, shape", [(_seq, (2, 3, 8, 8)), (_graph, (2, 3, 8, 8))])
def test_frozen_equals_unfrozen_exactly(make, shape):
    rng = np.random.default_rng(0)
    net = make(rng)
    x = rng.normal(size=shape)                     # signed inputs: every term of every rule runs
    rules = RULES + [dtd.composites.get("epsilon-gamma-box", low=-3.0, high=3.0), dtd.composites.get("epsilon-plus"),
                     peers.zennit("EpsilonGammaBox", low=-3.0, high=3.0),
                     peers.zennit("EpsilonPlus"), ZBox(-3.0, 3.0)]
    rules = [r for r in rules if not isinstance(r, ZBox) or make is _seq]
    plain = _explanations(net, x, rules)
    assert not net.frozen
    net.freeze()
    assert net.frozen
    first = _explanations(net, x, rules)           # fills the cache
    assert fz.cache_bytes() > 0
    second = _explanations(net, x, rules)          # reads it
    for r, a, b, c in zip(rules, plain, first, second):
        assert np.array_equal(a, b) and np.array_equal(a, c), r
    net.unfreeze()
    assert not net.frozen
    again = _explanations(net, x, rules)
    for r, a, b in zip(rules, plain, again):
        assert np.array_equal(a, b), r


def test_write_to_frozen_weight_raises_and_unfreeze_restores():
    rng = np.random.default_rng(1)
    net = _seq(rng).freeze()
    w = net.layers[0].weight
    with pytest.raises(ValueError, match="read-only"):
        w[0, 0, 0, 0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        net.layers[-1].bias += 1.0
    x = rng.uniform(size=(1, 3, 8, 8))
    net.explain(x, Gamma(0.25))
    derived = [v for _, v in fz._entries.values()]
    assert derived and all(not v.flags.writeable for v in derived)   # cached arrays cannot be written either
    net.unfreeze()
    w[0, 0, 0, 0] = 1.0                            # writeable again
    assert w.flags.writeable and net.layers[-1].bias.flags.writeable


def test_freeze_copies_a_view_of_a_writeable_array():
    """A weight that is a view of a writeable array could be changed through its base: freeze copies it."""
    base = np.ones((2, 3))
    net = Sequential([Dense(np.zeros((2, 3)), np.zeros(2))])
    net.layers[0].weight = base[:, :]
    net.freeze()
    base[0, 0] = 5.0
    assert net.layers[0].weight[0, 0] == 1.0 and not np.shares_memory(net.layers[0].weight, base)
    assert not net.layers[0].weight.flags.writeable and base.flags.writeable
    net.unfreeze()


def test_cache_is_bounded(monkeypatch):
    """Many gamma values: the cache never exceeds its limit (FACTOR x frozen bytes, at least MINIMUM)."""
    monkeypatch.setattr(fz, "MINIMUM", 0)
    rng = np.random.default_rng(2)
    net = _seq(rng).freeze()
    weights = sum(a.nbytes for layer in net.layers for a in vars(layer).values() if isinstance(a, np.ndarray))
    x = rng.uniform(size=(1, 3, 8, 8))
    for gamma in np.linspace(0.1, 5.0, 40):
        net.explain(x, Gamma(float(gamma)))
        assert fz.cache_bytes() <= fz.FACTOR * weights
    n = len(fz._entries)
    net.unfreeze()
    assert len(fz._entries) < n and fz.cache_bytes() <= fz.FACTOR * weights


def test_unfrozen_networks_cache_nothing():
    rng = np.random.default_rng(3)
    net = _seq(rng)
    before = (fz.cache_bytes(), len(fz._entries))
    net.explain(rng.uniform(size=(1, 3, 8, 8)), Gamma(0.25))
    assert (fz.cache_bytes(), len(fz._entries)) == before


def test_cache_entries_go_with_their_arrays():
    """When a frozen network is garbage-collected, its cached arrays go too (weak references)."""
    import gc
    rng = np.random.default_rng(4)
    fz.clear()
    net = _seq(rng).freeze()
    net.explain(rng.uniform(size=(1, 3, 8, 8)), ZPlus())
    assert fz.cache_bytes() > 0
    del net
    gc.collect()
    assert fz.cache_bytes() == 0


def test_freeze_copies_a_read_only_view_of_an_owning_array():
    """Even a read-only view is copied when its base owns the memory: the base could be made writeable again."""
    base = np.ones((2, 3))
    view = base[:, :]
    base.flags.writeable = False
    net = Sequential([Dense(view, np.zeros(2))])
    net.layers[0].weight = view                    # (the constructor may already have copied it)
    net.freeze()
    base.flags.writeable = True
    base[0, 0] = 7.0
    assert net.layers[0].weight[0, 0] == 1.0 and not np.shares_memory(net.layers[0].weight, base)
    net.unfreeze()


def test_frombuffer_weights_are_frozen_in_place():
    """Weights viewing immutable bytes (as an import may give) need no copy."""
    w = np.frombuffer(np.arange(6.0).tobytes(), dtype=np.float64).reshape(2, 3)
    net = Sequential([Dense(np.zeros((2, 3)), np.zeros(2))])
    net.layers[0].weight = w
    net.freeze()
    assert net.layers[0].weight is w and net.frozen
    net.unfreeze()
    assert not w.flags.writeable                   # it was read-only before freezing: it stays so
