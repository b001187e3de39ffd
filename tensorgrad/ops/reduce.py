"""Reductions over dims (dim=None: all), keepdim like PyTorch."""
from collections import namedtuple

import numpy as np

from ..autograd.function import Function
from ..backend import xp_of
from .util import normalize_dims, is_float
from ..amp.autocast import cast_float32


def _expand_back(g, in_shape, dims, keepdim):
    """Broadcast a reduced gradient back over the reduced dims."""
    if not keepdim:
        g = g.reshape([1 if i in dims else s for i, s in enumerate(in_shape)])
    return xp_of(g).broadcast_to(g, in_shape)


class Sum(Function):
    def forward(self, a, dims, keepdim):
        self.in_shape, self.dims, self.keepdim = a.shape, dims, keepdim
        return a.sum(axis=dims, keepdims=keepdim)

    def backward(self, g):
        return _expand_back(g, self.in_shape, self.dims, self.keepdim), None, None


class Mean(Function):
    def forward(self, a, dims, keepdim):
        self.in_shape, self.dims, self.keepdim = a.shape, dims, keepdim
        self.n = int(np.prod([a.shape[d] for d in dims])) if dims else 1
        return a.mean(axis=dims, keepdims=keepdim)

    def backward(self, g):
        return _expand_back(g / self.n, self.in_shape, self.dims, self.keepdim), None, None


class Var(Function):
    def forward(self, a, dims, correction, keepdim):
        self.in_shape, self.dims, self.keepdim = a.shape, dims, keepdim
        n = int(np.prod([a.shape[d] for d in dims])) if dims else 1
        self.denom = n - correction if n > correction else 0  # (not max(): this module shadows it)
        xc = a - a.mean(axis=dims, keepdims=True)
        self.save_for_backward(xc)
        with np.errstate(divide="ignore", invalid="ignore"):
            return (xc * xc).sum(axis=dims, keepdims=keepdim) / a.dtype.type(self.denom)

    def backward(self, g):
        xc, = self.saved_tensors
        with np.errstate(divide="ignore", invalid="ignore"):
            return _expand_back(g, self.in_shape, self.dims, self.keepdim) * (2 * xc / xc.dtype.type(self.denom)), None, None, None


class AMax(Function):
    """max/min over dims; the gradient is split evenly among tied extrema (PyTorch's amax/amin rule)."""

    def forward(self, a, dims, keepdim, is_min):
        self.in_shape, self.dims, self.keepdim = a.shape, dims, keepdim
        out = a.min(axis=dims, keepdims=True) if is_min else a.max(axis=dims, keepdims=True)
        mask = a == out
        self.save_for_backward(mask)
        return out if keepdim else out.reshape([s for i, s in enumerate(a.shape) if i not in dims])

    def backward(self, g):
        mask, = self.saved_tensors
        count = mask.sum(axis=self.dims, keepdims=True)
        ge = _expand_back(g, self.in_shape, self.dims, self.keepdim)
        return ge * mask / count.astype(g.dtype), None, None, None


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


# ------------------------------------------------------------------------------------ functional API
def _floatify(op, a):
    return a if is_float(a.dtype) else a.to(np.float32)


def sum(a, dim=None, keepdim=False, dtype=None):
    a, = cast_float32(a)
    if dtype is not None:
        a = a.to(dtype)
    elif a.dtype == np.bool_ or (np.issubdtype(a.dtype, np.integer) and a.dtype != np.int64):
        a = a.to(np.int64)  # PyTorch sums bools and small ints into int64
    return Sum.apply(a, normalize_dims("sum", dim, a.ndim, a.shape), keepdim)


def mean(a, dim=None, keepdim=False, dtype=None):
    a, = cast_float32(a)
    if dtype is not None:
        a = a.to(dtype)
    if not is_float(a.dtype):
        raise TypeError(f"mean: input dtype must be floating point, got {a.dtype} (shape {tuple(a.shape)}); "
                        "use .float() first or pass dtype=")
    return Mean.apply(a, normalize_dims("mean", dim, a.ndim, a.shape), keepdim)


def var(a, dim=None, unbiased=None, keepdim=False, correction=None):
    a, = cast_float32(a)
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    a = _floatify("var", a)
    return Var.apply(a, normalize_dims("var", dim, a.ndim, a.shape), correction, keepdim)


def std(a, dim=None, unbiased=None, keepdim=False, correction=None):
    return var(a, dim, unbiased, keepdim, correction).sqrt()


def _check_nonempty(op, a, dims):
    if a.data.size == 0 or any(a.shape[d] == 0 for d in dims):
        raise RuntimeError(f"{op}: cannot reduce over an empty dimension (tensor of shape {tuple(a.shape)})")


def amax(a, dim=None, keepdim=False):
    dims = normalize_dims("amax", dim, a.ndim, a.shape)
    _check_nonempty("amax", a, dims)
    return AMax.apply(a, dims, keepdim, False)


def amin(a, dim=None, keepdim=False):
    dims = normalize_dims("amin", dim, a.ndim, a.shape)
    _check_nonempty("amin", a, dims)
    return AMax.apply(a, dims, keepdim, True)


def _max_min(op, a, dim, keepdim, is_min):
    from ..tensor import Tensor
    if dim is None:
        return amin(a) if is_min else amax(a)
    if a.ndim == 0:  # max(0-d, dim=0): the value itself and index 0 (PyTorch)
        normalize_dims(op, dim, 0)
        return _MinMax(MaxDim.apply(a.reshape(1), 0, False, is_min), Tensor._make(a._xp.zeros((), np.int64), None))
    d = normalize_dims(op, dim, a.ndim, a.shape)[0]
    _check_nonempty(op, a, (d,))
    values = MaxDim.apply(a, d, keepdim, is_min)
    xp = a._xp
    idx = (a.data.argmin if is_min else a.data.argmax)(axis=d)
    if keepdim:
        idx = xp.expand_dims(idx, d)
    return _MinMax(values, Tensor._make(idx.astype(np.int64), None))


_MinMax = namedtuple("return_types", ["values", "indices"])


def max(a, dim=None, keepdim=False):
    from ..tensor import Tensor
    if isinstance(dim, Tensor):  # torch.max(a, b) == maximum
        from .elementwise import maximum
        return maximum(a, dim)
    return _max_min("max", a, dim, keepdim, False)


def min(a, dim=None, keepdim=False):
    from ..tensor import Tensor
    if isinstance(dim, Tensor):
        from .elementwise import minimum
        return minimum(a, dim)
    return _max_min("min", a, dim, keepdim, True)


def _arg_extreme(op, a, dim, keepdim, is_min):
    """Index of the max (min) as int64, over all elements (dim=None) or along dim; never differentiable."""
    from ..tensor import Tensor
    find = a.data.argmin if is_min else a.data.argmax
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
    m = amax(a, dim, keepdim=True).detach()
    out = (a - m).exp().sum(dim, keepdim=True).log() + m
    return out if keepdim else out.squeeze(dim)
