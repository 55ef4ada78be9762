"""Files: atomic writing, shared by every module that writes a file; NumPy's read errors in words.

A temporary file in the destination's folder, then ``os.replace``: readers see
the whole file or none, and a failed write leaves nothing behind.
"""
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write", "numpy_error"]


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


def numpy_error(path, e, what="input"):
    """NumPy's read error ``e`` of ``path`` as a message that names the file and never advises unpickling.

    ``what`` starts the message ("input", "relevance file", "inputs:").

    >>> numpy_error("x.npy", ValueError("Object arrays cannot be loaded when allow_pickle=False"))[:39]
    'input x.npy holds Python objects (pickl'
    >>> numpy_error("x.npy", EOFError("No data left in file"), "inputs:")
    'inputs: x.npy is empty or truncated (No data left in file); write it again with numpy.save'
    """
    text = str(e)
    if "pickle" in text or "object" in text.lower():
        return (f"{what} {path} holds Python objects (pickled data), which dtd never loads; "
                "save a numeric array (numpy.save(path, x.astype(np.float64)))")
    if isinstance(e, EOFError):
        return f"{what} {path} is empty or truncated ({text or 'no data'}); write it again with numpy.save"
    return f"cannot read {what.rstrip(':')} {path}: {text or type(e).__name__} (truncated or damaged?)"
