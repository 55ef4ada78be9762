"""GroupedConv2d vectorised over the groups (the depthwise route and the batched-product route) against
independent references.

References:

- ``scipy.signal.correlate`` (method ``direct``) per (sample, output channel, input channel of its group)
  on the zero-padded input, subsampled by the stride: the definition, sharing no code with dtd;
- the per-group loop the vectorised code replaced (one ``Conv2d`` per group,
  ``dtd.layers.grouped_conv._per_group_linear`` / ``_linear_backward`` / ``_param_grads``);
- adjointness of the forward and the transpose, ``<A x, g> == <x, A^T g>``;
- the gradient and weight gradient of the equivalent block-diagonal ``Conv2d``;
- every linear rule's closed form over the layer unrolled into an explicit matrix by plain loops
  (``tests/_matrices.py``, block-diagonal for groups) -- the fast path is the four steps of
  ``dtd.rules.base`` running ``linear`` and ``linear_backward`` with modified (elementwise) weights.

Tolerances: float64 is the ground truth, 1e-12 relative to the largest entry (the references sum the same
products in another order: rounding ~1e-16 per term, at most a few dozen terms); the rules' closed forms
to 1e-10 as in ``test_rules_closed_form.py`` (a quotient of such sums).  float32 against the float64
result: 1e-5 relative to the largest entry (float32 rounding, 6e-8 per operation, over at most 48 terms);
the rules in float32 to 1e-4, or as close as the equivalent plain Conv2d in float32 (see
``test_rules_float32``).
The geometries are drawn by hypothesis (groups, channels per group, outputs per group, kernel, stride,
padding, batch, image size), with the pieces of both routes forced small in some examples so that the
cutting into pieces (samples, channels, bands of rows) is exercised too.
"""
import itertools
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.signal import correlate

import dtd
from dtd import workspace
from dtd.layers import Conv2d, GroupedConv2d, ReLU
from dtd.layers import grouped_conv as gc

from test_rules_closed_form import _rules, check_fast_path

RTOL64, RTOL32, RTOL_RULES = 1e-12, 1e-5, 1e-10
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def correlate_reference(x, w, b, groups, stride, padding):
    """The grouped correlation by scipy.signal.correlate, one 2-D correlation per connected channel pair."""
    N, C, H, W = x.shape
    Co, ci, kH, kW = w.shape
    t, l, bo, r = padding if len(padding) == 4 else tuple(padding) * 2     # (top, left, bottom, right)
    sH, sW = stride
    xp = np.pad(x, ((0, 0), (0, 0), (t, bo), (l, r)))
    Ho, Wo = (H + t + bo - kH) // sH + 1, (W + l + r - kW) // sW + 1
    out = np.zeros((N, Co, Ho, Wo))
    per_group = Co // groups
    for n in range(N):
        for o in range(Co):
            k = o // per_group
            acc = np.zeros((H + t + bo - kH + 1, W + l + r - kW + 1))
            for c in range(ci):
                acc += correlate(xp[n, k * ci + c], w[o, c], mode="valid", method="direct")
            out[n, o] = acc[::sH, ::sW][:Ho, :Wo] + b[o]
    return out


def block_diagonal(layer):
    """The equivalent plain Conv2d: the grouped weights on the block diagonal, zeros elsewhere."""
    w, G = layer.weight, layer.groups
    co, ci = w.shape[0] // G, w.shape[1]
    full = np.zeros((w.shape[0], ci * G) + w.shape[2:])
    for k in range(G):
        full[k * co:(k + 1) * co, k * ci:(k + 1) * ci] = w[k * co:(k + 1) * co]
    return Conv2d(full, layer.bias, layer.stride, layer.padding)


class small_pieces:
    """Force tiny pieces (depthwise pieces of one channel or a few, im2col pieces of one band of rows) if
    ``on``; with ``flat=False`` the depthwise route channel by channel even on small images."""

    def __init__(self, on=True, flat=True):
        self.on, self.flat = on, flat

    def __enter__(self):
        self.saved = gc.DEPTHWISE_TILE, workspace.TILE, workspace.LIMIT, gc.FLAT_MAX
        if self.on:
            gc.DEPTHWISE_TILE, workspace.TILE, workspace.LIMIT = 64, 64, 256
        if not self.flat:
            gc.FLAT_MAX = 0
        return self

    def __exit__(self, *exc):
        gc.DEPTHWISE_TILE, workspace.TILE, workspace.LIMIT, gc.FLAT_MAX = self.saved


