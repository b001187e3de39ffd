"""Fused CPU kernels (tensorgrad._C through tensorgrad.backend.cpu) vs the reference kernels and vs PyTorch.

Every kernel, forward and backward, float32 and float64 natively, float16 through the launcher's float32 path.
Errors are measured relative to the largest magnitude of the expected array, so exact zeros (masked or ignored
entries) and tiny values are held to the same absolute standard.
"""
import numpy as np
import pytest

from tensorgrad.backend import cpu, reference as ref

torch = pytest.importorskip("torch")
F = torch.nn.functional

TOL = {np.float64: 1e-10, np.float32: 2e-5, np.float16: 2e-3}


def close(got, want, dtype, tol=None):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    err = np.abs(got - want).max() if got.size else 0.0
    bound = (tol or TOL[dtype]) * max(1.0, np.abs(want).max() if want.size else 0.0)
    assert err <= bound, f"max abs error {err:.3e} > {bound:.3e}"


def t(a, grad=False):
    return torch.tensor(np.asarray(a), requires_grad=grad)


def acc(dtype):
    return np.float64 if dtype == np.float64 else np.float32


DTYPES = [np.float32, np.float64]


# ----------------------------------------------------------------------------------------------- layernorm
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 7), (5, 33), (64, 128), (3, 2)])
@pytest.mark.parametrize("affine", ["both", "weight", "bias", "none"])
def test_layernorm(dtype, shape, affine):
    rng = np.random.default_rng(0)
    n, c = shape
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    w = rng.standard_normal(c).astype(dtype) if affine in ("both", "weight") else None
    b = rng.standard_normal(c).astype(dtype) if affine in ("both", "bias") else None
    dy = rng.standard_normal(shape).astype(dtype)

    y, mean, rstd = cpu.layernorm_forward(x, w, b, 1e-5)
    ry, rmean, rrstd = ref.layernorm_forward(x, w, b, 1e-5)
    assert y.dtype == dtype and mean.dtype == acc(dtype) and rstd.dtype == acc(dtype)
    for a, r in ((y, ry), (mean, rmean), (rstd, rrstd)):
        close(a, r, dtype)
    grads = cpu.layernorm_backward(dy, x, w, mean, rstd)
    rgrads = ref.layernorm_backward(dy, x, w, rmean, rrstd)
    for a, r in zip(grads, rgrads):
        assert (a is None) == (r is None)
        if a is not None:
            assert a.dtype == r.dtype
            close(a, r, dtype)

    tx, tw, tb = t(x, True), None if w is None else t(w, True), None if b is None else t(b, True)
    ty = F.layer_norm(tx, (c,), tw, tb, 1e-5)
    close(y, ty.detach().numpy(), dtype)
    ins = [a for a in (tx, tw, tb) if a is not None]
    tg = torch.autograd.grad(ty, ins, t(dy))
    close(grads[0], tg[0], dtype)
    if w is not None:
        close(grads[1], tg[1], dtype)
    close(grads[2], tg[-1] if b is not None else dy.sum(0), dtype)


# ------------------------------------------------------------------------------------ softmax cross-entropy
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,v", [(1, 65), (7, 65), (64, 65), (33, 1000), (5, 2)])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
@pytest.mark.parametrize("logit_scale", [3.0, 1e4])
def test_softmax_cross_entropy(dtype, n, v, label_smoothing, logit_scale):
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((n, v)) * logit_scale).astype(dtype)
    target = rng.integers(0, v, n)
    if n > 1:
        target[1::3] = -100  # ignored rows
    dloss = rng.standard_normal(n).astype(acc(dtype))

    loss, stats = cpu.softmax_cross_entropy_forward(x, target, -100, label_smoothing)
    rloss, rstats = ref.softmax_cross_entropy_forward(x, target, -100, label_smoothing)
    assert loss.dtype == acc(dtype) and stats.dtype == acc(dtype)
    close(loss, rloss, dtype)
    close(stats, rstats, dtype)
    dx = cpu.softmax_cross_entropy_backward(x, target, stats, dloss, -100, label_smoothing)
    rdx = ref.softmax_cross_entropy_backward(x, target, rstats, dloss, -100, label_smoothing)
    assert dx.dtype == dtype
    close(dx, rdx, dtype)
    assert np.all(dx[target == -100] == 0)

    tx = t(x, True)
    tl = F.cross_entropy(tx, t(target), reduction="none", ignore_index=-100, label_smoothing=label_smoothing)
    close(loss, tl.detach().numpy(), dtype)
    (tdx,) = torch.autograd.grad(tl, (tx,), t(dloss.astype(dtype)))
    close(dx, tdx, dtype)


def test_softmax_cross_entropy_other_ignore_index():
    x = np.random.default_rng(2).standard_normal((4, 5))
    target = np.array([0, 3, 3, 4])
    loss, stats = cpu.softmax_cross_entropy_forward(x, target, 3, 0.0)
    close(loss, ref.softmax_cross_entropy_forward(x, target, 3, 0.0)[0], np.float64)
    assert loss[1] == 0 and loss[2] == 0


