"""Convolutions vs PyTorch (forward + gradients of input, weight and bias): F.unfold / F.fold and their round trips,
F.conv1d / F.conv2d (stride, dilation, padding incl. 'same' / 'valid', groups and depthwise, 1x1 and non-square
kernels, batch 1, unbatched, empty batch), F.conv_transpose1d / 2d (output_padding, groups, dilation), float64 and
float32 on fixed and random shapes; float64 gradchecks of Im2Col and Col2Im; nn.Conv1d / Conv2d / ConvTranspose1d /
ConvTranspose2d / Unfold / Fold vs torch modules with copied weights (padding modes, output_size, repr, state_dict,
init); bad-input errors; a LeNet-style net forward + backward vs torch."""
import math

import numpy as np
import pytest
import torch

import tensorgrad as tg
from tensorgrad import nn
from helpers import check_op, gradcheck_op, assert_param_grads_match, copy_to_torch, F, FLOATS

torch.set_num_threads(1)
# torch's note that its 'same' with an even kernel copies the input (so does ours): not a problem of the test.
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")


def tol(dtype):
    """Convolutions sum C*K products: float32 gets a little more room than the elementwise default."""
    return {} if np.dtype(dtype) == np.float64 else {"atol": 1e-4, "rtol": 1e-4}


# ---------------------------------------------------------------------------------------------- unfold / fold
# (input shape, kernel_size, dilation, padding, stride)
UNFOLD = [((2, 3, 5, 6), 2, 1, 0, 1), ((2, 3, 7, 8), (2, 3), (1, 2), 1, (2, 1)), ((1, 2, 6, 6), 3, 2, 2, 3),
          ((3, 1, 4, 5), 1, 1, 0, 1), ((2, 2, 5, 5), (1, 3), 1, (0, 1), 2), ((3, 5, 6), 3, 1, 1, 1),
          ((2, 3, 4, 4), 4, 1, 0, 1), ((0, 2, 4, 4), 2, 1, 0, 1), ((1, 1, 1, 1), 1, 1, 2, 1)]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape,k,d,p,s", UNFOLD, ids=str)
def test_unfold(shape, k, d, p, s, dtype):
    check_op(lambda x: F(x).unfold(x, k, dilation=d, padding=p, stride=s), inputs=[shape], dtype=dtype)
    check_op(lambda x: F(x).unfold(x, kernel_size=k, dilation=d, padding=p, stride=s), inputs=[shape], dtype=dtype,
             seed=1)


