"""DataLoader iterators (torch.utils.data.dataloader's _BaseDataLoaderIter and its two kinds): one epoch of batches,
loaded in the main process or by worker processes.

The multi-process iterator follows torch's design. Task i (the sampler's i-th batch of indices) goes to worker
i mod num_workers while prefetch_factor * num_workers tasks are outstanding; results come back on one queue, out of
order, and are held until their turn (in_order=True). Waiting for a result also watches every live worker's process
sentinel, so a worker that dies (killed by a signal, os._exit) raises torch's error at once instead of hanging;
torch learns the same from a SIGCHLD handler. Shutdown (end of epoch, iterator deleted, loader deleted with
persistent workers) sets the done event, sends each worker None, joins it, and terminates what has not ended.
"""
import atexit
import multiprocessing
import multiprocessing.connection
import signal
import time
import warnings
import weakref

from ...random import Generator, default_generator
from ._utils.fetch import create_fetcher
from ._utils.worker import (MP_STATUS_CHECK_INTERVAL, ExceptionWrapper, _IterableDatasetStopIteration,
                            _ResumeIteration, _worker_loop)

__all__ = []

_python_exiting = [False]
_live_iterators = weakref.WeakSet()
_exit_hook = []


def _shutdown_live_iterators():
    # Registered after multiprocessing's own exit hook, so it runs first: workers still alive (persistent ones,
    # an unfinished epoch) end cleanly and the batches in flight are received, which frees their shared memory.
    for it in list(_live_iterators):
        it._shutdown_workers()


@atexit.register
def _set_python_exit_flag():
    # At exit, multiprocessing itself terminates the (daemonic) workers; an iterator collected during interpreter
    # teardown must not try to talk to them through half-finalized modules.
    _python_exiting[0] = True


def _base_seed(generator):
    """One int64 draw, [0, 2**63), off the loader's generator (default: the global one), as torch's
    ``torch.empty((), dtype=torch.int64).random_(generator=...)``: workers are seeded from it, so manual_seed (or the
    generator's seed) makes every worker's randomness reproducible."""
    if generator is None:
        generator = default_generator
    elif not isinstance(generator, Generator):
        raise TypeError(f"DataLoader: generator must be a tensorgrad.Generator, got {type(generator).__name__}")
    return int(generator.integers(0, 2 ** 63, ()))



class _BaseDataLoaderIter:
    def __init__(self, loader):
        self._dataset, self._dataset_kind = loader.dataset, loader._dataset_kind
        self._IterableDataset_len_called = loader._IterableDataset_len_called
        self._auto_collation, self._drop_last = loader._auto_collation, loader.drop_last
        self._index_sampler, self._num_workers = loader._index_sampler, loader.num_workers
        self._timeout, self._collate_fn = loader.timeout, loader.collate_fn
        self._persistent_workers = loader.persistent_workers
        if loader.pin_memory:
            warnings.warn("'pin_memory' argument is set as true but no accelerator is found, then device pinned "
                          "memory won't be used.", stacklevel=3)
        self._sampler_iter = iter(self._index_sampler)
        self._base_seed = _base_seed(loader.generator)  # drawn whatever num_workers is, so both consume alike
        self._num_yielded = 0

    def __iter__(self):
        return self

    def _reset(self, loader, first_iter=False):
        self._sampler_iter = iter(self._index_sampler)
        self._num_yielded = 0
        self._IterableDataset_len_called = loader._IterableDataset_len_called

    def _next_index(self):
        return next(self._sampler_iter)

    def __next__(self):
        data = self._next_data()
        self._num_yielded += 1
        if (self._dataset_kind == "iterable" and self._IterableDataset_len_called is not None
                and self._num_yielded > self._IterableDataset_len_called):
            msg = (f"Length of IterableDataset {self._dataset} was reported to be {self._IterableDataset_len_called}"
                   f"(when accessing len(dataloader)), but {self._num_yielded} samples have been fetched. ")
            if self._num_workers > 0:
                msg += ("For multiprocessing data-loading, this could be caused by not properly configuring the "
                        "IterableDataset replica at each worker. Please see "
                        "https://pytorch.org/docs/stable/data.html#torch.utils.data.IterableDataset for examples.")
            warnings.warn(msg, stacklevel=2)
        return data

    def __len__(self):
        return len(self._index_sampler)

    def __getstate__(self):
        raise NotImplementedError(f"{type(self).__name__} cannot be pickled")


