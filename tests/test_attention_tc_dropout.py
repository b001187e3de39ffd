"""Dropout inside the tensor-core attention kernels (csrc/cuda/attention_tc.cu, float16, head dim 64 / 128).

The keep-mask is csrc/common/philox.h's tg_attn_dropout_keep, the same bits as the CUDA-core kernels (attention.cu),
the CPU kernels and the reference: read back exactly from the forward (q = k = 0, V = I: out_ij = P_ij keep_ij /
(1 - p)) and from the backward (dO = I: dV_ji = P_ij keep_ij / (1 - p)); outputs and gradients against the reference
on the same (seed, offset) and against the CUDA-core kernels. Every test checks that the tensor-core kernels ran.
Skipped without CuPy and a GPU.
"""
import numpy as np
import pytest

from tensorgrad.backend import capture, cuda_available, reference as ref

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not cuda_available(), reason="needs CuPy and a CUDA GPU"),
]

F16, F32 = np.float16, np.float32
SEED, OFFSET = 0x0123456789ABCDEF, 2 ** 40 + 7  # both words of the key and of the offset non-zero
TOL = dict(rtol=2e-2, atol=5e-3)


@pytest.fixture(scope="module")
def cp():
    import cupy
    return cupy


@pytest.fixture
def cu(monkeypatch):
    """backend.cuda with TENSORGRAD_ATTN_TC=1 and a record of the kernels each launcher asked for (cu.asked)."""
    from tensorgrad.backend import cuda
    monkeypatch.setenv("TENSORGRAD_ATTN_TC", "1")
    asked = []
    get = cuda.get_kernel

    def spy(file, name, smem=0):
        asked.append(name)
        return get(file, name, smem)

    monkeypatch.setattr(cuda, "get_kernel", spy)
    monkeypatch.setattr(cuda, "asked", asked, raising=False)
    return cuda


def ran_tc(cu, d, fwd=True, bwd=True):
    """The tensor-core kernels ran (a failed alignment or shared-memory check would fall back silently)."""
    want = (["attention_forward_kernel_f16_tc_d%d" % d] if fwd else []) + \
           (["attention_backward_kernel_f16_tc_d%d" % d] if bwd else [])
    assert set(want) <= set(cu.asked), cu.asked
    assert not any(n.startswith(("attention_forward_kernel_f16_d", "attention_backward_kernel_f16_d"))
                   for n in cu.asked), cu.asked
    cu.asked.clear()


def tril(tq, tk):
    return np.tril(np.ones((tq, tk), bool))   # causal: query i sees keys j <= i (top-left aligned)


def read_forward_mask(cp, cu, bh, tq, d, tk, causal, p, seed=SEED, offset=OFFSET):
    """keep (bh, tq, tk) from the forward: q = k = 0 and V = the first tk rows of I (tk <= d)."""
    q = cp.zeros((1, bh, tq, d), F16)
    k = cp.zeros((1, bh, tk, d), F16)
    v = cp.asarray(np.broadcast_to(np.eye(tk, d, dtype=F16), (1, bh, tk, d)).copy())
    out, lse = cu.attention_forward(q, k, v, causal, 1.0, p, seed, offset)
    out = cp.asnumpy(out[0]).astype(F32)
    assert not out[:, :, tk:].any()
    return out[:, :, :tk] > 0, cp.asnumpy(lse)


@pytest.mark.parametrize("d, tq, tk", [(64, 200, 64), (128, 70, 100), (128, 33, 128), (64, 5, 37)])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("p", [0.3, 0.9])
def test_forward_mask_is_the_reference_mask(cp, cu, monkeypatch, d, tq, tk, causal, p):
    """Several query tiles, a query tail, a partial key tile: every element's keep bit is the reference's."""
    bh = 6
    keep, lse = read_forward_mask(cp, cu, bh, tq, d, tk, causal, p)
    ran_tc(cu, d, bwd=False)
    want = ref.attention_dropout_keep(np, bh, tq, tk, p, SEED, OFFSET)
    if causal:
        want = want & tril(tq, tk)
    assert np.array_equal(keep, want)
    # lse is that of the undropped P: log of the number of visible keys (q = k = 0).
    visible = np.minimum(np.arange(tq) + 1, tk) if causal else np.full(tq, tk)
    np.testing.assert_allclose(lse[0], np.broadcast_to(np.log(visible), (bh, tq)), rtol=1e-5, atol=1e-5)
    # The CUDA-core kernels (attention.cu) draw the same mask.
    cu.asked.clear()
    monkeypatch.setenv("TENSORGRAD_ATTN_TC", "0")
    keep_ffma, _ = read_forward_mask(cp, cu, bh, tq, d, tk, causal, p)
    assert "attention_forward_kernel_f16_d%d" % (64 if d <= 64 else 128) in cu.asked
    assert np.array_equal(keep_ffma, keep)


