"""dtd.batch on a Dask LocalCluster on loopback (two worker processes): exact results, killed workers.

Skipped when dask.distributed is not installed (``pip install dtd[dask]``).
"""
import functools
import os
import signal

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

import dtd  # noqa: E402
from _batch_helpers import key, logged_keys, logging_loader  # noqa: E402
from dtd import composites  # noqa: E402
from dtd._paths import data_dir  # noqa: E402
from dtd.batch import chunk_bounds, explain_dataset, load_results, read_index  # noqa: E402

MODEL = str(data_dir() / "demo_net.npz")
BOX = dict(low=0.0, high=1.0)
N, CS = 21, 4


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None, silence_logs=40)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def net():
    return dtd.load(MODEL)


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(11).uniform(size=(N, 1, 16, 16))


def reference(net, x, rules="dtd"):
    comp = composites.get(rules, **BOX)
    return np.concatenate([net.explain(x[a:b], comp) for a, b in chunk_bounds(len(x), CS)])


def pids(client):
    return set(client.run(os.getpid).values())


def test_client_path_object_and_address_exact(tmp_path, client, net, x):
    client.wait_for_workers(2)
    ref = reference(net, x)
    # a model path: each worker process loads it once
    explain_dataset(MODEL, x, "dtd", tmp_path / "a", rule_params=BOX, chunk_size=CS, executor=client,
                    progress=False)
    assert np.array_equal(load_results(tmp_path / "a"), ref)
    # a network object: broadcast to the workers once (scatter)
    explain_dataset(net, x, "dtd", tmp_path / "b", rule_params=BOX, chunk_size=CS, executor=client,
                    progress=False)
    assert np.array_equal(load_results(tmp_path / "b"), ref)
    # a scheduler address: dtd connects (and disconnects) itself; inputs from a memory-mapped .npy
    np.save(tmp_path / "x.npy", x)
    s = explain_dataset(MODEL, tmp_path / "x.npy", "dtd", tmp_path / "c", rule_params=BOX, chunk_size=CS,
                        executor=client.scheduler.address, progress=False)
    assert s.computed == 6
    assert np.array_equal(load_results(tmp_path / "c"), ref)
    assert read_index(tmp_path / "a")["model"] == read_index(tmp_path / "c")["model"]


def test_worker_process_dies_mid_chunk(tmp_path, client, net, x):
    """A worker process that os._exit()s while computing chunk 3: the nanny restarts it, the chunk is redone."""
    client.wait_for_workers(2)
    before = pids(client)
    log, marker = str(tmp_path / "log"), str(tmp_path / "crashed")
    loader = functools.partial(logging_loader, log=log, crash_key=key(x[12]), marker=marker)
    written = []
    explain_dataset(MODEL, x, "dtd", tmp_path / "out", rule_params=BOX, chunk_size=CS, executor=client,
                    loader=loader, progress=False, on_chunk=lambda i, a, b: written.append(i))
    assert os.path.exists(marker)
    assert logged_keys(log).count(key(x[12])) == 2
    assert sorted(written) == list(range(6))
    assert np.array_equal(load_results(tmp_path / "out"), reference(net, x))
    client.wait_for_workers(2)
    assert len(pids(client) - before) == 1          # one worker process was replaced


def test_worker_killed_from_outside(tmp_path, client, net, x):
    """SIGKILL a worker process while chunks run (each takes 0.3 s): the results are still exact."""
    client.wait_for_workers(2)
    before = pids(client)
    victim = min(before)
    log = str(tmp_path / "log")
    loader = functools.partial(logging_loader, log=log, delay=0.3)

    def kill_after_first(i, a, b):
        if not os.path.exists(tmp_path / "killed"):
            (tmp_path / "killed").touch()
            os.kill(victim, signal.SIGKILL)

    s = explain_dataset(MODEL, x, "dtd", tmp_path / "out", rule_params=BOX, chunk_size=CS, executor=client,
                        loader=loader, progress=False, on_chunk=kill_after_first)
    assert s.computed == 6
    assert np.array_equal(load_results(tmp_path / "out"), reference(net, x))
    assert set(logged_keys(log)) == {key(x[a]) for a, _ in chunk_bounds(N, CS)}
    assert len(logged_keys(log)) > 6             # the victim's chunk (and any result it held) was redone
    client.wait_for_workers(2)
    assert victim not in pids(client)


def test_error_in_a_task_names_the_chunk(tmp_path, client, x):
    from dtd.batch import ChunkError

    bad = x.copy()
    bad[13, 0, 0, 0] = np.inf
    with pytest.raises(ChunkError, match=r"chunk 3 \(inputs 12..15\): ValueError: .*NaN or Inf"):
        explain_dataset(MODEL, bad, "dtd", tmp_path, rule_params=BOX, chunk_size=CS, executor=client,
                        progress=False)


def test_evaluate_on_dask_equals_serial(tmp_path, client, net, x):
    from dtd.batch import evaluate_dataset

    opts = dict(methods=["dtd", "gradient-x-input"], box=(0.0, 1.0), flipping_options={"region": 8},
                continuity_options={"n_noise": 1}, chunk_size=8, progress=False)
    evaluate_dataset(net, x, tmp_path / "d", executor=client, **opts)
    evaluate_dataset(MODEL, x, tmp_path / "s", executor="serial", **opts)
    assert np.array_equal(load_results(tmp_path / "d"), load_results(tmp_path / "s"))
