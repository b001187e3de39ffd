"""nn.functional / nn activations added in functional_extra.py vs torch: softmin, the shrinks, threshold, rrelu,
alpha dropouts, channel_shuffle, Softmax2d, gumbel_softmax, the in-place variants; forward, every input gradient,
reprs, errors."""
import warnings

import numpy as np
import pytest
import torch

import tensorgrad as tg
from tensorgrad import nn
from nn_extra_common import compare, F

torch.set_num_threads(1)
RNG = np.random.default_rng(0)
FLOATS = [np.float64, np.float32]


def _x(*shape, scale=2.0):
    return RNG.standard_normal(shape) * scale


# the break points themselves are in the data: the gradient convention there must be torch's
KINKS = np.array([-0.5, 0.5, 0.0, -0.25, 0.25, 1.0, -1.0, 0.1, 2.0, -3.0, 0.5, -0.5])

UNARY = {
    "softmin-1": lambda L, x: F(L).softmin(x, 1),
    "softmin-0-dtype": lambda L, x: F(L).softmin(x, 0, dtype=L.float64),
    "hardshrink": lambda L, x: F(L).hardshrink(x),
    "hardshrink-0.25": lambda L, x: F(L).hardshrink(x, 0.25),
    "hardshrink-method": lambda L, x: x.hardshrink(1.0),
    "softshrink": lambda L, x: F(L).softshrink(x),
    "softshrink-1": lambda L, x: F(L).softshrink(x, 1.0),
    "softshrink-0": lambda L, x: F(L).softshrink(x, 0.0),
    "tanhshrink": lambda L, x: F(L).tanhshrink(x),
    "threshold": lambda L, x: F(L).threshold(x, 0.25, -7.0),
    "threshold-1": lambda L, x: F(L).threshold(x, 1.0, 3),
    "rrelu-eval": lambda L, x: F(L).rrelu(x, 0.1, 0.3),
    "rrelu-eval-default": lambda L, x: F(L).rrelu(x),
    "channel_shuffle": lambda L, x: F(L).channel_shuffle(x.reshape(2, 6, 2), 3),
    "channel_shuffle-4d": lambda L, x: F(L).channel_shuffle(x.reshape(1, 4, 3, 2), 2),
    "Softmax2d": lambda L, x: L.nn.Softmax2d()(x.reshape(2, 3, 2, 2)),
    "Softmax2d-3d": lambda L, x: L.nn.Softmax2d()(x.reshape(3, 4, 2)),
    "Softmin-module": lambda L, x: L.nn.Softmin(dim=0)(x),
    "Hardshrink-module": lambda L, x: L.nn.Hardshrink(0.3)(x),
    "Softshrink-module": lambda L, x: L.nn.Softshrink(0.3)(x),
    "Tanhshrink-module": lambda L, x: L.nn.Tanhshrink()(x),
    "Threshold-module": lambda L, x: L.nn.Threshold(0.1, 20.0)(x),
    "RReLU-eval-module": lambda L, x: L.nn.RReLU(0.2, 0.4).eval()(x),
    "AlphaDropout-eval": lambda L, x: L.nn.AlphaDropout(0.3).eval()(x),
    "FeatureAlphaDropout-eval": lambda L, x: L.nn.FeatureAlphaDropout(0.3).eval()(x),
    "alpha_dropout-p0": lambda L, x: F(L).alpha_dropout(x, 0.0, True),
    "alpha_dropout-p1": lambda L, x: F(L).alpha_dropout(x, 1.0, True),
    "feature_alpha_dropout-p1": lambda L, x: F(L).feature_alpha_dropout(x, 1.0, True),
}


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", list(UNARY))
def test_unary_vs_torch(name, dtype):
    x = np.concatenate([KINKS, _x(12)]).reshape(2, 12)
    compare(UNARY[name], x, dtype=dtype)


def test_nan_and_size0():
    x = np.array([np.nan, 0.1, -2.0, 3.0])
    for name in ("hardshrink", "softshrink", "tanhshrink", "threshold", "softmin-1"):
        compare(UNARY[name], x.reshape(1, 4))
    compare(lambda L, x: F(L).hardshrink(x), np.zeros((0, 3)))
    compare(lambda L, x: F(L).threshold(x, 0.0, 1.0), np.zeros((2, 0)))
    compare(lambda L, x: F(L).channel_shuffle(x, 2), np.zeros((0, 4, 3)))


def test_threshold_int_keeps_dtype():
    for L in (tg, torch):
        y = F(L).threshold(L.tensor([0, 1, 2, 3]), 1, 9)
        assert y.tolist() == [9, 9, 2, 3] and str(y.dtype).endswith("int64")


