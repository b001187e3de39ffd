"""torch.nn.modules.normalization: tensorgrad.nn's classes that torch defines in that file."""
from .. import LocalResponseNorm, CrossMapLRN2d, LayerNorm, GroupNorm, RMSNorm

__all__ = ['LocalResponseNorm', 'CrossMapLRN2d', 'LayerNorm', 'GroupNorm', 'RMSNorm']
