r"""Experiment 1 (seed 001, "Example MNIST"): the detection-pooling network and the w^2, z+, z^B rules.

A network with one hidden layer of 400 ReLU units (:math:`b_j \le 0`) and a sum
at the top detects a digit 0-3 in a 28 x 56 image next to a distractor 4-9
(see :mod:`dtd.experiments.models` for the training target). Its output
:math:`f(x) = x_k = \sum_j x_j` is explained by deep Taylor decomposition: the
sum gives :math:`R_j = x_j`, and the detection layer is decomposed by one of
the one-layer rules, chosen by the input domain:

- w^2 (:math:`\mathcal{X} = \mathbb{R}^d`): :math:`R_i = \sum_j w_{ij}^2 / \sum_{i'} w_{i'j}^2 \, R_j`;
- z+ (:math:`\mathcal{X} = \mathbb{R}_+^d`): :math:`R_i = \sum_j x_i w_{ij}^+ / \sum_{i'} x_{i'} w_{i'j}^+ \, R_j`;
- z^B (:math:`\mathcal{X} = [0, 1]^d`, the pixel box).

Outputs (in ``--out``): ``heatmaps.png`` (test pairs, one column per rule),
``consistency.png`` (:math:`\sum_p R_p` against :math:`f(x)` over the test pairs,
and the negative relevance), ``pixel_flipping.png`` (most relevant pixels first,
per rule, with the random order), ``results.csv``/``results.md`` (the checks per
rule) and ``model.json`` (test accuracy, where the weights came from).

Run: ``python -m dtd.experiments.mnist_detection [--quick] [--out DIR] [--train]``.
"""
from pathlib import Path

import numpy as np

from ..render import grid, heatmap, save_png
from ..rules import WSquare, ZBox, ZPlus
from . import _checks
from .common import (Timer, blas_limit, each, evaluation_pairs, experiment_main, gray, load_or_train,
                     mnist_pairs, presence_accuracy, to_float, upscale, write_json, write_table)
from ..plots import line_plot, scatter_plot

__all__ = ["RULES", "explain", "run", "main"]

NAME = "mnist_detection"

#: the one-layer rules of seed 001, by input domain
RULES = {"w^2": WSquare(), "z+": ZPlus(), "z^B": ZBox(0.0, 1.0)}


def explain(net, x, rule):
    """DTD of the detector: ``rule`` on the detection layer, z+ (= R_j = x_j) on the sum. Shape of x."""
    rules = [None] * len(net.layers)
    rules[1], rules[3] = rule, ZPlus()
    return net.explain(x, rules, target=0)


def heatmap_figure(x, maps, f, names):
    """Rows of [input, one heatmap per method]; ``maps`` is {name: R (n, 1, H, W)}."""
    cells, captions = [], []
    for n in range(len(x)):
        cells.append(upscale(gray(x[n:n + 1])[0]))
        captions.append(f"input, f(x)={f[n]:.2f}")
        for name in names:
            cells.append(upscale(heatmap(maps[name][n], "bwr")))
            captions.append(name)
    return grid(cells, captions, ncols=1 + len(names))


def consistency_figure(f, totals, negatives, names):
    """One plot per method: sum_p R_p and the negative relevance sum_p max(0, -R_p) against f(x)."""
    lo = min(0.0, min(float(np.min(t)) for t in totals.values()))
    hi = max(float(np.max(f)), max(float(np.max(t)) for t in totals.values()),
             max(float(np.max(v)) for v in negatives.values())) * 1.05 or 1.0
    panels = [scatter_plot([f, f], [totals[n], negatives[n]], ["sum_p R_p", "sum_p max(0, -R_p)"],
                           diagonal=True, xlim=(min(0.0, float(np.min(f))), hi), ylim=(lo, hi), title=n,
                           xlabel="f(x)", ylabel="relevance", size=(340, 320)) for n in names]
    return grid(panels, ncols=len(panels))


