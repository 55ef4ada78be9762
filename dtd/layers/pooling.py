"""Pooling layers: sum, average, max and p-norm (Lp) pooling over 2-D windows.

Sum and average pooling are linear layers (weights 1 and ``1/(kH*kW)``), so every
linear rule applies to them.  Max and Lp pooling have their own rules
(:class:`dtd.rules.WinnerTakeAll`, :class:`dtd.rules.Proportional`).
"""
import numpy as np

from .._validation import pair
from ..im2col import fold, output_size, pad, window_max, window_sum, windows
from .base import Layer, LinearLayer

__all__ = ["SumPool2d", "AvgPool2d", "MaxPool2d", "LpPool2d"]


class _Pool2d:
    """Window geometry shared by the pooling layers (NCHW in and out)."""

    input_ndim = 4
    config_keys = ("kernel_size", "stride", "padding")

    def _init_geometry(self, kernel_size, stride, padding):
        name = type(self).__name__
        self.kernel_size = pair(kernel_size, "kernel_size", name)
        self.stride = self.kernel_size if stride is None else pair(stride, "stride", name)
        self.padding = pair(padding, "padding", name)
        if min(self.kernel_size) < 1 or min(self.stride) < 1 or min(self.padding) < 0:
            raise ValueError(f"{name}: kernel_size and stride must be >= 1 and padding >= 0")

    def output_shape(self, shape):
        N, C, H, W = shape
        (kH, kW), (sH, sW), (pH, pW) = self.kernel_size, self.stride, self.padding
        return (N, C, output_size(H, kH, sH, pH), output_size(W, kW, sW, pW))

    def _check(self, x):
        x = Layer._check(self, x)
        self.output_shape(x.shape)
        return x

    def _windows(self, x, fill=0.0):
        return windows(pad(x, self.padding, fill), self.kernel_size, self.stride)

    def _fold(self, cols, x_shape):
        """Add window-shaped values (N, C, Ho, Wo, kH, kW) back onto an input of shape x_shape."""
        N, C, H, W = x_shape
        pH, pW = self.padding
        out = fold(cols, (N, C, H + 2 * pH, W + 2 * pW), self.stride)
        return out[:, :, pH:pH + H, pW:pW + W]

    def _repr_args(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class SumPool2d(_Pool2d, LinearLayer):
    r"""Sum pooling :math:`y_j = w \sum_{i \in \text{window}(j)} x_i` with ``w = 1``.

    Parameters
    ----------
    kernel_size : int or (int, int)
    stride : int or (int, int), optional
        Defaults to ``kernel_size``.
    padding : int or (int, int)
        Zero padding.

    Shapes: (N, C, H, W) -> (N, C, H_out, W_out).

    >>> SumPool2d(2).forward(np.arange(16.0).reshape(1, 1, 4, 4))[0, 0].tolist()
    [[10.0, 18.0], [42.0, 50.0]]
    """

    def __init__(self, kernel_size, stride=None, padding=0):
        self._init_geometry(kernel_size, stride, padding)

    def weight_value(self):
        return 1.0

    def params(self, dtype):
        return np.asarray(self.weight_value(), dtype=dtype), None

    def linear(self, x, weight, bias):
        z = window_sum(self._windows(x)) * weight
        if bias is not None:
            z += bias
        return z

    def linear_backward(self, g, weight, x_shape):
        cols = np.broadcast_to((g * weight)[..., None, None], g.shape + self.kernel_size)
        return self._fold(cols, x_shape)


class AvgPool2d(SumPool2d):
    r"""Average pooling :math:`y_j = \frac{1}{k_H k_W} \sum_{i \in \text{window}(j)} x_i`.

    Zero padding counts in the average (ONNX ``count_include_pad=1``).

    >>> AvgPool2d(2).forward(np.arange(16.0).reshape(1, 1, 4, 4))[0, 0].tolist()
    [[2.5, 4.5], [10.5, 12.5]]
    """

    def weight_value(self):
        return 1.0 / (self.kernel_size[0] * self.kernel_size[1])


class MaxPool2d(_Pool2d, Layer):
    r"""Max pooling :math:`y_j = \max_{i \in \text{window}(j)} x_i`; padding is ``-inf``.

    The gradient goes to the maximum of each window; ties share it equally
    (a valid subgradient, and the same split as :class:`dtd.rules.WinnerTakeAll`).
    The default relevance rule is winner-take-all.

    >>> MaxPool2d(2).forward(np.arange(16.0).reshape(1, 1, 4, 4))[0, 0].tolist()
    [[5.0, 7.0], [13.0, 15.0]]
    """

    def __init__(self, kernel_size, stride=None, padding=0):
        self._init_geometry(kernel_size, stride, padding)
        if self.padding[0] >= self.kernel_size[0] or self.padding[1] >= self.kernel_size[1]:
            # a window made of padding alone would output -inf (onnxruntime refuses this too)
            raise ValueError(f"MaxPool2d: padding must be smaller than kernel_size, got padding {self.padding}"
                             f" and kernel_size {self.kernel_size}")

    def _forward(self, x):
        return window_max(self._windows(x, -np.inf))

    def winner_share(self, x):
        """Share of each window entry in the window's output: 1/(number of maxima) at the maxima, else 0.

        Returns
        -------
        ndarray, shape (N, C, H_out, W_out, kH, kW)
        """
        w = self._windows(x, -np.inf)
        is_max = (w == window_max(w)[..., None, None]).astype(x.dtype)   # bool / int would give float64
        is_max /= window_sum(is_max)[..., None, None]
        return is_max

    def spread_to_winners(self, x, g):
        """``g`` (N, C, H_out, W_out) sent to the maxima of each window, ties sharing equally; shape of x.

        Equals ``fold(winner_share(x) * g)`` with fewer passes over the (N, C, H_out, W_out, kH, kW) array.
        """
        v = self._windows(x, -np.inf)
        is_max = (v == window_max(v)[..., None, None]).astype(x.dtype)   # a bool sum would be a logical or
        share = g / window_sum(is_max)
        return self._fold(is_max * share[..., None, None], x.shape)

    def _backward(self, x, grad_y):
        return self.spread_to_winners(x, grad_y)

    def default_rule(self):
        from ..rules import WinnerTakeAll
        return WinnerTakeAll()


class LpPool2d(_Pool2d, Layer):
    r"""p-norm pooling :math:`y_j = \big(\sum_{i \in \text{window}(j)} |x_i|^p\big)^{1/p}` (ONNX ``LpPool``).

    Its relevance model (seed 001) holds the ratio of the p-norm to the sum
    constant, which makes it a sum-pooling layer:
    :class:`dtd.rules.Proportional` (the default).

    >>> LpPool2d(2, (1, 2)).forward(np.array([[[[3.0, 4.0]]]])).tolist()
    [[[[5.0]]]]
    """

    config_keys = ("p", "kernel_size", "stride", "padding")

    def __init__(self, p, kernel_size, stride=None, padding=0):
        if not p >= 1:
            raise ValueError(f"LpPool2d: p must be >= 1, got {p}")
        self.p = float(p)
        self._init_geometry(kernel_size, stride, padding)

    def _forward(self, x):
        return window_sum(np.abs(self._windows(x)) ** self.p) ** (1.0 / self.p)

    def _backward(self, x, grad_y):
        y = self._forward(x)
        w = self._windows(x)
        # dy/dx_i = sign(x_i) |x_i|^(p-1) / y^(p-1); 0 where y = 0
        scale = np.divide(grad_y, y ** (self.p - 1), out=np.zeros_like(y), where=y != 0)
        return self._fold(np.sign(w) * np.abs(w) ** (self.p - 1) * scale[..., None, None], x.shape)

    def default_rule(self):
        from ..rules import Proportional
        return Proportional()

    def _repr_args(self):
        return f"p={self.p:g}, " + super()._repr_args()
