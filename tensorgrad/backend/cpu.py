"""CPU launchers for the fused kernels compiled into tensorgrad._C (csrc/cpu/*.cpp).

Each function has exactly the signature, outputs and dtypes of its namesake in reference.py. The launchers
only adapt arguments: C-contiguity, float16 and bfloat16 computed in float32 with outputs cast back (statistics
such as mean/rstd/lse stay float32, as in the reference; bfloat16 <-> float32 through _C's vectorized `cast`), and
argument checks; the C++ side also checks shapes and
raises ValueError/TypeError naming the kernel. float32 and float64 run natively.
"""
import math
import os

import numpy as np

from . import blas, reference
from ..dtypes import bfloat16 as _BF16

# libgomp's default wait policy busy-spins its idle worker threads for a while after every parallel region. When
# the GEMMs run on NumPy's OpenBLAS, its own thread pool and libgomp's then fight for the cores between kernels:
# the baby-GPT training step on 2 cores went from 48 ms to 280 ms with both pools at 2 threads, so idle OpenMP
# threads must sleep. When MKL carries the GEMMs on libgomp itself (backend/blas.py) there is one pool, and the
# default spinning is what makes short parallel regions fast (2 threads: 36 ms per step, 48 ms with PASSIVE).
# libgomp reads this when it loads (tensorgrad._C, just below), so it is set, unless the user chose, before.
if not blas.shares_openmp():
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

try:
    from tensorgrad import _C
except ImportError as e:  # never fall back silently to the slow reference
    raise ImportError(
        "tensorgrad.backend.cpu: the compiled CPU kernels (tensorgrad._C) cannot be imported "
        f"({e}). Reinstall with `pip install .` (in a checkout: `python setup.py build_ext --inplace`), "
        "or set TENSORGRAD_KERNELS=reference to use the NumPy reference kernels deliberately.") from e

_F16, _F32, _F64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)


def _compute_dtype(kernel, name, a):
    dt = a.dtype
    if dt == _F32 or dt == _F64:
        return dt
    if dt == _F16 or dt == _BF16:
        return _F32
    raise TypeError(f"tensorgrad.backend.cpu.{kernel}: {name} must be float16, bfloat16, float32 or float64, "
                    f"got shape {tuple(a.shape)} dtype {dt}")


def _c(a, dt):
    if a.dtype != dt:
        return cast(a, dt)
    # np.ascontiguousarray returns at least 1-d; keep 0-d inputs 0-d so outputs keep the reference's shapes.
    out = np.ascontiguousarray(a, dtype=dt)
    return out if out.ndim == a.ndim else out.reshape(a.shape)


def _cast(a, dt):
    return a if a.dtype == dt else cast(a, dt)


# -------------------------------------------------------------------------------------------------- binary
def binary(op, a, b):
    """reference.binary; C-contiguous float32/float64 operands of one dtype and one shape (or one of them a scalar
    or 0-d) on _C's threads (csrc/cpu/binary.cpp), everything else through NumPy. Called for large operands only
    (ops/elementwise.py): the pass is memory-bound and NumPy runs it on one thread."""
    sa, sb = np.ndim(a) == 0, np.ndim(b) == 0
    x = a if not sa else b
    y = b if not sb else a
    if (x.__class__ is np.ndarray and (x.dtype == _F32 or x.dtype == _F64) and x.flags.c_contiguous
            and not (sa and sb) and np.result_type(a, b) == x.dtype
            and (sa or sb or (y.__class__ is np.ndarray and y.dtype == x.dtype and y.shape == x.shape
                              and y.flags.c_contiguous))):
        return _C.binary(op, np.asarray(a, x.dtype), np.asarray(b, x.dtype))
    return reference.binary(op, a, b)


