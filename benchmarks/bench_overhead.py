"""Eager per-op overhead and large elementwise ops: tensorgrad vs PyTorch CPU, in one process, alternating rounds.

    python benchmarks/bench_overhead.py [--label current] [--rounds 11] [--quick] [--out PATH]

1. Op chain: 2,000 tiny ops on a (4,) float32 tensor, the same Python code for both frameworks (a cycle of 10:
   add tensor, mul tensor, tanh, exp, sub tensor, neg, mul scalar, view (2, 2), reshape (4,), add scalar).
   Rows: no grad (the leaf does not require grad), grad forward (the leaf requires grad: the tape is recorded;
   forward only) and grad forward+backward (the same plus y.backward(ones)); microseconds per op = chain time / 2000.
   What Python does around the ops (the loop, rebinding) is the same for both and part of both figures.
2. Elementwise table: add, mul, where, sum over 2500x2520 float32 (6.3M elements), no grad, at 2 threads and 1.
3. layer_norm (8192x768) and GELU (8192x512), forward+backward with an elementwise op either side (h = x*2+1
   before, y + x residual after, backward(dy)), at 2 threads and 1.

Each round times tensorgrad and torch back to back (which goes first alternates between rounds); a figure is the
median over rounds (the minimum is kept too). Thread counts are set with tensorgrad.train.set_num_threads, which
sets torch's as well (torch.set_num_threads). gc.collect() runs before each timed sample, gc stays enabled.

Only the public API is used (tensorgrad / tensorgrad.nn.functional and Tensor methods), so the script runs on
older checkouts too: put one first on PYTHONPATH (the tensorgrad that is imported is recorded, with its commit).
Results go under runs[<label>] in the JSON file; runs under other labels already in the file are kept.
"""
import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Appended, not prepended: a checkout named on PYTHONPATH (e.g. an older commit in a git worktree) must win.
sys.path.append(ROOT)

import torch  # noqa: E402

import tensorgrad as tg  # noqa: E402
import tensorgrad.nn.functional as tgF  # noqa: E402
import torch.nn.functional as thF  # noqa: E402
from tensorgrad.provenance import git_commit, git_dirty, machine_info  # noqa: E402

try:
    from tensorgrad.train import set_num_threads as _tg_set_threads
except ImportError:  # pragma: no cover - very old checkouts
    _tg_set_threads = None

N_OPS = 2000
CYCLE = 10


def set_threads(n):
    if _tg_set_threads is not None:
        _tg_set_threads(n)       # OpenBLAS + OpenMP pools, and torch's since torch is imported
    torch.set_num_threads(n)


def dirty_files(root):
    """Tracked files that differ from HEAD in the checkout measured (what 'dirty' refers to), or None."""
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                             capture_output=True, text=True, timeout=10)
    except Exception:
        return None
    return [line[3:] for line in out.stdout.splitlines() if line.strip()] if out.returncode == 0 else None


