"""The experiments' calls into :mod:`dtd.evaluate` (conservation, positivity, pixel flipping), in one place."""
import numpy as np

__all__ = ["conservation_error", "negative_share", "flip_curves", "summarize"]


def conservation_error(R, f):
    """Relative error of sum_p R_p against f(x), per sample (N,)."""
    from ..evaluate import conservation
    return conservation(R, f).error


def relevance_total(R):
    """sum_p R_p per sample (N,)."""
    return R.reshape(len(R), -1).sum(axis=1, dtype=np.float64)


def negative_share(R):
    """Share of the relevance mass that is negative, per sample (N,)."""
    from ..evaluate import positivity
    return positivity(R).share


def flip_curves(net, x, R, per_step, orders=("most", "least", "random"), seed=0):
    """Pixel flipping (replacement by 0, the MNIST background) of output 0: ``{order: FlipCurve}``."""
    from ..evaluate import selectivity
    return selectivity(net, x, R, np.zeros(len(x), dtype=np.intp), orders=orders, per_step=per_step,
                       replacement="constant", value=0.0, seed=seed, progress=False)


def summarize(R, f, curves, side=None):
    """One table row of checks for the relevance ``R`` (N, 1, 28, 56) of outputs ``f`` (N,).

    ``side`` (N,) (0 = the digit 0-3 is on the left half) adds the share of the positive
    relevance that lies on the digit 0-3's half.
    """
    err = conservation_error(R, f)
    row = {"conservation error (mean)": float(np.mean(err)), "conservation error (max)": float(np.max(err)),
           "negative share (mean)": float(np.mean(negative_share(R))),
           "negative share (max)": float(np.max(negative_share(R)))}
    for order, c in curves.items():
        row[f"AUC {order} first" if order != "random" else "AUC random"] = float(np.mean(c.auc))
    if side is not None:
        Rp = np.maximum(R[:, 0], 0)
        left, right = Rp[..., :28].sum(axis=(1, 2)), Rp[..., 28:].sum(axis=(1, 2))
        total = np.maximum(left + right, 1e-300)
        row["positive relevance on the 0-3 digit"] = float(np.mean(np.where(side == 0, left, right) / total))
    return row
