"""A Llama-2 style trainer of the kind small public repos carry: pretokenized uint16 shards read through np.memmap by
an IterableDataset and a DataLoader, RMSNorm computed in float32, rotary embeddings by reshape/unbind/stack,
grouped-query attention widened by expand/reshape, causal SDPA (or a masked softmax over a -inf triu buffer),
a SwiGLU MLP, tied embedding/output weights, AdamW with decay/no-decay groups, warmup + cosine LR, gradient
accumulation, clip_grad_norm_, evaluation under no_grad, a checkpoint through torch.save/torch.load, a float32 and a
Q8_0 (int8, per-group scale) export of the weights with struct.pack, and greedy decoding with topk. Weights and
data come from NumPy. tests/test_swapin_corpus.py compares every printed number with real torch.

usage: python llama_pretok.py OUT_DIR [--iters N] [--accum K] [--kv-heads H] [--flash 0|1]
"""
import argparse
import math
import os
import random
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("out_dir")
p.add_argument("--iters", type=int, default=12)
p.add_argument("--accum", type=int, default=2)
p.add_argument("--kv-heads", type=int, default=2)
p.add_argument("--flash", type=int, default=1)
args = p.parse_args()

VOCAB, DIM, LAYERS, HEADS, SEQ, BATCH, HIDDEN = 64, 32, 2, 4, 16, 4, 48

# ---------------------------------------------------------------------------------------------- data on disk
data_rng = np.random.default_rng(0)
shard_dir = os.path.join(args.out_dir, f"tok{VOCAB}")
os.makedirs(shard_dir, exist_ok=True)
for s in range(3):
    toks = [1]
    for _ in range(3000):  # a learnable stream: mostly the successor rule, sometimes noise
        toks.append((3 * toks[-1] + 5) % VOCAB if data_rng.random() < 0.8 else int(data_rng.integers(VOCAB)))
    np.array(toks, dtype=np.uint16).tofile(os.path.join(shard_dir, f"shard{s:02d}.bin"))


