"""Collectives on NumPy arrays over MPI (mpi4py): the CPU backend ("mpi"; "gloo" is accepted and means this).

Every collective works in place on the tensor's own array when it is C-contiguous and of a type MPI reduces
natively (float32/64, integers, bool); otherwise (a strided view, float16 / bfloat16) it goes through a contiguous
staging copy (half precision reduced in float32, then rounded once) and the result is copied back. Nonblocking
calls (MPI_Iallreduce, Ibcast, Iallgather, Ireduce_scatter_block) back ``async_op=True``; the blocking calls back
the synchronous ones, so that all_reduce costs what ``comm.Allreduce`` costs.

Progress: MPI moves a nonblocking collective's data only inside MPI calls (no progress thread unless MPICH is
started with MPIR_CVAR_ASYNC_PROGRESS=1), so DistributedDataParallel pokes outstanding requests (``poke``) from
its gradient hooks while backward runs, and barrier() waits politely (test, then sleep) rather than spinning.
"""
import ctypes
import os
import time

import numpy as np

_monotonic = time.monotonic

from .. import dtypes
from ..tensor import internal_overlap
from ..backend import host as _host  # (its .cpu: the compiled kernels, None without them)
from .work import ReduceOp, Work, CompletedWork

__all__ = ["MPIBackend"]

_HALF = (np.dtype(np.float16), np.dtype(dtypes.bfloat16))
_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)  # (NumPy's builtin dtypes are singletons: `is` holds)


