"""The chunked output directory: one ``.npy`` per chunk and a JSON index, written atomically.

Layout of ``out_dir``::

    index.json        what the run is (kind, inputs, model, rules, versions,
                      chunk boundaries) and which chunks are done
    inputs.json       the input files in order (only for file inputs)
    chunk-00000.npy   the results of inputs [0, chunk_size), sample axis first
    chunk-00001.npy   ...
    .lock             held (``flock``) by the run writing here

Every file is written to a temporary name in ``out_dir`` and renamed over its
final name with ``os.replace``, so a reader (or a rerun) sees a whole file or
none.  A chunk counts as done when the index lists it *and* its file is there
with the expected shape and dtype and its full length (:meth:`Store.is_done`);
anything else is computed again.  Only one process (the driver) writes the
index.
"""
import json
import os
from pathlib import Path

import numpy as np

from .._files import atomic_write

__all__ = ["Store", "INDEX", "ORDER", "FORMAT", "read_index", "npy_header", "atomic_write",
           "chunk_name"]

INDEX = "index.json"
ORDER = "inputs.json"
FORMAT = "dtd-batch"
_LOCK = ".lock"
#: index entries not compared on resume: the done chunks, and notes (where the model file was, ...)
_BOOKKEEPING = ("done", "notes")


def chunk_name(i):
    """File name of chunk ``i``: ``chunk-00003.npy``."""
    return f"chunk-{i:05d}.npy"


def npy_header(path):
    """``(shape, dtype, complete)`` of a ``.npy`` file from its header; None if it is not a readable ``.npy``.

    ``complete`` is whether the file holds all the bytes the header promises.
    """
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            start = f.tell()
    except (OSError, ValueError, EOFError):
        return None
    if dtype.hasobject:
        return None
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    return tuple(shape), dtype, os.path.getsize(path) - start == nbytes


def read_index(out_dir):
    """The index of a results directory as a dict (see :class:`Store`)."""
    path = Path(out_dir) / INDEX
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{out_dir}: no {INDEX}; not a dtd batch results directory") from None
    except ValueError as e:
        raise ValueError(f"{path}: unreadable index ({e})") from None
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        raise ValueError(f"{path}: not a dtd batch index (format is not {FORMAT!r})")
    return index


def _differences(a, b):
    keys = sorted(set(a) | set(b))
    return [k for k in keys if k not in _BOOKKEEPING and a.get(k) != b.get(k)]


