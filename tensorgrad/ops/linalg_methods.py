"""torch's older top-level spellings of the linalg ops (torch.inverse, torch.det, torch.svd -> V not Vh, torch.qr,
torch.cholesky, ...) and their Tensor methods (x.inverse(), x.det(), x.svd(), x.matrix_power(n), x.cross(y, dim),
...), attached once at package import, after ops/methods.py. torch.lstsq, solve, symeig, eig and matrix_rank were
removed in torch 1.9's successors: torch 2 keeps the names only to raise its error naming the replacement, and so do
these."""
import warnings
from collections import namedtuple

from ..tensor import Tensor
from . import reduce as R
from .linalg_basic import inv, slogdet as _slogdet, logdet, matrix_exp, matrix_power, triangular_solve
from .linalg_decomp import det, cholesky as _cholesky, qr_legacy as qr, svd_legacy as svd
from .linalg_lstsq import pinverse
from .linalg_norms import cross_legacy as cross, cholesky_solve, cholesky_inverse, matrix_norm
from .linalg_lu import lu_legacy as lu, lu_method, lu_solve_legacy as lu_solve, lu_unpack
from .linalg_householder import geqrf, orgqr, ormqr
from .linalg_lowrank import svd_lowrank, pca_lowrank
from .linalg_lobpcg import lobpcg

_SlogdetLegacy = namedtuple("slogdet", ["sign", "logabsdet"])


def inverse(input):
    return inv(input, _op="inverse")


def slogdet(input):
    return _SlogdetLegacy(*_slogdet(input, _op="slogdet"))


def cholesky(input, upper=False):
    """torch.cholesky (deprecated in torch for torch.linalg.cholesky, which it warns about once)."""
    warnings.warn("torch.cholesky is deprecated in favor of torch.linalg.cholesky and will be removed in a future "
                  "PyTorch release.", UserWarning, stacklevel=2)
    return _cholesky(input, upper=upper, _op="cholesky")


def norm(input, p="fro", dim=None, keepdim=False, dtype=None):
    """torch.norm: ops/reduce.norm, plus the nuclear norm ('nuc': of a 2-D input, or over a 2-tuple dim)."""
    if isinstance(p, str) and p == "nuc":
        if dim is None:
            if input.ndim != 2:
                raise RuntimeError(f"norm: p='nuc' without dim needs a 2-D input, got shape {tuple(input.shape)}")
            dim = (-2, -1)
        return matrix_norm(input, "nuc", dim, keepdim, dtype=dtype)
    return R.norm(input, p, dim, keepdim, dtype)


_REMOVED = "This function was deprecated since version 1.9 and is now removed. "
_LSTSQ = (_REMOVED + "`torch.lstsq` is deprecated in favor of `torch.linalg.lstsq`.\n`torch.linalg.lstsq` has reversed "
          "arguments and does not return the QR decomposition in the returned tuple (although it returns other "
          "information about the problem).\n\nTo get the QR decomposition consider using `torch.linalg.qr`.\n\nThe "
          "returned solution in `torch.lstsq` stored the residuals of the solution in the last m - n columns of the "
          "returned value whenever m > n. In torch.linalg.lstsq, the residuals are in the field 'residuals' of the "
          "returned named tuple.\n\nThe unpacking of the solution, as in\n"
          "X, _ = torch.lstsq(B, A).solution[:A.size(1)]\nshould be replaced with:\n"
          "X = torch.linalg.lstsq(A, B).solution")
_SOLVE = (_REMOVED + "`torch.solve` is deprecated in favor of `torch.linalg.solve`. `torch.linalg.solve` has its "
          "arguments reversed and does not return the LU factorization.\n\nTo get the LU factorization see "
          "`torch.lu`, which can be used with `torch.lu_solve` or `torch.lu_unpack`.\n"
          "X = torch.solve(B, A).solution should be replaced with:\nX = torch.linalg.solve(A, B)")
_SYMEIG = (_REMOVED + "The default behavior has changed from using the upper triangular portion of the matrix by "
           "default to using the lower triangular portion.\n\nL, _ = torch.symeig(A, upper=upper) should be "
           "replaced with:\nL = torch.linalg.eigvalsh(A, UPLO='U' if upper else 'L')\n\nand\n\n"
           "L, V = torch.symeig(A, eigenvectors=True) should be replaced with:\n"
           "L, V = torch.linalg.eigh(A, UPLO='U' if upper else 'L')")
_EIG = (_REMOVED + "`torch.linalg.eig` returns complex tensors of dtype `cfloat` or `cdouble` rather than real tensors "
        "mimicking complex tensors.\n\nL, _ = torch.eig(A) should be replaced with:\n"
        "L_complex = torch.linalg.eigvals(A)\n\nand\n\nL, V = torch.eig(A, eigenvectors=True) should be replaced "
        "with:\nL_complex, V_complex = torch.linalg.eig(A)")
_MATRIX_RANK = (_REMOVED[:-1] + "\nPlease use the `torch.linalg.matrix_rank` function instead. The parameter "
                "'symmetric' was renamed in `torch.linalg.matrix_rank()` to 'hermitian'.")


def _removed(name, message):
    def fn(*args, **kwargs):
        raise RuntimeError(message)
    fn.__name__ = fn.__qualname__ = name
    return fn


lstsq, solve, symeig, eig = (_removed("lstsq", _LSTSQ), _removed("solve", _SOLVE), _removed("symeig", _SYMEIG),
                             _removed("eig", _EIG))
matrix_rank = _removed("matrix_rank", _MATRIX_RANK)

_METHODS = dict(inverse=inverse, det=det, logdet=logdet, slogdet=slogdet, pinverse=pinverse, cholesky=cholesky,
                qr=qr, svd=svd, matrix_power=matrix_power, matrix_exp=matrix_exp, cross=cross,
                triangular_solve=triangular_solve, cholesky_solve=cholesky_solve, cholesky_inverse=cholesky_inverse,
                norm=norm, lu=lu_method, lu_solve=lu_solve, geqrf=geqrf, orgqr=orgqr, ormqr=ormqr, lstsq=lstsq,
                solve=solve, symeig=symeig, eig=eig)


def _method(fn, name):
    def method(self, *args, **kwargs):
        return fn(self, *args, **kwargs)
    method.__name__ = method.__qualname__ = name
    return method


for _name, _fn in _METHODS.items():
    setattr(Tensor, _name, _method(_fn, _name))

__all__ = ["inverse", "det", "logdet", "slogdet", "pinverse", "cholesky", "qr", "svd", "matrix_power", "matrix_exp",
           "cross", "triangular_solve", "cholesky_solve", "cholesky_inverse", "norm", "lu", "lu_solve", "lu_unpack",
           "geqrf", "orgqr", "ormqr", "svd_lowrank", "pca_lowrank", "lobpcg", "lstsq", "solve", "symeig", "eig",
           "matrix_rank"]
