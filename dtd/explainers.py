"""Explanations beside LRP/DTD: sensitivity analysis, gradient x input, simple Taylor decomposition."""
import warnings

import numpy as np

__all__ = ["sensitivity", "gradient_x_input", "simple_taylor", "nearest_neighbor", "edge_detection"]


def sensitivity(net, x, target=None):
    r"""Sensitivity analysis :math:`R_i = (\partial f_c / \partial x_i)^2` (seed 001).

    Not conservative: it explains what makes f_c change, not what f_c is made of.

    Returns
    -------
    ndarray, shape of x
    """
    g, _ = net.gradient(x, target)
    return g * g


def gradient_x_input(net, x, target=None):
    r"""Gradient times input :math:`R_i = x_i\, \partial f_c / \partial x_i`.

    Equals LRP-0 on ReLU networks with zero biases.

    Returns
    -------
    ndarray, shape of x
    """
    g, _ = net.gradient(x, target)
    return x * g


def _target_output(net, x, target):
    """f_c(x) per sample, shape (N,), for the fixed targets ``target`` (N,)."""
    out = net.forward(x)
    return out.reshape(out.shape[0], -1)[np.arange(out.shape[0]), target]


def simple_taylor(net, x, target=None, *, rtol=1e-6, max_doublings=20, steps_per_doubling=8,
                  return_root=False, warn=True):
    r"""Simple Taylor decomposition at a root point found along the gradient (seed 001).

    .. math::

        \tilde x = x - t\, \nabla f_c(x), \qquad
        R_i = \frac{\partial f_c}{\partial x_i}\Big|_{\tilde x} (x_i - \tilde x_i),

    with the step :math:`t > 0` found by a 1-D root search
    (:func:`scipy.optimize.brentq`) so that :math:`f_c(\tilde x) = \tau`, where
    :math:`\tau` = ``rtol`` :math:`\cdot f_c(x)` is a tiny positive level: on a
    ReLU network that is zero on a whole region, the point where :math:`f_c`
    *reaches* zero is the nearest root along the line that still has a gradient
    (on the zero plateau the gradient, and with it the explanation, vanishes).

    Conservative only up to the Taylor remainder (:math:`\sum_i R_i = f_c(x) - \tau - \epsilon`,
    exact when :math:`f_c` is linear between :math:`x` and :math:`\tilde x`), and not
    positive in general: the gradient at the root point can point anywhere.

    The search: :math:`f_c` falls at rate :math:`\lVert\nabla f_c\rVert^2` at :math:`t = 0`, so
    the first-order guess is :math:`t_0 = f_c(x) / \lVert\nabla f_c(x)\rVert^2`. The line is
    scanned on the geometric grid :math:`t_0 2^{k/m}` (``m = steps_per_doubling``,
    :math:`k = 0, 1, \dots` up to ``max_doublings`` doublings; one batched forward pass
    per grid point) until :math:`f_c \le \tau`; ``brentq`` then refines the first
    crossing between the last two grid points, per sample (a scalar method: a few
    tens of one-sample forward passes). Along the line a ReLU network's output can
    rise again (units with :math:`w \cdot \nabla f_c < 0` switch on), so a root may not
    exist: then the grid point of smallest :math:`f_c` is used, and a
    :class:`RuntimeWarning` says for how many samples (``warn=False`` silences it).
    Samples with :math:`f_c(x) \le 0` or a zero gradient get :math:`R = 0`, :math:`\tilde x = x`.

    Parameters
    ----------
    net : dtd.Sequential
    x : ndarray, shape (N, ...)
    target : None, int or int array (N,)
        Explained output (argmax of f(x) when None), kept fixed along the line.
    rtol : float
        :math:`\tau / f_c(x)`, in (0, 1).
    max_doublings, steps_per_doubling : int
        Extent and resolution of the grid.
    return_root : bool
        Also return the root points, the steps and which samples have a root.
    warn : bool

    Returns
    -------
    R : ndarray, shape of x
    x_root : ndarray, shape of x (only with ``return_root``)
    t : ndarray (N,) (only with ``return_root``)
    found : ndarray of bool (N,) (only with ``return_root``)
        True where :math:`f_c(\tilde x) = \tau` (a root was found), or nothing was to explain.

    >>> import dtd
    >>> from dtd.layers import Dense, ReLU
    >>> net = dtd.Sequential([Dense([[1.0, 2.0]], [-1.0]), ReLU()])   # f = max(0, x1 + 2 x2 - 1)
    >>> R = simple_taylor(net, np.array([[1.0, 1.0]]), rtol=1e-12)
    >>> np.round(R, 9).tolist()                                       # f = 2, split along w = (1, 2)
    [[0.4, 1.6]]
    """
    from scipy.optimize import brentq

    if not 0 < rtol < 1:
        raise ValueError(f"simple_taylor: rtol must be in (0, 1), got {rtol!r}")
    g, t_idx = net.gradient(x, target)
    f0 = _target_output(net, x, t_idx)
    n = x.shape[0]
    col = (-1,) + (1,) * (x.ndim - 1)
    gg = np.sum(g * g, axis=tuple(range(1, x.ndim)))
    active = (f0 > 0) & (gg > 0)
    level = rtol * f0
    t0 = np.where(active, f0 / np.where(gg > 0, gg, 1.0), 0.0)
    lo, hi = np.zeros(n), np.zeros(n)
    best_t, best_f = np.zeros(n), f0.astype(np.float64)
    todo = np.flatnonzero(active)
    prev = np.zeros(n)
    for k in range(int(max_doublings) * int(steps_per_doubling) + 1):
        if todo.size == 0:
            break
        tk = t0[todo] * 2.0 ** (k / steps_per_doubling)
        fk = _target_output(net, x[todo] - tk.reshape(col).astype(x.dtype) * g[todo], t_idx[todo])
        better = fk < best_f[todo]
        best_t[todo[better]], best_f[todo[better]] = tk[better], fk[better]
        found = fk <= level[todo]
        lo[todo[found]], hi[todo[found]] = prev[todo[found]], tk[found]
        prev[todo] = tk
        todo = todo[~found]
    steps = np.zeros(n)
    if todo.size and warn:
        warnings.warn(f"simple_taylor: no root along the gradient for {todo.size} of {n} sample(s) "
                      f"(e.g. {todo[:5].tolist()}); using the point of smallest f_c found",
                      RuntimeWarning, stacklevel=2)
    steps[todo] = best_t[todo]
    for i in np.setdiff1d(np.flatnonzero(active), todo):
        xi, gi, ci = x[i:i + 1], g[i:i + 1], t_idx[i:i + 1]

        def h(t):
            return float(_target_output(net, xi - x.dtype.type(t) * gi, ci)[0]) - level[i]

        steps[i] = brentq(h, lo[i], hi[i], xtol=1e-14 * hi[i], rtol=4 * np.finfo(float).eps)
    x_root = x - steps.reshape(col).astype(x.dtype) * g
    g_root, _ = net.gradient(x_root, t_idx)
    R = g_root * (x - x_root)
    R[~active] = 0
    has_root = np.ones(n, dtype=bool)
    has_root[todo] = False
    return (R, x_root, steps, has_root) if return_root else R


