"""ONNX import (extra ``onnx``): the ``onnx`` package parses, the numerics stay NumPy.

:func:`load_onnx` walks the ONNX graph once, in its (topological) node order:

1. **Constants.**  Initializers and ``Constant`` nodes are constants; every node
   whose inputs are all constants is evaluated at import time
   (:mod:`dtd.io._onnx_const`), and ``Shape`` of a data tensor is its static
   shape.  So the shape arithmetic of exporters (Shape -> Gather -> Unsqueeze ->
   Concat -> Reshape) and weights made by ``ConstantOfShape`` become plain arrays.
2. **Layers.**  Every other node becomes a dtd layer (:mod:`dtd.io._onnx_ops`),
   or a merge node (``Concat``, ``Add`` of two branches) of a :class:`~dtd.Graph`.
   Subgraphs that torch writes for one layer become that layer
   (:mod:`dtd.io._onnx_patterns`): ``nn.LocalResponseNorm`` (Mul, Pad, a 3-D
   AveragePool, Pow, Div, ...) an :class:`~dtd.layers.LRN`, ShuffleNet's channel
   shuffle (Reshape, Transpose, Reshape) a :class:`~dtd.layers.ChannelPermutation`.
3. **Folding** (:mod:`dtd.io._onnx_fold`).  A per-channel affine map (``BatchNormalization``, or ``Mul`` /
   ``Add`` / ``Sub`` / ``Div`` by a per-channel constant) right after a Conv,
   Gemm or MatMul whose output has no other reader is folded into that layer's
   weights and bias (exact up to rounding: computed in float64, stored in the
   layer's dtype); a ``MatMul`` followed by ``Add`` becomes one Dense.  An affine
   map that cannot be folded back is folded forward into the next Conv (without
   padding) or Dense when that is exact, else kept as a :class:`~dtd.layers.Affine`
   layer (e.g. a batch norm before a convolution with zero padding).
4. **Output.**  A ``Softmax`` / ``LogSoftmax`` at the output is stripped (dtd
   explains the scores before it) and reported in ``net.import_notes`` and
   ``net.stripped_output``.

The result is a :class:`~dtd.Sequential` when the layers form a chain, else a
:class:`~dtd.Graph` whose node names are the ONNX node names (or, for unnamed
nodes, their output names), so ``net.explain(x, {"conv1": rule, ...})`` can
address them.  Grouped convolutions become :class:`~dtd.layers.GroupedConv2d`,
pools with ``pads`` that differ at the two ends, ``ceil_mode`` or
``count_include_pad=0`` with padding become :class:`~dtd.layers.PaddedMaxPool2d` /
:class:`~dtd.layers.PaddedAvgPool2d` (exact; with ``ceil_mode=1, count_include_pad=1``
the divisor counts the pads but not ceil's extra end, as onnxruntime does).  A zero
``Pad`` is folded into the padding of the Conv or pool that reads it when exact
(into a Conv always, so no ZeroPad2d is left before a convolution), else kept as a
:class:`~dtd.layers.ZeroPad2d`; a Conv whose padding differs at the two ends of an
axis (TensorFlow ``SAME`` with stride 2) becomes a Conv2d with that padding
``(top, left, bottom, right)``; ``ReduceMean`` / ``ReduceSum`` over
the spatial axes become global average / sum pooling (:mod:`dtd.io._onnx_pad`).  Layout conventions: a ``Transpose`` (e.g. of an NHWC
input) is kept as a :class:`~dtd.layers.Transpose` layer, so the network takes
the same input layout as the ONNX model and explanations come back in it.
Shapes are static: the input's shape comes from the model (a symbolic batch
size counts as 1) or from ``input_shape``; the network itself accepts any batch
size.
"""
import logging
import os

import numpy as np

from ..graph import Graph, Node
from ..merge import Merge
from ..network import Sequential
from . import _onnx_const, _onnx_ops, _onnx_patterns
from ._onnx_external import ExternalData, is_external
from .errors import ModelFileError

__all__ = ["load_onnx", "supported_ops"]

log = logging.getLogger("dtd.io")


def supported_ops():
    """Names of the ONNX ops the import handles (as layers, or by evaluating them on constants)."""
    return sorted(set(_onnx_ops.HANDLERS) | set(_onnx_const.CONST_OPS))


def _import_onnx():
    try:
        import onnx
    except ImportError:
        raise ImportError("reading ONNX files needs the onnx package: pip install dtd[onnx]") from None
    return onnx


