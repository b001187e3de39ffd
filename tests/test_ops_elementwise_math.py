"""tensorgrad/ops/elementwise_math.py vs PyTorch: sin/cos/erf, log1p/expm1 (accurate near 0), log2/log10,
reciprocal, the rounding family (zero gradients), frac, lerp, logical ops, square, addcmul/addcdiv: forward, the
gradient of every input, float64 gradcheck, PyTorch's dtype rules for integer and bool inputs, and bad input."""
import math
import re

import numpy as np
import pytest
import torch

import tensorgrad as tg
from helpers import check_op, gradcheck_op, lib, pos, nz, unif, FLOATS

SHAPES = [(), (1,), (5,), (3, 4), (2, 3, 4), (0,), (2, 0, 3)]
INTS = [np.int64, np.int32, np.uint8]
# Kept 0.1 away from the integers / the half-integers, where floor & co. and round jump.
INTEGERS = np.arange(-5.0, 6.0)
HALVES = np.arange(-5.5, 6.0)


# ---------------------------------------------------------------------------------- smooth unary ops
SMOOTH = {
    "sin": (lambda x: x.sin(), lambda s: unif(*s, low=-6.0, high=6.0)),
    "fn_sin": (lambda x: lib(x).sin(x), lambda s: s),
    "cos": (lambda x: x.cos(), lambda s: unif(*s, low=-6.0, high=6.0)),
    "fn_cos": (lambda x: lib(x).cos(x), lambda s: s),
    "erf": (lambda x: x.erf(), lambda s: unif(*s, low=-4.0, high=4.0)),
    "fn_erf": (lambda x: lib(x).erf(x), lambda s: s),
    "log1p": (lambda x: x.log1p(), lambda s: unif(*s, low=-0.9, high=3.0)),
    "fn_log1p": (lambda x: lib(x).log1p(x), lambda s: pos(*s)),
    "expm1": (lambda x: x.expm1(), lambda s: s),
    "fn_expm1": (lambda x: lib(x).expm1(x), lambda s: s),
    "log2": (lambda x: x.log2(), lambda s: pos(*s, low=0.1, high=10.0)),
    "fn_log2": (lambda x: lib(x).log2(x), lambda s: pos(*s)),
    "log10": (lambda x: x.log10(), lambda s: pos(*s, low=0.1, high=10.0)),
    "fn_log10": (lambda x: lib(x).log10(x), lambda s: pos(*s)),
    "reciprocal": (lambda x: x.reciprocal(), lambda s: nz(*s, away=0.0)),
    "fn_reciprocal": (lambda x: lib(x).reciprocal(x), lambda s: nz(*s, away=0.0)),
}
METHODS = [n for n in SMOOTH if not n.startswith("fn_")]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", list(SMOOTH))
def test_smooth_unary(name, shape, dtype):
    fn, dom = SMOOTH[name]
    check_op(fn, inputs=[dom(shape)], dtype=dtype)


@pytest.mark.parametrize("name", METHODS)
def test_smooth_unary_gradcheck(name):
    fn, dom = SMOOTH[name]
    gradcheck_op(fn, [dom((2, 3))])
    gradcheck_op(fn, [dom(())])


@pytest.mark.parametrize("name", METHODS)
def test_smooth_unary_float16_forward(name):
    fn, dom = SMOOTH[name]
    check_op(fn, inputs=[dom((4, 5))], dtype=np.float16, grad=False)


@pytest.mark.parametrize("name", METHODS)
@pytest.mark.parametrize("int_dtype", INTS + [np.bool_], ids=str)
def test_smooth_unary_of_integers_is_default_float(name, int_dtype):
    # torch: sin(int64) etc. -> the default dtype (float32), also for bool and uint8 inputs.
    x = np.arange(0, 6).astype(int_dtype) if int_dtype is not np.bool_ else np.array([True, False, True])
    tgo, _, _, _ = check_op(SMOOTH[name][0], inputs=[x], atol=1e-6, rtol=1e-6)
    assert tgo[0].dtype == np.float32


