r"""Seed 002: LRP-0, LRP-epsilon, LRP-gamma and the LRP composition on a CNN (MNIST, 10 classes).

The rules, written as in the seed (:math:`a_j` the input activations, :math:`\sum_{0,j}` includes the bias):

.. math::

    \text{LRP-0:}\quad R_j = \sum_k \frac{a_j w_{jk}}{\sum_{0,j'} a_{j'} w_{j'k}} R_k, \qquad
    \text{LRP-}\epsilon\text{:}\quad R_j = \sum_k \frac{a_j w_{jk}}{\epsilon + \sum_{0,j'} a_{j'} w_{j'k}} R_k,

.. math::

    \text{LRP-}\gamma\text{:}\quad R_j = \sum_k \frac{a_j (w_{jk} + \gamma w_{jk}^+)}
    {\sum_{0,j'} a_{j'} (w_{j'k} + \gamma w_{j'k}^+)} R_k

(epsilon enters as :math:`\epsilon\,\mathrm{sign}(z_k)`, see :class:`dtd.rules.Epsilon`). The
**composition** uses different rules by depth (``dtd.composites.get("lrp-composition", low=0,
high=1, bias="plain")``, the bias in the denominators as the seed writes the rules): z^B on the pixel box [0, 1] at the first convolution, then the other
linear layers split in thirds, LRP-gamma on the lower, LRP-epsilon on the middle,
LRP-0 on the upper third. Max pooling is winner-take-all everywhere. A fifth
explanation, the composition with LRP-gamma at the pixels, separates the effect of z^B:
z^B also gives relevance to black pixels seen by negative weights ("this pixel is
dark"), which setting pixels to 0 cannot remove, so the flipping protocol is
biased against it.

**The network.** The shipped pair CNN (``data/mnist_cnn.npz``) has four linear
layers, the last a fixed sum, so a composition would give every rule a single
layer, one of them a sum on which all rules agree. This experiment therefore
trains a deeper 10-class CNN (:func:`make_deep_cnn`: four 3x3 convolutions and
two dense layers, six linear layers), on which the composition assigns z^B, gamma,
gamma, epsilon, epsilon, LRP-0 (the slides' example has ten layers: 0 on 10-9,
epsilon on 8-5, gamma on 4-1).

Each heatmap is scored by pixel flipping as in :mod:`dtd.experiments.mnist_lrn`
(predicted class, pixels set to 0, the first 200 pixels; lower AUC is better
for most relevant first, higher for least relevant first), and by the checks of
:mod:`dtd.evaluate` (conservation, share of negative relevance).

**Measured** (full run, 1,000 test digits, shipped weights; AUC most relevant first, lower is
better / least relevant first, higher is better; random order 12.73): LRP-0 2.27 / 15.50,
LRP-epsilon 2.14 / 16.79, LRP-gamma 2.21 / 16.75, composition 2.21 / 15.94, composition with gamma at
the pixels 2.04 / 17.00. Share of negative relevance: 0.23, 0.12, 0.02, 0.04, 0.06; LRP-epsilon
loses 38 % of f(x) on average (conservation error), LRP-0 4 %, the composition 12 %. The composition
with z^B is not better than LRP-gamma alone under this protocol; with gamma at the pixels it is the
best on both orders.

Outputs: ``heatmaps.png`` (one column per explanation), ``pixel_flipping.png``, ``consistency.png``
(:math:`\sum_p R_p` and the negative relevance against :math:`f(x)`),
``results.csv``/``results.md``, ``model.json``.

Run: ``python -m dtd.experiments.lrp_composition [--quick] [--out DIR] [--train] [--weights FILE]``.
The shipped weights are ``data/mnist_deep_cnn.npz`` (see ``data/README.md``).
"""
import argparse
from pathlib import Path

import numpy as np

from ..composites import get as get_composite
from ..layers import Conv2d, Dense, Flatten, MaxPool2d, ReLU
from ..network import Sequential
from . import _checks
from .common import Timer, blas_limit, each, experiment_main, write_json, write_table
from .mnist_lrn import (DigitsConfig, _he, digit_accuracy, digits_test_sample, flip_auc, flipping_panel,
                        load_or_train_digits)

__all__ = ["FILE", "DEEP_CONFIG", "make_deep_cnn", "composites", "layer_rules", "run", "main"]

NAME = "lrp_composition"
FILE = "mnist_deep_cnn.npz"
DEEP_CONFIG = DigitsConfig(epochs=2, lr=0.01)
EPSILON, GAMMA = 0.25, 0.25


def make_deep_cnn(seed=0, dtype=np.float32):
    """A 10-class MNIST CNN with six linear layers.

    =====  ===========================  ==============
    index  layer                        output shape
    =====  ===========================  ==============
    0      Conv2d(1 -> 8, 3 x 3)        8 x 26 x 26
    1      ReLU
    2      Conv2d(8 -> 16, 3 x 3)       16 x 24 x 24
    3      ReLU
    4      MaxPool2d(2)                 16 x 12 x 12
    5      Conv2d(16 -> 32, 3 x 3)      32 x 10 x 10
    6      ReLU
    7      Conv2d(32 -> 32, 3 x 3)      32 x 8 x 8
    8      ReLU
    9      MaxPool2d(2)                 32 x 4 x 4
    10     Flatten                      512
    11     Dense(512 -> 64)
    12     ReLU
    13     Dense(64 -> 10)              10 logits
    =====  ===========================  ==============

    He-normal weights, biases 0.
    """
    rng = np.random.default_rng(seed)

    def conv(cout, cin):
        return Conv2d(_he(rng, (cout, cin, 3, 3), dtype), np.zeros(cout, dtype))

    return Sequential([
        conv(8, 1), ReLU(), conv(16, 8), ReLU(), MaxPool2d(2),
        conv(32, 16), ReLU(), conv(32, 32), ReLU(), MaxPool2d(2),
        Flatten(), Dense(_he(rng, (64, 512), dtype), np.zeros(64, dtype)), ReLU(),
        Dense(_he(rng, (10, 64), dtype), np.zeros(10, dtype)),
    ])


