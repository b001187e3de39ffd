"""autocast: run matmul/linear/attention in half precision, precision-sensitive ops in float32.

The policy is the code of each op's wrapper, not a table: a wrapper that runs in the autocast dtype starts with
``cast_lower(...)`` (matmul, linear, the attentions, conv, einsum), a precision-sensitive one with
``cast_float32(...)`` (softmax, log_softmax, the losses, layer_norm, the reductions); grep for them to read the policy.
The casts are differentiable: parameters stay float32 (master weights) and their gradients come back float32
through the cast's backward. Half-precision matmuls accumulate in float32 (cuBLAS compute type on CUDA;
an upcast GEMM on the CPU, where NumPy has no half-precision BLAS).
"""
import functools
import threading

import numpy as np

from .. import dtypes
from ..tensor import Tensor

_state = threading.local()


def _current():
    return getattr(_state, "stack", None) and _state.stack[-1]


def is_autocast_enabled():
    cur = _current()
    return bool(cur and cur[0])


def get_autocast_dtype():
    cur = _current()
    return cur[1] if cur and cur[0] else None


class autocast:
    """Context manager / decorator. ``with autocast(dtype=tensorgrad.float16): loss = model(x, y)``.

    bfloat16 is accepted on backends that have it; NumPy and CuPy have no bfloat16 arrays, so it raises a
    clear error there instead of silently running float32.
    """

    def __init__(self, device_type=None, dtype=dtypes.float16, enabled=True, cache_enabled=None):
        if isinstance(device_type, np.dtype) or (device_type is not None and str(device_type) in ("float16", "bfloat16")):
            dtype, device_type = device_type, None
        if str(dtype).endswith("bfloat16"):
            raise TypeError("autocast: bfloat16 is not available: NumPy and CuPy arrays have no bfloat16 dtype; "
                            "use dtype=tensorgrad.float16")
        self.dtype = dtypes.to_dtype(dtype)
        if self.dtype != dtypes.float16:
            raise TypeError(f"autocast: dtype must be float16, got {self.dtype}")
        self.enabled = bool(enabled)

    def __enter__(self):
        if not hasattr(_state, "stack") or _state.stack is None:
            _state.stack = []
        _state.stack.append((self.enabled, self.dtype))
        return self

    def __exit__(self, *exc):
        _state.stack.pop()
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with autocast(dtype=self.dtype, enabled=self.enabled):
                return fn(*args, **kwargs)
        return wrapper


def get_state():
    """(enabled, dtype) of the innermost autocast, for checkpoint recompute."""
    cur = _current()
    return cur if cur else (False, None)


def _cast(t, dt):
    if isinstance(t, Tensor) and np.issubdtype(t.dtype, np.floating) and t.dtype != dt:
        return t.to(dt)
    return t


def cast_lower(*tensors):
    """Inputs of a lower-precision op, cast to the autocast dtype when autocast is on (else unchanged)."""
    dt = get_autocast_dtype()
    if dt is None:
        return tensors
    return tuple(_cast(t, dt) for t in tensors)


def cast_float32(*tensors):
    """Inputs of a precision-sensitive op, upcast from half to float32 when autocast is on."""
    if not is_autocast_enabled():
        return tensors
    return tuple(_cast(t, dtypes.float32) if isinstance(t, Tensor) and t.dtype == dtypes.float16 else t for t in tensors)