class _SingleProcessDataLoaderIter(_BaseDataLoaderIter):
    def __init__(self, loader):
        super().__init__(loader)
        self._fetcher = create_fetcher(self._dataset_kind, self._dataset, self._auto_collation, self._collate_fn,
                                       self._drop_last)

    def _next_data(self):
        return self._fetcher.fetch(self._next_index())  # either may raise StopIteration: the epoch's end


def _death_cause(w):
    """torch's SIGCHLD-handler text for a worker that ended on its own: the signal's name, or the exit code."""
    if w.exitcode is not None and w.exitcode < 0:
        name = signal.strsignal(-w.exitcode) or f"signal {-w.exitcode}"
        msg = f"DataLoader worker (pid {w.pid}) is killed by signal: {name}. "
        if -w.exitcode == signal.SIGBUS:
            msg += ("It is possible that dataloader's workers are out of shared memory. Please try to raise your "
                    "shared memory limit.")
        return RuntimeError(msg)
    return RuntimeError(f"DataLoader worker (pid {w.pid}) exited unexpectedly with exit code {w.exitcode}. Details "
                        "are lost due to multiprocessing. Rerunning with num_workers=0 may give better error trace.")


class _MultiProcessingDataLoaderIter(_BaseDataLoaderIter):
    def __init__(self, loader):
        # set before anything can fail, so __del__ can always shut down what was started
        self._shutdown, self._workers, self._index_queues, self._workers_status = False, [], [], []
        super().__init__(loader)
        self._prefetch_factor, self._in_order = loader.prefetch_factor, loader.in_order
        if self._prefetch_factor <= 0:
            raise AssertionError("prefetch_factor must be greater than 0 for MultiProcessingDataLoaderIter")
        ctx = loader.multiprocessing_context or multiprocessing.get_context()
        self._worker_result_queue = ctx.Queue()
        self._workers_done_event = ctx.Event()
        for i in range(self._num_workers):
            index_queue = ctx.Queue()
            index_queue.cancel_join_thread()  # never block exiting on indices a dead worker will not read
            w = ctx.Process(target=_worker_loop, daemon=True, args=(
                self._dataset_kind, self._dataset, index_queue, self._worker_result_queue,
                self._workers_done_event, self._auto_collation, self._collate_fn, self._drop_last, self._base_seed,
                loader.worker_init_fn, i, self._num_workers))
            w.start()
            self._index_queues.append(index_queue)
            self._workers.append(w)
            self._workers_status.append(True)
        self._data_queue = self._worker_result_queue
        _live_iterators.add(self)
        if not _exit_hook:
            _exit_hook.append(atexit.register(_shutdown_live_iterators))
        self._reset(loader, first_iter=True)

    def _reset(self, loader, first_iter=False):
        super()._reset(loader, first_iter)
        self._send_idx = 0  # the next task to send
        self._rcvd_idx = 0  # the next task __next__ returns
        self._task_info = {}  # task -> (worker,) while outstanding, (worker, data) once here early
        self._tasks_outstanding = 0
        self._workers_status = [True] * self._num_workers
        self._workers_num_tasks = [0] * self._num_workers
        self._next_worker = 0
        if not first_iter:  # persistent workers: restart each one's fetcher, drop what a broken-off epoch left
            for q in self._index_queues:
                q.put(_ResumeIteration())
            remaining = self._num_workers
            while remaining > 0:
                idx, _ = self._get_data()
                if isinstance(idx, _ResumeIteration):
                    remaining -= 1
        for _ in range(self._prefetch_factor * self._num_workers):
            self._try_put_index()

    def _try_get_data(self, timeout=None):
        """(True, result), or (False, None) after timeout seconds; raises if a live worker has died."""
        reader = self._data_queue._reader  # the queue's receiving Connection, waitable with the sentinels
        live = [w.sentinel for w, up in zip(self._workers, self._workers_status) if up]
        ready = multiprocessing.connection.wait([reader] + live, timeout)
        if reader in ready:  # results first: one a worker sent before it died is still good
            return True, self._data_queue.get()
        failed = [(i, w) for i, w in enumerate(self._workers) if self._workers_status[i] and not w.is_alive()]
        if failed:
            for i, _ in failed:
                self._mark_worker_as_unavailable(i)
            pids = ", ".join(str(w.pid) for _, w in failed)
            # the epoch cannot complete: end the others now (not at the user's gc), and without waiting for them
            # to flush (one may be blocked on the result queue's lock, which the dead worker held) or reading what
            # is left (a message the dead worker was writing is torn); batches in flight may leave their
            # shared-memory files behind here
            self._shutdown_workers(abort=True)
            raise RuntimeError(f"DataLoader worker (pid(s) {pids}) exited unexpectedly") from _death_cause(failed[0][1])
        return False, None

    def _get_data(self):
        if self._timeout > 0:
            success, data = self._try_get_data(self._timeout)
            if not success:
                raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds")
            return data
        while True:
            success, data = self._try_get_data()
            if success:
                return data

    def _next_data(self):
        while True:
            # skip tasks whose worker's stream has ended (an IterableDataset): they will not come
            while self._rcvd_idx < self._send_idx:
                info = self._task_info.get(self._rcvd_idx)
                if info:
                    if len(info) == 2 or self._workers_status[info[0]]:
                        break
                    del self._task_info[self._rcvd_idx]
                self._rcvd_idx += 1
            else:
                if not self._persistent_workers:
                    self._shutdown_workers()
                raise StopIteration
            if len(self._task_info[self._rcvd_idx]) == 2:  # arrived earlier, out of order
                worker_id, data = self._task_info.pop(self._rcvd_idx)
                self._rcvd_idx += 1
                return self._process_data(data, worker_id)
            idx, data = self._get_data()
            self._tasks_outstanding -= 1
            if isinstance(data, _IterableDatasetStopIteration):
                if self._persistent_workers:
                    self._workers_status[data.worker_id] = False
                else:
                    self._mark_worker_as_unavailable(data.worker_id)
                self._try_put_index()
                continue
            if idx != self._rcvd_idx:
                if not self._in_order:
                    return self._process_data(data, self._task_info.pop(idx)[0])
                self._task_info[idx] += (data,)
            else:
                worker_id = self._task_info.pop(idx)[0]
                self._rcvd_idx += 1
                return self._process_data(data, worker_id)

    def _try_put_index(self):
        max_tasks = self._prefetch_factor * self._num_workers
        try:
            index = self._next_index()
        except StopIteration:
            return
        for _ in range(self._num_workers):  # the next active worker, round robin
            worker = self._next_worker
            self._next_worker = (worker + 1) % self._num_workers
            if self._workers_status[worker] and (
                    self._in_order or self._workers_num_tasks[worker] < max_tasks // sum(self._workers_status)):
                break
        else:
            return
        self._index_queues[worker].put((self._send_idx, index))
        self._task_info[self._send_idx] = (worker,)
        self._workers_num_tasks[worker] += 1
        self._tasks_outstanding += 1
        self._send_idx += 1

    def _process_data(self, data, worker_id):
        self._workers_num_tasks[worker_id] -= 1
        self._try_put_index()
        if isinstance(data, ExceptionWrapper):
            data.reraise()
        return data

    def _mark_worker_as_unavailable(self, worker_id, shutdown=False):
        self._index_queues[worker_id].put(None)  # the worker ends its loop when it reads this
        self._workers_status[worker_id] = False

    def _shutdown_workers(self, abort=False):
        if _python_exiting[0] or self._shutdown:
            return
        self._shutdown = True
        try:
            if abort:
                return  # (the finally clause terminates them)
            if self._workers:
                self._workers_done_event.set()  # workers skip the tasks still queued
            for worker_id in range(len(self._workers)):
                if self._persistent_workers or self._workers_status[worker_id]:
                    self._mark_worker_as_unavailable(worker_id, shutdown=True)
            self._join_workers_draining(MP_STATUS_CHECK_INTERVAL)
            for q in self._index_queues:
                q.cancel_join_thread()
                q.close()
        finally:
            for w in self._workers:  # one stuck in a dataset call: end it, and reap it (no zombie)
                if w.is_alive():
                    w.terminate()
                    w.join(timeout=MP_STATUS_CHECK_INTERVAL)

    def _join_workers_draining(self, timeout):
        """Wait for the workers to end, receiving what they still send meanwhile (they flush their result queue
        before exiting)."""
        deadline = time.monotonic() + timeout
        while True:
            self._drain_results()
            alive = [w for w in self._workers if w.is_alive()]
            left = deadline - time.monotonic()
            if not alive or left <= 0:
                break
            multiprocessing.connection.wait([self._worker_result_queue._reader] + [w.sentinel for w in alive], left)
        self._drain_results()

    def _drain_results(self):
        """Receive what the workers sent and no one will read: a batch in shared memory frees its file when it is
        unpickled."""
        if not self._workers:
            return
        try:
            while self._worker_result_queue._reader.poll(0):
                self._worker_result_queue.get()
        except Exception:  # a worker killed mid-send leaves a torn message: nothing more to receive
            pass

    def __del__(self):
        self._shutdown_workers()
