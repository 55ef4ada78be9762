"""ONNX ops as dtd layers: one handler per op, ``handler(importer, node, attrs)``.

Handlers read data inputs and constants through the importer
(:class:`dtd.io.onnx._Importer`), create layers, and fold per-channel affine
maps into neighbouring linear layers.  Unsupported attributes give a
:class:`~dtd.ModelFileError` naming the node.
"""
import math

import numpy as np

from ..layers import (LRN, AvgPool2d, Conv2d, Dense, Flatten, GroupedConv2d, Identity, LpPool2d, MaxPool2d,
                      PaddedAvgPool2d, PaddedMaxPool2d, ReLU, Tanh, Transpose)
from ..merge import Add, Concat
from ._onnx_const import cast_dtype, legacy_operand, reshape_target
from ._onnx_fold import affine, channel_vector, fold_affine_before
from ._onnx_pad import HANDLERS as _PAD_REDUCE, conv_padding, fold_pad_into_pool
from ._onnx_activations import HANDLERS as _ACTIVATIONS, self_gated_mul
from ._onnx_slice import HANDLERS as _SLICE, gate_mul

__all__ = ["HANDLERS"]

F64 = np.float64


def _ints(imp, node, a, what):
    a = np.asarray(a)
    if a.dtype.kind not in "iu":
        imp.fail(f"{what} must be integers", node)
    return [int(v) for v in a.reshape(-1)]


def _new_layer(imp, node, cls, *args, **kwargs):
    try:
        return cls(*args, **kwargs)
    except (ValueError, TypeError) as e:
        imp.fail(str(e), node)


def _opt_input(node, i):
    return node.input[i] if len(node.input) > i and node.input[i] else None


# -- linear layers ----------------------------------------------------------------------------
def _same_pads(size, k, s, lower):
    total = max((math.ceil(size / s) - 1) * s + k - size, 0)
    small = total // 2
    return (total - small, small) if lower else (small, total - small)


