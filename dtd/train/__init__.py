"""Training the example networks in NumPy: mini-batch SGD with momentum.

Gradients come from the layers themselves (``backward`` and ``param_grads``),
driven through a :class:`dtd.Sequential`'s recorded activations::

    >>> import numpy as np, dtd
    >>> from dtd.layers import Dense, ReLU
    >>> from dtd.train import fit, NonPositiveBias
    >>> rng = np.random.default_rng(0)
    >>> x = rng.uniform(size=(64, 3)); y = x @ np.array([1.0, 2.0, 3.0])
    >>> net = dtd.Sequential([Dense(rng.normal(size=(1, 3)), [0.0])])
    >>> h = fit(net, x, y[:, None], epochs=30, batch_size=8, lr=0.1, progress=False)
    >>> bool(h.loss[-8:].mean() < 1e-3 * h.loss[:8].mean())
    True

Modules: :mod:`~dtd.train.losses` (squared error, softmax cross-entropy),
:mod:`~dtd.train.gradients` (parameter gradients of a network loss),
:mod:`~dtd.train.multilabel` (sigmoid cross-entropy for multi-label targets),
:mod:`~dtd.train.optimizer` (:class:`SGD`), :mod:`~dtd.train.constraints`
(:class:`NonPositiveBias`), :mod:`~dtd.train.loop` (:func:`fit`).
"""
from .constraints import NonPositiveBias, apply_constraints
from .gradients import loss_and_gradients, parameter_gradients, trainable_indices
from .loop import History, fit
from .losses import LOSSES, get_loss, softmax_cross_entropy, squared_error
from .multilabel import sigmoid_cross_entropy
from .optimizer import SGD

__all__ = ["fit", "History", "SGD", "NonPositiveBias", "apply_constraints", "loss_and_gradients",
           "parameter_gradients", "trainable_indices", "squared_error", "softmax_cross_entropy",
           "LOSSES", "get_loss", "sigmoid_cross_entropy"]
