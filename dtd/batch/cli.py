"""Command-line hook: ``--dataset``, ``--workers``, ``--scheduler`` for ``dtd explain`` and ``dtd evaluate``.

The commands call three functions::

    from ..batch import cli as batch_cli

    def add_parser(sub):
        p = sub.add_parser("explain", ...)
        ...                                   # the command's own arguments
        batch_cli.add_dataset_arguments(p)
        return p

    def run(args):
        if batch_cli.wants_dataset(args):
            return batch_cli.run_explain(args, args.model, rules, rule_params, target)
        ...                                   # the command's own path

(``dtd evaluate`` calls :func:`run_evaluate` likewise.) The arguments added:

``--dataset PATH``
    the inputs: a ``.npy`` array (memory-mapped), a folder, or a quoted glob
    pattern of images / single-sample ``.npy`` files (:mod:`dtd.batch.inputs`);
``--results DIR``
    the chunked results directory (required with ``--dataset``; a rerun
    resumes it);
``--workers N``
    local worker processes (default: the number of CPUs; 0 = in the ``dtd``
    process itself);
``--scheduler ADDRESS``
    run on the Dask cluster whose scheduler listens there instead
    (``tcp://host:8786``; extra ``dask``);
``--chunk-size K``
    inputs per chunk (64);
``--overwrite-results``
    replace a results directory that holds a different run.

A tqdm bar counts the chunks (``--no-progress``: none). Errors (a bad chunk, a
directory of another run, ``--results`` naming a file) are raised with a one-line
message; :mod:`dtd.cli` prints it.

After ``dtd explain --dataset``, the results directory holds, besides the
chunks (``chunk-NNNNN.npy``) and ``index.json``, a summary of the run
(:func:`explain_summary`): ``summary.csv`` with one row per input (index,
target, f_c, sum_R, conservation_error) and ``summary.md`` with the means; the
command prints the latter. The relevance is read back as one array, in input
order, with one call::

    R = dtd.batch.load_results("DIR")        # (N, ...) like the inputs
"""
__all__ = ["add_dataset_arguments", "wants_dataset", "run_explain", "run_evaluate", "executor_of",
           "explain_summary"]


def add_dataset_arguments(parser):
    """Add the data-set options (see the module docstring) to ``parser``, in their own group."""
    from ..commands.argtypes import integer
    g = parser.add_argument_group("data set (many inputs, in chunks, on local processes or a Dask cluster)")
    g.add_argument("--dataset", metavar="PATH",
                   help="inputs: a .npy array (N, ...), a folder or a quoted glob of images / .npy files")
    g.add_argument("--results", metavar="DIR",
                   help="directory of the chunked results (with --dataset); a rerun resumes it")
    where = g.add_mutually_exclusive_group()
    where.add_argument("--workers", type=integer(0), metavar="N",
                       help="local worker processes (default: the number of CPUs; 0 = this process)")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="Dask scheduler address, e.g. tcp://host:8786 (pip install dtd[dask])")
    g.add_argument("--chunk-size", type=integer(1), default=64, metavar="K", help="inputs per chunk (default 64)")
    g.add_argument("--overwrite-results", action="store_true",
                   help="replace a results directory that holds a different run")
    return g


def wants_dataset(args):
    """Whether the command line asks for a data-set run (``--dataset`` given)."""
    return getattr(args, "dataset", None) is not None


def executor_of(args):
    """``(executor, workers)`` for :func:`dtd.batch.explain_dataset` from the parsed arguments."""
    if getattr(args, "scheduler", None):
        return args.scheduler, None
    if getattr(args, "workers", None) == 0:
        return "serial", None
    return None, getattr(args, "workers", None)


def _common(args):
    import os
    if not getattr(args, "results", None):
        raise ValueError("--dataset needs --results DIR (where the chunks go)")
    if os.path.exists(args.results) and not os.path.isdir(args.results):
        raise ValueError(f"--results {args.results} is a file, not a directory: give a new directory, e.g. "
                         f"--results {os.path.splitext(os.path.basename(args.results))[0]}-results/ "
                         "(or an earlier run's, to resume it); the file is left as it is")
    executor, workers = executor_of(args)
    return dict(chunk_size=args.chunk_size, executor=executor, workers=workers, overwrite=args.overwrite_results,
                progress=not getattr(args, "no_progress", False))


def _report(summary, what):
    print(f"{what}: {summary.chunks} chunks in {summary.out_dir} ({summary.computed} computed, "
          f"{summary.skipped} already done) in {summary.seconds:.1f} s")


def run_explain(args, model, rules, rule_params=None, box=None, target=None, loader=None, reader=None):
    """``dtd explain MODEL --dataset PATH``: explain every input into ``--results``; returns 0.

    ``model`` (a path), ``rules`` (a method name or rules), ``rule_params``,
    ``box`` and ``target`` are what the ``explain`` command parsed; ``loader``
    and ``reader`` as in :func:`dtd.batch.explain_dataset`.
    """
    from .run import explain_dataset

    from ..evaluate.table import to_markdown

    s = explain_dataset(model, args.dataset, rules, args.results, rule_params=rule_params, box=box,
                        target=target, loader=loader, reader=reader, **_common(args))
    _report(s, "explained")
    rows = explain_summary(s.out_dir, model, args.dataset, target=target, loader=loader, reader=reader)
    print(to_markdown(rows), end="")
    n_maps = getattr(args, "heatmaps", 0) or 0
    if n_maps < 0:
        raise ValueError(f"--heatmaps must be >= 0, got {n_maps}")
    if n_maps:
        _dataset_heatmaps(s.out_dir, n_maps, args)
    print(f"per input: {s.out_dir}/summary.csv; the relevance as one array (N, ...) in input order: "
          f"dtd.batch.load_results({str(s.out_dir)!r})")
    return 0


