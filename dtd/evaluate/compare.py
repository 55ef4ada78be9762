"""All four checks for one explanation method, and for several methods on the same inputs.

:func:`evaluate_method` runs conservation, positivity, continuity and pixel
flipping (most relevant first, least relevant first, random) for one method;
:func:`compare` does so for several methods (LRP-0, LRP-epsilon, LRP-gamma,
alpha2-beta1, LRP composition, the DTD training-free model, sensitivity,
gradient x input by default) and gives one table, the heatmap grid and the
pixel-flipping curves.

Columns of a table row (one per method and sample; :meth:`Comparison.summary`
averages them over the samples):

==================  =================================================================
method, sample      method name; sample index (or "mean")
target, f_c         explained class c and :math:`f_c(x)`
sum_R               :math:`\\sum_p R_p`
conservation_error  :func:`~dtd.evaluate.conservation` relative error
negative_share      :func:`~dtd.evaluate.positivity` share of negative mass
negative_mass       its negative mass
continuity          :func:`~dtd.evaluate.continuity` largest L1/L2 ratio
auc_most, aopc_most   :func:`~dtd.evaluate.pixel_flipping` most relevant first
auc_least, aopc_least least relevant first
auc_random, aopc_random  the random baseline (the same for every method)
==================  =================================================================
"""
from dataclasses import dataclass, field

import numpy as np

from ._checks import as_batch, target_output
from .conservation import Conservation, conservation
from .continuity import Continuity, continuity
from .figures import auto_zoom, curve_plot, input_image
from .figures import zoom as _zoom
from .methods import method as _method
from .positivity import Positivity, positivity
from .selectivity import FlipCurve, pixel_flipping

__all__ = ["Evaluation", "Comparison", "evaluate_method", "compare", "DEFAULT_METHODS", "DEFAULT_PARAMS",
           "COLUMNS"]

#: the methods :func:`compare` runs by default
DEFAULT_METHODS = ("lrp-0", "epsilon", "gamma", "alpha2-beta1", "lrp-composition", "dtd", "sensitivity",
                   "gradient-x-input")
#: parameters used unless given (``Epsilon()`` alone would be LRP-0)
DEFAULT_PARAMS = {"epsilon": {"epsilon": 0.25}, "gamma": {"gamma": 0.25}}
#: columns of the tables, in order
COLUMNS = ("method", "sample", "target", "f_c", "sum_R", "conservation_error", "negative_share",
           "negative_mass", "continuity", "auc_most", "aopc_most", "auc_least", "aopc_least",
           "auc_random", "aopc_random")
_ORDER_LABELS = {"most": "most relevant first", "least": "least relevant first", "random": "random"}


@dataclass
class Evaluation:
    """The checks of one method on a batch (result of :func:`evaluate_method`)."""

    method: str
    relevance: np.ndarray
    target: np.ndarray
    conservation: Conservation
    positivity: Positivity
    continuity: Continuity
    #: order ("most", "least", "random") -> FlipCurve
    flipping: dict = field(default_factory=dict)

    def rows(self):
        """One dict per sample, keys from :data:`COLUMNS`."""
        rows = []
        for n in range(len(self.target)):
            row = {"method": self.method, "sample": n, "target": int(self.target[n]),
                   "f_c": float(self.conservation.output[n]), "sum_R": float(self.conservation.total[n]),
                   "conservation_error": float(self.conservation.error[n]),
                   "negative_share": float(self.positivity.share[n]),
                   "negative_mass": float(self.positivity.negative[n]),
                   "continuity": float(self.continuity.value[n])}
            for order, fc in self.flipping.items():
                row[f"auc_{order}"] = float(fc.auc[n])
                row[f"aopc_{order}"] = float(fc.aopc[n])
            rows.append({c: row[c] for c in COLUMNS if c in row})
        return rows

    def summary(self):
        """The mean over samples of every numeric column (``sample = "mean"``, no target)."""
        rows = self.rows()
        out = {"method": self.method, "sample": "mean"}
        for c in COLUMNS[3:]:
            if c in rows[0]:
                out[c] = float(np.mean([r[c] for r in rows]))
        return out


