r"""Subgraphs that exporters write for one layer, imported as that layer.

Two patterns, in the forms torch 2.x writes them (TorchScript exporter at any
opset, static or symbolic batch, and the dynamo exporter):

**torch's LocalResponseNorm** (ONNX has ``LRN``, but torch does not use it).
For an input ``x`` of shape (N, C, ...)::

    s = Mul(x, x)
    v = Reshape(s, (N, 1, C, ...))          # rank 4 and up; Unsqueeze(s, [1]) for rank 3
    p = Pad(v, p0 channels before, p1 after) # zeros, on the channel axis (axis 2 of v) only
    a = AveragePool(p, kernel (n, 1, ...), strides 1, no pads)
    q = Squeeze(a, [1])                      # TorchScript: If(Equal(Shape(a)[1], 1), Squeeze, Identity)
    r = Reshape(q, shape of x)               # rank 4 and up
    y = Div(x, Pow(Add(Mul(r, alpha), k), beta))

that is

.. math::

    y_c = x_c \Big/ \Big(k + \frac{\alpha}{n} \sum_{j = c - p_0}^{c + p_1} x_j^2\Big)^{\beta},
    \qquad n = p_0 + p_1 + 1,

a :class:`~dtd.layers.LRN` with ``window="onnx"`` if :math:`p_0 = \lfloor (n-1)/2 \rfloor`,
``window="pytorch"`` if :math:`p_0 = \lfloor n/2 \rfloor` (torch pads ``n // 2``
before and ``(n-1) // 2`` after: the two agree for odd ``n``, and dtd then uses
the default, ``"onnx"``).  Imported as that one layer, the LRN rules
(:class:`~dtd.rules.LRNTaylor`, :class:`~dtd.rules.LRNIdentity`) apply.

**A channel shuffle** (ShuffleNet): ``Reshape`` of (N, C, S...) to (N, F1, ..., Fm, S...)
with ``F1 ... Fm = C`` (m >= 2), a ``Transpose`` that permutes only the factor axes,
and a ``Reshape`` back to (N, C, S...): channel ``i`` of the output is channel
``perm[i]`` of the input with ``perm = arange(C).reshape(F).transpose(axes).ravel()``,
a :class:`~dtd.layers.ChannelPermutation` (``(N, g, C/g, H, W)`` with perm
``(0, 2, 1, 3, 4)`` is the shuffle with ``g`` groups).

How it works: :func:`find` scans the graph before the importer's walk for the
op chains above (structure only: op types and which tensor feeds which) and
returns a :class:`Match` for each, keyed by the graph indices of its nodes.  The
walk hands each of those nodes to its match instead of importing it alone; the
match checks every constant when it is known (alpha, k, beta, the pads and pad
value, the pool's kernel, strides and pads, the reshape targets, the squeeze
axes, the transpose perm), records the static shapes of the intermediate
tensors (so ``Shape`` nodes that read them still evaluate) and, at the last
node, adds the one layer.  Intermediate tensors must have no other readers than
the pattern's nodes (``Shape`` / ``Size`` excepted).  Anything that does not fit
abandons the match: its nodes so far, and the rest as they come, go through the
ordinary import, so a near-miss fails (or imports) exactly as it would without
this module; when it fails, the error is followed by what the pattern would need
(naming the node and op that did not fit).
"""
import numpy as np

from ..layers import LRN, ChannelPermutation
from ._onnx_const import reshape_target
from .errors import ModelFileError

__all__ = ["find", "Match"]

_STD = ("", "ai.onnx")


class _Mismatch(Exception):
    """A candidate does not fit: the message says where and what would be needed."""


def _outer_reads(node):
    """Names the subgraphs of ``node`` (If, Loop, Scan) read from the enclosing graph."""
    out = set()
    for a in node.attribute:
        graphs = [a.g] if a.type == a.GRAPH else list(a.graphs) if a.type == a.GRAPHS else []
        for g in graphs:
            defined = {i.name for i in g.input} | {t.name for t in g.initializer}
            for n in g.node:
                out.update(t for t in n.input if t and t not in defined)
                out.update(_outer_reads(n) - defined)
                defined.update(n.output)
            out.update(o.name for o in g.output if o.name not in defined)
    return out


