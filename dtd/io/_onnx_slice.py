"""ONNX channel splits and gating products: ``Slice`` / ``Split`` of data on axis 1, ``Mul`` by a broadcast gate.

* ``Slice`` of a data tensor (TorchScript writes ShuffleNetV2's ``x.chunk(2, dim=1)`` so, with constant
  starts/ends/axes/steps) becomes a :class:`~dtd.layers.ChannelSlice`; only axis 1 may be cut, with
  step 1; the batch and spatial axes must be taken whole (a trivial slice there is ignored; on the batch
  axis only ``start 0`` with an end of at least 2**31 - 1 is, since the network takes any batch size).  A slice
  of constants is evaluated at import (:mod:`dtd.io._onnx_const`).
* ``Split`` on axis 1 (the dynamo exporter's ``chunk``; sizes as the ``split`` attribute before opset
  13, the ``split`` input since, or ``num_outputs`` at opset 18+) becomes one ChannelSlice node per
  output, named ``<node name>:<output index>``.
* ``Mul`` of a signal ``x`` (N, C, H, W) by a gate ``g`` whose shape broadcasts to it over the spatial
  axes only, (N, C, 1, 1) (MobileNetV3's squeeze-and-excitation), becomes a :class:`~dtd.merge.Gate`
  node ``[x, g]`` (all relevance to the signal).  When both are (N, C, 1, ..., 1), the gate is the one
  a Sigmoid / HardSigmoid of another tensor produced.
"""
import numpy as np

from ..layers import ChannelSlice, HardSigmoid, Sigmoid
from ..merge import Gate

__all__ = ["HANDLERS", "gate_mul"]


def _ints(imp, node, name, what):
    v = np.asarray(imp.const(node, name, what))
    if v.dtype.kind not in "iu":
        imp.fail(f"{what} must be integers, got dtype {v.dtype}", node)
    return [int(i) for i in v.reshape(-1)]


def _optional(node, i):
    return node.input[i] if len(node.input) > i and node.input[i] else None


def _add_slice(imp, node, x, start, stop, out):
    """A ChannelSlice node for ``out`` (an alias when it takes all channels)."""
    C = imp.shapes[x][1]
    if (start, stop) == (0, C):
        return imp.alias(node, x, out=out)
    if len(node.output) > 1:     # one dtd node per output of a Split: '<name>:<index>'
        from onnx import NodeProto
        named = NodeProto()
        named.CopyFrom(node)
        named.name = f"{node.name or node.output[0]}:{list(node.output).index(out)}"
        node = named
    try:
        layer = ChannelSlice(start, stop)
    except (TypeError, ValueError) as e:
        imp.fail(str(e), node)
    return imp.add(node, layer, [x], out=out)


def slice_(imp, node, a):
    """Slice of a data tensor: a contiguous range of channels (axis 1, step 1), other axes whole."""
    x = imp.data_input(node)
    shape = imp.shapes[x]
    if len(shape) < 2:
        imp.fail(f"needs data with a channel axis (N, C, ...), got shape {shape}", node)
    if imp.opset < 10:
        if "starts" not in a or "ends" not in a:
            imp.fail(f"Slice without starts/ends attributes (opset {imp.opset})", node)
        starts, ends = [int(v) for v in a["starts"]], [int(v) for v in a["ends"]]
        axes, steps = a.get("axes"), None
    else:
        starts = _ints(imp, node, node.input[1], "starts")
        ends = _ints(imp, node, node.input[2], "ends")
        axes = _ints(imp, node, node.input[3], "axes") if _optional(node, 3) else None
        steps = _ints(imp, node, node.input[4], "steps") if _optional(node, 4) else None
    axes = list(range(len(starts))) if axes is None else [int(v) for v in axes]
    steps = [1] * len(starts) if steps is None else steps
    if not len(starts) == len(ends) == len(axes) == len(steps):
        imp.fail(f"starts, ends, axes and steps differ in length ({len(starts)}, {len(ends)}, {len(axes)}, "
                 f"{len(steps)})", node)
    axes = [ax + len(shape) if ax < 0 else ax for ax in axes]
    if any(not 0 <= ax < len(shape) for ax in axes) or len(set(axes)) != len(axes):
        imp.fail(f"axes {axes} do not fit (or repeat) for data of shape {shape}", node)
    start, stop = 0, shape[1]
    for b, e, ax, step in zip(starts, ends, axes, steps):
        dim = shape[ax]
        if step == 0:
            imp.fail("Slice with step 0", node)
        lo = min(max(b + dim if b < 0 else b, 0), dim)
        hi = min(max(e + dim if e < 0 else e, 0), dim)
        if ax == 0 and step == 1 and b == 0 and e >= 2**31 - 1:
            continue                               # the batch axis to its end (whatever the batch size)
        if ax > 0 and step == 1 and (lo, hi) == (0, dim):
            continue                               # this axis is taken whole
        if ax != 1:
            where = "the batch axis" if ax == 0 else f"spatial axis {ax}"
            imp.fail(f"slices {where} (start {b}, end {e}, step {step}) of data of shape {shape}; dtd imports "
                     "only slices of the channels (axis 1, step 1) with the other axes whole", node)
        if step != 1:
            imp.fail(f"slices the channels with step {step}; dtd imports only step 1 (a contiguous range)", node)
        if hi <= lo:
            imp.fail(f"the channel range [{b}, {e}) of {dim} channels is empty", node)
        start, stop = lo, hi
    _add_slice(imp, node, x, start, stop, node.output[0])


