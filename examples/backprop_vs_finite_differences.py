"""Why backprop: gradient cost by backprop vs by central finite differences as the parameter count grows.

    python examples/backprop_vs_finite_differences.py [--quick] [--no-json]

Central finite differences need two forward passes per parameter (dL/dθ_i ≈ (L(θ+εe_i) − L(θ−εe_i)) / 2ε),
so their cost grows linearly with the number of parameters P. Backprop gets all P partial derivatives from
one forward (recording the tape) plus one backward, whose cost is a small constant times a forward.

Part 1 times both on MLPs 8 -> w -> w -> 1 (tanh, MSE, float64, batch 32) from ~10 to ~20,000 parameters
and checks that both give the same gradient. Part 2 measures the backward/forward time ratio of one
training step of a small GPT (tensorgrad.models.gpt) -- or of a deep MLP if that model is not available.
Prints tables, plots to benchmarks/results/backprop_vs_fd.png and writes benchmarks/results/backprop_vs_fd.json
(with machine and commit). The functions below are importable so tests can run a tiny version.
"""
import argparse
import json
import os
import sys
import time

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, ROOT)
# One BLAS/OpenMP thread (unless you set these): the matrices here are small, and OpenBLAS's threads only add
# noise -- on a busy 2-core machine a 32x136 @ 136x136 GEMM went from 0.4 ms to 40 ms -- to a measurement of
# how the *number* of passes scales. Takes effect only when this file is run as a script (before numpy loads).
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402

import tensorgrad as tg  # noqa: E402

N_IN, BATCH = 8, 32


# ------------------------------------------------------------------------------------------- the model
def make_mlp(width, n_in=N_IN, seed=0, dtype=tg.float64):
    """Leaf tensors [W1, b1, W2, b2, W3, b3] of an MLP n_in -> width -> width -> 1."""
    rng = np.random.default_rng(seed)
    shapes = [(width, n_in), (width,), (width, width), (width,), (1, width), (1,)]
    params = []
    for s in shapes:
        fan_in = s[1] if len(s) == 2 else 1
        params.append(tg.tensor(rng.standard_normal(s) / np.sqrt(fan_in), dtype=dtype, requires_grad=True))
    return params


def make_data(n_in=N_IN, batch=BATCH, seed=1, dtype=tg.float64):
    rng = np.random.default_rng(seed)
    return tg.tensor(rng.standard_normal((batch, n_in)), dtype=dtype), tg.tensor(rng.standard_normal((batch, 1)), dtype=dtype)


def mlp_loss(params, X, Y):
    W1, b1, W2, b2, W3, b3 = params
    h = (X @ W1.T + b1).tanh()
    h = (h @ W2.T + b2).tanh()
    d = h @ W3.T + b3 - Y
    return (d * d).mean()


def num_params(params):
    return sum(p.numel() for p in params)


# ------------------------------------------------------------------------------------------- two ways to a gradient
def backprop_grads(loss_fn, params):
    """All partial derivatives from one forward (taping) + one backward. Returns numpy arrays."""
    for p in params:
        p.grad = None
    loss_fn(params).backward()
    return [np.array(p.grad.array) for p in params]


def fd_grads(loss_fn, params, eps=1e-6):
    """Central differences, one parameter element at a time: 2 forwards (no tape) per element."""
    out = []
    with tg.no_grad():
        for p in params:
            flat = p.array.reshape(-1)  # a view: perturb in place
            g = np.zeros(flat.size)
            for j in range(flat.size):
                orig = flat[j]
                flat[j] = orig + eps
                fp = loss_fn(params).item()
                flat[j] = orig - eps
                fm = loss_fn(params).item()
                flat[j] = orig
                g[j] = (fp - fm) / (2 * eps)
            out.append(g.reshape(p.shape))
    return out


def _median_time(fn, repeats):
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def compare(width, repeats=5, eps=1e-6, seed=0):
    """One row: parameter count, forward/backprop/FD seconds, FD/backprop ratio, max |FD − backprop|."""
    params = make_mlp(width, seed=seed)
    X, Y = make_data()

    def loss_fn(ps):
        return mlp_loss(ps, X, Y)

    def fwd():
        with tg.no_grad():
            loss_fn(params).item()

    t_fwd = _median_time(fwd, max(repeats, 5))
    t_bp = _median_time(lambda: backprop_grads(loss_fn, params), repeats)
    g_bp = backprop_grads(loss_fn, params)
    t0 = time.perf_counter()
    g_fd = fd_grads(loss_fn, params, eps)
    t_fd = time.perf_counter() - t0
    err = max(float(np.abs(a - b).max()) for a, b in zip(g_bp, g_fd))
    scale = max(float(np.abs(a).max()) for a in g_bp)
    P = num_params(params)
    return dict(width=width, params=P, forward_s=t_fwd, backprop_s=t_bp, fd_s=t_fd, fd_forwards=2 * P,
                fd_over_backprop=t_fd / t_bp, backprop_over_forward=t_bp / t_fwd, max_abs_diff=err,
                max_abs_grad=scale)


