"""Higher-order autodiff costs: (1) the first-order baby GPT training step before/after the higher-order change
(commit 3702fc0), (2) a Hessian-vector product vs one gradient, tensorgrad and PyTorch side by side.

    python benchmarks/bench_higher_order.py [--runs 6] [--rounds 15] [--threads 1] [--keep-worktree]
    python benchmarks/bench_higher_order.py --skip-step      # part 2 only
    python benchmarks/bench_higher_order.py --worker step    # one process measuring the checkout first on PYTHONPATH

Baby GPT: 4 layers, 4 heads, 128 wide, block 64, batch 12, vocab 65, float32, dropout 0.

1. Two commits cannot run in one process, so, as bench_overhead.py does, "before" is a git worktree of 3702fc0~1
   (created under /tmp/tg_pre_ho if missing, its C extension built in place, removed at the end unless
   --keep-worktree) put first on PYTHONPATH of a worker process, "after" is this checkout (its working tree, dirty
   files recorded). Worker processes alternate before / after (--runs of each); each worker times --rounds rounds
   of one tensorgrad step and one torch step (which goes first alternates), step = forward + backward + AdamW
   step + zero_grad. torch's step in the same process is the stable reference: a worker's figure is
   median(tensorgrad) / median(torch), and the reported ratio for each checkout is the median over its workers;
   the goal is after/before <= 1.03.
2. In this process (this checkout): gradient = forward + autograd.grad(loss, params); HVP = forward +
   autograd.grad(create_graph=True) + <g, v> + autograd.grad(<g, v>, params). Alternating rounds of the four
   (tensorgrad grad, tensorgrad HVP, torch grad, torch HVP; torch's HVP on the math SDPA path, since its fused CPU
   attention has no double backward; torch's gradient timed on both paths). Goal: HVP <= 2.5x one gradient.

Medians throughout: the machine (2 cores) is shared with other jobs. Threads default to 1 for both frameworks
(tensorgrad.backend.host.set_num_threads also sets torch's) -- on a loaded 2-core machine 2 threads mostly measure
the neighbours. Writes benchmarks/results/higher_order_cpu.json (machine, commit, dirty).
"""
import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRE_COMMIT = "3702fc0~1"
WORKTREE = "/tmp/tg_pre_ho"

