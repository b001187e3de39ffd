"""The higher-order examples (examples/wgan_gp_gradient_penalty.py, maml_sine.py, gpt_hessian_eigenvalue.py,
pinn_ode.py) against PyTorch: each example is written once against torch's API and run on both libraries with the
same weights and data in float64, small sizes; and a Hessian-vector product through the whole GPT (packed causal
attention, layer norm, GELU, tied embeddings, cross-entropy with ignore_index) equal to torch's on its math SDPA path
(torch's fused CPU attention has no double backward)."""
import os
import sys

import numpy as np
import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

import tensorgrad as tg
from tensorgrad.models import GPT, GPTConfig
from helpers import load_example

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
from torch_gpt import TGPT, copy_weights  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: see conftest.one_thread


def _close_lists(a, b, rtol=1e-9, atol=1e-12):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=rtol, atol=atol)


# ------------------------------------------------------------------------------------------- WGAN-GP
def test_wgan_gp_seed_a_backprop_through_backprop():
    ex = load_example("wgan_gp_gradient_penalty")
    r, t = ex.seed_a_penalty(tg), ex.seed_a_penalty(torch)
    assert r["D"] == pytest.approx(0.762033, abs=1e-6)          # seed A's forward pass
    np.testing.assert_allclose(r["a"], [0.646799, 0.678088], atol=1e-6)
    for k in ("D", "P"):
        assert r[k] == pytest.approx(t[k], rel=1e-12)
    for k in ("a", "dD_dx", "dP_dW1", "dP_db1", "dP_dW2", "dP_db2"):
        np.testing.assert_allclose(r[k], t[k], rtol=1e-10, atol=1e-14, err_msg=k)
    # the second-order gradient against finite differences of the first-order one
    np.testing.assert_allclose(r["dP_dW1"], ex.seed_a_penalty_fd(), rtol=1e-6, atol=1e-9)


def test_wgan_gp_critic_steps_match_torch():
    ex = load_example("wgan_gp_gradient_penalty")
    a, b = ex.run(tg, steps=4), ex.run(torch, steps=4)
    _close_lists(a["w_estimate"], b["w_estimate"])
    _close_lists(a["penalty"], b["penalty"])
    _close_lists(a["weights"], b["weights"])


# ---------------------------------------------------------------------------------------------- MAML
def test_maml_meta_steps_match_torch():
    ex = load_example("maml_sine")
    kw = dict(meta_steps=3, tasks=2, hidden=16, n_eval=2)
    a, b = ex.run(tg, **kw), ex.run(torch, **kw)
    _close_lists(a["meta_losses"], b["meta_losses"])
    _close_lists(a["weights"], b["weights"])
    assert a["eval_before"] == pytest.approx(b["eval_before"], rel=1e-9)
    assert a["eval_after"] == pytest.approx(b["eval_after"], rel=1e-9)


# --------------------------------------------------------------------------------------------- PINN
def test_pinn_steps_match_torch_and_it_learns():
    ex = load_example("pinn_ode")
    a, b = ex.run(tg, steps=5, n_points=16), ex.run(torch, steps=5, n_points=16)
    _close_lists(a["losses"], b["losses"])
    _close_lists(a["weights"], b["weights"])
    np.testing.assert_allclose(a["u"], b["u"], rtol=1e-9, atol=1e-12)
    r = ex.run(tg, steps=250, n_points=32)
    assert r["losses"][-1] < 0.01 * r["losses"][0]
    assert r["max_error"] < 0.05


# ----------------------------------------------------------------------------- GPT: HVP and eigenvalue
TORCH_NAMES = {"transformer.wte.weight": "wte.weight", "transformer.wpe.weight": "wpe.weight",
               "transformer.ln_f.weight": "ln_f.weight", "transformer.ln_f.bias": "ln_f.bias",
               "lm_head.weight": "wte.weight"}


def _torch_name(k):
    k = TORCH_NAMES.get(k, k)
    return k.replace("transformer.h.", "h.").replace("attn.c_attn", "c_attn").replace("attn.c_proj", "attn_proj") \
            .replace("mlp.c_fc", "c_fc").replace("mlp.c_proj", "mlp_proj")


def _twins(n_layer=2, n_head=2, n_embd=16, block_size=8, vocab_size=11, seed=0):
    cfg = dict(n_layer=n_layer, n_head=n_head, n_embd=n_embd, block_size=block_size, vocab_size=vocab_size)
    tg.manual_seed(seed)
    m = GPT(GPTConfig(dropout=0.0, bias=True, **cfg)).double()
    tm = TGPT(**cfg).double()
    copy_weights(m, tm)
    names = [n for n, _ in m.named_parameters()]
    tparams = dict(tm.named_parameters())
    return m, tm, names, [p for _, p in m.named_parameters()], [tparams[_torch_name(n)] for n in names]


