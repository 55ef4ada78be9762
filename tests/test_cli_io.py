"""``dtd info`` and ``dtd convert`` end to end, through ``python -m dtd`` in a temporary folder:
exit codes (0 success, 1 runtime error with a one-line message, 2 usage), printed layers and shapes,
converted files that load and compute the same function, inputs never overwritten."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import dtd
from dtd.examples import make_demo_network

ROOT = Path(__file__).resolve().parent.parent


def run(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "dtd", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def toolbox_text(rng):
    W1, B1, W2, B2 = rng.normal(size=(4, 3)), rng.normal(size=3), rng.normal(size=(3, 2)), rng.normal(size=2)
    def fmt(a):
        return " ".join(repr(float(v)) for v in a.ravel())
    lines = ["Linear 4 3", fmt(W1), fmt(B1), "Rect", "Linear 3 2", fmt(W2), fmt(B2), "SoftMax"]
    return "\n".join(lines) + "\n", (W1, B1, W2, B2)


def small_onnx(path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(size=(3, 2, 3, 3)).astype(np.float32), "w"),
             numpy_helper.from_array(rng.normal(size=(2, 12)).astype(np.float32), "fc")]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("Flatten", ["r"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "fc"], ["s"], name="fc", transB=1),
             helper.make_node("Softmax", ["s"], ["p"], name="softmax", axis=1)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 4, 4])],
                              [helper.make_tensor_value_info("p", TensorProto.FLOAT, None)], initializer=inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


@pytest.fixture
def work(tmp_path):
    dtd.save(make_demo_network(), tmp_path / "net.npz")
    text, _ = toolbox_text(np.random.default_rng(1))
    (tmp_path / "mlp.txt").write_text(text)
    return tmp_path


def test_info_native_with_and_without_shape(work):
    r = run("info", "net.npz", "--input-shape", "1", "16", "16", cwd=work)
    assert r.returncode == 0, r.stderr
    assert "dtd native (.npz), Sequential with 8 layers" in r.stdout
    assert "MaxPool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))  -> (16, 4, 4)" in r.stdout
    net = make_demo_network()
    total = sum(a.size for l in net.layers for a in (getattr(l, k) for k in l.array_keys))
    assert f"parameters: {total}" in r.stdout
    r = run("info", "net.npz", cwd=work)
    assert r.returncode == 0 and "pass --input-shape" in r.stdout and "  -> (" not in r.stdout


def test_info_onnx_and_toolbox(work):
    small_onnx(work / "m.onnx")
    r = run("info", "m.onnx", cwd=work)
    assert r.returncode == 0, r.stderr
    assert "ONNX, Sequential with 4 layers" in r.stdout
    assert "input shape (one sample): (2, 4, 4)" in r.stdout
    assert "Dense(in=12, out=2)  -> (2,)  [26 parameters]" in r.stdout
    assert "note: stripped the Softmax at the output" in r.stdout
    r = run("info", "mlp.txt", cwd=work)
    assert r.returncode == 0, r.stderr
    assert "LRP Toolbox text, Sequential with 3 layers" in r.stdout and "parameters: 23" in r.stdout


def test_info_errors(work):
    (work / "junk.bin").write_bytes(b"\x00\x01junk")
    r = run("info", "junk.bin", cwd=work)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [r.stderr.strip()]           # one line
    assert "dtd info: error: junk.bin: not a model file dtd reads" in r.stderr
    r = run("info", "net.npz", "--input-shape", "3", "16", "16", cwd=work)
    assert r.returncode == 1 and "does not fit the model: layer 0 (Conv2d) takes 1 channels" in r.stderr
    r = run("info", cwd=work)
    assert r.returncode == 2 and "MODEL" in r.stderr


def test_convert_onnx_and_toolbox(work):
    small_onnx(work / "m.onnx")
    r = run("convert", "m.onnx", "m.npz", cwd=work)
    assert r.returncode == 0, r.stderr
    assert "m.onnx (ONNX) -> m.npz: 4 layers, 83 parameters; reloaded and checked" in r.stdout
    assert "note: stripped the Softmax" in r.stdout
    x = np.random.default_rng(2).normal(size=(3, 2, 4, 4))
    np.testing.assert_array_equal(dtd.load(work / "m.npz").forward(x), dtd.io.load_onnx(work / "m.onnx").forward(x))
    r = run("convert", "mlp.txt", "mlp.npz", cwd=work)
    assert r.returncode == 0, r.stderr
    _, (W1, B1, W2, B2) = toolbox_text(np.random.default_rng(1))
    x = np.random.default_rng(3).normal(size=(5, 4))
    np.testing.assert_allclose(dtd.load(work / "mlp.npz").forward(x), np.maximum(x @ W1 + B1, 0) @ W2 + B2,
                               rtol=1e-12)
    assert not [f for f in os.listdir(work) if f.startswith(".dtd-")]   # no temporary files left


def test_convert_never_overwrites(work):
    before = (work / "net.npz").read_bytes()
    r = run("convert", "net.npz", "./net.npz", cwd=work)
    assert r.returncode == 1 and "is the input file; dtd convert never overwrites its input" in r.stderr
    r = run("convert", "net.npz", "./net.npz", "--force", cwd=work)
    assert r.returncode == 1 and "never overwrites its input" in r.stderr
    assert (work / "net.npz").read_bytes() == before
    (work / "out.npz").write_bytes(b"keep me")
    r = run("convert", "mlp.txt", "out.npz", cwd=work)
    assert r.returncode == 1 and "out.npz exists; pass --force" in r.stderr
    assert (work / "out.npz").read_bytes() == b"keep me"
    r = run("convert", "mlp.txt", "out.npz", "--force", cwd=work)
    assert r.returncode == 0 and isinstance(dtd.load(work / "out.npz"), dtd.Sequential)
    r = run("convert", "mlp.txt", "out.onnx", cwd=work)
    assert r.returncode == 1 and "must end in .npz" in r.stderr
    r = run("convert", "missing.onnx", "x.npz", cwd=work)
    assert r.returncode == 1 and "missing.onnx: no such file" in r.stderr
    (work / "bad.txt").write_text("Linear 2 2\n1 2 3\n0 0\n")
    r = run("convert", "bad.txt", "bad.npz", cwd=work)
    assert r.returncode == 1 and "line 2: the weights of 'Linear 2 2': expected 4 numbers, found 3" in r.stderr
    assert not (work / "bad.npz").exists()
    r = run("convert", "mlp.txt", cwd=work)
    assert r.returncode == 2
