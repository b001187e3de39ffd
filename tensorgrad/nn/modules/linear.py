"""torch.nn.modules.linear: tensorgrad.nn's classes that torch defines in that file."""
from .. import Bilinear, Identity, LazyLinear, Linear
from ..transformer import NonDynamicallyQuantizableLinear

__all__ = ['Bilinear', 'Identity', 'LazyLinear', 'Linear', 'NonDynamicallyQuantizableLinear']