def _flip_options(options):
    opts = dict(options or {})
    for bad in ("order", "target", "sample_ids"):
        if bad in opts:
            raise ValueError(f"flipping options may not set {bad!r}")
    return opts


def evaluate_method(net, x, method="dtd", target=None, *, box=None, params=None, name=None,
                    orders=("most", "least", "random"), continuity_options=None, flipping_options=None,
                    sample_ids=None, progress=None):
    """Conservation, positivity, continuity and pixel flipping of one explanation method.

    Parameters
    ----------
    net : Sequential
    x : ndarray, shape (N, C, H, W) (or (N, H, W), (N, D))
    method : str or callable
        A name of :func:`dtd.evaluate.methods.names`, or a callable ``(x, target) -> R``.
    target : None, int or int array (N,)
        None = the argmax of each input. Held fixed for the perturbed inputs.
    box : (low, high), optional
        Input bounds for the z^B composites (see :func:`dtd.evaluate.methods.method`);
        also the default ``clip`` of the continuity noise.
    params : dict, optional
        Composite parameters (default :data:`DEFAULT_PARAMS` for the method).
    name : str, optional
        Label in the table (default: the method name).
    orders : tuple of str
        Pixel-flipping orders to run.
    continuity_options, flipping_options : dict, optional
        Keyword arguments of :func:`~dtd.evaluate.continuity` and
        :func:`~dtd.evaluate.pixel_flipping` (region, per_step, steps,
        replacement, value, noise_range, blur_sigma, seed).
    sample_ids : int array (N,), optional
        Ids for the random draws (default ``arange(N)``).
    progress : bool, optional
        Progress bars of the pixel-flipping runs.

    Returns
    -------
    Evaluation
    """
    x = as_batch(x, "x", "evaluate_method")
    if callable(method):
        explain, label = method, name or getattr(method, "__name__", "method")
    else:
        p = DEFAULT_PARAMS.get(method, {}) if params is None else params
        explain, label = _method(net, method, box=box, **p), name or method
    fc, t = target_output(net, x, target)
    R = np.asarray(explain(x, t))
    if R.shape != x.shape:
        raise ValueError(f"method {label!r} returned relevance of shape {R.shape}, expected {x.shape}")
    copts = dict(continuity_options or {})
    if box is not None:
        copts.setdefault("clip", box)
    copts.setdefault("sample_ids", sample_ids)
    fopts = _flip_options(flipping_options)
    flipping = {o: pixel_flipping(net, x, R, t, order=o, sample_ids=sample_ids, progress=progress, **fopts)
                for o in orders}
    return Evaluation(label, R, t, conservation(R, fc), positivity(R), continuity(explain, x, t, **copts),
                      flipping)


