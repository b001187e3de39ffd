"""Engine tests: backward, retain_graph, deep chains, freeing saved arrays, hooks, grad(), grad modes, gradcheck."""
import gc
import sys
import tracemalloc

import numpy as np
import pytest
import torch

import tensorgrad as tg
from tensorgrad.autograd import Function, gradcheck, gradgradcheck


def _np(t):
    return t.detach().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


# ----------------------------------------------------------------------------------------- backward
def test_backward_scalar_implicit_gradient():
    x = tg.tensor([1.0, -2.0, 3.0], requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, -4.0, 6.0])
    assert x.grad.dtype == tg.float32 and not x.grad.requires_grad and x.grad.grad_fn is None


def test_backward_non_scalar_with_gradient_matches_torch():
    xv = np.array([[1.0, 2.0], [3.0, -4.0]])
    gv = np.array([[0.5, -1.0], [2.0, 3.0]])
    x = tg.tensor(xv, requires_grad=True)
    y = x.exp() * x
    y.backward(gradient=tg.tensor(gv))
    tx = torch.tensor(xv, requires_grad=True)
    (tx.exp() * tx).backward(gradient=torch.tensor(gv))
    np.testing.assert_allclose(x.grad.numpy(), _np(tx.grad), rtol=1e-12)


def test_backward_on_leaf_itself():
    x = tg.tensor(3.0, requires_grad=True)
    x.backward()
    assert x.grad.item() == 1.0


def test_retain_graph_allows_second_backward_and_accumulates():
    x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * first, rtol=1e-6)
    tx = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (tx.exp() * tx).sum().backward()
    np.testing.assert_allclose(first, _np(tx.grad), rtol=1e-6)


def test_second_backward_without_retain_graph_raises():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_leaf_grad_accumulates_across_backward_calls():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3 + 2, 3 + 4])
    x.grad = None
    (x * 5).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [5, 5])


def test_grad_not_aliased_between_leaves():
    # Add's backward returns the same array for both inputs; accumulating into one must not touch the other.
    a = tg.tensor([1.0, 2.0], requires_grad=True)
    b = tg.tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()
    a.grad.array += 100
    np.testing.assert_allclose(b.grad.numpy(), [1.0, 1.0])


def test_deep_chain_100k_no_recursion_and_clean_delete():
    n = 100_000
    x = tg.tensor(1.0, dtype=tg.float64, requires_grad=True)
    y = x
    for _ in range(n):
        y = y * 1.0000001
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)  # the engine must not recurse (nor rely on a raised limit)
    try:
        y.backward(retain_graph=True)
    finally:
        sys.setrecursionlimit(old)
    np.testing.assert_allclose(x.grad.item(), 1.0000001 ** n, rtol=1e-9)
    # Dropping a 100k-node graph (still holding its saved arrays) must not overflow the C stack.
    del y
    gc.collect()
    assert x.grad is not None


# --------------------------------------------------------------------------------------- freeing saved
def test_saved_arrays_freed_after_backward():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    h = x.exp()
    node = h.grad_fn
    assert node.saved != () and not node.freed
    arr = h.array
    z = (h * h).sum()
    del h
    refs_before = sys.getrefcount(arr)
    z.backward()
    assert node.saved == () and node.freed
    # Exp's node and Mul's node both held `arr`; both let it go.
    assert sys.getrefcount(arr) <= refs_before - 2


def test_saved_arrays_kept_with_retain_graph():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    h = x.exp()
    node = h.grad_fn
    h.sum().backward(retain_graph=True)
    assert node.saved != () and not node.freed


def test_big_intermediate_memory_released_by_backward():
    # numpy reports its allocations to tracemalloc, so the drop is observable without a weakref.
    x = tg.randn(1000, 1000, dtype=tg.float64, requires_grad=True)  # 8 MB
    tracemalloc.start()
    try:
        h = (x * 2.0).tanh()  # tanh saves its 8 MB output
        loss = h.sum()
        del h
        before, _ = tracemalloc.get_traced_memory()
        loss.backward()
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # +8 MB for x.grad, -8 MB for tanh's saved output -> net growth must stay well below 16 MB
    # (it would be ~+8 MB for x.grad plus any backward temporaries if the saved output were kept).
    assert after - before < 4e6, (before, after)


