"""tensorgrad/ops/resample.py and nn/resample.py vs PyTorch: F.interpolate in every mode, the reflect / replicate /
circular paddings, pixel_shuffle / pixel_unshuffle, prelu, and their modules (Upsample, PixelShuffle, the *PadNd
family, PReLU): outputs, gradients, gradcheck and gradgradcheck, reprs, refusals. tests/test_fuzz_torch.py draws
the functional forms on random shapes and arguments."""
import numpy as np
import pytest
import torch

import tensorgrad as tg
from helpers import check_op, copy_to_torch, gradcheck_op, gradgradcheck_op, unif


def F(x):
    return (tg if isinstance(x, tg.Tensor) else torch).nn.functional


INTERP = [
    ((1, 2, 5), dict(scale_factor=2.0, mode="nearest")),
    ((2, 1, 4, 6), dict(size=(7, 3), mode="nearest-exact")),
    ((1, 2, 5), dict(size=9, mode="linear", align_corners=False)),
    ((2, 2, 4, 5), dict(scale_factor=1.7, mode="bilinear", align_corners=True)),
    ((1, 1, 4, 5), dict(size=(6, 9), mode="bicubic", align_corners=False)),
    ((1, 1, 3, 4, 2), dict(scale_factor=(2.0, 1.5, 2.5), mode="trilinear", align_corners=False)),
    ((2, 3, 6, 5), dict(size=(3, 2), mode="area")),
    ((1, 2, 4, 6, 5), dict(size=(2, 3, 4), mode="area")),
    ((1, 2, 7, 7), dict(scale_factor=0.6, mode="bilinear", recompute_scale_factor=True)),
]


@pytest.mark.parametrize("shape,kw", INTERP, ids=[k["mode"] for _, k in INTERP])
def test_interpolate_against_torch_gradcheck_and_gradgradcheck(shape, kw):
    fn = lambda x: F(x).interpolate(x, **kw)  # noqa: E731
    check_op(fn, inputs=[shape])
    check_op(fn, inputs=[shape], dtype=np.float32)
    gradcheck_op(fn, inputs=[shape])
    gradgradcheck_op(fn, [tg.tensor(np.random.default_rng(0).standard_normal(shape), requires_grad=True)])


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_pad_modes_against_torch(mode):
    for shape, pad in [((2, 5), (2, 3)), ((1, 2, 4, 5), (1, 2, 3, 0)), ((1, 1, 3, 4, 5), (1, 1, 2, 2, 1, 0)),
                       ((3, 4, 6), (-1, 2, 2, -1))]:
        fn = lambda x: F(x).pad(x, pad, mode=mode)  # noqa: E731
        check_op(fn, inputs=[shape])
        gradcheck_op(fn, inputs=[shape])
    gradgradcheck_op(lambda x: F(x).pad(x, (2, 1), mode=mode), [tg.randn(2, 4, dtype=tg.float64, requires_grad=True)])


def test_circular_crops_then_wraps_as_torch():
    x = np.arange(1.0, 5.0).reshape(1, 4)
    for pad in [(1, -1), (-1, 2), (-2, 1)]:
        check_op(lambda t: F(t).pad(t, pad, mode="circular"), inputs=[x])


def test_pixel_shuffle_and_prelu_against_torch():
    check_op(lambda x: F(x).pixel_shuffle(x, 2), inputs=[(2, 8, 3, 2)])
    check_op(lambda x: F(x).pixel_unshuffle(x, 3), inputs=[(3, 1, 6, 3)])
    check_op(lambda x: F(x).pixel_shuffle(x, 3), inputs=[(9, 2, 2)])
    check_op(lambda x, w: F(x).prelu(x, w), inputs=[unif(4, 3, 5, low=-2.0, high=2.0, away=0.0), (3,)])
    check_op(lambda x, w: F(x).prelu(x, w), inputs=[unif(4, 3, low=-2.0, high=2.0, away=0.0), (1,)])
    gradcheck_op(lambda x, w: F(x).prelu(x, w), inputs=[unif(4, 3, 2, low=-2.0, high=2.0, away=0.0), (3,)])


