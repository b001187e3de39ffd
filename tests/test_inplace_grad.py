"""In-place ops when a gradient is recorded, against torch: `acc += loss` (a tensor that does not require grad taking
a result that does), in-place ops on non-leaf tensors (torchvision's `out += identity`), copy_ from a tensor that
requires grad, and what is refused: a leaf that requires grad (as torch), a result dtype torch cannot cast (as torch),
and an in-place op recording a gradient on memory something else than a view also sees (.data, an op's saved output:
torch writes and refuses at backward; tensorgrad raises at once). Writes through views: tests/test_view_inplace.py."""
import numpy as np
import pytest
import torch

import tensorgrad as tg


def _both(fn, *arrays):
    """fn(lib, *leaves) on both libraries; returns the leaves' gradients after out.sum().backward()."""
    grads = []
    for lib in (tg, torch):
        leaves = [lib.tensor(a, requires_grad=True) for a in arrays]
        out = fn(lib, *leaves)
        out.sum().backward()
        grads.append([None if leaf.grad is None else np.asarray(leaf.grad.detach() if lib is tg else leaf.grad)
                      for leaf in leaves])
    for ours, theirs in zip(*grads):
        assert (ours is None) == (theirs is None)
        if ours is not None:
            np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-7)


A = np.array([0.5, 1.5, 2.0, 3.0])
B = np.array([1.0, -2.0, 0.25, 4.0])


def test_accumulating_into_a_plain_tensor_keeps_the_gradient():
    def f(lib, w, v):
        acc = lib.zeros(4, dtype=lib.float64)
        acc += w * 2           # acc did not require grad: it now has w's history, as in torch
        acc -= v
        acc *= w
        return acc + w
    _both(f, A, B)


@pytest.mark.parametrize("op", ["add_", "sub_", "mul_", "div_", "iadd", "imul", "itruediv", "clamp_", "sqrt_",
                                "exp_", "sigmoid_", "tanh_", "relu_", "masked_fill_", "nan_to_num_", "pow_"])
def test_inplace_on_a_non_leaf_matches_torch(op):
    def f(lib, w, v):
        h = w * 3 + 1          # a non-leaf
        if op == "iadd":
            h += v
        elif op == "imul":
            h *= v
        elif op == "itruediv":
            h /= (v.abs() + 1)
        elif op in ("add_", "sub_", "mul_"):
            getattr(h, op)(v)
        elif op == "div_":
            h.div_(v.abs() + 1)
        elif op == "clamp_":
            h.clamp_(min=3.0, max=9.0)
        elif op == "masked_fill_":
            h.masked_fill_(v > 0, 0.5)
        elif op == "nan_to_num_":
            h.nan_to_num_()
        elif op == "pow_":
            h.pow_(2)
        else:
            getattr(h, op)()
        return h * w
    _both(f, A, B)


def test_resnet_style_residual_block():
    def f(lib, x, w):
        out = x * w + 1        # (a conv + batch norm there)
        out += x               # torchvision's BasicBlock: out += identity
        out = lib.nn.functional.relu(out, inplace=True)
        return out
    _both(f, A, B)


def test_copy_from_a_tensor_that_requires_grad():
    def f(lib, w, v):
        buf = lib.zeros(4, dtype=lib.float64)
        buf.copy_(w * v)
        return buf * 2
    _both(f, A, B)


def test_the_op_keeps_the_value_it_saved():
    """h *= w saves h's old value for w's gradient (torch's original_self); a later write must not change it."""
    def f(lib, w, v):
        h = w + v
        h *= w
        h += 10
        return h
    _both(f, A, B)


