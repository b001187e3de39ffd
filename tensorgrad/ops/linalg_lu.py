"""torch.linalg's pivoted factorizations and their solvers: lu_factor(_ex), lu, lu_solve, ldl_factor(_ex), ldl_solve,
and torch's older spellings torch.lu, torch.lu_solve, torch.lu_unpack.

LU: LAPACK getrf per matrix (SciPy), any m x n, partial pivoting only (torch's CPU refuses pivot=False too). Pivots
are LAPACK's: int32, 1-based, row i swapped with row pivots[i] - 1 in turn; A = P L U with L unit lower (m x k),
U upper (k x n), k = min(m, n). The gradient of LU is torch's (linalg_lu_backward, real case), written once in
differentiable tensorgrad ops, so the double backward is free:
  square: gA = P L^-T (tril(L^T gL, -1) + triu(gU U^T)) U^-T
  wide:   gA = P L^-T [ (tril(L^T gL - triu(gU) U^T, -1) U1^-T + triu(gU1)) | gU2 ]
  tall:   gA = P [ L1^-T triu(gU U^T - L^T tril(gL, -1)) + tril(gL1, -1) ; gL2 ] U^-T
linalg.lu, lu_unpack and lu_solve are compositions of it with tril / triu / solve_triangular, whose gradients are
torch's for these ops.
LDL (Bunch-Kaufman, LAPACK sytrf / sytrs, the lower triangle): torch defines no derivative for either; their outputs
require grad and backward through them raises, as torch's.
"""
import warnings
from collections import namedtuple

import numpy as np
import scipy.linalg.lapack

from .. import dtypes
from ..autograd.function import Function
from ..legacy import scalar_type_name
from ..tensor import Tensor
from .movement import cat, tril, triu
from .linalg_util import LinAlgError, check_float, check_matrix, batch_shape, flat, unflat, info_tensor
from .linalg_basic import solve_triangular

_LuFactor = namedtuple("linalg_lu_factor", ["LU", "pivots"])
_LuFactorEx = namedtuple("linalg_lu_factor_ex", ["LU", "pivots", "info"])
_Lu = namedtuple("linalg_lu", ["P", "L", "U"])
_LuUnpack = namedtuple("lu_unpack", ["P", "L", "U"])
_LuWithInfo = namedtuple("_lu_with_info", ["LU", "pivots", "info"])
_LdlFactor = namedtuple("linalg_ldl_factor", ["LD", "pivots"])
_LdlFactorEx = namedtuple("linalg_ldl_factor_ex", ["LD", "pivots", "info"])


