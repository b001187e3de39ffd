"""torch's top-level spellings that tensorgrad's ops already compute: the in-place functions (torch.abs_(x) is
x.abs_()), generated from Tensor's methods; the *_copy variants (the view op, then clone); and small functions of
the namespace: fill, rsub, detach, concatenate, isreal, is_nonzero, put, index_reduce, segment_reduce, histogramdd,
binomial, and the queries (is_inference, is_storage, get_device)."""
import collections
import warnings

import numpy as np

from .. import dtypes
from ..autograd import anomaly as _anomaly
from ..tensor import Tensor
from ..backend import cuda_available, set_default_device
from ..backend.sparse_coo import Layout as _Layout
from ..legacy import LEGACY
from ..random import default_generator
from .extra_index import put, scatter_reduce
from .elementwise import where
from .movement import cat, reshape
from .strided import as_strided, install as _install_strided
from . import special_more as _SM
from .methods import _apply_inplace

# torch's top-level in-place functions that are Tensor methods here (torch.sin_(x) is x.sin_()). torch.<name> is
# made from Tensor.<name> by install(), for each one Tensor has.
INPLACE = ("abs_", "acos_", "acosh_", "addmv_", "arccos_", "arccosh_", "arcsin_", "arcsinh_", "arctan_", "arctanh_",
           "asin_", "asinh_", "atan_", "atanh_", "ceil_", "clamp_", "clamp_max_", "clamp_min_", "clip_", "cos_",
           "cosh_", "deg2rad_", "detach_", "erf_", "erfc_", "exp2_", "exp_", "expm1_", "fill_", "fix_", "floor_",
           "frac_", "gcd_", "index_put_", "lcm_", "ldexp_", "log10_", "log1p_", "log2_", "log_", "logit_",
           "nan_to_num_", "neg_", "negative_", "rad2deg_", "reciprocal_", "resize_as_", "round_", "rsqrt_",
           "sigmoid_", "sin_", "sinc_", "sinh_", "sqrt_", "square_", "tan_", "tanh_", "trunc_", "xlogy_", "zero_",
           "i0_", "as_strided_")


def _from_method(name):
    def fn(input, *args, **kwargs):
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}(): argument 'input' must be Tensor, not {type(input).__name__}")
        return getattr(input, name)(*args, **kwargs)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"torch.{name}(input, ...): input.{name}(...)."
    return fn


def _method(fn, name):
    def method(self, *args, **kwargs):
        return fn(self, *args, **kwargs)
    method.__name__ = method.__qualname__ = name
    return method


def _inplace_method(fn, name):
    def method(self, *args, **kwargs):
        return _apply_inplace(self, lambda s: fn(s, *args, **kwargs), name)
    method.__name__ = method.__qualname__ = name
    return method


def _clone_all(r):
    return tuple(t.clone() for t in r) if isinstance(r, (tuple, list)) else r.clone()


def _copy_of(name, view):
    """torch.<name>_copy: the view op's result, copied (the same values and gradients, memory of its own)."""
    def fn(input, *args, **kwargs):
        return _clone_all(view(input, *args, **kwargs))
    fn.__name__ = fn.__qualname__ = name + "_copy"
    fn.__doc__ = f"torch.{name}_copy: {name}(...) followed by clone()."
    return fn


def _slice(input, dim=0, start=None, end=None, step=1):
    if step <= 0:
        raise RuntimeError(f"slice_copy: slice step must be positive, got {step}")
    d = dim + input.ndim if dim < 0 else dim
    return input[(slice(None),) * d + (slice(start, end, step),)]


def _expand(input, size, *, implicit=False):
    return input.expand(*size) if isinstance(size, (tuple, list)) else input.expand(size)


def _view(input, *size):
    if len(size) == 1 and not isinstance(size[0], (int, np.integer, tuple, list)):
        raise TypeError(f"view_copy: reinterpreting memory as another dtype (got {size[0]!r}) is not supported")
    return input.view(*size)


