"""ops/extra_shape.py against torch: stack/split helpers, atleast_nd, block_diag, combinations, tril/triu_indices,
vander, rot90, flips, unflatten, ravel, take, *_scatter, narrow_copy, sum_to_size, and Tensor.unfold (a view)."""
import numpy as np
import pytest
import torch

import tensorgrad as tg
from helpers import check_op, gradcheck_op, gradgradcheck_op, lib, raises, FLOATS


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", ["hstack", "vstack", "row_stack", "dstack", "column_stack"])
@pytest.mark.parametrize("shapes", [((3,), (3,)), ((2, 3), (2, 3)), ((2, 3, 2), (2, 3, 2)), ((), ())])
def test_stacks(name, shapes, dtype):
    if name == "column_stack" and len(shapes[0]) == 3:
        shapes = ((2, 3), (2, 1))
    check_op(lambda a, b: getattr(lib(a), name)([a, b]), inputs=list(shapes), dtype=dtype)


def test_stacks_mixed_and_errors():
    check_op(lambda a, b: lib(a).hstack([a, b]), inputs=[(2, 3), (2, 1)])
    check_op(lambda a, b: lib(a).column_stack([a, b]), inputs=[(3,), (3, 2)])
    check_op(lambda a, b: lib(a).vstack([a, b]), inputs=[(3,), (2, 3)])
    with raises(RuntimeError, "hstack"):
        tg.hstack([])


@pytest.mark.parametrize("name,shape,spec", [("hsplit", (4, 6), 3), ("hsplit", (6,), [1, 4]), ("vsplit", (4, 6), 2),
                                             ("dsplit", (2, 2, 4), [1, 3]), ("hsplit", (2, 0), 1)])
def test_splits(name, shape, spec):
    check_op(lambda a: getattr(lib(a), name)(a, spec), inputs=[shape])


def test_split_errors():
    with raises(RuntimeError, "hsplit"):
        tg.hsplit(tg.zeros(4, 5), 2)
    with raises(RuntimeError, "vsplit"):
        tg.vsplit(tg.zeros(4), 2)
    with raises(RuntimeError, "dsplit"):
        tg.dsplit(tg.zeros(2, 2), 2)


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("shape", [(), (3,), (2, 3), (2, 3, 4)])
def test_atleast(n, shape):
    check_op(lambda a: getattr(lib(a), f"atleast_{n}d")(a), inputs=[shape])
    out = getattr(tg, f"atleast_{n}d")(tg.zeros(shape), tg.zeros(3))
    want = getattr(torch, f"atleast_{n}d")(torch.zeros(shape), torch.zeros(3))
    assert [t.shape for t in out] == [tuple(t.shape) for t in want]
    assert len(getattr(tg, f"atleast_{n}d")([tg.zeros(2)])) == 1


def test_block_diag():
    check_op(lambda a, b, c: lib(a).block_diag(a, b, c), inputs=[(2, 3), (3,), ()])
    check_op(lambda a, b: lib(a).block_diag(a, b), inputs=[(0, 2), (2, 0)])
    got = tg.block_diag(tg.ones(2, dtype=tg.int64), tg.ones(1, 1))
    assert got.dtype == tg.float32 and got.shape == (2, 3)
    with raises(RuntimeError, "block_diag"):
        tg.block_diag(tg.zeros(1, 1, 1))


@pytest.mark.parametrize("r,rep", [(2, False), (3, False), (2, True), (0, False), (5, False)])
def test_combinations(r, rep):
    check_op(lambda a: lib(a).combinations(a, r, with_replacement=rep), inputs=[(4,)])


@pytest.mark.parametrize("args", [(3, 3), (3, 3, -1), (2, 4, 1), (4, 2, 5), (0, 3), (3, 4, -9)])
def test_tri_indices(args):
    for name in ("tril_indices", "triu_indices"):
        got, want = getattr(tg, name)(*args), getattr(torch, name)(*args)
        assert got.dtype == tg.int64
        np.testing.assert_array_equal(got.numpy(), want.numpy())


