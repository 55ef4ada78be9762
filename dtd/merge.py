"""Nodes of a :class:`dtd.Graph` that join branches: :class:`Concat` and :class:`Add`.

They take a list of inputs (one per branch) and give one output.  Each has
``forward(xs)``, ``backward(xs, grad_y)`` (the gradient, one array per branch)
and ``relevance(xs, R)`` (one relevance per branch), like the layers.
"""
import numpy as np

from .rules.base import safe_divide, stabilize

__all__ = ["Merge", "Concat", "Add"]


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
        """Raise TypeError unless ``rule`` is None or an :class:`~dtd.rules.Epsilon` (the z-rule of a sum)."""
        from .rules import Epsilon
        if rule is not None and type(rule) is not Epsilon:
            raise TypeError(f"Add takes the rule Epsilon (the z-rule of a sum, with a stabiliser) or None, "
                            f"got {type(rule).__name__}")

    def relevance(self, xs, R, rule=None):
        """One relevance array per branch; ``rule`` (None or :class:`~dtd.rules.Epsilon`) sets the stabiliser."""
        self.check_rule(rule)
        xs = self._check(xs)
        eps = self.epsilon if rule is None else rule.epsilon
        s = safe_divide(R, stabilize(self.forward(xs), eps)).astype(R.dtype, copy=False)
        return [x * s for x in xs]