_VIEWS = {
    "alias": lambda x: x, "as_strided": as_strided, "detach": lambda x: x.detach(),
    "diagonal": lambda x, offset=0, dim1=0, dim2=1: x.diagonal(offset, dim1, dim2), "expand": _expand,
    "permute": lambda x, dims: x.permute(*dims), "select": lambda x, dim, index: x.select(dim, index),
    "slice": _slice, "split": lambda x, split_size, dim=0: x.split(split_size, dim),
    "split_with_sizes": lambda x, split_sizes, dim=0: x.split(list(split_sizes), dim),
    "squeeze": lambda x, dim=None: x.squeeze() if dim is None else x.squeeze(dim), "t": lambda x: x.t(),
    "transpose": lambda x, dim0, dim1: x.transpose(dim0, dim1), "unbind": lambda x, dim=0: x.unbind(dim),
    "unfold": lambda x, dimension, size, step: x.unfold(dimension, size, step),
    "unsqueeze": lambda x, dim: x.unsqueeze(dim), "view": _view,
    "values": lambda x: x.values(), "indices": lambda x: x.indices(),
}
COPIES = {name + "_copy": _copy_of(name, v) for name, v in _VIEWS.items()}


def fill(input, value):
    """A tensor of input's shape and dtype filled with value (a number or a 0-d tensor, which gets the gradient)."""
    if isinstance(value, Tensor) and value.ndim:
        raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor with {value.ndim} dimensions.")
    return _apply_inplace(input.clone(), lambda s: s.fill_(value), "fill")


def rsub(input, other, alpha=1):
    """other - alpha * input (torch.sub with the operands swapped)."""
    if isinstance(input, Tensor) and input.dtype == np.bool_ and (isinstance(other, bool) or (
            isinstance(other, Tensor) and other.dtype == np.bool_)):
        raise RuntimeError("Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or "
                           "`logical_xor()` operator instead.")
    scaled = input if alpha == 1 else input * alpha
    return other - scaled


def detach(input):
    return input.detach()


def concatenate(tensors, axis=0, out=None):
    """torch.concatenate: cat with NumPy's argument name."""
    return cat(tensors, axis) if out is None else cat(tensors, axis, out=out)


def isreal(input):
    """True where input has no imaginary part: everywhere for a real tensor."""
    if np.dtype(input.dtype).kind == "c":
        return input.imag == 0
    return Tensor._make(input._xp.ones(input.shape, dtype=np.bool_), None)


def is_nonzero(input):
    return input.is_nonzero()


def get_device(input):
    return input.get_device()


def is_inference(input):
    """False: tensorgrad has no inference tensors (inference_mode here is no_grad that reports itself), so no tensor
    is one."""
    if not isinstance(input, Tensor):
        raise TypeError(f"is_inference(): argument 'input' must be Tensor, not {type(input).__name__}")
    return False


def is_storage(obj):
    """False: tensorgrad has no Storage objects (a tensor's memory is its array)."""
    return False


_INDEX_REDUCES = ("prod", "mean", "amax", "amin")


def index_reduce(input, dim, index, source, reduce, *, include_self=True):
    """input with the slices of source along dim reduced (prod, mean, amax, amin) into input's slices at index."""
    if reduce not in _INDEX_REDUCES:
        raise RuntimeError(f"index_reduce(): Expected reduce to be one of prod, mean, amax or amin but got {reduce}.")
    if not isinstance(index, Tensor) or index.ndim > 1:
        raise IndexError(f"index_reduce(): Index is supposed to be a vector, got "
                         f"{getattr(index, 'shape', type(index).__name__)}")
    if not isinstance(source, Tensor) or source.dtype != input.dtype:
        raise RuntimeError(f"index_reduce(): self ({input.dtype}) and source "
                           f"({getattr(source, 'dtype', type(source).__name__)}) must have the same scalar type")
    if input.ndim == 0 or source.ndim == 0:
        return reshape(index_reduce(reshape(input, 1), 0, index, reshape(source, 1), reduce,
                                    include_self=include_self), input.shape)
    d = dim + input.ndim if dim < 0 else dim
    if source.ndim != input.ndim or index.numel() != source.shape[d] or any(
            a != b for i, (a, b) in enumerate(zip(input.shape, source.shape)) if i != d):
        raise RuntimeError(f"index_reduce(): source of shape {tuple(source.shape)} must match self's shape "
                           f"{tuple(input.shape)} outside dim {dim}, and have index's {index.numel()} slices along it")
    shape = [1] * source.ndim
    shape[d] = -1
    idx = Tensor._make(input._xp.broadcast_to(index.array.reshape(shape), source.shape).copy(), None)
    return scatter_reduce(input, d, idx, source, reduce, include_self=include_self)


