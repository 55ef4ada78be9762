"""Item 2 of the core issue: each DTD rule checked against its derivation.

For a one-layer ReLU detection neuron ``x_j = max(0, sum_i x_i w_ij + b_j)`` with
``R_j = x_j`` (Montavon et al. 2017, Sec. 4), for every neuron with ``R_j > 0``:

- the root point ``x~(j) = x - t v(j)`` along the rule's search direction has
  zero pre-activation (|z(x~)| <= 1e-10 relative to the size of the terms);
- it lies in the rule's input domain (x~ >= 0 for z+; l <= x~ <= h for z^B;
  any point for w^2);
- it lies on the search line the seeds describe, built here from their text and
  not from the rules' ``search_direction``: the segment from x to the point
  ``c(j)`` where the rule's relevance model vanishes (z+: ``c_i = 0`` where
  ``w_ij > 0``, else ``x_i``; z^B: ``l_i`` / ``h_i`` where ``w_ij`` > 0 / < 0,
  else ``x_i``), at a step in (0, 1]; for w^2 the line ``x - s w_j``, s > 0
  (residual <= 1e-9 relative);
- the first-order Taylor terms at it, ``w_ij (x_i - x~_i) R_j / z_j``, are the
  rule's messages, and summed over j they give the rule's fast path
  (rtol 1e-10, float64).

Checked on Dense layers and on convolutions unrolled to dense matrices.

z^B's root point is in the box exactly when ``m_j = b_j + sum_i l_i w_ij^+ +
h_i w_ij^-`` (the smallest z_j over the box) is <= 0 (ZBox's docstring): the two
counterexamples of issue 15 by hand, and the condition against the root point
found by a scalar root search (scipy's brentq on the layer's own forward) on
random layers, boxes that may exclude 0 and biases of both signs.

LRP-0 is DTD at the origin (seed 000): the root of z_j on the line ``s x`` found
by brentq on the layer's forward, the gradient there by central differences
(exact for a linear map up to rounding: rtol 1e-8).
"""
import numpy as np
import pytest

from scipy.optimize import brentq

from dtd import Sequential
from dtd.evaluate import root_points
from dtd.layers import Conv2d, Dense, ReLU
from dtd.rules import Epsilon, WSquare, ZBox, ZPlus

from _matrices import dense_matrix

TOL = 1e-10


def _cases(rng):
    dense = Dense(rng.normal(0.3, 1.0, size=(6, 8)), -np.abs(rng.normal(size=6)) * 0.3)
    conv = Conv2d(rng.normal(size=(3, 2, 3, 3)), -np.abs(rng.normal(size=3)) * 0.3, stride=2, padding=1)
    return [(dense, (8,)), (conv, (2, 5, 5))]


def _domain_input(rule, shape, rng, n=8):
    if isinstance(rule, ZPlus):
        x = np.abs(rng.normal(size=(n,) + shape))
        x[0].flat[::3] = 0.0  # zero activations
        return x
    if isinstance(rule, ZBox):
        lo, hi = rule.low, rule.high
        return lo + (hi - lo) * rng.uniform(size=(n,) + shape)
    return rng.normal(size=(n,) + shape)


RULES = {
    "zplus": lambda shape, rng: ZPlus(),
    "wsquare": lambda shape, rng: WSquare(),
    "zbox-scalar": lambda shape, rng: ZBox(-1.0, 2.0),
    "zbox-pixels": lambda shape, rng: ZBox(0.0, 1.0),
    "zbox-array": lambda shape, rng: ZBox(-rng.uniform(0.1, 1, size=shape), rng.uniform(0.1, 1, size=shape)),
}


