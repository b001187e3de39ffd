"""The default process group: init_process_group / destroy_process_group, ranks, sub-groups.

Every process group stands on an MPI communicator (mpi4py): it is how the processes find each other (mpiexec
starts them and MPI_Init connects them), and it carries CPU tensors. CUDA tensors go over NCCL, whose communicator
is bootstrapped over that MPI communicator on the first CUDA collective. Backend names:

    "mpi"                       MPI for CPU tensors (and CUDA tensors staged through host memory, slowly)
    "gloo"                      accepted as scripts pass it: the same as "mpi" (tensorgrad has no gloo)
    "nccl"                      NCCL for CUDA tensors, MPI for CPU tensors (torch's "cpu:gloo,cuda:nccl")
    None                        auto: NCCL for CUDA tensors where CuPy has NCCL, MPI for the rest

Launch with ``mpiexec -n N python script.py`` (see tensorgrad.distributed); torchrun's variables alone (RANK /
WORLD_SIZE without an MPI launcher) cannot join processes into an MPI job, and init_process_group says so.
"""
import datetime
import multiprocessing
import os
import sys

import numpy as np

from .launch_env import launch_env, export_torchrun_env
from .mpi_backend import MPIBackend
from .nccl_backend import NCCLBackend
from .work import Watchdog

__all__ = ["ProcessGroup", "GroupMember", "init_process_group", "destroy_process_group", "is_available",
           "is_initialized", "is_mpi_available", "is_nccl_available", "is_gloo_available", "is_torchelastic_launched",
           "get_rank", "get_world_size", "get_backend", "new_group", "get_node_local_rank", "default_group",
           "DEFAULT_TIMEOUT"]

INSTALL_HINT = ("pip install 'tensorgrad[distributed]' (or: pip install mpi4py mpich; the mpich wheel brings an MPI "
                "library and its mpiexec, no system MPI needed)")
DEFAULT_TIMEOUT = 1800.0  # seconds, torch's default for gloo; TENSORGRAD_DIST_TIMEOUT overrides it

_BACKENDS = {"mpi": "mpi", "gloo": "mpi", "nccl": "nccl", "cpu:gloo,cuda:nccl": "nccl", "cpu:mpi,cuda:nccl": "nccl",
             "cuda:nccl,cpu:gloo": "nccl", "undefined": None}


def _import_mpi():
    """mpi4py's MPI module (initialising MPI), or a RuntimeError saying what to install."""
    try:
        from mpi4py import MPI  # not a tensorgrad module: optional
    except ImportError as e:
        raise RuntimeError("tensorgrad.distributed needs mpi4py and an MPI library to start a process group: "
                           f"{INSTALL_HINT}. Then launch N processes with: mpiexec -n N python script.py") from e
    return MPI


class ProcessGroup:
    """A set of ranks with an MPI communicator (and, once a CUDA tensor is reduced, an NCCL one)."""

    def __init__(self, mpi_backend, backend, ranks, timeout):
        self.mpi = mpi_backend
        self.backend = backend  # the name as given (lower case); "gloo" runs on MPI
        self.ranks = list(ranks)  # the world ranks in this group, by group rank
        self.timeout = timeout
        self._nccl = None

    def rank(self):
        return self.mpi.rank

    def size(self):
        return self.mpi.size

    def group_rank(self, global_rank):
        """A world rank's rank inside this group (torch's src/dst arguments are world ranks)."""
        try:
            return self.ranks.index(global_rank)
        except ValueError:
            raise ValueError(f"rank {global_rank} is not in this process group (its ranks: {self.ranks})") from None

    def for_array(self, a):
        """The backend that carries array a: NCCL for CuPy arrays where it can, MPI otherwise."""
        if isinstance(a, np.ndarray):
            return self.mpi
        if self.backend in ("mpi", "gloo"):
            return _HostStaged(self.mpi)
        if self._nccl is None:
            try:
                self._nccl = NCCLBackend(self.mpi)
            except ImportError as e:
                raise RuntimeError(f"process group backend {self.backend!r}: CUDA tensors need CuPy with NCCL "
                                   "(pip install 'tensorgrad[cuda]' nvidia-nccl-cu12)") from e
        return self._nccl

    def close(self):
        if self._nccl is not None:
            self._nccl.close()
            self._nccl = None
        comm = self.mpi.comm
        if comm is not None and comm != self.mpi.MPI.COMM_WORLD and comm != self.mpi.MPI.COMM_NULL:
            comm.Free()

    def __repr__(self):
        return f"<ProcessGroup {self.backend} rank {self.rank()} of {self.size()}>"