_SEGMENT = {"sum": ("sum", 0.0), "mean": ("sum", np.nan), "max": ("amax", -np.inf), "min": ("amin", np.inf),
            "prod": ("prod", 1.0)}


def segment_reduce(data, reduce, *, lengths=None, indices=None, offsets=None, axis=0, unsafe=False, initial=None):
    """Reduce consecutive segments of data along axis (sum, mean, max, min, prod); segments given by 1-d lengths or
    offsets. An empty segment gives initial, or the reduction's identity (nan for mean); a given initial joins every
    segment's reduction (mean: (sum + initial) / count)."""
    if reduce not in _SEGMENT:
        raise RuntimeError(f"segment_reduce: reduce must be one of {tuple(_SEGMENT)}, got {reduce!r}")
    if indices is not None:
        raise NotImplementedError("segment_reduce: indices is not supported (torch does not implement it either); "
                                  "give lengths or offsets")
    if (lengths is None) == (offsets is None):
        raise RuntimeError("segment_reduce: give exactly one of lengths and offsets")
    if offsets is not None:
        off = np.asarray(offsets.detach().cpu()).astype(np.int64)
        if off.ndim != 1:
            raise NotImplementedError("segment_reduce: only 1-d offsets are supported")
        lens = np.diff(off)
    else:
        lens = np.asarray(lengths.detach().cpu()).astype(np.int64)
        if lens.ndim - 1 != (axis + data.ndim if axis < 0 else axis):
            raise RuntimeError(f"segment_reduce(): Expected axis to be the last dimension of lengths but got {axis}.")
        if lens.ndim != 1:
            raise NotImplementedError("segment_reduce: only 1-d lengths are supported (one set of segments for the "
                                      "whole axis)")
    ax = axis + data.ndim if axis < 0 else axis
    if (lens < 0).any() or int(lens.sum()) != data.shape[ax]:
        raise RuntimeError(f"segment_reduce: Expected all rows of lengths along axis to sum to data.size(lengths.dim()"
                           f"-1) when !unsafe (lengths {lens.tolist()}, data of shape {tuple(data.shape)}, axis {axis})")
    kind, empty_value = _SEGMENT[reduce]
    xp = data._xp
    seg = np.repeat(np.arange(lens.size), lens)
    out_shape = data.shape[:ax] + (lens.size,) + data.shape[ax + 1:]
    shape = [1] * data.ndim
    shape[ax] = -1
    idx = Tensor._make(xp.broadcast_to(xp.asarray(seg).reshape(shape), data.shape).copy(), None)
    start = 0.0 if kind == "sum" and initial is None else (empty_value if initial is None else float(initial))
    base = Tensor._make(xp.full(out_shape, start, dtype=data.dtype), None)
    out = scatter_reduce(base, ax, idx, data, kind, include_self=initial is not None or kind == "sum")
    cshape = [1] * data.ndim
    cshape[ax] = lens.size
    count = xp.asarray(lens).reshape(cshape)
    if reduce == "mean":
        out = out / Tensor._make(xp.maximum(count, 1).astype(data.dtype), None)
    fill = empty_value if initial is None else float(initial)
    if (lens == 0).any() and reduce != "sum":
        out = where(Tensor._make(xp.broadcast_to(count == 0, out_shape), None), fill, out)
    return out