@pytest.mark.parametrize("name", ["sin", "erf", "log1p", "reciprocal"])
def test_integers_follow_the_default_dtype(name):
    prev = tg.get_default_dtype()
    tg.set_default_dtype(tg.float64)
    torch.set_default_dtype(torch.float64)
    try:
        tgo, _, _, _ = check_op(SMOOTH[name][0], inputs=[np.arange(1, 5)])
        assert tgo[0].dtype == np.float64
        # the older unary ops and true division follow the same rule
        check_op(lambda x: x.exp(), inputs=[np.arange(1, 5)])
        check_op(lambda x: x / 2, inputs=[np.arange(1, 5)])
        check_op(lambda x, y: x / y, inputs=[np.arange(1, 5), np.arange(2, 6)])
    finally:
        tg.set_default_dtype(prev)
        torch.set_default_dtype(torch.float32)


def test_erf_accuracy_float64():
    # scipy's erf vs torch's (and Python's math.erf), tails and tiny arguments included: a few ulp apart.
    x = np.concatenate([np.linspace(-7, 7, 20001), np.logspace(-300, 0, 601), -np.logspace(-300, 0, 601),
                        [0.0, np.inf, -np.inf]])
    got = np.asarray(tg.erf(tg.tensor(x)))
    np.testing.assert_allclose(got, torch.erf(torch.tensor(x)).numpy(), rtol=1e-14, atol=0)
    np.testing.assert_allclose(got, [math.erf(v) for v in x], rtol=1e-14, atol=0)
    got32 = np.asarray(tg.erf(tg.tensor(x.astype(np.float32))))
    np.testing.assert_allclose(got32, torch.erf(torch.tensor(x.astype(np.float32))).numpy(), rtol=2e-7, atol=1e-38)


@pytest.mark.parametrize("dtype", FLOATS)
def test_log1p_expm1_keep_tiny_arguments(dtype):
    # (1 + x).log() gives 0 for |x| below eps; log1p/expm1 keep x's digits (relative error ~ eps).
    x = np.array([1e-30, -1e-20, 1e-12, 3e-8, -1e-5]).astype(dtype)
    for op in ("log1p", "expm1"):
        got = np.asarray(getattr(tg.tensor(x), op)())
        want = getattr(torch.tensor(x), op)().numpy()
        np.testing.assert_allclose(got, want, rtol=2 * np.finfo(dtype).eps, atol=0)
        np.testing.assert_allclose(got, x, rtol=1e-4)
    check_op(lambda t: t.log1p(), inputs=[x], dtype=dtype)
    check_op(lambda t: t.expm1(), inputs=[x], dtype=dtype)


def test_log2_log10_of_exact_powers_are_exact():
    for dtype in FLOATS:
        assert tg.tensor(np.array([1.0, 2.0, 8.0, 1024.0, 0.25]).astype(dtype)).log2().tolist() == [0, 1, 3, 10, -2]
    # float64 only: NumPy's float32 log10 is up to 2 ulp off (log10(100) = 2.0000002), torch's is exact there.
    assert tg.tensor([1.0, 10.0, 1000.0, 0.01], dtype=tg.float64).log10().tolist() == [0, 1, 3, -2]


def test_domain_edges_match_torch():
    # log1p(-1) = -inf, log1p(< -1) = nan, 1/0 = inf, log2(0) = -inf: values and gradients as torch's.
    check_op(lambda t: t.log1p(), inputs=[np.array([-1.0, -2.0, 0.0])])
    check_op(lambda t: t.reciprocal(), inputs=[np.array([0.0, 2.0, -4.0])])
    check_op(lambda t: t.log2(), inputs=[np.array([0.0, 2.0])])
    check_op(lambda t: t.log10(), inputs=[np.array([0.0, 10.0])])
    check_op(lambda t: t.expm1(), inputs=[np.array([-np.inf, 0.0, 800.0])])


# --------------------------------------------------------------------------- rounding family, sign, frac
STEPS = {
    "sign": (lambda x: x.sign(), 0.0),
    "fn_sign": (lambda x: lib(x).sign(x), 0.0),
    "floor": (lambda x: x.floor(), INTEGERS),
    "fn_floor": (lambda x: lib(x).floor(x), INTEGERS),
    "ceil": (lambda x: x.ceil(), INTEGERS),
    "fn_ceil": (lambda x: lib(x).ceil(x), INTEGERS),
    "trunc": (lambda x: x.trunc(), INTEGERS),
    "fn_trunc": (lambda x: lib(x).trunc(x), INTEGERS),
    "round": (lambda x: x.round(), HALVES),
    "fn_round": (lambda x: lib(x).round(x), HALVES),
    "frac": (lambda x: x.frac(), INTEGERS),
    "fn_frac": (lambda x: lib(x).frac(x), INTEGERS),
}
STEP_METHODS = [n for n in STEPS if not n.startswith("fn_")]


