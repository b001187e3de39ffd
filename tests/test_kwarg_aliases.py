"""torch's keyword spellings that public code uses and tensorgrad's signatures lacked (a usage survey of public
training repos: latent-diffusion's torch.stack(xs, axis=-1), timm's .mean(axis=0) and grad.add(p, alpha=wd),
x-transformers' .flip(dims=...), GAN gradient penalties' autograd.grad(only_inputs=True)): NumPy's axis / keepdims
(tensorgrad/kwarg_aliases.py), torch.add / torch.sub / Tensor.add / Tensor.sub alpha (ops/extra_math.py), and
autograd.grad's full signature."""
import warnings

import numpy as np
import pytest
import torch

import tensorgrad as tg
from helpers import check_op, gradcheck_op, lib, raises

# (name, call with dim / keepdim, the same call with NumPy's names): each is checked against torch's answer to the
# NumPy spelling, forward and gradient
NUMPY_CALLS = [
    ("sum", lambda x: x.sum(axis=1), [(3, 4)]),
    ("sum keepdims", lambda x: x.sum(axis=1, keepdims=True), [(3, 4)]),
    ("mean", lambda x: x.mean(axis=0), [(3, 4)]),
    ("mean keepdims", lambda x: lib(x).mean(x, axis=-1, keepdims=True), [(3, 4)]),
    ("max values", lambda x: x.max(axis=1).values, [(3, 4)]),
    ("min keepdims", lambda x: lib(x).min(x, 1, keepdims=True).values, [(3, 4)]),
    ("amax", lambda x: x.amax(axis=0), [(3, 4)]),
    ("var", lambda x: x.var(axis=1), [(3, 4)]),
    ("std", lambda x: x.std(axis=0, keepdims=True), [(3, 4)]),
    ("cumprod", lambda x: x.cumprod(axis=1), [(3, 4)]),
    ("cumsum", lambda x: lib(x).cumsum(x, axis=0), [(3, 4)]),
    ("softmax", lambda x: x.softmax(axis=-1), [(3, 4)]),
    ("logsumexp", lambda x: lib(x).logsumexp(x, axis=1), [(3, 4)]),
    ("cat", lambda x, y: lib(x).cat([x, y], axis=1), [(3, 4), (3, 2)]),
    ("stack", lambda x, y: lib(x).stack([x, y], axis=-1), [(3, 4), (3, 4)]),
    ("squeeze", lambda x: x.squeeze(axis=1), [(3, 1, 4)]),
    ("unsqueeze", lambda x: lib(x).unsqueeze(x, axis=0), [(3, 4)]),
    ("norm", lambda x: x.norm(dim=1), [(3, 4)]),
    ("prod", lambda x: x.prod(axis=1), [(3, 4)]),
]


@pytest.mark.parametrize("name,fn,shapes", NUMPY_CALLS, ids=[c[0] for c in NUMPY_CALLS])
def test_numpy_axis_and_keepdims_as_torch(name, fn, shapes):
    check_op(fn, inputs=shapes)


def test_numpy_names_without_a_gradient():
    x = np.array([[3.0, 1.0, 2.0], [0.0, 5.0, 4.0]])
    for f in (lambda m, t: m.argmax(t, axis=1), lambda m, t: t.argmin(axis=0),
              lambda m, t: t.argmax(axis=1, keepdims=True), lambda m, t: m.any(t > 2, axis=1)):
        a, b = f(tg, tg.tensor(x)), f(torch, torch.tensor(x))
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_numpy_alias_given_twice_is_refused():
    x = tg.ones(2, 3)
    with raises(TypeError, "sum", "'dim'", "axis"):
        x.sum(dim=0, axis=1)
    with raises(TypeError, "mean", "'keepdim'", "keepdims"):
        tg.mean(x, 0, keepdim=True, keepdims=True)
    with pytest.raises(TypeError):
        torch.ones(2, 3).sum(dim=0, axis=1)


def test_names_torch_refuses_stay_refused():
    # torch takes axis only where the parameter is dim: repeat's sizes, clamp's min and split's size are not
    for m in (tg, torch):
        x = m.ones(2, 3)
        for f in (lambda: x.repeat(2, axis=1), lambda: x.clip(a_min=0), lambda: x.split(maxsplit=1)):
            with pytest.raises(TypeError):
                f()


