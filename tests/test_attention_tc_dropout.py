"""Dropout inside the tensor-core attention kernels (csrc/cuda/attention_tc.cu, float16 and bfloat16, head dim 64 /
128), and the bfloat16 instantiation of those kernels with and without dropout.

The keep-mask is csrc/common/philox.h's tg_attn_dropout_keep, the same bits as the CUDA-core kernels (attention.cu),
the CPU kernels and the reference: read back exactly from the forward (q = k = 0, V = I: out_ij = P_ij keep_ij /
(1 - p)) and from the backward (dO = I: dV_ji = P_ij keep_ij / (1 - p)); outputs and gradients against the reference
on the same (seed, offset) and against the CUDA-core kernels (also at p = 0). Every test runs for float16 and
bfloat16 (inputs drawn in float32 and rounded to the dtype; the reference runs in float32 on those values) and checks
that the tensor-core kernels of that dtype ran. bfloat16 keeps 8 significant bits to float16's 11, and the kernels round
P and dS to the input dtype as mma operands, so its tolerances are looser (sized by emulating those roundings in
NumPy: about 4x the largest deviation seen). Skipped without CuPy and a GPU; bfloat16 also without CuPy's bfloat16.
"""
import numpy as np
import pytest

import tensorgrad as tg
from tensorgrad.backend import capture, cuda_available, reference as ref

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not cuda_available(), reason="needs CuPy and a CUDA GPU"),
]

F16, BF16, F32 = np.dtype(np.float16), tg.bfloat16, np.float32
SFX = {F16: "f16", BF16: "bf16"}
SEED, OFFSET = 0x0123456789ABCDEF, 2 ** 40 + 7  # both words of the key and of the offset non-zero
TOL = dict(rtol=2e-2, atol=5e-3)                 # float16 outputs; lse (float32) for both dtypes
# Forward (out) and backward (dq, dk, dv) tolerances per dtype; atol is multiplied by the keep scale 1 / (1 - p).
TOLS = {F16: (TOL, dict(rtol=1e-1, atol=2.5e-2)),
        BF16: (dict(rtol=2e-2, atol=2e-2), dict(rtol=5e-2, atol=3e-2))}


@pytest.fixture(scope="module")
def cp():
    import cupy
    return cupy


@pytest.fixture(params=[F16, BF16], ids=["f16", "bf16"])
def dt(request):
    """The input dtype; bfloat16 needs a CuPy that takes ml_dtypes' bfloat16 (CuPy >= 14)."""
    if request.param == BF16 and not tg.cuda.is_bf16_supported():
        pytest.skip("CuPy without bfloat16")
    return request.param


def arr(cp, x, dt):
    """x (NumPy, any float dtype) rounded to dt, on the device."""
    return cp.asarray(np.asarray(x, F32).astype(dt))


def host(a):
    """A device array as NumPy float32 (exact for float16 and bfloat16; no CuPy arithmetic on bfloat16)."""
    return a.get().astype(F32)


def same(a, b):
    return np.array_equal(host(a), host(b))


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


def ran_tc(cu, d, dt, fwd=True, bwd=True):
    """The tensor-core kernels of dtype dt ran (a failed alignment or shared-memory check would fall back silently)."""
    sfx = SFX[dt]
    want = (["attention_forward_kernel_%s_tc_d%d" % (sfx, d)] if fwd else []) + \
           (["attention_backward_kernel_%s_tc_d%d" % (sfx, d)] if bwd else [])
    assert set(want) <= set(cu.asked), cu.asked
    assert not any(n.startswith(("attention_forward_kernel_%s_d" % sfx, "attention_backward_kernel_%s_d" % sfx))
                   for n in cu.asked), cu.asked
    cu.asked.clear()


def tril(tq, tk):
    return np.tril(np.ones((tq, tk), bool))   # causal: query i sees keys j <= i (top-left aligned)


def read_forward_mask(cp, cu, bh, tq, d, tk, causal, p, dt, seed=SEED, offset=OFFSET):
    """keep (bh, tq, tk) from the forward: q = k = 0 and V = the first tk rows of I (tk <= d)."""
    q = arr(cp, np.zeros((1, bh, tq, d)), dt)
    k = arr(cp, np.zeros((1, bh, tk, d)), dt)
    v = arr(cp, np.broadcast_to(np.eye(tk, d), (1, bh, tk, d)), dt)
    out, lse = cu.attention_forward(q, k, v, causal, 1.0, p, seed, offset)
    assert out.dtype == dt
    out = host(out[0])
    assert not out[:, :, tk:].any()
    return out[:, :, :tk] > 0, cp.asnumpy(lse)


