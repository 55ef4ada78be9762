"""Grouped / depthwise convolution: the vectorised GroupedConv2d against the per-group loop it replaced, against
torch, and a MobileNetV2-shaped network's explain / forward (issue 14: at most 4 in float32 at 224x224).

    python benchmarks/bench_grouped.py                    # layers and network, batch 1 and 8, float32
    python benchmarks/bench_grouped.py --part layers      # the depthwise layers only
    python benchmarks/bench_grouped.py --part net --batch 1 --old   # also the network with the old loop
    python benchmarks/bench_grouped.py --quick            # batch 1, 2 rounds

``layers``: each depthwise 3x3 convolution of MobileNetV2 at a 224x224 input (channels @ input side,
stride; padding 1, random weights and bias), float32: the new forward (``layer.linear``: kH*kW
multiply-adds of shifted slices, no im2col), the old one (one ``Conv2d`` per group, kept as
``dtd.layers.grouped_conv._per_group_linear``), ``torch.nn.functional.conv2d(groups=C)`` if torch is
installed, and the new and old transposes (``linear_backward``, step 3 of every rule).  Ratios: old / new
and new / torch (by best wall time; CPU-time ratio beside).

``net``: a MobileNetV2-shaped :class:`dtd.Graph` built from dtd layers (stem 3x3 conv stride 2; the 17
inverted-residual blocks 1x1 expand conv, ReLU, depthwise 3x3 conv, ReLU, 1x1 project conv, with the residual
``Add`` where the shapes allow; 1x1 conv to 1280, ReLU, 7x7 average pooling, dense 1280 -> 1000; ReLU in
place of ReLU6, no batch norm (as if folded); He-initialised random weights, small random biases), input
normal clipped to [-3, 3]: ``net.forward`` against ``net.explain`` with
``dtd.composites.get("epsilon-gamma-box", low=-3, high=3)``, target the argmax.  ``--old`` also times the
same network with GroupedConv2d's old per-group loop patched in.

Contenders are timed interleaved (``_common.measure``), best of ``--repeat`` rounds after a warm-up.
"""
import argparse
import time

import numpy as np

import _common
from _common import Stats, measure, ratio, verdict
import dtd
from dtd import Graph
from dtd.layers import AvgPool2d, Conv2d, Dense, Flatten, GroupedConv2d, ReLU
from dtd.layers import grouped_conv
from dtd.merge import Add

LIMIT = 4.0
#: MobileNetV2's depthwise layers at 224x224: (channels, input side, stride)
DEPTHWISE = [(32, 112, 1), (96, 112, 2), (144, 56, 1), (144, 56, 2), (192, 28, 1), (192, 28, 2), (384, 14, 1),
             (576, 14, 1), (576, 14, 2), (960, 7, 1)]
#: inverted-residual settings (expansion t, output channels c, repeats n, first stride s), as torchvision
SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
            (6, 320, 1, 1)]


