"""bfloat16 on the CUDA path: the `_bf16` kernels (layernorm, softmax cross-entropy, gelu, AdamW's bf16 gradients),
bfloat16 GEMMs through backend.cublas (2-D and batched: CuPy 14.2's own batched bf16 matmul fails), autocast("cuda",
dtype=bfloat16) with torch's CUDA policy, and a tiny GPT trained under it.

The CPU tests check what needs no GPU: the cuBLAS argument plan (emulated with NumPy strides over the operands' own
memory, as cuBLAS would read it), the launchers' dispatch tables against the kernel entries nvcc actually emits, and
autocast's refusal on a CuPy without bfloat16. The GPU tests (@pytest.mark.gpu) skip without CuPy and a GPU.
"""
import importlib
import os

import numpy as np
import pytest
from numpy.lib.stride_tricks import as_strided

import tensorgrad as tg
import tensorgrad.nn.functional as F
from tensorgrad.amp import autocast
from tensorgrad.backend import cublas, cuda as cu, cuda_available, reference

from helpers import ptx_entries, train_tiny_gpt

BF = tg.bfloat16
F32, F16 = np.dtype(np.float32), np.dtype(np.float16)


def gpu(fn):
    return pytest.mark.gpu(pytest.mark.skipif(not cuda_available(), reason="needs CuPy and a CUDA GPU")(fn))


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
try:
    from numpy.lib.array_utils import byte_bounds
except ImportError:  # NumPy < 2
    byte_bounds = np.byte_bounds


# ------------------------------------------------------------------------------------ cuBLAS plan (CPU)
def _emulate(plan, a2, b2, shape):
    """What cublasGemm(StridedBatched)Ex computes for `plan` reading a2's and b2's memory from their first elements
    (column-major, leading dimension and batch stride in elements), as the row-major (..., M, N) output."""
    op_b, op_a, n, m, k, ldb, sb, lda, sa, ldc, sc, count = plan

    def read(x, op, rows, cols, ld, stride):          # op(X) is rows x cols
        r, c = (rows, cols) if op == cublas._OP_N else (cols, rows)
        lo, hi = byte_bounds(x)
        last = x.__array_interface__["data"][0] + ((count - 1) * stride + (r - 1) + (c - 1) * ld) * x.itemsize
        assert last < hi, "the plan reads past the operand's memory"
        mat = as_strided(x, shape=(count, r, c), strides=(stride * x.itemsize, x.itemsize, ld * x.itemsize))
        return mat if op == cublas._OP_N else mat.transpose(0, 2, 1)

    ct = read(b2, op_b, n, k, ldb, sb) @ read(a2, op_a, k, m, lda, sa)    # (count, n, m): C^T = B^T A^T
    out = np.zeros(int(np.prod(shape)), a2.dtype)
    as_strided(out, shape=(count, n, m), strides=(sc * out.itemsize, out.itemsize, ldc * out.itemsize))[...] = ct
    return out.reshape(shape)


def _padded(shape, order, pad=3, seed=0):
    """A 2-D (shape) view into a larger buffer: its rows (order C) or columns (order F) lie further apart than
    packed, so that the leading dimension is not the matrix's size."""
    r, c = shape
    if order == "C":
        return np.random.default_rng(seed).standard_normal((r, c + pad))[:, :c]
    return np.asfortranarray(np.random.default_rng(seed).standard_normal((r + pad, c)))[:r, :]


