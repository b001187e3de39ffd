"""Command line: ``tensorgrad train`` and ``tensorgrad sample`` (also ``python -m tensorgrad ...``).

    tensorgrad train                       # ~3 min on 2 CPU cores: the embedded corpus, a 4-layer char GPT
    tensorgrad train --data input.txt --n-layer 4 --n-head 4 --n-embd 128 --block-size 64 --batch-size 12 \\
        --max-iters 2000 --lr 1e-3 --min-lr 1e-4 --warmup-iters 100 --lr-decay-iters 2000 --dropout 0 --beta2 0.99
    tensorgrad train --out-dir out --resume --max-iters 4000
    tensorgrad sample --out-dir out --start "def " --num-tokens 300
    tensorgrad train --nproc 2 ...         # data parallel on 2 processes (re-launched through mpiexec)
    mpiexec -n 2 tensorgrad train ...      # the same, launched by hand (mpiexec -f hostfile ... on several machines)
"""
import argparse
import os
import shutil
import subprocess
import sys

from .distributed.launch_env import launch_env
from .io import CheckpointError
from .planner import POLICY_HELP, parse_policy
from .profiler import cli as profile_cli
from .train import TrainConfig, generate_text, load_model, set_num_threads, train

DEFAULT_MAX_ITERS = 2000  # the default run (no flags) takes about 3 minutes on 2 CPU cores (~80 ms/iter)


def _train_parser(sub):
    d = TrainConfig()
    p = sub.add_parser("train", help="train a char-level GPT (nanoGPT's recipe)",
                       description="Train a character-level GPT. Without --data it trains on the embedded default "
                                   "corpus (a fixed selection of the Python standard library's own sources).")
    g = p.add_argument_group("model")
    g.add_argument("--n-layer", type=int, default=d.n_layer)
    g.add_argument("--n-head", type=int, default=d.n_head)
    g.add_argument("--n-embd", type=int, default=d.n_embd)
    g.add_argument("--block-size", type=int, default=d.block_size, help="context length in characters")
    g.add_argument("--dropout", type=float, default=d.dropout)
    g.add_argument("--bias", action=argparse.BooleanOptionalAction, default=d.bias,
                   help="biases in Linear and LayerNorm layers (default: off, as nanoGPT's train.py)")
    g.add_argument("--checkpoint", type=_checkpoint_policy, default="none",
                   help=f"activation checkpointing over the blocks: {POLICY_HELP} (a budget is planned before the "
                        "first step to fit X MB)")
    g = p.add_argument_group("optimization")
    g.add_argument("--batch-size", type=int, default=d.batch_size)
    g.add_argument("--gradient-accumulation-steps", type=int, default=d.gradient_accumulation_steps)
    g.add_argument("--max-iters", type=int, default=DEFAULT_MAX_ITERS)
    g.add_argument("--lr", "--learning-rate", type=float, default=d.lr, help="peak learning rate")
    g.add_argument("--min-lr", type=float, default=d.min_lr)
    g.add_argument("--warmup-iters", type=int, default=d.warmup_iters)
    g.add_argument("--lr-decay-iters", type=int, default=None, help="default: --max-iters")
    g.add_argument("--no-decay-lr", dest="decay_lr", action="store_false", help="constant learning rate")
    g.add_argument("--weight-decay", type=float, default=d.weight_decay)
    g.add_argument("--beta1", type=float, default=d.beta1)
    g.add_argument("--beta2", type=float, default=d.beta2)
    g.add_argument("--grad-clip", type=float, default=d.grad_clip, help="0 disables clipping")
    g = p.add_argument_group("evaluation, logging and output")
    g.add_argument("--eval-interval", type=int, default=d.eval_interval)
    g.add_argument("--eval-iters", type=int, default=d.eval_iters)
    g.add_argument("--log-interval", type=int, default=d.log_interval, help="0: no log lines")
    g.add_argument("--out-dir", default=d.out_dir)
    g.add_argument("--sample-tokens", type=int, default=d.sample_tokens, help="sample printed at the end (0: none)")
    g.add_argument("--no-plot", dest="plot", action="store_false", help="don't write loss.png")
    g.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="live progress bar (default: when stderr is a terminal)")
    g.add_argument("--quiet", action="store_true")
    g = p.add_argument_group("data and system")
    g.add_argument("--data", default=None, help="a UTF-8 text file (default: the embedded corpus)")
    g.add_argument("--seed", type=int, default=d.seed)
    g.add_argument("--device", default=d.device, help="cpu or cuda")
    g.add_argument("--cuda-graph", action="store_true",
                   help="capture the training step in a CUDA graph and replay it (cuda, no accumulation; dropout draws fresh masks every replay)")
    g.add_argument("--dtype", default=d.dtype, choices=["float32", "float16", "bfloat16", "float64"],
                   help="float16: fp16 autocast with fp32 master weights and dynamic loss scaling; bfloat16: bf16 "
                        "autocast (PyTorch's CPU policy, MKL's bf16 GEMM on the CPU), fp32 master weights, no scaling")
    g.add_argument("--threads", type=int, default=None,
                   help="CPU threads for BLAS and tensorgrad's kernels (default: 1 when the load average shows the "
                        "cores busy with other work, else as the environment configures, i.e. all cores)")
    g.add_argument("--resume", action="store_true", help="continue from --out-dir/ckpt.safetensors")
    g.add_argument("--nproc", type=int, default=None,
                   help="data parallel on N processes of this machine: re-launches itself through mpiexec (pip "
                        "install 'tensorgrad[distributed]'); or start it as mpiexec -n N tensorgrad train ...")
    return p


