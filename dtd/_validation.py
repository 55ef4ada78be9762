"""Input checks shared by the layers and networks.

Every public entry point checks its arrays with these helpers, so that bad input
fails early with a message that says what is wrong, instead of deep inside NumPy.
"""
import contextlib
import warnings

import numpy as np

__all__ = ["check_input", "check_relevance", "as_float_param", "RelevanceWarning", "InputWarning",
           "float_errors", "reports_float_errors", "check_vanished"]


class InputWarning(UserWarning):
    """An input dtd used after a conversion it states (a float16 batch computed in float32)."""


class RelevanceWarning(UserWarning):
    """An explanation that computed without error but whose numbers say little: every sample's relevance
    vanished (all absorbed by a stabiliser or bias), or a float overflow happened on the way."""


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

    Returns
    -------
    ndarray
        ``x``; a float16 ``x`` converted to float32, with an :class:`InputWarning`.

    Raises
    ------
    TypeError
        Not a floating ndarray (integer or object dtype); for 8-bit integers the
        message says how to scale them (``x / 255.0``).
    ValueError
        Wrong rank, wrong channel count, empty batch, NaN or Inf.

    Notes
    -----
    float16 is a storage format: every float16 value is exactly a float32 one, so
    the conversion loses nothing, while computing in half precision would give
    conservation errors of about 1e-3 and overflow above 65504 (NumPy has no
    half-precision matrix product either: it would be slower, not faster).  Integer
    arrays are refused rather than converted, because their scale is a choice
    (pixel values 0..255 are usually meant as 0..1): the caller says which.
    """
    where = layer if isinstance(layer, str) else type(layer).__name__
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{where}: {name} must be a numpy.ndarray, got {type(x).__name__}")
    if not np.issubdtype(x.dtype, np.floating):
        if x.dtype in (np.uint8, np.int8):
            raise TypeError(
                f"{where}: {name} has dtype {x.dtype}; dtd computes in floating point and does not guess the "
                f"scale of 8-bit values: use {name} / 255.0 for pixels meant as 0..1, or "
                f"{name}.astype(np.float64) to keep 0..255")
        raise TypeError(
            f"{where}: {name} has dtype {x.dtype}; dtd computes in floating point "
            f"(use {name}.astype(np.float64), or float32)"
        )
    if x.dtype == np.float16:
        warnings.warn(f"{where}: {name} is float16; computing in float32 (exact conversion; half precision "
                      "would lose about 3 digits)", InputWarning, stacklevel=3)
        x = x.astype(np.float32)
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


@contextlib.contextmanager
def float_errors():
    """Collect NumPy's floating-point errors instead of printing its ``RuntimeWarning`` lines.

    Inside the block, an overflow, invalid operation or division by zero that NumPy would
    report is recorded (code that expects one, e.g. ``0/0 := 0``, silences it with its
    own ``np.errstate``, which takes precedence).  Yields the set of the kinds seen
    (``"overflow"``, ``"invalid value"``, ``"divide by zero"``, ...).

    >>> with float_errors() as seen:
    ...     _ = np.array([1e308]) * 10
    >>> sorted(seen)
    ['overflow']
    """
    seen = set()

    def record(kind, flag):
        seen.add(str(kind).split(" encountered")[0])

    with np.errstate(over="call", invalid="call", divide="call", call=record):
        yield seen


def reports_float_errors(where):
    """Decorator: run the function inside :func:`float_errors`; if NumPy met an overflow (or an invalid
    value, a division by zero) that nothing silenced, one :class:`RelevanceWarning` in words instead of
    NumPy's ``RuntimeWarning`` lines with source paths."""
    import functools

    def wrap(fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            with float_errors() as seen:
                out = fn(*args, **kwargs)
            if seen:
                warnings.warn(f"{where}: a float {' and '.join(sorted(seen))} occurred in the forward or "
                              "relevance pass (a value too large for the dtype: is a rule parameter such as "
                              "epsilon or gamma that large?); the relevance is not to be trusted",
                              RelevanceWarning, stacklevel=2)
            return out
        return run
    return wrap


def check_vanished(R, start, where="explain"):
    r"""Warn (:class:`RelevanceWarning`) when the relevance of some samples vanished; returns ``R``.

    Parameters
    ----------
    R : ndarray (N, ...)
        The input relevance.
    start : ndarray (N, ...)
        The starting relevance (``f_c(x)`` at the target).

    A sample's relevance *vanished* when :math:`f_c(x) \ne 0` and

    .. math:: \sum_i |R_i| \le 10^{-10}\, |f_c(x)|,

    i.e. the rules absorbed all of it (a stabiliser epsilon or a bias far larger than
    the contributions ``z_ij``, or no contribution of the sign a rule keeps: z+ where
    every ``z_ij <= 0``).  One pass over ``R``.  ``stacklevel`` 5 names the caller of
    ``explain`` (``explain`` -> ``check_explained`` -> here, under the decorator
    :func:`reports_float_errors`).

    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as w:
    ...     warnings.simplefilter("always")
    ...     _ = check_vanished(np.zeros((2, 3)), np.array([[2.0], [0.0]]))
    >>> str(w[0].message)[:54]
    'explain: the relevance vanished for 1 of 2 samples (0)'
    """
    n = len(R)
    with np.errstate(all="ignore"):
        got = np.abs(R.reshape(n, -1)).sum(axis=1, dtype=np.float64)
        out = np.abs(start.reshape(n, -1)).sum(axis=1, dtype=np.float64)
    gone = (out > 0) & ~(got > 1e-10 * out)
    if gone.any():
        idx = np.flatnonzero(gone)
        shown = ", ".join(map(str, idx[:10])) + (", ..." if len(idx) > 10 else "")
        warnings.warn(f"{where}: the relevance vanished for {len(idx)} of {n} samples ({shown}): "
                      "sum |R| <= 1e-10 |f_c(x)|, the rules absorbed all of f_c(x) (a stabiliser epsilon or a "
                      "bias far larger than the neurons' inputs, or no contribution of the sign a rule keeps, "
                      "e.g. z+ where every z_ij <= 0?)", RelevanceWarning, stacklevel=5)
    return R
