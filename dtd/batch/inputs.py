"""Where the inputs of a data-set run come from: an array, one ``.npy`` file, or many files.

:func:`open_inputs` accepts

- an ``ndarray`` (or memmap), shape (N, ...), floating: sample n is ``x[n]``;
- a path to one ``.npy`` file holding all samples (N, ...): opened memory-mapped
  (``np.load(path, mmap_mode="r", allow_pickle=False)``), so only the chunk
  being read is in memory;
- a directory (every file in it with a known extension, sorted by name; not
  recursive) or a glob pattern (``"data/*.png"``, sorted): one sample per file.
  Images (``.png .jpg .jpeg .bmp .gif .tif .tiff .webp .ppm .pgm``) are read with
  Pillow, converted to grey ("L", one channel) if they are grey and to "RGB"
  otherwise, and scaled to [0, 1]: shape (C, H, W). A ``.npy`` file holds one
  sample (its array, e.g. (C, H, W)). All samples must have the shape of the
  first (checked when read, with the file named in the error).

For other preprocessing (resizing, normalising, a model's own channel order)
give ``reader``: a module-level function ``reader(path) -> ndarray`` (one
sample) used for every file instead (it runs on the workers).

Samples are returned in float64 unless ``dtype`` says otherwise (``float32``).
``.npy`` inputs and arrays of a floating dtype keep it when ``dtype`` is None,
except float16, computed and stored in float32 (an exact conversion) with a
warning, as :meth:`dtd.Sequential.explain` does; integer arrays are refused (dtd
computes in floating point: scale them first, e.g. ``x / 255.0``). A file of
Python objects is refused, never unpickled.

A source describes itself (:meth:`describe`, stored in the results index) and
gives, for a chunk ``[start, stop)``, a small *payload* that a worker turns into
the array with :func:`read_payload`: file sources send only the paths and the
range (the workers read the files, so on a cluster the paths must be visible to
every worker), array sources send the chunk's data.
"""
import glob
import hashlib
import os
import warnings
from pathlib import Path

import numpy as np

from .._files import numpy_error