def _step_input(shape, away):
    return unif(*shape, low=-4.0, high=4.0, away=away)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", list(STEPS))
def test_step_ops(name, shape, dtype):
    # Gradients: zeros from torch for sign/floor/ceil/round/trunc (not None), ones for frac.
    fn, away = STEPS[name]
    check_op(fn, inputs=[_step_input(shape, away)], dtype=dtype)


@pytest.mark.parametrize("name", STEP_METHODS)
def test_step_ops_gradcheck(name):
    fn, away = STEPS[name]
    gradcheck_op(fn, [_step_input((3, 4), away)])
    gradcheck_op(fn, [_step_input((), away)])


@pytest.mark.parametrize("name", ["sign", "floor", "ceil", "trunc", "round"])
def test_step_ops_give_zero_gradients_not_none(name):
    x = tg.tensor([0.3, -1.7, 2.5], requires_grad=True)
    getattr(x, name)().sum().backward()
    assert x.grad is not None and x.grad.tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("name", ["sign", "floor", "ceil", "trunc", "round"])
@pytest.mark.parametrize("int_dtype", INTS, ids=str)
def test_step_ops_keep_integer_dtype(name, int_dtype):
    x = np.arange(-3, 4).astype(int_dtype) if int_dtype is not np.uint8 else np.arange(0, 7).astype(int_dtype)
    tgo, _, _, _ = check_op(STEPS[name][0], inputs=[x])
    assert tgo[0].dtype == int_dtype


def test_sign_of_bool_nan_and_signed_zero():
    check_op(lambda x: x.sign(), inputs=[np.array([True, False])])
    # torch's sign is (0 < x) - (x < 0): nan -> 0 and -0.0 -> 0 (numpy's sign gives nan and -0.0)
    x = np.array([np.nan, -0.0, 0.0, np.inf, -np.inf, 3.0])
    for dtype in FLOATS:
        tgo, tho, _, _ = check_op(lambda t: t.sign(), inputs=[x], dtype=dtype)
        assert np.array_equal(np.signbit(np.asarray(tgo[0])), np.signbit(tho[0].detach().numpy()))


def test_round_half_to_even():
    check_op(lambda x: x.round(), inputs=[np.array([0.5, 1.5, 2.5, -0.5, -1.5, 2.4999, 1e300])])


ROUND_DECIMALS = [1, 2, 3, -1, -2, 0]


@pytest.mark.parametrize("dtype", FLOATS + [np.float16])
@pytest.mark.parametrize("decimals", ROUND_DECIMALS)
def test_round_decimals(decimals, dtype):
    # Values whose decimal form sits on a rounding boundary (2.675, 1.25 ...) are where formulas differ.
    tricky = np.array([2.675, 1.25, -1.55, 0.125, 15.0, 25.0, -35.0, 1234.5678, 0.0, 0.05, 999.95])
    f = (lambda x: x.round(decimals=decimals))
    g = (lambda x: lib(x).round(x, decimals=decimals))
    check_op(f, inputs=[tricky], dtype=dtype, grad=dtype != np.float16, atol=0, rtol=0)
    check_op(g, inputs=[unif(4, 5, low=-100.0, high=100.0)], dtype=dtype, grad=dtype != np.float16, atol=0, rtol=0)
    check_op(f, inputs=[unif(low=-100.0, high=100.0)], dtype=dtype, grad=False, atol=0, rtol=0)


def test_round_decimals_gradcheck():
    # Gradient zero everywhere but at the jumps (10^-d apart): points a quarter step away from them.
    x = (np.arange(-12, 12).reshape(4, 6) + 0.25) / 10
    gradcheck_op(lambda t: t.round(decimals=1), [x])
    gradcheck_op(lambda t: t.round(decimals=-1), [x * 100])


def test_round_huge_decimals():
    check_op(lambda x: x.round(decimals=400), inputs=[np.array([1.5, -2.25])], grad=False)
    check_op(lambda x: x.round(decimals=-400), inputs=[np.array([1.5, -2.25])], grad=False)