def where(cond, a, b):
    """reference.where; a C-contiguous bool cond with float32/float64 a and b of one dtype, each of cond's shape
    (C-contiguous) or 0-d, through _C.where (csrc/cpu/where.cpp: a branchless select, threaded), else NumPy."""
    dt = a.dtype if np.ndim(a) else b.dtype if np.ndim(b) else np.result_type(a, b)
    if (cond.__class__ is np.ndarray and cond.dtype == np.bool_ and cond.flags.c_contiguous
            and (dt == _F32 or dt == _F64) and np.result_type(a, b) == dt
            and all(np.ndim(x) == 0 or (x.__class__ is np.ndarray and x.shape == cond.shape and x.flags.c_contiguous)
                    for x in (a, b))):
        return _C.where(cond, np.asarray(a, dt), np.asarray(b, dt))
    return reference.where(cond, a, b)


# ---------------------------------------------------------------------------------------------------- reduce_sum
def reduce_sum(a, axis=None, keepdims=False):
    """reference.reduce_sum; a C-contiguous float32/float64 array summed over one run of adjacent dims (all of them,
    the last ones, the leading ones: a bias gradient) through _C.reduce_sum (csrc/cpu/reduce_sum.cpp, threaded, float
    blocks into double accumulators), any other through NumPy. Called for large arrays only (ops/util.py's fsum)."""
    nd = a.ndim
    if a.__class__ is not np.ndarray or not (a.dtype == _F32 or a.dtype == _F64) or not a.flags.c_contiguous or nd == 0:
        return reference.reduce_sum(a, axis, keepdims)
    if axis is None:
        axes = range(nd)
    else:
        axes = sorted(d % nd for d in ((axis,) if isinstance(axis, int) else axis))
        if not axes or axes[-1] - axes[0] != len(axes) - 1:  # (repeated dims fail this too: NumPy raises)
            return reference.reduce_sum(a, axis, keepdims)
    first, last = axes[0], axes[-1] + 1
    shape = a.shape
    out = _C.reduce_sum(a, math.prod(shape[:first]), math.prod(shape[first:last]), math.prod(shape[last:]))
    kept = shape[:first] + (1,) * (last - first) + shape[last:] if keepdims else shape[:first] + shape[last:]
    return out.reshape(kept)


# ---------------------------------------------------------------------------------------------------- cast
def cast(a, dtype):
    """reference.cast (a new array, PyTorch's rounding); float32/float64 <-> bfloat16 through _C.to_bfloat16 /
    from_bfloat16 (csrc/cpu/cast.cpp), C-ordered. ml_dtypes' astype, one element at a time, took 725 us for
    768K floats to bfloat16 (307 us back) against 189 us (188 us) for the kernel at one thread."""
    dtype = np.dtype(dtype)
    if dtype == _BF16 and (a.dtype == _F32 or a.dtype == _F64):
        return _C.to_bfloat16(np.ascontiguousarray(a) if a.ndim else a).view(_BF16)
    if a.dtype == _BF16 and (dtype == _F32 or dtype == _F64):
        out = _C.from_bfloat16((np.ascontiguousarray(a) if a.ndim else a).view(np.uint16))
        return out if dtype == _F32 else out.astype(dtype)
    if _HAVE_F16:  # float32 <-> float16 (float64 -> float16 rounds once from float64: NumPy's)
        if dtype == _F16 and a.dtype == _F32:
            return _C.to_float16(np.ascontiguousarray(a) if a.ndim else a)
        if a.dtype == _F16 and (dtype == _F32 or dtype == _F64):
            out = _C.from_float16(np.ascontiguousarray(a) if a.ndim else a)
            return out if dtype == _F32 else out.astype(dtype)
    return reference.cast(a, dtype)


# F16C / AVX-512 float16 conversions (csrc/cpu/cast.cpp): 0.58 vs 7.4 ms (NumPy's astype) for 2.4M floats to
# float16 at one thread, 0.62 vs 3.2 ms back
_HAVE_F16 = hasattr(_C, "to_float16")


