"""Relevance maps as RGB images: colormaps, scaling, overlay, grids, PNG files.

A relevance array is reduced to one map per sample by **summing over channels**
(the relevance of a pixel is the sum of the relevance of its colour channels, so
the total relevance is kept). Accepted shapes:

- single: ``(H, W)`` or ``(C, H, W)``;
- batch: ``(N, C, H, W)``, or ``(N, H, W)`` with ``batched=True``.

A 3-D array is read as ``(C, H, W)`` unless ``batched=True`` is given.

Each map is scaled to colormap positions ``t`` in [0, 1] (see :func:`normalize`)
and coloured by a piecewise-linear table; colour components ``c`` in [0, 1]
become bytes as ``floor(255 c + 1/2)``. No plotting library is needed: images
are NumPy arrays, and :func:`save_png` writes them through Pillow.
"""
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Colormap", "list_cmaps", "get_cmap", "normalize", "heatmap", "shared_bound", "colorbar",
           "text_strip", "overlay", "grid", "save_png"]

#: Luma weights of ITU-R BT.601 (the ones Pillow's ``convert("L")`` uses).
LUMA = np.array([0.299, 0.587, 0.114])


@dataclass(frozen=True)
class Colormap:
    """A piecewise-linear colormap: RGB colours at increasing positions in [0, 1].

    ``symmetric`` maps are centred on zero relevance (position 1/2, the neutral
    colour); sequential maps start at zero relevance (position 0).
    """

    name: str
    positions: tuple
    colors: tuple
    symmetric: bool

    def __call__(self, t):
        """Colours (float RGB in [0, 1], shape ``t.shape + (3,)``) at positions ``t``."""
        t = np.asarray(t, dtype=np.float64)
        table = np.asarray(self.colors, dtype=np.float64)
        return np.stack([np.interp(t, self.positions, table[:, k]) for k in range(3)], axis=-1)


_BLUE, _WHITE, _RED, _BLACK = (0, 0, 1), (1, 1, 1), (1, 0, 0), (0, 0, 0)
_CMAPS = {c.name: c for c in [
    # matplotlib's "bwr": blue - white - red.
    Colormap("bwr", (0, 0.5, 1), (_BLUE, _WHITE, _RED), True),
    # matplotlib's "seismic": dark blue - blue - white - red - dark red.
    Colormap("seismic", (0, 0.25, 0.5, 0.75, 1),
             ((0, 0, 0.3), _BLUE, _WHITE, _RED, (0.5, 0, 0)), True),
    # Black-centred cold and hot (Zennit's "coldnhot" is the same up to yellow,
    # then goes on to white; here both halves have equal length).
    Colormap("coldnhot", (0, 0.25, 0.5, 0.75, 1),
             ((0, 1, 1), _BLUE, _BLACK, _RED, (1, 1, 0)), True),
    # Sequential, for positive maps: black - red - yellow - white in equal thirds
    # (as Zennit's "hot"; matplotlib's "hot" has other breakpoints).
    Colormap("hot", (0, 1 / 3, 2 / 3, 1), (_BLACK, _RED, (1, 1, 0), _WHITE), False),
    Colormap("gray", (0, 1), (_BLACK, _WHITE), False),
]}


def list_cmaps():
    """Names of the built-in colormaps.

    >>> list_cmaps()
    ['bwr', 'coldnhot', 'gray', 'hot', 'seismic']
    """
    return sorted(_CMAPS)


def get_cmap(name):
    """The :class:`Colormap` called ``name`` (a :class:`Colormap` is returned as is).

    >>> get_cmap("seismic")(np.array([0.0, 0.5, 1.0])).tolist()
    [[0.0, 0.0, 0.3], [1.0, 1.0, 1.0], [0.5, 0.0, 0.0]]

    Raises
    ------
    ValueError
        Unknown name; the message lists the valid ones.
    """
    if isinstance(name, Colormap):
        return name
    if name not in _CMAPS:
        raise ValueError(f"unknown colormap {name!r}; choose one of {', '.join(list_cmaps())}")
    return _CMAPS[name]