def _n_blocks(size, k, d, p, s):
    k, d, p, s = ((v, v) if isinstance(v, int) else v for v in (k, d, p, s))
    return [(n + 2 * p_ - d_ * (k_ - 1) - 1) // s_ + 1 for n, k_, d_, p_, s_ in zip(size, k, d, p, s)]


# (batch dims, channels, output_size, kernel_size, dilation, padding, stride)
FOLD = [((2,), 3, (5, 6), 2, 1, 0, 1), ((2,), 3, (7, 8), (2, 3), (1, 2), 1, (2, 1)), ((1,), 2, (6, 6), 3, 2, 2, 3),
        ((3,), 1, (4, 5), 1, 1, 0, 1), ((), 4, (5, 5), (1, 3), 1, (0, 1), 2), ((), 2, (4, 4), 4, 1, 0, 1),
        ((0,), 2, (4, 4), 2, 1, 0, 1), ((2,), 2, 5, 2, 1, 1, 2)]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("batch,c,size,k,d,p,s", FOLD, ids=str)
def test_fold(batch, c, size, k, d, p, s, dtype):
    sz = (size, size) if isinstance(size, int) else size
    kk = np.prod((k, k) if isinstance(k, int) else k)
    shape = batch + (c * int(kk), int(np.prod(_n_blocks(sz, k, d, p, s))))
    check_op(lambda x: F(x).fold(x, size, k, dilation=d, padding=p, stride=s), inputs=[shape], dtype=dtype)


@pytest.mark.parametrize("k,d,p,s", [(2, 1, 0, 2), ((3, 2), 1, 1, 1), (3, 2, 2, 2), (1, 1, 0, 1)], ids=str)
def test_unfold_fold_round_trip(k, d, p, s):
    """fold(unfold(x)) is x times how many windows cover each pixel (= fold(unfold(ones))); with non-overlapping
    windows tiling the image it is x itself. Both through autograd, vs torch."""
    check_op(lambda x: F(x).fold(F(x).unfold(x, k, d, p, s), (6, 7), k, d, p, s), inputs=[(2, 3, 6, 7)])
    x = tg.randn(2, 3, 6, 7, dtype=tg.float64)
    cover = tg.nn.functional.fold(tg.nn.functional.unfold(tg.ones_like(x), k, d, p, s), (6, 7), k, d, p, s)
    back = tg.nn.functional.fold(tg.nn.functional.unfold(x, k, d, p, s), (6, 7), k, d, p, s)
    np.testing.assert_allclose(back.numpy(), (x * cover).numpy(), rtol=1e-12, atol=1e-12)
    y = tg.randn(2, 3, 6, 8, dtype=tg.float64)
    same = tg.nn.functional.fold(tg.nn.functional.unfold(y, 2, stride=2), (6, 8), 2, stride=2)
    np.testing.assert_array_equal(same.numpy(), y.numpy())
    # unfold(fold(c)) is the adjoint pair in the other order: <unfold(x), c> == <x, fold(c)>
    c = tg.randn(*tg.nn.functional.unfold(x, k, d, p, s).shape, dtype=tg.float64)
    lhs = (tg.nn.functional.unfold(x, k, d, p, s) * c).sum().item()
    rhs = (x * tg.nn.functional.fold(c, (6, 7), k, d, p, s)).sum().item()
    assert math.isclose(lhs, rhs, rel_tol=1e-12, abs_tol=1e-12)


def test_unfold_fold_gradcheck():
    gradcheck_op(lambda x: tg.nn.functional.unfold(x, (2, 3), dilation=(2, 1), padding=1, stride=(1, 2)),
                 [(2, 2, 5, 6)])
    gradcheck_op(lambda x: tg.nn.functional.fold(x, (5, 6), (2, 3), dilation=(2, 1), padding=1, stride=(1, 2)),
                 [(2, 12, 15)])


# ---------------------------------------------------------------------------------------------- conv1d / conv2d
# (input shape, weight shape, bias, stride, padding, dilation, groups)
CONV2D = [
    ((2, 3, 6, 7), (4, 3, 3, 3), True, 1, 0, 1, 1),
    ((2, 3, 7, 8), (4, 3, 3, 2), True, 2, 1, 1, 1),           # stride > 1, non-square kernel
    ((2, 3, 9, 9), (5, 3, 3, 3), True, 1, 2, 2, 1),           # dilation > 1
    ((1, 4, 8, 7), (6, 2, 3, 3), True, (2, 1), (1, 0), (1, 2), 2),  # groups, per-dim args, batch 1
    ((2, 4, 6, 6), (4, 1, 3, 3), True, 1, 1, 1, 4),           # depthwise
    ((2, 4, 6, 6), (8, 1, 3, 3), False, 2, 1, 1, 4),          # depthwise multiplier 2, no bias
    ((2, 5, 6, 7), (3, 5, 1, 1), True, 1, 0, 1, 1),           # 1x1 (the pixels are the columns)
    ((2, 4, 6, 7), (6, 2, 1, 1), True, 2, 1, 1, 2),           # 1x1 with stride, padding and groups
    ((2, 3, 6, 7), (4, 3, 4, 2), True, 1, "same", 1, 1),      # even kernel: the extra zero goes after
    ((2, 3, 6, 7), (4, 3, 3, 4), True, 1, "same", (2, 3), 1),
    ((2, 3, 6, 7), (4, 3, 3, 3), True, 1, "valid", 1, 1),
    ((6, 6, 7), (4, 3, 3, 3), True, 2, 1, 1, 2),              # unbatched
    ((3, 6, 7), (4, 3, 2, 2), False, 1, "same", 1, 1),
    ((2, 3, 4, 5), (2, 3, 4, 5), True, 1, 0, 1, 1),           # the kernel covers the whole image
    ((2, 3, 2, 2), (2, 3, 3, 3), True, 1, 1, 1, 1),           # only padding makes it fit
    ((0, 3, 5, 5), (4, 3, 3, 3), True, 1, 1, 1, 1),           # empty batch
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("xs,ws,bias,s,p,d,g", CONV2D, ids=str)
def test_conv2d(xs, ws, bias, s, p, d, g, dtype):
    ins = [xs, ws, (ws[0],) if bias else None]
    check_op(lambda x, w, b: F(x).conv2d(x, w, b, s, p, d, g), inputs=ins, dtype=dtype, **tol(dtype))
    check_op(lambda x, w, b: F(x).conv2d(x, w, bias=b, stride=s, padding=p, dilation=d, groups=g), inputs=ins,
             dtype=dtype, seed=1, **tol(dtype))


CONV1D = [((2, 3, 9), (4, 3, 3), True, 1, 0, 1, 1), ((2, 4, 10), (6, 2, 4), True, 3, 2, 2, 2),
          ((1, 4, 8), (4, 1, 5), False, 1, "same", 1, 4), ((3, 9), (5, 3, 2), True, 1, "same", 3, 1),
          ((3, 9), (6, 3, 1), True, 2, 0, 1, 1), ((2, 3, 5), (2, 3, 5), True, (1,), [0], 1, 1),
          ((2, 6, 7), (6, 3, 3), True, 2, "valid", 1, 2)]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("xs,ws,bias,s,p,d,g", CONV1D, ids=str)
def test_conv1d(xs, ws, bias, s, p, d, g, dtype):
    ins = [xs, ws, (ws[0],) if bias else None]
    check_op(lambda x, w, b: F(x).conv1d(x, w, b, s, p, d, g), inputs=ins, dtype=dtype, **tol(dtype))


def _random_conv(rng, nd):
    """A random valid conv configuration: shapes, stride, padding (int or 'same' when stride 1), dilation, groups."""
    g = int(rng.choice([1, 1, 2, 3]))
    cin, cout = g * int(rng.integers(1, 4)), g * int(rng.integers(1, 4))
    k = tuple(int(v) for v in rng.integers(1, 4, nd))
    d = tuple(int(v) for v in rng.integers(1, 3, nd))
    s = tuple(int(v) for v in rng.integers(1, 4, nd))
    p = "same" if all(v == 1 for v in s) and rng.random() < 0.5 else tuple(int(v) for v in rng.integers(0, 3, nd))
    size = tuple(int(v) for v in rng.integers(1, 10, nd))
    pads = (0,) * nd if p == "same" else p
    size = tuple(max(n, dv * (kv - 1) + 1 - 2 * pv) for n, kv, dv, pv in zip(size, k, d, pads))
    batch = () if rng.random() < 0.2 else (int(rng.integers(1, 4)),)
    return batch + (cin,) + size, (cout, cin // g) + k, s, p, d, g


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("nd", [1, 2])
@pytest.mark.parametrize("seed", range(12))
def test_conv_random(seed, nd, dtype):
    xs, ws, s, p, d, g = _random_conv(np.random.default_rng(100 * nd + seed), nd)
    name = f"conv{nd}d"
    check_op(lambda x, w, b: getattr(F(x), name)(x, w, b, s, p, d, g), inputs=[xs, ws, (ws[0],)], dtype=dtype,
             seed=seed, **tol(dtype))


def test_conv_gradcheck():
    gradcheck_op(lambda x, w, b: tg.nn.functional.conv2d(x, w, b, stride=(2, 1), padding=1, dilation=(1, 2),
                                                         groups=2), [(2, 4, 5, 6), (4, 2, 3, 2), (4,)])
    gradcheck_op(lambda x, w: tg.nn.functional.conv1d(x, w, padding="same"), [(3, 7), (2, 3, 4)])


def test_conv2d_equals_unfold_matmul():
    """The doc identity torch states for unfold: conv2d(x, w) == (w.view(O, -1) @ unfold(x)).view(N, O, H', W')."""
    x, w = tg.randn(2, 3, 6, 5, dtype=tg.float64), tg.randn(4, 3, 2, 3, dtype=tg.float64)
    ref = (w.reshape(4, -1) @ tg.nn.functional.unfold(x, (2, 3))).reshape(2, 4, 5, 3)
    np.testing.assert_allclose(tg.nn.functional.conv2d(x, w).numpy(), ref.numpy(), rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------------------------ conv_transpose
# (input shape, weight shape, bias, stride, padding, output_padding, groups, dilation)
CONVT2D = [
    ((2, 3, 4, 5), (3, 4, 3, 3), True, 1, 0, 0, 1, 1),
    ((2, 3, 4, 5), (3, 2, 3, 2), True, 2, 1, 1, 1, 1),            # stride 2 + output_padding
    ((2, 4, 5, 6), (4, 3, 3, 3), True, 2, 1, 1, 2, 1),            # groups
    ((2, 4, 5, 6), (4, 3, 3, 3), False, 1, 0, 1, 1, 2),           # output_padding < dilation (>= stride)
    ((1, 4, 3, 4), (4, 1, 2, 3), True, (3, 2), (1, 0), (2, 1), 4, (1, 2)),  # depthwise, per-dim args
    ((3, 4, 5), (3, 2, 3, 3), True, 2, 1, 0, 1, 1),               # unbatched
    ((2, 3, 4, 4), (3, 5, 1, 1), True, 1, 0, 0, 1, 1),            # 1x1
    ((0, 3, 4, 4), (3, 2, 3, 3), True, 2, 0, 0, 1, 1),            # empty batch
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("xs,ws,bias,s,p,op,g,d", CONVT2D, ids=str)
def test_conv_transpose2d(xs, ws, bias, s, p, op, g, d, dtype):
    ins = [xs, ws, (ws[1] * g,) if bias else None]
    check_op(lambda x, w, b: F(x).conv_transpose2d(x, w, b, s, p, op, g, d), inputs=ins, dtype=dtype, **tol(dtype))


CONVT1D = [((2, 3, 6), (3, 4, 3), True, 1, 0, 0, 1, 1), ((2, 4, 5), (4, 3, 4), True, 3, 2, 2, 2, 1),
           ((4, 6), (4, 2, 3), False, 2, 1, 1, 1, 2), ((1, 2, 7), (2, 1, 5), True, 1, 3, 0, 2, 1)]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("xs,ws,bias,s,p,op,g,d", CONVT1D, ids=str)
def test_conv_transpose1d(xs, ws, bias, s, p, op, g, d, dtype):
    ins = [xs, ws, (ws[1] * g,) if bias else None]
    check_op(lambda x, w, b: F(x).conv_transpose1d(x, w, b, stride=s, padding=p, output_padding=op, groups=g,
                                                   dilation=d), inputs=ins, dtype=dtype, **tol(dtype))


def test_conv_transpose_is_the_input_gradient_of_conv():
    """conv_transpose2d(g, w) is the gradient of conv2d(x, w) with respect to x (same stride/padding/dilation)."""
    x = tg.randn(2, 3, 8, 8, dtype=tg.float64, requires_grad=True)
    w = tg.randn(4, 3, 3, 2, dtype=tg.float64)
    y = tg.nn.functional.conv2d(x, w, stride=2, padding=1, dilation=(2, 1))
    g = tg.randn(*y.shape, dtype=tg.float64)
    y.backward(g)
    # H = 8 leaves one row no window reaches; output_padding gives it back (W = 8 is covered exactly)
    back = tg.nn.functional.conv_transpose2d(g, w, stride=2, padding=1, dilation=(2, 1), output_padding=(1, 0))
    np.testing.assert_allclose(back.numpy(), x.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_conv_transpose_gradcheck():
    gradcheck_op(lambda x, w, b: tg.nn.functional.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1,
                                                                   groups=2), [(2, 4, 3, 3), (4, 2, 3, 2), (4,)])
    gradcheck_op(lambda x, w: tg.nn.functional.conv_transpose1d(x, w, dilation=2, output_padding=1),
                 [(2, 5), (2, 3, 3)])


# -------------------------------------------------------------------------------------------------- modules
TDT = {np.float64: torch.float64, np.float32: torch.float32}


def check_module(m, tm, xs, dtype=np.float64, **call):
    """Same weights (copied), same input: output, input gradient and every parameter gradient vs torch."""
    m.to(dtype)
    tm.to(TDT[dtype])
    copy_to_torch(m, tm)
    t = tol(dtype).get("atol", 1e-10)
    data = np.random.default_rng(0).standard_normal(xs).astype(dtype)
    x, tx = tg.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    y, ty = m(x, **call), tm(tx, **call)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=t, atol=t)
    c = np.random.default_rng(1).standard_normal(ty.shape).astype(dtype)
    (y * tg.tensor(c)).sum().backward()
    (ty * torch.tensor(c)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=t, atol=t, err_msg="input")
    assert_param_grads_match(m, tm, t, t)


MODULES = [
    ("Conv2d", (3, 4, 3), {}, (2, 3, 6, 7)),
    ("Conv2d", (4, 6, (3, 2)), dict(stride=(2, 1), padding=1, dilation=(1, 2), groups=2, bias=False), (2, 4, 7, 8)),
    ("Conv2d", (4, 4, 3), dict(padding="same", groups=4), (4, 5, 6)),
    ("Conv2d", (2, 3, 3), dict(padding=2, padding_mode="reflect"), (2, 2, 5, 6)),
    ("Conv2d", (2, 3, (2, 3)), dict(padding="same", padding_mode="circular", dilation=(1, 2)), (2, 2, 5, 6)),
    ("Conv2d", (2, 3, 3), dict(padding=(4, 1), stride=2, padding_mode="replicate"), (2, 2, 3, 4)),
    ("Conv1d", (3, 4, 3), {}, (2, 3, 9)),
    ("Conv1d", (4, 2, 4), dict(stride=2, padding="valid", groups=2), (4, 9)),
    ("Conv1d", (2, 2, 4), dict(padding="same", padding_mode="reflect", dilation=2), (2, 2, 9)),
    ("Conv1d", (2, 2, 3), dict(padding=3, padding_mode="circular"), (2, 2, 4)),
    ("ConvTranspose2d", (3, 4, 3), dict(stride=2, padding=1, output_padding=1), (2, 3, 4, 5)),
    ("ConvTranspose2d", (4, 2, (2, 3)), dict(groups=2, dilation=2, bias=False), (4, 3, 3)),
    ("ConvTranspose1d", (3, 4, 3), dict(stride=3), (2, 3, 5)),
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name,args,kw,xs", MODULES, ids=str)
def test_modules_vs_torch(name, args, kw, xs, dtype):
    m, tm = getattr(nn, name)(*args, **kw), getattr(torch.nn, name)(*args, **kw)
    assert repr(m) == repr(tm)
    assert list(m.state_dict()) == list(tm.state_dict())
    check_module(m, tm, xs, dtype)


def test_conv_transpose_module_output_size():
    m, tm = nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1), torch.nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1)
    check_module(m, tm, (2, 3, 4, 4), output_size=[8, 7])
    m, tm = nn.ConvTranspose1d(3, 2, 3, stride=3), torch.nn.ConvTranspose1d(3, 2, 3, stride=3)
    check_module(m, tm, (2, 3, 4), output_size=(2, 2, 13))
    x = tg.randn(1, 3, 4, 4)
    with pytest.raises(ValueError, match=r"valid sizes range from \[7, 7\] to \[8, 8\]"):
        nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1)(x, output_size=(9, 9))
    with pytest.raises(ValueError, match="output_size must have 2 or 4 elements"):
        nn.ConvTranspose2d(3, 2, 3)(x, output_size=(9,))


def test_unfold_fold_modules():
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 6))
    for m, tm in [(nn.Unfold(3, padding=1, stride=2), torch.nn.Unfold(3, padding=1, stride=2)),
                  (nn.Unfold((2, 3), dilation=2), torch.nn.Unfold((2, 3), dilation=2))]:
        assert repr(m) == repr(tm)
        np.testing.assert_allclose(m(tg.tensor(x)).numpy(), tm(torch.tensor(x)).numpy(), rtol=1e-12)
    m, tm = nn.Fold((6, 6), 2, stride=2), torch.nn.Fold((6, 6), 2, stride=2)
    assert repr(m) == repr(tm)
    cols = x.reshape(2, 12, 9)
    np.testing.assert_allclose(m(tg.tensor(cols)).numpy(), tm(torch.tensor(cols)).numpy(), rtol=1e-12)


