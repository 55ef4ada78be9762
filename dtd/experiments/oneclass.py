r"""Seed 004 ("DTD for Kernel Models"): a one-class SVM on one MNIST digit, its outliers explained by OC-DTD.

A one-class SVM (scikit-learn, Gaussian kernel, ``gamma='scale'``, ``nu``) is
fitted on the training images of one digit (784 pixels in [0, 1]) and
neuralised (:func:`dtd.kernels.from_sklearn`): distances to the support vectors,
then a soft min-pooling, whose output is the outlier score
:math:`o(x) = -\gamma^{-1}\log \sum_j \alpha_j e^{-\gamma\lVert x - u_j\rVert^2}`
(:math:`\sum_j \alpha_j = 1`, so :math:`o \ge 0`).  Two kinds of outlier are
explained (Kauffmann, Mueller, Montavon, Pattern Recognition 101, 2020):

- **other digits**: test images of the other nine classes;
- **corrupted digits**: test images of the class itself with an added stroke
  (a bar of ink 3 pixels wide, 10-18 long, horizontal or vertical) or an 8 x 8
  block of uniform noise; the changed pixels are a ground truth of *where* the
  anomaly is.

Methods: **OC-DTD** (``net.explain(x, None)``: :class:`dtd.rules.OCSoftMin`
then :class:`dtd.rules.OCDistance`), and the paper's baselines
**sensitivity** :math:`(\partial o/\partial x_i)^2`, **nearest SV**
:math:`(x_i - u_{\text{nn},i})^2` (:func:`dtd.explainers.nearest_neighbor`, the
nearest support vector) and **edge** (:func:`dtd.explainers.edge_detection`, the
image's own squared Sobel gradient).

Measures, per method:

- *localisation* (corrupted digits): the share of the relevance that falls on
  the changed pixels (random: their share of the image, ~6 %);
- *pixel flipping*: the most relevant pixels are replaced, ``per_step`` at a
  time, by the class's mean training image (the "normal" value of each pixel:
  setting a pixel to 0 cannot repair a missing stroke); the curve is the
  outlier score, and its AUC (:func:`dtd.evaluate.auc`, mean score over the
  curve divided by the starting score, so 1 = no decrease) should be lowest
  for the best explanation; the random order is the reference;
- *conservation and positivity* of OC-DTD (:math:`\sum_i R_i = o(x)`,
  :math:`R_i \ge 0`).

**What the paper reports**, as far as we know it (no access to its tables
here): OC-DTD's heatmaps point at the anomalous parts of MNIST outliers, and
OC-DTD "outperforms baselines such as sensitivity analysis, distance to
nearest neighbor, or edge detection" (abstract) in its pixel-flipping
evaluation.  Our numbers test that ordering; they are not on the paper's scale.

**Measured** (full run, ``python -m dtd.experiments.oneclass``: digit 0, nu 0.05, 2000
training digits, 123 support vectors, gamma 0.0104; 300 outliers of each kind, 50 steps of 4
pixels; 6 s on 2 busy cores).  Detection: AUROC 0.993 for other digits against test zeros,
0.66 for corrupted zeros (the added strokes and blocks are small beside the natural variation
of the class; 35 % of them are beyond scikit-learn's threshold, 6 % of the clean zeros).  |o -
sklearn| <= 3e-13.  Flip AUC (o/o(x), lower is better), other digits / corrupted: OC-DTD 0.776 /
0.792, sensitivity 0.770 / 0.787, nearest SV 0.856 / 0.885, edge 0.902 / 0.900, random 0.946 /
0.951.  Share of the relevance on the corruption: OC-DTD 0.15, sensitivity 0.17, nearest SV
0.26, edge 0.10 (random 0.055).  OC-DTD conserves to 4.4e-16 with no negative relevance.

So OC-DTD is far ahead of nearest neighbour and edge detection and of random, as the paper
says, but *ties with sensitivity* here (sensitivity is 0.005 better): the paper's advantage over
sensitivity is not reproduced under this protocol.  A likely reason: with a soft minimum this
wide (gamma times the spread of distances is about 1) the gradient is
:math:`2\sum_j p_j (x - u_j) = 2(x - \bar u)` with :math:`\bar u` the soft-assigned mean of the
support vectors, so sensitivity ranks pixels by :math:`(x_i - \bar u_i)^2`, nearly OC-DTD's
:math:`\sum_j p_j (x_i - u_{ij})^2`, and replacing pixels by the class mean rewards exactly that.
Nearest SV puts more relevance on the corruption but flips worse (one support vector's
differences are noisier).  Other digits, nu, and replacement by 0 are not measured.

Outputs: ``heatmaps.png`` (corrupted and other-class outliers; input, then one
column per method), ``pixel_flipping.png`` (mean relative outlier score per
method, both kinds of outlier, random order dashed), ``results.csv``/``.md``
(per method and kind: relevance on the corruption, flipping AUC, conservation
error, negative share) and ``model.json`` (the SVM, detection AUROC).

Run: ``python -m dtd.experiments.oneclass [--quick] [--out DIR] [--digit D] [--nu NU]``
(needs scikit-learn, ``pip install "dtd[kernels]"``, and MNIST).
"""
from pathlib import Path

