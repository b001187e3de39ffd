"""Complex tensors against torch: dtypes, promotion, factories, printing, every complex op's forward and gradients
(torch's convention: z.grad = dL/dRe z + i dL/dIm z), and the refusal of ops that do not take complex.

check_op and gradcheck are real-valued: each op is checked through z = complex(a, b) of real inputs a, b and a real
output (view_as_real of a complex one), so the gradients compared are dL/da and dL/db -- the real and imaginary
parts of z.grad -- and the finite differences are taken on the real and imaginary parts."""
import numpy as np
import pytest
import torch

import tensorgrad as tg
from helpers import check_op, gradcheck_op, gradgradcheck_op, lib, pos, nz, raises


def Z(a, b):
    return lib(a).complex(a, b)


def D(x, name):
    return getattr(lib(x), name)


def R(z):
    return lib(z).view_as_real(z.resolve_conj()) if z.is_complex() else z


# name -> (f(a, b, c, d): real output built through complex ops, input specs)
CASES = {
    "complex": (lambda a, b, c, d: R(Z(a, b)), [(3, 4), (3, 4), (1,), (1,)]),
    "complex_broadcast": (lambda a, b, c, d: R(Z(a, b)), [(3, 1), (4,), (1,), (1,)]),
    "real_imag": (lambda a, b, c, d: Z(a, b).real * 2 + Z(a, b).imag ** 2, [(5,), (5,), (1,), (1,)]),
    "conj": (lambda a, b, c, d: R(Z(a, b).conj() * Z(c, d)), [(4,), (4,), (4,), (4,)]),
    "abs": (lambda a, b, c, d: Z(a, b).abs(), [nz(2, 3), nz(2, 3), (1,), (1,)]),
    "abs_sq": (lambda a, b, c, d: Z(a, b).abs() ** 2, [(6,), (6,), (1,), (1,)]),
    "angle": (lambda a, b, c, d: Z(a, b).angle(), [nz(7), nz(7), (1,), (1,)]),
    "mul": (lambda a, b, c, d: R(Z(a, b) * Z(c, d)), [(3, 4), (3, 4), (4,), (4,)]),
    "mul_scalar": (lambda a, b, c, d: R(Z(a, b) * (2 - 3j) + 1j), [(3,), (3,), (1,), (1,)]),
    "mul_real": (lambda a, b, c, d: R(Z(a, b) * c), [(2, 3), (2, 3), (3,), (1,)]),
    "add_sub_neg": (lambda a, b, c, d: R(-(Z(a, b) + Z(c, d)) - Z(c, d) * 0.5), [(2, 3), (2, 3), (3,), (3,)]),
    "div": (lambda a, b, c, d: R(Z(a, b) / Z(c, d)), [(3,), (3,), nz(3), nz(3)]),
    "div_scalar": (lambda a, b, c, d: R(1j / Z(a, b)), [nz(4), nz(4), (1,), (1,)]),
    "pow": (lambda a, b, c, d: R(Z(a, b) ** 3), [(4,), (4,), (1,), (1,)]),
    "pow_frac": (lambda a, b, c, d: R(Z(a, b) ** 0.5), [pos(4), nz(4), (1,), (1,)]),
    "exp": (lambda a, b, c, d: R(Z(a, b).exp()), [(2, 3), (2, 3), (1,), (1,)]),
    "log": (lambda a, b, c, d: R(Z(a, b).log()), [pos(5), nz(5), (1,), (1,)]),
    "sqrt": (lambda a, b, c, d: R(Z(a, b).sqrt()), [pos(5), nz(5), (1,), (1,)]),
    "reciprocal": (lambda a, b, c, d: R(Z(a, b).reciprocal()), [nz(5), nz(5), (1,), (1,)]),
    "matmul": (lambda a, b, c, d: R(Z(a, b) @ Z(c, d)), [(2, 3, 4), (2, 3, 4), (4, 2), (4, 2)]),
    "matmul_vec": (lambda a, b, c, d: R(Z(a, b) @ Z(c, d)), [(3, 4), (3, 4), (4,), (4,)]),
    "vecmat": (lambda a, b, c, d: R(Z(a, b) @ Z(c, d)), [(4,), (4,), (2, 4, 3), (2, 4, 3)]),
    "bmm": (lambda a, b, c, d: R(lib(a).bmm(Z(a, b), Z(c, d))), [(2, 3, 4), (2, 3, 4), (2, 4, 2), (2, 4, 2)]),
    "mm_H": (lambda a, b, c, d: R(lib(a).mm(Z(a, b), Z(c, d).mH)), [(3, 4), (3, 4), (2, 4), (2, 4)]),
    "vdot": (lambda a, b, c, d: R(lib(a).vdot(Z(a, b), Z(c, d))), [(5,), (5,), (5,), (5,)]),
    "dot": (lambda a, b, c, d: R(lib(a).dot(Z(a, b), Z(c, d))), [(5,), (5,), (5,), (5,)]),
    "sum_mean": (lambda a, b, c, d: R(Z(a, b).sum(0) + Z(a, b).mean(1, keepdim=True)), [(3, 4), (3, 4), (1,), (1,)]),
    "view_as_complex": (lambda a, b, c, d: R(lib(a).view_as_complex(a) * Z(b, c)), [(3, 2), (3,), (3,), (1,)]),
    "polar": (lambda a, b, c, d: R(lib(a).polar(a, b)), [pos(4), (4,), (1,), (1,)]),
    "sgn": (lambda a, b, c, d: R(Z(a, b).sgn()), [nz(5), nz(5), (1,), (1,)]),
    "complex_casts": (lambda a, b, c, d: R(Z(a, b).to(D(a, "complex128")) * 2).sum(-1)
                      + Z(a, b).to(D(a, "float64")), [(3,), (3,), (1,), (1,)]),
    "real_to_complex": (lambda a, b, c, d: R(a.to(D(a, "complex128")) * Z(b, c)), [(3,), (3,), (3,), (1,)]),
    "movement": (lambda a, b, c, d: R(lib(a).cat([Z(a, b).permute(1, 0).reshape(2, 3), Z(a, b)[None, :, 1].expand(2, 3)
                                                  .flip(0).roll(1, 1)]).unsqueeze(0).squeeze(0)[[0, 2, 1]].T),
                 [(3, 2), (3, 2), (1,), (1,)]),
    "stack_index": (lambda a, b, c, d: R(lib(a).stack([Z(a, b), Z(c, d)], 1)[:, 1] * 2), [(4,), (4,), (4,), (4,)]),
    "H": (lambda a, b, c, d: R(Z(a, b).H @ Z(c, d)), [(3, 2), (3, 2), (3, 2), (3, 2)]),
    "adjoint": (lambda a, b, c, d: R(Z(a, b).adjoint()), [(2, 3, 2), (2, 3, 2), (1,), (1,)]),
    "sin_cos": (lambda a, b, c, d: R(Z(a, b).sin() * Z(c, d).cos()), [(2, 3), (2, 3), (3,), (3,)]),
    "tan": (lambda a, b, c, d: R(Z(a, b).tan()), [(5,), (5,), (1,), (1,)]),
    "sinh_cosh": (lambda a, b, c, d: R(Z(a, b).sinh() + Z(c, d).cosh()), [(4,), (4,), (4,), (4,)]),
    "tanh": (lambda a, b, c, d: R(Z(a, b).tanh()), [(2, 3), (2, 3), (1,), (1,)]),
    "sigmoid": (lambda a, b, c, d: R(Z(a, b).sigmoid()), [(2, 3), (2, 3), (1,), (1,)]),
    "log1p_expm1": (lambda a, b, c, d: R(Z(a, b).log1p() + Z(c, d).expm1()), [pos(4), nz(4), (4,), (4,)]),
    "log2_log10": (lambda a, b, c, d: R(Z(a, b).log2() * Z(a, b).log10()), [pos(4), nz(4), (1,), (1,)]),
    "rsqrt": (lambda a, b, c, d: R(Z(a, b).rsqrt()), [pos(5), nz(5), (1,), (1,)]),
    "cumsum": (lambda a, b, c, d: R(Z(a, b).cumsum(1) * Z(c, d)), [(3, 4), (3, 4), (4,), (4,)]),
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


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradgradcheck(name):
    f, specs = CASES[name]
    from helpers import make_inputs
    data, diff = make_inputs(specs, np.float64, seed=3)
    gradgradcheck_op(f, [tg.tensor(x, requires_grad=d) for x, d in zip(data, diff)])


def test_complex_leaf_grad_matches_torch():
    """A complex leaf's .grad is dL/dRe + i dL/dIm, as torch's, for several real losses."""
    rng = np.random.default_rng(0)
    z0 = rng.standard_normal((3, 4)) + 1j * rng.standard_normal((3, 4))
    w0 = rng.standard_normal((4, 2)) + 1j * rng.standard_normal((4, 2))
    losses = [lambda z, w: (z.abs() ** 2).sum(), lambda z, w: (z * z.conj()).real.sum(),
              lambda z, w: (z @ w).abs().sum(), lambda z, w: (z.exp() / (z * 1j + 3)).imag.mean(),
              lambda z, w: lib(z).view_as_real(z.sqrt() @ w.conj()).pow(2).sum(), lambda z, w: z.angle().sum()]
    for loss in losses:
        grads = []
        for m in (tg, torch):
            z, w = m.tensor(z0, requires_grad=True), m.tensor(w0, requires_grad=True)
            loss(z, w).backward()
            grads.append([np.zeros_like(z0) if t.grad is None else np.asarray(t.grad.resolve_conj().detach())
                          if m is torch else t.grad.numpy() for t in (z, w)])
        for g, h in zip(*grads):
            assert g.dtype == np.complex128
            np.testing.assert_allclose(g, h, rtol=1e-10, atol=1e-12)


def test_dtypes_and_promotion():
    assert tg.cfloat is tg.complex64 and tg.cdouble is tg.complex128
    assert tg.dtypes.to_dtype(torch.complex64) == np.complex64 and tg.dtypes.to_dtype("torch.cdouble") == np.complex128
    with raises(TypeError, "complex32"):
        tg.zeros(2, dtype=tg.chalf)
    with raises(TypeError, "complex32"):
        tg.ones(2, dtype=tg.float16) + 1j
    cases = [(tg.ones(3), 1j), (tg.ones(3, dtype=tg.float64), tg.ones(2, 1, dtype=tg.complex64)),
             (tg.ones(3), tg.tensor(1j, dtype=tg.complex128)), (tg.ones(3, dtype=tg.int64), 1j),
             (tg.ones(3, dtype=tg.bfloat16), tg.ones(3, dtype=tg.complex64)), (tg.tensor(2.0, dtype=tg.float64), 1j)]
    for a, b in cases:
        ta = torch.tensor(np.asarray(a.float() if a.dtype == tg.bfloat16 else a), dtype=getattr(torch, str(a.dtype)))
        tb = b if not isinstance(b, tg.Tensor) else torch.tensor(b.numpy())
        assert str((a + b).dtype) == str((ta + tb).dtype).replace("torch.", ""), (a.dtype, b)
    assert str(tg.promote_types(tg.float64, tg.complex64)) == "complex128"
    z = tg.tensor([1 + 2j, 3])
    assert z.dtype == tg.complex64 and z.is_complex() and tg.is_complex(z) and not z.is_floating_point()
    assert not tg.is_complex(tg.ones(2)) and tg.tensor(np.array([1j])).dtype == tg.complex128
    assert tg.from_numpy(np.array([1j], np.complex64)).dtype == tg.complex64
    assert tg.finfo(tg.complex64).eps == np.finfo(np.float32).eps


def test_factories():
    for f in ("zeros", "ones", "empty"):
        for dt in ("complex64", "complex128"):
            t = getattr(tg, f)(2, 3, dtype=getattr(tg, dt))
            assert t.dtype == np.dtype(dt) and t.shape == (2, 3)
    assert tg.full((2,), 1j).dtype == tg.complex64 and tg.full((2,), 1 + 1j).tolist() == [1 + 1j, 1 + 1j]
    x = tg.ones(4, dtype=tg.complex128)
    for f in (tg.zeros_like, tg.ones_like, tg.empty_like, tg.randn_like, tg.rand_like):
        assert f(x).dtype == tg.complex128
    tg.manual_seed(0)
    z = tg.randn(200000, dtype=tg.cfloat)
    assert z.dtype == tg.complex64
    for part in (z.real, z.imag):  # torch's complex normal: each part N(0, 1/2)
        assert abs(float(part.mean())) < 0.01 and abs(float(part.var()) - 0.5) < 0.01
    u = tg.rand(200000, dtype=tg.cdouble)
    for part in (u.real, u.imag):
        assert float(part.min()) >= 0 and float(part.max()) < 1 and abs(float(part.mean()) - 0.5) < 0.01
    assert tg.randn(2, dtype=tg.complex64, requires_grad=True).requires_grad


@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
def test_repr_matches_torch(dtype):
    samples = [[1 + 2j, 3 - 1j], [[1.5 + 2j, -3e-5j], [1e6, 0]], 2.5 - 1j, [], [[0.25j, 1], [2, 3 + 0.5j]],
               list(np.arange(12) * (1 + 0.5j))]
    for s in samples:
        a, b = tg.tensor(s, dtype=getattr(tg, dtype)), torch.tensor(s, dtype=getattr(torch, dtype))
        assert repr(a) == repr(b).replace("torch.", "tensorgrad."), (repr(a), repr(b))
    big = np.arange(2000).reshape(40, 50) * (1 - 1j)
    assert repr(tg.tensor(big, dtype=getattr(tg, dtype))) == \
        repr(torch.tensor(big, dtype=getattr(torch, dtype))).replace("torch.", "tensorgrad.")
    z = tg.zeros(2, dtype=getattr(tg, dtype), requires_grad=True)
    assert repr(z) == repr(torch.zeros(2, dtype=getattr(torch, dtype), requires_grad=True)).replace("torch.",
                                                                                                    "tensorgrad.")


def test_conj_family_and_views():
    z = tg.tensor([1 + 2j, -3j])
    assert complex(z[1]) == -3j and z[0].item() == 1 + 2j and z.tolist() == [1 + 2j, -3j]
    assert not z.is_conj() and not z.is_neg() and z.resolve_conj() is z and z.resolve_neg() is z
    assert z.conj_physical().tolist() == [1 - 2j, 3j]
    x = tg.tensor([1.0, 2.0])
    assert x.conj() is x and x.real is x and x.angle().tolist() == [0, 0]
    np.testing.assert_array_equal(tg.angle(tg.tensor([-1.0, 2.0, float("nan")])).numpy(),
                                  torch.angle(torch.tensor([-1.0, 2.0, float("nan")])).numpy())
    with raises(RuntimeError, "imag", "non-complex"):
        x.imag
    m = tg.arange(6.).reshape(2, 3)
    assert m.H.tolist() == m.T.tolist() and m.mH.shape == (3, 2) and m.adjoint().shape == (3, 2)
    v = tg.view_as_real(z)  # a view, as torch's
    v[0, 1] = 5.0
    assert z.tolist()[0] == 1 + 5j
    with raises(RuntimeError, "view_as_complex", "size 2"):
        tg.view_as_complex(tg.ones(3, 3))
    with raises(RuntimeError, "complex", "float32"):
        tg.complex(tg.ones(2), tg.ones(2, dtype=tg.float64))
    with raises(RuntimeError, "real scalar"):
        tg.ones(1, dtype=tg.complex64, requires_grad=True).sum().backward()


REFUSED = {
    "relu": lambda z: tg.relu(z), "softmax": lambda z: tg.softmax(z, 0), "floor": lambda z: z.floor(),
    "ceil": lambda z: z.ceil(), "round": lambda z: z.round(), "clamp": lambda z: z.clamp(0, 1),
    "max": lambda z: z.max(), "max_dim": lambda z: z.max(0), "amax": lambda z: z.amax(), "maximum": lambda z: tg.maximum(z, z),
    "sign": lambda z: z.sign(), "median": lambda z: z.median(),
    "remainder": lambda z: z % 2, "floor_divide": lambda z: z // 2,
    "dropout": lambda z: tg.nn.functional.dropout(z, 0.5), "layer_norm": lambda z: tg.nn.functional.layer_norm(z, (2,)),
    "gelu": lambda z: tg.nn.functional.gelu(z), "log_softmax": lambda z: tg.nn.functional.log_softmax(z, 0),
    "lu_factor": lambda z: tg.linalg.lu_factor(z), "cdist": lambda z: tg.cdist(z, z), "lerp": lambda z: tg.lerp(z, z, 0.5),
    "lt": lambda z: z < z, "ge": lambda z: z >= 1, "sort": lambda z: z.sort(), "argmax": lambda z: z.argmax(),
    "topk": lambda z: z.topk(1), "atan2": lambda z: tg.atan2(z, z),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_real_only_ops_refuse_complex(name):
    z = tg.tensor([[1 + 1j, 2 - 1j], [0.5j, -1 + 0j]])
    with pytest.raises((RuntimeError, TypeError)) as info:
        REFUSED[name](z)
    assert "complex" in str(info.value), str(info.value)


def test_ops_torch_computes_on_complex():
    """eq/ne, isnan/isinf/isfinite, isclose/allclose (either part NaN, |a - b| with the complex modulus), nan_to_num
    (each part), nonzero and count_nonzero agree with torch on complex input."""
    a = np.array([1 + 1j, 2 + 0j, np.nan * 1j, complex(np.inf, 1), 0j])
    b = np.array([1 + 1.0000001j, 2 + 1e-3j, np.nan * 1j, complex(np.inf, 1), 1e-9j])
    fns = [lambda m, x, y: x == y, lambda m, x, y: x != y, lambda m, x, y: x.isnan(), lambda m, x, y: x.isinf(),
           lambda m, x, y: x.isfinite(), lambda m, x, y: m.isclose(x, y), lambda m, x, y: m.isclose(x, y, equal_nan=True),
           lambda m, x, y: m.nan_to_num(x, nan=1.0, posinf=5.0), lambda m, x, y: x.nonzero(),
           lambda m, x, y: m.count_nonzero(x)]
    for f in fns:
        got, want = f(tg, tg.tensor(a), tg.tensor(b)), f(torch, torch.tensor(a), torch.tensor(b))
        np.testing.assert_array_equal(got.numpy(), want.numpy())
        assert str(got.dtype) == str(want.dtype).replace("torch.", "")
    assert tg.allclose(tg.tensor(a[:2]), tg.tensor(a[:2] + 1e-9j)) and not tg.allclose(tg.tensor(a[:2]), tg.tensor(b[:2]))
    x = tg.tensor(a[:2], requires_grad=True)
    tg.nan_to_num(x).abs().sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), a[:2] / np.abs(a[:2]))
