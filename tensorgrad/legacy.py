"""torch's legacy typed-tensor constructors, still common in public code: torch.FloatTensor(3, 4) (a tensor of
that shape; torch leaves it uninitialized, tensorgrad fills zeros), torch.LongTensor([1, 2]) / torch.FloatTensor(
np_array) (a tensor of that data and dtype), isinstance(x, torch.FloatTensor) (a CPU tensor of that dtype), and
x.type() / x.type('torch.LongTensor') / x.type(torch.LongTensor) (ops/methods.py uses type_name and from_name).
"""
import numbers

import numpy as np

from . import dtypes
from ._size import Size
from .tensor import Tensor
from .factories import zeros, tensor as _tensor


class _LegacyType(type):
    def __instancecheck__(cls, obj):
        return isinstance(obj, Tensor) and obj.dtype == cls.dtype and obj.device.type == "cpu"

    def __call__(cls, *args, device=None):
        if not args:
            return zeros(0, dtype=cls.dtype, device=device)
        if all(isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in args):
            return zeros(*args, dtype=cls.dtype, device=device)  # sizes
        if len(args) == 1 and isinstance(args[0], Size):  # FloatTensor(x.shape): sizes too, as torch reads a Size
            return zeros(args[0], dtype=cls.dtype, device=device)
        if len(args) == 1:
            data = args[0]
            if isinstance(data, Tensor):
                if data.dtype.kind == "c":  # (torch refuses any other dtype; a complex one would lose its imaginary part)
                    raise TypeError(f"{cls.__name__}(): expected a real tensor, got {data.dtype} (shape "
                                    f"{tuple(data.shape)})")
                return data.to(cls.dtype)
            return _tensor(np.asarray(data), dtype=cls.dtype, device=device)
        raise TypeError(f"{cls.__name__}(): expects sizes (ints) or one sequence / array of data, got "
                        f"{tuple(type(a).__name__ for a in args)}")

    def __repr__(cls):
        return f"<class 'torch.{cls.__name__}'>"


_TYPES = {"FloatTensor": dtypes.float32, "DoubleTensor": dtypes.float64, "HalfTensor": dtypes.float16,
          "BFloat16Tensor": dtypes.bfloat16, "ByteTensor": dtypes.uint8, "CharTensor": dtypes.int8,
          "ShortTensor": dtypes.int16, "IntTensor": dtypes.int32, "LongTensor": dtypes.int64, "BoolTensor": dtypes.bool_}
LEGACY = {name: _LegacyType(name, (), {"dtype": dt}) for name, dt in _TYPES.items()}
_BY_DTYPE = {np.dtype(dt): name for name, dt in _TYPES.items()}


def scalar_type_name(dtype):
    """torch's name of a dtype in its error messages ('Float', 'Long', ...): its legacy class name without 'Tensor'."""
    name = _BY_DTYPE.get(np.dtype(dtype))
    return name[:-len("Tensor")] if name is not None else str(dtype)


def type_name(t):
    """torch's x.type(): 'torch.FloatTensor', 'torch.cuda.LongTensor', ..."""
    name = _BY_DTYPE.get(np.dtype(t.dtype))
    if name is None:
        return str(t.dtype)
    return f"torch.{'cuda.' if t.device.type == 'cuda' else ''}{name}"


def from_name(t, spec):
    """x.type(spec) for a legacy class or its name ('torch.LongTensor', 'torch.cuda.FloatTensor'), or None when spec
    is neither (a dtype: the caller converts)."""
    if isinstance(spec, _LegacyType):
        return t.to(device="cpu", dtype=spec.dtype)
    if isinstance(spec, str) and spec.startswith("torch."):
        parts = spec.split(".")
        cls = LEGACY.get(parts[-1])
        if cls is None or len(parts) > 3 or (len(parts) == 3 and parts[1] != "cuda"):
            raise ValueError(f"type: invalid type {spec!r}")
        return t.to(device="cuda" if len(parts) == 3 else "cpu", dtype=cls.dtype)
    return None
