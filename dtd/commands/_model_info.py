"""Shapes and parameter counts of a network, for ``dtd info`` and ``dtd convert``."""
import numpy as np

from ..graph import Graph
from ..layers import Conv2d, Dense

__all__ = ["param_count", "guess_input_shape", "describe"]


def param_count(op):
    """Number of parameters (array entries) of a layer or merge node."""
    return int(sum(np.asarray(getattr(op, k)).size for k in getattr(op, "array_keys", ())))


def guess_input_shape(net):
    """Shape of one input batch of size 1, or None: recorded at import, or (1, in) for a first Dense layer."""
    shape = getattr(net, "input_shape", None)
    if shape is not None:
        return (1,) + tuple(shape[1:])
    first = net.layers[0] if not isinstance(net, Graph) else None
    if isinstance(first, Dense):
        return (1, first.weight.shape[1])
    return None


def describe(net, input_shape=None):
    """Rows ``(name, op repr, inputs, output shape or None, parameter count)`` in topological order.

    Raises ValueError if ``input_shape`` does not fit the network.
    """
    rows = []
    if isinstance(net, Graph):
        shapes = net.shapes(input_shape) if input_shape is not None else {}
        for n in net.nodes:
            rows.append((n.name, repr(n.op), ", ".join(n.inputs), shapes.get(n.name), param_count(n.op)))
        return rows
    shape = input_shape
    for i, layer in enumerate(net.layers):
        if shape is not None:
            if layer.input_ndim is not None and len(shape) != layer.input_ndim:
                raise ValueError(f"layer {i} ({type(layer).__name__}) needs {layer.input_ndim}-d input, "
                                 f"gets shape {shape}")
            need = layer._channels()
            if need is not None and shape[1] != need:
                raise ValueError(f"layer {i} ({type(layer).__name__}) takes {need} channels/features, "
                                 f"gets shape {shape}")
            shape = tuple(layer.output_shape(shape))
        rows.append((str(i), repr(layer), str(i - 1) if i else "input", shape, param_count(layer)))
    return rows


def first_channels(net):
    """Input channels of the first Conv2d (for a hint), or None."""
    for layer in net.layers:
        if isinstance(layer, Conv2d):
            return layer._channels()
        if isinstance(layer, Dense):
            return None
    return None
