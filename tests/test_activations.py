"""Elementwise activations other than ReLU (Clip / ReLU6, LeakyReLU, PReLU, Sigmoid, HardSigmoid, SiLU,
HardSwish): forward, gradient, default relevance rule, native save/load and ONNX import.

References and tolerances:

- forward against the closed-form formula written here in NumPy (float64, rtol 1e-14: the layer and the
  formula round differently by a few ulp, e.g. the sigmoid's two branches) and against PyTorch's functional
  (float64, same tolerance; skipped without torch);
- gradient against central finite differences in float64 at points at least 1e-3 away from every kink
  (h = 1e-6: truncation ~h^2 |f'''| < 1e-10, rounding ~eps / h ~ 1e-10; asserted to rtol 1e-7, atol 1e-8),
  and against torch.autograd in float64 *including the kinks*, where the layers take PyTorch's one-sided
  derivative (rtol 1e-7: torch's hardsigmoid gradient uses 1/6 rounded to float32, 3e-8 off);
- relevance: the default rule passes R through unchanged (bitwise); a Dense net with every activation
  explained with Zennit 0.5.1's EpsilonPlus (``Pass`` on activations) agrees to 1e-10 relative in float64
  (measured 1.1e-15);
- float32 input gives float32 output, gradient and relevance, equal to the float64 result to rtol 1e-6;
- ONNX import: forward in float32 against onnxruntime to rtol 1e-5 (atol 1e-5 of max|ref|), for models
  written with onnx.helper at several opsets and for small nets exported by PyTorch's TorchScript exporter
  (opsets 13 and 17) and dynamo exporter (opset 17); torch exports skip without torch or onnxscript.
"""
import contextlib
import io
import logging
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import dtd
from dtd import ModelFileError, Sequential
from dtd.io.native import LAYER_TYPES
from dtd.layers import (Clip, Conv2d, Dense, Flatten, HardSigmoid, HardSwish, LeakyReLU, PReLU, ReLU, SiLU,
                        Sigmoid)
from dtd.rules import Epsilon, PassThrough

SLOPES = np.array([0.1, -0.2, 0.3])       # PReLU: one per channel of the (N, 3, ...) test inputs


def _np_sigmoid(x):
    return 1 / (1 + np.exp(-x))


# name -> (layer, NumPy formula, torch functional (name, args) or None, kinks, nonnegative, gates)
CASES = {
    "relu6": (Clip(0, 6), lambda x: np.minimum(np.maximum(x, 0), 6), ("relu6",), (0, 6), True, True),
    "hardtanh": (Clip(-2, 3), lambda x: np.minimum(np.maximum(x, -2), 3), ("hardtanh", -2.0, 3.0), (-2, 3),
                 False, False),
    "clip-high": (Clip(None, 2), lambda x: np.minimum(x, 2), ("hardtanh", -1e300, 2.0), (2,), False, False),
    "clip-low": (Clip(0.5), lambda x: np.maximum(x, 0.5), ("threshold-low", 0.5), (0.5,), True, False),
    "leaky": (LeakyReLU(0.1), lambda x: np.where(x > 0, x, 0.1 * x), ("leaky_relu", 0.1), (0,), False, False),
    "prelu": (PReLU(SLOPES), lambda x: np.where(x > 0, x, SLOPES.reshape(3, 1, 1) * x), ("prelu",), (0,),
              False, False),
    "sigmoid": (Sigmoid(), _np_sigmoid, ("sigmoid",), (), True, False),
    "hardsigmoid": (HardSigmoid(1 / 6, 0.5), lambda x: np.clip(x / 6 + 0.5, 0, 1), ("hardsigmoid",), (-3, 3),
                    True, False),
    "hardsigmoid-onnx": (HardSigmoid(), lambda x: np.clip(0.2 * x + 0.5, 0, 1), None, (-2.5, 2.5), True, False),
    "silu": (SiLU(), lambda x: x * _np_sigmoid(x), ("silu",), (), False, False),
    "hardswish": (HardSwish(), lambda x: np.where(x <= -3, 0, np.where(x >= 3, x, x * (x + 3) / 6)),
                  ("hardswish",), (-3, 3), False, False),
}


