"""tensorgrad.distributed: torch.distributed's names, on MPI (CPU tensors) and NCCL (CUDA tensors, one GPU per process).

Launch N processes with mpiexec and join them with init_process_group (torch's names and call shapes):

    mpiexec -n 2 python train.py                         # one machine (pip install 'tensorgrad[distributed]')
    mpiexec -f hosts -n 8 -ppn 4 python train.py         # several: MPICH's hostfile, 4 processes per machine
    tensorgrad train --nproc 2 ...                       # the CLI re-launches itself through mpiexec

    import tensorgrad.distributed as dist
    dist.init_process_group(backend="gloo")              # "gloo" and "mpi": MPI; "nccl": CUDA tensors over NCCL
    dist.all_reduce(t, op=dist.ReduceOp.AVG)             # in place on t's array; async_op=True -> Work
    dist.destroy_process_group()

Under mpiexec, importing this package sets torchrun's RANK / WORLD_SIZE / LOCAL_RANK / LOCAL_WORLD_SIZE where they are
unset (launch_env.py), so scripts that read them (nanoGPT decides "ddp" from RANK) behave as under torchrun.
Without mpi4py installed this package still imports; init_process_group says what to install. A dead rank ends the
job (mpiexec), an uncaught exception on one rank aborts it (MPI_Abort), and a collective stuck longer than the
group's timeout aborts it with a message naming the collective (work.Watchdog).

DistributedDataParallel is in tensorgrad.nn.parallel, ZeroRedundancyOptimizer in tensorgrad.distributed.optim,
DistributedSampler in tensorgrad.utils.data.
"""
from .launch_env import export_torchrun_env as _export_torchrun_env
from .process_group import (ProcessGroup, GroupMember, init_process_group, destroy_process_group, is_available,
                            is_initialized, is_mpi_available, is_nccl_available, is_gloo_available,
                            is_torchelastic_launched, get_rank, get_world_size, get_backend, new_group,
                            get_node_local_rank)
from .collectives import (all_reduce, reduce, broadcast, all_gather, all_gather_into_tensor, reduce_scatter,
                          reduce_scatter_tensor, barrier, monitored_barrier, send, recv, all_gather_object,
                          broadcast_object_list, gather_object)
from .work import ReduceOp, Work

__all__ = ["init_process_group", "destroy_process_group", "is_available", "is_initialized", "is_mpi_available",
           "is_nccl_available", "is_gloo_available", "is_torchelastic_launched", "get_rank", "get_world_size",
           "get_backend", "new_group", "get_node_local_rank", "all_reduce", "reduce", "broadcast", "all_gather",
           "all_gather_into_tensor", "reduce_scatter", "reduce_scatter_tensor", "barrier", "monitored_barrier", "send",
           "recv", "all_gather_object", "broadcast_object_list", "gather_object", "ReduceOp", "Work", "ProcessGroup",
           "GroupMember", "Backend"]


class Backend:
    """torch.distributed.Backend's names."""
    MPI = "mpi"
    GLOO = "gloo"
    NCCL = "nccl"
    UNDEFINED = "undefined"


_export_torchrun_env()
