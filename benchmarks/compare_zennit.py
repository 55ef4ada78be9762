"""dtd's explanation time against Zennit 0.5.1 on the same VGG-16-shaped network and weights: issue 7, target 2.

    pip install torch==2.13.0 && pip install --no-deps zennit==0.5.1
    python benchmarks/compare_zennit.py [--side 224] [--batch 1 8] [--repeat 3] [--quick]

Targets: dtd's explanation time at most half of Zennit's with EpsilonGammaBox,
at most Zennit's with EpsilonPlus; float32, batch 1 and 8, measured side by
side in one run (contenders interleaved, ``_common.measure``).

The network: ``_vgg.vgg16`` (random weights, zero biases) in float32, copied
into a ``torch.nn.Sequential`` of Conv2d / ReLU / MaxPool2d / Flatten / Linear.
The torch models that Zennit hooks share their parameters with one plain copy
(no extra memory).  Torch runs as many intra-op threads as NumPy's BLAS
(``torch.set_num_threads``; ``--threads N`` sets both), printed.  On a loaded
machine, two OpenMP threads in torch can be several times slower than one (a
descheduled thread stalls every barrier): compare ``--threads 1`` too.

Contenders for each batch size:

- ``dtd forward`` and ``torch forward`` (``torch.inference_mode``, no hooks);
- ``dtd EGB (zennit map)`` / ``dtd EPlus (zennit map)``: dtd with
  ``dtd.conformance.peers.zennit(...)``, the composite that computes exactly
  what Zennit computes (generalised gamma, z+ with ``b+`` in the denominator,
  stabiliser 1e-6, first-maximum max pooling); these are the figures the
  targets compare;
- ``dtd EGB (dtd composite)``: dtd's own ``epsilon-gamma-box`` (plain gamma;
  the same relevance on this ReLU network, where every neuron with ``z <= 0``
  receives no relevance), for reference;
- ``zennit EGB`` / ``zennit EPlus``: ``zennit.attribution.Gradient`` with the
  composite registered once (hooks in place, so registration is not timed),
  output attribution = one-hot of the argmax (as dtd's default target).

Agreement: dtd starts from ``f_c(x)`` at the target, Zennit from the one-hot
gradient, so ``dtd = f_c(x) * zennit`` (docs/backends.md); printed as
``max|dtd - f_c zennit| / max|f_c zennit|`` over the batch, in float32.  In
float32 the two can differ by far more than rounding: max pooling sends all
relevance to the window's maximum, and where two entries of a window are
within float32 rounding of each other the two backends may pick different
winners (seen: one window of 15571 in the last pooling layer, sample 4 of
batch 8, 2% of the relevance moved).  So the first sample is also explained in
float64 (the float32 weights cast up, torch in double), where the two must
agree to rounding, and each backend's float32 result is compared with its own
float64 result (``--no-check-float64`` skips this).

Zennit imports torchvision at start-up (for its ResNet canonizers); without
torchvision installed, a stub module with dummy ``Bottleneck``/``BasicBlock``
classes stands in (nothing here uses them).
"""
import argparse
import sys
from importlib.metadata import version
import types

import numpy as np

import _common
from _common import Stats, float64_copy, measure, verdict
import dtd
from dtd.conformance.peers import zennit as zennit_map
from dtd.layers import Conv2d, Dense, Flatten, MaxPool2d, ReLU
from _vgg import vgg16

LOW, HIGH = 0.0, 1.0   # the inputs' box: uniform [0, 1] images


def stub_torchvision():
    """Put a stand-in ``torchvision`` in sys.modules if the real one is not installed."""
    try:
        import torchvision.models.resnet  # noqa: F401
        return "torchvision installed"
    except ImportError:
        pass
    tv = types.ModuleType("torchvision")
    models = types.ModuleType("torchvision.models")
    resnet = types.ModuleType("torchvision.models.resnet")

    class Bottleneck:   # zennit.torchvision only names these two classes
        pass

    class BasicBlock:
        pass

    resnet.Bottleneck, resnet.BasicBlock = Bottleneck, BasicBlock
    tv.models, models.resnet = models, resnet
    sys.modules.update({"torchvision": tv, "torchvision.models": models, "torchvision.models.resnet": resnet})
    return "torchvision stubbed (not installed)"


def import_peers():
    try:
        import torch
    except ImportError:
        sys.exit("compare_zennit needs torch: pip install torch==2.13.0")
    tv = stub_torchvision()
    try:
        import zennit
        import zennit.attribution  # noqa: F401
        import zennit.composites  # noqa: F401
    except ImportError:
        sys.exit("compare_zennit needs zennit: pip install --no-deps zennit==0.5.1")
    return torch, zennit, tv


