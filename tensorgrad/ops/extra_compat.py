"""The rest of torch's namespace that public PyTorch code calls, composed of existing ops (so gradients come from
theirs): exp2, float_power, kron, diagflat, positive, gcd/lcm, broadcast_tensors/broadcast_shapes, unravel_index,
asarray, chain_matmul, the deprecated inclusive range, scalar_tensor, split_with_sizes and the unsafe_ spellings, the
window functions, is_signed / is_complex / is_same_size / typename; and their Tensor methods, the in-place forms
torch has (eq_, logical_and_, cumsum_, addmm_, ...), and the legacy ones old scripts still call (new, resize_,
share_memory_, apply_, map_)."""
import math
import mmap
import operator
import warnings

import numpy as np

from .. import dtypes
from ..legacy import scalar_type_name
from ..dtypes import get_default_dtype
from ..tensor import Tensor, tensor
from ..backend import as_device
from ..backend.shared_memory import new_segment, segment_of
from ..autograd import version as _versions
from .._size import Size
from ..autograd.grad_mode import is_grad_enabled
from ..factories import arange, empty, from_numpy, full, zeros
from . import elementwise as E, elementwise_math as EM, matmul as MM, movement as M, scan as S, extra_shape as XS
from .indexing import diag
from .resample import prelu
from .linalg_norms import multi_dot
from .methods import _apply_inplace
from .util import to_float


# ----------------------------------------------------------------------------------------- elementwise
def exp2(input):
    return E.pow(2.0, to_float(input))


def float_power(input, exponent):
    """input ** exponent in float64 (complex128 when either is complex), whatever the inputs' dtypes (torch's
    float_power)."""
    cplx = any(isinstance(v, complex) or isinstance(v, Tensor) and v.dtype.kind == "c" for v in (input, exponent))
    dt = dtypes.complex128 if cplx else dtypes.float64
    a = input.to(dt) if isinstance(input, Tensor) else (complex if cplx else float)(input)
    b = exponent.to(dt) if isinstance(exponent, Tensor) else (complex if cplx else float)(exponent)
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        raise TypeError("float_power: expected at least one Tensor argument")
    return E.pow(a, b)


def positive(input):
    if input.dtype == dtypes.bool_:
        raise RuntimeError("The `+` operator, on a bool tensor is not supported.")
    return input


def _integer_pair(op, a, b):
    for x in (a, b):
        if isinstance(x, Tensor) and x.dtype.kind not in "iu":
            raise RuntimeError(f"{op}: \"{op}_cpu\" not implemented for '{scalar_type_name(x.dtype)}' (integer "
                               f"tensors only; got shape {tuple(x.shape)})")
    t = a if isinstance(a, Tensor) else b
    xa = a.array if isinstance(a, Tensor) else a
    xb = b.array if isinstance(b, Tensor) else b
    return t, xa, xb


def gcd(input, other):
    t, a, b = _integer_pair("gcd", input, other)
    return Tensor._make(t._xp.gcd(a, b), None)


def lcm(input, other):
    t, a, b = _integer_pair("lcm", input, other)
    return Tensor._make(t._xp.lcm(a, b), None)


def kron(input, other):
    """The Kronecker product: block (i, j) of the result is input[i, j] * other (dims aligned from the right)."""
    n = max(input.ndim, other.ndim)
    a = input.reshape((1,) * (n - input.ndim) + tuple(input.shape))
    b = other.reshape((1,) * (n - other.ndim) + tuple(other.shape))
    # interleave: a's dim k with b's dim k, so that the product's reshape merges each pair into one
    pa = a.reshape(tuple(x for s in a.shape for x in (s, 1)))
    pb = b.reshape(tuple(x for s in b.shape for x in (1, s)))
    return (pa * pb).reshape(tuple(sa * sb for sa, sb in zip(a.shape, b.shape)))


def diagflat(input, offset=0):
    return diag(input.reshape(-1), offset)


