"""The ``dtd`` command line (``python -m dtd`` or the ``dtd`` console script).

Each command lives in its own module of :mod:`dtd.commands` with two functions,
``add_parser(subparsers)`` and ``run(args) -> int``.  Exit codes: 0 success,
2 usage error (argparse), 1 runtime error with a one-line message (the
traceback only with ``--debug``).
"""
import argparse
import importlib
import sys

__all__ = ["main", "COMMANDS", "CommandError"]

#: command modules, in the order ``--help`` lists them
COMMANDS = ["demo", "explain", "evaluate", "compare", "render", "conformance"]
COMMANDS += ["info", "convert"]
COMMANDS += ["rules"]


class CommandError(Exception):
    """A runtime error reported as one line and exit code 1."""


def build_parser():
    parser = argparse.ArgumentParser(prog="dtd", description="Explain neural networks with deep Taylor "
                                     "decomposition and layer-wise relevance propagation.")
    parser.add_argument("--debug", action="store_true", help="show the traceback on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"dtd.commands.{name}")
        p = module.add_parser(sub)
        p.set_defaults(_run=module.run)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("dtd: interrupted", file=sys.stderr)
        return 1
    except Exception as e:  # one line for the user; the traceback with --debug
        if args.debug:
            raise
        msg = str(e) or type(e).__name__
        print(f"dtd {args.command}: error: {msg}", file=sys.stderr)
        return 1
