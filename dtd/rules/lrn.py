"""Rules for local renormalization layers: identity and first-order Taylor (Binder et al. 2016)."""
import numpy as np

from .base import Rule, safe_divide, stabilize

__all__ = ["LRNIdentity", "LRNTaylor"]


class _LRNRule(Rule):
    def layer_types(self):
        return ("LRN",)


class LRNIdentity(_LRNRule):
    """Treat the renormalization as the identity: ``R_x = R_y`` (the default for :class:`dtd.layers.LRN`)."""

    reference = {
        "name": "LRN identity",
        "formula": "R_x = R_y",
        "bias": "- (no bias)",
        "domain": "any x",
        "closed_form": "the identity on relevance",
        "conservation": "always",
        "peers": {"Zennit": "-", "iNNvestigate": "-", "Captum": "-", "LRP Toolbox": "-"},
        "tests": ["tests/test_lrn.py::test_identity_rule_passes_relevance_unchanged"],
    }

    def relevance(self, layer, x, R):
        return R.astype(x.dtype, copy=True)


class LRNTaylor(_LRNRule):
    r"""First-order Taylor rule for local renormalization (Binder et al., ICANN 2016, arXiv:1604.00825; seed 003).

    The layer (:class:`dtd.layers.LRN`) is
    :math:`y_k = x_k / (k + a \sum_{i \in w(k)} x_i^2)^\beta` with ``a = alpha/n``.
    Expanding :math:`y_k` at :math:`z_1 = x` and evaluating at
    :math:`z_2 = (0, \dots, x_k, \dots, 0)` splits it into the layer's own Taylor terms

    .. math::

        z_{kk} = y_k(z_2) = \frac{x_k}{(k + a x_k^2)^\beta}, \qquad
        z_{jk} = \frac{\partial y_k}{\partial x_j}(x)\, x_j
               = \frac{-2 a \beta\, x_j^2 x_k}{(k + a \sum_{i \in w(k)} x_i^2)^{\beta+1}} \quad (j \ne k,\ j \in w(k))

    and the relevance follows the terms, normalised (so conservative when :math:`\epsilon = 0`):

    .. math:: R_j = \sum_k \frac{z_{jk}}{Z_k + \epsilon\,\mathrm{sign}(Z_k)} R_k, \qquad Z_k = \sum_i z_{ik}

    The seed writes the layer as :math:`x_k / (1 + b \sum x_i^2)^c` with ``b = alpha/(n k)``, ``c = beta``,
    i.e. without the constant factor :math:`k^{-\beta}`; its terms are :math:`k^{\beta}` times the ones
    above.  With :math:`\epsilon = 0` the factor cancels and both give the same rule; with
    :math:`\epsilon > 0` they differ when ``k != 1``, and this rule uses the layer's own terms: the
    stabiliser is compared with :math:`Z_k \approx y_k`, the layer's output, as in every other rule of
    dtd (:class:`Epsilon` compares it with :math:`z_j`), so in the limit of constant normalisation
    (``alpha -> 0``, the seed's third check) the rule is LRP-epsilon with the same epsilon on the linear
    map :math:`y = k^{-\beta} x` (tested).  In the seed's units the stabiliser is
    :math:`\epsilon k^{\beta}`: ``LRNTaylor(eps)`` equals the seed's terms with
    ``eps * k**beta`` (tested).  For ``k = 1`` (AlexNet/CaffeNet, the seed's experiments) the two are one.

    Parameters
    ----------
    epsilon : float
        Stabiliser of the denominator (``sign(0) = +1``), in the units of the layer's output;
        0 means 0/0 := 0.

    >>> from dtd.layers import LRN
    >>> layer = LRN(size=1, alpha=0.0, beta=1.0, k=2.0)               # y = x / 2: a scaling
    >>> layer.relevance(np.array([[3.0]]), np.array([[1.0]]), LRNTaylor(0.5)).tolist()   # 1.5 / (1.5 + 0.5)
    [[0.75]]
    """

    reference = {
        "name": "LRN first-order Taylor",
        "formula": "R_j = sum_k z_jk / (sum_i z_ik + eps sign) R_k, z_kk = x_k / (k + a x_k^2)^beta, "
                   "z_jk = -2 a beta x_j^2 x_k / (k + a sum_{i in w(k)} x_i^2)^(beta+1), a = alpha/n",
        "bias": "- (no bias; the constant k stays in the terms: eps is in the units of y)",
        "domain": "any x (a neighbour that suppresses y_k gets negative relevance)",
        "root": "not a root point: y_k expanded at z1 = x, evaluated at z2 = (0, .., x_k, .., 0)",
        "direction": "-",
        "closed_form": "z_jk = dy_k/dx_j(x) x_j (j != k), z_kk = y_k(z2): LRNTaylor.terms",
        "conservation": "eps = 0 (up to the stabiliser: sum_k R_k Z_k / (Z_k + eps sign(Z_k)))",
        "peers": {"Zennit": "-", "iNNvestigate": "-", "Captum": "-", "LRP Toolbox": "-"},
        "tests": ["tests/test_lrn.py::test_taylor_terms_equal_finite_difference_jacobian",
                  "tests/test_lrn.py::test_taylor_rule_equals_explicit_loop",
                  "tests/test_lrn.py::test_taylor_rule_conserves_up_to_stabiliser",
                  "tests/test_lrn.py::test_stabiliser_is_in_the_units_of_the_output"],
    }

    def __init__(self, epsilon=1e-9):
        if not epsilon >= 0:
            raise ValueError(f"LRNTaylor: epsilon must be >= 0, got {epsilon}")
        self.epsilon = float(epsilon)

    @staticmethod
    def terms(layer, x):
        """``(z_diag, g)``: ``z_kk`` and ``g_k`` such that ``z_jk = g_k x_j^2`` for j != k in the window."""
        a = layer.alpha / layer.size
        z_diag = x * (layer.k + a * x * x) ** -layer.beta
        g = -2 * layer.beta * a * x * layer.denominator(x) ** (-layer.beta - 1)
        return z_diag, g

    def relevance(self, layer, x, R):
        z_diag, g = self.terms(layer, x)
        x2 = x * x
        off = g * (layer.channel_sum(x2) - x2)                       # sum_{j != k in w(k)} z_jk
        s = safe_divide(R, stabilize(z_diag + off, self.epsilon)).astype(x.dtype, copy=False)
        M = layer.window_matrix(x.shape[1], x.dtype)
        gs = g * s
        back = np.moveaxis(np.tensordot(gs, M.T, axes=([1], [0])), -1, 1)   # sum_{k: j in w(k)} g_k s_k
        return z_diag * s + x2 * (back - gs)
