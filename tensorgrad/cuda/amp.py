"""torch.cuda.amp's deprecated spellings: autocast and GradScaler of tensorgrad.amp for device 'cuda'.

As in torch, constructing either warns FutureWarning (use tensorgrad.amp / tensorgrad.autocast instead), and
without CUDA either disables itself with a UserWarning rather than running half precision on the CPU, so a script
written for a GPU computes on a CPU-only machine what torch computes there.
"""
import warnings

from ..amp.autocast import autocast as _autocast
from ..amp.grad_scaler import GradScaler as _GradScaler
from ..backend import cuda_available
from .. import dtypes

__all__ = ["autocast", "GradScaler"]


class autocast(_autocast):
    def __init__(self, enabled=True, dtype=dtypes.float16, cache_enabled=True):
        warnings.warn("`tensorgrad.cuda.amp.autocast(args...)` (torch.cuda.amp.autocast) is deprecated. Please use "
                      "`tensorgrad.amp.autocast('cuda', args...)` instead.", FutureWarning, stacklevel=2)
        if enabled and not cuda_available():
            warnings.warn("CUDA is not available. Disabling autocast.", UserWarning, stacklevel=2)
            enabled = False
        super().__init__("cuda", dtype=dtype, enabled=enabled, cache_enabled=cache_enabled)


class GradScaler(_GradScaler):
    def __init__(self, init_scale=2.0 ** 16, growth_factor=2.0, backoff_factor=0.5, growth_interval=2000,
                 enabled=True):
        warnings.warn("`tensorgrad.cuda.amp.GradScaler(args...)` (torch.cuda.amp.GradScaler) is deprecated. Please "
                      "use `tensorgrad.amp.GradScaler(args...)` instead.", FutureWarning, stacklevel=2)
        if enabled and not cuda_available():
            warnings.warn("tensorgrad.cuda.amp.GradScaler is enabled, but CUDA is not available.  Disabling.",
                          UserWarning, stacklevel=2)
            enabled = False
        super().__init__(init_scale=init_scale, growth_factor=growth_factor, backoff_factor=backoff_factor,
                         growth_interval=growth_interval, enabled=enabled)
