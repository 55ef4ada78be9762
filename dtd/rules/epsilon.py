"""LRP-0 and LRP-epsilon."""
from .base import Group, LinearRule, Term, check_choice, negative, positive

__all__ = ["Epsilon"]


class Epsilon(LinearRule):
    r"""LRP-epsilon; LRP-0 when ``epsilon = 0`` (Bach et al. 2015; seed 002).

    .. math::

        R_i = \sum_j \frac{x_i w_{ij}}{\sum_{i'} x_{i'} w_{i'j} + b_j + \epsilon\,\mathrm{sign}(z_j)} R_j,
        \qquad \mathrm{sign}(0) = +1

    Bias in the denominator.  With ``epsilon = 0`` a neuron with ``z_j = 0``
    sends nothing (0/0 := 0).  LRP-0 is deep Taylor decomposition with the
    root point at the origin (search direction ``v = x``, seed 000); on a ReLU
    net with zero biases it equals gradient x input.

    Zennit's ``Epsilon(epsilon)`` uses the same stabiliser; its default is 1e-6.

    ``bias="absorb"`` lets into the denominator only the part of the bias that
    agrees in sign with the neuron's output ``z_j`` (``b_j^+`` where
    ``z_j > 0``, ``b_j^-`` where ``z_j < 0``; a neuron with ``z_j = 0`` sends
    nothing): a bias of the output's sign absorbs its share as usual, one
    against it is left out instead of making the inputs' share exceed ``R_j``,
    so the messages sum to at most ``R_j`` (``|sum| <= |R_j|`` for the sign of
    ``z_j``).  Not a preset's default (measured on the zoo's models in
    ``docs/models.md``: it moves the sum toward absorbing, not always inside
    [-0.1, 1.1]).

    >>> from dtd.layers import Dense
    >>> layer = Dense([[1.0, 3.0]], [0.0])
    >>> layer.relevance(np.array([[1.0, 1.0]]), np.array([[8.0]]), Epsilon()).tolist()
    [[2.0, 6.0]]
    """

    reference = {
        "name": "LRP-0 / LRP-epsilon",
        "formula": "R_i = sum_j x_i w_ij / (sum_i' x_i' w_i'j + b_j + eps sign(z_j)) R_j",
        "bias": "b_j (all of it)",
        "domain": "any x",
        "root": "LRP-0 only: x~ = 0 (t = 1), a root point only when b_j = 0",
        "direction": "v = x",
        "closed_form": "q_ij = x_i w_ij, denominator z_j + eps sign(z_j): LinearRule.explicit",
        "conservation": "eps = 0 and b = 0 (neurons with z_j = 0 send nothing); else b_j / z_j and "
                        "eps / (|z_j| + eps) of R_j are absorbed",
        "peers": {"Zennit": "Epsilon(epsilon)", "iNNvestigate": "EpsilonRule (lrp.epsilon); LRP-0: ZRule (lrp.z)",
                  "Captum": "EpsilonRule(epsilon)", "LRP Toolbox": "'epsilon', e; LRP-0: 'simple'"},
        "tests": ["tests/test_rules_closed_form.py::test_fast_path_equals_closed_form",
                  "tests/test_dtd_derivation.py::test_lrp0_is_dtd_at_the_origin",
                  "tests/test_properties.py::test_lrp0_with_zero_biases_is_conservative",
                  "tests/test_crosscheck_zennit.py::test_rule_agrees"],
    }

    def __init__(self, epsilon=0.0, bias="plain"):
        if not epsilon >= 0:
            raise ValueError(f"Epsilon: epsilon must be >= 0, got {epsilon}")
        self.epsilon = float(epsilon)
        self.bias = check_choice(bias, ("plain", "absorb"), "Epsilon", "bias")

    def __repr__(self):
        extra = ", bias='absorb'" if self.bias == "absorb" else ""
        return f"Epsilon(epsilon={self.epsilon!r}{extra})"

    def groups(self, x, weight, bias):
        if self.bias == "plain" or bias is None:
            return [Group([Term(x)], bias, plain=True)]
        return [Group([Term(x)], positive(bias), where="positive"),
                Group([Term(x)], negative(bias), where="negative")]

    def explicit_groups(self, W, b, x, connected):
        q = x[:, None, :] * W[None]
        if self.bias == "plain" or b is None:
            return [(1.0, q, b)]
        return [(1.0, q, positive(b), "positive"), (1.0, q, negative(b), "negative")]
