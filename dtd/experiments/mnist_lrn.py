r"""Seed 003: LRP for a CNN with local renormalization (LRN) layers, identity against first-order Taylor.

A CNN with conv-ReLU-LRN-max-pool blocks (:func:`make_lrn_cnn`) is trained on
MNIST (10 classes, softmax cross-entropy, SGD in NumPy). The logit of the
predicted class is explained by LRP with one rule on every convolution and
dense layer ("rule for basic layers") and one on the LRN layers ("rule for
normalization layers"):

- basic: LRP-epsilon (eq. 4, 5 of the seed), :math:`\epsilon \in \{0.01, 1, 100\}`,
  and LRP-alpha-beta (eq. 4, 6), :math:`\beta \in \{0, 1\}` (:math:`\alpha = 1 + \beta`);
- normalization: the identity (:class:`dtd.rules.LRNIdentity`) or the
  first-order Taylor rule (:class:`dtd.rules.LRNTaylor`, Binder et al. 2016);
- max pooling: winner-take-all (the layer's default).

Each heatmap is scored by pixel flipping, most relevant first: pixels are set
to 0 (the MNIST background) ``per_step`` at a time, for ``steps`` steps, and the
AUC is the mean logit of the originally predicted class over the curve
(trapezoid, steps normalised to [0, 1], :func:`dtd.evaluate.auc`); lower is
better. Only the first ``steps * per_step`` pixels (200 of 784 by default) are
flipped: a z-type rule gives zero relevance to the black background, so past
the ~150 ink pixels of a digit every order flips the same zeros.

**The seed's numbers** (ImageNet and MIT Places, a Caffe net with LRN) are not
on our scale: they are sums over perturbation steps, ours a mean logit. The
tables compare *directions* (which of two settings has the lower AUC). The
difference tables use :math:`\Delta_a^b = \mathrm{AUC}(b) - \mathrm{AUC}(a)`;
:func:`seed_consistency` shows that the seed's own tables agree with that for
the first column of its difference table only, with the opposite sign for the
fourth (:math:`\beta = 1` vs :math:`\beta = 0`), and with neither for the other two,
so the signs of those two are not reliable.

**LRN settings.** AlexNet's ``size 5, alpha 1e-4, beta 0.75, k 2`` barely
changes activations of the size MNIST networks have (order 1): the
denominator :math:`k + \alpha/n \sum x^2` stays within 1e-4 of k. We use
``size 5, alpha 5, beta 0.75, k 1`` (:data:`LRN_PARAMS`), i.e. ``b = alpha/n = 1``
in the seed's :math:`y_k = x_k / (1 + b \sum_i x_i^2)^c`; ``model.json`` and the
table notes report how much the layers change the activations (mean factor
:math:`(1 + b \sum x^2)^{-c}` on active units, relative change of the
activations, size of the Taylor rule's off-diagonal terms) on test digits.

**Measured** (full run, 1,000 test digits, shipped weights; AUCs 2.3-3.0, random order 10.4):
:math:`\mathrm{AUC}_{\text{Taylor}} - \mathrm{AUC}_{\text{identity}}` = +0.22 (s.e. 0.02) for
epsilon 0.01, +0.03 (0.02) for 1, +0.01 (0.01) for 100, +0.012 (0.002) for beta 0, +0.05 (0.02)
for beta 1. The seed's large gain of the Taylor rule for small epsilon (ImageNet -27 and -36) is
not reproduced: the identity is as good or better here. The direction also depends on the
protocol: over the first 100 pixels only, or with uniform noise instead of 0, the Taylor rule is
better for epsilon 1 and 100 and beta 1 (by 0.03-0.07), worse or equal for epsilon 0.01 and beta 0.
Differences between our setting and the seed's: MNIST digits instead of natural images, a two-block
CNN trained here instead of a Caffe ImageNet model, a much stronger LRN (alpha 5), single pixels set to
0 instead of (as far as the slides tell) perturbed regions, and a normalised AUC.

Outputs: ``heatmaps.png``, ``pixel_flipping.png``, ``lrn_effect.png`` (output against
input of the LRN layers on the test digits), ``results.csv``/``.md``
(AUC per rule pair, the seed's first table beside it), ``deltas.csv``/``.md``
(the seed's difference table), ``taylor_vs_identity.csv``/``.md`` (the seed's
Taylor-minus-identity table), ``protocols.csv``/``.md`` (Taylor minus identity under two
other flipping protocols: the first half of the curve, and uniform noise instead of 0),
``model.json``; ``results.md`` holds all four tables.

Run: ``python -m dtd.experiments.mnist_lrn [--quick] [--out DIR] [--train] [--weights FILE]``.
The shipped weights are ``data/mnist_lrn_cnn.npz`` (see ``data/README.md``).
"""
import argparse
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..layers import LRN, Conv2d, Dense, Flatten, MaxPool2d, ReLU
from ..network import Sequential
from ..rules import AlphaBeta, Epsilon, LRNIdentity, LRNTaylor
from .common import Timer, blas_limit, experiment_main, stages, write_json, write_table

