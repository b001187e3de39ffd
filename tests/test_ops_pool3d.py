"""The 3-D pools and the pooling extras vs PyTorch: F.max_pool3d / avg_pool3d / adaptive_avg_pool3d /
adaptive_max_pool3d (forward, indices, input gradient; kernel / stride / padding / dilation / ceil_mode /
count_include_pad / divisor_override, unbatched, empty batch, ties and NaN), the *_with_indices names, lp_pool1d/2d/3d,
max_unpool1d/2d/3d (output_size, gradient), fractional_max_pool2d/3d (given samples exactly; drawn samples
statistically), nn.BatchNorm3d / InstanceNorm3d / Dropout3d, the modules' reprs, and errors."""
import numpy as np
import pytest
import torch

import tensorgrad as tg
from tensorgrad import nn
from helpers import check_op, gradcheck_op, F, FLOATS, copy_to_torch, assert_param_grads_match

torch.set_num_threads(1)

MAX3D = [
    ((2, 2, 5, 6, 7), dict(kernel_size=3)),
    ((2, 2, 5, 6, 7), dict(kernel_size=3, stride=2, padding=1)),
    ((1, 2, 7, 5, 6), dict(kernel_size=(3, 2, 2), stride=(2, 1, 2), padding=(1, 1, 0), dilation=(2, 1, 2))),
    ((1, 2, 6, 7, 5), dict(kernel_size=2, stride=2, ceil_mode=True)),
    ((2, 2, 5, 5, 5), dict(kernel_size=2, stride=3, padding=1, ceil_mode=True)),
    ((3, 4, 5, 4), dict(kernel_size=2, stride=1)),                     # unbatched
    ((2, 2, 4, 4, 4), dict(kernel_size=[2], stride=[1])),              # 1-tuples apply to every dim
    ((0, 2, 4, 4, 4), dict(kernel_size=2)),                            # empty batch
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("indices", [False, True])
@pytest.mark.parametrize("shape,kw", MAX3D, ids=str)
def test_max_pool3d(shape, kw, indices, dtype):
    check_op(lambda x: F(x).max_pool3d(x, **kw, return_indices=indices), inputs=[shape], dtype=dtype)


def test_max_pool3d_ties_nan_and_gradcheck():
    x = np.random.default_rng(0).integers(0, 3, size=(2, 2, 5, 5, 6)).astype(np.float64)
    x[0, 0, 1, 1, 1], x[1, 1, 2, 3, 4] = np.nan, -np.inf
    check_op(lambda t: F(t).max_pool3d(t, 3, 1, 1, return_indices=True), inputs=[x])
    check_op(lambda t: F(t).adaptive_max_pool3d(t, (2, 3, 4), return_indices=True), inputs=[x])
    gradcheck_op(lambda t: tg.nn.functional.max_pool3d(t, 2, 1, 1), [(1, 2, 3, 4, 3)])


AVG3D = [
    ((2, 2, 5, 6, 7), dict(kernel_size=3)),
    ((2, 2, 5, 6, 7), dict(kernel_size=3, stride=2, padding=1)),
    ((2, 2, 5, 6, 7), dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)),
    ((1, 2, 6, 7, 5), dict(kernel_size=(2, 3, 2), stride=2, padding=(1, 1, 0), ceil_mode=True)),
    ((1, 2, 6, 7, 5), dict(kernel_size=(2, 3, 2), stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
    ((2, 2, 4, 5, 4), dict(kernel_size=2, divisor_override=3)),
    ((3, 4, 5, 4), dict(kernel_size=2, stride=1)),                     # unbatched
    ((0, 2, 4, 4, 4), dict(kernel_size=2)),                            # empty batch
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,kw", AVG3D, ids=str)
def test_avg_pool3d(shape, kw, dtype):
    check_op(lambda x: F(x).avg_pool3d(x, **kw), inputs=[shape], dtype=dtype)


def test_avg_pool3d_int64_and_gradcheck():
    x = np.random.default_rng(0).integers(-9, 9, size=(2, 2, 4, 5, 4))
    check_op(lambda t: F(t).avg_pool3d(t, 2, 1, 1, divisor_override=3), inputs=[x], grad=False)
    gradcheck_op(lambda t: tg.nn.functional.avg_pool3d(t, 2, 1, 1, ceil_mode=True), [(1, 2, 3, 4, 3)])


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,size", [((2, 2, 6, 6, 8), (3, 2, 4)), ((2, 2, 5, 7, 6), (3, 4, 4)),
                                        ((2, 2, 5, 7, 6), (None, 3, 1)), ((3, 5, 4, 6), 2),
                                        ((2, 2, 5, 7, 6), (0, 3, 2))], ids=str)
def test_adaptive_pool3d(shape, size, dtype):
    grad = not (isinstance(size, tuple) and 0 in size)  # torch's backward refuses an empty output
    check_op(lambda x: F(x).adaptive_avg_pool3d(x, size), inputs=[shape], dtype=dtype, grad=grad)
    check_op(lambda x: F(x).adaptive_max_pool3d(x, size, return_indices=True), inputs=[shape], dtype=dtype,
             grad=grad)


def test_with_indices_names():
    for name, args in [("max_pool1d_with_indices", (3, 2, 1)), ("max_pool2d_with_indices", (3, 2, 1)),
                       ("max_pool3d_with_indices", (2, 1, 1)), ("adaptive_max_pool1d_with_indices", (3,)),
                       ("adaptive_max_pool2d_with_indices", ((2, 3),)),
                       ("adaptive_max_pool3d_with_indices", ((2, 3, 2),))]:
        nd = int(name.split("pool")[1][0])
        shape = (2, 2) + (5, 6, 4)[:nd]
        check_op(lambda x: getattr(F(x), name)(x, *args), inputs=[shape])        # always (values, indices)


# ---------------------------------------------------------------------------------------------- lp pools
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("nd,shape,p,kw", [
    (1, (2, 3, 9), 2, dict(kernel_size=3)),
    (1, (3, 9), 3.0, dict(kernel_size=2, stride=3, ceil_mode=True)),
    (2, (2, 2, 7, 8), 2, dict(kernel_size=(3, 2), stride=2)),
    (2, (2, 2, 7, 8), 1.5, dict(kernel_size=3, stride=(2, 1), ceil_mode=True)),
    (2, (2, 2, 6, 6), float("inf"), dict(kernel_size=2)),
    (3, (2, 2, 4, 5, 6), 2, dict(kernel_size=2)),
    (3, (1, 2, 5, 5, 6), 4, dict(kernel_size=(2, 3, 2), stride=(1, 2, 2))),
], ids=str)
def test_lp_pool(nd, shape, p, kw, dtype):
    x = np.random.default_rng(0).uniform(0.2, 2.0, size=shape)       # positive: x**p is real for any p
    check_op(lambda t: getattr(F(t), f"lp_pool{nd}d")(t, p, **kw), inputs=[x], dtype=dtype)


def test_lp_pool_signed_input_and_gradcheck():
    check_op(lambda t: F(t).lp_pool2d(t, 2, 3, 2), inputs=[(2, 2, 7, 7)])
    check_op(lambda t: F(t).lp_pool1d(t, 3, 2), inputs=[(2, 2, 8)])   # odd p: negative sums give nan as torch
    gradcheck_op(lambda t: tg.nn.functional.lp_pool3d(t, 2, 2, 1), [(1, 2, 3, 3, 4)])


# --------------------------------------------------------------------------------------------- max unpool
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("nd,shape,kw,out", [
    (1, (2, 3, 9), dict(kernel_size=3, stride=2, padding=1), None),
    (1, (3, 10), dict(kernel_size=2), (11,)),
    (2, (2, 2, 6, 7), dict(kernel_size=2), (6, 7)),
    (2, (2, 2, 7, 7), dict(kernel_size=3, stride=2, padding=1), (2, 2, 8, 7)),
    (3, (2, 2, 4, 5, 6), dict(kernel_size=2), (4, 5, 6)),
    (3, (2, 4, 5, 4), dict(kernel_size=(2, 3, 2), stride=1), None),
], ids=str)
def test_max_unpool(nd, shape, kw, out, dtype):
    def fn(x):
        f = F(x)
        v, i = getattr(f, f"max_pool{nd}d")(x, **kw, return_indices=True)
        return getattr(f, f"max_unpool{nd}d")(v * 2, i, **kw, output_size=out)
    check_op(fn, inputs=[shape], dtype=dtype)


def test_max_unpool_duplicate_indices_and_gradcheck():
    # overlapping windows pick one position twice: the written value is one of them, each gets the gradient there
    v = np.random.default_rng(0).standard_normal((1, 1, 4))
    idx = np.array([[[0, 1, 1, 3]]])
    tg_out = tg.nn.functional.max_unpool1d(tg.tensor(v, requires_grad=True), tg.tensor(idx), 2, 1)
    th_out = torch.nn.functional.max_unpool1d(torch.tensor(v), torch.tensor(idx), 2, 1)
    np.testing.assert_array_equal(tg_out.detach().numpy()[..., [0, 2, 3, 4]], th_out.numpy()[..., [0, 2, 3, 4]])
    assert tg_out.detach().numpy()[0, 0, 1] in v[0, 0, 1:3]
    vt = tg.tensor(v, requires_grad=True)
    out = tg.nn.functional.max_unpool1d(vt, tg.tensor(idx), 2, 1)
    (out * tg.tensor(np.arange(5.0))).sum().backward()
    np.testing.assert_array_equal(vt.grad.numpy(), [[[0.0, 1.0, 1.0, 3.0]]])
    x = np.random.default_rng(1).standard_normal((1, 2, 4, 4, 4))
    _, i = tg.nn.functional.max_pool3d(tg.tensor(x), 2, return_indices=True)
    gradcheck_op(lambda t: tg.nn.functional.max_unpool3d(t, i, 2), [(1, 2, 2, 2, 2)])


def test_max_unpool_errors():
    f = tg.nn.functional
    v, i = f.max_pool2d(tg.randn(1, 2, 6, 7), 2, return_indices=True)
    with pytest.raises(RuntimeError, match="max_unpool2d: found an invalid max index"):
        f.max_unpool2d(v, i, 2)                                    # the default (6, 6) is too small for these
    with pytest.raises(RuntimeError):
        torch.nn.functional.max_unpool2d(torch.zeros(1, 2, 3, 3), torch.full((1, 2, 3, 3), 40), 2)
    with pytest.raises(ValueError, match=r"max_unpool2d: invalid output_size \(9, 7\)"):
        f.max_unpool2d(v, i, 2, output_size=(9, 7))
    with pytest.raises(ValueError, match="output_size should be a sequence of 2 or 4 elements"):
        f.max_unpool2d(v, i, 2, output_size=(6,))
    with pytest.raises(RuntimeError, match="indices should be type int64"):
        f.max_unpool2d(v, i.to(tg.int32), 2, output_size=(6, 7))
    with pytest.raises(RuntimeError, match="one shape"):
        f.max_unpool2d(v, i[:, :1], 2, output_size=(6, 7))


# ------------------------------------------------------------------------------------ fractional max pool
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("nd,shape,kw", [
    (2, (2, 3, 9, 11), dict(kernel_size=2, output_size=(4, 5))),
    (2, (2, 3, 9, 11), dict(kernel_size=(3, 2), output_ratio=(0.5, 0.7))),
    (2, (2, 9, 10), dict(kernel_size=3, output_size=7)),                        # unbatched
    (2, (1, 2, 5, 5), dict(kernel_size=2, output_size=(1, 4))),
    (3, (2, 2, 7, 8, 9), dict(kernel_size=2, output_size=(3, 4, 5))),
    (3, (1, 2, 6, 5, 7), dict(kernel_size=(2, 3, 2), output_ratio=(0.5, 0.5, 0.6))),
], ids=str)
def test_fractional_max_pool_with_samples(nd, shape, kw, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    u = rng.random((shape[0] if len(shape) == nd + 2 else 1, shape[-nd - 1], nd))
    check_op(lambda t, s: getattr(F(t), f"fractional_max_pool{nd}d")(t, **kw, return_indices=True,
                                                                      _random_samples=s),
             inputs=[x, u], requires_grad=[True, False], dtype=dtype)


def test_fractional_max_pool_random_windows():
    """Drawn samples: every output is the maximum of a kernel-sized window, the windows move with the draws, cover
    the input's ends, and the gradient lands on the selected entries; the module keeps the same contract."""
    f = tg.nn.functional
    x = tg.tensor(np.random.default_rng(0).permutation(2 * 3 * 20 * 20).reshape(2, 3, 20, 20).astype(np.float64),
                  requires_grad=True)
    outs = []
    for _ in range(20):
        v, i = f.fractional_max_pool2d(x, 3, output_size=(8, 9), return_indices=True)
        assert tuple(v.shape) == (2, 3, 8, 9)
        flat = x.detach().numpy().reshape(2, 3, -1)
        np.testing.assert_array_equal(np.take_along_axis(flat, i.numpy().reshape(2, 3, -1), 2).reshape(v.shape),
                                      v.detach().numpy())
        rows, cols = i.numpy() // 20, i.numpy() % 20
        assert rows.max() >= 17 and cols.max() >= 17                 # the last window ends at the input's end
        outs.append(i.numpy())
    assert len({o.tobytes() for o in outs}) > 10                    # different draws, different windows
    v.sum().backward()
    assert x.grad.numpy().sum() == v.numel()
    m = nn.FractionalMaxPool2d(2, output_ratio=0.5)
    assert m(tg.randn(2, 3, 8, 10)).shape == (2, 3, 4, 5)
    assert nn.FractionalMaxPool3d(2, output_size=3)(tg.randn(1, 2, 5, 6, 7)).shape == (1, 2, 3, 3, 3)


def test_fractional_max_pool_errors():
    f = tg.nn.functional
    x = tg.randn(1, 2, 6, 6)
    with pytest.raises(ValueError, match="requires specifying either an output_size or an output_ratio"):
        f.fractional_max_pool2d(x, 2)
    with pytest.raises(RuntimeError, match="too large"):
        f.fractional_max_pool2d(x, 3, output_size=5)
    with pytest.raises(RuntimeError, match="_random_samples of shape"):
        f.fractional_max_pool2d(x, 2, output_size=3, _random_samples=tg.rand(1, 2, 3))
    with pytest.raises(ValueError, match="only one of output_size and output_ratio"):
        nn.FractionalMaxPool2d(2, output_size=3, output_ratio=0.5)
    with pytest.raises(ValueError, match="output_ratio must be between 0 and 1"):
        nn.FractionalMaxPool2d(2, output_ratio=1.5)
    with pytest.raises(TypeError):
        torch.nn.functional.fractional_max_pool2d(torch.randn(1, 2, 6, 6), 2, output_ratio=0.5)
    with pytest.raises(TypeError, match="output_ratio must be a tuple"):
        f.fractional_max_pool2d(x, 2, output_ratio=0.5)


# ----------------------------------------------------------------------------------- norms and dropout 3-D
@pytest.mark.parametrize("dtype", FLOATS)
def test_batch_norm3d_vs_torch(dtype):
    tdt = torch.float64 if dtype == np.float64 else torch.float32
    t = 1e-10 if dtype == np.float64 else 1e-4
    for kw in (dict(), dict(affine=False), dict(momentum=None), dict(track_running_stats=False)):
        m, tm = nn.BatchNorm3d(3, **kw).to(dtype), torch.nn.BatchNorm3d(3, **kw).to(tdt)
        assert repr(m) == repr(tm) and list(m.state_dict()) == list(tm.state_dict())
        if m.weight is not None:
            m.weight.data.copy_(tg.tensor(np.linspace(0.5, 1.5, 3).astype(dtype)))
        copy_to_torch(m, tm)
        for step in range(2):
            data = np.random.default_rng(step).standard_normal((2, 3, 3, 4, 2)).astype(dtype)
            x, tx = tg.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
            y, ty = m(x), tm(tx)
            np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=t, atol=t)
            c = np.random.default_rng(9).standard_normal(ty.shape).astype(dtype)
            (y * tg.tensor(c)).sum().backward()
            (ty * torch.tensor(c)).sum().backward()
            np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=t, atol=t)
        assert_param_grads_match(m, tm, t, t)
        for (k, v), (_, tv) in zip(m.state_dict().items(), tm.state_dict().items()):
            np.testing.assert_allclose(v.numpy(), tv.numpy(), rtol=t, atol=t, err_msg=k)
        m.eval(), tm.eval()
        np.testing.assert_allclose(m(tg.tensor(data)).detach().numpy(), tm(torch.tensor(data)).detach().numpy(),
                                   rtol=t, atol=t)
    with pytest.raises(ValueError, match=r"BatchNorm3d: expected 5D input \(got 4D input"):
        nn.BatchNorm3d(3)(tg.randn(3, 2, 2, 2))


