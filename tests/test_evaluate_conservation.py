"""Conservation and positivity checks against hand-computed values."""
import numpy as np
import pytest

import dtd
from dtd.evaluate import conservation, positivity
from dtd.layers import Dense, ReLU


def test_conservation_known_values():
    R = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [1.0, -1.0, 0.5], [-1.0, -1.0, 0.0]])
    c = conservation(R, np.array([6.0, 4.0, 0.0, 0.0, -4.0]))
    assert c.total.tolist() == [6.0, 6.0, 0.0, 0.5, -2.0]
    # |6-6|/6, |6-4|/4, 0/0 := 0, 0.5/0 := inf, |-2+4|/4
    assert c.error.tolist() == [0.0, 0.5, 0.0, np.inf, 0.5]
    assert c.output.tolist() == [6.0, 4.0, 0.0, 0.0, -4.0]


def test_conservation_sums_every_channel_and_pixel():
    R = np.arange(24.0).reshape(2, 3, 2, 2)
    c = conservation(R, np.array([66.0, 200.0]))      # sums 0+..+11 = 66, 12+..+23 = 210
    assert c.total.tolist() == [66.0, 210.0]
    assert c.error.tolist() == [0.0, 0.05]


def test_gradient_x_input_on_a_linear_model_misses_the_bias():
    # f(x) = w.x + b; gradient x input gives w_i x_i, summing to f - b: error |b| / |f| (closed form)
    rng = np.random.default_rng(0)
    w, b = rng.normal(size=(1, 5)), np.array([-0.7])
    net = dtd.Sequential([Dense(w, b)])
    x = rng.uniform(1, 2, size=(4, 5))
    f = (x @ w.T + b)[:, 0]
    c = conservation(dtd.gradient_x_input(net, x, 0), f)
    np.testing.assert_allclose(c.error, 0.7 / np.abs(f), rtol=1e-12)   # float64 rounding only


def test_lrp0_conserves_on_a_bias_free_relu_net_float32():
    rng = np.random.default_rng(1)
    net = dtd.Sequential([Dense(rng.normal(size=(6, 4))), ReLU(), Dense(rng.normal(size=(3, 6)))])
    x = rng.normal(size=(5, 4)).astype(np.float32)
    out = net.forward(x)
    t = out.argmax(axis=1)
    c = conservation(net.explain(x, dtd.rules.Epsilon(0.0), target=t), out[np.arange(5), t])
    assert c.error.dtype == np.float64
    assert np.all(c.error < 1e-5)     # float32: sums of ~10 terms, relative rounding ~1e-7 each


@pytest.mark.parametrize("R, fc, exc, msg", [
    (np.ones((2, 3)), np.ones(3), ValueError, r"output must have shape \(2,\)"),
    (np.ones((2, 3)), np.array([1.0, np.nan]), ValueError, "output contains NaN"),
    (np.array([[1.0, np.nan]]), np.ones(1), ValueError, "R contains NaN or Inf"),
    (np.ones((2, 3), dtype=int), np.ones(2), TypeError, "floating"),
    (np.ones((0, 3)), np.ones(0), ValueError, "non-empty batch"),
    ([[1.0]], np.ones(1), TypeError, "numpy.ndarray"),
])
def test_conservation_bad_input(R, fc, exc, msg):
    with pytest.raises(exc, match=msg):
        conservation(R, fc)


def test_positivity_known_values():
    R = np.array([[1.0, -1.0, 2.0, 0.0], [0.0, 0.0, 0.0, 0.0], [-1.0, 1.0, -1.0, 1.0], [-2.0, -1.0, 0.0, 0.0]])
    p = positivity(R)
    assert p.negative.tolist() == [1.0, 0.0, 2.0, 3.0]
    assert p.mass.tolist() == [4.0, 0.0, 4.0, 3.0]
    assert p.share.tolist() == [0.25, 0.0, 0.5, 1.0]


def test_positivity_counts_channels_separately():
    # one pixel, two channels that cancel: the negative channel still counts
    p = positivity(np.array([1.0, -1.0]).reshape(1, 2, 1, 1))
    assert p.share.tolist() == [0.5]
    assert p.negative.tolist() == [1.0]


def test_positivity_float32_and_errors():
    p = positivity(np.array([[3.0, -1.0]], dtype=np.float32))
    assert p.share.dtype == np.float64 and p.share.tolist() == [0.25]
    with pytest.raises(ValueError, match="NaN or Inf"):
        positivity(np.array([[np.inf]]))
