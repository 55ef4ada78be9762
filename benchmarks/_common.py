"""Shared by the benchmark scripts: what ran (BLAS, kernel, threads, versions, load) and interleaved timing.

Timing (:func:`measure`): every contender runs once per round, the order of
the contenders rotating from round to round, so a change of load on this
shared machine hits all of them alike.  For each run we record the wall time
(``time.perf_counter``), the CPU time of this process, all threads included
(``time.process_time``; with two BLAS threads busy it is up to twice the wall
time), and the CPU time the *rest* of the machine used meanwhile (from
``/proc/stat``, minus ours), in cores: the load other jobs put on the machine
during that run.  Figures are the best (minimum) of the rounds; the spread is
``(max - min) / min`` of the wall times.
"""
import os
import platform
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))   # the repository's dtd, not an installed one
sys.path.insert(0, HERE)


def blas_info():
    """One line per thread pool threadpoolctl sees: library, version, kernel (architecture), threads."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return ["threadpoolctl not installed (pip install threadpoolctl): BLAS unknown"]
    out = []
    for i in threadpool_info():
        out.append(f"{i.get('user_api')}: {i.get('internal_api')} {i.get('version')} "
                   f"kernel={i.get('architecture', '-')} threads={i.get('num_threads')} "
                   f"({os.path.basename(i.get('filepath', ''))})")
    return out


def numpy_blas_threads():
    """Threads of the BLAS NumPy uses (the first 'blas' pool threadpoolctl lists), or None."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    for i in threadpool_info():
        if i.get("user_api") == "blas" and "numpy" in i.get("filepath", ""):
            return i.get("num_threads")
    for i in threadpool_info():
        if i.get("user_api") == "blas":
            return i.get("num_threads")
    return None


_LIMITS = []


def set_threads(n):
    """Limit every thread pool threadpoolctl sees (NumPy's BLAS, OpenMP) to ``n`` threads; None: leave them.

    Returns the number of threads NumPy's BLAS now uses (None if unknown).
    """
    if n is not None:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            sys.exit("--threads needs threadpoolctl (pip install threadpoolctl)")
        _LIMITS.append(threadpool_limits(n))     # applied now, kept for the whole run
    return numpy_blas_threads()


def add_timing_options(parser, quick_help):
    """The options every timing script shares: --side, --batch, --repeat, --no-warmup, --quick, --threads."""
    parser.add_argument("--side", type=int, default=224, help="image side (default 224)")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8], help="batch sizes (default 1 8)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (best of; default 3)")
    parser.add_argument("--no-warmup", action="store_true", help="skip the untimed first run of each contender")
    parser.add_argument("--quick", action="store_true", help=quick_help)
    add_threads_option(parser)


