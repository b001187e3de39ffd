"""Shape and indexing ops vs PyTorch: forward + gradient of every input; getitem in all its forms (gradients
accumulate over duplicate indices), setitem, cat/stack/split/chunk, masked_fill, tril/triu; gradcheck."""
import numpy as np
import pytest
import torch

import tensorgrad as tg
from helpers import check_op, gradcheck_op, lib, bools, FLOATS


def T(x, arr):
    """``arr`` as an index tensor of x's library, on x's device (so the cases also run on CUDA)."""
    return torch.tensor(arr, device=x.device) if isinstance(x, torch.Tensor) else tg.tensor(arr, device=x.device)


# ------------------------------------------------------------------------------------- reshape / view etc.
MOVES = {
    "reshape": ((3, 4, 5), lambda x: x.reshape(5, 12)),
    "reshape_tuple": ((3, 4, 5), lambda x: x.reshape((4, -1))),
    "reshape_neg1_first": ((3, 4, 5), lambda x: x.reshape(-1, 5)),
    "reshape_to_1d": ((3, 4, 5), lambda x: x.reshape(-1)),
    "reshape_0d_to_1": ((), lambda x: x.reshape(1, 1)),
    "reshape_to_0d": ((1, 1), lambda x: x.reshape(())),
    "fn_reshape": ((3, 4), lambda x: lib(x).reshape(x, (2, 6))),
    "view": ((3, 4, 5), lambda x: x.view(3, 20)),
    "view_neg1": ((3, 4, 5), lambda x: x.view(-1, 4, 5)),
    "view_as": ((3, 4), lambda x: x.view_as(x.detach().reshape(2, 6))),
    "permute": ((2, 3, 4), lambda x: x.permute(2, 0, 1)),
    "permute_tuple": ((2, 3, 4), lambda x: x.permute((1, 2, 0))),
    "permute_negative": ((2, 3, 4), lambda x: x.permute(-1, -3, -2)),
    "fn_permute": ((2, 3, 4), lambda x: lib(x).permute(x, (1, 0, 2))),
    "transpose": ((2, 3, 4), lambda x: x.transpose(0, 2)),
    "transpose_neg": ((2, 3, 4), lambda x: x.transpose(-1, -2)),
    "fn_transpose": ((2, 3, 4), lambda x: lib(x).transpose(x, 1, 2)),
    "t": ((3, 4), lambda x: x.t()),
    "t_1d": ((4,), lambda x: x.t()),
    "fn_t": ((3, 4), lambda x: lib(x).t(x)),
    "T": ((3, 4), lambda x: x.T),
    "mT": ((2, 3, 4), lambda x: x.mT),
    "swapaxes": ((2, 3, 4), lambda x: x.swapaxes(0, 1)),
    "movedim": ((2, 3, 4), lambda x: x.movedim(0, -1)),
    "expand": ((3, 1), lambda x: x.expand(2, 3, 4)),
    "expand_neg1": ((3, 1), lambda x: x.expand(-1, 5)),
    "expand_tuple": ((1, 4), lambda x: x.expand((3, 4))),
    "expand_0d": ((), lambda x: x.expand(2, 3)),
    "expand_as": ((1, 4), lambda x: x.expand_as(x.detach().expand(3, 4))),
    "squeeze_all": ((1, 3, 1, 4), lambda x: x.squeeze()),
    "squeeze_dim": ((1, 3, 1, 4), lambda x: x.squeeze(2)),
    "squeeze_neg": ((1, 3, 1, 4), lambda x: x.squeeze(-2)),
    "squeeze_non1": ((1, 3, 1, 4), lambda x: x.squeeze(1)),  # no-op on a dim of size 3
    "squeeze_tuple": ((1, 3, 1, 4), lambda x: x.squeeze((0, 2))),
    "fn_squeeze": ((1, 3, 1), lambda x: lib(x).squeeze(x, 0)),
    "unsqueeze": ((3, 4), lambda x: x.unsqueeze(1)),
    "unsqueeze_end": ((3, 4), lambda x: x.unsqueeze(-1)),
    "unsqueeze_0": ((3, 4), lambda x: x.unsqueeze(0)),
    "unsqueeze_0d": ((), lambda x: x.unsqueeze(0)),
    "fn_unsqueeze": ((3, 4), lambda x: lib(x).unsqueeze(x, -2)),
    "flatten": ((2, 3, 4), lambda x: x.flatten()),
    "flatten_start": ((2, 3, 4, 5), lambda x: x.flatten(1)),
    "flatten_range": ((2, 3, 4, 5), lambda x: x.flatten(1, 2)),
    "flatten_neg": ((2, 3, 4, 5), lambda x: x.flatten(-3, -2)),
    "flatten_0d": ((), lambda x: x.flatten()),
    "fn_flatten": ((2, 3, 4), lambda x: lib(x).flatten(x, 0, 1)),
    "contiguous": ((3, 4), lambda x: x.t().contiguous()),
    "contiguous_noop": ((3, 4), lambda x: x.contiguous() * 1),
    "chain": ((2, 3, 4), lambda x: x.permute(2, 0, 1).reshape(4, 6).t().unsqueeze(0).expand(2, 6, 4)),
}


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", list(MOVES))
def test_movement(name, dtype):
    shape, fn = MOVES[name]
    check_op(fn, inputs=[shape], dtype=dtype)


