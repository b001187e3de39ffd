"""Shape and indexing ops: reshape, permute, expand, getitem, cat, tril/triu, masked_fill, contiguous, flip, roll,
repeat/tile/repeat_interleave, unbind, narrow, broadcast_to (gather/scatter and friends: indexing.py)."""
import math
import operator

import numpy as np

from ..autograd.function import Function
from ..backend import kernels, xp_of
from .util import unbroadcast, normalize_dim
from ..tensor import Tensor, check_same_device, check_device_as, note_view
from ..autograd.grad_mode import _state as _grad_state
from .elementwise import result_type, where
from .graph import sum_to, linear_map, frozen_backward


class Reshape(Function):
    def forward(self, a, shape):
        self.in_shape = a.shape
        return a.reshape(shape)

    def backward(self, g):
        return g.reshape(self.in_shape), None

    def backward_graph(self, g):
        return g.reshape(self.in_shape), None


class Permute(Function):
    def forward(self, a, dims):
        self.inv = tuple(np.argsort(dims))
        return a.transpose(dims)

    def backward(self, g):
        return g.transpose(self.inv), None

    def backward_graph(self, g):
        return g.permute(self.inv), None


class Expand(Function):
    def forward(self, a, shape):
        self.in_shape = a.shape
        out = xp_of(a).broadcast_to(a, shape)
        if isinstance(out, np.ndarray) and a.flags.writeable:
            # a view of a's memory, writable as torch's: fill_/zero_ and a write to one row of it reach a (the
            # writes with no single answer are refused by tensor.check_no_internal_overlap, as torch refuses them)
            out.flags.writeable = True
        return out

    def backward(self, g):
        return unbroadcast(g, self.in_shape), None

    def backward_graph(self, g):
        return sum_to(g, self.in_shape), None


class Contiguous(Function):
    def forward(self, a):
        return xp_of(a).ascontiguousarray(a)

    def backward(self, g):
        return g

    def backward_graph(self, g):
        return g


def _scatter_add(xp, out, index, g):
    kernels.get("scatter_add", "cpu" if xp is np else "cuda")(out, index, g)


def _index(arr, idx, advanced):
    """arr[idx], where basic indexing down to one element is a 0-d view as in torch, not NumPy's scalar copy
    (x[0].fill_(1) must write into x, and v = x[0] must see later writes to x)."""
    out = arr[idx]
    if not advanced and isinstance(out, np.generic):
        out = arr[(idx if isinstance(idx, tuple) else (idx,)) + (Ellipsis,)]
    return out


class GetItem(Function):
    """Basic indexing gives a view; advanced (integer-array / mask) indexing scatter-adds in backward so
    repeated indices accumulate."""

    def forward(self, a, index, advanced):
        self.in_shape, self.in_dtype, self.index, self.advanced = a.shape, a.dtype, index, advanced
        if not advanced:
            self.slab = index
        return _index(a, index, advanced)

    def backward(self, g):
        xp = xp_of(g)
        out = xp.zeros(self.in_shape, dtype=g.dtype)
        if self.advanced:
            _scatter_add(xp, out, self.index, g)
        else:
            out[self.index] = g
        return out, None, None

    def backward_graph(self, g):
        index = self.index
        return linear_map(g, frozen_backward(self, 0), lambda x: x[index]), None, None


class Cat(Function):
    def forward(self, *arrays, dim):
        self.dim = dim
        self.sizes = [a.shape[dim] for a in arrays]
        return xp_of(arrays[0]).concatenate(arrays, axis=dim)

    def backward(self, g):
        xp = xp_of(g)
        splits = np.cumsum(self.sizes)[:-1].tolist()
        parts = xp.split(g, splits, axis=self.dim)
        return tuple(p if n else None for p, n in zip(parts, self.needs_input_grad))

    def backward_graph(self, g):
        lead, start, parts = (slice(None),) * self.dim, 0, []
        for s, n in zip(self.sizes, self.needs_input_grad):
            parts.append(g[lead + (slice(start, start + s),)] if n else None)
            start += s
        return tuple(parts)


