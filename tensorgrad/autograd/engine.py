"""Reverse-mode walk of the tape.

Iterative topological order (no recursion: a 100,000-op chain is fine), one pass accumulating gradients
per node, saved arrays freed right after a node's backward unless retain_graph, tensor hooks, and grad()
for gradients without touching .grad.
"""
import sys
import warnings

import numpy as np

from .function import Function
from .version import check as _check_versions
from .grad_mode import no_grad, enable_grad
from ..tensor import Tensor
from ..backend import kernels, xp_of

_ND, _BIG = np.ndarray, kernels.THREADED_MIN

# Engine hooks: callables (event, node) called around every node's backward; the profiler
# hangs here. event is "pre" or "post".
_node_hooks = []
# Gradient hooks: callables (node, grad, in_grads) called after every node's backward with the gradients
# it returned (anomaly detection checks them). Empty unless anomaly mode is on: one truthiness test.
_grad_hooks = []
# Callbacks queued during a backward (queue_callback; torch's Variable._execution_engine.queue_callback): run once
# when the outermost backward finishes (a checkpoint's backward runs an inner one inside it), then dropped.
_final_callbacks = []
_depth = [0]


def queue_callback(fn):
    """Run ``fn()`` once when the backward now running finishes (DistributedDataParallel waits for its gradient
    all-reduces there); outside a backward, right away."""
    if _depth[0] == 0:
        fn()
    else:
        _final_callbacks.append(fn)


def _toposort(roots):
    """Nodes reachable from roots, each after all nodes that consume it (reverse post-order)."""
    order, visited = [], set()
    stack = [(r, False) for r in roots]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if node in visited:
            continue
        visited.add(node)
        stack.append((node, True))
        for n in node.next:
            if n is not None and isinstance(n, Function) and n not in visited:
                stack.append((n, False))
    order.reverse()
    return order


def _call_backward(node, backward, g, need=None, capture=None):
    """One node's backward (the array one or its differentiable form) between the checks and hooks both walks run:
    refused after the node was freed or when an array it saved was modified in place since; a tuple of gradients.
    With grad(inputs=...) (need: the nodes that reach an input), the node is asked only for the gradients that flow
    on to an input, as torch's engine asks: an input whose derivative the op lacks is no obstacle unless needed."""
    if node.freed:
        node.saved_tensors  # raises the clear "backward twice" error
    if node.versions:
        _check_versions(node, node.versions)
    for h in _node_hooks:
        h("pre", node)
    needs = node.needs_input_grad
    limited = None
    if need is not None:
        limited = tuple(bool(nd) and nxt is not None
                        and (id(nxt) in capture or (isinstance(nxt, Function) and nxt in need))
                        for nd, nxt in zip(needs, node.next))
        if limited == tuple(bool(nd) for nd in needs):
            limited = None
    if limited is None:
        in_grads = backward(g)
    else:
        node.needs_input_grad = limited
        try:
            in_grads = backward(g)
        finally:
            node.needs_input_grad = needs
    for h in _node_hooks:
        h("post", node)
    in_grads = in_grads if isinstance(in_grads, (tuple, list)) else (in_grads,)
    if limited is not None and len(in_grads) == len(limited):  # (an op may compute every gradient regardless:
        # the unneeded go no further)
        in_grads = tuple(x if keep else None for x, keep in zip(in_grads, limited))
    return in_grads


def _post_hooks(node, in_grads, g, graph):
    """A node's register_hook callables: fn(grad_inputs, grad_outputs) as torch calls them (Tensors, None where no
    gradient flows to an input); a tuple returned replaces the gradients the walk passes on."""
    def wrap(x):
        return x if x is None or graph or isinstance(x, Tensor) else Tensor._make(x, None)
    grads = tuple(None if n is None else wrap(x) for n, x in zip(node.next, in_grads))
    for h in node.post_hooks:
        r = h(grads, (g,))
        if r is not None:
            if len(r) != len(grads):
                raise RuntimeError(f"{node.name()}: a hook registered with register_hook returned {len(r)} "
                                   f"gradients, expected {len(grads)} (one per entry of next_functions)")
            grads = tuple(r)
    if graph:
        return grads
    return tuple(x.array if isinstance(x, Tensor) else x for x in grads)


