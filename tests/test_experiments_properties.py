"""dtd.experiments.properties: the scale-free continuity ratio against its formula by hand, the marks, the quick run.

The quick run needs MNIST (skipped without it); the OC-DTD rows need scikit-learn too (checked only when
it is installed).  Tolerances: the continuity ratio by hand is the same float64 arithmetic in another
order (1e-12 relative); conservation of z+ / DTD / OC-DTD is exact up to float64 sums of ~1568 terms
(1e-12 relative).
"""
import csv

import numpy as np
import pytest

from dtd.experiments import properties as pr

from _data import needs_mnist


def _ratio_by_hand(explain, x, noises, n_noise):
    """max over noise levels and draws of (|R - R'|_1 / |R|_1) / (|x - x'|_2 / |x|_2), per sample, by loops."""
    out = np.zeros(len(x))
    for n in range(len(x)):
        R0 = explain(x[n:n + 1], None)[0]
        best = -np.inf
        for k, sigma in enumerate(noises):
            eps = np.random.default_rng([k, n]).standard_normal((n_noise,) + x.shape[1:])
            for d in range(n_noise):
                xp = np.clip(x[n] + sigma * eps[d], 0.0, 1.0)
                Rp = explain(xp[None], None)[0]
                r = (np.abs(Rp - R0).sum() / np.abs(R0).sum()) / (np.sqrt(((xp - x[n]) ** 2).sum())
                                                                   / np.sqrt((x[n] ** 2).sum()))
                best = max(best, r)
        out[n] = best
    return out


@pytest.mark.parametrize("explain", [lambda x, t: x ** 2, lambda x, t: np.where(x > 0.5, 1.0, 0.1) * x],
                         ids=["smooth", "jump"])
def test_scale_free_continuity_equals_the_formula(explain):
    x = np.random.default_rng(3).uniform(0.2, 0.8, size=(3, 1, 4, 5))
    got = pr.scale_free_continuity(explain, x, None, noises=(1e-2, 1e-3), n_noise=2)
    np.testing.assert_allclose(got, _ratio_by_hand(explain, x, (1e-2, 1e-3), 2), rtol=1e-12)


def test_continuity_ratio_is_scale_free_and_sees_a_jump():
    x = np.random.default_rng(4).uniform(0.0, 1.0, size=(4, 1, 6, 6))
    smooth = pr.scale_free_continuity(lambda x, t: x ** 2, x, None)
    np.testing.assert_allclose(pr.scale_free_continuity(lambda x, t: 1e6 * x ** 2, x, None), smooth, rtol=1e-9)
    # d(x^2)/x^2 = 2 dx/x: of order 1 in these units, far below the 'no' bound
    assert smooth.max() < pr.THRESHOLDS["continuity"][0]
    # a step exactly where some pixel sits: a noise of 1e-3 moves it across, and the ratio explodes
    x[:, 0, 0, 0] = 0.5
    jump = pr.scale_free_continuity(lambda x, t: np.where(x > 0.5, 1.0, 0.0) + 0 * x, x, None)
    assert jump.max() > pr.THRESHOLDS["continuity"][1]


def test_marks_follow_the_thresholds():
    for prop, (yes, partly) in pr.THRESHOLDS.items():
        assert pr.mark(prop, yes) == "yes" and pr.mark(prop, yes * 1.0001 + 1e-12) == "partly"
        assert pr.mark(prop, partly) == "partly" and pr.mark(prop, partly * 1.01) == "no"
    row = {"conservation error": 0.0, "negative share": 0.05, "negative share (max)": 0.2,
           "continuity ratio": 1.0, "flip AUC / random": 0.7}
    assert pr.marks(row) == {"conservation": "yes", "positivity": "partly", "continuity": "yes",
                             "selectivity": "no"}


