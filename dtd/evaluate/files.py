"""Atomic file writing: a temporary file in the destination's folder, then ``os.replace``.

Readers never see a partial file, and a failed write leaves nothing behind
(PNG files: :func:`dtd.render.save_png` does the same).
"""
import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["write_bytes", "write_text", "save_npy"]


def _atomic(path, write, overwrite):
    path = Path(path)
    if not overwrite and path.exists():
        raise FileExistsError(f"{path} exists; not overwriting it")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)                # as a plainly created file
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


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
