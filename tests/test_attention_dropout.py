"""Attention dropout inside the fused kernels (csrc/cpu/attention.cpp, csrc/common/philox.h).

The keep-mask is Philox4x32-10 at (seed, offset, element), drawn in forward and regenerated in backward: the C++
kernels and the NumPy reference (backend/reference.py) draw exactly the same bits, so kernel == reference up to
float rounding, and the mask can be read back exactly (q = k = 0 and V = identity make out_ij = P_ij Z_ij). The
wrappers take the (seed, offset) pair from the default Generator once per call; backward and checkpoint's replay see
the same mask; statistics (keep rate, mean and variance over many draws) match torch's SDPA with dropout.
"""
import numpy as np
import pytest
import torch

import tensorgrad as tg
import tensorgrad.nn.functional as F
from tensorgrad import _C
from tensorgrad.autograd.gradcheck import gradcheck
from tensorgrad.backend import cpu, cuda_available, kernels, reference as ref
from tensorgrad.checkpoint import checkpoint
from tensorgrad.ops.attention import Attention, PackedAttention
from tensorgrad.random import default_generator

F32, F64 = np.float32, np.float64
TOL = {F32: dict(rtol=2e-4, atol=2e-5), F64: dict(rtol=1e-10, atol=1e-12)}
SEED, OFFSET = 0x0123456789ABCDEF, 2 ** 40 + 7  # both words of the key and of the offset non-zero


def close(got, want, dtype):
    np.testing.assert_allclose(got, want, **TOL[dtype])