def _add(a, b, fresh):
    # A backward may hand the same array to several inputs (Add returns g twice), so a sum goes into `a` in place
    # only when nothing else can see it: a sum this walk made (its id in fresh while it waits in the walk's dicts),
    # or an array the walk's dict alone references (refcount), owning its memory or a whole view of a base only it
    # holds. In place beats a threaded out-of-place sum: no new memory to fault in and write (the sums of the second
    # walk of a Hessian-vector product, 104 of them, took 15 of its 148 ms out of place). A large out-of-place sum
    # runs on the "binary" kernel's threads (NumPy's add runs on one).
    if a is None:
        return b
    if id(a) in fresh:
        a += b
        return a
    if (sys.getrefcount(a) == _SOLE_ADD_REFS and a.__class__ is _ND and b.__class__ is _ND and a.dtype == b.dtype
            and a.shape == b.shape and a.flags.writeable and _whole(a)):
        a += b
        fresh.add(id(a))
        return a
    c = kernels.get("binary")("add", a, b) if a.__class__ is _ND and a.size >= _BIG else a + b
    fresh.add(id(c))
    return c


def _whole(a):
    """a owns its memory, or is a view of all of a base that only it references (a backward's reshape)."""
    if a.base is None:
        return True
    base_refs = _base_refs(a)
    base = a.base
    return base.__class__ is _ND and base.base is None and base.size == a.size and base_refs == _SOLE_BASE_REFS


def _add_refs(a, b, fresh):
    return sys.getrefcount(a)


# sys.getrefcount(a) inside _add for an array only the walk's dict (or a leaf's [leaf, grad] entry) holds, measured
# with _add's own call shape rather than assumed (the count differs between CPython versions).
_held = {0: np.empty(1)}
_SOLE_ADD_REFS = _add_refs(_held.get(0), None, None)
del _held


def _cast(g, dtype, shape, where):
    if g.dtype != dtype:
        g = g.real.astype(dtype) if g.dtype.kind == "c" and dtype.kind != "c" else g.astype(dtype)
    if g.shape != shape:
        raise RuntimeError(f"{where}: backward produced a gradient of shape {tuple(g.shape)} for a tensor of "
                           f"shape {tuple(shape)} (this is a bug in that op's backward)")
    return g


def run_backward(tensors, grads, retain_graph=False, inputs=None, allow_unused=False, create_graph=False):
    """Backpropagate ``grads`` (xp arrays; Tensors with create_graph) from ``tensors``.

    inputs=None: accumulate into leaf .grad. Otherwise return a list of gradient arrays for ``inputs``
    (leaves or intermediate tensors) and leave .grad untouched. create_graph: the walk runs every node's
    backward_graph on Tensors with grad recording on, so the gradients are themselves differentiable.
    """
    node_grads = {}
    leaf_grads = {}  # id(leaf) -> [leaf, grad]
    roots = []
    for t, g in zip(tensors, grads):
        if t.grad_fn is None:
            if t.requires_grad:
                leaf_grads[id(t)] = [t, _add(leaf_grads.get(id(t), [None, None])[1], g, set())]
            continue
        node_grads[t.grad_fn] = _add(node_grads.get(t.grad_fn), g, set())
        roots.append(t.grad_fn)

    capture = None
    if inputs is not None:
        capture = {}
        for i, x in enumerate(inputs):
            capture.setdefault(id(x.grad_fn) if x.grad_fn is not None else id(x), []).append(i)

    order = _toposort(roots)
    captured = [None] * (len(inputs) if inputs is not None else 0)
    # A leaf's gradient is complete once the last node feeding it has run: it is accumulated then (torch's
    # AccumulateGrad), so post-accumulate-grad hooks (DDP's bucket all-reduce) fire while backward still runs.
    last_use = {}
    for i, node in enumerate(order):
        for nxt in node.next:
            if nxt is not None and not isinstance(nxt, Function):
                last_use[id(nxt)] = i
    complete_after = {}
    for key, i in last_use.items():
        complete_after.setdefault(i, []).append(key)
    _depth[0] += 1
    try:
        if create_graph:
            _walk_graph(order, node_grads, leaf_grads, complete_after, capture, captured, retain_graph)
        else:
            _walk(order, node_grads, leaf_grads, complete_after, capture, captured, retain_graph)
    finally:
        _depth[0] -= 1
        callbacks = []
        if _depth[0] == 0:
            callbacks, _final_callbacks[:] = _final_callbacks[:], []
    for fn in callbacks:
        fn()

    if inputs is None:
        return None
    for i, (x, g) in enumerate(zip(inputs, captured)):
        if g is None and not allow_unused:
            raise RuntimeError(f"grad: input {i} (shape {tuple(x.shape)}) was not used to compute the outputs; "
                               "pass allow_unused=True to get None for it")
    return captured


