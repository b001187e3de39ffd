"""Memory accounting and a timeline of live / saved-for-backward bytes, per op, in forward and backward.

``with profiler.memory(model) as prof: ...`` hangs three kinds of hooks for the duration of the block (and
none outside it, so there is no cost when no profiler is active):

- ``Function.apply`` forward hooks (autograd/function.py ``_forward_hooks``): after every op, the arrays of
  its inputs and output are registered, and -- when the op joined the tape -- the arrays it saved for backward;
- engine node hooks (autograd/engine.py ``_node_hooks``): around every node's backward; a node whose saved
  arrays the engine released stops counting as "saved";
- Module forward pre/post hooks on every submodule of ``model`` (optional): the module each op ran in.

Accounting on the CPU: an array is counted once per *owner* (``.base`` followed to the array that owns the
allocation, so views are free), from registration until the owner dies (a ``weakref`` callback subtracts
it). "Live bytes" = every owner a Tensor has held (op inputs -- parameters, data -- outputs, saved arrays,
and at exit the leaves' gradients). "Saved bytes" (activation bytes) = owners that some node still on the
tape saved for backward, excluding leaf data (parameters, inputs), which exists with or without autograd.
Arrays that no Tensor ever holds (an op's scratch space, gradients in flight inside the engine) are not
counted. On CUDA, live bytes are CuPy's memory pool ``used_bytes()``, sampled at every event.

Each event appends a Row(index, op, phase, live_bytes, saved_bytes, module, time). Forward ops are phase
"fwd" unless they run inside a node's backward (a checkpoint recomputing its segment): then "bwd", like the
"<Op>Backward0" rows of the nodes themselves. ``peak_bytes`` is the exact maximum of live bytes (updated on
every allocation, not only at rows); ``peak_saved_bytes`` likewise.
"""
import time
import weakref
from collections import namedtuple

import numpy as np

from ..autograd import engine as _engine
from ..autograd import function as _function
from ..tensor import Tensor
from .report import format_report

Row = namedtuple("Row", "index op phase live_bytes saved_bytes module time")


def _owner(a):
    """The array that owns a's memory (numpy/cupy views keep their owner in .base)."""
    b = getattr(a, "base", None)
    while b is not None and (b.__class__ is a.__class__ or isinstance(b, np.ndarray)):
        a = b
        b = getattr(a, "base", None)
    return a


class _Entry:
    __slots__ = ("nbytes", "kind", "savers", "ref")

    def __init__(self, nbytes, kind, ref):
        self.nbytes = nbytes
        self.kind = kind  # "out" (produced by an op: an activation), "leaf" (parameters, inputs), "grad"
        self.savers = 0
        self.ref = ref


