"""torch's autocast state functions (torch.is_autocast_enabled(device), set_autocast_enabled, get/set_autocast_dtype,
the deprecated cpu/gpu spellings, the nesting counter and cache switches), torch.amp.is_autocast_available and
custom_fwd / custom_bwd, on tensorgrad's autocast stack (amp/autocast.py): a setter changes the innermost entry for
its device, or adds one, so it changes what the ops do exactly as entering an autocast would, and the exit of an
enclosing ``with autocast(...)`` undoes it, as torch's exit restores the state it found.

A CUDA autocast asked for on a machine without CUDA is reported enabled (as torch reports it) but leaves the CPU's
ops alone, which is what torch does with the CPU tensors it sees there.
"""
import functools
import threading
import warnings

from .. import dtypes
from ..tensor import Tensor
from .autocast import (_state as _ac_state, default_dtypes, autocast as _autocast, entry as _entry_of, device_entry,
                       current_dtype)

# device types torch knows (its error lists them); autocast exists for cpu and cuda here
_KNOWN = ("cpu", "cuda", "ipu", "xpu", "mkldnn", "opengl", "opencl", "ideep", "hip", "ve", "fpga", "maia", "xla",
          "lazy", "vulkan", "mps", "meta", "hpu", "mtia", "privateuseone")
_AVAILABLE = ("cpu", "cuda")
_local = threading.local()


def _device(device_type, op):
    d = str(device_type).split(":")[0]
    if d not in _KNOWN:
        raise RuntimeError(f"{op}: Expected one of {', '.join(_KNOWN)} device type at start of device string: "
                           f"{device_type}")
    return d


def _stack():
    if getattr(_ac_state, "stack", None) is None:
        _ac_state.stack = []
    return _ac_state.stack


def is_autocast_available(device_type):
    return _device(device_type, "is_autocast_available") in _AVAILABLE


def is_autocast_enabled(device_type=None):
    """Whether autocast is on for device_type (no argument: CUDA, as torch's)."""
    i = device_entry(_device("cuda" if device_type is None else device_type, "is_autocast_enabled"))
    return bool(i is not None and _stack()[i][3])


def get_autocast_dtype(device_type):
    return current_dtype(_device(device_type, "get_autocast_dtype"))


def _entry(dev, requested, dtype):
    return _entry_of(bool(requested), dtype, dev, bool(requested))


def set_autocast_enabled(*args):
    """set_autocast_enabled(device_type, enabled), or set_autocast_enabled(enabled) for CUDA."""
    if len(args) == 1:
        dev, flag = "cuda", args[0]
    elif len(args) == 2:
        dev, flag = _device(args[0], "set_autocast_enabled"), args[1]
    else:
        raise TypeError(f"set_autocast_enabled() takes (device_type, enabled) or (enabled), got {len(args)} arguments")
    st, i = _stack(), device_entry(dev)
    if i is not None and st[i][2] == dev:
        st[i] = _entry(dev, flag, st[i][1])
    else:
        st.append(_entry(dev, flag, get_autocast_dtype(dev)))


def set_autocast_dtype(device_type, dtype):
    dev = _device(device_type, "set_autocast_dtype")
    dt = dtypes.to_dtype(dtype)
    st, i = _stack(), device_entry(dev)
    if i is not None and st[i][2] == dev:
        st[i] = _entry_of(st[i][0], dt, dev, st[i][3])
    else:
        default_dtypes()[dev] = dt


def _deprecated(old, new):
    warnings.warn(f"torch.{old}() is deprecated. Please use torch.{new} instead.", DeprecationWarning, stacklevel=3)


def is_autocast_cpu_enabled():
    _deprecated("is_autocast_cpu_enabled", "is_autocast_enabled('cpu')")
    return is_autocast_enabled("cpu")


def set_autocast_cpu_enabled(enabled):
    _deprecated("set_autocast_cpu_enabled", "set_autocast_enabled('cpu', enabled)")
    set_autocast_enabled("cpu", enabled)


def get_autocast_cpu_dtype():
    _deprecated("get_autocast_cpu_dtype", "get_autocast_dtype('cpu')")
    return get_autocast_dtype("cpu")


