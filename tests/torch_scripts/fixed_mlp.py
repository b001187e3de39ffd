"""A small PyTorch training script in the usual style, with fixed (seed-independent) weights, so that its printed
output is the same under real torch and under `python -m tensorgrad.compat` (tests/test_compat_alias.py).

usage: python fixed_mlp.py EPOCHS
"""
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.optim.lr_scheduler import StepLR
from torch.utils.data import DataLoader, TensorDataset
from torch.nn.parallel import DistributedDataParallel  # noqa: F401  (imported at the top, as DDP scripts do)


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3, 5)
        self.fc2 = nn.Linear(5, 3)
        self.fc1 = nn.Linear(3, 5)  # reassigned: keeps its place before fc2, as torch does

    def forward(self, x):
        return self.fc2(torch.tanh(self.fc1(x)))


def main():
    epochs = int(sys.argv[1])
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    dtype = torch.double
    print("device", "gpu" if device == "cuda" else "cpu", "bf16", torch.cuda.is_bf16_supported())

    model = MLP().to(dtype)
    with torch.no_grad():
        for i, (name, p) in enumerate(model.named_parameters()):
            p.copy_(torch.linspace(-0.5, 0.5, p.numel(), dtype=dtype).reshape(p.shape) * (i + 1))
    print("params", [name for name, _ in model.named_parameters()])

    x = torch.linspace(-1, 1, 24, dtype=dtype).reshape(8, 3)
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    loader = DataLoader(TensorDataset(x, y), batch_size=4, shuffle=False)
    opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    sched = StepLR(opt, step_size=2, gamma=0.5)
    for epoch in range(epochs):
        for xb, yb in loader:
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        print(f"epoch {epoch} loss {loss:.6f} lr {sched.get_last_lr()[0]:.4f}")

    for p in model.parameters():  # a manual SGD step through .data, as older scripts do
        p.data.add_(p.grad, alpha=-0.01)
    with torch.no_grad():
        out = model(x)
    print("out", f"{out.sum().item():.6f}", out.argmax(dim=1).tolist())
    print("grad norm", f"{torch.cat([p.grad.flatten() for p in model.parameters()]).norm():.6f}")
    print("state", list(model.state_dict()))
    shared = torch.from_numpy(np.arange(3.0))
    shared += 1
    print("from_numpy", shared.tolist(), torch.float is torch.float32, torch.long is torch.int64)


if __name__ == "__main__":
    main()
