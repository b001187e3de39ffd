"""In-place writes recording a gradient on memory that views share, against torch (ops/view_history.py): the write
reaches every alias, the root takes a CopySlices node, every live view is regenerated on the root's new history
(an AsStrided node), arrays saved for backward and then written are caught by the version counters. Gradients are
compared with torch, gradchecked and gradgradchecked in float64; torch's refusals that tensorgrad does not share
are checked against the same program written out of place.

tests/test_fuzz_aliasing.py draws random programs of views and writes under autograd against torch."""
import numpy as np
import pytest
import torch

import tensorgrad as tg
from helpers import check_op, gradcheck_op, gradgradcheck_op


def _relu_(lib, t):
    return (tg.nn.functional if lib is tg else torch.nn.functional).relu(t, inplace=True)


def _lib(t):
    return tg if isinstance(t, tg.Tensor) else torch


# Each program: leaves (x (4, 3), w (3,)) -> outputs; only Tensor methods, so one callable serves both libraries.
def write_into_a_row(x, w):
    y = x * 2
    y[1].mul_(w)                     # y takes a CopySlices node; the row's new values reach y
    return y


def sibling_view_taken_before(x, w):
    y = x * 1
    col = y[:, 0]                    # taken before the write: regenerated on y's new history
    y[1].add_(w)
    return y, col


def write_into_the_root_with_views(x, w):
    y = x + 0
    t = y.t()
    y.mul_(w)                        # the root itself: its views see the values and the history
    return t * 1


def view_of_a_view(x, w):
    y = x.sin()                      # (Sin keeps x, not y: Exp, which keeps its output, would refuse at backward)
    y.view(12)[2:5].add_(w)
    return y.sum(0), y


def setitem_through_a_slice(x, w):
    y = x.clone()
    r = y[1:3]
    r[:, 1] = w[:2] * 3              # setitem on a view: a write into the view of the region
    return y, r


def plain_zeros_take_a_history(x, w):
    out = x.new_zeros((4, 3))
    row = out[2]
    row.copy_(w)                     # out did not require grad: it now has w's history where row lies
    out[0] = x[0] * w
    return out


def inplace_relu_on_a_view(x, w):
    y = x - 0.3
    _relu_(_lib(x), y[:, :2])        # F.relu(inplace=True): the root sees the relu'd columns
    return y * w


def transposed_chain(x, w):
    y = (x * w).t()                  # a view of a temporary: the temporary is the root
    y[0].clamp_(-0.5, 0.5)
    y.T[3].zero_()
    return y


def f_ordered_root(x, w):
    y = x.t() * 1                    # an op's result in F order (NumPy keeps its input's layout, torch its strides)
    col = y[:, 2]
    y.t()[1].mul_(w)                 # a write through a view of that root
    y[0, 1:].abs_()
    return y, col


def permuted_dense_root(x, w):
    z = x.reshape(2, 2, 3).permute(2, 0, 1) * 1   # dense, in neither C nor F order
    z[1].add_(w[0])
    z[:, 0].mul_(w[1:])
    return z, z.sum(0)


PROGRAMS = [write_into_a_row, sibling_view_taken_before, write_into_the_root_with_views, view_of_a_view,
            setitem_through_a_slice, plain_zeros_take_a_history, inplace_relu_on_a_view, transposed_chain,
            f_ordered_root, permuted_dense_root]


@pytest.mark.parametrize("program", PROGRAMS, ids=lambda f: f.__name__)
def test_program_matches_torch(program):
    check_op(program, inputs=[(4, 3), (3,)])


@pytest.mark.parametrize("program", PROGRAMS, ids=lambda f: f.__name__)
def test_program_gradcheck_and_gradgradcheck(program):
    gradcheck_op(program, inputs=[(4, 3), (3,)])
    rng = np.random.default_rng(1)
    ins = [tg.tensor(rng.standard_normal(s), requires_grad=True) for s in ((4, 3), (3,))]
    gradgradcheck_op(program, ins)


