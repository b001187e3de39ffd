"""torch.nn.modules.distance: tensorgrad.nn's classes that torch defines in that file."""
from .. import PairwiseDistance, CosineSimilarity

__all__ = ['PairwiseDistance', 'CosineSimilarity']
