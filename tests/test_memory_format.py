"""Memory formats (torch.channels_last and friends): strides, is_contiguous, contiguous/clone/to/*_like and
Module.to(memory_format=...) compared with torch; the values and gradients never depend on the format."""
import numpy as np
import pytest
import torch

import tensorgrad as tg
from helpers import check_op

RNG = np.random.default_rng(0)
FORMATS = ["contiguous_format", "channels_last", "preserve_format"]


def _pair(shape, dtype=np.float32):
    a = RNG.standard_normal(shape).astype(dtype)
    return tg.tensor(a), torch.tensor(a)


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (1, 3, 1, 5), (2, 1, 4, 4), (0, 3, 2, 2), (2, 3, 1, 1)])
@pytest.mark.parametrize("view", [lambda v: v, lambda v: v.transpose(2, 3), lambda v: v[:, :, ::2]])
def test_strides_and_is_contiguous(shape, view):
    x, t = _pair(shape)
    x, t = view(x), view(t)
    for f in ("contiguous_format", "channels_last"):
        if 0 in shape and f == "channels_last":
            continue  # (an empty tensor reports C-contiguous strides: NumPy keeps none for it)
        xc = x.contiguous(memory_format=getattr(tg, f))
        tc = t.contiguous(memory_format=getattr(torch, f))
        assert xc.stride() == tc.stride(), (f, xc.stride(), tc.stride())
        np.testing.assert_array_equal(np.asarray(xc), tc.numpy())
        for g in ("contiguous_format", "channels_last"):
            assert xc.is_contiguous(memory_format=getattr(tg, g)) == tc.is_contiguous(memory_format=getattr(torch, g))
        assert xc.is_contiguous() == tc.is_contiguous()


def test_channels_last_3d():
    x, t = _pair((2, 3, 2, 4, 5))
    xc, tc = x.contiguous(memory_format=tg.channels_last_3d), t.contiguous(memory_format=torch.channels_last_3d)
    assert xc.stride() == tc.stride() and xc.is_contiguous(memory_format=tg.channels_last_3d)


@pytest.mark.parametrize("fmt", ["contiguous_format", "channels_last"])
def test_contiguous_passes_gradients(fmt):
    check_op(lambda a: (a.contiguous(memory_format=getattr(tg if isinstance(a, tg.Tensor) else torch, fmt)) * 2)
             .sum(1), inputs=[(2, 3, 4, 5)])


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("fn", ["zeros_like", "ones_like", "empty_like", "rand_like", "randn_like"])
def test_like_factories(fmt, fn):
    x, t = _pair((2, 3, 4, 5))
    x, t = x.contiguous(memory_format=tg.channels_last), t.contiguous(memory_format=torch.channels_last)
    a, b = getattr(tg, fn)(x, memory_format=getattr(tg, fmt)), getattr(torch, fn)(t, memory_format=getattr(torch, fmt))
    assert a.stride() == b.stride() and tuple(a.shape) == tuple(b.shape)
    if fn in ("zeros_like", "ones_like"):
        np.testing.assert_array_equal(np.asarray(a), b.numpy())
    a = tg.full_like(x, 3.0, memory_format=getattr(tg, fmt))
    b = torch.full_like(t, 3.0, memory_format=getattr(torch, fmt))
    assert a.stride() == b.stride()


@pytest.mark.parametrize("fmt", FORMATS)
def test_clone(fmt):
    x, t = _pair((2, 3, 4, 5))
    for src_x, src_t in ((x, t), (x.contiguous(memory_format=tg.channels_last),
                                  t.contiguous(memory_format=torch.channels_last))):
        a, b = src_x.clone(memory_format=getattr(tg, fmt)), src_t.clone(memory_format=getattr(torch, fmt))
        assert a.stride() == b.stride()
        a, b = tg.clone(src_x, memory_format=getattr(tg, fmt)), torch.clone(src_t, memory_format=getattr(torch, fmt))
        assert a.stride() == b.stride()


