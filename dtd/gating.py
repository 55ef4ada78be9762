"""Which linear layers have a ReLU-gated output, and which a signed one.

Several rules are derived for a neuron whose relevance comes through a
rectifier, ``R_j > 0`` only where ``z_j = sum_i x_i w_ij + b_j > 0``: plain
LRP-gamma (its denominator ``z_j + gamma z_j^+`` is then positive and at least
``z_j``) and, in DTD, z+ (a root point on the half-line exists only for
``z_j > 0``).  In a network built by today's exporters many linear layers are
not gated so: a convolution whose output is added to a residual branch before
any ReLU (ResNet, MobileNetV2's linear bottleneck), a layer feeding a
concatenation, the classifier at the top.  On such a layer plain gamma's
denominator can pass through zero and create relevance (issue 14 measured a
sum of input relevance of 131.7 f_c(x) on ResNet-18).

:func:`signed_outputs` finds those layers from the network's structure: the
output of a linear layer is *gated* when every path from it reaches a gating
layer (``layer.gates``: ReLU, ReLU6/Clip at 0, which give 0 for ``z <= 0``)
after only *transparent* steps: reshapes and permutations (Flatten, Identity,
Transpose, a channel permutation, zero padding) and max pooling (which
commutes with a ReLU).  Anything else reached first (a merge, another linear
layer, Tanh, a sigmoid, the network output) makes it *signed*.

Composites use this to give such layers a rule valid for signed outputs
(:meth:`dtd.rules.Rule.for_signed_output`; the generalised gamma rule for gamma).

>>> from dtd import Sequential
>>> from dtd.layers import Dense, ReLU
>>> net = Sequential([Dense([[1.0]]), ReLU(), Dense([[1.0]])])
>>> sorted(signed_outputs(net))
['2']
"""
from .layers.base import Layer, LinearLayer

__all__ = ["signed_outputs", "signed_inputs", "node_view"]


def _transparent(op):
    """A layer through which gating is decided further on (reshapes, permutations, padding, max pooling)."""
    if getattr(op, "transparent_to_gating", False):
        return True
    from .layers import Flatten, Identity, MaxPool2d, PaddedMaxPool2d, PermuteBack, Transpose
    return isinstance(op, (Flatten, Identity, Transpose, PermuteBack, MaxPool2d, PaddedMaxPool2d))


def node_view(net):
    """``(nodes, output)``: the network as ``[(name, op, inputs)]`` in topological order.

    A :class:`~dtd.Sequential`'s layers are named by their index (``"0"``, ``"1"``, ...),
    the input ``"input"``.
    """
    if hasattr(net, "nodes"):
        return [(n.name, n.op, list(n.inputs)) for n in net.nodes], net.output
    names = [str(i) for i in range(len(net.layers))]
    nodes = [(names[i], layer, ["input" if i == 0 else names[i - 1]]) for i, layer in enumerate(net.layers)]
    return nodes, names[-1]


def signed_outputs(net):
    """Names of the linear layers (Dense, Conv2d, ...) of ``net`` whose output is not ReLU-gated.

    Parameters
    ----------
    net : Sequential or Graph

    Returns
    -------
    set of str
        Graph node names, or a Sequential's layer indices as strings.
    """
    nodes, output = node_view(net)
    consumers = {name: [] for name, _, _ in nodes}
    ops = {name: op for name, op, _ in nodes}
    for name, _, inputs in nodes:
        for i in inputs:
            if i in consumers:
                consumers[i].append(name)

    gated_memo = {}

    def gated(name):
        """Is every path from the output of node ``name`` gated (reaching a gating layer through transparent ones)?"""
        if name in gated_memo:
            return gated_memo[name]
        gated_memo[name] = False                      # (no cycles in a network; a safe default meanwhile)
        if name == output or not consumers[name]:
            result = False
        else:
            result = True
            for c in consumers[name]:
                op = ops[c]
                if isinstance(op, Layer) and getattr(op, "gates", False):
                    continue
                if isinstance(op, Layer) and _transparent(op) and gated(c):
                    continue
                result = False
                break
        gated_memo[name] = result
        return result

    return {name for name, op, _ in nodes
            if isinstance(op, LinearLayer) and not gated(name)}


def signed_inputs(net):
    """Names of the linear layers of ``net`` whose input may be negative.

    An input is known to be non-negative when it comes from a layer whose output is >= 0
    (``layer.nonnegative``: ReLU, ReLU6, a sigmoid, ...), through transparent layers, pooling
    (sum, average, max, p-norm of non-negative values), concatenations and sums of non-negative
    branches; the network input, an ``Affine`` map, a linear layer or anything else may be signed.
    Plain LRP-gamma assumes ``x >= 0`` as well as a gated output (its boost ``gamma x_i w_ij^+`` is
    negative for a negative input, so its denominator can pass through zero although ``z_j > 0``:
    MobileNetV2's expansion convolutions read the linear bottleneck's signed output).
    """
    from .layers import LpPool2d, SumPool2d
    from .merge import Add, Concat, Merge
    nodes, _ = node_view(net)
    ops = {name: op for name, op, _ in nodes}
    inputs = {name: ins for name, _, ins in nodes}
    memo = {}

    def nonneg(name):
        if name not in ops:                         # the network input
            return False
        if name in memo:
            return memo[name]
        memo[name] = False
        op = ops[name]
        if isinstance(op, Merge):
            result = isinstance(op, (Add, Concat)) and all(nonneg(i) for i in inputs[name])
        elif getattr(op, "nonnegative", False) is True:
            result = True
        elif _transparent(op) or isinstance(op, (SumPool2d, LpPool2d)):
            result = nonneg(inputs[name][0])
        else:
            result = False
        memo[name] = result
        return result

    return {name for name, op, ins in nodes if isinstance(op, LinearLayer) and not nonneg(ins[0])}