# ------------------------------------------------------------------------------------------ diamonds
def test_diamond_graph_matches_torch():
    xv = np.array([0.3, -1.2, 2.0])

    def f(lib, x):
        a = x * 2
        b = lib.tanh(x) if lib is torch else x.tanh()
        c = a * b + a.exp() * x - b * b * x
        d = c + x + x * x
        return (d * a).sum()

    x = tg.tensor(xv, requires_grad=True)
    f(tg, x).backward()
    tx = torch.tensor(xv, requires_grad=True)
    f(torch, tx).backward()
    np.testing.assert_allclose(x.grad.numpy(), _np(tx.grad), rtol=1e-10)


def test_same_tensor_used_many_times():
    x = tg.tensor(2.0, dtype=tg.float64, requires_grad=True)
    y = x
    for _ in range(10):
        y = y + x  # y = 11 x
    (y * x).backward()  # d(11 x^2)/dx = 22 x
    assert x.grad.item() == pytest.approx(44.0)


# ------------------------------------------------------------------------------------------ grad modes
def test_no_grad_context_and_nesting():
    x = tg.tensor([1.0], requires_grad=True)
    assert tg.is_grad_enabled()
    with tg.no_grad():
        assert not tg.is_grad_enabled()
        y = x * 2
        with tg.enable_grad():
            assert tg.is_grad_enabled()
            z = x * 2
            with tg.no_grad():
                w = x * 2
            assert tg.is_grad_enabled()
        assert not tg.is_grad_enabled()
    assert tg.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and z.grad_fn is not None
    assert not w.requires_grad


def test_grad_mode_restored_after_exception():
    with pytest.raises(ValueError):
        with tg.no_grad():
            raise ValueError
    assert tg.is_grad_enabled()


def test_no_grad_and_enable_grad_decorators():
    x = tg.tensor([1.0], requires_grad=True)

    @tg.no_grad()
    def f():
        return x * 2, tg.is_grad_enabled()

    @tg.no_grad
    def f_bare():
        return x * 2

    @tg.enable_grad()
    def g():
        return x * 2

    y, enabled = f()
    assert not y.requires_grad and not enabled
    assert not f_bare().requires_grad
    assert tg.is_grad_enabled()
    with tg.no_grad():
        assert g().requires_grad
        assert not tg.is_grad_enabled()
    assert f.__name__ == "f"


def test_set_grad_enabled_context_decorator_and_call():
    x = tg.tensor([1.0], requires_grad=True)
    with tg.set_grad_enabled(False):
        assert not (x * 2).requires_grad
        with tg.set_grad_enabled(True):
            assert (x * 2).requires_grad
        assert not tg.is_grad_enabled()
    assert tg.is_grad_enabled()

    @tg.set_grad_enabled(False)
    def f():
        return x * 2

    assert tg.is_grad_enabled()  # decorating must not leave grad disabled
    assert not f().requires_grad
    assert tg.is_grad_enabled()

    tg.set_grad_enabled(False)  # plain call, like torch
    try:
        assert not tg.is_grad_enabled()
    finally:
        tg.set_grad_enabled(True)
    assert tg.is_grad_enabled()


# ---------------------------------------------------------------------------------------------- hooks
def test_hook_on_leaf_modifies_grad_and_remove():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    h1 = x.register_hook(lambda g: seen.append(g.numpy().copy()))  # returns None: grad unchanged
    h2 = x.register_hook(lambda g: g * 10)
    (x * 3).sum().backward()
    np.testing.assert_allclose(seen[0], [3, 3])
    np.testing.assert_allclose(x.grad.numpy(), [30, 30])
    h2.remove()
    h1.remove()
    x.grad = None
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3, 3])
    assert len(seen) == 1