def _as_maps(R, batched):
    """Check ``R`` and return ``(maps (N, H, W) float64, batched)``."""
    R = np.asarray(R)
    if not np.issubdtype(R.dtype, np.number) or np.issubdtype(R.dtype, np.complexfloating):
        raise TypeError(f"relevance must be a real numeric array, got dtype {R.dtype}")
    if batched is None:
        batched = R.ndim == 4
    if R.ndim not in ((3, 4) if batched else (2, 3)):
        expected = "(N, H, W) or (N, C, H, W)" if batched else "(H, W) or (C, H, W)"
        raise ValueError(f"relevance must have shape {expected}, got shape {R.shape}")
    if R.size == 0:
        raise ValueError(f"relevance is empty (shape {R.shape})")
    if np.isnan(R).any():
        raise ValueError("relevance contains NaN")
    if np.isinf(R).any():
        raise ValueError("relevance contains Inf")
    R = R.astype(np.float64)
    if R.ndim == (4 if batched else 3):
        R = R.sum(axis=-3)                              # channels are summed
    return (R if batched else R[None]), batched


def _bounds(maps, symmetric, percentile, vmin, vmax, bound):
    """Lower and upper bounds per map, shape (N, 1, 1) each."""
    if vmin is not None or vmax is not None:
        if vmin is None or vmax is None or bound is not None:
            raise ValueError("give vmin and vmax together, or bound, not a mix")
        if not (np.isfinite(vmin) and np.isfinite(vmax) and vmin < vmax):
            raise ValueError(f"need finite vmin < vmax, got vmin={vmin}, vmax={vmax}")
        return np.full((len(maps), 1, 1), float(vmin)), np.full((len(maps), 1, 1), float(vmax))
    if bound is not None:
        if not (np.isfinite(bound) and bound > 0):
            raise ValueError(f"bound must be finite and > 0, got {bound}")
        s = np.full(len(maps), float(bound))
    else:
        if not 0 < percentile <= 100:
            raise ValueError(f"percentile must be in (0, 100], got {percentile}")
        a = np.abs(maps).reshape(len(maps), -1)
        s = np.percentile(a, percentile, axis=1)
        s = np.where(s > 0, s, a.max(axis=1))         # sparse map: use the maximum
        s = np.where(s > 0, s, 1.0)                     # all-zero map: neutral colour
    s = s[:, None, None]
    return (-s if symmetric else np.zeros_like(s)), s


def normalize(R, cmap="bwr", *, percentile=99.5, vmin=None, vmax=None, bound=None,
              batched=None):
    r"""Colormap positions in [0, 1] for relevance ``R`` (channels summed).

    Bounds ``[lo, hi]`` are, by priority: ``vmin, vmax`` if given; else
    ``[-bound, bound]`` for a symmetric map or ``[0, bound]`` for a sequential one;
    else the same with ``bound = s``, the robust scale of each map separately:

    .. math::

        s = \operatorname{percentile}_{p}\,|R| \quad (p = 99.5 \text{ by default,
        linear interpolation as numpy.percentile}),

    replaced by :math:`\max |R|` when it is 0 (a sparse map), and by 1 when that is 0
    too (an all-zero map gets the neutral colour). Then

    .. math::

        t = \operatorname{clip}\left(\frac{R - lo}{hi - lo}, 0, 1\right),

    so zero sits at t = 1/2 on symmetric maps, and values beyond the bounds clip
    (on sequential maps negative relevance shows as zero).

    Parameters
    ----------
    R : array_like, shape (H, W), (C, H, W), (N, C, H, W) or, with ``batched=True``, (N, H, W)
    cmap : str or Colormap
        Only its ``symmetric`` flag matters here.
    percentile : float in (0, 100]
    vmin, vmax : float, optional
        Explicit bounds (both).
    bound : float > 0, optional
        Explicit half-width of a symmetric range (or upper bound of a sequential one).
    batched : bool, optional
        Read a 3-D ``R`` as (N, H, W) instead of (C, H, W).

    Returns
    -------
    t : ndarray, float64, shape (H, W) or (N, H, W)

    >>> normalize(np.array([[-4.0, -1.0, 0.0, 1.0, 2.0]]), bound=2.0).tolist()
    [[0.0, 0.25, 0.5, 0.75, 1.0]]
    >>> normalize(np.array([[-1.0, 0.0, 0.5, 2.0]]), "hot", bound=1.0).tolist()
    [[0.0, 0.0, 0.5, 1.0]]
    """
    symmetric = get_cmap(cmap).symmetric
    maps, batched = _as_maps(R, batched)
    lo, hi = _bounds(maps, symmetric, percentile, vmin, vmax, bound)
    m = np.maximum(np.abs(lo), np.abs(hi))             # > 0; keeps huge and subnormal
    with np.errstate(over="ignore"):                    # bounds finite and distinct
        t = np.clip((maps / m - lo / m) / (hi / m - lo / m), 0.0, 1.0)
    return t if batched else t[0]


