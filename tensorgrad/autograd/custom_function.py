"""Function subclasses in torch's style: ``forward(ctx, *args)`` (or ``forward(*args)`` + ``setup_context(ctx, inputs,
output)``) and ``backward(ctx, *grads)``, static methods on Tensors, as public PyTorch code writes them.

Function.__init_subclass__ hands such a class to ``install`` once, at class creation: the class gets the ``apply``
below and a node class ``<Name>Backward`` (a CustomBackward, as torch's ``_backward_cls``). One call makes one node,
which is also the ctx forward / setup_context / backward see (torch's FunctionCtx API: save_for_backward,
saved_tensors, needs_input_grad, mark_dirty, mark_non_differentiable, set_materialize_grads, any attribute).

The engine's nodes have one output each, and a torch Function may have several differentiable outputs. Rather than
teach the engine multi-output nodes (every op's hot path), such a call gets one CustomOutput node per differentiable
output, each pointing to the one CustomBackward: an output node puts the gradient it receives in its core's
``_stash`` and passes the core a 0-d dummy gradient, so the engine runs the core (once, after every output node,
being their common input in its topological order), which calls the user's backward with one gradient per output.
The engine stays unchanged; the one state outside it, the stash, lives from an output node's backward to its core's
in the same walk (a walk aborted by an exception in between can leave an entry, read by a later retained backward).

First-order walks (arrays, under no_grad) wrap the incoming gradients as Tensors, call the user's backward and unwrap
what it returns; create_graph walks (backward_graph, grad mode on) pass Tensors through, so the user's backward is
recorded and can be differentiated again. What backward returns is checked as torch checks it (count, None for
non-Tensor inputs, Tensors only, a shape the input broadcasts to, summed down to it).
"""
import inspect
import warnings
import weakref

import numpy as np

from . import function as _function
from .function import Function, FunctionCtx
from .grad_mode import no_grad, is_grad_enabled
from .version import record as _record_versions
from ..tensor import Tensor
from ..backend import xp_of
from ..dtypes import is_float

_DUMMY = np.zeros((), np.float32)  # the gradient an output node passes its core (its content is never read)


class CustomBackward(FunctionCtx, Function):
    """The node, and ctx, of one call of a torch-style Function; each such Function has its own subclass, named
    ``<Name>Backward`` as in torch, with ``_forward_cls`` the Function."""
    _forward_cls = None
    materialize_grads = True
    _saved_entries = None

    @classmethod
    def name(cls):
        return cls.__name__

    @property
    def saved_tensors(self):
        if self.freed:
            raise RuntimeError(
                f"{self.name()}: trying to backward through the graph a second time (or directly access saved tensors "
                "after they have already been freed). Saved intermediate values of the graph are freed when you call "
                ".backward() or autograd.grad(). Specify retain_graph=True if you need to backward through the graph "
                "a second time or if you need to access saved tensors after calling backward.")
        entries = self._saved_entries
        if entries is None:  # (inside forward / setup_context, before apply has taken them over)
            return tuple(self.__dict__.get("to_save", ()))
        return tuple(_unpack(self, e) for e in entries)

    def release(self):
        # torch frees the saved tensors only: ctx attributes stay, and a call that saved nothing can be
        # backpropagated through again
        if self._saved_entries:
            self.freed = True
        self._saved_entries = None
        self.saved = self.versions = ()

    def backward(self, g):
        return _run_backward(self, g, False)

    def backward_graph(self, g):
        return _run_backward(self, g, True)


class CustomOutput(Function):
    """Output ``index`` of a torch-style call with several differentiable outputs (see the module docstring): its
    only input is the call's CustomBackward."""

    def name(self):
        return self.next[0].name()

    def backward(self, g):
        self.next[0]._stash[self.index] = g
        return (_DUMMY,)

    def backward_graph(self, g):
        self.next[0]._stash[self.index] = g
        return (Tensor._make(_DUMMY, None),)

    def release(self):  # (nothing saved; its core decides whether the call can be backpropagated again)
        pass


def install(cls):
    """Set up ``cls``, a Function in torch's style (Function.__init_subclass__)."""
    cls._backward_cls = type(cls.__name__ + "Backward", (CustomBackward,),
                             {"_forward_cls": cls, "__module__": cls.__module__,
                              "__qualname__": cls.__qualname__ + "Backward"})
    cls.apply = classmethod(_apply)
    if "__init__" not in cls.__dict__:
        cls.__init__ = _deprecated_init
    if "__call__" not in cls.__dict__:
        cls.__call__ = _legacy_call


def _deprecated_init(self, *args, **kwargs):
    warnings.warn(f"{self.__class__} should not be instantiated. Methods on autograd functions are all static, so you "
                  "should invoke them on the class itself. Instantiating an autograd function will raise an error in a "
                  "future version of PyTorch.", DeprecationWarning, stacklevel=2)


