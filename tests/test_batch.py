"""dtd.batch on this process and a local process pool: exact results, resuming, dead workers, errors.

References: the same chunks explained by ``net.explain`` in the test process
(results must be bitwise equal, ``np.array_equal``), and one call on the whole
array (equal to rounding: BLAS may sum in another order for another number of
rows, so 1e-12 relative there).
"""
import functools
import json
import os

import numpy as np
import pytest

import dtd
from _batch_helpers import key, logged_keys, logging_loader
from dtd import composites
from dtd._paths import data_dir
from dtd.batch import (ChunkError, IncompleteResults, WorkerLost, assemble, chunk_bounds, evaluate_dataset,
                       evaluation_summary, explain_dataset, iter_results, load_evaluation, load_results,
                       missing_chunks, read_index)
from dtd.batch.store import Store, chunk_name

MODEL = str(data_dir() / "demo_net.npz")
BOX = dict(low=0.0, high=1.0)
N, CS = 21, 4  # six chunks, the last one short


@pytest.fixture(scope="module")
def net():
    return dtd.load(MODEL)


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(7).uniform(size=(N, 1, 16, 16))


def chunked_reference(net, x, rules, cs=CS, target=None):
    comp = composites.get(rules, **BOX)
    parts = []
    for a, b in chunk_bounds(len(x), cs):
        t = target[a:b] if isinstance(target, np.ndarray) else target
        parts.append(net.explain(x[a:b], comp, target=t))
    return np.concatenate(parts)


def test_chunk_bounds():
    assert chunk_bounds(21, 4) == [[0, 4], [4, 8], [8, 12], [12, 16], [16, 20], [20, 21]]
    assert chunk_bounds(3, 10) == [[0, 3]]
    with pytest.raises(ValueError, match="chunk_size must be an int >= 1"):
        chunk_bounds(3, 0)


def test_process_pool_two_workers_exact(tmp_path, net, x):
    target = np.arange(N) % 3
    s = explain_dataset(MODEL, x, "dtd", tmp_path, rule_params=BOX, chunk_size=CS, workers=2,
                        target=target, progress=False)
    assert (s.chunks, s.computed, s.skipped) == (6, 6, 0)
    R = load_results(tmp_path)
    assert R.dtype == np.float64 and R.shape == x.shape
    assert np.array_equal(R, chunked_reference(net, x, "dtd", target=target))
    whole = net.explain(x, composites.get("dtd", **BOX), target=target)
    np.testing.assert_allclose(R, whole, rtol=1e-12, atol=1e-12 * np.abs(whole).max())
    # the explained class is the target given, not the argmax: conservation to f_c for that class
    fc = net.forward(x)[np.arange(N), target]
    np.testing.assert_allclose(R.reshape(N, -1).sum(axis=1)[fc > 0], fc[fc > 0], rtol=1e-10)
    index = read_index(tmp_path)
    assert index["chunks"] == chunk_bounds(N, CS) and index["kind"] == "explain"
    assert index["rules"] == {"method": "dtd", "params": BOX, "box": None}
    assert index["versions"]["numpy"] == np.__version__ and index["versions"]["dtd"] == dtd.__version__
    assert sorted(index["done"]) == [str(i) for i in range(6)]


def test_network_object_and_float32(tmp_path, net, x):
    """A network object is saved once for the workers; float32 inputs give float32 results, equal bitwise."""
    x32 = x.astype(np.float32)
    explain_dataset(net, x32, "lrp-0", tmp_path, chunk_size=8, workers=2, progress=False)
    R = load_results(tmp_path)
    assert R.dtype == np.float32
    ref = np.concatenate([net.explain(x32[a:b], composites.get("lrp-0")) for a, b in chunk_bounds(N, 8)])
    assert np.array_equal(R, ref)
    assert dtd.load(tmp_path / "model.npz").layers[0].weight.tobytes() == net.layers[0].weight.tobytes()


