"""Sparse COO tensors (torch.sparse): a Tensor whose raw array is a SparseCOO (tensorgrad/backend/sparse_coo.py).

Supported: construction (tensorgrad.sparse_coo_tensor, Tensor.to_sparse), to_dense, coalesce, indices / values,
t / transpose, dtype and device moves; products sparse @ dense, dense @ sparse and sparse @ sparse (sparse.mm,
spmm, mm, matmul, @) with gradients for both operands; + and - of sparse tensors, dense + sparse, * and / by a
scalar, negation; sum (torch.sum and sparse.sum) and sparse.softmax. Any other op given a sparse tensor raises,
naming the op and pointing to .to_dense(). Hybrid tensors (dense dims in the values) are constructed, converted
and coalesced; the products, softmax and sums over dense dims refuse them.
"""
from . import dispatch  # noqa: F401  (registers the dense Functions' sparse meanings)
from .api import mm, spmm, sum, softmax, sparse_coo_tensor  # noqa: F401
from ..backend.sparse_coo import sparse_coo, strided  # noqa: F401

__all__ = ["mm", "sum", "softmax"]