def nearest_neighbor(x, references):
    r"""Nearest-neighbour baseline of one-class explanations (Kauffmann et al. 2020): where x differs from
    the reference point closest to it.

    .. math:: R_i = (x_i - r_i)^2, \qquad r = \arg\min_{r' \in \text{references}} \lVert x - r' \rVert^2

    With the support vectors of a one-class SVM as references
    (``net.layers[0].centers`` of :func:`dtd.kernels.from_sklearn`'s network)
    this is OC-DTD with a hard minimum in place of the soft one
    (:class:`dtd.rules.OCSoftMin` with ``beta -> inf``), up to the scale
    (the sum is the squared distance, not the outlier score).

    Parameters
    ----------
    x : ndarray, shape (N, d)
    references : array_like, shape (m, d)

    Returns
    -------
    ndarray, shape (N, d)

    >>> nearest_neighbor(np.array([[1.0, 1.0]]), [[0.0, 0.0], [3.0, 1.0]]).tolist()
    [[1.0, 1.0]]
    """
    from .layers.distance import SquaredDistance
    layer = SquaredDistance(references)
    d = layer.forward(x)
    r = layer.centers.astype(x.dtype, copy=False)[np.argmin(d, axis=1)]
    diff = x - r
    return diff * diff


def edge_detection(x, shape=None):
    r"""Edge-detection baseline (Kauffmann et al. 2020): the squared gradient magnitude of the image itself.

    .. math:: R_{i} = (\partial_h x)_i^2 + (\partial_w x)_i^2

    with the image derivatives taken by Sobel filters
    (Sobel: central difference along one image axis, 1-2-1 smoothing along the other, each image
    separately, borders reflected, scaled to the slope on a ramp).  It ignores the model:
    a reference for how much of an explanation is mere edge structure.  (The
    paper's exact edge filter is not known to us; Sobel is our choice.)

    Parameters
    ----------
    x : ndarray, shape (N, H, W), or (N, d) with ``shape = (H, W)``, H * W = d
    shape : tuple of int, optional

    Returns
    -------
    ndarray, shape of x

    >>> edge_detection(np.array([[0.0, 0.0, 1.0, 1.0]]), shape=(1, 4)).tolist()
    [[0.0, 0.25, 0.25, 0.0]]
    """
    from scipy import ndimage
    images = x if shape is None else x.reshape((x.shape[0],) + tuple(shape))
    if images.ndim != 3:
        raise ValueError(f"edge_detection: need images (N, H, W), or (N, d) with shape=(H, W); got {x.shape}")
    def sobel(a, axis, other):      # derivative along axis, smoothing along the other image axis (not the batch)
        d = ndimage.correlate1d(a, [-1.0, 0.0, 1.0], axis=axis, mode="reflect")
        return ndimage.correlate1d(d, [1.0, 2.0, 1.0], axis=other, mode="reflect") / 8   # 8 on a unit ramp
    gh, gw = sobel(images, 1, 2), sobel(images, 2, 1)
    return (gh * gh + gw * gw).reshape(x.shape)