@pytest.mark.parametrize("name", ["reshape", "permute", "transpose", "expand", "squeeze_all", "unsqueeze", "flatten_range",
                                  "contiguous", "chain", "expand_0d"])
def test_movement_gradcheck(name):
    shape, fn = MOVES[name]
    gradcheck_op(fn, [shape])


def test_reshape_invalid_raises():
    x = tg.ones(3, 4)
    for bad in [(5, 3), (-1, -1), (7, -1), (-2, 6)]:
        with pytest.raises(RuntimeError):
            x.reshape(*bad)


def test_expand_invalid_raises():
    with pytest.raises(RuntimeError):
        tg.ones(3, 2).expand(3, 4)


def test_permute_invalid_raises():
    with pytest.raises(RuntimeError):
        tg.ones(2, 3).permute(0, 0)


# ------------------------------------------------------------------------------------------------- getitem
IDX = {
    "int": lambda x: x[1],
    "neg_int": lambda x: x[-1],
    "int_int": lambda x: x[2, -3],
    "int_int_int": lambda x: x[1, 2, 3],
    "slice": lambda x: x[1:3],
    "slice_step": lambda x: x[::2],
    "slice_step_offset": lambda x: x[1::2, :, 1:5:3],
    "slice_neg": lambda x: x[-3:-1, -2:],
    "slice_empty": lambda x: x[3:1],
    "slice_oob": lambda x: x[2:100],
    "none": lambda x: x[None],
    "none_mid": lambda x: x[:, None, 2:],
    "ellipsis": lambda x: x[..., 1],
    "ellipsis_none": lambda x: x[1, ..., None],
    "ellipsis_slice": lambda x: x[..., ::2, 1:],
    "list": lambda x: x[[0, 2, 3]],
    "list_dup": lambda x: x[[0, 2, 2, 0, 2]],  # duplicate rows: gradients must accumulate
    "list_neg": lambda x: x[[-1, 0, -1]],
    "list_second_dim": lambda x: x[:, [4, 0, 0]],
    "list_last_dim_ellipsis": lambda x: x[..., [1, 1, 5]],
    "tensor": lambda x: x[T(x, [3, 1, 1])],
    "tensor_2d": lambda x: x[T(x, [[0, 1], [1, 1]])],
    "tensor_0d": lambda x: x[T(x, 2)],
    "two_tensors": lambda x: x[T(x, [0, 1, 1]), T(x, [2, 2, 4])],
    "two_tensors_broadcast": lambda x: x[T(x, [[0], [3]]), T(x, [1, 1, 2])],
    "tensor_slice_tensor": lambda x: x[T(x, [0, 3, 3]), :, T(x, [1, 5, 5])],  # separated: adv dims go first
    "slice_then_list": lambda x: x[1:3, [0, 0, 4]],
    "int_then_list": lambda x: x[1, [0, 0, 4]],
    "none_then_list": lambda x: x[None, [0, 0]],
    "bool_mask_full": lambda x: x[T(x, (np.arange(120).reshape(4, 5, 6) % 7) < 3)],
    "bool_mask_first_dim": lambda x: x[T(x, np.array([True, False, True, True]))],
    "bool_mask_2d": lambda x: x[T(x, (np.arange(20).reshape(4, 5) % 3) == 0)],
    "bool_mask_then_slice": lambda x: x[T(x, np.array([True, False, True, False])), 1:3],
    "bool_mask_dim1": lambda x: x[:, T(x, np.array([False, True, True, False, True]))],
    "mask_from_comparison": lambda x: x[x > 0.5],
    "int_slice_none_ellipsis": lambda x: x[-2, None, ..., 1:4:2],
}


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", list(IDX))
def test_getitem(name, dtype):
    check_op(IDX[name], inputs=[(4, 5, 6)], dtype=dtype)


