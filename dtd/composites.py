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
too but is handled as pooling (a single rule, :class:`Uniform` or
``explain(x, rule)``, leaves it its default: :func:`dtd.network.single_rule_applies`).

The named presets read the network's structure (:meth:`Composite.plan`):

* a rule derived for ReLU-gated outputs (plain gamma) is given only to layers
  whose output is gated so (:mod:`dtd.gating`); a layer whose signed output
  reaches a residual ``Add``, a ``Concat`` or the network output gets the
  variant valid for signed outputs (:meth:`dtd.rules.Rule.for_signed_output`:
  the generalised gamma rule), and the plan says so in its notes;
* merge nodes get a rule too: ``Add`` gets z+ (signed: the branches that
  agree in sign with the sum share its relevance, no branch more than all of
  it; Zennit's ``Norm``, the z-rule with 1e-6, gives branches that nearly
  cancel huge opposite relevances: ``dtd.conformance.peers.zennit`` keeps it);
* a bias may absorb relevance but never create it: the presets' Epsilon,
  Gamma and AlphaBeta rules take ``bias="absorb"`` (a neuron first keeps the
  bias's share of ``R_j``, :func:`dtd.rules.base.input_share`, a fraction in
  [0, 1], and its rule passes on the rest without a bias in the
  denominators), where Zennit's rules put ``b`` (or ``b^+`` / ``b^-``) in the
  denominator, so that a bias against the output's sign makes the inputs'
  share exceed ``R_j`` (``docs/graphs.md``, "Biases"); ``bias="none"`` on a
  preset leaves every bias out (each neuron passes on all of ``R_j``: the
  layers conserve, and a neuron whose inputs nearly cancel sends large
  messages of both signs) and ``bias="plain"`` gives Zennit's convention;
* an :class:`~dtd.layers.Affine` layer (a batch norm that could not be folded,
  e.g. pre-activation BN-ReLU-Conv) passes relevance unchanged
  (:class:`~dtd.rules.PassThrough`), the one conservative rule for a map
  with one input per output.

