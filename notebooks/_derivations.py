"""The cells of ``00_derivations.ipynb`` (issue 19), read by ``make_notebooks.py``.

Every number the notebook prints is computed by its cells from dtd objects and NumPy; the ``assert``
lines hold each derivation to its closed form, so the notebook test fails if a step stops agreeing.
"""
from nbformat.v4 import new_code_cell, new_markdown_cell

INTRO = r"""# Deep Taylor decomposition, derived step by step

Seeds 000, 001, 003 and 004. Every rule of deep Taylor decomposition (DTD) comes from the same three steps,
applied to one neuron at a time:

1. choose a **root point** $\tilde x$ where the neuron's output is zero, on a line $\tilde x = x - t\,v$
   through the data point along a **search direction** $v$ that keeps the line inside the **input domain**;
2. **expand** the neuron to first order at $\tilde x$:
   $f(x) = f(\tilde x) + \sum_i \partial f / \partial x_i|_{\tilde x}\,(x_i - \tilde x_i) + \varepsilon$;
3. **read the rule off** the first-order terms: $R_i = \partial f / \partial x_i|_{\tilde x}\,(x_i - \tilde x_i)$.

This notebook computes each step with the objects of `dtd` and NumPy, beside the rule the library runs, on
one neuron with two inputs (section 1), shows what goes wrong outside a rule's conditions (2), treats
pooling (3) and local renormalization (4), and follows the relevance through a whole shipped network (5).
Every printed number is computed here; the `assert` lines check each step against its closed form.
`docs/rules.md` (or `python -m dtd rules NAME`) has the resulting table of rules."""

SETUP = r"""from pathlib import Path

import numpy as np
from IPython.display import Image, display

import dtd
from dtd._paths import data_dir
from dtd.evaluate import conservation_by_layer
from dtd.experiments.derivation_plots import plane_panel
from dtd.plots import line_plot
from dtd.layers import LRN, Dense, LpPool2d, ReLU, SumPool2d
from dtd.render import grid, save_png
from dtd.rules import Epsilon, LRNIdentity, LRNTaylor, Proportional, WSquare, ZBox, ZPlus

OUT = Path("out", "derivations")
OUT.mkdir(parents=True, exist_ok=True)


def show(image, name):
    # save an RGB array as out/derivations/<name> and display it
    save_png(image, OUT / name)
    display(Image(str(OUT / name)))


def bisect_root(g, t_end, steps=80):
    # the t in [0, t_end] where g (the neuron's output along the line, > 0 at t = 0, decreasing) first reaches 0,
    # by halving [lo, hi] with g(lo) > 0 and g(hi) = 0; None when g(t_end) > 0 (no root on the segment)
    if g(t_end) > 0:
        return None
    lo, hi = 0.0, t_end
    for _ in range(steps):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if g(mid) > 0 else (lo, mid)
    return hi"""

NEURON_MD = r"""## 1. One ReLU neuron with two inputs

The neuron $x_j = \max(0, z_j)$ with $z_j = w_1 x_1 + w_2 x_2 + b$ and $b \le 0$ is the building block of a
ReLU network. Its relevance is its output, $R_j = x_j$, and we want $R_1 + R_2 = R_j$.

On the line $x - t v$ the pre-activation is $z_j(x - t v) = z_j - t \sum_i v_i w_i$, so the root point is at
$t = z_j / \sum_i v_i w_i$ (the closed form, `DTDRule.root_point`). Between $\tilde x$ and $x$ the neuron is
linear with gradient $w$, so the first-order expansion is exact ($\varepsilon = 0$) and its terms are
$R_i = w_i (x_i - \tilde x_i) = w_i\, t\, v_i$. Each rule picks its own $v$:

| rule | domain | search direction $v_i$ | terms $w_i (x_i - \tilde x_i) \propto$ |
|---|---|---|---|
| $w^2$ | $\mathbb{R}^2$ | $w_i$ (the gradient: the nearest root) | $w_i^2$ |
| $z^+$ | $x \ge 0$ | $x_i 1_{w_i > 0}$ (only the inputs that excite) | $x_i w_i^+$ |
| $z^B$ | $l \le x \le h$ | $x_i - l_i 1_{w_i > 0} - h_i 1_{w_i < 0}$ (towards the box corner that minimises $z$) | $x_i w_i - l_i w_i^+ - h_i w_i^-$ |

Below, the root is also found by **bisection** on the neuron's own forward pass, which knows nothing of the
closed form; the derivative at the root is the network's own gradient (taken on the active side, halfway
between $x$ and $\tilde x$)."""

