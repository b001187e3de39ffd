"""matmul and linear vs PyTorch: every rank combination (1-D, 2-D, batched, broadcast batch dims), gradients of
both operands (also with only one requiring grad), F.linear with/without bias on 2-D/3-D inputs; gradcheck."""
import numpy as np
import pytest

import tensorgrad as tg
from helpers import check_op, gradcheck_op, lib, F, FLOATS

MATMUL_SHAPES = [
    ((4,), (4,)),              # dot -> 0-d
    ((4,), (4, 3)),            # vector @ matrix
    ((3, 4), (4,)),            # matrix @ vector
    ((3, 4), (4, 5)),          # 2-D
    ((2, 3, 4), (2, 4, 5)),    # batched
    ((2, 3, 4), (4, 5)),       # batched @ matrix (weight-like)
    ((3, 4), (2, 4, 5)),       # matrix @ batched
    ((2, 1, 3, 4), (5, 4, 6)),  # broadcast batch dims
    ((2, 3, 4), (4,)),         # batched @ vector
    ((4,), (2, 4, 3)),         # vector @ batched
    ((1, 3, 4), (2, 1, 4, 2)),  # broadcast both ways
    ((2, 2, 3, 4), (2, 2, 4, 1)),
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul(shapes, dtype):
    check_op(lambda a, b: a @ b, inputs=list(shapes), dtype=dtype)
    check_op(lambda a, b: lib(a).matmul(a, b), inputs=list(shapes), dtype=dtype)


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul_one_side_requires_grad(shapes):
    check_op(lambda a, b: a @ b, inputs=list(shapes), requires_grad=[True, False])
    check_op(lambda a, b: a.matmul(b), inputs=list(shapes), requires_grad=[False, True])


@pytest.mark.parametrize("shapes", [((3,), (3,)), ((3,), (3, 2)), ((2, 3), (3,)), ((2, 3), (3, 2)),
                                    ((2, 1, 2, 3), (3, 3, 2)), ((2, 2, 3), (3, 2))], ids=str)
def test_matmul_gradcheck(shapes):
    gradcheck_op(lambda a, b: a @ b, list(shapes))


def test_matmul_non_contiguous_operands():
    check_op(lambda a, b: a.transpose(-1, -2) @ b.mT, inputs=[(2, 4, 3), (2, 5, 4)])


def test_matmul_float16_forward():
    check_op(lambda a, b: a @ b, inputs=[(3, 8), (8, 5)], dtype=np.float16, grad=False, atol=1e-2, rtol=1e-2)


def test_matmul_shape_errors():
    with pytest.raises(RuntimeError):
        tg.ones(2, 3) @ tg.ones(4, 2)
    with pytest.raises(RuntimeError):
        tg.ones(2, 2, 3) @ tg.ones(3, 3, 2)
    with pytest.raises(RuntimeError):
        tg.ones(()) @ tg.ones(3)


# -------------------------------------------------------------------------------------------------- linear
LINEAR = [((5, 4), (3, 4), (3,)), ((2, 5, 4), (3, 4), (3,)), ((2, 2, 5, 4), (3, 4), (3,)), ((4,), (3, 4), (3,)),
          ((5, 4), (3, 4), None), ((2, 5, 4), (3, 4), None)]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shapes", LINEAR, ids=str)
def test_linear(shapes, dtype):
    sx, sw, sb = shapes
    if sb is None:
        check_op(lambda x, w: F(x).linear(x, w), inputs=[sx, sw], dtype=dtype)
        check_op(lambda x, w: F(x).linear(x, w, None), inputs=[sx, sw], dtype=dtype)
    else:
        check_op(lambda x, w, b: F(x).linear(x, w, b), inputs=[sx, sw, sb], dtype=dtype)


@pytest.mark.parametrize("req", [[True, False, False], [False, True, False], [False, False, True], [False, True, True]],
                         ids=str)
def test_linear_partial_requires_grad(req):
    check_op(lambda x, w, b: F(x).linear(x, w, b), inputs=[(2, 5, 4), (3, 4), (3,)], requires_grad=req)


def test_linear_gradcheck():
    gradcheck_op(lambda x, w, b: F(x).linear(x, w, b), [(2, 3, 4), (2, 4), (2,)])
    gradcheck_op(lambda x, w: F(x).linear(x, w), [(3, 4), (2, 4)])


def test_linear_shape_errors():
    with pytest.raises(RuntimeError):
        tg.nn.functional.linear(tg.ones(2, 4), tg.ones(3, 5))
    with pytest.raises(RuntimeError):
        tg.nn.functional.linear(tg.ones(2, 4), tg.ones(3, 4), tg.ones(4))


# ---------------------------------------------------------------------------------------------- mm family
PRODUCTS = [("mm", (3, 4), (4, 5)), ("mm", (1, 4), (4, 1)), ("mm", (3, 0), (0, 2)), ("mm", (0, 3), (3, 2)),
            ("bmm", (2, 3, 4), (2, 4, 5)), ("bmm", (1, 1, 4), (1, 4, 3)), ("bmm", (2, 3, 0), (2, 0, 4)),
            ("bmm", (0, 3, 4), (0, 4, 2)),
            ("dot", (5,), (5,)), ("dot", (1,), (1,)), ("dot", (0,), (0,)), ("vdot", (4,), (4,)), ("mv", (3, 4), (4,)),
            ("outer", (3,), (4,)), ("ger", (1,), (4,)), ("outer", (0,), (2,)),
            ("inner", (3,), (3,)), ("inner", (2, 3), (4, 5, 3)), ("inner", (), (4, 3)), ("inner", (2, 3), ()),
            ("inner", (), ()), ("inner", (2, 0), (3, 0))]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name,sa,sb", PRODUCTS, ids=str)
def test_matmul_family(name, sa, sb, dtype):
    check_op(lambda a, b: getattr(a, name)(b), inputs=[sa, sb], dtype=dtype)
    check_op(lambda a, b: getattr(lib(a), name)(a, b), inputs=[sa, sb], dtype=dtype)
    check_op(lambda a, b: getattr(a, name)(b), inputs=[sa, sb], dtype=dtype, requires_grad=[False, True])


def test_outer_promotes_dtypes():
    check_op(lambda a, b: lib(a).outer(a, b), inputs=[np.arange(3), (4,)], dtype=np.float32)
    check_op(lambda a, b: lib(a).outer(a, b), inputs=[np.arange(3), np.arange(2)])


def test_mm_integer():
    a, b = np.arange(6).reshape(2, 3), np.arange(12).reshape(3, 4)
    check_op(lambda x, y: x.mm(y), inputs=[a, b])
    check_op(lambda x, y: x.mm(y), inputs=[a.astype(np.int32), b.astype(np.int32)])


TENSORDOT = [((2, 3, 4), (3, 4, 5), 2), ((2, 3, 4), (4, 5), 1), ((2, 3), (4, 5), 0), ((2, 3), (2, 3), 2),
             ((2, 3, 4), (4, 3, 5), ([1, 2], [1, 0])), ((2, 3, 4), (5, 2), ([0], [1])), ((3, 4), (4, 3), ([-1], [0])),
             ((2, 3, 4), (4, 3, 2), ((0, 1, 2), (2, 1, 0)))]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("sa,sb,dims", TENSORDOT, ids=str)
def test_tensordot(sa, sb, dims, dtype):
    check_op(lambda a, b: lib(a).tensordot(a, b, dims), inputs=[sa, sb], dtype=dtype)
    check_op(lambda a, b: lib(a).tensordot(a, b, dims=dims), inputs=[sa, sb], dtype=dtype, requires_grad=[True, False])


ADD_PRODUCTS = [("addmm", (3, 5), (3, 4), (4, 5)), ("addmm", (5,), (3, 4), (4, 5)), ("addmm", (1, 5), (3, 4), (4, 5)),
                ("addmm", (3, 1), (3, 4), (4, 5)), ("addmm", (), (3, 4), (4, 5)),
                ("addmv", (3,), (3, 4), (4,)), ("addmv", (), (3, 4), (4,)), ("addmv", (1,), (3, 4), (4,)),
                ("baddbmm", (2, 3, 5), (2, 3, 4), (2, 4, 5)), ("baddbmm", (5,), (2, 3, 4), (2, 4, 5)),
                ("baddbmm", (3, 1), (2, 3, 4), (2, 4, 5)),
                ("addbmm", (3, 5), (2, 3, 4), (2, 4, 5)), ("addbmm", (5,), (2, 3, 4), (2, 4, 5)),
                ("addr", (3, 4), (3,), (4,)), ("addr", (4,), (3,), (4,))]
SCALES = [{}, {"beta": 0.5, "alpha": 2.0}, {"beta": 0}, {"alpha": 0}, {"beta": 1, "alpha": -1.5}, {"beta": 2}]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("kw", SCALES, ids=str)
@pytest.mark.parametrize("name,si,s1,s2", ADD_PRODUCTS, ids=str)
def test_add_products(name, si, s1, s2, kw, dtype):
    check_op(lambda i, a, b: getattr(lib(i), name)(i, a, b, **kw), inputs=[si, s1, s2], dtype=dtype)
    check_op(lambda i, a, b: getattr(i, name)(a, b, **kw), inputs=[si, s1, s2], dtype=dtype)


@pytest.mark.parametrize("name,si,s1,s2", ADD_PRODUCTS, ids=str)
def test_add_products_beta_zero_ignores_nan_input(name, si, s1, s2):
    # PyTorch: with beta=0 the input's NaN / inf do not propagate, yet the input gets a (zero) gradient
    check_op(lambda i, a, b: getattr(lib(i), name)(i, a, b, beta=0), inputs=[np.full(si, np.nan), s1, s2])
    check_op(lambda i, a, b: getattr(lib(i), name)(i, a, b, beta=0, alpha=3.0), inputs=[np.full(si, np.inf), s1, s2])


def test_matmul_family_gradcheck():
    gradcheck_op(lambda a, b: a.mm(b), [(2, 3), (3, 2)])
    gradcheck_op(lambda a, b: a.bmm(b), [(2, 2, 3), (2, 3, 2)])
    gradcheck_op(lambda a, b: tg.inner(a, b), [(2, 3), (2, 2, 3)])
    gradcheck_op(lambda a, b: tg.tensordot(a, b, ([0, 2], [1, 0])), [(2, 3, 4), (4, 2, 2)])
    gradcheck_op(lambda i, a, b: tg.addmm(i, a, b, beta=0.5, alpha=2.0), [(3,), (2, 4), (4, 3)])
    gradcheck_op(lambda i, a, b: tg.addbmm(i, a, b, beta=0.5, alpha=2.0), [(2, 3), (3, 2, 4), (3, 4, 3)])


def _raises(exc, pattern, fn, *shapes):
    with pytest.raises(exc, match=pattern):
        fn(*[tg.ones(*s) for s in shapes])


MM_ERRORS = [
    (RuntimeError, r"mm: expected 2-D tensors, got shapes \(2, 3, 4\) and \(4, 2\)", tg.mm, (2, 3, 4), (4, 2)),
    (RuntimeError, r"mm: expected 2-D tensors, got shapes \(3,\) and \(3, 2\)", tg.mm, (3,), (3, 2)),
    (RuntimeError, r"mm: shapes \(2, 3\) and \(4, 2\) cannot be multiplied", tg.mm, (2, 3), (4, 2)),
    (RuntimeError, r"bmm: expected 3-D tensors, got shapes \(3, 4\) and \(4, 2\)", tg.bmm, (3, 4), (4, 2)),
    (RuntimeError, r"bmm: batch sizes differ, shapes \(2, 3, 4\) and \(3, 4, 2\)", tg.bmm, (2, 3, 4), (3, 4, 2)),
    (RuntimeError, r"bmm: shapes \(2, 3, 4\) and \(2, 5, 2\) cannot be multiplied", tg.bmm, (2, 3, 4), (2, 5, 2)),
    (RuntimeError, r"dot: expected 1-D tensors, got shapes \(2, 3\) and \(2, 3\)", tg.dot, (2, 3), (2, 3)),
    (RuntimeError, r"dot: expected 1-D tensors, got shapes \(\) and \(3,\)", tg.dot, (), (3,)),
    (RuntimeError, r"dot: shapes \(3,\) and \(4,\) cannot be multiplied", tg.dot, (3,), (4,)),
    (RuntimeError, r"mv: expected a 2-D matrix and a 1-D vector, got shapes \(2, 3\) and \(3, 1\)", tg.mv,
     (2, 3), (3, 1)),
    (RuntimeError, r"mv: shapes \(2, 3\) and \(4,\) cannot be multiplied", tg.mv, (2, 3), (4,)),
    (RuntimeError, r"outer: expected 1-D tensors, got shapes \(2, 3\) and \(3,\)", tg.outer, (2, 3), (3,)),
    (RuntimeError, r"inner: the last dims must match, got shapes \(2, 3\) and \(2, 4\)", tg.inner, (2, 3), (2, 4)),
    (RuntimeError, r"tensordot: contracted dims must match", lambda a, b: tg.tensordot(a, b, 1), (2, 3), (4, 5)),
    (RuntimeError, r"tensordot: dims=3 is out of range", lambda a, b: tg.tensordot(a, b, 3), (2, 3), (3, 2)),
    (RuntimeError, r"addmm: input of shape \(2,\) does not broadcast to the product's shape \(2, 3\)",
     tg.addmm, (2,), (2, 3), (3, 3)),
    (RuntimeError, r"addmm: input of shape \(4, 2, 3\) does not broadcast", tg.addmm, (4, 2, 3), (2, 3), (3, 3)),
    (RuntimeError, r"baddbmm: input of shape \(5, 2, 2, 3\) does not broadcast", tg.baddbmm, (5, 2, 2, 3), (2, 2, 3),
     (2, 3, 3)),
    (RuntimeError, r"addbmm: shapes \(2, 3, 4\) and \(3, 4, 5\) cannot be batch-multiplied", tg.addbmm, (3, 5),
     (2, 3, 4), (3, 4, 5)),
]


@pytest.mark.parametrize("exc,pattern,fn,shapes", [e[:3] + (e[3:],) for e in MM_ERRORS], ids=range(len(MM_ERRORS)))
def test_matmul_family_errors(exc, pattern, fn, shapes):
    _raises(exc, pattern, fn, *shapes)


def test_matmul_family_dtype_errors():
    f32, f64 = tg.ones(2, 2), tg.ones(2, 2, dtype=tg.float64)
    with pytest.raises(TypeError, match=r"mm: expected one dtype, got \(2, 2\) float32, \(2, 2\) float64"):
        tg.mm(f32, f64)
    with pytest.raises(TypeError, match="dot: expected one dtype"):
        tg.dot(tg.ones(2), tg.ones(2, dtype=tg.float64))
    with pytest.raises(TypeError, match="addmm: expected one dtype"):
        tg.addmm(tg.ones(2, dtype=tg.float64), f32, f32)
    with pytest.raises(TypeError, match="mm: expected two Tensors"):
        tg.mm(f32, [[1.0, 2.0], [3.0, 4.0]])


@pytest.mark.parametrize("name,fn,expected", [
    ("mm", lambda a, h: tg.mm(a, h), tg.float16),
    ("bmm", lambda a, h: tg.bmm(a[None], h[None]), tg.float16),
    ("addmm", lambda a, h: tg.addmm(a[:, :1], a, h), tg.float16),
    ("inner", lambda a, h: tg.inner(a, h.t()), tg.float16),
    ("tensordot", lambda a, h: tg.tensordot(a, h, 1), tg.float16),
    ("einsum", lambda a, h: tg.einsum("ij,jk", a, h), tg.float16),
    ("norm", lambda a, h: h.norm(), tg.float32),
    ("cumsum", lambda a, h: h.cumsum(0), tg.float32),
    ("prod", lambda a, h: h.prod(), tg.float32),
], ids=lambda v: v if isinstance(v, str) else "")
def test_autocast_policy_of_new_ops(name, fn, expected):
    from tensorgrad.amp import autocast
    a, h = tg.ones(3, 3), tg.ones(3, 3, dtype=tg.float16)  # mixed dtypes: autocast makes them one
    with autocast(dtype=tg.float16):
        assert fn(a, h).dtype == expected, name


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batched_matmul_with_a_transposed_right_operand(dtype):
    """q @ k.transpose(-2, -1) at sizes NumPy multiplies (below MKL's batch call): the right operand is copied into
    C order first (backend/cpu.py gemm); values and both gradients as torch's."""
    check_op(lambda q, k: q @ k.transpose(-2, -1), inputs=[(6, 20, 24), (6, 30, 24)], dtype=dtype)
    check_op(lambda q, k: q @ k.transpose(-2, -1), inputs=[(2, 3, 33, 16), (2, 3, 40, 16)], dtype=dtype)
