"""The native model format: one ``.npz`` with the arrays and the architecture as JSON.

Layout of the archive (a zip of ``.npy`` members, as written by ``np.savez``;
no pickled objects, and the reader refuses them):

- ``__architecture__``: a 0-d unicode array holding JSON.
- one array per parameter, named ``"<index>.<name>"``.

Format versions (the JSON's ``"version"``):

- 1: ``{"format": "dtd", "version": 1, "network": "Sequential",
  "layers": [{"type": "Conv2d", "config": {...}, "arrays": {"weight": "0.weight", ...}}, ...]}``.
  Sequential networks are still written as version 1, so older readers read them.
- 2: adds ``"network": "Graph"`` with ``"input"``, ``"output"`` and
  ``"nodes": [{"name": ..., "inputs": [...], "type": ..., "config": ..., "arrays": ...}, ...]``;
  ``type`` is a layer type or a merge type (``Concat``, ``Add``, ``Gate``).

The reader accepts every version up to :data:`FORMAT_VERSION` and checks that
the network type exists in the file's version.
"""
import json
import os
import zipfile
import zlib

import numpy as np

from .. import layers as _layers
from .._files import atomic_write
from ..graph import Graph, Node
from ..layers.base import Layer
from ..merge import Add, Concat, Gate
from ..network import Sequential
from .errors import ModelFileError

__all__ = ["save", "load", "FORMAT_VERSION", "LAYER_TYPES", "MERGE_TYPES"]

#: the newest format version this dtd reads and writes
FORMAT_VERSION = 2
#: the first version that has each network type
_NETWORK_SINCE = {"Sequential": 1, "Graph": 2}
_ARCH = "__architecture__"
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")

#: layer classes the native format can hold, by name
LAYER_TYPES = {cls.__name__: cls for cls in (
    _layers.Dense, _layers.Conv2d, _layers.ReLU, _layers.Flatten, _layers.SumPool2d, _layers.AvgPool2d,
    _layers.MaxPool2d, _layers.LpPool2d, _layers.LRN,
    _layers.Affine, _layers.GroupedConv2d, _layers.Identity, _layers.PaddedAvgPool2d, _layers.PaddedMaxPool2d,
    _layers.ScaledSumPool2d, _layers.Tanh, _layers.Transpose, _layers.ZeroPad2d,
    _layers.Clip, _layers.LeakyReLU, _layers.PReLU, _layers.Sigmoid, _layers.HardSigmoid, _layers.SiLU,
    _layers.HardSwish, _layers.ChannelPermutation, _layers.ChannelSlice,
    _layers.SquaredDistance, _layers.SoftMinPool)}
#: merge nodes of a Graph, by name
MERGE_TYPES = {cls.__name__: cls for cls in (Concat, Add, Gate)}


