"""RMSprop, Adagrad, Adadelta, Adamax, NAdam, RAdam (and SGD again) vs torch.optim: identical float64 parameters and
gradients fed to both for 30+ steps, parameters and every state entry compared after each step; several groups
with different lrs and per-group options; a parameter whose grad is sometimes None; state_dict round trips;
signatures, defaults and hyperparameter errors."""
import copy
import inspect

import numpy as np
import pytest
import torch

import tensorgrad as tg
from tensorgrad import nn, optim

torch.set_num_threads(1)  # tiny oracle ops: a thread pool only adds latency on a busy machine

N_STEPS = 32
TOL = 1e-12
SHAPES = [(3, 4), (5,), (), (2, 3, 2), (4, 1)]
NONE_PARAM = 3  # this one has no gradient at the first two steps and every fourth step after


def has_grad(i, step):
    return not (i == NONE_PARAM and (step < 2 or step % 4 == 0))


# per-optimizer option overrides for the third parameter group
GROUP_OPTS = {"SGD": {"momentum": 0.5, "weight_decay": 0.2}, "RMSprop": {"centered": True, "momentum": 0.3},
              "Adagrad": {"lr_decay": 0.1, "weight_decay": 0.2}, "Adadelta": {"rho": 0.7},
              "Adamax": {"betas": (0.5, 0.9)}, "NAdam": {"momentum_decay": 0.02, "weight_decay": 0.3},
              "RAdam": {"betas": (0.8, 0.99), "eps": 1e-3}}

