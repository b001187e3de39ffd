"""torch.lobpcg: the k largest (or smallest) eigenpairs of a symmetric positive-definite generalized problem
A X = B X diag(E) by LOBPCG (Knyazev 2001; Stathopoulos & Wu 2002's 'ortho' basis), torch/_lobpcg.py step for step
on NumPy arrays (its 'basic' and 'ortho' methods, convergence test, SVQB orthogonalization and parameters), the
initial X drawn from tensorgrad's generator when not given.

Gradient (torch's, B = None only: torch raises for B != I, and so does this): for the eigenpairs (D, U) of the
symmetrized A, gA = U (diag(gD) + F o U^T gU) U^T - sum_i P (P^T (A - d_i) P)^-1 P^T gU_i u_i^T, F_ij =
1 / (d_j - d_i) off the diagonal, P any basis of U's orthogonal complement (here (I - U U^T) times a fixed random
matrix; the term does not depend on the choice). torch evaluates the same complement term through the characteristic
polynomial of D; one small solve per eigenpair is the plainer route to it. Written in differentiable tensorgrad ops,
so the double backward is free.
"""
import numpy as np
import scipy.linalg

from .. import dtypes
from ..autograd.function import Function
from ..tensor import Tensor
from ..factories import randn
from .indexing import diag_embed
from .movement import stack
from .elementwise import where
from .linalg_basic import solve
from .linalg_util import check_matrix, pack_batch, unpack


# --------------------------------------------------------------------------------------------- the iteration
def _mm(B, X):
    return X if B is None else B @ X


def _qform(A, S):
    return S.T @ _mm(A, S)


def _symeig(A, largest=False):
    E, Z = np.linalg.eigh(A, UPLO="U")
    return (E[::-1], Z[:, ::-1]) if largest else (E, Z)


