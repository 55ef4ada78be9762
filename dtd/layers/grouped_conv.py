"""Grouped 2-D convolution (ONNX ``Conv`` with ``group > 1``: AlexNet's split layers, ResNeXt, and the
depthwise convolutions of MobileNet), vectorised over the groups.

Two routes, neither with a Python loop over the groups:

* **depthwise** (one input channel per group, ``C_in / g == 1``, any number of outputs per group): a sum
  over the ``kH*kW`` window offsets of shifted input slices times per-channel weights -- ``kH*kW``
  vectorised multiply-adds, no im2col.  The zero-padded input is split into its ``sH*sW`` phases
  (:class:`_Phases`; one phase, the padded input itself, at stride 1), in which every offset is one
  *contiguous* slice against a "wide" output (rows of the phase's width, the extra columns cut off at
  the end).  On small images (:data:`FLAT_MAX`) the channels of a piece are one long axis, the weights
  expanded along it (:func:`_depthwise_forward_flat`).  The transpose adds the products of the gradient
  and the weights into the same slices of the padded gradient's phases, then cuts the padding off.
* **general**: the im2col matrix of the whole input, whose rows are ordered (channel, offset) so that
  each group's rows are one contiguous block, viewed as (N, g, C_in/g*kH*kW, L), and one batched
  ``np.matmul`` with the weights viewed as (g, C_out/g, C_in/g*kH*kW).  The transpose is the transposed
  batched product folded back by :func:`dtd.im2col.col2im`, or, for stride 1 on large enough images, the
  grouped convolution of the padded gradient with the flipped kernel.

Both work on pieces of the batch (whole samples, channels or bands of output rows) of bounded size, as
:class:`Conv2d` does: the im2col pieces are at most :data:`GROUPED_TILE` bytes, the depthwise
pieces :data:`DEPTHWISE_TILE` bytes (kept in cache across the ``kH*kW`` passes).  Beyond the input and
the output, the depthwise route keeps only these pieces and the expanded weights of one chunk of channels
(at most ``kH*kW / (sH*sW + 2)`` times :data:`DEPTHWISE_TILE`).

The per-group loop this replaces is kept as :func:`_per_group_linear`, :func:`_per_group_linear_backward`
and :func:`_per_group_param_grads`: the naive reference of the tests and the benchmark.
"""
import numpy as np

from .._validation import check_relevance
from ..im2col import col2im, im2col, output_size, pads4, tiles
from .. import workspace
from ..workspace import scratch
from .conv import Conv2d, _transpose_pads

__all__ = ["GroupedConv2d"]

#: bytes of the arrays of one piece of a depthwise convolution (the input's phases, the wide output and a
#: temporary): the piece stays in the 2 MB L2 cache across the kH*kW passes over it
DEPTHWISE_TILE = 2 ** 19

#: bytes of one im2col piece of the general grouped route (smaller than :data:`dtd.workspace.TILE`: its
#: products are per group and small, so the piece is read back while in L2; 10-30 % faster with 32 groups)
GROUPED_TILE = 4 * 2 ** 20

#: largest padded image (Hs*Ws entries a phase) a depthwise convolution runs with one long axis over all
#: the channels of a piece (:func:`_depthwise_forward_flat`; 20-40 % faster up to 30x30, slower from 57x57
#: on: the expanded weights are one more stream to read); larger images run channel by channel
FLAT_MAX = 2048


