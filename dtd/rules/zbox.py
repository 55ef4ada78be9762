"""The z^B rule of deep Taylor decomposition (bounded inputs, e.g. pixels)."""
import numpy as np

from .base import DTDRule, Group, Term, negative, positive

__all__ = ["ZBox"]


class ZBox(DTDRule):
    r"""z^B rule (Montavon et al. 2017, Eq. (14); seeds 001, 004) for inputs in a box ``low <= x <= high``.

    .. math::

        R_i = \sum_j \frac{x_i w_{ij} - l_i w_{ij}^+ - h_i w_{ij}^-}
                           {\sum_{i'} x_{i'} w_{i'j} - l_{i'} w_{i'j}^+ - h_{i'} w_{i'j}^-} R_j

    Bias not in the denominator.  Derivation: search direction
    ``v_i = x_i - l_i 1[w_ij > 0] - h_i 1[w_ij < 0]``; the root point stays in
    the box.

    Parameters
    ----------
    low, high : float or ndarray
        Scalars, or arrays shaped like one input (no batch axis).

    >>> from dtd.layers import Dense
    >>> layer = Dense([[1.0, -1.0]], [0.0])
    >>> layer.relevance(np.array([[0.5, 0.5]]), np.array([[1.0]]), ZBox(0.0, 1.0)).tolist()
    [[0.5, 0.5]]
    """

    reference = {
        "name": "z^B",
        "formula": "R_i = sum_j (x_i w_ij - l_i w_ij^+ - h_i w_ij^-) / sum_i' (x_i' w_i'j - l_i' w_i'j^+ - h_i' w_i'j^-) R_j",
        "bias": "none",
        "domain": "a box l <= x <= h (pixels)",
        "root": "x~ = x - t v, t_j = z_j / sum_i v_ij w_ij; inside the box",
        "direction": "v_i = x_i - l_i 1[w_ij > 0] - h_i 1[w_ij < 0]",
        "closed_form": "q_ij = x_i w_ij - l_i w_ij^+ - h_i w_ij^-; DTDRule.root_point, DTDRule.taylor_messages",
        "conservation": "every neuron with a non-zero denominator (x not at the box corner that zeroes it)",
        "example": {"low": 0.0, "high": 1.0},
        "peers": {"Zennit": "ZBox(low, high)", "iNNvestigate": "BoundedRule(low, high)", "Captum": "-",
                  "LRP Toolbox": "-"},
        "tests": ["tests/test_dtd_derivation.py::test_root_point_and_taylor_terms",
                  "tests/test_rules_closed_form.py::test_fast_path_equals_closed_form",
                  "tests/test_crosscheck_zennit.py::test_rule_agrees"],
    }

    def __init__(self, low, high, epsilon=0.0):
        low, high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
        if not (np.isfinite(low).all() and np.isfinite(high).all()):
            raise ValueError("ZBox: low and high must be finite")
        if np.any(low > high):
            raise ValueError("ZBox: low must be <= high everywhere")
        self.low, self.high = low, high
        self.epsilon = float(epsilon)

    def __repr__(self):
        return f"ZBox(low={self.low.tolist()!r}, high={self.high.tolist()!r}, epsilon={self.epsilon!r})"

    def bounds(self, x):
        """``low`` and ``high`` broadcast to the batch ``x``, in its dtype."""
        try:
            low = np.broadcast_to(self.low.astype(x.dtype), x.shape[1:])
            high = np.broadcast_to(self.high.astype(x.dtype), x.shape[1:])
        except ValueError:
            raise ValueError(
                f"ZBox: bounds of shape {self.low.shape}/{self.high.shape} do not fit an input of shape {x.shape[1:]}"
            ) from None
        return np.broadcast_to(low, x.shape), np.broadcast_to(high, x.shape)

    def groups(self, x, weight, bias):
        low, high = self.bounds(x)
        return [Group([Term(x), Term(low, positive, -1.0), Term(high, negative, -1.0)])]

    def explicit_groups(self, W, b, x, connected):
        low, high = self.bounds(x)
        q = x[:, None, :] * W[None] - low[:, None, :] * positive(W)[None] - high[:, None, :] * negative(W)[None]
        return [(1.0, q, None)]

    def search_direction(self, W, x):
        low, high = self.bounds(x)
        return x[:, None, :] - low[:, None, :] * (W > 0)[None] - high[:, None, :] * (W < 0)[None]
