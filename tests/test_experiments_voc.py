"""dtd.experiments.voc: AP and boxes against references, the CNN and its explanation per class,
a quick run on a synthetic tree."""
import json

import numpy as np
import pytest

import dtd
from dtd.datasets import VOC_CLASSES, load_voc, make_synthetic_voc
from dtd.experiments import voc


# ---------------------------------------------------------------- average precision and boxes

def brute_force_ap(scores, t):
    """VOC 2010+ AP by its definition: for each positive's recall level, the best precision at that recall or more."""
    keep = t >= 0
    s, t = scores[keep], t[keep]
    thresholds = np.unique(s)
    prec, rec = [], []
    for th in thresholds:                     # all operating points
        sel = s >= th
        prec.append(t[sel].sum() / sel.sum())
        rec.append(t[sel].sum() / t.sum())
    prec, rec = np.array(prec), np.array(rec)
    levels = np.unique(rec[rec > 0])
    ap, last = 0.0, 0.0
    for r in levels:
        ap += (r - last) * prec[rec >= r].max()
        last = r
    return ap


def test_average_precision_against_brute_force():
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(60, 5))
    targets = rng.choice([0, 1, -1], p=[0.6, 0.3, 0.1], size=(60, 5))
    targets[:, 4] = np.where(targets[:, 4] == 1, 0, targets[:, 4])     # a class without positives
    ap = voc.average_precision(scores, targets)
    for k in range(4):
        assert ap[k] == pytest.approx(brute_force_ap(scores[:, k], targets[:, k]), rel=1e-12)
    assert np.isnan(ap[4])
    perfect = voc.average_precision(targets[:, :1].astype(float), targets[:, :1])
    assert perfect[0] == 1.0


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("voc")
    return make_synthetic_voc(root, 12, seed=3)


def test_object_boxes_match_the_written_boxes(tree):
    size = 16
    data = load_voc(tree["root"], "train", size=size)
    masks = voc.object_boxes(tree["root"], data.ids, size)
    from PIL import Image
    for i, image_id in enumerate(data.ids):
        with Image.open(f"{tree['root']}/VOC2012/JPEGImages/{image_id}.jpg") as im:
            w, h = im.size
        want = np.zeros((len(VOC_CLASSES), size, size), bool)
        for name, difficult, (x0, y0, x1, y1) in tree["objects"][image_id]:
            if not difficult:                      # 0-based end-exclusive pixel boxes, scaled outwards
                want[VOC_CLASSES.index(name), int(np.floor(y0 * size / h)):int(np.ceil(y1 * size / h)),
                     int(np.floor(x0 * size / w)):int(np.ceil(x1 * size / w))] = True
        np.testing.assert_array_equal(masks[i], want)
        assert (masks[i].any(axis=(1, 2)) == (data.targets[i] == 1)).all()


def test_object_boxes_refuse_hostile_annotations(tree, tmp_path):
    import shutil
    root = tmp_path / "VOCdevkit"
    shutil.copytree(tree["root"], root)
    image_id = tree["ids"][0]
    path = root / "VOC2012" / "Annotations" / f"{image_id}.xml"
    path.write_text('<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><annotation>&x;</annotation>')
    with pytest.raises(ValueError, match="DOCTYPE/ENTITY"):
        voc.object_boxes(root, [image_id], 8)


def test_box_share():
    R = np.zeros((2, 3, 2, 2))
    R[0, 0, 0, 0], R[0, 1, 1, 1], R[0, 2, 1, 1] = 3.0, 1.0, -2.0     # pixel (1,1) sums to -1: not positive
    mask = np.zeros((2, 2, 2), bool)
    mask[:, 0, 0] = True
    share = voc.box_share(R, mask)
    assert share[0] == 1.0 and np.isnan(share[1])


# ---------------------------------------------------------------- network, training steps, explanation

def test_make_voc_cnn_shapes_and_size_check():
    net = voc.make_voc_cnn(size=32, seed=0, dtype=np.float64)
    assert net.forward(np.zeros((2, 3, 32, 32))).shape == (2, 20)
    with pytest.raises(ValueError, match="multiple of 8"):
        voc.make_voc_cnn(size=30)


def test_explain_classes_equals_one_image_at_a_time():
    net = voc.make_voc_cnn(size=16, seed=1, dtype=np.float64)
    x = np.random.default_rng(2).uniform(size=(3, 3, 16, 16))
    pairs = np.array([[0, 4], [1, 4], [2, 7], [0, 7]])
    R = voc.explain_classes(net, x, pairs)
    comp = dtd.composites.get("lrp-composition", low=0.0, high=1.0, gamma=0.25, epsilon=0.25, bias="plain")
    for p, (n, c) in enumerate(pairs):
        np.testing.assert_allclose(R[p], net.explain(x[n:n + 1], comp, target=int(c))[0], rtol=1e-12, atol=1e-15)


def test_quick_run_trains_a_few_steps_and_explains(tmp_path):
    assert voc.main(["--quick", "--out", str(tmp_path), "--no-progress"]) == 0
    for name in ("heatmaps.png", "training.png", "results.csv", "results.md", "model.json", voc.FILE):
        assert (tmp_path / name).stat().st_size > 0
    rec = json.loads((tmp_path / "model.json").read_text())
    assert rec["steps"] == 30 and rec["train images"] + rec["val images"] == 48
    assert rec["final loss"] < rec["first loss"]                 # 30 SGD steps already lower the loss
    assert rec["train seconds per 1000 images"] > 0
    net = dtd.load(tmp_path / voc.FILE)
    assert net.forward(np.zeros((1, 3, 32, 32), np.float32)).shape == (1, 20)
    # evaluating the saved weights again (no training) gives the same mAP
    again = voc.run(quick=True, out=tmp_path / "again", weights=tmp_path / voc.FILE, progress=False,
                    root=tmp_path / "synthetic" / "VOCdevkit")
    assert again["model"]["mAP (val)"] == pytest.approx(rec["mAP (val)"], rel=1e-12)


def test_size_must_be_a_multiple_of_8(capsys):
    with pytest.raises(SystemExit) as e:
        voc.main(["--quick", "--size", "20"])
    assert e.value.code == 2 and "multiple of 8" in capsys.readouterr().err
