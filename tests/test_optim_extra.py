"""Rprop, ASGD (beyond tests/test_fuzz_optim.py, which steps them next to torch's with drawn hyperparameters):
state_dict round trips, torch's state_dict loaded and stepped on, option errors; and optim.swa_utils against torch:
AveragedModel (SWA mean, EMA through avg_fn and multi_avg_fn, use_buffers), SWALR's learning rates, update_bn."""
import numpy as np
import pytest
import torch

import tensorgrad as tg

RNG = np.random.default_rng(4)


def _np(t):
    return t.detach().numpy() if isinstance(t, torch.Tensor) else np.asarray(t.detach())


def _steps(lib, opt, ps, grads):
    for gs in grads:
        for p, g in zip(ps, gs):
            p.grad = lib.tensor(g)
        opt.step()


OPTS = [("Rprop", dict(lr=0.05, etas=(0.4, 1.5), step_sizes=(1e-4, 1.0))),
        ("ASGD", dict(lr=0.05, lambd=0.01, alpha=0.6, t0=2, weight_decay=0.1))]


@pytest.mark.parametrize("name,kw", OPTS)
def test_state_dict_round_trip_and_torch_state_loaded(name, kw):
    shapes = [(3, 2), (4,)]
    init = [RNG.standard_normal(s) for s in shapes]
    grads = [[RNG.standard_normal(s) for s in shapes] for _ in range(6)]
    # uninterrupted, in both libraries
    final = {}
    for lib in (torch, tg):
        ps = [lib.tensor(a.copy(), requires_grad=True) for a in init]
        opt = getattr(lib.optim, name)(ps, **kw)
        _steps(lib, opt, ps, grads)
        final[lib.__name__] = [_np(p) for p in ps]
    for a, b in zip(final["torch"], final["tensorgrad"]):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-14)
    # three steps, the state saved and loaded into a new optimizer (ours, and torch's into ours), three more
    for source in (tg, torch):
        ps = [source.tensor(a.copy(), requires_grad=True) for a in init]
        opt = getattr(source.optim, name)(ps, **kw)
        _steps(source, opt, ps, grads[:3])
        sd = opt.state_dict()
        ps2 = [tg.tensor(_np(p).copy(), requires_grad=True) for p in ps]
        opt2 = getattr(tg.optim, name)(ps2, **kw)
        opt2.load_state_dict(sd)
        assert sorted(opt2.state_dict()["state"][0]) == sorted(sd["state"][0])
        _steps(tg, opt2, ps2, grads[3:])
        for a, b in zip(final["torch"], ps2):
            np.testing.assert_allclose(_np(b), a, rtol=1e-12, atol=1e-14, err_msg=f"state from {source.__name__}")


@pytest.mark.parametrize("name,kw", [("Rprop", dict(etas=(1.2, 0.5))), ("Rprop", dict(etas=(0.5, 1.0))),
                                     ("Rprop", dict(lr=-1.0)), ("ASGD", dict(lr=-0.1)),
                                     ("ASGD", dict(weight_decay=-1.0))])
def test_invalid_options_refused_as_torch(name, kw):
    for lib in (torch, tg):
        with pytest.raises(ValueError):
            getattr(lib.optim, name)([lib.zeros(2, requires_grad=True)], **kw)


# ------------------------------------------------------------------------------------------ swa_utils
def _net(lib):
    return lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.BatchNorm1d(4), lib.nn.ReLU(), lib.nn.Linear(4, 2)).double()


def _swa_run(lib, make_avg, steps=5):
    torch.manual_seed(0)
    model = _net(lib)
    model.load_state_dict({k: lib.tensor(v) for k, v in _W.items()})
    avg = make_avg(lib, model)
    opt = lib.optim.SGD(model.parameters(), lr=0.1)
    out = []
    for k in range(steps):
        x = lib.tensor(_X[k])
        opt.zero_grad()
        model(x).pow(2).sum().backward()
        opt.step()
        avg.update_parameters(model)
        out.append({n: _np(v) for n, v in avg.state_dict().items()})
    out.append(_np(avg(lib.tensor(_X[0]))))
    return out


_W = {k: v.numpy().copy() for k, v in _net(torch).state_dict().items()}
_X = [np.random.default_rng(k).standard_normal((6, 3)) for k in range(6)]

