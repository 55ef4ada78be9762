"""2-D convolution (cross-correlation, as in PyTorch and ONNX) through im2col."""
import numpy as np

from .._validation import as_float_param, check_relevance, pair
from ..im2col import col2im, correlate, im2col, output_size, pad, pads4, tiles
from .. import workspace
from ..frozen import cached
from ..workspace import scratch
from .base import LinearLayer

__all__ = ["Conv2d", "conv_pads"]


class Conv2d(LinearLayer):
    r"""Convolution (cross-correlation) of a zero-padded input.

    .. math:: z_{o,i,j} = \sum_{c,a,b} w_{o,c,a,b}\, x_{c,\, i s_H + a - t,\, j s_W + b - l} + b_o

    where an ``x`` outside the input (a padded position) is 0.

    Parameters
    ----------
    weight : array_like, shape (C_out, C_in, kH, kW)
    bias : array_like, shape (C_out,), optional
    stride : int or (int, int)
    padding : int, (pH, pW) or (top, left, bottom, right)
        Zero padding: an int on all four sides, ``(pH, pW)`` at both ends of each axis, or four
        non-negative ints in the order of ONNX ``pads`` and :class:`~dtd.layers.ZeroPad2d`, which may
        differ at the two ends of an axis (TensorFlow ``SAME`` with stride 2 pads ``(0, 0, 1, 1)``).

    Attributes
    ----------
    pads : (int, int, int, int)
        ``(top, left, bottom, right)``, always.
    padding : (int, int) or (int, int, int, int)
        ``(pH, pW)`` when both ends of each axis are padded alike (every symmetric layer, as before),
        else the 4-tuple ``pads``.  Either passes back to the constructor (and the native format stores
        it so: the files of symmetric models are unchanged); code that needs the ends reads ``pads``.

    Shapes: ``x`` (N, C_in, H, W) -> ``y`` (N, C_out, H_out, W_out) with
    ``H_out = (H + t + b - kH) // sH + 1``, ``W_out = (W + l + r - kW) // sW + 1``.

    Every rule pads its modified inputs (``x``, bounds, ones) the same way, with zeros: a padded position
    is not an input, receives no relevance and adds nothing to a denominator, whether the padding is
    symmetric or not.  (A :class:`~dtd.layers.ZeroPad2d` before a convolution is different under z^B, w^2
    and flat: its padded positions are inputs of the convolution; the ONNX import therefore folds every
    zero ``Pad`` before a ``Conv`` into the convolution.)

    The forward is one matrix product of the weights, shape (C_out, C_in*kH*kW),
    with the im2col matrix (:func:`dtd.im2col.im2col`, one copy of the windows,
    written into a reused scratch buffer, :mod:`dtd.workspace`; a nonzero bias
    is added to each piece of the output right after its product, while it is
    in cache; a 1x1 stride-1 kernel needs no im2col at all).  The transpose
    (gradient, and step 3 of every rule) is, for stride 1 on images of at least
    2048 positions, the convolution of the padded gradient with the flipped
    kernel (again im2col and one product); otherwise the transposed product
    folded back by :func:`dtd.im2col.col2im` with a loop over the ``kH*kW``
    kernel offsets.

    >>> layer = Conv2d(np.ones((1, 1, 2, 2)), [0.0])
    >>> layer.forward(np.arange(9.0).reshape(1, 1, 3, 3))[0, 0].tolist()
    [[8.0, 12.0], [20.0, 24.0]]
    >>> same = Conv2d(np.ones((1, 1, 2, 2)), [0.0], stride=2, padding=(0, 0, 1, 1))
    >>> same.padding, same.forward(np.arange(9.0).reshape(1, 1, 3, 3))[0, 0].tolist()
    ((0, 0, 1, 1), [[8.0, 7.0], [13.0, 8.0]])
    """

    input_ndim = 4
    array_keys = ("weight", "bias")
    stackable = True
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
        if min(self.stride) < 1:
            raise ValueError(f"Conv2d: stride must be >= 1 and padding >= 0, got stride {self.stride}")
        self.pads = conv_pads(padding, type(self).__name__)
        t, l, b, r = self.pads
        self.padding = (t, l) if (t, l) == (b, r) else self.pads

    @property
    def kernel_size(self):
        return self.weight.shape[2:]

    def _channels(self):
        return self.weight.shape[1]

    @property
    def symmetric(self):
        """True if both ends of each spatial axis are padded alike (``padding`` is then ``(pH, pW)``)."""
        t, l, b, r = self.pads
        return (t, l) == (b, r)

    def output_shape(self, shape):
        N, _, H, W = shape
        kH, kW = self.kernel_size
        t, l, b, r = self.pads
        return (N, self.weight.shape[0],
                output_size(H, kH, self.stride[0], (t, b)),
                output_size(W, kW, self.stride[1], (l, r)))

    def params(self, dtype):
        return self.weight.astype(dtype, copy=False), self.bias.astype(dtype, copy=False)

    def _check(self, x, finite=True):
        x = super()._check(x, finite)
        self.output_shape(x.shape)  # raises if the kernel does not fit
        return x

    def _cols(self, x):
        """The whole im2col matrix of ``x``, (N, C*kH*kW, Ho*Wo), in this thread's scratch buffer.

        Valid until the next convolution in this thread.
        """
        N, C = x.shape[:2]
        kH, kW = self.kernel_size
        Ho, Wo = self.output_shape(x.shape)[2:]
        return im2col(self._padded(x, self.pads), self.kernel_size, self.stride,
                      out=scratch("conv-cols", (N, C * kH * kW, Ho * Wo), x.dtype))

    @staticmethod
    def _chunks(N, rows, cols, dtype):
        """Slices of the batch whose (rows x cols) matrices together fit the scratch limit (>= 1 sample each).

        Used where a whole matrix per sample is needed (the scatter route of the transpose); the products
        that can run on part of an image go through :func:`correlate` instead.
        """
        per = rows * cols * np.dtype(dtype).itemsize
        return [samples for samples, _ in tiles(N, 1, per, limit=workspace.LIMIT)]

    @staticmethod
    def _padded(x, padding):
        """``x`` zero-padded by ``padding`` (``(pH, pW)`` or ``(top, left, bottom, right)``) in this thread's
        scratch buffer (``x`` itself without padding)."""
        t, l, b, r = pads4(padding)
        if not (t or l or b or r):
            return x
        N, C, H, W = x.shape
        return pad(x, (t, l, b, r), out=scratch("conv-pad", (N, C, H + t + b, W + l + r), x.dtype))

    def linear(self, x, weight, bias, post=None):
        N = x.shape[0]
        Co = weight.shape[0]
        Ho, Wo = self.output_shape(x.shape)[2:]
        w = weight.reshape(Co, -1)
        # a non-zero bias is added to each piece of z right after its product, while the piece is in cache
        add = [bias] if bias is not None and bool(bias.any()) else None
        z = np.empty((N, Co, Ho * Wo), np.result_type(w, x))
        correlate(self._padded(x, self.pads), self.kernel_size, self.stride, [w], [z], post=post, biases=add)
        return z.reshape(N, Co, Ho, Wo)

    def linear_stack(self, x, maps):
        """Several maps of ``x`` sharing one im2col matrix: one taller product for fewer than 256 output
        channels (where BLAS gains from the height), else one product per map (no copy of the weights)."""
        if maps[0][0].shape[0] < 256:
            # one matrix [W_1 | b_1; W_2 | b_2; ...] (the biases as a last column when any is non-zero), built
            # in one go and kept across calls when the weights are frozen (dtd.frozen)
            ws, bs = tuple(w for w, _ in maps), tuple(b for _, b in maps)
            biased = tuple(b is not None and bool(b.any()) for b in bs)
            arrays = ws + tuple(b for b, used in zip(bs, biased) if used)
            w2d = cached(arrays, ("conv-stack", biased), lambda: _stacked_matrix(ws, bs, biased))
            N = x.shape[0]
            Ho, Wo = self.output_shape(x.shape)[2:]
            z = np.empty((N, w2d.shape[0], Ho * Wo), np.result_type(w2d, x))
            correlate(self._padded(x, self.pads), self.kernel_size, self.stride, [w2d], [z], ones_row=any(biased))
            sizes = [w.shape[0] for w in ws]
            return [p.reshape(N, -1, Ho, Wo) for p in np.split(z, np.cumsum(sizes)[:-1], axis=1)]
        N = x.shape[0]
        Ho, Wo = self.output_shape(x.shape)[2:]
        outs = [np.empty((N, w.shape[0], Ho * Wo), np.result_type(w, x)) for w, _ in maps]
        correlate(self._padded(x, self.pads), self.kernel_size, self.stride,
                  [w.reshape(w.shape[0], -1) for w, _ in maps], outs)
        for (_, b), z in zip(maps, outs):
            if b is not None and b.any():
                z += b[:, None]
        return [z.reshape(N, -1, Ho, Wo) for z in outs]

    def linear_backward(self, g, weight, x_shape):
        N, C, H, W = x_shape
        (kH, kW), (t, l, b, r) = self.kernel_size, self.pads
        Co = weight.shape[0]
        dtype = np.result_type(weight, g)
        if (kH, kW) == (1, 1) and self.stride == (1, 1) and not any(self.pads):
            # 1x1, stride 1: the transpose is one product W^T g per sample, no im2col nor scatter
            out = np.empty((N, C, H * W), dtype)
            np.matmul(weight.reshape(Co, C).T, g.reshape(N, Co, H * W), out=out)
            return out.reshape(N, C, H, W)
        if self.stride == (1, 1) and max(t, b) < kH and max(l, r) < kW and N * H * W >= 2048 and Co <= C:
            # stride 1: the transpose is a convolution of g, padded by k - 1 - p (the ends exchanged: the
            # top by kH - 1 - t, the bottom by kH - 1 - b), with the kernel flipped and its channel axes
            # exchanged -- an im2col and one product, no scatter (faster unless the image is so small that
            # flipping the weights costs more than the scatter, or g has more channels than x, which makes
            # its im2col matrix the larger one)
            flipped = cached((weight,), ("flipped",), lambda: _flipped(weight))
            out = np.empty((N, C, H * W), dtype)
            correlate(self._padded(g, _transpose_pads((kH, kW), self.pads)), (kH, kW), (1, 1), [flipped], [out])
            return out.reshape(N, C, H, W)
        w = weight.reshape(Co, -1)
        g = g.reshape(N, Co, -1)
        out = np.empty((N, C, H, W), dtype)
        for part in self._chunks(N, w.shape[1], g.shape[2], dtype):
            n = g[part].shape[0]
            cols = scratch("conv-cols", (n, w.shape[1], g.shape[2]), dtype)
            np.matmul(w.T, g[part], out=cols)                                 # (n, C*kH*kW, Ho*Wo)
            padded = col2im(cols, (n, C, H + t + b, W + l + r), self.kernel_size, self.stride)
            out[part] = padded[:, :, t:t + H, l:l + W]
        return out

    def param_grads(self, x, grad_y):
        """Gradients of ``sum(grad_y * forward(x))`` w.r.t. ``(weight, bias)``.

        Returns
        -------
        (ndarray (C_out, C_in, kH, kW), ndarray (C_out,))
        """
        self._check(x)
        check_relevance(grad_y, self.output_shape(x.shape), self, name="grad_y")
        N, Co = grad_y.shape[:2]
        cols = self._cols(x)
        dw = np.tensordot(grad_y.reshape(N, Co, -1), cols, axes=([0, 2], [0, 2]))
        return dw.reshape((Co,) + self.weight.shape[1:]), grad_y.sum(axis=(0, 2, 3))

    def _repr_args(self):
        o, c, kh, kw = self.weight.shape
        return f"{c}->{o}, kernel=({kh}, {kw}), stride={self.stride}, padding={self.padding}"


