"""The w^2 rule of deep Taylor decomposition."""
import numpy as np

from .base import DTDRule, Group, Term, check_choice, square

__all__ = ["WSquare"]


class WSquare(DTDRule):
    r"""w^2 rule (Montavon et al. 2017, Eq. (12); seed 001) for inputs in :math:`\mathbb{R}^d`.

    .. math:: R_i = \sum_j \frac{w_{ij}^2}{\sum_{i'} w_{i'j}^2} R_j

    Bias not in the denominator; does not depend on x.  Derivation: search
    direction ``v = w_j`` (the gradient), the nearest root point in Euclidean
    distance.

    Zennit's ``WSquare`` adds ``b^2`` to the denominator unless
    ``zero_params='bias'``.

    Parameters
    ----------
    epsilon : float
        Optional stabiliser (``epsilon * sign(z)``, sign(0) = +1); 0 = none.
    bias : {"none", "square"}
        Nothing of the bias in the denominator (the default, the DTD rule), or
        ``b_j^2`` (Zennit's ``WSquare``).

    >>> from dtd.layers import Dense
    >>> layer = Dense([[1.0, -2.0]], [0.0])
    >>> layer.relevance(np.array([[5.0, 7.0]]), np.array([[10.0]]), WSquare()).tolist()
    [[2.0, 8.0]]
    """

    reference = {
        "name": "w^2",
        "formula": "R_i = sum_j w_ij^2 / sum_i' w_i'j^2 R_j",
        "bias": "none (default); bias='square': b_j^2",
        "domain": "any x (R^d)",
        "root": "x~ = x - t w_j, t_j = z_j / ||w_j||^2: the nearest root point (Euclidean)",
        "direction": "v = w_j (the gradient)",
        "closed_form": "q_ij = w_ij^2; DTDRule.root_point, DTDRule.taylor_messages",
        "conservation": "every neuron with w_j != 0",
        "peers": {"Zennit": "WSquare() (adds b^2: bias='square')", "iNNvestigate": "WSquareRule (lrp.w_square)",
                  "Captum": "-", "LRP Toolbox": "'ww'"},
        "tests": ["tests/test_dtd_derivation.py::test_root_point_and_taylor_terms",
                  "tests/test_rules_closed_form.py::test_fast_path_equals_closed_form",
                  "tests/test_crosscheck_zennit.py::test_rule_agrees"],
    }

    def __init__(self, epsilon=0.0, bias="none"):
        self.epsilon = float(epsilon)
        self.bias = check_choice(bias, ("none", "square"), "WSquare", "bias")

    def _bias(self, b):
        return b * b if b is not None and self.bias == "square" else None

    def groups(self, x, weight, bias):
        return [Group([Term(np.ones_like(x), square)], self._bias(bias))]

    def explicit_groups(self, W, b, x, connected):
        q = np.broadcast_to((W * W)[None], (x.shape[0],) + W.shape)
        return [(1.0, q, self._bias(b))]

    def search_direction(self, W, x):
        return np.broadcast_to(W[None], (x.shape[0],) + W.shape)
