"""Sliding windows over images (im2col) and their adjoint (col2im).

``windows`` returns a strided *view* of all ``kH x kW`` windows of an NCHW
batch: shape ``(N, C, H_out, W_out, kH, kW)``, no copy (the pooling layers
reduce over its last two axes).  ``fold`` is its adjoint: it adds every window
entry back to the input position it came from, with a loop over the ``kH*kW``
kernel offsets (never over output positions).

``im2col`` copies the same windows into the matrix a convolution multiplies,
shape ``(N, C*kH*kW, H_out*W_out)``; its rows keep the output positions
contiguous, so the copy reads memory in order and ``weight (C_out, C*kH*kW) @
cols`` gives the output directly in NCHW.  ``col2im`` is its adjoint.

A naive loop reference of both lives in ``tests/test_im2col.py``.
"""
import numpy as np
from numpy.lib.stride_tricks import as_strided, sliding_window_view

from . import workspace

__all__ = ["output_size", "pad", "pads4", "windows", "fold", "window_sum", "window_max", "im2col", "col2im", "tiles",
           "correlate"]


def output_size(size, kernel, stride, padding=0):
    """Number of window positions along one axis: ``(size + before + after - kernel) // stride + 1``.

    ``padding`` is an int (both ends) or ``(before, after)``.

    >>> output_size(5, 3, 1, 1), output_size(6, 2, 2), output_size(7, 3, 2, (0, 1))
    (5, 3, 3)
    """
    before, after = (padding, padding) if isinstance(padding, (int, np.integer)) else padding
    out = (size + before + after - kernel) // stride + 1
    if out < 1:
        shown = before if before == after else f"({before} before, {after} after)"
        raise ValueError(
            f"kernel {kernel} with padding {shown} does not fit an input of size {size}"
        )
    return out


def pad(x, padding, value=0.0, out=None):
    """Pad the two spatial axes of an NCHW batch by ``padding``.

    ``padding`` is ``(pH, pW)`` (both ends of each axis) or ``(top, left, bottom, right)``.
    ``out`` (shape of the padded batch) receives the result if given;
    without padding ``x`` itself is returned.

    >>> pad(np.ones((1, 1, 1, 2)), (0, 1, 1, 0))[0, 0].tolist()
    [[0.0, 1.0, 1.0], [0.0, 0.0, 0.0]]
    """
    t, l, b, r = pads4(padding)
    if not (t or l or b or r):
        return x
    if out is None:
        return np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)), constant_values=value)
    H, W = x.shape[2:]
    out[:, :, :t] = value
    out[:, :, t + H:] = value
    out[:, :, t:t + H, :l] = value
    out[:, :, t:t + H, l + W:] = value
    out[:, :, t:t + H, l:l + W] = x
    return out


def pads4(padding):
    """``(top, left, bottom, right)`` of ``(pH, pW)`` (both ends) or of 4 ints already in that order.

    >>> pads4((1, 2)), pads4((0, 0, 1, 1))
    ((1, 2, 1, 2), (0, 0, 1, 1))
    """
    padding = tuple(int(p) for p in padding)
    if len(padding) == 2:
        return padding + padding
    if len(padding) != 4:
        raise ValueError(f"padding must be (pH, pW) or (top, left, bottom, right), got {padding!r}")
    return padding


def windows(x, kernel, stride):
    """All windows of an (already padded) NCHW batch, as a view.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    kernel, stride : (int, int)

    Returns
    -------
    ndarray, shape (N, C, H_out, W_out, kH, kW)
        ``out[n, c, i, j] = x[n, c, i*sH : i*sH+kH, j*sW : j*sW+kW]`` (read-only view).

    >>> x = np.arange(16.).reshape(1, 1, 4, 4)
    >>> windows(x, (2, 2), (2, 2))[0, 0, 1, 0].tolist()
    [[8.0, 9.0], [12.0, 13.0]]
    """
    kH, kW = kernel
    sH, sW = stride
    v = sliding_window_view(x, (kH, kW), axis=(2, 3))
    return v[:, :, ::sH, ::sW]


def window_sum(v):
    """Sum over each window of a :func:`windows` view: shape (N, C, H_out, W_out).

    A loop over the ``kH*kW`` kernel offsets: each step adds a 4-D strided view,
    far faster than NumPy's reduction over the two short trailing axes.

    >>> window_sum(windows(np.arange(16.).reshape(1, 1, 4, 4), (2, 2), (2, 2)))[0, 0].tolist()
    [[10.0, 18.0], [42.0, 50.0]]
    """
    kH, kW = v.shape[-2:]
    out = v[..., 0, 0].copy()
    for a in range(kH):
        for b in range(kW):
            if a or b:
                out += v[..., a, b]
    return out


