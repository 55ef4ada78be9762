"""Pictures for the checks, drawn with Pillow (no plotting library): curve plots, input images, zoom."""
import math

import numpy as np

from ..plots import PALETTE, line_plot

__all__ = ["curve_plot", "input_image", "zoom", "auto_zoom", "PALETTE"]


def curve_plot(series, *, title="", xlabel="", ylabel="", size=(560, 360), dashed=()):
    """Line plot of several curves as an RGB image (:func:`dtd.plots.line_plot`, legend on the right).

    Parameters
    ----------
    series : dict
        label -> ``(x, y)``, two 1-D arrays of equal length (or just ``y``, then
        ``x = linspace(0, 1, len(y))``). Drawn in the order given, colours from
        :data:`PALETTE`, with a legend on the right. The y axis includes 0.
    title, xlabel, ylabel : str
    size : (width, height)
    dashed : collection of str
        Labels of the curves drawn dashed (e.g. a baseline).

    Returns
    -------
    ndarray, uint8, shape (height, width, 3)

    >>> curve_plot({"a": [1.0, 0.0]}, size=(300, 200)).shape
    (200, 300, 3)
    """
    if not series:
        raise ValueError("curve_plot needs at least one curve")
    labels, xs, ys = [], [], []
    for label, xy in series.items():
        if isinstance(xy, tuple) and len(xy) == 2:
            x, y = (np.asarray(a, dtype=np.float64).ravel() for a in xy)
        else:
            y = np.asarray(xy, dtype=np.float64).ravel()
            x = np.linspace(0.0, 1.0, len(y))
        if len(x) != len(y) or len(y) == 0 or not (np.isfinite(x).all() and np.isfinite(y).all()):
            raise ValueError(f"curve {label!r}: need finite x and y of equal, non-zero length")
        labels.append(str(label))
        xs.append(x)
        ys.append(y)
    xlo, xhi = min(x.min() for x in xs), max(x.max() for x in xs)
    ylo, yhi = min(0.0, min(y.min() for y in ys)), max(y.max() for y in ys)
    xhi, yhi = (xhi if xhi > xlo else xlo + 1.0), (yhi if yhi > ylo else ylo + 1.0)
    pad = 0.05 * (yhi - ylo)
    return line_plot(xs, ys, labels, title=title, xlabel=xlabel, ylabel=ylabel, size=size, legend="right",
                     dashed={k for k, label in enumerate(labels) if label in set(map(str, dashed))},
                     xlim=(xlo, xhi), ylim=(ylo - (pad if ylo < 0 else 0.0), yhi + pad))


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
