"""ops/extra_math.py and ops/extra_methods.py against torch: alias spellings, divide's rounding modes, sinc,
heaviside, nextafter, frexp, ldexp, isin, logspace, dtype queries, small Tensor queries, the in-place view methods
(t_, transpose_, squeeze_, unsqueeze_) and in-place twins, and set_printoptions' effect on repr."""
import numpy as np
import pytest
import torch

import tensorgrad as tg
from helpers import check_op, gradcheck_op, gradgradcheck_op, lib, raises, FLOATS, nz


@pytest.mark.parametrize("name", ["absolute", "negative", "fix", "sgn"])
def test_unary_aliases(name):
    grad = name not in ("fix", "sgn")  # (torch's zero gradients there are ZeroTensors numpy cannot read)
    check_op(lambda a: getattr(lib(a), name)(a), inputs=[nz(3, 4)], grad=grad)
    check_op(lambda a: getattr(a, name)(), inputs=[np.array([-2, 0, 3])])
    check_op(lambda a: getattr(a * 1, name + "_")(), inputs=[nz(3)], grad=grad)
    x = tg.randn(3, requires_grad=True)
    getattr(tg, name)(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.sign(x.detach().numpy()) if name == "absolute" else
                                  -np.ones(3) if name == "negative" else np.zeros(3))


@pytest.mark.parametrize("name", ["multiply", "true_divide", "greater", "greater_equal", "less", "less_equal",
                                  "not_equal"])
def test_binary_aliases(name):
    check_op(lambda a, b: getattr(lib(a), name)(a, b), inputs=[(3, 4), nz(4)])
    check_op(lambda a, b: getattr(a, name)(b), inputs=[(2, 3), 2])


def test_subtract_divide():
    check_op(lambda a, b: lib(a).subtract(a, b, alpha=2.5), inputs=[(3,), (3,)])
    check_op(lambda a, b: a.subtract(b), inputs=[(3,), 1.5])
    for mode in (None, "trunc", "floor"):
        check_op(lambda a, b: lib(a).divide(a, b, rounding_mode=mode), inputs=[(3, 4), nz(4)], grad=mode is None)
        check_op(lambda a, b: a.divide(b, rounding_mode=mode),
                 inputs=[np.array([7, -7, 5, -9]), np.array([2, 2, -3, -4])])
        check_op(lambda a: a.divide(-3, rounding_mode=mode), inputs=[np.array([7, -7, 5, -9])])
    check_op(lambda a, b: (a * 1).divide_(b, rounding_mode="floor"), inputs=[(3,), nz(3)], grad=False)
    with raises(RuntimeError, "rounding_mode"):
        tg.divide(tg.ones(2), 2, rounding_mode="round")
    with raises(RuntimeError, "ZeroDivisionError"):
        tg.divide(tg.tensor([1]), tg.tensor([0]), rounding_mode="trunc")


@pytest.mark.parametrize("dtype", FLOATS)
def test_sinc(dtype):
    x = np.array([0.0, 0.5, -1.25, 1.0, 3.0] + ([1e-3] if dtype == np.float64 else []))
    check_op(lambda a: lib(a).sinc(a), inputs=[x], dtype=dtype)
    check_op(lambda a: a.sinc(), inputs=[np.array([0, 1, 2])])
    gradcheck_op(lambda a: tg.sinc(a), inputs=[np.array([0.3, -1.7, 2.2])])
    gradgradcheck_op(lambda a: tg.sinc(a), [tg.tensor([0.3, -1.7, 2.2], dtype=tg.float64, requires_grad=True)])


