"""Shape helpers of torch's namespace built on the movement ops: the stack/split families (hstack, vstack, dstack,
column_stack, hsplit...), atleast_nd, block_diag, combinations, tril/triu_indices, rot90, fliplr/flipud, unflatten,
ravel, take, vander, the *_scatter ops (out-of-place writes of a view's region), narrow_copy, sum_to_size, and
Tensor.unfold (sliding windows, a strided view like torch's: the one op here with a backward of its own)."""
import itertools
import math

import numpy as np

from ..autograd.function import Function
from ..backend import xp_of
from ..tensor import Tensor
from .assign import index_put
from .composite import tensor_split
from .elementwise import result_type, where
from .graph import linear_map, frozen_backward, sum_to
from .indexing import diagonal, pad, _check_index
from .movement import cat, reshape, flip, transpose, movedim, narrow, select, getitem, contiguous, expand
from .scan import cumprod
from .util import normalize_dim


def _seq(op, tensors):
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError(f"{op}: expected a non-empty list of tensors")
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: expected a sequence of Tensors, got {type(t).__name__}")
    return tensors


# ------------------------------------------------------------------------------------------- atleast_nd
def _atleast(n, tensors):
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        return tuple(_atleast(n, (t,)) for t in tensors[0])
    out = []
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"atleast_{n}d: expected Tensors, got {type(t).__name__}")
        if t.ndim >= n:
            out.append(t)
        elif n == 1 or t.ndim == 0:
            out.append(reshape(t, (1,) * n))
        elif n == 2:  # (1-d: a row)
            out.append(reshape(t, (1,) + t.shape))
        else:  # n == 3: a 1-d (k,) is (1, k, 1), a 2-d (a, b) is (a, b, 1), as numpy's
            out.append(reshape(t, (1,) + t.shape + (1,)) if t.ndim == 1 else reshape(t, t.shape + (1,)))
    return out[0] if len(out) == 1 else tuple(out)


def atleast_1d(*tensors):
    return _atleast(1, tensors)


def atleast_2d(*tensors):
    return _atleast(2, tensors)


def atleast_3d(*tensors):
    return _atleast(3, tensors)


# ----------------------------------------------------------------------------------------- stack / split
def hstack(tensors):
    ts = _atleast(1, _seq("hstack", tensors))
    ts = list(ts) if isinstance(ts, tuple) else [ts]
    return cat(ts, 0 if ts[0].ndim == 1 else 1)


def vstack(tensors):
    ts = _atleast(2, _seq("vstack", tensors))
    return cat(list(ts) if isinstance(ts, tuple) else [ts], 0)


row_stack = vstack


def dstack(tensors):
    ts = _atleast(3, _seq("dstack", tensors))
    return cat(list(ts) if isinstance(ts, tuple) else [ts], 2)


def column_stack(tensors):
    ts = _seq("column_stack", tensors)
    ts = [reshape(t, (t.numel(), 1)) if t.ndim <= 1 else t for t in ts]
    return cat(ts, 1)


def _split_dim(op, input, sections, dim, need):
    if input.ndim < need:
        raise RuntimeError(f"{op}: requires a tensor with at least {need} dimension(s), but got a tensor with "
                           f"{input.ndim} dimensions (shape {tuple(input.shape)})")
    if isinstance(sections, (int, np.integer)) and not isinstance(sections, bool):
        n = input.shape[dim]
        if sections == 0 or n % sections:
            raise RuntimeError(f"{op}: dimension {dim} of size {n} is not divisible by the split size {sections} "
                               f"(shape {tuple(input.shape)})")
    return tensor_split(input, sections, dim)


def hsplit(input, indices_or_sections):
    return _split_dim("hsplit", input, indices_or_sections, 1 if input.ndim > 1 else 0, 1)


def vsplit(input, indices_or_sections):
    return _split_dim("vsplit", input, indices_or_sections, 0, 2)


def dsplit(input, indices_or_sections):
    return _split_dim("dsplit", input, indices_or_sections, 2, 3)


