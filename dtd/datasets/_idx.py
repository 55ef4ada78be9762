"""Reader for the IDX file format of the MNIST distribution.

An IDX file is a 4-byte magic number, one big-endian uint32 per dimension,
then the array in C order, big-endian::

    byte 0, 1   0x00 0x00
    byte 2      element type: 0x08 uint8, 0x09 int8, 0x0B int16,
                0x0C int32, 0x0D float32, 0x0E float64
    byte 3      number of dimensions d
    then        d sizes (uint32, big-endian), then prod(sizes) elements

Files may be gzip-compressed (recognised by their first two bytes, not by
their name).
"""
import gzip
import os
import zlib

import numpy as np

IDX_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path):
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] != GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as exc:
        raise ValueError(f"IDX file {path!s}: corrupt or truncated gzip data ({exc})") from None


def read_idx(path):
    """Read one IDX file (plain or gzipped) into a NumPy array.

    Parameters
    ----------
    path : str or os.PathLike
        The file, e.g. ``train-images-idx3-ubyte.gz``.

    Returns
    -------
    numpy.ndarray
        Shape given by the header, native byte order, dtype from the
        header's type byte (``uint8`` for MNIST).

    Raises
    ------
    ValueError
        If the magic number, the element type or the file length is wrong
        (a truncated file, or trailing bytes).

    Examples
    --------
    A 2 x 3 array of uint8 (type byte 0x08, 2 dimensions):

    >>> import os, tempfile
    >>> body = bytes([0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3]) + bytes(range(6))
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "tiny-idx2-ubyte")
    ...     _ = open(path, "wb").write(body)
    ...     read_idx(path).tolist()
    [[0, 1, 2], [3, 4, 5]]
    """
    raw = _read_bytes(os.fspath(path))
    if len(raw) < 4:
        raise ValueError(f"IDX file {path!s}: {len(raw)} bytes, too short for the 4-byte magic number")
    if raw[0] != 0 or raw[1] != 0:
        raise ValueError(
            f"IDX file {path!s}: bad magic number {raw[:4].hex()} (must start with 0000)"
        )
    if raw[2] not in IDX_TYPES:
        raise ValueError(f"IDX file {path!s}: unknown element type 0x{raw[2]:02x}")
    dtype, ndim = IDX_TYPES[raw[2]], raw[3]
    if ndim == 0:
        raise ValueError(f"IDX file {path!s}: zero dimensions in the header")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"IDX file {path!s}: truncated header ({len(raw)} of {header} bytes)")
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "trailing bytes"
        raise ValueError(
            f"IDX file {path!s}: {what}: header says shape {shape} "
            f"({expected} bytes), file has {len(raw)} bytes"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))
