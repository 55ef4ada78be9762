"""Self-gated activations ``y = x * gate(x)``: SiLU (Swish-1, EfficientNet) and HardSwish (MobileNetV3)."""
import numpy as np

from .base import Layer
from .sigmoid import sigmoid

__all__ = ["SiLU", "HardSwish"]

_WHY = """
    Relevance (default: :class:`~dtd.rules.PassThrough`, ``R_x = R_y``): the activation is part of the neuron
    whose relevance the linear layer below redistributes, as for the ReLU; relevance is conserved exactly.
    The output has the sign of the input where it is not 0 (the gate is positive), so a relevance that is
    proportional to the activation keeps its orientation with respect to the pre-activation; but the output
    is signed (small negative values for ``x < 0``, ``nonnegative`` is False), so the layer below should use a
    rule valid for signed outputs.  Treating the product ``x * gate(x)`` as one activation, rather than as a
    product of two branches between which relevance would be split, is also Zennit's choice
    (``torch.nn.SiLU`` and ``Hardswish`` are in ``zennit.types.Activation``, mapped to ``Pass`` by every
    built-in composite).  iNNvestigate passes ``keras.layers.Activation`` layers (``swish`` included) through
    unchanged.
"""


class SiLU(Layer):
    __doc__ = r"""Sigmoid-weighted linear unit (Swish with beta = 1) :math:`y = x \sigma(x)`; any shape.

    .. math:: y = \frac{x}{1 + e^{-x}}, \qquad
              \frac{dy}{dx} = \sigma(x)\,\bigl(1 + x\,(1 - \sigma(x))\bigr)

    Shapes: any (N, ...) -> same shape.  Smooth: no kinks.  ONNX has no SiLU op before opset 24 (``Swish``);
    exporters write ``Mul(x, Sigmoid(x))``, which the ONNX import recognises as this layer.
    """ + _WHY + r"""
    >>> SiLU().forward(np.array([[0.0, 2.0]])).round(6).tolist()
    [[0.0, 1.761594]]
    """

    passes_relevance = True
    #: elementwise: a network's forward pass may apply it in place to each piece of the previous layer's output
    elementwise = True
    nonnegative = False
    #: not a ReLU gate: negative outputs for some negative inputs (see :mod:`dtd.gating`)
    gates = False

    def _forward(self, x):
        return x * sigmoid(x)

    def _forward_inplace(self, x):
        return np.multiply(x, sigmoid(x), out=x)

    def _backward(self, x, grad_y):
        s = sigmoid(x)
        return grad_y * (s * (1 + x * (1 - s)))


class HardSwish(Layer):
    __doc__ = r"""Hard swish :math:`y = x \cdot \mathrm{relu6}(x + 3) / 6`; any shape (ONNX ``HardSwish``, opset 14).

    .. math:: y = x \max(0, \min(1, x/6 + 1/2)) = \begin{cases} 0 & x \le -3 \\ x (x + 3) / 6 & -3 < x < 3 \\
              x & x \ge 3 \end{cases}

    Shapes: any (N, ...) -> same shape.

    Gradient: 0 for ``x <= -3``, ``x / 3 + 1/2`` for ``-3 < x < 3``, 1 for ``x >= 3``; at the kinks the
    outer pieces' derivatives (0 at ``x = -3``, 1 at ``x = 3``), as PyTorch 2.13's ``hardswish`` gives.
    Before opset 14 PyTorch exports it as ``Mul(x, HardSigmoid(x))`` (alpha 1/6), which the ONNX import
    recognises as this layer.
    """ + _WHY + r"""
    >>> HardSwish().forward(np.array([[-4.0, -3.0, 1.5, 3.0, 4.0]])).tolist()
    [[-0.0, -0.0, 1.125, 3.0, 4.0]]
    >>> HardSwish().backward(np.array([[-3.0, 0.0, 3.0]]), np.ones((1, 3))).tolist()
    [[0.0, 0.5, 1.0]]
    """

    passes_relevance = True
    #: elementwise: a network's forward pass may apply it in place to each piece of the previous layer's output
    elementwise = True
    nonnegative = False
    #: not a ReLU gate: negative outputs for some negative inputs (see :mod:`dtd.gating`)
    gates = False

    @staticmethod
    def _gate6(x):
        """``6 * gate(x) = min(max(x + 3, 0), 6)``, a new array."""
        g = x + 3
        return np.clip(g, 0, 6, out=g)

    def _forward(self, x):
        y = x * self._gate6(x)
        y /= 6
        return y

    def _forward_inplace(self, x):
        g = self._gate6(x)
        x *= g
        x /= 6
        return x

    def _backward(self, x, grad_y):
        d = x / 3 + 0.5
        d[x <= -3] = 0
        d[x >= 3] = 1
        return grad_y * d