def _arr(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


def _t(x):
    return x.swapaxes(-1, -2)


PLAN_CASES = {
    "2d_cc": lambda: (_arr((5, 7), 1), _arr((7, 3), 2)),
    "2d_fc": lambda: (np.asfortranarray(_arr((5, 7), 1)), _arr((7, 3), 2)),
    "2d_cf": lambda: (_arr((5, 7), 1), np.asfortranarray(_arr((7, 3), 2))),
    "2d_ff": lambda: (np.asfortranarray(_arr((5, 7), 1)), np.asfortranarray(_arr((7, 3), 2))),
    "row_vector": lambda: (_arr((1, 9), 1), _arr((9, 4), 2)),
    "k1_n1": lambda: (_arr((6, 1), 1), _arr((1, 1), 2)),
    "column_out": lambda: (_arr((5, 7), 1), _arr((7, 1), 2)),
    "padded_rows": lambda: (_padded((5, 7), "C"), _padded((7, 3), "C", seed=1)),
    "padded_cols": lambda: (_padded((5, 7), "F"), _padded((7, 3), "F", seed=1)),
    "batched": lambda: (_arr((3, 5, 7), 1), _arr((3, 7, 4), 2)),
    "batched_transposed": lambda: (_t(_arr((3, 7, 5), 1)), _t(_arr((3, 4, 7), 2))),
    "batch_times_weight": lambda: (_arr((3, 5, 7), 1), _arr((7, 4), 2)),               # folds into one GEMM
    "4d_times_weight_t": lambda: (_arr((2, 3, 5, 7), 1), _t(_arr((4, 7), 2))),
    "transposed_batch_times_weight": lambda: (_t(_arr((3, 7, 5), 1)), _arr((7, 4), 2)),  # stride-0 batch of b
    "weight_times_batch": lambda: (_arr((5, 7), 1), _arr((3, 7, 4), 2)),
    "broadcast_1_vs_b": lambda: (_arr((1, 5, 7), 1), _arr((3, 7, 4), 2)),
    "broadcast_mixed": lambda: (_arr((2, 1, 5, 7), 1), _arr((1, 3, 7, 4), 2)),          # needs copies
    "permuted_batch": lambda: (_arr((5, 3, 7), 1).transpose(1, 0, 2), _arr((3, 7, 4), 2)),
    "strided_slice": lambda: (_arr((5, 14), 1)[:, ::2], _arr((7, 3), 2)),                 # needs a copy
    "batched_strided_slice": lambda: (_arr((4, 5, 7), 1)[::2], _arr((2, 7, 3), 2)[:, :, ::-1]),
    "vec_vec": lambda: (_arr(7, 1), _arr(7, 2)),
    "vec_batched": lambda: (_arr(7, 1), _arr((3, 7, 4), 2)),
    "batched_vec": lambda: (_arr((3, 5, 7), 1), _arr(7, 2)),
    "attention_like": lambda: (_arr((2, 3, 6, 8), 1), _t(_arr((2, 3, 5, 8), 2))),
}


@pytest.mark.parametrize("case", sorted(PLAN_CASES))
def test_cublas_plan_reads_what_numpy_multiplies(case):
    a, b = PLAN_CASES[case]()
    want = np.matmul(a, b)
    shape, out_shape, a2, b2, plan = cublas._prepare(np, a, b)
    assert out_shape == want.shape
    assert plan is not None
    got = _emulate(plan, a2, b2, shape).reshape(out_shape)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_cublas_plan_copies_only_what_it_cannot_read():
    a, b = _t(_arr((3, 7, 5), 1)), _arr((3, 7, 4), 2)
    _, _, a2, b2, plan = cublas._prepare(np, a, b)
    assert np.shares_memory(a2, a) and np.shares_memory(b2, b) and plan[-1] == 3     # one strided-batched call
    a = _arr((3, 5, 7), 1)
    _, _, a2, _, plan = cublas._prepare(np, a, _arr((7, 4), 2))
    assert np.shares_memory(a2, a) and plan[-1] == 1 and plan[3] == 15               # folded: one GEMM of 15 rows
    a = _arr((5, 14), 1)[:, ::2]
    _, _, a2, _, _ = cublas._prepare(np, a, _arr((7, 3), 2))
    assert not np.shares_memory(a2, a) and a2.flags.c_contiguous


def test_cublas_prepare_edge_cases():
    assert cublas._prepare(np, _arr((5, 7), 1), _arr((6, 3), 2)) is None             # K mismatch
    assert cublas._prepare(np, _arr((2, 5, 7), 1), _arr((3, 7, 3), 2)) is None       # batch dims do not broadcast
    shape, out_shape, a2, b2, plan = cublas._prepare(np, _arr((5, 0), 1), _arr((0, 3), 2))
    assert (shape, out_shape, a2, b2, plan) == ((5, 3), (5, 3), None, None, None)    # K = 0: zeros (or the bias)
    assert cublas._prepare(np, _arr((0, 5, 7), 1), _arr((7, 3), 2))[:2] == ((0, 5, 3), (0, 5, 3))
    assert cublas._plan((5, 7), (56, 8), (7, 3), (12, 4), 8) is None                  # strides not whole elements
    assert cublas._plan((2 ** 31, 7), (56, 8), (7, 3), (24, 8), 8) is None            # M past cuBLAS's int


def test_cublas_dtype_tables_cover_bfloat16():
    assert cublas._CUDA_R[BF] == 14                    # CUDA_R_16BF
    assert cublas._COMPUTE[BF] == cublas._COMPUTE[F16] == 68   # CUBLAS_COMPUTE_32F: fp32 accumulation
    assert cublas._CUDA_R[F16] == 2 and cublas._CUDA_R[F32] == 0


# ---------------------------------------------------------------------------------- dispatch tables (CPU)
def _ptx_entries(name):
    """The extern "C" kernel names nvcc emits for csrc/cuda/<name>.cu (what RawModule.get_function can find)."""
    return set(ptx_entries(name))


def test_launchers_accept_bfloat16_only_where_the_kernels_exist(monkeypatch):
    monkeypatch.setattr(cu, "_aligned", lambda nbytes, *arrays: True)   # (reads CuPy pointers)
    x = np.zeros((4, 8), BF)
    assert cu._SUFFIX[BF] == "bf16" and cu._ADAMW_GTYPE == {F32: 0, F16: 1, BF: 2}   # adamw.cu's gtype codes
    assert cu._supported(x, x) and not cu._supported(x, x.astype(F32))
    for file in ("layernorm", "softmax_cross_entropy", "gelu"):
        entries = _ptx_entries(file)
        for dt in (F32, F16, BF):
            for direction in ("forward", "backward"):
                assert f"{file}_{direction}_kernel_{cu._SUFFIX[dt]}" in entries
    assert {"adamw_step_kernel", "adamw_step_capturable_kernel"} <= _ptx_entries("adamw")
    # attention and bias_dropout_add look their kernels up by _SUFFIX too: every dtype their gates let through
    # (all three) must have entries, and the tensor-core ones for the dtypes _attn_use_tc sends there.
    for dt in (F32, F16, BF):
        q = np.zeros((1, 2, 3, 64), dt)
        assert cu._attn_kernel_ok(q, q, q) and cu._supported(q, q)
        sfx = cu._SUFFIX[dt]
        for d in (64, 128):
            assert {f"attention_forward_kernel_{sfx}_d{d}", f"attention_backward_kernel_{sfx}_d{d}"} \
                <= _ptx_entries("attention")
            if cu._attn_use_tc(np.zeros((1, 2, 3, d), dt)):
                assert {f"attention_forward_kernel_{sfx}_tc_d{d}", f"attention_backward_kernel_{sfx}_tc_d{d}"} \
                    <= _ptx_entries("attention_tc")
        assert f"attention_delta_kernel_{sfx}" in _ptx_entries("attention")
        assert {f"bias_dropout_add_forward_kernel_{sfx}", f"bias_dropout_add_backward_kernel_{sfx}"} \
            <= _ptx_entries("bias_dropout_add")


# ------------------------------------------------------------------------------------------- autocast (CPU)
class _CupyWithout:
    @staticmethod
    def empty(shape, dtype=None):
        raise TypeError(f"Unsupported dtype {dtype}")


class _CupyWith:
    @staticmethod
    def empty(shape, dtype=None):
        return np.empty(shape, dtype)


def test_cuda_bf16_autocast_refused_where_cupy_has_no_bfloat16(monkeypatch):
    mod = importlib.import_module("tensorgrad.amp.autocast")   # the module (tensorgrad.amp.autocast is the class)
    monkeypatch.setattr(mod, "cuda_available", lambda: True)
    monkeypatch.setattr(mod, "_get_cupy", lambda: _CupyWithout)
    with pytest.raises(RuntimeError, match="does not support bfloat16"):
        autocast("cuda", dtype=BF)
    assert autocast("cuda", dtype=tg.float16).enabled                    # float16 does not ask
    assert not autocast("cuda", dtype=BF, enabled=False).enabled         # nor does a disabled one
    monkeypatch.setattr(mod, "_get_cupy", lambda: _CupyWith)
    ac = autocast("cuda", dtype=BF)
    assert ac.enabled and ac.dtype == BF


# ======================================================================================================== GPU
def _cp():
    import cupy
    return cupy


def _torch_cuda():
    try:
        import torch
    except ImportError:
        return None
    return torch if torch.cuda.is_available() else None


def _bf16(shape, seed, scale=1.0, shift=0.0):
    """A float32 NumPy array already rounded to bfloat16 values, and the same values as bfloat16."""
    x = (np.random.default_rng(seed).standard_normal(shape) * scale + shift).astype(np.float32).astype(BF)
    return x.astype(np.float32), x


def _f32(a):
    a = _cp().asnumpy(a) if not isinstance(a, np.ndarray) else a
    return a.astype(np.float32)


def _close(got, want, rtol=1.6e-2, atol=1e-2, what=""):
    got, want = _f32(got), _f32(want)
    assert got.shape == want.shape, what
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=what)