def _legacy_call(self, *args, **kwargs):
    raise RuntimeError(f"{type(self).__name__}: Legacy autograd function with non-static forward method is deprecated. "
                       "Please use new-style autograd function with static forward method: "
                       f"{type(self).__name__}.apply(...)")


def _apply(cls, *args, **kwargs):
    setup = getattr(cls, "setup_context", None)
    if setup is not None:  # (torch binds forward's defaults, so setup_context sees every input)
        bound = inspect.signature(cls.forward).bind(*args, **kwargs)
        bound.apply_defaults()
        args, kwargs = bound.args, bound.kwargs
    ctx = cls._backward_cls()
    needs = tuple(isinstance(a, Tensor) and a._requires_grad for a in args)
    executable = is_grad_enabled() and True in needs
    ctx.needs_input_grad = needs
    if executable:  # (before forward, which may write into an input: mark_dirty)
        ctx.next = [(a if a.grad_fn is None else a.grad_fn) if n else None for a, n in zip(args, needs)]
    with no_grad():
        if setup is not None:
            out = cls.forward(*args, **kwargs)
            setup(ctx, args, out)
        else:
            out = cls.forward(ctx, *args, **kwargs)
    outs = list(out) if isinstance(out, tuple) else [out]
    _wrap_outputs(ctx, args, outs, executable)
    if _function._forward_hooks:
        first = next((o for o in outs if isinstance(o, Tensor)), None)
        if first is not None:
            recorded = "_outs" in ctx.__dict__
            for h in _function._forward_hooks:
                h(ctx, args, first, recorded)
    return tuple(outs) if isinstance(out, tuple) else outs[0]


def _wrap_outputs(ctx, args, outs, executable):
    """Give the differentiable outputs the call's history (in place in ``outs``) and take over what forward saved."""
    name = ctx.name()
    d = ctx.__dict__
    dirty = d.pop("dirty_tensors", ())
    nondiff = {id(t) for t in d.pop("non_differentiable", ())}
    to_save = d.pop("to_save", ())
    for t in dirty:
        if not any(t is a for a in args):
            raise RuntimeError(f"{name}: mark_dirty only accepts input tensors (tensors modified in place by forward), "
                               f"got a tensor of shape {tuple(getattr(t, 'shape', ()))} that is not an input")
        if not any(t is o for o in outs):
            raise RuntimeError(f"{name}: Some elements marked as dirty during the forward method were not returned as "
                               "output. The inputs that are modified inplace must all be outputs of the Function.")
    diff, seen = [], set()
    for i, o in enumerate(outs):
        if not isinstance(o, Tensor):
            continue
        if any(o is t for t in dirty):
            if executable:
                _check_dirty(name, o)
        elif id(o) in seen or any(o is a for a in args) or o.grad_fn is not None or o._requires_grad:
            # (an input returned as it is, or a tensor with a history of its own: a new Tensor on the same memory,
            # as torch returns a view, so that tensor keeps its history)
            o = outs[i] = Tensor._make(o.array, None)
        seen.add(id(o))
        if executable and is_float(o.array.dtype) and id(o) not in nondiff:
            diff.append(i)
    if not executable or not diff:
        return
    ctx._outs = [(tuple(o.shape), o.array.dtype, xp_of(o.array)) if isinstance(o, Tensor) else None for o in outs]
    ctx._in_shapes = [tuple(a.shape) if isinstance(a, Tensor) else None for a in args]
    if len(diff) == 1:
        o = outs[diff[0]]
        ctx._diff = diff[0]
        ctx.out_shape, ctx.out_dtype = tuple(o.shape), o.array.dtype
        o.grad_fn, o._requires_grad = ctx, True
        ctx._out_nodes = {diff[0]: None}
    else:
        ctx._diff = None
        ctx._stash = {}
        ctx.out_shape, ctx.out_dtype = (), _DUMMY.dtype
        ctx._out_nodes = {}
        for i in diff:
            o = outs[i]
            node = CustomOutput()
            node.next, node.needs_input_grad, node.index = [ctx], (True,), i
            node.out_shape, node.out_dtype = tuple(o.shape), o.array.dtype
            o.grad_fn, o._requires_grad = node, True
            ctx._out_nodes[i] = weakref.ref(node)
    _save(ctx, to_save, outs)


def _check_dirty(name, t):
    if t.grad_fn is None and t._requires_grad:
        raise RuntimeError(f"{name}: a leaf Variable that requires grad (shape {tuple(t.shape)}) has been used in an "
                           "in-place operation (mark_dirty).")
    if t._base is not None or any(w() is not None for w in t._views or ()):
        raise RuntimeError(f"{name}: mark_dirty on a tensor whose memory other tensors view (a view, or a tensor with "
                           f"views; shape {tuple(t.shape)}) is not supported: their histories would have to be "
                           "rewritten as torch does; clone() it before the call")


