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