def test_softmin_implicit_dim_warns():
    x = _x(2, 3)
    with pytest.warns(UserWarning, match="Implicit dimension"):
        y = nn.Softmin()(tg.tensor(x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = torch.nn.Softmin()(torch.tensor(x))
    np.testing.assert_allclose(y.numpy(), want.numpy(), rtol=1e-12)


# ------------------------------------------------------------------------------------------------ in-place
INPLACE = {
    "relu_": (lambda L, x: F(L).relu_(x), ()),
    "elu_": (lambda L, x: F(L).elu_(x, 0.7), ()),
    "celu_": (lambda L, x: F(L).celu_(x, 1.3), ()),
    "selu_": (lambda L, x: F(L).selu_(x), ()),
    "leaky_relu_": (lambda L, x: F(L).leaky_relu_(x, 0.2), ()),
    "hardtanh_": (lambda L, x: F(L).hardtanh_(x, -0.5, 1.5), ()),
    "threshold_": (lambda L, x: F(L).threshold_(x, 0.3, -1.0), ()),
    "rrelu_-eval": (lambda L, x: F(L).rrelu_(x, 0.1, 0.2), ()),
    "threshold-inplace": (lambda L, x: F(L).threshold(x, 0.3, -1.0, inplace=True), ()),
    "rrelu-inplace": (lambda L, x: F(L).rrelu(x, 0.1, 0.2, inplace=True), ()),
    "Threshold-module-inplace": (lambda L, x: L.nn.Threshold(0.3, 2.0, inplace=True)(x), ()),
}


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", list(INPLACE))
def test_inplace_variants(name, dtype):
    fn, _ = INPLACE[name]
    x = np.concatenate([KINKS, _x(12)]).astype(dtype)
    # no grad: the input's own memory holds the result, and the result is the input
    outs = []
    for L in (tg, torch):
        t = L.tensor(x.copy())
        r = fn(L, t)
        assert r is t
        outs.append(t.numpy())
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-6)

    # on a non-leaf in a graph: the gradient flows through the in-place op as torch's does
    def through(L, x):
        h = x * 1.5
        r = fn(L, h)
        return h if name.endswith("inplace") or "_" in name else r
    # (torch's celu_ backward, from the result, is good to ~1e-8 only)
    compare(through, x.astype(np.float64), dtype=dtype, tol=1e-7 if name == "celu_" and dtype == np.float64 else None)


@pytest.mark.parametrize("fn", [lambda L, x: F(L).relu_(x), lambda L, x: F(L).elu_(x),
                                lambda L, x: F(L).threshold_(x, 0.0, 1.0), lambda L, x: F(L).hardtanh_(x)])
def test_inplace_on_leaf_requiring_grad_raises(fn):
    for L in (tg, torch):
        with pytest.raises(RuntimeError, match="leaf"):
            fn(L, L.ones(3, requires_grad=True))


# ------------------------------------------------------------------------------------------------ random
def test_rrelu_training_slopes():
    tg.manual_seed(3)
    x = tg.tensor(-np.abs(_x(20000)) - 0.1, requires_grad=True)
    y = nn.RReLU(0.1, 0.3)(x)
    slope = (y / x).detach().numpy()
    assert slope.min() >= 0.1 and slope.max() <= 0.3
    assert abs(slope.mean() - 0.2) < 0.005 and abs(slope.std() - 0.2 / np.sqrt(12)) < 0.005
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), slope, rtol=1e-12)  # the gradient is each element's slope
    pos = tg.tensor(np.abs(_x(100)) + 0.1)
    np.testing.assert_array_equal(F(tg).rrelu(pos, training=True).numpy(), pos.numpy())
    tg.manual_seed(3)
    a = F(tg).rrelu(tg.tensor(-np.ones(50)), training=True).numpy()
    tg.manual_seed(3)
    np.testing.assert_array_equal(a, F(tg).rrelu(tg.tensor(-np.ones(50)), training=True).numpy())


@pytest.mark.parametrize("feature", [False, True])
def test_alpha_dropout_statistics(feature):
    """Training mode keeps a standard normal input at mean 0 and variance 1 (its point), drops to one value."""
    tg.manual_seed(0)
    p = 0.3
    x = tg.tensor(RNG.standard_normal((400, 300, 1) if feature else (200000,)), requires_grad=True)
    y = (F(tg).feature_alpha_dropout if feature else F(tg).alpha_dropout)(x, p, True)
    yn = y.detach().numpy()
    assert abs(yn.mean()) < 0.02 and abs(yn.var() - 1) < 0.03
    alpha = 1.7580993408473766
    a = 1 / np.sqrt((alpha ** 2 * p + 1) * (1 - p))
    dropped_value = -alpha * a + alpha * a * p
    dropped = np.isclose(yn, dropped_value, rtol=0, atol=1e-12)
    assert abs(dropped.mean() - p) < 0.02
    y.sum().backward()
    g = x.grad.numpy()
    np.testing.assert_allclose(g[~dropped], a)
    if feature:  # whole channels share the mask
        assert (dropped.all(axis=2) | ~dropped.any(axis=2)).all()


