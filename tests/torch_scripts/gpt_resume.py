"""A small GPT trainer in the nanoGPT style: token + position embeddings, causal self-attention (SDPA, or a manual
masked softmax over a registered tril buffer), LayerNorm, GELU MLP, weight tying, AdamW with decay/no-decay param
groups, warmup + cosine LR by hand, gradient accumulation, clip_grad_norm_, a checkpoint saved with torch.save and
resumed with torch.load(map_location='cpu') into a fresh model and optimizer. The script trains once without
interruption and once as train -> save -> fresh process state -> load -> continue, and prints both loss streams
(which must be identical). tests/test_swapin_corpus.py compares every printed number with real torch.

usage: python gpt_resume.py OUT_DIR [--max-iters N] [--resume-at K] [--flash 0|1]
"""
import argparse
import inspect
import math
import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
from torch.nn import functional as F


@dataclass
class GPTConfig:
    block_size: int = 16
    vocab_size: int = 29
    n_layer: int = 2
    n_head: int = 2
    n_embd: int = 32
    dropout: float = 0.0
    bias: bool = True
    flash: bool = True


class LayerNorm(nn.Module):
    """LayerNorm with an optional bias."""

    def __init__(self, ndim, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, input):
        return F.layer_norm(input, self.weight.shape, self.weight, self.bias, 1e-5)


class CausalSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        assert config.n_embd % config.n_head == 0
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.attn_dropout = nn.Dropout(config.dropout)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.dropout = config.dropout
        self.flash = config.flash and hasattr(torch.nn.functional, 'scaled_dot_product_attention')
        if not self.flash:
            self.register_buffer("bias", torch.tril(torch.ones(config.block_size, config.block_size))
                                 .view(1, 1, config.block_size, config.block_size))

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        if self.flash:
            y = torch.nn.functional.scaled_dot_product_attention(
                q, k, v, attn_mask=None, dropout_p=self.dropout if self.training else 0, is_causal=True)
        else:
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
            att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float('-inf'))
            att = F.softmax(att, dim=-1)
            att = self.attn_dropout(att)
            y = att @ v
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.ln_1 = LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        x = x + self.mlp(self.ln_2(x))
        return x


class GPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),
            wpe=nn.Embedding(config.block_size, config.n_embd),
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=LayerNorm(config.n_embd, bias=config.bias),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # weight tying
        self.apply(self._init_weights)

    def _init_weights(self, module):
        pass  # weights are set from NumPy by init_from_numpy (not torch's RNG), so both frameworks start alike

    def get_num_params(self, non_embedding=True):
        n_params = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n_params -= self.transformer.wpe.weight.numel()
        return n_params

    def forward(self, idx, targets=None):
        device = idx.device
        b, t = idx.size()
        assert t <= self.config.block_size, f"Cannot forward sequence of length {t}"
        pos = torch.arange(0, t, dtype=torch.long, device=device)
        tok_emb = self.transformer.wte(idx)
        pos_emb = self.transformer.wpe(pos)
        x = self.transformer.drop(tok_emb + pos_emb)
        for block in self.transformer.h:
            x = block(x)
        x = self.transformer.ln_f(x)
        if targets is not None:
            logits = self.lm_head(x)
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
        else:
            logits = self.lm_head(x[:, [-1], :])
            loss = None
        return logits, loss

    def configure_optimizers(self, weight_decay, learning_rate, betas, device_type):
        param_dict = {pn: p for pn, p in self.named_parameters()}
        param_dict = {pn: p for pn, p in param_dict.items() if p.requires_grad}
        decay_params = [p for n, p in param_dict.items() if p.dim() >= 2]
        nodecay_params = [p for n, p in param_dict.items() if p.dim() < 2]
        optim_groups = [
            {'params': decay_params, 'weight_decay': weight_decay},
            {'params': nodecay_params, 'weight_decay': 0.0}
        ]
        num_decay_params = sum(p.numel() for p in decay_params)
        num_nodecay_params = sum(p.numel() for p in nodecay_params)
        print(f"num decayed parameter tensors: {len(decay_params)}, with {num_decay_params:,} parameters")
        print(f"num non-decayed parameter tensors: {len(nodecay_params)}, with {num_nodecay_params:,} parameters")
        fused_available = 'fused' in inspect.signature(torch.optim.AdamW).parameters
        use_fused = fused_available and device_type == 'cuda'
        extra_args = dict(fused=True) if use_fused else dict()
        optimizer = torch.optim.AdamW(optim_groups, lr=learning_rate, betas=betas, **extra_args)
        return optimizer

    @torch.no_grad()
    def generate(self, idx, max_new_tokens, top_k=None):
        for _ in range(max_new_tokens):
            idx_cond = idx if idx.size(1) <= self.config.block_size else idx[:, -self.config.block_size:]
            logits, _ = self(idx_cond)
            logits = logits[:, -1, :]
            if top_k is not None:
                v, _ = torch.topk(logits, min(top_k, logits.size(-1)))
                logits[logits < v[:, [-1]]] = -float('Inf')
            probs = F.softmax(logits, dim=-1)
            idx_next = torch.argmax(probs, dim=-1, keepdim=True)
            idx = torch.cat((idx, idx_next), dim=1)
        return idx


