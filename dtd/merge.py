"""Nodes of a :class:`dtd.Graph` that join branches: :class:`Concat`, :class:`Add` and :class:`Gate`.

They take a list of inputs (one per branch) and give one output.  Each has
``forward(xs)``, ``backward(xs, grad_y)`` (the gradient, one array per branch)
and ``relevance(xs, R)`` (one relevance per branch), like the layers.
"""
import numpy as np

from .rules.base import safe_divide, stabilize

__all__ = ["Merge", "Concat", "Add", "Gate"]


class Merge:
    """Base class of the multi-input nodes."""

    config_keys = ()
    array_keys = ()

    def default_rule(self):
        """The rule used when the composite gives none (None: the merge's own behaviour)."""
        return None

    def check_rule(self, rule):
        """Raise TypeError if ``rule`` does not apply to this merge (only None applies to :class:`Concat`)."""
        if rule is not None:
            raise TypeError(f"{type(self).__name__} takes no relevance rule (it splits relevance by slicing), "
                            f"got {type(rule).__name__}")

    def _check(self, xs):
        if not isinstance(xs, (list, tuple)) or len(xs) < 1:
            raise TypeError(f"{type(self).__name__}: expects a list of input arrays")
        for x in xs:
            if not isinstance(x, np.ndarray) or not np.issubdtype(x.dtype, np.floating):
                raise TypeError(f"{type(self).__name__}: inputs must be floating numpy arrays")
        self.output_shape([x.shape for x in xs])
        return xs

    def output_shape(self, shapes):
        raise NotImplementedError  # abstract

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={getattr(self, k)!r}' for k in self.config_keys)})"


class Concat(Merge):
    """Concatenation along ``axis`` (default 1, the channels of NCHW).

    Gradient and relevance are split back by slicing: each branch gets the
    part of the output it produced (conservative).

    >>> c = Concat(axis=1)
    >>> xs = [np.ones((1, 1)), np.zeros((1, 2))]
    >>> c.forward(xs).tolist()
    [[1.0, 0.0, 0.0]]
    >>> [r.tolist() for r in c.relevance(xs, np.array([[1.0, 2.0, 3.0]]))]
    [[[1.0]], [[2.0, 3.0]]]
    """

    config_keys = ("axis",)

    def __init__(self, axis=1):
        if int(axis) != axis or axis == 0:
            raise ValueError(f"Concat: axis must be a non-zero int (axis 0 is the batch), got {axis!r}")
        self.axis = int(axis)

    def _axis(self, ndim):
        a = self.axis + ndim if self.axis < 0 else self.axis
        if not 1 <= a < ndim:
            raise ValueError(f"Concat: axis {self.axis} does not fit inputs with {ndim} dimensions")
        return a

    def output_shape(self, shapes):
        shapes = [tuple(s) for s in shapes]
        a = self._axis(len(shapes[0]))
        rest = {s[:a] + s[a + 1:] for s in shapes}
        if len(rest) != 1 or len({len(s) for s in shapes}) != 1:
            raise ValueError(f"Concat: input shapes {shapes} differ off axis {self.axis}")
        out = list(shapes[0])
        out[a] = sum(s[a] for s in shapes)
        return tuple(out)

    def forward(self, xs):
        xs = self._check(xs)
        return np.concatenate(xs, axis=self._axis(xs[0].ndim))

    def _split(self, xs, y):
        a = self._axis(y.ndim)
        bounds = np.cumsum([x.shape[a] for x in xs])[:-1]
        return np.split(y, bounds, axis=a)

    def backward(self, xs, grad_y):
        return self._split(self._check(xs), grad_y)

    def relevance(self, xs, R, rule=None):
        self.check_rule(rule)
        return self._split(self._check(xs), R)