def test_hook_on_non_leaf_matches_torch():
    def run(lib):
        x = lib.tensor([1.0, -2.0, 0.5], requires_grad=True)
        y = x * x
        seen = []
        y.register_hook(lambda g: seen.append(np.array(_np(g))))
        handle = y.register_hook(lambda g: g * 2)
        (y * 3).sum().backward(retain_graph=True)
        first = _np(x.grad).copy()
        handle.remove()
        x.grad = None
        (y * 3).sum().backward()
        return first, _np(x.grad), seen

    a = run(tg)
    b = run(torch)
    np.testing.assert_allclose(a[0], b[0])
    np.testing.assert_allclose(a[1], b[1])
    assert len(a[2]) == len(b[2]) == 2
    np.testing.assert_allclose(a[2][0], b[2][0])


def test_register_hook_requires_grad():
    with pytest.raises(RuntimeError, match="doesn't require grad"):
        tg.tensor([1.0]).register_hook(lambda g: g)


def test_retain_grad():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    y.retain_grad()
    z = y * y
    z.sum().backward()
    np.testing.assert_allclose(y.grad.numpy(), 2 * y.detach().numpy())
    w = x * 3
    (w * w).sum().backward()
    assert w.grad is None  # non-leaf grads are not kept unless asked


# --------------------------------------------------------------------------------------------- grad()
def test_autograd_grad_basic_does_not_touch_dot_grad():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    w = tg.tensor([3.0, 4.0], requires_grad=True)
    y = (x * w).sum()
    gx, gw = tg.autograd.grad(y, [x, w])
    np.testing.assert_allclose(gx.numpy(), [3, 4])
    np.testing.assert_allclose(gw.numpy(), [1, 2])
    assert x.grad is None and w.grad is None


def test_autograd_grad_grad_outputs_matches_torch():
    xv = np.array([0.5, 1.5, -1.0])
    go = np.array([1.0, -2.0, 0.25])
    x = tg.tensor(xv, requires_grad=True)
    (g,) = tg.autograd.grad(x.sigmoid() * x, x, grad_outputs=tg.tensor(go))
    tx = torch.tensor(xv, requires_grad=True)
    (tg_ref,) = torch.autograd.grad(tx.sigmoid() * tx, tx, grad_outputs=torch.tensor(go))
    np.testing.assert_allclose(g.numpy(), _np(tg_ref), rtol=1e-12)


def test_autograd_grad_non_leaf_input():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    z = (y * y).sum()
    (gy,) = tg.autograd.grad(z, y)
    np.testing.assert_allclose(gy.numpy(), 2 * y.detach().numpy())
    assert x.grad is None


def test_autograd_grad_allow_unused():
    x = tg.tensor([1.0], requires_grad=True)
    u = tg.tensor([5.0], requires_grad=True)
    y = (x * 2).sum()
    with pytest.raises(RuntimeError, match="allow_unused"):
        tg.autograd.grad(y, [x, u], retain_graph=True)
    gx, gu = tg.autograd.grad(y, [x, u], allow_unused=True)
    assert gu is None
    np.testing.assert_allclose(gx.numpy(), [2.0])


def test_autograd_grad_retain_graph():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp()).sum()
    g1 = tg.autograd.grad(y, x, retain_graph=True)[0]
    g2 = tg.autograd.grad(y, x)[0]
    np.testing.assert_allclose(g1.numpy(), g2.numpy())
    with pytest.raises(RuntimeError, match="retain_graph"):
        tg.autograd.grad(y, x)


# ------------------------------------------------------------------------------------------ gradcheck
class _Square(Function):
    def forward(self, a):
        self.save_for_backward(a)
        return a * a

    def backward(self, g):
        (a,) = self.saved_tensors
        return 2 * g * a


class _WrongSquare(_Square):
    def backward(self, g):
        (a,) = self.saved_tensors
        return g * a  # missing the factor 2


def test_gradcheck_passes_correct_function():
    x = tg.tensor(np.array([0.3, -1.1, 2.0]), requires_grad=True)
    assert gradcheck(_Square.apply, [x])


