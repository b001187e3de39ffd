"""torch.linalg's factorizations: cholesky, qr, eigh, svd (and det, whose gradient at a singular matrix goes through
the SVD), with torch's gradients; eigvalsh and svdvals are eigh and svd whose other outputs go unused.

Gradients (real case; each written once, ``*_vjp`` below, on NumPy arrays for backward and on tensorgrad Tensors for
backward_graph, so that second derivatives come from the same lines):
  cholesky A = L L^T:  gA = sym(L^-T Phi(L^T gL) L^-1), Phi = the lower triangle with the diagonal halved (and
                       for a complex A = L L^H, torch's L^-H P L^-1, see cholesky_vjp)
  qr A = Q R (m >= n): gA = (gQ + Q copyltu(R gR^T - gQ^T Q)) R^-T; for m < n, A = [X | Y]: gY = Q gR_Y and X's
                       square rule with gQ + Y gR_Y^T
  eigh A = V diag(L) V^T: gA = sym(V (diag(gL) + F o V^T gV) V^T), F_ij = 1 / (L_j - L_i) off the diagonal
  svd A = U diag(S) Vh: gA = U (diag(gS) + J S + S K) Vh + (I - U U^T) gU S^-1 Vh + U S^-1 gV^T (I - V V^T), J and K
                       F o (X - X^T) of X = U^T gU and V^T gV, F_ij = 1 / (S_j^2 - S_i^2)
An output the loss does not use has no gradient term (torch's undefined gradient): eigvalsh's and svdvals' gradients
stay finite on repeated eigen/singular values, as torch's; a gradient through eigenvectors or singular vectors of a
repeated value is inf/NaN, as torch's. Only gauge-invariant functions of U, V have a well-defined gradient.
"""
from collections import namedtuple

import numpy as np
import scipy.linalg.lapack

from ..autograd.function import Function
from ..tensor import Tensor
from .movement import cat, tril
from .indexing import diag_embed, diagonal
from .elementwise import where
from .linalg_util import (LinAlgError, check_matrix, mT, batch_shape, flat, unflat, trsm, info_tensor, pack_batch,
                          unpack, unpack_arrays, packed_grad, unpack_grad)
from .linalg_basic import inv, solve_triangular

_Eigh = namedtuple("linalg_eigh", ["eigenvalues", "eigenvectors"])
_Svd = namedtuple("linalg_svd", ["U", "S", "Vh"])
_SvdLegacy = namedtuple("svd", ["U", "S", "V"])
_Qr = namedtuple("linalg_qr", ["Q", "R"])
_QrLegacy = namedtuple("qr", ["Q", "R"])
_CholeskyEx = namedtuple("linalg_cholesky_ex", ["L", "info"])


# ----------------------------------------------------------------------- one formula for arrays and Tensors
def _t(x):
    return x.mT if isinstance(x, Tensor) else mT(x)


def _h(x):
    """The conjugate transpose (the transpose of a real x): complex factors' gradients take it where real ones take
    the transpose."""
    return x.mH if isinstance(x, Tensor) else mT(x).conj() if x.dtype.kind == "c" else mT(x)


def _diag(v):
    return diag_embed(v) if isinstance(v, Tensor) else v[..., None] * np.eye(v.shape[-1], dtype=v.dtype)


def _tril(x, k=0):
    return tril(x, k) if isinstance(x, Tensor) else np.tril(x, k)


def _real_cotangent(g):
    """The gradient of real values packed among complex ones (svd's S, eigh's eigenvalues): its real part, still
    complex-typed; the imaginary part a complex-typed slot may receive is no direction a real value moves in."""
    if g is None or g.dtype.kind != "c":
        return g
    return g.real.to(g.dtype) if isinstance(g, Tensor) else g.real.astype(g.dtype)


def _eye_mask(n, like):
    m = np.eye(n, dtype=bool)
    return Tensor._make(m, None) if isinstance(like, Tensor) else m


