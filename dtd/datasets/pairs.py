"""MNIST pairs: a digit 0-3 beside a distracting digit 4-9 (seed 001, "Example MNIST").

Each sample is a 28 x 56 image made of two MNIST digits side by side. One of
them is the digit of interest (class 0, 1, 2 or 3), the other a distractor
(class 4..9); which one is on the left is random. The detector of seed 001
must find the digit of interest, and its heatmap should sit on that half.
"""
from typing import NamedTuple

import numpy as np


class Pairs(NamedTuple):
    """The result of :func:`make_pairs`.

    Attributes
    ----------
    images : numpy.ndarray, shape (n, 1, 28, 56)
        Same dtype as the input images.
    target : numpy.ndarray of int64, shape (n,)
        Class 0..3 of the digit of interest; -1 for a pair without one.
    side : numpy.ndarray of int64, shape (n,)
        0 if the digit of interest is the left half (columns 0..27), 1 if it
        is the right half (columns 28..55); -1 for a pair without one.
    distractor : numpy.ndarray of int64, shape (n,)
        Class 4..9 of the distractor (of the left distractor for a pair
        without a digit of interest).
    """

    images: np.ndarray
    target: np.ndarray
    side: np.ndarray
    distractor: np.ndarray


def make_pairs(images, labels, n, seed, p_absent=0.0):
    """Build ``n`` two-digit images, deterministically from ``seed``.

    Parameters
    ----------
    images : numpy.ndarray, shape (N, 1, 28, 28) or (N, 28, 28)
        MNIST digits (any dtype, e.g. from :func:`dtd.datasets.load_mnist`).
    labels : numpy.ndarray of int, shape (N,)
        Their classes 0..9; both 0-3 and 4-9 must occur.
    n : int
        Number of pairs.
    seed : int or None
        Seed of :func:`numpy.random.default_rng`; the same seed and inputs
        give the same pairs.
    p_absent : float
        Probability that a pair is two distractors (target and side -1),
        for training a detector of presence; 0 by default.

    Returns
    -------
    Pairs
        ``(images (n, 1, 28, 56), target (n,), side (n,), distractor (n,))``.

    Notes
    -----
    Digits are drawn uniformly with replacement among the samples of the
    two groups; the side is a fair coin. The pair is
    :math:`[\\,x_{\\text{left}} \\mid x_{\\text{right}}\\,]` along the width axis.

    Examples
    --------
    >>> digits = np.arange(10.0)[:, None, None, None] * np.ones((10, 1, 28, 28))
    >>> p = make_pairs(digits, np.arange(10), n=3, seed=0)
    >>> p.images.shape
    (3, 1, 28, 56)
    >>> bool(np.all(p.images[np.arange(3), 0, 0, 28 * p.side] == p.target))
    True
    """
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.ndim == 3:
        images = images[:, None]
    if images.ndim != 4 or images.shape[1:] != (1, 28, 28):
        raise ValueError(f"images must have shape (N, 1, 28, 28) or (N, 28, 28), got {images.shape}")
    if labels.shape != (len(images),) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers of shape ({len(images)},), got {labels.dtype} {labels.shape}")
    if int(n) != n or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    if not 0.0 <= p_absent <= 1.0:
        raise ValueError(f"p_absent must be in [0, 1], got {p_absent!r}")
    interest = np.flatnonzero((labels >= 0) & (labels <= 3))
    distract = np.flatnonzero((labels >= 4) & (labels <= 9))
    if len(interest) == 0 or len(distract) == 0:
        raise ValueError("labels must contain digits 0-3 and digits 4-9 to make pairs")
    n = int(n)
    rng = np.random.default_rng(seed)
    a = rng.choice(interest, size=n)           # digit of interest
    d = rng.choice(distract, size=n)           # distractor
    d2 = rng.choice(distract, size=n)          # second distractor, used when absent
    side = rng.integers(0, 2, size=n)
    absent = rng.random(n) < p_absent
    a = np.where(absent, d2, a)
    right_is_a = side == 1
    left = np.where(right_is_a, d, a)
    right = np.where(right_is_a, a, d)
    out = np.concatenate([images[left], images[right]], axis=3)
    target = np.where(absent, -1, labels[a]).astype(np.int64)
    side = np.where(absent, -1, side).astype(np.int64)
    distractor = np.where(absent, labels[left], labels[d]).astype(np.int64)
    return Pairs(out, target, side, distractor)
