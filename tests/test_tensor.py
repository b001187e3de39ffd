"""Tensor tests: dtypes, metadata, conversion, repr vs PyTorch, factories, RNG, in-place ops, operators."""
import re

import numpy as np
import pytest
import torch

import tensorgrad as tg

DTYPES = ["float16", "float32", "float64", "int64", "int32", "bool"]


# ------------------------------------------------------------------------------------ dtypes, metadata
@pytest.mark.parametrize("name", DTYPES)
def test_dtypes_roundtrip(name):
    dt = getattr(tg, name)
    t = tg.tensor([[1, 0, 1], [0, 1, 1]], dtype=dt)
    assert t.dtype == dt == np.dtype(name)
    assert t.numpy().dtype == np.dtype(name)
    ref = torch.tensor([[1, 0, 1], [0, 1, 1]], dtype=getattr(torch, name))
    np.testing.assert_array_equal(t.numpy(), ref.numpy())
    assert tg.tensor([1, 0], dtype=name).dtype == dt  # names work too
    assert tg.tensor([1, 0], dtype=getattr(torch, name)).dtype == dt  # and torch dtypes, by name


def test_metadata():
    t = tg.zeros(2, 3, 4)
    assert t.shape == (2, 3, 4) and t.ndim == 3 and t.dim() == 3
    assert t.size() == (2, 3, 4) and t.size(1) == 3 and t.size(-1) == 4
    assert t.numel() == 24 and t.nelement() == 24 and len(t) == 2  # nelement: torch's older spelling (makemore)
    assert t.dtype == tg.float32
    assert t.device == tg.device("cpu") and str(t.device) == "cpu" and t.device == "cpu"
    assert not t.is_cuda
    assert t.element_size() == 4 and t.nbytes == 96
    s = tg.tensor(3.0)
    assert s.shape == () and s.ndim == 0 and s.numel() == 1


def test_conversions():
    t = tg.tensor([[1.5, 2.0], [3.0, 4.0]])
    assert t.tolist() == [[1.5, 2.0], [3.0, 4.0]]
    a = np.asarray(t)
    assert isinstance(a, np.ndarray) and a.dtype == np.float32 and a.shape == (2, 2)
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    assert isinstance(t.numpy(), np.ndarray)
    s = tg.tensor(2.5)
    assert s.item() == 2.5 and isinstance(s.item(), float)
    assert float(s) == 2.5 and int(s) == 2
    i = tg.tensor([7])
    assert i.item() == 7 and isinstance(i.item(), int) and int(i) == 7
    assert bool(tg.tensor(True)) and not bool(tg.tensor(0.0))
    assert [1, 2, 3][tg.tensor(1)] == 2  # __index__
    r = tg.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="detach"):
        r.numpy()
    assert r.detach().numpy().tolist() == [1.0]
    with pytest.raises(RuntimeError, match="one element"):
        t.item()


def test_tensor_copies_numpy_but_from_numpy_shares():
    a = np.arange(3.0)
    t = tg.tensor(a)
    u = tg.from_numpy(a)
    a[0] = 100
    assert t.tolist() == [0.0, 1.0, 2.0]
    assert u.tolist()[0] == 100
    assert t.dtype == tg.float64  # numpy arrays keep their dtype (as torch.tensor does)


def test_to_and_casts():
    t = tg.tensor([1.7, -2.2])
    assert t.double().dtype == tg.float64
    assert t.half().dtype == tg.float16
    assert t.long().tolist() == [1, -2]
    assert t.int().dtype == tg.int32
    assert t.bool().tolist() == [True, True]
    assert t.to(tg.float64).dtype == tg.float64
    assert t.to("cpu") is t
    assert t.to(tg.zeros(1, dtype=tg.float16)).dtype == tg.float16
    assert t.float() is t


# ----------------------------------------------------------------------------------------------- repr
def _torch_repr(t):
    return repr(t).replace("torch.", "tensorgrad.")


