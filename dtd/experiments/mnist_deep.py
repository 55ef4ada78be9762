r"""Experiment 2 (seed 001, "Application to Deep Networks"): training-free and min-max relevance models.

A CNN (conv-ReLU-sum-pool blocks, a sum at the top, all biases :math:`\le 0`;
:func:`dtd.experiments.models.make_cnn`) detects a digit 0-3 in 28 x 56 pairs.
Its output is explained by two relevance models:

**Training-free** (``dtd.composites.get("dtd", low=0, high=1)``): z^B at the
pixels, z+ on every layer above, sum pooling in proportion to its inputs.
Conservative and positive by construction.

**Min-max** (:class:`dtd.minmax.MinMaxModel`) at the second block: the
relevance :math:`R_k` of each pooled unit k of block 2 (layer 6's input, 16 x 4 x 11),
computed from the top by z+, is modelled from the activations :math:`x_i` of its
receptive field in block 1's output (layer 3's input, a 8 x 6 x 6 patch, stride 2)
and a context: the relevances :math:`R_l` of the 32 top units (layer 7's
output) whose windows cover k, summed per channel:

.. math::

    y_{kj} = \max\Big(0, \sum_i x_i v_{kji} + a_{kj}\Big), \quad
    a_{kj} = \min\Big(0, \sum_l R_l u_{kjl} + d_{kj}\Big), \quad
    \hat R_k = \sum_j y_{kj}

with weights shared over positions (one model per channel k, J detectors each),
fitted by least squares on activations of training pairs. It is explained by
the one-layer rules (:math:`R_{kj} = y_{kj}`, z+ onto the patch), folded back
onto block 1's output, and from there to the pixels by the training-free
rules. It is conservative only up to the fitting error; a variant rescales
:math:`R_{kj}` by :math:`R_k / \hat R_k` to conserve the true relevance.

Outputs: ``heatmaps.png``, ``consistency.png``, ``pixel_flipping.png``,
``minmax_fit.png`` (:math:`\hat R_k` against :math:`R_k` on test pairs),
``results.csv``/``results.md``, ``model.json``.

Run: ``python -m dtd.experiments.mnist_deep [--quick] [--out DIR] [--train]``.
"""
import argparse
from pathlib import Path

import numpy as np

from ..composites import get as get_composite
from ..im2col import fold, windows
from ..minmax import MinMaxModel
from ..render import save_png
from ..rules import ZPlus
from . import _checks
from .common import (Timer, blas_limit, each, evaluation_pairs, experiment_main, load_or_train,
                     mnist_pairs, presence_accuracy, to_float, write_json, write_table)
from .mnist_detection import consistency_figure, flipping_figure, heatmap_figure
from ..plots import scatter_plot

__all__ = ["training_free", "MinMaxBlock", "run", "main"]

NAME = "mnist_deep"
LOWER, UPPER, TOP = 3, 6, 7     # block 2 spans layers 3..5; the top conv is layer 6, its output layer 7's input


def training_free(net, x, return_all=False):
    """The DTD training-free model: z^B on [0, 1] at the pixels, z+ above, proportional sum pooling."""
    return net.explain(x, get_composite("dtd", low=0.0, high=1.0), target=0, return_all=return_all)


class MinMaxBlock:
    """The min-max model of block 2 of :func:`~dtd.experiments.models.make_cnn`, with its data plumbing.

    Receptive field of a block-2 unit on block 1's output: conv k x k (stride 1) then
    pooling p x p (stride p) gives windows of ``k + p - 1`` with stride ``p``.
    """

    def __init__(self, net):
        conv, pool, top = net.layers[LOWER], net.layers[UPPER - 1], net.layers[UPPER]
        self.net = net
        self.kernel = tuple(k + p - 1 for k, p in zip(conv.kernel_size, pool.kernel_size))
        self.stride = pool.stride
        self.top_kernel = top.kernel_size
        self.model = None

    def data(self, x):
        """Rows for the model: patches (N*P, D), context (N*P, L), true relevance (N*P, K), and shapes."""
        acts = self.net.forward(x, return_all=True)
        Rs = training_free(self.net, x, return_all=True)
        low = acts[LOWER]                                            # (N, C, H, W)
        N, C, H, W = low.shape
        patches = windows(low, self.kernel, self.stride)              # (N, C, Ho, Wo, kH, kW)
        Ho, Wo = patches.shape[2:4]
        X = patches.transpose(0, 2, 3, 1, 4, 5).reshape(N * Ho * Wo, -1)
        Rk = Rs[UPPER]                                               # (N, K, Ho, Wo)
        K = Rk.shape[1]
        Rl = Rs[TOP]                                                 # (N, L, 1, Wt)
        cols = np.broadcast_to(Rl[..., None, None], Rl.shape + tuple(self.top_kernel))
        ctx = fold(cols, (N, Rl.shape[1], Ho, Wo), (1, 1))           # sum of R_l over the windows covering k
        c = ctx.transpose(0, 2, 3, 1).reshape(N * Ho * Wo, -1)
        R = Rk.transpose(0, 2, 3, 1).reshape(N * Ho * Wo, K)
        return X, c, R, (N, C, H, W, Ho, Wo, K), acts

    def fit(self, x, n_detectors=4, max_iter=300, seed=0):
        X, c, R, _, _ = self.data(x)
        self.model, info = MinMaxModel.fit(X, c, R, n_detectors=n_detectors, seed=seed, max_iter=max_iter)
        return info

    def explain(self, x, rescale=False):
        """Pixel relevance (N, 1, H, W) through the min-max model at block 2; also (R_hat, R) rows."""
        X, c, R, (N, C, H, W, Ho, Wo, K), acts = self.data(x)
        Rx = self.model.relevance(X, c, ZPlus(), R=R if rescale else None)
        cols = Rx.reshape(N, Ho, Wo, C, *self.kernel).transpose(0, 3, 1, 2, 4, 5)
        Rlow = fold(np.ascontiguousarray(cols), (N, C, H, W), self.stride)
        rules = get_composite("dtd", low=0.0, high=1.0).assign(self.net.layers)
        for i in range(LOWER - 1, -1, -1):
            Rlow = self.net.layers[i].relevance(acts[i], Rlow, rules[i])
        return Rlow, self.model.forward(X, c), R


