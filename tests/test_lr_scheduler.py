"""optim.lr_scheduler vs torch.optim.lr_scheduler: every scheduler stepped side by side with PyTorch's on an
optimizer with the same param groups; lr (and cycled momentum / beta1) compared at every step; state_dict resume,
loading PyTorch's state_dicts, and bad arguments."""
import math
import pickle

import numpy as np
import pytest
import torch

import tensorgrad as tg
from tensorgrad import nn, optim
from tensorgrad.optim import lr_scheduler as S

torch.set_num_threads(1)
TOL = 1e-12


def _optims(kind="sgd", groups=2, lr=0.1):
    """A tensorgrad optimizer and a torch one over `groups` one-element params, group i with lr * (i + 1)."""
    p = [nn.Parameter(tg.zeros(1)) for _ in range(groups)]
    tp = [torch.zeros(1, requires_grad=True) for _ in range(groups)]
    mk = {"sgd": lambda o, ps: o.SGD([{"params": [q], "lr": lr * (i + 1)} for i, q in enumerate(ps)], lr=lr,
                                     momentum=0.9),
          "adam": lambda o, ps: o.Adam([{"params": [q], "lr": lr * (i + 1)} for i, q in enumerate(ps)], lr=lr,
                                       betas=(0.9, 0.99))}[kind]
    return mk(optim, p), mk(torch.optim, tp)


def _state(opt):
    """What a scheduler writes: lr, and momentum / beta1 where it cycles them."""
    return [(g["lr"], g.get("momentum", g.get("betas", (None,))[0])) for g in opt.param_groups]


def _assert_same(a, b, what):
    np.testing.assert_allclose(np.array(a, dtype=float), np.array(b, dtype=float), rtol=TOL, atol=TOL,
                               err_msg=what)


def run_pair(make, steps, kind="sgd", groups=2, metrics=None):
    """Step make(tensorgrad's module, opt) and make(torch's module, topt) `steps` times; compare lr and momentum
    before every step and get_last_lr() after it. Returns the tensorgrad scheduler and optimizer."""
    opt, topt = _optims(kind, groups)
    s, ts = make(S, opt), make(torch.optim.lr_scheduler, topt)
    for i in range(steps):
        _assert_same(_state(opt), _state(topt), f"param groups before step {i}")
        opt.step()
        topt.step()
        if metrics is None:
            s.step()
            ts.step()
        else:
            s.step(metrics[i])
            ts.step(metrics[i])
        _assert_same(s.get_last_lr(), ts.get_last_lr(), f"get_last_lr after step {i}")
    _assert_same(_state(opt), _state(topt), "param groups at the end")
    return s, opt


