"""Soft min-pooling (the output layer of a neuralised one-class SVM)."""
import numpy as np

from .base import Layer

__all__ = ["SoftMinPool"]


class SoftMinPool(Layer):
    r"""Soft minimum over the features: :math:`o = -\gamma^{-1} \log \sum_j \exp(-\gamma h_j)`.

    .. math::

        o = \operatorname{smin}^\gamma_j h_j
          = h_{\min} - \frac1\gamma \log \sum_j e^{-\gamma (h_j - h_{\min})},
        \qquad \frac{\partial o}{\partial h_j} = p_j = \frac{e^{-\gamma h_j}}{\sum_k e^{-\gamma h_k}}

    computed in the second, stable form (:math:`h_{\min} = \min_j h_j`, so no
    exponent is positive and the sum is at least 1).  It lies in
    :math:`[h_{\min} - \gamma^{-1}\log m,\ h_{\min}]` and tends to the hard
    minimum as :math:`\gamma \to \infty`.  Translation-equivariant:
    :math:`\operatorname{smin}(h - c\mathbf 1) = \operatorname{smin}(h) - c`, which is what the
    relevance rule's root point uses (:class:`dtd.rules.OCSoftMin`, the default).

    Parameters
    ----------
    gamma : float
        Stiffness :math:`\gamma > 0` (the Gaussian kernel's width parameter in a one-class SVM).

    Shapes: ``h`` (N, m) -> ``o`` (N, 1).

    >>> SoftMinPool(1.0).forward(np.array([[0.0, 0.0]])).tolist() == [[-np.log(2.0)]]
    True
    >>> SoftMinPool(1e6).forward(np.array([[3.0, 5.0]])).tolist()
    [[3.0]]
    """

    input_ndim = 2
    config_keys = ("gamma",)

    def __init__(self, gamma):
        try:
            gamma = float(gamma)
        except (TypeError, ValueError):
            raise TypeError(f"SoftMinPool: gamma must be a number, got {gamma!r}") from None
        if not (np.isfinite(gamma) and gamma > 0):
            raise ValueError(f"SoftMinPool: gamma must be finite and > 0, got {gamma}")
        self.gamma = gamma

    def output_shape(self, shape):
        return (shape[0], 1)

    def weights(self, h, beta=None):
        r"""Soft assignments :math:`p_j = e^{-\beta h_j} / \sum_k e^{-\beta h_k}`, shape (N, m).

        ``beta`` defaults to the layer's gamma (then :math:`p_j = \partial o / \partial h_j`)."""
        beta = self.gamma if beta is None else beta
        e = h - h.min(axis=1, keepdims=True)
        e *= -beta
        np.exp(e, out=e)
        e /= e.sum(axis=1, keepdims=True)
        return e

    def _forward(self, h):
        hmin = h.min(axis=1, keepdims=True)
        e = np.exp(-self.gamma * (h - hmin))
        return hmin - np.log(e.sum(axis=1, keepdims=True)) / h.dtype.type(self.gamma)

    def _backward(self, h, grad_y):
        return grad_y * self.weights(h)

    def default_rule(self):
        from ..rules.oneclass import OCSoftMin
        return OCSoftMin()

    def _repr_args(self):
        return f"gamma={self.gamma!r}"
