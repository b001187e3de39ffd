"""Tensor: an xp array (numpy on the CPU, cupy on CUDA) plus what autograd needs.

This module is the bottom of the package: it imports no op. Operators and the op methods (``+``, ``.sum``,
``.backward`` ...) are attached once by ``tensorgrad/ops/methods.py`` when the package is imported, as Chainer
installs Variable's arithmetic from its functions package. What stays here needs only the raw array.
"""
import weakref

import numpy as np

from . import dtypes
from .dtypes import is_float
from .backend import device_of, get_xp, xp_of, to_device, as_device
from .autograd.grad_mode import is_grad_enabled
from .autograd import version as _versions
from .random import default_generator
from ._tensor_str import tensor_repr
from .backend.sparse_coo import SparseCOO, sparse_repr
from ._size import Size, make_size as _make_size
from . import _memory_format
from ._memory_format import dense as _dense  # (torch's is_non_overlapping_and_dense)

_ndarray = np.ndarray
_NO_DATA = object()  # Tensor() with no data: torch's empty (0,) tensor


def check_same_device(op, args):
    devs = [(tuple(a.shape), a.device) for a in args if isinstance(a, Tensor)]
    if len({str(d) for _, d in devs}) > 1:
        raise RuntimeError(f"{op}: expected all tensors on the same device, got " +
                           ", ".join(f"{s} on {d}" for s, d in devs))


def check_device_as(op, main, *others):
    """check_same_device for ops that hand other tensors' raw arrays (.array) to a kernel, which Function.apply's
    check never sees: raises its RuntimeError when a Tensor in ``others`` lives on another device than ``main``.
    Metadata only (the array classes, then device ids): no host synchronisation."""
    cls = main.array.__class__
    for o in others:
        if isinstance(o, Tensor) and o.array.__class__ is not cls:
            check_same_device(op, (main,) + others)


def note_view(t, args):
    """Record that the op result t views the memory of a Tensor in ``args`` (torch's differentiable views: t._base is
    the root Tensor whose memory it views; the root keeps weak references to its views in _views). An in-place write
    recording a gradient on one of them rewrites the histories of all (ops/view_history.py). Called for results
    whose array has a .base, with grad mode on; views of a leaf that requires grad are not listed on it, since no
    in-place write with a gradient may reach that leaf."""
    a = t.array
    r = a.base  # (NumPy collapses view chains: the base is nearly always the owner itself; else, e.g. a buffer)
    if r.__class__ is not a.__class__ or r.base is not None:
        r = _versions.root(a)
    for x in args:
        if x.__class__ is Tensor or isinstance(x, Tensor):
            xa = x.array
            if xa is r or xa.base is r or (xa.base is not None and _versions.root(xa) is r):
                break
    else:
        return
    if xa.dtype != a.dtype or not (a.dtype.kind == "f" or is_float(a.dtype)):
        return
    base = x._base
    if base is None:
        base = x
    t._base = base
    if base.grad_fn is None and base._requires_grad:
        return
    views = base._views
    if views is None:
        base._views = views = _Views()
    elif len(views) >= views.limit:  # (dead views are dropped when the list has doubled since: amortized O(1))
        views[:] = [w for w in views if w() is not None]
        views.limit = max(16, 2 * len(views))
    views.append(weakref.ref(t))


class _Views(list):
    """A root's weak references to its views (note_view)."""
    limit = 16


class _HookHandle:
    """What register_*hook returns: remove() takes the hook off its list (again: nothing)."""

    def __init__(self, hooks, hook):
        hooks.append(hook)
        self._hooks, self._hook = hooks, hook

    def remove(self):
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


def _ptr(a):
    # (not a.data on NumPy: a buffer of an ml_dtypes bfloat16 array cannot be made)
    return a.__array_interface__["data"][0] if isinstance(a, np.ndarray) else a.data.ptr


def _strides(a):
    # (a size-1 dim's stride is never used; NumPy and torch choose it differently)
    return tuple(st for n, st in zip(a.shape, a.strides) if n != 1)


def same_memory(a, b):
    """Whether arrays a and b are the same elements of the same memory (pointer, shape, strides and dtype)."""
    if a.shape != b.shape or _strides(a) != _strides(b) or a.dtype != b.dtype:
        return False
    return _ptr(a) == _ptr(b)