def test_instance_norm3d_vs_torch():
    for kw in (dict(), dict(affine=True), dict(track_running_stats=True)):
        m, tm = nn.InstanceNorm3d(3, **kw).double(), torch.nn.InstanceNorm3d(3, **kw).double()
        assert repr(m) == repr(tm) and list(m.state_dict()) == list(tm.state_dict())
        copy_to_torch(m, tm)
        for shape in ((2, 3, 3, 4, 2), (3, 2, 3, 4)):
            data = np.random.default_rng(0).standard_normal(shape)
            x, tx = tg.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
            y, ty = m(x), tm(tx)
            np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-10)
            (y * y).sum().backward()
            (ty * ty).sum().backward()
            np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-9)
        assert_param_grads_match(m, tm, 1e-9, 1e-9)
    with pytest.raises(ValueError, match=r"InstanceNorm3d: expected 4D or 5D input"):
        nn.InstanceNorm3d(3)(tg.randn(3, 2, 2))


def test_dropout3d():
    f = tg.nn.functional
    x = tg.ones(4, 8, 2, 3, 2, requires_grad=True)
    y = f.dropout3d(x, 0.5)
    per_channel = y.detach().numpy().reshape(4, 8, -1)
    assert set(np.unique(per_channel)) <= {0.0, 2.0}
    assert (per_channel.min(-1) == per_channel.max(-1)).all()       # whole channels
    assert 0 < (per_channel[..., 0] == 0).sum() < 32
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), y.detach().numpy())
    u = f.dropout3d(tg.ones(8, 2, 3, 2), 0.5).numpy().reshape(8, -1)  # unbatched: channels are dim 0
    assert (u.min(-1) == u.max(-1)).all()
    assert f.dropout3d(x, 0.5, training=False) is x
    with pytest.warns(UserWarning, match="dropout3d: received a 3-D input"):
        f.dropout3d(tg.ones(2, 3, 4), 0.5)
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
        f.dropout3d(x, 1.5)
    m = nn.Dropout3d(0.25)
    assert repr(m) == repr(torch.nn.Dropout3d(0.25))
    m.eval()
    assert m(x) is x
    z = tg.ones(2, 3, 2, 2, 2)
    assert f.dropout3d(z, 1.0, inplace=True) is z and z.numpy().sum() == 0


