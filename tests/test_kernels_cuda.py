"""CUDA kernels (tensorgrad.backend.cuda) against the reference (tensorgrad.backend.reference).

Each launcher runs on cupy inputs and is compared with (a) the reference run on the same cupy arrays and
(b) the reference run on numpy copies. Forward and backward, float32 and float16 (looser tolerance),
odd shapes. Skipped without CuPy and a GPU.
"""
import numpy as np
import pytest

from tensorgrad.backend import cuda_available, reference

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not cuda_available(), reason="needs CuPy and a CUDA GPU"),
]

F32, F16 = np.float32, np.float16
TOL = {F32: dict(rtol=1e-4, atol=1e-5), F16: dict(rtol=2e-2, atol=2e-2)}
ATTN_TOL = {F32: dict(rtol=2e-4, atol=2e-5), F16: dict(rtol=2e-2, atol=5e-3)}


@pytest.fixture(scope="module")
def cp():
    import cupy
    return cupy


@pytest.fixture(scope="module")
def cu():
    from tensorgrad.backend import cuda
    return cuda


def rng(seed=0):
    return np.random.default_rng(seed)


def to_np(a):
    import cupy
    return None if a is None else (cupy.asnumpy(a) if isinstance(a, cupy.ndarray) else np.asarray(a))


def close(got, want, tol, what=""):
    got, want = to_np(got), to_np(want)
    if want is None:
        assert got is None, what
        return
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), err_msg=what, **tol)


def check_all(got, ref_cupy, ref_numpy, tol, name):
    """got, references: tuples of outputs; compares got with both references."""
    if not isinstance(got, tuple):
        got, ref_cupy, ref_numpy = (got,), (ref_cupy,), (ref_numpy,)
    assert len(got) == len(ref_cupy) == len(ref_numpy)
    for i, (g, rc, rn) in enumerate(zip(got, ref_cupy, ref_numpy)):
        close(g, rc, tol, f"{name}[{i}] vs reference(cupy)")
        close(g, rn, tol, f"{name}[{i}] vs reference(numpy)")


# ----------------------------------------------------------------------------------------- layernorm
@pytest.mark.parametrize("dtype", [F32, F16])
@pytest.mark.parametrize("shape", [(1, 7), (5, 768), (33, 1000), (300, 64), (4, 4096)])
@pytest.mark.parametrize("affine", ["both", "weight", "none"])
def test_layernorm(cp, cu, dtype, shape, affine):
    r = rng(1)
    n, c = shape
    x_np = (r.standard_normal(shape) * 3 + 1).astype(dtype)
    w_np = r.standard_normal(c).astype(F32) if affine != "none" else None
    b_np = r.standard_normal(c).astype(F32) if affine == "both" else None
    dy_np = r.standard_normal(shape).astype(dtype)
    x, dy = cp.asarray(x_np), cp.asarray(dy_np)
    w = None if w_np is None else cp.asarray(w_np)
    b = None if b_np is None else cp.asarray(b_np)

    got = cu.layernorm_forward(x, w, b, 1e-5)
    check_all(got, reference.layernorm_forward(x, w, b, 1e-5),
              reference.layernorm_forward(x_np, w_np, b_np, 1e-5), TOL[dtype], "layernorm_forward")

    _, mean, rstd = reference.layernorm_forward(x, w, b, 1e-5)
    got = cu.layernorm_backward(dy, x, w, mean, rstd)
    bw_tol = TOL[dtype] if dtype == F16 else dict(rtol=1e-4, atol=1e-4)   # sums over up to 300 rows
    check_all(got, reference.layernorm_backward(dy, x, w, mean, rstd),
              reference.layernorm_backward(dy_np, x_np, w_np, to_np(mean), to_np(rstd)), bw_tol, "layernorm_backward")


def test_layernorm_half_weight(cp, cu):
    """float16 weights (pure-fp16 models): dweight/dbias come back as float16."""
    r = rng(2)
    x = cp.asarray(r.standard_normal((17, 96)).astype(F16))
    w = cp.asarray(r.standard_normal(96).astype(F16))
    b = cp.asarray(r.standard_normal(96).astype(F16))
    dy = cp.asarray(r.standard_normal((17, 96)).astype(F16))
    check_all(cu.layernorm_forward(x, w, b, 1e-5), reference.layernorm_forward(x, w, b, 1e-5),
              reference.layernorm_forward(*map(to_np, (x, w, b)), 1e-5), TOL[F16], "ln fwd f16 weight")
    _, mean, rstd = reference.layernorm_forward(x, w, b, 1e-5)
    check_all(cu.layernorm_backward(dy, x, w, mean, rstd), reference.layernorm_backward(dy, x, w, mean, rstd),
              reference.layernorm_backward(*map(to_np, (dy, x, w, mean, rstd))), TOL[F16], "ln bwd f16 weight")