def internal_overlap(a):
    """Whether several elements of array a share one memory location (an expanded view: stride 0 over a dim > 1)."""
    return a.size > 1 and any(st == 0 and n > 1 for n, st in zip(a.shape, a.strides))


def check_no_internal_overlap(op, a):
    """An expanded view has several elements on one memory location; a write into it has no single answer
    (NumPy refuses with "read-only", CuPy would write whichever comes last), so refuse it as torch does."""
    if internal_overlap(a):
        raise RuntimeError(f"{op}: unsupported operation: more than one element of the written-to tensor (shape "
                           f"{tuple(a.shape)}, an expanded view) refers to a single memory location. Please clone() "
                           "the tensor before performing the operation.")
    if a.__class__ is np.ndarray and not a.flags.writeable and a.size > 1:
        # (ops/strided.py's as_strided marks views whose elements partly share memory read-only: torch updates such
        # elements one after another, in its kernel's order, NumPy as if from a copy)
        raise RuntimeError(f"{op}: the written-to tensor (shape {tuple(a.shape)}, strides {a.strides}) is read-only "
                           "memory: a view whose elements overlap (as_strided), or memory shared read-only "
                           "(from_dlpack, a bytes buffer); clone() the tensor before writing")


def check_no_partial_overlap(op, out, inp):
    """torch's assert_no_partial_overlap between the array an in-place op writes and one it reads: the same memory
    in the same layout (x.add_(x)) or disjoint memory is fine; memory shared any other way (x[1:].copy_(x[:-1]),
    x.unsqueeze(0).add_(x)) is refused, as in torch, where the result would depend on the kernel's order. Layouts
    torch calls too hard to decide (non-dense, e.g. stepped slices) pass, as in torch."""
    if out.size == 0 or inp.size == 0 or out.__class__ is not inp.__class__ or not (_dense(out) and _dense(inp)):
        return
    a0, b0 = _ptr(out), _ptr(inp)
    a1, b1 = a0 + out.size * out.itemsize, b0 + inp.size * inp.itemsize
    full = a0 == b0 and a1 == b1 and out.ndim == inp.ndim and _strides(out) == _strides(inp)
    if full or not (a0 < b1 and b0 < a1):
        return
    raise RuntimeError(f"{op}: unsupported operation: some elements of the input tensor (shape {tuple(inp.shape)}) and "
                       f"the written-to tensor (shape {tuple(out.shape)}) refer to a single memory location. Please "
                       "clone() the tensor before performing the operation.")