def _walk(order, node_grads, leaf_grads, complete_after, capture, captured, retain_graph):
    """Every node's backward in order; each leaf finished once the last node feeding it has run."""
    fresh = set()  # ids of the sums _add made that wait in node_grads / leaf_grads (added into in place)

    def finish(key):  # (the entry goes with this frame: _finish_leaf's ownership count sees no extra reference)
        entry = leaf_grads.pop(key)
        fresh.discard(id(entry[1]))
        _finish_leaf(key, entry, capture, captured)

    need = None if capture is None else _needed(order, capture)
    with no_grad():
        for n, node in enumerate(order):
            for key in complete_after.get(n - 1, ()):
                if key in leaf_grads:
                    finish(key)
            g = node_grads.pop(node, None)
            if g is None:
                continue
            fresh.discard(id(g))  # (out of the walk's hands: hooks, retain_grad and capture may keep it)
            if node.hooks:
                for h in node.hooks:
                    r = h(Tensor._make(g, None))
                    if r is not None:
                        g = r.array if isinstance(r, Tensor) else r
            if node.retain is not None:
                t = node.retain()
                if t is not None:
                    t.grad = Tensor._make(g.copy() if t.grad is None else t.grad.array + g, None)
            if capture is not None and id(node) in capture:
                for i in capture[id(node)]:
                    captured[i] = g
            if need is not None and node not in need:
                continue
            if node.slab is not None and not _node_hooks and not _grad_hooks and not node.post_hooks:
                _add_slab(node, g, node_grads, leaf_grads, fresh)
                if not retain_graph:
                    node.release()
                continue
            in_grads = _call_backward(node, node.backward, g, need, capture)
            if node.post_hooks:
                in_grads = _post_hooks(node, in_grads, Tensor._make(g, None), False)
            if _grad_hooks:
                for h in _grad_hooks:
                    h(node, g, in_grads)
            if len(in_grads) != len(node.next):
                raise RuntimeError(f"{node.name()}: backward returned {len(in_grads)} gradients for "
                                   f"{len(node.next)} inputs (this is a bug in that op)")
            for nxt, ig in zip(node.next, in_grads):
                if nxt is None or ig is None:
                    continue
                if isinstance(nxt, Function):
                    node_grads[nxt] = _add(node_grads.get(nxt), _cast(ig, nxt.out_dtype, nxt.out_shape, node.name()),
                                           fresh)
                else:
                    ig = _cast(ig, nxt.array.dtype, nxt.array.shape, node.name())
                    prev = leaf_grads.get(id(nxt))
                    leaf_grads[id(nxt)] = [nxt, _add(prev[1] if prev else None, ig, fresh)]
            in_grads = ig = prev = None  # leaf_grads alone references a leaf's gradient now (see _finish_leaf)
            if not retain_graph:
                node.release()

        for key in list(leaf_grads):
            finish(key)


