"""torch.special's functions added in ops/special_more.py and ops/polynomials.py, compared with torch: values over
each function's domain and its edges, dtypes, broadcasting, size-0 inputs, every gradient torch has (and none where
it has none, and its error where it raises), float64 gradcheck and gradgradcheck."""
import numpy as np
import pytest
import torch

import tensorgrad as tg
import tensorgrad.special as S
from helpers import Arg, check_op, gradcheck_op, gradgradcheck_op, unif, pos

# name -> (domain sampler for check_op, edge values); all have a gradient in torch
DIFF_UNARY = {
    "i0": (unif(3, 4, low=-3, high=3), [0.0, -1.0, 30.0, np.inf, -np.inf, np.nan]),
    "i0e": (unif(3, 4, low=-3, high=3, away=0.0), [0.0, -5.0, 700.0, np.inf, np.nan]),
    "i1": (unif(3, 4, low=-3, high=3), [0.0, -2.0, 30.0, np.inf, np.nan]),
    "i1e": (unif(3, 4, low=-3, high=3, away=0.0), [0.0, -2.0, 700.0, np.inf, np.nan]),
    "ndtri": (unif(3, 4, low=0.05, high=0.95), [0.0, 1.0, 0.5, -0.1, 1.1, np.nan]),
    "log_ndtr": (unif(3, 4, low=-5, high=5), [-40.0, 0.0, 10.0, -np.inf, np.inf, np.nan]),
    "erfcx": (unif(3, 4, low=-2, high=5), [-30.0, 0.0, 1e5, np.inf, -np.inf, np.nan]),
    "entr": (pos(3, 4, low=0.1, high=3.0), [0.0, -1.0, 1.0, np.inf, np.nan]),
    "sinc": (unif(3, 4, low=-2, high=2, away=0.0), [0.0, 1.0, -3.0, np.inf, np.nan]),
}
NOGRAD_UNARY = {
    "airy_ai": [-30.0, -2.5, 0.0, 1.0, 30.0, np.inf, -np.inf, np.nan],
    "bessel_j0": [-20.0, -1.0, 0.0, 3.0, 50.0, np.inf, np.nan], "bessel_j1": [-20.0, 0.0, 3.0, 50.0, np.inf, np.nan],
    "bessel_y0": [-1.0, 0.0, 1e-3, 3.0, 50.0, np.inf, np.nan], "bessel_y1": [-1.0, 0.0, 1e-3, 3.0, 50.0, np.inf],
    "modified_bessel_i0": [-5.0, 0.0, 3.0, 20.0, np.nan], "modified_bessel_i1": [-5.0, 0.0, 3.0, 20.0, np.nan],
    "modified_bessel_k0": [-1.0, 0.0, 0.5, 3.0, 20.0, np.inf, np.nan],
    "modified_bessel_k1": [-1.0, 0.0, 0.5, 3.0, 20.0, np.inf, np.nan],
    "scaled_modified_bessel_k0": [-1.0, 0.0, 0.5, 3.0, 200.0, np.nan],
    "scaled_modified_bessel_k1": [-1.0, 0.0, 0.5, 3.0, 200.0, np.nan],
    "spherical_bessel_j0": [-10.0, 0.0, 1e-4, 2.0, 1e3, np.inf, -np.inf, np.nan],
}


def _both(name, *arrays):
    tg_out = getattr(S, name)(*[tg.tensor(a) if isinstance(a, np.ndarray) else a for a in arrays])
    th_out = getattr(torch.special, name)(*[torch.tensor(a) if isinstance(a, np.ndarray) else a for a in arrays])
    return tg_out, th_out


def _same(tg_out, th_out, rtol, atol=0.0):
    assert tg_out.dtype == tg.tensor(th_out.numpy()).dtype, (tg_out.dtype, th_out.dtype)
    np.testing.assert_allclose(np.asarray(tg_out), th_out.numpy(), rtol=rtol, atol=atol, equal_nan=True)


