"""Comparisons with torch and gradchecks for Functions the coverage gate (tests/conftest.py) would otherwise miss:
floor_divide / remainder, and the nodes that differentiable backwards build (ops/graph.py: LinearMap, _Identity)."""
import numpy as np
import pytest
import torch

import tensorgrad as tg
from helpers import (COVERED, F, _ops_recorded, check_op, double_backward_raises, gradcheck_op, gradgradcheck_op,
                     lib, unif)


def test_remainder_against_torch_and_gradcheck():
    # a / b kept inside (2, 3): away from the jumps of floor(a / b), where the gradient is undefined
    ins = [unif(3, 4, low=2.2, high=2.8), unif(3, 4, low=1.0, high=1.05)]
    check_op(lambda a, b: a % b, inputs=ins)
    check_op(lambda a, b: lib(a).remainder(a, b), inputs=ins)
    gradcheck_op(lambda a, b: a % b, ins)
    gradgradcheck_op(lambda a, b: (a % b) * a, [tg.tensor(np.random.default_rng(0).uniform(2.2, 2.8, 5),
                                                          requires_grad=True),
                                                tg.tensor(np.random.default_rng(1).uniform(1.0, 1.05, 5),
                                                          requires_grad=True)])


def test_floor_divide_against_torch_and_its_missing_derivative():
    rng = np.random.default_rng(0)
    a, b = rng.uniform(-5, 5, (3, 4)), rng.uniform(0.5, 2, (3, 4))
    with _ops_recorded(set()) as ran:
        got = tg.tensor(a, requires_grad=True) // tg.tensor(b)
    want = torch.tensor(a, requires_grad=True) // torch.tensor(b)
    np.testing.assert_array_equal(got.detach().numpy(), want.detach().numpy())
    _no_derivative_on_both_sides(got, want, ran, "FloorDivide", torch_says="floor_divide", we_say="floor_divide")


def _no_derivative_on_both_sides(got, want, ran, op, torch_says, we_say):
    """torch defines no derivative for op: backward is an error on both sides, so the "gradient check" is that it
    raises; the op then counts as compared and checked."""
    with pytest.raises(RuntimeError, match=torch_says):
        want.sum().backward()
    with pytest.raises(RuntimeError, match=we_say):
        got.sum().backward()
    assert op in ran
    COVERED["torch"].update(ran)
    COVERED["gradcheck"].update(ran)
    COVERED["gradgradcheck"].update(ran)


def test_scatter_multiply_against_torch_and_its_missing_derivative():
    rng = np.random.default_rng(3)
    a, src = rng.uniform(-2, 2, (4, 3)), rng.uniform(-2, 2, (2, 3))
    idx = np.array([[0, 1, 3], [0, 2, 3]])  # (a repeated place: the products multiply there)
    with _ops_recorded(set()) as ran:
        got = tg.tensor(a, requires_grad=True).scatter(0, tg.tensor(idx), tg.tensor(src), reduce="multiply")
    want = torch.tensor(a, requires_grad=True).scatter(0, torch.tensor(idx), torch.tensor(src), reduce="multiply")
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-15)
    _no_derivative_on_both_sides(got, want, ran, "ScatterMultiply", torch_says="", we_say="multiply")


def _fd_check(fn, x0, eps=1e-6, rtol=1e-4, atol=1e-6):
    """Float64 central differences of w . fn(x) against its autograd gradient (gradcheck_op cannot be used: fn takes
    a gradient itself, so it must run with grad recording on)."""
    w = np.random.default_rng(7).standard_normal(fn(tg.tensor(x0, requires_grad=True)).shape)

    def scalar(x):
        return float((fn(tg.tensor(x, requires_grad=True)) * tg.tensor(w)).sum())
    x = tg.tensor(x0, requires_grad=True)
    with _ops_recorded(set()) as ran:
        (got,) = tg.autograd.grad((fn(x) * tg.tensor(w)).sum(), x)
    want = np.zeros_like(x0)
    for i in np.ndindex(x0.shape):
        d = np.zeros_like(x0)
        d[i] = eps
        want[i] = (scalar(x0 + d) - scalar(x0 - d)) / (2 * eps)
    np.testing.assert_allclose(got.numpy(), want, rtol=rtol, atol=atol)
    COVERED["gradcheck"].update(ran)


def test_graph_nodes_of_differentiable_backwards_against_torch():
    # A first derivative taken with create_graph=True is itself a function of x: compared with torch's (value and
    # gradient) and checked by finite differences, it exercises LinearMap (indexing's backward), LayerNormBackward,
    # SoftmaxCrossEntropyBackward and _Identity (the recomputed backward of a fused op).
    def index_grad(x):
        return lib(x).autograd.grad((x[[0, 2, 2]] ** 3).sum(), x, create_graph=True)[0]

    def layer_norm_grad(x):
        return lib(x).autograd.grad((F(x).layer_norm(x, (3,)) * x).sum(), x, create_graph=True)[0]

    def cross_entropy_grad(x):
        return lib(x).autograd.grad(F(x).cross_entropy(x * x, lib(x).tensor([0, 2, 1, 1])), x, create_graph=True)[0]

    def batch_norm_grad(x):  # batch norm's double backward recomputes it in plain ops (vjp_by_recompute)
        return lib(x).autograd.grad((F(x).batch_norm(x, None, None, training=True) * x).sum(), x,
                                    create_graph=True)[0]

    for fn in (index_grad, layer_norm_grad, cross_entropy_grad, batch_norm_grad):
        check_op(fn, inputs=[unif(4, 3)])
        _fd_check(fn, np.random.default_rng(3).uniform(-1, 1, (4, 3)))
    for name in ("LinearMap", "_Identity", "LayerNormBackward", "SoftmaxCrossEntropyBackward"):
        assert name in COVERED["torch"] and name in COVERED["gradcheck"], name
