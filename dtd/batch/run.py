"""explain_dataset and evaluate_dataset: a job over chunks of the inputs, results to a directory."""
import os
import time
from typing import NamedTuple

import numpy as np

from .executors import dask_client, run_dask, run_local, run_serial
from .inputs import open_inputs
from .jobs import EvaluateJob, ExplainJob, ModelRef, default_loader, model_fingerprint
from .store import Store

__all__ = ["explain_dataset", "evaluate_dataset", "RunSummary", "chunk_bounds"]


class RunSummary(NamedTuple):
    """What a run did."""

    #: the results directory
    out_dir: str
    #: number of chunks of the inputs
    chunks: int
    #: chunks computed by this run
    computed: int
    #: chunks found done and skipped
    skipped: int
    #: wall-clock seconds of this run
    seconds: float


def chunk_bounds(n, chunk_size):
    """``[start, stop]`` of each chunk of ``n`` inputs.

    >>> chunk_bounds(5, 2)
    [[0, 2], [2, 4], [4, 5]]
    """
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ValueError(f"chunk_size must be an int >= 1, got {chunk_size!r}")
    return [[a, min(a + int(chunk_size), n)] for a in range(0, n, int(chunk_size))]


def _target_spec(target, n):
    if target is None:
        return None, "argmax"
    t = np.asarray(target)
    if not np.issubdtype(t.dtype, np.integer):
        raise TypeError(f"target must be None, an int or an int array, got dtype {t.dtype}")
    if t.ndim == 0:
        return int(t), int(t)
    if t.shape != (n,):
        raise ValueError(f"target must have one entry per input ({n}), got shape {t.shape}")
    import hashlib
    return t, {"sha256": hashlib.sha256(np.ascontiguousarray(t, dtype=np.int64).tobytes()).hexdigest()}


def _versions():
    from .. import __version__
    return {"dtd": __version__, "numpy": np.__version__}


def _executor_kind(executor, workers):
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, (int, np.integer))
                                or workers < 1):
        raise ValueError(f"workers must be an int >= 1, got {workers!r}")
    if executor is None or executor == "processes":
        return "processes"
    if executor == "serial":
        return "serial"
    if isinstance(executor, str) and ":" not in executor:
        raise ValueError(f"executor must be None, 'processes', 'serial', a dask Client or a scheduler "
                         f"address such as 'tcp://host:8786', got {executor!r}")
    return "dask"


def _run(job, model, inputs, out_dir, *, chunk_size, executor, workers, target, progress, loader, dtype,
         reader, overwrite, retries, on_chunk, fsync):
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    source = open_inputs(inputs, dtype, reader)
    bounds = chunk_bounds(source.n, chunk_size)
    tgt, tgt_spec = _target_spec(target, source.n)
    kind = _executor_kind(executor, workers)
    if isinstance(model, (str, os.PathLike)):
        # loaded here first: a bad file fails now with the loader's message, not in every worker
        loaded = (loader or default_loader)(model)
        ref = ModelRef(model, loader)
        notes = {"model_path": ref.path}
        model_spec = {"sha256": ref.fingerprint, "of": "file",
                      "loader": _callable_name(loader)}
    else:
        if loader is not None:
            raise ValueError("loader is for a model given as a path")
        try:
            fp = model_fingerprint(model)
        except TypeError:
            raise TypeError(f"model must be a path or a dtd network (Sequential or Graph), got "
                            f"{type(model).__name__}; for other models give a path and a loader") from None
        ref, loaded, notes = None, model, {}
        model_spec = {"sha256": fp, "of": "network"}
    spec = {"kind": job.kind, "n": source.n, "chunk_size": int(chunk_size), "chunks": bounds,
            "inputs": source.describe(), "target": tgt_spec, "model": model_spec, **job.spec(),
            "result": job.result(source.sample_shape, source.dtype), "versions": _versions(), "notes": notes}
    with Store(out_dir, spec, order=source.order(), overwrite=overwrite, fsync=fsync) as store:
        todo = store.todo()
        n_chunks = len(bounds)

        def make_args(i):  # called as chunk i is submitted: only the chunks in flight are in memory
            a, b = bounds[i]
            t = tgt[a:b] if isinstance(tgt, np.ndarray) else tgt
            return source.payload(a, b), a, b, t

        client, close = None, False
        if kind != "serial":
            loaded = None if ref is not None else loaded   # the workers load their own copy
        if not todo:
            results = iter(())
        elif kind == "serial":
            results = run_serial(job, loaded, todo, make_args, bounds)
        elif kind == "processes":
            if ref is None:  # a network object: saved once into out_dir, loaded by each worker
                from ..io import save
                path = os.path.join(store.dir, "model.npz")
                save(loaded, path)
                ref = ModelRef(path, _load_native)
            results = run_local(job, ref, todo, make_args, bounds, workers=workers or os.cpu_count() or 1,
                                retries=retries)
        else:
            client, close = dask_client(executor)
        try:
            if kind == "dask" and todo:
                if ref is None:
                    [remote] = client.scatter([loaded], broadcast=True)
                else:
                    remote = ref
                results = run_dask(job, remote, todo, make_args, bounds, client, retries=retries,
                                   token=f"dtd-{job.kind}-{spec['model']['sha256'][:8]}")
            with tqdm(total=n_chunks, initial=n_chunks - len(todo), unit="chunk", desc=f"dtd {job.kind}",
                      disable=not progress) as bar:
                for i, result in results:
                    store.write_chunk(i, result)
                    bar.update(1)
                    if on_chunk is not None:
                        on_chunk(i, *bounds[i])
        finally:
            if close:
                client.close()
    return RunSummary(str(store.dir), n_chunks, len(todo), n_chunks - len(todo), time.perf_counter() - t0)