CONFIGS = [
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, maximize=True)),
    ("RMSprop", dict()),
    ("RMSprop", dict(lr=0.02, alpha=0.9, eps=1e-6, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5, weight_decay=0.05, maximize=True)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.1)),
    ("Adagrad", dict(lr=0.1, initial_accumulator_value=0.5, eps=1e-6, maximize=True)),
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.5, eps=1e-4, weight_decay=0.1)),
    ("Adadelta", dict(rho=0.0, maximize=True)),
    ("Adamax", dict()),
    ("Adamax", dict(lr=0.01, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1)),
    ("Adamax", dict(lr=0.01, betas=(0.3, 0.5), maximize=True)),  # the lerp's other branch (weight >= 0.5)
    ("NAdam", dict()),
    ("NAdam", dict(lr=0.01, weight_decay=0.1)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("NAdam", dict(lr=0.01, betas=(0.5, 0.9), momentum_decay=0.01, maximize=True)),
    ("RAdam", dict(lr=0.01)),
    ("RAdam", dict(lr=0.01, weight_decay=0.1)),
    ("RAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("RAdam", dict(lr=0.01, betas=(0.9, 0.9))),  # rho_inf = 19: the rectified branch starts at another step
]
IDS = [f"{n}-{i}" for i, (n, _) in enumerate(CONFIGS)]


def make_params(seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    ps = [nn.Parameter(tg.tensor(a.copy())) for a in arrays]
    tps = [torch.tensor(a.copy(), requires_grad=True) for a in arrays]
    return ps, tps


def groups(name, ps, lr):
    """Three groups: the defaults, a doubled lr, and a halved lr with option overrides."""
    return [{"params": ps[:2]}, {"params": ps[2:4], "lr": 2 * lr},
            dict({"params": ps[4:], "lr": lr / 2}, **GROUP_OPTS[name])]


def pair(name, kw, seed=0, dtype=np.float64):
    ps, tps = make_params(seed, dtype)
    lr = kw.get("lr", inspect.signature(getattr(optim, name)).parameters["lr"].default)
    opt = getattr(optim, name)(groups(name, ps, lr), **kw)
    topt = getattr(torch.optim, name)(groups(name, tps, lr), **kw)
    return ps, tps, opt, topt


def feed(ps, tps, step, seed=0, dtype=np.float64):
    """The same random gradients (or None) for both libraries."""
    rng = np.random.default_rng(1000 * seed + step)
    for i, (p, tp) in enumerate(zip(ps, tps)):
        g = rng.standard_normal(p.shape).astype(dtype)
        if has_grad(i, step):
            p.grad, tp.grad = tg.tensor(g), torch.tensor(g)
        else:
            p.grad, tp.grad = None, None


def assert_state_matches(opt, topt, ps, tps, tol=TOL, where=""):
    for i, (p, tp) in enumerate(zip(ps, tps)):
        np.testing.assert_allclose(p.detach().numpy(), tp.detach().numpy(), rtol=tol, atol=tol,
                                   err_msg=f"param {i} {where}")
        st, tst = opt.state.get(p, {}), topt.state.get(tp, {})
        assert list(st) == list(tst), f"param {i} {where}: state keys {list(st)} vs torch {list(tst)}"
        for k, tv in tst.items():
            v = st[k]
            if k == "step":
                assert isinstance(v, int) and v == tv.item(), (k, v, tv)
                continue
            assert isinstance(v, tg.Tensor) and v.dtype == tv.numpy().dtype, (k, v.dtype, tv.dtype)
            np.testing.assert_allclose(v.numpy(), tv.numpy(), rtol=tol, atol=tol, err_msg=f"{k} of param {i} {where}")


def run_both(ps, tps, opt, topt, steps, start=0, check=True, seed=0):
    for step in range(start, start + steps):
        feed(ps, tps, step, seed)
        opt.step()
        topt.step()
        if check:
            assert_state_matches(opt, topt, ps, tps, where=f"after step {step}")


# ------------------------------------------------------------------------------------------------ trajectories
@pytest.mark.parametrize("name,kw", CONFIGS, ids=IDS)
def test_trajectory_and_state_match_torch(name, kw):
    ps, tps, opt, topt = pair(name, kw)
    assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in topt.param_groups]
    run_both(ps, tps, opt, topt, N_STEPS)
    assert all(p.is_leaf and p.grad_fn is None and p.dtype == np.float64 for p in ps)
    moved = [not np.array_equal(p.detach().numpy(), a.detach().numpy()) for p, a in zip(ps, make_params()[1])]
    assert all(moved)


@pytest.mark.parametrize("name,kw", [c for c in CONFIGS if c[0] == "NAdam"], ids=[i for i in IDS if "NAdam" in i])
def test_nadam_under_float64_default_dtype(name, kw):
    """torch keeps NAdam's mu_product in the default dtype: float64 here, float32 otherwise (tested above)."""
    old, told = tg.get_default_dtype(), torch.get_default_dtype()
    tg.set_default_dtype(tg.float64)
    torch.set_default_dtype(torch.float64)
    try:
        ps, tps, opt, topt = pair(name, kw)
        run_both(ps, tps, opt, topt, N_STEPS)
        assert opt.state[ps[0]]["mu_product"].dtype == np.float64
    finally:
        tg.set_default_dtype(old)
        torch.set_default_dtype(told)


@pytest.mark.parametrize("name", sorted(GROUP_OPTS))
def test_float32_params_match_torch(name):
    kw = dict(CONFIGS[[n for n, _ in CONFIGS].index(name)][1])
    ps, tps = make_params(dtype=np.float32)
    opt, topt = getattr(optim, name)(ps, **kw), getattr(torch.optim, name)(tps, **kw)
    for step in range(10):
        feed(ps, tps, step, dtype=np.float32)
        opt.step()
        topt.step()
    for p, tp in zip(ps, tps):
        assert p.dtype == np.float32 and all(v.dtype == np.float32 for v in opt.state[p].values()
                                             if isinstance(v, tg.Tensor) and v.ndim)
        np.testing.assert_allclose(p.detach().numpy(), tp.detach().numpy(), rtol=2e-5, atol=2e-6)


def test_grad_of_another_dtype_is_refused_at_assignment():
    # torch refuses `p.grad = g` when g's dtype differs from p's (issue 17 item 5): no optimizer ever sees one
    p = nn.Parameter(tg.ones(3, dtype=tg.float64))
    with pytest.raises(RuntimeError, match="dtype"):
        p.grad = tg.tensor(np.full(3, 0.5, np.float32))
    p.grad = tg.tensor(np.full(3, 0.5))
    optim.RMSprop([p], lr=0.1).step()
    assert p.dtype == np.float64


def test_step_is_in_place_under_no_grad_and_bumps_version():
    for name in GROUP_OPTS:
        p = nn.Parameter(tg.randn(4))
        arr, v = p.array, p._version
        opt = getattr(optim, name)([p], lr=0.1)
        (p * p).sum().backward()
        opt.step()
        assert p.array is arr and p._version == v + 1 and p.grad_fn is None and tg.is_grad_enabled()


def test_no_grad_creates_no_state_except_adagrad():
    """torch creates Adagrad's state for every parameter at construction, the others lazily at a first gradient."""
    for name in GROUP_OPTS:
        ps, tps = make_params()
        opt, topt = getattr(optim, name)(ps, lr=0.1), getattr(torch.optim, name)(tps, lr=0.1)
        feed(ps, tps, 0)  # parameter NONE_PARAM has no grad
        opt.step()
        topt.step()
        assert (ps[NONE_PARAM] in opt.state) == (tps[NONE_PARAM] in topt.state) == (name == "Adagrad")
        assert_state_matches(opt, topt, ps, tps)


def test_adagrad_added_group_uses_the_constructor_accumulator_value():
    ps, tps = make_params()
    opt = optim.Adagrad(ps[:2], lr=0.1, initial_accumulator_value=0.3)
    topt = torch.optim.Adagrad(tps[:2], lr=0.1, initial_accumulator_value=0.3)
    opt.add_param_group({"params": ps[2:], "initial_accumulator_value": 5.0})
    topt.add_param_group({"params": tps[2:], "initial_accumulator_value": 5.0})
    run_both(ps, tps, opt, topt, 6)
    feed(ps, tps, 1)
    assert_state_matches(opt, topt, ps, tps)


def test_closure_returns_loss():
    p, tp = nn.Parameter(tg.tensor([1.0, -2.0], dtype=tg.float64)), torch.tensor([1.0, -2.0], dtype=torch.float64,
                                                                                  requires_grad=True)
    opt, topt = optim.NAdam([p], lr=0.1), torch.optim.NAdam([tp], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    def tclosure():
        topt.zero_grad()
        loss = (tp * tp).sum()
        loss.backward()
        return loss

    with tg.no_grad():  # the closure re-enables grad
        for _ in range(3):
            assert opt.step(closure).item() == pytest.approx(topt.step(tclosure).item(), rel=1e-12)
    np.testing.assert_allclose(p.detach().numpy(), tp.detach().numpy(), rtol=TOL)
    opt.zero_grad()
    assert p.grad is None


# ------------------------------------------------------------------------------------------------ state_dict
ROUNDTRIP = [
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5, weight_decay=0.05)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, initial_accumulator_value=0.2)),
    ("Adadelta", dict(rho=0.8, weight_decay=0.1)),
    ("Adamax", dict(lr=0.01, weight_decay=0.1)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("RAdam", dict(lr=0.01, weight_decay=0.1)),
]


