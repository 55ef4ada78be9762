"""Properties of whole explanations on random small ReLU networks (issue 2, items 5 and 6).

Hypothesis draws the architecture (convolutions with their kernel sizes, strides,
paddings and channel counts; sum, average, max or p-norm pooling; an optional LRN;
dense sizes), a seed for the weights, and the input.  Biases are <= 0 (or zero
where the property needs it); inputs are >= 0, in [0, 1] for the box domain
(with some entries exactly on the bounds), or signed for the domain R.

Properties:

* the DTD training-free composite, for each of its three input domains, is
  conservative (sum of the relevance at every layer == f_c(x), rtol 1e-9: every
  message is a positive share of a positive quantity, so the sums only carry
  rounding, ~1e-15 per layer) and positive (min R >= -1e-12 * f_c: z^B computes
  ``x c - l c+ - h c-`` as a difference, which may leave a rounding residue of
  the order of 1e-16 * f_c where the exact value is 0);
* LRP-0 with zero biases is conservative (tolerance 1e-9 relative to
  ``max(|f_c|, sum |R|)``: LRP-0 messages have both signs, so the rounding error
  scales with the mass moved, not with the net sum);
* AlphaBeta(1, 0) equals ZPlus at every layer (rtol 1e-12: the same products and
  sums, with a zero ``b^+`` added in the denominator);
* LRP-0 equals gradient x input at every layer on ReLU nets with zero biases
  (``R_l = a_l * d f_c / d a_l``; rtol 1e-9 relative to the layer's largest term).

Examples are kept small (30-40 per property, deadline off) so the file runs in seconds.
"""
import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import dtd
from dtd import composites
from dtd.im2col import output_size
from dtd.layers import LRN, AvgPool2d, Conv2d, Dense, Flatten, LpPool2d, MaxPool2d, ReLU, SumPool2d
from dtd.rules import AlphaBeta, Epsilon, ZPlus

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def architectures(draw, pools=("none", "sum", "avg", "max", "lp"), lrn=True):
    """A list of layer specifications (no weights yet) and the input shape (C, H, W)."""
    C, H, W = draw(st.integers(1, 3)), draw(st.integers(4, 8)), draw(st.integers(4, 8))
    in_shape = shape = (C, H, W)
    spec = []
    for _ in range(draw(st.integers(1, 2))):
        C, H, W = shape
        p = (draw(st.integers(0, 1)), draw(st.integers(0, 1)))
        k = (draw(st.integers(1, min(3, H + 2 * p[0]))), draw(st.integers(1, min(3, W + 2 * p[1]))))
        s = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
        C_out = draw(st.integers(1, 4))
        spec += [("conv", C, C_out, k, s, p), ("relu",)]
        shape = (C_out, output_size(H, k[0], s[0], p[0]), output_size(W, k[1], s[1], p[1]))
        if lrn and draw(st.booleans()) and draw(st.booleans()):
            spec.append(("lrn", draw(st.integers(1, 4)), draw(st.sampled_from(["onnx", "pytorch"]))))
        pool = draw(st.sampled_from(pools))
        C, H, W = shape
        if pool != "none" and min(H, W) >= 2:
            k = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
            s = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
            p = (0, 0)
            if pool == "max":      # padding (as -inf) at most half the kernel, as in PyTorch
                p = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
            spec.append(("pool", pool, k, s, p))
            shape = (C, output_size(H, k[0], s[0], p[0]), output_size(W, k[1], s[1], p[1]))
    spec.append(("flatten",))
    d = int(np.prod(shape))
    if draw(st.booleans()):
        hidden = draw(st.integers(1, 6))
        spec += [("dense", d, hidden), ("relu",)]
        d = hidden
    spec.append(("dense", d, draw(st.integers(1, 4))))
    return spec, in_shape


def build_net(spec, seed, bias="negative"):
    """Weights from a seeded rng: normal with a positive mean (so that outputs are often positive); biases <= 0."""
    rng = np.random.default_rng(seed)

    def b(n):
        return np.zeros(n) if bias == "zero" else -0.3 * rng.random(n)

    layers = []
    for item in spec:
        kind = item[0]
        if kind == "conv":
            _, C, C_out, k, s, p = item
            layers.append(Conv2d(rng.normal(0.3, 1.0, size=(C_out, C) + k), b(C_out), s, p))
        elif kind == "relu":
            layers.append(ReLU())
        elif kind == "lrn":
            layers.append(LRN(item[1], alpha=0.5, beta=0.75, k=1.0, window=item[2]))
        elif kind == "pool":
            _, pool, k, s, p = item
            layers.append({"sum": SumPool2d, "avg": AvgPool2d, "max": MaxPool2d}[pool](k, s, p) if pool != "lp"
                          else LpPool2d(2, k, s))
        elif kind == "flatten":
            layers.append(Flatten())
        else:
            _, d_in, d_out = item
            layers.append(Dense(rng.normal(0.3, 1.0, size=(d_out, d_in)), b(d_out)))
    return dtd.Sequential(layers)


