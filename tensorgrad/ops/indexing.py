"""Index-driven ops: gather, take_along_dim, scatter, scatter_add, index_select, index_add, masked_select, nonzero;
diag / diagonal / diag_embed / trace; constant pad.

Index tensors reach forward as int arrays (never differentiable). Their values are range-checked on the host before
the op, as embedding does (numpy would wrap negatives silently, cupy would read out of bounds), except inside a CUDA
graph capture, where no host read is possible.
"""
import numpy as np

from ..autograd.function import Function
from ..backend import xp_of
from .movement import _scatter_add, getitem, expand, reshape, unsqueeze
from .util import normalize_dim
from ..tensor import Tensor, check_device_as
from ..backend.capture import capturing_on
from .graph import linear_map, frozen_backward


def _mesh(xp, index, dim):
    """The advanced index that reads a[..., index[i, j, k], ...] at position (i, j, k): ``index`` at dim, an arange
    elsewhere, shaped to broadcast (so no index-sized copies). a[mesh] is gather; out[mesh] = src is scatter."""
    nd = index.ndim
    return tuple(index if d == dim else xp.arange(n).reshape((1,) * d + (n,) + (1,) * (nd - d - 1))
                 for d, n in enumerate(index.shape))


def _corner(shape):
    """Slices keeping the leading ``shape`` of a bigger array (scatter reads src only where index has entries)."""
    return tuple(slice(0, s) for s in shape)


class Gather(Function):
    """out[i, j] = a[index[i, j], j] for dim 0 (and so on). Backward scatter-adds: duplicate indices accumulate."""

    def forward(self, a, index, dim):
        self.in_shape, self.dim = a.shape, dim
        self.save_for_backward(index)
        return a[_mesh(xp_of(a), index, dim)]

    def backward(self, g):
        index, = self.saved_tensors
        xp = xp_of(g)
        out = xp.zeros(self.in_shape, dtype=g.dtype)
        _scatter_add(xp, out, _mesh(xp, index, self.dim), g)
        return out, None, None

    def backward_graph(self, g):
        index, dim = self.saved_tensors[0], self.dim
        return linear_map(g, frozen_backward(self, 0), lambda x: x[_mesh(xp_of(x), index, dim)]), None, None


class Scatter(Function):
    """out = a, then out[index[i, j], j] = src[i, j] for dim 0 (src an array, or a scalar written everywhere index
    points). Gradients as torch defines them: a's is g with the written places zeroed; src's is g gathered at index,
    so every src entry gets one, even where a duplicate index let another entry win the write."""
    add = False

    def forward(self, a, index, src, dim):
        xp = xp_of(a)
        self.dim = dim
        self.src_shape = src.shape if hasattr(src, "shape") else None
        self.save_for_backward(index)
        mesh = _mesh(xp, index, dim)
        if self.src_shape is not None and src.shape != index.shape:
            src = src[_corner(index.shape)]
        out = a.copy()
        if self.add:
            _scatter_add(xp, out, mesh, src)
        else:
            out[mesh] = src
        return out

    def backward(self, g):
        index, = self.saved_tensors
        xp = xp_of(g)
        mesh = _mesh(xp, index, self.dim)
        ga = gs = None
        if self.needs_input_grad[0]:
            ga = g
            if not self.add:
                ga = g.copy()
                ga[mesh] = 0
        if self.needs_input_grad[2]:
            gs = g[mesh]
            if gs.shape != self.src_shape:  # src bigger than index: the entries never read get zero
                full = xp.zeros(self.src_shape, dtype=g.dtype)
                full[_corner(gs.shape)] = gs
                gs = full
        return ga, None, gs, None

    def backward_graph(self, g):
        index, = self.saved_tensors
        mesh = _mesh(xp_of(index), index, self.dim)
        ga = gs = None
        if self.needs_input_grad[0]:
            if self.add:
                ga = g
            else:
                def zero_written(x):
                    x = x.copy()
                    x[mesh] = 0
                    return x
                ga = linear_map(g, zero_written, zero_written)
        if self.needs_input_grad[2]:
            gshape = tuple(g.shape)

            def scatter(y):
                out = xp_of(y).zeros(gshape, dtype=y.dtype)
                _scatter_add(xp_of(y), out, mesh, y[_corner(index.shape)] if y.shape != index.shape else y)
                return out
            gs = linear_map(g, frozen_backward(self, 2), scatter)
        return ga, None, gs, None