@pytest.mark.parametrize("cls,args", [("Conv2d", (6, 8, (3, 5))), ("Conv1d", (4, 6, 3)),
                                      ("ConvTranspose2d", (6, 4, 3)), ("Conv2d", (4, 4, 3, 1, 0, 1, 2)),
                                      ("Conv3d", (4, 6, (3, 2, 2))), ("ConvTranspose3d", (6, 4, 3)),
                                      ("Conv3d", (4, 4, 3, 1, 0, 1, 2))])
def test_module_init_and_attributes(cls, args):
    """Parameter shapes, dtypes, attributes as torch; weights inside kaiming_uniform(a=sqrt(5))'s bound
    1/sqrt(fan_in) (and filling it), bias inside 1/sqrt(fan_in) with fan_in from the weight, as torch computes it."""
    m, tm = getattr(nn, cls)(*args), getattr(torch.nn, cls)(*args)
    for k in ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "transposed",
              "output_padding", "groups", "padding_mode"):
        assert getattr(m, k) == getattr(tm, k), k
    assert [(k, tuple(v.shape)) for k, v in m.named_parameters()] == [
        (k, tuple(v.shape)) for k, v in tm.named_parameters()]
    assert m.weight.dtype == tg.float32 and m.weight.requires_grad
    w = m.weight.detach().numpy()
    bound = 1 / math.sqrt(w[0].size)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound
    assert np.abs(m.bias.detach().numpy()).max() <= bound
    m64 = getattr(nn, cls)(*args, bias=False, dtype=tg.float64)
    assert m64.weight.dtype == tg.float64 and m64.bias is None and "bias=False" in repr(m64)


