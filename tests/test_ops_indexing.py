"""Index-driven ops vs PyTorch (forward + gradient of every float input): gather, take_along_dim, scatter,
scatter_add, index_select, index_add (duplicate indices accumulate), masked_select, nonzero/argwhere,
diag/diagonal/diag_embed/trace, constant pad, topk/sort/argsort values with gradient, new_*/type_as, the in-place
variants; float64 gradchecks of each Function; bad-input errors."""
import re

import numpy as np
import pytest
import torch

import tensorgrad as tg
from tensorgrad.ops import indexing as IX
from helpers import check_op, gradcheck_op, lib, ints, bools, FLOATS


def unique_index(n, shape, dim, seed=0):
    """An int64 index of ``shape`` whose entries along ``dim`` are distinct values in [0, n) (scatter without
    duplicates: with them the written value is unspecified in torch)."""
    rng = np.random.default_rng(seed)
    shape = tuple(shape)
    k = shape[dim]
    full = list(shape)
    full[dim] = n
    return np.argsort(rng.random(full), axis=dim).take(range(k), axis=dim).astype(np.int64)


def pad_fn(x, *args, **kw):
    """tensorgrad.ops.indexing.pad or torch.nn.functional.pad (tensorgrad.nn.functional imports it)."""
    return torch.nn.functional.pad(x, *args, **kw) if isinstance(x, torch.Tensor) else IX.pad(x, *args, **kw)


# --------------------------------------------------------------------------------------------------- gather
# (input shape, dim, index shape): index larger along dim, smaller elsewhere, 0-d input / index, empty index.
GATHER = [((4, 5), 0, (3, 5)), ((4, 5), 1, (4, 7)), ((4, 5), -1, (2, 3)), ((2, 3, 4), 1, (2, 5, 4)),
          ((2, 3, 4), -3, (3, 1, 2)), ((5,), 0, (8,)), ((5,), 0, ()), ((), 0, ()), ((), -1, (3,)), ((3, 4), 1, (3, 0))]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,dim,ishape", GATHER, ids=str)
def test_gather(shape, dim, ishape, dtype):
    n = shape[dim] if shape else 1
    check_op(lambda x, i: lib(x).gather(x, dim, i), inputs=[shape, ints(*ishape, high=n)], dtype=dtype)
    check_op(lambda x, i: x.gather(dim, i), inputs=[shape, ints(*ishape, high=n)], dtype=dtype, seed=1)


def test_gather_duplicates_accumulate_int32_and_int_input():
    x = tg.zeros(4, requires_grad=True)
    x.gather(0, tg.tensor([1, 1, 3, 1])).sum().backward()
    assert x.grad.tolist() == [0.0, 3.0, 0.0, 1.0]
    check_op(lambda x, i: x.gather(1, i), inputs=[(3, 4), np.array([[0, 3, 3], [1, 1, 0], [2, 2, 2]], np.int32)])
    check_op(lambda x, i: x.gather(0, i), inputs=[np.arange(12).reshape(3, 4), ints(2, 4, high=3)])


def test_gather_gradcheck():
    gradcheck_op(lambda x, i: x.gather(1, i), [(3, 4), ints(3, 6, high=4)])
    gradcheck_op(lambda x, i: x.gather(0, i), [(4, 3), ints(2, 2, high=4)])


TAKE = [((3, 4), (3, 2), 1), ((3, 4), (1, 2), 1), ((3, 1, 4), (1, 5, 2), 2), ((3, 4), (5, 4), 0), ((3, 4), (5,), None),
        ((2, 3), (2, 3), None), ((), (), None), ((), (2,), None)]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,ishape,dim", TAKE, ids=str)
def test_take_along_dim(shape, ishape, dim, dtype):
    n = int(np.prod(shape)) if dim is None else (shape[dim] if shape else 1)
    # with a dim, negative indices count from the end, as in torch (not on the flattened input: torch refuses them)
    low = 0 if dim is None else -n
    check_op(lambda x, i: lib(x).take_along_dim(x, i, dim), inputs=[shape, ints(*ishape, low=low, high=n)], dtype=dtype)
    check_op(lambda x, i: x.take_along_dim(i, dim=dim), inputs=[shape, ints(*ishape, high=n)], dtype=dtype)


