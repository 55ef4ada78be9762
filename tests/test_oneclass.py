"""One-class DTD (issue 16): the neuralised one-class SVM, its rules, their derivation, from_sklearn.

References the tests compare against, independent of the code under test:

- scikit-learn's ``OneClassSVM.decision_function`` (libsvm), through the stated relation
  ``o(x) = -log((decision_function(x) + offset_) / S) / gamma`` (S = sum of dual_coef_ when
  normalised, 1 otherwise), and ``predict`` through :func:`dtd.kernels.decision_threshold`;
- ``scipy.special.logsumexp`` for the soft minimum where exp under/overflows;
- explicit Python loops (math.exp, sums over j and i) for every rule's closed form;
- central finite differences for every gradient;
- the DTD derivation: the root point is where the rule's docstring says (the soft minimum is 0
  there; the relevance model is 0 there), and the Taylor terms there are the rule's messages.

Tolerances: float64 is ground truth.  1e-10 relative (to the size of the terms: |o|, or
||x||^2 + ||u||^2 for distances, whose one-product forward rounds at about 1e-16 of that) for
closed forms, scikit-learn and conservation; finite differences with step 1e-6 have truncation
error ~1e-12 and rounding error ~1e-10 of the function's size, so rtol 1e-6.  float32 must agree
with float64 to 1e-4 relative (about 1000 ulps: the distances' cancellation on O(10) norms).
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.special import logsumexp

import dtd
from dtd.explainers import edge_detection, nearest_neighbor, sensitivity
from dtd.kernels import oneclass_network
from dtd.layers import SoftMinPool, SquaredDistance
from dtd.rules import OCDistance, OCSoftMin

TOL = 1e-10


def _model(rng, m=7, d=5, gamma=0.3, normalize=True):
    u = rng.normal(size=(m, d))
    a = rng.uniform(0.1, 1.0, size=m)
    if normalize:
        a /= a.sum()
    return oneclass_network(u, a, gamma), u, a


def _closed_o(x, u, a, gamma):
    """o(x) = -log sum_j a_j exp(-gamma ||x - u_j||^2) / gamma, by loops."""
    out = []
    for xn in x:
        f = 0.0
        for uj, aj in zip(u, a):
            f += aj * math.exp(-gamma * sum((xi - ui) ** 2 for xi, ui in zip(xn, uj)))
        out.append(-math.log(f) / gamma)
    return np.array(out)


# -- forward ----------------------------------------------------------------------------------
def test_forward_closed_form_and_shapes():
    rng = np.random.default_rng(0)
    net, u, a = _model(rng)
    x = rng.normal(size=(6, 5))
    o = net.forward(x)
    assert o.shape == (6, 1)
    np.testing.assert_allclose(o[:, 0], _closed_o(x, u, a, 0.3), rtol=TOL, atol=TOL)


def test_distance_layer_against_differences():
    rng = np.random.default_rng(1)
    u = rng.normal(size=(9, 4)) * 3
    b = rng.normal(size=9)
    x = rng.normal(size=(5, 4)) * 3
    x[0] = u[2]                                           # a sample on a centre: distance 0 exactly (clipped)
    h = SquaredDistance(u, b).forward(x)
    ref = np.array([[sum((xi - ui) ** 2 for xi, ui in zip(xn, uj)) + bj for uj, bj in zip(u, b)] for xn in x])
    scale = (x * x).sum(1)[:, None] + (u * u).sum(1)[None]
    assert np.all(np.abs(h - ref) <= TOL * scale)
    assert h[0, 2] - b[2] >= 0


def test_softmin_stable_where_exp_under_and_overflows():
    h = np.array([[1e4, 1e4 + 1.0, 2e4], [-1e4, -1e4 + 0.5, 0.0], [3.0, 3.0, 3.0]])
    for gamma in (0.5, 1.0, 50.0):
        o = SoftMinPool(gamma).forward(h)
        ref = -logsumexp(-gamma * h, axis=1) / gamma
        np.testing.assert_allclose(o[:, 0], ref, rtol=1e-14)
        assert np.all(o[:, 0] <= h.min(1)) and np.all(o[:, 0] >= h.min(1) - np.log(3) / gamma - 1e-12)


# -- scikit-learn -----------------------------------------------------------------------------
@pytest.mark.parametrize("gamma", ["scale", "auto", 0.05])
@pytest.mark.parametrize("normalize", [True, False])
def test_forward_equals_sklearn(gamma, normalize):
    svm = pytest.importorskip("sklearn.svm")
    from dtd.kernels import decision_threshold, from_sklearn
    rng = np.random.default_rng(2)
    X = rng.normal(size=(120, 6)) * [1, 2, 1, 0.5, 1, 3]
    model = svm.OneClassSVM(gamma=gamma, nu=0.2).fit(X)
    net = from_sklearn(model, normalize=normalize)
    xt = np.concatenate([X[:10], rng.normal(size=(30, 6)) * 2.5])
    S = model.dual_coef_.sum() if normalize else 1.0
    ref = -np.log((model.decision_function(xt) + model.offset_) / S) / model._gamma
    o = net.forward(xt)[:, 0]
    assert np.all(np.abs(o - ref) <= TOL * np.maximum(1, np.abs(ref)))
    np.testing.assert_allclose(model.offset_, -model.intercept_, rtol=0)
    theta = decision_threshold(model, normalize=normalize)
    pred = model.predict(xt)
    margin = np.abs(o - theta) > 1e-9                      # no sample on the boundary itself
    assert margin.sum() >= 35
    np.testing.assert_array_equal((o > theta)[margin], (pred == -1)[margin])
    if normalize:
        assert np.isclose(net.layers[0].bias, -np.log(model.dual_coef_[0] / S) / model._gamma, rtol=1e-14).all()
        assert (o >= 0).all()


def test_from_sklearn_errors():
    svm = pytest.importorskip("sklearn.svm")
    from dtd.kernels import from_sklearn
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 3))
    for kernel in ("linear", "poly", "sigmoid"):
        with pytest.raises(ValueError, match=f"kernel {kernel} is not supported.*rbf"):
            from_sklearn(svm.OneClassSVM(kernel=kernel).fit(X))
    with pytest.raises(ValueError, match="callable.*not supported"):
        from_sklearn(svm.OneClassSVM(kernel=lambda a, b: a @ b.T).fit(X))
    with pytest.raises(ValueError, match="not fitted"):
        from_sklearn(svm.OneClassSVM())
    with pytest.raises(TypeError, match="OneClassSVM, got sklearn.svm._classes.SVC"):
        from_sklearn(svm.SVC())
    with pytest.raises(TypeError, match="OneClassSVM"):
        from_sklearn({"support_vectors_": X})
    model = svm.OneClassSVM(nu=0.3).fit(X)
    model.dual_coef_ = model.dual_coef_.copy()
    model.dual_coef_[0, 1] = 0.0
    with pytest.raises(ValueError, match=r"coefficients <= 0 \(first: dual_coef_\[0, 1\] = 0.0\)"):
        from_sklearn(model)


def test_network_constructor_errors():
    with pytest.raises(ValueError, match=r"alpha_j must be > 0.*alpha\[1\] = -0.5"):
        oneclass_network([[0.0], [1.0]], [0.5, -0.5], 1.0)
    with pytest.raises(ValueError, match=r"alpha must have shape \(2,\)"):
        oneclass_network([[0.0], [1.0]], [1.0], 1.0)
    with pytest.raises(ValueError, match="gamma must be finite and > 0"):
        oneclass_network([[0.0]], [1.0], 0.0)
    with pytest.raises(TypeError, match="gamma must be a number"):
        SoftMinPool("wide")
    with pytest.raises(ValueError, match="centers is empty"):
        SquaredDistance(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="bias has 1 entries, centers has 2 rows"):
        SquaredDistance(np.zeros((2, 3)), [1.0])
    with pytest.raises(ValueError, match="beta must be finite and >= 0"):
        OCSoftMin(beta=-1)
    net = oneclass_network([[0.0, 0.0]], [1.0], 1.0)
    with pytest.raises(ValueError, match="3 channels/features on axis 1, expected 2"):
        net.forward(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="2 dimensions"):
        net.forward(np.zeros(2))
    with pytest.raises(TypeError, match="dtype int64"):
        net.forward(np.zeros((1, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="NaN or Inf"):
        net.explain(np.array([[np.nan, 0.0]]), None)
    with pytest.raises(TypeError, match="does not apply"):
        net.layers[0].relevance(np.zeros((1, 2)), np.ones((1, 1)), OCSoftMin())


# -- gradients --------------------------------------------------------------------------------
def _fd_gradient(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[idx] = eps
        g[idx] = (f(x + e) - f(x - e)) / (2 * eps)
    return g


def test_gradients_by_finite_differences():
    rng = np.random.default_rng(4)
    net, u, a = _model(rng, m=5, d=3, gamma=0.7)
    x = rng.normal(size=(3, 3))
    dist, pool = net.layers
    gy = rng.normal(size=(3, 5))
    np.testing.assert_allclose(dist.backward(x, gy), _fd_gradient(lambda z: (dist.forward(z) * gy).sum(), x),
                               rtol=1e-6, atol=1e-8)
    h = dist.forward(x)
    gh = rng.normal(size=(3, 1))
    np.testing.assert_allclose(pool.backward(h, gh), _fd_gradient(lambda z: (pool.forward(z) * gh).sum(), h),
                               rtol=1e-6, atol=1e-8)
    g, _ = net.gradient(x, None)
    np.testing.assert_allclose(g, _fd_gradient(lambda z: net.forward(z).sum(), x), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(sensitivity(net, x), g * g, rtol=1e-14)


# -- the rules against their closed forms (explicit loops) -------------------------------------
def test_ocsoftmin_closed_form():
    rng = np.random.default_rng(5)
    h = rng.uniform(0, 4, size=(4, 6))
    R = rng.normal(size=(4, 1))
    layer = SoftMinPool(0.8)
    for beta in (None, 0.0, 2.5):
        b = 0.8 if beta is None else beta
        ref = np.zeros_like(h)
        for n in range(4):
            Z = sum(math.exp(-b * h[n, k]) for k in range(6))
            for j in range(6):
                ref[n, j] = math.exp(-b * h[n, j]) / Z * R[n, 0]
        np.testing.assert_allclose(layer.relevance(h, R, OCSoftMin(beta)), ref, rtol=TOL, atol=1e-300)


def test_ocdistance_closed_form():
    rng = np.random.default_rng(6)
    u = rng.normal(size=(5, 4))
    layer = SquaredDistance(u, rng.uniform(0, 1, size=5))
    x = rng.normal(size=(3, 4))
    R = rng.normal(size=(3, 5))
    ref = np.zeros_like(x)
    for n in range(3):
        for i in range(4):
            for j in range(5):
                dj = sum((x[n, k] - u[j, k]) ** 2 for k in range(4))
                ref[n, i] += (x[n, i] - u[j, i]) ** 2 / dj * R[n, j]
    np.testing.assert_allclose(layer.relevance(x, R), ref, rtol=TOL)
    np.testing.assert_allclose(layer.relevance(x, R).sum(1), R.sum(1), rtol=TOL)     # the bias is not sent


def test_ocdistance_pieces_independent_of_tile(monkeypatch):
    import dtd.layers.distance as distance
    rng = np.random.default_rng(7)
    layer = SquaredDistance(rng.normal(size=(8, 6)))
    x, R = rng.normal(size=(11, 6)), rng.uniform(size=(11, 8))
    whole = layer.relevance(x, R)
    monkeypatch.setattr(distance, "TILE", 8 * 6 * 8 * 3)      # three samples a piece
    np.testing.assert_allclose(layer.relevance(x, R), whole, rtol=1e-15)


# -- the derivation ----------------------------------------------------------------------------
def test_ocsoftmin_root_point_and_taylor_terms():
    rng = np.random.default_rng(8)
    layer = SoftMinPool(1.3)
    h = rng.uniform(0, 5, size=(5, 7))
    o = layer.forward(h)
    ht = OCSoftMin.root_point(layer, h)
    # on the search line h - t 1 (v = 1) at t = o, and the soft minimum is zero there
    np.testing.assert_allclose(h - ht, o * OCSoftMin.search_direction(layer, h), rtol=TOL)
    assert np.all(np.abs(layer.forward(ht)) <= TOL * np.abs(h).max())
    # first-order terms at the root, from the layer's gradient at ht, are the rule's messages and sum to o exactly
    terms = layer.backward(ht, np.ones_like(o)) * (h - ht)
    np.testing.assert_allclose(terms, layer.relevance(h, o), rtol=TOL)
    np.testing.assert_allclose(OCSoftMin.taylor_messages(layer, h, o), terms, rtol=TOL)
    np.testing.assert_allclose(terms.sum(1), o[:, 0], rtol=TOL)


def test_ocdistance_root_point_and_taylor_terms():
    rng = np.random.default_rng(9)
    u = rng.normal(size=(4, 3))
    layer = SquaredDistance(u, rng.uniform(size=4))
    x = rng.normal(size=(2, 3))
    R = rng.uniform(0.5, 2, size=(2, 4))
    d = layer.distances(x)
    c = R / d
    xt = OCDistance.root_point(layer, x)
    v = OCDistance.search_direction(layer, x)
    np.testing.assert_allclose(xt, x[:, None, :] - v, rtol=TOL)
    for n in range(2):
        for j in range(4):
            model = lambda z: c[n, j] * ((z - u[j]) ** 2).sum()        # relevance model R_j(x) = c_j ||x - u_j||^2
            np.testing.assert_allclose(xt[n, j], u[j], rtol=TOL)
            assert model(xt[n, j]) <= 1e-20 * c[n, j]                # zero up to the rounding of x - (x - u)
            grad_root = _fd_gradient(model, xt[n, j])
            assert np.abs(grad_root).max() <= 1e-8                 # first-order terms at the root vanish ...
            H = np.array([_fd_gradient(lambda z: _fd_gradient(model, z, 1e-4)[i], xt[n, j], 1e-4) for i in range(3)])
            np.testing.assert_allclose(H, 2 * c[n, j] * np.eye(3), atol=1e-5 * c[n, j])  # ... the Hessian is diagonal
            second = 0.5 * np.diag(H) * (x[n] - xt[n, j]) ** 2
            mid = _fd_gradient(model, (x[n] + xt[n, j]) / 2) * (x[n] - xt[n, j])      # mean-value first-order terms
            msg = (x[n] - u[j]) ** 2 / d[n, j] * R[n, j]
            np.testing.assert_allclose(second, msg, rtol=1e-5)
            np.testing.assert_allclose(mid, msg, rtol=1e-6)
            np.testing.assert_allclose(OCDistance.taylor_messages(layer, x, R)[n, j], msg, rtol=TOL)
    np.testing.assert_allclose(OCDistance.taylor_messages(layer, x, R).sum(1), layer.relevance(x, R), rtol=TOL)


# -- conservation, positivity, and where they stop ---------------------------------------------
@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2 ** 31 - 1), m=st.integers(1, 12), d=st.integers(1, 9),
       log_gamma=st.floats(-3, 2), spread=st.floats(0.1, 5))
def test_oc_dtd_conserves_and_is_positive(seed, m, d, log_gamma, spread):
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.01, 1, size=m)
    net = oneclass_network(rng.normal(size=(m, d)), a / a.sum(), 10.0 ** log_gamma)
    x = rng.normal(size=(4, d)) * spread
    o = net.forward(x)[:, 0]
    R = net.explain(x, None)
    assert (o >= -1e-12).all()                                    # sum alpha = 1 => f <= 1 => o >= 0
    assert (R >= 0).all()
    assert np.all(np.abs(R.sum(1) - o) <= TOL * np.maximum(1, o))
    Rb = net.explain(x, [None, OCSoftMin(beta=0.5)])              # the beta variant conserves too
    assert np.all(np.abs(Rb.sum(1) - o) <= TOL * np.maximum(1, o))


def test_unnormalised_inlier_has_negative_score_and_relevance():
    # sum alpha > 1: f(x) > 1 near the data, o < 0, and OC-DTD (still conservative) is negative there
    net = oneclass_network([[0.0, 0.0], [1.0, 0.0]], [3.0, 2.0], 1.0)
    x = np.array([[0.4, 0.1]])
    o = net.forward(x)[0, 0]
    R = net.explain(x, None)
    assert o < 0 and (R < 0).all()
    np.testing.assert_allclose(R.sum(), o, rtol=TOL)


def test_sample_on_a_support_vector_loses_that_share():
    rng = np.random.default_rng(10)
    net, u, a = _model(rng, m=4, d=3, gamma=0.5)
    x = u[[1]].copy()
    Rs = net.explain(x, None, return_all=True)
    o = net.forward(x)[0, 0]
    lost = Rs[1][0, 1]                                            # R_j of the centre the sample sits on
    assert lost > 0
    np.testing.assert_allclose(o - Rs[0].sum(), lost, rtol=1e-9)   # measured loss = that R_j, nothing else
    np.testing.assert_allclose(Rs[1][0].sum(), o, rtol=TOL)        # the pooling rule itself conserves


# -- float32, save/load -------------------------------------------------------------------------
def test_float32_matches_float64():
    rng = np.random.default_rng(11)
    net, _, _ = _model(rng, m=20, d=10, gamma=0.1)
    x = rng.normal(size=(5, 10)) * 2
    o64, R64 = net.forward(x), net.explain(x, None)
    o32, R32 = net.forward(x.astype(np.float32)), net.explain(x.astype(np.float32), None)
    assert o32.dtype == np.float32 and R32.dtype == np.float32
    np.testing.assert_allclose(o32, o64, rtol=1e-4)
    np.testing.assert_allclose(R32, R64, rtol=1e-4, atol=1e-4 * np.abs(R64).max())


def test_save_load_roundtrip(tmp_path):
    rng = np.random.default_rng(12)
    net, _, _ = _model(rng)
    path = tmp_path / "ocsvm.npz"
    dtd.save(net, path)
    back = dtd.load(path)
    assert [type(l).__name__ for l in back.layers] == ["SquaredDistance", "SoftMinPool"]
    assert back.layers[1].gamma == net.layers[1].gamma
    x = rng.normal(size=(4, 5))
    np.testing.assert_array_equal(back.forward(x), net.forward(x))
    np.testing.assert_array_equal(back.explain(x, None), net.explain(x, None))


# -- baselines -----------------------------------------------------------------------------------
def test_nearest_neighbor_closed_form():
    rng = np.random.default_rng(13)
    u = rng.normal(size=(6, 4))
    x = rng.normal(size=(3, 4))
    R = nearest_neighbor(x, u)
    for n in range(3):
        j = min(range(6), key=lambda k: sum((x[n, i] - u[k, i]) ** 2 for i in range(4)))
        np.testing.assert_allclose(R[n], (x[n] - u[j]) ** 2, rtol=TOL)
    # the hard-minimum limit of OC-DTD's pooling rule: shares go to the nearest centre (up to the scale)
    net = oneclass_network(u, np.full(6, 1 / 6), 1.0)
    Rh = net.explain(x, [None, OCSoftMin(beta=1e6)])
    np.testing.assert_allclose(Rh / Rh.sum(1, keepdims=True), R / R.sum(1, keepdims=True), rtol=1e-9)


def test_edge_detection_closed_form():
    rng = np.random.default_rng(14)
    img = rng.uniform(size=(2, 5, 6))
    R = edge_detection(img.reshape(2, 30), shape=(5, 6))
    assert R.shape == (2, 30)

    def px(a, i, j):                                   # reflect at the border ('reflect': a[-1] = a[0])
        i = -i - 1 if i < 0 else (2 * a.shape[0] - i - 1 if i >= a.shape[0] else i)
        j = -j - 1 if j < 0 else (2 * a.shape[1] - j - 1 if j >= a.shape[1] else j)
        return a[i, j]

    for n in range(2):
        for i in range(5):
            for j in range(6):
                taps = ((-1, 1), (0, 2), (1, 1))
                gh = sum(w * (px(img[n], i + 1, j + k) - px(img[n], i - 1, j + k)) for k, w in taps)
                gw = sum(w * (px(img[n], i + k, j + 1) - px(img[n], i + k, j - 1)) for k, w in taps)
                np.testing.assert_allclose(R[n, i * 6 + j], (gh / 8) ** 2 + (gw / 8) ** 2, rtol=1e-12, atol=1e-15)
    with pytest.raises(ValueError, match="need images"):
        edge_detection(img.reshape(2, 30))


def test_load_refuses_a_bad_one_class_file(tmp_path):
    import json
    from dtd.io.errors import ModelFileError
    rng = np.random.default_rng(15)
    net, _, _ = _model(rng, m=3, d=2)
    good = tmp_path / "good.npz"
    dtd.save(net, good)
    with np.load(good, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arch = json.loads(str(arrays["__architecture__"]))
    arch["layers"][1]["config"]["gamma"] = -1.0
    bad = tmp_path / "bad_gamma.npz"
    np.savez(bad, **{**arrays, "__architecture__": np.array(json.dumps(arch))})
    with pytest.raises(ModelFileError, match=r"layer 1 \(SoftMinPool\): .*gamma must be finite and > 0"):
        dtd.load(bad)
    arrays["0.bias"] = np.zeros(2)
    bad = tmp_path / "bad_bias.npz"
    np.savez(bad, **arrays)
    with pytest.raises(ModelFileError, match=r"layer 0 \(SquaredDistance\): .*bias has 2 entries, centers has 3 rows"):
        dtd.load(bad)


def test_from_sklearn_fitted_on_sparse_data():
    svm = pytest.importorskip("sklearn.svm")
    from scipy import sparse
    from dtd.kernels import from_sklearn
    rng = np.random.default_rng(16)
    X = rng.normal(size=(60, 4)) * (rng.uniform(size=(60, 4)) < 0.6)
    model = svm.OneClassSVM(gamma=0.2, nu=0.3).fit(sparse.csr_matrix(X))
    assert sparse.issparse(model.support_vectors_)
    net = from_sklearn(model)
    xt = rng.normal(size=(8, 4))
    ref = -np.log((model.decision_function(sparse.csr_matrix(xt)) + model.offset_) / model.dual_coef_.sum()) / 0.2
    np.testing.assert_allclose(net.forward(xt)[:, 0], ref, rtol=TOL)