# ----------------------------------------------------------------------------------------------- layernorm
def layernorm_forward(x, weight, bias, eps):
    ct = _compute_dtype("layernorm_forward", "x", x)
    y, mean, rstd = _C.layernorm_forward(_c(x, ct), None if weight is None else _c(weight, ct),
                                         None if bias is None else _c(bias, ct), float(eps))
    return _cast(y, x.dtype), mean, rstd


def layernorm_backward(dy, x, weight, mean, rstd):
    ct = _compute_dtype("layernorm_backward", "x", x)
    dx, dweight, dbias = _C.layernorm_backward(_c(dy, ct), _c(x, ct), None if weight is None else _c(weight, ct),
                                               _c(mean, ct), _c(rstd, ct))
    if weight is None:
        return _cast(dx, x.dtype), None, _cast(dbias, x.dtype)
    return _cast(dx, x.dtype), _cast(dweight, weight.dtype), _cast(dbias, weight.dtype)


def layernorm_double_backward(a, dy, x, weight, mean, rstd, need_dy, need_x, need_w):
    ct = _compute_dtype("layernorm_double_backward", "x", x)
    d_dy, d_x, d_w = _C.layernorm_double_backward(
        _c(a, ct), _c(dy, ct), _c(x, ct), None if weight is None else _c(weight, ct), _c(mean, ct), _c(rstd, ct),
        bool(need_dy), bool(need_x), bool(need_w))
    return (None if d_dy is None else _cast(d_dy, x.dtype), None if d_x is None else _cast(d_x, x.dtype),
            None if d_w is None else _cast(d_w, weight.dtype))


# ------------------------------------------------------------------------------------ softmax cross-entropy
def softmax_cross_entropy_forward(logits, target, ignore_index, label_smoothing):
    ct = _compute_dtype("softmax_cross_entropy_forward", "logits", logits)
    return _C.softmax_cross_entropy_forward(_c(logits, ct), _c(target, np.int64), int(ignore_index),
                                            float(label_smoothing))


def softmax_cross_entropy_backward(logits, target, stats, dloss, ignore_index, label_smoothing):
    ct = _compute_dtype("softmax_cross_entropy_backward", "logits", logits)
    dx = _C.softmax_cross_entropy_backward(_c(logits, ct), _c(target, np.int64), _c(stats, ct), _c(dloss, ct),
                                           int(ignore_index), float(label_smoothing))
    return _cast(dx, logits.dtype)


# ----------------------------------------------------------------------------------------------- attention
def attention_forward(q, k, v, causal, scale, dropout_p=0.0, seed=0, offset=0):
    ct = _compute_dtype("attention_forward", "q", q)
    out, lse = _C.attention_forward(_c(q, ct), _c(k, ct), _c(v, ct), bool(causal), float(scale), float(dropout_p),
                                    int(seed), int(offset))
    return _cast(out, q.dtype), lse


def attention_backward(dout, q, k, v, out, lse, causal, scale, dropout_p=0.0, seed=0, offset=0):
    ct = _compute_dtype("attention_backward", "q", q)
    dq, dk, dv = _C.attention_backward(_c(dout, ct), _c(q, ct), _c(k, ct), _c(v, ct), _c(out, ct), _c(lse, ct),
                                       bool(causal), float(scale), float(dropout_p), int(seed), int(offset))
    return _cast(dq, q.dtype), _cast(dk, k.dtype), _cast(dv, v.dtype)


def attention_forward_packed(qkv, n_head, causal, scale, dropout_p=0.0, seed=0, offset=0):
    ct = _compute_dtype("attention_forward_packed", "qkv", qkv)
    out, lse = _C.attention_forward_packed(_c(qkv, ct), int(n_head), bool(causal), float(scale), float(dropout_p),
                                           int(seed), int(offset))
    return _cast(out, qkv.dtype), lse


