"""Make the tape visible: draw the graph of Function nodes that produced a tensor.

    from tensorgrad.viz import draw_graph, to_dot, graph_stats
    loss = ...                       # any tensor with a grad_fn
    draw_graph(loss, "net.png", grads=True)

What is drawn
-------------
* One box per Function node of the tape (op name, e.g. ``SigmoidBackward``, and its output shape) and one
  ellipse per leaf tensor that requires grad (its ``.name`` -- set it with ``w.name = "W1"`` -- or a name from
  ``params``, else ``leaf``, plus its shape). Inputs that do not require grad (data, targets, constants) are
  not on the tape and are not drawn.
* One edge per (input, consumer) pair, pointing the way data flows in forward (gradients flow back along it).
  An input used twice by one op (``x * x``) gives two edges.
* Values. Tensors of at most ``max_values`` (default 4) elements show their values; larger ones show the
  2-norm. A Function node does not keep its output (the tape frees activations), so a node shows a value
  only when its output tensor is known: the root tensor itself, a tensor passed in ``params`` (a dict
  name -> tensor may hold intermediates too, like ``{"h": h}``), or a tensor on which ``retain_grad()`` was
  called (the node holds a weak reference to it). Leaves always show their value.
* Gradients.
  - ``grads=False`` (default): nothing is run. Leaves show ``.grad`` if a backward already filled it, and
    intermediates show ``.grad`` if you called ``retain_grad()`` on them before backward.
  - ``grads=True``: draw_graph runs one *recorded* backward from the tensor itself, with
    ``retain_graph=True`` and without touching any ``.grad``: a temporary hook on every node's hook list
    (the list ``Tensor.register_hook`` uses) records dL/d(output) as it arrives at that node, and leaf
    gradients are returned by the engine's ``inputs=`` path (as in ``tensorgrad.autograd.grad``). So every
    node shows the gradient seen at that node. Hooks you registered run during this pass too (their
    returned replacements are honoured, as in any backward). This needs the tape intact: call draw_graph
    before ``loss.backward()``, or after ``loss.backward(retain_graph=True)``.

``to_dot`` and ``graph_stats`` are pure Python (no Graphviz needed); ``draw_graph`` renders with the
``graphviz`` package, which needs the ``dot`` program (``apt-get install graphviz`` / ``brew install
graphviz`` / ``conda install graphviz``) and ``pip install graphviz`` (or ``pip install tensorgrad[viz]``).
"""
import os
import shutil

import numpy as np

from .autograd.function import Function
from .tensor import Tensor
from .autograd import engine

__all__ = ["draw_graph", "to_dot", "graph_stats", "walk"]

_FORMATS = ("png", "svg", "pdf", "jpg", "jpeg", "gif", "dot", "gv")


