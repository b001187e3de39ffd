"""Mixed precision: autocast's dtype policy, fp16 gradients vs fp32, GradScaler's dynamic scaling, and a
small GPT trained in fp16 landing within 2% of the fp32 loss."""
import numpy as np
import pytest

import tensorgrad as tg
import tensorgrad.nn as nn
import tensorgrad.nn.functional as F
from tensorgrad.amp import autocast, GradScaler, is_autocast_enabled, get_autocast_dtype


def _inputs(seed=0):
    rng = np.random.default_rng(seed)
    x = tg.tensor(rng.standard_normal((4, 6, 16)).astype(np.float32))
    w = tg.tensor(rng.standard_normal((32, 16)).astype(np.float32) * 0.2, requires_grad=True)
    b = tg.tensor(rng.standard_normal(32).astype(np.float32), requires_grad=True)
    return x, w, b


@pytest.mark.parametrize("name,fn,expected", [
    ("matmul", lambda x, w, b: x @ w.T, tg.float16),
    ("linear", lambda x, w, b: F.linear(x, w, b), tg.float16),
    ("sdpa", lambda x, w, b: F.scaled_dot_product_attention(x[None], x[None], x[None], is_causal=True), tg.float16),
    ("softmax", lambda x, w, b: F.softmax(F.linear(x, w, b), -1), tg.float32),
    ("log_softmax", lambda x, w, b: F.log_softmax(F.linear(x, w, b), -1), tg.float32),
    ("layer_norm", lambda x, w, b: F.layer_norm(F.linear(x, w, b), (32,)), tg.float32),
    ("cross_entropy", lambda x, w, b: F.cross_entropy(F.linear(x, w, b).reshape(-1, 32), tg.zeros(24, dtype=tg.int64)), tg.float32),
    ("sum", lambda x, w, b: F.linear(x, w, b).sum(), tg.float32),
    ("mean", lambda x, w, b: F.linear(x, w, b).mean(), tg.float32),
    ("mse_loss", lambda x, w, b: F.mse_loss(F.linear(x, w, b), tg.zeros(4, 6, 32)), tg.float32),
    ("elementwise_keeps_half", lambda x, w, b: F.linear(x, w, b).tanh(), tg.float16),
])
def test_autocast_output_dtypes_follow_policy(name, fn, expected):
    x, w, b = _inputs()
    with autocast(dtype=tg.float16):
        out = fn(x, w, b)
    assert out.dtype == expected, f"{name}: got {out.dtype}, policy says {expected}"
    # Outside autocast nothing changes.
    assert fn(x, w, b).dtype == tg.float32


def test_autocast_master_weights_and_grads_stay_float32():
    x, w, b = _inputs()
    with autocast():
        assert is_autocast_enabled() and get_autocast_dtype() == tg.float16
        loss = F.linear(x, w, b).float().pow(2).mean()
    assert not is_autocast_enabled()
    loss.backward()
    assert w.dtype == tg.float32 and w.grad.dtype == tg.float32 and b.grad.dtype == tg.float32


def test_autocast_nesting_and_disable():
    x, w, b = _inputs()
    with autocast():
        with autocast(enabled=False):
            assert F.linear(x, w, b).dtype == tg.float32
        assert F.linear(x, w, b).dtype == tg.float16


def test_bfloat16_accepted_other_dtypes_refused():
    assert autocast(dtype="bfloat16").dtype == tg.bfloat16  # tests/test_bfloat16.py covers the policy
    assert autocast("cpu").dtype == tg.bfloat16             # torch's default for the CPU
    with pytest.raises(TypeError, match="float16 or bfloat16"):
        autocast(dtype="float32")


def _mlp(seed):
    tg.manual_seed(seed)
    return nn.Sequential(nn.Linear(16, 64), nn.GELU(), nn.LayerNorm(64), nn.Linear(64, 10))


def _fp32_reference(model_seed, data_seed, n):
    """A model, a batch, and the float32 gradients of its cross-entropy (the model's grads are reset)."""
    model = _mlp(model_seed)
    rng = np.random.default_rng(data_seed)
    x = tg.tensor(rng.standard_normal((n, 16)).astype(np.float32))
    y = tg.tensor(rng.integers(0, 10, n))
    F.cross_entropy(model(x), y).backward()
    ref = [p.grad.numpy().copy() for p in model.parameters()]
    model.zero_grad()
    return model, x, y, ref


def _assert_unscaled_grads_match(model, scaler, ref):
    """Unscale the model's fp16-path grads and compare them with the fp32 ones within half-precision tolerance."""
    scaler.unscale_(tg.optim.SGD(model.parameters(), lr=0.0))
    for r, p in zip(ref, model.parameters()):
        assert p.grad.dtype == tg.float32
        np.testing.assert_allclose(p.grad.numpy(), r, atol=1e-2 * (np.abs(r).max() + 1e-3), rtol=1e-2)


def test_fp16_grads_match_fp32_within_half_precision_tolerance():
    model, x, y, ref = _fp32_reference(0, 1, 32)
    scaler = GradScaler(init_scale=1024.0)
    with autocast():
        loss = F.cross_entropy(model(x), y)
    assert loss.dtype == tg.float32
    scaler.scale(loss).backward()
    _assert_unscaled_grads_match(model, scaler, ref)