NEURON = r"""w = np.array([1.0, -0.6])                       # one exciting and one inhibiting input
b = -0.2
layer = Dense(w[None, :], np.array([b]))         # Dense weight (out, in) = (1, 2)
neuron = dtd.Sequential([layer, ReLU()])
x = np.array([[0.8, 0.5]])                       # the data point (inside the box [0, 1]^2)


def f(P):
    # the neuron's output at the points P (M, 2), by its forward pass
    return neuron.forward(np.asarray(P, dtype=np.float64))[:, 0]


z = layer.forward(x)[0, 0]
R = f(x)[:, None]                                # R_j = x_j, shape (1, 1)
print(f"z_j = w . x + b = {z:.6f};  x_j = R_j = {R[0, 0]:.6f}")

rules = {"w^2": WSquare(), "z+": ZPlus(), "z^B": ZBox(low=0.0, high=1.0)}
W, bias = layer.weight, layer.bias
found = {}
for name, rule in rules.items():
    v = rule.search_direction(W, x)[0, 0]                    # the rule's v for neuron j, shape (2,)
    g = lambda t: f(x - t * v)[0]                            # the neuron's output along the line
    # how far the line may go: to the end of the domain for z+ and z^B (t = 1: x~ reaches 0 or the box
    # corner), unbounded for w^2 (doubled until the output is zero)
    t_end = 1.0
    while name == "w^2" and g(t_end) > 0:
        t_end *= 2
    t_bisect = bisect_root(g, t_end)
    t_closed = z / (v @ w)
    root = rule.root_point(W, bias, x)[0, 0]                 # x - t v by the rule's code
    grad, _ = neuron.gradient((x[0] + root)[None] / 2)       # the gradient between root and x
    taylor = grad[0] * (x[0] - root)                         # first-order terms at the root
    messages = layer.relevance(x, R, rule)[0]                # what the rule computes (fast path)
    found[name] = (v, root)
    print(f"\n{name}: v = {v},  t by bisection = {t_bisect:.15f},  closed form = {t_closed:.15f}")
    print(f"   root x~ = {root},  output there f(x~) = {f(root[None])[0]:.3g},  gradient = {grad[0]}")
    print(f"   Taylor terms w_i (x_i - x~_i) = {taylor.round(12) + 0.0},  sum = {taylor.sum():.12f}")
    print(f"   the rule's R_i               = {messages.round(12) + 0.0},  sum = {messages.sum():.12f}")
    assert abs(t_bisect - t_closed) <= 1e-12 * t_closed
    np.testing.assert_allclose(taylor, messages, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(taylor.sum(), R[0, 0], rtol=1e-12)"""

NEURON_PLOT_MD = r"""Each panel shades the neuron's output $x_j$ over the plane (white where it is zero, the black line is
$z_j = 0$, thin lines are contours), with the data point, the search line and the root point. $w^2$ goes
straight across the contours (the nearest root; it may leave a domain, here it happens to stay in the box);
$z^+$ moves only the exciting input $x_1$ towards 0; $z^B$ heads for the corner $(l_1, h_2)$ of the
box and stops on $z_j = 0$ inside it."""

NEURON_PLOT = r"""panels = []
for k, (name, (v, root)) in enumerate(found.items()):
    boxes = {"z+": [((0.0, 0.0), (1.4, 1.4), (90, 90, 90))], "z^B": [((0.0, 0.0), (1.0, 1.0), (90, 90, 90))]}
    panels.append(plane_panel(f, xlim=(-0.4, 1.4), ylim=(-0.4, 1.4), title=f"{name}: v = {np.round(v, 3)}",
                              boxes=boxes.get(name, []), segments=[(x[0], root, k)],
                              points=[(x[0], (0, 0, 0), "x"), (root, k, "root x~")]))
show(grid(panels, ncols=3), "neuron_rules.png")"""

