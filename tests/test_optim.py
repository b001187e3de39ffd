"""tensorgrad.optim vs torch.optim: SGD/Adam/AdamW trajectories (float64, identical initial weights), param groups,
state_dict round trips, gradient accumulation, the fused adamw_step path, and the lr schedulers."""
import math

import numpy as np
import pytest
import torch

import tensorgrad as tg
from tensorgrad import nn, optim
from tensorgrad.backend import kernels
from tensorgrad.nn import functional as F
from tensorgrad.optim import lr_scheduler as S

N_STEPS = 8
RNG = np.random.default_rng(0)
X = RNG.standard_normal((16, 5))
Y = RNG.integers(0, 3, 16)

torch.set_num_threads(1)  # tiny oracle ops: a thread pool only adds latency on a busy machine


def build(T):
    return T.Sequential(T.Linear(5, 12), T.Tanh(), T.LayerNorm(12), T.Linear(12, 3))


def pair(dtype=np.float64):
    m, tm = build(nn), build(torch.nn)
    m.to(dtype)
    tm.to(torch.float64 if dtype == np.float64 else torch.float32)
    with torch.no_grad():
        for (n, p), (tn, tp) in zip(m.named_parameters(), tm.named_parameters()):
            assert n == tn
            tp.copy_(torch.from_numpy(p.detach().numpy().copy()))
    return m, tm


def loss_tg(m, x=X, y=Y, dtype=np.float64):
    return F.cross_entropy(m(tg.tensor(x.astype(dtype))), tg.tensor(y))


def loss_torch(tm, x=X, y=Y, dtype=np.float64):
    return torch.nn.functional.cross_entropy(tm(torch.tensor(x.astype(dtype))), torch.tensor(y))


def train(m, opt, steps, dtype=np.float64):
    for _ in range(steps):
        opt.zero_grad()
        loss_tg(m, dtype=dtype).backward()
        opt.step()


def train_torch(tm, opt, steps, dtype=np.float64):
    for _ in range(steps):
        opt.zero_grad()
        loss_torch(tm, dtype=dtype).backward()
        opt.step()


def assert_same_params(m, tm, tol=1e-12):
    for (n, p), (_, tp) in zip(m.named_parameters(), tm.named_parameters()):
        np.testing.assert_allclose(p.detach().numpy(), tp.detach().numpy(), rtol=tol, atol=tol, err_msg=n)


CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.05)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.5, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.02, betas=(0.9, 0.95), weight_decay=0.1)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.01, maximize=True)),
]


@pytest.mark.parametrize("name,kw", CONFIGS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CONFIGS)])
def test_trajectory_matches_torch(name, kw):
    m, tm = pair()
    opt, topt = getattr(optim, name)(m.parameters(), **kw), getattr(torch.optim, name)(tm.parameters(), **kw)
    train(m, opt, N_STEPS)
    train_torch(tm, topt, N_STEPS)
    assert_same_params(m, tm)
    for p in m.parameters():
        assert p.is_leaf and p.grad_fn is None and isinstance(p, nn.Parameter)


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_adam_reference_kernel_matches_torch(name, kernel_mode):
    """The same trajectory with the compiled kernel and with TENSORGRAD_KERNELS=reference."""
    m, tm = pair()
    kw = dict(lr=0.01, weight_decay=0.1)
    opt, topt = getattr(optim, name)(m.parameters(), **kw), getattr(torch.optim, name)(tm.parameters(), **kw)
    train(m, opt, N_STEPS)
    train_torch(tm, topt, N_STEPS)
    assert_same_params(m, tm)


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_float32_matches_torch(name):
    m, tm = pair(np.float32)
    opt, topt = getattr(optim, name)(m.parameters(), lr=0.01), getattr(torch.optim, name)(tm.parameters(), lr=0.01)
    train(m, opt, N_STEPS, np.float32)
    train_torch(tm, topt, N_STEPS, np.float32)
    assert all(p.dtype == np.float32 for p in m.parameters())
    assert_same_params(m, tm, tol=2e-5)


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_fused_kernel_one_call_per_group(name, monkeypatch):
    calls = []
    real = kernels.get

    def spy(kname, device_type="cpu"):
        fn = real(kname, device_type)
        if kname != "adamw_step":
            return fn

        def wrapped(params, grads, *rest):
            calls.append((len(params), rest))
            return fn(params, grads, *rest)
        return wrapped

    monkeypatch.setattr(kernels, "get", spy)
    m, tm = pair()
    ps = list(m.parameters())
    opt = getattr(optim, name)([{"params": ps[:4]}, {"params": ps[4:], "weight_decay": 0.3}], lr=0.01,
                               weight_decay=0.1)
    train(m, opt, 2)
    assert [c[0] for c in calls] == [4, 2, 4, 2]  # one call per group per step, all tensors at once
    wds = [c[1][6] for c in calls]  # rest = (exp_avgs, exp_avg_sqs, lr, beta1, beta2, eps, weight_decay, step)
    assert wds == ([0.1, 0.3, 0.1, 0.3] if name == "AdamW" else [0.0] * 4)  # Adam folds L2 into the gradient
    assert [c[1][7] for c in calls] == [1, 1, 2, 2]


