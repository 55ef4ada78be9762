"""The rule reference, generated from the rule classes themselves (``docs/rules.md``, ``dtd rules``).

Every public :class:`~dtd.rules.Rule` subclass that :mod:`dtd.rules` exports carries a class attribute
``reference``: a dict with the rule's formula, what of the bias enters it, its input domain, its root point
and search direction (deep Taylor rules), its conservation condition, the names the peers give it and the
tests that check it.  :func:`markdown` writes the one table of ``docs/rules.md`` from those dicts and
:func:`describe` one rule's entry for ``python -m dtd rules NAME``; ``tests/test_rules_catalog.py`` fails
when a rule has no ``reference``, when a field is missing, when a named test does not exist, or when
``docs/rules.md`` differs from :func:`markdown` (rewrite it with
``python -m dtd rules --markdown --output docs/rules.md``).

A rule class without its own ``reference`` (a new rule, or a subclass that only inherits one) still gets a
row, marked ``MISSING`` with the file to edit, so the table never silently drops a rule.

``reference`` keys (strings unless said otherwise; formulas in plain text, ``x~`` is the root point):

==================  =========================================================================
``name``            the rule's name in the papers and slides
``formula``         the redistribution, ``R_i = ...``
``bias``            what of the layer's bias enters the denominator
``domain``          the inputs (and outputs) the rule is derived or meant for
``root``            root point (deep Taylor rules: required for :class:`DTDRule` subclasses)
``direction``       search direction ``v`` of the root point (same)
``closed_form``     how the rule's closed form / root point is computed, in one line
``conservation``    when ``sum_i R_i = sum_j R_j`` holds, and what is absorbed otherwise
``peers``           dict with the keys of :data:`PEERS`: the peer's name, or ``"-"`` for none
``tests``           list of ``"tests/file.py::test_name"``
``layers``          optional: overrides the layer classes read from ``layer_types()``
``example``         optional: dict of constructor arguments for an instance (default ``Cls()``)
==================  =========================================================================
"""
import inspect
import re
import sys
from pathlib import Path

from .base import DTDRule, LinearRule, Rule

__all__ = ["PEERS", "FIELDS", "rule_classes", "problems", "entry", "markdown", "describe", "find", "listing"]

#: the peers named in every entry, in table order
PEERS = ("Zennit", "iNNvestigate", "Captum", "LRP Toolbox")

#: required keys of ``reference`` (``root`` and ``direction`` also for :class:`DTDRule` subclasses)
FIELDS = ("name", "formula", "bias", "domain", "closed_form", "conservation", "peers", "tests")

#: the abstract classes of ``dtd.rules``: machinery, not rules
_BASES = (Rule, LinearRule, DTDRule)

_MISSING = "MISSING"


def rule_classes():
    """The rule classes of :mod:`dtd.rules`: every public Rule subclass it exports, ``__all__`` order first.

    Names in ``dtd.rules.__all__`` come first in that order, then other public names of the package that
    are Rule subclasses (rules importable from ``dtd.rules`` but not yet in ``__all__``), alphabetically.
    The abstract bases (Rule, LinearRule, DTDRule) are left out.
    """
    import dtd.rules as pkg
    names = list(getattr(pkg, "__all__", []))
    names += sorted(n for n in vars(pkg) if not n.startswith("_") and n not in names)
    out = []
    for n in names:
        obj = getattr(pkg, n, None)
        if (inspect.isclass(obj) and issubclass(obj, Rule) and obj not in _BASES and obj not in out
                and obj.__name__ == n):
            out.append(obj)
    return out


def _own_reference(cls):
    ref = cls.__dict__.get("reference")
    return ref if isinstance(ref, dict) else None


def _source_file(cls):
    try:
        path = Path(inspect.getsourcefile(cls))
        return path.relative_to(Path(__file__).resolve().parents[2]).as_posix()
    except (TypeError, ValueError):
        return cls.__module__.replace(".", "/") + ".py"


