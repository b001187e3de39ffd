"""Reductions over dims (dim=None: all), keepdim like PyTorch; norms; median; allclose / equal (the scans and
products, cumsum, cumprod, logcumsumexp and prod: scan.py)."""
import math
from collections import namedtuple

import numpy as np

from ..autograd.function import Function
from ..backend import xp_of, kernels
from .util import normalize_dim, normalize_dims, is_float, to_float, fsum, refuse_complex
from ..amp.autocast import cast_float32
from .. import dtypes
from ..dtypes import get_default_dtype, to_dtype
from ..tensor import Tensor, check_same_device
from ..autograd.grad_mode import is_grad_enabled
from .elementwise import maximum, minimum, promote_types, eq
from .indexing import Gather, diagonal
from .elementwise import where
from .graph import expand_back, linear_map, frozen_backward


def _count(shape, dims):
    """The number of elements a reduction over dims takes per output element (1 over no dims)."""
    return math.prod(shape[d] for d in dims)


def _expand_back(g, in_shape, dims, keepdim):
    """Broadcast a reduced gradient back over the reduced dims."""
    if not keepdim:
        g = g.reshape([1 if i in dims else s for i, s in enumerate(in_shape)])
    return xp_of(g).broadcast_to(g, in_shape)


class Sum(Function):
    def forward(self, a, dims, keepdim):
        self.in_shape, self.dims, self.keepdim = a.shape, dims, keepdim
        return fsum(a, dims, keepdim)

    def backward(self, g):
        return _expand_back(g, self.in_shape, self.dims, self.keepdim), None, None

    def backward_graph(self, g):
        return expand_back(g, self.in_shape, self.dims, self.keepdim), None, None


class Mean(Function):
    def forward(self, a, dims, keepdim):
        self.in_shape, self.dims, self.keepdim = a.shape, dims, keepdim
        self.n = _count(a.shape, dims)
        if a.__class__ is np.ndarray and a.size >= kernels.THREADED_MIN and a.dtype in (np.float32, np.float64):
            # NumPy's mean is the sum, then one division (float16 stays with NumPy: it sums those in float32)
            return fsum(a, dims, keepdim) / a.dtype.type(self.n)
        return a.mean(axis=dims, keepdims=keepdim)

    def backward(self, g):
        return _expand_back(g / self.n, self.in_shape, self.dims, self.keepdim), None, None

    def backward_graph(self, g):
        return expand_back(g / self.n, self.in_shape, self.dims, self.keepdim), None, None


def _dof_scale(n, correction, full):
    """torch's var_backward factor 2 / (n - correction). Over given dims it is unclamped (2 / -1 times a zero xc is
    -0.0, not NaN); over everything (dim=None or a 0-d input) with n <= correction there is none: the gradient is
    NaN where x equals the mean and inf elsewhere, returned here as None."""
    if n - correction <= 0 and full:
        return None
    with np.errstate(divide="ignore"):
        return np.float64(2) / np.float64(n - correction)


def _var_backward(gk, xc, scale, at_mean):
    """var's input gradient for the expanded cotangent gk, on arrays (a Tensor gk: on the graph); at_mean is where
    x equals its mean, read only where there is no scale."""
    if scale is None:
        degenerate = xp_of(at_mean).where(at_mean, np.float64(np.nan), np.float64(np.inf)).astype(xc.dtype)
        return gk * (Tensor._make(degenerate, None) if isinstance(gk, Tensor) else degenerate)
    return gk * (xc * (float(scale) if isinstance(xc, Tensor) else xc.dtype.type(scale)))


