"""DLPack both ways, zero-copy: torch.from_dlpack(tensorgrad tensor), tensorgrad.from_dlpack(torch tensor / NumPy
array / legacy capsule), np.from_dlpack(tensorgrad tensor); a write on one side shows on the other. CUDA paths
(CuPy and torch.cuda) run on a GPU machine."""
import numpy as np
import pytest
import torch
import torch.utils.dlpack

import tensorgrad as tg
from tensorgrad.backend import cuda_available
from helpers import raises

DTYPES = [torch.float32, torch.float64, torch.float16, torch.int64, torch.int32, torch.int16, torch.int8,
          torch.uint8, torch.bool]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_torch_to_tensorgrad_shares_memory(dtype):
    t = torch.arange(6).reshape(2, 3).to(dtype)
    x = tg.from_dlpack(t)
    assert x.shape == (2, 3) and str(x.dtype) == str(dtype).replace("torch.", "") and x.device == tg.device("cpu")
    assert np.array_equal(x.numpy(), t.numpy())
    assert np.shares_memory(x.array, t.numpy())
    t[0, 0] = 1
    x[1, 2] = 0
    assert x[0, 0].item() == t[0, 0].item() and t[1, 2].item() == 0


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_tensorgrad_to_torch_shares_memory(dtype):
    x = tg.tensor(np.arange(6).reshape(2, 3)).to(str(dtype).replace("torch.", ""))
    t = torch.from_dlpack(x)
    assert t.dtype == dtype and t.shape == (2, 3) and np.array_equal(t.numpy(), x.numpy())
    t[0, 1] = 1
    x[1, 0] = 0
    assert x[0, 1].item() == t[0, 1].item() and t[1, 0].item() == 0
    assert x.__dlpack_device__() == tuple(t.__dlpack_device__()) == (1, 0)


def test_views_and_writes_through_the_protocol():
    base = torch.arange(12.0).reshape(3, 4)
    view = tg.from_dlpack(base[:, ::2])  # strided: still a view
    base[2, 2] = -1
    assert view.tolist() == base[:, ::2].tolist()
    x = tg.arange(12.0).reshape(3, 4)
    tv = torch.from_dlpack(x.t())
    tv.add_(100)
    assert x[0, 1].item() == 101 and tv.is_contiguous() is False
    x.zero_()
    assert tv.abs().sum().item() == 0


def test_numpy_both_ways():
    x = tg.ones(3)
    a = np.from_dlpack(x)
    a[0] = 4
    assert x.tolist() == [4, 1, 1]
    b = np.arange(3.0)
    y = tg.from_dlpack(b)
    y.add_(1)
    assert b.tolist() == [1, 2, 3] and y.dtype == tg.float64


def test_legacy_capsule_and_tensorgrad_to_tensorgrad():
    t = torch.arange(4.0)
    x = tg.from_dlpack(torch.utils.dlpack.to_dlpack(t))
    t[1] = 9
    assert x.tolist() == [0, 9, 2, 3]
    with raises(ValueError, "read-only"):  # an unversioned capsule carries no writable flag: NumPy imports it read-only
        x[0] = 1
    x = tg.from_dlpack(t)
    y = tg.from_dlpack(x)
    y[0] = -1
    assert x[0].item() == -1 and t[0].item() == -1
    t2 = torch.from_dlpack(x.__dlpack__())
    assert t2.data_ptr() == t.data_ptr()


def test_copy_and_device_arguments():
    t = torch.arange(3.0)
    c = tg.from_dlpack(t, copy=True)
    t[0] = 5
    assert c[0].item() == 0
    assert tg.from_dlpack(t, device="cpu").device == tg.device("cpu")


def test_refusals_name_the_reason():
    with raises(RuntimeError, "requires grad", "detach"):
        torch.from_dlpack(tg.ones(2, requires_grad=True))
    with raises(RuntimeError, "bfloat16"):
        tg.from_dlpack(torch.zeros(2, dtype=torch.bfloat16))
    with raises(TypeError, "__dlpack__"):
        tg.from_dlpack([1, 2])
    assert torch.from_dlpack(tg.ones(2, requires_grad=True).detach()).tolist() == [1, 1]


gpu = pytest.mark.skipif(not (cuda_available() and torch.cuda.is_available()),
                         reason="needs CuPy, a CUDA GPU and a CUDA build of torch")


@pytest.mark.gpu
@gpu
def test_cuda_both_ways():
    t = torch.arange(6.0, device="cuda")
    x = tg.from_dlpack(t)
    assert x.device == tg.device("cuda:0")
    t[0] = 7
    torch.cuda.synchronize()
    assert x[0].item() == 7
    y = tg.arange(4.0, device="cuda")
    u = torch.from_dlpack(y)
    assert u.device.type == "cuda"
    u.add_(1)
    torch.cuda.synchronize()
    assert y.tolist() == [1, 2, 3, 4]


@pytest.mark.gpu
@pytest.mark.skipif(not cuda_available(), reason="needs CuPy and a CUDA GPU")
def test_cupy_both_ways():
    import cupy as cp  # noqa: the GPU path's own check needs the library it checks
    a = cp.arange(3.0)
    x = tg.from_dlpack(a)
    x.add_(1)
    assert a.get().tolist() == [1, 2, 3]
    b = cp.from_dlpack(x)
    b[0] = 0
    assert x[0].item() == 0
