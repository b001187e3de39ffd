"""The matrix products of one baby-GPT training step (bench_train_cpu.py's config: 12 x 64 tokens, 128 dims,
vocabulary 65), timed through NumPy's BLAS (what tensorgrad calls) and through PyTorch, same process, one thread.

Why: GEMMs are over half of tensorgrad's CPU step, and tensorgrad has no GEMM of its own: whatever BLAS NumPy was
built with sets that part of the step-time ratio to PyTorch. The shapes are the forward products of the four
Linear layers of a block and the lm_head, and the two backward products of each (both operands C-contiguous
here; in the step one is a transposed view, which BLAS takes as a flag).

    python benchmarks/bench_gemm_cpu.py [--reps 200]

Writes benchmarks/results/gemm_cpu.json (machine, commit, NumPy's BLAS, every shape).
"""
import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # as `tensorgrad train` (backend/cpu.py)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from tensorgrad.provenance import git_commit, git_dirty, machine_info  # noqa: E402
from tensorgrad.train import set_num_threads  # noqa: E402

N, C, V = 12 * 64, 128, 65
# (m, k, n): forward x @ W^T, then dX = dY @ W and dW = dY^T @ X for each Linear (c_attn, attn proj, fc, mlp proj,
# lm_head), as the step runs them.
LINEARS = [(C, 3 * C), (C, C), (C, 4 * C), (4 * C, C), (C, V)]
SHAPES = []
for cin, cout in LINEARS:
    SHAPES += [(N, cin, cout), (N, cout, cin), (cout, N, cin)]


def bench(f, reps):
    for _ in range(10):
        f()
    t = time.perf_counter()
    for _ in range(reps):
        f()
    return (time.perf_counter() - t) / reps * 1e3


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--out", default=os.path.join(HERE, "results", "gemm_cpu.json"))
    args = ap.parse_args()
    set_num_threads(1)
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    rows, tot_np, tot_t = [], 0.0, 0.0
    print(f"{'m x k x n':>18}{'numpy ms':>10}{'torch ms':>10}{'ratio':>8}{'np GFLOP/s':>12}")
    for i, (m, k, n) in enumerate(SHAPES):
        weight = 1 if i >= len(SHAPES) - 3 else 4           # 4 blocks; the lm_head once
        a = rng.standard_normal((m, k)).astype(np.float32)
        b = rng.standard_normal((k, n)).astype(np.float32)
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        t_np, t_t = bench(lambda: a @ b, args.reps), bench(lambda: ta @ tb, args.reps)
        tot_np, tot_t = tot_np + weight * t_np, tot_t + weight * t_t
        rows.append(dict(m=m, k=k, n=n, numpy_ms=round(t_np, 4), torch_ms=round(t_t, 4), ratio=round(t_np / t_t, 3)))
        print(f"{f'{m}x{k}x{n}':>18}{t_np:>10.3f}{t_t:>10.3f}{t_np / t_t:>8.2f}{2 * m * k * n / t_np / 1e6:>12.0f}")
    print(f"{'one step (4 blocks)':>18}{tot_np:>10.3f}{tot_t:>10.3f}{tot_np / tot_t:>8.2f}")
    blas = {}
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg.get("Build Dependencies", {}).get("blas", {})
    except TypeError:
        pass
    out = dict(benchmark="bench_gemm_cpu", threads=1, machine=machine_info(), commit=git_commit(), dirty=git_dirty(),
               numpy_blas={k: blas.get(k) for k in ("name", "version", "openblas configuration")},
               versions=dict(numpy=np.__version__, torch=torch.__version__), rows=rows,
               step_total=dict(numpy_ms=round(tot_np, 3), torch_ms=round(tot_t, 3), ratio=round(tot_np / tot_t, 3)))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