SCHEDULERS = {
    "multiplicative": (lambda L, o: L.MultiplicativeLR(o, lambda e: 0.95), 30),
    "multiplicative-per-group": (lambda L, o: L.MultiplicativeLR(o, [lambda e: 0.9, lambda e: 1.0 - 0.01 * e]), 30),
    "multistep": (lambda L, o: L.MultiStepLR(o, milestones=[3, 7, 7, 12], gamma=0.5), 30),
    "constant": (lambda L, o: L.ConstantLR(o), 30),
    "constant-factor": (lambda L, o: L.ConstantLR(o, factor=0.5, total_iters=4), 30),
    "linear": (lambda L, o: L.LinearLR(o), 30),
    "linear-custom": (lambda L, o: L.LinearLR(o, start_factor=0.25, end_factor=0.75, total_iters=6), 30),
    "linear-decay-to-0": (lambda L, o: L.LinearLR(o, start_factor=1.0, end_factor=0.0, total_iters=10), 30),
    "exponential": (lambda L, o: L.ExponentialLR(o, gamma=0.9), 60),
    "polynomial": (lambda L, o: L.PolynomialLR(o), 30),
    "polynomial-power": (lambda L, o: L.PolynomialLR(o, total_iters=8, power=2.0), 30),
    "warm-restarts": (lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=5), 60),
    "warm-restarts-mult": (lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=0.01), 60),
    "onecycle-cos": (lambda L, o: L.OneCycleLR(o, max_lr=1.0, total_steps=50), 50),
    "onecycle-linear": (lambda L, o: L.OneCycleLR(o, max_lr=[1.0, 0.5], total_steps=40, anneal_strategy="linear",
                                                  pct_start=0.25), 40),
    "onecycle-three-phase": (lambda L, o: L.OneCycleLR(o, max_lr=0.8, epochs=5, steps_per_epoch=9, three_phase=True,
                                                       div_factor=10.0, final_div_factor=100.0), 45),
    "onecycle-no-momentum": (lambda L, o: L.OneCycleLR(o, max_lr=1.0, total_steps=20, cycle_momentum=False,
                                                       base_momentum=0.5), 20),
    "onecycle-momentum-per-group": (lambda L, o: L.OneCycleLR(o, max_lr=1.0, total_steps=25, base_momentum=[0.8, 0.7],
                                                              max_momentum=[0.9, 0.95]), 25),
    "cyclic-triangular": (lambda L, o: L.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=4), 40),
    "cyclic-triangular2": (lambda L, o: L.CyclicLR(o, base_lr=[0.01, 0.02], max_lr=0.1, step_size_up=3,
                                                   step_size_down=5, mode="triangular2"), 40),
    "cyclic-exp-range": (lambda L, o: L.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=4, mode="exp_range",
                                                 gamma=0.95), 40),
    "cyclic-scale-fn": (lambda L, o: L.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=3,
                                                scale_fn=lambda x: 0.5 ** x, scale_mode="iterations"), 30),
    "sequential-warmup-cosine": (lambda L, o: L.SequentialLR(o, [L.LinearLR(o, start_factor=0.1, total_iters=5),
                                                                 L.CosineAnnealingLR(o, T_max=20)],
                                                             milestones=[5]), 40),
    "sequential-three": (lambda L, o: L.SequentialLR(o, [L.ConstantLR(o, factor=0.5, total_iters=2),
                                                         L.ExponentialLR(o, gamma=0.8), L.StepLR(o, 3, 0.5)],
                                                     milestones=[3, 8]), 30),
    "sequential-lambda-multistep": (lambda L, o: L.SequentialLR(o, [L.LambdaLR(o, lambda e: (e + 1) / 4),
                                                                    L.MultiStepLR(o, [2, 5], 0.3)],
                                                                milestones=[4]), 20),
    "chained": (lambda L, o: L.ChainedScheduler([L.ConstantLR(o, factor=0.1, total_iters=3),
                                                 L.ExponentialLR(o, gamma=0.9)]), 20),
    "chained-with-optimizer": (lambda L, o: L.ChainedScheduler([L.LinearLR(o, total_iters=4),
                                                                L.MultiStepLR(o, [6, 9])], optimizer=o), 20),
}


@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_scheduler_matches_torch(name):
    make, steps = SCHEDULERS[name]
    run_pair(make, steps)


@pytest.mark.parametrize("name", ["onecycle-cos", "onecycle-three-phase", "cyclic-triangular2", "linear"])
def test_beta1_cycling_with_adam_matches_torch(name):
    make, steps = SCHEDULERS[name]
    s, opt = run_pair(make, steps, kind="adam")
    assert opt.param_groups[0]["betas"][1] == 0.99  # beta2 untouched


def test_one_group_and_past_total_steps():
    make = lambda L, o: L.OneCycleLR(o, max_lr=0.3, total_steps=10)  # noqa: E731
    s, _ = run_pair(make, 10, groups=1)
    with pytest.raises(ValueError, match="OneCycleLR.*10"):
        s.step()


