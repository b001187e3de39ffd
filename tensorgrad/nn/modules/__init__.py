"""torch.nn.modules under the torch alias: the files torch defines its layers in (torch.nn.modules.linear.Linear,
torch.nn.modules.activation.ReLU, ...), each re-exporting tensorgrad.nn's classes. Scripts name classes by these
paths, e.g. in the allowlist they give torch.serialization.safe_globals before loading a whole saved module."""
from ..module import Module

__all__ = ["Module"]
