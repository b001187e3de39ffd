"""2-D GEMM on cupy arrays through cuBLAS called directly (ctypes), so that matmuls can be captured in a CUDA
graph: CuPy refuses any cuBLAS call while a stream is capturing (its setStream raises NotImplementedError),
although cuBLAS itself supports capture once it has a user workspace (cublasSetWorkspace), which we give it.

    gemm(a, b) -> a @ b for 2-D a (M, K), b (K, N), both float16, float32 or float64, each C- or
    F-contiguous (a transposed view is free). float16 runs cublasGemmEx with fp32 compute (tensor cores, fp32
    accumulation), float32 full fp32 (no TF32), float64 fp64. Returns None for anything else (the caller falls
    back to cupy's `@`).

cuBLAS is column-major: a row-major C = A B is computed as the column-major C^T = B^T A^T, and a row-major
C-contiguous matrix read column-major is its transpose, so no copy is ever needed for the two layouts above.
One handle per device, bound to the current stream before each call (setStream drops the workspace, so the
workspace is set again after it).
"""
import ctypes
import threading

import numpy as np

from . import cupy as _get_cupy

_CUDA_R = {np.dtype(np.float16): 2, np.dtype(np.float32): 0, np.dtype(np.float64): 1}
_COMPUTE = {np.dtype(np.float16): 68, np.dtype(np.float32): 68, np.dtype(np.float64): 70}  # CUBLAS_COMPUTE_32F/64F
_OP_N, _OP_T = 0, 1
_GEMM_DEFAULT = -1
_WORKSPACE_BYTES = 32 << 20

_lock = threading.Lock()
_lib = None
_state = {}   # device id -> {"handle", "workspace", "stream"}


def _load():
    """The libcublas CuPy already loaded (same library, same version), found in the process's mappings."""
    global _lib
    if _lib is not None:
        return _lib
    cp = _get_cupy()
    cp.cuda.device.get_cublas_handle()        # makes CuPy load libcublas
    path = None
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                p = line.split()[-1] if line.strip() else ""
                name = p.rsplit("/", 1)[-1]
                if name.startswith("libcublas.so"):
                    path = p
                    break
    except OSError:
        pass
    candidates = [path] if path else []
    candidates += ["libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so"]
    err = None
    for c in candidates:
        try:
            lib = ctypes.CDLL(c)
            break
        except OSError as e:
            err = e
    else:
        raise RuntimeError(f"tensorgrad.backend.cublas: cannot load libcublas ({err})")
    vp, i32 = ctypes.c_void_p, ctypes.c_int
    lib.cublasCreate_v2.argtypes = [ctypes.POINTER(vp)]
    lib.cublasSetStream_v2.argtypes = [vp, vp]
    lib.cublasSetWorkspace_v2.argtypes = [vp, vp, ctypes.c_size_t]
    lib.cublasGemmEx.argtypes = [vp, i32, i32, i32, i32, i32, vp, vp, i32, i32, vp, i32, i32, vp, vp, i32, i32,
                                 i32, i32]
    _lib = lib
    return lib


def _check(status, what):
    if status != 0:
        raise RuntimeError(f"tensorgrad.backend.cublas: {what} failed with cuBLAS status {status}")


def _handle(cp):
    dev = cp.cuda.Device().id
    st = _state.get(dev)
    if st is None:
        with _lock:
            st = _state.get(dev)
            if st is None:
                lib = _load()
                h = ctypes.c_void_p()
                _check(lib.cublasCreate_v2(ctypes.byref(h)), "cublasCreate")
                # Allocated once, outside any capture, and never freed: every captured GEMM points into it.
                ws = cp.cuda.memory.alloc(_WORKSPACE_BYTES)
                st = _state[dev] = {"handle": h, "workspace": ws, "stream": None}
    stream = cp.cuda.get_current_stream().ptr
    if st["stream"] != stream:
        lib = _lib
        _check(lib.cublasSetStream_v2(st["handle"], ctypes.c_void_p(stream)), "cublasSetStream")
        _check(lib.cublasSetWorkspace_v2(st["handle"], ctypes.c_void_p(st["workspace"].ptr), _WORKSPACE_BYTES),
               "cublasSetWorkspace")
        st["stream"] = stream
    return st["handle"]


def _layout(x):
    """True if a 2-D array is F-contiguous (column-major: the matrix itself), False if C-contiguous (column-major:
    its transpose), None if neither."""
    r, c = x.shape
    item = x.itemsize
    if x.strides == (c * item, item) or (r == 1 and x.strides[1] == item) or (c == 1 and x.strides[0] == item):
        return False
    if x.strides == (item, r * item):
        return True
    return None


def gemm(a, b):
    cp = _get_cupy()
    if a.ndim != 2 or b.ndim != 2 or a.dtype != b.dtype or a.dtype not in _CUDA_R:
        return None
    m, k = a.shape
    k2, n = b.shape
    if k != k2 or m == 0 or n == 0:
        return None
    if k == 0:
        return cp.zeros((m, n), dtype=a.dtype)
    la, lb = _layout(a), _layout(b)
    if la is None or lb is None:
        return None
    out = cp.empty((m, n), dtype=a.dtype)
    # Column-major C^T (n x m) = B^T (n x k) @ A^T (k x m). B C-contiguous: its memory is B^T (n x k), op N,
    # ld n; F-contiguous: its memory is B (k x n), op T, ld k. Likewise A with (k x m) / (m x k).
    tb, ta = lb, la
    op1 = _OP_T if tb else _OP_N
    op2 = _OP_T if ta else _OP_N
    ld1 = k if tb else n
    ld2 = m if ta else k
    if a.dtype == np.float64:
        alpha, beta = ctypes.c_double(1.0), ctypes.c_double(0.0)
    else:
        alpha, beta = ctypes.c_float(1.0), ctypes.c_float(0.0)
    dt = _CUDA_R[a.dtype]
    h = _handle(cp)
    _check(_lib.cublasGemmEx(h, op1, op2, n, m, k, ctypes.byref(alpha), ctypes.c_void_p(b.data.ptr), dt, ld1,
                             ctypes.c_void_p(a.data.ptr), dt, ld2, ctypes.byref(beta), ctypes.c_void_p(out.data.ptr),
                             dt, n, _COMPUTE[a.dtype], _GEMM_DEFAULT), "cublasGemmEx")
    return out
