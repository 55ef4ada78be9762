"""Constant folding for the ONNX import: small NumPy versions of the ops that exporters use for shape
arithmetic and for computing weights (Shape, Gather, Unsqueeze, Concat, Cast, Slice, ConstantOfShape,
Reshape, arithmetic on constants, ...).

Each function takes the node's input arrays (None for an omitted optional
input), its attributes as a dict and the opset, and returns the list of
output arrays.  They raise ``ValueError`` with a short reason on inputs they
cannot handle; the importer adds the node's name.
"""
import numpy as np

__all__ = ["CONST_OPS", "evaluate", "MAX_ELEMENTS", "cast_dtype", "legacy_operand"]

#: largest constant the import will create (a hostile ConstantOfShape must not exhaust memory)
MAX_ELEMENTS = 1 << 28


def _ints(a, what):
    a = np.asarray(a)
    if a.dtype.kind not in "iu":
        raise ValueError(f"{what} must be integers, got dtype {a.dtype}")
    return [int(v) for v in a.reshape(-1)]


def _guard(shape):
    n = 1
    for d in shape:
        if d < 0:
            raise ValueError(f"negative dimension in shape {tuple(shape)}")
        n *= d
    if n > MAX_ELEMENTS:
        raise ValueError(f"a constant of shape {tuple(shape)} ({n} elements) is too large")
    return tuple(shape)


def _axes(ins, attrs, index=1):
    if len(ins) > index and ins[index] is not None:
        return _ints(ins[index], "axes")
    return list(attrs["axes"]) if "axes" in attrs else None


def _constant(ins, attrs, opset):
    for key, conv in (("value", np.asarray), ("value_float", np.float32), ("value_floats", np.float32),
                      ("value_int", np.int64), ("value_ints", np.int64)):
        if key in attrs:
            return [np.asarray(attrs[key], dtype=None if key == "value" else conv)]
    raise ValueError(f"Constant with attributes {sorted(attrs)} is not supported")


def _shape(ins, attrs, opset):
    shape = np.array(ins[0].shape, dtype=np.int64)
    return [shape[attrs.get("start", 0):attrs.get("end", None)]]


def _gather(ins, attrs, opset):
    data, idx = ins[0], np.asarray(ins[1])
    return [np.take(data, idx.astype(np.int64), axis=attrs.get("axis", 0))]


def _unsqueeze(ins, attrs, opset):
    x, axes = ins[0], _axes(ins, attrs)
    if axes is None:
        raise ValueError("Unsqueeze without axes")
    rank = x.ndim + len(axes)
    for a in sorted(a + rank if a < 0 else a for a in axes):
        x = np.expand_dims(x, a)
    return [x]


def _squeeze(ins, attrs, opset):
    axes = _axes(ins, attrs)
    return [np.squeeze(ins[0], axis=None if axes is None else tuple(axes))]


def _concat(ins, attrs, opset):   # axis defaults to 1 before opset 4, is required from 4 on
    return [np.concatenate([np.atleast_1d(a) for a in ins], axis=attrs.get("axis", 1) if opset < 4 else attrs["axis"])]


def cast_dtype(to):
    """The NumPy dtype of Cast's ``to``: a ``TensorProto.DataType`` (opset >= 6) or its name (Cast-1: ``"FLOAT"``)."""
    from onnx import TensorProto, helper
    if isinstance(to, str):
        if to.upper() not in TensorProto.DataType.keys():
            raise ValueError(f"Cast to unknown type {to!r}")
        to = TensorProto.DataType.Value(to.upper())
    try:
        return np.dtype(helper.tensor_dtype_to_np_dtype(to))
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"Cast to unsupported type {to!r}") from None


def _cast(ins, attrs, opset):
    return [ins[0].astype(cast_dtype(attrs["to"]))]


def _slice(ins, attrs, opset):
    x = ins[0]
    if opset < 10:
        starts, ends = list(attrs["starts"]), list(attrs["ends"])
        axes, steps = attrs.get("axes"), None
    else:
        starts, ends = _ints(ins[1], "starts"), _ints(ins[2], "ends")
        axes = _ints(ins[3], "axes") if len(ins) > 3 and ins[3] is not None else None
        steps = _ints(ins[4], "steps") if len(ins) > 4 and ins[4] is not None else None
    axes = list(range(len(starts))) if axes is None else list(axes)
    steps = [1] * len(starts) if steps is None else steps
    index = [slice(None)] * x.ndim
    for start, end, axis, step in zip(starts, ends, axes, steps):
        dim = x.shape[axis]
        if step == 0:
            raise ValueError("Slice with step 0")
        start = start + dim if start < 0 else start
        end = end + dim if end < 0 else end
        if step > 0:
            start, end = min(max(start, 0), dim), min(max(end, 0), dim)
        else:
            start, end = min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)
        index[axis] = slice(start, None if end < 0 else end, step)
    return [x[tuple(index)]]


def _constant_of_shape(ins, attrs, opset):
    shape = _guard(_ints(ins[0], "the shape"))
    value = np.asarray(attrs.get("value", np.zeros(1, np.float32)))
    if value.size != 1:
        raise ValueError("ConstantOfShape value must hold one element")
    return [np.full(shape, value.reshape(-1)[0], dtype=value.dtype)]


