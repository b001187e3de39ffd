"""tensorgrad.nn.parallel: torch.nn.parallel's wrappers.

DistributedDataParallel (distributed.py) is the data-parallel wrapper: one process per replica, launched by mpiexec,
gradients averaged over MPI / NCCL while backward runs. DataParallel (one process driving several devices) is not
provided: tensorgrad runs one device per process, and DistributedDataParallel is what torch recommends instead.
"""
from .distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel", "DataParallel"]


class DataParallel:
    def __init__(self, module, *args, **kwargs):
        raise NotImplementedError("tensorgrad.nn.parallel.DataParallel (torch's DataParallel): tensorgrad runs one "
                                  "device per process; use DistributedDataParallel under mpiexec -n N (one process per "
                                  "device), as torch also recommends")
