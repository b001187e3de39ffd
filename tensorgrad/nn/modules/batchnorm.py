"""torch.nn.modules.batchnorm: tensorgrad.nn's classes that torch defines in that file."""
from .. import (BatchNorm1d, LazyBatchNorm1d, BatchNorm2d, LazyBatchNorm2d, BatchNorm3d, LazyBatchNorm3d,
    SyncBatchNorm)
from ..norm import _BatchNorm, _NormBase  # noqa: F401  (private in torch too, imported by timm for isinstance checks)

__all__ = ['BatchNorm1d', 'LazyBatchNorm1d', 'BatchNorm2d', 'LazyBatchNorm2d', 'BatchNorm3d', 'LazyBatchNorm3d',
           'SyncBatchNorm']
