"""Complex forms of ops past the elementwise ones of ops/complex.py: the inverse trigonometric and hyperbolic
functions, prod / cumprod, var / std (real results), linear, and the scatters; norms take complex input in
reduce.vector_norm (the norm of |z|). The conventions are ops/complex.py's: for a real loss, z.grad = dL/dRe + i dL/dIm.

- asin ... atanh, prod, cumprod: holomorphic, so their twins conjugate the real backward (complex._holomorphic), whose
  formulas are torch's (acosh's taken apart at the cut, see ComplexAcosh).
- var / std: |z - mean|^2 summed; the real op's backward g * 2 (z - mean) / (n - correction) is already torch's
  complex gradient, so only the forward (a real result) differs.
- linear: x @ W^T + b through the complex matmul (the fused real kernel takes no complex).
- scatter / scatter_add / index_add: linear maps, whose real backward holds as written.
- inv, solve, det, matrix_exp: holomorphic, twins as above (their real backwards are J^T g, so the conjugated one is
  torch's J^H g: inv's -Y^H g Y^H, det's g conj(cof A), matrix_exp's Frechet derivative at A^H).
- slogdet: a complex sign and a real log|det|. cholesky (A = L L^H, A Hermitian), qr, eigh, svd, pinv and lstsq: their
  backwards are written with conjugate transposes (linalg_decomp's *_vjp, linalg_lstsq.pinv_vjp; svd adds torch's
  phase term), so the real ops take complex input as they are; eig / eigvals: ops/linalg_eig.py.
"""
from .. import dtypes
from ..autograd.function import complex_handlers
from ..backend import xp_of
from . import reduce as R
from . import scan as S
from . import special as SP
from . import indexing as I
from . import matmul as MM
from . import linalg_basic as LB
from . import linalg_decomp as LD
from . import linalg_lstsq as LS
from .linalg_util import mT
from .complex import _holomorphic, ComplexMatMul, Conj, Real, Imag

for _cls in (I.Scatter, I.ScatterAdd, I.IndexAdd):
    _cls.takes_complex = True

ComplexAsin = _holomorphic(SP.Asin)
ComplexAcos = _holomorphic(SP.Acos)
ComplexAtan = _holomorphic(SP.Atan)
ComplexAsinh = _holomorphic(SP.Asinh)
ComplexAtanh = _holomorphic(SP.Atanh)


class ComplexAcosh(_holomorphic(SP.Acosh)):
    """acosh's derivative as (z - 1)^(-1/2) (z + 1)^(-1/2), torch's: the real op's (z^2 - 1)^(-1/2) is its negative
    where Re z < 0 (the principal root of z^2 - 1 has its own cut along the imaginary axis)."""
    d = staticmethod(lambda xp, a, y: 1 / (xp.sqrt(a - 1) * xp.sqrt(a + 1)))
    dg = staticmethod(lambda a, y: (a - 1).rsqrt() * (a + 1).rsqrt())


complex_handlers[SP.Acosh] = ComplexAcosh.apply
ComplexProd = _holomorphic(S.Prod)
ComplexCumProd = _holomorphic(S.CumProd)


class ComplexVar(R.Var):
    """var of complex input: mean |z - mean|^2 with torch's correction, real."""
    takes_complex = True

    def forward(self, a, dims, correction, keepdim, full):
        xc, var = R._spread_forward(self, a, dims, correction, keepdim, full)
        self.save_for_backward(xc)
        return var.astype(dtypes.to_real(a.dtype), copy=False)


class ComplexStd(R.Std):
    """std of complex input: sqrt of ComplexVar's variance, real; 0 gradient where it is 0, as torch."""
    takes_complex = True

    def forward(self, a, dims, correction, keepdim, full):
        xc, var = R._spread_forward(self, a, dims, correction, keepdim, full)
        out = xp_of(var).sqrt(var).astype(dtypes.to_real(a.dtype), copy=False)
        self.save_for_backward(xc, out)
        return out


complex_handlers[R.Var] = ComplexVar.apply
complex_handlers[R.Std] = ComplexStd.apply


def _complex_linear(x, w, b):
    y = ComplexMatMul.apply(x, w.transpose(0, 1))
    return y if b is None else y + b


complex_handlers[MM.Linear] = _complex_linear


ComplexInv = _holomorphic(LB.Inv)
ComplexSolve = _holomorphic(LB.Solve)
ComplexDet = _holomorphic(LD.Det)
ComplexMatrixExp = _holomorphic(LB.MatrixExp)
ComplexSolveTriangular = _holomorphic(LB.SolveTriangular)
LD.Cholesky.takes_complex = True
LD.Qr.takes_complex = True
LD.Eigh.takes_complex = True
LD.Svd.takes_complex = True  # (svd_vjp: conjugate transposes and the phase term for complex factors)
LS.Pinv.takes_complex = True  # (its forward and pinv_vjp use conjugate transposes)
LS.Lstsq.takes_complex = True  # (the gradient of pinv(A) @ B, with conjugate transposes)


class ComplexSlogdet(LB.Slogdet):
    """(sign, log|det|) of a complex A, packed complex (the wrapper takes log|det|'s real part). With log det A = l + i
    theta and sign = e^{i theta}, a real loss's differential is Re(c tr(A^-1 dA)) for c = g_l + i Im(conj(g_sign) sign):
    gA = conj(c) A^-H, torch's slogdet_backward."""
    takes_complex = True

    def forward(self, a):
        self.packed = super().forward(a)
        return self.packed

    def backward(self, g):
        a, = self.saved_tensors
        c = g[..., 1].real - 1j * (g[..., 0].conj() * self.packed[..., 0]).imag
        return c[..., None, None] * mT(LB._inv_array(a, check=False)[0]).conj()

    def backward_graph(self, g):
        a, = self.saved_tensors
        sign = self.output(self.packed)[..., 0]
        c = Real.apply(g[..., 1]) - 1j * Imag.apply(Conj.apply(g[..., 0]) * sign)
        return c.unsqueeze(-1).unsqueeze(-1) * LB.Inv.apply(self.input(0, a), False, "linalg.slogdet", None).mH


complex_handlers[LB.Slogdet] = ComplexSlogdet.apply