_RNG_VALUES = np.random.default_rng(0).standard_normal((3, 4))
REPR_CASES = [
    lambda lib: lib.tensor([1.0, 2.0]),
    lambda lib: lib.tensor([1, 2, 3]),
    lambda lib: lib.tensor(3.5),
    lambda lib: lib.tensor(2.0),
    lambda lib: lib.tensor([True, False]),
    lambda lib: lib.tensor([[1.0, 2.0], [3.0, 4.0]]),
    lambda lib: lib.tensor([0.1234567, 2.0]),
    lambda lib: lib.tensor([1.5, 2.25, -3.0]),
    lambda lib: lib.tensor([[1.5, -2.25], [10.0, 0.5]]),
    lambda lib: lib.tensor([1.0, 2.0], dtype=lib.float64),
    lambda lib: lib.tensor([0.5, 2.0], dtype=lib.float64),
    lambda lib: lib.tensor([1, 2], dtype=lib.int32),
    lambda lib: lib.tensor([1.0, 2.5], dtype=lib.float16),
    lambda lib: lib.tensor([1.0, 2.0], requires_grad=True),
    lambda lib: lib.tensor([1.5, 2.25], requires_grad=True) * 2,
    lambda lib: lib.tensor([1.0, 2.0], requires_grad=True).sum(),
    lambda lib: lib.tensor([1.0, 2.0], requires_grad=True).mean(),
    lambda lib: lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True) + 1,
    lambda lib: lib.zeros(0),
    lambda lib: lib.zeros(0, dtype=lib.int64),
    lambda lib: lib.tensor([1e-5, 1.0]),
    lambda lib: lib.tensor([1.0, 12345.0, 0.5]),
    lambda lib: lib.tensor([float("nan"), 1.5, float("inf")]),
    lambda lib: lib.arange(20).reshape(4, 5),
    lambda lib: lib.zeros(2, 0),
    lambda lib: lib.tensor([0.0, 0.0]),
    lambda lib: lib.tensor([-0.5]),
    lambda lib: lib.tensor([1e10, 1.0]),
    lambda lib: lib.tensor(_RNG_VALUES * 1000),  # float64: values line up and the dtype suffix wraps
    lambda lib: lib.tensor(np.arange(30.0, dtype=np.float32).reshape(5, 6) / 7),
    lambda lib: lib.tensor(np.arange(3000.0, dtype=np.float32).reshape(60, 50) / 3),  # 2-D summarization
    lambda lib: lib.tensor(np.linspace(-1, 1, 40, dtype=np.float32)),  # 1-D line wrapping
]


def _unwrap_suffix(s):
    # "dtype=tensorgrad.float64" is 5 characters longer than "dtype=torch.float64", so PyTorch's 80-column rule
    # can move the suffix to its own line in one library and not the other; compare it as if on one line.
    return re.sub(r",\n *(dtype=|grad_fn=|requires_grad=)", r", \1", s)


@pytest.mark.parametrize("case", range(len(REPR_CASES)))
def test_repr_matches_torch(case):
    make = REPR_CASES[case]
    ours = _unwrap_suffix(repr(make(tg)))
    theirs = _unwrap_suffix(_torch_repr(make(torch)))
    assert ours == theirs
    assert _unwrap_suffix(str(make(tg))) == ours


def test_repr_structural_parts():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    assert repr(x).endswith(", requires_grad=True)")
    assert re.search(r", grad_fn=<MulBackward0>\)$", repr(x * x))
    assert repr(tg.tensor([1, 2], dtype=tg.int32)).endswith(", dtype=tensorgrad.int32)")
    assert "dtype" not in repr(tg.tensor([1.0]))
    assert "dtype" not in repr(tg.tensor([1]))


def test_repr_summarizes_large_tensors():
    ours = repr(tg.arange(2000))
    theirs = _torch_repr(torch.arange(2000))
    assert ours == theirs
    assert "..." in ours


# ---------------------------------------------------------------------------------------- factories
def test_default_dtypes_match_torch():
    cases = [
        (lambda lib: lib.tensor([1, 2])),
        (lambda lib: lib.tensor([1.0])),
        (lambda lib: lib.tensor([True])),
        (lambda lib: lib.tensor(3)),
        (lambda lib: lib.tensor([1, 2.5])),
        (lambda lib: lib.arange(5)),
        (lambda lib: lib.arange(0.0, 1, 0.1)),
        (lambda lib: lib.full((2,), 3)),
        (lambda lib: lib.full((2,), 3.0)),
        (lambda lib: lib.full((2,), True)),
        (lambda lib: lib.zeros(2)),
        (lambda lib: lib.ones(2, 2)),
        (lambda lib: lib.empty(3)),
        (lambda lib: lib.randn(2)),
        (lambda lib: lib.rand(2)),
        (lambda lib: lib.randint(0, 5, (3,))),
        (lambda lib: lib.eye(3)),
        (lambda lib: lib.linspace(0, 1, 5)),
    ]
    for make in cases:
        ours, theirs = make(tg), make(torch)
        assert str(ours.dtype) == str(theirs.dtype).replace("torch.", ""), (ours, theirs)
        assert ours.shape == tuple(theirs.shape)


