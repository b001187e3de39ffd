"""tensorgrad.utils: PyTorch's torch.utils counterparts (data, checkpoint)."""
from . import checkpoint, data

__all__ = ["checkpoint", "data"]