def composites(epsilon=EPSILON, gamma=GAMMA):
    """The explanations, by name: uniform LRP-0, LRP-epsilon, LRP-gamma, the composition, and the
    composition with LRP-gamma instead of z^B at the pixels (to separate the two)."""
    return {"LRP-0": get_composite("lrp-0"),
            f"LRP-eps ({epsilon:g})": get_composite("epsilon", epsilon=epsilon),
            f"LRP-gamma ({gamma:g})": get_composite("gamma", gamma=gamma),
            "composition": get_composite("lrp-composition", low=0.0, high=1.0, gamma=gamma, epsilon=epsilon,
                                         bias="plain"),
            "composition, gamma at pixels": get_composite("lrp-composition", gamma=gamma, epsilon=epsilon,
                                                          bias="plain")}


def layer_rules(net, composite):
    """``"index: rule"`` for each linear layer of ``net`` under ``composite`` (for the notes)."""
    rules = net.rule_list(composite)
    out = []
    for i, (layer, rule) in enumerate(zip(net.layers, rules)):
        if isinstance(layer, (Conv2d, Dense)):
            rule = rule if rule is not None else layer.default_rule()
            out.append(f"{i} {type(layer).__name__}: {rule!r}")
    return out


def _run(quick=False, out=f"dtd-experiments/{NAME}", train=False, weights=None, seed=0, progress=True,
         epsilon=EPSILON, gamma=GAMMA):
    args = argparse.Namespace(quick=quick, train=train, weights=weights, progress=progress)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    net, record = load_or_train_digits(make_deep_cnn, FILE, DEEP_CONFIG, args, out)
    n_test, per_step, steps, n_show = (30, 10, 20, 3) if quick else (1000, 4, 50, 6)
    orders = ("most", "random") if quick else ("most", "least", "random")
    images, labels = digits_test_sample()
    record["test accuracy (1000 fixed digits)"] = digit_accuracy(net, images, labels)
    if not quick:
        from ..datasets import load_mnist
        record["test accuracy (10000 digits)"] = digit_accuracy(net, *load_mnist(split="test", dtype=np.uint8))
    order = np.random.default_rng(300 + seed).permutation(len(labels))[:n_test]
    x = images[order].astype(np.float64) / 255.0
    f = net.forward(x).max(axis=1)
    rules = composites(epsilon, gamma)
    names = list(rules)
    with Timer() as t:
        maps = {n: net.explain(x, c) for n, c in rules.items()}
    record["explain seconds (all rules)"] = round(t.seconds, 2)
    record["composition"] = layer_rules(net, rules["composition"])
    curves = {n: flip_auc(net, x, maps[n], per_step, steps, orders) for n in each(names, progress)}
    rows = [{"rule": n, **_checks.summarize(maps[n], f, curves[n])} for n in names]
    write_table(rows, out / "results", title="LRP variants and the LRP composition (MNIST CNN, 10 classes)",
                notes=[f"{len(x)} test digits; the predicted class's logit is explained; pixel flipping sets "
                       f"pixels to 0, {per_step} per step, {steps} steps ({per_step * steps} of 784 pixels); "
                       "AUC = mean logit over the curve",
                       "composition: " + "; ".join(record["composition"]),
                       f"test accuracy {record['test accuracy (1000 fixed digits)']:.4f} on the 1000 fixed test "
                       "digits"])
    from ..render import save_png
    from .mnist_detection import heatmap_figure
    show = list(range(n_show))
    save_png(heatmap_figure(x[show], {n: maps[n][show] for n in names}, f[show], names), out / "heatmaps.png")
    save_png(flipping_panel({n: curves[n]["most"] for n in names}, names, "pixel flipping, most relevant first",
                            curves[names[0]]["random"]), out / "pixel_flipping.png")
    from .mnist_detection import consistency_figure
    totals = {n: _checks.relevance_total(maps[n]) for n in names}
    negatives = {n: np.maximum(-maps[n], 0).reshape(len(x), -1).sum(axis=1) for n in names}
    save_png(consistency_figure(f, totals, negatives, names), out / "consistency.png")
    write_json(record, out / "model.json")
    return {"model": record, "rows": rows, "maps": maps, "x": x, "net": net,
            "files": sorted(p.name for p in out.iterdir())}


def run(quick=False, out=f"dtd-experiments/{NAME}", train=False, weights=None, seed=0, progress=True, blas_threads=1,
        epsilon=EPSILON, gamma=GAMMA):
    """Run the experiment; returns a dict of the results (also written to ``out``).

    ``blas_threads``: see :func:`dtd.experiments.common.blas_limit` (None: no limit).
    """
    with blas_limit(blas_threads):
        return _run(quick, out, train, weights, seed, progress, epsilon, gamma)


def _options(p):
    p.add_argument("--epsilon", type=float, default=EPSILON, help="epsilon of LRP-epsilon (default: %(default)s)")
    p.add_argument("--gamma", type=float, default=GAMMA, help="gamma of LRP-gamma (default: %(default)s)")


def main(argv=None):
    return experiment_main(NAME, __doc__, run, argv, options=_options,
                           extra=lambda args, p: dict(epsilon=args.epsilon, gamma=args.gamma),
                           report=lambda res: f"test accuracy: {res['model']['test accuracy (1000 fixed digits)']:.4f}")


if __name__ == "__main__":
    raise SystemExit(main())