def _checkpoint_policy(s):
    try:
        return parse_policy(s)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e))


def _sample_parser(sub):
    p = sub.add_parser("sample", help="sample text from a trained checkpoint")
    p.add_argument("--out-dir", default="out", help="directory holding ckpt.safetensors")
    p.add_argument("--start", default="\n", help="prompt text, or FILE:path to read it from a file")
    p.add_argument("--num-tokens", type=int, default=500)
    p.add_argument("--num-samples", type=int, default=1)
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--top-k", type=int, default=200, help="0: no top-k filtering")
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for BLAS and tensorgrad's kernels")
    return p


def build_parser():
    ap = argparse.ArgumentParser(prog="tensorgrad", description="tensorgrad: train and sample a char-level GPT")
    sub = ap.add_subparsers(dest="command", required=True)
    _train_parser(sub)
    _sample_parser(sub)
    profile_cli.add_parser(sub)
    return ap


def _relaunch(argv, n):
    """`tensorgrad train --nproc N ...` outside an MPI job: run `mpiexec -n N python -m tensorgrad train ...`."""
    mpiexec = shutil.which("mpiexec") or os.path.join(os.path.dirname(sys.executable), "mpiexec")
    if not os.path.exists(mpiexec):
        raise ValueError("--nproc needs mpiexec: pip install 'tensorgrad[distributed]' (mpi4py and the mpich wheel)")
    rest, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            rest.append(arg)
    return subprocess.call([mpiexec, "-n", str(n), sys.executable, "-m", "tensorgrad"] + rest)


def cmd_train(a):
    env = launch_env()
    if a.nproc is not None and a.nproc > 1 and env.world_size == 1:
        return _relaunch(a.argv, a.nproc)
    if a.nproc is not None and env.world_size > 1 and a.nproc != env.world_size:
        raise ValueError(f"--nproc {a.nproc}, but mpiexec started {env.world_size} processes")
    cfg = TrainConfig(
        n_layer=a.n_layer, n_head=a.n_head, n_embd=a.n_embd, block_size=a.block_size, dropout=a.dropout, bias=a.bias,
        checkpoint=a.checkpoint,
        batch_size=a.batch_size, gradient_accumulation_steps=a.gradient_accumulation_steps, max_iters=a.max_iters,
        lr=a.lr, min_lr=a.min_lr, warmup_iters=a.warmup_iters, lr_decay_iters=a.lr_decay_iters, decay_lr=a.decay_lr,
        weight_decay=a.weight_decay, beta1=a.beta1, beta2=a.beta2, grad_clip=a.grad_clip,
        eval_interval=a.eval_interval, eval_iters=a.eval_iters, log_interval=a.log_interval, out_dir=a.out_dir,
        sample_tokens=a.sample_tokens, plot=a.plot, progress=a.progress, data=a.data, seed=a.seed,
        device=a.device, dtype=a.dtype, threads=a.threads, resume=a.resume, verbose=not a.quiet,
        cuda_graph=a.cuda_graph)
    train(cfg)
    return 0


def cmd_sample(a):
    if a.threads:
        set_num_threads(a.threads)
    start = a.start
    if start.startswith("FILE:"):
        with open(start[5:], "r", encoding="utf-8") as f:
            start = f.read()
    model, tok, _ = load_model(a.out_dir, device=a.device)
    for i in range(a.num_samples):
        print(generate_text(model, tok, start, a.num_tokens, a.temperature, a.top_k, a.seed + i))
        if a.num_samples > 1:
            print("---------------")
    return 0


def main(argv=None):
    a = build_parser().parse_args(argv)
    a.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return {"train": cmd_train, "sample": cmd_sample, "profile": profile_cli.run}[a.command](a)
    except (CheckpointError, FileNotFoundError, ValueError) as e:
        print(f"tensorgrad {a.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"tensorgrad {a.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
