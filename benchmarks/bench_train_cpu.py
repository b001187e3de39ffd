"""One training iteration of nanoGPT's CPU "baby" GPT (4 layers, 4 heads, 128 dims, block 64, batch 12,
the char vocabulary of tiny Shakespeare) in tensorgrad and in PyTorch, side by side.

Both models run in this process with the same weights, the same batches and the same thread count
(torch.set_num_threads(n); NumPy's OpenBLAS and tensorgrad._C's OpenMP pools set to n by
tensorgrad.backend.host.set_num_threads), for each n of --threads. Each measurement:
warm-up, then the median over --iters iterations of
  step:     forward + backward + clip_grad_norm_ + AdamW step + zero_grad (what `tensorgrad train` does)
  forward:  forward with loss (graph recorded)
  backward: loss.backward() alone
The two frameworks are timed interleaved (round-robin in chunks), so machine noise hits both alike.
In one process both share one libgomp, hence one OpenMP wait policy: the one `tensorgrad train` runs with
(libgomp's default when MKL carries the GEMMs, else PASSIVE, which tensorgrad then needs and which slows torch's
multi-threaded regions; see backend/cpu.py); --isolated adds a run of each framework in a process of its own
with its own default, the fair comparison at more than one thread.
Writes benchmarks/results/train_cpu.json with machine (cpu model, nproc), device, git commit, versions.

    python benchmarks/bench_train_cpu.py [--threads 1,2] [--iters 50] [--warmup 10] [--isolated]
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--threads", default="1,2", help="comma-separated thread counts to measure, e.g. 1,2")
ap.add_argument("--iters", type=int, default=50)
ap.add_argument("--warmup", type=int, default=10)
ap.add_argument("--vocab", type=int, default=65)
ap.add_argument("--config", choices=["baby", "shakespeare"], default="baby",
                help="baby: nanoGPT's CPU config (4L/4H/128d, block 64, batch 12); shakespeare: its shakespeare-char "
                     "config (6L/6H/384d, block 256), batch 8 by default here")
ap.add_argument("--batch", type=int, default=None, help="batch size (default: 12 for baby, 8 for shakespeare)")
ap.add_argument("--dropout", type=float, default=0.0, help="nanoGPT's recipe uses 0.2 for shakespeare-char")
ap.add_argument("--no-omp-passive", dest="omp_passive", action="store_false",
                help="leave OMP_WAIT_POLICY unset even where tensorgrad would set PASSIVE (see below)")
ap.add_argument("--no-tune-malloc", action="store_true", help="leave glibc's malloc thresholds at their defaults")
ap.add_argument("--only", choices=["tensorgrad", "torch"],
                help="time one framework alone (used by --isolated; the other still runs once for the loss check)")
ap.add_argument("--isolated", action="store_true",
                help="also time each framework in a process of its own, with its own default OpenMP wait policy "
                     "(torch: libgomp's default; tensorgrad: what `tensorgrad train` runs with) -- the fair multi-thread "
                     "comparison, since in one process both share one libgomp and one policy")
ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "train_cpu.json"))
args = ap.parse_args()
THREADS = [int(t) for t in str(args.threads).split(",")]
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if args.no_tune_malloc:
    os.environ["TENSORGRAD_TUNE_MALLOC"] = "0"  # read when tensorgrad is imported
from tensorgrad.backend import blas  # noqa: E402  (loads MKL if installed; does not load libgomp)

if args.omp_passive and args.only != "torch" and not blas.shares_openmp():
    # torch and tensorgrad._C share one libgomp in this process (torch's, loaded first): its wait policy is read
    # once, at load. With NumPy's OpenBLAS doing the GEMMs, `tensorgrad train` sets PASSIVE (backend/cpu.py);
    # without it here, libgomp spins its idle threads against OpenBLAS's pool and multi-threaded steps run ~5x
    # slower. With MKL on libgomp there is one pool and both run with libgomp's default.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import tensorgrad as tg  # noqa: E402
from tensorgrad.models import GPT, GPTConfig  # noqa: E402
from tensorgrad.nn.utils import clip_grad_norm_  # noqa: E402
from tensorgrad.backend.host import tune_malloc, set_num_threads  # noqa: E402
from tensorgrad.provenance import write_result  # noqa: E402

MALLOC_TUNED = tune_malloc()  # done at `import tensorgrad` unless --no-tune-malloc; applies to both frameworks
DIMS = {"baby": dict(n_layer=4, n_head=4, n_embd=128, block_size=64),
        "shakespeare": dict(n_layer=6, n_head=6, n_embd=384, block_size=256)}[args.config]
CFG = dict(**DIMS, vocab_size=args.vocab, dropout=args.dropout, bias=True)
B = args.batch or (12 if args.config == "baby" else 8)


from torch_gpt import TGPT, copy_weights, torch_optimizer  # noqa: E402  (the PyTorch peer, shared with bench_train_cuda)


# ------------------------------------------------------------------------------------------- timing
def measure(threads):
    set_num_threads(threads)  # OpenBLAS + OpenMP pools of numpy / tensorgrad._C, and torch.set_num_threads
    tg.manual_seed(1337)
    model = GPT(GPTConfig(**CFG))
    opt = model.configure_optimizers(0.1, 1e-3, (0.9, 0.99))
    tmodel = TGPT(**CFG)
    copy_weights(model, tmodel)
    topt = torch_optimizer(tmodel)

    rng = np.random.default_rng(0)
    n_batches = 8
    batches = [rng.integers(0, CFG["vocab_size"], size=(2, B, CFG["block_size"])) for _ in range(n_batches)]
    tg_b = [(tg.tensor(b[0]), tg.tensor(b[1])) for b in batches]
    t_b = [(torch.from_numpy(b[0]), torch.from_numpy(b[1])) for b in batches]

    # sanity: the same loss on the same batch with the same weights (in eval mode: dropout masks differ)
    model.eval()
    tmodel.eval()
    l_tg = float(model(*tg_b[0])[1].item())
    l_t = float(tmodel(*t_b[0])[1].item())
    model.train()
    tmodel.train()
    assert abs(l_tg - l_t) < 1e-4, (l_tg, l_t)

    def tg_parts(i):
        x, y = tg_b[i % n_batches]
        c0 = time.process_time()
        t0 = time.perf_counter()
        _, loss = model(x, y)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        t3 = time.perf_counter()
        return t1 - t0, t2 - t1, t3 - t0, time.process_time() - c0

    def torch_parts(i):
        x, y = t_b[i % n_batches]
        c0 = time.process_time()
        t0 = time.perf_counter()
        _, loss = tmodel(x, y)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(tmodel.parameters(), 1.0)
        topt.step()
        topt.zero_grad(set_to_none=True)
        t3 = time.perf_counter()
        return t1 - t0, t2 - t1, t3 - t0, time.process_time() - c0

    timers = {"tensorgrad": tg_parts, "torch": torch_parts}
    if args.only:
        timers = {args.only: timers[args.only]}
    for i in range(args.warmup):
        for fn in timers.values():
            fn(i)
    res = {name: [] for name in timers}
    chunk = 5  # interleaved in chunks, so machine noise hits both alike
    i = 0
    while len(next(iter(res.values()))) < args.iters:
        for name, fn in timers.items():
            for _ in range(chunk):
                res[name].append(fn(i))
                i += 1

    def med(lst, j):
        return 1000 * statistics.median(r[j] for r in lst)

    table = {}
    for name, lst in res.items():
        table[name] = {"step_ms": med(lst, 2), "forward_ms": med(lst, 0), "backward_ms": med(lst, 1),
                       "step_cpu_ms": med(lst, 3), "step_min_ms": 1000 * min(r[2] for r in lst)}
        table[name]["optimizer_ms"] = table[name]["step_ms"] - table[name]["forward_ms"] - table[name]["backward_ms"]
        table[name]["backward_over_forward"] = table[name]["backward_ms"] / table[name]["forward_ms"]
    if args.only:
        return {"threads": threads, "results_ms": table}
    ratio = {k: table["tensorgrad"][k] / table["torch"][k]
             for k in ("step_ms", "forward_ms", "backward_ms", "step_cpu_ms", "step_min_ms")}

    print(f"{args.config} GPT ({CFG['n_layer']}L/{CFG['n_head']}H/{CFG['n_embd']}d, block {CFG['block_size']}, "
          f"batch {B}, dropout {CFG['dropout']}, vocab {CFG['vocab_size']}), {threads} thread(s), "
          f"median of {args.iters} after {args.warmup} warm-up")
    print(f"{'':15s}{'step ms':>9s}{'fwd ms':>9s}{'bwd ms':>9s}{'opt ms':>9s}{'bwd/fwd':>9s}{'step min':>9s}"
          f"{'step cpu':>9s}")
    for name, r in table.items():
        print(f"{name:15s}{r['step_ms']:9.2f}{r['forward_ms']:9.2f}{r['backward_ms']:9.2f}{r['optimizer_ms']:9.2f}"
              f"{r['backward_over_forward']:9.2f}{r['step_min_ms']:9.2f}{r['step_cpu_ms']:9.2f}")
    print(f"{'tg/torch':15s}{ratio['step_ms']:8.2f}x{ratio['forward_ms']:8.2f}x{ratio['backward_ms']:8.2f}x{'':18s}"
          f"{ratio['step_min_ms']:8.2f}x{ratio['step_cpu_ms']:8.2f}x")
    return {"threads": threads, "results_ms": table, "ratio_tensorgrad_over_torch": ratio,
            "loadavg_1m_after": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}


def isolated(threads):
    """Each framework timed in a fresh process of its own (this script with --only)."""
    import subprocess
    import tempfile
    table = {}
    for name in ("tensorgrad", "torch"):
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "r.json")
            env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
            subprocess.run([sys.executable, os.path.abspath(__file__), "--only", name, "--threads", str(threads),
                            "--iters", str(args.iters), "--warmup", str(args.warmup), "--vocab", str(args.vocab),
                            "--config", args.config, "--batch", str(B), "--dropout", str(args.dropout),
                            "--out", out], check=True, env=env, stdout=subprocess.DEVNULL)
            with open(out) as f:
                table[name] = json.load(f)["runs"][0]["results_ms"][name]
    ratio = {k: table["tensorgrad"][k] / table["torch"][k] for k in ("step_ms", "forward_ms", "backward_ms")}
    print(f"isolated processes, {threads} thread(s): tensorgrad {table['tensorgrad']['step_ms']:.2f} ms, "
          f"torch {table['torch']['step_ms']:.2f} ms per step -> {ratio['step_ms']:.2f}x")
    return {"threads": threads, "results_ms": table, "ratio_tensorgrad_over_torch": ratio}


def main():
    runs = [measure(t) for t in THREADS]
    iso = [isolated(t) for t in THREADS] if args.isolated and not args.only else None

    out = {
        "benchmark": "bench_train_cpu", "config": {**CFG, "batch_size": B},
        "iters": args.iters, "warmup": args.warmup, "malloc_tuned": MALLOC_TUNED,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), "blas": blas.backend(),
        "notes": "step = forward + backward + clip_grad_norm_ + AdamW step + zero_grad; medians of wall time; "
                 "step_min_ms = fastest step; step_cpu_ms = median process CPU time (all threads) per step, "
                 "less sensitive to other load on the machine",
        "runs": runs,
        "isolated_runs": iso,
        "versions": {"python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__,
                     "tensorgrad": tg.__version__},
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_result(args.out, out, device="cpu")


if __name__ == "__main__":
    main()