OUTSIDE_MD = r"""## 2. Outside a rule's conditions

**$z^+$ with a positive bias.** $z^+$ needs $b_j \le 0$: along $v = x \odot 1_{w > 0}$ the line leaves the
domain $x \ge 0$ at $t = 1$, where the exciting inputs are zero and $z_j = \sum_i x_i w_i^- + b_j$. With
$b_j > 0$ that can still be positive: the line never reaches $z_j = 0$ inside the domain, and the closed form
puts the "root" outside it."""

ZPLUS_BIAS = r"""layer_pos = Dense(w[None, :], np.array([0.5]))               # the same weights, bias +0.5
neuron_pos = dtd.Sequential([layer_pos, ReLU()])
v = ZPlus().search_direction(W, x)[0, 0]
g = lambda t: neuron_pos.forward(x - t * v)[0, 0]
print(f"z_j = {layer_pos.forward(x)[0, 0]:.6f};  at the end of the domain (t = 1, x~ = {x[0] - v}): "
      f"output {g(1.0):.6f} > 0")
print("bisection on [0, 1]:", bisect_root(g, 1.0))
root = ZPlus().root_point(W, layer_pos.bias, x)[0, 0]
t_closed = layer_pos.forward(x)[0, 0] / (v @ w)
print(f"closed form: t = {t_closed:.6f} > 1, x~ = {root}: x~_1 < 0 is outside x >= 0")
R_pos = neuron_pos.forward(x)
msg = layer_pos.relevance(x, R_pos, ZPlus())[0]
print(f"z+ still hands out all of R_j = {R_pos[0, 0]:.6f}: R_i = {msg}, although moving x_1 to 0 removes only "
      f"{R_pos[0, 0] - g(1.0):.6f}: the {g(1.0):.6f} the neuron still outputs there is credited to x_1 too")
assert bisect_root(g, 1.0) is None and root[0] < 0 and g(1.0) > 0
np.testing.assert_allclose(msg.sum(), R_pos[0, 0], rtol=1e-12)

ts = np.linspace(0.0, 1.5, 151)
line = lambda lay, vv: lay.forward(x - ts[:, None] * vv)[:, 0]
show(line_plot([ts, ts, np.array([1.0, 1.0]), ts], [line(layer_pos, v), line(layer, v), np.array([-0.4, 1.0]),
                                                      0 * ts],
               ["z_j, b = +0.5", "z_j, b = -0.2", "end of x >= 0 (t = 1)", "z = 0"],
               title="z_j along the z+ search line x - t v", xlabel="t", ylabel="z_j", dashed=(2, 3),
               size=(520, 320)), "zplus_positive_bias.png")"""

ZBOX_MD = r"""**$z^B$ with a box that excludes the projection.** Take the box $[0.6, 1] \times [0, 0.55]$: it contains $x$
but not the point's projection on $z_j = 0$ (the $w^2$ root), and even its corner $(l_1, h_2)$, where $z_j$ is
smallest over the box, has $z_j > 0$. The $z^B$ line reaches that corner at $t = 1$ without meeting a root;
the closed form's root lies beyond the box, and the rule's terms are Taylor terms at the corner, which
explain only $z_j(x) - z_j(\text{corner})$ of $R_j$: the rule scales them up to $R_j$."""

