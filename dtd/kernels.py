r"""One-class SVMs as neural networks (neuralisation), so that deep Taylor decomposition explains them.

Kauffmann, Mueller, Montavon, "Towards explaining anomalies: a deep Taylor
decomposition of one-class models", Pattern Recognition 101 (2020) 107198,
arXiv:1805.06230; seed 004 ("DTD for Kernel Models").  A one-class SVM with the
Gaussian kernel,

.. math::

    f(x) = \sum_j \alpha_j\, e^{-\gamma \lVert x - u_j \rVert^2}
    \qquad (\text{support vectors } u_j,\ \alpha_j > 0),

has the outlier score :math:`o(x) = -\gamma^{-1} \log f(x)` (large = far from
the data), which is exactly a two-layer network:

.. math::

    h_j = \lVert x - u_j \rVert^2 - \gamma^{-1} \log \alpha_j, \qquad
    o = -\gamma^{-1} \log \sum_j e^{-\gamma h_j},

a distance layer (:class:`~dtd.layers.SquaredDistance`) and a soft min-pooling
(:class:`~dtd.layers.SoftMinPool`).

``net.explain(x, None)`` (the layers' default rules :class:`~dtd.rules.OCSoftMin`
and :class:`~dtd.rules.OCDistance`) is OC-DTD; ``net.forward(x)`` is
:math:`o(x)`, shape (N, 1), for inputs of shape (N, d) as in scikit-learn.

With :math:`\sum_j \alpha_j = 1` (the dual of Schoelkopf et al.'s one-class
SVM; ``normalize=True`` in :func:`from_sklearn`) :math:`f \le 1`, so
:math:`o(x) \ge 0` for every x and OC-DTD's relevance is positive.

>>> net = oneclass_network([[0.0, 0.0], [2.0, 0.0]], [0.5, 0.5], gamma=1.0)
>>> x = np.array([[1.0, 1.0]])
>>> net.forward(x).round(12).tolist()                # both centres at squared distance 2
[[2.0]]
>>> net.explain(x, None).tolist()                     # OC-DTD: half to each coordinate
[[1.0, 1.0]]
"""
import numpy as np

from .layers.distance import SquaredDistance
from .layers.softmin import SoftMinPool
from .network import Sequential

__all__ = ["oneclass_network", "from_sklearn", "decision_threshold"]


def oneclass_network(support_vectors, alpha, gamma):
    r"""The neuralised one-class SVM :math:`o(x) = -\gamma^{-1}\log\sum_j \alpha_j e^{-\gamma\lVert x-u_j\rVert^2}`.

    Parameters
    ----------
    support_vectors : array_like, shape (m, d)
        :math:`u_j`.
    alpha : array_like, shape (m,)
        :math:`\alpha_j > 0` (the bias of the distance layer is :math:`-\gamma^{-1}\log\alpha_j`).
    gamma : float
        Kernel parameter :math:`\gamma > 0` of :math:`e^{-\gamma \lVert x - u\rVert^2}`.

    Returns
    -------
    dtd.Sequential
        ``[SquaredDistance(u, -log(alpha)/gamma), SoftMinPool(gamma)]``: (N, d) -> (N, 1).

    Raises
    ------
    ValueError
        ``alpha`` not of shape (m,), or some :math:`\alpha_j \le 0` (the log is undefined: the
        neuralisation needs positive coefficients), or ``gamma <= 0``.
    """
    pool = SoftMinPool(gamma)                                         # checks gamma
    u = np.asarray(support_vectors, dtype=np.float64)
    a = np.asarray(alpha, dtype=np.float64)
    if u.ndim != 2:
        raise ValueError(f"oneclass_network: support_vectors must be (m, d), got shape {u.shape}")
    if a.shape != (u.shape[0],):
        raise ValueError(f"oneclass_network: alpha must have shape ({u.shape[0]},) (one per support vector), "
                         f"got {a.shape}")
    bad = np.flatnonzero(~(a > 0))
    if bad.size:
        raise ValueError(f"oneclass_network: alpha_j must be > 0 for the distance layer's bias "
                         f"-log(alpha_j)/gamma; {bad.size} are not (first: alpha[{bad[0]}] = {a[bad[0]]})")
    return Sequential([SquaredDistance(u, -np.log(a) / pool.gamma), pool])


