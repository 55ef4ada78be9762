"""Atomic file writing: a temporary file in the destination's folder, then ``os.replace``.

Readers never see a partial file, and a failed write leaves nothing behind
(PNG files: :func:`dtd.render.save_png` does the same).
"""
from pathlib import Path

import numpy as np

from .._files import atomic_write

__all__ = ["write_bytes", "write_text", "save_npy"]


def _atomic(path, write, overwrite):
    if not overwrite and Path(path).exists():
        raise FileExistsError(f"{path} exists; not overwriting it")
    return atomic_write(path, write)


def write_bytes(path, data, overwrite=True):
    """Write ``data`` (bytes) to ``path`` atomically; returns the path."""
    return _atomic(path, lambda f: f.write(data), overwrite)


def write_text(path, text, overwrite=True):
    """Write ``text`` (UTF-8) to ``path`` atomically; returns the path."""
    return write_bytes(path, text.encode("utf-8"), overwrite)


def save_npy(path, array, overwrite=True):
    """``numpy.save`` (no pickles) to ``path`` atomically; returns the path."""
    array = np.asarray(array)
    if array.dtype == object:
        raise TypeError("save_npy: object arrays are not saved (they would need pickle)")
    return _atomic(path, lambda f: np.save(f, array, allow_pickle=False), overwrite)