class Tensor:
    # _post_hooks: set by register_post_accumulate_grad_hook only; _base / _views: torch's view tracking, which
    # in-place writes under autograd need (note_view)
    __slots__ = ("array", "_grad", "_requires_grad", "grad_fn", "_hooks", "name", "_own_version", "_post_hooks",
                 "_base", "_views", "__weakref__")
    __array_priority__ = 1000  # make numpy defer to our reflected operators (np_array * tensor -> Tensor)

    def __getstate__(self):
        # (pickle and deepcopy: the array is copied, so the copy views nothing; weak references cannot be pickled)
        state = {k: getattr(self, k) for k in Tensor.__slots__ if k != "__weakref__" and hasattr(self, k)}
        state["_base"] = state["_views"] = None
        return None, state

    def __init__(self, data=_NO_DATA, dtype=None, device=None, requires_grad=False, *more_sizes):
        # torch.Tensor's legacy sizes forms: Tensor(3), Tensor(2, 3) (gcn's nn.Parameter(torch.Tensor(n_in, n_out))),
        # Tensor(size), Tensor(): zero-filled where torch leaves the memory uninitialized, as legacy.py's
        # FloatTensor(2, 3). tensorgrad.tensor(3) is the 0-d value: it goes to _init directly.
        if data is _NO_DATA:
            data, dtype = np.zeros(0, dtypes.get_default_dtype()), None
        elif data.__class__ is Size or (data.__class__ is int and (dtype is None or dtype.__class__ is int)):
            sizes = list(data) if data.__class__ is Size else [data]
            for x in (dtype, device, requires_grad) + more_sizes:
                if x is None or x is False:  # (the parameters' defaults: no more sizes)
                    continue
                if x.__class__ is not int or data.__class__ is Size:
                    raise TypeError(f"Tensor(): expects sizes (ints), got {x!r} after {data!r}")
                sizes.append(x)
            if any(n < 0 for n in sizes):
                raise RuntimeError(f"Tensor(): negative dimension in {tuple(sizes)}")
            data, dtype, device, requires_grad = np.zeros(sizes, dtypes.get_default_dtype()), None, None, False
        elif dtype is None and not isinstance(data, Tensor):
            dtype = dtypes.get_default_dtype()  # torch.Tensor(data) is the default float type, whatever the data
        self._init(data, dtype, device, requires_grad)

    @classmethod
    def _from(cls, data, dtype=None, device=None, requires_grad=False):
        """A tensor of data as tensorgrad.tensor makes it, without the copy: the package's own constructor (Tensor(...)
        is torch's legacy one: sizes, and the default float dtype)."""
        t = cls.__new__(cls)
        t._init(data, dtype, device, requires_grad)
        return t

    def _init(self, data, dtype, device, requires_grad):
        dtype = dtypes.to_dtype(dtype)
        if isinstance(data, Tensor):
            data = data.array
        if device is None:
            device = device_of(data) if hasattr(data, "shape") and not isinstance(data, np.ndarray) else "cpu"
        xp = get_xp(device)
        if xp is np and not isinstance(data, np.ndarray) and hasattr(data, "get"):
            data = data.get()
        if dtype == dtypes.bfloat16 and getattr(data, "dtype", None) != dtype:
            # through float32, as PyTorch rounds doubles and ints to bfloat16 (BFloat16(float(x)))
            arr = xp.asarray(data, dtype=dtypes.float32).astype(dtype)
        else:
            arr = xp.asarray(data, dtype=dtype)
        if (arr.dtype.kind not in "biufc" or arr.dtype.itemsize > 16) and arr.dtype != dtypes.bfloat16:  # strings, objects, dates: NumPy holds them, no op here handles them
            raise TypeError(f"tensor: invalid data type {arr.dtype} (from {type(data).__name__} data of shape "
                            f"{tuple(arr.shape)}); tensors hold bool, integer or floating point numbers")
        if dtype is None and not hasattr(data, "dtype"):
            arr = _infer(arr, data, xp)
        if xp is not np and device_of(arr) != as_device(device):
            arr = to_device(arr, device)
        self.array = arr
        self._grad = None
        self.grad_fn = None
        self._hooks = None
        self.name = None
        self._requires_grad = False
        self._own_version = None
        self._base = self._views = None
        if requires_grad:
            self.requires_grad = True

    @classmethod
    def _make(cls, data, grad_fn):
        if data.__class__ is not _ndarray and isinstance(data, np.generic):  # numpy turns 0-d results into scalars
            data = np.asarray(data)
        t = object.__new__(cls)
        t.array = data
        t._grad = None
        t.grad_fn = grad_fn
        t._requires_grad = grad_fn is not None
        t._hooks = None
        t.name = None
        t._own_version = None
        t._base = t._views = None
        return t

    # ------------------------------------------------------------------------------- properties
    @property
    def data(self):
        """PyTorch's ``.data``: a tensor sharing this one's memory, outside the graph (no grad_fn, no
        requires_grad) with a version counter of its own, so in-place writes through it (``p.data.add_(g)``)
        change this tensor without autograd noticing. The raw NumPy/CuPy array is ``.array``."""
        t = Tensor._make(self.array, None)
        t._own_version = 0
        return t

    @data.setter
    def data(self, value):
        if not isinstance(value, Tensor):
            raise TypeError(f"data: can only be set to a Tensor (got {type(value).__name__}); the raw array is "
                            f".array. Wrap it first: t.data = tensorgrad.tensor(arr)")
        if value.shape != self.shape or value.device != self.device:
            raise RuntimeError(f"data: the new value must have this tensor's shape and device: got shape "
                               f"{tuple(value.shape)} on {value.device} ({value.dtype}) for a tensor of shape {tuple(self.shape)} "
                               f"on {self.device} ({self.dtype})")
        if self._requires_grad and not is_float(value.dtype):
            raise RuntimeError(f"data: a tensor that requires grad must stay floating point; got {value.dtype}")
        self.array = value.array
    @property
    def grad(self):
        return self._grad

    @grad.setter
    def grad(self, value):
        # Checked here, as torch does at assignment: an optimizer would otherwise broadcast a (1,) grad over a (3,)
        # parameter, or step a float32 parameter by a float64 grad, silently.
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"grad: assigned grad expected to be a Tensor or None but got grad of type "
                                f"{type(value).__name__} (tensor of shape {tuple(self.shape)}, {self.dtype})")
            if value.shape != self.shape:
                raise RuntimeError(f"grad: attempting to assign a gradient of shape {tuple(value.shape)} to a tensor of shape "
                                   f"{tuple(self.shape)}; the gradient and the tensor must be the same size")
            if value.array.dtype != self.array.dtype:
                raise RuntimeError(f"grad: attempting to assign a gradient with dtype {value.dtype} to a tensor with "
                                   f"dtype {self.dtype} (shape {tuple(self.shape)}); they must match")
            # (a sparse COO gradient of a dense tensor is torch's too: Embedding(sparse=True)'s weight)
            if ((value.array.__class__ is not self.array.__class__ and value.array.__class__ is not SparseCOO)
                    or value.device != self.device):
                raise RuntimeError(f"grad: assigned grad has data located on {value.device}, a different device from "
                                   f"the tensor's ({self.device}, shape {tuple(self.shape)})")
        self._grad = value

    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag):
        if flag and not is_float(self.array.dtype) and self.array.dtype.kind != "c":
            raise RuntimeError(f"requires_grad: only floating point and complex tensors can require gradients; this tensor has "
                               f"dtype {self.array.dtype} (shape {tuple(self.array.shape)}). Convert with .float() first.")
        if not flag and self.grad_fn is not None:
            raise RuntimeError("requires_grad: you can only change requires_grad of leaf tensors; use detach()")
        self._requires_grad = bool(flag)

    def requires_grad_(self, flag=True):
        self.requires_grad = flag
        return self

    @property
    def shape(self):
        return _make_size(Size, self.array.shape)

    def size(self, dim=None):
        return _make_size(Size, self.array.shape) if dim is None else self.array.shape[dim]

    @property
    def ndim(self):
        return self.array.ndim

    def dim(self):
        return self.array.ndim

    def numel(self):
        return int(self.array.size)

    def nelement(self):
        """torch's older spelling of numel()."""
        return int(self.array.size)

    @property
    def dtype(self):
        return self.array.dtype

    @property
    def device(self):
        a = self.array
        return device_of(a.values if a.__class__ is SparseCOO else a)

    @property
    def is_cuda(self):
        return self.device.type == "cuda"

    @property
    def _xp(self):
        return xp_of(self.array)

    @property
    def is_leaf(self):
        return self.grad_fn is None

    @property
    def T(self):
        return self.permute(*reversed(range(self.ndim)))

    @property
    def mT(self):
        return self.transpose(-2, -1)

    def element_size(self):
        return self.array.itemsize

    def is_floating_point(self):
        return dtypes.is_float(self.array.dtype)

    def is_complex(self):
        return self.array.dtype.kind == "c"

    def is_contiguous(self, memory_format=None):
        """Whether the elements lie in the memory format's order without gaps (row-major by default: torch's
        contiguous_format; channels_last: NHWC; size-1 dims do not count, as in torch)."""
        return _memory_format.is_contiguous_as(self.array, _memory_format.check(memory_format, "is_contiguous"))

    @property
    def nbytes(self):
        return int(self.array.nbytes)

    # ------------------------------------------------------------------------------- conversion
    def numpy(self):
        if self.requires_grad:
            raise RuntimeError("numpy: can't call numpy() on a tensor that requires grad; use tensor.detach().numpy()")
        return self.array if isinstance(self.array, np.ndarray) else self.array.get()

    def __array__(self, dtype=None, copy=None):
        a = self.array if isinstance(self.array, np.ndarray) else self.array.get()
        return a.astype(dtype) if dtype is not None else a

    def item(self):
        if self.array.size != 1:
            raise RuntimeError(f"item: only a tensor with one element can be converted to a Python scalar, got shape {tuple(self.shape)}")
        return self.array.reshape(()).item() if isinstance(self.array, np.ndarray) else self.array.get().reshape(()).item()

    def tolist(self):
        return np.asarray(self).tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if self.array.size != 1:
            raise RuntimeError(f"bool: the truth value of a tensor with more than one element is ambiguous (shape {tuple(self.shape)})")
        return bool(self.item())

    def __index__(self):
        if self.array.size != 1 or not np.issubdtype(self.dtype, np.integer):
            raise TypeError(f"only integer tensors of a single element can be converted to an index (shape {tuple(self.shape)}, {self.dtype})")
        return int(self.item())

    def __format__(self, spec):
        # torch formats a 0-d tensor as its number (f"{loss:.4f}"); anything else only with an empty spec
        if self.ndim == 0:
            return self.item().__format__(spec)
        return object.__format__(self, spec)

    def pin_memory(self, device=None):
        """Page-locked host memory speeds host-to-GPU copies in torch. tensorgrad's CPU arrays are NumPy's, whose
        memory is never pinned, so this returns the tensor itself (is_pinned() stays False); copies to CUDA go
        through CuPy's own pinned staging buffers."""
        if self.device.type != "cpu":
            raise RuntimeError(f"pin_memory: cannot pin a tensor on {self.device}; only CPU tensors can be pinned")
        return self

    def is_pinned(self, device=None):
        return False

    # ------------------------------------------------------------------------------- DLPack
    def __dlpack__(self, stream=None, max_version=None, dl_device=None, copy=None):
        """Export to DLPack without copying (the array's own __dlpack__: NumPy on the CPU, CuPy on CUDA).
        Optional arguments are passed on only when given, so producers that predate them still work."""
        if self.requires_grad:
            raise RuntimeError("__dlpack__: can't export a tensor that requires grad; use tensor.detach()")
        kw = {k: v for k, v in (("stream", stream), ("max_version", max_version), ("dl_device", dl_device),
                                ("copy", copy)) if v is not None}
        return self.array.__dlpack__(**kw)

    def __dlpack_device__(self):
        return self.array.__dlpack_device__()

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def __hash__(self):
        return id(self)

    def detach(self):
        return Tensor._make(self.array, None)

    def detach_(self):
        self.grad_fn = None
        self._requires_grad = False
        return self

    def _new_kw(self, dtype, device):
        # new_* default to this tensor's dtype and device (not the global default dtype), as in torch
        return {"dtype": self.dtype if dtype is None else dtype, "device": self.device if device is None else device}

    def new_tensor(self, data, dtype=None, device=None, requires_grad=False):
        return tensor(data.detach() if isinstance(data, Tensor) else data, **self._new_kw(dtype, device),
                      requires_grad=requires_grad)

    # ------------------------------------------------------------------------------- autograd
    def register_hook(self, hook):
        """hook(grad) -> new grad or None, called when this tensor's gradient is computed."""
        if not self.requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that doesn't require gradient")
        if self.grad_fn is not None:
            if self.grad_fn.hooks is None:
                self.grad_fn.hooks = []
            lst = self.grad_fn.hooks
        else:
            if self._hooks is None:
                self._hooks = []
            lst = self._hooks
        return _HookHandle(lst, hook)

    def register_post_accumulate_grad_hook(self, hook):
        """hook(tensor) -> None, called on a leaf after backward has accumulated its gradient into .grad (torch's;
        DistributedDataParallel launches its bucket all-reduces from here while backward still runs)."""
        if self.grad_fn is not None:
            raise RuntimeError("register_post_accumulate_grad_hook: post accumulate grad hooks cannot be registered "
                               "on non-leaf tensors")
        if not self.requires_grad:
            raise RuntimeError("register_post_accumulate_grad_hook: cannot register a hook on a tensor that doesn't "
                               "require gradient")
        if getattr(self, "_post_hooks", None) is None:
            self._post_hooks = []
        return _HookHandle(self._post_hooks, hook)

    def retain_grad(self):
        if self.grad_fn is not None:
            self.grad_fn.retain = weakref.ref(self)

    def zero_(self):
        return self._inplace_assign(self._xp.zeros_like(self.array), "zero_", overlap_ok=True)

    def fill_(self, value):
        # (one value everywhere: an expanded view may take it, as in torch)
        return self._inplace_assign(self._xp.full_like(self.array, value), "fill_", overlap_ok=True)

    # ------------------------------------------------------------------------------- in-place
    @property
    def _version(self):
        """In-place writes seen by this tensor's memory; shared with detach() and views (autograd/version.py).
        A tensor made by ``.data`` counts its own writes instead, so they never trip autograd's check (torch)."""
        if self._own_version is not None:
            return self._own_version
        return _versions.version(self.array)

    def _bump(self):
        if self._own_version is not None:
            self._own_version += 1
        else:
            _versions.bump(self.array)

    def _check_inplace(self, op):
        if self.requires_grad and is_grad_enabled():
            what = "a leaf tensor that requires grad" if self.grad_fn is None else "a tensor that requires grad"
            raise RuntimeError(f"{op}: in-place operation on {what} (shape {tuple(self.shape)}, {self.dtype}) is not allowed "
                               "while recording gradients; use tensorgrad.no_grad() or an out-of-place op")

    def _inplace_assign(self, new, op, overlap_ok=False):
        self._check_inplace(op)
        if not overlap_ok:
            check_no_internal_overlap(op, self.array)
        if tuple(new.shape) != self.shape:
            raise RuntimeError(f"{op}: result of shape {tuple(new.shape)} can't be written in place into shape {tuple(self.shape)}")
        self.array[...] = new
        self._bump()
        return self

    def copy_(self, src):
        s = src.array if isinstance(src, Tensor) else src
        if isinstance(src, Tensor):
            if same_memory(src.array, self.array):  # torch's early exit: a copy onto itself writes nothing
                return self
            check_no_partial_overlap("copy_", self.array, src.array)
        new = self._xp.broadcast_to(self._xp.asarray(s, dtype=self.dtype), self.shape)
        return self._inplace_assign(new, "copy_")
    def normal_(self, mean=0.0, std=1.0, generator=None):
        g = (generator or default_generator).normal(self.shape, self.dtype, self.device)
        if self.dtype.kind == "c":  # torch's: each part N(mean, std^2 / 2)
            return self._inplace_assign(g * (std * 0.5 ** 0.5) + mean * (1 + 1j), "normal_")
        return self._inplace_assign(g * std + mean, "normal_")
    def uniform_(self, a=0.0, b=1.0, generator=None):
        g = (generator or default_generator).random(self.shape, self.dtype, self.device)
        return self._inplace_assign(g * (b - a) + a * (1 + 1j if self.dtype.kind == "c" else 1), "uniform_")

    # (& | ^ << >>: ops/special.py's bitwise ops, attached by ops/methods.py)
    def __invert__(self):
        if self.dtype != np.bool_ and not np.issubdtype(self.dtype, np.integer):
            raise TypeError(f"invert (~): expects a bool or integer tensor, got {self.dtype}")
        return Tensor._make(~self.array, None)

    # ------------------------------------------------------------------------------- repr
    def __repr__(self):
        if self.array.__class__ is SparseCOO:
            return sparse_repr(self, tensor_repr, dtypes.name, dtypes.get_default_dtype())
        return tensor_repr(np.asarray(self), dtypes.name(self.dtype), dtypes.get_default_dtype(),
                           device=None if self.device.type == "cpu" else self.device,
                           grad_fn_name=None if self.grad_fn is None else self.grad_fn.name(),
                           requires_grad=self.requires_grad)

    __str__ = __repr__


