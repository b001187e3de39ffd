"""Tensor methods of the extra_* op modules, attached once at package import (after ops/methods.py, whose in-place
machinery, _apply_inplace, the in-place forms here go through): the functional ops as methods, their in-place
forms, the in-place view methods (t_, transpose_, squeeze_, unsqueeze_: the tensor takes the view's array and,
under autograd, its node), the in-place random fills, and the small queries (stride, data_ptr, get_device...)."""
import numpy as np

from .. import dtypes
from ..autograd.grad_mode import is_grad_enabled
from ..autograd.version import root
from ..storage import untyped_storage
from ..tensor import Tensor, _ptr
from . import extra_index as XI, extra_math as XM, extra_random as XR, extra_shape as XS, extra_stats as XT
from . import movement as M
from .methods import _apply_inplace

_NAMES = {
    XM: ("absolute", "negative", "divide", "true_divide", "multiply", "subtract", "greater", "greater_equal", "less",
         "less_equal", "not_equal", "fix", "sgn", "sinc", "heaviside", "nextafter", "frexp", "ldexp"),
    XS: ("ravel", "unflatten", "unfold", "take", "rot90", "fliplr", "flipud", "narrow_copy", "sum_to_size",
         "select_scatter", "slice_scatter", "diagonal_scatter"),
    XT: ("aminmax", "mode", "kthvalue", "msort", "cummax", "cummin", "nanmean", "nansum", "nanmedian", "quantile",
         "nanquantile", "renorm", "dist", "cov", "corrcoef", "histogram"),
    XI: ("index_fill", "index_copy", "index_put", "masked_scatter", "scatter_reduce", "put"),
}

# torch's in-place twins (x.op_(...) is x = op(x, ...) written into x)
_INPLACE = ("absolute", "negative", "divide", "true_divide", "multiply", "subtract", "greater", "greater_equal",
            "less", "less_equal", "not_equal", "fix", "sgn", "sinc", "heaviside", "nextafter", "ldexp", "renorm",
            "index_fill", "index_copy", "index_put", "masked_scatter", "scatter_reduce", "put", "tril", "triu")


def _method(fn, name):
    def method(self, *args, **kwargs):
        return fn(self, *args, **kwargs)
    method.__name__ = method.__qualname__ = name
    return method


def _inplace(name):
    def method(self, *args, **kwargs):
        return _apply_inplace(self, lambda s: getattr(s, name)(*args, **kwargs), name + "_")
    method.__name__ = method.__qualname__ = name + "_"
    return method


def _inplace_view(name, fn):
    """x.<name>_(...): x takes the shape (and strides) of the view fn(x, ...) of its own memory; recorded under
    autograd, x's history becomes the view's, as torch (a leaf that requires grad is refused, as torch does)."""
    def method(self, *args, **kwargs):
        if self.requires_grad and self.grad_fn is None and is_grad_enabled():
            raise RuntimeError(f"{name}_: a leaf Variable that requires grad (shape {tuple(self.shape)}) is being used "
                               "in an in-place operation.")
        r = fn(self, *args, **kwargs)
        if r is not self:
            self.array = r.array
            if r.grad_fn is not None:
                self.grad_fn = r.grad_fn
        return self
    method.__name__ = method.__qualname__ = name + "_"
    return method


def _fill(name, draw):
    def method(self, *args, generator=None, **kwargs):
        return self._inplace_assign(draw(self, *args, generator=generator, **kwargs), name)
    method.__name__ = method.__qualname__ = name
    return method


def _bernoulli_(self, p=0.5, *, generator=None):
    return self._inplace_assign(XR.bernoulli_array(self, p, generator), "bernoulli_")


def _random_(self, *args, generator=None, **kwargs):
    low = kwargs.pop("from", None)
    high = kwargs.pop("to", None)
    if kwargs:
        raise TypeError(f"random_: unexpected arguments {sorted(kwargs)}")
    if len(args) == 1:
        high = args[0]
    elif len(args) == 2:
        low, high = args
    return self._inplace_assign(XR.random_array(self, low or 0, high, generator), "random_")


def _exponential_(self, lambd=1.0, *, generator=None):
    return self._inplace_assign(XR.exponential_array(self, lambd, generator), "exponential_")


def _cauchy_(self, median=0.0, sigma=1.0, *, generator=None):
    return self._inplace_assign(XR.cauchy_array(self, median, sigma, generator), "cauchy_")


def _log_normal_(self, mean=1.0, std=2.0, *, generator=None):
    return self._inplace_assign(XR.log_normal_array(self, mean, std, generator), "log_normal_")


