"""torch.nn.modules.sparse: tensorgrad.nn's classes that torch defines in that file."""
from .. import Embedding, EmbeddingBag

__all__ = ['Embedding', 'EmbeddingBag']