def _spread_forward(ctx, a, dims, correction, keepdim, full):
    """Var's and Std's forward up to the variance: sets the ctx fields both backwards read and returns (the centered
    input in a's dtype, the variance). Mean and sum of squares are taken in float64 for narrower floats, as PyTorch's
    CPU kernel accumulates: float32 [1e8, 1, -1e8, 3] has mean 0.75 in float32, 1 in float64, and a std that fits
    the dtype is not lost to an overflowing variance (float32 [1e20, -1e20, 3e20]: 2e20, not inf)."""
    ctx.in_shape, ctx.dims, ctx.keepdim = a.shape, dims, keepdim
    n = _count(a.shape, dims)
    ctx.denom = n - correction if n > correction else 0  # (not max(): this module shadows it)
    ctx.scale = _dof_scale(n, correction, full)
    wide = a.astype(np.float64) if a.dtype.itemsize < 8 else a
    mean = wide.mean(axis=dims, keepdims=True)
    ctx.at_mean = wide == mean if ctx.scale is None else None
    xc = wide - mean
    sq = xc * xc if xc.dtype.kind != "c" else xc.real * xc.real + xc.imag * xc.imag  # (|x - mean|^2: real)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        var = sq.sum(axis=dims, keepdims=keepdim) / sq.dtype.type(ctx.denom)
    return xc.astype(a.dtype, copy=False), var


class Var(Function):
    def forward(self, a, dims, correction, keepdim, full):
        xc, var = _spread_forward(self, a, dims, correction, keepdim, full)
        self.save_for_backward(xc)
        return var.astype(a.dtype, copy=False)

    def backward(self, g):
        xc, = self.saved_tensors
        with np.errstate(divide="ignore", invalid="ignore"):
            gk = _expand_back(g, self.in_shape, self.dims, self.keepdim)
            return _var_backward(gk, xc, self.scale, self.at_mean), None, None, None, None

    def backward_graph(self, g):
        # The centered input as a graph Tensor: Z carries xc but differentiates as the input; centering it again is
        # the same value with the right derivative (I - 1/n), and every derivative of var is shift-invariant.
        z = self.input(0, self.saved_tensors[0])
        xc = z - z.mean(dim=self.dims, keepdim=True)
        gk = expand_back(g, self.in_shape, self.dims, self.keepdim)
        return _var_backward(gk, xc, self.scale, self.at_mean), None, None, None, None


class Std(Function):
    """sqrt(var) as one op (its forward is var's, _spread_forward). The gradient is torch's std_backward: var's for
    grad / (2 std), that 0 where the std is 0."""

    def forward(self, a, dims, correction, keepdim, full):
        xc, var = _spread_forward(self, a, dims, correction, keepdim, full)
        with np.errstate(invalid="ignore"):
            out = xp_of(a).sqrt(var).astype(a.dtype, copy=False)
        self.save_for_backward(xc, out)
        return out

    def backward(self, g):
        xc, out = self.saved_tensors
        xp = xp_of(g)
        with np.errstate(divide="ignore", invalid="ignore"):
            gs = xp.where(out == 0, g.dtype.type(0), g / (out * g.dtype.type(2)))
            gk = _expand_back(gs, self.in_shape, self.dims, self.keepdim)
            return _var_backward(gk, xc, self.scale, self.at_mean), None, None, None, None

    def backward_graph(self, g):
        xc0, out = self.saved_tensors
        z = self.input(0, xc0)  # see Var.backward_graph
        xc = z - z.mean(dim=self.dims, keepdim=True)
        var = (xc * xc.conj()).real.sum(dim=self.dims, keepdim=True) / float(self.denom)  # (conj, real: complex)
        zero = Tensor._make(var.array == 0, None)
        gk = expand_back(g, self.in_shape, self.dims, self.keepdim)
        # (the sqrt of the masked var: sqrt's derivative at 0 is inf, and 0 * inf would leak NaN through the where)
        gs = where(zero, 0.0, gk / (where(zero, 1.0, var).sqrt() * 2.0))
        return _var_backward(gs, xc, self.scale, self.at_mean), None, None, None, None


