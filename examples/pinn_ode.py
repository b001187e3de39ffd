"""A physics-informed neural network (Raissi et al. 2019) solving u'(x) = -u(x), u(0) = 1 on [0, 1] (u = exp(-x)).

    python examples/pinn_ode.py [--steps 2000]

The net u(x) = MLP 1 -> 20 -> 20 -> 1 (tanh) never sees the solution. Its loss is the ODE's residual at 64
collocation points plus the initial condition:
    L = mean_i (u'(x_i) + u(x_i))^2 + (u(0) - 1)^2,
where u'(x_i) comes from autograd itself: tensorgrad.autograd.grad(u, x, ones, create_graph=True) -- a backward
pass w.r.t. the *input*, recorded as a graph so that L.backward() can differentiate the derivative w.r.t. the
weights (backprop through backprop). Adam, lr 1e-2 then 1e-3 for the last quarter of the steps.

Prints the loss as it trains and the max error against exp(-x) on a fine grid. run(lib) runs on tensorgrad or on
torch (the test compares them step by step in float64).
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # tiny matrices: one BLAS thread
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402

import tensorgrad as tg  # noqa: E402


def init_weights(seed=0, hidden=20):
    rng = np.random.default_rng(seed)
    ws = []
    for o, i in [(hidden, 1), (hidden, hidden), (1, hidden)]:
        std = np.sqrt(2.0 / (i + o))  # Glorot normal, the usual PINN init
        ws += [rng.standard_normal((o, i)) * std, np.zeros(o)]
    return ws


def u_net(lib, p, x):
    F = lib.nn.functional
    h = F.linear(x, p[0], p[1]).tanh()
    h = F.linear(h, p[2], p[3]).tanh()
    return F.linear(h, p[4], p[5])


def pinn_loss(lib, p, x, x0):
    u = u_net(lib, p, x)
    (du,) = lib.autograd.grad(u, x, grad_outputs=lib.ones_like(u), create_graph=True)
    residual = ((du + u) ** 2).mean()
    ic = ((u_net(lib, p, x0) - 1.0) ** 2).sum()
    return residual + ic, residual, ic


def run(lib=tg, steps=2000, seed=0, n_points=64, log_every=0, dtype="float64"):
    dt = getattr(lib, dtype)
    ps = [lib.tensor(w, dtype=dt, requires_grad=True) for w in init_weights(seed)]
    x = lib.tensor(np.linspace(0, 1, n_points).reshape(-1, 1), dtype=dt, requires_grad=True)
    x0 = lib.tensor([[0.0]], dtype=dt)
    opt = lib.optim.Adam(ps, lr=1e-2)
    losses = []
    for step in range(steps):
        if step == (3 * steps) // 4:
            for g in opt.param_groups:
                g["lr"] = 1e-3
        loss, res, ic = pinn_loss(lib, ps, x, x0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.item()))
        if log_every and (step % log_every == 0 or step == steps - 1):
            print(f"  step {step:5d}  loss {losses[-1]:.3e}  (residual {res.item():.3e}, u(0) term {ic.item():.3e})")
    grid = np.linspace(0, 1, 201).reshape(-1, 1)
    with lib.no_grad():
        u = u_net(lib, ps, lib.tensor(grid, dtype=dt)).numpy().ravel()
    err = np.abs(u - np.exp(-grid.ravel()))
    return {"losses": losses, "u": u, "max_error": float(err.max()), "u_at_1": float(u[-1]),
            "weights": [p.detach().numpy().copy() for p in ps]}


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=2000)
    args = ap.parse_args(argv)
    print(f"PINN for u' = -u, u(0) = 1 on [0, 1]: MLP 1-20-20-1 tanh, 64 collocation points, {args.steps} Adam steps")
    r = run(steps=args.steps, log_every=max(1, args.steps // 8))
    print(f"u(1) = {r['u_at_1']:.6f} (exact exp(-1) = {np.exp(-1):.6f}); "
          f"max |u - exp(-x)| on 201 points = {r['max_error']:.2e}")
    return r


if __name__ == "__main__":
    main()