def attention_backward_packed(dout, qkv, out, lse, n_head, causal, scale, dropout_p=0.0, seed=0, offset=0):
    ct = _compute_dtype("attention_backward_packed", "qkv", qkv)
    dqkv = _C.attention_backward_packed(_c(dout, ct), _c(qkv, ct), _c(out, ct), _c(lse, ct), int(n_head),
                                        bool(causal), float(scale), float(dropout_p), int(seed), int(offset))
    return _cast(dqkv, qkv.dtype)


# ----------------------------------------------------------------------------------------------- embedding
def embedding_backward(idx, dy, num_embeddings):
    ct = _compute_dtype("embedding_backward", "dy", dy)
    dw = _C.embedding_backward(_c(idx, np.int64), _c(dy, ct), int(num_embeddings))
    return _cast(dw, dy.dtype)


# ---------------------------------------------------------------------------------------------------- gelu
def _bits(a):
    """A bfloat16 array as the C-contiguous uint16 bits the bfloat16-native kernels take (0-d stays 0-d)."""
    return (np.ascontiguousarray(a) if a.ndim else np.asarray(a)).view(np.uint16)


def gelu_forward(x, approximate):
    if x.dtype == _BF16:  # natively: read and written at 2 bytes, computed in float32 (no cast around the kernel)
        return _C.gelu_forward(_bits(x), approximate).view(_BF16)
    ct = _compute_dtype("gelu_forward", "x", x)
    return _cast(_C.gelu_forward(_c(x, ct), approximate), x.dtype)


def gelu_backward(dy, x, approximate):
    if x.dtype == _BF16 and dy.dtype == _BF16:
        return _C.gelu_backward(_bits(dy), _bits(x), approximate).view(_BF16)
    ct = _compute_dtype("gelu_backward", "x", x)
    return _cast(_C.gelu_backward(_c(dy, ct), _c(x, ct), approximate), x.dtype)


def gelu_double_backward(gg, dy, x, approximate, need_dy, need_x):
    ct = _compute_dtype("gelu_double_backward", "x", x)   # (bfloat16 and float16 in float32)
    d_dy, d_x = _C.gelu_double_backward(_c(gg, ct), _c(dy, ct), _c(x, ct), approximate, bool(need_dy), bool(need_x))
    return (None if d_dy is None else _cast(d_dy, x.dtype)), (None if d_x is None else _cast(d_x, x.dtype))


def pack_b(b, m):
    """reference.pack_b with b packed once by MKL (blas.PackedB) where it can be; else products through gemm."""
    packed = blas.pack_b(b, m)
    if packed is None:
        return lambda a, bias=None: gemm(a, b, bias)
    return lambda a, bias=None: packed.matmul(a, bias, _C.linear_bias_fill)


# ------------------------------------------------------------------------------------------------ rnn cells
def _native(*arrays):
    """float32 or float64, one dtype for all: the dtypes csrc/cpu/rnn_cell.cpp computes in."""
    dt = arrays[0].dtype
    return (dt == _F32 or dt == _F64) and all(a.dtype == dt for a in arrays)


def lstm_cell_forward(xw, hw, c):
    if not _native(xw, hw, c):
        return reference.lstm_cell_forward(xw, hw, c)
    return _C.lstm_cell_forward(_c(xw, c.dtype), _c(hw, c.dtype), _c(c, c.dtype))


def lstm_cell_backward(dhc, act, c, c_new):
    if not _native(dhc, act, c, c_new):
        return reference.lstm_cell_backward(dhc, act, c, c_new)
    dt = c.dtype
    return _C.lstm_cell_backward(_c(dhc, dt), _c(act, dt), _c(c, dt), _c(c_new, dt))


def gru_cell_forward(xw, hw, h):
    if not _native(xw, hw, h):
        return reference.gru_cell_forward(xw, hw, h)
    return _C.gru_cell_forward(_c(xw, h.dtype), _c(hw, h.dtype), _c(h, h.dtype))


def gru_cell_backward(dh_new, act, hw, h):
    if not _native(dh_new, act, hw, h):
        return reference.gru_cell_backward(dh_new, act, hw, h)
    dt = h.dtype
    return _C.gru_cell_backward(_c(dh_new, dt), _c(act, dt), _c(hw, dt), _c(h, dt))