class AMax(Function):
    """max/min over dims; the gradient is split evenly among tied extrema (PyTorch's amax/amin rule)."""

    def forward(self, a, dims, keepdim, is_min, nan_grad=False):
        self.in_shape, self.dims, self.keepdim = a.shape, dims, keepdim
        out = a.min(axis=dims, keepdims=True) if is_min else a.max(axis=dims, keepdims=True)
        mask = a == out
        # torch's max()/min() over all elements send a NaN result's gradient to the NaNs; its amax/amin find no
        # element equal to NaN and give NaN (0/0)
        if nan_grad and a.dtype.kind == "f":
            xp = xp_of(a)
            mask = mask | (xp.isnan(a) & xp.isnan(out))
        self.save_for_backward(mask)
        return out if keepdim else out.reshape([s for i, s in enumerate(a.shape) if i not in dims])

    def backward(self, g):
        mask, = self.saved_tensors
        count = mask.sum(axis=self.dims, keepdims=True)
        # (a NaN is the max: mask marks the NaNs, see forward)
        ge = _expand_back(g, self.in_shape, self.dims, self.keepdim)
        return ge * mask / count.astype(g.dtype), None, None, None, None

    def backward_graph(self, g):
        mask, = self.saved_tensors
        w = mask / mask.sum(axis=self.dims, keepdims=True).astype(g.dtype)
        return expand_back(g, self.in_shape, self.dims, self.keepdim) * Tensor._make(w.astype(g.dtype), None), None, None, None, None


class MaxDim(Function):
    """max/min along one dim returning values; the gradient goes to the index PyTorch's max(dim) returns."""

    def forward(self, a, dim, keepdim, is_min):
        xp = xp_of(a)
        idx = (a.argmin if is_min else a.argmax)(axis=dim)
        idx = xp.expand_dims(idx, dim)
        self.in_shape, self.dim, self.keepdim, self.dtype = a.shape, dim, keepdim, a.dtype
        self.save_for_backward(idx)
        self.indices = idx if keepdim else idx.squeeze(dim)
        out = xp.take_along_axis(a, idx, axis=dim)
        return out if keepdim else out.squeeze(dim)

    def backward(self, g):
        idx, = self.saved_tensors
        xp = xp_of(g)
        out = xp.zeros(self.in_shape, dtype=g.dtype)
        if not self.keepdim:
            g = xp.expand_dims(g, self.dim)
        xp.put_along_axis(out, idx, g, axis=self.dim)
        return out, None, None, None

    def backward_graph(self, g):
        idx, = self.saved_tensors
        dim, keep = self.dim, self.keepdim

        def gather(x):
            out = xp_of(x).take_along_axis(x, idx, axis=dim)
            return out if keep else out.squeeze(dim)
        return linear_map(g, frozen_backward(self, 0), gather), None, None, None