:class:`Uniform` (one rule everywhere, ``get("gamma")`` and the like) does
neither substitution: it gives exactly the rule asked for.
"""
import inspect
import math
import numbers

import numpy as np

from .layers import Affine, AvgPool2d, Conv2d, Dense, LpPool2d, MaxPool2d, SumPool2d
from .merge import Add, Merge
from .rules import AlphaBeta, Epsilon, Flat, Gamma, PassThrough, Proportional, WSquare, ZBox, ZPlus

__all__ = ["Composite", "Uniform", "DTD", "LRPComposition", "EpsilonPlus", "EpsilonGammaBox",
           "EpsilonAlpha2Beta1", "get", "names", "parameters", "parse_params"]

_POOLING = (SumPool2d, AvgPool2d, MaxPool2d, LpPool2d)


def _linear_indices(layers):
    return [i for i, layer in enumerate(layers) if isinstance(layer, (Dense, Conv2d))]


class Composite:
    """Base class: ``assign(layers)`` returns one rule (or None = layer default) per layer.

    :meth:`plan` turns that into a rule for every node of a network, reading
    its structure: see the module docstring.  Subclasses set
    ``signed_variants = False`` to give their rules unchanged (peers'
    composites, :class:`Uniform`).
    """

    params = ()
    #: replace rules that need a ReLU-gated output by their signed variant where the output is signed
    signed_variants = True

    def assign(self, layers):
        raise NotImplementedError  # abstract

    def merge_rule(self, op):
        """The rule of a merge node (None: the merge's own): ``ZPlus(signed=True)`` for ``Add``."""
        return ZPlus(signed=True) if isinstance(op, Add) else None

    def plan(self, net):
        """Rules for every node of ``net`` and why, where the structure changed one.

        Parameters
        ----------
        net : Sequential or Graph

        Returns
        -------
        rules : dict
            ``{name: rule or None}`` for every layer and merge node (a Sequential's
            layers are named ``"0"``, ``"1"``, ...; None = the node's default).
        notes : dict
            ``{name: str}`` for the nodes whose rule was replaced by its signed variant.
        """
        from .gating import node_view, signed_inputs, signed_outputs
        nodes, _ = node_view(net)
        layer_names = [name for name, op, _ in nodes if not isinstance(op, Merge)]
        layer_rules = list(self.assign([op for _, op, _ in nodes if not isinstance(op, Merge)]))
        if len(layer_rules) != len(layer_names):
            raise ValueError(f"{type(self).__name__}.assign gave {len(layer_rules)} rules for "
                             f"{len(layer_names)} layers")
        rules, notes = dict(zip(layer_names, layer_rules)), {}
        if self.signed_variants:
            outs, ins = signed_outputs(net), signed_inputs(net)
            for name in sorted(outs | ins):
                r = rules.get(name)
                if r is not None and r.for_signed_output() != r:
                    rules[name] = r.for_signed_output()
                    why = " and ".join(w for w, s in (("output not ReLU-gated (reaches a merge, another linear "
                                                       "layer or the output)", outs),
                                                      ("input may be negative", ins)) if name in s)
                    notes[name] = f"{why}: {r!r} -> {rules[name]!r}"
        for name, op, _ in nodes:
            if isinstance(op, Merge):
                rules[name] = self.merge_rule(op)
        return rules, notes

    def assign_graph(self, graph):
        """``{node name: rule or None}`` for every layer and merge node of a :class:`~dtd.Graph`."""
        return self.plan(graph)[0]

    def __call__(self, index, layer):
        raise TypeError(f"{type(self).__name__} needs the whole network: pass it to explain(), "
                        "or call .assign(layers)")

    def __repr__(self):
        args = ", ".join(f"{p}={getattr(self, p)!r}" for p in self.params)
        return f"{type(self).__name__}({args})"


class Uniform(Composite):
    """One rule on every layer it applies to; the other layers keep their default.

    As ``explain(x, rule)``: sum and average pooling keep their default (LRP-0) under a linear rule
    (:func:`dtd.network.single_rule_applies`).
    """

    params = ("rule",)
    signed_variants = False

    def merge_rule(self, op):
        return None

    def __init__(self, rule):
        self.rule = rule

    def assign(self, layers):
        from .network import single_rule_applies
        return [self.rule if single_rule_applies(self.rule, layer) else None for layer in layers]


#: what each ``bias`` setting of the named presets gives their rules (the rules' own ``bias`` option):
#: ``absorb`` (the default) keeps the bias's share ``1 - t_j`` of each neuron's relevance, ``plain`` is
#: Zennit's (the bias in the denominators), ``none`` leaves the biases out (the layers conserve)
BIAS_SETTINGS = {"absorb": {"Epsilon": "absorb", "Gamma": "absorb", "AlphaBeta": "absorb"},
                 "plain": {"Epsilon": "plain", "Gamma": "gamma", "AlphaBeta": "parts"},
                 "none": {"Epsilon": "none", "Gamma": "none", "AlphaBeta": "none"}}


def _check_bias(owner, bias):
    if bias not in BIAS_SETTINGS:
        raise ValueError(f"{owner}: bias must be one of {', '.join(map(repr, BIAS_SETTINGS))}, got {bias!r}")
    return bias


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
            elif isinstance(layer, Affine):
                out.append(PassThrough())
            else:
                out.append(None)
        return out


class LRPComposition(Composite):
    """LRP composition (Montavon et al. 2019; seed 002): different rules by depth.

    The first linear layer (the pixels) gets z^B on ``[low, high]`` (or
    LRP-gamma when no box is given).  The other linear layers are split in
    thirds by their order: the lower third gets ``Gamma(gamma)``, the middle
    third ``Epsilon(epsilon)``, the upper third LRP-0, each with
    ``bias="absorb"`` (a bias absorbs its share, never creates relevance;
    ``bias="plain"``: the bias in the denominators, as the seed writes the
    rules; ``bias="none"``: no bias anywhere, :data:`BIAS_SETTINGS`).  Pooling layers keep their defaults.
    """

    params = ("low", "high", "gamma", "epsilon", "bias")

    def __init__(self, low=None, high=None, gamma=0.25, epsilon=0.25, bias="absorb"):
        _box_or_none(low, high)
        self.low, self.high, self.gamma, self.epsilon = low, high, gamma, epsilon
        self.bias = _check_bias("LRPComposition", bias)

    def assign(self, layers):
        lin = _linear_indices(layers)
        out = [PassThrough() if isinstance(layer, Affine) else None for layer in layers]
        if not lin:
            return out
        first, rest = lin[0], lin[1:]
        gb, eb = BIAS_SETTINGS[self.bias]["Gamma"], BIAS_SETTINGS[self.bias]["Epsilon"]
        out[first] = ZBox(self.low, self.high) if self.low is not None else Gamma(self.gamma, bias=gb)
        m = len(rest)
        for k, i in enumerate(rest):
            third = (3 * k) // m if m else 0
            out[i] = (Gamma(self.gamma, bias=gb), Epsilon(self.epsilon, bias=eb), Epsilon(0.0, bias=eb))[third]
        return out


class _ByLayerType(Composite):
    """Conv2d layers get ``conv_rule()``, Dense layers ``Epsilon(epsilon)``; the first linear layer
    may get ``first_rule()``; pooling keeps its default.  ``bias``: ``"absorb"`` (the default: a bias
    absorbs its share of the relevance, never creates any), ``"plain"`` (Zennit's: the bias in the
    denominators) or ``"none"`` (no bias in any denominator, nothing kept), :data:`BIAS_SETTINGS`."""

    bias = "absorb"

    def _rule_bias(self, rule):
        return BIAS_SETTINGS[self.bias][rule]

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
                out.append(Epsilon(self.epsilon, bias=self._rule_bias("Epsilon")))
            elif isinstance(layer, Affine):
                out.append(PassThrough())
            else:
                out.append(None)
        return out


class EpsilonPlus(_ByLayerType):
    """z+ on convolutions, epsilon on dense layers (as Zennit's ``EpsilonPlus``, but the epsilon rule's bias only
    absorbs, ``Epsilon(epsilon, bias="absorb")``; ``dtd.conformance.peers.zennit`` reproduces Zennit's)."""

    params = ("epsilon", "bias")

    def __init__(self, epsilon=1e-6, bias="absorb"):
        self.epsilon, self.bias = epsilon, _check_bias("EpsilonPlus", bias)

    def conv_rule(self):
        return ZPlus()


class EpsilonGammaBox(_ByLayerType):
    """z^B on the first layer, gamma on convolutions, epsilon on dense layers (as Zennit's ``EpsilonGammaBox``, but
    the biases only absorb: ``Gamma(gamma, bias="absorb")``, ``Epsilon(epsilon, bias="absorb")``;
    ``dtd.conformance.peers.zennit`` reproduces Zennit's)."""

    params = ("low", "high", "epsilon", "gamma", "bias")

    def __init__(self, low, high, epsilon=1e-6, gamma=0.25, bias="absorb"):
        self.low, self.high, self.epsilon, self.gamma = low, high, epsilon, gamma
        self.bias = _check_bias("EpsilonGammaBox", bias)

    def conv_rule(self):
        return Gamma(self.gamma, bias=self._rule_bias("Gamma"))

    def first_rule(self):
        return ZBox(self.low, self.high)


class EpsilonAlpha2Beta1(_ByLayerType):
    """alpha=2, beta=1 on convolutions, epsilon on dense layers (as Zennit's ``EpsilonAlpha2Beta1``, but a
    neuron whose contributions all have one sign passes on its relevance through that part, and the bias only
    absorbs: ``AlphaBeta(2, 1, one_sided="conserve", bias="absorb")``, where Zennit's passes on 2 R_j or R_j
    and up to 2 R_j with a negative bias; ``dtd.conformance.peers.zennit`` reproduces Zennit's exactly)."""

    params = ("epsilon", "bias")

    def __init__(self, epsilon=1e-6, bias="absorb"):
        self.epsilon, self.bias = epsilon, _check_bias("EpsilonAlpha2Beta1", bias)

    def conv_rule(self):
        return AlphaBeta(2.0, 1.0, one_sided="conserve", bias=self._rule_bias("AlphaBeta"))


def _uniform(rule_cls, **fixed):
    def make(**params):
        return Uniform(rule_cls(**{**fixed, **params}))
    make.rule_cls, make.fixed = rule_cls, fixed
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


def parameters(name):
    """The parameters the composite ``name`` takes and their defaults (``inspect.Parameter.empty``: required),
    read from its class's signature (or its rule's, for the one-rule composites).

    >>> parameters("epsilon")
    {'epsilon': 0.0, 'bias': 'plain'}
    >>> list(parameters("epsilon-gamma-box"))
    ['low', 'high', 'epsilon', 'gamma', 'bias']
    """
    try:
        make = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown composite {name!r}; known: {', '.join(names())}") from None
    cls = getattr(make, "rule_cls", make)
    fixed = getattr(make, "fixed", {})
    out = {}
    for p in inspect.signature(cls.__init__).parameters.values():
        if p.name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        out[p.name] = fixed.get(p.name, p.default)
    return out


def _describe(params):
    return ", ".join(k if d is inspect.Parameter.empty else f"{k}={d!r}" for k, d in params.items()) or "nothing"


def _coerce(name, key, value, default):
    """``value`` for the parameter ``key`` (default ``default``): a string becomes a number where the default is
    a number (``"inf"``, ``"1e-3"``), ``True``/``False`` where it is a bool; ValueError in words otherwise."""
    number = isinstance(default, numbers.Real) and not isinstance(default, bool)
    if isinstance(default, bool):
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
            return value.lower() in ("true", "1")
        if not isinstance(value, (bool, np.bool_)):
            raise ValueError(f"composite {name!r}: {key} must be true or false, got {value!r}")
        return bool(value)
    if number or key in ("low", "high") and (default is None or default is inspect.Parameter.empty):
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise ValueError(f"composite {name!r}: {key} must be a number, got {value!r}") from None
        if number and not (isinstance(value, numbers.Real) and not isinstance(value, bool)):
            raise ValueError(f"composite {name!r}: {key} must be a number, got {value!r}")
        if isinstance(value, numbers.Real) and math.isnan(value):
            raise ValueError(f"composite {name!r}: {key} must be a number, got nan")
    return value


def parse_params(name, params):
    """``params`` checked against the parameters of the composite ``name`` (:func:`parameters`): unknown names
    are refused with the list of those it takes; strings become numbers where a number is expected (so
    ``"inf"`` and ``"1e-3"`` from a command line work); a bad value is named.

    >>> parse_params("gamma", {"gamma": "inf", "epsilon": "1e-3"})
    {'gamma': inf, 'epsilon': 0.001}
    >>> parse_params("epsilon", {"foo": 1})
    Traceback (most recent call last):
    ...
    ValueError: composite 'epsilon' takes epsilon=0.0, bias='plain'; got foo
    """
    known = parameters(name)
    unknown = [k for k in params if k not in known]
    if unknown:
        raise ValueError(f"composite {name!r} takes {_describe(known)}; got {', '.join(unknown)}")
    return {k: _coerce(name, k, v, known[k]) for k, v in params.items()}


def get(name, **params):
    """A composite by name, e.g. ``get("epsilon-gamma-box", low=-3, high=3)``.

    Parameters are checked with :func:`parse_params` (the composite's own signature).

    Raises
    ------
    ValueError
        Unknown name (the message lists the known ones), parameters the composite does not take (the
        message lists those it takes), values of the wrong kind, or values its rules refuse.
    """
    params = parse_params(name, params)
    make = _REGISTRY[name]
    try:
        return make(**params)
    except TypeError as e:
        raise ValueError(f"composite {name!r}: {e} (it takes {_describe(parameters(name))})") from None
