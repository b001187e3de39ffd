"""bias_dropout_add (x + dropout(h + bias), the GPT's fused residual branch): kernel against the reference (the same
Philox words), forward/backward/recompute mask identity, torch for the values and gradients with that mask, keep rate
and moments against torch's dropout, gradcheck and gradgradcheck in float64, fallbacks and errors."""
import numpy as np
import pytest
import torch

import tensorgrad as tg
import tensorgrad.nn.functional as F
from tensorgrad import _C
from tensorgrad.backend import cpu, reference as ref
from tensorgrad.ops.nn import BiasDropoutAdd
from tensorgrad.checkpoint import checkpoint

from helpers import check_op, gradcheck_op, gradgradcheck_op

SEED, OFFSET = 0x1234_5678_9ABC_DEF0, 41


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(7, 5), (3,), (1000, 33), (2, 3, 1029), (0, 4), (4, 1)])
@pytest.mark.parametrize("p", [0.0, 0.2, 0.5, 1.0])
def test_kernel_matches_reference(dtype, shape, p):
    rng = np.random.default_rng(0)
    x, h, g = (rng.standard_normal(shape).astype(dtype) for _ in range(3))
    b = rng.standard_normal(shape[-1]).astype(dtype)
    tol = dict(rtol=1e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-14, atol=1e-14)
    for bias in (None, b):
        got, want = cpu.bias_dropout_add_forward(x, h, bias, p, SEED, OFFSET), \
            ref.bias_dropout_add_forward(x, h, bias, p, SEED, OFFSET)
        assert got.dtype == want.dtype == dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, **tol)
    np.testing.assert_array_equal(cpu.bias_dropout_add_backward(g, p, SEED, OFFSET),
                                  ref.bias_dropout_add_backward(g, p, SEED, OFFSET))