def test_param_groups_match_torch():
    for name, base in (("SGD", dict(momentum=0.9)), ("AdamW", {}), ("Adam", {})):
        m, tm = pair()
        ps, tps = list(m.parameters()), list(tm.parameters())
        groups = lambda p: [{"params": p[:2], "lr": 0.05, "weight_decay": 0.2}, {"params": p[2:4]},
                            {"params": p[4:], "weight_decay": 0.0}]
        opt = getattr(optim, name)(groups(ps), lr=0.01, weight_decay=0.01, **base)
        topt = getattr(torch.optim, name)(groups(tps), lr=0.01, weight_decay=0.01, **base)
        assert [g["lr"] for g in opt.param_groups] == [0.05, 0.01, 0.01]
        assert [g["weight_decay"] for g in opt.param_groups] == [0.2, 0.01, 0.0]
        train(m, opt, N_STEPS)
        train_torch(tm, topt, N_STEPS)
        assert_same_params(m, tm)


def test_add_param_group_and_errors():
    a, b = nn.Linear(2, 2), nn.Linear(2, 2)
    opt = optim.AdamW(a.parameters(), lr=0.1)
    opt.add_param_group({"params": b.parameters(), "lr": 0.5})
    assert len(opt.param_groups) == 2 and opt.param_groups[1]["lr"] == 0.5
    assert opt.param_groups[1]["betas"] == (0.9, 0.999) and opt.param_groups[1]["weight_decay"] == 0.01
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a.weight]})
    with pytest.raises(ValueError, match="empty"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError):
        optim.SGD(a.weight, lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([a.weight * 2], lr=0.1)
    with pytest.raises(ValueError):
        optim.SGD(a.parameters(), lr=0.1, nesterov=True)
    with pytest.raises(ValueError):
        optim.Adam(a.parameters(), betas=(1.0, 0.9))


def test_zero_grad_and_skips_params_without_grad():
    m = nn.Linear(3, 2)
    opt = optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    m(tg.randn(4, 3)).sum().backward()
    opt.zero_grad(set_to_none=False)
    assert (m.weight.grad.numpy() == 0).all()
    opt.zero_grad()
    assert m.weight.grad is None and m.bias.grad is None
    w = m.weight.detach().numpy().copy()
    opt.step()  # no grads: nothing moves, no state is created
    np.testing.assert_array_equal(m.weight.detach().numpy(), w)
    assert len(opt.state) == 0
    # only the bias gets a gradient: only it moves (Adam too)
    for o in (opt, optim.AdamW(m.parameters(), lr=0.1)):
        (m.bias * 1.0).sum().backward()
        b = m.bias.detach().numpy().copy()
        o.step()
        np.testing.assert_array_equal(m.weight.detach().numpy(), w)
        assert not np.allclose(m.bias.detach().numpy(), b)
        assert m.weight not in o.state and m.bias in o.state
        o.zero_grad()


def test_step_runs_under_no_grad_and_in_place():
    m = nn.Linear(3, 2)
    arrays = [p.array for p in m.parameters()]
    opt = optim.AdamW(m.parameters(), lr=0.1)
    m(tg.randn(4, 3)).sum().backward()
    assert tg.is_grad_enabled()
    opt.step()
    assert tg.is_grad_enabled()
    for p, a in zip(m.parameters(), arrays):
        assert p.array is a and p.grad_fn is None and p.requires_grad  # same arrays, updated in place


def test_closure():
    m, tm = pair()
    opt, topt = optim.SGD(m.parameters(), lr=0.1), torch.optim.SGD(tm.parameters(), lr=0.1)

    def closure():
        opt.zero_grad()
        loss = loss_tg(m)
        loss.backward()
        return loss

    def tclosure():
        topt.zero_grad()
        loss = loss_torch(tm)
        loss.backward()
        return loss

    with tg.no_grad():  # the closure re-enables grad
        loss = opt.step(closure)
    tloss = topt.step(tclosure)
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-12)
    assert_same_params(m, tm)


