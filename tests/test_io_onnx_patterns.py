"""ONNX import of the subgraphs torch writes for one layer: ``nn.LocalResponseNorm`` and the channel shuffle.

Two kinds of models:

* graphs built here with ``onnx.helper`` that replicate, node for node, what
  torch 2.13 writes (TorchScript exporter at opset 11, 13 and 17, static and
  symbolic batch: ``Constant`` nodes, the pads computed by a
  ConstantOfShape/Concat/Reshape/Slice/Transpose/Cast chain, the rank test
  ``If(Equal(Shape(a)[1], 1), Squeeze, Identity)``; dynamo exporter at opset 20:
  initializers, ``Reshape(allowzero=1)``, ``Squeeze``); these always run;
* real torch exports (skipped without torch; the dynamo ones without onnxscript)
  of an AlexNet-like net with ``nn.LocalResponseNorm`` (AlexNet's size 5,
  alpha 1e-4, beta 0.75, k 2, and an even size 4) and of a ShuffleNet-like unit
  (grouped 1x1 convolution, batch norm, channel shuffle, depthwise 3x3, residual).

References and tolerances:

* forward, float32, against onnxruntime on the same file: ``rtol 1e-5`` with an
  absolute floor of ``1e-5 * max|reference|`` (as tests/test_io_onnx.py:
  onnxruntime averages the squares then scales by alpha, dtd scales the sum by
  alpha/n, and sums run in other orders; measured worst ~2e-7 of the largest
  output);
* the imported LRN layer in float64 against an explicit loop over channels
  written from torch's ``local_response_norm`` (pad ``n // 2`` channels before,
  ``(n - 1) // 2`` after, average ``n``), ``rtol 1e-12``;
* the imported AlexNet-like net in float64 against the torch module in float64
  (its alpha is a float32 number, so the file's float32 constants are the
  module's exactly): ``rtol 1e-12`` (measured ~3e-16 of the largest output);
  the ShuffleNet-like unit's batch norms are folded into float32 weights at
  import (rounding ~6e-8 relative per weight), so there ``rtol 1e-5`` with a
  floor of ``1e-6 * max|reference|`` (measured ~1.5e-8);
* a channel permutation is exact: forward and relevance are compared bitwise with
  the closed form ``y[:, i] = x[:, perm[i]]``, ``R_x[:, perm[i]] = R_y[:, i]``
  and ``perm[j g + a] = a C/g + j`` for ``g`` groups (written as a loop here);
* LRNTaylor with ``epsilon = 0`` is conservative: at the LRN layer the relevance
  sums agree to ``rtol 1e-10`` in float64.

Near misses (alpha of another shape, an intermediate tensor with another reader,
a window the pads do not give, a transpose that moves a spatial axis) must not
become the layer: they fail with the ordinary import's message (naming the
node and op), followed by what the pattern would need; one near miss that the
ordinary import handles (NHWC transpose before a flatten) imports as before.
"""
import contextlib
import io
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import dtd  # noqa: E402
from dtd import ModelFileError  # noqa: E402
from dtd.io import load_onnx  # noqa: E402
from dtd.layers import LRN, ChannelPermutation, ChannelPermuteBack, Flatten, Transpose  # noqa: E402
from dtd.rules import LRNTaylor  # noqa: E402

INT64_MIN_PLUS_1 = -9223372036854775807
F32_ALPHA = float(np.float32(1e-4))     # the alpha torch writes for 1e-4 (a float32 constant)


