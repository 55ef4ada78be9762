"""dtd.explainers.simple_taylor: root point along the gradient, first-order terms there."""
import numpy as np
import pytest

import dtd
from dtd.explainers import simple_taylor
from dtd.layers import Conv2d, Dense, Flatten, ReLU, SumPool2d


def two_layer(seed=0, positive=False):
    """f = sum_j max(0, w_j . x + b_j), b <= 0; with positive weights every unit falls along -grad f,
    so the line reaches f = 0."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(6, 4))
    return dtd.Sequential([Dense(np.abs(w) if positive else w, -np.abs(rng.normal(size=6)) * 0.1), ReLU(),
                           Dense(np.ones((1, 6)), [0.0])])


def fd_gradient(net, x, h=1e-6):
    g = np.zeros_like(x)
    for k in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[k] = h
        g[k] = (net.forward(x + e)[0, 0] - net.forward(x - e)[0, 0]) / (2 * h)
    return g


def test_linear_case_is_the_closed_form():
    # f = max(0, w.x + b) is linear up to the root: t = (f - tau) / |w|^2 and R = w * t * w
    w, b = np.array([2.0, -1.0, 0.5]), -0.5
    net = dtd.Sequential([Dense(w[None], [b]), ReLU()])
    x = np.array([[1.0, 0.5, 2.0]])
    f = w @ x[0] + b
    R, x_root, t, found = simple_taylor(net, x, rtol=1e-6, return_root=True)
    assert found.all()
    tau = 1e-6 * f
    assert t[0] == pytest.approx((f - tau) / (w @ w), rel=1e-12)
    np.testing.assert_allclose(R[0], w * w * t[0], rtol=1e-12)
    assert R.sum() == pytest.approx(f - tau, rel=1e-12)           # conservative here (no remainder)


def test_root_point_lies_on_the_gradient_line_at_the_level_and_R_uses_the_gradient_there():
    net = two_layer(positive=True)
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(5, 4))
    f = net.forward(x)[:, 0]
    assert (f > 0).all()
    g, _ = net.gradient(x)
    R, x_root, t, found = simple_taylor(net, x, rtol=1e-6, return_root=True)
    assert found.all()
    np.testing.assert_allclose(x_root, x - t[:, None] * g, rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(net.forward(x_root)[:, 0], 1e-6 * f, rtol=1e-6, atol=1e-12)
    assert (t > 0).all()
    for n in range(5):   # the gradient at the root, by finite differences (independent of net.gradient)
        np.testing.assert_allclose(R[n], fd_gradient(net, x_root[n:n + 1])[0] * (x[n] - x_root[n]),
                                   rtol=1e-6, atol=1e-9)


def test_not_conservative_in_general_and_can_be_negative():
    # a network whose linear pieces change along the line: sum R differs from f(x)
    net = two_layer(seed=3)
    x = np.random.default_rng(4).uniform(size=(40, 4))
    R, _, _, found = simple_taylor(net, x, return_root=True, warn=False)
    f = net.forward(x)[:, 0]
    err = np.abs(R.sum(axis=1) - f) / np.where(f > 0, f, 1)
    assert found.any() and err[found].max() > 1e-3      # even where a root exists
    assert (R < 0).any()
    Rp, _, _, found_p = simple_taylor(two_layer(seed=3, positive=True), x, return_root=True)
    assert found_p.all() and Rp.min() >= 0           # positive weights: a root, and R >= 0


def test_samples_without_output_get_zero_and_no_root_gives_a_warning():
    # positive weights and b <= 0: every unit is off at x = -5 (f = 0); with an output bias -0.5 the same
    # sample has f = -0.5 < 0; the other sample is explained as it is alone in its batch
    base = two_layer(seed=3, positive=True)
    shifted = dtd.Sequential(base.layers[:2] + [Dense(np.ones((1, 6)), [-0.5])])
    x = np.array([[-5.0, -5.0, -5.0, -5.0], [0.3, 0.2, 0.9, 0.4]])
    for net, f0 in [(base, 0.0), (shifted, -0.5)]:
        f = net.forward(x)[:, 0]
        assert f[0] == f0 and f[1] > 0                               # the branch under test does run
        R, x_root, t, found = simple_taylor(net, x, return_root=True)
        np.testing.assert_array_equal(R[0], 0)
        np.testing.assert_array_equal(x_root[0], x[0])
        assert t[0] == 0 and found[0]
        np.testing.assert_allclose(R[1], simple_taylor(net, x[1:])[0], rtol=1e-12)   # batch: last bits
        assert np.abs(R[1]).sum() > 0
    # f(x) = relu(x + 1) + relu(1 - x) >= 2: no root anywhere
    bowl = dtd.Sequential([Dense([[1.0], [-1.0]], [1.0, 1.0]), ReLU(), Dense([[1.0, 1.0]], [0.0])])
    with pytest.warns(RuntimeWarning, match="no root along the gradient"):
        R, x_root, t, found = simple_taylor(bowl, np.array([[3.0]]), max_doublings=10, return_root=True)
    assert not found[0]
    assert bowl.forward(x_root)[0, 0] == pytest.approx(2.0)        # the smallest f on the line


def test_float32_and_conv_networks():
    rng = np.random.default_rng(5)
    net = dtd.Sequential([Conv2d(np.abs(rng.normal(size=(3, 1, 3, 3))), -0.1 * np.ones(3)), ReLU(), SumPool2d(2),
                          Flatten(), Dense(np.abs(rng.normal(size=(2, 12))), [0.0, 0.0])])
    x = rng.uniform(size=(3, 1, 6, 6))
    R64 = simple_taylor(net, x, target=1)
    R32 = simple_taylor(net, x.astype(np.float32), target=1)
    assert R32.dtype == np.float32 and R64.shape == x.shape
    # float32: the root search runs in float32 forward passes; 1e-3 relative agreement on the total
    np.testing.assert_allclose(R32.sum(axis=(1, 2, 3)), R64.sum(axis=(1, 2, 3)), rtol=1e-3)
    with pytest.raises(ValueError, match="rtol must be in"):
        simple_taylor(net, x, rtol=0.0)
