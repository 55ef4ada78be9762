r"""The min-max relevance model of deep Taylor decomposition (Montavon et al. 2017, Sec. 5; seed 001).

In a deep network the relevance :math:`R_k` of a neuron k is a complicated
function of the activations :math:`\{x_i\}` of the layer below. The min-max
model replaces it by a trainable one-layer detection-pooling network, for
each modelled neuron k with J detectors:

.. math::

    y_{kj} = \max\Big(0, \sum_i x_i v_{kji} + a_{kj}\Big), \qquad
    a_{kj} = \min\Big(0, \sum_l c_l u_{kjl} + d_{kj}\Big), \qquad
    \hat R_k = \sum_j y_{kj},

where :math:`c_l` is a context vector (the relevances :math:`R_l` of the upper
layer's neurons in seed 001's notation) that enters only through the
non-positive bias :math:`a_{kj}`. :math:`\{v, u, d\}` are fitted by least squares,
:math:`\min \langle (\hat R_k - R_k)^2 \rangle`, on sampled activations
(:meth:`MinMaxModel.fit`, L-BFGS through :func:`scipy.optimize.minimize`).

Because the model is a detection-pooling network with non-positive biases,
the one-layer rules explain it (:meth:`MinMaxModel.relevance`):

- pooling: :math:`R_{kj} = y_{kj}`;
- detection: :math:`R_i = \sum_{kj} \frac{q_{kji}}{\sum_{i'} q_{kji'}} R_{kj}`, with
  :math:`q = v^2` (w^2 rule), :math:`x_i v^+` (z+ rule) or
  :math:`x_i v - l_i v^+ - h_i v^-` (z^B rule), run by :mod:`dtd.rules`.

The result sums to :math:`\sum_k \hat R_k`, not to the true :math:`\sum_k R_k`:
the model is conservative and positive only up to its fitting error
("approximately consistent"). ``relevance(..., R=R)`` rescales each
:math:`R_{kj}` by :math:`R_k / \hat R_k` instead, which conserves the true relevance.

Shapes: ``x`` (N, D) inputs, ``c`` (N, L) context, ``R`` (N, K) true
relevances; parameters ``v`` (K, J, D), ``u`` (K, J, L), ``d`` (K, J).
"""
import numpy as np

from ._validation import check_input

__all__ = ["MinMaxModel"]


def _as_rows(a, name, dtype=np.float64, cols=None):
    a = check_input(np.asarray(a, dtype=dtype) if not isinstance(a, np.ndarray) else a, "MinMaxModel",
                    ndim=2, name=name)
    if cols is not None and a.shape[1] != cols:
        raise ValueError(f"MinMaxModel: {name} has {a.shape[1]} columns, expected {cols} (shape {a.shape})")
    return a