def test_module_argument_errors():
    for kw, msg in [(dict(groups=0), "groups must be a positive integer"),
                    (dict(groups=3), "in_channels must be divisible by groups"),
                    (dict(padding="full"), "invalid padding string 'full'"),
                    (dict(padding="same", stride=2), "padding='same' is not supported for strided convolutions"),
                    (dict(padding_mode="mirror"), "padding_mode must be one of")]:
        with pytest.raises(ValueError, match=msg):
            nn.Conv2d(4, 6, 3, **kw)
        with pytest.raises(ValueError):
            torch.nn.Conv2d(4, 6, 3, **kw)
    with pytest.raises(ValueError, match="out_channels must be divisible by groups"):
        nn.Conv1d(4, 6, 3, groups=4)
    with pytest.raises(ValueError, match='Only "zeros" padding mode is supported for ConvTranspose2d'):
        nn.ConvTranspose2d(4, 6, 3, padding_mode="reflect")
    with pytest.raises(RuntimeError, match=r"Conv2d: padding_mode='reflect' .* padding \(4, 4\) .* \(1, 2, 3, 4\)"):
        nn.Conv2d(2, 2, 3, padding=4, padding_mode="reflect")(tg.randn(1, 2, 3, 4))


# ------------------------------------------------------------------------------------------------- errors
def _raises(exc, match, fn):
    with pytest.raises(exc, match=match):
        fn()


