"""``dtd evaluate MODEL INPUT...``: the four checks of one explanation method (seed 004).

Writes to the output folder:

- ``evaluation.csv``: one row per input sample, the columns of
  :data:`dtd.evaluate.compare.COLUMNS` (floats round-trip exactly);
- ``evaluation.md``: the same as a Markdown table, and the means;
- ``pixel_flipping.png``: the mean pixel-flipping curves over the inputs
  (most relevant first, least relevant first, random);
- ``pixel_flipping.csv``: those mean curves (columns step, removed, fraction, most, least, random);
- ``conservation_by_layer.csv`` (rule-based methods): for every layer or graph node, the relevance it
  received, passed on and absorbed, as batch means of fractions of f_c(x)
  (:func:`dtd.evaluate.conservation_by_layer`), also printed.

The input preprocessing is described in :mod:`dtd.commands._common`; the checks
in :mod:`dtd.evaluate`. With ``--dataset PATH --results DIR`` (instead of
``INPUT...``) the inputs are checked in chunks on local processes or a Dask
cluster, and the means go to ``DIR/summary.csv`` and ``DIR/summary.md`` (:mod:`dtd.batch.cli`).
"""
__all__ = ["add_parser", "run"]

OUTPUTS = ("evaluation.csv", "evaluation.md", "pixel_flipping.png", "pixel_flipping.csv",
           "conservation_by_layer.csv")


def add_parser(sub):
    from ._common import add_input_arguments, add_method_arguments, add_selectivity_arguments
    p = sub.add_parser("evaluate", help="check an explanation: conservation, positivity, continuity, "
                       "pixel flipping", description=__doc__.split("\n\n")[0].replace("``", ""))
    add_input_arguments(p, "dtd-evaluate", dataset=True)
    add_method_arguments(p)
    add_selectivity_arguments(p)
    return p


def curve_rows(curves):
    """Mean curves (dict order -> FlipCurve) as table rows."""
    first = next(iter(curves.values()))
    rows = []
    for k, removed in enumerate(first.removed):
        row = {"step": k, "removed": int(removed), "fraction": float(removed / first.n_regions)}
        row.update({o: float(c.curve[:, k].mean()) for o, c in curves.items()})
        rows.append(row)
    return rows


def run(args):
    from ..evaluate.accounting import conservation_by_layer
    from ..evaluate.compare import evaluate_method
    from ..evaluate.methods import GRADIENT_METHODS, composite
    from ..evaluate.figures import curve_plot
    from ..evaluate.table import to_csv, to_markdown
    from ._common import (Outputs, continuity_options, dataset_inputs, dataset_or_inputs, fit_model,
                          flipping_options, load_inputs, load_model, method_options, stack_inputs)

    if dataset_or_inputs(args):                     # many inputs, in chunks (dtd.batch)
        from ..batch import cli as batch_cli
        reader, box, shape = dataset_inputs(args, load_model(args.model))
        params, box = method_options(args, box)
        return batch_cli.run_evaluate(args, args.model, [args.rules], box=box, params={args.rules: params},
                                      continuity_options=continuity_options(args),
                                      flipping_options=flipping_options(args, shape), target=args.target,
                                      reader=reader)
    net = load_model(args.model)
    inputs = load_inputs(args.inputs, net, args)
    out = Outputs(args.out, [args.model, *args.inputs])
    out.check(OUTPUTS)
    x, names, box = stack_inputs(inputs)
    model = fit_model(net, x, "the inputs")
    params, box = method_options(args, box)
    ev = evaluate_method(model, x, args.rules, args.target, box=box, params=params,
                         continuity_options=continuity_options(args),
                         flipping_options=flipping_options(args, x.shape[1:]),
                         progress=False if args.no_progress else None)
    rows = ev.rows()
    for row, name in zip(rows, names):
        row["sample"] = name
    summary = ev.summary()
    out.text("evaluation.csv", to_csv(rows))
    md = to_markdown(rows + [summary])
    out.text("evaluation.md", f"# Checks of `{args.rules}` on {len(rows)} inputs\n\n{md}")
    series = {o: (c.removed / c.n_regions, c.curve.mean(axis=0)) for o, c in ev.flipping.items()}
    out.png("pixel_flipping.png", curve_plot(series, title=f"pixel flipping, {args.rules} (mean of "
                                             f"{len(rows)} inputs)", xlabel="fraction of regions removed",
                                             ylabel="f_c"))
    out.text("pixel_flipping.csv", to_csv(curve_rows(ev.flipping)))
    print(md, end="")
    if args.rules not in GRADIENT_METHODS:
        base = getattr(model, "net", model)            # the network itself, also behind an ImageModel
        xb = model._in(x) if base is not model else x
        acc = conservation_by_layer(base, xb, composite(args.rules, box, **params), target=args.target)
        layer_rows = acc.rows()
        out.text("conservation_by_layer.csv", to_csv(layer_rows))
        lossy = [r for r in layer_rows if abs(r["absorbed/f"]) > 1e-6 or r["note"]]
        print(f"\nconservation by layer ({len(lossy)} of {len(layer_rows)} layers absorb or create more than "
              f"1e-6 of f_c, or had their rule changed; all in conservation_by_layer.csv):")
        if lossy:
            print(to_markdown(lossy), end="")
    print(f"wrote {', '.join(p.name for p in out.written)} to {out.folder}/")
    return 0