def test_alpha_dropout_errors_and_reprs():
    for L in (tg, torch):
        with pytest.raises(ValueError):
            F(L).alpha_dropout(L.ones(3), 1.5, True)
        with pytest.raises(RuntimeError, match="(?i)feature dropout"):
            F(L).feature_alpha_dropout(L.ones(3), 0.5, True)
        with pytest.raises(ValueError):
            L.nn.AlphaDropout(-0.1)


def test_gumbel_softmax_fixed_noise_matches_torch_formula():
    from tensorgrad.nn.functional_extra import _gumbel_softmax_with
    logits = _x(4, 5)
    g = -np.log(RNG.exponential(size=(4, 5)))
    for hard in (False, True):
        for tau in (1.0, 0.5):
            def fn(L, lg, hard=hard, tau=tau):
                if L is tg:
                    return _gumbel_softmax_with(lg, tg.tensor(g), tau, hard, -1)
                y = ((lg + torch.tensor(g)) / tau).softmax(-1)
                if not hard:
                    return y
                h = torch.zeros_like(y).scatter_(-1, y.argmax(-1, keepdim=True), 1.0)
                return h - y.detach() + y
            compare(fn, logits)


def test_gumbel_softmax_statistics():
    """Hard samples are one-hot with the softmax's class frequencies; soft samples sum to 1; the gradient reaches
    the logits (straight through for hard)."""
    tg.manual_seed(1)
    logits = np.log(np.array([0.1, 0.2, 0.3, 0.4]))
    x = tg.tensor(np.tile(logits, (20000, 1)), requires_grad=True)
    y = F(tg).gumbel_softmax(x, tau=0.7, hard=True)
    yn = y.detach().numpy()
    assert set(np.unique(yn)) <= {0.0, 1.0} and (yn.sum(1) == 1).all()
    np.testing.assert_allclose(yn.mean(0), [0.1, 0.2, 0.3, 0.4], atol=0.015)
    (y * tg.tensor(RNG.standard_normal(yn.shape))).sum().backward()
    assert np.isfinite(x.grad.numpy()).all() and np.abs(x.grad.numpy()).sum() > 0
    s = F(tg).gumbel_softmax(tg.tensor(_x(3, 4)), dim=0)
    np.testing.assert_allclose(s.numpy().sum(0), 1.0, rtol=1e-6)
    with pytest.warns(UserWarning, match="deprecated"):
        F(tg).gumbel_softmax(tg.tensor(_x(3, 4)), eps=1e-5)


# ------------------------------------------------------------------------------------------ errors, reprs
def test_errors_like_torch():
    for L in (tg, torch):
        with pytest.raises(RuntimeError):
            F(L).softshrink(L.ones(3), -1.0)
        with pytest.raises(NotImplementedError):
            F(L).hardshrink(L.tensor([1, 2]))
        with pytest.raises(RuntimeError):
            F(L).rrelu(L.ones(3), 0.5, 0.2)
        with pytest.raises(RuntimeError):
            F(L).channel_shuffle(L.ones(2, 6), 3)
        with pytest.raises(RuntimeError):
            F(L).channel_shuffle(L.ones(2, 6, 1), 4)
        with pytest.raises(RuntimeError):
            F(L).channel_shuffle(L.ones(2, 6, 1), 0)
        with pytest.raises(ValueError):
            L.nn.Softmax2d()(L.ones(2, 3))


REPRS = [lambda T: T.Softmin(1), lambda T: T.Softmin(), lambda T: T.Softshrink(), lambda T: T.Hardshrink(0.3),
         lambda T: T.Tanhshrink(), lambda T: T.Threshold(0.1, 20), lambda T: T.Threshold(0.1, 20, True),
         lambda T: T.RReLU(), lambda T: T.RReLU(0.1, 0.3, True), lambda T: T.Softmax2d(), lambda T: T.AlphaDropout(),
         lambda T: T.FeatureAlphaDropout(0.2, True), lambda T: T.ChannelShuffle(2)]


@pytest.mark.parametrize("make", REPRS)
def test_reprs(make):
    assert repr(make(nn)) == repr(make(torch.nn))
    assert list(make(nn).state_dict()) == []


def test_torch_alias_exposes_them():
    import tensorgrad.compat as compat
    names = ["softmin", "softshrink", "hardshrink", "tanhshrink", "threshold", "threshold_", "rrelu", "rrelu_",
             "alpha_dropout", "feature_alpha_dropout", "channel_shuffle", "relu_", "elu_", "celu_", "selu_",
             "leaky_relu_", "hardtanh_", "gumbel_softmax", "bilinear", "embedding_bag"]
    for n in names:
        assert callable(getattr(tg.nn.functional, n)) and n in tg.nn.functional.__all__, n
    assert compat._target("torch.nn.functional") == "tensorgrad.nn.functional"
    assert compat._target("torch.nn.parameter") == "tensorgrad.nn.parameter"