def test_conv_errors_name_the_op_and_shapes():
    f = tg.nn.functional
    x = tg.randn(2, 4, 5, 5)
    _raises(RuntimeError, r"conv2d: groups=1 and weight of shape \(8, 3, 3, 3\) expect an input with 3 channels, "
            r"got input of shape \(2, 4, 5, 5\) \(4 channels\)", lambda: f.conv2d(x, tg.randn(8, 3, 3, 3)))
    _raises(RuntimeError, r"conv2d: groups=3 must divide the weight's first dim .* \(8, 2, 3, 3\)",
            lambda: f.conv2d(x, tg.randn(8, 2, 3, 3), groups=3))
    _raises(RuntimeError, r"conv2d: groups=2 and weight of shape \(6, 1, 3, 3\) expect an input with 2 channels",
            lambda: f.conv2d(x, tg.randn(6, 1, 3, 3), groups=2))
    _raises(RuntimeError, r"conv2d: input of shape \(2, 4, 2, 2\) padded to spatial size \(2, 2\) is smaller than "
            r"the kernel \(3, 3\)", lambda: f.conv2d(tg.randn(2, 4, 2, 2), tg.randn(8, 4, 3, 3)))
    _raises(RuntimeError, r"conv1d: input of shape \(2, 4, 5\) padded to spatial size \(7,\) is smaller than the "
            r"kernel \(3,\) with dilation \(4,\) \(spatial extent \(9,\)\)",
            lambda: f.conv1d(tg.randn(2, 4, 5), tg.randn(8, 4, 3), padding=1, dilation=4))
    _raises(RuntimeError, r"conv2d: weight of shape \(8, 4, 3, 3\) expects a 1-D bias of 8 elements, got bias of "
            r"shape \(7,\)", lambda: f.conv2d(x, tg.randn(8, 4, 3, 3), tg.randn(7)))
    _raises(RuntimeError, r"conv2d: expected a 3-D \(unbatched\) or 4-D \(batched\) input, got input of shape "
            r"\(4, 5\)", lambda: f.conv2d(tg.randn(4, 5), tg.randn(8, 4, 3, 3)))
    _raises(RuntimeError, r"conv2d: expected a 4-D weight, got shape \(8, 4, 3\)",
            lambda: f.conv2d(x, tg.randn(8, 4, 3)))
    _raises(RuntimeError, r"conv2d: stride must be positive, got stride=\(0, 0\)",
            lambda: f.conv2d(x, tg.randn(8, 4, 3, 3), stride=0))
    _raises(RuntimeError, r"conv2d: padding must be non-negative",
            lambda: f.conv2d(x, tg.randn(8, 4, 3, 3), padding=-1))
    _raises(RuntimeError, r"conv2d: dilation must be positive", lambda: f.conv2d(x, tg.randn(8, 4, 3, 3), dilation=0))
    _raises(RuntimeError, r"conv2d: expected stride to be a single int or 2 ints .* stride=\(1, 1, 1\)",
            lambda: f.conv2d(x, tg.randn(8, 4, 3, 3), stride=(1, 1, 1)))
    _raises(RuntimeError, r"conv2d: padding='same' is not supported for strided convolutions",
            lambda: f.conv2d(x, tg.randn(8, 4, 3, 3), padding="same", stride=2))
    _raises(RuntimeError, r"conv2d: invalid padding string 'foo'",
            lambda: f.conv2d(x, tg.randn(8, 4, 3, 3), padding="foo"))
    _raises(RuntimeError, r"conv2d: groups must be a positive int, got 0",
            lambda: f.conv2d(x, tg.randn(8, 4, 3, 3), groups=0))
    _raises(RuntimeError, r"conv2d: input, weight and bias must have one dtype .* \(2, 4, 5, 5\) float32 .* "
            r"\(8, 4, 3, 3\) float64", lambda: f.conv2d(x, tg.randn(8, 4, 3, 3, dtype=tg.float64)))
    _raises(TypeError, r"conv2d: expected a floating point input, got int64 \(shape \(2, 4, 5, 5\)\)",
            lambda: f.conv2d(tg.zeros(2, 4, 5, 5, dtype=tg.int64), tg.zeros(8, 4, 3, 3, dtype=tg.int64)))
    _raises(TypeError, r"conv2d: padding must be an int or a tuple of 2 ints, got 1.5",
            lambda: f.conv2d(x, tg.randn(8, 4, 3, 3), padding=1.5))
    for bad in [lambda: torch.nn.functional.conv2d(torch.randn(2, 4, 5, 5), torch.randn(8, 3, 3, 3)),
                lambda: torch.nn.functional.conv2d(torch.randn(2, 4, 2, 2), torch.randn(8, 4, 3, 3))]:
        with pytest.raises(RuntimeError):  # torch raises the same exception type
            bad()