__all__ = ["LRN_PARAMS", "DigitsConfig", "LRN_CONFIG", "make_lrn_cnn", "digits_test_sample", "digit_accuracy",
           "train_digits", "load_or_train_digits", "flip_auc", "flipping_panel", "BASIC_RULES", "LRN_RULES",
           "rules_for", "lrn_strength", "seed_consistency", "SEED_TABLE1", "SEED_DELTAS", "SEED_TAYLOR_MINUS_IDENTITY",
           "run", "main"]

NAME = "mnist_lrn"
FILE = "mnist_lrn_cnn.npz"

#: size, alpha, beta, k of both LRN layers (see the module notes)
LRN_PARAMS = (5, 5.0, 0.75, 1.0)

#: the fixed test digits on which the shipped models' accuracy is recorded and tested
EVAL_SEED, EVAL_N = 20240, 1000


@dataclass(frozen=True)
class DigitsConfig:
    """Training settings of a 10-class MNIST CNN (softmax cross-entropy, SGD with momentum)."""

    epochs: int = 2
    lr: float = 0.01
    batch_size: int = 32
    momentum: float = 0.9
    weight_decay: float = 0.0
    n_train: int = 60000
    init_seed: int = 0
    shuffle_seed: int = 0

    def as_dict(self):
        return asdict(self)


LRN_CONFIG = DigitsConfig()


def _he(rng, shape, dtype):
    fan_in = int(np.prod(shape[1:]))
    return (rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape)).astype(dtype)


def make_lrn_cnn(seed=0, lrn=LRN_PARAMS, dtype=np.float32):
    """The CNN of the experiment: two conv-ReLU-LRN-max-pool blocks and two dense layers.

    =====  ===========================  ==============
    index  layer                        output shape
    =====  ===========================  ==============
    0      Conv2d(1 -> 16, 5 x 5)       16 x 24 x 24
    1      ReLU
    2      LRN(size, alpha, beta, k)
    3      MaxPool2d(2)                 16 x 12 x 12
    4      Conv2d(16 -> 32, 5 x 5)      32 x 8 x 8
    5      ReLU
    6      LRN(size, alpha, beta, k)
    7      MaxPool2d(2)                 32 x 4 x 4
    8      Flatten                      512
    9      Dense(512 -> 64)
    10     ReLU
    11     Dense(64 -> 10)              10 logits
    =====  ===========================  ==============

    He-normal weights :math:`N(0, 2/\\text{fan-in})`, biases 0.
    """
    rng = np.random.default_rng(seed)
    size, alpha, beta, k = lrn
    z = np.zeros
    return Sequential([
        Conv2d(_he(rng, (16, 1, 5, 5), dtype), z(16, dtype)), ReLU(), LRN(size, alpha, beta, k), MaxPool2d(2),
        Conv2d(_he(rng, (32, 16, 5, 5), dtype), z(32, dtype)), ReLU(), LRN(size, alpha, beta, k), MaxPool2d(2),
        Flatten(), Dense(_he(rng, (64, 512), dtype), z(64, dtype)), ReLU(),
        Dense(_he(rng, (10, 64), dtype), z(10, dtype)),
    ])


def digits_test_sample(n=EVAL_N, seed=EVAL_SEED):
    """``n`` test digits drawn without replacement by ``default_rng(seed)``: (uint8 images (n, 1, 28, 28), labels)."""
    from ..datasets import load_mnist
    images, labels = load_mnist(split="test", dtype=np.uint8)
    idx = np.sort(np.random.default_rng(seed).choice(len(labels), size=n, replace=False))
    return images[idx], labels[idx]


