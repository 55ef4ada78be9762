r"""Selectivity: pixel flipping and region perturbation (Bach et al. 2015; Samek et al. 2017).

Removing what an explanation calls relevant should make the explained output
drop fast; removing what it calls irrelevant should not (property 4 of seed 004).

Procedure (:func:`pixel_flipping`), for a batch ``x`` of shape (N, C, H, W):

1. **Regions**: the image is tiled into ``k x k`` patches from the top-left
   corner (``region=k``; ``k = 1`` is pixel flipping); the last row/column of
   patches is smaller when ``k`` does not divide H or W. A region's score is its
   relevance **summed over channels and over the patch** (:func:`region_scores`).
2. **Order**: ``"most"`` relevant first (MoRF, scores descending), ``"least"``
   relevant first (LeRF, ascending), or ``"random"`` (the baseline; a
   permutation drawn from ``numpy.random.default_rng([seed, sample_id])``).
   Ties keep the region order (row-major), by a stable sort.
3. **Removal**: at step k = 1..S the first ``min(k * per_step, n_regions)``
   regions of the order are replaced, cumulatively, by the replacement image
   (all channels of the region): a constant ``value``; uniform noise in
   ``noise_range`` (one draw per entry, fixed for the whole run, seeded like the
   random order); or the image blurred by ``scipy.ndimage.gaussian_filter``
   with ``blur_sigma`` over the two spatial axes (mode "reflect"). Each
   removed entry keeps its replacement value in later steps.
4. **Curve**: :math:`f_k = f_c(x^{(k)})` for k = 0..S, with :math:`x^{(0)} = x`
   and the target c fixed to that of the unperturbed input. One forward pass per
   step for the whole batch.

Summaries of a curve :math:`f_0, \dots, f_S` (per sample, float64):

.. math::

    \mathrm{AUC} = \frac{1}{S}\Big(\frac{f_0 + f_S}{2} + \sum_{k=1}^{S-1} f_k\Big)

the trapezoid area under the curve with the steps placed at :math:`t_k = k/S`
in [0, 1], so curves of different lengths compare (a constant curve f has
AUC f); and (Samek et al. 2017, Eq. 12, for one sample)

.. math::

    \mathrm{AOPC} = \frac{1}{S + 1} \sum_{k=0}^{S} \big(f_0 - f_k\big).

A selective explanation has a low AUC and a high AOPC under MoRF, and a high
AUC under LeRF; the random order is the baseline both are compared with.
Inputs of shape (N, D) are treated as (N, 1, 1, D), and (N, H, W) as (N, 1, H, W).
"""
from typing import NamedTuple

import numpy as np

from ._checks import as_batch, model_fn, per_sample, sample_rngs, target_output

__all__ = ["FlipCurve", "pixel_flipping", "selectivity", "region_scores", "region_order",
           "auc", "aopc", "ORDERS", "REPLACEMENTS"]

ORDERS = ("most", "least", "random")
REPLACEMENTS = ("constant", "uniform", "blur")


class FlipCurve(NamedTuple):
    """Result of :func:`pixel_flipping`."""

    #: :math:`f_c(x^{(k)})` for k = 0..S, shape (N, S + 1), float64
    curve: np.ndarray
    #: number of regions removed at each step, shape (S + 1,)
    removed: np.ndarray
    #: number of regions of an image
    n_regions: int
    #: the order ("most", "least" or "random")
    order: str
    #: :func:`auc` of each curve, shape (N,)
    auc: np.ndarray
    #: :func:`aopc` of each curve, shape (N,)
    aopc: np.ndarray


def _curves(curve):
    c = np.asarray(curve, dtype=np.float64)
    if c.ndim == 1:
        c = c[None]
    if c.ndim != 2 or c.shape[1] < 2:
        raise ValueError(f"a curve needs shape (N, S + 1) with S >= 1 steps, got {np.shape(curve)}")
    if not np.isfinite(c).all():
        raise ValueError("curve contains NaN or Inf")
    return c


def auc(curve):
    r"""Area under perturbation curves, normalised by the number of steps S.

    .. math::

        \mathrm{AUC} = \frac{1}{S}\Big(\frac{f_0 + f_S}{2} + \sum_{k=1}^{S-1} f_k\Big)

    Parameters
    ----------
    curve : array_like, shape (N, S + 1) or (S + 1,)

    Returns
    -------
    ndarray (N,)

    >>> auc([[4.0, 2.0, 0.0], [1.0, 1.0, 1.0]]).tolist()
    [2.0, 1.0]
    """
    c = _curves(curve)
    S = c.shape[1] - 1
    return ((c[:, 0] + c[:, -1]) / 2 + c[:, 1:-1].sum(axis=1)) / S


