"""Shared argument checks and the model call used by the evaluation functions."""
import numpy as np

from ..network import resolve_target

__all__ = ["as_batch", "per_sample", "model_fn", "target_output", "sample_rngs"]


def as_batch(a, name, where):
    """A finite floating array with a non-empty batch axis (returned unchanged)."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{where}: {name} must be a numpy.ndarray, got {type(a).__name__}")
    if not np.issubdtype(a.dtype, np.floating):
        raise TypeError(f"{where}: {name} has dtype {a.dtype}; expected a floating dtype")
    if a.ndim < 1 or a.shape[0] == 0:
        raise ValueError(f"{where}: {name} must have a non-empty batch axis, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{where}: {name} contains NaN or Inf")
    return a


def per_sample(a):
    """``a`` flattened per sample, shape (N, -1)."""
    return a.reshape(a.shape[0], -1)


def model_fn(model):
    """The forward function of ``model``: its ``forward`` method, or the model itself if callable."""
    fn = getattr(model, "forward", model)
    if not callable(fn):
        raise TypeError(f"model must have a forward method or be callable, got {type(model).__name__}")
    return fn


def target_output(model, x, target=None):
    """Target output ``f_c(x)`` per sample and the target ``c`` (argmax when None).

    Returns
    -------
    fc : ndarray (N,), in the dtype of the output
    target : ndarray (N,) of int
    """
    out = np.asarray(model_fn(model)(x))
    flat = out.reshape(out.shape[0], -1)
    t = resolve_target(flat, target)
    return flat[np.arange(len(t)), t], t


def sample_rngs(n, seed, sample_ids):
    """One generator per sample: ``default_rng([seed, id])``.

    A sample's random draws thus depend on its id, not on the batch it is in
    (chunked runs give the same numbers as one big batch).
    """
    ids = np.arange(n) if sample_ids is None else np.asarray(sample_ids)
    if ids.shape != (n,) or not np.issubdtype(ids.dtype, np.integer) or (ids < 0).any():
        raise ValueError(f"sample_ids must be {n} non-negative ints, got {sample_ids!r}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    return [np.random.default_rng([int(seed), int(i)]) for i in ids]
