"""Seed example A: a 2-2-1 sigmoid net, one SGD step on the MSE loss L = 1/2 (y_hat - y)^2.

x = [0.50, 0.90], y = 1; W1 = [[0.15, 0.20], [0.25, 0.30]] (one row per hidden neuron), b1 = [0.35, 0.35],
W2 = [0.40, 0.45], b2 = 0.60; biases held fixed; eta = 0.5.

The deltas of the text are gradients w.r.t. pre-activations: delta_o = dL/dz_o, delta_h = dL/dz_h (read with
retain_grad). Run: python examples/seed_a_221_sigmoid_net.py
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tensorgrad as tg  # noqa: E402

ETA = 0.5


def forward(x, y, W1, b1, W2, b2):
    z_h = W1 @ x + b1           # (2,)
    a = z_h.sigmoid()
    z_o = (W2 * a).sum() + b2   # scalar
    y_hat = z_o.sigmoid()
    loss = 0.5 * (y_hat - y) ** 2
    return z_h, a, z_o, y_hat, loss


def run():
    """Forward, backward, one SGD step; returns the exact float64 values."""
    f64 = tg.float64
    x = tg.tensor([0.50, 0.90], dtype=f64)
    y = tg.tensor(1.0, dtype=f64)
    W1 = tg.tensor([[0.15, 0.20], [0.25, 0.30]], dtype=f64, requires_grad=True)
    b1 = tg.tensor([0.35, 0.35], dtype=f64)  # fixed: no requires_grad
    W2 = tg.tensor([0.40, 0.45], dtype=f64, requires_grad=True)
    b2 = tg.tensor(0.60, dtype=f64)

    z_h, a, z_o, y_hat, loss = forward(x, y, W1, b1, W2, b2)
    z_h.retain_grad()
    z_o.retain_grad()
    loss.backward()
    out = {
        "a": a.detach().tolist(),
        "y_hat": y_hat.item(),
        "L": loss.item(),
        "delta_o": z_o.grad.item(),
        "dL_dW2": W2.grad.tolist(),
        "delta_h": z_h.grad.tolist(),
        "dL_dW1": W1.grad.reshape(-1).tolist(),  # row-major
    }
    with tg.no_grad():  # the step comes after backward, outside the graph
        W1 -= ETA * W1.grad
        W2 -= ETA * W2.grad
        _, _, _, y_hat2, loss2 = forward(x, y, W1, b1, W2, b2)
    out["y_hat_after"] = y_hat2.item()
    out["L_after"] = loss2.item()
    return out


def _vec(v, digits=3):
    return "[" + ", ".join(f"{e:.{digits}f}" for e in v) + "]"


def main():
    r = run()
    print(f"a = {_vec(r['a'])}")
    print(f"y_hat = {r['y_hat']:.3f}")
    print(f"L = {r['L']:.3f}")
    print(f"delta_o = {r['delta_o']:.3f}")
    print(f"dL/dW2 = {_vec(r['dL_dW2'])}")
    print(f"delta_h = {_vec(r['delta_h'])}")
    print(f"dL/dW1 = {_vec(r['dL_dW1'])}")
    print(f"after one SGD step (eta = {ETA}): y_hat = {r['y_hat_after']:.3f}, L = {r['L_after']:.3f}")
    return r


if __name__ == "__main__":
    main()