def set_autocast_cpu_dtype(dtype):
    _deprecated("set_autocast_cpu_dtype", "set_autocast_dtype('cpu', dtype)")
    set_autocast_dtype("cpu", dtype)


def get_autocast_gpu_dtype():
    _deprecated("get_autocast_gpu_dtype", "get_autocast_dtype('cuda')")
    return get_autocast_dtype("cuda")


def set_autocast_gpu_dtype(dtype):
    _deprecated("set_autocast_gpu_dtype", "set_autocast_dtype('cuda', dtype)")
    set_autocast_dtype("cuda", dtype)


def autocast_increment_nesting():
    _local.nesting = getattr(_local, "nesting", 0) + 1
    return _local.nesting


def autocast_decrement_nesting():
    _local.nesting = getattr(_local, "nesting", 0) - 1
    return _local.nesting


def clear_autocast_cache():
    """Nothing to clear: tensorgrad's autocast casts on each use and keeps no cache of cast weights."""


def is_autocast_cache_enabled():
    return getattr(_local, "cache", True)


def set_autocast_cache_enabled(enabled):
    _local.cache = bool(enabled)


def _cast_inputs(value, dtype, dev):
    """The floating tensors of device type dev among value's (nested) items, cast to dtype (torch's amp._cast)."""
    if isinstance(value, Tensor) and dtypes.is_float(value.dtype) and value.device.type == dev:
        return value.to(dtype)
    if isinstance(value, (list, tuple)):
        return type(value)(_cast_inputs(v, dtype, dev) for v in value)
    if isinstance(value, dict):
        return {k: _cast_inputs(v, dtype, dev) for k, v in value.items()}
    return value


def custom_fwd(fwd=None, *, device_type, cast_inputs=None):
    """Decorator for a custom autograd Function's forward under autocast: without cast_inputs it runs in the
    surrounding autocast state (and its backward, with custom_bwd, in the same); with cast_inputs, where autocast is
    on for device_type, floating inputs are cast to that dtype and the forward runs with autocast off."""
    if not isinstance(device_type, str):
        raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
    if fwd is None:
        return functools.partial(custom_fwd, device_type=device_type, cast_inputs=cast_inputs)

    @functools.wraps(fwd)
    def decorate_fwd(*args, **kwargs):
        ctx = args[0]
        ctx._fwd_used_autocast = is_autocast_enabled(device_type)
        ctx._dtype = get_autocast_dtype(device_type)
        if cast_inputs is None or not ctx._fwd_used_autocast:
            return fwd(*args, **kwargs)
        with _autocast(device_type=device_type, dtype=ctx._dtype, enabled=False):
            return fwd(*_cast_inputs(args, cast_inputs, device_type), **_cast_inputs(kwargs, cast_inputs, device_type))
    return decorate_fwd


def custom_bwd(bwd=None, *, device_type):
    """Decorator for the matching backward: it runs in the autocast state its forward ran in."""
    if not isinstance(device_type, str):
        raise ValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
    if bwd is None:
        return functools.partial(custom_bwd, device_type=device_type)

    @functools.wraps(bwd)
    def decorate_bwd(*args, **kwargs):
        ctx = args[0]
        used = getattr(ctx, "_fwd_used_autocast", False)
        dtype = getattr(ctx, "_dtype", None) or get_autocast_dtype(device_type)
        if not used:
            with _autocast(device_type=device_type, dtype=dtype, enabled=False):
                return bwd(*args, **kwargs)
        with _autocast(device_type=device_type, dtype=dtype, enabled=True):
            return bwd(*args, **kwargs)
    return decorate_bwd


NAMES = ("is_autocast_enabled", "set_autocast_enabled", "get_autocast_dtype", "set_autocast_dtype",
         "is_autocast_cpu_enabled", "set_autocast_cpu_enabled", "get_autocast_cpu_dtype", "set_autocast_cpu_dtype",
         "get_autocast_gpu_dtype", "set_autocast_gpu_dtype", "autocast_increment_nesting",
         "autocast_decrement_nesting", "clear_autocast_cache", "is_autocast_cache_enabled",
         "set_autocast_cache_enabled")
