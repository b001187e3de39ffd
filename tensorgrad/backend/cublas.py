"""GEMMs on cupy arrays through cuBLAS called directly (ctypes), so that matmuls can be captured in a CUDA graph:
CuPy refuses any cuBLAS call while a stream is capturing (its setStream raises NotImplementedError), although cuBLAS
itself supports capture once it has a user workspace (cublasSetWorkspace), which we give it.

    gemm(a, b) -> a @ b for 2-D a (M, K), b (K, N) of one dtype: float16 or bfloat16 (cublasGemmEx with fp32
    compute: tensor cores, fp32 accumulation, one rounding of the output), float32 full fp32 (no TF32), float64
    fp64. Each operand C- or F-ordered, rows or columns possibly padded (a transposed view or a column slice is
    free). Returns None for anything else (the caller falls back to cupy's `@`).
    matmul(a, b, bias) -> a @ b (+ bias) with NumPy's matmul rules (1-D operands, broadcast batch dims): one
    cublasGemmEx or cublasGemmStridedBatchedEx, the bias added inside the GEMM. backend/cuda.py's gemm sends every
    bfloat16 product here, because CuPy's own batched matmul has no bfloat16 path.

cuBLAS is column-major: a row-major C = A B is computed as the column-major C^T = B^T A^T, and a row-major
C-ordered matrix read column-major is its transpose, so no copy is needed for the layouts above. How an operand is
read (op, leading dimension, batch stride) is worked out from shapes and strides alone (_plan), so that it can be
checked without a GPU. One handle per device, bound to the current stream before each call (setStream drops the
workspace, so the workspace is set again after it).
"""
import ctypes
import math
import threading

import numpy as np

from . import cupy as _get_cupy
from ..dtypes import bfloat16 as _BF16

# cudaDataType: CUDA_R_16F, CUDA_R_16BF, CUDA_R_32F, CUDA_R_64F
_CUDA_R = {np.dtype(np.float16): 2, _BF16: 14, np.dtype(np.float32): 0, np.dtype(np.float64): 1}
# cublasComputeType_t: CUBLAS_COMPUTE_32F (half inputs accumulate in fp32; float32 without TF32), CUBLAS_COMPUTE_64F
_COMPUTE = {np.dtype(np.float16): 68, _BF16: 68, np.dtype(np.float32): 68, np.dtype(np.float64): 70}
_INT_MAX = 2 ** 31 - 1
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
    i64 = ctypes.c_longlong
    lib.cublasGemmStridedBatchedEx.argtypes = [vp, i32, i32, i32, i32, i32, vp, vp, i32, i32, i64, vp, i32, i32, i64,
                                               vp, vp, i32, i32, i64, i32, i32, i32]
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


def _layout(rows, cols, sr, sc):
    """How cuBLAS (column-major) reads a row-major rows x cols matrix with element strides (sr, sc): (False, ld) when
    its memory is the column-major cols x rows transpose (C order, rows ld apart), (True, ld) when it is the matrix
    itself column-major (F order, columns ld apart); None when neither (a strided slice, negative strides, overlap).
    A dimension of size 1 has no stride that matters."""
    if (cols == 1 or sc == 1) and (rows == 1 or sr >= max(1, cols)):
        return False, (sr if rows > 1 else max(1, cols))
    if (rows == 1 or sr == 1) and (cols == 1 or sc >= max(1, rows)):
        return True, (sc if cols > 1 else max(1, rows))
    return None


def _uniform_stride(shape, strides):
    """The one stride s that steps through dims `shape` flattened (C order), or None when they do not collapse; dims
    of size 1 are skipped and broadcast dims (stride 0) collapse only with each other. 0 when nothing is left."""
    s = expected = None
    for size, st in zip(reversed(shape), reversed(strides)):
        if size == 1:
            continue
        if s is None:
            s = st
        elif st != expected:
            return None
        expected = st * size
    if s is None:
        return 0
    return s if s >= 0 else None


