"""torch.linalg's compositions: norm / matrix_norm (every ord torch takes) / cond, multi_dot, cross, vecdot,
cholesky_solve / cholesky_inverse, tensorinv / tensorsolve, vander, diagonal. Built from differentiable tensorgrad ops
(vector_norm, svdvals, inv, solve, amax...), so their gradients -- and double backward -- follow from those.

Matrix norms as torch defines them: 'fro' = the 2-norm of the entries, 'nuc' = sum of singular values, 2 / -2 = the
largest / smallest singular value, 1 / -1 = max / min column sum of |A|, inf / -inf = max / min row sum of |A|.
"""
import math

import numpy as np

from ..tensor import Tensor
from .reduce import vector_norm, amax, amin
from .movement import movedim, roll, cat
from .elementwise import where
from .indexing import diagonal as _diagonal
from .linalg_util import check_float, check_matrix, check_same_dtype
from .linalg_basic import inv, inv_ex, solve
from .linalg_decomp import svdvals

_MATRIX_ORDS = ("fro", "nuc", 2, -2, 1, -1, math.inf, -math.inf)


def _dims2(op, A, dim):
    if not isinstance(dim, (tuple, list)) or len(dim) != 2:
        raise RuntimeError(f"{op}: dim must be a 2-tuple of ints, got {dim!r}")
    d0, d1 = (d + A.ndim if d < 0 else d for d in dim)
    if not (0 <= d0 < A.ndim and 0 <= d1 < A.ndim):
        raise IndexError(f"{op}: dim {tuple(dim)} out of range for a tensor of {A.ndim} dims")
    if d0 == d1:
        raise RuntimeError(f"{op}: dims must be different, got ({d0}, {d1})")
    return d0, d1


def _keep(r, d0, d1, keepdim):
    if keepdim:
        for d in sorted((d0, d1)):
            r = r.unsqueeze(d)
    return r


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None):
    op = "linalg.matrix_norm"
    if not isinstance(A, Tensor):
        raise TypeError(f"{op}: A must be a Tensor, got {type(A).__name__}")
    if A.ndim < 2:
        raise RuntimeError(f"{op}: The input tensor A must have at least 2 dimensions (got shape {tuple(A.shape)})")
    if not any(ord == o and type(ord) is not bool for o in _MATRIX_ORDS if isinstance(o, str) == isinstance(ord, str)):
        raise RuntimeError(f"{op}: Order {ord} not supported (one of 'fro', 'nuc', inf, -inf, 1, -1, 2, -2)")
    d0, d1 = _dims2(op, A, dim)
    if dtype is not None:
        A = A.to(dtype)
    if ord == "fro":
        return vector_norm(A, 2, (d0, d1), keepdim, _op=op)
    if A.dtype.kind == "c" and ord not in ("nuc", 2, -2):  # sums of |A|: real from here on
        A = A.abs()
    check_float(op, A, complex_ok=True)
    if ord in ("nuc", 2, -2):
        s = svdvals(movedim(A, (d0, d1), (-2, -1)))
        r = s.sum(-1) if ord == "nuc" else amax(s, -1) if ord == 2 else amin(s, -1)
        return _keep(r, d0, d1, keepdim)
    if any(A.shape[d] == 0 for d in (d0, d1)):
        raise RuntimeError(f"{op}: the {ord} norm of an empty matrix (shape {tuple(A.shape)}) is not defined")
    big = amax if ord > 0 else amin
    inner, outer = (d0, d1) if abs(ord) == 1 else (d1, d0)  # 1: column sums (over rows); inf: row sums
    r = big(A.abs().sum(inner, keepdim=True), outer, keepdim=True)
    return r if keepdim else r.squeeze((d0, d1))


def norm(A, ord=None, dim=None, keepdim=False, *, dtype=None):
    """torch.linalg.norm: a matrix norm for a 2-tuple dim (or a 2-D input with ord and no dim), else a vector norm."""
    op = "linalg.norm"
    if not isinstance(A, Tensor):
        raise TypeError(f"{op}: A must be a Tensor, got {type(A).__name__}")
    if isinstance(dim, int):
        dim = (dim,)
    if dim is not None:
        if len(dim) == 2:
            return matrix_norm(A, "fro" if ord is None else ord, dim, keepdim, dtype=dtype)
        if isinstance(ord, str):
            raise RuntimeError(f"{op}: ord={ord!r} is a matrix norm: dim must be a 2-tuple, got {dim}")
        return vector_norm(A, 2 if ord is None else ord, dim, keepdim, dtype=dtype, _op=op)
    if ord is None:
        return vector_norm(A, 2, None, keepdim, dtype=dtype, _op=op)
    if A.ndim == 2:
        return matrix_norm(A, ord, (-2, -1), keepdim, dtype=dtype)
    if A.ndim != 1:
        raise RuntimeError(f"{op}: If dim is not specified but ord is, the input must be 1D or 2D. Got {A.ndim}D.")
    if isinstance(ord, str):
        raise RuntimeError(f"{op}: ord={ord!r} is a matrix norm and the input is 1-D (shape {tuple(A.shape)})")
    return vector_norm(A, ord, None, keepdim, dtype=dtype, _op=op)


