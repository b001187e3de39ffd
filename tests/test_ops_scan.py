"""Scans and products vs PyTorch: cumsum, cumprod, logcumsumexp, prod (gradients with one or several zeros), median
(all elements: ties share the gradient; along a dim: values + indices, NaN handling); float64 gradchecks."""
import numpy as np
import pytest
import torch

import tensorgrad as tg
from helpers import check_op, gradcheck_op, lib, FLOATS


def _dt(x, name):
    """The dtype called ``name`` in x's library."""
    return getattr(torch if isinstance(x, torch.Tensor) else tg, name)


SCAN_SHAPES = [((5,), 0), ((3, 4), 1), ((3, 4), -2), ((2, 3, 4), -1), ((2, 3, 4), 1), ((2, 1, 4), 1), ((1,), -1),
               ((2, 0, 3), 1), ((2, 0, 3), 0)]
SCANS = ["cumsum", "cumprod", "logcumsumexp"]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,dim", SCAN_SHAPES, ids=str)
@pytest.mark.parametrize("name", SCANS)
def test_scans(name, shape, dim, dtype):
    check_op(lambda x: getattr(x, name)(dim), inputs=[shape], dtype=dtype)
    check_op(lambda x: getattr(lib(x), name)(x, dim=dim), inputs=[shape], dtype=dtype)


@pytest.mark.parametrize("name", SCANS)
def test_scans_of_0d(name):
    check_op(lambda x: getattr(x, name)(0), inputs=[()])
    check_op(lambda x: getattr(lib(x), name)(x, -1), inputs=[()])


@pytest.mark.parametrize("name", SCANS)
def test_scans_gradcheck(name):
    gradcheck_op(lambda x: getattr(x, name)(1), [(3, 4)])
    gradcheck_op(lambda x: getattr(x, name)(0), [(4, 2)])
    gradcheck_op(lambda x: getattr(x, name)(-1), [(2, 1, 3)])


@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
def test_cumsum_cumprod_integer_inputs_accumulate_in_int64(name):
    x = np.arange(1, 13).reshape(3, 4)
    check_op(lambda t: getattr(t, name)(1), inputs=[x])
    check_op(lambda t: getattr(t, name)(0), inputs=[x.astype(np.int32)])
    check_op(lambda t: getattr(t, name)(1), inputs=[x % 3 == 0])
    check_op(lambda t: getattr(t, name)(1, dtype=_dt(t, "float64")), inputs=[x.astype(np.int32)])


@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
def test_cumsum_cumprod_dtype_argument(name):
    check_op(lambda x: getattr(x, name)(1, dtype=_dt(x, "float64")), inputs=[(3, 4)], dtype=np.float32,
             atol=1e-6, rtol=1e-6)


CUMPROD_ZEROS = np.array([[2.0, 0.0, 3.0, 4.0],
                          [0.0, 0.0, 1.5, 2.0],
                          [1.0, -2.0, 3.0, 0.0],
                          [0.0, 1.0, 0.0, 2.0],
                          [1.5, 2.0, -3.0, 0.5],
                          [0.0, 0.0, 0.0, 0.0]])


@pytest.mark.parametrize("dtype", FLOATS)
def test_cumprod_gradient_with_zeros(dtype):
    check_op(lambda x: x.cumprod(1), inputs=[CUMPROD_ZEROS], dtype=dtype)
    check_op(lambda x: x.cumprod(0), inputs=[CUMPROD_ZEROS.T.copy()], dtype=dtype)
    check_op(lambda x: x.cumprod(-1), inputs=[CUMPROD_ZEROS.reshape(2, 3, 4)], dtype=dtype)


def test_cumprod_gradcheck_with_zeros():
    # cumprod is multilinear, so central differences are exact at zeros too
    gradcheck_op(lambda x: x.cumprod(1), [CUMPROD_ZEROS])
    gradcheck_op(lambda x: x.cumprod(0), [CUMPROD_ZEROS.T.copy()])


