"""LRP-gamma."""

from .base import Group, LinearRule, SignedScale, Term, check_choice, negative, positive, sign_parts

__all__ = ["Gamma"]


class Gamma(LinearRule):
    r"""LRP-gamma: favour positive contributions (Montavon et al. 2019; seed 002).

    .. math::

        R_i = \sum_j \frac{x_i (w_{ij} + \gamma w_{ij}^+)}
                           {\sum_{i'} x_{i'} (w_{i'j} + \gamma w_{i'j}^+) + b_j + \gamma b_j^+} R_j

    Bias ``b + gamma b^+`` in the denominator.  ``gamma = 0`` is LRP-0; as
    gamma grows the rule tends to z+ (for x >= 0).

    Parameters
    ----------
    gamma : float, >= 0
    epsilon : float
        Optional stabiliser (``epsilon * sign(z)``, sign(0) = +1); 0 = none.
    bias : {"gamma", "plain", "none", "absorb"}
        What of the bias enters the denominator: ``b + gamma b^+`` (the
        default, as in Zennit), ``b`` unchanged (Captum's ``GammaRule``, which
        modifies only the weights), nothing (Captum's
        ``set_bias_to_zero=True``, Zennit's ``zero_params='bias'``), or
        ``"absorb"`` (dtd's named presets): the bias keeps its share of the
        output first and creates nothing, the rest is redistributed without a
        bias in the denominator: the messages are those of ``"none"`` for
        ``t_j R_j``, ``t_j = clip(1 - b_j / z_j, 0, 1)``
        (:func:`~dtd.rules.base.input_share`; ``z_j`` the plain output), so
        a neuron passes on exactly ``t_j R_j``.
    generalized : bool
        The generalised gamma rule (Andeol et al. 2021; Zennit's ``Gamma``):
        the contributions that agree in sign with the neuron's output
        ``z_j = sum_i x_i w_ij + b_j`` are boosted.  For ``z_j > 0`` the
        messages are ``x_i^+ (w_ij + gamma w_ij^+) + x_i^- (w_ij + gamma w_ij^-)``
        over their sum plus ``b_j + gamma b_j^+``; for ``z_j < 0`` the same with
        ``w^+`` and ``w^-`` (and ``b^+`` and ``b^-``) exchanged; a neuron with
        ``z_j = 0`` sends nothing.  For ``x >= 0`` and ``z_j > 0`` it equals the
        rule above.

    >>> from dtd.layers import Dense
    >>> layer = Dense([[1.0, -1.0]], [0.0])
    >>> layer.relevance(np.array([[2.0, 1.0]]), np.array([[3.0]]), Gamma(1.0)).tolist()
    [[4.0, -1.0]]
    >>> layer.relevance(np.array([[2.0, -1.0]]), np.array([[3.0]]), Gamma(1.0, generalized=True)).tolist()
    [[2.0, 1.0]]
    """

    reference = {
        "name": "LRP-gamma",
        "formula": "R_i = sum_j x_i (w_ij + gamma w_ij^+) / (sum_i' x_i' (w_i'j + gamma w_i'j^+) + b_j + gamma b_j^+) R_j",
        "bias": "b + gamma b^+ (default); bias='plain': b; 'none': nothing; 'absorb': t_j = clip(1 - b_j / z_j, 0, 1) "
                "of R_j passed on by the rule without a bias",
        "domain": "x >= 0 with z_j > 0 where R_j != 0; generalized=True: any x and any sign of z_j",
        "root": "bias='none' only: x~ = x - t v, t_j = z_j / sum_i x_i (w_ij + gamma w_ij^+)",
        "direction": "v_i = x_i (1 + gamma 1[w_ij > 0]) (bias='none'; Montavon et al. 2019)",
        "closed_form": "q_ij = x_i (w_ij + gamma w_ij^+); generalized: x^+ (w + gamma w^+) + x^- (w + gamma w^-) "
                       "for z_j > 0, w^+ and w^- exchanged for z_j < 0: LinearRule.explicit",
        "conservation": "bias='none' (or b = 0) and a non-zero denominator; a bias absorbs its share; "
                        "'absorb' passes on t_j R_j, t_j in [0, 1]",
        "peers": {"Zennit": "Gamma(gamma) (the generalised rule: generalized=True)", "iNNvestigate": "-",
                  "Captum": "GammaRule(gamma) (bias='plain')", "LRP Toolbox": "-"},
        "tests": ["tests/test_rules_closed_form.py::test_fast_path_equals_closed_form",
                  "tests/test_rules_closed_form.py::test_absorb_passes_on_a_fraction_in_0_1_of_each_neuron",
                  "tests/test_rule_options.py::test_generalized_gamma_by_hand",
                  "tests/test_crosscheck_captum.py::test_gamma_bias_is_not_boosted"],
    }

    def __init__(self, gamma=0.25, epsilon=0.0, bias="gamma", generalized=False):
        if not gamma >= 0 or not epsilon >= 0:
            raise ValueError(f"Gamma: gamma and epsilon must be >= 0, got {gamma}, {epsilon}")
        if gamma == float("inf"):
            raise ValueError("Gamma: gamma must be finite, got inf (its limit gamma -> inf on inputs x >= 0 is "
                             "the z+ rule: use ZPlus(), composite 'zplus')")
        self.gamma = float(gamma)
        self.epsilon = float(epsilon)
        self.bias = check_choice(bias, ("gamma", "plain", "none", "absorb"), "Gamma", "bias")
        self.generalized = bool(generalized)

    def for_signed_output(self):
        """The generalised gamma rule with the same parameters: plain gamma assumes ``z_j > 0`` where
        ``R_j != 0`` (its denominator ``z_j + gamma z_j^+`` can pass through zero on a signed output)."""
        if self.generalized:
            return self
        return Gamma(self.gamma, epsilon=self.epsilon, bias=self.bias, generalized=True)

    def _bias(self, b, part):
        """The denominator's bias, with ``part`` (positive or negative) boosted by gamma."""
        if b is None or self.bias in ("none", "absorb"):    # absorb: the share is kept first (input_share)
            return None
        return b + self.gamma * part(b) if self.bias == "gamma" else b

    def groups(self, x, weight, bias):
        g = self.gamma
        up, un = SignedScale(1.0, g), SignedScale(1.0 + g, -g)       # w + g w+, w + g w-
        if not self.generalized:
            return [Group([Term(x, up)], self._bias(bias, positive))]
        xp, xn = sign_parts(x)
        return [Group([Term(xp, up), Term(xn, un)], self._bias(bias, positive), where="positive"),
                Group([Term(xp, un), Term(xn, up)], self._bias(bias, negative), where="negative")]

    def explicit_groups(self, W, b, x, connected):
        g = self.gamma
        up, un = (W + g * positive(W))[None], (W + g * negative(W))[None]
        if not self.generalized:
            return [(1.0, x[:, None, :] * up, self._bias(b, positive))]
        xp, xn = positive(x)[:, None, :], negative(x)[:, None, :]
        return [(1.0, xp * up + xn * un, self._bias(b, positive), "positive"),
                (1.0, xp * un + xn * up, self._bias(b, negative), "negative")]
