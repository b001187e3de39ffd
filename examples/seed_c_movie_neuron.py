"""Seed example C: one sigmoid neuron rating a movie.

Features action = 8, comedy = 3; weights 0.7 (action) and 0.3 (comedy), bias -2 (held fixed):
prediction z = 4.5, sigma(4.5) ~ 0.989. Target 0, loss L = 1/2 (sigma - y)^2, so
dL/dw_action = sigma * sigma'(4.5) * 8 ~ 0.086 with sigma'(4.5) ~ 0.0109; one SGD step with eta = 0.1 moves the
weight to ~ 0.691. Run: python examples/seed_c_movie_neuron.py
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tensorgrad as tg  # noqa: E402

ETA = 0.1


def run():
    f64 = tg.float64
    features = tg.tensor([8.0, 3.0], dtype=f64)        # action, comedy
    w = tg.tensor([0.7, 0.3], dtype=f64, requires_grad=True)
    bias = tg.tensor(-2.0, dtype=f64)                   # fixed
    target = tg.tensor(0.0, dtype=f64)

    z = (w * features).sum() + bias
    s = z.sigmoid()
    loss = 0.5 * (s - target) ** 2
    (ds_dz,) = tg.autograd.grad(s, z, retain_graph=True)  # sigma'(4.5)
    loss.backward()
    grad_action = w.grad[0].item()
    with tg.no_grad():
        w -= ETA * w.grad
    return {"prediction": z.item(), "sigma": s.item(), "sigma_prime": ds_dz.item(), "L": loss.item(),
            "dL_dw_action": grad_action, "w_action_after": w[0].item(), "w_comedy_after": w[1].item()}


def main():
    r = run()
    print(f"prediction = {r['prediction']:.1f}")
    print(f"sigma(4.5) = {r['sigma']:.3f}")
    print(f"sigma'(4.5) = {r['sigma_prime']:.4f}")
    print(f"dL/dw_action = {r['dL_dw_action']:.3f}")
    print(f"w_action after one step (eta = {ETA}) = {r['w_action_after']:.3f}")
    return r


if __name__ == "__main__":
    main()
