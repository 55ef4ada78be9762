"""The catalogue of conformance cases: small networks crossed with rules and composites.

Every network is built from dyadic numbers (:mod:`dtd.conformance._dyadic`)
seeded by its name, so the catalogue is the same on every machine.  A case is
a network, an input batch, the target of each sample and the rules; its
expected values are what :meth:`dtd.Sequential.explain` computes in float64.

Bump :data:`CATALOGUE_VERSION` whenever a case is added, removed or changed
(the golden files in ``data/golden/`` are then regenerated).
"""
from collections import namedtuple

import numpy as np

from .. import composites
from ..layers import (LRN, AvgPool2d, Conv2d, Dense, Flatten, LpPool2d, MaxPool2d, ReLU, SumPool2d)
from ..network import Sequential
from ..rules import Epsilon, Gamma, LRNIdentity, LRNTaylor, Proportional, WinnerTakeAll, ZBox
from ._dyadic import seed_of, uniform_dyadic

__all__ = ["CATALOGUE_VERSION", "Case", "Network", "NETWORKS", "cases", "case_names"]

#: version of the catalogue (the set of cases and their definitions)
CATALOGUE_VERSION = 3

#: a network of the catalogue: ``net`` (Sequential), input ``x``, ``target`` (N,), the input
#: ``domain`` ("R", "R+" or "box") with its bounds ``low``/``high``, and a one-line ``about``
Network = namedtuple("Network", "name net x target domain low high about")

#: a case: ``name`` ("<network>/<rules>"), its ``network``, the ``rules`` as one rule per layer,
#: the ``composite`` name and parameters it was made from (or None), and ``tags`` naming its edge cases
Case = namedtuple("Case", "name network rules composite tags")


def _u(name, what, shape, low=-1.0, high=1.0, bits=4):
    return uniform_dyadic(seed_of(f"{name}/{what}"), shape, low, high, bits)


def _dense(name, i, n_in, n_out, bias=True):
    w = _u(name, f"{i}.weight", (n_out, n_in))
    b = _u(name, f"{i}.bias", (n_out,), -0.5, 0.5) if bias else np.zeros(n_out)
    return Dense(w, b)


def _conv(name, i, c_in, c_out, k, stride=1, padding=0, bias=True):
    w = _u(name, f"{i}.weight", (c_out, c_in, k, k))
    b = _u(name, f"{i}.bias", (c_out,), -0.5, 0.5) if bias else np.zeros(c_out)
    return Conv2d(w, b, stride=stride, padding=padding)


def _targets(n, k):
    """Fixed targets ``0, 1, 2, ...`` modulo the number of outputs (not the argmax: some f_c(x) are negative)."""
    return np.arange(n) % k


def _network_dense():
    n = "dense"
    net = Sequential([_dense(n, 0, 6, 5), ReLU(), _dense(n, 2, 5, 4), ReLU(), _dense(n, 4, 4, 3)])
    x = _u(n, "x", (3, 6))
    return Network(n, net, x, _targets(3, 3), "R", -1.0, 1.0,
                   "Dense-ReLU-Dense-ReLU-Dense, signed biases, signed inputs, batch of 3")


def _network_dense_nobias():
    n = "dense-nobias"
    net = Sequential([_dense(n, 0, 6, 5, bias=False), ReLU(), _dense(n, 2, 5, 3, bias=False)])
    x = _u(n, "x", (1, 6), 0.0, 1.0)
    return Network(n, net, x, np.array([0]), "R+", 0.0, 1.0,
                   "Dense-ReLU-Dense without biases, inputs >= 0, batch of one")


def _network_conv_sum():
    n = "conv-sum"
    net = Sequential([_conv(n, 0, 2, 3, 3, padding=1), ReLU(), SumPool2d(2), _conv(n, 3, 3, 3, 2), ReLU(),
                      Flatten(), _dense(n, 6, 3, 3)])
    x = _u(n, "x", (2, 2, 4, 4), 0.0, 1.0)
    return Network(n, net, x, _targets(2, 3), "box", 0.0, 1.0,
                   "Conv(pad 1)-ReLU-SumPool-Conv-ReLU-Flatten-Dense, pixels in [0, 1], batch of 2")