# ----------------------------------------------------------------------------------------------- attention
ATTN_SHAPES = [  # (B, H, Tq, Tk, D)
    (2, 3, 64, 64, 32),    # baby GPT head
    (2, 2, 70, 70, 16),    # T not a multiple of the key tile
    (1, 1, 1, 1, 8),       # one row, one key
    (1, 2, 5, 130, 24),    # Tq < Tk, generic D
    (1, 2, 130, 67, 32),   # Tq > Tk
    (1, 1, 200, 200, 64),  # several tiles, D = 64
    (3, 1, 33, 33, 20),
    (1, 2, 70, 70, 128),   # D = 128: two 4-vector column blocks (float32), four (float64)
    (2, 1, 37, 45, 48),    # D = 48: one 3-vector block; Tk > Tq
    (1, 1, 66, 66, 40),    # D = 40: blocks plus a scalar tail
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", ATTN_SHAPES)
@pytest.mark.parametrize("causal", [True, False])
def test_attention(dtype, shape, causal):
    b, h, tq, tk, d = shape
    rng = np.random.default_rng(3)
    q = rng.standard_normal((b, h, tq, d)).astype(dtype)
    k = rng.standard_normal((b, h, tk, d)).astype(dtype)
    v = rng.standard_normal((b, h, tk, d)).astype(dtype)
    dout = rng.standard_normal((b, h, tq, d)).astype(dtype)
    scale = 1.0 / np.sqrt(d)

    out, lse = cpu.attention_forward(q, k, v, causal, scale)
    rout, rlse = ref.attention_forward(q, k, v, causal, scale)
    assert out.dtype == dtype and lse.dtype == acc(dtype) and lse.shape == (b, h, tq)
    close(out, rout, dtype)
    close(lse, rlse, dtype)
    grads = cpu.attention_backward(dout, q, k, v, out, lse, causal, scale)
    rgrads = ref.attention_backward(dout, q, k, v, rout, rlse, causal, scale)
    for a, r in zip(grads, rgrads):
        assert a.dtype == dtype
        close(a, r, dtype)

    tq_, tk_, tv_ = t(q, True), t(k, True), t(v, True)
    to = F.scaled_dot_product_attention(tq_, tk_, tv_, is_causal=causal, scale=scale)
    close(out, to.detach().numpy(), dtype)
    tgrads = torch.autograd.grad(to, (tq_, tk_, tv_), t(dout))
    for a, r in zip(grads, tgrads):
        close(a, r, dtype)


PACKED_SHAPES = [  # (B, T, n_head, D)
    (2, 64, 4, 32),    # baby GPT block
    (3, 70, 2, 16),    # T not a multiple of the key tile, rows not a multiple of the 4-row blocks
    (1, 1, 1, 8),      # one token
    (2, 130, 3, 20),   # generic D, several tiles
    (1, 67, 2, 64),
]


@pytest.mark.parametrize("dtype", DTYPES + [np.float16])
@pytest.mark.parametrize("shape", PACKED_SHAPES)
@pytest.mark.parametrize("causal", [True, False])
def test_attention_packed(dtype, shape, causal):
    """The packed kernels read q|k|v from (B, T, 3C) and write (B, T, C) in place: they must equal the reference
    (split, attend, merge) and the (B, H, T, D) kernels on the same heads, forward and backward."""
    b, tt, h, d = shape
    c = h * d
    rng = np.random.default_rng(5)
    qkv = rng.standard_normal((b, tt, 3 * c)).astype(dtype)
    dout = rng.standard_normal((b, tt, c)).astype(dtype)
    scale = 1.0 / np.sqrt(d)
    out, lse = cpu.attention_forward_packed(qkv, h, causal, scale)
    rout, rlse = ref.attention_forward_packed(qkv, h, causal, scale)
    assert out.shape == (b, tt, c) and out.dtype == dtype and lse.shape == (b, h, tt) and lse.dtype == acc(dtype)
    close(out, rout, dtype)
    close(lse, rlse, dtype)
    dqkv = cpu.attention_backward_packed(dout, qkv, out, lse, h, causal, scale)
    assert dqkv.shape == qkv.shape and dqkv.dtype == dtype
    close(dqkv, ref.attention_backward_packed(dout, qkv, rout, rlse, h, causal, scale), dtype)
    if dtype == np.float16:
        return
    heads = [np.ascontiguousarray(qkv[..., i * c:(i + 1) * c].reshape(b, tt, h, d).transpose(0, 2, 1, 3))
             for i in range(3)]
    out4, lse4 = cpu.attention_forward(*heads, causal, scale)
    np.testing.assert_array_equal(out, out4.transpose(0, 2, 1, 3).reshape(b, tt, c))  # same arithmetic, other layout
    np.testing.assert_array_equal(lse, lse4)
    g4 = np.ascontiguousarray(dout.reshape(b, tt, h, d).transpose(0, 2, 1, 3))
    for i, g in enumerate(cpu.attention_backward(g4, *heads, out4, lse4, causal, scale)):
        np.testing.assert_array_equal(dqkv[..., i * c:(i + 1) * c], g.transpose(0, 2, 1, 3).reshape(b, tt, c))


def test_attention_packed_errors():
    with pytest.raises(ValueError, match=r"attention_forward_packed.*C divisible by n_head=5.*\(2, 3, 24\)"):
        cpu.attention_forward_packed(np.zeros((2, 3, 24), np.float32), 5, True, 1.0)
    with pytest.raises(ValueError, match=r"attention_forward_packed.*\(B, T, 3C\).*\(2, 3, 25\)"):
        cpu.attention_forward_packed(np.zeros((2, 3, 25), np.float32), 1, True, 1.0)
    qkv = np.zeros((2, 3, 24), np.float32)
    out, lse = cpu.attention_forward_packed(qkv, 2, True, 1.0)
    with pytest.raises(ValueError, match=r"attention_backward_packed.*dout must have shape \(2, 3, 8\)"):
        cpu.attention_backward_packed(np.zeros((2, 3, 9), np.float32), qkv, out, lse, 2, True, 1.0)
    from tensorgrad import _C   # the launcher casts lse to the compute dtype; the kernel itself checks
    with pytest.raises(TypeError, match="attention_backward_packed.*lse"):
        _C.attention_backward_packed(out, qkv, out, lse.astype(np.float64), 2, True, 1.0)


def test_attention_large_scores_and_workspace():
    # Scores of +-1e3 stress the online-softmax rescaling across key tiles.
    rng = np.random.default_rng(4)
    q = rng.standard_normal((1, 2, 150, 16)) * 30
    k = rng.standard_normal((1, 2, 150, 16)) * 30
    v = rng.standard_normal((1, 2, 150, 16))
    out, lse = cpu.attention_forward(q, k, v, True, 0.25)
    rout, rlse = ref.attention_forward(q, k, v, True, 0.25)
    close(out, rout, np.float64)
    close(lse, rlse, np.float64)
    from tensorgrad import _C
    small = _C.attention_workspace_bytes(12, 4, 256, 256, 32, 4, True)
    big = _C.attention_workspace_bytes(12, 4, 2048, 2048, 32, 4, True)
    assert big - small <= 8 * _C.num_threads() * 4 * (2048 - 256)  # linear in T: only delta grows with T


# ----------------------------------------------------------------------------------------------- embedding
@pytest.mark.parametrize("dtype", DTYPES + [np.float16])
@pytest.mark.parametrize("n,N,C", [(65, 768, 128), (5, 1, 3), (7, 0, 4), (3, 40, 200), (1000, 33, 1)])
def test_embedding_backward(dtype, n, N, C):
    rng = np.random.default_rng(6)
    idx = rng.integers(0, n, N)            # repeats: several rows add into one embedding
    dy = rng.standard_normal((N, C)).astype(dtype)
    got = cpu.embedding_backward(idx, dy, n)
    assert got.shape == (n, C) and got.dtype == dtype
    close(got, ref.embedding_backward(idx, dy.astype(acc(dtype)), n), dtype)
    tw = t(np.zeros((n, C)), True)
    F.embedding(torch.tensor(idx), tw).backward(t(dy.astype(np.float64)))
    close(got, tw.grad.numpy(), dtype)


def test_embedding_backward_errors():
    dy = np.ones((3, 2), np.float32)
    with pytest.raises(ValueError, match=r"embedding_backward: index 5 at position 1 is out of range for num_embeddings=5"):
        cpu.embedding_backward(np.array([0, 5, 1]), dy, 5)
    with pytest.raises(ValueError, match=r"embedding_backward: index -1 at position 2"):
        cpu.embedding_backward(np.array([0, 1, -1]), dy, 5)
    with pytest.raises(ValueError, match=r"embedding_backward: idx must be .*shape \(3,\), got \(2,\)"):
        cpu.embedding_backward(np.array([0, 1]), dy, 5)
    with pytest.raises(TypeError, match="embedding_backward.*dy must be float16, bfloat16, float32 or float64"):
        cpu.embedding_backward(np.array([0, 1, 2]), dy.astype(np.int32), 5)


# ---------------------------------------------------------------------------------------------------- gelu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("shape", [(1,), (3, 5), (64, 512), (2, 3, 7)])
def test_gelu(dtype, approximate, shape):
    rng = np.random.default_rng(5)
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    x.flat[0] = 12.0 if x.size > 1 else x.flat[0]
    x.flat[-1] = -12.0 if x.size > 2 else x.flat[-1]
    dy = rng.standard_normal(shape).astype(dtype)
    y = cpu.gelu_forward(x, approximate)
    dx = cpu.gelu_backward(dy, x, approximate)
    assert y.dtype == dtype and dx.dtype == dtype and y.shape == shape
    close(y, ref.gelu_forward(x, approximate), dtype)
    close(dx, ref.gelu_backward(dy, x, approximate), dtype)
    tx = t(x, True)
    ty = F.gelu(tx, approximate=approximate)
    close(y, ty.detach().numpy(), dtype)
    close(dx, torch.autograd.grad(ty, (tx,), t(dy))[0], dtype)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("shape", [(), (1,), (3, 5), (64, 513)])
def test_gelu_bfloat16_native_equals_float32_rounded_once(approximate, shape):
    """bf16 GELU reads and writes bf16 in the kernel: bit for bit the float32 kernel on the upcast input, rounded
    once (what the cast-around path gave), and within 1 bf16 ulp of torch's bf16 GELU and its gradient (plus 2e-5
    absolute: below x = -4 both take 1 + erf(x / sqrt 2) in float32, which cancels, each with its own erf)."""
    from tensorgrad.dtypes import bfloat16 as BF
    rng = np.random.default_rng(7)
    x = np.asarray(rng.standard_normal(shape) * 3, np.float32)
    if x.size > 2:
        x.flat[0], x.flat[1], x.flat[2] = 12.0, -12.0, np.nan
    xb, dyb = x.astype(BF), np.asarray(rng.standard_normal(shape), np.float32).astype(BF)
    y, dx = cpu.gelu_forward(xb, approximate), cpu.gelu_backward(dyb, xb, approximate)
    assert y.dtype == BF and dx.dtype == BF and y.shape == shape and dx.shape == shape
    want_y = cpu.cast(cpu.gelu_forward(xb.astype(np.float32), approximate), BF)
    want_dx = cpu.cast(cpu.gelu_backward(dyb.astype(np.float32), xb.astype(np.float32), approximate), BF)
    np.testing.assert_array_equal(y.view(np.uint16), want_y.view(np.uint16))
    np.testing.assert_array_equal(dx.view(np.uint16), want_dx.view(np.uint16))
    tx = torch.from_numpy(xb.astype(np.float32)).bfloat16().requires_grad_()
    ty = F.gelu(tx, approximate=approximate)
    (tdx,) = torch.autograd.grad(ty, (tx,), torch.from_numpy(dyb.astype(np.float32)).bfloat16())
    for ours, theirs in ((y, ty), (dx, tdx)):
        a, b = ours.astype(np.float32), theirs.detach().float().numpy()
        ok = np.isnan(b) | (np.abs(a - b) <= np.abs(b) * 2.0 ** -7 * 1.01 + 2e-5)
        assert ok.all() and (np.isnan(a) == np.isnan(b)).all()


# --------------------------------------------------------------------------------------------------- adamw
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_adamw(dtype, weight_decay):
    rng = np.random.default_rng(6)
    shapes = [(3, 4), (7,), (1,), (100, 50), (20000,)]  # the last spans several OpenMP chunks
    ps = [rng.standard_normal(s).astype(dtype) for s in shapes]
    ms = [np.zeros(s, dtype) for s in shapes]
    vs = [np.zeros(s, dtype) for s in shapes]
    rps, rms, rvs = [p.copy() for p in ps], [m.copy() for m in ms], [v.copy() for v in vs]
    tps = [t(p, True) for p in ps]
    opt = torch.optim.AdamW(tps, lr=1e-2, betas=(0.9, 0.99), eps=1e-8, weight_decay=weight_decay)
    for step in range(1, 4):
        gs = [rng.standard_normal(s).astype(dtype) for s in shapes]
        cpu.adamw_step(ps, gs, ms, vs, 1e-2, 0.9, 0.99, 1e-8, weight_decay, step)
        ref.adamw_step(rps, gs, rms, rvs, 1e-2, 0.9, 0.99, 1e-8, weight_decay, step)
        for tp, g in zip(tps, gs):
            tp.grad = t(g)
        opt.step()
    for p, m, v, rp, rm, rv, tp in zip(ps, ms, vs, rps, rms, rvs, tps):
        assert p.dtype == dtype
        close(p, rp, dtype)
        close(m, rm, dtype)
        close(v, rv, dtype)
        close(p, tp.detach().numpy(), dtype)


def test_adamw_noncontiguous_and_half_grads():
    rng = np.random.default_rng(7)
    base = rng.standard_normal((6, 8)).astype(np.float32)
    p = base[:, ::2]  # a strided view is updated in place through a contiguous copy
    g = rng.standard_normal((6, 4)).astype(np.float16)
    m, v = np.zeros((6, 4), np.float32), np.zeros((6, 4), np.float32)
    rp, rm, rv = p.copy(), m.copy(), v.copy()
    cpu.adamw_step([p], [g], [m], [v], 1e-2, 0.9, 0.999, 1e-8, 0.1, 1)
    ref.adamw_step([rp], [g], [rm], [rv], 1e-2, 0.9, 0.999, 1e-8, 0.1, 1)
    close(base[:, ::2], rp, np.float32)
    close(m, rm, np.float32)


# ------------------------------------------------------------------------------------------------- float16
def test_float16_inputs():
    rng = np.random.default_rng(8)
    h = np.float16
    x = rng.standard_normal((9, 40)).astype(h)
    w, b = rng.standard_normal(40).astype(h), rng.standard_normal(40).astype(h)
    out, rout = cpu.layernorm_forward(x, w, b, 1e-5), ref.layernorm_forward(x, w, b, 1e-5)
    assert out[0].dtype == h and out[1].dtype == np.float32
    for a, r in zip(out, rout):
        close(a, r, h)
    dy = rng.standard_normal((9, 40)).astype(h)
    for a, r in zip(cpu.layernorm_backward(dy, x, w, out[1], out[2]), ref.layernorm_backward(dy, x, w, rout[1], rout[2])):
        assert a.dtype == r.dtype
        close(a, r, h)

    target = rng.integers(0, 40, 9)
    target[0] = -100
    loss, stats = cpu.softmax_cross_entropy_forward(x, target, -100, 0.1)
    rloss, rstats = ref.softmax_cross_entropy_forward(x, target, -100, 0.1)
    assert loss.dtype == np.float32
    close(loss, rloss, h)
    dl = rng.standard_normal(9).astype(np.float32)
    dx = cpu.softmax_cross_entropy_backward(x, target, stats, dl, -100, 0.1)
    assert dx.dtype == h
    close(dx, ref.softmax_cross_entropy_backward(x, target, rstats, dl, -100, 0.1), h)

    q, k, v, do = (rng.standard_normal((1, 2, 70, 16)).astype(h) for _ in range(4))
    o, l = cpu.attention_forward(q, k, v, True, 0.25)
    ro, rl = ref.attention_forward(q, k, v, True, 0.25)
    assert o.dtype == h and l.dtype == np.float32
    close(o, ro, h)
    close(l, rl, h)
    for a, r in zip(cpu.attention_backward(do, q, k, v, o, l, True, 0.25),
                    ref.attention_backward(do, q, k, v, ro, rl, True, 0.25)):
        assert a.dtype == h
        close(a, r, h, tol=5e-3)

    for ap in ("none", "tanh"):
        assert cpu.gelu_forward(x, ap).dtype == h
        close(cpu.gelu_forward(x, ap), ref.gelu_forward(x, ap), h)
        close(cpu.gelu_backward(dy, x, ap), ref.gelu_backward(dy, x, ap), h)


# -------------------------------------------------------------------------------------------------- errors
def test_bad_inputs_raise_clear_errors():
    x = np.zeros((4, 8), np.float32)
    with pytest.raises(ValueError, match="layernorm_forward.*weight"):
        cpu.layernorm_forward(x, np.ones(7, np.float32), None, 1e-5)
    with pytest.raises(ValueError, match=r"layernorm_forward.*x must have shape"):
        cpu.layernorm_forward(np.zeros(8, np.float32), None, None, 1e-5)
    with pytest.raises(TypeError, match="gelu_forward.*int64"):
        cpu.gelu_forward(np.zeros(3, np.int64), "none")
    with pytest.raises(ValueError, match="approximate"):
        cpu.gelu_forward(x, "erf")
    with pytest.raises(ValueError, match=r"attention_forward.*k must have shape \(1, 2, \*, 16\)"):
        cpu.attention_forward(np.zeros((1, 2, 5, 16)), np.zeros((1, 2, 5, 8)), np.zeros((1, 2, 5, 8)), False, 1.0)
    with pytest.raises(ValueError, match="softmax_cross_entropy_forward.*target"):
        cpu.softmax_cross_entropy_forward(x, np.array([0, 1, 9, 2]), -100, 0.0)
    with pytest.raises(ValueError, match="softmax_cross_entropy_forward.*target must have shape"):
        cpu.softmax_cross_entropy_forward(x, np.array([0, 1]), -100, 0.0)
    with pytest.raises(ValueError, match="adamw_step.*equal lengths"):
        cpu.adamw_step([x], [], [x], [x], 1e-3, 0.9, 0.999, 1e-8, 0.0, 1)


def test_registry_uses_compiled_kernels():
    from tensorgrad.backend import kernels
    kernels.clear_cache()
    if kernels.mode() == "reference":
        pytest.skip("TENSORGRAD_KERNELS=reference")
    # scatter_add's CPU path is NumPy's own unbuffered np.add.at, which is also its reference: no launcher of its own.
    for name in kernels.NAMES:
        assert kernels.which(name, "cpu") == ("reference" if name == "scatter_add" else "kernel"), name


# ------------------------------------------------------------------------ gemm / scatter_add / capturable AdamW
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("shapes", [((7, 5), (5, 3)), ((64, 48), (48, 32)), ((3, 16, 8), (3, 8, 12)),
                                    ((2, 1, 9, 4), (5, 4, 6)), ((0, 4), (4, 3)), ((4, 0), (0, 3))])
@pytest.mark.parametrize("with_bias", [False, True])
def test_gemm_kernel_matches_reference(dtype, shapes, with_bias):
    from tensorgrad.backend import kernels, reference
    r = np.random.default_rng(3)
    a, b = (r.standard_normal(s).astype(dtype) for s in shapes)
    bias = r.standard_normal(shapes[1][-1]).astype(dtype) if with_bias else None
    got = kernels.get("gemm", "cpu")(a, b, None if bias is None else bias.copy())
    want = reference.gemm(a, b, None if bias is None else bias.copy())
    assert got.dtype == want.dtype == dtype and got.shape == want.shape
    tol = {np.float16: 2e-3, np.float32: 1e-5, np.float64: 1e-12}[dtype]
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=tol, atol=tol)


