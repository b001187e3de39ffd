"""The losses added in nn/functional_losses.py and nn/losses_extra.py vs torch: every reduction, weights, margins,
p, swap, log_input / full / eps, var broadcasting; forward and the gradient of every float input (targets included
where torch differentiates them), modules with their buffers, reprs, argument errors."""
import numpy as np
import pytest
import torch

import tensorgrad as tg
from tensorgrad import nn
from nn_extra_common import compare, F

torch.set_num_threads(1)
RNG = np.random.default_rng(0)
FLOATS = [np.float64, np.float32]
REDUCTIONS = ["mean", "sum", "none"]


def _x(*shape):
    return RNG.standard_normal(shape)


def _sign(*shape):
    return np.where(RNG.random(shape) < 0.5, -1.0, 1.0)


def _labels(n, c):
    return RNG.integers(0, c, size=n)


def _multilabel(n, c):
    t = np.full((n, c), -1, dtype=np.int64)
    for i in range(n):
        k = RNG.integers(0, c + 1)
        t[i, :k] = RNG.permutation(c)[:k]
    return t


CASES = {
    "margin_ranking": (lambda L, a, b, y, r: F(L).margin_ranking_loss(a, b, y, margin=0.3, reduction=r),
                       lambda: (_x(7), _x(7), _sign(7))),
    "margin_ranking-m0": (lambda L, a, b, y, r: F(L).margin_ranking_loss(a, b, y, reduction=r),
                          lambda: (_x(3, 4), _x(3, 4), _sign(3, 4))),
    "hinge_embedding": (lambda L, x, y, r: F(L).hinge_embedding_loss(x, y, margin=0.5, reduction=r),
                        lambda: (_x(4, 5), _sign(4, 5))),
    "hinge_embedding-bcast": (lambda L, x, y, r: F(L).hinge_embedding_loss(x, y, reduction=r),
                              lambda: (_x(5), _sign(3, 5))),
    "soft_margin": (lambda L, x, y, r: F(L).soft_margin_loss(x, y, reduction=r), lambda: (_x(4, 5), _sign(4, 5))),
    "cosine_embedding": (lambda L, a, b, y, r: F(L).cosine_embedding_loss(a, b, y, margin=0.2, reduction=r),
                         lambda: (_x(6, 4), _x(6, 4), _sign(6))),
    "cosine_embedding-1d": (lambda L, a, b, y, r: F(L).cosine_embedding_loss(a, b, y, reduction=r),
                            lambda: (_x(4), _x(4), np.array(-1.0))),
    "multilabel_soft_margin": (lambda L, x, y, r: F(L).multilabel_soft_margin_loss(x, y, reduction=r),
                               lambda: (_x(4, 5) * 3, (RNG.random((4, 5)) < 0.4).astype(float))),
    "multilabel_soft_margin-w": (lambda L, x, y, w, r: F(L).multilabel_soft_margin_loss(x, y, weight=w, reduction=r),
                                 lambda: (_x(4, 5), RNG.random((4, 5)), RNG.random(5))),
    "multi_margin": (lambda L, x, y, r: F(L).multi_margin_loss(x, y, reduction=r), lambda: (_x(6, 5), _labels(6, 5))),
    "multi_margin-p2-w": (lambda L, x, y, w, r: F(L).multi_margin_loss(x, y, p=2, margin=0.7, weight=w, reduction=r),
                          lambda: (_x(6, 5), _labels(6, 5), RNG.random(5) + 0.5)),
    "multi_margin-1d": (lambda L, x, y, r: F(L).multi_margin_loss(x, y, reduction=r),
                        lambda: (_x(5), np.array(2))),
    "multilabel_margin": (lambda L, x, y, r: F(L).multilabel_margin_loss(x, y, reduction=r),
                          lambda: (_x(6, 5), _multilabel(6, 5))),
    "multilabel_margin-1d": (lambda L, x, y, r: F(L).multilabel_margin_loss(x, y, reduction=r),
                             lambda: (_x(4), np.array([3, 0, -1, 1]))),
    "multilabel_margin-repeat": (lambda L, x, y, r: F(L).multilabel_margin_loss(x, y, reduction=r),
                                 lambda: (_x(2, 4), np.array([[1, 1, 2, -1], [0, 1, 2, 3]]))),
    "triplet": (lambda L, a, p, n, r: F(L).triplet_margin_loss(a, p, n, reduction=r),
                lambda: (_x(5, 4), _x(5, 4), _x(5, 4))),
    "triplet-p1-swap": (lambda L, a, p, n, r: F(L).triplet_margin_loss(a, p, n, margin=2.0, p=1, swap=True,
                                                                       reduction=r),
                        lambda: (_x(5, 4), _x(5, 4), _x(5, 4))),
    "triplet-p3-eps": (lambda L, a, p, n, r: F(L).triplet_margin_loss(a, p, n, p=3, eps=1e-3, reduction=r),
                       lambda: (_x(5, 4), _x(5, 4), _x(5, 4))),
    "triplet-1d": (lambda L, a, p, n, r: F(L).triplet_margin_loss(a, p, n, margin=3.0, swap=True, reduction=r),
                   lambda: (_x(4), _x(4), _x(4))),
    "triplet_with_distance": (lambda L, a, p, n, r: F(L).triplet_margin_with_distance_loss(a, p, n, reduction=r),
                              lambda: (_x(5, 4), _x(5, 4), _x(5, 4))),
    "triplet_with_distance-cos": (
        lambda L, a, p, n, r: F(L).triplet_margin_with_distance_loss(
            a, p, n, distance_function=lambda u, v: 1 - F(L).cosine_similarity(u, v), margin=0.5, swap=True,
            reduction=r),
        lambda: (_x(5, 4), _x(5, 4), _x(5, 4))),
    "poisson_nll": (lambda L, x, y, r: F(L).poisson_nll_loss(x, y, reduction=r),
                    lambda: (_x(4, 5), RNG.poisson(2.0, (4, 5)).astype(float))),
    "poisson_nll-full": (lambda L, x, y, r: F(L).poisson_nll_loss(x, y, full=True, reduction=r),
                         lambda: (_x(4, 5), RNG.poisson(2.0, (4, 5)).astype(float) + 0.5)),
    "poisson_nll-prob": (lambda L, x, y, r: F(L).poisson_nll_loss(x, y, log_input=False, full=True, eps=1e-3,
                                                                  reduction=r),
                         lambda: (RNG.random((4, 5)) * 3 + 0.1, RNG.poisson(2.0, (4, 5)).astype(float) + 0.5)),
    "gaussian_nll": (lambda L, x, y, v, r: F(L).gaussian_nll_loss(x, y, v, reduction=r),
                     lambda: (_x(4, 3), _x(4, 3), RNG.random((4, 3)) + 0.1)),
    "gaussian_nll-full-clamped": (lambda L, x, y, v, r: F(L).gaussian_nll_loss(x, y, v, full=True, eps=0.3,
                                                                               reduction=r),
                                  lambda: (_x(4, 3), _x(4, 3), RNG.random((4, 3)))),
    "gaussian_nll-var-short": (lambda L, x, y, v, r: F(L).gaussian_nll_loss(x, y, v, reduction=r),
                               lambda: (_x(4, 3), _x(4, 3), RNG.random(4) + 0.1)),
    "gaussian_nll-var-1": (lambda L, x, y, v, r: F(L).gaussian_nll_loss(x, y, v, reduction=r),
                           lambda: (_x(2, 4, 3), _x(2, 4, 3), RNG.random((2, 1, 3)) + 0.1)),
    "gaussian_nll-var-float": (lambda L, x, y, r: F(L).gaussian_nll_loss(x, y, 0.7, reduction=r),
                               lambda: (_x(4, 3), _x(4, 3))),
}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", list(CASES))
def test_loss_vs_torch(name, dtype, reduction):
    fn, make = CASES[name]
    arrays = make()
    compare(lambda L, *ts: fn(L, *ts, reduction), *arrays, dtype=dtype, grads=_grads(name, arrays))