@pytest.mark.parametrize("d, tq, tk", [(64, 200, 64), (128, 70, 100), (128, 33, 128), (64, 5, 37)])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("p", [0.3, 0.9])
def test_forward_mask_is_the_reference_mask(cp, cu, dt, monkeypatch, d, tq, tk, causal, p):
    """Several query tiles, a query tail, a partial key tile: every element's keep bit is the reference's."""
    bh = 6
    keep, lse = read_forward_mask(cp, cu, bh, tq, d, tk, causal, p, dt)
    ran_tc(cu, d, dt, bwd=False)
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
    keep_ffma, _ = read_forward_mask(cp, cu, bh, tq, d, tk, causal, p, dt)
    assert "attention_forward_kernel_%s_d%d" % (SFX[dt], 64 if d <= 64 else 128) in cu.asked
    assert np.array_equal(keep_ffma, keep)


@pytest.mark.parametrize("d, tq, tk", [(64, 64, 200), (128, 100, 70), (128, 33, 128), (64, 37, 5)])
@pytest.mark.parametrize("causal", [False, True])
def test_backward_mask_is_the_forward_mask(cp, cu, dt, d, tq, tk, causal):
    """dV = (P o Z)^T dO with q = k = 0 and dO = the first tq rows of I (tq <= d): dV[j, i] > 0 iff keep(i, j)."""
    bh, p = 6, 0.4
    q = arr(cp, np.zeros((1, bh, tq, d)), dt)
    k = arr(cp, np.zeros((1, bh, tk, d)), dt)
    rng = np.random.default_rng(0)
    v = arr(cp, rng.standard_normal((1, bh, tk, d)), dt)
    dout = arr(cp, np.broadcast_to(np.eye(tq, d), (1, bh, tq, d)), dt)
    out, lse = cu.attention_forward(q, k, v, causal, 1.0, p, SEED, OFFSET)
    dq, dk, dv = cu.attention_backward(dout, q, k, v, out, lse, causal, 1.0, p, SEED, OFFSET)
    ran_tc(cu, d, dt)
    assert dq.dtype == dk.dtype == dv.dtype == dt
    dv = host(dv[0])
    assert not dv[:, :, tq:].any()
    keep = dv[:, :, :tq].transpose(0, 2, 1) > 0
    want = ref.attention_dropout_keep(np, bh, tq, tk, p, SEED, OFFSET)
    if causal:
        want = want & tril(tq, tk)
    assert np.array_equal(keep, want)
    # The values too: P_ij / (1 - p) where kept.
    visible = np.minimum(np.arange(tq) + 1, tk) if causal else np.full(tq, tk)
    np.testing.assert_allclose(dv[:, :, :tq].transpose(0, 2, 1), want / (1 - p) / visible[None, :, None],
                               **TOLS[dt][0])


@pytest.mark.parametrize("d", [64, 128])
@pytest.mark.parametrize("b, h, tq, tk, causal", [(2, 3, 70, 133, False), (2, 3, 70, 133, True),
                                                  (1, 2, 129, 65, False), (1, 2, 200, 200, True),
                                                  (1, 1, 1, 1, False)])
@pytest.mark.parametrize("p", [0.0, 0.25, 0.8])
def test_matches_reference_and_cuda_core_kernels(cp, cu, dt, monkeypatch, d, b, h, tq, tk, causal, p):
    """Against the float32 reference on the same (dtype-rounded) inputs, and against the CUDA-core kernels of the same
    dtype (TENSORGRAD_ATTN_TC=0): query and key tails, Tq != Tk both ways (causal key tiles no query sees), one row,
    with and without dropout."""
    rng = np.random.default_rng(1)
    q_np, do_np = (rng.standard_normal((b, h, tq, d)).astype(dt).astype(F32) for _ in range(2))
    k_np, v_np = (rng.standard_normal((b, h, tk, d)).astype(dt).astype(F32) for _ in range(2))
    q, k, v, do = (arr(cp, x, dt) for x in (q_np, k_np, v_np, do_np))
    args = (causal, d ** -0.5, p, SEED, OFFSET)
    ks = 1.0 / (1.0 - p)
    fw, bw = (dict(rtol=t["rtol"], atol=t["atol"] * ks) for t in TOLS[dt])   # bw: sums over Tq (dK, dV), Tk (dQ)

    out, lse = cu.attention_forward(q, k, v, *args)
    assert out.dtype == dt and lse.dtype == F32
    rout, rlse = ref.attention_forward(q_np, k_np, v_np, *args)
    np.testing.assert_allclose(host(out), rout, **fw)
    np.testing.assert_allclose(host(lse), rlse, **TOL)
    # Backward on the reference's forward (as test_kernels_cuda.test_attention): the kernel alone.
    fo_np = rout.astype(dt).astype(F32)
    fo, fl = arr(cp, fo_np, dt), cp.asarray(rlse)
    grads = cu.attention_backward(do, q, k, v, fo, fl, *args)
    want = ref.attention_backward(do_np, q_np, k_np, v_np, fo_np, rlse, *args)
    ran_tc(cu, d, dt)
    for name, g, w in zip(("dq", "dk", "dv"), grads, want):
        assert g.dtype == dt, name
        np.testing.assert_allclose(host(g), w, err_msg=name, **bw)

    monkeypatch.setenv("TENSORGRAD_ATTN_TC", "0")
    out0, lse0 = cu.attention_forward(q, k, v, *args)
    grads0 = cu.attention_backward(do, q, k, v, fo, fl, *args)
    dp = 64 if d <= 64 else 128
    assert {"attention_forward_kernel_%s_d%d" % (SFX[dt], dp), "attention_backward_kernel_%s_d%d" % (SFX[dt], dp)} \
        <= set(cu.asked)
    np.testing.assert_allclose(host(out), host(out0), **fw)
    np.testing.assert_allclose(host(lse), host(lse0), **TOL)
    for name, g, g0 in zip(("dq", "dk", "dv"), grads, grads0):
        np.testing.assert_allclose(host(g), host(g0), err_msg=name, **bw)