# ------------------------------------------------------------------------------------------- traversal
def walk(tensor):
    """The tape behind ``tensor``: (nodes, edges).

    nodes: Function nodes and leaf Tensors, each once, root first then breadth-first (iterative).
    edges: (input, consumer) pairs, one per non-None entry of each node's ``.next``.
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"walk: expected a Tensor, got {type(tensor).__name__}")
    if tensor.grad_fn is None:
        return ([tensor] if tensor.requires_grad else []), []
    nodes, edges, seen = [], [], set()
    queue = [tensor.grad_fn]
    seen.add(id(tensor.grad_fn))
    i = 0
    while i < len(queue):
        node = queue[i]
        i += 1
        nodes.append(node)
        for nxt in node.next:
            if nxt is None:
                continue
            edges.append((nxt, node))
            if id(nxt) not in seen:
                seen.add(id(nxt))
                if isinstance(nxt, Function):
                    queue.append(nxt)
                else:
                    nodes.append(nxt)
    return nodes, edges


def graph_stats(tensor):
    """(num_nodes, num_edges) of the tape behind ``tensor`` (see ``walk`` for what counts)."""
    nodes, edges = walk(tensor)
    return len(nodes), len(edges)


# ------------------------------------------------------------------------------------------- labels
def _np(a):
    return a if isinstance(a, np.ndarray) else a.get()


def _fmt_array(a, max_values):
    a = _np(a)
    if a.size <= max_values:
        if a.ndim == 0:
            return f"{a.item():.4g}" if a.dtype.kind in "fc" else str(a.item())
        return "[" + ", ".join(f"{v:.4g}" for v in a.reshape(-1).tolist()) + "]"
    return f"|{np.linalg.norm(a.reshape(-1).astype(np.float64)):.4g}|"


def _shape(s):
    return "(" + ", ".join(str(d) for d in s) + ("," if len(s) == 1 else "") + ")"


def _params_map(params):
    """params -> {id(tensor): (name, tensor)} from a dict, a Module (named_parameters) or (name, t) pairs."""
    if params is None:
        return {}
    if hasattr(params, "named_parameters"):
        params = params.named_parameters()
    items = params.items() if hasattr(params, "items") else params
    out = {}
    for name, t in items:
        out[id(t)] = (name, t)
        if t.grad_fn is not None:
            out[id(t.grad_fn)] = (name, t)
    return out


def _escape(s):
    return s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _record_grads(tensor, nodes, grad_output):
    """One backward from ``tensor`` with retain_graph=True; {id(node or leaf): grad array}. No .grad is touched."""
    funcs = [n for n in nodes if isinstance(n, Function)]
    leaves = [n for n in nodes if not isinstance(n, Function)]
    if not funcs:
        return {}
    freed = [n.name() for n in funcs if n.freed]
    if freed:
        raise RuntimeError(
            f"draw_graph(grads=True): the tape was already freed by a backward() ({len(freed)} of {len(funcs)} "
            f"nodes, e.g. {freed[0]}). Call draw_graph before loss.backward(), or use "
            "loss.backward(retain_graph=True); or pass grads=False to show the leaves' .grad only.")
    seen = {}
    installed = []
    for node in funcs:
        def hook(g, _key=id(node)):
            seen[_key] = g.array.copy()
        had_list = node.hooks is not None
        if not had_list:
            node.hooks = []
        node.hooks.append(hook)
        installed.append((node, hook, had_list, node.retain))
        node.retain = None  # retain_grad() tensors: the recorded pass must not add to their .grad
    try:
        seed = engine._seed_grad("draw_graph", tensor, grad_output)
        leaf_grads = engine.run_backward([tensor], [seed], retain_graph=True, inputs=leaves, allow_unused=True)
    finally:
        for node, hook, had_list, retain in installed:
            node.retain = retain
            node.hooks.remove(hook)
            if not had_list and not node.hooks:
                node.hooks = None
    for leaf, g in zip(leaves, leaf_grads):
        if g is not None:
            seen[id(leaf)] = g
    return seen


# ------------------------------------------------------------------------------------------- DOT
def to_dot(tensor, grads=False, params=None, max_values=4, grad_output=None, rankdir="TB"):
    """The tape behind ``tensor`` as Graphviz DOT source (a str). Pure: no ``dot`` program needed.

    See the module docstring for labels and for ``grads``; ``params`` names leaves/intermediates
    (a dict name -> tensor, a Module, or (name, tensor) pairs); ``grad_output`` seeds a non-scalar
    tensor's recorded backward.
    """
    nodes, edges = walk(tensor)
    names = _params_map(params)
    recorded = _record_grads(tensor, nodes, grad_output) if grads else {}
    ids = {id(n): f"n{i}" for i, n in enumerate(nodes)}

    lines = ["digraph tape {", f'  rankdir={rankdir};',
             '  node [fontname="Helvetica", fontsize=10];', '  edge [color="#555555"];']
    for n in nodes:
        if isinstance(n, Function):
            known = names.get(id(n))
            out = known[1] if known else (n.retain() if n.retain is not None else None)
            if out is None and n is tensor.grad_fn:
                out = tensor
            title = n.name()
            if known:
                title = f"{known[0]} = {title}"
            elif out is not None and out.name:
                title = f"{out.name} = {title}"
            parts = [title, _shape(n.out_shape)]
            if out is not None:
                parts.append("value " + _fmt_array(out.array, max_values))
            g = recorded.get(id(n))
            if g is None and out is not None and out.grad is not None and not grads:
                g = out.grad.array
            if g is not None:
                parts.append("grad " + _fmt_array(g, max_values))
            root = n is tensor.grad_fn
            style = 'shape=box, style="rounded,filled", fillcolor="{}"'.format("#f8cecc" if root else "#eeeeee")
        else:
            name = n.name or (names[id(n)][0] if id(n) in names else "leaf")
            parts = [name, _shape(n.shape), "value " + _fmt_array(n.array, max_values)]
            g = recorded.get(id(n)) if grads else (n.grad.array if n.grad is not None else None)
            if g is not None:
                parts.append("grad " + _fmt_array(g, max_values))
            style = 'shape=ellipse, style=filled, fillcolor="#dae8fc"'
        lines.append(f'  {ids[id(n)]} [label="{_escape(chr(10).join(parts))}", {style}];')
    for src, dst in edges:
        lines.append(f"  {ids[id(src)]} -> {ids[id(dst)]};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _require_dot():
    if shutil.which("dot") is None:
        raise RuntimeError(
            "draw_graph: the Graphviz 'dot' program was not found on PATH; it renders the picture. Install it "
            "(Debian/Ubuntu: apt-get install -y graphviz; macOS: brew install graphviz; conda: conda install "
            "graphviz), or use tensorgrad.viz.to_dot(tensor) to get the DOT source without it.")
    try:
        import graphviz  # noqa: F401
    except ImportError as e:
        raise RuntimeError("draw_graph: the 'graphviz' Python package is missing: pip install graphviz "
                           "(or pip install 'tensorgrad[viz]'); to_dot() works without it") from e


def draw_graph(tensor, path, format=None, grads=False, params=None, max_values=4, grad_output=None, rankdir="TB"):
    """Render the tape behind ``tensor`` to ``path`` and return the path written.

    format: 'png', 'svg', 'pdf', ... (default: from path's extension, else png, appended to path).
    Other arguments as in ``to_dot``. Raises RuntimeError naming the missing ``dot`` program when Graphviz
    is not installed.
    """
    _require_dot()
    import graphviz
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lstrip(".").lower()
    if format is None:
        format = ext if ext in _FORMATS else "png"
    if ext != format.lower():
        path = f"{path}.{format}"
    src = to_dot(tensor, grads=grads, params=params, max_values=max_values, grad_output=grad_output,
                 rankdir=rankdir)
    if format in ("dot", "gv"):
        data = src.encode()
    else:
        data = graphviz.Source(src).pipe(format=format)
    d = os.path.dirname(path)
    if d:
        os.makedirs(d, exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return path
