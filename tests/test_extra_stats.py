"""ops/extra_stats.py against torch: nan-aware reductions, quantile (every interpolation), order statistics (mode,
kthvalue, cummax/cummin, nanmedian, msort), std_mean/var_mean/aminmax, cov/corrcoef, distances, renorm,
trapezoid/cumulative_trapezoid, gradient, histogram."""
import numpy as np
import pytest
import torch

import tensorgrad as tg
from helpers import check_op, gradcheck_op, gradgradcheck_op, lib, raises, FLOATS


def _with_nans(shape, seed=0, frac=0.3):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    x[rng.random(shape) < frac] = np.nan
    return x


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("dim,keepdim", [(None, False), (1, False), ((0, 1), True), (-1, True)])
def test_nansum_nanmean(dim, keepdim, dtype):
    x = _with_nans((3, 4))
    check_op(lambda a: lib(a).nansum(a, dim, keepdim), inputs=[x], dtype=dtype)
    check_op(lambda a: a.nanmean(dim, keepdim), inputs=[x], dtype=dtype)
    check_op(lambda a: lib(a).nansum(a, dim, keepdim), inputs=[(3, 4)], dtype=dtype)
    gradgradcheck_op(lambda a: tg.nanmean(a * a, dim), [tg.randn(3, 4, dtype=tg.float64, requires_grad=True)])


def test_nansum_ints_and_errors():
    x = np.array([[1, 2], [3, 4]])
    check_op(lambda a: lib(a).nansum(a, 0), inputs=[x])
    with raises(RuntimeError, "nanmean"):
        tg.nanmean(tg.tensor(x))


@pytest.mark.parametrize("kw", [{}, {"dim": 1}, {"dim": 0, "correction": 0, "keepdim": True}, {"dim": (0, 1)}])
def test_std_var_mean(kw):
    check_op(lambda a: lib(a).std_mean(a, **kw), inputs=[(3, 4)])
    check_op(lambda a: lib(a).var_mean(a, **kw), inputs=[(3, 4)])


@pytest.mark.parametrize("kw", [{}, {"dim": 1}, {"dim": 0, "keepdim": True}, {"keepdim": True}])
def test_aminmax(kw):
    check_op(lambda a: lib(a).aminmax(a, **kw), inputs=[(3, 4)])
    r = tg.aminmax(tg.tensor([[1, 5], [3, 0]]), dim=1)
    assert r.min.tolist() == [1, 0] and r.max.tolist() == [5, 3]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("k,dim,keepdim", [(1, -1, False), (3, 1, True), (2, 0, False), (4, -1, False)])
def test_kthvalue(k, dim, keepdim, dtype):
    check_op(lambda a: lib(a).kthvalue(a, k, dim, keepdim), inputs=[(3, 4)], dtype=dtype)
    check_op(lambda a: a.kthvalue(1), inputs=[()], dtype=dtype)
    with raises(RuntimeError, "kthvalue"):
        tg.kthvalue(tg.zeros(3), 4)


@pytest.mark.parametrize("dim,keepdim", [(-1, False), (0, True), (1, False)])
def test_mode(dim, keepdim):
    x = np.array([[3., 1, 1, 3, 2], [2, 2, 5, 5, 5], [0, 1, 2, 3, 4], [7, 7, 7, 7, 7]])
    check_op(lambda a: lib(a).mode(a, dim, keepdim), inputs=[x])
    xi = x.astype(np.int64)
    check_op(lambda a: a.mode(dim, keepdim), inputs=[xi])
    check_op(lambda a: a.mode(), inputs=[np.array(3.0)])


def test_msort_cummax_cummin():
    check_op(lambda a: lib(a).msort(a), inputs=[(4, 3)])
    x = np.array([[1., 1, 3, 3, 2, 0], [5, 4, 4, 6, 1, 6], [0, np.nan, 3, np.nan, 2, 9]])
    for name in ("cummax", "cummin"):
        check_op(lambda a: getattr(lib(a), name)(a, 1), inputs=[x])
        check_op(lambda a: getattr(a, name)(0), inputs=[(4, 3)])
        check_op(lambda a: getattr(a, name)(0), inputs=[()])
        check_op(lambda a: getattr(a, name)(0), inputs=[np.array([3, 1, 3, 5], dtype=np.int64)])
        check_op(lambda a: getattr(a, name)(1), inputs=[(2, 0)])
        gradgradcheck_op(lambda a: getattr(tg, name)(a * a, 1).values, [tg.randn(2, 5, dtype=tg.float64,
                                                                                 requires_grad=True)])


