"""tensorgrad's CUDA kernels side by side with PyTorch on the same GPU, in one run.

    python benchmarks/bench_cuda_kernels.py [--reps 50] [--warmup 5] [--quick] [--out PATH]

Both sides get the same input buffers (shared through DLPack). Each case is timed with CUDA events
(cupy.cuda.Event for ours, torch.cuda.Event for PyTorch), after warm-up, as the median of --reps runs.
ratio = torch_ms / ours_ms: higher is better for us, 1.0 is parity, the goal is >= 0.8.
Writes benchmarks/results/kernels_cuda.json (GPU, machine, commit, versions, every row).
Without CuPy + GPU or a CUDA build of PyTorch it prints why and exits (status 0; 1 with --require-gpu).
"""
import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
from tensorgrad.provenance import write_result  # noqa: E402


def _no_gpu(reason, require):
    print(f"bench_cuda_kernels: skipped: {reason}")
    sys.exit(1 if require else 0)


def time_cupy(cp, fn, reps, warmup):
    for _ in range(warmup):
        fn()
    cp.cuda.Device().synchronize()
    times = []
    for _ in range(reps):
        start, end = cp.cuda.Event(), cp.cuda.Event()
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(cp.cuda.get_elapsed_time(start, end))
    return statistics.median(times)


def time_torch(torch, fn, reps, warmup):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def max_diff(cp, torch, ours, theirs):
    a = cp.asarray(ours).astype(cp.float32)
    b = cp.asarray(theirs.detach().float().contiguous())       # torch -> cupy via __cuda_array_interface__
    return float(cp.abs(a - b).max()) if a.size else 0.0


