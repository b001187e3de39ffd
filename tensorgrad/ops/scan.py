"""Scans and products: cumsum, cumprod, logcumsumexp and prod, each Function with its backward and its double
backward side by side, and their functional API."""
import numpy as np

from ..autograd.function import Function
from ..backend import xp_of
from .util import normalize_dim, normalize_dims, is_float
from ..amp.autocast import cast_float32, cast_float32_all
from .. import dtypes
from ..tensor import Tensor
from .elementwise import where
from .movement import cat, stack
from .graph import expand_back, linear_map
from .reduce import _count, _expand_back, _bf16_in_float32, accumulate_as
from ..dtypes import to_dtype


def _rev_cumsum(xp, g, dim):
    return xp.flip(xp.cumsum(xp.flip(g, dim), axis=dim), dim)


def _scan_dtype(a):
    """PyTorch's CPU scans carry a float32 running sum or product in float64 (its acc_type): float32 [1e8, 1, -1e8]
    cumsums to 1 at the end, not 0, and [1e20, 1e20, 0] cumprods to 0 there, not inf * 0 = NaN."""
    return np.float64 if a.dtype.kind == "f" and a.dtype.itemsize < 8 and xp_of(a) is np else None


class CumSum(Function):
    def forward(self, a, dim):
        self.dim = dim
        wide = _scan_dtype(a)
        return np.cumsum(a, axis=dim, dtype=wide).astype(a.dtype, copy=False) if wide else xp_of(a).cumsum(a, axis=dim)

    def backward(self, g):
        if _scan_dtype(g):
            return _rev_cumsum(np, g.astype(np.float64), self.dim).astype(g.dtype), None
        return _rev_cumsum(xp_of(g), g, self.dim), None

    def backward_graph(self, g):
        d = self.dim
        return linear_map(g, lambda x: _rev_cumsum(xp_of(x), x, d), lambda x: xp_of(x).cumsum(x, axis=d)), None


def _rev_cumsum_graph(t, d):
    return t.flip(d).cumsum(d).flip(d)


