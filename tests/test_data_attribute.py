"""`.data` as in PyTorch: a detached Tensor sharing storage; the raw NumPy/CuPy array is `.array`."""
import numpy as np
import pytest
import torch

import tensorgrad as tg
import tensorgrad.nn as nn


def test_data_is_a_tensor_sharing_storage():
    t = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    d = t.data
    assert isinstance(d, tg.Tensor) and not isinstance(d, np.ndarray)
    assert d.grad_fn is None and not d.requires_grad
    assert np.shares_memory(d.array, t.array)
    t.data.add_(1)
    np.testing.assert_array_equal(t.array, [2.0, 3.0, 4.0])


def test_data_inplace_ops_like_torch():
    rng = np.random.default_rng(0)
    w0, g0, q0 = (rng.standard_normal((3, 4)).astype(np.float32) for _ in range(3))
    p, tp = nn.Parameter(tg.tensor(w0)), torch.nn.Parameter(torch.tensor(w0))
    p.data.add_(tg.tensor(g0), alpha=-0.1)
    tp.data.add_(torch.tensor(g0), alpha=-0.1)
    np.testing.assert_allclose(p.array, tp.detach().numpy(), rtol=1e-6)
    p.data.copy_(tg.tensor(q0))
    np.testing.assert_array_equal(p.array, q0)
    tg.manual_seed(0)
    p.data.normal_()
    assert p.shape == (3, 4) and abs(float(p.array.std()) - 1) < 0.6 and not np.allclose(p.array, q0)
    p.data.mul_(0.0)
    assert not p.array.any() and p.requires_grad and p.grad_fn is None


def test_writes_through_data_do_not_touch_autograd():
    # As torch: no version error, no graph; backward uses the memory as it is now.
    x, tx = tg.ones(3, requires_grad=True), torch.ones(3, requires_grad=True)
    z, tz = x * x, tx * tx
    x.data.mul_(2)
    tx.data.mul_(2)
    assert x._version == tx._version == 0
    z.sum().backward()
    tz.sum().backward()
    np.testing.assert_array_equal(x.grad.array, tx.grad.numpy())
    d = x.data
    d.add_(1)
    assert d._version == 1 and x._version == 0


def test_data_setter():
    t = tg.zeros(2, 3, requires_grad=True)
    new = tg.ones(2, 3)
    t.data = new
    assert np.shares_memory(t.array, new.array) and t.requires_grad and t.grad_fn is None
    t.data = tg.ones(2, 3, dtype=tg.float64)  # dtype may change, as torch
    assert t.dtype == np.float64
    with pytest.raises(TypeError, match=r"data: can only be set to a Tensor \(got ndarray\).*\.array"):
        t.data = np.ones((2, 3))
    with pytest.raises(TypeError, match="got int"):
        t.data = 5
    with pytest.raises(RuntimeError, match=r"shape \(4,\).*shape \(2, 3\)"):
        t.data = tg.ones(4)
    with pytest.raises(RuntimeError, match="floating point"):
        t.data = tg.ones(2, 3, dtype=tg.int64)


def test_manual_sgd_through_data_matches_torch():
    rng = np.random.default_rng(1)
    x0, w0 = rng.standard_normal((5, 4)), rng.standard_normal((4, 2))
    w, tw = tg.tensor(w0, requires_grad=True), torch.tensor(w0, requires_grad=True)
    for _ in range(3):
        for W, X, lib in ((w, tg.tensor(x0), tg), (tw, torch.tensor(x0), torch)):
            loss = (X @ W).tanh().pow(2).sum()
            loss.backward()
            W.data.add_(W.grad, alpha=-0.05)
            W.grad.zero_()
    np.testing.assert_allclose(w.array, tw.detach().numpy(), rtol=1e-12)
