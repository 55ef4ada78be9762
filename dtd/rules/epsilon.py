"""LRP-0 and LRP-epsilon."""
from .base import Group, LinearRule, Term, check_choice

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

    ``bias="absorb"`` (dtd's named presets): the bias may absorb relevance
    but never create it.  The neuron first keeps the bias's share of
    ``R_j`` and the inputs share the rest without a bias in the denominator,

    .. math::

        R_i = \sum_j \frac{x_i w_{ij}}{\sum_{i'} x_{i'} w_{i'j} + \epsilon\,\mathrm{sign}} t_j R_j,
        \qquad t_j = \mathrm{clip}(1 - b_j / z_j, 0, 1)

    (:func:`~dtd.rules.base.input_share`): with the bias of the output's sign
    this is the plain rule (``t_j = (z_j - b_j) / z_j``); a bias against the
    output's sign keeps nothing (the plain rule would give the inputs
    ``(z_j - b_j) / z_j > 1`` of ``R_j``), and one that outweighs the inputs
    keeps all (the plain rule would pass on a negative multiple of ``R_j``).

    ``bias="none"``: no bias in the denominator and nothing kept, so with
    ``epsilon = 0`` each neuron passes on exactly ``R_j`` (the convention of
    the z+ and w^2 rules, and of Zennit's ``zero_params='bias'``), whatever
    its bias; a neuron whose inputs nearly cancel, ``s_j = z_j - b_j \approx 0``,
    then sends large messages of both signs.

    >>> from dtd.layers import Dense
    >>> layer = Dense([[1.0, 3.0]], [0.0])
    >>> layer.relevance(np.array([[1.0, 1.0]]), np.array([[8.0]]), Epsilon()).tolist()
    [[2.0, 6.0]]
    """

    reference = {
        "name": "LRP-0 / LRP-epsilon",
        "formula": "R_i = sum_j x_i w_ij / (sum_i' x_i' w_i'j + b_j + eps sign(z_j)) R_j",
        "bias": "b_j (all of it); bias='absorb': the share t_j = clip(1 - b_j / z_j, 0, 1) is passed on; "
                "'none': nothing (the inputs share all of R_j)",
        "domain": "any x",
        "root": "LRP-0 only: x~ = 0 (t = 1), a root point only when b_j = 0",
        "direction": "v = x",
        "closed_form": "q_ij = x_i w_ij, denominator z_j + eps sign(z_j): LinearRule.explicit",
        "conservation": "eps = 0 and b = 0 (neurons with z_j = 0 send nothing); else b_j / z_j and "
                        "eps / (|z_j| + eps) of R_j are absorbed ('absorb': 1 - t_j, in [0, 1]; 'none': only "
                        "the eps share, eps / (|s_j| + eps), s_j = z_j - b_j)",
        "peers": {"Zennit": "Epsilon(epsilon)", "iNNvestigate": "EpsilonRule (lrp.epsilon); LRP-0: ZRule (lrp.z)",
                  "Captum": "EpsilonRule(epsilon)", "LRP Toolbox": "'epsilon', e; LRP-0: 'simple'"},
        "tests": ["tests/test_rules_closed_form.py::test_fast_path_equals_closed_form",
                  "tests/test_dtd_derivation.py::test_lrp0_is_dtd_at_the_origin",
                  "tests/test_properties.py::test_lrp0_with_zero_biases_is_conservative",
                  "tests/test_rules_closed_form.py::test_absorb_passes_on_a_fraction_in_0_1_of_each_neuron",
                  "tests/test_crosscheck_zennit.py::test_rule_agrees"],
    }

    def __init__(self, epsilon=0.0, bias="plain"):
        if not epsilon >= 0:
            raise ValueError(f"Epsilon: epsilon must be >= 0, got {epsilon}")
        self.epsilon = float(epsilon)
        self.bias = check_choice(bias, ("plain", "absorb", "none"), "Epsilon", "bias")

    def __repr__(self):
        extra = f", bias={self.bias!r}" if self.bias != "plain" else ""
        return f"Epsilon(epsilon={self.epsilon!r}{extra})"

    def groups(self, x, weight, bias):
        return [Group([Term(x)], None if self.bias != "plain" else bias, plain=True)]

    def explicit_groups(self, W, b, x, connected):
        return [(1.0, x[:, None, :] * W[None], None if self.bias != "plain" else b)]
