"""In-place writes under autograd on memory that views share: torch's view + in-place semantics.

When ``v = y[0]`` views y and ``v.mul_(3)`` records a gradient, torch writes into the shared memory and rewrites
the histories of every tensor that sees it:
- the root tensor y (``v._base``) takes a CopySlices node: its old history outside v's elements, the in-place
  result's history inside them;
- every live view of y (v itself, and ``a = y[:, 0]`` taken before) takes an AsStrided node on y's new history;
- arrays a node saved that the write changed are caught by the version counters at backward, as in torch.

tensor.note_view records the views (Function.apply and getitem's no-grad path); Tensor methods' in-place machinery
(methods._apply_inplace, ops/util.write_back) calls rebase. Where a view's place in the root cannot be described
by (shape, strides, offset) over the root's memory (a root whose elements are not laid out densely, such as an
expanded or step-sliced array, or a view that has left the root's memory), the caller keeps its refusal. A dense
root in another order than C's (x.t() * 1 keeps NumPy's F order, as torch keeps the strides) is handled by
ordering gradients by memory position and back. Geometry is kept as those three numbers and turned into
element positions only in backward, so a node costs no memory of the view's size.
"""
import math

import numpy as np

from .._memory_format import dense
from ..autograd.function import Function
from ..autograd.version import root
from ..backend import xp_of
from ..tensor import _ptr, internal_overlap
from .graph import linear_map, frozen_backward