TEXT = ("to be or not to be that is the question whether tis nobler in the mind to suffer "
        "the slings and arrows of outrageous fortune or to take arms against a sea of troubles ") * 4
chars = sorted(set(TEXT))
stoi = {c: i for i, c in enumerate(chars)}
data = np.array([stoi[c] for c in TEXT], dtype=np.int64)
n = int(0.9 * len(data))
train_data, val_data = data[:n], data[n:]


def get_batch(split, it, batch_size, block_size):
    """Batches from a NumPy RNG seeded by the iteration, so a resumed run draws what an uninterrupted one does."""
    d = train_data if split == 'train' else val_data
    ix = np.random.default_rng(1000 + it).integers(0, len(d) - block_size - 1, size=batch_size)
    x = torch.from_numpy(np.stack([d[i:i + block_size] for i in ix]))
    y = torch.from_numpy(np.stack([d[i + 1:i + 1 + block_size] for i in ix]))
    return x, y


def init_from_numpy(model, seed=0):
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for pn, p in model.named_parameters():
            if pn.endswith('ln_1.weight') or pn.endswith('ln_2.weight') or pn.endswith('ln_f.weight'):
                p.fill_(1.0)
            elif p.dim() == 1:
                p.zero_()
            else:
                std = 0.02 / math.sqrt(2 * model.config.n_layer) if pn.endswith('c_proj.weight') else 0.02
                p.copy_(torch.from_numpy((rng.standard_normal(p.shape) * std).astype(np.float32)))


def get_lr(it, args):
    if it < args.warmup_iters:
        return args.learning_rate * (it + 1) / (args.warmup_iters + 1)
    if it > args.lr_decay_iters:
        return args.min_lr
    decay_ratio = (it - args.warmup_iters) / (args.lr_decay_iters - args.warmup_iters)
    assert 0 <= decay_ratio <= 1
    coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))
    return args.min_lr + coeff * (args.learning_rate - args.min_lr)


@torch.no_grad()
def estimate_loss(model, args):
    out = {}
    model.eval()
    for split in ['train', 'val']:
        losses = torch.zeros(args.eval_iters)
        for k in range(args.eval_iters):
            X, Y = get_batch(split, 10_000 + k, args.batch_size, args.block_size)
            logits, loss = model(X, Y)
            losses[k] = loss.item()
        out[split] = losses.mean()
    model.train()
    return out


