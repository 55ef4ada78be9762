"""Positivity: how much of the relevance is negative?"""
from typing import NamedTuple

import numpy as np

from ._checks import as_batch, per_sample

__all__ = ["Positivity", "positivity"]


class Positivity(NamedTuple):
    """Result of :func:`positivity`; each field has shape (N,), float64."""

    #: share of the relevance mass that is negative, in [0, 1]
    share: np.ndarray
    #: negative mass :math:`\sum_p \max(0, -R_p)` (>= 0)
    negative: np.ndarray
    #: total mass :math:`\sum_p |R_p|`
    mass: np.ndarray


def positivity(R):
    r"""Negative relevance per sample (property 2 of seed 004: :math:`R_p \ge 0` for all p).

    .. math::

        m^-_n = \sum_p \max(0, -R_{n,p}), \qquad
        s_n = \frac{m^-_n}{\sum_p |R_{n,p}|} \quad (0 \text{ when } R_n = 0),

    over every entry of ``R`` (channels are not summed first: a pixel whose
    colour channels cancel still counts its negative channel). A positive
    explanation has ``share == 0``; a sign-balanced one has ``share == 0.5``.
    Computed in float64.

    Parameters
    ----------
    R : ndarray, shape (N, ...)

    Returns
    -------
    Positivity
        ``(share, negative, mass)``, each (N,).

    >>> p = positivity(np.array([[1.0, -1.0, 2.0], [0.0, 0.0, 0.0]]))
    >>> p.share.tolist(), p.negative.tolist()
    ([0.25, 0.0], [1.0, 0.0])
    """
    R = per_sample(as_batch(R, "R", "positivity")).astype(np.float64)
    neg = np.maximum(-R, 0.0).sum(axis=1)
    mass = np.abs(R).sum(axis=1)
    share = neg / np.where(mass > 0, mass, 1.0)
    return Positivity(share, neg, mass)
