"""Variable: the pre-0.4 wrapper that old public PyTorch code still calls (``Variable(x, requires_grad=True)``). In
torch it has long been the Tensor itself: the call gives a new tensor on the same memory, detached from any history,
requiring grad as asked; ``isinstance(t, Variable)`` is true of every Tensor."""
import warnings

import numpy as np

from ..dtypes import get_default_dtype
from ..tensor import Tensor


class _VariableMeta(type):
    def __instancecheck__(cls, other):
        return isinstance(other, Tensor)


class Variable(metaclass=_VariableMeta):
    def __new__(cls, data=None, requires_grad=False, volatile=False):
        if volatile:
            warnings.warn("volatile was removed and now has no effect. Use `with torch.no_grad():` instead.",
                          UserWarning, stacklevel=2)
        if data is None:
            data = Tensor._make(np.empty(0, dtype=get_default_dtype()), None)
        if not isinstance(data, Tensor):
            raise TypeError(f"Variable data has to be a tensor, but got {type(data).__name__}")
        t = data.detach()
        if requires_grad:
            t.requires_grad_(True)
        return t
