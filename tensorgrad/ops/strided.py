"""torch's strided-memory functions: as_strided (a view of the input's storage with given sizes, strides and storage
offset), as_strided_ (the tensor takes that view), as_strided_scatter (a copy of the input with those elements
replaced), and the factories that choose strides: empty_strided, empty_permuted, frombuffer.

A tensor's storage here is the array that owns its memory (autograd.version.root); offsets and strides count
elements of it, as torch's. The gradient of as_strided is torch's: the output's gradient scatter-added into the
storage's elements, then read back through the input's own geometry (divided by how often the input sees each element
when the input overlaps itself, e.g. an expanded tensor), so what reaches the input is what its elements contributed.
"""
import numpy as np

from .. import dtypes
from ..autograd.function import Function
from ..autograd.grad_mode import is_grad_enabled
from ..autograd.version import root
from ..backend import xp_of
from ..factories import empty
from ..tensor import Tensor, _ptr
from .graph import linear_map, frozen_backward
from .view_history import _positions, _scatter, _gather, geometry


def _ints(op, name, v):
    if isinstance(v, (int, np.integer)):
        return (int(v),)
    try:
        return tuple(int(i) for i in v)
    except TypeError:
        raise TypeError(f"{op}: {name} must be a sequence of ints, got {type(v).__name__}") from None


def _storage(op, a):
    """(the owning array of a, flat, a's offset in it in elements, a's strides in elements)."""
    r = root(a)
    if not r.flags.c_contiguous or r.dtype != a.dtype:
        raise RuntimeError(f"{op}: the tensor's memory belongs to an array that is not C-contiguous or of another dtype "
                           f"({r.dtype}, shape {r.shape}); clone() the tensor first")
    item = a.itemsize
    return r, r.reshape(-1), (_ptr(a) - _ptr(r)) // item, tuple(s // item for s in a.strides)


def _check_geometry(op, size, stride, offset, storage_size, item):
    if len(size) != len(stride):
        raise RuntimeError(f"{op}: mismatch in length of strides and shape: size {list(size)} (length {len(size)}), "
                           f"stride {list(stride)} (length {len(stride)})")
    if any(s < 0 for s in stride):
        raise RuntimeError(f"{op}: Negative strides are not supported at the moment, got strides: {list(stride)}")
    if any(n < 0 for n in size):
        raise RuntimeError(f"{op}: Trying to create tensor with negative dimension: {list(size)}")
    if offset < 0:
        raise RuntimeError(f"{op}: Tensor: invalid storage offset {offset}")
    need = 0 if 0 in size else offset + 1 + sum((n - 1) * s for n, s in zip(size, stride))
    if need > storage_size:
        raise RuntimeError(f"setStorage: sizes {list(size)}, strides {list(stride)}, storage offset {offset}, and "
                           f"itemsize {item} requiring a storage size of {need * item} are out of bounds for storage "
                           f"of size {storage_size * item}")


def _overlaps(xp, geom):
    p = _positions(xp, geom).reshape(-1)
    return p.size > 1 and int(xp.unique(p).size) != p.size


def _to_input(in_geom, n):
    """storage gradient (n elements) -> the input's gradient: each input element's storage entry, divided by the
    number of input elements on that entry when the input overlaps itself."""
    def fn(s):
        xp = xp_of(s)
        if in_geom[3]:
            count = xp.bincount(_positions(xp, in_geom).reshape(-1), minlength=n)
            s = s / xp.maximum(count, 1).astype(s.dtype)
        return _gather(in_geom)(s)
    return fn


def _from_input(in_geom, n):
    """The adjoint of _to_input: the input's elements (divided by their multiplicity) summed into the storage."""
    def fn(h):
        xp = xp_of(h)
        s = _scatter(in_geom, (n,))(h)
        if in_geom[3]:
            count = xp.bincount(_positions(xp, in_geom).reshape(-1), minlength=n)
            s = s / xp.maximum(count, 1).astype(s.dtype)
        return s
    return fn