def window_max(v):
    """Maximum over each window of a :func:`windows` view: shape (N, C, H_out, W_out) (loop over offsets).

    >>> window_max(windows(np.arange(16.).reshape(1, 1, 4, 4), (2, 2), (2, 2)))[0, 0].tolist()
    [[5.0, 7.0], [13.0, 15.0]]
    """
    kH, kW = v.shape[-2:]
    out = v[..., 0, 0].copy()
    for a in range(kH):
        for b in range(kW):
            if a or b:
                np.maximum(out, v[..., a, b], out=out)
    return out


def fold(cols, shape, stride):
    """Adjoint of :func:`windows`: sum window entries back onto the input grid.

    Parameters
    ----------
    cols : ndarray, shape (N, C, H_out, W_out, kH, kW)
    shape : tuple
        ``(N, C, H, W)`` of the (padded) input the windows were taken from.
    stride : (int, int)

    Returns
    -------
    ndarray, shape ``shape``
        ``out[n, c, i*sH + a, j*sW + b] += cols[n, c, i, j, a, b]``.

    >>> x = np.ones((1, 1, 3, 3))
    >>> fold(np.ones((1, 1, 2, 2, 2, 2)), x.shape, (1, 1))[0, 0].tolist()
    [[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]
    """
    return _scatter(cols.transpose(0, 1, 4, 5, 2, 3), shape, stride)


def _scatter(parts, shape, stride):
    """``out[n, c, i*sH + a, j*sW + b] += parts[n, c, a, b, i, j]``, by a loop over the offsets (a, b)."""
    N, C, kH, kW, Ho, Wo = parts.shape
    sH, sW = stride
    out = np.zeros(shape, dtype=parts.dtype)
    for a in range(kH):
        for b in range(kW):
            out[:, :, a:a + sH * (Ho - 1) + 1:sH, b:b + sW * (Wo - 1) + 1:sW] += parts[:, :, a, b]
    return out


def im2col(x, kernel, stride, out=None):
    """The im2col matrix of an (already padded) NCHW batch.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    kernel, stride : (int, int)
    out : ndarray, shape (N, C*kH*kW, H_out*W_out), optional
        Where to write the matrix (its last axis must be contiguous; it may be
        a slice of a larger buffer).  A new array when omitted.

    Returns
    -------
    ndarray, shape (N, C*kH*kW, H_out*W_out)
        ``out[n, (c*kH + a)*kW + b, i*W_out + j] = x[n, c, i*sH + a, j*sW + b]``.

    >>> x = np.arange(9.).reshape(1, 1, 3, 3)
    >>> im2col(x, (2, 2), (1, 1))[0].tolist()
    [[0.0, 1.0, 3.0, 4.0], [1.0, 2.0, 4.0, 5.0], [3.0, 4.0, 6.0, 7.0], [4.0, 5.0, 7.0, 8.0]]
    """
    N, C = x.shape[:2]
    kH, kW = kernel
    v = windows(x, kernel, stride).transpose(0, 1, 4, 5, 2, 3)   # (N, C, kH, kW, Ho, Wo), a view
    Ho, Wo = v.shape[4:]
    if out is None:
        return np.ascontiguousarray(v).reshape(N, C * kH * kW, Ho * Wo)   # one copy
    if out.shape != (N, C * kH * kW, Ho * Wo) or out.strides[2] != out.itemsize:
        raise ValueError(f"im2col: out must have shape {(N, C * kH * kW, Ho * Wo)} and a contiguous last axis")
    sN, sK, sL = out.strides
    np.copyto(as_strided(out, v.shape, (sN, kH * kW * sK, kW * sK, sK, Wo * sL, sL)), v)
    return out


def col2im(cols, shape, kernel, stride):
    """Adjoint of :func:`im2col`: add each column entry back onto the (padded) input grid.

    Parameters
    ----------
    cols : ndarray, shape (N, C*kH*kW, H_out*W_out)
    shape : tuple
        ``(N, C, H, W)`` of the padded input.
    kernel, stride : (int, int)

    Returns
    -------
    ndarray, shape ``shape``

    >>> col2im(np.ones((1, 4, 4)), (1, 1, 3, 3), (2, 2), (1, 1))[0, 0].tolist()
    [[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]
    """
    N, C, H, W = shape
    (kH, kW), (sH, sW) = kernel, stride
    Ho, Wo = output_size(H, kH, sH), output_size(W, kW, sW)
    return _scatter(cols.reshape(N, C, kH, kW, Ho, Wo), shape, stride)