def test_layernorm_float64_falls_back(cp, cu):
    x = cp.asarray(rng(3).standard_normal((4, 8)))
    y, mean, rstd = cu.layernorm_forward(x, None, None, 1e-5)
    assert y.dtype == mean.dtype == rstd.dtype == np.float64
    close(y, reference.layernorm_forward(x, None, None, 1e-5)[0], dict(rtol=1e-12, atol=1e-12))


# ------------------------------------------------------------------------------ softmax cross-entropy
CE_CASES = [
    (1, 65, 0.0, False, 1.0),
    (37, 65, 0.0, True, 1.0),
    (64, 50304, 0.0, True, 1.0),
    (19, 1000, 0.1, True, 1.0),
    (8, 3, 0.0, False, 1.0),
    (16, 777, 0.0, False, 1000.0),     # large logits (online max must avoid overflow)
    (16, 777, 0.2, True, 50.0),
]


@pytest.mark.parametrize("dtype", [F32, F16])
@pytest.mark.parametrize("n,v,ls,ignore,mag", CE_CASES)
def test_softmax_cross_entropy(cp, cu, dtype, n, v, ls, ignore, mag):
    r = rng(4)
    logits_np = (r.standard_normal((n, v)) * mag).astype(dtype)
    if mag > 100:
        logits_np = (logits_np.astype(F32) + 1e4 * (dtype == F32)).astype(dtype)
    target_np = r.integers(0, v, size=n).astype(np.int64)
    if ignore:
        target_np[::3] = -100
    dloss_np = r.standard_normal(n).astype(F32)
    logits, target, dloss = cp.asarray(logits_np), cp.asarray(target_np), cp.asarray(dloss_np)
    tol = dict(TOL[dtype])
    if mag > 10:                           # loss values are O(mag): compare relative to that
        tol["atol"] = tol["atol"] * mag

    got = cu.softmax_cross_entropy_forward(logits, target, -100, ls)
    check_all(got, reference.softmax_cross_entropy_forward(logits, target, -100, ls),
              reference.softmax_cross_entropy_forward(logits_np, target_np, -100, ls), tol, "ce_forward")

    _, stats = reference.softmax_cross_entropy_forward(logits, target, -100, ls)
    want_c = reference.softmax_cross_entropy_backward(logits, target, stats, dloss, -100, ls)
    want_n = reference.softmax_cross_entropy_backward(logits_np, target_np, to_np(stats), dloss_np, -100, ls)
    got = cu.softmax_cross_entropy_backward(logits, target, stats, dloss, -100, ls)
    check_all(got, want_c, want_n, tol, "ce_backward")
    assert got.data.ptr != logits.data.ptr

    buf = logits.copy()
    got = cu.softmax_cross_entropy_backward(buf, target, stats, dloss, -100, ls, inplace=True)
    assert got.data.ptr == buf.data.ptr
    check_all(got, want_c, want_n, tol, "ce_backward inplace")
    if ignore:
        assert not to_np(got)[::3].any()


def test_softmax_cross_entropy_scalar_dloss(cp, cu):
    r = rng(5)
    logits = cp.asarray(r.standard_normal((9, 31)).astype(F32))
    target = cp.asarray(r.integers(0, 31, 9).astype(np.int64))
    _, stats = cu.softmax_cross_entropy_forward(logits, target, -100, 0.0)
    got = cu.softmax_cross_entropy_backward(logits, target, stats, cp.float32(0.5), -100, 0.0)
    want = reference.softmax_cross_entropy_backward(logits, target, stats, cp.full(9, 0.5, F32), -100, 0.0)
    close(got, want, TOL[F32])