def histogramdd(input, bins=10, range=None, weight=None, density=False):
    """(hist, bin_edges) of the points input[..., :] (the last dim is the point's D coordinates): bins an int, D ints
    or D tensors of edges; range a flat list (min_0, max_0, min_1, ...)."""
    if not isinstance(input, Tensor) or not dtypes.is_float(input.dtype):
        raise RuntimeError(f"torch.histogramdd: input tensor and bins tensors should have the same dtype, and be "
                           f"floating point, got {getattr(input, 'dtype', type(input).__name__)}")
    if input.ndim < 1:
        raise RuntimeError("torch.histogramdd: input tensor should have at least 1 dimension")
    D = input.shape[-1]
    pts = np.asarray(input.detach().cpu()).reshape(-1, D).astype(np.float64)
    if isinstance(bins, (int, np.integer)):
        b = [int(bins)] * D
    else:
        b = [np.asarray(e.detach().cpu()).astype(np.float64) if isinstance(e, Tensor) else int(e) for e in bins]
        if len(b) != D:
            raise RuntimeError(f"torch.histogramdd: expected {D} sequences of bin edges for each dimension, but got "
                               f"{len(b)}")
    rng = None
    if range is not None:
        if len(range) != 2 * D:
            raise RuntimeError(f"torch.histogramdd: for a {D}-dimensional histogram, range should have {2 * D} "
                               f"elements, but got {len(range)}")
        rng = [(float(range[2 * i]), float(range[2 * i + 1])) for i in np.arange(D)]
    elif pts.shape[0] == 0:
        rng = [(0.0, 0.0)] * D
    w = None if weight is None else np.asarray(weight.detach().cpu()).reshape(-1).astype(np.float64)
    hist, edges = np.histogramdd(pts, bins=b, range=rng, weights=w, density=density)
    dev = input.device
    hist_t = Tensor._from(hist.astype(input.dtype), device=dev)
    return histogramdd_result(hist_t, tuple(Tensor._from(e.astype(input.dtype), device=dev) for e in edges))


histogramdd_result = collections.namedtuple("histogramdd", ["hist", "bin_edges"])


def binomial(count, prob, generator=None):
    """Binomial(count, prob) draws, elementwise (broadcast), in count's dtype; not differentiable (torch's derivative
    is not implemented: its backward raises, here the result does not require grad)."""
    for name, t in (("count", count), ("prob", prob)):
        if not isinstance(t, Tensor) or not dtypes.is_float(t.dtype):
            raise ValueError(f"binomial only supports floating-point dtypes for {name}, got "
                             f"{getattr(t, 'dtype', type(t).__name__)}")
    n = np.asarray(count.detach().cpu()).astype(np.float64)
    p = np.asarray(prob.detach().cpu()).astype(np.float64)
    if (n < 0).any() or (p < 0).any() or (p > 1).any() or np.isnan(p).any():
        raise RuntimeError("binomial: expected count >= 0 and 0 <= prob <= 1")
    gen = (generator or default_generator)._gen("cpu")
    draw = gen.binomial(n.astype(np.int64), p).astype(count.dtype)
    return Tensor._from(draw, device=count.device)


def install(namespace):
    """Put the in-place functions Tensor has and the *_copy variants into the package namespace, and index_reduce(_)
    onto Tensor."""
    _install_strided()
    Tensor.index_reduce = index_reduce
    for name, fn in (("i0", _SM.i0), ("igamma", _SM.igamma), ("igammac", _SM.igammac), ("mvlgamma", _SM.mvlgamma)):
        setattr(Tensor, name, _method(fn, name))
        setattr(Tensor, name + "_", _inplace_method(fn, name + "_"))
    Tensor.index_reduce_ = lambda self, dim, index, source, reduce, *, include_self=True: _apply_inplace(
        self, lambda s: index_reduce(s, dim, index, source, reduce, include_self=include_self), "index_reduce_")
    for name in INPLACE:
        if name not in namespace and hasattr(Tensor, name):
            namespace[name] = _from_method(name)
    for name, fn in COPIES.items():
        namespace.setdefault(name, fn)


__all__ = ["fill", "rsub", "detach", "concatenate", "isreal", "is_nonzero", "get_device", "is_inference",
           "is_storage", "index_reduce", "segment_reduce", "histogramdd", "binomial", "put"]


