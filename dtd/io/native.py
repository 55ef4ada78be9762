"""The native model format: one ``.npz`` with the arrays and the architecture as JSON.

Layout of the archive (no pickled objects; read with ``allow_pickle=False``):

- ``__architecture__``: a 0-d unicode array holding JSON
  ``{"format": "dtd", "version": 1, "network": "Sequential",
  "layers": [{"type": "Conv2d", "config": {...}, "arrays": {"weight": "0.weight", ...}}, ...]}``
- one array per layer parameter, named ``"<index>.<name>"``.
"""
import json
import os
import tempfile
import zipfile

import numpy as np

from .. import layers as _layers
from ..network import Sequential
from .errors import ModelFileError

__all__ = ["save", "load", "FORMAT_VERSION", "LAYER_TYPES"]

FORMAT_VERSION = 1
_ARCH = "__architecture__"

#: layer classes the native format can hold, by name (dtd.io extends it)
LAYER_TYPES = {cls.__name__: cls for cls in (
    _layers.Dense, _layers.Conv2d, _layers.ReLU, _layers.Flatten, _layers.SumPool2d, _layers.AvgPool2d,
    _layers.MaxPool2d, _layers.LpPool2d, _layers.LRN)}


def _jsonable(v):
    if isinstance(v, tuple):
        return list(v)
    if isinstance(v, np.generic):
        return v.item()
    return v


def _layer_entry(i, layer, arrays):
    name = type(layer).__name__
    if LAYER_TYPES.get(name) is not type(layer):
        raise TypeError(f"dtd.save: layer {i} ({name}) is not a type the native format knows")
    entry = {"type": name, "config": {k: _jsonable(getattr(layer, k)) for k in layer.config_keys}, "arrays": {}}
    for k in layer.array_keys:
        key = f"{i}.{k}"
        arrays[key] = np.ascontiguousarray(getattr(layer, k))
        entry["arrays"][k] = key
    return entry


def architecture(net, arrays):
    """JSON-able description of ``net``; fills ``arrays`` with its parameters."""
    if isinstance(net, Sequential):
        return {"format": "dtd", "version": FORMAT_VERSION, "network": "Sequential",
                "layers": [_layer_entry(i, layer, arrays) for i, layer in enumerate(net.layers)]}
    raise TypeError(f"dtd.save: cannot save a {type(net).__name__}")


def save(net, path):
    """Write ``net`` to ``path`` (an ``.npz``), atomically (temporary file, then rename).

    The round trip is exact: arrays are stored bitwise, in their dtype.
    """
    arrays = {}
    arch = architecture(net, arrays)
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".dtd-", suffix=".npz", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **{_ARCH: np.array(json.dumps(arch))}, **arrays)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _fail(path, why):
    raise ModelFileError(f"{path}: {why}")


def _build_layer(path, i, entry, archive):
    if not isinstance(entry, dict) or not isinstance(entry.get("type"), str):
        _fail(path, f"layer {i}: malformed entry")
    cls = LAYER_TYPES.get(entry["type"])
    if cls is None:
        _fail(path, f"layer {i}: unknown layer type {entry['type']!r} (known: {', '.join(sorted(LAYER_TYPES))})")
    config = entry.get("config", {})
    refs = entry.get("arrays", {})
    if not isinstance(config, dict) or not isinstance(refs, dict):
        _fail(path, f"layer {i} ({entry['type']}): malformed config")
    unknown = (set(config) - set(cls.config_keys)) | (set(refs) - set(cls.array_keys))
    if unknown:
        _fail(path, f"layer {i} ({entry['type']}): unknown parameters {sorted(unknown)}")
    kwargs = dict(config)
    for k, key in refs.items():
        if not isinstance(key, str) or key not in archive.files:
            _fail(path, f"layer {i} ({entry['type']}): array {key!r} is missing")
        try:
            kwargs[k] = archive[key]
        except ValueError as e:  # an object array (pickle) refused by allow_pickle=False
            _fail(path, f"array {key!r} is not plain numeric data ({e})")
        except (OSError, zipfile.BadZipFile, EOFError) as e:
            _fail(path, f"array {key!r} is unreadable ({e})")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        _fail(path, f"layer {i} ({entry['type']}): {e}")


def _check_shapes(path, net):
    """Arrays whose shapes do not chain (e.g. a Dense after Flatten of the wrong size) are found at forward
    time; here we check what can be checked without an input: consecutive Dense layers."""
    prev = None
    for i, layer in enumerate(net.layers):
        if isinstance(layer, _layers.Dense):
            if prev is not None and prev.weight.shape[0] != layer.weight.shape[1]:
                _fail(path, f"layer {i} (Dense) takes {layer.weight.shape[1]} inputs but the Dense before it "
                            f"gives {prev.weight.shape[0]}")
            prev = layer
        elif isinstance(layer, _layers.Conv2d):
            prev = None
        elif not getattr(layer, "passes_relevance", False):
            prev = None


def load(path):
    """Read a network written by :func:`save`.

    Raises
    ------
    ModelFileError
        The file is missing, not an ``.npz``, truncated, holds pickled objects,
        has an unknown format version or layer, or arrays that do not fit.
    """
    path = os.fspath(path)
    try:
        archive = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        _fail(path, "no such file")
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        _fail(path, f"not a dtd model file (.npz): {e}")
    if not isinstance(archive, np.lib.npyio.NpzFile):
        _fail(path, "not a dtd model file: a single .npy array, not an .npz archive")
    with archive:
        if _ARCH not in archive.files:
            _fail(path, f"not a dtd model file: no {_ARCH!r} entry")
        try:
            raw = archive[_ARCH]
            arch = json.loads(str(raw[()]))
        except (ValueError, OSError, zipfile.BadZipFile, EOFError, TypeError, IndexError) as e:
            _fail(path, f"unreadable architecture: {e}")
        if not isinstance(arch, dict) or arch.get("format") != "dtd":
            _fail(path, "not a dtd model file: architecture is not of format 'dtd'")
        if arch.get("version") != FORMAT_VERSION:
            _fail(path, f"format version {arch.get('version')!r} is not supported (this dtd reads {FORMAT_VERSION})")
        if arch.get("network") != "Sequential":
            _fail(path, f"unknown network type {arch.get('network')!r}")
        entries = arch.get("layers")
        if not isinstance(entries, list) or not entries:
            _fail(path, "architecture has no layers")
        net = Sequential([_build_layer(path, i, e, archive) for i, e in enumerate(entries)])
    _check_shapes(path, net)
    return net
