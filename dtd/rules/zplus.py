"""The z+ rule of deep Taylor decomposition."""
from .base import DTDRule, Group, Term, check_choice, negative, positive, sign_parts

__all__ = ["ZPlus"]


class ZPlus(DTDRule):
    r"""z+ rule (Montavon et al. 2017, Eq. (9); seeds 000, 001) for inputs in :math:`\mathbb{R}_+^d`.

    .. math::

        R_i = \sum_j \frac{z_{ij}^+}{\sum_{i'} z_{i'j}^+} R_j, \qquad z_{ij}^+ = \max(0, x_i w_{ij})
        \;(= x_i w_{ij}^+ \text{ for } x \ge 0)

    Bias *not* in the denominator.  Derivation: search direction
    ``v_i = x_i 1[w_ij > 0]``; for ``x >= 0`` and ``b_j <= 0`` the root point
    ``x - t v`` lies in the input domain ``x >= 0``.

    Zennit's ``ZPlus`` keeps ``b^+`` in the denominator unless
    ``zero_params='bias'``; with ``b <= 0`` both agree.

    Parameters
    ----------
    epsilon : float
        Optional stabiliser (``epsilon * sign(z)``, sign(0) = +1); 0 = none.
    bias : {"none", "positive", "plain"}
        What of the bias enters the denominator: nothing (the default, the
        DTD rule), ``b^+`` (Zennit's ``ZPlus``; then the rule equals
        ``AlphaBeta(1, 0)``), or ``b`` (Captum's ``Alpha1_Beta0_Rule`` on
        inputs ``x >= 0``).
    signed : bool
        The variant for a layer whose output is not ReLU-gated (it reaches a
        residual sum, a concatenation or the network output; see
        :mod:`dtd.gating`), where ``R_j`` can be non-zero for ``z_j < 0`` and
        plain z+ then loses it whenever no contribution is positive.  Neurons
        with ``z_j = sum_i x_i w_ij + b_j > 0`` redistribute as above; those
        with ``z_j < 0`` in proportion to the negative contributions,

        .. math:: R_i = \frac{z_{ij}^-}{\sum_{i'} z_{i'j}^-} R_j, \qquad z_{ij}^- = \min(0, x_i w_{ij}),

        (with ``b^-`` in place of ``b^+`` when ``bias="positive"``) and a
        neuron with ``z_j = 0`` sends nothing: the contributions that agree in
        sign with the output are the ones that explain it.  It is the limit
        ``gamma -> infinity`` of the generalised gamma rule
        (``Gamma(generalized=True)``), and conservative with zero biases.

    >>> from dtd.layers import Dense
    >>> layer = Dense([[1.0, -1.0, 3.0]], [-1.0])
    >>> layer.relevance(np.array([[1.0, 1.0, 1.0]]), np.array([[2.0]]), ZPlus()).tolist()
    [[0.5, 0.0, 1.5]]
    """

    reference = {
        "name": "z+",
        "formula": "R_i = sum_j z_ij^+ / sum_i' z_i'j^+ R_j, z_ij^+ = max(0, x_i w_ij)",
        "bias": "none (default); bias='positive': b^+; 'plain': b",
        "domain": "x >= 0 and b_j <= 0 (ReLU detection neurons)",
        "root": "x~ = x - t v, t_j = z_j / sum_i x_i w_ij^+ in [0, 1] when b_j <= 0, so x~ >= 0",
        "direction": "v_i = x_i 1[w_ij > 0]",
        "closed_form": "q_ij = x_i w_ij^+ (x >= 0); DTDRule.root_point, DTDRule.taylor_messages",
        "conservation": "every neuron with sum_i z_ij^+ > 0 (signed=True: z_j < 0 by z^-, z_j = 0 sends nothing)",
        "peers": {"Zennit": "ZPlus() (b^+: bias='positive')",
                  "iNNvestigate": "ZPlusRule (lrp.z_plus, deep_taylor; bias='plain': lrp.alpha_1_beta_0); "
                                  "ZPlusFastRule (lrp.z_plus_fast) on x >= 0 only (signed x: x w^+)",
                  "Captum": "Alpha1_Beta0_Rule(set_bias_to_zero=True) on x >= 0",
                  "LRP Toolbox": "'alphabeta', 1 (b^+: bias='positive')"},
        "tests": ["tests/test_dtd_derivation.py::test_root_point_and_taylor_terms",
                  "tests/test_dtd_derivation.py::test_zplus_root_outside_domain_when_bias_positive",
                  "tests/test_rules_closed_form.py::test_fast_path_equals_closed_form",
                  "tests/test_rules_closed_form.py::test_signed_zplus_by_hand"],
    }

    def __init__(self, epsilon=0.0, bias="none", signed=False):
        self.epsilon = float(epsilon)
        self.bias = check_choice(bias, ("none", "positive", "plain"), "ZPlus", "bias")
        self.signed = bool(signed)

    def __repr__(self):
        extra = ", signed=True" if self.signed else ""
        return f"ZPlus(epsilon={self.epsilon!r}, bias={self.bias!r}{extra})"

    def for_signed_output(self):
        """``ZPlus(..., signed=True)``: on a signed output plain z+ loses ``R_j`` of every neuron with
        no positive contribution."""
        return self if self.signed else ZPlus(self.epsilon, self.bias, signed=True)

    def _bias(self, b, part=positive):
        if b is None or self.bias == "none":
            return None
        return part(b) if self.bias == "positive" else b

    def groups(self, x, weight, bias):
        xp, xn = sign_parts(x)
        if not self.signed:
            return [Group([Term(xp, positive), Term(xn, negative)], self._bias(bias))]
        return [Group([Term(xp, positive), Term(xn, negative)], self._bias(bias), where="positive"),
                Group([Term(xp, negative), Term(xn, positive)], self._bias(bias, negative), where="negative")]

    def explicit_groups(self, W, b, x, connected):
        z = x[:, None, :] * W[None]
        if not self.signed:
            return [(1.0, positive(z), self._bias(b))]
        return [(1.0, positive(z), self._bias(b), "positive"), (1.0, negative(z), self._bias(b, negative), "negative")]

    def search_direction(self, W, x):
        return x[:, None, :] * (W > 0)[None]
