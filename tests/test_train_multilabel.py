"""dtd.train.sigmoid_cross_entropy (multi-label loss): value against the textbook formula, gradient against
finite differences, the ignore mask, large logits, float32, refusals."""
import numpy as np
import pytest

from dtd.train import fit, sigmoid_cross_entropy


def naive_bce(out, t):
    """float64 textbook formula (fine for moderate logits), mean over the batch of the sum over classes."""
    p = 1 / (1 + np.exp(-out))
    m = t != -1
    tt = np.where(m, t, 0)
    return -np.sum(m * (tt * np.log(p) + (1 - tt) * np.log(1 - p))) / len(out)


def test_sigmoid_cross_entropy_value_and_gradient_against_references():
    rng = np.random.default_rng(0)
    out = rng.normal(0, 2, size=(5, 4))
    t = rng.choice([0.0, 1.0, -1.0, 0.3], size=(5, 4))
    value, grad = sigmoid_cross_entropy(out, t)
    assert value == pytest.approx(naive_bce(out, t), rel=1e-13)
    # central differences, step 1e-6: truncation error O(h^2) ~ 1e-12, rounding ~ 1e-16 / 1e-6 = 1e-10
    h, fd = 1e-6, np.zeros_like(out)
    for idx in np.ndindex(out.shape):
        e = np.zeros_like(out)
        e[idx] = h
        fd[idx] = (sigmoid_cross_entropy(out + e, t)[0] - sigmoid_cross_entropy(out - e, t)[0]) / (2 * h)
    np.testing.assert_allclose(grad, fd, atol=1e-8)
    assert np.all(grad[t == -1] == 0)


def test_sigmoid_cross_entropy_large_logits_and_float32():
    value, grad = sigmoid_cross_entropy(np.array([[1000.0, -1000.0]]), np.array([[0, 0]]))
    assert value == pytest.approx(1000.0)                  # log(1 + e^1000) = 1000 + log(1 + e^-1000)
    assert grad.tolist() == [[1.0, 0.0]]
    out32 = np.array([[0.5, -2.0]], dtype=np.float32)
    v32, g32 = sigmoid_cross_entropy(out32, np.array([[1, 0]]))
    v64, g64 = sigmoid_cross_entropy(out32.astype(np.float64), np.array([[1, 0]]))
    assert g32.dtype == np.float32
    np.testing.assert_allclose(g32, g64, rtol=1e-6)        # float32 rounding of the logits' sigmoid
    assert v32 == pytest.approx(v64, rel=1e-6)


@pytest.mark.parametrize("out, t, exc, msg", [
    (np.zeros(3), np.zeros(3), ValueError, "shape \\(N, K\\)"),
    (np.zeros((2, 3)), np.zeros((2, 2)), ValueError, "do not fit"),
    (np.zeros((1, 2)), np.array([[np.nan, 0]]), ValueError, "NaN"),
    (np.zeros((1, 2)), np.array([[2, 0]]), ValueError, "\\[0, 1\\]"),
    (np.zeros((1, 2)), np.array([["a", "b"]]), TypeError, "numbers"),
])
def test_sigmoid_cross_entropy_refuses_bad_input(out, t, exc, msg):
    with pytest.raises(exc, match=msg):
        sigmoid_cross_entropy(out, t)


def test_fit_with_the_multilabel_loss_learns_a_linear_multilabel_task():
    from dtd import Sequential
    from dtd.layers import Dense
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    t = (x @ np.array([[2.0, -1.0], [0.0, 3.0], [-2.0, 0.5]]) > 0).astype(np.int64)
    t[::10, 1] = -1                                          # some entries ignored
    net = Sequential([Dense(np.zeros((2, 3)), np.zeros(2))])
    h = fit(net, x, t, loss=sigmoid_cross_entropy, epochs=20, batch_size=20, lr=0.5, progress=False)
    pred = net.forward(x) > 0
    assert h.loss[-20:].mean() < 0.25 * h.loss[:20].mean()
    assert np.mean(pred[t >= 0] == (t[t >= 0] == 1)) > 0.97