# ------------------------------------------------------------------------------------------------ modules
@pytest.mark.parametrize("name,args,kw,shape", [
    ("MaxPool3d", (3,), dict(stride=2, padding=1, ceil_mode=True), (2, 2, 5, 6, 5)),
    ("MaxPool3d", ((2, 3, 2),), dict(return_indices=True, dilation=(1, 1, 2)), (2, 2, 4, 5, 6)),
    ("AvgPool3d", (3,), dict(stride=2, padding=1, count_include_pad=False), (2, 2, 5, 6, 5)),
    ("AvgPool3d", (2,), dict(divisor_override=5), (2, 5, 4, 6)),
    ("AdaptiveAvgPool3d", ((2, None, 3),), {}, (2, 2, 5, 6, 7)),
    ("AdaptiveMaxPool3d", (2,), dict(return_indices=True), (2, 2, 5, 6, 7)),
    ("LPPool1d", (2, 3), dict(stride=2), (2, 2, 9)),
    ("LPPool2d", (2, (2, 3)), {}, (2, 2, 6, 7)),
    ("LPPool3d", (1.5, 2), dict(ceil_mode=True), (2, 2, 5, 4, 5)),
], ids=str)
def test_modules_vs_torch(name, args, kw, shape):
    m, tm = getattr(nn, name)(*args, **kw), getattr(torch.nn, name)(*args, **kw)
    assert repr(m) == repr(tm)
    x = np.random.default_rng(0).uniform(0.1, 2.0, size=shape)
    check_op(lambda t: (m if isinstance(t, tg.Tensor) else tm)(t), inputs=[x])


