"""ONNX external data (``MODEL.onnx.data`` beside the model, as torch's dynamo exporter writes it) and opsets.

What is compared against what:

- decoding: every tensor dtype dtd reads from external files, random shapes (hypothesis), against
  ``onnx.numpy_helper.to_array`` after ``onnx.load(path)`` (onnx's own loader), bitwise;
- forward of models saved with ``onnx.save_model(..., save_as_external_data=True, size_threshold=0)``
  (every initializer external, int64 shape constants too) against onnxruntime (float32, and a float64
  MLP) and against ``onnx.reference.ReferenceEvaluator`` (a float64 conv net: onnxruntime has no
  float64 Conv), and bitwise against the same model with its data inline;
- a real ``torch.onnx.export(..., dynamo=True)`` of a small conv net against torch (skipped without
  torch / onnxscript);
- every default-domain opset from 1 to the newest the installed onnx knows, with each op in the
  form of that opset (broadcast/axis attributes before 7, Reshape's shape attribute before 5, Slice's
  attributes before 10, Squeeze/Unsqueeze axes as attributes before 13, Cast's type name before 6,
  Concat's default axis before 4), against onnxruntime on the same model (opsets >= 7) or on its
  opset-13 form (opsets < 7, which onnxruntime does not run);
- ``dtd info`` / ``convert`` / ``explain`` on an external-data model, run from another folder;
- bad external data (missing, truncated, ``../x``, absolute, a symlink leading out, a wrong length, an
  offset past the end, non-integer offsets, FIFOs, ...): a ModelFileError naming the model, the
  tensor and the cause, and an audit hook on ``open`` shows no file outside the model's folder was
  opened (a readable file sits where the location points).

Tolerances: float32 ``rtol 1e-5`` with an absolute floor of ``1e-5 * max|reference|`` (outputs near
zero are differences of large float32 sums, added in different orders); float64 ``rtol 1e-12`` with
a floor of ``1e-12 * max|reference|`` (the same, 9 decimal digits further); torch ``rtol 1e-5`` as
float32.  Decoding and inline-versus-external comparisons are exact.
"""
import contextlib
import os
import re
import shutil
import sys
import tempfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from dtd import ModelFileError, composites  # noqa: E402
from dtd.io import load_any, load_onnx  # noqa: E402
from dtd.io._onnx_external import ExternalData  # noqa: E402

NEWEST = onnx.defs.onnx_opset_version()

# -- which files are opened: an audit hook (it cannot be removed; it records only inside `opened()`) --------
_OPENED = []
_RECORDING = [False]


def _audit(event, args):
    if _RECORDING[0] and event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        _OPENED.append(os.fsdecode(args[0]))


sys.addaudithook(_audit)


@contextlib.contextmanager
def opened():
    _OPENED.clear()
    _RECORDING[0] = True
    try:
        yield _OPENED
    finally:
        _RECORDING[0] = False


def outside(paths, folder, root):
    """Paths under ``root`` (the test's tmp_path) opened outside ``folder``."""
    folder, root = os.path.realpath(folder), os.path.realpath(root)
    out = []
    for p in paths:
        r = os.path.realpath(p)
        if os.path.commonpath([r, root]) == root and os.path.commonpath([r, folder]) != folder:
            out.append(p)
    return out


# -- models ---------------------------------------------------------------------------------------------
def ort_run(model_or_path, x):
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    src = model_or_path.SerializeToString() if isinstance(model_or_path, onnx.ModelProto) else str(model_or_path)
    sess = ort.InferenceSession(src, opts, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def assert_close(ours, ref, tol):
    assert ours.dtype == ref.dtype and ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=tol, atol=tol * np.abs(ref).max())


