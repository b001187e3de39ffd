"""Seed example B: y = sigmoid(w2 * relu(w1 * x + b1) + b2), loss L = -log(y) for target 1.

x = 2, w1 = 0.5, b1 = 0.1, w2 = 0.3, b2 = 0.2. The source text rounds intermediates: its L = 0.464 is
-log(0.629), i.e. -log of the rounded y; the exact float64 loss is 0.462856. Both are printed.
Run: python examples/seed_b_relu_sigmoid_chain.py
"""
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tensorgrad as tg  # noqa: E402


def run():
    """Forward and backward; returns the exact float64 values (every intermediate gradient via retain_grad)."""
    f64 = tg.float64
    x = tg.tensor(2.0, dtype=f64)
    w1 = tg.tensor(0.5, dtype=f64, requires_grad=True)
    b1 = tg.tensor(0.1, dtype=f64, requires_grad=True)
    w2 = tg.tensor(0.3, dtype=f64, requires_grad=True)
    b2 = tg.tensor(0.2, dtype=f64, requires_grad=True)

    z1 = w1 * x + b1
    h1 = z1.relu()
    z2 = w2 * h1 + b2
    y = z2.sigmoid()
    loss = -y.log()
    # Local derivative sigma'(z2), graph kept. Asked before retain_grad(): like torch, grad() also fills the
    # .grad of tensors that retain it, which would then add to the backward() below.
    (dy_dz2,) = tg.autograd.grad(y, z2, retain_graph=True)
    for t in (z1, h1, z2, y):
        t.retain_grad()
    loss.backward()
    return {
        "z1": z1.item(), "h1": h1.item(), "z2": z2.item(), "y": y.item(), "L": loss.item(),
        "dL_dy": y.grad.item(), "dy_dz2": dy_dz2.item(), "dL_dz2": z2.grad.item(),
        "dL_dw2": w2.grad.item(), "dL_db2": b2.grad.item(), "dL_dh1": h1.grad.item(), "dL_dz1": z1.grad.item(),
        "dL_dw1": w1.grad.item(), "dL_db1": b1.grad.item(),
    }


def main():
    r = run()
    y_rounded = round(r["y"], 3)
    print(f"z1 = {r['z1']:.1f}, h1 = {r['h1']:.1f}, z2 = {r['z2']:.2f}, y = {r['y']:.3f}")
    print(f"L = {-math.log(y_rounded):.3f} (text: -log of the rounded y = {y_rounded:.3f}); "
          f"exact L = {r['L']:.6f}")
    print(f"dL/dy = {r['dL_dy']:.2f}, dy/dz2 = {r['dy_dz2']:.3f}, dL/dz2 = {r['dL_dz2']:.3f}")
    print(f"dL/dw2 = {r['dL_dw2']:.3f}, dL/db2 = {r['dL_db2']:.3f}, dL/dh1 = {r['dL_dh1']:.3f}, "
          f"dL/dz1 = {r['dL_dz1']:.3f}")
    print(f"dL/dw1 = {r['dL_dw1']:.3f}, dL/db1 = {r['dL_db1']:.3f}")
    return r


if __name__ == "__main__":
    main()