@pytest.mark.parametrize("dim,keepdim", [(None, False), (1, False), (0, True)])
def test_nanmedian(dim, keepdim):
    x = _with_nans((4, 5), frac=0.4)
    x[:, 0] = 1.5  # (no all-NaN slice: torch's index there is arbitrary; its value, NaN, is checked below)
    x[0, 0] = np.nan
    f = (lambda a: lib(a).nanmedian(a)) if dim is None else (lambda a: lib(a).nanmedian(a, dim, keepdim))
    check_op(f, inputs=[x])
    check_op(f, inputs=[(4, 5)])
    y = x.copy()
    y[1] = np.nan
    if dim is not None:
        got, want = tg.nanmedian(tg.tensor(y), dim, keepdim), torch.nanmedian(torch.tensor(y), dim, keepdim)
        np.testing.assert_array_equal(got.values.numpy(), want.values.numpy())
    check_op(lambda a: a.nanmedian(), inputs=[np.full(3, np.nan)])


QS = [0.0, 0.3, 0.5, 1.0]


@pytest.mark.parametrize("interp", ["linear", "lower", "higher", "midpoint", "nearest"])
@pytest.mark.parametrize("dtype", FLOATS)
def test_quantile(interp, dtype):
    qs = np.array(QS)
    for q, dim, keepdim in [(0.25, None, False), (0.4, 1, False), (qs, 0, True), (qs, None, True),
                            (0.5, -1, True), (qs, 1, False), (np.array(0.7), 0, False)]:
        check_op(lambda a, qq: lib(a).quantile(a, qq, dim, keepdim, interpolation=interp),
                 inputs=[(4, 5), q], dtype=dtype, requires_grad=[True, False])
    x = _with_nans((4, 6), frac=0.3)
    x[2] = np.nan
    for q, dim in [(0.3, 1), (qs, 0), (0.5, None)]:
        check_op(lambda a, qq: lib(a).nanquantile(a, qq, dim, interpolation=interp), inputs=[x, q], dtype=dtype,
                 requires_grad=[True, False])
        check_op(lambda a, qq: lib(a).quantile(a, qq, dim, interpolation=interp), inputs=[x, q], dtype=dtype,
                 requires_grad=[True, False])


def test_quantile_edges_and_grad():
    check_op(lambda a: a.quantile(0.5), inputs=[()])
    check_op(lambda a: a.quantile(0.2, 0, keepdim=True), inputs=[(3,)])
    with raises(RuntimeError, "non-empty"):
        tg.quantile(tg.zeros(0), 0.5)
    with raises(RuntimeError, "non-empty"):
        tg.quantile(tg.zeros(0, 3), 0.5, 1)
    gradcheck_op(lambda a: tg.quantile(a, [0.1, 0.75], dim=1), inputs=[(3, 5)])
    gradgradcheck_op(lambda a: tg.nanquantile(a * a, 0.35, dim=0), [tg.randn(5, 2, dtype=tg.float64,
                                                                         requires_grad=True)])
    with raises(RuntimeError, "quantile"):
        tg.quantile(tg.zeros(3), 1.5)
    with raises(RuntimeError, "quantile"):
        tg.quantile(tg.zeros(3, dtype=tg.int64), 0.5)
    with raises(RuntimeError, "interpolation"):
        tg.quantile(tg.zeros(3), 0.5, interpolation="cubic")


