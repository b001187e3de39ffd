"""torch.nn.modules.fold: tensorgrad.nn's classes that torch defines in that file."""
from .. import Fold, Unfold

__all__ = ['Fold', 'Unfold']
