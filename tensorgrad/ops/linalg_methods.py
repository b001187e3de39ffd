"""torch's older top-level spellings of the linalg ops (torch.inverse, torch.det, torch.svd -> V not Vh, torch.qr,
torch.cholesky, ...) and their Tensor methods (x.inverse(), x.det(), x.svd(), x.matrix_power(n), x.cross(y, dim),
...), attached once at package import, after ops/methods.py. torch.lstsq is gone from torch 2 and is not here."""
import warnings
from collections import namedtuple

from ..tensor import Tensor
from . import reduce as R
from .linalg_basic import inv, slogdet as _slogdet, logdet, matrix_exp, matrix_power, triangular_solve
from .linalg_decomp import det, cholesky as _cholesky, qr_legacy as qr, svd_legacy as svd
from .linalg_lstsq import pinverse
from .linalg_norms import cross_legacy as cross, cholesky_solve, cholesky_inverse, matrix_norm

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


_METHODS = dict(inverse=inverse, det=det, logdet=logdet, slogdet=slogdet, pinverse=pinverse, cholesky=cholesky,
                qr=qr, svd=svd, matrix_power=matrix_power, matrix_exp=matrix_exp, cross=cross,
                triangular_solve=triangular_solve, cholesky_solve=cholesky_solve, cholesky_inverse=cholesky_inverse,
                norm=norm)


def _method(fn, name):
    def method(self, *args, **kwargs):
        return fn(self, *args, **kwargs)
    method.__name__ = method.__qualname__ = name
    return method


for _name, _fn in _METHODS.items():
    setattr(Tensor, _name, _method(_fn, _name))

__all__ = ["inverse", "det", "logdet", "slogdet", "pinverse", "cholesky", "qr", "svd", "matrix_power", "matrix_exp",
           "cross", "triangular_solve", "cholesky_solve", "cholesky_inverse", "norm"]
