"""torch.version: the build's version strings, which setup and environment-report code reads
(``torch.version.cuda`` to pick a CUDA wheel or print the environment). ``cuda`` is the CUDA runtime CuPy runs on,
as "major.minor", where tensorgrad can use a GPU, and None otherwise (as torch's CPU build answers); tensorgrad
never runs on ROCm or XPU, so hip, rocm and xpu are None."""
from ._version import __version__
from .backend import cupy as _get_cupy

__all__ = ["__version__", "cuda", "hip", "rocm", "xpu", "debug", "git_version"]


def _cuda_version():
    cp = _get_cupy()
    if cp is None:
        return None
    v = int(cp.cuda.runtime.runtimeGetVersion())  # e.g. 12040 for CUDA 12.4
    return f"{v // 1000}.{v % 1000 // 10}"


cuda = _cuda_version()
hip = rocm = xpu = None
debug = False
git_version = "Unknown"  # (torch's build commit; tensorgrad's installs are not stamped with one)