def add_threads_option(parser):
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for NumPy's BLAS (and the peer library); default: the BLAS default "
                             "(2 on the machine of the README)")


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine_busy():
    """CPU seconds the whole machine has been busy (all cores; /proc/stat), or None off Linux."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()[1:]
    except OSError:
        return None
    v = [int(x) for x in fields]
    idle = v[3] + (v[4] if len(v) > 4 else 0)          # idle + iowait
    busy = sum(v[:8]) - idle                            # user nice system idle iowait irq softirq steal
    return busy / os.sysconf("SC_CLK_TCK")


def dtd_version():
    """The last commit that touched dtd/, and whether dtd/ has uncommitted changes (the tree is shared)."""
    import subprocess
    root = os.path.dirname(HERE)
    try:
        commit = subprocess.run(["git", "-C", root, "log", "-1", "--format=%h %cI", "--", "dtd"],
                                capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--", "dtd"],
                               capture_output=True, text=True, timeout=10).stdout.strip().splitlines()
    except (OSError, subprocess.SubprocessError):
        return "dtd: git not available"
    return f"dtd at commit {commit or '?'}" + (f", {len(dirty)} uncommitted file(s) in dtd/" if dirty else ", clean")


def header(title, extra=()):
    """Print what ran: versions, CPU, BLAS pools and kernel, thread counts, environment, load."""
    print(f"== {title}")
    print(f"python {platform.python_version()}, numpy {np.__version__}, {platform.system()} {platform.machine()}, "
          f"{os.cpu_count()} cpus ({cpu_model()})")
    print(f"  {dtd_version()}")
    for line in blas_info():
        print(f"  {line}")
    env = {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                          "MKL_NUM_THREADS")}
    print("  env: " + ", ".join(f"{k}={v}" for k, v in env.items()))
    for line in extra:
        print(f"  {line}")
    print(f"  load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def footer():
    print(f"  load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


class Stats:
    """Repeated runs of one contender: wall, CPU (this process) and other-load figures."""

    def __init__(self, name):
        self.name, self.wall, self.cpu, self.other = name, [], [], []

    @property
    def best(self):
        return min(self.wall)

    @property
    def median(self):
        return statistics.median(self.wall)

    @property
    def spread(self):
        return (max(self.wall) - min(self.wall)) / min(self.wall)

    @property
    def cpu_best(self):
        return min(self.cpu)

    @property
    def other_load(self):
        """Mean number of cores other processes kept busy during these runs (None if unknown)."""
        v = [o for o in self.other if o is not None]
        return sum(v) / len(v) if v else None

    def row(self):
        """``best wall, median, spread %, best CPU, other load`` as a formatted string."""
        other = "  -" if self.other_load is None else f"{self.other_load:4.2f}"
        return (f"{self.best:9.3f} {self.median:9.3f} {100 * self.spread:6.1f}% {self.cpu_best:9.3f} "
                f"{other:>6}")

    ROW_HEAD = f"{'best s':>9} {'median s':>9} {'spread':>7} {'CPU s':>9} {'other':>6}"


def run_once(f, stats):
    b0, c0, t0 = machine_busy(), time.process_time(), time.perf_counter()
    f()
    t1, c1, b1 = time.perf_counter(), time.process_time(), machine_busy()
    stats.wall.append(t1 - t0)
    stats.cpu.append(c1 - c0)
    stats.other.append(None if b0 is None else max(0.0, (b1 - b0) - (c1 - c0)) / (t1 - t0))


def measure(contenders, repeat, warmup=True, progress=None):
    """Run ``contenders`` (dict name -> zero-argument callable) ``repeat`` times each, interleaved.

    Round r runs the contenders in the order rotated by r.  One untimed warm-up
    run each first (unless ``warmup`` is False).  Returns dict name -> :class:`Stats`.
    """
    names = list(contenders)
    stats = {n: Stats(n) for n in names}
    if warmup:
        for n in names:
            contenders[n]()
    for r in range(repeat):
        k = r % len(names)
        for n in names[k:] + names[:k]:
            run_once(contenders[n], stats[n])
            if progress:
                progress(n, r, stats[n].wall[-1])
    return stats


def ratio(a, b):
    """``a / b`` of two Stats by best wall time and by best CPU time, as a string."""
    return f"{a.best / b.best:6.2f} (CPU {a.cpu_best / b.cpu_best:5.2f})"


def verdict(value, limit):
    return "met" if value <= limit else "NOT met"


def float64_copy(net):
    """The same Sequential of Conv2d / Dense / parameter-free layers in float64 (the float32 weights cast up
    exactly)."""
    import dtd
    from dtd.layers import Conv2d, Dense
    layers = []
    for layer in net.layers:
        if isinstance(layer, Conv2d):
            layer = Conv2d(layer.weight.astype(np.float64), layer.bias.astype(np.float64), layer.stride,
                           layer.padding)
        elif isinstance(layer, Dense):
            layer = Dense(layer.weight.astype(np.float64), layer.bias.astype(np.float64))
        layers.append(layer)
    return dtd.Sequential(layers)
