"""The training loop: seeded shuffling, mini-batches, a progress bar, constraints, checkpoints."""
import time
from dataclasses import dataclass, field

import numpy as np

from .constraints import apply_constraints
from .gradients import loss_and_gradients, trainable_indices
from .losses import get_loss
from .optimizer import SGD

__all__ = ["fit", "History"]


@dataclass
class History:
    """What :func:`fit` did.

    Attributes
    ----------
    loss : ndarray (steps,)
        Mean batch loss of every step (before the step's update).
    epoch_loss : list of float
        Mean of the step losses of each (possibly partial) epoch.
    steps : int
    seconds : float
        Wall-clock time of the loop.
    """

    loss: np.ndarray = field(default_factory=lambda: np.zeros(0))
    epoch_loss: list = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0


def _own_parameters(net, indices, dtype):
    """Give the trainable layers their own (copied) parameter arrays in ``dtype``, updated in place later."""
    for i in indices:
        layer = net.layers[i]
        for name in ("weight", "bias"):
            setattr(layer, name, np.array(getattr(layer, name), dtype=dtype, copy=True))


def _as_batch(x, dtype, preprocess):
    b = x if preprocess is None else preprocess(x)
    b = np.asarray(b)
    if not np.issubdtype(b.dtype, np.floating):
        raise TypeError(f"fit: a batch has dtype {b.dtype}; pass floating inputs or a preprocess function "
                        "that returns them (e.g. lambda b: b / 255.0)")
    return b.astype(dtype, copy=False)


def fit(net, x, y, *, loss="squared", epochs=1, batch_size=20, lr=0.01, momentum=0.9, weight_decay=0.0,
        seed=0, constraint=None, frozen=(), max_steps=None, preprocess=None, dtype=None,
        checkpoint=None, checkpoint_every=None, progress=True, callback=None):
    """Train ``net`` in place by mini-batch SGD.

    Each epoch visits the samples in a fresh random order drawn from
    ``numpy.random.default_rng(seed)`` (the last batch of an epoch may be
    smaller); each step computes the mean loss of the batch, its parameter
    gradients through the layers' ``backward``/``param_grads``
    (:func:`dtd.train.loss_and_gradients`), takes an :class:`SGD` step and then
    applies ``constraint``. The same arguments and seed give bitwise the same
    parameters.

    Parameters
    ----------
    net : dtd.Sequential
        Its Dense and Conv2d layers are trained (minus ``frozen``); their
        arrays are replaced by copies in ``dtype`` first, then updated in place.
    x : ndarray, shape (N, ...)
        Inputs (any dtype if ``preprocess`` makes them floating).
    y : ndarray, shape (N, ...)
        Targets: shaped like the output (or (N,) for one output) for
        ``"squared"``, int labels (N,) for ``"cross_entropy"``.
    loss : {"squared", "cross_entropy"} or callable ``(out, y) -> (value, grad_out)``
    epochs : int
    batch_size : int
    lr, momentum, weight_decay : float
        See :class:`SGD` (``lr`` may be a function of the step).
    seed : int
        Seed of the shuffling.
    constraint : callable ``net -> None``, list of them, or None
        Applied after every step, e.g. :class:`dtd.train.NonPositiveBias`
        (and once before the first step, so the constraint holds throughout).
    frozen : iterable of int
        Layers that are not trained (e.g. a fixed sum-pooling output layer).
    max_steps : int, optional
        Stop after this many steps.
    preprocess : callable, optional
        Applied to each batch of ``x`` (e.g. ``lambda b: b / 255.0`` for uint8 images).
    dtype : numpy dtype, optional
        Dtype of the parameters and batches; by default the dtype of the
        first trainable layer's weight.
    checkpoint : str or path, optional
        Saved with :func:`dtd.save` (native format) after every epoch, every
        ``checkpoint_every`` steps, and at the end.
    checkpoint_every : int, optional
    progress : bool
        Show a tqdm progress bar.
    callback : callable ``(step, loss, net) -> None``, optional
        Called after every step.

    Returns
    -------
    History
    """
    from tqdm.auto import tqdm

    from ..io import save

    loss_fn = get_loss(loss)
    if not isinstance(x, np.ndarray) or x.ndim < 2:
        raise TypeError("fit: x must be an ndarray of shape (N, ...)")
    y = np.asarray(y)
    if len(y) != len(x):
        raise ValueError(f"fit: x has {len(x)} samples but y has {len(y)}")
    n = len(x)
    for name, v in (("epochs", epochs), ("batch_size", batch_size)):
        if int(v) != v or v < 1:
            raise ValueError(f"fit: {name} must be a positive integer, got {v!r}")
    if n == 0:
        raise ValueError("fit: no training samples")
    indices = trainable_indices(net, frozen)
    if not indices:
        raise ValueError("fit: the network has no trainable layer (Dense or Conv2d, not frozen)")
    dtype = np.dtype(dtype if dtype is not None else net.layers[indices[0]].weight.dtype)
    if dtype.kind != "f":
        raise ValueError(f"fit: dtype must be floating, got {dtype}")
    _own_parameters(net, indices, dtype)
    optimizer = SGD(lr, momentum, weight_decay)
    apply_constraints(net, constraint)
    rng = np.random.default_rng(seed)
    per_epoch = -(-n // int(batch_size))
    total = int(epochs) * per_epoch if max_steps is None else min(int(max_steps), int(epochs) * per_epoch)
    losses = np.zeros(total)
    hist = History()
    start = time.perf_counter()
    step = 0
    with tqdm(total=total, disable=not progress, desc="train", unit="step", leave=False) as bar:
        for _ in range(int(epochs)):
            if step >= total:
                break
            order = rng.permutation(n)
            first = step
            for k in range(0, n, int(batch_size)):
                if step >= total:
                    break
                idx = np.sort(order[k:k + int(batch_size)])
                value, grads = loss_and_gradients(net, _as_batch(x[idx], dtype, preprocess), y[idx],
                                                  loss_fn, indices)
                optimizer.step(net, grads)
                apply_constraints(net, constraint)
                losses[step] = value
                step += 1
                if callback is not None:
                    callback(step, value, net)
                if checkpoint is not None and checkpoint_every and step % int(checkpoint_every) == 0:
                    save(net, checkpoint)
                if step % 50 == 0 or step == total:
                    bar.set_postfix(loss=f"{losses[max(first, step - 50):step].mean():.4g}")
                bar.update(1)
            hist.epoch_loss.append(float(losses[first:step].mean()))
            if checkpoint is not None:
                save(net, checkpoint)
    hist.loss, hist.steps, hist.seconds = losses[:step], step, time.perf_counter() - start
    return hist