def test_gradient_accumulation_equals_full_batch():
    """2 micro-batches of half size with loss/2 == 1 full batch (mean loss), then the same AdamW step."""
    a, _ = pair()
    b, _ = pair()
    b.load_state_dict(a.state_dict())
    oa, ob = optim.AdamW(a.parameters(), lr=0.01), optim.AdamW(b.parameters(), lr=0.01)
    for _ in range(3):
        oa.zero_grad()
        loss_tg(a).backward()
        oa.step()
        ob.zero_grad()
        for k in range(2):
            sl = slice(8 * k, 8 * (k + 1))
            (loss_tg(b, X[sl], Y[sl]) / 2).backward()
        ob.step()
        for p, q in zip(a.parameters(), b.parameters()):
            np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("name,kw", [("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
                                     ("Adam", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
                                     ("AdamW", dict(lr=0.01, weight_decay=0.1))])
def test_state_dict_roundtrip_resume(name, kw):
    """train 3 steps, save model + optimizer (+ scheduler), load into fresh objects, 3 more == 6 uninterrupted."""
    ref, _ = pair()
    m, _ = pair()
    m.load_state_dict(ref.state_dict())
    oref = getattr(optim, name)(ref.parameters(), **kw)
    sref = S.WarmupCosineLR(oref, 2, 6, min_lr=1e-4)
    for _ in range(6):
        train(ref, oref, 1)
        sref.step()
    o = getattr(optim, name)(m.parameters(), **kw)
    s = S.WarmupCosineLR(o, 2, 6, min_lr=1e-4)
    for _ in range(3):
        train(m, o, 1)
        s.step()
    msd = {k: v.clone() for k, v in m.state_dict().items()}  # Module.state_dict shares storage, as in torch
    osd, ssd = o.state_dict(), s.state_dict()
    assert set(osd) == {"state", "param_groups"} and osd["param_groups"][0]["params"] == list(range(6))
    assert sorted(osd["state"]) == list(range(6))
    train(m, o, 1)  # the optimizer's state_dict is a snapshot: training on does not change it
    m2, _ = pair()
    o2 = getattr(optim, name)(m2.parameters(), **kw)
    s2 = S.WarmupCosineLR(o2, 2, 6, min_lr=1e-4)
    m2.load_state_dict(msd)
    o2.load_state_dict(osd)
    s2.load_state_dict(ssd)
    assert o2.param_groups[0]["lr"] == osd["param_groups"][0]["lr"]
    for _ in range(3):
        train(m2, o2, 1)
        s2.step()
    for p, q in zip(ref.parameters(), m2.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-13, atol=1e-14)
    assert o2.param_groups[0]["lr"] == oref.param_groups[0]["lr"]
    st = o2.state[next(iter(m2.parameters()))]
    assert all(isinstance(v, (int, float, tg.Tensor)) for v in st.values())


def test_load_torch_optimizer_state_dict():
    """A torch.optim.AdamW state_dict (torch tensors) loads and continues identically."""
    m, tm = pair()
    opt_t = torch.optim.AdamW(tm.parameters(), lr=0.01)
    train_torch(tm, opt_t, 3)
    m.load_state_dict(tm.state_dict())
    opt = optim.AdamW(m.parameters(), lr=0.01)
    opt.load_state_dict(opt_t.state_dict())
    train(m, opt, 3)
    train_torch(tm, opt_t, 3)
    assert_same_params(m, tm)


def test_optimizer_load_state_dict_errors():
    m = nn.Linear(2, 2)
    o = optim.SGD(m.parameters(), lr=0.1)
    sd = o.state_dict()
    o2 = optim.SGD([{"params": [m.weight]}, {"params": [m.bias]}], lr=0.1)
    with pytest.raises(ValueError, match="groups"):
        o2.load_state_dict(sd)
    o3 = optim.SGD([m.weight], lr=0.1)
    with pytest.raises(ValueError, match="parameters"):
        o3.load_state_dict(sd)


# -------------------------------------------------------------------------------------------- schedulers
def _sched_pair(make, steps, lr=0.1, groups=2):
    p = [nn.Parameter(tg.zeros(1)) for _ in range(groups)]
    tp = [torch.zeros(1, requires_grad=True) for _ in range(groups)]
    opt = optim.SGD([{"params": [q], "lr": lr * (i + 1)} for i, q in enumerate(p)], lr=lr)
    topt = torch.optim.SGD([{"params": [q], "lr": lr * (i + 1)} for i, q in enumerate(tp)], lr=lr)
    s, ts = make(S, opt), make(torch.optim.lr_scheduler, topt)
    got, want = [], []
    for _ in range(steps):
        got.append([g["lr"] for g in opt.param_groups])
        want.append([g["lr"] for g in topt.param_groups])
        opt.step()
        topt.step()
        s.step()
        ts.step()
    assert s.get_last_lr() == ts.get_last_lr()
    return got, want, s, opt


@pytest.mark.parametrize("make", [
    lambda L, o: L.LambdaLR(o, lambda e: 0.95 ** e),
    lambda L, o: L.LambdaLR(o, [lambda e: 1 / (e + 1), lambda e: 0.5]),
    lambda L, o: L.StepLR(o, step_size=3, gamma=0.5),
    lambda L, o: L.CosineAnnealingLR(o, T_max=10),
    lambda L, o: L.CosineAnnealingLR(o, T_max=7, eta_min=0.01),
], ids=["lambda", "lambda-per-group", "step", "cosine", "cosine-eta_min"])
def test_schedulers_match_torch(make):
    got, want, _, _ = _sched_pair(make, 25)
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=0)


def test_scheduler_state_dict_resume():
    make = lambda L, o: L.CosineAnnealingLR(o, T_max=10, eta_min=0.001)
    got, _, s, opt = _sched_pair(make, 4)
    full, _, _, _ = _sched_pair(make, 9)
    sd, osd = s.state_dict(), opt.state_dict()
    assert "optimizer" not in sd and sd["last_epoch"] == 4
    p = [nn.Parameter(tg.zeros(1)) for _ in range(2)]
    opt2 = optim.SGD([{"params": [q]} for q in p], lr=123.0)
    opt2.load_state_dict(osd)
    s2 = S.CosineAnnealingLR(opt2, T_max=10, eta_min=0.001)
    s2.load_state_dict(sd)
    opt2.load_state_dict(osd)  # the scheduler's constructor wrote lr; the checkpoint's lr wins
    rest = []
    for _ in range(5):
        rest.append([g["lr"] for g in opt2.param_groups])
        s2.step()
    np.testing.assert_allclose(got + rest, full, rtol=1e-13)
    # LambdaLR saves callable objects' state, not plain functions
    sd = S.LambdaLR(optim.SGD(p, lr=0.1), lambda e: 1.0).state_dict()
    assert sd["lr_lambdas"] == [None]


def nanogpt_lr(it, learning_rate, min_lr, warmup_iters, lr_decay_iters):
    # verbatim from nanoGPT's train.py
    if it < warmup_iters:
        return learning_rate * (it + 1) / (warmup_iters + 1)
    if it > lr_decay_iters:
        return min_lr
    decay_ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
    assert 0 <= decay_ratio <= 1
    coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))
    return min_lr + coeff * (learning_rate - min_lr)