# ------------------------------------------------------------------------------------------------------ ctc
def _i64(a):
    return np.ascontiguousarray(a, dtype=np.int64)


def ctc_loss_forward(log_probs, labels, input_lengths, target_lengths):
    """reference.ctc_loss_forward through _C (csrc/cpu/ctc.cpp) for float32/float64 log_probs; others through the
    reference (ops/ctc.py passes only these two)."""
    if not (log_probs.dtype == _F32 or log_probs.dtype == _F64):
        return reference.ctc_loss_forward(log_probs, labels, input_lengths, target_lengths)
    return _C.ctc_loss_forward(np.ascontiguousarray(log_probs), _i64(labels), _i64(input_lengths),
                               _i64(target_lengths))


def ctc_loss_backward(grad, log_probs, alpha, nll, labels, input_lengths, target_lengths, zero_infinity):
    if not (log_probs.dtype == _F32 or log_probs.dtype == _F64):
        return reference.ctc_loss_backward(grad, log_probs, alpha, nll, labels, input_lengths, target_lengths,
                                           zero_infinity)
    return _C.ctc_loss_backward(np.ascontiguousarray(grad, dtype=_F64), np.ascontiguousarray(log_probs),
                                np.ascontiguousarray(alpha, dtype=_F64), np.ascontiguousarray(nll, dtype=_F64),
                                _i64(labels), _i64(input_lengths), _i64(target_lengths), bool(zero_infinity))


# -------------------------------------------------------------------------------------------- bias_dropout_add
def bias_dropout_add_forward(x, h, bias, p, seed, offset):
    """reference.bias_dropout_add_forward through _C (csrc/cpu/bias_dropout_add.cpp) for float32/float64 of one
    dtype; others (bfloat16, float16, mixed) through the reference."""
    if (h.dtype == _F32 or h.dtype == _F64) and x.dtype == h.dtype and (bias is None or bias.dtype == h.dtype) \
            and x.shape == h.shape:
        return _C.bias_dropout_add_forward(np.ascontiguousarray(x), np.ascontiguousarray(h),
                                           None if bias is None else np.ascontiguousarray(bias), p, seed, offset)
    return reference.bias_dropout_add_forward(x, h, bias, p, seed, offset)


def bias_dropout_add_backward(g, p, seed, offset):
    if g.dtype == _F32 or g.dtype == _F64:
        return _C.bias_dropout_add_backward(np.ascontiguousarray(g), p, seed, offset)
    return reference.bias_dropout_add_backward(g, p, seed, offset)


# --------------------------------------------------------------------------------------------------- adamw
def adamw_step(params, grads, exp_avgs, exp_avg_sqs, lr, beta1, beta2, eps, weight_decay, step):
    """In place, like the reference. Arrays that are not C-contiguous are updated through a contiguous copy."""
    params, grads, exp_avgs, exp_avg_sqs = list(params), list(grads), list(exp_avgs), list(exp_avg_sqs)
    if not len(params) == len(grads) == len(exp_avgs) == len(exp_avg_sqs):
        raise ValueError("tensorgrad.backend.cpu.adamw_step: params, grads, exp_avgs, exp_avg_sqs must have equal "
                         f"lengths, got {len(params)}, {len(grads)}, {len(exp_avgs)}, {len(exp_avg_sqs)}")
    writeback = []
    for i, p in enumerate(params):
        if p.dtype != _F32 and p.dtype != _F64:
            raise TypeError(f"tensorgrad.backend.cpu.adamw_step: params[{i}] must be float32 or float64 "
                            f"(master weights), got shape {tuple(p.shape)} dtype {p.dtype}")
        g = grads[i]
        if g.dtype != p.dtype or not g.flags.c_contiguous:
            grads[i] = _c(g, p.dtype)
        for lst in (params, exp_avgs, exp_avg_sqs):
            a = lst[i]
            if not a.flags.c_contiguous:
                lst[i] = np.ascontiguousarray(a)
                writeback.append((a, lst[i]))
    _C.adamw_step(params, grads, exp_avgs, exp_avg_sqs, float(lr), float(beta1), float(beta2), float(eps),
                  float(weight_decay), int(step))
    for orig, tmp in writeback:
        orig[...] = tmp