LIST_CALLS = [
    ("flip", lambda x: x.flip(dims=(0, -1)), [(2, 3, 4)]),
    ("torch.flip", lambda x: lib(x).flip(x, dims=[1]), [(2, 3, 4)]),
    ("reshape", lambda x: x.reshape(shape=(4, 6)), [(2, 3, 4)]),
    ("torch.reshape", lambda x: lib(x).reshape(x, shape=(-1,)), [(2, 3, 4)]),
    ("view", lambda x: x.view(size=(6, 4)), [(2, 3, 4)]),
    ("permute", lambda x: x.permute(dims=(2, 0, 1)), [(2, 3, 4)]),
    ("torch.permute", lambda x: lib(x).permute(x, dims=(1, 0, 2)), [(2, 3, 4)]),
    ("expand", lambda x: x.expand(size=(2, 3, 4)), [(1, 3, 1)]),
    ("repeat", lambda x: x.repeat(repeats=(2, 1, 3)), [(2, 3, 4)]),
    ("tile", lambda x: x.tile(dims=(2,)), [(2, 3)]),
    ("broadcast_to", lambda x: lib(x).broadcast_to(x, size=(5, 3)), [(1, 3)]),
]


@pytest.mark.parametrize("name,fn,shapes", LIST_CALLS, ids=[c[0] for c in LIST_CALLS])
def test_size_and_dims_lists_by_keyword_as_torch(name, fn, shapes):
    check_op(fn, inputs=shapes)


def test_new_factories_take_size_by_keyword():
    for m in (tg, torch):
        x = m.ones(2, dtype=m.float64)
        for f in (x.new_zeros, x.new_ones, x.new_empty):
            y = f(size=(2, 3))
            assert tuple(y.shape) == (2, 3) and y.dtype == m.float64
    np.testing.assert_array_equal(tg.ones(1).new_ones(size=[4]).numpy(), np.ones(4, np.float32))


def test_list_keyword_with_a_positional_list_is_refused():
    with raises(TypeError, "reshape", "shape"):
        tg.ones(2, 3).reshape(3, shape=(2,))


def test_wrapped_function_keeps_its_signature_and_name():
    import inspect
    assert tg.sum.__name__ == "sum" and "dim" in inspect.signature(tg.sum).parameters
    assert tg.Tensor.flip.__name__ == "flip"


# ------------------------------------------------------------------------------------------------ alpha
ALPHA_CALLS = [
    ("add", lambda x, y: lib(x).add(x, y, alpha=2.5), [(3, 4), (3, 4)]),
    ("add broadcast", lambda x, y: lib(x).add(x, y, alpha=-0.5), [(3, 4), (4,)]),
    ("sub", lambda x, y: lib(x).sub(x, y, alpha=3), [(3, 4), (3, 4)]),
    ("subtract", lambda x, y: lib(x).subtract(x, y, alpha=0.25), [(3, 4), (1, 4)]),
    ("Tensor.add", lambda x, y: x.add(y, alpha=0.1), [(3, 4), (3, 4)]),
    ("Tensor.sub", lambda x, y: x.sub(y, alpha=-2), [(2, 3), (3,)]),
    ("add alpha 1", lambda x, y: x.add(y, alpha=1), [(2, 3), (2, 3)]),
    ("add scalar other", lambda x: x.add(3.0, alpha=2), [(2, 3)]),
    ("sub scalar first", lambda x: lib(x).sub(3.0, x, alpha=2), [(2, 3)]),
]


@pytest.mark.parametrize("name,fn,shapes", ALPHA_CALLS, ids=[c[0] for c in ALPHA_CALLS])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_alpha_as_torch(name, fn, shapes, dtype):
    check_op(fn, inputs=shapes, dtype=dtype)


def test_alpha_gradcheck():
    gradcheck_op(lambda x, y: tg.add(x, y, alpha=-1.7), [(3, 2), (3, 2)])
    gradcheck_op(lambda x, y: x.sub(y, alpha=0.3), [(3, 2), (2,)])