# torch refuses a gradient for these (its kernels have none); tensorgrad's compositions would give one
NO_GRAD = {"soft_margin": 1, "multi_margin-p2-w": 2, "SoftMarginLoss": 1,
           # torch's target gradient of the full Poisson term is NaN at target 0 (0 * log 0): not compared
           "PoissonNLLLoss": 1}


def _grads(name, arrays):
    flags = [np.asarray(a).dtype.kind == "f" for a in arrays]
    if name in NO_GRAD:
        flags[NO_GRAD[name]] = False
    return flags


def test_kinks_take_torchs_branch():
    """Exactly at the hinge: clamp_min passes the gradient (margin_ranking, hinge, triplet), multi_margin's z > 0
    does not."""
    a, b = np.array([1.0, 2.0, 0.5]), np.array([1.0, 1.5, 0.5])
    compare(lambda L, x, y, t: F(L).margin_ranking_loss(x, y, t), a, b, np.array([1.0, 1.0, -1.0]))
    compare(lambda L, x, t: F(L).hinge_embedding_loss(x, t), np.array([1.0, 0.0, 2.0]), np.array([-1.0, 1, -1]))
    compare(lambda L, x, t: F(L).multi_margin_loss(x, t), np.array([[1.0, 0.0, 2.0]]), np.array([0]))
    compare(lambda L, x, t: F(L).multilabel_margin_loss(x, t), np.array([[1.0, 0.0, 2.0]]), np.array([[0, -1, 0]]))
    compare(lambda L, x, y, t: F(L).cosine_embedding_loss(x, y, t, margin=1.0), np.array([[1.0, 2.0]]),
            np.array([[2.0, 4.0]]), np.array([-1.0]))