def _offdiag_recip(e):
    """1 / e off the diagonal and 0 on it (e_ii = 0 there: no division by it)."""
    mask = _eye_mask(e.shape[-1], e)
    if isinstance(e, Tensor):
        return where(mask, 0.0, 1 / (e + mask.to(e.dtype)))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(mask, 0.0, 1 / (e + mask)).astype(e.dtype, copy=False)


def _solve_upper_right(R, B):
    """B R^-H for upper-triangular R (solve R X^H = B^H; R^-T for a real R)."""
    if isinstance(R, Tensor):
        return solve_triangular(R, B.mH, upper=True).mH
    return _h(trsm(R, _h(B), lower=False, trans=False, unit=False))


def _cat_last(a, b):
    return cat([a, b], -1) if isinstance(a, Tensor) else np.concatenate([a, b], -1)


def cholesky_vjp(L, gL):
    """L^-H P L^-1 with P = (tril(M) + tril(M, -1)^H) / 2, M = L^H gL: torch's form, which is sym(L^-T Phi L^-1) for
    a real A. For a complex A (= L L^H) P keeps diag(M)'s imaginary part, as torch's; conjugate transposes
    throughout (trsm's trans 2 is 'C', the same as 'T' on real matrices)."""
    M = _h(L) @ gL
    P = 0.5 * (_tril(M) + _h(_tril(M, -1)))
    if isinstance(L, Tensor):
        t = solve_triangular(L.mH, P, upper=True)
        return solve_triangular(L.mH, t.mH, upper=True).mH
    t = trsm(L, P, lower=True, trans=2, unit=False)
    return _h(trsm(L, _h(t), lower=True, trans=2, unit=False))


def _qr_square_vjp(Q, R, gQ, gR):
    M = (R @ _h(gR) if gR is not None else 0) - (_h(gQ) @ Q if gQ is not None else 0)
    if not isinstance(M, (Tensor, np.ndarray)):  # no gradient at all
        return Q @ R * 0
    # copyltu(M): its lower triangle mirrored, with the real part of its diagonal (R's diagonal is real for a complex
    # A too: LAPACK's Householder reflections make it so, and torch's gradient keeps to that)
    low = _tril(M, -1)
    d = diagonal(M, 0, -2, -1) if isinstance(M, Tensor) else np.diagonal(M, 0, -2, -1)
    b = Q @ (low + _h(low) + _diag(d.real))
    if gQ is not None:
        b = b + gQ
    return _solve_upper_right(R, b)


def qr_vjp(A, Q, R, gQ, gR):
    m, n = A.shape[-2], A.shape[-1]
    if m >= n:
        return _qr_square_vjp(Q, R, gQ, gR)
    # A = [X | Y] with X square: X = Q U, Y = Q V
    Y, U = A[..., m:], R[..., :m]
    gU = None if gR is None else gR[..., :m]
    gV = None if gR is None else gR[..., m:]
    if gV is None:
        return _cat_last(_qr_square_vjp(Q, U, gQ, gU), Q @ R[..., m:] * 0)
    gQ2 = Y @ _h(gV) if gQ is None else gQ + Y @ _h(gV)
    return _cat_last(_qr_square_vjp(Q, U, gQ2, gU), Q @ gV)


def eigh_vjp(L, V, gL, gV):
    inner = _diag(gL) if gL is not None else None
    if gV is not None:
        F = _offdiag_recip(L[..., None, :] - L[..., :, None])
        term = F * (_h(V) @ gV)
        inner = term if inner is None else inner + term
    if inner is None:
        return V @ _h(V) * 0
    ga = V @ inner @ _h(V)
    return 0.5 * (ga + _h(ga))