@st.composite
def geometries(draw):
    groups = draw(st.integers(1, 4))
    ci = draw(st.sampled_from([1, 1, 2, 3]))            # depthwise (ci == 1) half of the time
    co = draw(st.integers(1, 3))
    kH, kW = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    sH, sW = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    pads = tuple(draw(st.integers(0, 2)) for _ in range(4))      # (top, left, bottom, right)
    if draw(st.booleans()):
        pads = pads[:2] * 2                                       # symmetric half of the time
    t, l, bo, r = pads
    H = draw(st.integers(max(1, kH - t - bo), kH + 7))
    W = draw(st.integers(max(1, kW - l - r), kW + 7))
    N = draw(st.integers(1, 3))
    return dict(groups=groups, ci=ci, co=co, kernel=(kH, kW), stride=(sH, sW),
                padding=pads[:2] if pads[:2] == pads[2:] else pads,
                shape=(N, groups * ci, H, W), seed=draw(st.integers(0, 2 ** 32 - 1)), small=draw(st.booleans()),
                flat=draw(st.booleans()))


def make(g, rng=None):
    rng = np.random.default_rng(g["seed"]) if rng is None else rng
    w = rng.normal(size=(g["groups"] * g["co"], g["ci"]) + g["kernel"])
    b = rng.normal(size=w.shape[0])
    layer = GroupedConv2d(w, b, g["stride"], g["padding"], g["groups"])
    return layer, rng.normal(size=g["shape"]), rng


def close(a, ref, rtol):
    np.testing.assert_allclose(a, ref, rtol=0, atol=rtol * max(np.abs(ref).max(), 1e-300))


@SETTINGS
@given(geometries())
def test_forward_transpose_and_weight_gradient_against_references(g):
    layer, x, rng = make(g)
    w, b = layer.weight, layer.bias
    with small_pieces(g["small"], g["flat"]):
        y = layer.forward(x)
        G = rng.normal(size=y.shape)
        gx = layer.backward(x, G)
        dw, db = layer.param_grads(x, G)
        y32 = layer.forward(x.astype(np.float32))
        gx32 = layer.backward(x.astype(np.float32), G.astype(np.float32))
    assert y32.dtype == gx32.dtype == np.float32
    # the definition (scipy) and the per-group loop
    close(y, correlate_reference(x, w, b, layer.groups, layer.stride, g["padding"]), RTOL64)
    close(y, gc._per_group_linear(layer, x, w, b), RTOL64)
    close(gx, gc._per_group_linear_backward(layer, G, w, x.shape), RTOL64)
    dw_ref, db_ref = gc._per_group_param_grads(layer, x, G)
    close(dw, dw_ref, RTOL64)
    close(db, db_ref, RTOL64)
    # the block-diagonal plain convolution (its gradient; its weight gradient on the diagonal blocks)
    full = block_diagonal(layer)
    close(gx, full.backward(x, G), RTOL64)
    co, ci = g["co"], g["ci"]
    dw_full = full.param_grads(x, G)[0]
    close(dw, np.concatenate([dw_full[k * co:(k + 1) * co, k * ci:(k + 1) * ci] for k in range(layer.groups)]),
          RTOL64)
    # adjointness: <A x, G> == <x, A^T G> (without the bias), relative to the sum of |terms|
    Ax = layer.linear(x, w, None)
    scale = np.sum(layer.linear(np.abs(x), np.abs(w), None) * np.abs(G))
    assert abs(np.sum(Ax * G) - np.sum(x * layer.linear_backward(G, w, x.shape))) <= RTOL64 * scale
    # float32 agrees with float64 to float32 precision
    close(y32, y, RTOL32)
    close(gx32, gx, RTOL32)


