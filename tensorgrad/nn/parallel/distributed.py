"""DistributedDataParallel: one model replica per process, gradients averaged over the processes as backward runs.

PyTorch's design (its Reducer), on tensorgrad's engine:
- at construction, rank 0's parameters and buffers are broadcast (every replica starts equal; shapes are checked
  across ranks first);
- the parameters that need grad are put in buckets in reverse registration order (roughly the order backward
  produces their gradients), each up to ``bucket_cap_mb`` (the first one 1 MB, as torch, so that communication
  starts early), one dtype and device per bucket, with a flat buffer each;
- a post-accumulate-grad hook on every parameter (Tensor.register_post_accumulate_grad_hook) marks it ready; when
  every parameter of the next bucket is ready, its gradients are copied into the bucket's buffer, divided by the
  world size and all-reduced asynchronously (MPI_Iallreduce / NCCL) while backward goes on; buckets are launched
  strictly in order, so every rank issues the same collectives in the same order;
- a callback queued on the engine (engine.queue_callback) runs when the backward ends: it waits for the buckets
  and copies the averaged gradients back into ``.grad`` (or makes ``.grad`` a view of the bucket with
  gradient_as_bucket_view=True, saving that copy on later steps);
- ``no_sync()`` / ``require_backward_grad_sync = False`` (nanoGPT's spelling) skip all of it: gradients accumulate
  locally and the next synchronised backward averages the accumulated sum;
- find_unused_parameters=True: parameters that got no gradient on this rank contribute zeros (a small all-reduce
  of "used" flags tells which got one on no rank at all: their .grad is left untouched, as torch does); without it,
  a parameter left without a gradient is an error naming it.
Gradient checkpointing (tensorgrad.checkpoint) works: a checkpoint's inner backward accumulates its parameters'
gradients, which fires the same hooks, and the callback waits for the outermost backward. Autocast + GradScaler
work unchanged (scaled gradients are averaged; an inf on one rank reaches all, so all skip the step together).
CPU modules accept ``device_ids`` (ignored) so that torch scripts written for GPUs run unchanged on the CPU.
"""
import contextlib

import numpy as np

from ...autograd import engine
from ...autograd import version as _versions
from ...autograd.grad_mode import no_grad, is_grad_enabled
from ...tensor import Tensor
from ... import distributed as dist
from ..module import Module

__all__ = ["DistributedDataParallel"]

_FIRST_BUCKET_BYTES = 1024 * 1024  # torch's dist._DEFAULT_FIRST_BUCKET_BYTES


class _Bucket:
    """Parameters reduced together: a flat buffer, each parameter's view into it, and its state in one backward."""

    def __init__(self, index, params, xp):
        self.index, self.params = index, params
        dtype = params[0].array.dtype
        self.buffer = xp.zeros(sum(p.array.size for p in params), dtype=dtype)
        self.views, offset = [], 0
        for p in params:
            self.views.append(self.buffer[offset:offset + p.array.size].reshape(p.array.shape))
            offset += p.array.size
        self.reset()

    def reset(self):
        self.pending = len(self.params)
        self.work = None
        self.launched = False
        self.dirty = False  # a parameter accumulated again after the bucket was launched