class AsStridedView(Function):
    """input.as_strided(size, stride, offset): a view of the input's storage (its forward returns the view)."""

    def forward(self, x, size, stride, offset):
        r, flat, off, strides = _storage("as_strided", x)
        offset = off if offset is None else int(offset)
        _check_geometry("as_strided", size, stride, offset, flat.size, x.itemsize)
        xp = xp_of(x)
        self.n = flat.size
        self.in_geom = geometry(tuple(x.shape), strides, off, _overlaps(xp, (tuple(x.shape), strides, off)))
        self.out_geom = geometry(tuple(size), tuple(stride), offset,
                                 _overlaps(xp, (tuple(size), tuple(stride), offset)))
        base = flat[offset:] if offset < flat.size else flat[flat.size:]
        out = xp.lib.stride_tricks.as_strided(base, shape=tuple(size), strides=tuple(s * x.itemsize for s in stride))
        if self.out_geom[3] and xp is np:
            # elements sharing memory: torch's in-place kernels update them one after another (the result depends
            # on the order), NumPy's as if from a copy; rather than differ silently, such a view refuses writes
            out.flags.writeable = False
        return out

    def _grad(self, g):
        return _to_input(self.in_geom, self.n)(_scatter(self.out_geom, (self.n,))(g))

    def backward(self, g):
        return self._grad(g), None, None, None

    def backward_graph(self, g):
        back = frozen_backward(self, 0)
        out_geom, adj = self.out_geom, _from_input(self.in_geom, self.n)
        return linear_map(g, back, lambda h: _gather(out_geom)(adj(h))), None, None, None


def as_strided(input, size, stride, storage_offset=None):
    """A view of input's storage: element i of the result is storage[storage_offset + sum_d i_d stride_d]
    (storage_offset defaults to input's own)."""
    if not isinstance(input, Tensor):
        raise TypeError(f"as_strided: input must be a Tensor, got {type(input).__name__}")
    size, stride = _ints("as_strided", "size", size), _ints("as_strided", "stride", stride)
    return AsStridedView.apply(input, size, stride, storage_offset)


def as_strided_(input, size, stride, storage_offset=None):
    """input takes the geometry as_strided gives (and, recording a gradient, its node)."""
    if input.requires_grad and input.grad_fn is None and is_grad_enabled():
        raise RuntimeError(f"as_strided_: a leaf Variable that requires grad (shape {tuple(input.shape)}) is being "
                           "used in an in-place operation.")
    r = as_strided(input, size, stride, storage_offset)
    input.array = r.array
    if r.grad_fn is not None:
        input.grad_fn = r.grad_fn
    return input


class AsStridedScatter(Function):
    """A C-contiguous copy of the input with the elements as_strided(size, stride, offset) selects replaced by src."""

    def forward(self, x, src, size, stride, offset):
        xp = xp_of(x)
        geom = geometry(tuple(size), tuple(stride), offset, False)
        if any(s == 0 and n > 1 for n, s in zip(size, stride)):
            raise RuntimeError("as_strided_scatter: unsupported operation: more than one element of the written-to "
                               f"tensor (size {list(size)}, stride {list(stride)}) refers to a single memory location. "
                               "Please clone() the tensor before performing the operation.")
        _check_geometry("as_strided_scatter", size, stride, offset, x.size, x.itemsize)
        if tuple(src.shape) != tuple(size):
            raise RuntimeError(f"as_strided_scatter: expected src to have a size equal to the slice of self. src size "
                               f"= {list(src.shape)}, slice size = {list(size)}")
        self.geom, self.shape = geom, x.shape
        out = xp.array(x, order="C")
        out.reshape(-1)[_positions(xp, geom)] = src
        return out

    def backward(self, g):
        xp = xp_of(g)
        gx = gs = None
        if self.needs_input_grad[0]:
            gx = xp.array(g, order="C")
            gx.reshape(-1)[_positions(xp, self.geom)] = 0
        if self.needs_input_grad[1]:
            gs = _gather(self.geom)(g)
        return gx, gs, None, None, None

    def backward_graph(self, g):
        gx = gs = None
        if self.needs_input_grad[0]:  # (zeroing the written elements is its own adjoint)
            gx = linear_map(g, frozen_backward(self, 0), frozen_backward(self, 0))
        if self.needs_input_grad[1]:
            gs = linear_map(g, frozen_backward(self, 1), _scatter(self.geom, self.shape))
        return gx, gs, None, None, None


