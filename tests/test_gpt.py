"""The GPT of the main job: gradients vs PyTorch (float64), overfitting, state_dict, generate, checkpoint files,
the embedded corpus and the tokenizer. Tiny configs only: the whole file runs in a few seconds."""
import math
import os

import numpy as np
import pytest
import torch
import torch.nn as tnn
import torch.nn.functional as TF

import tensorgrad as tg
from tensorgrad.models import GPT, GPTConfig
from tensorgrad.data import CharTokenizer, load_default_corpus, corpus_info, BatchSampler, train_val_split
from tensorgrad.io import save_checkpoint, load_checkpoint, CheckpointError


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: see conftest.one_thread


# --------------------------------------------------------------------- an equivalent torch GPT (the oracle)
class TBlock(tnn.Module):
    def __init__(self, C, H, bias):
        super().__init__()
        self.H = H
        self.ln_1, self.ln_2 = tnn.LayerNorm(C, bias=bias), tnn.LayerNorm(C, bias=bias)
        self.c_attn, self.attn_proj = tnn.Linear(C, 3 * C, bias=bias), tnn.Linear(C, C, bias=bias)
        self.c_fc, self.mlp_proj = tnn.Linear(C, 4 * C, bias=bias), tnn.Linear(4 * C, C, bias=bias)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.H, C // self.H).transpose(1, 2) for t in (q, k, v))
        y = TF.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, C)
        x = x + self.attn_proj(y)
        return x + self.mlp_proj(TF.gelu(self.c_fc(self.ln_2(x))))


class TGPT(tnn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.wte, self.wpe = tnn.Embedding(cfg.vocab_size, cfg.n_embd), tnn.Embedding(cfg.block_size, cfg.n_embd)
        self.h = tnn.ModuleList([TBlock(cfg.n_embd, cfg.n_head, cfg.bias) for _ in range(cfg.n_layer)])
        self.ln_f = tnn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.lm_head = tnn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight

    def forward(self, idx, targets):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for b in self.h:
            x = b(x)
        logits = self.lm_head(self.ln_f(x))
        return logits, TF.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1), ignore_index=-1)


def torch_name(k):
    k = k.replace("transformer.h.", "h.").replace("transformer.", "")
    return k.replace("attn.c_attn", "c_attn").replace("attn.c_proj", "attn_proj").replace("mlp.c_fc", "c_fc") \
            .replace("mlp.c_proj", "mlp_proj")


def tiny(**kw):
    d = dict(block_size=8, vocab_size=11, n_layer=2, n_head=2, n_embd=16, dropout=0.0, bias=True)
    d.update(kw)
    return GPTConfig(**d)


# ------------------------------------------------------------------------------------------------ tests
@pytest.mark.parametrize("bias", [True, False])
def test_gradients_match_torch_float64(bias):
    cfg = tiny(bias=bias)
    model = GPT(cfg).double()
    tmodel = TGPT(cfg).double()
    sd = {torch_name(k): torch.from_numpy(np.array(v.array)) for k, v in model.state_dict().items()}
    tmodel.load_state_dict(sd)
    rng = np.random.default_rng(0)
    idx = rng.integers(0, cfg.vocab_size, size=(3, cfg.block_size))
    tgt = rng.integers(0, cfg.vocab_size, size=(3, cfg.block_size))
    tgt[0, 2] = -1  # ignore_index=-1, as nanoGPT
    logits, loss = model(tg.tensor(idx), tg.tensor(tgt))
    loss.backward()
    tlogits, tloss = tmodel(torch.from_numpy(idx), torch.from_numpy(tgt))
    tloss.backward()
    np.testing.assert_allclose(logits.detach().numpy(), tlogits.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert abs(loss.item() - tloss.item()) < 1e-12
    tparams = dict(tmodel.named_parameters(remove_duplicate=False))
    n = 0
    for name, p in model.named_parameters():
        tp = tparams[torch_name(name)]
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-8, atol=1e-11, err_msg=name)
        n += 1
    assert n == len(list(tmodel.parameters()))  # the tied weight is one parameter in both