def test_float16_gemm_rounds_once_with_the_bias_and_reads_a_transposed_weight():
    # float16 GEMMs widen both operands exactly, add the bias in float32 and round once: bit for bit the reference,
    # with a Linear's weight.T view as the second operand
    from tensorgrad.backend import kernels, reference
    r = np.random.default_rng(5)
    a = r.standard_normal((33, 20)).astype(np.float16)
    w = r.standard_normal((17, 20)).astype(np.float16)
    bias = r.standard_normal(17).astype(np.float16)
    for b in (w.T, np.ascontiguousarray(w.T)):
        got, want = kernels.get("gemm", "cpu")(a, b, bias.copy()), reference.gemm(a, b, bias.copy())
        assert got.dtype == np.float16
        np.testing.assert_allclose(got.astype(np.float32), want.astype(np.float32), rtol=1e-3, atol=1e-3)
        assert np.mean(got == want) > 0.98  # (float32 sums in another order may round a few differently)


@pytest.mark.skipif(not hasattr(cpu._C, "to_float16"), reason="this build's CPU has no F16C")
@pytest.mark.parametrize("n", [0, 1, 7, 8, 15, 16, 33, (1 << 19) + 13])
def test_float16_casts_equal_numpy_bit_for_bit(n):
    """_C's F16C / AVX-512 conversions (csrc/cpu/cast.cpp) against NumPy's astype, both ways: round to nearest even
    (ties at the half-ulp), overflow to inf, float16 subnormals and underflow to zero, signed zeros, inf, NaN; every
    length around the 8- and 16-wide vectors, and one long enough for two threads; 0-d arrays."""
    from tensorgrad.backend.host import set_num_threads
    r = np.random.default_rng(12)
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 65504.0, 65520.0, 65519.996, 1e-8, -6e-8, 6.1e-5,
                        5.96e-8, 2.98e-8, 1.0 + 2.0 ** -11, 1.0 + 3 * 2.0 ** -11, 2049.0, 2051.0], np.float32)
    x = np.concatenate([special, (r.standard_normal(n) * np.exp2(r.integers(-30, 20, n))).astype(np.float32)])[:n]
    prev = cpu._C.num_threads()
    try:
        for threads in (1, 2):
            set_num_threads(threads)
            with np.errstate(over="ignore"):
                h = cpu.cast(x, np.float16)
                want = x.astype(np.float16)
            assert h.dtype == np.float16 and h.shape == x.shape
            np.testing.assert_array_equal(h.view(np.uint16), want.view(np.uint16))
            back = cpu.cast(want, np.float32)
            assert back.dtype == np.float32
            np.testing.assert_array_equal(back.view(np.uint32), want.astype(np.float32).view(np.uint32))
            np.testing.assert_array_equal(cpu.cast(want, np.float64), want.astype(np.float64))
    finally:
        set_num_threads(prev)
    z = np.array(np.float32(2049.0))
    assert cpu.cast(z, np.float16).shape == () and cpu.cast(z, np.float16) == np.float16(2048.0)
    assert cpu.cast(x[::2], np.float16).shape == x[::2].shape  # strided input: made contiguous first


