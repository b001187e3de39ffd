"""Gradient checkpointing: same gradients with and without (dropout on; fp16 autocast + loss scaling),
lower measured peak."""
import numpy as np
import pytest
import torch
import torch.utils.checkpoint

import tensorgrad as tg
from tensorgrad import nn, profiler
from tensorgrad.amp import GradScaler, autocast
from tensorgrad.checkpoint import checkpoint, checkpoint_sequential
from tensorgrad.models.gpt import GPT, GPTConfig
from tensorgrad.planner import apply_checkpoint_policy, measure_step
from helpers import check_op, gradcheck_op

POLICIES = ["all", "sqrt", "every=2", "blocks=1,3"]


def _gpt(dropout=0.1, n_layer=4):
    tg.manual_seed(0)
    return GPT(GPTConfig(block_size=16, vocab_size=32, n_layer=n_layer, n_head=2, n_embd=32, dropout=dropout))


def _batch(B=2, T=16, V=32):
    r = np.random.default_rng(1)
    return (tg.tensor(r.integers(0, V, (B, T)).astype(np.int64)), tg.tensor(r.integers(0, V, (B, T)).astype(np.int64)))


def _grads(model, batch, policy, amp=False):
    apply_checkpoint_policy(model.transformer.h, policy)
    model.zero_grad(set_to_none=True)
    tg.manual_seed(123)  # same dropout stream for every policy
    if amp:
        scaler = GradScaler(init_scale=2.0 ** 10)
        with autocast(dtype="float16"):
            _, loss = model(*batch)
        scaler.scale(loss).backward()
    else:
        _, loss = model(*batch)
        loss.backward()
    after = tg.rand(1).item()  # the RNG stream continues as without checkpointing
    return float(loss.item()), [p.grad.numpy().copy() for p in model.parameters()], after


@pytest.mark.parametrize("amp", [False, True], ids=["fp32", "fp16-autocast-gradscaler"])
def test_gpt_grads_equal_with_and_without_checkpointing(amp):
    model, batch = _gpt(), _batch()
    loss0, g0, r0 = _grads(model, batch, "none", amp)
    assert all(np.isfinite(g).all() for g in g0)
    for policy in POLICIES:
        loss, g, r = _grads(model, batch, policy, amp)
        assert loss == loss0 and r == r0, policy
        for a, b in zip(g, g0):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7, err_msg=policy)


def _ckpt(fn, *xs):
    if isinstance(xs[0], torch.Tensor):
        return torch.utils.checkpoint.checkpoint(fn, *xs, use_reentrant=False)
    return checkpoint(fn, *xs)


def test_checkpoint_against_torch_and_gradcheck():
    """Checkpoint as an op: forward and the recomputed backward against torch.utils.checkpoint, on inputs that
    broadcast inside the checkpointed function, and a float64 gradcheck."""
    fn = lambda a, b: ((a * b).tanh() + a.exp() / (1 + b * b)).sum(-1)
    check_op(lambda a, b: _ckpt(fn, a, b), inputs=[(2, 3, 4), (3, 1)])
    check_op(lambda a, b: _ckpt(fn, a, b), inputs=[(2, 3, 4), (3, 1)], dtype=np.float32, requires_grad=[True, False])
    gradcheck_op(lambda a, b: checkpoint(fn, a, b), [(2, 3, 4), (3, 1)])


def test_checkpoint_dropout_masks_identical():
    tg.manual_seed(0)
    lin = nn.Linear(8, 8)
    drop = nn.Dropout(0.5)
    f = lambda t: drop(lin(t)).tanh()
    x = tg.randn(4, 8, requires_grad=True)
    tg.manual_seed(7)
    f(x).sum().backward()
    gx, gw = x.grad.numpy().copy(), lin.weight.grad.numpy().copy()
    x.grad = None
    lin.weight.grad = None
    tg.manual_seed(7)
    checkpoint(f, x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), gx)
    np.testing.assert_array_equal(lin.weight.grad.numpy(), gw)


def test_checkpoint_sequential_matches_and_saves_less():
    tg.manual_seed(0)
    seq = nn.Sequential(*[m for _ in range(6) for m in (nn.Linear(64, 64), nn.GELU())])
    x = tg.randn(512, 64, requires_grad=True)

    def run(segments):
        seq.zero_grad(set_to_none=True)
        x.grad = None
        with profiler.memory(seq) as prof:
            y = seq(x) if segments is None else checkpoint_sequential(seq, segments, x)
            y.sum().backward()
        return [p.grad.numpy().copy() for p in seq.parameters()] + [x.grad.numpy().copy()], prof

    g0, p0 = run(None)
    g1, p1 = run(3)
    for a, b in zip(g1, g0):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert p1.peak_saved_bytes < p0.peak_saved_bytes
    assert p1.peak_bytes < p0.peak_bytes


def test_gpt_measured_peak_drops():
    model, batch = _gpt(n_layer=6), _batch()
    none = measure_step(model, batch, "none")
    for policy in ("sqrt", "all"):
        r = measure_step(model, batch, policy)
        assert r["peak_bytes"] < none["peak_bytes"], policy
        assert r["peak_saved_bytes"] < none["peak_saved_bytes"], policy
    assert measure_step(model, batch, "all")["peak_saved_bytes"] * 2 < none["peak_saved_bytes"]


def test_public_names():
    import tensorgrad as tg
    assert tg.checkpoint is checkpoint and tg.checkpoint_sequential is checkpoint_sequential
    assert tg.utils.checkpoint.checkpoint is checkpoint  # torch.utils.checkpoint's spelling, for ported scripts
    for sub, attr in [("profiler", "memory"), ("planner", "plan_checkpoints"), ("viz", "draw_graph"),
                      ("diagnostics", "grad_flow"), ("models", "GPT"), ("amp", "GradScaler")]:
        assert callable(getattr(getattr(tg, sub), attr)), (sub, attr)