ZBOX = r"""low, high = np.array([0.6, 0.0]), np.array([1.0, 0.55])
box_rule = ZBox(low, high)
v = box_rule.search_direction(W, x)[0, 0]
corner = x[0] - v                                               # t = 1
g = lambda t: f(x - t * v)[0]
root = box_rule.root_point(W, bias, x)[0, 0]
projection = WSquare().root_point(W, bias, x)[0, 0]
inside = lambda p: bool(np.all(p >= low) and np.all(p <= high))
print(f"projection (w^2 root) {projection.round(6)}: in the box: {inside(projection)}")
print(f"corner (l_1, h_2) = {corner}: z_j there = {layer.forward(corner[None])[0, 0]:.6f} > 0")
print("bisection on [0, 1]:", bisect_root(g, 1.0))
print(f"closed form: t = {z / (v @ w):.6f}, x~ = {root.round(6)}: in the box: {inside(root)}")
terms_at_corner = w * (x[0] - corner)
msg = layer.relevance(x, R, box_rule)[0]
print(f"Taylor terms at the corner {terms_at_corner.round(6)} sum to {terms_at_corner.sum():.6f} "
      f"= z(x) - z(corner) < R_j = {R[0, 0]:.6f}")
print(f"z^B's R_i = {msg.round(6)} = those terms times {msg.sum() / terms_at_corner.sum():.6f}")
assert not inside(projection) and not inside(root) and bisect_root(g, 1.0) is None
np.testing.assert_allclose(msg, terms_at_corner * R[0, 0] / terms_at_corner.sum(), rtol=1e-12)
show(plane_panel(f, xlim=(-0.1, 1.3), ylim=(-0.3, 1.1), title="z^B, box [0.6, 1] x [0, 0.55]",
                 boxes=[(low, high, (90, 90, 90))], segments=[(x[0], root, 2), (x[0], projection, 0)],
                 points=[(x[0], (0, 0, 0), "x"), (corner, 1, "corner (t = 1)"), (root, 2, "z^B 'root'"),
                         (projection, 0, "projection")], size=(420, 380)), "zbox_small_box.png")"""

LRP0_MD = r"""**LRP-0 is DTD at the origin only when $b = 0$.** LRP-0, $R_i = x_i w_i / z_j \cdot R_j$, is the DTD rule
with $v = x$: the root point is $\tilde x = x - t x$ with $t = z_j / (w \cdot x) = 1 + b / (w \cdot x)$.
It is the origin only when $b = 0$; otherwise LRP-0's messages, the first-order terms at the origin, add up
to $w \cdot x = z_j - b$ times $R_j / z_j$, and the bias keeps (or adds) the rest."""

LRP0 = r"""print(" b      t (bisection)    t (closed)    root x~                   LRP-0 R_i              sum R_i - R_j  "
      "-b R_j / z_j")
for b0 in (-0.2, 0.0, 0.2):
    lay = Dense(w[None, :], np.array([b0]))
    net0 = dtd.Sequential([lay, ReLU()])
    z0 = lay.forward(x)[0, 0]
    R0 = net0.forward(x)
    g = lambda t: net0.forward(x - t * x)[0, 0]
    t_end = 1.0
    while g(t_end) > 0:
        t_end *= 2
    t_b, t_c = bisect_root(g, t_end), z0 / (x[0] @ w)
    root = x[0] - t_c * x[0]
    lrp0 = lay.relevance(x, R0, Epsilon(0.0))[0]
    print(f"{b0:+.1f}  {t_b:.12f}  {t_c:.12f}  {str(root.round(6)):<24}  {str(lrp0.round(6)):<22} "
          f"{lrp0.sum() - R0[0, 0]:+.6f}      {-b0 * R0[0, 0] / z0 + 0.0:+.6f}")
    assert abs(t_b - t_c) <= 1e-12 * t_c
    np.testing.assert_allclose(lrp0.sum() - R0[0, 0], -b0 * R0[0, 0] / z0, atol=1e-15)
    assert (np.abs(root).max() < 1e-15) == (b0 == 0)"""

POOL_MD = r"""## 3. Pooling (seed 004)

**Sum pooling is a ReLU detection layer.** Over non-negative inputs (after a ReLU),
$x_k = \sum_{j \in \text{window}(k)} x_j = \max(0, \sum_j 1 \cdot x_j + 0)$: a detection neuron with weights 1
and bias 0. Its $z^+$ rule is $R_j = x_j / \sum_{j'} x_{j'} \, R_k$ (`Proportional`), with search direction
$v = x$ and root point $\tilde x = 0$ ($t = 1$). Below the pooling layer's matrix is read off its own forward
pass (one unit input at a time) and run as a `Dense` layer under `ZPlus`."""