# ----------------------------------------------------------------------------------------- attention
ATTN_CASES = [
    # B, H, Tq, Tk, D
    (2, 3, 17, 17, 64),
    (1, 2, 100, 100, 64),
    (2, 2, 130, 130, 128),
    (1, 1, 1, 1, 64),
    (1, 2, 33, 33, 40),       # generic head dim (padded to 64)
    (1, 2, 45, 45, 96),       # generic head dim (padded to 128)
    (2, 1, 20, 50, 64),       # Tq != Tk
    (1, 1, 70, 9, 128),       # Tq > Tk
    # float16 with D = 64 / 128 runs the tensor-core kernels (attention_tc.cu, 64-row tiles): tails,
    # several tiles, Tq != Tk both ways (causal blocks of keys that no query sees), a single row.
    (1, 1, 1, 1, 128),
    (2, 2, 300, 300, 64),
    (1, 2, 300, 300, 128),
    (1, 2, 77, 200, 128),     # Tq < Tk: key tiles past Tq
    (1, 1, 200, 70, 64),      # Tq > Tk
    (1, 1, 129, 64, 64),      # Tq one past a tile, Tk exactly one tile
]


@pytest.mark.parametrize("dtype", [F32, F16])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("b,h,tq,tk,d", ATTN_CASES)
def test_attention(cp, cu, dtype, causal, b, h, tq, tk, d):
    r = rng(6)
    q_np = r.standard_normal((b, h, tq, d)).astype(dtype)
    k_np = r.standard_normal((b, h, tk, d)).astype(dtype)
    v_np = r.standard_normal((b, h, tk, d)).astype(dtype)
    do_np = r.standard_normal((b, h, tq, d)).astype(dtype)
    q, k, v, do = (cp.asarray(a) for a in (q_np, k_np, v_np, do_np))
    scale = 1.0 / np.sqrt(d)
    tol = ATTN_TOL[dtype]

    got = cu.attention_forward(q, k, v, causal, scale)
    check_all(got, reference.attention_forward(q, k, v, causal, scale),
              reference.attention_forward(q_np, k_np, v_np, causal, scale), tol, "attention_forward")

    out, lse = reference.attention_forward(q, k, v, causal, scale)
    got = cu.attention_backward(do, q, k, v, out, lse, causal, scale)
    bw_tol = dict(rtol=tol["rtol"] * 5, atol=tol["atol"] * 5)    # sums over Tq (dK, dV) and Tk (dQ)
    check_all(got, reference.attention_backward(do, q, k, v, out, lse, causal, scale),
              reference.attention_backward(do_np, q_np, k_np, v_np, to_np(out), to_np(lse), causal, scale),
              bw_tol, "attention_backward")


@pytest.mark.parametrize("tc", ["0", "1"])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("b,h,tq,tk,d", [(2, 2, 100, 100, 64), (1, 2, 70, 150, 128)])
def test_attention_tc_switch(cp, cu, monkeypatch, tc, causal, b, h, tq, tk, d):
    """float16, D = 64 / 128: TENSORGRAD_ATTN_TC=1 (tensor-core kernels) and =0 (FFMA kernels) both match
    the reference, forward and backward (fed the kernel's own forward outputs)."""
    monkeypatch.setenv("TENSORGRAD_ATTN_TC", tc)
    r = rng(9)
    q, do = (cp.asarray(r.standard_normal((b, h, tq, d)).astype(F16)) for _ in range(2))
    k, v = (cp.asarray(r.standard_normal((b, h, tk, d)).astype(F16)) for _ in range(2))
    scale = 1.0 / np.sqrt(d)
    tol = ATTN_TOL[F16]
    out, lse = cu.attention_forward(q, k, v, causal, scale)
    ro, rl = reference.attention_forward(q, k, v, causal, scale)
    close(out, ro, tol, "out")
    close(lse, rl, tol, "lse")
    got = cu.attention_backward(do, q, k, v, out, lse, causal, scale)
    want = reference.attention_backward(do, q, k, v, out, lse, causal, scale)
    for name, g, w in zip(("dq", "dk", "dv"), got, want):
        close(g, w, dict(rtol=tol["rtol"] * 5, atol=tol["atol"] * 5), name)
    if tc == "1":   # the tensor-core kernels really ran (a failed alignment check would fall back silently)
        loaded = {key[2] for key in cu._functions if key[0] == "attention_tc"}
        assert {"attention_forward_kernel_f16_tc_d%d" % d, "attention_backward_kernel_f16_tc_d%d" % d} <= loaded


def test_attention_roundtrip_uses_own_lse(cp, cu):
    """Backward fed with the kernel's own forward outputs (the real training path)."""
    r = rng(7)
    q, k, v, do = (cp.asarray(r.standard_normal((2, 4, 64, 64)).astype(F16)) for _ in range(4))
    out, lse = cu.attention_forward(q, k, v, True, 0.125)
    got = cu.attention_backward(do, q, k, v, out, lse, True, 0.125)
    ro, rl = reference.attention_forward(q, k, v, True, 0.125)
    want = reference.attention_backward(do, q, k, v, ro, rl, True, 0.125)
    for g, w in zip(got, want):
        close(g, w, dict(rtol=5e-2, atol=2e-2))


