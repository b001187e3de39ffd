"""ops/extra_index.py against torch: index_fill, index_copy, index_put (accumulate), masked_scatter, scatter_reduce
(every reduce, include_self), put, fill_diagonal_, and their in-place forms under autograd."""
import numpy as np
import pytest
import torch

import tensorgrad as tg
from helpers import check_op, gradcheck_op, gradgradcheck_op, lib, raises, FLOATS, bools


def _idx(*v):
    return np.array(v, dtype=np.int64)


@pytest.mark.parametrize("dtype", FLOATS)
def test_index_fill(dtype):
    check_op(lambda a, i: lib(a).index_fill(a, 1, i, -2.5), inputs=[(3, 4), _idx(0, 2)], dtype=dtype)
    check_op(lambda a, i: a.index_fill(0, i, 1.0), inputs=[(3, 4), _idx(-1)], dtype=dtype)
    check_op(lambda a, i, v: a.index_fill(1, i, v), inputs=[(3, 4), _idx(1, 1, 3), ()], dtype=dtype)
    check_op(lambda a, i: a.index_fill(0, i, 2.0), inputs=[(), _idx(0)], dtype=dtype)
    check_op(lambda a, i: a.index_fill(0, i, 2), inputs=[np.arange(4), _idx(2)], dtype=dtype)
    with raises(IndexError, "index_fill"):
        tg.zeros(3).index_fill(0, tg.tensor([3]), 1.0)
    with raises(RuntimeError, "index_fill"):
        tg.zeros(3).index_fill(0, tg.tensor([1]), tg.zeros(2))


@pytest.mark.parametrize("dtype", FLOATS)
def test_index_copy(dtype):
    check_op(lambda a, i, s: lib(a).index_copy(a, 1, i, s), inputs=[(3, 4), _idx(3, 0), (3, 2)], dtype=dtype)
    check_op(lambda a, i, s: a.index_copy(0, i, s), inputs=[(4, 2), _idx(2), (1, 2)], dtype=dtype)
    check_op(lambda a, i, s: a.index_copy(0, i, s), inputs=[(), _idx(0), ()], dtype=dtype)
    check_op(lambda a, i, s: a.index_copy(0, i, s), inputs=[(3,), np.zeros(0, np.int64), (0,)], dtype=dtype)
    with raises(RuntimeError, "index_copy"):
        tg.zeros(3, 2).index_copy(0, tg.tensor([0]), tg.zeros(2, 2))
    with raises(RuntimeError, "dtype"):
        tg.zeros(3).index_copy(0, tg.tensor([0]), tg.zeros(1, dtype=tg.float64))


@pytest.mark.parametrize("acc", [False, True])
def test_index_put(acc):
    i0, i1 = _idx(0, 2, 0), _idx(1, 1, 1)
    check_op(lambda a, i, j, v: lib(a).index_put(a, (i, j), v, acc), inputs=[(3, 4), i0, i1, (3,)])
    check_op(lambda a, i, v: a.index_put((i,), v, accumulate=acc), inputs=[(3, 4), i0, (4,)])
    check_op(lambda a, i, v: a.index_put((i,), v, accumulate=acc), inputs=[(3, 4), i0, ()])
    check_op(lambda a, m, v: a.index_put((m,), v, accumulate=acc), inputs=[(3, 4), bools(3, 4), ()])
    check_op(lambda a, i, j, v: a.index_put((i, j), v, acc), inputs=[(2, 3, 4), _idx(1, 0), _idx(2, 2), (2, 4)])
    x = tg.zeros(3, dtype=tg.int64)
    x.index_put_((tg.tensor([0, 0, 2]),), tg.tensor([1, 2, 3]), accumulate=acc)
    tx = torch.zeros(3, dtype=torch.int64)
    tx.index_put_((torch.tensor([0, 0, 2]),), torch.tensor([1, 2, 3]), accumulate=acc)
    if acc:
        assert x.tolist() == tx.tolist()
    with raises(RuntimeError, "index_put"):
        tg.zeros(3).index_put((tg.tensor([0]),), tg.zeros(1, dtype=tg.float64))


def test_index_put_grads():
    gradcheck_op(lambda a, v: tg.index_put(a, (tg.tensor([0, 0, 2]),), v, True), inputs=[(3, 2), (3, 2)])
    gradgradcheck_op(lambda a, v: tg.index_put(a * a, (tg.tensor([1, 1]),), v * v, True),
                     [tg.randn(3, dtype=tg.float64, requires_grad=True),
                      tg.randn(2, dtype=tg.float64, requires_grad=True)])


