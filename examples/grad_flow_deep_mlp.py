"""Vanishing gradients, measured: a 100-layer sigmoid MLP vs a 100-layer ReLU MLP with residual connections.

    python examples/grad_flow_deep_mlp.py [--depth 100] [--width 32] [--out-dir DIR]

Both nets get the same data and the same PyTorch-default Linear initialisation; after one backward,
tensorgrad.diagnostics.grad_flow reports each layer's weight-gradient norm and a verdict.

* Sigmoid stack h <- σ(W h + b): each layer multiplies the backward signal by Wᵀ·σ'(z) with σ' <= 1/4, so the
  gradient shrinks geometrically with depth: the first layers get (almost) nothing. Verdict: vanishing.
* ReLU + residual h <- h + relu(W h + b): the identity path gives dL/dh_l = dL/dh_{l+1} (I + Wᵀ·relu'),
  so the gradient reaches the first layer undiminished. Verdict: healthy -- provided each residual branch
  starts small (weights scaled by 1/sqrt(depth), as GPT-2 scales its residual projections).
* The same residual net with the default init on every branch: the stream doubles every few blocks, so
  activations and gradients reach ~1e18. grad_flow's absolute threshold flags it: exploding.

Prints the three reports and writes DIR/grad_flow_{sigmoid,relu_residual,relu_residual_unscaled}.png
(default DIR: examples/output).
"""
import argparse
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import tensorgrad as tg  # noqa: E402
from tensorgrad import nn  # noqa: E402
import tensorgrad.nn.functional as F  # noqa: E402
from tensorgrad.diagnostics import grad_flow  # noqa: E402


class SigmoidMLP(nn.Module):
    """depth Linear+Sigmoid layers of the given width, then a Linear head to one output."""

    def __init__(self, width, depth):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(width, width) for _ in range(depth)])
        self.head = nn.Linear(width, 1)

    def forward(self, x):
        for lin in self.layers:
            x = lin(x).sigmoid()
        return self.head(x)


class ResidualReLUMLP(nn.Module):
    """depth residual blocks h + relu(Linear(h)), then a Linear head to one output.

    branch_scale multiplies each block's initial weights (and biases). With the default init (scale 1) every
    block adds about as much as the stream already holds, so the stream -- and with it the gradient --
    grows geometrically over 100 blocks (grad_flow says: exploding). Scaling the branch by 1/sqrt(depth),
    as GPT-2 does for its residual projections, keeps the sum of depth branches O(1): pass
    branch_scale=None for that (the default).
    """

    def __init__(self, width, depth, branch_scale=None):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(width, width) for _ in range(depth)])
        self.head = nn.Linear(width, 1)
        scale = 1.0 / math.sqrt(depth) if branch_scale is None else branch_scale
        with tg.no_grad():
            for lin in self.layers:
                lin.weight.mul_(scale)
                lin.bias.mul_(scale)

    def forward(self, x):
        for lin in self.layers:
            x = x + F.relu(lin(x))
        return self.head(x)


def measure(model_cls, width=32, depth=100, batch=64, seed=0, plot=None, title=None, **kw):
    """One forward + backward of an MSE regression on random data; returns grad_flow's report."""
    tg.manual_seed(seed)
    model = model_cls(width, depth, **kw)
    x = tg.randn(batch, width)
    y = tg.randn(batch, 1)
    loss = F.mse_loss(model(x), y)
    loss.backward()
    return grad_flow(model, plot=plot, title=title)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--depth", type=int, default=100)
    p.add_argument("--width", type=int, default=32)
    p.add_argument("--out-dir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "output"))
    args = p.parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    runs = [(SigmoidMLP, "sigmoid", {}, "sigmoid"),
            (ResidualReLUMLP, "relu_residual", {}, "ReLU + residual (branch init / sqrt(depth))"),
            (ResidualReLUMLP, "relu_residual_unscaled", {"branch_scale": 1.0},
             "ReLU + residual, default init (no branch scaling)")]
    for cls, tag, kw, what in runs:
        path = os.path.join(args.out_dir, f"grad_flow_{tag}.png")
        rep = measure(cls, args.width, args.depth, plot=path, title=f"{args.depth}-layer {what} MLP", **kw)
        print(f"== {args.depth}-layer {what} MLP (width {args.width}) ==")
        print(rep)
        print("plot:", path, "\n")

if __name__ == "__main__":
    main()
