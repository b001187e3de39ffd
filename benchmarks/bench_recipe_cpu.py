"""The main job, end to end: nanoGPT's shakespeare-char recipe scaled to this CPU, trained by `tensorgrad train` and by
nanoGPT's own train.py (PyTorch) on the same data, the same config and the same thread count, several seeds, the
two alternating. Reports each run's final val loss (the mean over eval_iters batches, 200 by default) and its wall
time (the whole process: start-up, training, evaluations, checkpoint). Writes benchmarks/results/recipe_cpu.json.
With --pair bf16 the two sides are instead `tensorgrad train` in float32 and with --dtype bfloat16 (autocast),
written to benchmarks/results/recipe_bf16_cpu.json.

    python benchmarks/bench_recipe_cpu.py --nanogpt /path/to/nanoGPT [--seeds 1337,1338,1339] [--dropout 0.2]
    python benchmarks/bench_recipe_cpu.py --nanogpt /path/to/nanoGPT --pair bf16 --dropout 0

nanoGPT is run beside the project, never copied into it: a checkout of github.com/karpathy/nanoGPT whose
data/shakespeare_char holds input.txt (tinyshakespeare) and the train.bin/val.bin/meta.pkl its prepare.py writes.
Its train.py seeds torch with 1337 (+ the DDP rank) and has no seed flag, so the run goes through a few lines here
that add (seed - 1337) to that call and set torch's thread count, then run train.py unchanged with its own
configurator. The scaled config is the one nanoGPT's README gives for a CPU (4 layers, 4 heads, 128 wide, block 64,
batch 12, 2000 iterations, lr decay over 2000) with the recipe's dropout.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from tensorgrad.provenance import write_result  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--nanogpt", required=True, help="a nanoGPT checkout with data/shakespeare_char prepared")
ap.add_argument("--seeds", default="1337,1338,1339")
ap.add_argument("--dropout", type=float, default=0.2)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--max-iters", type=int, default=2000)
ap.add_argument("--eval-iters", type=int, default=200)
ap.add_argument("--eval-interval", type=int, default=500)
ap.add_argument("--pair", choices=("nanogpt", "bf16"), default="nanogpt",
                help="nanogpt: tensorgrad vs nanoGPT's train.py; bf16: tensorgrad float32 vs bfloat16")
ap.add_argument("--out", default=None)
args = ap.parse_args()
args.out = args.out or os.path.join(HERE, "results", "recipe_cpu.json" if args.pair == "nanogpt" else
                                    "recipe_bf16_cpu.json")

NANO = os.path.abspath(args.nanogpt)
DATA = os.path.join(NANO, "data", "shakespeare_char")
for need in ("train.py", "configurator.py", "config/train_shakespeare_char.py"):
    if not os.path.exists(os.path.join(NANO, need)):
        sys.exit(f"--nanogpt {NANO}: no {need} (a checkout of github.com/karpathy/nanoGPT is expected)")
for need in ("input.txt", "train.bin", "val.bin", "meta.pkl"):
    if not os.path.exists(os.path.join(DATA, need)):
        sys.exit(f"{DATA}: no {need}; put tinyshakespeare there as input.txt and run its prepare.py")

# The recipe, scaled: the same numbers for both (nanoGPT's shakespeare-char config with its README's CPU sizes).
CFG = dict(n_layer=4, n_head=4, n_embd=128, block_size=64, batch_size=12, max_iters=args.max_iters,
           lr_decay_iters=args.max_iters, learning_rate=1e-3, min_lr=1e-4, warmup_iters=100, beta2=0.99,
           weight_decay=0.1, grad_clip=1.0, dropout=args.dropout, eval_iters=args.eval_iters,
           eval_interval=args.eval_interval)

NANO_RUNNER = """
import os, runpy, sys, torch
torch.set_num_threads({threads})
_seed = torch.manual_seed
torch.manual_seed = lambda s: _seed(s + {offset})   # train.py seeds 1337 + rank; this run's seed is 1337 + offset
sys.argv = ["train.py"] + {argv!r}
runpy.run_path("train.py", run_name="__main__")
"""


def nanogpt_cmd(seed, out_dir):
    argv = ["config/train_shakespeare_char.py", "--device=cpu", "--compile=False", "--log_interval=100",
            f"--out_dir={out_dir}"] + [f"--{k}={v}" for k, v in CFG.items()]
    return [sys.executable, "-c", NANO_RUNNER.format(threads=args.threads, offset=seed - 1337, argv=argv)], NANO


def tensorgrad_cmd(seed, out_dir, dtype="float32"):
    flags = {"n-layer": CFG["n_layer"], "n-head": CFG["n_head"], "n-embd": CFG["n_embd"],
             "block-size": CFG["block_size"], "batch-size": CFG["batch_size"], "max-iters": CFG["max_iters"],
             "lr-decay-iters": CFG["lr_decay_iters"], "lr": CFG["learning_rate"], "min-lr": CFG["min_lr"],
             "warmup-iters": CFG["warmup_iters"], "beta2": CFG["beta2"], "weight-decay": CFG["weight_decay"],
             "grad-clip": CFG["grad_clip"], "dropout": CFG["dropout"], "eval-iters": CFG["eval_iters"],
             "eval-interval": CFG["eval_interval"], "log-interval": 100, "seed": seed, "threads": args.threads,
             "data": os.path.join(DATA, "input.txt"), "out-dir": out_dir, "sample-tokens": 0, "dtype": dtype}
    cmd = [sys.executable, "-m", "tensorgrad", "train", "--no-plot", "--no-progress"]
    for k, v in flags.items():
        cmd += [f"--{k}", str(v)]
    return cmd, os.path.dirname(HERE)


EVAL = re.compile(r"step (\d+): train loss ([\d.]+), val loss ([\d.]+)")


def run(name, cmd, cwd):
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), PYTHONPATH=os.path.dirname(HERE))
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"{name} failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    evals = [(int(s), float(tr), float(va)) for s, tr, va in EVAL.findall(p.stdout + p.stderr)]
    last = [e for e in evals if e[0] == CFG["max_iters"]]
    if not last:
        sys.exit(f"{name}: no eval at step {CFG['max_iters']} in its output:\n{p.stdout[-3000:]}")
    return {"wall_s": round(wall, 1), "train_loss": last[-1][1], "val_loss": last[-1][2], "evals": evals}


SIDES = {"tensorgrad": lambda seed, d: tensorgrad_cmd(seed, d), "nanogpt": nanogpt_cmd} if args.pair == "nanogpt" \
    else {"float32": lambda seed, d: tensorgrad_cmd(seed, d), "bfloat16": lambda seed, d: tensorgrad_cmd(seed, d, "bfloat16")}
NAMES = list(SIDES)
rows = []
for i, seed in enumerate(int(s) for s in args.seeds.split(",")):
    order = NAMES if i % 2 == 0 else NAMES[::-1]
    row = {"seed": seed}
    for name in order:
        out_dir = os.path.join("/tmp", f"recipe_{name}_{seed}")
        cmd, cwd = SIDES[name](seed, out_dir)
        row[name] = run(name, cmd, cwd)
        print(f"seed {seed} {name:10s} val loss {row[name]['val_loss']:.4f} train loss "
              f"{row[name]['train_loss']:.4f} wall {row[name]['wall_s']:.1f} s", flush=True)
    rows.append(row)


def mean(xs):
    return round(sum(xs) / len(xs), 4)


summary = {k: {"val_loss_mean": mean([r[k]["val_loss"] for r in rows]),
               "wall_s_mean": mean([r[k]["wall_s"] for r in rows])} for k in NAMES}
summary[f"wall_ratio_{NAMES[0]}_over_{NAMES[1]}"] = round(summary[NAMES[0]]["wall_s_mean"]
                                                          / summary[NAMES[1]]["wall_s_mean"], 3)
summary[f"val_loss_ratio_{NAMES[0]}_over_{NAMES[1]}"] = round(summary[NAMES[0]]["val_loss_mean"]
                                                              / summary[NAMES[1]]["val_loss_mean"], 4)
print(json.dumps(summary))
import torch  # noqa: E402  (its version, for the record)
write_result(args.out, {"benchmark": "bench_recipe_cpu", "pair": args.pair, "config": CFG, "threads": args.threads,
                        "nanogpt": {"path": NANO, "commit": subprocess.run(["git", "-C", NANO, "rev-parse", "HEAD"],
                                                                           capture_output=True, text=True).stdout.strip() or None},
                        "torch": torch.__version__, "runs": rows, "summary": summary,
                        "notes": "final val/train loss = the eval at max_iters (mean over eval_iters batches); "
                                 "wall = the whole process; runs alternate which framework goes first"},
             device="cpu")