@pytest.mark.parametrize("groups,ci,co,stride,padding,side", [
    (2, 3, 2, 1, 1, 32),     # stride 1, large image, co <= ci: the transpose as a grouped conv of g, flipped kernel
    (3, 2, 1, 1, 1, 32),     # ... whose transpose has one input channel a group: the depthwise route, 2 outputs each
    (4, 1, 1, 1, 0, 32),     # depthwise without padding: the transpose accumulates in its output directly
    (3, 1, 2, 2, 1, 33),     # depthwise with 2 outputs per channel, stride 2
    (4, 2, 3, 1, 2, 32),     # co > ci: the scatter route at stride 1
    # padding (top, left, bottom, right) that differs at the two ends of an axis
    (2, 3, 2, 1, (0, 2, 1, 0), 32),     # the flipped-kernel transpose, its padding's ends exchanged
    (4, 1, 1, 2, (0, 0, 1, 1), 33),     # depthwise, TensorFlow SAME at stride 2
    (3, 1, 2, 1, (2, 1, 0, 2), 32),     # depthwise, 2 outputs per channel
])
def test_routes_on_larger_images(groups, ci, co, stride, padding, side):
    """The routes that only images of >= 2048 positions (or particular channel counts) take."""
    rng = np.random.default_rng(groups * 100 + ci * 10 + co)
    w = rng.normal(size=(groups * co, ci, 3, 3))
    b = rng.normal(size=groups * co)
    layer = GroupedConv2d(w, b, stride, padding, groups)
    x = rng.normal(size=(2, groups * ci, side, side + 1))
    y = layer.forward(x)
    G = rng.normal(size=y.shape)
    close(y, gc._per_group_linear(layer, x, w, b), RTOL64)
    close(layer.backward(x, G), gc._per_group_linear_backward(layer, G, w, x.shape), RTOL64)
    close(y, correlate_reference(x, w, b, groups, layer.stride, layer.padding), RTOL64)
    for flat in (True, False):
        with small_pieces(True, flat):
            close(layer.forward(x), y, RTOL64)
            close(layer.backward(x, G), gc._per_group_linear_backward(layer, G, w, x.shape), RTOL64)
        with small_pieces(False, flat):
            close(layer.forward(x), y, RTOL64)
            close(layer.backward(x, G), gc._per_group_linear_backward(layer, G, w, x.shape), RTOL64)


def test_depthwise_route_is_taken_and_needs_no_im2col(monkeypatch):
    """A depthwise layer never calls im2col (forward or transpose); a grouped one with 2 channels a group does."""
    calls = []
    real = gc.im2col
    monkeypatch.setattr(gc, "im2col", lambda *a, **k: calls.append(1) or real(*a, **k))
    rng = np.random.default_rng(0)
    dw = GroupedConv2d(rng.normal(size=(6, 1, 3, 3)), rng.normal(size=6), 2, 1, 6)
    x = rng.normal(size=(2, 6, 9, 9))
    assert dw.depthwise
    y = dw.forward(x)
    dw.backward(x, y)
    assert calls == []
    GroupedConv2d(rng.normal(size=(6, 2, 3, 3)), None, 1, 1, 3).forward(x)
    assert calls


def test_post_and_sequential_forward():
    """linear(post=) applies the ReLU to each piece; Sequential's fused forward equals layer by layer."""
    rng = np.random.default_rng(1)
    for ci, groups in ((1, 4), (2, 2)):
        layer = GroupedConv2d(rng.normal(size=(4, ci, 3, 3)), rng.normal(size=4), 1, 1, groups)
        x = rng.normal(size=(3, layer._channels(), 6, 5))
        w, b = layer.params(x.dtype)
        ref = np.maximum(gc._per_group_linear(layer, x, w, b), 0)
        for flat in (True, False):
            with small_pieces(True, flat):
                got = layer.linear(x, w, b, post=ReLU()._forward_inplace)
            close(got, ref, RTOL64)
        net = dtd.Sequential([layer, ReLU()])
        close(net.forward(x), ref, RTOL64)


def test_noncontiguous_input():
    rng = np.random.default_rng(2)
    layer = GroupedConv2d(rng.normal(size=(3, 1, 3, 3)), rng.normal(size=3), 1, 0, 3)
    big = rng.normal(size=(2, 6, 8, 14))
    for x, flat in itertools.product((big[:, ::2], big[:, :3, :, ::2], big[:, :3].transpose(0, 1, 3, 2),
                                      big[:, 3:]), (True, False)):
        with small_pieces(False, flat):
            close(layer.forward(x), correlate_reference(np.ascontiguousarray(x), layer.weight, layer.bias, 3,
                                                        (1, 1), (0, 0)), RTOL64)
            G = rng.normal(size=layer.forward(x).shape)
            close(layer.backward(x, G), gc._per_group_linear_backward(layer, G, layer.weight, x.shape), RTOL64)


def test_groups_one_is_a_plain_conv():
    rng = np.random.default_rng(3)
    w, b = rng.normal(size=(4, 3, 3, 3)), rng.normal(size=4)
    x = rng.normal(size=(2, 3, 6, 6))
    close(GroupedConv2d(w, b, 2, 1, 1).forward(x), Conv2d(w, b, 2, 1).forward(x), RTOL64)


