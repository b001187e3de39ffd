"""torch.svd_lowrank and torch.pca_lowrank: torch's randomized range finder (Halko, Martinsson & Tropp 2009, algorithms
4.4 and 5.1) step for step, drawing its Gaussian test matrix from tensorgrad's generator (so results equal torch's
only where they do not depend on that draw: the low-rank reconstruction of a matrix whose rank is at most q, and
the whole factorization when q = min(m, n)). Composed of matmul, linalg.qr and linalg.svd, so it is differentiable
(to any order) through them; no Function of its own."""
from ..tensor import Tensor
from .. import dtypes
from ..factories import randn
from .linalg_decomp import qr, svd
from .linalg_util import check_matrix


def _float_dtype(A):
    return A.dtype if dtypes.is_float(A.dtype) else dtypes.float32


def get_approximate_basis(A, q, niter=2, M=None):
    """Q with q orthonormal columns such that Q Q^T (A - M) approximates A - M."""
    niter = 2 if niter is None else niter
    R = randn(A.shape[-1], q, dtype=_float_dtype(A), device=A.device)
    X = A @ R
    if M is not None:
        X = X - M @ R
    Q = qr(X).Q
    for _ in range(niter):
        X = A.mT @ Q
        if M is not None:
            X = X - M.mT @ Q
        Q = qr(X).Q
        X = A @ Q
        if M is not None:
            X = X - M @ Q
        Q = qr(X).Q
    return Q


def _check(op, A, q, niter):
    if not isinstance(A, Tensor):
        raise TypeError(f"{op}: A must be a Tensor, got {type(A).__name__}")
    check_matrix(op, A, square=False)
    if not isinstance(q, int) or q < 0:
        raise ValueError(f"{op}: q(={q}) must be a non-negative integer")
    if niter is not None and (not isinstance(niter, int) or niter < 0):
        raise ValueError(f"niter(={niter}) must be non-negative integer")


def svd_lowrank(A, q=6, niter=2, M=None):
    """(U, S, V) with A - M ~ U diag(S) V^T, U (*, m, q), S (*, q), V (*, n, q) (V, not Vh, as torch)."""
    q = 6 if q is None else q
    _check("svd_lowrank", A, q, niter)
    return _svd_lowrank(A, q, niter, M)


def _svd_lowrank(A, q, niter, M):
    m, n = A.shape[-2:]
    if M is not None:
        M = M.broadcast_to(tuple(A.shape))
    if m < n:
        A = A.mT
        if M is not None:
            M = M.mT
    Q = get_approximate_basis(A, q, niter=niter, M=M)
    B = Q.mT @ A
    if M is not None:
        B = B - Q.mT @ M
    U, S, Vh = svd(B, full_matrices=False)
    V = Vh.mT
    U = Q @ U
    if m < n:
        U, V = V, U
    return U, S, V


def pca_lowrank(A, q=None, center=True, niter=2):
    """svd_lowrank of A with its column means subtracted (center): V's columns are the principal directions."""
    m, n = A.shape[-2:]
    if q is None:
        q = min(6, m, n)
    elif not (isinstance(q, int) and 0 <= q <= min(m, n)):
        raise ValueError(f"q(={q}) must be non-negative integer and not greater than min(m, n)={min(m, n)}")
    if not niter >= 0:
        raise ValueError(f"niter(={niter}) must be non-negative integer")
    _check("pca_lowrank", A, q, niter)
    if not center:
        return _svd_lowrank(A, q, niter, None)
    return _svd_lowrank(A - A.mean(dim=-2, keepdim=True), q, niter, None)


__all__ = ["svd_lowrank", "pca_lowrank"]