class ScatterAdd(Scatter):
    """out = a, then out[index[i, j], j] += src[i, j] for dim 0 (duplicates accumulate). a's gradient is g."""
    add = True


class ScatterMultiply(Function):
    """out = a, then out[index[i, j], j] *= src[i, j] for dim 0 (scatter's reduce='multiply'; duplicates multiply).
    torch has no derivative for it, and neither does this."""

    def forward(self, a, index, src, dim):
        xp = xp_of(a)
        if not hasattr(xp.multiply, "at"):
            raise NotImplementedError("scatter: reduce='multiply' has no CUDA kernel here; use scatter_reduce(..., "
                                      "'prod')")
        mesh = _mesh(xp, index, dim)
        out = a.copy()
        xp.multiply.at(out, mesh, src[_corner(index.shape)] if hasattr(src, "shape") and src.shape != index.shape
                       else src)
        return out

    def backward(self, g):
        raise RuntimeError("scatter: the derivative for reduce='multiply' is not implemented (as in torch); use "
                           "scatter_reduce(..., 'prod'), which has one")


class IndexAdd(Function):
    """out = a, then out[..., index[i], ...] += alpha * source[..., i, ...] along dim (duplicates accumulate)."""

    def forward(self, a, index, source, dim, alpha):
        self.dim, self.alpha = dim, alpha
        self.save_for_backward(index)
        out = a.copy()
        _scatter_add(xp_of(a), out, (slice(None),) * dim + (index,), source if alpha == 1 else source * alpha)
        return out

    def backward(self, g):
        index, = self.saved_tensors
        gs = None
        if self.needs_input_grad[2]:
            gs = xp_of(g).take(g, index, axis=self.dim)
            if self.alpha != 1:
                gs = gs * self.alpha
        return g, None, gs, None, None

    def backward_graph(self, g):
        index, = self.saved_tensors
        dim, alpha, gshape = self.dim, self.alpha, tuple(g.shape)
        gs = None
        if self.needs_input_grad[2]:
            def scatter(y):
                out = xp_of(y).zeros(gshape, dtype=y.dtype)
                _scatter_add(xp_of(y), out, (slice(None),) * dim + (index,), y if alpha == 1 else y * alpha)
                return out
            gs = linear_map(g, frozen_backward(self, 2), scatter)
        return g, None, gs, None, None


def _write_diagonal(xp, out, values, offset, d1, d2):
    """out's diagonal ``offset`` over dims (d1, d2) = values, whose last dim runs along it (torch's layout)."""
    view = xp.moveaxis(out, (d1, d2), (-2, -1))  # a view: the writes land in out
    n = values.shape[-1]
    view[..., xp.arange(n) + max(-offset, 0), xp.arange(n) + max(offset, 0)] = values


class Diagonal(Function):
    """The diagonal ``offset`` over dims (d1, d2), moved to the last dim. A view like torch's diagonal unless
    ``copy`` (torch.diag returns new memory), writable where the input is (NumPy hands out diagonals read-only;
    torch's x.diagonal().fill_(0) writes into x). Backward writes g into a zero tensor's diagonal."""

    def forward(self, a, offset, d1, d2, copy):
        self.in_shape, self.args = a.shape, (offset, d1, d2)
        out = xp_of(a).diagonal(a, offset, d1, d2)
        if copy:
            return out.copy()
        if isinstance(out, np.ndarray) and a.flags.writeable:
            out.flags.writeable = True
        return out

    def backward(self, g):
        xp = xp_of(g)
        out = xp.zeros(self.in_shape, dtype=g.dtype)
        _write_diagonal(xp, out, g, *self.args)
        return out, None, None, None, None

    def backward_graph(self, g):
        args = self.args
        return (linear_map(g, frozen_backward(self, 0), lambda x: xp_of(x).diagonal(x, *args).copy()),
                None, None, None, None)