@needs_mnist
def test_quick_run(tmp_path):
    assert pr.main(["--quick", "--out", str(tmp_path), "--no-progress"]) == 0
    for name in ("results.csv", "results.md", "marks.md", "heatmaps_cnn.png", "pixel_flipping.png", "continuity.png",
                 "model.json"):
        assert (tmp_path / name).stat().st_size > 0
    with open(tmp_path / "results.csv") as f:
        rows = list(csv.DictReader(f))
    cnn = {r["method"]: r for r in rows if r["network"] == "cnn"}
    assert list(cnn) == list(pr.METHODS)
    num = {m: {k: float(v) for k, v in r.items() if k not in ("network", "method", *pr.PROPERTIES)}
           for m, r in cnn.items()}
    # LRP-0 with the bias in the denominator is gradient x input on a ReLU network: the same numbers
    for k in ("conservation error", "negative share", "flip AUC / random"):
        assert num["LRP-0"][k] == pytest.approx(num["gradient x input"][k], rel=1e-9)
    # the pair CNN has b <= 0: z+ = alpha1beta0 and the DTD model conserve exactly, with no negative relevance
    for m in ("LRP-alpha1beta0 / z+", "DTD (training-free)"):
        assert num[m]["conservation error"] < 1e-12 and num[m]["negative share (max)"] == 0
        assert cnn[m]["conservation"] == "yes" and cnn[m]["positivity"] == "yes"
        assert cnn[m]["continuity"] == "yes"
    # negative biases: gradient x input inflates the total (the seed's deduction)
    assert num["gradient x input"]["sum R / f (mean)"] > 1 or num["gradient x input"]["conservation error"] > 0.1
    assert cnn["sensitivity"]["positivity"] == "yes" and cnn["sensitivity"]["conservation"] == "no"
    # a squared gradient jumps where ReLUs switch: its continuity ratio is far above z+'s
    assert num["sensitivity"]["continuity ratio"] > 10 * num["LRP-alpha1beta0 / z+"]["continuity ratio"]
    for m in pr.METHODS:
        assert num[m]["flip AUC / random"] < 1.05
    marks = (tmp_path / "marks.md").read_text()
    assert "(seed: yes)" in marks and "Where ours and the seed's differ" in marks
    oc = [r for r in rows if r["method"] == "OC-DTD"]
    try:
        import sklearn  # noqa: F401
    except ImportError:
        assert not oc
        return
    assert float(oc[0]["conservation error"]) < 1e-12 and float(oc[0]["negative share (max)"]) == 0


def test_proportional_max_pooling_removes_the_jump_of_winner_take_all():
    """Two pixels of one pool trade places as the larger: winner-take-all moves all relevance across (a jump
    of the whole f(x) for a change of 2 delta), relevance in proportion moves delta / (a + b) of it."""
    from dtd import Sequential
    from dtd.layers import Conv2d, Dense, Flatten, MaxPool2d, ReLU
    net = Sequential([Conv2d(np.ones((1, 1, 1, 1)), np.zeros(1)), ReLU(), MaxPool2d(2), Flatten(),
                      Dense(np.ones((1, 1)), np.zeros(1))])
    delta = 1e-4
    x = np.zeros((2, 1, 2, 2))
    x[:, 0, 0, 0] = 0.5 + np.array([delta, -delta])
    x[:, 0, 0, 1] = 0.5
    m = pr.methods(net)
    t = np.zeros(2, dtype=np.intp)
    wta, prop = m["LRP-alpha1beta0 / z+"](x, t), m[pr.MAXPOOL_VARIANT](x, t)
    f = net.forward(x)[:, 0]
    np.testing.assert_allclose(wta[0, 0, 0], [f[0], 0.0], rtol=1e-12)         # all on the larger pixel ...
    np.testing.assert_allclose(wta[1, 0, 0], [0.0, f[1]], rtol=1e-12)         # ... which switched
    np.testing.assert_allclose(prop[:, 0, 0], x[:, 0, 0] / x[:, 0, 0].sum(1, keepdims=True) * f[:, None],
                               rtol=1e-12)                                     # x_i / sum_pool x * f
    assert np.abs(prop[0] - prop[1]).sum() < 4 * delta < 0.5 < np.abs(wta[0] - wta[1]).sum()
