"""Running chunks on an executor: in this process, a local process pool, or a Dask cluster.

Each runner takes the chunks to compute and ``make_args(chunk)``, which gives
the arguments of :func:`dtd.batch.jobs.run_chunk` after the model (called when
the chunk is submitted), and yields ``(chunk, result)`` as chunks complete, in
any order.  At most ``window`` chunks are in flight at a time, so the inputs
held in memory are bounded.

A worker process that dies (killed, out of memory, ``os._exit``) loses only the
chunks it was running: they are computed again, up to ``retries`` times each,
then :class:`WorkerLost` is raised.  An exception raised by the computation
itself (bad input, a bug) is not retried: :class:`ChunkError` names the chunk.
"""
import concurrent.futures as cf
import multiprocessing
from collections import deque

from .jobs import init_worker, run_chunk

__all__ = ["ChunkError", "WorkerLost", "run_serial", "run_local", "run_dask", "dask_client"]


class ChunkError(RuntimeError):
    """The computation of a chunk raised an exception (the cause is chained)."""


class WorkerLost(RuntimeError):
    """A chunk's worker died more often than the retries allow."""


def _fail(chunk, bounds, e):
    a, b = bounds[chunk]
    return ChunkError(f"chunk {chunk} (inputs {a}..{b - 1}): {type(e).__name__}: {e}")


def run_serial(job, model, chunks, make_args, bounds):
    """Every chunk in this process, in order (the reference path)."""
    for chunk in chunks:
        try:
            result = run_chunk(job, model, *make_args(chunk))
        except Exception as e:
            raise _fail(chunk, bounds, e) from e
        yield chunk, result


def run_local(job, model_ref, chunks, make_args, bounds, workers=2, window=None, retries=3,
              mp_context="spawn", blas_threads=1):
    """Chunks on a :class:`concurrent.futures.ProcessPoolExecutor` of ``workers`` processes.

    Each worker loads the model once in its initializer (``model_ref``, a
    :class:`~dtd.batch.jobs.ModelRef`). A dead worker breaks the pool, failing
    every chunk the pool held, and does not say which chunk killed it. So the
    finished results are kept, a new pool is started, and the chunks that were
    in flight are computed again *one at a time* first: a chunk that breaks the
    pool while running alone is the culprit, and is given ``retries`` more
    tries before :class:`WorkerLost`. Workers are started with ``mp_context``
    ("spawn" by default: a script calling this needs the usual
    ``if __name__ == "__main__":`` guard). Each worker's BLAS is limited to
    ``blas_threads`` threads when ``threadpoolctl`` is installed (``workers``
    processes with a BLAS thread per core each would only contend).
    """
    ctx = multiprocessing.get_context(mp_context)
    window = window or 2 * workers
    pending = deque(chunks)
    suspects = deque()  # in flight when a pool broke: rerun alone
    attempts = {}
    while pending or suspects:
        pool = cf.ProcessPoolExecutor(workers, mp_context=ctx, initializer=init_worker,
                                      initargs=(model_ref, blas_threads))
        try:
            if suspects:
                chunk = suspects[0]
                try:
                    result = pool.submit(run_chunk, job, model_ref, *make_args(chunk)).result()
                except cf.process.BrokenProcessPool:
                    _blame(chunk, attempts, retries, bounds)
                    continue
                except Exception as e:
                    raise _fail(chunk, bounds, e) from e
                suspects.popleft()
                yield chunk, result
                continue
            inflight = {}
            broken = False
            while (pending or inflight) and not broken:
                while pending and len(inflight) < window:
                    try:
                        f = pool.submit(run_chunk, job, model_ref, *make_args(pending[0]))
                    except cf.process.BrokenProcessPool:  # broke since the last wait
                        broken = True
                        break
                    inflight[f] = pending.popleft()
                if broken:
                    break
                done, _ = cf.wait(inflight, return_when=cf.FIRST_COMPLETED)
                for f in done:
                    try:
                        result = f.result()
                    except cf.process.BrokenProcessPool:
                        broken = True
                        continue
                    except Exception as e:
                        raise _fail(inflight[f], bounds, e) from e
                    yield inflight.pop(f), result
            # a broken pool fails every chunk it still held: keep what finished, suspect the rest
            for f, chunk in inflight.items():
                if f.done() and not f.cancelled() and f.exception() is None:
                    yield chunk, f.result()
                else:
                    suspects.append(chunk)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _blame(chunk, attempts, retries, bounds):
    attempts[chunk] = attempts.get(chunk, 0) + 1
    if attempts[chunk] > retries:
        a, b = bounds[chunk]
        raise WorkerLost(f"chunk {chunk} (inputs {a}..{b - 1}): its worker died {attempts[chunk]} times "
                         "computing it alone; giving up (out of memory? a crash in the model or its loader?)")


def _retry(chunk, pending, attempts, retries, bounds):
    attempts[chunk] = attempts.get(chunk, 0) + 1
    if attempts[chunk] > retries:
        a, b = bounds[chunk]
        raise WorkerLost(f"chunk {chunk} (inputs {a}..{b - 1}): Dask gave up on it {attempts[chunk]} times "
                         "(KilledWorker: its workers died); out of memory? a crash in the model?")
    pending.appendleft(chunk)


def dask_client(executor):
    """``(client, close)``: a Client passed in (not closed), or one connected to a scheduler address."""
    try:
        from distributed import Client
    except ImportError:
        raise ImportError("running on Dask needs dask.distributed: pip install dtd[dask]") from None
    if isinstance(executor, Client):
        return executor, False
    if isinstance(executor, str):
        return Client(executor), True
    raise TypeError(f"executor must be None, 'processes', 'serial', a dask Client or a scheduler address, "
                    f"got {type(executor).__name__}")


def run_dask(job, model, chunks, make_args, bounds, client, window=None, retries=3, token="dtd"):
    """Chunks as tasks of a Dask cluster.

    ``model`` is a :class:`~dtd.batch.jobs.ModelRef` (loaded once per worker
    process) or a future of a model scattered with ``broadcast=True``. A task
    whose worker dies is rescheduled by Dask itself (up to the scheduler's
    ``distributed.scheduler.allowed-failures``); if Dask gives up with
    ``KilledWorker``, the chunk is submitted again, up to ``retries`` times.
    """
    from distributed import as_completed
    from distributed.scheduler import KilledWorker

    if window is None:
        nthreads = sum(client.nthreads().values()) or 1
        window = 2 * nthreads
    pending = deque(chunks)
    attempts = {}
    inflight = {}
    seq = 0

    def submit():
        nonlocal seq
        chunk = pending.popleft()
        seq += 1
        f = client.submit(run_chunk, job, model, *make_args(chunk), key=f"{token}-chunk{chunk}-{seq}", pure=False)
        inflight[f.key] = (f, chunk)
        return f

    ac = as_completed([submit() for _ in range(min(window, len(pending)))])
    try:
        for f in ac:
            _, chunk = inflight.pop(f.key)
            try:
                result = f.result()
            except KilledWorker:
                _retry(chunk, pending, attempts, retries, bounds)
            except Exception as e:
                raise _fail(chunk, bounds, e) from e
            else:
                yield chunk, result
            finally:
                f.release()
            while pending and len(inflight) < window:
                ac.add(submit())
    finally:
        if inflight:
            client.cancel([f for f, _ in inflight.values()])
