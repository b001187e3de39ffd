"""Reductions vs PyTorch: forward + gradient (random cotangent) for every dim form, keepdim, correction;
max/min with dim (values, indices); argmax/argmin; ties; float64 gradcheck."""
import numpy as np
import pytest
import torch

import tensorgrad as tg
from helpers import check_op, gradcheck_op, lib, FLOATS

DIMS = [None, 0, 1, -1, (0, 2), (-1, -3), (1,), (0, 1, 2)]


def _kw(dim, keepdim):
    kw = {} if dim is None else {"dim": dim}
    if keepdim:
        kw["keepdim"] = True
    return kw


SIMPLE = ["sum", "mean", "amax", "amin"]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", DIMS, ids=str)
@pytest.mark.parametrize("name", SIMPLE)
def test_simple_reductions(name, dim, keepdim, dtype):
    if dim is None and keepdim and name in ("sum", "mean"):
        kw = {"dim": (0, 1, 2), "keepdim": True}
    elif dim is None and keepdim:
        kw = {"dim": (0, 1, 2), "keepdim": True}
    else:
        kw = _kw(dim, keepdim)
    check_op(lambda x: getattr(x, name)(**kw), inputs=[(3, 4, 5)], dtype=dtype)
    check_op(lambda x: getattr(lib(x), name)(x, **kw), inputs=[(3, 4, 5)], dtype=dtype)


@pytest.mark.parametrize("name", SIMPLE)
def test_simple_reductions_gradcheck(name):
    gradcheck_op(lambda x: getattr(x, name)(), [(2, 3)])
    gradcheck_op(lambda x: getattr(x, name)(dim=(0, 2), keepdim=True), [(2, 3, 2)])
    gradcheck_op(lambda x: getattr(x, name)(dim=-1), [(3, 2)])


@pytest.mark.parametrize("name", SIMPLE + ["var", "std"])
def test_reductions_of_0d_and_1d(name):
    if name in ("var", "std"):
        check_op(lambda x: getattr(x, name)(), inputs=[(5,)])
        check_op(lambda x: getattr(x, name)(0), inputs=[(5,)])
        return
    check_op(lambda x: getattr(x, name)(), inputs=[()])
    check_op(lambda x: getattr(x, name)(), inputs=[(5,)])
    check_op(lambda x: getattr(x, name)(0), inputs=[()])
    check_op(lambda x: getattr(x, name)(-1, keepdim=True), inputs=[()])


@pytest.mark.parametrize("name", ["sum", "mean"])
def test_sum_mean_dtype_argument(name):
    check_op(lambda x: getattr(x, name)(dtype=torch.float64 if isinstance(x, torch.Tensor) else tg.float64),
             inputs=[(3, 4)], dtype=np.float32, atol=1e-6, rtol=1e-6)


def test_mean_of_int_tensor_raises():
    with pytest.raises(TypeError):
        tg.tensor([1, 2, 3]).mean()


def test_sum_int_and_bool():
    check_op(lambda x: x.sum(), inputs=[np.arange(12).reshape(3, 4)])
    check_op(lambda x: x.sum(1), inputs=[np.arange(12).reshape(3, 4).astype(np.int32)])
    check_op(lambda x: x.sum(0), inputs=[np.array([[True, False], [True, True]])])


# ------------------------------------------------------------------------------------------------- var/std
VAR_KW = [{}, {"correction": 0}, {"correction": 2}, {"unbiased": False}, {"unbiased": True}]


VAR_DIMS = [None, 0, -1, (0, 2), (1,)]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("kw", VAR_KW, ids=str)
@pytest.mark.parametrize("dim", VAR_DIMS, ids=str)
@pytest.mark.parametrize("name", ["var", "std"])
def test_var_std(name, dim, kw, dtype):
    for keepdim in (False, True):
        args = dict(kw)
        if dim is not None:
            args["dim"] = dim
            args["keepdim"] = keepdim
        elif keepdim:
            continue
        check_op(lambda x: getattr(x, name)(**args), inputs=[(3, 4, 5)], dtype=dtype)
        check_op(lambda x: getattr(lib(x), name)(x, **args), inputs=[(3, 4, 5)], dtype=dtype)


def test_var_std_positional_unbiased():
    # torch.var(x, dim, unbiased, keepdim)
    check_op(lambda x: x.var(1, False, True), inputs=[(3, 4)])
    check_op(lambda x: x.std(0, True), inputs=[(3, 4)])


@pytest.mark.parametrize("name", ["var", "std"])
def test_var_std_gradcheck(name):
    gradcheck_op(lambda x: getattr(x, name)(), [(2, 3)])
    gradcheck_op(lambda x: getattr(x, name)(dim=1, correction=0, keepdim=True), [(3, 4)])
    gradcheck_op(lambda x: getattr(x, name)(dim=(0, 2)), [(2, 2, 3)])


# ---------------------------------------------------------------------------------------- max/min with dim
MAXMIN_DIMS = [0, 1, -1, 2]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", MAXMIN_DIMS)
@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_dim_values_and_indices(name, dim, keepdim, dtype):
    tgo, tho, _, _ = check_op(lambda x: getattr(x, name)(dim, keepdim=keepdim), inputs=[(3, 4, 5)], dtype=dtype)
    assert tgo[1].dtype == np.int64 and not tgo[1].requires_grad
    r = getattr(tg.tensor(np.arange(6.0).reshape(2, 3)), name)(1)
    assert isinstance(r, tuple) and r.values.shape == r.indices.shape == (2,)  # named fields like torch
    check_op(lambda x: getattr(lib(x), name)(x, dim=dim, keepdim=keepdim), inputs=[(3, 4, 5)], dtype=dtype)


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_dim_gradcheck(name):
    gradcheck_op(lambda x: getattr(x, name)(1)[0], [(3, 4)])
    gradcheck_op(lambda x: getattr(x, name)(-1, keepdim=True).values, [(2, 3, 2)])


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_full_reduction(name):
    check_op(lambda x: getattr(x, name)(), inputs=[(3, 4, 5)])
    check_op(lambda x: getattr(x, name)(), inputs=[()])
    gradcheck_op(lambda x: getattr(x, name)(), [(2, 3)])