POOL = r"""rng = np.random.default_rng(0)
a = np.maximum(rng.normal(0.5, 1.0, size=(1, 1, 4, 4)), 0.0)   # non-negative, as after a ReLU
pool = SumPool2d(2)
y = pool.forward(a)
Wp = pool.forward(np.eye(16).reshape(16, 1, 4, 4)).reshape(16, 4).T   # (4 windows, 16 inputs), 0/1
detect = dtd.Sequential([Dense(Wp, np.zeros(4)), ReLU()])
print("windows' weights:\n", Wp.astype(int))
print("max |ReLU(W a + 0) - sum pooling| =", np.abs(detect.forward(a.reshape(1, -1)) - y.reshape(1, -1)).max())
R_pool = pool.relevance(a, y, Proportional()).reshape(-1)
R_zplus = detect.layers[0].relevance(a.reshape(1, -1), y.reshape(1, -1), ZPlus())[0]
print("max |Proportional - z+ on the detection layer| =", np.abs(R_pool - R_zplus).max())
t = y.reshape(-1) / (ZPlus().search_direction(Wp, a.reshape(1, -1))[0] * Wp).sum(axis=1)
print("t of each window's root point:", t, "-> root x~ = 0")
np.testing.assert_allclose(R_pool, R_zplus, rtol=1e-13)
np.testing.assert_allclose(t, 1.0, rtol=1e-13)"""

LPPOOL_MD = r"""**p-norm pooling** $x_k = \lVert x \rVert_p = (\sum_j x_j^p)^{1/p}$ is written as
$x_k = c \cdot \sum_j x_j$ with the ratio $c = \lVert x \rVert_p / \lVert x \rVert_1$; holding $c$ constant
leaves a sum-pooling layer, hence `Proportional`. How good is that? Along the search direction $v = x$ the
ratio does not change at all ($c(s x) = c(x)$), so the root point is still 0. What it neglects is how $c$
varies *between* the inputs of a window: the exact first-order decomposition of the p-norm (it is
homogeneous, so gradient times input adds up to $x_k$) is $R_j = x_j^p / \sum_{j'} x_{j'}^p \, x_k$, while the
constant ratio gives $x_j / \sum_{j'} x_{j'} \, x_k$. Measured on real activations: the first ReLU layer
of the shipped MNIST CNN (`data/mnist_cnn.npz`) on the six shipped test pairs, 2 x 2 windows."""

LPPOOL = r"""net = dtd.load(data_dir() / "mnist_cnn.npz")
pairs = np.load(data_dir() / "mnist_pairs_samples.npy")
acts = net.forward(pairs, return_all=True)[2].astype(np.float64)   # the input of the first pooling layer
print("network:", [type(l).__name__ for l in net.layers])
s1 = SumPool2d(2).forward(acts)
live = s1 > 0                                                    # windows with some activation
single = (SumPool2d(2).forward((acts > 0).astype(float)) == 1)[live]
print(f"activations {acts.shape}: {float((acts == 0).mean()):.1%} zeros; {int(live.sum())} windows with some "
      f"activation, {float(single.mean()):.1%} of them with a single one (c = 1 there, no error)")
print(" p    ratio c = |x|_p/|x|_1 (5%, 50%, 95%)   c(x/2)/c(x) - 1   error |R_const - R_exact|_1 / x_k "
      "(mean, 95%, max)")
errors = {}
for p in (1, 2, 3, 4):
    lp = LpPool2d(p, 2)
    yk = lp.forward(acts)
    c = yk[live] / s1[live]
    c_half = lp.forward(acts / 2)[live] / SumPool2d(2).forward(acts / 2)[live]
    R_const = lp.relevance(acts, yk, Proportional())                  # the ratio held constant
    R_exact = acts * lp.backward(acts, np.ones_like(yk))               # x_j dx_k/dx_j (gradient x input)
    # per window: both redistributions of x_k (windows do not overlap, so sum the 2 x 2 blocks)
    diff = SumPool2d(2).forward(np.abs(R_const - R_exact))[live] / yk[live]
    errors[p] = diff
    q = lambda a, r: float(np.quantile(a, r))
    print(f" {p}    {q(c, .05):.3f}  {q(c, .5):.3f}  {q(c, .95):.3f}                 "
          f"{np.abs(c_half / c - 1).max():.1e}          {diff.mean():.4f}  {q(diff, .95):.4f}  {diff.max():.4f}")
    np.testing.assert_allclose(SumPool2d(2).forward(R_exact)[live], yk[live], rtol=1e-10)   # Euler: exact
assert errors[1].max() < 1e-12"""

