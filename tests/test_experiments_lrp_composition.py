"""dtd.experiments.lrp_composition: the shipped deep CNN, the rule per layer of the composition, the quick run."""
import numpy as np
import pytest

import dtd
from dtd._paths import data_dir
from dtd.experiments import lrp_composition as lc
from dtd.rules import Epsilon, Gamma, ZBox

from _data import needs_mnist

pytestmark = needs_mnist

#: accuracy of the shipped network on the 1000 fixed test digits (data/README.md records it)
RECORDED = 0.983
MARGIN = 0.02


@pytest.fixture(scope="module")
def net():
    return dtd.load(data_dir() / lc.FILE)


def test_shipped_network_and_accuracy(net):
    from dtd.experiments.mnist_lrn import digit_accuracy, digits_test_sample
    assert (data_dir() / lc.FILE).stat().st_size < 5e6
    assert [type(l).__name__ for l in net.layers] == [type(l).__name__ for l in lc.make_deep_cnn().layers]
    assert digit_accuracy(net, *digits_test_sample()) >= RECORDED - MARGIN


def test_composition_rules_by_depth(net):
    rules = net.rule_list(lc.composites(epsilon=0.5, gamma=0.1)["composition"])
    linear = [i for i, l in enumerate(net.layers) if hasattr(l, "weight")]
    assert linear == [0, 2, 5, 7, 11, 13]
    got = [(type(rules[i]).__name__, getattr(rules[i], "gamma", None), getattr(rules[i], "epsilon", None))
           for i in linear]
    # z^B at the pixels; then thirds of the other five: gamma, gamma | epsilon, epsilon | LRP-0
    assert got == [("ZBox", None, 0.0), ("Gamma", 0.1, 0.0), ("Gamma", 0.1, 0.0), ("Epsilon", None, 0.5),
                   ("Epsilon", None, 0.5), ("Epsilon", None, 0.0)]
    assert isinstance(rules[0], ZBox) and float(rules[0].low) == 0.0 and float(rules[0].high) == 1.0
    # the composite gives exactly the relevance of the same rules listed by hand
    x = np.random.default_rng(0).uniform(size=(2, 1, 28, 28))
    by_hand = [None] * len(net.layers)
    for i, r in zip(linear, [ZBox(0.0, 1.0), Gamma(0.1), Gamma(0.1), Epsilon(0.5), Epsilon(0.5), Epsilon(0.0)]):
        by_hand[i] = r
    np.testing.assert_array_equal(net.explain(x, lc.composites(epsilon=0.5, gamma=0.1)["composition"]),
                                  net.explain(x, by_hand))


def test_quick_run(tmp_path):
    assert lc.main(["--quick", "--out", str(tmp_path), "--no-progress"]) == 0
    for name in ("heatmaps.png", "pixel_flipping.png", "results.csv", "results.md", "model.json"):
        assert (tmp_path / name).stat().st_size > 0
    import csv
    with open(tmp_path / "results.csv") as f:
        rows = {r["rule"]: r for r in csv.DictReader(f)}
    assert list(rows) == ["LRP-0", "LRP-eps (0.25)", "LRP-gamma (0.25)", "composition", "composition, gamma at pixels"]
    for r in rows.values():
        assert float(r["AUC most first"]) < 0.6 * float(r["AUC random"])
    # gamma favours positive contributions: less negative relevance than LRP-0
    assert float(rows["LRP-gamma (0.25)"]["negative share (mean)"]) < float(rows["LRP-0"]["negative share (mean)"])
    # epsilon absorbs relevance: the sum of the heatmap falls short of f(x) more than with LRP-0
    err = {k: float(r["conservation error (mean)"]) for k, r in rows.items()}
    assert err["LRP-eps (0.25)"] > err["LRP-0"]