def svd_vjp(U, S, Vh, gU, gS, gVh):
    """(Complex A: conjugate transposes, and the term i Im(diag(U^H gU)) / S on the diagonal, torch's, for the phase
    each pair u_i, v_i shares freely; S is complex-typed there, with a zero imaginary part.)"""
    m, n, k = U.shape[-2], Vh.shape[-1], S.shape[-1]
    inner = _diag(gS) if gS is not None else None
    if gU is not None or gVh is not None:
        s2 = S * S
        F = _offdiag_recip(s2[..., None, :] - s2[..., :, None])
        if gU is not None:
            X = _h(U) @ gU
            term = (F * (X - _h(X))) * S[..., None, :]
            if X.dtype.kind == "c":
                d = diagonal(X, 0, -2, -1) if isinstance(X, Tensor) else np.diagonal(X, 0, -2, -1)
                term = term + _diag((d - d.conj()) * 0.5 / S)
            inner = term if inner is None else inner + term
        if gVh is not None:
            X = Vh @ _h(gVh)
            term = S[..., :, None] * (F * (X - _h(X)))
            inner = term if inner is None else inner + term
    ga = U @ inner @ Vh if inner is not None else U @ Vh * 0
    if gU is not None and m > k:
        ga = ga + ((gU - U @ (_h(U) @ gU)) / S[..., None, :]) @ Vh
    if gVh is not None and n > k:
        ga = ga + U @ ((gVh - (gVh @ _h(Vh)) @ Vh) / S[..., :, None])
    return ga


# --------------------------------------------------------------------------------------------------- cholesky
def _potrf_info(op, a, check):
    """The Cholesky factors of a stack (lower, reading the lower triangle) and LAPACK's info per matrix (the order
    of the first leading minor that is not positive-definite); raises LinAlgError naming it when check."""
    try:
        return np.linalg.cholesky(a), np.zeros(batch_shape(a), np.int32)
    except np.linalg.LinAlgError:
        pass
    af = flat(a)
    out = np.empty_like(af)
    info = np.zeros(af.shape[0], np.int32)
    potrf, = scipy.linalg.lapack.get_lapack_funcs(("potrf",), (af,))
    for i in range(af.shape[0]):
        out[i], info[i] = potrf(af[i], lower=1, clean=1)
    if check:
        bad = int(np.flatnonzero(info)[0])
        where_ = f"(Batch element {bad}): " if a.ndim > 2 else ""
        raise LinAlgError(f"{op}: {where_}The factorization could not be completed because the input is not "
                          f"positive-definite (the leading minor of order {int(info[bad])} is not positive-definite; "
                          f"shape {tuple(a.shape)}, {a.dtype})")
    return unflat(out, batch_shape(a)), info.reshape(batch_shape(a))


class Cholesky(Function):
    """L with A = L L^T from A's lower triangle (upper: U with A = U^T U from its upper triangle, i.e. the lower
    factor of A^T, transposed)."""

    def forward(self, a, upper=False, check=True, op="linalg.cholesky", info=None):
        self.upper = upper
        L, i = _potrf_info(op, mT(a) if upper else a, check)
        if info is not None:
            info.append(i)
        self.save_for_backward(L)
        return mT(L) if upper else L

    def backward(self, g):
        L, = self.saved_tensors
        if not self.upper:
            return cholesky_vjp(L, g), None, None, None, None
        # (L factors A^T: A's gradient is the transpose of A^T's, the same matrix for a real symmetric one)
        return mT(cholesky_vjp(L, mT(g))), None, None, None, None

    def backward_graph(self, g):
        out = self.output(mT(self.saved_tensors[0]) if self.upper else self.saved_tensors[0])
        if not self.upper:
            return cholesky_vjp(out, g), None, None, None, None
        return cholesky_vjp(out.mT, g.mT).mT, None, None, None, None


def cholesky(A, *, upper=False, _op="linalg.cholesky"):
    check_matrix(_op, A, complex_ok=True)
    return Cholesky.apply(A, bool(upper), True, _op, None)