def save_external(model, path, location="weights.bin"):
    """Save with every tensor in ``location`` (onnx.save_model would turn ``model`` itself external: a copy)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    onnx.save_model(copy, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=location, size_threshold=0)
    return path


def conv_net(dtype=np.float32, seed=0):
    """Conv(+bias) -> Relu -> MaxPool -> Shape/Gather/Concat/Reshape (int64 constants) -> Gemm."""
    rng = np.random.default_rng(seed)
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    inits = {"w1": rng.normal(0, 0.4, (4, 2, 3, 3)), "b1": rng.uniform(-0.1, 0.1, 4),
             "w2": rng.normal(0, 0.3, (3, 36)), "b2": rng.uniform(-0.1, 0.1, 3)}
    inits = [numpy_helper.from_array(v.astype(dtype), k) for k, v in inits.items()]
    inits += [numpy_helper.from_array(np.array([0], np.int64), "i0"),
              numpy_helper.from_array(np.array([-1], np.int64), "m1")]
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Shape", ["p"], ["s"], name="shape"),
             helper.make_node("Gather", ["s", "i0"], ["n"], name="batch", axis=0),
             helper.make_node("Concat", ["n", "m1"], ["tgt"], name="target", axis=0),
             helper.make_node("Reshape", ["p", "tgt"], ["f"], name="flatten"),
             helper.make_node("Gemm", ["f", "w2", "b2"], ["y"], name="fc", transB=1)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", elem, [1, 2, 6, 6])],
                              [helper.make_tensor_value_info("y", elem, None)], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def mlp64(seed=3):
    rng = np.random.default_rng(seed)
    inits = [numpy_helper.from_array(rng.normal(0, 0.5, (5, 8)), "w1"),
             numpy_helper.from_array(rng.normal(0, 0.1, 8), "b1"),
             numpy_helper.from_array(rng.normal(0, 0.5, (3, 8)), "w2"),
             numpy_helper.from_array(rng.normal(0, 0.1, 3), "b2")]
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h"], name="mm"),
             helper.make_node("Add", ["h", "b1"], ["hb"], name="bias"),
             helper.make_node("Relu", ["hb"], ["r"], name="relu"),
             helper.make_node("Gemm", ["r", "w2", "b2"], ["y"], name="fc", transB=1)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.DOUBLE, [1, 5])],
                              [helper.make_tensor_value_info("y", TensorProto.DOUBLE, None)], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def images(shape, dtype=np.float32, seed=1):
    return np.random.default_rng(seed).uniform(0, 1, shape).astype(dtype)


def external_names(path):
    m = onnx.load(str(path), load_external_data=False)
    return [t.name for t in m.graph.initializer if t.data_location == TensorProto.EXTERNAL]


# -- decoding ---------------------------------------------------------------------------------------------
DTYPES = [np.float32, np.float64, np.float16, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16,
          np.uint32, np.uint64, np.bool_, np.complex64, np.complex128]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(DTYPES), st.lists(st.integers(0, 4), max_size=3)), min_size=1,
                max_size=5),
       st.integers(0, 2 ** 32 - 1))
def test_decoding_equals_onnx_to_array(tensors, seed):
    rng = np.random.default_rng(seed)
    inits = []
    for i, (dt, shape) in enumerate(tensors):
        v = rng.normal(0, 100, size=shape) + 1j * rng.normal(0, 100, size=shape)
        v = v.real > 0 if dt is np.bool_ else (v if np.dtype(dt).kind == "c" else v.real)
        inits.append(numpy_helper.from_array(np.asarray(v).astype(dt), f"t{i}"))
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializer=inits)
    with tempfile.TemporaryDirectory() as d:
        path = save_external(helper.make_model(graph), os.path.join(d, "m.onnx"))
        theirs = {t.name: numpy_helper.to_array(t) for t in onnx.load(path).graph.initializer}
        reader = ExternalData(d, path)
        n_ext = 0
        for t in onnx.load(path, load_external_data=False).graph.initializer:
            if t.data_location != TensorProto.EXTERNAL:
                continue
            n_ext += 1
            ours = reader.array(t)
            assert ours.dtype == theirs[t.name].dtype and ours.shape == theirs[t.name].shape
            assert ours.tobytes() == theirs[t.name].tobytes()
            assert ours.flags.writeable
        assert n_ext >= sum(1 for _, s in tensors if int(np.prod(s)) > 0)


# -- models that load ---------------------------------------------------------------------------------------
def test_float32_external_equals_onnxruntime_and_inline(tmp_path):
    model = conv_net()
    path = save_external(model, tmp_path / "m" / "m.onnx")
    assert set(external_names(path)) == {"w1", "b1", "w2", "b2", "i0", "m1"}   # int64 constants too
    with opened() as files:
        net = load_onnx(path)
    assert files and not outside(files, tmp_path / "m", tmp_path)
    x = images((3, 2, 6, 6))
    ref = np.concatenate([ort_run(path, x[i:i + 1]) for i in range(3)])   # the model's batch is 1
    assert_close(net.forward(x), ref, 1e-5)
    inline = load_onnx(model)
    np.testing.assert_array_equal(net.forward(x), inline.forward(x))
    R, R_inline = (n.explain(x, composites.DTD(low=0.0, high=1.0)) for n in (net, inline))
    np.testing.assert_array_equal(R, R_inline)


def test_float64_external(tmp_path):
    from onnx.reference import ReferenceEvaluator
    model = mlp64()
    path = save_external(model, tmp_path / "mlp.onnx", location="mlp.onnx.data")
    net = load_onnx(path)
    x = images((1, 5), np.float64)
    assert_close(net.forward(x), ort_run(path, x), 1e-12)
    model = conv_net(np.float64)
    path = save_external(model, tmp_path / "conv.onnx", location="conv.onnx.data")
    net = load_onnx(path)
    x = images((1, 2, 6, 6), np.float64)
    ref = ReferenceEvaluator(onnx.load(str(path))).run(None, {"x": x})[0]
    assert_close(net.forward(x), ref, 1e-12)
    np.testing.assert_array_equal(net.forward(x), load_onnx(model).forward(x))


def test_model_in_memory_needs_base_dir(tmp_path):
    path = save_external(conv_net(), tmp_path / "m.onnx")
    model = onnx.load(str(path), load_external_data=False)
    with pytest.raises(ModelFileError, match=r"<onnx.ModelProto>: tensor '\w+': its values are in an external "
                                             r"data file \('weights.bin'\).*pass base_dir="):
        load_onnx(model)
    x = images((1, 2, 6, 6))
    assert_close(load_onnx(model, base_dir=tmp_path).forward(x), ort_run(path, x), 1e-5)


def test_torch_dynamo_export(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxscript")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 6, 3, padding=1), torch.nn.BatchNorm2d(6), torch.nn.ReLU(),
                              torch.nn.MaxPool2d(2), torch.nn.Conv2d(6, 8, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(8 * 2 * 2, 5))
    with torch.no_grad():
        net[1].running_mean.uniform_(-0.2, 0.2)
        net[1].running_var.uniform_(0.5, 2.0)
    net.eval()
    x = images((1, 3, 8, 8))
    path = tmp_path / "export" / "net.onnx"
    path.parent.mkdir()
    torch.onnx.export(net, (torch.from_numpy(x),), str(path), dynamo=True)
    assert (path.parent / "net.onnx.data").is_file() and external_names(path)
    ours = load_onnx(path)
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()
    assert_close(ours.forward(x), ref, 1e-5)


def test_cli_info_convert_explain(tmp_path):
    import subprocess
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}

    def run(*args):
        return subprocess.run([sys.executable, "-m", "dtd", *map(str, args)], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)

    path = save_external(conv_net(), tmp_path / "sub" / "m.onnx", location="m.onnx.data")
    x = images((2, 2, 6, 6))
    np.save(tmp_path / "x.npy", x)
    r = run("info", "sub/m.onnx")                     # run from the parent: locations are the model's folder's
    assert r.returncode == 0, r.stderr
    assert "ONNX" in r.stdout and "Dense(in=36, out=3)" in r.stdout
    r = run("convert", "sub/m.onnx", "m.npz")
    assert r.returncode == 0, r.stderr
    import dtd
    net = load_onnx(path)
    np.testing.assert_array_equal(dtd.load(tmp_path / "m.npz").forward(x), net.forward(x))
    r = run("explain", "sub/m.onnx", "x.npy", "--box", "0", "1", "--out", "out")
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "out" / "x_relevance.npy"),
                                  net.explain(x, composites.DTD(low=0.0, high=1.0)))
    assert load_any(path).model_format == "onnx"
    os.remove(tmp_path / "sub" / "m.onnx.data")
    r = run("info", "sub/m.onnx")
    assert r.returncode == 1 and "external data file 'm.onnx.data' is missing" in r.stderr


# -- bad external data ---------------------------------------------------------------------------------------
def _entries(tensor, **changes):
    """Set (value str), drop (value None) or add key/value pairs of an external tensor, keeping the order."""
    pairs = [(e.key, e.value) for e in tensor.external_data]
    keys = [k for k, _ in pairs]
    pairs = [(k, changes[k] if k in changes else v) for k, v in pairs] + \
        [(k, v) for k, v in changes.items() if k not in keys]
    del tensor.external_data[:]
    for k, v in pairs:
        if v is not None:
            e = tensor.external_data.add()
            e.key, e.value = k, v


def _w1(model):
    return next(t for t in model.graph.initializer if t.name == "w1")


W1_BYTES = 4 * 2 * 3 * 3 * 4


def _case_missing(folder, model):
    os.remove(folder / "weights.bin")


def _case_truncated(folder, model):
    data = (folder / "weights.bin").read_bytes()
    (folder / "weights.bin").write_bytes(data[:W1_BYTES // 2])


def _case_dotdot(folder, model):
    shutil.copy(folder / "weights.bin", folder.parent / "x")      # readable, and would load if read
    _entries(_w1(model), location="../x")


def _case_dotdot_inside(folder, model):
    os.mkdir(folder / "sub")
    _entries(_w1(model), location="sub/../weights.bin")


def _case_absolute(folder, model):
    shutil.copy(folder / "weights.bin", folder.parent / "x")
    _entries(_w1(model), location=str(folder.parent / "x"))


def _case_windows_absolute(folder, model):
    _entries(_w1(model), location="C:\\weights.bin")


def _case_symlink_file(folder, model):
    os.mkdir(folder.parent / "elsewhere")
    os.replace(folder / "weights.bin", folder.parent / "elsewhere" / "weights.bin")
    os.symlink(folder.parent / "elsewhere" / "weights.bin", folder / "weights.bin")


def _case_symlink_dir(folder, model):
    os.mkdir(folder.parent / "elsewhere")
    shutil.copy(folder / "weights.bin", folder.parent / "elsewhere" / "weights.bin")
    os.symlink(folder.parent / "elsewhere", folder / "data")
    for t in model.graph.initializer:
        if t.data_location == TensorProto.EXTERNAL:
            _entries(t, location="data/weights.bin")


def _case_length_larger(folder, model):
    _entries(_w1(model), length=str(W1_BYTES + 16))


def _case_length_smaller(folder, model):
    _entries(_w1(model), length=str(W1_BYTES - 4))


def _case_offset_past_end(folder, model):
    size = os.path.getsize(folder / "weights.bin")
    _entries(_w1(model), offset=str(size + 100))


def _case_offset_near_end(folder, model):
    size = os.path.getsize(folder / "weights.bin")
    _entries(_w1(model), offset=str(size - 8))


def _case_directory(folder, model):
    os.mkdir(folder / "dir")
    _entries(_w1(model), location="dir")


def _case_folder_itself(folder, model):
    _entries(_w1(model), location=".")


def _case_fifo(folder, model):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    os.mkfifo(folder / "fifo")
    _entries(_w1(model), location="fifo")


def _case_bfloat16(folder, model):
    t = _w1(model)
    t.data_type = TensorProto.BFLOAT16


BAD = [
    (_case_missing, r"external data file 'weights.bin' is missing"),
    (_case_truncated, r"external data file 'weights.bin' is truncated or too short: it holds 144 bytes and it "
                      r"ends before offset 0 \+ 288 bytes \(FLOAT \(4, 2, 3, 3\)\)"),
    (_case_dotdot, r"location '../x' has a '..' component"),
    (_case_dotdot_inside, r"location 'sub/../weights.bin' has a '..' component"),
    (_case_absolute, r"location '.*x' is an absolute path"),
    (_case_windows_absolute, r"location 'C:\\\\weights.bin' is an absolute path"),
    (_case_symlink_file, r"location 'weights.bin' resolves to '.*elsewhere.*', outside the model's folder"),
    (_case_symlink_dir, r"location 'data/weights.bin' resolves to '.*elsewhere.*', outside the model's folder"),
    (_case_length_larger, r"length 304 bytes does not match its type and shape: FLOAT \(4, 2, 3, 3\) takes 288"),
    (_case_length_smaller, r"length 284 bytes does not match"),
    (_case_offset_past_end, r"it holds \d+ bytes and offset \d+ is past its end"),
    (_case_offset_near_end, r"it holds (\d+) bytes and it ends before offset \d+ \+ 288 bytes"),
    (_case_directory, r"location 'dir' is not a regular file"),
    (_case_folder_itself, r"location '.' is not a regular file"),
    (_case_fifo, r"location 'fifo' is not a regular file"),
    (_case_bfloat16, r"external data of type BFLOAT16 is not supported"),
]
for bad_value in ["1.5", "-4", "abc", "0x10", "", " 8", "1e3", "١٢"]:
    BAD.append((lambda folder, model, v=bad_value: _entries(_w1(model), offset=v),
                rf"external data offset '{bad_value}' is not a non-negative integer"))
BAD += [
    (lambda folder, model: _entries(_w1(model), length="-1"), r"external data length '-1' is not a non-negative"),
    (lambda folder, model: _entries(_w1(model), location=None), r"external data without a location"),
    (lambda folder, model: _entries(_w1(model), basepat="/"), r"unknown external data key 'basepat'"),
    (lambda folder, model: _w1(model).external_data.add(key="offset", value="0"),
     r"external data key 'offset' is given twice"),
    (lambda folder, model: setattr(_w1(model), "raw_data", b"\0" * W1_BYTES), r"holds values inline as well"),
]


@pytest.mark.parametrize("edit, message", BAD, ids=[f"{i}-{getattr(e, '__name__', 'lambda')}"
                                                     for i, (e, _) in enumerate(BAD)])
def test_bad_external_data(tmp_path, edit, message):
    folder = tmp_path / "model"
    path = save_external(conv_net(), folder / "m.onnx")
    model = onnx.load(str(path), load_external_data=False)
    edit(folder, model)
    path.write_bytes(model.SerializeToString())
    with opened() as files, pytest.raises(ModelFileError) as info:
        load_onnx(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: tensor 'w1': "), msg        # the model, the tensor (the first external one)
    assert re.search(message, msg), (message, msg)
    assert not outside(files, folder, tmp_path), files


def test_external_data_is_read_exactly(tmp_path, monkeypatch):
    """Each tensor's bytes are read once, exactly as many as its shape needs (the data file holds more)."""
    path = save_external(conv_net(), tmp_path / "m.onnx")
    with open(tmp_path / "weights.bin", "ab") as f:
        f.write(b"\xff" * 4096)                              # trailing bytes no tensor claims
    sizes = []
    real = os.fdopen

    class Counting:
        """The opened data file, recording how many bytes each read asks for."""
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def readinto(self, buf):
            sizes.append(len(buf))
            return self.f.readinto(buf)

        def __getattr__(self, name):
            return getattr(self.f, name)

    from dtd.io import _onnx_external
    monkeypatch.setattr(_onnx_external.os, "fdopen", lambda *args, **kwargs: Counting(real(*args, **kwargs)))
    load_onnx(path)
    expected = {t.name: numpy_helper.to_array(t).nbytes for t in onnx.load(str(path)).graph.initializer}
    assert sorted(sizes) == sorted(v for v in expected.values() if v)