# ----------------------------------------------------------------------------------------- shapes
def broadcast_shapes(*shapes):
    """The shape every given shape broadcasts to (ints count as 1-d shapes), or torch's error naming the first
    argument that does not fit."""
    out = []
    for k, s in enumerate(shapes):
        s = (operator.index(s),) if not isinstance(s, (tuple, list)) else tuple(operator.index(v) for v in s)
        if any(v < 0 for v in s):
            raise RuntimeError(f"broadcast_shapes: trying to create tensor with negative dimension: {list(s)}")
        pad = len(s) - len(out)
        if pad > 0:
            out = [1] * pad + out
        for i in range(1, len(s) + 1):
            have, want = out[-i], s[-i]
            if want != have and want != 1:
                if have != 1:
                    raise RuntimeError(f"Attempting to broadcast a dimension of length {want} at -{i}! Mismatching "
                                       f"argument at index {k} had {tuple(s)}; but expected shape should be "
                                       f"broadcastable to {out}")
                out[-i] = want
    return Size(out)


def broadcast_tensors(*tensors):
    if len(tensors) == 1 and isinstance(tensors[0], (tuple, list)):
        tensors = tuple(tensors[0])
    shape = broadcast_shapes(*(tuple(t.shape) for t in tensors))
    return tuple(t if tuple(t.shape) == tuple(shape) else M.expand(t, *shape) for t in tensors)


def unravel_index(indices, shape):
    """The coordinates of flat indices in a tensor of ``shape``, one int64 tensor per dim (torch's; an index out of
    range wraps around the total size, as torch's kernel does)."""
    if isinstance(shape, int):
        shape = (shape,)
    shape = tuple(operator.index(s) for s in shape)
    if any(s < 0 for s in shape):
        raise ValueError(f"unravel_index: 'shape' cannot have negative values, but got {shape}")
    idx = indices if isinstance(indices, Tensor) else tensor(indices)
    if idx.dtype.kind not in "iu" or idx.dtype == dtypes.bool_:
        raise TypeError(f"unravel_index: expected 'indices' to be an integer tensor, but got {dtypes.name(idx.dtype)}")
    total = math.prod(shape)
    xp = idx._xp
    flat = idx.array.astype(np.int64)
    if total == 0:
        if flat.size:
            raise RuntimeError(f"unravel_index: index out of range for a tensor of shape {shape} (no elements)")
        return tuple(Tensor._make(xp.zeros(flat.shape, np.int64), None) for _ in shape)
    coords = xp.unravel_index(flat % total, shape) if shape else ()
    return tuple(Tensor._make(xp.asarray(c, dtype=np.int64), None) for c in coords)


def split_with_sizes(input, split_sizes, dim=0):
    sizes = [operator.index(s) for s in split_sizes]
    n = input.shape[dim]
    if sum(sizes) != n or any(s < 0 for s in sizes):
        raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size at "
                           f"dimension {dim}), but got split_sizes={sizes}")
    return M.split(input, sizes, dim)


unsafe_split = M.split
unsafe_chunk = M.chunk
unsafe_split_with_sizes = split_with_sizes


def chain_matmul(*matrices, out=None):
    warnings.warn("torch.chain_matmul is deprecated and will be removed in a future PyTorch release. Use "
                  "torch.linalg.multi_dot instead, which accepts a list of two or more tensors rather than multiple "
                  "parameters.", UserWarning, stacklevel=2)
    if len(matrices) == 1:
        return matrices[0].clone()
    return multi_dot(list(matrices))


# ----------------------------------------------------------------------------------------- factories
def scalar_tensor(s, *, dtype=None, device=None, requires_grad=False):
    return full((), s, dtype=dtype or get_default_dtype(), device=device, requires_grad=requires_grad)


def range_(start, end, step=1, *, dtype=None, device=None, requires_grad=False):
    """torch.range: deprecated, and inclusive of ``end`` (torch.arange is not)."""
    warnings.warn("torch.range is deprecated and will be removed in a future release because its behavior is "
                  "inconsistent with Python's range builtin. Instead, use torch.arange, which produces values in "
                  "[start, end).", UserWarning, stacklevel=2)
    if step == 0 or (end - start) * step < 0:
        raise RuntimeError(f"range: upper bound and larger bound inconsistent with step sign (start {start}, end "
                           f"{end}, step {step})")
    n = int(math.floor((end - start) / step)) + 1
    dt = dtypes.to_dtype(dtype) or get_default_dtype()
    return (arange(n, dtype=dtypes.float64, device=device) * step + start).to(dt).requires_grad_(requires_grad)