@pytest.fixture
def kernels_only(monkeypatch):
    """Any launcher that falls back to the reference fails the test: bf16 must run the `_bf16` kernels."""
    class _NoReference:
        def __getattr__(self, name):
            raise AssertionError(f"backend.cuda fell back to reference.{name} for a bfloat16 input")
    monkeypatch.setattr(cu, "reference", _NoReference())


def _torch_bf16(x32):
    torch = _torch_cuda()
    return torch.from_numpy(np.ascontiguousarray(x32)).cuda().bfloat16()


@gpu
@pytest.mark.parametrize("shape", [(1, 7), (33, 1000), (300, 64), (4, 4096)])
@pytest.mark.parametrize("affine", [True, False])
def test_layernorm_bf16_kernel(shape, affine, kernels_only):
    cp = _cp()
    x32, xb = _bf16(shape, 1, 3.0, 1.0)
    dy32, dyb = _bf16(shape, 2)
    c = shape[1]
    w32 = np.random.default_rng(3).standard_normal(c).astype(np.float32) if affine else None
    b32 = np.random.default_rng(4).standard_normal(c).astype(np.float32) if affine else None
    x, dy = cp.asarray(xb), cp.asarray(dyb)
    w, b = (None, None) if not affine else (cp.asarray(w32), cp.asarray(b32))
    y, mean, rstd = cu.layernorm_forward(x, w, b, 1e-5)
    assert y.dtype == BF and mean.dtype == rstd.dtype == np.float32
    y_ref, mean_ref, rstd_ref = reference.layernorm_forward(x32, w32, b32, 1e-5)
    _close(y, y_ref, what="y vs float32 reference")
    _close(mean, mean_ref, rtol=1e-4, atol=1e-5)
    _close(rstd, rstd_ref, rtol=1e-4, atol=1e-5)
    dx, dw, db = cu.layernorm_backward(dy, x, w, mean, rstd)
    assert dx.dtype == BF and db.dtype == (np.float32 if affine else BF)
    dx_ref, dw_ref, db_ref = reference.layernorm_backward(dy32, x32, w32, _f32(mean), _f32(rstd))
    scale = float(np.abs(dx_ref).max())
    _close(dx, dx_ref, atol=1e-2 * scale, what="dx")
    _close(db, db_ref, rtol=2e-2, atol=2e-2 * np.sqrt(shape[0]), what="dbias")
    if affine:
        _close(dw, dw_ref, rtol=1e-4, atol=1e-3, what="dweight")     # float32 sums of bf16 inputs
    torch = _torch_cuda()
    if torch is not None:
        xt = _torch_bf16(x32).requires_grad_()
        wt = None if w32 is None else torch.from_numpy(w32).cuda().bfloat16()
        bt = None if b32 is None else torch.from_numpy(b32).cuda().bfloat16()
        yt = torch.nn.functional.layer_norm(xt, (c,), wt, bt, 1e-5)
        # torch's weight is bf16 (ours is float32): one more rounding on its side
        _close(y, yt.detach().float().cpu().numpy(), rtol=3e-2, atol=3e-2, what="y vs torch bf16")
        yt.backward(_torch_bf16(dy32))
        if not affine:
            _close(dx, xt.grad.float().cpu().numpy(), atol=2e-2 * scale, what="dx vs torch bf16")


