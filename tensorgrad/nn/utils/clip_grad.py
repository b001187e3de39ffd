"""torch.nn.utils.clip_grad's spelling (``from torch.nn.utils.clip_grad import clip_grad_norm_``): the functions live
in tensorgrad.nn.utils."""
from . import clip_grad_norm_, clip_grad_value_, clip_grad_norm, get_total_norm, clip_grads_with_norm_  # noqa: F401
