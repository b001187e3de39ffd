"""tensorgrad.linalg: the torch.linalg functions implemented here."""
from .ops.matmul import matmul
from .ops.reduce import vector_norm

__all__ = ["matmul", "vector_norm"]