def _callable_name(f):
    """A stable name of a loader for the index (module.qualname; a partial with its arguments)."""
    if f is None:
        return None
    import functools
    if isinstance(f, functools.partial):
        return f"partial({_callable_name(f.func)}, args={f.args!r}, keywords={f.keywords!r})"
    return f"{getattr(f, '__module__', '?')}.{getattr(f, '__qualname__', type(f).__name__)}"


def _load_native(path):
    from ..io import load
    return load(path)


_COMMON_DOC = """
    chunk_size : int
        Inputs per chunk (one output file each, the unit of work and of resuming).
    executor : None, "processes", "serial", dask.distributed.Client or str
        None or "processes": a local process pool of ``workers`` processes
        (``multiprocessing`` "spawn": scripts need an ``if __name__ == "__main__":`` guard);
        "serial": in this process (the reference path); a Dask ``Client``, or a
        scheduler address (``"tcp://host:8786"``) to connect to (extra ``dask``).
    workers : int, optional
        Processes of the local pool (default: the number of CPUs).
    target : None, int or int array (N,)
        Explained output per input; None = each input's argmax.
    progress : bool
        A tqdm bar over the chunks.
    loader : callable, optional
        ``loader(path) -> model`` for a model given as a path (a module-level
        function, so that workers can import it); default ``dtd.io.load_any``
        where present, else :func:`dtd.load`.
    dtype : numpy dtype, optional
        Dtype of the inputs as computed (default: float64 for images, the
        array's own floating dtype otherwise).
    reader : callable, optional
        ``reader(path) -> ndarray`` (one sample) for file inputs, instead of
        the default image / ``.npy`` reading; a module-level function (it
        runs on the workers).
    overwrite : bool
        If ``out_dir`` holds a different run, replace it instead of refusing.
    retries : int
        How often a chunk whose worker died is computed again before giving up.
    on_chunk : callable, optional
        Called as ``on_chunk(chunk, start, stop)`` after each chunk is written.
    fsync : bool
        Flush each chunk and the index to disk (survives a machine crash, a
        few ms per chunk); without it a rename still never shows a half file
        after a process dies.

    Returns
    -------
    RunSummary
        ``(out_dir, chunks, computed, skipped, seconds)``.

    Raises
    ------
    ValueError
        ``out_dir`` holds a different run (and not ``overwrite``); bad inputs.
    dtd.batch.ChunkError
        The computation of a chunk failed (the message names the chunk and the cause).
    dtd.batch.WorkerLost
        A chunk's worker died more than ``retries`` times.
"""


