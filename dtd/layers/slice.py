"""A contiguous range of channels (ShuffleNetV2's channel split: ``x.chunk(2, dim=1)``)."""
import numpy as np

from ..rules.base import Rule
from .base import Layer

__all__ = ["ChannelSlice", "SliceScatter"]


class ChannelSlice(Layer):
    r"""``y = x[:, start:stop]``: the channels ``start, ..., stop - 1`` (axis 1), everything else kept.

    .. math::

        y_{n, i, \dots} = x_{n, \mathrm{start} + i, \dots}, \qquad
        R^{x}_{n, j, \dots} = \begin{cases} R^{y}_{n, j - \mathrm{start}, \dots}
            & \mathrm{start} \le j < \mathrm{stop} \\ 0 & \text{otherwise} \end{cases}

    Exporters write ``x.chunk(2, dim=1)`` / ``torch.split`` as ``Slice`` (TorchScript) or ``Split``
    (dynamo) on axis 1; the ONNX import makes one ChannelSlice node per piece.  Relevance (and the
    gradient) is scattered back into zeros of ``x``'s shape (:class:`SliceScatter`, the only rule that
    applies): the channels outside the range get theirs from the other pieces' nodes, and a
    :class:`~dtd.Graph` sums what reaches ``x`` from its readers, so the pieces together are
    conservative.  Slicing commutes with a ReLU, so a ReLU-gated channel stays gated
    (``transparent_to_gating``, :mod:`dtd.gating`).

    Parameters
    ----------
    start, stop : int
        ``0 <= start < stop``; the input needs at least ``stop`` channels.

    Shapes: (N, C, ...) -> (N, stop - start, ...), ``C >= stop``.

    >>> layer = ChannelSlice(1, 3)
    >>> x = np.array([[10.0, 11.0, 12.0, 13.0]])
    >>> layer.forward(x).tolist()
    [[11.0, 12.0]]
    >>> layer.relevance(x, np.array([[1.0, 2.0]])).tolist()
    [[0.0, 1.0, 2.0, 0.0]]
    """

    config_keys = ("start", "stop")
    #: a ReLU-gated channel stays gated when sliced out (dtd.gating: composites look through it)
    transparent_to_gating = True

    def __init__(self, start, stop):
        for name, v in (("start", start), ("stop", stop)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise TypeError(f"ChannelSlice: {name} must be an int, got {v!r}")
        if not 0 <= start < stop:
            raise ValueError(f"ChannelSlice: need 0 <= start < stop, got start={start}, stop={stop}")
        self.start, self.stop = int(start), int(stop)

    def _check(self, x, finite=True):
        x = super()._check(x, finite)
        if x.ndim < 2 or x.shape[1] < self.stop:
            raise ValueError(f"ChannelSlice: x must have at least {self.stop} channels on axis 1 "
                             f"(N, C, ...), got shape {x.shape}")
        return x

    def output_shape(self, shape):
        shape = tuple(shape)
        if len(shape) < 2 or shape[1] < self.stop:
            raise ValueError(f"ChannelSlice({self.start}, {self.stop}) needs at least {self.stop} channels "
                             f"on axis 1, got shape {shape}")
        return (shape[0], self.stop - self.start) + shape[2:]

    def _forward(self, x):
        return x[:, self.start:self.stop].copy()

    def scatter(self, y_like, x_shape, dtype):
        """``y_like`` (shaped like the output) placed at channels ``start:stop`` of zeros of ``x_shape``."""
        out = np.zeros(x_shape, dtype=dtype)
        out[:, self.start:self.stop] = y_like
        return out

    def _backward(self, x, grad_y):
        return self.scatter(grad_y, x.shape, np.result_type(x.dtype, grad_y.dtype))

    def default_rule(self):
        return SliceScatter()

    def _repr_args(self):
        return f"start={self.start}, stop={self.stop}"


class SliceScatter(Rule):
    """Relevance of a :class:`ChannelSlice`: ``R_x[:, start:stop] = R_y``, zero elsewhere (conservative).

    >>> ChannelSlice(0, 1).relevance(np.zeros((1, 2)), np.array([[5.0]]), SliceScatter()).tolist()
    [[5.0, 0.0]]
    """

    def layer_types(self):
        return (ChannelSlice,)

    def relevance(self, layer, x, R):
        return layer.scatter(R, x.shape, x.dtype)