def test_architecture_init_and_param_groups():
    cfg = tiny(n_layer=3)
    tg.manual_seed(0)
    model = GPT(cfg)
    assert model.lm_head.weight is model.transformer.wte.weight  # tied
    names = [n for n, _ in model.named_parameters()]
    assert "lm_head.weight" not in names or "transformer.wte.weight" not in names  # counted once
    total = sum(p.numel() for p in model.parameters())
    assert model.get_num_params() == total - cfg.block_size * cfg.n_embd
    assert model.get_num_params(non_embedding=False) == total
    # nanoGPT init: N(0, 0.02) weights, zero biases, c_proj std 0.02/sqrt(2 n_layer)
    big = GPT(GPTConfig(block_size=64, vocab_size=200, n_layer=2, n_head=2, n_embd=256))
    std = lambda t: float(np.std(t.array))  # noqa: E731
    assert abs(std(big.transformer.h[0].mlp.c_fc.weight) - 0.02) < 0.002
    assert abs(std(big.transformer.h[0].mlp.c_proj.weight) - 0.02 / math.sqrt(4)) < 0.001
    assert abs(std(big.transformer.h[1].attn.c_proj.weight) - 0.02 / math.sqrt(4)) < 0.001
    assert not big.transformer.h[0].attn.c_attn.bias.array.any()
    opt = model.configure_optimizers(0.1, 1e-3, (0.9, 0.99))
    decay, nodecay = opt.param_groups
    assert decay["weight_decay"] == 0.1 and nodecay["weight_decay"] == 0.0
    assert all(p.dim() >= 2 for p in decay["params"]) and all(p.dim() < 2 for p in nodecay["params"])
    assert len(decay["params"]) + len(nodecay["params"]) == len(list(model.parameters()))
    assert opt.param_groups[0]["betas"] == (0.9, 0.99)
    assert 0 < model.estimate_mfu(12, 0.1) < 1


def test_overfits_a_short_string():
    text = "tensorgrad trains a tiny GPT!\n"
    tok = CharTokenizer.from_text(text)
    ids = tok.encode(text * 4)
    T = 16
    x = np.stack([ids[i:i + T] for i in range(len(text))])
    y = np.stack([ids[i + 1:i + 1 + T] for i in range(len(text))])
    tg.manual_seed(0)
    model = GPT(GPTConfig(block_size=T, vocab_size=tok.vocab_size, n_layer=1, n_head=2, n_embd=32))
    opt = model.configure_optimizers(0.0, 1e-2, (0.9, 0.99))
    X, Y = tg.tensor(x), tg.tensor(y)
    for _ in range(200):  # 150 steps ended at loss ~0.050, on the threshold: rounding order decided the test
        _, loss = model(X, Y)
        loss.backward()
        opt.step()
        opt.zero_grad()
    assert loss.item() < 0.05, loss.item()
    # and generation reproduces the string
    model.eval()
    out = model.generate(tg.tensor(tok.encode("tensor")[None]), len(text) - 6, top_k=1)
    assert tok.decode(out[0].numpy()) == text


def test_state_dict_round_trip_through_safetensors(tmp_path):
    cfg = tiny()
    tg.manual_seed(1)
    a = GPT(cfg)
    path = str(tmp_path / "m.safetensors")
    save_checkpoint(path, a.state_dict(), meta={"model_config": cfg.to_dict()})
    state, opt, meta = load_checkpoint(path)
    assert opt is None and meta["model_config"] == cfg.to_dict()
    tg.manual_seed(2)
    b = GPT(GPTConfig.from_dict(meta["model_config"]))
    b.load_state_dict({k: tg.tensor(v) for k, v in state.items()})
    assert b.lm_head.weight is b.transformer.wte.weight  # tying survives load_state_dict
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb
        np.testing.assert_array_equal(va.numpy(), vb.numpy())
    idx = tg.tensor(np.arange(8)[None] % cfg.vocab_size)
    np.testing.assert_array_equal(a(idx)[0].detach().numpy(), b(idx)[0].detach().numpy())