def test_conv_transpose_errors():
    f = tg.nn.functional
    x = tg.randn(2, 4, 5, 5)
    _raises(RuntimeError, r"conv_transpose2d: groups=1 and weight of shape \(5, 3, 3, 3\) expect an input with 5 "
            r"channels, got input of shape \(2, 4, 5, 5\)", lambda: f.conv_transpose2d(x, tg.randn(5, 3, 3, 3)))
    _raises(RuntimeError, r"conv_transpose2d: groups=3 must divide the weight's first dim",
            lambda: f.conv_transpose2d(x, tg.randn(4, 3, 3, 3), groups=3))
    _raises(RuntimeError, r"conv_transpose2d: output_padding must be smaller than either stride or dilation, got "
            r"output_padding=\(1, 1\), stride=\(1, 1\), dilation=\(1, 1\)",
            lambda: f.conv_transpose2d(x, tg.randn(4, 3, 3, 3), output_padding=1))
    _raises(RuntimeError, r"conv_transpose2d: weight of shape \(4, 3, 3, 3\) expects a 1-D bias of 6 elements",
            lambda: f.conv_transpose2d(x, tg.randn(4, 3, 3, 3), tg.randn(3), groups=2))
    _raises(RuntimeError, r"conv_transpose2d: .* give an output of spatial size \(-3, -3\), which must be positive",
            lambda: f.conv_transpose2d(x, tg.randn(4, 3, 3, 3), padding=5))
    _raises(TypeError, r"conv_transpose1d: padding must be an int or a tuple of 1 ints, got 'same'",
            lambda: f.conv_transpose1d(tg.randn(2, 4, 5), tg.randn(4, 3, 3), padding="same"))