def to_torch(torch, net, shared=None):
    """``torch.nn.Sequential`` computing ``net``; with ``shared`` (another such model) reuse its Parameters."""
    mods = []
    src = list(shared) if shared is not None else None
    for i, layer in enumerate(net.layers):
        if isinstance(layer, Conv2d):
            o, c, kh, kw = layer.weight.shape
            m = torch.nn.Conv2d(c, o, (kh, kw), stride=layer.stride, padding=layer.padding)
        elif isinstance(layer, Dense):
            m = torch.nn.Linear(layer.weight.shape[1], layer.weight.shape[0])
        elif isinstance(layer, ReLU):
            m = torch.nn.ReLU()
        elif isinstance(layer, MaxPool2d):
            m = torch.nn.MaxPool2d(layer.kernel_size, layer.stride, layer.padding)
        elif isinstance(layer, Flatten):
            m = torch.nn.Flatten()
        else:
            raise TypeError(f"no torch counterpart for {type(layer).__name__}")
        if isinstance(layer, (Conv2d, Dense)):
            if src is not None:
                m.weight, m.bias = src[i].weight, src[i].bias
            else:
                with torch.no_grad():
                    m.weight.copy_(torch.from_numpy(layer.weight))
                    m.bias.copy_(torch.from_numpy(layer.bias))
        mods.append(m)
    return torch.nn.Sequential(*mods).eval()