# ------------------------------------------------------------------------------------------ construction
def block_diag(*tensors):
    """The tensors (0-d, 1-d rows or 2-d) on the diagonal of a zero matrix; the dtype is their promoted one."""
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"block_diag: expected Tensors, got {type(t).__name__}")
        if t.ndim > 2:
            raise RuntimeError(f"block_diag: input tensors must have 2 or fewer dimensions, got shape {tuple(t.shape)}")
    if not tensors:
        return Tensor._make(np.zeros((1, 0), dtype=np.float32), None)
    dt = result_type(*[t if t.ndim else reshape(t, 1) for t in tensors])
    blocks = [reshape(t, (1,) * (2 - t.ndim) + t.shape).to(dt) for t in tensors]
    width = sum(b.shape[1] for b in blocks)
    rows, left = [], 0
    for b in blocks:
        rows.append(pad(b, (left, width - left - b.shape[1])))
        left += b.shape[1]
    return cat(rows, 0)


def combinations(input, r=2, with_replacement=False):
    """itertools.combinations (or combinations_with_replacement) of a 1-d tensor's elements, as rows."""
    if input.ndim != 1:
        raise RuntimeError(f"combinations: expect a 1D vector, but got shape {tuple(input.shape)}")
    if not isinstance(r, (int, np.integer)) or r < 0:
        raise RuntimeError(f"combinations: expect a non-negative number, but got {r!r}")
    if r == 0:
        return Tensor._make(input._xp.empty((0,), dtype=input.dtype), None)
    fn = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    idx = np.array(list(fn(range(input.shape[0]), int(r))), dtype=np.int64).reshape(-1, int(r))
    if idx.shape[0] == 0:
        return Tensor._make(input._xp.empty((0, int(r)), dtype=input.dtype), None) if not input.requires_grad \
            else getitem(input, Tensor._make(input._xp.asarray(idx), None))
    return getitem(input, Tensor._make(input._xp.asarray(idx), None))


def _tri_indices(op, row, col, offset, dtype, device, upper):
    from_np = np.triu_indices if upper else np.tril_indices
    if row < 0 or col < 0:
        raise RuntimeError(f"{op}: row ({row}) and col ({col}) must be non-negative")
    r, c = from_np(row, offset, col) if row and col else (np.zeros(0, np.int64), np.zeros(0, np.int64))
    dt = np.dtype(np.int64) if dtype is None else np.dtype(str(dtype).replace("torch.", ""))
    t = Tensor._make(np.stack([r, c]).astype(dt), None)
    return t if device is None else t.to(device)


def tril_indices(row, col, offset=0, *, dtype=None, device=None, layout=None):
    """The (row, col) coordinates of the lower triangle of a row x col matrix, row by row (a 2 x N int64 tensor)."""
    return _tri_indices("tril_indices", row, col, offset, dtype, device, False)


def triu_indices(row, col, offset=0, *, dtype=None, device=None, layout=None):
    return _tri_indices("triu_indices", row, col, offset, dtype, device, True)


def vander(x, N=None, increasing=False):
    """Columns x**0 ... x**(N-1) (reversed unless increasing); a running product, so gradients hold at x = 0.
    Integer and bool inputs give int64, as torch."""
    if x.ndim != 1:
        raise RuntimeError(f"vander: x must be a one-dimensional tensor, got shape {tuple(x.shape)}")
    n = x.shape[0] if N is None else int(N)
    if n < 0:
        raise RuntimeError(f"vander: N must be non-negative, got {N}")
    if x.dtype.kind in "biu":
        x = x.to(np.int64)
    ones = Tensor._make(x._xp.ones((x.shape[0], min(n, 1)), dtype=x.dtype), None)
    if x.requires_grad:
        # (x**0 is part of the graph, as torch's: vander(x, 1) of an x that requires grad gave a constant that
        # backward refused; its gradient is 0)
        col = expand(reshape(x, (x.shape[0], 1)), tuple(ones.shape))
        ones = where(Tensor._make(x._xp.zeros((), dtype=bool), None), col, ones)
    if n > 1:
        powers = cumprod(expand(reshape(x, (x.shape[0], 1)), (x.shape[0], n - 1)), 1)
        out = cat([ones, powers], 1)
    else:
        out = ones
    return out if increasing else flip(out, 1)