class _HostStaged:
    """CUDA arrays over the MPI backend: copied to host, reduced by MPI, copied back (no CUDA-aware MPI assumed)."""

    def __init__(self, mpi):
        self.mpi = mpi

    def __getattr__(self, name):
        fn = getattr(self.mpi, name)
        if name not in ("all_reduce", "reduce", "broadcast", "all_gather_into", "reduce_scatter_into"):
            return fn

        def staged(*args, **kw):
            hosts = [a.get() if hasattr(a, "get") and not isinstance(a, (int, float)) else a for a in args]
            kw["async_op"] = False
            fn(*hosts, **kw)
            for a, h in zip(args, hosts):
                if h is not a:
                    a.set(h)
            return None
        return staged


class GroupMember:
    """torch.distributed.GroupMember: WORLD (the default group once initialised), NON_GROUP_MEMBER."""
    WORLD = None
    NON_GROUP_MEMBER = object()


# all_reduce_now: the world's MPI all_reduce_now while the world has several ranks (collectives.all_reduce's fast path)
_state = {"world": None, "excepthook": None, "all_reduce_now": None}


def default_group(group=None, what="this call"):
    """group, or the default group; ValueError when none was initialised (torch's message)."""
    if group is not None and group is not GroupMember.WORLD:
        return group
    pg = _state["world"]
    if pg is None:
        raise ValueError(f"tensorgrad.distributed: {what}: Default process group has not been initialized, please make "
                         "sure to call init_process_group.")
    return pg


def _timeout_seconds(timeout):
    if timeout is None:
        env = os.environ.get("TENSORGRAD_DIST_TIMEOUT")
        return float(env) if env else DEFAULT_TIMEOUT
    if isinstance(timeout, datetime.timedelta):
        return timeout.total_seconds()
    return float(timeout)


def _install_excepthook(MPI, rank, size):
    """An uncaught exception on one rank aborts the job (MPI_Abort: mpiexec ends every rank) after printing its
    traceback, instead of leaving the other ranks waiting in a collective for a rank that has gone."""
    previous = sys.excepthook

    def hook(tp, value, tb):
        previous(tp, value, tb)
        if issubclass(tp, (SystemExit, KeyboardInterrupt)) or _state["world"] is None:
            return
        try:
            sys.stderr.write(f"tensorgrad.distributed: rank {rank} of {size} failed with {tp.__name__}; aborting the "
                             "job so that the other ranks do not wait for it\n")
            sys.stderr.flush()
        finally:
            MPI.COMM_WORLD.Abort(1)
    sys.excepthook = hook
    _state["excepthook"] = previous


def _starter():
    return ("Python's multiprocessing (torch.multiprocessing.spawn / Process)" if multiprocessing.parent_process()
            is not None else "hand, without mpiexec")


def init_process_group(backend=None, init_method=None, timeout=None, world_size=-1, rank=-1, store=None,
                       group_name="", pg_options=None, device_id=None):
    """Join this process to the job mpiexec started (torch's signature; init_method / store are accepted and
    unused: MPI connects the processes). world_size / rank, when given, must agree with the launcher's."""
    if _state["world"] is not None:
        raise RuntimeError("trying to initialize the default process group twice!")
    name = None if backend is None else str(backend).lower()
    if name is not None and name not in _BACKENDS:
        raise ValueError(f"init_process_group: unknown backend {backend!r}; tensorgrad has 'mpi' (CPU tensors; 'gloo' "
                         "is accepted and means it) and 'nccl' (CUDA tensors, one GPU per process)")
    env = export_torchrun_env()
    MPI = _import_mpi()
    world = MPI.COMM_WORLD
    size, me = world.Get_size(), world.Get_rank()
    if size == 1 and env.world_size > 1:
        raise RuntimeError(f"init_process_group: {env.launcher} says WORLD_SIZE={env.world_size}, but this process is "
                           "not part of an MPI job: tensorgrad's process groups run on MPI, so start the processes "
                           f"with mpiexec (mpiexec -n {env.world_size} python script.py; tensorgrad train --nproc "
                           f"{env.world_size}), not torchrun")
    if size == 1 and world_size not in (None, -1) and int(world_size) > 1:
        # torch's mp.spawn(main_worker, nprocs=N) + init_process_group(rank=i, world_size=N) launch: processes that
        # multiprocessing (or a shell) started are N separate one-process MPI jobs, which no init_method can join
        raise RuntimeError(f"init_process_group: world_size={world_size}, but this process is not part of an MPI job "
                           f"of that size (it was started by {_starter()}). tensorgrad's process groups run on MPI, "
                           f"whose processes mpiexec starts: launch `mpiexec -n {world_size} python script.py` and "
                           "call init_process_group in each process (its rank is dist.get_rank(); RANK / "
                           "LOCAL_RANK are set), instead of torch.multiprocessing.spawn / mp.Process")
    if world_size not in (None, -1) and int(world_size) != size:
        raise ValueError(f"init_process_group: world_size={world_size} but mpiexec started {size} processes")
    if rank not in (None, -1) and int(rank) != me:
        raise ValueError(f"init_process_group: rank={rank} but MPI gives this process rank {me}")
    seconds = _timeout_seconds(timeout)
    watchdog = Watchdog(seconds, lambda: world.Abort(1), me) if size > 1 else None
    comm = world.Dup()
    pg = ProcessGroup(MPIBackend(comm, MPI, watchdog), name or ("nccl" if _cuda_with_nccl() else "mpi"),
                      range(size), seconds)
    _state["world"] = pg
    _state["all_reduce_now"] = pg.mpi.all_reduce_now if size > 1 else None
    GroupMember.WORLD = pg
    if size > 1 and _state["excepthook"] is None:
        _install_excepthook(MPI, me, size)
    if device_id is not None and pg.backend == "nccl":
        pg.for_array(_cuda_probe(device_id))
    return None