def problems(classes=None, root=None):
    """What is wrong with the metadata, one string per problem (empty: the catalog is complete).

    Checks each class of :func:`rule_classes` has its own ``reference`` with every field of :data:`FIELDS`
    (and ``root``, ``direction`` for a :class:`DTDRule`), every peer of :data:`PEERS`, and that each test it
    names exists (``root`` is the repository root holding ``tests/``; skipped when it has no ``tests/``).
    """
    root = Path(__file__).resolve().parents[2] if root is None else Path(root)
    found = []
    for cls in rule_classes() if classes is None else classes:
        ref = _own_reference(cls)
        if ref is None:
            found.append(f"{cls.__name__}: no `reference` dict in the class body ({_source_file(cls)})")
            continue
        need = FIELDS + (("root", "direction") if issubclass(cls, DTDRule) else ())
        for key in need:
            if not ref.get(key):
                found.append(f"{cls.__name__}: reference has no {key!r}")
        peers = ref.get("peers") or {}
        for p in PEERS:
            if not peers.get(p):
                found.append(f"{cls.__name__}: reference['peers'] has no {p!r} (write '-' for none)")
        for extra in set(peers) - set(PEERS):
            found.append(f"{cls.__name__}: reference['peers'] names an unknown peer {extra!r}")
        if (root / "tests").is_dir():
            for t in ref.get("tests") or []:
                why = _missing_test(root, t)
                if why:
                    found.append(f"{cls.__name__}: test {t}: {why}")
    return found


def _missing_test(root, ref):
    """None if ``tests/file.py::name`` names a test function of that file, else why not."""
    path, _, name = ref.partition("::")
    file = root / path
    if not file.is_file():
        return "no such file"
    if name and not re.search(rf"^\s*def {re.escape(name)}\(", file.read_text(encoding="utf-8"), re.M):
        return f"no function {name} in {path}"
    return None


def _instance(cls, ref):
    try:
        return cls(**(ref or {}).get("example", {}))
    except Exception:                                   # a rule that needs arguments and names no example
        return None


def _layers(cls, ref):
    if ref and ref.get("layers"):
        return ref["layers"]
    rule = _instance(cls, ref)
    if rule is None:
        return "?"
    try:
        types = tuple(rule.layer_types())
    except Exception:
        return "?"
    import dtd.layers as layers                         # the catalogue documents both (a rule never imports them)
    from .base import is_layer_type
    concrete = [c.__name__ for c in map(lambda n: getattr(layers, n, None), getattr(layers, "__all__", []))
                if inspect.isclass(c) and is_layer_type(c, types) and c.__name__ not in ("Layer", "LinearLayer")]
    return ", ".join(concrete) or ", ".join(getattr(t, "__name__", str(t)) for t in types) or "-"


def _signature(cls):
    try:
        return f"{cls.__name__}{inspect.signature(cls)}"
    except (TypeError, ValueError):
        return f"{cls.__name__}(...)"


def _summary(cls):
    doc = inspect.getdoc(cls) or ""
    first = doc.split("\n\n")[0].replace("\n", " ").strip()
    first = re.sub(r":(?:math|class|func|meth|mod):`~?([^`]*)`", r"\1", first)     # RST roles to plain text
    return first.replace("``", "`").replace("\\mathbb{R}", "R")


def entry(cls):
    """One rule's row as a dict: the ``reference`` fields (``MISSING`` where absent) plus ``class``,
    ``kind`` (deep Taylor / linear / other), ``signature``, ``layers``, ``file`` and ``summary``
    (the first paragraph of the docstring)."""
    ref = _own_reference(cls)
    row = {"class": cls.__name__, "signature": _signature(cls), "file": _source_file(cls),
           "summary": _summary(cls), "layers": _layers(cls, ref),
           "kind": "deep Taylor" if issubclass(cls, DTDRule) else "linear" if issubclass(cls, LinearRule) else "other"}
    if ref is None:
        hint = f"{_MISSING}: add `reference = {{...}}` to {cls.__name__} ({row['file']})"
        row.update({k: hint if k == "formula" else _MISSING for k in FIELDS + ("root", "direction")})
        row["peers"] = {p: _MISSING for p in PEERS}
        row["tests"] = []
        return row
    for k in FIELDS + ("root", "direction"):
        row[k] = ref.get(k) or ("-" if k in ("root", "direction") else _MISSING)
    row["peers"] = {p: (ref.get("peers") or {}).get(p) or _MISSING for p in PEERS}
    row["tests"] = list(ref.get("tests") or [])
    return row


def find(name):
    """The rule class called ``name`` (class name, case-insensitive, or its ``reference['name']``).

    >>> find("z+").__name__, find("wsquare").__name__, find("LRP-0").__name__
    ('ZPlus', 'WSquare', 'Epsilon')
    """
    key = name.strip().lower()
    classes = rule_classes()
    for cls in classes:
        if cls.__name__.lower() == key:
            return cls
    for cls in classes:
        ref = _own_reference(cls) or {}
        aliases = [a.strip().lower() for a in re.split(r"[/,]", ref.get("name", ""))]
        if key in aliases:
            return cls
    raise KeyError(f"no rule {name!r}; the rules are: {', '.join(c.__name__ for c in classes)}")