def cholesky_ex(A, *, upper=False, check_errors=False):
    check_matrix("linalg.cholesky_ex", A, complex_ok=True)
    info = []
    L = Cholesky.apply(A, bool(upper), check_errors, "linalg.cholesky_ex", info)
    return _CholeskyEx(L, info_tensor(info[0]))


# ------------------------------------------------------------------------------------------------------- qr
class Qr(Function):
    """Q and R packed (mode 'reduced' or 'complete'; 'r' packs R alone and has no gradient, as torch)."""

    def forward(self, a, mode):
        self.mode = mode
        batch = batch_shape(a)
        if mode == "r":
            r = np.linalg.qr(a, mode="r")
            self.shapes = (r.shape[-2:],)
            return pack_batch(batch, r)
        q, r = np.linalg.qr(a, mode=mode)
        self.shapes = (q.shape[-2:], r.shape[-2:])
        self.save_for_backward(a, pack_batch(batch, q, r))
        return self.saved[1]

    def _check(self, a):
        m, n = a.shape[-2:]
        if self.mode == "r":
            raise RuntimeError("linalg.qr: The derivative of linalg.qr depends on Q, which is not computed when "
                               "mode='r'. Please use linalg.qr(A, mode='reduced') if you are going to differentiate "
                               "through linalg.qr.")
        if self.mode == "complete" and m > n:
            raise RuntimeError(f"linalg.qr: The QR decomposition is not differentiable when mode='complete' and "
                               f"nrows > ncols (shape {tuple(a.shape)})")

    def backward(self, g):
        if self.mode == "r":
            self._check(np.zeros((0, 0)))
        a, p = self.saved_tensors
        self._check(a)
        batch = batch_shape(a)
        q, r = unpack_arrays(p, batch, self.shapes)
        gq, gr = packed_grad(g, batch, self.shapes)
        return qr_vjp(a, q, r, gq, gr), None

    def backward_graph(self, g):
        a, p = self.saved_tensors
        batch = batch_shape(a)
        q, r = unpack(self.output(p), batch, self.shapes)
        gq, gr = unpack_grad(g, batch, self.shapes)
        return qr_vjp(self.input(0, a), q, r, gq, gr), None


def qr(A, mode="reduced"):
    op = "linalg.qr"
    check_matrix(op, A, square=False, complex_ok=True)
    if mode not in ("reduced", "complete", "r"):
        raise RuntimeError(f"{op}: qr received unrecognized mode '{mode}' but expected one of 'reduced' (default), "
                           "'r', or 'complete'")
    p = Qr.apply(A, mode)
    batch = batch_shape(A)
    if mode == "r":
        R, = unpack(p, batch, _qr_shapes(A, mode)[1:])
        return _Qr(Tensor._make(np.zeros((0,), A.array.dtype), None), R)
    return _Qr(*unpack(p, batch, _qr_shapes(A, mode)))


def _qr_shapes(A, mode):
    m, n = A.shape[-2:]
    k = min(m, n)
    if mode == "complete":
        return (m, m), (m, n)
    return (m, k), (k, n)


def qr_legacy(input, some=True):
    """torch.qr(input, some=True): linalg.qr's reduced (some) or complete factors."""
    return _QrLegacy(*qr(input, "reduced" if some else "complete"))


# ----------------------------------------------------------------------------------------------------- eigh
class Eigh(Function):
    """Eigenvalues (ascending) and eigenvectors packed; the matrix's UPLO triangle is read."""

    def forward(self, a, uplo):
        w, v = np.linalg.eigh(a, UPLO=uplo)
        n = a.shape[-1]
        self.shapes = ((n,), (n, n))
        p = pack_batch(batch_shape(a), w, v)
        self.save_for_backward(p)
        return p

    def backward(self, g):
        p, = self.saved_tensors
        batch = p.shape[:-1]
        w, v = unpack_arrays(p, batch, self.shapes)
        gw, gv = packed_grad(g, batch, self.shapes)
        gw = _real_cotangent(gw)
        with np.errstate(invalid="ignore", divide="ignore"):  # (inf / NaN on a repeated spectrum, as torch)
            return eigh_vjp(w, v, gw, gv), None

    def backward_graph(self, g):
        p, = self.saved_tensors
        batch = p.shape[:-1]
        w, v = unpack(self.output(p), batch, self.shapes)
        gw, gv = unpack_grad(g, batch, self.shapes)
        return eigh_vjp(w, v, _real_cotangent(gw), gv), None


