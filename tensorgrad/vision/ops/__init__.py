"""torchvision.ops for tensorgrad: only the model building blocks (misc.Conv2dNormActivation); the detection ops
(nms, roi_align, ...) are torchvision C++ kernels that tensorgrad does not provide."""
from . import misc
from .misc import Conv2dNormActivation

__all__ = ["misc", "Conv2dNormActivation"]