class _Worker:
    """torch._lobpcg.LOBPCG on arrays (the tracker receives this object: its E, X, R, S are NumPy arrays)."""

    def __init__(self, A, B, X, iK, iparams, fparams, bparams, method, tracker):
        self.A, self.B, self.iK = A, B, iK
        self.iparams, self.fparams, self.bparams = iparams, fparams, bparams
        self.method, self.tracker = method, tracker
        m, n = iparams["m"], iparams["n"]
        self.X = X
        self.E = np.zeros((n,), X.dtype)
        self.R = np.zeros((m, n), X.dtype)
        self.S = np.zeros((m, 3 * n), X.dtype)
        self.tvars, self.ivars, self.fvars, self.bvars = {}, {"istep": 0}, {"_": 0.0}, {"_": False}

    def update(self):
        if self.ivars["istep"] == 0:
            X_norm = float(np.linalg.norm(self.X))
            iX_norm = X_norm ** -1
            self.fvars["X_norm"] = X_norm
            self.fvars["A_norm"] = float(np.linalg.norm(_mm(self.A, self.X))) * iX_norm
            self.fvars["B_norm"] = float(np.linalg.norm(_mm(self.B, self.X))) * iX_norm
            self.ivars["iterations_left"] = self.iparams["niter"]
            self.ivars["converged_count"] = 0
            self.ivars["converged_end"] = 0
        if self.method == "ortho":
            self._update_ortho()
        else:
            self._update_basic()
        self.ivars["iterations_left"] -= 1
        self.ivars["istep"] += 1

    def update_residual(self):
        self.R = _mm(self.A, self.X) - _mm(self.B, self.X) * self.E

    def update_converged_count(self):
        prev = self.ivars["converged_count"]
        E, X, R = self.E, self.X, self.R
        with np.errstate(divide="ignore", invalid="ignore"):
            rerr = np.linalg.norm(R, axis=0) / (np.linalg.norm(X, axis=0) * (
                self.fvars["A_norm"] + np.abs(E[:X.shape[-1]]) * self.fvars["B_norm"]))
        count = 0
        for b in rerr < self.fparams["tol"]:
            if not b:
                break
            count += 1
        if count < prev:
            raise AssertionError(f"lobpcg: the number of converged eigenpairs (was {prev}, got {count}) cannot "
                                 "decrease")
        self.ivars["converged_count"] = count
        self.tvars["rerr"] = rerr
        return count

    def stop_iteration(self):
        return (self.bvars.get("force_stop", False) or self.ivars["iterations_left"] == 0
                or self.ivars["converged_count"] >= self.iparams["k"])

    def run(self):
        self.update()
        if self.tracker is not None:
            self.tracker(self)
        while not self.stop_iteration():
            self.update()
            if self.tracker is not None:
                self.tracker(self)

    def _update_basic(self):
        ns, nc = self.ivars["converged_end"], self.ivars["converged_count"]
        n, largest = self.iparams["n"], self.bparams["largest"]
        if self.ivars["istep"] == 0:
            Ri = self._rayleigh_ritz_transform(self.X)
            E, Z = _symeig(_qform(_qform(self.A, self.X), Ri), largest)
            self.X[:] = self.X @ (Ri @ Z)
            self.E[:] = E
            np_ = 0
            self.update_residual()
            nc = self.update_converged_count()
            self.S[:, :n] = self.X
            W = _mm(self.iK, self.R)
        else:
            S_ = self.S[:, nc:ns]
            Ri = self._rayleigh_ritz_transform(S_)
            E_, Z = _symeig(_qform(_qform(self.A, S_), Ri), largest)
            self.X[:, nc:] = S_ @ (Ri @ Z[:, :n - nc])
            self.E[nc:] = E_[:n - nc]
            P = S_ @ (Ri @ Z[:, n:2 * n - nc])
            np_ = P.shape[-1]
            self.update_residual()
            nc = self.update_converged_count()
            self.S[:, :n] = self.X
            self.S[:, n:n + np_] = P
            W = _mm(self.iK, self.R[:, nc:])
        self.ivars["converged_end"] = ns = n + np_ + W.shape[-1]
        self.S[:, n + np_:ns] = W

    def _update_ortho(self):
        ns, nc = self.ivars["converged_end"], self.ivars["converged_count"]
        n, largest = self.iparams["n"], self.bparams["largest"]
        if self.ivars["istep"] == 0:
            Ri = self._rayleigh_ritz_transform(self.X)
            _, Z = _symeig(_qform(_qform(self.A, self.X), Ri), largest)
            self.X = self.X @ (Ri @ Z)  # (E stays 0 until the next step, as torch's)
            self.update_residual()
            np_ = 0
            nc = self.update_converged_count()
            self.S[:, :n] = self.X
            W = self._ortho(self.R, self.X)
        else:
            S_ = self.S[:, nc:ns]
            E_, Z = _symeig(_qform(self.A, S_), largest)
            self.X[:, nc:] = S_ @ Z[:, :n - nc]
            self.E[nc:] = E_[:n - nc]
            P = S_ @ (Z[:, n - nc:] @ np.linalg.qr(Z[:n - nc, n - nc:].T)[0])
            np_ = P.shape[-1]
            self.update_residual()
            nc = self.update_converged_count()
            self.S[:, :n] = self.X
            self.S[:, n:n + np_] = P
            W = self._ortho(self.R[:, nc:], self.S[:, :n + np_])
        self.ivars["converged_end"] = ns = n + np_ + W.shape[-1]
        self.S[:, n + np_:ns] = W

    def _rayleigh_ritz_transform(self, S):
        SBS = _qform(self.B, S)
        d_row = np.diagonal(SBS) ** -0.5
        R = np.linalg.cholesky(SBS * d_row * d_row[:, None]).T
        # X R = diag(d_row): R^T X^T = diag(d_row)
        return scipy.linalg.solve_triangular(R, np.diag(d_row), trans="T", lower=False).T

    def _svqb(self, U, drop, tau):
        if U.size == 0:
            return U
        UBU = _qform(self.B, U)
        d = np.diagonal(UBU)
        nz = np.flatnonzero(np.abs(d) != 0.0)
        if len(nz) < len(d):
            U = U[:, nz]
            if U.size == 0:
                return U
            UBU = _qform(self.B, U)
            d = np.diagonal(UBU)
        d_col = (d ** -0.5).reshape(-1, 1)
        E, Z = _symeig(UBU * d_col * d_col.T)
        t = tau * np.abs(E).max()
        if drop:
            keep = np.flatnonzero(E > t)
            E, Z, d_col = E[keep], Z[:, keep], d_col[keep]
        else:
            E = np.where(E < t, t, E)
        return (U * d_col.T) @ (Z * E ** -0.5)

    def _ortho(self, U, V):
        m = self.iparams["m"]
        tau_ortho, tau_drop = self.fparams["ortho_tol"], self.fparams["ortho_tol_drop"]
        tau_replace = self.fparams["ortho_tol_replace"]
        i_max, j_max = self.iparams["ortho_i_max"], self.iparams["ortho_j_max"]
        use_drop = self.bparams["ortho_use_drop"]
        for key in [k for k in self.fvars if k.startswith("ortho_") and k.endswith("_rerr")]:
            self.fvars.pop(key)
        self.ivars.pop("ortho_i", 0)
        self.ivars.pop("ortho_j", 0)
        BV_norm = np.linalg.norm(_mm(self.B, V))
        BU = _mm(self.B, U)
        VBU = V.T @ BU
        i = j = 0
        for i in range(i_max):
            U = U - V @ VBU
            drop, tau_svqb = False, tau_drop
            for j in range(j_max):
                if use_drop:
                    U = self._svqb(U, drop, tau_svqb)
                    drop, tau_svqb = True, tau_replace
                else:
                    U = self._svqb(U, False, tau_replace)
                if U.size == 0:
                    self.ivars["ortho_i"], self.ivars["ortho_j"] = i, j
                    return U
                BU = _mm(self.B, U)
                UBU = U.T @ BU
                rerr = float(np.linalg.norm(UBU - np.eye(UBU.shape[-1], dtype=UBU.dtype))) * float(
                    np.linalg.norm(BU) * np.linalg.norm(U)) ** -1
                self.fvars[f"ortho_UBUmI_rerr[{i}, {j}]"] = rerr
                if rerr < tau_ortho:
                    break
            VBU = V.T @ BU
            rerr = float(np.linalg.norm(VBU)) * float(BV_norm * np.linalg.norm(U)) ** -1
            self.fvars[f"ortho_VBU_rerr[{i}]"] = rerr
            if rerr < tau_ortho:
                break
            if m < U.shape[-1] + V.shape[-1]:
                raise ValueError(f"lobpcg: Overdetermined shape of U: #B-cols(={m}) >= #U-cols(={U.shape[-1]}) + "
                                 f"#V-cols(={V.shape[-1]}) must hold")
        self.ivars["ortho_i"], self.ivars["ortho_j"] = i, j
        return U


