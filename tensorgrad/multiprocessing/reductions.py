"""Tensors pickled by multiprocessing (a spawned child's arguments, Queue, Pipe, Pool) go by reference to shared
memory, as torch.multiprocessing sends them: the sender's tensor is first moved into shared memory in place
(Tensor.share_memory_, a no-op when it is there already), then only its segment's handle (a descriptor or a name,
tensorgrad.backend.shared_memory) and its geometry (dtype, shape, strides, byte offset) and requires_grad travel;
the receiver maps the same memory, so a write on either side is seen by both. `.grad` does not travel (torch's
reduction drops it too). Ordinary pickle.dumps, copy.deepcopy and tensorgrad.save still copy the values: only
multiprocessing's ForkingPickler has these reducers (init_reductions, run when tensorgrad.multiprocessing is
imported; a receiving process imports this module when it unpickles the first tensor).
"""
from multiprocessing.reduction import ForkingPickler, DupFd

import numpy as np

from ..tensor import Tensor
from ..nn.module import Parameter
from ..nn.buffer import Buffer
from ..backend.shared_memory import attach_fd, attach_name, segment_of

__all__ = ["reduce_tensor", "rebuild_tensor", "init_reductions"]


def rebuild_tensor(cls, handle, nbytes, dtype, shape, strides, offset, requires_grad):
    kind, h = handle
    if kind == "fd":
        try:
            fd = h.detach()
        except (OSError, EOFError) as e:
            raise RuntimeError(f"tensorgrad.multiprocessing: could not receive a shared tensor's memory "
                               f"({type(e).__name__}: {e}): the process that sent it has most likely ended before "
                               "this one received it. As in torch, the sender must stay alive until the tensor is "
                               "received") from e
        seg = attach_fd(fd, nbytes)
    else:
        seg = attach_name(h, nbytes)
    # pickle makes a new dtype object; NumPy's own keeps the fast paths that compare dtypes by identity
    # (elementwise._promote's same-dtype shortcut)
    arr = np.ndarray(shape, np.dtype(dtype.type), buffer=seg, offset=offset, strides=strides)
    t = Tensor._make(arr, None)
    if cls is Parameter:
        return Parameter(t, requires_grad=requires_grad)
    if cls is Buffer:
        t = Buffer(t)
    return t.requires_grad_() if requires_grad else t


def reduce_tensor(t):
    if t.requires_grad and t.grad_fn is not None:
        raise RuntimeError("Cowardly refusing to serialize non-leaf tensor which requires_grad, since autograd does "
                           "not support crossing process boundaries.  If you just want to transfer the data, call "
                           "detach() on the tensor before serializing (e.g., putting it on the queue).")
    if t.device.type != "cpu":
        raise RuntimeError(f"tensorgrad.multiprocessing: cannot share a tensor on {t.device} between processes "
                           "(torch uses CUDA IPC, which tensorgrad does not have); send t.cpu() and move it to the "
                           "device in the receiving process")
    t.share_memory_()
    seg, offset = segment_of(t.array)
    handle = ("fd", DupFd(seg.fd)) if seg.fd >= 0 else ("name", seg.name)
    a = t.array
    return rebuild_tensor, (type(t), handle, seg.nbytes, a.dtype, tuple(a.shape), a.strides, offset,
                            t.requires_grad)


def init_reductions():
    for cls in (Tensor, Parameter, Buffer):
        ForkingPickler.register(cls, reduce_tensor)