def test_warmup_cosine_matches_nanogpt():
    max_lr, min_lr, warm, decay = 6e-4, 6e-5, 10, 50
    for it in range(70):
        assert S.get_lr(it, max_lr, min_lr, warm, decay) == nanogpt_lr(it, max_lr, min_lr, warm, decay)
    p = nn.Parameter(tg.zeros(1))
    opt = optim.AdamW([p], lr=max_lr)
    s = S.WarmupCosineLR(opt, warm, decay, min_lr)
    for it in range(70):
        assert opt.param_groups[0]["lr"] == nanogpt_lr(it, max_lr, min_lr, warm, decay)
        assert s.get_last_lr() == [opt.param_groups[0]["lr"]]
        p.grad = tg.ones(1)
        opt.step()
        s.step()
    assert opt.param_groups[0]["lr"] == min_lr
    # per-group base lrs scale the warmup/cosine; min_lr may be given per group
    q = nn.Parameter(tg.zeros(1))
    opt = optim.SGD([{"params": [p], "lr": 1.0}, {"params": [q], "lr": 0.5}], lr=0.1)
    s = S.WarmupCosineLR(opt, 2, 6, min_lr=[0.1, 0.05])
    for _ in range(4):
        s.step()
    assert [g["lr"] for g in opt.param_groups] == [nanogpt_lr(4, 1.0, 0.1, 2, 6), nanogpt_lr(4, 0.5, 0.05, 2, 6)]


