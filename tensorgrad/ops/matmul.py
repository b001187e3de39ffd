"""matmul (1-D, 2-D, batched with broadcast batch dims) and linear (x @ W^T + b as one node)."""
import numpy as np

from ..autograd.function import Function
from .util import unbroadcast
from ..amp.autocast import cast_lower
from ..backend import blas


def _mT(x):
    return x.swapaxes(-1, -2)


def _mm(a, b, bias=None):
    """a @ b (+ bias over the last dim); on the CPU 2-D products go through backend.blas (MKL when installed, which
    adds the bias inside the GEMM), batched ones through its strided-batch GEMM where that pays, and float16 is
    computed as a float32 GEMM and rounded once (fp32 accumulation), since NumPy has no half-precision BLAS."""
    if not isinstance(a, np.ndarray):
        out = _mm_cuda(a, b)
    elif a.dtype == np.float16:
        out = _mm(a.astype(np.float32), b.astype(np.float32)).astype(np.float16)
    elif a.ndim == 2 and b.ndim == 2:
        out = blas.gemm(a, b, bias)
        if out is not None:
            return out
        out = a @ b
    else:
        out = blas.gemm_batched(a, b)
        out = a @ b if out is None else out
    if bias is not None:
        out += bias
    return out


def _mm_cuda(a, b):
    """2-D products call cuBLAS directly (backend.cublas: the only way a GEMM can be captured in a CUDA graph);
    other shapes use cupy's `@`, which cannot be captured."""
    from ..backend import cublas
    out = cublas.gemm(a, b)
    if out is not None:
        return out
    from ..cuda.graphs import is_capturing
    if is_capturing():
        raise RuntimeError(f"matmul: shapes {a.shape} and {b.shape} ({a.dtype}, {b.dtype}) inside a CUDA graph "
                           "capture: only 2-D products of one float dtype can be captured (CuPy's batched matmul "
                           "calls cuBLAS in a way that refuses capture)")
    return a @ b


class MatMul(Function):
    def forward(self, a, b):
        na, nb = self.needs_input_grad
        self.save_for_backward(a if nb else None, b if na else None)
        self.shapes = (a.shape, b.shape)
        return _mm(a, b)

    def backward(self, g):
        a, b = self.saved_tensors
        sa, sb = self.shapes
        na, nb = self.needs_input_grad
        # Promote 1-D operands to matrices the way matmul does, so one rule covers every case.
        a2 = None if a is None else (a[None, :] if a.ndim == 1 else a)
        b2 = None if b is None else (b[:, None] if b.ndim == 1 else b)
        g2 = g
        if len(sa) == 1 and len(sb) == 1:  # dot product: the grad is 0-d
            g2 = g2.reshape(1, 1)
        elif len(sa) == 1:
            g2 = g2[..., None, :]
        elif len(sb) == 1:
            g2 = g2[..., None]
        ga = gb = None
        if na:
            sa2 = (1,) + sa if len(sa) == 1 else sa
            if len(sb) <= 2 and g2.ndim > 2:  # weight-like b: one big GEMM instead of a batched one
                ga = _mm(g2.reshape(-1, g2.shape[-1]), _mT(b2)).reshape(g2.shape[:-1] + (b2.shape[-2],))
            else:
                ga = _mm(g2, _mT(b2))
            ga = unbroadcast(ga, sa2).reshape(sa)
        if nb:
            sb2 = sb + (1,) if len(sb) == 1 else sb
            if len(sb) <= 2 and g2.ndim > 2:
                k = a2.shape[-1]
                gb = _mm(a2.reshape(-1, k).T, g2.reshape(-1, g2.shape[-1]))
            else:
                gb = unbroadcast(_mm(_mT(a2), g2), sb2)
            gb = gb.reshape(sb)
        return ga, gb


class Linear(Function):
    """y = x @ W^T + b over the last dim of x; W is (out, in)."""

    def forward(self, x, w, b):
        nx, nw, nb = self.needs_input_grad
        self.save_for_backward(x if nw else None, w if nx else None)
        self.x_shape = x.shape
        x2 = x.reshape(-1, x.shape[-1])
        y = _mm(x2, w.T, b)
        return y.reshape(x.shape[:-1] + (w.shape[0],))

    def backward(self, g):
        x, w = self.saved_tensors
        nx, nw, nb = self.needs_input_grad
        g2 = g.reshape(-1, g.shape[-1])
        gx = _mm(g2, w).reshape(self.x_shape) if nx else None
        gw = _mm(g2.T, x.reshape(-1, x.shape[-1])) if nw else None
        gb = g2.sum(axis=0) if nb else None
        return gx, gw, gb


def _check_float_same(op, *ts):
    dts = {t.dtype for t in ts if t is not None}
    devs = {str(t.device) for t in ts if t is not None}
    if len(devs) > 1:
        raise RuntimeError(f"{op}: expected all tensors on one device, got " + ", ".join(
            f"{tuple(t.shape)} on {t.device}" for t in ts if t is not None))
    if len(dts) > 1:
        raise TypeError(f"{op}: expected one dtype, got " + ", ".join(f"{tuple(t.shape)} {t.dtype}" for t in ts if t is not None))


def matmul(a, b):
    from ..tensor import Tensor, tensor as make_tensor
    a = a if isinstance(a, Tensor) else make_tensor(a)
    b = b if isinstance(b, Tensor) else make_tensor(b)
    a, b = cast_lower(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(f"matmul: both arguments need at least 1 dim, got shapes {tuple(a.shape)} and {tuple(b.shape)}")
    ka = a.shape[-1]
    kb = b.shape[0] if b.ndim == 1 else b.shape[-2]
    batch_ok = True
    try:
        np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        batch_ok = False
    if ka != kb or not batch_ok:
        raise RuntimeError(f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be multiplied "
                           f"(inner dims {ka} and {kb}" + ("" if batch_ok else ", batch dims do not broadcast") + ")")
    if a.dtype != b.dtype:
        _check_float_same("matmul", a, b)
    return MatMul.apply(a, b)


def linear(x, weight, bias=None):
    x, weight, bias = cast_lower(x, weight, bias)
    if x.shape[-1] != weight.shape[-1] or weight.ndim != 2:
        raise RuntimeError(f"linear: input of shape {tuple(x.shape)} does not match weight of shape {tuple(weight.shape)} "
                           f"(expected weight (out_features, {x.shape[-1]}))")
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise RuntimeError(f"linear: bias of shape {tuple(bias.shape)} does not match weight of shape {tuple(weight.shape)}")
    _check_float_same("linear", x, weight, bias)
    return Linear.apply(x, weight, bias)
