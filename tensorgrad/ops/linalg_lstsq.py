"""torch.linalg.pinv, lstsq and matrix_rank (and torch.pinverse).

pinv: from the SVD (eigh when hermitian), singular values at or below max(atol, rtol * s_max) dropped; torch's
defaults: rtol = eps * max(m, n) when neither is given, 0 when only atol is. Its gradient (Golub & Pereyra, for a
matrix whose rank does not change nearby):
    gA = -P^T g P^T + (I - A P) g^T P P^T + P^T P g^T (I - P A)
lstsq: SciPy's LAPACK driver per matrix (torch's CPU default 'gelsy'; 'gelsd', 'gelss', 'gels'), returning torch's
(solution, residuals, rank, singular_values): residuals |A X - B|^2 per column when m > n, the driver is not gelsy
and every matrix has full rank (else empty); rank except for gels; singular values for gelsd / gelss. The solution's
gradient is that of pinv(A) @ B, as torch's.
"""
from collections import namedtuple

import numpy as np
import scipy.linalg
import scipy.linalg.lapack

from .. import dtypes
from ..autograd.function import Function
from ..tensor import Tensor
from .graph import vjp_by_recompute
from .linalg_util import LinAlgError, check_matrix, check_same_dtype, broadcast_batch, mT, batch_shape, flat, unflat
from .linalg_decomp import svdvals, eigvalsh, _h

_Lstsq = namedtuple("linalg_lstsq", ["solution", "residuals", "rank", "singular_values"])


def _eye(n, like):
    e = np.eye(n, dtype=like.dtype)
    return Tensor._make(e, None) if isinstance(like, Tensor) else e


def pinv_vjp(A, P, g):
    """The gradient of pinv at A (P = pinv(A)) for the cotangent g: on arrays, or on Tensors (recorded). (For a
    complex A the transposes are conjugate transposes, _h.)"""
    m, n = A.shape[-2], A.shape[-1]
    gt = _h(g)
    out = -(_h(P) @ g @ _h(P))
    out = out + (_eye(m, A) - A @ P) @ gt @ (P @ _h(P))
    return out + (_h(P) @ P) @ gt @ (_eye(n, A) - P @ A)


def _tolerance(s_max, m, n, atol, rtol, dtype, batch):
    """max(atol, rtol * s_max) per matrix (atol/rtol: None, numbers or Tensors broadcast over the batch)."""
    def arr(x):
        return None if x is None else np.broadcast_to(np.asarray(x.array if isinstance(x, Tensor) else x, dtype),
                                                      batch)
    a, r = arr(atol), arr(rtol)
    if r is None:
        r = np.full(batch, np.finfo(dtype).eps * max(m, n), dtype) if (a is None or not (a > 0).any()) else 0
    return np.maximum(0 if a is None else a, r * s_max)


class Pinv(Function):
    def forward(self, a, atol, rtol, hermitian):
        m, n = a.shape[-2:]
        batch = batch_shape(a)
        if hermitian:
            w, q = np.linalg.eigh(a)
            aw = np.abs(w)
            tol = _tolerance(aw.max(-1, initial=0), m, n, atol, rtol, aw.dtype, batch)
            with np.errstate(divide="ignore"):
                inv_w = np.where(aw > tol[..., None], 1 / np.where(w == 0, 1, w), 0).astype(a.dtype)
            p = (q * inv_w[..., None, :]) @ _h(q)
        elif a.size == 0:
            p = np.zeros(batch + (n, m), a.dtype)
        else:
            u, s, vh = np.linalg.svd(a, full_matrices=False)
            tol = _tolerance(s[..., 0], m, n, atol, rtol, s.dtype, batch)
            with np.errstate(divide="ignore"):
                inv_s = np.where(s > tol[..., None], 1 / np.where(s == 0, 1, s), 0).astype(a.dtype)
            p = (_h(vh) * inv_s[..., None, :]) @ _h(u)
        self.save_for_backward(a, p)
        return p

    def backward(self, g):
        a, p = self.saved_tensors
        return pinv_vjp(a, p, g), None, None, None

    def backward_graph(self, g):
        a, p = self.saved_tensors
        return pinv_vjp(self.input(0, a), self.output(p), g), None, None, None


def pinv(A, rcond=None, hermitian=False, *, atol=None, rtol=None):
    """torch.linalg.pinv (rcond: torch's older name of rtol)."""
    op = "linalg.pinv"
    check_matrix(op, A, square=bool(hermitian), complex_ok=True)
    if rcond is not None:
        if rtol is not None:
            raise RuntimeError(f"{op}: pass rtol or rcond (its older name), not both")
        rtol = rcond
    return Pinv.apply(A, atol, rtol, bool(hermitian))


def pinverse(input, rcond=1e-15):
    return pinv(input, rtol=rcond)


def matrix_rank(A, tol=None, hermitian=False, *, atol=None, rtol=None):
    """The number of singular values (|eigenvalues| when hermitian) above max(atol, rtol * s_max), int64
    (tol: torch's older name of atol, with rtol 0)."""
    op = "linalg.matrix_rank"
    check_matrix(op, A, square=bool(hermitian), complex_ok=True)
    if tol is not None:
        atol, rtol = tol, 0.0 if rtol is None else rtol
    m, n = A.shape[-2:]
    s = (eigvalsh(A.detach()).abs() if hermitian else svdvals(A.detach())).array
    batch = batch_shape(A.array)
    smax = s.max(-1, initial=0)
    cut = _tolerance(smax, m, n, atol, rtol, s.dtype, batch)
    return Tensor._make(np.asarray((s > cut[..., None]).sum(-1), np.int64), None)


