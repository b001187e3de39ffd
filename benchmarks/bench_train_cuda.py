"""Training throughput on a GPU: tensorgrad vs PyTorch eager, fp32, fp16 and bf16 (AMP), in one run.

nanoGPT's shakespeare-char config: 6 layers, 6 heads, 384 dims, block 256, batch 64, vocabulary 65 (the
character set of tiny Shakespeare; the tokens are random ids: throughput does not depend on the text).
dropout 0 by default; --dropout 0.2 is nanoGPT's recipe (the captured steps draw fresh masks every replay from
device-side Philox state, see tensorgrad.cuda.graphs).
Both models start from the same weights (copied), see the same batches, and do the same step:
    forward + loss, backward, (fp16: unscale) clip_grad_norm_(1.0), AdamW step (two groups), zero_grad.
Variants:
    torch  fp32 / amp / amp-bf16    eager, fused AdamW (as nanoGPT), SDPA attention (amp: fp16 with a GradScaler)
    tensorgrad fp32 / fp16 / bf16   eager (bf16: autocast, no loss scaling)
    tensorgrad ... + graph          the whole step captured once (tensorgrad.cuda.GraphedStep), replayed
Each variant: --warmup steps, then --iters steps timed with CUDA events (one synchronisation at the end).
tokens/s = iters * batch * block / seconds. The first losses of every variant are printed to show they
train the same model. Writes benchmarks/results/train_cuda.json (GPU, machine, commit, every row).

    python benchmarks/bench_train_cuda.py [--iters 50] [--warmup 10] [--only tg-fp16-graph,torch-amp]
                                         [--profile 25]

--profile N runs the timed steps under torch.profiler and prints each variant's N kernels with the most GPU time
per step (CUPTI sees every kernel of the process: CuPy's and tensorgrad's RawModule kernels too); the step times
of a profiled run carry the profiler's overhead, so it is for finding where the GPU time goes, not for the table.
(Written in a session without a GPU: not yet run.)
"""
import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

from tensorgrad.provenance import write_result  # noqa: E402

VARIANTS = ("torch-fp32", "torch-amp", "torch-amp-bf16", "tg-fp32", "tg-fp16", "tg-bf16", "tg-fp32-graph",
            "tg-fp16-graph", "tg-bf16-graph")


def half_of(variant):
    """None (fp32), "float16" or "bfloat16": the autocast dtype a variant name asks for."""
    return "bfloat16" if "bf16" in variant else "float16" if ("fp16" in variant or variant == "torch-amp") else None


def make_batches(n, B, T, vocab, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.integers(0, vocab, (B, T)), rng.integers(0, vocab, (B, T))) for _ in range(n)]


def run_torch(cfg, B, batches, half, warmup, iters, tg_model):
    import torch
    from torch_gpt import TGPT, copy_weights, torch_optimizer
    dev = "cuda"
    model = TGPT(**cfg).to(dev)
    copy_weights(tg_model, model)
    opt = torch_optimizer(model, fused=True)
    amp = half is not None
    scaler = torch.amp.GradScaler("cuda", enabled=half == "float16")  # bf16 needs no loss scaling
    data = [(torch.from_numpy(x).to(dev), torch.from_numpy(y).to(dev)) for x, y in batches]
    losses = []

    def step(x, y):
        with torch.autocast("cuda", dtype=getattr(torch, half or "float16"), enabled=amp):
            _, loss = model(x, y)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(opt)
        scaler.update()
        opt.zero_grad(set_to_none=True)
        return loss

    for i in range(warmup):
        losses.append(step(*data[i % len(data)]).detach())
    torch.cuda.synchronize()
    t0, t1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    t0.record()
    for i in range(iters):
        loss = step(*data[(warmup + i) % len(data)])
    t1.record()
    t1.synchronize()
    return t0.elapsed_time(t1) / iters, [float(v) for v in losses[:5]], float(loss)


def run_tensorgrad(cfg, B, batches, half, graph, warmup, iters, tg_model_state):
    import cupy as cp
    import tensorgrad as tg
    from tensorgrad.amp import GradScaler, autocast
    from tensorgrad.models import GPT, GPTConfig
    from tensorgrad.nn.utils import clip_grad_norm_
    model = GPT(GPTConfig(**cfg))
    model.load_state_dict(tg_model_state)
    model.to("cuda")
    opt = model.configure_optimizers(0.1, 1e-3, (0.9, 0.99), capturable=graph)
    scaler = GradScaler(enabled=half == "float16")
    data = [(tg.tensor(x, device="cuda"), tg.tensor(y, device="cuda")) for x, y in batches]
    losses = []

    def step(x, y):
        opt.zero_grad(set_to_none=True)
        with autocast(dtype=getattr(tg, half or "float16"), enabled=half is not None):
            _, loss = model(x, y)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(opt)
        scaler.update()
        return loss

    if graph:
        run = tg.cuda.GraphedStep(step, *data[0], optimizers=[opt], warmup=3)
        fn = run
    else:
        fn = step
    for i in range(warmup):
        losses.append(fn(*data[i % len(data)]).detach().array.copy())
    cp.cuda.Device().synchronize()
    t0, t1 = cp.cuda.Event(), cp.cuda.Event()
    t0.record()
    for i in range(iters):
        loss = fn(*data[(warmup + i) % len(data)])
    t1.record()
    t1.synchronize()
    return cp.cuda.get_elapsed_time(t0, t1) / iters, [float(v) for v in losses[:5]], float(loss.array)


