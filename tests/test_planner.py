"""Checkpoint policies, applied from outside a model (Checkpointed blocks), and the byte-budget planner."""
import os
import subprocess
import sys

import numpy as np
import pytest

import tensorgrad as tg
from tensorgrad import nn
from tensorgrad.checkpoint import Checkpointed
from tensorgrad.models.gpt import GPT, GPTConfig, Block
from tensorgrad.planner import (apply_checkpoint_policy, checkpointed_blocks, find_blocks, measure_blocks,
                                measure_step, parse_budget, parse_policy, plan_checkpoints, predict_peak, segments)

POLICIES = ["all", "sqrt", "every=2", "every=3", "blocks=1,3"]


def test_parse_policy_and_budget():
    assert parse_policy("None") == "none"
    assert parse_policy("every-3") == "every=3" and parse_policy("every=2") == "every=2"
    assert parse_policy("blocks=3,0-1") == "blocks=0,1,3"
    assert parse_policy("budget=40MB") == "budget=40mb"
    assert parse_budget("40MB") == 40 * 2 ** 20 and parse_budget("1.5kb") == 1536 and parse_budget("100") == 100
    for bad in ("some", "every=0", "budget=12XB", "blocks=a"):
        with pytest.raises(ValueError):
            parse_policy(bad)


def test_segments():
    assert segments("none", 12) == [(0, 12, False)]
    assert checkpointed_blocks("all", 12) == list(range(12))
    # sqrt: ceil(sqrt(12)) = 4 segments of 3; the last one is not checkpointed (as checkpoint_sequential)
    assert segments("sqrt", 12) == [(0, 3, True), (3, 6, True), (6, 9, True), (9, 12, False)]
    assert segments("every=5", 12) == [(0, 5, True), (5, 10, True), (10, 12, True)]
    assert checkpointed_blocks("blocks=0,2", 4) == [0, 2]
    with pytest.raises(ValueError):
        segments("blocks=7", 4)
    with pytest.raises(ValueError):
        segments("budget=1MB", 4)


def _setup(n_layer=6):
    tg.manual_seed(0)
    model = GPT(GPTConfig(block_size=32, vocab_size=32, n_layer=n_layer, n_head=2, n_embd=32, dropout=0.1))
    r = np.random.default_rng(2)
    batch = tuple(tg.tensor(r.integers(0, 32, (4, 32)).astype(np.int64)) for _ in range(2))
    return model, batch