def digit_accuracy(net, images, labels, batch=1000):
    """Share of uint8 digit images whose argmax logit is the label."""
    pred = np.concatenate([net.forward(images[k:k + batch].astype(np.float32) / np.float32(255)).argmax(axis=1)
                           for k in range(0, len(images), batch)])
    return float(np.mean(pred == labels))


def train_digits(net, config, *, max_steps=None, progress=True):
    """Train ``net`` on the first ``config.n_train`` MNIST training digits; returns the :class:`dtd.train.History`."""
    from ..datasets import load_mnist
    from ..train import fit
    images, labels = load_mnist(split="train", dtype=np.uint8, limit=config.n_train)
    return fit(net, images, labels, loss="cross_entropy", epochs=config.epochs, batch_size=config.batch_size,
               lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay, seed=config.shuffle_seed,
               max_steps=max_steps, preprocess=lambda b: b / np.float32(255), dtype=np.float32, progress=progress)


def load_or_train_digits(make, file, config, args, out, quick_steps=200):
    """A 10-class MNIST network: built by ``make(seed)`` and trained (``args.train``), or loaded.

    Returns
    -------
    (Sequential, dict)
        The network and a record of where it came from.
    """
    from .. import load, save
    from .._paths import data_dir
    if args.train:
        net = make(config.init_seed)
        with Timer() as t:
            hist = train_digits(net, config, max_steps=quick_steps if args.quick else None, progress=args.progress)
        path = Path(args.weights) if args.weights else Path(out) / file
        save(net, path)
        return net, {"weights": str(path), "trained": True, "steps": hist.steps, "seconds": round(t.seconds, 1),
                     "final_loss": float(hist.loss[-min(500, hist.steps):].mean()), **config.as_dict()}
    path = Path(args.weights) if args.weights else data_dir() / file
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: train the model with --train, or give --weights")
    return load(path), {"weights": str(path), "trained": False}


def flip_auc(net, x, R, per_step, steps, orders=("most",), seed=0, replacement="constant"):
    """Pixel flipping of the predicted class: ``{order: FlipCurve}``.

    Pixels are set to 0 (``replacement="constant"``, the MNIST background) or to uniform noise in [0, 1]
    (``"uniform"``, one fixed draw per pixel and sample).
    """
    from ..evaluate import selectivity
    return selectivity(net, x, R, None, orders=orders, per_step=per_step, steps=steps,
                       replacement=replacement, value=0.0, noise_range=(0.0, 1.0), seed=seed, progress=False)


def flipping_panel(curves, names, title, random_curve=None):
    """Mean logit against the share of pixels flipped (most relevant first), one line per method."""
    from ..evaluate.figures import curve_plot
    first = curves[names[0]]
    frac = first.removed / first.n_regions
    series = {n: (frac, curves[n].curve.mean(axis=0)) for n in names}
    if random_curve is not None:
        series["random order"] = (frac, random_curve.curve.mean(axis=0))
    return curve_plot(series, title=title, xlabel="share of pixels set to 0", ylabel="mean logit", size=(520, 340))


#: rule for basic layers (convolution and dense), as labelled in the seed's tables
BASIC_RULES = {"eps=0.01": Epsilon(0.01), "eps=1": Epsilon(1.0), "eps=100": Epsilon(100.0),
               "beta=0": AlphaBeta(1.0, 0.0), "beta=1": AlphaBeta(2.0, 1.0)}
#: rule for normalization layers
LRN_RULES = {"identity": LRNIdentity(), "Taylor": LRNTaylor()}


def rules_for(net, basic, lrn):
    """One rule per layer: ``basic`` on Conv2d/Dense, ``lrn`` on LRN, the default elsewhere."""
    return [basic if isinstance(layer, (Conv2d, Dense)) else lrn if isinstance(layer, LRN) else None
            for layer in net.layers]


