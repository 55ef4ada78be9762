"""Convolutions whose zero padding differs at the two ends of an axis, ``padding=(top, left, bottom, right)``,
and the ONNX import that folds every zero padding before a ``Conv`` into the Conv2d.

References (none shares code with dtd's im2col / phase routes):

* a loop over output positions and kernel offsets that reads ``x`` by the definition
  ``z[o, i, j] = sum w[o, c, a, b] x[c, i sH + a - t, j sW + b - l]`` (an index outside the input reads 0),
  and its adjoint and weight gradient written the same way;
* central finite differences of the forward (the layer is affine: the error is rounding only, step 1e-6 on
  inputs of order 1 gives ~1e-10; tolerance rtol 1e-6, atol 1e-8);
* torch's ``F.pad`` + ``F.conv2d`` (and autograd) in float64, skipped without torch;
* ``ZeroPad2d`` + ``Conv2d(padding=0)``: the same forward, and the same relevance under every rule whose
  message to an input is proportional to it (LRP-0, epsilon, gamma, alpha-beta, z+): a padded zero
  receives nothing there.  float64, rtol 1e-12 with an absolute floor of 1e-12 times the largest entry
  (the two sum the same products in another order);
* under z^B, w^2 and flat: the rule's closed form (``rule.explicit``) over the convolution written as a
  dense matrix over the *unpadded* input by loops (``tests/_matrices.py``; the padded positions are not
  inputs), 1e-10 relative as in ``test_rules_closed_form.py`` (a quotient of sums of up to 18 products);
* the ONNX import against onnxruntime: float32, rtol 1e-5 with an absolute floor of 1e-5 times the largest
  output (float32 sums in another order; measured worst ~2e-7).  Graphs built with ``onnx.helper``: Conv
  ``pads=[0, 0, 1, 1]`` at stride 2, ``auto_pad=SAME_UPPER`` / ``SAME_LOWER``, an asymmetric ``Pad`` before a
  Conv, a chain of two Pads, a Pad read by two Convs and a ReLU (kept for the ReLU alone).  Under z^B the
  relevance the old import (ZeroPad2d + Conv2d) dropped at the border is its closed-form share of the padded
  positions; the new import conserves it.

Geometries are drawn by hypothesis (kernel, stride, four pads, image, channels, groups).  float32 results
are held to the float64 ones to 1e-5 relative to the largest entry (a few dozen float32 operations).
"""
import io
import json
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dtd
from dtd import Sequential
from dtd.layers import Conv2d, Crop, Dense, Flatten, GroupedConv2d, ReLU, ZeroPad2d
from dtd.rules import AlphaBeta, Epsilon, Flat, Gamma, WSquare, ZBox, ZPlus

from _matrices import dense_matrix

RTOL64, RTOL_RULES, RTOL32 = 1e-12, 1e-10, 1e-5
PROPORTIONAL = {"lrp-0": Epsilon(0.0), "epsilon": Epsilon(0.2), "gamma": Gamma(0.25),
                "alpha2-beta1": AlphaBeta(2, 1), "alpha1-beta0": AlphaBeta(1, 0), "zplus": ZPlus()}
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def close(a, ref, rtol):
    assert a.shape == ref.shape
    np.testing.assert_allclose(a, ref, rtol=rtol, atol=rtol * max(np.abs(ref).max(), 1e-300))


# -- the loop reference ---------------------------------------------------------------------------
def _taps(x_shape, w_shape, stride, pads, groups):
    """``(i, j, a, b, r, s)`` for every output position, kernel offset and the input entry it reads (inside
    the input only), and the output size."""
    H, W = x_shape[2:]
    kH, kW = w_shape[2:]
    (sH, sW), (t, l, bo, r) = stride, pads
    Ho, Wo = (H + t + bo - kH) // sH + 1, (W + l + r - kW) // sW + 1
    taps = [(i, j, a, b, i * sH + a - t, j * sW + b - l)
            for i in range(Ho) for j in range(Wo) for a in range(kH) for b in range(kW)
            if 0 <= i * sH + a - t < H and 0 <= j * sW + b - l < W]
    return taps, Ho, Wo


