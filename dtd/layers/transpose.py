"""Permutation of the axes after the batch axis (e.g. NHWC input to NCHW)."""
import numpy as np

from ..rules.base import Rule
from .base import Layer

__all__ = ["Transpose", "PermuteBack"]


class Transpose(Layer):
    """``y = x.transpose(perm)`` with the batch axis kept first (``perm[0] == 0``).

    The ONNX import records a ``Transpose`` node as this layer: a model that
    takes NHWC images starts with ``Transpose((0, 3, 1, 2))`` and keeps taking
    NHWC input, and its explanations come back in NHWC.  The LRP Toolbox import
    uses ``Transpose((0, 2, 3, 1))`` before a ``Flatten`` to flatten in the
    toolbox's (H, W, C) order.

    Parameters
    ----------
    perm : sequence of int
        A permutation of ``range(ndim)`` with ``perm[0] == 0``.

    Relevance is moved back with the inverse permutation
    (:class:`PermuteBack`, the only rule that applies; conservative).

    >>> layer = Transpose((0, 2, 1))
    >>> layer.forward(np.arange(6.0).reshape(1, 2, 3)).shape
    (1, 3, 2)
    """

    config_keys = ("perm",)

    def __init__(self, perm):
        try:
            perm = tuple(int(p) for p in perm)
        except (TypeError, ValueError):
            raise TypeError(f"Transpose: perm must be a sequence of ints, got {perm!r}") from None
        if sorted(perm) != list(range(len(perm))) or len(perm) < 2 or perm[0] != 0:
            raise ValueError(f"Transpose: perm must be a permutation of 0..ndim-1 that keeps the batch axis "
                             f"first, got {perm}")
        self.perm = perm
        self.input_ndim = len(perm)
        self.inverse = tuple(int(i) for i in np.argsort(perm))

    def output_shape(self, shape):
        return tuple(shape[p] for p in self.perm)

    def _forward(self, x):
        return x.transpose(self.perm)

    def _backward(self, x, grad_y):
        return grad_y.transpose(self.inverse)

    def default_rule(self):
        return PermuteBack()

    def _repr_args(self):
        return f"perm={self.perm}"


class PermuteBack(Rule):
    """Relevance of a :class:`Transpose`: ``R_x = R_y.transpose(inverse perm)``.

    >>> layer = Transpose((0, 2, 1))
    >>> R = np.arange(6.0).reshape(1, 3, 2)
    >>> layer.relevance(np.zeros((1, 2, 3)), R, PermuteBack()).tolist()
    [[[0.0, 2.0, 4.0], [1.0, 3.0, 5.0]]]
    """

    def layer_types(self):
        return (Transpose,)

    def relevance(self, layer, x, R):
        return R.transpose(layer.inverse)