import numpy as np

from .. import explainers
from ..kernels import decision_threshold, from_sklearn
from ..render import grid, heatmap, save_png
from .common import Timer, blas_limit, gray, parser, upscale, write_json, write_table
from .plots import line_plot

__all__ = ["METHODS", "corrupt", "auroc", "explain_all", "run", "main"]

NAME = "oneclass"
#: the explanation methods compared, in table order
METHODS = ("OC-DTD", "sensitivity", "nearest SV", "edge")


def corrupt(x, rng):
    """Corrupted copies of the images ``x`` (N, 784) in [0, 1]: ``(x_corrupted, changed, kind)``.

    Each image gets, with equal chance, a stroke (a bar 3 px wide and 10-18 px long, horizontal or
    vertical, set to 1) or an 8 x 8 block of uniform noise in [0, 1].  ``changed`` (N, 784) marks the
    pixels whose value moved by more than 0.1; ``kind`` (N,) is "stroke" or "noise".
    """
    n = len(x)
    img = x.reshape(n, 28, 28).copy()
    kinds = np.where(rng.uniform(size=n) < 0.5, "stroke", "noise")
    for k in range(n):                       # one random shape per image (setup, not a hot path)
        if kinds[k] == "stroke":
            length, start = rng.integers(10, 19), rng.integers(3, 8)
            pos = rng.integers(4, 21)
            if rng.uniform() < 0.5:
                img[k, pos:pos + 3, start:start + length] = 1.0
            else:
                img[k, start:start + length, pos:pos + 3] = 1.0
        else:
            r, c = rng.integers(4, 17, size=2)
            img[k, r:r + 8, c:c + 8] = rng.uniform(size=(8, 8))
    xc = img.reshape(n, -1)
    return xc, np.abs(xc - x) > 0.1, kinds


