"""Data-set scale: explain or evaluate many inputs in chunks, on local processes or a Dask cluster.

Example (a script; the local workers are started with "spawn", hence the guard)::

    from dtd.batch import explain_dataset, load_results

    if __name__ == "__main__":
        explain_dataset("model.npz", "val.npy", "epsilon-gamma-box", "out/",
                        rule_params={"low": 0.0, "high": 1.0}, workers=2)
        R = load_results("out/")      # (N, ...) in input order

- :func:`explain_dataset`, :func:`evaluate_dataset` split the inputs
  (:mod:`~dtd.batch.inputs`: an array, a ``.npy`` read memory-mapped, or a
  folder / glob of images or ``.npy`` files) into chunks and map them over an
  executor (:mod:`~dtd.batch.executors`): by default a local process pool, or
  Dask (extra ``dask``: a ``dask.distributed.Client``, or a scheduler address).
  The model reaches each worker once (:mod:`~dtd.batch.jobs`).
- Results go to a chunked directory (:mod:`~dtd.batch.store`): one ``.npy`` per
  chunk, written atomically as chunks complete, and ``index.json`` (the
  inputs' order, chunk boundaries, model digest, rules, versions, done
  chunks). A rerun resumes; a worker that dies loses only its chunk, which is
  computed again.
- Read them with :func:`load_results`, :func:`iter_results`, :func:`assemble`,
  :func:`load_evaluation`, :func:`evaluation_summary`.
- The command line: :mod:`dtd.batch.cli` adds ``--dataset``, ``--workers``,
  ``--scheduler`` to ``dtd explain`` and ``dtd evaluate``.

Executors give bit-identical results: every chunk is computed by the same code
on the same rows, whichever process runs it.
"""
from .executors import ChunkError, WorkerLost
from .results import (IncompleteResults, assemble, evaluation_summary, iter_results, load_evaluation,
                      load_results, missing_chunks)
from .run import RunSummary, chunk_bounds, evaluate_dataset, explain_dataset
from .store import read_index

__all__ = ["explain_dataset", "evaluate_dataset", "RunSummary", "chunk_bounds", "load_results",
           "iter_results", "assemble", "load_evaluation", "evaluation_summary", "missing_chunks",
           "read_index", "IncompleteResults", "ChunkError", "WorkerLost"]
