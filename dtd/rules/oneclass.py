r"""The rules of one-class deep Taylor decomposition (OC-DTD).

Kauffmann, Mueller, Montavon, "Towards explaining anomalies: a deep Taylor
decomposition of one-class models", Pattern Recognition 101 (2020) 107198,
arXiv:1805.06230; seed 004, "DTD for Kernel Models".  A one-class SVM with a
Gaussian kernel, neuralised (:mod:`dtd.kernels`):

.. math::

    h_j = \lVert x - u_j \rVert^2 - \gamma^{-1} \log \alpha_j
    \quad (\text{distance layer}), \qquad
    o(x) = -\gamma^{-1} \log \sum_j e^{-\gamma h_j}
    \quad (\text{soft min-pooling}),

is explained by two rules, each the first-order Taylor expansion of its layer
at a root point (:class:`OCSoftMin` for the pooling, :class:`OCDistance` for
the distances).  Together they conserve: :math:`\sum_i R_i = o(x)` (up to
samples that sit exactly on a support vector, see :class:`OCDistance`).
"""
import numpy as np

from .base import Rule, safe_divide

__all__ = ["OCSoftMin", "OCDistance"]


class OCSoftMin(Rule):
    r"""OC-DTD rule of the soft min-pooling layer: relevance in proportion to the soft assignments.

    .. math::

        R_j = \frac{e^{-\beta h_j}}{\sum_k e^{-\beta h_k}}\, R_o, \qquad \beta = \gamma \text{ (default)}

    With :math:`\beta = \gamma` this is the paper's rule (:math:`R_o = o(x)` at
    the top): the share of :math:`o` that each distance neuron :math:`h_j`
    receives is its weight :math:`p_j = \partial o / \partial h_j` in the soft
    minimum.

    Derivation (deep Taylor at a root point):

    - *search direction* :math:`v = \mathbf 1` (all ones): move every
      :math:`h_j` by the same amount;
    - *root point* :math:`\tilde h = h - o(h)\,\mathbf 1`: by translation
      equivariance :math:`o(\tilde h) = o(h) - o(h) = 0`;
    - *Taylor terms*: :math:`o` is affine along :math:`\mathbf 1`, so the
      first-order expansion at :math:`\tilde h` is exact and its terms are
      :math:`\partial o/\partial h_j|_{\tilde h}\,(h_j - \tilde h_j) = p_j(\tilde h)\, o = p_j(h)\, o`
      (:math:`p` is translation-invariant): the rule's messages, conservative
      with no remainder.

    How the paper itself phrases this step (root point along :math:`\mathbf 1`)
    is our reading of its derivation; the resulting rule is the one it states.
    For ``beta != gamma`` the rule is a variant (still conservative, since the
    shares sum to one, but no longer the Taylor terms of :math:`o`): ``beta ->
    infinity`` sends everything to the nearest (most weighted) centre,
    ``beta = 0`` shares equally.  ``R_j >= 0`` wherever ``R_o >= 0``.

    Parameters
    ----------
    beta : float, optional
        Stiffness of the redistribution; None (default) = the layer's gamma.

    >>> from dtd.layers import SoftMinPool
    >>> OCSoftMin().relevance(SoftMinPool(np.log(3.0)), np.array([[0.0, 1.0]]), np.array([[4.0]])).tolist()
    [[3.0, 1.0]]
    """

    reference = {
        "name": "OC-DTD soft min-pooling",
        "formula": "R_j = exp(-beta h_j) / sum_k exp(-beta h_k) R_o (beta = gamma)",
        "bias": "- (no bias)",
        "domain": "any distances h",
        "root": "h~ = h - o(h) 1 (o(h~) = 0)",
        "direction": "v = 1",
        "closed_form": "the soft-min weights p_j = do/dh_j: OCSoftMin.root_point, OCSoftMin.taylor_messages",
        "conservation": "always (the shares sum to 1)",
        "peers": {"Zennit": "-", "iNNvestigate": "-", "Captum": "-", "LRP Toolbox": "-"},
        "tests": ["tests/test_oneclass.py::test_ocsoftmin_closed_form",
                  "tests/test_oneclass.py::test_ocsoftmin_root_point_and_taylor_terms"],
    }

    def __init__(self, beta=None):
        if beta is not None:
            beta = float(beta)
            if not (np.isfinite(beta) and beta >= 0):
                raise ValueError(f"OCSoftMin: beta must be finite and >= 0, got {beta}")
        self.beta = beta

    def layer_types(self):
        return ("SoftMinPool",)

    def relevance(self, layer, x, R):
        return (layer.weights(x, self.beta) * R).astype(x.dtype, copy=False)

    # -- the derivation, for the tests and the curious ----------------------------
    @staticmethod
    def search_direction(layer, h):
        """``v = 1``, shape (N, m)."""
        return np.ones_like(h)

    @staticmethod
    def root_point(layer, h):
        r""":math:`\tilde h = h - o(h)\mathbf 1`, shape (N, m): where the soft minimum is zero."""
        return h - layer._forward(h)

    @staticmethod
    def taylor_messages(layer, h, R):
        r"""First-order Taylor terms at the root point, scaled to ``R``:
        :math:`p_j(\tilde h)(h_j - \tilde h_j)\, R_o / o(h)` (0 where :math:`o = 0`), shape (N, m)."""
        ht = OCSoftMin.root_point(layer, h)
        return layer._backward(ht, np.ones((h.shape[0], 1), h.dtype)) * (h - ht) * safe_divide(R, layer._forward(h))