def _geometry(base, v):
    """(shape, strides, offset, overlaps, root strides) of v's elements among base's memory positions, or None when
    v does not (or no longer does) view base's memory in a way these describe. The root's strides (in elements) are
    None when it is C-contiguous (memory order is its element order) and are kept otherwise, to map gradients of
    the root's shape to memory order and back."""
    a, b = base.array, v.array
    if b.dtype != a.dtype or b.__class__ is not a.__class__ or root(b) is not root(a):
        return None
    item = a.itemsize
    off, rem = divmod(_ptr(b) - _ptr(a), item)
    if rem or any(s % item for s in b.strides):
        return None
    strides = tuple(s // item for s in b.strides)
    if b.size:
        lo = off + sum((n - 1) * s for n, s in zip(b.shape, strides) if s < 0)
        hi = off + sum((n - 1) * s for n, s in zip(b.shape, strides) if s > 0)
        if lo < 0 or hi >= a.size:
            return None
    rstrides = None if a.flags.c_contiguous else tuple(s // item for s in a.strides)
    return geometry(tuple(b.shape), strides, off, internal_overlap(b), rstrides)


def geometry(shape, strides, offset, overlaps, root_strides=None):
    """The one form of a view's place in its root's memory that _positions, _gather, _scatter and the nodes read:
    sizes, strides and offset in elements, whether elements repeat, and the root's strides (None: a C-ordered root,
    or as_strided's flat storage, ops/strided.py)."""
    return shape, strides, offset, overlaps, root_strides


def _positions(xp, geom):
    """The index into the root's flattened elements of every element of the view, in the view's shape."""
    shape, strides, off = geom[:3]
    p = xp.asarray(off, dtype=np.int64)
    for d, (n, s) in enumerate(zip(shape, strides)):
        p = p + (xp.arange(n, dtype=np.int64) * s).reshape((1,) * d + (n,) + (1,) * (len(shape) - d - 1))
    return xp.broadcast_to(p, shape)


def _to_memory(xp, x, rstrides, copy=False):
    """x, of the root's shape, as a flat array in the order of the root's memory positions."""
    if rstrides is None:
        return xp.array(x, order="C").reshape(-1) if copy else xp.ascontiguousarray(x).reshape(-1)
    flat = xp.empty(x.size, dtype=x.dtype)
    flat[_positions(xp, (x.shape, rstrides, 0))] = x
    return flat


def _from_memory(xp, flat, shape, rstrides):
    """A flat array in the root's memory order, back in the root's shape."""
    return flat.reshape(shape) if rstrides is None else flat[_positions(xp, (shape, rstrides, 0))]


def _gather(geom):
    """x (the root's shape) -> the view's elements of x, as a new array."""
    def fn(x):
        xp = xp_of(x)
        return _to_memory(xp, x, geom[4])[_positions(xp, geom)]
    return fn


def _scatter(geom, base_shape):
    """g (the view's shape) -> an array of the root's shape, zero outside the view, g summed where elements repeat."""
    def fn(g):
        xp = xp_of(g)
        size = math.prod(base_shape)
        p = _positions(xp, geom)
        if geom[3]:  # (an expanded view: one element at several positions, their gradients add)
            out = xp.bincount(p.reshape(-1), weights=xp.broadcast_to(g, p.shape).reshape(-1).astype(np.float64),
                              minlength=size).astype(g.dtype)
        else:
            out = xp.zeros(size, dtype=g.dtype)
            out[p] = g
        return _from_memory(xp, out, base_shape, geom[4])
    return fn


class AsStrided(Function):
    """A view of the root, on the root's current history (torch's regenerated view node). Forward returns the
    view's existing array: the node only routes gradients."""
    track_views = False

    def forward(self, base, geom, view_array):
        self.geom, self.base_shape = geom, base.shape
        return view_array

    def backward(self, g):
        return _scatter(self.geom, self.base_shape)(g), None, None

    def backward_graph(self, g):
        return linear_map(g, frozen_backward(self, 0), _gather(self.geom)), None, None


class CopySlices(Function):
    """The root after an in-place write into one of its views (torch's CopySlices): the gradient of the old root
    is g with the view's elements zeroed, that of the written value the view's elements of g. Forward returns the
    root's array, already written by rebase."""
    track_views = False

    def forward(self, base, value, geom):
        self.geom, self.base_shape = geom, base.shape
        return base

    def backward(self, g):
        xp = xp_of(g)
        gb = gv = None
        if self.needs_input_grad[0]:
            gb = _to_memory(xp, g, self.geom[4], copy=True)
            gb[_positions(xp, self.geom)] = 0
            gb = _from_memory(xp, gb, self.base_shape, self.geom[4])
        if self.needs_input_grad[1]:
            gv = _gather(self.geom)(g)
        return gb, gv, None

    def backward_graph(self, g):
        gb = gv = None
        if self.needs_input_grad[0]:  # (zeroing the view's elements is its own adjoint)
            gb = linear_map(g, frozen_backward(self, 0), frozen_backward(self, 0))
        if self.needs_input_grad[1]:
            gv = linear_map(g, frozen_backward(self, 1), _scatter(self.geom, self.base_shape))
        return gb, gv, None


def family(t):
    """The root Tensor whose histories an in-place write into t's memory must rewrite, when t's memory is shared
    through recorded views (t views a root, or t is a root with live views) that rebase can describe; else None."""
    base = t._base
    r = t if base is None else base
    if base is None and not any(w() is not None for w in t._views or ()):
        return None
    a = r.array
    if not (a.flags.c_contiguous or dense(a)) or (base is not None and _geometry(r, t) is None):
        return None
    return r


def check_rebase(t, r, op):
    """The refusals torch makes before such a write: a view of a leaf that requires grad; a view where several
    elements share one memory location (the write has no single answer), except for fill_ and zero_ of a constant,
    which write one value everywhere."""
    if r is not t and r.grad_fn is None and r._requires_grad:
        raise RuntimeError(f"{op}: a view of a leaf tensor that requires grad (view of shape {tuple(t.shape)}, leaf of "
                           f"shape {tuple(r.shape)}) is being used in an in-place operation; clone() the leaf or "
                           "write under tensorgrad.no_grad()")
    if op == "setitem" and internal_overlap(t.array):  # (only advanced indices reach here: methods.__setitem__)
        raise RuntimeError(f"setitem: a write recording a gradient through an advanced index into an expanded view "
                           f"(shape {tuple(t.shape)}, several elements on one memory location) is not supported; "
                           "clone() the tensor first")
    if op not in ("fill_", "zero_") and internal_overlap(t.array):
        raise RuntimeError(f"{op}: unsupported operation: more than one element of the written-to tensor (shape "
                           f"{tuple(t.shape)}, an expanded view) refers to a single memory location. Please clone() "
                           "the tensor before performing the operation.")


def rebase(t, result, r):
    """Write the in-place result (a graph Tensor of t's shape and dtype, not sharing t's memory) into t's memory and
    rewrite the histories: r (family(t)) takes the result's history where t lies in it, and every live view of r
    is regenerated on r's new history."""
    t.array[...] = result.array
    t._bump()
    if t is r:
        r.grad_fn, r._requires_grad = result.grad_fn, True
    else:
        r.grad_fn = CopySlices.apply(r, result, _geometry(r, t)).grad_fn
        r._requires_grad = True
    views = r._views or []
    live = []
    for w in views:
        v = w()
        if v is None:
            continue
        geom = _geometry(r, v)
        if geom is None:  # (no longer in r's memory: .data = ... replaced one of the arrays)
            v._base = None
            continue
        live.append(w)
        v.grad_fn = AsStrided.apply(r, geom, v.array).grad_fn
        v._requires_grad = True
    views[:] = live
    if t is not r and not any(w() is t for w in live):
        t.grad_fn, t._requires_grad = AsStrided.apply(r, _geometry(r, t), t.array).grad_fn, True
