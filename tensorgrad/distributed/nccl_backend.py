"""Collectives on CuPy arrays over NCCL (cupy.cuda.nccl): the CUDA backend ("nccl"), one GPU per process.

The communicator is made on the first CUDA collective (as torch does), on the current device (call
``tensorgrad.cuda.set_device(local_rank)`` first, as with torch): rank 0's ncclUniqueId travels to the others over
the MPI communicator that bootstraps every process group. Collectives run on a stream of the backend's own that
first waits for the current stream (so the tensors' producers have finished); a blocking call makes the current
stream wait for it (the host does not block, as in torch); ``async_op=True`` returns a Work whose wait() does that
and whose is_completed() queries the CUDA event. Arrays are used in place when C-contiguous, else through a
contiguous copy written back on the same stream. NCCL's own AVG is used where NCCL has it (>= 2.10).
"""
import numpy as np

from .. import dtypes
from .work import ReduceOp, Work

__all__ = ["NCCLBackend"]


class NCCLBackend:
    name = "nccl"

    def __init__(self, mpi_backend):
        import cupy  # noqa: F401 - not a tensorgrad module: CUDA is optional
        from cupy.cuda import nccl
        self.cp, self.nccl = cupy, nccl
        self.mpi = mpi_backend
        self.rank, self.size = mpi_backend.rank, mpi_backend.size
        self.device = cupy.cuda.Device()  # the current one
        uid = nccl.get_unique_id() if self.rank == 0 else None
        uid = mpi_backend.broadcast_object(uid, 0)
        with self.device:
            self.comm = nccl.NcclCommunicator(self.size, uid, self.rank)
            self.stream = cupy.cuda.Stream(non_blocking=True)
        n = nccl
        self._types = {np.dtype(np.int8): n.NCCL_INT8, np.dtype(np.uint8): n.NCCL_UINT8,
                       np.dtype(np.bool_): n.NCCL_UINT8, np.dtype(np.int32): n.NCCL_INT32,
                       np.dtype(np.uint32): n.NCCL_UINT32, np.dtype(np.int64): n.NCCL_INT64,
                       np.dtype(np.uint64): n.NCCL_UINT64, np.dtype(np.float16): n.NCCL_FLOAT16,
                       np.dtype(np.float32): n.NCCL_FLOAT32, np.dtype(np.float64): n.NCCL_FLOAT64,
                       np.dtype(dtypes.bfloat16): getattr(n, "NCCL_BFLOAT16", 9)}
        self._avg = getattr(n, "NCCL_AVG", None)
        self._ops = {ReduceOp.SUM: n.NCCL_SUM, ReduceOp.PRODUCT: n.NCCL_PROD, ReduceOp.MIN: n.NCCL_MIN,
                     ReduceOp.MAX: n.NCCL_MAX}

    def _op(self, op, dtype):
        if op is ReduceOp.AVG:
            return (self._avg, False) if self._avg is not None and dtype.kind == "f" else (self.nccl.NCCL_SUM, True)
        if op not in self._ops:
            raise ValueError(f"nccl: ReduceOp.{op.name} is not supported by NCCL")
        if dtype == np.bool_:
            return {ReduceOp.SUM: self.nccl.NCCL_MAX, ReduceOp.PRODUCT: self.nccl.NCCL_MIN}.get(op, self._ops[op]), False
        return self._ops[op], False

    def _type(self, a):
        t = self._types.get(np.dtype(a.dtype))
        if t is None:
            raise TypeError(f"nccl: dtype {a.dtype} is not supported")
        return t

    def _run(self, what, async_op, arrays, launch):
        """launch(stream) on the backend's stream after the current stream's work; sync or a Work."""
        cp = self.cp
        current = cp.cuda.get_current_stream()
        ready = cp.cuda.Event(disable_timing=True)
        ready.record(current)
        self.stream.wait_event(ready)
        with self.device, self.stream:  # staging copies are made and freed in the stream's order
            temps = launch(self.stream)
        done = cp.cuda.Event(disable_timing=True)
        done.record(self.stream)
        if not async_op:
            current.wait_event(done)
            return None

        def block():
            cp.cuda.get_current_stream().wait_event(done)
        keep = list(arrays) + list(temps or ())  # alive until the collective is done with them (the caching allocator reuses memory)
        return Work(what, lambda: done.done, block, lambda: keep.clear(), self.mpi.watchdog)

    @staticmethod
    def _contig(cp, a):
        return (a, None) if a.flags.c_contiguous else (cp.ascontiguousarray(a), a)

    def _finish(self, buf, orig, divide):
        """After a reduction into buf: AVG as SUM / size (NCCL has no average for every dtype), then the result
        copied back into the caller's non-contiguous array if buf was a contiguous copy of it."""
        if divide:
            buf[...] = buf / self.size if buf.dtype.kind == "f" else buf // self.size
        if orig is not None:
            orig[...] = buf

    # ----------------------------------------------------------------------------------------- collectives
    def all_reduce(self, a, op, async_op, what="all_reduce"):
        cp = self.cp
        nop, divide = self._op(op, np.dtype(a.dtype))

        def launch(s):
            buf, orig = self._contig(cp, a)
            self.comm.allReduce(buf.data.ptr, buf.data.ptr, buf.size, self._type(buf), nop, s.ptr)
            self._finish(buf, orig, divide)
            return [buf]
        return self._run(what, async_op, [a], launch)

    def reduce(self, a, dst, op, async_op, what="reduce"):
        cp = self.cp
        nop, divide = self._op(op, np.dtype(a.dtype))

        def launch(s):
            buf, orig = self._contig(cp, a)
            self.comm.reduce(buf.data.ptr, buf.data.ptr, buf.size, self._type(buf), nop, dst, s.ptr)
            if self.rank == dst:
                self._finish(buf, orig, divide)
            return [buf]
        return self._run(what, async_op, [a], launch)

    def broadcast(self, a, src, async_op, what="broadcast"):
        cp = self.cp

        def launch(s):
            buf, orig = self._contig(cp, a)
            self.comm.bcast(buf.data.ptr, buf.size, self._type(buf), src, s.ptr)
            if orig is not None and self.rank != src:
                orig[...] = buf
            return [buf]
        return self._run(what, async_op, [a], launch)

    def all_gather_into(self, out, a, async_op, what="all_gather_into_tensor"):
        cp = self.cp
        if out.size != a.size * self.size:
            raise ValueError(f"{what}: the output has {out.size} elements; it needs world_size ({self.size}) x the "
                             f"input's {a.size}")

        def launch(s):
            sbuf, _ = self._contig(cp, a)
            rbuf, orig = self._contig(cp, out)
            self.comm.allGather(sbuf.data.ptr, rbuf.data.ptr, sbuf.size, self._type(sbuf), s.ptr)
            if orig is not None:
                orig[...] = rbuf.reshape(orig.shape)
            return [sbuf, rbuf]
        return self._run(what, async_op, [a, out], launch)

    def reduce_scatter_into(self, out, a, op, async_op, what="reduce_scatter_tensor"):
        cp = self.cp
        if a.size != out.size * self.size:
            raise ValueError(f"{what}: the input has {a.size} elements; it needs world_size ({self.size}) x the "
                             f"output's {out.size}")
        nop, divide = self._op(op, np.dtype(a.dtype))

        def launch(s):
            sbuf, _ = self._contig(cp, a)
            rbuf, orig = self._contig(cp, out)
            self.comm.reduceScatter(sbuf.data.ptr, rbuf.data.ptr, rbuf.size, self._type(rbuf), nop, s.ptr)
            self._finish(rbuf, orig, divide)
            return [sbuf, rbuf]
        return self._run(what, async_op, [a, out], launch)

    def poke(self):
        pass

    def close(self):
        try:
            self.comm.destroy()
        except Exception:  # noqa: BLE001 - best effort at shutdown
            pass
