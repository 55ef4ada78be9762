"""Constraints applied after each training step, by projection."""
import numpy as np

__all__ = ["NonPositiveBias", "apply_constraints"]


class NonPositiveBias:
    r"""Project the biases onto :math:`b \le 0`: :math:`b \leftarrow \min(b, 0)`.

    With :math:`b_j \le 0` and inputs :math:`x \ge 0`, a ReLU neuron is zero at
    the root points of the z+ and z^B rules, which is what makes the deep Taylor
    decomposition of the network conservative and positive (seed 001).

    Parameters
    ----------
    layers : iterable of int, optional
        Layer indices to constrain; by default every layer with a ``bias``
        array (Dense, Conv2d).

    >>> from dtd import Sequential
    >>> from dtd.layers import Dense
    >>> net = Sequential([Dense([[1.0], [2.0]], [0.5, -0.5])])
    >>> NonPositiveBias()(net)
    >>> net.layers[0].bias.tolist()
    [0.0, -0.5]
    """

    def __init__(self, layers=None):
        self.layers = None if layers is None else [int(i) for i in layers]

    def __call__(self, net):
        indices = range(len(net.layers)) if self.layers is None else self.layers
        for i in indices:
            b = getattr(net.layers[i], "bias", None)
            if isinstance(b, np.ndarray):
                np.minimum(b, 0, out=b)

    def __repr__(self):
        return f"NonPositiveBias(layers={self.layers!r})"


def apply_constraints(net, constraint):
    """Apply ``constraint`` (a callable ``net -> None``, a list of them, or None) to ``net``."""
    if constraint is None:
        return
    for c in constraint if isinstance(constraint, (list, tuple)) else (constraint,):
        c(net)
