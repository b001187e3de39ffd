"""torch.utils.checkpoint's names for tensorgrad's checkpointing (tensorgrad/checkpoint.py), so ported scripts'
`from ....utils.checkpoint import checkpoint` keeps working."""
from ..checkpoint import checkpoint, checkpoint_sequential
from .._pytree import tree_flatten as flatten
from ..random import default_generator
from ..tensor import Tensor

__all__ = ["checkpoint", "checkpoint_sequential", "get_device_states", "set_device_states"]


def get_device_states(*args):
    """(the CUDA device index of every CUDA tensor among args, nested ones included, and an RNG state for each), as
    torch's; reversible-network code records them in forward to replay its dropout in backward. tensorgrad's one
    default generator holds every device's stream (random.py), so each state is its state."""
    devices = [x.get_device() for x in flatten(args)[0] if isinstance(x, Tensor) and x.device.type == "cuda"]
    return devices, [default_generator.get_state() for _ in devices]


def set_device_states(devices, states, *, device_type=None):
    """Put back the states get_device_states recorded (nothing for an empty list: CPU-only arguments)."""
    for _, state in zip(devices, states):
        default_generator.set_state(state)
