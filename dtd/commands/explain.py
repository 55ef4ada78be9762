"""``dtd explain MODEL INPUT...``: relevance of each input, saved as ``.npy`` and drawn as heatmaps.

For every input file ``NAME.ext`` the output folder gets ``NAME_relevance.npy``
(shaped like the input: ``(C, H, W)`` for an image, the array's own shape for
``.npy``/``.npz``) and one heatmap per sample, ``NAME_heatmap.png`` (or
``NAME_<i>_heatmap.png`` for a batch), channels summed (see :mod:`dtd.render`).
The input preprocessing is described in :mod:`dtd.commands._common`. With
``--dataset PATH --results DIR`` (instead of ``INPUT...``) the inputs are explained
in chunks on local processes or a Dask cluster (:mod:`dtd.batch.cli`); the results
directory then gets ``summary.csv`` / ``summary.md`` (f_c, sum R and the
conservation error per input, and their means), and
``dtd.batch.load_results(DIR)`` reads the relevance back as one array.
"""

__all__ = ["add_parser", "run"]


def add_heatmap_arguments(p, shared_scale=False):
    """--cmap, --zoom and, for a figure of several heatmaps (``shared_scale``), --heatmap-scale."""
    from ..render import list_cmaps
    from .argtypes import integer
    g = p.add_argument_group("heatmaps")
    g.add_argument("--cmap", choices=list_cmaps(), default="bwr", help="colormap (default bwr)")
    g.add_argument("--zoom", type=integer(1), default=None, metavar="Z",
                   help="enlarge heatmaps Z times (default: the longer side at least 128 pixels)")
    if shared_scale:
        g.add_argument("--heatmap-scale", choices=("figure", "row", "panel"), default="figure",
                       help="which heatmaps share one colour scale: all of the figure (default), those of "
                            "one input, or none")
    return g


def add_parser(sub):
    from ._common import add_input_arguments, add_method_arguments
    p = sub.add_parser("explain", help="explain a model's output on inputs; write relevance and heatmaps",
                       description=__doc__.split("\n\n")[0].replace("``", ""))
    add_input_arguments(p, "dtd-explain", dataset=True)
    add_method_arguments(p)
    add_heatmap_arguments(p)
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar (shown on a terminal for several inputs, and for --dataset chunks)")
    p.add_argument("--heatmaps", type=int, default=0, metavar="N",
                   help="with --dataset: also draw the heatmaps of the first N inputs into RESULTS/heatmaps/ "
                        "(default 0: none)")
    return p


def heatmaps(R, args):
    """RGB heatmaps (n, H', W', 3) of a batch of relevance, zoomed; None for flat relevance (n, D)."""
    from ..evaluate.figures import auto_zoom, zoom
    from ..render import heatmap
    if R.ndim < 3:
        return None
    maps = heatmap(R, args.cmap, batched=True)
    return zoom(maps, args.zoom or auto_zoom(*maps.shape[1:3]))


def run(args):
    from ..evaluate import conservation, positivity
    from ..evaluate._checks import target_output
    from ._common import (Outputs, dataset_inputs, dataset_or_inputs, fit_model, load_inputs, load_model,
                          make_method, method_options)

    if dataset_or_inputs(args):                     # many inputs, in chunks (dtd.batch)
        from ..batch import cli as batch_cli
        reader, box, _ = dataset_inputs(args, load_model(args.model))
        params, box = method_options(args, box)
        return batch_cli.run_explain(args, args.model, args.rules, params, box=box, target=args.target,
                                     reader=reader)
    net = load_model(args.model)
    inputs = load_inputs(args.inputs, net, args)
    out = Outputs(args.out, [args.model, *args.inputs])
    planned = []
    for inp in inputs:
        planned.append(f"{inp.path.stem}_relevance.npy")
        if inp.x.ndim >= 3:
            planned += [f"{n}_heatmap.png" for n in inp.names]
    out.check(planned)
    from tqdm.auto import tqdm

    results = []                                    # everything is computed before anything is written
    bar = tqdm(inputs, desc="dtd explain", unit="input", leave=False,
               disable=True if args.no_progress or len(inputs) < 2 else None)   # None: only on a terminal
    for inp in bar:
        model = fit_model(net, inp.x, f"input {inp.path}")
        params, box = method_options(args, inp.box)
        fc, t = target_output(model, inp.x, args.target)
        R = make_method(model, args.rules, box, params)(inp.x, t)
        results.append((inp, t, R, conservation(R, fc), positivity(R), box))
    print(f"{'input':<24} {'target':>6} {'f_c(x)':>11} {'sum R':>11} {'rel. err':>9} {'neg. share':>10}")
    for inp, t, R, c, p, box in results:
        out.npy(f"{inp.path.stem}_relevance.npy", R[0] if inp.single else R)
        maps = heatmaps(R, args)
        for n, name in enumerate(inp.names):
            if maps is not None:
                out.png(f"{name}_heatmap.png", maps[n])
            print(f"{name:<24} {t[n]:>6} {c.output[n]:>11.5g} {c.total[n]:>11.5g} {c.error[n]:>9.2e} "
                  f"{p.share[n]:>10.3f}")
    print(f"rules: {args.rules}{describe_box(results[0][5])}; wrote {len(out.written)} files to {out.folder}/")
    return 0


def describe_box(box):
    """The text ', input box [low, high]' for the summary line (empty without a box)."""
    import numpy as np
    if box is None:
        return ""

    def fmt(a):
        a = np.asarray(a).ravel()
        return f"{a[0]:.4g}" if np.ptp(a) == 0 else "per channel " + "/".join(f"{v:.4g}" for v in np.unique(a))

    return f", input box [{fmt(box[0])}, {fmt(box[1])}]"