@pytest.mark.parametrize("dtype", FLOATS)
def test_masked_scatter(dtype):
    check_op(lambda a, m, s: lib(a).masked_scatter(a, m, s), inputs=[(3, 4), bools(3, 4), (20,)], dtype=dtype)
    check_op(lambda a, m, s: a.masked_scatter(m, s), inputs=[(3, 4), bools(4), (3, 5)], dtype=dtype)
    check_op(lambda a, m, s: a.masked_scatter(m, s), inputs=[(2, 3), np.zeros((2, 3), bool), (1,)], dtype=dtype)
    gradgradcheck_op(lambda a, s: tg.masked_scatter(a * a, tg.tensor([True, False, True]), s * s),
                     [tg.randn(3, dtype=tg.float64, requires_grad=True),
                      tg.randn(4, dtype=tg.float64, requires_grad=True)])
    with raises(RuntimeError, "masked_scatter"):
        tg.zeros(3).masked_scatter(tg.tensor([True, True, False]), tg.zeros(1))
    with raises(RuntimeError, "masked_scatter"):
        tg.zeros(3).masked_scatter(tg.tensor([1, 0, 1]), tg.zeros(3))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce(reduce, include_self, dtype):
    idx = np.array([[0, 1, 0], [2, 2, 0], [1, 1, 1], [0, 4, 4]])
    check_op(lambda a, i, s: lib(a).scatter_reduce(a, 0, i, s, reduce, include_self=include_self),
             inputs=[(5, 3), idx, (4, 3)], dtype=dtype)
    check_op(lambda a, i, s: a.scatter_reduce(1, i, s, reduce, include_self=include_self),
             inputs=[(2, 4), np.array([[3, 3, 0], [1, 1, 1]]), (2, 3)], dtype=dtype)
    check_op(lambda a, i, s: a.scatter_reduce(1, i, s, reduce, include_self=include_self),
             inputs=[(2, 4), np.array([[3, 3, 0], [1, 1, 1]]), (2, 5)], dtype=dtype, grad=False)  # (torch's fails)
    gradcheck_op(lambda a, s: a.scatter_reduce(1, tg.tensor([[3, 3], [1, 0]]), s, reduce, include_self=include_self),
                 inputs=[(3, 4), (2, 5)])
    check_op(lambda a, i, s: a.scatter_reduce(0, i, s, reduce, include_self=include_self),
             inputs=[(), np.array(0), ()], dtype=dtype)


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
def test_scatter_reduce_ints_ties_grads(reduce):
    for inc in (True, False):
        check_op(lambda a, i, s: a.scatter_reduce(0, i, s, reduce, include_self=inc),
                 inputs=[np.array([5, -3, 7, 2]), np.array([0, 0, 3, 1, 1]), np.array([4, 9, -2, 7, 3])])
    ties = np.array([1.0, 2.0, 2.0, 0.5])
    check_op(lambda a, i, s: a.scatter_reduce(0, i, s, reduce), inputs=[np.array([2.0, 0.0]),
                                                                      np.array([0, 0, 0, 1]), ties])
    check_op(lambda a, i, s: a.scatter_reduce(0, i, s, reduce), inputs=[np.array([2.0, 0.0]), np.array([0, 0, 1]),
                                                                      np.array([0.0, 3.0, 0.0])])
    gradcheck_op(lambda a, s: tg.scatter_reduce(a, 0, tg.tensor([0, 2, 0, 0]), s, reduce), inputs=[(3,), (4,)])
    gradgradcheck_op(lambda a, s: tg.scatter_reduce(a, 1, tg.tensor([[0, 1, 0]]), s, reduce, include_self=False),
                     [tg.randn(1, 2, dtype=tg.float64, requires_grad=True),
                      tg.randn(1, 3, dtype=tg.float64, requires_grad=True)])


def test_scatter_reduce_errors():
    with raises(RuntimeError, "reduce"):
        tg.zeros(3).scatter_reduce(0, tg.tensor([0]), tg.zeros(1), "max")
    with raises(RuntimeError, "dtype"):
        tg.zeros(3).scatter_reduce(0, tg.tensor([0]), tg.zeros(1, dtype=tg.float64), "sum")
    with raises(IndexError, "scatter_reduce"):
        tg.zeros(3).scatter_reduce(0, tg.tensor([3]), tg.zeros(1), "sum")
    check_op(lambda a, i, s: a.scatter_reduce(0, i, s, "amax"), inputs=[(3,), np.zeros(0, np.int64), (2,)],
             grad=False)  # (torch's backward fails on an empty index)


@pytest.mark.parametrize("acc", [False, True])
def test_put(acc):
    check_op(lambda a, i, s: a.put(i, s, acc), inputs=[(3, 4), np.array([[0, -1], [5, 5]]), (2, 2)])
    check_op(lambda a, i, s: a.put(i, s, accumulate=acc), inputs=[(3,), np.array([2]), ()])
    x, tx = tg.zeros(2, 3), torch.zeros(2, 3)
    x.put_(tg.tensor([1, 4]), tg.tensor([1.0, 2.0]), acc)
    tx.put_(torch.tensor([1, 4]), torch.tensor([1.0, 2.0]), acc)
    np.testing.assert_array_equal(x.numpy(), tx.numpy())
    with raises(RuntimeError, "put"):
        tg.zeros(3).put(tg.tensor([0, 1]), tg.zeros(3))


@pytest.mark.parametrize("shape,wrap", [((3, 3), False), ((5, 2), False), ((7, 2), True), ((2, 5), True),
                                        ((3, 3, 3), False)])
def test_fill_diagonal(shape, wrap):
    def f(a):
        b = a * 1
        b.fill_diagonal_(-3.0, wrap)
        return b
    check_op(f, inputs=[shape])
    with raises(RuntimeError, "fill_diagonal_"):
        tg.zeros(2, 3, 4).fill_diagonal_(1.0)


def test_inplace_forms_under_autograd():
    def f(a, s, v):
        b = a * 2
        b.index_fill_(0, lib(a).tensor([1]), 5.0)
        b.index_copy_(1, lib(a).tensor([0]), s)
        b.masked_scatter_(b > 100, v)
        b.index_put_((lib(a).tensor([2]),), v[1:].sum(), accumulate=True)
        b.scatter_reduce_(0, lib(a).tensor([[0, 0, 1]]), v[:1].reshape(1, 1).expand(1, 3), "amax")
        return b
    check_op(f, inputs=[(3, 3), (3, 1), (3,)])
    x = tg.zeros(3, requires_grad=True)
    with raises(RuntimeError, "leaf"):
        x.index_fill_(0, tg.tensor([0]), 1.0)
