"""torch.utils._pytree: tensorgrad/_pytree.py, which torch.func's transforms use too."""
from .._pytree import *  # noqa: F401,F403
from .._pytree import SUPPORTED_NODES, __all__  # noqa: F401
