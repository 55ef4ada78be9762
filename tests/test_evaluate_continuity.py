"""Continuity against closed forms and an independently computed translation-equivariant case."""
import numpy as np
import pytest

import dtd
from dtd.evaluate import continuity, translate
from dtd.layers import Conv2d, ReLU, SumPool2d


def test_translate_moves_content_and_fills():
    x = np.arange(9.0).reshape(1, 1, 3, 3) + 1
    assert translate(x, 1, 0, fill=-1)[0, 0].tolist() == [[-1, -1, -1], [1, 2, 3], [4, 5, 6]]
    assert translate(x, 0, -1)[0, 0].tolist() == [[2, 3, 0], [5, 6, 0], [8, 9, 0]]


def test_single_pixel_squared_closed_form():
    # R(x) = x^2 is translation-equivariant; a single pixel v shifted by one pixel:
    # ||R - R'||_1 = 2 v^2, ||x - x'||_2 = v sqrt(2), ratio sqrt(2) v for each of the 4 shifts
    x = np.zeros((2, 1, 5, 5))
    x[0, 0, 2, 2], x[1, 0, 1, 3] = 3.0, 0.5
    c = continuity(lambda x, t: x ** 2, x, n_noise=0)
    assert c.perturbations == ("down", "up", "right", "left")
    np.testing.assert_allclose(c.ratios, np.sqrt(2) * np.array([[3.0] * 4, [0.5] * 4]), rtol=1e-15)
    np.testing.assert_allclose(c.value, np.sqrt(2) * np.array([3.0, 0.5]), rtol=1e-15)


def test_noise_ratio_of_a_linear_explanation():
    # R(x) = a x: ratio = a ||e||_1 / ||e||_2 with e the documented draws default_rng([seed, id])
    a, sigma, K, seed = 1.5, 0.01, 3, 7
    x = np.random.default_rng(0).uniform(size=(2, 6))          # (N, D): no translations
    c = continuity(lambda x, t: a * x, x, noise=sigma, n_noise=K, seed=seed, sample_ids=[4, 9])
    assert c.perturbations == ("noise0", "noise1", "noise2")
    for n, sid in enumerate([4, 9]):
        e = sigma * np.random.default_rng([seed, sid]).standard_normal((K, 6))
        np.testing.assert_allclose(c.ratios[n], a * np.abs(e).sum(1) / np.sqrt((e ** 2).sum(1)), rtol=1e-12)
    # a sample's numbers do not depend on the batch it is in
    c1 = continuity(lambda x, t: a * x, x[1:], noise=sigma, n_noise=K, seed=seed, sample_ids=[9])
    np.testing.assert_array_equal(c1.ratios[0], c.ratios[1])


def _equivariant_net(rng):
    # conv (zero padding, no bias) - ReLU - global sum pooling: shifting content that stays away
    # from the border shifts every activation, so LRP-0's relevance shifts with it
    return dtd.Sequential([Conv2d(rng.normal(size=(2, 1, 3, 3)), np.zeros(2), padding=1), ReLU(),
                           SumPool2d(8), dtd.layers.Flatten(), dtd.layers.Dense([[1.0, 1.0]], [0.0])])


def test_translation_equivariant_network_reference():
    rng = np.random.default_rng(3)
    net = _equivariant_net(rng)
    x = np.zeros((2, 1, 8, 8))
    x[:, :, 2:6, 2:6] = rng.uniform(size=(2, 1, 4, 4))
    explain = lambda x, t: net.explain(x, dtd.rules.Epsilon(0.0), target=t)
    c = continuity(explain, x, np.zeros(2, dtype=int), n_noise=0)
    R = explain(x, 0)
    for k, (dy, dx) in enumerate([(1, 0), (-1, 0), (0, 1), (0, -1)]):
        # reference from R(x) alone: R(x') is R(x) shifted; x' is x shifted
        dR = np.abs(R - np.roll(R, (dy, dx), axis=(2, 3))).sum(axis=(1, 2, 3))
        dX = np.sqrt(((x - np.roll(x, (dy, dx), axis=(2, 3))) ** 2).sum(axis=(1, 2, 3)))
        np.testing.assert_allclose(c.ratios[:, k], dR / dX, rtol=1e-12)
    np.testing.assert_allclose(c.value, c.ratios.max(axis=1), rtol=0)


def test_target_is_held_fixed_and_explained_in_one_call():
    calls = []

    def explain(x, t):
        calls.append((x.shape, None if t is None else t.tolist()))
        return x.copy()

    x = np.random.default_rng(0).uniform(size=(3, 1, 4, 4))
    continuity(explain, x, np.array([2, 0, 1]), n_noise=2)
    assert calls == [((3, 1, 4, 4), [2, 0, 1]), ((18, 1, 4, 4), [2, 0, 1] * 6)]


def test_unchanged_input_is_ignored():
    x = np.zeros((2, 1, 3, 3))
    x[1, 0, 1, 1] = 1.0
    c = continuity(lambda x, t: x, x, n_noise=0)
    assert np.isnan(c.ratios[0]).all() and np.isnan(c.value[0])
    assert c.value[1] == pytest.approx(2 / np.sqrt(2), rel=1e-15)


def test_clip_keeps_noise_in_the_box():
    seen = []
    x = np.zeros((1, 1, 4, 4))
    continuity(lambda x, t: seen.append(x.min()) or x, x, translations=False, noise=1.0, clip=(0.0, 1.0))
    assert seen[1] == 0.0


@pytest.mark.parametrize("kw, msg", [
    (dict(noise=-1.0), "noise must be >= 0"),
    (dict(n_noise=1.5), "n_noise must be an int"),
    (dict(translations=False, n_noise=0), "no perturbations"),
    (dict(seed=-1), "seed must be a non-negative int"),
    (dict(sample_ids=[0, 1]), "sample_ids must be 1"),
])
def test_bad_options(kw, msg):
    with pytest.raises(ValueError, match=msg):
        continuity(lambda x, t: x, np.ones((1, 1, 3, 3)), **kw)


def test_wrong_explanation_shape():
    with pytest.raises(ValueError, match="explain returned shape"):
        continuity(lambda x, t: x[:, :1], np.ones((1, 2, 3, 3)), n_noise=0)