def split(imp, node, a):
    """Split of a data tensor along axis 1: one ChannelSlice node per output."""
    x = imp.data_input(node)
    shape = imp.shapes[x]
    axis = int(a.get("axis", 0))
    axis = axis + len(shape) if axis < 0 else axis
    if axis != 1:
        imp.fail(f"Split along axis {a.get('axis', 0)} of data of shape {shape}; dtd imports only splits of "
                 "the channels (axis 1)", node)
    C, n = shape[1], len(node.output)
    if _optional(node, 1):                             # opset 13+ (and opset 1's optional input)
        sizes = _ints(imp, node, node.input[1], "split")
    elif "split" in a:                                 # before opset 13
        sizes = [int(v) for v in a["split"]]
    elif "num_outputs" in a:                           # opset 18+: equal pieces, the last one smaller
        if int(a["num_outputs"]) != n:
            imp.fail(f"num_outputs={a['num_outputs']} but the node has {n} outputs", node)
        chunk = -(-C // n)
        sizes = [min(chunk, C - i * chunk) for i in range(n)]
    else:
        if C % n:
            imp.fail(f"splits {C} channels into {n} equal outputs (not a divisor)", node)
        sizes = [C // n] * n
    if len(sizes) != n or min(sizes) < 0 or sum(sizes) != C:
        imp.fail(f"split sizes {sizes} do not cut {C} channels into the node's {n} outputs", node)
    bounds = np.concatenate([[0], np.cumsum(sizes)]).tolist()
    for i, out in enumerate(node.output):
        if not out:
            continue
        if sizes[i] == 0:
            if imp.readers.get(out, 0):
                imp.fail(f"output {out!r} is empty (0 channels) and is read by another node", node)
            continue
        _add_slice(imp, node, x, int(bounds[i]), int(bounds[i + 1]), out)


def _sigmoid_of_other(imp, gate, other):
    """Whether data tensor ``gate`` is a Sigmoid / HardSigmoid of a tensor other than ``other``."""
    src = imp.producer.get(gate)
    op = imp.nodes[src].op if src in imp.nodes else None
    return isinstance(op, (Sigmoid, HardSigmoid)) and imp.producer[imp.node_inputs[src][0]] != imp.producer[other]


def gate_mul(imp, node):
    """``Mul`` of two data tensors, one a gate broadcast over the other's spatial axes: add a
    :class:`~dtd.merge.Gate` node ``[signal, gate]`` and return True; else return False."""
    a, b = node.input[0], node.input[1]
    sa, sb = tuple(imp.shapes[a]), tuple(imp.shapes[b])
    if len(sa) != len(sb) or len(sa) < 3 or sa[:2] != sb[:2]:
        return False

    def fits(g, x):       # g broadcasts to x over the spatial axes
        return all(d in (1, e) for d, e in zip(g[2:], x[2:]))

    if sa != sb:
        if fits(sa, sb):
            signal, gate = b, a
        elif fits(sb, sa):
            signal, gate = a, b
        else:
            return False
    elif all(d == 1 for d in sa[2:]):              # (N, C, 1, 1) both: the gate is the sigmoid of another tensor
        ga, gb = _sigmoid_of_other(imp, a, b), _sigmoid_of_other(imp, b, a)
        if ga == gb:
            return False
        signal, gate = (b, a) if ga else (a, b)
    else:
        return False
    imp.add(node, Gate(), [signal, gate])
    return True


HANDLERS = {"Slice": slice_, "Split": split}