@pytest.mark.parametrize("default_dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,kw", ROUNDTRIP, ids=[n for n, _ in ROUNDTRIP])
def test_state_dict_roundtrip_resume(name, kw, default_dtype):
    """N steps, state_dict, a fresh optimizer over copies of the parameters loads it, N more steps == 2N
    uninterrupted; torch doing the same save/load stays equal to it all along."""
    old, told = tg.get_default_dtype(), torch.get_default_dtype()
    tg.set_default_dtype(getattr(tg, default_dtype))
    torch.set_default_dtype(getattr(torch, default_dtype))
    try:
        half = N_STEPS // 2
        ref, tref, oref, toref = pair(name, kw)
        run_both(ref, tref, oref, toref, 2 * half, check=False)

        ps, tps, opt, topt = pair(name, kw)
        run_both(ps, tps, opt, topt, half)
        sd, tsd = opt.state_dict(), copy.deepcopy(topt.state_dict())  # torch's shares the live tensors
        assert set(sd) == {"state", "param_groups"}
        assert [g["params"] for g in sd["param_groups"]] == [g["params"] for g in tsd["param_groups"]]
        assert sorted(sd["state"]) == sorted(tsd["state"])
        for g, tgr in zip(sd["param_groups"], tsd["param_groups"]):
            assert all(tgr[k] == v for k, v in g.items()), (g, tgr)  # our options are a subset of torch's
        at_save = [p.detach().numpy().copy() for p in ps]
        snapshot = {i: {k: (v.numpy().copy() if isinstance(v, tg.Tensor) else v) for k, v in s.items()}
                    for i, s in sd["state"].items()}
        run_both(ps, tps, opt, topt, 1, start=half, check=False)
        for i, s in sd["state"].items():  # the saved dict is a snapshot: training on does not change it
            for k, v in s.items():
                np.testing.assert_array_equal(v.numpy() if isinstance(v, tg.Tensor) else v, snapshot[i][k])

        # fresh parameters holding the values at the save point; fresh optimizers built with another lr (the
        # loaded param_groups win)
        ps2, tps2 = make_params(seed=7)
        with torch.no_grad():
            for a, b, v in zip(ps2, tps2, at_save):
                a.array[...] = v
                b.copy_(torch.from_numpy(v))
        opt2 = getattr(optim, name)(groups(name, ps2, 123.0), **dict(kw, lr=123.0))
        topt2 = getattr(torch.optim, name)(groups(name, tps2, 123.0), **dict(kw, lr=123.0))
        opt2.load_state_dict(sd)
        topt2.load_state_dict(tsd)
        assert [g["lr"] for g in opt2.param_groups] == [g["lr"] for g in oref.param_groups]
        assert_state_matches(opt2, topt2, ps2, tps2, where="after load")
        run_both(ps2, tps2, opt2, topt2, half, start=half)

        exact = not (name == "NAdam" and default_dtype == "float32")
        for p, q in zip(ref, ps2):
            if exact:
                np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
            else:
                # torch's own quirk, reproduced: loading casts the float32 mu_product to the float64 params' dtype
                np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-6, atol=1e-8)
        if name == "NAdam":
            assert opt2.state[ps2[0]]["mu_product"].dtype == np.float64
            assert isinstance(opt2.state[ps2[0]]["mu_product"].array, np.ndarray)
    finally:
        tg.set_default_dtype(old)
        torch.set_default_dtype(told)