LRN_MD = r"""## 4. Local renormalization: the first-order Taylor rule (seed 003)

$y_k = x_k / (k + a \sum_{i \in w(k)} x_i^2)^\beta$ ($a = \alpha / n$) is not linear. Expand $y_k$ at
$z_1 = x$ and evaluate the expansion at $z_2 = (0, \dots, x_k, \dots, 0)$, the point that keeps only $x_k$:

$$y_k(x) \approx y_k(z_2) + \sum_{j \ne k} \frac{\partial y_k}{\partial x_j}(x)\, x_j
= \underbrace{\frac{x_k}{(k + a x_k^2)^\beta}}_{z_{kk}}
+ \sum_{j \ne k} \underbrace{\frac{-2 a \beta\, x_j^2 x_k}{(k + a \sum_{i \in w(k)} x_i^2)^{\beta + 1}}}_{z_{jk}},$$

and the relevance follows the terms, normalised: $R_j = \sum_k z_{jk} / \sum_i z_{ik} \, R_k$. Below: the
terms from these formulas beside the layer's own forward pass at $z_2$ and a central finite-difference
Jacobian of that forward pass, at one pixel of the shipped LRN network's first LRN layer
(`data/mnist_lrn_cnn.npz`, size 5, alpha 5, beta 0.75, k 1), on the left digit of a shipped test pair."""

LRN_CELL = r"""lrn_net = dtd.load(data_dir() / "mnist_lrn_cnn.npz")
lrn = lrn_net.layers[2]
print(lrn_net.layers[2], "after", type(lrn_net.layers[1]).__name__)
digits = pairs[:, :, :, :28]
lrn_in = lrn_net.forward(digits, return_all=True)[2].astype(np.float64)   # (N, C, 24, 24), after the ReLU
n, i, j = np.unravel_index(np.argmax(lrn_in.sum(axis=1)), lrn_in[:, 0].shape)
xv = lrn_in[n, :, i, j][None]                                  # one pixel's channel vector, (1, C)
C = xv.shape[1]
a_, beta, kk = lrn.alpha / lrn.size, lrn.beta, lrn.k
M = lrn.window_matrix(C)                                       # M[j, k] = 1 if channel j is in k's window
D = kk + a_ * (xv[0] ** 2) @ M                                 # (C,): k + a sum_{i in w(k)} x_i^2
Z = -2 * a_ * beta * np.outer(xv[0] ** 2, xv[0] / D ** (beta + 1)) * M      # z_jk for j != k
np.fill_diagonal(Z, xv[0] / (kk + a_ * xv[0] ** 2) ** beta)                 # z_kk
# the same from the layer's own forward pass: z_kk = y_k(z2), z_jk = dy_k/dx_j(x) x_j (finite differences)
z_kk_forward = np.diag(lrn.forward(np.diag(xv[0])))            # row k of diag(x) is z2 for channel k
h = 1e-6
J = (lrn.forward(xv + h * np.eye(C)) - lrn.forward(xv - h * np.eye(C))) / (2 * h)    # J[j, k] = dy_k/dx_j
Z_fd = J * xv[0][:, None] * (M - np.eye(C))
np.fill_diagonal(Z_fd, z_kk_forward)
k0 = int(np.argmax(xv[0]))
print(f"pixel ({i}, {j}) of sample {n}; the terms of the strongest channel k = {k0}, j over its window:")
for jj in np.flatnonzero(M[:, k0]):
    kind = "z_kk" if jj == k0 else "z_jk"
    print(f"   j = {jj:2d}  {kind} formula {Z[jj, k0] + 0.0: .10f}   forward / finite differences "
          f"{Z_fd[jj, k0] + 0.0: .10f}")
print("max |formula - forward/FD| over all j, k:", np.abs(Z - Z_fd).max())
np.testing.assert_allclose(Z, Z_fd, rtol=1e-6, atol=1e-9)
y_lrn = lrn.forward(xv)
Zk = Z.sum(axis=0)                                             # sum_i z_ik (0 for a channel that is 0)
R_hand = np.divide(Z, Zk, out=np.zeros_like(Z), where=Zk != 0) @ y_lrn[0]   # R_j = sum_k z_jk / Z_k R_k, R_k = y_k
R_rule = lrn.relevance(xv, y_lrn, LRNTaylor(epsilon=0.0))[0]
print("R_j by hand:      ", R_hand.round(6))
print("LRNTaylor (eps=0):", R_rule.round(6))
print(f"sum R_j = {R_rule.sum():.10f} = sum R_k = {y_lrn.sum():.10f};  negative R_j: {int((R_rule < 0).sum())}")
np.testing.assert_allclose(R_rule, R_hand, rtol=1e-10, atol=1e-14)"""

