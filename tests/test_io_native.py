"""The native .npz format: exact round trips (Sequential and Graph) and a clear ModelFileError for
every kind of bad file (truncated, wrong magic number, arrays that do not fit, pickled objects,
unknown layer / version / network), never a crash inside NumPy and never code execution."""
import io
import json
import zipfile

import numpy as np
import pytest

import dtd
from dtd import Graph, ModelFileError, Sequential
from dtd._paths import data_dir
from dtd.graph import Add, Concat
from dtd.io.native import LAYER_TYPES
from dtd.layers import (LRN, Affine, AvgPool2d, Conv2d, Dense, Flatten, GroupedConv2d, Identity, LpPool2d,
                        MaxPool2d, PaddedAvgPool2d, PaddedMaxPool2d, ReLU, ScaledSumPool2d, SumPool2d, Tanh,
                        Transpose)


def every_layer_net(dtype=np.float64, seed=0):
    r = np.random.default_rng(seed)

    def a(*shape):
        return r.normal(size=shape).astype(dtype)
    return Sequential([
        Transpose((0, 3, 1, 2)),
        Affine(a(2), a(2)),
        Conv2d(a(4, 2, 3, 3), a(4), stride=1, padding=1), ReLU(),
        GroupedConv2d(a(4, 2, 3, 3), a(4), stride=(1, 1), padding=(1, 0), groups=2), Tanh(),
        LRN(3, 1e-3, 0.75, 2.0, window="pytorch"),
        PaddedMaxPool2d(3, 1, (0, 0, 1, 1)), PaddedAvgPool2d(3, 1, (1, 0, 0, 1), count_include_pad=False),
        MaxPool2d(2, 1), AvgPool2d(2, 1), SumPool2d(2, 1), ScaledSumPool2d(2, 1), LpPool2d(3, 2, 1),
        Identity(), Flatten(), Dense(a(3, 12), a(3)),
    ])


def graph_net(seed=1):
    r = np.random.default_rng(seed)
    return Graph([
        ("conv/a", Conv2d(r.normal(size=(3, 2, 3, 3)), r.normal(size=3), padding=1), "img"),
        ("relu a", ReLU(), "conv/a"),
        ("b", Conv2d(r.normal(size=(3, 2, 1, 1)), r.normal(size=3)), "img"),
        ("sum", Add(epsilon=1e-3), ["relu a", "b"]),
        ("cat", Concat(axis=1), ["sum", "b"]),
        ("flat", Flatten(), "cat"),
        ("fc", Dense(r.normal(size=(2, 6 * 16)), r.normal(size=2)), "flat"),
    ], input="img")


def arrays_of(net):
    ops = [n.op for n in net.nodes] if isinstance(net, Graph) else net.layers
    return [getattr(op, k) for op in ops for k in op.array_keys]


def configs_of(net):
    ops = [n.op for n in net.nodes] if isinstance(net, Graph) else net.layers
    return [(type(op).__name__, {k: getattr(op, k) for k in op.config_keys}) for op in ops]


def read_arch(path):
    with zipfile.ZipFile(path) as zf, zf.open("__architecture__.npy") as f:
        return json.loads(str(np.lib.format.read_array(f, allow_pickle=False)[()]))


def rewrite(path, out, edit=None, arrays=None):
    """Copy an .npz with its architecture passed through ``edit`` and arrays replaced/added from ``arrays``."""
    with np.load(path, allow_pickle=False) as z:
        content = {k: z[k] for k in z.files}
    arch = json.loads(str(content.pop("__architecture__")[()]))
    if edit:
        edit(arch)
    content.update(arrays or {})
    np.savez(out, __architecture__=np.array(json.dumps(arch)), **content)
    return out


