"""Sequential networks: forward, gradient, and the relevance backward pass."""
import numpy as np

from ._validation import all_finite, check_input, check_vanished, reports_float_errors
from .layers.base import Layer, LinearLayer
from .rules.base import LinearRule, Rule

__all__ = ["Sequential", "Relevances", "start_relevance", "resolve_target", "single_rule_applies"]


def resolve_target(out, target):
    """Target index per sample from ``None`` (argmax), an int, or an int array of length N.

    ``out`` is the network output flattened per sample, shape (N, K).

    >>> resolve_target(np.array([[0.0, 2.0], [3.0, 1.0]]), None).tolist()
    [1, 0]
    """
    N, K = out.shape
    if target is None:
        return out.argmax(axis=1)
    t = np.asarray(target)
    if not np.issubdtype(t.dtype, np.integer):
        raise TypeError(f"target must be an int or an int array, got dtype {t.dtype}")
    if t.ndim == 0:
        t = np.full(N, int(t))
    if t.shape != (N,):
        raise ValueError(f"target must be an int or have one entry per sample ({N}), got shape {t.shape}")
    if t.min() < 0 or t.max() >= K:
        raise ValueError(f"target out of range: the network has {K} outputs, got {t.min()}..{t.max()}")
    return t.astype(np.intp)


def check_ties(ties):
    """``ties`` of a gradient: ``"split"`` or ``"first"`` (ValueError otherwise)."""
    if ties not in ("split", "first"):
        raise ValueError(f"gradient: ties must be 'split' or 'first', got {ties!r}")


def backward_with_ties(layer, x, grad_y, ties):
    """``layer.backward(x, grad_y)``; on max pooling with ``ties="first"``, the gradient of a window goes to
    its first maximum (:meth:`dtd.layers.MaxPool2d.spread_to_winners`)."""
    if ties == "first" and hasattr(layer, "spread_to_winners"):
        return layer.spread_to_winners(x, grad_y, ties="first")
    return layer.backward(x, grad_y)


def single_rule_applies(rule, layer):
    """Whether ``rule``, given as the one rule of a whole network (``explain(x, rule)``,
    :class:`dtd.composites.Uniform`), goes to ``layer``: wherever it applies, except that sum and average
    pooling (:class:`~dtd.layers.SumPool2d` and its subclasses) keep their own default (LRP-0, the
    proportional rule) under a linear rule.

    Pooling has no weights for a rule like alpha-beta, gamma or z+ to act on: ``AlphaBeta(2, 1)`` there
    sends ``2 R`` (no negative part), so one such rule would not be conservative on a network with average
    pooling.  Zennit (a rule given for ``Linear`` layers; ``Norm`` on average pooling) and iNNvestigate
    (rules on layers with kernels) do the same.  A rule meant for pooling itself (``Proportional``,
    ``WinnerTakeAll``) still goes to pooling, and a list, dict or composite assigns any rule to any layer.

    >>> from dtd.layers import AvgPool2d, Conv2d
    >>> from dtd.rules import AlphaBeta, Proportional
    >>> single_rule_applies(AlphaBeta(2, 1), Conv2d(np.ones((1, 1, 1, 1))))
    True
    >>> single_rule_applies(AlphaBeta(2, 1), AvgPool2d(2)), single_rule_applies(Proportional(), AvgPool2d(2))
    (False, True)
    """
    if not rule.applies_to(layer):
        return False
    from .layers.pooling import MaxPool2d, SumPool2d
    return not (isinstance(rule, LinearRule) and isinstance(layer, (SumPool2d, MaxPool2d)))


def rule_for(layer, rule):
    """``rule``, or ``layer``'s default rule when None; TypeError if it does not apply to the layer."""
    rule = layer.default_rule() if rule is None else rule
    layer.check_rule(rule)
    return rule


def record(layer, rule, x):
    """One layer of explain's forward pass: ``(output, prepared)``.

    A linear rule on a linear layer computes the output together with the
    denominators it can share the product with (:meth:`dtd.rules.LinearRule.forward`);
    any other layer runs its plain forward (prepared None).
    """
    x = layer._check(x, finite=False)     # the network checked its input for NaN/Inf, and checks the end
    if isinstance(rule, LinearRule) and isinstance(layer, LinearLayer):
        return rule.forward(layer, x)
    return layer._forward(x), None


def check_explained(R, where, start=None):
    """The input relevance ``R`` of an explanation, if it has no NaN or Inf (checked once, at the end of
    the pass); ``where`` names the unit ``return_all=True`` reports on ("layer" or "node").  With the
    starting relevance ``start``, a :class:`~dtd._validation.RelevanceWarning` for samples whose relevance
    vanished (:func:`dtd._validation.check_vanished`)."""
    if not all_finite(R):
        raise ValueError("explain: the input relevance contains NaN or Inf (an overflow in the forward or "
                         f"relevance pass; explain(..., return_all=True) shows the relevance at every {where})")
    if start is not None:
        check_vanished(R, start)
    return R