def test_take_along_dim_with_argsort_and_default_dim():
    check_op(lambda x: lib(x).take_along_dim(x, x.argsort(dim=1), dim=1), inputs=[(3, 5)])
    check_op(lambda x: lib(x).take_along_dim(x, x.argmax().reshape(1)), inputs=[(3, 5)])


# -------------------------------------------------------------------------------------------------- scatter
# (input shape, dim, index shape, src shape): src may be bigger than index, index smaller than input outside dim.
SCATTER = [((5, 4), 0, (3, 4), (3, 4)), ((3, 6), 1, (3, 2), (3, 2)), ((3, 6), -1, (2, 4), (2, 4)),
           ((2, 5, 3), 1, (2, 3, 3), (2, 3, 3)), ((6,), 0, (4,), (4,)), ((6,), 0, (), ()), ((), 0, (), ())]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,dim,ishape,sshape", SCATTER, ids=str)
def test_scatter(shape, dim, ishape, sshape, dtype):
    idx = unique_index(shape[dim] if shape else 1, ishape or (1,), dim if ishape else 0).reshape(ishape)
    check_op(lambda x, i, s: lib(x).scatter(x, dim, i, s), inputs=[shape, idx, sshape], dtype=dtype)
    check_op(lambda x, i, s: x.scatter(dim, i, src=s), inputs=[shape, idx, sshape], dtype=dtype, seed=1)
    check_op(lambda x, i: x.scatter(dim, i, 2.5), inputs=[shape, idx], dtype=dtype)
    check_op(lambda x, i: lib(x).scatter(x, dim, i, value=-1.0), inputs=[shape, idx], dtype=dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,dim,ishape,sshape", SCATTER, ids=str)
def test_scatter_add(shape, dim, ishape, sshape, dtype):
    n = shape[dim] if shape else 1
    # random indices: duplicates accumulate
    check_op(lambda x, i, s: lib(x).scatter_add(x, dim, i, s), inputs=[shape, ints(*ishape, high=n), sshape], dtype=dtype)
    check_op(lambda x, i, s: x.scatter_add(dim, i, s), inputs=[shape, ints(*ishape, high=n), sshape], dtype=dtype,
             requires_grad=[False, False, True])



@pytest.mark.filterwarnings("ignore:The reduce argument of torch.scatter")
def test_scatter_reduce_add_forward():
    # torch's (deprecated) reduce= has no derivative; tensorgrad routes reduce="add" to scatter_add, which has one
    check_op(lambda x, i, s: x.scatter(1, i, s, reduce="add"), inputs=[(3, 4), ints(3, 5, high=4), (3, 5)], grad=False)
    check_op(lambda x, i: x.scatter(1, i, 1.5, reduce="add"), inputs=[(3, 4), ints(3, 5, high=4)], grad=False)


def test_scatter_add_duplicates_exact_and_int_tensors():
    out = tg.zeros(3).scatter_add(0, tg.tensor([0, 0, 2, 0]), tg.ones(4))
    assert out.tolist() == [3.0, 0.0, 1.0]
    check_op(lambda x, i, s: x.scatter_add(1, i, s), inputs=[np.zeros((2, 4), np.int64), ints(2, 5, high=4),
                                                             np.arange(10).reshape(2, 5)])
    check_op(lambda x, i: x.scatter(1, i, 7), inputs=[np.zeros((2, 4), np.int64), unique_index(4, (2, 2), 1)])
    check_op(lambda x, i: x.scatter(1, i, 2.5), inputs=[np.zeros((2, 4), np.int64), unique_index(4, (2, 2), 1)])


def test_scatter_src_bigger_than_index():
    # torch's backward refuses a src bigger than index (it returns an index-shaped gradient): forward vs torch, the
    # gradient (zero where src is never read) by finite differences.
    idx = unique_index(4, (2, 2), 1)
    for name in ("scatter", "scatter_add"):
        check_op(lambda x, i, s: getattr(x, name)(1, i, s), inputs=[(3, 4), idx, (4, 5)], grad=False)
        gradcheck_op(lambda x, i, s: getattr(x, name)(1, i, s), [(3, 4), idx, (4, 5)])
    x, s = tg.randn(3, 4), tg.randn(4, 5, requires_grad=True)
    x.scatter(1, tg.tensor(idx), s).sum().backward()
    expect = np.zeros((4, 5))
    expect[:2, :2] = 1
    np.testing.assert_array_equal(np.asarray(s.grad), expect)


def test_scatter_empty_index_and_int32():
    # (torch's backward cannot give src a gradient when src is bigger than index, so only the input's is compared)
    check_op(lambda x, i, s: x.scatter(1, i, s), inputs=[(3, 4), np.zeros((3, 0), np.int64), (3, 4)],
             requires_grad=[True, False, False])
    check_op(lambda x, i, s: x.scatter_add(0, i, s), inputs=[(3, 4), np.zeros((0,), np.int64), (1, 1)], grad=False)
    check_op(lambda x, i, s: x.scatter(1, i, s), inputs=[(3, 4), unique_index(4, (3, 2), 1).astype(np.int32), (3, 2)])


def test_scatter_gradcheck():
    idx = unique_index(5, (3, 4), 0)
    gradcheck_op(lambda x, i, s: x.scatter(0, i, s), [(5, 4), idx, (3, 4)])
    gradcheck_op(lambda x, i: x.scatter(0, i, 0.5), [(5, 4), idx])
    gradcheck_op(lambda x, i, s: x.scatter_add(1, i, s), [(3, 4), ints(3, 6, high=4), (3, 6)])


# ----------------------------------------------------------------------------------- index_select / index_add
INDEX_SELECT = [((4, 5), 0, (6,)), ((4, 5), 1, (3,)), ((2, 3, 4), -1, (5,)), ((2, 3, 4), 1, ()), ((4, 5), 0, (0,)),
                ((5,), 0, (7,)), ((), 0, ())]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,dim,ishape", INDEX_SELECT, ids=str)
def test_index_select(shape, dim, ishape, dtype):
    n = shape[dim] if shape else 1
    check_op(lambda x, i: lib(x).index_select(x, dim, i), inputs=[shape, ints(*ishape, high=n)], dtype=dtype)
    idx32 = np.asarray(np.random.default_rng(3).integers(0, n, size=ishape), dtype=np.int32)
    check_op(lambda x, i: x.index_select(dim, i), inputs=[shape, idx32], dtype=dtype)


# (input shape, dim, index length or None for a 0-d index)
INDEX_ADD = [((5, 3), 0, 7), ((3, 5), 1, 4), ((2, 4, 3), -2, 6), ((4,), 0, 3), ((3, 4), 1, None), ((), 0, None)]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("alpha", [1, -2.5])
@pytest.mark.parametrize("shape,dim,k", INDEX_ADD, ids=str)
def test_index_add(shape, dim, k, alpha, dtype):
    n = shape[dim] if shape else 1
    src = list(shape)
    if shape:
        src[dim] = 1 if k is None else k
    ishape = () if k is None else (k,)
    check_op(lambda x, i, s: lib(x).index_add(x, dim, i, s, alpha=alpha), inputs=[shape, ints(*ishape, high=n),
                                                                                tuple(src)], dtype=dtype)
    check_op(lambda x, i, s: x.index_add(dim, i, s, alpha=alpha), inputs=[shape, ints(*ishape, high=n), tuple(src)],
             dtype=dtype, requires_grad=[False, False, True], seed=1)


def test_index_add_int_and_gradcheck():
    check_op(lambda x, i, s: x.index_add(0, i, s, alpha=2), inputs=[np.zeros(4, np.int64), np.array([1, 1, 3]),
                                                                    np.array([5, 6, 7])])
    out = tg.zeros(3).index_add(0, tg.tensor([2, 2, 2]), tg.ones(3))
    assert out.tolist() == [0.0, 0.0, 3.0]
    gradcheck_op(lambda x, i, s: x.index_add(1, i, s, alpha=1.5), [(3, 4), ints(5, high=4), (3, 5)])


# -------------------------------------------------------------------------------------- masked_select / nonzero
MASKED_SELECT = [((3, 4), (3, 4)), ((3, 4), (4,)), ((4,), (3, 4)), ((2, 1, 4), (3, 1)), ((), ()), ((3, 4), ())]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,mshape", MASKED_SELECT, ids=str)
def test_masked_select(shape, mshape, dtype):
    check_op(lambda x, m: lib(x).masked_select(x, m), inputs=[shape, bools(*mshape)], dtype=dtype)
    check_op(lambda x, m: x.masked_select(m), inputs=[shape, bools(*mshape, p=0.8)], dtype=dtype, seed=4)
    gradcheck_op(lambda x, m: x.masked_select(m), [shape, bools(*mshape, p=1.0)])


NONZERO = [np.array([[0.0, 1.5, 0.0], [2.0, 0.0, -1.0]]), np.array([0, 3, 0, 4]), np.array([[True, False], [True, True]]),
           np.array(5.0), np.array(0.0), np.zeros((2, 0)), np.array([0.0, np.nan])]


@pytest.mark.parametrize("i", range(len(NONZERO)))
def test_nonzero_argwhere(i):
    data = NONZERO[i]
    check_op(lambda x: lib(x).nonzero(x), inputs=[data])
    check_op(lambda x: x.nonzero(as_tuple=True), inputs=[data])
    check_op(lambda x: lib(x).argwhere(x), inputs=[data])
    # no gradient, like torch
    check_op(lambda x: lib(x).nonzero(x), inputs=[(3, 4)])
    check_op(lambda x: x.nonzero(as_tuple=True), inputs=[(3, 4)])


# ------------------------------------------------------------------------------------- diag / diagonal / trace
DIAG = [((4,), 0), ((4,), 2), ((4,), -1), ((0,), 1), ((3, 3), 0), ((3, 5), 1), ((5, 3), -2), ((3, 4), 5), ((3, 4), -4)]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,k", DIAG, ids=str)
def test_diag(shape, k, dtype):
    check_op(lambda x: lib(x).diag(x, k), inputs=[shape], dtype=dtype)
    check_op(lambda x: x.diag(diagonal=k), inputs=[shape], dtype=dtype)


DIAGONAL = [((3, 4), 0, 0, 1), ((3, 4), 1, 0, 1), ((3, 4), -1, 1, 0), ((2, 3, 4), 0, -1, 0), ((2, 3, 4), 2, 1, 2),
            ((2, 3, 4), -1, 2, 1), ((2, 3), 7, 0, 1)]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,offset,d1,d2", DIAGONAL, ids=str)
def test_diagonal(shape, offset, d1, d2, dtype):
    check_op(lambda x: lib(x).diagonal(x, offset, d1, d2), inputs=[shape], dtype=dtype)
    check_op(lambda x: x.diagonal(offset=offset, dim1=d1, dim2=d2), inputs=[shape], dtype=dtype)


DIAG_EMBED = [((3,), 0, -2, -1), ((2, 3), 1, 0, 2), ((2, 3), -1, 2, 0), ((2, 3), 0, 1, -1), ((4,), 2, 1, 0)]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,offset,d1,d2", DIAG_EMBED, ids=str)
def test_diag_embed(shape, offset, d1, d2, dtype):
    check_op(lambda x: lib(x).diag_embed(x, offset, d1, d2), inputs=[shape], dtype=dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(3, 3), (2, 5), (5, 2), (0, 3)], ids=str)