def test_layer_registry_knows_every_layer():
    assert {type(l).__name__ for l in every_layer_net().layers} <= set(LAYER_TYPES)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sequential_round_trip_is_exact(tmp_path, dtype):
    net = every_layer_net(dtype)
    dtd.save(net, tmp_path / "m.npz")
    again = dtd.load(tmp_path / "m.npz")
    assert configs_of(again) == configs_of(net)
    for a, b in zip(arrays_of(net), arrays_of(again)):
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    x = np.random.default_rng(2).normal(size=(2, 10, 10, 2)).astype(dtype)
    np.testing.assert_array_equal(again.forward(x), net.forward(x))
    np.testing.assert_array_equal(again.explain(x, dtd.rules.Epsilon(0.1)), net.explain(x, dtd.rules.Epsilon(0.1)))
    assert read_arch(tmp_path / "m.npz")["version"] == 1     # Sequential files stay readable by version-1 readers


def test_graph_round_trip_is_exact(tmp_path):
    net = graph_net()
    dtd.save(net, tmp_path / "g.npz")
    again = dtd.load(tmp_path / "g.npz")
    assert isinstance(again, Graph) and again.input == "img" and again.output == "fc"
    assert [(n.name, n.inputs) for n in again.nodes] == [(n.name, n.inputs) for n in net.nodes]
    assert configs_of(again) == configs_of(net)
    for a, b in zip(arrays_of(net), arrays_of(again)):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
    x = np.random.default_rng(3).normal(size=(2, 2, 4, 4))
    np.testing.assert_array_equal(again.forward(x), net.forward(x))
    np.testing.assert_array_equal(again.explain(x, dtd.composites.get("epsilon-plus")),
                                  net.explain(x, dtd.composites.get("epsilon-plus")))
    assert read_arch(tmp_path / "g.npz")["version"] == 2


def test_shipped_version1_file_loads():
    net = dtd.load(data_dir() / "demo_net.npz")
    assert isinstance(net, Sequential) and len(net.layers) == 8


def test_save_refuses_unknown_types(tmp_path):
    class MyReLU(ReLU):
        pass
    with pytest.raises(TypeError, match="not a type the native format knows"):
        dtd.save(Sequential([MyReLU()]), tmp_path / "x.npz")
    assert not list(tmp_path.iterdir())   # nothing left behind


# ------------------------------------------------------------------ bad files
@pytest.fixture
def good(tmp_path):
    path = tmp_path / "good.npz"
    dtd.save(Sequential([Dense(np.ones((4, 3))), ReLU(), Dense(np.ones((2, 4)))]), path)
    return path


def expect(path, message):
    with pytest.raises(ModelFileError, match=message) as info:
        dtd.load(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path):
    expect(tmp_path / "nope.npz", "no such file")


@pytest.mark.parametrize("keep", [0.5, 0.98])
def test_truncated_file(good, tmp_path, keep):
    data = good.read_bytes()
    bad = tmp_path / "cut.npz"
    bad.write_bytes(data[:int(len(data) * keep)])
    expect(bad, "truncated or damaged zip archive")


def test_truncated_member(good, tmp_path):
    """A zip whose array member lost its last bytes (the zip directory itself is intact)."""
    bad = tmp_path / "member.npz"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            dst.writestr(name, data[:-8] if name == "0.weight.npy" else data)
    expect(bad, r"array '0.weight' is truncated or padded: its header promises 96 bytes, the member holds 88")


def test_wrong_magic_number(tmp_path):
    bad = tmp_path / "image.npz"
    bad.write_bytes(b"GIF89a" + bytes(100))
    expect(bad, r"wrong magic number \(found magic number b'GIF8'")
    npy = tmp_path / "single.npz"
    with open(npy, "wb") as f:
        np.save(f, np.ones(3))
    expect(npy, "a single .npy array")


def test_arrays_that_do_not_fit(good, tmp_path):
    bad = rewrite(good, tmp_path / "b1.npz", arrays={"2.weight": np.ones((2, 5))})
    expect(bad, r"arrays do not fit the architecture: layer 2 \(Dense\) takes 5 channels/features but gets 4")
    bad = rewrite(good, tmp_path / "b2.npz", arrays={"0.weight": np.ones((4, 3, 1))})
    expect(bad, r"layer 0 \(Dense\): Dense: weight must have 2 dimensions")
    bad = rewrite(good, tmp_path / "b3.npz", arrays={"0.bias": np.ones(7)})
    expect(bad, "bias has 7 entries, weight has 4 outputs")
    conv = tmp_path / "conv.npz"
    dtd.save(Sequential([Conv2d(np.ones((3, 1, 2, 2))), ReLU(), MaxPool2d(2), Conv2d(np.ones((2, 3, 2, 2)))]), conv)
    bad = rewrite(conv, tmp_path / "b4.npz", arrays={"3.weight": np.ones((2, 4, 2, 2))})
    expect(bad, r"layer 3 \(Conv2d\) takes 4 channels/features but gets 3")
    bad = rewrite(good, tmp_path / "b5.npz", arrays={"0.weight": np.array([["a", "b", "c"]] * 4)})
    expect(bad, "layer 0 .*must be numeric")


