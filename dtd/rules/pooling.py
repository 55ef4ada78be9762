"""Rules for max pooling and p-norm pooling."""
import numpy as np

from .base import Rule, safe_divide

__all__ = ["WinnerTakeAll", "Proportional"]


class WinnerTakeAll(Rule):
    r"""Max pooling: all of ``R_j`` goes to the maximum of window j; ties share it equally.

    .. math:: R_i = \sum_j \frac{1[x_i = \max_{window(j)} x]}{\#\{\text{maxima of window } j\}} R_j

    The default for :class:`dtd.layers.MaxPool2d` (it is also what the
    gradient of max pooling does, as in Zennit and the LRP Toolbox, except
    that they send a tie wholly to one entry).

    >>> from dtd.layers import MaxPool2d
    >>> x = np.array([[[[1.0, 3.0], [3.0, 0.0]]]])
    >>> MaxPool2d(2).relevance(x, np.array([[[[4.0]]]]), WinnerTakeAll())[0, 0].tolist()
    [[0.0, 2.0], [2.0, 0.0]]
    """

    def layer_types(self):
        from ..layers.pooling import MaxPool2d
        return (MaxPool2d,)

    def relevance(self, layer, x, R):
        return layer._fold(layer.winner_share(x) * R[..., None, None], x.shape)


class Proportional(Rule):
    r"""Pooling in proportion to the inputs of each window (the sum-pooling z-rule, no bias).

    .. math:: R_i = \sum_j \frac{x_i}{\sum_{i' \in window(j)} x_{i'}} R_j

    For p-norm pooling this is the relevance model of seed 001: the ratio
    ``||x||_p / ||x||_1`` is held constant, which leaves a sum-pooling layer.
    It is the rule of :class:`dtd.layers.LpPool2d` and the DTD choice for max
    pooling; on sum and average pooling it equals LRP-0 (and z+ for x >= 0).
    A window whose inputs sum to zero sends nothing (0/0 := 0).

    >>> from dtd.layers import MaxPool2d
    >>> x = np.array([[[[1.0, 3.0], [0.0, 0.0]]]])
    >>> MaxPool2d(2).relevance(x, np.array([[[[4.0]]]]), Proportional())[0, 0].tolist()
    [[1.0, 3.0], [0.0, 0.0]]
    """

    def layer_types(self):
        from ..layers.pooling import AvgPool2d, LpPool2d, MaxPool2d, SumPool2d
        return (MaxPool2d, LpPool2d, SumPool2d, AvgPool2d)

    def relevance(self, layer, x, R):
        s = safe_divide(R, layer._windows(x).sum(axis=(-2, -1))).astype(x.dtype, copy=False)
        return x * layer._fold(np.broadcast_to(s[..., None, None], s.shape + layer.kernel_size), x.shape)
