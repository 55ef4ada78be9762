"""Line and scatter plots drawn with Pillow (no plotting library needed), for the checks and the experiments.

Each function returns an RGB image as a uint8 array of shape (height, width, 3),
ready for :func:`dtd.render.grid` and :func:`dtd.render.save_png`
(:func:`dtd.evaluate.figures.curve_plot` draws pixel-flipping curves with :func:`line_plot`).
"""
import math

import numpy as np

__all__ = ["PALETTE", "nice_ticks", "line_plot", "scatter_plot", "legend_width"]

#: colours of successive series (matplotlib's "tab10" order)
PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]


def nice_ticks(lo, hi, n=5):
    """About ``n`` round tick values covering [lo, hi] (steps of 1, 2 or 5 times a power of ten).

    >>> nice_ticks(0.0, 1.0)
    [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    """
    if not hi > lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(n, 1)
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9)
    ticks = [round(k * step, 10) for k in range(first, int(math.floor(hi / step + 1e-9)) + 1)]
    return [t + 0.0 for t in ticks]


def _label(v):
    return f"{v:.3g}" if v != 0 else "0"


class _Axes:
    """A plot area with a data-to-pixel transform, axes, ticks, labels and a legend."""

    def __init__(self, size, xlim, ylim, title, xlabel, ylabel, legend_width=0):
        from PIL import Image, ImageDraw, ImageFont

        self.w, self.h = size
        self.image = Image.new("RGB", size, (255, 255, 255))
        self.draw = ImageDraw.Draw(self.image)
        self.font = ImageFont.load_default()
        self.left, self.right, self.top, self.bottom = 58, self.w - 12 - legend_width, 26, self.h - 40
        self.outside = legend_width > 0
        if self.right - self.left < 10 or self.bottom - self.top < 10:
            raise ValueError(f"plot size {size} too small for the axes and labels")
        self.xlim, self.ylim = xlim, ylim
        self.title, self.xlabel, self.ylabel = title, xlabel, ylabel

    def px(self, x, y):
        (x0, x1), (y0, y1) = self.xlim, self.ylim
        u = self.left + (np.asarray(x, float) - x0) / (x1 - x0) * (self.right - self.left)
        v = self.bottom - (np.asarray(y, float) - y0) / (y1 - y0) * (self.bottom - self.top)
        return u, v

    def text(self, xy, s, anchor="la", fill=(0, 0, 0)):
        self.draw.text(xy, s, fill=fill, font=self.font, anchor=anchor)

    def frame(self):
        d = self.draw
        for t in nice_ticks(*self.xlim):
            if self.xlim[0] <= t <= self.xlim[1]:
                u, _ = self.px(t, self.ylim[0])
                d.line([(u, self.top), (u, self.bottom)], fill=(235, 235, 235))
                d.line([(u, self.bottom), (u, self.bottom + 4)], fill=(0, 0, 0))
                self.text((u, self.bottom + 6), _label(t), "ma")
        for t in nice_ticks(*self.ylim):
            if self.ylim[0] <= t <= self.ylim[1]:
                _, v = self.px(self.xlim[0], t)
                d.line([(self.left, v), (self.right, v)], fill=(235, 235, 235))
                d.line([(self.left - 4, v), (self.left, v)], fill=(0, 0, 0))
                self.text((self.left - 6, v), _label(t), "rm")
        d.rectangle([self.left, self.top, self.right, self.bottom], outline=(0, 0, 0))
        self.text((self.w / 2, 6), self.title, "ma")
        self.text(((self.left + self.right) / 2, self.h - 6), self.xlabel, "md")
        self._ylabel()

    def _ylabel(self):
        from PIL import Image, ImageDraw

        if not self.ylabel:
            return
        box = self.draw.textbbox((0, 0), self.ylabel, font=self.font)
        tw, th = box[2] - box[0] + 4, box[3] - box[1] + 6
        strip = Image.new("RGB", (tw, th), (255, 255, 255))
        ImageDraw.Draw(strip).text((2, 1 - box[1]), self.ylabel, fill=(0, 0, 0), font=self.font)
        strip = strip.rotate(90, expand=True)
        y = int((self.top + self.bottom) / 2 - strip.size[1] / 2)
        self.image.paste(strip, (2, max(0, y)))

    def legend(self, labels, colors):
        if not labels:
            return
        d = self.draw
        widths = [d.textlength(s, font=self.font) for s in labels]
        if self.outside:                                   # beside the plot, on the right
            x0, y0 = self.right + 10, self.top + 6
        else:                                              # inside, top right, on a white box
            x0 = self.right - max(widths) - 30
            y0 = self.top + 6
            d.rectangle([x0 - 4, y0 - 3, self.right - 4, y0 + 14 * len(labels)], fill=(255, 255, 255),
                        outline=(160, 160, 160))
        for k, (s, c) in enumerate(zip(labels, colors)):
            y = y0 + 14 * k + 5
            d.line([(x0, y), (x0 + 16, y)], fill=c, width=3)
            self.text((x0 + 20, y), s, "lm")

    def array(self):
        return np.asarray(self.image).copy()


