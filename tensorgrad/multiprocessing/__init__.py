"""torch.multiprocessing: Python's multiprocessing (every name of it: Process, Queue, Pool, get_context,
set_start_method, cpu_count, ...) with tensors shared between processes as torch shares them, plus spawn.

    import tensorgrad.multiprocessing as mp
    mp.spawn(main_worker, nprocs=4, args=(cfg,))          # main_worker(i, cfg) in 4 processes; a failure re-raised
    model.share_memory()                                  # Hogwild: children train the parent's parameters in place
    p = mp.Process(target=train, args=(model,)); p.start()

A tensor given to a child (a spawned child's arguments, Queue, Pipe, Pool) is moved into shared memory and goes by
reference (reductions.py): the child maps the same memory, so its writes are the parent's. A forked child shares
what share_memory_() moved before the fork. Sharing strategies as torch's: 'file_descriptor' (default) and
'file_system' (tensorgrad/backend/shared_memory.py says what each costs and who frees the memory).

Under tensorgrad.compat (`python -m tensorgrad.compat script.py`), spawned children install the torch
alias before they import the main script, so their `import torch` is tensorgrad too.
"""
import multiprocessing
import multiprocessing.spawn as _mp_spawn
import sys
from multiprocessing import *  # noqa: F401,F403 - torch.multiprocessing re-exports all of it

from ..backend.shared_memory import get_all_sharing_strategies, get_sharing_strategy, set_sharing_strategy
from .reductions import init_reductions
from .spawn import (ProcessContext, ProcessException, ProcessExitedException, ProcessRaisedException, SpawnContext,
                    spawn, start_processes)

__all__ = ["set_sharing_strategy", "get_sharing_strategy", "get_all_sharing_strategies", "spawn",
           "start_processes", "ProcessContext", "ProcessException", "ProcessExitedException",
           "ProcessRaisedException", "SpawnContext", "init_reductions"]
__all__ += multiprocessing.__all__


class _InstallAlias:
    """Unpickled in a spawned child with the rest of its preparation data, before the child imports the parent's
    main script: calls the torch alias's install() there (pickled by reference as tensorgrad.compat.install)."""

    def __init__(self, install):
        self.install = install

    def __reduce__(self):
        return self.install, ()


def _with_torch_alias(get_preparation_data):
    def wrapped(name):
        data = get_preparation_data(name)
        compat = sys.modules.get("tensorgrad.compat")  # (looked up, not imported: it is the layer above this one)
        if compat is not None and compat.is_installed():
            data["tensorgrad_torch_alias"] = _InstallAlias(compat.install)  # (spawn's prepare() ignores the key)
        return data
    wrapped.tensorgrad_torch_alias = True
    return wrapped


if not getattr(_mp_spawn.get_preparation_data, "tensorgrad_torch_alias", False):
    _mp_spawn.get_preparation_data = _with_torch_alias(_mp_spawn.get_preparation_data)

init_reductions()
