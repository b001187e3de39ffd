"""Kernel registry: one name per fused op, resolved per device.

``get("layernorm_forward", device)`` returns the compiled CPU kernel (tensorgrad._C via backend.cpu),
the CUDA kernel (backend.cuda), or the xp reference in backend.reference. Every launcher has exactly
the signature of its reference (see reference.py), so the reference is both fallback and test oracle.

TENSORGRAD_KERNELS=reference forces the reference everywhere (for debugging and A/B tests).
"""
import os

import numpy as np

from . import reference

NAMES = (
    "layernorm_forward", "layernorm_backward", "layernorm_double_backward",
    "softmax_cross_entropy_forward", "softmax_cross_entropy_backward",
    "attention_forward", "attention_backward",
    "attention_forward_packed", "attention_backward_packed",
    "gelu_forward", "gelu_backward", "gelu_double_backward",
    "embedding_backward",
    "adamw_step", "adamw_step_capturable",
    "gemm", "pack_b", "scatter_add", "cast", "binary", "where", "reduce_sum",
    "bias_dropout_add_forward", "bias_dropout_add_backward",
    "lstm_cell_forward", "lstm_cell_backward", "gru_cell_forward", "gru_cell_backward",
    "ctc_loss_forward", "ctc_loss_backward",
)

# NumPy arrays from this many elements go to the "binary", "where" and "reduce_sum" kernels, which run on the OpenMP threads (NumPy's
# own loops run on one); csrc/common/tg_common.h's kElementwiseMin, the kernels' own threshold.
THREADED_MIN = 1 << 18

_cache = {}


# get() runs on every fused op, and os.environ.get (key encoding, value decoding) was a tenth of an LSTM step's
# Python time: the raw environment dict is read instead, still on every call, since tests switch modes at run time.
_ENV_DATA = getattr(os.environ, "_data", None)
try:
    _ENV_KEY = os.environ.encodekey("TENSORGRAD_KERNELS")
except AttributeError:  # pragma: no cover - an os.environ without CPython's internals
    _ENV_DATA = None


def mode():
    return os.environ.get("TENSORGRAD_KERNELS", "auto")


def _raw_mode():
    return _ENV_DATA.get(_ENV_KEY) if _ENV_DATA is not None else mode()


def _backend_module(device_type):
    if device_type == "cpu":
        from . import cpu as mod
    else:
        from . import cuda as mod
    return mod


def get(name, device_type="cpu"):
    """The launcher for kernel ``name`` on ``device_type`` ('cpu' or 'cuda')."""
    key = (name, device_type, _raw_mode())
    fn = _cache.get(key)
    if fn is None:
        fn = getattr(reference, name)
        if mode() != "reference":
            try:
                fn = getattr(_backend_module(device_type), name, None) or fn
            except ImportError:
                if device_type == "cpu":
                    raise
        _cache[key] = fn
    return fn


def device_type(array):
    """'cpu' for a NumPy array, else 'cuda' (the registry's device key for a raw array)."""
    return "cpu" if isinstance(array, np.ndarray) else "cuda"


def which(name, device_type="cpu"):
    """'kernel' or 'reference': what get() would use (for benchmarks and tests)."""
    return "reference" if get(name, device_type) is getattr(reference, name) else "kernel"


def clear_cache():
    _cache.clear()