ap = argparse.ArgumentParser()
ap.add_argument("--worker", choices=["step"], default=None)
ap.add_argument("--runs", type=int, default=6, help="worker processes per checkout (alternating)")
ap.add_argument("--rounds", type=int, default=15, help="timed rounds per worker / in part 2")
ap.add_argument("--warmup", type=int, default=3)
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--skip-step", action="store_true")
ap.add_argument("--skip-hvp", action="store_true")
ap.add_argument("--keep-worktree", action="store_true")
ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "higher_order_cpu.json"))
args = ap.parse_args()

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, str(args.threads))
# Appended, not prepended: a checkout named on PYTHONPATH (the worktree of the older commit) must win.
sys.path.append(ROOT)
sys.path.append(os.path.join(ROOT, "benchmarks"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import tensorgrad as tg  # noqa: E402
from tensorgrad.models import GPT, GPTConfig  # noqa: E402
from tensorgrad.backend.host import set_num_threads  # noqa: E402
from tensorgrad.provenance import git_commit, git_dirty, machine_info  # noqa: E402
from torch_gpt import TGPT, copy_weights, torch_optimizer  # noqa: E402

CFG = dict(n_layer=4, n_head=4, n_embd=128, block_size=64, vocab_size=65, dropout=0.0, bias=True)
B = 12


def models():
    tg.manual_seed(1337)
    m = GPT(GPTConfig(**CFG))
    tm = TGPT(**CFG)
    copy_weights(m, tm)
    rng = np.random.default_rng(0)
    idx, tgt = rng.integers(0, CFG["vocab_size"], size=(2, B, CFG["block_size"]))
    return m, tm, (tg.tensor(idx), tg.tensor(tgt)), (torch.from_numpy(idx), torch.from_numpy(tgt))


def timed(fn):
    gc.collect()
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def alternate(cases, rounds, warmup):
    """cases: {name: fn}; each round runs every case once, the order rotating between rounds. Returns samples."""
    names = list(cases)
    for _ in range(warmup):
        for n in names:
            cases[n]()
    out = {n: [] for n in names}
    for r in range(rounds):
        k = r % len(names)
        for n in names[k:] + names[:k]:
            out[n].append(timed(cases[n]))
    return out


def med_ms(xs):
    return round(1e3 * statistics.median(xs), 2)


# -------------------------------------------------------------------------------------------- worker
def worker_step():
    set_num_threads(args.threads)
    m, tm, (x, y), (tx, ty) = models()
    opt = m.configure_optimizers(0.1, 1e-3, (0.9, 0.99))
    topt = torch_optimizer(tm)

    def tg_step():
        _, loss = m(x, y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    def torch_step():
        _, loss = tm(tx, ty)
        loss.backward()
        topt.step()
        topt.zero_grad(set_to_none=True)
    s = alternate({"tensorgrad": tg_step, "torch": torch_step}, args.rounds, args.warmup)
    tg_root = os.path.dirname(os.path.dirname(os.path.abspath(tg.__file__)))
    print(json.dumps({"tensorgrad_file": os.path.abspath(tg.__file__), "commit": git_commit(cwd=tg_root),
                      "tensorgrad_ms": [1e3 * t for t in s["tensorgrad"]], "torch_ms": [1e3 * t for t in s["torch"]]}))


# -------------------------------------------------------------------------------------------- part 1
def ensure_worktree():
    if not os.path.isdir(WORKTREE):
        subprocess.run(["git", "worktree", "add", WORKTREE, PRE_COMMIT], cwd=ROOT, check=True)
    if not any(f.startswith("_C") and f.endswith(".so") for f in os.listdir(os.path.join(WORKTREE, "tensorgrad"))):
        subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace", "-q"], cwd=WORKTREE, check=True)


def run_worker(path):
    env = dict(os.environ, PYTHONPATH=path)
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "step", "--rounds", str(args.rounds),
           "--warmup", str(args.warmup), "--threads", str(args.threads)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True, cwd=path)
    return json.loads(out.stdout.strip().splitlines()[-1])


def part_step():
    ensure_worktree()
    pre_commit = subprocess.run(["git", "rev-parse", PRE_COMMIT], cwd=ROOT, capture_output=True,
                                text=True).stdout.strip()
    runs = {"before": [], "after": []}
    for i in range(args.runs):
        order = [("before", WORKTREE), ("after", ROOT)] if i % 2 == 0 else [("after", ROOT), ("before", WORKTREE)]
        for label, path in order:
            r = run_worker(path)
            r["ratio"] = statistics.median(r["tensorgrad_ms"]) / statistics.median(r["torch_ms"])
            runs[label].append(r)
            print(f"  run {i} {label:6s} ({r['commit'][:7] if r['commit'] else '?'}): tensorgrad "
                  f"{statistics.median(r['tensorgrad_ms']):7.1f} ms, torch {statistics.median(r['torch_ms']):7.1f} ms,"
                  f" ratio {r['ratio']:.3f}", flush=True)
    res = {}
    for label, rs in runs.items():
        res[label] = {
            "commit": rs[0]["commit"], "commits": [r["commit"] for r in rs], "tensorgrad_file": rs[0]["tensorgrad_file"],
            "ratio_median": round(statistics.median(r["ratio"] for r in rs), 4),
            "ratios": [round(r["ratio"], 4) for r in rs],
            "tensorgrad_step_ms_median": med_ms([t / 1e3 for r in rs for t in r["tensorgrad_ms"]]),
            "torch_step_ms_median": med_ms([t / 1e3 for r in rs for t in r["torch_ms"]]),
        }
    assert res["before"]["commit"] == pre_commit, (res["before"]["commit"], pre_commit)
    res["after_over_before"] = round(res["after"]["ratio_median"] / res["before"]["ratio_median"], 4)
    res["goal"] = "after_over_before <= 1.03"
    print(f"first-order step, tensorgrad/torch: before {res['before']['ratio_median']:.3f}, after "
          f"{res['after']['ratio_median']:.3f} -> after/before {res['after_over_before']:.3f} (goal <= 1.03)")
    return res


# -------------------------------------------------------------------------------------------- part 2
def part_hvp():
    from torch.nn.attention import SDPBackend, sdpa_kernel
    set_num_threads(args.threads)
    m, tm, (x, y), (tx, ty) = models()
    ps, tps = list(m.parameters()), list(tm.parameters())
    rng = np.random.default_rng(1)
    vs = [tg.tensor(rng.standard_normal(tuple(p.shape)).astype(np.float32)) for p in ps]
    tvs = [torch.from_numpy(rng.standard_normal(tuple(p.shape)).astype(np.float32)) for p in tps]

    def tg_grad():
        return tg.autograd.grad(m(x, y)[1], ps)

    def tg_hvp():
        gs = tg.autograd.grad(m(x, y)[1], ps, create_graph=True)
        return tg.autograd.grad(sum((g * v).sum() for g, v in zip(gs, vs)), ps)

    def th_grad():
        return torch.autograd.grad(tm(tx, ty)[1], tps)

    def th_grad_math():
        with sdpa_kernel(SDPBackend.MATH):
            return torch.autograd.grad(tm(tx, ty)[1], tps)

    def th_hvp():
        with sdpa_kernel(SDPBackend.MATH):
            gs = torch.autograd.grad(tm(tx, ty)[1], tps, create_graph=True)
            return torch.autograd.grad(sum((g * v).sum() for g, v in zip(gs, tvs)), tps)
    s = alternate({"tensorgrad_grad": tg_grad, "tensorgrad_hvp": tg_hvp, "torch_grad": th_grad,
                   "torch_grad_math_sdpa": th_grad_math, "torch_hvp_math_sdpa": th_hvp}, args.rounds, args.warmup)
    res = {k: {"median_ms": med_ms(v), "min_ms": round(1e3 * min(v), 2)} for k, v in s.items()}
    res["tensorgrad_hvp_over_grad"] = round(res["tensorgrad_hvp"]["median_ms"] / res["tensorgrad_grad"]["median_ms"], 3)
    res["torch_hvp_over_grad"] = round(res["torch_hvp_math_sdpa"]["median_ms"] / res["torch_grad"]["median_ms"], 3)
    res["torch_hvp_over_grad_math_sdpa"] = round(res["torch_hvp_math_sdpa"]["median_ms"]
                                                 / res["torch_grad_math_sdpa"]["median_ms"], 3)
    res["goal"] = "tensorgrad_hvp_over_grad <= 2.5"
    for k in s:
        print(f"  {k:22s} {res[k]['median_ms']:8.1f} ms (min {res[k]['min_ms']:.1f})")
    print(f"HVP / gradient: tensorgrad {res['tensorgrad_hvp_over_grad']:.2f}x, torch "
          f"{res['torch_hvp_over_grad']:.2f}x (vs its default-path gradient), "
          f"{res['torch_hvp_over_grad_math_sdpa']:.2f}x (vs its math-SDPA gradient); goal <= 2.5x")
    return res


def main():
    if args.worker == "step":
        return worker_step()
    t0 = time.time()
    report = {"benchmark": "bench_higher_order", "config": dict(CFG, batch=B, dtype="float32"),
              "threads": args.threads, "rounds": args.rounds, "runs_per_checkout": args.runs,
              "notes": "medians over alternating rounds (and, for the step, alternating worker processes) on a "
                       "2-core machine shared with other jobs; step = forward + backward + AdamW step + zero_grad; "
                       "ratios are tensorgrad / torch measured in the same process. HVP = forward + "
                       "grad(create_graph=True) + <g, v> + grad; torch's HVP on the math SDPA path.",
              "machine": machine_info(), "commit": git_commit(cwd=ROOT), "dirty": git_dirty(cwd=ROOT)}
    if os.path.exists(args.out):  # keep the part not rerun
        with open(args.out) as f:
            old = json.load(f)
        for k in ("first_order_step", "hvp_vs_grad"):
            if k in old:
                report[k] = old[k]
    try:
        if not args.skip_step:
            print(f"Part 1: first-order baby GPT step, {PRE_COMMIT} (worktree {WORKTREE}) vs this checkout, "
                  f"{args.runs} worker processes each, {args.rounds} rounds per worker, {args.threads} thread(s)")
            report["first_order_step"] = part_step()
        if not args.skip_hvp:
            print(f"Part 2: HVP vs gradient, baby GPT, {args.rounds} alternating rounds")
            report["hvp_vs_grad"] = part_hvp()
    finally:
        if not args.keep_worktree and os.path.isdir(WORKTREE) and not args.skip_step:
            subprocess.run(["git", "worktree", "remove", "--force", WORKTREE], cwd=ROOT)
    report["wall_s"] = round(time.time() - t0, 1)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=1)
    print(f"wrote {args.out} ({report['wall_s']} s)")


if __name__ == "__main__":
    main()
