"""What the dense Functions mean on sparse COO inputs.

Function.apply hands a Function given a sparse input to the handler registered here for its class (with apply's
own arguments, after the public wrapper's dtype promotion and shape checks), and refuses the others naming the op.
So ``S + S``, ``torch.eye(n) + S``, ``S * 2``, ``S @ D``, ``torch.mm(D, S)``, ``S.t()``, ``S.double()`` and
``torch.sum(S, 1)`` reach the sparse primitives through the usual entry points, and the dense hot path pays one
identity test per op for it.
"""
import numpy as np

from ..autograd import function as _function
from ..autograd.grad_mode import is_grad_enabled
from ..backend.sparse_coo import SparseCOO, unsupported
from ..tensor import Tensor
from ..ops import elementwise as E
from ..ops.matmul import MatMul
from ..ops.movement import Permute
from ..ops.reduce import Sum
from . import functions as SF


def is_sparse(x):
    return isinstance(x, Tensor) and x.array.__class__ is SparseCOO


def _describe(*xs):
    return " and ".join(f"{'sparse' if is_sparse(x) else 'dense'} {tuple(x.shape)} {x.dtype}" if isinstance(x, Tensor)
                        else type(x).__name__ for x in xs)


def _same_shape(op, a, b):
    if tuple(a.shape) != tuple(b.shape):
        raise RuntimeError(f"{op}: expected the sparse and the other tensor to have the same shape, got "
                           f"{_describe(a, b)} (no broadcasting with sparse tensors)")


def _scalar(op, c):
    """A scalar factor: a Python/NumPy number, or a 0-d tensor that does not require grad."""
    if isinstance(c, Tensor):
        if c.ndim != 0 or c.requires_grad or is_sparse(c):
            raise unsupported(f"{op} ({_describe(c)} as the other operand)",
                              " (only a scalar, or a 0-d tensor without gradient, multiplies or divides a sparse "
                              "tensor)")
        return c.array[()]
    return c


def add(a, b):
    if is_sparse(a) and is_sparse(b):
        _same_shape("add", a, b)
        return SF.SparseAdd.apply(a, b)
    if is_sparse(b) and isinstance(a, Tensor):
        _same_shape("add", a, b)
        return SF.DenseSparseAdd.apply(a, b)
    raise RuntimeError(f"add(sparse, dense) is not supported. Use add(dense, sparse) instead. (operands "
                       f"{_describe(a, b)})")


def neg(a):
    if a.dtype == np.bool_:
        raise RuntimeError(f"neg: negation, the `-` operator, on a bool tensor is not supported ({_describe(a)})")
    return SF.SparseScale.apply(a, a.dtype.type(-1), False)


def sub(a, b):
    if is_sparse(b) and isinstance(a, Tensor):
        return add(a, neg(b))
    raise RuntimeError(f"sub(sparse, dense) is not supported. Use sub(dense, sparse) instead. (operands "
                       f"{_describe(a, b)})")


def mul(a, b):
    s, c = (a, b) if is_sparse(a) else (b, a)
    if is_sparse(c):
        raise unsupported(f"mul ({_describe(a, b)})", " (the elementwise product of two sparse tensors)")
    c = _scalar("mul", c)
    return SF.SparseScale.apply(s, s.dtype.type(c), False)


def div(a, b):
    if not is_sparse(a) or is_sparse(b):
        raise unsupported(f"div ({_describe(a, b)})", " (a sparse tensor divides only by a scalar)")
    return SF.SparseScale.apply(a, a.dtype.type(_scalar("div", b)), True)


def _need_2d(op, *xs):
    for x in xs:
        if is_sparse(x) and (x.ndim != 2 or x.array.dense_dim):
            raise unsupported(f"{op} ({_describe(*xs)})", " (a sparse operand of a product must be a 2-D tensor "
                              "without dense dims)")


def matmul(a, b):
    """sparse @ dense -> dense, dense @ sparse -> dense, sparse @ sparse -> sparse (2-D; a 1-D dense right operand
    is a vector, as torch.mv)."""
    _need_2d("mm", a, b)
    if a.dtype != b.dtype:
        raise RuntimeError(f"mm: expected both operands to have the same dtype, got {_describe(a, b)}")
    if a.shape[-1] != b.shape[0]:
        raise RuntimeError(f"mm: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be multiplied "
                           f"(inner dims {a.shape[-1]} and {b.shape[0]})")
    if is_sparse(a) and is_sparse(b):
        return SF.SpSpMM.apply(a, b)
    if is_sparse(a):
        if b.ndim == 1:
            return SF.SpMM.apply(a, b.unsqueeze(1)).squeeze(1)
        if b.ndim != 2:
            raise RuntimeError(f"mm: expected a 2-D dense operand, got {_describe(a, b)}")
        return SF.SpMM.apply(a, b)
    if a.ndim != 2:
        raise RuntimeError(f"mm: expected a 2-D dense operand, got {_describe(a, b)}")
    # D @ S = (S^T @ D^T)^T: the one product kernel, with S's gradient coming back through the transpose
    return SF.SpMM.apply(SF.SparsePermute.apply(b, (1, 0)), a.t()).t()


def sum_(a, dims, keepdim):
    if keepdim:
        raise unsupported(f"sum ({_describe(a)}, keepdim=True)", " (keepdim)")
    s = a.array
    dims = tuple(range(a.ndim)) if dims is None else tuple(dims)
    if any(d >= s.sparse_dim for d in dims):
        raise unsupported(f"sum ({_describe(a)}, dims {dims})", " (summing over the dense dims of a hybrid tensor)")
    return SF.SparseSum.apply(a, dims)


def permute(a, dims):
    dims = tuple(dims)
    k = a.array.sparse_dim
    if tuple(dims[k:]) != tuple(range(k, a.ndim)):
        raise unsupported(f"permute ({_describe(a)}, dims {dims})", " (moving the dense dims of a hybrid tensor)")
    return SF.SparsePermute.apply(a, dims[:k])


def cast(a, dtype):
    return SF.SparseCast.apply(a, dtype)


def to_device(a, device):
    if a.requires_grad and is_grad_enabled():
        raise unsupported(f"to({device}) of a sparse tensor that requires grad",
                          " (a differentiable device copy of a sparse tensor)")
    return Tensor._make(a.array.to_device(device), None)


_function.sparse_handlers.update({
    E.Add: add, E.Sub: sub, E.Mul: mul, E.Div: div, E.Neg: neg, MatMul: matmul, Sum: sum_, Permute: permute,
    E.Cast: cast, E.ToDevice: to_device,
})