def inputs(seed=0, dtype=np.float64, kinks=()):
    """A (4, 3, 5, 5) batch spread over [-8, 8], with every kink value present exactly."""
    x = np.random.default_rng(seed).normal(0, 3, size=(4, 3, 5, 5))
    flat = x.reshape(-1)
    for i, k in enumerate(kinks):
        flat[7 * i: 7 * i + 5] = k
    return x.astype(dtype)


def torch_fn(spec):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    name, *args = spec
    if name == "prelu":
        return lambda t: F.prelu(t, torch.tensor(SLOPES, dtype=t.dtype))
    if name == "threshold-low":      # max(x, low) through hardtanh with no upper bound
        return lambda t: F.hardtanh(t, args[0], 1e300)
    return lambda t: getattr(F, name)(t, *args)


@pytest.mark.parametrize("name", CASES)
def test_forward_equals_formula_and_torch(name):
    layer, formula, tspec, kinks, _, _ = CASES[name]
    x = inputs(1, kinks=kinks)
    y = layer.forward(x)
    assert y.dtype == np.float64 and y.shape == x.shape
    np.testing.assert_allclose(y, formula(x), rtol=1e-14, atol=1e-300)
    if tspec is not None:
        torch = pytest.importorskip("torch")
        ref = torch_fn(tspec)(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(y, ref, rtol=1e-14, atol=1e-300)


@pytest.mark.parametrize("name", CASES)
def test_backward_equals_central_differences(name):
    layer, formula, _, kinks, _, _ = CASES[name]
    x = inputs(2)
    for k in kinks:                                  # move points off the kinks
        near = np.abs(x - k) < 1e-3
        x[near] += 2e-3
    g = np.random.default_rng(3).normal(size=x.shape)
    h = 1e-6
    fd = (layer.forward(x + h) - layer.forward(x - h)) / (2 * h)
    np.testing.assert_allclose(layer.backward(x, g), g * fd, rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("name", [n for n in CASES if CASES[n][2] is not None])
def test_backward_equals_torch_at_the_kinks_too(name):
    torch = pytest.importorskip("torch")
    layer, _, tspec, kinks, _, _ = CASES[name]
    x = inputs(4, kinks=kinks)
    g = np.random.default_rng(5).normal(size=x.shape)
    t = torch.from_numpy(x).requires_grad_(True)
    ref, = torch.autograd.grad(torch_fn(tspec)(t), t, grad_outputs=torch.from_numpy(g))
    np.testing.assert_allclose(layer.backward(x, g), ref.numpy(), rtol=1e-7, atol=1e-12)


def test_kink_conventions_closed_form():
    """The one-sided derivative at each kink, as documented (and as PyTorch 2.13 gives)."""
    ones = np.ones((1, 4))
    assert Clip(0, 6).backward(np.array([[0.0, 6.0, 1e-9, 6 - 1e-9]]), ones).tolist() == [[0, 0, 1, 1]]
    assert LeakyReLU(0.25).backward(np.array([[0.0, -1.0, 1.0, 1e-300]]), ones).tolist() == [[0.25, 0.25, 1, 1]]
    assert HardSigmoid(0.5, 0.5).backward(np.array([[-1.0, 1.0, 0.0, 2.0]]), ones).tolist() == [[0, 0, 0.5, 0]]
    assert HardSwish().backward(np.array([[-3.0, 3.0, 0.0, -4.0]]), ones).tolist() == [[0, 1, 0.5, 0]]


@pytest.mark.parametrize("name", CASES)
def test_relevance_passes_unchanged_and_float32_kept(name):
    layer, _, _, kinks, _, _ = CASES[name]
    x = inputs(6, kinks=kinks)
    R = np.random.default_rng(7).normal(size=x.shape)
    assert type(layer.default_rule()) is PassThrough and layer.passes_relevance
    out = layer.relevance(x, R)
    assert out.dtype == R.dtype and np.array_equal(out, R)
    x32, R32 = x.astype(np.float32), R.astype(np.float32)
    y32, g32, r32 = layer.forward(x32), layer.backward(x32, R32), layer.relevance(x32, R32)
    assert y32.dtype == g32.dtype == r32.dtype == np.float32
    np.testing.assert_allclose(y32, layer.forward(x32.astype(np.float64)), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(g32, layer.backward(x32.astype(np.float64), R32.astype(np.float64)),
                               rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", CASES)
def test_nonnegative_and_gates_flags(name):
    layer, _, _, kinks, nonneg, gates = CASES[name]
    assert layer.nonnegative is nonneg and layer.gates is gates
    x = inputs(8, kinks=kinks)
    y = layer.forward(x)
    assert bool(y.min() >= 0) is nonneg                  # the inputs reach both signs: a False flag shows
    if gates:
        assert np.all(y[x <= 0] == 0) and np.all(y[x > 0] > 0)
    # the flags follow the parameters
    assert Clip(0, None).gates and not Clip(-1, 6).nonnegative and Clip(1, 6).nonnegative
    assert LeakyReLU(0.0).gates and PReLU([0.0, 0.0]).nonnegative and HardSigmoid(0.5, -0.5).gates


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(st.sampled_from([np.float32, np.float64]), hnp.array_shapes(min_dims=2, max_dims=4, max_side=4),
                  elements=st.floats(-50, 50, width=32)),
       st.sampled_from([n for n in CASES if n != "prelu"]))
def test_inplace_forward_equals_forward(x, name):
    """``_forward_inplace`` (what a network's forward pass runs on arrays it owns) writes forward(x) into x."""
    layer = CASES[name][0]
    y = layer.forward(x)
    z = x.copy()
    out = layer._forward_inplace(z)
    assert out is z or np.shares_memory(out, z)
    np.testing.assert_array_equal(z, y)
    assert y.dtype == x.dtype


@pytest.mark.parametrize("name", CASES)
def test_fused_into_convolution_equals_layer_by_layer(name):
    """A network's forward pass applies an elementwise layer to each piece of a convolution's output."""
    layer = CASES[name][0]
    r = np.random.default_rng(9)
    net = Sequential([Conv2d(r.normal(size=(3, 3, 3, 3)), r.normal(size=3), padding=1), layer, Flatten(),
                      Dense(r.normal(size=(2, 3 * 25)), r.normal(size=2))])
    x = inputs(10)
    acts = net.forward(x, return_all=True)
    np.testing.assert_array_equal(net.forward(x), acts[-1])
    assert layer.elementwise is (name != "prelu")


def test_explain_passes_relevance_through_each_activation():
    """In a network, the relevance that leaves each activation is what entered it (sum and values)."""
    r = np.random.default_rng(11)
    acts = [CASES[n][0] for n in CASES]
    layers = []
    for a in acts:
        layers += [Dense(r.normal(size=(3, 3)) / 2, r.normal(size=3) / 10), a]
    net = Sequential(layers + [Dense(r.normal(size=(2, 3)), np.zeros(2))])
    x = r.normal(size=(2, 3))
    Rs = net.explain(x, Epsilon(0.01), return_all=True)
    Rs = Rs if isinstance(Rs, list) else Rs["relevances"]
    for i in range(1, len(layers), 2):
        np.testing.assert_array_equal(Rs[i], Rs[i + 1])


def test_save_load_roundtrip(tmp_path):
    for cls in (Clip, LeakyReLU, PReLU, Sigmoid, HardSigmoid, SiLU, HardSwish):
        assert LAYER_TYPES[cls.__name__] is cls
    net = Sequential([CASES[n][0] for n in CASES] + [Flatten(), Dense(np.ones((1, 75)), [0.5])])
    path = tmp_path / "acts.npz"
    dtd.save(net, path)
    back = dtd.load(path)
    assert [repr(a) for a in back.layers] == [repr(a) for a in net.layers]
    for a, b in zip(net.layers, back.layers):
        assert {k: getattr(a, k) for k in a.config_keys} == {k: getattr(b, k) for k in b.config_keys}
        for k in a.array_keys:
            assert np.array_equal(getattr(a, k), getattr(b, k)) and getattr(a, k).dtype == getattr(b, k).dtype
    x = inputs(12)
    assert np.array_equal(back.forward(x), net.forward(x))
    assert Clip(None, 6.0).high == 6.0 and dtd.load(path).layers[2].low is None


def test_bad_parameters():
    with pytest.raises(ValueError, match="must not exceed"):
        Clip(2, 1)
    with pytest.raises(ValueError, match="NaN"):
        Clip(float("nan"))
    with pytest.raises(ValueError, match="finite"):
        LeakyReLU(float("inf"))
    with pytest.raises(ValueError, match="channels"):
        PReLU([0.1, 0.2]).forward(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="channel axis"):
        PReLU([0.1, 0.2]).forward(np.zeros(2))


# -- ONNX import ------------------------------------------------------------------------------------------------
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from dtd.io import load_onnx  # noqa: E402


def _model(nodes, inits, opset, shape=(2, 3, 5, 5), out="y"):
    graph = helper.make_graph(nodes, "acts", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)],
                              initializer=[numpy_helper.from_array(np.asarray(v, np.float32), k)
                                           for k, v in inits.items()])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def _conv_then(op_nodes, inits, opset):
    """Conv (3 -> 3, 3x3, padding 1) -> the given nodes (reading "h", writing "y")."""
    r = np.random.default_rng(13)
    inits = dict(inits, W=r.normal(0, 1, size=(3, 3, 3, 3)), B=r.normal(0, 0.5, size=3))
    return _model([helper.make_node("Conv", ["x", "W", "B"], ["h"], pads=[1, 1, 1, 1])] + op_nodes, inits, opset)


def _ort(model, x):
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    s = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return s.run(None, {"x": x})[0]


def _check(model, types):
    net = load_onnx(model)
    x = np.random.default_rng(14).normal(0, 2, size=(2, 3, 5, 5)).astype(np.float32)
    ref, ours = _ort(model, x), net.forward(x)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())
    layers = [n.op for n in net.nodes] if isinstance(net, dtd.Graph) else net.layers
    assert [type(a).__name__ for a in layers] == types
    return net


