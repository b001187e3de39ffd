"""torch.nn.modules.flatten: tensorgrad.nn's classes that torch defines in that file."""
from .. import Flatten, Unflatten

__all__ = ['Flatten', 'Unflatten']
