"""Reading a results directory written by :func:`~dtd.batch.explain_dataset` / :func:`~dtd.batch.evaluate_dataset`."""
from pathlib import Path

import numpy as np

from .store import chunk_name, npy_header, read_index

__all__ = ["IncompleteResults", "iter_results", "load_results", "assemble", "load_evaluation",
           "evaluation_summary", "missing_chunks"]


class IncompleteResults(RuntimeError):
    """Some chunks of the run are not done (rerun the same call to finish them)."""


def _expected(index, i):
    a, b = index["chunks"][i]
    return (b - a,) + tuple(index["result"]["shape"]), np.dtype(index["result"]["dtype"])


def missing_chunks(out_dir):
    """Chunks not (or not wholly) written: not in the index, or a file missing, cut short or of the wrong shape."""
    index = read_index(out_dir)
    done = index.get("done", {})
    out = []
    for i in range(len(index["chunks"])):
        h = npy_header(Path(out_dir) / chunk_name(i)) if str(i) in done else None
        if h is None or not h[2] or (h[0], h[1]) != _expected(index, i):
            out.append(i)
    return out


def _check_complete(out_dir, index):
    missing = missing_chunks(out_dir)
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (", ..." if len(missing) > 10 else "")
        raise IncompleteResults(f"{out_dir}: {len(missing)} of {len(index['chunks'])} chunks are not done "
                                f"({shown}); run the same command again to finish them")


def iter_results(out_dir, mmap_mode="r"):
    """``(start, stop, array)`` per chunk in input order (memory-mapped by default).

    Raises
    ------
    IncompleteResults
        If any chunk is missing (checked before the first is yielded).
    """
    index = read_index(out_dir)
    _check_complete(out_dir, index)
    for i, (a, b) in enumerate(index["chunks"]):
        yield a, b, np.load(Path(out_dir) / chunk_name(i), mmap_mode=mmap_mode, allow_pickle=False)


def load_results(out_dir):
    """All results in one array, shape (N, ...) in input order.

    >>> import numpy as np, tempfile, dtd
    >>> from dtd.batch import explain_dataset
    >>> net = dtd.Sequential([dtd.layers.Dense([[1.0, 2.0]], [0.0])])
    >>> d = tempfile.mkdtemp()
    >>> _ = explain_dataset(net, np.ones((3, 2)), "lrp-0", d, chunk_size=2, executor="serial", progress=False)
    >>> load_results(d).tolist()
    [[1.0, 2.0], [1.0, 2.0], [1.0, 2.0]]
    """
    index = read_index(out_dir)
    shape = (index["n"],) + tuple(index["result"]["shape"])
    out = np.empty(shape, dtype=np.dtype(index["result"]["dtype"]))
    for a, b, arr in iter_results(out_dir):
        out[a:b] = arr
    return out


def assemble(out_dir, path):
    """Write all results into one ``.npy`` at ``path``, chunk by chunk; returns it memory-mapped (read-only)."""
    index = read_index(out_dir)
    _check_complete(out_dir, index)
    shape = (index["n"],) + tuple(index["result"]["shape"])
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.dtype(index["result"]["dtype"]), shape=shape)
    for a, b, arr in iter_results(out_dir):
        mm[a:b] = arr
    mm.flush()
    del mm
    return np.load(path, mmap_mode="r", allow_pickle=False)


def load_evaluation(out_dir):
    """Per input and method: every field of an :func:`~dtd.batch.evaluate_dataset` run.

    Returns
    -------
    dict
        ``"methods"``: the method names (M); every field of
        :data:`dtd.batch.jobs.EVALUATE_FIELDS` as an array (N, M) (``"target"``
        as int); with curves, ``"curve_most"``, ``"curve_least"``,
        ``"curve_random"`` of shape (N, M, S + 1).
    """
    index = read_index(out_dir)
    if index.get("kind") != "evaluate":
        raise ValueError(f"{out_dir}: holds a {index.get('kind')!r} run, not an evaluation")
    data = load_results(out_dir)
    out = {"methods": list(index["methods"])}
    for name, (a, b) in index["result"]["fields"].items():
        out[name] = data[:, :, a] if name in _SCALARS else data[:, :, a:b]
    out["target"] = out["target"].astype(np.intp)
    return out


_SCALARS = ("target", "f_c", "sum_R", "conservation_error", "negative_share", "negative_mass", "continuity",
            "auc_most", "aopc_most", "auc_least", "aopc_least", "auc_random", "aopc_random")


def evaluation_summary(out_dir):
    """One row (dict) per method: the mean over all inputs of each column (as ``Comparison.summary``).

    The continuity mean skips inputs whose value is NaN (no perturbation changed them).
    """
    ev = load_evaluation(out_dir)
    rows = []
    for m, name in enumerate(ev["methods"]):
        row = {"method": name, "sample": "mean"}
        for c in _SCALARS[1:]:
            v = ev[c][:, m]
            row[c] = float(np.nanmean(v)) if c == "continuity" and not np.isnan(v).all() else float(v.mean())
        rows.append(row)
    return rows
