"""A minimal reader for arrays in a zarr v3 store packed in a zip file.

Only what is needed to read plain numeric arrays: a ``regular`` chunk grid,
the ``default`` (``c/i/j``) or ``v2`` (``i.j``) chunk key encoding, the
``bytes`` codec followed by any of the byte codecs ``blosc``, ``gzip`` and
``zstd`` (decoded by ``numcodecs``). Sharding and ``transpose`` are refused
with a clear error. Missing chunks take the array's ``fill_value``, as the
zarr v3 specification says. Chunks at the array's end are stored full size
and cut to the array's shape.
"""
import json
import math
import zipfile

import numpy as np

ZARR_DTYPES = {
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
    "uint64", "float16", "float32", "float64",
}
BYTE_CODECS = {"blosc": "Blosc", "gzip": "GZip", "zstd": "Zstd"}


def _numcodecs():
    try:
        import numcodecs
    except ImportError:
        raise ImportError(
            "reading the zarr store needs numcodecs: pip install numcodecs "
            "(or pip install dtd[datasets])"
        ) from None
    return numcodecs


def _array_meta(zf, name):
    """Parse and check ``name/zarr.json``; return (shape, chunks, dtype, fill, key, codecs)."""
    where = f"{zf.filename}: {name}/zarr.json"
    try:
        meta = json.loads(zf.read(f"{name}/zarr.json"))
    except KeyError:
        raise ValueError(f"{zf.filename}: no array {name!r} in the zarr store") from None
    if meta.get("zarr_format") != 3 or meta.get("node_type") != "array":
        raise ValueError(f"{where}: not a zarr v3 array")
    if meta.get("data_type") not in ZARR_DTYPES:
        raise ValueError(f"{where}: unsupported data_type {meta.get('data_type')!r}")
    shape = tuple(int(s) for s in meta["shape"])
    grid = meta["chunk_grid"]
    if grid.get("name") != "regular":
        raise ValueError(f"{where}: unsupported chunk grid {grid.get('name')!r}")
    chunks = tuple(int(c) for c in grid["configuration"]["chunk_shape"])
    if len(chunks) != len(shape) or min(chunks, default=1) < 1:
        raise ValueError(f"{where}: chunk_shape {chunks} does not fit shape {shape}")
    codecs = meta["codecs"]
    if not codecs or codecs[0].get("name") != "bytes":
        names = [c.get("name") for c in codecs]
        raise ValueError(f"{where}: codec chain {names} unsupported (must start with 'bytes')")
    endian = codecs[0].get("configuration", {}).get("endian", "little")
    dtype = np.dtype(meta["data_type"]).newbyteorder("<" if endian == "little" else ">")
    for codec in codecs[1:]:
        if codec.get("name") not in BYTE_CODECS:
            raise ValueError(f"{where}: unsupported codec {codec.get('name')!r}")
    key = meta.get("chunk_key_encoding", {"name": "default"})
    sep = key.get("configuration", {}).get("separator", "/" if key["name"] == "default" else ".")
    prefix = "c" + sep if key["name"] == "default" else ""
    return shape, chunks, dtype, meta.get("fill_value", 0), (prefix, sep), codecs[1:]


def _decode(numcodecs, data, codecs, nbytes, where):
    for codec in reversed(codecs):
        name = codec["name"]
        if name == "blosc":
            # blosc header: 4 one-byte fields, then nbytes as a little-endian uint32
            claimed = int(np.frombuffer(data, dtype="<u4", count=1, offset=4)[0]) if len(data) >= 16 else -1
            if claimed != nbytes:
                raise ValueError(f"{where}: blosc header claims {claimed} bytes, chunk needs {nbytes}")
        data = getattr(numcodecs, BYTE_CODECS[name])().decode(data)
    data = bytes(data)
    if len(data) != nbytes:
        raise ValueError(f"{where}: decoded chunk has {len(data)} bytes, expected {nbytes}")
    return data


def read_zarr_zip(path, name, stop=None):
    """Read rows ``[0, stop)`` (first axis) of array ``name`` from a zipped zarr v3 store.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.zarr.zip`` file.
    name : str
        Path of the array inside the store, e.g. ``"train_images"``.
    stop : int or None
        Number of leading rows to read (all if None). Only the chunks that
        hold them are decoded.

    Returns
    -------
    numpy.ndarray
        Shape ``(min(stop, shape[0]),) + shape[1:]``, native byte order.
    """
    numcodecs = _numcodecs()
    with zipfile.ZipFile(path) as zf:
        shape, chunks, dtype, fill, (prefix, sep), codecs = _array_meta(zf, name)
        rows = shape[0] if stop is None else max(0, min(int(stop), shape[0]))
        out_shape = (rows,) + shape[1:]
        out = np.full(out_shape, fill, dtype=dtype.newbyteorder("="))
        grid = [math.ceil(rows / chunks[0])] + [math.ceil(s / c) for s, c in zip(shape[1:], chunks[1:])]
        nbytes = math.prod(chunks) * dtype.itemsize
        names = set(zf.namelist())
        for index in np.ndindex(*grid):  # a loop over chunks, not samples
            key = f"{name}/{prefix}{sep.join(str(i) for i in index)}"
            if key not in names:
                continue  # an absent chunk holds the fill value
            block = np.frombuffer(_decode(numcodecs, zf.read(key), codecs, nbytes, f"{path}: {key}"),
                                  dtype=dtype).reshape(chunks)
            target = tuple(slice(i * c, min((i + 1) * c, s)) for i, c, s in zip(index, chunks, out_shape))
            out[target] = block[tuple(slice(0, t.stop - t.start) for t in target)]
    return out