def _sklearn_parts(model):
    """``(support_vectors, dual_coef, gamma, offset)`` of a fitted scikit-learn OneClassSVM, checked."""
    try:
        from sklearn.svm import OneClassSVM
    except ImportError:          # pragma: no cover - the caller has a model, so sklearn is there
        OneClassSVM = None
    if OneClassSVM is None or not isinstance(model, OneClassSVM):
        raise TypeError(f"from_sklearn: expected a fitted sklearn.svm.OneClassSVM, got {type(model).__module__}."
                        f"{type(model).__name__}")
    kernel = model.kernel
    if kernel != "rbf":
        name = kernel if isinstance(kernel, str) else f"callable {getattr(kernel, '__name__', kernel)!r}"
        raise ValueError(f"from_sklearn: kernel {name} is not supported; the neuralisation needs the Gaussian "
                         f"kernel exp(-gamma ||x - u||^2), kernel='rbf'")
    if not hasattr(model, "support_vectors_") or not hasattr(model, "dual_coef_"):
        raise ValueError("from_sklearn: the OneClassSVM is not fitted (call model.fit(X) first)")
    def dense(a):                # a model fitted on a sparse matrix keeps sparse support vectors and coefficients
        return np.asarray(a.toarray() if hasattr(a, "toarray") else a, dtype=np.float64)

    u = dense(model.support_vectors_)
    a = dense(model.dual_coef_).reshape(-1)
    gamma = getattr(model, "_gamma", None)           # 'scale' and 'auto' resolved at fit time
    if gamma is None:
        raise ValueError("from_sklearn: the model has no resolved gamma (_gamma); is it fitted?")
    offset = float(np.asarray(model.offset_).reshape(()))
    return u, a, float(gamma), offset


def from_sklearn(model, normalize=True):
    r"""The neuralised network of a fitted ``sklearn.svm.OneClassSVM`` (kernel ``'rbf'``).

    scikit-learn's model computes (``a = dual_coef_``, ``u = support_vectors_``,
    ``gamma = model._gamma``, the value ``'scale'`` and ``'auto'`` resolve to
    at fit time)

    .. math::

        \text{score\_samples}(x) = \sum_j a_j e^{-\gamma \lVert x - u_j\rVert^2}, \qquad
        \text{decision\_function}(x) = \text{score\_samples}(x) - \text{offset\_}

    with ``offset_ = -intercept_`` (libsvm's :math:`\rho`).  With
    :math:`S = \sum_j a_j` (libsvm scales the coefficients so that
    :math:`S = \nu \cdot n_{\text{train}}`) and :math:`\alpha_j = a_j / S`
    (``normalize=True``, the default; :math:`\alpha_j = a_j` otherwise, :math:`S := 1`),
    the returned network computes

    .. math:: o(x) = -\frac1\gamma \log \frac{\text{decision\_function}(x) + \text{offset\_}}{S},

    a strictly decreasing function of the decision function; scikit-learn's
    outliers (``predict == -1``, decision < 0) are the x with
    :math:`o(x) >` :func:`decision_threshold` ``(model)``.

    The user loads the model (scikit-learn models are pickles; ``dtd`` never
    unpickles) and passes the object; save the network with :func:`dtd.save`.

    Parameters
    ----------
    model : sklearn.svm.OneClassSVM
        Fitted, ``kernel='rbf'``.
    normalize : bool
        Scale the coefficients to sum to one (then :math:`o(x) \ge 0` everywhere, and OC-DTD is positive).

    Returns
    -------
    dtd.Sequential
        (N, d) -> (N, 1), see :func:`oneclass_network`.

    Raises
    ------
    TypeError
        Not a OneClassSVM.
    ValueError
        Another kernel, an unfitted model, or a coefficient :math:`a_j \le 0`.
    """
    u, a, gamma, _ = _sklearn_parts(model)
    if not (a > 0).all():
        bad = np.flatnonzero(~(a > 0))
        raise ValueError(f"from_sklearn: dual_coef_ has {bad.size} coefficients <= 0 (first: dual_coef_[0, {bad[0]}] = "
                         f"{a[bad[0]]}); the neuralisation needs alpha_j > 0")
    if normalize:
        a = a / a.sum()
    return oneclass_network(u, a, gamma)


def decision_threshold(model, normalize=True):
    r"""The outlier score :math:`\theta` at scikit-learn's decision boundary: decision_function(x) < 0 iff o(x) > theta.

    .. math:: \theta = -\frac1\gamma \log \frac{\text{offset\_}}{S}

    for the network :func:`from_sklearn` ``(model, normalize)`` returns (:math:`S = \sum_j a_j`,
    or 1 without ``normalize``).  Raises ValueError if ``offset_ <= 0`` (then every x is an inlier
    and there is no such threshold).
    """
    u, a, gamma, offset = _sklearn_parts(model)
    if not offset > 0:
        raise ValueError(f"decision_threshold: offset_ = {offset} <= 0: decision_function + offset_ > 0 for all x, "
                         f"so no x is an outlier")
    S = a.sum() if normalize else 1.0
    return float(-np.log(offset / S) / gamma)
