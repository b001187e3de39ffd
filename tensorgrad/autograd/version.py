"""Version counters: catch arrays saved for backward that were modified in place before backward ran.

A counter belongs to the array that *owns* the memory (``.base`` followed to the owner), so a Tensor, its
detach(), and every view made from it by non-grad getitem/reshape/transpose share one counter, like
PyTorch's. Every in-place write made through tensorgrad (Tensor._bump: the ``*_`` methods, setitem, the
optimizers, load_state_dict...) bumps the owner's counter; ``save_for_backward`` records the counter of each
saved array, and the engine compares before the node's backward.

Counters live in one dict keyed by ``id(owner)`` and only for owners that were ever bumped: an array that
was never written in place (nearly all activations) costs nothing but a dict miss. A weakref to the owner
removes its entry when the owner dies. A saved array keeps its owner alive, so while a node holds it no
other array can take that id: a recorded (id, version) pair can only change by a bump of that very owner.
(An owner that refuses weakrefs keeps its entry forever; a later array reusing the id starts from that
count, which is harmless: record and check read the same entry.)
"""
import weakref

import numpy as np

_ndarray = np.ndarray
# id(owner array) -> [version, weakref to the owner or None]
_counters = {}


def root(a):
    """The array owning a's memory (numpy collapses view chains, so this is usually one step)."""
    b = a.base
    while b is not None:
        if b.__class__ is not a.__class__ and not isinstance(b, _ndarray):
            # numpy's as_strided wraps the owner in a DummyArray whose .base is the owner; any other base
            # (bytes, mmap: a buffer, not an array) means a is the array that owns the memory.
            inner = getattr(b, "base", None)
            if inner is None or not (inner.__class__ is a.__class__ or isinstance(inner, _ndarray)):
                return a
            b = inner
        a = b
        b = a.base
    return a


def _forget(key, ref, counters=_counters):
    e = counters.get(key)
    if e is not None and e[1] is ref:
        del counters[key]


def bump(a):
    """Record an in-place write into array a (and so into everything sharing its memory)."""
    r = a if a.base is None else root(a)
    k = id(r)
    e = _counters.get(k)
    if e is None:
        try:
            ref = weakref.ref(r, lambda w, k=k: _forget(k, w))
        except TypeError:  # an array type without weakref support
            ref = None
        e = _counters[k] = [0, ref]
    e[0] += 1


def version(a):
    """How many in-place writes array a's memory has seen through tensorgrad."""
    e = _counters.get(id(root(a)))
    return 0 if e is None else e[0]


def record(arrays):
    """(array, owner id, version) for every array among ``arrays`` (None and scalars are skipped)."""
    out = []
    get = _counters.get
    for a in arrays:
        if a.__class__ is _ndarray:  # the common cases inline (this runs for every op that saves arrays)
            b = a.base
            k = id(a) if b is None else id(b) if b.__class__ is _ndarray and b.base is None else id(root(a))
        elif isinstance(a, _ndarray) or (a is not None and hasattr(a, "__cuda_array_interface__")):
            k = id(a if a.base is None else root(a))
        else:
            continue
        e = get(k)
        out.append((a, k, 0 if e is None else e[0]))
    return out


def check(node, recorded):
    """Raise if any array recorded by ``record`` was modified in place since."""
    get = _counters.get
    for a, k, v in recorded:
        e = get(k)
        if e is not None and e[0] != v:
            raise RuntimeError(
                f"{node.name()}: one of the arrays saved for the gradient (shape {tuple(a.shape)}, {a.dtype}) was "
                f"modified in place after it was saved (version {e[0]}, expected {v}); call the in-place op "
                "after backward(), or clone the tensor first")
