r"""Seed 000, task 1: a small CNN for Pascal VOC 2012 (20 classes, multi-label), trained in NumPy, explained per class.

**Data** (:func:`dtd.datasets.load_voc`): a VOCdevkit tree, ``ImageSets/Main/train.txt``
for training and ``val.txt`` for evaluation, images resized to ``size x size``
(default 64, aspect ratio not kept) in [0, 1]. Target of class c: 1 if a
non-difficult object of class c is in the image, 0 if none; classes present
only as difficult objects are ignored by the loss and the scores (target -1).

**Network** (:func:`make_voc_cnn`): four 3-channel-in convolutions with ReLU and
max pooling, a global average pooling and a dense layer to 20 logits; trained
by SGD with momentum on the sigmoid cross-entropy
(:func:`dtd.train.sigmoid_cross_entropy`), with random horizontal flips.
Scored by the average precision per class on the val split (VOC 2010+ style:
area under the precision-recall curve with precision made monotone; difficult
entries left out) and its mean (mAP).

**Explanation per class**: for each class present in an image, the logit
:math:`f_c` is explained with the LRP composition
(``dtd.composites.get("lrp-composition", low=0, high=1, bias="plain")``, the seed's rules
with the bias in the denominators: z^B on the pixel box,
then LRP-gamma, LRP-epsilon, LRP-0 from the bottom to the top third of the
linear layers). The heatmaps are checked against the annotated boxes: the share
of the positive relevance that falls inside the boxes of the explained class,
beside the share of the image those boxes cover (what a uniform heatmap gets).

**On this machine** the real data set is not available: without ``--root`` the
experiment writes a synthetic VOCdevkit tree (:func:`dtd.datasets.make_synthetic_voc`,
coloured rectangles whose colour codes the class, real XML and JPEG files) into
``OUT/synthetic`` and trains on it (1,000 images, 10 epochs). ``--quick`` uses 48
synthetic images at 32 x 32 and 30 training steps.

**On a real VOC 2012 copy** (``VOCtrainval_11-May-2012.tar`` unpacked)::

    python -m dtd.experiments.voc --root /path/to/VOCdevkit/VOC2012 --size 64 --epochs 30 --out runs/voc

loads the 5,717 training and 5,823 val images (Pillow decodes and resizes a 500 x 375
JPEG in about 5 ms here; 280 MB per split at float32 and size 64),
and trains for ``--epochs`` epochs; ``model.json`` records the measured seconds per
1,000 training images (``data/README.md`` gives the figure measured here).
``--limit N`` keeps the first N ids of each split for a shorter run.

Outputs: ``heatmaps.png`` (val images, one heatmap per present class), ``per_class.png``
(AP, relevance in the boxes and box area per class),
``training.png`` (loss per step), ``results.csv``/``results.md`` (AP per class,
box share), ``model.json`` (mAP, timings, settings), the weights ``voc_cnn.npz``.

Run: ``python -m dtd.experiments.voc [--quick] [--out DIR] [--root VOCdevkit] [--size 64] [--epochs N]``;
``--weights FILE`` without ``--train`` evaluates and explains a saved network instead of training one.
"""
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from ..composites import get as get_composite
from ..datasets import VOC_CLASSES, load_voc, make_synthetic_voc, parse_annotation
from ..layers import AvgPool2d, Conv2d, Dense, Flatten, MaxPool2d, ReLU
from ..network import Sequential
from ..train import sigmoid_cross_entropy
from .common import Timer, blas_limit, experiment_main, write_json, write_table

__all__ = ["make_voc_cnn", "loss_targets", "average_precision", "object_boxes", "box_share", "explain_classes",
           "run", "main"]

NAME = "voc"
FILE = "voc_cnn.npz"