# ------------------------------------------------------------------------------------------ rearranging
def rot90(input, k=1, dims=(0, 1)):
    dims = list(dims)
    if len(dims) != 2:
        raise RuntimeError(f"rot90: expected total rotation dims == 2, but got dims = {len(dims)}")
    if input.ndim < 2:
        raise RuntimeError(f"rot90: expected total dims >= 2, but got total dims = {input.ndim}")
    d0, d1 = (normalize_dim("rot90", d, input.ndim, input.shape) for d in dims)
    if d0 == d1:
        raise RuntimeError(f"rot90: expected rotation dims to be different, but got dim0 = {d0} and dim1 = {d1}")
    k = int(k) % 4
    if k == 1:
        return transpose(flip(input, d1), d0, d1)
    if k == 2:
        return flip(input, d0, d1)
    if k == 3:
        return flip(transpose(input, d0, d1), d1)
    return input.clone()


def fliplr(input):
    if input.ndim < 2:
        raise RuntimeError(f"fliplr: input must be >= 2-d, got shape {tuple(input.shape)}")
    return flip(input, 1)


def flipud(input):
    if input.ndim < 1:
        raise RuntimeError("flipud: input must be >= 1-d, got a 0-d tensor")
    return flip(input, 0)


def unflatten(input, dim, sizes):
    """Dim ``dim`` split into ``sizes`` (one of them may be -1): a view, as reshape."""
    d = normalize_dim("unflatten", dim, input.ndim, input.shape)
    sizes = [int(s) for s in sizes]
    if not sizes:
        raise RuntimeError("unflatten: sizes must be non-empty")
    n = input.shape[d]
    if sizes.count(-1) > 1 or (-1 not in sizes and math.prod(sizes) != n) or \
            (-1 in sizes and (math.prod(s for s in sizes if s != -1) == 0 or n % math.prod(s for s in sizes if s != -1))):
        raise RuntimeError(f"unflatten: provided sizes {sizes} don't multiply up to the size of dim {dim} ({n}) in "
                           f"the input tensor of shape {tuple(input.shape)}")
    if -1 in sizes:
        sizes[sizes.index(-1)] = n // math.prod(s for s in sizes if s != -1)
    return reshape(input, input.shape[:d] + tuple(sizes) + input.shape[d + 1:])


def ravel(input):
    return reshape(input, -1) if input.numel() else reshape(input, (0,))


def swapaxes(input, axis0, axis1):
    return transpose(input, axis0, axis1)


def take(input, index):
    """input as if 1-d, at ``index`` (negative values count from the end); the result has index's shape."""
    _check_index("take", index, (np.dtype(np.int64),))
    n = input.numel()
    data = index.array
    if data.size:
        lo, hi = int(data.min()), int(data.max())
        if lo < -n or hi >= n:
            raise IndexError(f"take: index {lo if lo < -n else hi} out of range for tensor of size {n} (shape "
                             f"{tuple(input.shape)})")
        data = input._xp.where(data < 0, data + n, data)
    return getitem(reshape(input, n), Tensor._make(data, None))


def narrow_copy(input, dim, start, length):
    return narrow(input, dim, start, length).clone()


def sum_to_size(input, *size):
    size = tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else tuple(size)
    try:
        if np.broadcast_shapes(size, input.shape) != tuple(input.shape):
            raise ValueError
    except ValueError:
        raise RuntimeError(f"sum_to_size: size {list(size)} is not expandable to size {list(input.shape)}") from None
    return sum_to(input, size)


# --------------------------------------------------------------------------------------------- *_scatter
def _check_src(op, input, src, region_shape):
    if not isinstance(src, Tensor):
        raise TypeError(f"{op}: src must be a Tensor, got {type(src).__name__}")
    if tuple(src.shape) != tuple(region_shape):
        raise RuntimeError(f"{op}: expected src to have a size equal to the slice of self. src size = "
                           f"{list(src.shape)}, slice size = {list(region_shape)} (input shape {tuple(input.shape)})")


def select_scatter(input, src, dim, index):
    """input with input.select(dim, index) replaced by src, out of place (both get gradients)."""
    region = select(input, dim, index)
    _check_src("select_scatter", input, src, region.shape)
    d = normalize_dim("select_scatter", dim, input.ndim, input.shape)
    return index_put(input, (slice(None),) * d + (int(index) % input.shape[d],), src.to(input.dtype))