@pytest.mark.parametrize("name", sorted(DIFF_UNARY))
def test_differentiable_unary_matches_torch(name):
    spec, edges = DIFF_UNARY[name]
    fn = getattr(S, name)
    check_op(fn, getattr(torch.special, name), [spec])
    check_op(fn, getattr(torch.special, name), [spec], dtype=np.float32)
    gradcheck_op(fn, [spec])
    x = tg.tensor(np.asarray(spec.make(np.random.default_rng(3), np.float64)), requires_grad=True)
    gradgradcheck_op(fn, [x])
    for dt in (np.float64, np.float32):
        _same(*_both(name, np.asarray(edges, dtype=dt)), rtol=1e-12 if dt == np.float64 else 1e-6)
    _same(*_both(name, np.zeros((0, 3))), rtol=0)  # size 0
    _same(*_both(name, np.arange(-2, 3)), rtol=1e-6)  # integers give the default float dtype
    assert getattr(tg, name, fn) is not None


@pytest.mark.parametrize("name", sorted(NOGRAD_UNARY))
def test_unary_without_gradient_matches_torch(name):
    rng = np.random.default_rng(1)
    # torch's own kernels for Ai and the J / Y Bessel functions are less exact than SciPy's where they oscillate
    # (2e-6 relative at x = -30 for Ai, 1e-6 absolute near the Bessel functions' zeros)
    loose = name == "airy_ai" or name.startswith("bessel_")
    for dt, rtol, atol in ((np.float64, 1e-5 if loose else 1e-10, 1e-6 if loose else 1e-30),
                           (np.float32, 1e-4 if loose else 2e-5, 1e-5 if loose else 1e-30)):
        x = np.concatenate([rng.uniform(-10, 10, 50), rng.uniform(0, 2, 20), NOGRAD_UNARY[name]]).astype(dt)
        _same(*_both(name, x), rtol=rtol, atol=atol)
    _same(*_both(name, np.zeros((2, 0))), rtol=0)
    t = tg.tensor([0.5, 1.5], requires_grad=True)
    # torch records no gradient for these: the result does not require grad, as torch's
    assert not getattr(S, name)(t).requires_grad
    assert not getattr(torch.special, name)(torch.tensor([0.5, 1.5], requires_grad=True)).requires_grad


SECOND_ONLY = {"zeta": ("zeta", (2.0, 4.0), (0.5, 3.0)), "gammainc": ("igamma: input", (0.5, 4.0), (0.1, 5.0)),
               "gammaincc": ("igammac: input", (0.5, 4.0), (0.1, 5.0))}


@pytest.mark.parametrize("name", sorted(SECOND_ONLY))
def test_gradient_in_second_argument_only(name):
    what, (alo, ahi), (xlo, xhi) = SECOND_ONLY[name]
    fn, tfn = getattr(S, name), getattr(torch.special, name)
    a = Arg((3, 1), "uniform", alo, ahi, grad=False)
    x = unif(1, 4, low=xlo, high=xhi)
    check_op(fn, tfn, [a, x])  # broadcast (3, 1) x (1, 4)
    gradcheck_op(fn, [a, x])
    av = tg.tensor(np.linspace(alo, ahi, 3))
    xv = tg.tensor(np.linspace(xlo, xhi, 3), requires_grad=True)
    gradgradcheck_op(fn, [av, xv])
    # torch raises at backward when the first argument asks for a gradient; so does tensorgrad, with its words
    for lib, f in ((tg, fn), (torch, tfn)):
        a1 = lib.tensor([alo + 0.5], dtype=lib.float64, requires_grad=True)
        out = f(a1, lib.tensor([xlo + 0.5], dtype=lib.float64))
        with pytest.raises(RuntimeError, match=f"the derivative for '{what}' is not implemented"):
            out.sum().backward()
    edges_a = np.array([1.0, 2.0, 0.5, 3.0, 1.0, 2.0, np.nan, 4.0])
    edges_x = np.array([0.0, 0.0, 1e-8, 100.0, np.inf, -1.0, 1.0, 0.5])
    if name == "zeta":  # (zeta's second argument at 0 and below: poles and SciPy's domain)
        edges_a, edges_x = np.array([2.0, 1.0, 3.0, np.nan, 0.5, 4.0]), np.array([1.0, 2.0, 0.5, 1.0, 2.0, 1e3])
    _same(*_both(name, edges_a, edges_x), rtol=1e-10)


