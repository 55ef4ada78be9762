"""ONNX external data, read safely: tensors whose bytes live in a file beside the model.

torch's dynamo exporter (``torch.onnx.export(..., dynamo=True)``) and
``onnx.save_model(..., save_as_external_data=True)`` write a tensor as a
``TensorProto`` with ``data_location == EXTERNAL`` and key/value pairs
``location`` (a file name relative to the model's folder), ``offset`` and
``length`` (bytes, decimal strings) and optionally ``checksum``.  The bytes are
the tensor's values in little-endian order, row-major, exactly as ``raw_data``
would hold them, so a tensor of type ``T`` and shape ``dims`` takes

.. math::

    n = \\mathrm{itemsize}(T) \\prod_i \\mathrm{dims}_i

bytes, read from ``offset`` to ``offset + n``.

What is refused, with a :class:`~dtd.io.errors.ModelFileError` naming the
model, the tensor and the cause (before any byte of the data file is read):

- a location that is empty, absolute (POSIX or Windows), has a ``..``
  component, or resolves (through symlinks: real paths are compared) to
  anything but a regular file inside the model's folder;
- ``offset`` / ``length`` that are not non-negative decimal integers, a
  ``length`` other than ``n``, a file that ends before ``offset + n`` (missing
  or truncated), keys other than ``location``, ``offset``, ``length``,
  ``checksum`` and ``basepath``, duplicated keys;
- a tensor type without a plain NumPy equivalent (bfloat16, float8, 4-bit).

Exactly ``n`` bytes are read (open, seek, read); the file is opened only after
its real path is checked, and the opened file is checked to be the one whose
path was checked (same device and inode).  A ``checksum`` is verified: the
ONNX spec (onnx.proto, ``TensorProto.external_data``) makes it the SHA-1
digest of the whole file named by ``location``; 40 hexadecimal digits are
taken as SHA-1 and 64 as SHA-256 (which some tools write), anything else, or
a digest that differs from the file's, is refused.  Each file is hashed once
per model (the digest is kept, keyed on the file's device, inode, size and
modification time).  ``basepath`` is ignored (the folder is the model's).
``onnx.load_external_data_for_model`` is deliberately not used: it does not
check the sizes against the tensor's shape.
"""
import hashlib
import ntpath
import os
import posixpath
import stat

import numpy as np

from .errors import ModelFileError

__all__ = ["ExternalData", "is_external"]

#: ONNX TensorProto.DataType -> (name, little-endian NumPy dtype) of the types read from external files
_DTYPES = {1: ("FLOAT", "<f4"), 2: ("UINT8", "u1"), 3: ("INT8", "i1"), 4: ("UINT16", "<u2"),
           5: ("INT16", "<i2"), 6: ("INT32", "<i4"), 7: ("INT64", "<i8"), 9: ("BOOL", "?"),
           10: ("FLOAT16", "<f2"), 11: ("DOUBLE", "<f8"), 12: ("UINT32", "<u4"), 13: ("UINT64", "<u8"),
           14: ("COMPLEX64", "<c8"), 15: ("COMPLEX128", "<c16")}
_KNOWN_KEYS = {"location", "offset", "length", "checksum", "basepath"}
_EXTERNAL = 1   # TensorProto.EXTERNAL


def is_external(tensor):
    """Whether ``tensor`` (an ``onnx.TensorProto``) keeps its values in an external file."""
    return tensor.data_location == _EXTERNAL


