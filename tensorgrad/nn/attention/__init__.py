"""torch.nn.attention: SDPBackend and the sdpa_kernel context manager.

torch's sdpa_kernel(backends) turns the scaled-dot-product-attention kernel switches (torch.backends.cuda's
enable_flash_sdp / enable_mem_efficient_sdp / enable_math_sdp / enable_cudnn_sdp) on for the listed backends and off
for the others, and restores them on exit. Here it sets the same switches (tensorgrad.backends.cuda). What they mean
to tensorgrad's SDPA (ops/attention.py): every one of torch's backends computes the same exact attention and so
does each tensorgrad path (its fused flash-style kernel, or a composition of plain ops for masks and empty inputs),
so a selection is a performance choice that tensorgrad cannot honour path by path and does not need to: it runs
whenever torch would find some backend among those enabled for that device (MATH or FLASH_ATTENTION on the CPU; also
EFFICIENT_ATTENTION and CUDNN_ATTENTION on CUDA), and raises torch's "No viable backend" RuntimeError when none is
(an empty list, only ERROR / OVERRIDEABLE, or only the CUDA kernels for a CPU tensor). Refusing FLASH_ATTENTION
alone because tensorgrad's kernel is not torch's flash kernel would break the common `with
sdpa_kernel(SDPBackend.FLASH_ATTENTION):` for no numerical reason. Not copied: torch's per-kernel input limits (its
CPU flash kernel refuses dropout, for instance, where tensorgrad computes it); set_priority is accepted and only
validated, since there is no order to apply.
"""
import contextlib
import enum

from ...backends import cuda as _switches

__all__ = ["SDPBackend", "sdpa_kernel", "WARN_FOR_UNFUSED_KERNELS"]

WARN_FOR_UNFUSED_KERNELS = False


class SDPBackend(enum.IntEnum):
    """torch's backend values (torch._C._SDPBackend), printed as torch prints them."""
    __str__ = enum.Enum.__str__
    ERROR = -1
    MATH = 0
    FLASH_ATTENTION = 1
    EFFICIENT_ATTENTION = 2
    CUDNN_ATTENTION = 3
    OVERRIDEABLE = 4


# switch name in tensorgrad.backends.cuda -> the backend it enables (torch's _backend_names; OVERRIDEABLE, a hook for
# out-of-tree devices, has no switch there)
_SWITCHES = {"cudnn_sdp": SDPBackend.CUDNN_ATTENTION, "flash": SDPBackend.FLASH_ATTENTION,
             "mem_efficient": SDPBackend.EFFICIENT_ATTENTION, "math": SDPBackend.MATH}


def _current():
    return [b for name, b in _SWITCHES.items() if _switches._state[name]]


def _set(backends):
    for name, b in _SWITCHES.items():
        _switches._state[name] = b in backends


@contextlib.contextmanager
def sdpa_kernel(backends, set_priority=False):
    """Enable only ``backends`` (an SDPBackend or a list of them) for scaled_dot_product_attention inside the block;
    the previous switches come back on exit. Yields {} as torch's does."""
    if not isinstance(backends, (list, SDPBackend)):
        raise AssertionError("Backend must be an instance of SDPBackend or a list of SDPBackend instances, got "
                             f"{type(backends).__name__}")
    backends = [backends] if isinstance(backends, SDPBackend) else list(dict.fromkeys(backends))
    bad = [b for b in backends if not isinstance(b, SDPBackend)]
    if bad:
        raise TypeError(f"sdpa_kernel: backends must be SDPBackend values, got {bad!r}")
    previous = _current()
    try:
        _set(backends)
        yield {}
    finally:
        _set(previous)