# ------------------------------------------------------------------------------------------- backward / forward
def backward_forward_ratio(steps=10, warmup=2, use_gpt=True, seed=0, gpt=(4, 4, 128, 64, 8)):
    """Median forward (taping, loss included) and backward times of one training step, and their ratio.

    Uses a small GPT (tensorgrad.models.gpt; gpt = (n_layer, n_head, n_embd, block_size, batch)) if importable
    and use_gpt, else a 16-layer MLP (width 256)."""
    tg.manual_seed(seed)
    model_desc = None
    if use_gpt:
        try:
            from tensorgrad.models.gpt import GPT, GPTConfig
        except ImportError:
            GPT = None
        if GPT is not None:
            n_layer, n_head, n_embd, block, batch = gpt
            cfg = GPTConfig(block_size=block, vocab_size=65, n_layer=n_layer, n_head=n_head, n_embd=n_embd,
                            dropout=0.0)
            model = GPT(cfg)
            rng = np.random.default_rng(seed)
            idx = tg.tensor(rng.integers(0, cfg.vocab_size, (batch, block)), dtype=tg.int64)
            tgt = tg.tensor(rng.integers(0, cfg.vocab_size, (batch, block)), dtype=tg.int64)

            def forward():
                return model(idx, tgt)[1]
            n = sum(p.numel() for p in model.parameters())
            model_desc = (f"GPT n_layer={n_layer} n_head={n_head} n_embd={n_embd} block_size={block} vocab=65, "
                          f"batch {batch}x{block} tokens, float32, {n} params")
    if model_desc is None:
        from tensorgrad import nn
        import tensorgrad.nn.functional as F
        layers = []
        for _ in range(16):
            layers += [nn.Linear(256, 256), nn.ReLU()]
        model = nn.Sequential(*layers, nn.Linear(256, 10))
        x = tg.randn(128, 256)
        y = tg.tensor(np.random.default_rng(seed).integers(0, 10, 128), dtype=tg.int64)

        def forward():
            return F.cross_entropy(model(x), y)
        n = sum(p.numel() for p in model.parameters())
        model_desc = f"MLP 16x Linear(256,256)+ReLU, batch 128, float32, {n} params (GPT not available)"
    fwd, bwd = [], []
    for i in range(warmup + steps):
        for p in model.parameters():
            p.grad = None
        t0 = time.perf_counter()
        loss = forward()
        loss.item()
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        if i >= warmup:
            fwd.append(t1 - t0)
            bwd.append(t2 - t1)
    f, b = float(np.median(fwd)), float(np.median(bwd))
    return dict(model=model_desc, forward_s=f, backward_s=b, backward_over_forward=b / f, steps=steps)


# ------------------------------------------------------------------------------------------- report
def format_table(rows):
    head = (f"{'params':>8}  {'forward':>9}  {'backprop':>9}  {'FD (2P fwd)':>11}  {'FD/backprop':>11}  "
            f"{'bp/fwd':>6}  {'max|FD-bp|':>10}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['params']:>8}  {r['forward_s'] * 1e3:>7.3f}ms  {r['backprop_s'] * 1e3:>7.3f}ms  "
                     f"{r['fd_s']:>10.3f}s  {r['fd_over_backprop']:>10.0f}x  {r['backprop_over_forward']:>6.2f}  "
                     f"{r['max_abs_diff']:>10.2e}")
    return "\n".join(lines)


def plot(rows, path):
    from matplotlib.figure import Figure
    P = np.array([r["params"] for r in rows], dtype=float)
    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    ax.loglog(P, [r["fd_s"] for r in rows], "o-", label="central finite differences (2P forwards)")
    ax.loglog(P, [r["backprop_s"] for r in rows], "s-", label="backprop (1 forward + 1 backward)")
    ax.loglog(P, [r["forward_s"] for r in rows], "^--", color="gray", label="one forward (no tape)")
    ax.set_xlabel("number of parameters P")
    ax.set_ylabel("seconds per full gradient")
    ax.set_title("Gradient cost: finite differences grow ~P, backprop stays ~constant")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def _machine():
    from tensorgrad.provenance import provenance
    p = provenance()
    return dict(p["machine"], commit=p["commit"], dirty=p["dirty"], device="cpu")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widths", type=int, nargs="*", default=[1, 4, 16, 48, 96, 136])
    ap.add_argument("--quick", action="store_true", help="small sizes only (seconds)")
    ap.add_argument("--no-json", action="store_true", help="do not write benchmarks/results/")
    ap.add_argument("--out-dir", default=os.path.join(ROOT, "benchmarks", "results"))
    args = ap.parse_args(argv)
    widths = [1, 4, 16] if args.quick else args.widths

    rows = []
    for w in widths:
        rows.append(compare(w))
    print("Gradient of an MLP 8->w->w->1 (tanh, MSE, float64, batch 32): backprop vs central finite differences")
    print(format_table(rows))
    ratio = (backward_forward_ratio(steps=3, gpt=(2, 2, 32, 16, 2)) if args.quick
             else backward_forward_ratio(steps=20, warmup=3))
    print(f"\nOne training step of {ratio['model']}:\n  forward {ratio['forward_s'] * 1e3:.1f} ms, backward "
          f"{ratio['backward_s'] * 1e3:.1f} ms, backward/forward = {ratio['backward_over_forward']:.2f}")
    if not args.no_json:
        os.makedirs(args.out_dir, exist_ok=True)
        png = plot(rows, os.path.join(args.out_dir, "backprop_vs_fd.png"))
        res = dict(benchmark="backprop_vs_finite_differences", machine=_machine(),
                   mlp="8->w->w->1 tanh, MSE, float64, batch 32; FD eps=1e-6 central; times are medians "
                       "(FD: one full pass)", rows=rows, backward_forward=ratio,
                   plot=os.path.relpath(png, ROOT))
        path = os.path.join(args.out_dir, "backprop_vs_fd.json")
        with open(path, "w") as f:
            json.dump(res, f, indent=2)
        print(f"\nwrote {path} and {png}")


if __name__ == "__main__":
    main()