# ------------------------------------------------------------------------------------------------ gradient
def lobpcg_vjp(A, D, U, gD, gU, seed=0):
    """torch's gradient of the eigenpairs (D, U) of the symmetric A (k < m columns) for cotangents gD, gU, on
    Tensors of one matrix each."""
    m, k = U.shape
    F = D.unsqueeze(-2) - D.unsqueeze(-1)
    eye = Tensor._make(np.eye(k, dtype=bool), None)
    F = where(eye, 0.0, 1 / where(eye, 1.0, F))
    res = U @ ((diag_embed(gD) + (U.mT @ gU) * F) @ U.mT)
    # U's orthogonal complement: (I - U U^T) times a fixed random matrix (the term is basis-invariant)
    rand = Tensor._make(np.random.default_rng(seed).standard_normal((m, m - k)).astype(A.array.dtype), None)
    P = rand - U @ (U.mT @ rand)
    AP = A @ P
    PtAP, PtP, PtgU = P.mT @ AP, P.mT @ P, P.mT @ gU
    for i in range(k):
        y = solve(PtAP - D[i] * PtP, PtgU[:, i:i + 1])
        res = res - (P @ y) @ U[:, i:i + 1].mT
    return res


class Lobpcg(Function):
    """(E, X) packed per matrix; the iteration runs on arrays, the gradient is lobpcg_vjp (B = None)."""

    def forward(self, a, b, x, iK, k, n, params):
        batch = tuple(a.shape[:-2])
        m = a.shape[-1]
        af = a.reshape((-1, m, m))
        bf = None if b is None else b.reshape((-1, m, m))
        xf = x.reshape((-1, m, n))
        E = np.zeros((af.shape[0], k), a.dtype)
        X = np.zeros((af.shape[0], m, k), a.dtype)
        iparams, fparams, bparams, method, tracker = params
        for i in range(af.shape[0]):
            iparams["batch_index"] = i
            w = _Worker(af[i], None if bf is None else bf[i], np.array(xf[i], copy=True), iK, dict(iparams),
                        fparams, bparams, method, tracker)
            w.run()
            E[i], X[i] = w.E[:k], w.X[:, :k]
        self.shapes = ((k,), (m, k))
        self.has_b = b is not None
        p = pack_batch(batch, E.reshape(batch + (k,)), X.reshape(batch + (m, k)))
        self.save_for_backward(a, p)
        return p

    def _grad(self, A, p, g):
        if self.has_b:
            raise ValueError("lobpcg.backward does not support backward with B != I yet.")
        batch = tuple(A.shape[:-2])
        D, U = unpack(p, batch, self.shapes)
        gD, gU = unpack(g, batch, self.shapes)
        m = A.shape[-1]
        n_b = int(np.prod(batch, dtype=np.int64))
        Af, Df, Uf = A.reshape((n_b, m, m)), D.reshape((n_b, -1)), U.reshape((n_b, m, -1))
        gDf, gUf = gD.reshape((n_b, -1)), gU.reshape((n_b, m, -1))
        out = [lobpcg_vjp(Af[i], Df[i], Uf[i], gDf[i], gUf[i]) for i in range(n_b)]
        return (out[0] if n_b == 1 else stack(out, 0)).reshape(tuple(A.shape))

    def backward(self, g):
        a, p = self.saved_tensors
        ga = self._grad(Tensor._make(a, None), Tensor._make(p, None), Tensor._make(g, None)).array
        return ga, None, None, None, None, None, None

    def backward_graph(self, g):
        a, p = self.saved_tensors
        return self._grad(self.input(0, a), self.output(p), g), None, None, None, None, None, None