@pytest.mark.parametrize("n,inc", [(None, False), (4, True), (1, False), (0, False)])
def test_vander(n, inc):
    check_op(lambda x: lib(x).vander(x, n, inc), inputs=[(3,)], grad=False)  # (torch's own vander backward fails)
    gradcheck_op(lambda x: tg.vander(x, 4), inputs=[np.array([0.0, 1.5, -2.0])])
    x = np.array([2, -1, 3])
    np.testing.assert_array_equal(tg.vander(tg.tensor(x)).numpy(), torch.vander(torch.tensor(x)).numpy())
    assert tg.vander(tg.tensor(x)).dtype == tg.int64


@pytest.mark.parametrize("k,dims", [(1, (0, 1)), (2, (0, 1)), (3, (1, 2)), (-1, (2, 0)), (0, (0, 1)), (5, (0, 2))])
def test_rot90(k, dims):
    check_op(lambda a: lib(a).rot90(a, k, dims), inputs=[(2, 3, 4)])


def test_rot90_errors_and_flips():
    with raises(RuntimeError, "rot90"):
        tg.rot90(tg.zeros(3), 1)
    with raises(RuntimeError, "rot90"):
        tg.rot90(tg.zeros(3, 3), 1, (0, 0))
    check_op(lambda a: lib(a).fliplr(a), inputs=[(2, 3, 2)])
    check_op(lambda a: lib(a).flipud(a), inputs=[(2, 3)])
    check_op(lambda a: a.fliplr(), inputs=[(2, 3)])
    with raises(RuntimeError, "fliplr"):
        tg.fliplr(tg.zeros(3))


def test_unflatten_ravel_views():
    check_op(lambda a: lib(a).unflatten(a, 1, (2, -1)), inputs=[(3, 6)])
    check_op(lambda a: a.unflatten(-1, (3, 2)), inputs=[(3, 6)])
    check_op(lambda a: a.ravel(), inputs=[(3, 2)])
    check_op(lambda a: lib(a).ravel(a.t()), inputs=[(3, 2)])
    x = tg.zeros(2, 6)
    x.unflatten(1, (2, 3))[0, 1, 2] = 5.0  # a view: the write reaches x
    assert x[0, 5].item() == 5.0
    x.ravel()[0] = 7.0
    assert x[0, 0].item() == 7.0
    with raises(RuntimeError, "unflatten"):
        tg.zeros(2, 6).unflatten(1, (4, 2))


def test_moveaxis_swap():
    check_op(lambda a: lib(a).moveaxis(a, (0, 1), (2, 0)), inputs=[(2, 3, 4)])
    check_op(lambda a: a.moveaxis(0, -1), inputs=[(2, 3, 4)])
    check_op(lambda a: lib(a).swapdims(a, 0, 2), inputs=[(2, 3, 4)])
    check_op(lambda a: lib(a).swapaxes(a, 0, 1), inputs=[(2, 3)])
    check_op(lambda a: a.swapdims(1, 0), inputs=[(2, 3)])


def test_take():
    idx = np.array([[0, -1], [5, 2]])
    check_op(lambda a, i: lib(a).take(a, i), inputs=[(2, 3), idx])
    check_op(lambda a, i: a.take(i), inputs=[(2, 3), np.array([1, 1, 0])])
    check_op(lambda a, i: a.take(i), inputs=[(2, 3), np.zeros(0, np.int64)])
    with raises(IndexError, "take"):
        tg.take(tg.zeros(2, 3), tg.tensor([6]))
    with raises(TypeError, "take"):
        tg.take(tg.zeros(2, 3), tg.tensor([1.0]))