def test_elementwise_keeps_channels_last():
    x, t = _pair((2, 3, 4, 5))
    x, t = x.contiguous(memory_format=tg.channels_last), t.contiguous(memory_format=torch.channels_last)
    for f in (lambda v: v * 2, lambda v: v.exp(), lambda v: v + v):
        assert f(x).stride() == f(t).stride()


def test_to_forms():
    x, t = _pair((2, 3, 4, 5))
    for call in (lambda v, m: v.to("cpu", non_blocking=True), lambda v, m: v.to(m.float64, copy=True),
                 lambda v, m: v.to("cpu", m.float64, True, True), lambda v, m: v.to(memory_format=m.channels_last),
                 lambda v, m: v.to(m.float64, memory_format=m.channels_last), lambda v, m: v.cpu(),
                 lambda v, m: v.to(v, copy=True)):
        a, b = call(x, tg), call(t, torch)
        assert a.stride() == b.stride() and str(a.dtype) == str(b.dtype).replace("torch.", "")
        assert (a is x) == (b is t)
        np.testing.assert_array_equal(np.asarray(a), b.numpy())


def test_module_to_channels_last_trains_as_torch():
    conv_t = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                                 torch.nn.Conv2d(4, 2, 1), torch.nn.Flatten(), torch.nn.Linear(2 * 6 * 6, 3))
    conv_g = tg.nn.Sequential(tg.nn.Conv2d(3, 4, 3, padding=1), tg.nn.BatchNorm2d(4), tg.nn.ReLU(),
                              tg.nn.Conv2d(4, 2, 1), tg.nn.Flatten(), tg.nn.Linear(2 * 6 * 6, 3))
    conv_g.load_state_dict({k: v.detach().numpy() for k, v in conv_t.state_dict().items()})
    conv_t, conv_g = conv_t.to(memory_format=torch.channels_last), conv_g.to(memory_format=tg.channels_last)
    for (n, p), (_, q) in zip(conv_g.named_parameters(), conv_t.named_parameters()):
        assert p.stride() == q.stride() and p.is_leaf, n
    opt_t, opt_g = torch.optim.SGD(conv_t.parameters(), lr=0.1), tg.optim.SGD(conv_g.parameters(), lr=0.1)
    for step in range(3):
        x, t = _pair((4, 3, 6, 6))
        x, t = x.to(memory_format=tg.channels_last), t.to(memory_format=torch.channels_last)
        lt, lg = conv_t(t).square().mean(), conv_g(x).square().mean()
        np.testing.assert_allclose(float(lg), float(lt), rtol=1e-5)
        opt_t.zero_grad()
        opt_g.zero_grad()
        lt.backward()
        lg.backward()
        opt_t.step()
        opt_g.step()
    for (n, p), (_, q) in zip(conv_g.named_parameters(), conv_t.named_parameters()):
        np.testing.assert_allclose(np.asarray(p.detach()), q.detach().numpy(), rtol=1e-4, atol=1e-6, err_msg=n)


def test_errors_as_torch():
    x, t = _pair((2, 3, 4))
    for m, v in ((tg, x), (torch, t)):
        with pytest.raises(RuntimeError, match="required rank 4 tensor to use channels_last format"):
            v.contiguous(memory_format=m.channels_last)
        assert v.contiguous(memory_format=m.preserve_format) is v
        with pytest.raises(RuntimeError, match="preserve memory format is unsupported by the contiguous operator"):
            v.transpose(0, 1).contiguous(memory_format=m.preserve_format)
    with pytest.raises(TypeError, match="memory_format must be a torch.memory_format"):
        x.contiguous(memory_format="channels_last")


def test_repr_and_identity():
    import pickle
    assert repr(tg.channels_last) == "tensorgrad.channels_last"
    assert pickle.loads(pickle.dumps(tg.channels_last)) is tg.channels_last
    assert isinstance(tg.preserve_format, tg.memory_format)