AVERAGERS = {
    "swa": lambda lib, m: lib.optim.swa_utils.AveragedModel(m),
    "swa_buffers": lambda lib, m: lib.optim.swa_utils.AveragedModel(m, use_buffers=True),
    "ema_multi": lambda lib, m: lib.optim.swa_utils.AveragedModel(
        m, multi_avg_fn=lib.optim.swa_utils.get_ema_multi_avg_fn(0.9)),
    "ema_multi_buffers": lambda lib, m: lib.optim.swa_utils.AveragedModel(
        m, multi_avg_fn=lib.optim.swa_utils.get_ema_multi_avg_fn(0.3), use_buffers=True),
    "ema_avg_fn": lambda lib, m: lib.optim.swa_utils.AveragedModel(m, avg_fn=lib.optim.swa_utils.get_ema_avg_fn(0.8)),
    "swa_multi": lambda lib, m: lib.optim.swa_utils.AveragedModel(
        m, multi_avg_fn=lib.optim.swa_utils.get_swa_multi_avg_fn()),
    "swa_avg_fn": lambda lib, m: lib.optim.swa_utils.AveragedModel(m, avg_fn=lib.optim.swa_utils.get_swa_avg_fn()),
}


@pytest.mark.parametrize("kind", sorted(AVERAGERS))
def test_averaged_model_matches_torch(kind):
    theirs, ours = _swa_run(torch, AVERAGERS[kind]), _swa_run(tg, AVERAGERS[kind])
    for k, (a, b) in enumerate(zip(theirs[:-1], ours[:-1])):
        assert list(a) == list(b), kind
        for n in a:
            np.testing.assert_allclose(b[n], a[n], rtol=1e-12, atol=1e-14, err_msg=f"{kind} update {k}: {n}")
    np.testing.assert_allclose(ours[-1], theirs[-1], rtol=1e-10, atol=1e-12)


def test_averaged_model_copies_and_refuses_two_functions():
    m = _net(tg)
    avg = tg.optim.swa_utils.AveragedModel(m)
    assert avg.module is not m and avg.module[0].weight is not m[0].weight
    assert int(avg.n_averaged) == 0 and avg.n_averaged.dtype == tg.int64
    for lib in (torch, tg):
        with pytest.raises(AssertionError, match="Only one of avg_fn and multi_avg_fn"):
            lib.optim.swa_utils.AveragedModel(_net(lib), avg_fn=lib.optim.swa_utils.get_swa_avg_fn(),
                                              multi_avg_fn=lib.optim.swa_utils.get_swa_multi_avg_fn())
        with pytest.raises(ValueError, match="Invalid decay value"):
            lib.optim.swa_utils.get_ema_multi_avg_fn(1.5)


@pytest.mark.parametrize("kw", [dict(swa_lr=0.05), dict(swa_lr=0.05, anneal_epochs=3, anneal_strategy="linear"),
                                dict(swa_lr=[0.01, 0.2], anneal_epochs=0), dict(swa_lr=0.5, anneal_epochs=4)])
def test_swalr_matches_torch(kw):
    lrs = []
    for lib in (torch, tg):
        opt = lib.optim.SGD([{"params": [lib.zeros(1, requires_grad=True)]},
                             {"params": [lib.zeros(1, requires_grad=True)], "lr": 0.3}], lr=0.1)
        sched = lib.optim.swa_utils.SWALR(opt, **kw)
        got = []
        for _ in range(14):
            opt.step()
            sched.step()
            got.append([g["lr"] for g in opt.param_groups] + sched.get_last_lr())
        sd = sched.state_dict()
        assert "optimizer" not in sd and "anneal_func" not in sd
        sched.load_state_dict(sd)
        sched.step()
        got.append(sched.get_last_lr() * 2)
        lrs.append(got)
    np.testing.assert_allclose(np.array(lrs[1]), np.array(lrs[0]), rtol=1e-13)
    for lib in (torch, tg):
        opt = lib.optim.SGD([lib.zeros(1, requires_grad=True)], lr=0.1)
        with pytest.raises(ValueError, match="anneal_strategy must be one of"):
            lib.optim.swa_utils.SWALR(opt, 0.1, anneal_strategy="exp")
        with pytest.raises(ValueError, match="anneal_epochs must be equal or greater than 0"):
            lib.optim.swa_utils.SWALR(opt, 0.1, anneal_epochs=-1)


@pytest.mark.parametrize("pairs", [False, True])
def test_update_bn_matches_torch(pairs):
    res = []
    for lib in (torch, tg):
        m = _net(lib)
        m.load_state_dict({k: lib.tensor(v) for k, v in _W.items()})
        m.eval()
        loader = [(lib.tensor(x), lib.zeros(6)) if pairs else lib.tensor(x) for x in _X]
        lib.optim.swa_utils.update_bn(loader, m)
        assert not m.training and m[1].momentum == 0.1
        res.append({k: _np(v) for k, v in m.state_dict().items()})
    for k in res[0]:
        np.testing.assert_allclose(res[1][k], res[0][k], rtol=1e-12, atol=1e-14, err_msg=k)
    tg.optim.swa_utils.update_bn([tg.zeros(2, 3)], tg.nn.Linear(3, 1))  # no BatchNorm: nothing to do