class _Importer:
    """State of one import; handlers in :mod:`dtd.io._onnx_ops` call its methods."""

    def __init__(self, onnx, model, path, input_shape, output, base_dir=None):
        self.onnx, self.model, self.path = onnx, model, path
        self.graph = model.graph
        self.opset = max([o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] or [1])
        _check_opset(onnx, self.opset, path)
        self.external = ExternalData(base_dir, path)
        self.consts = {}          # tensor name -> ndarray
        self.shapes = {}          # data tensor name -> static shape
        self.producer = {}        # data tensor name -> node name (or the input name)
        self.nodes = {}           # node name -> Node (insertion order = topological order)
        self.aliases = {}         # node name -> tensor names it stands for (their readers are its readers)
        self.node_inputs = {}     # node name -> the data tensors it reads
        self.notes = []
        self.stripped = None
        self._load_initializers()
        self._find_input(input_shape)
        self.outputs = self._find_output(output)
        self._count_readers()

    # -- errors and small helpers -------------------------------------------------------
    def fail(self, why, node=None):
        where = f"node {self.node_label(node)} ({node.op_type}): " if node is not None else ""
        raise ModelFileError(f"{self.path}: {where}{why}")

    @staticmethod
    def node_label(node):
        return repr(node.name or (node.output[0] if node.output else "?"))

    def array(self, tensor):
        if is_external(tensor):   # checked paths and sizes: dtd.io._onnx_external
            return self.external.array(tensor)
        try:
            return self.onnx.numpy_helper.to_array(tensor)
        except Exception as e:  # noqa: BLE001 - onnx raises many types on malformed tensors
            self.fail(f"tensor {tensor.name!r} is unreadable ({e})")

    def attrs(self, node):
        out = {}
        for a in node.attribute:
            v = self.onnx.helper.get_attribute_value(a)
            if isinstance(v, self.onnx.TensorProto):
                v = self.array(v)
            elif isinstance(v, bytes):
                v = v.decode("utf-8", "replace")
            out[a.name] = v
        return out

    # -- set-up -----------------------------------------------------------------------
    def _load_initializers(self):
        for t in self.graph.initializer:
            self.consts[t.name] = self.array(t)

    def _find_input(self, input_shape):
        data = [i for i in self.graph.input if i.name not in self.consts]
        if len(data) != 1:
            self.fail(f"the model has {len(data)} data inputs ({', '.join(i.name for i in data)}); "
                      "dtd imports models with exactly one")
        inp = data[0]
        self.input = inp.name
        tt = inp.type.tensor_type
        if inp.type.WhichOneof("value") != "tensor_type" or tt.elem_type not in (
                self.onnx.TensorProto.FLOAT, self.onnx.TensorProto.DOUBLE, self.onnx.TensorProto.FLOAT16):
            self.fail(f"input {inp.name!r} is not a floating-point tensor")
        dims = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
                for d in tt.shape.dim] if tt.HasField("shape") else None
        if input_shape is not None:
            shape = tuple(int(d) for d in input_shape)
            if dims is not None and (len(dims) != len(shape) or any(
                    d is not None and d != s for d, s in zip(dims[1:], shape[1:]))):
                self.fail(f"input_shape {shape} does not fit the model's input shape "
                          f"{tuple('?' if d is None else d for d in dims)}")
        else:
            if dims is None or not dims or None in dims[1:]:
                known = "unknown rank" if dims is None else ", ".join("?" if d is None else str(d) for d in dims)
                self.fail(f"input {inp.name!r} has no static shape ({known}); pass input_shape=(1, C, H, W)")
            shape = (dims[0] or 1,) + tuple(dims[1:])
        self.shapes[self.input] = shape
        self.float_dtype = np.float64 if tt.elem_type == self.onnx.TensorProto.DOUBLE else np.float32
        self.producer[self.input] = self.input

    def _find_output(self, output):
        names = [o.name for o in self.graph.output]
        if output is not None:
            if output not in names and not any(output in n.output for n in self.graph.node):
                self.fail(f"no tensor {output!r} in the model (outputs: {', '.join(names)})")
            return [output]
        if len(names) != 1:
            self.fail(f"the model has {len(names)} outputs ({', '.join(names)}); pass output=NAME")
        return names

    def _count_readers(self):
        """How many nodes read each tensor's values (``Shape`` and ``Size`` read only its shape)."""
        self.readers = {}
        for n in self.graph.node:
            if n.op_type in ("Shape", "Size"):
                continue
            for i in n.input:
                self.readers[i] = self.readers.get(i, 0) + 1
        for o in self.outputs:
            self.readers[o] = self.readers.get(o, 0) + 1

    # -- the walk -----------------------------------------------------------------------
    def run(self):
        patterns = _onnx_patterns.find(self)   # subgraphs that become one layer (torch's LRN, channel shuffle)
        for i, node in enumerate(self.graph.node):
            if i in patterns:
                patterns[i].visit(self, i, node)
            else:
                self.visit(node)
        return self.build()

    def visit(self, node):
        if node.domain not in ("", "ai.onnx"):
            self.unsupported(node, f"op {node.domain}.{node.op_type} is not a standard ONNX op")
        ins = list(node.input)
        if node.op_type in _onnx_const.CONST_OPS and all(i == "" or i in self.consts for i in ins):
            try:
                outs = _onnx_const.evaluate(node.op_type, [self.consts.get(i) if i else None for i in ins],
                                            self.attrs(node), self.opset)
            except ValueError as e:
                self.fail(str(e), node)
            self.consts.update(zip(node.output, outs))
            return
        if node.op_type in ("Shape", "Size") and ins[0] in self.shapes:   # the shape of a data tensor is static
            shape = self.shapes[ins[0]]
            a = self.attrs(node)
            self.consts[node.output[0]] = (np.int64(np.prod(shape, dtype=np.int64)) if node.op_type == "Size"
                                           else np.array(shape, dtype=np.int64)[a.get("start", 0):a.get("end")])
            return
        for i in ins:
            if i and i not in self.consts and i not in self.producer:
                self.fail(f"reads {i!r}, which no earlier node produces (nodes out of order?)", node)
        handler = _onnx_ops.HANDLERS.get(node.op_type)
        if handler is None:
            self.unsupported(node, f"op {node.op_type!r} is not supported")
        handler(self, node, self.attrs(node))

    def unsupported(self, node, why):
        self.fail(f"{why}; dtd imports: {', '.join(supported_ops())}", node)

    # -- what handlers use --------------------------------------------------------------
    def const(self, node, name, what):
        """The constant ``name`` (an input of ``node`` that must be known at import time)."""
        if name not in self.consts:
            self.fail(f"{what} ({name!r}) must be a constant (an initializer or computed from constants)", node)
        return self.consts[name]

    def data_input(self, node, index=0):
        name = node.input[index]
        if name in self.consts or name not in self.producer:
            self.fail(f"input {index} ({name!r}) must be a data tensor, not a constant", node)
        return name

    def unused_outputs(self, node, first=1):
        for o in node.output[first:]:
            if o and self.readers.get(o, 0):
                self.fail(f"output {o!r} is used; dtd supports only the first output of {node.op_type}", node)

    def readers_of(self, node_name):
        return sum(self.readers.get(t, 0) for t in self.aliases.get(node_name, ()))

    def add(self, node, op, inputs, out=None):
        """Add a dtd node for ONNX ``node`` reading data tensors ``inputs``; record its output shape."""
        out = node.output[0] if out is None else out
        name = node.name or out
        while name in self.nodes or name == self.input:
            name += "_"
        srcs = [self.producer[i] for i in inputs]
        in_shapes = [self.shapes[i] for i in inputs]
        try:
            if isinstance(op, Merge):
                shape = op.output_shape(in_shapes)
            else:
                ndim, channels = op.input_ndim, op._channels()
                if ndim is not None and len(in_shapes[0]) != ndim:
                    raise ValueError(f"{type(op).__name__} needs {ndim}-d input")
                if channels is not None and in_shapes[0][1] != channels:
                    raise ValueError(f"{type(op).__name__} takes {channels} channels/features")
                shape = op.output_shape(in_shapes[0])
        except (ValueError, TypeError) as e:
            self.fail(f"does not fit its input of shape {', '.join(map(str, in_shapes))}: {e}", node)
        self.nodes[name] = Node(name, op, srcs)
        self.node_inputs[name] = list(inputs)
        self.aliases[name] = {out}
        self.producer[out] = name
        self.shapes[out] = tuple(shape)
        return name

    def alias(self, node, data_in, out=None):
        """The output of ``node`` is its data input (a no-op node)."""
        out = node.output[0] if out is None else out
        src = self.producer[data_in]
        self.producer[out] = src
        self.shapes[out] = self.shapes[data_in]
        tensors = self.aliases.setdefault(src, set())
        if self.readers.get(data_in, 0) == 1:   # read only by this node, which it now stands for
            tensors.discard(data_in)
        tensors.add(out)

    def replace(self, name, op):
        self.nodes[name] = Node(name, op, self.nodes[name].inputs)

    def remove(self, name):
        del self.nodes[name], self.node_inputs[name], self.aliases[name]

    def note(self, text):
        self.notes.append(text)
        log.info("%s: %s", self.path, text)

    # -- the result -----------------------------------------------------------------------
    def build(self):
        out = self.outputs[0]
        if out in self.consts:
            self.fail(f"the output {out!r} is a constant: the model does not depend on its input")
        if out not in self.producer:
            self.fail(f"the output {out!r} is not computed by any node")
        top = self.producer[out]
        if top == self.input:
            self.fail("the output is the input: the model has no layers")
        needed, order = {top}, []
        for name in reversed(list(self.nodes)):
            if name in needed:
                needed.update(self.nodes[name].inputs)
                order.append(self.nodes[name])
        order.reverse()
        for n in order:
            if type(n.op).__name__ == "Affine":
                self.note(f"node {n.name!r}: a per-channel affine map (batch norm or Mul/Add by constants) is "
                          "kept as an Affine layer: it cannot be folded exactly into a neighbouring linear layer")
        chain = all(len(n.inputs) == 1 and n.inputs[0] == (order[i - 1].name if i else self.input)
                    and not isinstance(n.op, Merge) for i, n in enumerate(order))
        if chain:
            net = Sequential([n.op for n in order])
        else:
            net = Graph(order, input=self.input, output=top)
        net.import_notes = list(self.notes)
        net.stripped_output = self.stripped
        net.input_shape = self.shapes[self.input]
        return net