def make_voc_cnn(size=64, n_classes=20, seed=0, dtype=np.float32):
    """Small multi-label CNN for ``size x size`` RGB images (``size`` a multiple of 8).

    =====  ===============================  =======================
    index  layer                            output shape (size 64)
    =====  ===============================  =======================
    0-2    Conv2d(3 -> 16, 5, pad 2), ReLU,  16 x 32 x 32
           MaxPool2d(2)
    3-5    Conv2d(16 -> 32, 5, pad 2), ReLU, 32 x 16 x 16
           MaxPool2d(2)
    6-8    Conv2d(32 -> 64, 3, pad 1), ReLU, 64 x 8 x 8
           MaxPool2d(2)
    9-10   Conv2d(64 -> 64, 3, pad 1), ReLU  64 x 8 x 8
    11     AvgPool2d(size / 8) (global)     64 x 1 x 1
    12     Flatten                          64
    13     Dense(64 -> n_classes)           logits
    =====  ===============================  =======================

    He-normal weights, biases 0.
    """
    if int(size) != size or size < 8 or size % 8:
        raise ValueError(f"make_voc_cnn: size must be a positive multiple of 8, got {size!r}")
    rng = np.random.default_rng(seed)

    def conv(cout, cin, k):
        w = rng.normal(0.0, np.sqrt(2.0 / (cin * k * k)), size=(cout, cin, k, k)).astype(dtype)
        return Conv2d(w, np.zeros(cout, dtype), padding=k // 2)

    return Sequential([
        conv(16, 3, 5), ReLU(), MaxPool2d(2),
        conv(32, 16, 5), ReLU(), MaxPool2d(2),
        conv(64, 32, 3), ReLU(), MaxPool2d(2),
        conv(64, 64, 3), ReLU(), AvgPool2d(size // 8),
        Flatten(), Dense(rng.normal(0.0, np.sqrt(1.0 / 64), size=(n_classes, 64)).astype(dtype),
                         np.zeros(n_classes, dtype)),
    ])


def loss_targets(data):
    """Targets for :func:`dtd.train.sigmoid_cross_entropy`: 1, 0, and -1 (ignored) where a class is only difficult."""
    return np.where(data.difficult, -1, data.targets)


def average_precision(scores, targets):
    """Average precision per class (VOC 2010+): area under the precision-recall curve, precision made monotone.

    Parameters
    ----------
    scores : ndarray (N, K)
    targets : ndarray (N, K)
        1 positive, 0 negative, -1 ignored.

    Returns
    -------
    ndarray (K,)
        NaN for a class without positives.

    >>> average_precision(np.array([[0.9], [0.8], [0.7], [0.1]]), np.array([[1], [0], [1], [-1]])).round(6).tolist()
    [0.833333]
    """
    scores, targets = np.asarray(scores, dtype=np.float64), np.asarray(targets)
    ap = np.full(scores.shape[1], np.nan)
    for k in range(scores.shape[1]):     # one short sort per class
        keep = targets[:, k] >= 0
        t = targets[keep, k][np.argsort(-scores[keep, k], kind="stable")]
        if t.sum() == 0:
            continue
        tp = np.cumsum(t)
        precision = tp / np.arange(1, len(t) + 1)
        envelope = np.maximum.accumulate(precision[::-1])[::-1]
        ap[k] = float(np.sum(envelope[t == 1]) / t.sum())
    return ap


def object_boxes(root, ids, size, classes=VOC_CLASSES):
    """Boolean masks (N, K, size, size) of the annotated boxes of each class, resized like the images.

    Each file is first checked (and refused if hostile) by :func:`dtd.datasets.parse_annotation`.
    """
    from ..datasets.voc import _devkit_dir
    base = Path(_devkit_dir(root))
    col = {c: k for k, c in enumerate(classes)}
    masks = np.zeros((len(ids), len(classes), size, size), dtype=bool)
    for i, image_id in enumerate(ids):     # reading files: one annotation at a time
        path = base / "Annotations" / f"{image_id}.xml"
        parse_annotation(path)
        root_el = ET.fromstring(path.read_text(encoding="utf-8-sig"))
        w, h = (float(root_el.findtext(f"size/{tag}")) for tag in ("width", "height"))
        for obj in root_el.iter("object"):
            name = obj.findtext("name", "").strip()
            if name not in col or obj.findtext("difficult", "0").strip() == "1":
                continue
            x0, y0, x1, y1 = (float(obj.findtext(f"bndbox/{t}")) for t in ("xmin", "ymin", "xmax", "ymax"))
            c0, c1 = int(np.floor((x0 - 1) / w * size)), int(np.ceil(x1 / w * size))   # 1-based inclusive boxes
            r0, r1 = int(np.floor((y0 - 1) / h * size)), int(np.ceil(y1 / h * size))
            masks[i, col[name], r0:r1, c0:c1] = True
    return masks


def box_share(R, mask):
    """Share of the positive relevance (channels summed) inside ``mask`` (N, H, W), per image (N,)."""
    pos = np.maximum(R.sum(axis=1), 0)
    total = pos.sum(axis=(1, 2))
    return np.where(total > 0, (pos * mask).sum(axis=(1, 2)) / np.where(total > 0, total, 1), np.nan)


def explain_classes(net, x, pairs, epsilon=0.25, gamma=0.25):
    """Relevance (P, 3, H, W) of logit c of image n for each ``(n, c)`` in ``pairs`` (P, 2), by the LRP composition.

    One backward pass per distinct class, over the images that hold it.
    """
    rules = get_composite("lrp-composition", low=0.0, high=1.0, gamma=gamma, epsilon=epsilon, bias="plain")
    R = np.zeros((len(pairs),) + x.shape[1:], dtype=x.dtype)
    for c in np.unique(pairs[:, 1]):     # one explain call per class (20 at most)
        rows = np.flatnonzero(pairs[:, 1] == c)
        R[rows] = net.explain(x[pairs[rows, 0]], rules, target=int(c))
    return R


def _heatmap_figure(x, R, pairs, probs, n_show, max_classes=3):
    from ..render import grid, heatmap
    from .common import upscale
    cells, captions = [], []
    blank = np.full((2 * x.shape[2], 2 * x.shape[3], 3), 255, np.uint8)
    for n in np.unique(pairs[:, 0])[:n_show]:
        img = np.floor(255 * np.moveaxis(x[n], 0, -1) + 0.5).astype(np.uint8)
        cells.append(upscale(img, 2))
        captions.append("input")
        rows = np.flatnonzero(pairs[:, 0] == n)[:max_classes]
        for p in rows:
            cells.append(upscale(heatmap(R[p], "bwr"), 2))
            captions.append(f"{VOC_CLASSES[pairs[p, 1]]} p={probs[n, pairs[p, 1]]:.2f}")
        for _ in range(max_classes - len(rows)):
            cells.append(blank)
            captions.append("")
    return grid(cells, captions, ncols=1 + max_classes)


def _flip_preprocess(seed):
    """Random horizontal flip of half the images of a batch (seeded), as float32."""
    rng = np.random.default_rng(seed)

    def pre(b):
        b = b.astype(np.float32, copy=True)
        flip = rng.random(len(b)) < 0.5
        b[flip] = b[flip][..., ::-1]
        return b
    return pre


def _run(quick=False, out=f"dtd-experiments/{NAME}", train=False, weights=None, seed=0, progress=True, root=None,
         size=None, epochs=None, limit=None, lr=0.01, batch_size=16, n_synthetic=None):
    from .. import load, save
    from ..train import fit
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    size = size or (32 if quick else 64)
    record = {"size": size}
    synthetic = root is None
    if synthetic:
        n_synthetic = n_synthetic or (48 if quick else 1000)
        with Timer() as t:
            root = make_synthetic_voc(out / "synthetic", n_synthetic, seed=seed)["root"]
        record.update({"data": f"synthetic VOCdevkit ({n_synthetic} images)", "write seconds": round(t.seconds, 2)})
    else:
        record["data"] = str(root)
    with Timer() as t:
        tr = load_voc(root, "train", size=size, dtype=np.float32, limit=limit)
        va = load_voc(root, "val", size=size, dtype=np.float32, limit=limit)
    record.update({"train images": len(tr.ids), "val images": len(va.ids),
                   "load seconds per 1000 images": round(1000 * t.seconds / (len(tr.ids) + len(va.ids)), 2)})
    if weights is not None and not train:
        net = load(weights)
        record["weights"] = str(weights)
    else:
        net = make_voc_cnn(size, len(VOC_CLASSES), seed)
        epochs = epochs or (10 if quick or synthetic else 30)
        with Timer() as t:
            hist = fit(net, tr.images, loss_targets(tr), loss=sigmoid_cross_entropy, epochs=epochs,
                       batch_size=8 if quick else batch_size, lr=lr, momentum=0.9, seed=seed,
                       max_steps=30 if quick else None, preprocess=_flip_preprocess(seed), dtype=np.float32,
                       progress=progress)
        images_seen = hist.steps * (8 if quick else batch_size)
        path = Path(weights) if weights else out / FILE
        save(net, path)
        record.update({"weights": str(path), "epochs": epochs, "steps": hist.steps, "lr": lr,
                       "batch size": 8 if quick else batch_size, "train seconds": round(t.seconds, 1),
                       "train seconds per 1000 images": round(1000 * t.seconds / max(images_seen, 1), 2),
                       "first loss": float(hist.loss[:10].mean()), "final loss": float(hist.loss[-10:].mean())})
        from ..evaluate.figures import curve_plot
        from ..render import save_png
        steps = np.arange(1, hist.steps + 1)
        k = max(1, hist.steps // 50)
        smooth = np.convolve(hist.loss, np.ones(k) / k, mode="valid")
        save_png(curve_plot({"batch loss": (steps, hist.loss), f"mean of {k}": (steps[k - 1:], smooth)},
                            title="training: sigmoid cross-entropy per step", xlabel="step", ylabel="loss"),
                 out / "training.png")
    logits = np.concatenate([net.forward(va.images[k:k + 256]) for k in range(0, len(va.ids), 256)])
    probs = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
    t_val = loss_targets(va)
    ap = average_precision(logits, t_val)
    record["mAP (val)"] = float(np.nanmean(ap))
    record["classes with positives (val)"] = int(np.isfinite(ap).sum())
    n_explain = 8 if quick else 64
    x = va.images[:n_explain].astype(np.float64)
    pairs = np.argwhere(va.targets[:n_explain] == 1)                      # (image, class) present
    with Timer() as t:
        R = explain_classes(net, x, pairs)
    record["explain seconds"] = round(t.seconds, 2)
    masks = object_boxes(root, va.ids[:n_explain], size)
    share = box_share(R, masks[pairs[:, 0], pairs[:, 1]])
    area = masks[pairs[:, 0], pairs[:, 1]].mean(axis=(1, 2))
    def mean(v):
        v = v[np.isfinite(v)]
        return float(v.mean()) if v.size else ""

    rows = []
    for k, name in enumerate(VOC_CLASSES):
        sel = pairs[:, 1] == k
        rows.append({"class": name, "AP (val)": float(ap[k]), "val positives": int((t_val[:, k] == 1).sum()),
                     "explained": int(sel.sum()),
                     "positive relevance in its boxes": mean(share[sel]),
                     "box area share": float(area[sel].mean()) if sel.any() else ""})
    rows.append({"class": "all", "AP (val)": record["mAP (val)"], "val positives": int((t_val == 1).sum()),
                 "explained": len(pairs), "positive relevance in its boxes": mean(share),
                 "box area share": float(area.mean())})
    record["positive relevance in its boxes"] = mean(share)
    record["explained (image, class) pairs with positive relevance"] = int(np.isfinite(share).sum())
    record["box area share"] = float(area.mean())
    timing = (f"training: {record['train seconds per 1000 images']} s per 1000 images at {size} x {size}"
              if "train seconds per 1000 images" in record else "no training (loaded weights)")
    write_table(rows, out / "results", title=f"VOC CNN ({record['data']}, {size} x {size})",
                notes=[f"AP on the val split ({len(va.ids)} images), difficult entries left out; mAP "
                       f"{record['mAP (val)']:.4f} over {record['classes with positives (val)']} classes",
                       f"each class present in the first {n_explain} val images explained by the LRP composition; "
                       "'positive relevance in its boxes' vs 'box area share' (a uniform heatmap), over the "
                       f"{record['explained (image, class) pairs with positive relevance']} of {len(pairs)} pairs "
                       "with some positive relevance",
                       timing + f"; loading {record['load seconds per 1000 images']} s per 1000 images"])
    from ..render import save_png
    save_png(_heatmap_figure(x, R, pairs, probs, 4 if quick else 8), out / "heatmaps.png")
    from .titanic import bar_figure

    def col(key):
        return [r[key] if isinstance(r[key], float) and np.isfinite(r[key]) else 0.0 for r in rows[:-1]]
    save_png(bar_figure(VOC_CLASSES, {"AP (val)": col("AP (val)"),
                                      "positive relevance in its boxes": col("positive relevance in its boxes"),
                                      "box area share": col("box area share")},
                        "per class (0 where undefined)", "", size=(960, 400)), out / "per_class.png")
    write_json(record, out / "model.json")
    return {"model": record, "rows": rows, "ap": ap, "R": R, "pairs": pairs,
            "files": sorted(p.name for p in out.iterdir())}


def run(quick=False, out=f"dtd-experiments/{NAME}", train=False, weights=None, seed=0, progress=True, root=None,
        size=None, epochs=None, limit=None, lr=0.01, batch_size=16, n_synthetic=None, blas_threads=1):
    """Run the experiment; returns a dict of the results (also written to ``out``)."""
    with blas_limit(blas_threads):
        return _run(quick, out, train, weights, seed, progress, root, size, epochs, limit, lr, batch_size, n_synthetic)


def _options(p):
    p.add_argument("--root", default=None, help="VOCdevkit/ or VOCdevkit/VOC2012/ (default: a synthetic tree in OUT)")
    p.add_argument("--size", type=int, default=None, help="image side (multiple of 8; default 64, 32 with --quick)")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default 30; 10 on the synthetic tree)")
    p.add_argument("--limit", type=int, default=None, help="keep the first N ids of each split")
    p.add_argument("--lr", type=float, default=0.01, help="SGD learning rate (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=16, help="mini-batch size (default: %(default)s)")
    p.add_argument("--synthetic", type=int, default=None,
                   help="images in the synthetic tree when no --root is given (default 1000, 48 with --quick)")


def _extra(args, p):
    if args.size is not None and (args.size < 8 or args.size % 8):
        p.error(f"--size must be a positive multiple of 8, got {args.size}")
    return dict(root=args.root, size=args.size, epochs=args.epochs, limit=args.limit, lr=args.lr,
                batch_size=args.batch_size, n_synthetic=args.synthetic)


def main(argv=None):
    return experiment_main(NAME, __doc__, run, argv, options=_options, extra=_extra,
                           report=lambda res: f"mAP (val): {res['model']['mAP (val)']:.4f}")


if __name__ == "__main__":
    raise SystemExit(main())
