"""The public sparse COO API: torch.sparse_coo_tensor, torch.sparse.mm / sum / softmax, torch.spmm, and the
Tensor methods (to_sparse, to_dense, coalesce, indices, values, _nnz, is_sparse, layout, ...), installed on Tensor
here as ops/methods.py installs the dense ones.

Construction always checks what torch checks only under check_invariants=True (indices in range and
non-negative, nnz and sizes consistent, an is_coalesced=True claim true): torch's default skips those checks and
leaves an out-of-range index to corrupt memory later.
"""
import numpy as np

from .. import dtypes
from ..backend import as_device, to_device, xp_of, get_xp
from ..backend.sparse_coo import SparseCOO, flat_keys, sparse_coo, strided, unsupported
from ..tensor import Tensor, tensor as make_tensor
from . import functions as SF
from .dispatch import is_sparse, matmul, _describe


def _index_array(indices, device):
    if isinstance(indices, Tensor):
        a = indices.array
    else:
        a = np.asarray(indices)
    if a.dtype.kind not in "iu":
        raise RuntimeError(f"sparse_coo_tensor: indices must be an int64 tensor, got dtype {a.dtype} (shape "
                           f"{tuple(a.shape)})")
    if a.ndim != 2:
        raise RuntimeError(f"sparse_coo_tensor: indices must be sparse_dim x nnz, but got: {list(a.shape)}")
    return to_device(get_xp(device).asarray(a, dtype=np.int64) if xp_of(a) is np else a.astype(np.int64), device)


def sparse_coo_tensor(indices, values, size=None, *, dtype=None, device=None, requires_grad=False,
                      check_invariants=None, is_coalesced=None):
    """torch.sparse_coo_tensor: values (nnz, *dense) at the index columns of indices (sparse_dim, nnz).
    Differentiable w.r.t. values; requires_grad=True makes the sparse tensor itself a leaf."""
    if not isinstance(values, Tensor):
        values = make_tensor(values, dtype=dtype, device=device)
    if dtype is not None and values.dtype != dtypes.to_dtype(dtype):
        values = values.to(dtypes.to_dtype(dtype))
    if device is not None and values.device != as_device(device):
        values = values.to(device)
    device = values.device
    idx = _index_array(indices, device)
    k, nnz = idx.shape
    if values.ndim == 0:
        raise RuntimeError("sparse_coo_tensor: values must be at least 1-D (nnz, *dense_shape), got a 0-d tensor")
    if values.shape[0] != nnz:
        raise RuntimeError(f"sparse_coo_tensor: indices and values must have same nnz, but got nnz from indices: "
                           f"{nnz}, nnz from values: {values.shape[0]}")
    if nnz and int(idx.min()) < 0:
        d = int(np.nonzero(np.asarray(idx.min(axis=1)) < 0)[0][0])
        raise RuntimeError(f"sparse_coo_tensor: found negative index {int(idx[d].min())} for dim {d}")
    if size is None:
        size = tuple(int(m) + 1 for m in idx.max(axis=1)) if nnz else (0,) * k
        size = size + tuple(values.shape[1:])
    size = tuple(int(n) for n in size)
    dense = tuple(values.shape[1:])
    if len(size) != k + len(dense):
        raise RuntimeError(f"sparse_coo_tensor: 'len(size) == sparse_dim + dense_dim' is not satisfied: len(size) = "
                           f"{len(size)}, sparse_dim = {k}, dense_dim = {len(dense)}")
    if size[k:] != dense:
        raise RuntimeError(f"sparse_coo_tensor: values has dense shape {dense} but size {size} expects "
                           f"{size[k:]} after its {k} sparse dims")
    if nnz:
        top = idx.max(axis=1)
        for d in range(k):
            if int(top[d]) >= size[d]:
                raise RuntimeError(f"sparse_coo_tensor: size is inconsistent with indices: for dim {d}, size is "
                                   f"{size[d]} but found index {int(top[d])}")
    if is_coalesced:
        keys = flat_keys(idx, size[:k])
        if nnz > 1 and not bool((keys[1:] > keys[:-1]).all()):
            raise RuntimeError("sparse_coo_tensor: is_coalesced=True but the indices are not sorted and unique")
    out = SF.SparseCooTensor.apply(values, idx, size, bool(is_coalesced) or nnz <= 1)
    if requires_grad:
        out = out.detach().requires_grad_()
    return out


# ------------------------------------------------------------------------------------- torch.sparse
def _need_sparse(op, x):
    if not is_sparse(x):
        raise RuntimeError(f"{op}: expected a sparse COO tensor, got a dense one ({_describe(x)})")


