"""Networks with branches: a directed acyclic graph of named nodes.

A node is a layer (one input) or a merge (:class:`~dtd.merge.Concat`,
:class:`~dtd.merge.Add`; several inputs).  ``dtd.Graph`` has the API of
:class:`dtd.Sequential`: ``forward``, ``gradient``, ``explain`` and ``.layers``.

Backward passes (gradient and relevance) visit the nodes in reverse
topological order; what reaches a node from several consumers is summed.
"""
import numpy as np

from ._validation import all_finite, check_input, reports_float_errors
from .layers.base import Layer, LinearLayer
from .merge import Add, Concat, Merge
from .network import Sequential, check_explained, record, resolve_target, rule_for, start_relevance
from .rules.base import Rule

__all__ = ["Graph", "GraphRelevances", "Node", "Concat", "Add"]


class Node:
    """One node of a :class:`Graph`: ``name``, ``op`` (a Layer or a Merge) and the names of its ``inputs``."""

    __slots__ = ("name", "op", "inputs")

    def __init__(self, name, op, inputs):
        if isinstance(inputs, str):
            inputs = [inputs]
        self.name, self.op, self.inputs = name, op, list(inputs)

    def __repr__(self):
        return f"Node({self.name!r}, {self.op!r}, {self.inputs!r})"


def _as_node(i, entry):
    if isinstance(entry, Node):
        return entry
    try:
        name, op, inputs = entry
    except (TypeError, ValueError):
        raise TypeError(f"Graph: node {i} must be a Node or a (name, op, inputs) tuple, got {entry!r}") from None
    return Node(name, op, inputs)


