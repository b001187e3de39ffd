"""Who launched this process and where it sits in the job, read from the launcher's environment.

mpiexec (MPICH's Hydra: PMI_RANK / PMI_SIZE / MPI_LOCALRANKID / MPI_LOCALNRANKS; Open MPI: OMPI_COMM_WORLD_RANK /
_SIZE / _LOCAL_RANK / _LOCAL_SIZE; Slurm's PMI: PMI_RANK / PMI_SIZE) or torchrun (RANK / WORLD_SIZE / LOCAL_RANK /
LOCAL_WORLD_SIZE). Under an MPI launcher, ``export_torchrun_env()`` sets torchrun's variables where they are missing,
so a script that decides "am I distributed?" as nanoGPT does (``int(os.environ.get('RANK', -1)) != -1``) and reads
LOCAL_RANK sees the same values under ``mpiexec -n N`` as under ``torchrun --nproc_per_node N``.
"""
import os

__all__ = ["LaunchEnv", "launch_env", "export_torchrun_env"]

# (rank, size, local rank, local size) variables of each launcher, in the order they are looked at
_LAUNCHERS = (
    ("mpiexec (Open MPI)", ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK",
                            "OMPI_COMM_WORLD_LOCAL_SIZE")),
    ("mpiexec (PMI)", ("PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", "MPI_LOCALNRANKS")),
    ("torchrun", ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")),
)


class LaunchEnv:
    """launcher (None: started by hand), rank, world_size, local_rank, local_world_size."""

    def __init__(self, launcher, rank, world_size, local_rank, local_world_size):
        self.launcher, self.rank, self.world_size = launcher, rank, world_size
        self.local_rank, self.local_world_size = local_rank, local_world_size

    @property
    def is_mpi(self):
        return self.launcher is not None and self.launcher.startswith("mpiexec")

    def __repr__(self):
        return (f"LaunchEnv({self.launcher!r}, rank={self.rank}, world_size={self.world_size}, "
                f"local_rank={self.local_rank}, local_world_size={self.local_world_size})")


def _int(name, default=None):
    v = os.environ.get(name)
    try:
        return int(v) if v not in (None, "") else default
    except ValueError:
        return default


def launch_env():
    """The first launcher whose rank and size variables are both set, else a single process (launcher None)."""
    for launcher, (r, n, lr, ln) in _LAUNCHERS:
        rank, size = _int(r), _int(n)
        if rank is not None and size is not None:
            local_rank = _int(lr, rank if size == 1 else None)
            local_size = _int(ln)
            if local_rank is None:  # no local variables: assume one node
                local_rank, local_size = rank, size
            return LaunchEnv(launcher, rank, size, local_rank, local_size if local_size is not None else size)
    return LaunchEnv(None, 0, 1, 0, 1)


def export_torchrun_env():
    """Under an MPI launcher, set RANK / WORLD_SIZE / LOCAL_RANK / LOCAL_WORLD_SIZE where they are unset."""
    env = launch_env()
    if not env.is_mpi:
        return env
    for k, v in (("RANK", env.rank), ("WORLD_SIZE", env.world_size), ("LOCAL_RANK", env.local_rank),
                 ("LOCAL_WORLD_SIZE", env.local_world_size)):
        os.environ.setdefault(k, str(v))
    return env
