"""dtd.Graph: networks with branches (Concat, Add) and forks.

References:

* the forward of a two-branch net against the same layers applied by hand;
* the gradient against central finite differences of f_c (h = 1e-6; atol 1e-7 + rtol 1e-6);
* explanations of a residual Dense net under LRP-0 against the closed form
  written out with NumPy matrices (float64, rtol 1e-12: the same sums);
* Concat splits relevance by slicing, Add in proportion to the branches (with
  and without a stabiliser), relevance at forks is summed;
* a Graph that is a chain explains exactly like the Sequential of its layers;
* conservation under LRP-0 with zero biases (rtol 1e-12).
"""
import numpy as np
import pytest

from dtd import Graph, Sequential, composites
from dtd.graph import Add, Concat, Node
from dtd.layers import AvgPool2d, Conv2d, Dense, Flatten, MaxPool2d, ReLU
from dtd.rules import Epsilon, Gamma, ZPlus


def rng(seed=0):
    return np.random.default_rng(seed)


def two_branch(r, bias=True):
    """x (N,2,6,6) -> conv a -> relu ; conv b -> relu -> concat -> conv c -> add(with a) -> pool -> dense."""
    b = (lambda n: r.normal(size=n)) if bias else (lambda n: np.zeros(n))
    return Graph([
        ("a", Conv2d(r.normal(size=(3, 2, 3, 3)), b(3), padding=1), "x"),
        ("ra", ReLU(), "a"),
        ("b", Conv2d(r.normal(size=(2, 2, 3, 3)), b(2), padding=1), "x"),
        ("rb", ReLU(), "b"),
        ("cat", Concat(1), ["ra", "rb"]),
        ("c", Conv2d(r.normal(size=(3, 5, 1, 1)), b(3)), "cat"),
        ("sum", Add(), ["c", "ra"]),
        ("rs", ReLU(), "sum"),
        ("pool", AvgPool2d(2), "rs"),
        ("flat", Flatten(), "pool"),
        ("fc", Dense(r.normal(size=(4, 27)), b(4)), "flat"),
    ], input="x")


def test_forward_matches_layers_applied_by_hand():
    r = rng(1)
    g = two_branch(r)
    L = {n.name: n.op for n in g.nodes}
    x = r.normal(size=(3, 2, 6, 6))
    ra = np.maximum(L["a"].forward(x), 0)
    rb = np.maximum(L["b"].forward(x), 0)
    s = L["c"].forward(np.concatenate([ra, rb], axis=1)) + ra
    ref = L["fc"].forward(L["pool"].forward(np.maximum(s, 0)).reshape(3, -1))
    np.testing.assert_allclose(g.forward(x), ref, rtol=1e-13, atol=1e-13)
    acts = g.forward(x, return_all=True)
    assert list(acts) == ["x"] + [n.name for n in g.nodes]
    np.testing.assert_array_equal(acts["cat"][:, :3], acts["ra"])
    assert g.output_shape(x.shape) == (3, 4)
    assert g.layer_names == ["a", "ra", "b", "rb", "c", "rs", "pool", "flat", "fc"]


def test_node_order_is_free():
    r = rng(2)
    g = two_branch(r)
    shuffled = Graph([Node(n.name, n.op, n.inputs) for n in reversed(g.nodes)], input="x", output="fc")
    x = r.normal(size=(2, 2, 6, 6))
    np.testing.assert_array_equal(shuffled.forward(x), g.forward(x))
    names = [n.name for n in shuffled.nodes]
    for n in shuffled.nodes:
        assert all(names.index(i) < names.index(n.name) for i in n.inputs if i != "x")


def test_gradient_finite_differences():
    r = rng(3)
    g = two_branch(r)
    x = r.normal(size=(2, 2, 6, 6))
    grad, t = g.gradient(x, target=1)
    assert t.tolist() == [1, 1]
    h = 1e-6
    fd = np.empty_like(x)
    for k in range(x.size):
        e = np.zeros(x.size)
        e[k] = h
        e = e.reshape(x.shape)
        fd.reshape(-1)[k] = (g.forward(x + e)[:, 1].sum() - g.forward(x - e)[:, 1].sum()) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-7)


