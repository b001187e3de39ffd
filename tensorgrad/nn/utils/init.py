"""torch.nn.utils.skip_init: build a module without running its parameter initialisation."""
import inspect

from ..module import Module

__all__ = ["skip_init"]


def skip_init(module_cls, *args, **kwargs):
    """torch builds the module on the meta device and then allocates it uninitialized. tensorgrad has no meta
    device, so the module is built on the requested device and its values are whatever its constructor made:
    like torch's, they are not to be relied on (the caller initialises them)."""
    if not isinstance(module_cls, type) or not issubclass(module_cls, Module):
        raise RuntimeError(f"Expected a Module; got {module_cls}")
    if "device" not in inspect.signature(module_cls).parameters:
        raise RuntimeError("Module must support a 'device' arg to skip initialization")
    kwargs.setdefault("device", "cpu")
    return module_cls(*args, **kwargs)