class Add(Merge):
    r"""Element-wise sum of branches of the same shape, :math:`y = \sum_k x_k`.

    The gradient is the identity to each branch.  The relevance is split in
    proportion to each branch's contribution (the z-rule of a sum):

    .. math:: R_k = \frac{x_k}{\sum_{k'} x_{k'} + \epsilon\,\mathrm{sign}(\sum_{k'} x_{k'})} R

    with ``sign(0) = +1``.  With ``epsilon = 0`` (the default, as LRP-0 on the
    linear layers) a zero sum sends nothing (0/0 := 0) and the split is exactly
    conservative wherever the sum is non-zero; branches of opposite signs can
    receive relevance larger than R in magnitude, which a stabiliser
    ``epsilon > 0`` damps (Zennit's rule for residual sums uses ``epsilon = 1e-6``)
    at the price of absorbing ``epsilon / (|sum| + epsilon)`` of R.

    A composite may give the node a rule: :class:`~dtd.rules.Epsilon` with
    stabiliser ``e`` replaces ``epsilon`` by ``e`` (Zennit's ``Norm`` rule on a
    residual sum is ``Epsilon(1e-6)``; dtd's named presets give it that).

    >>> add = Add()
    >>> xs = [np.array([[1.0]]), np.array([[3.0]])]
    >>> add.forward(xs).tolist()
    [[4.0]]
    >>> [r.tolist() for r in add.relevance(xs, np.array([[8.0]]))]
    [[[2.0]], [[6.0]]]
    """

    config_keys = ("epsilon",)

    def __init__(self, epsilon=0.0):
        if not epsilon >= 0:
            raise ValueError(f"Add: epsilon must be >= 0, got {epsilon!r}")
        self.epsilon = float(epsilon)

    def output_shape(self, shapes):
        shapes = [tuple(s) for s in shapes]
        if len(set(shapes)) != 1:
            raise ValueError(f"Add: branches must have the same shape, got {shapes}")
        return shapes[0]

    def forward(self, xs):
        xs = self._check(xs)
        out = xs[0].copy()
        for x in xs[1:]:
            out += x
        return out

    def backward(self, xs, grad_y):
        return [grad_y.copy() for _ in self._check(xs)]

    def check_rule(self, rule):
        """Raise TypeError unless ``rule`` is None, an :class:`~dtd.rules.Epsilon` (the z-rule of a sum) or a
        :class:`~dtd.rules.ZPlus` with ``signed=True`` (the sign-agreeing split)."""
        from .rules import Epsilon, ZPlus
        if rule is None or type(rule) is Epsilon or (type(rule) is ZPlus and rule.signed):
            return
        raise TypeError(f"Add takes the rule Epsilon (the z-rule of a sum, with a stabiliser), "
                        f"ZPlus(signed=True) (the branches that agree in sign with the sum) or None, "
                        f"got {rule!r}")

    def relevance(self, xs, R, rule=None):
        r"""One relevance array per branch.

        ``rule`` None or :class:`~dtd.rules.Epsilon`: the z-rule above (the rule's epsilon as stabiliser).
        ``ZPlus(signed=True)``: only the branches whose contribution agrees in sign with the sum receive
        relevance, in proportion to it,

        .. math:: R_k = \frac{[x_k]_\pm}{\sum_{k'} [x_{k'}]_\pm} R, \qquad \pm = \mathrm{sign}\Big(\sum_k x_k\Big),

        (z+ on the sum seen as a layer with weights 1, its signed variant): every branch gets a share in
        [0, 1] of R, so two branches that nearly cancel do not receive large relevances of opposite signs
        (which the z-rule gives them, and which any later absorption turns into a large error of the
        total); exactly conservative wherever the sum is non-zero.  dtd's named presets use it.

        >>> xs = [np.array([[5.0, 1.0]]), np.array([[-4.9, 2.0]])]
        >>> [np.round(r, 6).tolist() for r in Add().relevance(xs, np.array([[1.0, 3.0]]))]
        [[[50.0, 1.0]], [[-49.0, 2.0]]]
        >>> from dtd.rules import ZPlus
        >>> [r.tolist() for r in Add().relevance(xs, np.array([[1.0, 3.0]]), ZPlus(signed=True))]
        [[[1.0, 1.0]], [[0.0, 2.0]]]
        """
        self.check_rule(rule)
        xs = self._check(xs)
        z = self.forward(xs)
        if getattr(rule, "signed", False):
            # [x_k]_+ where z > 0, [x_k]_- where z < 0, 0 where z = 0: sign(z) max(sign(z) x_k, 0), exact
            # (a product by +-1 or 0), in three passes per branch
            sign = np.sign(z)
            parts = []
            for x in xs:
                p = np.multiply(x, sign)
                np.maximum(p, 0, out=p)
                p *= sign
                parts.append(p)
            total = parts[0].copy()
            for p in parts[1:]:
                total += p
            s = safe_divide(R, total).astype(R.dtype, copy=False)
            return [p * s for p in parts]
        eps = self.epsilon if rule is None else rule.epsilon
        s = safe_divide(R, stabilize(z, eps)).astype(R.dtype, copy=False)
        return [x * s for x in xs]


