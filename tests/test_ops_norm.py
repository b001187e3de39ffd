"""Norms vs PyTorch: torch.norm / Tensor.norm / torch.linalg.vector_norm for p in {2, 1, inf, -inf, 0, others},
dims, keepdim, dtype=, zeros (the gradient at a zero norm is 0 as in torch, not NaN); allclose and equal."""
import math

import numpy as np
import pytest
import torch

import tensorgrad as tg
from helpers import check_op, gradcheck_op, lib, nz, FLOATS

PS = [2, 1, math.inf, -math.inf, 0, 3, 0.5, 1.5, -1, -2.5]
DIMS = [None, 0, -1, (0, 2), (-1, -2), (0, 1, 2)]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", DIMS, ids=str)
@pytest.mark.parametrize("p", PS, ids=str)
def test_vector_norm(p, dim, keepdim, dtype):
    x = nz(2, 3, 4)  # away from 0, where |x| has its kink
    check_op(lambda t: lib(t).linalg.vector_norm(t, p, dim, keepdim), inputs=[x], dtype=dtype)
    check_op(lambda t: lib(t).linalg.vector_norm(t, ord=p, dim=dim, keepdim=keepdim), inputs=[x], dtype=dtype)
    if dim is None or not isinstance(dim, tuple) or len(dim) <= 2:  # torch.norm routes 3 dims to a matrix norm
        check_op(lambda t: t.norm(p, dim, keepdim), inputs=[x], dtype=dtype)
        check_op(lambda t: lib(t).norm(t, p=p, dim=dim, keepdim=keepdim), inputs=[x], dtype=dtype)


@pytest.mark.parametrize("dtype", FLOATS)
def test_norm_default_is_frobenius(dtype):
    check_op(lambda t: t.norm(), inputs=[(3, 4)], dtype=dtype)
    check_op(lambda t: lib(t).norm(t), inputs=[(3, 4)], dtype=dtype)
    check_op(lambda t: t.norm("fro", (0, 1)), inputs=[(3, 4, 2)], dtype=dtype)
    check_op(lambda t: t.norm("fro", 1, True), inputs=[(3, 4)], dtype=dtype)
    check_op(lambda t: lib(t).linalg.vector_norm(t), inputs=[(3, 4)], dtype=dtype)


ZEROS = np.array([[0.0, 1.0, -2.0], [0.0, 0.0, 0.0], [3.0, 0.0, 3.0]])


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("p", PS + ["fro"], ids=str)
def test_norm_gradient_at_zeros_matches_torch(p, dtype):
    # torch: 0 (not NaN) where the norm is 0; sign(0) = 0 for p = 1; ties of +-inf share the gradient
    check_op(lambda t: t.norm(p, 1), inputs=[ZEROS], dtype=dtype)
    check_op(lambda t: t.norm(p), inputs=[np.zeros((2, 3))], dtype=dtype)
    check_op(lambda t: t.norm(p, 0, keepdim=True), inputs=[ZEROS], dtype=dtype)


def test_norm_of_0d_and_size_1():
    for p in PS:
        check_op(lambda t: lib(t).linalg.vector_norm(t, p), inputs=[nz()])
        check_op(lambda t: lib(t).linalg.vector_norm(t, p, 0), inputs=[nz()])
        check_op(lambda t: lib(t).linalg.vector_norm(t, p, keepdim=True), inputs=[nz()])
        check_op(lambda t: t.norm(p, 1), inputs=[nz(3, 1)])


def test_norm_of_empty():
    for p in (2, 1, 0, 3):
        check_op(lambda t: lib(t).linalg.vector_norm(t, p), inputs=[np.zeros((0, 3))])
        check_op(lambda t: lib(t).linalg.vector_norm(t, p, 0), inputs=[np.zeros((0, 3))])
    for p in (math.inf, -math.inf, -1):
        check_op(lambda t: lib(t).linalg.vector_norm(t, p, 1), inputs=[np.zeros((0, 3))])  # reduces a non-empty dim
        with pytest.raises(RuntimeError, match=r"linalg.vector_norm: cannot compute the .* norm over an empty dim"):
            tg.linalg.vector_norm(tg.zeros(0, 3), p)
        with pytest.raises(RuntimeError, match="empty"):
            tg.linalg.vector_norm(tg.zeros(0, 3), p, 0)


def test_norm_inf_ties_share_the_gradient():
    x = np.array([[2.0, -2.0, 1.0], [-1.0, 0.5, -0.5]])
    for p in (math.inf, -math.inf):
        check_op(lambda t: t.norm(p), inputs=[x])
        check_op(lambda t: t.norm(p, 1), inputs=[x])


def test_norm_inf_and_nan_values():
    check_op(lambda t: t.norm(2), inputs=[np.array([1.0, np.inf])])  # the gradient is NaN at inf, as in torch
    check_op(lambda t: t.norm(math.inf), inputs=[np.array([1.0, np.nan])], grad=False)


def test_norm_dtype_argument():
    check_op(lambda t: lib(t).linalg.vector_norm(t, dtype=torch.float64 if isinstance(t, torch.Tensor) else tg.float64),
             inputs=[(3, 4)], dtype=np.float32, atol=1e-6, rtol=1e-6)
    check_op(lambda t: t.norm(dtype=torch.float64 if isinstance(t, torch.Tensor) else tg.float64), inputs=[(3, 4)],
             dtype=np.float32, atol=1e-6, rtol=1e-6)


def test_norm_float16_forward():
    for p in (2, 1, math.inf):
        check_op(lambda t: t.norm(p, -1), inputs=[(4, 8)], dtype=np.float16, grad=False, atol=1e-2, rtol=1e-2)