def cond(A, p=None):
    """The condition number in the p-norm: s_max / s_min (p None or 2; -2 its inverse), else
    norm(A, p) norm(A^-1, p) -- inf for a singular matrix, as torch."""
    op = "linalg.cond"
    if p is None or (p in (2, -2) and not isinstance(p, (str, bool))):
        check_matrix(op, A, square=False, complex_ok=True)
        s = svdvals(A)
        big, small = s[..., 0], s[..., -1]
        return big / small if p != -2 else small / big
    check_matrix(f"linalg.cond(ord={p})", A, complex_ok=True)
    Ainv, info = inv_ex(A)
    r = matrix_norm(A, p) * matrix_norm(Ainv, p)
    return where(Tensor._make(info.array > 0, None), math.inf, r) if bool((info.array > 0).any()) else r


def vecdot(x, y, *, dim=-1):
    """sum(conj(x) * y) over dim, as torch's (conj is a no-op on a real x)."""
    return (x.conj() * y).sum(dim)


def cross(input, other, *, dim=-1, _op="linalg.cross"):
    """The cross product of 3-vectors along dim (broadcasting the other dims)."""
    if not (isinstance(input, Tensor) and isinstance(other, Tensor)):
        raise TypeError(f"{_op}: expected two Tensors")
    if input.ndim != other.ndim:
        raise RuntimeError(f"{_op}: inputs must have the same number of dimensions, got shapes {tuple(input.shape)} "
                           f"and {tuple(other.shape)}")
    try:
        shape = tuple(np.broadcast_shapes(tuple(input.shape), tuple(other.shape)))
    except ValueError:
        raise RuntimeError(f"{_op}: shapes {tuple(input.shape)} and {tuple(other.shape)} cannot be broadcast") from None
    if not -len(shape) <= dim < len(shape):
        raise IndexError(f"{_op}: dim {dim} out of range for shapes {tuple(input.shape)} and {tuple(other.shape)}")
    dim = dim - len(shape) if dim >= 0 else dim  # (counted from the end: the broadcast may add leading dims)
    sizes = [t.shape[dim] if t.ndim >= -dim else 1 for t in (input, other)]
    if sizes != [3, 3]:
        raise RuntimeError(f"{_op}: inputs dimension {dim} must have length 3. Got {sizes[0]} and {sizes[1]}")
    a, b = input.expand(shape), other.expand(shape)
    # c_i = a_{i+1} b_{i+2} - a_{i+2} b_{i+1}
    return roll(a, -1, dim) * roll(b, -2, dim) - roll(a, -2, dim) * roll(b, -1, dim)


def cross_legacy(input, other, dim=None):
    """torch.cross: dim defaults to the first dim of size 3 (torch warns that this default is deprecated)."""
    if dim is None:
        dim = next((i for i, (s, t) in enumerate(zip(input.shape, other.shape)) if s == 3 and t == 3), None)
        if dim is None:
            raise RuntimeError(f"cross: no dimension of size 3 in input (shapes {tuple(input.shape)} and "
                               f"{tuple(other.shape)})")
    return cross(input, other, dim=dim, _op="cross")


def multi_dot(tensors):
    """A chain of matmuls in the cheapest order (the first may be a 1-D row vector, the last a 1-D column vector)."""
    op = "linalg.multi_dot"
    ts = list(tensors)
    if len(ts) < 2:
        raise RuntimeError(f"{op}: expected at least 2 tensors but got {len(ts)}")
    for i, t in enumerate(ts):
        want = (1, 2) if i in (0, len(ts) - 1) else (2,)
        if t.ndim not in want:
            raise RuntimeError(f"{op}: tensor {i} must be {' or '.join(f'{w}D' for w in want)} but got {t.ndim}D")
    first_vec, last_vec = ts[0].ndim == 1, ts[-1].ndim == 1
    if first_vec:
        ts[0] = ts[0].unsqueeze(0)
    if last_vec:
        ts[-1] = ts[-1].unsqueeze(-1)
    for i in range(len(ts) - 1):
        if ts[i].shape[1] != ts[i + 1].shape[0]:
            raise RuntimeError(f"{op}: tensors {i} and {i + 1} with shapes {tuple(ts[i].shape)} and "
                               f"{tuple(ts[i + 1].shape)} cannot be multiplied")
    r = _chain(ts)
    if first_vec:
        r = r.squeeze(0)
    if last_vec:
        r = r.squeeze(-1)
    return r