def test_frac_edges():
    # inf - trunc(inf) = nan with gradient 1, as torch; negative numbers keep their sign.
    check_op(lambda x: x.frac(), inputs=[np.array([-1.5, 2.25, -0.0, np.inf, -np.inf, np.nan, 1e20])])


# ----------------------------------------------------------------------------------------------- lerp
LERP_SHAPES = [((3, 4), (3, 4), (3, 4)), ((3, 1, 4), (5, 1), (4,)), ((), (2, 3), ()), ((2, 3), (), (3,)),
               ((4,), (4,), ()), ((1,), (2, 1), (3, 1, 1)), ((0, 3), (3,), (1, 3))]
LERP_WEIGHTS = [0.3, 0.7, -0.2, 0.5, 1, 2, True]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shapes", LERP_SHAPES, ids=str)
def test_lerp_tensor_weight(shapes, dtype):
    sa, sb, sw = shapes
    check_op(lambda a, b, w: lib(a).lerp(a, b, w), inputs=[sa, sb, unif(*sw, low=-0.5, high=1.5)], dtype=dtype)
    check_op(lambda a, b, w: a.lerp(b, w), inputs=[sa, sb, unif(*sw, low=-0.5, high=1.5)], dtype=dtype)
    check_op(lambda a, b, w: a.lerp(b, w), inputs=[sa, sb, unif(*sw, low=-0.5, high=1.5)], dtype=dtype,
             requires_grad=[False, True, False])


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("weight", LERP_WEIGHTS, ids=str)
def test_lerp_scalar_weight(weight, dtype):
    check_op(lambda a, b: lib(a).lerp(a, b, weight), inputs=[(3, 1, 4), (5, 1)], dtype=dtype)
    check_op(lambda a, b: a.lerp(b, weight), inputs=[(), ()], dtype=dtype)


def test_lerp_gradcheck():
    gradcheck_op(lambda a, b, w: a.lerp(b, w), [(3, 1, 2), (4, 1), unif(2, low=-0.5, high=1.5)])
    gradcheck_op(lambda a, b, w: a.lerp(b, w), [(2, 3), (), unif(low=0.2, high=0.8)])
    gradcheck_op(lambda a, b: a.lerp(b, 0.7), [(2, 3), (3,)])


def test_lerp_weight_one_gives_end_exactly():
    # PyTorch's two-sided formula; a + 1 * (b - a) would not round to b.
    a, b = tg.tensor([1e-3, 3.0, -7.1]), tg.tensor([1e8, 0.1, 1e-9])
    assert tg.lerp(a, b, 1.0).tolist() == b.tolist()
    assert tg.lerp(a, b, tg.ones(3)).tolist() == b.tolist()
    assert tg.lerp(a, b, 0).tolist() == a.tolist()
    x = np.array([0.1, 0.49, 0.5, 0.51, 0.9, 1.0])
    check_op(lambda a, b, w: a.lerp(b, w), inputs=[np.full(6, 1e-3), np.full(6, 1e8), x], atol=0, rtol=0, grad=False)
    check_op(lambda a, b, w: a.lerp(b, w), inputs=[np.full(6, 1e-3), np.full(6, 1e8), x], dtype=np.float32,
             atol=0, rtol=0, grad=False)


def test_lerp_zero_dim_weight_of_another_dtype():
    # torch takes a 0-d weight of another dtype and sends its gradient back in that dtype.
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(4).astype(np.float32), rng.standard_normal(4).astype(np.float32)
    ta, tb, tw = tg.tensor(a, requires_grad=True), tg.tensor(b), tg.tensor(0.3, dtype=tg.float64, requires_grad=True)
    xa, xb = torch.tensor(a, requires_grad=True), torch.tensor(b)
    xw = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    r, e = tg.lerp(ta, tb, tw), torch.lerp(xa, xb, xw)
    assert r.dtype == np.float32 and e.dtype == torch.float32
    np.testing.assert_allclose(np.asarray(r.detach()), e.detach().numpy(), rtol=1e-6)
    r.sum().backward()
    e.sum().backward()
    assert tw.grad.dtype == np.float64
    np.testing.assert_allclose(float(tw.grad), float(xw.grad), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(ta.grad), xa.grad.numpy(), rtol=1e-6)
    assert tg.lerp(tg.ones(2), tg.zeros(2), tg.tensor(1)).tolist() == [0.0, 0.0]  # 0-d int weight


