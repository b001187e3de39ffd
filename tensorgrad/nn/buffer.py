"""nn.Buffer (torch 2.5+): a Tensor that, assigned as a Module attribute, is registered as a buffer (Module.__setattr__
looks for this class), persistent or not."""
import numpy as np

from .. import dtypes
from ..tensor import Tensor


class Buffer(Tensor):
    """Buffer(data=None, *, persistent=True): shares data's array, detached (requires_grad kept, as torch's).
    ``self.running = nn.Buffer(t)`` is ``self.register_buffer("running", ..., persistent)``."""
    __slots__ = ("persistent",)

    def __init__(self, data=None, *, persistent=True):
        if data is None:  # torch.empty(0)
            data = Tensor._from(np.empty((0,), dtype=dtypes.get_default_dtype()))
        if not isinstance(data, Tensor):
            raise TypeError(f"nn.Buffer: data must be a Tensor, got {type(data).__name__}")
        Tensor._init(self, data.array, None, None, data.requires_grad)
        self.persistent = persistent
