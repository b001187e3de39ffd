"""SparseCOO: the raw array of a sparse COO tensor, as an ndarray is a dense tensor's.

A sparse tensor is a plain Tensor whose ``.array`` is a SparseCOO: indices (sparse_dim, nnz) int64, values
(nnz, *dense_shape) and the full shape, on NumPy or CuPy arrays. Function.apply sends any Function given one to
the sparse package's handler for that Function (tensorgrad/sparse/dispatch.py), or refuses naming the op, so no dense
forward ever computes on it. Code that reaches the array some other way (a wrapper reading ``.array``, an optimizer
step, ``numpy()``) meets the guards below: every NumPy protocol and unknown attribute raises SparseUnsupported,
naming the tensorgrad function the user called, instead of a NumPy error or a silently wrong result.

What the array supports itself is what the autograd engine needs of a gradient: shape / dtype / ndim, ``astype``,
``copy``, ``+`` of two sparse arrays of one shape (gradients accumulating into a sparse leaf: an
Embedding(sparse=True) weight's), and ``+`` / ``+=`` with a dense array of its shape, which gives a dense one (a
sparse and a dense gradient of one leaf, as torch accumulates them).
"""
import math
import os
import sys

import numpy as np

from . import xp_of, device_of, to_device
from .reference import scatter_add


class Layout:
    """torch.layout: tensorgrad.strided (dense) or tensorgrad.sparse_coo."""
    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"tensorgrad.{self.name}"

    def __reduce__(self):
        return (_layout, (self.name,))


strided = Layout("strided")
sparse_coo = Layout("sparse_coo")


def _layout(name):
    return {"strided": strided, "sparse_coo": sparse_coo}[name]


class SparseUnsupported(RuntimeError):
    """A sparse COO tensor reached code that only handles dense arrays."""


_PKG = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_LIBS = tuple(os.path.dirname(os.path.abspath(m.__file__)) + os.sep for m in (np,))
_HERE = os.path.abspath(__file__)


def entry_point():
    """The name of the tensorgrad function the user's code called, found on the stack: the outermost tensorgrad
    frame below the first frame outside tensorgrad and NumPy (lambdas and comprehensions skipped; a method of
    something other than a Tensor is named Class.method, e.g. Adam.step)."""
    f, name = sys._getframe(1), None
    while f is not None:
        path = f.f_code.co_filename
        if path.startswith(_PKG):
            code = f.f_code.co_name
            if path != _HERE and not code.startswith("<"):
                owner = f.f_locals.get("self")
                kind = type(owner).__name__ if owner is not None else None
                name = code if kind in (None, "Tensor", "_OpMethods") else f"{kind}.{code}"
        elif not path.startswith(_LIBS):
            break
        f = f.f_back
    return name or "this operation"


def unsupported(op=None, detail=""):
    op = op or entry_point()
    return SparseUnsupported(f"{op}: sparse COO tensors are not supported here{detail}; convert the input with "
                             ".to_dense() first (the sparse operations are tensorgrad.sparse.mm / spmm / mm / @, "
                             "sparse.sum, sparse.softmax, +, -, * and / by a scalar, t, coalesce, to_dense)")


def _refuse(self, *args, **kwargs):
    raise unsupported()


def flat_keys(indices, sizes):
    """Row-major linear positions of the index columns over dims of ``sizes`` (what coalesce sorts by)."""
    xp = xp_of(indices)
    keys = xp.zeros(indices.shape[1], dtype=np.int64)
    for d, n in enumerate(sizes):
        keys = keys * n + indices[d]
    return keys


def unflat_keys(keys, sizes):
    xp = xp_of(keys)
    out = xp.empty((len(sizes), keys.shape[0]), dtype=np.int64)
    for d in range(len(sizes) - 1, -1, -1):
        out[d] = keys % sizes[d]
        keys = keys // sizes[d]
    return out