def _network_conv_avg_max():
    n = "conv-avg-max"
    net = Sequential([_conv(n, 0, 1, 3, 3, padding=1), ReLU(), AvgPool2d(2), _conv(n, 3, 3, 4, 3, padding=1),
                      ReLU(), MaxPool2d(2), Flatten(), _dense(n, 7, 4, 3)])
    x = _u(n, "x", (2, 1, 4, 4))
    return Network(n, net, x, _targets(2, 3), "box", -1.0, 1.0,
                   "Conv(pad 1)-ReLU-AvgPool-Conv(pad 1)-ReLU-MaxPool-Flatten-Dense, signed pixels in [-1, 1]")


def _network_conv_stride():
    n = "conv-stride"
    net = Sequential([_conv(n, 0, 2, 3, 3, stride=2, padding=1), ReLU(), _conv(n, 2, 3, 2, 2), ReLU(), Flatten(),
                      _dense(n, 5, 8, 2)])
    x = _u(n, "x", (1, 2, 5, 5), 0.0, 1.0)
    return Network(n, net, x, np.array([1]), "box", 0.0, 1.0,
                   "Conv(stride 2, pad 1)-ReLU-Conv-ReLU-Flatten-Dense, 5x5 pixels in [0, 1], batch of one")


def _network_maxpool_ties():
    n = "maxpool-ties"
    # integer-valued images: windows with two, three and four equal maxima, and all-zero windows
    x = np.array([[[[1, 1, 0, 2], [0, 1, 2, 2], [0, 0, 3, 1], [0, 0, 3, 3]]],
                  [[[2, 2, 1, 0], [2, 2, 0, 1], [1, 0, 0, 0], [0, 1, 0, 0]]]], dtype=np.float64)
    net = Sequential([MaxPool2d(2, stride=1), Flatten(), _dense(n, 2, 9, 2)])
    return Network(n, net, x, _targets(2, 2), "R+", 0.0, 3.0,
                   "MaxPool(2, stride 1, overlapping)-Flatten-Dense on integer images with ties and zero windows")


def _network_lp():
    n = "lp-pool"
    net = Sequential([_conv(n, 0, 1, 2, 3, padding=1), ReLU(), LpPool2d(2, 2), Flatten(), _dense(n, 4, 8, 2)])
    x = _u(n, "x", (2, 1, 4, 4), 0.0, 1.0)
    return Network(n, net, x, _targets(2, 2), "box", 0.0, 1.0, "Conv-ReLU-LpPool(p=2)-Flatten-Dense")


def _network_lrn():
    n = "lrn"
    net = Sequential([_conv(n, 0, 1, 4, 3, padding=1), ReLU(), LRN(3, alpha=1.0, beta=0.75, k=1.0),
                      _conv(n, 3, 4, 2, 3), ReLU(), Flatten(), _dense(n, 6, 8, 2)])
    x = _u(n, "x", (2, 1, 4, 4), 0.0, 1.0)
    return Network(n, net, x, _targets(2, 2), "box", 0.0, 1.0,
                   "Conv-ReLU-LRN(size 3, alpha 1)-Conv-ReLU-Flatten-Dense")


def _network_lrn_even():
    n = "lrn-even"
    net = Sequential([_conv(n, 0, 1, 4, 3, padding=1), ReLU(), LRN(2, alpha=2.0, beta=0.5, k=1.0, window="pytorch"),
                      Flatten(), _dense(n, 4, 64, 2)])
    x = _u(n, "x", (1, 1, 4, 4), 0.0, 1.0)
    return Network(n, net, x, np.array([0]), "box", 0.0, 1.0,
                   "Conv-ReLU-LRN(size 2, PyTorch window)-Flatten-Dense")