@pytest.mark.parametrize("name,kw", ROUNDTRIP, ids=[n for n, _ in ROUNDTRIP])
def test_load_torch_state_dict_and_continue(name, kw):
    """A torch.optim state_dict (torch tensors, float steps) loads into ours, and the run goes on with torch's run
    that loaded it too (loading casts floating state to the parameters' dtype, NAdam's mu_product included)."""
    ps, tps, opt, topt = pair(name, kw)
    run_both(ps, tps, opt, topt, 5, check=False)
    tsd = copy.deepcopy(topt.state_dict())
    ps2, tps2, opt2, topt2 = pair(name, kw, seed=3)
    with torch.no_grad():
        for a, b, c in zip(ps2, tps2, tps):
            a.array[...] = c.detach().numpy()
            b.copy_(c)
    opt2.load_state_dict(tsd)
    topt2.load_state_dict(tsd)
    assert_state_matches(opt2, topt2, ps2, tps2, where="after load")
    run_both(ps2, tps2, opt2, topt2, 10, start=5)


# ------------------------------------------------------------------------------------------------ API and errors
@pytest.mark.parametrize("name", ["SGD"] + sorted(GROUP_OPTS.keys() - {"SGD"}))
def test_signature_and_defaults_match_torch(name):
    ours, theirs = inspect.signature(getattr(optim, name)), inspect.signature(getattr(torch.optim, name))
    assert [(p.name, p.kind) for p in ours.parameters.values()] == \
        [(p.name, p.kind) for p in theirs.parameters.values()]
    for p in ours.parameters.values():
        assert p.default == theirs.parameters[p.name].default, p.name
    p, tp = nn.Parameter(tg.zeros(2)), torch.zeros(2, requires_grad=True)
    d, td = getattr(optim, name)([p]).defaults, getattr(torch.optim, name)([tp]).defaults
    assert all(td[k] == v for k, v in d.items()) and d  # the options we keep are torch's, same values