def _geometric_(self, p, *, generator=None):
    return self._inplace_assign(XR.geometric_array(self, p, generator), "geometric_")


def _fill_diagonal_(self, fill_value, wrap=False):
    return _apply_inplace(self, lambda s: XI.fill_diagonal(s, fill_value, wrap), "fill_diagonal_")


def _stride(self, dim=None):
    """Strides in elements. A size-1 dim keeps the stride NumPy gives it, which is torch's wherever the array came
    from a layout (a C-ordered or channels_last copy, a transpose of one), except NumPy's 0 for an inserted axis
    (x[:, None]): that one gets what a C-contiguous layout would give it, as torch's unsqueeze."""
    a = self.array
    item = a.itemsize
    out, expect = [], 1
    for n, s in zip(reversed(a.shape), reversed(a.strides)):
        st = expect if n == 1 and s == 0 else s // item
        out.append(st)
        expect = st * max(n, 1)
    out = tuple(reversed(out))
    return out if dim is None else out[dim]


def _is_nonzero(self):
    if self.numel() != 1:
        raise RuntimeError(f"is_nonzero: Boolean value of Tensor with {'no values' if self.numel() == 0 else 'more than one value'} "
                           f"is ambiguous (shape {tuple(self.shape)})")
    return bool(self.item())


def _get_device(self):
    return -1 if self.device.type == "cpu" else int(self.device.index or 0)


def install():
    for mod, names in _NAMES.items():
        for n in names:
            setattr(Tensor, n, _method(getattr(mod, n), n))
    for n in _INPLACE:
        setattr(Tensor, n + "_", _inplace(n))
    extra = {
        "moveaxis": M.movedim, "swapdims": M.transpose,
        "t_": _inplace_view("t", M.t), "transpose_": _inplace_view("transpose", M.transpose),
        "squeeze_": _inplace_view("squeeze", M.squeeze), "unsqueeze_": _inplace_view("unsqueeze", M.unsqueeze),
        "swapdims_": _inplace_view("swapdims", M.transpose), "swapaxes_": _inplace_view("swapaxes", M.transpose),
        "bernoulli": lambda self, p=None, *, generator=None: XR.bernoulli(self, p, generator=generator),
        "bernoulli_": _bernoulli_, "random_": _random_, "exponential_": _exponential_, "cauchy_": _cauchy_,
        "log_normal_": _log_normal_, "geometric_": _geometric_, "fill_diagonal_": _fill_diagonal_,
        "byte": lambda self: self.to(dtypes.uint8), "char": lambda self: self.to(dtypes.int8),
        "short": lambda self: self.to(dtypes.int16),
        "ndimension": lambda self: self.ndim, "stride": _stride, "data_ptr": lambda self: int(_ptr(self.array)),
        "get_device": _get_device, "is_nonzero": _is_nonzero,
        "storage_offset": lambda self: int((_ptr(self.array) - _ptr(root(self.array))) // self.array.itemsize),
        "untyped_storage": untyped_storage, "view": _view,
    }
    for k, v in extra.items():
        setattr(Tensor, k, v)


def _view(self, *shape, dtype=None):
    """x.view(*shape), or x.view(dtype): the same memory read as another dtype (safetensors builds its tensors from
    a byte buffer so; bit tricks on floats). Not differentiable, as torch's; with another element size the last dim
    scales, which needs it contiguous, as torch."""
    if dtype is None and len(shape) == 1 and (isinstance(shape[0], (np.dtype, str)) or type(shape[0]).__name__ ==
                                              "dtype" or (isinstance(shape[0], type) and issubclass(shape[0], np.generic))):
        dtype, shape = shape[0], ()
    if dtype is None:
        return M.view(self, *shape)
    if shape:
        raise TypeError(f"view() takes a shape or a dtype, not both (shape {shape}, dtype {dtype})")
    dt = dtypes.to_dtype(dtype)
    a, src = self.array, dtypes.name(self.dtype)
    if dt.itemsize != a.itemsize:
        what = f"to view {src} as {dtypes.name(dt)} (different element sizes)"
        if a.ndim == 0:
            raise RuntimeError(f"self.dim() cannot be 0 {what}")
        if a.shape[-1] != 1 and a.strides[-1] != a.itemsize:
            raise RuntimeError(f"self.stride(-1) must be 1 {what}, but got {a.strides[-1] // a.itemsize}")
        if dt.itemsize > a.itemsize and (a.shape[-1] * a.itemsize) % dt.itemsize:
            raise RuntimeError(f"self.size(-1) must be divisible by {dt.itemsize // a.itemsize} {what}, but got "
                               f"{a.shape[-1]}")
    return Tensor._make(a.view(dt), None)


install()
