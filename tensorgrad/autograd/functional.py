"""torch.autograd.functional: jacobian, hessian, vjp, jvp, hvp, vhp, built on grad(create_graph=True).

vectorize=True is accepted for torch's signature but changes nothing: every row of a Jacobian is one backward in a
Python loop (there is no vmap here). jvp is the double-vjp trick: J v = d/du <J^T u, v>, two backwards.
"""
from ..backend import xp_of

from ..tensor import Tensor
from .engine import grad as _grad
from .grad_mode import enable_grad


def _tuple(x):
    return (x,) if isinstance(x, Tensor) else tuple(x)


def _prep(inputs, create_graph):
    """Fresh leaves (torch: inputs are detached and made to require grad), graph-connected if create_graph."""
    return tuple(x if (create_graph and x.requires_grad) else x.detach().requires_grad_(True) for x in inputs)


def _grads(outs, ins, gos, create_graph, strict, what):
    outs = [o for o in outs]
    pairs = [(o, g) for o, g in zip(outs, gos) if o.requires_grad]
    if not pairs:
        res = (None,) * len(ins)
    else:
        res = _grad([p[0] for p in pairs], list(ins), [p[1] for p in pairs], create_graph=True, allow_unused=True)
    out = []
    for i, (x, g) in enumerate(zip(ins, res)):
        if g is None:
            if strict:
                raise RuntimeError(f"{what}: the output is independent of input {i} (strict=True)")
            g = x.detach() * 0
        out.append(g if create_graph else g.detach())
    return tuple(out)


def _ret(t, single):
    return t[0] if single else t


def _kept(out, create_graph):
    """func's output as returned: on the graph with create_graph, else detached (a Tensor or a tuple of them)."""
    if create_graph:
        return out
    return out.detach() if isinstance(out, Tensor) else tuple(o.detach() for o in out)


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    single = isinstance(inputs, Tensor)
    with enable_grad():
        ins = _prep(_tuple(inputs), create_graph)
        out = func(*ins)
        outs = _tuple(out)
        vs = (None,) * len(outs) if v is None else _tuple(v)
        g = _grads(outs, ins, vs, create_graph, strict, "vjp")
    out = _kept(out, create_graph)
    return out, _ret(g, single)


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    with enable_grad():
        ins = _prep(_tuple(inputs), create_graph)
        out = func(*ins)
        outs = _tuple(out)
        us = tuple((o.detach() * 0).requires_grad_(True) for o in outs)
        gs = _grads(outs, ins, us, True, strict, "jvp")  # J^T u, linear in u
        vs = _tuple(v) if v is not None else tuple(x.detach() * 0 + 1 for x in ins)
        pairs = [(g, w) for g, w in zip(gs, vs) if g.requires_grad]
        jv = _grad([p[0] for p in pairs], list(us), [p[1] for p in pairs], create_graph=create_graph,
                   allow_unused=True) if pairs else (None,) * len(us)
    jv = tuple(o.detach() * 0 if j is None else (j if create_graph else j.detach()) for j, o in zip(jv, outs))
    out = _kept(out, create_graph)
    return out, (jv[0] if isinstance(out, Tensor) else jv)


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False, strategy="reverse-mode"):
    """One backward per output element (a Python loop; vectorize is accepted and ignored)."""
    single_in = isinstance(inputs, Tensor)
    with enable_grad():
        ins = _prep(_tuple(inputs), create_graph)
        out = func(*ins)
        outs = _tuple(out)
        rows = []
        for o in outs:
            flat = o.reshape(-1)
            per_in = [[] for _ in ins]
            for k in range(flat.shape[0]):
                gs = _grads([flat[k]], ins, [None], create_graph, strict, "jacobian")
                for j, g in enumerate(gs):
                    per_in[j].append(g)
            blocks = []
            for j, x in enumerate(ins):
                from_rows = [g.reshape(-1) for g in per_in[j]]
                m = _stack(from_rows, x.detach().reshape(-1) * 0)
                blocks.append(m.reshape(tuple(o.shape) + tuple(x.shape)))
            rows.append(blocks[0] if single_in else tuple(blocks))
    return rows[0] if isinstance(out, Tensor) else tuple(rows)


def _stack(rows, empty):
    """Rows (each (n,)) stacked into (m, n) with recorded ops only (autograd imports no op): sum_k e_k r_k^T."""
    m = len(rows)
    if not m:
        return empty.reshape(0, *empty.shape)
    xp = xp_of(rows[0].array)
    out = None
    for k, r in enumerate(rows):
        e = xp.zeros((m, 1), dtype=r.array.dtype)
        e[k] = 1
        term = Tensor._make(e, None) * r.reshape(1, -1)
        out = term if out is None else out + term
    return out


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False, outer_jacobian_strategy="reverse-mode"):
    single = isinstance(inputs, Tensor)

    def jac_fn(*xs):
        out = func(*xs)
        if out.numel() != 1:
            raise RuntimeError(f"hessian: the function must return a single-element Tensor, got shape {tuple(out.shape)}")
        gs = _grads([out], xs, [None], True, strict, "hessian")
        return gs[0] if single else gs
    return jacobian(jac_fn, inputs, create_graph=create_graph, strict=strict)


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    single = isinstance(inputs, Tensor)
    with enable_grad():
        ins = _prep(_tuple(inputs), create_graph)
        out = func(*ins)
        gs = _grads([out], ins, [None], True, strict, "vhp")
        vs = _tuple(v)
        h = _grads(list(gs), ins, list(vs), create_graph, strict, "vhp")
    return (out if create_graph else out.detach()), _ret(h, single)


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """H v; for the (symmetric) Hessian of a scalar function equal to vhp, which is what is computed."""
    return vhp(func, inputs, v, create_graph, strict)
