"""dtd vs Zennit 0.5.1 (with its canonizers) and dtd's forward vs torch's on today's architectures: issue 18.

    python benchmarks/compare_zennit_models.py                       # all five models, batch 1 and 8, 2 and 1 threads
    python benchmarks/compare_zennit_models.py --quick               # batch 1, 2 rounds, 2 threads, no memory figure
    python benchmarks/compare_zennit_models.py --models resnet50 vgg16 --batch 1 --threads 1

Models (float32, 224x224, ``dtd.conformance.torch_zoo``'s full-size, torchvision-shaped definitions with
deterministic random weights and randomised BatchNorm statistics): ResNet-50, ResNet-18, DenseNet-121,
MobileNetV2; and the VGG-16 of ``_vgg.py`` (random weights, zero biases), as ``compare_zennit.py``.

For each model, the torch model is explained by Zennit with ``EpsilonGammaBox`` and ``EpsilonPlus`` and its
canonizer (``ResNetCanonizer`` for the ResNets, ``SequentialMergeBatchNorm`` otherwise), registered once (so
registration is not timed); dtd explains the TorchScript ONNX export (opset 17) of
``peers.zennit_canonized(model)`` (the network Zennit's canonized model computes) with
``peers.zennit(name)`` ("zmap"), and the export of the model itself with dtd's own presets
``epsilon-gamma-box`` and ``epsilon-plus`` ("own").  Box: [-3, 3] for the zoo's inputs (standard normal
clipped), [0, 1] for VGG-16 (uniform).  Target: the argmax.

Timing: ``_common.measure``, every contender once per round in a rotating order, best of ``--repeat`` rounds
(after a warm-up); every ratio in the output comes from one such interleaved set.  Threads: NumPy's BLAS by
``threadpoolctl`` and torch by ``torch.set_num_threads``, both to the same count, each count of ``--threads``
in turn in this one process; the load average is printed with every set.

Also printed, per model and batch:

* **explain / forward**: dtd's explanation over dtd's forward of the same run;
* **peak memory** (``--memory``, default on except with ``--quick``): ``tracemalloc``'s peak during one
  explanation with ``peers.zennit("EpsilonGammaBox")``, NumPy's arrays only, over weights + activations
  (the bytes of every parameter array, plus every distinct array ``net.forward(x, return_all=True)``
  returns); traced apart from the timed runs;
* **agreement** in float64 (first sample): the float64 export of the canonized model explained by dtd with
  ``peers.zennit(...)`` against Zennit on the model in double, ``max|dtd - f_c zennit| / max|f_c zennit|``;
  and each one's float32 result against its own float64 result.

Zennit imports torchvision at start-up; without it, a stand-in module whose ``BasicBlock``/``Bottleneck``
are the zoo's (so ``ResNetCanonizer`` recognises the zoo's blocks) is put in ``sys.modules`` first.
"""
import argparse
import copy
import gc
import os
import sys
import tempfile
import tracemalloc
import types
from importlib.metadata import version

import numpy as np

import _common
from _common import Stats, measure, verdict

MODELS = ("resnet50", "resnet18", "densenet121", "mobilenet_v2", "vgg16")
COMPOSITES = ("EpsilonGammaBox", "EpsilonPlus")
OWN = {"EpsilonGammaBox": "epsilon-gamma-box", "EpsilonPlus": "epsilon-plus"}
SHORT = {"EpsilonGammaBox": "EGB", "EpsilonPlus": "EPlus"}


def import_peers():
    try:
        import torch
    except ImportError:
        sys.exit("compare_zennit_models needs torch: pip install torch==2.13.0")
    try:
        import torchvision.models.resnet  # noqa: F401
        tv = "torchvision installed"
    except ImportError:
        from dtd.conformance.torch_zoo import BasicBlock, Bottleneck
        tvm = types.ModuleType("torchvision")
        models = types.ModuleType("torchvision.models")
        resnet = types.ModuleType("torchvision.models.resnet")
        resnet.Bottleneck, resnet.BasicBlock = Bottleneck, BasicBlock
        tvm.models, models.resnet = models, resnet
        sys.modules.update({"torchvision": tvm, "torchvision.models": models, "torchvision.models.resnet": resnet})
        tv = "torchvision stubbed with the zoo's blocks"
    try:
        import zennit
        import zennit.attribution  # noqa: F401
        import zennit.canonizers  # noqa: F401
        import zennit.composites  # noqa: F401
        import zennit.torchvision  # noqa: F401
    except ImportError:
        sys.exit("compare_zennit_models needs zennit: pip install --no-deps zennit==0.5.1")
    from dtd.conformance import torch_zoo as tz
    zennit.torchvision.ResNetBasicBlock, zennit.torchvision.ResNetBottleneck = tz.BasicBlock, tz.Bottleneck
    return torch, zennit, tv


