"""The identity layer (what Dropout and Identity are at inference)."""
from .base import Layer

__all__ = ["Identity"]


class Identity(Layer):
    """``y = x``; any shape.  Stands for ONNX ``Identity`` and ``Dropout`` (inference mode).

    Relevance and gradient pass through unchanged.

    >>> import numpy as np
    >>> Identity().forward(np.array([[1.0, -2.0]])).tolist()
    [[1.0, -2.0]]
    """

    passes_relevance = True

    def _forward(self, x):
        return x

    def _backward(self, x, grad_y):
        return grad_y
