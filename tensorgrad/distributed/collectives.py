"""torch.distributed's collectives on tensorgrad Tensors: each works in place on the tensor's array (``.array``).

``async_op=True`` returns a Work (``wait()``, ``is_completed()``); otherwise the call returns once the result is in
place (None). ``src`` / ``dst`` are world ranks, as in torch. CPU tensors go over MPI, CUDA tensors over NCCL
(process_group.py says which backend carries what). A write into a tensor bumps its version counter, as any
in-place op does, so autograd notices a collective that overwrote an array saved for backward.
"""
import numpy as np

from ..autograd import version as _versions
from ..tensor import Tensor
from .process_group import GroupMember, default_group, _state
from .work import CompletedWork, as_op, ReduceOp, _RedOp

__all__ = ["all_reduce", "reduce", "broadcast", "all_gather", "all_gather_into_tensor", "reduce_scatter",
           "reduce_scatter_tensor", "barrier", "send", "recv", "all_gather_object", "broadcast_object_list",
           "gather_object", "monitored_barrier"]


def _arr(t, what):
    if not isinstance(t, Tensor):
        raise TypeError(f"{what}: expected a tensorgrad Tensor, got {type(t).__name__}")
    return t.array


def _group(group, what):
    if group is GroupMember.NON_GROUP_MEMBER:
        return None
    return default_group(group, what)


def _result(pg, work, async_op, what, tensors):
    for t in tensors:
        _versions.bump(t.array)
    if async_op:
        return work if work is not None else CompletedWork(what, tensors)
    return None


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """tensor <- op over all ranks of tensor (in place). AVG divides the sum by the group size."""
    now = _state["all_reduce_now"]
    if now is not None and group is None and tensor.__class__ is Tensor:
        a = tensor.array  # (the common case's path: MPIBackend._make_all_reduce_now says why it is short)
        if a.__class__ is np.ndarray:
            work = now(a, op, async_op)
            if work is not False:
                if tensor._own_version is not None:  # Tensor._bump, inline
                    tensor._own_version += 1
                else:
                    _versions.bump(a)
                if work is not None:
                    work._tensors = [tensor]  # (Work.result())
                return work
    a = _arr(tensor, "all_reduce")
    pg = _state["world"] if group is None else _group(group, "all_reduce")
    if pg is None:
        pg = _group(group, "all_reduce")
    if pg is None:
        return None
    if pg.size() == 1:
        return _result(pg, None, async_op, "all_reduce", ())
    work = pg.for_array(a).all_reduce(a, op if op.__class__ is _RedOp else as_op(op), async_op)
    return _result(pg, work, async_op, "all_reduce", [tensor])


def reduce(tensor, dst, op=ReduceOp.SUM, group=None, async_op=False):
    """On rank dst: tensor <- op over all ranks of tensor."""
    a = _arr(tensor, "reduce")
    pg = _group(group, "reduce")
    if pg is None:
        return None
    if pg.size() == 1:
        return _result(pg, None, async_op, "reduce", ())
    work = pg.for_array(a).reduce(a, pg.group_rank(dst), as_op(op), async_op)
    return _result(pg, work, async_op, "reduce", [tensor])


def broadcast(tensor, src, group=None, async_op=False):
    """tensor <- rank src's tensor, on every rank."""
    a = _arr(tensor, "broadcast")
    pg = _group(group, "broadcast")
    if pg is None:
        return None
    if pg.size() == 1:
        return _result(pg, None, async_op, "broadcast", ())
    work = pg.for_array(a).broadcast(a, pg.group_rank(src), async_op)
    return _result(pg, work, async_op, "broadcast", [tensor] if pg.rank() != pg.group_rank(src) else [])


def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op=False):
    """output (world_size x input's elements, rank-major: torch.cat or torch.stack layout) <- every rank's input."""
    out, a = _arr(output_tensor, "all_gather_into_tensor"), _arr(input_tensor, "all_gather_into_tensor")
    pg = _group(group, "all_gather_into_tensor")
    if pg is None:
        return None
    if out.dtype != a.dtype:
        raise TypeError(f"all_gather_into_tensor: output dtype {out.dtype} differs from input dtype {a.dtype}")
    if pg.size() == 1:
        if out.size != a.size:
            raise ValueError(f"all_gather_into_tensor: output has {out.size} elements, expected {a.size}")
        out[...] = a.reshape(out.shape)
        return _result(pg, None, async_op, "all_gather_into_tensor", [output_tensor])
    work = pg.for_array(a).all_gather_into(out, a, async_op)
    return _result(pg, work, async_op, "all_gather_into_tensor", [output_tensor])


