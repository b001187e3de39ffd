"""autocast: run matmul/linear/attention in half precision (float16 or bfloat16), precision-sensitive ops in float32.

The policy is the code of each op's wrapper, not a table: a wrapper that runs in the autocast dtype starts with
``cast_lower(...)`` (matmul, linear, bmm, baddbmm, the attentions, conv, einsum); one PyTorch runs in float32 on every
device starts with ``cast_float32_all(...)`` (the losses, prod); one PyTorch runs in float32 under CUDA autocast
starts with ``cast_float32(...)`` (softmax, log_softmax, layer_norm, group_norm, the reductions, norms). Grep for them
to read the policy.

PyTorch's CPU policy (torch.autocast("cpu", dtype=torch.bfloat16)) leaves that last group in the input's dtype:
softmax, layer_norm or sum of a bfloat16 tensor return bfloat16, computed in float32 inside and rounded once. So
cast_float32 passes CPU tensors through under bfloat16 autocast, and the ops themselves compute half inputs in float32
(the fused kernels, reductions through ops/util). float16 autocast keeps its float32 upcasts on every device, and so
does bfloat16 on CUDA (torch.autocast("cuda", dtype=torch.bfloat16) has the float16 policy).

The casts are differentiable: parameters stay float32 (master weights) and their gradients come back float32
through the cast's backward. Half-precision matmuls accumulate in float32 (cuBLAS compute type on CUDA; on the CPU
MKL's cblas_gemm_bf16bf16f32 for bfloat16 and an upcast float32 GEMM for float16: backend/cpu.py's gemm).
bfloat16 needs no loss scaling: GradScaler(enabled=False) is a pass-through.
"""
import functools
import threading
import warnings

import numpy as np

from .. import dtypes
from ..backend import cuda_available, cupy as _get_cupy
from ..tensor import Tensor

_state = threading.local()


def _current():
    # an entry: (enabled for the ops, dtype, device_type or None, enabled as asked, inert), innermost last; the
    # fourth is what torch.is_autocast_enabled(device) reports; an inert one (CUDA's, without CUDA) acts on nothing,
    # as torch's CUDA autocast leaves CPU tensors alone, so the ops read the innermost entry that is not inert
    st = getattr(_state, "stack", None)
    if not st:
        return st
    for e in reversed(st):
        if not e[4]:
            return e
    return None


def entry(enabled, dtype, device_type, requested):
    return (enabled, dtype, device_type, requested, device_type == "cuda" and not cuda_available())


def device_entry(device_type):
    """Index in this thread's stack of the innermost entry for device_type (an entry of no device counts for all)."""
    st = getattr(_state, "stack", None) or ()
    for i in range(len(st) - 1, -1, -1):
        if st[i][2] is None or st[i][2] == device_type:
            return i
    return None


def current_dtype(device_type):
    """The autocast dtype of device_type now: its innermost entry's, else the thread's default for it."""
    i = device_entry(device_type)
    return _state.stack[i][1] if i is not None else default_dtypes().get(device_type, dtypes.float16)


def default_dtypes():
    """This thread's autocast dtype per device type when none is given (torch's get/set_autocast_dtype)."""
    d = getattr(_state, "defaults", None)
    if d is None:
        d = _state.defaults = {"cpu": dtypes.bfloat16, "cuda": dtypes.float16}
    return d


def is_autocast_enabled():
    cur = _current()
    return bool(cur and cur[0])


def get_autocast_dtype():
    cur = _current()
    return cur[1] if cur and cur[0] else None