@gpu
@pytest.mark.parametrize("n,v,ls,mag", [(1, 65, 0.0, 1.0), (37, 65, 0.0, 1.0), (19, 1000, 0.1, 1.0),
                                        (64, 50304, 0.0, 1.0), (16, 777, 0.2, 50.0)])
def test_softmax_cross_entropy_bf16_kernel(n, v, ls, mag, kernels_only):
    cp = _cp()
    x32, xb = _bf16((n, v), 5, mag)
    target_np = np.random.default_rng(6).integers(0, v, n).astype(np.int64)
    target_np[::3] = -100
    dloss_np = np.random.default_rng(7).standard_normal(n).astype(np.float32)
    logits, target, dloss = cp.asarray(xb), cp.asarray(target_np), cp.asarray(dloss_np)
    loss, stats = cu.softmax_cross_entropy_forward(logits, target, -100, ls)
    assert loss.dtype == stats.dtype == np.float32
    loss_ref, stats_ref = reference.softmax_cross_entropy_forward(x32, target_np, -100, ls)
    # the inputs are the same bf16 values and the math is float32: only float32 rounding apart
    _close(loss, loss_ref, rtol=1e-4, atol=1e-4 * mag, what="loss")
    _close(stats, stats_ref, rtol=1e-4, atol=1e-4 * mag, what="stats")
    dl = cu.softmax_cross_entropy_backward(logits, target, stats, dloss, -100, ls)
    assert dl.dtype == BF
    dl_ref = reference.softmax_cross_entropy_backward(x32, target_np, _f32(stats), dloss_np, -100, ls)
    _close(dl, dl_ref, rtol=1.6e-2, atol=1e-3, what="dlogits")
    assert not _f32(dl)[::3].any()
    buf = logits.copy()
    assert cu.softmax_cross_entropy_backward(buf, target, stats, dloss, -100, ls, inplace=True).data.ptr == buf.data.ptr
    _close(buf, dl, rtol=0, atol=0, what="in place")
    torch = _torch_cuda()
    if torch is not None:
        xt = _torch_bf16(x32).requires_grad_()
        tt = torch.from_numpy(target_np).cuda()
        lt = torch.nn.functional.cross_entropy(xt.float(), tt, ignore_index=-100, label_smoothing=ls, reduction="none")
        _close(loss, lt.detach().cpu().numpy(), rtol=1e-4, atol=1e-4 * mag, what="loss vs torch")