# ------------------------------------------------------------------------------- anomaly and warning switches
_anomaly_flags = {"trace_only": False, "check_nan": True}  # (trace_only: torch's mode on with check_nan=False)
_warn_always = [False]


def is_anomaly_enabled():
    return _anomaly.is_anomaly_enabled() or _anomaly_flags["trace_only"]


def is_anomaly_check_nan_enabled():
    return _anomaly_flags["check_nan"]


def set_anomaly_enabled(enabled, check_nan=True):
    """torch.set_anomaly_enabled: anomaly mode on or off. On with check_nan, the backward's gradients are checked
    for NaN as torch checks them (the forward is not: check_forward=False); on without it, torch only records the
    forward's tracebacks, and here nothing is hooked."""
    _anomaly.set_detect_anomaly(False)
    _anomaly_flags.update(trace_only=bool(enabled and not check_nan), check_nan=bool(check_nan))
    if enabled and check_nan:
        _anomaly.set_detect_anomaly(True, check_forward=False)


def set_warn_always(b):
    """torch's switch for warnings torch gives once per process; tensorgrad's warnings go through Python's warnings
    filters, which this does not change, so the flag is only kept and reported."""
    _warn_always[0] = bool(b)


def is_warn_always_enabled():
    return _warn_always[0]


# ------------------------------------------------------------------------------- small queries and helpers
dtype = np.dtype  # (torch.dtype: what tensorgrad's dtypes are instances of, for isinstance and annotations)
layout = _Layout  # (torch.layout: the class of tensorgrad.strided and tensorgrad.sparse_coo)


def is_vulkan_available():
    return False


def set_flush_denormal(mode):
    """Whether the request was honoured: NumPy offers no switch to flush denormals to zero, so turning it on is
    refused (False, torch's answer on a CPU without the feature) and turning it off, the state here, succeeds."""
    return not mode


def to_dlpack(tensor):
    """A DLPack capsule sharing tensor's memory (tensor.__dlpack__())."""
    return tensor.__dlpack__()


def nonzero_static(input, *, size, fill_value=-1):
    """nonzero(input) cut or padded (with fill_value) to exactly ``size`` rows, so the shape does not depend on the
    data."""
    if size < 0:
        raise RuntimeError(f"nonzero_static: 'size' must be an non-negative integer, got {size}")
    idx = np.argwhere(np.asarray(input.detach().cpu()))[:size]
    out = np.full((size, input.ndim), fill_value, dtype=np.int64)
    out[:idx.shape[0]] = idx
    return Tensor._from(out, device=input.device)


def set_default_tensor_type(t):
    """Deprecated in torch (2.1) for set_default_dtype / set_default_device: a floating legacy type (torch.DoubleTensor
    or its name; 'torch.cuda.FloatTensor' also makes CUDA the default device) sets the default dtype."""
    warnings.warn("torch.set_default_tensor_type() is deprecated as of PyTorch 2.1, please use "
                  "torch.set_default_dtype() and torch.set_default_device() as alternatives.", UserWarning,
                  stacklevel=2)
    name = t if isinstance(t, str) else f"torch.{getattr(t, '__name__', t)}"
    parts = str(name).split(".")
    cls = LEGACY.get(parts[-1]) if parts[0] == "torch" and len(parts) in (2, 3) and (
        len(parts) == 2 or parts[1] == "cuda") else None
    if cls is None:
        if isinstance(t, np.dtype) or not isinstance(t, (str, type)):
            raise TypeError(f"invalid type object: only floating-point types are supported as the default type "
                            f"(got {t!r})")
        raise TypeError(f"invalid type: {name!r}")
    if not dtypes.is_float(cls.dtype):
        raise TypeError("only floating-point types are supported as the default type")
    if len(parts) == 3 and not cuda_available():
        raise TypeError(f"type {name} not available. Torch not compiled with CUDA enabled.")
    dtypes.set_default_dtype(cls.dtype)
    if len(parts) == 3:
        set_default_device("cuda")