def mobilenet_v2(side=224, classes=1000, dtype=np.float32, seed=0):
    """A MobileNetV2-shaped Graph of dtd layers (see the module docstring)."""
    rng = np.random.default_rng(seed)

    def conv(cin, cout, k=1, stride=1, groups=1):
        fan_in = cin // groups * k * k
        w = rng.normal(0, np.sqrt(2 / fan_in), size=(cout, cin // groups, k, k)).astype(dtype)
        b = rng.normal(0, 0.01, size=cout).astype(dtype)
        if groups > 1:
            return GroupedConv2d(w, b, stride, k // 2, groups)
        return Conv2d(w, b, stride, k // 2)

    nodes = []

    def add(name, op, inputs):
        nodes.append((name, op, inputs))
        return name

    h = add("stem", conv(3, 32, 3, 2), "input")
    h = add("stem_relu", ReLU(), h)
    cin = 32
    block = 0
    for t, c, n, s in SETTINGS:
        for i in range(n):
            stride = s if i == 0 else 1
            hidden = cin * t
            inp = h
            p = f"b{block}_"
            if t != 1:
                h = add(p + "expand", conv(cin, hidden), h)
                h = add(p + "expand_relu", ReLU(), h)
            h = add(p + "dw", conv(hidden, hidden, 3, stride, groups=hidden), h)
            h = add(p + "dw_relu", ReLU(), h)
            h = add(p + "project", conv(hidden, c), h)
            if stride == 1 and cin == c:
                h = add(p + "add", Add(), [inp, h])
            cin = c
            block += 1
    h = add("head", conv(cin, 1280), h)
    h = add("head_relu", ReLU(), h)
    h = add("pool", AvgPool2d(side // 32), h)
    h = add("flatten", Flatten(), h)
    w = rng.normal(0, np.sqrt(1 / 1280), size=(classes, 1280)).astype(dtype)
    add("classifier", Dense(w, np.zeros(classes, dtype)), h)
    return Graph(nodes, input="input")


class old_loop:
    """Context manager: GroupedConv2d runs its old per-group loop (forward and transpose) inside."""

    def __enter__(self):
        self.saved = GroupedConv2d.linear, GroupedConv2d.linear_backward
        GroupedConv2d.linear = lambda layer, x, w, b: grouped_conv._per_group_linear(layer, x, w, b)
        GroupedConv2d.linear_backward = grouped_conv._per_group_linear_backward
        return self

    def __exit__(self, *exc):
        GroupedConv2d.linear, GroupedConv2d.linear_backward = self.saved


def layers(args):
    try:
        import torch
        import torch.nn.functional as F
        torch.set_num_threads(args.threads or _common.numpy_blas_threads() or 1)
    except ImportError:
        torch = None
        print("torch not installed: no torch column")
    rng = np.random.default_rng(0)
    rows = []
    for batch in args.batch:
        print(f"\nDepthwise 3x3 layers, batch {batch}, float32 (ms; best of {args.repeat})")
        print(f"  {'layer':<16} {'new fwd':>8} {'old fwd':>8} {'torch':>8} {'new bwd':>8} {'old bwd':>8}"
              f"   {'old/new fwd (CPU)':<20} {'old/new bwd (CPU)':<20} {'new/torch fwd (CPU)':<20}")
        for C, side, stride in DEPTHWISE:
            w = rng.normal(size=(C, 1, 3, 3)).astype(np.float32)
            b = rng.normal(size=C).astype(np.float32)
            layer = GroupedConv2d(w, b, stride, 1, C)
            x = rng.normal(size=(batch, C, side, side)).astype(np.float32)
            y = layer.linear(x, w, b)
            g = rng.normal(size=y.shape).astype(np.float32)
            cont = {"new fwd": lambda: layer.linear(x, w, b),
                    "old fwd": lambda: grouped_conv._per_group_linear(layer, x, w, b),
                    "new bwd": lambda: layer.linear_backward(g, w, x.shape),
                    "old bwd": lambda: grouped_conv._per_group_linear_backward(layer, g, w, x.shape)}
            if torch is not None:
                tx, tw, tb = torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b)
                cont["torch"] = lambda: F.conv2d(tx, tw, tb, stride, 1, 1, C)
                err = np.abs(F.conv2d(tx, tw, tb, stride, 1, 1, C).numpy() - y).max() / np.abs(y).max()
                assert err < 1e-5, err
            st = measure(cont, args.repeat, warmup=not args.no_warmup)
            t = st.get("torch")
            name = f"{C}@{side} s{stride}"
            print(f"  {name:<16} {1e3 * st['new fwd'].best:8.2f} {1e3 * st['old fwd'].best:8.2f} "
                  f"{'-' if t is None else f'{1e3 * t.best:.2f}':>8} {1e3 * st['new bwd'].best:8.2f} "
                  f"{1e3 * st['old bwd'].best:8.2f}   {ratio(st['old fwd'], st['new fwd']):<20} "
                  f"{ratio(st['old bwd'], st['new bwd']):<20} {'-' if t is None else ratio(st['new fwd'], t):<20}")
            rows.append((batch, st))
        tot = {k: sum(st[k].best for b_, st in rows if b_ == batch) for k in rows[-1][1]}
        torch_sum = "-" if "torch" not in tot else f"{1e3 * tot['torch']:.2f}"
        print(f"  {'sum':<16} {1e3 * tot['new fwd']:8.2f} {1e3 * tot['old fwd']:8.2f} {torch_sum:>8} "
              f"{1e3 * tot['new bwd']:8.2f} {1e3 * tot['old bwd']:8.2f}   "
              f"old/new fwd {tot['old fwd'] / tot['new fwd']:.1f}, bwd {tot['old bwd'] / tot['new bwd']:.1f}"
              + ("" if "torch" not in tot else f", new/torch fwd {tot['new fwd'] / tot['torch']:.1f}"))


def net(args):
    summary = []
    comp = dtd.composites.get("epsilon-gamma-box", low=-3, high=3)
    for batch in args.batch:
        for dt in args.dtype:
            dtype = np.dtype(dt)
            model = mobilenet_v2(args.side, dtype=dtype)
            x = np.clip(np.random.default_rng(1).normal(size=(batch, 3, args.side, args.side)), -3, 3).astype(dtype)
            cont = {"forward": lambda: model.forward(x), "explain egb": lambda: model.explain(x, comp)}
            t0 = time.perf_counter()
            st = measure(cont, args.repeat, warmup=not args.no_warmup)
            if args.old:
                with old_loop():
                    old = measure({"forward (old loop)": lambda: model.forward(x),
                                   "explain egb (old loop)": lambda: model.explain(x, comp)},
                                  args.repeat, warmup=not args.no_warmup)
                st.update(old)
            R = model.explain(x, comp)
            out = model.forward(x)
            fc = out[np.arange(batch), out.argmax(1)]
            print(f"\nMobileNetV2-shaped Graph, {batch}x3x{args.side}x{args.side} {dtype.name} "
                  f"({time.perf_counter() - t0:.0f} s; sum(R)/f_c per sample: "
                  f"{', '.join(f'{v:.3f}' for v in R.reshape(batch, -1).sum(1) / fc)})")
            print(f"  {'':<26} {Stats.ROW_HEAD}   explain/forward (CPU)")
            for name, s in st.items():
                base = st["forward (old loop)"] if "old" in name else st["forward"]
                r = "" if name.startswith("forward") else ratio(s, base)
                print(f"  {name:<26} {s.row()}   {r}")
            summary.append((batch, dtype.name, st))
    print(f"\nSummary: explain (epsilon-gamma-box) / forward, target <= {LIMIT} in float32 at 224x224")
    for batch, dt, st in summary:
        r = st["explain egb"].best / st["forward"].best
        rc = st["explain egb"].cpu_best / st["forward"].cpu_best
        line = (f"  batch {batch} {dt:<8} forward {1e3 * st['forward'].best:8.1f} ms  explain "
                f"{1e3 * st['explain egb'].best:8.1f} ms  ratio {r:5.2f} (CPU {rc:5.2f})  {verdict(r, LIMIT)}")
        if "forward (old loop)" in st:
            line += (f";  old loop: forward {1e3 * st['forward (old loop)'].best:8.1f} ms, explain "
                     f"{1e3 * st['explain egb (old loop)'].best:8.1f} ms")
        print(line)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _common.add_timing_options(p, "batch 1, 2 rounds (unless given)")
    p.add_argument("--dtype", nargs="+", default=["float32"], choices=["float32", "float64"],
                   help="dtypes of the network part (the layers part is float32)")
    p.add_argument("--part", nargs="+", default=["layers", "net"], choices=["layers", "net"])
    p.add_argument("--old", action="store_true", help="also time the network with the old per-group loop")
    args = p.parse_args(argv)
    if args.quick:
        given = set(argv if argv is not None else __import__("sys").argv[1:])
        if "--batch" not in given:
            args.batch = [1]
        if "--repeat" not in given:
            args.repeat = 2
    _common.set_threads(args.threads)
    _common.header("bench_grouped: depthwise convolution without a loop over groups; MobileNetV2 explain/forward",
                   [f"side {args.side}, batches {args.batch}, parts {args.part}, best of {args.repeat} "
                    f"interleaved rounds"])
    if "layers" in args.part:
        layers(args)
    if "net" in args.part:
        net(args)
    _common.footer()


if __name__ == "__main__":
    main()
