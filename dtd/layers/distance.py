"""Squared Euclidean distances to a set of centres (the first layer of a neuralised one-class SVM)."""
import numpy as np

from .._validation import as_float_param
from ..workspace import TILE
from .base import Layer

__all__ = ["SquaredDistance"]


class SquaredDistance(Layer):
    r"""Squared distances to ``m`` centres plus a bias: the distance layer of a one-class SVM.

    .. math:: h_j = \lVert x - u_j \rVert^2 + b_j = \sum_i (x_i - u_{ij})^2 + b_j

    In the neuralised one-class SVM (Kauffmann, Mueller, Montavon, Pattern
    Recognition 101, 2020; :mod:`dtd.kernels`) the centres are the support
    vectors and :math:`b_j = -\gamma^{-1} \log \alpha_j`.

    Parameters
    ----------
    centers : array_like, shape (m, d)
        The points :math:`u_j`, one per row (scikit-learn's ``support_vectors_``).
    bias : array_like, shape (m,), optional
        :math:`b_j`; zero when omitted.

    Shapes: ``x`` (N, d) -> ``h`` (N, m).

    The forward pass computes :math:`\lVert x\rVert^2 + \lVert u_j\rVert^2 - 2 x^\top u_j`
    with one matrix product (clipped at 0), whose rounding error is at most a
    few ulps of :math:`\lVert x\rVert^2 + \lVert u_j\rVert^2`;
    :meth:`squared_differences` gives the terms :math:`(x_i - u_{ij})^2`
    themselves, from the differences, in bounded pieces.  The default rule is
    :class:`dtd.rules.OCDistance`.

    >>> layer = SquaredDistance([[0.0, 0.0], [1.0, 2.0]], [0.5, 0.0])
    >>> layer.forward(np.array([[3.0, 4.0]])).tolist()
    [[25.5, 8.0]]
    """

    input_ndim = 2
    array_keys = ("centers", "bias")

    def __init__(self, centers, bias=None):
        self.centers = as_float_param(centers, "centers", 2, "SquaredDistance")
        if self.centers.shape[0] == 0:
            raise ValueError("SquaredDistance: centers is empty (need at least one centre)")
        if bias is None:
            bias = np.zeros(self.centers.shape[0], dtype=self.centers.dtype)
        self.bias = as_float_param(bias, "bias", 1, "SquaredDistance")
        if self.bias.shape[0] != self.centers.shape[0]:
            raise ValueError(f"SquaredDistance: bias has {self.bias.shape[0]} entries, "
                             f"centers has {self.centers.shape[0]} rows")

    def _channels(self):
        return self.centers.shape[1]

    def output_shape(self, shape):
        return (shape[0], self.centers.shape[0])

    def params(self, dtype):
        """``(centers, bias)`` cast to ``dtype``."""
        return self.centers.astype(dtype, copy=False), self.bias.astype(dtype, copy=False)

    def distances(self, x):
        r""":math:`\lVert x - u_j \rVert^2`, shape (N, m), by one matrix product (no bias)."""
        u, _ = self.params(x.dtype)
        d = x @ u.T
        d *= -2
        d += np.einsum("ni,ni->n", x, x)[:, None]
        d += np.einsum("ji,ji->j", u, u)[None, :]
        np.maximum(d, 0, out=d)
        return d

    def squared_differences(self, x):
        r"""Yield ``(rows, D)`` with ``D[n, j, i] = (x_i - u_{ij})^2`` for the samples ``rows`` (a slice).

        Pieces of about :data:`dtd.workspace.TILE` bytes: the full (N, m, d)
        array of a data set would not fit in memory.
        """
        u, _ = self.params(x.dtype)
        step = max(1, TILE // max(1, u.size * x.itemsize))
        for start in range(0, x.shape[0], step):
            rows = slice(start, start + step)
            D = x[rows, None, :] - u[None]
            D *= D
            yield rows, D

    def _forward(self, x):
        _, b = self.params(x.dtype)
        h = self.distances(x)
        h += b
        return h

    def _backward(self, x, grad_y):
        # d h_j / d x = 2 (x - u_j):  grad_x = 2 (x sum_j g_j - g U)
        u, _ = self.params(x.dtype)
        return 2 * (x * grad_y.sum(axis=1, keepdims=True) - grad_y @ u)

    def default_rule(self):
        from ..rules.oneclass import OCDistance
        return OCDistance()

    def _repr_args(self):
        return f"centers={self.centers.shape[0]}x{self.centers.shape[1]}"
