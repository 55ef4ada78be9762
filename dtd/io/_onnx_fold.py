"""Folding per-channel affine maps (batch norm, Mul/Add/Sub/Div by per-channel constants) into the
neighbouring linear layers of an ONNX import, exactly.

* after a layer ``z = W x + b`` (Dense, Conv2d, GroupedConv2d, or another Affine) whose output has
  no other reader: ``s z + t = (s W) x + (s b + t)``;
* before a Dense, or a Conv2d without padding, that is its only reader:
  ``W (s x + t) + b = (W s) x + (b + W t)`` (with zero padding the padded zeros would not be
  transformed, so the map is kept as an :class:`~dtd.layers.Affine` layer).

Folding is computed in float64 and stored in the layer's dtype.
"""
import numpy as np

from ..layers import Affine, Conv2d, Dense, GroupedConv2d

__all__ = ["channel_vector", "affine", "fold_affine_before"]

F64 = np.float64

def channel_vector(imp, node, x, c, what):
    """A constant that broadcasts along axis 1 only, as a float64 vector of length C."""
    shape, c = imp.shapes[x], np.asarray(c)
    r = len(shape)
    ok = r >= 2 and c.ndim <= r
    if ok:
        cb = c.reshape((1,) * (r - c.ndim) + c.shape)
        ok = cb.shape[0] == 1 and all(d == 1 for d in cb.shape[2:]) and cb.shape[1] in (1, shape[1])
    if not ok:
        imp.fail(f"{what} by a constant of shape {c.shape} is not per-channel (along axis 1) "
                 f"for data of shape {shape}; dtd imports per-channel affine maps only", node)
    return np.broadcast_to(cb.reshape(-1).astype(F64), (shape[1],))


def _with_params(layer, weight, bias):
    dt = layer.weight.dtype
    weight, bias = weight.astype(dt), bias.astype(dt)
    if isinstance(layer, Dense):
        return Dense(weight, bias)
    if isinstance(layer, GroupedConv2d):
        return GroupedConv2d(weight, bias, layer.stride, layer.padding, layer.groups)
    return Conv2d(weight, bias, layer.stride, layer.padding)


def _fold_after(op, s, t):
    """``s * op(x) + t`` as one layer (op is Dense, Conv2d or Affine), computed in float64."""
    if isinstance(op, Affine):
        dt = op.scale.dtype
        return Affine((op.scale.astype(F64) * s).astype(dt), (op.shift.astype(F64) * s + t).astype(dt))
    w = op.weight.astype(F64) * s.reshape((-1,) + (1,) * (op.weight.ndim - 1))
    return _with_params(op, w, op.bias.astype(F64) * s + t)


def affine(imp, node, x, s, t):
    """Apply ``y = s x + t`` per channel: folded into the producing linear layer, or an Affine layer."""
    prod = imp.producer[x]
    op = imp.nodes[prod].op if prod in imp.nodes else None
    if isinstance(op, (Dense, Conv2d, Affine)) and imp.readers_of(prod) == 1:
        imp.replace(prod, _fold_after(op, s, t))
        imp.alias(node, x)
        return
    dt = imp.float_dtype
    imp.add(node, Affine(s.astype(dt), t.astype(dt)), [x])


def fold_affine_before(imp, node, layer, x):
    """Fold an Affine layer that feeds ``layer`` (its only reader) into it when exact; returns (layer, input)."""
    prod = imp.producer[x]
    op = imp.nodes[prod].op if prod in imp.nodes else None
    if not isinstance(op, Affine) or imp.readers_of(prod) != 1:
        return layer, x
    s, t = op.scale.astype(F64), op.shift.astype(F64)
    w, b = layer.weight.astype(F64), layer.bias.astype(F64)
    if isinstance(layer, Dense) and len(imp.shapes[x]) == 2:
        new = _with_params(layer, w * s[None, :], b + w @ t)
    elif type(layer) is Conv2d and not any(layer.pads):
        new = _with_params(layer, w * s[None, :, None, None], b + (w * t[None, :, None, None]).sum(axis=(1, 2, 3)))
    else:
        return layer, x
    x_in = imp.node_inputs[prod][0]
    imp.remove(prod)
    return new, x_in
