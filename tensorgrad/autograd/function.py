"""Function: the base of every differentiable op.

An op subclasses Function and writes ``forward(ctx, *args)`` over raw xp arrays (plus plain Python
arguments) and ``backward(ctx, grad)`` returning one gradient array (or None) per positional argument of
forward. ``apply`` unwraps Tensors, runs forward, and -- when grad is recorded -- makes the ctx a node of
the tape. A node points to the *nodes* of its inputs (or the leaf Tensors themselves), not to the input
tensors, so activations not explicitly saved are freed as soon as Python drops them.
"""
import functools
import inspect
import weakref

import numpy as _np

from .grad_mode import _state as _grad_state
from .grad_mode import no_grad, is_grad_enabled
from .version import record as _record_versions
from ..tensor import Tensor, check_same_device, note_view, _HookHandle
from ..dtypes import bfloat16 as _bfloat16
from ..backend.sparse_coo import SparseCOO as _SparseCOO, unsupported as _sparse_unsupported

# Function class -> what it means on sparse COO inputs (filled by tensorgrad/sparse/dispatch.py): a callable taking
# apply's arguments. A Function given a sparse input runs that instead of its dense forward, or is refused by name.
sparse_handlers = {}

# Forward hooks: callables (ctx, args, out, recorded) called after every op's forward (out: the result
# Tensor; recorded: whether ctx joined the tape). Empty unless a profiler is active: one truthiness test.
_forward_hooks = []


# Function subclasses written in torch's style are set up by custom_function.py, which builds on this module (its nodes
# are Functions) and so cannot be imported here: it puts its set-up function in this list when the package loads.
_torch_style = []


# Function class -> what it means on complex inputs (filled by ops/complex.py): a callable taking apply's arguments,
# usually the apply of a complex op's own Function. A class with neither takes_complex nor an entry here is refused
# by name when given a complex tensor, so no real-only op computes a silently wrong complex result.
complex_handlers = {}


