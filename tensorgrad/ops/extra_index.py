"""Indexed writes of torch's namespace, out of place and differentiable, composed of IndexPut (ops/assign.py),
IndexAdd, ScatterAdd and the reductions: index_fill, index_copy, index_put (accumulate=), masked_scatter,
scatter_reduce (sum, prod, mean, amax, amin; include_self), put, and fill_diagonal (Tensor.fill_diagonal_'s result).
The in-place forms are attached by ops/extra_methods.py through the in-place machinery."""
import numpy as np

from ..tensor import Tensor, check_device_as
from .assign import index_put as _put_region
from .indexing import _check_index, _check_range, index_add, scatter_add
from .elementwise import where
from .movement import reshape, getitem, expand
from .reduce import amax, amin
from .scan import prod
from .util import normalize_dim, is_float


def _idx1d(op, input, index, d):
    _check_index(op, index, (np.dtype(np.int64),))
    check_device_as(op, input, index)
    if index.ndim > 1:
        raise IndexError(f"{op}: index should have dimension 1 or 0 (got {index.ndim}, shape {tuple(index.shape)})")
    n = input.shape[d] if input.ndim else 1
    _check_range(op, index, n, d, input.shape, negative=True)
    data = index.array.reshape(-1)
    return Tensor._make(input._xp.where(data < 0, data + n, data), None)


def index_fill(input, dim, index, value):
    """input with the slices at ``index`` along dim set to value (a number or a 0-d tensor, which gets gradient)."""
    d = normalize_dim("index_fill", dim, input.ndim, input.shape)
    idx = _idx1d("index_fill", input, index, d)
    idx = Tensor._make(input._xp.unique(idx.array), None)  # (a repeated place is filled once: value's gradient too)
    if isinstance(value, Tensor):
        if value.ndim:
            raise RuntimeError(f"index_fill: only supports a 0-dimensional value tensor, but got tensor with "
                               f"{value.ndim} dimension(s)")
        value = value.to(input.dtype)
    if input.ndim == 0:
        return _put_region(input, Ellipsis, value) if idx.numel() else input.clone()
    return _put_region(input, (slice(None),) * d + (idx,), value)


def index_copy(input, dim, index, source):
    """input with input.index_select(dim, index) replaced by source (where index repeats, one source slice wins)."""
    if not isinstance(source, Tensor):
        raise TypeError(f"index_copy: source must be a Tensor, got {type(source).__name__}")
    if source.dtype != input.dtype:
        raise RuntimeError(f"index_copy_(): self and source expected to have the same dtype, but got (self) "
                           f"{input.dtype} and (source) {source.dtype}")
    if input.ndim == 0:
        idx = _idx1d("index_copy", input, index, 0)
        if source.numel() != 1 or idx.numel() != 1:
            raise RuntimeError(f"index_copy: a 0-d input takes one index and a one-element source, got index of "
                               f"shape {tuple(index.shape)} and source of shape {tuple(source.shape)}")
        return _put_region(input, Ellipsis, reshape(source, ()))
    d = normalize_dim("index_copy", dim, input.ndim, input.shape)
    idx = _idx1d("index_copy", input, index, d)
    want = input.shape[:d] + (idx.shape[0],) + input.shape[d + 1:]
    src = reshape(source, want) if source.ndim == 0 and idx.shape[0] == 1 and input.ndim == 1 else source
    if tuple(src.shape) != want:
        raise RuntimeError(f"index_copy: source of shape {tuple(source.shape)} must have shape {want} (the input "
                           f"of shape {tuple(input.shape)} with dim {dim} replaced by the {idx.shape[0]} indices)")
    return _put_region(input, (slice(None),) * d + (idx,), src)


def _positions(input, indices):
    """The flat positions (in input's C order) of the region input[indices], in the region's shape."""
    xp = input._xp
    pos = Tensor._make(xp.arange(input.numel(), dtype=np.int64).reshape(input.shape), None)
    return getitem(pos, indices)


