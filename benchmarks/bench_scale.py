"""Throughput of dtd.batch: images per second for 1 and 2 local workers, scaling efficiency, overhead per chunk.

    python benchmarks/bench_scale.py [--model mnist|demo] [--images 2048] [--chunk-size 64] [--repeat 2]
                                     [--dask] [--bandwidth-gbit 1]

What is measured (wall clock, ``explain_dataset`` end to end: reading the
inputs from a memory-mapped ``.npy``, explaining with the epsilon-gamma-box
composite in float64, writing the chunks and the index):

- images/s in this process (``executor="serial"``, BLAS free to use both cores);
- images/s with a local process pool of 1 and of 2 workers (each worker limited
  to one BLAS thread), and the scaling efficiency ``X2 / (2 X1)``; also the CPU
  time per image (this process and its workers), which other users of the
  machine do not inflate the way they inflate wall-clock time;
- the start-up of a pool (spawning the workers, loading the model): a run of one
  one-image chunk;
- the overhead per chunk: chunks of one input through a one-weight model
  (``Dense(1 -> 1)``), so the time is what dtd adds per chunk (sending the task,
  the result coming back, writing the ``.npy`` and the index; in this process
  also with ``fsync=False``, to show what flushing to disk costs);
- with ``--dask``, the same on a ``LocalCluster`` of two worker processes on
  loopback (adds the scheduler's cost per task).

Each figure is measured ``--repeat`` times; the median is used and the range
printed (the machine may be shared: the spread says how noisy the figures are).
The closing note projects the throughput of N such machines (see
:func:`projection`).
"""
import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import dtd  # noqa: E402
from dtd.batch import explain_dataset  # noqa: E402
from dtd.layers import Conv2d, Dense, Flatten, ReLU, SumPool2d  # noqa: E402

RULES, PARAMS = "epsilon-gamma-box", {"low": 0.0, "high": 1.0}


def mnist_net(seed=0):
    """MNIST-sized: conv(1->16, 5x5, pad 2)-ReLU-sumpool 2-conv(16->32, 5x5, pad 2)-ReLU-sumpool 2-
    dense(1568->128)-ReLU-dense(128->10), random weights, biases <= 0."""
    rng = np.random.default_rng(seed)

    def he(shape, fan_in):
        return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape)

    return dtd.Sequential([
        Conv2d(he((16, 1, 5, 5), 25), -0.05 * rng.uniform(size=16), padding=2), ReLU(), SumPool2d(2),
        Conv2d(he((32, 16, 5, 5), 400), -0.05 * rng.uniform(size=32), padding=2), ReLU(), SumPool2d(2),
        Flatten(), Dense(he((128, 1568), 1568), -0.05 * rng.uniform(size=128)), ReLU(),
        Dense(he((10, 128), 128), -0.05 * rng.uniform(size=10)),
    ])


def cpu_seconds():
    """User + system CPU time of this process and of its waited-for children (the pool's workers)."""
    import resource
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def timed(fn, repeat, cpu=None):
    """Wall-clock seconds of ``repeat`` calls; with a list ``cpu``, their CPU seconds are appended to it."""
    out = []
    for _ in range(repeat):
        c = cpu_seconds()
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
        if cpu is not None:
            cpu.append(cpu_seconds() - c)
    return out


def run(model, inputs, tmp, chunk_size, executor=None, workers=None, rules=RULES, params=PARAMS, fsync=True):
    d = tempfile.mkdtemp(dir=tmp)
    try:
        explain_dataset(model, inputs, rules, d, rule_params=params, chunk_size=chunk_size, executor=executor,
                        workers=workers, progress=False, fsync=fsync)
    finally:
        shutil.rmtree(d)


def spread(values, scale=1.0, fmt="{:.1f}"):
    v = sorted(x * scale for x in values)
    med = statistics.median(v)
    return med, f"{fmt.format(med)} (range {fmt.format(v[0])}-{fmt.format(v[-1])})"