class _Boom:
    """Unpickling this would create a file: the proof that code ran."""

    marker = None

    def __reduce__(self):
        return (open, (str(_Boom.marker), "w"))


def test_pickled_object_is_refused_and_never_run(good, tmp_path):
    _Boom.marker = tmp_path / "code-ran"
    bad = rewrite(good, tmp_path / "pickle.npz", arrays={"0.weight": np.array([_Boom(), 1], dtype=object)})
    expect(bad, r"array '0.weight' holds Python objects \(pickled data\); dtd never unpickles")
    assert not _Boom.marker.exists()
    # an architecture entry that is a pickled object, too
    buf = io.BytesIO()
    np.save(buf, np.array([_Boom()], dtype=object), allow_pickle=True)
    bad2 = tmp_path / "arch.npz"
    with zipfile.ZipFile(bad2, "w") as zf:
        zf.writestr("__architecture__.npy", buf.getvalue())
    expect(bad2, "holds Python objects")
    assert not _Boom.marker.exists()


def test_unknown_layer_version_network(good, tmp_path):
    def bogus(arch):
        arch["layers"][1]["type"] = "Bogus"
    expect(rewrite(good, tmp_path / "l.npz", bogus), r"layer 1: unknown layer type 'Bogus' \(known: Affine, ")

    def future(arch):
        arch["version"] = 99
    expect(rewrite(good, tmp_path / "v.npz", future), "format version 99 is not supported")

    def network(arch):
        arch["network"] = "Recurrent"
    expect(rewrite(good, tmp_path / "n.npz", network), "unknown network type 'Recurrent'")

    def extra(arch):
        arch["layers"][0]["config"] = {"stride": 2}
    expect(rewrite(good, tmp_path / "c.npz", extra), r"layer 0 \(Dense\): unknown parameters \['stride'\]")

    def missing(arch):
        arch["layers"][0]["arrays"]["bias"] = "7.bias"
    expect(rewrite(good, tmp_path / "m.npz", missing), "array '7.bias' is missing")


def test_bad_architecture_entry(good, tmp_path):
    with np.load(good) as z:
        arrays = {k: z[k] for k in z.files if k != "__architecture__"}
    bad = tmp_path / "json.npz"
    np.savez(bad, __architecture__=np.array("{not json"), **arrays)
    expect(bad, "bad JSON")
    other = tmp_path / "other.npz"
    np.savez(other, x=np.ones(3))
    expect(other, "no '__architecture__' entry")


def test_bad_graph_files(tmp_path):
    path = tmp_path / "g.npz"
    dtd.save(graph_net(), path)

    def old(arch):
        arch["version"] = 1
    expect(rewrite(path, tmp_path / "old.npz", old), "network type 'Graph' needs format version 2")

    def cycle(arch):
        arch["nodes"][0]["inputs"] = ["fc"]
    expect(rewrite(path, tmp_path / "cycle.npz", cycle), "malformed graph: .*cycle")

    def merge_in_sequential(arch):
        arch["nodes"][3]["type"] = "Nope"
    expect(rewrite(path, tmp_path / "nope.npz", merge_in_sequential), r"node 'sum': unknown layer type 'Nope'")

    r = np.random.default_rng(0)   # branch b gets 4 channels, the Add's other branch has 3
    bad = rewrite(path, tmp_path / "ch.npz", arrays={"2.weight": r.normal(size=(4, 2, 1, 1)), "2.bias": np.ones(4)})
    expect(bad, r"node 'sum' \(Add\) sums branches with \[3, 4\] channels")
