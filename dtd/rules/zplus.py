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

    >>> from dtd.layers import Dense
    >>> layer = Dense([[1.0, -1.0, 3.0]], [-1.0])
    >>> layer.relevance(np.array([[1.0, 1.0, 1.0]]), np.array([[2.0]]), ZPlus()).tolist()
    [[0.5, 0.0, 1.5]]
    """

    def __init__(self, epsilon=0.0, bias="none"):
        self.epsilon = float(epsilon)
        self.bias = check_choice(bias, ("none", "positive", "plain"), "ZPlus", "bias")

    def _bias(self, b):
        if b is None or self.bias == "none":
            return None
        return positive(b) if self.bias == "positive" else b

    def groups(self, x, weight, bias):
        xp, xn = sign_parts(x)
        return [Group([Term(xp, positive), Term(xn, negative)], self._bias(bias))]

    def explicit_groups(self, W, b, x, connected):
        return [(1.0, positive(x[:, None, :] * W[None]), self._bias(b))]

    def search_direction(self, W, x):
        return x[:, None, :] * (W > 0)[None]