def _cuda_with_nccl():
    try:
        from cupy.cuda import nccl  # noqa: F401 - optional
        import cupy
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # noqa: BLE001 - no CuPy, no NCCL, no device: CPU only
        return False


def _cuda_probe(device_id):
    import cupy
    index = getattr(device_id, "index", device_id)
    cupy.cuda.Device(0 if index is None else int(index)).use()
    return cupy.zeros(1, dtype=cupy.float32)


def destroy_process_group(group=None):
    """Release the default group (or ``group``); MPI itself stays up until the process exits (it cannot restart)."""
    pg = _state["world"]
    if group is not None and group is not GroupMember.WORLD and group is not pg:
        group.close()
        return
    if pg is None:
        raise ValueError("destroy_process_group: Default process group has not been initialized")
    if pg.mpi.watchdog is not None:
        pg.mpi.watchdog.stop()
    pg.close()
    _state["world"] = None
    _state["all_reduce_now"] = None
    GroupMember.WORLD = None


def is_available():
    """True: tensorgrad.distributed is built in (whether mpi4py is installed shows at init_process_group)."""
    return True


def is_mpi_available():
    try:
        import mpi4py  # noqa: F401 - optional
        return True
    except ImportError:
        return False


def is_gloo_available():
    """'gloo' runs on MPI here."""
    return is_mpi_available()


def is_nccl_available():
    try:
        from cupy.cuda import nccl  # noqa: F401 - optional
        return True
    except Exception:  # noqa: BLE001
        return False


def is_torchelastic_launched():
    return "TORCHELASTIC_RUN_ID" in os.environ


def is_initialized():
    return _state["world"] is not None


def get_rank(group=None):
    return default_group(group, "get_rank").rank()


def get_world_size(group=None):
    return default_group(group, "get_world_size").size()


def get_backend(group=None):
    return default_group(group, "get_backend").backend


def get_node_local_rank(fallback_rank=None):
    """This process's rank on its machine (LOCAL_RANK / the MPI launcher's local rank)."""
    env = launch_env()
    if env.launcher is None and fallback_rank is not None:
        return fallback_rank
    return env.local_rank


def new_group(ranks=None, timeout=None, backend=None, pg_options=None, use_local_synchronization=False):
    """A sub-group over ``ranks`` (world ranks; every rank of the world must call it, as in torch). Ranks outside it
    get GroupMember.NON_GROUP_MEMBER."""
    world = default_group(None, "new_group")
    MPI = world.mpi.MPI
    ranks = sorted(range(world.size()) if ranks is None else {int(r) for r in ranks})
    comm = world.mpi.comm.Create(world.mpi.comm.Get_group().Incl(ranks))
    if comm == MPI.COMM_NULL:
        return GroupMember.NON_GROUP_MEMBER
    return ProcessGroup(MPIBackend(comm, MPI, world.mpi.watchdog), (backend or world.backend).lower(), ranks,
                        _timeout_seconds(timeout) if timeout is not None else world.timeout)