def test_unfold_fold_errors():
    f = tg.nn.functional
    _raises(RuntimeError, r"unfold: expected a 3-D \(unbatched\) or 4-D \(batched\) input, got input of shape \(3, 4\)",
            lambda: f.unfold(tg.randn(3, 4), 2))
    _raises(RuntimeError, r"unfold: input of shape \(1, 3, 4, 4\) with padding=\(0, 0\) is smaller than the kernel "
            r"\(5, 5\)", lambda: f.unfold(tg.randn(1, 3, 4, 4), 5))
    _raises(RuntimeError, r"unfold: stride must be positive", lambda: f.unfold(tg.randn(1, 3, 4, 4), 2, stride=0))
    _raises(RuntimeError, r"unfold: kernel_size must be positive", lambda: f.unfold(tg.randn(1, 3, 4, 4), 0))
    _raises(RuntimeError, r"unfold: expected non-empty channel and spatial dims, got input of shape \(2, 0, 4, 4\)",
            lambda: f.unfold(tg.randn(2, 0, 4, 4), 2))
    _raises(RuntimeError, r"fold: input of shape \(1, 12, 8\) has 8 blocks, but output_size=\(4, 4\), "
            r"kernel_size=\(2, 2\), .* give 3 \* 3 = 9", lambda: f.fold(tg.randn(1, 12, 8), (4, 4), 2))
    _raises(RuntimeError, r"fold: input of shape \(1, 13, 9\): the size of its column dim \(13\) must be divisible "
            r"by the product of kernel_size \(2, 2\) \(4\)", lambda: f.fold(tg.randn(1, 13, 9), (4, 4), 2))
    _raises(RuntimeError, r"fold: expected a 2-D \(unbatched\) or 3-D \(batched\) input of columns, got input of "
            r"shape \(2, 12, 9, 1\)", lambda: f.fold(tg.randn(2, 12, 9, 1), (4, 4), 2))


