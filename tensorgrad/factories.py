"""Tensor factories (PyTorch signatures)."""
import ctypes

import numpy as np

from . import dtypes
from .backend import as_device, get_xp
from .tensor import Tensor, tensor
from .random import default_generator
from . import _memory_format as _mf


def _shape(size, keyword=None):
    if keyword is not None:  # torch.zeros(size=(2, 3)): the sizes as a keyword instead of positionally
        if size:
            raise TypeError(f"sizes given both positionally {tuple(size)} and as size={keyword!r}")
        if not isinstance(keyword, (tuple, list)):
            raise TypeError(f"argument 'size' must be tuple of ints, not {type(keyword).__name__}")
        size = (keyword,)
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for s in size:
        if not isinstance(s, (int, np.integer)) or s < 0:
            raise ValueError(f"invalid size {tuple(size)}: sizes must be non-negative ints")
    return tuple(int(s) for s in size)


def _finish(arr, requires_grad):
    t = Tensor._make(arr, None)
    if requires_grad:
        t.requires_grad = True
    return t


def _dt(dtype, default=None):
    d = dtypes.to_dtype(dtype)
    return d if d is not None else (default or dtypes.get_default_dtype())


def zeros(*sizes, size=None, dtype=None, device=None, requires_grad=False):
    return _finish(get_xp(device).zeros(_shape(sizes, size), dtype=_dt(dtype)), requires_grad)


def ones(*sizes, size=None, dtype=None, device=None, requires_grad=False):
    return _finish(get_xp(device).ones(_shape(sizes, size), dtype=_dt(dtype)), requires_grad)