@pytest.mark.parametrize("dtype", FLOATS)
def test_logcumsumexp_wide_range_is_stable(dtype):
    # a prefix far below the slice's max: exp-cumsum-log under one shift would give -inf there
    x = np.array([[-1000.0, 0.0, 1000.0, -5.0, 999.0], [50.0, -50.0, 3.0, 80.0, -200.0]])
    check_op(lambda t: t.logcumsumexp(1), inputs=[x], dtype=dtype)
    check_op(lambda t: t.logcumsumexp(0), inputs=[x.T.copy()], dtype=dtype)


def test_logcumsumexp_minus_inf_forward():
    x = np.array([-np.inf, -np.inf, 1.0, -np.inf, 2.0])
    check_op(lambda t: t.logcumsumexp(0), inputs=[x], grad=False)


def test_scan_errors():
    x = tg.ones(2, 3)
    with pytest.raises(IndexError, match=r"cumsum: dim 2 is out of range.*\(2, 3\)"):
        x.cumsum(2)
    with pytest.raises(IndexError, match="cumprod"):
        x.cumprod(-3)
    with pytest.raises(IndexError, match="cumsum"):
        tg.tensor(1.0).cumsum(1)
    with pytest.raises(TypeError):
        x.cumsum()  # dim is required, as in torch
    with pytest.raises(TypeError, match=r"logcumsumexp: .*floating point.*int64"):
        tg.tensor([1, 2]).logcumsumexp(0)


# ----------------------------------------------------------------------------------------------------- prod
PROD_CASES = [((3, 4, 5), {}), ((3, 4, 5), {"dim": 1}), ((3, 4, 5), {"dim": -1, "keepdim": True}),
              ((3, 4, 5), {"dim": 0}), ((6,), {"dim": 0}), ((2, 1, 3), {"dim": 1}), ((), {}), ((), {"dim": 0}),
              ((), {"dim": -1, "keepdim": True}), ((0, 3), {"dim": 0}), ((0, 3), {"dim": 1}), ((0, 3), {})]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,kw", PROD_CASES, ids=str)
def test_prod(shape, kw, dtype):
    check_op(lambda x: x.prod(**kw), inputs=[shape], dtype=dtype)
    check_op(lambda x: lib(x).prod(x, **kw), inputs=[shape], dtype=dtype)


PROD_ZEROS = [np.array([2.0, 0.0, 3.0, 4.0]),                       # one zero
              np.array([0.0, 0.0, 3.0]),                            # two zeros: every gradient is 0
              np.array([[1.5, 0.0, -2.0], [0.0, 0.0, 1.0], [3.0, 2.0, 0.5], [0.0, 4.0, 0.0]]),
              np.zeros((2, 3))]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("x", PROD_ZEROS, ids=lambda a: str(a.tolist()))
def test_prod_gradient_with_zeros(x, dtype):
    check_op(lambda t: t.prod(), inputs=[x], dtype=dtype)
    for d in range(x.ndim):
        check_op(lambda t: t.prod(d), inputs=[x], dtype=dtype)
        check_op(lambda t: t.prod(d - x.ndim, keepdim=True), inputs=[x], dtype=dtype)


def test_prod_gradcheck():
    gradcheck_op(lambda x: x.prod(), [(2, 3)])
    gradcheck_op(lambda x: x.prod(1), [(3, 4)])
    gradcheck_op(lambda x: x.prod(0, keepdim=True), [(3, 2, 2)])
    for x in PROD_ZEROS:  # prod is multilinear: exact central differences at zeros
        gradcheck_op(lambda t: t.prod(), [x])
        gradcheck_op(lambda t: t.prod(-1), [x])


