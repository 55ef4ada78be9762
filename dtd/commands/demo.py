"""``dtd demo``: explain the example models shipped in ``data/``, compare the methods, check them.

For every example in :data:`EXAMPLES` whose files are present, the demo runs
:func:`dtd.evaluate.compare` (LRP-0, LRP-epsilon, LRP-gamma, alpha2-beta1, LRP
composition, the DTD training-free model, sensitivity, gradient x input) on the
shipped sample inputs and writes to ``--out`` (default ``./dtd-demo``):

- ``NAME_heatmaps.png``: one row per input (its target class and f_c(x) above it),
  the input and one column per method, and a colour bar; one colour scale for
  the whole figure by default (``--heatmap-scale row`` or ``panel``);
- ``NAME_comparison.csv`` (per method and input), ``NAME_summary.csv`` (means)
  and ``NAME_comparison.md`` (both tables);
- ``NAME_pixel_flipping_most.png`` and ``NAME_pixel_flipping_least.png``: mean
  pixel-flipping curves per method, with the random order as the baseline.

It prints the conservation check per input and the summary table.
The first example is a small CNN trained in NumPy to tell three synthetic shapes
apart (``python -m dtd.examples --shapes``), the others the two networks of the
DTD paper's MNIST experiment (Montavon et al. 2017), trained in NumPy on pairs of
digits (``data/README.md``).
"""
from dataclasses import dataclass

import numpy as np

__all__ = ["add_parser", "run", "Example", "EXAMPLES"]


@dataclass(frozen=True)
class Example:
    """A model and sample inputs in ``data/`` for the demo."""

    name: str
    model: str
    inputs: str
    box: tuple = (0.0, 1.0)     # input bounds (z^B); every shipped input lies in [0, 1]
    classes: tuple = None       # output names, if any
    about: str = ""


#: The examples the demo explains, in order; those whose files are missing are skipped.
#: Trained models added to data/ (issue "Data, training in NumPy, ...") go here.
_PAIRS = ("pairs of MNIST digits side by side; one output f(x), trained to be 1 when one digit is a 0-3 "
          "and 0 otherwise (the DTD paper's experiment, Montavon et al. 2017); inputs 0-3 hold a 0-3, "
          "inputs 4-5 do not")
EXAMPLES = [
    Example("shapes", "shapes_net.npz", "demo_inputs.npy", classes=("cross", "square", "diagonal"),
            about="a small CNN trained in NumPy to tell crosses, squares and diagonal bars apart "
                  "(accuracy 1.0 on 1,500 new images; biases <= 0)"),
    Example("mnist_detector", "mnist_detector.npz", "mnist_pairs_samples.npy", classes=("a 0-3?",),
            about="a one-hidden-layer detection network (sum pooling) on " + _PAIRS),
    Example("mnist_cnn", "mnist_cnn.npz", "mnist_pairs_samples.npy", classes=("a 0-3?",),
            about="a CNN on " + _PAIRS),
]

#: what the console says once, before the tables: the methods and the columns
LEGEND = """methods: lrp-0, epsilon (0.25), gamma (0.25), alpha2-beta1: one LRP rule on every layer;
  lrp-composition: epsilon / LRP-0 on the upper layers, gamma on the lower ones, z^B at the pixels;
  dtd: deep Taylor decomposition, training-free (z+ on the layers above the pixels, z^B at the pixels);
  sensitivity: squared gradient; gradient-x-input: gradient times input
  (python -m dtd info MODEL --rules NAME shows the rule of every layer).
columns: f_c(x) is the output explained (the largest one); sum R the total relevance of the pixels;
  rel. err = |sum R - f_c(x)| / |f_c(x)| (0: conservative); neg. share = negative relevance / all |R|."""

#: the methods whose conservation is printed per input
CONSERVATION_METHODS = ("dtd", "lrp-0", "lrp-composition")
#: at most this many pixel-flipping steps (regions are single pixels)
MAX_STEPS = 256


def add_parser(sub):
    p = sub.add_parser("demo", help="explain the example models shipped in data/, compare methods, "
                       "write heatmaps, tables and pixel-flipping curves",
                       description=__doc__.split("\n\n")[0].replace("``", ""))
    p.add_argument("--data", default=None, help="the data folder (default: the project's data/)")
    p.add_argument("--out", default="dtd-demo", metavar="DIR", help="output folder (default: ./dtd-demo)")
    from .explain import add_heatmap_arguments
    add_heatmap_arguments(p, shared_scale=True)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _outputs(name):
    return [f"{name}_heatmaps.png", f"{name}_comparison.csv", f"{name}_summary.csv", f"{name}_comparison.md",
            f"{name}_pixel_flipping_most.png", f"{name}_pixel_flipping_least.png"]


