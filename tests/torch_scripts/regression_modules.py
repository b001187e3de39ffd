"""Tabular regression with custom nn.Module subclasses: an input normalizer holding register_buffer statistics (one
non-persistent), residual blocks built from nn.Sequential inside an nn.ModuleList, torch.optim.Adam with
zero_grad(set_to_none=True), ReduceLROnPlateau on the validation loss, early best-model tracking through
copy.deepcopy(state_dict()), a state_dict round trip (torch.save / torch.load into a fresh model and optimizer,
load_state_dict strict), MSELoss and F.smooth_l1_loss. Data and weights from NumPy
(tests/test_swapin_corpus.py compares every printed number with real torch).

usage: python regression_modules.py OUT_DIR [--epochs N]
"""
import argparse
import copy
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class Normalizer(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))
        self.register_buffer("calls", torch.zeros((), dtype=torch.long), persistent=False)

    def forward(self, x):
        self.calls += 1
        return (x - self.mean) / self.std


class ResidualBlock(nn.Module):
    def __init__(self, width, hidden):
        super().__init__()
        self.net = nn.Sequential(
            nn.LayerNorm(width),
            nn.Linear(width, hidden),
            nn.SiLU(),
            nn.Linear(hidden, width),
        )

    def forward(self, x):
        return x + self.net(x)


class Regressor(nn.Module):
    def __init__(self, in_features, width=16, depth=3):
        super().__init__()
        self.norm = Normalizer(np.zeros(in_features), np.ones(in_features))
        self.stem = nn.Linear(in_features, width)
        self.blocks = nn.ModuleList([ResidualBlock(width, 2 * width) for _ in range(depth)])
        self.head = nn.Sequential(nn.Tanh(), nn.Linear(width, 1))

    def forward(self, x):
        x = self.stem(self.norm(x))
        for block in self.blocks:
            x = block(x)
        return self.head(x).squeeze(-1)


def init_(model, seed):
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.copy_(torch.from_numpy(rng.uniform(-0.05, 0.05, size=p.shape).astype(np.float32)))
            elif p.ndim == 1:   # LayerNorm gain
                p.fill_(1.0)
            else:
                p.copy_(torch.from_numpy((rng.standard_normal(p.shape) / np.sqrt(p.shape[1])).astype(np.float32)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out_dir")
    parser.add_argument("--epochs", type=int, default=12)
    args = parser.parse_args()

    rng = np.random.default_rng(2024)
    X = rng.normal(3.0, 2.0, size=(160, 5)).astype(np.float32)
    w_true = np.array([0.5, -1.0, 2.0, 0.0, 0.3], dtype=np.float32)
    y = (np.sin(X @ w_true / 3) + 0.05 * rng.standard_normal(160)).astype(np.float32)
    X_train, y_train = torch.from_numpy(X[:128]), torch.from_numpy(y[:128])
    X_val, y_val = torch.from_numpy(X[128:]), torch.from_numpy(y[128:])

    model = Regressor(5)
    init_(model, 0)
    model.norm.mean.copy_(X_train.mean(dim=0))
    model.norm.std.copy_(X_train.std(dim=0))
    print("state keys", list(model.state_dict().keys())[:6], len(model.state_dict()))
    print("buffers", [n for n, _ in model.named_buffers()])
    print("modules", len(list(model.modules())), type(model.blocks[1].net[2]).__name__)

    optimizer = torch.optim.Adam(model.parameters(), lr=0.05, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=0.5, patience=0, cooldown=1)
    criterion = nn.MSELoss()
    best_val, best_state = float("inf"), None
    for epoch in range(args.epochs):
        model.train()
        perm = np.random.default_rng(epoch).permutation(128)
        running = 0.0
        for start in range(0, 128, 32):
            idx = torch.from_numpy(perm[start:start + 32])
            optimizer.zero_grad(set_to_none=True)
            pred = model(X_train[idx])
            loss = criterion(pred, y_train[idx])
            loss.backward()
            optimizer.step()
            running += loss.item() * len(idx)
        model.eval()
        with torch.no_grad():
            val_pred = model(X_val)
            val_loss = criterion(val_pred, y_val).item()
            val_huber = F.smooth_l1_loss(val_pred, y_val, beta=0.5).item()
        scheduler.step(val_loss)
        if val_loss < best_val:
            best_val, best_state = val_loss, copy.deepcopy(model.state_dict())
        print(f"epoch {epoch:2d} train {running / 128:.6f} val {val_loss:.6f} huber {val_huber:.6f} "
              f"lr {optimizer.param_groups[0]['lr']:.5g}")

    print("grads after set_to_none:", all(p.grad is not None for p in model.parameters()),
          "calls buffer", int(model.norm.calls))
    optimizer.zero_grad(set_to_none=True)
    print("grads are None:", all(p.grad is None for p in model.parameters()))

    # checkpoint round trip
    path = os.path.join(args.out_dir, "regressor.pt")
    torch.save({"model_state_dict": model.state_dict(), "optimizer_state_dict": optimizer.state_dict(),
                "scheduler_state_dict": scheduler.state_dict(), "best_val": best_val}, path)
    ckpt = torch.load(path, map_location="cpu")
    clone = Regressor(5)
    missing = clone.load_state_dict(ckpt["model_state_dict"], strict=True)
    print("load_state_dict", list(missing.missing_keys), list(missing.unexpected_keys))
    opt2 = torch.optim.Adam(clone.parameters(), lr=0.05, weight_decay=1e-4)
    opt2.load_state_dict(ckpt["optimizer_state_dict"])
    sched2 = torch.optim.lr_scheduler.ReduceLROnPlateau(opt2, mode="min", factor=0.5, patience=0, cooldown=1)
    sched2.load_state_dict(ckpt["scheduler_state_dict"])
    clone.eval()
    with torch.no_grad():
        same = torch.allclose(clone(X_val), model(X_val))
    print("clone matches:", same, "lr", opt2.param_groups[0]["lr"], "best", f"{ckpt['best_val']:.6f}")

    # one more step on both: identical updates after the round trip
    for m, opt in ((model, optimizer), (clone, opt2)):
        m.train()
        opt.zero_grad(set_to_none=True)
        criterion(m(X_train), y_train).backward()
        opt.step()
    with torch.no_grad():
        diff = max((a - b).abs().max().item() for a, b in zip(model.parameters(), clone.parameters()))
    print("max param diff after one more step", diff)

    model.load_state_dict(best_state)
    with torch.no_grad():
        model.eval()
        print(f"best val {best_val:.6f} reloaded {criterion(model(X_val), y_val).item():.6f}")
        print("preds", [f"{v:.5f}" for v in model(X_val[:4]).tolist()])


if __name__ == "__main__":
    main()