@pytest.mark.parametrize("kw", [{}, {"correction": 0}, {"correction": 2}])
def test_cov_corrcoef(kw):
    check_op(lambda a: lib(a).cov(a, **kw), inputs=[(3, 6)])
    check_op(lambda a: lib(a).cov(a, **kw), inputs=[(6,)])
    rng = np.random.default_rng(1)
    fw = rng.integers(1, 4, 6)
    aw = rng.uniform(0.5, 2.0, 6)
    check_op(lambda a, f, w: lib(a).cov(a, fweights=f, aweights=w, **kw), inputs=[(3, 6), fw, aw])
    check_op(lambda a, w: lib(a).cov(a, aweights=w, **kw), inputs=[(2, 6), aw])
    check_op(lambda a: lib(a).corrcoef(a), inputs=[(3, 6)])
    check_op(lambda a: a.corrcoef(), inputs=[(6,)])
    check_op(lambda a: a.cov(), inputs=[np.arange(6).reshape(2, 3)])
    with raises(RuntimeError, "cov"):
        tg.cov(tg.zeros(2, 2, 2))


@pytest.mark.parametrize("p", [2, 1, 3.5, 0, float("inf")])
def test_distances(p):
    check_op(lambda a, b: lib(a).dist(a, b, p), inputs=[(3, 4), (4,)], grad=p != 0)  # (torch's p=0 backward fails)
    check_op(lambda a, b: a.dist(b, p), inputs=[(2, 3), (2, 3)], grad=p != 0)
    check_op(lambda a: lib(a).pdist(a, p), inputs=[(5, 3)])
    # (torch.pairwise_distance is nn.functional's; its p=0 result needs no gradient there, where torch's has a
    # zero one)
    check_op(lambda a, b: lib(a).pairwise_distance(a, b, p), inputs=[(4, 3), (4, 3)], grad=p != 0)
    check_op(lambda a, b: lib(a).pairwise_distance(a, b, p, keepdim=True), inputs=[(3,), (2, 3)], grad=p != 0)


def test_pdist_cos_edges():
    check_op(lambda a: lib(a).pdist(a), inputs=[(1, 3)], grad=False)  # (torch's backward crashes on no pairs)
    check_op(lambda a: lib(a).pdist(a), inputs=[(0, 3)], grad=False)
    x = tg.randn(1, 3, requires_grad=True)
    tg.pdist(x).sum().backward()
    assert not x.grad.numpy().any()
    with raises(RuntimeError, "pdist"):
        tg.pdist(tg.zeros(3))
    gradgradcheck_op(lambda a: tg.pdist(a), [tg.randn(4, 3, dtype=tg.float64, requires_grad=True)])


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("s1,s2,dim", [((4, 3), (4, 3), 1), ((2, 1, 3), (4, 3), -1), ((3,), (3,), 0),
                                       ((2, 5, 3), (2, 5, 3), 1)])
def test_cosine_similarity(s1, s2, dim, dtype):
    check_op(lambda a, b: lib(a).cosine_similarity(a, b, dim), inputs=[s1, s2], dtype=dtype)
    check_op(lambda a, b: lib(a).cosine_similarity(a, b, dim, eps=0.5), inputs=[s1, s2], dtype=dtype)
    check_op(lambda a, b: lib(a).cosine_similarity(a * 1e-9, b, dim), inputs=[s1, s2], dtype=dtype)


def test_cosine_gradgrad():
    gradcheck_op(lambda a, b: tg.cosine_similarity(a, b), inputs=[(3, 4), (3, 4)])
    gradgradcheck_op(lambda a, b: tg.cosine_similarity(a, b, 0),
                     [tg.randn(3, 2, dtype=tg.float64, requires_grad=True),
                      tg.randn(3, 2, dtype=tg.float64, requires_grad=True)])


@pytest.mark.parametrize("p,dim,maxnorm", [(2, 0, 1.0), (1, 1, 0.5), (3, -1, 100.0), (2, 1, 0.0)])
def test_renorm(p, dim, maxnorm):
    check_op(lambda a: lib(a).renorm(a, p, dim, maxnorm), inputs=[(3, 4)])
    check_op(lambda a: a.renorm(p, dim, maxnorm), inputs=[(2, 3, 2)])
    gradgradcheck_op(lambda a: tg.renorm(a, p, dim, maxnorm), [tg.randn(3, 4, dtype=tg.float64, requires_grad=True)])
    with raises(RuntimeError, "renorm"):
        tg.renorm(tg.zeros(3), 2, 0, 1.0)


