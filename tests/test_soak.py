"""Leaks and determinism (fast): a training step's graph dies by reference counting alone (no reference cycles
for the garbage collector to find), and two train() runs in fresh processes give bitwise equal losses.
The long memory soak (2000 steps, RSS growth) is benchmarks/bench_soak.py."""
import gc
import json
import os
import subprocess
import sys
import weakref

import numpy as np
import pytest

import tensorgrad as tg
from tensorgrad.autograd import function
from tensorgrad.models import GPT, GPTConfig

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class _NodeRecorder:
    """Function.apply forward hook: a weakref to every node (recorded op) created while active."""

    def __init__(self):
        self.refs = []

    def __call__(self, ctx, args, out, recorded):
        if recorded:
            self.refs.append(weakref.ref(ctx))

    def __enter__(self):
        function._forward_hooks.append(self)
        return self

    def __exit__(self, *exc):
        function._forward_hooks.remove(self)

    def alive(self):
        return [r() for r in self.refs if r() is not None]


def _tensorgrad_objects(objs):
    return [o for o in objs if type(o).__module__.startswith("tensorgrad")]


@pytest.fixture
def no_gc():
    """Garbage collector off and empty: whatever dies inside dies by refcount; DEBUG_SAVEALL keeps what a
    collection would free in gc.garbage so it can be inspected."""
    gc.collect()
    gc.disable()
    gc.garbage.clear()
    try:
        yield
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def _cycles_found():
    """Run a full collection in DEBUG_SAVEALL mode: (number of unreachable objects, the tensorgrad ones)."""
    gc.set_debug(gc.DEBUG_SAVEALL)
    n = gc.collect()
    found = _tensorgrad_objects(gc.garbage)
    gc.set_debug(0)
    gc.garbage.clear()
    return n, found


def _gpt(dropout=0.1, **kw):
    tg.manual_seed(0)
    cfg = GPTConfig(block_size=16, vocab_size=17, n_layer=2, n_head=2, n_embd=32, dropout=dropout, **kw)
    return GPT(cfg)


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    return tg.tensor(rng.integers(0, 17, (4, 16))), tg.tensor(rng.integers(0, 17, (4, 16)))


def test_training_step_graph_dies_by_refcount_alone(no_gc):
    model = _gpt()
    opt = model.configure_optimizers(0.1, 1e-3, (0.9, 0.99), "cpu")
    x, y = _batch()
    for step in range(3):  # the first step creates the optimizer state; later steps must not keep graphs either
        with _NodeRecorder() as rec:
            logits, loss = model(x, y)
            loss.backward()
            tg.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
        assert len(rec.refs) > 25  # a real graph was built (a dozen nodes per block: attention with its dropout is
        #                            one fused node)
        assert rec.alive(), "the graph should be alive while loss/logits are referenced"
        del logits, loss
        assert rec.alive() == [], f"step {step}: nodes kept alive after del: {rec.alive()[:5]}"
        n, found = _cycles_found()
        assert found == [], f"step {step}: gc found {len(found)} tensorgrad objects in cycles: {found[:5]}"
    assert all(p.grad is None for p in model.parameters())
    # the model and optimizer themselves die by refcount too
    ref = weakref.ref(model)
    del model, opt
    assert ref() is None and _cycles_found()[1] == []


def test_forward_only_graph_and_retain_graph_die_by_refcount(no_gc):
    model = _gpt(dropout=0.0)
    x, y = _batch(1)
    with _NodeRecorder() as rec:
        loss = model(x, y)[1]  # never backwarded: the graph must still die with the loss
    del loss
    assert len(rec.refs) > 20 and rec.alive() == []
    with _NodeRecorder() as rec:
        loss = model(x, y)[1]
        loss.backward(retain_graph=True)  # saved arrays kept on purpose
        loss.backward()
    del loss
    assert rec.alive() == []
    model.zero_grad(set_to_none=True)
    assert _cycles_found()[1] == []


def test_retain_grad_hooks_and_autograd_grad_leave_no_cycles(no_gc):
    w = tg.randn(8, 8, requires_grad=True)
    with _NodeRecorder() as rec:
        h = (w @ w).tanh()
        h.retain_grad()
        h.register_hook(lambda g: g * 2)
        out = (h * h).sum()
        (gw,) = tg.autograd.grad(out, w, retain_graph=True)
        out.backward()
    assert h.grad is not None and gw.shape == (8, 8)
    del h, out, gw
    assert rec.alive() == []
    w.grad = None
    assert _cycles_found()[1] == []


def test_checkpointed_blocks_leave_no_cycles(no_gc):
    from tensorgrad.planner import apply_checkpoint_policy
    from tensorgrad.checkpoint import Checkpointed
    model = _gpt(dropout=0.1)
    apply_checkpoint_policy(model.transformer.h, "all")
    assert all(isinstance(b, Checkpointed) for b in model.transformer.h)
    x, y = _batch(2)
    with _NodeRecorder() as rec:
        loss = model(x, y)[1]
        loss.backward()
    del loss
    assert len(rec.refs) > 10 and rec.alive() == []
    model.zero_grad(set_to_none=True)
    assert _cycles_found()[1] == []


# --------------------------------------------------------------------------------------------- determinism
_RUN = """
import json, sys
from tensorgrad.train import train, TrainConfig
r = train(TrainConfig(n_layer=2, n_head=2, n_embd=32, block_size=16, batch_size=4, max_iters=25, eval_interval=10,
                      eval_iters=2, dropout=0.1, sample_tokens=20, plot=False, verbose=False, threads=1,
                      log_interval=0, warmup_iters=5, seed=int(sys.argv[1]), out_dir=sys.argv[2]))
print(json.dumps({"losses": [l.hex() for _, l in r.train_losses], "evals": [[i, a.hex(), b.hex()] for i, a, b in r.evals],
                  "sample": r.sample}))
"""


def _train_in_fresh_process(seed, out_dir):
    env = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-c", _RUN, str(seed), out_dir], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_same_seed_same_device_gives_bitwise_equal_losses_across_processes(tmp_path):
    a = _train_in_fresh_process(1234, str(tmp_path / "a"))
    b = _train_in_fresh_process(1234, str(tmp_path / "b"))
    c = _train_in_fresh_process(1235, str(tmp_path / "c"))
    assert len(a["losses"]) == 25
    assert a == b  # every loss (as float.hex), every evaluation and the sample: bit for bit
    assert a["losses"] != c["losses"]  # and the comparison can fail: another seed differs
    # the checkpoints: weights, Adam moments, RNG states and loss history identical (only out_dir differs)
    from tensorgrad.io import load_checkpoint
    (sa, oa, ma), (sb, ob, mb) = (load_checkpoint(str(tmp_path / d / "ckpt.safetensors")) for d in "ab")
    assert sa.keys() == sb.keys() and all(np.array_equal(sa[k], sb[k]) for k in sa)
    for pid in oa["state"]:
        for k, v in oa["state"][pid].items():
            assert np.array_equal(np.asarray(getattr(v, "data", v)),
                                  np.asarray(getattr(ob["state"][pid][k], "data", ob["state"][pid][k]))), (pid, k)
    assert ma["config"].pop("out_dir") != mb["config"].pop("out_dir")
    assert ma == mb
