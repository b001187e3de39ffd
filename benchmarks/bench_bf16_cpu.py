"""bfloat16 on the CPU, tensorgrad vs PyTorch in one process, alternating rounds (medians):

  gemm:  the forward GEMM shapes of the baby config (4L/4H/128d, block 64, batch 12) and of nanoGPT's
         shakespeare-char config (6L/6H/384d, block 256, batch 8): fp32 and bf16 (bf16 inputs, fp32 accumulation,
         bf16 output) in tensorgrad (the "gemm" kernel: MKL sgemm / cblas_gemm_bf16bf16f32) and torch (mm);
         plus float16 both ways tensorgrad could run it (upcast to an fp32 GEMM, today's path, vs MKL's
         cblas_gemm_f16f16f32), which decides backend/cpu.py's float16 path; tg_bf16 is the path tensorgrad
         picks here (blas.bf16_gemm_path), tg_bf16_mkl MKL's bf16 GEMM, which decides that pick.
  step:  one training step (forward + backward + clip_grad_norm_ + AdamW + zero_grad) of the GPT under
         autocast("cpu", dtype=bfloat16) in tensorgrad and torch.autocast("cpu", dtype=torch.bfloat16) on the
         peer of benchmarks/torch_gpt.py, same weights and batches; tensorgrad fp32 for reference.

    python benchmarks/bench_bf16_cpu.py [--threads 1] [--iters 10] [--configs baby,shakespeare]
Writes benchmarks/results/bf16_cpu.json (machine, commit, versions via tensorgrad.provenance).
"""
import argparse
import os
import platform
import statistics
import sys
import time

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--iters", type=int, default=10, help="timed steps per framework and config")
ap.add_argument("--gemm-reps", type=int, default=30)
ap.add_argument("--configs", default="baby,shakespeare")
ap.add_argument("--skip-gemm", action="store_true")
ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "bf16_cpu.json"))
args = ap.parse_args()
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402

import tensorgrad as tg  # noqa: E402
from tensorgrad.amp import autocast  # noqa: E402
from tensorgrad.backend import blas, cpu, kernels  # noqa: E402
from tensorgrad.backend.host import set_num_threads  # noqa: E402
from tensorgrad.models import GPT, GPTConfig  # noqa: E402
from tensorgrad.nn.utils import clip_grad_norm_  # noqa: E402
from tensorgrad.provenance import write_result  # noqa: E402
from torch_gpt import TGPT, copy_weights, torch_optimizer  # noqa: E402

CONFIGS = {
    "baby": (dict(n_layer=4, n_head=4, n_embd=128, block_size=64, vocab_size=65, dropout=0.0, bias=True), 12),
    "shakespeare": (dict(n_layer=6, n_head=6, n_embd=384, block_size=256, vocab_size=65, dropout=0.0, bias=True), 8),
}


def gemm_shapes(cfg, b):
    m, c = b * cfg["block_size"], cfg["n_embd"]
    return [("c_attn", m, c, 3 * c), ("attn.c_proj", m, c, c), ("mlp.c_fc", m, c, 4 * c), ("mlp.c_proj", m, 4 * c, c),
            ("lm_head", m, c, cfg["vocab_size"])]


def _time(fns, reps):
    """Alternate the callables rep by rep; median ms of each."""
    ts = {k: [] for k in fns}
    for k, f in fns.items():
        f()
    for _ in range(reps):
        for k, f in fns.items():
            t0 = time.perf_counter()
            f()
            ts[k].append(time.perf_counter() - t0)
    return {k: round(statistics.median(v) * 1e3, 4) for k, v in ts.items()}