def as_strided_scatter(input, src, size, stride, storage_offset=None):
    """input (copied) with input.as_strided(size, stride, storage_offset) replaced by src; the offset counts from
    the start of input's storage, as torch's (the copy's storage starts where input's elements do)."""
    for name, t in (("input", input), ("src", src)):
        if not isinstance(t, Tensor):
            raise TypeError(f"as_strided_scatter: {name} must be a Tensor, got {type(t).__name__}")
    if src.dtype != input.dtype:
        raise RuntimeError(f"as_strided_scatter: src dtype {src.dtype} must match input dtype {input.dtype}")
    size, stride = _ints("as_strided_scatter", "size", size), _ints("as_strided_scatter", "stride", stride)
    own = input.storage_offset()
    offset = 0 if storage_offset is None else int(storage_offset) - own
    if offset < 0:
        raise RuntimeError(f"as_strided_scatter: storage offset {storage_offset} is before input's elements (input's "
                           f"storage offset is {own})")
    return AsStridedScatter.apply(input, src, size, stride, offset)


def empty_strided(size, stride, *, dtype=None, layout=None, device=None, requires_grad=False, pin_memory=False):
    """A tensor of the given size and strides over a fresh storage just large enough (zeros: torch leaves it
    uninitialized)."""
    size, stride = _ints("empty_strided", "size", size), _ints("empty_strided", "stride", stride)
    need = 0 if 0 in size else 1 + sum((n - 1) * s for n, s in zip(size, stride))
    storage = empty((need,), dtype=dtype, device=device)
    _check_geometry("empty_strided", size, stride, 0, need, storage.array.itemsize)
    out = Tensor._make(xp_of(storage.array).lib.stride_tricks.as_strided(
        storage.array, shape=size, strides=tuple(s * storage.array.itemsize for s in stride)), None)
    return out.requires_grad_(requires_grad) if requires_grad else out


def empty_permuted(size, physical_layout, *, dtype=None, layout=None, device=None, requires_grad=False,
                   pin_memory=False):
    """A tensor of ``size`` whose dims are laid out in memory in the order physical_layout gives (outermost first)."""
    size, perm = _ints("empty_permuted", "size", size), _ints("empty_permuted", "physical_layout", physical_layout)
    if sorted(perm) != list(range(len(size))):
        raise RuntimeError(f"empty_permuted: physical_layout {list(perm)} is not a permutation of the {len(size)} dims "
                           f"of size {list(size)}")
    phys = empty(tuple(size[p] for p in perm), dtype=dtype, device=device)
    out = Tensor._make(phys.array.transpose(tuple(np.argsort(perm))), None)
    return out.requires_grad_(requires_grad) if requires_grad else out


def frombuffer(buffer, *, dtype, count=-1, offset=0, requires_grad=False):
    """A 1-d tensor over the memory of an object with the buffer protocol (shared, as torch: writes reach it)."""
    dt = dtypes.to_dtype(dtype)
    nbytes = memoryview(buffer).nbytes
    if offset < 0 or offset > nbytes:
        raise ValueError(f"both buffer length ({nbytes}) and offset ({offset}) must not be negative, and offset must "
                         "be at most the buffer's length")
    if count == 0 or (count < 0 and nbytes == offset):
        raise ValueError(f"both buffer length ({nbytes}) and count ({count}) must not be 0")
    if count < 0 and (nbytes - offset) % dt.itemsize:
        raise ValueError(f"buffer length ({nbytes - offset} bytes) after offset ({offset} bytes) must be a multiple "
                         f"of element size ({dt.itemsize})")
    if count > 0 and offset + count * dt.itemsize > nbytes:
        raise ValueError(f"requested buffer length ({count} * {dt.itemsize} bytes) after offset ({offset} bytes) must "
                         f"not be greater than actual buffer length ({nbytes} bytes)")
    arr = np.frombuffer(buffer, dtype=dt, count=count, offset=offset)
    out = Tensor._make(arr, None)
    return out.requires_grad_(requires_grad) if requires_grad else out


def install():
    Tensor.as_strided = as_strided
    Tensor.as_strided_ = as_strided_
    Tensor.as_strided_scatter = as_strided_scatter