@pytest.mark.parametrize("make", [
    lambda nn: nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
    lambda nn: nn.Upsample(size=(5, 7)),
    lambda nn: nn.UpsamplingNearest2d(scale_factor=3),
    lambda nn: nn.UpsamplingBilinear2d(size=(6, 4)),
    lambda nn: nn.PixelShuffle(2),
    lambda nn: nn.PixelUnshuffle(2),
    lambda nn: nn.ReflectionPad2d((1, 2, 0, 1)),
    lambda nn: nn.ReplicationPad2d(2),
    lambda nn: nn.ZeroPad2d((1, 0, 2, 1)),
    lambda nn: nn.ConstantPad2d(1, 3.5),
    lambda nn: nn.CircularPad2d(1),
    lambda nn: nn.ReflectionPad1d(2),
    lambda nn: nn.ReplicationPad3d((1, 0, 0, 1, 2, 0)),
    lambda nn: nn.PReLU(4, init=0.1, dtype=tg.float64 if nn is tg.nn else torch.float64),
])
def test_modules_match_torch(make):
    ours, theirs = make(tg.nn), make(torch.nn)
    copy_to_torch(ours, theirs)
    assert repr(ours) == repr(theirs)
    shape = {"ReflectionPad1d": (4, 4, 6), "ReplicationPad3d": (1, 2, 3, 4, 6)}.get(type(ours).__name__, (2, 4, 4, 6))
    x = np.random.default_rng(0).standard_normal(shape)
    a, b = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ya, yb = ours(a), theirs(b)
    np.testing.assert_allclose(ya.detach().numpy(), yb.detach().numpy(), rtol=1e-10, atol=1e-12)
    c = np.random.default_rng(1).standard_normal(tuple(yb.shape))
    (ya * tg.tensor(c)).sum().backward()
    (yb * torch.tensor(c)).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-12)
    for p, q in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_refusals_name_the_op_and_shapes():
    x = tg.zeros(1, 2, 4, 4)
    with pytest.raises(ValueError, match=r"interpolate: exactly one of size and scale_factor"):
        tg.nn.functional.interpolate(x)
    with pytest.raises(ValueError, match=r"interpolate: mode 'bilinear' expects a 4-d input.*\(1, 2, 4\)"):
        tg.nn.functional.interpolate(tg.zeros(1, 2, 4), scale_factor=2, mode="bilinear")
    with pytest.raises(ValueError, match=r"align_corners can only be set with the interpolating modes"):
        tg.nn.functional.interpolate(x, scale_factor=2, align_corners=True)
    with pytest.raises(NotImplementedError, match=r"antialias=True is not supported"):
        tg.nn.functional.interpolate(x, scale_factor=2, mode="bilinear", antialias=True)
    with pytest.raises(RuntimeError, match=r"pad: reflect padding \(4, 0\) of dim 2 must be at most 3"):
        tg.nn.functional.pad(tg.zeros(1, 2, 4), (4, 0), mode="reflect")
    with pytest.raises(NotImplementedError, match=r"pad: mode 'reflect' pads the last 1, 2 or 3 dims"):
        tg.nn.functional.pad(x, (1, 0), mode="reflect")
    with pytest.raises(RuntimeError, match=r"prelu: the weight's dtype float64 differs from the input's float32"):
        tg.nn.functional.prelu(x, tg.ones(2, dtype=tg.float64))
    with pytest.raises(ValueError, match=r"padding mode 'reflect' doesn't take in value"):
        tg.nn.functional.pad(x, (1, 0), mode="reflect", value=2.0)
    with pytest.raises(RuntimeError, match=r"pixel_shuffle: .*upscale_factor\^2 = 9, got shape \(1, 2, 4, 4\)"):
        tg.nn.functional.pixel_shuffle(x, 3)
    with pytest.raises(RuntimeError, match=r"prelu: 3 weights but the input \(shape \(1, 2, 4, 4\)\) has 2"):
        tg.nn.functional.prelu(x, tg.ones(3))
