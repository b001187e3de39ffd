"""torch.nn.modules.instancenorm: tensorgrad.nn's classes that torch defines in that file."""
from .. import (InstanceNorm1d, InstanceNorm2d, InstanceNorm3d, LazyInstanceNorm1d, LazyInstanceNorm2d,
    LazyInstanceNorm3d)
from ..norm import _InstanceNorm, _NormBase  # noqa: F401  (private in torch too, imported for isinstance checks)

__all__ = ['InstanceNorm1d', 'InstanceNorm2d', 'InstanceNorm3d', 'LazyInstanceNorm1d', 'LazyInstanceNorm2d',
           'LazyInstanceNorm3d']