def lrn_strength(net, x):
    r"""How much each LRN layer of ``net`` changes its input, on the batch ``x``.

    With :math:`D_k = k + \alpha/n \sum_{j \in w(k)} x_j^2` and units with :math:`x_k > 0`:

    - ``mean factor``, ``p10 factor``: mean and 10th percentile of :math:`(D_k / k)^{-\beta}`
      (1 = no normalisation);
    - ``relative change``: :math:`\lVert y - k^{-\beta} x \rVert / \lVert k^{-\beta} x \rVert`;
    - ``Taylor off-diagonal share``: :math:`\sum_k |\sum_{j \ne k} z_{jk}| / \sum_k z_{kk}` of
      :class:`~dtd.rules.LRNTaylor` (0 = the Taylor rule is the identity);
    - ``Taylor approximation error``: median of :math:`|z_{kk} + \sum_{j \ne k} z_{jk} - k^\beta y_k| / k^\beta y_k`;
    - ``Taylor denominator <= 0``: share of units whose first-order sum :math:`\sum_j z_{jk}` is not positive
      (their relevance changes sign).

    Returns
    -------
    list of dict, one per LRN layer (with its ``layer`` index)
    """
    acts = net.forward(x, return_all=True)
    rows = []
    for i, layer in enumerate(net.layers):
        if not isinstance(layer, LRN):
            continue
        a = acts[i].astype(np.float64)
        y = acts[i + 1].astype(np.float64) * layer.k ** layer.beta
        on = a > 0
        factor = (layer.denominator(a) / layer.k) ** -layer.beta
        z_diag, g = LRNTaylor.terms(layer, a)
        z_diag = z_diag * layer.k ** layer.beta
        off = g * (layer.channel_sum(a * a) - a * a) * layer.k ** layer.beta
        total = z_diag + off
        rows.append({"layer": i, "mean factor": float(factor[on].mean()),
                     "p10 factor": float(np.percentile(factor[on], 10)),
                     "relative change": float(np.linalg.norm(y - a) / np.linalg.norm(a)),
                     "Taylor off-diagonal share": float(np.abs(off[on]).sum() / z_diag[on].sum()),
                     "Taylor approximation error": float(np.median(np.abs(total[on] - y[on]) / y[on])),
                     "Taylor denominator <= 0": float(np.mean(total[on] <= 0))})
    return rows


# ---------------------------------------------------------------------------------------------------------------
# The seed's tables (seed 003, "Experiment: Non Linear vs Linear Neurons" and "Taylor vs No Taylor")

#: AUC by (rule for basic layers, rule for normalization layers); the slide does not name the data set
SEED_TABLE1 = {("eps=0.01", "identity"): 37.10, ("eps=0.01", "Taylor"): 35.47,
               ("beta=1", "identity"): 56.13, ("beta=1", "Taylor"): 53.82}
#: the difference table's columns, as (a, b) of Delta_a^b
DELTA_COLUMNS = (("eps=1", "eps=0.01"), ("eps=0.01", "eps=100"), ("eps=1", "beta=1"), ("beta=1", "beta=0"))
SEED_DELTAS = {"Imagenet": {"identity": (-21.29, 2.75, -42.61, -49.07), "Taylor": (-12.29, -41.75, -34.44, -50.76)},
               "MIT Places": {"identity": (-20.19, 12.91, -14.55, -49.37), "Taylor": (-11.65, -22.55, -8.82, -48.7)}}
SEED_TAYLOR_MINUS_IDENTITY = {
    "Imagenet": {"eps=1": -35.84, "eps=0.01": -26.84, "eps=100": 8.47, "beta=1": 0.29, "beta=0": 1.98},
    "MIT Places": {"eps=1": -33.13, "eps=0.01": -24.59, "eps=100": 5.34, "beta=1": -0.39, "beta=0": -1.06}}


