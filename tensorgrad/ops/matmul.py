"""matmul (1-D, 2-D, batched with broadcast batch dims) and linear (x @ W^T + b as one node)."""
import math

import numpy as np

from ..autograd.function import Function
from .util import unbroadcast, normalize_dim, rows, fsum
from ..amp.autocast import cast_lower
from ..backend import kernels
from ..tensor import Tensor, tensor as make_tensor
from .elementwise import mul, where
from .graph import sum_to


def _mT(x):
    return x.swapaxes(-1, -2)


def _mm(a, b, bias=None):
    """a @ b (+ bias over the last dim) through the device's "gemm" kernel (backend/kernels.py: MKL on the CPU,
    cuBLAS on CUDA, float16 with float32 accumulation)."""
    return kernels.get("gemm", "cpu" if a.__class__ is np.ndarray else "cuda")(a, b, bias)


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
                ga = _mm(rows(g2), _mT(b2)).reshape(g2.shape[:-1] + (b2.shape[-2],))
            else:
                ga = _mm(g2, _mT(b2))
            ga = unbroadcast(ga, sa2).reshape(sa)
        if nb:
            sb2 = sb + (1,) if len(sb) == 1 else sb
            if len(sb) <= 2 and g2.ndim > 2:
                gb = _mm(rows(a2).T, rows(g2))
            else:
                gb = unbroadcast(_mm(_mT(a2), g2), sb2)
            gb = gb.reshape(sb)
        return ga, gb

    def backward_graph(self, g):
        a, b = self.saved_tensors
        sa, sb = self.shapes
        na, nb = self.needs_input_grad
        sa2 = (1,) + sa if len(sa) == 1 else sa
        sb2 = sb + (1,) if len(sb) == 1 else sb
        g2 = g.reshape(tuple(np.broadcast_shapes(sa2[:-2], sb2[:-2])) + (sa2[-2], sb2[-1]))
        ga = gb = None
        if na:
            ga = sum_to(g2 @ self.input(1, b).reshape(sb2).transpose(-1, -2), sa2).reshape(sa)
        if nb:
            gb = sum_to(self.input(0, a).reshape(sa2).transpose(-1, -2) @ g2, sb2).reshape(sb)
        return ga, gb


class Linear(Function):
    """y = x @ W^T + b over the last dim of x; W is (out, in)."""

    def forward(self, x, w, b):
        nx, nw, nb = self.needs_input_grad
        self.save_for_backward(x if nw else None, w if nx else None)
        self.x_shape = x.shape
        x2 = rows(x)
        y = _mm(x2, w.T, b)
        return y.reshape(x.shape[:-1] + (w.shape[0],))

    def backward(self, g):
        x, w = self.saved_tensors
        nx, nw, nb = self.needs_input_grad
        g2 = rows(g)
        gx = _mm(g2, w).reshape(self.x_shape) if nx else None
        gw = _mm(g2.T, rows(x)) if nw else None
        gb = fsum(g2, axis=0) if nb else None
        return gx, gw, gb

    def backward_graph(self, g):
        x, w = self.saved_tensors
        nx, nw, nb = self.needs_input_grad
        rows_ = math.prod(self.x_shape[:-1])  # (not -1: ambiguous when a dim is 0)
        g2 = g.reshape(rows_, g.shape[-1])
        gx = (g2 @ self.input(1, w)).reshape(self.x_shape) if nx else None
        gw = g2.transpose(0, 1) @ self.input(0, x).reshape(rows_, self.x_shape[-1]) if nw else None
        gb = g2.sum(dim=0) if nb else None
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


# ------------------------------------------------------------------------- mm family (composites of matmul)
def _shapes(*ts):
    return " and ".join(str(tuple(t.shape)) for t in ts)


def _need_ndim(op, ndim, *ts):
    if any(t.ndim != ndim for t in ts):
        raise RuntimeError(f"{op}: expected {ndim}-D tensors, got shapes {_shapes(*ts)}")


def _product(op, a, b, ndim):
    """matmul(a, b) after the fixed-rank checks of mm (2), bmm (3), dot (1): no broadcasting, one dtype."""
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise TypeError(f"{op}: expected two Tensors, got {type(a).__name__} and {type(b).__name__}")
    a, b = cast_lower(a, b)
    _need_ndim(op, ndim, a, b)
    if ndim == 3 and a.shape[0] != b.shape[0]:
        raise RuntimeError(f"{op}: batch sizes differ, shapes {_shapes(a, b)}")
    if a.shape[-1] != b.shape[0 if ndim == 1 else -2]:
        raise RuntimeError(f"{op}: shapes {_shapes(a, b)} cannot be multiplied "
                           f"(inner dims {a.shape[-1]} and {b.shape[0 if ndim == 1 else -2]})")
    _check_float_same(op, a, b)
    return matmul(a, b)


def mm(a, b):
    return _product("mm", a, b, 2)


def bmm(a, b):
    return _product("bmm", a, b, 3)


def dot(a, b):
    return _product("dot", a, b, 1)


vdot = dot  # the same for real tensors; tensorgrad.vdot is ops/complex.py's, which conjugates a complex first operand


def mv(a, v):
    a, v = cast_lower(a, v)
    if a.ndim != 2 or v.ndim != 1:
        raise RuntimeError(f"mv: expected a 2-D matrix and a 1-D vector, got shapes {_shapes(a, v)}")
    if a.shape[1] != v.shape[0]:
        raise RuntimeError(f"mv: shapes {_shapes(a, v)} cannot be multiplied "
                           f"(inner dims {a.shape[1]} and {v.shape[0]})")
    _check_float_same("mv", a, v)
    return matmul(a, v)


