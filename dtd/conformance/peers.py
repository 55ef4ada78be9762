"""dtd rules that reproduce Zennit's and Captum's (the mappings of ``docs/backends.md``, as code).

``zennit(name, ...)`` and ``captum(name, ...)`` return a dtd composite that,
passed to :meth:`dtd.Sequential.explain`, gives the peer's relevance times
``f_c(x)`` (the peers start from the one-hot output gradient, dtd from
``f_c(x)``; Captum multiplies by ``f_c(x)`` itself).  No torch needed here:
the tests ``tests/test_crosscheck_*.py`` hold these mappings to the peers.

Zennit 0.5.1, for a rule ``X`` (``Epsilon``, ``ZPlus``, ``AlphaBeta``,
``Gamma``, ``WSquare``, ``Flat``, ``ZBox``) means ``X`` on every
``Linear``/``Conv2d`` with Zennit's base layer map (``Pass`` on activations,
``Norm(stabilizer)`` on average pooling) and max pooling left to its
gradient, as Zennit's own composites do; ``EpsilonPlus``,
``EpsilonGammaBox`` and ``EpsilonAlpha2Beta1`` are Zennit's composites.
Captum 0.9.0, for ``EpsilonRule``, ``GammaRule`` and ``Alpha1_Beta0_Rule``,
means that rule set as ``module.rule`` on every ``Linear``/``Conv2d``, and
Captum's defaults on the rest (``EpsilonRule()`` on pooling).

>>> from dtd.layers import Conv2d, Dense, Flatten, MaxPool2d, ReLU
>>> layers = [Conv2d(np.ones((1, 1, 1, 1))), ReLU(), MaxPool2d(1), Flatten(), Dense(np.ones((1, 1)))]
>>> zennit("EpsilonPlus").assign(layers)
[ZPlus(epsilon=1e-06, bias='positive'), None, WinnerTakeAll(ties='first'), None, Epsilon(epsilon=1e-06)]
"""
import numpy as np

from ..composites import Composite
from ..layers import AvgPool2d, Conv2d, Dense, MaxPool2d, SumPool2d
from ..rules import AlphaBeta, Epsilon, Flat, Gamma, WinnerTakeAll, WSquare, ZBox, ZPlus

__all__ = ["PeerComposite", "zennit", "captum", "ZENNIT_NAMES", "CAPTUM_NAMES"]

ZENNIT_NAMES = ("Epsilon", "ZPlus", "AlphaBeta", "Gamma", "WSquare", "Flat", "ZBox",
                "EpsilonPlus", "EpsilonGammaBox", "EpsilonAlpha2Beta1")
CAPTUM_NAMES = ("EpsilonRule", "GammaRule", "Alpha1_Beta0_Rule")

#: Captum's stabiliser (``PropagationRule.STABILITY_FACTOR``), used by every rule but ``EpsilonRule(epsilon)``
CAPTUM_STABILITY = 1e-9


class PeerComposite(Composite):
    """Rules for Dense, Conv2d (the first Conv2d may differ), average/sum pooling and max pooling.

    ReLU and Flatten keep their default (relevance passes unchanged, as Zennit's
    ``Pass`` and Captum's activation rule).  Layers the peer has no rule for
    (LRN, p-norm pooling) raise a ValueError.
    """

    params = ("peer", "name")

    def __init__(self, peer, name, conv, dense, pool, first_conv=None):
        self.peer, self.name = peer, name
        self.conv, self.dense, self.pool, self.first_conv = conv, dense, pool, first_conv

    def assign(self, layers):
        out, first_seen = [], False
        for i, layer in enumerate(layers):
            if isinstance(layer, Conv2d):
                out.append(self.first_conv if self.first_conv is not None and not first_seen else self.conv)
                first_seen = True
            elif isinstance(layer, Dense):
                out.append(self.dense)
            elif isinstance(layer, (AvgPool2d, SumPool2d)):
                out.append(self.pool)
            elif isinstance(layer, MaxPool2d):
                out.append(WinnerTakeAll(ties="first"))
            elif getattr(layer, "passes_relevance", False):
                out.append(None)
            else:
                raise ValueError(f"{self.peer} {self.name}: no mapping for layer {i} ({type(layer).__name__})")
        return out


def _no_bias(zero_params, name):
    if zero_params is None:
        return False
    names = [zero_params] if isinstance(zero_params, str) else list(zero_params)
    if names != ["bias"]:
        raise ValueError(f"zennit {name}: only zero_params='bias' is mapped, got {zero_params!r}")
    return True