def slice_scatter(input, src, dim=0, start=None, end=None, step=1):
    d = normalize_dim("slice_scatter", dim, input.ndim, input.shape)
    if step is None or int(step) <= 0:
        raise RuntimeError(f"slice_scatter: slice step must be positive, got {step}")
    idx = (slice(None),) * d + (slice(start, end, int(step)),)
    _check_src("slice_scatter", input, src, getitem(input.detach(), idx).shape)
    return index_put(input, idx, src.to(input.dtype))


def diagonal_scatter(input, src, offset=0, dim1=0, dim2=1):
    region = diagonal(input.detach(), offset, dim1, dim2)
    _check_src("diagonal_scatter", input, src, region.shape)
    d1 = normalize_dim("diagonal_scatter", dim1, input.ndim, input.shape)
    d2 = normalize_dim("diagonal_scatter", dim2, input.ndim, input.shape)
    moved = movedim(input, (d1, d2), (-2, -1))  # the diagonal's dims last, where the written values run
    n, xp = src.shape[-1], input._xp
    rows = Tensor._make(xp.arange(n, dtype=np.int64) + max(-offset, 0), None)
    cols = Tensor._make(xp.arange(n, dtype=np.int64) + max(offset, 0), None)
    out = index_put(moved, (Ellipsis, rows, cols), src.to(input.dtype))
    return contiguous(movedim(out, (-2, -1), (d1, d2)))


# ------------------------------------------------------------------------------------------------ unfold
def _windows(a, d, size, step, writeable=False):
    """The strided view of a's sliding windows along d: dim d counts windows, a new last dim runs in one."""
    xp = xp_of(a)
    n = (a.shape[d] - size) // step + 1
    shape = a.shape[:d] + (n,) + a.shape[d + 1:] + (size,)
    strides = a.strides[:d] + (a.strides[d] * step,) + a.strides[d + 1:] + (a.strides[d],)
    if xp is np:
        return np.lib.stride_tricks.as_strided(a, shape, strides, writeable=writeable)
    return xp.lib.stride_tricks.as_strided(a, shape, strides)


class Unfold(Function):
    """Tensor.unfold(dim, size, step): every window of ``size`` along dim, ``step`` apart, as a view. Overlapping
    windows (step < size) share memory, so that view is read-only (torch refuses writes into it too); the backward
    adds each window's gradient back into its place."""

    def forward(self, a, d, size, step):
        self.in_shape, self.args = a.shape, (d, size, step)
        return _windows(a, d, size, step, bool(getattr(a, "flags").writeable and step >= size))

    def backward(self, g):
        d, size, step = self.args
        xp = xp_of(g)
        out = xp.zeros(self.in_shape, dtype=g.dtype)
        win = xp.moveaxis(g, -1, d + 1)  # (..., n, size, ...): window i's element j lands at i * step + j
        lead = (slice(None),) * d
        for j in range(size):
            out[lead + (slice(j, j + step * (g.shape[d] - 1) + 1, step),)] += win[lead + (slice(None), j)]
        return out, None, None, None

    def backward_graph(self, g):
        d, size, step = self.args
        return linear_map(g, frozen_backward(self, 0), lambda x: _windows(x, d, size, step).copy()), None, None, None


def unfold(input, dimension, size, step):
    """All windows of ``size`` entries along ``dimension``, ``step`` apart, in a new last dim (a view)."""
    a = reshape(input, 1) if input.ndim == 0 else input
    d = normalize_dim("unfold", dimension, a.ndim, input.shape)
    size, step = int(size), int(step)
    if size < 0 or size > a.shape[d]:
        raise RuntimeError(f"unfold: maximum size for tensor at dimension {d} is {a.shape[d]} but size is {size} "
                           f"(shape {tuple(input.shape)})")
    if step <= 0:
        raise RuntimeError(f"unfold: step is {step} but must be > 0")
    out = Unfold.apply(a, d, size, step)
    return reshape(out, (size,)) if input.ndim == 0 else out
