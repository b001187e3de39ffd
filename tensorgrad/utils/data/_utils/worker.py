"""The DataLoader worker process (torch.utils.data._utils.worker): its loop, its seeding, get_worker_info().

A worker takes (task index, sampler indices) from its own index queue, fetches and collates that batch, and puts
(task index, batch) on the result queue all workers share; errors travel as an ExceptionWrapper, the end of an
IterableDataset stream as an _IterableDatasetStopIteration, and None on the index queue ends the loop.
"""
import os
import queue
import random
import sys
import traceback
from dataclasses import dataclass

import numpy as np

from ....random import manual_seed
from ....settings import set_num_threads
from . import shared_memory
from .fetch import create_fetcher

__all__ = ["WorkerInfo", "get_worker_info"]

# How long shutdown waits for a worker to end before terminating it (torch's value).
MP_STATUS_CHECK_INTERVAL = 5.0
# How often an idle worker checks that its parent lives and that the done event is not set. torch waits 5 s and
# relies on the final None; but when a loader dies inside a garbage cycle (an exception's traceback held the
# iterator), the index queue's own finalizer has stopped its feeder thread first and that None is never sent, so
# torch's gc then waits 5 s per worker. A quarter second of select() per wake-up costs nothing.
_WORKER_POLL_INTERVAL = 0.25


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """What get_worker_info() returns inside a worker: its id (0 .. num_workers - 1), num_workers, the seed its
    random modules were given, and this process's own copy of the dataset (torch 2.13's fields)."""
    id: int
    num_workers: int
    seed: int
    dataset: object
    rng: object = None
    worker_method: str = "multiprocessing"


_worker_info = None


def get_worker_info():
    """The WorkerInfo of the DataLoader worker this runs in; None in the main process."""
    return _worker_info


class ExceptionWrapper:
    """An exception raised in a worker, carried to the main process as its type and formatted traceback (the
    traceback object itself cannot be pickled) and raised there again by reraise(), as torch._utils' class."""

    def __init__(self, exc_info=None, where="in background"):
        if exc_info is None:
            exc_info = sys.exc_info()
        self.exc_type = exc_info[0]
        self.exc_msg = "".join(traceback.format_exception(*exc_info))
        self.where = where

    def reraise(self):
        msg = f"Caught {self.exc_type.__name__} {self.where}.\nOriginal {self.exc_msg}"
        if self.exc_type is KeyError:
            msg = _KeyErrorMessage(msg)  # KeyError would print the repr: every newline as \n
        elif getattr(self.exc_type, "message", None):
            raise self.exc_type(message=msg)
        try:
            exception = self.exc_type(msg)
        except Exception:  # an exception type whose constructor wants other arguments
            raise RuntimeError(msg) from None
        raise exception


class _KeyErrorMessage(str):
    def __repr__(self):
        return self


@dataclass(frozen=True)
class _IterableDatasetStopIteration:
    """A worker's IterableDataset copy is exhausted: send it no more tasks."""
    worker_id: int


@dataclass(frozen=True)
class _ResumeIteration:
    """A persistent worker starts a new epoch: it rebuilds its fetcher (a fresh iter() of an IterableDataset)."""
    seed: object = None


def _generate_state(base_seed, worker_id):
    """Four uint32 words for numpy.random.seed, hashed from (worker_id, base_seed) as numpy's SeedSequence does, so
    NumPy's stream is not the same-seeded twin of `random`'s. torch's function (MIT, (c) 2015 Melissa E. O'Neill,
    (c) 2019 NumPy Developers), kept word for word in effect: NumPy draws in a worker equal torch's."""
    init_a, mult_a, init_b, mult_b = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
    mix_mult_l, mix_mult_r, xshift, mask32 = 0xCA01F9DD, 0x4973F715, 16, 0xFFFFFFFF
    entropy = [worker_id, base_seed & mask32, base_seed >> 32, 0]
    hash_const_a = [init_a]

    def hash_(value):
        value = (value ^ hash_const_a[0]) & mask32
        hash_const_a[0] = (hash_const_a[0] * mult_a) & mask32
        value = (value * hash_const_a[0]) & mask32
        return (value ^ (value >> xshift)) & mask32

    def mix(x, y):
        result = (((mix_mult_l * x) & mask32) - ((mix_mult_r * y) & mask32)) & mask32
        return (result ^ (result >> xshift)) & mask32

    pool = [hash_(e) for e in entropy]
    for i_src in range(4):
        for i_dst in range(4):
            if i_src != i_dst:
                pool[i_dst] = mix(pool[i_dst], hash_(pool[i_src]))
    hash_const_b, state = init_b, []
    for value in pool:
        value = (value ^ hash_const_b) & mask32
        hash_const_b = (hash_const_b * mult_b) & mask32
        value = (value * hash_const_b) & mask32
        state.append((value ^ (value >> xshift)) & mask32)
    return state


def _worker_loop(dataset_kind, dataset, index_queue, data_queue, done_event, auto_collation, collate_fn, drop_last,
                 base_seed, init_fn, worker_id, num_workers):
    """The body of worker process ``worker_id`` (see the module docstring). Seeds as torch's worker does:
    `random` and tensorgrad's default generator with base_seed + worker_id, NumPy's legacy global RNG with
    _generate_state(base_seed, worker_id); one compute thread, so workers do not oversubscribe the cores."""
    manager_pid = os.getppid()
    try:
        set_num_threads(1)
        shared_memory.install()
        seed = base_seed + worker_id
        random.seed(seed)
        manual_seed(seed)
        np.random.seed(_generate_state(base_seed, worker_id))
        global _worker_info
        _worker_info = WorkerInfo(id=worker_id, num_workers=num_workers, seed=seed, dataset=dataset)

        init_exception = None
        try:
            if init_fn is not None:
                init_fn(worker_id)
            fetcher = create_fetcher(dataset_kind, dataset, auto_collation, collate_fn, drop_last)
        except Exception:
            init_exception = ExceptionWrapper(where=f"in DataLoader worker process {worker_id}")

        # iteration_end: this worker's stream ended; it skips tasks until a _ResumeIteration or the final None
        iteration_end = False
        while os.getppid() == manager_pid:  # a worker outliving its parent (killed) ends here
            try:
                r = index_queue.get(timeout=_WORKER_POLL_INTERVAL)
            except queue.Empty:
                if done_event.is_set():
                    break
                continue
            if isinstance(r, _ResumeIteration):
                data_queue.put((r, None))
                iteration_end = False
                fetcher = create_fetcher(dataset_kind, dataset, auto_collation, collate_fn, drop_last)
                continue
            if r is None:
                break
            if done_event.is_set() or iteration_end:
                continue
            idx, index = r
            if init_exception is not None:
                data, init_exception = init_exception, None
            else:
                try:
                    data = fetcher.fetch(index)
                except Exception as e:
                    if isinstance(e, StopIteration) and dataset_kind == "iterable":
                        data = _IterableDatasetStopIteration(worker_id)
                        iteration_end = True
                    else:
                        data = ExceptionWrapper(where=f"in DataLoader worker process {worker_id}")
            data_queue.put((idx, data))
            del data, idx, index, r  # a batch is not kept alive while the next is fetched
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group: the main process raises it
        pass
    if os.getppid() != manager_pid:
        # the main process is gone: do not block exiting on flushing what is queued. Otherwise flush it: the
        # main process drains the results while it shuts workers down (a batch in shared memory is freed so).
        data_queue.cancel_join_thread()
    data_queue.close()