def test_trace(shape, dtype):
    check_op(lambda x: lib(x).trace(x), inputs=[shape], dtype=dtype)
    check_op(lambda x: x.trace(), inputs=[shape], dtype=dtype)


def test_diag_int_trace_int_and_memory():
    check_op(lambda x: x.trace(), inputs=[np.arange(12, dtype=np.int32).reshape(3, 4)])
    check_op(lambda x: x.diag(1), inputs=[np.arange(3)])
    a = tg.tensor(np.arange(9.0).reshape(3, 3))
    d = a.diag()
    a += 1  # torch.diag returns new memory: the result must not change
    assert d.tolist() == [0.0, 4.0, 8.0]


def test_diag_gradcheck():
    gradcheck_op(lambda x: x.diag(1), [(3, 4)])
    gradcheck_op(lambda x: x.diag(-1), [(3,)])
    gradcheck_op(lambda x: x.diagonal(1, 2, 0), [(3, 2, 4)])
    gradcheck_op(lambda x: tg.diag_embed(x, -1, 0, 2), [(2, 3)])
    gradcheck_op(lambda x: x.trace(), [(3, 3)])


# ------------------------------------------------------------------------------------------------------ pad
PADS = [((2, 3, 4), (1, 2)), ((2, 3, 4), (1, 2, 0, 1, 1, 1)), ((2, 3, 4), (-1, 2)), ((2, 3, 4), (-3, -1)),
        ((2, 3, 4), (0, 0, -1, 2)), ((3,), (2, 0)), ((2, 3), ()), ((0, 2), (1, 1, 1, 1)), ((), ()),
        ((1, 2, 3, 4, 5), (1, 0, 0, 1, 2, -1, 1, 1))]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,pad", PADS, ids=str)