class DiagEmbed(Function):
    """The last dim of v written on the diagonal ``offset`` of two new dims (d1, d2) of a zero tensor; the inverse
    of Diagonal, whose forward is this backward."""

    def forward(self, v, offset, d1, d2):
        xp = xp_of(v)
        self.args = (offset, d1, d2)
        m = v.shape[-1] + abs(offset)
        shape = list(v.shape[:-1])
        for d in sorted((d1, d2)):
            shape.insert(d, m)
        out = xp.zeros(tuple(shape), dtype=v.dtype)
        _write_diagonal(xp, out, v, offset, d1, d2)
        return out

    def backward(self, g):
        return xp_of(g).diagonal(g, *self.args), None, None, None

    def backward_graph(self, g):
        args, shape = self.args, self.out_shape

        def embed(v):
            out = xp_of(v).zeros(shape, dtype=v.dtype)
            _write_diagonal(xp_of(v), out, v, *args)
            return out
        return linear_map(g, frozen_backward(self, 0), embed), None, None, None


class ConstantPad(Function):
    """Pad each dim by (before, after) entries of ``value``; negative amounts crop. One allocation, one copy."""

    def forward(self, a, pads, value):
        self.src = tuple(slice(max(-lo, 0), n - max(-hi, 0)) for n, (lo, hi) in zip(a.shape, pads))
        self.dst = tuple(slice(max(lo, 0), max(lo, 0) + s.stop - s.start) for s, (lo, _) in zip(self.src, pads))
        self.in_shape = a.shape
        out = xp_of(a).full(tuple(n + lo + hi for n, (lo, hi) in zip(a.shape, pads)), value, dtype=a.dtype)
        out[self.dst] = a[self.src]
        return out

    def backward(self, g):
        out = xp_of(g).zeros(self.in_shape, dtype=g.dtype)
        out[self.src] = g[self.dst]
        return out, None, None

    def backward_graph(self, g):
        src, dst, shape = self.src, self.dst, self.out_shape

        def pad(x):
            out = xp_of(x).zeros(shape, dtype=x.dtype)
            out[dst] = x[src]
            return out
        return linear_map(g, frozen_backward(self, 0), pad), None, None


# ------------------------------------------------------------------------------------ functional API
_LONG = (np.dtype(np.int64),)
_INT = (np.dtype(np.int64), np.dtype(np.int32))


def _check_index(op, index, allowed=_INT):
    if not isinstance(index, Tensor):
        raise TypeError(f"{op}: index must be a Tensor, got {type(index).__name__}")
    if index.dtype not in allowed:
        want = " or ".join(str(d) for d in allowed)
        raise TypeError(f"{op}: index must be a {want} tensor, got dtype {index.dtype} "
                        f"(index shape {tuple(index.shape)})")


def _check_range(op, index, n, dim, shape, negative=False):
    """IndexError unless every index value is in [0, n) (or [-n, n) with ``negative``); returns the smallest."""
    if not index.array.size or capturing_on(index.array):
        return 0
    lo, hi = int(index.array.min()), int(index.array.max())
    low = -n if negative else 0
    if lo < low or hi >= n:
        raise IndexError(f"{op}: index {lo if lo < low else hi} is out of range for dim {dim} of size {n} "
                         f"(input shape {tuple(shape)}); index values must be in [{low}, {n - 1}]")
    return lo