def _torch_loss(tm, idx, tgt):
    with sdpa_kernel(SDPBackend.MATH):  # torch's flash/fused CPU attention has no double backward
        return tm(torch.from_numpy(idx), torch.from_numpy(tgt))[1]


def test_gpt_hvp_matches_torch_math_sdpa():
    m, tm, names, ps, tps = _twins()
    assert len(ps) == len(list(tm.parameters()))  # the tied wte/lm_head weight is one parameter in both
    rng = np.random.default_rng(0)
    idx = rng.integers(0, 11, size=(3, 8))
    tgt = rng.integers(0, 11, size=(3, 8))
    tgt[0, 2] = -1  # ignore_index=-1, as nanoGPT
    vs = [rng.standard_normal(tuple(p.shape)) for p in ps]
    _, loss = m(tg.tensor(idx), tg.tensor(tgt))
    gs = tg.autograd.grad(loss, ps, create_graph=True)
    hv = tg.autograd.grad(sum((g * tg.tensor(v)).sum() for g, v in zip(gs, vs)), ps)
    tloss = _torch_loss(tm, idx, tgt)
    tgs = torch.autograd.grad(tloss, tps, create_graph=True)
    thv = torch.autograd.grad(sum((g * torch.from_numpy(v)).sum() for g, v in zip(tgs, vs)), tps)
    assert abs(loss.item() - tloss.item()) < 1e-12
    for n, g, tgr in zip(names, gs, tgs):
        np.testing.assert_allclose(g.detach().numpy(), tgr.detach().numpy(), rtol=1e-9, atol=1e-12, err_msg=n)
    for n, h, th in zip(names, hv, thv):
        np.testing.assert_allclose(h.numpy(), th.numpy(), rtol=1e-8, atol=1e-11, err_msg=n)
        assert np.abs(h.numpy()).max() > 0, n  # every parameter's block of H v is nonzero: nothing silently zero


def test_gpt_hessian_power_iteration_matches_torch():
    ex = load_example("gpt_hessian_eigenvalue")
    m, tm, names, ps, tps = _twins(n_embd=16, block_size=8, vocab_size=13)
    rng = np.random.default_rng(1)
    idx, tgt = rng.integers(0, 13, size=(2, 8)), rng.integers(0, 13, size=(2, 8))
    X, Y = tg.tensor(idx), tg.tensor(tgt)
    shapes = [tuple(p.shape) for p in ps]
    lam, lams = ex.power_iteration(ex.make_hvp(tg, ps, lambda: m(X, Y)[1]), shapes, iters=6)
    tlam, tlams = ex.power_iteration(ex.make_hvp(torch, tps, lambda: _torch_loss(tm, idx, tgt)), shapes, iters=6)
    np.testing.assert_allclose(lams, tlams, rtol=1e-8, atol=1e-10)
    # the shifted iteration (largest positive eigenvalue when a negative one dominates) agrees too
    s1 = ex.power_iteration(ex.make_hvp(tg, ps, lambda: m(X, Y)[1]), shapes, iters=3, shift=-abs(lam))[1]
    s2 = ex.power_iteration(ex.make_hvp(torch, tps, lambda: _torch_loss(tm, idx, tgt)), shapes, iters=3,
                            shift=-abs(lam))[1]
    np.testing.assert_allclose(s1, s2, rtol=1e-8, atol=1e-10)


def test_power_iteration_finds_the_top_eigenvalue_of_a_known_matrix():
    ex = load_example("gpt_hessian_eigenvalue")
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.standard_normal((12, 12)))
    H = Q @ np.diag([-5.0, 3.0, 2.0] + [0.5] * 9) @ Q.T
    hvp = lambda vs: [H @ vs[0]]  # noqa: E731
    lam, _ = ex.power_iteration(hvp, [(12,)], iters=300, tol=1e-12)
    assert lam == pytest.approx(-5.0, rel=1e-6)
    top, _ = ex.power_iteration(hvp, [(12,)], iters=300, tol=1e-12, shift=lam)
    assert top == pytest.approx(3.0, rel=1e-6)


# ------------------------------------------------------------------------------ the scripts' main()
@pytest.mark.parametrize("name,argv", [
    ("wgan_gp_gradient_penalty", ["--steps", "2"]),
    ("maml_sine", ["--meta-steps", "2"]),
    ("gpt_hessian_eigenvalue", ["--iters", "3", "--train-steps", "1"]),
    ("pinn_ode", ["--steps", "2"]),
])
def test_example_main_runs(name, argv, capsys):
    load_example(name).main(argv)
    assert capsys.readouterr().out.strip()
