"""ONNX elementwise activations other than Relu and Tanh, as dtd layers.

``Clip`` (ReLU6, Hardtanh), ``LeakyRelu``, ``PRelu``, ``Sigmoid``, ``HardSigmoid``, ``HardSwish`` (opset 14+)
and ``Swish`` (opset 24, ``alpha = 1`` only) become :class:`~dtd.layers.Clip`, :class:`~dtd.layers.LeakyReLU`,
:class:`~dtd.layers.PReLU`, :class:`~dtd.layers.Sigmoid`, :class:`~dtd.layers.HardSigmoid`,
:class:`~dtd.layers.HardSwish` and :class:`~dtd.layers.SiLU`.

Exporters write two self-gated activations as a product of the data with a function of itself, which
:func:`self_gated_mul` recognises (the ``Mul`` handler asks it before refusing a product of two data tensors):

* ``Mul(x, Sigmoid(x))`` (either order): SiLU / Swish.  PyTorch writes ``nn.SiLU`` so with both exporters.
* ``Mul(x, HardSigmoid(x))`` with ``alpha = 1/6``, ``beta = 0.5``: HardSwish.  PyTorch's TorchScript
  exporter writes ``nn.Hardswish`` so below opset 14.

The gate node stays in the graph for any other reader; when the product is its only reader it is dropped
with the other nodes that do not reach the output.
"""
import math

import numpy as np

from ..layers import Clip, HardSigmoid, HardSwish, LeakyReLU, PReLU, SiLU, Sigmoid

__all__ = ["HANDLERS", "self_gated_mul"]


def _layer(imp, node, cls, *args):
    try:
        return cls(*args)
    except (ValueError, TypeError) as e:
        imp.fail(str(e), node)


def _add(imp, node, layer):
    imp.unused_outputs(node)
    imp.add(node, layer, [imp.data_input(node)])


def _scalar_bound(imp, node, index, what):
    """Input ``index`` of a Clip (opset 11+) as a float, None when absent; it must be a constant scalar."""
    name = node.input[index] if len(node.input) > index else ""
    if not name:
        return None
    if name not in imp.consts:
        imp.fail(f"the {what} bound ({name!r}) is computed from the data; dtd imports Clip only with constant "
                 "bounds (initializers or computed from constants)", node)
    v = np.asarray(imp.consts[name])
    if v.size != 1 or v.dtype.kind not in "fiu":
        imp.fail(f"the {what} bound must be a numeric scalar, got shape {v.shape} and dtype {v.dtype}", node)
    return float(v.reshape(()))


def clip(imp, node, a):
    """Clip: bounds from attributes before opset 11, from optional constant inputs since (absent: unbounded)."""
    if imp.opset >= 11 and ("min" in a or "max" in a):
        imp.fail(f"min/max attributes are not part of Clip at opset {imp.opset} (its bounds are inputs)", node)
    if imp.opset < 11:
        low, high = a.get("min"), a.get("max")
        low, high = (None if low is None else float(low)), (None if high is None else float(high))
    else:
        low, high = _scalar_bound(imp, node, 1, "min"), _scalar_bound(imp, node, 2, "max")
    if low is not None and high is not None and low > high:
        imp.fail(f"min ({low}) exceeds max ({high}): ONNX then sets every value to max, a constant output "
                 "that does not depend on the input (not imported)", node)
    if (low is not None and math.isnan(low)) or (high is not None and math.isnan(high)):
        imp.fail(f"a bound is NaN (min={low}, max={high})", node)
    _add(imp, node, _layer(imp, node, Clip, low, high))


def leaky_relu(imp, node, a):
    _add(imp, node, _layer(imp, node, LeakyReLU, a.get("alpha", 0.01)))