def explain_dataset(model, inputs, rules, out_dir, *, rule_params=None, box=None, chunk_size=64,
                    executor=None, workers=None, target=None, progress=True, loader=None, dtype=None,
                    reader=None, overwrite=False, retries=3, on_chunk=None, fsync=True):
    """Explain every input, chunk by chunk, on a local process pool or a Dask cluster; results to ``out_dir``.

    Each chunk's relevance, ``model.explain(x[a:b], rules, target[a:b])``, is
    written to ``out_dir/chunk-NNNNN.npy`` as soon as it is done (see
    :mod:`dtd.batch.store`); a rerun with the same arguments computes only the
    chunks that are missing. Read the results with :func:`dtd.batch.load_results`
    or :func:`dtd.batch.iter_results`.

    The numbers do not depend on the executor or the number of workers: they
    equal, bit for bit, ``model.explain`` run on the same chunks in one process
    (``executor="serial"``). Against one call on the whole array they agree to
    rounding (about 1e-16 relative in float64): BLAS may sum in another order
    for another number of rows.

    Parameters
    ----------
    model : path or dtd network
        A model file (each worker loads it once, with ``loader``) or a
        :class:`~dtd.Sequential` / :class:`~dtd.Graph` (saved to
        ``out_dir/model.npz`` for the local workers, broadcast once to Dask
        workers).
    inputs : ndarray, path to a ``.npy``, directory or glob pattern
        See :mod:`dtd.batch.inputs`.
    rules : str or rules
        A method name (:func:`dtd.evaluate.methods.names`: a composite of
        :mod:`dtd.composites`, or "sensitivity", "gradient-x-input") or anything
        :meth:`dtd.Sequential.explain` takes.
    out_dir : path
    rule_params : dict, optional
        Parameters of a composite given by name (e.g. ``{"epsilon": 0.25}``, or
        ``{"low": 0.0, "high": 1.0}``).
    box : (low, high), optional
        Input bounds for the composites with z^B at the input
        (:data:`dtd.evaluate.methods.BOX_METHODS`): floats, or arrays per channel.
    """
    job = ExplainJob(rules, rule_params, box)
    return _run(job, model, inputs, out_dir, chunk_size=chunk_size, executor=executor, workers=workers,
                target=target, progress=progress, loader=loader, dtype=dtype, reader=reader,
                overwrite=overwrite, retries=retries, on_chunk=on_chunk, fsync=fsync)


def evaluate_dataset(model, inputs, out_dir, methods=("dtd",), *, box=None, params=None,
                     continuity_options=None, flipping_options=None, curves=True, chunk_size=64,
                     executor=None, workers=None, target=None, progress=True, loader=None, dtype=None,
                     reader=None, overwrite=False, retries=3, on_chunk=None, fsync=True):
    """Check explanation methods on every input (:func:`dtd.evaluate.compare.evaluate_method`), chunk by chunk.

    Per chunk, for each method: conservation, positivity, continuity, pixel
    flipping most and least relevant first, and the random baseline (once per
    chunk). Results as in :func:`explain_dataset`; read them with
    :func:`dtd.batch.load_evaluation` (per input and method) or
    :func:`dtd.batch.evaluation_summary` (means per method). Random draws use
    each input's index in the data set, so the numbers do not depend on the
    chunking or the executor.

    Parameters
    ----------
    model : path or dtd network
    inputs : ndarray, path to a ``.npy``, directory or glob pattern
    out_dir : path
    methods : str or sequence of str
        Names from :func:`dtd.evaluate.methods.names`.
    box, params, continuity_options, flipping_options
        As in :func:`dtd.evaluate.compare.compare` (``params``: method -> parameters,
        over :data:`dtd.evaluate.compare.DEFAULT_PARAMS`).
    curves : bool
        Keep the pixel-flipping curves (S + 1 values per order, method and input).
    """
    job = EvaluateJob(methods, box=box, params=params, continuity_options=continuity_options,
                      flipping_options=flipping_options, curves=curves)
    return _run(job, model, inputs, out_dir, chunk_size=chunk_size, executor=executor, workers=workers,
                target=target, progress=progress, loader=loader, dtype=dtype, reader=reader,
                overwrite=overwrite, retries=retries, on_chunk=on_chunk, fsync=fsync)


explain_dataset.__doc__ += _COMMON_DOC
evaluate_dataset.__doc__ += _COMMON_DOC