def test_warm_restarts_fractional_epochs():
    for kw in ({"T_0": 4}, {"T_0": 2, "T_mult": 3, "eta_min": 0.001}):
        opt, topt = _optims()
        s = S.CosineAnnealingWarmRestarts(opt, **kw)
        ts = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(topt, **kw)
        for epoch in range(12):
            for b in range(5):
                s.step(epoch + b / 5)
                ts.step(epoch + b / 5)
                _assert_same(s.get_last_lr(), ts.get_last_lr(), f"epoch {epoch} batch {b}")
                assert s.T_i == ts.T_i


def test_closed_form_step_with_epoch_matches_torch():
    for make in (lambda L, o: L.MultiStepLR(o, [2, 4, 4]), lambda L, o: L.LinearLR(o, total_iters=4),
                 lambda L, o: L.ConstantLR(o), lambda L, o: L.ExponentialLR(o, 0.7),
                 lambda L, o: L.PolynomialLR(o, 6, 1.5)):
        opt, topt = _optims()
        s, ts = make(S, opt), make(torch.optim.lr_scheduler, topt)
        for e in (3, 1, 5, 0, 8):
            s.step(e)
            with pytest.warns(UserWarning):
                ts.step(e)
            _assert_same(s.get_last_lr(), ts.get_last_lr(), f"{type(s).__name__} at epoch {e}")


PLATEAU_METRICS = list(1.0 / (1 + 0.1 * np.arange(40)) + 0.05 * np.sin(np.arange(40)))
PLATEAU_METRICS[20:30] = [PLATEAU_METRICS[19]] * 10  # a flat stretch


@pytest.mark.parametrize("kw", [{}, {"patience": 2}, {"patience": 1, "cooldown": 2, "factor": 0.5},
                                {"mode": "max", "patience": 1}, {"threshold_mode": "abs", "threshold": 0.02,
                                                                 "patience": 0},
                                {"mode": "max", "threshold_mode": "abs", "threshold": 0.01, "patience": 1},
                                {"patience": 0, "min_lr": [0.05, 0.01], "factor": 0.5},
                                {"patience": 0, "min_lr": 0.03, "eps": 0.02}],
                         ids=["default", "patience", "cooldown", "max", "min-abs", "max-abs", "min_lr-per-group",
                              "eps"])
def test_reduce_lr_on_plateau_matches_torch(kw):
    make = lambda L, o: L.ReduceLROnPlateau(o, **kw)  # noqa: E731
    s, opt = run_pair(make, len(PLATEAU_METRICS), metrics=PLATEAU_METRICS)
    assert s.num_bad_epochs >= 0 and s.last_epoch == len(PLATEAU_METRICS)


def test_reduce_lr_on_plateau_accepts_a_0d_tensor_and_counts():
    opt, _ = _optims()
    s = S.ReduceLROnPlateau(opt, patience=1)
    for v in (1.0, 1.0, 1.0):
        s.step(tg.tensor(v))
    assert s.get_last_lr() == pytest.approx([0.01, 0.02]) and s.best == 1.0 and s.num_bad_epochs == 0


# ------------------------------------------------------------------------------------------- resume
RESUME = ["multistep", "linear-custom", "exponential", "polynomial-power", "warm-restarts-mult", "onecycle-cos",
          "onecycle-three-phase", "cyclic-triangular2", "sequential-warmup-cosine", "chained", "multiplicative"]


def _lrs(make, n, resume_at=None, kind="sgd"):
    opt, _ = _optims(kind)
    s = make(S, opt)
    out = []
    for i in range(n):
        if i == resume_at:
            sd, osd = pickle.loads(pickle.dumps(s.state_dict())), opt.state_dict()  # a checkpoint round trip
            opt, _ = _optims(kind)
            s = make(S, opt)
            opt.load_state_dict(osd)  # after the scheduler's constructor, which writes lr (and momentum)
            s.load_state_dict(sd)
        out.append(_state(opt))
        opt.step()
        s.step()
    return out