class _Index:
    """Who reads what, over the whole graph (subgraphs' reads included; ``Shape``/``Size`` only read shapes)."""

    def __init__(self, graph, outputs=()):
        self.nodes = list(graph.node)
        self.readers = {}
        for i, n in enumerate(self.nodes):
            if n.op_type in ("Shape", "Size") and n.domain in _STD:
                continue
            for t in list(n.input) + sorted(_outer_reads(n)):
                r = self.readers.setdefault(t, [])
                if t and (not r or r[-1] != i):
                    r.append(i)
        self.outputs = {o.name for o in graph.output} | set(outputs)   # and the output the caller asked for

    def next(self, t, ops, pos=None):
        """Index of the first node with an op in ``ops`` that reads ``t`` (at input ``pos``, if given)."""
        for i in self.readers.get(t, ()):
            n = self.nodes[i]
            if n.op_type in ops and n.domain in _STD and len(n.output) >= 1 and (
                    pos is None or (len(n.input) > pos and n.input[pos] == t)):
                return i
        return None

    def other_reader(self, t, mine):
        """A description of a reader of ``t`` outside the node indices ``mine`` (None if there is none)."""
        if t in self.outputs:
            return "the model's output"
        for i in self.readers.get(t, ()):
            if i not in mine:
                n = self.nodes[i]
                return f"node {n.name or n.output[0]!r} ({n.op_type})"
        return None


def _label(node):
    return repr(node.name or (node.output[0] if node.output else "?"))


def _need(ok, node, text):
    if not ok:
        raise _Mismatch(f"node {_label(node)} ({node.op_type}) {text}")