def test_max_unpool_modules_vs_torch():
    for nd, shape in ((1, (2, 2, 9)), (2, (2, 2, 6, 7)), (3, (2, 2, 4, 5, 6))):
        m, tm = getattr(nn, f"MaxUnpool{nd}d")(2, stride=2), getattr(torch.nn, f"MaxUnpool{nd}d")(2, stride=2)
        assert repr(m) == repr(tm)
        pool, tpool = getattr(nn, f"MaxPool{nd}d")(2, return_indices=True), \
            getattr(torch.nn, f"MaxPool{nd}d")(2, return_indices=True)
        size = shape[2:]

        def fn(x):
            if isinstance(x, tg.Tensor):
                return m(*pool(x), output_size=size)
            return tm(*tpool(x), output_size=size)
        check_op(fn, inputs=[shape])
    assert repr(nn.FractionalMaxPool2d(2, output_ratio=0.5)) == repr(torch.nn.FractionalMaxPool2d(2, output_ratio=0.5))
    assert list(nn.FractionalMaxPool2d(2, 3, _random_samples=tg.rand(1, 2, 2)).state_dict()) == ["_random_samples"]


def test_pool3d_errors():
    f = tg.nn.functional
    x = tg.randn(1, 2, 4, 4, 4)
    for fn, exc, match in [
        (lambda: f.max_pool3d(tg.randn(2, 4, 4), 2), RuntimeError, r"max_pool3d: expected a 4-D \(unbatched\)"),
        (lambda: f.max_pool3d(x, 2, padding=2), RuntimeError, "max_pool3d: padding .* at most half"),
        (lambda: f.avg_pool3d(x, 5), RuntimeError, "avg_pool3d: input image .* smaller than kernel size"),
        (lambda: f.avg_pool3d(x, 2, divisor_override=0), RuntimeError, "divisor_override must be a non-zero"),
        (lambda: f.adaptive_avg_pool3d(x, (2, 2)), RuntimeError, "adaptive_avg_pool3d: output_size must be"),
        (lambda: f.adaptive_max_pool3d(tg.randn(1, 0, 2, 2, 2), 1), RuntimeError, "non-zero sizes"),
        (lambda: f.max_pool3d(x, (2, 2)), RuntimeError, "kernel_size must be a single int or a tuple of 3"),
    ]:
        with pytest.raises(exc, match=match):
            fn()
    with pytest.raises(RuntimeError):
        torch.nn.functional.max_pool3d(torch.randn(1, 2, 4, 4, 4), 2, padding=2)