def _to_bytes(rgb):
    return np.floor(255.0 * np.asarray(rgb) + 0.5).astype(np.uint8)


def heatmap(R, cmap="bwr", **scaling):
    """Relevance as an RGB image.

    Parameters
    ----------
    R : array_like
        Relevance, shapes as in :func:`normalize` (channels summed).
    cmap : str or Colormap
        One of :func:`list_cmaps`; "bwr" (blue-white-red) by default.
    **scaling
        ``percentile``, ``vmin``/``vmax``, ``bound``, ``batched`` as in :func:`normalize`.

    Returns
    -------
    image : ndarray, uint8, shape (H, W, 3) or (N, H, W, 3)

    >>> heatmap(np.array([[-1.0, 0.0, 0.5, 1.0]]), bound=1.0).tolist()
    [[[0, 0, 255], [255, 255, 255], [255, 128, 128], [255, 0, 0]]]
    >>> heatmap(np.zeros((2, 1, 1)), "coldnhot").tolist()
    [[[0, 0, 0]]]
    """
    cmap = get_cmap(cmap)
    return _to_bytes(cmap(normalize(R, cmap, **scaling)))


def shared_bound(maps, percentile=99.5):
    r"""One colour scale for several relevance maps together (e.g. a row or a whole figure).

    The median over the maps of each map's own scale :math:`s_k` (as :func:`normalize`
    computes it: the ``percentile`` of :math:`|R_k|`, its maximum if that is 0; all-zero
    maps are left out, and 1 is returned if every map is zero). The median keeps one
    map with a much larger range (e.g. sensitivity's squared gradients, or a weak
    output beside strong ones) from washing out the others: that map saturates
    instead. Pass it as ``bound`` to :func:`heatmap` so that equal relevance gets
    equal colour in every map.

    Parameters
    ----------
    maps : sequence of array_like
        Relevance arrays of shape (H, W) or (C, H, W) (each one map).
    percentile : float in (0, 100]

    Returns
    -------
    float > 0

    >>> shared_bound([np.array([[1.0, -3.0]]), np.array([[2.0, 0.0]]), np.array([[5.0, 0.0]])], percentile=100)
    3.0
    """
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {percentile}")
    scales = []
    for m in maps:
        a = np.abs(_as_maps(m, False)[0].ravel())
        s = float(np.percentile(a, percentile))
        scales.append(s if s > 0 else float(a.max()))
    scales = [s for s in scales if s > 0]
    return float(np.median(scales)) if scales else 1.0


def _font():
    from PIL import ImageFont
    return ImageFont.load_default()


def colorbar(cmap="bwr", bound=1.0, height=128, *, width=12, label="R", background=(255, 255, 255)):
    """A vertical colour bar with its values, as an RGB image.

    The bar runs from ``-bound`` (bottom) to ``+bound`` (top) for a symmetric
    colormap, from 0 to ``bound`` for a sequential one, in the colours
    :func:`heatmap` gives those values with the same ``bound``; the top, middle and
    bottom values are written beside it, ``label`` above. The width does not depend
    on ``bound`` (room for any value written with 3 significant digits).

    Returns
    -------
    image : ndarray, uint8, shape (height, W, 3)

    >>> colorbar("bwr", 2.0, height=64).shape[0]
    64
    """
    from PIL import Image, ImageDraw

    cmap = get_cmap(cmap)
    if not (np.isfinite(bound) and bound > 0):
        raise ValueError(f"colorbar: bound must be finite and > 0, got {bound}")
    font = _font()
    th = font.getbbox("Ag")[3]
    top, bottom = th + 6, height - th // 2 - 1
    if bottom - top < 8:
        raise ValueError(f"colorbar: height {height} too small")
    lo = -bound if cmap.symmetric else 0.0
    values = [(bound, top), ((lo + bound) / 2, (top + bottom) / 2), (lo, bottom)]
    labels = [f"{v:+.3g}" if v else "0" for v, _ in values]
    tw = max(int(font.getlength(t)) for t in labels + [label, "-8.88e-88"])    # the same width for any bound
    img = Image.new("RGB", (width + 6 + tw + 2, height), tuple(background))
    t = np.linspace(1.0, 0.0, bottom - top + 1)          # top row = +bound
    column = _to_bytes(cmap(t))[:, None, :]
    img.paste(Image.fromarray(np.repeat(column, width, axis=1)), (0, top))
    d = ImageDraw.Draw(img)
    d.rectangle([0, top, width - 1, bottom], outline=(0, 0, 0))
    for (v, y), text in zip(values, labels):
        d.line([(width, y), (width + 3, y)], fill=(0, 0, 0))
        d.text((width + 6, y - th / 2), text, fill=(0, 0, 0), font=font)
    d.text((0, 1), label, fill=(0, 0, 0), font=font)
    return np.asarray(img).copy()