class VectorNorm(Function):
    """sum(|x|^p)^(1/p) over dims, with p in {0, 1, 2, inf, -inf} special-cased. The backward is PyTorch's
    norm_backward rule by rule, including its choices where the norm is not differentiable: 0 where the norm is 0
    (p = 2 and p > 1), sign(x) for p = 1, the gradient split evenly among the tied extrema for +-inf, none for p = 0."""

    def forward(self, a, p, dims, keepdim, one):
        xp = xp_of(a)
        self.p, self.dims, self.keepdim = p, dims, keepdim
        orig = a  # (taken in the input's dtype, as torch: a float32 norm of 1e20s overflows to inf there too)
        if one and p != 0:  # torch's norm of one element is |x| (not sqrt(x * x), which overflows float32 1e20)
            out = xp.abs(a) if keepdim else xp.abs(a).reshape([s for i, s in enumerate(a.shape) if i not in dims])
            self.save_for_backward(orig, out)
            return out
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if p == 2:
                out = xp.sqrt((a * a).sum(axis=dims, keepdims=keepdim))
            elif p == 1:
                out = xp.abs(a).sum(axis=dims, keepdims=keepdim)
            elif p == math.inf:
                out = xp.abs(a).max(axis=dims, keepdims=keepdim)
            elif p == -math.inf:
                out = xp.abs(a).min(axis=dims, keepdims=keepdim)
            elif p == 0:
                out = (a != 0).sum(axis=dims, keepdims=keepdim).astype(a.dtype)
            else:
                out = (xp.abs(a) ** p).sum(axis=dims, keepdims=keepdim) ** (1.0 / p)
        out = out.astype(orig.dtype, copy=False)
        self.save_for_backward(orig, out)
        return out

    def backward(self, g):
        a, out = self.saved_tensors
        xp, p = xp_of(g), self.p
        if not self.keepdim:
            shape = [1 if i in self.dims else s for i, s in enumerate(a.shape)]
            g, out = g.reshape(shape), out.reshape(shape)
        zero = g.dtype.type(0)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if p == 0:
                ga = xp.zeros(a.shape, g.dtype)
            elif p == 1:
                ga = ((a > 0).astype(g.dtype) - (a < 0).astype(g.dtype)) * g  # torch's sgn: 0 at NaN
            elif p == 2:
                ga = g * xp.where(out == 0, zero, a / out)
            elif math.isinf(p):
                ab = xp.abs(a)
                mask = (ab == out) | xp.isnan(ab)
                ga = xp.sign(a) * (g / mask.sum(axis=self.dims, keepdims=True).astype(g.dtype)) * mask
            elif p < 1:
                ga = xp.sign(a) * xp.where(a == 0, zero, xp.abs(a) ** (p - 1)) * g * out ** (1 - p)
            else:
                scaled = xp.sign(a) * xp.abs(a) ** (p - 1) if p < 2 else a * xp.abs(a) ** (p - 2)
                ga = scaled * xp.where(out == 0, zero, g / out ** (p - 1))
        return ga.astype(g.dtype, copy=False), None, None, None, None

    def backward_graph(self, g):
        a0, out0 = self.saved_tensors
        p, dims, keep = self.p, self.dims, self.keepdim
        a = self.input(0, a0)
        gk = expand_back(g, a0.shape, dims, keep)
        if p == 0:
            return gk * 0, None, None, None, None
        if p == 1:
            return gk * Tensor._make(((a0 > 0).astype(g.dtype) - (a0 < 0).astype(g.dtype)), None), None, None, None, None
        if math.isinf(p):
            ab = xp_of(a0).abs(a0)
            o = out0 if keep else out0.reshape([1 if i in dims else s for i, s in enumerate(a0.shape)])
            mask = (ab == o) | xp_of(a0).isnan(ab)
            w = xp_of(a0).sign(a0) * mask / mask.sum(axis=dims, keepdims=True)
            return gk * Tensor._make(w.astype(g.dtype), None), None, None, None, None
        # torch's norm_backward in differentiable ops; for p != 2 the root is taken of the masked sum, so that its
        # infinite derivative at a zero norm never meets the where's 0 (0 * inf = NaN), as torch gives 0 there
        if p == 2:  # (the root of the unmasked sum: at a zero norm torch's second derivative is NaN, and so is ours)
            out = (a * a).sum(dim=dims, keepdim=True).sqrt()
            zero = Tensor._make(out.array == 0, None)
            return gk * where(zero, 0.0, a / where(zero, 1.0, out)), None, None, None, None
        s = (a.abs() ** p).sum(dim=dims, keepdim=True)
        zero = Tensor._make(s.array == 0, None)
        norm = where(zero, 1.0, s) ** (1.0 / p)
        sgn = Tensor._make(xp_of(a0).sign(a0).astype(g.dtype), None)
        if p < 1:
            nz = Tensor._make(a0 != 0, None)
            return gk * (sgn * where(nz, where(nz, a.abs(), 1.0) ** (p - 1), 0.0)) * norm ** (1 - p), \
                None, None, None, None
        scaled = sgn * a.abs() ** (p - 1) if p < 2 else a * a.abs() ** (p - 2)
        return gk * where(zero, 0.0, scaled / norm ** (p - 1)), None, None, None, None