def _cell(text):
    """Text for a Markdown table cell: pipes escaped, no newlines."""
    return str(text).replace("\n", " ").replace("|", "\\|")


def _tests_cell(tests):
    return "<br>".join(f"`{t}`" for t in tests) or _MISSING


_COLUMNS = ("rule", "formula", "bias in the denominator", "input domain", "root point x~ / search direction v",
            "conserves when", "Zennit", "iNNvestigate", "Captum", "LRP Toolbox", "checked by")


def table():
    """The Markdown table, one row per rule of :func:`rule_classes`."""
    lines = ["| " + " | ".join(_COLUMNS) + " |", "|" + "---|" * len(_COLUMNS)]
    for cls in rule_classes():
        e = entry(cls)
        dtd_cell = "-" if e["root"] == "-" and e["direction"] == "-" else f"{e['root']}; v: {e['direction']}"
        cells = [f"`{e['class']}` ({e['name']})", f"`{e['formula']}`", e["bias"], e["domain"], dtd_cell,
                 e["conservation"]] + [e["peers"][p] for p in PEERS]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " | " + _tests_cell(e["tests"]) + " |")
    return "\n".join(lines) + "\n"


_HEADER = """# The rules of dtd

<!-- Generated by `python -m dtd rules --markdown --output docs/rules.md` from the `reference` attribute of
each rule class (dtd/rules/catalog.py). Do not edit by hand: tests/test_rules_catalog.py fails when this
file differs from the generated text. -->

Every rule exported by `dtd.rules`, read from the rule classes themselves. Notation: input `x_i`,
output neuron `j` with weights `w_ij`, bias `b_j`, pre-activation `z_j = sum_i x_i w_ij + b_j`, relevance
`R_j` from above; `w^+ = max(0, w)`, `w^- = min(0, w)`; `eps sign(z)` is the optional stabiliser
(`sign(0) = +1`; without one, a message whose denominator is 0 is 0). For a deep Taylor (DTD) rule the root
point `x~` lies on the line `x - t v` through `x` along the search direction `v`, where the neuron's
pre-activation is zero: `t_j = z_j / sum_i v_ij w_ij`; the rule's messages are the first-order Taylor terms
`w_ij (x_i - x~_ij) R_j / z_j` there (`notebooks/00_derivations.ipynb` computes each step).
Peers: how to reproduce each exactly is in `docs/backends.md` (arguments, stabilisers, bias conventions);
`-` means the peer has no such rule. One rule from the shell: `python -m dtd rules NAME`.

"""


def markdown():
    """The whole text of ``docs/rules.md``: the table, then one section per rule (as :func:`describe`)."""
    parts = [_HEADER, table()]
    for cls in rule_classes():
        parts.append("\n## `" + cls.__name__ + "`\n\n```text\n" + describe(cls) + "```\n")
    return "".join(parts)


def describe(rule):
    """One rule's entry as plain text: formula, conditions, root point, closed form, peers and tests.

    ``rule`` is a class of :func:`rule_classes` or a name :func:`find` accepts.
    """
    cls = find(rule) if isinstance(rule, str) else rule
    e = entry(cls)
    rows = [("rule", f"{e['class']} ({e['name']}), {e['kind']} rule, {e['file']}"),
            ("call", e["signature"]), ("layers", e["layers"]), ("what", e["summary"]),
            ("formula", e["formula"]), ("bias", e["bias"]), ("domain", e["domain"])]
    if e["root"] != "-" or e["direction"] != "-":
        rows += [("search direction", e["direction"]), ("root point", e["root"])]
    rows += [("closed form", e["closed_form"]), ("conserves when", e["conservation"])]
    rows += [(p, e["peers"][p]) for p in PEERS]
    rows += [("tests", ", ".join(e["tests"]) or _MISSING)]
    w = max(len(k) for k, _ in rows)
    return "".join(f"{k:<{w}}  {v}\n" for k, v in rows)


def listing():
    """One line per rule: class, name, kind and formula (``python -m dtd rules``)."""
    es = [entry(c) for c in rule_classes()]
    w1 = max(len(e["class"]) for e in es)
    w2 = max(len(e["name"]) for e in es)
    return "".join(f"{e['class']:<{w1}}  {e['name']:<{w2}}  {e['formula']}\n" for e in es)


if __name__ == "__main__":                              # pragma: no cover - the CLI is `python -m dtd rules`
    sys.stdout.write(markdown())
