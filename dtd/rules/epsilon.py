"""LRP-0 and LRP-epsilon."""
from .base import Group, LinearRule, Term

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

    >>> from dtd.layers import Dense
    >>> layer = Dense([[1.0, 3.0]], [0.0])
    >>> layer.relevance(np.array([[1.0, 1.0]]), np.array([[8.0]]), Epsilon()).tolist()
    [[2.0, 6.0]]
    """

    def __init__(self, epsilon=0.0):
        if not epsilon >= 0:
            raise ValueError(f"Epsilon: epsilon must be >= 0, got {epsilon}")
        self.epsilon = float(epsilon)

    def groups(self, x, weight, bias):
        return [Group([Term(x)], bias, plain=True)]

    def explicit_groups(self, W, b, x, connected):
        q = x[:, None, :] * W[None]
        return [(1.0, q, b)]
