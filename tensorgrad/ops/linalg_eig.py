"""torch.linalg.eig / eigvals: the eigen-decomposition of a general square matrix, complex for any input (LAPACK's
geev through NumPy: eigenvectors of unit norm, as torch's), with torch's gradient

  gA = V^-H (diag(gL) + offdiag((V^H gV - V^H V diag(Re diag(V^H gV))) / conj(L_j - L_i))) V^H

(its real part for a real A). An eigenvector is defined up to a phase, so only losses that do not depend on it have a
gradient; torch checks that, tensorgrad does not. Written once on arrays and on Tensors (``eig_vjp``), so the double
backward comes from the same lines.
"""
from collections import namedtuple

import numpy as np

from .. import dtypes
from ..autograd.function import Function
from ..tensor import Tensor
from .linalg_util import check_matrix, batch_shape, pack_batch, unpack, unpack_arrays, packed_grad, unpack_grad
from .linalg_decomp import _h, _diag, _eye_mask
from .linalg_basic import solve
from .indexing import diagonal
from .elementwise import where

_Eig = namedtuple("linalg_eig", ["eigenvalues", "eigenvectors"])


def eig_vjp(L, V, gL, gV):
    tensor = isinstance(V, Tensor)
    n = V.shape[-1]
    inner = None
    if gV is not None:
        VhgV = _h(V) @ gV
        d = (diagonal(VhgV, 0, -2, -1) if tensor else np.diagonal(VhgV, 0, -2, -1)).real
        inner = VhgV - _h(V) @ (V * d[..., None, :])
        Lc = L.conj()
        E = Lc[..., None, :] - Lc[..., :, None]
        off = _eye_mask(n, V)
        inner = where(off, 0.0, inner / where(off, 1.0, E)) if tensor else \
            np.where(off, 0, inner / np.where(off, 1, E))
    if gL is not None:
        inner = _diag(gL) if inner is None else inner + _diag(gL)
    if inner is None:
        return V @ _h(V) * 0
    rhs = inner @ _h(V)
    return solve(V.mH, rhs) if tensor else np.linalg.solve(_h(V), rhs)


class Eig(Function):
    """Eigenvalues and eigenvectors packed (complex); a real input's gradient is the real part of eig_vjp's."""
    takes_complex = True

    def forward(self, a):
        w, v = np.linalg.eig(a)  # (real arrays for a real a with a real spectrum: geev's vectors, as torch's)
        cdt = dtypes.to_complex(a.dtype)
        n = a.shape[-1]
        self.shapes, self.real_in = ((n,), (n, n)), a.dtype.kind != "c"
        p = pack_batch(batch_shape(a), w.astype(cdt, copy=False), v.astype(cdt, copy=False))
        self.save_for_backward(p)
        return p

    def backward(self, g):
        p, = self.saved_tensors
        batch = p.shape[:-1]
        w, v = unpack_arrays(p, batch, self.shapes)
        gw, gv = packed_grad(g, batch, self.shapes)
        with np.errstate(invalid="ignore", divide="ignore"):  # (inf / NaN on a repeated spectrum, as torch)
            ga = eig_vjp(w, v, gw, gv)
        return ga.real if self.real_in else ga

    def backward_graph(self, g):
        p, = self.saved_tensors
        batch = p.shape[:-1]
        w, v = unpack(self.output(p), batch, self.shapes)
        gw, gv = unpack_grad(g, batch, self.shapes)
        ga = eig_vjp(w, v, gw, gv)
        return ga.real if self.real_in else ga


def _eig(op, A):
    check_matrix(op, A, complex_ok=True)
    n = A.shape[-1]
    return unpack(Eig.apply(A), batch_shape(A), ((n,), (n, n)))


def eig(A):
    return _Eig(*_eig("linalg.eig", A))


def eigvals(A):
    return _eig("linalg.eigvals", A)[0]


__all__ = ["eig", "eigvals"]
