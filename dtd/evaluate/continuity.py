"""Continuity: how much does the explanation change when the input changes a little?"""
from typing import NamedTuple

import numpy as np

from ._checks import as_batch, per_sample, sample_rngs

__all__ = ["Continuity", "continuity", "translate"]

#: the one-pixel translations, (rows, columns): content moves down, up, right, left
SHIFTS = {"down": (1, 0), "up": (-1, 0), "right": (0, 1), "left": (0, -1)}


class Continuity(NamedTuple):
    """Result of :func:`continuity`."""

    #: the largest ratio per sample, shape (N,) (NaN if no perturbation changed the input)
    value: np.ndarray
    #: every ratio, shape (N, K) (NaN where the perturbation left the input unchanged)
    ratios: np.ndarray
    #: names of the K perturbations ("down", "up", "right", "left", "noise0", ...)
    perturbations: tuple


def translate(x, dy, dx, fill=0.0):
    """Shift the last two axes of ``x`` by ``(dy, dx)`` pixels; vacated pixels get ``fill``.

    >>> translate(np.array([[[1.0, 2.0], [3.0, 4.0]]]), 0, 1).tolist()
    [[[0.0, 1.0], [0.0, 3.0]]]
    """
    H, W = x.shape[-2:]
    out = np.full_like(x, fill)
    src_r, dst_r = slice(max(0, -dy), H - max(0, dy)), slice(max(0, dy), H - max(0, -dy))
    src_c, dst_c = slice(max(0, -dx), W - max(0, dx)), slice(max(0, dx), W - max(0, -dx))
    out[..., dst_r, dst_c] = x[..., src_r, src_c]
    return out


def continuity(explain, x, target=None, *, translations=True, fill=0.0, noise=0.01, n_noise=4,
               clip=None, seed=0, sample_ids=None):
    r"""Continuity of an explanation (Montavon, Samek, Müller 2018, Sec. 7.1; property 3 of seed 004).

    Montavon et al. define the continuity of an explanation technique by the
    largest rate of change of the explanation,

    .. math::

        \max_{x' \neq x} \frac{\| R(x) - R(x') \|_1}{\| x - x' \|_2}

    (small is continuous). This function evaluates that ratio over a fixed,
    small set of K perturbations :math:`x'_k` of each input and returns, per
    sample, the largest one:

    - **translations** (if ``translations`` and the input has two spatial axes,
      i.e. shape (N, H, W) or (N, C, H, W)): the image shifted by one pixel down,
      up, right and left (:func:`translate`; the vacated row or column is set to
      ``fill``, nothing wraps around);
    - **noise**: ``n_noise`` copies :math:`x + \sigma \varepsilon`,
      :math:`\varepsilon \sim \mathcal{N}(0, I)` with :math:`\sigma` = ``noise``
      in input units, then clipped to ``clip = (low, high)`` if given. The draws
      of sample n come from ``numpy.random.default_rng([seed, sample_ids[n]])``.

    :math:`\|\cdot\|_1` and :math:`\|\cdot\|_2` run over every entry of the sample
    (all channels), in float64. The explanation of every :math:`x'_k` is for the
    **same target** as :math:`x` (``target``), so a class switch does not count as
    discontinuity. A perturbation that leaves an input unchanged (a blank image
    shifted) gives NaN and is ignored by the maximum.

    All ``N * K`` perturbed inputs are explained in one call of ``explain``.

    Parameters
    ----------
    explain : callable ``(x, target) -> R``
        The explanation technique; ``R`` shaped like ``x``.
    x : ndarray, shape (N, ...)
    target : None, int, or int array (N,)
        Passed to ``explain`` (repeated for the perturbed copies). Give the
        targets of ``x`` explicitly to hold the class fixed; ``None`` lets each
        copy take its own argmax.
    translations : bool
    fill : float
    noise : float >= 0
    n_noise : int >= 0
    clip : (float, float), optional
    seed : int
    sample_ids : int array (N,), optional
        Ids for the random draws (default ``arange(N)``).

    Returns
    -------
    Continuity
        ``(value (N,), ratios (N, K), perturbations)``.

    >>> x = np.zeros((1, 1, 3, 3)); x[0, 0, 1, 1] = 2.0
    >>> c = continuity(lambda x, t: x ** 2, x, n_noise=0)
    >>> c.perturbations, round(float(c.value[0]), 12)         # (4 + 4) / sqrt(2 * 2 ** 2)
    (('down', 'up', 'right', 'left'), 2.828427124746)
    """
    x = as_batch(x, "x", "continuity")
    N = x.shape[0]
    if not (np.isfinite(noise) and noise >= 0):
        raise ValueError(f"continuity: noise must be >= 0, got {noise}")
    if int(n_noise) != n_noise or n_noise < 0:
        raise ValueError(f"continuity: n_noise must be an int >= 0, got {n_noise}")
    copies, names = [], []
    if translations and x.ndim >= 3:
        for name, (dy, dx) in SHIFTS.items():
            copies.append(translate(x, dy, dx, fill))
            names.append(name)
    if n_noise and noise > 0:
        rngs = sample_rngs(N, seed, sample_ids)
        eps = np.stack([r.standard_normal((int(n_noise),) + x.shape[1:]) for r in rngs], axis=1)
        for k in range(int(n_noise)):
            xk = x + (noise * eps[k]).astype(x.dtype)
            copies.append(xk if clip is None else np.clip(xk, clip[0], clip[1]).astype(x.dtype))
            names.append(f"noise{k}")
    if not copies:
        raise ValueError("continuity: no perturbations (no spatial axes for translations, and no noise)")
    K = len(copies)
    t = None if target is None else np.broadcast_to(np.asarray(target), (N,))
    R0 = np.asarray(explain(x, None if t is None else t.copy()))
    Rk = np.asarray(explain(np.concatenate(copies), None if t is None else np.tile(t, K)))
    if R0.shape != x.shape or Rk.shape != (K * N,) + x.shape[1:]:
        raise ValueError(f"continuity: explain returned shape {R0.shape}, expected the input shape {x.shape}")
    dR = np.abs(per_sample(Rk).reshape(K, N, -1) - per_sample(R0)[None].astype(np.float64)).sum(axis=2)
    dx = np.sqrt(((np.stack(copies).reshape(K, N, -1) - per_sample(x)[None].astype(np.float64)) ** 2)
                 .sum(axis=2))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(dx > 0, dR / np.where(dx > 0, dx, 1.0), np.nan).T
    valid = ~np.isnan(ratios)
    value = np.where(valid.any(axis=1), np.max(np.where(valid, ratios, -np.inf), axis=1), np.nan)
    return Continuity(value, ratios, tuple(names))
