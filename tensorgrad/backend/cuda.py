"""CUDA backend: CuPy + the hand-written kernels in csrc/cuda/*.cu, compiled at run time by NVRTC.

Each launcher takes and returns cupy arrays and has exactly the signature, outputs, dtypes and math of
its namesake in reference.py (the contract and the test oracle). Where a kernel does not cover a case
(float64, other dtypes, attention head dim > 128, empty arrays, ...) the launcher says so in a comment
and calls the reference, which runs the same math with cupy array ops.

Sources: an installed package carries them in tensorgrad/cuda_src/ (setup.py copies them there); a
source checkout reads <repo>/csrc/cuda/. `#include "common.cuh"` is pasted in by the loader, so CuPy's
on-disk kernel cache (keyed by the source text) notices edits to the header too. One RawModule per
(file, device), compiled on first use (a few seconds per file; `compile_all()` does it up front).

This module must import without CuPy (CPU-only machines, CI): cupy is only touched inside functions.
"""
import math
import os
import threading

import numpy as np

from . import cupy as _get_cupy
from . import capture, cublas, determinism, reference
from ..dtypes import bfloat16 as _BF16

_HERE = os.path.dirname(os.path.abspath(__file__))
_SOURCE_DIRS = (
    os.path.normpath(os.path.join(_HERE, "..", "cuda_src")),            # installed package
    os.path.normpath(os.path.join(_HERE, "..", "..", "csrc", "cuda")),  # source checkout
)
FILES = ("layernorm", "softmax_cross_entropy", "attention", "attention_tc", "gelu", "adamw", "bias_dropout_add")

# NVRTC options. C++17 for `if constexpr`-era code; no --use_fast_math (it would also approximate
# erff/tanhf/logf and flush denormals): the kernels call the fast intrinsics (__expf) explicitly where
# they are safe. CuPy adds the CUDA include directory itself (for <cuda_fp16.h> and <cuda_bf16.h>).
_OPTIONS = ("--std=c++17",)

_SUFFIX = {np.dtype(np.float32): "f32", np.dtype(np.float16): "f16", _BF16: "bf16"}
_SMEM_DEFAULT_LIMIT = 48 * 1024

_lock = threading.Lock()
_modules = {}        # (file, device id) -> cupy.RawModule
_functions = {}      # (file, device id, kernel name) -> cupy.RawKernel
_smem_opted_in = {}  # (file, device id, kernel name) -> bytes
_device_attrs = {}   # device id -> cupy device attributes dict


# --------------------------------------------------------------------------------------------- loading
def source_dir():
    """The directory holding the .cu sources (installed copy first, then the checkout)."""
    for d in _SOURCE_DIRS:
        if os.path.isfile(os.path.join(d, "common.cuh")):
            return d
    raise FileNotFoundError("tensorgrad: CUDA kernel sources not found in " + " or ".join(_SOURCE_DIRS))


def _philox_header():
    """csrc/common/philox.h (the installed package carries a copy beside the .cu files)."""
    for path in (os.path.join(source_dir(), "philox.h"), os.path.join(_SOURCE_DIRS[1], "..", "common", "philox.h")):
        if os.path.isfile(path):
            with open(path) as f:
                return f.read().replace("#pragma once", "", 1)
    raise FileNotFoundError("tensorgrad: csrc/common/philox.h not found beside the CUDA kernel sources")


def load_source(name):
    """Source text of csrc/cuda/<name>.cu with common.cuh (and csrc/common/philox.h, where included) pasted in place
    of their #include lines (NVRTC compiles one string)."""
    d = source_dir()
    with open(os.path.join(d, name + ".cu")) as f:
        src = f.read()
    with open(os.path.join(d, "common.cuh")) as f:
        common = f.read()
    src = src.replace('#include "common.cuh"', common, 1)
    if '#include "../common/philox.h"' in src:
        src = src.replace('#include "../common/philox.h"', _philox_header(), 1)
    return src


def _cp():
    cp = _get_cupy()
    if cp is None:
        raise RuntimeError("tensorgrad: the CUDA kernels need CuPy and a GPU (install tensorgrad[cuda])")
    return cp


def _device_id():
    return _cp().cuda.Device().id


def _attrs():
    dev = _device_id()
    a = _device_attrs.get(dev)
    if a is None:
        a = _device_attrs[dev] = _cp().cuda.Device(dev).attributes
    return a