def flipping_figure(curves, names, title):
    """Mean f(x) after removing the most relevant pixels first, per method, and the random order."""
    xs, ys, labels = [], [], []
    any_c = curves[names[0]]["most"]
    frac = any_c.removed / any_c.n_regions
    for name in names:
        xs.append(frac)
        ys.append(curves[name]["most"].curve.mean(axis=0))
        labels.append(f"{name} (most relevant first)")
    xs.append(frac)
    ys.append(curves[names[0]]["random"].curve.mean(axis=0))
    labels.append("random order")
    return line_plot(xs, ys, labels, dashed={len(names)}, title=title, xlabel="fraction of pixels set to 0",
                     ylabel="mean f(x)", ylim=(0, max(float(np.max(y)) for y in ys) * 1.05 or 1.0),
                     size=(560, 380))


def _run(quick=False, out=f"dtd-experiments/{NAME}", train=False, weights=None, seed=0, progress=True):
    import argparse
    args = argparse.Namespace(quick=quick, train=train, weights=weights, progress=progress)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    net, record = load_or_train("detector", args, out)
    n_test, n_flip, per_step, n_show = (150, 30, 32, 3) if quick else (1000, 200, 8, 6)
    record["test accuracy (500 fixed pairs)"] = presence_accuracy(net, evaluation_pairs())
    if not quick:
        record["test accuracy (10000 pairs)"] = presence_accuracy(net, mnist_pairs("test", 10000, 7))
    pairs = mnist_pairs("test", n_test, 100 + seed)
    x = to_float(pairs.images)
    f = net.forward(x)[:, 0]
    names = list(RULES)
    with Timer() as t:
        maps = {name: explain(net, x, rule) for name, rule in RULES.items()}
    record["explain seconds (all rules)"] = round(t.seconds, 2)
    present = np.flatnonzero(pairs.target >= 0)
    shown = present[:n_show]
    save_png(heatmap_figure(x[shown], {k: v[shown] for k, v in maps.items()}, f[shown], names),
             out / "heatmaps.png")
    totals = {n: _checks.relevance_total(maps[n]) for n in names}
    negatives = {n: np.maximum(-maps[n], 0).reshape(len(x), -1).sum(axis=1) for n in names}
    save_png(consistency_figure(f, totals, negatives, names), out / "consistency.png")
    flip = present[:n_flip]
    curves = {n: _checks.flip_curves(net, x[flip], maps[n][flip], per_step) for n in each(names, progress)}
    save_png(flipping_figure(curves, names, "pixel flipping, detection-pooling network"),
             out / "pixel_flipping.png")
    rows = []
    for n in names:
        row = {"rule": n}
        row.update(_checks.summarize(maps[n][flip], f[flip], curves[n], pairs.side[flip]))
        row["conservation error (mean, all test pairs)"] = float(np.mean(_checks.conservation_error(maps[n], f)))
        rows.append(row)
    write_table(rows, out / "results", title="Detection-pooling network: w^2, z+ and z^B rules",
                notes=[f"{len(flip)} test pairs with a digit 0-3 (conservation over all {n_test} pairs "
                       "in the last column); pixel flipping sets pixels to 0, "
                       f"{per_step} per step; AUC = mean f(x) over the curve (trapezoid, steps normalised)",
                       f"test accuracy (f(x) > 0.5 <=> a digit 0-3 is present): "
                       f"{record['test accuracy (500 fixed pairs)']:.4f} on the 500 fixed pairs"])
    write_json(record, out / "model.json")
    return {"model": record, "rows": rows, "files": sorted(p.name for p in out.iterdir())}


def run(quick=False, out=f"dtd-experiments/{NAME}", train=False, weights=None, seed=0, progress=True, blas_threads=1):
    """Run the experiment; returns a dict of the results (also written to ``out``).

    ``blas_threads``: see :func:`dtd.experiments.common.blas_limit` (None: no limit).
    """
    with blas_limit(blas_threads):
        return _run(quick, out, train, weights, seed, progress)


def main(argv=None):
    return experiment_main(NAME, __doc__, run, argv, show=None, report=lambda res: (
        f"test accuracy: {res['model']['test accuracy (500 fixed pairs)']:.4f}"))


if __name__ == "__main__":
    raise SystemExit(main())
