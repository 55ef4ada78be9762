"""dtd rules that reproduce Zennit's, Captum's, the LRP Toolbox's and iNNvestigate's (the mappings of
``docs/backends.md``, as code).

:func:`lrp_toolbox` and :func:`innvestigate` are held to the peers' stored outputs
(``data/golden/peers/``) by ``tests/test_crosscheck_toolbox.py`` and
``tests/test_crosscheck_innvestigate.py``; the rest of this docstring is about Zennit and Captum.

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

Graphs (:class:`dtd.Graph`, e.g. a ResNet loaded from ONNX): Zennit's
``Norm(stabilizer)`` on the ``Sum`` module of its ``ResNetCanonizer`` is
``Epsilon(stabilizer)`` on an ``Add`` node, and its ``Pass`` on a batch norm
that no canonizer merged is :class:`~dtd.rules.PassThrough` on an
:class:`~dtd.layers.Affine` layer.  Captum gives a tensor ``+`` its gradient
(the whole relevance to every summand), which no dtd rule reproduces:
``captum(...)`` refuses ``Add`` nodes.  Zennit's ``MergeBatchNorm`` leaves the
merged batch norm computing ``x / sqrt(1 + eps)``;
:func:`zennit_canonized` gives the torch model that computes the same, to
export and load instead of the original (``docs/backends.md``).

>>> from dtd.layers import Conv2d, Dense, Flatten, MaxPool2d, ReLU
>>> layers = [Conv2d(np.ones((1, 1, 1, 1))), ReLU(), MaxPool2d(1), Flatten(), Dense(np.ones((1, 1)))]
>>> zennit("EpsilonPlus").assign(layers)
[ZPlus(epsilon=1e-06, bias='positive'), None, WinnerTakeAll(ties='first'), None, Epsilon(epsilon=1e-06)]
>>> from dtd.merge import Add
>>> zennit("EpsilonPlus").merge_rule(Add())
Epsilon(epsilon=1e-06)
"""
import numpy as np

from ..composites import Composite
from ..layers import Affine, AvgPool2d, Conv2d, Dense, MaxPool2d, SumPool2d, ZeroPad2d
from ..merge import Add
from ..rules import AlphaBeta, Epsilon, Flat, Gamma, GradientPass, PassThrough, WinnerTakeAll, WSquare, ZBox, ZPlus

__all__ = ["PeerComposite", "zennit", "captum", "zennit_canonized", "lrp_toolbox", "ToolboxComposite",
           "ZENNIT_NAMES", "CAPTUM_NAMES", "TOOLBOX_NAMES", "innvestigate", "innvestigate_network",
           "InnvestigateComposite", "INNVESTIGATE_NAMES"]

ZENNIT_NAMES = ("Epsilon", "ZPlus", "AlphaBeta", "Gamma", "WSquare", "Flat", "ZBox",
                "EpsilonPlus", "EpsilonGammaBox", "EpsilonAlpha2Beta1")
CAPTUM_NAMES = ("EpsilonRule", "GammaRule", "Alpha1_Beta0_Rule")

#: Captum's stabiliser (``PropagationRule.STABILITY_FACTOR``), used by every rule but ``EpsilonRule(epsilon)``
CAPTUM_STABILITY = 1e-9