N = helper.make_node
ONNX_CASES = [
    # (id, nodes after the Conv, initializers, opsets, layer types, check)
    ("clip-attrs", [N("Clip", ["h"], ["y"], min=0.0, max=6.0)], {}, (6, 10), ["Conv2d", "Clip"],
     lambda a: (a.low, a.high) == (0.0, 6.0)),
    ("clip-attr-min", [N("Clip", ["h"], ["y"], min=-0.5)], {}, (6,), ["Conv2d", "Clip"],
     lambda a: (a.low, a.high) == (-0.5, None)),
    ("clip-no-attrs", [N("Clip", ["h"], ["y"])], {}, (6,), ["Conv2d", "Clip"],
     lambda a: (a.low, a.high) == (None, None)),
    ("clip-inputs", [N("Clip", ["h", "lo", "hi"], ["y"])], {"lo": 0.0, "hi": 6.0}, (11, 13, 22),
     ["Conv2d", "Clip"], lambda a: (a.low, a.high) == (0.0, 6.0)),
    ("clip-max-only", [N("Clip", ["h", "", "hi"], ["y"])], {"hi": 1.5}, (13,), ["Conv2d", "Clip"],
     lambda a: (a.low, a.high) == (None, 1.5)),
    ("clip-min-only", [N("Clip", ["h", "lo"], ["y"])], {"lo": -1.0}, (13,), ["Conv2d", "Clip"],
     lambda a: (a.low, a.high) == (-1.0, None)),
    ("clip-unbounded", [N("Clip", ["h"], ["y"])], {}, (13,), ["Conv2d", "Clip"],
     lambda a: (a.low, a.high) == (None, None)),
    ("clip-constant-node", [N("Constant", [], ["six"], value=numpy_helper.from_array(np.array(6, np.float32))),
                            N("Clip", ["h", "", "six"], ["y"])], {}, (13,), ["Conv2d", "Clip"],
     lambda a: a.high == 6.0),
    ("leaky-default", [N("LeakyRelu", ["h"], ["y"])], {}, (6, 16), ["Conv2d", "LeakyReLU"],
     lambda a: a.alpha == 0.01),
    ("leaky-0.2", [N("LeakyRelu", ["h"], ["y"], alpha=0.2)], {}, (13,), ["Conv2d", "LeakyReLU"],
     lambda a: a.alpha == float(np.float32(0.2))),
    ("prelu-channel", [N("PRelu", ["h", "s"], ["y"])], {"s": np.array([0.1, -0.3, 0.5]).reshape(3, 1, 1)},
     (9, 16), ["Conv2d", "PReLU"], lambda a: a.slope.shape == (3,) and a.slope.dtype == np.float32),
    ("prelu-4d", [N("PRelu", ["h", "s"], ["y"])], {"s": np.array([0.1, -0.3, 0.5]).reshape(1, 3, 1, 1)},
     (16,), ["Conv2d", "PReLU"], lambda a: a.slope.shape == (3,)),
    ("prelu-scalar", [N("PRelu", ["h", "s"], ["y"])], {"s": np.array([0.25])}, (16,), ["Conv2d", "PReLU"],
     lambda a: a.slope.tolist() == [0.25]),
    ("sigmoid", [N("Sigmoid", ["h"], ["y"])], {}, (6, 13), ["Conv2d", "Sigmoid"], None),
    ("hardsigmoid-default", [N("HardSigmoid", ["h"], ["y"])], {}, (6, 22), ["Conv2d", "HardSigmoid"],
     lambda a: (a.alpha, a.beta) == (0.2, 0.5)),
    ("hardsigmoid-torch", [N("HardSigmoid", ["h"], ["y"], alpha=1 / 6)], {}, (13,), ["Conv2d", "HardSigmoid"],
     lambda a: a.alpha == float(np.float32(1 / 6))),
    ("hardswish", [N("HardSwish", ["h"], ["y"])], {}, (14, 22), ["Conv2d", "HardSwish"], None),
    ("silu-x-first", [N("Sigmoid", ["h"], ["s"]), N("Mul", ["h", "s"], ["y"])], {}, (13,), ["Conv2d", "SiLU"],
     None),
    ("silu-gate-first", [N("Sigmoid", ["h"], ["s"]), N("Mul", ["s", "h"], ["y"])], {}, (7,), ["Conv2d", "SiLU"],
     None),
    ("hardswish-as-mul", [N("HardSigmoid", ["h"], ["s"], alpha=1 / 6), N("Mul", ["h", "s"], ["y"])], {}, (13,),
     ["Conv2d", "HardSwish"], None),
    ("gate-read-twice", [N("Sigmoid", ["h"], ["s"]), N("Mul", ["h", "s"], ["m"]), N("Add", ["m", "s"], ["y"])],
     {}, (13,), ["Conv2d", "Sigmoid", "SiLU", "Add"], None),
]