def _chain(ts):
    """The matrix-chain product in the order of least multiplications (the textbook dynamic program)."""
    n = len(ts)
    dims = [ts[0].shape[0]] + [t.shape[1] for t in ts]
    cost = [[0] * n for _ in range(n)]
    split = [[0] * n for _ in range(n)]
    for length in range(1, n):
        for i in range(n - length):
            j = i + length
            cost[i][j] = math.inf
            for k in range(i, j):
                c = cost[i][k] + cost[k + 1][j] + dims[i] * dims[k + 1] * dims[j + 1]
                if c < cost[i][j]:
                    cost[i][j], split[i][j] = c, k

    def build(i, j):
        return ts[i] if i == j else build(i, split[i][j]) @ build(split[i][j] + 1, j)
    return build(0, n - 1)


# ------------------------------------------------------------------------------------------- Cholesky solves
def _gram(L, upper):
    """L L^H (upper: L^H L; ^T for a real L) of a Cholesky factor: LAPACK reads only its triangle, so that is the
    value; torch differentiates the op as a function of the whole matrix, so the gradient is that of the full
    product."""
    G = L.mH @ L if upper else L @ L.mH
    if not (L.tril(-1) if upper else L.triu(1)).array.any():
        return G
    T = (L.triu() if upper else L.tril()).detach()
    return G - (G.detach() - (T.mH @ T if upper else T @ T.mH))


def cholesky_solve(B, L, upper=False):
    """X with (L L^H) X = B (upper: (U^H U) X = B), for a Cholesky factor L."""
    op = "cholesky_solve"
    check_matrix(op, L, complex_ok=True)
    check_matrix(op, B, square=False, name="B", complex_ok=True)
    check_same_dtype(op, L, B)
    return solve(_gram(L, upper), B)


def cholesky_inverse(L, upper=False):
    """(L L^H)^-1 (upper: (U^H U)^-1) for a Cholesky factor L."""
    check_matrix("cholesky_inverse", L, complex_ok=True)
    return inv(_gram(L, upper), _op="cholesky_inverse")


# ---------------------------------------------------------------------------------------------- tensor forms
def tensorinv(A, ind=2):
    op = "linalg.tensorinv"
    if ind <= 0:
        raise RuntimeError(f"{op}: Expected a strictly positive integer for 'ind', but got {ind}")
    out_shape, in_shape = tuple(A.shape[ind:]), tuple(A.shape[:ind])
    rows, cols = int(np.prod(in_shape)), int(np.prod(out_shape))
    if rows != cols:
        raise RuntimeError(f"{op}: Expected self to satisfy the requirement prod(self.shape[ind:]) == "
                           f"prod(self.shape[:ind]), but got {cols} != {rows}")
    return inv(A.reshape(rows, cols), _op=op).reshape(out_shape + in_shape)


def tensorsolve(A, B, dims=None):
    op = "linalg.tensorsolve"
    if dims is not None:
        dims = [d + A.ndim if d < 0 else d for d in dims]
        A = movedim(A, dims, list(range(A.ndim - len(dims), A.ndim)))
    rest = tuple(A.shape[B.ndim:])
    rows, cols = int(np.prod(tuple(B.shape))), int(np.prod(rest))
    if rows != cols:
        raise RuntimeError(f"{op}: Expected self to satisfy the requirement prod(self.shape[other.ndim:]) == "
                           f"prod(self.shape[:other.ndim]), but got {cols} != {rows}")
    return solve(A.reshape(rows, cols), B.reshape(rows)).reshape(rest)


def vander(x, *, N=None):
    """Columns x^0, x^1, ..., x^(N-1) (torch.linalg.vander: increasing powers)."""
    if x.ndim < 1:
        raise RuntimeError("linalg.vander: x must have at least one dimension")
    N = x.shape[-1] if N is None else N
    if N < 1:
        raise RuntimeError(f"linalg.vander: N must be greater than 1, got {N}")
    if N == 1:
        return x.unsqueeze(-1) ** 0
    cols = [x.unsqueeze(-1) ** 0, x.unsqueeze(-1)]
    for _ in range(N - 2):
        cols.append(cols[-1] * x.unsqueeze(-1))
    return cat(cols, -1)


def diagonal(A, *, offset=0, dim1=-2, dim2=-1):
    return _diagonal(A, offset, dim1, dim2)


__all__ = ["matrix_norm", "norm", "cond", "vecdot", "cross", "cross_legacy", "multi_dot", "cholesky_solve",
           "cholesky_inverse", "tensorinv", "tensorsolve", "vander", "diagonal"]