def test_npy_memmap_and_image_folder(tmp_path, net, x):
    from PIL import Image

    np.save(tmp_path / "x.npy", x)
    explain_dataset(MODEL, tmp_path / "x.npy", "dtd", tmp_path / "a", rule_params=BOX, chunk_size=CS,
                    executor="serial", progress=False)
    assert np.array_equal(load_results(tmp_path / "a"), chunked_reference(net, x, "dtd"))
    assert read_index(tmp_path / "a")["inputs"]["kind"] == "npy"
    # images: 8-bit grey PNGs, read back with Pillow and scaled to [0, 1]
    folder = tmp_path / "png"
    folder.mkdir()
    pix = np.round(x[:5, 0] * 255).astype(np.uint8)
    for i, p in enumerate(pix):
        Image.fromarray(p, mode="L").save(folder / f"img{i}.png")
    (folder / "notes.txt").write_text("not an input")
    explain_dataset(MODEL, folder, "dtd", tmp_path / "b", rule_params=BOX, chunk_size=2, executor="serial",
                    progress=False)
    xi = pix[:, None] / 255.0
    assert np.array_equal(load_results(tmp_path / "b"), chunked_reference(net, xi, "dtd", cs=2))
    order = json.loads((tmp_path / "b" / "inputs.json").read_text())
    assert [os.path.basename(f) for f in order] == [f"img{i}.png" for i in range(5)]
    # the same through a glob pattern, and .npy files holding one sample each
    for i in range(3):
        np.save(folder / f"s{i}.npy", x[i])
    explain_dataset(MODEL, str(folder / "s*.npy"), "dtd", tmp_path / "c", rule_params=BOX, chunk_size=2,
                    executor="serial", progress=False)
    assert np.array_equal(load_results(tmp_path / "c"), chunked_reference(net, x[:3], "dtd", cs=2))


def test_resume_skips_done_chunks(tmp_path, x):
    log = str(tmp_path / "log")
    loader = functools.partial(logging_loader, log=log)
    out = tmp_path / "out"
    explain_dataset(MODEL, x, "dtd", out, rule_params=BOX, chunk_size=CS, executor="serial", loader=loader,
                    progress=False)
    first = load_results(out)
    keys = [key(x[a]) for a, _ in chunk_bounds(N, CS)]
    assert logged_keys(log) == keys
    os.unlink(log)
    # chunk 1 deleted, chunk 3 cut short, chunk 4 dropped from the index (its file is kept): all redone
    (out / chunk_name(1)).unlink()
    with open(out / chunk_name(3), "r+b") as f:
        f.truncate(200)
    index = json.loads((out / "index.json").read_text())
    del index["done"]["4"]
    (out / "index.json").write_text(json.dumps(index))
    (out / ".chunk-00005.npy.abc.tmp").write_bytes(b"half a chunk")  # a write that died before its rename
    assert missing_chunks(out) == [1, 3, 4]
    with pytest.raises(IncompleteResults, match="3 of 6 chunks are not done"):
        load_results(out)
    mtimes = {i: os.stat(out / chunk_name(i)).st_mtime_ns for i in (0, 2, 5)}
    s = explain_dataset(MODEL, x, "dtd", out, rule_params=BOX, chunk_size=CS, executor="serial",
                        loader=loader, progress=False)
    assert (s.computed, s.skipped) == (3, 3)
    assert sorted(logged_keys(log)) == sorted(keys[i] for i in (1, 3, 4))
    assert {i: os.stat(out / chunk_name(i)).st_mtime_ns for i in (0, 2, 5)} == mtimes
    assert not list(out.glob(".*.tmp"))
    assert np.array_equal(load_results(out), first)


def test_other_run_refused_unless_overwrite(tmp_path, x):
    explain_dataset(MODEL, x, "dtd", tmp_path, rule_params=BOX, chunk_size=CS, executor="serial", progress=False)
    with pytest.raises(ValueError, match="differs in: rules"):
        explain_dataset(MODEL, x, "lrp-0", tmp_path, chunk_size=CS, executor="serial", progress=False)
    with pytest.raises(ValueError, match="differs in: chunk_size, chunks"):
        explain_dataset(MODEL, x, "dtd", tmp_path, rule_params=BOX, chunk_size=5, executor="serial",
                        progress=False)
    with pytest.raises(ValueError, match="differs in: inputs"):
        explain_dataset(MODEL, x + 0.5, "dtd", tmp_path, rule_params=BOX, chunk_size=CS, executor="serial",
                        progress=False)
    s = explain_dataset(MODEL, x, "lrp-0", tmp_path, chunk_size=CS, executor="serial", progress=False,
                        overwrite=True)
    assert s.computed == 6
    assert read_index(tmp_path)["rules"]["method"] == "lrp-0"


