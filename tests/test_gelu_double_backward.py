"""gelu_double_backward, GELU's gradient differentiated (the Hessian-vector products' GELU): the fused CPU kernel
(csrc/cpu/gelu.cpp) against its reference (backend/reference.py) and finite differences of gelu_backward, both
forms, float32/float64 (bfloat16 and float16 through float32), each output alone; then second and third derivatives
through tensorgrad against torch's."""
import numpy as np
import pytest
import torch

import tensorgrad as tg
from tensorgrad.backend import cpu, reference as R
from tensorgrad.dtypes import bfloat16 as BF16

FORMS = ["none", "tanh"]


def _inputs(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * 3
    x.flat[:4] = [0.0, -0.0, 8.5, -9.0][: x.size] if x.size >= 4 else x.flat[:4]   # tails where phi underflows
    return tuple(a.astype(dtype) for a in (rng.standard_normal(shape), rng.standard_normal(shape), x))


@pytest.mark.parametrize("approximate", FORMS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1,), (7,), (3, 5, 17), (0, 4), (768, 512)])
def test_kernel_matches_reference(approximate, dtype, shape):
    args = _inputs(shape, dtype)
    # float64 reference on the same values: a float32 reference loses 1 - tanh^2 to cancellation at large |x|
    want = R.gelu_double_backward(*(a.astype(np.float64) for a in args), approximate, True, True)
    got = cpu.gelu_double_backward(*args, approximate, True, True)
    tol = dict(rtol=2e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-12)
    for w_, g_ in zip(want, got):
        assert g_.dtype == dtype and g_.shape == shape
        np.testing.assert_allclose(g_, w_, **tol)


@pytest.mark.parametrize("approximate", FORMS)
def test_matches_finite_differences_of_the_backward(approximate):
    gg, dy, x = _inputs((40,), np.float64, seed=2)
    d_dy, d_x = cpu.gelu_double_backward(gg, dy, x, approximate, True, True)
    eps = 1e-6

    def f(dy, x):
        return (gg * R.gelu_backward(dy, x, approximate)).sum()
    num_x = np.array([(f(dy, x + eps * e) - f(dy, x - eps * e)) / (2 * eps) for e in np.eye(x.size)])
    num_dy = np.array([(f(dy + eps * e, x) - f(dy - eps * e, x)) / (2 * eps) for e in np.eye(x.size)])
    np.testing.assert_allclose(d_x, num_x, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(d_dy, num_dy, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("need", [(True, False), (False, True), (False, False)])
def test_only_what_is_needed(need):
    args = _inputs((9,), np.float64)
    full = R.gelu_double_backward(*args, "none", True, True)
    for n, g_, w_ in zip(need, cpu.gelu_double_backward(*args, "none", *need), full):
        if n:
            np.testing.assert_allclose(g_, w_, rtol=1e-12)
        else:
            assert g_ is None


@pytest.mark.parametrize("dtype", [np.float16, BF16])
def test_half_dtypes_compute_in_float32(dtype):
    args = _inputs((64,), dtype)
    want = R.gelu_double_backward(*(a.astype(np.float32) for a in args), "tanh", True, True)
    for g_, w_ in zip(cpu.gelu_double_backward(*args, "tanh", True, True), want):
        assert g_.dtype == dtype
        np.testing.assert_allclose(g_.astype(np.float32), w_.astype(dtype).astype(np.float32), rtol=1e-2, atol=1e-2)


def test_kernel_refuses_bad_input_with_the_op_named():
    import tensorgrad._C as C
    gg, dy, x = _inputs((4, 6), np.float32)
    with pytest.raises((ValueError, TypeError), match="gelu_double_backward.*shape"):
        C.gelu_double_backward(gg[:, :5].copy(), dy, x, "none", True, True)
    with pytest.raises((ValueError, TypeError), match="gelu_double_backward"):
        C.gelu_double_backward(gg, dy.astype(np.float64), x, "none", True, True)
    with pytest.raises((ValueError, TypeError), match="gelu_double_backward.*approximate"):
        C.gelu_double_backward(gg, dy, x, "erf", True, True)


@pytest.mark.parametrize("approximate", FORMS)
def test_second_and_third_derivatives_against_torch(approximate):
    rng = np.random.default_rng(4)
    x0, c0, v0 = (rng.standard_normal((5, 8)) for _ in range(3))
    out = []
    for lib in (tg, torch):
        x = tg.tensor(x0, requires_grad=True) if lib is tg else torch.tensor(x0, requires_grad=True)
        c = tg.tensor(c0) if lib is tg else torch.tensor(c0)
        v = tg.tensor(v0) if lib is tg else torch.tensor(v0)
        F = tg.nn.functional if lib is tg else torch.nn.functional
        g, = lib.autograd.grad((F.gelu(x, approximate=approximate) * c).sum(), [x], create_graph=True)
        h, = lib.autograd.grad((g * v).sum(), [x], create_graph=True)
        t, = lib.autograd.grad((h * h).sum(), [x])
        out.append([a.detach().numpy() for a in (g, h, t)])
    for a, b in zip(*out):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-10)
