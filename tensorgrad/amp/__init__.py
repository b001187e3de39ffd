from .autocast import autocast, is_autocast_enabled, get_autocast_dtype
from .grad_scaler import GradScaler

__all__ = ["autocast", "is_autocast_enabled", "get_autocast_dtype", "GradScaler"]
