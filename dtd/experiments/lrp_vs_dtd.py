r"""Seed 000, task 3: which LRP rules are deep Taylor decompositions, and where they part, on the shipped networks.

Deep Taylor decomposition (DTD) redistributes the relevance :math:`R_j = z_j^+ c_j` of a ReLU
neuron by the first-order terms of its Taylor expansion at a *root point*
:math:`\tilde x = x - t v` on the plane :math:`\sum_i \tilde x_i w_{ij} + b_j = 0` (search direction
:math:`v`, :math:`t = z_j / \sum_i v_i w_{ij}`), which gives

.. math::

    R_i = \sum_j \frac{v_{ij} w_{ij}}{\sum_{i'} v_{i'j} w_{i'j}} R_j

with the bias **not** in the denominator (seed 000).  An LRP rule is a DTD rule when it has this form
for some :math:`v` whose root point lies in the input domain.  Shown numerically here (largest
difference over a batch, relative to the largest relevance):

1. **LRP-0 is DTD at the origin when b = 0.**  :math:`v = x` puts the root at
   :math:`\tilde x = (1 - t) x`, the origin when :math:`t = 1`, i.e. when :math:`b_j = 0`; that rule
   is :class:`~dtd.rules.ZBox` on the degenerate box :math:`[0, 0]` (:math:`v = x - 0 - 0`).  On the
   shipped networks with their biases set to 0, LRP-0 equals it (and gradient x input).  With the
   shipped biases (:math:`b \le 0`) they differ: LRP-0 keeps :math:`b_j` in its denominator, i.e.
   expands at the origin, which is then *not* a root (:math:`f(0) \ne 0` in the linear piece), and
   its messages add up to :math:`(z_j - b_j)/z_j\,R_j > R_j`: it inflates the total (it equals
   gradient x input on any ReLU network), while DTD with :math:`v = x` conserves at a root
   :math:`\tilde x = -b_j/(\sum_i x_i w_{ij})\, x` inside :math:`x \ge 0`.
2. **alpha1beta0 is the z+ rule when b <= 0 and x >= 0.**  z+ is DTD with
   :math:`v_i = x_i 1[w_{ij} > 0]`, its root in :math:`x \ge 0` when :math:`b_j \le 0`; alpha1beta0
   is the same fraction with :math:`b_j^+` in the denominator.  On the pair networks (b <= 0) they
   are equal; on the 10-class CNN (biases of both signs) they differ where :math:`b_j > 0`: there
   alpha1beta0 absorbs :math:`b_j^+/(\sum_i z_{ij}^+ + b_j^+)` of :math:`R_j` at every layer, while
   z+ keeps it, except where a neuron is switched on by its bias alone and has no positive
   contribution to share it with (0/0 := 0).  z+'s root point leaves :math:`x \ge 0` only when
   :math:`t_j > 1`, i.e. :math:`b_j > \sum_i x_i |w_{ij}^-|` (measured: the share of active neurons of
   the last hidden Dense layer with :math:`b_j > 0`, and with the root outside).
3. **z^B at the input has no LRP counterpart, but z+ and LRP-0 are z^B on boxes.**  z^B on
   :math:`[l, h]` is DTD with :math:`v_i = x_i - l_i 1[w>0] - h_i 1[w<0]`; on the box
   :math:`[0, x]` that is z+'s direction, and on :math:`[0, 0]` LRP-0's (no bias).  Measured at
   the first layer, per sample.  The DTD training-free model (z^B on the pixel box [0, 1]) and
   alpha1beta0 everywhere differ only at the pixels: z^B gives relevance to black pixels that
   negative weights see (:math:`-h_i w_{ij}^-`), z+ never does (measured: the share of
   :math:`\sum |R|` on pixels that are 0).  Its root stays in the box when
   :math:`b_j + \sum_i (l_i w_{ij}^+ + h_i w_{ij}^-) \le 0` (:meth:`dtd.rules.ZBox.root_point_outside`),
   always so for :math:`b \le 0` and :math:`l = 0`; measured on the 10-class CNN.

**Measured** (full run, ``python -m dtd.experiments.lrp_vs_dtd``):
100 inputs per network; networks in the order
pair detector (Dense, b <= 0) / pair CNN (b <= 0) / 10-class CNN (a third of the biases positive);
differences are ``max |A - B| / max |A|`` over the batch, conservation errors the mean of
:math:`|\sum_p R_p - f| / |f|`.

- LRP-0 against DTD with v = x, biases set to 0: **0 / 0 / 0**; both conserve (<= 2.2e-16).
  LRP-0 against gradient x input: <= 3.5e-16 on all three, with the biases set to 0 *and* with the
  shipped ones.
- With the shipped biases LRP-0 and DTD v = x differ by 0.16 / 0.46 / 1.00; LRP-0's conservation
  error is 0.069 / 0.38 / 0.040, DTD v = x's 8e-17 / 1.3e-16 / **0.74**: on the 10-class CNN 45 % of
  the active neurons of the hidden Dense layer have b > 0, their root point (1 - t) x is off the
  segment from 0 to x (t < 0 or t > 1), and the denominators :math:`\sum_i x_i w_{ij}` can be small or
  of the wrong sign: with positive biases v = x is not a DTD direction at all.
- alpha1beta0 against z+: **0 / 0 / 0.061**.  Conservation error 6e-17 / 8e-17 / 0.069 (alpha1beta0)
  and the same / the same / 0.034 (z+).  Where it goes (``dtd.evaluate.conservation_by_layer``, share of
  f): alpha1beta0 absorbs at every layer (first convolution 0.041, second 0.018, third 0.007, ...),
  z+ only at the first convolution (0.034), whose neurons over the black background are switched on by a
  positive bias with nothing positive to pass it to; the DTD model's z^B there conserves (1e-16).  z+'s
  root stays in :math:`x \ge 0` for every active neuron of the hidden Dense layer, although 45 % have b > 0.
- z+ against z^B on [0, x] at the first layer: <= 4.6e-16 (10 inputs, one box each); LRP-0 with
  the bias left out against z^B on [0, 0]: 0.
- The DTD model (z^B on [0, 1] at the pixels) against alpha1beta0: 0.88 / 0.68 / 0.51; z^B puts
  0.74 / 0.41 / 0.24 of :math:`\sum |R|` on black pixels, alpha1beta0 none; z^B's root stays in the
  box for every active first-layer neuron of all three networks.

(10-20 s on 2 busy cores.)

Outputs: ``results.csv``/``results.md`` (one row per claim and network: the two explanations, their
largest relative difference, each one's conservation error, a note), ``heatmaps_detector.png``,
``heatmaps_cnn.png``, ``heatmaps_deep.png`` (per input: LRP-0, DTD at the origin, their difference;
alpha1beta0, z+, difference; the DTD model, alpha1beta0, difference), ``model.json``.

Run: ``python -m dtd.experiments.lrp_vs_dtd [--quick] [--out DIR]`` (MNIST needed).
"""
from pathlib import Path

