"""Parameter gradients of a Sequential network, from the layers' own ``backward`` and ``param_grads``."""
import numpy as np

from .losses import get_loss

__all__ = ["trainable_indices", "parameter_gradients", "loss_and_gradients"]


def trainable_indices(net, frozen=()):
    """Indices of the layers that have parameters to train (``param_grads``), minus ``frozen``.

    Raises
    ------
    ValueError
        A frozen index is not a layer of ``net``.
    """
    n = len(net.layers)
    frozen = {int(i) % n if -n <= int(i) < n else int(i) for i in frozen}
    bad = sorted(i for i in frozen if not 0 <= i < n)
    if bad:
        raise ValueError(f"frozen layer indices {bad} out of range for a network of {n} layers")
    return [i for i, layer in enumerate(net.layers) if hasattr(layer, "param_grads") and i not in frozen]


def parameter_gradients(net, x, grad_out, indices=None):
    r"""Gradients of :math:`\sum (\text{grad\_out} \cdot f(x))` w.r.t. the parameters of the layers ``indices``.

    One forward pass records every layer's input; the backward pass runs the
    layers' ``backward`` and, at each trainable layer, its ``param_grads``
    (vectorised over the batch).

    Parameters
    ----------
    net : dtd.Sequential
    x : ndarray, shape (N, ...)
    grad_out : ndarray, shape of ``net.forward(x)``
        Gradient of the loss w.r.t. the output.
    indices : list of int, optional
        Layers whose gradients are wanted; all layers with parameters by default.

    Returns
    -------
    dict
        ``{index: (grad_weight, grad_bias)}``.
    """
    acts = net.forward(x, return_all=True)
    return _backward(net, acts, grad_out, trainable_indices(net) if indices is None else indices)


def _backward(net, acts, g, indices):
    wanted = set(indices)
    lowest = min(wanted) if wanted else len(net.layers)
    grads = {}
    for i in range(len(net.layers) - 1, lowest - 1, -1):
        layer = net.layers[i]
        if i in wanted:
            grads[i] = layer.param_grads(acts[i], g)
        if i > lowest:
            g = layer.backward(acts[i], g)
    return grads


def loss_and_gradients(net, x, y, loss="squared", indices=None):
    """Mean loss over the batch and its parameter gradients.

    Parameters
    ----------
    net : dtd.Sequential
    x : ndarray, shape (N, ...)
    y : ndarray
        Targets: shaped like the output for ``"squared"``, int labels (N,) for ``"cross_entropy"``.
    loss : str or callable
        See :func:`dtd.train.losses.get_loss`.
    indices : list of int, optional
        Trainable layers (default: every layer with parameters).

    Returns
    -------
    (float, dict ``{index: (grad_weight, grad_bias)}``)

    >>> from dtd import Sequential
    >>> from dtd.layers import Dense
    >>> net = Sequential([Dense([[2.0, 0.0]], [0.0])])
    >>> value, grads = loss_and_gradients(net, np.array([[1.0, 3.0]]), np.array([[0.0]]))
    >>> value, grads[0][0].tolist(), grads[0][1].tolist()
    (2.0, [[2.0, 6.0]], [2.0])
    """
    acts = net.forward(x, return_all=True)
    value, g = get_loss(loss)(acts[-1], y)
    if not np.isfinite(value):
        raise FloatingPointError(f"the loss is not finite ({value}); lower the learning rate")
    return value, _backward(net, acts, g.astype(acts[-1].dtype, copy=False),
                            trainable_indices(net) if indices is None else indices)