def test_gemm_kernel_reads_strided_operands():
    from tensorgrad.backend import kernels
    r = np.random.default_rng(4)
    a = r.standard_normal((40, 30)).astype(np.float32)[::2, 1::2]      # not BLAS-readable in place
    b = np.broadcast_to(np.float32(1.5), (15, 7))                       # zero strides (the gradient of .sum())
    np.testing.assert_allclose(kernels.get("gemm", "cpu")(a, b), a @ np.asarray(b), rtol=1e-5, atol=1e-5)


def test_scatter_add_accumulates_repeated_indices():
    from tensorgrad.backend import kernels
    out = np.zeros(4)
    kernels.get("scatter_add", "cpu")(out, (np.array([0, 2, 2, 2]),), np.array([1.0, 2.0, 3.0, 4.0]))
    np.testing.assert_array_equal(out, [1.0, 0.0, 9.0, 0.0])


@pytest.mark.parametrize("found_inf", [None, 0.0, 1.0])
def test_adamw_step_capturable_cpu_matches_reference(found_inf):
    from tensorgrad.backend import kernels, reference
    r = np.random.default_rng(5)
    state = [[r.standard_normal(n).astype(np.float32) for n in (5, 17)] for _ in range(4)]
    state[3] = [np.abs(v) for v in state[3]]
    ours, ref = [[x.copy() for x in s] for s in state], [[x.copy() for x in s] for s in state]
    lr, step = np.array(1e-2, np.float32), np.array(3.0, np.float32)
    fi = None if found_inf is None else np.array(found_inf, np.float32)
    kernels.get("adamw_step_capturable", "cpu")(*ours, lr, step, fi, 0.9, 0.999, 1e-8, 0.1)
    reference.adamw_step_capturable(*ref, lr, step, fi, 0.9, 0.999, 1e-8, 0.1)
    for o, w, s in zip(ours, ref, state):
        for x, y, x0 in zip(o, w, s):
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
            if found_inf:
                np.testing.assert_array_equal(x, x0)  # an overflowed step changes nothing
    if not found_inf:
        assert not np.array_equal(ours[0][0], state[0][0])