def test_renorm_inplace():
    x = tg.randn(3, 4, dtype=tg.float64)
    tx = torch.tensor(x.numpy())
    x.renorm_(2, 0, 0.5)
    tx.renorm_(2, 0, 0.5)
    np.testing.assert_allclose(x.numpy(), tx.numpy())


@pytest.mark.parametrize("dtype", FLOATS)
def test_trapezoid(dtype):
    check_op(lambda y: lib(y).trapezoid(y), inputs=[(3, 5)], dtype=dtype)
    check_op(lambda y: lib(y).trapezoid(y, dx=0.5, dim=0), inputs=[(3, 5)], dtype=dtype)
    check_op(lambda y, x: lib(y).trapezoid(y, x), inputs=[(3, 5), (5,)], dtype=dtype)
    check_op(lambda y, x: lib(y).trapezoid(y, x, dim=0), inputs=[(3, 5), (3, 5)], dtype=dtype)
    check_op(lambda y: lib(y).trapz(y, dx=2.0), inputs=[(4,)], dtype=dtype)
    check_op(lambda y: lib(y).cumulative_trapezoid(y), inputs=[(3, 5)], dtype=dtype)
    check_op(lambda y, x: lib(y).cumulative_trapezoid(y, x, dim=0), inputs=[(4, 2), (4,)], dtype=dtype)
    check_op(lambda y: lib(y).trapezoid(y), inputs=[(3, 0)], dtype=dtype)
    check_op(lambda y: lib(y).trapezoid(y), inputs=[np.arange(4)], dtype=dtype)


@pytest.mark.parametrize("kw", [{}, {"spacing": 2.0}, {"dim": 1}, {"spacing": [0.5, 2.0]}, {"edge_order": 2},
                                {"dim": (0,), "edge_order": 2, "spacing": 3.0}])
def test_gradient(kw):
    check_op(lambda a: lib(a).gradient(a, **kw), inputs=[(4, 5)])


def test_gradient_coordinates():
    c = [np.array([0.0, 0.5, 1.5, 1.7]), np.array([0.0, 1.0, 3.0, 3.5, 5.0])]
    for eo in (1, 2):
        check_op(lambda a, c0, c1: lib(a).gradient(a, spacing=(c0, c1), edge_order=eo),
                 inputs=[(4, 5), c[0], c[1]], requires_grad=[True, False, False])
    with raises(RuntimeError, "gradient"):
        tg.gradient(tg.zeros(2, 3), edge_order=2)


@pytest.mark.parametrize("kw", [{"bins": 4}, {"bins": 3, "range": (-1.0, 1.0)}, {"bins": 5, "density": True}])
def test_histogram(kw):
    x = np.random.default_rng(0).standard_normal(20)
    w = np.random.default_rng(1).uniform(0, 1, 20)
    for weight in (None, w):
        got = tg.histogram(tg.tensor(x), weight=None if weight is None else tg.tensor(weight), **kw)
        want = torch.histogram(torch.tensor(x), weight=None if weight is None else torch.tensor(weight), **kw)
        for g, t in zip(got, want):
            assert g.dtype == tg.float64
            np.testing.assert_allclose(g.numpy(), t.numpy(), rtol=1e-10, atol=1e-12)
    got = tg.tensor(x, dtype=tg.float32).histogram(tg.tensor([-1.0, 0.0, 2.0], dtype=tg.float32))
    want = torch.tensor(x, dtype=torch.float32).histogram(torch.tensor([-1.0, 0.0, 2.0]))
    np.testing.assert_allclose(got.hist.numpy(), want.hist.numpy())
    assert got.hist.dtype == tg.float32
    c = tg.histogram(tg.full((3,), 2.0), 2)
    tc = torch.histogram(torch.full((3,), 2.0), 2)
    np.testing.assert_allclose(c.bin_edges.numpy(), tc.bin_edges.numpy())
