"""Pictures of a function of two inputs for the derivation notebook, drawn with Pillow.

:func:`plane_panel` shades a function of ``(x_1, x_2)`` (white where it is 0, red where it is positive),
draws its contour lines, its zero set's boundary in black, and on top any segments (search lines), boxes
(input domains) and marked points (the data point, root points).  Like :mod:`dtd.plots` it
returns an RGB array (height, width, 3), uint8, for :func:`dtd.render.grid` and :func:`dtd.render.save_png`.
"""
import numpy as np

from ..plots import PALETTE, _Axes

__all__ = ["plane_panel"]


def plane_panel(f, *, xlim, ylim, levels=8, segments=(), boxes=(), points=(), title="",
                xlabel="x1", ylabel="x2", size=(320, 320)):
    """A function of two inputs as a shaded contour picture with segments, boxes and points.

    Parameters
    ----------
    f : callable
        ``f(P) -> values`` for points ``P`` of shape (M, 2); values of shape (M,).
    xlim, ylim : (float, float)
        The drawn window.
    levels : int
        Number of contour lines between 0 and the largest value in the window.
    segments : sequence of ``(p, q, color)``
        Line segments from point ``p`` to ``q`` (data coordinates, each of length 2); ``color`` an RGB triple
        or an int (index into :data:`dtd.plots.PALETTE`).
    boxes : sequence of ``(low, high, color)``
        Axis-aligned rectangles ``low <= x <= high`` (each a pair of coordinates).
    points : sequence of ``(p, color, label)``
        Marked points (a disc of radius 4); the labels go to the legend.

    Returns
    -------
    ndarray, uint8, shape (height, width, 3)

    >>> img = plane_panel(lambda P: np.maximum(P[:, 0] - 0.5, 0), xlim=(0, 1), ylim=(0, 1), size=(160, 150),
    ...                   points=[((0.8, 0.5), 0, "x")])
    >>> img.shape, img.dtype.name
    ((150, 160, 3), 'uint8')
    >>> bool((img[75, 20] == 255).all())      # x1 < 0.5: f = 0, drawn white
    True
    """
    from PIL import Image

    ax = _Axes(size, tuple(map(float, xlim)), tuple(map(float, ylim)), title, xlabel, ylabel)
    ax.frame()
    x0, x1 = ax.left + 1, ax.right                      # the pixels inside the frame
    y0, y1 = ax.top + 1, ax.bottom
    u = np.arange(x0, x1) + 0.5
    v = np.arange(y0, y1) + 0.5
    (a0, a1), (b0, b1) = ax.xlim, ax.ylim
    X = a0 + (u - ax.left) / (ax.right - ax.left) * (a1 - a0)
    Y = b0 + (ax.bottom - v) / (ax.bottom - ax.top) * (b1 - b0)
    P = np.stack(np.meshgrid(X, Y), axis=-1).reshape(-1, 2)
    F = np.asarray(f(P), dtype=np.float64).reshape(len(Y), len(X))
    top = F.max() if F.max() > 0 else 1.0
    t = np.clip(F / top, 0.0, 1.0)[..., None]
    rgb = (1 - t) * np.array([255.0, 255.0, 255.0]) + t * np.array([240.0, 110.0, 90.0])
    step = top / max(int(levels), 1)
    band = np.floor(F / step)
    edge = np.zeros(F.shape, dtype=bool)
    edge[:, 1:] |= band[:, 1:] != band[:, :-1]
    edge[1:, :] |= band[1:, :] != band[:-1, :]
    rgb[edge & (F > 0)] = (150, 60, 50)
    zero = F > 0                                        # the boundary of the zero set, in black, 2 px
    border = np.zeros(F.shape, dtype=bool)
    border[:, 1:] |= zero[:, 1:] != zero[:, :-1]
    border[1:, :] |= zero[1:, :] != zero[:-1, :]
    border[:, :-1] |= border[:, 1:].copy()
    rgb[border] = (0, 0, 0)
    ax.image.paste(Image.fromarray(np.round(rgb).astype(np.uint8)), (x0, y0))
    d = ax.draw

    def color(c):
        return tuple(PALETTE[c % len(PALETTE)]) if isinstance(c, (int, np.integer)) else tuple(c)

    for low, high, c in boxes:
        (p, q), (r, s) = ax.px([low[0], high[0]], [low[1], high[1]])
        d.rectangle([min(p, q), min(r, s), max(p, q), max(r, s)], outline=color(c), width=2)
    for p, q, c in segments:
        (ua, ub), (va, vb) = ax.px([p[0], q[0]], [p[1], q[1]])
        d.line([(ua, va), (ub, vb)], fill=color(c), width=2)
    labels, colors = [], []
    for p, c, label in points:
        pu, pv = ax.px(p[0], p[1])
        d.ellipse([pu - 4, pv - 4, pu + 4, pv + 4], fill=color(c), outline=(0, 0, 0))
        if label:
            labels.append(label)
            colors.append(color(c))
    d.rectangle([ax.left, ax.top, ax.right, ax.bottom], outline=(0, 0, 0))
    ax.legend(labels, colors)
    return ax.array()