class OCDistance(Rule):
    r"""OC-DTD rule of the distance layer: relevance in proportion to the squared differences.

    .. math::

        R_i = \sum_j \frac{(x_i - u_{ij})^2}{\lVert x - u_j \rVert^2}\, R_j

    The bias :math:`b_j = -\gamma^{-1}\log\alpha_j` of :math:`h_j` is not in
    the denominator: all of :math:`R_j` goes to the input variables, so the
    rule conserves (:math:`\sum_i R_i = \sum_j R_j`) and is positive where
    :math:`R_j \ge 0`.  A sample exactly on a centre (:math:`x = u_j`, a
    support vector explained as itself) has nothing to share :math:`R_j` by:
    that message is zero (the convention 0/0 := 0), and :math:`R_j` is lost.

    Derivation (deep Taylor): relevance model
    :math:`R_j(x) = c_j \lVert x - u_j \rVert^2` with
    :math:`c_j = R_j / \lVert x - u_j\rVert^2` held constant (as DTD's
    relevance models hold such ratios);

    - *search direction* :math:`v_j = x - u_j`, the segment towards the centre;
    - *root point* :math:`\tilde x^{(j)} = x - 1 \cdot v_j = u_j`, the only
      point where :math:`R_j(x)` vanishes;
    - *Taylor terms*: :math:`R_j(x)` is quadratic with a diagonal Hessian
      :math:`2 c_j I`, so its expansion at :math:`u_j` is exact, its first-order
      terms at the root vanish, and its second-order terms
      :math:`c_j (x_i - u_{ij})^2` have no cross terms: each belongs to one
      variable.  Equivalently (mean value theorem, exact for a quadratic), the
      first-order terms with the gradient taken on the segment's midpoint
      :math:`(x + u_j)/2` are the messages:
      :math:`\partial R_j/\partial x_i|_{(x+u_j)/2}\,(x_i - u_{ij}) = c_j (x_i - u_{ij})^2`.

    The paper states the rule; which of these two equivalent readings its text
    uses is not asserted here.  For the Laplacian-type kernels the paper also
    covers (an :math:`\ell_p^p` distance) the same rule holds with
    :math:`|x_i - u_{ij}|^p`; only the Gaussian kernel is implemented.

    >>> from dtd.layers import SquaredDistance
    >>> layer = SquaredDistance([[0.0, 0.0], [3.0, 0.0]], [1.0, 2.0])
    >>> OCDistance().relevance(layer, np.array([[1.0, 2.0]]), np.array([[5.0, 8.0]])).tolist()
    [[5.0, 8.0]]
    """

    reference = {
        "name": "OC-DTD distance",
        "formula": "R_i = sum_j (x_i - u_ij)^2 / ||x - u_j||^2 R_j",
        "bias": "none (-log(alpha_j) / gamma is not shared)",
        "domain": "any x",
        "root": "x~ = u_j (the centre)",
        "direction": "v_j = x - u_j",
        "closed_form": "the squared differences: OCDistance.root_point, OCDistance.taylor_messages (midpoint gradient)",
        "conservation": "every j with x != u_j",
        "peers": {"Zennit": "-", "iNNvestigate": "-", "Captum": "-", "LRP Toolbox": "-"},
        "tests": ["tests/test_oneclass.py::test_ocdistance_closed_form",
                  "tests/test_oneclass.py::test_ocdistance_root_point_and_taylor_terms"],
    }

    def layer_types(self):
        return ("SquaredDistance",)

    def relevance(self, layer, x, R):
        out = np.empty_like(x)
        R = R.astype(x.dtype, copy=False)
        for rows, D in layer.squared_differences(x):          # D[n, j, i] = (x_i - u_ij)^2, bounded pieces
            s = safe_divide(R[rows], D.sum(axis=2))
            out[rows] = np.einsum("nji,nj->ni", D, s)
        return out

    # -- the derivation, for the tests and the curious ----------------------------
    @staticmethod
    def search_direction(layer, x):
        """``v_j = x - u_j``, shape (N, m, d)."""
        u, _ = layer.params(x.dtype)
        return x[:, None, :] - u[None]

    @staticmethod
    def root_point(layer, x):
        """``x - 1 * v_j = u_j`` for every sample, shape (N, m, d)."""
        return x[:, None, :] - OCDistance.search_direction(layer, x)

    @staticmethod
    def taylor_messages(layer, x, R):
        r"""First-order terms on the segment's midpoint: :math:`c_j\, 2(\bar x_i - u_{ij})(x_i - \tilde x_i)`
        with :math:`\bar x = (x + \tilde x)/2`, :math:`c_j = R_j / \lVert x - u_j\rVert^2`; shape (N, m, d)."""
        xt = OCDistance.root_point(layer, x)
        u, _ = layer.params(x.dtype)
        mid = (x[:, None, :] + xt) / 2
        c = safe_divide(R, layer.distances(x))
        return c[:, :, None] * 2 * (mid - u[None]) * (x[:, None, :] - xt)