@gpu
@pytest.mark.parametrize("n", [1, 7, 8 * 256 * 3 + 5, 100003])
@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("offset", [0, 1])         # 1: not 16-byte aligned, the scalar path
def test_gelu_bf16_kernel(n, approximate, offset, kernels_only):
    cp = _cp()
    x32, xb = _bf16(n + offset, 8, 3.0)
    dy32, dyb = _bf16(n + offset, 9)
    x, dy = cp.asarray(xb)[offset:], cp.asarray(dyb)[offset:]
    x32, dy32 = x32[offset:], dy32[offset:]
    y = cu.gelu_forward(x, approximate)
    dx = cu.gelu_backward(dy, x, approximate)
    assert y.dtype == dx.dtype == BF and y.shape == dx.shape == (n,)
    # float32 math on the same values, rounded once to bf16: within one bf16 rounding of the float32 result
    _close(y, reference.gelu_forward(x32, approximate), rtol=2 ** -8, atol=1e-5, what="y")
    _close(dx, reference.gelu_backward(dy32, x32, approximate), rtol=2 ** -8, atol=1e-5, what="dx")
    torch = _torch_cuda()
    if torch is not None:
        xt = _torch_bf16(x32).requires_grad_()
        yt = torch.nn.functional.gelu(xt, approximate=approximate)
        yt.backward(_torch_bf16(dy32))
        _close(y, yt.detach().float().cpu().numpy(), rtol=2 ** -7, atol=1e-5, what="y vs torch bf16")
        _close(dx, xt.grad.float().cpu().numpy(), rtol=2 ** -6, atol=1e-4, what="dx vs torch bf16")