def reshape_target(shape, target, allowzero=False):
    """The shape ONNX ``Reshape`` gives an array of shape ``shape``: 0 copies a dimension, -1 is inferred."""
    out = [shape[i] if (t == 0 and not allowzero) else t for i, t in enumerate(target)]
    if out.count(-1) > 1:
        raise ValueError(f"Reshape target {list(target)} has more than one -1")
    total = int(np.prod(shape, dtype=np.int64))
    if -1 in out:
        rest = int(np.prod([d for d in out if d != -1], dtype=np.int64))
        if rest == 0 or total % rest:
            raise ValueError(f"cannot reshape {tuple(shape)} to {list(target)}")
        out[out.index(-1)] = total // rest
    if int(np.prod(out, dtype=np.int64)) != total or min(out, default=0) < 0:
        raise ValueError(f"cannot reshape {tuple(shape)} to {list(target)}")
    return tuple(out)


def _reshape(ins, attrs, opset):
    target = _ints(ins[1], "the shape") if opset >= 5 else list(attrs["shape"])
    return [ins[0].reshape(reshape_target(ins[0].shape, target, attrs.get("allowzero", 0)))]


def _div(a, b):
    if a.dtype.kind in "iu" and b.dtype.kind in "iu":   # ONNX integer division truncates toward zero
        q = np.abs(a) // np.abs(b)
        return np.where((a < 0) != (b < 0), -q, q).astype(np.result_type(a, b))
    return a / b


def legacy_operand(shape, b, attrs):
    """Input B of Add/Sub/Mul/Div before opset 7, aligned for NumPy broadcasting against an A of ``shape``.

    Before opset 7 B broadcasts only with ``broadcast=1``: its dimensions match A's
    from ``axis`` on when ``axis`` is given (``b`` of shape (C,) at ``axis=1``
    is per channel), else A's trailing ones; without ``broadcast=1`` the shapes
    must be equal.
    """
    b, shape = np.asarray(b), tuple(shape)
    if b.shape == shape:
        return b
    if not attrs.get("broadcast", 0):
        raise ValueError(f"shapes {shape} and {b.shape} differ and broadcast=0 (before opset 7 the second input "
                         "broadcasts only with broadcast=1)")
    if "axis" not in attrs:
        return b
    axis = int(attrs["axis"])
    axis = axis + len(shape) if axis < 0 else axis
    if not 0 <= axis <= len(shape) - b.ndim or any(
            d not in (1, s) for d, s in zip(b.shape, shape[axis:])):
        raise ValueError(f"broadcast axis {attrs['axis']} does not fit shapes {shape} and {b.shape}")
    return b.reshape(b.shape + (1,) * (len(shape) - axis - b.ndim))


def _binary(fn):
    def run(ins, attrs, opset):
        a, b = ins[0], ins[1]
        if opset < 7:
            b = legacy_operand(np.shape(a), b, attrs)
        _guard(np.broadcast_shapes(np.shape(a), np.shape(b)))
        return [np.asarray(fn(a, b))]
    return run


def _unary(fn):
    return lambda ins, attrs, opset: [np.asarray(fn(ins[0]))]


def _transpose(ins, attrs, opset):
    return [np.transpose(ins[0], attrs.get("perm"))]


def _flatten(ins, attrs, opset):
    x, axis = ins[0], attrs.get("axis", 1)
    axis = axis + x.ndim if axis < 0 else axis
    return [x.reshape(int(np.prod(x.shape[:axis], dtype=np.int64)), -1)]


def _range(ins, attrs, opset):
    start, limit, delta = (np.asarray(a).reshape(()) for a in ins[:3])
    if delta == 0:
        raise ValueError("Range with delta 0")
    n = max(int(np.ceil((limit - start) / delta)), 0)
    _guard((n,))
    return [(start + delta * np.arange(n)).astype(np.result_type(start, limit, delta))]


def _expand(ins, attrs, opset):
    shape = np.broadcast_shapes(ins[0].shape, tuple(_ints(ins[1], "the shape")))
    return [np.broadcast_to(ins[0], _guard(shape)).copy()]


CONST_OPS = {
    "Constant": _constant, "Identity": _unary(lambda a: a), "Shape": _shape,
    "Size": _unary(lambda a: np.int64(a.size)), "Gather": _gather, "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze, "Concat": _concat, "Cast": _cast, "Slice": _slice,
    "ConstantOfShape": _constant_of_shape, "Reshape": _reshape,
    "Add": _binary(np.add), "Sub": _binary(np.subtract), "Mul": _binary(np.multiply), "Div": _binary(_div),
    "Neg": _unary(np.negative), "Sqrt": _unary(np.sqrt), "Reciprocal": _unary(np.reciprocal),
    "Transpose": _transpose, "Flatten": _flatten, "Range": _range, "Expand": _expand,
}


def evaluate(op, ins, attrs, opset):
    """Outputs of ``op`` on the constant inputs ``ins``; ValueError if it cannot be done."""
    try:
        out = CONST_OPS[op](ins, attrs, opset)
    except (ValueError, TypeError, IndexError, KeyError, ArithmeticError) as e:   # AxisError is a ValueError
        raise ValueError(f"cannot evaluate {op} on constants: {e}") from None
    for a in out:
        _guard(a.shape)
    return out