def rel_diff(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


class Case:
    """One model: the torch model, dtd's two networks (canonized and own), Zennit's models, box and input maker."""

    def __init__(self, torch, zennit, name, tmp):
        import dtd
        from dtd.conformance import torch_zoo as tz
        from dtd.conformance.peers import zennit_canonized
        from dtd.io.onnx import load_onnx
        self.name = name
        if name == "vgg16":
            from _vgg import vgg16
            from compare_zennit import to_torch
            self.net_z = self.net_own = vgg16(224, dtype=np.float32)
            self.model = to_torch(torch, self.net_z)
            self.low, self.high = 0.0, 1.0
            self.canonizer = lambda: []
            self.float64_net = lambda: _common.float64_copy(self.net_z)
            self.model64 = lambda: to_torch(torch, self.net_z).double()
            self.input = lambda n, seed=1: np.random.default_rng(seed).uniform(
                size=(n, 3, 224, 224)).astype(np.float32)
        else:
            model, shape = tz.build(name, "full")
            self.model = model
            # Zennit 0.5.1's SequentialMergeBatchNorm fails on DenseNet (it pairs each batch norm with the
            # previous linear leaf, which in a dense block is not its input: a shape error); there Zennit
            # runs without a canonizer (its Pass rule on every batch norm) and dtd explains the model itself
            self.merge = name != "densenet121"
            canon = zennit_canonized(model) if self.merge else model
            self.net_z = load_onnx(tz.export(canon, shape, os.path.join(tmp, name + "-canon.onnx"), "ts17"))
            self.net_own = load_onnx(tz.export(model, shape, os.path.join(tmp, name + ".onnx"), "ts17"))
            path64 = os.path.join(tmp, name + "-canon64.onnx")
            self.float64_net = lambda: load_onnx(tz.export(canon, shape, path64, "ts17", dtype="float64"))
            self.model64 = lambda: copy.deepcopy(model).double()
            self.low, self.high = tz.INPUT_LOW, tz.INPUT_HIGH
            resnet = name.startswith("resnet")
            self.canonizer = (lambda: [zennit.torchvision.ResNetCanonizer()]) if resnet else \
                (lambda: [zennit.canonizers.SequentialMergeBatchNorm()]) if self.merge else (lambda: [])
            self.input = lambda n, seed=1: tz.example_input((n,) + shape[1:], seed=seed).numpy()
        self.model.requires_grad_(False)
        self.zmodels, self.zcomps = {}, {}
        for comp in COMPOSITES:
            m = copy.deepcopy(self.model)
            c = self.zennit_composite(zennit, comp)
            c.register(m)
            self.zmodels[comp], self.zcomps[comp] = m, c
        self.dtd_zmap = {comp: self.zmap(comp) for comp in COMPOSITES}
        self.dtd_own = {comp: dtd.composites.get(OWN[comp], low=self.low, high=self.high)
                        if comp == "EpsilonGammaBox" else dtd.composites.get(OWN[comp]) for comp in COMPOSITES}

    def zennit_composite(self, zennit, comp):
        if comp == "EpsilonGammaBox":
            return zennit.composites.EpsilonGammaBox(low=self.low, high=self.high, canonizers=self.canonizer())
        return zennit.composites.EpsilonPlus(canonizers=self.canonizer())

    def zmap(self, comp):
        from dtd.conformance.peers import zennit as zennit_map
        return zennit_map(comp, low=self.low, high=self.high) if comp == "EpsilonGammaBox" else zennit_map(comp)

    def remove(self):
        for c in self.zcomps.values():
            c.remove()


def zennit_explain(torch, zennit, model, xt):
    def one_hot(out):
        return torch.nn.functional.one_hot(out.argmax(1), out.shape[1]).to(out.dtype)
    with zennit.attribution.Gradient(model) as attributor:     # composite already registered on model
        return attributor(xt, one_hot)


def net_arrays(net):
    ops = [n.op for n in net.nodes] if hasattr(net, "nodes") else net.layers
    out = []
    for op in ops:
        for v in vars(op).values():
            if isinstance(v, np.ndarray):
                out.append(v)
    return out


def reference_bytes(net, x):
    """Bytes of the weights plus every distinct array of ``net.forward(x, return_all=True)``."""
    acts = net.forward(x, return_all=True)
    acts = acts.values() if isinstance(acts, dict) else acts
    seen, total = set(), 0
    for a in list(acts) + net_arrays(net):
        base = a if a.base is None else a.base
        if id(base) not in seen and isinstance(base, np.ndarray):
            seen.add(id(base))
            total += base.nbytes
    return total


def peak_memory(net, x, comp):
    """tracemalloc peak of one explanation (above what was allocated before it) + the weights and input."""
    gc.collect()
    ref = reference_bytes(net, x)
    weights = sum(a.nbytes for a in net_arrays(net))
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    net.explain(x, comp)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return (peak + weights + x.nbytes) / ref, ref


def float64_agreement(torch, zennit, case, x, first32):
    """First sample: float64 dtd (zmap) vs Zennit, and each one's float32 vs its float64."""
    net64 = case.float64_net()
    model64 = case.model64()
    x64 = x[:1].astype(np.float64)
    out = net64.forward(x64)
    c = out.argmax(1)
    fc = out[np.arange(1), c].reshape(-1, 1, 1, 1)
    res = {}
    for comp in COMPOSITES:
        zc = case.zennit_composite(zennit, comp)
        one_hot = torch.nn.functional.one_hot(torch.from_numpy(c), out.shape[1]).double()
        with zennit.attribution.Gradient(model64, zc) as attributor:
            _, Rz = attributor(torch.from_numpy(x64), one_hot)
        Rz = fc * Rz.detach().numpy()
        Rd = net64.explain(x64, case.zmap(comp), target=c)
        d32, z32 = first32[comp]
        res[comp] = (rel_diff(Rd, Rz), rel_diff(d32, Rd), rel_diff(z32, Rz))
    return res


def run_case(torch, zennit, case, batches, repeat, warmup, memory, check64):
    """Timings, ratios, memory and agreement of one model at each batch size, at the current thread count."""
    results = []
    for batch in batches:
        x = case.input(batch)
        xt = torch.from_numpy(x)
        out = case.net_z.forward(x)
        target = out.argmax(1)
        fc = out[np.arange(batch), target].reshape(-1, 1, 1, 1)
        agree, first32 = {}, {}
        with torch.inference_mode():
            agree["forward"] = rel_diff(case.net_own.forward(x), case.model(xt).numpy())
        for comp in COMPOSITES:
            Rz = fc * zennit_explain(torch, zennit, case.zmodels[comp], xt.clone())[1].detach().numpy()
            Rd = case.net_z.explain(x, case.dtd_zmap[comp])
            agree[comp] = rel_diff(Rd, Rz)
            first32[comp] = (Rd[:1], Rz[:1])
        if check64 and batch == batches[0]:
            agree["float64"] = float64_agreement(torch, zennit, case, x, first32)

        def torch_forward():
            with torch.inference_mode():
                return case.model(xt)

        contenders = {"dtd forward": lambda: case.net_own.forward(x), "torch forward": torch_forward}
        for comp in COMPOSITES:
            s = SHORT[comp]
            contenders[f"dtd {s} zmap"] = (lambda c: lambda: case.net_z.explain(x, case.dtd_zmap[c]))(comp)
            contenders[f"dtd {s} own"] = (lambda c: lambda: case.net_own.explain(x, case.dtd_own[c]))(comp)
            contenders[f"zennit {s}"] = (lambda c: lambda: zennit_explain(torch, zennit, case.zmodels[c],
                                                                           xt.clone()))(comp)
        load0 = os.getloadavg()
        st = measure(contenders, repeat, warmup=warmup)
        load1 = os.getloadavg()
        mem = peak_memory(case.net_z, x, case.dtd_zmap["EpsilonGammaBox"]) if memory else None
        results.append(dict(batch=batch, st=st, agree=agree, mem=mem, load=(load0[0], load1[0])))
        print_batch(case.name, batch, st, agree, mem, load0, load1)
        del x, xt
        gc.collect()
    return results


def print_batch(name, batch, st, agree, mem, load0, load1):
    print(f"\n{name}, {batch}x3x224x224 float32 (load average 1 min: {load0[0]:.2f} -> {load1[0]:.2f})")
    print(f"  {'':<18} {Stats.ROW_HEAD}   / own forward")
    for n, s in st.items():
        own = st["dtd forward"] if n.startswith("dtd") else st["torch forward"]
        r = "" if "forward" in n else f"{s.best / own.best:6.2f}"
        print(f"  {n:<18} {s.row()}   {r}")
    line = f"  agreement float32 (dtd zmap vs f_c zennit): forward dtd own vs torch {agree['forward']:.1e}"
    for comp in COMPOSITES:
        line += f", {SHORT[comp]} {agree[comp]:.1e}"
    print(line)
    if "float64" in agree:
        print("  first sample: " + "; ".join(
            f"{SHORT[k]}: float64 dtd vs zennit {a:.1e}, float32 vs float64: dtd {b:.1e}, zennit {c:.1e}"
            for k, (a, b, c) in agree["float64"].items()))
    if mem is not None:
        print(f"  peak memory of a dtd EGB zmap explanation / (weights + activations = {mem[1] / 2**20:.0f} MB): "
              f"{mem[0]:.2f}")


TARGETS = {  # model -> (zennit ratio limit at batch 1, at batch >1, forward/torch limit, explain/forward limit)
    "resnet50": (0.4, 0.5, 1.2, None), "resnet18": (0.4, 0.5, 1.2, None), "densenet121": (0.4, 0.5, 1.2, None),
    "mobilenet_v2": (0.5, 0.5, None, 4.0), "vgg16": (None, None, None, 3.0),
}


def summary(all_rows):
    print("\nSummary: ratios of best wall times, each from one interleaved set (target, verdict)")
    print(f"  {'threads':>7} {'model':<13} {'batch':>5} {'what':<26} {'ratio':>6}  {'target':<7} verdict")
    for threads, name, rows in all_rows:
        by_batch = {r["batch"]: r for r in rows}
        for r in rows:
            st, b = r["st"], r["batch"]
            z1, z8, fwd, ef = TARGETS[name]
            items = [("forward dtd / torch", st["dtd forward"].best / st["torch forward"].best, fwd)]
            for comp in COMPOSITES:
                s = SHORT[comp]
                for kind in ("zmap", "own"):
                    limit = z1 if b == 1 else z8
                    if name == "vgg16":
                        limit = (0.45 if kind == "zmap" else 0.35) if comp == "EpsilonGammaBox" else None
                    items.append((f"{s} {kind} / zennit", st[f"dtd {s} {kind}"].best / st[f"zennit {s}"].best,
                                  limit))
                items.append((f"{s} zmap / dtd forward", st[f"dtd {s} zmap"].best / st["dtd forward"].best,
                              ef if (comp == "EpsilonGammaBox" or name == "mobilenet_v2") else None))
            if r["mem"] is not None:
                items.append(("peak mem / (w + act)", r["mem"][0], 3.0))
            if b != min(by_batch) and min(by_batch) in by_batch:
                b0 = min(by_batch)
                t0 = by_batch[b0]["st"]["dtd EGB zmap"].best
                items.append((f"EGB zmap t(b)/({b // b0} t({b0}))", st["dtd EGB zmap"].best / (t0 * b / b0), None))
            for what, v, limit in items:
                tgt = "-" if limit is None else f"<= {limit}"
                print(f"  {threads:>7} {name:<13} {b:>5} {what:<26} {v:6.2f}  {tgt:<7} "
                      f"{'' if limit is None else verdict(v, limit)}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    p.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--threads", type=int, nargs="+", default=[2, 1], help="thread counts, in turn (default 2 1)")
    p.add_argument("--no-warmup", action="store_true")
    p.add_argument("--no-memory", action="store_true", help="skip the tracemalloc figure")
    p.add_argument("--no-check-float64", action="store_true", help="skip the float64 agreement")
    p.add_argument("--quick", action="store_true", help="batch 1, 2 rounds, 2 threads, no memory, no float64")
    p.add_argument("--keep-freed-memory", action="store_true",
                   help="dtd.workspace.keep_freed_memory() first (glibc keeps freed memory: no page faults; the "
                        "whole process, torch included, is affected)")
    args = p.parse_args(argv)
    if args.quick:
        args.batch, args.repeat, args.threads = [1], 2, [2]
        args.no_memory = args.no_check_float64 = True
    kept = None
    if args.keep_freed_memory:
        from dtd.workspace import keep_freed_memory
        kept = keep_freed_memory()
    torch, zennit, tv = import_peers()
    from threadpoolctl import threadpool_limits
    _common.header("compare_zennit_models: dtd vs Zennit 0.5.1 (canonizers) and dtd forward vs torch, float32, "
                   "224x224", [f"torch {torch.__version__}, zennit {version('zennit')}, {tv}",
                               f"models {args.models}, batches {args.batch}, threads {args.threads}, "
                               f"best of {args.repeat} interleaved rounds",
                               "allocator: " + ("glibc default" if kept is None else
                                                f"keep_freed_memory() -> {kept}")])
    all_rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            case = Case(torch, zennit, name, tmp)
            for i, threads in enumerate(args.threads):
                with threadpool_limits(threads):
                    torch.set_num_threads(threads)
                    print(f"\n-- {name}: {threads} thread(s) (BLAS {_common.numpy_blas_threads()}, torch "
                          f"{torch.get_num_threads()}), load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
                    rows = run_case(torch, zennit, case, args.batch, args.repeat, not args.no_warmup,
                                    not args.no_memory and i == 0, not args.no_check_float64 and i == 0)
                    all_rows.append((threads, name, rows))
            case.remove()
            del case
            gc.collect()
    summary(all_rows)
    _common.footer()


if __name__ == "__main__":
    main()