def profiled(fn, iters, top):
    """fn() under torch.profiler; returns fn's result and the `top` kernels by GPU time per step."""
    import torch
    from torch.profiler import ProfilerActivity, profile
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
    with profile(activities=acts) as prof:
        res = fn()

    def gpu_us(e):  # renamed from self_cuda_time_total in newer PyTorch
        return getattr(e, "self_device_time_total", None) or getattr(e, "self_cuda_time_total", 0.0)

    rows = sorted(((e.key, gpu_us(e), e.count) for e in prof.key_averages() if gpu_us(e) > 0), key=lambda r: -r[1])
    total = sum(us for _, us, _ in rows) or 1.0
    # The warm-up steps run inside the profile too (run_* time only their last `iters` steps): shares are the
    # honest figure; per-step times are totals / iters, an upper bound.
    return res, [dict(kernel=k[:120], us_per_step=round(us / iters, 1), calls=c, share=round(us / total, 4))
                 for k, us, c in rows[:top]]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--block", type=int, default=256)
    ap.add_argument("--dropout", type=float, default=0.0, help="nanoGPT's shakespeare-char recipe uses 0.2")
    ap.add_argument("--only", default=",".join(VARIANTS), help="comma-separated subset of " + ", ".join(VARIANTS))
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="profile each variant and report its N kernels with the most GPU time (see above)")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "train_cuda.json"))
    args = ap.parse_args()
    import tensorgrad as tg
    if not tg.cuda_available():
        print("bench_train_cuda: skipped: needs CuPy and a CUDA GPU")
        return 0
    import cupy as cp
    import torch
    from tensorgrad.models import GPT, GPTConfig

    cfg = dict(n_layer=6, n_head=6, n_embd=384, block_size=args.block, vocab_size=65, dropout=args.dropout, bias=True)
    B, T = args.batch, args.block
    tg.manual_seed(1337)
    ref = GPT(GPTConfig(**cfg))
    state = {k: v.detach() for k, v in ref.state_dict().items()}
    batches = make_batches(args.warmup + args.iters, B, T, 65)
    rows = []
    for name in args.only.split(","):
        t_start = time.time()
        try:
            if name.startswith("torch"):
                call = lambda: run_torch(cfg, B, batches, half_of(name), args.warmup, args.iters, ref)  # noqa: E731
            else:
                call = lambda: run_tensorgrad(cfg, B, batches, half_of(name), name.endswith("graph"),  # noqa: E731
                                              args.warmup, args.iters, state)
            top = None
            if args.profile:
                (ms, first, last), top = profiled(call, args.warmup + args.iters, args.profile)
            else:
                ms, first, last = call()
            row = dict(variant=name, ms_per_step=round(ms, 3), tokens_per_s=round(B * T / ms * 1e3),
                       first_losses=[round(v, 4) for v in first], last_loss=round(last, 4),
                       wall_s=round(time.time() - t_start, 1))
            if top is not None:
                row["profiled"] = True
                row["top_kernels"] = top
                for t_ in top:
                    print(f"  {name:<14}{t_['us_per_step']:>10.1f} us/step {t_['share']:>7.1%}  "
                          f"x{t_['calls']:<6} {t_['kernel']}")
        except Exception as e:  # keep going: one broken variant should not hide the others' figures
            import traceback
            traceback.print_exc()
            row = dict(variant=name, error=f"{type(e).__name__}: {e}"[:400])
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "top_kernels"}), flush=True)
        cp.get_default_memory_pool().free_all_blocks()
        torch.cuda.empty_cache()

    by = {r["variant"]: r for r in rows if "ms_per_step" in r}
    ratios = {}
    for a, b in (("tg-fp16-graph", "torch-amp"), ("tg-fp16", "torch-amp"), ("tg-fp32", "torch-fp32"),
                 ("tg-fp32-graph", "torch-fp32"), ("tg-fp16", "tg-fp32"), ("tg-fp16-graph", "tg-fp32-graph"),
                 ("tg-bf16-graph", "torch-amp-bf16"), ("tg-bf16", "torch-amp-bf16"), ("tg-bf16-graph", "tg-fp16-graph")):
        if a in by and b in by:
            ratios[f"{a} / {b} (tokens/s)"] = round(by[a]["tokens_per_s"] / by[b]["tokens_per_s"], 3)
    print(f"\n{'variant':<16}{'ms/step':>10}{'tokens/s':>12}  first losses")
    for r in rows:
        if "ms_per_step" in r:
            print(f"{r['variant']:<16}{r['ms_per_step']:>10.2f}{r['tokens_per_s']:>12,}  {r['first_losses'][:3]}")
        else:
            print(f"{r['variant']:<16}  ERROR {r['error'][:100]}")
    for k, v in ratios.items():
        print(f"{k}: {v}")
    props = cp.cuda.runtime.getDeviceProperties(0)
    out = dict(benchmark="bench_train_cuda", config=dict(cfg, batch_size=B), iters=args.iters, warmup=args.warmup,
               gpu=props["name"].decode() if isinstance(props["name"], bytes) else props["name"],
               versions=dict(cupy=cp.__version__, torch=torch.__version__, numpy=np.__version__),
               rows=rows, ratios=ratios)
    write_result(args.out, out, device="cuda")
    return 0


if __name__ == "__main__":
    sys.exit(main())