class SparseCOO:
    __slots__ = ("indices", "values", "shape", "coalesced", "__weakref__")
    base = None  # (Function.apply asks whether a result views memory: a sparse result views nothing)

    def __init__(self, indices, values, shape, coalesced=False):
        self.indices, self.values, self.shape, self.coalesced = indices, values, tuple(shape), bool(coalesced)

    # -- what Tensor's properties and the autograd engine read -------------------------------------------------
    dtype = property(lambda self: self.values.dtype)
    ndim = property(lambda self: len(self.shape))
    size = property(lambda self: math.prod(self.shape))
    itemsize = property(lambda self: self.values.itemsize)
    nnz = property(lambda self: self.indices.shape[1])
    sparse_dim = property(lambda self: self.indices.shape[0])
    dense_dim = property(lambda self: self.values.ndim - 1)
    device = property(lambda self: device_of(self.values))

    def astype(self, dtype, copy=True):
        if self.values.dtype == dtype and not copy:
            return self
        return SparseCOO(self.indices, self.values.astype(dtype), self.shape, self.coalesced)

    def copy(self, order=None):
        return SparseCOO(self.indices.copy(), self.values.copy(), self.shape, self.coalesced)

    def to_device(self, device):
        return SparseCOO(to_device(self.indices, device), to_device(self.values, device), self.shape, self.coalesced)

    def with_values(self, values, coalesced=None):
        return SparseCOO(self.indices, values, self.shape, self.coalesced if coalesced is None else coalesced)

    # -- the COO algorithms -------------------------------------------------------------------------------------
    def coalesce(self):
        """Duplicates summed, indices sorted row-major (torch's coalesce; explicit zeros stay)."""
        if self.coalesced:
            return self
        xp, sizes = xp_of(self.values), self.shape[:self.sparse_dim]
        keys = flat_keys(self.indices, sizes)
        uniq, inverse = xp.unique(keys, return_inverse=True)
        values = xp.zeros((uniq.shape[0],) + self.values.shape[1:], dtype=self.values.dtype)
        if self.values.dtype == np.bool_:
            xp.logical_or.at(values, inverse.reshape(-1), self.values)
        else:
            xp.add.at(values, inverse.reshape(-1), self.values)
        return SparseCOO(unflat_keys(uniq, sizes), values, self.shape, True)

    def to_dense(self):
        xp = xp_of(self.values)
        out = xp.zeros(self.shape, dtype=self.values.dtype)
        s = self if self.coalesced else self.coalesce()
        out[tuple(s.indices)] = s.values
        return out

    def values_at(self, indices):
        """The values at the index columns ``indices`` (over this array's leading dims; zero where none is
        stored), duplicates summed: the gradient of a sparse tensor's values read from a sparse gradient."""
        xp, k = xp_of(self.values), indices.shape[0]
        s = self.coalesce()
        have = flat_keys(s.indices, self.shape[:k])
        want = flat_keys(indices, self.shape[:k])
        pos = xp.searchsorted(have, want)
        pos = xp.minimum(pos, max(have.shape[0] - 1, 0))
        out = xp.zeros((want.shape[0],) + s.values.shape[1:], dtype=s.values.dtype)
        if have.shape[0]:
            found = have[pos] == want
            out[found] = s.values[pos[found]]
        return out

    def add_to_dense(self, dense, out=None):
        """dense + self as a dense array (into ``out``, dense itself, when given): how a sparse gradient meets a dense
        one of the same tensor (torch accumulates those into a dense .grad)."""
        if tuple(dense.shape) != self.shape:
            raise RuntimeError(f"add: a dense array of shape {tuple(dense.shape)} and a sparse one of shape "
                               f"{self.shape} cannot be added; they must match")
        dt = np.result_type(dense.dtype, self.values.dtype)
        if out is None:
            out = dense.astype(dt, copy=True)
        elif out is not dense:
            out[...] = dense
        if self.nnz:
            scatter_add(out, tuple(self.indices), self.values.astype(out.dtype, copy=False))
        return out

    def __add__(self, other):
        """Sparse + sparse of one shape (torch's add): the values added when the indices are the same; the merged,
        coalesced union when both are coalesced; else the index lists concatenated (uncoalesced). Sparse + dense
        array: dense."""
        if other.__class__ is not SparseCOO:
            if hasattr(other, "__array_interface__") or hasattr(other, "__cuda_array_interface__"):
                return self.add_to_dense(other)
            raise unsupported()
        if other.shape != self.shape or other.sparse_dim != self.sparse_dim:
            raise RuntimeError(f"add: sparse tensors of shapes {self.shape} and {other.shape} (sparse dims "
                               f"{self.sparse_dim}, {other.sparse_dim}) cannot be added; they must match")
        xp = xp_of(self.values)
        dt = np.result_type(self.values.dtype, other.values.dtype)
        a, b = self.values.astype(dt, copy=False), other.values.astype(dt, copy=False)
        if self.indices is other.indices or (self.indices.shape == other.indices.shape
                                             and bool(xp.array_equal(self.indices, other.indices))):
            return SparseCOO(self.indices, a + b, self.shape, self.coalesced and other.coalesced)
        cat = SparseCOO(xp.concatenate([self.indices, other.indices], axis=1), xp.concatenate([a, b]), self.shape)
        return cat.coalesce() if self.coalesced and other.coalesced else cat

    def __neg__(self):
        return self.with_values(-self.values)

    # -- everything else refuses: NumPy protocols, indexing, operators, unknown attributes ---------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        # dense + sparse and dense += sparse (a gradient accumulating into a dense one); nothing else
        if ufunc is np.add and method == "__call__" and len(inputs) == 2 and set(kwargs) <= {"out"}:
            a, b = inputs
            if a.__class__ is SparseCOO:
                a, b = b, a
            out = kwargs.get("out")
            out = out[0] if isinstance(out, tuple) else out
            if b.__class__ is SparseCOO and a.__class__ is not SparseCOO and hasattr(a, "dtype") and np.ndim(a):
                return b.add_to_dense(a, out)
        raise unsupported()

    def __array__(self, *args, **kwargs):
        raise unsupported()

    def __array_function__(self, func, types, args, kwargs):
        raise unsupported()

    __getitem__ = __setitem__ = __iter__ = __bool__ = __float__ = __int__ = __index__ = _refuse
    __radd__ = __add__
    __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = __matmul__ = _refuse
    __rmatmul__ = __pow__ = __rpow__ = __lt__ = __le__ = __gt__ = __ge__ = __abs__ = __invert__ = _refuse
    __floordiv__ = __mod__ = __and__ = __or__ = __xor__ = __imul__ = _refuse  # (+= is __add__)

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):  # protocol probes (copy, pickle) get the usual answer
            raise AttributeError(name)
        raise unsupported(detail=f" (it reads .{name} of the raw array)")

    def __len__(self):
        return self.shape[0]

    def __deepcopy__(self, memo):
        return self.copy()

    def __reduce__(self):
        raise unsupported(detail=" (pickling a sparse tensor)")

    def __repr__(self):
        return f"SparseCOO(shape={self.shape}, nnz={self.nnz}, dtype={self.values.dtype})"


def sparse_repr(t, tensor_repr, dtype_name, default_dtype):
    """torch's repr of a sparse tensor: its indices and values, then size, nnz, dtype and layout."""
    s = t.array
    host = (lambda a: a) if isinstance(s.values, np.ndarray) else (lambda a: a.get())
    ind = tensor_repr(host(s.indices), "int64", np.dtype(np.int64)).replace("\n", "\n" + " " * 15)
    val = tensor_repr(host(s.values), dtype_name(s.dtype), s.dtype).replace("\n", "\n" + " " * 14)
    parts = [f"size={s.shape}", f"nnz={s.nnz}"]
    if s.dtype != default_dtype:
        parts.append(f"dtype=tensorgrad.{dtype_name(s.dtype)}")
    if t.device.type != "cpu":
        parts.append(f"device='{t.device}'")
    parts.append("layout=tensorgrad.sparse_coo")
    if t.grad_fn is not None:
        parts.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        parts.append("requires_grad=True")
    return f"tensor(indices={ind},\n       values={val},\n       " + ", ".join(parts) + ")"
