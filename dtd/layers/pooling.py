"""Pooling layers: sum, average, max and p-norm (Lp) pooling over 2-D windows.

Sum and average pooling are linear layers (weights 1 and ``1/(kH*kW)``), so every
linear rule applies to them.  Max and Lp pooling have their own rules
(:class:`dtd.rules.WinnerTakeAll`, :class:`dtd.rules.Proportional`).

Two paths compute the same numbers.  The general one takes the windows as a
strided view (:func:`dtd.im2col.windows`, shape (N, C, H_out, W_out, kH, kW))
and adds window-shaped values back with :func:`dtd.im2col.fold`.  When the
windows tile the input (``stride == kernel_size``, the common 2x2/2 pooling),
they are a plain reshape of the (padded) input cropped to
``(H_out*kH, W_out*kW)``: the *tiles* view, shape (N, C, H_out, kH, W_out*kW),
whose rows are contiguous.  Reductions then run over the kH rows first (long
contiguous inner loops) and the kW columns of the result; the adjoint writes
each entry once into a fresh array, zero in the rows and columns that the crop
left out of every window.  The tile path only regroups the sums of a window, so
results agree with the general path to float rounding (max pooling's winners
and shares agree exactly).
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

    def _check(self, x, finite=True):
        x = Layer._check(self, x, finite)
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

    # ---------------------------------------------------------------- non-overlapping windows (tiles)

    def _tiles_input(self):
        """True if the windows tile the (padded) input: ``stride == kernel_size``, symmetric padding.

        A subclass with another geometry (``PaddedMaxPool2d`` with unequal pads)
        sets ``padding = None`` and takes the general path.
        """
        return self.stride == self.kernel_size and self.padding is not None

    def _tiles(self, x, fill=0.0):
        """The windows of x padded with ``fill``, as a view of shape (N, C, H_out, kH, W_out*kW).

        ``tiles[n, c, i, a, j*kW + b] = x_padded[n, c, i*kH + a, j*kW + b]``
        (only when :meth:`_tiles_input`).
        """
        N, C, Ho, Wo = self.output_shape(x.shape)
        kH, kW = self.kernel_size
        xp = pad(x, self.padding, fill)[:, :, :Ho * kH, :Wo * kW]
        return xp.reshape(N, C, Ho, kH, Wo * kW)

    def _new_tiled(self, x_shape, dtype):
        """A new array of shape x_shape and a tiles view of it (as :meth:`_tiles`) to write into.

        Entries in no window (cropped rows and columns) are zero; the rest is left to the caller.
        """
        N, C, H, W = x_shape
        Ho, Wo = self.output_shape(x_shape)[2:]
        (kH, kW), (pH, pW) = self.kernel_size, self.padding
        if (pH, pW) == (0, 0) and (Ho * kH, Wo * kW) == (H, W):
            out = np.empty(x_shape, dtype=dtype)
            return out, out.reshape(N, C, Ho, kH, W)
        full = np.zeros((N, C, H + 2 * pH, W + 2 * pW), dtype=dtype)
        return full[:, :, pH:pH + H, pW:pW + W], full[:, :, :Ho * kH, :Wo * kW].reshape(N, C, Ho, kH, Wo * kW)

    def _window_sums(self, x):
        """Sum of each window (zero padding), shape (N, C, H_out, W_out)."""
        if self._tiles_input():
            return _reduce_tiles(self._tiles(x), self.kernel_size[1], np.add)
        return window_sum(self._windows(x))

    def _spread(self, s, x_shape):
        """Adjoint of :meth:`_window_sums`: each input gets the sum of ``s`` (N, C, H_out, W_out) over its windows."""
        if self._tiles_input():
            out, tiles = self._new_tiled(x_shape, s.dtype)
            np.copyto(tiles, _repeat_last(s, self.kernel_size[1])[:, :, :, None])
            return out
        return self._fold(np.broadcast_to(s[..., None, None], s.shape + self.kernel_size), x_shape)

    def _times_spread(self, x, s):
        """``x * _spread(s, x.shape)`` in the dtype of x (one pass over x for tiling windows)."""
        s = s.astype(x.dtype, copy=False)
        if self._tiles_input():
            out, tiles = self._new_tiled(x.shape, x.dtype)
            np.multiply(self._tiles(x), _repeat_last(s, self.kernel_size[1])[:, :, :, None], out=tiles)
            return out
        return x * self._spread(s, x.shape)

    def _repr_args(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


def _reduce_tiles(tiles, kW, op):
    """Reduce each window of a tiles view (N, C, H_out, kH, W_out*kW) with the ufunc ``op``: (N, C, H_out, W_out).

    First over the kH rows (contiguous inner loops), then over the kW columns
    of the (N, C, H_out, W_out*kW) result; a loop over offsets, never positions.
    """
    kH = tiles.shape[3]
    rows = tiles[:, :, :, 0] if kH == 1 else op(tiles[:, :, :, 0], tiles[:, :, :, 1])
    for a in range(2, kH):
        op(rows, tiles[:, :, :, a], out=rows)
    cols = rows.reshape(rows.shape[:3] + (-1, kW))
    out = cols[..., 0].copy() if kW == 1 else op(cols[..., 0], cols[..., 1])
    for b in range(2, kW):
        op(out, cols[..., b], out=out)
    return out


def _repeat_last(a, k, out=None):
    """``a`` (..., W_out) with each entry repeated k times along the last axis: (..., W_out*k).

    ``out``: a contiguous array of that shape to write into (k > 1).
    """
    if k == 1:
        return a
    if out is None:
        out = np.empty(a.shape[:-1] + (a.shape[-1] * k,), dtype=a.dtype)
    pairs = out.reshape(a.shape + (k,))
    for b in range(k):
        pairs[..., b] = a
    return out


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
        z = self._window_sums(x) * weight
        if bias is not None:
            z += bias
        return z

    def linear_backward(self, g, weight, x_shape):
        return self._spread(g * weight, x_shape)


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
        if self._tiles_input():
            return _reduce_tiles(self._tiles(x, -np.inf), self.kernel_size[1], np.maximum)
        return window_max(self._windows(x, -np.inf))

    def window_sum(self):
        """The sum pooling over the same windows (zero padding, which no rule counts as an input): the
        structure that :class:`~dtd.rules.Flat` spreads relevance over (the LRP Toolbox's ``'flat'`` and
        ``'ww'`` on its MaxPool)."""
        return SumPool2d(self.kernel_size, self.stride, self.padding)

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

    def first_winner(self, x):
        """1 at the first maximum (row-major) of each window, else 0; shape (N, C, H_out, W_out, kH, kW)."""
        w = self._windows(x, -np.inf)
        flat = w.reshape(w.shape[:4] + (-1,))
        onehot = np.zeros(flat.shape, dtype=x.dtype)
        np.put_along_axis(onehot, flat.argmax(axis=-1)[..., None], 1, axis=-1)
        return onehot.reshape(w.shape)

    def spread_to_winners(self, x, g, out=None, ties="split"):
        r"""``g`` (N, C, H_out, W_out) sent to the maxima of each window; shape of x.

        .. math:: r_i = \sum_j \frac{1[x_i = y_j]}{\#\{i' \in \text{window}(j): x_{i'} = y_j\}} g_j

        where ``y = forward(x)``: ``fold(winner_share(x) * g)`` with fewer
        passes over window-sized arrays (``ties="split"``), or
        ``fold(first_winner(x) * g)`` (``ties="first"``).

        Parameters
        ----------
        x : ndarray, shape (N, C, H, W)
        g : ndarray, shape (N, C, H_out, W_out)
        out : ndarray, shape (N, C, H_out, W_out), optional
            ``forward(x)`` if the caller has it (the window maxima are then not
            recomputed); the result is the same.
        ties : {"split", "first"}
            A window with several maxima shares ``g_j`` equally among them, or
            sends it wholly to the first one in row-major order (PyTorch's rule).

        Returns
        -------
        ndarray, shape (N, C, H, W), dtype ``result_type(x, g)``
        """
        if ties not in ("split", "first"):
            raise ValueError(f"MaxPool2d.spread_to_winners: ties must be 'split' or 'first', got {ties!r}")
        if self._tiles_input():
            return self._spread_to_tile_winners(x, g, self._forward(x) if out is None else out, ties)
        if ties == "first":
            return self._fold(self.first_winner(x) * g[..., None, None], x.shape)
        v = self._windows(x, -np.inf)
        y = window_max(v) if out is None else out
        # per kernel offset (a, b): which windows have their maximum there; written offset-major so that
        # each step reads one strided view and writes one contiguous block (far fewer passes than the
        # comparison over the 6-d view, a float copy of it and a product of the same size)
        kH, kW = self.kernel_size
        parts = np.empty((y.shape[0], y.shape[1], kH, kW) + y.shape[2:], dtype=np.result_type(x.dtype, g.dtype))
        count = np.zeros(y.shape, dtype=parts.dtype)
        for a in range(kH):
            for b in range(kW):
                np.equal(v[..., a, b], y, out=parts[:, :, a, b], casting="unsafe")
                count += parts[:, :, a, b]
        share = np.divide(g, count, out=count)          # every window holds its maximum: count >= 1
        parts *= share[:, :, None, None]
        return self._fold(parts.transpose(0, 1, 4, 5, 2, 3), x.shape)

    def _spread_to_tile_winners(self, x, g, y, ties):
        """:meth:`spread_to_winners` for tiling windows: one comparison and one product over x."""
        kH, kW = self.kernel_size
        tiles = self._tiles(x, -np.inf)
        dtype = np.result_type(x.dtype, g.dtype)
        rep = _repeat_last(y, kW, np.empty(y.shape[:3] + (y.shape[3] * kW,), dtype)) if kW > 1 else y
        is_max = tiles == rep[:, :, :, None]                       # bool, (N, C, H_out, kH, W_out*kW)
        if ties == "first":
            # keep the first maximum of each window in row-major order: kH*kW steps over (N, C, H_out, W_out)
            m = is_max.reshape(is_max.shape[:4] + (-1, kW))
            seen = m[:, :, :, 0, :, 0].copy()
            for a in range(kH):
                for b in range(kW):
                    if a or b:
                        np.greater(m[:, :, :, a, :, b], seen, out=m[:, :, :, a, :, b])   # max and not seen
                        seen |= m[:, :, :, a, :, b]
            share = g
        else:
            # number of maxima per window, counted in bytes (at most kH*kW), then divided on the small array
            counts = is_max.view(np.uint8) if kH * kW < 256 else is_max.astype(np.int64)
            share = np.divide(g, _reduce_tiles(counts, kW, np.add), dtype=dtype)
        result, out_tiles = self._new_tiled(x.shape, dtype)
        rep = _repeat_last(share, kW, rep if kW > 1 else None)      # the buffer of y reused
        np.multiply(is_max, rep[:, :, :, None], out=out_tiles)
        return result

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
        return self._window_sums(np.abs(x) ** self.p) ** (1.0 / self.p)

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
