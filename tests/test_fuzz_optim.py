"""Differential fuzzing of the optimizers and learning-rate schedulers against PyTorch: hypothesis draws an optimizer's hyperparameters (every
flag it shares with torch: amsgrad, maximize, nesterov, centered, decoupled weight decay, ...), two parameter groups
of random shapes (one with its own lr / weight decay), a parameter whose gradient is sometimes None, and a few
steps of random gradients; after every step both libraries' parameters must agree in float64, and so must the
state_dict's per-parameter state after the last. Either both refuse the hyperparameters (at construction or at
the first step) or neither does. Schedulers: their arguments drawn, 30 steps over two parameter groups, every
group's lr and get_last_lr() after each step."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import tensorgrad as tg
from test_fuzz_torch import EXAMPLES, SETTINGS

SETTINGS_O = settings(SETTINGS, max_examples=max(EXAMPLES // 2, 20))

LR = st.sampled_from([1e-3, 0.01, 0.1])
WD = st.sampled_from([0.0, 0.0, 0.01, 0.1])
BETAS = st.tuples(st.sampled_from([0.0, 0.5, 0.9]), st.sampled_from([0.0, 0.9, 0.999]))
EPS = st.sampled_from([1e-8, 1e-3])


def _hyper(name):
    common = dict(lr=LR, weight_decay=WD, maximize=st.booleans())
    if name == "Rprop":  # torch's Rprop has no weight decay: only the gradients' signs count
        del common["weight_decay"]
    if name == "Muon":  # torch's Muon has no maximize
        del common["maximize"]
    extra = {
        "SGD": dict(momentum=st.sampled_from([0.0, 0.9]), dampening=st.sampled_from([0.0, 0.1]),
                    nesterov=st.booleans()),
        "Adam": dict(betas=BETAS, eps=EPS, amsgrad=st.booleans(), decoupled_weight_decay=st.booleans()),
        "AdamW": dict(betas=BETAS, eps=EPS, amsgrad=st.booleans()),
        "Adamax": dict(betas=BETAS, eps=EPS),
        "NAdam": dict(betas=BETAS, eps=EPS, momentum_decay=st.sampled_from([0.004, 0.1]),
                      decoupled_weight_decay=st.booleans()),
        "RAdam": dict(betas=BETAS, eps=EPS, decoupled_weight_decay=st.booleans()),
        "RMSprop": dict(alpha=st.sampled_from([0.9, 0.99]), eps=EPS, momentum=st.sampled_from([0.0, 0.9]),
                        centered=st.booleans()),
        "Adagrad": dict(lr_decay=st.sampled_from([0.0, 0.01]), eps=EPS,
                        initial_accumulator_value=st.sampled_from([0.0, 0.1])),
        "Adadelta": dict(rho=st.sampled_from([0.9, 0.5]), eps=EPS, lr=st.sampled_from([1.0, 0.1])),
        "Rprop": dict(etas=st.tuples(st.sampled_from([0.5, 0.3]), st.sampled_from([1.2, 2.0])),
                      step_sizes=st.tuples(st.sampled_from([1e-6, 1e-2]), st.sampled_from([50.0, 0.05]))),
        "ASGD": dict(lambd=st.sampled_from([1e-4, 0.1]), alpha=st.sampled_from([0.75, 0.5]),
                     t0=st.sampled_from([1e6, 1.0, 2.0])),  # a small t0 starts the averaging within the steps
        # eps1 None: the dtype's machine epsilon; a large eps1 / eps2 and d make the clamps and the clipping bite
        "Adafactor": dict(beta2_decay=st.sampled_from([-0.8, -0.5, 0.0]),
                          eps=st.tuples(st.sampled_from([None, 1e-3, 0.5]), st.sampled_from([1e-3, 1.0])),
                          d=st.sampled_from([1.0, 1.5, 100.0]), lr=st.sampled_from([1e-3, 0.1, 2.0])),
        "Muon": dict(momentum=st.sampled_from([0.0, 0.5, 0.95]), nesterov=st.booleans(),
                     adjust_lr_fn=st.sampled_from([None, "original", "match_rms_adamw"]),
                     ns_steps=st.sampled_from([0, 1, 5])),
    }[name]
    return st.fixed_dictionaries({**common, **extra})


@st.composite
def cases(draw, name):
    hyper = draw(_hyper(name))
    if name == "Muon":  # 2-D parameters only (torch refuses the others at construction)
        shapes = [tuple(draw(st.lists(st.integers(1, 4), min_size=2, max_size=2))) for _ in range(3)]
    else:
        shapes = [tuple(draw(st.lists(st.integers(1, 3), max_size=3 if name == "Adafactor" else 2)))
                  for _ in range(3)]
    group2 = {k: draw(v) for k, v in (("lr", LR), ("weight_decay", WD)) if draw(st.booleans())}
    steps = draw(st.integers(1, 4))
    none_at = draw(st.sets(st.integers(0, steps - 1), max_size=2))  # steps where parameter 2 has no gradient
    return hyper, shapes, group2, steps, sorted(none_at)


def _run(lib, name, hyper, shapes, group2, steps, none_at):
    rng = np.random.default_rng(0)
    ps = [lib.tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]
    try:
        opt = getattr(lib.optim, name)([{"params": ps[:2]}, {"params": ps[2:], **group2}], **hyper)
    except Exception as e:  # noqa: BLE001 - both must refuse the same hyperparameters
        return "raises", type(e).__name__
    history = []
    for k in range(steps):
        for i, p in enumerate(ps):
            p.grad = None if (i == 2 and k in none_at) else lib.tensor(rng.standard_normal(shapes[i]))
        try:
            opt.step()
        except Exception as e:  # noqa: BLE001
            return "raises", type(e).__name__
        history.append([np.array(p.detach().numpy() if lib is torch else np.asarray(p.detach())) for p in ps])
    state = {i: {k: (np.asarray(v.detach().numpy() if lib is torch else np.asarray(v)) if hasattr(v, "shape")
                     else v) for k, v in st_.items()}
             for i, st_ in opt.state_dict()["state"].items()}
    return "returns", history, state


NAMES = ["SGD", "Adam", "AdamW", "Adamax", "NAdam", "RAdam", "RMSprop", "Adagrad", "Adadelta", "Rprop", "ASGD",
         "Adafactor", "Muon"]


@pytest.mark.parametrize("name", NAMES)
def test_optimizer_matches_torch(name):
    @SETTINGS_O
    @given(case=cases(name))
    def check(case):
        hyper, shapes, group2, steps, none_at = case
        ours, theirs = _run(tg, name, *case), _run(torch, name, *case)
        where = f"{name}({hyper}), group 2 {group2}, shapes {shapes}, {steps} steps, no grad at {none_at}"
        assert ours[0] == theirs[0], f"{where}: torch {theirs[:2]}, tensorgrad {ours[:2]}"
        if ours[0] == "raises":
            return
        for k, (a, b) in enumerate(zip(ours[1], theirs[1])):
            for i, (x, y) in enumerate(zip(a, b)):
                np.testing.assert_allclose(x, y, rtol=1e-10, atol=1e-12, err_msg=f"{where}: step {k}, param {i}")
        assert sorted(ours[2]) == sorted(theirs[2]), f"{where}: state keys"
        for i in ours[2]:
            assert sorted(ours[2][i]) == sorted(theirs[2][i]), f"{where}: state of param {i}: " \
                f"{sorted(ours[2][i])} vs torch {sorted(theirs[2][i])}"
            for key, v in ours[2][i].items():
                np.testing.assert_allclose(np.asarray(v, dtype=float), np.asarray(theirs[2][i][key], dtype=float),
                                           rtol=1e-10, atol=1e-12, err_msg=f"{where}: state {i}.{key}")

    check()


# ------------------------------------------------------------------------------------------------- schedulers
def _sched_args(draw, name):
    g = {
        "StepLR": dict(step_size=st.integers(1, 5), gamma=st.sampled_from([0.1, 0.5])),
        "MultiStepLR": dict(milestones=st.lists(st.integers(1, 20), max_size=3, unique=True).map(sorted),
                            gamma=st.sampled_from([0.1, 0.5])),
        "ExponentialLR": dict(gamma=st.sampled_from([0.9, 0.5])),
        "CosineAnnealingLR": dict(T_max=st.integers(1, 12), eta_min=st.sampled_from([0.0, 1e-3])),
        "CosineAnnealingWarmRestarts": dict(T_0=st.integers(1, 6), T_mult=st.integers(1, 3),
                                            eta_min=st.sampled_from([0.0, 1e-3])),
        "LinearLR": dict(start_factor=st.sampled_from([0.25, 1 / 3]), end_factor=st.sampled_from([1.0, 0.5]),
                         total_iters=st.integers(0, 8)),
        "ConstantLR": dict(factor=st.sampled_from([0.25, 0.5]), total_iters=st.integers(0, 8)),
        "PolynomialLR": dict(total_iters=st.integers(1, 10), power=st.sampled_from([1.0, 2.0, 0.5])),
        "OneCycleLR": dict(max_lr=st.sampled_from([0.1, 1.0]), total_steps=st.integers(25, 40),
                           pct_start=st.sampled_from([0.1, 0.3]), anneal_strategy=st.sampled_from(["cos", "linear"]),
                           three_phase=st.booleans(), div_factor=st.sampled_from([25.0, 4.0])),
        "CyclicLR": dict(base_lr=st.sampled_from([0.01, 0.001]), max_lr=st.sampled_from([0.1, 0.05]),
                         step_size_up=st.integers(1, 6), step_size_down=st.one_of(st.none(), st.integers(1, 6)),
                         mode=st.sampled_from(["triangular", "triangular2", "exp_range"]),
                         gamma=st.sampled_from([1.0, 0.9]), cycle_momentum=st.just(False)),
    }[name]
    return draw(st.fixed_dictionaries(g))


SCHEDULERS = ["StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "CosineAnnealingWarmRestarts",
              "LinearLR", "ConstantLR", "PolynomialLR", "OneCycleLR", "CyclicLR"]


def _lrs(lib, name, kw, n):
    p = lib.zeros(1, requires_grad=True)
    opt = lib.optim.SGD([{"params": [p]}, {"params": [lib.zeros(1, requires_grad=True)], "lr": 0.3}], lr=0.1)
    """(the error that stopped it or None, the lrs of every step until then)."""
    try:
        sched = getattr(lib.optim.lr_scheduler, name)(opt, **kw)
    except Exception as e:  # noqa: BLE001
        return type(e).__name__, []
    out = []
    for _ in range(n):
        opt.step()
        try:
            sched.step()
        except Exception as e:  # noqa: BLE001 - OneCycleLR past total_steps: both must refuse, at the same step
            return type(e).__name__, out
        out.append([g["lr"] for g in opt.param_groups] + list(sched.get_last_lr()))
    return None, out


@pytest.mark.parametrize("name", SCHEDULERS)
def test_scheduler_matches_torch(name):
    @SETTINGS_O
    @given(data=st.data())
    def check(data):
        kw = _sched_args(data.draw, name)
        ours, theirs = _lrs(tg, name, kw, 30), _lrs(torch, name, kw, 30)
        assert ours[0] == theirs[0] and len(ours[1]) == len(theirs[1]), \
            f"{name}({kw}): torch stopped by {theirs[0]} after {len(theirs[1])} steps, tensorgrad by {ours[0]} " \
            f"after {len(ours[1])}"
        np.testing.assert_allclose(np.array(ours[1]), np.array(theirs[1]), rtol=1e-12, atol=1e-15,
                                   err_msg=f"{name}({kw})")

    check()
