"""Backprop through backprop: the WGAN-GP gradient penalty, starting from seed example A's 2-2-1 sigmoid net.

    python examples/wgan_gp_gradient_penalty.py [--steps 200]

Part 1 (seed A, SEED_EXAMPLES.md). Take the toy net of example A as a critic D(x) = sigma(W2 . sigma(W1 x + b1) + b2)
at x = [0.50, 0.90]. Backprop gives dD/dx = W1^T delta_h: the same deltas as example A, with the loss replaced
by D itself (delta_o = sigma'(z_o) = y(1-y)). The gradient penalty P = (||dD/dx|| - 1)^2 is a function of that
*backward pass*, so its gradient dP/dW1 is obtained by backpropagating through backprop:
tensorgrad.autograd.grad(D, x, create_graph=True) records the backward pass as a graph, and P.backward() runs
backward over forward + backward. Checked against central finite differences of P (each P needs one first-order
backward), which is what the higher-order engine saves you from.

Part 2 (WGAN-GP, Gulrajani et al. 2017). A critic MLP 2 -> 32 -> 32 -> 1 (tanh) on 2-D data: real points on a ring,
fake points from a fixed Gaussian "generator"; each step the critic loss is
    D(fake).mean() - D(real).mean() + lambda * E[(||grad_x D(x_hat)|| - 1)^2],  x_hat = eps real + (1 - eps) fake,
and one Adam step. Prints the Wasserstein estimate and the penalty as the critic trains.

Everything is written once against PyTorch's API, so run(lib) runs on tensorgrad or on torch (the test compares them
in float64 with the same weights and data).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

import tensorgrad as tg  # noqa: E402

# seed example A
X_A = [0.50, 0.90]
W1_A = [[0.15, 0.20], [0.25, 0.30]]
B1_A = [0.35, 0.35]
W2_A = [[0.40, 0.45]]
B2_A = [0.60]


def seed_a_penalty(lib=tg):
    """Seed A's net as a critic: D, dD/dx (by backprop), the penalty P and dP/d(W1, b1, W2, b2) (backprop
    through backprop). Returns numpy values."""
    f64 = lib.float64
    x = lib.tensor([X_A], dtype=f64, requires_grad=True)
    W1, b1, W2, b2 = (lib.tensor(a, dtype=f64, requires_grad=True) for a in (W1_A, B1_A, W2_A, B2_A))
    a = (x @ W1.T + b1).sigmoid()
    y = (a @ W2.T + b2).sigmoid()
    (gx,) = lib.autograd.grad(y.sum(), x, create_graph=True)      # first backward, recorded as a graph
    P = ((gx.norm(2, dim=1) - 1) ** 2).sum()
    P.backward()                                                 # backward through forward + backward
    g = lambda t: t.detach().numpy().copy()  # noqa: E731
    return {"D": float(y.detach().sum().item()), "a": g(a)[0], "dD_dx": g(gx)[0], "P": float(P.item()),
            "dP_dW1": g(W1.grad), "dP_db1": g(b1.grad), "dP_dW2": g(W2.grad), "dP_db2": g(b2.grad)}


def seed_a_penalty_fd(h=1e-6):
    """dP/dW1 by central finite differences of P; every P costs one forward and one first-order backward."""
    def P_of(W1):
        x = tg.tensor([X_A], dtype=tg.float64, requires_grad=True)
        a = (x @ tg.tensor(W1).T + tg.tensor(B1_A, dtype=tg.float64)).sigmoid()
        y = (a @ tg.tensor(W2_A, dtype=tg.float64).T + tg.tensor(B2_A, dtype=tg.float64)).sigmoid()
        y.sum().backward()
        return (np.linalg.norm(x.grad.numpy()) - 1) ** 2
    W1 = np.array(W1_A, dtype=np.float64)
    out = np.zeros_like(W1)
    for i in np.ndindex(W1.shape):
        e = np.zeros_like(W1)
        e[i] = h
        out[i] = (P_of(W1 + e) - P_of(W1 - e)) / (2 * h)
    return out


# ---------------------------------------------------------------------------------------------- part 2
def make_problem(seed=0, n=64, hidden=32):
    """Critic weights (PyTorch's default Linear init, drawn with NumPy) and the per-step data; plain arrays."""
    rng = np.random.default_rng(seed)
    sizes = [(hidden, 2), (hidden, hidden), (1, hidden)]
    weights = []
    for o, i in sizes:
        bound = 1 / np.sqrt(i)
        weights += [rng.uniform(-bound, bound, (o, i)), rng.uniform(-bound, bound, (o,))]
    return {"weights": weights, "rng": rng, "n": n}


def draw_batch(rng, n):
    th = rng.uniform(0, 2 * np.pi, n)
    real = np.stack([2 * np.cos(th), 2 * np.sin(th)], 1) + 0.05 * rng.standard_normal((n, 2))
    fake = 0.7 * rng.standard_normal((n, 2)) + np.array([0.5, 0.0])
    eps = rng.random((n, 1))
    return real, fake, eps


def critic(lib, ps, x):
    F = lib.nn.functional
    h = F.linear(x, ps[0], ps[1]).tanh()
    h = F.linear(h, ps[2], ps[3]).tanh()
    return F.linear(h, ps[4], ps[5])


def gradient_penalty(lib, ps, real, fake, eps):
    """E[(||grad_x D(x_hat)|| - 1)^2] with the first backward recorded (create_graph=True)."""
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    out = critic(lib, ps, x_hat)
    (g,) = lib.autograd.grad(out, x_hat, grad_outputs=lib.ones_like(out), create_graph=True)
    return ((g.norm(2, dim=1) - 1) ** 2).mean()


def run(lib=tg, steps=200, seed=0, lam=10.0, lr=1e-3, log_every=0, dtype="float64"):
    """Train the critic `steps` Adam steps; returns per-step Wasserstein estimates, penalties and final weights."""
    prob = make_problem(seed)
    dt = getattr(lib, dtype)
    ps = [lib.tensor(w, dtype=dt, requires_grad=True) for w in prob["weights"]]
    opt = lib.optim.Adam(ps, lr=lr, betas=(0.5, 0.9))
    w_est, pens = [], []
    for step in range(steps):
        real, fake, eps = (lib.tensor(a, dtype=dt) for a in draw_batch(prob["rng"], prob["n"]))
        wd = critic(lib, ps, real).mean() - critic(lib, ps, fake).mean()
        gp = gradient_penalty(lib, ps, real, fake, eps)
        loss = -wd + lam * gp
        opt.zero_grad()
        loss.backward()
        opt.step()
        w_est.append(float(wd.item()))
        pens.append(float(gp.item()))
        if log_every and (step % log_every == 0 or step == steps - 1):
            print(f"  step {step:4d}  W estimate {w_est[-1]:8.4f}  penalty {pens[-1]:.4f}")
    return {"w_estimate": w_est, "penalty": pens, "weights": [p.detach().numpy().copy() for p in ps]}


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200)
    args = ap.parse_args(argv)
    r = seed_a_penalty()
    print("Part 1: seed example A's 2-2-1 net as a critic, x = [0.50, 0.90]")
    print(f"  D(x) = {r['D']:.6f}  hidden a = [{r['a'][0]:.6f}, {r['a'][1]:.6f}]  (seed A: 0.762033, [0.646799, 0.678088])")
    print(f"  dD/dx (backprop) = [{r['dD_dx'][0]:.6f}, {r['dD_dx'][1]:.6f}]")
    print(f"  penalty P = (||dD/dx|| - 1)^2 = {r['P']:.6f}")
    fd = seed_a_penalty_fd()
    print("  dP/dW1 by backprop through backprop:", np.array2string(r["dP_dW1"].ravel(), precision=8))
    print("  dP/dW1 by finite differences of P:   ", np.array2string(fd.ravel(), precision=8),
          f" max |diff| = {np.abs(fd - r['dP_dW1']).max():.1e}")
    print(f"Part 2: WGAN-GP critic on a ring vs a Gaussian, {args.steps} Adam steps (lambda = 10)")
    out = run(steps=args.steps, log_every=max(1, args.steps // 5))
    print(f"  W estimate {out['w_estimate'][0]:.4f} -> {out['w_estimate'][-1]:.4f}, "
          f"penalty {out['penalty'][0]:.4f} -> {out['penalty'][-1]:.4f}")
    return r, out


if __name__ == "__main__":
    main()