@pytest.mark.parametrize("name,args", [
    ("zeros", ((2, 3),)), ("ones", ((2, 3),)), ("empty", ((2, 3),)), ("randn", ((2, 3),)), ("rand", ((2, 3),)),
])
def test_shape_factories_dtype_requires_grad(name, args):
    f = getattr(tg, name)
    t = f(*args, dtype=tg.float64, requires_grad=True)
    assert t.shape == (2, 3) and t.dtype == tg.float64 and t.requires_grad and t.is_leaf
    assert f(2, 3).shape == (2, 3)  # varargs and a tuple both work
    assert f([2, 3]).shape == (2, 3)


def test_factory_values_match_torch():
    np.testing.assert_array_equal(tg.zeros(2, 2).numpy(), torch.zeros(2, 2).numpy())
    np.testing.assert_array_equal(tg.ones(3).numpy(), torch.ones(3).numpy())
    np.testing.assert_array_equal(tg.full((2, 2), 7.5).numpy(), torch.full((2, 2), 7.5).numpy())
    np.testing.assert_array_equal(tg.arange(2, 11, 3).numpy(), torch.arange(2, 11, 3).numpy())
    np.testing.assert_allclose(tg.arange(0.0, 1, 0.1).numpy(), torch.arange(0.0, 1, 0.1).numpy(), rtol=1e-6)
    np.testing.assert_array_equal(tg.eye(3).numpy(), torch.eye(3).numpy())
    np.testing.assert_array_equal(tg.eye(2, 3).numpy(), torch.eye(2, 3).numpy())
    np.testing.assert_allclose(tg.linspace(-1, 1, 7).numpy(), torch.linspace(-1, 1, 7).numpy(), rtol=1e-6, atol=1e-7)


def test_like_factories():
    ref = tg.tensor([[1.0, 2.0]], dtype=tg.float64)
    for f in (tg.zeros_like, tg.ones_like, tg.randn_like):
        t = f(ref)
        assert t.shape == (1, 2) and t.dtype == tg.float64 and not t.requires_grad
    assert tg.zeros_like(ref).tolist() == [[0.0, 0.0]]
    assert tg.ones_like(ref, dtype=tg.float32).dtype == tg.float32
    assert tg.full_like(ref, 4).tolist() == [[4.0, 4.0]] and tg.full_like(ref, 4).dtype == tg.float64
    assert tg.randn_like(ref, requires_grad=True).requires_grad
    assert tg.zeros_like(tg.tensor([1, 2])).dtype == tg.int64


def test_factory_requires_grad_on_int_rejected():
    with pytest.raises(RuntimeError, match="int64"):
        tg.zeros(2, dtype=tg.int64, requires_grad=True)


def test_randint_range_and_rand_range():
    r = tg.randint(3, 7, (1000,))
    assert r.dtype == tg.int64 and int(r.array.min()) >= 3 and int(r.array.max()) <= 6
    assert set(np.unique(r.numpy()).tolist()) == {3, 4, 5, 6}
    assert tg.randint(5, (4,)).array.max() < 5
    u = tg.rand(1000)
    assert 0 <= float(u.array.min()) and float(u.array.max()) < 1
    n = tg.randn(10000, dtype=tg.float64)
    assert abs(float(n.array.mean())) < 0.05 and abs(float(n.array.std()) - 1) < 0.05


# --------------------------------------------------------------------------------------------- RNG
def test_manual_seed_reproducible():
    tg.manual_seed(123)
    a = tg.randn(5)
    b = tg.rand(3)
    tg.manual_seed(123)
    np.testing.assert_array_equal(tg.randn(5).numpy(), a.numpy())
    np.testing.assert_array_equal(tg.rand(3).numpy(), b.numpy())
    tg.manual_seed(124)
    assert not np.array_equal(tg.randn(5).numpy(), a.numpy())
    assert tg.initial_seed() == 124


def test_generators_are_independent():
    g1 = tg.Generator().manual_seed(7)
    g2 = tg.Generator().manual_seed(7)
    a = tg.randn(4, generator=g1)
    tg.manual_seed(0)
    tg.randn(100)  # draws from the default generator don't disturb g2
    b = tg.randn(4, generator=g2)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    c = tg.randn(4, generator=g1)
    assert not np.array_equal(a.numpy(), c.numpy())
    # and a generator's draws don't advance the default one
    tg.manual_seed(5)
    x1 = tg.randn(3)
    tg.manual_seed(5)
    tg.randn(3, generator=g1)
    np.testing.assert_array_equal(tg.randn(3).numpy(), x1.numpy())