def _add_slab(node, g, node_grads, leaf_grads, fresh):
    """A basic-index view's gradient g added into its input's at node.slab (Function.slab), in place into a sum this
    walk owns; otherwise into a new zero array (or a copy of the gradient already there)."""
    nxt = node.next[0]
    if nxt is None:
        return
    if isinstance(nxt, Function):
        acc, dtype, shape = node_grads.get(nxt), nxt.out_dtype, nxt.out_shape
    else:
        prev = leaf_grads.get(id(nxt))
        acc, dtype, shape = (prev[1] if prev else None), nxt.array.dtype, nxt.array.shape
    if acc is None or id(acc) not in fresh:
        xp = np if g.__class__ is _ND else xp_of(g)
        acc = xp.zeros(shape, dtype) if acc is None else acc.astype(dtype, copy=True)
        fresh.add(id(acc))
    acc[node.slab] += g if g.dtype == dtype else g.astype(dtype)   # (a seed gradient may come in another dtype)
    if isinstance(nxt, Function):
        node_grads[nxt] = acc
    else:
        leaf_grads[id(nxt)] = [nxt, acc]


def _needed(order, capture):
    """With grad(inputs=...), the nodes whose backward can reach an input (torch runs only those): the walk stops
    at the inputs instead of differentiating the whole graph behind them."""
    need = set()
    for node in reversed(order):  # producers before consumers
        for nxt in node.next:
            if nxt is None:
                continue
            if id(nxt) in capture or (isinstance(nxt, Function) and nxt in need):
                need.add(node)
                break
    return need


def _walk_graph(order, node_grads, leaf_grads, complete_after, capture, captured, retain_graph):
    """_walk with create_graph: gradients are Tensors, each node's backward_graph records the ops it runs, and
    accumulation is Tensor addition (out of place, so it is recorded too)."""
    need = None if capture is None else _needed(order, capture)
    with enable_grad():
        for n, node in enumerate(order):
            for key in complete_after.get(n - 1, ()):
                if key in leaf_grads:
                    _finish_leaf(key, leaf_grads.pop(key), capture, captured, True)
            g = node_grads.pop(node, None)
            if g is None:
                continue
            if node.hooks:
                for h in node.hooks:
                    r = h(g)
                    if r is not None:
                        g = r if isinstance(r, Tensor) else Tensor(r)
            if node.retain is not None:
                t = node.retain()
                if t is not None:
                    t.grad = g if t.grad is None else t.grad + g
            if capture is not None and id(node) in capture:
                for i in capture[id(node)]:
                    captured[i] = g
            if need is not None and node not in need:
                continue
            in_grads = _call_backward(node, node.backward_graph, g, need, capture)
            if node.post_hooks:
                in_grads = _post_hooks(node, in_grads, g, True)
            if len(in_grads) != len(node.next):
                raise RuntimeError(f"{node.name()}: backward_graph returned {len(in_grads)} gradients for "
                                   f"{len(node.next)} inputs (this is a bug in that op)")
            for nxt, ig in zip(node.next, in_grads):
                if nxt is None or ig is None:
                    continue
                if not isinstance(ig, Tensor):
                    raise RuntimeError(f"{node.name()}: backward_graph returned a {type(ig).__name__}, not a Tensor "
                                       "(this is a bug in that op)")
                if isinstance(nxt, Function):
                    ig = _cast_t(ig, nxt.out_dtype, nxt.out_shape, node.name())
                    prev = node_grads.get(nxt)
                    node_grads[nxt] = ig if prev is None else prev + ig
                else:
                    ig = _cast_t(ig, nxt.array.dtype, nxt.array.shape, node.name())
                    prev = leaf_grads.get(id(nxt))
                    leaf_grads[id(nxt)] = [nxt, ig if prev is None else prev[1] + ig]
            if not retain_graph:
                node.release()

        for key in list(leaf_grads):
            _finish_leaf(key, leaf_grads.pop(key), capture, captured, True)


def _cast_t(g, dtype, shape, where):
    if g.array.dtype != dtype:
        g = g.to(dtype)
    if tuple(g.shape) != tuple(shape):
        raise RuntimeError(f"{where}: backward_graph produced a gradient of shape {tuple(g.shape)} for a tensor of "
                           f"shape {tuple(shape)} (this is a bug in that op's backward_graph)")
    return g


