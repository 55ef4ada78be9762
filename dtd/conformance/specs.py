"""Rules as JSON, and the conventions each rule follows, for the golden files' index.

A rule is written as ``{"rule": "<class name in dtd.rules>", <constructor arguments>}``,
e.g. ``{"rule": "Gamma", "gamma": 0.25, "epsilon": 0.0, "bias": "gamma", "generalized": false}``;
:func:`rule_from_spec` rebuilds it.
"""
import numpy as np

from .. import rules as _rules

__all__ = ["rule_spec", "rule_from_spec", "conventions"]


def _jsonable(v):
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    return v


def rule_spec(rule):
    """JSON-able description of ``rule`` (its class name and constructor arguments).

    >>> rule_spec(_rules.Epsilon(0.25))
    {'rule': 'Epsilon', 'epsilon': 0.25, 'bias': 'plain'}
    """
    name = type(rule).__name__
    if getattr(_rules, name, None) is not type(rule):
        raise TypeError(f"rule_spec: {name} is not a rule of dtd.rules")
    return {"rule": name, **{k: _jsonable(v) for k, v in vars(rule).items() if not k.startswith("_")}}


def rule_from_spec(spec):
    """The rule described by ``spec`` (see :func:`rule_spec`).

    Raises
    ------
    ValueError
        Unknown rule name or arguments the rule does not take.

    >>> rule_from_spec({"rule": "Gamma", "gamma": 0.5})
    Gamma(gamma=0.5, epsilon=0.0, bias='gamma', generalized=False)
    """
    if not isinstance(spec, dict) or not isinstance(spec.get("rule"), str):
        raise ValueError(f"rule spec must be an object with a 'rule' name, got {spec!r}")
    params = {k: v for k, v in spec.items() if k != "rule"}
    cls = getattr(_rules, spec["rule"], None)
    if not (isinstance(cls, type) and issubclass(cls, _rules.Rule)) or spec["rule"] not in _rules.__all__:
        raise ValueError(f"unknown rule {spec['rule']!r}")
    try:
        return cls(**params)
    except TypeError as e:
        raise ValueError(f"rule {spec['rule']}: {e}") from None


_ABSORB = ("absorb: the neuron first keeps 1 - t of R_j, t = clip(1 - b/z, 0, 1) (z its output, t = 0 where z = 0); "
           "the rule without a bias passes on t R_j")
_BIAS = {
    ("Epsilon", None): "b",
    ("Epsilon", "plain"): "b",
    ("Epsilon", "absorb"): _ABSORB,
    ("Gamma", "absorb"): _ABSORB,
    ("Gamma", "gamma"): "b + gamma*b+",
    ("Gamma", "plain"): "b",
    ("Gamma", "none"): "none",
    ("AlphaBeta", None): "b+ in z+, b- in z-",
    ("AlphaBeta", "parts"): "b+ in z+, b- in z-",
    ("AlphaBeta", "absorb"): _ABSORB,
    ("AlphaBeta", "whole"): "b in z+ and b in z-",
    ("AlphaBeta", "none"): "none",
    ("ZPlus", "none"): "none",
    ("ZPlus", "positive"): "b+",
    ("ZPlus", "plain"): "b",
    ("WSquare", "none"): "none",
    ("WSquare", "square"): "b^2",
    ("ZBox", None): "none",
    ("Flat", None): "none",
}


def conventions(rule):
    """The conventions ``rule`` follows: what of the bias enters the denominator, the stabiliser, tie handling.

    Returns
    -------
    dict
        ``{"bias": str, "stabiliser": float or None}`` plus ``"ties"`` for max pooling and
        ``"generalized"`` for the gamma rule.

    >>> conventions(_rules.ZPlus(bias="positive"))
    {'bias': 'b+', 'stabiliser': 0.0}
    """
    name = type(rule).__name__
    out = {"bias": "n/a", "stabiliser": None}
    if isinstance(rule, _rules.LinearRule):
        bias = _BIAS[(name, getattr(rule, "bias", None))]
        if name == "Gamma" and rule.generalized and rule.bias == "gamma":
            bias = "b + gamma*b+ where z > 0, b + gamma*b- where z < 0"
        out = {"bias": bias, "stabiliser": rule.epsilon}
        if name == "Gamma":
            out["generalized"] = rule.generalized
    elif isinstance(rule, _rules.LRNTaylor):
        out["stabiliser"] = rule.epsilon
    if isinstance(rule, _rules.WinnerTakeAll):
        out["ties"] = rule.ties
    return out