def text_strip(text, width, *, pad=4, background=(255, 255, 255), color=(0, 0, 0)):
    """One line of text, left-aligned, on a strip ``width`` pixels wide (cut with "..." if too long).

    Returns
    -------
    image : ndarray, uint8, shape (font height + 2 pad, width, 3)
    """
    from PIL import Image, ImageDraw

    font = _font()
    h = font.getbbox("Ag")[3] + 2 * pad
    img = Image.new("RGB", (int(width), h), tuple(background))
    d = ImageDraw.Draw(img)
    text = str(text)
    if d.textlength(text, font=font) > width - 2 * pad:
        while text and d.textlength(text + "...", font=font) > width - 2 * pad:
            text = text[:-1]
        text += "..."
    d.text((pad, pad), text, fill=tuple(color), font=font)
    return np.asarray(img).copy()


def _gray(image, hw, lead):
    """Grayscale in [0, 1] of ``image``, shape ``lead + hw``."""
    img = np.asarray(image)
    if img.dtype == np.uint8:
        img = img / 255.0
    elif np.issubdtype(img.dtype, np.floating):
        img = img.astype(np.float64)
        if not np.isfinite(img).all():
            raise ValueError("image contains NaN or Inf")
        if img.min() < 0 or img.max() > 1:
            raise ValueError(f"float image values must lie in [0, 1] (got {img.min():g} to "
                             f"{img.max():g}); undo any mean/std normalisation first")
    else:
        raise TypeError(f"image must be uint8 or float in [0, 1], got dtype {img.dtype}")
    n, rest = len(lead), img.shape[len(lead):]
    if img.shape[:n] == lead and rest == hw:
        return img
    if img.shape[:n] == lead and len(rest) == 3 and rest[1:] == hw and rest[0] in (1, 3):
        img, rest = np.moveaxis(img, n, -1), hw + rest[:1]      # (C, H, W), tried first
    if img.shape[:n] == lead and len(rest) == 3 and rest[:2] == hw and rest[2] in (1, 3):
        return img[..., 0] if rest[2] == 1 else img @ LUMA      # (H, W, C)
    want = lead + hw
    raise ValueError(f"image of shape {np.shape(image)} does not fit relevance maps of shape "
                     f"{want}: expected {want}, {lead + (3,) + hw} or {want + (3,)}")


def overlay(R, image, alpha=0.5, cmap="bwr", **scaling):
    r"""Blend the heatmap of ``R`` with the grayscale of the input image.

    .. math::

        \text{out} = (1 - \alpha)\, g + \alpha\, \text{cmap}(t),

    with :math:`g = 0.299 r + 0.587 g + 0.114 b` (ITU-R BT.601 luma) repeated on
    the three channels, and ``t`` from :func:`normalize`.

    Parameters
    ----------
    R : array_like
        Relevance, shapes as in :func:`normalize`.
    image : array_like, uint8 (0..255) or float in [0, 1]
        Shape (H, W), (C, H, W) or (H, W, C) with C in {1, 3} (with a leading
        batch axis N if ``R`` is a batch). (C, H, W) is tried first.
    alpha : float in [0, 1]
        Weight of the heatmap.

    Returns
    -------
    image : ndarray, uint8, shape (H, W, 3) or (N, H, W, 3)

    >>> overlay(np.array([[0.0, 1.0]]), np.array([[0.5, 0.0]]), alpha=0.5, bound=1.0).tolist()
    [[[191, 191, 191], [128, 0, 0]]]
    """
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    cmap = get_cmap(cmap)
    t = normalize(R, cmap, **scaling)
    g = _gray(image, t.shape[-2:], t.shape[:-2])
    return _to_bytes((1 - alpha) * g[..., None] + alpha * cmap(t))


