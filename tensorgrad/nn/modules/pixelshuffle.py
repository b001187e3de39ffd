"""torch.nn.modules.pixelshuffle: tensorgrad.nn's classes that torch defines in that file."""
from .. import PixelShuffle, PixelUnshuffle

__all__ = ['PixelShuffle', 'PixelUnshuffle']