def test_rng_state_replays():
    tg.manual_seed(9)
    tg.randn(3)
    st = tg.get_rng_state()
    a = tg.randn(6)
    r = tg.randint(0, 100, (5,))
    tg.set_rng_state(st)
    np.testing.assert_array_equal(tg.randn(6).numpy(), a.numpy())
    np.testing.assert_array_equal(tg.randint(0, 100, (5,)).numpy(), r.numpy())


# ------------------------------------------------------------------------------------------ in-place
def test_inplace_arithmetic_operators():
    t = tg.tensor([1.0, 2.0, 3.0])
    data_id = id(t.array)
    u = t
    t += 1
    t -= tg.tensor([0.5, 0.5, 0.5])
    t *= 2
    t /= 4
    assert t is u and id(t.array) == data_id  # truly in place
    np.testing.assert_allclose(t.numpy(), [0.75, 1.25, 1.75])
    i = tg.tensor([1, 2])
    i += 3
    assert i.dtype == tg.int64 and i.tolist() == [4, 5]


def test_inplace_methods():
    t = tg.tensor([1.0, -2.0, 3.0])
    assert t.add_(1) is t and t.tolist() == [2.0, -1.0, 4.0]
    t.add_(tg.ones(3), alpha=2)
    assert t.tolist() == [4.0, 1.0, 6.0]
    t.mul_(0.5)
    assert t.tolist() == [2.0, 0.5, 3.0]
    t.clamp_(min=1.0, max=2.5)
    assert t.tolist() == [2.0, 1.0, 2.5]
    t.copy_(tg.tensor([9.0, 8.0, 7.0]))
    assert t.tolist() == [9.0, 8.0, 7.0]
    t.copy_(np.array([1.0, 2.0, 3.0]))
    assert t.tolist() == [1.0, 2.0, 3.0]
    t.fill_(5)
    assert t.tolist() == [5.0, 5.0, 5.0]
    t.zero_()
    assert t.tolist() == [0.0, 0.0, 0.0]
    v0 = t._version
    t.add_(1)
    assert t._version == v0 + 1


def test_inplace_random_fills():
    t = tg.zeros(2000, dtype=tg.float64)
    tg.manual_seed(1)
    t.normal_(mean=3.0, std=0.5)
    assert abs(float(t.array.mean()) - 3.0) < 0.05 and abs(float(t.array.std()) - 0.5) < 0.05
    tg.manual_seed(1)
    t2 = tg.zeros(2000, dtype=tg.float64).normal_(3.0, 0.5)
    np.testing.assert_array_equal(t.numpy(), t2.numpy())
    t.uniform_(-2, -1)
    assert float(t.array.min()) >= -2 and float(t.array.max()) < -1
    assert t.dtype == tg.float64


def test_inplace_on_requires_grad_leaf_allowed_under_no_grad():
    w = tg.tensor([1.0, 2.0], requires_grad=True)
    with tg.no_grad():
        w -= 0.5 * tg.tensor([2.0, 2.0])
        w.mul_(2)
    assert w.tolist() == [0.0, 2.0] and w.requires_grad and w.is_leaf


def test_setitem():
    t = tg.zeros(2, 3)
    t[0, 1] = 5.0
    t[1] = tg.tensor([1.0, 2.0, 3.0])
    assert t.tolist() == [[0.0, 5.0, 0.0], [1.0, 2.0, 3.0]]


# ------------------------------------------------------------------------------------------ operators
def _pair(xv, dtype=np.float32):
    return tg.tensor(np.array(xv, dtype=dtype)), torch.tensor(np.array(xv, dtype=dtype))


