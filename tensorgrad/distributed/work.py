"""Reduce operations, work handles and the watchdog shared by the MPI and NCCL backends.

A Work is what ``async_op=True`` returns (torch's Work): ``wait()`` blocks until the collective has finished and
its result is in the tensor, ``is_completed()`` polls. Its ``finish`` step (divide for AVG, copy back into a
non-contiguous or half-precision tensor) runs exactly once, on whichever of the two sees completion first.

The watchdog: every collective in flight is registered with its start time; a daemon thread aborts the whole job
(MPI_Abort, which makes mpiexec end every rank) when one has been waiting longer than the process group's timeout,
with a message naming the collective. A rank that dies outright is caught sooner by mpiexec itself, which ends
the job as soon as one of its processes exits abnormally; an uncaught exception on one rank aborts the job too
(the excepthook installed by init_process_group), so the others never wait on a rank that has gone.
"""
import itertools
import os
import sys
import threading
import time

__all__ = ["ReduceOp", "Work", "Watchdog"]

_monotonic = time.monotonic


class _RedOp:
    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"<ReduceOp.{self.name}>"

    def __reduce__(self):
        return (getattr, (ReduceOp, self.name))


class ReduceOp:
    """torch.distributed.ReduceOp: SUM, AVG, PRODUCT, MIN, MAX and the bitwise BAND, BOR, BXOR (integers)."""
    SUM = _RedOp("SUM")
    AVG = _RedOp("AVG")
    PRODUCT = _RedOp("PRODUCT")
    MIN = _RedOp("MIN")
    MAX = _RedOp("MAX")
    BAND = _RedOp("BAND")
    BOR = _RedOp("BOR")
    BXOR = _RedOp("BXOR")
    RedOpType = _RedOp


def as_op(op):
    """A ReduceOp member from itself or its name ('sum', 'AVG', ...)."""
    if isinstance(op, _RedOp):
        return op
    if isinstance(op, str) and hasattr(ReduceOp, op.upper()) and op.upper() != "REDOPTYPE":
        return getattr(ReduceOp, op.upper())
    raise ValueError(f"unknown reduce op {op!r}: use tensorgrad.distributed.ReduceOp.SUM / AVG / PRODUCT / MIN / MAX / "
                     "BAND / BOR / BXOR")


class Work:
    """A collective in flight. ``test()`` -> bool says whether it has finished (progressing it), ``block()`` waits
    for it; ``finish()`` puts the result in place once it has."""

    def __init__(self, what, test, block, finish=None, watchdog=None, tensors=()):
        self._what, self._test, self._block, self._finish = what, test, block, finish
        self._done = False
        self._watchdog = watchdog
        self._key = watchdog.start(what) if watchdog is not None else None
        self._tensors = list(tensors)

    def _complete(self):
        self._done = True
        if self._watchdog is not None:
            self._watchdog.done(self._key)
        if self._finish is not None:
            f, self._finish = self._finish, None
            f()

    def wait(self, timeout=None):
        """Block until the collective has finished and its result is in the tensor(s); returns True."""
        if self._done:
            return True
        if timeout is not None:
            seconds = timeout.total_seconds() if hasattr(timeout, "total_seconds") else float(timeout)
            t_end = time.monotonic() + seconds
            while not self._test():
                if time.monotonic() > t_end:
                    raise RuntimeError(f"tensorgrad.distributed: {self._what} did not finish within {seconds:g} s")
        else:
            self._block()
        self._complete()
        return True

    def is_completed(self):
        if not self._done and self._test():
            self._complete()
        return self._done

    def is_success(self):
        return self.is_completed()

    def result(self):
        """The tensors the collective wrote (after wait())."""
        self.wait()
        return self._tensors

    def __repr__(self):
        return f"<Work {self._what}: {'completed' if self._done else 'in flight'}>"


class CompletedWork(Work):
    """The handle of a collective that finished before returning (a single-rank group, or a blocking call)."""

    def __init__(self, what="collective", tensors=()):
        super().__init__(what, lambda: True, lambda: None, tensors=tensors)
        self._done = True


class Watchdog:
    """Aborts the job when a collective has been in flight longer than ``timeout`` seconds."""

    def __init__(self, timeout, abort, rank):
        self.timeout, self._abort, self.rank = float(timeout), abort, rank
        self._pending = {}
        self._ids = itertools.count()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tensorgrad-dist-watchdog", daemon=True)
        self._thread.start()

    def start(self, what):
        key = next(self._ids)
        self._pending[key] = (what, _monotonic())
        return key

    def done(self, key):
        self._pending.pop(key, None)

    # one blocking call at a time, in a slot (cheaper than start/done: all_reduce's fast path uses it)
    blocking = None
    blocking_since = 0.0

    def stop(self):
        self._stop.set()

    def _run(self):
        interval = min(5.0, max(0.05, self.timeout / 20))
        while not self._stop.wait(interval):
            now = time.monotonic()
            slot = [(self.blocking, self.blocking_since)] if self.blocking is not None else []
            for what, t0 in list(self._pending.values()) + slot:
                if now - t0 > self.timeout:
                    msg = (f"tensorgrad.distributed: rank {self.rank}: {what} has waited {now - t0:.0f} s, longer than "
                           f"the process group's timeout ({self.timeout:g} s): another rank has died or hangs. "
                           "Aborting the job (set it with init_process_group(timeout=...) or "
                           "TENSORGRAD_DIST_TIMEOUT=seconds).\n")
                    try:
                        sys.stderr.write(msg)
                        sys.stderr.flush()
                    finally:
                        self._abort()
                        os._exit(1)
