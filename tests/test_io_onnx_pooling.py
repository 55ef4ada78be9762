"""ONNX Pad, ReduceMean / ReduceSum, asymmetric convolution padding and AveragePool with ceil_mode and
count_include_pad (issue 14): the import against onnxruntime and independent references.

References:

* float32 forward: onnxruntime, ``rtol 1e-5`` with an absolute floor of ``1e-5 * max|reference|`` (sums of
  float32 products added in another order; measured worst 2.0e-7 of the largest output).  onnxruntime runs
  no model below opset 7: ``Pad``-2 models (opset 2) are held to the reference evaluator in float32 too.
* float64 forward: ``onnx.reference.ReferenceEvaluator`` (NumPy, float64) on the same graph written in
  double, to 1e-12 relative (measured worst 6e-16) -- except AveragePool with ``ceil_mode=1``, where the reference evaluator is wrong
  in some geometries (NaN for windows that start in the padding): there a loop over output positions that
  writes onnxruntime's divisor out (``min(start + k, size + pad_end) - max(start, -pad_begin)`` per axis,
  checked against onnxruntime in float32 here) and, for symmetric pads, torch's ``F.avg_pool2d``.
* gradients: central finite differences in float64 (step 1e-6; the nets are piecewise linear, so the
  error is rounding, ~1e-9 relative; tolerance 1e-6).
* relevance: closed forms -- :class:`ZeroPad2d`'s crop by indexing, and for a convolution with asymmetric
  padding the rule's closed form over the convolution written as a dense matrix by loops
  (:meth:`LinearRule.explicit`), 1e-10 relative; and Zennit 0.5.1 on torch's ``nn.ZeroPad2d`` + ``nn.Conv2d``
  with z^B, flat and w^2 (the rules that send relevance to the padded zeros), 1e-10 relative.
* torch exports (TorchScript at opsets 13 and 17 and the dynamo exporter): torch's own output, float32
  ``rtol 1e-5`` with the floor above, float64 1e-10; skipped without torch (and, for dynamo, onnxscript).
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

import dtd  # noqa: E402
from dtd import ModelFileError, Sequential  # noqa: E402
from dtd.io import load_onnx  # noqa: E402
from dtd.layers import AvgPool2d, Conv2d, Crop, Flatten, PaddedAvgPool2d, ZeroPad2d  # noqa: E402
from dtd.rules import AlphaBeta, Epsilon, Flat, Gamma, WSquare, ZBox, ZPlus  # noqa: E402


# -- building and running models ------------------------------------------------------------------
class G:
    """Nodes and initializers of one graph (float32 or float64 weights)."""

    def __init__(self, seed=0, dtype=np.float32):
        self.rng = np.random.default_rng(seed)
        self.dtype = dtype
        self.nodes, self.inits, self.k = [], {}, 0

    def _name(self, p):
        self.k += 1
        return f"{p}{self.k}"

    def const(self, v, dtype=None):
        name = self._name("c")
        self.inits[name] = np.asarray(v, dtype=dtype or self.dtype)
        return name

    def ints(self, v):
        return self.const(v, np.int64)

    def weight(self, *shape):
        return self.const(self.rng.normal(0, np.sqrt(2.0 / np.prod(shape[1:])), size=shape))

    def op(self, op_type, inputs, **attrs):
        out = self._name("t")
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], name=f"n{self.k}", **attrs))
        return out

    def model(self, in_shape, out, opset):
        et = TensorProto.DOUBLE if self.dtype == np.float64 else TensorProto.FLOAT
        graph = helper.make_graph(self.nodes, "g", [helper.make_tensor_value_info("x", et, in_shape)],
                                  [helper.make_tensor_value_info(out, et, None)],
                                  initializer=[numpy_helper.from_array(v, k) for k, v in self.inits.items()])
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        m.ir_version = 8 if opset < 19 else 9
        return m


def ort_run(model, x):
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    s = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return s.run(None, {"x": x})[0]


def assert_f32(y, ref):
    assert y.shape == ref.shape and y.dtype == np.float32
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())


def assert_f64(y, ref, rtol=1e-12):
    assert y.shape == ref.shape and y.dtype == np.float64
    np.testing.assert_allclose(y, ref, rtol=rtol, atol=rtol * np.abs(ref).max())


def both(build, in_shape, opset, x_seed=1):
    """Build the graph in float32 and float64, import both, compare with onnxruntime and the reference."""
    x = np.random.default_rng(x_seed).normal(size=in_shape)
    m32, m64 = build(G(0, np.float32), opset), build(G(0, np.float64), opset)
    net32, net64 = load_onnx(m32), load_onnx(m64)
    x32 = x.astype(np.float32)
    ref32 = ort_run(m32, x32) if opset >= 7 else ReferenceEvaluator(m32).run(None, {"x": x32})[0]
    assert_f32(net32.forward(x32), ref32)
    assert_f64(net64.forward(x), ReferenceEvaluator(m64).run(None, {"x": x})[0])
    return net32, net64, x


def layer_types(net):
    return [type(layer).__name__ for layer in net.layers]


def pad_input(g, opset, pads, value=None, mode=None, axes=None):
    """The inputs and attributes of a Pad node on 'x' (pads in ONNX order: all begins, then all ends)."""
    attrs = {} if mode is None else {"mode": mode}
    if opset < 11:
        attrs["pads"] = pads
        if value is not None:
            attrs["value"] = value
        return ["x"], attrs
    ins = ["x", g.ints(pads)]
    if value is not None or axes is not None:
        ins.append(g.const(0.0 if value is None else value) if value is not None or axes is not None else "")
    if axes is not None:
        ins.append(g.ints(axes))
    return ins, attrs


def fd_gradient(net, x, target, h=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (net.forward(x + e)[0, target] - net.forward(x - e)[0, target]) / (2 * h)
    return g


# -- Pad ------------------------------------------------------------------------------------------
PAD_CASES = [   # (pads top, left, bottom, right), conv pads, stride -> expected layers: always one Conv2d
    ((1, 1, 1, 1), (0, 0, 0, 0), 1, ["Conv2d"]),
    ((0, 0, 1, 1), (0, 0, 0, 0), 2, ["Conv2d"]),           # asymmetric: in the Conv2d too (no ZeroPad2d)
    ((1, 2, 2, 3), (0, 0, 0, 0), 2, ["Conv2d"]),
    ((0, 1, 0, 0), (1, 0, 1, 1), 1, ["Conv2d"]),          # the Pad and the conv's pads sum to symmetric
]


@pytest.mark.parametrize("opset", [2, 10, 13, 18])
@pytest.mark.parametrize("pads,conv_pads,stride,expected", PAD_CASES)
def test_pad_before_conv_folds_into_its_padding(opset, pads, conv_pads, stride, expected):
    t, l, b, r = pads

    def build(g, opset):
        ins, attrs = pad_input(g, opset, [0, 0, t, l, 0, 0, b, r], axes=[2, 3] if opset == 18 else None)
        if opset == 18:   # axes input: only the spatial axes' begins and ends
            g.inits[ins[1]] = np.array([t, l, b, r], np.int64)
        p = g.op("Pad", ins, **attrs)
        c = g.op("Conv", [p, g.weight(4, 3, 3, 3), g.const(g.rng.normal(0, 0.1, 4))], strides=[stride] * 2,
                 pads=[conv_pads[0], conv_pads[1], conv_pads[2], conv_pads[3]], kernel_shape=[3, 3])
        return g.model([1, 3, 7, 8], g.op("Relu", [c]), opset)

    net32, net64, x = both(build, (1, 3, 7, 8), opset)
    assert layer_types(net64) == expected + ["ReLU"]
    total = tuple(p + q for p, q in zip(pads, conv_pads))
    conv = net64.layers[0]
    assert conv.pads == total
    assert conv.padding == (total[:2] if total[:2] == total[2:] else total)


@pytest.mark.parametrize("opset", [2, 13, 18])
def test_pad_kept_as_a_layer_where_nothing_absorbs_it(opset):
    def build(g, opset):
        ins, attrs = pad_input(g, opset, [0, 0, 2, 0, 0, 0, 1, 3])
        return g.model([2, 3, 4, 5], g.op("Relu", [g.op("Pad", ins, **attrs)]), opset)

    net32, net64, x = both(build, (2, 3, 4, 5), opset)
    assert layer_types(net64) == ["ZeroPad2d", "ReLU"] and net64.layers[0].pads == (2, 0, 1, 3)


@pytest.mark.parametrize("relu", [True, False])
def test_pad_before_maxpool_folds_only_after_a_relu(relu):
    def build(g, opset):
        x = g.op("Relu", ["x"]) if relu else "x"
        p = g.op("Pad", [x, g.ints([0, 0, 1, 1, 0, 0, 1, 1])])
        return g.model([1, 2, 6, 6], g.op("MaxPool", [p], kernel_shape=[3, 3], strides=[2, 2]), opset)

    net32, net64, x = both(build, (1, 2, 6, 6), 13)
    # after a ReLU the zeros never beat an input entry: MaxPool's own (-inf) padding gives the same
    assert layer_types(net64) == (["ReLU", "MaxPool2d"] if relu else ["ZeroPad2d", "MaxPool2d"])
    assert net64.layers[1].padding == ((1, 1) if relu else (0, 0))


@pytest.mark.parametrize("include,pool_pads,expected", [
    (0, [0, 0, 0, 0], ["AvgPool2d"]),                  # no padding of its own: the padded zeros are counted
    (1, [1, 0, 0, 1], ["PaddedAvgPool2d"]),           # counts its padding: counts the zeros as well
    (0, [1, 1, 1, 1], ["ZeroPad2d", "PaddedAvgPool2d"]),   # would count the zeros but not its own padding
])
def test_pad_before_averagepool(include, pool_pads, expected):
    def build(g, opset):
        p = g.op("Pad", ["x", g.ints([0, 0, 1, 1, 0, 0, 1, 1])])
        return g.model([1, 2, 6, 7], g.op("AveragePool", [p], kernel_shape=[3, 3], strides=[2, 2], pads=pool_pads,
                                          count_include_pad=include), opset)

    net32, net64, x = both(build, (1, 2, 6, 7), 13)
    assert layer_types(net64) == expected


@pytest.mark.parametrize("opset,kwargs,message", [
    (13, {"mode": "reflect"}, "mode 'reflect' is not supported"),
    (2, {"mode": "edge"}, "mode 'edge' is not supported"),
    (13, {"value": 1.0}, r"constant_value \[1.0\] is not supported \(only zero padding\)"),
    (2, {"value": -1.0}, r"constant_value \[-1.0\] is not supported"),
])
def test_pad_modes_and_values_refused(opset, kwargs, message):
    g = G()
    ins, attrs = pad_input(g, opset, [0, 0, 1, 1, 0, 0, 1, 1], **kwargs)
    m = g.model([1, 2, 4, 4], g.op("Pad", ins, **attrs), opset)
    with pytest.raises(ModelFileError, match=r"node 'n\d+' \(Pad\): " + message):
        load_onnx(m)


@pytest.mark.parametrize("pads,message", [
    ([0, 1, 0, 0, 0, 0, 0, 0], "spatial axes"),
    ([0, 0, -1, 0, 0, 0, 0, 0], "negative pads"),
    ([0, 0, 1, 1], "need 8 entries"),
])
def test_pad_axes_refused(pads, message):
    g = G()
    m = g.model([1, 2, 4, 4], g.op("Pad", ["x", g.ints(pads)]), 13)
    with pytest.raises(ModelFileError, match=message):
        load_onnx(m)


# -- asymmetric convolution padding --------------------------------------------------------------
@pytest.mark.parametrize("opset", [11, 13])
@pytest.mark.parametrize("attrs,size,pads", [
    ({"pads": [0, 0, 1, 1], "strides": [2, 2]}, (7, 7), (0, 0, 1, 1)),
    ({"auto_pad": "SAME_UPPER", "strides": [2, 2]}, (8, 7), (0, 1, 1, 1)),      # TensorFlow SAME
    ({"auto_pad": "SAME_LOWER", "strides": [2, 2]}, (8, 7), (1, 1, 0, 1)),
    ({"pads": [2, 1, 1, 3], "strides": [1, 2]}, (6, 7), (2, 1, 1, 3)),
])
def test_asymmetric_conv_padding(opset, attrs, size, pads):
    def build(g, opset):
        c = g.op("Conv", ["x", g.weight(4, 2, 3, 3), g.const(g.rng.normal(0, 0.1, 4))], kernel_shape=[3, 3],
                 **attrs)
        return g.model([1, 2, *size], g.op("Relu", [c]), opset)

    net32, net64, x = both(build, (1, 2) + size, opset)
    assert layer_types(net64) == ["Conv2d", "ReLU"]
    assert net64.layers[0].pads == pads and net64.layers[0].padding == pads


def test_asymmetric_depthwise_conv_and_a_pad_read_twice_in_a_graph():
    """A depthwise conv with TensorFlow SAME padding (stride 2) after a Pad that two convolutions read: the
    Pad is folded into both (each reads the unpadded input), so no ZeroPad2d is left; each conv keeps its
    ONNX name."""
    def build(g, opset):
        p = g.op("Pad", ["x", g.ints([0, 0, 1, 0, 0, 0, 0, 1])])
        a = g.op("Conv", [p, g.weight(4, 1, 3, 3), g.const(g.rng.normal(0, 0.1, 4))], kernel_shape=[3, 3],
                 group=4, strides=[2, 2], auto_pad="SAME_UPPER")
        b = g.op("Conv", [p, g.weight(4, 4, 1, 1)], kernel_shape=[1, 1], strides=[2, 2], pads=[0, 0, 0, 0])
        return g.model([1, 4, 7, 6], g.op("Relu", [g.op("Add", [a, b])]), opset)

    net32, net64, x = both(build, (1, 4, 7, 6), 13)
    ops = {n.name: type(n.op).__name__ for n in net64.nodes}
    assert ops == {"n5": "GroupedConv2d", "n7": "Conv2d", "n8": "Add", "n9": "ReLU"}, ops
    assert all(net64.nodes[i].inputs == ["x"] for i in (0, 1))
    # H: 8 rows (7 + 1 top), SAME stride 2: 1 more at the bottom; W: 7 (6 + 1 right): 1 at each end; plus the Pad
    assert net64.nodes[0].op.pads == (1, 1, 1, 2) and net64.nodes[1].op.pads == (1, 0, 0, 1)
    R = net64.explain(x, {"n5": Epsilon(0.1), "n7": Epsilon(0.1)}, target=5)
    assert R.shape == x.shape and np.isfinite(R).all()


def conv_matrix(w, b, stride, pads, H, W):
    """A convolution with asymmetric zero padding (t, l, b, r) as a dense matrix over the *unpadded* input,
    by loops over its definition."""
    Co, Ci, kH, kW = w.shape
    t, l, bo, r = pads
    Ho, Wo = (H + t + bo - kH) // stride[0] + 1, (W + l + r - kW) // stride[1] + 1
    M = np.zeros((Co, Ho, Wo, Ci, H, W))
    for o in range(Co):
        for i in range(Ho):
            for j in range(Wo):
                for a in range(kH):
                    for c in range(kW):
                        h, v = i * stride[0] + a - t, j * stride[1] + c - l
                        if 0 <= h < H and 0 <= v < W:
                            M[o, i, j, :, h, v] = w[o, :, a, c]
    return M.reshape(Co * Ho * Wo, Ci * H * W), np.repeat(b, Ho * Wo)


@pytest.mark.parametrize("rule", [Epsilon(0.0), Epsilon(0.3), ZPlus(), Gamma(0.25), AlphaBeta(2, 1),
                                  ZBox(-1.0, 2.0), WSquare(), Flat()])
def test_padded_conv_import_explains_like_the_conv_with_that_padding(rule):
    """The import (one Conv2d with pads (1, 0, 2, 1)) equals the rule's closed form over the padded
    convolution as a matrix over the unpadded input (the padded positions are not inputs), for every rule;
    for the rules whose messages are proportional to the input it also equals ZeroPad2d + Conv2d."""
    g = G(3, np.float64)
    w, bias = g.rng.normal(size=(3, 2, 3, 3)), g.rng.normal(0, 0.3, 3)
    c = g.op("Conv", ["x", g.const(w), g.const(bias)], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 0, 2, 1])
    m = g.model([1, 2, 6, 5], c, 13)
    net = load_onnx(m)
    assert layer_types(net) == ["Conv2d"] and net.layers[0].pads == (1, 0, 2, 1)
    x = np.abs(np.random.default_rng(4).normal(size=(2, 2, 6, 5)))     # >= 0: z+ and gamma's usual domain
    x = np.minimum(x, 2.0)                                             # inside z^B's box [-1, 2]
    R_out = np.random.default_rng(5).uniform(0.1, 1.0, size=net.forward(x).shape)
    got = net.layers[0].relevance(x, R_out, rule)
    M, bM = conv_matrix(w, bias, (2, 2), (1, 0, 2, 1), 6, 5)
    want = rule.explicit(M, bM, x.reshape(2, -1), R_out.reshape(2, -1), connected=M != 0).reshape(x.shape)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12 * np.abs(want).max())
    hand = Sequential([ZeroPad2d((0, 0, 1, 1)), Conv2d(w, bias, 2, (1, 0))])
    np.testing.assert_allclose(net.forward(x), hand.forward(x), rtol=1e-13, atol=1e-13)
    if isinstance(rule, (ZBox, WSquare, Flat)):
        return      # these send relevance to the padded zeros of ZeroPad2d + Conv2d (test_zeropad_then_conv...)
    target = 7
    np.testing.assert_allclose(net.explain(x, rule, target=target), hand.explain(x, rule, target=target),
                               rtol=1e-12, atol=1e-14)


# -- ZeroPad2d itself ----------------------------------------------------------------------------
def test_zeropad2d_forward_backward_relevance_closed_form():
    rng = np.random.default_rng(0)
    layer = ZeroPad2d((1, 0, 2, 3))
    x = rng.normal(size=(2, 3, 4, 5))
    y = layer.forward(x)
    assert y.shape == (2, 3, 7, 8)
    for n, c, i, j in np.ndindex(y.shape):
        inside = 0 <= i - 1 < 4 and 0 <= j < 5
        assert y[n, c, i, j] == (x[n, c, i - 1, j] if inside else 0.0)
    R = rng.normal(size=y.shape)
    Rx = layer.relevance(x, R)
    assert isinstance(layer.default_rule(), Crop)
    np.testing.assert_array_equal(Rx, R[:, :, 1:5, 0:5])
    # what is dropped is exactly the relevance on the padded positions
    np.testing.assert_allclose(R.sum() - Rx.sum(), R.sum() - R[:, :, 1:5, :5].sum(), rtol=1e-12)
    # the gradient of sum(g * forward(x)) by finite differences (the layer is linear: exact up to rounding)
    gy = rng.normal(size=y.shape)
    h = 1e-6
    fd = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        fd[i] = ((gy * layer.forward(x + e)).sum() - (gy * layer.forward(x - e)).sum()) / (2 * h)
    np.testing.assert_allclose(layer.backward(x, gy), fd, rtol=1e-6, atol=1e-8)
    assert layer.forward(x.astype(np.float32)).dtype == np.float32


@pytest.mark.parametrize("rule,loses", [
    (Epsilon(0.1), False), (ZPlus(), False), (Gamma(0.25), False),
    (ZBox(-1.0, 2.0), True), (WSquare(), True), (Flat(), True),
])
def test_zeropad_then_conv_versus_conv_padding(rule, loses):
    """ZeroPad2d(1) + Conv2d(padding=0) against Conv2d(padding=1): the same relevance for rules whose messages
    are proportional to the input; z^B, w^2 and flat send relevance to the padded zeros, which the crop
    drops (and Conv2d's own padding does not receive any: the two differ, as ZeroPad2d's docstring says)."""
    rng = np.random.default_rng(1)
    w, b = rng.normal(size=(3, 2, 3, 3)), -np.abs(rng.normal(0, 0.1, 3))
    x = rng.uniform(0, 1, size=(1, 2, 5, 5))
    pad, conv0, conv1 = ZeroPad2d(1), Conv2d(w, b, 1, 0), Conv2d(w, b, 1, 1)
    R = rng.uniform(0.1, 1, size=(1, 3, 5, 5))
    R_pad = conv0.relevance(pad.forward(x), R, rule)
    split = pad.relevance(x, R_pad, Crop())
    own = conv1.relevance(x, R, rule)
    lost = R_pad.sum() - split.sum()
    if loses:
        assert abs(lost) > 1e-3 * abs(R_pad.sum())
        assert not np.allclose(split, own)
        if not isinstance(rule, ZBox):      # w^2 and flat conserve within the layer: Conv2d(padding) keeps all
            np.testing.assert_allclose(own.sum(), R.sum(), rtol=1e-12)
    else:
        assert abs(lost) <= 1e-14 * np.abs(R_pad).sum()
        np.testing.assert_allclose(split, own, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", ["ZBox", "Flat", "WSquare"])
def test_zeropad_then_conv_equals_zennit_on_nn_zeropad2d(name):
    """Zennit 0.5.1 on torch's ``nn.ZeroPad2d((0, 1, 0, 1))`` + ``nn.Conv2d(stride=2)`` (its rule on the conv,
    the gradient -- a crop -- through the pad) drops the padded positions' share exactly as dtd's
    ZeroPad2d + Conv2d does (float64; Zennit's stabiliser set to 1e-30, the bias to zero because Zennit's w^2
    squares it into the denominator)."""
    from _peers import import_zennit
    torch, zennit = import_zennit()
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.ZeroPad2d((0, 1, 0, 1)), torch.nn.Conv2d(2, 3, 3, stride=2)).double()
    with torch.no_grad():
        m[1].bias.zero_()
    x = torch.rand(2, 2, 6, 6, dtype=torch.float64, requires_grad=True)
    box = [torch.full((2, 2, 7, 7), v, dtype=torch.float64) for v in (-1.0, 2.0)]
    zr, dr = {"ZBox": (zennit.rules.ZBox(*box, stabilizer=1e-30), ZBox(-1.0, 2.0)),
              "Flat": (zennit.rules.Flat(stabilizer=1e-30), Flat()),
              "WSquare": (zennit.rules.WSquare(stabilizer=1e-30), WSquare())}[name]
    with zennit.composites.NameMapComposite([(["1"], zr)]).context(m) as mm:
        y = mm(x)
        R_out = torch.rand_like(y)
        want, = torch.autograd.grad(y, x, R_out)
    net = Sequential([ZeroPad2d((0, 0, 1, 1)), Conv2d(m[1].weight.detach().numpy(), np.zeros(3), 2, 0)])
    xn = x.detach().numpy()
    got = net.layers[0].relevance(xn, net.layers[1].relevance(net.layers[0].forward(xn), R_out.numpy(), dr))
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-10, atol=1e-12 * np.abs(got).max())
    assert got.sum() < 0.95 * R_out.sum().item()          # the padded positions' share is gone in both


def test_zeropad2d_and_divisor_pads_save_and_load(tmp_path):
    net = Sequential([ZeroPad2d((0, 1, 2, 0)), PaddedAvgPool2d(3, 2, (1, 1, 2, 2), True, divisor_pads=(1, 1, 1, 1)),
                      Flatten()])
    path = tmp_path / "n.npz"
    dtd.save(net, path)
    back = dtd.load(path)
    assert layer_types(back) == layer_types(net)
    assert back.layers[0].pads == (0, 1, 2, 0) and back.layers[1].divisor_pads == (1, 1, 1, 1)
    x = np.random.default_rng(0).normal(size=(2, 2, 5, 6))
    np.testing.assert_array_equal(back.forward(x), net.forward(x))


def test_zeropad2d_bad_pads():
    with pytest.raises(ValueError, match="non-negative"):
        ZeroPad2d((1, -1, 0, 0))
    with pytest.raises(TypeError, match="pads must be"):
        ZeroPad2d("a")


# -- ReduceMean / ReduceSum ----------------------------------------------------------------------
def _reduce_net(op, opset, axes, keepdims, after=True):
    def build(g, opset):
        attrs = {} if keepdims is None else {"keepdims": keepdims}
        if (op == "ReduceMean" and opset >= 18) or (op == "ReduceSum" and opset >= 13):
            ins = ["x", g.ints(axes)]
        else:
            ins, attrs["axes"] = ["x"], axes
        h = g.op("Relu", [g.op("Conv", ["x", g.weight(3, 2, 3, 3)], kernel_shape=[3, 3])])
        ins[0] = h
        y = g.op(op, ins, **attrs)
        if after:
            if keepdims != 0:
                y = g.op("Flatten", [y], axis=1)
            y = g.op("Gemm", [y, g.weight(5, 3), g.const(np.zeros(5))], transB=1)
        return g.model([1, 2, 6, 7], y, opset)
    return build


@pytest.mark.parametrize("op", ["ReduceMean", "ReduceSum"])
@pytest.mark.parametrize("opset", [11, 13, 18])
@pytest.mark.parametrize("axes,keepdims", [([2, 3], 1), ([-1, -2], 0), ([2, 3], None)])
def test_reduce_over_spatial_axes_is_global_pooling(op, opset, axes, keepdims):
    net32, net64, x = both(_reduce_net(op, opset, axes, keepdims), (1, 2, 6, 7), opset)
    pool = "AvgPool2d" if op == "ReduceMean" else "SumPool2d"
    assert layer_types(net64) == ["Conv2d", "ReLU", pool, "Flatten", "Dense"]
    assert net64.layers[2].kernel_size == (4, 5)
    # the float64 gradient of the imported net against finite differences
    g, _ = net64.gradient(x, target=[2])
    np.testing.assert_allclose(g, fd_gradient(net64, x, 2), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("op", ["ReduceMean", "ReduceSum"])
def test_reduce_over_one_spatial_axis_keepdims(op):
    net32, net64, x = both(_reduce_net(op, 18, [3], 1, after=False), (1, 2, 6, 7), 18)
    assert layer_types(net64)[-1] == ("AvgPool2d" if op == "ReduceMean" else "SumPool2d")
    assert net64.layers[-1].kernel_size == (1, 5)


def test_reduce_noop_with_empty_axes():
    g = G()
    y = g.op("ReduceMean", [g.op("Relu", ["x"])], noop_with_empty_axes=1)
    m = g.model([1, 2, 3, 3], y, 18)
    net = load_onnx(m)
    x = np.random.default_rng(0).normal(size=(1, 2, 3, 3)).astype(np.float32)
    assert layer_types(net) == ["ReLU"]
    assert_f32(net.forward(x), ort_run(m, x))


@pytest.mark.parametrize("op,opset,axes,keepdims,message", [
    ("ReduceMean", 13, [1], 1, r"ReduceMean over axes \[1\] of a tensor of shape \(1, 2, 4, 4\) is not supported"),
    ("ReduceMean", 18, None, 1, r"over axes \[0, 1, 2, 3\]"),
    ("ReduceSum", 13, [1, 2, 3], 0, r"ReduceSum over axes \[1, 2, 3\]"),
    ("ReduceMean", 13, [3], 0, "keepdims=0 over axis 3 alone"),
])
def test_reduce_other_axes_refused(op, opset, axes, keepdims, message):
    g = G()
    attrs = {"keepdims": keepdims}
    if axes is not None and ((op == "ReduceMean" and opset >= 18) or (op == "ReduceSum" and opset >= 13)):
        ins = ["x", g.ints(axes)]
    else:
        ins = ["x"]
        if axes is not None:
            attrs["axes"] = axes
    m = g.model([1, 2, 4, 4], g.op(op, ins, **attrs), opset)
    with pytest.raises(ModelFileError, match=message):
        load_onnx(m)


# -- AveragePool with ceil_mode=1 and count_include_pad=1 ------------------------------------------
def avgpool_reference(x, k, s, pads, include):
    """ONNX AveragePool with ceil_mode=1, by a loop over output positions (onnxruntime's divisor)."""
    N, C, H, W = x.shape
    t, l, b, r = pads

    def n_out(size, k, s, p0, p1):
        n = -(-(size + p0 + p1 - k) // s) + 1
        return n - 1 if (n - 1) * s >= size + p0 else n
    Ho, Wo = n_out(H, k[0], s[0], t, b), n_out(W, k[1], s[1], l, r)
    y = np.zeros((N, C, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            h0, w0 = i * s[0] - t, j * s[1] - l
            h1, w1 = h0 + k[0], w0 + k[1]
            total = x[:, :, max(h0, 0):min(h1, H), max(w0, 0):min(w1, W)].sum(axis=(2, 3))
            if include:
                d = (min(h1, H + b) - max(h0, -t)) * (min(w1, W + r) - max(w0, -l))
            else:
                d = (min(h1, H) - max(h0, 0)) * (min(w1, W) - max(w0, 0))
            y[:, :, i, j] = total / d
    return y


CEIL_CASES = [   # (H, W), kernel, strides, pads
    ((5, 5), (3, 3), (2, 2), (1, 1, 1, 1)),
    ((5, 5), (2, 2), (2, 2), (1, 1, 1, 1)),     # a 4th window would start in the end padding: dropped (3x3)
    ((8, 8), (3, 3), (2, 2), (1, 1, 1, 1)),
    ((6, 7), (2, 3), (2, 2), (0, 1, 1, 0)),
    ((5, 9), (3, 2), (3, 2), (2, 0, 1, 1)),
]


@pytest.mark.parametrize("opset", [10, 19])
@pytest.mark.parametrize("include", [1, 0])
@pytest.mark.parametrize("size,k,s,pads", CEIL_CASES)
def test_averagepool_ceil_mode(opset, include, size, k, s, pads):
    t, l, b, r = pads
    g = G()
    m = g.model([1, 2, *size], g.op("AveragePool", ["x"], kernel_shape=list(k), strides=list(s),
                                    pads=[t, l, b, r], ceil_mode=1, count_include_pad=include), opset)
    net = load_onnx(m)
    x = np.random.default_rng(0).normal(size=(1, 2) + size)
    ref32 = ort_run(m, x.astype(np.float32))
    assert_f32(net.forward(x.astype(np.float32)), ref32)
    ref = avgpool_reference(x, k, s, pads, include)
    assert_f32(ref.astype(np.float32), ref32)              # the loop is onnxruntime's semantics
    assert_f64(net.forward(x), ref)
    layer = net.layers[0]
    assert isinstance(layer, (AvgPool2d, PaddedAvgPool2d))
    # gradient against finite differences (linear: exact up to rounding), relevance of LRP-0 conserves
    gy = np.random.default_rng(1).normal(size=ref.shape)
    h = 1e-6
    fd = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        fd[i] = ((gy * layer.forward(x + e)).sum() - (gy * layer.forward(x - e)).sum()) / (2 * h)
    np.testing.assert_allclose(layer.backward(x, gy), fd, rtol=1e-6, atol=1e-9)
    xp = np.abs(x) + 0.1
    Ry = layer.forward(xp)
    np.testing.assert_allclose(layer.relevance(xp, Ry, Epsilon(0.0)).sum(), Ry.sum(), rtol=1e-12)


@st.composite
def pool_geometry(draw):
    kH, kW = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    t, b = draw(st.integers(0, kH - 1)), draw(st.integers(0, kH - 1))
    l, r = draw(st.integers(0, kW - 1)), draw(st.integers(0, kW - 1))
    H = draw(st.integers(max(1, kH - t - b), 9))
    W = draw(st.integers(max(1, kW - l - r), 9))
    return (H, W), (kH, kW), (draw(st.integers(1, 3)), draw(st.integers(1, 3))), (t, l, b, r)


@settings(max_examples=60, deadline=None)
@given(geometry=pool_geometry(), include=st.sampled_from([0, 1]), seed=st.integers(0, 2**16))
def test_averagepool_ceil_mode_property(geometry, include, seed):
    """Any geometry (pads smaller than the kernel, as onnxruntime requires): the import equals onnxruntime
    (float32) and the loop reference (float64)."""
    size, k, s, pads = geometry
    g = G()
    m = g.model([1, 1, *size], g.op("AveragePool", ["x"], kernel_shape=list(k), strides=list(s), pads=list(pads),
                                    ceil_mode=1, count_include_pad=include), 19)
    net = load_onnx(m)
    x = np.random.default_rng(seed).normal(size=(1, 1) + size)
    assert_f32(net.forward(x.astype(np.float32)), ort_run(m, x.astype(np.float32)))
    assert_f64(net.forward(x), avgpool_reference(x, k, s, pads, include))


@pytest.mark.parametrize("size,k,s,p", [((5, 5), 3, 2, 1), ((8, 8), 3, 2, 1), ((7, 6), 2, 2, 1), ((6, 6), 3, 3, 1)])
def test_averagepool_ceil_include_equals_torch(size, k, s, p):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(2).normal(size=(1, 2) + size)
    want = torch.nn.functional.avg_pool2d(torch.from_numpy(x), k, s, p, ceil_mode=True,
                                          count_include_pad=True).numpy()
    assert_f64(avgpool_reference(x, (k, k), (s, s), (p,) * 4, 1), want)
    g = G()
    m = g.model([1, 2, *size], g.op("AveragePool", ["x"], kernel_shape=[k, k], strides=[s, s], pads=[p] * 4,
                                    ceil_mode=1, count_include_pad=1), 13)
    assert_f64(load_onnx(m).forward(x), want)


# -- torch exports ---------------------------------------------------------------------------------
def _torch_models():
    torch = pytest.importorskip("torch")
    nn, F = torch.nn, torch.nn.functional

    class Adaptive(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.pool, self.fc = nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d((1, 1)), nn.Linear(4, 5)

        def forward(self, x):
            return self.fc(torch.flatten(self.pool(torch.relu(self.conv(x))), 1))

    class PadConv(nn.Module):
        def __init__(self):
            super().__init__()
            self.pad, self.conv = nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(3, 4, 3, stride=2)

        def forward(self, x):
            return torch.relu(self.conv(self.pad(x)))

    class CeilAvg(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, x):
            return F.avg_pool2d(self.conv(x), 3, 2, padding=1, ceil_mode=True, count_include_pad=True)

    torch.manual_seed(0)
    return torch, {"adaptive": Adaptive().eval(), "padconv": PadConv().eval(), "ceilavg": CeilAvg().eval()}


@pytest.mark.parametrize("exporter", ["ts13", "ts17", "dynamo"])
def test_torch_exports(tmp_path, exporter):
    torch, models = _torch_models()
    if exporter == "dynamo":
        pytest.importorskip("onnxscript")
    from dtd.conformance.torch_zoo import export
    expected = {"adaptive": ["Conv2d", "ReLU", "AvgPool2d", "Flatten", "Dense"],
                "padconv": ["Conv2d", "ReLU"], "ceilavg": ["Conv2d", "PaddedAvgPool2d"]}
    x = np.random.default_rng(0).uniform(-1, 1, size=(1, 3, 10, 10))
    for name, model in models.items():
        path = export(model, (1, 3, 10, 10), tmp_path / f"{name}.onnx", exporter, external_data=False)
        net = load_onnx(path)
        assert layer_types(net) == expected[name], name
        with torch.no_grad():
            want32 = model(torch.from_numpy(x.astype(np.float32))).numpy()
            want64 = model.double()(torch.from_numpy(x)).numpy()
            model.float()
        assert_f32(net.forward(x.astype(np.float32)), want32)
        net64 = load_onnx(export(model, (1, 3, 10, 10), tmp_path / f"{name}64.onnx", exporter, dtype="float64",
                                 external_data=False))
        assert_f64(net64.forward(x), want64, rtol=1e-10)
