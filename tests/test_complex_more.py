"""Complex input of the ops in ops/complex_more.py and of the norms, against torch: forward and every gradient,
gradcheck and gradgradcheck in float64, in test_complex.py's way (z = complex(a, b) of real inputs, a real output,
so the gradients compared are dL/da and dL/db: the real and imaginary parts of torch's z.grad)."""
import math

import numpy as np
import pytest
import torch

import tensorgrad as tg
from helpers import check_op, gradcheck_op, gradgradcheck_op, make_inputs, lib, F, nz, unif, raises
from test_complex import Z, R


def T(x, data, dtype=None):
    return lib(x).tensor(data, dtype=dtype)


def with_zeros(*shape, at=(0,)):
    """Normal floats with exact zeros at the flat positions ``at`` (a complex 0 when both parts use it)."""
    x = np.random.default_rng(7).standard_normal(shape)
    x.reshape(-1)[list(at)] = 0
    return x


IDX = [[0, 2, 1], [2, 2, 0]]

# name -> (f(a, b, c, d): real output built through complex ops, input specs)
CASES = {
    # norms: of |z|, real, with z / |z| (times the real norm's factor) in the gradient
    "vector_norm": (lambda a, b, c, d: lib(a).linalg.vector_norm(Z(a, b)), [(3, 4), (3, 4), (1,), (1,)]),
    "vector_norm_dim": (lambda a, b, c, d: lib(a).linalg.vector_norm(Z(a, b), 2, (0, 2), keepdim=True),
                        [(2, 3, 4), (2, 3, 4), (1,), (1,)]),
    "vector_norm_p1": (lambda a, b, c, d: lib(a).linalg.vector_norm(Z(a, b), 1, -1), [(3, 5), (3, 5), (1,), (1,)]),
    "vector_norm_p3": (lambda a, b, c, d: lib(a).linalg.vector_norm(Z(a, b), 3, 0), [(4, 2), (4, 2), (1,), (1,)]),
    "vector_norm_p05": (lambda a, b, c, d: lib(a).linalg.vector_norm(Z(a, b), 0.5, 1), [nz(2, 3), nz(2, 3), (1,), (1,)]),
    "vector_norm_inf": (lambda a, b, c, d: lib(a).linalg.vector_norm(Z(a, b), math.inf, 1)
                        + lib(a).linalg.vector_norm(Z(a, b), -math.inf, 1), [(3, 4), (3, 4), (1,), (1,)]),
    "vector_norm_p0": (lambda a, b, c, d: lib(a).linalg.vector_norm(Z(a, b), 0, 1) * c, [(2, 3), (2, 3), (2,), (1,)]),
    "vector_norm_at_zero": (lambda a, b, c, d: lib(a).linalg.vector_norm(Z(a * c, b * c), 2, 1),
                            [(3, 4), (3, 4), np.array([[1.0], [0.0], [2.0]]), (1,)]),
    "vector_norm_empty": (lambda a, b, c, d: lib(a).linalg.vector_norm(Z(a, b), 2, 0), [(0, 3), (0, 3), (1,), (1,)]),
    "vector_norm_one": (lambda a, b, c, d: lib(a).linalg.vector_norm(Z(a, b)), [(1,), (1,), (1,), (1,)]),
    "linalg_norm": (lambda a, b, c, d: lib(a).linalg.norm(Z(a, b), dim=1) + lib(a).linalg.norm(Z(a, b)),
                    [(3, 2), (3, 2), (1,), (1,)]),
    "matrix_norm_fro": (lambda a, b, c, d: lib(a).linalg.matrix_norm(Z(a, b)), [(2, 3, 4), (2, 3, 4), (1,), (1,)]),
    "matrix_norm_1_inf": (lambda a, b, c, d: lib(a).linalg.matrix_norm(Z(a, b), 1)
                          + lib(a).linalg.matrix_norm(Z(a, b), -math.inf), [(2, 3, 4), (2, 3, 4), (1,), (1,)]),
    "tensor_norm": (lambda a, b, c, d: Z(a, b).norm() + Z(a, b).norm(p=1, dim=0).sum() + lib(a).norm(Z(a, b), dim=1),
                    [(3, 3), (3, 3), (1,), (1,)]),
    "normalize": (lambda a, b, c, d: R(F(a).normalize(Z(a, b), dim=1)), [(2, 3, 2), (2, 3, 2), (1,), (1,)]),
    "normalize_p1": (lambda a, b, c, d: R(F(a).normalize(Z(a, b) * c, p=1, dim=0)), [(4, 3), (4, 3), (3,), (1,)]),
    # linear: x @ W^T + b, the bias broadcast over the batch
    "linear": (lambda a, b, c, d: R(F(a).linear(Z(a, b), Z(c, d), Z(c[:, 0], d[:, 1]))),
               [(2, 5, 3), (2, 5, 3), (4, 3), (4, 3)]),
    "linear_nobias": (lambda a, b, c, d: R(F(a).linear(Z(a, b), Z(c, d))), [(3,), (3,), (2, 3), (2, 3)]),
    "linear_empty": (lambda a, b, c, d: F(a).linear(Z(a, b), Z(c, d)).abs(), [(0, 3), (0, 3), (2, 3), (2, 3)]),
    # var / std: real, of |z - mean|^2
    "var": (lambda a, b, c, d: Z(a, b).var() + Z(a, b).var(1, keepdim=True).sum(), [(3, 4), (3, 4), (1,), (1,)]),
    "var_correction": (lambda a, b, c, d: lib(a).var(Z(a, b), (0, 2), correction=0), [(2, 3, 4), (2, 3, 4), (1,), (1,)]),
    "std": (lambda a, b, c, d: Z(a, b).std(0) + Z(a, b).std(), [(4, 3), (4, 3), (1,), (1,)]),
    "std_unbiased": (lambda a, b, c, d: Z(a, b).std(-1, unbiased=False, keepdim=True), [(3, 5), (3, 5), (1,), (1,)]),
    "var_mean": (lambda a, b, c, d: [R(x) for x in lib(a).var_mean(Z(a, b), 1)], [(3, 4), (3, 4), (1,), (1,)]),
    "std_mean": (lambda a, b, c, d: [R(x) for x in lib(a).std_mean(Z(a, b), 0)], [(3, 4), (3, 4), (1,), (1,)]),
    # prod / cumprod: holomorphic; the rule with zeros (products of the others) as torch's
    "prod": (lambda a, b, c, d: R(Z(a, b).prod() + Z(a, b).prod(1).sum()), [(3, 4), (3, 4), (1,), (1,)]),
    "prod_keepdim": (lambda a, b, c, d: R(Z(a, b).prod(0, keepdim=True) * Z(c, d)), [(3, 2), (3, 2), (2,), (2,)]),
    "prod_zero": (lambda a, b, c, d: R(Z(a, b).prod(1)), [with_zeros(3, 4, at=(1, 6)), with_zeros(3, 4, at=(1, 6)),
                                                          (1,), (1,)]),
    "prod_empty": (lambda a, b, c, d: R(Z(a, b).prod(0)), [(0, 3), (0, 3), (1,), (1,)]),
    "cumprod": (lambda a, b, c, d: R(Z(a, b).cumprod(1)), [(3, 4), (3, 4), (1,), (1,)]),
    "cumprod_zero": (lambda a, b, c, d: R(Z(a, b).cumprod(0)), [with_zeros(4, 2, at=(2,)), with_zeros(4, 2, at=(2,)),
                                                                (1,), (1,)]),
    # inverse trigonometric / hyperbolic: holomorphic, torch's branches
    "asin_acos": (lambda a, b, c, d: R(Z(a, b).asin() + Z(c, d).acos()), [(2, 3), (2, 3), (3,), (3,)]),
    "atan": (lambda a, b, c, d: R(Z(a, b).atan()), [(5,), unif(5, low=-0.8, high=0.8), (1,), (1,)]),
    "asinh_acosh": (lambda a, b, c, d: R(Z(a, b).asinh() * Z(c, d).acosh()), [(4,), (4,), (4,), nz(4)]),
    "atanh": (lambda a, b, c, d: R(lib(a).atanh(Z(a, b))), [unif(5, low=-0.8, high=0.8), (5,), (1,), (1,)]),
    # scatters: linear
    "scatter_add": (lambda a, b, c, d: R(Z(a, b).scatter_add(1, T(a, IDX), Z(c, d))), [(2, 4), (2, 4), (2, 3), (2, 3)]),
    "scatter": (lambda a, b, c, d: R(Z(a, b).scatter(1, T(a, [[0, 2], [3, 1]]), Z(c, d))),
                [(2, 4), (2, 4), (2, 2), (2, 2)]),
    "index_add": (lambda a, b, c, d: R(Z(a, b).index_add(0, T(a, [1, 0, 1]), Z(c, d), alpha=2)),
                  [(2, 3), (2, 3), (3, 3), (3, 3)]),
    "gather": (lambda a, b, c, d: R(Z(a, b).gather(1, T(a, IDX))), [(2, 4), (2, 4), (1,), (1,)]),
    # ops that once cast an integer input to a float, and now keep a complex one complex (util.to_float)
    "ldexp": (lambda a, b, c, d: R(lib(a).ldexp(Z(a, b), T(a, [1, 0, 3]))), [(2, 3), (2, 3), (1,), (1,)]),
    "gradient": (lambda a, b, c, d: [R(x) for x in lib(a).gradient(Z(a, b), spacing=2.0)], [(3, 4), (3, 4), (1,), (1,)]),
    "trapezoid": (lambda a, b, c, d: R(lib(a).trapezoid(Z(a, b), c, dim=0) + lib(a).cumulative_trapezoid(Z(a, b), dim=0)
                                       .sum(0)), [(3, 4), (3, 4), (3,), (1,)]),
    "cov": (lambda a, b, c, d: R(lib(a).cov(Z(a, b), aweights=c.abs() + 0.5)), [(3, 5), (3, 5), (5,), (1,)]),
    "float_power": (lambda a, b, c, d: R(lib(a).float_power(Z(a, b), 2) + lib(a).float_power(c, Z(a, b))),
                    [(4,), (4,), unif(4, low=0.5, high=2), (1,)]),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_forward_and_grad_vs_torch(name, dtype):
    f, specs = CASES[name]
    check_op(f, inputs=specs, dtype=dtype)


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradcheck(name):
    f, specs = CASES[name]
    gradcheck_op(f, specs)


# (the second derivative of a norm at a zero norm is NaN, torch's too: first derivatives only there)
@pytest.mark.parametrize("name", sorted(set(CASES) - {"vector_norm_at_zero"}))
def test_gradgradcheck(name):
    f, specs = CASES[name]
    data, diff = make_inputs(specs, np.float64, seed=3)
    gradgradcheck_op(f, [tg.tensor(x, requires_grad=d) for x, d in zip(data, diff)])


@pytest.mark.parametrize("seed", range(6))
def test_random_shapes_vs_torch(seed):
    """Random shapes and dims (some empty) through the norms, var / std, prod / cumprod and linear; a complex leaf's
    .grad against torch's."""
    rng = np.random.default_rng(seed)
    nd = int(rng.integers(1, 4))
    shape = tuple(int(s) for s in rng.integers(0 if seed % 3 == 0 else 1, 4, nd))
    z0 = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    dim = int(rng.integers(-nd, nd))
    w0 = rng.standard_normal((2, shape[-1] + 1)) + 1j * rng.standard_normal((2, shape[-1] + 1))
    fns = [lambda m, z, w: m.linalg.vector_norm(z, 2, dim), lambda m, z, w: m.linalg.vector_norm(z, 1),
           lambda m, z, w: z.var(dim), lambda m, z, w: z.std(dim, keepdim=True), lambda m, z, w: z.prod(dim),
           lambda m, z, w: z.cumprod(dim), lambda m, z, w: m.nn.functional.linear(z, w[:, 1:], w[:, 0]),
           lambda m, z, w: m.nn.functional.normalize(z, dim=dim)]
    for f in fns:
        outs, grads = [], []
        for m in (tg, torch):
            z, w = m.tensor(z0, requires_grad=True), m.tensor(w0, requires_grad=True)
            out = f(m, z, w)
            cot = np.random.default_rng(1).standard_normal(tuple(out.shape))
            loss = (m.view_as_real(out) if out.is_complex() else out) * m.tensor(
                np.stack([cot, cot * 0.5], -1) if out.is_complex() else cot)
            loss.sum().backward()
            outs.append(np.asarray(out.detach().numpy()))
            grads.append([np.zeros_like(v) if t.grad is None else np.asarray(t.grad.detach().numpy())
                          for t, v in ((z, z0), (w, w0))])
        assert outs[0].dtype == outs[1].dtype and outs[0].shape == outs[1].shape
        np.testing.assert_allclose(outs[0], outs[1], rtol=1e-10, atol=1e-12, equal_nan=True)
        for g, h in zip(*grads):
            assert g.dtype == np.complex128
            np.testing.assert_allclose(g, h, rtol=1e-9, atol=1e-11, equal_nan=True)


def test_nn_linear_complex_module():
    """nn.Linear(dtype=cfloat): complex parameters initialized as torch's (each part uniform), trained by a step."""
    tg.manual_seed(0)
    m = tg.nn.Linear(3, 2, dtype=tg.cfloat)
    assert m.weight.dtype == tg.complex64 and m.bias.dtype == tg.complex64
    tm = torch.nn.Linear(3, 2, dtype=torch.cfloat)
    with torch.no_grad():
        tm.weight.copy_(torch.tensor(m.weight.detach().numpy()))
        tm.bias.copy_(torch.tensor(m.bias.detach().numpy()))
    bound = 1 / math.sqrt(3)
    w = m.weight.detach().numpy()
    assert np.abs(w.real).max() <= bound and np.abs(w.imag).max() <= bound and np.abs(w.imag).max() > 0
    x0 = (np.random.default_rng(0).standard_normal((5, 3)) + 1j).astype(np.complex64)
    for mod, lib_ in ((m, tg), (tm, torch)):
        opt = lib_.optim.SGD(mod.parameters(), lr=0.1)
        loss = mod(lib_.tensor(x0)).abs().pow(2).mean()
        loss.backward()
        opt.step()
    np.testing.assert_allclose(m.weight.detach().numpy(), tm.weight.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(m.bias.detach().numpy(), tm.bias.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_gradcheck_takes_complex_inputs_and_outputs():
    """tensorgrad.autograd.gradcheck / gradgradcheck on complex128 inputs and complex outputs, as torch's: the ops of
    this file pass (torch's gradcheck agrees), and a backward missing its conjugate is caught."""
    rng = np.random.default_rng(0)
    z0 = rng.standard_normal((3, 3)) + 1j * rng.standard_normal((3, 3))
    x0 = rng.standard_normal(3)
    fns = [lambda m, z, x: z.asin() * x, lambda m, z, x: m.linalg.inv(z), lambda m, z, x: z.var(0) * x,
           lambda m, z, x: m.linalg.vector_norm(z, 3, 1), lambda m, z, x: m.linalg.slogdet(z),
           lambda m, z, x: z.prod(1), lambda m, z, x: m.nn.functional.linear(z, z, x.to(z.dtype))]
    for f in fns:
        for m in (tg, torch):
            z, x = m.tensor(z0, requires_grad=True), m.tensor(x0, requires_grad=True)
            assert m.autograd.gradcheck(lambda z, x: f(m, z, x), (z, x))
            assert m.autograd.gradgradcheck(lambda z, x: f(m, z, x), (z, x))

    class SquareNoConj(tg.autograd.Function):  # z^2 with backward 2 z g: right for real z, missing conj(2 z) here
        takes_complex = True

        def forward(self, a):
            self.save_for_backward(a)
            return a * a

        def backward(self, g):
            return 2 * self.saved_tensors[0] * g

    z = tg.tensor(z0, requires_grad=True)
    assert tg.autograd.gradcheck(lambda z: z * z, (z,))
    assert not tg.autograd.gradcheck(SquareNoConj.apply, (z,), raise_exception=False)
    with pytest.raises(TypeError, match="complex128"):
        tg.autograd.gradcheck(lambda z: z * z, (tg.tensor(z0.astype(np.complex64), requires_grad=True),))


def test_casts_to_real_are_the_users():
    """An explicit cast of a complex tensor to a real dtype keeps the real part, as torch's (which warns), also through
    the methods byte / short / float; an op that takes no complex refuses it by name rather than cast it."""
    z0 = np.array([[1.7 - 2j, -3.2 + 1j]])
    for name in ("byte", "short", "int", "float", "double", "half"):
        got, want = getattr(tg.tensor(z0), name)(), getattr(torch.tensor(z0), name)()
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    for f in (lambda z: z.clamp(0.5, 1.0), lambda z: tg.relu(z), lambda z: tg.nn.functional.layer_norm(z, (2,)),
              lambda z: tg.stft(z[0], 2, return_complex=True), lambda z: tg.FloatTensor(z)):
        with pytest.raises((RuntimeError, TypeError), match="complex"):
            f(tg.tensor(z0))


def test_complex_norm_dtype_and_errors():
    z = tg.tensor([3 + 4j, 0j], dtype=tg.complex64)
    n = tg.linalg.vector_norm(z, dtype=tg.complex128)
    assert n.dtype == tg.float64 and float(n) == 5.0
    assert tg.linalg.vector_norm(z).dtype == tg.float32 and z.var().dtype == tg.float32
    with raises(RuntimeError, "vector_norm", "complex"):
        tg.linalg.vector_norm(z, dtype=tg.float64)
    with raises(RuntimeError, "vector_norm", "complex"):
        tg.linalg.vector_norm(tg.ones(2, dtype=tg.complex128), dtype=tg.complex64)
    with raises((RuntimeError, TypeError), "linear", "dtype"):
        tg.nn.functional.linear(tg.ones(2, 3, dtype=tg.complex64), tg.ones(2, 3))