@pytest.mark.parametrize("p", PS, ids=str)
def test_norm_gradcheck(p):
    gradcheck_op(lambda t: t.norm(p), [nz(2, 3)])
    gradcheck_op(lambda t: tg.linalg.vector_norm(t, p, (0, 2), keepdim=True), [nz(2, 2, 3)])
    gradcheck_op(lambda t: t.norm(p, -1), [nz(3, 4)])


def test_norm_errors():
    with pytest.raises(RuntimeError, match=r"linalg.vector_norm: expected a floating point tensor.*int64.*\(3,\)"):
        tg.linalg.vector_norm(tg.tensor([1, 2, 3]))
    with pytest.raises(RuntimeError, match=r"norm: expected a floating point"):
        tg.tensor([1, 2, 3]).norm()
    with pytest.raises(RuntimeError, match=r"narrowing"):
        tg.linalg.vector_norm(tg.ones(3, dtype=tg.float64), dtype=tg.float32)
    x = np.random.default_rng(3).standard_normal((2, 3))     # the nuclear norm is torch's (tensorgrad.linalg)
    np.testing.assert_allclose(tg.tensor(x).norm("nuc").item(), torch.tensor(x).norm("nuc").item(), rtol=1e-12)
    with pytest.raises(RuntimeError, match=r"norm: p='fro' takes at most 2 dims"):
        tg.ones(2, 3, 4).norm("fro", (0, 1, 2))
    with pytest.raises(TypeError, match=r"ord must be a number"):
        tg.linalg.vector_norm(tg.ones(3), "fro")
    with pytest.raises(IndexError, match=r"norm: dim 2 is out of range"):
        tg.ones(2, 3).norm(2, 2)


# --------------------------------------------------------------------------------------------- allclose, equal
def _both(fn, *arrays, **kw):
    """fn's answer for tensorgrad and torch tensors of the same data (Python bools)."""
    got = fn(*[tg.tensor(a) for a in arrays], **kw)
    want = fn(*[torch.tensor(a) for a in arrays], **kw)
    assert type(got) is bool
    assert got == want, (got, want)
    return got


NAN, INF = float("nan"), float("inf")
ALLCLOSE = [
    ([1.0, 2.0], [1.0, 2.0 + 1e-6], {}),
    ([1.0, 2.0], [1.0, 2.1], {}),
    ([10.0], [11.0], {"rtol": 0.095, "atol": 0.0}),    # the tolerance scales with |other|
    ([11.0], [10.0], {"rtol": 0.095, "atol": 0.0}),
    ([1.0], [1.5], {"atol": 0.5, "rtol": 0.0}),
    ([NAN, 1.0], [NAN, 1.0], {}),
    ([NAN, 1.0], [NAN, 1.0], {"equal_nan": True}),
    ([INF, -INF], [INF, -INF], {}),
    ([INF], [-INF], {}),
    ([INF], [1.0], {"atol": INF}),
    ([[1.0, 2.0], [1.0, 2.0]], [1.0, 2.0], {}),        # broadcasting
    (np.zeros((0, 3)), np.zeros((0, 3)), {}),
    (1.0, 1.0 + 1e-9, {}),
    ([10, 20], [11, 20], {"rtol": 0.1, "atol": 0}),
    ([10, 20], [12, 20], {"rtol": 0.1, "atol": 0}),
    ([True, False], [True, False], {}),
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("a,b,kw", ALLCLOSE, ids=str)
def test_allclose(a, b, kw, dtype):
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind == "f":
        a, b = a.astype(dtype), b.astype(dtype)
    _both(lambda x, y, **k: lib(x).allclose(x, y, **k), a, b, **kw)
    _both(lambda x, y, **k: x.allclose(y, **k), a, b, **kw)


EQUAL = [([1.0, 2.0], [1.0, 2.0]), ([1.0, 2.0], [1.0, 2.5]), ([1.0, 2.0], [[1.0, 2.0]]), ([1.0], [1.0, 1.0]),
         ([NAN], [NAN]), ([0.0], [-0.0]), (np.zeros((0, 2)), np.zeros((0, 2))), (np.zeros((0, 2)), np.zeros((2, 0))),
         (3.0, 3.0), ([1, 2], [1, 2]), ([True], [1]), ([1.0, 2.0], [1, 2]),
         (np.array([0.1], np.float32), np.array([0.1], np.float64))]


@pytest.mark.parametrize("a,b", EQUAL, ids=str)
def test_equal(a, b):
    a, b = np.asarray(a), np.asarray(b)
    _both(lambda x, y: lib(x).equal(x, y), a, b)
    _both(lambda x, y: x.equal(y), a, b)


def test_allclose_equal_errors():
    with pytest.raises(RuntimeError, match=r"allclose: expected tensors of one dtype, got float32 \(shape \(3,\)\) "
                                           r"and float64"):
        tg.allclose(tg.ones(3), tg.ones(3, dtype=tg.float64))
    with pytest.raises(RuntimeError, match=r"allclose: shapes \(3,\) and \(2,\) cannot be broadcast"):
        tg.allclose(tg.ones(3), tg.ones(2))
    with pytest.raises(RuntimeError, match="rtol and atol must be >= 0"):
        tg.allclose(tg.ones(3), tg.ones(3), rtol=-1)
    with pytest.raises(TypeError, match="allclose: expected two Tensors"):
        tg.allclose(tg.ones(3), 1.0)
    with pytest.raises(TypeError, match="equal: expected two Tensors"):
        tg.equal(tg.ones(3), [1.0, 1.0, 1.0])