def test_generate_shape_and_determinism():
    cfg = tiny()
    model = GPT(cfg).eval()
    start = tg.tensor(np.array([[1, 2, 3], [4, 5, 6]]))
    outs = [model.generate(start, 12, temperature=0.9, top_k=5, generator=tg.Generator(seed=7)) for _ in range(2)]
    assert outs[0].shape == (2, 15) and outs[0].dtype == np.int64
    np.testing.assert_array_equal(outs[0].numpy(), outs[1].numpy())
    np.testing.assert_array_equal(outs[0].numpy()[:, :3], start.numpy())  # prompt kept, context cropped past 8
    assert (outs[0].numpy() >= 0).all() and (outs[0].numpy() < cfg.vocab_size).all()
    other = model.generate(start, 12, temperature=0.9, generator=tg.Generator(seed=8))
    assert not np.array_equal(other.numpy(), outs[0].numpy())
    tg.manual_seed(3)
    d1 = model.generate(start, 4)
    tg.manual_seed(3)
    np.testing.assert_array_equal(d1.numpy(), model.generate(start, 4).numpy())  # default generator + manual_seed


def test_checkpoint_file_is_safetensors_and_truncation_is_a_clear_error(tmp_path):
    from safetensors import safe_open
    model = GPT(tiny())
    opt = model.configure_optimizers(0.1, 1e-3, (0.9, 0.99))
    _, loss = model(tg.tensor(np.zeros((1, 8), dtype=np.int64)), tg.tensor(np.ones((1, 8), dtype=np.int64)))
    loss.backward()
    opt.step()
    path = str(tmp_path / "ckpt.safetensors")
    save_checkpoint(path, model.state_dict(), opt.state_dict(), {"iter_num": 1})
    with safe_open(path, framework="numpy") as f:  # the reference reader accepts it
        keys = set(f.keys())
        assert "model.lm_head.weight" in keys and any(k.startswith("optim.") for k in keys)
        assert "tensorgrad" in f.metadata()
    with open(path, "rb") as f:
        assert f.read(1) != b"\x80"  # not a pickle
    state, ostate, meta = load_checkpoint(path)
    assert meta["iter_num"] == 1 and ostate["state"][0]["step"] == 1
    assert os.path.exists(str(tmp_path / "ckpt.json"))
    raw = open(path, "rb").read()
    for cut in (len(raw) - 100, len(raw) // 2, 20, 4):
        bad = tmp_path / f"cut{cut}.safetensors"
        bad.write_bytes(raw[:cut])
        with pytest.raises(CheckpointError, match="truncated|not a valid|header"):
            load_checkpoint(str(bad))
    hostile = tmp_path / "hostile.safetensors"
    hostile.write_bytes((2 ** 62).to_bytes(8, "little") + b"{}")  # claims an exabyte header
    with pytest.raises(CheckpointError, match="header length"):
        load_checkpoint(str(hostile))
    lying = tmp_path / "lying.safetensors"
    hdr = b'{"x":{"dtype":"F32","shape":[1000000],"data_offsets":[0,4000000]}}'
    lying.write_bytes(len(hdr).to_bytes(8, "little") + hdr + b"\0" * 16)
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(str(lying))
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(str(tmp_path / "missing.safetensors"))


def test_embedded_corpus_is_deterministic_and_tokenizes():
    a = load_default_corpus()
    from tensorgrad.data import corpus as C
    C._cache.clear()
    b = load_default_corpus()
    assert a == b and 500_000 < len(a) < 2_000_000
    info = corpus_info(a, "default")
    assert info["files"] == sorted(info["files"]) and len(info["files"]) >= 20
    assert a.startswith("# ==== argparse.py ====\n")
    tok = CharTokenizer.from_text(a)
    ids = tok.encode(a[:5000])
    assert tok.decode(ids) == a[:5000]
    assert CharTokenizer.from_dict(tok.to_dict()).itos == tok.itos
    with pytest.raises(ValueError, match="not in the vocabulary"):
        CharTokenizer.from_text("abc").encode("abd")
    tr, va = train_val_split(ids, 0.9)
    assert len(tr) == 4500 and len(va) == 500
    s1, s2 = BatchSampler(tr, va, 16, 4, seed=3), BatchSampler(tr, va, 16, 4, seed=3)
    x1, y1 = s1.get_batch("train")
    x2, y2 = s2.get_batch("train")
    np.testing.assert_array_equal(x1.numpy(), x2.numpy())
    np.testing.assert_array_equal(x1.numpy()[:, 1:], y1.numpy()[:, :-1])
    assert x1.shape == (4, 16) and x1.dtype == np.int64