class autocast:
    """Context manager / decorator. ``with autocast("cpu", dtype=tensorgrad.bfloat16): loss = model(x, y)``.

    dtype: float16 (the default, as torch.autocast("cuda")) or bfloat16 (ml_dtypes' NumPy bfloat16; CuPy >= 14 on
    CUDA). device_type is accepted for PyTorch's signature; the policy follows each tensor's device (cast_float32).
    """

    def __init__(self, device_type=None, dtype=None, enabled=True, cache_enabled=None):
        if isinstance(device_type, np.dtype) or (device_type is not None and str(device_type).replace("torch.", "")
                                                 .replace("tensorgrad.", "") in ("float16", "bfloat16", "half")):
            dtype, device_type = device_type, None
        self.device_type = None if device_type is None else str(device_type).split(":")[0]
        if dtype is None:  # torch's defaults: bfloat16 for the CPU, float16 for CUDA (set_autocast_dtype changes them)
            dtype = current_dtype(self.device_type or "cuda")
        self.dtype = dtypes.to_dtype(dtype)
        if not dtypes.is_half(self.dtype):
            raise TypeError(f"autocast: dtype must be float16 or bfloat16, got {self.dtype}")
        self.enabled = bool(enabled)
        if self.enabled and self.device_type == "cuda" and not cuda_available():
            # torch's behaviour: a script written for a GPU runs in float32 on a CPU-only machine.
            warnings.warn("User provided device_type of 'cuda', but CUDA is not available. Disabling",
                          UserWarning, stacklevel=2)
            self.enabled = False
        if self.enabled and self.device_type == "cuda" and self.dtype == dtypes.bfloat16 and not _cupy_takes_bf16():
            # torch's error; a CuPy without ml_dtypes' bfloat16 (< 14) would fail later, at the first cast
            raise RuntimeError("Current CUDA Device does not support bfloat16. Please switch dtype to float16.")

    def __enter__(self):
        if not hasattr(_state, "stack") or _state.stack is None:
            _state.stack = []
        self._depth = len(_state.stack)  # (exit restores the state from before, set_autocast_* changes included)
        _state.stack.append(entry(self.enabled, self.dtype, self.device_type, self.enabled))
        return self

    def __exit__(self, *exc):
        del _state.stack[self._depth:]
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with autocast(self.device_type, dtype=self.dtype, enabled=self.enabled):
                return fn(*args, **kwargs)
        return wrapper


def _cupy_takes_bf16():
    try:
        _get_cupy().empty(0, dtype=dtypes.bfloat16)
    except (TypeError, ValueError, NotImplementedError):
        return False
    return True


def get_state():
    """(enabled, dtype) of the innermost autocast, for checkpoint recompute."""
    cur = _current()
    return cur[:2] if cur else (False, None)


def _cast(t, dt):
    if isinstance(t, Tensor) and dtypes.is_float(t.dtype) and t.dtype != dt:
        return t.to(dt)
    return t


def cast_lower(*tensors):
    """Inputs of a lower-precision op, cast to the autocast dtype when autocast is on (else unchanged)."""
    dt = get_autocast_dtype()
    if dt is None:
        return tensors
    return tuple(_cast(t, dt) for t in tensors)


def cast_float32_all(*tensors):
    """Inputs of an op PyTorch's autocast runs in float32 on every device (the losses, prod): half -> float32."""
    if not is_autocast_enabled():
        return tensors
    return tuple(_cast(t, dtypes.float32) if isinstance(t, Tensor) and dtypes.is_half(t.dtype) else t
                 for t in tensors)


def cast_float32(*tensors):
    """Inputs of a precision-sensitive op PyTorch's CUDA autocast runs in float32 (softmax, layer_norm, reductions):
    half -> float32 when autocast is on, except CPU tensors under bfloat16 autocast, which PyTorch's CPU policy
    leaves in their dtype (the op computes them in float32 and rounds once)."""
    dt = get_autocast_dtype()
    if dt is None:
        return tensors
    cpu_policy = dt == dtypes.bfloat16
    return tuple(_cast(t, dtypes.float32) if isinstance(t, Tensor) and dtypes.is_half(t.dtype)
                 and not (cpu_policy and t.array.__class__ is np.ndarray) else t for t in tensors)
