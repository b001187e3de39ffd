"""torch.nn.modules.module: tensorgrad.nn's classes that torch defines in that file."""
from .. import Module

__all__ = ['Module']
