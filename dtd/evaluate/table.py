"""Result tables (a list of dicts, one per row) as CSV and Markdown text."""
import csv
import io
import math

import numpy as np

from .files import write_text

__all__ = ["columns_of", "to_csv", "to_markdown", "write_csv", "write_markdown"]


def columns_of(rows):
    """Column names in order of first appearance."""
    cols = []
    for row in rows:
        cols += [k for k in row if k not in cols]
    return cols


def _plain(v):
    return v.item() if isinstance(v, np.generic) else v


def _cell(v):
    v = _plain(v)
    if v is None:
        return ""
    return repr(v) if isinstance(v, float) else v


def to_csv(rows, columns=None):
    """CSV text; floats written with ``repr`` (round-trip exact), missing values empty.

    >>> print(to_csv([{"a": 1, "b": 0.1}, {"a": 2}]), end="")
    a,b
    1,0.1
    2,
    """
    columns = columns_of(rows) if columns is None else list(columns)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for row in rows:
        w.writerow([_cell(row.get(c)) for c in columns])
    return buf.getvalue()


def _fmt(v, digits):
    v = _plain(v)
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v).replace("|", "\\|")


def to_markdown(rows, columns=None, digits=4):
    """A GitHub Markdown table; floats with ``digits`` significant digits, missing values "-".

    >>> print(to_markdown([{"a": 1, "b": 0.123456}, {"a": 2}]), end="")
    | a | b |
    |---|---|
    | 1 | 0.1235 |
    | 2 | - |
    """
    columns = columns_of(rows) if columns is None else list(columns)
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(_fmt(row.get(c), digits) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_csv(rows, path, columns=None):
    """Write :func:`to_csv` to ``path`` atomically."""
    return write_text(path, to_csv(rows, columns))


def write_markdown(rows, path, columns=None, digits=4, title=None):
    """Write :func:`to_markdown` (after a ``# title`` line if given) to ``path`` atomically."""
    head = f"# {title}\n\n" if title else ""
    return write_text(path, head + to_markdown(rows, columns, digits))