@gpu
def test_adamw_bf16_grads():
    cp = _cp()
    r = np.random.default_rng(12)
    sizes = [(1,), (100,), (50, 800), (70001,), (3, 5, 7)]
    params = [r.standard_normal(s).astype(np.float32) for s in sizes]
    ms = [np.zeros(s, np.float32) for s in sizes]
    vs = [np.zeros(s, np.float32) for s in sizes]
    gp, gm, gv = ([cp.asarray(a) for a in arrs] for arrs in (params, ms, vs))
    hyper = dict(lr=1e-3, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.1)
    for step in range(1, 4):
        grads = [_bf16(s, 100 * step + i)[1] for i, s in enumerate(sizes)]
        assert all(cu._adamw_fusable(p, cp.asarray(g), m, v) for p, g, m, v in zip(gp, grads, gm, gv))
        cu.adamw_step(gp, [cp.asarray(g) for g in grads], gm, gv, step=step, **hyper)
        reference.adamw_step(params, [g.astype(np.float32) for g in grads], ms, vs, step=step, **hyper)
    for got, want in zip(gp + gm + gv, params + ms + vs):
        _close(got, want, rtol=1e-5, atol=1e-6, what="adamw with bf16 grads")


# ------------------------------------------------------------------------------------------------ GEMM (GPU)
GEMM_CASES = [
    ((64, 300), (300, 32), False), ((7, 5), (5, 3), True), ((1, 9), (9, 4), False),
    ((3, 16, 8), (3, 8, 12), True), ((2, 3, 33, 64), (2, 3, 64, 17), False), ((4, 10, 24), (24, 8), True),
    ((5, 24), (2, 24, 6), False), ((2, 1, 5, 8), (1, 3, 8, 4), False), ((8,), (8,), False), ((3, 5, 8), (8,), False),
]


@gpu
@pytest.mark.parametrize("sa,sb,bias", GEMM_CASES)
@pytest.mark.parametrize("transposed", [False, True])
def test_bf16_gemm_matches_reference_and_torch(sa, sb, bias, transposed):
    cp = _cp()
    a32, ab = _bf16(sa, 20)
    b32, bb = _bf16(sb, 21)
    c32, cb = _bf16(sb[-1:], 22)
    a, b = cp.asarray(ab), cp.asarray(bb)
    if transposed and a.ndim >= 2:                      # the same values through transposed views (op T)
        a = _t(cp.ascontiguousarray(_t(a)))
        b = _t(cp.ascontiguousarray(_t(b))) if b.ndim >= 2 else b
    got = cu.gemm(a, b, cp.asarray(cb) if bias else None)
    assert got.dtype == BF
    want = reference.gemm(ab, bb, cb if bias else None)              # float32 products and bias, rounded once
    scale = max(1.0, float(np.abs(_f32(want)).max()))
    _close(got, want, rtol=2 ** -7, atol=2 ** -7 * scale, what="vs reference")
    torch = _torch_cuda()
    if torch is not None:
        t = torch.matmul(_torch_bf16(a32), _torch_bf16(b32))
        if bias:
            t = t + _torch_bf16(c32)
        _close(got, t.float().cpu().numpy(), rtol=2 ** -6, atol=2 ** -6 * scale, what="vs torch bf16")


@gpu
def test_bf16_batched_gemm_is_capturable():
    """The batched bf16 product is one cuBLAS call of ours, so a CUDA graph can hold it (CuPy's `@` refuses capture);
    the replay reads the inputs' current values."""
    cp = _cp()
    _, ab = _bf16((2, 3, 16, 8), 30)
    _, bb = _bf16((2, 3, 8, 16), 31)
    _, ab2 = _bf16((2, 3, 16, 8), 32)
    a, b, bias = cp.asarray(ab), cp.asarray(bb), cp.asarray(_bf16(16, 33)[1])
    cu.gemm(a, b, bias)                                # cuBLAS handle and workspace, outside the capture
    g = tg.cuda.CUDAGraph()
    with g.capture():
        out = cu.gemm(a, b, bias)
    a[...] = cp.asarray(ab2)
    g.replay()
    cp.cuda.get_current_stream().synchronize()
    _close(out, reference.gemm(ab2, bb, cp.asnumpy(bias)), rtol=2 ** -7, atol=2 ** -7 * 4)


