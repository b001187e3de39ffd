"""nn activation / loss / normalization / shape modules vs torch.nn: forward and every gradient with the same
weights, parameters / buffers / state_dict keys, reprs, legacy loss arguments, and bad arguments."""
import warnings

import numpy as np
import pytest
import torch

import tensorgrad as tg
from tensorgrad import nn
from helpers import assert_param_grads_match, copy_to_torch

torch.set_num_threads(1)
RNG = np.random.default_rng(0)
TDT = {np.float64: torch.float64, np.float32: torch.float32}


def check_module(m, tm, *xs, dtype=np.float64, tol=None, grads=None):
    """Forward and the gradients of every float input and parameter of m vs tm (same weights, same data)."""
    tol = tol or {np.float64: 1e-10, np.float32: 1e-5}[dtype]
    m.to(dtype)
    tm.to(TDT[dtype])
    copy_to_torch(m, tm)
    grads = [np.asarray(x).dtype.kind == "f" for x in xs] if grads is None else grads
    ins = [tg.tensor(np.asarray(x).astype(dtype) if g else x, requires_grad=g) for x, g in zip(xs, grads)]
    tins = [torch.tensor(np.asarray(x).astype(dtype) if g else x, requires_grad=g) for x, g in zip(xs, grads)]
    y, ty = m(*ins), tm(*tins)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=tol, atol=tol)
    w = np.asarray(RNG.standard_normal(y.shape)).astype(dtype)
    (y * tg.tensor(w)).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    for i, (a, b) in enumerate(zip(ins, tins)):
        if a.requires_grad:
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=tol, atol=tol, err_msg=f"input {i}")
    assert_param_grads_match(m, tm, tol, tol)