@pytest.mark.parametrize("shape,dtype", [((1, 2, 8, 160), F32), ((1, 1, 8, 32), np.float64)])
def test_attention_fallbacks(cp, cu, shape, dtype):
    """Head dim > 128 and float64 go to the reference."""
    r = rng(8)
    q, k, v = (cp.asarray(r.standard_normal(shape).astype(dtype)) for _ in range(3))
    got = cu.attention_forward(q, k, v, True, 0.1)
    check_all(got, reference.attention_forward(q, k, v, True, 0.1),
              reference.attention_forward(*map(to_np, (q, k, v)), True, 0.1), TOL[F32], "attention fallback")


# ---------------------------------------------------------------------------------------------- gelu
@pytest.mark.parametrize("dtype", [F32, F16])
@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("shape", [(1,), (1023,), (7, 129), (64, 3072)])
def test_gelu(cp, cu, dtype, approximate, shape):
    r = rng(9)
    x_np = (r.standard_normal(shape) * 3).astype(dtype)
    dy_np = r.standard_normal(shape).astype(dtype)
    x, dy = cp.asarray(x_np), cp.asarray(dy_np)
    check_all(cu.gelu_forward(x, approximate), reference.gelu_forward(x, approximate),
              reference.gelu_forward(x_np, approximate), TOL[dtype], "gelu_forward")
    check_all(cu.gelu_backward(dy, x, approximate), reference.gelu_backward(dy, x, approximate),
              reference.gelu_backward(dy_np, x_np, approximate), TOL[dtype], "gelu_backward")


@pytest.mark.parametrize("dtype", [F32, F16])
def test_gelu_unaligned_views(cp, cu, dtype):
    """Views that start off a 16-byte boundary take the scalar path."""
    base = cp.asarray((rng(10).standard_normal(1001) * 2).astype(dtype))
    x, dy = base[1:], base[:-1]
    close(cu.gelu_forward(x, "tanh"), reference.gelu_forward(x, "tanh"), TOL[dtype])
    close(cu.gelu_backward(dy, x, "none"), reference.gelu_backward(dy, x, "none"), TOL[dtype])


# ----------------------------------------------------------------------------------------- bias_dropout_add
@pytest.mark.parametrize("dtype", [F32, F16])
@pytest.mark.parametrize("shape", [(1,), (7, 5), (2, 3, 1029), (64, 384)])
@pytest.mark.parametrize("p", [0.0, 0.2, 1.0])
def test_bias_dropout_add(cp, cu, dtype, shape, p):
    """The same Philox mask as the reference and the CPU kernel: forward with and without bias, backward."""
    r = rng(13)
    x_np, h_np, g_np = (r.standard_normal(shape).astype(dtype) for _ in range(3))
    b_np = r.standard_normal(shape[-1]).astype(dtype)
    x, h, g, b = (cp.asarray(a) for a in (x_np, h_np, g_np, b_np))
    for bias, bias_np in ((None, None), (b, b_np)):
        check_all(cu.bias_dropout_add_forward(x, h, bias, p, 123456789, 5),
                  reference.bias_dropout_add_forward(x, h, bias, p, 123456789, 5),
                  reference.bias_dropout_add_forward(x_np, h_np, bias_np, p, 123456789, 5), TOL[dtype],
                  "bias_dropout_add_forward")
    got = to_np(cu.bias_dropout_add_backward(g, p, 123456789, 5))
    want = reference.bias_dropout_add_backward(g_np, p, 123456789, 5)
    assert np.array_equal(got == 0, want == 0)          # the very same mask
    close(cu.bias_dropout_add_backward(g, p, 123456789, 5), want, TOL[dtype])


