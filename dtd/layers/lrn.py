"""Local (cross-channel) renormalization, PyTorch/ONNX semantics."""
import numpy as np

from .base import Layer

__all__ = ["LRN"]


class LRN(Layer):
    r"""Local response normalization across channels.

    .. math::

        y_c = x_c \Big/ \Big(k + \frac{\alpha}{n} \sum_{c' \in \mathrm{window}(c)} x_{c'}^2\Big)^{\beta}

    Parameters
    ----------
    size : int
        Window size ``n`` (number of channels).
    alpha, beta, k : float
        As in PyTorch ``LocalResponseNorm`` and ONNX ``LRN``.
    window : {"onnx", "pytorch"}
        Where the window of channel ``c`` starts.  For odd ``n`` both give
        ``[c - (n-1)/2, c + (n-1)/2]``.  For even ``n`` ONNX puts
        ``floor((n-1)/2)`` channels before ``c`` and ``ceil((n-1)/2)`` after;
        PyTorch puts ``n // 2`` before and ``(n-1) // 2`` after.  The default
        follows ONNX.  Channels outside ``[0, C)`` count as zero.

    Shapes: any (N, C, ...) -> same shape.  Default relevance rule: identity
    (:class:`dtd.rules.LRNIdentity`); :class:`dtd.rules.LRNTaylor` is the
    first-order Taylor rule (Binder et al. 2016).

    >>> y = LRN(size=1, alpha=1.0, beta=1.0, k=1.0).forward(np.array([[2.0]]))
    >>> y.tolist()  # 2 / (1 + 4)
    [[0.4]]
    """

    config_keys = ("size", "alpha", "beta", "k", "window")

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0, window="onnx"):
        if int(size) != size or size < 1:
            raise ValueError(f"LRN: size must be a positive int, got {size}")
        if window not in ("onnx", "pytorch"):
            raise ValueError(f"LRN: window must be 'onnx' or 'pytorch', got {window!r}")
        if k <= 0 or alpha < 0 or beta < 0:
            raise ValueError(f"LRN: need k > 0, alpha >= 0, beta >= 0, got k={k}, alpha={alpha}, beta={beta}")
        self.size, self.alpha, self.beta, self.k = int(size), float(alpha), float(beta), float(k)
        self.window = window

    def _check(self, x, finite=True):
        x = super()._check(x, finite)
        if x.ndim < 2:
            raise ValueError(f"LRN: x must have a channel axis (N, C, ...), got shape {x.shape}")
        return x

    def window_bounds(self):
        """Channels ``(before, after)`` of c that the window of c covers."""
        n = self.size
        if self.window == "onnx":
            return (n - 1) // 2, n - 1 - (n - 1) // 2
        return n // 2, (n - 1) // 2

    def window_matrix(self, channels, dtype=np.float64):
        """Band matrix ``M`` of shape (C, C): ``M[j, c] = 1`` if channel j is in the window of channel c."""
        before, after = self.window_bounds()
        j = np.arange(channels)[:, None]
        c = np.arange(channels)[None, :]
        return ((j >= c - before) & (j <= c + after)).astype(dtype)

    def channel_sum(self, v):
        """``S[:, c] = sum_{j in window(c)} v[:, j]`` for v of shape (N, C, ...)."""
        M = self.window_matrix(v.shape[1], v.dtype)
        return np.moveaxis(np.tensordot(v, M, axes=([1], [0])), -1, 1)

    def denominator(self, x):
        """``D = k + alpha/n * sum_window x^2`` (before the power beta), shape of x."""
        return self.k + (self.alpha / self.size) * self.channel_sum(x * x)

    def _forward(self, x):
        return x * self.denominator(x) ** -self.beta

    def _backward(self, x, grad_y):
        # dy_c/dx_j = [j == c] D_c^-beta - 2 beta alpha/n x_c x_j D_c^(-beta-1) [j in window(c)]
        D = self.denominator(x)
        t = grad_y * x * D ** (-self.beta - 1)
        M = self.window_matrix(x.shape[1], x.dtype)
        back = np.moveaxis(np.tensordot(t, M.T, axes=([1], [0])), -1, 1)   # sum over c with j in window(c)
        return grad_y * D ** -self.beta - 2 * self.beta * self.alpha / self.size * x * back

    def default_rule(self):
        from ..rules import LRNIdentity
        return LRNIdentity()

    def _repr_args(self):
        return f"size={self.size}, alpha={self.alpha:g}, beta={self.beta:g}, k={self.k:g}, window={self.window!r}"
