"""torch.cuda's legacy typed constructors and OutOfMemoryError exist on every machine (PyTorch-GAN's scripts pick
`torch.cuda.FloatTensor if cuda else torch.FloatTensor` at import; Pytorch-UNet catches torch.cuda.OutOfMemoryError),
and behave as torch's: isinstance is a CUDA tensor of that dtype, construction needs CUDA."""
import numpy as np
import pytest
import torch

import tensorgrad as tg

NAMES = ["FloatTensor", "DoubleTensor", "HalfTensor", "BFloat16Tensor", "ByteTensor", "CharTensor", "ShortTensor",
         "IntTensor", "LongTensor", "BoolTensor"]


@pytest.mark.parametrize("name", NAMES)
def test_names_exist_as_torch(name):
    ours, theirs = getattr(tg.cuda, name), getattr(torch.cuda, name)
    assert repr(ours) == repr(theirs) == f"<class 'torch.cuda.{name}'>"
    assert ours.dtype == getattr(tg, name).dtype
    assert name in tg.cuda.__all__


@pytest.mark.parametrize("name", ["FloatTensor", "LongTensor", "BoolTensor"])
def test_isinstance_is_a_cuda_tensor_of_that_dtype(name):
    cpu = getattr(tg, name)(2)
    assert not isinstance(cpu, getattr(tg.cuda, name))
    assert not isinstance(getattr(torch, name)(2), getattr(torch.cuda, name))
    assert isinstance(cpu, getattr(tg, name))
    assert not isinstance(np.zeros(2), getattr(tg.cuda, name))


@pytest.mark.skipif(tg.cuda.is_available() or torch.cuda.is_available(), reason="checks the machine without CUDA")
def test_construction_without_cuda_refused_as_torch():
    with pytest.raises(TypeError, match="not available"):
        torch.cuda.FloatTensor(2, 3)
    with pytest.raises(TypeError, match="torch.cuda.FloatTensor not available"):
        tg.cuda.FloatTensor(2, 3)
    with pytest.raises(TypeError, match="torch.cuda.LongTensor not available"):
        tg.cuda.LongTensor([1, 2])


@pytest.mark.skipif(not tg.cuda.is_available(), reason="needs CUDA")
def test_construction_on_cuda():
    x = tg.cuda.FloatTensor([[1, 2], [3, 4]])
    assert x.device.type == "cuda" and x.dtype == tg.float32 and isinstance(x, tg.cuda.FloatTensor)
    np.testing.assert_array_equal(x.cpu().numpy(), [[1, 2], [3, 4]])
    assert tuple(tg.cuda.LongTensor(2, 3).shape) == (2, 3)


def test_out_of_memory_error_is_a_runtime_error_as_torch():
    assert issubclass(tg.cuda.OutOfMemoryError, RuntimeError) and issubclass(torch.cuda.OutOfMemoryError, RuntimeError)
    try:
        raise tg.cuda.OutOfMemoryError("CUDA out of memory")
    except RuntimeError as e:
        assert "out of memory" in str(e)


def test_gan_script_pattern_under_the_alias():
    import subprocess
    import sys
    code = ("import tensorgrad.compat; tensorgrad.compat.install()\n"
            "import torch\n"
            "cuda = torch.cuda.is_available()\n"
            "Tensor = torch.cuda.FloatTensor if cuda else torch.FloatTensor\n"
            "valid = Tensor(4, 1).fill_(1.0)\n"
            "from torch.cuda import LongTensor\n"
            "try:\n    raise torch.cuda.OutOfMemoryError('x')\nexcept torch.cuda.OutOfMemoryError:\n    pass\n"
            "print(tuple(valid.shape), valid.dtype == torch.float32, LongTensor)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "(4, 1) True <class 'torch.cuda.LongTensor'>" in out.stdout