@pytest.mark.parametrize("name", ["int", "slice_step_offset", "list_dup", "two_tensors_broadcast", "bool_mask_2d",
                                  "tensor_slice_tensor", "ellipsis_none"])
def test_getitem_gradcheck(name):
    gradcheck_op(IDX[name], [(4, 5, 6)])


def test_getitem_duplicate_indices_accumulate_exactly():
    x = tg.zeros(3, requires_grad=True)
    x[[0, 0, 2, 0]].sum().backward()
    assert x.grad.tolist() == [3.0, 0.0, 1.0]


def test_getitem_0d_and_1d():
    check_op(lambda x: x[None], inputs=[()])
    check_op(lambda x: x[...], inputs=[()])
    check_op(lambda x: x[2], inputs=[(5,)])
    check_op(lambda x: x[-1:], inputs=[(5,)])


def test_getitem_int_tensor_data():
    check_op(lambda x: x[1:, [0, 0]], inputs=[np.arange(12).reshape(3, 4)])


def test_getitem_out_of_range_raises():
    with pytest.raises(IndexError):
        tg.ones(3, 4)[3]
    with pytest.raises(IndexError):
        tg.ones(3, 4, requires_grad=True)[:, [0, 4]]


def test_getitem_float_tensor_index_raises():
    with pytest.raises(IndexError):
        tg.ones(3)[tg.tensor([0.0, 1.0])]


def test_iteration_and_len():
    x = tg.tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
    rows = list(x)
    assert len(x) == 3 and [r.tolist() for r in rows] == [[0, 1], [2, 3], [4, 5]]
    sum(r.sum() * (i + 1) for i, r in enumerate(rows)).backward()
    assert x.grad.tolist() == [[1, 1], [2, 2], [3, 3]]


# ------------------------------------------------------------------------------------------------- setitem
SETS = [
    (lambda x, v: x.__setitem__(1, 5.0), None),
    (lambda x, v: x.__setitem__((slice(None), 2), 0.0), None),
    (lambda x, v: x.__setitem__((Ellipsis, slice(0, 2)), v), (4, 2)),  # tensor value broadcast over rows
    (lambda x, v: x.__setitem__([0, 2], v), (5,)),
    (lambda x, v: x.__setitem__(x > 0.5, -1.0), None),
    (lambda x, v: x.__setitem__((slice(None, None, 2), slice(1, 4)), v), (2, 3)),
]


@pytest.mark.parametrize("i", range(len(SETS)))
def test_setitem_without_grad_matches_torch(i):
    fn, vshape = SETS[i]
    rng = np.random.default_rng(i)
    x = rng.standard_normal((4, 5))
    v = rng.standard_normal(vshape) if vshape else None
    a, b = tg.tensor(x), torch.tensor(x)
    fn(a, None if v is None else tg.tensor(v))
    fn(b, None if v is None else torch.tensor(v))
    np.testing.assert_array_equal(np.asarray(a), b.numpy())


def test_setitem_with_tensor_index_and_int_tensor():
    a, b = tg.tensor(np.arange(10)), torch.tensor(np.arange(10))
    a[tg.tensor([1, 3])] = 7
    b[torch.tensor([1, 3])] = 7
    assert a.tolist() == b.tolist() and a.dtype == np.int64