def test_empty_batches():
    compare(lambda L, x, t: F(L).multilabel_margin_loss(x, t), np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64))
    for r in ("sum", "none"):
        compare(lambda L, x, t: F(L).multi_margin_loss(x, t, reduction=r), np.zeros((0, 3)),
                np.zeros(0, dtype=np.int64))
    for fn in (lambda L, x, y: F(L).soft_margin_loss(x, y), lambda L, x, y: F(L).hinge_embedding_loss(x, y),
               lambda L, x, y: F(L).poisson_nll_loss(x, y), lambda L, x, y: F(L).multilabel_soft_margin_loss(x, y)):
        compare(fn, np.zeros((0, 3)), np.zeros((0, 3)), grads=[True, False])


def test_legacy_flags():
    x, y = _x(4, 5), _sign(4, 5)
    for sa, rd in ((False, None), (None, False), (True, True)):
        compare(lambda L, a, b: F(L).soft_margin_loss(a, b, size_average=sa, reduce=rd), x, y, grads=[True, False])
        compare(lambda L, a, b: L.nn.HingeEmbeddingLoss(size_average=sa, reduce=rd)(a, b), x, y)


# -------------------------------------------------------------------------------------------------- modules
MODULES = {
    "MarginRankingLoss": (lambda T: T.MarginRankingLoss(margin=0.1, reduction="sum"),
                          lambda: (_x(5), _x(5), _sign(5))),
    "HingeEmbeddingLoss": (lambda T: T.HingeEmbeddingLoss(margin=2.0), lambda: (_x(5), _sign(5))),
    "CosineEmbeddingLoss": (lambda T: T.CosineEmbeddingLoss(0.1), lambda: (_x(3, 4), _x(3, 4), _sign(3))),
    "SoftMarginLoss": (lambda T: T.SoftMarginLoss(reduction="none"), lambda: (_x(5), _sign(5))),
    "MultiLabelSoftMarginLoss": (lambda T: T.MultiLabelSoftMarginLoss(weight=T_tensor(T, [0.5, 1.0, 2.0])),
                                 lambda: (_x(4, 3), (RNG.random((4, 3)) < 0.5).astype(float))),
    "MultiLabelMarginLoss": (lambda T: T.MultiLabelMarginLoss(), lambda: (_x(3, 4), _multilabel(3, 4))),
    "MultiMarginLoss": (lambda T: T.MultiMarginLoss(p=2, margin=0.5, weight=T_tensor(T, [1.0, 2.0, 0.5, 1.5])),
                        lambda: (_x(5, 4), _labels(5, 4))),
    "TripletMarginLoss": (lambda T: T.TripletMarginLoss(margin=0.5, p=1.5, swap=True),
                          lambda: (_x(3, 4), _x(3, 4), _x(3, 4))),
    "TripletMarginWithDistanceLoss": (lambda T: T.TripletMarginWithDistanceLoss(margin=0.5),
                                      lambda: (_x(3, 4), _x(3, 4), _x(3, 4))),
    "PoissonNLLLoss": (lambda T: T.PoissonNLLLoss(log_input=False, full=True),
                       lambda: (RNG.random((3, 4)) + 0.2, RNG.poisson(3.0, (3, 4)).astype(float))),
    "GaussianNLLLoss": (lambda T: T.GaussianNLLLoss(full=True, eps=1e-3),
                        lambda: (_x(3, 4), _x(3, 4), RNG.random((3, 1)) + 0.1)),
}


