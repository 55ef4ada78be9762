"""2-D convolution (cross-correlation, as in PyTorch and ONNX) through im2col."""
import numpy as np

from .._validation import as_float_param, check_relevance, pair
from ..im2col import fold, output_size, pad, windows
from .base import LinearLayer

__all__ = ["Conv2d"]


class Conv2d(LinearLayer):
    r"""Convolution :math:`z_{o,i,j} = \sum_{c,a,b} w_{o,c,a,b}\, x_{c,\, i s_H + a - p_H,\, j s_W + b - p_W} + b_o`.

    Parameters
    ----------
    weight : array_like, shape (C_out, C_in, kH, kW)
    bias : array_like, shape (C_out,), optional
    stride : int or (int, int)
    padding : int or (int, int)
        Zero padding on both sides of each spatial axis.

    Shapes: ``x`` (N, C_in, H, W) -> ``y`` (N, C_out, H_out, W_out) with
    ``H_out = (H + 2 pH - kH) // sH + 1``.

    The forward is one ``tensordot`` of the window view (:func:`dtd.im2col.windows`)
    with the weights; the backward is the transpose, folded back with a loop over
    the ``kH*kW`` kernel offsets.

    >>> layer = Conv2d(np.ones((1, 1, 2, 2)), [0.0])
    >>> layer.forward(np.arange(9.0).reshape(1, 1, 3, 3))[0, 0].tolist()
    [[8.0, 12.0], [20.0, 24.0]]
    """

    input_ndim = 4
    array_keys = ("weight", "bias")
    config_keys = ("stride", "padding")

    def __init__(self, weight, bias=None, stride=1, padding=0):
        self.weight = as_float_param(weight, "weight", 4, "Conv2d")
        if bias is None:
            bias = np.zeros(self.weight.shape[0], dtype=self.weight.dtype)
        self.bias = as_float_param(bias, "bias", 1, "Conv2d")
        if self.bias.shape[0] != self.weight.shape[0]:
            raise ValueError(
                f"Conv2d: bias has {self.bias.shape[0]} entries, weight has {self.weight.shape[0]} output channels"
            )
        self.stride = pair(stride, "stride", "Conv2d")
        self.padding = pair(padding, "padding", "Conv2d")
        if min(self.stride) < 1 or min(self.padding) < 0:
            raise ValueError(f"Conv2d: stride must be >= 1 and padding >= 0, got {self.stride}, {self.padding}")

    @property
    def kernel_size(self):
        return self.weight.shape[2:]

    def _channels(self):
        return self.weight.shape[1]

    def output_shape(self, shape):
        N, _, H, W = shape
        kH, kW = self.kernel_size
        return (N, self.weight.shape[0],
                output_size(H, kH, self.stride[0], self.padding[0]),
                output_size(W, kW, self.stride[1], self.padding[1]))

    def params(self, dtype):
        return self.weight.astype(dtype, copy=False), self.bias.astype(dtype, copy=False)

    def _check(self, x):
        x = super()._check(x)
        self.output_shape(x.shape)  # raises if the kernel does not fit
        return x

    def linear(self, x, weight, bias):
        cols = windows(pad(x, self.padding), self.kernel_size, self.stride)   # (N, C, Ho, Wo, kH, kW)
        z = np.tensordot(cols, weight, axes=([1, 4, 5], [1, 2, 3]))           # (N, Ho, Wo, C_out)
        if bias is not None:
            z += bias
        return z.transpose(0, 3, 1, 2)

    def linear_backward(self, g, weight, x_shape):
        N, C, H, W = x_shape
        pH, pW = self.padding
        cols = np.tensordot(g, weight, axes=([1], [0]))                        # (N, Ho, Wo, C, kH, kW)
        padded = fold(cols.transpose(0, 3, 1, 2, 4, 5), (N, C, H + 2 * pH, W + 2 * pW), self.stride)
        return padded[:, :, pH:pH + H, pW:pW + W]

    def param_grads(self, x, grad_y):
        """Gradients of ``sum(grad_y * forward(x))`` w.r.t. ``(weight, bias)``.

        Returns
        -------
        (ndarray (C_out, C_in, kH, kW), ndarray (C_out,))
        """
        self._check(x)
        check_relevance(grad_y, self.output_shape(x.shape), self, name="grad_y")
        cols = windows(pad(x, self.padding), self.kernel_size, self.stride)
        dw = np.tensordot(grad_y, cols, axes=([0, 2, 3], [0, 2, 3]))
        return dw, grad_y.sum(axis=(0, 2, 3))

    def _repr_args(self):
        o, c, kh, kw = self.weight.shape
        return f"{c}->{o}, kernel=({kh}, {kw}), stride={self.stride}, padding={self.padding}"