# -------------------------------------------------------------------------------------------- autocast (GPU)
def _inputs(seed=0):
    r = np.random.default_rng(seed)
    x = tg.tensor(r.standard_normal((4, 6, 16)).astype(np.float32), device="cuda")
    w = tg.tensor(r.standard_normal((32, 16)).astype(np.float32) * 0.2, device="cuda", requires_grad=True)
    b = tg.tensor(r.standard_normal(32).astype(np.float32), device="cuda", requires_grad=True)
    return x, w, b


POLICY = {
    "matmul": (lambda x, w, b, m: x @ w.T, BF),
    "linear": (lambda x, w, b, m: m.F.linear(x, w, b), BF),
    "bmm": (lambda x, w, b, m: m.bmm(x, x.transpose(1, 2)), BF),
    "sdpa": (lambda x, w, b, m: m.F.scaled_dot_product_attention(x[None], x[None], x[None], is_causal=True), BF),
    "softmax": (lambda x, w, b, m: m.F.softmax(m.F.linear(x, w, b), -1), F32),
    "log_softmax": (lambda x, w, b, m: m.F.log_softmax(m.F.linear(x, w, b), -1), F32),
    "layer_norm": (lambda x, w, b, m: m.F.layer_norm(m.F.linear(x, w, b), (32,)), F32),
    "cross_entropy": (lambda x, w, b, m: m.F.cross_entropy(m.F.linear(x, w, b).reshape(-1, 32),
                                                           m.zeros(24, dtype=m.long, device=x.device)), F32),
    "sum": (lambda x, w, b, m: m.F.linear(x, w, b).sum(), F32),
    "mean": (lambda x, w, b, m: m.F.linear(x, w, b).mean(), F32),   # as under float16 (tests/test_amp.py)
    "gelu": (lambda x, w, b, m: m.F.gelu(m.F.linear(x, w, b)), BF),
    "elementwise": (lambda x, w, b, m: m.F.linear(x, w, b).tanh(), BF),
}


class _NS:
    def __init__(self, mod, F_):
        self.F, self.bmm, self.zeros, self.long = F_, mod.bmm, mod.zeros, mod.long


@gpu
@pytest.mark.parametrize("name", sorted(POLICY))
def test_cuda_bf16_autocast_output_dtypes_follow_policy(name):
    fn, expected = POLICY[name]
    x, w, b = _inputs()
    with autocast("cuda", dtype=BF):
        out = fn(x, w, b, _NS(tg, F))
    assert out.dtype == expected, f"{name}: got {out.dtype}, policy says {expected}"
    assert fn(x, w, b, _NS(tg, F)).dtype == tg.float32
    torch = _torch_cuda()
    if torch is not None and name != "mean":          # torch's CUDA autocast lists no mean: it stays bf16 there
        import torch.nn.functional as TF
        xt, wt, bt = (torch.from_numpy(t.numpy()).cuda() for t in (x, w.detach(), b.detach()))
        with torch.autocast("cuda", dtype=torch.bfloat16):
            theirs = fn(xt, wt, bt, _NS(torch, TF))
        assert tg.dtypes.name(out.dtype) == str(theirs.dtype).replace("torch.", "")
    if out.requires_grad:                              # master weights: float32 gradients through the casts
        out.float().sum().backward()
        assert all(p.grad is None or p.grad.dtype == tg.float32 for p in (w, b))
        assert w.grad is not None


@gpu
def test_tiny_gpt_cuda_bf16_autocast_loss_close_to_fp32():
    def dtypes(logits, loss):
        assert logits.dtype == BF and loss.dtype == tg.float32
    fp32, _ = train_tiny_gpt(device="cuda")
    bf16, model = train_tiny_gpt(BF, device="cuda", on_step=dtypes)
    assert all(p.dtype == tg.float32 for p in model.parameters())
    assert fp32 < 1.5                                  # it learned (ln 32 = 3.47 at the start)
    assert abs(bf16 - fp32) <= 0.03 * fp32, (bf16, fp32)