def bench_gemm():
    gemm = kernels.get("gemm", "cpu")
    rows = []
    for name, (cfg, b) in CONFIGS.items():
        if name not in args.configs.split(","):
            continue
        for op, m, k, n in gemm_shapes(cfg, b):
            rng = np.random.default_rng(0)
            a32 = rng.standard_normal((m, k)).astype(np.float32)
            w32 = rng.standard_normal((n, k)).astype(np.float32).T  # a Linear's weight^T view, as in the model
            abf, wbf = a32.astype(tg.bfloat16), w32.astype(tg.bfloat16)
            a16, w16 = a32.astype(np.float16), w32.astype(np.float16)
            ta, tw = torch.from_numpy(a32), torch.from_numpy(np.ascontiguousarray(w32.T)).T
            tab, twb = ta.bfloat16(), tw.bfloat16()
            fns = {"tg_fp32": lambda: gemm(a32, w32), "tg_bf16": lambda: gemm(abf, wbf),
                   "torch_fp32": lambda: ta @ tw, "torch_bf16": lambda: tab @ twb,
                   "tg_fp16_upcast": lambda: gemm(a16, w16)}
            if blas.has_half_gemm(tg.bfloat16):  # MKL's bf16 GEMM whichever path "tg_bf16" (auto) takes here
                fns["tg_bf16_mkl"] = lambda: cpu.cast(blas.gemm_half(abf, wbf), tg.bfloat16)
            if blas.has_half_gemm(np.float16):
                fns["mkl_f16f16f32"] = lambda: blas.gemm_half(a16, w16).astype(np.float16)
            r = _time(fns, args.gemm_reps)
            r.update(config=name, op=op, m=m, k=k, n=n,
                     tg_bf16_speedup_vs_fp32=round(r["tg_fp32"] / r["tg_bf16"], 2),
                     tg_bf16_vs_torch_bf16=round(r["tg_bf16"] / r["torch_bf16"], 2))
            print(f"{name:12s} {op:12s} {m}x{k}x{n}: " + ", ".join(f"{k_}={r[k_]}" for k_ in fns), flush=True)
            rows.append(r)
    return rows


def bench_step(name):
    cfg, b = CONFIGS[name]
    tg.manual_seed(1337)
    model = GPT(GPTConfig(**cfg))
    opt = model.configure_optimizers(0.1, 1e-3, (0.9, 0.99))
    tmodel = TGPT(**cfg)
    copy_weights(model, tmodel)
    topt = torch_optimizer(tmodel)
    rng = np.random.default_rng(0)
    batches = [rng.integers(0, cfg["vocab_size"], size=(2, b, cfg["block_size"])) for _ in range(4)]
    tg_b = [(tg.tensor(x[0]), tg.tensor(x[1])) for x in batches]
    t_b = [(torch.from_numpy(x[0]), torch.from_numpy(x[1])) for x in batches]
    with autocast("cpu", dtype=tg.bfloat16):
        l_tg = model(*tg_b[0])[1].item()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        l_t = tmodel(*t_b[0])[1].item()
    state = {"i": 0}

    def tg_step(bf16):
        x, y = tg_b[state["i"] % 4]
        with autocast("cpu", dtype=tg.bfloat16, enabled=bf16):
            _, loss = model(x, y)
        loss.backward()
        clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    def torch_step():
        x, y = t_b[state["i"] % 4]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            _, loss = tmodel(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(tmodel.parameters(), 1.0)
        topt.step()
        topt.zero_grad(set_to_none=True)

    fns = {"tg_bf16": lambda: tg_step(True), "torch_bf16": torch_step, "tg_fp32": lambda: tg_step(False)}
    for _ in range(2):  # warm-up
        for f in fns.values():
            f()
    ts = {k: [] for k in fns}
    for i in range(args.iters):
        state["i"] = i
        for k, f in fns.items():
            t0 = time.perf_counter()
            f()
            ts[k].append(time.perf_counter() - t0)
    r = {k: round(statistics.median(v) * 1e3, 2) for k, v in ts.items()}
    r.update(config=name, batch_size=b, first_loss_tg_bf16=round(l_tg, 4), first_loss_torch_bf16=round(l_t, 4),
             ratio_tg_bf16_over_torch_bf16=round(r["tg_bf16"] / r["torch_bf16"], 3),
             ratio_tg_bf16_over_tg_fp32=round(r["tg_bf16"] / r["tg_fp32"], 3))
    print(f"step {name}: " + ", ".join(f"{k}={v}" for k, v in r.items()), flush=True)
    return r


def main():
    set_num_threads(args.threads)
    gemm_rows = [] if args.skip_gemm else bench_gemm()
    steps = [bench_step(n) for n in args.configs.split(",")]
    out = {
        "benchmark": "bench_bf16_cpu", "threads": args.threads, "iters": args.iters, "gemm_reps": args.gemm_reps,
        "blas": blas.backend(), "bf16_gemm": blas.has_half_gemm(tg.bfloat16),
        "bf16_hardware": blas.bf16_hardware(), "bf16_gemm_path": blas.bf16_gemm_path(),
        "notes": "medians in ms over alternating rounds in one process; gemm: forward shapes, weight as a transposed "
                 "view; step = forward + backward + clip_grad_norm_ + AdamW + zero_grad under bf16 autocast",
        "gemm": gemm_rows, "step": steps,
        "versions": {"python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__,
                     "tensorgrad": tg.__version__},
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_result(args.out, out, device="cpu")


if __name__ == "__main__":
    main()
