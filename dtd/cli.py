"""The ``dtd`` command line (``python -m dtd`` or the ``dtd`` console script).

Each command lives in its own module of :mod:`dtd.commands` with two functions,
``add_parser(subparsers)`` and ``run(args) -> int``.  Exit codes: 0 success,
2 usage error (argparse: two lines, the error and where the usage is, not the
whole usage), 1 runtime error with a one-line message (the traceback only with
``--debug``).  Warnings (``warnings.warn``, e.g. relevance that vanished, a
float16 input computed in float32) are printed as one line each,
``dtd COMMAND: warning: ...``, without source paths.

Help texts are plain text: Sphinx markup in a command's description (double
back-quotes, ``:mod:`...```) is removed, and a command (or sub-action) without a
description gets its one-line help as one.
"""
import argparse
import importlib
import re
import sys
import warnings

__all__ = ["main", "COMMANDS", "CommandError"]

#: command modules, in the order ``--help`` lists them
COMMANDS = ["demo", "explain", "evaluate", "compare", "render", "conformance"]
COMMANDS += ["info", "convert"]
COMMANDS += ["rules"]


class CommandError(Exception):
    """A runtime error reported as one line and exit code 1."""


def plain(text):
    """``text`` without Sphinx markup: double back-quotes dropped, ``:role:`~a.b``` -> ``a.b``.

    >>> plain("``dtd render R.npy``: heatmaps (see :mod:`dtd.render`, :func:`~dtd.render.heatmap`).")
    'dtd render R.npy: heatmaps (see dtd.render, dtd.render.heatmap).'
    """
    if not text:
        return text
    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"\1", text)
    return text.replace("``", "")


class _SubParsers(argparse._SubParsersAction):
    """Sub-commands whose description defaults to their help (a sentence), in plain text."""

    def add_parser(self, name, **kwargs):
        if not kwargs.get("description") and kwargs.get("help"):
            h = kwargs["help"]
            kwargs["description"] = h[:1].upper() + h[1:] + ("" if h.endswith(".") else ".")
        return super().add_parser(name, **kwargs)


class Parser(argparse.ArgumentParser):
    """argparse with a short usage error: ``PROG: error: MESSAGE`` and a pointer to ``PROG --help``
    (exit code 2), instead of the whole usage block before the one line that matters."""

    def __init__(self, *args, **kwargs):
        if kwargs.get("description"):
            kwargs["description"] = plain(kwargs["description"])
        super().__init__(*args, **kwargs)
        self.register("action", "parsers", _SubParsers)

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n(see '{self.prog} --help')\n")


def build_parser():
    from . import __version__

    parser = Parser(prog="dtd", description="Explain neural networks with deep Taylor "
                    "decomposition and layer-wise relevance propagation.")
    parser.add_argument("--version", action="version", version=f"dtd {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"dtd.commands.{name}")
        p = module.add_parser(sub)
        p.set_defaults(_run=module.run)
        _accept_no_progress(p)
    return parser


def _accept_no_progress(p):
    """Every command (and sub-action) takes ``--no-progress``, so that scripts can always pass it;
    those that draw no progress bar say so in their help."""
    actions = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
    if actions:
        for child in actions[0].choices.values():
            _accept_no_progress(child)
    elif "--no-progress" not in p._option_string_actions:
        p.add_argument("--no-progress", action="store_true", help="accepted for uniformity: no progress bar here")


def _one_line_warnings(command):
    """A ``warnings.showwarning`` that prints ``dtd COMMAND: warning: MESSAGE`` (no path, no source line)."""
    def show(message, category, filename, lineno, file=None, line=None):
        text = " ".join(str(message).split())
        print(f"dtd {command}: warning: {text}", file=sys.stderr if file is None else file)
    return show


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            if not args.debug:
                warnings.showwarning = _one_line_warnings(args.command)
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