def _geometry(imp, node, a, x, kernel):
    """``(strides, pads (top, left, bottom, right))`` of a 2-D window op, from pads or auto_pad."""
    if any(d != 1 for d in a.get("dilations", [1, 1])):
        imp.fail(f"dilations {list(a['dilations'])} are not supported (only 1)", node)
    strides = tuple(a.get("strides", [1, 1]))
    if len(strides) != 2:
        imp.fail(f"strides {list(strides)}: only 2-D windows are supported", node)
    auto = a.get("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        H, W = imp.shapes[x][2:]
        (t, b), (l, r) = (_same_pads(H, kernel[0], strides[0], auto == "SAME_LOWER"),
                          _same_pads(W, kernel[1], strides[1], auto == "SAME_LOWER"))
        pads = (t, l, b, r)
    elif auto == "VALID":
        pads = (0, 0, 0, 0)
    elif auto == "NOTSET":
        pads = tuple(a.get("pads", [0, 0, 0, 0]))
    else:
        imp.fail(f"auto_pad {auto!r} is not supported", node)
    if len(pads) != 4 or min(pads) < 0:
        imp.fail(f"pads {list(pads)}: need 4 non-negative values for a 2-D window", node)
    return strides, pads


def _need_4d(imp, node, x):
    if len(imp.shapes[x]) != 4:
        imp.fail(f"needs a 4-d (N, C, H, W) input, got shape {imp.shapes[x]}", node)


def conv(imp, node, a):
    x = imp.data_input(node)
    w = imp.const(node, node.input[1], "the weight")
    b = imp.const(node, node.input[2], "the bias") if _opt_input(node, 2) else None
    if w.ndim != 4:
        imp.fail(f"only 2-D convolutions are supported (weight of shape {w.shape})", node)
    _need_4d(imp, node, x)
    if "kernel_shape" in a and tuple(a["kernel_shape"]) != w.shape[2:]:
        imp.fail(f"kernel_shape {list(a['kernel_shape'])} differs from the weight's {w.shape[2:]}", node)
    strides, pads = _geometry(imp, node, a, x, w.shape[2:])
    x, pads = conv_padding(imp, node, x, pads)   # a zero Pad before folded in: (top, left, bottom, right)
    group = int(a.get("group", 1))
    if group == 1:
        layer = _new_layer(imp, node, Conv2d, w, b, strides, pads)
    else:
        layer = _new_layer(imp, node, GroupedConv2d, w, b, strides, pads, group)
    layer, x = fold_affine_before(imp, node, layer, x)
    imp.add(node, layer, [x])


def _dense(imp, node, weight, bias):
    x = imp.data_input(node)
    if len(imp.shapes[x]) != 2:
        imp.fail(f"needs a 2-d (N, features) input, got shape {imp.shapes[x]} (flatten it first)", node)
    layer = _new_layer(imp, node, Dense, weight, bias)
    layer, x = fold_affine_before(imp, node, layer, x)
    imp.add(node, layer, [x])


def gemm(imp, node, a):
    if node.input[0] in imp.consts:
        imp.fail("the first input must be the data (A); a constant A is not supported", node)
    if a.get("transA", 0):
        imp.fail("transA=1 is not supported (it would transpose the batch axis)", node)
    B = imp.const(node, node.input[1], "B")
    if B.ndim != 2:
        imp.fail(f"B must be a matrix, got shape {B.shape}", node)
    alpha, beta = float(a.get("alpha", 1.0)), float(a.get("beta", 1.0))
    Bt = B if a.get("transB", 0) else B.T                 # (out, in)
    weight = np.ascontiguousarray((alpha * Bt.astype(F64)).astype(B.dtype) if alpha != 1 else Bt)
    bias = None
    if _opt_input(node, 2):
        C = np.asarray(imp.const(node, node.input[2], "C"))
        out = Bt.shape[0]
        if C.ndim > 2 or (C.ndim == 2 and C.shape[0] != 1) or (C.size not in (1, out)):
            imp.fail(f"C of shape {C.shape} is not a bias for {out} outputs", node)
        bias = np.broadcast_to((beta * C.astype(F64)).reshape(-1), (out,)).astype(B.dtype)
    _dense(imp, node, weight, bias)


def matmul(imp, node, a):
    if node.input[0] in imp.consts or node.input[1] not in imp.consts:
        imp.fail("only data @ constant-matrix is supported", node)
    B = imp.consts[node.input[1]]
    if B.ndim != 2:
        imp.fail(f"the constant must be a matrix, got shape {B.shape}", node)
    _dense(imp, node, np.ascontiguousarray(B.T), np.zeros(B.shape[1], dtype=B.dtype))


# -- element-wise arithmetic: per-channel affine maps, or merges --------------------------------
def _split_const(imp, node):
    i0, i1 = node.input[0], node.input[1]
    c0, c1 = i0 in imp.consts, i1 in imp.consts
    if c0 and c1:
        imp.fail("both inputs are constant", node)   # not reached: constants are evaluated
    return c0, c1


def _operand(imp, node, a, x, c0):
    """The constant operand of Add/Sub/Mul/Div (input 0 if ``c0``, else input 1) against data ``x``; before
    opset 7 a constant second input broadcasts only with ``broadcast=1``, aligned at ``axis``."""
    c = np.asarray(imp.consts[node.input[0] if c0 else node.input[1]])
    if imp.opset >= 7:
        return c
    if c0 and c.shape != tuple(imp.shapes[x]):
        imp.fail(f"before opset 7 the first input is never broadcast; a constant of shape {c.shape} does not "
                 f"fit data of shape {imp.shapes[x]}", node)
    try:
        return legacy_operand(imp.shapes[x], c, a)
    except ValueError as e:
        imp.fail(str(e), node)


def add(imp, node, a):
    c0, c1 = _split_const(imp, node)
    if not (c0 or c1):
        return imp.add(node, Add(), [imp.data_input(node, 0), imp.data_input(node, 1)])
    x = node.input[1] if c0 else node.input[0]
    t = channel_vector(imp, node, x, _operand(imp, node, a, x, c0), "Add")
    affine(imp, node, x, np.ones_like(t), t)


def sum_(imp, node, a):
    if len(node.input) == 1:
        return imp.alias(node, imp.data_input(node))
    imp.add(node, Add(), [imp.data_input(node, i) for i in range(len(node.input))])


def sub(imp, node, a):
    c0, c1 = _split_const(imp, node)
    if not (c0 or c1):
        imp.fail("Sub of two data tensors is not supported", node)
    x = node.input[1] if c0 else node.input[0]
    c = channel_vector(imp, node, x, _operand(imp, node, a, x, c0), "Sub")
    if c0:
        affine(imp, node, x, -np.ones_like(c), c)      # c - x
    else:
        affine(imp, node, x, np.ones_like(c), -c)      # x - c


def mul(imp, node, a):
    c0, c1 = _split_const(imp, node)
    if not (c0 or c1):
        if gate_mul(imp, node):             # x * g, g (N, C, 1, 1) broadcast (squeeze-and-excitation): a Gate
            return
        if self_gated_mul(imp, node):       # x * Sigmoid(x) (SiLU), x * HardSigmoid(x) (HardSwish)
            return
        imp.fail("Mul of two data tensors is not supported (not a linear layer)", node)
    x = node.input[1] if c0 else node.input[0]
    s = channel_vector(imp, node, x, _operand(imp, node, a, x, c0), "Mul")
    affine(imp, node, x, s, np.zeros_like(s))


def div(imp, node, a):
    if node.input[1] not in imp.consts:
        imp.fail("only division by a constant is supported", node)
    x = imp.data_input(node, 0)
    c = channel_vector(imp, node, x, _operand(imp, node, a, x, False), "Div")
    if np.any(c == 0):
        imp.fail("division by zero", node)
    affine(imp, node, x, 1.0 / c, np.zeros_like(c))


def batchnorm(imp, node, a):
    x = imp.data_input(node)
    if a.get("training_mode", 0):
        imp.fail("training_mode=1 is not supported (inference only)", node)
    if not a.get("spatial", 1):
        imp.fail("spatial=0 is not supported", node)
    imp.unused_outputs(node)
    scale, bias, mean, var = (np.asarray(imp.const(node, n, w), dtype=F64).reshape(-1) for n, w in zip(
        node.input[1:5], ("scale", "B", "mean", "var")))
    C = imp.shapes[x][1] if len(imp.shapes[x]) >= 2 else None
    if any(v.shape != (C,) for v in (scale, bias, mean, var)):
        imp.fail(f"parameters must have one entry per channel ({C})", node)
    s = scale / np.sqrt(var + float(a.get("epsilon", 1e-5)))
    affine(imp, node, x, s, bias - mean * s)


# -- element-wise activations, pass-through -------------------------------------------------------
def _simple(cls):
    def handler(imp, node, a):
        imp.unused_outputs(node)
        imp.add(node, cls(), [imp.data_input(node)])
    return handler


def dropout(imp, node, a):
    """Identity at inference; a constant ``training_mode`` input (opset 12+) that is true is refused."""
    if _opt_input(node, 2) and np.any(imp.const(node, node.input[2], "training_mode")):
        imp.fail("training_mode is true: the output would be random (export the model in eval mode)", node)
    _simple(Identity)(imp, node, a)


def cast(imp, node, a):
    try:
        to = cast_dtype(a.get("to"))      # a type number, or a name before opset 6
    except ValueError as e:
        imp.fail(str(e), node)
    if to.kind != "f":
        imp.fail("Cast of data to a non-float type is not supported", node)
    imp.alias(node, imp.data_input(node))


# -- pooling and normalisation -------------------------------------------------------------------
def _pool_geometry(imp, node, a, x):
    _need_4d(imp, node, x)
    kernel = tuple(a.get("kernel_shape", ()))
    if len(kernel) != 2:
        imp.fail(f"kernel_shape {list(kernel)}: only 2-D pooling is supported", node)
    strides, pads = _geometry(imp, node, a, x, kernel)
    if a.get("ceil_mode", 0):   # extra padding at the end so that floor division gives ceil's output size
        t, l, b, r = pads
        extra = []
        for size, k, s, p0, p1 in ((imp.shapes[x][2], kernel[0], strides[0], t, b),
                                   (imp.shapes[x][3], kernel[1], strides[1], l, r)):
            n = -(-(size + p0 + p1 - k) // s) + 1
            if (n - 1) * s >= size + p0:       # the last window must start inside the input or the left pad
                n -= 1
            extra.append(max((n - 1) * s + k - (size + p0 + p1), 0))
        return kernel, strides, pads, (t, l, b + extra[0], r + extra[1])
    return kernel, strides, pads, pads


def maxpool(imp, node, a):
    x = imp.data_input(node)
    imp.unused_outputs(node)
    if a.get("storage_order", 0) not in (0, 1):
        imp.fail("unknown storage_order", node)
    kernel, strides, _, padded = _pool_geometry(imp, node, a, x)
    x, (t, l, b, r), _ = fold_pad_into_pool(imp, node, x, kernel, padded, "max", a.get("ceil_mode", 0))
    if (t, l) == (b, r):
        layer = _new_layer(imp, node, MaxPool2d, kernel, strides, (t, l))
    else:
        layer = _new_layer(imp, node, PaddedMaxPool2d, kernel, strides, (t, l, b, r))
    imp.add(node, layer, [x])


def avgpool(imp, node, a):
    x = imp.data_input(node)
    include = bool(a.get("count_include_pad", 0))
    kernel, strides, pads, padded = _pool_geometry(imp, node, a, x)
    ceil = a.get("ceil_mode", 0)
    x, padded, include = fold_pad_into_pool(imp, node, x, kernel, padded, "avg", ceil, include)
    t, l, b, r = padded
    # ceil_mode=1, count_include_pad=1: the divisor counts the pads but not ceil's extra end (onnxruntime)
    divisor = tuple(pads) if include and ceil and padded != tuple(pads) else None
    if not any(padded) or (include and (t, l) == (b, r) and divisor is None):
        layer = _new_layer(imp, node, AvgPool2d, kernel, strides, (t, l))
    else:
        layer = _new_layer(imp, node, PaddedAvgPool2d, kernel, strides, padded, include, divisor)
    imp.add(node, layer, [x])


def _global(cls):
    def handler(imp, node, a):
        x = imp.data_input(node)
        _need_4d(imp, node, x)
        imp.add(node, cls(tuple(imp.shapes[x][2:])), [x])
    return handler


def lppool(imp, node, a):
    x = imp.data_input(node)
    kernel, strides, pads, ceil_pads = _pool_geometry(imp, node, a, x)
    t, l, b, r = pads
    if (t, l) != (b, r):
        imp.fail(f"asymmetric pads {pads} are not supported for LpPool", node)
    if ceil_pads != pads:      # ceil_mode (opset 18) adds windows at the end: asymmetric padding
        imp.fail("ceil_mode=1 adds output positions here (asymmetric end padding), which dtd's LpPool2d does "
                 "not support", node)
    imp.add(node, _new_layer(imp, node, LpPool2d, a.get("p", 2), kernel, strides, (t, l)), [x])


def lrn(imp, node, a):
    if "size" not in a:
        imp.fail("LRN without size", node)
    layer = _new_layer(imp, node, LRN, a["size"], a.get("alpha", 1e-4), a.get("beta", 0.75), a.get("bias", 1.0))
    imp.add(node, layer, [imp.data_input(node)])


# -- shapes ---------------------------------------------------------------------------------------
def _reshape_to(imp, node, x, new):
    old = imp.shapes[x]
    if tuple(new) == tuple(old):
        return imp.alias(node, x)
    if len(new) == 2 and new[0] == old[0] and new[1] == int(np.prod(old[1:], dtype=np.int64)):
        return imp.add(node, Flatten(), [x])
    imp.fail(f"reshapes {old} to {tuple(new)}; dtd imports only reshapes that flatten each sample "
             "to (N, features)", node)


def reshape(imp, node, a):
    x = imp.data_input(node)
    if imp.opset >= 5:
        target = _ints(imp, node, imp.const(node, node.input[1], "the target shape"), "the target shape")
    elif "shape" in a:
        target = list(a["shape"])
    else:
        imp.fail(f"Reshape without a shape attribute (opset {imp.opset})", node)
    try:
        new = reshape_target(imp.shapes[x], target, a.get("allowzero", 0))
    except ValueError as e:
        imp.fail(str(e), node)
    _reshape_to(imp, node, x, new)


def _axes(imp, node, a):
    if _opt_input(node, 1):
        return _ints(imp, node, imp.const(node, node.input[1], "axes"), "axes")
    return list(a["axes"]) if "axes" in a else None


def squeeze(imp, node, a):
    x = imp.data_input(node)
    shape = imp.shapes[x]
    axes = _axes(imp, node, a)
    axes = [i for i, d in enumerate(shape) if d == 1 and i > 0] if axes is None else \
        [ax + len(shape) if ax < 0 else ax for ax in axes]
    if 0 in axes or any(shape[ax] != 1 for ax in axes):
        imp.fail(f"cannot squeeze axes {axes} of shape {shape}", node)
    _reshape_to(imp, node, x, tuple(d for i, d in enumerate(shape) if i not in axes))


def unsqueeze(imp, node, a):
    x = imp.data_input(node)
    shape = list(imp.shapes[x])
    axes = _axes(imp, node, a) or []
    rank = len(shape) + len(axes)
    for ax in sorted(ax + rank if ax < 0 else ax for ax in axes):
        if ax == 0:
            imp.fail("cannot unsqueeze the batch axis", node)
        shape.insert(ax, 1)
    _reshape_to(imp, node, x, tuple(shape))


def flatten(imp, node, a):
    x = imp.data_input(node)
    axis = a.get("axis", 1)
    axis = axis + len(imp.shapes[x]) if axis < 0 else axis
    if axis != 1:
        imp.fail(f"Flatten with axis={a.get('axis')} is not supported (only axis 1: (N, features))", node)
    imp.add(node, Flatten(), [x])


def transpose(imp, node, a):
    x = imp.data_input(node)
    perm = list(a.get("perm", range(len(imp.shapes[x]))[::-1]))
    if perm == sorted(perm):
        return imp.alias(node, x)
    if perm[0] != 0:
        imp.fail(f"Transpose with perm {perm} moves the batch axis; only perms with perm[0] = 0 are supported",
                 node)
    imp.add(node, _new_layer(imp, node, Transpose, perm), [x])


def concat(imp, node, a):
    xs = [imp.data_input(node, i) for i in range(len(node.input))]
    if len(xs) == 1:
        return imp.alias(node, xs[0])
    if "axis" not in a and imp.opset >= 4:
        imp.fail("Concat without axis", node)
    axis = int(a.get("axis", 1))                    # before opset 4 the axis defaults to 1
    axis = axis + len(imp.shapes[xs[0]]) if axis < 0 else axis
    if axis == 0:
        imp.fail("Concat along the batch axis is not supported", node)
    imp.add(node, Concat(axis), xs)


def softmax(imp, node, a):
    x = imp.data_input(node)
    if node.output[0] not in imp.outputs:
        imp.fail(f"{node.op_type} is supported only at the output, where it is stripped", node)
    imp.alias(node, x)
    imp.stripped = node.op_type
    imp.note(f"stripped the {node.op_type} at the output (node {imp.node_label(node)}): the network "
             "gives the scores before it, which is what relevance is computed for")


HANDLERS = {
    "Conv": conv, "Gemm": gemm, "MatMul": matmul,
    "Add": add, "Sum": sum_, "Sub": sub, "Mul": mul, "Div": div, "BatchNormalization": batchnorm,
    "Relu": _simple(ReLU), "Tanh": _simple(Tanh), "Dropout": dropout, "Identity": _simple(Identity),
    "Cast": cast,
    "MaxPool": maxpool, "AveragePool": avgpool, "GlobalAveragePool": _global(AvgPool2d),
    "GlobalMaxPool": _global(MaxPool2d), "LpPool": lppool, "LRN": lrn,
    "Reshape": reshape, "Flatten": flatten, "Squeeze": squeeze, "Unsqueeze": unsqueeze, "Transpose": transpose,
    "Concat": concat, "Softmax": softmax, "LogSoftmax": softmax,
}
HANDLERS.update(_ACTIVATIONS)      # Clip, LeakyRelu, PRelu, Sigmoid, HardSigmoid, HardSwish, Swish
HANDLERS.update(_PAD_REDUCE)        # Pad, ReduceMean, ReduceSum
HANDLERS.update(_SLICE)             # Slice, Split of data on the channels (ChannelSlice)