def _uplo(op, UPLO):
    if UPLO not in ("L", "U"):
        raise RuntimeError(f"{op}: Expected UPLO argument to be 'L' or 'U', but got {UPLO}")
    return UPLO


def eigh(A, UPLO="L"):
    check_matrix("linalg.eigh", A, complex_ok=True)
    n = A.shape[-1]
    w, V = unpack(Eigh.apply(A, _uplo("linalg.eigh", UPLO)), batch_shape(A), ((n,), (n, n)))
    return _Eigh(_real_part(w), V)


def eigvalsh(A, UPLO="L"):
    check_matrix("linalg.eigvalsh", A, complex_ok=True)
    n = A.shape[-1]
    return _real_part(unpack(Eigh.apply(A, _uplo("linalg.eigvalsh", UPLO)), batch_shape(A), ((n,), (n, n)))[0])


# ------------------------------------------------------------------------------------------------------ svd
def _svd_shapes(m, n, full):
    k = min(m, n)
    return ((m, m), (k,), (n, n)) if full else ((m, k), (k,), (k, n))


class Svd(Function):
    """U, S (descending), Vh packed. With full_matrices and m != n the gradient uses U's first k columns and Vh's
    first k rows (the rest is not determined by A), as torch."""

    def forward(self, a, full):
        m, n = a.shape[-2:]
        self.shapes = _svd_shapes(m, n, full)
        if a.size:
            u, s, vh = np.linalg.svd(a, full_matrices=full)
        else:
            u, s, vh = (np.broadcast_to(np.eye(*sh[-2:], dtype=a.dtype), batch_shape(a) + sh) if len(sh) == 2 else
                        np.zeros(batch_shape(a) + sh, a.dtype) for sh in self.shapes)
        p = pack_batch(batch_shape(a), u, s, vh)
        self.save_for_backward(p)
        return p

    def _parts(self, p, g, unpack_fn, grads):
        batch = p.shape[:-1]
        u, s, vh = unpack_fn(p, batch, self.shapes)
        gu, gs, gvh = grads(g, batch, self.shapes)
        gs = _real_cotangent(gs)
        k = s.shape[-1]
        if u.shape[-1] != k:
            u, gu = u[..., :k], (None if gu is None else gu[..., :k])
        if vh.shape[-2] != k:
            vh, gvh = vh[..., :k, :], (None if gvh is None else gvh[..., :k, :])
        return u, s, vh, gu, gs, gvh

    def backward(self, g):
        with np.errstate(invalid="ignore", divide="ignore"):  # (inf / NaN on a repeated spectrum, as torch)
            return svd_vjp(*self._parts(self.saved_tensors[0], g, unpack_arrays, packed_grad)), None

    def backward_graph(self, g):
        p = self.saved_tensors[0]
        return svd_vjp(*self._parts(self.output(p), g, unpack, unpack_grad)), None


def _svd_driver(op, driver):
    if driver is not None:
        raise RuntimeError(f"{op}: keyword argument `driver=` is only supported on CUDA inputs with cuSOLVER backend "
                           f"(got driver={driver!r})")


def svd(A, full_matrices=True, *, driver=None):
    op = "linalg.svd"
    check_matrix(op, A, square=False, complex_ok=True)
    _svd_driver(op, driver)
    m, n = A.shape[-2:]
    U, S, Vh = unpack(Svd.apply(A, bool(full_matrices)), batch_shape(A), _svd_shapes(m, n, bool(full_matrices)))
    return _Svd(U, _real_part(S), Vh)