import numpy as np

from .. import composites
from ..composites import Uniform
from ..evaluate import conservation
from ..explainers import gradient_x_input
from ..layers import Conv2d, Dense
from ..render import grid, heatmap, save_png
from ..rules import AlphaBeta, Epsilon, ZBox, ZPlus
from .common import Timer, blas_limit, experiment_main, gray, mnist_pairs, to_float, upscale, write_json, write_table

__all__ = ["NETWORKS", "max_difference", "zero_biases", "origin_rule", "compare_network", "input_layer_identities",
           "root_outside_share", "run", "main"]

NAME = "lrp_vs_dtd"
#: the shipped networks: name -> (file, what)
NETWORKS = {"detector": ("mnist_detector.npz", "pair detector, Dense, b <= 0"),
            "cnn": ("mnist_cnn.npz", "pair CNN, sum pooling, b <= 0"),
            "deep": ("mnist_deep_cnn.npz", "10-class CNN, max pooling, b of both signs")}


def origin_rule():
    """DTD with search direction v = x, bias not in the denominator: z^B on the degenerate box [0, 0]."""
    return ZBox(0.0, 0.0)


def max_difference(a, b):
    """``max |a - b| / max |a|`` over the whole batch (0 when both are 0).

    >>> max_difference(np.array([1.0, -2.0]), np.array([1.0, -1.0]))
    0.5
    """
    den = max(float(np.abs(a).max()), float(np.abs(b).max()))
    return float(np.abs(a - b).max() / den) if den > 0 else 0.0