# -- writing ------------------------------------------------------------------
def _jsonable(v):
    if isinstance(v, tuple):
        return [_jsonable(t) for t in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def _entry(key, op, arrays, where):
    name = type(op).__name__
    registry = LAYER_TYPES if isinstance(op, Layer) else MERGE_TYPES
    if registry.get(name) is not type(op):
        raise TypeError(f"dtd.save: {where} ({name}) is not a type the native format knows")
    entry = {"type": name, "config": {k: _jsonable(getattr(op, k)) for k in op.config_keys}, "arrays": {}}
    for k in op.array_keys:
        arrays[f"{key}.{k}"] = np.ascontiguousarray(getattr(op, k))
        entry["arrays"][k] = f"{key}.{k}"
    return entry


def architecture(net, arrays):
    """JSON-able description of ``net``; fills ``arrays`` with its parameters."""
    if isinstance(net, Sequential):
        return {"format": "dtd", "version": 1, "network": "Sequential",
                "layers": [_entry(i, layer, arrays, f"layer {i}") for i, layer in enumerate(net.layers)]}
    if isinstance(net, Graph):
        nodes = []
        for i, n in enumerate(net.nodes):
            nodes.append({"name": n.name, "inputs": list(n.inputs), **_entry(i, n.op, arrays, f"node {n.name!r}")})
        return {"format": "dtd", "version": 2, "network": "Graph", "input": net.input, "output": net.output,
                "nodes": nodes}
    raise TypeError(f"dtd.save: cannot save a {type(net).__name__} (only Sequential and Graph)")


def save(net, path):
    """Write ``net`` (a Sequential or a Graph) to ``path`` (an ``.npz``), atomically.

    The file is written to a temporary file in the same folder and renamed over
    ``path``.  The round trip is exact: arrays are stored bitwise, in their dtype.
    """
    arrays = {}
    arch = architecture(net, arrays)
    arch_json = np.array(json.dumps(arch))
    atomic_write(os.path.abspath(os.fspath(path)), lambda f: np.savez(f, **{_ARCH: arch_json}, **arrays))


# -- reading ------------------------------------------------------------------
def _fail(path, why):
    raise ModelFileError(f"{path}: {why}")


def _read_array(path, zf, key):
    """One ``.npy`` member, read without ever unpickling, its size checked before reading."""
    try:
        info = zf.getinfo(key + ".npy")
    except KeyError:
        _fail(path, f"array {key!r} is missing")
    try:
        with zf.open(info) as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            elif version in ((2, 0), (3, 0)):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                _fail(path, f"array {key!r}: unknown .npy version {version}")
            if dtype.hasobject:
                _fail(path, f"array {key!r} holds Python objects (pickled data); dtd never unpickles")
            if dtype.kind not in "biufU":
                _fail(path, f"array {key!r} has dtype {dtype}, not plain numeric data")
            nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            header = f.tell()
            if nbytes != info.file_size - header:
                _fail(path, f"array {key!r} is truncated or padded: its header promises {nbytes} bytes, "
                            f"the member holds {info.file_size - header}")
            data = f.read(nbytes)
    except ModelFileError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error, RuntimeError) as e:
        _fail(path, f"array {key!r} is unreadable ({type(e).__name__}: {e})")
    if len(data) != nbytes:
        _fail(path, f"array {key!r} is truncated ({len(data)} of {nbytes} bytes)")
    return np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C").copy()


def _build(path, where, entry, zf, kind):
    """A layer (kind "layer") or a layer-or-merge (kind "node") from its JSON entry."""
    if not isinstance(entry, dict) or not isinstance(entry.get("type"), str):
        _fail(path, f"{where}: malformed entry")
    known = LAYER_TYPES if kind == "layer" else {**LAYER_TYPES, **MERGE_TYPES}
    cls = known.get(entry["type"])
    if cls is None:
        _fail(path, f"{where}: unknown layer type {entry['type']!r} (known: {', '.join(sorted(known))})")
    config = entry.get("config", {})
    refs = entry.get("arrays", {})
    if not isinstance(config, dict) or not isinstance(refs, dict):
        _fail(path, f"{where} ({entry['type']}): malformed config")
    unknown = (set(config) - set(cls.config_keys)) | (set(refs) - set(cls.array_keys))
    if unknown:
        _fail(path, f"{where} ({entry['type']}): unknown parameters {sorted(unknown)}")
    kwargs = dict(config)
    for k, key in refs.items():
        if not isinstance(key, str):
            _fail(path, f"{where} ({entry['type']}): array reference {key!r} is not a name")
        kwargs[k] = _read_array(path, zf, key)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        _fail(path, f"{where} ({entry['type']}): {e}")


def _out_channels(op, channels, where):
    """Size of axis 1 after ``op`` given the size before (None = unknown); raises ValueError if they do not fit."""
    need = op._channels() if isinstance(op, Layer) else None
    if need is not None and channels is not None and need != channels:
        raise ValueError(f"{where} ({type(op).__name__}) takes {need} channels/features but gets {channels}")
    if isinstance(op, (_layers.Dense, _layers.Conv2d)):
        return op.weight.shape[0]
    if isinstance(op, (_layers.Flatten, _layers.Transpose)):
        return None
    if isinstance(op, _layers.ChannelSlice):
        if channels is not None and channels < op.stop:
            raise ValueError(f"{where} (ChannelSlice) takes channels {op.start}..{op.stop - 1} but gets {channels}")
        return op.stop - op.start
    return channels