def test_heaviside_nextafter():
    x = np.array([-1.5, 0.0, 2.0, 0.0])
    check_op(lambda a, v: lib(a).heaviside(a, v), inputs=[x, np.array([0.5, 0.25, 1.0, 7.0])], grad=False)
    check_op(lambda a, v: a.heaviside(v), inputs=[np.array([-2, 0, 3]), np.array(5)])
    with raises(RuntimeError, "heaviside"):
        tg.heaviside(tg.zeros(2), tg.zeros(2, dtype=tg.float64))
    for dtype in FLOATS:
        check_op(lambda a, b: lib(a).nextafter(a, b), inputs=[(5,), (5,)], dtype=dtype, grad=False)
        check_op(lambda a: a.nextafter(lib(a).tensor(np.inf, dtype=a.dtype)), inputs=[(3,)], dtype=dtype, grad=False)


@pytest.mark.parametrize("dtype", FLOATS)
def test_frexp_ldexp(dtype):
    x = np.array([0.0, 0.5, -3.0, 1e-3, 7.25, -0.1])
    check_op(lambda a: lib(a).frexp(a), inputs=[x], dtype=dtype)
    check_op(lambda a: a.frexp(), inputs=[(2, 3)], dtype=dtype)
    check_op(lambda a, e: lib(a).ldexp(a, e), inputs=[(3,), np.array([1, 0, 3])], dtype=dtype)
    # (torch's gradient for a negative integer exponent is 0, from an integer 2 ** e: the forward is compared)
    check_op(lambda a, e: lib(a).ldexp(a, e), inputs=[(3,), np.array([1, -2, 3])], dtype=dtype, grad=False)
    check_op(lambda a, e: a.ldexp(e), inputs=[(3,), (3,)], dtype=dtype)
    check_op(lambda a, e: lib(a).ldexp(a, e), inputs=[np.array([1, 2]), np.array([2, 3])], dtype=dtype)
    m, e = tg.frexp(tg.tensor([8.0]))
    assert e.dtype == tg.int32 and m.item() == 0.5 and e.item() == 4
    with raises(RuntimeError, "frexp"):
        tg.frexp(tg.tensor([1, 2]))


def test_isin():
    a, b = np.array([[1, 2, 3], [4, 5, 6]]), np.array([2, 6, 9])
    for inv in (False, True):
        check_op(lambda x, y: lib(x).isin(x, y, invert=inv), inputs=[a, b])
        check_op(lambda x: lib(x).isin(x, 5, invert=inv), inputs=[a])
        check_op(lambda y: lib(y).isin(3, y), inputs=[b])
    check_op(lambda x, y: lib(x).isin(x, y), inputs=[(3,), np.zeros(0)])


@pytest.mark.parametrize("args,kw", [((0, 2, 5), {}), ((-1, 1, 4), {"base": 2.0}), ((0, 3, 4), {"dtype": "int64"}),
                                     ((1, 0, 0), {}), ((2, 2, 1), {"dtype": "float64"})])
def test_logspace(args, kw):
    got = tg.logspace(*args, **{k: (getattr(tg, v) if k == "dtype" else v) for k, v in kw.items()})
    want = torch.logspace(*args, **{k: (getattr(torch, v) if k == "dtype" else v) for k, v in kw.items()})
    assert str(got.dtype) == str(want.dtype).replace("torch.", "")
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)


def test_dtype_queries():
    assert tg.is_floating_point(tg.zeros(2)) and not tg.is_floating_point(tg.zeros(2, dtype=tg.int64))
    pairs = [("int32", "float16"), ("uint8", "int8"), ("bool", "int64"), ("float32", "float64"), ("int16", "int32")]
    for a, b in pairs:
        assert str(tg.promote_types(getattr(tg, a if a != "bool" else "bool_"), getattr(tg, b))) == \
            str(torch.promote_types(getattr(torch, a), getattr(torch, b))).replace("torch.", "")
    cases = [(np.array([1]), 1.0), (np.array([True]), 1), (np.array([1], dtype=np.int32), np.array(2.0)),
             (np.array([1.0], dtype=np.float32), np.array([1.0])), (2, 3.0), (2, 3), (np.array(2), np.array([1],
                                                                                                        np.int8))]
    for a, b in cases:
        conv = lambda v, m: m.tensor(v) if isinstance(v, np.ndarray) else v  # noqa: E731
        got = tg.result_type(conv(a, tg), conv(b, tg))
        want = torch.result_type(conv(a, torch), conv(b, torch))
        assert str(got) == str(want).replace("torch.", ""), (a, b)
    assert tg.can_cast(tg.float32, tg.int32) == torch.can_cast(torch.float32, torch.int32)


