"""CNN building blocks on the CPU, tensorgrad vs PyTorch side by side in one process: forward + backward of
conv2d (3x3, strided, depthwise), max/avg pooling, batch norm, and one training step of a LeNet-style net.

Why: the GPT's ops have fused kernels (bench_kernels_cpu.py); these are composites (im2col + one GEMM per conv,
strided-slice pools) and this shows what that costs against PyTorch's oneDNN kernels.

    python benchmarks/bench_conv_cpu.py [--threads 2] [--reps 10]

Writes benchmarks/results/conv_cpu.json (machine, commit, ms per call of each side, ratio = ours / torch).
"""
import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import tensorgrad as tg  # noqa: E402
from tensorgrad.provenance import write_result  # noqa: E402
from tensorgrad.backend.host import set_num_threads  # noqa: E402


def best_ms(fn, reps, rounds=3):
    """Best of a few rounds of the mean over reps calls: the least disturbed estimate on a shared machine."""
    fn()
    out = []
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(reps):
            fn()
        out.append((time.perf_counter() - t) / reps * 1e3)
    return min(out)


def fwd_bwd(lib, f, arrays):
    """A callable running f on fresh leaves of lib made from arrays, then backward of the sum of its output."""
    def run():
        xs = [lib.tensor(a, requires_grad=True) for a in arrays]
        y = f(*xs)
        y.backward(lib.ones_like(y))
    return run


def cases(rng):
    F, tF = tg.nn.functional, torch.nn.functional

    def arr(*shape, scale=1.0):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    yield ("conv2d 3x3 pad 1, (16, 32, 32, 32) -> 64", [arr(16, 32, 32, 32), arr(64, 32, 3, 3, scale=0.1)],
           lambda x, w: F.conv2d(x, w, padding=1), lambda x, w: tF.conv2d(x, w, padding=1))
    yield ("conv2d 3x3 stride 2, (16, 64, 32, 32) -> 128", [arr(16, 64, 32, 32), arr(128, 64, 3, 3, scale=0.05)],
           lambda x, w: F.conv2d(x, w, stride=2, padding=1), lambda x, w: tF.conv2d(x, w, stride=2, padding=1))
    yield ("conv2d depthwise 3x3, (16, 64, 16, 16)", [arr(16, 64, 16, 16), arr(64, 1, 3, 3, scale=0.3)],
           lambda x, w: F.conv2d(x, w, padding=1, groups=64), lambda x, w: tF.conv2d(x, w, padding=1, groups=64))
    yield ("max_pool2d 2x2, (16, 64, 32, 32)", [arr(16, 64, 32, 32)],
           lambda x: F.max_pool2d(x, 2), lambda x: tF.max_pool2d(x, 2))
    yield ("avg_pool2d 3x3 stride 2 pad 1, (16, 64, 32, 32)", [arr(16, 64, 32, 32)],
           lambda x: F.avg_pool2d(x, 3, 2, 1), lambda x: tF.avg_pool2d(x, 3, 2, 1))
    yield ("batch_norm training, (16, 64, 32, 32)", [arr(16, 64, 32, 32), arr(64), arr(64)],
           lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
           lambda x, w, b: tF.batch_norm(x, None, None, w, b, training=True))


def lenet_step(lib, x, y, seed=0):
    """One SGD step of a LeNet-style net (conv-pool-conv-pool-fc-fc-fc) on (N, 1, 28, 28)."""
    nn = lib.nn
    lib.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                        nn.Linear(84, 10))
    opt = lib.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    xt, yt = lib.tensor(x), lib.tensor(y)

    def step():
        loss = nn.functional.cross_entropy(net(xt), yt)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--out", default=os.path.join(HERE, "results", "conv_cpu.json"))
    args = ap.parse_args()
    set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    rows = []
    for name, arrays, ours, theirs in cases(rng):
        a = best_ms(fwd_bwd(tg, ours, arrays), args.reps)
        b = best_ms(fwd_bwd(torch, theirs, [x.copy() for x in arrays]), args.reps)
        rows.append(dict(case=name + " fwd+bwd", ours_ms=round(a, 3), torch_ms=round(b, 3), ratio=round(a / b, 2)))
        print(f"{rows[-1]['case']:<58}{a:>9.2f}{b:>9.2f}  {a / b:.2f}x", flush=True)
    x = rng.standard_normal((64, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, 64)
    a, b = best_ms(lenet_step(tg, x, y), args.reps), best_ms(lenet_step(torch, x, y), args.reps)
    rows.append(dict(case="LeNet-style SGD step, batch 64", ours_ms=round(a, 3), torch_ms=round(b, 3),
                     ratio=round(a / b, 2)))
    print(f"{rows[-1]['case']:<58}{a:>9.2f}{b:>9.2f}  {a / b:.2f}x")
    write_result(args.out, dict(benchmark="bench_conv_cpu", threads=args.threads, reps=args.reps,
                                method="ms per call: best of 3 rounds of the mean over reps; ratio = ours_ms / torch_ms",
                                versions=dict(numpy=np.__version__, torch=torch.__version__), rows=rows),
                 device="cpu")


if __name__ == "__main__":
    main()