def index_put(input, indices, values, accumulate=False):
    """input with input[indices] = values (indices: a tuple of integer or bool tensors); with accumulate, values
    are added, repeated positions adding up."""
    if not isinstance(indices, (tuple, list)):
        raise TypeError(f"index_put: indices must be a tuple of tensors, got {type(indices).__name__}")
    indices = tuple(indices)
    if not isinstance(values, Tensor):
        values = Tensor._make(input._xp.asarray(values, dtype=input.dtype), None)
    if values.dtype != input.dtype:
        raise RuntimeError(f"index_put: values dtype {values.dtype} must match the input dtype {input.dtype}")
    if len(indices) > input.ndim:
        raise IndexError(f"index_put: too many indices for tensor of dimension {input.ndim} (got {len(indices)})")
    if not accumulate:
        return _put_region(input, indices, values)
    pos = _positions(input, indices)
    try:
        v = expand(values, pos.shape)
    except RuntimeError:
        raise RuntimeError(f"index_put: shape mismatch: value tensor of shape {tuple(values.shape)} cannot be "
                           f"broadcast to indexing result of shape {tuple(pos.shape)}") from None
    flat = reshape(input, input.numel())
    out = index_add(flat, 0, reshape(pos, pos.numel()), reshape(v, v.numel()))
    return reshape(out, input.shape)


def put(input, index, source, accumulate=False):
    """input as if 1-d with input[index] = source (index and source of one size; negative indices wrap)."""
    _check_index("put", index, (np.dtype(np.int64),))
    if index.numel() != source.numel():
        raise RuntimeError(f"put: expected source and index to have the same number of elements, but got "
                           f"{source.numel()} and {index.numel()}")
    n = input.numel()
    _check_range("put", index, n, 0, input.shape, negative=True)
    data = index.array.reshape(-1)
    idx = Tensor._make(input._xp.where(data < 0, data + n, data), None)
    out = index_put(reshape(input, n), (idx,), reshape(source, source.numel()).to(input.dtype), accumulate)
    return reshape(out, input.shape)


def masked_scatter(input, mask, source):
    """input with the places where mask (broadcast to input) is True filled, in order, by source's first
    elements."""
    if not isinstance(mask, Tensor) or mask.dtype != np.bool_:
        raise RuntimeError(f"masked_scatter: expected mask to be a bool tensor, got "
                           f"{getattr(mask, 'dtype', type(mask).__name__)}")
    if source.dtype != input.dtype:
        raise RuntimeError(f"masked_scatter: expected self and source to have same dtypes but got {input.dtype} and "
                           f"{source.dtype}")
    check_device_as("masked_scatter", input, mask, source)
    try:
        m = input._xp.broadcast_to(mask.array, input.shape)
    except ValueError:
        raise RuntimeError(f"masked_scatter: mask of shape {tuple(mask.shape)} does not broadcast to the input's "
                           f"shape {tuple(input.shape)}") from None
    pos = input._xp.flatnonzero(m)
    k = pos.size
    if k > source.numel():
        raise RuntimeError(f"masked_scatter: expected source to have at least {k} elements (the True entries of "
                           f"the mask), got {source.numel()}")
    n = input.numel()
    vals = getitem(reshape(source, source.numel()), slice(0, k))
    out = _put_region(reshape(input, n), (Tensor._make(pos.astype(np.int64), None),), vals)
    return reshape(out, input.shape)


def fill_diagonal(input, fill_value, wrap=False):
    """input with its main diagonal (all dims equal, or the first min(rows, cols) of a tall matrix; with wrap, a
    new diagonal every cols + 1 rows) set to fill_value."""
    if input.ndim < 2:
        raise RuntimeError(f"fill_diagonal_: dimensions must larger than 1 (shape {tuple(input.shape)})")
    if input.ndim > 2 and len(set(input.shape)) != 1:
        raise RuntimeError(f"fill_diagonal_: all dimensions of input must be of equal length (shape "
                           f"{tuple(input.shape)})")
    n = input.numel()
    if input.ndim == 2:
        rows, cols = input.shape
        step = cols + 1
        end = n if wrap else min(rows, cols) * cols
        pos = np.arange(0, end, step, dtype=np.int64)
    else:
        pos = np.arange(input.shape[0], dtype=np.int64) * int(sum(np.prod(input.shape[i + 1:], dtype=np.int64)
                                                                    for i in range(input.ndim)))
    flat = reshape(input, n)
    out = _put_region(flat, (Tensor._make(input._xp.asarray(pos), None),), fill_value)
    return reshape(out, input.shape)


# ------------------------------------------------------------------------------------------ scatter_reduce
_REDUCES = ("sum", "prod", "mean", "amax", "amin")


