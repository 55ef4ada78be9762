r"""Frozen weights, and the arrays the rules derive from them cached across calls.

A rule like z+, gamma or alpha-beta multiplies with modified weights
(:math:`W^+ = \max(0, W)`, :math:`W + \gamma W^+`, the stack :math:`[W; W^+]`,
a convolution's flipped kernel), which do not depend on the input.  Without
freezing they are rebuilt on every call (and memory stays what one call
needs).  ``net.freeze()`` (:meth:`dtd.Sequential.freeze`, :meth:`dtd.Graph.freeze`)
makes every parameter array of the network read-only (``flags.writeable =
False``, so any write to it raises ``ValueError``) and registers it here; from
then on :func:`cached` keeps what the rules derive from registered arrays,
keyed on the arrays' identity and the derivation's parameters, so the next
explanation finds it.  ``net.unfreeze()`` makes the arrays writeable again and
drops their cached arrays.

The cached arrays are read-only too, and registered like frozen weights
(so a derivation of a derivation, e.g. the flipped kernel of :math:`W^+`, is
cached as well).  The cache is bounded: at most :data:`FACTOR` times the
bytes of the frozen weights (and at least :data:`MINIMUM` bytes), least
recently used entries dropped first; an entry goes when one of its arrays is
garbage-collected or unfrozen.

>>> w = np.array([[1.0, -2.0]])
>>> freeze_arrays([w])
[True]
>>> p = cached((w,), "positive", lambda: np.maximum(w, 0))
>>> p.tolist(), cached((w,), "positive", lambda: None) is p
([[1.0, 0.0]], True)
>>> unfreeze_arrays([w]); w.flags.writeable
True
"""
import threading
import weakref
from collections import OrderedDict

import numpy as np

__all__ = ["cached", "is_frozen", "freeze_arrays", "unfreeze_arrays", "freeze_ops", "unfreeze_ops", "ops_frozen",
           "cache_bytes", "clear", "FACTOR", "MINIMUM"]

#: the cache holds at most FACTOR x (bytes of the frozen weights) ...
FACTOR = 4.0
#: ... and never less than this many bytes
MINIMUM = 64 * 2 ** 20

_lock = threading.RLock()
_frozen = {}           # id(array) -> (weakref to it, "weight" or "derived", was it writeable before)
_entries = OrderedDict()   # key -> (refs of the key's arrays, value); least recently used first
_by_array = {}         # id(array) -> set of keys naming it
_state = {"bytes": 0, "weights": 0}


def is_frozen(a):
    """Whether ``a`` is a frozen (registered, read-only) array: then what is derived from it may be cached."""
    entry = _frozen.get(id(a))
    return entry is not None and entry[0]() is a and not a.flags.writeable


def _forget(i):
    """Drop the registration of the array with id ``i`` and every cache entry naming it."""
    with _lock:
        entry = _frozen.pop(i, None)
        if entry is not None and entry[1] == "weight":
            _state["weights"] -= entry[3]
        for key in _by_array.pop(i, ()):
            _drop(key)


def _drop(key):
    item = _entries.pop(key, None)
    if item is None:
        return
    refs, value = item
    _state["bytes"] -= value.nbytes
    for r in refs:
        keys = _by_array.get(r.id)
        if keys is not None:
            keys.discard(key)


class _Ref(weakref.ref):
    """A weak reference that remembers the id of its array (the callback runs after the array is gone)."""

    __slots__ = ("id",)

    def __new__(cls, a, callback):
        self = super().__new__(cls, a, callback)
        self.id = id(a)
        return self

    def __init__(self, a, callback):
        super().__init__(a, callback)


def _register(a, kind, was_writeable):
    i = id(a)
    _frozen[i] = (_Ref(a, lambda r: _forget(r.id)), kind, was_writeable, a.nbytes)
    if kind == "weight":
        _state["weights"] += a.nbytes


