"""The pieces of a Llama-2 style model as small training scripts write them (karpathy/llama2.c's model.py runs
unchanged under the alias): RMSNorm computed in float32 and cast back with type_as, rotary embedding by
reshape(shape[:-1] + (-1, 2)).unbind(-1) and stack(...).flatten, grouped-query heads widened by
x[:, :, :, None, :].expand(...).reshape(...), causal scaled_dot_product_attention (with and without dropout) against
the masked-softmax path built from triu(full(-inf)), an embedding tied to the output projection, the normal_/zeros_
init applied through Module.apply, and a whole tiny model trained for a few AdamW steps with gradient accumulation
and clipping. Each is written here once against a namespace (torch or tensorgrad) and run on both from the same
numbers."""
import math

import numpy as np
import pytest
import torch

import tensorgrad as tg
from helpers import F, copy_to_torch, lib

BOTH = [torch, tg]


def pair(a, requires_grad=False):
    """The same array as a torch tensor and a tensorgrad tensor."""
    return (torch.tensor(a, requires_grad=requires_grad), tg.tensor(a, requires_grad=requires_grad))


def close(got, want, **tol):
    np.testing.assert_allclose(np.asarray(got.detach().double().numpy()), want.detach().double().numpy(), **tol)


def rms_norm(x, weight, eps=1e-5):
    L = lib(x)
    y = x.float()
    y = y * L.rsqrt(y.pow(2).mean(-1, keepdim=True) + eps)
    return y.type_as(x) * weight