def start_relevance(out, target):
    """Starting relevance: ``f_c(x)`` at the target neuron c, zero elsewhere (DESIGN.md convention).

    Parameters
    ----------
    out : ndarray, shape (N, ...)
        Network output.
    target : None, int or int array (N,)

    Returns
    -------
    R : ndarray, shape of ``out``
    target : ndarray (N,) of int

    >>> R, t = start_relevance(np.array([[1.0, -2.0, 0.5]]), None)
    >>> R.tolist(), t.tolist()
    ([[1.0, 0.0, 0.0]], [0])
    """
    flat = out.reshape(out.shape[0], -1)
    t = resolve_target(flat, target)
    R = np.zeros_like(flat)
    idx = np.arange(flat.shape[0])
    R[idx, t] = flat[idx, t]
    return R.reshape(out.shape), t


class Relevances(list):
    """What ``Sequential.explain(..., return_all=True)`` returns: the relevances ``[R_input, R_1, ..., R_output]``
    (a list), with ``.rules`` (the rule each layer used, defaults resolved) and ``.notes`` (``{layer index:
    why its rule differs from what the composite assigned}``, e.g. the generalised gamma rule on a layer whose
    output is not ReLU-gated)."""

    rules = ()
    notes = {}


class Sequential:
    """A chain of layers.

    Parameters
    ----------
    layers : list of Layer
        Kept as ``.layers``.

    >>> from dtd.layers import Dense, ReLU
    >>> net = Sequential([Dense([[1.0, 1.0]], [0.0]), ReLU()])
    >>> net.forward(np.array([[1.0, 2.0]])).tolist()
    [[3.0]]
    >>> net.explain(np.array([[1.0, 2.0]]), None).tolist()
    [[1.0, 2.0]]
    """

    def __init__(self, layers):
        layers = list(layers)
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"Sequential: entry {i} is a {type(layer).__name__}, not a dtd layer")
        if not layers:
            raise ValueError("Sequential: needs at least one layer")
        self.layers = layers

    def __repr__(self):
        inner = ",\n".join(f"  ({i}) {layer!r}" for i, layer in enumerate(self.layers))
        return f"Sequential(\n{inner}\n)"

    def __len__(self):
        return len(self.layers)

    def freeze(self):
        """Declare the weights fixed: every layer's parameter arrays become read-only (a write to one raises
        ``ValueError``), and what the rules derive from them (``max(0, W)``, ``W + gamma W^+``, stacked and
        flipped kernels) is kept from one explanation to the next (:mod:`dtd.frozen`; bounded, at most
        ``dtd.frozen.FACTOR`` times the weights' bytes).  Results are the same as without freezing.
        Returns the network.

        >>> from dtd.layers import Dense
        >>> net = Sequential([Dense([[1.0, -1.0]], [0.0])]).freeze()
        >>> net.frozen, net.layers[0].weight.flags.writeable
        (True, False)
        >>> net.unfreeze().frozen
        False
        """
        from .frozen import freeze_ops
        freeze_ops(self.layers)
        return self

    def unfreeze(self):
        """Undo :meth:`freeze`: the arrays are writeable again (unless they were read-only before) and their
        cached derivations dropped.  Returns the network."""
        from .frozen import unfreeze_ops
        unfreeze_ops(self.layers)
        return self

    @property
    def frozen(self):
        """Whether every parameter array is frozen (:meth:`freeze`)."""
        from .frozen import ops_frozen
        return ops_frozen(self.layers)

    def _check(self, x):
        return check_input(x, "Sequential")

    def forward(self, x, return_all=False):
        """Output for the batch ``x``; with ``return_all`` the list of every layer's input and the output."""
        acts = [self._check(x)]
        if return_all:
            for layer in self.layers:
                acts.append(layer.forward(acts[-1]))
            return acts
        a, owned = acts[0], False                      # owned: a is an array this pass made (not x, nor a view of it)
        layers, i = self.layers, 0
        while i < len(layers):
            layer = layers[i]
            a_checked = layer._check(a, finite=False)  # x was checked for NaN/Inf above; the output is, below
            after = layers[i + 1] if i + 1 < len(layers) else None
            if isinstance(layer, LinearLayer) and getattr(after, "elementwise", False):
                # a linear layer and its ReLU in one pass: the ReLU runs on each piece of the output in cache
                y = layer._forward_then(a_checked, after._forward_inplace)
                after._check(y, finite=False)
                i += 2
            else:
                y = layer._forward_inplace(a_checked) if owned else layer._forward(a_checked)
                i += 1
            owned = owned if np.may_share_memory(y, a) else True
            a = y
        if not all_finite(a):
            raise ValueError("Sequential: the output contains NaN or Inf (an overflow inside the network; "
                             "forward(x, return_all=True) checks every layer's input and names the first bad one)")
        return a

    __call__ = forward

    def gradient(self, x, target=None, ties="split"):
        """Gradient of the target output ``f_c(x)`` w.r.t. ``x`` (shape of x), and the targets.

        ``ties``: where a max-pooling window has several maxima, ``"split"`` (the default) shares the
        gradient equally among them (the mean of the one-sided subgradients), ``"first"`` sends it all
        to the first in row-major order, as TensorFlow's and PyTorch's max-pooling gradients do
        (:meth:`dtd.layers.MaxPool2d.spread_to_winners`; iNNvestigate's ``gradient`` analyzer).
        """
        check_ties(ties)
        acts = self.forward(x, return_all=True)
        out = acts[-1]
        flat = out.reshape(out.shape[0], -1)
        t = resolve_target(flat, target)
        g = np.zeros_like(flat)
        g[np.arange(len(t)), t] = 1
        g = g.reshape(out.shape)
        for layer, a in zip(reversed(self.layers), reversed(acts[:-1])):
            g = backward_with_ties(layer, a, g, ties)
        return g, t

    def rule_list(self, rules):
        """One rule (or None = the layer's default) per layer, from any accepted form of ``rules``."""
        n = len(self.layers)
        if rules is None or isinstance(rules, Rule):
            return [rules if rules is not None and single_rule_applies(rules, l) else None for l in self.layers]
        if isinstance(rules, (list, tuple)):
            if len(rules) != n:
                raise ValueError(f"rules: got a list of {len(rules)} rules for {n} layers")
            for i, (r, l) in enumerate(zip(rules, self.layers)):
                if r is not None and not isinstance(r, Rule):
                    raise TypeError(f"rules[{i}] is a {type(r).__name__}, not a Rule")
            return list(rules)
        if hasattr(rules, "plan"):  # a dtd.composites.Composite: reads the whole network
            planned = rules.plan(self)[0]
            return self.rule_list([planned[str(i)] for i in range(n)])
        if hasattr(rules, "assign"):  # a composite-like object that sees the whole list
            return self.rule_list(list(rules.assign(self.layers)))
        if callable(rules):  # a composite: (index, layer) -> rule or None
            out = [rules(i, layer) for i, layer in enumerate(self.layers)]
            for i, r in enumerate(out):
                if r is not None and not isinstance(r, Rule):
                    raise TypeError(f"composite returned a {type(r).__name__} for layer {i}, not a Rule")
            return out
        raise TypeError(f"rules must be a Rule, a list of rules, or a composite; got {type(rules).__name__}")

    @reports_float_errors("explain")
    def explain(self, x, rules, target=None, return_all=False):
        """Relevance of the input for the target output.

        The relevance starts as ``f_c(x)`` at the target neuron c (argmax when
        ``target`` is None; an int, or an int array with one entry per sample)
        and zero elsewhere, and is passed back layer by layer.

        Parameters
        ----------
        x : ndarray, shape (N, ...)
        rules : Rule, list, or composite
            One rule (used on every layer it applies to, except that sum and
            average pooling keep their default under a linear rule: see
            :func:`single_rule_applies`; other layers use their default), a list
            with one entry per layer (None = default), or a callable
            ``(index, layer) -> rule``.
        target : None, int or int array (N,)
        return_all : bool
            Return the list of relevances at every layer's input and at the
            output (``[R_input, R_1, ..., R_output]``) instead of ``R_input``.

        Returns
        -------
        ndarray shaped like x, or list of ndarray
        """
        per_layer = [rule_for(layer, rule) for layer, rule in zip(self.layers, self.rule_list(rules))]
        acts, prepared = self._record(x, per_layer)
        R, _ = start_relevance(acts[-1], target)
        Rs = [R]
        for i in reversed(range(len(self.layers))):
            layer = self.layers[i]
            R = layer._relevance(acts[i], R, per_layer[i], out=acts[i + 1], prepared=prepared[i])
            Rs.append(R)
        check_explained(R, "layer", start=Rs[0])
        if not return_all:
            return R
        out = Relevances(Rs[::-1])
        out.rules = per_layer
        out.notes = {int(k): v for k, v in rules.plan(self)[1].items()} if hasattr(rules, "plan") else {}
        return out

    def _record(self, x, per_layer):
        """The forward pass of ``explain``: every layer's input and the output, and for each layer what its
        linear rule computed along with the layer's product (:meth:`dtd.rules.LinearRule.forward`)."""
        acts, prepared = [self._check(x)], []
        for layer, rule in zip(self.layers, per_layer):
            y, p = record(layer, rule, acts[-1])
            acts.append(y)
            prepared.append(p)
        return acts, prepared
