"""Pixel flipping / region perturbation against closed forms on linear models, and AUC / AOPC formulas."""
import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from dtd.evaluate import aopc, auc, pixel_flipping, region_order, region_scores, selectivity


class Linear:
    """f(x) = sum_i w_i x_i + b for the one output, and -f for a second; counts forward calls."""

    def __init__(self, w, b=0.0):
        self.w, self.b, self.calls = w, b, []

    def forward(self, x):
        self.calls.append(x.shape)
        f = (x * self.w).reshape(len(x), -1).sum(axis=1) + self.b
        return np.stack([f, -f], axis=1)


def _setup(shape=(3, 2, 4, 5), seed=0):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=shape[1:])
    x = rng.uniform(0.5, 1.5, size=shape)
    return Linear(w, 0.3), x, x * w                 # R = w * x: the exact decomposition of f - b


def _closed_form(model, x, ordered_scores, per_step=1):
    """f_k = f_0 - (sum of the terms w_i x_i of the removed regions), constant-0 replacement."""
    f0 = (x * model.w).reshape(len(x), -1).sum(1) + model.b
    n = ordered_scores.shape[1]
    removed = np.concatenate([np.zeros((len(x), 1)), np.cumsum(ordered_scores, axis=1)], axis=1)
    ks = np.minimum(np.arange(-(-n // per_step) + 1) * per_step, n)
    return f0[:, None] - removed[:, ks]


@pytest.mark.parametrize("region", [1, 2, 3])
def test_linear_model_morf_lerf_closed_form(region):
    model, x, R = _setup()
    scores = region_scores(R, region)
    for order, key in [("most", -np.sort(-scores, axis=1)), ("least", np.sort(scores, axis=1))]:
        fc = pixel_flipping(model, x, R, target=0, order=order, region=region)
        np.testing.assert_allclose(fc.curve, _closed_form(model, x, key), rtol=1e-12, atol=1e-12)
        assert fc.n_regions == -(-4 // region) * -(-5 // region)
        np.testing.assert_allclose(fc.curve[:, -1], model.b, atol=1e-12)   # everything removed: f = b


def test_region_scores_sum_channels_and_patches_by_hand():
    R = np.arange(2 * 3 * 3, dtype=float).reshape(1, 2, 3, 3)      # channel 1 = channel 0 + 9
    s = region_scores(R, 2)
    c = R.sum(axis=1)[0]                                            # [[9,11,13],[15,17,19],[21,23,25]]
    assert s.tolist() == [[c[:2, :2].sum(), c[:2, 2].sum(), c[2, :2].sum(), c[2, 2]]]
    assert region_scores(R, 1).tolist() == [c.ravel().tolist()]


def test_random_order_is_seeded_per_sample_and_ignores_R():
    model, x, R = _setup()
    fc = pixel_flipping(model, x, R, 0, order="random", seed=5, sample_ids=[10, 11, 12])
    fc2 = pixel_flipping(model, x, np.zeros_like(R), 0, order="random", seed=5, sample_ids=[10, 11, 12])
    np.testing.assert_array_equal(fc.curve, fc2.curve)
    scores = region_scores(R, 1)
    perm = np.stack([np.random.default_rng([5, i]).permutation(20) for i in (10, 11, 12)])
    np.testing.assert_allclose(fc.curve, _closed_form(model, x, np.take_along_axis(scores, perm, 1)),
                               rtol=1e-12, atol=1e-12)
    # the same sample alone gives the same curve
    one = pixel_flipping(model, x[2:], R[2:], 0, order="random", seed=5, sample_ids=[12])
    np.testing.assert_array_equal(one.curve[0], fc.curve[2])


def test_per_step_and_steps():
    model, x, R = _setup()
    scores = -np.sort(-region_scores(R, 1), axis=1)
    fc = pixel_flipping(model, x, R, 0, per_step=3)                 # 20 regions: 7 steps, last removes 2
    assert fc.removed.tolist() == [0, 3, 6, 9, 12, 15, 18, 20]
    np.testing.assert_allclose(fc.curve, _closed_form(model, x, scores, per_step=3), rtol=1e-12, atol=1e-12)
    part = pixel_flipping(model, x, R, 0, per_step=3, steps=2)
    np.testing.assert_array_equal(part.curve, fc.curve[:, :3])
    np.testing.assert_allclose(part.auc, ((fc.curve[:, 0] + fc.curve[:, 2]) / 2 + fc.curve[:, 1]) / 2)


def test_one_forward_per_step_for_the_whole_batch():
    model, x, R = _setup()
    fc = pixel_flipping(model, x, R, None, per_step=4)
    assert model.calls == [x.shape] * (5 + 1)                       # f_0, then one per step
    assert fc.curve.shape == (3, 6)


def test_uniform_noise_replacement_closed_form():
    model, x, R = _setup(shape=(2, 1, 3, 3))
    fc = pixel_flipping(model, x, R, 0, replacement="uniform", noise_range=(-1.0, 2.0), seed=3)
    u = np.stack([np.random.default_rng([3, i]).uniform(-1.0, 2.0, size=(1, 3, 3)) for i in range(2)])
    order = np.argsort(-region_scores(R, 1), axis=1, kind="stable")
    f = [(x * model.w).reshape(2, -1).sum(1) + model.b]
    mask = np.zeros((2, 9), bool)
    for k in range(9):                                             # the reference: a loop, by hand
        mask[np.arange(2), order[:, k]] = True
        xk = np.where(mask, u.reshape(2, 9), x.reshape(2, 9))
        f.append((xk * model.w.reshape(1, 9)).sum(1) + model.b)
    np.testing.assert_allclose(fc.curve, np.stack(f, 1), rtol=1e-12)


def test_blur_replacement_reference():
    model, x, R = _setup(shape=(2, 2, 5, 5))
    fc = pixel_flipping(model, x, R, 0, replacement="blur", blur_sigma=1.5, region=5)   # one region
    blurred = np.stack([np.stack([gaussian_filter(x[n, c], 1.5) for c in range(2)]) for n in range(2)])
    np.testing.assert_allclose(fc.curve[:, 1], (blurred * model.w).reshape(2, -1).sum(1) + model.b,
                               rtol=1e-12)


def test_constant_value_and_array_replacement():
    model, x, R = _setup(shape=(1, 1, 2, 2))
    fc = pixel_flipping(model, x, R, 0, region=2, value=2.0)
    assert fc.curve[0, 1] == pytest.approx(2.0 * model.w.sum() + model.b, rel=1e-14)
    rep = np.full_like(x, 2.0)
    np.testing.assert_array_equal(pixel_flipping(model, x, R, 0, region=2, replacement=rep).curve, fc.curve)


def test_float32_and_flat_inputs():
    model, x, R = _setup(shape=(2, 6))
    fc32 = pixel_flipping(model, x.astype(np.float32), R.astype(np.float32), 0)
    fc64 = pixel_flipping(model, x, R, 0)
    assert fc32.curve.dtype == np.float64
    np.testing.assert_allclose(fc32.curve, fc64.curve, atol=1e-5)   # float32 rounding of sums of 6 terms


def test_target_fixed_to_the_unperturbed_argmax():
    model, x, R = _setup(shape=(2, 4))
    x[1] *= -1                                                      # sample 1: f < 0, argmax is output 1
    fc = pixel_flipping(model, x, x * model.w, None)
    f0 = (x * model.w).sum(1) + model.b
    np.testing.assert_allclose(fc.curve[:, 0], np.abs(f0), rtol=1e-15)
    np.testing.assert_allclose(fc.curve[1, -1], -model.b)           # output 1 = -f, all removed: -b


def test_selectivity_runs_the_three_orders():
    model, x, R = _setup(shape=(2, 1, 3, 3))
    res = selectivity(model, x, R, steps=4)
    assert list(res) == ["most", "least", "random"]
    assert all(fc.curve.shape == (2, 5) for fc in res.values())
    # on the exact decomposition MoRF drops fastest and LeRF slowest
    assert np.all(res["most"].auc <= res["random"].auc) and np.all(res["random"].auc <= res["least"].auc)


def test_ties_keep_region_order():
    assert region_order(np.array([[0.0, 1.0, 0.0, 1.0]]), "most").tolist() == [[1, 3, 0, 2]]
    assert region_order(np.array([[0.0, 1.0, 0.0, 1.0]]), "least").tolist() == [[0, 2, 1, 3]]


def test_auc_and_aopc_on_known_curves():
    assert auc([[4.0, 2.0, 0.0]]).tolist() == [2.0]
    assert aopc([[4.0, 2.0, 0.0]]).tolist() == [2.0]               # (0 + 2 + 4) / 3
    assert auc([3.0, 3.0, 3.0, 3.0]).tolist() == [3.0]             # constant curve: its value
    assert aopc([3.0, 3.0, 3.0, 3.0]).tolist() == [0.0]
    # f(t) = 1 - t sampled with 2, 10 and 1000 steps: the same normalised AUC 1/2
    for S in (2, 10, 1000):
        assert auc(1 - np.linspace(0, 1, S + 1)).item() == pytest.approx(0.5, abs=1e-12)
    # f(t) = 1 - t: AOPC = mean of t_k = 1/2 for every S too
    assert aopc(1 - np.linspace(0, 1, 7)).item() == pytest.approx(0.5, abs=1e-12)
    # a hand-made curve: AUC = (1/3)(1/2 + 2 + 1 + 0/2)... = 3.5/3; AOPC = (0 - 1 + 0 + 1)/4
    assert auc([1.0, 2.0, 1.0, 0.0]).item() == pytest.approx(3.5 / 3, rel=1e-15)
    assert aopc([1.0, 2.0, 1.0, 0.0]).item() == 0.0


def test_progress_bar(capsys):
    model, x, R = _setup(shape=(1, 1, 2, 2))
    pixel_flipping(model, x, R, 0, progress=True)
    assert "pixel flipping (most)" in capsys.readouterr().err
    pixel_flipping(model, x, R, 0, progress=False)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("kw, msg", [
    (dict(order="best"), "unknown order 'best'"),
    (dict(replacement="zero"), "unknown replacement 'zero'"),
    (dict(region=0), "region must be an int >= 1"),
    (dict(per_step=0), "per_step must be an int >= 1"),
    (dict(steps=5), r"steps must be an int in 1\.\.4"),
    (dict(steps=0), r"steps must be an int in 1\.\.4"),
    (dict(replacement="uniform", noise_range=(1.0, 0.0)), "noise_range"),
    (dict(replacement="blur", blur_sigma=0.0), "blur_sigma must be > 0"),
    (dict(target=2), "target out of range"),
])
def test_bad_options(kw, msg):
    model, x, R = _setup(shape=(1, 1, 2, 2))
    kw.setdefault("target", 0)
    with pytest.raises(ValueError, match=msg):
        pixel_flipping(model, x, R, **kw)


def test_shape_mismatch():
    model, x, R = _setup(shape=(1, 1, 2, 2))
    with pytest.raises(ValueError, match="R has shape"):
        pixel_flipping(model, x, R[:, :, :1])
