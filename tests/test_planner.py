"""Checkpoint policies and the byte-budget planner."""
import numpy as np
import pytest

import tensorgrad as tg
from tensorgrad.models.gpt import GPT, GPTConfig
from tensorgrad.planner import (checkpointed_blocks, measure_blocks, measure_step, parse_budget, parse_policy,
                                plan_checkpoints, predict_peak, segments)


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


def test_budget_policy_in_gpt_forward_plans_once_and_keeps_grads():
    model, batch = _setup(n_layer=4)
    hi = measure_step(model, batch, "none")["peak_bytes"]
    lo = measure_step(model, batch, "all")["peak_bytes"]
    budget = (lo + hi) // 2

    def grads(policy):
        model.config.checkpoint = policy
        model.zero_grad(set_to_none=True)
        tg.manual_seed(9)
        _, loss = model(*batch)
        loss.backward()
        return [p.grad.numpy().copy() for p in model.parameters()], tg.rand(1).item()

    g0, r0 = grads("none")
    policy = f"budget={budget}"
    g1, r1 = grads(policy)
    assert r1 == r0  # planning ran inside the forward without disturbing the RNG stream
    for a, b in zip(g1, g0):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    plan = model._checkpoint_plans[parse_policy(policy)]
    assert plan.fits and 0 < len(plan.blocks) < 4
    model.config.checkpoint = policy
    assert measure_step(model, batch, plan.policy)["peak_bytes"] <= budget
