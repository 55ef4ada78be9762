"""LRP-gamma."""
from .base import Group, LinearRule, Term, positive

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

    >>> from dtd.layers import Dense
    >>> layer = Dense([[1.0, -1.0]], [0.0])
    >>> layer.relevance(np.array([[2.0, 1.0]]), np.array([[3.0]]), Gamma(1.0)).tolist()
    [[4.0, -1.0]]
    """

    def __init__(self, gamma=0.25, epsilon=0.0):
        if not gamma >= 0 or not epsilon >= 0:
            raise ValueError(f"Gamma: gamma and epsilon must be >= 0, got {gamma}, {epsilon}")
        self.gamma = float(gamma)
        self.epsilon = float(epsilon)

    def groups(self, x, weight, bias):
        g = self.gamma
        return [Group([Term(x, weight + g * positive(weight))], bias + g * positive(bias) if bias is not None else None)]

    def explicit_groups(self, W, b, x, connected):
        q = x[:, None, :] * (W + self.gamma * positive(W))[None]
        return [(1.0, q, b + self.gamma * positive(b))]
