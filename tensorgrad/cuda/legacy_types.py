"""torch.cuda's legacy typed-tensor constructors and its out-of-memory error.

Public GAN and detection code picks its constructor once, at import, whether or not a GPU is there:
``Tensor = torch.cuda.FloatTensor if cuda else torch.FloatTensor``, so the names must exist on every machine.
torch.cuda.FloatTensor(...) builds a CUDA tensor (failing, as torch does, where CUDA is not available), and
isinstance(x, torch.cuda.FloatTensor) is a CUDA tensor of that dtype; otherwise they are tensorgrad.legacy's types.
"""
from ..backend import cupy as _get_cupy
from ..legacy import LEGACY, _LegacyType
from ..tensor import Tensor


class _CudaLegacyType(_LegacyType):
    def __instancecheck__(cls, obj):
        return isinstance(obj, Tensor) and obj.dtype == cls.dtype and obj.device.type == "cuda"

    def __call__(cls, *args, device=None):
        if _get_cupy() is None:
            raise TypeError(f"type torch.cuda.{cls.__name__} not available: CUDA is not available to tensorgrad "
                            "(CuPy is not installed or sees no GPU)")
        return super().__call__(*args, device="cuda" if device is None else device)

    def __repr__(cls):
        return f"<class 'torch.cuda.{cls.__name__}'>"


TYPES = {name: _CudaLegacyType(name, (), {"dtype": cls.dtype}) for name, cls in LEGACY.items()}


class OutOfMemoryError(RuntimeError):
    """torch.cuda.OutOfMemoryError (a RuntimeError), for scripts that catch it around a step. tensorgrad's CUDA
    arrays are CuPy's, whose allocator raises cupy.cuda.memory.OutOfMemoryError instead."""
