"""torchvision.transforms for tensorgrad: the v1 transform classes (transforms.py) and transforms.functional."""
from . import functional
from .functional import InterpolationMode
from .transforms import *  # noqa: F401,F403
from .transforms import __all__ as _classes

__all__ = list(_classes) + ["functional"]