class Store:
    """A results directory being written by one run.

    Parameters
    ----------
    out_dir : path
        Created if missing.
    spec : dict
        What the run is (JSON-able): kind, inputs, model, rules or methods,
        versions, ``n``, ``chunks`` (list of ``[start, stop]``), ``result``
        (``{"shape": per-sample shape, "dtype": str}``).
    order : list of str, optional
        The input files, written once to ``inputs.json``.
    overwrite : bool
        If ``out_dir`` holds a different run, delete its chunks and start
        afresh instead of refusing.
    fsync : bool
        Flush every chunk, the index and the directory to disk before going on
        (survives a machine crash; costs a few ms per chunk).

    Raises
    ------
    ValueError
        ``out_dir`` holds the results of a different run (the message names
        what differs) and ``overwrite`` is false.
    FileExistsError
        ``out_dir`` is a file (it is never replaced).
    RuntimeError
        Another process is writing to ``out_dir``.
    """

    def __init__(self, out_dir, spec, order=None, overwrite=False, fsync=True):
        self.dir = Path(out_dir)
        self.fsync = fsync
        if self.dir.exists() and not self.dir.is_dir():
            raise FileExistsError(f"results directory {out_dir} is a file, not a directory; give a new directory "
                                  "(or an earlier run's, to resume it): the file is left as it is")
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock = self._acquire_lock()
        try:
            self._open(spec, order, overwrite)
        except BaseException:
            self.close()
            raise

    def _open(self, spec, order, overwrite):
        spec = json.loads(json.dumps({"format": FORMAT, **spec}))  # plain JSON types, as read back
        self.spec = spec
        self.done = {}
        old = None
        if (self.dir / INDEX).exists():
            try:
                old = read_index(self.dir)
            except ValueError:
                if not overwrite:
                    raise
        if old is not None:
            diff = _differences(old, spec)
            if diff and not overwrite:
                raise ValueError(f"{self.dir} holds the results of a different run (it differs in: "
                                 f"{', '.join(diff)}); use another directory, or replace it "
                                 "(overwrite=True; on the command line --overwrite-results)")
            if not diff:
                self.done = {int(k): v for k, v in old.get("done", {}).items()}
        if not self.done:
            self._clear()
        self._remove_temporaries()
        if order is not None:
            atomic_write(self.dir / ORDER, lambda f: f.write(json.dumps(order).encode("utf-8")), self.fsync)
        self._write_index()

    # -- locking and cleaning -------------------------------------------------
    def _acquire_lock(self):
        fh = open(self.dir / _LOCK, "a")
        try:
            import fcntl
        except ImportError:  # no flock (Windows): no protection against two concurrent runs
            return fh
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            raise RuntimeError(f"{self.dir} is being written by another run (its lock is held)") from None
        return fh

    def close(self):
        """Release the directory's lock."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _clear(self):
        for p in self.dir.glob("chunk-*.npy"):
            p.unlink()
        for name in (INDEX, ORDER):
            if (self.dir / name).exists():
                (self.dir / name).unlink()

    def _remove_temporaries(self):
        """Temporary files left by a run that died while writing (never renamed, so never read)."""
        for p in self.dir.glob(".*.tmp"):
            if p.name.startswith((".chunk-", f".{INDEX}.", f".{ORDER}.")):
                p.unlink()

    # -- chunks ---------------------------------------------------------------
    def expected(self, i):
        """Shape and dtype chunk ``i`` must have."""
        a, b = self.spec["chunks"][i]
        return (b - a,) + tuple(self.spec["result"]["shape"]), np.dtype(self.spec["result"]["dtype"])

    def is_done(self, i):
        """Chunk ``i`` is listed as done in the index and its file is whole, of the right shape and dtype."""
        if i not in self.done:
            return False
        h = npy_header(self.dir / chunk_name(i))
        if h is None:
            return False
        shape, dtype, complete = h
        return complete and (shape, dtype) == self.expected(i)

    def todo(self):
        """Indices of the chunks still to compute."""
        return [i for i in range(len(self.spec["chunks"])) if not self.is_done(i)]

    def write_chunk(self, i, array):
        """Write chunk ``i`` (checked against its expected shape and dtype), then record it in the index."""
        array = np.asarray(array)
        shape, dtype = self.expected(i)
        if array.shape != shape or array.dtype != dtype:
            raise ValueError(f"chunk {i}: result has shape {array.shape} and dtype {array.dtype}, "
                             f"expected {shape} and {dtype}")
        name = chunk_name(i)
        atomic_write(self.dir / name, lambda f: np.save(f, array, allow_pickle=False), self.fsync)
        self.done[i] = {"file": name, "shape": list(shape), "dtype": dtype.str}
        self._write_index()

    def _write_index(self):
        index = {**self.spec, "done": {str(k): self.done[k] for k in sorted(self.done)}}
        # one line per entry (and per done chunk): readable, and short for thousands of chunks
        lines = [f" {json.dumps(k)}: {json.dumps(v)}" for k, v in index.items() if k != "done"]
        done = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in index["done"].items())
        text = "{\n" + ",\n".join(lines) + ',\n "done": {' + ("\n" + done + "\n " if done else "") + "}\n}\n"
        atomic_write(self.dir / INDEX, lambda f: f.write(text.encode("utf-8")), self.fsync)
        if not self.fsync:
            return
        try:  # make the renames durable; not every file system lets a directory be fsynced
            fd = os.open(self.dir, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError:
            pass
