"""F.affine_grid and F.grid_sample vs PyTorch: forward and the gradients of input, grid and theta (float64 tight,
float32), every mode (bilinear, nearest, bicubic) x padding mode (zeros, border, reflection) x align_corners on 4-D
input, bilinear / nearest on 5-D input, grids reaching outside [-1, 1], points exactly on pixel centres and on the
borders, size-1 inputs, float64 gradcheck and gradgradcheck, warnings and errors."""
import itertools
import warnings

import numpy as np
import pytest
import torch

import tensorgrad as tg
from helpers import check_op, gradcheck_op, gradgradcheck_op, F, FLOATS, unif

torch.set_num_threads(1)

CASES_2D = list(itertools.product(["bilinear", "nearest", "bicubic"], ["zeros", "border", "reflection"],
                                  [False, True]))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("mode,padding_mode,align", CASES_2D, ids=str)
def test_grid_sample_2d(mode, padding_mode, align, dtype):
    tol = dict(atol=1e-10, rtol=1e-10) if dtype == np.float64 else dict(atol=1e-4, rtol=1e-4)
    check_op(lambda x, g: F(x).grid_sample(x, g, mode, padding_mode, align),
             inputs=[(2, 3, 5, 6), unif(2, 4, 7, 2, low=-1.4, high=1.4)], dtype=dtype, **tol)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("mode,padding_mode,align", list(itertools.product(
    ["bilinear", "nearest"], ["zeros", "border", "reflection"], [False, True])), ids=str)
def test_grid_sample_3d(mode, padding_mode, align, dtype):
    tol = dict(atol=1e-10, rtol=1e-10) if dtype == np.float64 else dict(atol=1e-4, rtol=1e-4)
    check_op(lambda x, g: F(x).grid_sample(x, g, mode, padding_mode, align),
             inputs=[(2, 2, 3, 4, 5), unif(2, 2, 3, 4, 3, low=-1.4, high=1.4)], dtype=dtype, **tol)


@pytest.mark.parametrize("mode,padding_mode,align", CASES_2D, ids=str)
def test_grid_sample_on_pixel_centres_and_borders(mode, padding_mode, align):
    """Grid points exactly at pixel centres, at +-1 and beyond (the kinks of the padding transforms): torch's
    values and its one-sided gradients there."""
    h, w = 4, 5
    xs = np.concatenate([np.linspace(-1, 1, w), (np.arange(w) * 2 + 1) / w - 1, [-1.0, 1.0, -1.5, 1.5, 3.0, -3.0]])
    ys = np.concatenate([np.linspace(-1, 1, h), (np.arange(h) * 2 + 1) / h - 1, [-1.0, 1.0, 2.0, -2.5]])
    gx, gy = np.meshgrid(xs, ys)
    grid = np.stack([gx, gy], -1)[None].repeat(2, 0)
    x = np.random.default_rng(0).standard_normal((2, 2, h, w))
    check_op(lambda a, g: F(a).grid_sample(a, g, mode, padding_mode, align), inputs=[x, grid])


@pytest.mark.parametrize("mode", ["bilinear", "nearest", "bicubic"])
def test_grid_sample_size_one_and_empty(mode):
    for padding_mode, align in itertools.product(["zeros", "border", "reflection"], [False, True]):
        check_op(lambda x, g: F(x).grid_sample(x, g, mode, padding_mode, align),
                 inputs=[(1, 2, 1, 1), unif(1, 3, 2, 2, low=-1.5, high=1.5)])
    check_op(lambda x, g: F(x).grid_sample(x, g, mode, "zeros", False), inputs=[(2, 2, 3, 3), (2, 0, 4, 2)])


def test_grid_sample_gradcheck_and_double_backward():
    for mode, pm in [("bilinear", "zeros"), ("bicubic", "reflection"), ("bilinear", "border")]:
        gradcheck_op(lambda x, g: tg.nn.functional.grid_sample(x, g, mode, pm, False),
                     [(1, 2, 3, 4), unif(1, 2, 3, 2, low=-0.9, high=0.9)])
    gradcheck_op(lambda x, g: tg.nn.functional.grid_sample(x, g, "bilinear", "reflection", True),
                 [(1, 2, 2, 3, 3), unif(1, 2, 2, 2, 3, low=-0.9, high=0.9)])
    rng = np.random.default_rng(0)
    x = tg.tensor(rng.standard_normal((1, 2, 3, 4)), requires_grad=True)
    g = tg.tensor(rng.uniform(-0.9, 0.9, (1, 2, 3, 2)), requires_grad=True)
    gradgradcheck_op(lambda x, g: tg.nn.functional.grid_sample(x, g, "bicubic", "zeros", False), [x, g])
    gradgradcheck_op(lambda x, g: tg.nn.functional.grid_sample(x, g, "bilinear", "border", True), [x, g])