def _infer(arr, data, xp):
    """PyTorch's inference for Python data: floats -> default dtype, ints -> int64, bools -> bool, and a NumPy
    scalar among them counts with its own dtype, torch promoting over the elements ([np.float64(1), 2.0] is float64,
    [np.float16(1)] float16, [np.int32(3)] int32). NumPy's asarray already gives a dtype narrower than float64 /
    int64 only for NumPy scalars alone; float64 needs a look for np.float64 scalars."""
    default = dtypes.get_default_dtype()
    if arr.dtype == np.float64 and default != np.float64:
        if not any(isinstance(x, np.floating) and x.dtype == np.float64 for x in _flat_data(data)):
            return arr.astype(default)
    elif arr.dtype == np.uint64:   # (Python ints past int64's range)
        return arr.astype(np.int64)
    elif arr.dtype == np.complex128 and default != np.float64:  # Python complex numbers: the default complex dtype
        if not any(isinstance(x, (np.complex128, np.float64)) for x in _flat_data(data)):
            return arr.astype(dtypes.default_complex())
    return arr


def _flat_data(data):
    return _flat(data) if isinstance(data, (list, tuple)) else (data,)


def tensor(data, dtype=None, device=None, requires_grad=False):
    if isinstance(data, Tensor):
        data = data.array.copy()
    elif hasattr(data, "shape") and hasattr(data, "copy"):  # numpy/cupy arrays: copy, like torch.tensor
        data = data.copy()
    elif isinstance(data, (list, tuple)) and any(isinstance(x, Tensor) for x in _flat(data)):
        data = [np.asarray(x) if isinstance(x, Tensor) else x for x in data]
    return Tensor._from(data, dtype, device, requires_grad)


def _flat(seq):
    for x in seq:
        if isinstance(x, (list, tuple)):
            yield from _flat(x)
        else:
            yield x