def check_lapack_input(op, kernel, A, name="input"):
    """torch's refusal of a non-float input to a LAPACK kernel (NotImplementedError '"lu_cpu" not implemented for
    'Long''), and of a Tensor of fewer than 2 dims."""
    if not isinstance(A, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor, got {type(A).__name__}")
    if A.ndim < 2:
        raise RuntimeError(f"{op}: {name} must have at least 2 dimensions (got shape {tuple(A.shape)})")
    if A.dtype not in (dtypes.float32, dtypes.float64):
        raise NotImplementedError(f"{op}: \"{kernel}\" not implemented for '{scalar_type_name(A.dtype)}' (shape "
                                  f"{tuple(A.shape)}): use float32 or float64")
    check_matrix(op, A, square=False, name=name)


def _check_pivots(op, pivots, LU, need):
    if not isinstance(pivots, Tensor) or pivots.dtype != dtypes.int32:
        got = type(pivots).__name__ if not isinstance(pivots, Tensor) else dtypes.name(pivots.dtype)
        raise RuntimeError(f"{op}: pivots should be a Tensor of scalar type torch.int32 (got {got}); pass the pivots "
                           "linalg.lu_factor returned")
    if pivots.ndim != LU.ndim - 1 or pivots.shape[-1] != need:
        raise RuntimeError(f"{op}: Number of pivots per batch should be same as the dimension of the matrix "
                           f"(LU {tuple(LU.shape)}, pivots {tuple(pivots.shape)})")


# ----------------------------------------------------------------------------------------------- LU factor
def _getrf(a):
    """(LU, 1-based int32 pivots, info) of a stack of m x n matrices."""
    m, n = a.shape[-2:]
    k = min(m, n)
    batch = batch_shape(a)
    af = flat(a)
    lu = np.array(af, order="C", copy=True)
    piv = np.zeros((af.shape[0], k), np.int32)
    info = np.zeros(af.shape[0], np.int32)
    if k:
        getrf, = scipy.linalg.lapack.get_lapack_funcs(("getrf",), (af,))
        for i in range(af.shape[0]):
            lu[i], p, info[i] = getrf(af[i])
            piv[i] = p + 1  # SciPy's wrapper shifts LAPACK's pivots to 0-based; torch returns LAPACK's
    return unflat(lu, batch), piv.reshape(batch + (k,)), info.reshape(batch)


def permutation(piv, m, dtype):
    """The m x m matrices P of LAPACK pivots (*, k): A = P L U."""
    batch = piv.shape[:-1]
    pf = piv.reshape((int(np.prod(batch, dtype=np.int64)), piv.shape[-1])).astype(np.int64) - 1
    perm = np.tile(np.arange(m), (pf.shape[0], 1))
    rows = np.arange(pf.shape[0])
    for i in range(pf.shape[1]):
        j = pf[:, i]
        a, b = perm[rows, i].copy(), perm[rows, j].copy()
        perm[rows, i], perm[rows, j] = b, a
    P = np.zeros((pf.shape[0], m, m), dtype)
    P[rows[:, None], perm, np.arange(m)[None, :]] = 1
    return P.reshape(batch + (m, m))


def _factors(LU):
    """L (unit lower, m x k) and U (upper, k x n) of a packed LU Tensor (differentiable: tril / triu)."""
    m, n = LU.shape[-2:]
    k = min(m, n)
    eye = Tensor._make(np.eye(m, k, dtype=LU.array.dtype), None)
    return tril(LU[..., :, :k], -1) + eye, triu(LU[..., :k, :])


def lu_vjp(P, L, U, gL, gU):
    """torch's linalg_lu_backward (real case) on Tensors; P a constant Tensor."""
    m, n = L.shape[-2], U.shape[-1]
    k = min(m, n)
    if m == n:
        gA = tril(L.mT @ gL, -1) + triu(gU @ U.mT)
        gA = solve_triangular(U.mT, gA, upper=False, left=False)
        gA = solve_triangular(L.mT, gA, upper=True, unitriangular=True)
    elif m < n:
        gA = tril(L.mT @ gL - triu(gU) @ U.mT, -1)
        gA = solve_triangular(U[..., :, :k].mT, gA, upper=False, left=False)
        gA = cat([gA + triu(gU[..., :, :k]), gU[..., :, k:]], -1)
        gA = solve_triangular(L.mT, gA, upper=True, unitriangular=True)
    else:
        gA = triu(gU @ U.mT - L.mT @ tril(gL, -1))
        gA = solve_triangular(L[..., :k, :].mT, gA, upper=True, unitriangular=True)
        gA = cat([gA + tril(gL[..., :k, :], -1), gL[..., k:, :]], -2)
        gA = solve_triangular(U.mT, gA, upper=False, left=False)
    return P @ gA


def _lu_factor_vjp(LU, piv, g):
    m, n = LU.shape[-2:]
    k = min(m, n)
    if LU.numel() == 0:
        return g * 0
    L, U = _factors(LU)
    P = Tensor._make(permutation(piv, m, LU.array.dtype), None)
    return lu_vjp(P, L, U, g[..., :, :k], g[..., :k, :])


class LuFactor(Function):
    """The packed LU of A (m x n); the pivots and LAPACK's info ride on ``extra`` (integers: no gradient)."""

    def forward(self, a, check, op, extra):
        lu, piv, info = _getrf(a)
        if check and info.any():
            bad = int(np.flatnonzero(info.reshape(-1))[0])
            j = int(info.reshape(-1)[bad])
            where_ = f"(Batch element {bad}): " if a.ndim > 2 else ""
            raise LinAlgError(f"{op}: {where_}U[{j},{j}] is zero and using it on lu_solve would result in a division "
                              f"by zero (shape {tuple(a.shape)}, {a.dtype}). If you still want to perform the "
                              "factorization, consider calling linalg.lu(A, pivot) or linalg.lu_factor_ex(A, pivot)")
        extra.extend([piv, info])
        self.save_for_backward(lu, piv)
        return lu

    def backward(self, g):
        lu, piv = self.saved_tensors
        return _lu_factor_vjp(Tensor._make(lu, None), piv, Tensor._make(g, None)).array, None, None, None

    def backward_graph(self, g):
        lu, piv = self.saved_tensors
        return _lu_factor_vjp(self.output(lu), piv, g), None, None, None


def _lu_factor(op, A, pivot, check):
    check_lapack_input(op, "lu_cpu", A, name="A")
    if not pivot:
        raise RuntimeError(f"{op}: LU without pivoting is not implemented on the CPU")
    extra = []
    LU = LuFactor.apply(A, check, op, extra)
    return LU, Tensor._make(extra[0], None), info_tensor(extra[1])


def lu_factor(A, *, pivot=True):
    LU, piv, _ = _lu_factor("linalg.lu_factor", A, pivot, True)
    return _LuFactor(LU, piv)


def lu_factor_ex(A, *, pivot=True, check_errors=False):
    return _LuFactorEx(*_lu_factor("linalg.lu_factor_ex", A, pivot, bool(check_errors)))


def _unpack(LU, piv_array, unpack_data, unpack_pivots):
    m = LU.shape[-2]
    dt = LU.array.dtype
    empty = Tensor._make(np.zeros((0,), dt), None)
    P = Tensor._make(permutation(piv_array, m, dt), None) if unpack_pivots else empty
    L, U = _factors(LU) if unpack_data else (empty, empty)
    return P, L, U


def lu(A, *, pivot=True):
    """linalg.lu: (P, L, U) with A = P L U (no error on a singular A, as torch)."""
    LU, piv, _ = _lu_factor("linalg.lu", A, pivot, False)
    return _Lu(*_unpack(LU, piv.array, True, True))


def lu_unpack(LU_data, LU_pivots, unpack_data=True, unpack_pivots=True):
    op = "torch.lu_unpack"
    check_matrix(op, LU_data, square=False, name="LU_data")
    if not isinstance(LU_pivots, Tensor) or LU_pivots.dtype != dtypes.int32:
        raise RuntimeError(f"{op}: LU_pivots is expected to be a contiguous tensor of torch.int32 dtype (got "
                           f"{dtypes.name(LU_pivots.dtype) if isinstance(LU_pivots, Tensor) else type(LU_pivots)})."
                           "\nNote: this function is intended to be used with the output produced by "
                           "torch.linalg.lu_factor")
    m, n = LU_data.shape[-2:]
    if (tuple(LU_pivots.shape[:-1]) != batch_shape(LU_data) or LU_pivots.shape[-1] > min(m, n)):
        raise RuntimeError(f"{op}: LU_pivots of shape {tuple(LU_pivots.shape)} do not match LU_data of shape "
                           f"{tuple(LU_data.shape)} (expected {batch_shape(LU_data) + (min(m, n),)})")
    piv = LU_pivots.array
    if unpack_pivots and piv.size and (piv.min() < 1 or piv.max() > m):
        raise RuntimeError(f"{op}: pivots passed to lu_unpack must be between 1 and LU.size(-2) = {m} inclusive "
                           f"(got values in [{int(piv.min())}, {int(piv.max())}]). Did you properly pass the result "
                           "of lu_factor?")
    return _LuUnpack(*_unpack(LU_data, piv, unpack_data, unpack_pivots))


# ------------------------------------------------------------------------------------------------- LU solve
def lu_solve(LU, pivots, B, *, left=True, adjoint=False):
    """X with A X = B (A^T X = B when adjoint; X A = B when not left) for A = P L U given by lu_factor: two
    triangular solves reading LU's triangles and a permutation, each differentiable."""
    op = "linalg.lu_solve"
    check_lapack_input(op, "lu_cpu", LU, name="LU")
    if LU.shape[-1] != LU.shape[-2]:
        raise RuntimeError(f"torch.{op}: A must be batches of square matrices, but they are {LU.shape[-2]} by "
                           f"{LU.shape[-1]} matrices")
    if not isinstance(B, Tensor) or B.ndim < 2:
        raise RuntimeError(f"{op}: The input tensor B must have at least 2 dimensions (got "
                           f"{tuple(B.shape) if isinstance(B, Tensor) else type(B).__name__})")
    if B.dtype != LU.dtype:
        raise RuntimeError(f"{op}: Expected LU and B to have the same dtype, but found LU of type "
                           f"{dtypes.name(LU.dtype)} and B of type {dtypes.name(B.dtype)} instead")
    n = LU.shape[-1]
    _check_pivots(op, pivots, LU, n)
    if (B.shape[-2] if left else B.shape[-1]) != n:
        eq = "AX = B" if left else "XA = B"
        raise RuntimeError(f"{op}: Incompatible shapes of A and B for the equation {eq} ({n}x{n} and "
                           f"{B.shape[-2]}x{B.shape[-1]})")
    piv = pivots.array
    if piv.size and (piv.min() < 1 or piv.max() > n):
        raise RuntimeError(f"{op}: Pivots given to lu_solve must all be between 1 and LU.size(-2) = {n} (got values "
                           f"in [{int(piv.min())}, {int(piv.max())}]). Did you properly pass the result of lu_factor?")
    try:
        np.broadcast_shapes(batch_shape(LU), tuple(pivots.shape[:-1]), batch_shape(B))
    except ValueError:
        raise RuntimeError(f"{op}: the batch dimensions of LU {tuple(LU.shape)}, pivots {tuple(pivots.shape)} and B "
                           f"{tuple(B.shape)} cannot be broadcast together") from None
    P = Tensor._make(permutation(piv, n, LU.array.dtype), None)
    if not left:  # X A = B <=> A^T X^T = B^T
        return _lu_solve_left(LU, P, B.mT, not adjoint).mT
    return _lu_solve_left(LU, P, B, adjoint)


def _lu_solve_left(LU, P, B, adjoint):
    if not adjoint:  # X = U^-1 L^-1 P^T B
        Y = solve_triangular(LU, P.mT @ B, upper=False, unitriangular=True, _op="linalg.lu_solve")
        return solve_triangular(LU, Y, upper=True, _op="linalg.lu_solve")
    # A^T X = U^T L^T P^T X = B: X = P L^-T U^-T B
    Y = solve_triangular(LU.mT, B, upper=False, _op="linalg.lu_solve")
    return P @ solve_triangular(LU.mT, Y, upper=True, unitriangular=True, _op="linalg.lu_solve")


# ---------------------------------------------------------------------------------------- torch.* spellings
def lu_legacy(A, pivot=True, get_infos=False):
    """torch.lu (deprecated in torch for linalg.lu_factor(_ex)): never raises on a singular A, as torch's."""
    warnings.warn("torch.lu is deprecated in favor of torch.linalg.lu_factor / torch.linalg.lu_factor_ex and will be "
                  "removed in a future PyTorch release.", UserWarning, stacklevel=2)
    LU, piv, info = _lu_factor("torch.lu", A, pivot, False)
    return _LuWithInfo(LU, piv, info) if get_infos else (LU, piv)


def lu_method(self, pivot=True, get_infos=False):
    """Tensor.lu: torch.lu, its three results a plain tuple (torch's method unpacks _lu_with_info)."""
    return tuple(lu_legacy(self, pivot, get_infos))


def lu_solve_legacy(b, LU_data, LU_pivots):
    """torch.lu_solve(b, LU_data, LU_pivots): linalg.lu_solve with its arguments reversed."""
    warnings.warn("torch.lu_solve is deprecated in favor of torch.linalg.lu_solve and will be removed in a future "
                  "PyTorch release. Note that torch.linalg.lu_solve has its arguments reversed.", UserWarning,
                  stacklevel=2)
    return lu_solve(LU_data, LU_pivots, b)


# ---------------------------------------------------------------------------------------------------- LDL
def _ldl_no_derivative(name):
    raise RuntimeError(f"derivative for aten::{name} is not implemented (as in PyTorch): the LDL factorization and "
                       "solve are not differentiable; use linalg.solve or linalg.cholesky for gradients")


class LdlFactor(Function):
    """LAPACK sytrf per matrix on the lower triangle: the packed L and D (upper triangle zeroed, as torch) and
    Bunch-Kaufman pivots (1-based, negative for a 2 x 2 block) and info on ``extra``. No derivative (torch has
    none)."""

    def forward(self, a, op, check, extra):
        batch = batch_shape(a)
        af = flat(a)
        ld = np.zeros_like(af)
        n = a.shape[-1]
        piv = np.zeros((af.shape[0], n), np.int32)
        info = np.zeros(af.shape[0], np.int32)
        if n:
            sytrf, = scipy.linalg.lapack.get_lapack_funcs(("sytrf",), (af,))
            for i in range(af.shape[0]):
                f, piv[i], info[i] = sytrf(af[i], lower=1)
                ld[i] = np.tril(f)
        if check and info.any():
            bad = int(np.flatnonzero(info)[0])
            where_ = f"(Batch element {bad}): " if a.ndim > 2 else ""
            raise LinAlgError(f"{op}: {where_}The factorization could not be completed because the input is "
                              f"singular: D[{int(info[bad])},{int(info[bad])}] is exactly zero (shape "
                              f"{tuple(a.shape)}, {a.dtype}); linalg.ldl_factor_ex returns it with info instead")
        extra.extend([piv.reshape(batch + (n,)), info.reshape(batch)])
        return unflat(ld, batch)

    def backward(self, g):
        _ldl_no_derivative("linalg_ldl_factor_ex")

    backward_graph = backward


def _ldl_factor(op, A, hermitian, check):
    check_matrix(op, A)
    extra = []
    LD = LdlFactor.apply(A, op, check, extra)
    return LD, Tensor._make(extra[0], None), info_tensor(extra[1])


def ldl_factor(A, *, hermitian=False):
    """(LD, pivots) of A's lower triangle; hermitian is the same factorization for real A."""
    LD, piv, _ = _ldl_factor("torch.linalg.ldl_factor", A, hermitian, True)
    return _LdlFactor(LD, piv)


def ldl_factor_ex(A, *, hermitian=False, check_errors=False):
    return _LdlFactorEx(*_ldl_factor("torch.linalg.ldl_factor_ex", A, hermitian, bool(check_errors)))


class LdlSolve(Function):
    """LAPACK sytrs per matrix (LD, pivots, B already broadcast to one batch). No derivative (torch has none)."""

    def forward(self, ld, b, piv):
        out = np.empty(b.shape, b.dtype)  # (C order: flat(out) below is a view that is written into)
        if b.size:
            sytrs, = scipy.linalg.lapack.get_lapack_funcs(("sytrs",), (ld,))
            lf, bf, pf, of = flat(ld), flat(b), piv.reshape((-1, piv.shape[-1])), flat(out)
            with np.errstate(all="ignore"):
                for i in range(lf.shape[0]):
                    of[i], _ = sytrs(lf[i], pf[i], bf[i], lower=1)
        return out

    def backward(self, g):
        _ldl_no_derivative("linalg_ldl_solve")

    backward_graph = backward


def ldl_solve(LD, pivots, B, *, hermitian=False):
    op = "torch.linalg.ldl_solve"
    check_matrix(op, LD, name="LD")
    if not isinstance(B, Tensor) or B.ndim < 2:
        raise RuntimeError(f"{op}: B must have at least 2 dimensions (got "
                           f"{tuple(B.shape) if isinstance(B, Tensor) else type(B).__name__})")
    check_float(op, B)
    if B.dtype != LD.dtype:
        raise RuntimeError(f"{op}: Expected b and A to have the same dtype, but found b of type "
                           f"{dtypes.name(B.dtype)} and A of type {dtypes.name(LD.dtype)} instead.")
    n = LD.shape[-1]
    if not isinstance(pivots, Tensor) or not np.issubdtype(pivots.array.dtype, np.integer):
        raise RuntimeError(f"{op}: pivots must be an integer Tensor (the pivots linalg.ldl_factor returned)")
    if tuple(pivots.shape) != tuple(LD.shape[:-1]):
        raise RuntimeError(f"{op}: Expected LD.shape[:-1] and pivots.shape to be the same, but got pivots with shape "
                           f"{list(pivots.shape)} instead (LD {tuple(LD.shape)})")
    if B.shape[-2] != n:
        raise RuntimeError(f"Incompatible matrix sizes for {op}: each A matrix is {n} by {n} but each b matrix is "
                           f"{B.shape[-2]} by {B.shape[-1]}")
    piv = pivots.array
    if piv.size and (np.abs(piv).min() < 1 or np.abs(piv).max() > n):
        raise RuntimeError(f"{op}: pivots must lie in [-{n}, -1] or [1, {n}] (got values in [{int(piv.min())}, "
                           f"{int(piv.max())}]); pass the pivots linalg.ldl_factor returned")
    try:
        batch = tuple(np.broadcast_shapes(batch_shape(LD), batch_shape(B)))
    except ValueError:
        raise RuntimeError(f"{op}: the batch dimensions of LD {tuple(LD.shape)} and B {tuple(B.shape)} cannot be "
                           "broadcast together") from None
    LD2 = LD if batch_shape(LD) == batch else LD.expand(batch + (n, n))
    B2 = B if batch_shape(B) == batch else B.expand(batch + tuple(B.shape[-2:]))
    piv2 = np.ascontiguousarray(np.broadcast_to(piv.astype(np.int32), batch + (n,)))
    return LdlSolve.apply(LD2, B2, piv2)


__all__ = ["lu_factor", "lu_factor_ex", "lu", "lu_unpack", "lu_solve", "lu_legacy", "lu_method", "lu_solve_legacy",
           "ldl_factor", "ldl_factor_ex", "ldl_solve"]
