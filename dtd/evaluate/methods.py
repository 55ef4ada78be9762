"""Explanation methods by name: every composite of :mod:`dtd.composites`, plus gradient-based ones.

A method is a callable ``(x, target) -> R`` (relevance shaped like ``x``).
"""
from .. import composites
from ..explainers import gradient_x_input, sensitivity

__all__ = ["names", "method", "BOX_METHODS", "GRADIENT_METHODS"]

#: methods that are not composites (no rule parameters)
GRADIENT_METHODS = {"sensitivity": sensitivity, "gradient-x-input": gradient_x_input}

#: composites that take the input box ``low``/``high`` (z^B at the pixels)
BOX_METHODS = ("dtd", "lrp-composition", "epsilon-gamma-box")


def names():
    """Every method name: :func:`dtd.composites.names` and ``sensitivity``, ``gradient-x-input``.

    >>> names()[-2:]
    ['sensitivity', 'gradient-x-input']
    """
    return list(composites.names()) + list(GRADIENT_METHODS)


def method(net, name, box=None, **params):
    """The explanation method ``name`` on ``net``, as a callable ``(x, target) -> R``.

    Parameters
    ----------
    net : Sequential
    name : str
        One of :func:`names`.
    box : (low, high), optional
        Input bounds, passed as ``low``/``high`` to the composites in
        :data:`BOX_METHODS` (ignored by the others). Without it, "dtd" uses z+ at
        the input (domain x >= 0) and "lrp-composition" uses LRP-gamma there.
    **params
        Passed to :func:`dtd.composites.get` (e.g. ``epsilon=0.25``).

    Raises
    ------
    ValueError
        Unknown name, or parameters the method does not take.
    """
    if name in GRADIENT_METHODS:
        if params:
            raise ValueError(f"method {name!r} takes no parameters, got {', '.join(params)}")
        fn = GRADIENT_METHODS[name]
        return lambda x, target=None: fn(net, x, target)
    comp = composite(name, box, **params)
    return lambda x, target=None: net.explain(x, comp, target=target)


def composite(name, box=None, **params):
    """The composite behind the method ``name`` (see :func:`method`); ValueError for an unknown name or a
    gradient method (which has no rules)."""
    if name not in composites.names():
        raise ValueError(f"unknown method {name!r}; known: {', '.join(names())}"
                         + (" (a gradient method has no rules)" if name in GRADIENT_METHODS else ""))
    if box is not None and name in BOX_METHODS:
        params = {"low": box[0], "high": box[1], **params}
    return composites.get(name, **params)
