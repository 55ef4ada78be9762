"""Where an explanation leaves the derivation of its deep Taylor rules: root points outside the input domain."""
from typing import NamedTuple

import numpy as np

__all__ = ["RootPoints", "root_points"]


class RootPoints(NamedTuple):
    """Result of :func:`root_points`: one entry per layer (graph node) whose rule can check its root points."""

    #: names of the checked layers (a Sequential's layers: ``"0"``, ``"1"``, ...)
    names: list
    #: ``repr`` of each layer's rule
    rules: list
    #: ``{name: bool array shaped like the layer's output}``: True where a neuron with relevance to pass has
    #: its root point outside the rule's domain (:meth:`dtd.rules.ZBox.root_point_outside`)
    outside: dict

    def counts(self):
        """``{name: (N,) int}``: how many neurons of each sample are flagged, per layer."""
        return {n: m.reshape(m.shape[0], -1).sum(axis=1) for n, m in self.outside.items()}

    @property
    def ok(self):
        """True if no neuron of any checked layer is flagged."""
        return not any(m.any() for m in self.outside.values())


def root_points(net, x, rules, target=None):
    r"""Check the root points of every rule that can: the layers explained with :class:`~dtd.rules.ZBox`.

    z^B's root point of neuron j lies in the box ``low <= x <= high`` if and only if
    :math:`b_j + \sum_i (l_i w_{ij}^+ + h_i w_{ij}^-) \le 0` (for ``x`` in the box and :math:`z_j > 0`;
    see :class:`~dtd.rules.ZBox`).  Where it does not, the rule's messages are still computed, but they
    are not the Taylor terms of the neuron at a point of its domain.  The explanation itself does not run
    this check (it costs one more pass of the layer); call this function, e.g. on a network with positive
    biases or a box that excludes 0.

    Parameters
    ----------
    net : Sequential or Graph
    x : ndarray, shape (N, ...)
    rules : Rule, list, dict or composite
        As :meth:`dtd.Sequential.explain`.
    target : None, int or int array (N,)

    Returns
    -------
    RootPoints
        A neuron is checked where its relevance (from ``explain(..., return_all=True)``) is non-zero.

    >>> from dtd import Sequential
    >>> from dtd.layers import Dense, ReLU
    >>> from dtd.rules import ZBox
    >>> net = Sequential([Dense([[1.0, 1.0], [1.0, -1.0]], [0.0, 0.0]), ReLU(), Dense([[1.0, 1.0]], [0.0])])
    >>> res = root_points(net, np.array([[1.0, 0.75]]), [ZBox(0.5, 1.0), None, None])
    >>> res.outside["0"].tolist()     # neuron 0: b + 0.5 + 0.5 > 0; neuron 1: b + 0.5 - 1 <= 0
    [[True, False]]
    """
    Rs = net.explain(x, rules, target=target, return_all=True)
    acts = net.forward(x, return_all=True)
    if isinstance(Rs, dict):                                       # a Graph
        items = [(n.name, n.op, acts[n.inputs[0]], Rs[n.name], Rs.rules.get(n.name)) for n in net.nodes
                 if n.name in Rs.rules]
    else:
        items = [(str(i), layer, acts[i], Rs[i + 1], rule)
                 for i, (layer, rule) in enumerate(zip(net.layers, Rs.rules))]
    names, used, outside = [], [], {}
    for name, layer, a, R, rule in items:
        check = getattr(rule, "root_point_outside", None)
        if check is None:
            continue
        names.append(name)
        used.append(repr(rule))
        outside[name] = np.asarray(check(layer, a, R))
    return RootPoints(names, used, outside)