def _network_lrn_k():
    n = "lrn-k"
    # k != 1: the Taylor rule's stabiliser is in the units of the layer's output (LRNTaylor's docstring)
    net = Sequential([_conv(n, 0, 1, 5, 3, padding=1), ReLU(), LRN(4, alpha=1.5, beta=0.75, k=2.0),
                      _conv(n, 3, 5, 2, 3), ReLU(), Flatten(), _dense(n, 6, 8, 2)])
    x = _u(n, "x", (2, 1, 4, 4), 0.0, 1.0)
    return Network(n, net, x, _targets(2, 2), "box", 0.0, 1.0,
                   "Conv-ReLU-LRN(size 4, ONNX window, alpha 1.5, k 2)-Conv-ReLU-Flatten-Dense")


def _network_pixel():
    n = "pixel"
    net = Sequential([_conv(n, 0, 3, 4, 1), ReLU(), Flatten(), _dense(n, 3, 4, 2)])
    x = _u(n, "x", (1, 3, 1, 1), 0.0, 1.0)
    return Network(n, net, x, np.array([1]), "box", 0.0, 1.0, "a 1x1 image: Conv(1x1)-ReLU-Flatten-Dense")


def _network_zeros():
    n = "zeros"
    # hidden neuron 0: z = 0.5 - 0.5 = 0 exactly (ReLU at its kink); neuron 1: all-zero weights;
    # the second sample is all zero (every message 0/0); the output's bias is 0
    w0 = np.array([[1.0, -1.0, 0.0], [0.0, 0.0, 0.0], [0.5, 0.25, -1.0], [-0.5, 1.0, 0.5]])
    b0 = np.array([0.0, 0.0, -0.25, 0.0])
    w1 = np.array([[1.0, 2.0, 1.0, -1.0], [0.5, 0.0, -0.5, 1.0]])
    b1 = np.array([0.0, 0.25])
    x = np.array([[0.5, 0.5, 0.25], [0.0, 0.0, 0.0]])
    net = Sequential([Dense(w0, b0), ReLU(), Dense(w1, b1)])
    return Network(n, net, x, np.array([0, 1]), "R+", 0.0, 1.0,
                   "Dense-ReLU-Dense with a neuron at z = 0, an all-zero neuron and an all-zero sample")


#: every network of the catalogue, by name
NETWORKS = {nw.name: nw for nw in (f() for f in (
    _network_dense, _network_dense_nobias, _network_conv_sum, _network_conv_avg_max, _network_conv_stride,
    _network_maxpool_ties, _network_lp, _network_lrn, _network_lrn_even, _network_lrn_k, _network_pixel,
    _network_zeros))}


def _composite_params(name, nw):
    box = {"low": nw.low, "high": nw.high}
    if name == "dtd":
        return {"domain": nw.domain, **(box if nw.domain == "box" else {})}
    if name in ("lrp-composition", "epsilon-gamma-box"):
        return box
    return {"epsilon": {"epsilon": 0.25}, "gamma": {"gamma": 0.25}}.get(name, {})


def _resolve(net, rules):
    """One explicit rule per layer (the layer's default where ``rules`` gives None)."""
    return [r if r is not None else layer.default_rule() for r, layer in zip(net.rule_list(rules), net.layers)]


def _with(net, base, **by_type):
    """Rules of ``base`` with the layers of the given types (by class name) given another rule."""
    out = _resolve(net, base)
    for i, layer in enumerate(net.layers):
        if type(layer).__name__ in by_type:
            out[i] = by_type[type(layer).__name__]
    return out


# (network, rule sets) -- every composite of dtd.composites.names() on the three main networks,
# and the rules that the composites do not cover (z^B, the generalised gamma) by themselves
_MAIN = ("dense", "conv-sum", "conv-avg-max")
_EXTRA = {
    "zbox": lambda nw: ZBox(nw.low, nw.high),
    "gamma-generalized": lambda nw: Gamma(0.25, generalized=True),
}

_EDGE = {
    "dense-nobias": ["lrp-0", "zplus", "alpha1-beta0", "dtd"],
    "conv-stride": ["lrp-0", "flat", "wsquare", "zbox", "dtd"],
    "pixel": ["lrp-0", "zplus", "wsquare", "flat", "zbox", "epsilon-gamma-box"],
    "zeros": ["lrp-0", "epsilon", "gamma", "gamma-generalized", "alpha2-beta1", "alpha1-beta0", "zplus",
              "wsquare", "flat"],
}

