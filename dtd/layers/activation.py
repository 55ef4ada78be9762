"""Layers through which relevance passes unchanged: ReLU and Flatten."""
import numpy as np

from .base import Layer

__all__ = ["ReLU", "Flatten"]


class ReLU(Layer):
    """Rectifier :math:`y = \\max(0, x)`; any shape.

    Relevance passes through unchanged (the ReLU is part of the neuron whose
    relevance the layer below redistributes).

    >>> ReLU().forward(np.array([[-1.0, 2.0]])).tolist()
    [[0.0, 2.0]]
    """

    passes_relevance = True
    #: elementwise: a network's forward pass may apply it in place to each piece of the previous layer's output
    elementwise = True
    #: the output is >= 0
    nonnegative = True
    #: the output is 0 wherever the input is <= 0: the layer below has a ReLU-gated output (see dtd.gating)
    gates = True

    def _forward(self, x):
        return np.maximum(x, 0)

    def _forward_inplace(self, x):
        return np.maximum(x, 0, out=x)

    def _backward(self, x, grad_y):
        return grad_y * (x > 0)


class Flatten(Layer):
    """Flatten every axis after the batch: (N, d1, d2, ...) -> (N, d1*d2*...).

    >>> Flatten().forward(np.zeros((2, 3, 4, 5))).shape
    (2, 60)
    """

    passes_relevance = True

    def output_shape(self, shape):
        return (shape[0], int(np.prod(shape[1:], dtype=np.int64)))

    def _forward(self, x):
        return x.reshape(x.shape[0], -1)

    def _backward(self, x, grad_y):
        return grad_y.reshape(x.shape)