def grid(images, captions=None, ncols=None, *, pad=4, caption_height=None,
         background=(255, 255, 255), text_color=(0, 0, 0)):
    """Compose images (e.g. heatmaps) into one, row by row, with captions below.

    Each cell is as large as the largest image (smaller ones are centred); with
    ``nrows = ceil(N / ncols)`` the result has

    - height ``nrows * (H + caption_height) + (nrows + 1) * pad``,
    - width ``ncols * W + (ncols + 1) * pad``,

    where ``caption_height`` is 0 without captions and by default the height of
    Pillow's default font plus 4 pixels with them. Captions too wide for a cell are
    cut and end in "...".

    Parameters
    ----------
    images : sequence of uint8 arrays (H, W, 3) or (H, W), or uint8 array (N, H, W, 3)
    captions : sequence of str, optional
        One per image.
    ncols : int, optional
        Columns; ``ceil(sqrt(N))`` by default.

    Returns
    -------
    image : ndarray, uint8, shape (height, width, 3)

    >>> grid([np.zeros((2, 3, 3), np.uint8)] * 3, ncols=2, pad=1).shape
    (7, 9, 3)
    """
    from PIL import Image, ImageDraw, ImageFont

    imgs = [np.asarray(im) for im in images]
    if not imgs:
        raise ValueError("grid needs at least one image")
    for i, im in enumerate(imgs):
        if im.dtype != np.uint8:
            raise TypeError(f"grid image {i} has dtype {im.dtype}; expected uint8 (see heatmap)")
        if im.ndim == 2:
            imgs[i] = im = np.repeat(im[..., None], 3, axis=-1)
        if im.ndim != 3 or im.shape[-1] != 3:
            raise ValueError(f"grid image {i} must have shape (H, W, 3) or (H, W), got {im.shape}")
    n = len(imgs)
    if captions is not None and len(captions) != n:
        raise ValueError(f"got {len(captions)} captions for {n} images")
    ncols = math.ceil(math.sqrt(n)) if ncols is None else int(ncols)
    if ncols < 1 or pad < 0:
        raise ValueError(f"need ncols >= 1 and pad >= 0, got ncols={ncols}, pad={pad}")
    nrows = math.ceil(n / ncols)
    font = None if captions is None else ImageFont.load_default()
    cap = 0 if font is None else caption_height
    if font is not None and caption_height is None:
        cap = font.getbbox("Ag")[3] + 4                # the font's height, and a margin
    h = max(im.shape[0] for im in imgs)
    w = max(im.shape[1] for im in imgs)
    out = np.empty((nrows * (h + cap) + (nrows + 1) * pad, ncols * w + (ncols + 1) * pad, 3),
                   np.uint8)
    out[...] = background
    cells = [(pad + (i // ncols) * (h + cap + pad), pad + (i % ncols) * (w + pad)) for i in range(n)]
    for (y, x), im in zip(cells, imgs):
        dy, dx = (h - im.shape[0]) // 2, (w - im.shape[1]) // 2
        out[y + dy:y + dy + im.shape[0], x + dx:x + dx + im.shape[1]] = im
    if captions is None:
        return out
    canvas = Image.fromarray(out)
    draw = ImageDraw.Draw(canvas)
    for (y, x), text in zip(cells, captions):
        text = str(text)
        if draw.textlength(text, font=font) > w:
            while text and draw.textlength(text + "...", font=font) > w:
                text = text[:-1]
            text += "..."
        x += max(0, (w - draw.textlength(text, font=font)) // 2)
        draw.text((x, y + h + 2), text, fill=tuple(text_color), font=font)
    return np.asarray(canvas).copy()


def save_png(array, path, overwrite=True):
    """Write a uint8 image as PNG through Pillow, atomically.

    The image goes to a temporary file in the destination's directory, which then
    replaces ``path`` (``os.replace``), so readers never see a partial file and a
    failed write leaves nothing behind. With ``overwrite=False`` an existing
    ``path`` (e.g. an input file) is never replaced.

    Parameters
    ----------
    array : ndarray, uint8, shape (H, W), (H, W, 3) or (H, W, 4)
    path : str or os.PathLike
    overwrite : bool

    Returns
    -------
    path : pathlib.Path

    Raises
    ------
    TypeError
        ``array`` is not uint8.
    ValueError
        Wrong shape.
    FileExistsError
        ``overwrite=False`` and ``path`` exists.
    """
    from PIL import Image

    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise TypeError(f"save_png needs a uint8 image, got dtype {array.dtype} (see heatmap)")
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[-1] in (3, 4))) or array.size == 0:
        raise ValueError(f"save_png needs shape (H, W), (H, W, 3) or (H, W, 4), got {array.shape}")
    path = Path(path)
    refuse = FileExistsError(f"{path} exists; not overwriting it (overwrite=False)")
    if not overwrite and path.exists():
        raise refuse
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            Image.fromarray(array).save(f, format="PNG")
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)                # as a plainly created file
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)                  # atomic and never replaces
            except FileExistsError:
                raise refuse from None
            except OSError:                         # no hard links here: check, then rename
                if path.exists():
                    raise refuse from None
                os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
