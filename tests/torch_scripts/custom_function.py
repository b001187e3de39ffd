"""Custom autograd Functions as public PyTorch code writes them -- a straight-through quantizer, a gradient reversal
layer, a memory-saving Swish that recomputes in backward, a two-output Function, an in-place op with mark_dirty --
in a small domain-adversarial regression trained with SGD; weights and data from NumPy.

usage: python custom_function.py [--steps N]
"""
import argparse
import warnings

import numpy as np
import torch
import torch.nn as nn
from torch.autograd import Function
from torch.autograd.function import once_differentiable


class RoundSTE(Function):
    """Quantize to a grid in forward; pass the gradient straight through."""
    @staticmethod
    def forward(ctx, x, step):
        return torch.round(x / step) * step

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output, None


class GradReverse(Function):
    @staticmethod
    def forward(ctx, x, lambd):
        ctx.lambd = lambd
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output.neg() * ctx.lambd, None


class SwishMemoryEfficient(Function):
    """Saves only its input; the sigmoid is recomputed in backward."""
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * torch.sigmoid(x)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output):
        x, = ctx.saved_tensors
        s = torch.sigmoid(x)
        return grad_output * (s * (1 + x * (1 - s)))


class SplitScale(Function):
    """Two outputs: the first half scaled, the second half squared (setup_context style)."""
    @staticmethod
    def forward(x, scale):
        k = x.shape[1] // 2
        return x[:, :k] * scale, x[:, k:] ** 2

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, scale = inputs
        ctx.save_for_backward(x)
        ctx.scale = scale

    @staticmethod
    def backward(ctx, grad_a, grad_b):
        x, = ctx.saved_tensors
        k = x.shape[1] // 2
        return torch.cat([grad_a * ctx.scale, grad_b * 2 * x[:, k:]], dim=1), None


class InplaceClampMin(Function):
    @staticmethod
    def forward(ctx, x, lo):
        mask = x < lo
        x.clamp_(min=lo)
        ctx.mark_dirty(x)
        ctx.save_for_backward(mask)
        return x

    @staticmethod
    def backward(ctx, grad_output):
        mask, = ctx.saved_tensors
        return grad_output.masked_fill(mask, 0.0), None


class Net(nn.Module):
    def __init__(self, rng):
        super().__init__()
        self.feat = nn.Linear(6, 8)
        self.head = nn.Linear(8, 1)
        self.domain = nn.Linear(4, 2)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.from_numpy(rng.standard_normal(tuple(p.shape)).astype(np.float32) * 0.3))

    def forward(self, x, lambd):
        h = SwishMemoryEfficient.apply(self.feat(x))
        h = InplaceClampMin.apply(h * 1.0, -0.2)
        a, b = SplitScale.apply(h, 0.5)
        y = self.head(RoundSTE.apply(torch.cat([a, b], dim=1), 0.05))
        d = self.domain(GradReverse.apply(a + b, lambd))
        return y, d


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=12)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    model = Net(rng)
    x = torch.from_numpy(rng.standard_normal((32, 6)).astype(np.float32))
    y = torch.from_numpy(rng.standard_normal((32, 1)).astype(np.float32))
    dom = torch.from_numpy((rng.random(32) > 0.5).astype(np.int64))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for step in range(args.steps):
        pred, dlogits = model(x, lambd=0.3)
        loss = nn.functional.mse_loss(pred, y) + nn.functional.cross_entropy(dlogits, dom)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 3 == 0 or step == args.steps - 1:
            gnorm = sum(p.grad.pow(2).sum() for p in model.parameters()).sqrt()
            print(f"step {step} loss {loss.item():.5f} grad norm {gnorm.item():.5f}")

    xs = torch.linspace(-2, 2, 5, dtype=torch.float64, requires_grad=True)
    g, = torch.autograd.grad(SwishMemoryEfficient.apply(xs).sum(), xs)
    print("swish grad", [round(v, 5) for v in g.tolist()])
    q = RoundSTE.apply(xs, 0.5)
    print("quantized", q.tolist(), "grad_fn", type(q.grad_fn).__name__)
    a, b = SplitScale.apply(xs.reshape(1, 5).repeat(2, 1)[:, :4], 3.0)
    print("split", a.shape[1], b.shape[1], "needs grad", a.requires_grad, b.requires_grad)
    print("gradcheck", torch.autograd.gradcheck(SplitScale.apply, (torch.rand(3, 4, dtype=torch.float64,
                                                                               requires_grad=True), 2.0)))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # (instantiating one warns, as in torch)
            GradReverse()(xs, 1.0)
    except RuntimeError as e:
        print("legacy call refused:", "Legacy autograd function" in str(e))


if __name__ == "__main__":
    main()