def _report(e, folder, net, x, res, summary, rows):
    """The console text of one example."""
    def label(c):
        return e.classes[c] if e.classes and 0 <= c < len(e.classes) else f"class {c}"

    width = max(9, *(len(label(int(t))) for t in res.target))
    lines = [f"== {e.name}: {e.about}",
             f"   model {folder / e.model} ({len(net.layers)} layers), {len(x)} inputs {x.shape[1:]} from "
             f"{folder / e.inputs}, input box {list(e.box)}",
             "conservation (sum of the input relevance against f_c(x), the output explained) and positivity:",
             f"{'input':>6} {'output':>{width}} {'f_c(x)':>10}  {'method':<16} {'sum R':>10} {'rel. err':>9} "
             f"{'neg. share':>10}"]
    for r in sorted((r for r in rows if r["method"] in CONSERVATION_METHODS),
                    key=lambda r: (r["sample"], CONSERVATION_METHODS.index(r["method"]))):
        lines.append(f"{r['sample']:>6} {label(r['target']):>{width}} {r['f_c']:>10.4f}  {r['method']:<16} "
                     f"{r['sum_R']:>10.4f} {r['conservation_error']:>9.1e} {r['negative_share']:>10.3f}")
    lines += ["means over the inputs. continuity: largest |dR|_1 / |dx|_2 under small noise (lower = smoother).",
              "pixel flipping removes pixels step by step (most or least relevant first) and follows f_c:",
              "  AUC = mean of f_c over the steps (area under the curve against the fraction removed, in the",
              "  units of f_c; it is negative where f_c falls below 0): lower for 'most', higher for 'least' =",
              "  more selective; AOPC most = mean drop f_c(x) - f_c(x_k), higher = more selective.",
              f"{'method':<17} {'rel. err':>9} {'neg. share':>10} {'continuity':>10} {'AUC most':>9} "
              f"{'AUC least':>9} {'AOPC most':>9}"]
    for r in summary:
        lines.append(f"{r['method']:<17} {r['conservation_error']:>9.1e} {r['negative_share']:>10.3f} "
                     f"{r['continuity']:>10.3f} {r['auc_most']:>9.4f} {r['auc_least']:>9.4f} {r['aopc_most']:>9.4f}")
    lines.append(f"{'random order':<17} {'':>9} {'':>10} {'':>10} {summary[0]['auc_random']:>9.4f} "
                 f"{summary[0]['auc_random']:>9.4f} {summary[0]['aopc_random']:>9.4f}")
    return lines


def run(args):
    import time
    from pathlib import Path

    from tqdm.auto import tqdm

    from .._paths import data_dir
    from ..evaluate.compare import DEFAULT_METHODS, compare
    from ..experiments.common import blas_limit
    from ..evaluate.table import to_csv, to_markdown
    from ._common import Outputs, fit_model, load_model

    start = time.perf_counter()
    folder = Path(args.data) if args.data else data_dir()
    found = [e for e in EXAMPLES if (folder / e.model).is_file() and (folder / e.inputs).is_file()]
    if not found:
        raise FileNotFoundError(f"no example model in {folder} (looked for "
                                f"{', '.join(e.model for e in EXAMPLES)}); run python -m dtd.examples --shapes")
    out = Outputs(args.out, [folder / f for e in found for f in (e.model, e.inputs)])
    out.check([f for e in found for f in _outputs(e.name)])
    scale = getattr(args, "heatmap_scale", "figure")
    # one BLAS thread: the demo multiplies small matrices thousands of times (pixel flipping), which
    # several OpenBLAS threads on a busy machine make 10-20 times slower (80 s instead of 4 s)
    bar = tqdm(total=len(found) * (len(DEFAULT_METHODS) + 1), desc="dtd demo", unit="method", leave=False,
               disable=True if getattr(args, "no_progress", False) else None)   # None: only on a terminal
    with blas_limit(1), bar:
        for line in LEGEND.splitlines():
            bar.write(line)
        for e in found:
            net = load_model(folder / e.model)
            x = np.load(folder / e.inputs, allow_pickle=False)
            model = fit_model(net, x, f"{folder / e.inputs}")
            H, W = x.shape[-2:]
            flip = dict(region=1, per_step=max(1, -(-H * W // MAX_STEPS)))
            bar.set_postfix_str(e.name)
            res = compare(model, x, box=e.box, flipping_options=flip, progress=False,
                          callback=lambda method: bar.update(1))
            bar.update(1)
            rows, summary = res.rows(), res.summary()
            for line in _report(e, folder, net, x, res, summary, rows):
                bar.write(line)
            n = e.name
            out.png(f"{n}_heatmaps.png", res.figure(x, classes=e.classes, scale=scale, cmap=args.cmap,
                                                    zoom=args.zoom))
            out.text(f"{n}_comparison.csv", to_csv(rows))
            out.text(f"{n}_summary.csv", to_csv(summary))
            out.text(f"{n}_comparison.md", f"# {n}: {e.about}\n\n## Means over {len(x)} inputs\n\n"
                                           f"{to_markdown(summary)}\n## Per input\n\n{to_markdown(rows)}")
            out.png(f"{n}_pixel_flipping_most.png", res.curve_plot("most"))
            out.png(f"{n}_pixel_flipping_least.png", res.curve_plot("least"))
    print("the DTD training-free model ('dtd') is conservative (sum R = f_c(x)) and positive (no negative "
          "relevance) on ReLU nets with biases <= 0.")
    print(f"wrote {len(out.written)} files to {out.folder.resolve()}/ in {time.perf_counter() - start:.1f} s:")
    for p in out.written:
        print(f"  {p.name}")
    return 0
