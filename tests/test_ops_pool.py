"""Pooling vs PyTorch (forward, indices and the gradient of the input): F.max_pool1d/2d, avg_pool1d/2d,
adaptive_avg_pool1d/2d, adaptive_max_pool1d/2d over strides != kernel, padding, dilation, ceil_mode, odd sizes,
adaptive sizes that do not divide (and None entries), unbatched and empty-batch inputs, ties and NaN (PyTorch's
first-max / NaN rules), int inputs; float64 gradchecks; the nn modules (forward, return_indices, reprs); bad input."""
import re

import numpy as np
import pytest
import torch

import tensorgrad as tg
from helpers import check_op, gradcheck_op, F, FLOATS

torch.set_num_threads(1)


def nn(x):
    """torch.nn or tensorgrad.nn, by the library of x."""
    return torch.nn if isinstance(x, torch.Tensor) else tg.nn


# (input shape, kwargs) -- kernel / stride / padding / dilation / ceil_mode in every combination that matters.
MAX2D = [
    ((2, 3, 7, 8), dict(kernel_size=3)),
    ((2, 3, 7, 8), dict(kernel_size=3, stride=2, padding=1)),
    ((2, 3, 9, 7), dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 1), dilation=(2, 1))),
    ((1, 2, 8, 9), dict(kernel_size=3, stride=2, ceil_mode=True)),
    ((2, 2, 7, 7), dict(kernel_size=2, stride=3, padding=1, ceil_mode=True)),
    ((2, 2, 6, 9), dict(kernel_size=(1, 3), dilation=3, padding=(0, 1))),
    ((2, 3, 9, 10), dict(kernel_size=3, stride=1, padding=1, dilation=2, ceil_mode=True)),
    ((3, 5, 5), dict(kernel_size=2, stride=1)),                         # unbatched
    ((2, 1, 5, 5), dict(kernel_size=5)),                                # one window
    ((2, 3, 4, 6), dict(kernel_size=[2], stride=[1])),                  # 1-tuples apply to both dims
    ((2, 2, 1, 1), dict(kernel_size=1)),
    ((0, 2, 5, 5), dict(kernel_size=2)),                                # empty batch
]
MAX1D = [
    ((2, 3, 11), dict(kernel_size=3)),
    ((2, 3, 11), dict(kernel_size=3, stride=2, padding=1)),
    ((2, 3, 11), dict(kernel_size=2, stride=3, padding=1, ceil_mode=True)),
    ((4, 10), dict(kernel_size=3, dilation=3, padding=1)),              # unbatched
    ((2, 2, 12), dict(kernel_size=4, stride=4)),
    ((2, 2, 13), dict(kernel_size=4, stride=3, dilation=2, padding=2, ceil_mode=True)),
    ((2, 2, 9), dict(kernel_size=5, dilation=2, padding=2)),
    ((1, 1, 1), dict(kernel_size=1)),
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("indices", [False, True])
@pytest.mark.parametrize("shape,kw", MAX2D, ids=str)
def test_max_pool2d(shape, kw, indices, dtype):
    check_op(lambda x: F(x).max_pool2d(x, **kw, return_indices=indices), inputs=[shape], dtype=dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("indices", [False, True])
@pytest.mark.parametrize("shape,kw", MAX1D, ids=str)
def test_max_pool1d(shape, kw, indices, dtype):
    check_op(lambda x: F(x).max_pool1d(x, **kw, return_indices=indices), inputs=[shape], dtype=dtype)


def test_max_pool_positional_arguments():
    check_op(lambda x: F(x).max_pool2d(x, 3, 2, 1, 1, True, True), inputs=[(2, 3, 8, 7)])
    check_op(lambda x: F(x).max_pool1d(x, 3, 2, 1, 2, True, True), inputs=[(2, 3, 12)])


def test_max_pool_ties_go_to_the_first_maximum():
    # Few distinct values: most windows hold tied maxima; torch's index (and gradient) is the first in kernel order.
    x = np.random.default_rng(0).integers(0, 3, size=(2, 3, 9, 8)).astype(np.float64)
    for kw in (dict(kernel_size=3, stride=1, padding=1), dict(kernel_size=2, stride=2, dilation=2, ceil_mode=True)):
        check_op(lambda t: F(t).max_pool2d(t, **kw, return_indices=True), inputs=[x])
    check_op(lambda t: F(t).adaptive_max_pool2d(t, (4, 5), return_indices=True), inputs=[x])
    check_op(lambda t: F(t).max_pool1d(t, 3, 1, 1, return_indices=True), inputs=[x[0]])
    check_op(lambda t: F(t).adaptive_max_pool1d(t, 5, return_indices=True), inputs=[x[0]])
    check_op(lambda t: F(t).max_pool2d(t, 2, return_indices=True), inputs=[np.zeros((1, 2, 4, 4))])


def test_max_pool_nan_and_inf():
    nan, inf = np.nan, np.inf
    x = np.array([[[1.0, 3, 3, 2, nan, 5, nan, 1, -inf, -inf, -inf]]])
    for k, s, p in ((3, 1, 1), (2, 2, 0), (11, 1, 0), (3, 2, 1)):
        check_op(lambda t: F(t).max_pool1d(t, k, s, p, return_indices=True), inputs=[x])
    check_op(lambda t: F(t).adaptive_max_pool1d(t, 3, return_indices=True), inputs=[x])
    # All -inf: the index is the first real (not padded) position of each window.
    check_op(lambda t: F(t).max_pool2d(t, 3, 1, 1, return_indices=True), inputs=[np.full((1, 1, 3, 4), -inf)])


def test_max_pool_int_input():
    for dt in (np.int64, np.int32):
        x = np.random.default_rng(1).integers(-9, 9, size=(2, 3, 7, 6)).astype(dt)
        check_op(lambda t: F(t).max_pool2d(t, 3, 2, 1, return_indices=True), inputs=[x])
        check_op(lambda t: F(t).max_pool2d(t, 2), inputs=[x])
        check_op(lambda t: F(t).max_pool1d(t, 3, 2, 1, return_indices=True), inputs=[x[0]])


def test_max_pool_float16():
    check_op(lambda x: F(x).max_pool2d(x, 3, 2, 1, return_indices=True), inputs=[(2, 3, 7, 8)], dtype=np.float16)


# ------------------------------------------------------------------------------------------------ avg pools
AVG2D = [
    ((2, 3, 7, 8), dict(kernel_size=3)),
    ((2, 3, 7, 8), dict(kernel_size=3, stride=2, padding=1)),
    ((2, 3, 9, 7), dict(kernel_size=(3, 2), stride=(2, 3), padding=(1, 1))),
    ((1, 2, 8, 9), dict(kernel_size=3, stride=2)),
    ((2, 2, 7, 7), dict(kernel_size=4, stride=3, padding=2)),
    ((2, 2, 6, 5), dict(kernel_size=(2, 3), stride=1, padding=(1, 0))),
    ((3, 5, 5), dict(kernel_size=2, stride=1)),
    ((2, 2, 6, 8), dict(kernel_size=2)),                                # windows tile: reshape + sum
    ((0, 2, 5, 5), dict(kernel_size=2)),
]
AVG1D = [
    ((2, 3, 11), dict(kernel_size=3)),
    ((2, 3, 11), dict(kernel_size=4, stride=3, padding=2)),
    ((2, 3, 11), dict(kernel_size=2, stride=1, padding=1)),
    ((4, 10), dict(kernel_size=3, stride=2, padding=1)),
    ((1, 1, 1), dict(kernel_size=1)),
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("shape,kw", AVG2D, ids=str)
def test_avg_pool2d(shape, kw, ceil_mode, count_include_pad, dtype):
    check_op(lambda x: F(x).avg_pool2d(x, **kw, ceil_mode=ceil_mode, count_include_pad=count_include_pad),
             inputs=[shape], dtype=dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("shape,kw", AVG1D, ids=str)
def test_avg_pool1d(shape, kw, ceil_mode, count_include_pad, dtype):
    check_op(lambda x: F(x).avg_pool1d(x, **kw, ceil_mode=ceil_mode, count_include_pad=count_include_pad),
             inputs=[shape], dtype=dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("divisor", [1, 3, -2, 7])
def test_avg_pool2d_divisor_override(divisor, dtype):
    check_op(lambda x: F(x).avg_pool2d(x, 3, 2, 1, True, False, divisor), inputs=[(2, 3, 7, 8)], dtype=dtype)
    check_op(lambda x: F(x).avg_pool2d(x, 2, divisor_override=divisor), inputs=[(3, 6, 5)], dtype=dtype)


def test_avg_pool_int64_truncates_as_torch():
    x = np.random.default_rng(2).integers(-20, 20, size=(2, 3, 7, 6)).astype(np.int64)
    check_op(lambda t: F(t).avg_pool2d(t, 3, 2, 1, True, False), inputs=[x])
    check_op(lambda t: F(t).avg_pool2d(t, 2, divisor_override=-3), inputs=[x])
    check_op(lambda t: F(t).avg_pool1d(t, 3, 2, 1, True), inputs=[x[0]])


def test_avg_pool_float16():
    check_op(lambda x: F(x).avg_pool2d(x, 3, 2, 1), inputs=[(2, 3, 7, 8)], dtype=np.float16)
    check_op(lambda x: F(x).adaptive_avg_pool2d(x, (3, 5)), inputs=[(2, 3, 7, 8)], dtype=np.float16)


# ------------------------------------------------------------------------------------------- adaptive pools
ADAPTIVE2D = [((2, 3, 7, 8), (3, None)), ((2, 3, 7, 8), (5, 3)), ((2, 3, 7, 8), (9, 11)), ((2, 3, 7, 8), 1),
              ((2, 3, 7, 8), (7, 8)), ((2, 3, 8, 6), (2, 3)), ((3, 5, 5), 3), ((2, 2, 1, 1), (2, 3)),
              ((2, 3, 10, 13), (None, 4)), ((0, 2, 5, 5), 2), ((2, 3, 7, 8), [4, 2])]
ADAPTIVE1D = [((2, 3, 11), 4), ((2, 3, 11), 1), ((2, 3, 11), 11), ((2, 3, 5), 8), ((4, 12), 3), ((2, 3, 11), (6,))]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,size", ADAPTIVE2D, ids=str)
def test_adaptive_avg_pool2d(shape, size, dtype):
    check_op(lambda x: F(x).adaptive_avg_pool2d(x, size), inputs=[shape], dtype=dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,size", ADAPTIVE1D, ids=str)
def test_adaptive_avg_pool1d(shape, size, dtype):
    check_op(lambda x: F(x).adaptive_avg_pool1d(x, size), inputs=[shape], dtype=dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("indices", [False, True])
@pytest.mark.parametrize("shape,size", ADAPTIVE2D, ids=str)
def test_adaptive_max_pool2d(shape, size, indices, dtype):
    check_op(lambda x: F(x).adaptive_max_pool2d(x, size, indices), inputs=[shape], dtype=dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("indices", [False, True])
@pytest.mark.parametrize("shape,size", ADAPTIVE1D, ids=str)
def test_adaptive_max_pool1d(shape, size, indices, dtype):
    check_op(lambda x: F(x).adaptive_max_pool1d(x, size, indices), inputs=[shape], dtype=dtype)


def test_adaptive_output_size_zero_forward():
    # torch allows an empty output (its backward then refuses, so the forward only).
    check_op(lambda x: F(x).adaptive_avg_pool2d(x, (0, 3)), inputs=[(2, 3, 7, 8)], grad=False)
    check_op(lambda x: F(x).adaptive_max_pool2d(x, (0, 3), True), inputs=[(2, 3, 7, 8)], grad=False)


def test_pools_are_composites_with_gradcheck():
    gradcheck_op(lambda x: F(x).max_pool2d(x, 3, 2, 1, 2, True), [(2, 2, 8, 7)])
    gradcheck_op(lambda x: F(x).max_pool1d(x, 3, 2, 1), [(2, 2, 9)])
    gradcheck_op(lambda x: F(x).avg_pool2d(x, 3, 2, 1, True, False), [(2, 2, 7, 6)])
    gradcheck_op(lambda x: F(x).avg_pool1d(x, 4, 3, 2, True), [(2, 2, 11)])
    gradcheck_op(lambda x: F(x).adaptive_avg_pool2d(x, (3, 5)), [(2, 2, 7, 8)])
    gradcheck_op(lambda x: F(x).adaptive_max_pool2d(x, (3, 5)), [(2, 2, 7, 8)])
    gradcheck_op(lambda x: F(x).adaptive_avg_pool1d(x, 4), [(2, 2, 11)])


def test_max_pool_gradient_accumulates_over_overlapping_windows():
    # One maximum shared by every window that covers it gets the sum of their gradients.
    x = tg.zeros(1, 1, 3, 3, requires_grad=True)
    with tg.no_grad():
        x.array[0, 0, 1, 1] = 5.0
    F(x).max_pool2d(x, 2, 1).sum().backward()
    assert x.grad.numpy()[0, 0, 1, 1] == 4.0 and x.grad.numpy().sum() == 4.0


# ------------------------------------------------------------------------------------------------- modules
MODULES = [
    (lambda T: T.MaxPool2d(3, 2, 1), (2, 3, 7, 8)),
    (lambda T: T.MaxPool2d((2, 3), dilation=(1, 2), ceil_mode=True), (2, 3, 7, 9)),
    (lambda T: T.MaxPool2d(3, 2, 1, return_indices=True), (2, 3, 7, 8)),
    (lambda T: T.MaxPool1d(3, 2, 1, 2, ceil_mode=True), (2, 3, 12)),
    (lambda T: T.MaxPool1d(2, return_indices=True), (3, 9)),
    (lambda T: T.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False), (2, 3, 7, 8)),
    (lambda T: T.AvgPool2d((2, 3), divisor_override=4), (2, 3, 7, 8)),
    (lambda T: T.AvgPool1d(3, 2, 1, ceil_mode=True, count_include_pad=False), (2, 3, 12)),
    (lambda T: T.AdaptiveAvgPool2d((3, None)), (2, 3, 7, 8)),
    (lambda T: T.AdaptiveAvgPool2d(1), (2, 3, 7, 8)),
    (lambda T: T.AdaptiveAvgPool1d(5), (2, 3, 12)),
    (lambda T: T.AdaptiveMaxPool2d((4, 3)), (2, 3, 7, 8)),
    (lambda T: T.AdaptiveMaxPool2d(2, return_indices=True), (3, 7, 8)),
    (lambda T: T.AdaptiveMaxPool1d(5, True), (2, 3, 12)),
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("make,shape", MODULES, ids=lambda v: str(v) if isinstance(v, tuple) else "")
def test_pool_module(make, shape, dtype):
    check_op(lambda x: make(nn(x))(x), inputs=[shape], dtype=dtype)


@pytest.mark.parametrize("make", [m for m, _ in MODULES] + [
    lambda T: T.MaxPool2d(2), lambda T: T.AvgPool1d(4), lambda T: T.AvgPool2d(3, (1, 2), 1),
    lambda T: T.AdaptiveAvgPool2d((None, 2))])
def test_pool_module_repr(make):
    assert repr(make(tg.nn)) == repr(make(torch.nn))


def test_pool_modules_in_a_model():
    """A small conv-free CNN-style stack trains through the pools: MaxPool -> AvgPool -> AdaptiveAvgPool -> Linear."""
    tg.manual_seed(0)
    model = tg.nn.Sequential(tg.nn.MaxPool2d(2), tg.nn.AvgPool2d(3, 1, 1), tg.nn.AdaptiveAvgPool2d(1),
                             tg.nn.Flatten(), tg.nn.Linear(3, 2))
    x = tg.randn(4, 3, 8, 8, requires_grad=True)
    model(x).sum().backward()
    assert x.grad is not None and x.grad.shape == x.shape
    assert all(p.grad is not None for p in model.parameters())


# ----------------------------------------------------------------------------------------------- bad input
def _raises(exc, pattern, fn):
    with pytest.raises(exc, match=pattern):
        fn()


def test_pool_errors_name_the_op_and_the_shapes():
    x = tg.randn(2, 3, 5, 5)
    fn = tg.nn.functional
    _raises(RuntimeError, re.escape("max_pool2d: input of shape (2, 3, 5, 5) is too small"),
            lambda: fn.max_pool2d(x, 7))
    _raises(RuntimeError, re.escape("avg_pool2d: input of shape (2, 3, 5, 5) is too small"),
            lambda: fn.avg_pool2d(x, (2, 6)))
    _raises(RuntimeError, "max_pool2d: padding .* at most half", lambda: fn.max_pool2d(x, 3, padding=2))
    _raises(RuntimeError, "max_pool1d: padding .* at most half", lambda: fn.max_pool1d(x[0], 3, padding=2, dilation=2))
    _raises(RuntimeError, "avg_pool2d: padding .* at most half", lambda: fn.avg_pool2d(x, 3, padding=2))
    _raises(RuntimeError, re.escape("max_pool1d: expected a 2-D (unbatched) or 3-D (batched) input, got shape "
                                    "(2, 3, 5, 5)"), lambda: fn.max_pool1d(x, 2))
    _raises(RuntimeError, re.escape("avg_pool2d: expected a 3-D (unbatched) or 4-D (batched) input, got shape (5,)"),
            lambda: fn.avg_pool2d(tg.randn(5), 2))
    _raises(RuntimeError, "max_pool2d: stride must be > 0", lambda: fn.max_pool2d(x, 2, stride=0))
    _raises(RuntimeError, "max_pool2d: kernel_size must be > 0", lambda: fn.max_pool2d(x, 0))
    _raises(RuntimeError, "max_pool2d: dilation must be > 0", lambda: fn.max_pool2d(x, 2, dilation=0))
    _raises(RuntimeError, "max_pool2d: padding must be >= 0", lambda: fn.max_pool2d(x, 2, padding=-1))
    _raises(RuntimeError, "max_pool2d: kernel_size must be a single int or a tuple of 2 ints",
            lambda: fn.max_pool2d(x, (2, 2, 2)))
    _raises(TypeError, "max_pool2d: kernel_size must be an int", lambda: fn.max_pool2d(x, 2.0))
    _raises(RuntimeError, "avg_pool2d: divisor_override must be a non-zero int",
            lambda: fn.avg_pool2d(x, 2, divisor_override=0))
    _raises(RuntimeError, re.escape("max_pool2d: expected non-zero sizes in every dim but the batch dim, got shape "
                                    "(2, 0, 5, 5)"), lambda: fn.max_pool2d(tg.randn(2, 0, 5, 5), 2))
    _raises(RuntimeError, "adaptive_avg_pool2d: expected non-zero sizes", lambda: fn.adaptive_avg_pool2d(
        tg.randn(2, 3, 0, 5), 2))
    _raises(RuntimeError, re.escape("adaptive_avg_pool2d: output_size must be >= 0, got (1, -1)"),
            lambda: fn.adaptive_avg_pool2d(x, (1, -1)))
    _raises(RuntimeError, "adaptive_max_pool2d: output_size must be an int or a tuple of 2",
            lambda: fn.adaptive_max_pool2d(x, (1, 2, 3)))
    _raises(RuntimeError, "adaptive_avg_pool2d: output_size must be an int or a tuple of 2",
            lambda: fn.adaptive_avg_pool2d(x, [4]))
    _raises(TypeError, re.escape("max_pool2d: not implemented for bool (input of shape (2, 3, 5, 5))"),
            lambda: fn.max_pool2d(x > 0, 2))
    _raises(TypeError, "avg_pool2d: not implemented for int32", lambda: fn.avg_pool2d(x.to(tg.int32), 2))
    _raises(TypeError, "adaptive_avg_pool2d: not implemented for int64",
            lambda: fn.adaptive_avg_pool2d(x.to(tg.int64), 2))
    _raises(TypeError, "adaptive_max_pool1d: not implemented for int64",
            lambda: fn.adaptive_max_pool1d(x[0].to(tg.int64), 2))
    _raises(TypeError, "max_pool2d: expected a Tensor", lambda: fn.max_pool2d(np.zeros((2, 3, 4, 4)), 2))


def test_pool_errors_where_torch_raises_too():
    # Each of these also fails in torch (so the tensorgrad message is the better one, not a spurious error).
    for args in [((2, 3, 5, 5), 7, {}), ((2, 3, 5, 5), 3, dict(padding=2)), ((2, 3, 5, 5), 2, dict(stride=0)),
                 ((2, 3, 9, 9), 3, dict(padding=2, dilation=2))]:
        shape, k, kw = args
        with pytest.raises(RuntimeError):
            torch.nn.functional.max_pool2d(torch.randn(shape), k, **kw)
        with pytest.raises(RuntimeError):
            tg.nn.functional.max_pool2d(tg.randn(*shape), k, **kw)


def test_int_indices_are_not_differentiable():
    x = tg.randn(2, 3, 6, 6, requires_grad=True)
    values, indices = tg.nn.functional.max_pool2d(x, 2, return_indices=True)
    assert values.requires_grad and not indices.requires_grad and indices.dtype == np.int64