def _real_part(S):
    """The singular values (or eigh's eigenvalues) of a complex A, packed beside the complex factors as complex
    numbers: their real part."""
    return S.real if S.dtype.kind == "c" else S


def svdvals(A, *, driver=None):
    op = "linalg.svdvals"
    check_matrix(op, A, square=False, complex_ok=True)
    _svd_driver(op, driver)
    m, n = A.shape[-2:]
    return _real_part(unpack(Svd.apply(A, False), batch_shape(A), _svd_shapes(m, n, False))[1])


def svd_legacy(input, some=True, compute_uv=True):
    """torch.svd: (U, S, V) -- V, not Vh -- reduced when some; compute_uv=False gives zero-filled U (m, m) and
    V (n, n)."""
    check_matrix("svd", input, square=False, complex_ok=True)
    m, n = input.shape[-2:]
    batch = batch_shape(input)
    if not compute_uv:
        z = lambda k: Tensor._make(np.zeros(batch + (k, k), input.array.dtype), None)  # noqa: E731
        return _SvdLegacy(z(m), svdvals(input), z(n))
    U, S, Vh = svd(input, full_matrices=not some)
    return _SvdLegacy(U, S, Vh.mH)  # (V = Vh^H)


# ------------------------------------------------------------------------------------------------------ det
def _prod_others(s):
    """prod_{j != i} s_j along the last axis without dividing (s may hold zeros)."""
    ones = np.ones(s.shape[:-1] + (1,), s.dtype)
    left = np.cumprod(np.concatenate([ones, s[..., :-1]], -1), -1)
    right = np.cumprod(np.concatenate([ones, s[..., :0:-1]], -1), -1)[..., ::-1]
    return left * right


def _cofactor(a, d):
    """The cofactor matrix det(A) A^-T; where det is exactly 0 from the SVD A = U S Vh: det(U) det(Vh) U
    diag(prod_{j != i} s_j) Vh, finite (and right) for a singular A, as torch's."""
    af, df = flat(a), d.reshape(-1)
    out = np.empty_like(af)
    ok = df != 0
    if ok.any():
        out[ok] = df[ok, None, None] * mT(np.linalg.inv(af[ok]))
    if (~ok).any():
        u, s, vh = np.linalg.svd(af[~ok])
        # (A^-T = conj(U) S^-1 conj(Vh): the conjugates are no-ops on a real A)
        out[~ok] = ((np.linalg.det(u) * np.linalg.det(vh))[:, None, None] * (u.conj() * _prod_others(s)[:, None, :])
                    @ vh.conj())
    return unflat(out, batch_shape(a))


def _cofactor_graph(A, d):
    if bool((d.array != 0).all()):
        return d.unsqueeze(-1).unsqueeze(-1) * inv(A).mT
    U, S, Vh = svd(A)
    n = S.shape[-1]
    others = where(_eye_mask(n, S), 1.0, S.unsqueeze(-2).expand(tuple(S.shape[:-1]) + (n, n))).prod(-1)
    sign = det(U.detach()) * det(Vh.detach())  # (+-1: no gradient)
    return sign.unsqueeze(-1).unsqueeze(-1) * (U.conj() * others.unsqueeze(-2)) @ Vh.conj()


class Det(Function):
    def forward(self, a):
        d = np.asarray(np.linalg.det(a)).astype(a.dtype, copy=False)
        self.save_for_backward(a, d)
        return d

    def backward(self, g):
        a, d = self.saved_tensors
        return g[..., None, None] * _cofactor(a, d)

    def backward_graph(self, g):
        a, d = self.saved_tensors
        return g.unsqueeze(-1).unsqueeze(-1) * _cofactor_graph(self.input(0, a), self.output(d))


def det(A, *, _op="linalg.det"):
    check_matrix(_op, A, complex_ok=True)
    return Det.apply(A)
