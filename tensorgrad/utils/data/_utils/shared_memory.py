"""Large tensors from a worker to the main process through shared memory instead of the result pipe.

multiprocessing's queues pickle what they carry: a NumPy-backed tensor's bytes are copied into the pickle, through
the pipe and out of it again (four copies of each batch; a (32, 3, 224, 224) float32 batch took twice torch's time to
arrive, benchmarks/results/dataloader_workers.json). In a worker, tensors of at least _MIN_BYTES are instead copied
once into a file in /dev/shm and pickled as its name; the main process maps the file, unlinks it at once (the memory
lives as long as the array that maps it) and wraps the mapping without a copy. torch's workers likewise put batches
in shared memory. A result never received (the loader shut down with batches in flight) is drained on shutdown, so
its file goes too; only a worker killed between writing a file and sending its name leaves one behind.
"""
import mmap
import os
import tempfile
from multiprocessing.reduction import ForkingPickler

import numpy as np

from ....tensor import Tensor

__all__ = []

_MIN_BYTES = 1 << 16  # below this, the pipe is as fast as a file's create/map/unlink
_SHM_DIR = "/dev/shm"


def _canonical(dtype):
    # pickle rebuilds a dtype as a new object; NumPy's own keeps the fast paths that compare dtypes by identity
    # (elementwise._promote's same-dtype shortcut)
    return np.dtype(dtype.type)


def _rebuild_small(a, requires_grad):
    t = Tensor._make(a.view(_canonical(a.dtype)), None)
    return t.requires_grad_() if requires_grad else t


def _rebuild_tensor(path, dtype, shape, requires_grad):
    fd = os.open(path, os.O_RDWR)
    try:
        buf = mmap.mmap(fd, int(np.prod(shape)) * dtype.itemsize)
    finally:
        os.close(fd)
        os.unlink(path)
    t = Tensor._make(np.frombuffer(buf, dtype=_canonical(dtype)).reshape(shape), None)
    return t.requires_grad_() if requires_grad else t


def _reduce_tensor(t):
    a = t.array
    if (type(a) is not np.ndarray or a.dtype.hasobject or not a.dtype.isnative or t.grad_fn is not None
            or t.grad is not None):
        return t.__reduce_ex__(4)  # the ordinary pickle (a non-leaf is refused there, as torch refuses it)
    if a.nbytes < _MIN_BYTES:
        return _rebuild_small, (a, t.requires_grad)
    fd, path = tempfile.mkstemp(prefix="tensorgrad_dataloader_", dir=_SHM_DIR)
    try:
        os.ftruncate(fd, a.nbytes)
        with mmap.mmap(fd, a.nbytes) as buf:
            dst = np.frombuffer(buf, dtype=a.dtype).reshape(a.shape)
            np.copyto(dst, a)
            del dst  # (the mapping cannot close while an array still exports it)
    except BaseException:
        os.unlink(path)
        raise
    finally:
        os.close(fd)
    return _rebuild_tensor, (path, a.dtype, a.shape, t.requires_grad)


def install():
    """In a worker process: pickle large tensors for the result queue through shared memory (where /dev/shm
    exists; elsewhere the pipe carries them)."""
    if os.path.isdir(_SHM_DIR) and os.access(_SHM_DIR, os.W_OK):
        ForkingPickler.register(Tensor, _reduce_tensor)