# ------------------------------------------------------------------------------ builders
class Builder:
    """Nodes in order; constants either as Constant nodes (TorchScript) or as initializers (dynamo)."""

    def __init__(self, opset, seed=0):
        self.opset, self.nodes, self.inits, self.k = opset, [], {}, 0
        self.rng = np.random.default_rng(seed)

    def _name(self, prefix):
        self.k += 1
        return f"{prefix}{self.k}"

    def init(self, value, dtype=np.int64):
        name = self._name("val_")
        self.inits[name] = np.asarray(value, dtype=dtype)
        return name

    def constant(self, value, dtype=np.int64):
        out = self._name("c")
        self.nodes.append(helper.make_node("Constant", [], [out], name=f"n{self.k}",
                                           value=numpy_helper.from_array(np.asarray(value, dtype=dtype))))
        return out

    def op(self, op_type, inputs, **attrs):
        out = self._name("t")
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], name=f"n{self.k}", **attrs))
        return out

    def unsqueeze0(self, t):
        if self.opset >= 13:
            return self.op("Unsqueeze", [t, self.constant([0])])
        return self.op("Unsqueeze", [t], axes=[0])

    def dims(self, x, items):
        """TorchScript's shape arithmetic: ints index Shape(x), lists are literal constants."""
        parts = []
        for it in items:
            if isinstance(it, list):
                parts.append(self.constant(it))
            else:
                s = self.op("Shape", [x])
                parts.append(self.unsqueeze0(self.op("Gather", [s, self.constant(it)], axis=0)))
        return self.op("Concat", parts, axis=0)

    def conv(self, x, cin, cout, k=3, pad=1):
        w = self.init(self.rng.normal(0, np.sqrt(2 / (cin * k * k)), (cout, cin, k, k)), np.float32)
        b = self.init(self.rng.uniform(-0.1, 0.1, cout), np.float32)
        return self.op("Conv", [x, w, b], kernel_shape=[k, k], pads=[pad] * 4)

    def model(self, shape, out, batch="N", dtype=TensorProto.FLOAT, out_rank=None):
        dims = [batch if batch is not None else shape[0]] + list(shape[1:])
        out_dims = [None] * (len(shape) if out_rank is None else out_rank)
        graph = helper.make_graph(self.nodes, "g", [helper.make_tensor_value_info("x", dtype, dims)],
                                  [helper.make_tensor_value_info(out, dtype, out_dims)],
                                  initializer=[numpy_helper.from_array(v, k) for k, v in self.inits.items()])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)])
        model.ir_version = 8
        onnx.checker.check_model(model)
        return model