@pytest.mark.parametrize("case,opset", [(c, o) for c in ONNX_CASES for o in c[3]],
                         ids=[f"{c[0]}-opset{o}" for c in ONNX_CASES for o in c[3]])
def test_onnx_helper_models_equal_onnxruntime(case, opset):
    _, nodes, inits, _, types, check = case
    net = _check(_conv_then(nodes, inits, opset), types)
    if check is not None:
        assert check(net.layers[1])


@pytest.mark.parametrize("nodes,inits,opset,message", [
    ([N("Clip", ["h", "h"], ["y"])], {}, 13, "constant bounds"),
    ([N("Clip", ["h", "lo"], ["y"])], {"lo": [0.0, 1.0]}, 13, "numeric scalar"),
    ([N("Clip", ["h"], ["y"], min=2.0, max=1.0)], {}, 6, "exceeds max"),
    ([N("Clip", ["h", "lo", "hi"], ["y"])], {"lo": 2.0, "hi": 1.0}, 13, "exceeds max"),
    ([N("PRelu", ["h", "s"], ["y"])], {"s": np.ones(5)}, 16, "not one value per channel"),
    ([N("PRelu", ["h", "s"], ["y"])], {"s": np.ones((3, 5, 5))}, 16, "not one value per channel"),
    ([N("PRelu", ["h", "h"], ["y"])], {}, 16, "must be a constant"),
    ([N("HardSigmoid", ["h"], ["s"]), N("Mul", ["h", "s"], ["y"])], {}, 13, "is not a HardSwish"),
    ([N("Sigmoid", ["h"], ["s"]), N("Relu", ["h"], ["r"]), N("Mul", ["r", "s"], ["y"])], {}, 13,
     "a Sigmoid .* of another tensor .* squeeze-and-excitation"),
    ([N("Relu", ["h"], ["r"]), N("Mul", ["r", "h"], ["y"])], {}, 13, "Mul of two data tensors is not supported"),
    ([N("Clip", ["h"], ["y"], min=0.0)], {}, 13, "not part of Clip at opset 13"),
    ([N("Swish", ["h"], ["y"], alpha=2.0)], {}, 24, "only alpha = 1"),
], ids=["clip-data-bound", "clip-vector-bound", "clip-attrs-empty", "clip-inputs-empty", "prelu-last-axis",
        "prelu-per-pixel", "prelu-data-slope", "hardsigmoid-0.2-times-x", "squeeze-excitation-like",
        "mul-relu-x", "clip11-attrs", "swish-alpha"])