def test_residual_lrp0_against_closed_form():
    """y = B (relu(A x) + x); LRP-0, zero biases: R_s = s_i B_ci; the Add splits R_s by h/(h+x) and x/(h+x);
    the Dense A sends x_k A_jk / (A x)_j R_h_j back."""
    r = rng(4)
    A, B = r.normal(size=(5, 5)), r.normal(size=(3, 5))
    g = Graph([("A", Dense(A), "x"), ("h", ReLU(), "A"), ("s", Add(), ["h", "x"]), ("B", Dense(B), "s")],
              input="x")
    x = np.abs(r.normal(size=(4, 5))) + 0.1
    c = 2
    h = np.maximum(x @ A.T, 0)
    s = h + x
    R_s = s * B[c]                                     # (N, 5)
    R_h, R_direct = h / s * R_s, x / s * R_s
    z = x @ A.T
    R_via_A = x * ((R_h / z) @ A)
    ref = R_direct + R_via_A
    R = g.explain(x, Epsilon(0.0), target=c)
    np.testing.assert_allclose(R, ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(R.sum(axis=1), (s @ B.T)[:, c], rtol=1e-12)   # conservation
    all_R = g.explain(x, None, target=c, return_all=True)
    np.testing.assert_allclose(all_R["h"], R_h, rtol=1e-12)
    np.testing.assert_allclose(all_R["s"], R_s, rtol=1e-12)
    np.testing.assert_allclose(all_R["x"], ref, rtol=1e-12)


def test_add_stabiliser_and_concat_slices():
    xs = [np.array([[1.0, -1.0, 0.0]]), np.array([[3.0, 1.0, 0.0]])]
    R = np.array([[8.0, 2.0, 5.0]])
    plain = Add().relevance(xs, R)
    # R_k = x_k / (x_1 + x_2) R; a zero sum sends nothing (0/0 := 0)
    assert plain[0].tolist() == [[2.0, 0.0, 0.0]]
    assert plain[1].tolist() == [[6.0, 0.0, 0.0]]
    eps = Add(epsilon=1.0).relevance(xs, R)
    # sum + 1 * sign(sum): 4 -> 5, 0 -> 1 (sign(0) = +1)
    np.testing.assert_allclose(eps[0], [[8.0 * 1 / 5, 2.0 * -1 / 1, 0.0]], rtol=1e-15)
    np.testing.assert_allclose(eps[1], [[8.0 * 3 / 5, 2.0 * 1 / 1, 0.0]], rtol=1e-15)
    parts = Concat(axis=-1).relevance([np.ones((1, 2)), np.ones((1, 1))], R)
    assert [p.tolist() for p in parts] == [[[8.0, 2.0]], [[5.0]]]
    with pytest.raises(ValueError, match="same shape"):
        Add().forward([np.ones((1, 2)), np.ones((1, 3))])
    with pytest.raises(ValueError, match="differ off axis"):
        Concat(1).forward([np.ones((1, 2, 3)), np.ones((1, 2, 4))])


def test_fork_sums_relevance():
    r = rng(5)
    A, B = r.normal(size=(3, 4)), r.normal(size=(3, 4))
    g = Graph([("A", Dense(A), "x"), ("B", Dense(B), "x"), ("cat", Concat(), ["A", "B"]),
               ("top", Dense(np.ones((1, 6))), "cat")], input="x")
    x = r.normal(size=(2, 4))
    all_R = g.explain(x, Epsilon(0.0), return_all=True)
    R_A = Dense(A).relevance(x, all_R["A"], Epsilon(0.0))
    R_B = Dense(B).relevance(x, all_R["B"], Epsilon(0.0))
    np.testing.assert_allclose(all_R["x"], R_A + R_B, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(all_R["A"], all_R["cat"][:, :3], rtol=0)


def test_chain_graph_equals_sequential():
    r = rng(6)
    layers = [Conv2d(r.normal(size=(3, 1, 3, 3)), -np.abs(r.normal(size=3))), ReLU(), MaxPool2d(2),
              Flatten(), Dense(r.normal(size=(2, 18)), -np.abs(r.normal(size=2)))]
    seq = Sequential(layers)
    g = Graph([(f"l{i}", l, f"l{i - 1}" if i else "in") for i, l in enumerate(layers)], input="in")
    x = np.abs(r.normal(size=(3, 1, 6, 8)))
    for rules in (Epsilon(0.0), ZPlus(), [Gamma(0.25), None, None, None, Epsilon(0.1)],
                  composites.get("dtd", low=0.0, high=5.0), composites.get("epsilon-gamma-box", low=0.0, high=5.0)):
        np.testing.assert_array_equal(g.explain(x, rules), seq.explain(x, rules))
    np.testing.assert_array_equal(g.gradient(x)[0], seq.gradient(x)[0])
    by_name = {"l0": Gamma(0.25), "l4": Epsilon(0.1)}
    np.testing.assert_array_equal(g.explain(x, by_name), seq.explain(x, [Gamma(0.25), None, None, None, Epsilon(0.1)]))
    with pytest.raises(ValueError, match=r"\['nope'\] are not layer or merge nodes"):
        g.explain(x, {"nope": ZPlus()})


def test_conservation_lrp0_zero_bias():
    r = rng(7)
    g = two_branch(r, bias=False)
    x = np.abs(r.normal(size=(3, 2, 6, 6)))
    out = g.forward(x)
    R = g.explain(x, Epsilon(0.0), target=np.array([0, 1, 2]))
    np.testing.assert_allclose(R.reshape(3, -1).sum(axis=1), out[np.arange(3), [0, 1, 2]], rtol=1e-12)


@pytest.mark.parametrize("nodes,kwargs,message", [
    ([("a", ReLU(), "x"), ("a", ReLU(), "a")], {}, "duplicate names"),
    ([("a", ReLU(), "y")], {}, "unknown inputs"),
    ([("a", ReLU(), "b"), ("b", ReLU(), "a"), ("c", ReLU(), "x")], {"output": "a"}, "form a cycle"),
    ([("a", ReLU(), "x"), ("b", ReLU(), "x")], {"output": "a"}, "do not lead to the output"),
    ([("a", ReLU(), ["x", "x"])], {}, "exactly one input"),
    ([("a", Add(), ["x"])], {}, "at least two inputs"),
    ([("a", np.zeros(2), "x")], {}, "not a dtd layer or merge"),
    ([("a", ReLU(), "x")], {"output": "zz"}, "is not a node"),
])
def test_graph_errors(nodes, kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        Graph(nodes, input="x", **kwargs)
