"""tensorgrad.cuda: torch.cuda's device queries and controls, over CuPy; and graph capture of whole training steps
(tensorgrad.cuda.graphs).

Imports without CuPy, and answers honestly there: is_available() is False, device_count() 0, and what torch answers
without CUDA (memory_allocated() 0, manual_seed() doing nothing, is_bf16_supported() False) tensorgrad
answers the same way; what needs a device (current_device, get_device_name, synchronize, set_device(0), ...) raises
a RuntimeError saying CUDA is not available.

tensorgrad.cuda.amp holds torch's deprecated spellings torch.cuda.amp.autocast / GradScaler.
"""
from .. import dtypes
from ..backend import Device, cupy as _get_cupy
from ..random import default_generator
from . import amp
from .graphs import CUDAGraph, GraphedStep, graph, is_capturing, keep_alive
from .legacy_types import TYPES as _LEGACY_TYPES, OutOfMemoryError

globals().update(_LEGACY_TYPES)  # torch.cuda.FloatTensor, torch.cuda.LongTensor, ... (cuda/legacy_types.py)

__all__ = ["CUDAGraph", "GraphedStep", "graph", "is_capturing", "keep_alive", "amp", "is_available", "device_count",
           "current_device", "set_device", "synchronize", "manual_seed", "manual_seed_all", "is_bf16_supported",
           "get_device_name", "get_device_capability", "memory_allocated", "max_memory_allocated", "memory_reserved",
           "reset_peak_memory_stats", "empty_cache", "is_initialized", "init", "OutOfMemoryError",
           *_LEGACY_TYPES]


def is_available():
    """True when CuPy is installed and sees at least one GPU."""
    return _get_cupy() is not None


def is_initialized():
    return is_available()


def device_count():
    cp = _get_cupy()
    return 0 if cp is None else int(cp.cuda.runtime.getDeviceCount())


def _cp(what):
    cp = _get_cupy()
    if cp is None:
        raise RuntimeError(f"tensorgrad.cuda.{what}: CUDA is not available (CuPy is not installed or sees no GPU; "
                           "install tensorgrad[cuda] on a GPU machine); check tensorgrad.cuda.is_available() first")
    return cp


def _index(device, what):
    """A device index from None (the current device), an int, 'cuda[:N]' or a tensorgrad.device."""
    cp = _cp(what)
    if device is None:
        return int(cp.cuda.runtime.getDevice())
    if isinstance(device, int):
        return device
    d = Device(device) if isinstance(device, (str, Device)) else None
    if d is None or d.type != "cuda":
        raise ValueError(f"tensorgrad.cuda.{what}: expected a CUDA device, got {device!r}")
    return d.index


def init():
    _cp("init")


def current_device():
    return int(_cp("current_device").cuda.runtime.getDevice())


def set_device(device):
    # torch ignores a negative index (its "no device" value), with or without CUDA
    if isinstance(device, int) and device < 0:
        return
    _cp("set_device").cuda.runtime.setDevice(_index(device, "set_device"))


def synchronize(device=None):
    cp = _cp("synchronize")
    with cp.cuda.Device(_index(device, "synchronize")):
        cp.cuda.runtime.deviceSynchronize()


def manual_seed(seed):
    """Seed the CUDA stream of the default generator; the CPU stream is left as it is (torch.cuda.manual_seed).

    Without CUDA there is no CUDA stream to seed and this does nothing, as in torch. tensorgrad keys its CUDA draws
    by the default generator's seed (random.py), so on a GPU this also becomes initial_seed()'s answer."""
    if not is_available():
        return
    default_generator._seed = int(seed)
    default_generator._cuda_offset = 0


def manual_seed_all(seed):
    """One generator serves every GPU (draws are keyed by seed and offset, not by device): same as manual_seed."""
    manual_seed(seed)