__all__ = ["open_inputs", "read_payload", "IMAGE_EXTENSIONS", "ArraySource", "NpySource", "FileSource"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
_FILE_EXTENSIONS = IMAGE_EXTENSIONS + (".npy",)


def _float_dtype(dtype, have):
    if dtype is not None:
        dtype = np.dtype(dtype)
        if not np.issubdtype(dtype, np.floating):
            raise TypeError(f"dtype must be a floating dtype (float64 or float32), got {dtype}")
        return dtype
    if not np.issubdtype(have, np.floating):
        raise TypeError(f"inputs have dtype {have}; dtd computes in floating point: convert them first "
                        "(e.g. x / 255.0), or give dtype=")
    if np.dtype(have) == np.float16:
        warnings.warn("inputs are float16: computing and storing in float32 (an exact conversion; half "
                      "precision would lose about 3 digits)", stacklevel=2)
        return np.dtype(np.float32)
    return np.dtype(have)


class ArraySource:
    """Samples in an array in memory (or a memmap)."""

    def __init__(self, array, dtype=None):
        if not isinstance(array, np.ndarray):
            raise TypeError(f"inputs must be an ndarray or a path, got {type(array).__name__}")
        if array.ndim < 1 or array.shape[0] == 0:
            raise ValueError(f"inputs must have a non-empty sample axis, got shape {array.shape}")
        if array.dtype.hasobject:
            raise TypeError("inputs: object arrays are not supported")
        self.array = array
        self.dtype = _float_dtype(dtype, array.dtype)
        self.n = array.shape[0]
        self.sample_shape = tuple(array.shape[1:])

    def describe(self):
        """Kind, count, shape and dtype; a digest of the data (SHA-256 over the C-ordered bytes)."""
        h = hashlib.sha256()
        step = max(1, (1 << 24) // max(1, self.array[:1].nbytes))  # about 16 MB at a time
        for a in range(0, self.n, step):
            h.update(np.ascontiguousarray(self.array[a:a + step]).tobytes())
        return {"kind": "array", "n": self.n, "shape": list(self.sample_shape), "dtype": self.dtype.str,
                "source_dtype": self.array.dtype.str, "sha256": h.hexdigest()}

    def order(self):
        return None

    def payload(self, start, stop):
        return ("array", np.ascontiguousarray(self.array[start:stop], dtype=self.dtype))


class NpySource:
    """Samples in one ``.npy`` file, read memory-mapped."""

    def __init__(self, path, dtype=None):
        self.path = os.path.abspath(path)
        try:
            arr = np.load(self.path, mmap_mode="r", allow_pickle=False)
        except FileNotFoundError:
            raise FileNotFoundError(f"inputs: no such file {path}") from None
        except (ValueError, EOFError, OSError) as e:  # pickled object arrays, bad headers, empty files
            raise ValueError(numpy_error(path, e, "inputs:")) from None
        if not isinstance(arr, np.ndarray):
            raise ValueError(f"inputs: {path} is not a .npy array")
        src = ArraySource(arr, dtype)  # the same checks
        self.n, self.sample_shape, self.dtype = src.n, src.sample_shape, src.dtype
        self.file_dtype = arr.dtype
        st = os.stat(self.path)
        self._stat = (st.st_size, st.st_mtime_ns)

    def describe(self):
        return {"kind": "npy", "path": self.path, "n": self.n, "shape": list(self.sample_shape),
                "dtype": self.dtype.str, "source_dtype": self.file_dtype.str, "size": self._stat[0],
                "mtime_ns": self._stat[1]}

    def order(self):
        return None

    def payload(self, start, stop):
        return ("npy", self.path, start, stop, self.dtype.str)


def _read_file(path, dtype, reader=None):
    if reader is not None:
        a = np.asarray(reader(path))
        if a.dtype.hasobject or not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
            raise ValueError(f"inputs: the reader returned dtype {a.dtype} for {path}, not numbers")
        return a.astype(dtype, copy=False)
    if path.lower().endswith(".npy"):
        try:
            a = np.load(path, allow_pickle=False)
        except (ValueError, EOFError) as e:
            raise ValueError(numpy_error(path, e, "inputs:")) from None
        if not isinstance(a, np.ndarray) or a.dtype.hasobject or not (
                np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
            raise ValueError(f"inputs: {path} does not hold a numeric array")
        return a.astype(dtype, copy=False)
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
            grey = im.mode in ("1", "L", "I", "I;16", "F")
            arr = np.asarray(im.convert("L" if grey else "RGB"))
    except OSError as e:  # PIL.UnidentifiedImageError is an OSError
        raise ValueError(f"inputs: cannot read the image {path} ({e})") from None
    arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    return (arr / np.float64(255.0)).astype(dtype, copy=False)


class FileSource:
    """One sample per file: images (Pillow, scaled to [0, 1]) or single-sample ``.npy`` files."""

    def __init__(self, files, dtype=None, where="", reader=None):
        self.files = [os.path.abspath(f) for f in files]
        self.reader = reader
        if not self.files:
            raise ValueError(f"inputs: no image or .npy files found in {where}")
        self.dtype = np.dtype(dtype) if dtype is not None else np.dtype(np.float64)
        _float_dtype(self.dtype, self.dtype)
        self.n = len(self.files)
        self.sample_shape = tuple(_read_file(self.files[0], self.dtype, reader).shape)
        self.where = where

    def describe(self):
        h = hashlib.sha256("\n".join(self.files).encode("utf-8")).hexdigest()
        return {"kind": "files", "where": self.where, "n": self.n, "shape": list(self.sample_shape),
                "dtype": self.dtype.str, "order_sha256": h, "reader": _name(self.reader)}

    def order(self):
        return self.files

    def payload(self, start, stop):
        return ("files", self.files[start:stop], self.sample_shape, self.dtype.str, self.reader)


def _name(f):
    if f is None:
        return None
    import functools
    if isinstance(f, functools.partial):
        return f"partial({_name(f.func)}, args={f.args!r}, keywords={f.keywords!r})"
    return f"{getattr(f, '__module__', '?')}.{getattr(f, '__qualname__', type(f).__name__)}"


def open_inputs(inputs, dtype=None, reader=None):
    """The input source for ``inputs`` (see the module docstring).

    Raises
    ------
    FileNotFoundError
        A path that does not exist, or a pattern that matches nothing.
    ValueError, TypeError
        Empty inputs, unreadable files, integer or object arrays.
    """
    if reader is not None and not (isinstance(inputs, (str, os.PathLike)) and not os.path.isfile(inputs)):
        raise ValueError("reader is for inputs given as a directory or a glob pattern of files")
    if isinstance(inputs, np.ndarray):
        return ArraySource(inputs, dtype)
    if not isinstance(inputs, (str, os.PathLike)):
        raise TypeError(f"inputs must be an ndarray, a .npy path, a directory or a glob pattern, "
                        f"got {type(inputs).__name__}")
    s = os.fspath(inputs)
    if os.path.isdir(s):
        files = sorted(str(p) for p in Path(s).iterdir()
                       if p.is_file() and p.suffix.lower() in _FILE_EXTENSIONS)
        return FileSource(files, dtype, where=os.path.abspath(s), reader=reader)
    if os.path.isfile(s):
        if not s.lower().endswith(".npy"):
            raise ValueError(f"inputs: {s} is not a .npy file (give a .npy array, a directory or a glob pattern)")
        return NpySource(s, dtype)
    if glob.has_magic(s):
        files = sorted(f for f in glob.glob(s) if os.path.isfile(f))
        if not files:
            raise FileNotFoundError(f"inputs: no file matches {s}")
        return FileSource(files, dtype, where=s, reader=reader)
    raise FileNotFoundError(f"inputs: no such file or directory {s}")


def read_payload(payload):
    """The chunk's array from a payload made by a source's ``payload(start, stop)`` (run on a worker)."""
    kind = payload[0]
    if kind == "array":
        return payload[1]
    if kind == "npy":
        _, path, start, stop, dtype = payload
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
        return np.array(arr[start:stop], dtype=np.dtype(dtype))
    if kind == "files":
        _, files, shape, dtype, reader = payload
        out = np.empty((len(files),) + tuple(shape), dtype=np.dtype(dtype))
        for k, f in enumerate(files):
            a = _read_file(f, out.dtype, reader)
            if a.shape != out.shape[1:]:
                raise ValueError(f"inputs: {f} has shape {a.shape}, the first input has {out.shape[1:]}")
            out[k] = a
        return out
    raise ValueError(f"unknown payload kind {kind!r}")