def _one_param_opt(value):
    p = nn.Parameter(np.ones(3, dtype=np.float32))
    p.grad = tg.tensor(np.full(3, value, dtype=np.float32))
    return p, tg.optim.SGD([p], lr=1.0)


def test_scaler_skips_step_and_halves_scale_on_inf():
    p, opt = _one_param_opt(np.inf)
    scaler = GradScaler(init_scale=1024.0, growth_interval=3)
    assert scaler.step(opt) is None
    assert scaler.found_inf(opt)
    scaler.update()
    np.testing.assert_array_equal(p.numpy() if not p.requires_grad else p.detach().numpy(), np.ones(3))
    assert scaler.get_scale() == 512.0


def test_scaler_skips_on_nan_too():
    p, opt = _one_param_opt(np.nan)
    scaler = GradScaler(init_scale=8.0)
    scaler.step(opt)
    scaler.update()
    np.testing.assert_array_equal(p.detach().numpy(), np.ones(3))
    assert scaler.get_scale() == 4.0


def test_scaler_grows_after_n_clean_steps_and_steps_with_unscaled_grads():
    scaler = GradScaler(init_scale=4.0, growth_interval=3, growth_factor=2.0)
    for i in range(3):
        p, opt = _one_param_opt(8.0)  # a scaled grad of 8 with scale 4 is a true grad of 2
        scaler.step(opt)
        np.testing.assert_allclose(p.detach().numpy(), np.full(3, 1.0 - 8.0 / (4.0 * 2 ** 0)))
        scaler.update()
    assert scaler.get_scale() == 8.0
    # the growth tracker restarts after growing, and an overflow resets it
    p, opt = _one_param_opt(np.inf)
    scaler.step(opt)
    scaler.update()
    assert scaler.get_scale() == 4.0


def test_scaler_unscale_then_clip_then_step_and_double_unscale_error():
    p, opt = _one_param_opt(300.0)
    scaler = GradScaler(init_scale=100.0)
    scaler.unscale_(opt)
    np.testing.assert_allclose(p.grad.numpy(), np.full(3, 3.0))
    with pytest.raises(RuntimeError, match="unscale_"):
        scaler.unscale_(opt)
    nn.utils.clip_grad_norm_([p], 1.0)
    scaler.step(opt)  # must not unscale a second time
    np.testing.assert_allclose(p.detach().numpy(), 1.0 - 3.0 / np.sqrt(27.0) * (1.0 / (1.0 + 1e-6 / 1.0)), rtol=1e-5)
    scaler.update()


def test_scaler_state_dict_round_trip():
    s = GradScaler(init_scale=64.0, growth_interval=5)
    p, opt = _one_param_opt(1.0)
    s.step(opt)
    s.update()
    t = GradScaler()
    t.load_state_dict(s.state_dict())
    assert t.get_scale() == 64.0 and t._growth_tracker == 1 and t.growth_interval == 5


def test_scaler_with_gradient_accumulation():
    model, x, y, ref = _fp32_reference(3, 4, 16)
    scaler = GradScaler(init_scale=256.0)
    for sl in (slice(0, 8), slice(8, 16)):
        with autocast():
            loss = F.cross_entropy(model(x[sl]), y[sl]) / 2
        scaler.scale(loss).backward()
    _assert_unscaled_grads_match(model, scaler, ref)


def _train_tiny_gpt(fp16, steps=300):
    from tensorgrad.models.gpt import GPT, GPTConfig
    tg.manual_seed(0)
    cfg = GPTConfig(n_layer=2, n_head=2, n_embd=32, block_size=16, vocab_size=20, dropout=0.0, bias=True)
    model = GPT(cfg)
    opt = model.configure_optimizers(weight_decay=0.1, learning_rate=3e-3, betas=(0.9, 0.99))
    scaler = GradScaler(init_scale=2.0 ** 12, enabled=fp16)
    text = np.array([(i * 7 + i // 5) % 20 for i in range(400)])
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(steps):
        ix = rng.integers(0, len(text) - 17, 8)
        x = tg.tensor(np.stack([text[i:i + 16] for i in ix]))
        y = tg.tensor(np.stack([text[i + 1:i + 17] for i in ix]))
        with autocast(enabled=fp16):
            _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(opt)
        scaler.update()
        losses.append(float(loss.item()))
    return np.mean(losses[-20:])


def test_tiny_gpt_fp16_ends_within_2_percent_of_fp32():
    l32 = _train_tiny_gpt(False)
    l16 = _train_tiny_gpt(True)
    assert l32 < 1.0, f"fp32 run did not learn (final loss {l32:.3f})"
    assert abs(l16 - l32) / l32 < 0.02, f"fp16 final loss {l16:.4f} vs fp32 {l32:.4f}"


def test_cuda_device_without_a_gpu_disables_autocast_and_scaler_like_torch():
    import warnings
    if tg.cuda_available():
        pytest.skip("a GPU is present")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        ac = tg.amp.autocast("cuda")
        sc = tg.amp.GradScaler("cuda")
    assert not ac.enabled and not sc.is_enabled() and len(w) == 2
    with ac:
        y = tg.randn(2, 3) @ tg.randn(3, 2)
    assert y.dtype == tg.float32
    assert tg.amp.GradScaler(8.0).get_scale() == 8.0          # torch.cuda.amp's positional init_scale
    assert tg.amp.GradScaler("cpu", init_scale=4.0).get_scale() == 4.0