def test_worker_dies_mid_chunk_is_redone(tmp_path, net, x):
    """A pool worker that os._exit()s while computing chunk 2 (the first time): the chunk is redone."""
    log, marker = str(tmp_path / "log"), str(tmp_path / "crashed")
    loader = functools.partial(logging_loader, log=log, crash_key=key(x[8]), marker=marker)
    written = []
    s = explain_dataset(MODEL, x, "dtd", tmp_path / "out", rule_params=BOX, chunk_size=CS, workers=2,
                        loader=loader, progress=False, on_chunk=lambda i, a, b: written.append(i))
    assert os.path.exists(marker)
    assert logged_keys(log).count(key(x[8])) == 2          # computed, died, computed again
    assert sorted(written) == list(range(6)) and s.computed == 6   # each chunk written once
    assert np.array_equal(load_results(tmp_path / "out"), chunked_reference(net, x, "dtd"))


def test_worker_that_always_dies_gives_up(tmp_path, x):
    loader = functools.partial(logging_loader, log=str(tmp_path / "log"), crash_key=key(x[20]))
    with pytest.raises(WorkerLost, match=r"chunk 5 \(inputs 20..20\): its worker died 2 times computing it alone"):
        explain_dataset(MODEL, x, "dtd", tmp_path / "out", rule_params=BOX, chunk_size=CS, workers=2,
                        loader=loader, progress=False, retries=1)
    assert missing_chunks(tmp_path / "out") == [5]     # the others are kept for the next run


def test_errors_name_the_chunk(tmp_path, x):
    bad = x.copy()
    bad[9, 0, 3, 3] = np.nan
    for executor in ("serial", "processes"):
        with pytest.raises(ChunkError, match=r"chunk 2 \(inputs 8..11\): ValueError: .*NaN"):
            explain_dataset(MODEL, bad, "dtd", tmp_path / executor, rule_params=BOX, chunk_size=CS,
                            executor=executor, workers=2, progress=False)
    with pytest.raises(TypeError, match="dtype uint8; dtd computes in floating point"):
        explain_dataset(MODEL, np.zeros((2, 1, 16, 16), np.uint8), "dtd", tmp_path / "u", executor="serial")
    with pytest.raises(FileNotFoundError, match="no file matches"):
        explain_dataset(MODEL, str(tmp_path / "nothing*.png"), "dtd", tmp_path / "g", executor="serial")
    with pytest.raises(dtd.ModelFileError, match="no such file"):
        explain_dataset(str(tmp_path / "missing.npz"), x, "dtd", tmp_path / "m", executor="serial")
    with pytest.raises(ValueError, match="one entry per input"):
        explain_dataset(MODEL, x, "dtd", tmp_path / "t", target=np.zeros(3, int), executor="serial")
    with pytest.raises(ValueError, match="executor must be None, 'processes', 'serial', a dask Client"):
        explain_dataset(MODEL, x, "dtd", tmp_path / "e", executor="threads")
    with pytest.raises(ValueError, match="workers must be an int >= 1, got 0"):
        explain_dataset(MODEL, x, "dtd", tmp_path / "w", workers=0)
    with pytest.raises(TypeError, match="model must be a path or a dtd network"):
        explain_dataset(object(), x, "dtd", tmp_path / "o", executor="serial")
    folder = tmp_path / "mixed"
    folder.mkdir()
    np.save(folder / "a.npy", x[0])
    np.save(folder / "b.npy", x[0, :, :8])
    with pytest.raises(ChunkError, match=r"b.npy has shape \(1, 8, 16\), the first input has \(1, 16, 16\)"):
        explain_dataset(MODEL, folder, "dtd", tmp_path / "f", executor="serial", progress=False)


def test_one_writer_per_directory(tmp_path):
    spec = {"kind": "explain", "n": 1, "chunks": [[0, 1]], "result": {"shape": [1], "dtype": "<f8"}}
    with Store(tmp_path, spec):
        with pytest.raises(RuntimeError, match="being written by another run"):
            Store(tmp_path, spec)
    Store(tmp_path, spec).close()  # released
    with pytest.raises(ValueError, match="differs in: n") as refused:
        Store(tmp_path, {**spec, "n": 2})
    Store(tmp_path, spec).close()  # a refused run released the lock too (its traceback is still alive)
    assert refused.value is not None


def test_readers(tmp_path, net, x):
    explain_dataset(MODEL, x, "dtd", tmp_path / "r", rule_params=BOX, chunk_size=CS, executor="serial",
                    progress=False)
    R = load_results(tmp_path / "r")
    parts = list(iter_results(tmp_path / "r"))
    assert [(a, b) for a, b, _ in parts] == [tuple(c) for c in chunk_bounds(N, CS)]
    assert all(isinstance(p, np.memmap) for _, _, p in parts)
    mm = assemble(tmp_path / "r", tmp_path / "all.npy")
    assert np.array_equal(mm, R) and not mm.flags.writeable


