"""Losses for training: each returns the mean loss over the batch and its gradient w.r.t. the output."""
import numpy as np

__all__ = ["squared_error", "softmax_cross_entropy", "LOSSES", "get_loss"]


def squared_error(out, target):
    r"""Half the squared error, averaged over the batch.

    .. math:: L = \frac{1}{N} \sum_n \tfrac12 \lVert f(x_n) - t_n \rVert^2, \qquad
              \frac{\partial L}{\partial f(x_n)} = \frac{f(x_n) - t_n}{N}

    Parameters
    ----------
    out : ndarray, shape (N, ...)
        Network output.
    target : array_like, shape of ``out`` (or (N,) for an output of shape (N, 1))

    Returns
    -------
    (float, ndarray shaped like ``out``)

    >>> value, grad = squared_error(np.array([[1.0], [3.0]]), np.array([0.0, 1.0]))
    >>> round(value, 6), grad.ravel().tolist()
    (1.25, [0.5, 1.0])
    """
    target = np.asarray(target, dtype=out.dtype)
    if target.shape != out.shape:
        if target.size != out.size or target.shape[:1] != out.shape[:1]:
            raise ValueError(f"squared_error: target of shape {target.shape} does not fit the output {out.shape}")
        target = target.reshape(out.shape)
    diff = out - target
    n = out.shape[0]
    return 0.5 * float(np.sum(diff * diff)) / n, diff / n


def softmax_cross_entropy(out, labels):
    r"""Softmax cross-entropy with integer class labels, averaged over the batch.

    .. math:: L = -\frac{1}{N} \sum_n \log \frac{e^{f_{y_n}(x_n)}}{\sum_c e^{f_c(x_n)}}, \qquad
              \frac{\partial L}{\partial f_c(x_n)} = \frac{\mathrm{softmax}(f(x_n))_c - 1[c = y_n]}{N}

    Computed with the log-sum-exp shift (no overflow for large logits).

    Parameters
    ----------
    out : ndarray, shape (N, K)
        Logits.
    labels : array_like of int, shape (N,)
        Classes in ``0..K-1``.

    Returns
    -------
    (float, ndarray (N, K))

    >>> value, grad = softmax_cross_entropy(np.zeros((1, 2)), np.array([1]))
    >>> round(value, 6), grad.tolist()
    (0.693147, [[0.5, -0.5]])
    """
    if out.ndim != 2:
        raise ValueError(f"softmax_cross_entropy: the output must have shape (N, K), got {out.shape}")
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"softmax_cross_entropy: labels must be integers, got dtype {labels.dtype}")
    n, k = out.shape
    if labels.shape != (n,):
        raise ValueError(f"softmax_cross_entropy: labels must have shape ({n},), got {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= k):
        raise ValueError(f"softmax_cross_entropy: labels must lie in 0..{k - 1}, "
                         f"got {labels.min()}..{labels.max()}")
    shifted = out - out.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(n)
    grad = np.exp(log_p)
    grad[rows, labels] -= 1
    return -float(log_p[rows, labels].sum()) / n, grad / n


LOSSES = {"squared": squared_error, "cross_entropy": softmax_cross_entropy}


def get_loss(loss):
    """A loss function from its name (``"squared"``, ``"cross_entropy"``), or a callable
    ``(out, y) -> (value, grad)`` returned as is."""
    if callable(loss):
        return loss
    try:
        return LOSSES[loss]
    except (KeyError, TypeError):
        raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)} or pass a callable") from None