class Tril(Function):
    def forward(self, a, k, upper):
        self.k, self.upper = k, upper
        xp = xp_of(a)
        return xp.triu(a, k) if upper else xp.tril(a, k)

    def backward(self, g):
        xp = xp_of(g)
        return (xp.triu(g, self.k) if self.upper else xp.tril(g, self.k)), None, None

    def backward_graph(self, g):
        return (g.triu(self.k) if self.upper else g.tril(self.k)), None, None


class MaskedFill(Function):
    def forward(self, a, mask, value):
        self.save_for_backward(mask)
        self.in_shape = a.shape
        xp = xp_of(a)
        return xp.where(mask, a.dtype.type(value), a)

    def backward(self, g):
        mask, = self.saved_tensors
        return unbroadcast(xp_of(g).where(mask, g.dtype.type(0), g), self.in_shape), None, None

    def backward_graph(self, g):
        keep = ~self.saved_tensors[0]
        return sum_to(g * Tensor._make(keep.astype(g.dtype), None), self.in_shape), None, None


class Flip(Function):
    # A copy, not a negative-stride view: torch.flip returns new memory, so in-place writes must not reach the input.
    def forward(self, a, dims):
        self.dims = dims
        return xp_of(a).flip(a, dims).copy() if dims else a.copy()

    def backward(self, g):
        return (xp_of(g).flip(g, self.dims) if self.dims else g), None

    def backward_graph(self, g):
        return (g.flip(self.dims) if self.dims else g), None


class Roll(Function):
    def forward(self, a, shifts, dims):
        self.shifts, self.dims = shifts, dims
        return xp_of(a).roll(a, shifts, dims)

    def backward(self, g):
        back = -self.shifts if self.dims is None else tuple(-s for s in self.shifts)
        return xp_of(g).roll(g, back, self.dims), None, None

    def backward_graph(self, g):
        back = -self.shifts if self.dims is None else tuple(-s for s in self.shifts)
        return g.roll(back, self.dims), None, None


# ------------------------------------------------------------------------------------ functional API
def _shape_arg(shape, op="reshape"):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    try:
        return tuple(map(operator.index, shape))  # (ints, integer scalars, 0-d integer tensors)
    except TypeError:
        raise TypeError(f"{op}: sizes must be ints, got {tuple(shape)!r}") from None


def reshape(a, *shape):
    if len(shape) == 1 and shape[0].__class__ is tuple:
        shape = shape[0]
    for s in shape:  # the common case first: sizes that are plain non-negative ints, no -1, the right count
        if s.__class__ is not int or s < 0:
            break
    else:
        if math.prod(shape) == a.array.size:
            return Reshape.apply(a, shape)  # (a new view even for the same shape, as torch: see below)
    shape = _shape_arg(shape)
    n = a.array.size
    neg = shape.count(-1)
    known = math.prod(shape) * (-1 if neg % 2 else 1)  # (the product of the other sizes when one is -1)
    if neg > 1 or (neg and (known == 0 or n % known)) or (not neg and known != n) or (shape and min(shape) < -1):
        raise RuntimeError(f"reshape: shape {list(shape)} is invalid for input of shape {tuple(a.shape)} ({n} elements)")
    # The same shape still gives a new tensor viewing a's memory, as torch's: returning a itself made a gradient
    # asked for that view collect every use of a as well (grad((v * x).sum(), v) with v = x.view(x.shape) gave 2x)
    return Reshape.apply(a, shape)