# ---------------------------------------------------------------------------------------------- affine_grid
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("size,align", [((2, 3, 4, 5), False), ((2, 3, 4, 5), True), ((1, 1, 1, 7), False),
                                        ((2, 1, 3, 4, 5), False), ((2, 1, 3, 4, 5), True), ((1, 2, 6, 1, 2), False)],
                         ids=str)
def test_affine_grid(size, align, dtype):
    nd = len(size) - 2
    check_op(lambda t: F(t).affine_grid(t, size, align), inputs=[(size[0], nd, nd + 1)], dtype=dtype)


def test_affine_grid_then_grid_sample_gradcheck_and_vs_torch():
    def fn(theta, x):
        f = F(x)
        return f.grid_sample(x, f.affine_grid(theta, list(x.shape), False), "bilinear", "border", False)
    theta = np.array([[[0.9, 0.2, 0.1], [-0.1, 1.1, -0.2]], [[1.0, 0.0, 0.3], [0.1, 0.8, 0.0]]])
    check_op(fn, inputs=[theta, (2, 3, 5, 6)])
    gradcheck_op(lambda t: tg.nn.functional.affine_grid(t, [2, 1, 3, 2, 4], True), [(2, 3, 4)])


def test_warnings_and_errors():
    f = tg.nn.functional
    x, g = tg.randn(2, 3, 4, 4), tg.rand(2, 3, 3, 2)
    with pytest.warns(UserWarning, match="align_corners=False"):
        f.grid_sample(x, g)
    with pytest.warns(UserWarning, match="align_corners=False"):
        f.affine_grid(tg.randn(2, 2, 3), [2, 3, 4, 4])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f.grid_sample(x, g, align_corners=False)
    with pytest.warns(UserWarning, match="unit-size grids"):
        f.affine_grid(tg.randn(1, 2, 3), [1, 1, 1, 4], align_corners=True)
    for fn, exc, match in [
        (lambda: f.grid_sample(x, g, "area", align_corners=False), ValueError, "expected mode to be"),
        (lambda: f.grid_sample(x, g, padding_mode="wrap", align_corners=False), ValueError, "padding_mode"),
        (lambda: f.grid_sample(x, tg.rand(2, 3, 3, 3), align_corners=False), RuntimeError, "size 2 in the last"),
        (lambda: f.grid_sample(x, tg.rand(1, 3, 3, 2), align_corners=False), RuntimeError, "same batch size"),
        (lambda: f.grid_sample(x, tg.rand(2, 3, 2), align_corners=False), RuntimeError, "same rank"),
        (lambda: f.grid_sample(x, g.double(), align_corners=False), RuntimeError, "one floating point dtype"),
        (lambda: f.grid_sample(tg.randn(1, 1, 2, 2, 2), tg.rand(1, 1, 1, 1, 3), "bicubic", align_corners=False),
         RuntimeError, "bicubic interpolation only supports 4-D"),
        (lambda: f.grid_sample(tg.randn(1, 1, 0, 2), tg.rand(1, 1, 1, 2), align_corners=False), RuntimeError,
         "non-empty spatial"),
        (lambda: f.affine_grid(tg.randn(2, 2, 3), [2, 3, 4], False), NotImplementedError, "4-D and 5-D"),
        (lambda: f.affine_grid(tg.randn(2, 3, 4), [2, 3, 4, 4], False), ValueError, "Nx2x3"),
        (lambda: f.affine_grid(tg.randn(2, 2, 3), [2, 3, 0, 4], False), ValueError, "non-zero, positive"),
        (lambda: f.affine_grid(tg.tensor(np.zeros((2, 2, 3), np.int64)), [2, 3, 4, 4], False), ValueError,
         "floating point"),
    ]:
        with pytest.raises(exc, match=match):
            fn()
    tx = torch.randn(2, 3, 4, 4)
    for fn in (lambda: torch.nn.functional.grid_sample(tx, torch.rand(2, 3, 3, 3), align_corners=False),
               lambda: torch.nn.functional.grid_sample(tx, torch.rand(2, 3, 3, 2).double(), align_corners=False)):
        with pytest.raises(RuntimeError):
            fn()
