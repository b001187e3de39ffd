"""glibc malloc settings for training loops, applied when tensorgrad is imported (TENSORGRAD_TUNE_MALLOC=0 opts
out). A training step allocates and frees the same arrays, several MB each, every iteration. By default glibc
serves blocks >= 128 KB with mmap and returns them with munmap, so every step page-faults its memory in again:
~7,000 faults per step for the baby GPT (~15% of its step in the kernel), and half the time of a conv2d
forward + backward at (16, 32, 32, 32) -> 64 channels (52 -> 25 ms). Keeping freed blocks in the heap stops that;
the process then holds on to up to 1 GB of freed memory instead of returning it to the OS at once."""
import ctypes
import ctypes.util
import os
import sys

_applied = None


def tune_malloc():
    """Best effort, glibc on Linux only: keep blocks below 32 MB in the heap and trim it only above 1 GB of free
    memory. Returns True if applied (also on a repeated call)."""
    global _applied
    if _applied is not None:
        return _applied
    _applied = False
    if not sys.platform.startswith("linux") or os.environ.get("TENSORGRAD_TUNE_MALLOC", "1") == "0":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
        _applied = bool(libc.mallopt(M_TRIM_THRESHOLD, 1 << 30)) and bool(libc.mallopt(M_MMAP_THRESHOLD, 32 << 20))
    except (OSError, AttributeError):  # not glibc (musl, ...): nothing to tune
        pass
    return _applied
