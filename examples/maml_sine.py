"""MAML (Finn et al. 2017) on sine regression: second-order meta-gradients through an inner SGD step.

    python examples/maml_sine.py [--meta-steps 300]

A task is y = A sin(x - phi), A ~ U[0.1, 5], phi ~ U[0, pi], x ~ U[-5, 5]. The model is an MLP 1 -> 40 -> 40 -> 1
(ReLU) written functionally, so the adapted weights theta' = theta - alpha grad L_support(theta) can be plugged
back in. The inner gradient is taken with create_graph=True, so the meta-loss L_query(theta') differentiates
through it: d theta'/d theta = I - alpha H (the Hessian of the support loss) -- full second-order MAML, not the
first-order approximation. Meta-optimizer Adam (lr 1e-2, above the paper's 1e-3 so that a few hundred meta-steps
show progress), 5 tasks per meta-batch, 10 support / 10 query points, one inner step with alpha = 0.01.

Prints the meta-training query loss and, on held-out tasks, the loss before and after one adaptation step from
the meta-learned initialisation. run(lib) runs on tensorgrad or on torch (the test compares them in float64).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

import tensorgrad as tg  # noqa: E402


def init_weights(rng, hidden=40):
    sizes = [(hidden, 1), (hidden, hidden), (1, hidden)]
    ws = []
    for o, i in sizes:
        bound = 1 / np.sqrt(i)
        ws += [rng.uniform(-bound, bound, (o, i)), rng.uniform(-bound, bound, (o,))]
    return ws


def sample_task(rng, k):
    A, phi = rng.uniform(0.1, 5.0), rng.uniform(0, np.pi)
    xs = rng.uniform(-5, 5, (2 * k, 1))
    ys = A * np.sin(xs - phi)
    return xs[:k], ys[:k], xs[k:], ys[k:]


def net(lib, p, x):
    F = lib.nn.functional
    h = F.linear(x, p[0], p[1]).relu()
    h = F.linear(h, p[2], p[3]).relu()
    return F.linear(h, p[4], p[5])


def mse(a, b):
    return ((a - b) ** 2).mean()


def adapt(lib, ps, xs, ys, alpha, create_graph):
    """One inner SGD step; with create_graph the step is part of the graph (second-order MAML)."""
    gs = lib.autograd.grad(mse(net(lib, ps, xs), ys), ps, create_graph=create_graph)
    return [p - alpha * g for p, g in zip(ps, gs)]


def run(lib=tg, meta_steps=300, seed=0, tasks=5, k=10, alpha=0.01, meta_lr=1e-2, hidden=40, log_every=0,
        dtype="float64", n_eval=20):
    rng = np.random.default_rng(seed)
    dt = getattr(lib, dtype)
    ps = [lib.tensor(w, dtype=dt, requires_grad=True) for w in init_weights(rng, hidden)]
    opt = lib.optim.Adam(ps, lr=meta_lr)
    T = lambda a: lib.tensor(a, dtype=dt)  # noqa: E731
    meta_losses = []
    for step in range(meta_steps):
        opt.zero_grad()
        total = 0.0
        for _ in range(tasks):
            xs, ys, xq, yq = (T(a) for a in sample_task(rng, k))
            fast = adapt(lib, ps, xs, ys, alpha, create_graph=True)
            lq = mse(net(lib, fast, xq), yq) / tasks
            lq.backward()                 # through the inner step: Hessian-vector products of the support loss
            total += float(lq.item())
        opt.step()
        meta_losses.append(total)
        if log_every and (step % log_every == 0 or step == meta_steps - 1):
            print(f"  meta-step {step:4d}  query loss after adaptation {total:.4f}")
    # held-out tasks: loss of the meta-learned init before / after one adaptation step
    ev = np.random.default_rng(seed + 1)
    before, after = [], []
    for _ in range(n_eval):
        xs, ys, xq, yq = (T(a) for a in sample_task(ev, k))
        before.append(float(mse(net(lib, ps, xq), yq).item()))
        fast = adapt(lib, ps, xs, ys, alpha, create_graph=False)
        after.append(float(mse(net(lib, fast, xq), yq).item()))
    return {"meta_losses": meta_losses, "eval_before": float(np.mean(before)), "eval_after": float(np.mean(after)),
            "weights": [p.detach().numpy().copy() for p in ps]}


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--meta-steps", type=int, default=300)
    args = ap.parse_args(argv)
    print(f"MAML on sine regression: {args.meta_steps} meta-steps, 5 tasks each, 1 inner step (alpha 0.01), "
          "second-order")
    r = run(meta_steps=args.meta_steps, log_every=max(1, args.meta_steps // 6))
    first = np.mean(r["meta_losses"][:20])
    last = np.mean(r["meta_losses"][-20:])
    print(f"meta-training query loss (mean of 20 meta-steps): first {first:.4f} -> last {last:.4f}")
    print(f"held-out tasks, query MSE: before adaptation {r['eval_before']:.4f}, "
          f"after one step {r['eval_after']:.4f}")
    return r


if __name__ == "__main__":
    main()