def outer(a, b):
    """a[i] * b[j]; dtypes promote as in mul (torch.outer is a broadcast multiply too)."""
    _need_ndim("outer", 1, a, b)
    return mul(a.reshape(a.shape[0], 1), b)


ger = outer


def inner(a, b):
    """Sum over the last dims: shape a.shape[:-1] + b.shape[:-1]; a 0-d operand scales the other."""
    a, b = cast_lower(a, b)
    if a.ndim == 0 or b.ndim == 0:
        return mul(a, b)
    if a.shape[-1] != b.shape[-1]:
        raise RuntimeError(f"inner: the last dims must match, got shapes {_shapes(a, b)}")
    _check_float_same("inner", a, b)
    k = a.shape[-1]
    rows_a, rows_b = int(math.prod(a.shape[:-1])), int(math.prod(b.shape[:-1]))
    out = matmul(a.reshape(rows_a, k), b.reshape(rows_b, k).t())
    return out.reshape(a.shape[:-1] + b.shape[:-1])


def tensordot(a, b, dims=2):
    """Contract dims of a with dims of b (an int n: a's last n with b's first n; or two lists): one matmul over
    a permuted to (free, contracted) and b to (contracted, free)."""
    a, b = cast_lower(a, b)
    if isinstance(dims, (int, np.integer)):
        if dims < 0 or dims > min(a.ndim, b.ndim):
            raise RuntimeError(f"tensordot: dims={dims} is out of range for shapes {_shapes(a, b)}")
        da, db = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        da, db = ([d] if isinstance(d, (int, np.integer)) else list(d) for d in dims)
        if len(da) != len(db):
            raise RuntimeError(f"tensordot: both operands need as many contracted dims, got {da} and {db}")
        da = [normalize_dim("tensordot", d, a.ndim, a.shape) for d in da]
        db = [normalize_dim("tensordot", d, b.ndim, b.shape) for d in db]
    for i, j in zip(da, db):
        if a.shape[i] != b.shape[j]:
            raise RuntimeError(f"tensordot: contracted dims must match, but dim {i} of {tuple(a.shape)} has size "
                               f"{a.shape[i]} and dim {j} of {tuple(b.shape)} has size {b.shape[j]}")
    _check_float_same("tensordot", a, b)
    fa = [i for i in range(a.ndim) if i not in da]
    fb = [j for j in range(b.ndim) if j not in db]
    k = int(math.prod([a.shape[i] for i in da]))
    a2 = a.permute(fa + da).reshape(int(math.prod([a.shape[i] for i in fa])), k)
    b2 = b.permute(db + fb).reshape(k, int(math.prod([b.shape[j] for j in fb])))
    return matmul(a2, b2).reshape([a.shape[i] for i in fa] + [b.shape[j] for j in fb])


def _add_scaled(op, input, prod, beta, alpha):
    """beta * input + alpha * prod with input broadcast to prod's shape (PyTorch's addmm family)."""
    _check_float_same(op, input, prod)
    try:
        ok = np.broadcast_shapes(input.shape, prod.shape) == prod.shape
    except ValueError:
        ok = False
    if not ok:
        raise RuntimeError(f"{op}: input of shape {tuple(input.shape)} does not broadcast to the product's shape "
                           f"{tuple(prod.shape)}")
    if alpha != 1:
        prod = prod * alpha
    if beta == 0:
        # PyTorch ignores input then (its NaN and inf do not propagate) but still gives it a zero gradient.
        return where(Tensor._make(input._xp.zeros((), np.bool_), None), input, prod)
    return (input if beta == 1 else input * beta) + prod


def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    input, mat1, mat2 = cast_lower(input, mat1, mat2)
    return _add_scaled("addmm", input, mm(mat1, mat2), beta, alpha)


def addmv(input, mat, vec, *, beta=1, alpha=1):
    input, mat, vec = cast_lower(input, mat, vec)
    return _add_scaled("addmv", input, mv(mat, vec), beta, alpha)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    input, batch1, batch2 = cast_lower(input, batch1, batch2)
    return _add_scaled("baddbmm", input, bmm(batch1, batch2), beta, alpha)


def addbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """beta * input + alpha * sum_b batch1[b] @ batch2[b], the batch sum folded into one GEMM's inner dim."""
    input, batch1, batch2 = cast_lower(input, batch1, batch2)
    _need_ndim("addbmm", 3, batch1, batch2)
    if batch1.shape[0] != batch2.shape[0] or batch1.shape[2] != batch2.shape[1]:
        raise RuntimeError(f"addbmm: shapes {_shapes(batch1, batch2)} cannot be batch-multiplied")
    _check_float_same("addbmm", batch1, batch2)
    nb, n, k = batch1.shape
    p = batch2.shape[2]
    prod = matmul(batch1.permute(1, 0, 2).reshape(n, nb * k), batch2.reshape(nb * k, p))
    return _add_scaled("addbmm", input, prod, beta, alpha)


def addr(input, vec1, vec2, *, beta=1, alpha=1):
    input, vec1, vec2 = cast_lower(input, vec1, vec2)
    return _add_scaled("addr", input, outer(vec1, vec2), beta, alpha)