def tiles(N, H_out, row_bytes, limit=None):
    """Pieces ``(samples, rows)`` of an output batch whose im2col matrices each fit ``limit`` bytes.

    Parameters
    ----------
    N, H_out : int
        Batch size and output height.
    row_bytes : int
        Bytes of the im2col matrix for one output row of one sample (``C*kH*kW * W_out * itemsize``).
    limit : int, optional
        Bytes of one piece; :data:`dtd.workspace.TILE` by default.

    Returns
    -------
    list of (slice, slice)
        Whole samples (as many as fit) when one sample fits, else single samples cut into bands of
        output rows (at least one row each).  Together they cover the batch once, in order.

    >>> [(s.start, s.stop, r.start, r.stop) for s, r in tiles(1, 5, 10, limit=20)]
    [(0, 1, 0, 2), (0, 1, 2, 4), (0, 1, 4, 5)]
    >>> [(s.start, s.stop, r.start, r.stop) for s, r in tiles(3, 2, 10, limit=45)]
    [(0, 2, 0, 2), (2, 3, 0, 2)]
    """
    limit = workspace.TILE if limit is None else limit
    per_sample = row_bytes * H_out
    if per_sample <= limit:
        step = max(1, min(N, limit // max(per_sample, 1)))
        return [(slice(i, min(N, i + step)), slice(0, H_out)) for i in range(0, N, step)]
    band = max(1, limit // max(row_bytes, 1))
    return [(slice(n, n + 1), slice(r, min(H_out, r + band))) for n in range(N) for r in range(0, H_out, band)]


def correlate(x, kernel, stride, weights, outs, ones_row=False, post=None, biases=None):
    r"""Products of weight matrices with the im2col matrix of ``x``, one cache-sized piece at a time.

    .. math:: \mathrm{out}_m[n, o, l] = \sum_k W_m[o, k]\, \mathrm{cols}[n, k, l]

    with ``cols = im2col(x, kernel, stride)`` (and, if ``ones_row``, one more row of ones, against which
    the last column of each ``W_m`` acts as a bias).  The matrix is never built whole: it is written
    piece by piece (:func:`tiles`: whole samples, or bands of output rows of one sample) into a reused
    scratch buffer small enough to stay in the cache while BLAS reads it, and each piece's product goes
    straight into its columns of ``outs``.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
        The already padded input.
    kernel, stride : (int, int)
    weights : list of ndarray, shapes (C_out_m, C*kH*kW [+ 1])
    outs : list of ndarray, shapes (N, C_out_m, H_out*W_out)
        Filled in place; their last axis must be contiguous.
    post : callable, optional
        An elementwise in-place function (a ReLU) applied to each piece of every output right after its
        product, while the piece is still in cache.
    biases : list of ndarray, optional
        Shapes (C_out_m,): added to each piece of ``outs[m]`` right after its product (before ``post``);
        the alternative to ``ones_row`` that needs no copy of the weights.

    >>> x = np.arange(9.).reshape(1, 1, 3, 3)
    >>> out = np.empty((1, 1, 4))
    >>> correlate(x, (2, 2), (1, 1), [np.ones((1, 4))], [out]); out.tolist()
    [[[8.0, 12.0, 20.0, 24.0]]]
    """
    N, C = x.shape[:2]
    (kH, kW), (sH, sW) = kernel, stride
    Ho, Wo = output_size(x.shape[2], kH, sH), output_size(x.shape[3], kW, sW)
    K = C * kH * kW
    if (kH, kW) == (1, 1) and (sH, sW) == (1, 1):
        # a 1x1 convolution with stride 1: the im2col matrix is x itself (no copy), one product per sample
        x3 = x.reshape(N, C, Ho * Wo)
        for m, (w, z) in enumerate(zip(weights, outs)):
            np.matmul(w[:, :K], x3, out=z)
            if ones_row:
                z += w[:, K:K + 1]
            if biases is not None:
                z += biases[m][:, None]
            if post is not None:
                post(z)
        return
    rows = K + int(ones_row)
    for samples, band in tiles(N, Ho, rows * Wo * x.dtype.itemsize):
        n, h = samples.stop - samples.start, band.stop - band.start
        cols = workspace.scratch("conv-cols", (n, rows, h * Wo), x.dtype)
        im2col(x[samples, :, band.start * sH:(band.stop - 1) * sH + kH], kernel, stride, out=cols[:, :K])
        if ones_row:
            cols[:, K] = 1
        for m, (w, z) in enumerate(zip(weights, outs)):
            piece = z[samples, :, band.start * Wo:band.stop * Wo]
            np.matmul(w, cols, out=piece)
            if biases is not None:
                piece += biases[m][:, None]
            if post is not None:
                post(piece)