def test_pad_constant(shape, pad, dtype):
    check_op(lambda x: pad_fn(x, pad), inputs=[shape], dtype=dtype)
    check_op(lambda x: pad_fn(x, list(pad), mode="constant", value=-2.5), inputs=[shape], dtype=dtype)


def test_pad_int_bool_and_gradcheck():
    check_op(lambda x: pad_fn(x, (1, 1), value=2.5), inputs=[np.arange(6).reshape(2, 3)])  # int: value truncated
    check_op(lambda x: pad_fn(x, (1, 0, 0, 2), value=True), inputs=[np.ones((2, 2), bool)])
    check_op(lambda x: pad_fn(x, (1, 1), value=float("-inf")).softmax(-1), inputs=[(2, 3)])
    gradcheck_op(lambda x: IX.pad(x, (1, -1, 2, 0), value=3.0), [(2, 3, 4)])


def test_pad_other_modes_raise():
    with pytest.raises(NotImplementedError, match="pad: mode 'reflect'"):
        IX.pad(tg.ones(2, 3), (1, 1), mode="reflect")


# --------------------------------------------------------------------------------------- topk / sort / argsort
TOPK = [((4, 5), 2, -1, True), ((4, 5), 3, 0, False), ((2, 3, 4), 4, -1, False), ((2, 3, 4), 1, 1, True),
        ((6,), 6, 0, True), ((6,), 0, 0, True), ((), 1, 0, True)]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,k,dim,largest", TOPK, ids=str)