def _group_of(w_shape, groups):
    Co, ci = w_shape[:2]
    return [range((o // (Co // groups)) * ci, (o // (Co // groups) + 1) * ci) for o in range(Co)]


def loop_forward(x, w, bias, stride, pads, groups=1):
    taps, Ho, Wo = _taps(x.shape, w.shape, stride, pads, groups)
    chans = _group_of(w.shape, groups)
    z = np.zeros((x.shape[0], w.shape[0], Ho, Wo)) + bias[None, :, None, None]
    for o in range(w.shape[0]):
        for i, j, a, b, r, s in taps:
            z[:, o, i, j] += x[:, chans[o], r, s] @ w[o, :, a, b]
    return z


def loop_backward(g, w, x_shape, stride, pads, groups=1):
    taps, _, _ = _taps(x_shape, w.shape, stride, pads, groups)
    chans = _group_of(w.shape, groups)
    gx = np.zeros(x_shape)
    for o in range(w.shape[0]):
        for i, j, a, b, r, s in taps:
            gx[:, chans[o], r, s] += g[:, o, i, j, None] * w[o, :, a, b]
    return gx


def loop_weight_grad(x, g, w_shape, stride, pads, groups=1):
    taps, _, _ = _taps(x.shape, w_shape, stride, pads, groups)
    chans = _group_of(w_shape, groups)
    dw = np.zeros(w_shape)
    for o in range(w_shape[0]):
        for i, j, a, b, r, s in taps:
            dw[o, :, a, b] += g[:, o, i, j] @ x[:, chans[o], r, s]
    return dw


def make(rng, C, Co, kernel, stride, pads, groups=1, N=2, size=(7, 6)):
    w = rng.normal(size=(Co, C // groups) + tuple(kernel))
    b = rng.normal(size=Co)
    layer = (Conv2d(w, b, stride, pads) if groups == 1 else GroupedConv2d(w, b, stride, pads, groups))
    return layer, rng.normal(size=(N, C) + tuple(size))


CASES = [   # C, C_out, kernel, stride, (top, left, bottom, right), groups, (H, W)
    (2, 3, (3, 3), (2, 2), (0, 0, 1, 1), 1, (8, 8)),          # TensorFlow SAME, stride 2
    (2, 3, (3, 3), (2, 2), (0, 0, 1, 1), 1, (7, 7)),          # ... where floor leaves the end padding unread
    (2, 3, (3, 3), (2, 2), (1, 1, 0, 0), 1, (6, 6)),          # SAME_LOWER-like
    (3, 2, (3, 2), (1, 2), (2, 0, 1, 3), 1, (5, 6)),
    (2, 4, (1, 1), (1, 1), (0, 1, 0, 0), 1, (4, 5)),          # 1x1 with padding: not the no-im2col route
    (4, 4, (3, 3), (2, 2), (0, 0, 1, 1), 4, (7, 8)),          # depthwise
    (3, 6, (2, 3), (1, 2), (1, 2, 0, 1), 3, (6, 7)),          # depthwise, 2 outputs per channel
    (4, 6, (3, 3), (2, 1), (0, 1, 2, 0), 2, (6, 5)),          # grouped, 2 channels a group
]


@pytest.mark.parametrize("case", CASES)
def test_forward_gradient_and_weight_gradient_against_the_loop(case):
    C, Co, k, s, pads, groups, size = case
    rng = np.random.default_rng(sum(pads) + 10 * C + Co)
    layer, x = make(rng, C, Co, k, s, pads, groups, size=size)
    assert layer.pads == pads and layer.padding == pads and not layer.symmetric
    y = layer.forward(x)
    close(y, loop_forward(x, layer.weight, layer.bias, s, pads, groups), RTOL64)
    assert y.shape == layer.output_shape(x.shape)
    G = rng.normal(size=y.shape)
    close(layer.backward(x, G), loop_backward(G, layer.weight, x.shape, s, pads, groups), RTOL64)
    dw, db = layer.param_grads(x, G)
    close(dw, loop_weight_grad(x, G, layer.weight.shape, s, pads, groups), RTOL64)
    close(db, G.sum(axis=(0, 2, 3)), RTOL64)
    # float32 in, float32 out, to float32 precision
    y32 = layer.forward(x.astype(np.float32))
    assert y32.dtype == np.float32
    close(y32, y, RTOL32)


@pytest.mark.parametrize("case", CASES[:3] + CASES[4:5])
def test_gradient_equals_finite_differences(case):
    C, Co, k, s, pads, groups, size = case
    rng = np.random.default_rng(7)
    layer, x = make(rng, C, Co, k, s, pads, groups, N=1, size=size)
    G = rng.normal(size=layer.forward(x).shape)
    h = 1e-6
    fd = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[idx] = h
        fd[idx] = (np.sum(G * layer.forward(x + e)) - np.sum(G * layer.forward(x - e))) / (2 * h)
    np.testing.assert_allclose(layer.backward(x, G), fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("C,Co,groups,stride,pads,side", [
    (3, 2, 1, 1, (0, 2, 1, 0), 32),     # stride 1, >= 2048 positions, C_out <= C: the flipped-kernel transpose
    (2, 3, 1, 1, (2, 0, 0, 1), 32),     # C_out > C: the scatter route
    (3, 3, 3, 2, (0, 0, 1, 1), 49),     # depthwise on a large image (channel by channel, not the flat route)
    (6, 4, 2, 1, (1, 0, 2, 1), 32),     # grouped, stride 1, large: the grouped flipped-kernel transpose
])
def test_routes_of_larger_images(C, Co, groups, stride, pads, side):
    rng = np.random.default_rng(side + C)
    layer, x = make(rng, C, Co, (3, 3), stride, pads, groups, N=2, size=(side, side + 1))
    y = layer.forward(x)
    close(y, loop_forward(x, layer.weight, layer.bias, layer.stride, pads, groups), RTOL64)
    G = rng.normal(size=y.shape)
    close(layer.backward(x, G), loop_backward(G, layer.weight, x.shape, layer.stride, pads, groups), RTOL64)


@pytest.mark.parametrize("case", CASES)
def test_forward_and_gradient_equal_torch(case):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    C, Co, k, s, (t, l, b, r), groups, size = case
    rng = np.random.default_rng(3)
    layer, x = make(rng, C, Co, k, s, (t, l, b, r), groups, size=size)
    xt = torch.from_numpy(x).requires_grad_(True)
    yt = F.conv2d(F.pad(xt, (l, r, t, b)), torch.from_numpy(layer.weight), torch.from_numpy(layer.bias),
                  stride=s, groups=groups)
    G = rng.normal(size=tuple(yt.shape))
    gt, = torch.autograd.grad(yt, xt, torch.from_numpy(G))
    close(layer.forward(x), yt.detach().numpy(), RTOL64)
    close(layer.backward(x, G), gt.numpy(), RTOL64)


# -- the relevance ----------------------------------------------------------------------------------
@pytest.mark.parametrize("rule", list(PROPORTIONAL.values()), ids=list(PROPORTIONAL))
@pytest.mark.parametrize("case", CASES)
def test_equals_zeropad_then_unpadded_conv_for_proportional_rules(case, rule):
    """Conv2d(padding=(t, l, b, r)) = ZeroPad2d((t, l, b, r)) + Conv2d(padding=0): forward, and the
    relevance of every rule whose messages are proportional to the input (a padded zero receives 0)."""
    C, Co, k, s, pads, groups, size = case
    rng = np.random.default_rng(11)
    layer, x = make(rng, C, Co, k, s, pads, groups, size=size)
    x = np.abs(x)                                                  # >= 0: the domain of z+ and gamma
    zero = (Conv2d(layer.weight, layer.bias, s, 0) if groups == 1
            else GroupedConv2d(layer.weight, layer.bias, s, 0, groups))
    pad = ZeroPad2d(pads)
    close(layer.forward(x), zero.forward(pad.forward(x)), RTOL64)
    R = rng.uniform(0.1, 1.0, size=layer.output_shape(x.shape))
    own = layer.relevance(x, R, rule)
    R_pad = zero.relevance(pad.forward(x), R, rule)
    close(own, pad.relevance(x, R_pad, Crop()), RTOL64)
    assert np.abs(R_pad.sum() - own.sum()) <= 1e-12 * np.abs(R_pad).sum()    # nothing sent to the padding


@pytest.mark.parametrize("rule", [ZBox(-1.0, 2.0), WSquare(), Flat()], ids=["zbox", "wsquare", "flat"])
@pytest.mark.parametrize("case", CASES)
def test_box_wsquare_flat_equal_the_closed_form_without_the_padding(case, rule):
    """z^B, w^2 and flat over the convolution's matrix on the unpadded input: the padded positions are no
    inputs (they take no share); ZeroPad2d + Conv2d(0) differs (its padded positions do, and are cropped)."""
    C, Co, k, s, pads, groups, size = case
    rng = np.random.default_rng(12)
    layer, x = make(rng, C, Co, k, s, pads, groups, N=2, size=size)
    x = np.clip(x, -1.0, 2.0)
    N = x.shape[0]
    R = rng.uniform(0.1, 1.0, size=layer.output_shape(x.shape))
    got = layer.relevance(x, R, rule)
    W, b, connected = dense_matrix(layer, x.shape[1:])
    close(x.reshape(N, -1) @ W.T + b, layer.forward(x).reshape(N, -1), RTOL64)
    want = rule.explicit(W, b, x.reshape(N, -1), R.reshape(N, -1), connected=connected).reshape(x.shape)
    close(got, want, RTOL_RULES)
    sees = connected.any(axis=1)                 # an output whose window is all padding sees no input
    if not isinstance(rule, ZBox):               # w^2 and flat conserve the relevance of the others
        np.testing.assert_allclose(got.sum(), R.reshape(N, -1)[:, sees].sum(), rtol=1e-12)
    zero = (Conv2d(layer.weight, layer.bias, s, 0) if groups == 1
            else GroupedConv2d(layer.weight, layer.bias, s, 0, groups))
    pad = ZeroPad2d(pads)
    cropped = pad.relevance(x, zero.relevance(pad.forward(x), R, rule))
    # (a 1x1 window is an input or padding alone; on 7x7 with stride 2 no window reads the end padding)
    if k != (1, 1) and size != (7, 7):
        assert np.abs(cropped - got).max() > 1e-3 * np.abs(got).max()


@st.composite
def geometries(draw):
    groups = draw(st.integers(1, 3))
    ci = draw(st.integers(1, 2))
    co = draw(st.integers(1, 2))
    kH, kW = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    pads = tuple(draw(st.integers(0, 3)) for _ in range(4))
    t, l, b, r = pads
    H = draw(st.integers(max(1, kH - t - b), kH + 6))
    W = draw(st.integers(max(1, kW - l - r), kW + 6))
    return dict(C=groups * ci, Co=groups * co, groups=groups, kernel=(kH, kW), stride=stride, pads=pads,
                size=(H, W), N=draw(st.integers(1, 2)), seed=draw(st.integers(0, 2 ** 32 - 1)))


@SETTINGS
@given(geometries())
def test_property_any_geometry(g):
    """Any kernel, stride and four pads (including pads as large as the kernel): forward, gradient and weight
    gradient equal the loop; LRP-0 equals ZeroPad2d + Conv2d(0); w^2 equals its closed form."""
    rng = np.random.default_rng(g["seed"])
    layer, x = make(rng, g["C"], g["Co"], g["kernel"], g["stride"], g["pads"], g["groups"], g["N"], g["size"])
    assert layer.pads == g["pads"]
    args = (layer.stride, g["pads"], g["groups"])
    y = layer.forward(x)
    close(y, loop_forward(x, layer.weight, layer.bias, *args), RTOL64)
    G = rng.normal(size=y.shape)
    close(layer.backward(x, G), loop_backward(G, layer.weight, x.shape, *args), RTOL64)
    close(layer.param_grads(x, G)[0], loop_weight_grad(x, G, layer.weight.shape, *args), RTOL64)
    zero = (Conv2d(layer.weight, layer.bias, layer.stride, 0) if g["groups"] == 1
            else GroupedConv2d(layer.weight, layer.bias, layer.stride, 0, g["groups"]))
    pad = ZeroPad2d(g["pads"])
    R = rng.uniform(0.1, 1.0, size=y.shape)
    close(layer.relevance(x, R, Epsilon(0.0)), pad.relevance(x, zero.relevance(pad.forward(x), R, Epsilon(0.0))),
          RTOL64)
    N = x.shape[0]
    W, b, connected = dense_matrix(layer, x.shape[1:])
    want = WSquare().explicit(W, b, x.reshape(N, -1), R.reshape(N, -1), connected=connected)
    close(layer.relevance(x, R, WSquare()).reshape(N, -1), want, RTOL_RULES)


# -- the API ---------------------------------------------------------------------------------------
def test_padding_forms_and_backward_compatible_attribute():
    w = np.ones((1, 1, 3, 3))
    assert Conv2d(w, padding=1).padding == (1, 1) and Conv2d(w, padding=1).pads == (1, 1, 1, 1)
    assert Conv2d(w, padding=(2, 0)).padding == (2, 0) and Conv2d(w, padding=(2, 0)).pads == (2, 0, 2, 0)
    assert Conv2d(w, padding=(1, 2, 1, 2)).padding == (1, 2)            # symmetric 4 ints: the pair
    asym = Conv2d(w, padding=(0, 0, 1, 1), stride=2)
    assert asym.padding == asym.pads == (0, 0, 1, 1) and not asym.symmetric
    assert repr(asym).endswith("stride=(2, 2), padding=(0, 0, 1, 1))")
    assert "padding=(1, 1))" in repr(Conv2d(w, padding=1))
    assert GroupedConv2d(np.ones((2, 1, 3, 3)), None, 1, (0, 1, 2, 3), 2).pads == (0, 1, 2, 3)
    # either form passes back to the constructor
    again = Conv2d(w, None, asym.stride, asym.padding)
    assert again.pads == asym.pads


@pytest.mark.parametrize("cls,extra", [(Conv2d, {}), (GroupedConv2d, {"groups": 1})])
@pytest.mark.parametrize("padding,error,message", [
    ((0, -1), ValueError, r"padding must be >= 0 .*got \(0, -1\)"),
    ((0, 0, 1, -2), ValueError, r"padding must be >= 0 .*got \(0, 0, 1, -2\)"),
    (-1, ValueError, r"padding must be >= 0"),
    ((1, 2, 3), ValueError, r"padding must be an int, \(pH, pW\) or \(top, left, bottom, right\), got 3 values"),
    ((1, 2, 3, 4, 5), ValueError, r"padding must be an int, .*got 5 values"),
    ((1,), ValueError, r"padding must be an int, .*got 1 values"),
    ((1.5, 0), TypeError, r"padding must hold ints"),
    ("ab", TypeError, r"padding must hold ints"),
    (None, TypeError, r"padding must be an int, \(pH, pW\) or \(top, left, bottom, right\), got None"),
])
def test_bad_padding(cls, extra, padding, error, message):
    with pytest.raises(error, match=cls.__name__ + ": " + message):
        cls(np.ones((1, 1, 3, 3)), padding=padding, **extra)


def test_kernel_that_does_not_fit_names_both_ends():
    layer = Conv2d(np.ones((1, 1, 4, 4)), padding=(0, 0, 1, 0))
    with pytest.raises(ValueError, match=r"kernel 4 with padding \(0 before, 1 after\) does not fit an input "
                                         r"of size 2"):
        layer.forward(np.ones((1, 1, 2, 9)))


def test_native_format_symmetric_unchanged_and_asymmetric_round_trip(tmp_path):
    """A symmetric conv is written exactly as before (``"padding": [pH, pW]``: the config JSON below is what
    dtd wrote before asymmetric padding existed); an asymmetric one stores its 4 pads and loads back."""
    rng = np.random.default_rng(0)
    sym = Conv2d(rng.normal(size=(2, 1, 3, 3)), rng.normal(size=2), 2, (1, 0))
    asym = Conv2d(rng.normal(size=(3, 2, 3, 3)), rng.normal(size=3), 2, (0, 0, 1, 1))
    grouped = GroupedConv2d(rng.normal(size=(3, 1, 2, 2)), rng.normal(size=3), 1, (1, 0, 0, 1), 3)
    net = Sequential([sym, ReLU(), asym, ReLU(), grouped, Flatten(), Dense(rng.normal(size=(2, 18)))])
    path = tmp_path / "m.npz"
    dtd.save(net, path)
    with zipfile.ZipFile(path) as zf, zf.open("__architecture__.npy") as f:
        arch = json.loads(str(np.lib.format.read_array(f, allow_pickle=False)[()]))
    configs = [e["config"] for e in arch["layers"]]
    assert json.dumps(configs[0]) == '{"stride": [2, 2], "padding": [1, 0]}'
    assert configs[2] == {"stride": [2, 2], "padding": [0, 0, 1, 1]}
    assert configs[4] == {"stride": [1, 1], "padding": [1, 0, 0, 1], "groups": 3}
    back = dtd.load(path)
    assert [l.pads for l in (back.layers[0], back.layers[2], back.layers[4])] == \
        [(1, 0, 1, 0), (0, 0, 1, 1), (1, 0, 0, 1)]
    assert back.layers[0].padding == (1, 0)
    x = rng.uniform(size=(2, 1, 13, 12))
    np.testing.assert_array_equal(back.forward(x), net.forward(x))
    np.testing.assert_array_equal(back.explain(x, ZBox(0.0, 1.0), target=1), net.explain(x, ZBox(0.0, 1.0), target=1))


def test_native_file_with_bad_pads_is_refused(tmp_path):
    from dtd import ModelFileError
    net = Sequential([Conv2d(np.ones((1, 1, 3, 3)), padding=(0, 0, 1, 1))])
    path = tmp_path / "m.npz"
    dtd.save(net, path)
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    with zipfile.ZipFile(path) as zf, zf.open("__architecture__.npy") as f:
        arch = json.loads(str(np.lib.format.read_array(f, allow_pickle=False)[()]))
    arch["layers"][0]["config"]["padding"] = [0, 0, -1, 1]
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.array(json.dumps(arch)), allow_pickle=False)
    members["__architecture__.npy"] = buf.getvalue()
    with zipfile.ZipFile(path, "w") as zf:
        for n, data in members.items():
            zf.writestr(n, data)
    with pytest.raises(ModelFileError, match=r"layer 0 \(Conv2d\): Conv2d: padding must be >= 0"):
        dtd.load(path)


# -- the ONNX import ------------------------------------------------------------------------------
onnx_cases = pytest.mark.parametrize("kind,size,pads", [
    ("pads", (8, 8), (0, 0, 1, 1)),                  # Conv pads=[0, 0, 1, 1], stride 2
    ("SAME_UPPER", (8, 7), (0, 1, 1, 1)),            # TensorFlow SAME: the extra pad at the end
    ("SAME_LOWER", (8, 7), (1, 1, 0, 1)),
    ("Pad", (7, 6), (1, 0, 2, 1)),                   # an asymmetric zero Pad node, then Conv(pads 0, 0, 1, 0)
])


def _onnx_model(kind, size, w, b, dtype):
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper
    et = TensorProto.DOUBLE if dtype == np.float64 else TensorProto.FLOAT
    inits = [numpy_helper.from_array(w.astype(dtype), "w"), numpy_helper.from_array(b.astype(dtype), "b")]
    nodes, x = [], "x"
    attrs = {"kernel_shape": [3, 3], "strides": [2, 2]}
    if kind == "pads":
        attrs["pads"] = [0, 0, 1, 1]
    elif kind.startswith("SAME"):
        attrs["auto_pad"] = kind
    else:
        inits.append(numpy_helper.from_array(np.array([0, 0, 1, 0, 0, 0, 2, 1], np.int64), "p"))
        nodes.append(helper.make_node("Pad", ["x", "p"], ["xp"], name="pad"))
        x = "xp"
        attrs["pads"] = [0, 0, 0, 0]
    nodes.append(helper.make_node("Conv", [x, "w", "b"], ["y"], name="conv", **attrs))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", et, [1, w.shape[1], *size])],
                              [helper.make_tensor_value_info("y", et, None)], initializer=inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    return m


def _weights():
    rng = np.random.default_rng(21)
    return rng.normal(0, 0.4, size=(3, 2, 3, 3)), -np.abs(rng.normal(0, 0.1, size=3))


@onnx_cases
def test_onnx_asymmetric_padding_is_the_convs_own_and_matches_onnxruntime(kind, size, pads):
    ort = pytest.importorskip("onnxruntime")
    from dtd.io import load_onnx
    w, b = _weights()
    m32 = _onnx_model(kind, size, w, b, np.float32)
    net = load_onnx(m32)
    assert [type(l).__name__ for l in net.layers] == ["Conv2d"]          # no ZeroPad2d before it
    assert net.layers[0].pads == pads
    x = np.random.default_rng(1).normal(size=(1, 2) + size).astype(np.float32)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    ref = ort.InferenceSession(m32.SerializeToString(), opts, providers=["CPUExecutionProvider"]).run(
        None, {"x": x})[0]
    y = net.forward(x)
    assert y.dtype == np.float32
    close(y, ref, RTOL32)


@onnx_cases
def test_onnx_zbox_border_relevance_is_kept(kind, size, pads):
    """z^B on the imported conv: every output's relevance reaches the real inputs, by the closed form over
    the matrix without the padded positions.  The old import (ZeroPad2d of the unequal part + Conv2d with the
    shared part) sent a share to the padded positions and dropped it: its result is reproduced here by hand
    and its loss is exactly the closed-form share of the padded positions."""
    from dtd.io import load_onnx
    w, b = _weights()
    net = load_onnx(_onnx_model(kind, size, w, b, np.float64))
    conv = net.layers[0]
    x = np.random.default_rng(2).uniform(0, 1, size=(1, 2) + size)
    R = np.random.default_rng(3).uniform(0.1, 1.0, size=conv.output_shape(x.shape))
    rule = ZBox(0.0, 1.0)
    got = conv.relevance(x, R, rule)
    W, bM, connected = dense_matrix(conv, x.shape[1:])
    want = rule.explicit(W, bM, x.reshape(1, -1), R.reshape(1, -1), connected=connected).reshape(x.shape)
    close(got, want, RTOL_RULES)
    # z^B conserves every neuron whose denominator is non-zero: all of R reaches the input
    np.testing.assert_allclose(got.sum(), R.sum(), rtol=1e-12)
    # the old import, by hand
    t, l, bo, r = pads
    sym = (min(t, bo), min(l, r))
    extra = ZeroPad2d((t - sym[0], l - sym[1], bo - sym[0], r - sym[1]))
    old_conv = Conv2d(w, b, 2, sym)
    xp = extra.forward(x)
    R_padded = old_conv.relevance(xp, R, rule)
    old = extra.relevance(x, R_padded, Crop())
    # the closed form over the old layout: the padded positions are inputs (x = 0, with the box's l and h)
    Wp, bp, cp = dense_matrix(old_conv, xp.shape[1:])
    R_old_all = rule.explicit(Wp, bp, xp.reshape(1, -1), R.reshape(1, -1), connected=cp).reshape(xp.shape)
    close(R_padded, R_old_all, RTOL_RULES)
    inside = np.zeros(xp.shape, bool)
    inside[:, :, extra.pads[0]:extra.pads[0] + size[0], extra.pads[1]:extra.pads[1] + size[1]] = True
    lost = R_old_all[~inside].sum()
    assert lost > 1e-2 * R.sum()
    np.testing.assert_allclose(R.sum() - old.sum(), lost, rtol=1e-10)
    # the inputs next to the old ZeroPad2d: what the old import gave them differs from the closed form
    et, el, eb, er = extra.pads
    border = np.zeros(x.shape, bool)
    border[:, :, :1] |= et > 0
    border[:, :, -1:] |= eb > 0
    border[:, :, :, :1] |= el > 0
    border[:, :, :, -1:] |= er > 0
    assert border.any()
    assert np.abs(got - old)[border].max() > 1e-3 * np.abs(got).max()


def _graph_model(nodes, inits, in_shape, out):
    from onnx import TensorProto, helper, numpy_helper
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
                              [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)],
                              initializer=[numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    return m


def _ort(m, x):
    ort = pytest.importorskip("onnxruntime")
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"]).run(
        None, {"x": x})[0]


def test_onnx_pad_read_by_a_conv_and_a_relu_and_a_chain_of_pads():
    """A Pad that a Conv and a ReLU read: the Conv folds it (reads the unpadded x), the ZeroPad2d stays for
    the ReLU only.  Two Pads in a chain before a Conv: both folded.  Forward against onnxruntime."""
    pytest.importorskip("onnx")
    from onnx import helper
    from dtd.io import load_onnx
    rng = np.random.default_rng(5)
    w = rng.normal(0, 0.4, size=(2, 2, 3, 3)).astype(np.float32)
    inits = {"w": w, "b": np.zeros(2, np.float32),
             "p1": np.array([0, 0, 1, 0, 0, 0, 0, 1], np.int64), "p2": np.array([0, 0, 0, 2, 0, 0, 1, 0], np.int64),
             "axes": np.array([2, 3], np.int64)}
    nodes = [helper.make_node("Pad", ["x", "p1"], ["a"], name="pad1"),
             helper.make_node("Pad", ["a", "p2"], ["a2"], name="pad2"),
             helper.make_node("Conv", ["a2", "w", "b"], ["c"], name="conv", kernel_shape=[3, 3], strides=[2, 2]),
             helper.make_node("Conv", ["a", "w", "b"], ["d"], name="conv2", kernel_shape=[3, 3], strides=[2, 2],
                              pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["a"], ["e"], name="relu"),
             helper.make_node("ReduceSum", ["e", "axes"], ["f"], name="sum", keepdims=1),
             helper.make_node("ReduceSum", ["c", "axes"], ["g"], name="sumc", keepdims=1),
             helper.make_node("ReduceSum", ["d", "axes"], ["h"], name="sumd", keepdims=1),
             helper.make_node("Concat", ["f", "g", "h"], ["y"], name="cat", axis=1)]
    m = _graph_model(nodes, inits, [1, 2, 6, 7], "y")
    net = load_onnx(m)
    ops = {n.name: n for n in net.nodes}
    assert ops["conv"].inputs == ["x"] and ops["conv"].op.pads == (1, 2, 1, 1)      # both pads summed
    assert ops["conv2"].inputs == ["x"] and ops["conv2"].op.pads == (2, 1, 1, 2)
    assert isinstance(ops["pad1"].op, ZeroPad2d) and ops["relu"].inputs == ["pad1"]   # kept for the ReLU
    assert "pad2" not in ops
    assert not any(isinstance(ops[n].op, ZeroPad2d) for s in ("conv", "conv2") for n in ops[s].inputs if n in ops)
    x = rng.normal(size=(1, 2, 6, 7)).astype(np.float32)
    close(net.forward(x), _ort(m, x), RTOL32)


@pytest.mark.parametrize("pads,message", [([0, 0, -1, 1], "need 4 non-negative values"),
                                          ([0, 1, 1], "need 4 non-negative values")])
def test_onnx_conv_with_bad_pads_is_refused(pads, message):
    pytest.importorskip("onnx")
    from onnx import helper
    from dtd import ModelFileError
    from dtd.io import load_onnx
    inits = {"w": np.ones((1, 1, 3, 3), np.float32)}
    m = _graph_model([helper.make_node("Conv", ["x", "w"], ["y"], name="conv", kernel_shape=[3, 3], pads=pads)],
                     inits, [1, 1, 5, 5], "y")
    with pytest.raises(ModelFileError, match=r"node 'conv' \(Conv\): pads .*" + message):
        load_onnx(m)