# -- opsets ----------------------------------------------------------------------------------------------------
def opset_model(v, seed=7):
    """The same function in the form of opset ``v``: two Conv branches (one weight computed from constants) ->
    Concat -> BatchNorm (v >= 7) -> Relu -> Mul by a per-channel constant (computed from constants) -> MaxPool,
    then a Reshape to (N, 27) (target from Shape/Slice/Gather/Unsqueeze/Concat/Cast) -> Dropout -> Gemm, plus an
    AveragePool -> Squeeze -> Gemm branch, added."""
    rng = np.random.default_rng(seed)
    f32 = np.float32
    p = {"wa": rng.normal(0, 0.4, (2, 2, 3, 3)), "wb": rng.normal(0, 0.1, 2), "w2": rng.normal(0, 0.4, (1, 2, 3, 3)),
         "b1": rng.uniform(-0.1, 0.1, 2), "g": rng.uniform(0.5, 1.5, 3), "be": rng.normal(0, .1, 3),
         "mu": rng.normal(0, .1, 3), "var": rng.uniform(.5, 2, 3), "k0": rng.uniform(0.5, 1.5, 3),
         "k1": rng.uniform(0.0, 0.5, 1), "wf": rng.normal(0, 0.3, (4, 27)), "bf": rng.uniform(-.1, .1, 4),
         "wg": rng.normal(0, 0.5, (4, 3))}
    p = {k: a.astype(f32) for k, a in p.items()}
    inits, nodes = {}, []

    def const(name, value):
        inits[name] = np.asarray(value)
        return name

    def node(op, ins, out, **attrs):
        nodes.append(helper.make_node(op, ins, [out], name=out, **attrs))
        return out

    legacy = {"broadcast": 1} if v < 7 else {}
    # w1 = wa + wb per output channel: a weight computed at import (legacy: B of shape (2,) aligned at axis 0)
    wb = const("wb", p["wb"] if v < 7 else p["wb"].reshape(2, 1, 1, 1))
    w1 = node("Add", [const("wa", p["wa"]), wb], "w1", **({"broadcast": 1, "axis": 0} if v < 7 else {}))
    c1 = node("Conv", ["x", w1, const("b1", p["b1"])], "c1", pads=[1, 1, 1, 1])
    c2 = node("Conv", ["x", const("w2", p["w2"])], "c2", pads=[1, 1, 1, 1])
    t = node("Concat", [c1, c2], "cat", **({} if v < 4 else {"axis": 1}))          # axis 1 by default before 4
    if v >= 7:
        t = node("BatchNormalization", [t] + [const(k, p[k]) for k in ("g", "be", "mu", "var")], "bn", epsilon=1e-3)
    t = node("Relu", [t], "relu")
    # scale = k0 + k1 (k1 one element), per channel
    if v >= 7:
        s = node("Add", [const("k0", p["k0"].reshape(3, 1, 1)), const("k1", p["k1"])], "scale")
        t = node("Mul", [t, s], "mul")
    else:
        s = node("Add", [const("k0", p["k0"]), const("k1", p["k1"])], "scale", broadcast=1)
        t = node("Mul", [t, const("k2", np.ones(3, f32))], "mul1", broadcast=1, axis=1)
        t = node("Mul", [t, s], "mul", broadcast=1, axis=1)
    t = node("MaxPool", [t], "pool", kernel_shape=[2, 2], strides=[2, 2])                   # (N, 3, 3, 3)
    # branch a: Reshape to (N, 27), the target computed as exporters do (Shape, Slice, Gather, Unsqueeze, Concat)
    if v < 5:
        a = node("Reshape", [t], "flat", shape=[0, -1])
    else:
        shp = node("Shape", [t], "shape")
        if v < 10:
            n = node("Slice", [shp], "n", starts=[0], ends=[1], axes=[0])
        else:
            n = node("Slice", [shp, const("s0", np.array([0], np.int64)), const("s1", np.array([1], np.int64))], "n")
        h = node("Gather", [shp, const("i2", np.array(2, np.int64))], "h", axis=0)
        if v >= 13:
            h = node("Unsqueeze", [h, const("ax0", np.array([0], np.int64))], "h1")
        else:
            h = node("Unsqueeze", [h], "h1", axes=[0])
        f = node("Mul", [h, const("nine", np.array([9], np.int64))], "features")
        tgt = node("Concat", [n, f], "tgt0", axis=0)
        tgt = node("Cast", [tgt], "tgt", to="INT64" if v < 6 else TensorProto.INT64)
        a = node("Reshape", [t, tgt], "flat")
    if v >= 12:
        a = node("Dropout", [a, const("ratio", np.array(0.5, f32)), const("train", np.array(False))], "drop")
    elif v >= 7:
        a = node("Dropout", [a], "drop", ratio=0.5)
    else:
        a = node("Dropout", [a], "drop", is_test=1, ratio=0.5)
    a = node("Gemm", [a, const("wf", p["wf"]), const("bf", p["bf"])], "fc", transB=1, **legacy)
    # branch b: average to (N, 3, 1, 1), Squeeze to (N, 3)
    b = node("AveragePool", [t], "avg", kernel_shape=[3, 3])
    if v >= 13:
        b = node("Squeeze", [b, const("ax23", np.array([2, 3], np.int64))], "sq")
    else:
        b = node("Squeeze", [b], "sq", axes=[2, 3])
    b = node("Gemm", [b, const("wg", p["wg"]), const("bg", np.zeros(4, f32))], "fc2", transB=1, **legacy)
    y = node("Add", [a, b], "y")
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 6, 6])],
                              [helper.make_tensor_value_info(y, TensorProto.FLOAT, None)],
                              initializer=[numpy_helper.from_array(a, n) for n, a in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", v)])
    model.ir_version = 3 if v < 7 else 8
    return model


def bn_free(model):
    """The opset-13 model without its BatchNormalization (what the legacy forms, v < 7, compute)."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    bn = next(n for n in m.graph.node if n.op_type == "BatchNormalization")
    for n in m.graph.node:
        n.input[:] = [bn.input[0] if i == bn.output[0] else i for i in n.input]
    m.graph.node.remove(bn)
    return m


@pytest.mark.parametrize("v", range(1, NEWEST + 1))
def test_every_opset_up_to_the_newest(tmp_path, v):
    model = opset_model(v)
    path = save_external(model, tmp_path / "m.onnx")
    net = load_onnx(path)
    x = images((1, 2, 6, 6), seed=v)
    if v >= 7:      # inline: onnxruntime's shape inference does not read small external tensors (Slice, Squeeze)
        ref = ort_run(model, x)
    else:
        ref = ort_run(bn_free(opset_model(13)), x)
    assert_close(net.forward(x), ref, 1e-5)


def test_opset_newer_than_onnx_knows(tmp_path):
    model = opset_model(13)
    model.opset_import[0].version = NEWEST + 1
    path = tmp_path / "new.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(ModelFileError, match=rf"{path}: the model uses ONNX opset {NEWEST + 1} \(default domain\), "
                                             rf"newer than the newest the installed onnx {onnx.__version__} knows "
                                             rf"\(opset {NEWEST}\); reading it needs a later onnx release"):
        load_onnx(path)
    model.opset_import[0].domain = "ai.onnx"
    with pytest.raises(ModelFileError, match=f"opset {NEWEST + 1}"):
        load_onnx(model)


def test_dropout_in_training_mode_refused(tmp_path):
    model = opset_model(13)
    for t in model.graph.initializer:
        if t.name == "train":
            t.CopyFrom(numpy_helper.from_array(np.array(True), "train"))
    with pytest.raises(ModelFileError, match="node 'drop' \\(Dropout\\): training_mode is true"):
        load_onnx(model)


@pytest.mark.parametrize("attrs, message", [
    ({"broadcast": 0}, r"shapes \(1, 3, 6, 6\) and \(3,\) differ and broadcast=0"),
    ({"broadcast": 1, "axis": 3}, r"broadcast axis 3 does not fit shapes \(1, 3, 6, 6\) and \(3,\)"),
])
def test_legacy_broadcast_refused(attrs, message):
    model = opset_model(6)
    mul = next(n for n in model.graph.node if n.name == "mul1")
    del mul.attribute[:]
    mul.attribute.extend([helper.make_attribute(k, v) for k, v in attrs.items()])
    with pytest.raises(ModelFileError, match=r"node 'mul1' \(Mul\): " + message):
        load_onnx(model)


@pytest.mark.parametrize("algorithm", ["sha1", "sha256"])
def test_checksum_verified(tmp_path, algorithm):
    """A ``checksum`` (SHA-1 of the data file per onnx.proto; SHA-256 taken too) is checked against hashlib's
    digest of the file: the right one loads (forward equal to onnxruntime's), a digest of other bytes, of a
    file changed after the model was written, or a malformed one is refused, and the file is hashed once."""
    import hashlib
    folder = tmp_path / "m"
    path = save_external(conv_net(), folder / "m.onnx")
    data = (folder / "weights.bin").read_bytes()
    model = onnx.load(str(path), load_external_data=False)
    for t in model.graph.initializer:
        if t.data_location == TensorProto.EXTERNAL:
            _entries(t, checksum=hashlib.new(algorithm, data).hexdigest().upper())   # case is not significant
    path.write_bytes(model.SerializeToString())
    from dtd.io import _onnx_external
    calls = []
    real_new = hashlib.new
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_onnx_external.hashlib, "new", lambda *a: calls.append(a) or real_new(*a))
        net = load_onnx(path)
    assert calls == [(algorithm,)]                         # six external tensors, one file, one digest
    x = images((1, 2, 6, 6))
    assert_close(net.forward(x), ort_run(path, x), 1e-5)
    # the data file changed after the model was written (one byte of w2): refused, naming both digests
    changed = bytearray(data)
    changed[-40] ^= 1
    (folder / "weights.bin").write_bytes(bytes(changed))
    with pytest.raises(ModelFileError, match=rf"tensor 'w1': external data file 'weights.bin' does not match its "
                                             rf"checksum: its {algorithm.upper().replace('SHA', 'SHA-')} is "
                                             rf"{hashlib.new(algorithm, bytes(changed)).hexdigest()}"):
        load_onnx(path)


@pytest.mark.parametrize("value", ["abc", "g" * 40, "0" * 39, "0" * 41, "0" * 128, ""])
def test_malformed_checksum_refused(tmp_path, value):
    folder = tmp_path / "m"
    path = save_external(conv_net(), folder / "m.onnx")
    model = onnx.load(str(path), load_external_data=False)
    _entries(_w1(model), checksum=value)
    path.write_bytes(model.SerializeToString())
    with pytest.raises(ModelFileError, match=r"tensor 'w1': external data checksum .* is not a SHA-1 \(40 "
                                             r"hexadecimal digits, the ONNX spec\) or SHA-256 \(64\) digest"):
        load_onnx(path)