def _view_strides(old_shape, old_strides, new_shape):
    """The strides (in elements) of ``new_shape`` viewing memory laid out as old_shape/old_strides, or None when no
    view exists: PyTorch's computeStride, which reshapes each run of dims contiguous with one another."""
    if not old_shape:
        return [1] * len(new_shape)
    numel = int(math.prod(old_shape))
    if numel == 0:
        return [0] * len(new_shape)  # any shape views no elements
    new_strides = [0] * len(new_shape)
    view_d = len(new_shape) - 1
    chunk_base = old_strides[-1]
    tensor_numel = view_numel = 1
    for tensor_d in range(len(old_shape) - 1, -1, -1):
        tensor_numel *= old_shape[tensor_d]
        if tensor_d == 0 or (old_shape[tensor_d - 1] != 1 and old_strides[tensor_d - 1] != tensor_numel * chunk_base):
            while view_d >= 0 and (view_numel < tensor_numel or new_shape[view_d] == 1):
                new_strides[view_d] = view_numel * chunk_base
                view_numel *= new_shape[view_d]
                view_d -= 1
            if view_numel != tensor_numel:
                return None
            if tensor_d > 0:
                chunk_base = old_strides[tensor_d - 1]
                tensor_numel = view_numel = 1
    return new_strides if view_d == -1 else None