class Match:
    """A candidate subgraph; the walk feeds it its nodes (:meth:`visit`) in graph order.

    Subclasses define one method per role (``_<role>(imp, node)``) that checks the
    node once its constant inputs are known, and raises :class:`_Mismatch` if it
    does not fit; the last role adds the layer.
    """

    #: what the subgraph is, and what dtd makes of it (for the messages)
    what = ""
    becomes = ""

    def __init__(self, index, roles, x, intermediates):
        self.nodes = index.nodes
        self.roles = dict(roles)                 # graph index -> role
        self.order = sorted(self.roles)
        self.x = x                               # the data tensor the layer reads
        self.pending = []
        self.abandoned = False
        self.why = None
        mine = set(self.roles)
        for t in intermediates:                  # known before the walk: abandon at the first node
            other = index.other_reader(t, mine)
            if other is not None:
                self.why = (f"its intermediate tensor {t!r} is also read by {other}; it can be one layer only "
                            "when its intermediate tensors have no other readers")
                break

    def visit(self, imp, index, node):
        if self.abandoned:
            return self._fallback(imp, [node])
        self.pending.append(node)
        if self.why is None:
            try:
                getattr(self, "_" + self.roles[index])(imp, node)
            except _Mismatch as e:
                self.why = str(e)
        if self.why is not None:
            self.abandoned = True
            pending, self.pending = self.pending, []
            return self._fallback(imp, pending)
        if index == self.order[-1]:
            self.pending = []

    def hint(self):
        first, last = self.nodes[self.order[0]], self.nodes[self.order[-1]]
        return (f"(nodes {_label(first)} to {_label(last)} look like {self.what}, which dtd imports as "
                f"{self.becomes}, but {self.why})")

    def _fallback(self, imp, nodes):
        for n in nodes:
            try:
                imp.visit(n)
            except ModelFileError as e:
                raise ModelFileError(f"{e} {self.hint()}") from None

    # -- helpers for the roles --------------------------------------------------------------
    def _set(self, imp, tensor, shape):
        """Record the static shape of an intermediate tensor (``Shape`` nodes may read it)."""
        self.cur, self.cur_shape = tensor, tuple(int(d) for d in shape)
        imp.shapes[tensor] = self.cur_shape

    @staticmethod
    def _const(imp, node, i, what):
        name = node.input[i] if len(node.input) > i else ""
        _need(name in imp.consts, node, f"needs {what} (input {i}, {name!r}) to be a constant")
        return np.asarray(imp.consts[name])

    @staticmethod
    def _ints(a, node, what):
        a = np.asarray(a)
        _need(a.dtype.kind in "iu", node, f"has {what} of dtype {a.dtype}, not integers")
        return [int(v) for v in a.reshape(-1)]

    def _reshaped(self, imp, node):
        """The static shape ``Reshape`` ``node`` gives the current tensor."""
        _need(node.input[0] == self.cur, node, "does not read the tensor before it")
        if imp.opset >= 5:
            target = self._ints(self._const(imp, node, 1, "the target shape"), node, "a target shape")
        else:
            target = list(imp.attrs(node).get("shape", []))
        try:
            return reshape_target(self.cur_shape, target, imp.attrs(node).get("allowzero", 0))
        except ValueError as e:
            raise _Mismatch(f"node {_label(node)} (Reshape): {e}") from None

    def _axes(self, imp, node, consts=None):
        if len(node.input) > 1 and node.input[1]:
            name = node.input[1]
            if consts is not None and name in consts:
                return self._ints(consts[name], node, "axes")
            return self._ints(self._const(imp, node, 1, "the axes"), node, "axes")
        axes = imp.attrs(node).get("axes")
        _need(axes is not None, node, "has no axes")
        return [int(v) for v in axes]

    def _scalar(self, imp, node, what):
        """The constant operand of a binary op whose other operand is the current tensor, as a float."""
        _need(self.cur in node.input[:2], node, "does not read the tensor before it")
        other = 1 if node.input[0] == self.cur else 0
        _need(node.input[other] != self.cur, node, f"squares the tensor instead of using a constant {what}")
        c = self._const(imp, node, other, what)
        _need(c.size == 1 and c.ndim <= len(self.cur_shape) and c.dtype.kind == "f", node,
              f"uses {what} of shape {c.shape} and dtype {c.dtype}; one floating-point scalar is needed")
        self._set(imp, node.output[0], self.cur_shape)
        return float(c.reshape(()))

    def _finish(self, imp, node, layer):
        reads = sum(list(self.nodes[i].input).count(self.x) for i in self.order)
        imp.readers[self.x] = imp.readers.get(self.x, 0) - (reads - 1)   # the layer reads x once
        imp.add(node, layer, [self.x])
        first = self.nodes[self.order[0]]
        imp.note(f"nodes {_label(first)} to {_label(node)} ({self.what}) imported as one layer: {layer!r}")


