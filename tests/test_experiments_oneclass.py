"""dtd.experiments.oneclass in quick mode: files, and the checks its numbers must pass.

Needs MNIST and scikit-learn (skipped without either).  OC-DTD must conserve (1e-12 relative:
float64 sums of 784 terms) with no negative relevance, agree with scikit-learn (1e-10), and every
method's most-relevant-first flipping must beat the random order.
"""
import csv
import math

import pytest

from _data import needs_mnist

pytestmark = needs_mnist


def test_oneclass_quick(tmp_path):
    pytest.importorskip("sklearn")
    from dtd.experiments import oneclass
    assert oneclass.main(["--quick", "--out", str(tmp_path), "--no-progress"]) == 0
    for name in ("heatmaps_corrupted.png", "heatmaps_other_digits.png", "pixel_flipping.png", "results.csv",
                 "results.md", "model.json"):
        assert (tmp_path / name).stat().st_size > 0
    with open(tmp_path / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["method"] for r in rows] == [*oneclass.METHODS, "random order"] * 2
    flip = "flip AUC (mean image)"
    for kind in ("other digits", "corrupted"):
        by = {r["method"]: r for r in rows if r["outliers"] == kind}
        dtd_row = by["OC-DTD"]
        assert float(dtd_row["conservation error (max)"]) < 1e-12
        assert float(dtd_row["negative share (max)"]) == 0
        for m in oneclass.METHODS:
            assert float(by[m][flip]) < float(by["random order"][flip])
        assert float(dtd_row["flip AUC (zero)"]) < float(by["random order"]["flip AUC (zero)"])
        assert float(dtd_row[flip]) < float(by["nearest SV"][flip]) < float(by["random order"][flip])
    corrupted = {r["method"]: r for r in rows if r["outliers"] == "corrupted"}
    assert float(corrupted["OC-DTD"]["relevance on the corruption"]) > \
        2 * float(corrupted["random order"]["relevance on the corruption"])
    import json
    rec = json.loads((tmp_path / "model.json").read_text())
    assert rec["max |o - sklearn| (other digits)"] <= 1e-10 * rec["threshold o*"]
    assert rec["AUROC other digits vs inliers"] > 0.9
    assert not math.isnan(rec["AUROC corrupted vs inliers"])


def test_corrupt_marks_the_changed_pixels():
    import numpy as np
    from dtd.experiments.oneclass import auroc, corrupt
    rng = np.random.default_rng(0)
    x = np.zeros((20, 784))
    xc, changed, kinds = corrupt(x, rng)
    assert ((xc != x) >= changed).all() and changed.any(axis=1).all()
    assert set(kinds) == {"stroke", "noise"}
    assert (changed[kinds == "stroke"].sum(1) >= 30).all()
    assert auroc(np.array([0.0, 1.0]), np.array([2.0, 3.0])) == 1.0
    assert auroc(np.array([0.0, 1.0]), np.array([0.5, 0.5])) == 0.5
