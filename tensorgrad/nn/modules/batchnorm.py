"""torch.nn.modules.batchnorm: tensorgrad.nn's classes that torch defines in that file."""
from .. import (BatchNorm1d, LazyBatchNorm1d, BatchNorm2d, LazyBatchNorm2d, BatchNorm3d, LazyBatchNorm3d,
    SyncBatchNorm)

__all__ = ['BatchNorm1d', 'LazyBatchNorm1d', 'BatchNorm2d', 'LazyBatchNorm2d', 'BatchNorm3d', 'LazyBatchNorm3d',
           'SyncBatchNorm']