def make_input(seed, in_shape, domain, n=3):
    """A batch for the input domain: R+ (>= 0, some exact zeros), box [0, 1] (some entries exactly 0 or 1), R."""
    rng = np.random.default_rng(seed)
    shape = (n,) + in_shape
    if domain == "R":
        return rng.normal(size=shape)
    if domain == "box":
        x = rng.random(shape)
        u = rng.random(shape)
        x[u < 0.1] = 0.0
        x[u > 0.9] = 1.0
        return x
    x = 2 * rng.random(shape)
    x[rng.random(shape) < 0.2] = 0.0
    return x


def target_outputs(net, x):
    out = net.forward(x)
    t = out.argmax(axis=1)
    return out[np.arange(len(t)), t]


def layer_sums(R):
    return R.reshape(R.shape[0], -1).sum(axis=1)


DTD_COMPOSITES = {
    "R+": lambda: composites.get("dtd"),
    "box": lambda: composites.get("dtd", low=0.0, high=1.0),
    "R": lambda: composites.get("dtd", domain="R"),
}


@SETTINGS
@given(arch=architectures(), seed=st.integers(0, 2 ** 32 - 1), domain=st.sampled_from(sorted(DTD_COMPOSITES)))
def test_dtd_composite_is_conservative_and_positive(arch, seed, domain):
    spec, in_shape = arch
    net = build_net(spec, seed)
    x = make_input(seed + 1, in_shape, domain)
    # DTD explains a positive output (a ReLU detection neuron): keep the samples whose target output is > 0
    fc = target_outputs(net, x)
    x = x[fc > 0]
    assume(len(x) > 0)
    fc = fc[fc > 0]
    composite = DTD_COMPOSITES[domain]()
    Rs = net.explain(x, composite, return_all=True)
    assert Rs[0].shape == x.shape
    for R in Rs:                                   # every layer, the input included
        np.testing.assert_allclose(layer_sums(R), fc, rtol=1e-9, atol=0)
        assert np.all(R.reshape(len(x), -1).min(axis=1) >= -1e-12 * fc)
    # the input layer got the domain's rule
    first = net.rule_list(composite)[0]
    assert type(first).__name__ == {"R+": "ZPlus", "box": "ZBox", "R": "WSquare"}[domain]


@SETTINGS
@given(arch=architectures(), seed=st.integers(0, 2 ** 32 - 1), signed=st.booleans())
def test_lrp0_with_zero_biases_is_conservative(arch, seed, signed):
    spec, in_shape = arch
    net = build_net(spec, seed, bias="zero")
    x = make_input(seed + 1, in_shape, "R" if signed else "R+")
    fc = target_outputs(net, x)
    Rs = net.explain(x, Epsilon(0.0), return_all=True)
    for R in Rs:
        mass = np.abs(R).reshape(len(x), -1).sum(axis=1)
        assert np.all(np.abs(layer_sums(R) - fc) <= 1e-9 * np.maximum(np.abs(fc), mass))


@SETTINGS
@given(arch=architectures(), seed=st.integers(0, 2 ** 32 - 1))
def test_alpha1_beta0_equals_zplus(arch, seed):
    spec, in_shape = arch
    net = build_net(spec, seed)                     # biases <= 0
    x = make_input(seed + 1, in_shape, "R+")        # x >= 0
    Ra = net.explain(x, AlphaBeta(1, 0), return_all=True)
    Rz = net.explain(x, ZPlus(), return_all=True)
    for a, z in zip(Ra, Rz):
        np.testing.assert_allclose(a, z, rtol=1e-12, atol=1e-15 * max(np.abs(z).max(), 1e-300))
    # and the same through the registry names
    np.testing.assert_allclose(net.explain(x, composites.get("alpha1-beta0")),
                               net.explain(x, composites.get("zplus")), rtol=1e-12, atol=1e-15 * np.abs(Rz[0]).max())


@SETTINGS
@given(arch=architectures(pools=("none", "sum", "avg", "max"), lrn=False), seed=st.integers(0, 2 ** 32 - 1),
       signed=st.booleans())
def test_lrp0_equals_gradient_times_input(arch, seed, signed):
    spec, in_shape = arch
    net = build_net(spec, seed, bias="zero")
    x = make_input(seed + 1, in_shape, "R" if signed else "R+")
    acts = net.forward(x, return_all=True)
    out = acts[-1]
    t = out.argmax(axis=1)
    assume(np.all(out[np.arange(len(t)), t] != 0))
    # gradient of f_c w.r.t. every layer's input, by the layers' own backward
    g = np.zeros_like(out)
    g[np.arange(len(t)), t] = 1.0
    grads = [g]
    for layer, a in zip(reversed(net.layers), reversed(acts[:-1])):
        grads.append(layer.backward(a, grads[-1]))
    grads = grads[::-1]
    Rs = net.explain(x, Epsilon(0.0), return_all=True)
    assert len(Rs) == len(acts) == len(net.layers) + 1
    for R, a, gr in zip(Rs, acts, grads):
        gxi = a * gr
        np.testing.assert_allclose(R, gxi, rtol=1e-9, atol=1e-9 * max(np.abs(gxi).max(), 1e-300))
    np.testing.assert_allclose(Rs[0], dtd.gradient_x_input(net, x), rtol=1e-9,
                               atol=1e-9 * max(np.abs(Rs[0]).max(), 1e-300))
