"""Atomic file writing, shared by every module that writes a file.

A temporary file in the destination's folder, then ``os.replace``: readers see
the whole file or none, and a failed write leaves nothing behind.
"""
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write"]


def atomic_write(path, write, fsync=True):
    """Call ``write(f)`` on a temporary file beside ``path``, flush it (to disk if ``fsync``), rename it to ``path``.

    The file gets the permissions of a plainly created one (``mkstemp`` makes 0600).
    Without ``fsync`` the rename still shows readers a whole file or none when a
    process dies; ``fsync`` makes the file survive a crash of the machine too.
    Returns the path.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
