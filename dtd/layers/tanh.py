"""Hyperbolic tangent activation."""
import numpy as np

from .base import Layer

__all__ = ["Tanh"]


class Tanh(Layer):
    r"""Hyperbolic tangent :math:`y = \tanh(x)`; any shape.

    Relevance passes through unchanged, as for the ReLU (the activation is part
    of the neuron whose relevance the linear layer below redistributes; this is
    also what the LRP Toolbox does).

    >>> Tanh().forward(np.array([[0.0]])).tolist()
    [[0.0]]
    """

    passes_relevance = True

    def _forward(self, x):
        return np.tanh(x)

    def _backward(self, x, grad_y):
        t = np.tanh(x)
        return grad_y * (1 - t * t)
