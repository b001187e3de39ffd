"""Activation-checkpointing policies over a sequence of blocks, applied from outside the model, and the
byte-budget planner.

A policy is a string:

    none          keep every block's activations (no recompute)
    all           checkpoint every block on its own (keep only block inputs; recompute each block once)
    every=K       checkpoint runs of K consecutive blocks (one recompute segment per run)
    sqrt          ceil(sqrt(n)) segments as checkpoint_sequential: all but the last checkpointed
    blocks=0,2-5  checkpoint exactly these blocks, each on its own (what the budget planner produces)
    budget=40MB   the cheapest ``blocks=`` plan whose measured peak fits 40 MB (1 MB = 2**20 bytes),
                  planned by ``plan_checkpoints`` on one batch before training

``apply_checkpoint_policy(blocks, policy)`` wraps the blocks of an nn.Sequential / nn.ModuleList in place
(checkpoint.Checkpointed, which keeps parameter names) before the first step; the model's forward stays a plain
loop over its blocks. ``apply_checkpoint_policy(model.transformer.h, "sqrt")`` for the GPT; any sequence of
blocks works the same way. ``plan_checkpoints(model, batch, budget_bytes, blocks=)`` measures once, with the
memory profiler, each block's saved-activation bytes and input bytes (policy none), and times each block's
forward; it then picks the set of blocks whose recompute time is least among the sets predicted to fit
(exhaustively for up to 14 blocks, greedily by bytes saved per second of recompute beyond), and verifies the
choice with a measured step, adding blocks until the measured peak fits. Measuring wraps the blocks for the
duration of a step and puts back what was there before.
"""
import itertools
import math
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

from .autograd.grad_mode import enable_grad
from .checkpoint import Checkpointed
from .nn.layers import ModuleList, Sequential
from .nn.module import Module
from .profiler.memory import memory
from .random import default_generator

POLICY_HELP = "none | all | sqrt | every=K | blocks=I,J-K | budget=XMB"
_UNITS = {"b": 1, "kb": 2 ** 10, "k": 2 ** 10, "mb": 2 ** 20, "m": 2 ** 20, "gb": 2 ** 30, "g": 2 ** 30}
_default = ["none"]


# ----------------------------------------------------------------------------------- policies
def get_default_policy():
    return _default[0]


def set_default_policy(policy):
    """The policy that ``apply_checkpoint_policy(blocks)`` and ``train()`` use when given none; 'none' initially."""
    _default[0] = parse_policy(policy)


@contextmanager
def default_policy(policy):
    old = _default[0]
    set_default_policy(policy)
    try:
        yield
    finally:
        _default[0] = old


def parse_budget(s):
    """'40MB' / '1.5GB' / '65536' -> bytes (binary units: 1 MB = 2**20 bytes)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", str(s))
    if not m or m.group(2).lower() not in _UNITS and m.group(2):
        raise ValueError(f"checkpoint budget: can't parse {s!r} (expected e.g. 40MB, 1.5GB, 65536)")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower() or "b"])


def _parse_blocks(spec):
    out = set()
    for part in filter(None, spec.split(",")):
        a, _, b = part.partition("-")
        out.update(range(int(a), int(b or a) + 1))
    return sorted(out)


def parse_policy(policy):
    """Validate and normalize a policy string (None: the default policy)."""
    if policy is None:
        return _default[0]
    p = str(policy).strip().lower().replace(" ", "")
    if p in ("none", "all", "sqrt"):
        return p
    m = re.fullmatch(r"every[=-]?(\d+)", p)
    if m and int(m.group(1)) >= 1:
        return f"every={int(m.group(1))}"
    if p.startswith("blocks="):
        try:
            return "blocks=" + ",".join(str(i) for i in _parse_blocks(p[7:]))
        except ValueError:
            pass
    if p.startswith("budget="):
        parse_budget(p[7:])
        return p
    raise ValueError(f"checkpoint policy: unknown {policy!r} (expected {POLICY_HELP})")


def segments(policy, n):
    """[(start, stop, checkpointed)] covering blocks 0..n-1 for a resolved (non-budget) policy."""
    p = parse_policy(policy)
    if p == "none" or n == 0:
        return [(0, n, False)]
    if p == "all":
        return [(i, i + 1, True) for i in range(n)]
    if p == "sqrt":
        k = math.ceil(math.sqrt(n))
        size = -(-n // k)
        segs = [(i, min(i + size, n), True) for i in range(0, n, size)]
        segs[-1] = segs[-1][:2] + (False,)
        return segs
    if p.startswith("every="):
        k = int(p[6:])
        return [(i, min(i + k, n), True) for i in range(0, n, k)]
    if p.startswith("blocks="):
        chosen = set(_parse_blocks(p[7:]))
        bad = [i for i in chosen if not 0 <= i < n]
        if bad:
            raise ValueError(f"checkpoint policy {p}: block indices {bad} out of range for {n} blocks")
        return [(i, i + 1, i in chosen) for i in range(n)]
    raise ValueError(f"checkpoint policy {p}: a budget must be planned first (plan_checkpoints)")


def checkpointed_blocks(policy, n):
    return [i for s, e, c in segments(policy, n) if c for i in range(s, e)]


# ----------------------------------------------------------------------------------- applying
def unwrap(block):
    """The block itself, whether or not it is wrapped in Checkpointed."""
    return block.module if isinstance(block, Checkpointed) else block


def _put(blocks, entries):
    """``entries`` in the places of blocks' entries, in order. Each name is set again, in order: nn.Module's
    add_module moves a replaced child to the end (PyTorch keeps its place), so setting only some places, or
    Sequential's __setitem__ after a first replacement, would reorder the blocks."""
    if isinstance(blocks, Module):
        for name, m in zip(list(blocks._modules), entries):
            blocks.add_module(name, m)
    else:
        blocks[:] = entries


