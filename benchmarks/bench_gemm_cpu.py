"""The matrix products of one baby-GPT training step (bench_train_cpu.py's config: 12 x 64 tokens, 128 dims,
vocabulary 65), timed three ways in one process at one thread: tensorgrad's CPU matmul (backend.blas: MKL when
the `mkl` wheel is installed), NumPy's own BLAS (the OpenBLAS of NumPy's wheels), and PyTorch.

Why: GEMMs are over half of tensorgrad's CPU step, and tensorgrad has no GEMM of its own: the BLAS it calls sets
that part of the step-time ratio to PyTorch. The shapes are the forward products of the four Linear layers of a
block and the lm_head, and the two backward products of each (both operands C-contiguous here; in the step one
is a transposed view, which BLAS takes as a flag).

    python benchmarks/bench_gemm_cpu.py [--reps 200]

Writes benchmarks/results/gemm_cpu.json (machine, commit, the BLAS of each side, every shape).
"""
import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import numpy as np  # noqa: E402
import torch  # noqa: E402

from tensorgrad.backend import blas  # noqa: E402
from tensorgrad.ops.matmul import _mm  # noqa: E402  (what MatMul and Linear call on NumPy arrays)
from tensorgrad.provenance import write_result  # noqa: E402
from tensorgrad.backend.host import set_num_threads, tune_malloc  # noqa: E402

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
    tune_malloc()  # as `tensorgrad train`: outputs reuse heap memory instead of page-faulting fresh mmaps
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    rows, tot = [], dict(tensorgrad=0.0, numpy=0.0, torch=0.0)
    print(f"{'m x k x n':>18}{'tg ms':>9}{'numpy ms':>10}{'torch ms':>10}{'tg/torch':>10}{'np/torch':>10}"
          f"{'tg GFLOP/s':>12}")
    for i, (m, k, n) in enumerate(SHAPES):
        weight = 1 if i >= len(SHAPES) - 3 else 4           # 4 blocks; the lm_head once
        a = rng.standard_normal((m, k)).astype(np.float32)
        b = rng.standard_normal((k, n)).astype(np.float32)
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        assert np.allclose(_mm(a, b), a @ b, rtol=1e-4, atol=1e-3)
        t = dict(tensorgrad=bench(lambda: _mm(a, b), args.reps), numpy=bench(lambda: a @ b, args.reps),
                 torch=bench(lambda: ta @ tb, args.reps))
        for key in tot:
            tot[key] += weight * t[key]
        rows.append(dict(m=m, k=k, n=n, **{f"{key}_ms": round(v, 4) for key, v in t.items()},
                         ratio=round(t["tensorgrad"] / t["torch"], 3), numpy_ratio=round(t["numpy"] / t["torch"], 3)))
        print(f"{f'{m}x{k}x{n}':>18}{t['tensorgrad']:>9.3f}{t['numpy']:>10.3f}{t['torch']:>10.3f}"
              f"{t['tensorgrad'] / t['torch']:>10.2f}{t['numpy'] / t['torch']:>10.2f}"
              f"{2 * m * k * n / t['tensorgrad'] / 1e6:>12.0f}")
    print(f"{'one step (4 blocks)':>18}{tot['tensorgrad']:>9.3f}{tot['numpy']:>10.3f}{tot['torch']:>10.3f}"
          f"{tot['tensorgrad'] / tot['torch']:>10.2f}{tot['numpy'] / tot['torch']:>10.2f}")
    print("tensorgrad BLAS:", blas.backend())
    blas_cfg = {}
    try:
        cfg = np.show_config(mode="dicts")
        blas_cfg = cfg.get("Build Dependencies", {}).get("blas", {})
    except TypeError:
        pass
    out = dict(benchmark="bench_gemm_cpu", threads=1,
               tensorgrad_blas=blas.backend(),
               numpy_blas={k: blas_cfg.get(k) for k in ("name", "version", "openblas configuration")},
               versions=dict(numpy=np.__version__, torch=torch.__version__), rows=rows,
               step_total=dict(**{f"{key}_ms": round(v, 3) for key, v in tot.items()},
                               ratio=round(tot["tensorgrad"] / tot["torch"], 3),
                               numpy_ratio=round(tot["numpy"] / tot["torch"], 3)))
    write_result(args.out, out, device="cpu")


if __name__ == "__main__":
    main()
