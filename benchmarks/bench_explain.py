"""Forward time, explain time and their ratio for a VGG-16-shaped network (random weights).

    python benchmarks/bench_explain.py [--side 224] [--batch 1] [--repeat 3]

Prints, for float32 and float64: the forward time, the explain time with the
epsilon-gamma-box composite (and the DTD composite), and explain / forward.
Best of ``--repeat`` runs; times are wall-clock on this machine, ratios are what
to compare across machines.
"""
import argparse
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import dtd  # noqa: E402
from _vgg import vgg16  # noqa: E402


def blas_info():
    try:
        from threadpoolctl import threadpool_info
        return "; ".join(f"{i.get('internal_api')} {i.get('version')} {i.get('architecture', '')} "
                         f"threads={i.get('num_threads')}" for i in threadpool_info())
    except ImportError:
        return "threadpoolctl not installed (pip install threadpoolctl)"


def best(f, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--side", type=int, default=224)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    print(f"python {platform.python_version()}, numpy {np.__version__}, {os.cpu_count()} cpus; BLAS: {blas_info()}")
    print(f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')}")
    print(f"VGG-16 shape, input {args.batch}x3x{args.side}x{args.side}, best of {args.repeat}")
    print(f"{'dtype':<8} {'forward s':>10} {'composite':<18} {'explain s':>10} {'ratio':>7}")
    for dtype in (np.float32, np.float64):
        net = vgg16(args.side, dtype=dtype)
        x = np.random.default_rng(1).uniform(size=(args.batch, 3, args.side, args.side)).astype(dtype)
        net.forward(x)  # warm-up
        tf = best(lambda: net.forward(x), args.repeat)
        for name, comp in [("epsilon-gamma-box", dtd.composites.get("epsilon-gamma-box", low=0.0, high=1.0)),
                           ("dtd", dtd.composites.get("dtd", low=0.0, high=1.0))]:
            te = best(lambda: net.explain(x, comp), args.repeat)
            print(f"{np.dtype(dtype).name:<8} {tf:>10.3f} {name:<18} {te:>10.3f} {te / tf:>7.2f}")


if __name__ == "__main__":
    main()
