"""dtd.experiments.mnist_lrn: the shipped LRN CNN, how much its LRN layers normalise (against a loop
reference), the seed's tables, and the quick run."""
import csv

import numpy as np
import pytest

import dtd
from dtd._paths import data_dir
from dtd.experiments import mnist_lrn
from dtd.layers import LRN

from _data import needs_mnist

pytestmark = needs_mnist

#: accuracy of the shipped network on the 1000 fixed test digits (data/README.md records it)
RECORDED = 0.981
#: allowed shortfall: 20 of 1000 digits, for another MNIST source or BLAS rounding
MARGIN = 0.02


@pytest.fixture(scope="module")
def net():
    return dtd.load(data_dir() / mnist_lrn.FILE)


@pytest.fixture(scope="module")
def digits():
    images, labels = mnist_lrn.digits_test_sample()
    return images, labels


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("mnist_lrn")
    return out, mnist_lrn.run(quick=True, out=out, progress=False)


def test_shipped_network_and_accuracy(net, digits):
    assert (data_dir() / mnist_lrn.FILE).stat().st_size < 5e6
    lrns = [layer for layer in net.layers if isinstance(layer, LRN)]
    assert [(l.size, l.alpha, l.beta, l.k) for l in lrns] == [mnist_lrn.LRN_PARAMS] * 2
    images, labels = digits
    assert len(labels) == 1000 and len(np.unique(labels)) == 10
    assert mnist_lrn.digit_accuracy(net, *digits) >= RECORDED - MARGIN


def loop_lrn(a, size, alpha, beta, k):
    """Window sums, factor and output of an LRN by an explicit loop over channels (odd size)."""
    C = a.shape[1]
    half = (size - 1) // 2
    S = np.stack([(a[:, max(0, c - half):c + half + 1] ** 2).sum(axis=1) for c in range(C)], axis=1)
    D = k + alpha / size * S
    return S, D, a * D ** -beta


def test_lrn_strength_against_a_loop_reference(net, digits):
    x = digits[0][:20].astype(np.float64) / 255
    rows = mnist_lrn.lrn_strength(net, x)
    acts = net.forward(x, return_all=True)
    size, alpha, beta, k = mnist_lrn.LRN_PARAMS
    for row in rows:
        a = acts[row["layer"]].astype(np.float64)
        S, D, y = loop_lrn(a, size, alpha, beta, k)
        on = a > 0
        factor = (D / k) ** -beta
        assert row["mean factor"] == pytest.approx(factor[on].mean(), rel=1e-6)
        yk = y * k ** beta
        assert row["relative change"] == pytest.approx(np.linalg.norm(yk - a) / np.linalg.norm(a), rel=1e-6)
        # seed 003: y_k = x_k / (1 + b sum x^2)^c with b = alpha / (n k); z_kk and the off-diagonal z_jk
        b, c = alpha / (size * k), beta
        z_kk = a / (1 + b * a * a) ** c
        off = -2 * b * c * (S - a * a) * a / (1 + b * S) ** (c + 1)
        assert row["Taylor off-diagonal share"] == pytest.approx(np.abs(off[on]).sum() / z_kk[on].sum(), rel=1e-6)
        # the normalisation matters: activations change by a fifth or more, and the Taylor rule moves relevance
        assert row["mean factor"] < 0.9 and row["relative change"] > 0.2
        assert row["Taylor off-diagonal share"] > 0.05
        # AlexNet's settings would leave the same activations almost unchanged (module notes)
        alex = LRN(5, 1e-4, 0.75, 2.0)
        ya = alex.forward(a) * 2.0 ** 0.75
        assert np.linalg.norm(ya - a) / np.linalg.norm(a) < 1e-3


def test_seed_tables_consistency():
    # Table 2, column 1 (Imagenet): Taylor - identity = -12.29 + 21.29 = 9.00; Table 3: (-26.84) - (-35.84) = 9.00
    assert mnist_lrn.seed_consistency() == {"Delta_eps=1^eps=0.01": "AUC(b) - AUC(a)",
                                            "Delta_eps=0.01^eps=100": "neither",
                                            "Delta_eps=1^beta=1": "neither",
                                            "Delta_beta=1^beta=0": "AUC(a) - AUC(b)"}


def read(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_quick_run_tables(quick):
    out, res = quick
    for name in ("heatmaps.png", "pixel_flipping.png", "results.csv", "results.md", "deltas.csv",
                 "taylor_vs_identity.csv", "model.json"):
        assert (out / name).stat().st_size > 0
    rows = read(out / "results.csv")
    assert len(rows) == 10
    auc = {(r["rule for basic layers"], r["rule for normalization layers"]): float(r["AUC (ours)"]) for r in rows}
    for v in auc.values():                     # every heatmap beats the random order by far
        assert v < 0.6 * res["random AUC"]
    deltas = read(out / "deltas.csv")
    assert len(deltas) == 8
    for d in deltas:
        a, b = d["Delta_a^b"][len("Delta_"):].split("^")
        assert float(d["ours"]) == pytest.approx(auc[b, d["normalization"]] - auc[a, d["normalization"]], rel=1e-9)
    tvi = {r["rule for basic layers"]: r for r in read(out / "taylor_vs_identity.csv")}
    for b in mnist_lrn.BASIC_RULES:
        assert float(tvi[b]["AUC_Taylor - AUC_identity (ours)"]) == pytest.approx(auc[b, "Taylor"] - auc[b, "identity"])
    assert float(tvi["eps=1"]["Imagenet"]) == -35.84
    text = (out / "results.md").read_text()
    assert text.startswith("# AUC by rule") and text.count("\n# ") == 3        # the four tables, one file
    protocols = read(out / "protocols.csv")
    assert len(protocols) == 15 and len({p["protocol"] for p in protocols}) == 3
    for p in protocols[::3]:                   # the main protocol repeats the Taylor-minus-identity table
        assert float(p["AUC_Taylor - AUC_identity"]) == pytest.approx(
            float(tvi[p["rule for basic layers"]]["AUC_Taylor - AUC_identity (ours)"]), rel=1e-12)


def test_taylor_and_identity_heatmaps_differ_but_both_conserve_through_lrn(net, digits):
    x = digits[0][:8].astype(np.float64) / 255
    for basic in (mnist_lrn.BASIC_RULES["eps=0.01"], mnist_lrn.BASIC_RULES["beta=0"]):
        R = {n: net.explain(x, mnist_lrn.rules_for(net, basic, rule), return_all=True)
             for n, rule in mnist_lrn.LRN_RULES.items()}
        for n in R:                            # relevance entering and leaving each LRN layer (index 2, 6)
            for i in (2, 6):
                np.testing.assert_allclose(R[n][i].sum(axis=(1, 2, 3)), R[n][i + 1].sum(axis=(1, 2, 3)),
                                           rtol=1e-6, atol=1e-9)
        d = np.abs(R["Taylor"][0] - R["identity"][0]).sum() / np.abs(R["identity"][0]).sum()
        assert d > 0.01
