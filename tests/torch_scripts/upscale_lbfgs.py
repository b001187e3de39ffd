"""Two small jobs in the style of public PyTorch code, for the swap-in corpus:

1. An ESPCN-style super-resolution net (reflection padding, PReLU, a sub-pixel PixelShuffle head) trained with Adam
   to upscale 8x8 patches 2x, against a bicubic F.interpolate baseline; the skip connection is written in place
   into a slice of the head's output (a view), as such code often does.
2. A physics-informed fit of u' = -u, u(0) = 1 on [0, 2] by a tanh MLP trained with L-BFGS and a strong-Wolfe line
   search, in float64 (the derivative of the net comes from autograd.grad with create_graph=True).

Weights and data come from NumPy, so both runs start from the same numbers.
"""
import argparse

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

parser = argparse.ArgumentParser()
parser.add_argument("--sr-steps", type=int, default=30)
parser.add_argument("--lbfgs-steps", type=int, default=3)
args = parser.parse_args()
rng = np.random.default_rng(0)


def load(module):
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.tensor(rng.standard_normal(tuple(p.shape)) * (0.3 if p.dim() > 1 else 0.1), dtype=p.dtype))


class ESPCN(nn.Module):
    def __init__(self, scale=2, width=16):
        super().__init__()
        self.body = nn.Sequential(nn.ReflectionPad2d(2), nn.Conv2d(1, width, 5), nn.PReLU(width),
                                  nn.ReflectionPad2d(1), nn.Conv2d(width, scale * scale, 3))
        self.shuffle = nn.PixelShuffle(scale)

    def forward(self, x):
        up = F.interpolate(x, scale_factor=2, mode="bicubic", align_corners=False)
        out = self.shuffle(self.body(x))
        out[:, :1] += up  # the skip written into a view of the head's output
        return out


def smooth_images(n, size):
    yy, xx = np.meshgrid(np.linspace(0, 1, size), np.linspace(0, 1, size), indexing="ij")
    imgs = [np.sin(rng.uniform(1, 4) * xx + rng.uniform(0, 3)) * np.cos(rng.uniform(1, 4) * yy) for _ in range(n)]
    return np.stack(imgs)[:, None].astype(np.float32)


hi = torch.tensor(smooth_images(16, 16))
lo = F.avg_pool2d(hi, 2)
model = ESPCN()
load(model)
opt = torch.optim.Adam(model.parameters(), lr=3e-3)
baseline = F.mse_loss(F.interpolate(lo, size=(16, 16), mode="bicubic", align_corners=False), hi).item()
print(f"bicubic baseline mse {baseline:.5f}")
for step in range(args.sr_steps):
    loss = F.mse_loss(model(lo), hi)
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % 10 == 0 or step == args.sr_steps - 1:
        print(f"sr step {step} mse {loss.item():.5f}")

net = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 1)).double()
load(net)
t = torch.linspace(0, 2, 41, dtype=torch.float64).unsqueeze(1).requires_grad_(True)
lbfgs = torch.optim.LBFGS(net.parameters(), lr=1, max_iter=20, history_size=10, line_search_fn="strong_wolfe")


def closure():
    lbfgs.zero_grad()
    u = net(t)
    du = torch.autograd.grad(u.sum(), t, create_graph=True)[0]
    residual = ((du + u) ** 2).mean()
    boundary = (net(torch.zeros(1, 1, dtype=torch.float64)) - 1).pow(2).sum()
    loss = residual + boundary
    loss.backward()
    return loss


for step in range(args.lbfgs_steps):
    loss = lbfgs.step(closure)
    print(f"lbfgs step {step} loss {loss.item():.6e} evals {lbfgs.state[next(net.parameters())]['func_evals']}")
with torch.no_grad():
    u2 = net(torch.tensor([[2.0]], dtype=torch.float64)).item()
print(f"u(2) {u2:.5f} exact {np.exp(-2.0):.5f}")