def aopc(curve):
    r"""Area over the perturbation curve (Samek et al. 2017), one value per curve.

    .. math::

        \mathrm{AOPC} = \frac{1}{S + 1} \sum_{k=0}^{S} \big(f_0 - f_k\big)

    Parameters
    ----------
    curve : array_like, shape (N, S + 1) or (S + 1,)

    Returns
    -------
    ndarray (N,)

    >>> aopc([[4.0, 2.0, 0.0]]).tolist()
    [2.0]
    """
    c = _curves(curve)
    return (c[:, :1] - c).mean(axis=1)


def _as_images(a):
    if a.ndim == 2:
        return a[:, None, None, :]
    if a.ndim == 3:
        return a[:, None]
    if a.ndim == 4:
        return a
    raise ValueError(f"pixel flipping needs inputs of shape (N, D), (N, H, W) or (N, C, H, W), got {a.shape}")


def _region_size(region):
    if isinstance(region, bool) or not isinstance(region, (int, np.integer)) or region < 1:
        raise ValueError(f"region must be an int >= 1 (the side of the square patches), got {region!r}")
    return int(region)


def region_scores(R, region=1):
    """Relevance per region: summed over channels and over each ``region x region`` patch.

    Parameters
    ----------
    R : ndarray, shape (N, C, H, W) (or (N, H, W), (N, D))
    region : int

    Returns
    -------
    ndarray, float64, shape (N, ceil(H / region) * ceil(W / region)), regions row-major

    >>> R = np.arange(9.0).reshape(1, 1, 3, 3)
    >>> region_scores(R, 2).tolist()                    # patches [0:2,0:2], [0:2,2], [2,0:2], [2,2]
    [[8.0, 7.0, 13.0, 8.0]]
    """
    k = _region_size(region)
    R4 = _as_images(R)
    N, _, H, W = R4.shape
    Hb, Wb = -(-H // k), -(-W // k)
    pad = np.zeros((N, Hb * k, Wb * k))
    pad[:, :H, :W] = R4.sum(axis=1, dtype=np.float64)
    return pad.reshape(N, Hb, k, Wb, k).sum(axis=(2, 4)).reshape(N, Hb * Wb)


def region_order(scores, order="most", seed=0, sample_ids=None):
    """Regions in the order of removal, shape (N, n_regions) (see the module docstring).

    >>> region_order(np.array([[1.0, 3.0, 1.0, 2.0]]), "most").tolist()
    [[1, 3, 0, 2]]
    >>> region_order(np.array([[1.0, 3.0, 1.0, 2.0]]), "least").tolist()
    [[0, 2, 3, 1]]
    """
    if order == "most":
        return np.argsort(-scores, axis=1, kind="stable")
    if order == "least":
        return np.argsort(scores, axis=1, kind="stable")
    if order == "random":
        return np.stack([r.permutation(scores.shape[1]) for r in sample_rngs(len(scores), seed, sample_ids)])
    raise ValueError(f"unknown order {order!r}; choose one of {', '.join(ORDERS)}")


def _replacement_image(x4, replacement, value, noise_range, blur_sigma, seed, sample_ids):
    if isinstance(replacement, np.ndarray):
        rep = np.asarray(replacement, dtype=x4.dtype)
        if rep.size != x4.size:
            raise ValueError(f"replacement array has shape {replacement.shape}, expected the input's")
        return rep.reshape(x4.shape)
    if replacement == "constant":
        if not np.isfinite(value):
            raise ValueError(f"replacement value must be finite, got {value}")
        return np.full_like(x4, value)
    if replacement == "uniform":
        lo, hi = noise_range
        if not (np.isfinite(lo) and np.isfinite(hi) and lo <= hi):
            raise ValueError(f"noise_range must be finite (low, high) with low <= high, got {noise_range}")
        rngs = sample_rngs(len(x4), seed, sample_ids)
        return np.stack([r.uniform(lo, hi, size=x4.shape[1:]) for r in rngs]).astype(x4.dtype)
    if replacement == "blur":
        from scipy.ndimage import gaussian_filter
        if not (np.isfinite(blur_sigma) and blur_sigma > 0):
            raise ValueError(f"blur_sigma must be > 0, got {blur_sigma}")
        return gaussian_filter(x4, sigma=(0, 0, blur_sigma, blur_sigma), mode="reflect")
    raise ValueError(f"unknown replacement {replacement!r}; choose one of {', '.join(REPLACEMENTS)}"
                     " or give an array")


def pixel_flipping(model, x, R, target=None, *, order="most", region=1, per_step=1, steps=None,
                   replacement="constant", value=0.0, noise_range=(0.0, 1.0), blur_sigma=1.0,
                   seed=0, sample_ids=None, progress=None):
    """Pixel flipping / region perturbation curve of an explanation (see the module docstring).

    Parameters
    ----------
    model : Sequential or callable
        Anything with ``forward(x)`` (or callable) returning outputs (N, K).
    x : ndarray, shape (N, C, H, W) (or (N, H, W), (N, D))
    R : ndarray, shape of x
        The explanation (ignored for ``order="random"``).
    target : None, int or int array (N,)
        Explained output; None = argmax on the unperturbed ``x``.
    order : {"most", "least", "random"}
    region : int
        Side k of the square regions (1 = single pixels).
    per_step : int
        Regions removed per step.
    steps : int, optional
        Number of steps S; default ``ceil(n_regions / per_step)`` (until all is removed).
    replacement : {"constant", "uniform", "blur"} or ndarray shaped like x
    value : float
        For "constant".
    noise_range : (float, float)
        For "uniform".
    blur_sigma : float
        For "blur", in pixels.
    seed : int
        For "random" and "uniform".
    sample_ids : int array (N,), optional
        Ids for the random draws (default ``arange(N)``).
    progress : bool, optional
        Show a tqdm bar; None = only when S >= 100 and stderr is a terminal.

    Returns
    -------
    FlipCurve

    Examples
    --------
    A linear model ``f(x) = w . x`` with constant-0 replacement: MoRF removes the
    largest terms ``w_i x_i`` first.

    >>> w = np.array([3.0, 1.0, 2.0])
    >>> f = lambda x: (x @ w)[:, None]
    >>> x = np.ones((1, 3))
    >>> fc = pixel_flipping(f, x, x * w)
    >>> fc.curve.tolist(), round(float(fc.auc[0]), 12), fc.aopc.tolist()     # AUC = (3 + 3 + 1) / 3
    ([[6.0, 3.0, 1.0, 0.0]], 2.333333333333, [3.5])
    """
    from tqdm.auto import tqdm

    x = as_batch(x, "x", "pixel_flipping")
    R = as_batch(R, "R", "pixel_flipping")
    if R.shape != x.shape:
        raise ValueError(f"pixel_flipping: R has shape {R.shape}, x has shape {x.shape}")
    k = _region_size(region)
    if isinstance(per_step, bool) or not isinstance(per_step, (int, np.integer)) or per_step < 1:
        raise ValueError(f"per_step must be an int >= 1, got {per_step!r}")
    forward = model_fn(model)
    f0, t = target_output(forward, x, target)
    x4 = _as_images(x)
    N, C, H, W = x4.shape
    scores = region_scores(R, k)
    n_regions = scores.shape[1]
    max_steps = -(-n_regions // per_step)
    S = max_steps if steps is None else steps
    if isinstance(S, bool) or not isinstance(S, (int, np.integer)) or not 1 <= S <= max_steps:
        raise ValueError(f"steps must be an int in 1..{max_steps} ({n_regions} regions, {per_step} per step), "
                         f"got {steps!r}")
    ordering = region_order(scores, order, seed, sample_ids)
    rank = np.empty_like(ordering)
    np.put_along_axis(rank, ordering, np.arange(n_regions)[None], axis=1)
    Wb = -(-W // k)
    region_of_pixel = ((np.arange(H) // k)[:, None] * Wb + (np.arange(W) // k)[None]).ravel()
    pixel_rank = rank[:, region_of_pixel].reshape(N, 1, H, W)
    rep = _replacement_image(x4, replacement, value, noise_range, blur_sigma, seed, sample_ids)
    removed = np.minimum(np.arange(S + 1) * per_step, n_regions)
    curve = np.empty((N, S + 1))
    curve[:, 0] = f0
    idx = np.arange(N)
    # tqdm's disable=None: shown only when stderr is a terminal
    disable = (None if S >= 100 else True) if progress is None else not progress
    for step in tqdm(range(1, S + 1), desc=f"pixel flipping ({order})", disable=disable, leave=False,
                     unit="step"):
        xk = np.where(pixel_rank < removed[step], rep, x4).reshape(x.shape)
        out = np.asarray(forward(xk))
        curve[:, step] = per_sample(out)[idx, t]
    return FlipCurve(curve, removed, n_regions, order, auc(curve), aopc(curve))


def selectivity(model, x, R, target=None, orders=ORDERS, **options):
    """:func:`pixel_flipping` for several orders (by default most, least relevant first, and random).

    Returns
    -------
    dict
        order -> :class:`FlipCurve`.
    """
    if target is None:
        _, target = target_output(model_fn(model), x, None)
    return {o: pixel_flipping(model, x, R, target, order=o, **options) for o in orders}
