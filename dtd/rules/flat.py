"""The flat rule."""
import numpy as np

from .base import Group, LinearRule, Term, ones

__all__ = ["Flat"]


class Flat(LinearRule):
    r"""Flat rule (Lapuschkin et al. 2019): spread ``R_j`` uniformly over the connected inputs.

    .. math:: R_i = \sum_j \frac{1[i \text{ connected to } j]}{\#\{i' \text{ connected to } j\}} R_j

    Bias not in the denominator; does not depend on x or on the weights' values.
    "Connected" is the layer's structure, not its weights: every input of a
    Dense layer, the kernel window of a convolution (zero padding is not an
    input, so border neurons have fewer connected inputs; a grouped convolution
    connects its group's channels only), the window of a pooling layer.  A
    weight that is exactly zero is still a connection: the fast path runs the
    layer with all weights set to one on an input of ones, as Zennit's ``Flat``,
    the LRP Toolbox's ``'flat'`` and iNNvestigate's ``FlatRule`` do, and
    :meth:`explicit` takes every pair of a dense matrix as connected unless
    given ``connected``.  Given to a max-pooling layer in a list, dict or
    composite, it spreads ``R_j`` over the window, as the LRP Toolbox's
    ``'flat'`` and ``'ww'`` do on its MaxPool (a single rule given to
    ``explain`` leaves pooling its default).

    >>> from dtd.layers import Dense
    >>> Dense([[5.0, -1.0]]).relevance(np.array([[1.0, 2.0]]), np.array([[4.0]]), Flat()).tolist()
    [[2.0, 2.0]]
    >>> Dense([[1.0, 0.0, 2.0]]).relevance(np.array([[1.0, 1.0, 1.0]]), np.array([[3.0]]), Flat()).tolist()
    [[1.0, 1.0, 1.0]]
    """

    reference = {
        "name": "flat",
        "formula": "R_i = sum_j 1[i connected to j] / #{i' connected to j} R_j",
        "bias": "none",
        "domain": "any x (ignores x and the weights' values)",
        "closed_form": "q_ij = 1 where connected (w^2 with all weights 1): LinearRule.explicit",
        "conservation": "every neuron with a connected input",
        "peers": {"Zennit": "Flat()", "iNNvestigate": "FlatRule (lrp.flat)", "Captum": "-", "LRP Toolbox": "'flat'"},
        "tests": ["tests/test_rules_closed_form.py::test_fast_path_equals_closed_form",
                  "tests/test_crosscheck_zennit.py::test_rule_agrees"],
    }

    def __init__(self, epsilon=0.0):
        self.epsilon = float(epsilon)

    def applies_to(self, layer):
        """Linear layers, and max pooling through its windows (``layer.window_sum()``)."""
        return super().applies_to(layer) or hasattr(layer, "window_sum")

    def relevance(self, layer, x, R, out=None, prepared=None):
        """As every linear rule; on max pooling, over the pooling windows: each input of window ``j``
        gets ``R_j / (number of inputs in the window)``, whatever the maximum."""
        if hasattr(layer, "window_sum"):
            return super().relevance(layer.window_sum(), x, R)
        return super().relevance(layer, x, R, out, prepared)

    def groups(self, x, weight, bias):
        return [Group([Term(np.ones_like(x), ones)])]

    def explicit_groups(self, W, b, x, connected):
        q = np.broadcast_to(connected.astype(W.dtype)[None], (x.shape[0],) + W.shape)
        return [(1.0, q, None)]