@pytest.mark.parametrize("d, tq, tk", [(64, 64, 200), (128, 100, 70), (128, 33, 128), (64, 37, 5)])
@pytest.mark.parametrize("causal", [False, True])
def test_backward_mask_is_the_forward_mask(cp, cu, d, tq, tk, causal):
    """dV = (P o Z)^T dO with q = k = 0 and dO = the first tq rows of I (tq <= d): dV[j, i] > 0 iff keep(i, j)."""
    bh, p = 6, 0.4
    q = cp.zeros((1, bh, tq, d), F16)
    k = cp.zeros((1, bh, tk, d), F16)
    rng = np.random.default_rng(0)
    v = cp.asarray(rng.standard_normal((1, bh, tk, d)).astype(F16))
    dout = cp.asarray(np.broadcast_to(np.eye(tq, d, dtype=F16), (1, bh, tq, d)).copy())
    out, lse = cu.attention_forward(q, k, v, causal, 1.0, p, SEED, OFFSET)
    dq, dk, dv = cu.attention_backward(dout, q, k, v, out, lse, causal, 1.0, p, SEED, OFFSET)
    ran_tc(cu, d)
    dv = cp.asnumpy(dv[0]).astype(F32)
    assert not dv[:, :, tq:].any()
    keep = dv[:, :, :tq].transpose(0, 2, 1) > 0
    want = ref.attention_dropout_keep(np, bh, tq, tk, p, SEED, OFFSET)
    if causal:
        want = want & tril(tq, tk)
    assert np.array_equal(keep, want)
    # The values too: P_ij / (1 - p) where kept.
    visible = np.minimum(np.arange(tq) + 1, tk) if causal else np.full(tq, tk)
    np.testing.assert_allclose(dv[:, :, :tq].transpose(0, 2, 1), want / (1 - p) / visible[None, :, None], **TOL)


@pytest.mark.parametrize("d", [64, 128])
@pytest.mark.parametrize("b, h, tq, tk, causal", [(2, 3, 70, 133, False), (2, 3, 70, 133, True),
                                                  (1, 2, 129, 65, False), (1, 2, 200, 200, True)])
@pytest.mark.parametrize("p", [0.25, 0.8])
def test_matches_reference_and_cuda_core_kernels(cp, cu, monkeypatch, d, b, h, tq, tk, causal, p):
    rng = np.random.default_rng(1)
    q_np, do_np = (rng.standard_normal((b, h, tq, d)).astype(F16) for _ in range(2))
    k_np, v_np = (rng.standard_normal((b, h, tk, d)).astype(F16) for _ in range(2))
    q, k, v, do = (cp.asarray(x) for x in (q_np, k_np, v_np, do_np))
    args = (causal, d ** -0.5, p, SEED, OFFSET)
    ks = 1.0 / (1.0 - p)
    tol = dict(rtol=TOL["rtol"], atol=TOL["atol"] * ks)
    bw_tol = dict(rtol=tol["rtol"] * 5, atol=tol["atol"] * 5)   # sums over Tq (dK, dV) and Tk (dQ)

    out, lse = cu.attention_forward(q, k, v, *args)
    rout, rlse = ref.attention_forward(*(x.astype(F32) for x in (q_np, k_np, v_np)), *args)
    np.testing.assert_allclose(cp.asnumpy(out).astype(F32), rout, **tol)
    np.testing.assert_allclose(cp.asnumpy(lse), rlse, **TOL)
    # Backward on the reference's forward (as test_kernels_cuda.test_attention): the kernel alone.
    fo, fl = ref.attention_forward(q, k, v, *args)
    grads = cu.attention_backward(do, q, k, v, fo, fl, *args)
    want = ref.attention_backward(do, q, k, v, fo, fl, *args)
    ran_tc(cu, d)
    for name, g, w in zip(("dq", "dk", "dv"), grads, want):
        np.testing.assert_allclose(cp.asnumpy(g).astype(F32), cp.asnumpy(w).astype(F32), err_msg=name, **bw_tol)

    monkeypatch.setenv("TENSORGRAD_ATTN_TC", "0")
    out0, lse0 = cu.attention_forward(q, k, v, *args)
    grads0 = cu.attention_backward(do, q, k, v, fo, fl, *args)
    dp = 64 if d <= 64 else 128
    assert {"attention_forward_kernel_f16_d%d" % dp, "attention_backward_kernel_f16_d%d" % dp} <= set(cu.asked)
    np.testing.assert_allclose(cp.asnumpy(out).astype(F32), cp.asnumpy(out0).astype(F32), **tol)
    np.testing.assert_allclose(cp.asnumpy(lse), cp.asnumpy(lse0), **TOL)
    for name, g, g0 in zip(("dq", "dk", "dv"), grads, grads0):
        np.testing.assert_allclose(cp.asnumpy(g).astype(F32), cp.asnumpy(g0).astype(F32), err_msg=name, **bw_tol)