def _sm_count():
    return int(_attrs().get("MultiProcessorCount", 80))


def get_kernel(file, name, smem=0):
    """The compiled kernel `name` from csrc/cuda/<file>.cu on the current device, or None when it
    needs more dynamic shared memory than the device allows (the caller then uses the reference)."""
    cp = _cp()
    dev = _device_id()
    key = (file, dev, name)
    fn = _functions.get(key)
    if fn is None:
        with _lock:
            mod = _modules.get((file, dev))
            if mod is None:
                mod = _modules[(file, dev)] = cp.RawModule(code=load_source(file), options=_OPTIONS)
            fn = _functions[key] = mod.get_function(name)
    if smem > _SMEM_DEFAULT_LIMIT and _smem_opted_in.get(key, 0) < smem:
        if smem > int(_attrs().get("MaxSharedMemoryPerBlockOptin", _SMEM_DEFAULT_LIMIT)):
            return None
        fn.max_dynamic_shared_size_bytes = smem     # cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES)
        _smem_opted_in[key] = smem
    return fn


def compile_all():
    """Compile every kernel file for the current device (otherwise each compiles on first use)."""
    first = {"layernorm": "layernorm_forward_kernel_f32",
             "softmax_cross_entropy": "softmax_cross_entropy_forward_kernel_f32",
             "attention": "attention_forward_kernel_f32_d64",
             "attention_tc": "attention_forward_kernel_f16_tc_d64",
             "gelu": "gelu_forward_kernel_f32",
             "adamw": "adamw_step_kernel",
             "bias_dropout_add": "bias_dropout_add_forward_kernel_f32"}
    for f in FILES:
        get_kernel(f, first[f])


def configure_matmul(allow_tf32=False):
    """Pin cuBLAS compute types for `@` on cupy arrays (matmul has no kernel of ours: it is cuBLAS).

    CuPy keeps one compute type per dtype (cupy._core._routines_linalg.set_compute_type):
      - float16: COMPUTE_TYPE_FP32, i.e. cublasGemmEx with CUBLAS_COMPUTE_32F: fp16 inputs and output,
        fp32 accumulation on tensor cores. (That is also CuPy's default for fp16 on cc >= 5.0; set
        explicitly so that nothing downgrades it to fp16 accumulation.) Note that CuPy's batched matmul
        (ndim > 2) casts fp16 operands to fp32 before calling cuBLAS: accurate, but it costs memory.
      - float32: COMPUTE_TYPE_TF32 (CUBLAS_COMPUTE_32F_FAST_TF32, Ampere+) when allow_tf32, else
        COMPUTE_TYPE_DEFAULT (full fp32). The environment variable CUPY_TF32=1 is CuPy's equivalent.
      - bfloat16 never reaches CuPy's matmul (gemm sends it to backend.cublas: CUBLAS_COMPUTE_32F), so it has none.
    Returns {dtype name: compute type name} as CuPy reports them afterwards.
    """
    cp = _cp()
    from cupy._core import _routines_linalg as rl
    fp32 = getattr(rl, "COMPUTE_TYPE_FP32", 4)
    default = getattr(rl, "COMPUTE_TYPE_DEFAULT", 1)
    tf32 = getattr(rl, "COMPUTE_TYPE_TF32", 7)
    rl.set_compute_type(cp.float16, fp32)
    major = int(cp.cuda.Device().compute_capability) // 10
    rl.set_compute_type(cp.float32, tf32 if (allow_tf32 and major >= 8) else default)
    return {str(np.dtype(t)): rl.compute_type_to_str(rl.get_compute_type(t)) for t in (np.float16, np.float32)}


# ------------------------------------------------------------------------------------------- helpers
def _i32(v):
    return np.int32(v)


def _i64(v):
    return np.int64(v)


def _f32(v):
    return np.float32(v)