BAD = [
    ("SGD", dict(lr=-0.1), "invalid learning rate -0.1"),
    ("SGD", dict(momentum=-0.5), "invalid momentum value -0.5"),
    ("SGD", dict(weight_decay=-1e-2), "invalid weight_decay value -0.01"),
    ("SGD", dict(momentum=0.9, dampening=0.1, nesterov=True), "Nesterov momentum requires"),
    ("RMSprop", dict(lr=-1.0), "invalid learning rate -1.0"),
    ("RMSprop", dict(eps=-1e-8), "invalid epsilon value -1e-08"),
    ("RMSprop", dict(momentum=-0.1), "invalid momentum value -0.1"),
    ("RMSprop", dict(weight_decay=-0.1), "invalid weight_decay value -0.1"),
    ("RMSprop", dict(alpha=-0.9), "invalid alpha value -0.9"),
    ("Adagrad", dict(lr=-0.1), "invalid learning rate -0.1"),
    ("Adagrad", dict(lr_decay=-0.1), "invalid lr_decay value -0.1"),
    ("Adagrad", dict(weight_decay=-0.1), "invalid weight_decay value -0.1"),
    ("Adagrad", dict(initial_accumulator_value=-0.1), "invalid initial_accumulator_value -0.1"),
    ("Adagrad", dict(eps=-0.1), "invalid epsilon value -0.1"),
    ("Adadelta", dict(lr=-0.1), "invalid learning rate -0.1"),
    ("Adadelta", dict(rho=1.5), "invalid rho value 1.5"),
    ("Adadelta", dict(rho=-0.1), "invalid rho value -0.1"),
    ("Adadelta", dict(eps=-0.1), "invalid epsilon value -0.1"),
    ("Adadelta", dict(weight_decay=-0.1), "invalid weight_decay value -0.1"),
    ("Adamax", dict(lr=-0.1), "invalid learning rate -0.1"),
    ("Adamax", dict(eps=-0.1), "invalid epsilon value -0.1"),
    ("Adamax", dict(betas=(1.0, 0.9)), "invalid beta parameter at index 0: 1.0"),
    ("Adamax", dict(betas=(0.9, -0.1)), "invalid beta parameter at index 1: -0.1"),
    ("Adamax", dict(weight_decay=-0.1), "invalid weight_decay value -0.1"),
    ("NAdam", dict(lr=float("nan")), "invalid learning rate nan"),
    ("NAdam", dict(betas=(0.9, 1.0)), "invalid beta parameter at index 1: 1.0"),
    ("NAdam", dict(betas=(0.9,)), r"betas must be a pair \(beta1, beta2\), got \(0.9,\)"),
    ("NAdam", dict(momentum_decay=-1e-3), "invalid momentum_decay value -0.001"),
    ("NAdam", dict(weight_decay=-0.1), "invalid weight_decay value -0.1"),
    ("RAdam", dict(lr=-0.1), "invalid learning rate -0.1"),
    ("RAdam", dict(eps=-0.1), "invalid epsilon value -0.1"),
    ("RAdam", dict(betas=(-0.1, 0.9)), "invalid beta parameter at index 0: -0.1"),
    ("RAdam", dict(weight_decay=-0.1), "invalid weight_decay value -0.1"),
]


@pytest.mark.parametrize("name,kw,msg", BAD, ids=[f"{n}-{'-'.join(kw)}" for n, kw, _ in BAD])
def test_bad_hyperparameters_raise(name, kw, msg):
    p = nn.Parameter(tg.zeros(2))
    with pytest.raises(ValueError, match=rf"^{name}: {msg}"):
        getattr(optim, name)([p], **kw)
    # torch rejects the same values (a betas of the wrong length with an IndexError)
    with pytest.raises(IndexError if "betas must be" in msg else ValueError):
        getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)], **kw)


@pytest.mark.parametrize("name", sorted(GROUP_OPTS))
def test_unsupported_flags_raise(name):
    p = nn.Parameter(tg.zeros(2))
    with pytest.raises(ValueError, match=rf"^{name}: differentiable=True is not supported"):
        getattr(optim, name)([p], differentiable=True)
    if "capturable" in inspect.signature(getattr(optim, name)).parameters:
        with pytest.raises(ValueError, match=rf"^{name}: capturable=True is not supported"):
            getattr(optim, name)([p], capturable=True)
    extra = {k: None for k in ("foreach", "fused") if k in inspect.signature(getattr(optim, name)).parameters}
    getattr(optim, name)([p], **extra)  # accepted, like torch's defaults


def test_sgd_maximize_is_keyword_only_as_in_torch():
    p = nn.Parameter(tg.zeros(2))
    with pytest.raises(TypeError):
        optim.SGD([p], 0.1, 0.9, 0.0, 0.0, False, True)
    with pytest.raises(TypeError):
        torch.optim.SGD([torch.zeros(2, requires_grad=True)], 0.1, 0.9, 0.0, 0.0, False, True)