def apply_checkpoint_policy(blocks, policy=None, model=None, batch=None, loss_fn=None):
    """Wrap the blocks of ``blocks`` (an nn.Sequential or nn.ModuleList of blocks, changed in place) in
    Checkpointed per ``policy`` (None: the default policy), first unwrapping any earlier policy's wrappers; run
    it before the first step. Parameter names, hence state_dict keys, do not change. A ``budget=`` policy is
    planned first with ``plan_checkpoints(model, batch, budget, blocks=blocks, loss_fn=loss_fn)``. Returns the
    policy applied (a budget's plan: 'none' or 'blocks=...')."""
    policy = parse_policy(policy)
    if policy.startswith("budget="):
        if model is None or batch is None:
            raise ValueError(f"checkpoint policy {policy}: planning needs the model and a batch of its inputs")
        policy = plan_checkpoints(model, batch, parse_budget(policy[7:]), blocks=blocks, loss_fn=loss_fn).policy
    plain = [unwrap(b) for b in blocks]
    _put(blocks, [Checkpointed(plain[i], segment=plain[s:e]) if ck else plain[i]
                  for s, e, ck in segments(policy, len(plain)) for i in range(s, e)])
    return policy


# ----------------------------------------------------------------------------------- measuring
def find_blocks(model):
    """The repeated blocks of a model when none are given: its longest nn.ModuleList / nn.Sequential."""
    seqs = [m for m in model.modules() if isinstance(m, (ModuleList, Sequential))]
    if not seqs:
        raise ValueError(f"checkpoint planner: {type(model).__name__} has no nn.ModuleList or nn.Sequential of "
                         "blocks; pass blocks=")
    return max(seqs, key=len)


def _loss(model, batch):
    """The default loss_fn: the model's output on ``batch`` (its positional inputs), or its second item when it
    returns (logits, loss) as GPT does."""
    out = model(*batch)
    return out[1] if isinstance(out, tuple) else out


@contextmanager
def _isolated(model, blocks, policy):
    """Run steps of ``model`` with ``blocks`` checkpointed per ``policy`` without disturbing the caller: the
    blocks' wrappers, the parameters' grads and the RNG state are put back afterwards."""
    params = list(model.parameters())
    grads = [p.grad for p in params]
    state = default_generator.get_state()
    before = list(blocks)
    apply_checkpoint_policy(blocks, policy)
    for p in params:
        p.grad = None
    try:
        yield
    finally:
        _put(blocks, before)
        for p, g in zip(params, grads):
            p.grad = g
        default_generator.set_state(state)


def measure_step(model, batch, policy, loss_fn=None, return_profiler=False, blocks=None):
    """One forward + backward with ``blocks`` (default: find_blocks(model)) checkpointed per ``policy``, inside
    the memory profiler: {'peak_bytes', 'peak_saved_bytes'}."""
    blocks = blocks if blocks is not None else find_blocks(model)
    loss_fn = loss_fn or _loss
    with _isolated(model, blocks, policy), enable_grad():
        with memory(model) as prof:
            loss = loss_fn(model, batch)
            loss.backward()
            del loss
    res = {"peak_bytes": int(prof.peak_bytes), "peak_saved_bytes": int(prof.peak_saved_bytes)}
    return (res, prof) if return_profiler else res


def measure_blocks(model, batch, blocks=None, loss_fn=None, repeat=2):
    """Per block: saved-activation bytes, input bytes, forward seconds (min of ``repeat``); plus the
    measured peaks of one step without checkpointing."""
    blocks = blocks if blocks is not None else find_blocks(model)
    loss_fn = loss_fn or _loss
    plain = [unwrap(b) for b in blocks]
    n = len(plain)
    inp = [0] * n
    secs = [float("inf")] * n
    t0 = [0.0]

    def pre(i):
        def hook(m, args):
            inp[i] = int(args[0].array.nbytes)
            t0[0] = time.perf_counter()
        return hook

    def post(i):
        return lambda m, args, out: secs.__setitem__(i, min(secs[i], time.perf_counter() - t0[0]))

    hooks = [h for i, b in enumerate(plain) for h in (b.register_forward_pre_hook(pre(i)),
                                                     b.register_forward_hook(post(i)))]
    try:
        res, prof = measure_step(model, batch, "none", loss_fn, return_profiler=True, blocks=blocks)
        for _ in range(repeat):
            with _isolated(model, blocks, "none"), enable_grad():
                loss = loss_fn(model, batch)
                del loss
    finally:
        for h in hooks:
            h.remove()
    names = {id(unwrap(m)): k for k, m in model.named_modules()}
    act = []
    for b in plain:
        pre_name = names[id(b)] + "."
        act.append(sum(v[0] for k, v in prof.by_module.items() if k and (k + ".").startswith(pre_name)))
    return {"peak_bytes": res["peak_bytes"], "peak_saved_bytes": res["peak_saved_bytes"],
            "act_bytes": act, "input_bytes": inp, "fwd_seconds": secs}


