"""Item 2 of the core issue: each DTD rule checked against its derivation.

For a one-layer ReLU detection neuron ``x_j = max(0, sum_i x_i w_ij + b_j)`` with
``R_j = x_j`` (Montavon et al. 2017, Sec. 4), for every neuron with ``R_j > 0``:

- the root point ``x~(j) = x - t v(j)`` along the rule's search direction has
  zero pre-activation (|z(x~)| <= 1e-10 relative to the size of the terms);
- it lies in the rule's input domain (x~ >= 0 for z+; l <= x~ <= h for z^B;
  any point for w^2);
- the first-order Taylor terms at it, ``w_ij (x_i - x~_i) R_j / z_j``, are the
  rule's messages, and summed over j they give the rule's fast path
  (rtol 1e-10, float64).

Checked on Dense layers and on convolutions unrolled to dense matrices.
"""
import numpy as np
import pytest

from dtd.layers import Conv2d, Dense
from dtd.rules import WSquare, ZBox, ZPlus

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
    # the root point is on the search line: x - x~ is parallel to v (t >= 0 for active neurons)
    v = rule_flat.search_direction(W, xf)
    diff = xf[:, None, :] - root
    t = np.einsum("nji,nji->nj", diff, v) / np.maximum(np.einsum("nji,nji->nj", v, v), 1e-300)
    np.testing.assert_allclose(diff[active], (t[:, :, None] * v)[active], rtol=1e-9, atol=1e-12)
    assert t[active].min() >= 0

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
    """With search direction v = x and b = 0 the root point is the origin and the terms are LRP-0 (seed 000)."""
    rng = np.random.default_rng(1)
    W = rng.normal(size=(4, 5))
    x = np.abs(rng.normal(size=(3, 5)))
    z = x @ W.T
    R = np.maximum(z, 0)
    t = np.where(z != 0, z / np.einsum("ni,ji->nj", x, W), 0.0)     # t = 1: root x~ = x - x = 0
    np.testing.assert_allclose(t[R > 0], 1.0, rtol=1e-14)
    terms = W[None] * x[:, None, :] * np.divide(R, z, out=np.zeros_like(z), where=z != 0)[:, :, None]
    np.testing.assert_allclose(terms.sum(axis=1), Dense(W).relevance(x, R, __import__("dtd").rules.Epsilon()),
                               rtol=1e-12)


def test_zplus_root_outside_domain_when_bias_positive():
    """The derivation needs b <= 0: with a positive bias t > 1 and the z+ root point leaves x >= 0."""
    W = np.array([[1.0, -1.0]])
    b = np.array([2.0])
    x = np.array([[1.0, 1.0]])
    root = ZPlus().root_point(W, b, x)
    assert root[0, 0, 0] < 0          # x~_0 = 1 - (1 - 1 + 2) / 1 * 1 = -1