def test_setitem_bumps_version_and_requires_grad_rules():
    x = tg.randn(3, 4, requires_grad=True)
    with pytest.raises(RuntimeError):
        x[0] = 1.0
    y = x * 2  # a non-leaf that requires grad: the write is recorded, as torch's index_put_
    y[0, 0] = 0.0
    y.sum().backward()
    assert x.grad[0, 0].item() == 0.0 and x.grad[1, 1].item() == 2.0
    with tg.no_grad():
        x[0] = 1.0  # allowed under no_grad, like torch
    assert x[0].tolist() == [1.0] * 4
    z = tg.zeros(3)
    v0 = z._version
    z[1] = 2.0
    assert z._version == v0 + 1 and z.tolist() == [0.0, 2.0, 0.0]


# ---------------------------------------------------------------------------------------- cat / stack / split
CAT_DIMS = [0, 1, -1, 2]
STACK_DIMS = [0, 1, -1, 3, -4]


def cat_shapes(dim):
    """Three (2, 3, 4)-like shapes that differ (sizes 1, 2, 3) only in ``dim``."""
    shapes = [[2, 3, 4], [2, 3, 4], [2, 3, 4]]
    for k, s in enumerate(shapes):
        s[dim] = k + 1
    return [tuple(s) for s in shapes]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("dim", CAT_DIMS)
def test_cat(dim, dtype):
    check_op(lambda *xs: lib(xs[0]).cat(xs, dim), inputs=cat_shapes(dim), dtype=dtype)
    check_op(lambda *xs: lib(xs[0]).cat(list(xs), dim=dim), inputs=cat_shapes(dim), dtype=dtype)


def test_cat_single_and_partial_grad():
    check_op(lambda x: lib(x).cat([x], 0), inputs=[(2, 3)])
    check_op(lambda a, b: lib(a).cat([a, b], 1), inputs=[(2, 3), (2, 1)], requires_grad=[False, True])
    check_op(lambda a, b: lib(a).cat([a, b, a], 0), inputs=[(2, 3), (1, 3)])  # same tensor twice


def test_cat_mixed_dtypes_promote_like_torch():
    check_op(lambda a, b: lib(a).cat([a, b]), inputs=[np.ones((2, 3), np.float32), np.arange(3).reshape(1, 3)],
             dtype=np.float32)


def test_cat_gradcheck():
    gradcheck_op(lambda a, b, c: tg.cat([a, b, c], 1), [(2, 1), (2, 3), (2, 2)])


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("dim", STACK_DIMS)
def test_stack(dim, dtype):
    check_op(lambda *xs: lib(xs[0]).stack(xs, dim), inputs=[(2, 3, 4)] * 3, dtype=dtype)


def test_stack_0d_and_gradcheck():
    check_op(lambda *xs: lib(xs[0]).stack(xs), inputs=[(), (), ()])
    gradcheck_op(lambda a, b: tg.stack([a, b], 1), [(2, 3), (2, 3)])


def test_cat_stack_shape_mismatch_raises():
    with pytest.raises(RuntimeError):
        tg.cat([tg.ones(2, 3), tg.ones(3, 2)], 0)
    with pytest.raises(RuntimeError):
        tg.stack([tg.ones(2, 3), tg.ones(2, 4)])