def conv_pads(padding, owner="Conv2d"):
    """``(top, left, bottom, right)`` of a convolution's ``padding``: an int, ``(pH, pW)`` or 4 ints.

    >>> conv_pads(1), conv_pads((1, 2)), conv_pads((0, 0, 1, 1))
    ((1, 1, 1, 1), (1, 2, 1, 2), (0, 0, 1, 1))
    >>> conv_pads((1, 2, 3))
    Traceback (most recent call last):
    ...
    ValueError: Conv2d: padding must be an int, (pH, pW) or (top, left, bottom, right), got 3 values (1, 2, 3)
    """
    if isinstance(padding, (int, np.integer)):
        padding = (padding,) * 4
    try:
        values = tuple(padding)
    except TypeError:
        raise TypeError(f"{owner}: padding must be an int, (pH, pW) or (top, left, bottom, right), "
                        f"got {padding!r}") from None
    if not all(isinstance(v, (int, np.integer)) or (isinstance(v, (float, np.floating)) and float(v).is_integer())
               for v in values):
        raise TypeError(f"{owner}: padding must hold ints, got {padding!r}")
    values = tuple(int(v) for v in values)
    if len(values) not in (2, 4):
        raise ValueError(f"{owner}: padding must be an int, (pH, pW) or (top, left, bottom, right), "
                         f"got {len(values)} values {values}")
    if min(values) < 0:
        raise ValueError(f"{owner}: padding must be >= 0 (cropping is not a convolution's padding), got {values}")
    return pads4(values)