def projection(x_machine, efficiency, chunk_size, overhead, bytes_per_image, bandwidth_gbit, machines):
    r"""Images/s of N machines in a simple model.

    .. math::

        T_N = \min\Big(\frac{1}{1 / (N X e) + h / C},\; \frac{B}{b}\Big)

    X: images/s of one machine (2 workers), e: the efficiency of scaling out
    (printed for the wall-clock and the CPU-time efficiency measured here,
    2 workers vs 1, and for 1), C: images
    per chunk, h: seconds of the driver/scheduler per chunk (paid one after the
    other, not overlapped: pessimistic), B: the driver's network bandwidth,
    b: bytes per image moved (input in, relevance back).
    """
    compute = 1.0 / (1.0 / (machines * x_machine * efficiency) + overhead / chunk_size)
    network = bandwidth_gbit * 1e9 / 8 / bytes_per_image
    return min(compute, network)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=["mnist", "demo"], default="mnist")
    p.add_argument("--images", type=int, default=2048)
    p.add_argument("--chunk-size", type=int, default=64)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--overhead-chunks", type=int, default=200)
    p.add_argument("--dask", action="store_true", help="also measure a Dask LocalCluster (2 worker processes)")
    p.add_argument("--bandwidth-gbit", type=float, default=1.0, help="driver bandwidth for the projection")
    args = p.parse_args(argv)

    tmp = tempfile.mkdtemp(prefix="dtd-bench-scale-")
    try:
        if args.model == "mnist":
            net, shape = mnist_net(), (1, 28, 28)
        else:
            from dtd.examples import make_demo_network
            net, shape = make_demo_network(), (1, 16, 16)
        model = os.path.join(tmp, "model.npz")
        dtd.save(net, model)
        x = np.random.default_rng(1).uniform(size=(args.images,) + shape)
        inputs = os.path.join(tmp, "x.npy")
        np.save(inputs, x)
        tiny = os.path.join(tmp, "tiny.npz")
        dtd.save(dtd.Sequential([Dense([[1.0]], [0.0])]), tiny)
        tiny_x = os.path.join(tmp, "tiny.npy")
        np.save(tiny_x, np.ones((args.overhead_chunks, 1)))

        print(f"python {platform.python_version()}, numpy {np.__version__}, {os.cpu_count()} cpus")
        print(f"model {args.model} (input {shape}), {args.images} images, chunks of {args.chunk_size}, "
              f"{RULES}, float64; median of {args.repeat} (range)")
        N, C = args.images, args.chunk_size
        rows, cpus = {}, {}
        for label, ex, w in [("in-process (serial)", "serial", None), ("1 worker", None, 1),
                             ("2 workers", None, 2)]:
            cpu = []
            t = timed(lambda: run(model, inputs, tmp, C, ex, w), args.repeat, cpu)
            rows[label] = spread([N / s for s in t])
            cpus[label] = statistics.median(cpu) / N
            print(f"  {label:<22} {rows[label][1]} images/s; CPU {cpus[label] * 1e3:.2f} ms/image")
        x1, x2 = rows["1 worker"][0], rows["2 workers"][0]
        eff = x2 / (2 * x1)
        eff_cpu = cpus["1 worker"] / cpus["2 workers"]
        print(f"  scaling efficiency 2 workers: {eff:.2f} (X2 / (2 X1), wall clock); "
              f"{eff_cpu:.2f} in CPU time (CPU per image, 1 worker / 2 workers)")
        one = os.path.join(tmp, "one.npy")
        np.save(one, x[:1])
        startup = spread(timed(lambda: run(model, one, tmp, 1, None, 2), args.repeat), 1.0, "{:.2f}")
        print(f"  pool start-up (2 workers, one tiny chunk): {startup[1]} s")
        M = args.overhead_chunks
        ser = spread([s / M for s in timed(lambda: run(tiny, tiny_x, tmp, 1, "serial", None, "lrp-0", {}),
                                           args.repeat)], 1e3, "{:.2f}")
        loc = spread([max(s - startup[0], 0.0) / M for s in timed(
            lambda: run(tiny, tiny_x, tmp, 1, None, 2, "lrp-0", {}), args.repeat)], 1e3, "{:.2f}")
        nof = spread([s / M for s in timed(lambda: run(tiny, tiny_x, tmp, 1, "serial", None, "lrp-0", {},
                                                       fsync=False), args.repeat)], 1e3, "{:.2f}")
        print(f"  overhead per chunk, in-process (write .npy + index, fsync): {ser[1]} ms")
        print(f"  overhead per chunk, in-process, fsync=False: {nof[1]} ms")
        print(f"  overhead per chunk, 2 local workers ({M} chunks, start-up subtracted): {loc[1]} ms")
        overhead = loc[0] / 1e3
        if args.dask:
            from distributed import Client, LocalCluster
            with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                              dashboard_address=None, silence_logs=40) as cluster, Client(cluster) as client:
                xd = spread([N / s for s in timed(lambda: run(model, inputs, tmp, C, client), args.repeat)])
                dk = spread([s / M for s in timed(lambda: run(tiny, tiny_x, tmp, 1, client, None, "lrp-0", {}),
                                                  args.repeat)], 1e3, "{:.2f}")
            print(f"  Dask LocalCluster, 2 workers: {xd[1]} images/s; overhead per chunk {dk[1]} ms")
            overhead = max(overhead, dk[0] / 1e3)
        b = 2 * int(np.prod(shape)) * 8
        print()
        print(f"Projection for N machines like this one (X = {x2:.0f} images/s each, e = {eff:.2f}, "
              f"C = {C}, h = {overhead * 1e3:.2f} ms per chunk, {b} bytes per image over "
              f"{args.bandwidth_gbit:g} Gbit/s):")
        print(f"  T_N = min(1 / (1 / (N X e) + h / C), bandwidth / bytes); the driver alone caps it at "
              f"C / h = {C / overhead:.0f} images/s")
        print(f"  {'N':>5} {'e wall':>10} {'e CPU':>10} {'e = 1':>10}   (images/s)")
        for n in (1, 2, 4, 8, 16, 32, 64):
            t = [projection(x2, e, C, overhead, b, args.bandwidth_gbit, n) for e in (eff, eff_cpu, 1.0)]
            print(f"  {n:>5} {t[0]:>10.0f} {t[1]:>10.0f} {t[2]:>10.0f}")
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