# --------------------------------------------------------------------------------------------------- LeNet
def lenet_layers(lib):
    """LeNet-5's layers in a ModuleDict (same state_dict keys in both libraries)."""
    return lib.nn.ModuleDict({"c1": lib.nn.Conv2d(1, 6, 5, padding=2), "c2": lib.nn.Conv2d(6, 16, 5),
                              "f1": lib.nn.Linear(400, 120), "f2": lib.nn.Linear(120, 84), "f3": lib.nn.Linear(84, 10)})


def lenet(lib, m, x):
    """conv-relu-pool twice, then three linears. The 2x2 max pool is a reshape + two amax (no max_pool2d here)."""
    def pool(h):
        n, c, hh, ww = h.shape
        return h.reshape(n, c, hh // 2, 2, ww // 2, 2).amax(5).amax(3)
    f = lib.nn.functional
    h = pool(f.relu(m["c1"](x)))
    h = pool(f.relu(m["c2"](h)))
    h = f.relu(m["f1"](h.reshape(h.shape[0], -1)))
    return m["f3"](f.relu(m["f2"](h)))


def test_lenet_forward_backward_vs_torch():
    m, tm = lenet_layers(tg), lenet_layers(torch)
    copy_to_torch(m, tm)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, 8)
    loss = tg.nn.functional.cross_entropy(lenet(tg, m, tg.tensor(x)), tg.tensor(y))
    tloss = torch.nn.functional.cross_entropy(lenet(torch, tm, torch.tensor(x)), torch.tensor(y))
    loss.backward()
    tloss.backward()
    assert abs(loss.item() - tloss.item()) < 1e-5
    assert_param_grads_match(m, tm, 1e-4, 1e-5)
