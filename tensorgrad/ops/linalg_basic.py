"""torch.linalg's solvers on square matrices: inv, solve, solve_triangular, det, slogdet, matrix_exp (and their
_ex / legacy spellings built on them: inv_ex, solve_ex, logdet, matrix_power, triangular_solve).

Every op batches over leading dims and runs NumPy/SciPy's LAPACK on the CPU (float32 and float64, as torch; integer
and half inputs are refused). Gradients are the standard matrix-calculus results torch uses:
  inv:   gA = -Y^T g Y^T                          (Y = A^-1)
  solve: gB = A^-T g, gA = -gB X^T                (X = A^-1 B)
  solve_triangular: the same, gA kept to A's triangle (strictly, when unitriangular)
  det:   gA = g cof(A), the cofactor matrix: det A^-T, or from the SVD where det is exactly 0 (finite there, as torch)
  slogdet: g_logabsdet A^-T (the sign has no gradient)
  matrix_exp: the upper-right block of exp([[A^T, g], [0, A^T]]) (Mathias' block-triangular identity)
Each backward_graph writes the same formula in differentiable tensorgrad ops, so second derivatives work.
Ops that return several tensors (slogdet) return one packed array, split into views by the wrapper (ops/linalg_util).
"""
import warnings
from collections import namedtuple

import numpy as np
import scipy.linalg

from ..autograd.function import Function
from ..tensor import Tensor
from .movement import cat, tril, triu
from .elementwise import where
from .linalg_util import (LinAlgError, check_matrix, check_same_dtype, broadcast_batch, mT, batch_shape, flat,
                          unflat, lu_solve_unchecked, trsm, info_tensor)

_InvEx = namedtuple("linalg_inv_ex", ["inverse", "info"])
_SolveEx = namedtuple("linalg_solve_ex", ["result", "info"])
_Slogdet = namedtuple("linalg_slogdet", ["sign", "logabsdet"])
_TriangularSolve = namedtuple("triangular_solve", ["solution", "cloned_coefficient"])


# -------------------------------------------------------------------------------------------------- inv / solve
def _solve_batch(op, a, b, check, singular_msg):
    """A^-1 B for stacks (B a stack of matrices, same batch as A); the info per matrix (0, or the 1-based index of
    the zero pivot), raising LinAlgError naming the first singular matrix when check."""
    try:
        return np.linalg.solve(a, b), np.zeros(a.shape[:-2], np.int32)
    except np.linalg.LinAlgError:
        pass
    af, bf = flat(a), flat(b)
    out = np.empty(bf.shape, a.dtype)
    info = np.zeros(af.shape[0], np.int32)
    for i in range(af.shape[0]):
        out[i], info[i] = lu_solve_unchecked(af[i], bf[i])
    if check:
        bad = int(np.flatnonzero(info)[0])
        where_ = f"(Batch element {bad}): " if a.ndim > 2 else ""
        raise LinAlgError(f"{op}: {where_}{singular_msg(int(info[bad]))} (shape {tuple(a.shape)}, {a.dtype})")
    return unflat(out, a.shape[:-2]), info.reshape(a.shape[:-2])


def _inv_msg(k):
    return (f"The diagonal element {k} is zero, the inversion could not be completed because the input matrix is "
            "singular.")


def _inv_array(a, op="linalg.inv", check=True):
    eye = np.broadcast_to(np.eye(a.shape[-1], dtype=a.dtype), a.shape)
    return _solve_batch(op, a, eye, check, _inv_msg)


class Inv(Function):
    """A^-1; ``info`` (a list, or None) receives the LAPACK info per matrix for the _ex variant."""

    def forward(self, a, check=True, op="linalg.inv", info=None):
        y, i = _inv_array(a, op, check)
        if info is not None:
            info.append(i)
        self.save_for_backward(y)
        return y

    def backward(self, g):
        yt = mT(self.saved_tensors[0])
        return -(yt @ g @ yt), None, None, None

    def backward_graph(self, g):
        yt = self.output(self.saved_tensors[0]).mT
        return -(yt @ g @ yt), None, None, None


def inv(A, *, _op="linalg.inv"):
    check_matrix(_op, A, complex_ok=True)
    return Inv.apply(A, True, _op, None)


def inv_ex(A, *, check_errors=False):
    check_matrix("linalg.inv_ex", A, complex_ok=True)
    info = []
    y = Inv.apply(A, check_errors, "linalg.inv_ex", info)
    return _InvEx(y, info_tensor(info[0]))


def _solve_msg(k):
    return "The solver failed because the input matrix is singular."


