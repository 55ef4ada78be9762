"""dtd.train: gradients against finite differences, SGD, constraints, determinism, checkpoints."""
import numpy as np
import pytest

import dtd
from dtd.layers import Conv2d, Dense, Flatten, ReLU, SumPool2d
from dtd.train import (SGD, NonPositiveBias, fit, loss_and_gradients, softmax_cross_entropy,
                       squared_error)


def small_cnn(rng):
    return dtd.Sequential([
        Conv2d(rng.normal(size=(2, 1, 3, 3)), rng.normal(size=2) * 0.1, padding=1), ReLU(), SumPool2d(2),
        Flatten(), Dense(rng.normal(size=(3, 8)), rng.normal(size=3) * 0.1),
    ])


def numeric_gradients(net, x, y, loss, h=1e-6):
    """Central differences of the loss for every weight and bias entry (float64)."""
    out = {}
    for i, layer in enumerate(net.layers):
        if not hasattr(layer, "param_grads"):
            continue
        pair = []
        for name in ("weight", "bias"):
            p = getattr(layer, name)
            g = np.zeros_like(p)
            for k in np.ndindex(p.shape):
                old = p[k]
                p[k] = old + h
                up = loss(net.forward(x), y)[0]
                p[k] = old - h
                down = loss(net.forward(x), y)[0]
                p[k] = old
                g[k] = (up - down) / (2 * h)
            pair.append(g)
        out[i] = tuple(pair)
    return out


@pytest.mark.parametrize("loss_name", ["squared", "cross_entropy"])
def test_parameter_gradients_match_finite_differences(loss_name):
    # float64; central differences have error O(h^2) ~ 1e-12 away from ReLU kinks (random inputs avoid them)
    rng = np.random.default_rng(0)
    net = small_cnn(rng)
    x = rng.uniform(size=(5, 1, 4, 4))
    y = rng.integers(0, 3, size=5) if loss_name == "cross_entropy" else rng.normal(size=(5, 3))
    loss = squared_error if loss_name == "squared" else softmax_cross_entropy
    value, grads = loss_and_gradients(net, x, y, loss_name)
    assert value == pytest.approx(loss(net.forward(x), y)[0], rel=1e-14)
    numeric = numeric_gradients(net, x, y, loss)
    assert sorted(grads) == sorted(numeric) == [0, 4]
    for i in grads:
        for analytic, fd in zip(grads[i], numeric[i]):
            assert analytic.shape == fd.shape
            np.testing.assert_allclose(analytic, fd, rtol=1e-6, atol=1e-8)


def test_dense_relu_network_gradients_match_finite_differences():
    rng = np.random.default_rng(1)
    net = dtd.Sequential([Dense(rng.normal(size=(6, 4)), rng.normal(size=6)), ReLU(),
                          Dense(rng.normal(size=(2, 6)), rng.normal(size=2))])
    x, y = rng.normal(size=(7, 4)), rng.normal(size=(7, 2))
    _, grads = loss_and_gradients(net, x, y, "squared")
    numeric = numeric_gradients(net, x, y, squared_error)
    for i in (0, 2):
        for analytic, fd in zip(grads[i], numeric[i]):
            np.testing.assert_allclose(analytic, fd, rtol=1e-6, atol=1e-8)


def test_softmax_cross_entropy_matches_closed_form_and_survives_large_logits():
    logits = np.array([[1.0, 2.0, 3.0], [1000.0, 0.0, -1000.0]])
    value, grad = softmax_cross_entropy(logits, np.array([2, 1]))
    p0 = np.exp([1.0, 2.0, 3.0]) / np.exp([1.0, 2.0, 3.0]).sum()
    # second sample: -log softmax_1 = 1000 + log(1 + e^-1000 + e^-2000) = 1000 up to rounding
    assert value == pytest.approx((-np.log(p0[2]) + 1000.0) / 2, rel=1e-15)
    np.testing.assert_allclose(grad[0], (p0 - [0, 0, 1]) / 2, rtol=1e-14)
    np.testing.assert_allclose(grad[1], np.array([1.0, -1.0, 0.0]) / 2, atol=1e-300)


def test_loss_errors_are_clear():
    with pytest.raises(ValueError, match="labels must lie in 0..2"):
        softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(TypeError, match="labels must be integers"):
        softmax_cross_entropy(np.zeros((2, 3)), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="does not fit the output"):
        squared_error(np.zeros((2, 3)), np.zeros((2, 2)))


def test_sgd_momentum_and_weight_decay_follow_the_update_rule():
    w0 = np.array([[1.0, -2.0]])
    net = dtd.Sequential([Dense(w0.copy(), [0.5])])
    opt = SGD(lr=0.1, momentum=0.9, weight_decay=0.01)
    g_w, g_b = np.array([[0.3, 0.4]]), np.array([1.0])
    w, b, vw, vb = w0.copy(), np.array([0.5]), 0.0, 0.0
    for _ in range(3):
        vw = 0.9 * vw - 0.1 * (g_w + 0.01 * w)
        vb = 0.9 * vb - 0.1 * g_b          # no decay on biases
        w, b = w + vw, b + vb
        opt.step(net, {0: (g_w, g_b)})
    np.testing.assert_allclose(net.layers[0].weight, w, rtol=1e-15)
    np.testing.assert_allclose(net.layers[0].bias, b, rtol=1e-15)