class MPIBackend:
    name = "mpi"

    def __init__(self, comm, MPI, watchdog=None):
        self.comm, self.MPI, self.watchdog = comm, MPI, watchdog
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self._inflight = []
        self._in_place = MPI.IN_PLACE
        self._ops = {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.PRODUCT: MPI.PROD,
                     ReduceOp.MIN: MPI.MIN, ReduceOp.MAX: MPI.MAX, ReduceOp.BAND: MPI.BAND, ReduceOp.BOR: MPI.BOR,
                     ReduceOp.BXOR: MPI.BXOR}
        self.all_reduce_now = self._make_all_reduce_now(MPI)
        self._bool_ops = {ReduceOp.SUM: MPI.LOR, ReduceOp.MAX: MPI.LOR, ReduceOp.BOR: MPI.LOR,
                          ReduceOp.PRODUCT: MPI.LAND, ReduceOp.MIN: MPI.LAND, ReduceOp.BAND: MPI.LAND,
                          ReduceOp.BXOR: MPI.LXOR}

    # ----------------------------------------------------------------------------------------- helpers
    def _mpi_op(self, op, dtype):
        if dtype == np.bool_:
            if op is ReduceOp.AVG:
                raise ValueError("all_reduce: ReduceOp.AVG is not defined for bool tensors")
            return self._bool_ops[op]
        if op in (ReduceOp.BAND, ReduceOp.BOR, ReduceOp.BXOR) and dtype.kind not in "iu":
            raise ValueError(f"all_reduce: ReduceOp.{op.name} needs an integer tensor, got {dtype}")
        return self._ops[op]

    @staticmethod
    def _writable(a, what):
        if internal_overlap(a) or not a.flags.writeable:
            raise RuntimeError(f"{what}: the tensor (shape {tuple(a.shape)}) is read-only or an expanded view, where more than "
                               "one element refers to a single memory location; clone() it first")

    @staticmethod
    def _staged(a, reduce):
        """(buffer MPI can use, copy-back or None): the array itself, or a contiguous (float32 for halves) copy."""
        if reduce and a.dtype in _HALF:
            return np.ascontiguousarray(a, dtype=np.float32), lambda buf: np.copyto(a, buf, casting="unsafe")
        if a.dtype in _HALF:  # moved, not reduced: the bits travel as uint16
            if a.flags.c_contiguous:
                return a.view(np.uint16), None
            buf = np.ascontiguousarray(a).view(np.uint16)
            return buf, lambda b: np.copyto(a, b.view(a.dtype))
        if a.flags.c_contiguous:
            return a, None
        return np.ascontiguousarray(a), lambda buf: np.copyto(a, buf)

    def _work(self, what, issue, finish, tensors=()):
        """The Work of the nonblocking collective ``issue()`` starts. Everything is built before it starts: MPI moves
        its data only inside MPI calls, so Python run between the start and wait() delays the whole collective
        (a 1 MB Iallreduce on two local ranks: 2 us of Python there cost 25 us)."""
        inflight, box = self._inflight, []

        def done():
            if box and box[0] in inflight:
                inflight.remove(box[0])
            if finish is not None:
                finish()
        work = Work(what, None, None, done, self.watchdog, tensors)
        req = issue()
        box.append(req)
        inflight.append(req)
        work._test, work._block = req.Test, req.Wait
        return work

    def _blocking(self, what, call):
        wd = self.watchdog
        key = wd.start(what) if wd is not None else None
        try:
            call()
        finally:
            if wd is not None:
                wd.done(key)

    def poke(self):
        """Progress the nonblocking collectives in flight (MPI moves their data only inside MPI calls)."""
        if self._inflight:
            self.MPI.Request.Testall(self._inflight)

    # ----------------------------------------------------------------------------------------- collectives
    def _make_all_reduce_now(self, MPI):
        """all_reduce_now(a, op, async_op): the common case, a SUM or AVG of a C-contiguous float32/64 array (a
        gradient, a loss), in as few Python steps as possible: MPI_Allreduce (or MPI_Iallreduce and a _RequestWork)
        in place on the array itself, with everything it reads bound in this closure. A 4 KB all_reduce takes about
        4 us on two local ranks, and after a step has written a few MB the interpreter runs from cold caches: each
        step here shows. Returns False where a is not that case (all_reduce takes it), else None or the Work."""
        allreduce, iallreduce = self.comm.Allreduce, self.comm.Iallreduce
        in_place, mpi_sum, f32, f64 = MPI.IN_PLACE, MPI.SUM, MPI.FLOAT, MPI.DOUBLE
        wd, size, monotonic = self.watchdog, self.size, _monotonic
        SUM, AVG, F32, F64 = ReduceOp.SUM, ReduceOp.AVG, _F32, _F64
        self.direct = direct = _direct_allreduce(self.comm, MPI)
        if direct is not None:
            return self._make_all_reduce_direct(MPI, direct)

        def all_reduce_now(a, op, async_op):
            dt = a.dtype
            mt = f32 if dt is F32 else f64 if dt is F64 else None
            if mt is None or (op is not SUM and op is not AVG) or (a.ndim > 1 and not a.flags.c_contiguous):
                return False
            if async_op:
                try:
                    req = iallreduce(in_place, [a, mt], mpi_sum)
                except (BufferError, ValueError):  # a read-only array: the general path refuses it by name
                    return False
                return _RequestWork(req, a, size if op is AVG else 0, wd)
            if wd is not None:
                wd.blocking_since = monotonic()
                wd.blocking = "all_reduce"
            try:
                allreduce(in_place, [a, mt], mpi_sum)
            except (BufferError, ValueError):
                return False
            finally:
                if wd is not None:
                    wd.blocking = None
            if op is AVG:
                a /= size
            return None
        return all_reduce_now

    def _make_all_reduce_direct(self, MPI, direct):
        """all_reduce_now through _C.MpiAllreduce (_direct_allreduce): the same MPI calls without mpi4py's
        buffer parsing; it checks dtype, layout and writability itself (-1: not its case)."""
        call, start, MPIException = direct, direct.start, MPI.Exception
        wd, size, monotonic = self.watchdog, self.size, _monotonic
        SUM, AVG = ReduceOp.SUM, ReduceOp.AVG

        def all_reduce_now(a, op, async_op):
            if op is not SUM and op is not AVG:
                return False
            if async_op:
                rc, handle = start(a)
                if rc:
                    if rc == -1:
                        return False
                    raise MPIException(rc)
                return _DirectRequestWork(direct, MPIException, handle, a, size if op is AVG else 0, wd)
            if wd is not None:
                wd.blocking_since = monotonic()
                wd.blocking = "all_reduce"
                try:
                    rc = call(a)
                finally:
                    wd.blocking = None
            else:
                rc = call(a)
            if rc:
                if rc == -1:
                    return False
                raise MPIException(rc)
            if op is AVG:
                a /= size
            return None
        return all_reduce_now

    def all_reduce(self, a, op, async_op, what="all_reduce"):
        self._writable(a, what)
        mpi_op = self._mpi_op(op, a.dtype)
        buf, back = self._staged(a, reduce=True)
        n = self.size

        def finish():
            if op is ReduceOp.AVG:
                if buf.dtype.kind == "f" or buf.dtype.kind == "c":
                    buf[...] /= n
                else:
                    buf[...] //= n
            if back is not None:
                back(buf)

        if async_op:
            return self._work(what, lambda: self.comm.Iallreduce(self.MPI.IN_PLACE, buf, mpi_op), finish)
        self._blocking(what, lambda: self.comm.Allreduce(self.MPI.IN_PLACE, buf, mpi_op))
        finish()
        return None

    def reduce(self, a, dst, op, async_op, what="reduce"):
        self._writable(a, what)
        mpi_op = self._mpi_op(op, a.dtype)
        buf, back = self._staged(a, reduce=True)
        root = self.rank == dst
        n = self.size

        def finish():
            if root:
                if op is ReduceOp.AVG:
                    buf[...] = buf / n if buf.dtype.kind in "fc" else buf // n
                if back is not None:
                    back(buf)

        send = self.MPI.IN_PLACE if root else buf
        recv = buf if root else None
        if async_op:
            return self._work(what, lambda: self.comm.Ireduce(send, recv, mpi_op, root=dst), finish)
        self._blocking(what, lambda: self.comm.Reduce(send, recv, mpi_op, root=dst))
        finish()

    def broadcast(self, a, src, async_op, what="broadcast"):
        if self.rank != src:
            self._writable(a, what)
        buf, back = self._staged(a, reduce=False)
        finish = (lambda: back(buf)) if back is not None and self.rank != src else None
        if async_op:
            return self._work(what, lambda: self.comm.Ibcast(buf, root=src), finish)
        self._blocking(what, lambda: self.comm.Bcast(buf, root=src))
        if finish is not None:
            finish()

    def all_gather_into(self, out, a, async_op, what="all_gather_into_tensor"):
        """out (world_size * a.size elements, rank-major) <- every rank's a."""
        if out.size != a.size * self.size:
            raise ValueError(f"{what}: the output has {out.size} elements; it needs world_size ({self.size}) x the "
                             f"input's {a.size}")
        self._writable(out, what)
        sbuf, _ = self._staged(a, reduce=False)
        rbuf, back = self._staged(out, reduce=False)
        finish = (lambda: back(rbuf)) if back is not None else None
        if async_op:
            return self._work(what, lambda: self.comm.Iallgather(sbuf, rbuf), finish)
        self._blocking(what, lambda: self.comm.Allgather(sbuf, rbuf))
        if finish is not None:
            finish()

    def reduce_scatter_into(self, out, a, op, async_op, what="reduce_scatter_tensor"):
        """out <- block rank of the reduction over ranks of a (world_size * out.size elements, rank-major)."""
        if a.size != out.size * self.size:
            raise ValueError(f"{what}: the input has {a.size} elements; it needs world_size ({self.size}) x the "
                             f"output's {out.size}")
        self._writable(out, what)
        mpi_op = self._mpi_op(op, a.dtype)
        sbuf, _ = self._staged(a, reduce=True)
        rbuf, back = self._staged(out, reduce=True)
        n = self.size

        def finish():
            if op is ReduceOp.AVG:
                rbuf[...] = rbuf / n if rbuf.dtype.kind in "fc" else rbuf // n
            if back is not None:
                back(rbuf)

        if async_op:
            return self._work(what, lambda: self.comm.Ireduce_scatter_block(sbuf, rbuf, mpi_op), finish)
        self._blocking(what, lambda: self.comm.Reduce_scatter_block(sbuf, rbuf, mpi_op))
        finish()

    def barrier(self, async_op=False):
        req = self.comm.Ibarrier()
        if async_op:
            return self._work("barrier", lambda: req, None)
        wd = self.watchdog
        key = wd.start("barrier") if wd is not None else None
        try:  # politely: rank 0 may be evaluating or writing a checkpoint while the others wait here
            delay = 0.0
            while not req.Test():
                if delay:
                    time.sleep(delay)
                delay = min(2 * delay or 1e-5, 2e-3)
        finally:
            if wd is not None:
                wd.done(key)

    def send(self, a, dst, tag=0):
        buf, _ = self._staged(a, reduce=False)
        self._blocking("send", lambda: self.comm.Send(buf, dest=dst, tag=tag))

    def recv(self, a, src, tag=0):
        self._writable(a, "recv")
        buf, back = self._staged(a, reduce=False)
        status = self.MPI.Status()
        src_ = self.MPI.ANY_SOURCE if src is None else src
        self._blocking("recv", lambda: self.comm.Recv(buf, source=src_, tag=tag, status=status))
        if back is not None:
            back(buf)
        return status.Get_source()

    # ----------------------------------------------------------------------------------------- objects
    def all_gather_object(self, obj):
        return self.comm.allgather(obj)

    def broadcast_object(self, obj, src):
        return self.comm.bcast(obj, root=src)

    def gather_object(self, obj, dst):
        return self.comm.gather(obj, root=dst)

    def abort(self, code=1):
        self.comm.Abort(code)

    def completed(self, what="collective"):
        return CompletedWork(what)


