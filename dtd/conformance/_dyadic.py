"""Reproducible test numbers: dyadic rationals ``k / 2**bits`` from SplitMix64.

The catalogue's weights and inputs come from here rather than from NumPy's
random generators, whose streams may change between NumPy versions: the same
seed gives the same numbers on every platform and version, so regenerating the
golden files gives identical arrays.  Dyadic values with few bits also make
the first layers' forward passes exact (no rounding), so exact zeros, exact
ties and exact cancellations in the catalogue are the same for every backend.
"""
import zlib

import numpy as np

__all__ = ["seed_of", "uniform_dyadic"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def seed_of(name):
    """A 32-bit seed from a name (CRC-32 of its UTF-8 bytes).

    >>> seed_of("dense")
    3723196521
    """
    return zlib.crc32(name.encode("utf-8"))


def _splitmix64(seed, n):
    state = (np.arange(1, n + 1, dtype=np.uint64) * _GOLDEN) + np.uint64(seed)   # wraps modulo 2**64
    z = (state ^ (state >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def uniform_dyadic(seed, shape, low=-1.0, high=1.0, bits=4):
    """Numbers ``low + k / 2**bits`` in ``[low, high]``, roughly uniform, shape ``shape``, float64.

    Parameters
    ----------
    seed : int
        0 <= seed < 2**64.
    shape : tuple of int
    low, high : float
        Multiples of ``2**-bits``.
    bits : int
        Resolution: the values are multiples of ``2**-bits``.

    >>> uniform_dyadic(1, (5,), 0.0, 1.0, bits=2).tolist()
    [0.0, 1.0, 0.0, 0.0, 0.25]
    """
    scale = 2 ** bits
    levels = int(round((high - low) * scale)) + 1
    if levels < 1 or (high - low) * scale != levels - 1:
        raise ValueError(f"uniform_dyadic: [{low}, {high}] must be spanned by multiples of 2**-{bits}")
    n = int(np.prod(shape, dtype=np.int64))
    k = _splitmix64(seed, n) % np.uint64(levels)
    return (low + k.astype(np.float64) / scale).reshape(shape)
