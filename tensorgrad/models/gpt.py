"""A GPT language model with nanoGPT's architecture, init and optimizer setup, on tensorgrad.

Token + position embeddings -> n_layer pre-LN blocks (causal self-attention, GELU MLP, residuals) -> final
LayerNorm -> lm_head whose weight is tied to the token embedding. Init: N(0, 0.02) for Linear/Embedding
weights, zero biases, and N(0, 0.02/sqrt(2*n_layer)) for the residual projections (every c_proj.weight).

Hot path: every projection is one fused F.linear node; q, k, v come out of one c_attn Linear and are split
with a single reshape + permute into (3, B, H, T, D), made contiguous once so the attention kernel gets
contiguous views; heads are merged back with one transpose + reshape.

The model knows nothing of activation checkpointing: forward is a plain loop over ``transformer.h``, and a policy
wraps those blocks from outside (``tensorgrad.planner.apply_checkpoint_policy(model.transformer.h, "sqrt")``).
"""
import math
from dataclasses import dataclass, asdict

import numpy as np

from .. import nn
from ..nn import functional as F
from ..autograd.grad_mode import no_grad
from ..backend import to_device, xp_of
from ..optim import AdamW
from ..tensor import Tensor


@dataclass
class GPTConfig:
    block_size: int = 64
    vocab_size: int = 65
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = True  # bias in Linears and LayerNorms, like GPT-2

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, d):
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


class LayerNorm(nn.Module):
    """LayerNorm with an optional bias (as nanoGPT's)."""

    def __init__(self, ndim, bias):
        super().__init__()
        self.weight = nn.Parameter(np.ones(ndim, dtype=np.float32))
        self.bias = nn.Parameter(np.zeros(ndim, dtype=np.float32)) if bias else None
        self.shape = (ndim,)

    def forward(self, x):
        return F.layer_norm(x, self.shape, self.weight, self.bias, 1e-5)


class CausalSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        assert config.n_embd % config.n_head == 0, "n_embd must be divisible by n_head"
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head, self.n_embd, self.dropout = config.n_head, config.n_embd, config.dropout

    def forward(self, x, residual=None):
        # One node from the fused projection to merged heads (no split / permute / copy nodes on the tape).
        y = F.packed_attention(self.c_attn(x), self.n_head, is_causal=True,
                               dropout_p=self.dropout if self.training else 0.0)
        return _project(self.c_proj, self.resid_dropout, y, residual)


class MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x, residual=None):
        return _project(self.c_proj, self.dropout, self.gelu(self.c_fc(x)), residual)


def _project(proj, drop, y, residual):
    """drop(proj(y)), plus residual when one is given. With dropout active the bias, the dropout and the residual add
    run as one fused op after the projection's GEMM (F.bias_dropout_add: one pass, the mask regenerated in backward,
    not stored); otherwise the projection's own fused Linear and an add."""
    if residual is None:
        return drop(proj(y))
    if drop.training and drop.p > 0.0:
        return F.bias_dropout_add(residual, F.linear(y, proj.weight), proj.bias, drop.p, True)
    return residual + proj(y)