@dataclass
class Comparison:
    """Several methods evaluated on the same inputs (result of :func:`compare`)."""

    #: method name -> Evaluation
    evaluations: dict
    #: the random-order baseline, a FlipCurve
    random: FlipCurve
    target: np.ndarray

    @property
    def methods(self):
        return list(self.evaluations)

    def rows(self):
        """One dict per method and sample (see :data:`COLUMNS`)."""
        rows = []
        for ev in self.evaluations.values():
            for n, row in enumerate(ev.rows()):
                row["auc_random"] = float(self.random.auc[n])
                row["aopc_random"] = float(self.random.aopc[n])
                rows.append(row)
        return rows

    def summary(self):
        """One dict per method: the means over the samples."""
        out = []
        for ev in self.evaluations.values():
            row = ev.summary()
            row["auc_random"] = float(self.random.auc.mean())
            row["aopc_random"] = float(self.random.aopc.mean())
            out.append(row)
        return out

    def grid(self, x=None, *, cmap="bwr", zoom=None, captions=True, image_shape=None, **scaling):
        """Heatmaps, one row per input, one column per method (the input first if ``x`` is given).

        Each heatmap is scaled on its own (see :func:`dtd.render.normalize`; ``scaling``
        is passed on). ``image_shape`` (C, H, W) reshapes flat inputs (N, D) for
        display. ``zoom`` enlarges every cell by an integer factor (default
        :func:`~dtd.evaluate.figures.auto_zoom`). Returns a uint8 RGB image made by
        :func:`dtd.render.grid`.
        """
        from ..render import grid, heatmap

        def shaped(a):
            a = np.asarray(a)
            if image_shape is not None:
                return a.reshape((len(a),) + tuple(image_shape))
            if a.ndim == 2:
                raise ValueError("flat inputs (N, D): give image_shape to draw heatmaps")
            return a if a.ndim == 4 else a[:, None]

        maps = {m: heatmap(shaped(ev.relevance), cmap, batched=True, **scaling)
                for m, ev in self.evaluations.items()}
        N, H, W = next(iter(maps.values())).shape[:3]
        z = auto_zoom(H, W) if zoom is None else zoom
        columns = ([("input", _zoom(input_image(shaped(x)), z))] if x is not None else [])
        columns += [(m, _zoom(im, z)) for m, im in maps.items()]
        images, caps = [], []
        for n in range(N):
            for m, im in columns:
                images.append(im[n])
                caps.append(f"{n}: class {int(self.target[n])}" if m == "input" else m)
        return grid(images, caps if captions else None, ncols=len(columns))

    def figure(self, x, *, classes=None, scale="figure", cmap="bwr", zoom=None, percentile=99.5):
        """Heatmaps annotated for a reader: one row per input, its target and f_c(x), a colour bar.

        Each row starts with a line "input n: explained output '<class name>', f_c(x) = ...", then
        shows the input and one heatmap per method, and ends with a colour bar
        (:func:`dtd.render.colorbar`) giving the relevance per pixel of the
        strongest colours. ``scale`` chooses which maps share one colour scale:

        - ``"figure"``: every heatmap of the figure (a weak output looks weak);
        - ``"row"``: the heatmaps of one input;
        - ``"panel"``: each heatmap its own (as :meth:`grid`); the bars then give
          the largest of the row's scales and each caption its own.

        A shared scale is the median of the maps' own scales (each the ``percentile`` of
        its ``|R|``; :func:`dtd.render.shared_bound`): a map with a much larger range
        (sensitivity's squared gradients are not in the units of f_c) saturates
        instead of washing out the others.

        Parameters
        ----------
        x : ndarray (N, C, H, W) or (N, H, W)
            The inputs (shown in the first column).
        classes : sequence of str, optional
            Names of the network's outputs (default "class k").
        scale : {"figure", "row", "panel"}
        cmap : str
        zoom : int, optional
            Enlargement of every cell (default :func:`~dtd.evaluate.figures.auto_zoom`).

        Returns
        -------
        ndarray, uint8, shape (height, width, 3)
        """
        from ..render import colorbar, grid, heatmap, shared_bound, text_strip

        if scale not in ("figure", "row", "panel"):
            raise ValueError(f"scale must be 'figure', 'row' or 'panel', got {scale!r}")
        x = np.asarray(x)
        x4 = x if x.ndim == 4 else x[:, None]
        if x4.ndim != 4 or len(x4) != len(self.target):
            raise ValueError(f"figure needs the {len(self.target)} inputs as (N, C, H, W) or (N, H, W), "
                             f"got shape {x.shape}")
        rel = {m: ev.relevance.reshape(x4.shape) for m, ev in self.evaluations.items()}
        f_c = next(iter(self.evaluations.values())).conservation.output
        N, (H, W) = len(x4), x4.shape[-2:]
        z = auto_zoom(H, W) if zoom is None else zoom
        inputs = _zoom(input_image(x4), z)
        everything = shared_bound([r[n] for r in rel.values() for n in range(N)], percentile) \
            if scale == "figure" else None

        def name(c):
            return classes[c] if classes is not None and 0 <= c < len(classes) else f"class {c}"

        rows = []
        for n in range(N):
            if scale == "panel":
                bounds = {m: shared_bound([r[n]], percentile) for m, r in rel.items()}
                bar_bound = max(bounds.values())
            else:
                bar_bound = everything if scale == "figure" else shared_bound([r[n] for r in rel.values()],
                                                                              percentile)
                bounds = {m: bar_bound for m in rel}
            cells = [inputs[n]] + [_zoom(heatmap(r[n], cmap, bound=bounds[m]), z) for m, r in rel.items()]
            caps = ["input"] + [f"{m} ({bounds[m]:.2g})" if scale == "panel" else m for m in rel]
            row = grid(cells, caps, ncols=len(cells))
            bar = colorbar(cmap, bar_bound, height=row.shape[0])
            row = np.concatenate([row, bar], axis=1)
            label = name(int(self.target[n]))
            title = text_strip(f"input {n}: explained output '{label}', f_c(x) = {float(f_c[n]):.4g}",
                               row.shape[1])
            rows.append(np.concatenate([title, row], axis=0))
        width = max(r.shape[1] for r in rows)
        what = {"figure": "one colour scale for the whole figure", "row": "one colour scale per row",
                "panel": "each heatmap its own colour scale (in brackets)"}[scale]
        bar = ("the largest of the row's scales" if scale == "panel"
               else f"median of the maps' {percentile:g}th percentiles of |R|")
        from ..render import get_cmap
        meaning = {"bwr": "red: relevance for the target, blue: against it",
                   "seismic": "red: relevance for the target, blue: against it",
                   "coldnhot": "red to yellow: relevance for the target, blue to cyan: against it"}.get(
            get_cmap(cmap).name, "relevance for the target as on the bar (negative relevance shows as 0)"
            if not get_cmap(cmap).symmetric else "upper half of the bar: relevance for the target, lower: against")
        head = [text_strip(meaning, width), text_strip(f"{what} (bar: R per pixel; {bar})", width)]
        rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
        return np.concatenate(head + rows, axis=0)

    def curve_plot(self, order="most", size=(640, 400)):
        """Mean pixel-flipping curves over the samples, one per method, and the random baseline.

        The x axis is the fraction of regions removed.
        """
        curves = {m: ev.flipping[order] for m, ev in self.evaluations.items()}
        curves["random order"] = self.random
        series = {m: (c.removed / c.n_regions, c.curve.mean(axis=0)) for m, c in curves.items()}
        return curve_plot(series, title=f"pixel flipping, {_ORDER_LABELS[order]} (mean of "
                          f"{len(self.target)} inputs)", xlabel="fraction of regions removed",
                          ylabel="f_c", size=size, dashed=("random order",))