def _take(entry):
    """entry[1] out of a [leaf, grad] pair, leaving the caller's name as its one other reference."""
    g = entry[1]
    entry[1] = None
    return g, sys.getrefcount(g)


def _base_refs(g):
    return sys.getrefcount(g.base)


def _owned(g, refs, dtype):
    """Whether g (refs: its count from _take) can become a .grad as it is: a writeable array of the leaf's dtype that
    nothing else references, owning its memory or a whole-array view (a backward's reshape) of a base only it holds."""
    if refs != _SOLE_REFS or g.__class__ is not _ND or g.dtype != dtype or not g.flags.writeable:
        return False
    if g.base is None:
        return True
    base_refs = _base_refs(g)  # before `base` below adds a reference of its own
    base = g.base
    return base.__class__ is _ND and base.base is None and base.size == g.size and base_refs == _SOLE_BASE_REFS


# The counts sys.getrefcount reports for an array only _take's caller holds, and for the base of a view only that
# view holds (the counts differ between CPython versions, so they are measured here rather than assumed).
_SOLE_REFS = _take([None, np.empty(1)])[1]
_SOLE_BASE_REFS = _base_refs(np.empty(2).reshape(1, 2))


def _finish_leaf(key, entry, capture, captured, graph=False):
    """A leaf's complete gradient: its hooks, then captured (grad()) or accumulated into .grad, then its
    post-accumulate-grad hooks (Tensor.register_post_accumulate_grad_hook)."""
    leaf = entry[0]
    g, refs = _take(entry)
    if leaf._hooks:
        refs = None
        for h in leaf._hooks:
            r = h(g if graph else Tensor._make(g, None))
            if r is not None:
                g = (r if isinstance(r, Tensor) else Tensor(r)) if graph else (r.array if isinstance(r, Tensor) else r)
    if capture is not None:
        for i in capture.get(key, ()):
            captured[i] = g
        return
    _accumulate(leaf, g, refs, graph)


def _accumulate(t, g, refs, graph):
    """torch's AccumulateGrad: g into t.grad, then t's post-accumulate-grad hooks (refs: g's count from _take, or
    None when g may be referenced elsewhere)."""
    if graph:  # torch: with create_graph, .grad holds the differentiable gradient (out-of-place accumulation)
        t.grad = g if t.grad is None else t.grad + g
    elif t.grad is None:
        # A gradient array nothing else references (not the seed, not one array handed to several leaves, not part
        # of another array) becomes .grad as it is; any other is copied, so .grad never aliases memory that
        # something else can see or change. The copy of a (8192, 768) gradient cost 2.9 ms.
        if _owned(g, refs, t.array.dtype):
            t.grad = Tensor._make(g, None)
        else:
            t.grad = Tensor._make(g.astype(t.array.dtype, copy=True), None)
    else:
        t.grad.array += g
    post = getattr(t, "_post_hooks", None)  # a slot left unset until a hook is registered
    if post:
        for h in post:
            h(t)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, only_inputs=True,
         allow_unused=None, is_grads_batched=False, materialize_grads=False):
    """Gradients of ``outputs`` w.r.t. ``inputs`` as a tuple of Tensors (None for unused with allow_unused, zeros
    with materialize_grads). create_graph: the gradients are recorded (differentiable again); retain_graph defaults
    to create_graph. torch's signature, parameter for parameter: only_inputs is deprecated there and ignored (GAN
    gradient penalties still pass it), is_grads_batched (vmap over grad_outputs) is not provided."""
    if not only_inputs:
        warnings.warn("only_inputs argument is deprecated and is ignored now (defaults to True). To accumulate "
                      "gradient for other parts of the graph, please use torch.autograd.backward.", FutureWarning,
                      stacklevel=2)
    if is_grads_batched:
        raise NotImplementedError("grad: is_grads_batched=True (a vmap over grad_outputs) is not provided by "
                                  "tensorgrad; loop over the batch of grad_outputs, or use tensorgrad.func.vmap")
    if materialize_grads and allow_unused is False:
        raise ValueError("Expected allow_unused to be True or not passed when materialize_grads=True, but got: "
                         "allow_unused=False.")
    allow_unused = bool(allow_unused or materialize_grads)
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    for i, x in enumerate(inputs):
        if not x.requires_grad:
            raise RuntimeError(f"grad: input {i} (shape {tuple(x.shape)}) does not require grad")
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    if retain_graph is None:
        retain_graph = create_graph
    gs = [_seed_grad("grad", o, g, create_graph) for o, g in zip(outputs, grad_outputs)]
    res = run_backward(outputs, gs, retain_graph=bool(retain_graph), inputs=inputs, allow_unused=allow_unused,
                       create_graph=create_graph)
    if materialize_grads:  # (an unused input's gradient: zeros of its shape, as torch)
        res = [g if g is not None else Tensor._make(x._xp.zeros_like(x.array), None) if create_graph
               else x._xp.zeros_like(x.array) for x, g in zip(inputs, res)]
    if create_graph:
        return tuple(res)
    return tuple(None if g is None else Tensor._make(g, None) for g in res)