def test_plan_fits_budgets_with_least_recompute():
    model, batch = _setup()
    m = measure_blocks(model, batch)
    assert len(m["act_bytes"]) == 6 and min(m["act_bytes"]) > 4 * max(m["input_bytes"])
    lo = measure_step(model, batch, "all")["peak_bytes"]
    hi = m["peak_bytes"]
    assert predict_peak(set(), m) == hi
    prev = None
    for frac in (0.1, 0.35, 0.6, 0.85):
        budget = int(lo + frac * (hi - lo))
        plan = plan_checkpoints(model, batch, budget, measurements=m)
        assert plan.fits and plan.measured_peak_bytes <= budget
        assert plan.measured_peak_bytes == measure_step(model, batch, plan.policy)["peak_bytes"]
        # least recompute: one block fewer than chosen is predicted (and measured) not to fit
        if plan.blocks:
            fewer = set(plan.blocks[1:])
            assert measure_step(model, batch, "blocks=" + ",".join(map(str, sorted(fewer))) if fewer
                                else "none")["peak_bytes"] > budget
        if prev is not None:
            assert len(plan.blocks) <= len(prev.blocks)  # looser budget, no more recompute
        prev = plan
    bad = plan_checkpoints(model, batch, lo // 2, measurements=m)
    assert not bad.fits and bad.blocks == list(range(6))
    big = plan_checkpoints(model, batch, hi + 1, measurements=m)
    assert big.fits and big.policy == "none"


def test_budget_policy_is_planned_from_outside_and_keeps_grads():
    model, batch = _setup(n_layer=4)
    blocks = model.transformer.h
    hi = measure_step(model, batch, "none", blocks=blocks)["peak_bytes"]
    lo = measure_step(model, batch, "all", blocks=blocks)["peak_bytes"]
    budget = (lo + hi) // 2
    before = dict(model.__dict__)

    def grads():
        model.zero_grad(set_to_none=True)
        tg.manual_seed(9)
        _, loss = model(*batch)
        loss.backward()
        return [p.grad.numpy().copy() for p in model.parameters()], tg.rand(1).item()

    g0, r0 = grads()
    tg.manual_seed(9)
    first = tg.rand(1).item()
    tg.manual_seed(9)
    policy = apply_checkpoint_policy(blocks, f"budget={budget}", model=model, batch=batch)
    assert tg.rand(1).item() == first  # planning ran without disturbing the RNG stream
    assert policy.startswith("blocks=") and 0 < len(checkpointed_blocks(policy, 4)) < 4
    assert [i for i, b in enumerate(blocks) if isinstance(b, Checkpointed)] == checkpointed_blocks(policy, 4)
    g1, r1 = grads()
    assert r1 == r0
    for a, b in zip(g1, g0):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert measure_step(model, batch, policy, blocks=blocks)["peak_bytes"] <= budget
    # No side channel on the model: its attributes are what they were (the blocks changed inside their list).
    assert model.__dict__.keys() == before.keys() and all(model.__dict__[k] is v for k, v in before.items())
    with pytest.raises(ValueError, match="needs the model and a batch"):
        apply_checkpoint_policy(blocks, "budget=1MB")


# ------------------------------------------------------------------------------ Checkpointed, any blocks
class Residual(nn.Module):
    """A block that is not GPT's: LayerNorm -> Linear -> GELU -> Dropout -> Linear, plus the residual."""

    def __init__(self, d):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.fc = nn.Linear(d, 4 * d)
        self.act = nn.GELU()
        self.drop = nn.Dropout(0.2)
        self.proj = nn.Linear(4 * d, d)

    def forward(self, x):
        return x + self.proj(self.drop(self.act(self.fc(self.norm(x)))))


class Tower(nn.Module):
    """Blocks in a ModuleList under a name of its own ('layers'), then a head."""

    def __init__(self, d=32, n=6):
        super().__init__()
        self.inp = nn.Linear(d, d)
        self.layers = nn.ModuleList([Residual(d) for _ in range(n)])
        self.head = nn.Linear(d, 1)

    def forward(self, x):
        x = self.inp(x)
        for layer in self.layers:
            x = layer(x)
        return self.head(x).square().mean()


def _seq(n=6, d=32):
    tg.manual_seed(0)
    return nn.Sequential(*[Residual(d) for _ in range(n)])


def _loss_and_grads(module, x, fn):
    module.zero_grad(set_to_none=True)
    x.grad = None
    tg.manual_seed(5)  # the same dropout masks for every policy
    loss = fn(module(x))
    loss.backward()
    return float(loss.item()), [p.grad.numpy().copy() for p in module.parameters()] + [x.grad.numpy().copy()], \
        tg.rand(1).item()


@pytest.mark.parametrize("container", ["sequential", "modulelist"])
def test_checkpointed_blocks_give_identical_loss_and_grads(container):
    x = tg.randn(16, 32, requires_grad=True)
    if container == "sequential":
        model = _seq()
        blocks, fn = model, lambda y: y.square().mean()
    else:
        tg.manual_seed(0)
        model = Tower()
        blocks, fn = model.layers, lambda y: y
    loss0, g0, r0 = _loss_and_grads(model, x, fn)
    for policy in POLICIES:
        assert apply_checkpoint_policy(blocks, policy) == parse_policy(policy)
        assert [i for i, b in enumerate(blocks) if isinstance(b, Checkpointed)] == checkpointed_blocks(policy, 6)
        loss, g, r = _loss_and_grads(model, x, fn)
        assert loss == loss0 and r == r0, policy  # same forward, and the RNG stream continues as without
        for a, b in zip(g, g0):
            np.testing.assert_array_equal(a, b, err_msg=policy)
    apply_checkpoint_policy(blocks, "none")
    assert not any(isinstance(b, Checkpointed) for b in blocks)


def test_checkpointed_keeps_state_dict_keys_and_parameters():
    model, _ = _setup(n_layer=4)
    keys, params = list(model.state_dict()), [id(p) for p in model.parameters()]
    names = [n for n, _ in model.named_parameters()]
    saved = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    for policy in POLICIES:
        apply_checkpoint_policy(model.transformer.h, policy)
        assert list(model.state_dict()) == keys, policy
        assert [n for n, _ in model.named_parameters()] == names
        assert [id(p) for p in model.parameters()] == params  # the same Parameter objects: optimizers stay valid
    # A state_dict saved without checkpointing loads into the wrapped model, strictly, and back.
    wrapped = GPT(model.config)
    apply_checkpoint_policy(wrapped.transformer.h, "sqrt")
    wrapped.load_state_dict({k: tg.tensor(v) for k, v in saved.items()})
    for k, v in wrapped.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), saved[k], err_msg=k)
    plain = GPT(model.config)
    plain.load_state_dict(wrapped.state_dict())
    assert isinstance(wrapped.transformer.h[0], Checkpointed) and isinstance(wrapped.transformer.h[0].module, Block)
    assert "Checkpointed(Block(" in repr(wrapped.transformer.h)
    apply_checkpoint_policy(wrapped.transformer.h, "none")
    assert all(type(b) is Block for b in wrapped.transformer.h)