class Graph:
    """A network of named nodes without cycles, one input and one output.

    Parameters
    ----------
    nodes : list of Node or of (name, op, inputs) tuples
        ``op`` is a dtd layer (exactly one input) or a merge (``Concat``,
        ``Add``; at least two inputs).  ``inputs`` names other nodes or the
        graph input.  Any order; they are sorted topologically (stable).
    input : str
        Name of the graph input.
    output : str, optional
        The node whose output is the network's output (default: the last node
        given).  Every node must lead to it.

    Attributes
    ----------
    nodes : list of Node
        In topological order.
    layers : list of Layer
        The layer nodes' ops in topological order (what composites see).
    layer_names : list of str
        Their node names.

    >>> from dtd.layers import Dense, ReLU
    >>> g = Graph([("a", Dense([[1.0, 0.0]]), "x"), ("b", Dense([[0.0, 2.0]]), "x"),
    ...            ("sum", Add(), ["a", "b"]), ("relu", ReLU(), "sum")], input="x")
    >>> x = np.array([[1.0, 1.0]])
    >>> g.forward(x).tolist()
    [[3.0]]
    >>> g.explain(x, None).tolist()
    [[1.0, 2.0]]
    """

    def __init__(self, nodes, input="input", output=None):
        nodes = [_as_node(i, e) for i, e in enumerate(nodes)]
        if not nodes:
            raise ValueError("Graph: needs at least one node")
        names = [n.name for n in nodes]
        for n in nodes:
            if not isinstance(n.name, str) or not n.name:
                raise TypeError(f"Graph: node names must be non-empty strings, got {n.name!r}")
            if not isinstance(n.op, (Layer, Merge)):
                raise TypeError(f"Graph: node {n.name!r} holds a {type(n.op).__name__}, not a dtd layer or merge")
            if isinstance(n.op, Layer) and len(n.inputs) != 1:
                raise ValueError(f"Graph: layer node {n.name!r} needs exactly one input, got {n.inputs}")
            if isinstance(n.op, Merge) and len(n.inputs) < 2:
                raise ValueError(f"Graph: merge node {n.name!r} needs at least two inputs, got {n.inputs}")
        dup = sorted({x for x in names if names.count(x) > 1} | ({input} & set(names)))
        if dup:
            raise ValueError(f"Graph: duplicate names {dup} (node names and the input name must be unique)")
        known = set(names) | {input}
        for n in nodes:
            missing = [i for i in n.inputs if i not in known]
            if missing:
                raise ValueError(f"Graph: node {n.name!r} reads unknown inputs {missing}")
        self.input = input
        self.output = names[-1] if output is None else output
        if self.output not in names:
            raise ValueError(f"Graph: output {self.output!r} is not a node")
        self.nodes = self._toposort(nodes)
        self._check_reaches_output()
        self.layer_names = [n.name for n in self.nodes if isinstance(n.op, Layer)]
        self.layers = [n.op for n in self.nodes if isinstance(n.op, Layer)]

    @staticmethod
    def _toposort(nodes):
        """Topological order that keeps the given order where it already is one."""
        names = {n.name for n in nodes}
        done, order, pending = set(), [], list(nodes)
        while pending:
            rest = []
            for n in pending:
                if all(i in done or i not in names for i in n.inputs):
                    done.add(n.name)
                    order.append(n)
                else:
                    rest.append(n)
            if len(rest) == len(pending):
                raise ValueError(f"Graph: the nodes {[n.name for n in rest]} form a cycle")
            pending = rest
        return order

    def _check_reaches_output(self):
        needed = {self.output}
        for n in reversed(self.nodes):
            if n.name in needed:
                needed.update(n.inputs)
        dead = [n.name for n in self.nodes if n.name not in needed]
        if dead:
            raise ValueError(f"Graph: nodes {dead} do not lead to the output {self.output!r}")
        if self.input not in needed:
            raise ValueError(f"Graph: the output {self.output!r} does not depend on the input {self.input!r}")

    def consumers(self):
        """``{name: [names of the nodes that read it]}`` for the input and every node."""
        out = {self.input: [], **{n.name: [] for n in self.nodes}}
        for n in self.nodes:
            for i in n.inputs:
                out[i].append(n.name)
        return out

    def __repr__(self):
        inner = ",\n".join(f"  {n.name}: {n.op!r} <- {', '.join(n.inputs)}" for n in self.nodes)
        return f"Graph(input={self.input!r}, output={self.output!r},\n{inner}\n)"

    def __len__(self):
        return len(self.nodes)

    def freeze(self):
        """Make every node's parameter arrays read-only and cache what the rules derive from them across
        explanations: see :meth:`dtd.Sequential.freeze`.  Returns the graph."""
        from .frozen import freeze_ops
        freeze_ops([n.op for n in self.nodes])
        return self

    def unfreeze(self):
        """Undo :meth:`freeze` (see :meth:`dtd.Sequential.unfreeze`).  Returns the graph."""
        from .frozen import unfreeze_ops
        unfreeze_ops([n.op for n in self.nodes])
        return self

    @property
    def frozen(self):
        """Whether every parameter array of every node is frozen (:meth:`freeze`)."""
        from .frozen import ops_frozen
        return ops_frozen([n.op for n in self.nodes])

    def output_shape(self, shape):
        """Shape of the output for an input of shape ``shape`` (see :meth:`shapes`)."""
        return self.shapes(shape)[self.output]

    def shapes(self, shape):
        """``{name: shape}`` of the input and of every node's output for an input of shape ``shape``."""
        shapes = {self.input: tuple(shape)}
        for n in self.nodes:
            ins = [shapes[i] for i in n.inputs]
            shapes[n.name] = n.op.output_shape(ins[0]) if isinstance(n.op, Layer) else n.op.output_shape(ins)
        return shapes

    # -- forward ------------------------------------------------------------
    def forward(self, x, return_all=False):
        """Output for the batch ``x``.

        With ``return_all``, a dict ``{name: array}`` holding the input (under
        the input's name) and every node's output, in topological order.
        """
        acts = {self.input: check_input(x, "Graph")}
        if return_all:
            for n in self.nodes:
                if isinstance(n.op, Layer):
                    acts[n.name] = n.op.forward(acts[n.inputs[0]])
                else:
                    acts[n.name] = n.op.forward([acts[i] for i in n.inputs])
            return acts
        return self._forward_fast(acts)

    def _forward_fast(self, acts):
        """The output only, as :meth:`dtd.Sequential.forward` computes it: the input is checked for NaN/Inf
        once and the output at the end; a linear layer whose one consumer is an elementwise layer (a ReLU)
        runs it on each piece of its output while in cache (:meth:`~dtd.layers.base.LinearLayer._forward_then`);
        an elementwise layer overwrites an input that this pass made and nothing else reads; and an
        activation is dropped once its last reader has run."""
        consumers = self.consumers()
        remaining = {name: len(c) for name, c in consumers.items()}
        ops = {n.name: n.op for n in self.nodes}
        owned, fused = set(), {}

        def done_reading(name):
            remaining[name] -= 1
            if remaining[name] == 0 and name != self.output:
                acts.pop(name, None)

        for n in self.nodes:
            if n.name in fused:                            # computed with its linear layer
                acts[n.name] = fused.pop(n.name)
                owned.add(n.name)
                continue
            op = n.op
            if isinstance(op, Layer):
                src = n.inputs[0]
                a = op._check(acts[src], finite=False)
                only = consumers[n.name][0] if len(consumers[n.name]) == 1 else None
                after = ops.get(only)
                if (isinstance(op, LinearLayer) and n.name != self.output and isinstance(after, Layer)
                        and getattr(after, "elementwise", False)):
                    y = op._forward_then(a, after._forward_inplace)
                    after._check(y, finite=False)
                    fused[only] = y                        # the linear layer's own output is never stored
                    remaining[n.name] = 0
                    done_reading(src)
                    continue
                if src in owned and remaining[src] == 1 and src != self.output:
                    y = op._forward_inplace(a)             # the last reader of an array this pass made
                else:
                    y = op._forward(a)
                ins = [a]
            else:
                ins = [acts[i] for i in n.inputs]
                y = op.forward(ins)
            if not any(np.may_share_memory(y, i) for i in ins):
                owned.add(n.name)
            acts[n.name] = y
            for i in n.inputs:
                done_reading(i)
        out = acts[self.output]
        if not all_finite(out):
            raise ValueError("Graph: the output contains NaN or Inf (an overflow inside the network; "
                             "forward(x, return_all=True) checks every node's input and names the first bad one)")
        return out

    __call__ = forward

    # -- backward passes ------------------------------------------------------
    def _backward(self, acts, top, step):
        """Walk back from ``top`` at the output; ``step(node, inputs, value) -> list per input``; sums at forks."""
        acc = {self.output: top}
        for n in reversed(self.nodes):
            value = acc.pop(n.name)
            ins = [acts[i] for i in n.inputs]
            for name, v in zip(n.inputs, step(n, ins, value)):
                acc[name] = v if name not in acc else acc[name] + v
        return acc

    def gradient(self, x, target=None, ties="split"):
        """Gradient of the target output ``f_c(x)`` w.r.t. ``x`` (shape of x), and the targets; ``ties`` as in
        :meth:`dtd.Sequential.gradient` (``"first"``: a tied max-pooling window's gradient to its first maximum)."""
        from .network import backward_with_ties, check_ties
        check_ties(ties)
        acts = self.forward(x, return_all=True)
        out = acts[self.output]
        flat = out.reshape(out.shape[0], -1)
        t = resolve_target(flat, target)
        g = np.zeros_like(flat)
        g[np.arange(len(t)), t] = 1

        def step(n, ins, gy):
            return [backward_with_ties(n.op, ins[0], gy, ties)] if isinstance(n.op, Layer) else n.op.backward(ins, gy)
        return self._backward(acts, g.reshape(out.shape), step)[self.input], t

    def rule_dict(self, rules):
        """``{node name: rule or None}`` for every layer and merge node, from any accepted form of ``rules``.

        ``rules`` is a Rule, a list (one entry per layer in ``.layers`` order), a
        dict ``{node name: rule}`` (layer or merge nodes; missing names: the
        node's default), or a composite: a :class:`~dtd.composites.Composite`
        plans every node from the graph's structure (:meth:`~dtd.composites.Composite.plan`);
        the other forms are resolved by :meth:`dtd.Sequential.rule_list` over
        ``.layers`` and leave the merges their default.
        """
        merges = [n.name for n in self.nodes if isinstance(n.op, Merge)]
        if isinstance(rules, dict):
            unknown = sorted(set(rules) - set(self.layer_names) - set(merges))
            if unknown:
                raise ValueError(f"rules: {unknown} are not layer or merge nodes of this graph")
            for k, r in rules.items():
                if r is not None and not isinstance(r, Rule):
                    raise TypeError(f"rules[{k!r}] is a {type(r).__name__}, not a Rule")
            return {name: rules.get(name) for name in self.layer_names + merges}
        if hasattr(rules, "plan"):
            return self.rule_dict(rules.plan(self)[0])
        out = dict(zip(self.layer_names, Sequential(self.layers).rule_list(rules)))
        return {**out, **{name: None for name in merges}}

    @reports_float_errors("explain")
    def explain(self, x, rules, target=None, return_all=False):
        """Relevance of the input for the target output.

        The relevance starts as ``f_c(x)`` at the target neuron c (argmax when
        ``target`` is None) and zero elsewhere, and is passed back node by node:
        layers use their rule, a :class:`Concat` splits by slicing, an
        :class:`Add` splits in proportion to the branches' contributions; the
        relevance that reaches a node from several consumers is summed.

        Parameters
        ----------
        x : ndarray, shape (N, ...)
        rules : Rule, list, dict, or composite
            See :meth:`rule_dict`.
        target : None, int or int array (N,)
        return_all : bool
            Return ``{name: relevance}`` at the input and at every node's output
            instead of the input relevance.

        Returns
        -------
        ndarray shaped like x, or dict
        """
        planned = self.rule_dict(rules)
        ops = {n.name: n.op for n in self.nodes}
        per_layer = {}
        for name, rule in planned.items():
            if isinstance(ops[name], Merge):
                ops[name].check_rule(rule)
                per_layer[name] = rule
            else:
                per_layer[name] = rule_for(ops[name], rule)
        acts, prepared = {self.input: check_input(x, "Graph")}, {}
        for n in self.nodes:                   # the forward pass, with the linear rules' denominators (see Sequential)
            if isinstance(n.op, Layer):
                acts[n.name], prepared[n.name] = record(n.op, per_layer[n.name], acts[n.inputs[0]])
            else:
                acts[n.name] = n.op.forward([acts[i] for i in n.inputs])
        R, _ = start_relevance(acts[self.output], target)
        R_start = R
        seen, sent = {}, {}

        def step(n, ins, Ry):
            seen[n.name] = Ry
            if isinstance(n.op, Layer):
                msgs = [n.op._relevance(ins[0], Ry, per_layer[n.name], out=acts[n.name],
                                        prepared=prepared.get(n.name))]
            else:
                msgs = n.op.relevance(ins, Ry, per_layer[n.name])
            if return_all:
                sent[n.name] = sum(m.reshape(m.shape[0], -1).sum(axis=1, dtype=np.float64) for m in msgs)
            return msgs
        R_in = self._backward(acts, R, step)[self.input]
        check_explained(R_in, "node", start=R_start)
        if not return_all:
            return R_in
        out = GraphRelevances({self.input: R_in, **{n.name: seen[n.name] for n in self.nodes}})
        out.rules = per_layer
        out.notes = rules.plan(self)[1] if hasattr(rules, "plan") else {}
        out.sent = sent
        return out


class GraphRelevances(dict):
    """What ``Graph.explain(..., return_all=True)`` returns: ``{name: relevance}`` at the input and at every
    node's output, with ``.rules`` (``{node: rule used}``, defaults resolved), ``.notes`` (``{node: why its
    rule differs from what the composite assigned}``) and ``.sent`` (``{node: (N,) float64 total relevance
    the node passed to its inputs}``: ``sum(R at its output) - sent`` is what it absorbed or created)."""

    rules = {}
    notes = {}
    sent = {}
