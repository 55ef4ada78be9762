"""ONNX ``Pad``, ``ReduceMean`` / ``ReduceSum`` over the spatial axes, and zero padding folded into the
convolution or pooling that reads it.

* ``Pad`` (mode ``constant``, value 0, only the two spatial axes of a 4-d tensor) becomes a
  :class:`~dtd.layers.ZeroPad2d`.  The ``Conv`` / ``MaxPool`` / ``AveragePool`` handlers of
  :mod:`dtd.io._onnx_ops` then fold it into their own padding when the result is exact:

  - ``Conv``: always, even when other nodes read the pad too (the padding of a convolution is
    zeros).  The summed padding, whether or not it differs at the two ends of an axis, becomes the
    ``(top, left, bottom, right)`` padding of the :class:`~dtd.layers.Conv2d`, which reads the
    unpadded tensor: no ZeroPad2d is left before a convolution (one stays only for other readers).
    A ``Conv`` whose own ``pads`` / ``auto_pad=SAME_*`` are asymmetric (TensorFlow ``SAME`` with
    stride 2) imports the same way.
  - ``MaxPool`` (padding ``-inf``): only when the pool is the pad's only reader, the padded tensor
    is a ReLU's output (>= 0), without ``ceil_mode``, and each summed pad is smaller than the kernel,
    so that every window holds an input entry, which is >= 0 and beats a padded zero or ``-inf`` alike.
  - ``AveragePool``: only when the pool is the pad's only reader, without ``ceil_mode``, and when the
    pool counts its own padding (``count_include_pad=1``) or has none: the padded zeros are then
    counted either way.
  Folding is exact in the forward pass and under every rule whose messages are proportional to the
  input (LRP-0, epsilon, gamma, alpha-beta, z+).  Under z^B, w^2 and flat it is what makes the
  explanation independent of how the exporter wrote the padding: a folded pad is the convolution's own
  padding, which is not an input (no relevance, no share of a denominator), as in a convolution padded
  symmetrically; a ZeroPad2d layer before it would make its padded positions inputs, give them a share
  and drop it (see :class:`~dtd.layers.ZeroPad2d`; Zennit, on a torch model with an explicit
  ``nn.ZeroPad2d``, does that).  A ``Pad`` that feeds something other than a ``Conv`` (a pool where
  folding is not exact, a ReLU, an output) stays a :class:`~dtd.layers.ZeroPad2d` for that reader.
* ``ReduceMean`` / ``ReduceSum`` over axes 2 and/or 3 of a 4-d tensor (how torch's dynamo
  exporter writes adaptive / global average pooling) become an :class:`~dtd.layers.AvgPool2d` /
  :class:`~dtd.layers.SumPool2d` whose window is the whole axis, followed by a
  :class:`~dtd.layers.Flatten` with ``keepdims=0`` (over both axes).
"""
from types import SimpleNamespace

import numpy as np

from ..layers import AvgPool2d, Flatten, ReLU, SumPool2d, ZeroPad2d

__all__ = ["HANDLERS", "conv_padding", "fold_pad_into_pool"]


def _opt(node, i):
    return node.input[i] if len(node.input) > i and node.input[i] else None


def _ints(imp, node, a, what):
    a = np.asarray(a)
    if a.dtype.kind not in "iu":
        imp.fail(f"{what} must be integers", node)
    return [int(v) for v in a.reshape(-1)]


def _label(node):
    return node.name or node.output[0]


def _zero_pad_source(imp, x):
    """``(node name, pads, input tensor, output tensor)`` if ``x`` comes from a ZeroPad2d that only one node
    (the caller) reads, else None."""
    prod = imp.producer.get(x)
    node = imp.nodes.get(prod)
    if node is None or not isinstance(node.op, ZeroPad2d) or imp.readers_of(prod) != 1:
        return None
    return prod, node.op.pads, imp.node_inputs[prod][0], x


def _summed(p, q):
    return tuple(int(a + b) for a, b in zip(p, q))


def conv_padding(imp, node, x, pads):
    """``(input tensor, (top, left, bottom, right))`` of a convolution with ONNX ``pads`` on ``x``.

    Every zero pad that feeds the convolution is folded in (its pads added to the convolution's; a chain
    of them all), whatever else reads it: the convolution then reads the unpadded tensor, and the
    ZeroPad2d is removed when no other node reads it (else it stays for those).  The sum, symmetric or
    not, is the padding of the Conv2d.
    """
    while True:
        prod = imp.producer.get(x)
        src = imp.nodes.get(prod)
        if src is None or not isinstance(src.op, ZeroPad2d):
            return x, tuple(int(p) for p in pads)
        x_in = imp.node_inputs[prod][0]
        pads = _summed(pads, src.op.pads)
        imp.readers[x] -= 1                                  # this convolution reads x_in instead
        imp.readers[x_in] = imp.readers.get(x_in, 0) + 1
        if imp.readers_of(prod) == 0:                        # no one else reads the pad: it goes
            imp.remove(prod)
            imp.readers[x_in] -= 1
        x = x_in


def _nonnegative(imp, x):
    prod = imp.producer.get(x)
    node = imp.nodes.get(prod)
    return node is not None and isinstance(node.op, ReLU)