# --------------------------------------------------------------------------------------------------- lstsq
_DRIVERS = ("gels", "gelsy", "gelsd", "gelss")


def _lstsq_one(a, b, rcond, driver):
    """(x, rank, singular values) of one least-squares problem."""
    if driver == "gels":
        gels, = scipy.linalg.lapack.get_lapack_funcs(("gels",), (a, b))
        m, n = a.shape
        bb = np.zeros((max(m, n), b.shape[1]), b.dtype)
        bb[:m] = b
        _, x, info = gels(a, bb)
        if info > 0:
            raise LinAlgError(f"linalg.lstsq: The least squares solution could not be computed because the input "
                              f"matrix does not have full rank (error code: {info}); use driver='gelsd' or 'gelsy'")
        return x[:n], -1, None
    x, _, rank, s = scipy.linalg.lstsq(a, b, cond=rcond, lapack_driver=driver, check_finite=False)
    return x, rank, s


class Lstsq(Function):
    """The solution X of min |A X - B| per matrix; the other results ride on the node (``extra``)."""

    def forward(self, a, b, rcond, driver, extra):
        af, bf = flat(a), flat(b)
        m, n = a.shape[-2:]
        xs = np.zeros((af.shape[0], n, b.shape[-1]), a.dtype)
        ranks = np.zeros(af.shape[0], np.int64)
        svs = np.zeros((af.shape[0], min(m, n)), dtypes.to_real(a.dtype))
        if a.size and b.size:
            for i in range(af.shape[0]):
                x, ranks[i], s = _lstsq_one(af[i], bf[i], rcond, driver)
                xs[i] = x
                if s is not None:
                    svs[i] = s
        elif a.size and driver in ("gelsy", "gelsd", "gelss"):
            ranks[:] = np.linalg.matrix_rank(af) if af.shape[0] else 0
        if driver in ("gelsd", "gelss") and a.size and not b.size:
            svs = np.linalg.svd(af, compute_uv=False)
        extra.extend([ranks.reshape(batch_shape(a)), unflat(svs, batch_shape(a))])
        self.save_for_backward(a, b)
        return unflat(xs, batch_shape(a))

    def backward(self, g):
        a, b = self.saved_tensors
        p = np.linalg.pinv(a) if a.size else np.zeros(a.shape[:-2] + a.shape[-1:] + a.shape[-2:-1], a.dtype)
        gb = _h(p) @ g
        ga = pinv_vjp(a, p, g @ _h(b)) if self.needs_input_grad[0] else None
        return ga, gb, None, None, None

    def backward_graph(self, g):
        a, b = self.saved_tensors
        ga, gb = vjp_by_recompute(lambda x, y: Pinv.apply(x, None, None, False) @ y,
                                  [self.input(0, a), self.input(1, b)], g)
        return ga, gb, None, None, None


def lstsq(A, B, rcond=None, *, driver=None):
    op = "linalg.lstsq"
    check_matrix(op, A, square=False, complex_ok=True)
    if B.ndim != A.ndim - 1:
        check_matrix(op, B, square=False, name="B", complex_ok=True)
    check_same_dtype(op, A, B)
    driver = "gelsy" if driver is None else driver
    if driver not in _DRIVERS:
        raise RuntimeError(f"torch.linalg.lstsq: parameter `driver` should be one of (gels, gelsy, gelsd, gelss), "
                           f"got {driver!r}")
    vector = B.ndim == A.ndim - 1
    B2 = B.unsqueeze(-1) if vector else B
    if B2.shape[-2] != A.shape[-2]:
        raise RuntimeError(f"torch.linalg.lstsq: input.size(-2) should match other.size(-2) (A {tuple(A.shape)}, "
                           f"B {tuple(B.shape)})")
    A2, B2 = broadcast_batch(op, A, B2)
    m, n = A.shape[-2:]
    if rcond is None:
        rcond = float(np.finfo(A.array.dtype).eps) * max(m, n)
    extra = []
    X = Lstsq.apply(A2, B2, rcond, driver, extra)
    rank, sv = extra
    full_rank = driver == "gels" or bool((rank == n).all())
    if m > n and driver != "gelsy" and full_rank:
        r = A2 @ X - B2
        residuals = (r.abs() ** 2 if r.dtype.kind == "c" else r ** 2).sum(-2)  # (|r|^2: real for a complex A)
    else:
        residuals = X.reshape(-1)[:0]
        residuals = residuals.real if residuals.dtype.kind == "c" else residuals
    rank_t = Tensor._make(rank if driver != "gels" else np.zeros((0,), np.int64), None)
    sv_t = Tensor._make(sv if driver in ("gelsd", "gelss") else np.zeros((0,), dtypes.to_real(A.array.dtype)), None)
    return _Lstsq(X.squeeze(-1) if vector else X, residuals, rank_t, sv_t)