def asarray(obj, *, dtype=None, device=None, copy=None, requires_grad=False):
    """torch.asarray: shares memory with a Tensor or a NumPy array when dtype and device allow and copy is not True;
    copies otherwise (copy=False then raises, as torch)."""
    dt = dtypes.to_dtype(dtype)
    if isinstance(obj, Tensor):
        t = obj
    elif isinstance(obj, np.ndarray) and obj.dtype.kind in "biuf":
        t = from_numpy(obj)
    else:
        if copy is False:
            raise ValueError(f"asarray: can't alias a {type(obj).__name__} (copy=False); pass copy=None or True")
        t = tensor(obj, dtype=dt, device=device)
        return t.requires_grad_(requires_grad) if requires_grad else t
    moved = (dt is not None and dt != t.dtype) or (device is not None and as_device(device) != t.device)
    if copy is False and moved:
        raise ValueError(f"asarray: copy=False but a {dtypes.name(t.dtype)} tensor on {t.device} must be copied to "
                         f"give dtype {dtype} on device {device}")
    out = t.to(device=device if device is not None else t.device, dtype=dt or t.dtype)
    if copy and out is t:
        out = t.clone()
    if requires_grad:
        out = out.detach() if out is obj else out
        out.requires_grad_(True)
    return out


def _window(name, fn, window_length, periodic, dtype, device, requires_grad):
    n = operator.index(window_length)
    if n < 0:
        raise RuntimeError(f"{name} requires non-negative window_length, got window_length={n}")
    dt = dtypes.to_dtype(dtype) or get_default_dtype()
    if not dtypes.is_float(dt):
        raise RuntimeError(f"{name} expects floating point dtypes, got: {dtypes.name(dt)}")
    if n <= 1:
        w = np.ones(n)
    else:
        w = fn(n + 1)[:-1] if periodic else fn(n)
    return tensor(w, dtype=dt, device=device, requires_grad=requires_grad)


def hann_window(window_length, periodic=True, *, dtype=None, device=None, requires_grad=False, layout=None):
    return _window("hann_window", np.hanning, window_length, periodic, dtype, device, requires_grad)


def hamming_window(window_length, periodic=True, alpha=0.54, beta=0.46, *, dtype=None, device=None,
                   requires_grad=False, layout=None):
    def fn(m):
        return alpha - beta * np.cos(2 * np.pi * np.arange(m) / (m - 1))
    return _window("hamming_window", fn, window_length, periodic, dtype, device, requires_grad)


def blackman_window(window_length, periodic=True, *, dtype=None, device=None, requires_grad=False, layout=None):
    return _window("blackman_window", np.blackman, window_length, periodic, dtype, device, requires_grad)


def bartlett_window(window_length, periodic=True, *, dtype=None, device=None, requires_grad=False, layout=None):
    return _window("bartlett_window", np.bartlett, window_length, periodic, dtype, device, requires_grad)


def kaiser_window(window_length, periodic=True, beta=12.0, *, dtype=None, device=None, requires_grad=False,
                  layout=None):
    return _window("kaiser_window", lambda m: np.kaiser(m, beta), window_length, periodic, dtype, device,
                   requires_grad)


# ----------------------------------------------------------------------------------------- queries
def is_signed(input):
    return input.dtype.kind in "fi" or input.dtype == dtypes.bfloat16


def is_complex(input):
    return input.dtype.kind == "c"


def is_same_size(input, other):
    return tuple(input.shape) == tuple(other.shape)


def typename(obj):
    if isinstance(obj, Tensor):
        return obj.type()
    module, qualname = getattr(obj, "__module__", "") or "", ""
    if hasattr(obj, "__qualname__"):
        qualname = obj.__qualname__
    elif hasattr(obj, "__name__"):
        qualname = obj.__name__
    else:
        module, qualname = obj.__class__.__module__ or "", obj.__class__.__qualname__
    return qualname if module in ("", "builtins") else f"{module}.{qualname}"


# ----------------------------------------------------------------------------------------- Tensor methods
def _inplace(name, compute):
    def method(self, *args, **kwargs):
        return _apply_inplace(self, lambda s: compute(s, *args, **kwargs), name)
    method.__name__ = method.__qualname__ = name
    return method


