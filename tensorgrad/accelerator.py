"""tensorgrad.accelerator: torch.accelerator's device-agnostic queries, which current PyTorch programs use to pick
their device (`device = torch.accelerator.current_accelerator() if torch.accelerator.is_available() else "cpu"`).

tensorgrad's one accelerator is CUDA through CuPy (tensorgrad.cuda), so each call answers as torch.cuda's would;
without CUDA they answer as torch's CPU build does: is_available() False, current_accelerator() None,
device_count() 0, and what needs a device raises "Cannot access accelerator device when none is available.".
"""
import contextlib

from . import cuda
from .backend import Device

__all__ = ["is_available", "current_accelerator", "device_count", "current_device_index", "current_device_idx",
           "set_device_index", "set_device_idx", "device_index", "synchronize", "empty_cache", "memory_allocated",
           "max_memory_allocated", "memory_reserved", "reset_peak_memory_stats"]

_NONE = "Cannot access accelerator device when none is available."


def _need(what):
    if not cuda.is_available():
        raise RuntimeError(f"torch.accelerator.{what}: {_NONE}")


def is_available():
    return cuda.is_available()


def current_accelerator(check_available=False):
    """device('cuda') where CUDA is available, else None (check_available is accepted: the answer is the same)."""
    return Device("cuda") if cuda.is_available() else None


def device_count():
    return cuda.device_count()


def current_device_index():
    _need("current_device_index")
    return cuda.current_device()


def set_device_index(device, /):
    _need("set_device_index")
    cuda.set_device(device)


@contextlib.contextmanager
def device_index(device, /):
    """Make ``device`` current inside the block (None: do nothing), as torch.accelerator.device_index."""
    if device is None:
        yield
        return
    _need("device_index")
    before = cuda.current_device()
    cuda.set_device(device)
    try:
        yield
    finally:
        cuda.set_device(before)


def synchronize(device=None, /):
    _need("synchronize")
    cuda.synchronize(device)


current_device_idx = current_device_index  # (torch's older names)
set_device_idx = set_device_index
empty_cache = cuda.empty_cache
memory_allocated = cuda.memory_allocated
max_memory_allocated = cuda.max_memory_allocated
memory_reserved = cuda.memory_reserved
reset_peak_memory_stats = cuda.reset_peak_memory_stats