TIES_2x3 = np.array([[1.0, 3.0, 3.0], [-2.0, 3.0, -2.0]])
TIES_3x3 = np.array([[1.0, 3.0, 3.0], [-2.0, 3.0, -2.0], [0.0, 0.0, 0.0]])


@pytest.mark.parametrize("name", ["max", "min", "amax", "amin"])
def test_full_reduction_ties_split_gradient_evenly(name):
    # max()/min()/amax/amin without dim share the gradient equally among tied extrema (PyTorch).
    check_op(lambda t: getattr(t, name)(), inputs=[TIES_2x3])


@pytest.mark.parametrize("name", ["amax", "amin"])
def test_amax_ties_along_dim_split_gradient_evenly(name):
    x = TIES_3x3
    check_op(lambda t: getattr(t, name)(1), inputs=[x])
    check_op(lambda t: getattr(t, name)((0, 1), keepdim=True), inputs=[x])


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_dim_ties_gradient_goes_to_returned_index(name):
    # With ties, max(dim)/min(dim) route the whole gradient to the index they return; tensorgrad returns the
    # first occurrence (numpy argmax), as PyTorch's CPU kernel does.
    x = TIES_3x3
    check_op(lambda t: getattr(t, name)(1), inputs=[x])


def test_max_of_two_tensors_is_maximum():
    check_op(lambda a, b: lib(a).max(a, b), inputs=[(3, 1, 4), (5, 1)])
    check_op(lambda a, b: lib(a).min(a, b), inputs=[(3, 4), (4,)])


def test_max_int_tensor():
    check_op(lambda x: x.max(), inputs=[np.array([[3, 1], [7, 2]])])
    check_op(lambda x: x.max(1), inputs=[np.array([[3, 1], [7, 2]])])


# ------------------------------------------------------------------------------------------- argmax/argmin
ARG_DIMS = [None, 0, 1, -1]


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", ARG_DIMS)
@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_argmax_argmin(name, dim, keepdim):
    kw = {"dim": dim, "keepdim": keepdim} if dim is not None else {"keepdim": keepdim}
    for dtype in FLOATS:
        tgo, _, _, _ = check_op(lambda x: getattr(x, name)(**kw), inputs=[(3, 4, 5)], dtype=dtype)
        assert not tgo[0].requires_grad and tgo[0].dtype == np.int64
        check_op(lambda x: getattr(lib(x), name)(x, **kw), inputs=[(3, 4, 5)], dtype=dtype)
    check_op(lambda x: getattr(x, name)(**kw), inputs=[np.random.default_rng(0).integers(0, 100, (3, 4, 5))])


@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_argmax_0d_and_ties(name):
    check_op(lambda x: getattr(x, name)(), inputs=[()])
    check_op(lambda x: getattr(x, name)(), inputs=[np.array([1.0, 5.0, 5.0, -3.0, -3.0])])  # first occurrence
    check_op(lambda x: getattr(x, name)(1), inputs=[np.array([[1.0, 5.0, 5.0], [-3.0, -3.0, 0.0]])])


# ----------------------------------------------------------------------------------------------- logsumexp
LSE_DIMS = [0, -1, (0, 2)]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("dim", LSE_DIMS, ids=str)
@pytest.mark.parametrize("keepdim", [False, True])
def test_logsumexp(dim, keepdim, dtype):
    check_op(lambda x: x.logsumexp(dim, keepdim=keepdim), inputs=[(3, 4, 5)], dtype=dtype)
    gradcheck_op(lambda x: x.logsumexp(dim, keepdim=keepdim), [(2, 3, 2)])


def test_logsumexp_large_values_are_stable():
    x = np.array([[1000.0, 1000.0, -1000.0], [-1e4, 0.0, 1.0]])
    check_op(lambda t: t.logsumexp(1), inputs=[x])


def test_reduction_float16_forward():
    for name in ("sum", "mean", "amax", "amin"):
        check_op(lambda x: getattr(x, name)(-1), inputs=[(4, 8)], dtype=np.float16, grad=False, atol=1e-2, rtol=1e-2)


def test_bad_dims_raise():
    x = tg.ones(2, 3)
    with pytest.raises(IndexError):
        x.sum(2)
    with pytest.raises(ValueError):
        x.sum((0, -2))


def test_logsumexp_infinite_values():
    # an infinite max must not turn into inf - inf = NaN: -inf rows give -inf, +inf gives +inf (grads as torch)
    x = np.array([[-np.inf, -np.inf, -np.inf], [np.inf, 1.0, -np.inf], [-np.inf, 1.0, 2.0]])
    with np.errstate(invalid="ignore"):  # the +inf row's gradient is inf * 0 = NaN, in torch too
        check_op(lambda t: t.logsumexp(1), inputs=[x])
    check_op(lambda t: t.logsumexp(0, keepdim=True), inputs=[x], grad=False)


@pytest.mark.parametrize("fn", [lambda t: t.amax(-1), lambda t: t.amin(1), lambda t: t.max(-1), lambda t: t.min(2),
                                lambda t: t.argmax(-1), lambda t: t.logsumexp(-1)])
def test_max_family_over_a_nonempty_dim_of_an_empty_tensor(fn):
    check_op(fn, inputs=[np.zeros((0, 2, 3))])  # as torch: a (0, ...) result; only an empty reduced dim is an error