class Function:
    takes_sparse = False  # a Function of the sparse package, whose forward computes on SparseCOO arrays itself
    takes_complex = False  # forward and backward hold for complex arrays as written (movement, add, sum): torch's
    # convention needs a conjugate only where a backward multiplies by a derivative, and these multiply by none
    # Set per node by apply(): next (per positional arg: None, a leaf Tensor or a Function node),
    # needs_input_grad, the output's shape/dtype (to shape incoming grads), hooks, and saved arrays.
    # versions: (array, owner id, version) per saved array, checked before backward (autograd/version.py).
    __slots__ = ("next", "needs_input_grad", "out_dtype", "out_shape", "__dict__", "__weakref__")
    # Defaults read from the class until a node sets its own (no __init__: a ctx is built on every op, recorded or
    # not, and five attribute writes were a tenth of a small op's time)
    saved = ()
    versions = ()
    hooks = None
    retain = None
    freed = False
    # A result that views an input's memory is recorded as its view (tensor.note_view), for in-place writes
    # under autograd; the nodes that rewrite those histories (ops/view_history.py) turn it off
    track_views = True
    # A basic index when the node is a plain getitem view (ops/movement.py's GetItem): the array walk then writes the
    # node's gradient into its input's gradient at that index instead of calling backward, which would build a
    # zero array of the whole input for every slice (L slices of one tensor cost O(L^2) memory traffic that way)
    slab = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # torch's style (a static forward on Tensors, or forward + setup_context) is told apart once, here: such a
        # class gets its own apply (custom_function.py), and the ops' apply below keeps its one path
        if isinstance(inspect.getattr_static(cls, "forward"), staticmethod) or hasattr(cls, "setup_context"):
            _torch_style[0](cls)

    # -- to override -------------------------------------------------------------------------------
    def forward(self, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, grad):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} has no backward")

    def backward_graph(self, grad):
        """The backward again, on Tensors and in differentiable tensorgrad ops, for create_graph=True (the engine
        calls it with grad recording on). Ops override it; one that does not is once-differentiable."""
        raise NotImplementedError(
            f"{self.name()}: {type(self).__name__} has no double backward, so its gradient cannot be differentiated "
            "(backward(create_graph=True) / autograd.grad(..., create_graph=True) through this op is not supported)")

    # -- saved values as graph Tensors (torch's SavedVariable), for backward_graph ---------------------------
    def input(self, i, array):
        """Input i of forward as a Tensor of the graph: ``array`` is its value (the array forward saved, in the
        input's shape); gradients reaching it flow on to the node or leaf that produced the input."""
        n = self.next[i]
        if n is None:  # a constant (a Python number stays one)
            return Tensor._make(array, None) if hasattr(array, "shape") else array
        if isinstance(n, Function):
            return Tensor._make(array, n)
        return n  # the leaf itself

    def output(self, array):
        """The saved output as a Tensor of the graph (its grad_fn is this node)."""
        return Tensor._make(array, self)

    # -- ctx helpers -------------------------------------------------------------------------------
    def save_for_backward(self, *arrays):
        self.saved = arrays
        try:
            recording = True in self.needs_input_grad
        except AttributeError:  # forward called outside apply()
            recording = True
        if recording:
            # The versions of the saved arrays' memory now; backward refuses to run if one changed.
            self.versions = _record_versions(arrays)

    @property
    def saved_tensors(self):
        if self.freed:
            raise RuntimeError(
                f"{self.name()}: trying to backward through the graph a second time (or to read saved tensors "
                "after they were freed). Saved intermediate values are freed after the first backward(); "
                "pass retain_graph=True to the first backward() if you need to backward twice.")
        return self.saved

    def release(self):
        """Drop saved arrays and whatever else forward stored (called by the engine after this node's backward
        unless retain_graph); freed is set after the sweep, which would take it too."""
        self.__dict__.clear()
        self.freed = True

    @classmethod
    def name(cls):
        """torch's node name: the op's class, then Backward and the 0 torch gives an op's first overload."""
        return cls.__name__ + "Backward0"

    def __repr__(self):
        return f"<{self.name()} object at {id(self):#x}>"

    # -- torch's autograd graph Node: what scripts that walk or decorate the graph use ------------------------------
    post_hooks = None  # register_hook's callables, run by the engine after this node's backward

    @property
    def next_functions(self):
        """Per input of the op: (its node, 0), a leaf's AccumulateGrad or None where no gradient flows (torch's
        pairs; the 0 is the input's output index, always 0 here: an op with several outputs has a node each)."""
        return tuple((_node_of(n), 0) for n in self.next)

    @property
    def metadata(self):
        """A dict kept on the node for the user (torch's Node.metadata); emptied when backward frees the node."""
        return self.__dict__.setdefault("_metadata", {})

    def register_prehook(self, fn):
        """fn(grad_outputs) -> new grad_outputs or None, before this node's backward (torch's Node.register_prehook;
        grad_outputs is a one-Tensor tuple: every node here has one output)."""
        def hook(g):
            r = fn((g,))
            return None if r is None else r[0]
        if self.hooks is None:
            self.hooks = []
        return _HookHandle(self.hooks, hook)

    def register_hook(self, fn):
        """fn(grad_inputs, grad_outputs) -> new grad_inputs or None, after this node's backward (torch's
        Node.register_hook): grad_inputs has a Tensor or None per entry of next_functions."""
        if self.post_hooks is None:
            self.post_hooks = []
        return _HookHandle(self.post_hooks, fn)

    # -- the tape ------------------------------------------------------------------------------------
    @classmethod
    def apply(cls, *args, **kwargs):
        ctx = cls()
        record = _grad_state.__dict__.get("enabled", True)
        raw = list(args)
        first_cls = None
        needs = None
        # One pass: unwrap Tensors, check they share a device, and (only once an input requires grad while
        # recording) fill needs_input_grad and the node's inputs, which stay all-False/None for the args before it
        for i, a in enumerate(args):
            if a.__class__ is Tensor or isinstance(a, Tensor):
                arr = a.array
                if first_cls is None:
                    first_cls = arr.__class__
                elif arr.__class__ is not first_cls:
                    if arr.__class__ is _SparseCOO:  # (first_cls marks a sparse input from here on)
                        first_cls = _SparseCOO
                    elif first_cls is not _SparseCOO:
                        check_same_device(cls.__name__, args)
                raw[i] = arr
                if arr.dtype.__class__ in _COMPLEX and not cls.takes_complex:
                    return _complex_apply(cls, args, kwargs)
                if a._requires_grad and record:
                    if needs is None:
                        needs = [False] * len(args)
                        nxt = [None] * len(args)
                    needs[i] = True
                    nxt[i] = a if a.grad_fn is None else a.grad_fn
        if first_cls is _SparseCOO and not cls.takes_sparse:
            return _sparse_apply(cls, args, kwargs)
        any_grad = needs is not None
        if any_grad:
            ctx.next = nxt
        else:
            n = len(args)
            needs = _NO_GRADS[n] if n < 8 else (False,) * n
        ctx.needs_input_grad = needs
        try:
            out = ctx.forward(*raw, **kwargs)
        except ValueError as e:
            if "broadcast" not in str(e):
                raise
            shapes = " and ".join(str(tuple(a.shape)) for a in args if isinstance(a, Tensor))
            raise RuntimeError(f"{cls.__name__.lower()}: tensors of shapes {shapes} cannot be broadcast together") from None
        # Only floating-point results join the graph (an integer/bool result, e.g. x.long(), has no gradient).
        if any_grad and (out.dtype.kind == "f" or out.dtype == _bfloat16 or out.dtype.kind == "c"):
            ctx.out_dtype = out.dtype
            ctx.out_shape = out.shape
            t = _make(out, ctx)
            if out.base is not None and cls.track_views:
                note_view(t, args)
            if _forward_hooks:
                for h in _forward_hooks:
                    h(ctx, args, t, True)
            return t
        t = _make(out, None)  # (ctx, and the arrays its forward saved, go with this frame)
        if record and out.base is not None and cls.track_views:
            note_view(t, args)
        if _forward_hooks:
            ctx.saved = ctx.versions = ()  # (a hook may keep ctx: not the arrays)
            for h in _forward_hooks:
                h(ctx, args, t, False)
        return t