def test_reference_words_are_philox():
    # Element e takes word e % 4 of Philox(counter=(e // 4, offset)): the same words as the attention mask's
    # known-answer-checked generator, laid out flat.
    n = 4099
    keep = ref.elem_dropout_keep(np, n, 0.5, SEED, OFFSET)
    c = np.arange((n + 3) // 4, dtype=np.uint64)
    m32 = np.uint64(0xFFFFFFFF)
    words = ref.philox4x32_10(c & m32, c >> np.uint64(32), OFFSET, 0, SEED & 0xFFFFFFFF, SEED >> 32)
    flat = np.stack(words, 1).reshape(-1)[:n]
    np.testing.assert_array_equal(keep, (flat >> np.uint32(8)) >= 2 ** 23)


def test_forward_backward_same_mask_and_fresh_draws():
    h = tg.ones(64, 96, requires_grad=True)
    x = tg.zeros(64, 96, requires_grad=True)
    out = F.bias_dropout_add(x, h, None, 0.3, True)
    out.backward(tg.ones(64, 96))
    z = out.detach().numpy()
    np.testing.assert_array_equal(h.grad.numpy(), z)          # dh is the forward's mask * scale, regenerated
    np.testing.assert_array_equal(x.grad.numpy(), np.ones_like(z))
    assert set(np.unique(z)) <= {0.0, np.float32(1 / 0.7)}
    again = F.bias_dropout_add(x, h, None, 0.3, True).detach().numpy()
    assert not np.array_equal(again, z)                        # each call draws a new (seed, offset)


def test_keep_rate_and_moments_like_torch():
    n, p = 1 << 20, 0.2
    ours = F.bias_dropout_add(tg.zeros(n), tg.ones(n), None, p, True).numpy()
    torch.manual_seed(0)
    theirs = (torch.zeros(n) + torch.nn.functional.dropout(torch.ones(n), p, True)).numpy()
    sd = np.sqrt(p * (1 - p) / n)   # the keep rate's standard deviation
    for z in (ours, theirs):
        assert abs((z != 0).mean() - (1 - p)) < 5 * sd
        assert abs(z.mean() - 1.0) < 5 * sd / (1 - p)
        assert abs(z.var() - p / (1 - p)) < 0.01
    assert abs((ours != 0).mean() - (theirs != 0).mean()) < 7 * sd
    # consecutive elements are independent: no correlation between neighbours, within a word group or across
    k = (ours != 0).astype(np.float64)
    for lag in (1, 3, 4, 5):
        assert abs(np.corrcoef(k[:-lag], k[lag:])[0, 1]) < 0.01


def _fixed(p):
    """tg and torch callables computing x + z * (h + b) with the kernel's mask at (SEED, OFFSET)."""
    def ours(x, h, b):
        return BiasDropoutAdd.apply(x, h, b, p, SEED, OFFSET)

    def theirs(x, h, b):
        z = ref.elem_dropout_scale(np.zeros(tuple(h.shape), np.float64), p, SEED, OFFSET)
        return x + torch.tensor(z, dtype=h.dtype) * (h + b)
    return ours, theirs


@pytest.mark.parametrize("p", [0.0, 0.25, 1.0])
def test_values_and_gradients_match_torch_with_the_same_mask(p):
    ours, theirs = _fixed(p)
    check_op(ours, theirs, [(6, 10), (6, 10), (10,)])
    check_op(ours, theirs, [(2, 3, 7), (2, 3, 7), (7,)], dtype=np.float32)


def test_gradcheck_and_gradgradcheck_float64():
    ours, _ = _fixed(0.3)
    gradcheck_op(ours, [(5, 8), (5, 8), (8,)])
    rng = np.random.default_rng(3)
    gradgradcheck_op(ours, [tg.tensor(rng.standard_normal(s), requires_grad=True) for s in ((5, 8), (5, 8), (8,))])


def test_checkpoint_recompute_draws_the_same_mask():
    rng = np.random.default_rng(4)
    w = tg.tensor(rng.standard_normal((16, 16)).astype(np.float32), requires_grad=True)
    b = tg.tensor(rng.standard_normal(16).astype(np.float32), requires_grad=True)
    x0 = rng.standard_normal((8, 16)).astype(np.float32)

    def block(x):
        return F.bias_dropout_add(x, F.linear(x, w), b, 0.4, True)

    grads = []
    for use_ckpt in (False, True):
        tg.manual_seed(7)
        x = tg.tensor(x0, requires_grad=True)
        w.grad = b.grad = None
        out = checkpoint(block, x, use_reentrant=False) if use_ckpt else block(x)
        (out * out).sum().backward()
        grads.append([t.grad.numpy().copy() for t in (x, w, b)] + [out.detach().numpy()])
    for a, c in zip(*grads):
        np.testing.assert_array_equal(a, c)


def test_fallbacks_and_identity_cases():
    rng = np.random.default_rng(5)
    x, h = rng.standard_normal((4, 6)), rng.standard_normal((4, 6))
    b = rng.standard_normal(6)
    t = lambda a, dt=np.float32: tg.tensor(a.astype(dt))  # noqa: E731
    # eval / p = 0: exactly x + (h + b), as torch
    tx, th, tb = (torch.tensor(a, dtype=torch.float32) for a in (x, h, b))
    np.testing.assert_allclose(F.bias_dropout_add(t(x), t(h), t(b), 0.5, False).numpy(), (tx + (th + tb)).numpy())
    # mixed dtypes and broadcasting take the composed path with torch's promotion
    out = F.bias_dropout_add(t(x, np.float64), t(h), t(b), 0.5, True)
    assert out.dtype == tg.float64 and tuple(out.shape) == (4, 6)
    out = F.bias_dropout_add(t(x[:1]), t(h), None, 0.5, True)
    assert tuple(out.shape) == (4, 6)
    with pytest.raises(ValueError, match=r"bias_dropout_add: probability must be in \[0, 1\], got 1.5"):
        F.bias_dropout_add(t(x), t(h), None, 1.5)
    with pytest.raises(ValueError, match="bias_dropout_add_forward: bias must be a C-contiguous \\(6,\\) array"):
        cpu.bias_dropout_add_forward(x, h, b[:3], 0.1, 0, 0)
    with pytest.raises(ValueError, match="bias_dropout_add_forward: x and h must have one shape"):
        _C.bias_dropout_add_forward(x[:2].copy(), h, None, 0.1, 0, 0)


def test_gpt_uses_the_fused_branch_only_with_dropout_active():
    from tensorgrad.models.gpt import GPT, GPTConfig
    from tensorgrad.autograd import function as fn_mod
    cfg = GPTConfig(block_size=8, vocab_size=11, n_layer=1, n_head=2, n_embd=16, dropout=0.1)
    model = GPT(cfg)
    idx = tg.tensor(np.random.default_rng(6).integers(0, 11, (2, 8)))
    seen = []
    fn_mod._forward_hooks.append(lambda ctx, args, out, recorded: seen.append(type(ctx).__name__))
    try:
        model.train()
        model(idx, idx)
        assert seen.count("BiasDropoutAdd") == 2           # after the attention and the MLP projections
        seen.clear()
        model.eval()
        model(idx, idx)
        assert "BiasDropoutAdd" not in seen
    finally:
        fn_mod._forward_hooks.pop()
