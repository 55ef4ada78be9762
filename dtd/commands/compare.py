"""``dtd compare MODEL INPUT...``: several explanation methods on the same inputs, side by side.

Runs the methods (default: lrp-0, epsilon, gamma, alpha2-beta1, lrp-composition,
dtd, sensitivity, gradient-x-input) and the four checks of each
(:func:`dtd.evaluate.compare`), and writes to the output folder:

- ``compare.csv``: one row per method and input sample (columns of
  :data:`dtd.evaluate.compare.COLUMNS`); ``compare_summary.csv``: one row per
  method, the means over the inputs;
- ``compare.md``: both tables in Markdown;
- ``heatmaps.png``: one row per input (its explained output and f_c(x) above it), the input and then one
  column per method, and a colour bar (``--heatmap-scale figure|row|panel``: which maps share one scale);
- ``pixel_flipping_most.png`` and ``pixel_flipping_least.png``: the mean curves per method and the random baseline.

The input preprocessing is described in :mod:`dtd.commands._common`.
"""
import argparse

__all__ = ["add_parser", "run"]

OUTPUTS = ("compare.csv", "compare_summary.csv", "compare.md", "heatmaps.png", "pixel_flipping_most.png",
           "pixel_flipping_least.png")


def _methods(text):
    from ..evaluate.methods import names
    ms = [m.strip() for m in text.split(",") if m.strip()]
    bad = [m for m in ms if m not in names()]
    if bad or not ms:
        raise argparse.ArgumentTypeError(f"unknown method {', '.join(bad) or '(none)'}; "
                                         f"known: {', '.join(names())}")
    return ms


def _method_param(text):
    from ._common import rule_param
    name, sep, rest = text.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected METHOD:NAME=VALUE, got {text!r}")
    return name.strip(), rule_param(rest)


def add_parser(sub):
    from ..evaluate.compare import DEFAULT_METHODS
    from ._common import add_input_arguments, add_method_arguments, add_selectivity_arguments
    from .explain import add_heatmap_arguments
    p = sub.add_parser("compare", help="compare explanation methods: one table and a heatmap grid",
                       description=__doc__.split("\n\n")[0].replace("``", ""))
    add_input_arguments(p, "dtd-compare")
    p.add_argument("--methods", type=_methods, default=list(DEFAULT_METHODS), metavar="A,B,...",
                   help=f"comma-separated (default: {','.join(DEFAULT_METHODS)})")
    p.add_argument("--rule-param", type=_method_param, action="append", default=[], metavar="METHOD:K=V",
                   help="parameter of one method's composite, e.g. epsilon:epsilon=0.1 (repeatable)")
    add_method_arguments(p, single=False)
    add_heatmap_arguments(p, shared_scale=True)
    add_selectivity_arguments(p)
    return p


def run(args):
    from ..evaluate.compare import compare
    from ..evaluate.table import to_csv, to_markdown
    from ._common import (Outputs, continuity_options, dataset_or_inputs, fit_model, flipping_options,
                          load_inputs, load_model, stack_inputs)

    dataset_or_inputs(args)

    params = {}
    for name, (k, v) in args.rule_param:
        if name not in args.methods:
            raise ValueError(f"--rule-param {name}:{k}=...: {name!r} is not among the compared methods")
        params.setdefault(name, {})[k] = v
    net = load_model(args.model)
    inputs = load_inputs(args.inputs, net, args)
    out = Outputs(args.out, [args.model, *args.inputs])
    out.check(OUTPUTS)
    x, names, box = stack_inputs(inputs)
    if args.box is not None:
        if args.box[0] > args.box[1]:
            raise ValueError(f"--box: LOW must be <= HIGH, got {args.box[0]} {args.box[1]}")
        box = tuple(args.box)
    model = fit_model(net, x, "the inputs")
    res = compare(model, x, args.methods, args.target, box=box, params=params,
                  continuity_options=continuity_options(args),
                  flipping_options=flipping_options(args, x.shape[1:]),
                  progress=False if args.no_progress else None)
    rows = res.rows()
    for row in rows:
        row["sample"] = names[row["sample"]]
    summary = res.summary()
    out.text("compare.csv", to_csv(rows))
    out.text("compare_summary.csv", to_csv(summary))
    md_summary = to_markdown(summary)
    out.text("compare.md", f"# Comparison on {len(x)} inputs (means)\n\n{md_summary}\n"
                           f"## Per input\n\n{to_markdown(rows)}")
    if x.ndim >= 3:
        out.png("heatmaps.png", res.figure(x, scale=args.heatmap_scale, cmap=args.cmap, zoom=args.zoom))
    out.png("pixel_flipping_most.png", res.curve_plot("most"))
    out.png("pixel_flipping_least.png", res.curve_plot("least"))
    print(md_summary, end="")
    print(f"wrote {', '.join(p.name for p in out.written)} to {out.folder}/")
    return 0
