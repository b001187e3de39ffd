"""F.conv3d / F.conv_transpose3d and nn.Conv3d / nn.ConvTranspose3d vs PyTorch: forward and the gradients of input,
weight and bias (float64 tight, float32), strides, int / tuple / 'same' / 'valid' padding, dilation, groups,
output_padding, unbatched and empty-batch input, the padding modes, output_size in forward, reprs, state_dict keys,
parameter init, float64 gradchecks and errors."""

import numpy as np
import pytest
import torch

import tensorgrad as tg
from tensorgrad import nn
from helpers import check_op, gradcheck_op, gradgradcheck_op, F, FLOATS
from test_ops_conv import check_module  # (the same-weights module check, its tolerances included)

torch.set_num_threads(1)

# (input shape, weight shape, bias, stride, padding, dilation, groups)
CONV3D = [
    ((2, 3, 4, 5, 6), (4, 3, 2, 3, 2), True, 1, 0, 1, 1),
    ((2, 3, 5, 5, 6), (4, 3, 3, 3, 3), False, 2, 1, 1, 1),
    ((1, 4, 5, 6, 5), (6, 2, 2, 2, 3), True, (1, 2, 1), (1, 0, 2), (2, 1, 1), 2),
    ((2, 4, 4, 5, 4), (4, 1, 3, 2, 2), True, 1, "same", (1, 2, 1), 4),   # depthwise, 'same' with an odd total
    ((2, 2, 3, 4, 5), (3, 2, 3, 1, 2), True, 1, "valid", 1, 1),
    ((3, 4, 5, 4), (2, 3, 2, 2, 2), True, 1, 1, 1, 1),                     # unbatched
    ((2, 3, 3, 3, 3), (5, 3, 1, 1, 1), True, 1, 0, 1, 1),                  # 1x1x1: the pixel path
    ((0, 2, 3, 3, 3), (2, 2, 2, 2, 2), True, 1, 0, 1, 1),                  # empty batch
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("xs,ws,bias,s,p,d,g", CONV3D, ids=str)
def test_conv3d(xs, ws, bias, s, p, d, g, dtype):
    inputs = [xs, ws, (ws[0],) if bias else None]
    check_op(lambda x, w, b: F(x).conv3d(x, w, b, s, p, d, g), inputs=inputs, dtype=dtype)


# (input shape, weight shape, bias, stride, padding, output_padding, groups, dilation)
CONVT3D = [
    ((2, 3, 3, 4, 2), (3, 2, 2, 3, 2), True, 1, 0, 0, 1, 1),
    ((2, 3, 3, 3, 4), (3, 2, 3, 3, 3), True, 2, 1, 1, 1, 1),
    ((1, 4, 2, 3, 3), (4, 3, 2, 2, 3), False, (2, 1, 3), (0, 1, 1), (1, 0, 2), 2, (1, 2, 1)),
    ((3, 3, 2, 4), (3, 2, 2, 2, 2), True, 2, 0, 0, 1, 1),                   # unbatched
    ((2, 2, 2, 2, 2), (2, 2, 2, 2, 2), True, 1, 0, 1, 1, 2),                # output_padding < dilation
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("xs,ws,bias,s,p,op,g,d", CONVT3D, ids=str)
def test_conv_transpose3d(xs, ws, bias, s, p, op, g, d, dtype):
    inputs = [xs, ws, (ws[1] * g,) if bias else None]
    check_op(lambda x, w, b: F(x).conv_transpose3d(x, w, b, s, p, op, g, d), inputs=inputs, dtype=dtype)


def test_conv3d_gradcheck():
    gradcheck_op(lambda x, w, b: tg.nn.functional.conv3d(x, w, b, (2, 1, 1), 1, (1, 1, 2), 2),
                 [(2, 4, 3, 4, 5), (2, 2, 2, 2, 2), (2,)])
    gradcheck_op(lambda x, w, b: tg.nn.functional.conv_transpose3d(x, w, b, 2, 1, 1, 1, 1),
                 [(1, 2, 2, 3, 2), (2, 3, 2, 2, 3), (3,)])
    x = tg.tensor(np.random.default_rng(0).standard_normal((1, 2, 3, 3, 3)), requires_grad=True)
    w = tg.tensor(np.random.default_rng(1).standard_normal((2, 2, 2, 2, 2)), requires_grad=True)
    gradgradcheck_op(lambda x, w: tg.nn.functional.conv3d(x, w, None, 1, 1), [x, w])


def test_conv_transpose3d_is_the_input_gradient_of_conv3d():
    rng = np.random.default_rng(0)
    x = tg.tensor(rng.standard_normal((2, 3, 5, 6, 5)), requires_grad=True)
    w = tg.tensor(rng.standard_normal((4, 3, 3, 2, 3)))
    y = tg.nn.functional.conv3d(x, w, stride=2, padding=1)
    g = tg.tensor(rng.standard_normal(tuple(y.shape)))
    (y * g).sum().backward()
    ct = tg.nn.functional.conv_transpose3d(g, w, stride=2, padding=1)
    np.testing.assert_allclose(ct.numpy(), x.grad.numpy(), rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------------------------------ modules
MODULES = [
    ("Conv3d", (3, 4, 3), {}, (2, 3, 4, 5, 5)),
    ("Conv3d", (4, 6, (3, 2, 2)), dict(stride=(2, 1, 1), padding=1, dilation=(1, 2, 1), groups=2, bias=False),
     (2, 4, 5, 5, 4)),
    ("Conv3d", (2, 2, 3), dict(padding="same", groups=2), (2, 4, 3, 5)),
    ("Conv3d", (2, 3, 3), dict(padding=2, padding_mode="reflect"), (1, 2, 3, 4, 5)),
    ("Conv3d", (2, 3, (2, 3, 2)), dict(padding="same", padding_mode="circular", dilation=(1, 2, 1)), (1, 2, 3, 5, 4)),
    ("Conv3d", (2, 3, 3), dict(padding=(3, 1, 2), stride=2, padding_mode="replicate"), (1, 2, 2, 3, 4)),
    ("ConvTranspose3d", (3, 4, 3), dict(stride=2, padding=1, output_padding=1), (2, 3, 2, 3, 2)),
    ("ConvTranspose3d", (4, 2, (2, 3, 2)), dict(groups=2, dilation=2, bias=False), (4, 2, 3, 2)),
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name,args,kw,xs", MODULES, ids=str)
def test_modules_vs_torch(name, args, kw, xs, dtype):
    m, tm = getattr(nn, name)(*args, **kw), getattr(torch.nn, name)(*args, **kw)
    assert repr(m) == repr(tm)
    assert list(m.state_dict()) == list(tm.state_dict())
    check_module(m, tm, xs, dtype)


def test_conv_transpose3d_module_output_size():
    m, tm = nn.ConvTranspose3d(3, 2, 3, stride=2, padding=1), torch.nn.ConvTranspose3d(3, 2, 3, stride=2, padding=1)
    check_module(m, tm, (2, 3, 3, 2, 3), output_size=[6, 3, 5])
    check_module(m, tm, (3, 3, 2, 3), output_size=(2, 5, 4, 6))
    x = tg.randn(1, 3, 3, 3, 3)
    with pytest.raises(ValueError, match=r"valid sizes range from \[5, 5, 5\] to \[6, 6, 6\]"):
        m(x, output_size=(7, 5, 5))
    with pytest.raises(ValueError, match="output_size must have 3 or 5 elements"):
        m(x, output_size=(5, 5))


# ------------------------------------------------------------------------------------------------- errors
def test_errors():
    f = tg.nn.functional
    x, w = tg.randn(2, 4, 5, 5, 5), tg.randn(8, 3, 3, 3, 3)
    for fn, exc, match in [
        (lambda: f.conv3d(x, w), RuntimeError, r"conv3d: groups=1 and weight of shape \(8, 3, 3, 3, 3\) expect"),
        (lambda: f.conv3d(tg.randn(4, 5, 5), tg.randn(2, 4, 2, 2, 2)), RuntimeError,
         r"conv3d: expected a 4-D \(unbatched\) or 5-D \(batched\) input"),
        (lambda: f.conv3d(x, tg.randn(2, 4, 2, 2)), RuntimeError, "conv3d: expected a 5-D weight"),
        (lambda: f.conv3d(x, tg.randn(2, 4, 6, 2, 2)), RuntimeError, "conv3d: .* smaller than the kernel"),
        (lambda: f.conv3d(x, tg.randn(2, 4, 3, 3, 3), stride=2, padding="same"), RuntimeError,
         "padding='same' is not supported for strided"),
        (lambda: f.conv3d(x, tg.randn(2, 4, 3, 3, 3), padding=(1, 1)), RuntimeError, "conv3d: expected padding"),
        (lambda: f.conv3d(x, tg.randn(2, 4, 3, 3, 3, dtype=tg.float64)), RuntimeError, "one dtype"),
        (lambda: f.conv_transpose3d(x, tg.randn(4, 2, 2, 2, 2), stride=2, output_padding=2), RuntimeError,
         "conv_transpose3d: output_padding must be smaller than either stride or dilation"),
        (lambda: f.conv_transpose3d(x, tg.randn(4, 2, 2, 2, 2), padding="same"), TypeError,
         "conv_transpose3d: padding must be an int"),
    ]:
        with pytest.raises(exc, match=match):
            fn()
    tx, tw = torch.randn(2, 4, 5, 5, 5), torch.randn(8, 3, 3, 3, 3)
    with pytest.raises(RuntimeError):
        torch.nn.functional.conv3d(tx, tw)
    with pytest.raises(ValueError, match='Only "zeros" padding mode is supported for ConvTranspose3d'):
        nn.ConvTranspose3d(4, 6, 3, padding_mode="reflect")
    with pytest.raises(RuntimeError, match=r"Conv3d: padding_mode='reflect'"):
        nn.Conv3d(2, 2, 3, padding=3, padding_mode="reflect")(tg.randn(1, 2, 3, 4, 5))