def gpt2_param_shapes(vocab=50304, block=1024, n_layer=12, c=768):
    shapes = [(vocab, c), (block, c)]
    for _ in range(n_layer):
        shapes += [(c,), (c,), (c, 3 * c), (3 * c,), (c, c), (c,), (c,), (c,), (c, 4 * c), (4 * c,), (4 * c, c), (c,)]
    shapes += [(c,), (c,)]
    return shapes


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="smaller shapes (smoke test)")
    ap.add_argument("--require-gpu", action="store_true", help="exit 1 instead of 0 when no GPU")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "kernels_cuda.json"))
    args = ap.parse_args()

    from tensorgrad.backend import cuda_available
    if not cuda_available():
        _no_gpu("CuPy with a CUDA GPU is not available (pip install tensorgrad[cuda] on a GPU machine)", args.require_gpu)
    try:
        import torch
    except ImportError:
        _no_gpu("PyTorch is not installed", args.require_gpu)
    if not torch.cuda.is_available():
        _no_gpu("this PyTorch build has no CUDA (or sees no GPU)", args.require_gpu)

    import cupy as cp
    import numpy as np
    import torch.nn.functional as F
    from tensorgrad.backend import cuda as K

    torch.backends.cuda.matmul.allow_tf32 = False
    t0 = time.time()
    K.compile_all()
    compile_s = time.time() - t0
    reps, warmup = args.reps, args.warmup
    rows = []

    def T(a):                       # cupy -> torch, zero copy
        return torch.from_dlpack(a)

    def record(name, ours_fn, torch_fn, diff=None, note=""):
        ours = time_cupy(cp, ours_fn, reps, warmup)
        theirs = time_torch(torch, torch_fn, reps, warmup)
        row = dict(case=name, ours_ms=round(ours, 4), torch_ms=round(theirs, 4),
                   ratio=round(theirs / ours, 3) if ours > 0 else None, max_abs_diff=diff, note=note)
        rows.append(row)
        print(f"{name:<46} {ours:>9.3f} {theirs:>9.3f} {row['ratio']:>7.2f}"
              + ("" if diff is None else f"   {diff:.2e}") + (f"   {note}" if note else ""), flush=True)

    rs = cp.random.RandomState(0)
    print(f"{'case':<46} {'ours ms':>9} {'torch ms':>9} {'ratio':>7}   max|diff|")

    # ------------------------------------------------------------------------------ layernorm fwd+bwd
    n_ln = 1024 if args.quick else 64 * 256
    for dt in (cp.float32, cp.float16):
        c = 768
        x = rs.standard_normal((n_ln, c)).astype(dt)
        dy = rs.standard_normal((n_ln, c)).astype(dt)
        w = rs.standard_normal(c).astype(cp.float32)
        b = rs.standard_normal(c).astype(cp.float32)
        tx, tdy = T(x), T(dy)
        tw, tb = (T(w), T(b)) if dt == cp.float32 else (T(w).half(), T(b).half())
        y, mean, rstd = K.layernorm_forward(x, w, b, 1e-5)
        ty_, tmean, trstd = torch.ops.aten.native_layer_norm(tx, [c], tw, tb, 1e-5)
        diff = max_diff(cp, torch, y, ty_)
        name = f"layernorm fwd+bwd N={n_ln} C={c} {np.dtype(dt).name}"

        def ours_ln():
            y, mean, rstd = K.layernorm_forward(x, w, b, 1e-5)
            K.layernorm_backward(dy, x, w, mean, rstd)

        def torch_ln():
            y, mean, rstd = torch.ops.aten.native_layer_norm(tx, [c], tw, tb, 1e-5)
            torch.ops.aten.native_layer_norm_backward(tdy, tx, [c], mean, rstd, tw, tb, [True, True, True])

        record(name, ours_ln, torch_ln, diff)

    # -------------------------------------------------------------------------- cross-entropy fwd+bwd
    n_ce = 1024 if args.quick else 64 * 256
    for v in (65, 50304):
        for dt in (cp.float32, cp.float16):
            logits = rs.standard_normal((n_ce, v)).astype(dt)
            target = rs.randint(0, v, size=n_ce).astype(cp.int64)
            dloss = cp.full(n_ce, 1.0 / n_ce, dtype=cp.float32)
            tl = T(logits).detach().clone().requires_grad_(True)
            tt, tdl = T(target), T(dloss).to(T(logits).dtype)
            loss, stats = K.softmax_cross_entropy_forward(logits, target, -100, 0.0)
            diff = max_diff(cp, torch, loss, F.cross_entropy(tl.float(), tt, reduction="none"))
            name = f"cross_entropy fwd+bwd N={n_ce} V={v} {np.dtype(dt).name}"

            def ours_ce():
                loss, stats = K.softmax_cross_entropy_forward(logits, target, -100, 0.0)
                K.softmax_cross_entropy_backward(logits, target, stats, dloss, -100, 0.0)

            def torch_ce():
                tl.grad = None
                F.cross_entropy(tl, tt, reduction="none").backward(tdl)

            record(name, ours_ce, torch_ce, diff, note="torch: autograd")
            del logits, tl

    # ---------------------------------------------------------------------------------- SDPA fwd+bwd
    b_, h_, t_, d_ = (2, 4, 256, 64) if args.quick else (8, 12, 1024, 64)
    q, k, v = (rs.standard_normal((b_, h_, t_, d_)).astype(cp.float16) for _ in range(3))
    do = rs.standard_normal((b_, h_, t_, d_)).astype(cp.float16)
    scale = 1.0 / d_ ** 0.5
    tq, tk, tv = (T(a).detach().clone().requires_grad_(True) for a in (q, k, v))
    tdo = T(do)
    out, lse = K.attention_forward(q, k, v, True, scale)
    diff = max_diff(cp, torch, out, F.scaled_dot_product_attention(tq, tk, tv, is_causal=True))
    shape = f"B={b_} H={h_} T={t_} hd={d_} fp16 causal"
    record(f"sdpa fwd {shape}", lambda: K.attention_forward(q, k, v, True, scale),
           lambda: F.scaled_dot_product_attention(tq.detach(), tk.detach(), tv.detach(), is_causal=True), diff)

    def ours_attn():
        out, lse = K.attention_forward(q, k, v, True, scale)
        K.attention_backward(do, q, k, v, out, lse, True, scale)

    def torch_attn():
        tq.grad = tk.grad = tv.grad = None
        F.scaled_dot_product_attention(tq, tk, tv, is_causal=True).backward(tdo)

    record(f"sdpa fwd+bwd {shape}", ours_attn, torch_attn, None, note="torch: autograd")

    # -------------------------------------------------------------------------------------- GELU
    n_g = (1 << 20) if args.quick else 8 * 1024 * 3072
    for dt in (cp.float32, cp.float16):
        x = rs.standard_normal(n_g).astype(dt)
        dy = rs.standard_normal(n_g).astype(dt)
        tx, tdy = T(x), T(dy)
        diff = max_diff(cp, torch, K.gelu_forward(x, "tanh"), F.gelu(tx, approximate="tanh"))
        record(f"gelu(tanh) fwd n={n_g} {np.dtype(dt).name}", lambda: K.gelu_forward(x, "tanh"),
               lambda: F.gelu(tx, approximate="tanh"), diff)
        record(f"gelu(tanh) bwd n={n_g} {np.dtype(dt).name}", lambda: K.gelu_backward(dy, x, "tanh"),
               lambda: torch.ops.aten.gelu_backward(tdy, tx, approximate="tanh"))
        del x, dy, tx, tdy

    # -------------------------------------------------------------------------------------- AdamW
    shapes = gpt2_param_shapes(vocab=1024, block=128, n_layer=2) if args.quick else gpt2_param_shapes()
    params = [rs.standard_normal(s).astype(cp.float32) * 0.02 for s in shapes]
    grads = [rs.standard_normal(s).astype(cp.float32) * 1e-3 for s in shapes]
    ms = [cp.zeros(s, cp.float32) for s in shapes]
    vs = [cp.zeros(s, cp.float32) for s in shapes]
    tparams = [torch.nn.Parameter(T(p).clone()) for p in params]
    for tp, g in zip(tparams, grads):
        tp.grad = T(g)
    nparams = sum(p.size for p in params)
    step = [0]

    def ours_adamw():
        step[0] += 1
        K.adamw_step(params, grads, ms, vs, 3e-4, 0.9, 0.95, 1e-8, 0.1, step[0])

    for mode in ("fused", "foreach"):
        opt = torch.optim.AdamW(tparams, lr=3e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1,
                                **{mode: True})
        record(f"adamw step {len(shapes)} tensors {nparams / 1e6:.1f}M params", ours_adamw, opt.step,
               note=f"torch: {mode}=True")

    # ------------------------------------------------------------------------------------- report
    ok = [r for r in rows if r["ratio"] is not None]
    print(f"\n{len([r for r in ok if r['ratio'] >= 0.8])}/{len(ok)} cases at ratio >= 0.8 "
          f"(ratio = torch_ms / ours_ms, higher is better)")
    props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    result = dict(
        benchmark="bench_cuda_kernels", gpu=name,
        compute_capability=cp.cuda.Device().compute_capability,
        cupy=cp.__version__, torch=torch.__version__,
        cuda_runtime=cp.cuda.runtime.runtimeGetVersion(), torch_cuda=torch.version.cuda,
        reps=reps, warmup=warmup, quick=args.quick, nvrtc_compile_s=round(compile_s, 2),
        time=time.strftime("%Y-%m-%dT%H:%M:%S"), rows=rows,
    )
    write_result(args.out, result, device="cuda")


if __name__ == "__main__":
    main()
