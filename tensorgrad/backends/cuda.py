"""torch.backends.cuda: cuBLAS matmul precision (takes effect) and the scaled-dot-product-attention kernel
switches (stored only: tensorgrad's attention chooses its kernel by shape and dtype, see backend/cuda.py).

``matmul.allow_tf32 = True`` lets float32 matmuls on CUDA run on TF32 tensor cores (cuBLAS compute type
CUBLAS_COMPUTE_32F_FAST_TF32, Ampere and newer) via backend.cuda.configure_matmul; False keeps full float32,
torch's default. On the CPU NumPy's BLAS has no TF32, so there the flag changes nothing.
"""
import contextlib
import warnings

from .. import backend as _backend
from ..backend import cuda as _cuda_backend

_PRECISIONS = ("highest", "high", "medium")
_state = {"allow_tf32": False, "flash": True, "mem_efficient": True, "math": True, "cudnn_sdp": True}


def _apply_tf32(flag):
    _state["allow_tf32"] = bool(flag)
    if _backend.cuda_available():
        _cuda_backend.configure_matmul(allow_tf32=bool(flag))


class _Matmul:
    """torch.backends.cuda.matmul: allow_tf32 takes effect (see the module docstring); the reduced-precision
    reduction flags are stored only (cuBLAS accumulates half-precision matmuls in float32 here regardless)."""

    def __init__(self):
        object.__setattr__(self, "allow_fp16_reduced_precision_reduction", True)
        object.__setattr__(self, "allow_bf16_reduced_precision_reduction", True)

    @property
    def allow_tf32(self):
        return _state["allow_tf32"]

    @allow_tf32.setter
    def allow_tf32(self, flag):
        _apply_tf32(flag)

    @property
    def fp32_precision(self):
        return "tf32" if _state["allow_tf32"] else "ieee"

    @fp32_precision.setter
    def fp32_precision(self, value):
        if value not in ("ieee", "tf32", "none"):
            raise ValueError(f"backends.cuda.matmul.fp32_precision: expected 'ieee', 'tf32' or 'none', got {value!r}")
        _apply_tf32(value == "tf32")

    def __setattr__(self, name, value):
        if not hasattr(type(self), name) and name not in self.__dict__:
            raise AttributeError(f"backends.cuda.matmul has no setting {name!r} (torch's are allow_tf32, "
                                 "allow_fp16_reduced_precision_reduction, allow_bf16_reduced_precision_reduction, "
                                 "fp32_precision)")
        object.__setattr__(self, name, value)


matmul = _Matmul()


def set_float32_matmul_precision(precision):
    """torch.set_float32_matmul_precision: 'highest' is full float32; 'high' and 'medium' allow TF32 (tensorgrad has
    no bfloat16 to go lower for 'medium')."""
    if precision not in _PRECISIONS:
        raise RuntimeError(f"set_float32_matmul_precision: expected one of {_PRECISIONS}, got {precision!r}")
    _apply_tf32(precision != "highest")


def get_float32_matmul_precision():
    return "high" if _state["allow_tf32"] else "highest"


def is_built():
    """Whether this tensorgrad can run on CUDA at all (CuPy installed and a GPU seen)."""
    return _backend.cuda_available()


def enable_flash_sdp(enabled):
    _state["flash"] = bool(enabled)


def enable_mem_efficient_sdp(enabled):
    _state["mem_efficient"] = bool(enabled)


def enable_math_sdp(enabled):
    _state["math"] = bool(enabled)


def enable_cudnn_sdp(enabled):
    _state["cudnn_sdp"] = bool(enabled)


def flash_sdp_enabled():
    return _state["flash"]


def mem_efficient_sdp_enabled():
    return _state["mem_efficient"]


def math_sdp_enabled():
    return _state["math"]


def cudnn_sdp_enabled():
    return _state["cudnn_sdp"]


@contextlib.contextmanager
def sdp_kernel(enable_flash=True, enable_math=True, enable_mem_efficient=True, enable_cudnn=True):
    """torch's deprecated spelling of torch.nn.attention.sdpa_kernel (public ViT code still writes it, on the CPU
    as well): the four attention switches set for the block, the previous ones restored on exit."""
    warnings.warn("`torch.backends.cuda.sdp_kernel()` is deprecated. In the future, this context manager will be "
                  "removed. Please see `torch.nn.attention.sdpa_kernel()` for the new context manager, with updated "
                  "signature.", FutureWarning, stacklevel=3)
    names = ("flash", "math", "mem_efficient", "cudnn_sdp")
    previous = {k: _state[k] for k in names}
    try:
        for k, on in zip(names, (enable_flash, enable_math, enable_mem_efficient, enable_cudnn)):
            _state[k] = bool(on)
        yield {}
    finally:
        _state.update(previous)
