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

__all__ = ["scratch", "release", "LIMIT", "TILE"]

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