def test_topk_values_have_gradient(shape, k, dim, largest, dtype):
    # random normal data: no ties, so the indices (and where the gradient goes) agree with torch
    check_op(lambda x: x.topk(k, dim=dim, largest=largest), inputs=[shape], dtype=dtype)
    check_op(lambda x: lib(x).topk(x, k, dim, largest), inputs=[shape], dtype=dtype)


SORTS = [((4, 5), -1, False), ((4, 5), 0, True), ((2, 3, 4), 1, True), ((7,), 0, False), ((), 0, False), ((0, 3), 0, True)]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,dim,descending", SORTS, ids=str)
def test_sort_argsort(shape, dim, descending, dtype):
    check_op(lambda x: lib(x).sort(x, dim, descending), inputs=[shape], dtype=dtype)
    check_op(lambda x: x.sort(dim=dim, descending=descending), inputs=[shape], dtype=dtype)
    check_op(lambda x: lib(x).argsort(x, dim, descending), inputs=[shape], dtype=dtype)
    check_op(lambda x: x.argsort(dim=dim, descending=descending), inputs=[shape], dtype=dtype)


def test_sort_ties_nan_bool_int_match_torch_stable():
    # tensorgrad always sorts stably; torch does with stable=True. NaN is the largest value in both.
    ties = np.array([[3.0, np.nan, 1.0, 3.0, -1.0, 1.0], [2.0, 2.0, 2.0, np.nan, np.nan, 0.0]])
    for desc in (False, True):
        check_op(lambda x: lib(x).sort(x, descending=desc, stable=True), inputs=[ties], grad=False)
        check_op(lambda x: lib(x).argsort(x, descending=desc, stable=True), inputs=[ties])
        check_op(lambda x: x.sort(dim=0, descending=desc, stable=True), inputs=[np.array([True, False, True, False])])
        check_op(lambda x: x.sort(dim=-1, descending=desc, stable=True), inputs=[np.array([3, 1, 2, 1], np.uint8)])
    check_op(lambda x: x.topk(2), inputs=[np.array([3.0, np.nan, 1.0, 5.0])], grad=False)
    check_op(lambda x: x.topk(2, largest=False), inputs=[np.array([3.0, np.nan, 1.0, 5.0])], grad=False)