def test_gradcheck_catches_wrong_backward():
    x = tg.tensor(np.array([0.3, -1.1, 2.0]), requires_grad=True)
    with pytest.raises(AssertionError, match="gradcheck"):
        gradcheck(_WrongSquare.apply, [x])
    assert gradcheck(_WrongSquare.apply, [x], raise_exception=False) is False


def test_gradcheck_requires_float64():
    x = tg.tensor([0.3, 1.0], requires_grad=True)
    with pytest.raises(TypeError, match="float64"):
        gradcheck(_Square.apply, [x])


def test_custom_function_needs_input_grad_and_grad_fn_name():
    class Scale(Function):
        def forward(self, a, b):
            self.save_for_backward(a, b)
            return a * b

        def backward(self, g):
            a, b = self.saved_tensors
            na, nb = self.needs_input_grad
            return (g * b if na else None), (g * a if nb else None)

    a = tg.tensor([2.0], requires_grad=True)
    b = tg.tensor([3.0])
    y = Scale.apply(a, b)
    assert y.grad_fn.name() == "ScaleBackward0"
    assert list(y.grad_fn.needs_input_grad) == [True, False]
    y.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [3.0])
    assert b.grad is None


# ------------------------------------------------------------------------------ detach, leaves, dtypes
def test_detach_shares_data_and_cuts_graph():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.grad_fn is None and d.is_leaf
    assert np.shares_memory(d.array, y.array)
    z = (d * x).sum()
    z.backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])  # no path through d


def test_requires_grad_propagation_and_is_leaf():
    a = tg.tensor([1.0, 2.0])
    b = tg.tensor([3.0, 4.0], requires_grad=True)
    assert a.is_leaf and b.is_leaf and not a.requires_grad
    c = a * 2
    assert not c.requires_grad and c.grad_fn is None and c.is_leaf
    d = a * b
    assert d.requires_grad and not d.is_leaf
    assert d.grad_fn.name() == "MulBackward0"
    assert (d + 1).grad_fn.name() == "AddBackward0"
    assert d.sum().grad_fn.name() == "SumBackward0"
    assert (d @ b).grad_fn.name() == "MatMulBackward0"
    assert d.reshape(2, 1).grad_fn.name() == "ReshapeBackward0"
    a.requires_grad_()
    assert a.requires_grad and a.is_leaf
    with pytest.raises(RuntimeError, match="leaf"):
        d.requires_grad_(False)
    e = b.detach().requires_grad_()
    assert e.requires_grad and e.is_leaf


def test_comparisons_and_integer_results_do_not_require_grad():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    assert not (x > 1).requires_grad
    assert not x.argmax().requires_grad


def test_grad_dtype_matches_leaf_under_mixed_precision():
    x = tg.tensor([1.0, 2.0], dtype=tg.float32, requires_grad=True)
    w = tg.tensor([0.5, -1.5], dtype=tg.float64, requires_grad=True)
    y = (x * w).sum()
    assert y.dtype == tg.float64
    y.backward()
    assert x.grad.dtype == tg.float32 and w.grad.dtype == tg.float64
    np.testing.assert_allclose(x.grad.numpy(), [0.5, -1.5])
    np.testing.assert_allclose(w.grad.numpy(), [1.0, 2.0])
    h = tg.tensor([1.0, 2.0], dtype=tg.float16, requires_grad=True)
    (h.float() * 3).sum().backward()
    assert h.grad.dtype == tg.float16


def test_backward_through_integer_cast_is_cut():
    x = tg.tensor([1.5, 2.5], requires_grad=True)
    i = x.long()
    assert i.dtype == tg.int64
    y = (x * 2).sum() + i.sum().float()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0])


def test_autograd_grad_fills_retained_grads_like_torch():
    # torch.autograd.grad leaves leaf .grad alone but does run retain_grad on non-leaves; so does tensorgrad.
    def run(lib):
        x = lib.tensor(2.0, requires_grad=True)
        y = x * 3
        y.retain_grad()
        z = y * y
        lib.autograd.grad(z, x, retain_graph=True)
        after_grad = None if y.grad is None else float(y.grad)
        z.backward()
        return after_grad, float(y.grad), float(x.grad)

    assert run(tg) == run(torch)


