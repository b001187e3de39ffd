"""torch.nn.modules.channelshuffle: tensorgrad.nn's classes that torch defines in that file."""
from .. import ChannelShuffle

__all__ = ['ChannelShuffle']
