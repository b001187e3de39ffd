"""Tensor factories (PyTorch signatures)."""
import numpy as np

from . import dtypes
from .backend import as_device, get_xp
from .tensor import Tensor
from .random import default_generator


def _shape(size):
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


def zeros(*size, dtype=None, device=None, requires_grad=False):
    return _finish(get_xp(device).zeros(_shape(size), dtype=_dt(dtype)), requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False):
    return _finish(get_xp(device).ones(_shape(size), dtype=_dt(dtype)), requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False):
    return _finish(get_xp(device).empty(_shape(size), dtype=_dt(dtype)), requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    if dtype is None:
        dtype = np.bool_ if isinstance(fill_value, bool) else np.int64 if isinstance(fill_value, int) else None
    return _finish(get_xp(device).full(_shape((size,) if isinstance(size, int) else (tuple(size),)), fill_value,
                                       dtype=_dt(dtype)), requires_grad)


def _like(t, dtype, device):
    return (dtypes.to_dtype(dtype) or t.dtype), (device if device is not None else t.device)


def zeros_like(t, dtype=None, device=None, requires_grad=False):
    d, dev = _like(t, dtype, device)
    return zeros(t.shape, dtype=d, device=dev, requires_grad=requires_grad)


def ones_like(t, dtype=None, device=None, requires_grad=False):
    d, dev = _like(t, dtype, device)
    return ones(t.shape, dtype=d, device=dev, requires_grad=requires_grad)


def full_like(t, fill_value, dtype=None, device=None, requires_grad=False):
    d, dev = _like(t, dtype, device)
    return full(t.shape, fill_value, dtype=d, device=dev, requires_grad=requires_grad)


def empty_like(t, dtype=None, device=None, requires_grad=False):
    d, dev = _like(t, dtype, device)
    return empty(t.shape, dtype=d, device=dev, requires_grad=requires_grad)


def _gen(generator):
    return generator or default_generator


def randn(*size, dtype=None, device=None, requires_grad=False, generator=None):
    d = _dt(dtype)
    if not np.issubdtype(d, np.floating):
        raise TypeError(f"randn: dtype must be floating point, got {d}")
    return _finish(_gen(generator).normal(_shape(size), d, as_device(device)), requires_grad)


def rand(*size, dtype=None, device=None, requires_grad=False, generator=None):
    d = _dt(dtype)
    if not np.issubdtype(d, np.floating):
        raise TypeError(f"rand: dtype must be floating point, got {d}")
    return _finish(_gen(generator).random(_shape(size), d, as_device(device)), requires_grad)


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


def randn_like(t, dtype=None, device=None, requires_grad=False, generator=None):
    d, dev = _like(t, dtype, device)
    return randn(t.shape, dtype=d, device=dev, requires_grad=requires_grad, generator=generator)


def rand_like(t, dtype=None, device=None, requires_grad=False, generator=None):
    d, dev = _like(t, dtype, device)
    return rand(t.shape, dtype=d, device=dev, requires_grad=requires_grad, generator=generator)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    if dtype is None:
        dtype = dtypes.int64 if all(isinstance(v, (int, np.integer)) for v in (start, end, step)) else dtypes.get_default_dtype()
    return _finish(get_xp(device).arange(start, end, step, dtype=_dt(dtype)), requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    return _finish(get_xp(device).linspace(start, end, steps, dtype=_dt(dtype)), requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    return _finish(get_xp(device).eye(n, m, dtype=_dt(dtype)), requires_grad)


def from_numpy(a):
    """Shares memory with the numpy array (like torch.from_numpy)."""
    return Tensor._make(a, None)