def zero_biases(net):
    """``net`` itself with every linear layer's bias set to 0 (load a fresh copy first)."""
    for layer in net.layers:
        if isinstance(layer, (Dense, Conv2d)) and getattr(layer, "bias", None) is not None:
            layer.bias = np.zeros_like(layer.bias)
    return net


def _load(kind):
    from .. import load
    from .._paths import data_dir
    return load(data_dir() / NETWORKS[kind][0])


def _inputs(kind, n, seed):
    if kind in ("detector", "cnn"):
        pairs = mnist_pairs("test", n * 3, 200 + seed)
        keep = np.flatnonzero(pairs.target >= 0)[:n]
        return to_float(pairs.images[keep]), np.zeros(n, dtype=np.intp)
    from .mnist_lrn import digits_test_sample
    images, _ = digits_test_sample()
    x = to_float(images[np.random.default_rng(300 + seed).permutation(len(images))[:n]])
    return x, None


def _explained(net, x, target):
    out = net.forward(x)
    t = out.argmax(1) if target is None else target
    return out[np.arange(len(x)), t], t


def _cons(R, f):
    return float(np.mean(conservation(R, f).error))


def _row(claim, kind, a_name, b_name, Ra, Rb, f, note):
    return {"claim": claim, "network": kind, "A": a_name, "B": b_name, "max |A - B| / max |A|": max_difference(Ra, Rb),
            "conservation error A": _cons(Ra, f), "conservation error B": _cons(Rb, f), "note": note}


def compare_network(kind, x, target):
    """The rows of claims 1-3 on the shipped network ``kind``, and the heatmaps of the first inputs."""
    net = _load(kind)
    f, t = _explained(net, x, target)
    rows, maps = [], {}
    biases = np.concatenate([l.bias.ravel() for l in net.layers if isinstance(l, (Dense, Conv2d))])
    share_pos = float(np.mean(biases > 0))

    # 1. LRP-0 = DTD at the origin when b = 0
    net0 = zero_biases(_load(kind))
    f0, _ = _explained(net0, x, t)
    R_lrp0_b0 = net0.explain(x, Uniform(Epsilon(0.0)), target=t)
    R_org_b0 = net0.explain(x, Uniform(origin_rule()), target=t)
    rows.append(_row("LRP-0 = DTD at the origin (v = x), b = 0", kind, "LRP-0", "DTD v = x (z^B on [0, 0])",
                     R_lrp0_b0, R_org_b0, f0, "biases set to 0: the root point x - t x is the origin (t = 1)"))
    rows.append(_row("LRP-0 = gradient x input (b = 0)", kind, "LRP-0", "gradient x input", R_lrp0_b0,
                     gradient_x_input(net0, x, t), f0, "ReLU network"))
    # ... and with the shipped biases
    R_lrp0 = net.explain(x, Uniform(Epsilon(0.0)), target=t)
    R_org = net.explain(x, Uniform(origin_rule()), target=t)
    rows.append(_row("LRP-0 vs DTD v = x, shipped biases", kind, "LRP-0", "DTD v = x (z^B on [0, 0])", R_lrp0, R_org,
                     f, f"biases min {biases.min():.3g}, max {biases.max():.3g}: LRP-0 expands at the origin, not a "
                     "root; sum R_LRP-0 = sum of gradient x input"))
    rows.append(_row("LRP-0 = gradient x input (shipped biases)", kind, "LRP-0", "gradient x input", R_lrp0,
                     gradient_x_input(net, x, t), f, "holds for any bias on a ReLU network (bias in the denominator)"))

    # 2. alpha1beta0 = z+ when b <= 0 and x >= 0
    R_ab = net.explain(x, Uniform(AlphaBeta(1.0, 0.0)), target=t)
    R_zp = net.explain(x, Uniform(ZPlus()), target=t)
    outside = root_outside_share(net, x)
    note = f"share of biases > 0: {share_pos:.3f}"
    if outside is not None:
        note += (f"; active neurons of the last hidden Dense layer: {outside['b > 0']:.3f} with b > 0, z+ root "
                 f"outside x >= 0 for {outside['z+']:.3f}, v = x root off the segment [0, x] for "
                 f"{outside['v = x']:.3f}")
    note += f"; absorbed (share of f, by layer index): alpha1beta0 {_absorbed(net, x, AlphaBeta(1.0, 0.0), t, f)}, " \
            f"z+ {_absorbed(net, x, ZPlus(), t, f)}"
    rows.append(_row("alpha1beta0 = z+ (b <= 0, x >= 0)", kind, "alpha1beta0", "z+", R_ab, R_zp, f, note))

    # 3. the DTD model (z^B at the pixels) vs alpha1beta0 everywhere
    R_dtd = net.explain(x, composites.get("dtd", low=0.0, high=1.0), target=t)
    black = (x == 0)
    on_black = float(np.mean((np.abs(R_dtd) * black).reshape(len(x), -1).sum(1)
                             / np.abs(R_dtd).reshape(len(x), -1).sum(1)))
    on_black_ab = float(np.mean((np.abs(R_ab) * black).reshape(len(x), -1).sum(1)
                                / np.maximum(np.abs(R_ab).reshape(len(x), -1).sum(1), 1e-300)))
    first, xin = _first_linear(net, x)
    zb_out = float(np.mean(ZBox(0.0, 1.0).root_point_outside(first, xin)[first.forward(xin) > 0]))
    rows.append(_row("DTD model (z^B at pixels) vs alpha1beta0", kind, "DTD (z^B + z+)", "alpha1beta0", R_dtd, R_ab, f,
                     f"share of |R| on black pixels: z^B {on_black:.3f}, alpha1beta0 {on_black_ab:.3f}; z^B root "
                     f"outside [0, 1] for {zb_out:.3f} of the active first-layer neurons"))
    maps = {"LRP-0": R_lrp0, "DTD v=x": R_org, "alpha1beta0": R_ab, "z+": R_zp, "DTD model": R_dtd}
    return rows, maps, f