def empty(*sizes, size=None, dtype=None, device=None, requires_grad=False):
    return _finish(get_xp(device).empty(_shape(sizes, size), dtype=_dt(dtype)), requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    if dtype is None:
        dtype = np.bool_ if isinstance(fill_value, bool) else np.int64 if isinstance(fill_value, int) else \
            dtypes.default_complex() if isinstance(fill_value, complex) else None
    return _finish(get_xp(device).full(_shape((size,) if isinstance(size, int) else (tuple(size),)), fill_value,
                                       dtype=_dt(dtype)), requires_grad)


def _formatted(t, out, fmt):
    """A *_like result in the memory format asked for (torch's preserve_format keeps a dense t's strides); None keeps
    it row-major."""
    if _mf.check(fmt, "*_like") is None or fmt is _mf.contiguous_format:
        return out
    if fmt is not _mf.preserve_format:
        _mf.check_rank(fmt, t.ndim, "*_like")
    if out.array.__class__ is not t.array.__class__:  # (another device: row-major, as torch's copy there)
        return out
    out.array = _mf.like_array(t.array, out.array, fmt)
    return out


def _like(t, dtype, device):
    return (dtypes.to_dtype(dtype) or t.dtype), (device if device is not None else t.device)


def zeros_like(t, dtype=None, device=None, requires_grad=False, *, memory_format=None):
    d, dev = _like(t, dtype, device)
    return _formatted(t, zeros(t.shape, dtype=d, device=dev, requires_grad=requires_grad), memory_format)


def ones_like(t, dtype=None, device=None, requires_grad=False, *, memory_format=None):
    d, dev = _like(t, dtype, device)
    return _formatted(t, ones(t.shape, dtype=d, device=dev, requires_grad=requires_grad), memory_format)


def full_like(t, fill_value, dtype=None, device=None, requires_grad=False, *, memory_format=None):
    d, dev = _like(t, dtype, device)
    return _formatted(t, full(t.shape, fill_value, dtype=d, device=dev, requires_grad=requires_grad), memory_format)


def empty_like(t, dtype=None, device=None, requires_grad=False, *, memory_format=None):
    d, dev = _like(t, dtype, device)
    return _formatted(t, empty(t.shape, dtype=d, device=dev, requires_grad=requires_grad), memory_format)


def _gen(generator):
    return generator or default_generator


def randn(*sizes, size=None, dtype=None, device=None, requires_grad=False, generator=None):
    d = _dt(dtype)
    if d.kind == "c":  # torch's complex normal: unit variance overall, each part variance 1/2
        out = _gen(generator).normal(_shape(sizes, size), d, as_device(device)) * np.sqrt(0.5)
        return _finish(out.astype(d, copy=False), requires_grad)
    if not dtypes.is_float(d):
        raise TypeError(f"randn: dtype must be floating point, got {d}")
    return _finish(_gen(generator).normal(_shape(sizes, size), d, as_device(device)), requires_grad)


def rand(*sizes, size=None, dtype=None, device=None, requires_grad=False, generator=None):
    d = _dt(dtype)
    if not dtypes.is_float(d) and d.kind != "c":  # (complex: real and imaginary parts each uniform on [0, 1))
        raise TypeError(f"rand: dtype must be floating point, got {d}")
    return _finish(_gen(generator).random(_shape(sizes, size), d, as_device(device)), requires_grad)


def randint(low, high=None, size=None, dtype=None, device=None, generator=None):
    if size is None and isinstance(high, (tuple, list)):  # randint(high, size), as in torch
        low, high, size = 0, low, high
    if high is None:
        low, high = 0, low
    if size is None:
        raise TypeError("randint: size= is required, e.g. randint(0, 10, (3,))")
    if high <= low:
        raise ValueError(f"randint: high ({high}) must be greater than low ({low})")
    d = _dt(dtype, dtypes.int64)
    return _finish(_gen(generator).integers(low, high, _shape((tuple(size),) if not isinstance(size, int) else (size,)),
                                            np.int64, as_device(device)).astype(d, copy=False), False)


def randperm(n, *, generator=None, dtype=None, device=None, requires_grad=False):
    """A random permutation of 0..n-1 (int64 by default) drawn from ``generator``: reproducible after a seed on
    each device, though not the permutation torch draws."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"randperm: n must be a non-negative int, got {n!r}")
    d = _dt(dtype, dtypes.int64)
    if d == np.bool_ or not (np.issubdtype(d, np.integer) or np.issubdtype(d, np.floating)):
        raise TypeError(f"randperm: dtype {d} is not supported (use an integer or floating point dtype)")
    top = int(np.iinfo(d).max) + 1 if np.issubdtype(d, np.integer) else 2 ** (np.finfo(d).nmant + 1) + 1
    if n > top:  # n - 1 must be exact in dtype
        raise RuntimeError(f"randperm: n={n} is too large for dtype {d}: at most {top}")
    perm = _gen(generator).permutation(int(n), as_device(device))
    return _finish(perm.astype(d, copy=False), requires_grad)


def randn_like(t, dtype=None, device=None, requires_grad=False, generator=None, *,
              memory_format=None):
    d, dev = _like(t, dtype, device)
    return _formatted(t, randn(t.shape, dtype=d, device=dev, requires_grad=requires_grad, generator=generator),
                      memory_format)


def rand_like(t, dtype=None, device=None, requires_grad=False, generator=None, *,
              memory_format=None):
    d, dev = _like(t, dtype, device)
    return _formatted(t, rand(t.shape, dtype=d, device=dev, requires_grad=requires_grad, generator=generator),
                      memory_format)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    if (end - start) * step < 0:
        raise RuntimeError(f"arange: upper bound and lower bound inconsistent with step sign (start {start}, end "
                           f"{end}, step {step})")
    if dtype is None:
        dtype = dtypes.int64 if all(isinstance(v, (int, np.integer)) for v in (start, end, step)) else dtypes.get_default_dtype()
    return _finish(get_xp(device).arange(start, end, step, dtype=_dt(dtype)), requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool) or steps < 0:
        raise RuntimeError(f"linspace: number of steps must be a non-negative int, got {steps!r}")
    dt, xp = _dt(dtype), get_xp(device)
    if dt.kind == "c" or isinstance(start, complex) or isinstance(end, complex):
        return _finish(xp.linspace(start, end, steps, dtype=dt), requires_grad)
    # torch's kernel: the ends cast to the dtype first, the step in it (in float64 for an integer dtype), the first
    # half counted up from start and the second down from end, so both ends are exact and the halves mirror; each
    # float32 start + step * i is one fused multiply-add there (float64 arithmetic rounded once reproduces it, and
    # long double nearly does for float64); float16 and bfloat16 round after each operation
    step_t = np.dtype(np.float64) if dt.kind in "biu" else dt
    if dt.kind in "iu" and not all(np.iinfo(dt).min <= float(v) <= np.iinfo(dt).max for v in (start, end)):
        raise RuntimeError(f"linspace: value cannot be converted to type {dt} without overflow (start {start}, end "
                           f"{end})")
    s, e = (step_t.type(np.asarray(float(v)).astype(dt)) for v in (start, end))
    step = step_t.type((e - s) / step_t.type(max(steps - 1, 1)))
    wide = step_t.type if step_t.itemsize < 4 else np.float64 if step_t.itemsize == 4 else np.longdouble \
        if xp is np else np.float64
    i = xp.arange(steps).astype(wide)
    s, e, step = wide(s), wide(e), wide(step)
    up, down = s + (step * i).astype(wide), e - (step * (wide(steps - 1) - i)).astype(wide)
    out = xp.where(i < steps // 2, up, down) if steps > 1 else xp.full(steps, s)
    return _finish(out.astype(np.float64).astype(dt) if wide == np.longdouble else out.astype(dt), requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    for name, v in (("n", n), ("m", m)):
        if v is not None and (not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 0):
            raise RuntimeError(f"eye: {name} must be an int >= 0, got {v!r}")
    return _finish(get_xp(device).eye(n, m, dtype=_dt(dtype)), requires_grad)


def from_numpy(a):
    """A tensor sharing memory with the NumPy array ``a``: a write through either shows in the other (torch's
    from_numpy). Like torch, only an ndarray of a numeric or bool dtype is accepted."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"from_numpy: expected np.ndarray (got {type(a).__module__}.{type(a).__name__})")
    if a.dtype.kind not in "biufc" or a.dtype.itemsize > 16:
        raise TypeError(f"from_numpy: can't convert np.ndarray of type {a.dtype}; the supported types are the "
                        "float, complex64/128, int, uint and bool dtypes (tensorgrad has no string or object tensors)")
    return Tensor._make(a, None)


def as_tensor(data, dtype=None, device=None):
    """torch.as_tensor: ``data`` as a tensor, without a copy where it can be had without one. A Tensor of the asked
    dtype and device comes back itself (else converted with .to, which keeps the graph); a NumPy array of a numeric
    dtype on the CPU, with no other dtype asked, is shared as from_numpy shares it; anything else (lists, scalars,
    arrays needing a cast) is copied as tensorgrad.tensor copies it."""
    if isinstance(data, Tensor):
        return data.to(dtype=dtype, device=device)
    if isinstance(data, np.ndarray) and data.dtype.kind in "biufc" and data.dtype.itemsize <= 16 and \
            (dtype is None or dtypes.to_dtype(dtype) == data.dtype) and (device is None or as_device(device).type == "cpu"):
        return from_numpy(data)
    return tensor(data, dtype=dtype, device=device)


# DLPack device types (dlpack.h DLDeviceType): which array library can take the memory without a copy
_DL_CPU, _DL_CUDA, _DL_CUDA_HOST, _DL_CUDA_MANAGED = 1, 2, 3, 13


class _Capsule:
    """A legacy DLPack capsule (torch.utils.dlpack.to_dlpack's) dressed as a producer, since NumPy's and CuPy's
    from_dlpack take only objects with __dlpack__; its device is read from the DLTensor inside. Such a capsule
    cannot say whether its memory may be written, so NumPy imports it read-only: the tensor sees the producer's
    writes, and its own in-place writes raise (pass the producer itself, not its capsule, to write through)."""

    def __init__(self, capsule):
        get = ctypes.pythonapi.PyCapsule_GetPointer
        get.restype, get.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
        name = ctypes.pythonapi.PyCapsule_GetName
        name.restype, name.argtypes = ctypes.c_char_p, [ctypes.py_object]
        kind = name(capsule)
        if kind not in (b"dltensor", b"dltensor_versioned"):
            raise RuntimeError(f"from_dlpack: not a DLPack capsule, or one already consumed (capsule name {kind!r})")
        # DLManagedTensor starts with its DLTensor; the versioned one has version, manager_ctx, deleter and flags
        # (32 bytes) first. DLTensor = {void *data; DLDevice device = {int32 type, int32 id}; ...}.
        ptr = get(capsule, kind) + (32 if kind == b"dltensor_versioned" else 0)
        dev = (ctypes.c_int32 * 2).from_address(ptr + ctypes.sizeof(ctypes.c_void_p))
        self._capsule, self._device = capsule, (int(dev[0]), int(dev[1]))

    def __dlpack__(self, **kwargs):
        return self._capsule

    def __dlpack_device__(self):
        return self._device


def from_dlpack(ext_tensor, *, device=None, copy=None):
    """A tensor sharing memory with ``ext_tensor`` (torch.from_dlpack): any object with ``__dlpack__`` (a torch
    tensor, a NumPy or CuPy array, another tensorgrad tensor) or a legacy DLPack capsule. CPU memory becomes a NumPy
    array, CUDA memory a CuPy array, neither copied (``copy=True`` asks for a copy); ``device`` then moves the
    result, copying, when it names another device."""
    if not hasattr(ext_tensor, "__dlpack__"):
        if type(ext_tensor).__name__ != "PyCapsule":
            raise TypeError(f"from_dlpack: expected an object with __dlpack__ or a DLPack capsule, got "
                            f"{type(ext_tensor).__name__}")
        if device is not None or copy is not None:
            raise ValueError("from_dlpack: device and copy are not supported when ext_tensor is a DLPack capsule")
        ext_tensor = _Capsule(ext_tensor)
    kind, index = ext_tensor.__dlpack_device__()
    kw = {} if copy is None else {"copy": copy}
    if int(kind) in (_DL_CUDA, _DL_CUDA_MANAGED):
        cp = get_xp(f"cuda:{int(index)}")  # raises, naming why, when CuPy or the GPU is missing
        with cp.cuda.Device(int(index)):
            arr = cp.from_dlpack(ext_tensor, **kw)
    elif int(kind) in (_DL_CPU, _DL_CUDA_HOST):
        try:
            arr = np.from_dlpack(ext_tensor, **kw)
        except (BufferError, RuntimeError) as e:  # NumPy's words alone ("Unsupported dtype") don't say which
            raise RuntimeError(f"from_dlpack: NumPy cannot take this tensor ({e}); tensorgrad's tensors are bool, "
                               "int, uint, float16/32/64 and complex64/128 (no bfloat16)") from e
    else:
        raise RuntimeError(f"from_dlpack: DLPack device type {int(kind)} is not one tensorgrad has (CPU through NumPy, "
                           "CUDA through CuPy)")
    out = Tensor._make(arr, None)
    return out if device is None or as_device(device) == out.device else out.to(device)