def seed_consistency(tol=0.015):
    r"""Which sign convention makes the seed's difference table agree with its Taylor-minus-identity table.

    For a column :math:`\Delta_a^b` the two tables must satisfy
    :math:`\Delta^{\text{Taylor}} - \Delta^{\text{identity}} = \pm (d_b - d_a)` with
    :math:`d = \mathrm{AUC}_{\text{Taylor}} - \mathrm{AUC}_{\text{identity}}`:
    ``+`` if :math:`\Delta_a^b = \mathrm{AUC}(b) - \mathrm{AUC}(a)`, ``-`` for the opposite sign.

    Returns
    -------
    dict
        ``"Delta_a^b"`` -> ``"AUC(b) - AUC(a)"``, ``"AUC(a) - AUC(b)"`` or ``"neither"`` (on both data sets).

    >>> seed_consistency()["Delta_eps=1^eps=0.01"]
    'AUC(b) - AUC(a)'
    """
    out = {}
    for col, (a, b) in enumerate(DELTA_COLUMNS):
        verdicts = set()
        for data, rows in SEED_DELTAS.items():
            d = SEED_TAYLOR_MINUS_IDENTITY[data]
            lhs = rows["Taylor"][col] - rows["identity"][col]
            if abs(lhs - (d[b] - d[a])) <= tol:
                verdicts.add("AUC(b) - AUC(a)")
            elif abs(lhs + (d[b] - d[a])) <= tol:
                verdicts.add("AUC(a) - AUC(b)")
            else:
                verdicts.add("neither")
        out[f"Delta_{a}^{b}"] = verdicts.pop() if len(verdicts) == 1 else "neither"
    return out


def _sign(v, tie=0.0):
    return "0" if abs(v) <= tie else ("-" if v < 0 else "+")


def _tables(auc, se_diff):
    """The three tables: AUC per rule pair, the difference table, Taylor minus identity."""
    rows1 = []
    for b in BASIC_RULES:
        for n in LRN_RULES:
            rows1.append({"rule for basic layers": b, "rule for normalization layers": n,
                          "AUC (ours)": float(auc[b, n].mean()),
                          "s.e.": float(auc[b, n].std(ddof=1) / np.sqrt(len(auc[b, n]))),
                          "AUC (seed, first table)": SEED_TABLE1.get((b, n), "")})
    consistency = seed_consistency()
    rows2 = []
    for col, (a, b) in enumerate(DELTA_COLUMNS):
        key = f"Delta_{a}^{b}"
        for n in LRN_RULES:
            ours = float(auc[b, n].mean() - auc[a, n].mean())
            row = {"Delta_a^b": key, "normalization": n, "ours": ours}
            for data in SEED_DELTAS:
                row[data] = SEED_DELTAS[data][n][col]
            for data in SEED_DELTAS:
                row[f"same sign as {data}"] = "yes" if _sign(ours) == _sign(SEED_DELTAS[data][n][col]) else "no"
            row["seed's sign convention"] = consistency[key]
            rows2.append(row)
    rows3 = []
    for b in BASIC_RULES:
        d = auc[b, "Taylor"] - auc[b, "identity"]
        mean, se = float(d.mean()), se_diff[b]
        verdict = _verdict(mean, se)
        row = {"rule for basic layers": b, "AUC_Taylor - AUC_identity (ours)": mean, "s.e. (paired)": se,
               "ours": verdict}
        for data, vals in SEED_TAYLOR_MINUS_IDENTITY.items():
            row[data] = vals[b]
            row[f"same direction as {data}"] = "yes" if _sign(mean) == _sign(vals[b]) else "no"
        rows3.append(row)
    return rows1, rows2, rows3


def lrn_effect_figure(net, x, n_points=3000, seed=0):
    """Output against input of each LRN layer (scaled by k^beta, so the identity is the diagonal), active units."""
    from ..plots import scatter_plot
    acts = net.forward(x, return_all=True)
    rng = np.random.default_rng(seed)
    panels = []
    for i, layer in enumerate(net.layers):
        if not isinstance(layer, LRN):
            continue
        a, y = acts[i].ravel(), acts[i + 1].ravel() * layer.k ** layer.beta
        on = np.flatnonzero(a > 0)
        pick = rng.choice(on, size=min(n_points, len(on)), replace=False)
        hi = float(a[pick].max()) * 1.05 or 1.0
        panels.append(scatter_plot([a[pick]], [y[pick]], diagonal=True, xlim=(0, hi), ylim=(0, hi), radius=1,
                                   title=f"LRN layer {i}: output vs input", xlabel="x_k (input)",
                                   ylabel="k^beta y_k (output)", size=(360, 340)))
    from ..render import grid
    return grid(panels, ncols=len(panels))