class CumProd(Function):
    """out_k = prod_{i<=k} x_i. The gradient of x_j is sum_{k>=j} g_k prod_{i<=k, i!=j} x_i; it is split (as
    PyTorch's cumprod_backward) by the position of the first zero z along dim: before z it is
    rev_cumsum(g * out) / x_j (x_j != 0 there, and terms k >= z vanish); at z it is rev_cumsum(g * cumprod(y))
    with x_z replaced by 1 in y; after z it is 0 (every product contains x_z). No host sync decides the case."""

    def forward(self, a, dim):
        with np.errstate(over="ignore", invalid="ignore"):
            out = xp_of(a).cumprod(a, axis=dim, dtype=_scan_dtype(a)).astype(a.dtype, copy=False)
        self.dim = dim
        self.save_for_backward(a, out)
        return out

    def backward(self, g):
        a, out = self.saved_tensors
        xp, d = xp_of(g), self.dim
        zero = g.dtype.type(0)
        is_zero = a == 0
        seen = xp.cumsum(is_zero, axis=d)
        before = seen == 0
        first = is_zero & (seen == 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            g_before = _rev_cumsum(xp, xp.where(before, g * out, zero), d) / xp.where(before, a, 1)
        g_first = _rev_cumsum(xp, g * xp.cumprod(xp.where(first, 1, a), axis=d), d)
        return xp.where(before, g_before, xp.where(first, g_first, zero)), None

    def backward_graph(self, g):
        # Without zeros, rev_cumsum(g * out) / x. With one, backward's masked cases are right in value but not in
        # derivative: past the first zero x_z every gradient is 0, yet its derivative in x_z is not. So, as
        # torch's cumprod_backward under grad mode, each position k takes sum_{j>=k} g_j prod_{i<=j, i!=k} x_i
        # from the products before and after it: n steps, in differentiable ops.
        a, out = self.saved_tensors
        d = self.dim
        x = self.input(0, a)
        if not bool((a == 0).any()):
            return _rev_cumsum_graph(g * self.output(out), d) / x, None
        n = a.shape[d]
        if n == 1:
            return g, None
        ones = Tensor._make(xp_of(a).ones([1 if i == d else s for i, s in enumerate(a.shape)], a.dtype), None)
        cols = []
        for k in range(n):
            pre = x.narrow(d, 0, k).prod(d, keepdim=True) if k else ones
            if k < n - 1:
                after = x.narrow(d, k + 1, n - k - 1).cumprod(d)
                omitted = cat([pre, pre * after] if k else [ones, after], d)
            else:
                omitted = pre
            cols.append((g.narrow(d, k, n - k) * omitted).sum(d))
        return stack(cols, d), None


def _logcumsumexp(xp, a, dim):
    """A Hillis-Steele scan with logaddexp (log2(n) stable steps): numpy's logaddexp.accumulate has no CuPy
    counterpart, and exp/cumsum/log under one shift underflows where a prefix is far below the slice's max."""
    out = xp.moveaxis(a, dim, -1).copy()
    n, shift = out.shape[-1], 1
    with np.errstate(invalid="ignore"):
        while shift < n:
            out[..., shift:] = xp.logaddexp(out[..., shift:], out[..., :-shift])
            shift *= 2
    return xp.moveaxis(out, -1, dim)


class LogCumSumExp(Function):
    def forward(self, a, dim):
        out = _logcumsumexp(xp_of(a), a, dim)
        self.dim = dim
        self.save_for_backward(a, out)
        return out

    def backward(self, g):
        # grad_j = sum_{k>=j} g_k exp(x_j - out_k), summed in log space separately for positive and negative g_k
        # (PyTorch's formula) so that no exp over- or underflows.
        a, out = self.saved_tensors
        xp, d = xp_of(g), self.dim
        lowest = np.finfo(g.dtype).min

        def rev_lcse(v):
            return xp.flip(_logcumsumexp(xp, xp.flip(v, d), d), d)

        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            log_abs = xp.log(xp.abs(g))
            pos = xp.exp(rev_lcse(xp.where(g > 0, log_abs, lowest) - out) + a)
            neg = xp.exp(rev_lcse(xp.where(g < 0, log_abs, lowest) - out) + a)
        return (pos - neg).astype(g.dtype, copy=False), None

    def backward_graph(self, g):
        # the same positive/negative split on graph Tensors; log |g| is taken of 1 where g is 0 (then replaced by the
        # lowest float), so the derivative through the masked branch is 0, not 0 * inf
        a, out = self.saved_tensors
        d = self.dim
        lowest = float(np.finfo(g.dtype).min)
        x, y = self.input(0, a), self.output(out)
        pos, neg = Tensor._make(g.array > 0, None), Tensor._make(g.array < 0, None)
        log_abs = where(pos | neg, g.abs(), 1.0).log()

        def part(mask):
            v = where(mask, log_abs, lowest) - y
            return (v.flip(d).logcumsumexp(d).flip(d) + x).exp()

        return part(pos) - part(neg), None


class Prod(Function):
    """torch's prod_backward: with no zero anywhere in the input, grad * (result / input), overflow and all (a
    float32 product that overflows to inf gives inf gradients there too); with any zero, the product of all the
    others in each reduced group, as an exclusive prefix times an exclusive suffix product (exact with zeros),
    except that a product of everything (dim=None) with two or more zeros has zero gradient throughout, as torch's
    first-order rule says (the products of the others would be 0 * inf = NaN beside an inf)."""

    def forward(self, a, dims, keepdim, full=False):
        self.dims, self.keepdim, self.full = dims, keepdim, full
        out = a.prod(axis=dims, keepdims=keepdim)
        self.save_for_backward(a, out)
        return out

    def _layout(self, shape):
        """Both backwards move the reduced dims last, flattened into one: (the permutation, the (..., n) shape, the
        permuted shape, the inverse permutation)."""
        rest = [i for i in range(len(shape)) if i not in self.dims]
        perm = rest + list(self.dims)
        return (perm, [shape[i] for i in rest] + [_count(shape, self.dims)], [shape[i] for i in perm],
                tuple(int(i) for i in np.argsort(perm)))

    def backward(self, g):
        a, out = self.saved_tensors
        xp = xp_of(g)
        if a.ndim == 0:
            return g, None, None, None
        zeros = int((a == 0).sum())
        if a.size == 0 or (self.full and zeros > 1):
            return xp.zeros(a.shape, g.dtype), None, None, None
        gk = _expand_back(g, a.shape, self.dims, self.keepdim)
        if not zeros:
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                return gk * (_expand_back(out, a.shape, self.dims, self.keepdim) / a), None, None, None
        perm, grouped, permuted, inverse = self._layout(a.shape)
        x = a.transpose(perm).reshape(grouped)
        ones = xp.ones(x.shape[:-1] + (1,), x.dtype)
        wide = _scan_dtype(x)  # (each scan as torch's: in float64 on the CPU, then rounded)
        with np.errstate(over="ignore", invalid="ignore"):
            before = xp.cumprod(xp.concatenate([ones, x[..., :-1]], axis=-1), axis=-1, dtype=wide).astype(x.dtype)
            after = xp.flip(xp.cumprod(xp.concatenate([ones, xp.flip(x[..., 1:], -1)], axis=-1), axis=-1,
                                       dtype=wide).astype(x.dtype), -1)
        others = (before * after).reshape(permuted).transpose(inverse)
        with np.errstate(over="ignore", invalid="ignore"):
            return gk * others, None, None, None

    def backward_graph(self, g):
        # torch under grad mode: result / input without zeros, else the exclusive products (through cumprod's
        # differentiable backward) for every zero count, two or more included
        a, out = self.saved_tensors
        if a.ndim == 0:
            return g, None, None, None
        gk = expand_back(g, a.shape, self.dims, self.keepdim)
        x = self.input(0, a)
        if a.size == 0:
            return gk * 0.0, None, None, None
        if not bool((a == 0).any()):
            return gk * (expand_back(self.output(out), a.shape, self.dims, self.keepdim) / x), None, None, None
        perm, grouped, permuted, inverse = self._layout(a.shape)
        flat = x.permute(perm).reshape(grouped)
        ones = Tensor._make(xp_of(a).ones(flat.shape[:-1] + (1,), a.dtype), None)
        before = cat([ones, flat[..., :-1]], -1).cumprod(-1)
        after = cat([ones, flat[..., 1:].flip(-1)], -1).cumprod(-1).flip(-1)
        others = (before * after).reshape(permuted).permute(inverse)
        return gk * others, None, None, None


def _scan(cls, op, a, dim):
    d = normalize_dim(op, dim, a.ndim, a.shape)
    if a.ndim == 0:
        return cls.apply(a.reshape(1), 0).reshape(())
    return cls.apply(a, d)


def _cumulative(cls, op, a, dim, dtype):
    if dtype is not None and to_dtype(dtype) == np.bool_ and a.numel():  # (torch's kernel raises where it runs)
        raise NotImplementedError(f'"{op}_out_cpu" not implemented for \'Bool\' (dtype=bool, shape '
                                  f'{tuple(a.shape)})')
    a, out = accumulate_as(op, a, dtype)
    if a.dtype == dtypes.bfloat16:
        return _bf16_in_float32(lambda x: _cumulative(cls, op, x, dim, None), a)
    r = _scan(cls, op, a, dim)
    return r if out is None else r.to(out)


def cumsum(a, dim, dtype=None):
    return _cumulative(CumSum, "cumsum", a, dim, dtype)


def cumprod(a, dim, dtype=None):
    return _cumulative(CumProd, "cumprod", a, dim, dtype)


def logcumsumexp(a, dim):
    a, = cast_float32(a)
    if not is_float(a.dtype):
        raise TypeError(f"logcumsumexp: input dtype must be floating point, got {a.dtype} (shape {tuple(a.shape)})")
    return _scan(LogCumSumExp, "logcumsumexp", a, dim)


def prod(a, dim=None, keepdim=False, dtype=None):
    a, = cast_float32_all(a)  # PyTorch's autocast runs prod in float32 on the CPU too
    a, out = accumulate_as("prod", a, dtype)
    if a.dtype == dtypes.bfloat16:
        return _bf16_in_float32(prod, a, dim, keepdim)
    r = Prod.apply(a, normalize_dims("prod", dim, a.ndim, a.shape), keepdim, dim is None)
    return r if out is None else r.to(out)
