"""LRP-alpha-beta."""
from .base import Group, LinearRule, Term, negative, positive, sign_parts

__all__ = ["AlphaBeta"]


class AlphaBeta(LinearRule):
    r"""LRP-alpha-beta (Bach et al. 2015; seeds 003, 004), with ``alpha - beta = 1``.

    .. math::

        R_i = \sum_j \Big(\alpha \frac{z_{ij}^+}{\sum_{i'} z_{i'j}^+ + b_j^+}
                        - \beta \frac{z_{ij}^-}{\sum_{i'} z_{i'j}^- + b_j^-}\Big) R_j,
        \qquad z_{ij}^{\pm} = \max/\min(0, x_i w_{ij})

    Positive and negative parts are computed from the products, so negative
    inputs are handled: ``z_ij^+ = x_i^+ w_ij^+ + x_i^- w_ij^-``.  A part
    whose denominator is zero sends nothing.  ``AlphaBeta(1, 0)`` equals
    :class:`ZPlus` when ``b <= 0``.

    The LRP Toolbox writes this rule with ``beta = 1 - alpha`` (a sign
    convention): its ``alpha=2`` is our ``AlphaBeta(2, 1)``.

    Raises
    ------
    ValueError
        Unless ``alpha - beta == 1`` and both are >= 0.

    >>> from dtd.layers import Dense
    >>> layer = Dense([[1.0, -1.0]], [0.0])
    >>> layer.relevance(np.array([[2.0, 1.0]]), np.array([[1.0]]), AlphaBeta(2, 1)).tolist()
    [[2.0, -1.0]]
    """

    def __init__(self, alpha=1.0, beta=0.0, epsilon=0.0):
        if not (alpha >= 0 and beta >= 0 and abs(alpha - beta - 1) < 1e-12):
            raise ValueError(f"AlphaBeta: need alpha - beta == 1 and alpha, beta >= 0, got alpha={alpha}, beta={beta}")
        self.alpha, self.beta = float(alpha), float(beta)
        self.epsilon = float(epsilon)

    def groups(self, x, weight, bias):
        xp, xn = sign_parts(x)
        bp = positive(bias) if bias is not None else None
        bn = negative(bias) if bias is not None else None
        groups = [Group([Term(xp, positive), Term(xn, negative)], bp, self.alpha)]
        if self.beta:
            groups.append(Group([Term(xp, negative), Term(xn, positive)], bn, -self.beta))
        return groups

    def explicit_groups(self, W, b, x, connected):
        z = x[:, None, :] * W[None]
        return [(self.alpha, positive(z), positive(b)), (-self.beta, negative(z), negative(b))]
