"""torch.nn.parameter's names: Parameter, UninitializedParameter, Buffer (`from torch.nn.parameter import Parameter`
in ported code)."""
from .buffer import Buffer
from .lazy import UninitializedParameter
from .module import Parameter

__all__ = ["Parameter", "UninitializedParameter", "Buffer"]