def rel_diff(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


def check_float64(torch, zennit, net, x, relevances32):
    """For the first sample: dtd vs Zennit in float64, and each one's float32 result vs its float64 result.

    ``relevances32``: dict name -> (dtd float32, Zennit float32 times f_c), first sample only.
    Returns dict name -> (float64 dtd vs zennit, dtd32 vs dtd64, zennit32 vs zennit64).
    """
    net64 = float64_copy(net)
    model = to_torch(torch, net64).double()
    x64 = x.astype(np.float64)
    out = net64.forward(x64)
    c = out.argmax(1)
    fc = out[np.arange(len(x)), c].reshape(-1, 1, 1, 1)
    one_hot = torch.nn.functional.one_hot(torch.from_numpy(c), out.shape[1]).double()
    res = {}
    for key, zcomp, dcomp in (("EGB", zennit.composites.EpsilonGammaBox(low=LOW, high=HIGH),
                               zennit_map("EpsilonGammaBox", low=LOW, high=HIGH)),
                              ("EPlus", zennit.composites.EpsilonPlus(), zennit_map("EpsilonPlus"))):
        with zennit.attribution.Gradient(model, zcomp) as attributor:
            _, Rz = attributor(torch.from_numpy(x64), one_hot)
        Rz = fc * Rz.detach().numpy()
        Rd = net64.explain(x64, dcomp)
        d32, z32 = relevances32[key]
        res[key] = (rel_diff(Rd, Rz), rel_diff(d32, Rd), rel_diff(z32, Rz))
    return res


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    _common.add_timing_options(p, "side 112, batch 1, 2 rounds")
    p.add_argument("--no-dtd-composite", action="store_true", help="skip dtd's own epsilon-gamma-box contender")
    p.add_argument("--no-check-float64", action="store_true",
                   help="skip the float64 agreement check on the first sample")
    args = p.parse_args(argv)
    if args.quick:
        args.side, args.batch, args.repeat = 112, [1], 2
    torch, zennit, tv = import_peers()
    blas_threads = _common.set_threads(args.threads) or 2     # after importing torch: limits its OpenMP too
    torch.set_num_threads(blas_threads)
    _common.header("compare_zennit: dtd vs Zennit explanation time, VGG-16-shaped network, float32",
                   [f"torch {torch.__version__} (intra-op threads set to {torch.get_num_threads()} = NumPy's BLAS "
                    f"threads, inter-op {torch.get_num_interop_threads()}; "
                    f"mkldnn {'on' if torch.backends.mkldnn.is_available() else 'off'}), "
                    f"zennit {version('zennit')}, {tv}",
                    f"side {args.side}, batches {args.batch}, best of {args.repeat} interleaved rounds"])

    net = vgg16(args.side, dtype=np.float32)
    plain = to_torch(torch, net)
    plain.requires_grad_(False)
    egb_model, ep_model = to_torch(torch, net, plain), to_torch(torch, net, plain)
    egb_z = zennit.composites.EpsilonGammaBox(low=LOW, high=HIGH)      # epsilon = stabilizer = 1e-6, gamma 0.25
    ep_z = zennit.composites.EpsilonPlus()
    egb_z.register(egb_model)
    ep_z.register(ep_model)
    egb_map = zennit_map("EpsilonGammaBox", low=LOW, high=HIGH)
    ep_map = zennit_map("EpsilonPlus")
    egb_dtd = dtd.composites.get("epsilon-gamma-box", low=LOW, high=HIGH)

    def one_hot(out):
        return torch.nn.functional.one_hot(out.argmax(1), out.shape[1]).to(out.dtype)

    def zennit_explain(model, xt):
        with zennit.attribution.Gradient(model) as attributor:   # composite already registered on model
            return attributor(xt, one_hot)

    def torch_forward(xt):
        with torch.inference_mode():
            return plain(xt)

    rows = []
    for batch in args.batch:
        x = np.random.default_rng(1).uniform(size=(batch, 3, args.side, args.side)).astype(np.float32)
        xt = torch.from_numpy(x)
        # agreement first (also shows both run the same network)
        out_d = net.forward(x)
        out_t = torch_forward(xt).numpy()
        target = out_d.argmax(1)
        fc = out_d[np.arange(batch), target].reshape(-1, 1, 1, 1)
        agree = {"forward": rel_diff(out_d, out_t),
                 "target": bool((out_t.argmax(1) == target).all())}
        first = {}
        for key, model, comp in (("EGB", egb_model, egb_map), ("EPlus", ep_model, ep_map)):
            _, Rz = zennit_explain(model, xt.clone())
            Rd, Rz = net.explain(x, comp), fc * Rz.detach().numpy()
            agree[key] = rel_diff(Rd, Rz)
            first[key] = (Rd[:1], Rz[:1])
        if not args.no_check_float64:
            agree["float64"] = check_float64(torch, zennit, net, x[:1], first)
        if not args.no_dtd_composite:
            agree["EGB dtd composite"] = rel_diff(net.explain(x, egb_dtd),
                                                  fc * zennit_explain(egb_model, xt.clone())[1].detach().numpy())
        contenders = {
            "dtd forward": lambda: net.forward(x),
            "torch forward": lambda: torch_forward(xt),
            "dtd EGB (zennit map)": lambda: net.explain(x, egb_map),
            "zennit EGB": lambda: zennit_explain(egb_model, xt.clone()),
            "dtd EPlus (zennit map)": lambda: net.explain(x, ep_map),
            "zennit EPlus": lambda: zennit_explain(ep_model, xt.clone()),
        }
        if not args.no_dtd_composite:
            contenders["dtd EGB (dtd composite)"] = lambda: net.explain(x, egb_dtd)
        st = measure(contenders, args.repeat, warmup=not args.no_warmup)
        print(f"\n{batch}x3x{args.side}x{args.side} float32")
        print(f"  {'':<26} {Stats.ROW_HEAD}   / own forward (CPU)")
        for name, s in st.items():
            own = st["dtd forward"] if name.startswith("dtd") else st["torch forward"]
            r = "" if "forward" in name else f"{s.best / own.best:6.2f} ({s.cpu_best / own.cpu_best:5.2f})"
            print(f"  {name:<26} {s.row()}   {r}")
        print(f"  agreement (max rel. diff., float32): forward {agree['forward']:.1e} (same argmax: "
              f"{agree['target']}), EpsilonGammaBox {agree['EGB']:.1e}, EpsilonPlus {agree['EPlus']:.1e}"
              + (f", dtd's own epsilon-gamma-box {agree['EGB dtd composite']:.1e}" if not args.no_dtd_composite
                 else ""))
        if "float64" in agree:
            print("  first sample: " + "; ".join(
                f"{k}: float64 dtd vs zennit {a:.1e}, float32 vs float64: dtd {b:.1e}, zennit {c:.1e}"
                for k, (a, b, c) in agree["float64"].items()))
        rows.append((batch, st, agree))
        del x, xt, st

    print("\nSummary (dtd time / Zennit time, best wall time; CPU-time ratio in brackets)")
    print(f"  {'batch':>5} {'what':<34} {'ratio':>6} {'(CPU)':>7}  {'target':<8} verdict")
    for batch, st, agree in rows:
        for what, a, b, limit in (("forward: dtd / torch", "dtd forward", "torch forward", None),
                                  ("EpsilonGammaBox: dtd / zennit", "dtd EGB (zennit map)", "zennit EGB", 0.5),
                                  ("EpsilonPlus: dtd / zennit", "dtd EPlus (zennit map)", "zennit EPlus", 1.0)):
            r, rc = st[a].best / st[b].best, st[a].cpu_best / st[b].cpu_best
            tgt = "-" if limit is None else f"<= {limit}"
            v = "" if limit is None else verdict(r, limit)
            print(f"  {batch:>5} {what:<34} {r:6.2f} {rc:7.2f}  {tgt:<8} {v}")
    egb_z.remove()
    ep_z.remove()
    _common.footer()


if __name__ == "__main__":
    main()
