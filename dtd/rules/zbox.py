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
    ``v_i = x_i - l_i 1[w_ij > 0] - h_i 1[w_ij < 0]`` where ``w_ij != 0`` (0 where
    ``w_ij = 0``: an input the neuron does not see stays where it is), i.e. the
    segment from ``x`` to the corner :math:`c^{(j)}_i = l_i` (``w_ij > 0``),
    :math:`h_i` (``w_ij < 0``), :math:`x_i` (``w_ij = 0``), where
    :math:`z_j` is smallest over the box.  The root point is
    :math:`\tilde x^{(j)} = (1 - t_j)\, x + t_j c^{(j)}`,
    :math:`t_j = z_j / (z_j - m_j)`, with

    .. math:: m_j = z_j(c^{(j)}) = \min_{l \le x' \le h} z_j(x') = b_j + \sum_i l_i w_{ij}^+ + h_i w_{ij}^-

    **When the root point is in the box.**  For ``x`` in the box and a neuron
    with :math:`z_j > 0` (the only ones with relevance after a ReLU), the root
    point lies in the box if and only if :math:`m_j \le 0`, i.e.

    .. math:: b_j \le -\sum_i \big(l_i w_{ij}^+ + h_i w_{ij}^-\big)

    (then :math:`0 < t_j \le 1`: a point of the segment; if :math:`m_j > 0`,
    :math:`t_j > 1` and every coordinate that moves passes its bound, or the
    neuron has no root on the line at all).  For a box with
    :math:`l \le 0 \le h` (the seeds' assumption) :math:`b_j \le 0` suffices;
    otherwise it is a condition on the bias and the box together: on
    ``[0.5, 1]^2`` with ``w = (1, 1)`` and ``b = 0``, :math:`m = 1` and the
    root of ``x = (1, 1)`` is ``(0, 0)``; on ``[0, 1]^2`` with ``b = 1``,
    :math:`m = 1` and the root is ``(-0.5, -0.5)``.  The rule's messages are
    computed all the same (they do not need the root point);
    :meth:`root_point_outside` says where the derivation does not hold, and
    :func:`dtd.evaluate.root_points` runs it on every z^B layer of an
    explanation.

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
        "root": "x~ = x - t v, t_j = z_j / sum_i v_ij w_ij; inside the box iff b_j + sum_i (l_i w_ij^+ + h_i w_ij^-) "
                "<= 0 (x in the box, z_j > 0): ZBox.root_point_outside",
        "direction": "v_i = x_i - l_i 1[w_ij > 0] - h_i 1[w_ij < 0] (0 where w_ij = 0)",
        "closed_form": "q_ij = x_i w_ij - l_i w_ij^+ - h_i w_ij^-; DTDRule.root_point, DTDRule.taylor_messages",
        "conservation": "every neuron with a non-zero denominator (x not at the box corner that zeroes it)",
        "example": {"low": 0.0, "high": 1.0},
        "peers": {"Zennit": "ZBox(low, high)", "iNNvestigate": "BoundedRule(low, high) (deep_taylor.bounded)",
                  "Captum": "-",
                  "LRP Toolbox": "-"},
        "tests": ["tests/test_dtd_derivation.py::test_root_point_and_taylor_terms",
                  "tests/test_dtd_derivation.py::test_zbox_root_point_condition_counterexamples",
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
        """``v`` of shape (N, out, in): ``x - l`` where ``w > 0``, ``x - h`` where ``w < 0``, 0 where ``w = 0``."""
        low, high = self.bounds(x)
        return ((x - low)[:, None, :] * (W > 0)[None]) + ((x - high)[:, None, :] * (W < 0)[None])

    def box_minimum(self, layer, x):
        r"""``m_j``: the smallest pre-activation of each output neuron over the box, shaped like ``layer``'s output.

        .. math:: m_j = b_j + \sum_i l_i w_{ij}^+ + h_i w_{ij}^-

        computed with the layer's own operator (``x`` gives the batch size and dtype only).
        """
        low, high = self.bounds(x)
        weight, bias = layer.params(x.dtype)
        m = layer.linear(np.ascontiguousarray(low), positive(weight), bias)
        m += layer.linear(np.ascontiguousarray(high), negative(weight), None)
        return m

    def root_point_outside(self, layer, x, R=None):
        """Where the derivation of the rule does not hold: True for the output neurons whose root point
        (on the segment of :meth:`search_direction`) is not in the box, shaped like ``layer``'s output.

        A neuron is checked if it has relevance to pass (``R != 0``; without ``R``: ``z_j > 0``).  It is
        flagged if the sample's ``x`` is not in the box, if ``z_j <= 0`` (the derivation is for ReLU
        neurons that are on), or if :math:`m_j > 0` (:meth:`box_minimum`; the exact condition, see the
        class docstring).  Not used by :meth:`relevance`: one extra pass of the layer, when asked.

        >>> from dtd.layers import Dense
        >>> layer = Dense([[1.0, 1.0]], [0.0])
        >>> x = np.array([[1.0, 1.0]])
        >>> ZBox(0.5, 1.0).root_point_outside(layer, x).tolist()       # m = 0.5 + 0.5 > 0
        [[True]]
        >>> ZBox(0.0, 1.0).root_point_outside(layer, x).tolist()       # m = 0: the root (0, 0) is a corner
        [[False]]
        """
        low, high = self.bounds(x)
        weight, bias = layer.params(x.dtype)
        z = layer.linear(x, weight, bias)
        active = z > 0 if R is None else R != 0
        inside = np.all(((x >= low) & (x <= high)).reshape(x.shape[0], -1), axis=1)
        shape = (-1,) + (1,) * (z.ndim - 1)
        bad = (z <= 0) | (self.box_minimum(layer, x) > 0) | ~inside.reshape(shape)
        return active & bad