def gemm(a, b, bias=None):
    """2-D products through MKL (blas.gemm, the bias written by _C's threaded fill and added inside the GEMM),
    batched ones through its strided-batch GEMM where that pays, else NumPy with operands BLAS can read.
    bfloat16 through MKL's cblas_gemm_bf16bf16f32 (AMX / AVX512-BF16), float32 accumulation (the bias included)
    rounded once, or on a CPU without bf16 hardware as an sgemm of the widened operands (blas.bf16_gemm_path).
    float16 as an sgemm of the widened operands, the bias added in float32, rounded once (as the reference): with
    the F16C casts this took 1.02-1.41x sgemm's time at the shakespeare-char shapes on an Ice Lake Xeon (1.29-1.93x
    at the baby config's), MKL's cblas_gemm_f16f16f32 (no float16 matrix hardware there, nor on the Sapphire Rapids
    Xeon) 1.47-3.92x, and the same upcast through NumPy's casts 2.3-4.8x (benchmarks/bench_bf16_cpu.py,
    results/bf16_cpu_nobf16hw.json)."""
    if a.dtype == _BF16 and b.dtype == _BF16:
        if blas.bf16_gemm_path() == "upcast":
            return cast(gemm(_widen(a), _widen(b), None if bias is None else _c(bias, _F32)), _BF16)
        if a.ndim == 2 and b.ndim == 2:
            out = blas.gemm_half(a, b, bias, _C.linear_bias_fill)
            if out is not None:
                return cast(out, _BF16)
        elif bias is None:
            out = blas.gemm_half_batched(a, b)
            if out is not None:
                return cast(out, _BF16)
        return reference.gemm(a, b, bias)
    if a.dtype == _F16:
        return cast(gemm(_widen(a), _widen(b), None if bias is None else _c(bias, _F32)), _F16)
    if a.ndim == 2 and b.ndim == 2:
        out = blas.gemm(a, b, bias, _C.linear_bias_fill)
        if out is not None:
            return out
        out = blas.as_operand(a) @ blas.as_operand(b)
    else:
        out = blas.gemm_batched(a, b)
        if out is None:
            if b.ndim >= 3 and b.strides[-2] == b.itemsize != b.strides[-1] and b.size >= 4096:
                # NumPy's stacked matmul reads a right operand transposed in its last two dims (q @ k.transpose(-2,
                # -1), a backward's g @ w^T) ~1.25x slower than it copies it into C order and multiplies: 0.147 vs
                # 0.115 ms at 48 x (64x32 @ 32x64), alternating in one process
                b = np.ascontiguousarray(b)
            out = a @ b
    if bias is not None:
        out += bias
    return out


def _widen(x):
    """bfloat16 / float16 -> float32 (exact) in x's layout when that is C order or its transpose (a Linear's
    weight.T), so the GEMM reads it in place as it would have read the half-precision operand."""
    if x.dtype == _F32:
        return x
    if x.ndim == 2 and not x.flags.c_contiguous and x.T.flags.c_contiguous:
        return cast(x.T, _F32).T
    return cast(x, _F32)


def adamw_step_capturable(params, grads, exp_avgs, exp_avg_sqs, lr, step, found_inf, beta1, beta2, eps,
                          weight_decay):
    """The CPU has no graph to capture: read lr/step/found_inf on the host and take the fused step."""
    if found_inf is not None and float(found_inf) != 0:
        return
    adamw_step(params, grads, exp_avgs, exp_avg_sqs, float(lr), beta1, beta2, eps, weight_decay, float(step))