def T_tensor(T, values):
    return (torch.tensor if T is torch.nn else tg.tensor)(np.array(values))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", list(MODULES))
def test_loss_modules(name, dtype):
    make, data = MODULES[name]
    m, tm = make(nn), make(torch.nn)
    assert repr(m) == repr(tm)
    assert list(m.state_dict()) == list(tm.state_dict())
    m.to(dtype)
    tm.to(torch.float64 if dtype == np.float64 else torch.float32)
    arrays = data()
    compare(lambda L, *ts: (m if L is tg else tm)(*ts), *arrays, dtype=dtype, grads=_grads(name, arrays))


REPRS = [lambda T: T.MarginRankingLoss(), lambda T: T.HingeEmbeddingLoss(), lambda T: T.CosineEmbeddingLoss(),
         lambda T: T.SoftMarginLoss(), lambda T: T.MultiLabelSoftMarginLoss(), lambda T: T.MultiLabelMarginLoss(),
         lambda T: T.MultiMarginLoss(), lambda T: T.TripletMarginLoss(), lambda T: T.TripletMarginWithDistanceLoss(),
         lambda T: T.PoissonNLLLoss(), lambda T: T.GaussianNLLLoss()]


@pytest.mark.parametrize("make", REPRS)
def test_reprs(make):
    m, tm = make(nn), make(torch.nn)
    assert repr(m) == repr(tm) and m.reduction == tm.reduction


# --------------------------------------------------------------------------------------------------- errors
ERRORS = [
    (ValueError, lambda L: F(L).soft_margin_loss(L.ones(3), L.ones(3), reduction="avg")),
    (RuntimeError, lambda L: F(L).margin_ranking_loss(L.ones(3), L.ones(3), L.ones(2, 3))),
    (RuntimeError, lambda L: F(L).margin_ranking_loss(L.ones(3), L.ones(3), L.ones(2))),
    (RuntimeError, lambda L: F(L).soft_margin_loss(L.ones(3), L.ones(2, 3))),
    (RuntimeError, lambda L: F(L).cosine_embedding_loss(L.ones(2, 3), L.ones(2, 3), L.ones(2, 1))),
    (RuntimeError, lambda L: F(L).cosine_embedding_loss(L.ones(2, 3), L.ones(2, 3), L.ones(())))
    , (RuntimeError, lambda L: F(L).multi_margin_loss(L.ones(2, 3), L.tensor([0, 3]))),
    (RuntimeError, lambda L: F(L).multi_margin_loss(L.ones(2, 3), L.tensor([[0], [1]]))),
    (RuntimeError, lambda L: F(L).multi_margin_loss(L.ones(2, 3), L.tensor([0, 1]), weight=L.ones(2))),
    (ValueError, lambda L: F(L).multi_margin_loss(L.ones(2, 3), L.tensor([0, 1]), p=3)),
    (ValueError, lambda L: F(L).multi_margin_loss(L.ones(2, 3), L.tensor([0, 1]), weight=L.ones(1, 3))),
    (RuntimeError, lambda L: F(L).multilabel_margin_loss(L.ones(2, 3), L.tensor([[0, -1, 2]]))),
    (RuntimeError, lambda L: F(L).multilabel_margin_loss(L.ones(2, 3), L.tensor([[0, -1, 2], [3, -1, 0]]))),
    (RuntimeError, lambda L: F(L).triplet_margin_loss(L.ones(2, 3), L.ones(3), L.ones(2, 3))),
    (ValueError, lambda L: F(L).triplet_margin_loss(L.ones(2, 3), L.ones(2, 3), L.ones(2, 3), margin=0)),
    (ValueError, lambda L: F(L).triplet_margin_with_distance_loss(L.ones(3), L.ones(3), L.ones(3), margin=-1)),
    (ValueError, lambda L: F(L).gaussian_nll_loss(L.ones(2, 3), L.ones(2, 3), -L.ones(2, 3))),
    (ValueError, lambda L: F(L).gaussian_nll_loss(L.ones(2, 3), L.ones(2, 3), -1.0)),
    (ValueError, lambda L: F(L).gaussian_nll_loss(L.ones(2, 3), L.ones(2, 3), L.ones(3, 2))),
    (ValueError, lambda L: F(L).gaussian_nll_loss(L.ones(2, 3), L.ones(2, 3), L.ones(2, 3), reduction="x")),
    (ValueError, lambda L: L.nn.MultiMarginLoss(p=3)),
    (ValueError, lambda L: L.nn.TripletMarginLoss(margin=0.0)),
]