def _transpose_pads(kernel, pads):
    """The padding of the gradient in the stride-1 transpose as a correlation with the flipped kernel:
    ``(kH - 1 - t, kW - 1 - l, kH - 1 - b, kW - 1 - r)`` (each pad smaller than the kernel)."""
    (kH, kW), (t, l, b, r) = kernel, pads
    return (kH - 1 - t, kW - 1 - l, kH - 1 - b, kW - 1 - r)


def _flipped(weight):
    """The kernel flipped in space with its channel axes exchanged, as a (C_in, C_out*kH*kW) matrix that owns
    its memory: the weights of the stride-1 transpose as a convolution."""
    Co, C, kH, kW = weight.shape
    out = np.empty((C, Co * kH * kW), weight.dtype)
    out.reshape(C, Co, kH, kW)[...] = weight[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
    return out


def _stacked_matrix(ws, bs, biased):
    """``[W_m | b_m]`` stacked over the maps m, (sum C_out_m, C*kH*kW [+ 1]); a zero last column for a map
    without a bias (only when some map has one)."""
    K = ws[0][0].size
    rows = sum(w.shape[0] for w in ws)
    out = np.empty((rows, K + int(any(biased))), np.result_type(*ws))
    r = 0
    for w, b, used in zip(ws, bs, biased):
        out[r:r + w.shape[0], :K] = w.reshape(w.shape[0], -1)
        if any(biased):
            out[r:r + w.shape[0], K] = b if used else 0
        r += w.shape[0]
    return out