def test_scatter_family():
    check_op(lambda a, s: lib(a).select_scatter(a, s, 1, -1), inputs=[(2, 3, 4), (2, 4)])
    check_op(lambda a, s: a.select_scatter(s, 0, 0), inputs=[(3,), ()])
    check_op(lambda a, s: lib(a).slice_scatter(a, s, 1, 1, None, 2), inputs=[(2, 5), (2, 2)])
    check_op(lambda a, s: a.slice_scatter(s), inputs=[(3, 2), (3, 2)])
    check_op(lambda a, s: lib(a).diagonal_scatter(a, s, 1), inputs=[(3, 4), (3,)])
    check_op(lambda a, s: lib(a).diagonal_scatter(a, s, -1, 0, 2), inputs=[(3, 2, 4), (2, 2)])
    check_op(lambda a, s: a.diagonal_scatter(s, 0, 2, 1), inputs=[(2, 3, 3), (2, 3)])
    gradcheck_op(lambda a, s: tg.diagonal_scatter(a, s, 1), inputs=[(3, 4), (3,)])
    gradgradcheck_op(lambda a, s: tg.slice_scatter(a, s, 0, 0, 2) ** 2,
                     [tg.randn(3, 2, dtype=tg.float64, requires_grad=True),
                      tg.randn(2, 2, dtype=tg.float64, requires_grad=True)])
    with raises(RuntimeError, "select_scatter"):
        tg.select_scatter(tg.zeros(2, 3), tg.zeros(3), 1, 0)
    with raises(RuntimeError, "slice_scatter"):
        tg.slice_scatter(tg.zeros(4), tg.zeros(3), 0, 0, 2)


def test_narrow_copy_sum_to_size():
    check_op(lambda a: lib(a).narrow_copy(a, 1, 1, 2), inputs=[(2, 4)])
    check_op(lambda a: a.sum_to_size(3, 1), inputs=[(2, 3, 4)])
    check_op(lambda a: a.sum_to_size((1, 4)), inputs=[(3, 4)])
    x = tg.zeros(2, 4)
    y = x.narrow_copy(1, 0, 2)
    y.fill_(1.0)
    assert x.sum().item() == 0.0  # a copy
    with raises(RuntimeError, "sum_to_size"):
        tg.zeros(2, 3).sum_to_size(2)


# ------------------------------------------------------------------------------------------------ unfold
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,dim,size,step", [((7,), 0, 3, 1), ((2, 7), 1, 3, 2), ((5, 3), 0, 2, 3),
                                                 ((4, 6, 2), -2, 6, 1), ((4,), 0, 0, 1), ((), 0, 1, 1),
                                                 ((3, 5), 1, 2, 2)])
def test_unfold_against_torch(shape, dim, size, step, dtype):
    check_op(lambda a: a.unfold(dim, size, step), inputs=[shape], dtype=dtype)
    check_op(lambda a: (a * 2).unfold(dim, size, step).sum(-1), inputs=[shape], dtype=dtype)


def test_unfold_gradchecks_and_view():
    gradcheck_op(lambda a: a.unfold(1, 3, 1), inputs=[(2, 6)])
    gradcheck_op(lambda a: a.unfold(0, 2, 3), inputs=[(7, 2)])
    gradgradcheck_op(lambda a: a.unfold(1, 3, 2) ** 2, [tg.randn(2, 7, dtype=tg.float64, requires_grad=True)])
    x = tg.arange(8.0)
    w = x.unfold(0, 2, 2)  # non-overlapping windows: a writable view, as torch's
    w[1].fill_(-1.0)
    np.testing.assert_array_equal(x.numpy(), [0, 1, -1, -1, 4, 5, 6, 7])
    assert w.stride() == torch.arange(8.0).unfold(0, 2, 2).stride()
    with pytest.raises((RuntimeError, ValueError)):
        x.unfold(0, 3, 1).fill_(0.0)  # overlapping windows share memory
    y = tg.randn(2, 6, requires_grad=True)
    v = y * 1
    v.unfold(1, 2, 2)[0].mul_(3)  # an in-place write through the view under autograd
    v.sum().backward()
    ty = torch.tensor(y.detach().numpy(), requires_grad=True)
    tv = ty * 1
    tv.unfold(1, 2, 2)[0].mul_(3)
    tv.sum().backward()
    np.testing.assert_allclose(y.grad.numpy(), ty.grad.numpy())
    with raises(RuntimeError, "unfold"):
        x.unfold(0, 9, 1)
    with raises(RuntimeError, "unfold"):
        x.unfold(0, 2, 0)
