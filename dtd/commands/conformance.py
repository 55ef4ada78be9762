"""``dtd conformance``: write the golden files of the conformance catalogue, or check a backend against them.

::

    python -m dtd conformance export DIR
    python -m dtd conformance check DIR [--backend-output DIR2] [--tol T] [--cases GLOB]

``check`` prints the absolute and relative error of every case and exits
with 1 if any case is past the tolerance (or missing from DIR2).
"""
__all__ = ["add_parser", "run"]


def add_parser(sub):
    from ..conformance import DEFAULT_TOL
    from .argtypes import number

    p = sub.add_parser("conformance", help="golden vectors for other backends: export them, or check against them",
                       description="Golden vectors of the conformance catalogue (float64), for comparing other "
                                   "LRP/DTD backends with dtd.")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    e = actions.add_parser("export", help="write one .npz per case and index.json into DIR",
                           description="Write the golden vectors of the conformance catalogue into DIR: one "
                           ".npz per case, a model and a rule (the model in dtd's format, input, target, output and "
                           "the float64 relevance at every layer), "
                           "and index.json describing every case, for another backend to reproduce "
                           "(docs/backends.md); 'dtd conformance check DIR' compares against them.")
    e.add_argument("directory", metavar="DIR")
    c = actions.add_parser("check", help="recompute the cases of DIR (or read DIR2's) and print the errors")
    c.add_argument("directory", metavar="DIR", help="a golden directory (e.g. data/golden)")
    c.add_argument("--backend-output", metavar="DIR2", default=None,
                   help="read another backend's results from DIR2 (same file names; at least 'relevance.0') "
                        "instead of recomputing with dtd")
    c.add_argument("--tol", type=number(0), default=DEFAULT_TOL,
                   help=f"tolerance on the relative error (default {DEFAULT_TOL:g})")
    c.add_argument("--cases", metavar="GLOB", default=None, help="only the cases whose name matches, e.g. 'dense/*'")
    return p


def run(args):
    from .. import conformance

    if args.action == "export":
        written = conformance.export(args.directory)
        print(f"wrote {len(written) - 1} cases and index.json (catalogue version {conformance.CATALOGUE_VERSION}) "
              f"to {args.directory}")
        return 0
    index = conformance.read_index(args.directory)
    results = conformance.check(args.directory, args.backend_output, args.tol, args.cases)
    source = f"backend output {args.backend_output}" if args.backend_output else "dtd (recomputed)"
    print(f"golden {args.directory} (catalogue version {index.get('catalogue_version')}) vs {source}, "
          f"tolerance {args.tol:g} on the relative error")
    width = max(len(r.name) for r in results)
    print(f"{'case':<{width}}  {'arrays':>6}  {'max abs err':>11}  {'max rel err':>11}  result")
    for r in results:
        status = "ok" if r.ok else f"FAIL: {r.message}"
        print(f"{r.name:<{width}}  {r.compared:>6}  {r.abs_err:>11.3e}  {r.rel_err:>11.3e}  {status}")
    failed = sum(not r.ok for r in results)
    print(f"{len(results)} cases: {len(results) - failed} within tolerance, {failed} failed")
    return 1 if failed else 0