def test_refusals():
    w = tg.tensor(A, requires_grad=True)
    with pytest.raises(RuntimeError, match="add_ \\(\\+=\\): in-place operation on a leaf tensor that requires grad"):
        w += 1
    with pytest.raises(RuntimeError, match="result type float32 can't be cast to the desired output type int64"):
        i = tg.tensor([1, 2])
        i += tg.tensor([0.5, 0.5])
    h = w * 2
    view = h[:2]
    h += w                    # a view shares the memory: written, and the view's history rewritten (test_view_inplace)
    np.testing.assert_allclose(view.detach().numpy(), 3 * A[:2])
    y = w.exp()               # Exp saved its output: written (as torch), and the backward that reads it refuses
    y += w
    with pytest.raises(RuntimeError, match="ExpBackward0: one of the arrays saved for the gradient .* was modified in place"):
        y.sum().backward()
    y = w.exp()
    with tg.no_grad():        # nothing recorded: written into the memory, aliases see it
        y += 1
    np.testing.assert_allclose(y.detach().numpy(), np.exp(A) + 1)


def _loose_aliases(lib):
    """In-place writes recording a gradient into memory shared outside autograd's views (detach(), from_numpy):
    torch writes the memory and gives only the written tensor the op's history (guided-diffusion's fp16 master
    weights: param.detach().copy_(flat_master_view))."""
    out = []
    p = lib.nn.Parameter(lib.tensor(np.arange(6.0)))
    master = lib.tensor(np.linspace(-1, 1, 10), requires_grad=True)
    d = p.detach()
    d.copy_(master[2:8] * 3)
    out += [p.detach().numpy().copy(), d.requires_grad, p.grad_fn is None]
    (d * d).sum().backward()
    out.append(master.grad.numpy().copy())
    w = lib.tensor(np.arange(1.0, 7.0), requires_grad=True)
    q = lib.tensor(np.arange(6.0) + 1)
    e = q.detach()
    e.mul_(w)                 # the gradient toward w reads q's values from before the write
    e.sum().backward()
    out += [w.grad.numpy().copy(), q.numpy().copy()]
    arr = np.ones(3)
    t = lib.from_numpy(arr)
    v = lib.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    t.add_(v * 2)
    t.sum().backward()
    out += [arr.copy(), v.grad.numpy().copy()]
    return out


def test_inplace_on_a_detached_alias_records_as_torch():
    for a, b in zip(_loose_aliases(torch), _loose_aliases(tg)):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a))


def test_without_grad_the_write_goes_into_the_memory():
    base = tg.tensor(np.zeros(4))
    view = base[1:3]
    view += 5
    np.testing.assert_array_equal(base.numpy(), [0, 5, 5, 0])


@pytest.mark.parametrize("act", ["relu", "leaky_relu", "silu", "hardtanh", "elu"])
def test_functional_inplace_on_a_non_leaf_changes_it_as_torch(act):
    """F.<act>(h, inplace=True) with its result discarded: h itself holds the activation, with its gradient."""
    def f(lib, w, v):
        h = w * v + 0.5
        fn = getattr(lib.nn.functional, act)
        out = fn(h, inplace=True)
        assert out is h
        return h * w
    _both(f, A, B)


def _put_basic(x, v):
    h = x * 1.0
    h[1:3, 0] = v
    return h


def _put_advanced(x, v):
    h = x * 1.0
    h[[2, 0], 1:] = v
    return h


def _put_repeated(x, v):
    h = x * 1.0
    h[[0, 2, 0], 1:] = v  # a repeated row: each value gets that position's gradient, as torch (not a derivative)
    return h


def _put_mixed(x, v):
    h = x * 1.0
    h[0, [2, 1]] = v[0]  # torch's order: the int selects first
    return h


@pytest.mark.parametrize("fn, v_shape", [(_put_basic, (2,)), (_put_basic, ()), (_put_advanced, (2, 2)),
                                         (_put_advanced, (1, 2)), (_put_mixed, (1, 2)), (_put_repeated, (3, 2))])
def test_setitem_under_autograd_against_torch_and_gradchecked(fn, v_shape):
    from helpers import check_op, gradcheck_op, gradgradcheck_op
    check_op(fn, inputs=[(3, 3), v_shape])
    if fn is _put_repeated:
        return
    gradcheck_op(fn, [(3, 3), v_shape])
    rng = np.random.default_rng(0)
    gradgradcheck_op(lambda x, v: fn(x, v) ** 2, [tg.tensor(rng.standard_normal((3, 3)), requires_grad=True),
                                                   tg.tensor(rng.standard_normal(v_shape), requires_grad=True)])
