"""Threads for the memory-bound work that BLAS does not spread over the cores itself.

A rule on a large dense layer makes its modified weights (``max(0, w)`` for
z+) block by block; that elementwise pass reads the whole weight matrix (392 MiB
for VGG-16's first dense layer in float32) on one core while the other cores
wait, and costs several times the layer's forward pass, which BLAS reads on all
of them.  :func:`map_blocks` runs such independent pieces of work on as many
threads as BLAS itself uses (NumPy releases the GIL in its loops and BLAS
calls), so a process limited to one BLAS thread (``dtd.batch`` workers,
``OPENBLAS_NUM_THREADS=1``, ``threadpoolctl.threadpool_limits(1)``) stays on one
thread.
"""
import os
import threading
from concurrent.futures import ThreadPoolExecutor

__all__ = ["threads", "map_blocks"]

_pool = None
_controller = None
_lock = threading.Lock()


def threads():
    """How many threads BLAS runs now (the largest count among the BLAS libraries threadpoolctl sees).

    1 when threadpoolctl cannot tell.

    >>> threads() >= 1
    True
    """
    global _controller
    if _controller is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:      # pragma: no cover - threadpoolctl is a dependency
            return 1
        _controller = ThreadpoolController()   # scans the loaded libraries once (ms); the counts are read live
    counts = [int(lib.num_threads or 1) for lib in _controller.lib_controllers if lib.user_api == "blas"]
    return max(1, min(max(counts, default=1), os.cpu_count() or 1))


def map_blocks(function, items, workers=None):
    """``[function(part) for part in parts]`` with ``items`` cut into ``workers`` contiguous parts, run on threads.

    Parameters
    ----------
    function : callable
        Takes a list of consecutive items; must not write to memory another part reads.
    items : list
    workers : int, optional
        Number of parts (and threads); :func:`threads` by default.  One part runs in the calling thread.

    Returns
    -------
    list
        One result per part, in the order of the parts.

    >>> map_blocks(sum, list(range(10)), workers=2)
    [10, 35]
    """
    global _pool
    workers = max(1, min(len(items), threads() if workers is None else workers))
    size, extra = divmod(len(items), workers)
    parts, start = [], 0
    for k in range(workers):
        stop = start + size + (k < extra)
        parts.append(items[start:stop])
        start = stop
    if workers == 1:
        return [function(parts[0])]
    with _lock:
        if _pool is None or _pool._max_workers < workers:
            _pool = ThreadPoolExecutor(max_workers=max(workers, os.cpu_count() or 1),
                                       thread_name_prefix="dtd-blocks")
        pool = _pool
    futures = [pool.submit(function, part) for part in parts[1:]]
    first = function(parts[0])
    return [first] + [f.result() for f in futures]