# ---------------------------------------------------------------------------------------- logical ops
LOGICAL_PAIRS = [((3, 4), (3, 4)), ((3, 1, 4), (5, 1)), ((), (2, 3)), ((2, 3), ()), ((0,), (1,))]


def _mixed(shape, seed, kind):
    rng = np.random.default_rng(seed)
    x = np.asarray(rng.integers(-1, 2, size=shape))  # many zeros
    return np.asarray({"float": x.astype(np.float64), "int": x, "bool": x != 0, "uint8": np.abs(x).astype(np.uint8),
                       "nan": np.where(x == 0, np.nan, x * 0.0).astype(np.float32)}[kind])


@pytest.mark.parametrize("name", ["logical_and", "logical_or", "logical_xor"])
@pytest.mark.parametrize("kinds", [("bool", "bool"), ("float", "int"), ("int", "bool"), ("uint8", "float"),
                                   ("nan", "float")], ids=str)
@pytest.mark.parametrize("shapes", LOGICAL_PAIRS, ids=str)
def test_logical_binary(name, kinds, shapes):
    a, b = _mixed(shapes[0], 0, kinds[0]), _mixed(shapes[1], 1, kinds[1])
    for f in (lambda x, y: getattr(lib(x), name)(x, y), lambda x, y: getattr(x, name)(y)):
        tgo, _, _, _ = check_op(f, inputs=[a, b])  # float inputs require grad; the bool result must not
        assert tgo[0].dtype == np.bool_ and tgo[0].grad_fn is None


@pytest.mark.parametrize("kind", ["bool", "float", "int", "uint8", "nan"])
@pytest.mark.parametrize("shape", [(), (3, 4), (0, 2)], ids=str)
def test_logical_not(kind, shape):
    x = _mixed(shape, 0, kind)
    check_op(lambda t: t.logical_not(), inputs=[x])
    check_op(lambda t: lib(t).logical_not(t), inputs=[x])


# ----------------------------------------------------------------------------------------------- square
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_square(shape, dtype):
    check_op(lambda x: lib(x).square(x), inputs=[shape], dtype=dtype)
    check_op(lambda x: x.square(), inputs=[shape], dtype=dtype)


def test_square_dtypes():
    # torch: ints keep their dtype, bool squares to int64
    for x in (np.arange(-3, 4), np.arange(-3, 4).astype(np.int32), np.arange(0, 7).astype(np.uint8),
              np.array([True, False])):
        check_op(lambda t: lib(t).square(t), inputs=[x])
        check_op(lambda t: t.square(), inputs=[x])


# -------------------------------------------------------------------------------------- addcmul, addcdiv
ADDC_SHAPES = [((3, 4), (3, 4), (3, 4)), ((3,), (2, 1), (4, 1, 1)), ((), (2, 3), (3,)), ((2, 3), (), ())]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("value", [1, 0.5, -2])
@pytest.mark.parametrize("shapes", ADDC_SHAPES, ids=str)
def test_addcmul_addcdiv(shapes, value, dtype):
    sa, s1, s2 = shapes
    check_op(lambda a, b, c: lib(a).addcmul(a, b, c, value=value), inputs=[sa, s1, s2], dtype=dtype)
    check_op(lambda a, b, c: a.addcmul(b, c, value=value), inputs=[sa, s1, s2], dtype=dtype)
    check_op(lambda a, b, c: lib(a).addcdiv(a, b, c, value=value), inputs=[sa, s1, nz(*s2)], dtype=dtype)
    check_op(lambda a, b, c: a.addcdiv(b, c, value=value), inputs=[sa, s1, nz(*s2)], dtype=dtype)


def test_addcmul_addcdiv_promotion():
    i, f32 = np.arange(1, 4), np.arange(1, 4).astype(np.float32)
    f64 = np.arange(2, 5).astype(np.float64)
    for a, b, c in [(i, i, i), (i, i, f32), (f32, i, i), (f32, f64, f32), (f32, np.array([True, False, True]), i),
                    (i, i, i.astype(np.uint8))]:
        for value in (1, 2, 2.0, True):
            check_op(lambda x, y, z: x.addcmul(y, z, value=value), inputs=[a, b, c], requires_grad=False)
    for a, b, c in [(i, f32, i), (f32, i, f32), (i, f64, f32)]:
        for value in (1, 0.5, 2):
            check_op(lambda x, y, z: x.addcdiv(y, z, value=value), inputs=[a, b, c], requires_grad=False)


