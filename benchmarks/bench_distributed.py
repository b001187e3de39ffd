"""Data parallel on 2 processes (CPU, MPI): writes benchmarks/results/distributed_cpu.json.

    python benchmarks/bench_distributed.py            # re-launches itself as mpiexec -n 2
    mpiexec -n 2 python benchmarks/bench_distributed.py --worker

1. all_reduce bandwidth, 4 KB to 64 MB of float32: tensorgrad.distributed.all_reduce(t) against raw mpi4py
   comm.Allreduce(IN_PLACE, buf), and all_reduce(t, async_op=True).wait() against comm.Iallreduce(...).Wait(), on the
   very same buffer, interleaved, median of repeats; algorithmic bandwidth = bytes / time.
2. A DDP training step of the project's GPT (forward, backward, AdamW) on each rank: gradients all-reduced in
   buckets while backward runs (overlap) vs the same buckets all-reduced after backward (no overlap), and one
   process alone with no communication; medians over interleaved steps.
3. ZeRO-1: AdamW state bytes per rank with ZeroRedundancyOptimizer vs plain AdamW.
BLAS single-threaded: the machine has 2 cores, one per rank.
"""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "results", "distributed_cpu.json")


def bench_allreduce(dist, MPI, comm, tg):
    rows = []
    for nbytes in [4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20, 64 << 20]:
        buf = np.ones(nbytes // 4, dtype=np.float32)
        t = tg.tensor(buf)
        buf = t.array
        reps = int(max(41, min(400, (256 << 20) // nbytes)))  # (16 reps at 16 MB left the median at +-10%)
        times = {"tensorgrad": [], "tensorgrad_async": [], "mpi4py": [], "mpi4py_async": []}
        for _ in range(2):  # warm-up
            comm.Allreduce(MPI.IN_PLACE, buf, MPI.SUM)
            dist.all_reduce(t)
        for _ in range(reps):
            for name in times:
                buf[...] = 1.0
                comm.Barrier()
                t0 = time.perf_counter()
                if name == "mpi4py":
                    comm.Allreduce(MPI.IN_PLACE, buf, MPI.SUM)
                elif name == "mpi4py_async":
                    comm.Iallreduce(MPI.IN_PLACE, buf, MPI.SUM).Wait()
                elif name == "tensorgrad":
                    dist.all_reduce(t)
                else:
                    dist.all_reduce(t, async_op=True).wait()
                times[name].append(time.perf_counter() - t0)
        # each rank's median; the slower rank's counts (a collective ends when both have it)
        med = {k: max(comm.allgather(float(np.median(v)))) for k, v in times.items()}
        best = {k: max(comm.allgather(float(np.min(v)))) for k, v in times.items()}
        row = {"bytes": nbytes, "reps": reps}
        for k, v in med.items():
            row[f"{k}_us"] = round(v * 1e6, 1)
            row[f"{k}_GBps"] = round(nbytes / v / 1e9, 3)
        row["ratio_sync"] = round(med["mpi4py"] / med["tensorgrad"], 3)  # tensorgrad's bandwidth / mpi4py's
        row["ratio_async"] = round(med["mpi4py_async"] / med["tensorgrad_async"], 3)  # vs Iallreduce + Wait
        row["ratio_sync_best"] = round(best["mpi4py"] / best["tensorgrad"], 3)  # fastest repeat of each: less noise
        row["ratio_async_best"] = round(best["mpi4py_async"] / best["tensorgrad_async"], 3)
        rows.append(row)
    return rows


def bench_ddp(dist, comm, tg, steps):
    from tensorgrad.models.gpt import GPT, GPTConfig
    from tensorgrad.nn.parallel import DistributedDataParallel as DDP
    cfg = GPTConfig(block_size=64, vocab_size=96, n_layer=4, n_head=4, n_embd=128, dropout=0.0, bias=False)
    tg.manual_seed(0)
    model = GPT(cfg)
    ddp = DDP(model)
    opt = tg.optim.AdamW(model.parameters(), lr=1e-4)
    g = np.random.default_rng(dist.get_rank())
    B = 12

    def batch():
        x = g.integers(0, 96, (B, 64))
        return tg.tensor(x), tg.tensor(np.roll(x, -1, 1))

    def overlap():
        _, loss = ddp(*batch())
        loss.backward()
        opt.step()
        opt.zero_grad()

    def no_overlap():  # the same buckets, all-reduced only after backward
        with ddp.no_sync():
            _, loss = ddp(*batch())
            loss.backward()
        ddp._seen.update(id(p) for p in ddp._params)
        for b in ddp._buckets:
            ddp._launch(b)
        ddp.__dict__["_next"] = len(ddp._buckets)
        ddp._finalize()
        opt.step()
        opt.zero_grad()

    def alone():  # no communication at all (what one rank computes)
        _, loss = model(*batch())
        loss.backward()
        opt.step()
        opt.zero_grad()

    fns = {"overlap": overlap, "no_overlap": no_overlap, "compute_only": alone}
    times = {k: [] for k in fns}
    for f in fns.values():
        f()
    for _ in range(steps):
        for k, f in fns.items():
            comm.Barrier()
            t0 = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t0)
    med = {k: max(comm.allgather(float(np.median(v)))) for k, v in times.items()}
    grad_bytes = sum(p.array.nbytes for p in model.parameters())
    return {"model": "GPT n_layer=4 n_embd=128 block 64, batch 12 per rank, float32",
            "params": int(sum(p.array.size for p in model.parameters())), "grad_bytes": grad_bytes,
            "buckets": ddp.bucket_sizes(), "steps": steps,
            **{f"{k}_ms": round(v * 1e3, 2) for k, v in med.items()},
            "comm_overhead_overlap_ms": round((med["overlap"] - med["compute_only"]) * 1e3, 2),
            "comm_overhead_no_overlap_ms": round((med["no_overlap"] - med["compute_only"]) * 1e3, 2)}


def bench_zero(dist, tg):
    from tensorgrad.distributed.optim import ZeroRedundancyOptimizer
    from tensorgrad.models.gpt import GPT, GPTConfig
    cfg = GPTConfig(block_size=64, vocab_size=96, n_layer=4, n_head=4, n_embd=128, dropout=0.0, bias=False)
    out = {}
    for name in ("adamw", "zero1"):
        tg.manual_seed(0)
        model = GPT(cfg)
        opt = (tg.optim.AdamW(model.parameters(), lr=1e-3) if name == "adamw" else
               ZeroRedundancyOptimizer(model.parameters(), tg.optim.AdamW, lr=1e-3))
        x = tg.tensor(np.zeros((2, 64), dtype=np.int64))
        model(x, x)[1].backward()
        opt.step()
        state = opt.state
        nbytes = sum(v.array.nbytes for s in state.values() for v in s.values() if isinstance(v, tg.Tensor))
        out[f"{name}_state_bytes_per_rank"] = [int(b) for b in _allgather(dist, nbytes)]
    per_rank = out["zero1_state_bytes_per_rank"]
    out["zero1_fraction_per_rank"] = [round(b / out["adamw_state_bytes_per_rank"][0], 3) for b in per_rank]
    return out


def _allgather(dist, x):
    got = [None] * dist.get_world_size()
    dist.all_gather_object(got, x)
    return got


def worker(args):
    import tensorgrad as tg
    import tensorgrad.distributed as dist
    from mpi4py import MPI
    dist.init_process_group("mpi")
    comm = MPI.COMM_WORLD
    res = {"world_size": dist.get_world_size(), "mpi": MPI.Get_library_version().splitlines()[0].strip(),
           "mpi4py": __import__("mpi4py").__version__}
    res["all_reduce"] = bench_allreduce(dist, MPI, comm, tg)
    res["ddp_step"] = bench_ddp(dist, comm, tg, args.steps)
    res["zero1"] = bench_zero(dist, tg)
    if dist.get_rank() == 0:
        print("RESULT " + json.dumps(res), flush=True)
    dist.destroy_process_group()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", action="store_true")
    ap.add_argument("--nproc", type=int, default=2)
    ap.add_argument("--steps", type=int, default=15)
    ap.add_argument("--out", default=OUT)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    mpiexec = shutil.which("mpiexec") or os.path.join(os.path.dirname(sys.executable), "mpiexec")
    p = subprocess.run([mpiexec, "-n", str(args.nproc), sys.executable, os.path.abspath(__file__), "--worker",
                        "--steps", str(args.steps)], capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"bench_distributed: the workers failed:\n{p.stdout}\n{p.stderr}")
    res = json.loads(next(line for line in p.stdout.splitlines() if line.startswith("RESULT "))[7:])
    sys.path.insert(0, os.path.dirname(HERE))
    from tensorgrad.provenance import write_result
    write_result(args.out, res, device=f"cpu, {args.nproc} MPI processes on one machine")
    print(f"{'size':>8} {'tensorgrad':>12} {'async':>12} {'mpi4py':>12}  ratio sync/async (median; best)")
    for r in res["all_reduce"]:
        print(f"{r['bytes'] / 1024:>7.0f}K {r['tensorgrad_GBps']:>9.3f}GB/s {r['tensorgrad_async_GBps']:>9.3f}GB/s "
              f"{r['mpi4py_GBps']:>9.3f}GB/s  {r['ratio_sync']:.2f} / {r['ratio_async']:.2f}; "
              f"{r['ratio_sync_best']:.2f} / {r['ratio_async_best']:.2f}")
    d = res["ddp_step"]
    print(f"DDP step: overlap {d['overlap_ms']} ms, no overlap {d['no_overlap_ms']} ms, compute only "
          f"{d['compute_only_ms']} ms")
    print(f"ZeRO-1 state per rank: {res['zero1']}")


if __name__ == "__main__":
    main()
