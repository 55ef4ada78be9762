"""Compare computed or another backend's arrays against the golden files.

Error measures, per case, over every array compared (``output``,
``start_relevance``, ``relevance.<k>``):

- absolute error: ``max |a - r|``;
- relative error: ``max |a - r| / max |r|`` for each array (normwise, so
  entries near zero do not blow it up), or the absolute error where the
  reference array is all zero; the case's figure is the largest over its arrays.

A case passes when its relative error is at most the tolerance (and nothing is
NaN, missing or misshaped).
"""
import fnmatch
import os
from collections import namedtuple

import numpy as np

from .files import ConformanceFileError, compute, read_arrays, read_case, read_index

__all__ = ["CaseResult", "DEFAULT_TOL", "compare", "check"]

#: default tolerance on the relative error (float64 backends)
DEFAULT_TOL = 1e-10

#: outcome of one case: errors over the ``compared`` arrays, ``ok``, and a ``message`` when it failed
CaseResult = namedtuple("CaseResult", "name compared abs_err rel_err ok message")


def compare(reference, actual, tol=DEFAULT_TOL, name="", required=("relevance.0",)):
    """Compare the arrays of ``actual`` present in ``reference``.

    Parameters
    ----------
    reference, actual : dict of str -> ndarray
    tol : float
        Tolerance on the relative error.
    required : tuple of str
        Keys ``actual`` must have; other keys of ``reference`` are compared when present.

    Returns
    -------
    CaseResult

    >>> r = compare({"relevance.0": np.array([1.0, -2.0])}, {"relevance.0": np.array([1.0, -2.0 + 1e-12])})
    >>> r.ok, float(r.rel_err) < 1e-12
    (True, True)
    """
    missing = [k for k in required if k not in actual]
    if missing:
        return CaseResult(name, 0, np.inf, np.inf, False, f"missing arrays: {', '.join(missing)}")
    abs_err, rel_err, compared = 0.0, 0.0, 0
    for key in sorted(reference):
        if key not in actual:
            continue
        r, a = np.asarray(reference[key]), np.asarray(actual[key])
        if r.shape != a.shape:
            return CaseResult(name, compared, np.inf, np.inf, False, f"{key}: shape {a.shape}, expected {r.shape}")
        if not np.issubdtype(a.dtype, np.number):
            return CaseResult(name, compared, np.inf, np.inf, False, f"{key}: not numeric ({a.dtype})")
        a = a.astype(np.float64)
        if not np.isfinite(a).all():
            return CaseResult(name, compared, np.inf, np.inf, False, f"{key}: NaN or Inf")
        err = float(np.abs(a - r).max()) if r.size else 0.0
        scale = float(np.abs(r).max()) if r.size else 0.0
        abs_err = max(abs_err, err)
        rel_err = max(rel_err, err / scale if scale > 0 else err)
        compared += 1
    ok = rel_err <= tol
    return CaseResult(name, compared, abs_err, rel_err, ok, "" if ok else f"relative error {rel_err:.3g} > {tol:g}")


def check(directory, backend_output=None, tol=DEFAULT_TOL, pattern=None):
    """Check every case of a golden directory.

    Without ``backend_output`` each case is recomputed with dtd from its file
    (network, input, target, rules) and compared with the stored arrays.  With
    ``backend_output``, the file of the same name in that directory (written by
    another backend: at least ``relevance.0``, and any of ``output``,
    ``start_relevance``, ``relevance.<k>``) is compared instead.

    Parameters
    ----------
    directory : str or path
        A golden directory (``index.json`` and the case files).
    backend_output : str or path, optional
    tol : float
    pattern : str, optional
        Only the cases whose name matches this glob (e.g. ``"dense/*"``).

    Returns
    -------
    list of CaseResult

    Raises
    ------
    ConformanceFileError
        The golden directory or one of its files is malformed, or no case matches ``pattern``.
    """
    index = read_index(directory)
    entries = [e for e in index["cases"] if pattern is None or fnmatch.fnmatchcase(e["name"], pattern)]
    if not entries:
        raise ConformanceFileError(f"no case of {directory} matches {pattern!r}")
    results = []
    for entry in entries:
        net, x, rules, target, expected, _ = read_case(os.path.join(directory, entry["file"]))
        if backend_output is None:
            actual = compute(net, x, rules, target)
        else:
            try:
                actual = read_arrays(os.path.join(backend_output, entry["file"]))
            except ConformanceFileError as e:
                results.append(CaseResult(entry["name"], 0, np.inf, np.inf, False, str(e)))
                continue
        results.append(compare(expected, actual, tol, entry["name"]))
    return results
