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

A tqdm bar counts the chunks. Errors (a bad chunk, a directory of another run)
are raised with a one-line message; :mod:`dtd.cli` prints it.
"""
__all__ = ["add_dataset_arguments", "wants_dataset", "run_explain", "run_evaluate", "executor_of"]


def _positive(text):
    import argparse
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {v}")
    return v


def _count(text):
    import argparse
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {v}")
    return v


def add_dataset_arguments(parser):
    """Add the data-set options (see the module docstring) to ``parser``, in their own group."""
    g = parser.add_argument_group("data set (many inputs, in chunks, on local processes or a Dask cluster)")
    g.add_argument("--dataset", metavar="PATH",
                   help="inputs: a .npy array (N, ...), a folder or a quoted glob of images / .npy files")
    g.add_argument("--results", metavar="DIR",
                   help="directory of the chunked results (with --dataset); a rerun resumes it")
    where = g.add_mutually_exclusive_group()
    where.add_argument("--workers", type=_count, metavar="N",
                       help="local worker processes (default: the number of CPUs; 0 = this process)")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="Dask scheduler address, e.g. tcp://host:8786 (pip install dtd[dask])")
    g.add_argument("--chunk-size", type=_positive, default=64, metavar="K", help="inputs per chunk (default 64)")
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
    if not getattr(args, "results", None):
        raise ValueError("--dataset needs --results DIR (where the chunks go)")
    executor, workers = executor_of(args)
    return dict(chunk_size=args.chunk_size, executor=executor, workers=workers, overwrite=args.overwrite_results,
                progress=not getattr(args, "quiet", False))


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

    s = explain_dataset(model, args.dataset, rules, args.results, rule_params=rule_params, box=box,
                        target=target, loader=loader, reader=reader, **_common(args))
    _report(s, "explained")
    return 0


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
