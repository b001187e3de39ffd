"""torch.multiprocessing.spawn / start_processes: run fn(i, *args) in nprocs processes and report the first failure.

A child that raises writes its formatted traceback to a file of its own (one-shot, so no queue can deadlock) and
exits with 1; the parent's join() then ends the other children (SIGTERM, SIGKILL after a grace period) and raises
ProcessRaisedException carrying that traceback. A child that dies of a signal or exits non-zero without an exception
gives ProcessExitedException with the signal name or exit code, as torch's.
"""
import ctypes
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
import warnings

__all__ = ["ProcessContext", "ProcessException", "ProcessExitedException", "ProcessRaisedException", "spawn",
           "SpawnContext", "start_processes"]

_PR_SET_PDEATHSIG = 1


class ProcessException(Exception):
    __slots__ = ["error_index", "error_pid"]

    def __init__(self, msg, error_index, error_pid):
        super().__init__(msg)
        self.msg, self.error_index, self.error_pid = msg, error_index, error_pid

    def __reduce__(self):
        return type(self), (self.msg, self.error_index, self.error_pid)


class ProcessRaisedException(ProcessException):
    """A child raised: the message holds its traceback."""


class ProcessExitedException(ProcessException):
    """A child was killed by a signal or exited with a non-zero code."""
    __slots__ = ["exit_code", "signal_name"]

    def __init__(self, msg, error_index, error_pid, exit_code, signal_name=None):
        super().__init__(msg, error_index, error_pid)
        self.exit_code, self.signal_name = exit_code, signal_name

    def __reduce__(self):
        return type(self), (self.msg, self.error_index, self.error_pid, self.exit_code, self.signal_name)


def _die_with_parent():
    # a non-daemonic child would otherwise outlive a parent killed before joining it (torch does the same)
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGINT), 0, 0, 0)
        except (OSError, AttributeError):
            pass


def _wrap(fn, i, args, error_file):
    _die_with_parent()
    try:
        fn(i, *args)
    except KeyboardInterrupt:
        pass  # the parent ended this child (SIGINT through PDEATHSIG): nothing to report
    except Exception:
        with open(error_file, "w", encoding="utf-8") as f:
            f.write(traceback.format_exc())
        sys.exit(1)


class ProcessContext:
    """The processes start_processes(join=False) started: join() them, pids()."""

    def __init__(self, processes, error_files):
        self.processes, self.error_files = processes, error_files
        self.sentinels = {p.sentinel: i for i, p in enumerate(processes)}

    def pids(self):
        return [int(p.pid) for p in self.processes]

    def _join_all(self, seconds):
        end = time.monotonic() + seconds
        for p in self.processes:
            p.join(max(0.0, end - time.monotonic()))

    def join(self, timeout=None, grace_period=None):
        """Wait (up to timeout seconds) for the processes. True when all have ended well, False when some still
        run; the first failure ends the others (after grace_period seconds, then SIGTERM, then SIGKILL) and is
        raised as ProcessRaisedException (the child's traceback) or ProcessExitedException."""
        if not self.sentinels:
            return True
        failed = None
        for sentinel in multiprocessing.connection.wait(list(self.sentinels), timeout=timeout):
            i = self.sentinels.pop(sentinel)
            self.processes[i].join()
            if self.processes[i].exitcode != 0:
                failed = i
                break
        if failed is None:
            if not self.sentinels:
                self._remove_error_files()
            return not self.sentinels
        if grace_period is not None:
            self._join_all(grace_period)
        for p in self.processes:
            if p.is_alive():
                p.terminate()
        self._join_all(30 if grace_period is None else grace_period)
        for p in self.processes:
            if p.is_alive():
                p.kill()
            p.join()
        self.sentinels.clear()
        raise self._failure(failed)

    def _failure(self, i):
        proc, path = self.processes[i], self.error_files[i]
        try:
            with open(path, encoding="utf-8") as f:
                trace = f.read()
        except FileNotFoundError:
            trace = None
        self._remove_error_files()
        if trace is not None:
            return ProcessRaisedException(f"\n\n-- Process {i} terminated with the following error:\n{trace}", i,
                                          proc.pid)
        code = proc.exitcode
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"<Unknown signal {-code}>"
            return ProcessExitedException(f"process {i} terminated with signal {name}", i, proc.pid, code, name)
        return ProcessExitedException(f"process {i} terminated with exit code {code}", i, proc.pid, code)

    def _remove_error_files(self):
        if self.error_files:
            shutil.rmtree(os.path.dirname(self.error_files[0]), ignore_errors=True)


class SpawnContext(ProcessContext):
    def __init__(self, processes, error_files):
        warnings.warn("SpawnContext is renamed to ProcessContext since 1.4 release.", stacklevel=2)
        super().__init__(processes, error_files)


def start_processes(fn, args=(), nprocs=1, join=True, daemon=False, start_method="spawn"):
    """Start nprocs processes running fn(i, *args) with the given start method; join them (None) or return their
    ProcessContext (join=False)."""
    ctx = multiprocessing.get_context(start_method)
    folder = tempfile.mkdtemp(prefix="tensorgrad-spawn-")
    error_files = [os.path.join(folder, f"error-{i}.txt") for i in range(nprocs)]
    processes = []
    try:
        for i in range(nprocs):
            p = ctx.Process(target=_wrap, args=(fn, i, args, error_files[i]), daemon=daemon)
            p.start()
            processes.append(p)
    except BaseException:
        for p in processes:
            p.kill()
            p.join()
        shutil.rmtree(folder, ignore_errors=True)
        raise
    context = ProcessContext(processes, error_files)
    if not join:
        return context
    while not context.join():
        pass
    return None


def spawn(fn, args=(), nprocs=1, join=True, daemon=False, start_method="spawn"):
    """torch.multiprocessing.spawn: nprocs processes of the 'spawn' start method each run fn(i, *args), i in
    range(nprocs) (fn must be importable: defined at a module's top level). With join=True, returns when all have
    ended, or raises the first failure (see ProcessContext.join); with join=False, returns the ProcessContext."""
    if start_method != "spawn":
        warnings.warn(f"This method only supports start_method=spawn (got: {start_method}).\nTo use a different "
                      "start_method use:\n\t\t torch.multiprocessing.start_processes(...)", FutureWarning,
                      stacklevel=2)
    return start_processes(fn, args, nprocs, join, daemon, start_method="spawn")