def test_xlog1py_matches_torch_with_both_gradients_and_edges():
    check_op(S.xlog1py, torch.special.xlog1py, [(3, 1), unif(1, 4, low=-0.9, high=3)])
    gradcheck_op(S.xlog1py, [(3, 1), unif(1, 4, low=-0.9, high=3)])
    gradgradcheck_op(S.xlog1py, [tg.tensor(np.array([0.3, -1.2, 2.0]), requires_grad=True),
                                 tg.tensor(np.array([0.5, 1.0, -0.5]), requires_grad=True)])
    # x == 0: 0 unless y is nan; torch's x-gradient is 0 there when y <= -1
    for lib, f in ((tg, S.xlog1py), (torch, torch.special.xlog1py)):
        x = lib.tensor([0.0, 0.0, 0.0, 2.0], dtype=lib.float64, requires_grad=True)
        y = lib.tensor([-1.0, -2.0, float("nan"), -1.0], dtype=lib.float64, requires_grad=True)
        out = f(x, y)
        out.sum().backward()
        if lib is tg:
            got = (np.asarray(out.detach()), np.asarray(x.grad), np.asarray(y.grad))
        else:
            np.testing.assert_allclose(got[0], out.detach().numpy(), equal_nan=True)
            np.testing.assert_allclose(got[1], x.grad.numpy(), equal_nan=True)
            np.testing.assert_allclose(got[2], y.grad.numpy(), equal_nan=True)
    _same(*_both("xlog1py", np.array([1.0, 2.0]), 3.0), rtol=1e-12)  # a number operand
    _same(*_both("xlog1py", 2.0, np.array([1.0, 2.0])), rtol=1e-12)


def test_multigammaln_and_mvlgamma():
    for p in (1, 2, 3, 5):
        check_op(lambda x: S.multigammaln(x, p), lambda x: torch.special.multigammaln(x, p),
                 [unif(2, 3, low=p / 2 + 0.1, high=p + 4)])
        check_op(lambda x: x.mvlgamma(p), lambda x: x.mvlgamma(p), [unif(4, low=p / 2 + 0.1, high=p + 4)])
        check_op(lambda x: tg.mvlgamma(x, p=p), lambda x: torch.mvlgamma(x, p=p), [unif(4, low=p, high=p + 4)])
    gradcheck_op(lambda x: S.multigammaln(x, 3), [unif(2, 3, low=2, high=5)])
    # below the domain torch (2.x) no longer refuses: log |Gamma| terms, inf at a pole
    _same(S.multigammaln(tg.tensor([0.9, 1.0, 0.4, 3.0]), 3),
          torch.special.multigammaln(torch.tensor([0.9, 1.0, 0.4, 3.0]), 3), rtol=1e-6)
    for lib, f in ((tg, S.multigammaln), (torch, torch.special.multigammaln)):
        with pytest.raises(RuntimeError, match="p has to be greater than or equal to 1"):
            f(lib.tensor([2.0]), 0)
    x = tg.tensor([3.0, 4.0])
    want = torch.tensor([3.0, 4.0]).mvlgamma_(2)
    np.testing.assert_allclose(np.asarray(x.mvlgamma_(2)), want.numpy(), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(x), want.numpy(), rtol=1e-6)