class MemoryProfiler:
    """Context manager: records the timeline and the peaks of one region (see the module docstring)."""

    def __init__(self, model=None, timeline=True):
        self.model = model
        self.keep_timeline = timeline
        self.timeline = []
        self.live_bytes = 0
        self._saved = 0
        self.peak_bytes = 0
        self.peak_saved_bytes = 0
        self.peak_index = 0        # the row index at (or right after) which the live peak happened
        self.peak_saved_index = 0
        self.by_op = {}            # op -> [saved bytes newly saved, calls]
        self.by_module = {}        # module -> [saved bytes newly saved, calls]
        self.device = "cpu"
        self._owners = {}          # id(owner) -> _Entry
        self._ctx = {}             # id(ctx) -> [weakref(ctx), owner keys, op, module]
        self._pending = []         # nodes whose backward just ran: released (or not) by the engine after "post"
        self._depth = 0            # > 0 while inside some node's backward
        self._modules = []         # stack of module names (innermost last)
        self._leaves = weakref.WeakValueDictionary()  # id -> leaf Tensor that requires grad (parameters)
        self._handles = []
        self._pool = None
        self._t0 = None
        self._active = False

    @property
    def saved_bytes(self):
        """Bytes saved for backward by nodes still on the tape, now."""
        if self._pending:
            self._flush()
        return self._saved

    # ------------------------------------------------------------------------------- context
    def __enter__(self):
        self._t0 = time.perf_counter()
        self._active = True
        if self.model is not None:
            for name, m in self.model.named_modules():
                self._handles.append(m.register_forward_pre_hook(self._pre_module(name)))
                self._handles.append(m.register_forward_hook(self._post_module))
            for p in self.model.parameters():
                self._register_tensor(p)
                if p.grad is not None:
                    self._register(p.grad.array, "grad")
        _function._forward_hooks.append(self._on_forward)
        _engine._node_hooks.append(self._on_node)
        self._row("start", "fwd", None)
        return self

    def __exit__(self, *exc):
        _function._forward_hooks.remove(self._on_forward)
        _engine._node_hooks.remove(self._on_node)
        for h in self._handles:
            h.remove()
        self._handles = []
        self._flush()
        for t in list(self._leaves.values()):
            if t.grad is not None:
                self._register(t.grad.array, "grad")
        self._row("end", "bwd" if self._depth else "fwd", None)
        self._active = False
        return False

    # ------------------------------------------------------------------------------- accounting
    def _register(self, arr, kind):
        """Count arr's owner once (from now until it dies); returns its key, or None for non-arrays."""
        if not isinstance(arr, np.ndarray):
            if not type(arr).__module__.startswith("cupy"):
                return None  # None, Python/NumPy scalars, shapes...
            self._use_pool()
        own = _owner(arr)
        key = id(own)
        e = self._owners.get(key)
        if e is not None:
            return key
        try:
            ref = weakref.ref(own, lambda r, k=key: self._died(k))
        except TypeError:  # an array type without weakref support: counted while saved, never as live
            ref = None
        e = self._owners[key] = _Entry(int(own.nbytes), kind, ref)
        if ref is not None and self._pool is None:
            self.live_bytes += e.nbytes
            if self.live_bytes > self.peak_bytes:
                self.peak_bytes = self.live_bytes
                self.peak_index = len(self.timeline)
        return key

    def _register_tensor(self, t):
        kind = "leaf" if t.grad_fn is None else "out"
        if kind == "leaf" and t.requires_grad:
            self._leaves[id(t)] = t
        return self._register(t.array, kind)

    def _died(self, key):
        e = self._owners.pop(key, None)
        if e is None:
            return
        if self._pool is None:
            self.live_bytes -= e.nbytes
        if e.savers > 0 and e.kind == "out":
            self._saved -= e.nbytes

    def _unsave(self, ctx_key):
        rec = self._ctx.pop(ctx_key, None)
        if rec is None:
            return
        for k in rec[1]:
            e = self._owners.get(k)
            if e is None:
                continue
            e.savers -= 1
            if e.savers == 0:
                if e.kind == "out":
                    self._saved -= e.nbytes
                if e.ref is None:  # not weakref-able: forget it now, its id may be reused
                    del self._owners[k]

    def _flush(self):
        for node in self._pending:
            if node.freed:
                self._unsave(id(node))
        self._pending = []

    def _use_pool(self):
        if self._pool is None:
            import cupy
            self._pool = cupy.get_default_memory_pool()
            self.device = "cuda"
            self.live_bytes = self._pool.used_bytes()
            self.peak_bytes = max(self.peak_bytes, self.live_bytes)

    # ------------------------------------------------------------------------------- hooks
    def _module(self):
        return self._modules[-1] if self._modules else None

    def _pre_module(self, name):
        def hook(module, args):
            self._modules.append(name)
        return hook

    def _post_module(self, module, args, out):
        if self._modules:
            self._modules.pop()

    def _on_forward(self, ctx, args, out, recorded):
        if self._pending:
            self._flush()
        for a in args:
            if isinstance(a, Tensor):
                self._register_tensor(a)
        self._register(out.array, "out")
        op = type(ctx).__name__
        module = self._module()
        new = 0
        if recorded and ctx.saved:
            keys = []
            for a in ctx.saved:
                k = self._register(a, "out")
                if k is None or k in keys:
                    continue
                keys.append(k)
                e = self._owners[k]
                e.savers += 1
                if e.savers == 1 and e.kind == "out":
                    self._saved += e.nbytes
                    new += e.nbytes
            if keys:
                ck = id(ctx)
                self._ctx[ck] = [weakref.ref(ctx, lambda r, k=ck: self._unsave(k)), keys, op, module]
                if self._saved > self.peak_saved_bytes:
                    self.peak_saved_bytes = self._saved
                    self.peak_saved_index = len(self.timeline)
        s = self.by_op.setdefault(op, [0, 0])
        s[0] += new
        s[1] += 1
        s = self.by_module.setdefault(module, [0, 0])
        s[0] += new
        s[1] += 1
        self._row(op, "bwd" if self._depth else "fwd", module)

    def _on_node(self, event, node):
        if event == "pre":
            if self._pending:
                self._flush()
            self._depth += 1
            return
        self._depth -= 1
        self._pending.append(node)
        rec = self._ctx.get(id(node))
        self._row(node.name(), "bwd", rec[3] if rec is not None else None)

    def _row(self, op, phase, module):
        if self._pool is not None:
            self.live_bytes = self._pool.used_bytes()
            if self.live_bytes > self.peak_bytes:
                self.peak_bytes = self.live_bytes
                self.peak_index = len(self.timeline)
        if self.keep_timeline:
            self.timeline.append(Row(len(self.timeline), op, phase, self.live_bytes, self._saved, module,
                                     time.perf_counter() - self._t0))

    # ------------------------------------------------------------------------------- results
    def module_totals(self, depth=None):
        """Saved bytes by module name cut to ``depth`` dotted components (None: the full name)."""
        out = {}
        for m, (b, n) in self.by_module.items():
            name = "<none>" if m is None else (m or "<model>")
            if depth is not None and m:
                name = ".".join(m.split(".")[:depth])
            s = out.setdefault(name, [0, 0])
            s[0] += b
            s[1] += n
        return out

    def summary(self):
        return {"device": self.device, "peak_bytes": int(self.peak_bytes),
                "peak_saved_bytes": int(self.peak_saved_bytes), "rows": len(self.timeline)}

    def report(self, depth=None, top=20):
        return format_report(self, depth=depth, top=top)


def memory(model=None, timeline=True):
    """Profile memory inside a ``with`` block: ``with tensorgrad.profiler.memory(model) as prof: ...``;
    then ``prof.peak_bytes``, ``prof.peak_saved_bytes``, ``prof.timeline``, ``print(prof.report())``."""
    return MemoryProfiler(model=model, timeline=timeline)