@pytest.mark.parametrize("rule_name", list(RULES))
@pytest.mark.parametrize("case", [0, 1], ids=["dense", "conv"])
def test_root_point_and_taylor_terms(rule_name, case):
    rng = np.random.default_rng(7 + case)
    layer, shape = _cases(rng)[case]
    rule = RULES[rule_name](shape, rng)
    x = _domain_input(rule, shape, rng)
    N = x.shape[0]
    W, b, _ = dense_matrix(layer, shape)
    xf = x.reshape(N, -1)
    if isinstance(rule, ZBox):
        lo, hi = (a.reshape(N, -1) for a in rule.bounds(x))
        rule_flat = ZBox(lo[0], hi[0])
    else:
        rule_flat = rule
    z = xf @ W.T + b
    R = np.maximum(z, 0)                        # R_j = x_j, the detection neuron's output
    active = R > 0
    assert active.sum() >= 4, "the case must have active neurons to test"

    root = rule_flat.root_point(W, b, xf)       # (N, out, in)
    # 1. on the plane: sum_i x~_i w_ij + b_j = 0 for every active neuron
    z_root = np.einsum("nji,ji->nj", root, W) + b
    scale = np.einsum("nji,ji->nj", np.abs(root), np.abs(W)) + np.abs(b)
    assert np.all(np.abs(z_root[active]) <= TOL * np.maximum(scale[active], 1.0))
    # 2. in the domain
    r = root[active]                            # (n_active, in)
    if isinstance(rule, ZPlus):
        assert r.min() >= -TOL
    elif isinstance(rule, ZBox):
        lo_b = np.broadcast_to(lo[:, None, :], root.shape)[active]
        hi_b = np.broadcast_to(hi[:, None, :], root.shape)[active]
        assert np.all(r >= lo_b - TOL) and np.all(r <= hi_b + TOL)
    # the root point is on the seeds' search line, built here from their text (not from search_direction)
    x_b = np.broadcast_to(xf[:, None, :], root.shape)
    if isinstance(rule, WSquare):                  # the line x - s w_j, s > 0
        d = -np.broadcast_to(W[None], root.shape)
    elif isinstance(rule, ZPlus):                  # segment to c_i = 0 where w_ij > 0, else x_i
        d = np.where(W[None] > 0, 0.0, x_b) - x_b
    else:                                          # segment to c_i = l_i (w > 0), h_i (w < 0), else x_i
        lo_b, hi_b = np.broadcast_to(lo[:, None, :], root.shape), np.broadcast_to(hi[:, None, :], root.shape)
        d = np.where(W[None] > 0, lo_b, np.where(W[None] < 0, hi_b, x_b)) - x_b
    step = root - x_b
    s = np.einsum("nji,nji->nj", step, d) / np.maximum(np.einsum("nji,nji->nj", d, d), 1e-300)
    resid = np.abs(step - s[:, :, None] * d).max(axis=2)
    assert np.all(resid[active] <= 1e-9 * np.maximum(np.abs(x_b).max(axis=2), 1.0)[active])
    assert s[active].min() > 0
    if not isinstance(rule, WSquare):
        assert s[active].max() <= 1 + 1e-12        # within the segment: the far end is in the domain

    # 3. Taylor terms are the rule's messages; summed they are the fast path
    terms = rule_flat.taylor_messages(W, b, xf, R)          # (N, out, in)
    for k in range(N):
        for j in np.flatnonzero(active[k]):
            q = rule_flat.explicit_groups(W, b, xf[k:k + 1], W != 0)[0][1][0, j]  # the rule's q_ij
            np.testing.assert_allclose(terms[k, j], q / q.sum() * R[k, j], rtol=TOL, atol=1e-13)
    # conservation of each neuron's relevance (first-order terms are exact for a linear neuron)
    np.testing.assert_allclose(terms.sum(axis=2)[active], R[active], rtol=TOL)
    fast = layer.relevance(x, R.reshape(layer.forward(x).shape), rule).reshape(N, -1)
    np.testing.assert_allclose(terms.sum(axis=1), fast, rtol=TOL, atol=1e-13)


def test_lrp0_is_dtd_at_the_origin():
    """Seed 000: with b = 0 the detection neuron R_j = max(0, z_j) has its root on the line s x (direction
    v = x) at the origin, and its first-order Taylor terms there are LRP-0's messages.  The root by brentq
    on the layer's own forward, the gradient at the root by central differences of the forward (a linear
    map: exact up to rounding, rtol 1e-8); compared with the LRP-0 fast path."""
    rng = np.random.default_rng(1)
    layer = Dense(rng.normal(size=(4, 5)), np.zeros(4))
    x = np.abs(rng.normal(size=(3, 5)))
    z = layer.forward(x)
    R = np.maximum(z, 0)
    assert (R > 0).sum() >= 4
    h = 1e-3
    E = h * np.eye(5)
    expect = np.zeros_like(x)
    for n, j in zip(*np.nonzero(R)):
        s0 = brentq(lambda s: layer.forward(s * x[n:n + 1])[0, j], -1.0, 1.0, xtol=1e-15)
        root = s0 * x[n]
        assert np.abs(root).max() <= 1e-12                      # the origin
        grad = (layer.forward(root + E)[:, j] - layer.forward(root - E)[:, j]) / (2 * h)
        expect[n] += grad * (x[n] - root)                       # sum_i dR_j/dx_i (x_i - x~_i), R_j(x~) = 0
    np.testing.assert_allclose(layer.relevance(x, R, Epsilon(0.0)), expect, rtol=1e-8, atol=1e-10)