class GroupedConv2d(Conv2d):
    r"""Convolution whose channels are split into ``groups`` independent convolutions.

    Output channels ``[k C_out/g, (k+1) C_out/g)`` see only the input channels
    ``[k C_in/g, (k+1) C_in/g)``:

    .. math:: z_{o,i,j} = \sum_{c \in \mathrm{group}(o),\,a,\,b} w_{o,\,c - c_0(o),\,a,\,b}\,
              x_{c,\, i s_H + a - t,\, j s_W + b - l} + b_o

    (``x`` is 0 at a padded position; ``(t, l)`` the top and left of :attr:`pads`).

    Parameters
    ----------
    weight : array_like, shape (C_out, C_in / groups, kH, kW)
        The ONNX/PyTorch layout of a grouped convolution.
    bias, stride, padding
        As :class:`Conv2d` (``padding`` may differ at the two ends of an axis: ``(top, left, bottom, right)``).
    groups : int
        Divides C_out.

    Shapes: (N, C_in, H, W) -> (N, C_out, H_out, W_out).

    It is a :class:`Conv2d` (composites treat it as one).  The operator is vectorised over the groups
    (see the module docstring): a depthwise convolution (``C_in == groups``) runs as ``kH*kW``
    multiply-adds of shifted input slices, any other as one batched matrix product over the groups.
    Unconnected channel pairs are not connections, which matters for the flat rule only.

    >>> w = np.ones((2, 1, 1, 1))
    >>> GroupedConv2d(w, groups=2).forward(np.array([[[[1.0]], [[5.0]]]])).ravel().tolist()
    [1.0, 5.0]
    >>> dw = GroupedConv2d(np.array([[[[1.0, 2.0]]], [[[0.0, -1.0]]]]), groups=2)   # depthwise, 1x2
    >>> dw.forward(np.arange(6.0).reshape(1, 2, 1, 3))[0].tolist()
    [[[2.0, 5.0]], [[-4.0, -5.0]]]
    """

    config_keys = ("stride", "padding", "groups")
    stackable = False           # stacking along the output channels would mix the groups

    def __init__(self, weight, bias=None, stride=1, padding=0, groups=1):
        super().__init__(weight, bias, stride, padding)
        if int(groups) != groups or groups < 1:
            raise ValueError(f"GroupedConv2d: groups must be a positive int, got {groups!r}")
        self.groups = int(groups)
        if self.weight.shape[0] % self.groups:
            raise ValueError(f"GroupedConv2d: {self.weight.shape[0]} output channels do not split into "
                             f"{self.groups} groups")

    def _channels(self):
        return self.weight.shape[1] * self.groups

    @property
    def depthwise(self):
        """True if every group has one input channel (the route without im2col)."""
        return self.weight.shape[1] == 1

    def linear(self, x, weight, bias, post=None):
        """The grouped correlation of ``x`` (N, C_in, H, W) with ``weight`` (C_out, C_in/g, kH, kW) and
        ``bias`` (C_out,) or None, as in the class formula: the depthwise route or one batched product over
        the groups.  ``post`` (an in-place elementwise function) is applied to each finished piece."""
        if self.groups == 1:
            return Conv2d.linear(self, x, weight, bias, post=post)
        if bias is not None and not bool(bias.any()):
            bias = None
        return _grouped_forward(x, weight, bias, self.groups, self.stride, self.pads, post)

    def linear_backward(self, g, weight, x_shape):
        r"""Transpose of :meth:`linear` (without bias): :math:`\partial_x \sum g \cdot \mathrm{linear}(x, w, 0)`,
        shape ``x_shape``.  Depthwise: adds into the padded gradient's phases; otherwise the transposed
        batched product folded back by col2im, or (stride 1, images of >= 2048 positions, C_out/g <= C_in/g)
        the grouped correlation of the padded ``g`` with the flipped kernel."""
        if self.groups == 1:
            return Conv2d.linear_backward(self, g, weight, x_shape)
        N, C, H, W = x_shape
        G = self.groups
        Co, ci, kH, kW = weight.shape
        co = Co // G
        (t, l, b, r), (sH, sW) = self.pads, self.stride
        dtype = np.result_type(weight, g)
        if ci == 1:
            return _depthwise_transpose(g, weight, x_shape, self.stride, self.pads, dtype)
        if self.stride == (1, 1) and max(t, b) < kH and max(l, r) < kW and N * H * W >= 2048 and co <= ci:
            # stride 1: a grouped convolution of g, padded by k - 1 - p (the ends exchanged), with each
            # group's kernel flipped and its channel axes exchanged (shape (C_in, C_out/g, kH, kW), same groups)
            flipped = weight.reshape(G, co, ci, kH, kW).transpose(0, 2, 1, 3, 4)[..., ::-1, ::-1]
            flipped = np.ascontiguousarray(flipped, dtype=dtype).reshape(C, co, kH, kW)
            return _grouped_forward(g, flipped, None, G, (1, 1), _transpose_pads((kH, kW), self.pads), None)
        # the transposed batched product, (n, g, ci*kH*kW, L), folded back by col2im
        K = ci * kH * kW
        wT = np.ascontiguousarray(weight.reshape(G, co, K).transpose(0, 2, 1), dtype=dtype)   # (g, K, co)
        L = g.shape[2] * g.shape[3]
        g4 = g.reshape(N, G, co, L)
        out = np.empty((N, C, H, W), dtype)
        for part in self._chunks(N, G * K, L, dtype):
            n = g4[part].shape[0]
            cols = scratch("conv-cols", (n, G * K, L), dtype)
            np.matmul(wT, g4[part], out=cols.reshape(n, G, K, L))
            padded = col2im(cols, (n, C, H + t + b, W + l + r), (kH, kW), (sH, sW))
            out[part] = padded[:, :, t:t + H, l:l + W]
        return out

    def param_grads(self, x, grad_y):
        """Gradients of ``sum(grad_y * forward(x))`` w.r.t. ``(weight, bias)``, shaped like them.

        One batched product over the groups of ``grad_y`` (N, g, C_out/g, L) with the transposed im2col
        matrix of ``x`` (N, g, L, C_in/g*kH*kW), summed over the batch.
        """
        self._check(x)
        check_relevance(grad_y, self.output_shape(x.shape), self, name="grad_y")
        N, Co = grad_y.shape[:2]
        G = self.groups
        cols = self._cols(x)                                   # (N, C_in*kH*kW, L)
        K, L = cols.shape[1] // G, cols.shape[2]
        dw = np.matmul(grad_y.reshape(N, G, Co // G, L), cols.reshape(N, G, K, L).transpose(0, 1, 3, 2))
        return dw.sum(axis=0).reshape(self.weight.shape), grad_y.sum(axis=(0, 2, 3))

    def _repr_args(self):
        return super()._repr_args() + f", groups={self.groups}"


# ----------------------------------------------------------------------------------- the vectorised routes
def _grouped_forward(x, weight, bias, groups, stride, padding, post):
    r"""The grouped correlation of a batch.

    .. math:: z_{n,o,i,j} = \sum_{c,a,b} w_{o,c,a,b}\, x_{n,\,c_0(o) + c,\, i s_H + a - t,\, j s_W + b - l} + b_o

    Parameters
    ----------
    x : ndarray, shape (N, C_in, H, W)
    weight : ndarray, shape (C_out, C_in / groups, kH, kW)
    bias : ndarray, shape (C_out,), or None
    groups : int
    stride : (int, int)
    padding : (pH, pW) or (top, left, bottom, right)
    post : callable or None
        In-place elementwise function applied to each finished piece of the output (a ReLU).

    Returns
    -------
    ndarray, shape (N, C_out, H_out, W_out)
    """
    N, C, H, W = x.shape
    Co, ci, kH, kW = weight.shape
    (sH, sW), (t, l, b, r) = stride, pads4(padding)
    Ho, Wo = output_size(H, kH, sH, (t, b)), output_size(W, kW, sW, (l, r))
    dtype = np.result_type(weight, x)
    if ci == 1:
        return _depthwise_forward(x, weight, bias, stride, padding, dtype, post)
    xp = Conv2d._padded(x, padding)
    G, co, K = groups, Co // groups, ci * kH * kW
    w3 = weight.reshape(G, co, K)
    b3 = None if bias is None else bias.astype(dtype, copy=False).reshape(G, co, 1)
    z = np.empty((N, G, co, Ho * Wo), dtype)
    for samples, band in tiles(N, Ho, C * kH * kW * Wo * xp.dtype.itemsize, limit=min(GROUPED_TILE, workspace.TILE)):
        n, h = samples.stop - samples.start, band.stop - band.start
        cols = scratch("conv-cols", (n, C * kH * kW, h * Wo), xp.dtype)
        im2col(xp[samples, :, band.start * sH:(band.stop - 1) * sH + kH], (kH, kW), stride, out=cols)
        piece = z[samples, :, :, band.start * Wo:band.stop * Wo]
        np.matmul(w3, cols.reshape(n, G, K, h * Wo), out=piece)
        if b3 is not None:
            piece += b3
        if post is not None:
            post(piece)
    return z.reshape(N, Co, Ho, Wo)


def _pieces(N, C, per_channel, limit):
    """``(samples, channels)`` slices covering an (N, C) batch, each of at most ``limit`` bytes when
    a channel of one sample takes ``per_channel`` bytes (at least one channel of one sample each)."""
    if per_channel * C <= limit:
        step = max(1, limit // max(per_channel * C, 1))
        return [(slice(i, min(N, i + step)), slice(0, C)) for i in range(0, N, step)]
    step = max(1, limit // max(per_channel, 1))
    return [(slice(n, n + 1), slice(c, min(C, c + step))) for n in range(N) for c in range(0, C, step)]


class _Phases:
    r"""The layout of a depthwise convolution's input in which every window offset is one contiguous slice.

    The zero-padded input is split into its ``sH*sW`` phases (polyphase: rows ``p::sH``, columns
    ``q::sW``), each flattened to ``Hs*Ws`` entries (``Hs = ceil(Hp / sH)``, ``Ws = ceil(Wp / sW)``):

    .. math:: P_{p s_W + q,\; u W_s + v} = x^{pad}_{u s_H + p,\; v s_W + q}

    Output position (i, j) and offset (a, b) = (a' sH + p, b' sW + q) then read entry
    ``(i + a') Ws + (j + b')`` of phase ``(p, q)``: for all outputs at once, the slice of length
    ``Lw = (Ho - 1) Ws + Wo`` starting at ``a' Ws + b'`` of that phase, against a *wide* output of
    ``Ho`` rows of ``Ws`` entries whose first ``Wo`` are the outputs (the others are discarded in the
    forward and must be zero in the transpose).  Every read stays inside the phase.  A multiply-add over
    such a slice runs over one long contiguous axis instead of ``Ho`` rows of ``Wo``.
    """

    def __init__(self, x_hw, kernel, stride, padding):
        (H, W), (self.kH, self.kW), (self.sH, self.sW) = x_hw, kernel, stride
        t, l, b, r = pads4(padding)
        self.pH, self.pW = t, l                                       # the top and left padding
        self.H, self.W = H, W
        self.Ho, self.Wo = output_size(H, self.kH, self.sH, (t, b)), output_size(W, self.kW, self.sW, (l, r))
        Hp, Wp = H + t + b, W + l + r
        self.Hs, self.Ws = -(-Hp // self.sH), -(-Wp // self.sW)
        self.Lw = (self.Ho - 1) * self.Ws + self.Wo
        self.trivial = self.sH == self.sW == 1 and not (t or l or b or r)   # the layout is x itself

    def offsets(self):
        """``(a, b, phase, start)`` for every kernel offset."""
        for a in range(self.kH):
            for b in range(self.kW):
                yield a, b, (a % self.sH) * self.sW + b % self.sW, (a // self.sH) * self.Ws + b // self.sW

    def _parts(self):
        """``(phase, rows of x, cols of x, rows of the phase, cols of the phase)`` of the phases' data."""
        for p in range(self.sH):
            u0 = max(0, -(-(self.pH - p) // self.sH))                 # first phase row inside x
            r0 = u0 * self.sH + p - self.pH
            if r0 >= self.H:
                continue
            nu = (self.H - 1 - r0) // self.sH + 1
            for q in range(self.sW):
                v0 = max(0, -(-(self.pW - q) // self.sW))
                c0 = v0 * self.sW + q - self.pW
                if c0 >= self.W:
                    continue
                nv = (self.W - 1 - c0) // self.sW + 1
                yield (p * self.sW + q, slice(r0, r0 + (nu - 1) * self.sH + 1, self.sH),
                       slice(c0, c0 + (nv - 1) * self.sW + 1, self.sW), slice(u0, u0 + nu), slice(v0, v0 + nv))

    def split(self, xs, dtype, name, phase_major=False):
        """The phases of ``xs`` (n, c, H, W), in scratch (or a view of ``xs``): (n, c, sH*sW, Hs*Ws), or
        with ``phase_major`` (n, sH*sW, c*Hs*Ws) (the channels of one phase one after the other)."""
        n, c = xs.shape[:2]
        K, HW = self.sH * self.sW, self.Hs * self.Ws
        if self.trivial and xs.dtype == dtype and (xs[0] if phase_major else xs[0, 0]).flags.c_contiguous:
            return xs.reshape((n, 1, c * HW) if phase_major else (n, c, 1, HW))
        P = scratch(name, (n, K, c * HW) if phase_major else (n, c, K, HW), dtype)
        P.fill(0)
        for k, rows, cols, u, v in self._parts():
            self._phase(P, k, phase_major)[:, :, u, v] = xs[:, :, rows, cols]
        return P

    def merge(self, P, out, phase_major=False):
        """Adjoint of :meth:`split` (the padding cut off): ``out`` (n, c, H, W) from phases ``P``."""
        for k, rows, cols, u, v in self._parts():
            out[:, :, rows, cols] = self._phase(P, k, phase_major)[:, :, u, v]

    def _phase(self, P, k, phase_major):
        """Phase ``k`` of ``P`` as (n, c, Hs, Ws)."""
        n = P.shape[0]
        return P[:, k].reshape(n, -1, self.Hs, self.Ws) if phase_major else P[:, :, k].reshape(n, -1, self.Hs, self.Ws)


def _depthwise_weights(weight, C, dtype):
    """(kH, kW, C, m, 1): the weights of each offset, broadcasting against (n, c, m, L)."""
    Co, _, kH, kW = weight.shape
    return np.ascontiguousarray(weight.reshape(C, Co // C, kH, kW).transpose(2, 3, 0, 1), dtype=dtype)[..., None]


def _depthwise_forward(x, weight, bias, stride, padding, dtype, post):
    r"""Depthwise correlation (one input channel per group, ``m = C_out / C_in`` outputs each):

    .. math:: z_{n,cm+o,i,j} = \sum_{a,b} w_{cm+o,0,a,b}\; x^{pad}_{n,c,\,i s_H + a,\, j s_W + b} + b_{cm+o}

    as ``kH*kW`` multiply-adds of contiguous slices of the input's phases (:class:`_Phases`), one piece of
    (samples, channels) at a time; the wide output is then cut to ``Wo`` columns (bias added on the way).
    """
    N, C, H, W = x.shape
    Co, _, kH, kW = weight.shape
    m = Co // C
    ph = _Phases((H, W), (kH, kW), stride, padding)
    if m == 1 and ph.Hs * ph.Ws <= FLAT_MAX:
        return _depthwise_forward_flat(x, weight, bias, ph, dtype, post)
    Ho, Wo, Ws, Lw = ph.Ho, ph.Wo, ph.Ws, ph.Lw
    w = _depthwise_weights(weight, C, dtype)
    b = None if bias is None else bias.astype(dtype, copy=False).reshape(C, m, 1, 1)
    z = np.empty((N, C, m, Ho, Wo), dtype)
    item = np.dtype(dtype).itemsize
    per_channel = item * (ph.sH * ph.sW * ph.Hs * Ws + 2 * m * Ho * Ws)
    for samples, chans in _pieces(N, C, per_channel, DEPTHWISE_TILE):
        P = ph.split(x[samples, chans], dtype, "depthwise-phases")
        n, c = P.shape[:2]
        wide = scratch("depthwise-wide", (n, c, m, Ho * Ws), dtype)
        acc, tmp = wide[..., :Lw], scratch("depthwise-tmp", (n, c, m, Lw), dtype)
        for a, b_, k, start in ph.offsets():
            src = P[:, :, k, None, start:start + Lw]                    # (n, c, 1, Lw)
            if a == 0 and b_ == 0:
                np.multiply(src, w[a, b_, chans], out=acc)
            else:
                acc += np.multiply(src, w[a, b_, chans], out=tmp)
        zs = z[samples, chans]
        outputs = wide.reshape(n, c, m, Ho, Ws)[..., :Wo]
        if b is None:
            zs[...] = outputs
        else:
            np.add(outputs, b[chans], out=zs)
        if post is not None:
            post(zs)
    return z.reshape(N, Co, Ho, Wo)


def _depthwise_transpose(g, weight, x_shape, stride, padding, dtype):
    r"""Transpose of the depthwise correlation: for every offset, ``sum_o w_{cm+o,0,a,b} g_{n,cm+o}`` added
    into the slice of the (padded, phase-split) gradient it came from, then the padding cut off.

    .. math:: \frac{\partial}{\partial x_{n,c,r,s}} = \sum_{o,a,b,i,j:\; i s_H + a = r + t,\; j s_W + b = s + l}
              w_{cm+o,0,a,b}\; g_{n,cm+o,i,j}
    """
    N, C, H, W = x_shape
    Co, _, kH, kW = weight.shape
    m = Co // C
    ph = _Phases((H, W), (kH, kW), stride, padding)
    if m == 1 and ph.Hs * ph.Ws <= FLAT_MAX:
        return _depthwise_transpose_flat(g, weight, x_shape, ph, dtype)
    Ho, Wo, Ws, Lw = ph.Ho, ph.Wo, ph.Ws, ph.Lw
    w = _depthwise_weights(weight, C, dtype)
    g5 = g.reshape(N, C, m, Ho, Wo)
    out = np.empty((N, C, H, W), dtype)
    item = np.dtype(dtype).itemsize
    per_channel = item * (ph.sH * ph.sW * ph.Hs * Ws + 2 * m * Ho * Ws)
    for samples, chans in _pieces(N, C, per_channel, DEPTHWISE_TILE):
        gs = g5[samples, chans]
        n, c = gs.shape[:2]
        wide = scratch("depthwise-wide", (n, c, m, Ho, Ws), dtype)
        wide[..., :Wo] = gs
        wide[..., Wo:] = 0                                            # the extra columns must send nothing
        wide = wide.reshape(n, c, m, Ho * Ws)[..., :Lw]
        if ph.trivial:                                                # accumulate in out itself
            P = out[samples, chans].reshape(n, c, 1, H * W)
        else:
            P = scratch("depthwise-phases", (n, c, ph.sH * ph.sW, ph.Hs * Ws), dtype)
        P.fill(0)
        tmp = scratch("depthwise-tmp", (n, c, m, Lw), dtype)
        for a, b_, k, start in ph.offsets():
            prod = np.multiply(wide, w[a, b_, chans], out=tmp)
            P[:, :, k, start:start + Lw] += prod[:, :, 0] if m == 1 else prod.sum(axis=2)
        if not ph.trivial:
            ph.merge(P, out[samples, chans])
    return out


def _flat_pieces(N, C, ph, item):
    """``(channels, [samples, ...])`` for the flat route: chunks of channels whose expanded weights are made
    once, each run over groups of samples, a piece (phases, wide output, temporary) of at most
    :data:`DEPTHWISE_TILE` bytes (at least one channel of one sample)."""
    per_channel = (ph.sH * ph.sW + 2) * ph.Hs * ph.Ws * item
    cc = max(1, min(C, DEPTHWISE_TILE // per_channel))
    for c0 in range(0, C, cc):
        c = min(C, c0 + cc) - c0
        step = max(1, DEPTHWISE_TILE // (c * per_channel))
        yield slice(c0, c0 + c), [slice(s, min(N, s + step)) for s in range(0, N, step)]


def _expanded_weights(weight, chans, ph, dtype):
    """(kH*kW, c*Hs*Ws): each offset's weight repeated over its channel's Hs*Ws entries, in scratch."""
    C, kk, HW = chans.stop - chans.start, ph.kH * ph.kW, ph.Hs * ph.Ws
    wexp = scratch("depthwise-wexp", (kk, C, HW), dtype)
    wexp[...] = weight[chans].reshape(C, kk).T[:, :, None]
    return wexp.reshape(kk, C * HW)


def _depthwise_forward_flat(x, weight, bias, ph, dtype, post):
    r"""The depthwise correlation (one output per channel) with one long axis per piece.

    The phases are laid out channel after channel (``split(phase_major=True)``): entry ``c Hs Ws + l``.
    Output position (c, i, j) at wide index ``t = c Hs Ws + i Ws + j`` reads entry ``t + start`` of its
    offset's phase, inside its own channel (see :class:`_Phases`), so each offset is *one* multiply-add
    over ``T = (c - 1) Hs Ws + Lw`` entries, against the weights expanded to the same length
    (:func:`_expanded_weights`): no per-channel loop inside NumPy, which on small images (7x7 .. 28x28)
    costs more than the arithmetic.

    .. math:: z_{n,c,i,j} = \sum_{a,b} w_{c,0,a,b}\; x^{pad}_{n,c,\,i s_H + a,\, j s_W + b} + b_c
    """
    N, C = x.shape[:2]
    Ho, Wo, Hs, Ws, Lw = ph.Ho, ph.Wo, ph.Hs, ph.Ws, ph.Lw
    HW = Hs * Ws
    b = None if bias is None else bias.astype(dtype, copy=False).reshape(C, 1, 1)
    z = np.empty((N, C, Ho, Wo), dtype)
    offsets = list(ph.offsets())
    for chans, groups in _flat_pieces(N, C, ph, np.dtype(dtype).itemsize):
        c = chans.stop - chans.start
        T = (c - 1) * HW + Lw
        wexp = _expanded_weights(weight, chans, ph, dtype)
        for samples in groups:
            P = ph.split(x[samples, chans], dtype, "depthwise-phases", phase_major=True)     # (n, K, c*HW)
            n = P.shape[0]
            wide = scratch("depthwise-wide", (n, c * HW), dtype)
            acc, tmp = wide[:, :T], scratch("depthwise-tmp", (n, T), dtype)
            for idx, (a, b_, k, start) in enumerate(offsets):
                if idx == 0:
                    np.multiply(P[:, k, start:start + T], wexp[idx, :T], out=acc)
                else:
                    acc += np.multiply(P[:, k, start:start + T], wexp[idx, :T], out=tmp)
            zs = z[samples, chans]
            outputs = wide.reshape(n, c, Hs, Ws)[:, :, :Ho, :Wo]
            if b is None:
                zs[...] = outputs
            else:
                np.add(outputs, b[chans], out=zs)
            if post is not None:
                post(zs)
    return z


def _depthwise_transpose_flat(g, weight, x_shape, ph, dtype):
    """Transpose of :func:`_depthwise_forward_flat`: each offset one multiply-add over the long axis into
    the phases of the padded gradient (the wide gradient is zero outside the outputs), then the merge."""
    N, C, H, W = x_shape
    Ho, Wo, Hs, Ws, Lw = ph.Ho, ph.Wo, ph.Hs, ph.Ws, ph.Lw
    HW, K = Hs * Ws, ph.sH * ph.sW
    out = np.empty((N, C, H, W), dtype)
    offsets = list(ph.offsets())
    for chans, groups in _flat_pieces(N, C, ph, np.dtype(dtype).itemsize):
        c = chans.stop - chans.start
        T = (c - 1) * HW + Lw
        wexp = _expanded_weights(weight, chans, ph, dtype)
        for samples in groups:
            gs = g[samples, chans]
            n = gs.shape[0]
            wide = scratch("depthwise-wide", (n, c, Hs, Ws), dtype)
            wide[:, :, :Ho, :Wo] = gs
            wide[:, :, :Ho, Wo:] = 0                                  # what lies outside the outputs sends nothing
            wide[:, :, Ho:] = 0
            wide = wide.reshape(n, c * HW)[:, :T]
            if ph.trivial:                                            # accumulate in out itself
                P = out[samples, chans].reshape(n, 1, c * H * W)
            else:
                P = scratch("depthwise-phases", (n, K, c * HW), dtype)
            P.fill(0)
            tmp = scratch("depthwise-tmp", (n, T), dtype)
            for idx, (a, b_, k, start) in enumerate(offsets):
                P[:, k, start:start + T] += np.multiply(wide, wexp[idx, :T], out=tmp)
            if not ph.trivial:
                ph.merge(P, out[samples, chans], phase_major=True)
    return out


# ---------------------------------------------------------------------- the naive reference (a loop)
def _slices(weight, groups):
    co, ci = weight.shape[0] // groups, weight.shape[1]
    return [(slice(k * ci, (k + 1) * ci), slice(k * co, (k + 1) * co)) for k in range(groups)]


def _group_view(layer, weight):
    """A plain Conv2d with one group's geometry (only its stride, padding and kernel are used)."""
    return Conv2d(weight[:weight.shape[0] // layer.groups], None, layer.stride, layer.padding)


def _per_group_linear(layer, x, weight, bias):
    """``layer.linear`` as one :class:`Conv2d` per group, concatenated: the naive reference."""
    conv = _group_view(layer, weight)
    return np.concatenate([Conv2d.linear(conv, x[:, i], weight[o], None if bias is None else bias[o])
                           for i, o in _slices(weight, layer.groups)], axis=1)


def _per_group_linear_backward(layer, g, weight, x_shape):
    """``layer.linear_backward`` as one :class:`Conv2d` transpose per group: the naive reference."""
    N, _, H, W = x_shape
    ci = weight.shape[1]
    conv = _group_view(layer, weight)
    return np.concatenate([Conv2d.linear_backward(conv, g[:, o], weight[o], (N, ci, H, W))
                           for _, o in _slices(weight, layer.groups)], axis=1)


def _per_group_param_grads(layer, x, grad_y):
    """``layer.param_grads`` as one :class:`Conv2d` per group: the naive reference."""
    conv = _group_view(layer, layer.weight)
    dw = np.concatenate([Conv2d.param_grads(conv, x[:, i], grad_y[:, o])[0]
                         for i, o in _slices(layer.weight, layer.groups)], axis=0)
    return dw, grad_y.sum(axis=(0, 2, 3))
