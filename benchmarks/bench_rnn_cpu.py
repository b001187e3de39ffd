"""Recurrent layers on the CPU: tensorgrad vs PyTorch, same process, same weights and inputs, alternating rounds.

    python benchmarks/bench_rnn_cpu.py [--threads 1] [--rounds 7] [--quick] [--out PATH] [--label NAME]

Rows (forward + backward of out.sum(), float32; milliseconds per step, median over rounds, each round times both
frameworks back to back, which goes first alternating):
  lstm-wordlm    nn.LSTM(200, 200, 2 layers), seq 35, batch 20 (pytorch/examples' word_language_model defaults)
  gru-wordlm     nn.GRU, the same shapes
  rnn-wordlm     nn.RNN (tanh), the same shapes
  lstm-bidir     nn.LSTM(64, 128, bidirectional, batch_first), seq 50, batch 32
  lstmcell-loop  two nn.LSTMCell(1, 51) / (51, 51) stepped in a Python loop over 200 steps, batch 97, and a Linear
                 (time_sequence_prediction's model): the cell path, one node per step
Results go under runs[<label>] of the JSON file (machine, device, commit stamped); other labels are kept.
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
from _common import alternate, save_run  # noqa: E402  (timing and result files shared by the benchmarks)
from tensorgrad.train import set_num_threads  # noqa: E402


def _copy_weights(m, tm):
    tm.load_state_dict({k: torch.from_numpy(np.array(v.numpy())) for k, v in m.state_dict().items()})


def layer_case(lib_mode, sizes, seq, batch, bidirectional=False, batch_first=False):
    I, H, layers = sizes

    def build(lib):
        return getattr(lib.nn, lib_mode)(I, H, layers, bidirectional=bidirectional, batch_first=batch_first)
    m, tm = build(tg), build(torch)
    _copy_weights(m, tm)
    shape = (batch, seq, I) if batch_first else (seq, batch, I)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    xg, xt = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)

    def run_tg():
        out, _ = m(xg)
        out.sum().backward()

    def run_torch():
        out, _ = tm(xt)
        out.sum().backward()
    return run_tg, run_torch


def cell_loop_case(steps=200, batch=97, hidden=51):
    def build(lib):
        return lib.nn.LSTMCell(1, hidden), lib.nn.LSTMCell(hidden, hidden), lib.nn.Linear(hidden, 1)
    ours, theirs = build(tg), build(torch)
    for m, tm in zip(ours, theirs):
        _copy_weights(m, tm)
    x = np.random.default_rng(1).standard_normal((batch, steps)).astype(np.float32)

    def make(lib, mods, xx):
        c1, c2, lin = mods

        def run():
            h = c = h2 = c2_ = lib.zeros(batch, hidden)
            outs = []
            for x_t in xx.split(1, dim=1):
                h, c = c1(x_t, (h, c))
                h2, c2_ = c2(h, (h2, c2_))
                outs.append(lin(h2))
            lib.cat(outs, dim=1).sum().backward()
        return run
    return make(tg, ours, tg.tensor(x)), make(torch, theirs, torch.tensor(x))


CASES = {
    "lstm-wordlm": lambda: layer_case("LSTM", (200, 200, 2), 35, 20),
    "gru-wordlm": lambda: layer_case("GRU", (200, 200, 2), 35, 20),
    "rnn-wordlm": lambda: layer_case("RNN", (200, 200, 2), 35, 20),
    "lstm-bidir": lambda: layer_case("LSTM", (64, 128, 1), 50, 32, bidirectional=True, batch_first=True),
    "lstmcell-loop": cell_loop_case,
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--label", default="current")
    ap.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "rnn_cpu.json"))
    args = ap.parse_args()
    rounds = 3 if args.quick else args.rounds
    set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    rows = []
    print(f"threads {args.threads}, ms per forward+backward, median of {rounds} rounds")
    print(f"{'case':<16}{'tensorgrad':>12}{'torch':>10}{'ratio':>8}")
    for name, make in CASES.items():
        row = dict(case=name, **alternate(*make(), rounds, args.reps))
        rows.append(row)
        a, b = row["tensorgrad_ms"], row["torch_ms"]
        print(f"{name:<16}{a:>12.2f}{b:>10.2f}{a / b:>8.2f}")
    save_run(args.out, args.label, dict(threads=args.threads, rounds=rounds, reps=args.reps, rows=rows),
        benchmark="recurrent layers, forward + backward, tensorgrad vs PyTorch CPU (float32)",
        method="ms per forward+backward of out.sum(): median over rounds of reps-call loops, the two frameworks "
               "alternating first; ratio = tensorgrad / torch",
        command="python benchmarks/bench_rnn_cpu.py --label " + args.label,
        torch_version=torch.__version__, numpy_version=np.__version__)


if __name__ == "__main__":
    main()
