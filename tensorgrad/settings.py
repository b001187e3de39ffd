"""Process-wide settings with torch's top-level names: thread counts, deterministic algorithms, the default device.

- set_num_threads / get_num_threads: the CPU pools that compute tensorgrad's ops (OpenMP for the C++ kernels,
  the BLAS under NumPy's GEMMs; backend/host.py finds them).
- set_num_interop_threads / get_num_interop_threads: tensorgrad runs one op at a time (no inter-op pool), so the
  count is validated and kept, as torch keeps it, and changes nothing.
- use_deterministic_algorithms: every CPU kernel of tensorgrad is deterministic for a given thread count (static
  schedules, no atomics). On CUDA, the kernels that accumulate with atomics call backend.determinism.alert first,
  which raises torch's error (or warns, with warn_only=True) while the mode is on.
- set_default_device / get_default_device (and ``with tensorgrad.device(...)``): backend/__init__.py.
"""
from .backend import host, set_default_device, get_default_device  # noqa: F401  (re-exported)
from .backend.determinism import (use_deterministic_algorithms, are_deterministic_algorithms_enabled,  # noqa: F401
                                  is_deterministic_algorithms_warn_only_enabled, set_deterministic_debug_mode,
                                  get_deterministic_debug_mode)

_interop = [1]


def set_num_threads(n):
    n = int(n)
    if n < 1:
        raise RuntimeError(f"set_num_threads expects a positive integer, got {n}")
    host.set_num_threads(n)


def get_num_threads():
    counts = [int(get()) for _, _, get in host.thread_pools()]
    return max(counts) if counts else 1


def set_num_interop_threads(n):
    n = int(n)
    if n < 1:
        raise RuntimeError(f"set_num_interop_threads: number of interop threads must be positive, got {n}")
    _interop[0] = n


def get_num_interop_threads():
    return _interop[0]
