"""CTC loss on the CPU: tensorgrad (ops/ctc.py through the kernels ctc_loss_forward / ctc_loss_backward: the compiled
csrc/cpu/ctc.cpp, or under TENSORGRAD_KERNELS=reference the NumPy loop over frames in backend/reference_ctc.py) vs
PyTorch's CPU ctc_loss kernel, same process, same inputs, alternating rounds.

    python benchmarks/bench_ctc_cpu.py [--threads 1] [--rounds 7] [--quick] [--out PATH] [--label NAME]

Rows (F.ctc_loss(log_probs, targets, input_lengths, target_lengths) forward + backward, reduction 'mean', float32;
milliseconds per step, median over rounds, which framework goes first alternating):
  speech-T200   T=200 frames, batch 16, 30 classes (characters + blank), padded targets up to 40 labels, input
                lengths 150..200 and target lengths 20..40 drawn at random (a character-level ASR batch)
  short-T50     T=50, batch 32, 20 classes, targets up to 10 labels (a small handwriting / keyword batch)
Results go under runs[<label>] of the JSON file (machine, device, commit stamped); other labels are kept. Each run
records which implementation ran ("kernel" or "reference"). Runs: numpy-logspace (the NumPy recursion, before the
kernel, on a busier machine), fused-cpp-1t and fused-cpp-2t (csrc/cpu/ctc.cpp at 1 and 2 threads, torch at the same
count), numpy-reference-1t (the same NumPy recursion under TENSORGRAD_KERNELS=reference, run right after them).
"""
import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.environ.get("TG_ROOT", ROOT))

import torch  # noqa: E402

import tensorgrad as tg  # noqa: E402
from tensorgrad.backend import kernels  # noqa: E402
from _common import alternate, save_run  # noqa: E402  (timing and result files shared by the benchmarks)
from tensorgrad.train import set_num_threads  # noqa: E402


def ctc_case(T, N, C, S, in_low, tl_low, seed=0):
    rng = np.random.default_rng(seed)
    lp = torch.randn(T, N, C, generator=torch.Generator().manual_seed(seed)).log_softmax(-1).numpy()
    il, tl = rng.integers(in_low, T + 1, N), rng.integers(tl_low, S + 1, N)
    tgt = rng.integers(1, C, (N, S))

    def make(lib):
        x, t, i, n = lib.tensor(lp, requires_grad=True), lib.tensor(tgt), lib.tensor(il), lib.tensor(tl)

        def run():
            x.grad = None
            lib.nn.functional.ctc_loss(x, t, i, n).backward()
        return run
    return make(tg), make(torch)


CASES = {
    "speech-T200": lambda: ctc_case(200, 16, 30, 40, 150, 20),
    "short-T50": lambda: ctc_case(50, 32, 20, 10, 30, 3),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--label", default="current")
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "ctc_cpu.json"))
    args = ap.parse_args()
    rounds = 3 if args.quick else args.rounds
    set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    rows = []
    impl = kernels.which("ctc_loss_forward", "cpu")
    print(f"threads {args.threads}, tensorgrad's {impl}, ms per forward+backward, median of {rounds} rounds")
    print(f"{'case':<16}{'tensorgrad':>12}{'torch':>10}{'ratio':>8}")
    for name, make in CASES.items():
        row = dict(case=name, **alternate(*make(), rounds, args.reps))
        rows.append(row)
        a, b = row["tensorgrad_ms"], row["torch_ms"]
        print(f"{name:<16}{a:>12.2f}{b:>10.2f}{a / b:>8.2f}")
    run = dict(threads=args.threads, implementation=impl, rounds=rounds, reps=args.reps, rows=rows)
    save_run(args.out, args.label, run,
        benchmark="CTC loss, forward + backward, tensorgrad vs PyTorch CPU (float32)",
        method="ms per F.ctc_loss(...).backward() (reduction 'mean'): median over rounds of reps-call loops, the two "
               "frameworks alternating first; ratio = tensorgrad / torch",
        command=f"python benchmarks/bench_ctc_cpu.py --threads {args.threads} --label {args.label}",
        torch_version=torch.__version__, numpy_version=np.__version__)


if __name__ == "__main__":
    main()