@pytest.mark.parametrize("d", [64, 128])
def test_roundtrip_on_own_forward(cp, cu, d):
    """Backward fed the kernel's own out and lse (the training path), against the reference end to end."""
    rng = np.random.default_rng(2)
    q, k, v, do = (cp.asarray(rng.standard_normal((2, 2, 96, d)).astype(F16)) for _ in range(4))
    args = (True, d ** -0.5, 0.3, SEED, OFFSET)
    out, lse = cu.attention_forward(q, k, v, *args)
    got = cu.attention_backward(do, q, k, v, out, lse, *args)
    ran_tc(cu, d)
    ro, rl = ref.attention_forward(q, k, v, *args)
    for g, w in zip(got, ref.attention_backward(do, q, k, v, ro, rl, *args)):
        np.testing.assert_allclose(cp.asnumpy(g).astype(F32), cp.asnumpy(w).astype(F32), rtol=5e-2, atol=3e-2)


@pytest.mark.parametrize("d", [64, 128])
def test_p0_is_the_dropout_free_kernel_and_p1_gives_zeros(cp, cu, d):
    rng = np.random.default_rng(3)
    q, k, v, do = (cp.asarray(rng.standard_normal((1, 2, 80, d)).astype(F16)) for _ in range(4))
    out, lse = cu.attention_forward(q, k, v, True, 0.1)
    out0, lse0 = cu.attention_forward(q, k, v, True, 0.1, 0.0, SEED, OFFSET)
    assert cp.array_equal(out, out0) and cp.array_equal(lse, lse0)
    for a, b in zip(cu.attention_backward(do, q, k, v, out, lse, True, 0.1),
                    cu.attention_backward(do, q, k, v, out, lse, True, 0.1, 0.0, SEED, OFFSET)):
        assert cp.array_equal(a, b)
    out1, lse1 = cu.attention_forward(q, k, v, True, 0.1, 1.0, SEED, OFFSET)
    assert not out1.any() and cp.array_equal(lse1, lse)
    for g in cu.attention_backward(do, q, k, v, out1, lse1, True, 0.1, 1.0, SEED, OFFSET):
        assert not g.any()
    ran_tc(cu, d)


def test_graph_state_replaces_seed_and_offset(cp, cu):
    """Under CUDA-graph capture the launcher passes rng_state = {seed, base offset} and offset = the draw's place in
    the step (capture.GraphOffset): the kernels draw at (rng_state[0], rng_state[1] + offset), not at the eager pair."""
    bh, tq, d, tk, p, delta = 3, 70, 64, 64, 0.5, 5
    state = cp.asarray(np.array([SEED, OFFSET - delta], dtype=np.uint64))
    keep, _ = read_forward_mask(cp, cu, bh, tq, d, tk, False, p, seed=12345, offset=capture.GraphOffset(delta, state))
    ran_tc(cu, d, bwd=False)
    assert np.array_equal(keep, ref.attention_dropout_keep(np, bh, tq, tk, p, SEED, OFFSET))
    other, _ = read_forward_mask(cp, cu, bh, tq, d, tk, False, p, seed=12345, offset=delta)
    assert not np.array_equal(other, keep)