def test_top_level_and_method_spellings():
    rng = np.random.default_rng(0)
    a, x = rng.uniform(0.5, 3, 5), rng.uniform(0.1, 4, 5)
    for name in ("igamma", "igammac"):
        _same(getattr(tg, name)(tg.tensor(a), tg.tensor(x)), getattr(torch, name)(torch.tensor(a), torch.tensor(x)),
              rtol=1e-12)
        _same(getattr(tg.tensor(a), name)(tg.tensor(x)), getattr(torch.tensor(a), name)(torch.tensor(x)), rtol=1e-12)
        t, tt = tg.tensor(a), torch.tensor(a)
        getattr(t, name + "_")(tg.tensor(x))
        getattr(tt, name + "_")(torch.tensor(x))
        _same(t, tt, rtol=1e-12)
    _same(tg.i0(tg.tensor(x)), torch.i0(torch.tensor(x)), rtol=1e-12)
    _same(tg.tensor(x).i0(), torch.tensor(x).i0(), rtol=1e-12)
    t, tt = tg.tensor(x), torch.tensor(x)
    tg.i0_(t), torch.i0_(tt)
    _same(t, tt, rtol=1e-12)
    check_op(lambda v: v.i0(), lambda v: v.i0(), [(4,)])


POLY_N = list(range(-1, 13)) + [3.7, 20, 40]


@pytest.mark.parametrize("name", sorted(__import__("tensorgrad.ops.polynomials", fromlist=["NAMES"]).NAMES))
def test_polynomials_match_torch(name):
    """Over x in and outside each polynomial's interval and its ends, many n (negative, fractional, past the
    trigonometric switch), float64 and float32; broadcast tensor n; a number for x or n; no gradient."""
    rng = np.random.default_rng(5)
    lo, hi = (-0.5, 1.5) if name.startswith("shifted") else (-1.5, 1.5)
    fn, tfn = getattr(S, name), getattr(torch.special, name)
    for dt, rtol in ((np.float64, 1e-9), (np.float32, 2e-4)):
        x = np.concatenate([rng.uniform(lo, hi, 30), [1.0, -1.0, 0.0, 0.5, 2.0, -2.0]]).astype(dt)
        for n in POLY_N:
            if dt == np.float32 and n == 40 and name.startswith("hermite"):
                continue  # (float32 overflow inside the recurrence: inf or nan depends on the kernel's order)
            got, want = fn(tg.tensor(x), n), tfn(torch.tensor(x), n)
            # (float32: the trigonometric form's argument (n + 1) acos(x) carries n times acos's rounding)
            _same(got, want, rtol=rtol, atol=1e-5 * max(1, abs(n)) if dt == np.float32 else 1e-9)
    xs = rng.uniform(lo, hi, (4, 1))
    ns = np.array([[0.0, 1.0, 2.0, 5.0, 9.0]])
    _same(*_both(name, xs, ns), rtol=1e-9, atol=1e-12)
    _same(*_both(name, xs, np.array([[0, 3, 7]])), rtol=1e-9, atol=1e-12)  # integer n: x's dtype
    _same(*_both(name, 0.25, np.array([0.0, 2.0, 3.0])), rtol=1e-9, atol=1e-12)  # a number x: n's float dtype
    _same(*_both(name, np.array([1, 2]), 3), rtol=1e-6)  # integer x: the default float dtype
    _same(*_both(name, np.zeros((0,)), 3), rtol=0)
    assert not fn(tg.tensor([0.3], requires_grad=True), 3).requires_grad
    with pytest.raises(TypeError, match=name):
        fn(0.5, 3)


def test_special_names_cover_torch_special():
    """Every public function of torch.special has a tensorgrad.special counterpart."""
    missing = [n for n in dir(torch.special) if not n.startswith("_") and callable(getattr(torch.special, n))
               and n not in ("Tensor",) and not hasattr(S, n)]
    assert missing == []
