"""Multi-label loss: one sigmoid and binary cross-entropy per class (e.g. Pascal VOC's 20 classes)."""
import numpy as np

__all__ = ["sigmoid_cross_entropy", "IGNORE"]

#: target value of an entry that counts neither as positive nor as negative (e.g. a VOC "difficult" object)
IGNORE = -1


def sigmoid_cross_entropy(out, targets):
    r"""Binary cross-entropy of independent sigmoids, summed over classes and averaged over the batch.

    .. math::

        L = -\frac{1}{N} \sum_{n,k} m_{nk} \big[t_{nk} \log \sigma(f_{nk}) + (1 - t_{nk}) \log(1 - \sigma(f_{nk}))\big],
        \qquad \frac{\partial L}{\partial f_{nk}} = \frac{m_{nk} (\sigma(f_{nk}) - t_{nk})}{N}

    with :math:`\sigma(f) = 1 / (1 + e^{-f})` and the mask :math:`m_{nk} = 0` where
    :math:`t_{nk}` equals :data:`IGNORE` (-1), else 1. Computed stably as
    :math:`\max(f, 0) - f t + \log(1 + e^{-|f|})` (no overflow for large logits).
    Usable as ``dtd.train.fit(..., loss=sigmoid_cross_entropy)``.

    Parameters
    ----------
    out : ndarray, shape (N, K)
        Logits.
    targets : array_like, shape (N, K)
        1 (class present), 0 (absent), a soft label in [0, 1], or -1 (ignored).

    Returns
    -------
    (float, ndarray (N, K))

    >>> value, grad = sigmoid_cross_entropy(np.zeros((1, 3)), np.array([[1, 0, -1]]))
    >>> round(value, 6), grad.tolist()                      # 2 log 2; the third entry is ignored
    (1.386294, [[-0.5, 0.5, 0.0]])
    """
    if not isinstance(out, np.ndarray) or out.ndim != 2:
        raise ValueError(f"sigmoid_cross_entropy: the output must be an array of shape (N, K), got {np.shape(out)}")
    t = np.asarray(targets)
    if t.shape != out.shape:
        raise ValueError(f"sigmoid_cross_entropy: targets of shape {t.shape} do not fit the output {out.shape}")
    if not (np.issubdtype(t.dtype, np.integer) or np.issubdtype(t.dtype, np.floating) or t.dtype == bool):
        raise TypeError(f"sigmoid_cross_entropy: targets must be numbers, got dtype {t.dtype}")
    t = t.astype(out.dtype)
    if not np.isfinite(t).all():
        raise ValueError("sigmoid_cross_entropy: targets contain NaN or Inf")
    mask = t != IGNORE
    if np.any(mask & ((t < 0) | (t > 1))):
        raise ValueError(f"sigmoid_cross_entropy: targets must lie in [0, 1] or be {IGNORE} (ignored)")
    t = np.where(mask, t, 0)
    n = out.shape[0]
    loss = np.maximum(out, 0) - out * t + np.log1p(np.exp(-np.abs(out)))
    sig = np.exp(-np.logaddexp(0, -out))                     # sigma(f) without overflow
    return float(np.sum(loss * mask)) / n, (sig - t) * mask / n