class OwnDropout(nn.Module):
    """Reads its own training flag (not a child's): the wrapper must pass train()/eval() on to it."""

    def __init__(self, d):
        super().__init__()
        self.fc = nn.Linear(d, d)

    def forward(self, x):
        return x + nn.functional.dropout(self.fc(x), 0.5, self.training)


def test_checkpointed_follows_train_and_eval():
    tg.manual_seed(0)
    seq = nn.Sequential(OwnDropout(32), OwnDropout(32), OwnDropout(32))
    x = tg.randn(4, 32)
    ref = seq.eval()(x).detach().numpy()
    for policy in ("all", "every=3"):
        seq.train()
        apply_checkpoint_policy(seq, policy)  # wrapped while in training mode
        seq.eval()
        np.testing.assert_array_equal(seq(x).detach().numpy(), ref, err_msg=policy)  # dropout off in the blocks
        with tg.no_grad():
            np.testing.assert_array_equal(seq(x).numpy(), ref, err_msg=policy)
        seq.train()
        assert not np.allclose(seq(x).detach().numpy(), ref), policy  # and on again


def test_checkpointed_misuse():
    b = Residual(8)
    with pytest.raises(TypeError, match="already checkpointed"):
        Checkpointed(Checkpointed(b))
    with pytest.raises(ValueError, match="segment must contain"):
        Checkpointed(b, segment=[Residual(8)])


def test_planner_on_blocks_that_are_not_a_gpt():
    tg.manual_seed(0)
    model = Tower(d=64, n=5)
    x = tg.randn(64, 64)
    batch, loss_fn = (x,), lambda m, b: m(*b)
    assert find_blocks(model) is model.layers  # the longest ModuleList/Sequential, found without names
    m = measure_blocks(model, batch, blocks=model.layers, loss_fn=loss_fn)
    assert len(m["act_bytes"]) == 5 and min(m["act_bytes"]) > 2 * max(m["input_bytes"])
    hi = m["peak_bytes"]
    lo = measure_step(model, batch, "all", loss_fn, blocks=model.layers)["peak_bytes"]
    assert lo < hi
    budget = (lo + hi) // 2
    apply_checkpoint_policy(model.layers, "every=2")
    before = list(model.layers)
    plan = plan_checkpoints(model, batch, budget, blocks=model.layers, loss_fn=loss_fn, measurements=m)
    assert list(model.layers) == before  # measuring put the wrappers back as they were
    assert plan.fits and 0 < len(plan.blocks) < 5
    assert apply_checkpoint_policy(model.layers, f"budget={budget}", model=model, batch=batch,
                                   loss_fn=loss_fn).startswith("blocks=")
    # The same on a bare nn.Sequential of blocks: the model is the sequence.
    seq = _seq(n=4, d=64)
    seq_loss = lambda m, b: m(*b).square().mean()  # noqa: E731
    hi = measure_step(seq, batch, "none", seq_loss)["peak_bytes"]
    lo = measure_step(seq, batch, "all", seq_loss)["peak_bytes"]
    plan = plan_checkpoints(seq, batch, (lo + hi) // 2, loss_fn=seq_loss)
    assert plan.fits and plan.measured_peak_bytes <= (lo + hi) // 2 and not any(isinstance(b, Checkpointed) for b in seq)


def test_the_model_does_not_import_the_planner():
    """GPT's forward is a plain loop over its blocks: importing and running the model loads no planner."""
    code = ("import sys, tensorgrad as tg\nfrom tensorgrad.models.gpt import GPT, GPTConfig\n"
            "m = GPT(GPTConfig(block_size=8, vocab_size=11, n_layer=2, n_head=2, n_embd=16))\n"
            "x = tg.zeros((1, 8), dtype=tg.int64)\nm(x, x)[1].backward()\n"
            "print('tensorgrad.planner' in sys.modules, 'tensorgrad.profiler' in sys.modules)")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": repo + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]