LRN_ALPHA_MD = r"""As $\alpha \to 0$ the layer tends to the constant scaling $y = k^{-\beta} x$, the cross terms $z_{jk}$ vanish
and the Taylor rule tends to the identity rule ($R_x = R_y$). The difference, on every pixel of the six
digits, with the layer's own size, beta and k and $R_k = y_k$:"""

LRN_ALPHA = r"""alphas = np.logspace(-6, 1, 15)
gaps = []
for alpha in alphas:
    lay = LRN(lrn.size, alpha, lrn.beta, lrn.k)
    Ry = lay.forward(lrn_in)
    Rt = lay.relevance(lrn_in, Ry, LRNTaylor(epsilon=0.0))
    Ri = lay.relevance(lrn_in, Ry, LRNIdentity())
    gaps.append(np.abs(Rt - Ri).sum() / np.abs(Ry).sum())
gaps = np.array(gaps)
slope = np.polyfit(np.log10(alphas[:8]), np.log10(gaps[:8]), 1)[0]
for alpha, gap in zip(alphas[::2], gaps[::2]):
    print(f"alpha = {alpha:8.1e}:  |R_Taylor - R_identity|_1 / |R|_1 = {gap:.3e}")
print(f"slope of log(difference) against log(alpha) for alpha <= {alphas[7]:.0e}: {slope:.4f}")
assert abs(slope - 1) < 0.01
show(line_plot([np.log10(alphas)], [np.log10(gaps)], ["Taylor vs identity"], xlabel="log10 alpha",
               ylabel="log10 relative L1 difference", title="LRN: the Taylor rule tends to the identity",
               size=(520, 320)), "lrn_alpha.png")"""

LAYER_MD = r"""## 5. From one neuron to a layer, and from one layer to a network

A layer is many neurons side by side: each output neuron $j$ gets its own search line and root point
$\tilde x^{(j)}$, and an input collects the terms of every neuron it feeds,
$R_i = \sum_j w_{ij} (x_i - \tilde x^{(j)}_i) R_j / z_j$. With $R_j = x_j$ this is exactly the rule's closed
form $R_i = \sum_j q_{ij} / \sum_{i'} q_{i'j} \, R_j$ over the whole layer (three detection neurons on four
inputs in $[0, 1]$, `DTDRule.taylor_messages` beside the layer's fast path):"""

LAYER = r"""rng = np.random.default_rng(1)
W3 = rng.normal(0.3, 1.0, size=(3, 4))
b3 = -np.abs(rng.normal(size=3)) * 0.3
x4 = rng.uniform(0.0, 1.0, size=(1, 4))                         # in the box [0, 1]^4 of z^B, and >= 0
dense3 = Dense(W3, b3)
R3 = np.maximum(dense3.forward(x4), 0)                           # R_j = x_j
print("R_j =", R3[0].round(6))
for name, rule in rules.items():
    terms = rule.taylor_messages(W3, b3, x4, R3)[0]              # (out j, in i): the terms at each root
    fast = dense3.relevance(x4, R3, rule)[0]
    print(f"{name:>4}: sum over j of the Taylor terms {terms.sum(axis=0).round(6)},  the rule {fast.round(6)}")
    np.testing.assert_allclose(terms.sum(axis=0), fast, rtol=1e-12, atol=1e-15)"""