def view(a, *shape):
    """reshape that never copies: as torch, a shape the input's strides can't express is an error (writes through
    a copy would never reach the input)."""
    if len(shape) == 1 and shape[0].__class__ is not int and not isinstance(shape[0], (tuple, list, np.integer)):
        raise TypeError(f"view: expected a shape, got {shape[0]!r} (shape {tuple(a.shape)}); reinterpreting the "
                        "memory as another dtype (view(dtype)) is not supported")
    out = reshape(a, *shape)
    if a.array.flags.c_contiguous:  # (every shape views contiguous memory)
        return out
    item = a.array.itemsize
    if _view_strides(a.shape, [s // item for s in a.array.strides], out.shape) is None:
        raise RuntimeError(f"view: shape {list(out.shape)} is not compatible with the input's size and stride (shape "
                           f"{tuple(a.shape)}, strides {tuple(s // item for s in a.array.strides)}): at least one "
                           "dimension spans across two contiguous subspaces. Use .reshape(...) instead.")
    return out


def _alias(a):
    """A new tensor viewing all of a, as torch's view ops return even when they change nothing: returning a itself
    would make a gradient asked for the result collect every other use of a too."""
    return Reshape.apply(a, a.array.shape)


def permute(a, *dims):
    dims = _shape_arg(dims, "permute")
    if len(dims) != a.ndim or sorted(d % max(a.ndim, 1) for d in dims) != list(range(a.ndim)):
        raise RuntimeError(f"permute: dims {list(dims)} are not a permutation of the {a.ndim} dims of shape {tuple(a.shape)}")
    dims = tuple(d % a.ndim for d in dims)
    if dims == tuple(range(a.ndim)):
        return _alias(a)
    return Permute.apply(a, dims)


def transpose(a, dim0, dim1):
    if a.ndim < 2 and dim0 in (0, -1) and dim1 in (0, -1):
        return _alias(a)
    d0, d1 = normalize_dim("transpose", dim0, a.ndim, a.shape), normalize_dim("transpose", dim1, a.ndim, a.shape)
    dims = list(range(a.ndim))
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return permute(a, dims)


def t(a):
    if a.ndim > 2:
        raise RuntimeError(f"t: expects a tensor with <= 2 dims, got shape {tuple(a.shape)}; use transpose or mT")
    return transpose(a, 0, 1) if a.ndim == 2 else _alias(a)


def expand(a, *shape):
    if not shape:
        raise TypeError(f"expand: missing the sizes to expand to (tensor of shape {tuple(a.shape)})")
    shape = list(_shape_arg(shape, "expand"))
    if len(shape) < a.ndim:
        raise RuntimeError(f"expand: the number of sizes ({len(shape)}) must be >= the number of dims of shape {tuple(a.shape)}")
    lead = len(shape) - a.ndim
    for i, s in enumerate(shape[:lead]):
        if s < 0:
            raise RuntimeError(f"expand: the size {s} for new leading dim {i} is not allowed (-1 keeps an existing "
                               f"dim's size; expanding shape {tuple(a.shape)} to {tuple(shape)})")
    for i, s in enumerate(a.shape):
        if shape[lead + i] == -1:
            shape[lead + i] = s
        elif shape[lead + i] < 0:
            raise RuntimeError(f"expand: size {shape[lead + i]} for dim {lead + i} is invalid (expanding shape "
                               f"{tuple(a.shape)} to {tuple(shape)})")
        elif s != 1 and s != shape[lead + i]:
            raise RuntimeError(f"expand: cannot expand shape {tuple(a.shape)} to {tuple(shape)} (dim {i} has size {s})")
    shape = tuple(shape)
    return _alias(a) if shape == a.shape else Expand.apply(a, shape)  # (a writable view when nothing expands)


def squeeze(a, dim=None):
    if dim is None:
        shape = tuple(s for s in a.shape if s != 1)
    else:
        dims = {normalize_dim("squeeze", d, a.ndim, a.shape) for d in (dim if isinstance(dim, (tuple, list)) else (dim,))}
        shape = tuple(s for i, s in enumerate(a.shape) if not (i in dims and s == 1))
    return reshape(a, shape)


def unsqueeze(a, dim):
    d = normalize_dim("unsqueeze", dim, a.ndim + 1, a.shape)
    shape = list(a.shape)
    shape.insert(d, 1)
    return reshape(a, shape)


def flatten(a, start_dim=0, end_dim=-1):
    s = normalize_dim("flatten", start_dim, a.ndim, a.shape)
    e = normalize_dim("flatten", end_dim, a.ndim, a.shape)
    if a.ndim == 0:
        return reshape(a, 1)
    if s > e:
        raise RuntimeError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} (shape {tuple(a.shape)})")
    # The flattened size spelled out: -1 is ambiguous when the tensor is empty (zeros(0, 2, 3).flatten(1): (0, 6))
    return reshape(a, a.shape[:s] + (int(math.prod(a.shape[s:e + 1])),) + a.shape[e + 1:])


def contiguous(a):
    if a.array.flags.c_contiguous:
        return a
    return Contiguous.apply(a)


def _convert_index(a, index, op="getitem"):
    """Tensors in an index become arrays; report whether numpy will use advanced indexing."""
    if not isinstance(index, tuple):
        index = (index,)
    out, advanced = [], False
    for ix in index:
        if isinstance(ix, Tensor):
            if ix.dtype != np.bool_ and not np.issubdtype(ix.dtype, np.integer):
                raise IndexError(f"getitem: tensors used as indices must be integer or bool, got dtype {ix.dtype} "
                                 f"(indexing a tensor of shape {tuple(a.shape)})")
            if ix.array.__class__ is not a.array.__class__:
                if a._xp is np:  # a CUDA index into a CPU tensor: an error, as in PyTorch
                    check_same_device(op, (a, ix))
                ix = a._xp.asarray(ix.array)  # a CPU index into a CUDA tensor: copied over, as in PyTorch
            else:
                ix = ix.array
            advanced = True
        elif isinstance(ix, (list, np.ndarray)) or (hasattr(ix, "__cuda_array_interface__")):
            ix = a._xp.asarray(ix)
            advanced = True
        elif isinstance(ix, range):  # torch takes a range as the list of its ints (x[range(n), y])
            ix = a._xp.arange(ix.start, ix.stop, ix.step, dtype=np.int64)
            advanced = True
        elif isinstance(ix, bool):
            advanced = True
        elif isinstance(ix, slice) and ix.step is not None and ix.step < 0:
            # (NumPy would reverse; torch has no negative strides and refuses: flip() is the way)
            raise ValueError(f"{op}: step must be greater than zero (slice {ix} indexing a tensor of shape "
                             f"{tuple(a.shape)}); use flip() to reverse")
        elif not (ix is None or ix is Ellipsis or isinstance(ix, (int, np.integer, slice))):
            raise IndexError(f"getitem: unsupported index {ix!r} of type {type(ix).__name__} for a tensor of shape {tuple(a.shape)}")
        out.append(ix)
    return tuple(out), advanced


def _is_int_index(ix):
    if isinstance(ix, bool):
        return False
    return isinstance(ix, (int, np.integer)) or (getattr(ix, "ndim", None) == 0 and ix.dtype.kind in "iu")


def _torch_order(idx):
    """PyTorch applies integer indices (and 0-d integer tensors) as selects before any advanced index, so
    x[0, :, idx] on (2, 3, 4) is (3, 2); NumPy counts the int as advanced and, the two being separated by a slice,
    puts the broadcast dims first: (2, 3). When both kinds occur the index is split into a basic step (ints, slices,
    None; a view) and an advanced step over its result; otherwise NumPy's rule already is torch's and None is
    returned."""
    ints = [_is_int_index(ix) for ix in idx]
    if not any(ints) or not any(isinstance(ix, bool) or (hasattr(ix, "ndim") and not i) for ix, i in zip(idx, ints)):
        return None
    basic, rest = [], []
    for ix, is_int in zip(idx, ints):
        if is_int:
            basic.append(int(ix))
        elif ix is None or isinstance(ix, slice):
            basic.append(ix)
            rest.append(slice(None))
        elif ix is Ellipsis:
            basic.append(ix)
            rest.append(ix)
        else:  # advanced: a bool scalar consumes no dim, an index array one, a mask one per dim
            n = 0 if isinstance(ix, bool) else ix.ndim if ix.dtype == np.bool_ else 1
            basic.extend([slice(None)] * n)
            rest.append(ix)
    return tuple(basic), tuple(rest)


def getitem(a, index):
    idx, advanced = _convert_index(a, index)
    steps = _torch_order(idx) if advanced else None
    try:
        if steps is not None:
            return _getitem(_getitem(a, steps[0], False), steps[1], True)
        return _getitem(a, idx, advanced)
    except IndexError as e:
        raise IndexError(f"getitem: index {index!r} is invalid for a tensor of shape {tuple(a.shape)}: {e}") from None


def _getitem(a, idx, advanced):
    if not a.requires_grad:
        t = Tensor._make(_index(a.array, idx, advanced), None)
        if not advanced and _grad_state.__dict__.get("enabled", True):
            note_view(t, (a,))
        return t
    return GetItem.apply(a, idx, advanced)


def movedim(a, source, destination):
    """Move the dims in ``source`` (an int or a sequence) to the positions ``destination``, the others keeping their
    order (torch.movedim)."""
    src = tuple(source) if isinstance(source, (tuple, list)) else (source,)
    dst = tuple(destination) if isinstance(destination, (tuple, list)) else (destination,)
    if len(src) != len(dst):
        raise RuntimeError(f"movedim: source {list(src)} and destination {list(dst)} must have the same number of "
                           f"dims (shape {tuple(a.shape)})")
    src = tuple(normalize_dim("movedim", d, a.ndim, a.shape) for d in src)
    dst = tuple(normalize_dim("movedim", d, a.ndim, a.shape) for d in dst)
    if len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise RuntimeError(f"movedim: repeated dim in source {list(src)} or destination {list(dst)} "
                           f"(shape {tuple(a.shape)})")
    if a.ndim == 0:
        return _alias(a)
    order = [None] * a.ndim
    for s, d in zip(src, dst):
        order[d] = s
    rest = iter(i for i in range(a.ndim) if i not in src)
    return permute(a, [o if o is not None else next(rest) for o in order])


def cat(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    dt = result_type(*tensors)  # PyTorch's promotion: int64 + float32 -> float32 (numpy would say float64)
    # torch's legacy rule: 1-D empty tensors (shape (0,)) are skipped, whatever the others' shapes and dim.
    kept = [t for t in tensors if t.shape != (0,)]
    if not kept:
        return Cat.apply(*[t.to(dt) if t.dtype != dt else t for t in tensors], dim=0)
    ref = kept[0]
    d = normalize_dim("cat", dim, ref.ndim, ref.shape)
    for t in kept[1:]:
        if t.ndim != ref.ndim or any(s != r for i, (s, r) in enumerate(zip(t.shape, ref.shape)) if i != d):
            raise RuntimeError(f"cat: shapes {[tuple(x.shape) for x in tensors]} must match except in dim {dim}")
    return Cat.apply(*[t.to(dt) if t.dtype != dt else t for t in kept], dim=d)


def stack(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors")
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) != 1:
        raise RuntimeError(f"stack: all tensors must have the same shape, got {[tuple(t.shape) for t in tensors]}")
    d = normalize_dim("stack", dim, tensors[0].ndim + 1, tensors[0].shape)
    return cat([unsqueeze(t, d) for t in tensors], d)


def split(a, split_size_or_sections, dim=0):
    d = normalize_dim("split", dim, a.ndim, a.shape)
    n = a.shape[d]
    if isinstance(split_size_or_sections, (int, np.integer)):
        k = int(split_size_or_sections)
        if k < 0 or (k == 0 and n):
            raise RuntimeError(f"split: split_size must be positive (0 only for a dim of size 0), got {k} for dim "
                               f"{dim} of size {n} (shape {tuple(a.shape)})")
        # A dim of size 0 still gives one (empty) piece, as torch does
        sizes = [k] * (n // k) if k else []
        if not k or n % k or not n:
            sizes.append(n % k if k else 0)
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != n:
            raise RuntimeError(f"split: sections {sizes} do not sum to dim {dim} of size {n} (shape {tuple(a.shape)})")
    out, start = [], 0
    for s in sizes:
        index = (slice(None),) * d + (slice(start, start + s),)
        out.append(getitem(a, index))
        start += s
    return tuple(out)


def chunk(a, chunks, dim=0):
    if not isinstance(chunks, (int, np.integer)) or chunks <= 0:
        raise RuntimeError(f"chunk: chunks must be a positive int, got {chunks!r} (shape {tuple(a.shape)})")
    d = normalize_dim("chunk", dim, a.ndim, a.shape)
    if a.shape[d] == 0:  # torch returns `chunks` empty pieces here, where split would give one
        return tuple(getitem(a, (slice(None),) * d + (slice(0, 0),)) for _ in range(chunks))
    return split(a, -(-a.shape[d] // chunks), d)


def tril(a, diagonal=0):
    if a.ndim < 2:
        raise RuntimeError(f"tril: input must have at least 2 dims, got shape {tuple(a.shape)}")
    return Tril.apply(a, diagonal, False)


def triu(a, diagonal=0):
    if a.ndim < 2:
        raise RuntimeError(f"triu: input must have at least 2 dims, got shape {tuple(a.shape)}")
    return Tril.apply(a, diagonal, True)


def masked_fill(a, mask, value):
    if not isinstance(mask, Tensor) or mask.dtype != np.bool_:
        raise TypeError(f"masked_fill: mask must be a bool tensor, got {getattr(mask, 'dtype', type(mask).__name__)}")
    check_device_as("masked_fill", a, mask)  # the mask goes to the kernel as an array, past Function.apply's check
    try:
        np.broadcast_shapes(mask.shape, a.shape)
    except ValueError:
        raise RuntimeError(f"masked_fill: mask of shape {tuple(mask.shape)} does not broadcast to input shape {tuple(a.shape)}") from None
    if isinstance(value, Tensor):
        if value.ndim:
            raise RuntimeError(f"masked_fill: only supports a 0-dimensional value tensor, but got tensor with "
                               f"{value.ndim} dimension(s) (input shape {tuple(a.shape)})")
        if value.requires_grad and _grad_state.__dict__.get("enabled", True):
            # the value's gradient is the sum of the filled positions' (torch's); .item() below would drop it
            return where(mask, value.to(a.dtype), a)
        value = value.item()
    return MaskedFill.apply(a, mask.array, value)


def _dims_arg(op, a, dims):
    """flip(0, 1) / flip((0, 1)) / flip([0, 1]) -> normalized, distinct dims."""
    dims = _shape_arg(dims, op) if dims and isinstance(dims[0], (tuple, list)) else tuple(dims)
    out = tuple(normalize_dim(op, d, a.ndim, a.shape) for d in dims)
    if len(set(out)) != len(out):
        raise RuntimeError(f"{op}: dims {list(dims)} name a dim more than once (shape {tuple(a.shape)})")
    return out


def flip(a, *dims):
    dims = _dims_arg("flip", a, dims)
    return Flip.apply(a, dims if a.ndim else ())


def roll(a, shifts, dims=None):
    shifts = (shifts,) if isinstance(shifts, (int, np.integer)) else tuple(shifts)
    if dims is None:
        if len(shifts) != 1:
            raise RuntimeError(f"roll: without dims, shifts must be a single int, got {list(shifts)} "
                               f"(shape {tuple(a.shape)})")
        return Roll.apply(a, int(shifts[0]), None)  # numpy and torch both roll the flattened tensor
    dims = (dims,) if isinstance(dims, (int, np.integer)) else tuple(dims)
    if len(shifts) != len(dims):
        raise RuntimeError(f"roll: shifts {list(shifts)} and dims {list(dims)} must have the same length")
    if a.ndim == 0:
        raise IndexError(f"roll: dims {list(dims)} given for a 0-d tensor; pass no dims to roll it")
    dims = tuple(normalize_dim("roll", d, a.ndim, a.shape) for d in dims)
    return Roll.apply(a, tuple(int(s) for s in shifts), dims)


def repeat(a, *sizes):
    """Tile ``a`` sizes[i] times along dim i (leading sizes add new dims): a broadcast view reshaped, so one copy
    forward and a sum backward (Expand's)."""
    sizes = _shape_arg(sizes, "repeat")
    if len(sizes) < a.ndim:
        raise RuntimeError(f"repeat: got {len(sizes)} repeat sizes {list(sizes)} for a tensor of shape "
                           f"{tuple(a.shape)}; need at least one per dim")
    if any(r < 0 for r in sizes):
        raise RuntimeError(f"repeat: repeat sizes must be non-negative, got {list(sizes)}")
    shape = (1,) * (len(sizes) - a.ndim) + tuple(a.shape)
    if all(r == 1 for r in sizes):
        return reshape(a, shape).clone()  # torch returns new memory even for all-ones
    interleaved = tuple(x for s in shape for x in (1, s))
    big = expand(reshape(a, interleaved), tuple(x for r, s in zip(sizes, shape) for x in (r, s)))
    return reshape(big, tuple(r * s for r, s in zip(sizes, shape)))


def tile(a, *dims):
    dims = _shape_arg(dims, "tile")
    return repeat(a, (1,) * (a.ndim - len(dims)) + dims)


def unbind(a, dim=0):
    if a.ndim == 0:
        raise IndexError("unbind: cannot unbind a 0-d tensor")
    d = normalize_dim("unbind", dim, a.ndim, a.shape)
    return tuple(getitem(a, (slice(None),) * d + (i,)) for i in range(a.shape[d]))


def narrow(a, dim, start, length):
    """A view of ``length`` entries of dim from ``start`` (negative start counts from the end), like torch."""
    if a.ndim == 0:
        raise RuntimeError("narrow: cannot be applied to a 0-d tensor")
    d = normalize_dim("narrow", dim, a.ndim, a.shape)
    n, start, length = a.shape[d], int(start), int(length)
    if not -n <= start <= n:
        raise IndexError(f"narrow: start {start} is out of range for dim {dim} of size {n} (shape {tuple(a.shape)}); "
                         f"expected it in [{-n}, {n}]")
    if start < 0:
        start += n
    if length < 0 or start + length > n:
        raise RuntimeError(f"narrow: start ({start}) + length ({length}) is out of range for dim {dim} of size {n} "
                           f"(shape {tuple(a.shape)})")
    return getitem(a, (slice(None),) * d + (slice(start, start + length),))


def select(a, dim, index):
    """torch.select: the view at ``index`` of dim, that dim removed (a[:, ..., index])."""
    if a.ndim == 0:
        raise IndexError("select: cannot be applied to a 0-d tensor")
    d = normalize_dim("select", dim, a.ndim, a.shape)
    n, index = a.shape[d], int(index)
    if not -n <= index < n:
        raise IndexError(f"select: index {index} out of range for dim {dim} of size {n} (shape {tuple(a.shape)})")
    return getitem(a, (slice(None),) * d + (index % n,))


def broadcast_to(a, *shape):
    try:
        return expand(a, *shape)
    except RuntimeError as e:
        raise RuntimeError(str(e).replace("expand:", "broadcast_to:", 1)) from None