# ------------------------------------------------------------------------------------------- op chain
def chain(x, c):
    """N_OPS tiny ops; duck-typed, the same code runs on a tensorgrad and a torch tensor. tanh each cycle keeps
    the values bounded."""
    y = x
    for _ in range(N_OPS // CYCLE):
        y = y + c
        y = y * c
        y = y.tanh()
        y = y.exp()
        y = y - c
        y = -y
        y = y * 0.5
        y = y.view(2, 2)
        y = y.reshape(4)
        y = y + 1.0
    return y


def chain_cases(lib):
    """name -> zero-argument callable running one chain, for lib = tg or torch."""
    base = np.array([0.1, -0.2, 0.3, -0.4], np.float32)
    cval = np.array([0.9, 1.1, -0.7, 0.5], np.float32)
    c = lib.tensor(cval)
    x_nograd = lib.tensor(base)
    x_grad = lib.tensor(base, requires_grad=True)
    ones = lib.ones(4)

    def no_grad():
        chain(x_nograd, c)

    def grad_fwd():
        chain(x_grad, c)

    def grad_fwd_bwd():
        x_grad.grad = None
        chain(x_grad, c).backward(ones)

    return {"no grad": no_grad, "grad forward": grad_fwd, "grad forward+backward": grad_fwd_bwd}


# ------------------------------------------------------------------------------------ large elementwise
def elementwise_cases(lib, arrays):
    a, b, m = (lib.tensor(arr) for arr in arrays)   # m: a bool mask
    return {"add": lambda: a + b, "mul": lambda: a * b, "where": lambda: lib.where(m, a, b), "sum": lambda: a.sum()}


def fused_cases(lib, F, arrays):
    """layer_norm and GELU forward+backward between two elementwise ops, all leaves requiring grad."""
    (ln_x, ln_w, ln_b, ln_dy), (g_x, g_dy) = arrays
    lx, lw, lb = (lib.tensor(v, requires_grad=True) for v in (ln_x, ln_w, ln_b))
    ldy = lib.tensor(ln_dy)
    gx = lib.tensor(g_x, requires_grad=True)
    gdy = lib.tensor(g_dy)

    def layer_norm():
        lx.grad = lw.grad = lb.grad = None
        h = lx * 2 + 1
        y = F.layer_norm(h, (ln_x.shape[-1],), lw, lb, 1e-5)
        (y + lx).backward(ldy)

    def gelu():
        gx.grad = None
        h = gx * 2 + 1
        y = F.gelu(h)
        (y + gx).backward(gdy)

    return {f"layer_norm {ln_x.shape[0]}x{ln_x.shape[1]} fwd+bwd": layer_norm,
            f"gelu {g_x.shape[0]}x{g_x.shape[1]} fwd+bwd": gelu}


# ------------------------------------------------------------------------------------------- timing
def sample(fn, reps):
    """Mean seconds per call over reps calls."""
    gc.collect()
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t0) / reps


def alternate(tg_cases, th_cases, rounds, reps):
    """{case: {"tensorgrad": [s, ...], "torch": [s, ...]}}: per round, both frameworks back to back for every case;
    which goes first alternates between rounds."""
    for cases in (tg_cases, th_cases):          # warm-up (imports, caches, allocator)
        for fn in cases.values():
            fn()
    out = {k: {"tensorgrad": [], "torch": []} for k in tg_cases}
    for r in range(rounds):
        order = [("tensorgrad", tg_cases), ("torch", th_cases)]
        if r % 2:
            order.reverse()
        for k in tg_cases:
            for name, cases in order:
                out[k][name].append(sample(cases[k], reps))
    return out


def summarize(samples, scale):
    """Median (and min) per framework, scaled (1e6: us, 1e3: ms), and the ratio of medians."""
    row = {}
    for name in ("tensorgrad", "torch"):
        row[name] = scale * statistics.median(samples[name])
        row[name + "_min"] = scale * min(samples[name])
    row["ratio"] = row["tensorgrad"] / row["torch"]
    return row