def mm(mat1, mat2):
    """torch.sparse.mm: sparse @ dense -> dense, sparse @ sparse -> sparse, dense @ sparse -> dense; a sparse
    operand's gradient is sparse at its own pattern."""
    if not (is_sparse(mat1) or is_sparse(mat2)):
        raise RuntimeError(f"sparse.mm: expected at least one sparse operand, got {_describe(mat1, mat2)}")
    return matmul(mat1, mat2)


def spmm(mat1, mat2):
    """torch.spmm: sparse (or dense) mat1 @ dense mat2."""
    return matmul(mat1, mat2) if is_sparse(mat1) or is_sparse(mat2) else mat1 @ mat2


def sum(input, dim=None, dtype=None):
    """torch.sparse.sum: over every dim a dense 0-d tensor; over some sparse dims a sparse tensor."""
    _need_sparse("sparse.sum", input)
    if dtype is not None:
        input = input.to(dtype)
    if dim is None:
        dims = tuple(range(input.array.sparse_dim))
    else:
        dims = tuple(d % input.ndim for d in ((dim,) if isinstance(dim, int) else dim))
    if any(d >= input.array.sparse_dim for d in dims):
        raise unsupported(f"sparse.sum ({_describe(input)}, dim {dim})", " (summing over dense dims)")
    return SF.SparseSum.apply(input, dims)


def softmax(input, dim, dtype=None):
    """torch.sparse.softmax: softmax over the stored entries of each slice along dim (unstored count as -inf)."""
    _need_sparse("sparse.softmax", input)
    if dtype is not None:
        input = input.to(dtype)
    if not dtypes.is_float(input.dtype):
        raise RuntimeError(f"sparse.softmax: expected a floating point tensor, got {_describe(input)}")
    d = dim % input.ndim
    if d >= input.array.sparse_dim or input.array.dense_dim:
        raise unsupported(f"sparse.softmax ({_describe(input)}, dim {dim})", " (hybrid tensors)")
    return SF.SparseSoftmax.apply(input, d)


# ------------------------------------------------------------------------------------- Tensor methods
def _to_sparse(self, sparse_dim=None):
    if is_sparse(self):
        if sparse_dim is not None and sparse_dim != self.array.sparse_dim:
            raise RuntimeError("to_sparse: conversion from Sparse to Sparse with sparse_dim argument "
                               "!=self.sparse_dim() is not supported")
        return self
    k = self.ndim if sparse_dim is None else int(sparse_dim)
    if not 1 <= k <= self.ndim:
        raise RuntimeError(f"to_sparse: sparse_dim {sparse_dim} is out of range for a tensor of shape "
                           f"{tuple(self.shape)} (1 to {self.ndim})")
    return SF.ToSparse.apply(self, k)


def _to_dense(self, dtype=None, *, masked_grad=None):
    out = SF.ToDense.apply(self) if is_sparse(self) else self
    return out if dtype is None else out.to(dtype)


def _need(op, x, coalesced=False):
    if not is_sparse(x):
        raise RuntimeError(f"{op} expected sparse coordinate tensor layout but got Strided (shape "
                           f"{tuple(x.shape)})")
    if coalesced and not x.array.coalesced:
        raise RuntimeError(f"Cannot get {op} on an uncoalesced tensor, please call .coalesce() first")
    return x.array


def _coalesce(self):
    s = _need("coalesce", self)
    return self if s.coalesced else SF.Coalesce.apply(self)


def _values(self):
    _need("values", self, coalesced=True)
    return SF.Values.apply(self)


def _indices_t(self):
    return Tensor._make(_need("indices", self, coalesced=True).indices, None)


_METHODS = {
    "to_sparse": _to_sparse,
    "to_sparse_coo": lambda self: _to_sparse(self),
    "to_dense": _to_dense,
    "coalesce": _coalesce,
    "is_coalesced": lambda self: _need("is_coalesced", self).coalesced,
    "indices": _indices_t,
    "values": _values,
    "_indices": lambda self: Tensor._make(_need("_indices", self).indices, None),
    "_values": lambda self: Tensor._make(_need("_values", self).values, None),
    "_nnz": lambda self: int(_need("_nnz", self).nnz),
    "sparse_dim": lambda self: self.array.sparse_dim if is_sparse(self) else 0,
    "dense_dim": lambda self: self.array.dense_dim if is_sparse(self) else self.ndim,
}
for _name, _fn in _METHODS.items():
    setattr(Tensor, _name, _fn)
Tensor.is_sparse = property(is_sparse)
Tensor.layout = property(lambda self: sparse_coo if is_sparse(self) else strided)