def _dataset_heatmaps(out_dir, n, args):
    """Heatmaps of the first ``n`` results of a run, ``out_dir/heatmaps/<index>_heatmap.png`` (channels summed,
    each scaled on its own as ``dtd explain`` draws them); a note instead for flat relevance (N, D)."""
    import os

    from ..commands.explain import heatmaps
    from ..render import save_png
    from .results import iter_results

    folder = os.path.join(os.fspath(out_dir), "heatmaps")
    os.makedirs(folder, exist_ok=True)
    written = 0
    for a, b, R in iter_results(out_dir):
        take = min(b - a, n - written)
        if take <= 0:
            break
        maps = heatmaps(R[:take], args)
        if maps is None:
            print("heatmaps: the relevance is flat (N, D): nothing to draw")
            return
        for k in range(take):
            save_png(maps[k], os.path.join(folder, f"{a + k:06d}_heatmap.png"))
        written += take
    print(f"heatmaps of the first {written} inputs: {folder}/")


def explain_summary(out_dir, model, inputs, target=None, loader=None, reader=None):
    """Summarise an :func:`~dtd.batch.explain_dataset` run: ``summary.csv`` and ``summary.md`` in ``out_dir``.

    Per input n (``summary.csv``): ``index``, ``target`` c, ``f_c`` (the model's output :math:`f_c(x_n)`),
    ``sum_R`` and the conservation error of :func:`dtd.evaluate.conservation`,

    .. math:: e_n = \\frac{|\\sum_i R_{n,i} - f_c(x_n)|}{|f_c(x_n)|};

    ``summary.md`` and the returned one-row list: the number of inputs, the means of ``f_c`` and
    ``sum_R``, the median and largest ``e_n``, and how many inputs' relevance vanished
    (:math:`\\sum_i |R_{n,i}| \\le 10^{-10} |f_c(x_n)|`).

    The outputs come from one forward pass over the inputs in this process, chunk by chunk (the chunks of
    the run, so about a third of the explanation's cost), read as the run read them (``model`` a path or a
    network, ``loader``, ``reader`` as in :func:`~dtd.batch.explain_dataset`); the relevance from the chunks.
    """
    import os

    import numpy as np

    from ..evaluate import conservation
    from ..evaluate._checks import target_output
    from ..evaluate.table import write_csv, write_markdown
    from .inputs import open_inputs, read_payload
    from .jobs import default_loader
    from .results import iter_results

    net = (loader or default_loader)(os.fspath(model)) if isinstance(model, (str, os.PathLike)) else model
    src = open_inputs(inputs, reader=reader)
    per_input, vanished = [], 0
    for a, b, R in iter_results(out_dir):
        x = read_payload(src.payload(a, b))
        fc, t = target_output(net, x, None if target is None else np.asarray(target)[a:b]
                              if np.ndim(target) else target)
        c = conservation(np.asarray(R), fc)
        mass = np.abs(np.asarray(R).reshape(b - a, -1)).sum(axis=1, dtype=np.float64)
        vanished += int(((c.output != 0) & ~(mass > 1e-10 * np.abs(c.output))).sum())
        per_input += [{"index": a + k, "target": int(t[k]), "f_c": float(c.output[k]), "sum_R": float(c.total[k]),
                       "conservation_error": float(c.error[k])} for k in range(b - a)]
    err = np.array([r["conservation_error"] for r in per_input])
    rows = [{"inputs": len(per_input), "mean f_c": float(np.mean([r["f_c"] for r in per_input])),
             "mean sum_R": float(np.mean([r["sum_R"] for r in per_input])),
             "median error": float(np.median(err)), "max error": float(err.max()), "vanished": vanished}]
    write_csv(per_input, os.path.join(out_dir, "summary.csv"))
    write_markdown(rows, os.path.join(out_dir, "summary.md"),
                   title="dtd explain: the data set (error = |sum R - f_c| / |f_c|; per input: summary.csv)")
    return rows


def run_evaluate(args, model, methods, box=None, params=None, continuity_options=None, flipping_options=None,
                 target=None, loader=None, reader=None):
    """``dtd evaluate MODEL --dataset PATH``: check ``methods`` on every input; returns 0.

    Prints the means per method as a Markdown table and writes them to
    ``DIR/summary.csv`` and ``DIR/summary.md``.
    """
    import os

    from ..evaluate.table import to_markdown, write_csv, write_markdown
    from .results import evaluation_summary
    from .run import evaluate_dataset

    s = evaluate_dataset(model, args.dataset, args.results, methods, box=box, params=params,
                         continuity_options=continuity_options, flipping_options=flipping_options,
                         target=target, loader=loader, reader=reader, **_common(args))
    rows = evaluation_summary(s.out_dir)
    write_csv(rows, os.path.join(s.out_dir, "summary.csv"))
    write_markdown(rows, os.path.join(s.out_dir, "summary.md"), title="dtd evaluate: means over the data set")
    _report(s, "evaluated")
    print(to_markdown(rows), end="")
    return 0