def train(args, start_iter, stop_iter, ckpt_path=None, tag=''):
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    device_type = 'cuda' if 'cuda' in device else 'cpu'
    model_args = dict(n_layer=2, n_head=2, n_embd=32, block_size=args.block_size, bias=True,
                      vocab_size=len(chars), dropout=0.0, flash=bool(args.flash))
    checkpoint = None
    if start_iter == 0:
        gptconf = GPTConfig(**model_args)
        model = GPT(gptconf)
        init_from_numpy(model)
        iter_num, best_val_loss = 0, 1e9
    else:
        checkpoint = torch.load(ckpt_path, map_location=device)
        checkpoint_model_args = checkpoint['model_args']
        for k in ['n_layer', 'n_head', 'n_embd', 'block_size', 'bias', 'vocab_size']:
            model_args[k] = checkpoint_model_args[k]
        gptconf = GPTConfig(**model_args)
        model = GPT(gptconf)
        state_dict = checkpoint['model']
        unwanted_prefix = '_orig_mod.'
        for k, v in list(state_dict.items()):
            if k.startswith(unwanted_prefix):
                state_dict[k[len(unwanted_prefix):]] = state_dict.pop(k)
        model.load_state_dict(state_dict)
        iter_num = checkpoint['iter_num']
        best_val_loss = checkpoint['best_val_loss']
        print(f"{tag}resumed at iter {iter_num}, best val {best_val_loss:.6g}, config lr {checkpoint['config']['learning_rate']}")
    model.to(device)
    optimizer = model.configure_optimizers(args.weight_decay, args.learning_rate, (args.beta1, args.beta2), device_type)
    if checkpoint is not None:
        optimizer.load_state_dict(checkpoint['optimizer'])
    checkpoint = None
    if args.compile:
        model = torch.compile(model)
    raw_model = model

    X, Y = get_batch('train', iter_num * 100, args.batch_size, args.block_size)
    while True:
        lr = get_lr(iter_num, args)
        for param_group in optimizer.param_groups:
            param_group['lr'] = lr
        if iter_num % args.eval_interval == 0:
            losses = estimate_loss(model, args)
            print(f"{tag}step {iter_num}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}")
            if losses['val'] < best_val_loss:
                best_val_loss = losses['val'].item()
        if iter_num == stop_iter:
            break
        for micro_step in range(args.gradient_accumulation_steps):
            logits, loss = model(X, Y)
            loss = loss / args.gradient_accumulation_steps
            # prefetch the next micro-batch (keyed by iteration and micro-step, so a resumed run draws the same)
            nxt = iter_num * 100 + micro_step + 1 if micro_step + 1 < args.gradient_accumulation_steps \
                else (iter_num + 1) * 100
            X, Y = get_batch('train', nxt, args.batch_size, args.block_size)
            loss.backward()
        if args.grad_clip != 0.0:
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        lossf = loss.item() * args.gradient_accumulation_steps
        print(f"{tag}iter {iter_num}: loss {lossf:.6g}, lr {lr:.6g}, norm {norm.item():.6g}")
        iter_num += 1
    if ckpt_path is not None:
        checkpoint = {
            'model': raw_model.state_dict(),
            'optimizer': optimizer.state_dict(),
            'model_args': model_args,
            'iter_num': iter_num,
            'best_val_loss': best_val_loss,
            'config': {k: v for k, v in vars(args).items() if isinstance(v, (int, float, bool, str))},
        }
        print(f"{tag}saving checkpoint to {os.path.basename(ckpt_path)}")
        torch.save(checkpoint, ckpt_path)
    return raw_model


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('out_dir')
    parser.add_argument('--max-iters', type=int, default=8)
    parser.add_argument('--resume-at', type=int, default=5)
    parser.add_argument('--flash', type=int, default=1)
    parser.add_argument('--compile', type=int, default=0)
    args = parser.parse_args()
    args.batch_size, args.block_size = 4, 16
    args.gradient_accumulation_steps = 2
    args.learning_rate, args.min_lr = 3e-3, 3e-4
    args.warmup_iters, args.lr_decay_iters = 2, 6
    args.weight_decay, args.beta1, args.beta2, args.grad_clip = 0.1, 0.9, 0.95, 1.0
    args.eval_interval, args.eval_iters = 4, 2
    torch.manual_seed(1337)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    os.makedirs(args.out_dir, exist_ok=True)

    full = train(args, 0, args.max_iters, tag='[full] ')
    ckpt_path = os.path.join(args.out_dir, 'ckpt.pt')
    train(args, 0, args.resume_at, ckpt_path=ckpt_path, tag='[part1] ')
    resumed = train(args, args.resume_at, args.max_iters, ckpt_path=ckpt_path, tag='[part2] ')
    sd_full, sd_res = full.state_dict(), resumed.state_dict()
    print('resumed weights equal the uninterrupted run:',
          all(torch.equal(sd_full[k], sd_res[k]) for k in sd_full))
    print('params', f"{full.get_num_params():,}", 'tied', full.transformer.wte.weight is full.lm_head.weight)
    idx = torch.tensor([[stoi['t'], stoi['o']]], dtype=torch.long)
    out = full.generate(idx, 20, top_k=5)
    print('sample', repr(''.join(chars[i] for i in out[0].tolist())))


if __name__ == '__main__':
    main()
