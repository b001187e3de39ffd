"""Checkpointing a whole model object, as pytorch/examples' word_language_model and super_resolution do, for the
swap-in corpus: a small GRU language model with a tied decoder and a sub-pixel (PixelShuffle) upscaler are trained
for a few epochs; after each epoch whose validation loss improves the model itself is written with
torch.save(model, f), and at the end the best one is read back with torch.load(f, weights_only=False), evaluated,
checked by class through torch.nn.modules' file paths, and trained further (the loaded parameters are leaves).

Weights and data come from NumPy, so both runs start from the same numbers.
"""
import argparse
import math
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

parser = argparse.ArgumentParser()
parser.add_argument("out_dir")
parser.add_argument("--epochs", type=int, default=3)
args = parser.parse_args()
os.makedirs(args.out_dir, exist_ok=True)
rng = np.random.default_rng(3)


def init_from_numpy(module, scale=0.2):
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.tensor(rng.uniform(-scale, scale, tuple(p.shape)), dtype=p.dtype))


class TinyLM(nn.Module):
    def __init__(self, ntoken, nhid, dropout=0.0):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, nhid)
        self.rnn = nn.GRU(nhid, nhid, 1)
        self.decoder = nn.Linear(nhid, ntoken)
        self.decoder.weight = self.encoder.weight  # tied: one Parameter in two modules
        self.nhid = nhid

    def forward(self, x, h):
        out, h = self.rnn(self.drop(self.encoder(x)), h)
        return self.decoder(self.drop(out)), h

    def init_hidden(self, bsz):
        return torch.zeros(1, bsz, self.nhid)


class Upscaler(nn.Module):
    def __init__(self, r=2):
        super().__init__()
        self.relu = nn.ReLU()
        self.conv1 = nn.Conv2d(1, 8, 3, 1, 1)
        self.conv2 = nn.Conv2d(8, r * r, 3, 1, 1)
        self.pixel_shuffle = nn.PixelShuffle(r)

    def forward(self, x):
        return self.pixel_shuffle(self.conv2(self.relu(self.conv1(x))))


def batchify(seq, bsz):
    n = len(seq) // bsz
    return torch.tensor(seq[: n * bsz], dtype=torch.long).view(bsz, -1).t().contiguous()


def lm_loss(model, data, bptt=6):
    h, total = model.init_hidden(data.size(1)), 0.0
    for i in range(0, data.size(0) - 1, bptt):
        n = min(bptt, data.size(0) - 1 - i)
        out, h = model(data[i:i + n], h)
        total += n * F.cross_entropy(out.view(-1, out.size(-1)), data[i + 1:i + 1 + n].reshape(-1)).item()
    return total / (data.size(0) - 1)


def train_lm(model, data, lr, bptt=6):
    model.train()
    h = model.init_hidden(data.size(1))
    for i in range(0, data.size(0) - 1, bptt):
        n = min(bptt, data.size(0) - 1 - i)
        h = h.detach()
        model.zero_grad()
        out, h = model(data[i:i + n], h)
        loss = F.cross_entropy(out.view(-1, out.size(-1)), data[i + 1:i + 1 + n].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        for p in model.parameters():
            p.data.add_(p.grad, alpha=-lr)


# ---- the language model, checkpointed whole as word_language_model does
ntoken = 12
stream = [int(t) for t in rng.integers(0, ntoken, 600)]
for i in range(2, len(stream)):  # a learnable pattern: every third token follows from the two before
    if i % 3 == 2:
        stream[i] = (stream[i - 1] + stream[i - 2]) % ntoken
train_data, val_data = batchify(stream[:480], 4), batchify(stream[480:], 2)
lm = TinyLM(ntoken, 10)
init_from_numpy(lm)
lm_path = os.path.join(args.out_dir, "lm.pt")
best, lr = None, 2.0
for epoch in range(1, args.epochs + 1):
    train_lm(lm, train_data, lr)
    lm.eval()
    with torch.no_grad():
        val = lm_loss(lm, val_data)
    print(f"lm epoch {epoch} val loss {val:.4f} ppl {math.exp(val):.3f}")
    if best is None or val < best:
        with open(lm_path, "wb") as f:
            torch.save(lm, f)
        best = val
    else:
        lr /= 4.0
with open(lm_path, "rb") as f:
    lm2 = torch.load(f, weights_only=False)
print("lm reloaded:", type(lm2).__name__, isinstance(lm2.rnn, torch.nn.modules.rnn.GRU),
      lm2.decoder.weight is lm2.encoder.weight, lm2 is not lm, lm2.training)
with torch.no_grad():
    print(f"lm reloaded val loss {lm_loss(lm2, val_data):.4f} (best {best:.4f})")
train_lm(lm2, train_data, 0.5)
lm2.eval()
with torch.no_grad():
    print(f"lm reloaded and trained one more epoch: val loss {lm_loss(lm2, val_data):.4f}")

# ---- the upscaler, checkpointed whole every epoch as super_resolution does
yy, xx = np.meshgrid(np.linspace(0, 1, 12), np.linspace(0, 1, 12), indexing="ij")
hi = torch.tensor(np.stack([np.sin(rng.uniform(1, 5) * xx) * np.cos(rng.uniform(1, 5) * yy)
                            for _ in range(12)])[:, None].astype(np.float32))
lo = F.avg_pool2d(hi, 2)
up = Upscaler()
init_from_numpy(up, 0.3)
opt = torch.optim.Adam(up.parameters(), lr=5e-3)
for epoch in range(1, args.epochs + 1):
    for i in range(0, 12, 4):
        opt.zero_grad()
        loss = F.mse_loss(up(lo[i:i + 4]), hi[i:i + 4])
        loss.backward()
        opt.step()
    with torch.no_grad():
        mse = F.mse_loss(up(lo), hi).item()
    print(f"upscaler epoch {epoch} psnr {10 * math.log10(1 / mse):.3f} dB")
    torch.save(up, os.path.join(args.out_dir, f"model_epoch_{epoch}.pth"))
up2 = torch.load(os.path.join(args.out_dir, f"model_epoch_{args.epochs}.pth"), weights_only=False)
print("upscaler reloaded:", isinstance(up2.conv1, torch.nn.modules.conv.Conv2d),
      isinstance(up2.pixel_shuffle, torch.nn.modules.pixelshuffle.PixelShuffle),
      isinstance(up2.relu, torch.nn.modules.activation.ReLU))
with torch.no_grad():
    print(f"upscaler reloaded psnr {10 * math.log10(1 / F.mse_loss(up2(lo), hi).item()):.3f} dB, "
          f"max diff to the saved model {(up2(lo) - up(lo)).abs().max().item():.3g}")
