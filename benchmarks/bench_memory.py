"""Peak memory of one explanation against the recorded activations plus weights: issue 7, target 4 (at most 3x).

    python benchmarks/bench_memory.py [--side 224] [--batch 1 8] [--composite egb dtd] [--dtype float32]

Every measurement runs in a fresh Python process (this script with
``--child``), which imports dtd, builds the VGG-16-shaped network
(``_vgg.vgg16``) and the input, and then explains one batch (target = argmax):

- ``rss``: the process's peak resident set size during the explanation.  The
  kernel's high-water mark is reset just before it (``5`` written to
  ``/proc/self/clear_refs``, Linux >= 4.0), so building the weights does not
  count; then ``ru_maxrss`` (``resource.getrusage``) is the peak.  Reported as
  the peak minus the RSS after the imports (so: weights + input + everything
  the explanation holds at its peak, including BLAS work buffers and the
  allocator's slack), and as the increment over the RSS just before the call.
- ``tracemalloc``: the peak of the memory NumPy allocates (NumPy reports its
  data buffers to tracemalloc), traced from before the network is built:
  weights + input + the explanation's arrays at their peak; and the increment
  over what was allocated before the call.  Excludes BLAS buffers and
  allocator slack; tracing makes the run slower, so it is its own process.

The reference, "recorded activations plus weights": the bytes of every
weight and bias, plus the bytes of every distinct array ``net.forward(x,
return_all=True)`` returns (the input, each layer's output; Flatten's output
is a view and counted once), measured at batch 1 here and scaled by the batch
(every activation has the batch as its leading axis).  The ratio printed is
peak / reference.
"""
import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

import _common
from _common import verdict

LIMIT = 3.0
COMPOSITES = {"egb": "epsilon-gamma-box", "dtd": "dtd"}
MB = 2 ** 20


def vm(field):
    """A field of /proc/self/status in bytes (e.g. 'VmRSS', 'VmHWM')."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def reset_peak_rss():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def child(args):
    import dtd
    from _vgg import vgg16
    _common.set_threads(args.threads)
    dtype = np.dtype(args.dtype)
    comp = dtd.composites.get(COMPOSITES[args.composite], low=0.0, high=1.0)
    res = {}
    if args.child == "tracemalloc":
        import tracemalloc
        tracemalloc.start()
    rss_imports = vm("VmRSS")
    net = vgg16(args.side, dtype=dtype)
    x = np.random.default_rng(1).uniform(size=(args.batch, 3, args.side, args.side)).astype(dtype)
    gc.collect()
    t = time.perf_counter()
    if args.child == "tracemalloc":
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        R = net.explain(x, comp)
        peak = tracemalloc.get_traced_memory()[1]
        res.update(peak=peak, before=before)
    else:
        rss_before = vm("VmRSS")
        res["reset"] = reset_peak_rss()
        R = net.explain(x, comp)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        res.update(peak=peak - rss_imports, before=rss_before - rss_imports, hwm=vm("VmHWM") - rss_imports)
    res["seconds"] = time.perf_counter() - t
    res["finite"] = bool(np.isfinite(R).all())
    print(json.dumps(res))


def reference_bytes(side, dtype):
    """(weights + biases bytes, activation bytes per sample) of the VGG-16-shaped network."""
    from _vgg import vgg16
    net = vgg16(side, dtype=dtype)
    weights = sum(getattr(layer, k).nbytes for layer in net.layers for k in getattr(layer, "array_keys", ()))
    x = np.zeros((1, 3, side, side), dtype)
    acts = net.forward(x, return_all=True)
    distinct = []
    for a in acts:
        if not any(np.shares_memory(a, b) for b in distinct):
            distinct.append(a)
    return weights, sum(a.nbytes for a in distinct)


def run_child(mode, batch, composite, args):
    cmd = [sys.executable, os.path.abspath(__file__), "--child", mode, "--batch", str(batch),
           "--composite", composite, "--side", str(args.side), "--dtype", args.dtype[0]]
    if args.threads is not None:
        cmd += ["--threads", str(args.threads)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"child {' '.join(cmd[2:])} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--side", type=int, default=224)
    p.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    p.add_argument("--composite", nargs="+", default=["egb", "dtd"], choices=list(COMPOSITES))
    p.add_argument("--dtype", nargs=1, default=["float32"], choices=["float32", "float64"])
    p.add_argument("--child", choices=["rss", "tracemalloc"], help=argparse.SUPPRESS)
    p.add_argument("--quick", action="store_true", help="side 112, batch 1")
    _common.add_threads_option(p)
    args = p.parse_args(argv)
    if args.child:
        args.batch = args.batch[0]
        args.composite = args.composite[0]
        args.dtype = args.dtype[0]
        return child(args)
    if args.quick:
        args.side, args.batch = 112, [1]
    _common.set_threads(args.threads)
    dtype = np.dtype(args.dtype[0])
    _common.header("bench_memory: peak memory of one explanation vs recorded activations + weights",
                   [f"VGG-16-shaped network, side {args.side}, {dtype.name}, batches {args.batch}, "
                    f"composites {args.composite}; one fresh process per figure"])
    weights, act1 = reference_bytes(args.side, dtype)
    print(f"\nweights + biases: {weights / MB:.1f} MiB; recorded activations: {act1 / MB:.1f} MiB per sample")
    print(f"  {'batch':>5} {'composite':<18} {'ref MiB':>8} | {'RSS peak':>9} {'ratio':>6} {'incr.':>8} | "
          f"{'traced peak':>11} {'ratio':>6} {'incr.':>8} | {'explain s':>9}  target (RSS ratio <= {LIMIT})")
    rows = []
    for batch in args.batch:
        for comp in args.composite:
            ref = weights + batch * act1
            r = run_child("rss", batch, comp, args)
            m = run_child("tracemalloc", batch, comp, args)
            note = "" if r["reset"] else " (peak not reset: includes building the weights)"
            ratio = r["peak"] / ref
            print(f"  {batch:>5} {COMPOSITES[comp]:<18} {ref / MB:8.0f} | {r['peak'] / MB:9.0f} {ratio:6.2f} "
                  f"{(r['peak'] - r['before']) / MB:8.0f} | {m['peak'] / MB:11.0f} {m['peak'] / ref:6.2f} "
                  f"{(m['peak'] - m['before']) / MB:8.0f} | {r['seconds']:9.2f}  {verdict(ratio, LIMIT)}{note}")
            rows.append((batch, comp, ratio))
    print("  (MiB; 'ref' = weights + activations; 'incr.' = peak minus the memory held just before the call, "
          "i.e. weights + input)")
    _common.footer()


if __name__ == "__main__":
    main()