def _as_1d(t):
    """A 0-d tensor as 1-d (torch treats a 0-d input, index or src of these ops as 1-d); others unchanged."""
    if t.ndim:
        return t
    return reshape(t, 1) if t.requires_grad else Tensor._make(t.array.reshape(1), None)


def _check_index_shape(op, index, a, d, dim, src=None):
    """torch's rule: index has a's number of dims, is no larger than a outside dim and no larger than src."""
    if index.ndim != a.ndim or (src is not None and src.ndim != a.ndim):
        raise RuntimeError(f"{op}: index of shape {tuple(index.shape)} must have as many dims as the input of shape "
                           f"{tuple(a.shape)}" + (f" and src of shape {tuple(src.shape)}" if src is not None else ""))
    for i, (k, n) in enumerate(zip(index.shape, a.shape)):
        if i != d and k > n:
            raise RuntimeError(f"{op}: index of shape {tuple(index.shape)} is larger than the input of shape "
                               f"{tuple(a.shape)} in dim {i}; only dim {dim} may be larger")
        if src is not None and k > src.shape[i]:
            raise RuntimeError(f"{op}: index of shape {tuple(index.shape)} is larger than src of shape "
                               f"{tuple(src.shape)} in dim {i}")


def gather(input, dim, index, *, sparse_grad=False):
    """out[i][j][k] = input[index[i][j][k]][j][k] (dim 0). ``sparse_grad`` is accepted; the gradient is dense."""
    _check_index("gather", index)
    check_device_as("gather", input, index)
    a, idx = _as_1d(input), _as_1d(index)
    d = normalize_dim("gather", dim, a.ndim, input.shape)
    _check_index_shape("gather", idx, a, d, dim)
    _check_range("gather", idx, a.shape[d], dim, input.shape)
    out = Gather.apply(a, idx, d)
    return reshape(out, ()) if index.ndim == 0 else out


def take_along_dim(input, indices, dim=None):
    """gather with numpy's take_along_axis rules: input and indices broadcast outside dim, negative indices count
    from the end; dim=None takes from the flattened input."""
    _check_index("take_along_dim", indices, _LONG)
    check_device_as("take_along_dim", input, indices)
    if dim is None:  # torch gathers from the flattened input here, so negative indices are refused
        flat = reshape(input, -1)
        _check_range("take_along_dim", indices, flat.shape[0], None, input.shape)
        return take_along_dim(flat, Tensor._make(indices.array.reshape(-1), None), 0)
    if input.ndim == 0:
        raise IndexError(f"take_along_dim: dim {dim} given for a 0-d input; pass dim=None")
    if input.ndim != indices.ndim:
        raise RuntimeError(f"take_along_dim: input of shape {tuple(input.shape)} and indices of shape "
                           f"{tuple(indices.shape)} must have the same number of dims")
    a, idx = input, indices
    d = normalize_dim("take_along_dim", dim, a.ndim, input.shape)
    n = a.shape[d]
    try:
        rest = np.broadcast_shapes(a.shape[:d] + a.shape[d + 1:], idx.shape[:d] + idx.shape[d + 1:])
    except ValueError:
        raise RuntimeError(f"take_along_dim: input of shape {tuple(input.shape)} and indices of shape "
                           f"{tuple(indices.shape)} do not broadcast outside dim {dim}") from None
    data = idx.array
    if _check_range("take_along_dim", idx, n, dim, input.shape, negative=True) < 0:
        data = input._xp.where(data < 0, data + n, data)
    data = input._xp.broadcast_to(data, rest[:d] + (idx.shape[d],) + rest[d:])
    return Gather.apply(expand(a, rest[:d] + (n,) + rest[d:]), Tensor._make(data, None), d)