def test_small_queries():
    x = tg.arange(24.0).reshape(2, 3, 4)
    tx = torch.arange(24.0).reshape(2, 3, 4)
    for f in (lambda t: t, lambda t: t.transpose(0, 2), lambda t: t[:, 1:, ::2], lambda t: t[0, :1],
              lambda t: t.expand(3, 2, 3, 4)[1], lambda t: t.unsqueeze(1)):
        assert f(x).stride() == f(tx).stride()
        assert f(x).storage_offset() == f(tx).storage_offset()
    assert x.stride(1) == 4 and x.ndimension() == 3
    assert x.byte().dtype == tg.uint8 and x.char().dtype == tg.int8 and x.short().dtype == tg.int16
    assert x.get_device() == -1 and not x.is_shared()
    assert x[0].data_ptr() == x.data_ptr() and x[1].data_ptr() == x.data_ptr() + 12 * 4
    assert tg.tensor([2.0]).is_nonzero() and not tg.tensor(0).is_nonzero()
    with raises(RuntimeError, "is_nonzero"):
        tg.zeros(2).is_nonzero()


def test_inplace_view_methods():
    for name, args in [("t_", ()), ("transpose_", (0, 1)), ("squeeze_", ()), ("squeeze_", (1,)),
                       ("unsqueeze_", (-1,)), ("swapdims_", (1, 0)), ("swapaxes_", (0, 1))]:
        def f(a):
            b = a * 2
            c = getattr(b, name)(*args)
            assert c is b
            return b * b
        check_op(f, inputs=[(3, 1)])
    x = tg.zeros(2, 3)
    y = x.t_()
    assert y is x and x.shape == (3, 2) and x.stride() == (1, 3)
    x[0, 1] = 5.0
    v = tg.arange(6.0).reshape(2, 3)
    r = v[0]
    v.unsqueeze_(0)
    v[0, 0, 1] = -1.0  # still the same memory
    assert r[1].item() == -1.0
    with raises(RuntimeError, "leaf"):
        tg.zeros(2, 3, requires_grad=True).t_()


def test_tril_triu_inplace():
    for name in ("tril_", "triu_"):
        check_op(lambda a: getattr(a * 1, name)(1), inputs=[(3, 4)])
        check_op(lambda a: getattr(a * 1, name)(), inputs=[(2, 3, 3)])
    x = tg.ones(3, 3)
    x.tril_(-1)
    assert x.sum().item() == 3


@pytest.fixture
def printopts():
    yield
    tg.set_printoptions(profile="default")
    torch.set_printoptions(profile="default")


@pytest.mark.parametrize("kw", [{"precision": 2}, {"sci_mode": True}, {"sci_mode": False}, {"threshold": 5},
                                {"threshold": 5, "edgeitems": 1}, {"linewidth": 30}, {"profile": "short"},
                                {"profile": "full"}, {"precision": 6, "linewidth": 50}])
def test_set_printoptions(kw, printopts):
    tg.set_printoptions(**kw)
    torch.set_printoptions(**kw)
    for data in ([1.23456, 2.0, 1e-8], [[1.5, -2.25], [3.0, 4.125]], np.arange(12.0).tolist(), [1.0, 2.0],
                 np.arange(1200.0).reshape(40, 30).tolist(), [1, 2, 3], [123456.7, 0.5]):
        assert repr(tg.tensor(data)).replace("tensorgrad", "torch") == repr(torch.tensor(data)), (kw, data)
    with raises(ValueError, "profile"):
        tg.set_printoptions(profile="long")