def test_zbox_root_point_condition_counterexamples():
    """Issue 15's two cases: the z^B root point leaves the box, and root_point_outside says so."""
    layer = Dense([[1.0, 1.0]], [0.0])
    x = np.array([[1.0, 1.0]])
    W, b = layer.weight, layer.bias
    # box [0.5, 1]^2, b = 0: m = 0 + 0.5 + 0.5 = 1 > 0; t = z / (z - m) = 2 / 1: root (1, 1) - 2 (0.5, 0.5)
    rule = ZBox(0.5, 1.0)
    np.testing.assert_allclose(rule.root_point(W, b, x)[0, 0], [0.0, 0.0], atol=1e-15)
    assert rule.box_minimum(layer, x).tolist() == [[1.0]]
    assert rule.root_point_outside(layer, x).tolist() == [[True]]
    # box [0, 1]^2, b = +1: m = 1; t = 3 / 2: root (1, 1) - 1.5 (1, 1) = (-0.5, -0.5)
    rule, pos = ZBox(0.0, 1.0), Dense([[1.0, 1.0]], [1.0])
    np.testing.assert_allclose(rule.root_point(W, pos.bias, x)[0, 0], [-0.5, -0.5], atol=1e-15)
    assert rule.box_minimum(pos, x).tolist() == [[1.0]]
    assert rule.root_point_outside(pos, x).tolist() == [[True]]
    # the same boxes with the condition met: b = -1 on [0.5, 1] (m = 0: the root is the corner (0.5, 0.5)),
    # b = 0 and b = -0.5 on [0, 1]
    for rule, bias, want in [(ZBox(0.5, 1.0), -1.0, [0.5, 0.5]), (ZBox(0.0, 1.0), 0.0, [0.0, 0.0]),
                             (ZBox(0.0, 1.0), -0.5, [0.25, 0.25])]:
        lay = Dense([[1.0, 1.0]], [bias])
        np.testing.assert_allclose(rule.root_point(W, lay.bias, x)[0, 0], want, atol=1e-15)
        assert rule.root_point_outside(lay, x).tolist() == [[False]]
    # through a network: dtd.evaluate.root_points flags the first case's layer, not the others
    net = Sequential([Dense([[1.0, 1.0], [1.0, -1.0]], [0.0, 0.0]), ReLU(), Dense([[1.0, 1.0]], [0.0])])
    res = root_points(net, np.array([[1.0, 0.75]]), [ZBox(0.5, 1.0), None, None])
    assert res.names == ["0"] and res.outside["0"].tolist() == [[True, False]] and not res.ok
    assert root_points(net, np.array([[1.0, 0.75]]), [ZBox(0.0, 1.0), None, None]).ok
    assert root_points(net, np.array([[1.0, 0.75]]), Epsilon(0.0)).names == []


def test_zbox_root_point_condition_is_exact():
    """On random layers, boxes (some excluding 0) and biases of both signs: for x in the box and z_j > 0,
    the root point on the segment from x to the corner c(j) (found by brentq on the layer's forward) is in
    the box iff b_j + sum_i (l_i w_ij^+ + h_i w_ij^-) <= 0, i.e. iff root_point_outside is False; and the
    conv layer's check equals the one on its unrolled matrix."""
    n_in = n_out = 0
    for seed in range(6):
        rng = np.random.default_rng(100 + seed)
        shape = (2, 4, 4)
        low = rng.uniform(-1.0, 0.6, size=shape)
        high = low + rng.uniform(0.2, 1.5, size=shape)
        rule = ZBox(low, high)
        conv = Conv2d(rng.normal(size=(3, 2, 3, 3)), rng.normal(0.5, 2.0, size=3), padding=1)
        conv.weight[0, 0, 0, 0] = 0.0                     # a zero weight: that input does not move
        x = low + (high - low) * rng.uniform(size=(4,) + shape)
        W, b, _ = dense_matrix(conv, shape)
        lo, hi = low.reshape(-1), high.reshape(-1)
        flagged = rule.root_point_outside(conv, x).reshape(4, -1)
        dense = Dense(W, b)
        np.testing.assert_array_equal(flagged, ZBox(lo, hi).root_point_outside(dense, x.reshape(4, -1)))
        z = x.reshape(4, -1) @ W.T + b
        for n, j in zip(*np.nonzero(z > 0)):
            xv = x[n].reshape(-1)
            c = np.where(W[j] > 0, lo, np.where(W[j] < 0, hi, xv))
            zc = W[j] @ c + b[j]
            # z > 0 on the whole segment when zc > 0: the root then lies beyond c, on the same line
            s0 = brentq(lambda s: W[j] @ (xv + s * (c - xv)) + b[j], 0.0, 1e6 if zc > 0 else 1.0)
            root = xv + s0 * (c - xv)
            inside = np.all(root >= lo - 1e-12) and np.all(root <= hi + 1e-12)
            assert inside == (not flagged[n, j]), (n, j, zc)
            n_in, n_out = n_in + inside, n_out + (not inside)
    assert n_in > 0 and n_out > 0                                   # both outcomes occur


def test_zplus_root_outside_domain_when_bias_positive():
    """The derivation needs b <= 0: with a positive bias t > 1 and the z+ root point leaves x >= 0."""
    W = np.array([[1.0, -1.0]])
    b = np.array([2.0])
    x = np.array([[1.0, 1.0]])
    root = ZPlus().root_point(W, b, x)
    assert root[0, 0, 0] < 0          # x~_0 = 1 - (1 - 1 + 2) / 1 * 1 = -1