# -- torch's LocalResponseNorm ------------------------------------------------------------------
class _LRN(Match):
    what = "torch's LocalResponseNorm subgraph"
    becomes = "one LRN layer"

    def _square(self, imp, node):
        x = node.input[0]
        _need(x in imp.producer and x not in imp.consts, node, f"squares {x!r}, which is not a data tensor")
        shape = imp.shapes[x]
        _need(len(shape) >= 3, node, f"squares a tensor of shape {shape}; torch's LRN takes (N, C, ...) "
              "with at least one axis after C")
        self.shape = tuple(shape)
        self._set(imp, node.output[0], shape)

    def _view(self, imp, node):
        N, C = self.shape[:2]
        if node.op_type == "Unsqueeze":
            _need(node.input[0] == self.cur, node, "does not read the squares")
            rank = len(self.cur_shape) + 1
            axes = [a + rank if a < 0 else a for a in self._axes(imp, node)]
            _need(axes == [1], node, f"inserts axes {axes}; torch's LRN inserts axis 1")
            new = (N, 1) + self.cur_shape[1:]
        else:
            new = self._reshaped(imp, node)
            _need(len(new) >= 4 and tuple(new[:3]) == (N, 1, C), node,
                  f"reshapes the squares to {new}; torch's LRN views them as (N, 1, C, ...) = ({N}, 1, {C}, ...)")
        self._set(imp, node.output[0], new)

    def _pad(self, imp, node):
        a = imp.attrs(node)
        _need(node.input[0] == self.cur, node, "does not read the squares")
        mode = a.get("mode", "constant")
        _need(mode == "constant", node, f"pads in mode {mode!r}; torch's LRN pads with zeros (mode 'constant')")
        r = len(self.cur_shape)
        if imp.opset >= 11:
            pads = self._ints(self._const(imp, node, 1, "the pads"), node, "pads")
            value = self._const(imp, node, 2, "the pad value") if len(node.input) > 2 and node.input[2] else 0.0
            if len(node.input) > 3 and node.input[3]:
                axes = [v + r if v < 0 else v for v in
                        self._ints(self._const(imp, node, 3, "the axes"), node, "axes")]
                _need(len(pads) == 2 * len(axes), node, f"has {len(pads)} pads for {len(axes)} axes")
                full = [0] * (2 * r)
                for i, ax in enumerate(axes):
                    _need(0 <= ax < r, node, f"pads axis {ax} of a rank-{r} tensor")
                    full[ax], full[ax + r] = pads[i], pads[i + len(axes)]
                pads = full
        else:
            pads, value = [int(v) for v in a.get("pads", [])], a.get("value", 0.0)
        _need(np.size(value) == 1 and float(np.asarray(value).reshape(())) == 0.0, node,
              f"pads with the value {value}; torch's LRN pads with zeros")
        _need(len(pads) == 2 * r, node, f"has {len(pads)} pads for a rank-{r} tensor")
        p0, p1 = pads[2], pads[2 + r]
        others = [p for i, p in enumerate(pads) if i not in (2, 2 + r)]
        _need(not any(others) and p0 >= 0 and p1 >= 0, node,
              f"pads {pads}; torch's LRN pads only the channel axis (axis 2 of the (N, 1, C, ...) view), "
              "by non-negative amounts")
        self.p0, self.p1 = p0, p1
        shape = list(self.cur_shape)
        shape[2] += p0 + p1
        self._set(imp, node.output[0], shape)

    def _pool(self, imp, node):
        a = imp.attrs(node)
        _need(node.input[0] == self.cur, node, "does not read the padded squares")
        r = len(self.cur_shape)
        kernel = [int(k) for k in a.get("kernel_shape", [])]
        _need(len(kernel) == r - 2 and kernel[0] >= 1 and all(k == 1 for k in kernel[1:]), node,
              f"has kernel_shape {kernel}; torch's LRN averages n channels: kernel (n{', 1' * (r - 3)})")
        n = kernel[0]
        for key, want in (("strides", 1), ("dilations", 1), ("pads", 0)):
            v = [int(s) for s in a.get(key, [])]
            _need(all(s == want for s in v), node, f"has {key} {v}; torch's LRN pools with all {key} {want}")
        _need(a.get("auto_pad", "NOTSET") in ("NOTSET", "VALID"), node,
              f"has auto_pad {a.get('auto_pad')!r}; torch's LRN pads with an explicit Pad node")
        p0, p1 = self.p0, self.p1
        _need(n == p0 + p1 + 1, node, f"averages {n} channels after padding {p0} before and {p1} after, which "
              f"changes the number of channels; an LRN window of n channels needs n - 1 = {n - 1} channels "
              "of padding in all")
        if p0 == (n - 1) // 2:
            self.window = "onnx"
        elif p0 == n // 2:
            self.window = "pytorch"
        else:
            raise _Mismatch(f"node {_label(node)} (AveragePool): a window of {n} channels with {p0} before and "
                            f"{p1} after channel c; dtd's LRN has {(n - 1) // 2} before (ONNX) or {n // 2} "
                            "before (PyTorch)")
        self.size = n
        shape = list(self.cur_shape)
        shape[2] -= n - 1
        self._set(imp, node.output[0], shape)

    def _squeeze_axes(self, node, axes):
        rank = len(self.cur_shape)
        axes = [v + rank if v < 0 else v for v in axes]
        _need(axes == [1], node, f"squeezes axes {axes}; torch's LRN squeezes axis 1")
        return self.cur_shape[:1] + self.cur_shape[2:]

    def _squeeze(self, imp, node):
        _need(node.input[0] == self.cur, node, "does not read the window averages")
        self._set(imp, node.output[0], self._squeeze_axes(node, self._axes(imp, node)))

    def _equal(self, imp, node):
        _need(all(i in imp.consts for i in node.input[:2]) and len(node.input) == 2, node,
              "compares tensors that are not constants (torch's LRN compares a static dimension with 1)")
        imp.consts[node.output[0]] = np.equal(imp.consts[node.input[0]], imp.consts[node.input[1]])

    def _if(self, imp, node):
        cond = imp.consts.get(node.input[0])
        _need(cond is not None and np.size(cond) == 1, node,
              "has a condition that is not a constant (torch's LRN tests a static dimension)")
        _need(len(node.output) == 1, node, f"has {len(node.output)} outputs")
        key = "then_branch" if bool(np.asarray(cond).reshape(())) else "else_branch"
        branch = [a.g for a in node.attribute if a.name == key]
        _need(len(branch) == 1, node, f"has no {key}")
        g = branch[0]
        consts = {}
        work = []
        for n in g.node:
            if n.op_type == "Constant" and n.domain in _STD:
                v = imp.attrs(n)
                _need("value" in v, n, "is a Constant without a tensor value")
                consts[n.output[0]] = np.asarray(v["value"])
            else:
                work.append(n)
        _need(len(work) == 1 and len(g.output) == 1 and work[0].output[0] == g.output[0].name, node,
              f"runs {len(work)} nodes in its {key}; torch's LRN runs one Squeeze (or Identity) there")
        n = work[0]
        _need(n.domain in _STD and n.op_type in ("Squeeze", "Identity") and n.input[0] == self.cur, node,
              f"runs {n.op_type} on {n.input[0] if n.input else None!r} in its {key}; torch's LRN squeezes "
              "axis 1 of the window averages there")
        shape = self.cur_shape if n.op_type == "Identity" else self._squeeze_axes(n, self._axes(imp, n, consts))
        self._set(imp, node.output[0], shape)

    def _unview(self, imp, node):
        new = self._reshaped(imp, node)
        _need(tuple(new) == self.shape, node, f"reshapes the window sums to {new}, not to the input's shape "
              f"{self.shape}")
        self._set(imp, node.output[0], new)

    def _alpha(self, imp, node):
        _need(self.cur_shape == self.shape, node, f"scales window sums of shape {self.cur_shape}; torch's LRN "
              f"reshapes them to the input's shape {self.shape} first")
        self.alpha = self._scalar(imp, node, "alpha")

    def _k(self, imp, node):
        self.k = self._scalar(imp, node, "k")

    def _beta(self, imp, node):
        _need(node.input[0] == self.cur, node, "does not raise the tensor before it to a power")
        self.beta = self._scalar(imp, node, "beta")

    def _div(self, imp, node):
        _need(node.input[0] == self.x and node.input[1] == self.cur, node,
              f"divides {node.input[0]!r} by {node.input[1]!r}; torch's LRN divides its input {self.x!r} by "
              "the power")
        try:
            layer = LRN(self.size, self.alpha, self.beta, self.k, window=self.window)
        except ValueError as e:
            raise _Mismatch(f"node {_label(node)} (Div): {e}") from None
        self._finish(imp, node, layer)


