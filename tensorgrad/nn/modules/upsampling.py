"""torch.nn.modules.upsampling: tensorgrad.nn's classes that torch defines in that file."""
from .. import Upsample, UpsamplingNearest2d, UpsamplingBilinear2d

__all__ = ['Upsample', 'UpsamplingNearest2d', 'UpsamplingBilinear2d']