def _seed_grad(opname, t, gradient, create_graph=False):
    g = _seed_array(opname, t, gradient)
    if not create_graph:
        return g
    # create_graph: the seed as a Tensor; a given grad_output keeps its graph (double backward flows into it)
    if isinstance(gradient, Tensor) and gradient.array is g:
        return gradient
    return Tensor._make(g, None)


def _seed_array(opname, t, gradient):
    if not t.requires_grad:
        raise RuntimeError(f"{opname}: tensor of shape {tuple(t.shape)} does not require grad and has no grad_fn "
                           "(was it created under no_grad, or from tensors with requires_grad=False?)")
    if gradient is None:
        if t.array.dtype.kind == "c":
            raise RuntimeError(f"{opname}: grad can be implicitly created only for real scalar outputs; got a "
                               f"{t.dtype} tensor of shape {tuple(t.shape)} (reduce it to a real loss, e.g. .abs())")
        if t.array.size != 1:
            raise RuntimeError(f"{opname}: grad can be implicitly created only for scalar outputs; got shape "
                               f"{tuple(t.shape)}. Pass gradient= a tensor of that shape.")
        return t._xp.ones(t.array.shape, dtype=t.array.dtype)
    g = gradient.array if isinstance(gradient, Tensor) else t._xp.asarray(gradient)
    if tuple(g.shape) != tuple(t.shape):
        raise RuntimeError(f"{opname}: gradient has shape {tuple(g.shape)} but the tensor has shape {tuple(t.shape)}")
    return g.astype(t.array.dtype, copy=False)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """torch.autograd.backward: accumulate into the .grad of every leaf the tensors depend on, or with inputs only
    into those tensors' .grad (leaves or not; the others keep theirs)."""
    if retain_graph is None:
        retain_graph = create_graph
    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    if grad_tensors is None or isinstance(grad_tensors, Tensor):
        grad_tensors = [grad_tensors] * len(tensors) if grad_tensors is None else [grad_tensors]
    gs = [_seed_grad("backward", t, g, create_graph) for t, g in zip(tensors, grad_tensors)]
    if inputs is None:
        run_backward(tensors, gs, retain_graph=retain_graph, create_graph=create_graph)
        return
    inputs = [inputs] if isinstance(inputs, Tensor) else list({id(x): x for x in inputs}.values())
    if not inputs:
        raise RuntimeError("backward: the 'inputs' argument cannot be empty (leave it out to accumulate into every "
                           "leaf)")
    for i, x in enumerate(inputs):
        if not isinstance(x, Tensor) or not x.requires_grad:
            raise RuntimeError(f"backward: input {i} ({_describe(x)}) does not require grad; every tensor in "
                               "'inputs' must")
    res = run_backward(tensors, gs, retain_graph=retain_graph, inputs=inputs, allow_unused=True,
                       create_graph=create_graph)
    for x, g in zip(inputs, res):
        if g is not None:  # (refs None: a captured gradient may be the seed or shared, so a first .grad is a copy)
            _accumulate(x, g, None, create_graph)


def _describe(x):
    return f"shape {tuple(x.shape)}" if isinstance(x, Tensor) else type(x).__name__