SPLITS = [
    (lambda x: x.split(2), (5, 3)),
    (lambda x: x.split(2, dim=1), (3, 7)),
    (lambda x: x.split([1, 3, 1], dim=-1), (2, 5)),
    (lambda x: lib(x).split(x, 3, 0), (7, 2)),
    (lambda x: x.split(10), (4, 2)),
    (lambda x: x.chunk(3), (7, 2)),
    (lambda x: x.chunk(2, dim=1), (2, 6)),
    (lambda x: x.chunk(4, -1), (2, 6)),  # 6 into chunks of 2 -> 3 chunks, like torch
    (lambda x: lib(x).chunk(x, 3, 1), (2, 9)),
    (lambda x: x.chunk(5), (3, 2)),
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("i", range(len(SPLITS)))
def test_split_chunk(i, dtype):
    fn, shape = SPLITS[i]
    check_op(fn, inputs=[shape], dtype=dtype)


def test_split_chunk_gradcheck():
    gradcheck_op(lambda x: x.split([1, 2], 1), [(2, 3)])
    gradcheck_op(lambda x: x.chunk(2, 0)[1], [(3, 2)])  # only one piece used: the rest gets zero gradient


# ------------------------------------------------------------------------------------------- masked_fill etc.
MASKED_FILL_SHAPES = [((3, 4), (3, 4)), ((2, 3, 4), (3, 1)), ((2, 3, 4), (4,)), ((3, 4), ())]
MASKED_FILL_VALUES = [0.0, -1e9, 2.5]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shapes", MASKED_FILL_SHAPES, ids=str)
@pytest.mark.parametrize("value", MASKED_FILL_VALUES)
def test_masked_fill(shapes, value, dtype):
    sx, sm = shapes
    check_op(lambda x, m: x.masked_fill(m, value), inputs=[sx, bools(*sm)], dtype=dtype)
    check_op(lambda x, m: lib(x).masked_fill(x, m, value), inputs=[sx, bools(*sm)], dtype=dtype)


def test_masked_fill_inf_then_softmax():
    check_op(lambda x, m: (x.masked_fill(m, float("-inf"))).softmax(-1),
             inputs=[(3, 4), np.array([[False, True, False, True]] * 3)])


def test_masked_fill_tensor_value_and_gradcheck():
    check_op(lambda x, m: x.masked_fill(m, T(x, 3.0).double()), inputs=[(3, 4), bools(3, 4)])
    gradcheck_op(lambda x, m: x.masked_fill(m, 0.5), [(3, 4), bools(4,)])


def test_masked_fill_requires_bool_mask():
    with pytest.raises(TypeError):
        tg.ones(3).masked_fill(tg.ones(3), 0.0)


TRIL_DIAGONALS = [-2, -1, 0, 1, 3]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("diagonal", TRIL_DIAGONALS)
@pytest.mark.parametrize("name", ["tril", "triu"])
def test_tril_triu(name, diagonal, dtype):
    check_op(lambda x: getattr(x, name)(diagonal), inputs=[(4, 5)], dtype=dtype)
    check_op(lambda x: getattr(lib(x), name)(x, diagonal=diagonal), inputs=[(2, 5, 3)], dtype=dtype)


@pytest.mark.parametrize("name", ["tril", "triu"])
def test_tril_triu_gradcheck_and_default(name):
    check_op(lambda x: getattr(x, name)(), inputs=[(3, 3)])
    gradcheck_op(lambda x: getattr(x, name)(1), [(2, 3, 3)])


def test_tril_int_and_bool():
    check_op(lambda x: x.tril(), inputs=[np.arange(9).reshape(3, 3)])
    check_op(lambda x: x.triu(1), inputs=[np.ones((3, 4), bool)])


def test_getitem_negative_step_is_refused_as_torch():
    # torch has no negative slice steps and raises (a ValueError); NumPy's reversal would be code that only runs here
    for m in (tg, torch):
        x = m.zeros(3, 2, 5)
        with pytest.raises(ValueError, match="step must be greater than zero"):
            x[::-1, :, ::-2]
        with pytest.raises(ValueError, match="step must be greater than zero"):
            x[..., ::-1] = 1.0


# ------------------------------------------------------------- flip / roll / repeat / tile / repeat_interleave etc.
MOVES2 = {
    "flip": ((2, 3, 4), lambda x: x.flip(0)),
    "flip_many": ((2, 3, 4), lambda x: x.flip(0, -1)),
    "flip_list": ((2, 3, 4), lambda x: x.flip([2, 1, 0])),
    "flip_none": ((2, 3), lambda x: x.flip([])),
    "fn_flip": ((2, 3, 4), lambda x: lib(x).flip(x, (1,))),
    "flip_0d": ((), lambda x: x.flip(0)),
    "flip_size1": ((1, 3), lambda x: x.flip(0)),
    "roll": ((2, 3, 4), lambda x: x.roll(1, 0)),
    "roll_many": ((2, 3, 4), lambda x: x.roll((1, -2), (2, 0))),
    "roll_flat": ((2, 3), lambda x: x.roll(4)),
    "roll_big": ((2, 3), lambda x: x.roll(-7, -1)),
    "fn_roll": ((2, 3), lambda x: lib(x).roll(x, shifts=(1,), dims=(1,))),
    "roll_0d": ((), lambda x: x.roll(1)),
    "roll_same_dim_twice": ((2, 3), lambda x: x.roll((1, 1), (1, 1))),
    "roll_empty": ((0, 3), lambda x: x.roll(1, 0)),
    "repeat": ((2, 3), lambda x: x.repeat(2, 1)),
    "repeat_new_dims": ((2, 3), lambda x: x.repeat(2, 1, 3)),
    "repeat_tuple": ((3,), lambda x: x.repeat((2, 2))),
    "repeat_ones": ((2, 3), lambda x: x.repeat(1, 1)),
    "repeat_zero": ((2, 3), lambda x: x.repeat(0, 2)),
    "repeat_0d": ((), lambda x: x.repeat(3)),
    "tile": ((2, 3), lambda x: x.tile(2)),
    "tile_more": ((2, 3), lambda x: x.tile((2, 1, 2))),
    "fn_tile": ((2, 3), lambda x: lib(x).tile(x, (3, 1))),
    "tile_empty_dims": ((2, 3), lambda x: x.tile(())),
    "repeat_interleave": ((2, 3), lambda x: x.repeat_interleave(2)),
    "repeat_interleave_dim": ((2, 3), lambda x: x.repeat_interleave(3, dim=1)),
    "repeat_interleave_neg_dim": ((2, 3, 2), lambda x: x.repeat_interleave(2, -2)),
    "repeat_interleave_one": ((2, 3), lambda x: x.repeat_interleave(1, 0)),
    "repeat_interleave_zero": ((2, 3), lambda x: x.repeat_interleave(0, 0)),
    "repeat_interleave_tensor": ((3, 2), lambda x: x.repeat_interleave(T(x, [2, 0, 3]), dim=0)),
    "repeat_interleave_tensor_flat": ((2, 2), lambda x: lib(x).repeat_interleave(x, T(x, [1, 2, 0, 1]))),
    "repeat_interleave_tensor_0d": ((2, 3), lambda x: x.repeat_interleave(T(x, 2), dim=1)),
    "repeat_interleave_tensor_1elem": ((2, 3), lambda x: x.repeat_interleave(T(x, [3]), dim=1)),
    "repeat_interleave_0d": ((), lambda x: lib(x).repeat_interleave(x, 3)),
    "repeat_interleave_output_size": ((2, 3), lambda x: x.repeat_interleave(2, dim=1, output_size=6)),
    "unbind": ((3, 4), lambda x: x.unbind()),
    "unbind_neg": ((2, 3, 4), lambda x: lib(x).unbind(x, -1)),
    "unbind_size1": ((1, 4), lambda x: x.unbind(0)),
    "narrow": ((3, 5), lambda x: x.narrow(1, 1, 3)),
    "narrow_neg_start": ((3, 5), lambda x: x.narrow(-1, -2, 2)),
    "narrow_empty": ((3, 5), lambda x: lib(x).narrow(x, 0, 3, 0)),
    "narrow_tensor_start": ((3, 5), lambda x: x.narrow(0, T(x, 1), 2)),
    "broadcast_to": ((3, 1), lambda x: x.broadcast_to((2, 3, 4))),
    "fn_broadcast_to": ((3, 1), lambda x: lib(x).broadcast_to(x, (3, 5))),
    "broadcast_to_neg1": ((3, 1), lambda x: x.broadcast_to(2, -1, 4)),
    "broadcast_to_0d": ((), lambda x: x.broadcast_to((2, 2))),
}


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", list(MOVES2))
def test_movement_more(name, dtype):
    shape, fn = MOVES2[name]
    check_op(fn, inputs=[shape], dtype=dtype)


@pytest.mark.parametrize("name", ["flip_many", "flip_0d", "roll_many", "roll_flat", "roll_same_dim_twice", "repeat_new_dims",
                                  "repeat_interleave_dim", "repeat_interleave_tensor", "tile_more", "narrow",
                                  "unbind_neg"])
def test_movement_more_gradcheck(name):
    shape, fn = MOVES2[name]
    gradcheck_op(fn, [shape])


def test_repeat_interleave_counts_only_and_int_data():
    check_op(lambda r: lib(r).repeat_interleave(r), inputs=[np.array([1, 0, 3, 2])])
    check_op(lambda x: x.repeat_interleave(2, 0), inputs=[np.arange(4).reshape(2, 2)])
    check_op(lambda x: x.flip(0).roll(1, 1).repeat(2, 1), inputs=[np.arange(6).reshape(2, 3)])


def test_copying_ops_return_new_memory():
    # torch's flip/roll/repeat/tile/repeat_interleave copy: an in-place write to the input must not show in the result
    x = tg.tensor(np.arange(6.0).reshape(2, 3))
    outs = [x.flip(0), x.roll(1, 0), x.repeat(1, 1), x.tile(1), x.repeat_interleave(1, 0), x.flip([]), x.flip(1)[:1]]
    before = [o.tolist() for o in outs]
    x += 10
    assert [o.tolist() for o in outs] == before
    # narrow / unbind are views in torch: the write shows
    v, row = x.narrow(1, 0, 2), x.unbind(0)[1]
    x += 1
    assert v.tolist() == [[11.0, 12.0], [14.0, 15.0]] and row.tolist() == [14.0, 15.0, 16.0]


MOVE_ERRORS = [
    ("flip-dup", lambda: tg.ones(2, 3).flip(0, -2), RuntimeError, [r"flip", r"\[0, -2\]", r"\(2, 3\)"]),
    ("flip-dim", lambda: tg.ones(2, 3).flip(2), IndexError, [r"flip", r"dim 2", r"\(2, 3\)"]),
    ("roll-mismatch", lambda: tg.ones(2, 3).roll((1, 2), 1), RuntimeError, [r"roll", r"\[1, 2\]", r"\[1\]"]),
    ("roll-no-dims", lambda: tg.ones(2, 3).roll((1, 2)), RuntimeError, [r"roll", r"single int"]),
    ("roll-0d-dims", lambda: tg.tensor(1.0).roll(1, 0), IndexError, [r"roll", r"0-d"]),
    ("roll-dim", lambda: tg.ones(2, 3).roll(1, 3), IndexError, [r"roll", r"dim 3", r"\(2, 3\)"]),
    ("repeat-few", lambda: tg.ones(2, 3).repeat(2), RuntimeError, [r"repeat", r"\[2\]", r"\(2, 3\)"]),
    ("repeat-negative", lambda: tg.ones(2, 3).repeat(-1, 1), RuntimeError, [r"repeat", r"non-negative", r"-1"]),
    ("repeat-interleave-count", lambda: tg.ones(2, 3).repeat_interleave(tg.tensor([1, 2]), dim=1), RuntimeError,
     [r"repeat_interleave", r"2 entries", r"dim 1", r"\(2, 3\)", r"size 3"]),
    ("repeat-interleave-negative", lambda: tg.ones(2).repeat_interleave(-1), RuntimeError,
     [r"repeat_interleave", r"non-negative"]),
    ("repeat-interleave-float", lambda: tg.ones(2).repeat_interleave(tg.ones(2)), TypeError,
     [r"repeat_interleave", r"integer", r"float32"]),
    ("repeat-interleave-2d", lambda: tg.ones(2).repeat_interleave(tg.tensor([[1, 1]])), RuntimeError,
     [r"repeat_interleave", r"\(1, 2\)"]),
    ("unbind-0d", lambda: tg.tensor(1.0).unbind(), IndexError, [r"unbind", r"0-d"]),
    ("narrow-range", lambda: tg.ones(2, 3).narrow(1, 2, 2), RuntimeError, [r"narrow", r"start \(2\)", r"length \(2\)",
                                                                        r"size 3", r"\(2, 3\)"]),
    ("narrow-start", lambda: tg.ones(2, 3).narrow(1, -4, 1), IndexError, [r"narrow", r"-4", r"\[-3, 3\]"]),
    ("narrow-0d", lambda: tg.tensor(1.0).narrow(0, 0, 1), RuntimeError, [r"narrow", r"0-d"]),
    ("broadcast-to", lambda: tg.ones(2, 3).broadcast_to(4, 3), RuntimeError, [r"^broadcast_to", r"\(2, 3\)", r"\(4, 3\)"]),
]


@pytest.mark.parametrize("thunk,exc,patterns", [c[1:] for c in MOVE_ERRORS], ids=[c[0] for c in MOVE_ERRORS])
def test_movement_more_errors(thunk, exc, patterns):
    import re
    with pytest.raises(exc) as info:
        thunk()
    msg = str(info.value)
    missing = [p for p in patterns if not re.search(p, msg)]
    assert not missing, f"message {msg!r} lacks {missing}"