def all_gather(tensor_list, tensor, group=None, async_op=False):
    """tensor_list[r] <- rank r's tensor (the list holds world_size tensors of tensor's shape and dtype)."""
    a = _arr(tensor, "all_gather")
    pg = _group(group, "all_gather")
    if pg is None:
        return None
    n = pg.size()
    if len(tensor_list) != n:
        raise ValueError(f"all_gather: tensor_list has {len(tensor_list)} tensors; it needs world_size ({n})")
    outs = [_arr(t, "all_gather") for t in tensor_list]
    for i, o in enumerate(outs):
        if o.size != a.size or o.dtype != a.dtype:
            raise ValueError(f"all_gather: tensor_list[{i}] has shape {tuple(o.shape)} and dtype {o.dtype}; each must match "
                             f"the input's {tuple(a.shape)} {a.dtype}")
    flat = tensor._xp.empty((n,) + tuple(a.shape), dtype=a.dtype)

    def scatter():
        for o, part in zip(outs, flat):
            o[...] = part.reshape(o.shape)

    if n == 1:
        flat[0] = a
        scatter()
        return _result(pg, None, async_op, "all_gather", tensor_list)
    work = pg.for_array(a).all_gather_into(flat, a, async_op)
    if work is None:
        scatter()
        return _result(pg, None, async_op, "all_gather", tensor_list)
    return _Then(work, scatter, tensor_list)


def reduce_scatter_tensor(output, input, op=ReduceOp.SUM, group=None, async_op=False):
    """output <- block ``rank`` of op over ranks of input (input holds world_size x output's elements)."""
    out, a = _arr(output, "reduce_scatter_tensor"), _arr(input, "reduce_scatter_tensor")
    pg = _group(group, "reduce_scatter_tensor")
    if pg is None:
        return None
    if pg.size() == 1:
        out[...] = a.reshape(out.shape)
        return _result(pg, None, async_op, "reduce_scatter_tensor", [output])
    work = pg.for_array(a).reduce_scatter_into(out, a, as_op(op), async_op)
    return _result(pg, work, async_op, "reduce_scatter_tensor", [output])


def reduce_scatter(output, input_list, op=ReduceOp.SUM, group=None, async_op=False):
    """output <- op over ranks of input_list[rank] (input_list holds world_size tensors of output's shape)."""
    out = _arr(output, "reduce_scatter")
    pg = _group(group, "reduce_scatter")
    if pg is None:
        return None
    n = pg.size()
    if len(input_list) != n:
        raise ValueError(f"reduce_scatter: input_list has {len(input_list)} tensors; it needs world_size ({n})")
    ins = [_arr(t, "reduce_scatter") for t in input_list]
    flat = output._xp.concatenate([i.reshape(-1) for i in ins])
    if n == 1:
        out[...] = flat.reshape(out.shape)
        return _result(pg, None, async_op, "reduce_scatter", [output])
    work = pg.for_array(out).reduce_scatter_into(out, flat, as_op(op), async_op, what="reduce_scatter")
    return _result(pg, work, async_op, "reduce_scatter", [output])


def barrier(group=None, async_op=False, device_ids=None):
    """Wait until every rank of the group has called barrier (politely: test and sleep, not spin)."""
    pg = _group(group, "barrier")
    if pg is None or pg.size() == 1:
        return CompletedWork("barrier") if async_op else None
    return pg.mpi.barrier(async_op)


def monitored_barrier(group=None, timeout=None, wait_all_ranks=False):
    """barrier() under the process group's watchdog (a rank that never arrives aborts the job after the timeout)."""
    return barrier(group)


def send(tensor, dst, group=None, tag=0):
    pg = default_group(group, "send")
    pg.mpi.send(_host(tensor), pg.group_rank(dst), tag)


def recv(tensor, src=None, group=None, tag=0):
    """Receive into tensor from rank src (any rank when None); returns the sender's rank."""
    pg = default_group(group, "recv")
    a = tensor.array
    h = _host(tensor)
    got = pg.mpi.recv(h, None if src is None else pg.group_rank(src), tag)
    if h is not a:
        a.set(h)
    _versions.bump(a)
    return pg.ranks[got]


def all_gather_object(object_list, obj, group=None):
    """object_list[r] <- rank r's obj (pickled)."""
    pg = _group(group, "all_gather_object")
    if pg is None:
        return
    got = pg.mpi.all_gather_object(obj) if pg.size() > 1 else [obj]
    object_list[:len(got)] = got


def broadcast_object_list(object_list, src=0, group=None, device=None):
    """object_list's items <- rank src's (pickled)."""
    pg = _group(group, "broadcast_object_list")
    if pg is None or pg.size() == 1:
        return
    got = pg.mpi.broadcast_object(list(object_list), pg.group_rank(src))
    object_list[:] = got


def gather_object(obj, object_gather_list=None, dst=0, group=None):
    """On rank dst, object_gather_list[r] <- rank r's obj."""
    pg = _group(group, "gather_object")
    if pg is None:
        return
    got = pg.mpi.gather_object(obj, pg.group_rank(dst)) if pg.size() > 1 else [obj]
    if got is not None and object_gather_list is not None:
        object_gather_list[:len(got)] = got


def _host(tensor):
    a = tensor.array
    return a if isinstance(a, np.ndarray) else a.get()


class _Then:
    """A Work whose result still needs a host-side step (all_gather's copy into the list) after completion."""

    def __init__(self, work, then, tensors):
        self._work, self._then, self._tensors = work, then, tensors

    def wait(self, timeout=None):
        self._work.wait(timeout)
        if self._then is not None:
            f, self._then = self._then, None
            f()
            for t in self._tensors:
                _versions.bump(t.array)
        return True

    def is_completed(self):
        if self._work.is_completed():
            self.wait()
            return True
        return False

    def result(self):
        self.wait()
        return self._tensors
