"""tensorgrad.nn.parallel: torch.nn.parallel's wrappers.

DistributedDataParallel (distributed.py) is the data-parallel wrapper: one process per replica, launched by mpiexec,
gradients averaged over MPI / NCCL while backward runs. DataParallel (nn/data_parallel.py) is torch's wrapper with
at most one device: a pass-through on the CPU; several devices in one process are refused with a pointer here.
"""
from .distributed import DistributedDataParallel
from ..data_parallel import DataParallel, data_parallel

__all__ = ["DistributedDataParallel", "DataParallel", "data_parallel"]