def randn(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


# ----------------------------------------------------------------------------------------------------- Philox
# Random123's known-answer vectors for philox4x32_10: (counter, key) -> output.
KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


@pytest.mark.parametrize("ctr, key, want", KAT)
def test_philox_known_answers(ctr, key, want):
    assert _C.philox4x32_10(*ctr, *key) == want
    got = ref.philox4x32_10(*(np.uint32(c) for c in ctr), *key)
    assert tuple(int(w) for w in got) == want


def test_philox_reference_matches_cpp_on_random_counters():
    rng = np.random.default_rng(0)
    ctr = rng.integers(0, 2 ** 32, (4, 200), dtype=np.uint64).astype(np.uint32)
    key = [int(x) for x in rng.integers(0, 2 ** 32, 2)]
    words = np.stack(ref.philox4x32_10(*ctr, *key))
    for n in range(ctr.shape[1]):
        assert tuple(int(w) for w in words[:, n]) == _C.philox4x32_10(*(int(c) for c in ctr[:, n]), *key)


# ------------------------------------------------------------------------------------- kernel vs reference
SHAPES = [(2, 3, 37, 37, 16), (1, 2, 70, 130, 64), (2, 2, 129, 129, 48), (1, 1, 5, 3, 8), (1, 2, 64, 64, 32),
          (1, 1, 66, 66, 128)]


@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("p", [0.1, 0.5])
def test_kernel_matches_reference(dtype, shape, causal, p):
    b, h, tq, tk, d = shape
    if causal and tq != tk:
        pytest.skip("causal attention here is square")
    rng = np.random.default_rng(1)
    q, k, v = randn(rng, (b, h, tq, d), dtype), randn(rng, (b, h, tk, d), dtype), randn(rng, (b, h, tk, d), dtype)
    args = (causal, 0.3, p, SEED, OFFSET)
    out, lse = cpu.attention_forward(q, k, v, *args)
    rout, rlse = ref.attention_forward(q, k, v, *args)
    close(out, rout, dtype)
    close(lse, rlse, dtype)
    dout = randn(rng, out.shape, dtype)
    for g, rg in zip(cpu.attention_backward(dout, q, k, v, out, lse, *args),
                     ref.attention_backward(dout, q, k, v, rout, rlse, *args)):
        close(g, rg, dtype)


@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("b, t, h, d", [(2, 37, 3, 16), (1, 130, 2, 64), (2, 64, 6, 32)])
@pytest.mark.parametrize("causal", [False, True])
def test_packed_kernel_matches_reference_and_unpacked(dtype, b, t, h, d, causal):
    rng = np.random.default_rng(2)
    qkv = randn(rng, (b, t, 3 * h * d), dtype)
    args = (causal, 0.25, 0.2, SEED, OFFSET)
    out, lse = cpu.attention_forward_packed(qkv, h, *args)
    rout, rlse = ref.attention_forward_packed(qkv, h, *args)
    close(out, rout, dtype)
    close(lse, rlse, dtype)
    dout = randn(rng, out.shape, dtype)
    close(cpu.attention_backward_packed(dout, qkv, out, lse, h, *args),
          ref.attention_backward_packed(dout, qkv, rout, rlse, h, *args), dtype)
    # The (B, H, T, D) kernels on the split heads draw the same mask (bh = b * H + h in both layouts).
    heads = [np.ascontiguousarray(x) for x in qkv.reshape(b, t, 3, h, d).transpose(2, 0, 3, 1, 4)]
    out4, _ = cpu.attention_forward(*heads, *args)
    close(out4.transpose(0, 2, 1, 3).reshape(b, t, h * d), out, dtype)


def read_mask(fwd, bh, t, causal, p):
    """keep (bh, t, t) read back from a forward: q = k = 0, V = I (D = T) give out_ij = P_ij keep_ij / (1 - p)."""
    q = np.zeros((1, bh, t, t), F64)
    v = np.broadcast_to(np.eye(t), (1, bh, t, t)).copy()
    out, _ = fwd(q, q, v, causal, 1.0, p, SEED, OFFSET)
    return out[0] > 0


@pytest.mark.parametrize("t, causal", [(40, False), (67, True), (5, False)])
def test_mask_read_back_is_exactly_the_reference_stream(t, causal):
    p = 0.3
    want = ref.attention_dropout_keep(np, 3, t, t, p, SEED, OFFSET)
    if causal:
        want = want & np.tril(np.ones((t, t), bool))
    assert np.array_equal(read_mask(cpu.attention_forward, 3, t, causal, p), want)
    assert np.array_equal(read_mask(ref.attention_forward, 3, t, causal, p), want)
    # Another offset or seed is another mask.
    other = ref.attention_dropout_keep(np, 3, t, t, p, SEED, OFFSET + 1)
    assert not np.array_equal(other, ref.attention_dropout_keep(np, 3, t, t, p, SEED, OFFSET))


def test_mask_read_back_packed():
    b, h, t, p = 2, 2, 24, 0.4
    qkv = np.zeros((b, t, 3, h, t))
    qkv[:, :, 2] = np.eye(t)[None, :, None, :]  # V of every head = I (D = T)
    out, _ = cpu.attention_forward_packed(qkv.reshape(b, t, 3 * h * t), h, False, 1.0, p, SEED, OFFSET)
    keep = out.reshape(b, t, h, t).transpose(0, 2, 1, 3).reshape(b * h, t, t) > 0
    assert np.array_equal(keep, ref.attention_dropout_keep(np, b * h, t, t, p, SEED, OFFSET))


def test_p0_is_the_dropout_free_kernel_bit_for_bit():
    rng = np.random.default_rng(3)
    q, k, v = (randn(rng, (2, 3, 70, 32), F32) for _ in range(3))
    out, lse = cpu.attention_forward(q, k, v, True, 0.2)
    out0, lse0 = cpu.attention_forward(q, k, v, True, 0.2, 0.0, SEED, OFFSET)
    assert np.array_equal(out, out0) and np.array_equal(lse, lse0)
    dout = randn(rng, out.shape, F32)
    for a, b in zip(cpu.attention_backward(dout, q, k, v, out, lse, True, 0.2),
                    cpu.attention_backward(dout, q, k, v, out, lse, True, 0.2, 0.0, SEED, OFFSET)):
        assert np.array_equal(a, b)
    # The wrappers with dropout_p=0 take the same node without drawing from the Generator.
    tg.manual_seed(0)
    state = default_generator.get_state()
    tq = tg.tensor(q)
    y = F.scaled_dot_product_attention(tq, tg.tensor(k), tg.tensor(v), dropout_p=0.0, is_causal=True, scale=0.2)
    assert np.array_equal(y.array, out)
    assert default_generator.get_state()["cuda"] == state["cuda"]


@pytest.mark.parametrize("fwd, bwd", [(cpu.attention_forward, cpu.attention_backward),
                                      (ref.attention_forward, ref.attention_backward)])
def test_p1_gives_zeros(fwd, bwd):
    rng = np.random.default_rng(4)
    q, k, v = (randn(rng, (1, 2, 20, 16), F32) for _ in range(3))
    out, lse = fwd(q, k, v, True, 0.25, 1.0, SEED, OFFSET)
    assert not out.any() and np.isfinite(lse).all()
    for g in bwd(randn(rng, out.shape, F32), q, k, v, out, lse, True, 0.25, 1.0, SEED, OFFSET):
        assert not g.any()


def test_bad_dropout_p_raises():
    q = np.zeros((1, 1, 4, 8), F32)
    with pytest.raises(ValueError, match=r"attention_forward: dropout_p must be in \[0, 1\]"):
        _C.attention_forward(q, q, q, False, 1.0, 1.5, 0, 0)
    with pytest.raises(ValueError, match=r"scaled_dot_product_attention: dropout_p must be in \[0, 1\], got -0.1"):
        F.scaled_dot_product_attention(tg.tensor(q), tg.tensor(q), tg.tensor(q), dropout_p=-0.1)


# ------------------------------------------------------------------------------------------- the wrappers
def expected(q, k, v, causal, scale, p, seed, offset, g):
    out, lse = ref.attention_forward(q, k, v, causal, scale, p, seed, offset)
    return out, ref.attention_backward(g, q, k, v, out, lse, causal, scale, p, seed, offset)


def test_sdpa_forward_and_backward_share_the_mask_drawn_from_the_generator():
    rng = np.random.default_rng(5)
    q, k, v = (randn(rng, (2, 3, 33, 16), F64) for _ in range(3))
    g = randn(rng, (2, 3, 33, 16), F64)
    tg.manual_seed(7)
    seed, offset = default_generator.initial_seed(), default_generator.get_state()["cuda"]
    tq, tk, tv = (tg.tensor(x, requires_grad=True) for x in (q, k, v))
    y = F.scaled_dot_product_attention(tq, tk, tv, dropout_p=0.3, is_causal=True)
    y.backward(tg.tensor(g))
    out, grads = expected(q.reshape(1, 6, 33, 16), k.reshape(1, 6, 33, 16), v.reshape(1, 6, 33, 16), True, 0.25,
                          0.3, seed, offset, g.reshape(1, 6, 33, 16))
    close(y.array, out.reshape(y.shape), F64)
    for t_, want in zip((tq, tk, tv), grads):
        close(t_.grad.array, want.reshape(t_.shape), F64)
    # The Generator moved on: the next call draws another mask.
    assert default_generator.get_state()["cuda"] == offset + 1
    y2 = F.scaled_dot_product_attention(tq, tk, tv, dropout_p=0.3, is_causal=True)
    assert not np.allclose(y2.array, y.array)


def test_packed_attention_uses_the_fused_node_with_dropout():
    rng = np.random.default_rng(6)
    b, t, h, d = 2, 40, 3, 16
    qkv = randn(rng, (b, t, 3 * h * d), F32)
    g = randn(rng, (b, t, h * d), F32)
    tg.manual_seed(11)
    seed, offset = default_generator.initial_seed(), default_generator.get_state()["cuda"]
    x = tg.tensor(qkv, requires_grad=True)
    y = F.packed_attention(x, h, is_causal=True, dropout_p=0.2)
    assert type(y.grad_fn).__name__.startswith("PackedAttention")
    y.backward(tg.tensor(g))
    out, lse = ref.attention_forward_packed(qkv, h, True, d ** -0.5, 0.2, seed, offset)
    close(y.array, out, F32)
    close(x.grad.array, ref.attention_backward_packed(g, qkv, out, lse, h, True, d ** -0.5, 0.2, seed, offset), F32)


def test_checkpoint_recompute_replays_the_mask():
    rng = np.random.default_rng(7)
    b, t, h, d = 2, 36, 2, 16
    qkv, g = randn(rng, (b, t, 3 * h * d), F64), randn(rng, (b, t, h * d), F64)

    def block(x):
        return F.packed_attention(x * 1.0, h, is_causal=True, dropout_p=0.25) * 2.0

    grads = []
    for ckpt in (False, True):
        tg.manual_seed(3)
        x = tg.tensor(qkv, requires_grad=True)
        y = checkpoint(block, x) if ckpt else block(x)
        F.dropout(tg.tensor(np.ones(8)), 0.5)  # other draws between forward and backward
        default_generator.philox_seed_offset()
        y.backward(tg.tensor(g))
        grads.append((y.array.copy(), x.grad.array.copy()))
    assert np.array_equal(grads[0][0], grads[1][0])
    close(grads[1][1], grads[0][1], F64)


@pytest.mark.parametrize("backend", ["reference", "kernel"])
def test_gradcheck_float64_with_fixed_seed_offset(backend, monkeypatch):
    if backend == "reference":
        monkeypatch.setenv("TENSORGRAD_KERNELS", "reference")
    kernels.clear_cache()
    try:
        assert kernels.which("attention_forward") == backend
        rng = np.random.default_rng(8)
        q, k, v = (tg.tensor(randn(rng, (1, 2, 9, 8), F64), requires_grad=True) for _ in range(3))
        assert gradcheck(lambda a, b, c: Attention.apply(a, b, c, True, 0.4, 0.3, SEED, OFFSET), [q, k, v])
        x = tg.tensor(randn(rng, (2, 7, 3 * 2 * 4), F64), requires_grad=True)
        assert gradcheck(lambda a: PackedAttention.apply(a, 2, False, 0.5, 0.4, SEED, OFFSET), [x])
    finally:
        kernels.clear_cache()


# ------------------------------------------------------------------------------------ statistics vs torch
def test_keep_rate_matches_1_minus_p_like_torch():
    p, bh, t = 0.2, 16, 64
    keep = read_mask(cpu.attention_forward, bh, t, False, p)
    tq = torch.zeros(1, bh, t, t, dtype=torch.float64)
    torch.manual_seed(0)
    tkeep = torch.nn.functional.scaled_dot_product_attention(
        tq, tq, torch.eye(t, dtype=torch.float64).expand(1, bh, t, t), dropout_p=p).numpy()[0] > 0
    n = keep.size
    sigma = np.sqrt(p * (1 - p) / n)
    assert abs(keep.mean() - (1 - p)) < 5 * sigma
    assert abs(tkeep.mean() - (1 - p)) < 5 * sigma
    # No structure along rows, columns or heads: per-row keep rates spread like binomials.
    rows = keep.reshape(-1, t).mean(1)
    assert abs(rows.std() - np.sqrt(p * (1 - p) / t)) < 0.2 * np.sqrt(p * (1 - p) / t)


@pytest.mark.parametrize("causal", [False, True])
def test_output_mean_and_variance_over_draws_match_torch(causal):
    """Replicate one small problem over n draws (the batch): mean -> the dropout-free output, variance ->
    p / (1 - p) * sum_j P_ij^2 v_jd^2 (independent keeps), for tensorgrad and torch alike."""
    p, n, h, t, d = 0.3, 3000, 2, 12, 8
    rng = np.random.default_rng(9)
    q, k, v = (randn(rng, (1, h, t, d), F64) for _ in range(3))
    rep = [np.ascontiguousarray(np.broadcast_to(x, (n, h, t, d))) for x in (q, k, v)]
    tg.manual_seed(1)
    ours = F.scaled_dot_product_attention(*(tg.tensor(x) for x in rep), dropout_p=p, is_causal=causal).array
    torch.manual_seed(1)
    theirs = torch.nn.functional.scaled_dot_product_attention(*(torch.from_numpy(x) for x in rep), dropout_p=p,
                                                              is_causal=causal).numpy()
    out, _ = ref.attention_forward(q, k, v, causal, d ** -0.5)
    s = (q @ k.swapaxes(-1, -2)) * d ** -0.5
    if causal:
        s = np.where(np.tril(np.ones((t, t), bool)), s, -np.inf)
    P = np.exp(s - s.max(-1, keepdims=True))
    P /= P.sum(-1, keepdims=True)
    var = p / (1 - p) * (P ** 2) @ (v ** 2)
    for draws in (ours, theirs):
        se = np.sqrt(var / n)
        z = (draws.mean(0) - out[0]) / se[0]
        assert np.abs(z).max() < 5.5 and abs(z.mean()) < 5 / np.sqrt(z.size)
        ratio = draws.var(0) / var[0]
        assert abs(ratio.mean() - 1) < 0.03
    assert abs(ours.var(0).mean() / theirs.var(0).mean() - 1) < 0.05


# ------------------------------------------------------------------------------------------------- CUDA
def gpu(fn):
    return pytest.mark.gpu(pytest.mark.skipif(not cuda_available(), reason="needs CuPy and a CUDA GPU")(fn))


@pytest.mark.parametrize("dtype, d", [(F32, 64), (F32, 48), (F32, 128), (np.float16, 64)])
@pytest.mark.parametrize("causal", [False, True])
@gpu
def test_cuda_kernels_draw_the_cpu_mask(dtype, d, causal):
    """The CUDA kernels with dropout against the CPU kernels on the same (seed, offset): float32 runs the CUDA-core
    kernels (attention.cu), float16 with D = 64 the tensor-core ones (attention_tc.cu, which take dropout too)."""
    import cupy as cp
    from tensorgrad.backend import cuda
    rng = np.random.default_rng(10)
    q, k, v = (randn(rng, (2, 3, 70, d), dtype) for _ in range(3))
    args = (causal, d ** -0.5, 0.2, SEED, OFFSET)
    f32 = [x.astype(F32) for x in (q, k, v)]
    out, lse = cuda.attention_forward(*(cp.asarray(x) for x in (q, k, v)), *args)
    rout, rlse = cpu.attention_forward(*f32, *args)
    tol = dict(rtol=2e-4, atol=2e-5) if dtype == F32 else dict(rtol=2e-2, atol=5e-3)
    np.testing.assert_allclose(cp.asnumpy(out).astype(F32), rout, **tol)
    np.testing.assert_allclose(cp.asnumpy(lse), rlse, **tol)
    dout = randn(rng, rout.shape, dtype)
    grads = cuda.attention_backward(*(cp.asarray(x) for x in (dout, q, k, v)), out, lse, *args)
    for g, rg in zip(grads, cpu.attention_backward(dout.astype(F32), *f32, rout, rlse, *args)):
        np.testing.assert_allclose(cp.asnumpy(g).astype(F32), rg, **tol)


@gpu
def test_cuda_mask_read_back_and_generator_stream():
    import cupy as cp
    from tensorgrad.backend import cuda
    t, p = 48, 0.3
    q = cp.zeros((1, 3, t, t), cp.float32)
    v = cp.asarray(np.broadcast_to(np.eye(t, dtype=F32), (1, 3, t, t)).copy())
    out, _ = cuda.attention_forward(q, q, v, False, 1.0, p, SEED, OFFSET)
    assert np.array_equal(cp.asnumpy(out[0]) > 0, ref.attention_dropout_keep(np, 3, t, t, p, SEED, OFFSET))
    # tensorgrad.random's CUDA draws are the same Philox: uniform element n of draw `offset` = word 0 >> 8 / 2^24.
    gen = tg.random.Generator(device="cuda", seed=SEED)
    u = cp.asnumpy(gen.random((1000,), dtype=F32, device="cuda"))
    n = np.arange(1000, dtype=np.uint64)
    w0 = ref.philox4x32_10(n & np.uint64(0xFFFFFFFF), n >> np.uint64(32), 0, 0, SEED & 0xFFFFFFFF, SEED >> 32)[0]
    assert np.array_equal(u, (w0 >> np.uint32(8)).astype(F32) / F32(2 ** 24))