def test_values_reach_every_alias():
    x = tg.tensor(np.arange(12.0).reshape(4, 3), requires_grad=True)
    y = x * 1
    col, row, flat = y[:, 1], y[2], y.view(12)
    row.mul_(10)
    np.testing.assert_array_equal(y.detach().numpy()[2], [60, 70, 80])
    assert col.tolist() == [1, 4, 70, 10] and flat.tolist()[6:9] == [60, 70, 80]
    assert all(t.requires_grad and t.grad_fn is not None for t in (col, row, flat))


def test_a_saved_array_written_through_a_view_is_caught_at_backward_as_in_torch():
    for lib in (tg, torch):
        x = lib.ones(4, 3, dtype=lib.float64, requires_grad=True)
        y = x.exp()                              # Exp keeps y for its gradient
        y.t()[0].zero_()
        with pytest.raises(RuntimeError, match="modified (by an inplace operation|in place)"):
            y.sum().backward()


def test_a_view_of_a_leaf_that_requires_grad_is_refused():
    x = tg.ones(4, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match="mul_: a view of a leaf tensor that requires grad"):
        x[0].mul_(2)
    with tg.no_grad():                           # not recorded: written, as in torch
        x[0].mul_(2)
    assert x.detach().numpy()[0].tolist() == [2, 2, 2]


def test_advanced_index_into_an_expanded_view_is_refused():
    y = tg.ones(3, requires_grad=True) * 1
    e = y.unsqueeze(0).expand(2, 3)
    with pytest.raises(RuntimeError, match="through an advanced index into an expanded view"):
        e[tg.tensor([0])] = 5.0
    with pytest.raises(RuntimeError, match="more than one element of the written-to tensor"):
        e.add_(1)


def test_chunk_pieces_may_be_written_where_torch_refuses():
    # torch refuses writes into the pieces of a multi-view op (chunk/split/unbind); tensorgrad gives the gradient
    # of the program written out of place
    rng = np.random.default_rng(0)
    a, v = rng.standard_normal((4, 6)), rng.standard_normal((4, 2))
    x = tg.tensor(a, requires_grad=True)
    y = x * 1
    q, k, _ = y.chunk(3, dim=1)
    q.mul_(tg.tensor(v))
    k.zero_()
    (y * y).sum().backward()
    xt = torch.tensor(a, requires_grad=True)
    yt = torch.cat([xt[:, :2] * torch.tensor(v), torch.zeros(4, 2, dtype=torch.float64), xt[:, 4:]], dim=1)
    (yt * yt).sum().backward()
    np.testing.assert_allclose(y.detach().numpy(), yt.detach().numpy())
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy())


@pytest.mark.parametrize("write", ["fill_", "zero_"])
def test_fill_of_an_expanded_view_where_torch_refuses_at_backward(write):
    # fill_/zero_ may write an expanded view (one value everywhere); torch's backward then refuses
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4, 3))
    x = tg.tensor(a, requires_grad=True)
    y = x * 2
    value = 0.5 if write == "fill_" else 0.0
    e = y[1:3].unsqueeze(0).expand(2, 2, 3)
    e.fill_(value) if write == "fill_" else e.zero_()
    (y * y).sum().backward()
    xt = torch.tensor(a, requires_grad=True)
    yt = torch.cat([xt[:1] * 2, torch.full((2, 3), value, dtype=torch.float64), xt[3:] * 2])
    (yt * yt).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy())


def test_the_list_of_views_does_not_grow_with_dead_views():
    y = tg.ones(8, requires_grad=True) * 1
    for i in range(10_000):
        y[i % 8].sum()
    assert len(y._views) < 64
    keep = [y[i:i + 1] for i in range(8)]
    y[0:4].add_(1)
    assert all(v.grad_fn is not None for v in keep) and len(y._views) >= 8


def test_views_pickle_and_deepcopy_as_plain_tensors():
    import copy
    import pickle
    x = tg.arange(6.0)
    v = x[1:3]
    for c in (pickle.loads(pickle.dumps(v)), copy.deepcopy(v), pickle.loads(pickle.dumps(x))):
        assert c._base is None and c._views is None
    assert pickle.loads(pickle.dumps(v)).tolist() == [1.0, 2.0]