def _zennit_rule(name, epsilon, stabilizer, gamma, alpha, beta, low, high, zero_params):
    no_bias = _no_bias(zero_params, name)
    if no_bias and name in ("Epsilon", "AlphaBeta"):
        raise ValueError(f"zennit {name}: zero_params='bias' has no dtd setting (dtd keeps the bias in this rule)")
    if name == "Epsilon":
        return Epsilon(epsilon)
    if name == "ZPlus":
        return ZPlus(epsilon=stabilizer, bias="none" if no_bias else "positive")
    if name == "AlphaBeta":
        return AlphaBeta(alpha, beta, epsilon=stabilizer)
    if name == "Gamma":
        return Gamma(gamma, epsilon=stabilizer, bias="none" if no_bias else "gamma", generalized=True)
    if name == "WSquare":
        return WSquare(epsilon=stabilizer, bias="none" if no_bias else "square")
    if name == "Flat":
        return Flat(epsilon=stabilizer)
    if name == "ZBox":
        if low is None or high is None:
            raise ValueError("zennit ZBox: give low and high")
        return ZBox(low, high, epsilon=stabilizer)
    raise ValueError(f"unknown Zennit rule or composite {name!r}; known: {', '.join(ZENNIT_NAMES)}")


def zennit(name, *, epsilon=1e-6, stabilizer=1e-6, gamma=0.25, alpha=2.0, beta=1.0, low=None, high=None,
           zero_params=None):
    """The dtd composite that reproduces Zennit 0.5.1's rule or composite ``name``.

    Parameters
    ----------
    name : str
        One of :data:`ZENNIT_NAMES`.
    epsilon, stabilizer, gamma, alpha, beta, low, high, zero_params
        Zennit's arguments of the same names, with Zennit's defaults.  ``low``
        and ``high``: scalars or arrays shaped like one input (Zennit's
        ``(1, C, 1, 1)`` tensors become ``(C, 1, 1)``).

    Returns
    -------
    PeerComposite

    Raises
    ------
    ValueError
        Unknown name, or a setting dtd cannot reproduce.
    """
    rule = lambda n: _zennit_rule(n, epsilon, stabilizer, gamma, alpha, beta, low, high, zero_params)  # noqa: E731
    pool = Epsilon(stabilizer)           # Zennit's Norm rule on average pooling
    if name == "EpsilonPlus":
        return PeerComposite("zennit", name, rule("ZPlus"), rule("Epsilon"), pool)
    if name == "EpsilonAlpha2Beta1":
        return PeerComposite("zennit", name, _zennit_rule("AlphaBeta", epsilon, stabilizer, gamma, 2.0, 1.0, low,
                                                          high, zero_params), rule("Epsilon"), pool)
    if name == "EpsilonGammaBox":
        return PeerComposite("zennit", name, rule("Gamma"), rule("Epsilon"), pool, first_conv=rule("ZBox"))
    r = rule(name)
    return PeerComposite("zennit", name, r, r, pool)


def captum(name, *, epsilon=1e-9, gamma=0.25, set_bias_to_zero=False):
    """The dtd composite that reproduces Captum 0.9.0's ``LRP`` with rule ``name`` on every Linear/Conv2d.

    ``Alpha1_Beta0_Rule`` is reproduced for inputs ``x >= 0`` only (every layer
    after a ReLU): on signed inputs Captum computes ``x_i w_ij^+``, which is
    not ``max(0, x_i w_ij)`` (see ``docs/backends.md``).  Captum's max pooling
    (``EpsilonRule()``) scales the winner's relevance by
    ``x_max / (x_max + 1e-9)``; dtd's winner-take-all does not, a relative
    difference of ``1e-9 / x_max``.

    Parameters
    ----------
    name : str
        One of :data:`CAPTUM_NAMES`.
    epsilon : float
        ``EpsilonRule(epsilon)``.
    gamma, set_bias_to_zero
        ``GammaRule(gamma, set_bias_to_zero)``, ``Alpha1_Beta0_Rule(set_bias_to_zero)``.
    """
    bias = "none" if set_bias_to_zero else "plain"
    if name == "EpsilonRule":
        r = Epsilon(epsilon)
    elif name == "GammaRule":
        r = Gamma(gamma, epsilon=CAPTUM_STABILITY, bias=bias)
    elif name == "Alpha1_Beta0_Rule":
        r = ZPlus(epsilon=CAPTUM_STABILITY, bias=bias)
    else:
        raise ValueError(f"unknown Captum rule {name!r}; known: {', '.join(CAPTUM_NAMES)}")
    return PeerComposite("captum", name, r, r, Epsilon(CAPTUM_STABILITY))