class Gate(Merge):
    r"""A signal times a gate, :math:`y = x \odot g` (squeeze-and-excitation, gated units).

    Two inputs, in this order: the *signal* ``x`` (N, C, ...) and the *gate* ``g``, of the same rank and
    batch size, each of its other axes either as long as the signal's or 1 (broadcast: MobileNetV3's
    squeeze-and-excitation gate ``hardsigmoid(fc2(relu(fc1(avgpool(x)))))`` is (N, C, 1, 1)).  The
    output has the signal's shape.

    Gradient: the product rule, each input gets ``grad * the other``, summed over the axes the gate
    is broadcast along.  Relevance: the gate is treated as a constant of the signal's neurons
    ("signal-take-all"), all relevance goes to the signal and none to the gate:

    .. math::

        R^{x}_{n, c, \dots} = R^{y}_{n, c, \dots}, \qquad R^{g} = 0 .

    Why: with ``g`` held fixed each output ``y_i = g_i x_i`` is a one-input linear neuron of the signal,
    whose only conservative redistribution (the z-rule of a single input, any sign) is ``R_x = R_y``.
    This is the standard LRP treatment of multiplicative gates: Arras et al. (2017, "Explaining recurrent
    neural network predictions in sentiment analysis", WASSA; and in Samek et al. (eds.), *Explainable AI*,
    LNCS 11700, 2019) give an LSTM's gated products all relevance to the signal, since the gate (a sigmoid
    in [0, 1]) only filters how much of the signal passes and its effect is already in the size of
    ``y`` and so of ``R``; Ali et al. (2022, "XAI for transformers: better explanations through
    conservative propagation", ICML) likewise detach attention's and LayerNorm's multiplicative factors
    so that relevance flows through the value path only, and show that propagating into the gates as
    well (the gradient's product rule) breaks conservation.  Splitting ``R`` between the two factors
    instead (e.g. in proportion to their log-contributions) has no root-point derivation here and would
    send relevance into the gate's branch, where it would be counted a second time: the gate is computed
    from the same ``x`` (through the average pool), so the branch's relevance would return to ``x``.
    The node is exactly conservative: ``sum R^x = sum R^y``; the gate branch receives zero relevance,
    so its layers (the squeeze-and-excitation convolutions) explain nothing.  It takes no rule
    (:meth:`check_rule`: only None).

    >>> gate = Gate()
    >>> xs = [np.array([[[1.0, 2.0], [3.0, 4.0]]]), np.array([[[0.5], [2.0]]])]
    >>> gate.forward(xs).tolist()
    [[[0.5, 1.0], [6.0, 8.0]]]
    >>> [r.tolist() for r in gate.relevance(xs, np.array([[[1.0, 1.0], [2.0, 3.0]]]))]
    [[[[1.0, 1.0], [2.0, 3.0]]], [[[0.0], [0.0]]]]
    >>> [g.tolist() for g in gate.backward(xs, np.ones((1, 2, 2)))]
    [[[[0.5, 0.5], [2.0, 2.0]]], [[[3.0], [7.0]]]]
    """

    def check_rule(self, rule):
        """Raise TypeError unless ``rule`` is None (the signal takes all the relevance)."""
        if rule is not None:
            raise TypeError(f"Gate takes no relevance rule (the signal takes all the relevance, the gate "
                            f"none), got {type(rule).__name__}")

    def output_shape(self, shapes):
        shapes = [tuple(s) for s in shapes]
        if len(shapes) != 2:
            raise ValueError(f"Gate: needs two inputs (signal, gate), got {len(shapes)}")
        x, g = shapes
        if len(g) != len(x) or len(x) < 2 or g[0] != x[0] or any(b not in (1, a) for a, b in zip(x[1:], g[1:])):
            raise ValueError(f"Gate: the gate's shape {g} must have the signal's rank and batch size and each "
                             f"other axis 1 or the signal's (signal {x})")
        return x

    def _broadcast_axes(self, x, g):
        return tuple(i for i in range(1, x.ndim) if g.shape[i] != x.shape[i])

    def forward(self, xs):
        x, g = self._check(xs)
        return x * g

    def backward(self, xs, grad_y):
        x, g = self._check(xs)
        return [grad_y * g, np.sum(grad_y * x, axis=self._broadcast_axes(x, g), keepdims=True)]

    def relevance(self, xs, R, rule=None):
        """``[R, 0]``: all relevance to the signal, none to the gate."""
        self.check_rule(rule)
        x, g = self._check(xs)
        return [R.astype(x.dtype, copy=True), np.zeros_like(g)]
