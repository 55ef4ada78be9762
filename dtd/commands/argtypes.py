"""The number parsers of the command line (argparse ``type=``), one place for all commands.

Each returns a function ``text -> value`` that raises :class:`argparse.ArgumentTypeError`
with a message argparse prints as ``argument --NAME: <message>``:

- :func:`integer` with an optional lower bound (``integer(0)``: a count, ``integer(1)``: a size);
- :func:`number`: a finite float, optionally bounded below (``number(0, strict=True)``: > 0);
- :func:`fraction`: a positive finite number or a fraction ``A/B`` such as ``1/255``.

>>> integer(1)("3"), number()("-0.5"), number(0)("0"), fraction("1/4")
(3, -0.5, 0.0, 0.25)
>>> integer(0)("-1")
Traceback (most recent call last):
...
argparse.ArgumentTypeError: must be >= 0, got '-1'
"""
import argparse
import math

__all__ = ["integer", "number", "fraction"]


def integer(minimum=None):
    """Parser of an int ``>= minimum`` (any int if ``minimum`` is None)."""
    def parse(text):
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an int, got {text!r}") from None
        if minimum is not None and v < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {text!r}")
        return v
    parse.__name__ = "int" if minimum is None else f"int >= {minimum}"    # argparse names it in errors
    return parse


def number(minimum=None, *, strict=False):
    """Parser of a finite float, ``>= minimum`` (``> minimum`` with ``strict``) if a minimum is given."""
    def parse(text):
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(v):
            raise argparse.ArgumentTypeError(f"must be finite, got {text!r}")
        if minimum is not None and (v <= minimum if strict else v < minimum):
            raise argparse.ArgumentTypeError(f"must be {'>' if strict else '>='} {minimum:g}, got {text!r}")
        return v
    parse.__name__ = "number"
    return parse


def fraction(text):
    """A positive finite number, or a fraction ``A/B`` of two (``1/255``)."""
    num, sep, den = text.partition("/")
    try:
        v = float(num) / float(den) if sep else float(text)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"expected a number or a fraction such as 1/255, got {text!r}") from None
    if not (v > 0 and math.isfinite(v)):
        raise argparse.ArgumentTypeError(f"must be > 0 and finite, got {text!r}")
    return v
