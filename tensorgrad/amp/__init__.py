from .autocast import autocast, is_autocast_enabled, get_autocast_dtype
from .grad_scaler import GradScaler
from .state import custom_fwd, custom_bwd, is_autocast_available

__all__ = ["autocast", "is_autocast_enabled", "get_autocast_dtype", "GradScaler", "custom_fwd", "custom_bwd", "is_autocast_available"]