class Solve(Function):
    """X = A^-1 B, A (*, n, n) and B (*, n, k) of one batch shape."""

    def forward(self, a, b, check=True, op="linalg.solve", info=None):
        x, i = _solve_batch(op, a, b, check, _solve_msg)
        if info is not None:
            info.append(i)
        self.save_for_backward(a, x)
        return x

    def backward(self, g):
        a, x = self.saved_tensors
        gb, _ = _solve_batch("linalg.solve", mT(a), g, False, _solve_msg)
        return (-(gb @ mT(x)) if self.needs_input_grad[0] else None), gb, None, None, None

    def backward_graph(self, g):
        a, x = self.saved_tensors
        gb = Solve.apply(self.input(0, a).mT, g, False, "linalg.solve", None)
        return -(gb @ self.output(x).mT), gb, None, None, None


def _rhs(op, A, B, vector):
    """B as a stack of matrices broadcast with A's batch (torch's rule: a vector when B is 1-D, or when it has one dim
    fewer than A and matches A's shape without the last dim)."""
    check_same_dtype(op, A, B)
    if vector:
        B = B.unsqueeze(-1)
    if B.ndim < 2 or B.shape[-2] != A.shape[-1]:
        raise RuntimeError(f"{op}: Incompatible shapes of A and B for the equation AX = B "
                           f"({A.shape[-2]}x{A.shape[-1]} and {'x'.join(map(str, B.shape[-2:]))})")
    return broadcast_batch(op, A, B)


def _is_vector_rhs(A, B):
    return B.ndim == 1 or (B.ndim == A.ndim - 1 and tuple(B.shape) == tuple(A.shape[:-1]))


def _solve(op, A, B, left, check, info=None):
    check_matrix(op, A, complex_ok=True)
    if not isinstance(B, Tensor):
        raise TypeError(f"{op}: B must be a Tensor, got {type(B).__name__}")
    vector = _is_vector_rhs(A, B)
    if not left:  # X A = B  <=>  A^T X^T = B^T
        if vector:
            raise RuntimeError(f"{op}: Incompatible shapes of A and B for the equation XA = B "
                               f"({A.shape[-2]}x{A.shape[-1]} and {B.shape[-1]}x1)")
        return _solve(op, A.mT, B.mT, True, check, info).mT
    A2, B2 = _rhs(op, A, B, vector)
    x = Solve.apply(A2, B2, check, op, info)
    return x.squeeze(-1) if vector else x


def solve(A, B, *, left=True):
    return _solve("linalg.solve", A, B, left, True)


def solve_ex(A, B, *, left=True, check_errors=False):
    info = []
    x = _solve("linalg.solve_ex", A, B, left, check_errors, info)
    return _SolveEx(x, info_tensor(info[0]))


# ------------------------------------------------------------------------------------------------ triangular
def _triangle(t, upper, unit):
    return (triu(t, 1 if unit else 0) if upper else tril(t, -1 if unit else 0))


class SolveTriangular(Function):
    """X = A^-1 B for triangular A (only its triangle is read; unitriangular: its diagonal taken as ones)."""

    def forward(self, a, b, upper, unit):
        self.args = (upper, unit)
        x = trsm(a, b, lower=not upper, trans=False, unit=unit)
        self.save_for_backward(a, x)
        return x

    def backward(self, g):
        a, x = self.saved_tensors
        upper, unit = self.args
        gb = trsm(a, g, lower=not upper, trans=True, unit=unit)
        ga = None
        if self.needs_input_grad[0]:
            ga = -(gb @ mT(x))
            ga = np.triu(ga, 1 if unit else 0) if upper else np.tril(ga, -1 if unit else 0)
        return ga, gb, None, None

    def backward_graph(self, g):
        a, x = self.saved_tensors
        upper, unit = self.args
        gb = SolveTriangular.apply(self.input(0, a).mT, g, not upper, unit)
        return _triangle(-(gb @ self.output(x).mT), upper, unit), gb, None, None


def solve_triangular(A, B, *, upper, left=True, unitriangular=False, _op="linalg.solve_triangular"):
    check_matrix(_op, A, complex_ok=True)
    check_matrix(_op, B, square=False, name="B", complex_ok=True)
    check_same_dtype(_op, A, B)
    if not left:  # X A = B  <=>  A^T X^T = B^T, A^T triangular the other way
        return solve_triangular(A.mT, B.mT, upper=not upper, left=True, unitriangular=unitriangular, _op=_op).mT
    if B.shape[-2] != A.shape[-1]:
        raise RuntimeError(f"{_op}: Incompatible shapes of A and B for the equation AX = B "
                           f"({A.shape[-2]}x{A.shape[-1]} and {B.shape[-2]}x{B.shape[-1]})")
    A2, B2 = broadcast_batch(_op, A, B)
    return SolveTriangular.apply(A2, B2, bool(upper), bool(unitriangular))