# -------------------------------------------------------------------------------------------------- binary
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
def test_binary_equals_numpy_bit_for_bit(dtype, op):
    """The threaded kernel computes each element with NumPy's single IEEE operation: identical results, including
    inf/NaN and division by zero, for same-shape operands and a scalar on either side."""
    rng = np.random.default_rng(8)
    n = (1 << 18) + 37  # past the threading threshold, not a multiple of the vector width
    a, b = rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)
    a[:6] = [np.inf, -np.inf, np.nan, 0.0, 1.0, -0.0]
    b[:6] = [np.inf, 2.0, 1.0, 0.0, 0.0, 0.0]
    with np.errstate(all="ignore"):
        a2, b2 = a[:500 * 524].reshape(500, 524), b[:500 * 524].reshape(500, 524)
        for x, y in ((a, b), (a2, b2), (dtype(1.5), b), (a, dtype(-0.0)), (np.asarray(dtype(3.0)), b2)):
            got = cpu.binary(op, x, y)
            want = ref.binary(op, x, y)
            assert got.dtype == want.dtype and got.shape == want.shape
            np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
def test_binary_streamed_outputs_equal_numpy_bit_for_bit(dtype, op):
    """Outputs of 8 MB and more are written with non-temporal stores after a scalar head up to the vector alignment:
    the same bits as NumPy for every split of the array among 1 or 2 threads, with operands that start off any
    alignment (a slice one element in)."""
    from tensorgrad.backend.host import set_num_threads
    rng = np.random.default_rng(11)
    n = (8 << 20) // np.dtype(dtype).itemsize + 37
    big_a, big_b = rng.standard_normal(n + 1).astype(dtype), rng.standard_normal(n + 1).astype(dtype)
    big_b[100:110] = 0.0
    prev = cpu._C.num_threads()
    try:
        for threads in (1, 2):
            set_num_threads(threads)
            for a, b in ((big_a[:n], big_b[:n]), (big_a[1:], big_b[:n]), (big_a[1:], big_b[1:])):
                with np.errstate(all="ignore"):
                    got, want = cpu._C.binary(op, a, b), ref.binary(op, a, b)
                np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8))
    finally:
        set_num_threads(prev)