def _ceil_div(a, b):
    return -(-a // b)


def _supported(*arrays):
    """True when every array is float32, float16 or bfloat16 (the dtypes every .cu file instantiates) and they share
    one dtype."""
    dt = arrays[0].dtype
    return dt in _SUFFIX and all(a.dtype == dt for a in arrays)


def _aligned(nbytes, *arrays):
    return all(a.data.ptr % nbytes == 0 for a in arrays)


# ----------------------------------------------------------------------------------------- layernorm
def layernorm_forward(x, weight, bias, eps):
    cp = _cp()
    # float64 (and other dtypes), non-2D and empty inputs: reference.
    if not _supported(x) or x.ndim != 2 or x.size == 0:
        return reference.layernorm_forward(x, weight, bias, eps)
    x = cp.ascontiguousarray(x)
    n, c = x.shape
    y = cp.empty_like(x)
    mean = cp.empty(n, dtype=cp.float32)
    rstd = cp.empty(n, dtype=cp.float32)
    w = None if weight is None else cp.ascontiguousarray(weight, dtype=cp.float32)
    b = None if bias is None else cp.ascontiguousarray(bias, dtype=cp.float32)
    threads = 256                                     # 8 warps = 8 rows per block
    k = get_kernel("layernorm", "layernorm_forward_kernel_" + _SUFFIX[x.dtype])
    k((_ceil_div(n, threads // 32),), (threads,),
      (x, mean if w is None else w, mean if b is None else b, y, mean, rstd,  # dummies never read
       _i32(n), _i32(c), _f32(eps), _i32(w is not None), _i32(b is not None)))
    return y, mean, rstd


def layernorm_backward(dy, x, weight, mean, rstd):
    cp = _cp()
    # float64 and other dtypes, float64 statistics, empty inputs: reference. So is deterministic mode: the kernel sums
    # dweight/dbias with shared-memory atomics, whose order varies from run to run.
    if (not _supported(x, dy) or x.ndim != 2 or x.size == 0
            or mean.dtype != cp.float32 or rstd.dtype != cp.float32 or determinism.enabled()):
        return reference.layernorm_backward(dy, x, weight, mean, rstd)
    n, c = x.shape
    threads = 512                                     # 16 warps, one row each at a time
    smem = 2 * c * 4
    k = get_kernel("layernorm", "layernorm_backward_kernel_" + _SUFFIX[x.dtype], smem)
    if k is None:                                     # C too large for shared memory: reference
        return reference.layernorm_backward(dy, x, weight, mean, rstd)
    x = cp.ascontiguousarray(x)
    dy = cp.ascontiguousarray(dy)
    mean = cp.ascontiguousarray(mean)
    rstd = cp.ascontiguousarray(rstd)
    w = None if weight is None else cp.ascontiguousarray(weight, dtype=cp.float32)
    blocks = max(1, min(_ceil_div(n, threads // 32), 2 * _sm_count()))
    dx = cp.empty_like(x)
    dw_part = cp.empty((blocks, c), dtype=cp.float32)
    db_part = cp.empty((blocks, c), dtype=cp.float32)
    k((blocks,), (threads,),
      (dy, x, mean if w is None else w, mean, rstd, dx, dw_part, db_part, _i32(n), _i32(c), _i32(w is not None)),
      shared_mem=smem)
    dbias = db_part.sum(axis=0)
    dweight = None if weight is None else dw_part.sum(axis=0).astype(weight.dtype, copy=False)
    return dx, dweight, dbias.astype(x.dtype if weight is None else weight.dtype, copy=False)


# ----------------------------------------------------------------------------- softmax cross-entropy
def _ce_args(logits, target):
    cp = _cp()
    return cp.ascontiguousarray(logits), cp.ascontiguousarray(target, dtype=cp.int64)


def softmax_cross_entropy_forward(logits, target, ignore_index, label_smoothing):
    cp = _cp()
    # float64 and other dtypes, empty inputs: reference.
    if not _supported(logits) or logits.ndim != 2 or logits.size == 0:
        return reference.softmax_cross_entropy_forward(logits, target, ignore_index, label_smoothing)
    logits, target = _ce_args(logits, target)
    n, v = logits.shape
    loss = cp.empty(n, dtype=cp.float32)
    stats = cp.empty((n, 2), dtype=cp.float32)
    threads = min(1024, max(32, 32 * _ceil_div(_ceil_div(v, 16), 32)))   # ~16 logits per thread
    k = get_kernel("softmax_cross_entropy", "softmax_cross_entropy_forward_kernel_" + _SUFFIX[logits.dtype])
    k((n,), (threads,), (logits, target, loss, stats, _i32(n), _i32(v), _i64(ignore_index), _f32(label_smoothing)))
    return loss, stats


def softmax_cross_entropy_backward(logits, target, stats, dloss, ignore_index, label_smoothing, inplace=False):
    """As reference.softmax_cross_entropy_backward. inplace=True writes dlogits over the logits buffer
    (and returns it) when logits is C-contiguous: for callers that no longer need the logits."""
    cp = _cp()
    # float64 and other dtypes, float64 stats, empty inputs: reference.
    if not _supported(logits) or logits.ndim != 2 or logits.size == 0 or stats.dtype != cp.float32:
        return reference.softmax_cross_entropy_backward(logits, target, stats, dloss, ignore_index, label_smoothing)
    logits, target = _ce_args(logits, target)
    n, v = logits.shape
    stats = cp.ascontiguousarray(stats)
    dloss = cp.ascontiguousarray(cp.broadcast_to(cp.asarray(dloss, dtype=cp.float32), (n,)))
    out = logits if inplace else cp.empty_like(logits)
    threads = 256 if v >= 256 else 32 * _ceil_div(v, 32)
    grid = (_ceil_div(v, threads * 4), min(n, 65535))
    k = get_kernel("softmax_cross_entropy", "softmax_cross_entropy_backward_kernel_" + _SUFFIX[logits.dtype])
    k(grid, (threads,), (logits, target, stats, dloss, out, _i32(n), _i32(v), _i64(ignore_index), _f32(label_smoothing)))
    return out


# ----------------------------------------------------------------------------------------- attention
# Tile shapes, mirrored from the TG_ATTN_INSTANTIATE lines of csrc/cuda/attention.cu: padded head dim
# DP -> (forward BM, BN), (backward BM, BN).
_ATTN_TILES = {64: ((64, 32), (32, 64)), 128: ((32, 32), (32, 32))}
_ATTN_THREADS = 256


def _attn_smem_forward(dp, bm, bn):
    return (bm * (dp + 1) + bn * (dp + 1) + bm * (bn + 1)) * 4


def _attn_smem_backward(dp, bm, bn):
    return (2 * bn * (dp + 1) + 2 * bm * (dp + 1) + 2 * bn * (bm + 1) + 2 * bm) * 4


# Tensor-core kernels (csrc/cuda/attention_tc.cu): float16 or bfloat16 with head dim exactly 64 or 128, 128 threads.
# Head dim D -> (forward BM, BN), (backward BM, BN); mirrored from the kernel's constants.
_ATTN_TC_TILES = {64: ((64, 64), (64, 64)), 128: ((64, 64), (32, 64))}
_ATTN_TC_THREADS = 128


def _attn_tc_smem_forward(d, bm, bn):
    return (bm + 2 * bn) * (d + 8) * 2


def _attn_tc_smem_backward(d, bm, bn):
    return (2 * bn * (d + 8) + 4 * bm * (d + 8) + bn * (bm + 8)) * 2 + 4 * bm * 4


def _attn_use_tc(*arrays):
    """True when the tensor-core kernels apply: float16 or bfloat16, head dim 64 or 128, 16-byte aligned rows
    (cp.async), and TENSORGRAD_ATTN_TC is not "0" (read on every call so a benchmark can flip it between runs)."""
    q = arrays[0]
    return (q.dtype in (np.float16, _BF16) and q.shape[-1] in _ATTN_TC_TILES
            and os.environ.get("TENSORGRAD_ATTN_TC", "1") != "0" and _aligned(16, *arrays))


def _attn_kernel_ok(q, k, v):
    """Shapes/dtypes the kernels cover: 4-D, one dtype in {float32, float16, bfloat16}, head dim 1..128,
    matching batch/heads/head dim, non-empty. Everything else (float64, D > 128, ...) -> reference."""
    if not _supported(q, k, v) or q.ndim != 4 or k.ndim != 4 or v.ndim != 4:
        return False
    b, h, tq, d = q.shape
    return (0 < d <= 128 and tq > 0 and k.shape[2] > 0 and k.shape == v.shape
            and k.shape[:2] == (b, h) and k.shape[3] == d and b * h < 2 ** 31)


def _dropout_args(dropout_p, seed, offset):
    """The kernels' dropout arguments (keep_scale, drop_thr, seed, offset, rng_state), csrc/common/philox.h's
    definitions. rng_state is a null pointer, or under CUDA-graph capture (offset a capture.GraphOffset) the
    device array the replay prologue fills with (seed, base offset)."""
    p = float(dropout_p)
    thr = math.ceil(p * 16777216.0)
    keep_scale = 0.0 if p >= 1.0 else 1.0 / (1.0 - p)
    state = offset.state if isinstance(offset, capture.GraphOffset) and thr else _null_ptr()
    return (_f32(keep_scale), np.uint32(thr), np.uint64(int(seed) % 2 ** 64), np.uint64(int(offset) % 2 ** 64),
            state)


def attention_forward(q, k, v, causal, scale, dropout_p=0.0, seed=0, offset=0):
    """Dropout (p > 0) runs in whichever kernels apply (attention.cu or attention_tc.cu): both draw the same mask."""
    cp = _cp()
    dargs = (q, k, v, causal, scale, dropout_p, seed, offset)
    if not _attn_kernel_ok(q, k, v):
        return reference.attention_forward(*dargs)
    q, k, v = (cp.ascontiguousarray(a) for a in (q, k, v))
    b, h, tq, d = q.shape
    tk = k.shape[2]
    kern = None
    if _attn_use_tc(q, k, v):
        bm, bn = _ATTN_TC_TILES[d][0]
        smem = _attn_tc_smem_forward(d, bm, bn)
        kern = get_kernel("attention_tc", "attention_forward_kernel_%s_tc_d%d" % (_SUFFIX[q.dtype], d), smem)
        threads = _ATTN_TC_THREADS
    if kern is None:                                  # float32, other D, TENSORGRAD_ATTN_TC=0: FFMA kernels
        dp = 64 if d <= 64 else 128
        bm, bn = _ATTN_TILES[dp][0]
        smem = _attn_smem_forward(dp, bm, bn)
        kern = get_kernel("attention", "attention_forward_kernel_%s_d%d" % (_SUFFIX[q.dtype], dp), smem)
        threads = _ATTN_THREADS
    if kern is None:
        return reference.attention_forward(*dargs)
    out = cp.empty_like(q)
    lse = cp.empty((b, h, tq), dtype=cp.float32)
    drop = _dropout_args(dropout_p, seed, offset)
    kern((b * h, _ceil_div(tq, bm)), (threads,),
         (q, k, v, out, lse, _i32(tq), _i32(tk), _i32(d), _f32(scale), _i32(bool(causal))) + drop, shared_mem=smem)
    return out, lse


def attention_backward(dout, q, k, v, out, lse, causal, scale, dropout_p=0.0, seed=0, offset=0):
    cp = _cp()
    dargs = (dout, q, k, v, out, lse, causal, scale, dropout_p, seed, offset)
    # (deterministic mode: the kernels accumulate dQ with float atomics, so the composed reference runs instead)
    if (not _attn_kernel_ok(q, k, v) or lse.dtype != cp.float32 or dout.dtype != q.dtype or out.dtype != q.dtype
            or determinism.enabled()):
        return reference.attention_backward(*dargs)
    b, h, tq, d = q.shape
    tk = k.shape[2]
    suffix = _SUFFIX[q.dtype]
    dout, q, k, v, out, lse = (cp.ascontiguousarray(a) for a in (dout, q, k, v, out, lse))
    kern = None
    if _attn_use_tc(q, k, v, dout):
        bm, bn = _ATTN_TC_TILES[d][1]
        smem = _attn_tc_smem_backward(d, bm, bn)
        kern = get_kernel("attention_tc", "attention_backward_kernel_%s_tc_d%d" % (_SUFFIX[q.dtype], d), smem)
        threads = _ATTN_TC_THREADS
    if kern is None:                                  # float32, other D, TENSORGRAD_ATTN_TC=0: FFMA kernels
        dp = 64 if d <= 64 else 128
        bm, bn = _ATTN_TILES[dp][1]
        smem = _attn_smem_backward(dp, bm, bn)
        kern = get_kernel("attention", "attention_backward_kernel_%s_d%d" % (suffix, dp), smem)
        threads = _ATTN_THREADS
    if kern is None:                                  # device without enough opt-in shared memory
        return reference.attention_backward(*dargs)

    rows = b * h * tq
    delta = cp.empty((b, h, tq), dtype=cp.float32)
    get_kernel("attention", "attention_delta_kernel_" + suffix)(
        (_ceil_div(rows, _ATTN_THREADS // 32),), (_ATTN_THREADS,), (dout, out, delta, _i64(rows), _i32(d)))

    dq_acc = cp.zeros((b, h, tq, d), dtype=cp.float32)
    dk = cp.empty_like(k)
    dv = cp.empty_like(v)
    drop = _dropout_args(dropout_p, seed, offset)
    kern((b * h, _ceil_div(tk, bn)), (threads,),
         (dout, q, k, v, lse, delta, dq_acc, dk, dv, _i32(tq), _i32(tk), _i32(d), _f32(scale), _i32(bool(causal)))
         + drop, shared_mem=smem)
    dq = dq_acc if q.dtype == cp.float32 else dq_acc.astype(q.dtype)
    return dq, dk, dv


# ---------------------------------------------------------------------------------------------- gelu
_GELU_THREADS = 256


def _approx_flag(approximate):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return _i32(approximate == "tanh")


def _gelu_grid(x):
    # Each thread takes 16 bytes of elements per step (gelu.cu's EPT): 4 float, 8 half or bfloat16.
    return (max(1, min(_ceil_div(x.size, _GELU_THREADS * (16 // x.itemsize)), 2 ** 31 - 1)),)


def gelu_forward(x, approximate):
    cp = _cp()
    if not _supported(x) or x.size == 0:   # float64 etc., empty: reference
        return reference.gelu_forward(x, approximate)
    flag = _approx_flag(approximate)
    shape = x.shape                                   # ascontiguousarray makes 0-d arrays 1-d
    x = cp.ascontiguousarray(x)
    y = cp.empty_like(x)
    vec = _i32(_aligned(16, x, y))
    get_kernel("gelu", "gelu_forward_kernel_" + _SUFFIX[x.dtype])(
        _gelu_grid(x), (_GELU_THREADS,), (x, y, _i64(x.size), flag, vec))
    return y.reshape(shape)


def gelu_backward(dy, x, approximate):
    cp = _cp()
    if not _supported(x, dy) or x.size == 0 or dy.shape != x.shape:
        return reference.gelu_backward(dy, x, approximate)
    flag = _approx_flag(approximate)
    shape = x.shape
    x = cp.ascontiguousarray(x)
    dy = cp.ascontiguousarray(dy)
    dx = cp.empty_like(x)
    vec = _i32(_aligned(16, x, dy, dx))
    get_kernel("gelu", "gelu_backward_kernel_" + _SUFFIX[x.dtype])(
        _gelu_grid(x), (_GELU_THREADS,), (dy, x, dx, _i64(x.size), flag, vec))
    return dx.reshape(shape)


# ----------------------------------------------------------------------------------------- bias_dropout_add
def _bda_grid(n):
    return (max(1, min(_ceil_div(_ceil_div(n, 4), _GELU_THREADS), 65535 * 4)),)  # one thread per four elements


def bias_dropout_add_forward(x, h, bias, p, seed, offset):
    """bias_dropout_add.cu for float32/float16 tensors of one dtype and shape (bias (C,) or None); else the
    reference, which draws the same Philox mask."""
    cp = _cp()
    if (not _supported(*((x, h) if bias is None else (x, h, bias))) or x.shape != h.shape or h.size == 0
            or (bias is not None and bias.shape != h.shape[-1:])):
        return reference.bias_dropout_add_forward(x, h, bias, p, seed, offset)
    x, h = cp.ascontiguousarray(x), cp.ascontiguousarray(h)
    b = None if bias is None else cp.ascontiguousarray(bias)
    out = cp.empty_like(h)
    get_kernel("bias_dropout_add", "bias_dropout_add_forward_kernel_" + _SUFFIX[h.dtype])(
        _bda_grid(h.size), (_GELU_THREADS,),
        (x, h, b if b is not None else _null_ptr(), out, _i64(h.size), _i64(h.shape[-1] if h.ndim else 1))
        + _dropout_args(p, seed, offset))
    return out


def bias_dropout_add_backward(g, p, seed, offset):
    cp = _cp()
    if not _supported(g) or g.size == 0:
        return reference.bias_dropout_add_backward(g, p, seed, offset)
    g = cp.ascontiguousarray(g)
    dh = cp.empty_like(g)
    get_kernel("bias_dropout_add", "bias_dropout_add_backward_kernel_" + _SUFFIX[g.dtype])(
        _bda_grid(g.size), (_GELU_THREADS,), (g, dh, _i64(g.size)) + _dropout_args(p, seed, offset))
    return dh


# --------------------------------------------------------------------------------------------- adamw
_ADAMW_CHUNK = 32768          # elements per block (256 threads x 128)
_ADAMW_THREADS = 256
_adamw_table = {"key": None, "dev": None, "buf": None, "views": None}  # last table, reused while unchanged
_ADAMW_GTYPE = {np.dtype(np.float32): 0, np.dtype(np.float16): 1, _BF16: 2}  # adamw.cu's gtype codes


def _adamw_fusable(p, g, m, v):
    f32 = np.dtype(np.float32)
    return (p.dtype == f32 and m.dtype == f32 and v.dtype == f32 and g.dtype in _ADAMW_GTYPE
            and p.size > 0 and p.size == g.size == m.size == v.size
            and p.flags.c_contiguous and m.flags.c_contiguous and v.flags.c_contiguous)


def _adamw_build_table(items):
    """items: [(p, g, m, v)] -> device views (ptrs, sizes, gtype, chunk_tensor, chunk_start, nchunks)."""
    key = tuple((p.data.ptr, g.data.ptr, m.data.ptr, v.data.ptr, p.size, g.dtype.char) for p, g, m, v in items)
    if _adamw_table["key"] == key and _adamw_table["dev"] == _device_id():
        return _adamw_table["views"]
    kcount = len(items)
    sizes = np.array([p.size for p, _, _, _ in items], dtype=np.int64)
    nchunks_each = -(-sizes // _ADAMW_CHUNK)
    nchunks = int(nchunks_each.sum())
    chunk_tensor = np.repeat(np.arange(kcount, dtype=np.int64), nchunks_each)
    first_chunk = np.repeat(np.cumsum(nchunks_each) - nchunks_each, nchunks_each)
    chunk_start = (np.arange(nchunks, dtype=np.int64) - first_chunk) * _ADAMW_CHUNK
    ptrs = np.array([[p.data.ptr, g.data.ptr, m.data.ptr, v.data.ptr] for p, g, m, v in items],
                    dtype=np.uint64).view(np.int64).reshape(-1)
    gtype = np.array([_ADAMW_GTYPE.get(g.dtype, 0) for _, g, _, _ in items], dtype=np.int64)
    host = np.concatenate([ptrs, sizes, gtype, chunk_tensor, chunk_start])
    buf = _to_device_capture_safe(host)               # one host-to-device copy
    o1, o2, o3, o4 = 4 * kcount, 5 * kcount, 6 * kcount, 6 * kcount + nchunks
    views = (buf[:o1], buf[o1:o2], buf[o2:o3], buf[o3:o4], buf[o4:], nchunks)
    _adamw_table.update(key=key, buf=buf, views=views, dev=_device_id())
    return views


def _to_device_capture_safe(host):
    """cupy copy of a numpy array that also works while a CUDA graph is being captured: there the copy
    becomes a graph node reading pinned host memory, which the graph then keeps alive for its replays
    (a pageable source, what cupy.asarray uses, is not allowed during capture)."""
    cp = _cp()
    if not capture.is_capturing():
        return cp.asarray(host)
    host = np.ascontiguousarray(host)
    pinned = cp.cuda.alloc_pinned_memory(host.nbytes)
    np.frombuffer(pinned, host.dtype, host.size)[...] = host.reshape(-1)
    out = cp.empty(host.shape, host.dtype)
    # The raw runtime call: CuPy's ndarray.set refuses every host-to-device copy during capture, although
    # CUDA records one from pinned memory as a graph node.
    cp.cuda.runtime.memcpyAsync(out.data.ptr, pinned.ptr, host.nbytes, cp.cuda.runtime.memcpyHostToDevice,
                                cp.cuda.get_current_stream().ptr)
    capture.keep_alive(pinned)
    return out


def _adamw_split(params, grads, exp_avgs, exp_avg_sqs):
    cp = _cp()
    fused, rest = [], []
    for p, g, m, v in zip(params, grads, exp_avgs, exp_avg_sqs):
        if _adamw_fusable(p, g, m, v):
            fused.append((p, cp.ascontiguousarray(g), m, v))
        else:
            rest.append((p, g, m, v))
    return fused, rest


def adamw_step_capturable(params, grads, exp_avgs, exp_avg_sqs, lr, step, found_inf, beta1, beta2, eps,
                          weight_decay):
    """adamw_step with lr (float32 scalar array), step (float32 scalar array, already counting this step)
    and found_inf (float32 scalar array or None: skip the update when != 0) read on the device, so that a
    CUDA graph replaying this launch follows the schedule. Every tensor must take the fused path."""
    fused, rest = _adamw_split(params, grads, exp_avgs, exp_avg_sqs)
    if rest:
        p = rest[0][0]
        raise TypeError(f"adamw_step (capturable): needs float32 parameters and moments, contiguous, with a "
                        f"float32/float16/bfloat16 grad of the same size; got a parameter of shape {tuple(p.shape)}, "
                        f"dtype {p.dtype}")
    if not fused:
        return
    ptrs, sizes, gtype, chunk_tensor, chunk_start, nchunks = _adamw_build_table(fused)
    capture.keep_alive(_adamw_table["buf"])
    get_kernel("adamw", "adamw_step_capturable_kernel")(
        (nchunks,), (_ADAMW_THREADS,),
        (ptrs, sizes, gtype, chunk_tensor, chunk_start, _i64(_ADAMW_CHUNK), lr, step,
         found_inf if found_inf is not None else _null_ptr(), _f32(beta1), _f32(beta2), _f32(eps),
         _f32(weight_decay)))


def _null_ptr():
    return np.uint64(0)


def adamw_step(params, grads, exp_avgs, exp_avg_sqs, lr, beta1, beta2, eps, weight_decay, step):
    fused, rest = _adamw_split(params, grads, exp_avgs, exp_avg_sqs)
    if rest:                                          # float64 master weights, non-contiguous state: reference
        reference.adamw_step(*map(list, zip(*rest)), lr, beta1, beta2, eps, weight_decay, step)
    if not fused:
        return
    ptrs, sizes, gtype, chunk_tensor, chunk_start, nchunks = _adamw_build_table(fused)
    bc1 = 1.0 - beta1 ** step
    bc2 = 1.0 - beta2 ** step
    get_kernel("adamw", "adamw_step_kernel")(
        (nchunks,), (_ADAMW_THREADS,),
        (ptrs, sizes, gtype, chunk_tensor, chunk_start, _i64(_ADAMW_CHUNK), _f32(lr), _f32(beta1), _f32(beta2),
         _f32(eps), _f32(weight_decay), _f32(bc1), _f32(bc2)))


def gemm(a, b, bias=None):
    """2-D products call cuBLAS directly (backend.cublas: the only way a GEMM can be captured in a CUDA graph);
    other shapes use CuPy's `@`, which cannot be captured. bfloat16 always goes to backend.cublas (its matmul):
    CuPy 14.2's `@` fails on batched (ndim > 2) bfloat16, having no bf16 batched GEMM."""
    if a.dtype == _BF16 and b.dtype == _BF16:
        out = cublas.matmul(a, b, bias)
        return out if out is not None else reference.gemm(a, b, bias)   # sizes past cuBLAS's int range
    out = cublas.gemm(a, b)
    if out is None:
        if capture.is_capturing():
            raise RuntimeError(f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} ({a.dtype}, {b.dtype}) inside a CUDA graph "
                               "capture: only 2-D products of one float dtype can be captured (CuPy's batched matmul "
                               "calls cuBLAS in a way that refuses capture)")
        out = a @ b
    if bias is not None:
        out += bias
    return out


def scatter_add(out, index, values):
    """out[index] += values with repeated indices accumulating: CuPy's atomic scatter. Its float sums come in the
    order the atomics land; in deterministic mode (torch.use_deterministic_algorithms) the sum runs on the host in
    index order instead, as torch's deterministic index_put_/index_add_ do in sorted order (slower: a round trip)."""
    if determinism.enabled() and out.dtype.kind == "f":
        cp = _cp()
        if capture.is_capturing():
            determinism.alert("scatter_add / index_add on CUDA inside graph capture (atomic accumulation)")
        else:
            host = cp.asnumpy(out)
            idx = tuple(cp.asnumpy(i) if isinstance(i, cp.ndarray) else i for i in index) \
                if isinstance(index, tuple) else (cp.asnumpy(index) if isinstance(index, cp.ndarray) else index)
            np.add.at(host, idx, cp.asnumpy(values))
            out[...] = cp.asarray(host)
            return
    _cupyx().scatter_add(out, index, values)


def _cupyx():
    import cupyx  # CuPy's companion package; present wherever CuPy is
    return cupyx


__all__ = [
    "layernorm_forward", "layernorm_backward",
    "softmax_cross_entropy_forward", "softmax_cross_entropy_backward",
    "attention_forward", "attention_backward",
    "gelu_forward", "gelu_backward", "bias_dropout_add_forward", "bias_dropout_add_backward",
    "adamw_step", "adamw_step_capturable", "gemm", "scatter_add", "configure_matmul", "compile_all", "get_kernel", "load_source", "source_dir",
]