def test_matmul_neg_pow_operators_match_torch():
    xv = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    wv = np.random.default_rng(1).standard_normal((4, 2)).astype(np.float32)
    x, tx = tg.tensor(xv), torch.tensor(xv)
    w, tw = tg.tensor(wv), torch.tensor(wv)
    np.testing.assert_allclose((x @ w).numpy(), (tx @ tw).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal((-x).numpy(), (-tx).numpy())
    np.testing.assert_allclose((x ** 2).numpy(), (tx ** 2).numpy(), rtol=1e-6)
    assert (x ** 2).dtype == tg.float32
    np.testing.assert_allclose(abs(x).numpy(), abs(tx).numpy())


@pytest.mark.parametrize("expr", [
    "2 - x", "2 / x", "2 ** x", "2 + x", "2 * x", "x - 2", "x / 2", "x ** 0.5", "1.5 * i", "i / 2", "2 ** i",
    "i * 2", "-i", "x + i", "i - x", "b * 2", "b + b", "x > 1", "1 < x", "x == 2",
])
def test_scalar_and_reflected_ops_match_torch(expr):
    xv = [1.0, 2.0, 4.0]
    ns = {"x": tg.tensor(xv), "i": tg.tensor([1, 2, 3]), "b": tg.tensor([True, False, True])}
    tns = {"x": torch.tensor(xv), "i": torch.tensor([1, 2, 3]), "b": torch.tensor([True, False, True])}
    ours, theirs = eval(expr, {}, ns), eval(expr, {}, tns)
    assert isinstance(ours, tg.Tensor)
    assert str(ours.dtype) == str(theirs.dtype).replace("torch.", ""), expr
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)


def test_numpy_array_times_tensor_gives_tensor():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    a = np.array([3.0, 4.0], dtype=np.float32)
    y = a * x
    assert isinstance(y, tg.Tensor) and y.requires_grad and y.dtype == tg.float32
    z = a + x
    assert isinstance(z, tg.Tensor)
    (y.sum() + z.sum()).backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 5.0])
    assert isinstance(np.float64(2.0) * x, tg.Tensor)


def test_reflected_ops_gradients_match_torch():
    xv = np.array([0.5, 1.5, 3.0])
    x = tg.tensor(xv, requires_grad=True)
    ((2 - x) * (2 / x) + 2 ** x - x ** 3).sum().backward()
    tx = torch.tensor(xv, requires_grad=True)
    ((2 - tx) * (2 / tx) + 2 ** tx - tx ** 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)


def test_as_tensor_like_torch():
    a = np.arange(3.0)
    t = tg.as_tensor(a)                      # a float64 ndarray on the CPU: shared, dtype kept
    a[0] = 9.0
    assert t.dtype == tg.float64 and t.tolist() == [9.0, 1.0, 2.0]
    for data, kw in [([1, 2], {}), ([1.0, 2], {}), (3.5, {}), (np.zeros(2, np.float32), {"dtype": "float64"}),
                     (np.arange(4), {"dtype": "float32"})]:
        ours = tg.as_tensor(data, **{k: getattr(tg, v) for k, v in kw.items()})
        ref = torch.as_tensor(data, **{k: getattr(torch, v) for k, v in kw.items()})
        assert str(ours.dtype) == str(ref.dtype).replace("torch.", "") and ours.tolist() == ref.tolist()
    b = np.zeros(2, np.float32)
    c = tg.as_tensor(b, dtype=tg.float64)   # a cast is a copy
    b[0] = 1.0
    assert c.tolist() == [0.0, 0.0]
    x = tg.ones(2, requires_grad=True)
    assert tg.as_tensor(x) is x
    y = tg.as_tensor(x, dtype=tg.float64)   # converted with the graph kept, as torch does
    y.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0]


def test_is_contiguous_and_is_floating_point_like_torch():
    a = np.arange(24.0, dtype=np.float32).reshape(2, 3, 4)
    views = [lambda m: m.from_numpy(a.copy()), lambda m: m.from_numpy(a.copy()).transpose(0, 1),
             lambda m: m.from_numpy(a.copy())[:, 1:], lambda m: m.from_numpy(a.copy())[:, :1],
             lambda m: m.from_numpy(a.copy())[0], lambda m: m.zeros(3).expand(2, 3), lambda m: m.zeros(1, 3).expand(1, 3),
             lambda m: m.zeros(0, 3), lambda m: m.ones(2, 3).t(), lambda m: m.ones(3, 1).t(),
             lambda m: m.ones(2, 3).t().contiguous()]
    for make in views:
        assert make(tg).is_contiguous() == make(torch).is_contiguous()
    for name in ["float16", "bfloat16", "float32", "float64", "int64", "int32", "uint8", "bool"]:
        assert tg.zeros(2, dtype=getattr(tg, name)).is_floating_point() == \
            torch.zeros(2, dtype=getattr(torch, name)).is_floating_point(), name
    # (memory formats: tests/test_memory_format.py); a string is not one, as in torch
    with pytest.raises(TypeError, match="memory_format must be a torch.memory_format"):
        tg.zeros(1, 2, 3, 4).is_contiguous(memory_format="channels_last")