def test_evaluate_dataset_chunks_and_processes(tmp_path, net, x):
    """Two methods, region 8 (S = 4 steps): the pool's table equals the same chunks evaluated here."""
    from dtd.evaluate import pixel_flipping
    from dtd.evaluate.compare import compare, evaluate_method

    opts = dict(methods=["dtd", "epsilon"], box=(0.0, 1.0), flipping_options={"region": 8},
                continuity_options={"n_noise": 1})
    evaluate_dataset(MODEL, x, tmp_path / "p", chunk_size=8, workers=2, progress=False, **opts)
    ev = load_evaluation(tmp_path / "p")
    assert ev["methods"] == ["dtd", "epsilon"] and ev["curve_most"].shape == (N, 2, 5)
    for a, b in chunk_bounds(N, 8):
        ids = np.arange(a, b)
        t = net.forward(x[a:b]).argmax(axis=1)
        rand = pixel_flipping(net, x[a:b], np.zeros_like(x[a:b]), t, order="random", region=8, sample_ids=ids)
        for m, (name, params) in enumerate([("dtd", {}), ("epsilon", {"epsilon": 0.25})]):
            e = evaluate_method(net, x[a:b], name, t, box=(0.0, 1.0), params=params, orders=("most", "least"),
                                continuity_options={"n_noise": 1}, flipping_options={"region": 8},
                                sample_ids=ids)
            assert np.array_equal(ev["target"][a:b, m], t)
            assert np.array_equal(ev["sum_R"][a:b, m], e.conservation.total)
            assert np.array_equal(ev["continuity"][a:b, m], e.continuity.value)
            assert np.array_equal(ev["auc_least"][a:b, m], e.flipping["least"].auc)
            assert np.array_equal(ev["curve_most"][a:b, m], e.flipping["most"].curve)
            assert np.array_equal(ev["curve_random"][a:b, m], rand.curve)
    # one chunk holding every input: the summary equals dtd.evaluate.compare's
    evaluate_dataset(MODEL, x, tmp_path / "s", chunk_size=N, executor="serial", progress=False, **opts)
    cmp = compare(net, x, ["dtd", "epsilon"], box=(0.0, 1.0), flipping_options={"region": 8},
                  continuity_options={"n_noise": 1})
    assert evaluation_summary(tmp_path / "s") == cmp.summary()


def test_methods_by_name_box_and_reader(tmp_path, net, x):
    """Gradient methods and a per-channel box by name; a custom reader for file inputs."""
    from dtd.explainers import sensitivity

    explain_dataset(MODEL, x, "sensitivity", tmp_path / "s", chunk_size=CS, executor="serial", progress=False)
    ref = np.concatenate([sensitivity(net, x[a:b], None) for a, b in chunk_bounds(N, CS)])
    assert np.array_equal(load_results(tmp_path / "s"), ref)
    box = (np.array([0.0]), np.array([1.0]))
    explain_dataset(MODEL, x, "dtd", tmp_path / "b", box=box, chunk_size=CS, workers=2, progress=False)
    assert np.array_equal(load_results(tmp_path / "b"), chunked_reference(net, x, "dtd"))
    assert read_index(tmp_path / "b")["rules"] == {"method": "dtd", "params": {}, "box": [[0.0], [1.0]]}
    folder = tmp_path / "raw"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i}.raw").write_bytes(np.round(x[i] * 255).astype(np.uint8).tobytes())
    explain_dataset(MODEL, str(folder / "*.raw"), "dtd", tmp_path / "r", rule_params=BOX, chunk_size=2,
                    executor="serial", progress=False, reader=functools.partial(read_raw, shape=(1, 16, 16)))
    xr = np.round(x[:3] * 255) / 255.0
    assert np.array_equal(load_results(tmp_path / "r"), chunked_reference(net, xr, "dtd", cs=2))
    assert read_index(tmp_path / "r")["inputs"]["reader"].startswith("partial(test_batch.read_raw")
    with pytest.raises(ValueError, match="reader is for inputs given as a directory or a glob"):
        explain_dataset(MODEL, x, "dtd", tmp_path / "e", reader=read_raw, executor="serial")


def read_raw(path, shape):
    """A reader: 8-bit pixels without a header, scaled to [0, 1]."""
    return np.frombuffer(open(path, "rb").read(), np.uint8).reshape(shape) / 255.0
