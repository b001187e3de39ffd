"""View ops that change nothing (x.view(x.shape), permute(0, 1), expand to the same shape, ...) return a new tensor
viewing the input, as torch's: a gradient asked for that view must not collect the input's other uses, and writes
through it reach the input. Each case is compared with torch."""
import numpy as np
import pytest
import torch

import tensorgrad as tg

NO_CHANGE = {
    "view_same": lambda x: x.view(x.shape),
    "view_sizes": lambda x: x.view(2, 3),
    "reshape_same": lambda x: x.reshape(2, 3),
    "view_as": lambda x: x.view_as(x),
    "reshape_as": lambda x: x.reshape_as(x),
    "permute_identity": lambda x: x.permute(0, 1),
    "transpose_same_dim": lambda x: x.transpose(1, 1),
    "movedim_same": lambda x: x.movedim(0, 0),
    "expand_same": lambda x: x.expand(2, 3),
    "expand_minus_one": lambda x: x.expand(-1, -1),
    "broadcast_to_same": lambda x: x.broadcast_to((2, 3)),
    "expand_as": lambda x: x.expand_as(x),
    "squeeze_nothing": lambda x: x.squeeze(),
}


def _grad_wrt_view(lib, make):
    x = lib.arange(1.0, 7.0).reshape(2, 3).requires_grad_()
    v = make(x)
    (g,) = lib.autograd.grad((v * x * 3).sum(), [v])
    return v is x, g.detach().numpy()


@pytest.mark.parametrize("name", sorted(NO_CHANGE))
def test_gradient_wrt_an_unchanged_view_as_torch(name):
    ours_is, ours = _grad_wrt_view(tg, NO_CHANGE[name])
    theirs_is, theirs = _grad_wrt_view(torch, NO_CHANGE[name])
    assert ours_is == theirs_is
    np.testing.assert_allclose(ours, theirs)


@pytest.mark.parametrize("name", sorted(NO_CHANGE))
def test_write_through_an_unchanged_view_reaches_the_input(name):
    results = []
    for lib in (tg, torch):
        x = lib.zeros(2, 3)
        v = NO_CHANGE[name](x)
        v[0, 1] = 5.0
        results.append(x.numpy().copy())
    np.testing.assert_array_equal(*results)


@pytest.mark.parametrize("lib", [tg, torch], ids=["tensorgrad", "torch"])
def test_one_dim_t_and_zero_dim_movedim_are_new_views(lib):
    v = lib.ones(3, requires_grad=True)
    s = lib.tensor(2.0, requires_grad=True)
    assert v.t() is not v and s.movedim(0, 0) is not s