def test_float16_params_take_the_single_tensor_path():
    m, _ = pair(np.float32)
    ref, _ = pair(np.float32)
    ref.load_state_dict(m.state_dict())
    m.half()
    opt, oref = optim.AdamW(m.parameters(), lr=0.01), optim.AdamW(ref.parameters(), lr=0.01)
    for _ in range(3):
        oref.zero_grad()  # the same gradients for both, computed in float32
        loss_tg(ref, dtype=np.float32).backward()
        for p, q in zip(m.parameters(), ref.parameters()):
            p.grad = tg.tensor(q.grad.numpy().astype(np.float16))
        opt.step()
        oref.step()
    for p, q in zip(m.parameters(), ref.parameters()):
        assert p.dtype == np.float16 and opt.state[p]["exp_avg"].dtype == np.float32
        np.testing.assert_allclose(p.detach().numpy().astype(np.float32), q.detach().numpy(), atol=2e-3, rtol=2e-3)


@pytest.mark.gpu
@pytest.mark.skipif(not tg.cuda_available(), reason="needs CUDA and CuPy")
def test_cuda_module_to_adamw_and_clip_match_cpu():
    m, _ = pair(np.float32)
    ref, _ = pair(np.float32)
    ref.load_state_dict(m.state_dict())
    opt = optim.AdamW(m.parameters(), lr=0.01, weight_decay=0.1)  # built before the move: must stay valid
    ids = [id(p) for p in m.parameters()]
    m.to("cuda")
    assert [id(p) for p in m.parameters()] == ids and all(p.device.type == "cuda" for p in m.parameters())
    oref = optim.AdamW(ref.parameters(), lr=0.01, weight_decay=0.1)
    for _ in range(3):
        for mod, o, dev in ((m, opt, "cuda"), (ref, oref, "cpu")):
            o.zero_grad()
            logits = mod(tg.tensor(X.astype(np.float32), device=dev))
            F.cross_entropy(logits, tg.tensor(Y, device=dev)).backward()
            total = nn.utils.clip_grad_norm_(mod.parameters(), 0.5)
            assert total.device.type == dev
            o.step()
    sd = optim.AdamW(m.parameters()).state_dict()  # empty state is fine
    assert sd["state"] == {}
    m.cpu()
    for p, q in zip(m.parameters(), ref.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-4, atol=1e-5)


def test_adam_signature_and_decoupled_weight_decay_as_torch():
    import inspect
    for ours, theirs in ((tg.optim.Adam, torch.optim.Adam), (tg.optim.AdamW, torch.optim.AdamW)):
        po, pt = inspect.signature(ours.__init__).parameters, inspect.signature(theirs.__init__).parameters
        assert list(po) == list(pt), ours.__name__
        assert [p.kind for p in po.values()] == [p.kind for p in pt.values()], ours.__name__
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((4, 3))
    ours = [tg.tensor(w0.copy(), requires_grad=True) for _ in range(2)]
    theirs = torch.tensor(w0.copy(), requires_grad=True)
    a = tg.optim.Adam([ours[0]], lr=0.1, weight_decay=0.3, decoupled_weight_decay=True)
    b = tg.optim.AdamW([ours[1]], lr=0.1, weight_decay=0.3)
    c = torch.optim.Adam([theirs], lr=0.1, weight_decay=0.3, decoupled_weight_decay=True)
    for _ in range(5):
        g = rng.standard_normal((4, 3))
        for p in ours:
            p.grad = tg.tensor(g)
        theirs.grad = torch.tensor(g)
        a.step(), b.step(), c.step()
    np.testing.assert_array_equal(np.asarray(ours[0].detach()), np.asarray(ours[1].detach()))
    np.testing.assert_allclose(np.asarray(ours[0].detach()), theirs.detach().numpy(), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="Adam: differentiable"):
        tg.optim.Adam([ours[0]], differentiable=True)
