"""A permutation of the channels (ShuffleNet's channel shuffle)."""
import numpy as np

from ..rules.base import Rule
from .base import Layer

__all__ = ["ChannelPermutation", "ChannelPermuteBack"]


class ChannelPermutation(Layer):
    r"""``y[:, i] = x[:, perm[i]]``: the channels (axis 1) reordered, everything else kept.

    .. math::

        y_{n, i, \dots} = x_{n, \pi(i), \dots}, \qquad
        R^{x}_{n, j, \dots} = R^{y}_{n, \pi^{-1}(j), \dots}

    ShuffleNet's channel shuffle with ``g`` groups, written by exporters as
    ``Reshape`` to ``(N, g, C/g, H, W)``, ``Transpose`` with perm
    ``(0, 2, 1, 3, 4)`` and ``Reshape`` back, is this layer with
    ``perm[j g + a] = a C/g + j`` (:meth:`shuffle`); the ONNX import recognises
    that subgraph (:mod:`dtd.io._onnx_patterns`).

    Parameters
    ----------
    perm : sequence of int
        A permutation of ``range(C)``.

    Shapes: (N, C, ...) -> (N, C, ...).  Relevance moves with its channel
    (:class:`ChannelPermuteBack`: the inverse permutation; the only rule that
    applies, conservative); so does the gradient.

    >>> layer = ChannelPermutation.shuffle(6, 2)
    >>> layer.perm
    (0, 3, 1, 4, 2, 5)
    >>> layer.forward(np.array([[10.0, 11.0, 12.0, 13.0, 14.0, 15.0]])).tolist()
    [[10.0, 13.0, 11.0, 14.0, 12.0, 15.0]]
    """

    config_keys = ("perm",)
    #: a ReLU-gated channel stays gated after the permutation (dtd.gating: composites look through it)
    transparent_to_gating = True

    def __init__(self, perm):
        try:
            p = np.asarray(perm)
        except (TypeError, ValueError):
            p = None
        if p is None or p.ndim != 1 or p.dtype.kind not in "iu":
            raise TypeError(f"ChannelPermutation: perm must be a sequence of ints, got {perm!r}")
        if p.size == 0 or not np.array_equal(np.sort(p), np.arange(p.size)):
            raise ValueError(f"ChannelPermutation: perm must be a permutation of 0..C-1, got {list(p)}")
        self.perm = tuple(int(i) for i in p)
        self._perm = p.astype(np.intp)
        self._inverse = np.argsort(self._perm).astype(np.intp)

    @classmethod
    def shuffle(cls, channels, groups):
        """The channel shuffle of ShuffleNet: ``(N, g, C/g, ...)`` transposed to ``(N, C/g, g, ...)``.

        >>> ChannelPermutation.shuffle(4, 2).perm
        (0, 2, 1, 3)
        """
        if groups < 1 or channels % groups:
            raise ValueError(f"ChannelPermutation.shuffle: {channels} channels do not split into {groups} groups")
        return cls(np.arange(channels).reshape(groups, channels // groups).T.reshape(-1))

    @property
    def inverse(self):
        """The inverse permutation (tuple): ``x[:, j] = y[:, inverse[j]]``."""
        return tuple(int(i) for i in self._inverse)

    def _channels(self):
        return len(self.perm)

    def _check(self, x, finite=True):
        x = super()._check(x, finite)
        if x.ndim < 2:
            raise ValueError(f"ChannelPermutation: x must have a channel axis (N, C, ...), got shape {x.shape}")
        return x

    def _forward(self, x):
        return np.take(x, self._perm, axis=1)

    def _backward(self, x, grad_y):
        return np.take(grad_y, self._inverse, axis=1)

    def default_rule(self):
        return ChannelPermuteBack()

    def _repr_args(self):
        return f"perm={self.perm}"


class ChannelPermuteBack(Rule):
    """Relevance of a :class:`ChannelPermutation`: ``R_x[:, j] = R_y[:, inverse[j]]`` (conservative).

    >>> layer = ChannelPermutation((2, 0, 1))
    >>> layer.relevance(np.zeros((1, 3)), np.array([[1.0, 2.0, 3.0]]), ChannelPermuteBack()).tolist()
    [[2.0, 3.0, 1.0]]
    """

    def layer_types(self):
        return (ChannelPermutation,)

    def relevance(self, layer, x, R):
        return np.take(R, layer._inverse, axis=1).astype(x.dtype, copy=False)