class PeerComposite(Composite):
    """Rules for Dense, Conv2d (the first Conv2d may differ), average/sum pooling, max pooling,
    Affine layers and residual ``Add`` nodes.

    ReLU and Flatten keep their default (relevance passes unchanged, as Zennit's
    ``Pass`` and Captum's activation rule).  Layers the peer has no rule for
    (LRN, p-norm pooling) raise a ValueError, and so do Affine layers and ``Add``
    nodes when ``affine`` / ``add`` is a string (why the peer cannot be
    reproduced there) instead of a rule.  ``Concat`` keeps its own split (a
    slice's gradient, in both peers).
    """

    params = ("peer", "name")
    #: the peer's rules exactly as it applies them (no signed variants: see dtd.composites)
    signed_variants = False

    def __init__(self, peer, name, conv, dense, pool, first_conv=None, add="no mapping", affine="no mapping"):
        self.peer, self.name = peer, name
        self.conv, self.dense, self.pool, self.first_conv = conv, dense, pool, first_conv
        self.add, self.affine = add, affine

    def merge_rule(self, op):
        """The peer's rule for a merge node: ``self.add`` on ``Add`` (ValueError if it is a reason), None otherwise."""
        if not isinstance(op, Add):
            return None
        if isinstance(self.add, str):
            raise ValueError(f"{self.peer} {self.name}: no mapping for an Add node: {self.add}")
        return self.add

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
            elif isinstance(layer, Affine):
                if isinstance(self.affine, str):
                    raise ValueError(f"{self.peer} {self.name}: no mapping for layer {i} (Affine): {self.affine}")
                out.append(self.affine)
            elif getattr(layer, "passes_relevance", False) or isinstance(layer, ZeroPad2d):
                out.append(None)     # ZeroPad2d: its Crop is the gradient of nn.ZeroPad2d, which both peers use
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
        Also for a :class:`dtd.Graph`: ``Add`` nodes get ``Epsilon(stabilizer)``
        (Zennit's ``Norm`` on the ``Sum`` module by which its ``ResNetCanonizer``
        replaces a residual ``+``: the z-rule of the sum,
        ``R_k = a_k R / (sum_k' a_k' + s sign(sum))``), Affine layers
        (batch norms no canonizer merged) :class:`~dtd.rules.PassThrough` (its
        ``Pass``), average pooling, global or adaptive, ``Epsilon(stabilizer)``
        (its ``Norm``; ``zennit.types.AvgPool`` includes ``AdaptiveAvgPool2d``).
        Load a model with batch norms from the export of
        :func:`zennit_canonized` to match Zennit's canonizers exactly.

    Raises
    ------
    ValueError
        Unknown name, or a setting dtd cannot reproduce.
    """
    rule = lambda n: _zennit_rule(n, epsilon, stabilizer, gamma, alpha, beta, low, high, zero_params)  # noqa: E731
    pool = Epsilon(stabilizer)           # Zennit's Norm rule on average pooling
    rest = dict(add=Epsilon(stabilizer), affine=PassThrough())    # Norm on ResNetCanonizer's Sum, Pass on BatchNorm
    if name == "EpsilonPlus":
        return PeerComposite("zennit", name, rule("ZPlus"), rule("Epsilon"), pool, **rest)
    if name == "EpsilonAlpha2Beta1":
        return PeerComposite("zennit", name, _zennit_rule("AlphaBeta", epsilon, stabilizer, gamma, 2.0, 1.0, low,
                                                          high, zero_params), rule("Epsilon"), pool, **rest)
    if name == "EpsilonGammaBox":
        return PeerComposite("zennit", name, rule("Gamma"), rule("Epsilon"), pool, first_conv=rule("ZBox"), **rest)
    r = rule(name)
    return PeerComposite("zennit", name, r, r, pool, **rest)


def zennit_canonized(model):
    r"""A copy of the torch ``model`` that computes what Zennit 0.5.1's ``MergeBatchNorm`` canonizers make it compute.

    Zennit's ``SequentialMergeBatchNorm`` (also inside ``ResNetCanonizer`` and
    ``VGGCanonizer``) merges every batch norm that directly follows a
    ``Linear``/``Conv*`` leaf (in the order of ``model``'s leaf modules) into
    that layer, and then resets the batch norm to ``mean 0, var 1, weight 1,
    bias 0`` but leaves its ``eps``, so that it computes :math:`x / \sqrt{1 + \epsilon}`,
    not the identity:

    .. math::

        W' = s W, \quad b' = s (b - \mu) + \beta, \quad s = \frac{\gamma}{\sqrt{\sigma^2 + \epsilon}},
        \qquad y = c\,(W' x + b'), \quad c = \frac{1}{\sqrt{1 + \epsilon}}.

    So the canonized model is the original with each merged batch norm's
    output scaled by :math:`c`; this copy has the same, written as the batch
    norm's ``weight`` and ``bias`` times :math:`c` (exporting it to ONNX and
    loading it gives dtd the network Zennit explains).  The reset batch norm
    passes relevance unchanged (``Pass``), so only the forward values differ.
    Shapes: any model; a ``(N, ...)`` input gives the model's output shape.

    Parameters
    ----------
    model : torch.nn.Module

    Returns
    -------
    torch.nn.Module
        A deep copy; ``model`` is not modified.

    Raises
    ------
    ValueError
        A batch norm Zennit would merge that has no affine parameters or no running statistics
        (Zennit's merge fails on it too).
    """
    import copy

    import torch
    linear = (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d,
              torch.nn.ConvTranspose1d, torch.nn.ConvTranspose2d, torch.nn.ConvTranspose3d)
    norms = (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.BatchNorm3d)
    out = copy.deepcopy(model)

    def leaves(m):                  # zennit.core.collect_leaves: depth first, in registration order
        children = list(m.children())
        if not children:
            yield m
        for c in children:
            yield from leaves(c)

    last = None
    for leaf in leaves(out):
        if isinstance(last, linear) and isinstance(leaf, norms):
            if leaf.weight is None or leaf.running_var is None:
                raise ValueError(f"zennit_canonized: {leaf} has no affine parameters or running statistics")
            with torch.no_grad():
                c = 1.0 / (1.0 + leaf.eps) ** 0.5
                leaf.weight.mul_(c)
                leaf.bias.mul_(c)
        last = leaf
    return out


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
    refuse = dict(add="Captum's LRP gives a tensor '+' (a residual sum) its gradient, so every summand receives "
                      "the whole relevance of the sum; no dtd rule does that",
                  affine="an unfolded per-channel affine map (batch norm) is not mapped for Captum (its default "
                         "for BatchNorm2d is EpsilonRule(), not tested here)")
    if name == "EpsilonRule":
        r = Epsilon(epsilon)
    elif name == "GammaRule":
        r = Gamma(gamma, epsilon=CAPTUM_STABILITY, bias=bias)
    elif name == "Alpha1_Beta0_Rule":
        r = ZPlus(epsilon=CAPTUM_STABILITY, bias=bias)
    else:
        raise ValueError(f"unknown Captum rule {name!r}; known: {', '.join(CAPTUM_NAMES)}")
    return PeerComposite("captum", name, r, r, Epsilon(CAPTUM_STABILITY), **refuse)


#: the LRP Toolbox's rule names (``lrp_var`` of its ``nn.lrp(R, lrp_var, param)``)
TOOLBOX_NAMES = ("simple", "epsilon", "alphabeta", "ww", "flat")
#: the Toolbox's "weak default stabiliser" of Linear/Convolution ('simple', 'alphabeta') and SumPool ('simple')
TOOLBOX_STABILITY, TOOLBOX_SUMPOOL_STABILITY = 1e-16, 1e-12


class ToolboxComposite(PeerComposite):
    """The LRP Toolbox's one rule on every layer (see :func:`lrp_toolbox`): Dense/Conv2d get ``dense``,
    (scaled) sum pooling ``pool(scale)``, max pooling ``maxpool`` (a reason string: ValueError)."""

    def __init__(self, name, dense, pool, maxpool):
        super().__init__("LRP Toolbox", name, dense, dense, None)
        self.pool_for, self.maxpool = pool, maxpool

    def assign(self, layers):
        from ..layers import Tanh, Transpose
        out = []
        for i, layer in enumerate(layers):
            if isinstance(layer, (Conv2d, Dense)):
                out.append(self.conv)
            elif isinstance(layer, SumPool2d) and not isinstance(layer, AvgPool2d):
                out.append(self.pool_for(float(getattr(layer, "scale", 1.0))))
            elif isinstance(layer, MaxPool2d):
                if isinstance(self.maxpool, str):
                    raise ValueError(f"LRP Toolbox {self.name}: no mapping for layer {i} (MaxPool2d): {self.maxpool}")
                out.append(self.maxpool)
            elif getattr(layer, "passes_relevance", False) or isinstance(layer, (Tanh, Transpose)):
                out.append(None)     # Rect, Tanh, Flatten (and the reader's Transpose): R passes unchanged
            else:
                raise ValueError(f"LRP Toolbox {self.name}: no mapping for layer {i} ({type(layer).__name__}); "
                                 "the Toolbox has Linear, Convolution, SumPool, MaxPool, Rect, Tanh, Flatten")
        return out


def lrp_toolbox(rule, param=None):
    r"""The dtd composite that reproduces the LRP Toolbox's ``nn.lrp(R, rule, param)`` (Python, commit 1c9efda).

    For a network read by :func:`dtd.io.load_lrp_toolbox` (``SumPool h w``
    is :class:`~dtd.layers.ScaledSumPool2d` with scale :math:`c = 1/\sqrt{hw}`).
    The Toolbox's ``SumPool`` divides by the *unscaled* window sum
    :math:`S_j = y_j / c` plus its stabiliser, so a stabiliser ``e`` there is
    dtd's ``Epsilon(c e)`` on the scaled layer:

    .. math::

        \frac{x_i R_j}{S_j + e\,\mathrm{sign}(S_j)} = \frac{c x_i R_j}{c S_j + c e\,\mathrm{sign}(S_j)}.

    ========== ==================================== ================================== ===================
    rule       Dense, Conv2d                        ScaledSumPool2d (scale c)          MaxPool2d
    ========== ==================================== ================================== ===================
    simple     ``Epsilon(1e-16)``                   ``Epsilon(1e-12 c)``               ``WinnerTakeAll()``
    epsilon e  ``Epsilon(e)``                       ``Epsilon(e c)``                   ``WinnerTakeAll()``
    alphabeta  ``AlphaBeta(a, a-1, epsilon=1e-16)`` ``AlphaBeta(a, a-1, eps=1e-16 c)`` ``WinnerTakeAll()``
    ww         ``WSquare()``                        ``Flat()``                         ``Flat()``
    flat       ``Flat()``                           ``Flat()``                         ``Flat()``
    ========== ==================================== ================================== ===================

    The Toolbox starts from the ``R`` passed to it; its demo passes
    ``ypred * one_hot(argmax)``, which is dtd's start ``f_c(x)`` (``target=None``).

    Parameters
    ----------
    rule : str
        One of :data:`TOOLBOX_NAMES`.
    param : float
        ``epsilon`` for 'epsilon', ``alpha`` for 'alphabeta' (the Toolbox's
        ``beta = 1 - alpha`` is *added*, so alpha = 2 is dtd's ``AlphaBeta(2, 1)``).

    Returns
    -------
    ToolboxComposite

    Raises
    ------
    ValueError
        Unknown rule, a missing parameter; when assigned: layers the Toolbox
        does not have.  ('ww'/'flat' on a MaxPool spread R uniformly over the
        window: ``Flat()`` on ``MaxPool2d``.)

    Notes
    -----
    'alphabeta' on ``SumPool`` with *negative* inputs is not reproduced: the
    Toolbox's ``SumPool._alphabeta_lrp`` multiplies its beta part by ``R``
    twice (``beta * Zn * (R / Zsn) * R``).  Pooling after ``Rect`` (as in its
    models) has no negative inputs, and there both give ``alpha R``.

    >>> from dtd.layers import Conv2d, MaxPool2d, ReLU, ScaledSumPool2d
    >>> layers = [Conv2d(np.ones((1, 1, 1, 1))), ReLU(), ScaledSumPool2d(2), MaxPool2d(1)]
    >>> lrp_toolbox("epsilon", 0.01).assign(layers)
    [Epsilon(epsilon=0.01), None, Epsilon(epsilon=0.005), WinnerTakeAll(ties='split')]
    """
    if rule == "simple":
        return ToolboxComposite(rule, Epsilon(TOOLBOX_STABILITY), lambda c: Epsilon(TOOLBOX_SUMPOOL_STABILITY * c),
                                WinnerTakeAll())
    if rule in ("epsilon", "alphabeta") and param is None:
        raise ValueError(f"LRP Toolbox {rule!r}: give param (epsilon, or alpha)")
    if rule == "epsilon":
        e = float(param)
        return ToolboxComposite(rule, Epsilon(e), lambda c: Epsilon(e * c), WinnerTakeAll())
    if rule == "alphabeta":
        a = float(param)
        return ToolboxComposite(rule, AlphaBeta(a, a - 1, epsilon=TOOLBOX_STABILITY),
                                lambda c: AlphaBeta(a, a - 1, epsilon=TOOLBOX_STABILITY * c), WinnerTakeAll())
    if rule == "ww":
        return ToolboxComposite(rule, WSquare(), lambda c: Flat(), Flat())
    if rule == "flat":
        return ToolboxComposite(rule, Flat(), lambda c: Flat(), Flat())
    raise ValueError(f"unknown LRP Toolbox rule {rule!r}; known: {', '.join(TOOLBOX_NAMES)}")


#: iNNvestigate 2.1.2's analyzers that :func:`innvestigate` maps (``innvestigate.analyzer.analyzers`` names)
INNVESTIGATE_NAMES = ("lrp.z", "lrp.epsilon", "lrp.w_square", "lrp.flat", "lrp.alpha_beta", "lrp.alpha_2_beta_1",
                      "lrp.alpha_2_beta_1_IB", "lrp.alpha_1_beta_0", "lrp.alpha_1_beta_0_IB", "lrp.z_plus",
                      "lrp.z_plus_fast", "lrp.sequential_preset_a", "lrp.sequential_preset_b",
                      "lrp.sequential_preset_a_flat", "lrp.sequential_preset_b_flat", "deep_taylor",
                      "deep_taylor.bounded", "input_t_gradient")


class InnvestigateComposite(PeerComposite):
    """iNNvestigate's rules (see :func:`innvestigate`): ``dense``/``conv`` on Dense/Conv2d (``first`` on the
    first of them, if given), ``pool`` on average pooling, the gradient on max pooling
    (``WinnerTakeAll(ties='first')``),
    ``relu`` on ReLU layers, the gradient (a reshape) on Flatten."""

    def __init__(self, name, conv, dense, pool, relu, first=None):
        super().__init__("iNNvestigate", name, conv, dense, pool)
        self.relu, self.first = relu, first

    def assign(self, layers):
        from ..layers import Flatten, ReLU
        out, first_seen = [], False
        for i, layer in enumerate(layers):
            if isinstance(layer, (Conv2d, Dense)):
                rule = self.conv if isinstance(layer, Conv2d) else self.dense
                out.append(self.first if self.first is not None and not first_seen else rule)
                first_seen = True
            elif isinstance(layer, AvgPool2d):
                out.append(self.pool)
            elif isinstance(layer, MaxPool2d):
                out.append(WinnerTakeAll(ties="first"))
            elif isinstance(layer, ReLU):
                out.append(self.relu)
            elif isinstance(layer, Flatten):
                out.append(None)
            else:
                raise ValueError(f"iNNvestigate {self.name}: no mapping for layer {i} ({type(layer).__name__}); "
                                 "mapped and tested: Dense, Conv2d, AvgPool2d, MaxPool2d, ReLU, Flatten")
        return out


def innvestigate(name, *, relu_layers=False, epsilon=None, alpha=None, beta=None, low=None, high=None):
    r"""The dtd composite that reproduces iNNvestigate 2.1.2's analyzer ``name`` (``create_analyzer(name, model)``).

    For a Keras ``Sequential``-style model of ``Dense``/``Conv2D`` (ReLU or linear activation),
    ``MaxPooling2D``, ``AveragePooling2D``, ``Flatten`` and ``keras.layers.ReLU``, loaded into dtd
    with each fused ReLU as a :class:`~dtd.layers.ReLU` layer.  iNNvestigate's ``max_activation``
    selection starts from the largest output ``f_c(x)``, its ``index`` selection from ``f_c(x)`` at
    the index: dtd's start with ``target=None`` or ``target=c`` (both measured).

    ================================ ======================================================================
    analyzer                         dtd rule on Dense and Conv2d
    ================================ ======================================================================
    ``lrp.z``, ``input_t_gradient``  ``Epsilon(0)``
    ``lrp.epsilon`` (e = 1e-7)       ``Epsilon(e)``
    ``lrp.w_square``                 ``WSquare()``
    ``lrp.flat``                     ``Flat()``
    ``lrp.alpha_beta`` (a, b)        ``AlphaBeta(a, b, bias="whole")``
    ``lrp.alpha_2_beta_1``           ``AlphaBeta(2, 1, bias="whole")`` (``_IB``: ``bias="none"``)
    ``lrp.alpha_1_beta_0``           ``AlphaBeta(1, 0, bias="whole")`` (``_IB``: ``bias="none"``)
    ``lrp.z_plus``                   ``ZPlus()`` (= ``AlphaBeta(1, 0, bias="none")``)
    ``lrp.z_plus_fast``              ``ZPlus()`` (inputs ``x >= 0`` only: iNNvestigate computes ``x w^+``)
    ``lrp.sequential_preset_a``      Dense ``Epsilon(e)`` (e = 0.1), Conv2d ``AlphaBeta(1, 0, bias="whole")``
    ``lrp.sequential_preset_b``      Dense ``Epsilon(e)`` (e = 0.1), Conv2d ``AlphaBeta(2, 1, bias="whole")``
    ``..._flat``                     the same, ``Flat()`` on the first Dense/Conv2d
    ``deep_taylor``                  ``ZPlus()``; average pooling its gradient (``Flat()``)
    ``deep_taylor.bounded``          the same, ``ZBox(low, high)`` on the first Dense/Conv2d
    ================================ ======================================================================

    Everywhere: average pooling ``Epsilon(0)`` (iNNvestigate's z-rule; ``deep_taylor``: ``Flat()``),
    max pooling its gradient, ``WinnerTakeAll(ties="first")``, Flatten its gradient (a reshape).  A ReLU
    fused into a Keras layer passes relevance (``PassThrough``); a separate ``keras.layers.ReLU``
    (``relu_layers=True``: every dtd ReLU is one) is reversed by its gradient,
    :class:`~dtd.rules.GradientPass` (under ``deep_taylor`` too).  ``deep_taylor``
    appends a ``keras.layers.ReLU`` to the model's output (its ``_prepare_model``): explain the
    network :func:`innvestigate_network` returns, whose start is :math:`\max(0, f_c(x))`.
    Not reproduced (measured in ``tests/test_crosscheck_innvestigate.py``): ``lrp.z_plus_fast`` on
    signed inputs (it computes :math:`x_i w_{ij}^+ / \sum_{i'} x_{i'} w_{i'j}^+` there, which no dtd
    rule does; after a ReLU it is ``ZPlus()``).  ``gradient`` is :meth:`dtd.Sequential.gradient` with
    ``ties="first"`` (TensorFlow sends a tied window's gradient to its first maximum).
    iNNvestigate's ``safe_divide`` adds ``1e-7`` to a denominator that is exactly 0, dtd sends 0:
    they differ only where a neuron's denominator is exactly 0 and one of its messages is not.

    Parameters
    ----------
    name : str
        One of :data:`INNVESTIGATE_NAMES`; ``"gradient"`` is not a relevance (ValueError: use
        :meth:`dtd.Sequential.gradient`).
    relu_layers : bool
        Whether the Keras model's ReLUs are separate ``keras.layers.ReLU`` layers (else fused activations).
    epsilon, alpha, beta, low, high
        The analyzer's parameters (iNNvestigate's defaults: ``epsilon`` 1e-7 for ``lrp.epsilon``, 0.1 for
        the presets; ``low``/``high`` required for ``deep_taylor.bounded``).

    Returns
    -------
    InnvestigateComposite

    >>> from dtd.layers import Conv2d, Dense, Flatten, MaxPool2d, ReLU
    >>> layers = [Conv2d(np.ones((1, 1, 1, 1))), ReLU(), MaxPool2d(1), Flatten(), Dense(np.ones((1, 1)))]
    >>> innvestigate("lrp.sequential_preset_b").assign(layers)[:3]
    [AlphaBeta(alpha=2.0, beta=1.0, epsilon=0.0, bias='whole'), None, WinnerTakeAll(ties='first')]
    """
    relu = GradientPass() if relu_layers else None
    z = Epsilon(0.0)
    if name in ("lrp.z", "input_t_gradient"):
        return InnvestigateComposite(name, z, z, z, relu)
    if name == "lrp.epsilon":
        r = Epsilon(1e-7 if epsilon is None else epsilon)
        return InnvestigateComposite(name, r, r, z, relu)
    if name in ("lrp.w_square", "lrp.flat"):
        r = WSquare() if name == "lrp.w_square" else Flat()
        return InnvestigateComposite(name, r, r, z, relu)
    ab = {"lrp.alpha_2_beta_1": (2.0, 1.0, "whole"), "lrp.alpha_2_beta_1_IB": (2.0, 1.0, "none"),
          "lrp.alpha_1_beta_0": (1.0, 0.0, "whole"), "lrp.alpha_1_beta_0_IB": (1.0, 0.0, "none")}
    if name == "lrp.alpha_beta":
        if alpha is None or beta is None:
            raise ValueError("iNNvestigate lrp.alpha_beta: give alpha and beta")
        ab[name] = (alpha, beta, "whole")
    if name in ab:
        a, b, bias = ab[name]
        r = AlphaBeta(a, b, bias=bias)
        return InnvestigateComposite(name, r, r, z, relu)
    if name in ("lrp.z_plus", "lrp.z_plus_fast"):
        return InnvestigateComposite(name, ZPlus(), ZPlus(), z, relu)
    if name.startswith("lrp.sequential_preset_"):
        kind = name[len("lrp.sequential_preset_"):]
        if kind not in ("a", "b", "a_flat", "b_flat"):
            raise ValueError(f"unknown iNNvestigate analyzer {name!r}")
        conv = AlphaBeta(1.0, 0.0, bias="whole") if kind[0] == "a" else AlphaBeta(2.0, 1.0, bias="whole")
        dense = Epsilon(0.1 if epsilon is None else epsilon)
        return InnvestigateComposite(name, conv, dense, z, relu, first=Flat() if kind.endswith("flat") else None)
    if name in ("deep_taylor", "deep_taylor.bounded"):
        first = None
        if name == "deep_taylor.bounded":
            if low is None or high is None:
                raise ValueError("iNNvestigate deep_taylor.bounded: give low and high")
            first = ZBox(low, high)
        return InnvestigateComposite(name, ZPlus(), ZPlus(), Flat(), relu, first=first)
    if name == "gradient":
        raise ValueError("iNNvestigate 'gradient' is the gradient of f_c (starting from 1), not a relevance: "
                         "dtd's net.gradient(x, target, ties='first') reproduces it")
    raise ValueError(f"unknown iNNvestigate analyzer {name!r}; known: {', '.join(INNVESTIGATE_NAMES)}")


def innvestigate_network(net, name):
    """The network iNNvestigate's analyzer ``name`` explains for the model ``net``: for ``deep_taylor`` and
    ``deep_taylor.bounded`` ``net`` with a :class:`~dtd.layers.ReLU` appended (its ``_prepare_model`` adds a
    ``keras.layers.ReLU`` on the output, so the start is ``max(0, f_c(x))``), else ``net`` itself.

    >>> from dtd.layers import Dense
    >>> from dtd.network import Sequential
    >>> n = innvestigate_network(Sequential([Dense(np.ones((1, 1)))]), "deep_taylor")
    >>> [type(layer).__name__ for layer in n.layers]
    ['Dense', 'ReLU']
    """
    if not name.startswith("deep_taylor"):
        return net
    from ..layers import ReLU
    from ..network import Sequential
    return Sequential(list(net.layers) + [ReLU()])