def _median_index(a, dim):
    """Index (keepdim shape) of the lower median along dim; a slice holding NaN gives its first NaN (PyTorch)."""
    xp = xp_of(a)
    n = a.shape[dim]
    order = xp.argsort(a, axis=dim, kind="stable")
    shape = list(a.shape)
    shape[dim] = 1
    k = xp.full(shape, (n - 1) // 2, dtype=np.int64)
    if is_float(a.dtype):
        finite = (~xp.isnan(a)).sum(axis=dim, keepdims=True)
        k = xp.where(finite < n, finite, k)  # NaNs sort last: the first of them sits right after the numbers
    return xp.take_along_axis(order, k, axis=dim)


class Median(Function):
    """Median of all elements; the gradient is split evenly among the elements equal to it (PyTorch)."""

    def forward(self, a):
        if a.size == 0:
            out = xp_of(a).full((), np.nan, a.dtype)
        else:
            flat = a.reshape(-1)
            out = flat[_median_index(flat, 0)].reshape(())
        self.save_for_backward(a, out)
        return out

    def backward(self, g):
        a, out = self.saved_tensors
        mask = (a == out) | (xp_of(a).isnan(a) & xp_of(a).isnan(out))
        with np.errstate(divide="ignore", invalid="ignore"):
            return mask * (g / mask.sum().astype(g.dtype))

    def backward_graph(self, g):
        a, out = self.saved_tensors
        mask = (a == out) | (xp_of(a).isnan(a) & xp_of(a).isnan(out))
        return g * Tensor._make((mask / mask.sum()).astype(g.dtype), None)


# ------------------------------------------------------------------------------------ functional API
def _bf16_in_float32(fn, a, *args, **kwargs):
    """fn over a bfloat16 tensor computed in float32 and rounded once, as PyTorch's reductions accumulate (ml_dtypes'
    own sums accumulate in bfloat16: 100,000 ones sum to 256)."""
    return fn(a.float(), *args, **kwargs).to(dtypes.bfloat16)


def accumulate_as(op, a, dtype):
    """The input and result dtype of a sum-like op (sum, prod, cumsum, cumprod): dtype= casts the input first, and
    bools and integers accumulate in int64 -- without dtype= the result stays int64, with it the result is cast back
    (int8 [100, 100] summed with dtype=int8 is -56, as torch's int8 accumulator: two's complement sums and products
    agree modulo the width, so only the final cast wraps)."""
    a, = cast_float32(a)
    if dtype is not None:
        dtype = to_dtype(dtype)
        if a.requires_grad and is_grad_enabled() and not is_float(dtype) and dtype.kind != "c":
            raise RuntimeError(f"{op}: Autograd not support dtype: {dtype} (the input of shape {tuple(a.shape)} "
                               "requires grad; only a float or complex dtype= can carry a gradient)")
        a = a.to(dtype)
    out = a.dtype if dtype is not None else None
    if a.dtype == np.bool_ or (np.issubdtype(a.dtype, np.integer) and a.dtype != np.int64):
        a = a.to(np.int64)
    return a, out if out is not None and out != a.dtype else None


def sum(a, dim=None, keepdim=False, dtype=None):
    a, out = accumulate_as("sum", a, dtype)
    if a.dtype == dtypes.bfloat16:
        return _bf16_in_float32(sum, a, dim, keepdim)
    r = Sum.apply(a, normalize_dims("sum", dim, a.ndim, a.shape), keepdim)
    return r if out is None else r.to(out)


def mean(a, dim=None, keepdim=False, dtype=None):
    a, = cast_float32(a)
    if dtype is not None:
        a = a.to(dtype)
    if not is_float(a.dtype) and a.dtype.kind != "c":
        raise TypeError(f"mean: input dtype must be floating point or complex, got {a.dtype} (shape {tuple(a.shape)}); "
                        "use .float() first or pass dtype=")
    if a.dtype == dtypes.bfloat16:
        return _bf16_in_float32(mean, a, dim, keepdim)
    return Mean.apply(a, normalize_dims("mean", dim, a.ndim, a.shape), keepdim)


def _spread(cls, fn, op, a, dim, unbiased, keepdim, correction):
    """var / std: torch's unbiased/correction arguments, int inputs as the default float, bfloat16 in float32."""
    a, = cast_float32(a)
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    if not is_float(a.dtype) and a.dtype.kind != "c":
        raise RuntimeError(f"{op}: std and var only support floating point and complex dtypes, got {a.dtype} "
                           f"(shape {tuple(a.shape)})")
    if a.dtype == dtypes.bfloat16:
        return _bf16_in_float32(fn, a, dim, keepdim=keepdim, correction=correction)
    return cls.apply(a, normalize_dims(op, dim, a.ndim, a.shape), correction, keepdim, dim is None or a.ndim == 0)


def var(a, dim=None, unbiased=None, keepdim=False, correction=None):
    return _spread(Var, var, "var", a, dim, unbiased, keepdim, correction)


def std(a, dim=None, unbiased=None, keepdim=False, correction=None):
    return _spread(Std, std, "std", a, dim, unbiased, keepdim, correction)


def _check_nonempty(op, a, dims):
    if any(a.shape[d] == 0 for d in dims) or (a.array.size == 0 and not dims):
        raise RuntimeError(f"{op}: cannot reduce over an empty dimension (tensor of shape {tuple(a.shape)})")


def amax(a, dim=None, keepdim=False):
    dims = normalize_dims("amax", dim, a.ndim, a.shape)
    _check_nonempty("amax", a, dims)
    return AMax.apply(a, dims, keepdim, False, False)


def amin(a, dim=None, keepdim=False):
    dims = normalize_dims("amin", dim, a.ndim, a.shape)
    _check_nonempty("amin", a, dims)
    return AMax.apply(a, dims, keepdim, True, False)


def _max_min(op, a, dim, keepdim, is_min):
    if dim is None:
        dims = normalize_dims(op, None, a.ndim, a.shape)
        _check_nonempty(op, a, dims)
        return AMax.apply(a, dims, False, is_min, True)
    if a.ndim == 0:  # max(0-d, dim=0): the value itself and index 0 (PyTorch)
        normalize_dims(op, dim, 0)
        return _MinMax(MaxDim.apply(a.reshape(1), 0, False, is_min), Tensor._make(a._xp.zeros((), np.int64), None))
    d = normalize_dims(op, dim, a.ndim, a.shape)[0]
    _check_nonempty(op, a, (d,))
    values = MaxDim.apply(a, d, keepdim, is_min)
    xp = a._xp
    idx = (a.array.argmin if is_min else a.array.argmax)(axis=d)
    if keepdim:
        idx = xp.expand_dims(idx, d)
    return _MinMax(values, Tensor._make(idx.astype(np.int64), None))


_MinMax = namedtuple("return_types", ["values", "indices"])


def max(a, dim=None, keepdim=False):
    if isinstance(dim, Tensor):  # torch.max(a, b) == maximum
        return maximum(a, dim)
    return _max_min("max", a, dim, keepdim, False)


def min(a, dim=None, keepdim=False):
    if isinstance(dim, Tensor):
        return minimum(a, dim)
    return _max_min("min", a, dim, keepdim, True)


def _arg_extreme(op, a, dim, keepdim, is_min):
    """Index of the max (min) as int64, over all elements (dim=None) or along dim; never differentiable."""
    refuse_complex(op, a)
    if a.dtype == np.bool_:
        raise RuntimeError(f"{op}(): does not support bool input tensors (shape {tuple(a.shape)}); cast to an integer "
                           "type first")
    find = a.array.argmin if is_min else a.array.argmax
    if dim is None:
        r = a._xp.asarray(find(), dtype=np.int64)
        return Tensor._make(r.reshape((1,) * a.ndim) if keepdim else r, None)
    if a.ndim == 0:
        normalize_dims(op, dim, 0)
        return Tensor._make(a._xp.zeros((), np.int64), None)
    d = normalize_dims(op, dim, a.ndim, a.shape)[0]
    r = find(axis=d)
    return Tensor._make((a._xp.expand_dims(r, d) if keepdim else r).astype(np.int64), None)


def argmax(a, dim=None, keepdim=False):
    return _arg_extreme("argmax", a, dim, keepdim, False)


def argmin(a, dim=None, keepdim=False):
    return _arg_extreme("argmin", a, dim, keepdim, True)


def logsumexp(a, dim, keepdim=False):
    a = to_float(a)
    if a.dtype == dtypes.bfloat16:
        return _bf16_in_float32(logsumexp, a, dim, keepdim)
    dims = normalize_dims("logsumexp", dim, a.ndim, a.shape)
    if a.array.size == 0:  # an empty sum: log(0) = -inf where the kept dims are non-empty (torch); no max to shift by
        out = a.exp().sum(dims, keepdim=True).log()
    else:
        m = amax(a, dims, keepdim=True).detach()
        m = m.masked_fill(m.abs() == math.inf, 0)  # an infinite max would give inf - inf = NaN (PyTorch masks it too)
        out = (a - m).exp().sum(dims, keepdim=True).log() + m
    return out if keepdim else out.reshape([s for i, s in enumerate(a.shape) if i not in dims])


# --------------------------------------------------------------------------------------------------- norms
def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None, _op="linalg.vector_norm"):
    """torch.linalg.vector_norm: sum(|x|^ord)^(1/ord) over dim (None: all elements)."""
    x, = cast_float32(x)
    if isinstance(ord, (str, bool)) or not isinstance(ord, (int, float, np.integer, np.floating)):
        raise TypeError(f"{_op}: ord must be a number, got {ord!r}")
    if x.dtype.kind == "c":  # torch's norms of a complex tensor are those of |z| (real; z / |z| in the gradient)
        if dtype is not None:
            dt = to_dtype(dtype)
            if dt.kind != "c" or promote_types(x.dtype, dt) != dt:
                raise RuntimeError(f"{_op}: dtype={dt} for the complex input {x.dtype} (shape {tuple(x.shape)}): it "
                                   "should be a complex dtype the input converts to without narrowing")
            x = x.to(dt)
        x, dtype = x.abs(), None
    if not is_float(x.dtype):
        raise RuntimeError(f"{_op}: expected a floating point tensor as input, got {x.dtype} (shape {tuple(x.shape)})")
    if dtype is not None:
        dt = to_dtype(dtype)
        if not is_float(dt) or promote_types(x.dtype, dt) != dt:
            raise RuntimeError(f"{_op}: the input dtype {x.dtype} (shape {tuple(x.shape)}) can't be converted without "
                               f"narrowing to dtype={dt}")
        x = x.to(dt)
    if x.dtype == dtypes.bfloat16:
        return _bf16_in_float32(vector_norm, x, ord, dim, keepdim, _op=_op)
    p = float(ord)
    dims = normalize_dims(_op, dim, x.ndim, x.shape)
    if (p < 0 or math.isinf(p)) and any(x.shape[d] == 0 for d in dims):
        raise RuntimeError(f"{_op}: cannot compute the {ord} norm over an empty dimension (shape {tuple(x.shape)}, "
                           f"dim={dim}): the reduction has no identity")
    # torch reduces one element to |x|, except a 0-d input with a dim given (sqrt(x * x) there)
    one = _count(x.shape, dims) == 1 and not (x.ndim == 0 and dim is not None)
    return VectorNorm.apply(x, p, dims, keepdim, one)


