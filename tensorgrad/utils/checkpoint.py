"""torch.utils.checkpoint's names for tensorgrad's checkpointing (tensorgrad/checkpoint.py), so ported scripts'
`from ....utils.checkpoint import checkpoint` keeps working."""
from ..checkpoint import checkpoint, checkpoint_sequential

__all__ = ["checkpoint", "checkpoint_sequential"]
