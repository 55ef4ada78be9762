"""Composites: which rule each layer of a network gets.

A composite maps a network's layers to rules.  Any callable
``(index, layer) -> Rule or None`` is one; the named presets below are
:class:`Composite` objects that look at the whole list (to find the first
linear layer, or to split the layers into thirds) and can be found by name::

    >>> get("dtd", low=0.0, high=1.0)
    DTD(domain='box', low=0.0, high=1.0)
    >>> sorted(names())[:3]
    ['alpha1-beta0', 'alpha2-beta1', 'dtd']

"Linear layers" below means Dense and Conv2d; sum/average pooling is linear
too but is handled as pooling.
"""
import numpy as np

from .layers import AvgPool2d, Conv2d, Dense, LpPool2d, MaxPool2d, SumPool2d
from .rules import AlphaBeta, Epsilon, Flat, Gamma, Proportional, WSquare, ZBox, ZPlus

__all__ = ["Composite", "Uniform", "DTD", "LRPComposition", "EpsilonPlus", "EpsilonGammaBox",
           "EpsilonAlpha2Beta1", "get", "names"]

_POOLING = (SumPool2d, AvgPool2d, MaxPool2d, LpPool2d)


def _linear_indices(layers):
    return [i for i, layer in enumerate(layers) if isinstance(layer, (Dense, Conv2d))]


class Composite:
    """Base class: ``assign(layers)`` returns one rule (or None = layer default) per layer."""

    params = ()

    def assign(self, layers):
        raise NotImplementedError  # abstract

    def __call__(self, index, layer):
        raise TypeError(f"{type(self).__name__} needs the whole network: pass it to explain(), "
                        "or call .assign(layers)")

    def __repr__(self):
        args = ", ".join(f"{p}={getattr(self, p)!r}" for p in self.params)
        return f"{type(self).__name__}({args})"


class Uniform(Composite):
    """One rule on every layer it applies to; the other layers keep their default."""

    params = ("rule",)

    def __init__(self, rule):
        self.rule = rule

    def assign(self, layers):
        return [self.rule if self.rule.applies_to(layer) else None for layer in layers]


def _box_or_none(low, high):
    if (low is None) != (high is None):
        raise ValueError("give both low and high, or neither")
    return None if low is None else (low, high)


class DTD(Composite):
    """The training-free relevance model of deep Taylor decomposition (Montavon et al. 2017; seed 001).

    The first linear layer gets the rule of the input domain: ``"R"`` -> w^2,
    ``"R+"`` -> z+, ``"box"`` (``low <= x <= high``) -> z^B.  Every linear layer
    above gets z+; every pooling layer gets :class:`~dtd.rules.Proportional`
    (sum pooling as a ReLU detection layer, p-norm pooling with its ratio held
    constant).  LRN layers keep the identity.

    Conservative and positive on ReLU networks with ``b <= 0`` (tested).
    """

    params = ("domain", "low", "high")

    def __init__(self, domain=None, low=None, high=None):
        box = _box_or_none(low, high)
        if domain is None:
            domain = "R+" if box is None else "box"
        if domain not in ("R", "R+", "box"):
            raise ValueError(f"DTD: domain must be 'R', 'R+' or 'box', got {domain!r}")
        if domain == "box" and box is None:
            raise ValueError("DTD: the box domain needs low and high")
        self.domain, self.low, self.high = domain, low, high

    def input_rule(self):
        if self.domain == "R":
            return WSquare()
        if self.domain == "R+":
            return ZPlus()
        return ZBox(self.low, self.high)

    def assign(self, layers):
        lin = _linear_indices(layers)
        out = []
        for i, layer in enumerate(layers):
            if lin and i == lin[0]:
                out.append(self.input_rule())
            elif isinstance(layer, (Dense, Conv2d)):
                out.append(ZPlus())
            elif isinstance(layer, _POOLING):
                out.append(Proportional())
            else:
                out.append(None)
        return out