# ----------------------------------------------------------------------------------- planning
def predict_peak(chosen, m):
    """Predicted peak live bytes when the blocks in ``chosen`` are checkpointed, from measure_blocks' m:
    the forward's end (checkpointed blocks keep only their input) and, in backward, each checkpointed
    block's recompute on top of what the earlier blocks keep."""
    act, inp = m["act_bytes"], m["input_bytes"]
    base = m["peak_bytes"] - sum(act)
    kept = [inp[i] if i in chosen else act[i] for i in range(len(act))]
    peak = base + sum(kept)
    for b in chosen:
        peak = max(peak, base + sum(kept[:b]) + act[b])
    return peak


def _choose(m, budget):
    n = len(m["act_bytes"])
    t = m["fwd_seconds"]
    if n <= 14:
        best = None
        for r in range(n + 1):
            for S in itertools.combinations(range(n), r):
                s = set(S)
                p = predict_peak(s, m)
                if p <= budget:
                    key = (sum(t[i] for i in S), p)
                    if best is None or key < best[0]:
                        best = (key, s)
        if best is not None:
            return best[1]
        return set(range(n))
    chosen = set()
    order = sorted(range(n), key=lambda i: (-(m["act_bytes"][i] - m["input_bytes"][i]) / max(t[i], 1e-9), i))
    for i in order:
        if predict_peak(chosen, m) <= budget:
            break
        chosen.add(i)
    return chosen


@dataclass
class Plan:
    policy: str                 # 'none' or 'blocks=...'
    blocks: list                # checkpointed block indices
    budget_bytes: int
    predicted_peak_bytes: int
    measured_peak_bytes: int
    measured_saved_bytes: int
    fits: bool                  # measured peak <= budget
    recompute_seconds: float    # sum of the checkpointed blocks' measured forward times
    rounds: int                 # measured verification runs
    measurements: dict = field(default_factory=dict)


def _policy_of(chosen):
    return "blocks=" + ",".join(str(i) for i in sorted(chosen)) if chosen else "none"


def plan_checkpoints(model, batch, budget_bytes, blocks=None, loss_fn=None, verify=True, measurements=None):
    """The set of ``blocks`` (an nn.Sequential / nn.ModuleList inside ``model``; default: find_blocks(model))
    to checkpoint so one training step's peak live bytes fit ``budget_bytes`` with the least recompute time;
    verified (and, if needed, grown) with measured steps. ``batch`` is the model's positional inputs, e.g.
    (idx, targets) for GPT; ``loss_fn(model, batch)`` returns the loss (default: the model's output, or its
    second item). Returns a Plan: ``apply_checkpoint_policy(blocks, plan.policy)`` applies it; ``plan.fits`` is
    False when even checkpointing every block doesn't fit."""
    blocks = blocks if blocks is not None else find_blocks(model)
    m = measurements or measure_blocks(model, batch, blocks, loss_fn)
    budget_bytes = int(budget_bytes)
    chosen = _choose(m, budget_bytes)
    predicted = predict_peak(chosen, m)
    if not verify:
        return Plan(_policy_of(chosen), sorted(chosen), budget_bytes, predicted, -1, -1, predicted <= budget_bytes,
                    sum(m["fwd_seconds"][i] for i in chosen), 0, m)
    n = len(blocks)
    t, act, inp = m["fwd_seconds"], m["act_bytes"], m["input_bytes"]
    rounds = 0
    while True:
        res = measure_step(model, batch, _policy_of(chosen), loss_fn, blocks=blocks)
        rounds += 1
        if res["peak_bytes"] <= budget_bytes or len(chosen) == n:
            break
        # Over budget: checkpoint one more block (most bytes saved per second of recompute; earliest first).
        rest = [i for i in range(n) if i not in chosen]
        chosen.add(min(rest, key=lambda i: (-(act[i] - inp[i]) / max(t[i], 1e-9), i)))
    return Plan(_policy_of(chosen), sorted(chosen), budget_bytes, predict_peak(chosen, m), res["peak_bytes"],
                res["peak_saved_bytes"], res["peak_bytes"] <= budget_bytes, sum(t[i] for i in chosen), rounds, m)
