r"""Experiment 3 (seed 001, "Taylor Expansion and Sensitivity Analysis"): what the simpler explanations give.

On the two networks of experiments 1 and 2, three explanations of :math:`f(x)`:

- **sensitivity analysis**, :math:`R_p = (\partial f / \partial x_p)^2`: positive, but
  not conservative (:math:`\sum_p R_p = \lVert\nabla f\rVert^2`, unrelated to
  :math:`f(x)`); it measures a local effect, what would make f *change*,
  not what f is made of;
- **simple Taylor decomposition** at a root point found along the gradient,
  :math:`\tilde x = x - t \nabla f(x)` with :math:`f(\tilde x) \approx 0`,
  :math:`R_p = \partial f / \partial x_p |_{\tilde x} (x_p - \tilde x_p)`
  (:func:`dtd.explainers.simple_taylor`): conservative only when f is
  linear between :math:`x` and :math:`\tilde x`, and not positive in general; the
  line may also miss the zero set of f (no root);
- **deep Taylor decomposition** (z^B at the pixels, z+ above): conservative and
  positive (the reference).

Outputs: ``heatmaps_detector.png``, ``heatmaps_cnn.png`` (with the root point
:math:`\tilde x`, shown clipped to [0, 1]), ``consistency.png``,
``pixel_flipping.png``, ``results.csv``/``results.md``, ``model.json``.

Run: ``python -m dtd.experiments.sensitivity_taylor [--quick] [--out DIR]``
(``--train`` retrains both networks; ``--weights`` is not used).
"""
import argparse
from pathlib import Path

import numpy as np

from ..explainers import sensitivity, simple_taylor
from ..render import grid, heatmap, save_png
from ..rules import ZBox
from . import _checks
from .common import (Timer, blas_limit, experiment_main, gray, load_or_train, mnist_pairs, to_float, upscale,
                     write_json, write_table)
from .mnist_deep import training_free
from .mnist_detection import consistency_figure, explain as explain_detector, flipping_figure

__all__ = ["METHODS", "explanations", "run", "main"]

NAME = "sensitivity_taylor"
METHODS = ("sensitivity", "simple Taylor", "deep Taylor (DTD)")


def explanations(kind, net, x):
    """``({method: R}, root points, has_root)`` for the network ``kind`` ("detector" or "cnn")."""
    R_taylor, root, _, found = simple_taylor(net, x, target=0, return_root=True, warn=False)
    dtd_map = explain_detector(net, x, ZBox(0.0, 1.0)) if kind == "detector" else training_free(net, x)
    return {"sensitivity": sensitivity(net, x, target=0), "simple Taylor": R_taylor,
            "deep Taylor (DTD)": dtd_map}, root, found


def heatmap_figure(x, maps, root, f):
    cells, captions = [], []
    for n in range(len(x)):
        cells += [upscale(gray(x[n:n + 1])[0]), upscale(gray(np.clip(root[n:n + 1], 0, 1))[0])]
        captions += [f"input, f(x)={f[n]:.2f}", "root point (Taylor)"]
        for name in METHODS:
            cells.append(upscale(heatmap(maps[name][n], "bwr")))
            captions.append(name)
    return grid(cells, captions, ncols=2 + len(METHODS))


def _run(quick=False, out=f"dtd-experiments/{NAME}", train=False, seed=0, progress=True):
    args = argparse.Namespace(quick=quick, train=train, weights=None, progress=progress)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    n_test, n_show = (12, 3) if quick else (100, 5)
    per_step = {"detector": 98 if quick else 16, "cnn": 98 if quick else 32}
    orders = ("most", "random")
    pairs = mnist_pairs("test", n_test * 3, 200 + seed)
    keep = np.flatnonzero(pairs.target >= 0)[:n_test]
    x, side = to_float(pairs.images[keep]), pairs.side[keep]
    rows, record, panels, flips = [], {}, [], []
    for kind in ("detector", "cnn"):
        net, rec = load_or_train(kind, args, out, quick_steps=100)
        f = net.forward(x)[:, 0]
        with Timer() as t:
            maps, root, found = explanations(kind, net, x)
        rec["explain seconds"] = round(t.seconds, 1)
        rec["simple Taylor: share of samples with a root on the gradient line"] = float(found.mean())
        record[kind] = rec
        save_png(heatmap_figure(x[:n_show], {k: v[:n_show] for k, v in maps.items()}, root[:n_show], f[:n_show]),
                 out / f"heatmaps_{kind}.png")
        totals = {m: _checks.relevance_total(maps[m]) for m in METHODS}
        negatives = {m: np.maximum(-maps[m], 0).reshape(len(x), -1).sum(axis=1) for m in METHODS}
        panels.append(consistency_figure(f, totals, negatives, list(METHODS)))
        curves = {m: _checks.flip_curves(net, x, maps[m], per_step[kind], orders=orders) for m in METHODS}
        flips.append(flipping_figure(curves, list(METHODS), f"pixel flipping, {kind}"))
        for m in METHODS:
            row = {"network": kind, "method": m, **_checks.summarize(maps[m], f, curves[m], side)}
            row["root found (share)"] = float(found.mean()) if m == "simple Taylor" else ""
            rows.append(row)
    save_png(grid(panels, ["detection-pooling network", "CNN"], ncols=1), out / "consistency.png")
    save_png(grid(flips, ncols=2), out / "pixel_flipping.png")
    write_table(rows, out / "results", title="Sensitivity analysis, simple Taylor and deep Taylor decomposition",
                notes=[f"{len(x)} test pairs with a digit 0-3; sensitivity is (df/dx)^2, so its 'conservation "
                       "error' compares ||grad f||^2 with f(x)",
                       "simple Taylor: root point x - t grad f with f = 1e-6 f(x), by brentq; where the gradient "
                       "line misses f = 0, the point of smallest f on it is used"])
    write_json(record, out / "model.json")
    return {"model": record, "rows": rows, "files": sorted(p.name for p in out.iterdir())}


def run(quick=False, out=f"dtd-experiments/{NAME}", train=False, seed=0, progress=True, blas_threads=1):
    """Run the experiment; returns a dict of the results (also written to ``out``).

    ``blas_threads``: see :func:`dtd.experiments.common.blas_limit` (None: no limit).
    """
    with blas_limit(blas_threads):
        return _run(quick, out, train, seed, progress)


def main(argv=None):
    return experiment_main(NAME, __doc__, run, argv, show=None)


if __name__ == "__main__":
    raise SystemExit(main())