@pytest.mark.parametrize("exc,fn", ERRORS)
def test_errors_like_torch(exc, fn):
    for L in (tg, torch):
        with pytest.raises(exc):
            fn(L)


# ------------------------------------------------------------------------------------------- double backward
SECOND_ORDER = [  # (targets drawn once, as default arguments: the function checked must be deterministic)
    (lambda a, b, t=tg.tensor(_sign(5)): F(tg).margin_ranking_loss(a, b, t, margin=0.1), (_x(5), _x(5))),
    (lambda a, b, t=tg.tensor(_sign(3)): F(tg).cosine_embedding_loss(a, b, t, margin=0.1), (_x(3, 4), _x(3, 4))),
    (lambda a, t=tg.tensor(_sign(5)): F(tg).soft_margin_loss(a, t), (_x(5),)),
    (lambda a, t=tg.tensor(RNG.random((3, 4))): F(tg).multilabel_soft_margin_loss(a, t), (_x(3, 4),)),
    (lambda a, t=tg.tensor(_labels(4, 3)): F(tg).multi_margin_loss(a, t, p=2), (_x(4, 3),)),
    (lambda a, t=tg.tensor(_multilabel(4, 3)): F(tg).multilabel_margin_loss(a, t) ** 2, (_x(4, 3),)),
    (lambda a, p, n: F(tg).triplet_margin_loss(a, p, n, margin=3.0, swap=True), (_x(3, 4), _x(3, 4), _x(3, 4))),
    (lambda a, t=tg.tensor(RNG.poisson(2.0, 5).astype(float)): F(tg).poisson_nll_loss(a, t, full=True), (_x(5),)),
    (lambda a, v, t=tg.tensor(_x(4, 3)): F(tg).gaussian_nll_loss(a, t, v, full=True),
     (_x(4, 3), RNG.random((4, 1)) + 0.5)),
    (lambda a, b, w: F(tg).bilinear(a, b, w), (_x(2, 3), _x(2, 2), _x(2, 3, 2))),
    (lambda w: F(tg).embedding_bag(tg.tensor([0, 2, 1, 2]), w, tg.tensor([0, 1]), mode="mean") ** 2, (_x(3, 2),)),
    (lambda a: F(tg).softshrink(a, 0.3) ** 2 + F(tg).tanhshrink(a), (_x(6),)),
]


@pytest.mark.parametrize("case", range(len(SECOND_ORDER)))
def test_double_backward(case):
    from tensorgrad.autograd.gradcheck import gradgradcheck
    fn, arrays = SECOND_ORDER[case]
    assert gradgradcheck(fn, [tg.tensor(a, requires_grad=True) for a in arrays])
