"""The logistic sigmoid and its piecewise-linear approximation (HardSigmoid)."""
import numpy as np

from .base import Layer

__all__ = ["Sigmoid", "HardSigmoid", "sigmoid"]

_WHY = """
    Relevance (default: :class:`~dtd.rules.PassThrough`, ``R_x = R_y``): the activation is part of the neuron
    whose relevance the linear layer below redistributes, as for the ReLU and Tanh; relevance is conserved
    exactly.  Unlike the ReLU, this activation is not zero at the root ``z = 0`` of its pre-activation (it is
    ``beta`` or 1/2 there) and is positive for every input, so the output is non-negative (``nonnegative`` is
    True) but not gated: a neuron with a negative pre-activation still has a positive output and receives
    relevance from a rule proportional to its activation, which the layer below then redistributes with the
    orientation of ``z`` (for LRP-0 / epsilon: messages ``z_ij / z_j`` with ``z_j < 0``, so inputs that
    pushed ``z_j`` down receive relevance of the sign of ``R_j``).  Pass-through is the convention, not a
    Deep Taylor derivation (there is no root point of the output at which the neuron's relevance vanishes).
    Zennit does the same (``torch.nn.Sigmoid`` and ``Hardsigmoid`` are in ``zennit.types.Activation``,
    mapped to ``Pass`` by every built-in composite), and so does iNNvestigate for ``keras.layers.Activation``
    layers and for an activation built into a Dense or Conv layer (its rules use the layer without it).
"""


def sigmoid(x, out=None):
    r"""The logistic function :math:`1 / (1 + e^{-x})`, without overflow and to a few ulp for any x.

    Computed as :math:`1 / (1 + e^{-|x|})` for :math:`x \ge 0` and :math:`e^{-|x|} / (1 + e^{-|x|})` for
    :math:`x < 0` (no cancellation on either side).  ``out`` may be ``x`` itself.

    >>> sigmoid(np.array([0.0, -800.0, 800.0])).tolist()
    [0.5, 0.0, 1.0]
    """
    e = np.exp(-np.abs(x))
    num = np.where(x >= 0, 1, e)
    e += 1
    return np.divide(num, e, out=out)


class Sigmoid(Layer):
    __doc__ = r"""Logistic sigmoid :math:`y = 1 / (1 + e^{-x})`; any shape.

    .. math:: y = \sigma(x) = \frac{1}{1 + e^{-x}}, \qquad \frac{dy}{dx} = \sigma(x)\,(1 - \sigma(x))

    Shapes: any (N, ...) -> same shape.  Smooth: no kinks.
    """ + _WHY + r"""
    >>> Sigmoid().forward(np.array([[0.0]])).tolist()
    [[0.5]]
    >>> Sigmoid().backward(np.array([[0.0]]), np.ones((1, 1))).tolist()
    [[0.25]]
    """

    passes_relevance = True
    #: elementwise: a network's forward pass may apply it in place to each piece of the previous layer's output
    elementwise = True
    #: the output is always >= 0 (a composite may not read it as a ReLU gate, see above)
    nonnegative = True
    #: not a ReLU gate: the output is positive for every input (see :mod:`dtd.gating`)
    gates = False

    def _forward(self, x):
        return sigmoid(x)

    def _forward_inplace(self, x):
        return sigmoid(x, out=x)

    def _backward(self, x, grad_y):
        s = sigmoid(x)
        return grad_y * (s * (1 - s))


class HardSigmoid(Layer):
    __doc__ = r"""Piecewise-linear sigmoid :math:`y = \max(0, \min(1, \alpha x + \beta))`; any shape.

    .. math:: y = \max(0, \min(1, \alpha x + \beta))

    Parameters
    ----------
    alpha, beta : float
        ONNX ``HardSigmoid``'s defaults are 0.2 and 0.5 (also Keras 2's ``hard_sigmoid``); PyTorch's
        ``Hardsigmoid`` (MobileNetV3) is ``HardSigmoid(1/6, 0.5)`` = ``relu6(x + 3) / 6``, which is what
        PyTorch exports.

    Shapes: any (N, ...) -> same shape.

    Gradient: ``alpha`` where ``0 < alpha x + beta < 1``, 0 elsewhere, **0 at the two kinks** (PyTorch's
    ``hardsigmoid`` does the same at ``x = -3`` and ``x = 3``; its gradient in float64 uses 1/6 rounded to
    float32, this layer the float64 ``alpha``).
    """ + _WHY + r"""
    >>> HardSigmoid(1 / 6, 0.5).forward(np.array([[-4.0, 0.0, 1.5, 4.0]])).tolist()
    [[0.0, 0.5, 0.75, 1.0]]
    """

    passes_relevance = True
    #: elementwise: a network's forward pass may apply it in place to each piece of the previous layer's output
    elementwise = True
    #: the output is always >= 0 (a composite may not read it as a ReLU gate, see above)
    nonnegative = True
    config_keys = ("alpha", "beta")

    def __init__(self, alpha=0.2, beta=0.5):
        self.alpha, self.beta = float(alpha), float(beta)
        if not (np.isfinite(self.alpha) and np.isfinite(self.beta)):
            raise ValueError(f"HardSigmoid: alpha and beta must be finite, got {alpha}, {beta}")

    @property
    def gates(self):
        """True only when the output is 0 wherever the input is <= 0 (``alpha > 0 >= beta``);
        not so for the ONNX or PyTorch defaults (``beta = 0.5``).  See :mod:`dtd.gating`."""
        return self.alpha > 0 and self.beta <= 0

    def _shift_clip(self, t):
        t += self.beta
        return np.clip(t, 0, 1, out=t)

    def _forward(self, x):
        return self._shift_clip(x * self.alpha)

    def _forward_inplace(self, x):
        return self._shift_clip(np.multiply(x, self.alpha, out=x))

    def _backward(self, x, grad_y):
        t = x * self.alpha + self.beta
        return grad_y * ((t > 0) & (t < 1)) * self.alpha

    def _repr_args(self):
        return f"alpha={self.alpha}, beta={self.beta}"