def test_onnx_bad_activations_name_node_and_op(nodes, inits, opset, message):
    with pytest.raises(ModelFileError, match=message) as e:
        load_onnx(_conv_then(nodes, inits, opset))
    assert f"({nodes[-1].op_type})" in str(e.value)


def test_onnx_swish_opset24_equals_reference_evaluator():
    """ONNX's Swish (opset 24; alpha = 1) is a SiLU; onnxruntime may not run opset 24, the reference does."""
    from onnx.reference import ReferenceEvaluator
    model = _conv_then([N("Swish", ["h"], ["y"])], {}, 24)
    net = load_onnx(model)
    assert [type(a).__name__ for a in net.layers] == ["Conv2d", "SiLU"]
    x = np.random.default_rng(15).normal(size=(2, 3, 5, 5)).astype(np.float32)
    ref = ReferenceEvaluator(model).run(None, {"x": x})[0]
    np.testing.assert_allclose(net.forward(x), ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())


# -- PyTorch exports ---------------------------------------------------------------------------------------------
def _torch_net():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    torch.manual_seed(0)

    def conv():
        return nn.Conv2d(4, 4, 3, padding=1)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU6(), conv(), nn.Hardswish(), conv(),
                         nn.LeakyReLU(0.125), conv(), nn.PReLU(4), conv(), nn.SiLU(), conv(), nn.Hardsigmoid(), conv(),
                         nn.Hardtanh(-0.5, 0.5), conv(), nn.PReLU(), conv(), nn.Sigmoid(), nn.Flatten(),
                         nn.Linear(4 * 6 * 6, 5)).eval()