#: the flipping protocols of the robustness table: the main one, its first half, uniform noise instead of 0
PROTOCOLS = ("set to 0, {n} px", "set to 0, first {n} px", "uniform noise, {n} px")


def _verdict(mean, se):
    return "Taylor better" if mean < -2 * se else "identity better" if mean > 2 * se else "no clear difference"


def protocol_table(aucs):
    """AUC_Taylor - AUC_identity (paired s.e., verdict) per rule for basic layers under each protocol.

    ``aucs``: {protocol label: {(basic, normalization): AUC per sample (N,)}}.
    """
    rows = []
    for b in BASIC_RULES:
        for label, auc in aucs.items():
            d = auc[b, "Taylor"] - auc[b, "identity"]
            mean, se = float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d)))
            rows.append({"rule for basic layers": b, "protocol": label, "AUC_Taylor - AUC_identity": mean,
                         "s.e. (paired)": se, "verdict": _verdict(mean, se)})
    return rows


def heatmap_grid(x, maps, f, names):
    from .mnist_detection import heatmap_figure
    return heatmap_figure(x, maps, f, names)


def _run(quick=False, out=f"dtd-experiments/{NAME}", train=False, weights=None, seed=0, progress=True):
    args = argparse.Namespace(quick=quick, train=train, weights=weights, progress=progress)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    net, record = load_or_train_digits(lambda s: make_lrn_cnn(s), FILE, LRN_CONFIG, args, out)
    n_test, per_step, steps, n_show = (30, 10, 20, 3) if quick else (1000, 4, 50, 5)
    images, labels = digits_test_sample()
    record["test accuracy (1000 fixed digits)"] = digit_accuracy(net, images, labels)
    if not quick:
        from ..datasets import load_mnist
        record["test accuracy (10000 digits)"] = digit_accuracy(net, *load_mnist(split="test", dtype=np.uint8))
    order = np.random.default_rng(100 + seed).permutation(len(labels))[:n_test]
    x = images[order].astype(np.float64) / 255.0
    f = net.forward(x).max(axis=1)
    record["lrn strength"] = lrn_strength(net, x)
    from ..evaluate import auc as curve_auc
    maps, auc, curves, other = {}, {}, {}, {p: {} for p in PROTOCOLS[1:]}
    combos = [(b, n) for b in BASIC_RULES for n in LRN_RULES]
    with Timer() as t, stages([f"{b} / {n}" for b, n in combos], progress, desc=NAME) as bar:
        for b, n in combos:
            bar.next(f"{b} / {n}")
            R = net.explain(x, rules_for(net, BASIC_RULES[b], LRN_RULES[n]))
            maps[b, n] = R
            curves[b, n] = flip_auc(net, x, R, per_step, steps)["most"]
            auc[b, n] = curves[b, n].auc
            other[PROTOCOLS[1]][b, n] = curve_auc(curves[b, n].curve[:, :steps // 2 + 1])
            other[PROTOCOLS[2]][b, n] = flip_auc(net, x, R, per_step, steps, seed=seed,
                                                 replacement="uniform")["most"].auc
    record["explain + flip seconds"] = round(t.seconds, 1)
    rnd = flip_auc(net, x, x, per_step, steps, orders=("random",))["random"]
    se_diff = {b: float((auc[b, "Taylor"] - auc[b, "identity"]).std(ddof=1) / np.sqrt(len(x))) for b in BASIC_RULES}
    rows1, rows2, rows3 = _tables(auc, se_diff)
    rows4 = protocol_table({PROTOCOLS[0].format(n=per_step * steps): auc,
                            PROTOCOLS[1].format(n=per_step * (steps // 2)): other[PROTOCOLS[1]],
                            PROTOCOLS[2].format(n=per_step * steps): other[PROTOCOLS[2]]})
    strength = "; ".join(f"layer {r['layer']}: mean factor {r['mean factor']:.3f} (10th pct {r['p10 factor']:.3f}), "
                         f"relative change {r['relative change']:.3f}, Taylor off-diagonal share "
                         f"{r['Taylor off-diagonal share']:.3f}, Taylor denominator <= 0 on "
                         f"{100 * r['Taylor denominator <= 0']:.2f}% of units" for r in record["lrn strength"])
    size, alpha, beta, k = LRN_PARAMS
    common_notes = [f"{len(x)} test digits; the predicted class's logit is explained and flipped; pixels set to 0, "
                    f"{per_step} per step, {steps} steps ({per_step * steps} of 784 pixels); AUC = mean logit over "
                    f"the curve (lower is better); random order: AUC {float(rnd.auc.mean()):.4g}",
                    f"LRN size {size}, alpha {alpha:g}, beta {beta:g}, k {k:g}: {strength}",
                    f"test accuracy {record['test accuracy (1000 fixed digits)']:.4f} on the 1000 fixed test digits"]
    write_table(rows1, out / "results", title="AUC by rule for basic layers x rule for normalization layers",
                notes=common_notes + ["the seed's first table is on its own scale (a sum over perturbation steps); "
                                      "compare directions only"])
    write_table(rows2, out / "deltas", title="Differences between rules for basic layers (Delta_a^b = AUC(b) - AUC(a))",
                notes=["seed: ImageNet and MIT Places; 'same sign' compares ours with each",
                       "seed's sign convention: the reading of Delta under which the seed's difference table agrees "
                       "with its Taylor-minus-identity table (dtd.experiments.mnist_lrn.seed_consistency); only the "
                       "first column agrees with Delta_a^b = AUC(b) - AUC(a), the fourth with the opposite sign, the "
                       "second and third with neither, so their signs are unsure"])
    write_table(rows3, out / "taylor_vs_identity", title="AUC_Taylor - AUC_identity per rule for basic layers",
                notes=["negative: the Taylor rule is better; 'ours' calls a difference only beyond 2 paired "
                       "standard errors"])
    write_table(rows4, out / "protocols", title="Robustness: AUC_Taylor - AUC_identity under other flipping protocols",
                notes=["same heatmaps and digits; 'first N px' is the first half of the main curve; uniform noise: "
                       "each flipped pixel gets a fixed U(0, 1) draw; verdicts beyond 2 paired standard errors"])
    combined = "\n".join((out / f"{s}.md").read_text()
                          for s in ("results", "deltas", "taylor_vs_identity", "protocols"))
    (out / "results.md").write_text(combined)
    show = list(range(n_show))
    names = [f"{b} / {'id' if n == 'identity' else 'Tay'}" for b in BASIC_RULES for n in LRN_RULES]
    from ..render import grid, save_png
    keyed = {f"{b} / {'id' if n == 'identity' else 'Tay'}": maps[b, n][show] for b in BASIC_RULES for n in LRN_RULES}
    save_png(heatmap_grid(x[show], keyed, f[show], names), out / "heatmaps.png")
    eps = [(b, n) for b in BASIC_RULES if b.startswith("eps") for n in LRN_RULES]
    ab = [(b, n) for b in BASIC_RULES if b.startswith("beta") for n in LRN_RULES]
    panels = [flipping_panel({f"{b} {n}": curves[b, n] for b, n in group}, [f"{b} {n}" for b, n in group],
                             title, rnd) for group, title in ((eps, "LRP-epsilon"), (ab, "LRP-alpha-beta"))]
    save_png(grid(panels, ncols=2), out / "pixel_flipping.png")
    save_png(lrn_effect_figure(net, x), out / "lrn_effect.png")
    write_json(record, out / "model.json")
    return {"model": record, "rows": rows1, "deltas": rows2, "taylor_vs_identity": rows3, "protocols": rows4,
            "auc": {f"{b} / {n}": float(v.mean()) for (b, n), v in auc.items()}, "random AUC": float(rnd.auc.mean()),
            "files": sorted(p.name for p in out.iterdir())}


def run(quick=False, out=f"dtd-experiments/{NAME}", train=False, weights=None, seed=0, progress=True, blas_threads=1):
    """Run the experiment; returns a dict of the results (also written to ``out``).

    ``blas_threads``: see :func:`dtd.experiments.common.blas_limit` (None: no limit).
    """
    with blas_limit(blas_threads):
        return _run(quick, out, train, weights, seed, progress)


def main(argv=None):
    return experiment_main(NAME, __doc__, run, argv, report=lambda res: (
        f"test accuracy: {res['model']['test accuracy (1000 fixed digits)']:.4f}"))


if __name__ == "__main__":
    raise SystemExit(main())
