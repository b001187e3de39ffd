"""torch.nn.modules.container: tensorgrad.nn's classes that torch defines in that file."""
from .. import Container, Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict

__all__ = ['Container', 'Sequential', 'ModuleList', 'ModuleDict', 'ParameterList', 'ParameterDict']