def test_binary_falls_back_to_numpy_where_the_kernel_does_not_apply():
    from tensorgrad import _C
    rng = np.random.default_rng(9)
    a = rng.standard_normal((600, 500)).astype(np.float32)
    cases = [(a, a[:1]),                      # broadcasting
             (a.T, a.T),                      # not C-contiguous
             (a, a.astype(np.float64)),       # mixed dtypes
             (a.astype(np.int64), a.astype(np.int64))]
    for x, y in cases:
        np.testing.assert_array_equal(cpu.binary("mul", x, y), x * y)
    with pytest.raises(ValueError, match="binary: op must be add, sub, mul or div"):
        _C.binary("pow", a, a)


@pytest.mark.parametrize("dtype", DTYPES)
def test_where_equals_numpy(dtype):
    rng = np.random.default_rng(10)
    shape = (600, 500)
    c = rng.random(shape) > 0.5
    a, b = rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype)
    a[0, :3] = [np.nan, np.inf, -0.0]
    for x, y in ((a, b), (dtype(2.5), b), (a, dtype(0.0)), (dtype(1.0), dtype(-1.0)), (np.asarray(dtype(7.0)), b)):
        got, want = cpu.where(c, x, y), ref.where(c, x, y)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8))
    other = np.float64 if dtype == np.float32 else np.float32
    for c2, x, y in ((c, a, b[:1]), (c.T, a.T, b.T), (c, a, b.astype(other))):
        np.testing.assert_array_equal(cpu.where(c2, x, y), np.where(c2, x, y))   # NumPy's path