def is_bf16_supported(including_emulation=True):
    """Whether CUDA tensors can be bfloat16 here: CuPy must take ml_dtypes' bfloat16 (CuPy >= 14, see amp/autocast.py);
    without ``including_emulation`` the GPU must also compute in it natively (compute capability >= 8.0), as torch
    asks. False without CUDA, as torch."""
    cp = _get_cupy()
    if cp is None:
        return False
    try:
        cp.empty(0, dtype=dtypes.bfloat16)
    except (TypeError, ValueError, NotImplementedError):
        return False
    return including_emulation or int(cp.cuda.Device().compute_capability) >= 80


def get_device_name(device=None):
    cp = _cp("get_device_name")
    name = cp.cuda.runtime.getDeviceProperties(_index(device, "get_device_name"))["name"]
    return name.decode() if isinstance(name, bytes) else str(name)


def get_device_capability(device=None):
    cp = _cp("get_device_capability")
    cc = cp.cuda.Device(_index(device, "get_device_capability")).compute_capability
    return int(cc) // 10, int(cc) % 10


# ------------------------------------------------------------------------------------------------ memory
# CuPy's default memory pool plays the part of torch's caching allocator: "allocated" is what arrays hold
# (pool.used_bytes()), "reserved" what the pool holds from the driver (pool.total_bytes()).
_peak = {}      # device index -> peak allocated bytes since tracking began / the last reset
_hook = None    # the CuPy memory hook that keeps _peak, entered on the first peak query


def _pool_bytes(device, what, kind):
    cp = _get_cupy()
    if cp is None:
        return 0  # torch answers 0 without CUDA (it never initialised an allocator)
    with cp.cuda.Device(_index(device, what)):
        pool = cp.get_default_memory_pool()
        return int(pool.used_bytes() if kind == "used" else pool.total_bytes())


def memory_allocated(device=None):
    return _pool_bytes(device, "memory_allocated", "used")


def memory_reserved(device=None):
    return _pool_bytes(device, "memory_reserved", "total")


def _make_peak_hook(cp):
    """A CuPy MemoryHook counting bytes handed out and returned by the memory pools, and the peak per device.

    CuPy's pool keeps no peak, so tensorgrad counts it: from the first call of max_memory_allocated() or
    reset_peak_memory_stats() on (that is when the hook starts), on the thread that made that call (CuPy's memory
    hooks are per thread; training runs on one)."""
    class _PeakHook(cp.cuda.MemoryHook):
        name = "tensorgrad_peak"

        def __init__(self):
            self.current = {}

        def malloc_postprocess(self, device_id, size, mem_size, mem_ptr, pmem_id):
            cur = self.current[device_id] = self.current.get(device_id, 0) + mem_size
            if cur > _peak.get(device_id, 0):
                _peak[device_id] = cur

        def free_postprocess(self, device_id, mem_size, mem_ptr, pmem_id):
            self.current[device_id] = self.current.get(device_id, 0) - mem_size

    return _PeakHook()


def _start_peak_tracking(cp, index):
    global _hook
    if _hook is None:
        _hook = _make_peak_hook(cp)
        for i in range(device_count()):
            with cp.cuda.Device(i):
                _hook.current[i] = int(cp.get_default_memory_pool().used_bytes())
        _hook.__enter__()  # stays entered for the life of the process
    _peak.setdefault(index, _hook.current.get(index, 0))


def max_memory_allocated(device=None):
    """Peak of memory_allocated() since peak tracking began (the first call of this or reset_peak_memory_stats();
    see _make_peak_hook) or the last reset_peak_memory_stats(). 0 without CUDA, as torch."""
    cp = _get_cupy()
    if cp is None:
        return 0
    index = _index(device, "max_memory_allocated")
    _start_peak_tracking(cp, index)
    return int(_peak[index])


def reset_peak_memory_stats(device=None):
    cp = _cp("reset_peak_memory_stats")
    index = _index(device, "reset_peak_memory_stats")
    _start_peak_tracking(cp, index)
    _peak[index] = _hook.current.get(index, 0)


def empty_cache():
    """Return the default pool's unused blocks to the driver (torch's empty_cache); nothing to do without CUDA."""
    cp = _get_cupy()
    if cp is not None:
        cp.get_default_memory_pool().free_all_blocks()
        cp.get_default_pinned_memory_pool().free_all_blocks()