def _direct_allreduce(comm, MPI):
    """A _C.MpiAllreduce bound to comm: MPI_Allreduce / MPI_Iallreduce of the one MPI library loaded in this
    process (the one mpi4py uses; found in /proc/self/maps), with mpi4py's handles for comm, FLOAT, DOUBLE, SUM
    and IN_PLACE. At 4 KB on two local ranks mpi4py's Allreduce spends ~0.5 us of ~4 us parsing its arguments,
    and tensorgrad's checks came on top; this call does both in C. None (mpi4py's calls are used) without the
    compiled kernels, with TENSORGRAD_MPI_DIRECT=0, with several or no MPI libraries loaded, with handles of an
    unknown width, or when a first all-reduce of the rank count through it comes out wrong."""
    direct = None
    if os.environ.get("TENSORGRAD_MPI_DIRECT", "1") != "0" and _host.cpu is not None:
        try:
            _C, _loaded_libraries = _host.cpu._C, _host._loaded_libraries
            handle_bytes = MPI._sizeof(MPI.Comm)
            found = [lib for lib in (ctypes.CDLL(p) for p in _loaded_libraries()
                                     if os.path.basename(p).startswith("libmpi"))
                     if all(hasattr(lib, f) for f in ("MPI_Allreduce", "MPI_Iallreduce", "MPI_Wait", "MPI_Test"))]
            if len(found) == 1 and handle_bytes in (4, 8):
                bits = 8 * handle_bytes

                def handle(obj):  # mpi4py gives handles unsigned (a dup'd MPICH comm: 0xFFFFFFFF84000000)
                    h = MPI._handleof(obj) & ((1 << bits) - 1)
                    return h - (1 << bits) if h >> (bits - 1) else h
                addr = lambda f: ctypes.cast(f, ctypes.c_void_p).value  # noqa: E731
                lib = found[0]
                direct = _C.MpiAllreduce(addr(lib.MPI_Allreduce), addr(lib.MPI_Iallreduce), addr(lib.MPI_Wait),
                                         addr(lib.MPI_Test), handle(comm), handle(MPI.FLOAT), handle(MPI.DOUBLE),
                                         handle(MPI.SUM), int(MPI.IN_PLACE), handle_bytes)
        except Exception:  # (ImportError, OSError, AttributeError...): mpi4py's calls are always there
            direct = None
    # all ranks decide together: the probe is a collective, and a rank left out of it would hang the others
    if comm.allreduce(int(direct is not None), op=MPI.MIN) == 0:
        return None
    probe = np.ones(1, np.float64)
    ok = direct(probe) == 0 and probe[0] == comm.Get_size()
    return direct if comm.allreduce(int(ok), op=MPI.MIN) == 1 else None