def _absorbed(net, x, rule, t, f):
    """``"{layer: share}"`` of the layers that absorb more than 1e-9 of f(x) on average under ``Uniform(rule)``
    (:func:`dtd.evaluate.conservation_by_layer`)."""
    from ..evaluate import conservation_by_layer
    lc = conservation_by_layer(net, x, Uniform(rule), target=t)
    share = {k: float(np.mean(a / f)) for k, a in zip(lc.names, lc.absorbed.T)}
    return "{" + ", ".join(f"{k}: {v:.3g}" for k, v in share.items() if abs(v) > 1e-9) + "}"


def _first_linear(net, x):
    """The first Dense or Conv2d layer of ``net`` and its input for ``x``."""
    i = next(i for i, l in enumerate(net.layers) if isinstance(l, (Dense, Conv2d)))
    return net.layers[i], net.forward(x, return_all=True)[i]


def root_outside_share(net, x):
    """Where the root points of z+ and of v = x leave their domain, on the last hidden Dense layer.

    Over the active neurons (z_j > 0) of that layer, for the inputs ``x`` of the network: the share with
    ``b_j > 0``; the share whose z+ root point ``x - t x 1[w > 0]`` has a negative entry (``t_j > 1``, i.e.
    ``b_j > sum_i x_i |w_ij^-|``, possible only for ``b_j > 0``); and the share whose root point ``(1 - t) x``
    of ``v = x`` is not on the segment from 0 to x (``t_j`` outside [0, 1], i.e. ``b_j > 0``).  None if the
    network has no hidden Dense layer.
    """
    acts = net.forward(x, return_all=True)
    dense = [i for i, l in enumerate(net.layers) if isinstance(l, Dense)]
    if len(dense) < 2:
        return None
    i = dense[-2]
    W, b = net.layers[i].params(np.float64)
    a = acts[i].reshape(len(x), -1).astype(np.float64)
    z = a @ W.T + b
    on = z > 0
    root = ZPlus().root_point(W, b, a)                                    # (N, out, in)
    zplus_out = (root < -1e-12 * max(float(np.abs(a).max()), 1e-300)).any(axis=2)
    t = np.divide(z, a @ W.T, out=np.full_like(z, np.inf), where=(a @ W.T) != 0)
    origin_out = (t < 0) | (t > 1)
    return {"b > 0": float(np.mean(np.broadcast_to(b > 0, z.shape)[on])), "z+": float(zplus_out[on].mean()),
            "v = x": float(origin_out[on].mean())}