def test_create_graph_gives_differentiable_gradients():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = (x ** 3).sum()
    g, = tg.autograd.grad(y, [x], create_graph=True)  # 3x^2, recorded
    assert g.requires_grad
    h, = tg.autograd.grad(g.sum(), [x])
    np.testing.assert_allclose(np.asarray(h), [6.0, 12.0])
    g, = tg.autograd.grad(y, [x], None, True, False)  # torch's positional order: grad_outputs, retain_graph, create_graph
    np.testing.assert_allclose(np.asarray(g), [3.0, 12.0])


def test_gradcheck_takes_torchs_keywords():
    # torch.autograd.gradcheck's keyword form, as tutorials call it; the verdicts match torch's on the same functions
    torch = pytest.importorskip("torch")

    class TSquare(torch.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a * a

        @staticmethod
        def backward(ctx, g):
            (a,) = ctx.saved_tensors
            return 2 * g * a

    xt = torch.tensor([0.3, -1.1, 2.0], dtype=torch.float64, requires_grad=True)
    x = tg.tensor(np.array([0.3, -1.1, 2.0]), requires_grad=True)
    for kw in ({"fast_mode": False}, {"fast_mode": True}, {"nondet_tol": 1e-9, "check_undefined_grad": False},
               {"check_grad_dtypes": True}):
        assert torch.autograd.gradcheck(TSquare.apply, (xt,), **kw)
        assert gradcheck(_Square.apply, (x,), **kw)
        assert torch.autograd.gradcheck(lambda a: 2 * TSquare.apply(a), (xt,), raise_exception=False, **kw)
        assert gradcheck(_WrongSquare.apply, (x,), raise_exception=False, **kw) is False
    with pytest.raises(AssertionError, match="gradcheck"):
        gradcheck(_WrongSquare.apply, (x,), fast_mode=True)
    assert gradcheck(_WrongSquare.apply, (x,), check_backward_ad=False)  # nothing left to check


def test_gradcheck_check_forward_ad():
    torch = pytest.importorskip("torch")
    f_t = lambda a, b: (a.sin() * b, a.exp().sum())
    at = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    bt = torch.randn(2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(f_t, (at, bt), check_forward_ad=True)
    a, b = tg.tensor(at.detach().numpy(), requires_grad=True), tg.tensor(bt.detach().numpy(), requires_grad=True)
    assert gradcheck(lambda a, b: (a.sin() * b, a.exp().sum()), (a, b), check_forward_ad=True,
                     check_backward_ad=False)
    assert gradcheck(lambda a, b: (a.sin() * b, a.exp().sum()), (a, b), check_forward_ad=True)
    class WrongCube(tg.autograd.Function):  # backward in tensor ops (differentiable), the factor 3 missing
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a * a * a

        @staticmethod
        def backward(ctx, g):
            (a,) = ctx.saved_tensors
            return g * a * a

    # the forward mode here is the double vjp of the custom backward, so the wrong backward shows there too
    assert gradcheck(WrongCube.apply, (a,), check_forward_ad=True, check_backward_ad=False,
                     raise_exception=False) is False
    with pytest.raises(NotImplementedError, match="check_batched_grad"):
        gradcheck(_Square.apply, (a,), check_batched_grad=True)


def test_gradgradcheck_takes_torchs_keywords():
    torch = pytest.importorskip("torch")
    at = torch.randn(3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradgradcheck(lambda a: a.sin() * a, (at,), fast_mode=True, check_grad_dtypes=True)
    a = tg.tensor(at.detach().numpy(), requires_grad=True)
    assert gradgradcheck(lambda a: a.sin() * a, (a,), fast_mode=True, check_grad_dtypes=True, nondet_tol=0.0)
    with pytest.raises(NotImplementedError, match="check_fwd_over_rev"):
        gradgradcheck(lambda a: a.sin() * a, (a,), check_fwd_over_rev=True)