def compare(net, x, methods=DEFAULT_METHODS, target=None, *, box=None, params=None,
            continuity_options=None, flipping_options=None, sample_ids=None, progress=None, callback=None):
    """Run several explanation methods on the same inputs and check each (see :func:`evaluate_method`).

    Parameters
    ----------
    net : Sequential
    x : ndarray, shape (N, C, H, W) (or (N, H, W), (N, D))
    methods : sequence of str
        Names from :func:`dtd.evaluate.methods.names`.
    target : None, int or int array (N,)
        The same class c is explained by every method (None = argmax).
    box : (low, high), optional
        Passed to the composites that use z^B (:data:`dtd.evaluate.methods.BOX_METHODS`).
    params : dict, optional
        method name -> composite parameters; merged over :data:`DEFAULT_PARAMS`.
    continuity_options, flipping_options, sample_ids, progress
        As in :func:`evaluate_method`.
    callback : callable ``method name -> None``, optional
        Called once each method is evaluated (e.g. to advance a progress bar).

    Returns
    -------
    Comparison
    """
    x = as_batch(x, "x", "compare")
    methods = list(methods)
    if not methods:
        raise ValueError("compare: no methods given")
    if len(set(methods)) != len(methods):
        raise ValueError(f"compare: methods repeat: {methods}")
    params = {**DEFAULT_PARAMS, **(params or {})}
    unknown = set(params) - set(DEFAULT_PARAMS) - set(methods)
    if unknown:
        raise ValueError(f"compare: parameters given for methods not compared: {', '.join(sorted(unknown))}")
    _, t = target_output(net, x, target)
    evs = {}
    for m in methods:
        evs[m] = evaluate_method(net, x, m, t, box=box, params=params.get(m, {}), orders=("most", "least"),
                                 continuity_options=continuity_options, flipping_options=flipping_options,
                                 sample_ids=sample_ids, progress=progress)
        if callback is not None:
            callback(m)
    rand = pixel_flipping(net, x, np.zeros_like(x), t, order="random", sample_ids=sample_ids,
                          progress=progress, **_flip_options(flipping_options))
    return Comparison(evs, rand, t)
