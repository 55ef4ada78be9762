"""Where relevance is absorbed or created: conservation layer by layer (node by node in a graph)."""
from typing import NamedTuple

import numpy as np

from ._checks import per_sample

__all__ = ["LayerConservation", "conservation_by_layer"]


class LayerConservation(NamedTuple):
    """Result of :func:`conservation_by_layer`; one entry per layer (or graph node), in forward order."""

    #: node names (a Sequential's layers: ``"0"``, ``"1"``, ...)
    names: list
    #: ``type(op).__name__`` of each node
    kinds: list
    #: the rule each node used (``repr``), or ``"-"`` for a merge's own split
    rules: list
    #: (N, L) float64: relevance that reached each node's output, :math:`\sum_j R_j`
    received: np.ndarray
    #: (N, L) float64: relevance the node passed on to its inputs, :math:`\sum_i R_i`
    sent: np.ndarray
    #: (N,) float64: :math:`f_c(x)`, the relevance the explanation started from
    output: np.ndarray
    #: ``{name: str}``: nodes whose rule the composite replaced (e.g. the generalised gamma on a signed output)
    notes: dict

    @property
    def absorbed(self):
        """(N, L): ``received - sent``; positive where a node absorbed relevance (bias, stabiliser), negative
        where it created some."""
        return self.received - self.sent

    def rows(self):
        """One dict per node: name, kind, rule, and the batch means of received, sent and absorbed as fractions
        of :math:`f_c(x)` (samples with :math:`f_c(x) = 0` left out), for tables and the CLI."""
        fc = self.output
        keep = fc != 0
        scale = np.where(keep, fc, 1.0)[:, None]
        rel = lambda a: float((a / scale)[keep].mean()) if keep.any() else float("nan")  # noqa: E731
        out = []
        for k, name in enumerate(self.names):
            out.append({"node": name, "kind": self.kinds[k], "rule": self.rules[k],
                        "received/f": rel(self.received[:, k:k + 1]), "sent/f": rel(self.sent[:, k:k + 1]),
                        "absorbed/f": rel(self.absorbed[:, k:k + 1]),
                        "note": self.notes.get(name, "")})
        return out


def conservation_by_layer(net, x, rules, target=None):
    r"""Relevance received and passed on by every layer (graph node) of one explanation.

    For node :math:`k` with output relevance :math:`R^{(k)}_j` and the messages
    :math:`R^{(k)}_i` it sends to its inputs,

    .. math::

        \mathrm{received}_k = \sum_j R^{(k)}_j, \qquad
        \mathrm{sent}_k = \sum_i R^{(k)}_i, \qquad
        \mathrm{absorbed}_k = \mathrm{received}_k - \mathrm{sent}_k,

    so a conservative rule has ``absorbed = 0`` (up to rounding) and the input
    relevance sums to :math:`f_c(x) - \sum_k \mathrm{absorbed}_k` (Montavon et
    al. 2017, the layer-wise conservation of seed 001).  Sums in float64.

    Parameters
    ----------
    net : Sequential or Graph
    x : ndarray, shape (N, ...)
    rules : Rule, list, dict or composite
        As :meth:`dtd.Sequential.explain` / :meth:`dtd.Graph.explain`.
    target : None, int or int array (N,)

    Returns
    -------
    LayerConservation

    >>> from dtd import Sequential
    >>> from dtd.layers import Dense, ReLU
    >>> net = Sequential([Dense([[1.0, 1.0]], [1.0]), ReLU()])
    >>> acc = conservation_by_layer(net, np.array([[1.0, 2.0]]), None)
    >>> acc.received.tolist(), acc.sent.tolist(), acc.absorbed.tolist()
    ([[4.0, 4.0]], [[3.0, 4.0]], [[1.0, 0.0]])
    """
    Rs = net.explain(x, rules, target=target, return_all=True)
    if isinstance(Rs, dict):                                   # a Graph
        names = [n.name for n in net.nodes]
        ops = {n.name: n.op for n in net.nodes}
        received = np.stack([_total(Rs[n]) for n in names], axis=1)
        sent = np.stack([np.asarray(Rs.sent[n], dtype=np.float64) for n in names], axis=1)
        out = _total(Rs[net.output])
        used = [Rs.rules.get(n) for n in names]
    else:
        names = [str(i) for i in range(len(net.layers))]
        ops = dict(zip(names, net.layers))
        received = np.stack([_total(R) for R in Rs[1:]], axis=1)
        sent = np.stack([_total(R) for R in Rs[:-1]], axis=1)
        out = _total(Rs[-1])
        used = list(Rs.rules)
    return LayerConservation(names, [type(ops[n]).__name__ for n in names],
                             ["-" if r is None else repr(r) for r in used], received, sent, out, dict(Rs.notes))


def _total(R):
    return per_sample(R).sum(axis=1, dtype=np.float64)