def _save(ctx, to_save, outs):
    """Saved tensors are kept as (array, output index) for the call's outputs (a Tensor whose grad_fn is this node
    would make a reference cycle: torch saves outputs so too) and as the Tensor itself, with the array and history
    it had, otherwise (torch hands back the very input). The arrays' versions are checked before backward."""
    entries, arrays = [], []
    for k, t in enumerate(to_save):
        if t is None:
            entries.append(None)
            continue
        if not isinstance(t, Tensor):
            raise TypeError(f"{ctx.name()}: save_for_backward can only save variables, but argument {k} is of type "
                            f"{type(t).__name__}")
        pos = next((i for i, o in enumerate(outs) if o is t), None)
        entries.append((t.array, pos) if pos is not None else (t.array, t, t.grad_fn, t._requires_grad))
        arrays.append(t.array)
    ctx._saved_entries = entries
    ctx.saved = tuple(arrays)
    ctx.versions = _record_versions(arrays)


def _unpack(ctx, e):
    if e is None:
        return None
    if len(e) == 4:
        a, t, grad_fn, req = e
        if t.array is a and t.grad_fn is grad_fn:
            return t
        r = Tensor._make(a, grad_fn)
        r._requires_grad = req
        return r
    a, pos = e
    if pos not in ctx._out_nodes:  # (a non-differentiable output)
        return Tensor._make(a, None)
    if ctx._diff is not None:
        return Tensor._make(a, ctx)
    node = ctx._out_nodes[pos]()
    if node is None:  # (the output and its node are gone: a new one routes gradients the same way)
        node = CustomOutput()
        node.next, node.needs_input_grad, node.index = [ctx], (True,), pos
        node.out_shape, node.out_dtype = tuple(a.shape), a.dtype
        ctx._out_nodes[pos] = weakref.ref(node)
    return Tensor._make(a, node)


def _run_backward(ctx, g, graph):
    """The user's backward on one gradient per output; one gradient (array, or Tensor when graph) or None per input."""
    if ctx._diff is not None:
        got = {ctx._diff: g}
    else:
        got, ctx._stash = ctx._stash, {}
    grads = []
    for i, info in enumerate(ctx._outs):
        gi = got.get(i)
        if gi is None:
            if info is not None and ctx.materialize_grads:
                shape, dtype, xp = info
                gi = Tensor._make(xp.zeros(shape, dtype), None)
        elif not graph:
            if gi.__class__ is np.ndarray and not gi.flags.writeable:  # (a broadcast seed: backward may write into it)
                gi = gi.copy()
            gi = Tensor._make(gi, None)
        grads.append(gi)
    cls = ctx._forward_cls
    fn = cls.backward
    if fn is Function.backward:
        fn = getattr(cls, "vjp", None)
        if fn is None:
            raise NotImplementedError(f"{ctx.name()}: You must implement either the backward or vjp method for your "
                                      "custom autograd.Function to use it with backward mode AD.")
    return _check_grads(ctx, fn(ctx, *grads), graph)


def _check_grads(ctx, res, graph):
    name = ctx.name()
    if not isinstance(res, tuple):
        res = (res,)
    n = len(ctx._in_shapes)
    if len(res) > n and all(r is None for r in res[n:]):
        res = res[:n]
    if len(res) != n:
        raise RuntimeError(f"function {name} returned an incorrect number of gradients (expected {n}, got {len(res)})")
    out = []
    for i, (r, shape, nxt) in enumerate(zip(res, ctx._in_shapes, ctx.next)):
        if shape is None:
            if r is not None:
                raise RuntimeError(f"function {name} returned a gradient different than None at position {i + 1}, "
                                   "but the corresponding forward input was not a Variable")
            out.append(None)
            continue
        if r is not None and not isinstance(r, Tensor):
            raise RuntimeError(f"function {name}: expected Variable or None (got {type(r).__name__}) as the gradient "
                               f"at position {i + 1}")
        if r is None or nxt is None:  # (torch drops the gradient of an input that requires none, unchecked)
            out.append(None)
            continue
        if tuple(r.shape) != shape:
            r = _sum_to(r, shape, name, i)
        out.append(r if graph else r.array)
    return tuple(out)


def _sum_to(r, shape, name, i):
    """torch's check of a gradient's shape: one the input's shape broadcasts to is summed down to it."""
    try:
        ok = np.broadcast_shapes(shape, tuple(r.shape)) == tuple(r.shape)
    except ValueError:
        ok = False
    if not ok:
        raise RuntimeError(f"Function {name} returned an invalid gradient at index {i} - got {list(r.shape)} but "
                           f"expected shape compatible with {list(shape)}")
    lead = r.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + k for k, n in enumerate(shape) if n == 1 and r.shape[lead + k] != 1)
    return r.sum(dim=axes).reshape(shape)


_function._torch_style.append(install)