NETWORK_MD = r"""**From one layer to a network.** Each layer's rule passes on what it receives, so conservation holds layer by layer, $\sum_i R_i = \sum_j R_j$,
and the input relevance adds up to $f(x)$, as long as no rule lets the bias keep a share. The shipped CNN
(`data/mnist_cnn.npz`, biases $\le 0$) on its six test pairs: the DTD composite ($z^B$ on the pixels, $z^+$
above, bias left out) against LRP-0 everywhere (bias in the denominator). `conservation_by_layer` sums the
relevance each layer received and sent (from `explain(..., return_all=True)`); the last column computes,
independently, what the bias of each linear layer keeps under LRP-0: $\sum_j b_j R_j / z_j$."""

NETWORK = r"""x_net = pairs
acts_net = net.forward(x_net, return_all=True)
for name in ("dtd", "lrp-0"):
    comp = dtd.composites.get(name, low=0.0, high=1.0) if name == "dtd" else dtd.composites.get(name)
    acc = conservation_by_layer(net, x_net, comp)
    Rs = net.explain(x_net, comp, return_all=True)
    print(f"\n{name}: f(x) = {acc.output.round(4)}")
    print("  layer  kind       rule" + " " * 43 + "received/f   sent/f  absorbed/f  bias share/f")
    for k, row in enumerate(acc.rows()):
        lay = net.layers[k]
        share = ""
        if getattr(lay, "bias", None) is not None and name == "lrp-0":
            zk = acts_net[k + 1]
            bk = lay.bias.reshape((1, -1) + (1,) * (zk.ndim - 2))
            kept = (bk * np.divide(Rs[k + 1], zk, out=np.zeros_like(zk), where=zk != 0)).reshape(len(zk), -1).sum(1)
            share = f"{np.mean(kept / acc.output):+.6f}"
            np.testing.assert_allclose(kept, acc.absorbed[:, k], rtol=1e-6, atol=1e-9 * np.abs(acc.output).max())
        print(f"  {row['node']:>5}  {row['kind']:<10} {row['rule'][:46]:<46} {row['received/f']:10.6f} "
              f"{row['sent/f']:8.6f}  {row['absorbed/f']:+.6f}   {share}")
    total = Rs[0].reshape(len(x_net), -1).sum(axis=1)
    print(f"  input relevance / f(x): {(total / acc.output).round(6)}")
    if name == "dtd":
        assert np.abs(acc.absorbed).max() <= 1e-9 * np.abs(acc.output).max()"""

NETWORK_END_MD = r"""Under the DTD composite every layer passes on what it receives (absorbed 0 to rounding): the input
relevance is $f(x)$. Under LRP-0 relevance changes only at the layers with a bias, and by exactly the bias
share of the last column, $b_j R_j / z_j$ summed over the neurons. With $b_j \le 0$ a neuron with
$R_j / z_j > 0$ passes on *more* than it received (a negative absorbed share: relevance is created) and one
with $R_j / z_j < 0$ (LRP-0 lets negative relevance appear) passes on less, so a layer's total can go either
way and the input relevance is not $f(x)$. DTD leaves the bias out of the rule and asks $b \le 0$: the root
point then lies in the input domain, and nothing is lost or created."""


def cells():
    """The notebook's cells, in order."""
    return [new_markdown_cell(INTRO), new_code_cell(SETUP),
            new_markdown_cell(NEURON_MD), new_code_cell(NEURON),
            new_markdown_cell(NEURON_PLOT_MD), new_code_cell(NEURON_PLOT),
            new_markdown_cell(OUTSIDE_MD), new_code_cell(ZPLUS_BIAS),
            new_markdown_cell(ZBOX_MD), new_code_cell(ZBOX),
            new_markdown_cell(LRP0_MD), new_code_cell(LRP0),
            new_markdown_cell(POOL_MD), new_code_cell(POOL),
            new_markdown_cell(LPPOOL_MD), new_code_cell(LPPOOL),
            new_markdown_cell(LRN_MD), new_code_cell(LRN_CELL),
            new_markdown_cell(LRN_ALPHA_MD), new_code_cell(LRN_ALPHA),
            new_markdown_cell(LAYER_MD), new_code_cell(LAYER),
            new_markdown_cell(NETWORK_MD), new_code_cell(NETWORK),
            new_markdown_cell(NETWORK_END_MD)]