def _sparse_apply(cls, args, kwargs):
    handler = sparse_handlers.get(cls)
    if handler is None:
        shapes = ", ".join(f"{tuple(a.shape)} {'sparse' if a.array.__class__ is _SparseCOO else 'dense'}"
                           for a in args if isinstance(a, Tensor))
        raise _sparse_unsupported(f"{cls.__name__.lower()} (inputs {shapes})")
    return handler(*args, **kwargs)


def _complex_apply(cls, args, kwargs):
    handler = complex_handlers.get(cls)
    if handler is None:
        what = ", ".join(f"{tuple(a.shape)} {a.dtype}" for a in args if isinstance(a, Tensor))
        raise RuntimeError(f"{cls.__name__.lower()}: complex tensors are not supported by this op (inputs {what}); "
                           "tensorgrad's complex ops are listed in tensorgrad/ops/complex.py")
    return handler(*args, **kwargs)


class AccumulateGrad:
    """torch's node for a leaf in next_functions: ``variable`` is the leaf. One per leaf while it is referenced, so
    two paths to the same leaf show the same object, as in torch."""
    __slots__ = ("variable", "__weakref__")
    next_functions = ()

    def __init__(self, variable):
        self.variable = variable

    @staticmethod
    def name():
        return "torch::autograd::AccumulateGrad"

    def __repr__(self):
        return f"<AccumulateGrad object at {id(self):#x}>"


_accumulators = weakref.WeakValueDictionary()  # id(leaf) -> its AccumulateGrad (which holds the leaf, so the id
# cannot be reused while the entry lives)


def _node_of(n):
    if n is None or isinstance(n, Function):
        return n
    acc = _accumulators.get(id(n))
    if acc is None:
        acc = _accumulators[id(n)] = AccumulateGrad(n)
    return acc


# NumPy's dtype classes of complex64 / complex128: testing a dtype's class for membership costs half of reading
# its .kind (this test runs for every tensor argument of every op)
_COMPLEX = frozenset({_np.dtype(_np.complex64).__class__, _np.dtype(_np.complex128).__class__})
_make = Tensor._make
_NO_GRADS = [(False,) * n for n in range(8)]  # shared all-False needs_input_grad (ops read it, never write it)


class FunctionCtx:
    """torch's ctx API for Functions in torch's style (custom_function.py, whose nodes are their ctx): forward or
    setup_context tells apply what to save and how to treat the outputs; apply reads these attributes afterwards."""
    __slots__ = ()

    def save_for_backward(self, *tensors):
        self.to_save = tensors

    def save_for_forward(self, *tensors):
        self.saved_for_forward = tensors

    def mark_dirty(self, *args):
        self.dirty_tensors = args

    def mark_non_differentiable(self, *args):
        self.non_differentiable = args

    def set_materialize_grads(self, value):
        self.materialize_grads = bool(value)


class DelayedError(Function):
    """What once_differentiable puts between a backward and the gradients it returned under create_graph (torch's
    DelayedError): the gradients join the graph, and differentiating them again raises, naming the Function. The
    tensors the gradients were computed from are its inputs too (``anchors``, as torch's node has them), so that
    every backward toward them, or past them, meets it (with a fresh leaf alone it could be skipped as unreachable,
    and a derivative taken as zero)."""

    def forward(self, a, *anchors, fn_name):
        self.fn_name = fn_name
        return a

    def backward(self, g):
        raise RuntimeError(f"{self.fn_name}: trying to differentiate twice a function that was marked with "
                           "@once_differentiable")

    backward_graph = backward


def once_differentiable(fn):
    """torch.autograd.function.once_differentiable: the backward runs without recording; under create_graph, when a
    gradient flowing in requires grad, what it returns may be used but not differentiated again (DelayedError)."""
    @functools.wraps(fn)
    def wrapper(ctx, *args):
        with no_grad():
            outputs = fn(ctx, *args)
        if not is_grad_enabled() or not any(isinstance(a, Tensor) and a.requires_grad for a in args):
            return outputs
        name = ctx.name()
        anchors = [a for a in args if isinstance(a, Tensor) and a.requires_grad]

        def delayed(o):
            if not isinstance(o, Tensor) or not (o.array.dtype.kind == "f" or o.array.dtype == _bfloat16):
                return o
            return DelayedError.apply(_make(o.array, None), *anchors, fn_name=name)
        return tuple(delayed(o) for o in outputs) if isinstance(outputs, tuple) else delayed(outputs)
    return wrapper