def test_prod_dtypes():
    x = np.arange(1, 7).reshape(2, 3)
    check_op(lambda t: t.prod(), inputs=[x.astype(np.int32)])
    check_op(lambda t: t.prod(1), inputs=[x])
    check_op(lambda t: t.prod(), inputs=[x > 2])
    check_op(lambda t: t.prod(1, dtype=_dt(t, "float64")), inputs=[x.astype(np.int32)])
    check_op(lambda t: t.prod(0, dtype=_dt(t, "float64")), inputs=[(3, 4)], dtype=np.float32, atol=1e-6, rtol=1e-6)


def test_prod_errors():
    with pytest.raises(IndexError, match=r"prod: dim 2 is out of range"):
        tg.ones(2, 3).prod(2)


# --------------------------------------------------------------------------------------------------- median
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(7,), (6,), (3, 4), (2, 3, 5), (1,), ()], ids=str)
def test_median_all(shape, dtype):
    check_op(lambda x: x.median(), inputs=[shape], dtype=dtype)
    check_op(lambda x: lib(x).median(x), inputs=[shape], dtype=dtype)


@pytest.mark.parametrize("dtype", FLOATS)
def test_median_all_ties_share_the_gradient(dtype):
    check_op(lambda x: x.median(), inputs=[np.array([1.0, 2.0, 2.0, 3.0])], dtype=dtype)
    check_op(lambda x: x.median(), inputs=[np.array([[3.0, 1.0, 3.0], [3.0, 2.0, 5.0]])], dtype=dtype)
    check_op(lambda x: x.median(), inputs=[np.full((2, 2), 4.0)], dtype=dtype)


def test_median_all_nan_and_empty():
    check_op(lambda x: x.median(), inputs=[np.array([1.0, np.nan, 2.0, np.nan])])
    check_op(lambda x: x.median(), inputs=[np.zeros((0, 3))])


MEDIAN_DIMS = [((3, 5), 1), ((3, 5), 0), ((3, 4), -1), ((2, 3, 4), 1), ((2, 3, 4), -3), ((4, 1), 1), ((0, 3), 1)]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("shape,dim", MEDIAN_DIMS, ids=str)
def test_median_dim(shape, dim, keepdim, dtype):
    # random normals: no ties, where torch's index choice is unspecified
    tgo, _, _, _ = check_op(lambda x: x.median(dim, keepdim=keepdim), inputs=[shape], dtype=dtype)
    assert tgo[1].dtype == np.int64 and not tgo[1].requires_grad
    check_op(lambda x: lib(x).median(x, dim=dim, keepdim=keepdim), inputs=[shape], dtype=dtype)
    r = tg.median(tg.ones(*shape), dim, keepdim)
    assert r.values is r[0] and r.indices is r[1]  # named fields like torch.return_types.median


def test_median_dim_of_0d():
    check_op(lambda x: x.median(0), inputs=[()])
    check_op(lambda x: x.median(-1, keepdim=True), inputs=[()])


def test_median_dim_nan_gives_first_nan():
    x = np.array([[1.0, np.nan, 2.0, np.nan], [3.0, 4.0, 5.0, 6.0], [np.nan, 0.0, 1.0, 2.0]])
    check_op(lambda t: t.median(1), inputs=[x])


def test_median_integer():
    x = np.array([[1, 3, 2, 4], [9, 7, 8, 6]])
    check_op(lambda t: t.median(), inputs=[x])
    check_op(lambda t: t.median(1), inputs=[np.array([[1, 3, 2], [9, 7, 8]])])


def test_median_gradcheck():
    gradcheck_op(lambda x: x.median(), [(3, 3)])
    gradcheck_op(lambda x: x.median(1).values, [(3, 5)])
    gradcheck_op(lambda x: x.median(0, keepdim=True)[0], [(4, 2)])


def test_median_errors():
    with pytest.raises(IndexError, match=r"median: cannot reduce over dim 0 of size 0 \(shape \(0, 3\)\)"):
        tg.ones(0, 3).median(0)
    with pytest.raises(IndexError, match="median: dim 2 is out of range"):
        tg.ones(2, 3).median(2)
    with pytest.raises(TypeError, match="median: not implemented for bool"):
        tg.tensor([True, False]).median()
