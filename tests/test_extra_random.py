"""ops/extra_random.py: normal (every overload), bernoulli, poisson, randint_like and the in-place fills, checked
statistically against torch's distributions (moments, supports), and for seeding, dtypes and zero gradients."""
import numpy as np
import pytest
import torch

import tensorgrad as tg
from helpers import raises

N = 200_000


def _moments(t):
    a = np.asarray(t.detach(), dtype=np.float64)
    return a.mean(), a.std()


def test_normal_overloads():
    tg.manual_seed(1)
    a = tg.normal(2.0, 3.0, (N,))
    assert a.dtype == tg.float32 and a.shape == (N,)
    m, s = _moments(a)
    assert abs(m - 2.0) < 0.05 and abs(s - 3.0) < 0.05
    mean = tg.tensor([[-5.0], [5.0]], dtype=tg.float64)
    b = tg.normal(mean, tg.full((1, N // 2), 0.5, dtype=tg.float64))
    assert b.shape == (2, N // 2) and b.dtype == tg.float64
    assert abs(_moments(b[0])[0] + 5) < 0.02 and abs(_moments(b[1])[1] - 0.5) < 0.01
    c = tg.normal(tg.zeros(N), 2.0)
    assert abs(_moments(c)[1] - 2.0) < 0.03
    d = tg.normal(1.0, tg.full((N,), 0.1))
    assert abs(_moments(d)[0] - 1.0) < 0.01
    assert tg.normal(0.0, 1.0, size=(2, 3), dtype=tg.float64).dtype == tg.float64
    tg.manual_seed(7)
    x = tg.normal(0.0, 1.0, (5,))
    tg.manual_seed(7)
    np.testing.assert_array_equal(x.numpy(), tg.normal(0.0, 1.0, (5,)).numpy())
    g = tg.Generator().manual_seed(3)
    y = tg.normal(0.0, 1.0, (5,), generator=g)
    np.testing.assert_array_equal(y.numpy(), tg.normal(0.0, 1.0, (5,), generator=tg.Generator().manual_seed(3)).numpy())
    o = tg.empty(4, dtype=tg.float64)
    assert tg.normal(0.0, 1.0, (4,), out=o) is o and o.numpy().std() > 0
    assert tg.normal(tg.zeros(3), 1.0, out=o) is o and o.shape == (3,)
    assert tg.bernoulli(tg.ones(2), out=o) is o and o.tolist() == [1.0, 1.0]
    with raises(RuntimeError, "std"):
        tg.normal(0.0, -1.0, (3,))
    with raises(RuntimeError, "std"):
        tg.normal(tg.zeros(3), tg.tensor([1.0, -1.0, 1.0]))


def test_zero_gradients_like_torch():
    m = tg.zeros(3, requires_grad=True)
    s = tg.ones(3, requires_grad=True)
    out = tg.normal(m, s)
    assert out.requires_grad == torch.normal(torch.zeros(3, requires_grad=True), 1.0).requires_grad
    out.sum().backward()
    assert not m.grad.numpy().any() and not s.grad.numpy().any()
    p = tg.full((4,), 0.5, requires_grad=True)
    b = tg.bernoulli(p)
    assert b.requires_grad
    b.sum().backward()
    assert not p.grad.numpy().any()
    r = tg.ones(4, requires_grad=True)
    tg.poisson(r).sum().backward()
    assert not r.grad.numpy().any()


@pytest.mark.parametrize("dtype", [tg.float32, tg.float64])
def test_bernoulli(dtype):
    p = tg.tensor(np.linspace(0, 1, 5), dtype=dtype).reshape(5, 1).expand(5, N // 10)
    b = tg.bernoulli(p)
    assert b.dtype == dtype and set(np.unique(b.numpy())) <= {0.0, 1.0}
    np.testing.assert_allclose(b.numpy().mean(1), np.linspace(0, 1, 5), atol=0.02)
    assert abs(tg.bernoulli(tg.zeros(N, dtype=dtype), 0.3).numpy().mean() - 0.3) < 0.01
    assert abs(tg.zeros(N).bernoulli().numpy().mean()) == 0.0
    x = tg.zeros(N, dtype=dtype).bernoulli_(0.25)
    assert abs(x.numpy().mean() - 0.25) < 0.01
    x.bernoulli_(tg.full((N,), 0.75, dtype=dtype))
    assert abs(x.numpy().mean() - 0.75) < 0.01
    with raises(RuntimeError, "bernoulli"):
        tg.bernoulli(tg.tensor([1.5]))
    with raises(RuntimeError, "bernoulli"):
        tg.bernoulli(tg.tensor([1]))


def test_poisson_and_randint_like():
    rates = tg.tensor([0.0, 1.0, 4.5, 30.0], dtype=tg.float64).reshape(4, 1).expand(4, N // 10)
    c = tg.poisson(rates)
    assert c.dtype == tg.float64 and (c.numpy() == np.round(c.numpy())).all()
    np.testing.assert_allclose(c.numpy().mean(1), [0, 1, 4.5, 30], rtol=0.03, atol=0.01)
    np.testing.assert_allclose(c.numpy().var(1), [0, 1, 4.5, 30], rtol=0.06, atol=0.01)
    with raises(RuntimeError, "poisson"):
        tg.poisson(tg.tensor([-1.0]))
    r = tg.randint_like(tg.zeros(N), 10)
    assert r.dtype == tg.float32 and r.numpy().min() == 0 and r.numpy().max() == 9
    r = tg.randint_like(tg.zeros(N, dtype=tg.int32), -3, 3)
    assert r.dtype == tg.int32 and set(np.unique(r.numpy())) == set(range(-3, 3))
    assert tg.randint_like(tg.zeros(2, 3), 5, dtype=tg.int64).dtype == tg.int64


@pytest.mark.parametrize("dtype", [tg.float32, tg.float64])
def test_inplace_fills(dtype):
    t = torch.empty(N, dtype=getattr(torch, str(dtype)))
    x = tg.empty(N, dtype=dtype)
    for name, args in [("exponential_", (2.0,)), ("log_normal_", (0.5, 0.4)), ("geometric_", (0.3,))]:
        getattr(x, name)(*args)
        getattr(t, name)(*args)
        a, b = x.numpy().astype(np.float64), t.numpy().astype(np.float64)
        assert abs(a.mean() - b.mean()) < 0.03 * max(1, abs(b.mean())), name
        assert abs(a.std() - b.std()) < 0.05 * max(1, b.std()), name
        assert a.min() >= (1 if name == "geometric_" else 0)
    x.cauchy_(1.0, 2.0)
    t.cauchy_(1.0, 2.0)
    # (no moments: compare the quartiles, median +- sigma)
    np.testing.assert_allclose(np.percentile(x.numpy(), [25, 50, 75]), np.percentile(t.numpy(), [25, 50, 75]),
                               atol=0.05)
    x.random_(5, 9)
    assert set(np.unique(x.numpy())) == {5, 6, 7, 8}
    x.random_(3)
    assert set(np.unique(x.numpy())) == {0, 1, 2}
    x.random_()
    assert x.numpy().min() >= 0 and x.numpy().max() <= 2 ** (24 if dtype == tg.float32 else 53)
    assert x.numpy().max() > 1000
    i = tg.zeros(N, dtype=tg.uint8).random_()
    assert i.numpy().max() == 255
    with raises(RuntimeError, "random_"):
        x.random_(3, 2)
    with raises(RuntimeError, "exponential_"):
        x.exponential_(0.0)
    with raises(RuntimeError, "geometric_"):
        x.geometric_(1.5)
    with raises(RuntimeError, "leaf"):
        tg.zeros(3, requires_grad=True).exponential_()
    tg.manual_seed(4)
    u = tg.empty(4).exponential_()
    tg.manual_seed(4)
    np.testing.assert_array_equal(u.numpy(), tg.empty(4).exponential_().numpy())