# ---------------------------------------------------------------------------------------------- reduce_sum
SUM_CASES = [((2500, 130), None), ((2500, 130), 0), ((2500, 130), 1), ((300, 40, 50), (1, 2)), ((300, 40, 50), (0, 1)),
             ((4, 70000), 0), ((3, 100000), 1), ((2, 3, 60000), 1), ((70000, 5), 0), ((9, 50, 700), -2),
             ((600, 0, 500), 1), ((2, 5000, 40), (0, 1))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,axis", SUM_CASES)
@pytest.mark.parametrize("keepdims", [False, True])
def test_reduce_sum_close_to_exact_and_thread_independent(dtype, shape, axis, keepdims):
    """The threaded sum against the exact (float64 of float64, math.fsum-grade) result: within a float blocks' error,
    never worse than a few ulps of NumPy's own error budget; the same bits at 1 and 2 threads."""
    from tensorgrad.backend.host import set_num_threads
    rng = np.random.default_rng(11)
    a = (rng.standard_normal(shape) + 0.5).astype(dtype)
    want = ref.reduce_sum(a.astype(np.float64), axis, keepdims)
    got = cpu.reduce_sum(a, axis, keepdims)
    assert got.dtype == a.dtype and got.shape == want.shape == np.sum(a, axis, keepdims=keepdims).shape
    n = a.size // max(got.size, 1)
    eps = np.finfo(dtype).eps
    tol = eps * (4 + 2 * np.log2(max(n, 2))) * ref.reduce_sum(np.abs(a).astype(np.float64), axis, keepdims) + eps
    assert np.all(np.abs(got - want) <= tol)
    prev = set_num_threads(1)
    try:
        one = cpu.reduce_sum(a, axis, keepdims)
    finally:
        set_num_threads(prev)
    np.testing.assert_array_equal(one.reshape(-1).view(np.uint8), got.reshape(-1).view(np.uint8))


def test_reduce_sum_special_values_and_fallbacks():
    from tensorgrad import _C
    a = np.ones((600, 500), np.float32)
    a[3, 7] = np.inf
    assert cpu.reduce_sum(a) == np.inf and np.isinf(cpu.reduce_sum(a, 0)[7])
    a[4, 8] = -np.inf
    assert np.isnan(cpu.reduce_sum(a))
    b = np.arange(600 * 500, dtype=np.float64).reshape(600, 500)
    for x, axis in ((b.T, 0), (b, (0,)), (b.astype(np.int64), 1), (b[:, ::2], None)):   # strided / int: NumPy's path
        np.testing.assert_array_equal(cpu.reduce_sum(x, axis), np.sum(x, axis))
    c = np.ones((4, 5, 6, 7))
    np.testing.assert_array_equal(cpu.reduce_sum(c, (0, 2)), np.sum(c, (0, 2)))             # not one run of dims
    with pytest.raises(ValueError, match=r"reduce_sum: \(outer, n, inner\) = \(2, 2, 2\) does not match"):
        _C.reduce_sum(b, 2, 2, 2)


@pytest.mark.parametrize("dim,keepdim", [(None, False), (0, False), (1, True), ((0, 1), False)])
def test_large_sum_and_mean_match_torch_with_grad(dim, keepdim):
    import tensorgrad as tg
    rng = np.random.default_rng(12)
    x = rng.standard_normal((700, 600)).astype(np.float32)   # past the threading threshold
    for name in ("sum", "mean"):
        ours, theirs = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        kw = {} if dim is None else dict(dim=dim, keepdim=keepdim)
        o, t = getattr(ours, name)(**kw), getattr(theirs, name)(**kw)
        assert tuple(o.shape) == tuple(t.shape) and o.dtype == tg.float32
        np.testing.assert_allclose(o.detach().numpy(), t.detach().numpy(), rtol=2e-5, atol=2e-4)
        (o * o).sum().backward()
        (t * t).sum().backward()
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=2e-5, atol=4e-4)  # 2 * a sum of 700