def _float_power_(self, exponent):
    if self.dtype != dtypes.float64:
        raise RuntimeError(f"the base given to float_power_ has dtype {scalar_type_name(self.dtype)} but the "
                           "operation's result requires dtype Double")
    return _apply_inplace(self, lambda s: float_power(s, exponent), "float_power_")


def _no_grad_write(self, op):
    if self.requires_grad and is_grad_enabled():
        raise RuntimeError(f"{op}: cannot {'resize' if op.startswith('resize') else 'write into'} variables that "
                           f"require grad (shape {tuple(self.shape)})")


def _resize_(self, *sizes, memory_format=None):
    """torch's legacy resize_: the first elements are kept in row-major order, new ones are zero (torch leaves them
    uninitialized); the tensor's history is not recorded, so one that requires grad is refused, as in torch."""
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    sizes = tuple(operator.index(s) for s in sizes)
    if any(s < 0 for s in sizes):
        raise RuntimeError(f"resize_: negative dimension in {sizes}")
    if self.requires_grad:
        raise RuntimeError("cannot resize variables that require grad")
    xp, flat = self._xp, self.array.reshape(-1)
    n = math.prod(sizes)
    if n == flat.size:
        new = xp.ascontiguousarray(self.array).reshape(sizes)
    else:
        new = xp.zeros(n, self.dtype)
        k = min(n, flat.size)
        new[:k] = flat[:k]
        new = new.reshape(sizes)
    self.array = new
    return self


def _new(self, *args, dtype=None, device=None):
    """Legacy x.new(...): sizes (ints or a Size) give a zero tensor of x's dtype and device; data gives a tensor of it;
    a Tensor gives one sharing its memory."""
    kw = dict(dtype=dtype or self.dtype, device=device or self.device)
    if not args:
        return empty(0, **kw)
    if len(args) == 1 and isinstance(args[0], Tensor):
        if args[0].dtype != kw["dtype"]:
            raise TypeError(f"new(): expected a {dtypes.name(kw['dtype'])} tensor, got {dtypes.name(args[0].dtype)}")
        return Tensor._make(args[0].array, None)
    if len(args) == 1 and isinstance(args[0], Size):
        return zeros(tuple(args[0]), **kw)
    if all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in args):
        return zeros(args, **kw)
    if len(args) == 1:
        return tensor(args[0], **kw)
    raise TypeError(f"new(): invalid arguments {args!r}: expected sizes (ints) or one sequence of data")


def _share_memory_(self):
    """Move the data into shared memory in place (tensorgrad.backend.shared_memory, of the current sharing
    strategy), as torch moves the storage: processes that get this tensor afterwards (forked, or pickled to a spawned
    child or through a torch.multiprocessing queue) read and write the same memory. The whole memory the array views
    moves, and the views autograd tracks on it (x._base / x._views) are re-pointed to the new copy; a tensor made
    with .data or from_numpy is not tracked and keeps the old memory. A CUDA tensor is left as it is, as torch."""
    if self.device.type != "cpu" or segment_of(self.array) is not None:
        return self
    owner = self._base
    if owner is None or segment_of(owner.array) is not None:  # (a view its owner's move left behind moves alone)
        owner = self
    memory = _versions.root(owner.array)
    if not memory.flags.c_contiguous:  # (an owner NumPy cannot copy as bytes: only this tensor's elements move)
        owner, memory = self, np.ascontiguousarray(self.array)
    seg = new_segment(memory.nbytes)
    np.frombuffer(seg, np.uint8, count=memory.nbytes)[:] = memory.reshape(-1).view(np.uint8)
    start = memory.__array_interface__["data"][0]
    for t in [w() for w in owner._views or ()] + [owner, self]:
        a = None if t is None else t.array
        if a is None or segment_of(a) is not None or not (a is memory or _versions.root(a) is memory):
            continue
        off = a.__array_interface__["data"][0] - start
        t.array = np.ndarray(a.shape, a.dtype, buffer=seg, offset=off, strides=a.strides)
    if segment_of(self.array) is None:  # (memory is a copy of this tensor's elements)
        self.array = np.ndarray(memory.shape, memory.dtype, buffer=seg)
    return self