class LRPComposition(Composite):
    """LRP composition (Montavon et al. 2019; seed 002): different rules by depth.

    The first linear layer (the pixels) gets z^B on ``[low, high]`` (or
    LRP-gamma when no box is given).  The other linear layers are split in
    thirds by their order: the lower third gets ``Gamma(gamma)``, the middle
    third ``Epsilon(epsilon)``, the upper third LRP-0.  Pooling layers keep
    their defaults.
    """

    params = ("low", "high", "gamma", "epsilon")

    def __init__(self, low=None, high=None, gamma=0.25, epsilon=0.25):
        _box_or_none(low, high)
        self.low, self.high, self.gamma, self.epsilon = low, high, gamma, epsilon

    def assign(self, layers):
        lin = _linear_indices(layers)
        out = [None] * len(layers)
        if not lin:
            return out
        first, rest = lin[0], lin[1:]
        out[first] = ZBox(self.low, self.high) if self.low is not None else Gamma(self.gamma)
        m = len(rest)
        for k, i in enumerate(rest):
            third = (3 * k) // m if m else 0
            out[i] = (Gamma(self.gamma), Epsilon(self.epsilon), Epsilon(0.0))[third]
        return out


class _ByLayerType(Composite):
    """Conv2d layers get ``conv_rule()``, Dense layers ``Epsilon(epsilon)``; the first linear layer
    may get ``first_rule()``; pooling keeps its default."""

    def conv_rule(self):
        raise NotImplementedError  # abstract

    def first_rule(self):
        return None

    def assign(self, layers):
        lin = _linear_indices(layers)
        out = []
        first = self.first_rule()
        for i, layer in enumerate(layers):
            if first is not None and lin and i == lin[0]:
                out.append(first)
            elif isinstance(layer, Conv2d):
                out.append(self.conv_rule())
            elif isinstance(layer, Dense):
                out.append(Epsilon(self.epsilon))
            else:
                out.append(None)
        return out


class EpsilonPlus(_ByLayerType):
    """z+ on convolutions, epsilon on dense layers (Zennit's ``EpsilonPlus``)."""

    params = ("epsilon",)

    def __init__(self, epsilon=1e-6):
        self.epsilon = epsilon

    def conv_rule(self):
        return ZPlus()


class EpsilonGammaBox(_ByLayerType):
    """z^B on the first layer, gamma on convolutions, epsilon on dense layers (Zennit's ``EpsilonGammaBox``)."""

    params = ("low", "high", "epsilon", "gamma")

    def __init__(self, low, high, epsilon=1e-6, gamma=0.25):
        self.low, self.high, self.epsilon, self.gamma = low, high, epsilon, gamma

    def conv_rule(self):
        return Gamma(self.gamma)

    def first_rule(self):
        return ZBox(self.low, self.high)


class EpsilonAlpha2Beta1(_ByLayerType):
    """alpha=2, beta=1 on convolutions, epsilon on dense layers (Zennit's ``EpsilonAlpha2Beta1``)."""

    params = ("epsilon",)

    def __init__(self, epsilon=1e-6):
        self.epsilon = epsilon

    def conv_rule(self):
        return AlphaBeta(2.0, 1.0)


def _uniform(rule_cls, **fixed):
    def make(**params):
        return Uniform(rule_cls(**{**fixed, **params}))
    return make


_REGISTRY = {
    "dtd": DTD,
    "lrp-composition": LRPComposition,
    "epsilon-plus": EpsilonPlus,
    "epsilon-gamma-box": EpsilonGammaBox,
    "epsilon-alpha2-beta1": EpsilonAlpha2Beta1,
    "lrp-0": _uniform(Epsilon, epsilon=0.0),
    "epsilon": _uniform(Epsilon),
    "gamma": _uniform(Gamma),
    "alpha2-beta1": _uniform(AlphaBeta, alpha=2.0, beta=1.0),
    "alpha1-beta0": _uniform(AlphaBeta, alpha=1.0, beta=0.0),
    "zplus": _uniform(ZPlus),
    "wsquare": _uniform(WSquare),
    "flat": _uniform(Flat),
}


def names():
    """Names accepted by :func:`get`."""
    return list(_REGISTRY)


def get(name, **params):
    """A composite by name, e.g. ``get("epsilon-gamma-box", low=-3, high=3)``.

    Raises
    ------
    ValueError
        Unknown name (the message lists the known ones) or parameters the composite does not take.
    """
    try:
        make = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown composite {name!r}; known: {', '.join(names())}") from None
    try:
        return make(**params)
    except TypeError as e:
        raise ValueError(f"composite {name!r}: {e}") from None