def norm(a, p="fro", dim=None, keepdim=False, dtype=None):
    """torch.norm: a vector norm over dim (all elements by default); 'fro' is the 2-norm."""
    if p is None:
        p = 2
    if isinstance(p, str):
        if p != "fro":
            raise NotImplementedError(f"norm: p={p!r} is not supported (shape {tuple(a.shape)}): only 'fro' and "
                                      "numbers (vector norms); matrix norms such as 'nuc' are not implemented")
        if isinstance(dim, (tuple, list)) and len(dim) > 2:
            raise RuntimeError(f"norm: p='fro' takes at most 2 dims, got dim={dim} (shape {tuple(a.shape)})")
        p = 2
    return vector_norm(a, p, dim, keepdim, dtype=dtype, _op="norm")


# -------------------------------------------------------------------------------------------------- median
_Median = namedtuple("median", ["values", "indices"])


def median(a, dim=None, keepdim=False):
    """median(): the lower of the two middle values of all elements (NaN if any); median(dim): values and int64
    indices along dim, the gradient going to the returned index."""
    if a.dtype == np.bool_:
        raise TypeError(f"median: not implemented for bool tensors (shape {tuple(a.shape)})")
    if dim is None:
        if a.numel() == 0 and not is_float(a.dtype):
            raise RuntimeError(f"median: the median of an empty {a.dtype} tensor would be NaN (shape {tuple(a.shape)})")
        return Median.apply(a)
    d = normalize_dim("median", dim, a.ndim, a.shape)
    x = a.reshape(1) if a.ndim == 0 else a  # a 0-d tensor is its own median, index 0 (PyTorch)
    if x.shape[d] == 0:
        raise IndexError(f"median: cannot reduce over dim {dim} of size 0 (shape {tuple(a.shape)})")
    idx = _median_index(x.array, d)
    values = Gather.apply(x, idx, d)
    if not keepdim:
        values = values.squeeze(d)
    indices = Tensor._make(idx if keepdim else idx.squeeze(d), None)
    if a.ndim == 0:
        return _Median(values.reshape(()), indices.reshape(()))
    return _Median(values, indices)