def fold_pad_into_pool(imp, node, x, kernel, pads, kind, ceil_mode, count_include_pad=True):
    """``(input tensor, pads, count_include_pad)`` of a pool on ``x``, with a zero pad before it folded in
    when that is exact (``kind`` is ``"max"`` or ``"avg"``; see the module docstring); else unchanged."""
    src = _zero_pad_source(imp, x)
    if src is None or ceil_mode:
        return x, pads, count_include_pad
    name, before, x_in, _ = src
    total = _summed(pads, before)
    if max(total[0], total[2]) >= kernel[0] or max(total[1], total[3]) >= kernel[1]:
        return x, pads, count_include_pad
    if kind == "max" and not _nonnegative(imp, x_in):
        return x, pads, count_include_pad
    if kind == "avg" and not (count_include_pad or not any(pads)):
        return x, pads, count_include_pad
    imp.remove(name)
    return x_in, total, True


# -- handlers ------------------------------------------------------------------------------------
def pad(imp, node, a):
    """ONNX ``Pad``: constant zeros on the spatial axes of a 4-d tensor -> ZeroPad2d."""
    x = imp.data_input(node)
    shape = imp.shapes[x]
    rank = len(shape)
    mode = a.get("mode", "constant")
    if mode != "constant":
        imp.fail(f"mode {mode!r} is not supported (only 'constant' padding with value 0)", node)
    if imp.opset < 11:
        if "pads" not in a and "paddings" not in a:
            imp.fail("Pad without pads", node)
        pads = [int(p) for p in a.get("pads", a.get("paddings"))]
        value = a.get("value", 0.0)
    else:
        pads = _ints(imp, node, imp.const(node, node.input[1], "pads"), "pads")
        value = imp.const(node, node.input[2], "constant_value") if _opt(node, 2) else 0.0
        if _opt(node, 3):       # axes (opset 18): pads holds the begins, then the ends, of these axes only
            axes = [ax + rank if ax < 0 else ax
                    for ax in _ints(imp, node, imp.const(node, node.input[3], "axes"), "axes")]
            if len(pads) != 2 * len(axes) or sorted(set(axes)) != sorted(axes) or not all(0 <= ax < rank
                                                                                             for ax in axes):
                imp.fail(f"pads {pads} do not fit axes {axes} of a {rank}-d tensor", node)
            full = [0] * (2 * rank)
            for i, ax in enumerate(axes):
                full[ax], full[rank + ax] = pads[i], pads[len(axes) + i]
            pads = full
    value = np.asarray(value)
    if value.size != 1 or float(value.reshape(-1)[0]) != 0.0:
        imp.fail(f"constant_value {value.reshape(-1).tolist()} is not supported (only zero padding)", node)
    if len(pads) != 2 * rank:
        imp.fail(f"pads {pads} need {2 * rank} entries for a {rank}-d tensor", node)
    if min(pads) < 0:
        imp.fail(f"negative pads {pads} (cropping) are not supported", node)
    if not any(pads):
        return imp.alias(node, x)
    if rank != 4 or any(pads[i] for i in (0, 1, 4, 5)):
        imp.fail(f"pads {pads} of a tensor of shape {shape}: dtd imports zero padding of the two spatial axes "
                 "(2, 3) of a 4-d (N, C, H, W) tensor only", node)
    imp.add(node, ZeroPad2d((pads[2], pads[3], pads[6], pads[7])), [x])


def _reduce(mean):
    pool_cls = AvgPool2d if mean else SumPool2d

    def handler(imp, node, a):
        x = imp.data_input(node)
        shape = imp.shapes[x]
        op = node.op_type
        if imp.opset >= (18 if mean else 13):          # axes became an (optional) input
            axes = _ints(imp, node, imp.const(node, node.input[1], "axes"), "axes") if _opt(node, 1) else None
        else:
            axes = [int(v) for v in a["axes"]] if "axes" in a else None
        if not axes:
            if a.get("noop_with_empty_axes", 0):
                return imp.alias(node, x)
            axes = list(range(len(shape)))
        axes = sorted({ax + len(shape) if ax < 0 else ax for ax in axes})
        keep = bool(a.get("keepdims", 1))
        what = "average" if mean else "sum"
        if len(shape) != 4 or not set(axes) <= {2, 3}:
            imp.fail(f"{op} over axes {axes} of a tensor of shape {shape} is not supported: dtd imports {op} "
                     f"over the spatial axes (2 and/or 3) of a 4-d (N, C, H, W) tensor, as {what} pooling", node)
        if not keep and axes != [2, 3]:
            imp.fail(f"{op} with keepdims=0 over axis {axes[0]} alone gives a 3-d tensor, which dtd does not "
                     "import (keepdims=0 is supported over both spatial axes: (N, C))", node)
        H, W = shape[2:]
        pool = pool_cls((H if 2 in axes else 1, W if 3 in axes else 1))
        if keep:
            return imp.add(node, pool, [x])
        mid = node.output[0] + "/pooled"
        imp.add(SimpleNamespace(name=node.name or mid, output=[mid], op_type=op), pool, [x])
        imp.add(SimpleNamespace(name=_label(node) + "/flatten", output=list(node.output), op_type=op),
                Flatten(), [mid])
    return handler


HANDLERS = {"Pad": pad, "ReduceMean": _reduce(True), "ReduceSum": _reduce(False)}