def torchscript_lrn(b, x, shape, size, alpha=F32_ALPHA, beta=0.75, k=1.0, dynamic=False, alpha_value=None):
    """What torch.onnx.export(dynamo=False) writes for nn.LocalResponseNorm at b.opset (11, 13, 17)."""
    r = len(shape)
    sq = b.op("Mul", [x, x])
    if r == 3:
        view = (b.op("Unsqueeze", [sq, b.constant([1])]) if b.opset >= 13 else b.op("Unsqueeze", [sq], axes=[1]))
    else:
        target = (b.dims(x, [0, [1], 1, 2, [-1]]) if dynamic else b.constant([shape[0], 1, shape[1], shape[2], -1]))
        view = b.op("Reshape", [sq, target])
    rv = r + 1
    torch_pads = [0, 0] * (rv - 3) + [size // 2, (size - 1) // 2]
    zeros = b.op("ConstantOfShape", [b.constant([2 * rv - len(torch_pads)])],
                 value=numpy_helper.from_array(np.zeros(1, np.int64)))
    pads = b.op("Concat", [b.constant(torch_pads), zeros], axis=0)
    pads = b.op("Reshape", [pads, b.constant([-1, 2])])
    steps = [b.constant([0]), b.constant([-1]), b.constant([INT64_MIN_PLUS_1]), b.constant([-1])]
    pads = b.op("Slice", [pads, steps[1], steps[2], steps[0], steps[3]])
    pads = b.op("Transpose", [pads], perm=[1, 0])
    pads = b.op("Cast", [b.op("Reshape", [pads, b.constant([-1])])], to=TensorProto.INT64)
    padded = b.op("Pad", [view, pads, ""], mode="constant")
    avg = b.op("AveragePool", [padded], ceil_mode=0, count_include_pad=1, kernel_shape=[size] + [1] * (rv - 3),
               pads=[0] * (2 * (rv - 2)), strides=[1] * (rv - 2))
    cond = b.op("Equal", [b.op("Gather", [b.op("Shape", [avg]), b.constant([1])], axis=0), b.constant([1])])
    sq_out, id_out = b._name("sq"), b._name("id")
    if b.opset >= 13:
        c = b._name("c")
        then_nodes = [helper.make_node("Constant", [], [c], value=numpy_helper.from_array(np.array([1], np.int64))),
                      helper.make_node("Squeeze", [avg, c], [sq_out])]
    else:
        then_nodes = [helper.make_node("Squeeze", [avg], [sq_out], axes=[1])]
    then_g = helper.make_graph(then_nodes, "then", [], [helper.make_tensor_value_info(sq_out, TensorProto.FLOAT,
                                                                                     [None] * r)])
    else_g = helper.make_graph([helper.make_node("Identity", [avg], [id_out])], "else", [],
                               [helper.make_tensor_value_info(id_out, TensorProto.FLOAT, [None] * rv)])
    s = b.op("If", [cond], then_branch=then_g, else_branch=else_g)
    if r > 3:
        s = b.op("Reshape", [s, b.dims(x, list(range(r))) if dynamic else b.constant(list(shape))])
    a = b.constant(alpha if alpha_value is None else alpha_value, np.float32)
    s = b.op("Mul", [s, a])
    s = b.op("Add", [s, b.constant(k, np.float32)])
    s = b.op("Pow", [s, b.constant(beta, np.float32)])
    return b.op("Div", [x, s])


def dynamo_lrn(b, x, shape, size, alpha=F32_ALPHA, beta=0.75, k=1.0, dynamic=False, pads=None, alpha_value=None):
    """What torch.onnx.export(dynamo=True) writes for nn.LocalResponseNorm (opset 20)."""
    r = len(shape)
    sq = b.op("Mul", [x, x])
    if r == 3:
        view = b.op("Unsqueeze", [sq, b.init([1])])
    else:
        view = b.op("Reshape", [sq, b.init([-1 if dynamic else shape[0], 1, shape[1], shape[2],
                                            shape[3] if dynamic else -1])], allowzero=1)
    rv = r + 1
    p0, p1 = (size // 2, (size - 1) // 2) if pads is None else pads
    full = [0] * (2 * rv)
    full[2], full[2 + rv] = p0, p1
    padded = b.op("Pad", [view, b.init(full)], mode="constant")
    avg = b.op("AveragePool", [padded], count_include_pad=1, ceil_mode=0, pads=[0] * (2 * (rv - 2)),
               auto_pad="NOTSET", strides=[1] * (rv - 2), kernel_shape=[size] + [1] * (rv - 3))
    s = b.op("Squeeze", [avg, b.init([1])])
    s = b.op("Mul", [s, b.init(alpha if alpha_value is None else alpha_value, np.float32)])
    s = b.op("Add", [s, b.init(k, np.float32)])
    s = b.op("Pow", [s, b.init(beta, np.float32)])
    return b.op("Div", [x, s])


def torchscript_shuffle(b, x, shape, g, dynamic=False, flatten=False):
    """TorchScript's channel shuffle: view (N, g, C/g, H, W), transpose(1, 2), view (N, -1, H, W) or flatten(1, 2)."""
    N, C, H, W = shape
    if dynamic:
        s = b.op("Shape", [x])
        n = b.op("Gather", [s, b.constant(0)], axis=0)
        c = b.op("Gather", [b.op("Shape", [x]), b.constant(1)], axis=0)
        h = b.op("Gather", [b.op("Shape", [x]), b.constant(2)], axis=0)
        w = b.op("Gather", [b.op("Shape", [x]), b.constant(3)], axis=0)
        cg = b.op("Cast", [b.op("Cast", [b.op("Div", [c, b.constant(g)])], to=7)], to=7)
        target = b.op("Concat", [b.unsqueeze0(n), b.constant([g]), b.unsqueeze0(cg), b.unsqueeze0(h),
                                 b.unsqueeze0(w)], axis=0)
    else:
        target = b.constant([N, g, -1 if flatten else C // g, H, W])
    t = b.op("Transpose", [b.op("Reshape", [x, target])], perm=[0, 2, 1, 3, 4])
    if flatten:
        s = b.op("Shape", [t])
        head = b.op("Slice", [s, b.constant([0]), b.constant([1]), b.constant([0])])
        tail = b.op("Slice", [s, b.constant([3]), b.constant([5]), b.constant([0])])
        back = b.op("Concat", [head, b.constant([-1]), tail], axis=0)
    elif dynamic:
        back = b.op("Concat", [b.unsqueeze0(n), b.constant([-1]), b.unsqueeze0(h), b.unsqueeze0(w)], axis=0)
    else:
        back = b.constant([N, -1, H, W])
    return b.op("Reshape", [t, back])


def dynamo_shuffle(b, x, shape, g, dynamic=False, perm=(0, 2, 1, 3, 4)):
    N, C, H, W = shape
    n = -1 if dynamic else N
    t = b.op("Reshape", [x, b.init([n, g, C // g, H, W])], allowzero=1)
    t = b.op("Transpose", [t], perm=list(perm))
    return b.op("Reshape", [t, b.init([n, C, H, W])], allowzero=1)


def ort_run(model, x):
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


MEASURED = {}


def check_ort(net, model, x, name):
    ref = ort_run(model, x)
    ours = net.forward(x)
    assert ours.dtype == np.float32 and ours.shape == ref.shape
    scale = np.abs(ref).max()
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5 * scale)
    MEASURED[name] = float(np.abs(ours - ref).max() / scale)


def torch_lrn_loop(x, size, alpha, beta, k):
    """torch.nn.functional.local_response_norm, one channel at a time: window [c - n//2, c + (n-1)//2]."""
    y = np.empty_like(x)
    C = x.shape[1]
    for c in range(C):
        lo, hi = max(0, c - size // 2), min(C - 1, c + (size - 1) // 2)
        s = sum(x[:, j] ** 2 for j in range(lo, hi + 1))
        y[:, c] = x[:, c] / (k + alpha * s / size) ** beta
    return y


def layers_of(net):
    return list(net.layers) if hasattr(net, "layers") else [n.op for n in net.nodes]


def the_layer(net, cls):
    found = [layer for layer in layers_of(net) if isinstance(layer, cls)]
    assert len(found) == 1, layers_of(net)
    return found[0]


def shuffle_perm_loop(C, g):
    perm = [0] * C
    for j in range(C // g):
        for a in range(g):
            perm[j * g + a] = a * (C // g) + j
    return perm


# ------------------------------------------------------------------------------ LRN, helper-built
LRN_FORMS = [("torchscript", 11, False), ("torchscript", 13, False), ("torchscript", 13, True),
             ("torchscript", 17, False), ("dynamo", 20, False), ("dynamo", 20, True)]
LRN_SETTINGS = [  # (size, alpha, beta, k, input shape)
    (5, F32_ALPHA, 0.75, 2.0, (2, 8, 5, 4)),       # AlexNet's
    (4, 0.5, 0.75, 1.0, (2, 7, 3, 3)),             # even size: torch's window (2 before, 1 after)
    (3, 0.25, 0.5, 1.5, (2, 6, 5)),                # rank 3: Unsqueeze instead of Reshape
]


@pytest.mark.parametrize("form,opset,dynamic", LRN_FORMS)
@pytest.mark.parametrize("size,alpha,beta,k,shape", LRN_SETTINGS)
def test_lrn_subgraph_is_one_lrn_layer(tmp_path, form, opset, dynamic, size, alpha, beta, k, shape):
    b = Builder(opset)
    build = torchscript_lrn if form == "torchscript" else dynamo_lrn
    y = build(b, "x", shape, size, alpha, beta, k, dynamic=dynamic)
    model = b.model(shape, y, batch="N" if dynamic else None)
    path = tmp_path / "lrn.onnx"
    onnx.save(model, str(path))
    net = load_onnx(path)
    layer = the_layer(net, LRN)
    assert len(layers_of(net)) == 1
    assert (layer.size, layer.alpha, layer.beta, layer.k) == (size, alpha, beta, k)
    assert layer.window == ("pytorch" if size % 2 == 0 else "onnx")
    assert any("LocalResponseNorm" in n for n in net.import_notes)
    x = np.random.default_rng(1).normal(0, 3, shape).astype(np.float32)
    check_ort(net, model, x, f"LRN {form} opset {opset} size {size}")
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(net.forward(x64), torch_lrn_loop(x64, size, alpha, beta, k), rtol=1e-12, atol=0)
    # LRNTaylor(0) runs on the imported layer and conserves
    R = np.abs(np.random.default_rng(2).normal(size=shape))
    Rx = layer.relevance(x64, R, LRNTaylor(0.0))
    np.testing.assert_allclose(Rx.sum(axis=tuple(range(1, len(shape)))), R.sum(axis=tuple(range(1, len(shape)))),
                               rtol=1e-10)


def alexnet_like_onnx(form, opset, size=5, k=2.0):
    """Conv-ReLU-LRN-MaxPool-Conv-ReLU-Flatten-Gemm with the LRN written as torch writes it."""
    b = Builder(opset, seed=3)
    h = b.op("Relu", [b.conv("x", 3, 6)])
    h = (torchscript_lrn if form == "torchscript" else dynamo_lrn)(b, h, (1, 6, 8, 8), size, F32_ALPHA, 0.75, k)
    h = b.op("MaxPool", [h], kernel_shape=[2, 2], strides=[2, 2])
    h = b.op("Relu", [b.conv(h, 6, 4)])
    h = b.op("Flatten", [h], axis=1)
    w = b.init(b.rng.normal(0, 0.1, (3, 64)), np.float32)
    out = b.op("Gemm", [h, w, b.init(np.zeros(3), np.float32)], transB=1)
    return b.model((1, 3, 8, 8), out, batch=None, out_rank=2)


@pytest.mark.parametrize("form,opset", [("torchscript", 13), ("dynamo", 20)])
def test_alexnet_like_network_explains_with_lrn_taylor(tmp_path, form, opset):
    model = alexnet_like_onnx(form, opset)
    path = tmp_path / "alex.onnx"
    onnx.save(model, str(path))
    net = load_onnx(path)
    assert [type(layer).__name__ for layer in net.layers] == [
        "Conv2d", "ReLU", "LRN", "MaxPool2d", "Conv2d", "ReLU", "Flatten", "Dense"]
    x = np.random.default_rng(4).uniform(0, 1, (2, 3, 8, 8)).astype(np.float32)
    check_ort(net, model, x[:1], f"AlexNet-like {form}")
    Rs = net.explain(x.astype(np.float64), LRNTaylor(0.0), return_all=True)
    i = [type(layer) for layer in net.layers].index(LRN)
    np.testing.assert_allclose(Rs[i].sum(axis=(1, 2, 3)), Rs[i + 1].sum(axis=(1, 2, 3)), rtol=1e-10)
    assert np.abs(Rs[i]).sum() > 0
    # and the network survives the native format
    dtd.save(net, tmp_path / "alex.npz")
    again = dtd.load(tmp_path / "alex.npz")
    np.testing.assert_array_equal(again.forward(x), net.forward(x))


# ------------------------------------------------------------------------------ LRN near misses
def _expect_ordinary_failure(model, tmp_path, first_node, *hints):
    path = tmp_path / "near.onnx"
    onnx.save(model, str(path))
    with pytest.raises(ModelFileError) as e:
        load_onnx(path)
    msg = str(e.value)
    assert f"node {first_node!r} (Mul): Mul of two data tensors is not supported" in msg   # the ordinary message
    for h in hints:
        assert h in msg, msg
    return msg


def test_lrn_near_miss_alpha_of_another_shape(tmp_path):
    b = Builder(20)
    y = dynamo_lrn(b, "x", (1, 8, 4, 4), 5, alpha_value=np.full((8, 1, 1), 1e-4, np.float32))
    model = b.model((1, 8, 4, 4), y, batch=None)
    ort_run(model, np.ones((1, 8, 4, 4), np.float32))                    # a valid model, just not an LRN
    scale = [n for n in b.nodes if n.op_type == "Mul"][1].name
    _expect_ordinary_failure(model, tmp_path, "n1", "look like torch's LocalResponseNorm subgraph",
                             f"node {scale!r} (Mul) uses alpha of shape (8, 1, 1)",
                             "one floating-point scalar is needed")


def test_lrn_near_miss_extra_reader(tmp_path):
    b = Builder(20)
    y = dynamo_lrn(b, "x", (1, 8, 4, 4), 5)
    window_avg = b.nodes[4].output[0]                                   # the Squeeze's output
    assert b.nodes[4].op_type == "Squeeze"
    y = b.op("Add", [y, window_avg])                                    # read a second time
    model = b.model((1, 8, 4, 4), y, batch=None)
    _expect_ordinary_failure(model, tmp_path, "n1", f"{window_avg!r} is also read by node {b.nodes[-1].name!r} (Add)")


def test_lrn_near_miss_window_dtd_cannot_represent(tmp_path):
    b = Builder(20)
    y = dynamo_lrn(b, "x", (1, 8, 4, 4), 5, pads=(0, 4))                # all 4 channels after c
    model = b.model((1, 8, 4, 4), y, batch=None)
    _expect_ordinary_failure(model, tmp_path, "n1", "(AveragePool): a window of 5 channels with 0 before",
                             "2 before (ONNX)")


def test_lrn_near_miss_pads_on_another_axis(tmp_path):
    b = Builder(20)
    y = dynamo_lrn(b, "x", (1, 8, 4, 4), 1)
    pads_name = [n for n in b.nodes if n.op_type == "Pad"][0].input[1]
    b.inits[pads_name] = np.array([0, 0, 0, 1, 0, 0, 0, 0, 0, 0], np.int64)   # pads H: H grows by one
    model = b.model((1, 8, 4, 4), y, batch=None)
    _expect_ordinary_failure(model, tmp_path, "n1", "(Pad) pads [0, 0, 0, 1, 0, 0, 0, 0, 0, 0]",
                             "pads only the channel axis")


# ------------------------------------------------------------------------------ channel shuffle, helper-built
SHUFFLE_FORMS = [("torchscript", False, False), ("torchscript", True, False), ("torchscript", False, True),
                 ("torchscript", True, True), ("dynamo", False, False), ("dynamo", True, False)]


@pytest.mark.parametrize("form,dynamic,flatten", SHUFFLE_FORMS)
@pytest.mark.parametrize("g,C", [(2, 6), (3, 12)])
def test_channel_shuffle_is_one_permutation(tmp_path, form, dynamic, flatten, g, C):
    shape = (1, C, 3, 2)
    b = Builder(13 if form == "torchscript" else 20)
    h = b.conv("x", C, C, k=1, pad=0)
    if form == "torchscript":
        h = torchscript_shuffle(b, h, shape, g, dynamic=dynamic, flatten=flatten)
    else:
        h = dynamo_shuffle(b, h, shape, g, dynamic=dynamic)
    out = b.op("Relu", [h])
    model = b.model(shape, out, batch="N" if dynamic else None)
    path = tmp_path / "shuffle.onnx"
    onnx.save(model, str(path))
    net = load_onnx(path)
    assert [type(layer).__name__ for layer in net.layers] == ["Conv2d", "ChannelPermutation", "ReLU"]
    layer = net.layers[1]
    assert list(layer.perm) == shuffle_perm_loop(C, g)
    x = np.random.default_rng(5).normal(size=(2 if dynamic else 1,) + shape[1:]).astype(np.float32)
    check_ort(net, model, x, f"shuffle {form} dynamic={dynamic} flatten={flatten}")
    z = net.layers[0].forward(x)
    np.testing.assert_array_equal(layer.forward(z), np.stack([z[:, p] for p in shuffle_perm_loop(C, g)], axis=1))


def test_shuffle_near_miss_moves_a_spatial_axis(tmp_path):
    b = Builder(20)
    y = dynamo_shuffle(b, "x", (1, 6, 3, 3), 2, perm=(0, 2, 1, 4, 3))
    model = b.model((1, 6, 3, 3), y, batch=None)
    path = tmp_path / "near.onnx"
    onnx.save(model, str(path))
    with pytest.raises(ModelFileError) as e:
        load_onnx(path)
    msg = str(e.value)
    assert "node 'n2' (Reshape): reshapes (1, 6, 3, 3) to (1, 2, 3, 3, 3); dtd imports only reshapes" in msg
    assert "(Transpose) has perm [0, 2, 1, 4, 3]; a channel shuffle permutes only the channel factors" in msg


def test_shuffle_near_miss_extra_reader(tmp_path):
    b = Builder(20)
    y = dynamo_shuffle(b, "x", (1, 6, 3, 3), 2)
    t = b.nodes[1].output[0]                                            # the transposed 5-D tensor
    y2 = b.op("Reshape", [t, b.init([1, 54])], allowzero=1)
    out = b.op("Add", [b.op("Flatten", [y], axis=1), y2])
    model = b.model((1, 6, 3, 3), out, batch=None, out_rank=2)
    path = tmp_path / "near.onnx"
    onnx.save(model, str(path))
    with pytest.raises(ModelFileError) as e:
        load_onnx(path)
    msg = str(e.value)
    assert "node 'n2' (Reshape): reshapes (1, 6, 3, 3) to (1, 2, 3, 3, 3)" in msg
    assert f"{t!r} is also read by node " in msg


def test_nhwc_transpose_before_flatten_imports_as_before(tmp_path):
    """Reshape-Transpose-Reshape that is not a channel shuffle: the ordinary import, unchanged."""
    b = Builder(20)
    t = b.op("Reshape", ["x", b.init([1, 4, 3, 3])], allowzero=1)
    t = b.op("Transpose", [t], perm=[0, 2, 3, 1])
    out = b.op("Reshape", [t, b.init([1, 36])], allowzero=1)
    model = b.model((1, 4, 3, 3), out, batch=None, out_rank=2)
    path = tmp_path / "nhwc.onnx"
    onnx.save(model, str(path))
    net = load_onnx(path)
    assert [type(layer) for layer in net.layers] == [Transpose, Flatten]
    x = np.random.default_rng(0).normal(size=(1, 4, 3, 3)).astype(np.float32)
    np.testing.assert_array_equal(net.forward(x), ort_run(model, x))


# ------------------------------------------------------------------------------ ChannelPermutation layer
@settings(max_examples=40, deadline=None)
@given(st.integers(1, 9).flatmap(lambda C: st.tuples(st.permutations(list(range(C))),
                                                     st.lists(st.integers(1, 3), min_size=0, max_size=2))),
       st.integers(0, 2 ** 31 - 1))
def test_channel_permutation_closed_forms(args, seed):
    perm, spatial = args
    C = len(perm)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2, C, *spatial))
    layer = ChannelPermutation(perm)
    y = layer.forward(x)
    for i in range(C):
        np.testing.assert_array_equal(y[:, i], x[:, perm[i]])
    R = rng.normal(size=y.shape)
    Rx = layer.relevance(x, R)
    for i in range(C):
        np.testing.assert_array_equal(Rx[:, perm[i]], R[:, i])
    assert np.sum(Rx) == pytest.approx(np.sum(R), rel=1e-12)
    # the gradient is the adjoint of the (linear) forward: <g, P d> = <P^T g, d>
    d = rng.normal(size=x.shape)
    assert np.vdot(R, layer.forward(d)) == pytest.approx(np.vdot(layer.backward(x, R), d), rel=1e-12)
    np.testing.assert_array_equal(layer.backward(x, R), Rx)
    assert layer.forward(x.astype(np.float32)).dtype == np.float32
    assert layer.relevance(x.astype(np.float32), R.astype(np.float32)).dtype == np.float32


def test_channel_permutation_shuffle_save_load_and_bad_input(tmp_path):
    layer = ChannelPermutation.shuffle(12, 3)
    assert list(layer.perm) == shuffle_perm_loop(12, 3)
    assert list(np.asarray(layer.perm)[list(layer.inverse)]) == list(range(12))
    assert isinstance(layer.default_rule(), ChannelPermuteBack)
    net = dtd.Sequential([layer, Flatten()])
    dtd.save(net, tmp_path / "p.npz")
    again = dtd.load(tmp_path / "p.npz")
    assert again.layers[0].perm == layer.perm
    with pytest.raises(ValueError, match="permutation of 0..C-1"):
        ChannelPermutation([0, 0, 1])
    with pytest.raises(TypeError, match="sequence of ints"):
        ChannelPermutation([0.0, 1.0])
    with pytest.raises(ValueError, match="do not split"):
        ChannelPermutation.shuffle(10, 3)
    with pytest.raises(ValueError, match="expected 12"):
        layer.forward(np.zeros((1, 10, 2, 2)))


def test_channel_permutation_keeps_relu_gating():
    """A linear layer whose output is permuted and then rectified is still ReLU-gated (dtd.gating)."""
    from dtd.gating import signed_outputs
    from dtd.layers import Dense, ReLU
    w = np.ones((4, 4))
    assert signed_outputs(dtd.Sequential([Dense(w), ChannelPermutation.shuffle(4, 2), ReLU(), Dense(w)])) == {"3"}
    assert signed_outputs(dtd.Sequential([Dense(w), ChannelPermutation.shuffle(4, 2), Dense(w)])) == {"0", "2"}


# ------------------------------------------------------------------------------ real torch exports
def _export(module, x, tmp_path, name, exporter, opset=None):
    """Export with torch, read the file back with onnx (which inlines external data if the exporter wrote any)."""
    torch = pytest.importorskip("torch")
    if exporter == "dynamo":
        pytest.importorskip("onnxscript")
    path = tmp_path / f"{name}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with contextlib.redirect_stdout(io.StringIO()):
            if exporter == "dynamo":
                torch.onnx.export(module, (x,), str(path), dynamo=True)
            else:
                torch.onnx.export(module, x, str(path), opset_version=opset, dynamo=False)
    return onnx.load(str(path))    # external data, if any, is read in here


EXPORTERS = [("torchscript", 13), ("torchscript", 17), ("dynamo", None)]


def _alexnet_like_torch(size):
    torch = pytest.importorskip("torch")
    nn = torch.nn
    torch.manual_seed(size)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
        nn.LocalResponseNorm(size, alpha=F32_ALPHA, beta=0.75, k=2.0),
        nn.MaxPool2d(2), nn.Conv2d(8, 6, 3, padding=1), nn.ReLU(),
        nn.LocalResponseNorm(size, alpha=F32_ALPHA, beta=0.75, k=2.0),
        nn.Flatten(), nn.Linear(6 * 4 * 4, 5)).eval()


@pytest.mark.parametrize("exporter,opset", EXPORTERS)
@pytest.mark.parametrize("size", [5, 4])
def test_torch_alexnet_like_with_local_response_norm(tmp_path, exporter, opset, size):
    torch = pytest.importorskip("torch")
    module = _alexnet_like_torch(size)
    x = np.random.default_rng(6).uniform(0, 1, (2, 3, 8, 8)).astype(np.float32)
    model = _export(module, torch.from_numpy(x[:1]), tmp_path, f"alex{size}", exporter, opset)
    net = load_onnx(model)
    lrns = [layer for layer in layers_of(net) if isinstance(layer, LRN)]
    assert len(lrns) == 2
    for layer in lrns:
        assert (layer.size, layer.alpha, layer.beta, layer.k) == (size, F32_ALPHA, 0.75, 2.0)
        assert layer.window == ("pytorch" if size % 2 == 0 else "onnx")
    check_ort(net, model, x[:1], f"torch AlexNet-like LRN {size} {exporter} {opset}")
    x64 = x.astype(np.float64)
    with torch.no_grad():
        ref = module.double()(torch.from_numpy(x64)).numpy()
    ours = net.forward(x64)
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-14 * np.abs(ref).max())
    MEASURED[f"torch AlexNet-like LRN {size} {exporter} {opset}, float64 vs torch"] = float(
        np.abs(ours - ref).max() / np.abs(ref).max())
    Rs = net.explain(x64, LRNTaylor(0.0), return_all=True)
    for i, layer in enumerate(net.layers):
        if isinstance(layer, LRN):
            np.testing.assert_allclose(Rs[i].sum(axis=(1, 2, 3)), Rs[i + 1].sum(axis=(1, 2, 3)), rtol=1e-10)


def _shufflenet_like_torch():
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class Unit(nn.Module):
        """A ShuffleNet (v1) unit, stride 1: GConv1x1-BN-ReLU, shuffle, DWConv3x3-BN, GConv1x1-BN, + x, ReLU."""

        def __init__(self, c=12, g=3):
            super().__init__()
            self.g = g
            self.conv1, self.bn1 = nn.Conv2d(c, c, 1, groups=g, bias=False), nn.BatchNorm2d(c)
            self.dw, self.bn2 = nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False), nn.BatchNorm2d(c)
            self.conv2, self.bn3 = nn.Conv2d(c, c, 1, groups=g, bias=False), nn.BatchNorm2d(c)

        def forward(self, x):
            out = torch.relu(self.bn1(self.conv1(x)))
            n, c, h, w = out.size()
            out = out.view(n, self.g, c // self.g, h, w)
            out = torch.transpose(out, 1, 2).contiguous()
            out = out.view(n, -1, h, w)
            out = self.bn2(self.dw(out))
            out = self.bn3(self.conv2(out))
            return torch.relu(out + x)

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 12, 3, padding=1), nn.ReLU(), Unit(), nn.AvgPool2d(6), nn.Flatten(),
                        nn.Linear(12, 4))
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.1, 0.1)
    return net.eval()


@pytest.mark.parametrize("exporter,opset", EXPORTERS)
def test_torch_shufflenet_like_unit(tmp_path, exporter, opset):
    torch = pytest.importorskip("torch")
    module = _shufflenet_like_torch()
    x = np.random.default_rng(7).uniform(0, 1, (2, 3, 6, 6)).astype(np.float32)
    model = _export(module, torch.from_numpy(x[:1]), tmp_path, "shuffle", exporter, opset)
    net = load_onnx(model)
    layer = the_layer(net, ChannelPermutation)
    assert list(layer.perm) == shuffle_perm_loop(12, 3)
    check_ort(net, model, x[:1], f"torch ShuffleNet-like {exporter} {opset}")
    x64 = x.astype(np.float64)
    with torch.no_grad():
        ref = module.double()(torch.from_numpy(x64)).numpy()
    ours = net.forward(x64)
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-6 * np.abs(ref).max())
    MEASURED[f"torch ShuffleNet-like {exporter} {opset}, float64 vs torch"] = float(
        np.abs(ours - ref).max() / np.abs(ref).max())
    # relevance moves with its channel at the permutation node
    Rs = net.explain(x64, dtd.rules.Epsilon(1e-9), return_all=True)
    name = [n.name for n in net.nodes if isinstance(n.op, ChannelPermutation)][0]
    src = [n for n in net.nodes if n.name == name][0].inputs[0]
    perm = shuffle_perm_loop(12, 3)
    R_in, R_out = Rs[src], Rs[name]
    assert [n.name for n in net.nodes if src in n.inputs] == [name]   # the only reader of its input
    for i in range(12):
        np.testing.assert_array_equal(R_in[:, perm[i]], R_out[:, i])
    assert np.abs(R_out).sum() > 0


def test_report_measured_differences():
    """Not a check: prints the worst differences measured above (pytest -s shows them)."""
    for name, err in sorted(MEASURED.items()):
        print(f"{name}: max|dtd - reference| / max|reference| = {err:.2e}")