def _run(quick=False, out=f"dtd-experiments/{NAME}", train=False, weights=None, seed=0, progress=True):
    args = argparse.Namespace(quick=quick, train=train, weights=weights, progress=progress)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    net, record = load_or_train("cnn", args, out, quick_steps=100)
    n_fit, max_iter, n_test, per_step, n_show = (40, 60, 24, 98, 3) if quick else (800, 400, 200, 32, 6)
    record["test accuracy (500 fixed pairs)"] = presence_accuracy(net, evaluation_pairs())
    if not quick:
        record["test accuracy (10000 pairs)"] = presence_accuracy(net, mnist_pairs("test", 10000, 7))
    block = MinMaxBlock(net)
    fit_pairs = mnist_pairs("train", n_fit, 1000 + seed)
    with Timer() as t:
        info = block.fit(to_float(fit_pairs.images[fit_pairs.target >= 0]), max_iter=max_iter)
    record["min-max fit"] = {**info, "seconds": round(t.seconds, 1), "images": int((fit_pairs.target >= 0).sum()),
                             "shape (K, J, D, L)": list(block.model.shape)}
    pairs = mnist_pairs("test", n_test * 2, 100 + seed)
    keep = np.flatnonzero(pairs.target >= 0)[:n_test]
    x, side = to_float(pairs.images[keep]), pairs.side[keep]
    f = net.forward(x)[:, 0]
    maps = {"training-free": training_free(net, x)}
    maps["min-max"], Rhat, Rtrue = block.explain(x)
    maps["min-max (rescaled)"], _, _ = block.explain(x, rescale=True)
    names = list(maps)
    record["min-max R^2 on test pairs"] = float(1 - np.sum((Rhat - Rtrue) ** 2) / np.sum((Rtrue - Rtrue.mean(0)) ** 2))
    save_png(heatmap_figure(x[:n_show], {k: v[:n_show] for k, v in maps.items()}, f[:n_show], names),
             out / "heatmaps.png")
    totals = {n: _checks.relevance_total(maps[n]) for n in names}
    negatives = {n: np.maximum(-maps[n], 0).reshape(len(x), -1).sum(axis=1) for n in names}
    save_png(consistency_figure(f, totals, negatives, names), out / "consistency.png")
    hi = float(max(Rhat.max(), Rtrue.max())) * 1.05 or 1.0
    save_png(scatter_plot([Rtrue.ravel()], [Rhat.ravel()], diagonal=True, xlim=(0, hi), ylim=(0, hi), radius=1,
                          title=f"min-max model on test pairs (R^2 = {record['min-max R^2 on test pairs']:.3f})",
                          xlabel="true R_k (z+ from the top)", ylabel="model R^_k", size=(420, 400)),
             out / "minmax_fit.png")
    orders = ("most", "random") if quick else ("most", "least", "random")
    curves = {n: _checks.flip_curves(net, x, maps[n], per_step, orders=orders) for n in each(names, progress)}
    save_png(flipping_figure(curves, names, "pixel flipping, CNN"), out / "pixel_flipping.png")
    rows = [{"relevance model": n, **_checks.summarize(maps[n], f, curves[n], side)} for n in names]
    write_table(rows, out / "results", title="CNN: training-free vs min-max relevance model",
                notes=[f"{len(x)} test pairs with a digit 0-3; pixel flipping sets pixels to 0, {per_step} per step",
                       f"min-max model: K, J, D, L = {block.model.shape}, fitted on {record['min-max fit']['images']} "
                       f"training pairs (R^2 {info['r2']:.3f} on them, "
                       f"{record['min-max R^2 on test pairs']:.3f} on the test pairs)",
                       f"test accuracy: {record['test accuracy (500 fixed pairs)']:.4f} on the 500 fixed pairs"])
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
        f"test accuracy: {res['model']['test accuracy (500 fixed pairs)']:.4f}; min-max R^2 (test): "
        f"{res['model']['min-max R^2 on test pairs']:.3f}"))


if __name__ == "__main__":
    raise SystemExit(main())