class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.ln_1 = LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x):
        x = self.attn(self.ln_1(x), residual=x)
        return self.mlp(self.ln_2(x), residual=x)


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
        std = 0.02 / math.sqrt(2 * config.n_layer)  # scaled init of the residual projections (GPT-2)
        for pn, p in self.named_parameters():
            if pn.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=std)
        self._pos_cache = {}

    @staticmethod
    def _init_weights(module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def get_num_params(self, non_embedding=True):
        """Parameters counted once (the tied wte/lm_head weight once); position embeddings excluded by default."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n -= self.transformer.wpe.weight.numel()
        return n

    def _positions(self, t, device):
        # Cached per (length, device): one host-to-device copy per shape instead of one per step (and none
        # inside a CUDA graph capture, where such copies are not allowed).
        key = (t, str(device))
        pos = self._pos_cache.get(key)
        if pos is None:
            pos = self._pos_cache[key] = Tensor._make(to_device(np.arange(t, dtype=np.int64), device), None)
        return pos

    def forward(self, idx, targets=None):
        b, t = idx.shape
        if t > self.config.block_size:
            raise ValueError(f"GPT.forward: sequence of length {t} is longer than block_size {self.config.block_size}")
        pos = self._positions(t, idx.device)
        tr = self.transformer
        x = tr.drop(tr.wte(idx) + tr.wpe(pos))
        for block in tr.h:
            x = block(x)
        x = tr.ln_f(x)
        if targets is not None:
            logits = self.lm_head(x)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-1)
        else:  # inference: only the last position's logits
            logits = self.lm_head(x[:, -1:, :])
            loss = None
        return logits, loss

    def crop_block_size(self, block_size):
        assert block_size <= self.config.block_size
        self.config.block_size = block_size
        self.transformer.wpe.weight = nn.Parameter(self.transformer.wpe.weight.array[:block_size].copy())

    def configure_optimizers(self, weight_decay, learning_rate, betas, device_type="cpu", verbose=False,
                             capturable=False):
        """AdamW with two groups: every >=2-D parameter (matmul weights, embeddings) decays; biases and
        LayerNorm parameters don't. capturable=True: for a step captured in a CUDA graph (optim.AdamW)."""
        params = [p for _, p in self.named_parameters() if p.requires_grad]
        decay = [p for p in params if p.dim() >= 2]
        nodecay = [p for p in params if p.dim() < 2]
        if verbose:
            print(f"num decayed parameter tensors: {len(decay)}, with {sum(p.numel() for p in decay):,} parameters")
            print(f"num non-decayed parameter tensors: {len(nodecay)}, with {sum(p.numel() for p in nodecay):,} "
                  "parameters")
        groups = [{"params": decay, "weight_decay": weight_decay}, {"params": nodecay, "weight_decay": 0.0}]
        return AdamW(groups, lr=learning_rate, betas=betas, capturable=capturable)

    def flops_per_iter(self, fwdbwd_per_iter):
        """PaLM appendix B estimate: 6N + 12 L H Q T flops per token."""
        N = self.get_num_params()
        cfg = self.config
        L, H, Q, T = cfg.n_layer, cfg.n_head, cfg.n_embd // cfg.n_head, cfg.block_size
        return (6 * N + 12 * L * H * Q * T) * T * fwdbwd_per_iter

    def estimate_mfu(self, fwdbwd_per_iter, dt, peak_flops=312e12):
        """Model flops utilization as a fraction of peak_flops (default: A100 bf16 peak, as nanoGPT)."""
        return self.flops_per_iter(fwdbwd_per_iter) / dt / peak_flops

    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, generator=None):
        """Extend idx (B, t) int64 by max_new_tokens sampled tokens, cropping the context to block_size.
        Sampling draws from ``generator`` (default: tensorgrad's default generator)."""
        if temperature <= 0:
            raise ValueError(f"generate: temperature must be > 0, got {temperature}")
        bs = self.config.block_size
        device = next(iter(self.parameters())).device
        # The growing sequence stays on the host: sampling happens there, and only the cropped window
        # travels to the model's device each step.
        out = np.asarray(to_device(idx.array, "cpu") if isinstance(idx, Tensor) else idx, dtype=np.int64)
        with no_grad():
            for _ in range(max_new_tokens):
                cond = out if out.shape[1] <= bs else out[:, -bs:]
                logits, _ = self(Tensor._make(to_device(np.ascontiguousarray(cond), device), None))
                logits = logits[:, -1, :] / temperature
                if top_k is not None:
                    kth = logits.topk(min(int(top_k), logits.shape[-1])).values.array[:, -1:]
                    xp = xp_of(logits.array)
                    logits = Tensor._make(xp.where(logits.array < kth, -xp.inf, logits.array).astype(logits.dtype), None)
                probs = F.softmax(logits, -1)
                nxt = probs.multinomial(1, generator=generator)
                out = np.concatenate([out, np.asarray(to_device(nxt.array, "cpu"), dtype=np.int64)], axis=1)
        return Tensor._make(out, None)