def auroc(inliers, outliers):
    """Probability that an outlier scores higher than an inlier (ties count half): the Mann-Whitney AUC."""
    from scipy.stats import rankdata
    s = np.concatenate([inliers, outliers])
    r = rankdata(s)[len(inliers):]
    n1, n0 = len(outliers), len(inliers)
    return float((r.sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def explain_all(net, x):
    """``{method: R (N, 784)}`` for the methods of :data:`METHODS`."""
    return {
        "OC-DTD": net.explain(x, None),
        "sensitivity": explainers.sensitivity(net, x),
        "nearest SV": explainers.nearest_neighbor(x, net.layers[0].centers),
        "edge": explainers.edge_detection(x, shape=(28, 28)),
    }


def _flip(net, x, R, replacement, per_step, steps, orders):
    from ..evaluate import selectivity
    rep = np.broadcast_to(replacement, x.shape).copy()
    return selectivity(net, x, R, np.zeros(len(x), dtype=np.intp), orders=orders, per_step=per_step,
                       steps=steps, replacement=rep, seed=0, progress=False)


def _heatmap_figure(x, maps, o, labels):
    cells, captions = [], []
    for n in range(len(x)):
        cells.append(upscale(gray(x[n].reshape(1, 1, 28, 28))[0]))
        captions.append(f"{labels[n]}, o={o[n]:.2f}")
        for name in METHODS:
            cells.append(upscale(heatmap(maps[name][n].reshape(1, 28, 28), "bwr")))
            captions.append(name)
    return grid(cells, captions, ncols=1 + len(METHODS))


def _run(quick, out, digit, nu, seed):
    try:
        from sklearn.svm import OneClassSVM
    except ImportError:
        raise SystemExit("dtd.experiments.oneclass needs scikit-learn: pip install 'dtd[kernels]'") from None
    from ..datasets import load_mnist
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    n_train, n_out, per_step, steps, n_show = (300, 40, 10, 20, 2) if quick else (2000, 300, 4, 50, 4)
    rng = np.random.default_rng(seed)

    tr_x, tr_y = load_mnist(split="train", dtype=np.float64)
    te_x, te_y = load_mnist(split="test", dtype=np.float64)
    tr_x, te_x = tr_x.reshape(len(tr_x), -1), te_x.reshape(len(te_x), -1)
    train = tr_x[tr_y == digit][:n_train]
    with Timer() as t:
        model = OneClassSVM(kernel="rbf", gamma="scale", nu=nu).fit(train)
    net = from_sklearn(model)
    theta = decision_threshold(model)
    record = {"digit": digit, "nu": nu, "n_train": len(train), "gamma": float(model._gamma),
              "support vectors": int(len(model.support_vectors_)), "fit seconds": round(t.seconds, 2),
              "threshold o*": theta}

    inl = te_x[te_y == digit]
    inl = inl[rng.choice(len(inl), size=min(len(inl), n_out), replace=False)]
    others = te_x[te_y != digit]
    others = others[rng.choice(len(others), size=n_out, replace=False)]
    corrupted, changed, kinds = corrupt(inl, rng)
    o_in, o_oth, o_cor = (net.forward(v)[:, 0] for v in (inl, others, corrupted))
    record["AUROC other digits vs inliers"] = auroc(o_in, o_oth)
    record["AUROC corrupted vs inliers"] = auroc(o_in, o_cor)
    record["share flagged (o > o*): inliers, other digits, corrupted"] = [
        float(np.mean(o > theta)) for o in (o_in, o_oth, o_cor)]
    o_ref = -np.log((model.decision_function(others) + model.offset_) / model.dual_coef_.sum()) / model._gamma
    record["max |o - sklearn| (other digits)"] = float(np.abs(o_oth - o_ref).max())

    groups = {"other digits": (others, o_oth, None), "corrupted": (corrupted, o_cor, changed)}
    mean_image = train.mean(axis=0)
    rows, curves = [], {}
    for kind, (x, o, mask) in groups.items():
        with Timer() as t:
            maps = explain_all(net, x)
        record[f"explain seconds ({kind}, all methods)"] = round(t.seconds, 3)
        for name in METHODS:
            R = maps[name]
            fl = _flip(net, x, R, mean_image, per_step, steps, ("most", "random") if name == METHODS[0] else ("most",))
            rel = {k: c.curve / o[:, None] for k, c in fl.items()}               # relative outlier score
            from ..evaluate import auc
            row = {"outliers": kind, "method": name,
                   "flip AUC (o / o(x), most relevant first)": float(np.mean(auc(rel["most"]))),
                   "score left after all steps": float(np.mean(rel["most"][:, -1]))}
            if "random" in rel:
                curves[(kind, "random")] = (fl["random"].removed / fl["random"].n_regions, rel["random"].mean(0))
                random_auc = float(np.mean(auc(rel["random"])))
            curves[(kind, name)] = (fl["most"].removed / fl["most"].n_regions, rel["most"].mean(0))
            if mask is not None:
                Rp = np.maximum(R, 0)
                row["relevance on the corruption"] = float(np.mean((Rp * mask).sum(1) / np.maximum(Rp.sum(1), 1e-300)))
            else:
                row["relevance on the corruption"] = float("nan")
            row["conservation error (max)"] = float(np.max(np.abs(R.sum(1) - o) / np.abs(o)))
            row["negative share (max)"] = float(np.max(np.maximum(-R, 0).sum(1) / np.abs(R).sum(1)))
            rows.append(row)
        rows.append({"outliers": kind, "method": "random order", "flip AUC (o / o(x), most relevant first)": random_auc,
                     "score left after all steps": float(curves[(kind, "random")][1][-1]),
                     "relevance on the corruption": float(np.mean(mask.mean(1))) if mask is not None else float("nan"),
                     "conservation error (max)": float("nan"), "negative share (max)": float("nan")})
        show = np.argsort(-o)[:n_show]                                           # the strongest outliers
        labels = [kind if mask is None else kinds[k] for k in show]
        save_png(_heatmap_figure(x[show], {k: v[show] for k, v in maps.items()}, o[show], labels),
                 out / f"heatmaps_{kind.replace(' ', '_')}.png")

    panels = []
    for kind in groups:
        names = list(METHODS) + ["random"]
        xs = [curves[(kind, n)][0] for n in names]
        ys = [curves[(kind, n)][1] for n in names]
        panels.append(line_plot(xs, ys, [f"{n}" for n in names], dashed={len(names) - 1},
                                title=f"pixel flipping, {kind}", xlabel="fraction of pixels replaced",
                                ylabel="mean o / o(x)", ylim=(0, 1.05), size=(480, 340)))
    save_png(grid(panels, ncols=len(panels)), out / "pixel_flipping.png")
    write_table(rows, out / "results", title=f"One-class SVM on digit {digit}: OC-DTD and baselines",
                notes=[f"{n_out} outliers of each kind; pixels replaced by the class's mean training image, "
                       f"{per_step} per step, {steps} steps; AUC of o/o(x) over the curve (lower = the "
                       "explanation found what makes x an outlier)",
                       "relevance on the corruption: share of the positive relevance on the changed pixels "
                       "(random order row: the changed pixels' share of the image)",
                       "the paper (Kauffmann et al. 2020) reports OC-DTD ahead of sensitivity, nearest neighbour "
                       "and edge detection; its numbers are not on this scale"])
    write_json(record, out / "model.json")
    return {"model": record, "rows": rows, "files": sorted(p.name for p in out.iterdir())}


def run(quick=False, out=f"dtd-experiments/{NAME}", digit=0, nu=0.05, seed=0, blas_threads=1):
    """Run the experiment; returns a dict of the results (also written to ``out``)."""
    with blas_limit(blas_threads):
        return _run(quick, out, digit, nu, seed)


def main(argv=None):
    p = parser(NAME, __doc__.splitlines()[0])
    p.add_argument("--digit", type=int, default=0, choices=range(10), help="the inlier class (default: %(default)s)")
    p.add_argument("--nu", type=float, default=0.05, help="the one-class SVM's nu (default: %(default)s)")
    args = p.parse_args(argv)
    res = run(args.quick, args.out, args.digit, args.nu, args.seed, args.blas_threads)
    rec = res["model"]
    print(f"digit {rec['digit']}: {rec['support vectors']} support vectors, AUROC other digits "
          f"{rec['AUROC other digits vs inliers']:.3f}, corrupted {rec['AUROC corrupted vs inliers']:.3f}; "
          f"wrote {', '.join(res['files'])} to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