def blobs(n=200, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    x = rng.normal(size=(n, 2)) * 0.5 + np.where(y[:, None] == 1, 1.5, -1.5)
    return x, y


def mlp(seed=0):
    rng = np.random.default_rng(seed)
    return dtd.Sequential([Dense(rng.normal(size=(8, 2)) * 0.5, np.zeros(8)), ReLU(),
                           Dense(rng.normal(size=(2, 8)) * 0.5, np.zeros(2))])


def test_loss_decreases_and_the_problem_is_learnt():
    x, y = blobs()
    net = mlp()
    h = fit(net, x, y, loss="cross_entropy", epochs=10, batch_size=10, lr=0.05, progress=False)
    assert h.steps == 200 and h.loss.shape == (200,) and len(h.epoch_loss) == 10
    assert h.epoch_loss[-1] < 0.2 * h.epoch_loss[0]
    assert np.mean(net.forward(x).argmax(1) == y) == 1.0


def test_constraint_holds_after_every_step_and_is_needed():
    x, y = blobs()
    seen = []

    def check(step, loss, net):
        seen.append(max(net.layers[0].bias.max(), net.layers[2].bias.max()))

    fit(mlp(), x, y, loss="cross_entropy", epochs=3, batch_size=10, lr=0.05, progress=False,
        constraint=NonPositiveBias(), callback=check)
    assert len(seen) == 60 and max(seen) <= 0.0
    free = mlp()
    fit(free, x, y, loss="cross_entropy", epochs=3, batch_size=10, lr=0.05, progress=False)
    assert max(free.layers[0].bias.max(), free.layers[2].bias.max()) > 0   # without it, biases go positive


def test_training_is_deterministic_per_seed():
    x, y = blobs()
    nets = [mlp(), mlp(), mlp()]
    for net, seed in zip(nets, (3, 3, 4)):
        fit(net, x, y, loss="cross_entropy", epochs=2, batch_size=16, lr=0.05, seed=seed, progress=False)
    for a, b in zip(nets[0].layers[::2], nets[1].layers[::2]):
        np.testing.assert_array_equal(a.weight, b.weight)
        np.testing.assert_array_equal(a.bias, b.bias)
    assert not np.array_equal(nets[0].layers[0].weight, nets[2].layers[0].weight)


def test_frozen_layers_stay_and_the_callers_arrays_are_not_modified():
    x, y = blobs()
    w0 = np.ones((1, 8))
    first = np.random.default_rng(0).normal(size=(8, 2))
    net = dtd.Sequential([Dense(first, np.zeros(8)), ReLU(), Dense(w0, [0.0])])
    fit(net, x, y.astype(float), epochs=1, batch_size=10, lr=0.01, frozen=[2], progress=False)
    np.testing.assert_array_equal(net.layers[2].weight, np.ones((1, 8)))
    assert net.layers[2].weight is w0
    assert not np.array_equal(net.layers[0].weight, first)       # trained, on a copy
    np.testing.assert_array_equal(first, np.random.default_rng(0).normal(size=(8, 2)))


def test_checkpoint_round_trip(tmp_path):
    x, y = blobs()
    net = mlp()
    path = tmp_path / "ck.npz"
    saved_at = []

    def spy(step, loss, n):
        if path.exists():
            saved_at.append(step)

    fit(net, x, y, loss="cross_entropy", epochs=2, batch_size=10, lr=0.05, progress=False,
        checkpoint=path, checkpoint_every=7, callback=spy)
    assert saved_at and saved_at[0] == 8         # first written at step 7, seen by the next callback
    back = dtd.load(path)
    for a, b in zip(net.layers, back.layers):
        for name in ("weight", "bias"):
            if hasattr(a, name):
                np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    np.testing.assert_array_equal(net.forward(x), back.forward(x))


def test_float32_training_and_uint8_inputs_through_preprocess():
    x, y = blobs()
    xu = np.clip((x + 4) * 30, 0, 255).astype(np.uint8)
    net = mlp()
    h = fit(net, xu, y, loss="cross_entropy", epochs=5, batch_size=10, lr=0.05, dtype=np.float32,
            preprocess=lambda b: b / 30.0 - 4, progress=False)
    assert net.layers[0].weight.dtype == np.float32 and net.layers[2].bias.dtype == np.float32
    assert h.epoch_loss[-1] < 0.5 * h.epoch_loss[0]
    with pytest.raises(TypeError, match="preprocess"):
        fit(mlp(), xu, y, loss="cross_entropy", progress=False)


def test_fit_rejects_bad_arguments():
    x, y = blobs()
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        fit(mlp(), x, y, loss="hinge", progress=False)
    with pytest.raises(ValueError, match="x has 200 samples but y has 3"):
        fit(mlp(), x, y[:3], progress=False)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        fit(mlp(), x, y, batch_size=0, progress=False)
    with pytest.raises(ValueError, match="no trainable layer"):
        fit(mlp(), x, y, frozen=[0, 2], progress=False)
    with pytest.raises(ValueError, match="lr must be > 0"):
        fit(mlp(), x, y, lr=-1.0, progress=False)
    with pytest.raises(ValueError, match="out of range"):
        fit(mlp(), x, y, frozen=[5], progress=False)
    big = mlp()
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        with np.errstate(over="ignore"):
            fit(big, x * 1e200, np.eye(2)[y], loss="squared", lr=1.0, progress=False)