def _scatter(op, fn, input, dim, index, src):
    """Checks shared by scatter and scatter_add, then ``fn`` (Scatter or ScatterAdd). src: a Tensor or a number."""
    _check_index(op, index)
    is_tensor = isinstance(src, Tensor)
    check_device_as(op, input, index, *((src,) if is_tensor else ()))
    if is_tensor and src.dtype != input.dtype:
        raise TypeError(f"{op}: src dtype {src.dtype} must match the input dtype {input.dtype} "
                        f"(input shape {tuple(input.shape)}, src shape {tuple(src.shape)})")
    if not is_tensor and not isinstance(src, (int, float, bool, np.number, np.bool_)):
        raise TypeError(f"{op}: src must be a Tensor or a number, got {type(src).__name__}")
    a, idx = _as_1d(input), _as_1d(index)
    s = _as_1d(src) if is_tensor else src
    d = normalize_dim(op, dim, a.ndim, input.shape)
    if index.numel() == 0:  # nothing written; torch skips every check
        return input.clone()
    _check_index_shape(op, idx, a, d, dim, s if is_tensor else None)
    _check_range(op, idx, a.shape[d], dim, input.shape)
    out = fn.apply(a, idx, s, d)
    return reshape(out, ()) if input.ndim == 0 else out


def scatter(input, dim, index, src=None, *, value=None, reduce=None):
    """input with input[index[i][j]][j] = src[i][j] (dim 0); src may be a number (torch's ``value`` overload).
    Where index repeats a place, which src entry lands there is unspecified (as in torch)."""
    if src is None:
        src = value
    if src is None:
        raise TypeError("scatter: expected src (a Tensor) or value (a number)")
    if reduce is not None:
        if reduce not in ("add", "multiply"):
            raise RuntimeError(f"scatter: reduce argument must be either add or multiply, got {reduce!r}")
        if reduce == "multiply":
            return _scatter("scatter", ScatterMultiply, input, dim, index, src)
        if not isinstance(src, Tensor):
            src = Tensor._make(input._xp.full(index.shape, src, dtype=input.dtype), None)
        return scatter_add(input, dim, index, src)
    return _scatter("scatter", Scatter, input, dim, index, src)


def scatter_add(input, dim, index, src):
    """input with input[index[i][j]][j] += src[i][j] (dim 0); repeated places accumulate."""
    if not isinstance(src, Tensor):
        raise TypeError(f"scatter_add: src must be a Tensor, got {type(src).__name__}")
    return _scatter("scatter_add", ScatterAdd, input, dim, index, src)


def index_select(input, dim, index):
    """The slices input[..., index[i], ...] along dim: advanced indexing, so the gradient scatter-adds."""
    _check_index("index_select", index)
    check_device_as("index_select", input, index)
    if index.ndim > 1:
        raise IndexError(f"index_select: index must be 0-d or 1-d, got shape {tuple(index.shape)}")
    d = normalize_dim("index_select", dim, input.ndim, input.shape)
    if input.ndim == 0:
        if index.numel() != 1:
            raise IndexError(f"index_select: indexing a 0-d tensor takes exactly one index, got {index.numel()}")
        _check_range("index_select", index, 1, dim, input.shape)
        return input.clone()
    _check_range("index_select", index, input.shape[d], dim, input.shape)
    return getitem(input, (slice(None),) * d + (Tensor._make(index.array.reshape(-1), None),))


def index_add(input, dim, index, source, *, alpha=1):
    """input with input[..., index[i], ...] += alpha * source[..., i, ...] along dim."""
    _check_index("index_add", index)
    check_device_as("index_add", input, index, source)
    if not isinstance(source, Tensor):
        raise TypeError(f"index_add: source must be a Tensor, got {type(source).__name__}")
    if source.dtype != input.dtype:
        raise TypeError(f"index_add: source dtype {source.dtype} must match the input dtype {input.dtype}")
    if index.ndim > 1:
        raise IndexError(f"index_add: index must be 0-d or 1-d, got shape {tuple(index.shape)}")
    a, src = _as_1d(input), _as_1d(source)
    d = normalize_dim("index_add", dim, a.ndim, input.shape)
    want = a.shape[:d] + (index.numel(),) + a.shape[d + 1:]
    if src.shape != want:
        raise RuntimeError(f"index_add: source of shape {tuple(source.shape)} must have shape {want}: the input's "
                           f"(shape {tuple(input.shape)}) with dim {dim} replaced by the {index.numel()} indices")
    _check_range("index_add", index, a.shape[d], dim, input.shape)
    idx = Tensor._make(index.array.reshape(-1), None)
    out = IndexAdd.apply(a, idx, src, d, input.dtype.type(alpha))  # an int tensor truncates alpha, as torch does
    return reshape(out, ()) if input.ndim == 0 else out