def test_sort_gradient_with_ties_matches_torch_stable():
    x = np.array([1.0, 2.0, 2.0, 0.0, 2.0])
    check_op(lambda t: lib(t).sort(t, descending=True, stable=True).values * T(t, [1.0, 2.0, 3.0, 4.0, 5.0]),
             inputs=[x])


def T(x, arr):
    return torch.tensor(arr, dtype=x.dtype) if isinstance(x, torch.Tensor) else tg.tensor(arr, dtype=x.dtype)


def test_topk_sort_gradcheck_and_result_types():
    gradcheck_op(lambda x: x.topk(2, dim=0).values, [(4, 3)])
    gradcheck_op(lambda x: x.sort(descending=True).values, [(3, 4)])
    r = tg.randn(3, 4).sort()
    assert type(r).__name__ == "sort" and r._fields == ("values", "indices")
    r = tg.randn(3, 4).topk(1)
    assert type(r).__name__ == "topk" and r.values.shape == (3, 1)


# ------------------------------------------------------------------------------------------- new_* / type_as
NEW = [lambda x: x.new_zeros(2, 3), lambda x: x.new_zeros((2, 3)), lambda x: x.new_ones([4]),
       lambda x: x.new_zeros(()), lambda x: x.new_full((2,), 3), lambda x: x.new_full([2, 1], 1.5),
       lambda x: x.new_tensor([1, 2]), lambda x: x.new_tensor(3.0), lambda x: x.new_ones(2, dtype=x.long().dtype),
       lambda x: x.new_zeros(2, requires_grad=True) * 2, lambda x: x.type_as(x.long()),
       lambda x: x.long().type_as(x), lambda x: x.long().new_tensor([1.5, -2.5]), lambda x: x.new_empty(2, 3).zero_()]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("i", range(len(NEW)))
def test_new_factories_and_type_as(i, dtype):
    check_op(NEW[i], inputs=[(3,)], dtype=dtype, requires_grad=False)


def test_new_tensor_copies_and_new_empty_shape():
    x = tg.randn(3)
    src = tg.tensor([1.0, 2.0])
    y = x.new_tensor(src)
    src += 1
    assert y.tolist() == [1.0, 2.0] and not y.requires_grad
    e = x.double().new_empty((2, 4))
    assert e.shape == (2, 4) and e.dtype == np.float64
    assert x.new_zeros(2, requires_grad=True).is_leaf


# ----------------------------------------------------------------------------------------- in-place variants
INPLACE = [lambda x, i, s: x.scatter_(1, i, s), lambda x, i, s: x.scatter_(1, i, 2.0),
           lambda x, i, s: x.scatter_(1, i, value=-1.0), lambda x, i, s: x.scatter_add_(1, i, s),
           lambda x, i, s: x.index_add_(1, i[0], s, alpha=3)]


@pytest.mark.parametrize("i", range(len(INPLACE)))
def test_inplace_variants_match_torch(i):
    fn = INPLACE[i]
    rng = np.random.default_rng(i)
    x, s = rng.standard_normal((3, 4)), rng.standard_normal((3, 2))
    idx = unique_index(4, (3, 2), 1, seed=i)
    a, b = tg.tensor(x), torch.tensor(x)
    ra, rb = fn(a, tg.tensor(idx), tg.tensor(s)), fn(b, torch.tensor(idx), torch.tensor(s))
    assert ra is a and rb is b
    np.testing.assert_allclose(np.asarray(a), b.numpy(), rtol=1e-12)


def test_inplace_variants_record_grad():
    x = tg.randn(3, 4, requires_grad=True)
    idx = tg.tensor([[0], [1], [2]])
    with pytest.raises(RuntimeError, match="scatter_"):
        x.scatter_(1, idx, 0.0)  # a leaf that requires grad, refused as torch refuses it
    # a src that requires grad, or a non-leaf self, is recorded as torch records it (ScatterAddBackward etc.)
    grads = []
    for m in (tg, torch):
        base = m.tensor(np.arange(12.0, dtype=np.float32).reshape(3, 4), requires_grad=True)
        src = m.tensor([[1.0], [2.0], [3.0]], requires_grad=True)
        y = base * 1
        y.scatter_add_(1, m.tensor([[0], [1], [2]]), src)
        y.index_add_(0, m.tensor([2, 2]), src.expand(3, 4)[:2] * 2)
        y.scatter_(1, m.tensor([[3], [3], [3]]), src * -1)
        (y * y).sum().backward()
        grads.append((np.asarray(y.detach()), np.asarray(base.grad), np.asarray(src.grad)))
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b)
    y = tg.zeros(3, 4)
    v = y._version
    y.scatter_(1, idx, 1.0)
    assert y._version == v + 1 and float(y.sum()) == 3.0


