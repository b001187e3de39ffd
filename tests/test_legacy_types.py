"""torch's legacy typed-tensor constructors and type names (tensorgrad/legacy.py) against torch: sizes or data,
isinstance, x.type() and conversion by class or name, and the refusals."""
import numpy as np
import pytest
import torch

import tensorgrad as tg

NAMES = ["FloatTensor", "DoubleTensor", "HalfTensor", "BFloat16Tensor", "ByteTensor", "CharTensor", "ShortTensor",
         "IntTensor", "LongTensor", "BoolTensor"]


def _dt(t):
    return str(t.dtype).replace("torch.", "")


@pytest.mark.parametrize("name", NAMES)
def test_constructors_and_isinstance_as_torch(name):
    ours, theirs = getattr(tg, name), getattr(torch, name)
    for args in [(), (2, 3), ([1, 0, 2],), (np.arange(4).reshape(2, 2),)]:
        a, b = ours(*args), theirs(*args)
        assert tuple(a.shape) == tuple(b.shape) and _dt(a) == _dt(b), (name, args)
        if args and not isinstance(args[0], int):
            np.testing.assert_array_equal(np.asarray(a.float()), b.float().numpy())
        assert isinstance(a, ours) and a.type() == b.type() == f"torch.{name}"
    other = tg.LongTensor if name != "LongTensor" else tg.FloatTensor
    assert not isinstance(ours(2), other)


@pytest.mark.parametrize("name", ["FloatTensor", "LongTensor", "BoolTensor"])
def test_constructor_from_a_size_gives_that_shape(name):
    # FloatTensor(x.shape), as einops' YOLO example and older detection code build an output buffer: a Size is sizes,
    # while a tuple or list is data
    for sizes in ([5, 3, 1, 4], [2], [0, 3], []):
        a, b = getattr(tg, name)(tg.Size(sizes)), getattr(torch, name)(torch.Size(sizes))
        assert tuple(a.shape) == tuple(b.shape) == tuple(sizes) and _dt(a) == _dt(b), sizes
    a, b = tg.FloatTensor(tg.ones(5, 3).shape), torch.FloatTensor(torch.ones(5, 3).shape)
    assert tuple(a.shape) == tuple(b.shape) == (5, 3)
    assert tuple(tg.FloatTensor((5, 3)).shape) == tuple(torch.FloatTensor((5, 3)).shape) == (2,)


def test_type_converts_by_class_and_name():
    for m in (tg, torch):
        x = m.tensor([1.5, -2.0])
        assert _dt(x.type(m.LongTensor)) == "int64" and x.type(m.LongTensor).tolist() == [1, -2]
        assert _dt(x.type("torch.DoubleTensor")) == "float64"
        assert _dt(x.type(m.int32)) == "int32"
    with pytest.raises(ValueError, match="type: invalid type 'torch.NoSuchTensor'"):
        tg.ones(2).type("torch.NoSuchTensor")
    with pytest.raises(TypeError, match=r"LongTensor\(\): expects sizes"):
        tg.LongTensor([1], 2)


def test_tensor_constructor_sizes_forms_as_torch():
    # torch.Tensor(3) is a tensor of 3 elements (uninitialized in torch, zeros here), unlike torch.tensor(3)
    for args in ((3,), (2, 3), (), ([3],), ([1.5, 2],), (2, 0, 4)):
        assert tuple(tg.Tensor(*args).shape) == tuple(torch.Tensor(*args).shape), args
    assert tuple(tg.Tensor(tg.Size([2, 5])).shape) == tuple(torch.Tensor(torch.Size([2, 5])).shape) == (2, 5)
    assert tg.Tensor([1, 2]).dtype == tg.float32 and tg.Tensor(4).dtype == tg.float32
    assert tg.tensor(3).shape == () and float(tg.tensor(3)) == 3.0
    with pytest.raises(TypeError):
        tg.Tensor(2, "a")