def lobpcg(A, k=None, B=None, X=None, n=None, iK=None, niter=None, tol=None, largest=None, method=None, tracker=None,
           ortho_iparams=None, ortho_fparams=None, ortho_bparams=None):
    """(E, X): the k eigenpairs of A X = B X diag(E) of largest (default) or smallest eigenvalue, torch's
    parameters. A (and B) are symmetrized, (A + A^T) / 2, when they require grad, as torch does."""
    op = "lobpcg"
    check_matrix(op, A, float_only=False)
    if B is not None:
        check_matrix(op, B, name="B", float_only=False)
        if tuple(A.shape) != tuple(B.shape):
            raise AssertionError(f"A and B must have same shape, got {tuple(A.shape)} vs {tuple(B.shape)}")
    dtype = A.dtype if A.dtype in (dtypes.float16, dtypes.float32, dtypes.float64) else dtypes.float32
    if dtype == dtypes.float16:
        raise RuntimeError(f"{op}: float16 is not supported (LAPACK's eigh); use float32 or float64")
    if tol is None:
        tol = {dtypes.float32: 1.2e-07, dtypes.float64: 2.23e-16}[dtype] ** 0.5
    m = A.shape[-1]
    k = (1 if X is None else X.shape[-1]) if k is None else k
    n = (k if n is None else n) if X is None else X.shape[-1]
    if m < 3 * n:
        raise ValueError(f"LOBPCG algorithm is not applicable when the number of A rows (={m}) is smaller than 3 x the "
                         f"number of requested eigenpairs (={n})")
    method = "ortho" if method is None else method
    iparams = {"m": m, "n": n, "k": k, "niter": 1000 if niter is None else niter}
    fparams = {"tol": tol}
    bparams = {"largest": True if largest is None else largest}
    if method == "ortho":
        iparams.update(ortho_iparams or {})
        fparams.update(ortho_fparams or {})
        bparams.update(ortho_bparams or {})
        iparams.setdefault("ortho_i_max", 3)
        iparams.setdefault("ortho_j_max", 3)
        for key in ("ortho_tol", "ortho_tol_drop", "ortho_tol_replace"):
            fparams.setdefault(key, tol)
        bparams.setdefault("ortho_use_drop", False)
    batch = tuple(A.shape[:-2])
    if X is None:  # one draw per matrix, in order, as torch's
        nb = int(np.prod(batch, dtype=np.int64))
        xs = [randn(m, n, dtype=dtype).array for _ in range(max(nb, 1) if batch else 1)]
        x = np.stack(xs).reshape(batch + (m, n)) if batch else xs[0]
    else:
        if tuple(X.shape[-2:]) != (m, n) or tuple(X.shape[:-2]) not in ((), batch):
            raise AssertionError(f"X shape mismatch: got {tuple(X.shape)}, expected {batch + (m, n)}")
        x = np.broadcast_to(X.array.astype(dtype), batch + (m, n))
    if A.requires_grad or (B is not None and B.requires_grad):
        A = (A + A.mT) / 2
        B = (B + B.mT) / 2 if B is not None else None
    if A.dtype != dtype:
        A = A.to(dtype)
    iK_arr = None if iK is None else iK.array
    p = Lobpcg.apply(A, B, np.asarray(x, A.array.dtype), iK_arr, k, n,
                     (iparams, fparams, bparams, method, tracker))
    E, Xk = unpack(p, batch, ((k,), (m, k)))
    return E, Xk


__all__ = ["lobpcg"]
