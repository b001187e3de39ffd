"""Memory soak: 2000 training steps of a small GPT; process memory (RSS) after warm-up vs at the end.

Each mode runs in a fresh subprocess (clean RSS), single-threaded, on the embedded default corpus, with the loop
of `tensorgrad train` (AdamW with decay groups, cosine LR, forward + backward + clip_grad_norm_ + step +
zero_grad(set_to_none)) plus, every --eval-interval steps, an evaluation under no_grad and a checkpoint written
with save_checkpoint (so the I/O path is soaked too). Modes:
  gc-on   Python's garbage collector as usual
  gc-off  gc.disable() for the whole run: memory can only stay flat if every graph dies by refcount alone
RSS (/proc/self/statm) and the count of live Python objects are sampled every --sample-every steps.
Reported: RSS after warm-up, at the end, growth in % (also from the first sample after the first
eval + checkpoint, which allocates its buffers once), the least-squares RSS slope over the post-warm-up samples
(bytes/step), peak RSS (VmHWM), live objects after warm-up vs end, and gc.collect()'s count at the end.
Goal: < 5% RSS growth from warm-up to the end. Writes benchmarks/results/soak.json (machine, git commit, versions).

    python benchmarks/bench_soak.py [--steps 2000] [--warmup 200] [--modes gc-on,gc-off]
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def _rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _hwm():
    with open("/proc/self/status") as f:
        for ln in f:
            if ln.startswith("VmHWM:"):
                return int(ln.split()[1]) * 1024
    return None


def child(args):
    """One soak run in this (fresh) process; prints a JSON line."""
    import gc
    sys.path.insert(0, REPO)
    import numpy as np
    import tensorgrad as tg
    from tensorgrad.data import BatchSampler, CharTokenizer, load_default_corpus, train_val_split
    from tensorgrad.io import save_checkpoint
    from tensorgrad.models import GPT, GPTConfig
    from tensorgrad.nn.utils import clip_grad_norm_
    from tensorgrad.backend.host import set_num_threads, tune_malloc
    from tensorgrad.train import TrainConfig, estimate_loss, get_lr

    set_num_threads(1)
    tune_malloc()  # as `tensorgrad train` does
    text = load_default_corpus()
    tok = CharTokenizer.from_text(text)
    tr, va = train_val_split(tok.encode(text), 0.9)
    tg.manual_seed(1337)
    sampler = BatchSampler(tr, va, args.block_size, args.batch_size, seed=1337)
    cfg = GPTConfig(block_size=args.block_size, vocab_size=tok.vocab_size, n_layer=args.n_layer, n_head=args.n_head,
                    n_embd=args.n_embd, dropout=0.1, bias=True)
    model = GPT(cfg)
    opt = model.configure_optimizers(0.1, 1e-3, (0.9, 0.99), "cpu")
    tcfg = TrainConfig(max_iters=args.steps, lr=1e-3, min_lr=1e-4, warmup_iters=100)
    ckpt = os.path.join(args.out_dir, f"soak_{args.mode}.safetensors")
    if args.mode == "gc-off":
        gc.collect()
        gc.disable()
    samples, objs, losses = [], {}, []
    t0 = time.time()
    for it in range(args.steps):
        for g in opt.param_groups:
            g["lr"] = get_lr(it, tcfg)
        x, y = sampler.get_batch("train")
        loss = model(x, y)[1]
        loss.backward()
        clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(float(loss.item()))
        del loss, x, y
        step = it + 1
        if step % args.eval_interval == 0:
            estimate_loss(model, lambda: BatchSampler(tr, va, args.block_size, args.batch_size, seed=1338), 2)
            save_checkpoint(ckpt, model.state_dict(), opt.state_dict(), {"iter_num": step}, write_json=False)
        if step % args.sample_every == 0 or step == 1:
            samples.append((step, _rss()))
        if step in (args.warmup, args.steps):
            objs[step] = len(gc.get_objects())
    wall = time.time() - t0
    collected = gc.collect()
    warm = next(r for s, r in samples if s >= args.warmup)
    end = samples[-1][1]
    post = np.array([(s, r) for s, r in samples if s >= args.warmup], dtype=np.float64)
    slope = float(np.polyfit(post[:, 0], post[:, 1], 1)[0]) if len(post) > 1 else 0.0
    # the first eval + checkpoint write (step eval_interval) allocates its buffers once: growth measured from
    # the first sample after it isolates per-step growth from that one-time cost
    cyc = next((r for s, r in samples if s > args.eval_interval), None)
    os.unlink(ckpt)
    print(json.dumps({
        "mode": args.mode, "steps": args.steps, "warmup_steps": args.warmup, "wall_s": wall,
        "ms_per_step": 1000 * wall / args.steps,
        "rss_first_step_mb": samples[0][1] / 2 ** 20, "rss_after_warmup_mb": warm / 2 ** 20,
        "rss_end_mb": end / 2 ** 20, "rss_growth_pct": 100.0 * (end - warm) / warm,
        "rss_slope_bytes_per_step": slope,
        "rss_growth_after_first_checkpoint_cycle_pct": None if cyc is None else 100.0 * (end - cyc) / cyc, "rss_peak_hwm_mb": (_hwm() or 0) / 2 ** 20,
        "rss_min_after_warmup_mb": float(post[:, 1].min()) / 2 ** 20,
        "rss_max_after_warmup_mb": float(post[:, 1].max()) / 2 ** 20,
        "live_objects_after_warmup": objs.get(args.warmup), "live_objects_end": objs.get(args.steps),
        "gc_collect_at_end": collected, "gc_enabled_during_run": args.mode != "gc-off",
        "loss_first": losses[0], "loss_last_50_mean": float(np.mean(losses[-50:])),
        "rss_samples": [[s, round(r / 2 ** 20, 3)] for s, r in samples],
    }))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--sample-every", type=int, default=50)
    ap.add_argument("--eval-interval", type=int, default=250)
    ap.add_argument("--n-layer", type=int, default=2)
    ap.add_argument("--n-head", type=int, default=4)
    ap.add_argument("--n-embd", type=int, default=64)
    ap.add_argument("--block-size", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--modes", default="gc-on,gc-off")
    ap.add_argument("--mode", help=argparse.SUPPRESS)
    ap.add_argument("--out-dir", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=os.path.join(HERE, "results", "soak.json"))
    args = ap.parse_args()
    if args.mode:
        return child(args)

    import tempfile
    sys.path.insert(0, REPO)
    from tensorgrad.provenance import write_result
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": REPO}
    runs = []
    with tempfile.TemporaryDirectory() as td:
        for mode in args.modes.split(","):
            cmd = [sys.executable, __file__, "--mode", mode, "--out-dir", td] + [
                f"--{k.replace('_', '-')}={getattr(args, k)}" for k in
                ("steps", "warmup", "sample_every", "eval_interval", "n_layer", "n_head", "n_embd", "block_size",
                 "batch_size")]
            r = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            run = json.loads(r.stdout.strip().splitlines()[-1])
            runs.append(run)
            print(f"{mode:7s} {run['steps']} steps, {run['ms_per_step']:.1f} ms/step: RSS after warm-up "
                  f"{run['rss_after_warmup_mb']:.1f} MB -> end {run['rss_end_mb']:.1f} MB "
                  f"({run['rss_growth_pct']:+.2f}%; {run['rss_growth_after_first_checkpoint_cycle_pct']:+.2f}% after the first "
                  f"checkpoint), slope {run['rss_slope_bytes_per_step']:+.0f} B/step, "
                  f"live objects {run['live_objects_after_warmup']} -> {run['live_objects_end']}, "
                  f"gc.collect() at end {run['gc_collect_at_end']}")

    out = {
        "benchmark": "bench_soak",
        "goal": "RSS growth from after warm-up to the end < 5%",
        "passed": all(r["rss_growth_pct"] < 5.0 for r in runs),
        "config": {k: getattr(args, k) for k in ("steps", "warmup", "sample_every", "eval_interval", "n_layer",
                                                 "n_head", "n_embd", "block_size", "batch_size")},
        "notes": "embedded default corpus, dropout 0.1, AdamW + clip + cosine LR (the `tensorgrad train` loop), "
                 "eval (2 batches/split) + save_checkpoint every eval_interval steps, 1 thread, glibc malloc tuned "
                 "as train() does; each mode in a fresh process",
        "runs": runs,
    }
    print(f"{'PASS' if out['passed'] else 'FAIL'} (goal < 5% RSS growth)")
    write_result(args.out, out, device="cpu")


if __name__ == "__main__":
    main()