TORCH_TYPES = ["Conv2d", "Clip", "Conv2d", "HardSwish", "Conv2d", "LeakyReLU", "Conv2d", "PReLU", "Conv2d", "SiLU",
               "Conv2d", "HardSigmoid", "Conv2d", "Clip", "Conv2d", "PReLU", "Conv2d", "Sigmoid", "Flatten", "Dense"]


@pytest.mark.parametrize("dynamo,opset", [(False, 13), (False, 17), (True, 17)],
                         ids=["torchscript-13", "torchscript-17", "dynamo-17"])
def test_torch_exports_of_every_activation(tmp_path, dynamo, opset):
    """nn.ReLU6, Hardswish (Mul(x, HardSigmoid(x)) at TorchScript opset 13), LeakyReLU, PReLU (per channel and
    single), SiLU (Mul(x, Sigmoid(x))), Hardsigmoid, Hardtanh, Sigmoid: all import, forward equals onnxruntime
    and PyTorch, and the layers are the ones expected."""
    torch = pytest.importorskip("torch")
    if dynamo:
        pytest.importorskip("onnxscript")
    net_t = _torch_net()
    x = torch.randn(1, 3, 6, 6, generator=torch.Generator().manual_seed(1)) * 2
    path = tmp_path / "acts.onnx"
    kwargs = {"external_data": False} if dynamo else {}
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), torch.no_grad():
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        try:
            torch.onnx.export(net_t, (x,), str(path), opset_version=opset, dynamo=dynamo, **kwargs)
        finally:
            logging.disable(logging.NOTSET)
    net = load_onnx(path)
    assert [type(a).__name__ for a in net.layers] == TORCH_TYPES
    xs = x.numpy()
    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ref = s.run(None, {s.get_inputs()[0].name: xs})[0]
    ours = net.forward(xs)
    scale = np.abs(ref).max()
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5 * scale)
    with torch.no_grad():
        np.testing.assert_allclose(ours, net_t(x).numpy(), rtol=1e-5, atol=1e-5 * scale)
    # float64: the imported weights in float64 against torch in float64
    net64 = Sequential([_as64(a) for a in net.layers])
    with torch.no_grad():
        ref64 = net_t.double()(x.double()).numpy()
    np.testing.assert_allclose(net64.forward(xs.astype(np.float64)), ref64, rtol=1e-12, atol=1e-12 * scale)