def masked_select(input, mask):
    """The entries of input where mask (broadcast together) is True, as a 1-d tensor."""
    if not isinstance(mask, Tensor) or mask.dtype != np.bool_:
        raise TypeError(f"masked_select: mask must be a bool tensor, got {getattr(mask, 'dtype', type(mask).__name__)}")
    check_device_as("masked_select", input, mask)
    try:
        shape = np.broadcast_shapes(input.shape, mask.shape)
    except ValueError:
        raise RuntimeError(f"masked_select: mask of shape {tuple(mask.shape)} and input of shape "
                           f"{tuple(input.shape)} do not broadcast together") from None
    a = expand(input, shape) if input.shape != shape else input
    m = input._xp.broadcast_to(mask.array, shape)
    if not shape:
        a, m = reshape(a, 1), m.reshape(1)
    return getitem(a, Tensor._make(m, None))


def nonzero(input, *, as_tuple=False):
    """Indices of the non-zero entries (int64, no gradient): an (n, ndim) tensor, or one 1-d tensor per dim."""
    xp, data = input._xp, input.array
    if data.ndim == 0:  # numpy refuses nonzero on 0-d; torch treats it as 1-d for as_tuple
        if as_tuple:
            return (Tensor._make(xp.nonzero(data.reshape(1))[0].astype(np.int64), None),)
        return Tensor._make(xp.zeros((int(xp.count_nonzero(data)), 0), dtype=np.int64), None)
    if as_tuple:
        return tuple(Tensor._make(i.astype(np.int64, copy=False), None) for i in xp.nonzero(data))
    return Tensor._make(xp.argwhere(data).astype(np.int64, copy=False), None)


def argwhere(input):
    return nonzero(input)


def diagonal(input, offset=0, dim1=0, dim2=1):
    d1 = normalize_dim("diagonal", dim1, input.ndim, input.shape)
    d2 = normalize_dim("diagonal", dim2, input.ndim, input.shape)
    if input.ndim < 2 or d1 == d2:
        raise RuntimeError(f"diagonal: dim1 ({dim1}) and dim2 ({dim2}) must be two different dims of the input "
                           f"(shape {tuple(input.shape)})")
    return Diagonal.apply(input, int(offset), d1, d2, False)


def diag_embed(input, offset=0, dim1=-2, dim2=-1):
    if input.ndim == 0:
        raise RuntimeError("diag_embed: input must have at least 1 dim, got a 0-d tensor")
    d1 = normalize_dim("diag_embed", dim1, input.ndim + 1, input.shape)
    d2 = normalize_dim("diag_embed", dim2, input.ndim + 1, input.shape)
    if d1 == d2:
        raise RuntimeError(f"diag_embed: dim1 ({dim1}) and dim2 ({dim2}) must be different dims of the output")
    return DiagEmbed.apply(input, int(offset), d1, d2)


def diag(input, diagonal=0):
    """1-d -> the 2-d matrix with input on diagonal ``diagonal``; 2-d -> that diagonal (a copy), like torch.diag."""
    if input.ndim == 1:
        return DiagEmbed.apply(input, int(diagonal), 0, 1)
    if input.ndim == 2:
        return Diagonal.apply(input, int(diagonal), 0, 1, True)
    raise RuntimeError(f"diag: expects a 1-d or 2-d tensor, got shape {tuple(input.shape)}")


