"""layernorm_double_backward, the derivative of layer norm's backward (the Hessian-vector products' layer norm): the
fused CPU kernel (csrc/cpu/layernorm.cpp) against its reference (backend/reference.py) and against finite
differences of layernorm_backward itself, over shapes, with and without a weight, each output alone, float32 and
float64, float16 through float32; then through tensorgrad's second derivatives against torch's."""
import numpy as np
import pytest
import torch

import tensorgrad as tg
from tensorgrad.backend import cpu, reference as R

SHAPES = [(1, 1), (3, 5), (7, 64), (33, 129), (0, 8), (300, 768)]


def _inputs(shape, dtype, weight=True, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 2 + 0.5).astype(dtype)
    w = (rng.standard_normal(shape[1]) + 1).astype(dtype) if weight else None
    _, mean, rstd = R.layernorm_forward(x, w, None, 1e-5)
    dy, a = (rng.standard_normal(shape).astype(dtype) for _ in range(2))
    return a, dy, x, w, mean, rstd


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weight", [True, False])
def test_kernel_matches_reference(shape, dtype, weight):
    args = _inputs(shape, dtype, weight)
    want = R.layernorm_double_backward(*args, True, True, True)
    got = cpu.layernorm_double_backward(*args, True, True, True)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-11)
    for name, w_, g_ in zip(("ddy", "dx", "dweight"), want, got):
        if w_ is None:
            assert g_ is None and (name == "dweight" and not weight), name
            continue
        assert g_.dtype == w_.dtype and g_.shape == w_.shape, name
        np.testing.assert_allclose(g_, w_, err_msg=name, **tol)


@pytest.mark.parametrize("flags", [(True, False, False), (False, True, False), (False, False, True),
                                   (True, False, True), (False, False, False)])
def test_only_what_is_needed(flags):
    args = _inputs((6, 10), np.float64)
    got = cpu.layernorm_double_backward(*args, *flags)
    full = R.layernorm_double_backward(*args, True, True, True)
    for need, g_, w_ in zip(flags, got, full):
        if need:
            np.testing.assert_allclose(g_, w_, rtol=1e-12, atol=1e-12)
        else:
            assert g_ is None


def test_matches_finite_differences_of_the_backward():
    """<a, dx(dy, x, w)> differentiated numerically in dy, x and w (float64), mean and rstd recomputed from x."""
    a, dy, x, w, _, _ = _inputs((4, 7), np.float64, seed=3)

    def f(dy, x, w):
        _, mean, rstd = R.layernorm_forward(x, w, None, 1e-5)
        return float((a * R.layernorm_backward(dy, x, w, mean, rstd)[0]).sum())
    _, mean, rstd = R.layernorm_forward(x, w, None, 1e-5)
    got = cpu.layernorm_double_backward(a, dy, x, w, mean, rstd, True, True, True)
    eps = 1e-6
    for k, arr in enumerate((dy, x, w)):
        num = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            args = [dy.copy(), x.copy(), w.copy()]
            args[k][idx] += eps
            hi = f(*args)
            args[k][idx] -= 2 * eps
            num[idx] = (hi - f(*args)) / (2 * eps)
        np.testing.assert_allclose(got[k], num, rtol=1e-6, atol=1e-6)


def test_float16_computes_in_float32():
    a, dy, x, w, mean, rstd = _inputs((5, 16), np.float16)
    got = cpu.layernorm_double_backward(a, dy, x, w, mean, rstd, True, True, True)
    want = R.layernorm_double_backward(*(v.astype(np.float32) for v in (a, dy, x, w)), mean, rstd, True, True, True)
    for g_, w_ in zip(got, want):
        assert g_.dtype == np.float16
        np.testing.assert_allclose(g_.astype(np.float32), w_, rtol=1e-2, atol=1e-2)


def test_kernel_refuses_bad_input_with_the_op_named():
    import tensorgrad._C as C
    a, dy, x, w, mean, rstd = _inputs((4, 6), np.float32)
    with pytest.raises((ValueError, TypeError), match="layernorm_double_backward"):
        C.layernorm_double_backward(a[:, :5].copy(), dy, x, w, mean, rstd, True, True, True)
    with pytest.raises((ValueError, TypeError), match="layernorm_double_backward"):
        C.layernorm_double_backward(a.astype(np.float64), dy, x, w, mean, rstd, True, True, True)


@pytest.mark.parametrize("weight", [True, False])
def test_second_derivatives_against_torch(weight):
    rng = np.random.default_rng(5)
    x0 = rng.standard_normal((6, 32))
    w0 = rng.standard_normal(32) + 1 if weight else None
    v0, c0 = rng.standard_normal((6, 32)), rng.standard_normal((6, 32))
    out = []
    for lib in (tg, torch):
        t = (lambda a: tg.tensor(a, requires_grad=True)) if lib is tg else (lambda a: torch.tensor(a, requires_grad=True))
        x, w = t(x0), (t(w0) if weight else None)
        F = tg.nn.functional if lib is tg else torch.nn.functional
        y = F.layer_norm(x, (32,), w, None, 1e-5)
        c = tg.tensor(c0) if lib is tg else torch.tensor(c0)
        ins = [x] + ([w] if weight else [])
        gs = lib.autograd.grad((y * c).sum(), ins, create_graph=True)
        v = tg.tensor(v0) if lib is tg else torch.tensor(v0)
        s = (gs[0] * v).sum() + (sum(g.sum() for g in gs[1:]) if weight else 0)
        out.append([g.detach().numpy() for g in lib.autograd.grad(s, ins)])
    for a, b in zip(*out):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)