@pytest.mark.parametrize("name", RESUME)
def test_state_dict_resume(name):
    make, steps = SCHEDULERS[name]
    np.testing.assert_array_equal(np.array(_lrs(make, steps, resume_at=steps // 3), float),
                                  np.array(_lrs(make, steps), float))


def test_state_dict_layout():
    opt, _ = _optims()
    seq = S.SequentialLR(opt, [S.ConstantLR(opt), S.ExponentialLR(opt, 0.5)], milestones=[2])
    sd = seq.state_dict()
    assert "optimizer" not in sd and len(sd["_schedulers"]) == 2 and sd["_milestones"] == [2]
    assert all("optimizer" not in x for x in sd["_schedulers"])
    cyc = S.CyclicLR(opt, 0.01, 0.1, scale_fn=lambda x: 1.0)
    assert cyc.state_dict()["_scale_fn_custom"] is None  # plain functions are not saved, as in PyTorch
    pl = S.ReduceLROnPlateau(opt)
    assert set(pl.state_dict()) >= {"best", "num_bad_epochs", "cooldown_counter", "min_lrs", "last_epoch"}


@pytest.mark.parametrize("name", ["onecycle-linear", "sequential-three", "warm-restarts-mult", "cyclic-exp-range"])
def test_loads_torch_state_dict(name):
    """A PyTorch scheduler's state_dict (and its optimizer's lr/momentum) continue here as they would in PyTorch."""
    make, steps = SCHEDULERS[name]
    opt, topt = _optims()
    ts = make(torch.optim.lr_scheduler, topt)
    for _ in range(steps // 2):
        topt.step()
        ts.step()
    s = make(S, opt)
    for g, tg_ in zip(opt.param_groups, topt.param_groups):
        g.update({k: v for k, v in tg_.items() if k != "params"})
    s.load_state_dict(ts.state_dict())
    for i in range(steps - steps // 2):
        _assert_same(_state(opt), _state(topt), f"step {i} after loading")
        opt.step()
        topt.step()
        s.step()
        ts.step()


def test_plateau_loads_torch_state_dict():
    opt, topt = _optims()
    ts = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, patience=1, cooldown=1)
    for m in PLATEAU_METRICS[:15]:
        ts.step(m)
    s = S.ReduceLROnPlateau(opt, patience=1, cooldown=1)
    s.load_state_dict(ts.state_dict())
    for g, tg_ in zip(opt.param_groups, topt.param_groups):
        g["lr"] = tg_["lr"]
    for m in PLATEAU_METRICS[15:]:
        s.step(m)
        ts.step(m)
        _assert_same(s.get_last_lr(), ts.get_last_lr(), "after loading")


# ------------------------------------------------------------------------------------------- bad arguments
def _opt():
    return _optims()[0]


BAD = [
    ("constant-factor", lambda: S.ConstantLR(_opt(), factor=1.5), ValueError, r"ConstantLR.*factor.*1\.5"),
    ("linear-start", lambda: S.LinearLR(_opt(), start_factor=0), ValueError, r"LinearLR.*start_factor"),
    ("linear-end", lambda: S.LinearLR(_opt(), end_factor=2.0), ValueError, r"LinearLR.*end_factor"),
    ("multiplicative-count", lambda: S.MultiplicativeLR(_opt(), [lambda e: 1.0]), ValueError,
     r"MultiplicativeLR.*2 lr_lambdas.*1"),
    ("multiplicative-callable", lambda: S.MultiplicativeLR(_opt(), 0.5), TypeError, r"MultiplicativeLR.*function"),
    ("warm-T0", lambda: S.CosineAnnealingWarmRestarts(_opt(), T_0=0), ValueError, r"CosineAnnealingWarmRestarts.*T_0"),
    ("warm-Tmult", lambda: S.CosineAnnealingWarmRestarts(_opt(), T_0=2, T_mult=1.5), ValueError, r"T_mult"),
    ("warm-epoch", lambda: S.CosineAnnealingWarmRestarts(_opt(), T_0=2).step(-1), ValueError, r"non-negative epoch"),
    ("onecycle-steps", lambda: S.OneCycleLR(_opt(), 1.0), ValueError, r"OneCycleLR.*total_steps"),
    ("onecycle-pct", lambda: S.OneCycleLR(_opt(), 1.0, total_steps=10, pct_start=1.5), ValueError, r"pct_start"),
    ("onecycle-anneal", lambda: S.OneCycleLR(_opt(), 1.0, total_steps=10, anneal_strategy="exp"), ValueError,
     r"anneal_strategy.*'exp'"),
    ("onecycle-max_lr-count", lambda: S.OneCycleLR(_opt(), [1.0], total_steps=10), ValueError,
     r"max_lr.*param group"),
    ("cyclic-mode", lambda: S.CyclicLR(_opt(), 0.01, 0.1, mode="sine"), ValueError, r"CyclicLR.*'sine'"),
    ("sequential-milestones", lambda: (lambda o: S.SequentialLR(o, [S.ConstantLR(o), S.ConstantLR(o)],
                                                                milestones=[1, 2]))(_opt()),
     ValueError, r"SequentialLR.*milestone"),
    ("sequential-optimizer", lambda: S.SequentialLR(_opt(), [S.ConstantLR(_opt())], milestones=[]), ValueError,
     r"same optimizer"),
    ("sequential-plateau", lambda: (lambda o: S.SequentialLR(o, [S.ReduceLROnPlateau(o)], milestones=[]))(_opt()),
     ValueError, r"ReduceLROnPlateau"),
    ("chained-empty", lambda: S.ChainedScheduler([]), ValueError, r"ChainedScheduler.*at least one"),
    ("plateau-factor", lambda: S.ReduceLROnPlateau(_opt(), factor=1.0), ValueError, r"ReduceLROnPlateau.*factor"),
    ("plateau-mode", lambda: S.ReduceLROnPlateau(_opt(), mode="avg"), ValueError, r"ReduceLROnPlateau.*'avg'"),
    ("plateau-threshold-mode", lambda: S.ReduceLROnPlateau(_opt(), threshold_mode="pct"), ValueError, r"'pct'"),
    ("plateau-min_lr", lambda: S.ReduceLROnPlateau(_opt(), min_lr=[0.1]), ValueError, r"2 min_lrs, got 1"),
    ("not-an-optimizer", lambda: S.ExponentialLR(object(), 0.5), TypeError, r"not an Optimizer"),
]


@pytest.mark.parametrize("case", BAD, ids=[b[0] for b in BAD])
def test_bad_arguments(case):
    _, thunk, exc, pattern = case
    with pytest.raises(exc, match=pattern):
        thunk()


def test_cycle_momentum_needs_momentum_or_betas():
    class NoMomentum(optim.Optimizer):
        def __init__(self, params):
            super().__init__(params, dict(lr=0.1))

        def _step_group(self, group):
            pass

    opt = NoMomentum([nn.Parameter(tg.zeros(1))])
    with pytest.raises(ValueError, match="OneCycleLR.*momentum or beta1"):
        S.OneCycleLR(opt, 1.0, total_steps=5)
    with pytest.raises(ValueError, match="CyclicLR.*momentum or beta1"):
        S.CyclicLR(opt, 0.01, 0.1)
    S.OneCycleLR(opt, 1.0, total_steps=5, cycle_momentum=False)  # fine without cycling


def test_warmup_cosine_and_sequential_compose():
    """tensorgrad's WarmupCosineLR runs inside SequentialLR like any scheduler."""
    opt, _ = _optims(groups=1)
    s = S.SequentialLR(opt, [S.WarmupCosineLR(opt, 2, 6, min_lr=0.001), S.ConstantLR(opt, factor=0.5)],
                       milestones=[7])
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        s.step()
    assert lrs[:7] == [S.get_lr(i, 0.1, 0.001, 2, 6) for i in range(7)]
    assert lrs[7] == pytest.approx(0.05) and math.isclose(lrs[-1], 0.05)
