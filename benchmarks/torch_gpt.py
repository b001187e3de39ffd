"""The PyTorch peer of tensorgrad's GPT (tensorgrad.models.gpt), for the side-by-side training benchmarks
(bench_train_cpu.py, bench_train_cuda.py): the same architecture and parameter names up to a renaming, so that
copy_weights gives both the same weights; attention through scaled_dot_product_attention, as nanoGPT.
"""
import numpy as np
import torch
import torch.nn as tnn
import torch.nn.functional as TF


class TBlock(tnn.Module):
    def __init__(self, C, H, dropout=0.0):
        super().__init__()
        self.H, self.p = H, dropout
        self.ln_1, self.ln_2 = tnn.LayerNorm(C), tnn.LayerNorm(C)
        self.c_attn, self.attn_proj = tnn.Linear(C, 3 * C), tnn.Linear(C, C)
        self.c_fc, self.mlp_proj = tnn.Linear(C, 4 * C), tnn.Linear(4 * C, C)

    def forward(self, x):
        B_, T, C = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = (t.view(B_, T, self.H, C // self.H).transpose(1, 2) for t in (q, k, v))
        p = self.p if self.training else 0.0
        y = TF.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True).transpose(1, 2).contiguous() \
            .view(B_, T, C)
        x = x + TF.dropout(self.attn_proj(y), p, self.training)  # nanoGPT's resid_dropout
        return x + TF.dropout(self.mlp_proj(TF.gelu(self.c_fc(self.ln_2(x)))), p, self.training)


class TGPT(tnn.Module):
    def __init__(self, n_layer, n_head, n_embd, block_size, vocab_size, dropout=0.0, **_):
        super().__init__()
        self.p = dropout
        self.wte, self.wpe = tnn.Embedding(vocab_size, n_embd), tnn.Embedding(block_size, n_embd)
        self.h = tnn.ModuleList([TBlock(n_embd, n_head, dropout) for _ in range(n_layer)])
        self.ln_f = tnn.LayerNorm(n_embd)
        self.lm_head = tnn.Linear(n_embd, vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight

    def forward(self, idx, targets):
        x = TF.dropout(self.wte(idx) + self.wpe(torch.arange(idx.shape[1], device=idx.device)), self.p, self.training)
        for b in self.h:
            x = b(x)
        logits = self.lm_head(self.ln_f(x))
        return logits, TF.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1), ignore_index=-1)


def copy_weights(tg_model, t_model):
    """tensorgrad GPT state_dict names -> the torch peer's names."""
    sd = {k: torch.from_numpy(np.array(v.detach().numpy())) for k, v in tg_model.state_dict().items()}
    ren = {"transformer.wte.weight": "wte.weight", "transformer.wpe.weight": "wpe.weight",
           "transformer.ln_f.weight": "ln_f.weight", "transformer.ln_f.bias": "ln_f.bias", "lm_head.weight": None}
    out = {}
    for k, v in sd.items():
        if k in ren:
            if ren[k]:
                out[ren[k]] = v
            continue
        k2 = k.replace("transformer.h.", "h.").replace("attn.c_attn", "c_attn").replace("attn.c_proj", "attn_proj") \
              .replace("mlp.c_fc", "c_fc").replace("mlp.c_proj", "mlp_proj")
        out[k2] = v
    out["lm_head.weight"] = out["wte.weight"]
    dev = next(t_model.parameters()).device
    t_model.load_state_dict({k: v.to(dev) for k, v in out.items()})


def torch_optimizer(m, **kw):
    ps = [p for p in m.parameters()]
    decay = [p for p in ps if p.dim() >= 2]
    nodecay = [p for p in ps if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": nodecay, "weight_decay": 0.0}],
                             lr=1e-3, betas=(0.9, 0.99), **kw)