def _limits(values, lim, pad=0.05):
    if lim is not None:
        lo, hi = float(lim[0]), float(lim[1])
    else:
        v = np.concatenate([np.ravel(a) for a in values]) if values else np.zeros(1)
        v = v[np.isfinite(v)]
        lo, hi = (float(v.min()), float(v.max())) if v.size else (0.0, 1.0)
        span = hi - lo if hi > lo else max(abs(hi), 1.0)
        lo, hi = lo - pad * span, hi + pad * span
    if not hi > lo:
        hi = lo + 1.0
    return lo, hi


def _check_series(xs, ys, labels):
    if len(xs) != len(ys):
        raise ValueError(f"got {len(xs)} x series and {len(ys)} y series")
    if labels is not None and len(labels) != len(ys):
        raise ValueError(f"got {len(labels)} labels for {len(ys)} series")
    for x, y in zip(xs, ys):
        if np.shape(x) != np.shape(y) or np.ndim(x) != 1:
            raise ValueError(f"each series needs 1-D x and y of equal length, got {np.shape(x)} and {np.shape(y)}")


def legend_width(labels):
    """Pixels a legend of ``labels`` takes beside a plot (``legend="right"``)."""
    from PIL import ImageFont
    font = ImageFont.load_default()
    return int(max(font.getlength(str(s)) for s in labels)) + 36 if labels else 0


def line_plot(xs, ys, labels=None, *, title="", xlabel="", ylabel="", xlim=None, ylim=None,
              size=(480, 340), colors=None, dashed=(), legend="inside"):
    """Lines through the points of each series.

    Parameters
    ----------
    xs, ys : sequences of 1-D arrays, one pair per series
    labels : sequence of str, optional
        Legend entries.
    xlim, ylim : (float, float), optional
        Axis ranges; by default the data's range plus a 5 % margin.
    size : (int, int)
        Width and height in pixels.
    dashed : collection of int
        Indices of series drawn dashed (e.g. a baseline).
    legend : {"inside", "right"}
        The legend in a box at the top right of the plot, or beside it.

    Returns
    -------
    ndarray, uint8, shape (height, width, 3)

    >>> line_plot([np.arange(3.0)], [np.array([0.0, 1.0, 0.5])], size=(200, 150)).shape
    (150, 200, 3)
    """
    _check_series(xs, ys, labels)
    if legend not in ("inside", "right"):
        raise ValueError(f"legend must be 'inside' or 'right', got {legend!r}")
    colors = list(colors or PALETTE)
    ax = _Axes(size, _limits(list(xs), xlim), _limits(list(ys), ylim), title, xlabel, ylabel,
               legend_width(list(labels or [])) if legend == "right" else 0)
    ax.frame()
    for k, (x, y) in enumerate(zip(xs, ys)):
        u, v = ax.px(x, np.clip(y, *ax.ylim))
        pts = list(zip(u.tolist(), v.tolist()))
        c = colors[k % len(colors)]
        if k in dashed:
            for a in range(0, len(pts) - 1, 2):
                ax.draw.line(pts[a:a + 2], fill=c, width=2)
        elif len(pts) > 1:
            ax.draw.line(pts, fill=c, width=2)
    ax.legend(list(labels or []), [colors[k % len(colors)] for k in range(len(ys))])
    return ax.array()


def scatter_plot(xs, ys, labels=None, *, title="", xlabel="", ylabel="", xlim=None, ylim=None,
                 size=(360, 340), colors=None, diagonal=False, radius=2):
    """Points of each series, optionally with the diagonal y = x (e.g. a consistency plot).

    Parameters are those of :func:`line_plot`; ``diagonal`` draws y = x in gray.

    Returns
    -------
    ndarray, uint8, shape (height, width, 3)

    >>> scatter_plot([np.array([0.0, 1.0])], [np.array([0.0, 1.0])], diagonal=True, size=(100, 90)).shape
    (90, 100, 3)
    """
    _check_series(xs, ys, labels)
    colors = list(colors or PALETTE)
    ax = _Axes(size, _limits(list(xs), xlim), _limits(list(ys), ylim), title, xlabel, ylabel)
    ax.frame()
    if diagonal:
        lo, hi = max(ax.xlim[0], ax.ylim[0]), min(ax.xlim[1], ax.ylim[1])
        if hi > lo:
            (u0, u1), (v0, v1) = ax.px([lo, hi], [lo, hi])
            ax.draw.line([(u0, v0), (u1, v1)], fill=(120, 120, 120), width=1)
    for k, (x, y) in enumerate(zip(xs, ys)):
        keep = (x >= ax.xlim[0]) & (x <= ax.xlim[1]) & (y >= ax.ylim[0]) & (y <= ax.ylim[1])
        u, v = ax.px(np.asarray(x)[keep], np.asarray(y)[keep])
        c = colors[k % len(colors)]
        for a, b in zip(u.tolist(), v.tolist()):
            ax.draw.ellipse([a - radius, b - radius, a + radius, b + radius], fill=c)
    ax.legend(list(labels or []), [colors[k % len(colors)] for k in range(len(ys))])
    return ax.array()