# ------------------------------------------------------------------------------------------ allclose, equal
def close_elements(op, input, other, rtol, atol, equal_nan):
    """isclose's rule on two tensors of one device, as an array (allclose reduces it); errors name ``op``."""
    if input.dtype != other.dtype:
        raise RuntimeError(f"{op}: expected tensors of one dtype, got {input.dtype} (shape {tuple(input.shape)}) "
                           f"and {other.dtype} (shape {tuple(other.shape)})")
    if rtol < 0 or atol < 0:
        raise RuntimeError(f"{op}: rtol and atol must be >= 0, got rtol={rtol}, atol={atol}")
    try:
        np.broadcast_shapes(input.shape, other.shape)
    except ValueError:
        raise RuntimeError(f"{op}: shapes {tuple(input.shape)} and {tuple(other.shape)} cannot be broadcast "
                           "together") from None
    x, y, xp = input.array, other.array, input._xp
    close = x == y
    if equal_nan and (is_float(x.dtype) or x.dtype.kind == "c"):
        close = close | (xp.isnan(x) & xp.isnan(y))
    if rtol or atol:
        if not is_float(x.dtype) and x.dtype.kind != "c":
            x, y = x.astype(get_default_dtype()), y.astype(get_default_dtype())
        with np.errstate(invalid="ignore", over="ignore"):
            err = xp.abs(x - y)
            close = close | (xp.isfinite(err) & (err <= atol + xp.abs(rtol * y)))
    return close


def _two_tensors(op, a, b):
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise TypeError(f"{op}: expected two Tensors, got {type(a).__name__} and {type(b).__name__}")
    check_same_device(op, (a, b))


def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """True when |a - b| <= atol + rtol * |b| everywhere (broadcasting; equal infinities match), as a Python bool:
    isclose(a, b).all(), as torch defines it."""
    _two_tensors("allclose", a, b)
    return bool(close_elements("allclose", a, b, rtol, atol, equal_nan).all())


def equal(a, b):
    """True when a and b have the same shape and equal elements (after type promotion), as a Python bool."""
    _two_tensors("equal", a, b)
    if a.shape != b.shape:
        return False
    return bool(eq(a, b).array.all())


def trace(input):
    if input.ndim != 2:
        raise RuntimeError(f"trace: expects a 2-d tensor (a matrix), got shape {tuple(input.shape)}")
    if input.dtype == np.bool_:
        raise TypeError(f"trace: not implemented for bool tensors (shape {tuple(input.shape)})")
    return sum(diagonal(input))