def _as64(layer):
    """The same layer with float64 parameters (activations have none but PReLU's slope)."""
    if isinstance(layer, Conv2d):
        return Conv2d(layer.weight.astype(np.float64), layer.bias.astype(np.float64), layer.stride, layer.padding)
    if isinstance(layer, Dense):
        return Dense(layer.weight.astype(np.float64), layer.bias.astype(np.float64))
    if isinstance(layer, PReLU):
        return PReLU(layer.slope.astype(np.float64))
    if isinstance(layer, HardSigmoid):
        return HardSigmoid(1 / 6, layer.beta) if abs(layer.alpha - 1 / 6) < 1e-7 else layer
    return layer


def test_relu_import_unchanged():
    """Relu still imports as dtd's ReLU (the activation handlers did not take it over)."""
    net = load_onnx(_conv_then([N("Relu", ["h"], ["y"])], {}, 13))
    assert type(net.layers[1]) is ReLU


# -- Zennit --------------------------------------------------------------------------------------------------------
def test_explanation_equals_zennit_pass_rule():
    """Zennit 0.5.1's EpsilonPlus maps every ``zennit.types.Activation`` (ReLU6, Hardtanh, LeakyReLU, PReLU,
    Sigmoid, Hardsigmoid, SiLU, Hardswish) to ``Pass`` and its Linear layers to Epsilon(1e-6): dtd's
    pass-through default with the same mapping gives the same input relevance (times f_c(x), Zennit starting
    from the one-hot vector), to 1e-10 relative in float64 (measured ~1e-15)."""
    from _peers import import_zennit
    torch, zennit = import_zennit()
    from dtd.conformance.peers import zennit as zennit_map
    nn = torch.nn
    acts_t = [nn.ReLU6(), nn.Hardtanh(-0.5, 0.5), nn.LeakyReLU(0.125), nn.PReLU(6), nn.Sigmoid(), nn.Hardsigmoid(),
              nn.SiLU(), nn.Hardswish()]
    acts_d = [Clip(0, 6), Clip(-0.5, 0.5), LeakyReLU(0.125), None, Sigmoid(), HardSigmoid(1 / 6, 0.5), SiLU(),
              HardSwish()]
    torch.manual_seed(3)
    mods, layers = [], []
    for at, ad in zip(acts_t, acts_d):
        lin = nn.Linear(6, 6).double()
        if isinstance(at, nn.PReLU):
            with torch.no_grad():
                at.weight.copy_(torch.linspace(-0.3, 0.4, 6))
            ad = PReLU(at.weight.detach().double().numpy())
        mods += [lin, at.double()]
        layers += [Dense(lin.weight.detach().numpy(), lin.bias.detach().numpy()), ad]
    top = nn.Linear(6, 4).double()
    mods.append(top)
    layers.append(Dense(top.weight.detach().numpy(), top.bias.detach().numpy()))
    tnet, net = nn.Sequential(*mods).eval(), Sequential(layers)
    x = np.random.default_rng(16).normal(0, 2, size=(5, 6))
    xt = torch.from_numpy(x).requires_grad_(True)
    out = tnet(xt).detach().numpy()
    np.testing.assert_allclose(net.forward(x), out, rtol=1e-12, atol=1e-12)
    target = out.argmax(axis=1)
    one_hot = torch.eye(4, dtype=torch.float64)[torch.from_numpy(target)]
    with zennit.attribution.Gradient(tnet, zennit.composites.EpsilonPlus()) as attributor:
        _, R = attributor(xt, one_hot)
    ref = R.detach().numpy() * out[np.arange(5), target][:, None]
    ours = net.explain(x, zennit_map("EpsilonPlus"), target=target)
    assert np.abs(ours - ref).max() <= 1e-10 * np.abs(ref).max()