def input_layer_identities(kind, x):
    """Claim 3 at the first linear layer, sample by sample: z+ = z^B on [0, x], LRP-0 without bias = z^B on
    [0, 0].  Returns the two largest relative differences."""
    first, x = _first_linear(_load(kind), x)
    R = np.maximum(first.forward(x), 0)                                   # any relevance of the outputs
    zp = first.relevance(x, R, ZPlus())
    zb = np.concatenate([first.relevance(x[n:n + 1], R[n:n + 1], ZBox(0.0, x[n])) for n in range(len(x))])
    org = first.relevance(x, R, origin_rule())
    nobias = _lrp0_no_bias(first, x, R)
    return max_difference(zp, zb), max_difference(org, nobias)


def _lrp0_no_bias(layer, x, R):
    """LRP-0 with the bias left out of the denominator, by the four steps with the layer's own operator."""
    weight, _ = layer.params(x.dtype)
    z = layer.linear(x, weight, None)
    s = np.divide(R, z, out=np.zeros_like(z), where=z != 0)
    return x * layer.linear_backward(s, weight, x.shape)


def _heatmap_figure(x, maps, f, kind):
    pairs = [("LRP-0", "DTD v=x"), ("alpha1beta0", "z+"), ("DTD model", "alpha1beta0")]
    cells, captions = [], []
    for n in range(len(x)):
        cells.append(upscale(gray(x[n:n + 1])[0], 2))
        captions.append(f"{kind} f={f[n]:.2f}")
        for a, b in pairs:
            cells += [upscale(heatmap(maps[a][n], "bwr"), 2), upscale(heatmap(maps[b][n], "bwr"), 2),
                      upscale(heatmap(maps[a][n] - maps[b][n], "bwr"), 2)]
            d = max_difference(maps[a][n], maps[b][n])
            captions += [a, b, f"difference {d:.1e}"]
    return grid(cells, captions, ncols=10)


def _run(quick, out, seed):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    n, n_show = (3, 1) if quick else (100, 2)
    rows, record = [], {}
    for kind in NETWORKS:
        x, target = _inputs(kind, n, seed)
        with Timer() as t:
            r, maps, f = compare_network(kind, x, target)
            zb, org = input_layer_identities(kind, x[:min(len(x), 10)])
        r.append({"claim": "z+ = z^B on [0, x] (first layer)", "network": kind, "A": "z+", "B": "z^B on [0, x]",
                  "max |A - B| / max |A|": zb, "conservation error A": float("nan"),
                  "conservation error B": float("nan"), "note": f"{min(len(x), 10)} samples, one box each"})
        r.append({"claim": "LRP-0 without bias = z^B on [0, 0] (first layer)", "network": kind, "A": "z^B on [0, 0]",
                  "B": "LRP-0, bias left out", "max |A - B| / max |A|": org, "conservation error A": float("nan"),
                  "conservation error B": float("nan"), "note": "the four steps by hand"})
        rows += r
        record[kind] = {"file": NETWORKS[kind][0], "what": NETWORKS[kind][1], "inputs": len(x),
                        "seconds": round(t.seconds, 2)}
        save_png(_heatmap_figure(x[:n_show], {k: v[:n_show] for k, v in maps.items()}, f, kind),
                 out / f"heatmaps_{kind}.png")
    write_table(rows, out / "results", title="LRP rules as deep Taylor decompositions, on the shipped networks",
                notes=[f"{n} inputs per network (pairs with a digit 0-3 for the pair networks, test digits for the "
                       "10-class CNN, its predicted class explained)",
                       "max |A - B| / max |A|: over the whole batch; conservation error: mean |sum R - f| / |f|"])
    write_json(record, out / "model.json")
    return {"model": record, "rows": rows, "files": sorted(p.name for p in out.iterdir())}


def run(quick=False, out=f"dtd-experiments/{NAME}", seed=0, blas_threads=1, progress=False):
    """Run the experiment; returns a dict of the results (also written to ``out``)."""
    with blas_limit(blas_threads):
        return _run(quick, out, seed)


def main(argv=None):
    return experiment_main(NAME, __doc__, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