def test_alpha_integer_and_mixed_dtypes_as_torch():
    cases = [lambda m: m.add(m.tensor([1, 2]), m.tensor([3, 4]), alpha=3),
             lambda m: m.add(m.tensor([1, 2]), 3, alpha=2),
             lambda m: m.add(m.tensor([1, 2]), m.tensor([1.0, 2.0]), alpha=2.5),
             lambda m: m.sub(m.tensor([1.0, 2.0]), m.tensor([1, 2]), alpha=2),
             lambda m: m.add(m.tensor([True, False]), m.tensor([True, True]), alpha=2),
             lambda m: m.add(m.tensor([True, False]), m.tensor([True, True]), alpha=False),
             lambda m: m.tensor([1, 2]).add(m.tensor([5, 6]), alpha=-1),
             lambda m: m.add(m.tensor([1.0, 2.0]), m.tensor([1.0, 2.0]), alpha=2, out=m.empty(2))]
    for f in cases:
        a, b = f(tg), f(torch)
        assert str(a.dtype).split(".")[-1] == str(b.dtype).split(".")[-1]
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("call,msg", [
    (lambda m: m.add(m.tensor([1, 2]), m.tensor([1, 2]), alpha=1.0), "integral input tensors"),
    (lambda m: m.sub(m.tensor([1, 2]), 1, alpha=0.5), "integral input tensors"),
    (lambda m: m.add(m.tensor([1, 2]), m.tensor([1, 2]), alpha=True), "Boolean alpha"),
    (lambda m: m.tensor([1.0]).add(m.tensor([1.0]), alpha=1j), "non-complex"),
])
def test_alpha_refused_as_torch(call, msg):
    with raises(RuntimeError, msg):
        call(torch)
    with raises(RuntimeError, msg):
        call(tg)


def test_add_inplace_alpha_still_works():
    a, b = tg.ones(3), tg.full((3,), 2.0)
    a.add_(b, alpha=0.5).sub_(b, alpha=2)
    np.testing.assert_allclose(a.numpy(), [-2.0] * 3)


# ------------------------------------------------------------------------------------------------ autograd.grad
def _pair(m):
    x = m.tensor([1.0, -2.0, 3.0], dtype=m.float64, requires_grad=True)
    y = m.tensor([0.5, 4.0], dtype=m.float64, requires_grad=True)
    return x, y


def test_grad_only_inputs_accepted_as_torch():
    for m in (tg, torch):
        x, _ = _pair(m)
        out = (x ** 3).sum()
        g, = m.autograd.grad(outputs=out, inputs=x, grad_outputs=m.ones_like(out), create_graph=True,
                             retain_graph=True, only_inputs=True)
        (g2,) = m.autograd.grad(g.sum(), x)
        if m is tg:
            ours = (g.detach().numpy(), g2.numpy())
        else:
            np.testing.assert_allclose(ours[0], g.detach().numpy())
            np.testing.assert_allclose(ours[1], g2.numpy())


def test_grad_only_inputs_false_warns_as_torch():
    for m in (tg, torch):
        x, _ = _pair(m)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            m.autograd.grad(x.sum(), x, only_inputs=False)
        assert any(issubclass(i.category, FutureWarning) and "only_inputs" in str(i.message) for i in w), m


def test_grad_materialize_grads_as_torch():
    res = {}
    for m in (tg, torch):
        x, y = _pair(m)
        gx, gy = m.autograd.grad((x * x).sum(), [x, y], materialize_grads=True)
        res[m] = (gx.detach().numpy(), gy.detach().numpy())
        gx, gy = m.autograd.grad((x * x).sum(), [x, y], create_graph=True, materialize_grads=True)
        assert gy is not None and tuple(gy.shape) == (2,)
        assert m.autograd.grad((x * x).sum(), [x, y], allow_unused=True)[1] is None
        with pytest.raises(ValueError, match="allow_unused"):
            m.autograd.grad((x * x).sum(), [x, y], allow_unused=False, materialize_grads=True)
    for a, b in zip(res[tg], res[torch]):
        np.testing.assert_allclose(a, b)


def test_grad_unused_without_allow_unused_still_refused():
    for m in (tg, torch):
        x, y = _pair(m)
        with pytest.raises(RuntimeError):
            m.autograd.grad((x * x).sum(), [x, y])


def test_grad_is_grads_batched_refused():
    x, _ = _pair(tg)
    with raises(NotImplementedError, "is_grads_batched"):
        tg.autograd.grad(x.sum(), x, is_grads_batched=True)
