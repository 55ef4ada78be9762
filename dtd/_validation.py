"""Input checks shared by the layers and networks.

Every public entry point checks its arrays with these helpers, so that bad input
fails early with a message that says what is wrong, instead of deep inside NumPy.
"""
import numpy as np

__all__ = ["check_input", "check_relevance", "as_float_param"]


def check_input(x, layer, ndim=None, channels=None, finite=True, name="x"):
    """Check an input batch and return it unchanged.

    Parameters
    ----------
    x : ndarray
        The batch, first axis the samples.
    layer : object or str
        What receives it (named in the message).
    ndim : int, optional
        Required number of dimensions (batch axis included).
    channels : int, optional
        Required size of axis 1.
    finite : bool
        Reject NaN and Inf.

    Raises
    ------
    TypeError
        Not a floating ndarray (integer or object dtype).
    ValueError
        Wrong rank, wrong channel count, empty batch, NaN or Inf.
    """
    where = layer if isinstance(layer, str) else type(layer).__name__
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{where}: {name} must be a numpy.ndarray, got {type(x).__name__}")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(
            f"{where}: {name} has dtype {x.dtype}; dtd computes in floating point "
            f"(use {name}.astype(np.float64), or float32)"
        )
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{where}: {name} must have {ndim} dimensions (batch first), got shape {x.shape}")
    if x.ndim == 0:
        raise ValueError(f"{where}: {name} must have a batch axis, got a scalar")
    if x.shape[0] == 0:
        raise ValueError(f"{where}: {name} is an empty batch (shape {x.shape})")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{where}: {name} has {x.shape[1]} channels/features on axis 1, expected {channels} (shape {x.shape})")
    if finite and not all_finite(x):
        raise ValueError(f"{where}: {name} contains NaN or Inf")
    return x


def all_finite(a):
    """True if ``a`` has no NaN or Inf.

    One summing pass (no boolean temporary) decides the common case; only when
    the sum is not finite (a NaN or Inf, or finite values whose sum overflows)
    is the exact elementwise test run.

    >>> all_finite(np.array([1.0, 2.0])), all_finite(np.array([1.0, np.nan]))
    (True, False)
    >>> all_finite(np.array([3e38, 3e38], dtype=np.float32))   # the sum overflows, the values do not
    True
    """
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.add.reduce(a, axis=None)):
            return True
    return bool(np.isfinite(a).all())


def check_relevance(R, shape, layer, name="R"):
    """Check that a relevance (or gradient) array fits the output shape of a layer."""
    where = layer if isinstance(layer, str) else type(layer).__name__
    if not isinstance(R, np.ndarray) or not np.issubdtype(R.dtype, np.floating):
        raise TypeError(f"{where}: {name} must be a floating numpy.ndarray")
    if R.shape != tuple(shape):
        raise ValueError(f"{where}: {name} has shape {R.shape}, expected the output shape {tuple(shape)}")
    if not all_finite(R):
        raise ValueError(f"{where}: {name} contains NaN or Inf")
    return R


def as_float_param(a, name, ndim, owner):
    """Convert a weight or bias to a floating ndarray of the given rank (float64 unless already floating)."""
    a = np.asarray(a)
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise TypeError(f"{owner}: {name} must be numeric, got dtype {a.dtype}")
    if not np.issubdtype(a.dtype, np.floating):
        a = a.astype(np.float64)
    if a.ndim != ndim:
        raise ValueError(f"{owner}: {name} must have {ndim} dimensions, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{owner}: {name} contains NaN or Inf")
    return a


def pair(v, name, owner):
    """Normalise an int or a pair of ints to a tuple of two positive ints (padding may be 0)."""
    if isinstance(v, (int, np.integer)):
        v = (int(v), int(v))
    try:
        a, b = (int(t) for t in v)
    except (TypeError, ValueError):
        raise TypeError(f"{owner}: {name} must be an int or a pair of ints, got {v!r}") from None
    return a, b
