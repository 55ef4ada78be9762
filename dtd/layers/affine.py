"""Per-channel affine layer (an unfolded batch normalization, or input standardisation)."""
import numpy as np

from .._validation import as_float_param
from .base import LinearLayer

__all__ = ["Affine"]


class Affine(LinearLayer):
    r"""Per-channel affine map on axis 1: :math:`y_{n,c,\dots} = s_c\, x_{n,c,\dots} + t_c`.

    What a batch normalization (in inference mode) computes, with
    :math:`s = \gamma / \sqrt{\sigma^2 + \epsilon}` and :math:`t = \beta - \mu s`.
    The ONNX import folds such a layer into the neighbouring Conv2d / Dense
    whenever that is exact; this layer is what remains when it is not (e.g. a
    batch norm or a ``(x - mean) / std`` before a convolution with zero padding:
    the padding zeros are not transformed).

    Parameters
    ----------
    scale : array_like, shape (C,)
    shift : array_like, shape (C,), optional
        Zero when omitted.

    Shapes: any (N, C, ...) -> same shape.

    Relevance: it is a linear layer with a diagonal weight matrix
    ``W = diag(scale)`` and bias ``shift``, so every linear rule applies.  The
    default is LRP-0 (the z-rule),

    .. math:: R_{x, c} = \frac{s_c x_c}{s_c x_c + t_c} R_{y, c}

    (0/0 := 0), under which the shift absorbs its share of the relevance, as
    the bias of any linear layer does.  Rules that ignore the bias and depend
    on the weights only through ratios (z+ with ``s x >= 0``, w^2, flat) pass
    the relevance through unchanged, because each output has one input.

    >>> layer = Affine([2.0], [1.0])
    >>> layer.forward(np.array([[3.0]])).tolist()
    [[7.0]]
    >>> layer.relevance(np.array([[3.0]]), np.array([[7.0]])).tolist()  # 6/7 of 7
    [[6.0]]
    """

    array_keys = ("scale", "shift")

    def __init__(self, scale, shift=None):
        self.scale = as_float_param(scale, "scale", 1, "Affine")
        if shift is None:
            shift = np.zeros_like(self.scale)
        self.shift = as_float_param(shift, "shift", 1, "Affine")
        if self.shift.shape != self.scale.shape:
            raise ValueError(f"Affine: shift has {self.shift.shape[0]} entries, scale has {self.scale.shape[0]}")

    def _channels(self):
        return self.scale.shape[0]

    def _check(self, x, finite=True):
        x = super()._check(x, finite)
        if x.ndim < 2:
            raise ValueError(f"Affine: x must have a channel axis (N, C, ...), got shape {x.shape}")
        return x

    @staticmethod
    def _on_axis1(v, ndim):
        v = np.asarray(v)
        return v.reshape(v.shape + (1,) * (ndim - 2)) if v.ndim == 1 else v

    def params(self, dtype):
        return self.scale.astype(dtype, copy=False), self.shift.astype(dtype, copy=False)

    def linear(self, x, weight, bias):
        z = x * self._on_axis1(weight, x.ndim)
        if bias is not None:
            z = z + self._on_axis1(bias, x.ndim)
        return z

    def linear_backward(self, g, weight, x_shape):
        return g * self._on_axis1(weight, len(x_shape))

    def _repr_args(self):
        return f"channels={self.scale.shape[0]}"
