"""Max and average pooling with ONNX geometry: padding that may differ at the two ends of an axis,
and an average that may leave the padding out of the count.

ONNX pools (and Caffe-converted models such as AlexNet and GoogLeNet) use
``pads = (top, left, bottom, right)``, e.g. ``(0, 0, 1, 1)``, and ONNX
``AveragePool`` divides by the number of *input* entries in the window unless
``count_include_pad=1``.  These layers are subclasses of :class:`MaxPool2d` and
:class:`AvgPool2d`, so the rules and composites treat them as such.
"""
import numpy as np

from .._validation import pair
from ..im2col import fold, output_size, windows
from .pooling import AvgPool2d, MaxPool2d

__all__ = ["PaddedMaxPool2d", "PaddedAvgPool2d"]


def _pads4(pads, name):
    if isinstance(pads, (int, np.integer)):
        pads = (int(pads),) * 4
    try:
        pads = tuple(int(p) for p in pads)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: pads must be an int or (top, left, bottom, right), got {pads!r}") from None
    if len(pads) == 2:
        pads = pads + pads
    if len(pads) != 4 or min(pads) < 0:
        raise ValueError(f"{name}: pads must be 4 non-negative ints (top, left, bottom, right), got {pads!r}")
    return pads


class _PadsGeometry:
    """Window geometry with ``pads = (top, left, bottom, right)`` (replaces the symmetric ``padding``)."""

    config_keys = ("kernel_size", "stride", "pads")

    def _init_pads(self, kernel_size, stride, pads):
        name = type(self).__name__
        self.kernel_size = pair(kernel_size, "kernel_size", name)
        self.stride = self.kernel_size if stride is None else pair(stride, "stride", name)
        self.pads = _pads4(pads, name)
        if min(self.kernel_size) < 1 or min(self.stride) < 1:
            raise ValueError(f"{name}: kernel_size and stride must be >= 1")
        t, l, b, r = self.pads
        if max(t, b) >= self.kernel_size[0] or max(l, r) >= self.kernel_size[1]:
            raise ValueError(f"{name}: each pad must be smaller than the kernel, got pads {self.pads} "
                             f"for kernel {self.kernel_size}")
        self.padding = (t, l) if (t, l) == (b, r) else None   # the symmetric padding, if it is one

    def output_shape(self, shape):
        N, C, H, W = shape
        (kH, kW), (sH, sW), (t, l, b, r) = self.kernel_size, self.stride, self.pads
        return (N, C, output_size(H + t + b, kH, sH), output_size(W + l + r, kW, sW))

    def _padded(self, x, fill):
        t, l, b, r = self.pads
        if not any(self.pads):
            return x
        return np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)), constant_values=fill)

    def _windows(self, x, fill=0.0):
        return windows(self._padded(x, fill), self.kernel_size, self.stride)

    def _fold(self, cols, x_shape):
        N, C, H, W = x_shape
        t, l, b, r = self.pads
        out = fold(cols, (N, C, H + t + b, W + l + r), self.stride)
        return out[:, :, t:t + H, l:l + W]

    def _repr_args(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, pads={self.pads}"


class PaddedMaxPool2d(_PadsGeometry, MaxPool2d):
    """:class:`MaxPool2d` with ``pads = (top, left, bottom, right)`` (padding is ``-inf``).

    >>> x = np.arange(9.0).reshape(1, 1, 3, 3)
    >>> PaddedMaxPool2d(2, 2, pads=(0, 0, 1, 1)).forward(x)[0, 0].tolist()
    [[4.0, 5.0], [7.0, 8.0]]
    """

    def __init__(self, kernel_size, stride=None, pads=0):
        self._init_pads(kernel_size, stride, pads)


class PaddedAvgPool2d(_PadsGeometry, AvgPool2d):
    r""":class:`AvgPool2d` with ``pads = (top, left, bottom, right)`` and ONNX's ``count_include_pad``.

    .. math:: y_j = \frac{1}{n_j} \sum_{i \in \mathrm{window}(j)} x_i

    where ``n_j`` is the number of window positions that lie in the input
    extended by the *counted* padding ``(t', l', b', r')``:

    .. math:: n_j = \big(\min(a_j + k_H, H + b') - \max(a_j, -t')\big)
                    \big(\min(c_j + k_W, W + r') - \max(c_j, -l')\big)

    for a window whose top-left corner is at row ``a_j`` and column ``c_j`` of
    the input (negative in the padding).  The counted padding is none with
    ``count_include_pad=False`` (``n_j`` = the number of input entries of the
    window), ``divisor_pads`` with ``count_include_pad=True``, by default all
    of ``pads`` (then ``n_j = kH*kW``).

    ``divisor_pads`` smaller than ``pads`` is ONNX ``AveragePool`` with
    ``ceil_mode=1, count_include_pad=1`` (and PyTorch's ``avg_pool2d(...,
    ceil_mode=True, count_include_pad=True)``): the import passes the model's
    pads as ``divisor_pads`` and, as ``pads``, those plus the extra rows and
    columns at the end that ceil's output size needs; the part of the last
    windows that hangs beyond the padded input is not counted (as in
    onnxruntime's and PyTorch's kernels).

    It is a linear layer with weight ``w / n_j`` (``w = 1`` is what the rules
    modify; within a window every weight is the same, so the rules' ratios do
    not depend on how ``1/n_j`` is split between ``w`` and the operator).

    >>> x = np.array([[[[1.0, 3.0], [5.0, 7.0]]]])
    >>> PaddedAvgPool2d(2, 1, pads=(0, 0, 1, 1), count_include_pad=False).forward(x)[0, 0].tolist()
    [[4.0, 5.0], [6.0, 7.0]]

    A 1x2 window with stride 2 over 4 columns padded by 1 at the left (counted),
    and ceil's extra column at the right: the last window covers the input's
    column 3 and the extra column, which is not counted.

    >>> x = np.array([[[[1.0, 3.0, 5.0, 7.0]]]])
    >>> PaddedAvgPool2d((1, 2), (1, 2), pads=(0, 1, 0, 1), divisor_pads=(0, 1, 0, 0)).forward(x).tolist()
    [[[[0.5, 4.0, 7.0]]]]
    """

    config_keys = ("kernel_size", "stride", "pads", "count_include_pad", "divisor_pads")

    def __init__(self, kernel_size, stride=None, pads=0, count_include_pad=True, divisor_pads=None):
        self._init_pads(kernel_size, stride, pads)
        if not isinstance(count_include_pad, (bool, np.bool_)):
            raise TypeError(f"PaddedAvgPool2d: count_include_pad must be a bool, got {count_include_pad!r}")
        self.count_include_pad = bool(count_include_pad)
        if divisor_pads is not None:
            divisor_pads = _pads4(divisor_pads, "PaddedAvgPool2d")
            if not self.count_include_pad:
                raise ValueError("PaddedAvgPool2d: divisor_pads needs count_include_pad=True (without it no "
                                 "padding counts in the divisor)")
            if any(d > p for d, p in zip(divisor_pads, self.pads)):
                raise ValueError(f"PaddedAvgPool2d: divisor_pads {divisor_pads} must not exceed pads {self.pads}")
            if divisor_pads == self.pads:
                divisor_pads = None
        #: the padding counted in the divisor with count_include_pad=True (None: all of ``pads``)
        self.divisor_pads = divisor_pads

    def _counted_pads(self):
        if not self.count_include_pad:
            return (0, 0, 0, 0)
        return self.pads if self.divisor_pads is None else self.divisor_pads

    def _excludes_pad(self):
        """True if the divisor differs between windows (some padding is not counted)."""
        return self._counted_pads() != self.pads

    def weight_value(self):
        return 1.0 if self._excludes_pad() else super().weight_value()

    def inverse_count(self, H, W, dtype=np.float64):
        """``1 / n_j`` of shape (H_out, W_out): the divisor of each window for an H x W input."""
        def counts(size, k, s, begin, end, counted_begin, counted_end):
            start = np.arange(output_size(size + begin + end, k, s)) * s - begin
            return np.minimum(start + k, size + counted_end) - np.maximum(start, -counted_begin)
        (kH, kW), (sH, sW), (t, l, b, r) = self.kernel_size, self.stride, self.pads
        ct, cl, cb, cr = self._counted_pads()
        n = np.outer(counts(H, kH, sH, t, b, ct, cb), counts(W, kW, sW, l, r, cl, cr))
        return (1.0 / n).astype(dtype)

    def linear(self, x, weight, bias):
        z = super().linear(x, weight, None)
        if self._excludes_pad():
            z = z * self.inverse_count(x.shape[2], x.shape[3], x.dtype)
        if bias is not None:
            z += bias
        return z

    def linear_backward(self, g, weight, x_shape):
        if self._excludes_pad():
            g = g * self.inverse_count(x_shape[2], x_shape[3], g.dtype)
        return super().linear_backward(g, weight, x_shape)

    def _repr_args(self):
        extra = "" if self.divisor_pads is None else f", divisor_pads={self.divisor_pads}"
        return super()._repr_args() + f", count_include_pad={self.count_include_pad}" + extra