def pad(input, pad, mode="constant", value=None):
    """torch.nn.functional.pad, constant mode: ``pad`` = (before, after) pairs starting from the LAST dim;
    negative amounts crop."""
    if mode != "constant":
        raise NotImplementedError(f"pad: mode {mode!r} is not implemented; only mode='constant' is")
    pad = list(pad)
    if not all(isinstance(p, (int, np.integer)) and not isinstance(p, bool) for p in pad):
        raise TypeError(f"pad: pad must be a sequence of ints, got {pad}")
    if len(pad) % 2:
        raise RuntimeError(f"pad: the pad length must be even (before/after pairs), got {len(pad)}: {pad}")
    if len(pad) // 2 > input.ndim:
        raise RuntimeError(f"pad: {pad} pads {len(pad) // 2} dims but the input of shape {tuple(input.shape)} has "
                           f"{input.ndim}")
    pads = [(0, 0)] * input.ndim
    for i in range(len(pad) // 2):
        d = input.ndim - 1 - i
        lo, hi = int(pad[2 * i]), int(pad[2 * i + 1])
        if input.shape[d] + min(lo, 0) + min(hi, 0) < 0:
            raise RuntimeError(f"pad: ({lo}, {hi}) crops more than the {input.shape[d]} entries of dim {d} "
                               f"(input shape {tuple(input.shape)})")
        pads[d] = (lo, hi)
    return ConstantPad.apply(input, tuple(pads), 0 if value is None else value)


def repeat_interleave(a, repeats=None, dim=None, *, output_size=None):
    """Repeat each element (or slice along dim) ``repeats`` times; repeats is an int or a 1-D tensor with one
    count per element. torch.repeat_interleave(counts) alone gives arange(len(counts)) repeated."""
    if repeats is None:  # the one-argument overload: a is the counts
        counts = a
        if not np.issubdtype(counts.dtype, np.integer):
            raise TypeError(f"repeat_interleave: repeats must be an integer tensor, got {counts.dtype}")
        base = Tensor._make(counts._xp.arange(counts.numel(), dtype=np.int64), None)
        return repeat_interleave(base, counts, 0)
    if dim is None:
        a, dim = reshape(a, -1), 0
    d = normalize_dim("repeat_interleave", dim, a.ndim, a.shape)
    if a.ndim == 0:
        a = reshape(a, 1)
    n = a.shape[d]
    if isinstance(repeats, Tensor):
        if not np.issubdtype(repeats.dtype, np.integer):
            raise TypeError(f"repeat_interleave: repeats must be an integer tensor, got {repeats.dtype}")
        if repeats.ndim > 1:
            raise RuntimeError(f"repeat_interleave: repeats must be 0-d or 1-d, got shape {tuple(repeats.shape)}")
        counts = np.asarray(repeats).reshape(-1)  # the output size depends on them: they are read on the host
        if counts.size == 1:
            repeats = int(counts[0])
        elif counts.size != n:
            raise RuntimeError(f"repeat_interleave: repeats has {counts.size} entries but dim {dim} of the input "
                               f"(shape {tuple(a.shape)}) has size {n}")
    if isinstance(repeats, (int, np.integer)):
        if repeats < 0:
            raise RuntimeError(f"repeat_interleave: repeats must be non-negative, got {repeats}")
        if repeats == 1:
            return a.clone()
        shape = list(a.shape)
        shape.insert(d + 1, int(repeats))
        out_shape = list(a.shape)
        out_shape[d] = n * int(repeats)
        return reshape(expand(unsqueeze(a, d + 1), shape), out_shape)
    if (counts < 0).any():
        raise RuntimeError(f"repeat_interleave: repeats must be non-negative, got {counts.tolist()}")
    index = Tensor._make(a._xp.asarray(np.repeat(np.arange(n, dtype=np.int64), counts)), None)
    return index_select(a, d, index)