def _lrn_candidate(index, i):
    nodes = index.nodes
    x = nodes[i].input[0]
    roles, inter = {i: "square"}, []

    def step(j, role):
        if j is None:
            return None
        roles[j] = role
        inter.append(nodes[j].output[0])
        return nodes[j].output[0]

    inter.append(nodes[i].output[0])
    t = nodes[i].output[0]
    j = index.next(t, ("Reshape", "Unsqueeze"), 0)
    t = step(j, "view")
    t = t and step(index.next(t, ("Pad",), 0), "pad")
    t = t and step(index.next(t, ("AveragePool",), 0), "pool")
    if not t:
        return None
    j = index.next(t, ("Squeeze",), 0)
    if j is None:
        j = index.next(t, ("If",))
        if j is not None and nodes[j].input:
            c = nodes[j].input[0]
            e = next((k for k, n in enumerate(nodes) if c in n.output), None)
            if e is not None and nodes[e].op_type == "Equal" and nodes[e].domain in _STD:
                roles[e] = "equal"
                inter.append(c)
        t = step(j, "if")
    else:
        t = step(j, "squeeze")
    if not t:
        return None
    j = index.next(t, ("Reshape",), 0)
    if j is not None:
        t = step(j, "unview")
    t = step(index.next(t, ("Mul",)), "alpha")
    t = t and step(index.next(t, ("Add",)), "k")
    t = t and step(index.next(t, ("Pow",), 0), "beta")
    j = index.next(t, ("Div",), 1) if t else None
    if j is None or nodes[j].input[0] != x:
        return None
    roles[j] = "div"
    return _LRN(index, roles, x, inter)