def scatter_reduce(input, dim, index, src, reduce, *, include_self=True):
    """input with src[i][j] reduced into input[index[i][j]][j] (dim 0) by ``reduce``; include_self=False leaves
    the old values of the places written out of the reduction (places nothing is written to keep theirs).

    sum is scatter_add; prod, amax and amin gather each place's contributions into the rows of a padded
    (written places x largest group) tensor and reduce its last dim with prod / amax / amin, whose gradients are
    torch's (amax/amin split among ties); mean is the sum over the count. The padded tensor costs
    (places written) x (most contributions to one place) elements."""
    if reduce not in _REDUCES:
        raise RuntimeError(f"scatter_reduce: reduce argument must be one of {_REDUCES}, got {reduce!r}")
    _check_index("scatter_reduce", index, (np.dtype(np.int64),))
    if not isinstance(src, Tensor):
        raise TypeError(f"scatter_reduce: src must be a Tensor, got {type(src).__name__}")
    if src.dtype != input.dtype:
        raise RuntimeError(f"scatter_reduce(): expected self and src to have the same dtype, got {input.dtype} and "
                           f"{src.dtype}")
    check_device_as("scatter_reduce", input, index, src)
    a = reshape(input, 1) if input.ndim == 0 else input
    s = reshape(src, 1) if src.ndim == 0 else src
    ix = Tensor._make(index.array.reshape(1), None) if index.ndim == 0 else index
    d = normalize_dim("scatter_reduce", dim, a.ndim, input.shape)
    if ix.numel() == 0:
        return input.clone()
    if ix.ndim != a.ndim or s.ndim != a.ndim or any(k > n for i, (k, n) in enumerate(zip(ix.shape, a.shape)) if i != d) \
            or any(k > m for k, m in zip(ix.shape, s.shape)):
        raise RuntimeError(f"scatter_reduce: index of shape {tuple(index.shape)} must have as many dims as self "
                           f"(shape {tuple(input.shape)}) and src (shape {tuple(src.shape)}) and be no larger than "
                           f"src, nor than self outside dim {dim}")
    _check_range("scatter_reduce", ix, a.shape[d], dim, input.shape)
    xp = a._xp
    # the flat place in a of every index entry: its own coordinates with dim d replaced by the index value
    coords = list(np.indices(ix.shape, sparse=True)) if xp is np else list(xp.indices(ix.shape, sparse=True))
    coords[d] = ix.array
    target = xp.ravel_multi_index(tuple(xp.broadcast_to(c, ix.shape) for c in coords), a.shape).reshape(-1)
    vals = reshape(getitem(s, tuple(slice(0, k) for k in ix.shape)), ix.numel())
    out = _reduce_into(reshape(a, a.numel()), target, vals, reduce, include_self)
    return reshape(out, input.shape)


def _reduce_into(flat, target, vals, reduce, include_self):
    xp = flat._xp
    n = flat.shape[0]
    if reduce in ("sum", "mean"):
        t = Tensor._make(target, None)
        base = flat if include_self else where(_mask(xp, n, target), 0, flat)
        out = scatter_add(base, 0, t, vals)
        if reduce == "sum":
            return out
        count = xp.bincount(target, minlength=n) + (1 if include_self else 0)
        count = xp.maximum(count, 1).astype(flat.dtype)
        if is_float(flat.dtype):
            return out / Tensor._make(count, None)
        return Tensor._make(xp.floor_divide(out.array, count).astype(flat.dtype), None)
    places, inverse, counts = xp.unique(target, return_inverse=True, return_counts=True)
    order = xp.argsort(inverse, kind="stable")
    starts = xp.cumsum(counts) - counts
    rank = xp.empty_like(order)
    rank[order] = xp.arange(order.size) - xp.repeat(starts, counts)
    lead = 1 if include_self else 0
    width = int(counts.max()) + lead
    fill = _identity(reduce, flat.dtype)
    padded = Tensor._make(xp.full((places.size, width), fill, dtype=flat.dtype), None)
    rows = Tensor._make(inverse.reshape(-1).astype(np.int64), None)
    cols = Tensor._make((rank + lead).astype(np.int64), None)
    padded = _put_region(padded, (rows, cols), vals)
    p = Tensor._make(places.astype(np.int64), None)
    if include_self:
        padded = _put_region(padded, (slice(None), 0), getitem(flat, p))
    red = prod(padded, 1) if reduce == "prod" else amax(padded, 1) if reduce == "amax" else amin(padded, 1)
    return _put_region(flat, (p,), red)


def _mask(xp, n, target):
    m = xp.zeros(n, dtype=bool)
    m[target] = True
    return Tensor._make(m, None)


def _identity(reduce, dtype):
    if reduce == "prod":
        return 1
    if is_float(dtype):
        return -np.inf if reduce == "amax" else np.inf
    info = np.iinfo(dtype) if dtype != np.bool_ else None
    if info is None:
        return reduce == "amin"
    return info.min if reduce == "amax" else info.max
