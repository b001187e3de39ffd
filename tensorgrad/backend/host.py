"""Host set-up for CPU training: glibc malloc settings, the CPU thread pools, and how many cores are free.

- ``tune_malloc()`` (applied when tensorgrad is imported; TENSORGRAD_TUNE_MALLOC=0 opts out). A training step
  allocates and frees the same arrays, several MB each, every iteration. By default glibc serves blocks >= 128 KB
  with mmap and returns them with munmap, so every step page-faults its memory in again: ~7,000 faults per step
  for the baby GPT (~15% of its step in the kernel), and half the time of a conv2d forward + backward at
  (16, 32, 32, 32) -> 64 channels (52 -> 25 ms). Keeping freed blocks in the heap stops that; the process then
  holds on to up to 1 GB of freed memory instead of returning it to the OS at once.
- ``set_num_threads(n)``: the OpenBLAS (NumPy's GEMMs) and OpenMP (tensorgrad._C's kernels) pools loaded in this
  process, found in /proc/self/maps and set through ctypes, and torch's when torch is imported.
- ``free_cores()``: the cores other work leaves free, sampled from /proc/stat; ``auto_threads()`` uses it to
  pick a thread count that does not oversubscribe a busy machine.
"""
import ctypes
import ctypes.util
import os
import sys
import time

try:
    from . import cpu  # sets the OpenMP wait policy, then loads tensorgrad._C and with it its OpenMP runtime
except ImportError:  # no compiled kernels (TENSORGRAD_KERNELS=reference): no OpenMP pool of ours to set
    cpu = None

_applied = None


# ------------------------------------------------------------------------------------------------ malloc
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


# ------------------------------------------------------------------------------------------------ threads
def _loaded_libraries():
    try:
        with open("/proc/self/maps") as f:
            return sorted({ln.split()[-1] for ln in f if ".so" in ln})
    except OSError:
        return []


def thread_pools():
    """(name, set_fn, get_fn) for the OpenBLAS and OpenMP runtimes loaded in this process."""
    pools = []
    for path in _loaded_libraries():
        name = os.path.basename(path)
        if "openblas" in name:
            lib = ctypes.CDLL(path)
            for pre in ("scipy_openblas", "openblas"):
                for suf in ("64_", ""):
                    fs, fg = getattr(lib, f"{pre}_set_num_threads{suf}", None), getattr(lib, f"{pre}_get_num_threads{suf}", None)
                    if fs is not None and fg is not None:
                        pools.append((name, fs, fg))
                        break
                else:
                    continue
                break
        elif name.startswith(("libgomp", "libomp", "libiomp")):
            lib = ctypes.CDLL(path)
            if hasattr(lib, "omp_set_num_threads"):
                pools.append((name, lib.omp_set_num_threads, lib.omp_get_max_threads))
    return pools


def set_num_threads(n):
    """Limit the CPU thread pools this process computes with to n threads: OpenBLAS (NumPy's GEMMs) and
    OpenMP (tensorgrad._C's kernels), and torch's if torch is already imported (benchmarks). Small-matrix
    training is very sensitive to oversubscription (two busy-waiting pools, or more threads than free cores):
    on a loaded 2-core machine 2 threads can make a step several times slower than 1. Best effort; returns
    the previous thread count (the largest over the pools), to restore it later."""
    prev = 0
    for _, fset, fget in thread_pools():
        prev = max(prev, int(fget()))
        fset(ctypes.c_int(int(n)))
    torch = sys.modules.get("torch")
    # real torch's pools too (benchmarks); under the torch alias "torch" is tensorgrad itself, whose set_num_threads
    # lands here (a DataLoader worker calls torch.set_num_threads(1), as torch's worker loop does)
    if torch is not None and "_tensorgrad_module" not in vars(torch):
        torch.set_num_threads(int(n))
    return prev or None


def kernel_threads():
    """The thread count of tensorgrad._C's kernels, or None without compiled kernels."""
    return None if cpu is None else int(cpu._C.num_threads())


# ------------------------------------------------------------------------------------------------ load
def cpu_times():
    """(idle, total) jiffies of all cores from /proc/stat, or None off Linux."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    return fields[3] + fields[4], sum(fields)   # idle + iowait; user..steal


def free_cores(window=0.15):
    """How many cores other work leaves free right now (a float), measured over a short window from /proc/stat
    while this process waits; the 1-minute load average where /proc/stat is missing. The load average, used
    before, still counted a training run that had just finished: a second run started right after it was put
    on one thread (120 s instead of 79 s for the baby GPT)."""
    n = os.cpu_count() or 1
    a = cpu_times()
    if a is not None:
        time.sleep(window)
        b = cpu_times()
        if b is not None and b[1] > a[1]:
            return n * (b[0] - a[0]) / (b[1] - a[1])
    if hasattr(os, "getloadavg"):
        return max(0.0, n - os.getloadavg()[0])
    return float(n)


def auto_threads(threads=None):
    """Set the CPU thread pools for a CPU run: to ``threads`` when given; otherwise, on a multi-core machine whose
    cores other processes hold, to the free cores (at least 1): more threads than free cores make the OpenMP pool
    wait on descheduled threads and run many times slower (measured: 1.2 it/s vs 10 it/s for the baby GPT at load
    5 on 2 cores). Returns (threads set or None, free cores measured or None)."""
    if threads:
        set_num_threads(threads)
        return threads, None
    ncpu = os.cpu_count() or 1
    if ncpu <= 1:
        return None, None
    free = free_cores()
    if round(free) >= ncpu:
        return None, free
    n = max(1, round(free))
    set_num_threads(n)
    return n, free
