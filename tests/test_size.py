"""tensorgrad.Size (torch.Size): what Tensor.shape / size() return, compared with torch's behaviour."""
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

import tensorgrad as tg
from tensorgrad._size import Size


def _same(a, b):
    """a (tensorgrad) and b (torch) agree: same values, and a Size exactly where torch gives a torch.Size."""
    assert tuple(a) == tuple(b) if isinstance(b, tuple) else a == b
    assert isinstance(a, Size) == isinstance(b, torch.Size), (type(a), type(b))


@pytest.mark.parametrize("shape", [(), (0,), (3,), (2, 3), (2, 0, 4), (1, 1, 1, 5)])
def test_shape_and_size_are_sizes(shape):
    x, t = tg.zeros(shape), torch.zeros(shape)
    _same(x.shape, t.shape)
    _same(x.size(), t.size())
    assert x.shape == shape and hash(x.shape) == hash(shape)
    assert x.shape.numel() == t.shape.numel() == x.numel()
    for d in range(-len(shape), len(shape)):
        assert x.size(d) == t.size(d) and type(x.size(d)) is int


def test_operations_keep_torchs_types():
    s, t = Size([2, 3, 4]), torch.Size([2, 3, 4])
    for f in (lambda v: v[1:], lambda v: v[::-1], lambda v: v[0], lambda v: v + (5,), lambda v: (5,) + v,
              lambda v: v * 2, lambda v: 2 * v, lambda v: v + v, lambda v: list(v), lambda v: v.count(3),
              lambda v: v.index(4), lambda v: len(v), lambda v: v == (2, 3, 4), lambda v: max(v)):
        _same(f(s), f(t))
    assert type(pickle.loads(pickle.dumps(s))) is Size and pickle.loads(pickle.dumps(s)) == s


@pytest.mark.parametrize("make", [lambda m: m.Size([2, 3]), lambda m: m.Size((2, 3)), lambda m: m.Size(),
                                  lambda m: m.Size(np.array([4, 5])), lambda m: m.Size(m.tensor([4, 5])),
                                  lambda m: m.Size([m.tensor(3)]), lambda m: m.Size([np.int64(7)])])
def test_constructor(make):
    _same(make(tg), make(torch))


@pytest.mark.parametrize("bad", [[2.5], ["a"], [None], [True + 0.5]])
def test_constructor_refuses_non_ints_as_torch(bad):
    with pytest.raises(TypeError) as ours:
        tg.Size(bad)
    with pytest.raises(TypeError):
        torch.Size(bad)
    assert "Size() takes an iterable of 'int' (item 0 is" in str(ours.value)


def test_repr():
    assert repr(tg.zeros(2, 3).shape) == "(2, 3)"  # (natively a tuple's; torch's under the alias, below)
    assert str(tg.Size()) == "()" and f"{tg.Size([1])}" == "(1,)"
    # under the torch alias a script prints what torch prints
    code = ("import torch; x = torch.zeros(2, 3); print(x.shape, x.size(), x[0].shape, torch.Size([]), "
            "isinstance(x.shape, torch.Size), f'{x.shape}')")
    env_run = [sys.executable, "-c", "import tensorgrad.compat as c; c.install(); " + code]
    ours = subprocess.run(env_run, capture_output=True, text=True, check=True).stdout
    real = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert ours == real == "torch.Size([2, 3]) torch.Size([2, 3]) torch.Size([3]) torch.Size([]) True torch.Size([2, 3])\n"


def test_sizes_feed_back_into_ops():
    x = tg.zeros(2, 3)
    assert tg.zeros(x.shape).shape == (2, 3) and x.reshape(x.shape[::-1]).shape == (3, 2)
    assert x.new_zeros(x.size()).shape == (2, 3) and x.expand(Size([4, 2, 3])).shape == (4, 2, 3)
    assert np.zeros(x.shape).shape == (2, 3)
