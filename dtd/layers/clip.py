"""Clipping to an interval: ONNX ``Clip``, PyTorch ``clamp`` / ``Hardtanh``; ReLU6 is ``Clip(0, 6)``."""
import math

import numpy as np

from .base import Layer

__all__ = ["Clip"]


def _bound(v, name):
    if v is None:
        return None
    try:
        v = float(v)
    except (TypeError, ValueError):
        raise TypeError(f"Clip: {name} must be a number or None, got {v!r}") from None
    if math.isnan(v):
        raise ValueError(f"Clip: {name} is NaN")
    return v


class Clip(Layer):
    r"""Clip every entry to ``[low, high]``; any shape.

    .. math:: y = \min(\max(x, \mathrm{low}), \mathrm{high})

    Parameters
    ----------
    low, high : float or None
        The bounds; None (or an infinite value) leaves that side unbounded.  ReLU6 (MobileNet) is
        ``Clip(0, 6)``; PyTorch's ``Hardtanh(a, b)`` is ``Clip(a, b)``; ``Clip(0, None)`` is a ReLU.

    Shapes: any (N, ...) -> same shape.

    Gradient: 1 strictly inside ``(low, high)``, 0 outside and **0 at the two kinks** ``x = low`` and
    ``x = high``.  This is what PyTorch's ``relu6`` / ``hardtanh`` and dtd's :class:`~dtd.layers.ReLU`
    use (the one-sided derivative from the flat side); PyTorch's ``torch.clamp`` takes the other one
    (gradient 1 at the kinks).

    Relevance (default: :class:`~dtd.rules.PassThrough`, ``R_x = R_y``): the clipping is part of the neuron
    whose relevance the linear layer below redistributes, exactly as for the ReLU (Montavon et al. 2017: the
    relevance of a ReLU neuron is redistributed onto the inputs of the linear map that feeds it).  Relevance is
    conserved exactly.  With ``low >= 0`` (ReLU6) the output is non-negative and the neuron is gated like a
    ReLU neuron: a neuron clipped to 0 receives no relevance from a rule proportional to its activation, and
    the upper bound only caps the activation that the layer above sees.  With ``low < 0 < high``
    (Hardtanh) the output has the sign of the input, as for Tanh, so the relevance keeps its orientation with
    respect to the pre-activation.  Zennit does the same: ``torch.nn.ReLU6`` and ``Hardtanh`` are in
    ``zennit.types.Activation``, which every built-in composite maps to its ``Pass`` rule; iNNvestigate
    passes relevance through ``keras.layers.Activation`` layers (``relu6`` included) unchanged.

    >>> Clip(0, 6).forward(np.array([[-1.0, 3.0, 7.0]])).tolist()
    [[0.0, 3.0, 6.0]]
    >>> Clip(0, 6).backward(np.array([[0.0, 3.0, 6.0]]), np.ones((1, 3))).tolist()
    [[0.0, 1.0, 0.0]]
    >>> Clip(0, 6).relevance(np.array([[-1.0, 3.0]]), np.array([[0.5, 2.0]])).tolist()
    [[0.5, 2.0]]
    """

    passes_relevance = True
    #: elementwise: a network's forward pass may apply it in place to each piece of the previous layer's output
    elementwise = True
    config_keys = ("low", "high")

    def __init__(self, low=None, high=None):
        low, high = _bound(low, "low"), _bound(high, "high")
        self.low = None if low is None or low == -math.inf else low
        self.high = None if high is None or high == math.inf else high
        if self.low == math.inf or self.high == -math.inf:
            raise ValueError(f"Clip: the interval [{low}, {high}] is empty")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"Clip: low ({self.low}) must not exceed high ({self.high})")

    @property
    def nonnegative(self):
        """True when the output is always >= 0 (``low >= 0``, e.g. ReLU6)."""
        return self.low is not None and self.low >= 0

    @property
    def gates(self):
        """True when the output is 0 wherever the input is <= 0 and positive above (``low == 0 < high``:
        ReLU6), so that the layer below has a ReLU-gated output (see :mod:`dtd.gating`)."""
        return self.low == 0 and (self.high is None or self.high > 0)

    def _forward(self, x):
        y = x if self.low is None else np.maximum(x, self.low)
        if self.high is not None:
            y = np.minimum(y, self.high, out=None if y is x else y)
        return y.copy() if y is x else y

    def _forward_inplace(self, x):
        if self.low is not None:
            np.maximum(x, self.low, out=x)
        if self.high is not None:
            np.minimum(x, self.high, out=x)
        return x

    def _inside(self, x):
        """Where the gradient is 1: strictly inside ``(low, high)``."""
        if self.low is None and self.high is None:
            return np.ones(x.shape, dtype=bool)
        if self.low is None:
            return x < self.high
        if self.high is None:
            return x > self.low
        return (x > self.low) & (x < self.high)

    def _backward(self, x, grad_y):
        return grad_y * self._inside(x)

    def _repr_args(self):
        return f"low={self.low}, high={self.high}"
