"""tensorgrad.nn.parallel: torch.nn.parallel's wrappers, importable so that scripts importing them at the top
(``from torch.nn.parallel import DistributedDataParallel as DDP``) load and run single-process.

Wrapping a model is not built yet: it is issue 21 (data-parallel training beyond one process); constructing either
wrapper raises NotImplementedError naming it.
"""
__all__ = ["DistributedDataParallel", "DataParallel"]

_ISSUE = "issue 21 (data-parallel training beyond one process)"


class DistributedDataParallel:
    def __init__(self, module, *args, **kwargs):
        raise NotImplementedError("tensorgrad.nn.parallel.DistributedDataParallel (torch's DistributedDataParallel) "
                                  f"is not implemented yet; it is {_ISSUE}. Train the module itself, single-process.")


class DataParallel:
    def __init__(self, module, *args, **kwargs):
        raise NotImplementedError("tensorgrad.nn.parallel.DataParallel (torch's DataParallel) is not implemented: "
                                  f"tensorgrad runs one device per process; multi-device training is {_ISSUE}.")