class MinMaxModel:
    """K min-max relevance models with J detectors each (see the module docstring).

    Parameters
    ----------
    v : array_like, shape (K, J, D)
        Detector weights :math:`v_{kji}`.
    u : array_like, shape (K, J, L)
        Context weights :math:`u_{kjl}` (L may be 0: no context).
    d : array_like, shape (K, J)
        Bias offsets :math:`d_{kj}`.

    >>> m = MinMaxModel(v=[[[1.0, 2.0]]], u=[[[1.0]]], d=[[-1.0]])
    >>> m.forward(np.array([[1.0, 1.0]]), np.array([[0.5]])).tolist()    # max(0, 3 + min(0, 0.5 - 1))
    [[2.5]]
    """

    def __init__(self, v, u, d):
        self.v = np.array(v, dtype=np.float64)
        self.u = np.array(u, dtype=np.float64)
        self.d = np.array(d, dtype=np.float64)
        if self.v.ndim != 3 or self.u.ndim != 3 or self.d.ndim != 2:
            raise ValueError(f"MinMaxModel: need v (K, J, D), u (K, J, L), d (K, J); got shapes "
                             f"{self.v.shape}, {self.u.shape}, {self.d.shape}")
        if self.u.shape[:2] != self.v.shape[:2] or self.d.shape != self.v.shape[:2]:
            raise ValueError(f"MinMaxModel: v, u and d disagree on (K, J): {self.v.shape[:2]}, "
                             f"{self.u.shape[:2]}, {self.d.shape}")
        for name in ("v", "u", "d"):
            if not np.isfinite(getattr(self, name)).all():
                raise ValueError(f"MinMaxModel: {name} contains NaN or Inf")

    @property
    def shape(self):
        """``(K, J, D, L)``: modelled neurons, detectors per neuron, inputs, context size."""
        K, J, D = self.v.shape
        return K, J, D, self.u.shape[2]

    def _check(self, x, c):
        K, J, D, L = self.shape
        x = _as_rows(x, "x", cols=D)
        c = _as_rows(np.zeros((len(x), 0), x.dtype) if c is None and L == 0 else c, "c", cols=L)
        if len(c) != len(x):
            raise ValueError(f"MinMaxModel: x has {len(x)} rows but c has {len(c)}")
        return x, c

    def parts(self, x, c):
        """The detectors' pieces for inputs ``x`` (N, D) and context ``c`` (N, L).

        Returns
        -------
        pre : ndarray (N, K, J)
            :math:`\\sum_i x_i v_{kji}`.
        s : ndarray (N, K, J)
            :math:`\\sum_l c_l u_{kjl} + d_{kj}` (the bias before the min).
        y : ndarray (N, K, J)
            :math:`\\max(0, \\text{pre} + \\min(0, s))`.
        """
        x, c = self._check(x, c)
        K, J, D, L = self.shape
        pre = (x @ self.v.reshape(K * J, D).T.astype(x.dtype)).reshape(-1, K, J)
        s = (c @ self.u.reshape(K * J, L).T.astype(x.dtype)).reshape(-1, K, J) + self.d.astype(x.dtype)
        return pre, s, np.maximum(pre + np.minimum(s, 0), 0)

    def forward(self, x, c=None):
        """:math:`\\hat R_k = \\sum_j y_{kj}`, shape (N, K)."""
        return self.parts(x, c)[2].sum(axis=2)

    def detector_layer(self):
        """The detection layer as a :class:`dtd.layers.Dense` with weight ``v`` reshaped to (K*J, D), no bias."""
        from .layers import Dense
        K, J, D, _ = self.shape
        return Dense(self.v.reshape(K * J, D), np.zeros(K * J))

    def relevance(self, x, c=None, rule=None, R=None):
        r"""Input relevance (N, D) by the one-layer rules (pooling :math:`R_{kj} = y_{kj}`, then ``rule``).

        Parameters
        ----------
        x : ndarray (N, D)
        c : ndarray (N, L), optional when L = 0
        rule : dtd.rules rule, optional
            :class:`~dtd.rules.ZPlus` (default; for :math:`x \ge 0`),
            :class:`~dtd.rules.WSquare` or :class:`~dtd.rules.ZBox`.
        R : ndarray (N, K), optional
            True relevances; if given, :math:`R_{kj} = y_{kj} R_k / \hat R_k`
            (0 where :math:`\hat R_k = 0`), so the result sums to :math:`\sum_k R_k`
            wherever the model detects something.

        Returns
        -------
        ndarray (N, D)
        """
        from .rules import ZPlus
        from .rules.base import safe_divide

        x, c = self._check(x, c)
        K, J = self.v.shape[:2]
        y = self.parts(x, c)[2]
        if R is not None:
            R = np.asarray(R, dtype=x.dtype)
            if R.shape != (len(x), K):
                raise ValueError(f"MinMaxModel: R must have shape ({len(x)}, {K}), got {R.shape}")
            y = y * safe_divide(R, y.sum(axis=2))[:, :, None]
        return self.detector_layer().relevance(x, y.reshape(len(x), K * J), ZPlus() if rule is None else rule)

    # -- fitting -----------------------------------------------------------------
    def _unpack(self, theta):
        K, J, D, L = self.shape
        a, b = K * J * D, K * J * (D + L)
        return theta[:a].reshape(K, J, D), theta[a:b].reshape(K, J, L), theta[b:].reshape(K, J)

    def objective(self, x, c, R):
        r"""Least-squares loss :math:`\frac{1}{2N} \sum_{n,k} (\hat R_{nk} - R_{nk})^2` and its gradient.

        Returns
        -------
        (float, tuple of ndarray)
            The loss and its gradients w.r.t. ``(v, u, d)``.
        """
        x, c = self._check(x, c)
        K, J, D, L = self.shape
        pre, s, y = self.parts(x, c)
        n = len(x)
        e = y.sum(axis=2) - R
        g = e[:, :, None] * (pre + np.minimum(s, 0) > 0) / n          # dL/d(pre + a), (N, K, J)
        gs = g * (s < 0)                                               # dL/ds
        gv = (g.reshape(n, K * J).T @ x).reshape(K, J, D)
        gu = (gs.reshape(n, K * J).T @ c).reshape(K, J, L)
        return 0.5 * float(np.sum(e * e)) / n, (gv, gu, gs.sum(axis=0))

    @classmethod
    def init(cls, x, c, R, n_detectors=4, seed=0):
        """A starting point for :meth:`fit`: positive random detectors scaled to the mean relevance.

        ``v = |N(0, 1)| * scale`` (every detector active on non-negative inputs, with
        ``scale`` such that the mean of :math:`\\hat R` matches the mean of R), ``u = 0``,
        and ``d`` a tenth of each detector's mean input below zero, so that the
        context term is active (:math:`a = s < 0`) and receives gradients.
        """
        x, R = np.asarray(x, np.float64), np.asarray(R, np.float64)
        c = np.zeros((len(x), 0)) if c is None else np.asarray(c, np.float64)
        K, J, D, L = R.shape[1], int(n_detectors), x.shape[1], c.shape[1]
        rng = np.random.default_rng(seed)
        v = np.abs(rng.normal(size=(K, J, D)))
        mean_pre = np.maximum(x.mean(axis=0) @ v.reshape(K * J, D).T, 1e-12).reshape(K, J)
        scale = np.maximum(R.mean(axis=0), 1e-12)[:, None] / (J * mean_pre)
        v *= scale[:, :, None]
        return cls(v, np.zeros((K, J, L)), -0.1 * mean_pre * scale)

    @classmethod
    def fit(cls, x, c, R, n_detectors=4, seed=0, init=None, max_iter=300, tol=1e-10):
        r"""Fit the model to true relevances ``R`` by least squares (L-BFGS, exact gradients).

        Parameters
        ----------
        x : ndarray (N, D)
            Sampled input activations.
        c : ndarray (N, L) or None
            Context (None: no context, L = 0).
        R : ndarray (N, K)
            True relevances of the K modelled neurons.
        n_detectors : int
            J.
        seed : int
            Of the starting point (:meth:`init`), unless ``init`` is given.
        init : MinMaxModel, optional
        max_iter : int
            L-BFGS iterations.
        tol : float
            ``ftol`` of L-BFGS-B.

        Returns
        -------
        model : MinMaxModel
        info : dict
            ``loss`` (final objective), ``r2`` (1 - SSE / total sum of squares of R),
            ``iterations``, ``message``.
        """
        from scipy.optimize import minimize

        x = _as_rows(np.asarray(x, dtype=np.float64), "x")
        c = np.zeros((len(x), 0)) if c is None else _as_rows(np.asarray(c, dtype=np.float64), "c")
        R = _as_rows(np.asarray(R, dtype=np.float64), "R")
        if not (len(x) == len(c) == len(R)):
            raise ValueError(f"MinMaxModel.fit: x, c and R need the same number of rows, got "
                             f"{len(x)}, {len(c)}, {len(R)}")
        model = cls.init(x, c, R, n_detectors, seed) if init is None else cls(init.v, init.u, init.d)
        if model.shape[0] != R.shape[1] or model.shape[2:] != (x.shape[1], c.shape[1]):
            raise ValueError(f"MinMaxModel.fit: init has (K, J, D, L) = {model.shape}, the data need "
                             f"K={R.shape[1]}, D={x.shape[1]}, L={c.shape[1]}")

        def fun(theta):
            model.v, model.u, model.d = (a.copy() for a in model._unpack(theta))
            value, grads = model.objective(x, c, R)
            return value, np.concatenate([g.ravel() for g in grads])

        theta0 = np.concatenate([model.v.ravel(), model.u.ravel(), model.d.ravel()])
        res = minimize(fun, theta0, jac=True, method="L-BFGS-B",
                       options={"maxiter": int(max_iter), "ftol": tol, "gtol": 1e-12})
        model.v, model.u, model.d = (a.copy() for a in model._unpack(res.x))
        loss = model.objective(x, c, R)[0]
        total = 0.5 * float(np.sum((R - R.mean(axis=0)) ** 2)) / len(R)
        return model, {"loss": loss, "r2": 1.0 - loss / total if total > 0 else float(loss == 0),
                       "iterations": int(res.nit), "message": str(res.message)}
