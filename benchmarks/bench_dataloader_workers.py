"""DataLoader worker processes: an epoch's wall time with num_workers = 0, 1, 2, tensorgrad vs PyTorch, same process.

    python benchmarks/bench_dataloader_workers.py [--repeats 5] [--batches 100] [--quick] [--label NAME]

Cases (batch 32, --batches batches, the whole epoch timed: iterator creation and worker start-up included):
  burn   __getitem__ spins ~2 ms of Python CPU (a pure-Python loop calibrated here), returns a (3, 32, 32) float32
         NumPy array and an int: the decode/augment-in-Python load that workers exist to hide
  sleep  __getitem__ sleeps 2 ms (I/O-like: it needs no free core to overlap)
  big    __getitem__ returns a (3, 224, 224) float32 array and does nothing else: what moving 19 MB batches from
         the workers costs (tensorgrad pickles them through a pipe; torch passes shared-memory handles)
One dataset object serves both libraries (NumPy samples; each library's default_collate makes its own tensors).
Each repeat runs every (case, num_workers) for both libraries back to back, which goes first alternating; medians
over repeats; ratio = tensorgrad / torch. Results go under runs[<label>] of results/dataloader_workers.json (machine,
commit stamped); other labels are kept.
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.environ.get("TG_ROOT", ROOT))

import torch  # noqa: E402
import torch.utils.data as TD  # noqa: E402

import tensorgrad.utils.data as D  # noqa: E402
from _common import save_run  # noqa: E402  (timing and result files shared by the benchmarks)

BATCH = 32
_SPIN = [0]  # loop iterations that take ~2 ms here (calibrated once, before forking: the workers inherit it)


def _spin(n):
    acc = 0
    for i in range(n):
        acc += i * i
    return acc


def calibrate(target=2e-3):
    n = 20000
    for _ in range(3):
        t0 = time.perf_counter()
        _spin(n)
        n = max(1, int(n * target / (time.perf_counter() - t0)))
    _SPIN[0] = n
    return n


class Work:
    def __init__(self, kind, n):
        self.kind, self.n = kind, n
        self.small = np.ones((3, 32, 32), np.float32)
        self.big = np.ones((3, 224, 224), np.float32)

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if self.kind == "burn":
            _spin(_SPIN[0])
        elif self.kind == "sleep":
            time.sleep(2e-3)
        else:
            return self.big * (i % 7), i
        return self.small * (i % 7), i


def epoch(data, ds, workers):
    t0 = time.perf_counter()
    n = 0
    for x, _ in data.DataLoader(ds, batch_size=BATCH, num_workers=workers):
        n += x.shape[0]
    assert n == len(ds), (n, len(ds))
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batches", type=int, default=100)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--label", default="current")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "dataloader_workers.json"))
    args = ap.parse_args()
    repeats, batches = (2, 20) if args.quick else (args.repeats, args.batches)
    torch.set_num_threads(1)
    spin = calibrate()
    cases = [("burn", batches), ("sleep", batches), ("big", max(10, batches // 5))]
    times = {(c, w, lib): [] for c, _ in cases for w in (0, 1, 2) for lib in ("tensorgrad", "torch")}
    libs = [("tensorgrad", D), ("torch", TD)]
    for c, nb in cases:  # warm-up: imports, first fork
        for _, data in libs:
            epoch(data, Work(c, BATCH * 2), 1)
    for r in range(repeats):
        for c, nb in cases:
            ds = Work(c, nb * BATCH)
            for w in (0, 1, 2):
                for name, data in (libs if r % 2 == 0 else libs[::-1]):
                    times[(c, w, name)].append(epoch(data, ds, w))
        print(f"repeat {r + 1}/{repeats} done", flush=True)
    rows = []
    print(f"{'case':<6}{'workers':>8}{'tensorgrad s':>14}{'torch s':>10}{'ratio':>8}{'tg speedup vs 0':>17}")
    for c, nb in cases:
        base = statistics.median(times[(c, 0, "tensorgrad")])
        for w in (0, 1, 2):
            a, b = statistics.median(times[(c, w, "tensorgrad")]), statistics.median(times[(c, w, "torch")])
            rows.append(dict(case=c, batches=nb, batch_size=BATCH, num_workers=w, tensorgrad_s=round(a, 4),
                             torch_s=round(b, 4), ratio=round(a / b, 3), tensorgrad_speedup_vs_0=round(base / a, 3),
                             tensorgrad_all_s=[round(t, 4) for t in times[(c, w, "tensorgrad")]],
                             torch_all_s=[round(t, 4) for t in times[(c, w, "torch")]]))
            print(f"{c:<6}{w:>8}{a:>14.3f}{b:>10.3f}{a / b:>8.2f}{base / a:>17.2f}")
    save_run(args.out, args.label, dict(repeats=repeats, spin_iterations_for_2ms=spin, rows=rows),
        benchmark="DataLoader epoch wall time with num_workers 0/1/2, tensorgrad vs PyTorch CPU",
        method="seconds per epoch (iterator creation, worker start-up and every batch), median over repeats, the two "
               "libraries alternating first on the same dataset object; ratio = tensorgrad / torch",
        command="python benchmarks/bench_dataloader_workers.py --label " + args.label,
        torch_version=torch.__version__, numpy_version=np.__version__)


if __name__ == "__main__":
    main()
