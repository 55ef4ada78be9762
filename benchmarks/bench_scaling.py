"""Explanation time against batch size and image side, with fitted exponents: issue 7, target 5.

    python benchmarks/bench_scaling.py [--batches 1 2 4 8 16] [--sides 64 96 128 160 192 224] [--repeat 3]
                                       [--composite egb|dtd] [--only batch|side] [--threads N] [--quick]

VGG-16-shaped network (``_vgg.vgg16``), float32, target = argmax, composite
epsilon-gamma-box (``--composite dtd`` for the DTD composite), box [0, 1].

- Batch: side 224 (``--batch-side``), batch sizes 1, 2, 4, 8, 16; expected
  exponent about 1 (time proportional to the batch).
- Side: batch 1, sides 64 to 224 in steps of 32 (multiples of 32, so the five
  2x2 poolings divide evenly); one network per side, because the first dense
  layer's input is ``512 * (side / 32)^2``.  Every convolution and the first
  dense layer cost ``side^2``; the two upper dense layers are constant, so the
  exponent is about 2, a little less at small sides.

Each scan is timed interleaved (every size once per round, order rotating;
``_common.measure``), best of ``--repeat``; forward and explain are both
timed.  The exponent is the slope of the least-squares line through
``(log size, log best time)``; the CPU-time exponent is printed beside it,
the exponent of a fit with a constant term (``t = c + a size^p``), and the
exponent over the upper half of the sizes (where the constant costs,
the two upper dense layers and the per-layer overhead, weigh less).
"""
import argparse

import numpy as np

import _common
from _common import Stats, measure
import dtd
from _vgg import vgg16

COMPOSITES = {"egb": "epsilon-gamma-box", "dtd": "dtd"}


def slope(sizes, times):
    return float(np.polyfit(np.log(sizes), np.log(times), 1)[0])


def fit_with_constant(sizes, times):
    """``(p, c)`` of the least-squares fit ``t = c + a * size**p`` (relative residuals), or None.

    The plain log-log slope mixes the part of the time that grows with the
    size with the part that does not (reading the weights, Python); this fit
    separates them.
    """
    try:
        from scipy.optimize import curve_fit
    except ImportError:
        return None
    x, t = np.asarray(sizes, float), np.asarray(times, float)
    f = lambda s, c, a, p: c + a * (s / x[-1]) ** p             # noqa: E731 (scaled for conditioning)
    try:
        (c, a, p), _ = curve_fit(f, x, t, p0=(t[0] / 2, t[-1], 2.0), sigma=t, bounds=([0, 0, 0], [np.inf] * 3))
    except (RuntimeError, ValueError):
        return None
    return float(p), float(c)


def scan(label, sizes, make, comp, repeat, warmup, unit):
    """Time forward and explain for every size; ``make(size) -> (net, x)``; ``unit = (name, size -> divisor)``."""
    cont, keep = {}, []
    for s in sizes:
        net, x = make(s)
        keep.append((net, x))
        cont[("forward", s)] = lambda net=net, x=x: net.forward(x)
        cont[("explain", s)] = lambda net=net, x=x: net.explain(x, comp)
    st = measure(cont, repeat, warmup=warmup)
    print(f"\n{label}")
    print(f"  {'size':>5} {'what':<8} {Stats.ROW_HEAD}   {unit[0]}")
    for s in sizes:
        for what in ("forward", "explain"):
            t = st[(what, s)]
            print(f"  {s:>5} {what:<8} {t.row()}   {t.best / unit[1](s):.4g}")
    res = {}
    upper = sizes[len(sizes) // 2:]
    for what in ("forward", "explain"):
        w = slope(sizes, [st[(what, s)].best for s in sizes])
        c = slope(sizes, [st[(what, s)].cpu_best for s in sizes])
        u = slope(upper, [st[(what, s)].best for s in upper]) if len(upper) > 1 else float("nan")
        res[what] = (w, c, u)
        print(f"  fitted exponent, {what}: {w:.2f} (CPU time: {c:.2f}); over the upper sizes {upper}: {u:.2f}")
        fc = fit_with_constant(sizes, [st[(what, s)].best for s in sizes])
        if fc is not None:
            best = [st[(what, s)].best for s in sizes]
            print(f"    with a constant term, t = c + a size^p: p = {fc[0]:.2f}, c = {1e3 * fc[1]:.1f} ms "
                  f"({100 * fc[1] / best[0]:.0f} % of the smallest size's time, {100 * fc[1] / best[-1]:.0f} % of the "
                  f"largest's)")
    r = [st[("explain", s)].best / st[("forward", s)].best for s in sizes]
    print(f"  explain / forward per size: {', '.join(f'{v:.2f}' for v in r)}")
    return res


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batches", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    p.add_argument("--batch-side", type=int, default=224, help="image side of the batch scan (default 224)")
    p.add_argument("--sides", type=int, nargs="+", default=[64, 96, 128, 160, 192, 224])
    p.add_argument("--composite", default="egb", choices=list(COMPOSITES))
    p.add_argument("--only", choices=["batch", "side"])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--no-warmup", action="store_true")
    p.add_argument("--quick", action="store_true", help="batches 1 2 4 at side 64, sides 32..128, 2 rounds")
    _common.add_threads_option(p)
    args = p.parse_args(argv)
    if args.quick:
        args.batches, args.batch_side, args.sides, args.repeat = [1, 2, 4], 64, [32, 64, 96, 128], 2
    _common.set_threads(args.threads)
    comp = dtd.composites.get(COMPOSITES[args.composite], low=0.0, high=1.0)
    _common.header("bench_scaling: time against batch size and image side, VGG-16-shaped network, float32",
                   [f"composite {COMPOSITES[args.composite]}, best of {args.repeat} interleaved rounds"])

    def data(batch, side):
        return np.random.default_rng(1).uniform(size=(batch, 3, side, side)).astype(np.float32)

    out = {}
    if args.only in (None, "batch"):
        net = vgg16(args.batch_side, dtype=np.float32)
        out["batch"] = scan(f"batch scan: side {args.batch_side}, batch {args.batches} (target exponent about 1)",
                            args.batches, lambda b: (net, data(b, args.batch_side)), comp, args.repeat,
                            not args.no_warmup, ("s per sample", lambda b: b))
        del net
    if args.only in (None, "side"):
        out["side"] = scan(f"side scan: batch 1, sides {args.sides} (target exponent about 2)",
                           args.sides, lambda s: (vgg16(s, dtype=np.float32), data(1, s)), comp, args.repeat,
                           not args.no_warmup, ("us per pixel", lambda s: s * s / 1e6))
    print("\nSummary (fitted exponents of the best wall time; in brackets: CPU time, and upper sizes only)")
    for k, v in out.items():
        print(f"  {k:<6} forward {v['forward'][0]:.2f} ({v['forward'][1]:.2f}; upper {v['forward'][2]:.2f})   "
              f"explain {v['explain'][0]:.2f} ({v['explain'][1]:.2f}; upper {v['explain'][2]:.2f})   "
              f"target about {1 if k == 'batch' else 2}")
    _common.footer()


if __name__ == "__main__":
    main()
