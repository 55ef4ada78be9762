"""Scratch buffers reused from call to call, one set per thread.

The im2col matrix of a convolution would be the largest temporary of a
forward or relevance pass (115 MB for one 64-channel 224x224 layer in
float32); :func:`dtd.im2col.correlate` builds it in pieces of at most
:data:`TILE` bytes instead, each multiplied while it is still in cache.  Fresh
memory costs about as much as filling it (the kernel hands out zeroed pages),
so these pieces, the padded inputs and the modified weights of a blocked dense
rule go into buffers that are kept and reused.  A buffer is valid only until
the next :func:`scratch` call with the same name in the same thread: it must
never escape the function that asked for it.

Requests larger than :data:`LIMIT` bytes get fresh memory and are not kept,
so a large batch does not pin gigabytes after it is done; :func:`release`
frees the kept buffers of the calling thread.
"""
import threading

import numpy as np

__all__ = ["scratch", "release", "keep_freed_memory", "LIMIT", "TILE"]

#: largest buffer (bytes) kept per name and thread
LIMIT = 256 * 2 ** 20

#: bytes of one piece of an im2col matrix (:func:`dtd.im2col.correlate`): small enough to stay in the
#: cache between being written and being read by BLAS, large enough for BLAS to run at full speed
TILE = 16 * 2 ** 20

_local = threading.local()


def scratch(name, shape, dtype):
    """An uninitialised C-contiguous array of ``shape`` and ``dtype``, backed by the kept buffer ``name``.

    >>> a = scratch("doc", (2, 3), np.float64)
    >>> a.shape, a.dtype.name, a.flags.c_contiguous
    ((2, 3), 'float64', True)
    >>> b = scratch("doc", (3,), np.float64)      # the same memory: a is no longer valid
    >>> np.shares_memory(a, b)
    True
    """
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if nbytes > LIMIT:
        return np.empty(shape, dtype)
    buffers = getattr(_local, "buffers", None)
    if buffers is None:
        buffers = _local.buffers = {}
    buf = buffers.get(name)
    if buf is None or buf.nbytes < nbytes:
        buf = buffers[name] = np.empty(max(nbytes, 1), np.uint8)
    return buf[:nbytes].view(dtype).reshape(shape)


def release():
    """Free the buffers kept by the calling thread."""
    _local.buffers = {}


#: glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def keep_freed_memory(limit=2 ** 30):
    """Let the C allocator keep freed memory for reuse instead of returning it to the system (glibc only).

    An explanation allocates and frees arrays of the activations' size at every layer; glibc gives each
    block larger than its mmap threshold (at most 32 MiB by default) fresh pages from the kernel, which
    zeroes them on first touch: at batch 8 on VGG-16 or ResNet-50 that is 45,000-75,000 page faults and
    20-27 % of an explanation's time (``benchmarks/README.md``).  This raises glibc's mmap and trim
    thresholds to ``limit`` bytes (``mallopt(M_MMAP_THRESHOLD)``, ``mallopt(M_TRIM_THRESHOLD)``), so
    blocks up to that size come from the heap and freed memory stays there: the process keeps its peak
    memory after an explanation.  It changes the whole process's allocator, so dtd never calls it by
    itself; the environment variables ``MALLOC_MMAP_THRESHOLD_`` and ``MALLOC_TRIM_THRESHOLD_`` do the
    same from outside.

    Returns True if glibc accepted both settings, False elsewhere (another C library, or not Linux).

    >>> isinstance(keep_freed_memory(), bool)
    True
    """
    import ctypes
    import ctypes.util
    limit = int(min(limit, 2 ** 31 - 1))
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, limit)) and bool(mallopt(_M_TRIM_THRESHOLD, limit))