# -- channel shuffle ---------------------------------------------------------------------------
class _Shuffle(Match):
    what = "a channel shuffle (Reshape, Transpose, Reshape back)"
    becomes = "one ChannelPermutation layer"

    def _split(self, imp, node):
        x = node.input[0]
        _need(x in imp.producer and x not in imp.consts, node, f"reshapes {x!r}, which is not a data tensor")
        self.shape = shape = tuple(imp.shapes[x])
        _need(len(shape) >= 2, node, f"reshapes a tensor of shape {shape}, which has no channel axis")
        self.cur, self.cur_shape = x, shape
        new = self._reshaped(imp, node)
        s = len(shape) - 2
        F = tuple(new[1:len(new) - s])
        _need(new[0] == shape[0] and tuple(new[len(new) - s:]) == shape[2:] and len(F) >= 2
              and int(np.prod(F)) == shape[1], node,
              f"reshapes {shape} to {new}; a channel shuffle splits only the channel axis into factors "
              f"({shape[0]}, F1, F2, ..., {', '.join(map(str, shape[2:]))}) with F1 F2 ... = {shape[1]}")
        self.F = F
        self._set(imp, node.output[0], new)

    def _transpose(self, imp, node):
        _need(node.input[0] == self.cur, node, "does not read the reshaped tensor")
        r, m = len(self.cur_shape), len(self.F)
        perm = [int(p) for p in imp.attrs(node).get("perm", range(r)[::-1])]
        _need(len(perm) == r and perm[0] == 0 and perm[m + 1:] == list(range(m + 1, r))
              and sorted(perm[1:m + 1]) == list(range(1, m + 1)), node,
              f"has perm {perm}; a channel shuffle permutes only the channel factors (axes 1 to {m})")
        self.axes = [p - 1 for p in perm[1:m + 1]]
        self._set(imp, node.output[0], [self.cur_shape[p] for p in perm])

    def _merge(self, imp, node):
        new = self._reshaped(imp, node)
        _need(tuple(new) == self.shape, node, f"reshapes to {new}, not back to the input's shape {self.shape}")
        perm = np.arange(self.shape[1]).reshape(self.F).transpose(self.axes).reshape(-1)
        self._finish(imp, node, ChannelPermutation(perm))


def _shuffle_candidate(index, i):
    nodes = index.nodes
    t0 = nodes[i].output[0]
    j = index.next(t0, ("Transpose",), 0)
    if j is None:
        return None
    t1 = nodes[j].output[0]
    k = index.next(t1, ("Reshape",), 0)
    if k is None:
        return None
    return _Shuffle(index, {i: "split", j: "transpose", k: "merge"}, nodes[i].input[0], [t0, t1])


def find(imp):
    """The candidate subgraphs of ``imp.graph``: ``{graph index of a node: its Match}``.

    Structure only (op types and connections); the constants are checked during
    the walk.  A node belongs to at most one candidate (the first in graph order).
    """
    index = _Index(imp.graph, imp.outputs)
    matches = {}
    for i, node in enumerate(index.nodes):
        if i in matches or node.domain not in _STD or len(node.input) < 1 or not node.output:
            continue
        m = None
        if node.op_type == "Mul" and len(node.input) == 2 and node.input[0] and node.input[0] == node.input[1]:
            m = _lrn_candidate(index, i)
        elif node.op_type == "Reshape":
            m = _shuffle_candidate(index, i)
        if m is not None and not any(j in matches for j in m.roles):
            matches.update(dict.fromkeys(m.roles, m))
    return matches