# --------------------------------------------------------------------------------------------- adamw
@pytest.mark.parametrize("grad_dtype", [F32, F16])
def test_adamw(cp, cu, grad_dtype):
    r = rng(12)
    sizes = [(1,), (100,), (50, 800), (70001,), (3, 5, 7)]   # 40000 and 70001 span several chunks
    params = [r.standard_normal(s).astype(F32) for s in sizes]
    ms = [np.zeros(s, F32) for s in sizes]
    vs = [np.zeros(s, F32) for s in sizes]
    gp, gm, gv = ([cp.asarray(a) for a in arrs] for arrs in (params, ms, vs))
    rp, rm, rv = ([cp.asarray(a) for a in arrs] for arrs in (params, ms, vs))
    hyper = dict(lr=1e-3, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.1)
    for step in range(1, 4):
        grads = [cp.asarray(r.standard_normal(s).astype(grad_dtype)) for s in sizes]
        cu.adamw_step(gp, grads, gm, gv, step=step, **hyper)
        reference.adamw_step(rp, grads, rm, rv, step=step, **hyper)
        np_grads = [to_np(g) for g in grads]
        reference.adamw_step(params, np_grads, ms, vs, step=step, **hyper)
    for got, want_c, want_n in zip(gp + gm + gv, rp + rm + rv, params + ms + vs):
        close(got, want_c, dict(rtol=1e-5, atol=1e-6), "adamw vs reference(cupy)")
        close(got, want_n, dict(rtol=1e-5, atol=1e-6), "adamw vs reference(numpy)")


def test_adamw_float64_params_fall_back(cp, cu):
    p = cp.ones(10, dtype=np.float64)
    g = cp.full(10, 0.5, dtype=np.float64)
    m, v = cp.zeros_like(p), cp.zeros_like(p)
    rp, rm, rv = p.copy(), m.copy(), v.copy()
    cu.adamw_step([p], [g], [m], [v], 1e-2, 0.9, 0.999, 1e-8, 0.0, 1)
    reference.adamw_step([rp], [g], [rm], [rv], 1e-2, 0.9, 0.999, 1e-8, 0.0, 1)
    close(p, rp, dict(rtol=0, atol=0))


# ------------------------------------------------------------------------------------------ plumbing
def test_every_kernel_file_compiles(cu):
    cu.compile_all()


# Kernels without a CUDA launcher of their own: on CUDA the registry gives their xp reference, which runs as CuPy ops
# (elementwise/reduction kernels CuPy already fuses, the double backwards, the recurrent cells, CTC on the host)
CUDA_BY_REFERENCE = {"layernorm_double_backward", "attention_forward_packed", "attention_backward_packed",
                     "gelu_double_backward", "embedding_backward", "pack_b", "cast", "binary", "where", "reduce_sum",
                     "lstm_cell_forward", "lstm_cell_backward", "gru_cell_forward", "gru_cell_backward",
                     "ctc_loss_forward", "ctc_loss_backward"}


def test_registry_picks_cuda_kernels():
    from tensorgrad.backend import cuda, kernels
    if kernels.mode() == "reference":
        pytest.skip("TENSORGRAD_KERNELS=reference")
    from tensorgrad.backend import reference
    for name in kernels.NAMES:
        # a CUDA launcher where backend/cuda.py has one; the xp reference (CuPy's own ops) for the others
        assert kernels.get(name, "cuda") is (getattr(cuda, name, None) or getattr(reference, name)), name
    assert {n for n in kernels.NAMES if not hasattr(cuda, n)} == CUDA_BY_REFERENCE


def test_configure_matmul(cp, cu):
    types = cu.configure_matmul()
    assert types["float16"] == "COMPUTE_TYPE_FP32"
    a = cp.asarray(rng(13).standard_normal((64, 300)).astype(F16))
    b = cp.asarray(rng(14).standard_normal((300, 32)).astype(F16))
    close((a @ b), (to_np(a).astype(F32) @ to_np(b).astype(F32)).astype(F16), dict(rtol=1e-2, atol=5e-2))


# ------------------------------------------------------------------------------------ gemm / scatter_add
@pytest.mark.parametrize("dtype", [F32, F16])
@pytest.mark.parametrize("shapes", [((7, 5), (5, 3)), ((3, 16, 8), (3, 8, 12))])
def test_gemm_cuda_matches_reference(cp, cu, dtype, shapes):
    r = rng(12)
    a, b = (r.standard_normal(s).astype(dtype) for s in shapes)
    bias = r.standard_normal(shapes[1][-1]).astype(dtype)
    got = cu.gemm(cp.asarray(a), cp.asarray(b), cp.asarray(bias))
    close(got, reference.gemm(a, b, bias.copy()), TOL[dtype], "gemm")


def test_scatter_add_cuda(cp, cu):
    out = cp.zeros(4)
    cu.scatter_add(out, (cp.asarray([0, 2, 2, 2]),), cp.asarray([1.0, 2.0, 3.0, 4.0]))
    np.testing.assert_array_equal(cp.asnumpy(out), [1.0, 0.0, 9.0, 0.0])