def triangular_solve(b, A, upper=True, transpose=False, unitriangular=False):
    """torch.triangular_solve (deprecated in torch, still there): (A^-1 b or A^-T b, a copy of A)."""
    warnings.warn("torch.triangular_solve is deprecated in favor of torch.linalg.solve_triangular and will be removed "
                  "in a future PyTorch release.", UserWarning, stacklevel=2)
    check_matrix("triangular_solve", A)
    check_matrix("triangular_solve", b, square=False, name="b")
    A2, b2 = broadcast_batch("triangular_solve", A, b)
    M = A2.mT if transpose else A2
    x = solve_triangular(M, b2, upper=upper != bool(transpose), unitriangular=unitriangular, _op="triangular_solve")
    return _TriangularSolve(x, A2.clone())


# ---------------------------------------------------------------------------------------------- determinants
class Slogdet(Function):
    """(sign, log|det|) packed on a last axis of 2."""

    def forward(self, a):
        s, ld = np.linalg.slogdet(a)
        self.save_for_backward(a)
        return np.stack([np.asarray(s), np.asarray(ld)], -1).astype(a.dtype, copy=False)

    def backward(self, g):
        a, = self.saved_tensors
        return g[..., 1, None, None] * mT(_inv_array(a, check=False)[0])

    def backward_graph(self, g):
        a, = self.saved_tensors
        return g[..., 1].unsqueeze(-1).unsqueeze(-1) * Inv.apply(self.input(0, a), False, "linalg.slogdet", None).mT


def slogdet(A, *, _op="linalg.slogdet"):
    check_matrix(_op, A, complex_ok=True)
    p = Slogdet.apply(A)
    lad = p[..., 1]  # (packed with a complex sign, complex-typed: its real part is the value)
    return _Slogdet(p[..., 0], lad.real if lad.dtype.kind == "c" else lad)


def logdet(A):
    """torch.logdet: log det A; NaN where det < 0 (its gradient 0 there), -inf where det = 0; complex for a complex
    A: log|det| + i arg det."""
    sign, lad = slogdet(A, _op="logdet")
    if sign.dtype.kind == "c":
        return lad + sign.log()
    return where(sign == -1, float("nan"), lad)


# ------------------------------------------------------------------------------------------- matrix functions
class MatrixExp(Function):
    def forward(self, a):
        self.save_for_backward(a)
        return scipy.linalg.expm(a).astype(a.dtype, copy=False) if a.size else a.copy()

    def backward(self, g):
        a, = self.saved_tensors
        n = a.shape[-1]
        block = np.zeros(batch_shape(a) + (2 * n, 2 * n), a.dtype)
        block[..., :n, :n] = block[..., n:, n:] = mT(a)
        block[..., :n, n:] = g
        return scipy.linalg.expm(block)[..., :n, n:].astype(a.dtype, copy=False) if a.size else np.zeros_like(a)

    def backward_graph(self, g):
        at = self.input(0, self.saved_tensors[0]).mT
        n = at.shape[-1]
        block = cat([cat([at, g], -1), cat([at * 0, at], -1)], -2)
        return matrix_exp(block)[..., :n, n:]


def matrix_exp(A):
    check_matrix("linalg.matrix_exp", A, complex_ok=True)
    return MatrixExp.apply(A)


def matrix_power(A, n):
    """A^n by repeated squaring (n < 0: of A^-1); n = 0 the identity (its gradient zero, as torch). Integer
    matrices are allowed for n >= 0, as torch."""
    op = "linalg.matrix_power"
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
        raise TypeError(f"{op}: n must be an int, got {n!r}")
    check_matrix(op, A, float_only=n < 0, complex_ok=True)
    if n < 0:
        A, n = inv(A, _op=op), -n
    if n == 0:
        eye = Tensor._make(np.broadcast_to(np.eye(A.shape[-1], dtype=A.dtype), A.shape).copy(), None)
        return A * 0 + eye if A.requires_grad else eye
    result, base = None, A
    while n:
        if n & 1:
            result = base if result is None else result @ base
        n >>= 1
        if n:
            base = base @ base
    return result if result is not A else A.clone()


__all__ = ["LinAlgError", "inv", "inv_ex", "solve", "solve_ex", "solve_triangular", "triangular_solve", "slogdet",
           "logdet", "matrix_exp", "matrix_power"]
