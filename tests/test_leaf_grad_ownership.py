"""A leaf's first gradient becomes its .grad without a copy only when nothing else references that array (torch's
AccumulateGrad steals a gradient whose use count allows it): these tests check every way the array can be shared
(the seed gradient, one array handed to two leaves, a view, a hook's result, retain_grad, a second backward) gives a
.grad that shares memory with nothing the user or the graph can still see, with torch's values."""
import numpy as np
import pytest
import torch

import tensorgrad as tg


def _distinct(*arrays):
    for i, a in enumerate(arrays):
        for b in arrays[i + 1:]:
            assert not np.shares_memory(a, b)


def test_seed_gradient_is_copied():
    x = tg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    seed = tg.tensor(np.ones((2, 3)))
    (x * 1.0 + 0.0).backward(seed)     # add's backward passes the seed array through unchanged
    y = tg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    y.backward(seed)                   # a leaf straight from the seed
    _distinct(x.grad.array, y.grad.array, seed.array)
    seed.array[...] = 7.0
    np.testing.assert_array_equal(x.grad.array, 1.0)
    np.testing.assert_array_equal(y.grad.array, 1.0)


def test_one_array_to_two_leaves():
    a = tg.tensor(np.ones(5), requires_grad=True)
    b = tg.tensor(np.ones(5), requires_grad=True)
    (a + b).sum().backward()           # Add returns the same gradient array for both inputs
    _distinct(a.grad.array, b.grad.array)
    a.grad.array += 1.0
    np.testing.assert_array_equal(b.grad.array, 1.0)


def test_view_gradient_is_copied():
    base = tg.tensor(np.arange(12.0), requires_grad=True)
    parts = base.reshape(3, 4)
    (parts * 2.0).sum().backward()
    assert base.grad.array.base is None or not np.shares_memory(base.grad.array, parts.array)
    np.testing.assert_array_equal(base.grad.array, 2.0)


def test_hook_result_and_retain_grad():
    kept = []
    x = tg.tensor(np.ones(4), requires_grad=True)
    x.register_hook(lambda g: kept.append(g) or g * 3.0)
    h = x * 2.0
    h.retain_grad()
    (h * 1.5).sum().backward()
    _distinct(x.grad.array, kept[0].array, h.grad.array)
    np.testing.assert_array_equal(x.grad.array, 9.0)
    np.testing.assert_array_equal(h.grad.array, 1.5)


@pytest.mark.parametrize("shape", [(3,), (8192, 40), (0, 4)])
def test_accumulation_matches_torch(shape):
    rng = np.random.default_rng(0)
    xs, ws = rng.standard_normal(shape), rng.standard_normal(shape)
    grads = []
    for lib in (tg, torch):
        x = lib.tensor(xs, requires_grad=True)
        w = lib.tensor(ws)
        for _ in range(2):             # the second backward adds into the .grad the first one took
            (x * w + x).sum().backward()
        first = x.grad
        (x * x).sum().backward()
        assert x.grad is first         # accumulation stays in place, as torch's
        grads.append(x.grad.detach().numpy() if lib is torch else x.grad.array.copy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-12)


def test_sole_gradient_taken_not_copied(monkeypatch):
    # A gradient a kernel produced for one leaf alone becomes .grad as it is (no copy): its data address is the
    # one the backward returned. The hook records addresses only, so it holds no reference to the arrays.
    from tensorgrad.autograd import engine
    addresses = {}
    monkeypatch.setattr(engine, "_grad_hooks", [lambda node, g, in_grads: addresses.setdefault(
        node.name(), [None if a is None else a.__array_interface__["data"][0] for a in in_grads])])
    rng = np.random.default_rng(1)
    x = tg.tensor(rng.standard_normal((64, 32)).astype(np.float32), requires_grad=True)
    w = tg.tensor(np.ones(32, np.float32), requires_grad=True)
    b = tg.tensor(np.zeros(32, np.float32), requires_grad=True)
    seed = rng.standard_normal((64, 32)).astype(np.float32)
    tg.nn.functional.layer_norm(x, (32,), w, b, 1e-5).backward(tg.tensor(seed))
    (ln,) = [v for k, v in addresses.items()]
    assert ln[:3] == [t.grad.array.__array_interface__["data"][0] for t in (x, w, b)]
    tx = torch.tensor(x.array, requires_grad=True)
    torch.nn.functional.layer_norm(tx, (32,), torch.tensor(w.array), torch.tensor(b.array), 1e-5).backward(
        torch.tensor(seed))
    np.testing.assert_allclose(x.grad.array, tx.grad.numpy(), rtol=1e-4, atol=1e-5)
    _distinct(x.grad.array, w.grad.array, b.grad.array, seed)


# ------------------------------------------------------------------------------- sums inside the walk
# Two gradient terms for one node are summed into the first in place when nothing else references it; a term the
# user, a saved tensor or another gradient still holds (or a view of one) is never written to.
SHARED = np.full(6, 2.0)


class _Returns(tg.autograd.Function):
    """y = x; backward hands out what `make(g)` returns (a fresh array, a module-level one, a view of one...)."""

    def forward(self, x, make):
        self.make = make
        return x.copy()

    def backward(self, g):
        return self.make(g), None


@pytest.mark.parametrize("make,name", [
    (lambda g: SHARED, "a module-level array"),
    (lambda g: SHARED[:], "a view of one"),
    (lambda g: SHARED.reshape(2, 3).reshape(6), "a whole-array view of one"),
    (lambda g: g, "the incoming gradient itself"),
    (lambda g: g * 1.0, "a fresh array"),
])
def test_sums_in_the_walk_never_write_to_shared_arrays(make, name):
    before = SHARED.copy()
    x = tg.tensor(np.arange(6.0), requires_grad=True)
    h = x * 3.0                                       # the node both terms meet at
    out = _Returns.apply(h, make) + _Returns.apply(h, make)
    seed = tg.tensor(np.full(6, 2.0))
    out.backward(seed)
    np.testing.assert_array_equal(SHARED, before, err_msg=name)
    np.testing.assert_array_equal(seed.array, 2.0, err_msg=name)
    np.testing.assert_array_equal(x.grad.array, 12.0, err_msg=name)   # (2 + 2) * 3


def test_sums_in_the_walk_go_in_place_for_arrays_only_the_walk_holds(monkeypatch):
    from tensorgrad.autograd import engine
    seen = []
    real = engine._add

    def spy(a, b, fresh):
        r = real(a, b, fresh)
        seen.append(a is not None and r is a)
        return r
    monkeypatch.setattr(engine, "_add", spy)
    monkeypatch.setattr(engine, "_SOLE_ADD_REFS", engine._SOLE_ADD_REFS + 1)   # (the spy's own reference)
    x = tg.tensor(np.arange(6.0), requires_grad=True)
    h = x * 3.0
    (h * 2.0 + h * 5.0).sum().backward()              # Mul's backward makes fresh arrays: the sum reuses the first
    assert True in seen
    np.testing.assert_array_equal(x.grad.array, 21.0)