# --------------------------------------------------------------------------------------------- activations
ACTIVATIONS = {
    "LeakyReLU": lambda T: T.LeakyReLU(),
    "LeakyReLU-0.3": lambda T: T.LeakyReLU(0.3),
    "ELU": lambda T: T.ELU(alpha=0.7),
    "CELU": lambda T: T.CELU(alpha=1.5),
    "SELU": lambda T: T.SELU(),
    "Softplus": lambda T: T.Softplus(beta=2.0, threshold=3.0),
    "LogSigmoid": lambda T: T.LogSigmoid(),
    "Hardtanh": lambda T: T.Hardtanh(-2.0, 1.5),
    "ReLU6": lambda T: T.ReLU6(),
    "Hardsigmoid": lambda T: T.Hardsigmoid(),
    "Hardswish": lambda T: T.Hardswish(),
    "Mish": lambda T: T.Mish(),
    "Softsign": lambda T: T.Softsign(),
    "GLU": lambda T: T.GLU(),
    "GLU-dim0": lambda T: T.GLU(dim=0),
    "SiLU": lambda T: T.SiLU(),
    "ReLU": lambda T: T.ReLU(),
    "LogSoftmax": lambda T: T.LogSoftmax(dim=1),
    "Identity": lambda T: T.Identity(54, unused="x"),
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_module(name, dtype):
    make = ACTIVATIONS[name]
    tol = 1e-7 if name == "Hardsigmoid" and dtype == np.float64 else None  # see test_nn_functional._tol
    check_module(make(nn), make(torch.nn), RNG.standard_normal((4, 6)) * 4, dtype=dtype, tol=tol)


REPRS = list(ACTIVATIONS.values()) + [
    lambda T: T.LeakyReLU(0.2, inplace=True), lambda T: T.ELU(inplace=True), lambda T: T.CELU(2.0, True),
    lambda T: T.SELU(True), lambda T: T.Hardtanh(-2.0, 3, True), lambda T: T.ReLU6(True),
    lambda T: T.Hardsigmoid(True), lambda T: T.Hardswish(True), lambda T: T.Mish(True), lambda T: T.SiLU(True),
    lambda T: T.Softplus(2, 10), lambda T: T.Softmax(), lambda T: T.Flatten(), lambda T: T.Flatten(0, 2),
    lambda T: T.Unflatten(1, (2, 3)), lambda T: T.RMSNorm(4), lambda T: T.RMSNorm([3, 4], 1e-5, False),
    lambda T: T.L1Loss(), lambda T: T.SmoothL1Loss(beta=0.5), lambda T: T.HuberLoss(delta=2.0),
    lambda T: T.KLDivLoss(reduction="batchmean"), lambda T: T.NLLLoss(), lambda T: T.BCELoss(),
    lambda T: T.BCEWithLogitsLoss(), lambda T: T.CosineSimilarity(), lambda T: T.PairwiseDistance(),
    lambda T: T.CrossEntropyLoss(), lambda T: T.MSELoss(),
    lambda T: T.Sequential(T.Linear(3, 4), T.RMSNorm(4), T.Mish(), T.Flatten(0)),
]


@pytest.mark.parametrize("make", REPRS)
def test_repr_matches_torch(make):
    assert repr(make(nn)) == repr(make(torch.nn))


def test_softmax_implicit_dim_is_pytorchs_legacy_choice():
    for shape in [(5,), (3, 4), (2, 3, 4), (2, 2, 3, 4)]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for T in ("Softmax", "LogSoftmax"):
                check_module(getattr(nn, T)(), getattr(torch.nn, T)(), RNG.standard_normal(shape))


def test_hardtanh_deprecated_names_and_bad_range():
    m = nn.Hardtanh(min_value=-0.5, max_value=0.5)
    assert (m.min_val, m.max_val) == (-0.5, 0.5)
    with pytest.raises(ValueError, match=r"Hardtanh: max_val \(1\.0\) must be greater than min_val \(1\.0\)"):
        nn.Hardtanh(1.0, 1.0)


# --------------------------------------------------------------------------------------------- RMSNorm
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kw", [{}, {"eps": 1e-5}, {"elementwise_affine": False}], ids=["default", "eps", "no-affine"])
@pytest.mark.parametrize("shape", [8, (3, 8), [3, 8]])
def test_rmsnorm(shape, kw, dtype):
    m, tm = nn.RMSNorm(shape, **kw), torch.nn.RMSNorm(shape, **kw)
    if m.weight is not None:
        with tg.no_grad():
            m.weight.copy_(tg.tensor(RNG.standard_normal(m.weight.shape) + 1.0))
    check_module(m, tm, RNG.standard_normal((2, 3, 8)), dtype=dtype)


def test_rmsnorm_parameters_and_state_dict():
    m, tm = nn.RMSNorm((3, 4)), torch.nn.RMSNorm((3, 4))
    assert list(m.state_dict()) == list(tm.state_dict()) == ["weight"]
    assert m.weight.shape == (3, 4) and np.all(m.weight.detach().numpy() == 1.0) and m.weight.dtype == tg.float32
    assert list(nn.RMSNorm(4, elementwise_affine=False).state_dict()) == []
    m64 = nn.RMSNorm(4, dtype=tg.float64)
    assert m64.weight.dtype == tg.float64
    with pytest.raises(RuntimeError, match=r"rms_norm.*\[4\].*\(2, 3\)"):
        nn.RMSNorm(4)(tg.ones(2, 3))


# ------------------------------------------------------------------------------------- Flatten / Unflatten
@pytest.mark.parametrize("make, shape", [
    (lambda T: T.Flatten(), (2, 3, 4)), (lambda T: T.Flatten(0, -1), (2, 3, 4)),
    (lambda T: T.Flatten(-2), (2, 3, 4, 5)),
    (lambda T: T.Flatten(1, 2), (2, 3, 4, 5)), (lambda T: T.Unflatten(1, (3, 4)), (2, 12, 5)),
    (lambda T: T.Unflatten(-1, (2, -1)), (3, 8)), (lambda T: T.Unflatten(0, [2, 1, 3]), (6,)),
    (lambda T: T.Sequential(T.Flatten(), T.Linear(12, 6), T.Unflatten(1, (2, 3))), (5, 3, 4)),
])
def test_flatten_unflatten(make, shape):
    check_module(make(nn), make(torch.nn), RNG.standard_normal(shape))


def test_unflatten_bad_sizes():
    with pytest.raises(RuntimeError, match=r"Unflatten.*\(5, 2\).*size 12"):
        nn.Unflatten(1, (5, 2))(tg.ones(2, 12))
    with pytest.raises(RuntimeError, match=r"Unflatten"):
        nn.Unflatten(1, (-1, -1))(tg.ones(2, 12))
    with pytest.raises(TypeError, match=r"Unflatten.*tuple of ints"):
        nn.Unflatten(1, 12)


# ------------------------------------------------------------------------------------------ distances
@pytest.mark.parametrize("make, a, b", [
    (lambda T: T.CosineSimilarity(), (3, 4), (3, 4)), (lambda T: T.CosineSimilarity(dim=-1, eps=1e-3), (2, 3, 4), (4,)),
    (lambda T: T.PairwiseDistance(), (3, 4), (3, 4)), (lambda T: T.PairwiseDistance(p=1.0, keepdim=True), (3, 4), (4,)),
])
def test_distance_modules(make, a, b):
    check_module(make(nn), make(torch.nn), RNG.standard_normal(a), RNG.standard_normal(b))


# ------------------------------------------------------------------------------------------------ losses
def _probs(*shape):
    return 1 / (1 + np.exp(-RNG.standard_normal(shape)))


LOSSES = {
    "L1Loss": (lambda T, r: T.L1Loss(reduction=r), lambda: ((3, 4), (3, 4))),
    "MSELoss": (lambda T, r: T.MSELoss(reduction=r), lambda: ((3, 4), (3, 4))),
    "SmoothL1Loss": (lambda T, r: T.SmoothL1Loss(reduction=r, beta=0.5), lambda: ((3, 4), (3, 4))),
    "HuberLoss": (lambda T, r: T.HuberLoss(reduction=r, delta=0.7), lambda: ((3, 4), (3, 4))),
    "KLDivLoss": (lambda T, r: T.KLDivLoss(reduction=r), lambda: ((3, 4), _probs(3, 4))),
    "KLDivLoss-log_target": (lambda T, r: T.KLDivLoss(reduction=r, log_target=True), lambda: ((3, 4), (3, 4))),
    "NLLLoss": (lambda T, r: T.NLLLoss(reduction=r), lambda: ((5, 4), np.array([0, 3, -100, 2, 1]))),
    "NLLLoss-ignore": (lambda T, r: T.NLLLoss(reduction=r, ignore_index=2),
                       lambda: ((5, 4, 2), RNG.integers(0, 4, (5, 2)))),
    "CrossEntropyLoss": (lambda T, r: T.CrossEntropyLoss(reduction=r, label_smoothing=0.1),
                         lambda: ((5, 4), np.array([0, 3, -100, 2, 1]))),
    "CrossEntropyLoss-probs": (lambda T, r: T.CrossEntropyLoss(reduction=r), lambda: ((5, 4), _probs(5, 4))),
    "BCELoss": (lambda T, r: T.BCELoss(reduction=r), lambda: (_probs(3, 4), _probs(3, 4))),
    "BCEWithLogitsLoss": (lambda T, r: T.BCEWithLogitsLoss(reduction=r), lambda: ((3, 4), _probs(3, 4))),
}


def _data(spec):
    return [np.asarray(RNG.standard_normal(s)) if isinstance(s, tuple) else s for s in spec]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", list(LOSSES))
def test_loss_module(name, reduction, dtype):
    make, spec = LOSSES[name]
    x, y = _data(spec())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # KLDivLoss 'mean'
        check_module(make(nn, reduction), make(torch.nn, reduction), x, y, dtype=dtype)


def test_kldivloss_batchmean():
    x, y = np.asarray(RNG.standard_normal((4, 3))), _probs(4, 3)
    check_module(nn.KLDivLoss(reduction="batchmean"), torch.nn.KLDivLoss(reduction="batchmean"), x, y)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_weighted_losses_keep_weights_as_buffers(reduction):
    w = RNG.uniform(0.5, 2.0, 4)
    cases = [
        (lambda T, W: T.CrossEntropyLoss(weight=W, reduction=reduction, label_smoothing=0.2),
         (5, 4), np.array([0, 3, -100, 2, 1])),
        (lambda T, W: T.CrossEntropyLoss(weight=W, reduction=reduction), (5, 4), _probs(5, 4)),
        (lambda T, W: T.NLLLoss(weight=W, reduction=reduction), (5, 4, 3), RNG.integers(0, 4, (5, 3))),
        (lambda T, W: T.BCELoss(weight=W, reduction=reduction), _probs(3, 4), _probs(3, 4)),
        (lambda T, W: T.BCEWithLogitsLoss(weight=W, reduction=reduction, pos_weight=W * 2), (3, 4), _probs(3, 4)),
    ]
    for make, xs, y in cases:
        m, tm = make(nn, tg.tensor(w)), make(torch.nn, torch.tensor(w))
        assert list(m.state_dict()) == list(tm.state_dict()) and list(m.state_dict())
        assert not list(m.parameters()) and [k for k, _ in m.named_buffers()] == [k for k, _ in tm.named_buffers()]
        x = np.asarray(RNG.standard_normal(xs)) if isinstance(xs, tuple) else xs
        check_module(m, tm, x, y)
        m.float()
        assert m.weight.dtype == tg.float32  # buffers follow .to()
    assert list(nn.CrossEntropyLoss().state_dict()) == [] and nn.NLLLoss().weight is None


@pytest.mark.parametrize("legacy", [{"size_average": False}, {"reduce": False}, {"size_average": True},
                                    {"size_average": False, "reduce": False}])
@pytest.mark.parametrize("name", ["L1Loss", "MSELoss", "SmoothL1Loss", "KLDivLoss", "NLLLoss", "CrossEntropyLoss",
                                  "BCELoss", "BCEWithLogitsLoss"])
def test_legacy_size_average_reduce(name, legacy):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert getattr(nn, name)(**legacy).reduction == getattr(torch.nn, name)(**legacy).reduction


@pytest.mark.parametrize("name", ["L1Loss", "MSELoss", "SmoothL1Loss", "HuberLoss", "NLLLoss", "CrossEntropyLoss",
                                  "BCELoss", "BCEWithLogitsLoss"])
def test_bad_reduction_names_the_module(name):
    with pytest.raises(ValueError, match=rf"{name}: reduction must be 'mean', 'sum' or 'none', got 'avg'"):
        getattr(nn, name)(reduction="avg")
    with pytest.raises(ValueError, match=r"KLDivLoss: reduction .*'batchmean'.*got 'avg'"):
        nn.KLDivLoss(reduction="avg")


def test_small_model_with_new_layers_trains_like_torch():
    """Linear -> RMSNorm -> Mish -> Linear -> GLU, HuberLoss, a few SGD steps side by side."""
    def build(T):
        return T.Sequential(T.Linear(5, 8), T.RMSNorm(8), T.Mish(), T.Linear(8, 6), T.GLU(), T.Hardswish())
    m, tm = build(nn), build(torch.nn)
    m.double()
    tm.double()
    copy_to_torch(m, tm)
    opt, topt = tg.optim.SGD(m.parameters(), lr=0.1, momentum=0.9), torch.optim.SGD(tm.parameters(), lr=0.1,
                                                                                     momentum=0.9)
    x, y = RNG.standard_normal((7, 5)), RNG.standard_normal((7, 3))
    for _ in range(5):
        for o in (opt, topt):
            o.zero_grad()
        loss = nn.HuberLoss(delta=0.5)(m(tg.tensor(x)), tg.tensor(y))
        tloss = torch.nn.HuberLoss(delta=0.5)(tm(torch.tensor(x)), torch.tensor(y))
        loss.backward()
        tloss.backward()
        opt.step()
        topt.step()
        np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-10)
    for (k, v), (_, tv) in zip(m.state_dict().items(), tm.state_dict().items()):
        np.testing.assert_allclose(v.numpy(), tv.numpy(), rtol=1e-9, atol=1e-12, err_msg=k)