class DistributedDataParallel(Module):
    """torch.nn.parallel.DistributedDataParallel's constructor and behaviour (see the module docstring)."""

    def __init__(self, module, device_ids=None, output_device=None, dim=0, broadcast_buffers=True,
                 process_group=None, bucket_cap_mb=None, find_unused_parameters=False, check_reduction=False,
                 gradient_as_bucket_view=False, static_graph=False, delay_all_reduce_named_params=None,
                 param_to_hook_all_reduce=None, mixed_precision=None, device_mesh=None):
        super().__init__()
        if not dist.is_initialized() and process_group is None:
            raise ValueError("DistributedDataParallel: Default process group has not been initialized, please make "
                             "sure to call tensorgrad.distributed.init_process_group (under mpiexec -n N).")
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: expected an nn.Module, got {type(module).__name__}")
        self.module = module
        d = self.__dict__  # plain attributes (not registered state): set through __dict__ as torch's are
        d["process_group"] = process_group
        d["device_ids"] = device_ids
        d["output_device"] = output_device
        d["dim"] = dim
        d["broadcast_buffers"] = broadcast_buffers
        d["find_unused_parameters"] = find_unused_parameters
        d["gradient_as_bucket_view"] = gradient_as_bucket_view
        d["static_graph"] = static_graph
        d["require_backward_grad_sync"] = True
        d["require_forward_param_sync"] = True
        d["bucket_bytes_cap"] = int((25 if bucket_cap_mb is None else bucket_cap_mb) * 1024 * 1024)
        d["_world"] = dist.get_world_size(process_group)
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        d["_names"] = {id(p): n for n, p in named}
        d["_params"] = [p for _, p in named]
        self._check_same_model()
        self._sync_module_states()
        d["_buckets"] = self._build_buckets()
        d["_bucket_of"] = {id(p): (b, i) for b in self._buckets for i, p in enumerate(b.params)}
        d["_next"] = 0
        d["_queued"] = False
        d["_seen"] = set()
        d["_handles"] = [p.register_post_accumulate_grad_hook(self._on_grad_ready) for p in self._params]

    # ------------------------------------------------------------------------------------------ set-up
    def _check_same_model(self):
        sig = [(self._names[id(p)], tuple(p.shape), str(p.array.dtype)) for p in self._params]
        sigs = [None] * self._world
        dist.all_gather_object(sigs, sig, group=self.process_group)
        for r, other in enumerate(sigs):
            if other != sig:
                diff = next((f"{a} vs {b}" for a, b in zip(sig, other) if a != b), f"{len(sig)} vs {len(other)} params")
                raise RuntimeError(f"DistributedDataParallel: rank {r}'s model differs from this rank's "
                                   f"(rank {dist.get_rank(self.process_group)}): {diff}; every rank must wrap the "
                                   "same architecture")

    def _coalesced_broadcast(self, tensors):
        """Broadcast tensors from rank 0, one flat buffer per (dtype, device)."""
        groups = {}
        for t in tensors:
            groups.setdefault((str(t.array.dtype), t.device.type), []).append(t)
        for ts in groups.values():
            xp = ts[0]._xp
            flat = xp.concatenate([t.array.reshape(-1) for t in ts])
            dist.broadcast(Tensor._make(flat, None), 0, group=self.process_group)
            off = 0
            with no_grad():
                for t in ts:
                    t.array[...] = flat[off:off + t.array.size].reshape(t.array.shape)
                    _versions.bump(t.array)
                    off += t.array.size

    def _sync_module_states(self):
        states = list(self.module.parameters()) + list(self.module.buffers())
        if states and self._world > 1:
            self._coalesced_broadcast(states)

    def _build_buckets(self):
        buckets, current, size = [], [], 0
        cap = min(_FIRST_BUCKET_BYTES, self.bucket_bytes_cap)
        for p in reversed(self._params):
            nbytes = p.array.nbytes
            if current and (size + nbytes > cap or p.array.dtype != current[0].array.dtype
                            or p.device != current[0].device):
                buckets.append(current)
                current, size = [], 0
                cap = self.bucket_bytes_cap
            current.append(p)
            size += nbytes
        if current:
            buckets.append(current)
        return [_Bucket(i, ps, ps[0]._xp) for i, ps in enumerate(buckets)]

    # ------------------------------------------------------------------------------------------ forward
    def forward(self, *inputs, **kwargs):
        self._drain()  # a backward that raised may have left buckets in flight
        if (self.broadcast_buffers and self.require_forward_param_sync and self._world > 1 and is_grad_enabled()
                and self.module.training):
            buffers = list(self.module.buffers())
            if buffers:
                self._coalesced_broadcast(buffers)
        out = self.module(*inputs, **kwargs)
        if self.require_backward_grad_sync and is_grad_enabled() and self._world > 1:
            # the backward's start, seen at the outputs: queue the end-of-backward step even when no parameter
            # of this rank gets a gradient (all its collectives must still be issued)
            for t in _tensors(out):
                if t.requires_grad and t.grad_fn is not None:
                    t.register_hook(self._on_backward_start)
        return out

    # ------------------------------------------------------------------------------------------ backward
    def _on_backward_start(self, grad):
        if self.require_backward_grad_sync and not self._queued:
            self.__dict__["_queued"] = True
            engine.queue_callback(self._finalize)
        return None

    def _on_grad_ready(self, p):
        if not self.require_backward_grad_sync or self._world == 1:
            return
        if not self._queued:
            self.__dict__["_queued"] = True
            engine.queue_callback(self._finalize)
        bucket, _ = self._bucket_of[id(p)]
        if id(p) in self._seen:  # accumulated twice in one backward (a reentrant checkpoint + a use outside it)
            bucket.dirty = bucket.launched
            return
        self._seen.add(id(p))
        bucket.pending -= 1
        while self._next < len(self._buckets) and self._buckets[self._next].pending == 0:
            self._launch(self._buckets[self._next])
            self.__dict__["_next"] = self._next + 1
        pg = dist.process_group.default_group(self.process_group)
        pg.for_array(bucket.buffer).poke()  # MPI progresses the buckets in flight only inside MPI calls

    def _launch(self, bucket):
        for p, view in zip(bucket.params, bucket.views):
            g = p.grad
            if g is None:
                view[...] = 0
            elif g.array is not view:
                view[...] = g.array
        bucket.buffer /= self._world  # averaged: torch divides before the sum, too
        bucket.work = dist.all_reduce(Tensor._make(bucket.buffer, None), group=self.process_group, async_op=True)
        bucket.launched = True

    def _finalize(self):
        d = self.__dict__
        d["_queued"] = False
        try:
            missing = [p for p in self._params if id(p) not in self._seen]
            if missing and not self.find_unused_parameters:
                names = ", ".join(self._names[id(p)] for p in missing[:8])
                raise RuntimeError(
                    f"DistributedDataParallel: {len(missing)} parameter(s) received no gradient in this backward "
                    f"({names}{', ...' if len(missing) > 8 else ''}); pass find_unused_parameters=True to "
                    "DistributedDataParallel if some parameters are not used in the loss on some iterations")
            used = None
            if self.find_unused_parameters:
                flags = np.array([id(p) in self._seen for p in self._params], dtype=np.int32)
                used = Tensor._make(flags, None)
                used_work = dist.all_reduce(used, op=dist.ReduceOp.MAX, group=self.process_group, async_op=True)
                for b in self._buckets[self._next:]:
                    self._launch(b)
                used_work.wait()
            for b in self._buckets:
                b.work.wait()
                if b.dirty:  # a gradient grew after the launch: reduce the bucket again from the local gradients
                    for p, view in zip(b.params, b.views):
                        view[...] = p.grad.array
                    b.buffer /= self._world
                    dist.all_reduce(Tensor._make(b.buffer, None), group=self.process_group)
            globally_used = None if used is None else {id(p): bool(f) for p, f in zip(self._params, used.array)}
            for b in self._buckets:
                for p, view in zip(b.params, b.views):
                    if globally_used is not None and not globally_used[id(p)]:
                        continue  # no rank computed a gradient for it: .grad stays as it was
                    if self.gradient_as_bucket_view:
                        if p.grad is None or p.grad.array is not view:
                            p.grad = Tensor._make(view, None)
                    elif p.grad is None:
                        p.grad = Tensor._make(view.copy(), None)
                    else:
                        p.grad.array[...] = view
        finally:
            self._reset()

    def _reset(self):
        for b in self._buckets:
            b.reset()
        self._seen.clear()
        self.__dict__["_next"] = 0
        self.__dict__["_queued"] = False

    def _drain(self):
        if any(b.launched for b in self._buckets) or self._seen:
            for b in self._buckets:
                if b.work is not None:
                    b.work.wait()
            self._reset()

    # ------------------------------------------------------------------------------------------ API
    @contextlib.contextmanager
    def no_sync(self):
        """Inside: backward accumulates gradients locally, no communication (gradient accumulation)."""
        old = self.require_backward_grad_sync
        self.__dict__["require_backward_grad_sync"] = False
        try:
            yield
        finally:
            self.__dict__["require_backward_grad_sync"] = old

    def __setattr__(self, name, value):
        if name in ("require_backward_grad_sync", "require_forward_param_sync", "broadcast_buffers",
                    "find_unused_parameters", "gradient_as_bucket_view"):
            self.__dict__[name] = value
            return
        super().__setattr__(name, value)

    def bucket_sizes(self):
        """(number of parameters, bytes) of each bucket, in launch order."""
        return [(len(b.params), int(b.buffer.nbytes)) for b in self._buckets]

    def extra_repr(self):
        return f"world_size={self._world}, buckets={len(self._buckets)}"


def _tensors(out):
    if isinstance(out, Tensor):
        yield out
    elif isinstance(out, (list, tuple)):
        for o in out:
            yield from _tensors(o)
    elif isinstance(out, dict):
        for o in out.values():
            yield from _tensors(o)