class ExternalData:
    """Reads the external data of the tensors of one model.

    Parameters
    ----------
    base_dir : str, path-like or None
        The folder the locations are relative to (the model file's folder);
        None for a model held in memory, whose external tensors are then refused.
    model : str
        How errors name the model (its path).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from onnx import numpy_helper
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "w.bin").write_bytes(np.array([0.5, -2.0, 3.0], "<f8").tobytes())
    >>> t = numpy_helper.from_array(np.zeros(2), "w")
    >>> t.ClearField("raw_data")
    >>> t.data_location = 1
    >>> for k, v in (("location", "w.bin"), ("offset", "8"), ("length", "16")):
    ...     e = t.external_data.add(); e.key, e.value = k, v
    >>> ExternalData(folder, "m.onnx").array(t).tolist()
    [-2.0, 3.0]
    """

    def __init__(self, base_dir, model):
        self.model = model
        self.base_dir = None if base_dir is None else os.path.realpath(os.fspath(base_dir))
        self._digests = {}      # (algorithm, st_dev, st_ino, st_size, st_mtime_ns) -> hex digest

    def _check_checksum(self, tensor, location, f, checksum):
        """Refuse ``tensor`` unless ``checksum`` is the SHA-1 (40 hex digits) or SHA-256 (64) of file ``f``."""
        value = checksum.strip().lower()
        algorithm = {40: "sha1", 64: "sha256"}.get(len(value))
        if algorithm is None or any(c not in "0123456789abcdef" for c in value):
            self.fail(tensor, f"external data checksum {checksum[:80]!r} is not a SHA-1 (40 hexadecimal digits, "
                              "the ONNX spec) or SHA-256 (64) digest")
        st = os.fstat(f.fileno())
        key = (algorithm, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        if key not in self._digests:
            h = hashlib.new(algorithm)
            f.seek(0)
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
            self._digests[key] = h.hexdigest()
        if self._digests[key] != value:
            self.fail(tensor, f"external data file {location!r} does not match its checksum: its "
                              f"{algorithm.upper().replace('SHA', 'SHA-')} is {self._digests[key]}, the model says "
                              f"{value}")

    def fail(self, tensor, why):
        raise ModelFileError(f"{self.model}: tensor {tensor.name!r}: {why}")

    # -- the key/value pairs ---------------------------------------------------------------------
    def _entries(self, tensor):
        entries = {}
        for e in tensor.external_data:
            if e.key in entries:
                self.fail(tensor, f"external data key {e.key!r} is given twice")
            if e.key not in _KNOWN_KEYS:
                self.fail(tensor, f"unknown external data key {e.key[:40]!r} (known: location, offset, length, "
                                  "checksum, basepath)")
            entries[e.key] = e.value
        return entries

    def _integer(self, tensor, entries, key):
        value = entries.get(key)
        if value is None:
            return None
        if not (value.isascii() and value.isdigit()) or len(value) > 20:
            self.fail(tensor, f"external data {key} {value[:40]!r} is not a non-negative integer")
        return int(value)

    def _size(self, tensor):
        """(numpy dtype, shape, bytes) the tensor's type and dims require."""
        if tensor.data_type not in _DTYPES:
            from onnx import TensorProto
            name = TensorProto.DataType.Name(tensor.data_type) if tensor.data_type in \
                TensorProto.DataType.values() else str(tensor.data_type)
            self.fail(tensor, f"external data of type {name} is not supported (dtd reads "
                              f"{', '.join(n for n, _ in _DTYPES.values())} tensors from external files)")
        name, dt = _DTYPES[tensor.data_type]
        shape = tuple(int(d) for d in tensor.dims)
        if any(d < 0 for d in shape):
            self.fail(tensor, f"negative dimension in its shape {shape}")
        dt = np.dtype(dt)
        return name, dt, shape, dt.itemsize * int(np.prod(shape, dtype=object))

    # -- the file --------------------------------------------------------------------------------
    def _path(self, tensor, location):
        """The real path of ``location`` inside the base folder, or a ModelFileError."""
        if self.base_dir is None:
            self.fail(tensor, f"its values are in an external data file ({location[:200]!r}), and the model "
                              "was given in memory: pass base_dir= (the folder the model was saved in) to "
                              "load_onnx to read it")
        if not location:
            self.fail(tensor, "external data without a location")
        if "\x00" in location:
            self.fail(tensor, f"external data location {location[:200]!r} contains a NUL byte")
        if (posixpath.isabs(location) or ntpath.isabs(location) or ntpath.splitdrive(location)[0]
                or location.startswith(("/", "\\"))):
            self.fail(tensor, f"external data location {location[:200]!r} is an absolute path; it must be a "
                              "file name relative to the model's folder")
        if ".." in location.replace("\\", "/").split("/"):
            self.fail(tensor, f"external data location {location[:200]!r} has a '..' component; it must be a "
                              "file inside the model's folder")
        real = os.path.realpath(os.path.join(self.base_dir, location))
        if os.path.commonpath([real, self.base_dir]) != self.base_dir:   # the folder itself: not a regular file
            self.fail(tensor, f"external data location {location[:200]!r} resolves to {real!r}, outside the "
                              f"model's folder {self.base_dir!r} (a symlink?); dtd reads only files inside it")
        return real

    def _open(self, tensor, location, real):
        try:
            st = os.stat(real)
        except FileNotFoundError:
            self.fail(tensor, f"external data file {location!r} is missing (looked in {self.base_dir!r})")
        except OSError as e:
            self.fail(tensor, f"external data file {location!r} cannot be read ({e.strerror})")
        if not stat.S_ISREG(st.st_mode):
            self.fail(tensor, f"external data location {location!r} is not a regular file")
        try:   # O_NONBLOCK: should the path have become a FIFO since the stat, opening does not hang
            fd = os.open(real, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        except OSError as e:
            self.fail(tensor, f"external data file {location!r} cannot be opened ({e.strerror})")
        f = os.fdopen(fd, "rb", buffering=0)
        opened = os.fstat(f.fileno())
        if (opened.st_dev, opened.st_ino) != (st.st_dev, st.st_ino) or not stat.S_ISREG(opened.st_mode):
            f.close()
            self.fail(tensor, f"external data file {location!r} changed while it was opened")
        return f, opened.st_size

    def array(self, tensor):
        """The values of the external ``tensor`` as a NumPy array of its shape (native byte order).

        Parameters
        ----------
        tensor : onnx.TensorProto
            With ``data_location == EXTERNAL``.

        Returns
        -------
        ndarray
            Shape ``tuple(tensor.dims)``, the NumPy dtype of ``tensor.data_type``, writable.

        Raises
        ------
        ModelFileError
            See the module docstring; nothing is read before every check on
            the location, offset and length has passed.
        """
        entries = self._entries(tensor)
        location = entries.get("location", "")
        offset = self._integer(tensor, entries, "offset") or 0
        length = self._integer(tensor, entries, "length")
        if tensor.raw_data or any(len(getattr(tensor, f)) for f in (
                "float_data", "int32_data", "int64_data", "double_data", "uint64_data", "string_data")):
            self.fail(tensor, "holds values inline as well as in an external data file")
        name, dt, shape, n = self._size(tensor)
        if length is not None and length != n:
            self.fail(tensor, f"external data length {length} bytes does not match its type and shape: "
                              f"{name} {shape} takes {n} bytes")
        real = self._path(tensor, location)
        f, size = self._open(tensor, location, real)
        with f:
            if "checksum" in entries:
                self._check_checksum(tensor, location, f, entries["checksum"])
            if offset + n > size:
                where = f"offset {offset} is past its end" if offset > size else \
                    f"it ends before offset {offset} + {n} bytes ({name} {shape})"
                self.fail(tensor, f"external data file {location!r} is truncated or too short: it holds "
                                  f"{size} bytes and {where}")
            buf = bytearray(n)
            f.seek(offset)
            got = f.readinto(buf) if n else 0
            while got < n:          # readinto may return fewer bytes than asked before the end
                more = f.readinto(memoryview(buf)[got:])
                if not more:
                    self.fail(tensor, f"external data file {location!r} ended after {offset + got} bytes "
                                      f"while reading {n} bytes at offset {offset}")
                got += more
        return np.frombuffer(buf, dtype=dt).astype(dt.newbyteorder("="), copy=False).reshape(shape)