NAMES = ["sin", "cos", "erf", "log1p", "expm1", "log2", "log10", "reciprocal", "sign", "floor", "ceil", "round",
         "trunc", "frac", "square", "lerp", "logical_not", "logical_and", "logical_or", "logical_xor", "addcmul",
         "addcdiv"]


def test_names_exist_as_in_torch():
    for n in NAMES:
        assert hasattr(torch, n) and hasattr(torch.Tensor, n), n
        assert callable(getattr(tg, n)) and callable(getattr(tg.Tensor, n)), n


# --------------------------------------------------------------------------------------------- bad input
def _t(*shape, dtype=None):
    return tg.ones(*shape, dtype=dtype)


BAD = [
    ("sin-not-tensor", lambda: tg.sin([1.0, 2.0]), TypeError, [r"sin", r"list"]),
    ("floor-bool", lambda: tg.floor(_t(2, dtype=tg.bool)), TypeError, [r"floor", r"bool", r"\(2,\)"]),
    ("round-bool", lambda: _t(2, dtype=tg.bool).round(), TypeError, [r"round", r"bool", r"\(2,\)"]),
    ("round-int-decimals", lambda: _t(2, 3, dtype=tg.int64).round(decimals=1), TypeError,
     [r"round", r"decimals=1", r"int64", r"\(2, 3\)"]),
    ("round-float-decimals", lambda: _t(2).round(decimals=1.5), TypeError, [r"round", r"decimals", r"1.5"]),
    ("frac-int", lambda: _t(2, dtype=tg.int32).frac(), TypeError, [r"frac", r"int32", r"\(2,\)"]),
    ("lerp-int", lambda: tg.lerp(_t(2, dtype=tg.int64), _t(2, dtype=tg.int64), 0.5), TypeError,
     [r"lerp", r"int64", r"\(2,\)"]),
    ("lerp-end-dtype", lambda: tg.lerp(_t(3), _t(3, dtype=tg.float64), 0.5), TypeError,
     [r"lerp", r"end", r"float64", r"float32", r"\(3,\)"]),
    ("lerp-end-number", lambda: tg.lerp(_t(3), 1.0, 0.5), TypeError, [r"lerp", r"end", r"float"]),
    ("lerp-weight-dtype", lambda: tg.lerp(_t(3), _t(3), _t(3, dtype=tg.float64)), TypeError,
     [r"lerp", r"weight", r"float64", r"float32"]),
    ("lerp-weight-kind", lambda: tg.lerp(_t(3), _t(3), "half"), TypeError, [r"lerp", r"weight", r"str"]),
    ("lerp-broadcast", lambda: tg.lerp(_t(3), _t(4), 0.5), RuntimeError, [r"lerp", r"\(3,\)", r"\(4,\)"]),
    ("logical-and-number", lambda: tg.logical_and(_t(3), 1), TypeError, [r"logical_and", r"other", r"int"]),
    ("logical-or-broadcast", lambda: _t(2, 3).logical_or(_t(4)), RuntimeError,
     [r"logical_or", r"\(2, 3\)", r"\(4,\)"]),
    ("addcmul-int-fraction", lambda: tg.addcmul(_t(2, dtype=tg.int64), _t(2, dtype=tg.int64), _t(2, dtype=tg.int64),
                                                value=0.5), TypeError, [r"addcmul", r"0.5", r"int64"]),
    ("addcmul-bool", lambda: tg.addcmul(_t(2, dtype=tg.bool), _t(2, dtype=tg.bool), _t(2, dtype=tg.bool)), TypeError,
     [r"addcmul", r"bool"]),
    ("addcdiv-ints", lambda: tg.addcdiv(_t(2), _t(2, dtype=tg.int64), _t(2, dtype=tg.int32)), TypeError,
     [r"addcdiv", r"int64", r"int32", r"\(2,\)"]),
    ("addcmul-value-kind", lambda: tg.addcmul(_t(2), _t(2), _t(2), value=_t(2)), TypeError, [r"addcmul", r"value"]),
]


@pytest.mark.parametrize("thunk,exc,patterns", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input(thunk, exc, patterns):
    with pytest.raises(exc) as info:
        thunk()
    for p in patterns:
        assert re.search(p, str(info.value)), f"{p!r} not in {info.value}"