def prelu(imp, node, a):
    """PRelu: the slope (input 1) must be a constant that is one value, or one value per channel (axis 1)."""
    x = imp.data_input(node)
    s = np.asarray(imp.const(node, node.input[1], "the slope"))
    shape = imp.shapes[x]
    if s.dtype.kind != "f":
        imp.fail(f"the slope must be floating point, got dtype {s.dtype}", node)
    if s.size != 1:
        ok = len(shape) >= 2 and s.ndim <= len(shape)
        if ok:     # ONNX broadcasts the slope to x from the right (unidirectionally)
            full = (1,) * (len(shape) - s.ndim) + s.shape
            ok = full[0] == 1 and full[1] == shape[1] and all(d == 1 for d in full[2:])
        if not ok:
            imp.fail(f"a slope of shape {s.shape} for data of shape {shape} is not one value per channel "
                     "(axis 1) nor a single value; dtd's PReLU supports only those", node)
    imp.unused_outputs(node)
    imp.add(node, _layer(imp, node, PReLU, s.reshape(-1).astype(imp.float_dtype)), [x])


def sigmoid(imp, node, a):
    _add(imp, node, Sigmoid())


def hard_sigmoid(imp, node, a):
    _add(imp, node, _layer(imp, node, HardSigmoid, a.get("alpha", 0.2), a.get("beta", 0.5)))


def hard_swish(imp, node, a):
    _add(imp, node, HardSwish())


def swish(imp, node, a):
    alpha = float(a.get("alpha", 1.0))
    if alpha != 1.0:
        imp.fail(f"Swish with alpha={alpha} is not supported (only alpha = 1: SiLU)", node)
    _add(imp, node, SiLU())


def _is_hard_swish_gate(op):
    """HardSigmoid(1/6, 0.5), with alpha as an exporter writes it (1/6 rounded to float32 or float64)."""
    return op.beta == 0.5 and op.alpha in (1 / 6, float(np.float32(1 / 6)))


def self_gated_mul(imp, node):
    """``Mul(x, Sigmoid(x))`` -> SiLU, ``Mul(x, HardSigmoid(x))`` with alpha 1/6, beta 0.5 -> HardSwish.

    For a ``Mul`` of two data tensors: adds the layer and returns True when one input is the gate of the
    other; returns False when it is not such a product (the caller then refuses it).  A product of ``x``
    with a sigmoid of *another* tensor (squeeze-and-excitation, gated units) is refused here, with what
    importing it would need.
    """
    gated_other = None
    for g, other in ((1, 0), (0, 1)):
        gate_node = imp.producer.get(node.input[g])
        op = imp.nodes[gate_node].op if gate_node in imp.nodes else None
        if not isinstance(op, (Sigmoid, HardSigmoid)):
            continue
        gate_input = imp.node_inputs[gate_node][0]
        if imp.producer[gate_input] != imp.producer[node.input[other]]:
            gated_other = gated_other or (type(op).__name__, node.input[g])
            continue
        if isinstance(op, Sigmoid):
            layer = SiLU()
        elif _is_hard_swish_gate(op):
            layer = HardSwish()
        else:
            imp.fail(f"x * HardSigmoid(x) with alpha={op.alpha}, beta={op.beta} is not a HardSwish "
                     "(alpha 1/6, beta 0.5), the only self-gated product dtd imports besides x * Sigmoid(x)", node)
        imp.add(node, layer, [node.input[other]])
        return True
    if gated_other is not None:
        imp.fail(f"multiplies data by a {gated_other[0]} ({gated_other[1]!r}) of another tensor (a gating product, "
                 "e.g. squeeze-and-excitation); dtd imports only x * Sigmoid(x) and x * HardSigmoid(x) of the "
                 "same x: this would need a layer for the product of two branches and a rule for it", node)
    return False


HANDLERS = {
    "Clip": clip, "LeakyRelu": leaky_relu, "PRelu": prelu, "Sigmoid": sigmoid, "HardSigmoid": hard_sigmoid,
    "HardSwish": hard_swish, "Swish": swish,
}