# ---------------------------------------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--label", default="current", help="key the results are stored under (e.g. before/after)")
    ap.add_argument("--rounds", type=int, default=11, help="alternating rounds; the median is reported")
    ap.add_argument("--quick", action="store_true", help="5 rounds, fewer reps (a smoke test)")
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "overhead_cpu.json"))
    args = ap.parse_args()
    rounds = 5 if args.quick else args.rounds
    t_start = time.perf_counter()
    load_start = os.getloadavg()[0]
    tg_file = os.path.abspath(tg.__file__)
    tg_root = os.path.dirname(os.path.dirname(tg_file))
    print(f"tensorgrad from {tg_file}\ntorch {torch.__version__}  numpy {np.__version__}  label {args.label!r}")

    # 1. op chain, 1 thread (tiny ops use none anyway)
    set_threads(1)
    res = alternate(chain_cases(tg), chain_cases(torch), rounds, reps=1 if args.quick else 2)
    chain_rows = [dict(case=k, **summarize(v, 1e6 / N_OPS)) for k, v in res.items()]
    print(f"\nop chain: {N_OPS} ops on a (4,) float32 tensor, 1 thread, us per op (median of {rounds} rounds)")
    print(f"{'case':<24}{'tensorgrad':>11}{'torch':>9}{'ratio':>8}")
    for r in chain_rows:
        print(f"{r['case']:<24}{r['tensorgrad']:>11.2f}{r['torch']:>9.2f}{r['ratio']:>8.2f}")

    # 2./3. large elementwise, layer_norm and GELU, at 2 threads and 1
    rng = np.random.default_rng(0)
    ew_arrays = (rng.standard_normal((2500, 2520), dtype=np.float32),
                 rng.standard_normal((2500, 2520), dtype=np.float32))
    ew_arrays += (ew_arrays[0] > 0,)
    fused_arrays = ((rng.standard_normal((8192, 768), dtype=np.float32), rng.standard_normal(768, dtype=np.float32),
                     rng.standard_normal(768, dtype=np.float32), rng.standard_normal((8192, 768), dtype=np.float32)),
                    (rng.standard_normal((8192, 512), dtype=np.float32),
                     rng.standard_normal((8192, 512), dtype=np.float32)))
    big_rounds = min(rounds, 7)
    ew_rows, fused_rows = [], []
    for threads in (2, 1):
        set_threads(threads)
        res = alternate(elementwise_cases(tg, ew_arrays), elementwise_cases(torch, ew_arrays), big_rounds,
                        reps=2 if args.quick else 3)
        ew_rows += [dict(op=k, shape="2500x2520 float32", threads=threads, **summarize(v, 1e3)) for k, v in res.items()]
        res = alternate(fused_cases(tg, tgF, fused_arrays), fused_cases(torch, thF, fused_arrays), big_rounds, reps=1)
        fused_rows += [dict(op=k, threads=threads, **summarize(v, 1e3)) for k, v in res.items()]
    print(f"\nlarge ops, ms per call (median of {big_rounds} rounds)")
    print(f"{'op':<34}{'threads':>8}{'tensorgrad':>11}{'torch':>9}{'ratio':>8}")
    for r in ew_rows + fused_rows:
        print(f"{r['op']:<34}{r['threads']:>8}{r['tensorgrad']:>11.3f}{r['torch']:>9.3f}{r['ratio']:>8.2f}")

    commit = git_commit(cwd=tg_root)
    run = dict(
        tensorgrad_file=tg_file, commit=commit, commit_short=commit[:7] if commit else None,
        dirty=git_dirty(cwd=tg_root), dirty_files=dirty_files(tg_root), device="cpu", machine=machine_info(),
        torch_version=torch.__version__, numpy_version=np.__version__,
        threads=dict(chain=1, large=[2, 1], torch_interop_threads=torch.get_num_interop_threads()),
        rounds=dict(chain=rounds, large=big_rounds),
        load_average_start=load_start, load_average_end=os.getloadavg()[0],
        wall_s=round(time.perf_counter() - t_start, 1),
        chain_us_per_op=chain_rows, elementwise_ms=ew_rows, fused_fwd_bwd_ms=fused_rows)

    report = {}
    if os.path.exists(args.out):
        with open(args.out) as f:
            report = json.load(f)
    report.update(
        benchmark="eager per-op overhead (2000-op chain on a (4,) float32 tensor) and large elementwise / "
                  "layer_norm / GELU ops: tensorgrad vs PyTorch CPU",
        method="one process, tensorgrad and torch timed back to back per round (order alternating); median over "
               "rounds (min kept as *_min); ratio = tensorgrad / torch; chain rows in us per op, large ops in ms per "
               "call. runs[label] holds each measured checkout with its own commit and machine.",
        device="cpu")
    report.setdefault("runs", {})[args.label] = run
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=1)
    print(f"\nwrote runs[{args.label!r}] to {args.out}  ({run['wall_s']} s, commit {run['commit_short']}"
          f"{' dirty' if run['dirty'] else ''})")


if __name__ == "__main__":
    main()