def _check_channels(path, net):
    """Arrays whose shapes do not chain (a Dense after a Dense of the wrong size, a Conv2d after a Conv2d
    with other channels, ...): found here, before any input is seen, as far as channels tell."""
    try:
        if isinstance(net, Sequential):
            c = None
            for i, layer in enumerate(net.layers):
                c = _out_channels(layer, c, f"layer {i}")
            return
        ch = {net.input: None}
        for n in net.nodes:
            ins = [ch[i] for i in n.inputs]
            if isinstance(n.op, Concat) and n.op.axis == 1:
                ch[n.name] = None if None in ins else sum(ins)
            elif isinstance(n.op, Add):
                known = {c for c in ins if c is not None}
                if len(known) > 1:
                    raise ValueError(f"node {n.name!r} (Add) sums branches with {sorted(known)} channels")
                ch[n.name] = known.pop() if known else None
            elif isinstance(n.op, Concat):
                ch[n.name] = None
            else:
                ch[n.name] = _out_channels(n.op, ins[0], f"node {n.name!r}")
    except ValueError as e:
        _fail(path, f"arrays do not fit the architecture: {e}")


def _open_zip(path):
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except FileNotFoundError:
        _fail(path, "no such file")
    except OSError as e:
        _fail(path, f"cannot read: {e}")
    if magic not in _ZIP_MAGIC:
        what = "a single .npy array" if magic == b"\x93NUM" else f"magic number {magic!r}"
        _fail(path, f"not a dtd model file (.npz): wrong magic number (found {what}, expected a zip archive); "
                    "dtd.load (or dtd.io.load_any) reads ONNX and LRP Toolbox text models too")
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        _fail(path, f"not a dtd model file (.npz): truncated or damaged zip archive ({e})")


def _read_architecture(path, zf):
    if _ARCH + ".npy" not in zf.namelist():
        _fail(path, f"not a dtd model file: no {_ARCH!r} entry")
    raw = _read_array(path, zf, _ARCH)
    if raw.shape != () or raw.dtype.kind != "U":
        _fail(path, "unreadable architecture: not a JSON string")
    try:
        arch = json.loads(str(raw[()]))
    except ValueError as e:
        _fail(path, f"unreadable architecture (bad JSON: {e})")
    if not isinstance(arch, dict) or arch.get("format") != "dtd":
        _fail(path, "not a dtd model file: architecture is not of format 'dtd'")
    version = arch.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= FORMAT_VERSION:
        _fail(path, f"format version {version!r} is not supported (this dtd reads versions 1 to {FORMAT_VERSION})")
    network = arch.get("network")
    if network not in _NETWORK_SINCE:
        _fail(path, f"unknown network type {network!r} (known: {', '.join(_NETWORK_SINCE)})")
    if version < _NETWORK_SINCE[network]:
        _fail(path, f"network type {network!r} needs format version {_NETWORK_SINCE[network]}, "
                    f"the file says {version}")
    return arch


def _build_sequential(path, arch, zf):
    entries = arch.get("layers")
    if not isinstance(entries, list) or not entries:
        _fail(path, "architecture has no layers")
    return Sequential([_build(path, f"layer {i}", e, zf, "layer") for i, e in enumerate(entries)])


def _build_graph(path, arch, zf):
    entries = arch.get("nodes")
    if not isinstance(entries, list) or not entries:
        _fail(path, "architecture has no nodes")
    nodes = []
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or not isinstance(e.get("name"), str) or not isinstance(e.get("inputs"), list):
            _fail(path, f"node {i}: malformed entry (needs a name and a list of inputs)")
        nodes.append(Node(e["name"], _build(path, f"node {e['name']!r}", e, zf, "node"), e["inputs"]))
    try:
        return Graph(nodes, input=arch.get("input"), output=arch.get("output"))
    except (TypeError, ValueError) as e:
        _fail(path, f"malformed graph: {e}")


def load(path):
    """Read a network written by :func:`save` (a :class:`~dtd.Sequential` or a :class:`~dtd.Graph`).

    Raises
    ------
    ModelFileError
        The file is missing, not an ``.npz`` (wrong magic number), truncated,
        holds pickled objects, has an unknown format version, network or layer
        type, or arrays that do not fit the architecture.  The message names
        the file and the cause.
    """
    path = os.fspath(path)
    with _open_zip(path) as zf:
        arch = _read_architecture(path, zf)
        if arch["network"] == "Sequential":
            net = _build_sequential(path, arch, zf)
        else:
            net = _build_graph(path, arch, zf)
    _check_channels(path, net)
    return net
