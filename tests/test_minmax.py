"""dtd.minmax: the min-max relevance model (seed 001) against its formula, finite differences and a teacher."""
import numpy as np
import pytest

from dtd.minmax import MinMaxModel
from dtd.rules import WSquare, ZBox, ZPlus


def random_model(K=2, J=3, D=5, L=4, seed=0):
    rng = np.random.default_rng(seed)
    return MinMaxModel(rng.normal(size=(K, J, D)), rng.normal(size=(K, J, L)), rng.normal(size=(K, J)))


def test_forward_matches_the_formula_written_with_loops():
    m = random_model()
    rng = np.random.default_rng(1)
    x, c = rng.uniform(size=(6, 5)), rng.normal(size=(6, 4))
    expect = np.zeros((6, 2))
    for n in range(6):
        for k in range(2):
            for j in range(3):
                a = min(0.0, sum(c[n, l] * m.u[k, j, l] for l in range(4)) + m.d[k, j])
                expect[n, k] += max(0.0, sum(x[n, i] * m.v[k, j, i] for i in range(5)) + a)
    np.testing.assert_allclose(m.forward(x, c), expect, rtol=1e-13, atol=1e-14)
    assert (m.parts(x, c)[2] >= 0).all()


def test_objective_gradient_matches_finite_differences():
    m = random_model(seed=2)
    rng = np.random.default_rng(3)
    x, c, R = rng.uniform(size=(20, 5)), rng.normal(size=(20, 4)), rng.uniform(size=(20, 2))
    _, grads = m.objective(x, c, R)
    h = 1e-6
    for name, g in zip(("v", "u", "d"), grads):
        p = getattr(m, name)
        fd = np.zeros_like(p)
        for k in np.ndindex(p.shape):
            old = p[k]
            p[k] = old + h
            up = m.objective(x, c, R)[0]
            p[k] = old - h
            down = m.objective(x, c, R)[0]
            p[k] = old
            fd[k] = (up - down) / (2 * h)
        # central differences: O(h^2) error away from kinks (random data avoids them), float64
        np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-9, err_msg=name)


@pytest.mark.parametrize("rule", [ZPlus(), WSquare(), ZBox(0.0, 1.0)])
def test_relevance_is_conservative_and_positive_with_respect_to_the_model(rule):
    m = random_model(K=3, J=4, D=6, L=2, seed=4)
    rng = np.random.default_rng(5)
    x, c = rng.uniform(size=(30, 6)), rng.normal(size=(30, 2))
    Rx = m.relevance(x, c, rule)
    # every active detector has pre + a > 0 with a <= 0, so sum_i x_i v_i > 0: each rule's denominator is > 0
    np.testing.assert_allclose(Rx.sum(axis=1), m.forward(x, c).sum(axis=1), rtol=1e-12)
    assert Rx.min() >= -1e-15


def test_relevance_equals_the_zplus_closed_form():
    m = random_model(K=2, J=2, D=4, L=3, seed=6)
    rng = np.random.default_rng(7)
    x, c = rng.uniform(size=(5, 4)), rng.normal(size=(5, 3))
    y = m.parts(x, c)[2]
    vp = np.maximum(m.v, 0)
    expect = np.zeros_like(x)
    for n in range(5):
        for k in range(2):
            for j in range(2):
                q = x[n] * vp[k, j]
                if q.sum() > 0:
                    expect[n] += q / q.sum() * y[n, k, j]
    np.testing.assert_allclose(m.relevance(x, c), expect, rtol=1e-12, atol=1e-15)


def test_relevance_rescaled_to_the_true_relevance_conserves_it():
    m = random_model(K=2, J=3, D=5, L=4, seed=8)
    rng = np.random.default_rng(9)
    x, c = rng.uniform(size=(10, 5)), rng.normal(size=(10, 4))
    R = rng.uniform(size=(10, 2))
    Rhat = m.forward(x, c)
    Rx = m.relevance(x, c, R=R)
    expect = np.where(Rhat > 0, R, 0).sum(axis=1)
    np.testing.assert_allclose(Rx.sum(axis=1), expect, rtol=1e-12)


def test_fit_recovers_a_detection_pooling_teacher():
    # teacher: R_k = sum_j max(0, x . w_kj + b_kj), b <= 0, plus a context-dependent negative bias
    rng = np.random.default_rng(10)
    K, J, D, L, N = 2, 3, 6, 2, 1000
    w = np.abs(rng.normal(size=(K, J, D)))
    teacher = MinMaxModel(w, rng.normal(size=(K, J, L)), -np.abs(rng.normal(size=(K, J))))
    x, c = rng.uniform(size=(N, D)), rng.normal(size=(N, L))
    R = teacher.forward(x, c)
    start = MinMaxModel.init(x, c, R, n_detectors=J, seed=0)
    model, info = MinMaxModel.fit(x, c, R, n_detectors=J, seed=0, max_iter=500)
    assert info["r2"] > 0.99
    assert info["loss"] < 0.01 * start.objective(x, c, R)[0]
    xt, ct = rng.uniform(size=(300, D)), rng.normal(size=(300, L))       # held out
    err = model.forward(xt, ct) - teacher.forward(xt, ct)
    assert np.sqrt(np.mean(err ** 2)) < 0.1 * teacher.forward(xt, ct).std()


def test_fit_is_deterministic_and_works_without_context():
    rng = np.random.default_rng(11)
    x = rng.uniform(size=(200, 4))
    R = np.maximum(x @ np.array([[1.0], [2.0], [0.5], [0.0]]) - 0.5, 0)
    a, ia = MinMaxModel.fit(x, None, R, n_detectors=2, seed=1, max_iter=50)
    b, _ = MinMaxModel.fit(x, None, R, n_detectors=2, seed=1, max_iter=50)
    np.testing.assert_array_equal(a.v, b.v)
    assert a.shape == (1, 2, 4, 0) and ia["r2"] > 0.9
    assert a.relevance(x).shape == (200, 4)


def test_bad_input_is_refused_with_clear_messages():
    m = random_model()
    with pytest.raises(ValueError, match="x has 3 columns, expected 5"):
        m.forward(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="x has 2 rows but c has 3"):
        m.forward(np.zeros((2, 5)), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="contains NaN"):
        m.forward(np.full((2, 5), np.nan), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="disagree on"):
        MinMaxModel(np.zeros((2, 3, 5)), np.zeros((2, 2, 4)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="R must have shape"):
        m.relevance(np.zeros((2, 5)), np.zeros((2, 4)), R=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="same number of rows"):
        MinMaxModel.fit(np.zeros((4, 5)), np.zeros((4, 4)), np.zeros((3, 2)))
