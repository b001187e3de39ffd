"""tensorgrad.distributed: torch.distributed's names, importable so that scripts which import them at the top
(``from torch.distributed import init_process_group, destroy_process_group``) load and run single-process.

Multi-process training is not built yet: it is issue 21 (data-parallel training on MPI / NCCL). Until then
is_available() and is_initialized() answer False, and everything that would need a process group raises
NotImplementedError naming that issue.
"""
__all__ = ["is_available", "is_initialized", "init_process_group", "destroy_process_group", "get_rank",
           "get_world_size", "barrier", "all_reduce", "broadcast", "all_gather", "reduce_scatter", "ReduceOp"]

_ISSUE = "issue 21 (data-parallel training beyond one process)"


def _missing(name):
    def stub(*args, **kwargs):
        raise NotImplementedError(f"tensorgrad.distributed.{name} (torch.distributed.{name}): multi-process "
                                  f"training is not implemented yet; it is {_ISSUE}. Run single-process.")
    stub.__name__ = stub.__qualname__ = name
    stub.__doc__ = f"Not implemented yet: {_ISSUE}."
    return stub


def is_available():
    return False


def is_initialized():
    return False


init_process_group = _missing("init_process_group")
destroy_process_group = _missing("destroy_process_group")
get_rank = _missing("get_rank")
get_world_size = _missing("get_world_size")
barrier = _missing("barrier")
all_reduce = _missing("all_reduce")
broadcast = _missing("broadcast")
all_gather = _missing("all_gather")
reduce_scatter = _missing("reduce_scatter")


class ReduceOp:
    """torch.distributed.ReduceOp's names, so that code naming them at import time loads."""
    SUM = "sum"
    AVG = "avg"
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"
