"""Pictures for the checks, drawn with Pillow (no plotting library): curve plots, input images, zoom."""
import math

import numpy as np

__all__ = ["curve_plot", "input_image", "zoom", "auto_zoom", "PALETTE"]

#: line colours, in order (matplotlib's "tab10")
PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]


def _ticks(lo, hi, n=5):
    """About ``n`` round tick values covering [lo, hi]."""
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def curve_plot(series, *, title="", xlabel="", ylabel="", size=(560, 360)):
    """Line plot of several curves as an RGB image.

    Parameters
    ----------
    series : dict
        label -> ``(x, y)``, two 1-D arrays of equal length (or just ``y``, then
        ``x = linspace(0, 1, len(y))``). Drawn in the order given, colours from
        :data:`PALETTE`, with a legend on the right.
    title, xlabel, ylabel : str
    size : (width, height)

    Returns
    -------
    ndarray, uint8, shape (height, width, 3)

    >>> curve_plot({"a": [1.0, 0.0]}, size=(300, 200)).shape
    (200, 300, 3)
    """
    from PIL import Image, ImageDraw, ImageFont

    if not series:
        raise ValueError("curve_plot needs at least one curve")
    curves = []
    for label, xy in series.items():
        if isinstance(xy, tuple) and len(xy) == 2:
            x, y = (np.asarray(a, dtype=np.float64).ravel() for a in xy)
        else:
            y = np.asarray(xy, dtype=np.float64).ravel()
            x = np.linspace(0.0, 1.0, len(y))
        if len(x) != len(y) or len(y) == 0 or not (np.isfinite(x).all() and np.isfinite(y).all()):
            raise ValueError(f"curve {label!r}: need finite x and y of equal, non-zero length")
        curves.append((str(label), x, y))
    width, height = size
    font = ImageFont.load_default()
    th = font.getbbox("Ag")[3]
    legend_w = max(int(font.getlength(c[0])) for c in curves) + 36
    left, right, top, bottom = 8 + 7 * 6 + th, width - legend_w - 10, 14 + th, height - 2 * th - 16
    if right - left < 40 or bottom - top < 40:
        raise ValueError(f"curve_plot: size {size} too small for the labels")
    xlo = min(c[1].min() for c in curves)
    xhi = max(c[1].max() for c in curves)
    ylo = min(0.0, min(c[2].min() for c in curves))
    yhi = max(c[2].max() for c in curves)
    if xhi == xlo:
        xhi = xlo + 1.0
    if yhi == ylo:
        yhi = ylo + 1.0
    pad = 0.05 * (yhi - ylo)
    ylo, yhi = ylo - (pad if ylo < 0 else 0.0), yhi + pad

    def px(x):
        return left + (np.asarray(x) - xlo) / (xhi - xlo) * (right - left)

    def py(y):
        return bottom - (np.asarray(y) - ylo) / (yhi - ylo) * (bottom - top)

    img = Image.new("RGB", (width, height), (255, 255, 255))
    d = ImageDraw.Draw(img)
    grid_c, axis_c, text_c = (225, 225, 225), (0, 0, 0), (0, 0, 0)
    for v in _ticks(xlo, xhi):
        X = float(px(v))
        d.line([(X, top), (X, bottom)], fill=grid_c)
        s = f"{v:.3g}"
        d.text((X - font.getlength(s) / 2, bottom + 4), s, fill=text_c, font=font)
    for v in _ticks(ylo, yhi):
        Y = float(py(v))
        d.line([(left, Y), (right, Y)], fill=grid_c)
        s = f"{v:.3g}"
        d.text((left - 4 - font.getlength(s), Y - th / 2), s, fill=text_c, font=font)
    d.rectangle([left, top, right, bottom], outline=axis_c)
    for i, (label, x, y) in enumerate(curves):
        color = PALETTE[i % len(PALETTE)]
        pts = list(zip(px(x).tolist(), py(y).tolist()))
        if len(pts) == 1:
            d.ellipse([pts[0][0] - 2, pts[0][1] - 2, pts[0][0] + 2, pts[0][1] + 2], fill=color)
        else:
            d.line(pts, fill=color, width=2)
        ly = top + i * (th + 6) + th / 2
        d.line([(right + 10, ly), (right + 28, ly)], fill=color, width=2)
        d.text((right + 32, ly - th / 2), label, fill=text_c, font=font)
    if title:
        d.text(((left + right - font.getlength(title)) / 2, 4), title, fill=text_c, font=font)
    if xlabel:
        d.text(((left + right - font.getlength(xlabel)) / 2, height - th - 6), xlabel, fill=text_c, font=font)
    if ylabel:
        d.text((4, 4), ylabel, fill=text_c, font=font)
    return np.asarray(img).copy()


def input_image(x):
    """Inputs as displayable RGB images, each scaled to its own range.

    Every sample is mapped linearly from [min, max] to [0, 255] (a constant image
    is black). Three channels are shown as RGB, any other number as the mean
    over channels, in gray.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W) or (N, H, W)

    Returns
    -------
    ndarray, uint8, shape (N, H, W, 3)

    >>> input_image(np.array([[[0.0, 2.0]]]))[0].tolist()
    [[[0, 0, 0], [255, 255, 255]]]
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4:
        raise ValueError(f"input_image needs shape (N, C, H, W) or (N, H, W), got {x.shape}")
    img = np.moveaxis(x, 1, -1) if x.shape[1] == 3 else np.repeat(x.mean(axis=1)[..., None], 3, axis=-1)
    lo = img.min(axis=(1, 2, 3), keepdims=True)
    span = img.max(axis=(1, 2, 3), keepdims=True) - lo
    t = (img - lo) / np.where(span > 0, span, 1.0)
    return np.floor(255.0 * t + 0.5).astype(np.uint8)


def zoom(image, factor):
    """Enlarge images (..., H, W, 3) by an integer ``factor`` (nearest neighbour).

    >>> zoom(np.zeros((2, 3, 3), np.uint8), 2).shape
    (4, 6, 3)
    """
    if int(factor) != factor or factor < 1:
        raise ValueError(f"zoom factor must be an int >= 1, got {factor}")
    image = np.asarray(image)
    return np.repeat(np.repeat(image, int(factor), axis=-3), int(factor), axis=-2)


def auto_zoom(height, width, target=128):
    """The smallest integer factor that makes the longer side at least ``target`` pixels (>= 1).

    >>> auto_zoom(16, 16), auto_zoom(28, 56), auto_zoom(224, 224)
    (8, 3, 1)
    """
    return max(1, math.ceil(target / max(height, width)))