def _check_opset(onnx, opset, path):
    """Refuse a default-domain opset newer than the installed ``onnx`` knows (its op semantics are unknown)."""
    newest = onnx.defs.onnx_opset_version()
    if opset > newest:
        raise ModelFileError(f"{path}: the model uses ONNX opset {opset} (default domain), newer than the newest "
                             f"the installed onnx {onnx.__version__} knows (opset {newest}); reading it needs a "
                             f"later onnx release that knows opset {opset} (pip install -U onnx)")


def _read_model(onnx, path):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise ModelFileError(f"{path}: no such file") from None
    except OSError as e:
        raise ModelFileError(f"{path}: cannot read ({e})") from None
    try:
        model = onnx.load_model_from_string(data)
    except Exception as e:  # noqa: BLE001 - protobuf raises DecodeError and others on foreign bytes
        raise ModelFileError(f"{path}: not an ONNX model (protobuf parse failed: {type(e).__name__})") from None
    if model.ir_version < 1 or not model.HasField("graph") or len(model.graph.node) == 0:
        raise ModelFileError(f"{path}: not an ONNX model (no IR version or no graph nodes)")
    return model


def load_onnx(path, input_shape=None, output=None, base_dir=None):
    """Import an ONNX model as a dtd network (extra ``onnx``: ``pip install dtd[onnx]``).

    Parameters
    ----------
    path : str, path-like, or onnx.ModelProto
        The file, or a model already in memory.
    input_shape : tuple of int, optional
        Shape of one input batch, e.g. ``(1, 3, 224, 224)``, when the model's
        input has symbolic dimensions besides the batch axis.
    output : str, optional
        Name of the output tensor, for models with several outputs.
    base_dir : str or path-like, optional
        The folder that external data files (``location`` of tensors stored
        outside the model, as torch's dynamo exporter writes them to
        ``MODEL.onnx.data``) are relative to.  Default: the model file's
        folder; a model given in memory with external tensors needs it.  Only
        regular files inside this folder are read, each exactly as large as its
        tensor (:mod:`dtd.io._onnx_external`).

    Returns
    -------
    Sequential or Graph
        With attributes ``import_notes`` (list of str: what was stripped or
        kept unfolded), ``stripped_output`` (``"Softmax"``, ``"LogSoftmax"`` or
        None) and ``input_shape`` (the static shape used at import).

    Raises
    ------
    ModelFileError
        Not an ONNX file, an op dtd does not import (the message names the
        node, the op and the supported ops), or attributes it does not support
        (dilations, padding other than zeros, ...), an opset newer than
        the installed ``onnx`` knows, or external data that is missing,
        truncated, of the wrong size or outside the model's folder.
    ImportError
        The ``onnx`` package is missing.
    """
    onnx = _import_onnx()
    if isinstance(path, onnx.ModelProto):
        model, path = path, "<onnx.ModelProto>"
        if not model.HasField("graph") or len(model.graph.node) == 0:
            raise ModelFileError(f"{path}: the model has no graph nodes")
    else:
        path = os.fspath(path)
        model = _read_model(onnx, path)
        if base_dir is None:
            base_dir = os.path.dirname(os.path.abspath(path))
    return _Importer(onnx, model, path, input_shape, output, base_dir).run()