def test_large_float16_mean_keeps_numpy_float32_accumulation():
    import tensorgrad as tg
    a = (np.random.default_rng(13).random((600, 500)) * 4).astype(np.float16)   # past the threading threshold
    for kw in ({}, {"dim": 0}):
        ours, theirs = tg.tensor(a).mean(**kw).numpy(), torch.tensor(a).mean(**kw).numpy()
        assert ours.dtype == np.float16
        np.testing.assert_allclose(ours.astype(np.float64), theirs.astype(np.float64), rtol=1e-3)


def test_kernels_take_unpickled_arrays():
    # an unpickled array (a tensor a DataLoader worker sent, pickle.loads) carries its own float32 dtype object, equal
    # to NumPy's but not the same one: the kernels compare dtypes by value, not identity
    import pickle

    import tensorgrad as tg
    x = pickle.loads(pickle.dumps(tg.tensor(np.random.default_rng(0).standard_normal((512, 512)).astype(np.float32))))
    y = x + x
    np.testing.assert_array_equal(np.asarray(y), np.asarray(x) * 2)
    w = tg.where(x > 0, x, x * 0)
    np.testing.assert_array_equal(np.asarray(w), np.maximum(np.asarray(x), 0))
    t = pickle.loads(pickle.dumps(tg.tensor(np.arange(512) % 7)))
    loss = tg.nn.functional.cross_entropy(x, t)
    ref = tg.nn.functional.cross_entropy(tg.tensor(np.asarray(x)), tg.tensor(np.arange(512) % 7))
    assert float(loss) == float(ref)