# ------------------------------------------------------------------------------------------------ bad input
def t(*shape, dtype=None):
    return tg.ones(*shape, dtype=dtype)


def L(*v):
    return tg.tensor(list(v))


ERRORS = [
    ("gather-float-index", lambda: tg.gather(t(3, 4), 1, t(3, 2)), TypeError, [r"gather", r"int64", r"float32", r"\(3, 2\)"]),
    ("gather-index-list", lambda: tg.gather(t(3, 4), 1, [[0]]), TypeError, [r"gather", r"Tensor", r"list"]),
    ("gather-ndim", lambda: tg.gather(t(3, 4), 1, L(0, 1)), RuntimeError, [r"gather", r"\(2,\)", r"\(3, 4\)"]),
    ("gather-shape", lambda: tg.gather(t(3, 4), 1, tg.zeros(4, 2, dtype=tg.int64)), RuntimeError,
     [r"gather", r"\(4, 2\)", r"\(3, 4\)", r"dim 0", r"only dim 1"]),
    ("gather-range", lambda: tg.gather(t(3, 4), 1, tg.tensor([[0, 4]])), IndexError,
     [r"gather", r"index 4", r"dim 1 of size 4", r"\(3, 4\)"]),
    ("gather-negative", lambda: tg.gather(t(3, 4), 0, tg.tensor([[-1]])), IndexError, [r"gather", r"-1", r"\[0, 2\]"]),
    ("gather-dim", lambda: tg.gather(t(3, 4), 2, tg.zeros(3, 4, dtype=tg.int64)), IndexError, [r"gather", r"dim 2"]),
    ("take-along-int32", lambda: tg.take_along_dim(t(3, 4), L(0).int(), 0), TypeError,
     [r"take_along_dim", r"int64", r"int32"]),
    ("take-along-broadcast", lambda: tg.take_along_dim(t(3, 4), tg.zeros(2, 2, dtype=tg.int64), 1), RuntimeError,
     [r"take_along_dim", r"\(3, 4\)", r"\(2, 2\)", r"dim 1"]),
    ("take-along-range", lambda: tg.take_along_dim(t(3, 4), tg.tensor([[-5]]), 1), IndexError,
     [r"take_along_dim", r"-5", r"\[-4, 3\]"]),
    ("take-along-flat-negative", lambda: tg.take_along_dim(t(3, 4), tg.tensor([-1])), IndexError,
     [r"take_along_dim", r"-1", r"size 12", r"\[0, 11\]"]),
    ("scatter-src-dtype", lambda: tg.scatter(t(3, 4), 1, tg.zeros(3, 1, dtype=tg.int64), t(3, 1, dtype=tg.float64)),
     TypeError, [r"scatter", r"float64", r"float32"]),
    ("scatter-src-shape", lambda: tg.scatter(t(3, 4), 1, tg.zeros(3, 2, dtype=tg.int64), t(3, 1)), RuntimeError,
     [r"scatter", r"\(3, 2\)", r"src of shape \(3, 1\)", r"dim 1"]),
    ("scatter-index-shape", lambda: tg.scatter(t(3, 4), 1, tg.zeros(5, 1, dtype=tg.int64), 0.0), RuntimeError,
     [r"scatter", r"\(5, 1\)", r"\(3, 4\)", r"dim 0"]),
    ("scatter-range", lambda: tg.scatter(t(3, 4), 0, tg.tensor([[3]]), 1.0), IndexError,
     [r"scatter", r"index 3", r"dim 0 of size 3"]),
    ("scatter-no-src", lambda: tg.scatter(t(3, 4), 0, tg.tensor([[0]])), TypeError, [r"scatter", r"src", r"value"]),
    ("scatter-reduce", lambda: tg.scatter(t(3), 0, L(0), t(1), reduce="max"), RuntimeError,
     [r"scatter", r"add or multiply"]),
    ("scatter-add-number", lambda: tg.scatter_add(t(3), 0, L(0), 1.0), TypeError, [r"scatter_add", r"Tensor", r"float"]),
    ("scatter-add-bool-index", lambda: tg.scatter_add(t(3), 0, L(True), t(1)), TypeError, [r"scatter_add", r"bool"]),
    ("index-select-2d", lambda: tg.index_select(t(3, 4), 0, tg.zeros(1, 2, dtype=tg.int64)), IndexError,
     [r"index_select", r"\(1, 2\)", r"1-d"]),
    ("index-select-range", lambda: tg.index_select(t(3, 4), 1, L(0, 4)), IndexError,
     [r"index_select", r"index 4", r"dim 1 of size 4", r"\(3, 4\)"]),
    ("index-select-negative", lambda: t(3, 4).index_select(0, L(-1)), IndexError, [r"index_select", r"-1"]),
    ("index-select-float", lambda: t(3, 4).index_select(0, t(2)), TypeError, [r"index_select", r"float32"]),
    ("index-add-shape", lambda: tg.index_add(t(3, 4), 1, L(0, 1, 1), t(3, 2)), RuntimeError,
     [r"index_add", r"\(3, 2\)", r"\(3, 3\)", r"dim 1", r"3 indices"]),
    ("index-add-dtype", lambda: tg.index_add(t(3, 4), 1, L(0), t(3, 1, dtype=tg.float64)), TypeError,
     [r"index_add", r"float64", r"float32"]),
    ("index-add-range", lambda: tg.index_add(t(3, 4), 0, L(5), t(1, 4)), IndexError, [r"index_add", r"index 5", r"size 3"]),
    ("masked-select-mask-dtype", lambda: tg.masked_select(t(3), t(3)), TypeError, [r"masked_select", r"bool", r"float32"]),
    ("masked-select-shape", lambda: tg.masked_select(t(3), t(4) > 0), RuntimeError,
     [r"masked_select", r"\(4,\)", r"\(3,\)"]),
    ("diag-3d", lambda: tg.diag(t(2, 2, 2)), RuntimeError, [r"diag", r"\(2, 2, 2\)"]),
    ("diagonal-same-dims", lambda: tg.diagonal(t(3, 3), 0, 1, -1), RuntimeError, [r"diagonal", r"\(3, 3\)"]),
    ("diagonal-1d", lambda: tg.diagonal(t(3)), IndexError, [r"diagonal", r"dim 1", r"\(3,\)"]),
    ("diag-embed-dims", lambda: tg.diag_embed(t(3), 0, 0, -2), RuntimeError, [r"diag_embed", r"dim1 \(0\)"]),
    ("trace-1d", lambda: tg.trace(t(3)), RuntimeError, [r"trace", r"\(3,\)"]),
    ("pad-odd", lambda: IX.pad(t(2, 3), (1, 2, 3)), RuntimeError, [r"pad", r"even", r"\[1, 2, 3\]"]),
    ("pad-too-many", lambda: IX.pad(t(3), (1, 1, 1, 1)), RuntimeError, [r"pad", r"2 dims", r"\(3,\)"]),
    ("pad-crop", lambda: IX.pad(t(2, 3), (-2, -2)), RuntimeError, [r"pad", r"\(-2, -2\)", r"3 entries of dim 1"]),
    ("pad-float", lambda: IX.pad(t(2, 3), (1.0, 1)), TypeError, [r"pad", r"ints"]),
    ("sort-dim", lambda: tg.sort(t(2, 3), dim=2), IndexError, [r"sort", r"dim 2", r"\(2, 3\)"]),
    ("argsort-dim", lambda: tg.argsort(t(2, 3), dim=-3), IndexError, [r"argsort", r"dim -3", r"\(2, 3\)"]),
    ("topk-k-negative", lambda: t(2, 3).topk(-1), RuntimeError, [r"topk", r"k=-1"]),
]


@pytest.mark.parametrize("thunk,exc,patterns", [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_error_messages(thunk, exc, patterns):
    with pytest.raises(exc) as info:
        thunk()
    msg = str(info.value)
    missing = [p for p in patterns if not re.search(p, msg)]
    assert not missing, f"message {msg!r} lacks {missing}"


def test_error_ids_unique():
    assert len({c[0] for c in ERRORS}) == len(ERRORS)
