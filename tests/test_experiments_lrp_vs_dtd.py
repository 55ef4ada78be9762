"""dtd.experiments.lrp_vs_dtd: LRP rules as deep Taylor decompositions.

The DTD rule with search direction v = x (z^B on the box [0, 0]) is checked against its derivation
written out here (root point (1 - t) x, first-order Taylor terms, the closed form as an explicit sum),
independently of dtd.rules; the quick run on the shipped networks (MNIST needed) must show the identities
to float64 rounding (1e-12 relative: sums of a few thousand terms) and the differences where the
biases break them (> 1e-3).
"""
import csv

import numpy as np
import pytest

from dtd.experiments import lrp_vs_dtd as lvd
from dtd.layers import Dense
from dtd.rules import AlphaBeta, Epsilon, ZPlus

from _data import needs_mnist


def _layer(b_sign, seed=0):
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(6, 8))
    b = b_sign * np.abs(rng.normal(size=6)) * 0.3
    x = np.abs(rng.normal(size=(4, 8)))
    return W, b, x


@pytest.mark.parametrize("b_sign", [0.0, -1.0])
def test_origin_rule_is_its_taylor_expansion(b_sign):
    W, b, x = _layer(b_sign)
    z = x @ W.T + b
    R = np.maximum(z, 0) * 1.7
    rule = lvd.origin_rule()
    # the closed form, by loops: R_i = sum_j x_i w_ij / (sum_i' x_i' w_i'j) R_j, bias left out
    ref = np.zeros_like(x)
    for n in range(len(x)):
        for j in range(W.shape[0]):
            d = sum(x[n, i] * W[j, i] for i in range(W.shape[1]))
            if d != 0:
                for i in range(W.shape[1]):
                    ref[n, i] += x[n, i] * W[j, i] / d * R[n, j]
    got = Dense(W, b).relevance(x, R, rule)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-14)
    # the root point is (1 - t) x with t = z / (x . w_j), on the plane, and the origin when b = 0
    t = z / (x @ W.T)
    root = rule.root_point(W, b, x)
    np.testing.assert_allclose(root, (1 - t)[:, :, None] * x[:, None, :], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.einsum("nji,ji->nj", root, W) + b, 0, atol=1e-12)
    if b_sign == 0:
        np.testing.assert_allclose(root, 0, atol=1e-14)
        np.testing.assert_allclose(got, Dense(W, b).relevance(x, R, Epsilon(0.0)), rtol=1e-12, atol=1e-14)
    else:
        # b < 0: t in (0, 1) for the active neurons, so the root (1 - t) x lies in x >= 0 ...
        assert ((t[z > 0] > 0) & (t[z > 0] < 1)).all()
        # ... and the messages are the first-order Taylor terms there; they conserve, LRP-0's inflate
        np.testing.assert_allclose(rule.taylor_messages(W, b, x, R).sum(axis=1), got, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(got.sum(1), R.sum(1), rtol=1e-12)
        assert (Dense(W, b).relevance(x, R, Epsilon(0.0)).sum(1) > R.sum(1)).all()


def test_alpha1beta0_is_zplus_only_for_nonpositive_bias():
    for b_sign, equal in ((-1.0, True), (1.0, False)):
        W, b, x = _layer(b_sign, seed=1)
        R = np.maximum(x @ W.T + b, 0)
        ab = Dense(W, b).relevance(x, R, AlphaBeta(1.0, 0.0))
        zp = Dense(W, b).relevance(x, R, ZPlus())
        assert (lvd.max_difference(ab, zp) < 1e-12) == equal


@needs_mnist
def test_quick_run(tmp_path):
    assert lvd.main(["--quick", "--out", str(tmp_path), "--no-progress"]) == 0
    for name in ("results.csv", "results.md", "heatmaps_detector.png", "heatmaps_cnn.png", "heatmaps_deep.png",
                 "model.json"):
        assert (tmp_path / name).stat().st_size > 0
    with open(tmp_path / "results.csv") as f:
        rows = {(r["claim"], r["network"]): r for r in csv.DictReader(f)}
    diff = {k: float(r["max |A - B| / max |A|"]) for k, r in rows.items()}
    for net in lvd.NETWORKS:
        assert diff[("LRP-0 = DTD at the origin (v = x), b = 0", net)] < 1e-12
        assert diff[("LRP-0 = gradient x input (b = 0)", net)] < 1e-12
        assert diff[("LRP-0 = gradient x input (shipped biases)", net)] < 1e-12
        assert diff[("LRP-0 vs DTD v = x, shipped biases", net)] > 1e-3
        assert diff[("z+ = z^B on [0, x] (first layer)", net)] < 1e-12
        assert diff[("LRP-0 without bias = z^B on [0, 0] (first layer)", net)] < 1e-12
        assert diff[("DTD model (z^B at pixels) vs alpha1beta0", net)] > 1e-3
    for net in ("detector", "cnn"):                                   # b <= 0
        assert diff[("alpha1beta0 = z+ (b <= 0, x >= 0)", net)] < 1e-12
        r = rows[("LRP-0 vs DTD v = x, shipped biases", net)]
        assert float(r["conservation error B"]) < 1e-12 < 1e-3 < float(r["conservation error A"])
    assert diff[("alpha1beta0 = z+ (b <= 0, x >= 0)", "deep")] > 1e-3  # biases of both signs
