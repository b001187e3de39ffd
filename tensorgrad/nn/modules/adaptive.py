"""torch.nn.modules.adaptive: tensorgrad.nn's classes that torch defines in that file."""
from .. import AdaptiveLogSoftmaxWithLoss

__all__ = ['AdaptiveLogSoftmaxWithLoss']
