"""``dtd rules [NAME]``: the rules of dtd.rules, or one rule's formula, conditions and closed form.

Read from the rule classes' ``reference`` metadata by :mod:`dtd.rules.catalog`, the same text as
``docs/rules.md`` (``dtd rules --markdown --output docs/rules.md`` rewrites that file).
"""
import os
import sys

__all__ = ["add_parser", "run"]


def add_parser(sub):
    p = sub.add_parser("rules", help="list the relevance rules, or show one rule's formula, conditions, root "
                                     "point and closed form")
    p.add_argument("name", metavar="NAME", nargs="?",
                   help="a rule's class name (e.g. ZPlus, case-insensitive) or its name (e.g. z+, w^2)")
    p.add_argument("--markdown", action="store_true",
                   help="print the whole rule reference as Markdown (the text of docs/rules.md)")
    p.add_argument("--output", metavar="FILE", help="with --markdown: write it to FILE instead of printing it")
    return p


def run(args):
    from ..rules import catalog

    if args.output and not args.markdown:
        raise ValueError("--output needs --markdown")
    if args.markdown:
        if args.name:
            raise ValueError("--markdown writes every rule; leave out NAME")
        text = catalog.markdown()
        if args.output:
            tmp = f"{args.output}.tmp-{os.getpid()}"
            with open(tmp, "w", encoding="utf-8", newline="\n") as f:
                f.write(text)
            os.replace(tmp, args.output)
            print(f"wrote {args.output} ({len(catalog.rule_classes())} rules)")
        else:
            print(text, end="")
    elif args.name:
        try:
            cls = catalog.find(args.name)
        except KeyError as e:
            raise ValueError(e.args[0]) from None
        print(catalog.describe(cls), end="")
    else:
        print(catalog.listing(), end="")
        print("\nOne rule: dtd rules NAME (e.g. dtd rules ZPlus); all of them as Markdown: dtd rules --markdown")
    for problem in catalog.problems():
        print(f"note: {problem}", file=sys.stderr)
    return 0