def rope_tables(L, head_dim, length, theta=10000.0):
    inv_freq = 1.0 / (theta ** (L.arange(0, head_dim, 2)[: head_dim // 2].float() / head_dim))
    angles = L.outer(L.arange(length), inv_freq).float()
    return L.cos(angles), L.sin(angles)


def rotate(x, cos, sin):
    """Rotate consecutive pairs of x's last dim (b, t, h, d) by the angles of positions 0..t-1."""
    L = lib(x)
    re, im = x.float().reshape(x.shape[:-1] + (-1, 2)).unbind(-1)
    assert cos.shape == (x.shape[1], x.shape[-1] // 2)
    shape = [n if i in (1, re.ndim - 1) else 1 for i, n in enumerate(re.shape)]
    c, s = cos.view(shape), sin.view(shape)
    return L.stack([re * c - im * s, re * s + im * c], dim=-1).flatten(3).type_as(x)


def widen_kv(x, rep):
    b, t, h, d = x.shape
    if rep == 1:
        return x
    return x[:, :, :, None, :].expand(b, t, h, rep, d).reshape(b, t, h * rep, d)


# --------------------------------------------------------------------------------------------------- RMSNorm
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_rms_norm_expression_forward_and_grads(dtype):
    tol = dict(rtol=1e-5, atol=1e-6)  # x.float(): float32 arithmetic whatever the input's dtype
    rng = np.random.default_rng(1)
    (tx, gx), (tw, gw) = pair(rng.standard_normal((3, 5, 8)).astype(dtype), True), \
        pair(rng.uniform(0.5, 1.5, 8).astype(dtype), True)
    up = rng.standard_normal((3, 5, 8)).astype(dtype)
    outs = [rms_norm(x, w) for x, w in ((tx, tw), (gx, gw))]
    assert outs[1].dtype == (tg.float64 if dtype == np.float64 else tg.float32)
    close(outs[1], outs[0], **tol)
    outs[0].backward(torch.tensor(up))
    outs[1].backward(tg.tensor(up))
    close(gx.grad, tx.grad, **tol)
    close(gw.grad, tw.grad, **tol)


def test_rms_norm_in_bfloat16_computes_in_float32_and_casts_back():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((4, 16)).astype(np.float32)
    tx, gx = torch.tensor(a).bfloat16().requires_grad_(), tg.tensor(a).bfloat16().requires_grad_()
    tw, gw = torch.ones(16, dtype=torch.bfloat16, requires_grad=True), tg.ones(16, dtype=tg.bfloat16,
                                                                                requires_grad=True)
    t, g = rms_norm(tx, tw), rms_norm(gx, gw)
    assert g.dtype == tg.bfloat16
    # both round the same float32 values to bfloat16: equal but for a rare tie in the float32 sums
    close(g, t, rtol=8e-3, atol=0)
    t.float().square().sum().backward()
    g.float().square().sum().backward()
    assert gx.grad.dtype == tg.bfloat16 and gw.grad.dtype == tg.bfloat16
    close(gx.grad, tx.grad, rtol=2e-2, atol=1e-2)
    close(gw.grad, tw.grad, rtol=2e-2, atol=1e-2)


# --------------------------------------------------------------------------------------------------- rotary
def test_rope_tables_match_torch():
    (tc, ts), (gc, gs) = rope_tables(torch, 16, 40), rope_tables(tg, 16, 40)
    assert gc.dtype == tg.float32 and tuple(gc.shape) == (40, 8)
    # float32 cos/sin: the libraries' own vector routines, a unit in the last place apart at most
    close(gc, tc, rtol=0, atol=2e-7)
    close(gs, ts, rtol=0, atol=2e-7)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_rotary_by_unbind_and_stack(dtype):
    tol = dict(rtol=1e-5, atol=1e-6)  # x.float(): float32 arithmetic whatever the input's dtype
    rng = np.random.default_rng(3)
    b, t, h, d = 2, 6, 3, 8
    (tx, gx) = pair(rng.standard_normal((b, t, h, d)).astype(dtype), True)
    angles = rng.uniform(-3, 3, (t, d // 2)).astype(dtype)
    tcos, gcos = pair(np.cos(angles))
    tsin, gsin = pair(np.sin(angles))
    to, go = rotate(tx, tcos, tsin), rotate(gx, gcos, gsin)
    assert tuple(go.shape) == (b, t, h, d)
    close(go, to, **tol)
    # the independent oracle: multiplying each (even, odd) pair, read as a complex number, by e^{i angle}
    z = tx.detach().numpy()[..., 0::2] + 1j * tx.detach().numpy()[..., 1::2]
    want = z * np.exp(1j * angles)[None, :, None, :]
    got = go.detach().numpy()
    np.testing.assert_allclose(got[..., 0::2] + 1j * got[..., 1::2], want, **tol)
    up = rng.standard_normal((b, t, h, d)).astype(dtype)
    to.backward(torch.tensor(up))
    go.backward(tg.tensor(up))
    close(gx.grad, tx.grad, **tol)


# --------------------------------------------------------------------------------------------------- GQA
@pytest.mark.parametrize("rep", [1, 2, 3])
def test_widen_kv_is_repeat_interleave_with_summed_grads(rep):
    rng = np.random.default_rng(4)
    tx, gx = pair(rng.standard_normal((2, 5, 2, 4)), True)
    to, go = widen_kv(tx, rep), widen_kv(gx, rep)
    close(go, to, rtol=0, atol=0)
    close(go, tg.repeat_interleave(gx, rep, dim=2), rtol=0, atol=0)
    up = rng.standard_normal(tuple(to.shape))
    to.backward(torch.tensor(up))
    go.backward(tg.tensor(up))
    close(gx.grad, tx.grad, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------------------------------- SDPA
def masked_attention(q, k, v, max_len):
    """The slow path: scores + a (1, 1, max_len, max_len) -inf upper triangle cut to t, softmax in float32."""
    L = lib(q)
    t = q.shape[-2]
    mask = L.triu(L.full((1, 1, max_len, max_len), float("-inf")), diagonal=1)
    scores = L.matmul(q, k.transpose(2, 3)) / math.sqrt(q.shape[-1])
    scores = scores + mask[:, :, :t, :t]
    return L.matmul(F(q).softmax(scores.float(), dim=-1).type_as(q), v)


@pytest.mark.parametrize("dtype,tol", [(np.float64, dict(rtol=1e-10, atol=1e-12)),
                                       (np.float32, dict(rtol=1e-4, atol=1e-5))])
def test_causal_sdpa_matches_the_masked_softmax_path_and_torch(dtype, tol):
    rng = np.random.default_rng(5)
    shape = (2, 4, 7, 8)
    ins = [pair(rng.standard_normal(shape).astype(dtype), True) for _ in range(3)]
    up = rng.standard_normal(shape).astype(dtype)
    t_out = F(ins[0][0]).scaled_dot_product_attention(*(p[0] for p in ins), attn_mask=None, dropout_p=0.0,
                                                       is_causal=True)
    g_out = F(ins[0][1]).scaled_dot_product_attention(*(p[1] for p in ins), attn_mask=None, dropout_p=0.0,
                                                       is_causal=True)
    close(g_out, t_out, **tol)
    g_slow = masked_attention(*(p[1].detach() for p in ins), max_len=10)
    close(g_slow, t_out, rtol=1e-4, atol=1e-5)  # its softmax runs in float32
    t_out.backward(torch.tensor(up))
    g_out.backward(tg.tensor(up))
    for (t, g), name in zip(ins, "qkv"):
        close(g.grad, t.grad, err_msg=f"grad {name}", **tol)


def test_sdpa_dropout_is_on_the_attention_weights_with_a_mask_shared_by_backward():
    """dropout_p applies to the softmaxed weights, scaled by 1/(1-p), and backward uses the forward's mask: read the
    mask back with V = I (the output is then the dropped weights), redraw it from the same seed with a random V, and
    compare value and gradients with torch's masked softmax under that mask."""
    rng = np.random.default_rng(6)
    b, h, t, p = 2, 3, 6, 0.4
    q, k = rng.standard_normal((2, b, h, t, t))
    v = rng.standard_normal((b, h, t, t))
    sdpa = tg.nn.functional.scaled_dot_product_attention
    tg.manual_seed(11)
    weights = sdpa(tg.tensor(q), tg.tensor(k), tg.tensor(np.broadcast_to(np.eye(t), (b, h, t, t)).copy()),
                   dropout_p=p, is_causal=True).numpy()
    keep = weights != 0
    assert not keep[..., np.triu_indices(t, 1)[0], np.triu_indices(t, 1)[1]].any()
    lower = np.tril(np.ones((t, t), bool))
    assert 0.2 < 1 - keep[..., lower].mean() < 0.6  # about p of the causal weights dropped

    gq, gk, gv = (tg.tensor(a, requires_grad=True) for a in (q, k, v))
    tg.manual_seed(11)
    g_out = sdpa(gq, gk, gv, dropout_p=p, is_causal=True)
    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    scores = (tq @ tk.transpose(-1, -2)) / math.sqrt(t)
    scores = scores.masked_fill(~torch.tensor(lower), float("-inf"))
    t_out = (torch.softmax(scores, -1) * torch.tensor(keep) / (1 - p)) @ tv
    close(g_out, t_out, rtol=1e-10, atol=1e-12)
    up = rng.standard_normal((b, h, t, t))
    t_out.backward(torch.tensor(up))
    g_out.backward(tg.tensor(up))
    for g, tt, name in ((gq, tq, "q"), (gk, tk, "k"), (gv, tv, "v")):
        close(g.grad, tt.grad, rtol=1e-9, atol=1e-11, err_msg=f"grad {name}")


# --------------------------------------------------------------------------------------------------- tying, init
def tied_pair(L, vocab=11, dim=6):
    m = L.nn.Module()
    m.emb = L.nn.Embedding(vocab, dim)
    m.out = L.nn.Linear(dim, vocab, bias=False)
    m.emb.weight = m.out.weight
    return m


def test_tied_embedding_and_output_share_one_parameter_and_sum_both_grads():
    g, t = tied_pair(tg), tied_pair(torch)
    assert [n for n, _ in g.named_parameters()] == [n for n, _ in t.named_parameters()] == ["emb.weight"]
    assert list(g.state_dict()) == list(t.state_dict()) == ["emb.weight", "out.weight"]
    copy_to_torch(g, t)
    assert t.emb.weight is t.out.weight
    rng = np.random.default_rng(7)
    tokens = rng.integers(0, 11, (3, 5))
    targets = rng.integers(0, 11, (3, 5))
    targets[0, :2] = -1  # ignored positions, as in a padded batch
    losses = []
    for m, L in ((t, torch), (g, tg)):
        logits = m.out(m.emb(L.tensor(tokens)))
        loss = F(logits).cross_entropy(logits.view(-1, logits.size(-1)), L.tensor(targets).view(-1), ignore_index=-1)
        loss.backward()
        losses.append(loss)
    close(losses[1], losses[0], rtol=1e-6, atol=1e-7)
    close(g.out.weight.grad, t.out.weight.grad, rtol=1e-5, atol=1e-7)
    assert g.emb.weight.grad is g.out.weight.grad
    assert tg.equal(g.emb.weight, g.out.weight)
    # reloading a state dict that holds the tied weight twice keeps the tie
    h = tied_pair(tg)
    h.load_state_dict(g.state_dict())
    assert h.emb.weight is h.out.weight and tg.equal(h.emb.weight, g.out.weight)


def init_weights(L, module):
    if isinstance(module, L.nn.Linear):
        L.nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if module.bias is not None:
            L.nn.init.zeros_(module.bias)
    elif isinstance(module, L.nn.Embedding):
        L.nn.init.normal_(module.weight, mean=0.0, std=0.02)


def test_init_through_apply_visits_modules_as_torch_and_draws_the_asked_normal():
    def build(L):
        return L.nn.Sequential(L.nn.Embedding(300, 200), L.nn.Linear(200, 300),
                               L.nn.Sequential(L.nn.Linear(300, 200, bias=False), L.nn.Dropout(0.1)))
    visited = {}
    for L in BOTH:
        seen = []
        m = build(L)
        m.apply(lambda mod, L=L, seen=seen: (seen.append(type(mod).__name__), init_weights(L, mod)))
        visited[L.__name__] = seen
    assert visited["torch"] == visited["tensorgrad"]
    m = build(tg)
    m[1].bias.data.fill_(3.0)
    m.apply(lambda mod: init_weights(tg, mod))
    assert not m[1].bias.detach().numpy().any()
    for w in (m[0].weight, m[1].weight, m[2][0].weight):
        a = w.detach().numpy()
        assert abs(a.mean()) < 0.02 * 5 / math.sqrt(a.size)
        assert abs(a.std() / 0.02 - 1) < 0.02
    std = 0.02 / math.sqrt(2 * 3)
    tg.nn.init.normal_(m[1].weight, mean=0.0, std=std)
    assert abs(m[1].weight.detach().numpy().std() / std - 1) < 0.02


# --------------------------------------------------------------------------------------------------- whole model
def build_llama(L, vocab=37, dim=16, n_layers=2, n_heads=4, n_kv_heads=2, hidden=24, max_len=12):
    nn, fn = L.nn, L.nn.functional
    head_dim = dim // n_heads

    class Norm(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(L.ones(dim))

        def forward(self, x):
            return rms_norm(x, self.weight)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.q = nn.Linear(dim, n_heads * head_dim, bias=False)
            self.k = nn.Linear(dim, n_kv_heads * head_dim, bias=False)
            self.v = nn.Linear(dim, n_kv_heads * head_dim, bias=False)
            self.o = nn.Linear(n_heads * head_dim, dim, bias=False)
            self.gate, self.up = nn.Linear(dim, hidden, bias=False), nn.Linear(dim, hidden, bias=False)
            self.down = nn.Linear(hidden, dim, bias=False)
            self.norm1, self.norm2 = Norm(), Norm()

        def forward(self, x, cos, sin):
            b, t, _ = x.shape
            y = self.norm1(x)
            q = self.q(y).view(b, t, n_heads, head_dim)
            k = self.k(y).view(b, t, n_kv_heads, head_dim)
            v = self.v(y).view(b, t, n_kv_heads, head_dim)
            q, k = rotate(q, cos, sin), rotate(k, cos, sin)
            k, v = widen_kv(k, n_heads // n_kv_heads), widen_kv(v, n_heads // n_kv_heads)
            a = fn.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                                attn_mask=None, dropout_p=0.0, is_causal=True)
            x = x + self.o(a.transpose(1, 2).contiguous().view(b, t, -1))
            y = self.norm2(x)
            return x + self.down(fn.silu(self.gate(y)) * self.up(y))

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(vocab, dim)
            self.blocks = nn.ModuleList([Block() for _ in range(n_layers)])
            self.norm = Norm()
            self.head = nn.Linear(dim, vocab, bias=False)
            self.embed.weight = self.head.weight
            cos, sin = rope_tables(L, head_dim, max_len)
            self.register_buffer("cos", cos, persistent=False)
            self.register_buffer("sin", sin, persistent=False)
            self.apply(lambda m: init_weights(L, m))

        def forward(self, tokens, targets=None):
            t = tokens.shape[1]
            h = self.embed(tokens)
            for block in self.blocks:
                h = block(h, self.cos[:t], self.sin[:t])
            h = self.norm(h)
            if targets is None:
                return self.head(h[:, [-1], :])
            logits = self.head(h)
            return fn.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)

        @L.inference_mode()
        def greedy(self, idx, n):
            for _ in range(n):
                logits = self(idx[:, -max_len:])[:, -1, :]
                _, nxt = L.topk(logits, k=1, dim=-1)
                idx = L.cat((idx, nxt), dim=1)
            return idx

    return Model()


def adamw(L, model):
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": 0.1},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    return L.optim.AdamW(groups, lr=3e-3, betas=(0.9, 0.95))


def test_tiny_llama_trains_as_torch_does():
    """Same weights on both sides: loss and every gradient, then AdamW steps with two micro-batches per step,
    grad-norm clipping and a hand-set learning rate per group, then greedy decoding with topk under
    inference_mode."""
    g, t = build_llama(tg), build_llama(torch)
    assert "cos" not in g.state_dict() and "cos" in dict(g.named_buffers())
    copy_to_torch(g, t)
    rng = np.random.default_rng(8)
    batches = [(rng.integers(0, 37, (3, 10)), rng.integers(0, 37, (3, 10))) for _ in range(6)]
    opts = {torch: adamw(torch, t), tg: adamw(tg, g)}
    norms = {torch: [], tg: []}
    losses = {torch: [], tg: []}
    for step in range(3):
        for L, m in ((torch, t), (tg, g)):
            for group in opts[L].param_groups:
                group["lr"] = 3e-3 * (step + 1) / 3
            for micro in range(2):
                x, y = batches[2 * step + micro]
                loss = m(L.tensor(x), L.tensor(y)) / 2
                loss.backward()
                losses[L].append(loss.item())
        if step == 0:
            for (name, gp), tp in zip(g.named_parameters(), t.parameters()):
                close(gp.grad, tp.grad, rtol=1e-4, atol=1e-6, err_msg=f"grad {name}")
        for L, m in ((torch, t), (tg, g)):
            norms[L].append(float(L.nn.utils.clip_grad_norm_(m.parameters(), 0.05)))
            opts[L].step()
            opts[L].zero_grad(set_to_none=True)
    np.testing.assert_allclose(losses[tg], losses[torch], rtol=1e-5)
    np.testing.assert_allclose(norms[tg], norms[torch], rtol=1e-4)
    assert norms[tg][0] > 0.05  # the clip acted
    for (name, gp), tp in zip(g.named_parameters(), t.parameters()):
        close(gp, tp, rtol=1e-4, atol=1e-6, err_msg=name)
    g.eval()
    t.eval()
    start = rng.integers(0, 37, (2, 3))
    got, want = g.greedy(tg.tensor(start), 12), t.greedy(torch.tensor(start), 12)
    assert got.numpy().tolist() == want.numpy().tolist()
    assert not got.requires_grad and got.dtype == tg.int64


def test_top_k_sampling_step_idioms():
    """One sampling step as decoders write it: scale by temperature, keep the top k by masking the rest to -inf in
    place through a comparison against v[:, [-1]], softmax, multinomial; and Size + tuple keeps being a shape."""
    rng = np.random.default_rng(9)
    logits = rng.standard_normal((4, 50)).astype(np.float32)
    probs = {}
    for L in BOTH:
        lg = L.tensor(logits) / 0.8
        v, _ = L.topk(lg, min(7, lg.size(-1)))
        lg[lg < v[:, [-1]]] = -float("Inf")
        probs[L] = F(lg).softmax(lg, dim=-1)
    close(probs[tg], probs[torch], rtol=1e-5, atol=1e-7)
    assert ((probs[tg].numpy() > 0).sum(-1) == 7).all()
    nxt = tg.multinomial(probs[tg], num_samples=1)
    assert tuple(nxt.shape) == (4, 1) and nxt.dtype == tg.int64
    assert (probs[tg].numpy()[np.arange(4), nxt.numpy()[:, 0]] > 0).all()
    x = tg.zeros(2, 3, 8)
    assert x.shape[:-1] + (-1, 2) == (2, 3, -1, 2) and isinstance(x.shape[:-1] + (-1, 2), tg.Size)
    assert tuple(x.reshape(x.shape[:-1] + (-1, 2)).shape) == (2, 3, 4, 2)


def test_head_permutation_for_interleaved_rotary_round_trips_as_torch():
    """Converting a q/k projection between interleaved-pair and half-split rotary layouts (view, reshape,
    transpose(1, 2), reshape) and back."""
    heads, dim = 4, 16
    a = np.random.default_rng(10).standard_normal((dim, dim)).astype(np.float32)
    out = {}
    for L in BOTH:
        w = L.tensor(a)
        fwd = w.view(dim, dim).reshape(heads, dim // heads // 2, 2, dim).transpose(1, 2).reshape(dim, dim)
        back = fwd.view(heads, 2, dim // heads // 2, dim).transpose(1, 2).reshape(dim, dim)
        out[L] = (fwd, back)
    close(out[tg][0], out[torch][0], rtol=0, atol=0)
    close(out[tg][1], torch.tensor(a), rtol=0, atol=0)