def _is_shared(self):
    if self.device.type != "cpu":
        return True
    base = self.array
    while isinstance(base, np.ndarray) and base.base is not None:
        base = base.base
    if isinstance(base, memoryview):  # np.frombuffer's chain ends at a memoryview of the mmap
        base = base.obj
    return isinstance(base, mmap.mmap)  # (a Segment, or a DataLoader worker's batch in a mapped /dev/shm file)


def _apply_(self, fn):
    if self.device.type != "cpu":
        raise TypeError("apply_ is only implemented on CPU tensors")
    _no_grad_write(self, "apply_")
    out = np.vectorize(fn, otypes=[self.dtype])(self.array) if self.numel() else self.array.copy()
    return self._inplace_assign(out.astype(self.dtype, copy=False), "apply_")


def _map_(self, other, fn):
    if self.device.type != "cpu":
        raise TypeError("map_ is only implemented on CPU tensors")
    _no_grad_write(self, "map_")
    b = np.broadcast_to(other.array, self.array.shape)
    out = np.vectorize(fn, otypes=[self.dtype])(self.array, b) if self.numel() else self.array.copy()
    return self._inplace_assign(out.astype(self.dtype, copy=False), "map_")


def _dim_order(self):
    """Dims from outermost to innermost by stride (ties keep dim order), torch's dim_order()."""
    st = self.stride()
    return tuple(sorted(range(self.ndim), key=lambda d: -st[d]))


def _retains_grad(self):
    node = self.grad_fn
    ref = getattr(node, "retain", None) if node is not None else None
    return ref is not None and ref() is self


_FALSE_DEVICES = ("is_meta", "is_xpu", "is_mps", "is_ipu", "is_mkldnn", "is_quantized", "is_nested", "is_vulkan",
                  "is_xla", "is_mtia", "is_maia", "is_sparse_csr")


def install():
    methods = {
        "exp2": exp2, "float_power": float_power, "positive": positive, "gcd": gcd, "lcm": lcm, "kron": kron,
        "diagflat": diagflat, "split_with_sizes": split_with_sizes, "unsafe_split": unsafe_split,
        "unsafe_chunk": unsafe_chunk, "unsafe_split_with_sizes": unsafe_split_with_sizes, "hsplit": XS.hsplit,
        "vsplit": XS.vsplit, "dsplit": XS.dsplit, "is_signed": is_signed, "is_complex": is_complex,
        "is_same_size": is_same_size, "new": _new, "resize_": _resize_,
        "resize_as_": lambda self, other, memory_format=None: _resize_(self, tuple(other.shape)),
        "share_memory_": _share_memory_, "is_shared": _is_shared, "apply_": _apply_, "map_": _map_,
        "dim_order": _dim_order, "prelu": prelu, "float_power_": _float_power_,
        "exp2_": _inplace("exp2_", exp2), "gcd_": _inplace("gcd_", gcd), "lcm_": _inplace("lcm_", lcm),
        "cumsum_": _inplace("cumsum_", S.cumsum), "cumprod_": _inplace("cumprod_", S.cumprod),
        "clip_": _inplace("clip_", E.clamp), "floor_divide_": _inplace("floor_divide_", EM.floor_divide),
        "addmm_": _inplace("addmm_", MM.addmm), "addbmm_": _inplace("addbmm_", MM.addbmm),
        "baddbmm_": _inplace("baddbmm_", MM.baddbmm), "addr_": _inplace("addr_", MM.addr),
        "addmv_": _inplace("addmv_", MM.addmv),
    }
    for name in ("eq", "ne", "lt", "le", "gt", "ge"):
        methods[name + "_"] = _inplace(name + "_", getattr(E, name))
    for name in ("logical_and", "logical_or", "logical_xor", "logical_not"):
        methods[name + "_"] = _inplace(name + "_", getattr(EM, name))
    for k, v in methods.items():
        setattr(Tensor, k, v)
    Tensor.is_cpu = property(lambda self: self.device.type == "cpu")
    Tensor.itemsize = property(lambda self: int(self.array.itemsize))
    Tensor.retains_grad = property(_retains_grad)
    for name in _FALSE_DEVICES:
        setattr(Tensor, name, property(lambda self: False))


install()