_TAGS = {
    "dense": ["signed inputs", "signed biases", "negative f_c(x)", "batch of several"],
    "dense-nobias": ["zero biases", "batch of one"],
    "conv-sum": ["zero padding", "sum pooling", "zero activations"],
    "conv-avg-max": ["signed inputs", "average pooling", "max pooling", "zero activations"],
    "conv-stride": ["stride", "batch of one"],
    "maxpool-ties": ["max-pool ties", "overlapping windows", "zero windows"],
    "lp-pool": ["p-norm pooling"],
    "lrn": ["LRN"],
    "lrn-even": ["LRN even window (PyTorch)"],
    "lrn-k": ["LRN k != 1", "LRN even window (ONNX)"],
    "pixel": ["1x1 image", "batch of one"],
    "zeros": ["zero denominators", "z = 0 at a ReLU kink", "all-zero sample", "zero starting relevance"],
}


def _named_rules(name, nw):
    """Rules for the rule-set ``name`` on network ``nw``: a composite name, or an entry of _EXTRA."""
    if name in composites.names():
        params = _composite_params(name, nw)
        return _resolve(nw.net, composites.get(name, **params)), {"name": name, "params": params}
    return _resolve(nw.net, _EXTRA[name](nw)), None


def _build_cases():
    out = []

    def add(nw_name, rules_name, rules, composite=None, tags=()):
        nw = NETWORKS[nw_name]
        out.append(Case(f"{nw_name}/{rules_name}", nw, rules, composite, list(_TAGS[nw_name]) + list(tags)))

    for nw_name in _MAIN:
        nw = NETWORKS[nw_name]
        for name in list(composites.names()) + ["zbox", "gamma-generalized"]:
            rules, comp = _named_rules(name, nw)
            add(nw_name, name, rules, comp)
    for nw_name, names in _EDGE.items():
        nw = NETWORKS[nw_name]
        for name in names:
            rules, comp = _named_rules(name, nw)
            add(nw_name, name, rules, comp)
    ties = NETWORKS["maxpool-ties"]
    for label, rule in [("winner-take-all", WinnerTakeAll()), ("winner-take-all-first", WinnerTakeAll("first")),
                        ("proportional", Proportional())]:
        add("maxpool-ties", label, _with(ties.net, Epsilon(0.0), MaxPool2d=rule))
    lp = NETWORKS["lp-pool"]
    for name in ("lrp-0", "dtd"):
        rules, comp = _named_rules(name, lp)
        add("lp-pool", name, rules, comp)
    for nw_name in ("lrn", "lrn-even"):
        net = NETWORKS[nw_name].net
        add(nw_name, "lrn-identity", _with(net, Epsilon(0.0), LRN=LRNIdentity()))
        add(nw_name, "lrn-taylor", _with(net, Epsilon(0.0), LRN=LRNTaylor()))
    # epsilon > 0 with k = 1 and with k != 1 (where the stabiliser's units matter), and epsilon = 0
    add("lrn", "lrn-taylor-eps0.1", _with(NETWORKS["lrn"].net, Epsilon(0.0), LRN=LRNTaylor(0.1)),
        tags=["LRN stabiliser"])
    lrn_k = NETWORKS["lrn-k"].net
    for label, rule, tags in [("lrn-identity", LRNIdentity(), []), ("lrn-taylor-eps0", LRNTaylor(0.0), []),
                              ("lrn-taylor-eps0.1", LRNTaylor(0.1), ["LRN stabiliser"])]:
        add("lrn-k", label, _with(lrn_k, Epsilon(0.0), LRN=rule), tags=tags)
    # stabilisers on the zero denominators: sign(0) = +1
    add("zeros", "stabilised", [Gamma(0.25, epsilon=0.01), ReLU().default_rule(), Epsilon(0.01)],
        tags=["stabiliser on z = 0"])
    return out


_CASES = None


def cases():
    """The list of :class:`Case` of this catalogue version (built once)."""
    global _CASES
    if _CASES is None:
        _CASES = _build_cases()
    return list(_CASES)


def case_names():
    """Names of the cases, in catalogue order."""
    return [c.name for c in cases()]