def _plan(a_shape, a_strides, b_shape, b_strides, itemsize):
    """cuBLAS arguments for a @ b over the broadcast batch dims, from shapes and byte strides (a (..., M, K) and
    b (..., K, N), both at least 2-D, batch dims already broadcast to one shape): (opB, opA, n, m, k, ldB, strideB,
    ldA, strideA, ldc, strideC, count), the output C-ordered (..., M, N), strides in elements. None when an operand's
    layout cannot be read as strided matrices (the caller copies it) or a size passes cuBLAS's int range.
    When b has no batch (stride 0) and a's batch and rows collapse into rows (a (B, T, C) @ W), the batch folds into
    one GEMM of B*T rows."""
    if any(st % itemsize for st in a_strides + b_strides):
        return None
    sa = tuple(st // itemsize for st in a_strides)
    sb = tuple(st // itemsize for st in b_strides)
    m, k = a_shape[-2:]
    n = b_shape[-1]
    batch = a_shape[:-2]
    count = math.prod(batch)
    stride_b = _uniform_stride(batch, sb[:-2])
    if stride_b is None:
        return None
    la = None
    if stride_b == 0 and count > 1:                       # fold a's batch into its rows
        rows = _uniform_stride(batch + (m,), sa[:-1])
        la = None if rows is None else _layout(count * m, k, rows, sa[-1])
        if la is not None and not la[0]:
            m, count, stride_a = count * m, 1, 0
        else:
            la = None
    if la is None:
        la = _layout(m, k, sa[-2], sa[-1])
        stride_a = _uniform_stride(batch, sa[:-2])
        if la is None or stride_a is None:
            return None
    lb = _layout(k, n, sb[-2], sb[-1])
    if lb is None:
        return None
    if max(m, n, k, la[1], lb[1], count) > _INT_MAX:
        return None
    # Column-major C^T (n x m) = B^T (n x k) @ A^T (k x m): B in C order is B^T in memory (op N), in F order B
    # itself (op T); likewise A.
    op_b = _OP_T if lb[0] else _OP_N
    op_a = _OP_T if la[0] else _OP_N
    return op_b, op_a, n, m, k, lb[1], stride_b, la[1], stride_a, n, m * n, count


def _readable(x):
    """Whether _plan can read a stack of matrices as it is (else it needs a C-ordered copy)."""
    if any(st % x.itemsize for st in x.strides):
        return False
    st = tuple(v // x.itemsize for v in x.strides)
    return _layout(*x.shape[-2:], *st[-2:]) is not None and _uniform_stride(x.shape[:-2], st[:-2]) is not None


def _scalars(dtype, beta):
    if dtype == np.float64:
        return ctypes.c_double(1.0), ctypes.c_double(beta)
    return ctypes.c_float(1.0), ctypes.c_float(beta)


def _run(cp, plan, a, b, out, beta):
    """One cuBLAS call of a _plan into out (C-ordered); a and b as the plan read them (their first elements)."""
    op_b, op_a, n, m, k, ldb, sb, lda, sa, ldc, sc, count = plan
    alpha, beta = _scalars(a.dtype, beta)
    dt, ct = _CUDA_R[a.dtype], _COMPUTE[a.dtype]
    pb, pa, pc = (ctypes.c_void_p(x.data.ptr) for x in (b, a, out))
    h = _handle(cp)
    if count == 1:
        _check(_lib.cublasGemmEx(h, op_b, op_a, n, m, k, ctypes.byref(alpha), pb, dt, ldb, pa, dt, lda,
                                 ctypes.byref(beta), pc, dt, ldc, ct, _GEMM_DEFAULT), "cublasGemmEx")
    else:
        _check(_lib.cublasGemmStridedBatchedEx(h, op_b, op_a, n, m, k, ctypes.byref(alpha), pb, dt, ldb, sb, pa, dt,
                                               lda, sa, ctypes.byref(beta), pc, dt, ldc, sc, count, ct, _GEMM_DEFAULT),
               "cublasGemmStridedBatchedEx")


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
    plan = _plan(a.shape, a.strides, b.shape, b.strides, a.itemsize)
    if plan is None:
        return None
    out = cp.empty((m, n), dtype=a.dtype)
    _run(cp, plan, a, b, out, 0.0)
    return out


def _prepare(xp, a, b):
    """NumPy's matmul rules for xp arrays a and b: (shape, out_shape, a2, b2, plan), shape the (..., M, N) of the
    product and out_shape the result's (1-D operands' dims dropped); a2 (..., M, K) and b2 (..., K, N) broadcast to
    one batch shape, C-ordered copies where _plan cannot read them as they are; a2 = b2 = plan = None when there is
    nothing to multiply (an empty product or K = 0); plan None alone past cuBLAS's int range. None when the shapes do
    not multiply. Pure array handling, so that the CPU tests run it on NumPy."""
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    (m, k), (k2, n) = a2.shape[-2:], b2.shape[-2:]
    if k != k2:
        return None
    try:
        batch = tuple(np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2]))
    except ValueError:
        return None
    shape = batch + (m, n)
    out_shape = shape[:-2] + ((m,) if a.ndim > 1 else ()) + ((n,) if b.ndim > 1 else ())
    if 0 in shape or k == 0:
        return shape, out_shape, None, None, None
    a2 = xp.broadcast_to(a2, batch + (m, k))
    b2 = xp.broadcast_to(b2, batch + (k, n))
    plan = _plan(a2.shape, a2.strides, b2.shape, b2.strides, a.itemsize)
    if plan is None:
        a2, b2 = (x if _readable(x) else xp.ascontiguousarray(x) for x in (a2, b2))
        plan = _plan(a2.shape, a2.strides, b2.shape, b2.strides, a.itemsize)
    return shape, out_shape, a2, b2, plan


def matmul(a, b, bias=None):
    """a @ b (+ bias over the last dim) with NumPy's matmul rules, for a and b of one dtype of _CUDA_R; None for
    other dtypes, shapes that do not multiply, or sizes past cuBLAS's int range. The output is pre-filled with the
    bias and the GEMM run with beta = 1: one fp32 accumulation of products and bias, rounded once (as the
    reference's half GEMMs). Operands whose layout cuBLAS cannot read (strided slices, batch dims that do not
    collapse to one stride, such as a broadcast (1, H) against (B, H)) are copied first."""
    cp = _get_cupy()
    if a.dtype != b.dtype or a.dtype not in _CUDA_R or a.ndim == 0 or b.ndim == 0:
        return None
    prep = _prepare(cp, a, b)
    if prep is None:
        return None
    shape, out_shape, a2, b2, plan = prep
    if a2 is not None and plan is None:
        return None
    if bias is None:
        out = (cp.zeros if a2 is None else cp.empty)(shape, dtype=a.dtype)
    else:
        out = cp.empty(shape, dtype=a.dtype)
        out[...] = bias
    if a2 is not None:
        _run(cp, plan, a2, b2, out, 0.0 if bias is None else 1.0)
    return out.reshape(out_shape)