# ------------------------------------------------------------------ every linear rule against its closed form
LAYERS = {
    "depthwise-s1-p1": (lambda rng: GroupedConv2d(rng.normal(size=(3, 1, 3, 3)), rng.normal(size=3), 1, 1, 3),
                        (3, 5, 5)),
    "depthwise-s2-p1": (lambda rng: GroupedConv2d(rng.normal(size=(3, 1, 3, 3)), rng.normal(size=3), 2, 1, 3),
                        (3, 6, 7)),
    "depthwise-x2-nonsquare": (lambda rng: GroupedConv2d(rng.normal(size=(4, 1, 2, 3)), rng.normal(size=4),
                                                         (2, 1), (1, 0), 2), (2, 5, 6)),
    "grouped-2x2-to-3": (lambda rng: GroupedConv2d(rng.normal(size=(6, 2, 3, 3)), rng.normal(size=6), 1, 1, 2),
                         (4, 5, 5)),
    "grouped-3x2-to-1-s2": (lambda rng: GroupedConv2d(rng.normal(size=(3, 2, 2, 2)), rng.normal(size=3), 2, 0, 3),
                            (6, 6, 6)),
}


@pytest.mark.parametrize("kind", ["signed", "positive", "sparse"])
@pytest.mark.parametrize("layer_name", list(LAYERS))
def test_rules_equal_closed_form(layer_name, kind):
    rng = np.random.default_rng(zlib.crc32(f"grouped/{layer_name}/{kind}".encode()))
    make_layer, shape = LAYERS[layer_name]
    check_fast_path(make_layer(rng), shape, kind, rng, RTOL_RULES, 1e-12, f"{layer_name}/{kind}")


@pytest.mark.parametrize("layer_name", ["depthwise-s2-p1", "grouped-2x2-to-3"])
def test_rules_float32(layer_name):
    """float32 relevance agrees with float64 to 1e-4 of its largest entry, or is at least as close as the
    equivalent block-diagonal Conv2d's float32 relevance (a rule whose denominators come near zero on signed
    inputs amplifies float32 rounding whatever the layer's code: then the plain convolution sets the bar)."""
    rng = np.random.default_rng(zlib.crc32(layer_name.encode()))
    make_layer, shape = LAYERS[layer_name]
    layer = make_layer(rng)
    full = block_diagonal(layer)
    x = rng.normal(size=(2,) + shape)
    R = rng.normal(size=layer.forward(x).shape)
    x32, R32 = x.astype(np.float32), R.astype(np.float32)
    for name, rule in _rules(shape, rng).items():
        ref = layer.relevance(x, R, rule)
        out = layer.relevance(x32, R32, rule)
        assert out.dtype == np.float32, name
        err, err_conv = np.abs(out - ref).max(), np.abs(full.relevance(x32, R32, rule) - ref).max()
        assert err <= max(1e-4 * np.abs(ref).max(), 2 * err_conv), name


def test_network_explanation_equals_the_per_group_loop():
    """A small MobileNetV2-like block (1x1 expand, ReLU, depthwise 3x3 stride 2, ReLU, 1x1 project) explained
    with epsilon-gamma-box: the same relevance with the old per-group loop patched in (float64)."""
    rng = np.random.default_rng(4)
    net = dtd.Sequential([
        Conv2d(rng.normal(size=(12, 3, 1, 1)), rng.normal(size=12)), ReLU(),
        GroupedConv2d(rng.normal(size=(12, 1, 3, 3)), rng.normal(size=12), 2, 1, 12), ReLU(),
        Conv2d(rng.normal(size=(5, 12, 1, 1)), rng.normal(size=5)),
        dtd.layers.Flatten(), dtd.layers.Dense(rng.normal(size=(4, 5 * 4 * 4)), rng.normal(size=4)),
    ])
    x = rng.normal(size=(3, 3, 8, 8))
    comp = dtd.composites.get("epsilon-gamma-box", low=-3, high=3)
    R = net.explain(x, comp)
    y = net.forward(x)
    saved = GroupedConv2d.linear, GroupedConv2d.linear_backward
    try:
        GroupedConv2d.linear = lambda layer, x, w, b: gc._per_group_linear(layer, x, w, b)
        GroupedConv2d.linear_backward = gc._per_group_linear_backward
        R_old, y_old = net.explain(x, comp), net.forward(x)
    finally:
        GroupedConv2d.linear, GroupedConv2d.linear_backward = saved
    close(y, y_old, RTOL64)
    close(R, R_old, 1e-10)