def _owns_memory(a):
    """True if nothing but ``a`` can write its memory: it owns its data, or it is a view (through read-only
    arrays) of immutable ``bytes`` (``np.frombuffer``).  A view of another array is not: that array could be
    made writeable again and written."""
    if a.base is None:
        return True
    base = a
    while isinstance(base, np.ndarray):
        if base is not a and base.flags.writeable:
            return False
        base = base.base
    return isinstance(base, bytes)


def freeze_arrays(arrays):
    """Make each array read-only and register it; returns, per array, whether it could be frozen in place.

    An array whose memory something else could still write (a view of a writeable array, a writeable
    memory map) is not frozen: False for it (the caller copies it and freezes the copy).
    """
    done = []
    with _lock:
        for a in arrays:
            if is_frozen(a):
                done.append(True)
                continue
            if not _owns_memory(a):
                done.append(False)
                continue
            was = bool(a.flags.writeable)
            a.flags.writeable = False
            _register(a, "weight", was)
            done.append(True)
    return done


def unfreeze_arrays(arrays):
    """Undo :func:`freeze_arrays`: drop the arrays' cached derivations, and make writeable again those that
    were writeable before."""
    with _lock:
        for a in arrays:
            entry = _frozen.get(id(a))
            if entry is None or entry[0]() is not a:
                continue
            _forget(id(a))
            if entry[2]:
                a.flags.writeable = True


def _limit():
    return max(MINIMUM, int(FACTOR * _state["weights"]))


def cached(arrays, key, build):
    """``build()``, kept for the next call when every array of ``arrays`` is frozen.

    Parameters
    ----------
    arrays : tuple of ndarray
        What the result is derived from (identity matters, not the contents: frozen arrays cannot change).
    key : hashable
        The derivation and its parameters (e.g. ``("modifier", SignedScale(1, 0.25))``).
    build : callable
        ``() -> ndarray``, a new array owning its memory.

    Returns
    -------
    ndarray
        Read-only and itself frozen (registered) when cached; ``build()`` as it is otherwise.
    """
    if not all(is_frozen(a) for a in arrays):
        return build()
    full = (tuple(id(a) for a in arrays), key)
    with _lock:
        item = _entries.get(full)
        if item is not None and all(r() is a for r, a in zip(item[0], arrays)):
            _entries.move_to_end(full)
            return item[1]
    value = build()
    if value.nbytes > _limit() or not (value.base is None or _owns_memory(value)):
        return value
    with _lock:
        if full in _entries:
            _drop(full)
        value.flags.writeable = False
        _register(value, "derived", False)
        refs = tuple(_frozen[id(a)][0] for a in arrays)
        _entries[full] = (refs, value)
        for a in arrays:
            _by_array.setdefault(id(a), set()).add(full)
        _state["bytes"] += value.nbytes
        while _state["bytes"] > _limit() and len(_entries) > 1:
            _drop(next(iter(_entries)))
    return value


def cache_bytes():
    """Bytes the cache holds now."""
    return _state["bytes"]


def clear():
    """Drop every cached array (the frozen weights stay frozen)."""
    with _lock:
        for key in list(_entries):
            _drop(key)


def _array_attributes(op):
    return [(k, v) for k, v in vars(op).items() if isinstance(v, np.ndarray)]


def freeze_ops(ops):
    """Freeze every ndarray attribute of each op (a layer or merge): read-only and registered.

    An attribute whose memory something else could write (a view of a writeable array) is replaced by a
    copy that owns its memory, and the copy frozen.  Returns the number of arrays frozen.
    """
    n = 0
    for op in ops:
        for key, a in _array_attributes(op):
            if not freeze_arrays([a])[0]:
                a = np.array(a, copy=True)
                setattr(op, key, a)
                freeze_arrays([a])
            n += 1
    return n


def unfreeze_ops(ops):
    """Undo :func:`freeze_ops` (arrays that were read-only before stay read-only)."""
    unfreeze_arrays([a for op in ops for _, a in _array_attributes(op)])


def ops_frozen(ops):
    """Whether every ndarray attribute of every op is frozen."""
    return all(is_frozen(a) for op in ops for _, a in _array_attributes(op))
