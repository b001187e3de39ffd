"""What the torch.linalg ops (ops/linalg_*.py) share: LinAlgError, torch's input checks, batch broadcasting, the
per-matrix LAPACK/BLAS calls NumPy does not batch (unchecked LU solve, triangular solve), and the packing of several
results into one array (a Function has one output: eigh/svd/qr/slogdet return one packed array and the wrappers
split it into views, each differentiable; the backward receives the packed gradient and splits it the same way)."""
import numpy as np
import scipy.linalg
import scipy.linalg.blas
import scipy.linalg.lapack

from .. import dtypes
from ..dtypes import is_float
from ..tensor import Tensor


class LinAlgError(RuntimeError):
    """torch.linalg.LinAlgError: a singular matrix, or one that is not positive-definite (a RuntimeError, as
    torch's)."""


def check_matrix(op, A, square=True, name="A", float_only=True, complex_ok=False):
    """torch's checks: a Tensor of at least 2 dims, float32/float64 (integers and half precision refused; complex64/
    complex128 too, unless the op has a complex form: complex_ok), square where the op needs it; and on the CPU (these
    ops run NumPy/SciPy's LAPACK)."""
    if not isinstance(A, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor, got {type(A).__name__}")
    if A.ndim < 2:
        raise RuntimeError(f"{op}: The input tensor {name} must have at least 2 dimensions (got shape "
                           f"{tuple(A.shape)})")
    if float_only:
        check_float(op, A, complex_ok)
    if square and A.shape[-1] != A.shape[-2]:
        raise RuntimeError(f"{op}: {name} must be batches of square matrices, but they are {A.shape[-2]} by "
                           f"{A.shape[-1]} matrices")
    if A.device.type != "cpu":
        raise NotImplementedError(f"{op}: tensorgrad's linear algebra runs on the CPU only (NumPy/SciPy LAPACK); got "
                                  f"a {A.device} tensor of shape {tuple(A.shape)}: move it with .cpu()")


def check_float(op, A, complex_ok=False):
    if complex_ok and A.dtype in (dtypes.complex64, dtypes.complex128):
        return
    if not is_float(A.dtype):
        raise RuntimeError(f"{op}: Expected a floating point tensor as input. Got {dtypes.name(A.dtype)} "
                           f"(shape {tuple(A.shape)})")
    if A.dtype not in (dtypes.float32, dtypes.float64):
        raise RuntimeError(f"{op}: Low precision dtypes not supported. Got {dtypes.name(A.dtype)} "
                           f"(shape {tuple(A.shape)}): use float32 or float64")


def check_same_dtype(op, A, B):
    if A.dtype != B.dtype:
        raise RuntimeError(f"{op}: Expected A and B to have the same dtype, but found A of type "
                           f"{dtypes.name(A.dtype)} and B of type {dtypes.name(B.dtype)} instead")


def broadcast_batch(op, A, B):
    """A (*a, n, n) and B (*b, n, k) expanded to one batch shape (differentiable: gradients sum back)."""
    try:
        batch = tuple(np.broadcast_shapes(tuple(A.shape[:-2]), tuple(B.shape[:-2])))
    except ValueError:
        raise RuntimeError(f"{op}: the batch dimensions of A {tuple(A.shape)} and B {tuple(B.shape)} cannot be "
                           "broadcast together") from None
    if tuple(A.shape[:-2]) != batch:
        A = A.expand(batch + tuple(A.shape[-2:]))
    if tuple(B.shape[:-2]) != batch:
        B = B.expand(batch + tuple(B.shape[-2:]))
    return A, B


def mT(a):
    return a.swapaxes(-1, -2)


def batch_shape(a):
    return tuple(a.shape[:-2])


def flat(a):
    """A stack of matrices as (batch, m, n) (a size-0 batch included)."""
    return a.reshape((int(np.prod(a.shape[:-2], dtype=np.int64)),) + tuple(a.shape[-2:]))


def unflat(a, batch):
    return a.reshape(tuple(batch) + tuple(a.shape[1:]))


def lu_solve_unchecked(a, b):
    """A^-1 B for one matrix through LU (getrf/getrs) without refusing a singular A (inf/NaN then, as torch's _ex
    ops); returns (x, info)."""
    getrf, getrs = scipy.linalg.lapack.get_lapack_funcs(("getrf", "getrs"), (a,))
    lu, piv, info = getrf(a)
    with np.errstate(all="ignore"):
        x, _ = getrs(lu, piv, b)
    return x, info


def trsm(a, b, lower, trans, unit):
    """op(A)^-1 B for stacks of triangular A (only the triangle read; unit: ones taken on the diagonal), BLAS trsm
    per matrix: no singularity check (inf/NaN for a zero diagonal, as torch)."""
    out = np.empty(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + b.shape[-2:], b.dtype)
    if out.size == 0:
        return out
    fn = scipy.linalg.blas.get_blas_funcs("trsm", (a, b))
    af, bf, of = flat(np.broadcast_to(a, out.shape[:-2] + a.shape[-2:])), flat(b), flat(out)
    with np.errstate(all="ignore"):
        for i in range(af.shape[0]):
            of[i] = fn(1.0, af[i], bf[i], side=0, lower=int(lower), trans_a=int(trans), diag=int(unit))
    return out


def info_tensor(info):
    return Tensor._make(np.asarray(info, np.int32), None)


def pack_batch(batch, *arrays):
    """arrays (each batch + its own shape) as one (batch..., total) array."""
    nb = len(batch)
    parts = [a.reshape(tuple(batch) + (int(np.prod(a.shape[nb:], dtype=np.int64)),)) for a in arrays]
    return np.concatenate(parts, -1)


def unpack_arrays(p, batch, shapes):
    """The arrays pack_batch joined (views of p)."""
    out, o = [], 0
    for s in shapes:
        n = int(np.prod(s, dtype=np.int64))
        out.append(p[..., o:o + n].reshape(tuple(batch) + tuple(s)))
        o += n
    return out


def unpack(t, batch, shapes):
    """The Tensors pack_batch joined: differentiable views of the packed Tensor t."""
    out, o = [], 0
    for s in shapes:
        n = int(np.prod(s, dtype=np.int64))
        out.append(t[..., o:o + n].reshape(tuple(batch) + tuple(s)))
        o += n
    return out


def packed_grad(g, batch, shapes):
    """unpack_arrays of a packed gradient, where a gradient of zeros counts as absent (None): the outputs the loss
    did not use (torch's undefined gradients, which keep e.g. eigvalsh's gradient finite on a repeated spectrum)."""
    return [None if not x.any() else x for x in unpack_arrays(g, batch, shapes)]


def unpack_grad(g, batch, shapes):
    """unpack of a packed gradient Tensor (backward_graph), None for the parts that are all zeros (as packed_grad)."""
    return [None if not x.array.any() else x for x in unpack(g, batch, shapes)]
