"""Host memory that other processes can map: what Tensor.share_memory_ moves a tensor's data into, and what
tensorgrad.multiprocessing sends by reference (torch's two sharing strategies).

- "file_descriptor" (the default, as torch's on Linux): an unnamed file (memfd, else a /dev/shm file unlinked at
  once) kept open by every process that maps it. It is sent as its descriptor (SCM_RIGHTS, or the descriptor list a
  spawned child inherits), so no name ever exists to leak: the kernel frees the memory when the last mapping and
  descriptor close, a killed process included. Costs one open descriptor per shared array per process.
- "file_system": a named file in /dev/shm, sent by name; receivers map it and close it, so no descriptor is kept.
  The creating process unlinks it when its last array over it is collected (or at exit), and registers it with
  multiprocessing's resource tracker, which unlinks it should the creator be killed. A receiver never unlinks. As in
  torch without its shm manager, a name still in flight when the creator frees the array can no longer be opened.

A Segment is an mmap.mmap, so an array over it keeps it alive through NumPy's base chain, and segment_of finds it
back from any view.
"""
import itertools
import mmap
import os
import secrets
import tempfile
import weakref
from multiprocessing import resource_tracker, util

import numpy as np

__all__ = ["Segment", "new_segment", "attach_fd", "attach_name", "segment_of", "get_sharing_strategy",
           "set_sharing_strategy", "get_all_sharing_strategies"]

_SHM_DIR = "/dev/shm"
_STRATEGIES = ("file_descriptor", "file_system")
_state = {"strategy": "file_descriptor"}
_counter = itertools.count()
# (st_dev, st_ino) or name -> the Segment this process maps for it: a segment received twice (or sent back to its
# creator) maps once, so every array over it shares one mapping
_mapped = weakref.WeakValueDictionary()


class Segment(mmap.mmap):
    """One shared mapping: ``fd`` (file_descriptor; -1 otherwise), ``name`` (file_system; None otherwise),
    ``address`` of its first byte, and ``key`` under which this process finds it again."""


def _close_fd(fd):
    try:
        os.close(fd)
    except OSError:
        pass


def _unlink(name):
    try:
        os.unlink(os.path.join(_SHM_DIR, name))
    except FileNotFoundError:
        pass
    try:
        resource_tracker.unregister("/" + name, "shared_memory")
    except Exception:  # noqa: BLE001 - at interpreter exit the tracker may be gone; the name is unlinked already
        pass


def _map(fd, nbytes, fd_kept, name, owner):
    seg = Segment(fd, max(nbytes, 1))
    seg.fd, seg.name, seg.nbytes = (fd if fd_kept else -1), name, nbytes
    seg.address = np.frombuffer(seg, np.uint8, count=1).__array_interface__["data"][0]
    st = os.fstat(fd)
    seg.key = name if name is not None else (st.st_dev, st.st_ino)
    if fd_kept:
        weakref.finalize(seg, _close_fd, fd)
    if owner:
        # multiprocessing's finalizer, not weakref's: it also runs when a multiprocessing child ends (os._exit skips
        # atexit), and never in a forked child, which inherits the registration but not the ownership
        util.Finalize(seg, _unlink, (name,), exitpriority=0)
    _mapped[seg.key] = seg
    return seg


def _unnamed_fd():
    if hasattr(os, "memfd_create"):
        return os.memfd_create("tensorgrad_shared", os.MFD_CLOEXEC)
    where = _SHM_DIR if os.path.isdir(_SHM_DIR) else None
    fd, path = tempfile.mkstemp(prefix="tensorgrad_shared_", dir=where)
    os.unlink(path)
    return fd


def new_segment(nbytes, strategy=None):
    """A fresh zeroed Segment of nbytes, of the given (else the current) sharing strategy."""
    strategy = strategy or _state["strategy"]
    if strategy == "file_system":
        name = f"tensorgrad_{os.getpid()}_{next(_counter)}_{secrets.token_hex(4)}"
        fd = os.open(os.path.join(_SHM_DIR, name), os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            resource_tracker.register("/" + name, "shared_memory")
            os.ftruncate(fd, max(nbytes, 1))
            return _map(fd, nbytes, False, name, True)
        except BaseException:
            _unlink(name)
            raise
        finally:
            os.close(fd)
    fd = _unnamed_fd()
    try:
        os.ftruncate(fd, max(nbytes, 1))
        return _map(fd, nbytes, True, None, False)
    except BaseException:
        os.close(fd)
        raise


def attach_fd(fd, nbytes):
    """The Segment of a received descriptor (which this process now owns: kept, or closed when the segment is
    already mapped here under another descriptor)."""
    st = os.fstat(fd)
    seg = _mapped.get((st.st_dev, st.st_ino))
    if seg is not None:
        if fd != seg.fd:  # (a spawned child inherits the very descriptor number twice for two arrays of one segment)
            os.close(fd)
        return seg
    return _map(fd, nbytes, True, None, False)


def attach_name(name, nbytes):
    """The Segment of a received file_system name (mapped, its descriptor closed; never unlinked here)."""
    seg = _mapped.get(name)
    if seg is not None:
        return seg
    try:
        fd = os.open(os.path.join(_SHM_DIR, name), os.O_RDWR)
    except FileNotFoundError:
        raise RuntimeError(f"shared memory {name!r} (sharing strategy 'file_system') no longer exists: the process "
                           "that created it freed the tensor before this one received it; keep the tensor alive "
                           "in the sender until it has arrived") from None
    try:
        return _map(fd, nbytes, False, name, False)
    finally:
        os.close(fd)


def segment_of(a):
    """(Segment, byte offset of a's first element in it) when the NumPy array a lies in a Segment, else None."""
    b = a
    while isinstance(b, np.ndarray) and b.base is not None:
        b = b.base
    if isinstance(b, memoryview):
        b = b.obj
    if not isinstance(b, Segment):
        return None
    return b, a.__array_interface__["data"][0] - b.address


def get_all_sharing_strategies():
    return set(_STRATEGIES)


def get_sharing_strategy():
    return _state["strategy"]


def set_sharing_strategy(new_strategy):
    if new_strategy not in _STRATEGIES:
        raise ValueError(f"set_sharing_strategy: unknown strategy {new_strategy!r}; expected one of "
                         f"{sorted(_STRATEGIES)}")
    _state["strategy"] = new_strategy
