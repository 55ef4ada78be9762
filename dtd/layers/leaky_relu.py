"""Leaky rectifiers: a fixed negative slope (LeakyReLU) or a learned one per channel (PReLU)."""
import numpy as np

from .._validation import as_float_param
from .base import Layer

__all__ = ["LeakyReLU", "PReLU"]

_WHY = """
    Relevance (default: :class:`~dtd.rules.PassThrough`, ``R_x = R_y``): the activation is part of the neuron
    whose relevance the linear layer below redistributes, as for the ReLU; relevance is conserved exactly.
    The output is signed (negative where ``x < 0`` for a positive slope) and has the sign of the
    pre-activation, so a relevance that is proportional to the activation keeps its orientation with respect
    to the pre-activation when the layer below divides by it (LRP-0 / epsilon messages ``z_ij / z_j``).  A
    negative activation can carry relevance of either sign, so the layer below should use a rule valid for
    signed outputs (a composite must not treat this layer as a ReLU gate: ``nonnegative`` is False unless
    every slope is 0).  Zennit does the same: ``torch.nn.LeakyReLU`` and ``PReLU`` are in
    ``zennit.types.Activation``, which its built-in composites map to ``Pass``.  iNNvestigate passes only
    ``keras.layers.Activation`` layers through; its separate ``LeakyReLU`` / ``PReLU`` layers fall to its
    default gradient mapping, ``R_x = f'(x) R_y`` (which scales the relevance of negative inputs by the slope
    and does not conserve it).
"""


class LeakyReLU(Layer):
    __doc__ = r"""Leaky rectifier :math:`y = x` for :math:`x \ge 0`, :math:`y = \alpha x` for :math:`x < 0`; any shape.

    .. math:: y = \max(x, 0) + \alpha \min(x, 0)

    Parameters
    ----------
    alpha : float
        The slope for negative inputs (ONNX ``LeakyRelu`` and PyTorch default 0.01).

    Shapes: any (N, ...) -> same shape.

    Gradient: 1 for ``x > 0``, ``alpha`` for ``x <= 0`` (at the kink ``x = 0``: ``alpha``, the left
    derivative, as PyTorch's ``leaky_relu``).
    """ + _WHY + r"""
    >>> LeakyReLU(0.1).forward(np.array([[-2.0, 3.0]])).tolist()
    [[-0.2, 3.0]]
    >>> LeakyReLU(0.1).backward(np.array([[-2.0, 0.0, 3.0]]), np.ones((1, 3))).tolist()
    [[0.1, 0.1, 1.0]]
    """

    passes_relevance = True
    #: elementwise: a network's forward pass may apply it in place to each piece of the previous layer's output
    elementwise = True
    config_keys = ("alpha",)

    def __init__(self, alpha=0.01):
        alpha = float(alpha)
        if not np.isfinite(alpha):
            raise ValueError(f"LeakyReLU: alpha must be finite, got {alpha}")
        self.alpha = alpha

    @property
    def nonnegative(self):
        """True only when the slope is 0 (then it is a ReLU)."""
        return self.alpha == 0

    @property
    def gates(self):
        """True only when the slope is 0 (then it is a ReLU, see :mod:`dtd.gating`)."""
        return self.alpha == 0

    def _forward(self, x):
        return np.where(x < 0, x * self.alpha, x)

    def _forward_inplace(self, x):
        return np.multiply(x, self.alpha, out=x, where=x < 0)

    def _backward(self, x, grad_y):
        return np.where(x > 0, grad_y, grad_y * self.alpha)

    def _repr_args(self):
        return f"alpha={self.alpha}"


class PReLU(Layer):
    __doc__ = r"""Parametric rectifier: a leaky ReLU with one slope per channel (axis 1), or one for all.

    .. math:: y_{n,c,\dots} = \max(x_{n,c,\dots}, 0) + a_c \min(x_{n,c,\dots}, 0)

    Parameters
    ----------
    slope : array_like, shape (C,) or (1,)
        The negative slopes ``a``; one entry applies to every channel.  (ONNX ``PRelu``, PyTorch ``PReLU``.)

    Shapes: (N, C, ...) -> same shape (any rank >= 1 with a single slope).

    Gradient: 1 for ``x > 0``, ``a_c`` for ``x <= 0`` (at ``x = 0`` the left derivative, as PyTorch's
    ``prelu``).  Not ``elementwise`` (it reads the channel of each entry), so a network's forward pass runs
    it after the layer before, not fused into it.
    """ + _WHY + r"""
    >>> PReLU([0.1, 0.5]).forward(np.array([[-2.0, -2.0], [1.0, 3.0]])).tolist()
    [[-0.2, -1.0], [1.0, 3.0]]
    """

    passes_relevance = True
    #: not elementwise: the slope depends on the channel (axis 1)
    elementwise = False
    array_keys = ("slope",)

    def __init__(self, slope):
        self.slope = as_float_param(np.reshape(slope, -1) if np.ndim(slope) == 0 else slope, "slope", 1, "PReLU")
        if self.slope.shape[0] == 0:
            raise ValueError("PReLU: slope is empty")

    @property
    def nonnegative(self):
        """True only when every slope is 0."""
        return not np.any(self.slope)

    @property
    def gates(self):
        """True only when every slope is 0 (then it is a ReLU, see :mod:`dtd.gating`)."""
        return not np.any(self.slope)

    def _channels(self):
        return self.slope.shape[0] if self.slope.shape[0] > 1 else None

    def _check(self, x, finite=True):
        if isinstance(x, np.ndarray) and x.ndim < 2 and self.slope.shape[0] > 1:
            raise ValueError(f"PReLU: x must have a channel axis (N, C, ...), got shape {x.shape}")
        return super()._check(x, finite)

    def _slope(self, x):
        a = self.slope.astype(x.dtype, copy=False)
        return a.reshape(a.shape + (1,) * (x.ndim - 2)) if a.shape[0] > 1 else a[0]

    def _forward(self, x):
        return np.where(x < 0, x * self._slope(x), x)

    def _forward_inplace(self, x):
        return np.multiply(x, self._slope(x), out=x, where=x < 0)

    def _backward(self, x, grad_y):
        return np.where(x > 0, grad_y, grad_y * self._slope(x))

    def _repr_args(self):
        return f"channels={self.slope.shape[0]}"