class Shards(torch.utils.data.IterableDataset):
    def __init__(self, split):
        super().__init__()
        self.split = split

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        rng = random.Random(42 + (info.id if info else 0))
        files = sorted(os.path.join(shard_dir, f) for f in os.listdir(shard_dir) if f.endswith(".bin"))
        files = files[1:] if self.split == "train" else files[:1]
        while True:
            rng.shuffle(files)
            for f in files:
                m = np.memmap(f, dtype=np.uint16, mode="r")
                ixs = list(range(len(m) // SEQ - 1))
                rng.shuffle(ixs)
                for ix in ixs:
                    chunk = torch.from_numpy(m[ix * SEQ: ix * SEQ + SEQ + 1].astype(np.int64))
                    yield chunk[:-1], chunk[1:]


def batches(split):
    for x, y in torch.utils.data.DataLoader(Shards(split), batch_size=BATCH, pin_memory=False, num_workers=0):
        yield x.to("cpu", non_blocking=True), y.to("cpu", non_blocking=True)


# ---------------------------------------------------------------------------------------------- model
class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).type_as(x) * self.weight


def rope(head_dim, length, theta=10000.0):
    freqs = 1.0 / (theta ** (torch.arange(0, head_dim, 2)[: head_dim // 2].float() / head_dim))
    ang = torch.outer(torch.arange(length), freqs).float()
    return torch.cos(ang), torch.sin(ang)


def rotate(x, cos, sin):
    xr, xi = x.float().reshape(x.shape[:-1] + (-1, 2)).unbind(-1)
    cos, sin = cos.view(1, x.shape[1], 1, -1), sin.view(1, x.shape[1], 1, -1)
    return torch.stack([xr * cos - xi * sin, xr * sin + xi * cos], dim=-1).flatten(3).type_as(x)


class Attention(nn.Module):
    def __init__(self, kv_heads, flash):
        super().__init__()
        self.kv, self.hd, self.flash = kv_heads, DIM // HEADS, flash
        self.wq = nn.Linear(DIM, HEADS * self.hd, bias=False)
        self.wk = nn.Linear(DIM, kv_heads * self.hd, bias=False)
        self.wv = nn.Linear(DIM, kv_heads * self.hd, bias=False)
        self.wo = nn.Linear(HEADS * self.hd, DIM, bias=False)
        if not flash:
            self.register_buffer("mask", torch.triu(torch.full((1, 1, SEQ, SEQ), float("-inf")), diagonal=1))

    def forward(self, x, cos, sin):
        b, t, _ = x.shape
        q = self.wq(x).view(b, t, HEADS, self.hd)
        k = self.wk(x).view(b, t, self.kv, self.hd)
        v = self.wv(x).view(b, t, self.kv, self.hd)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        rep = HEADS // self.kv
        if rep > 1:
            k = k[:, :, :, None, :].expand(b, t, self.kv, rep, self.hd).reshape(b, t, HEADS, self.hd)
            v = v[:, :, :, None, :].expand(b, t, self.kv, rep, self.hd).reshape(b, t, HEADS, self.hd)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        if self.flash:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=True)
        else:
            att = q @ k.transpose(2, 3) / math.sqrt(self.hd) + self.mask[:, :, :t, :t]
            out = F.softmax(att.float(), dim=-1).type_as(q) @ v
        return self.wo(out.transpose(1, 2).contiguous().view(b, t, -1))


class Block(nn.Module):
    def __init__(self, kv_heads, flash):
        super().__init__()
        self.attention = Attention(kv_heads, flash)
        self.w1, self.w2, self.w3 = (nn.Linear(DIM, HIDDEN, bias=False), nn.Linear(HIDDEN, DIM, bias=False),
                                     nn.Linear(DIM, HIDDEN, bias=False))
        self.attention_norm, self.ffn_norm = RMSNorm(DIM), RMSNorm(DIM)

    def forward(self, x, cos, sin):
        h = x + self.attention(self.attention_norm(x), cos, sin)
        y = self.ffn_norm(h)
        return h + self.w2(F.silu(self.w1(y)) * self.w3(y))


class Llama(nn.Module):
    def __init__(self, kv_heads, flash):
        super().__init__()
        self.tok_embeddings = nn.Embedding(VOCAB, DIM)
        self.layers = nn.ModuleList(Block(kv_heads, flash) for _ in range(LAYERS))
        self.norm = RMSNorm(DIM)
        self.output = nn.Linear(DIM, VOCAB, bias=False)
        self.tok_embeddings.weight = self.output.weight
        cos, sin = rope(DIM // HEADS, SEQ)
        self.register_buffer("freqs_cos", cos, persistent=False)
        self.register_buffer("freqs_sin", sin, persistent=False)

    def forward(self, tokens, targets=None):
        t = tokens.shape[1]
        h = self.tok_embeddings(tokens)
        for layer in self.layers:
            h = layer(h, self.freqs_cos[:t], self.freqs_sin[:t])
        h = self.norm(h)
        if targets is None:
            return self.output(h[:, [-1], :])
        logits = self.output(h)
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)

    @torch.inference_mode()
    def greedy(self, idx, n):
        for _ in range(n):
            logits = self(idx if idx.size(1) <= SEQ else idx[:, -SEQ:])[:, -1, :]
            _, nxt = torch.topk(logits, k=1, dim=-1)
            idx = torch.cat((idx, nxt), dim=1)
        return idx


def numpy_init(model, seed):
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for name, prm in model.named_parameters():
            std = 0.02 / math.sqrt(2 * LAYERS) if name.endswith(("w3.weight", "wo.weight")) else 0.02
            a = rng.normal(0.0, std, tuple(prm.shape)) if prm.dim() >= 2 else np.ones(tuple(prm.shape))
            prm.copy_(torch.from_numpy(a.astype(np.float32)))


def make_optimizer(model):
    params = [q for q in model.parameters() if q.requires_grad]
    groups = [{"params": [q for q in params if q.dim() >= 2], "weight_decay": 0.1},
              {"params": [q for q in params if q.dim() < 2], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=3e-3, betas=(0.9, 0.95))


def lr_at(it, warmup=3, top=3e-3):
    if it < warmup:
        return top * (it + 1) / warmup
    return top * 0.5 * (1.0 + math.cos(math.pi * (it - warmup) / max(1, args.iters - warmup)))


@torch.no_grad()
def evaluate(model, n=3):
    model.eval()
    losses = torch.zeros(n)
    it = batches("val")
    for k in range(n):
        x, y = next(it)
        losses[k] = model(x, y).item()
    model.train()
    return losses.mean()


# ---------------------------------------------------------------------------------------------- train
model = Llama(args.kv_heads, bool(args.flash))
numpy_init(model, 1)
n_params = sum(q.numel() for q in model.parameters())
print(f"params {n_params} tied {model.tok_embeddings.weight is model.output.weight} "
      f"state_dict keys {len(model.state_dict())}")
opt = make_optimizer(model)
train = batches("train")
print(f"step 0: val loss {evaluate(model):.4f}")
for it in range(args.iters):
    for group in opt.param_groups:
        group["lr"] = lr_at(it)
    for micro in range(args.accum):
        x, y = next(train)
        loss = model(x, y) / args.accum
        loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)
    print(f"{it} | loss {loss.item() * args.accum:.4f} | norm {norm.item():.4f} | lr {lr_at(it):e}")
val = evaluate(model)
print(f"step {args.iters}: val loss {val:.4f}")

# ---------------------------------------------------------------------------------------------- checkpoint
ckpt_path = os.path.join(args.out_dir, "ckpt.pt")
torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "iter_num": args.iters,
            "best_val_loss": val, "model_args": {"kv_heads": args.kv_heads}}, ckpt_path)
ck = torch.load(ckpt_path, map_location="cpu")
fresh = Llama(ck["model_args"]["kv_heads"], bool(args.flash))
fresh.load_state_dict(ck["model"])
opt2 = make_optimizer(fresh)
opt2.load_state_dict(ck["optimizer"])
print(f"resumed at {ck['iter_num']} best {ck['best_val_loss']:.4f} val {evaluate(fresh):.4f} "
      f"tied {fresh.tok_embeddings.weight is fresh.output.weight}")
x, y = next(batches("train"))
fresh(x, y).backward()
opt2.step()
print(f"one more step: val loss {evaluate(fresh):.4f}")


# ---------------------------------------------------------------------------------------------- export
def fp32_bytes(t):
    d = t.detach().cpu().view(-1).to(torch.float32).numpy()
    return struct.pack(f"{len(d)}f", *d)


def q80(w, group=16):
    w = w.float().reshape(-1, group)
    scale = torch.abs(w).max(dim=1).values / 127.0
    q = torch.round(w / scale[:, None]).to(torch.int8)
    err = torch.abs(q.float() * scale[:, None] - w).max(dim=1).values.max().item()
    return q, scale, err


weights = [fresh.tok_embeddings.weight, *[getattr(lay.attention, n).weight for lay in fresh.layers
                                          for n in ("wq", "wk", "wv", "wo")],
           *[getattr(lay, n).weight for lay in fresh.layers for n in ("w1", "w2", "w3")]]
path = os.path.join(args.out_dir, "model.bin")
with open(path, "wb") as f:
    f.write(struct.pack("iiiiiii", DIM, HIDDEN, LAYERS, HEADS, args.kv_heads, VOCAB, SEQ))
    f.write(struct.pack("B", int(torch.equal(fresh.tok_embeddings.weight, fresh.output.weight))))
    for w in [*(lay.attention_norm.weight for lay in fresh.layers), fresh.norm.weight, *weights]:
        f.write(fp32_bytes(w))
back = np.fromfile(path, dtype=np.float32, offset=29)
print(f"fp32 export {os.path.getsize(path)} bytes, sum {back.sum():.5f}, abs sum {np.abs(back).sum():.4f}")
errs, deq = [], 0.0
for w in weights:
    q, s, err = q80(w)
    errs.append(err)
    deq += (q.float() * s[:, None]).abs().sum().item()
    assert q.dtype == torch.int8 and s.dtype == torch.float32
print(f"q80 max group error {max(errs):.6f}, dequantized abs sum {deq:.4f}")
fresh.eval()
print("greedy", fresh.greedy(torch.tensor([[1, 8, 29]], dtype=torch.long), 20)[0].tolist())