@pytest.mark.parametrize("d", [64, 128])
@pytest.mark.parametrize("p", [0.0, 0.3])
def test_roundtrip_on_own_forward(cp, cu, dt, d, p):
    """Backward fed the kernel's own out and lse (the training path), against the float32 reference end to end."""
    rng = np.random.default_rng(2)
    xs = [rng.standard_normal((2, 2, 96, d)).astype(dt).astype(F32) for _ in range(4)]
    q, k, v, do = (arr(cp, x, dt) for x in xs)
    args = (True, d ** -0.5, p, SEED, OFFSET)
    out, lse = cu.attention_forward(q, k, v, *args)
    got = cu.attention_backward(do, q, k, v, out, lse, *args)
    ran_tc(cu, d, dt)
    ro, rl = ref.attention_forward(*xs[:3], *args)
    atol = 3e-2 if dt == F16 else 5e-2
    for g, w in zip(got, ref.attention_backward(xs[3], *xs[:3], ro.astype(dt).astype(F32), rl, *args)):
        np.testing.assert_allclose(host(g), w, rtol=5e-2, atol=atol)


@pytest.mark.parametrize("d", [64, 128])
def test_p0_is_the_dropout_free_kernel_and_p1_gives_zeros(cp, cu, dt, d):
    rng = np.random.default_rng(3)
    q, k, v, do = (arr(cp, rng.standard_normal((1, 2, 80, d)), dt) for _ in range(4))
    out, lse = cu.attention_forward(q, k, v, True, 0.1)
    out0, lse0 = cu.attention_forward(q, k, v, True, 0.1, 0.0, SEED, OFFSET)
    assert same(out, out0) and same(lse, lse0)
    for a, b in zip(cu.attention_backward(do, q, k, v, out, lse, True, 0.1),
                    cu.attention_backward(do, q, k, v, out, lse, True, 0.1, 0.0, SEED, OFFSET)):
        assert same(a, b)
    out1, lse1 = cu.attention_forward(q, k, v, True, 0.1, 1.0, SEED, OFFSET)
    assert not host(out1).any() and same(lse1, lse)
    for g in cu.attention_backward(do, q, k, v, out1, lse1, True, 0.1, 1.0, SEED, OFFSET):
        assert not host(g).any()
    ran_tc(cu, d, dt)


def test_graph_state_replaces_seed_and_offset(cp, cu, dt):
    """Under CUDA-graph capture the launcher passes rng_state = {seed, base offset} and offset = the draw's place in
    the step (capture.GraphOffset): the kernels draw at (rng_state[0], rng_state[1] + offset), not at the eager pair."""
    bh, tq, d, tk, p, delta = 3, 70, 64, 64, 0.5, 5
    state = cp.asarray(np.array([SEED, OFFSET - delta], dtype=np.uint64))
    keep, _ = read_forward_mask(cp, cu, bh, tq, d, tk, False, p, dt, seed=12345,
                                offset=capture.GraphOffset(delta, state))
    ran_tc(cu, d, dt, bwd=False)
    assert np.array_equal(keep, ref.attention_dropout_keep(np, bh, tq, tk, p, SEED, OFFSET))
    other, _ = read_forward_mask(cp, cu, bh, tq, d, tk, False, p, dt, seed=12345, offset=delta)
    assert not np.array_equal(other, keep)