class _RequestWork(Work):
    """The Work of all_reduce_now's MPI_Iallreduce, as short as the call: the watchdog watches wait(), where the
    process blocks, rather than the time in flight; AVG divides once the sum is in."""
    _what, _done, _tensors = "all_reduce", False, ()  # (class defaults: one Work per gradient bucket and step)

    def __init__(self, req, a, divide_by, watchdog):
        self._req, self._a, self._divide_by, self._wd = req, a, divide_by, watchdog

    def _test(self):
        return self._req.Test()

    def _wait_request(self):
        self._req.Wait()

    def _complete(self):
        self._done = True
        if self._divide_by:
            self._a /= self._divide_by

    def wait(self, timeout=None):
        if self._done:
            return True
        if timeout is not None:
            return Work.wait(self, timeout)
        wd = self._wd
        if wd is not None:
            wd.blocking_since = _monotonic()
            wd.blocking = "all_reduce (wait)"
        try:
            self._wait_request()
        finally:
            if wd is not None:
                wd.blocking = None
        self._complete()
        return True


class _DirectRequestWork(_RequestWork):
    """_RequestWork of a request _C.MpiAllreduce.start gave (an integer handle), waited and tested through it."""

    def __init__(self, direct, error, req, a, divide_by, watchdog):
        self._direct, self._error, self._req, self._a, self._divide_by, self._wd = (
            direct, error, req, a, divide_by, watchdog)

    def _test(self):
        rc, done = self._direct.test(self._req)
        if rc:
            raise self._error(rc)
        return done

    def _wait_request(self):
        rc = self._direct.wait(self._req)
        if rc:
            raise self._error(rc)
