"""Conservation: does the relevance of the input add up to the explained output?"""
from typing import NamedTuple

import numpy as np

from ._checks import as_batch, per_sample

__all__ = ["Conservation", "conservation"]


class Conservation(NamedTuple):
    """Result of :func:`conservation`; each field has shape (N,), float64."""

    #: relative error :math:`|S - f_c(x)| / |f_c(x)|`
    error: np.ndarray
    #: summed relevance :math:`S = \sum_p R_p`
    total: np.ndarray
    #: the explained output :math:`f_c(x)`
    output: np.ndarray


def conservation(R, output):
    r"""Relative conservation error per sample (Montavon et al. 2017, property 1 of seed 004).

    .. math::

        S_n = \sum_p R_{n,p}, \qquad
        e_n = \frac{|S_n - f_c(x_n)|}{|f_c(x_n)|},

    summing over every entry of ``R`` (all channels and positions), with
    :math:`0/0 := 0` (nothing to explain, nothing explained) and :math:`s/0 := \infty`
    for :math:`s \neq 0`. Computed in float64.

    Parameters
    ----------
    R : ndarray, shape (N, ...)
        Relevance of a batch.
    output : array_like, shape (N,)
        :math:`f_c(x_n)`, the output the explanation started from.

    Returns
    -------
    Conservation
        ``(error, total, output)``, each (N,).

    >>> R = np.array([[0.5, 0.5], [1.0, 2.0], [0.0, 0.0]])
    >>> c = conservation(R, np.array([1.0, 2.0, 0.0]))
    >>> c.error.tolist(), c.total.tolist()
    ([0.0, 0.5, 0.0], [1.0, 3.0, 0.0])
    """
    R = as_batch(R, "R", "conservation")
    fc = np.asarray(output, dtype=np.float64)
    if fc.shape != (R.shape[0],):
        raise ValueError(f"conservation: output must have shape ({R.shape[0]},), got {fc.shape}")
    if not np.isfinite(fc).all():
        raise ValueError("conservation: output contains NaN or Inf")
    total = per_sample(R).sum(axis=1, dtype=np.float64)
    diff = np.abs(total - fc)
    den = np.abs(fc)
    with np.errstate(divide="ignore", invalid="ignore"):
        err = np.where(den > 0, diff / np.where(den > 0, den, 1.0), np.where(diff > 0, np.inf, 0.0))
    return Conservation(err, total, fc)
