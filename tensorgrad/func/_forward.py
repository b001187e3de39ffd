"""torch.func's forward-mode transforms -- jvp, linearize, jacfwd -- over a reverse-mode tape.

jvp is the double-vjp trick: with u a fresh cotangent, g(u) = J^T u is recorded (one backward with create_graph),
and it is linear in u, so its vjp against the tangent t is d<g(u), t>/du = J t (a second backward). That needs every
op on the path from the primals to the outputs to have a double backward (a differentiable backward_graph); an op
without one raises (naming the op) instead of giving a wrong product. linearize keeps g(u) and runs only the second
backward per call.

jacfwd returns the same Jacobian as jacrev and computes it the same way, by rows: one backward per output element.
Columns by jvp would cost two backward passes per input element and would fail on ops that have a backward but no
double backward, where the rows work (recorded_grad); the values are the same either way."""
from ..autograd.engine import grad as _grad
from ..autograd.forward_ad import double_backward
from ..autograd.function import DelayedError
from ..autograd.grad_mode import enable_grad
from ..random import default_generator
from ..tensor import Tensor
from ..ops.movement import stack
from . import _pytree as P
from ._vmap import _RANDOM_ERROR, _RANDOMNESS


def _is_float(t):
    return t.is_floating_point() or t.is_complex()


def _differentiable(p):
    """A stand-in for primal p that the transform differentiates with respect to: a copy of p on p's graph when p
    needs grad (so an outer transform or backward sees through), else a fresh leaf sharing p's memory. Never p
    itself, so a use of p that func captures (not its argument) stays a constant, as in torch."""
    return p.clone() if p.requires_grad else p.detach().requires_grad_(True)


def recorded_grad(outputs, inputs, grad_outputs=None, **kwargs):
    """autograd.grad with create_graph, so that the gradients can be differentiated again (transforms nest). Where
    an op on the path has no double backward, the gradients are computed unrecorded and each is put behind a
    DelayedError node whose inputs are the outputs, so that everything they depend on is reached only through it:
    differentiating the gradients again raises naming the op (torch's once_differentiable) instead of treating them
    as constants."""
    try:
        return _grad(outputs, inputs, grad_outputs, create_graph=True, **kwargs)
    except NotImplementedError as e:
        if "double backward" not in str(e):
            raise
        gs = _grad(outputs, inputs, grad_outputs, create_graph=False, **kwargs)
        outs = [o for o in ([outputs] if isinstance(outputs, Tensor) else outputs) if o.requires_grad]
        with enable_grad():
            return tuple(None if g is None else DelayedError.apply(g.detach(), *outs, fn_name=str(e)) for g in gs)


def _split_aux(api, out, has_aux):
    if not has_aux:
        return out, None
    if not (isinstance(out, tuple) and len(out) == 2):
        raise RuntimeError(f"{api}: output of function f should be a tuple: (output, aux) if has_aux is True")
    return out


def _output_leaves(api, out):
    leaves, spec = P.flatten(out)
    for o in leaves:
        if not isinstance(o, Tensor):
            raise RuntimeError(f"{api}: expected f(*primals) to return only tensors, got unsupported type {type(o)}")
    return leaves, spec


def _check_primals(api, leaves):
    if not leaves:
        raise RuntimeError(f"{api}: Expected primals to contain at least one Tensor.")
    for p in leaves:
        if not isinstance(p, Tensor):
            raise RuntimeError(f"{api}: Expected primals to only contain Tensors, got {type(p)}")
        if not _is_float(p):
            raise ValueError(f"Expected primal to be floating point or complex, but got: {p.dtype}")


class _Linearized:
    """func run once at differentiable stand-ins of the primals, with g(u) = J^T u recorded for a fresh u."""

    def __init__(self, api, func, p_leaves, p_spec, has_aux):
        self.api = api
        with enable_grad():
            self.xs = [_differentiable(p) for p in p_leaves]
            out, self.aux = _split_aux(api, func(*P.unflatten(self.xs, p_spec)), has_aux)
            self.out = out
            self.o_leaves, self.o_spec = _output_leaves(api, out)
            live = [o for o in self.o_leaves if o.requires_grad and _is_float(o)]
            self.us = [o.detach().new_zeros(o.shape).requires_grad_(True) if o.requires_grad and _is_float(o)
                       else None for o in self.o_leaves]
            if live:
                gs = double_backward(api, live, self.xs, [u for u in self.us if u is not None], create_graph=True,
                                      allow_unused=True)
            else:
                gs = [None] * len(self.xs)
        self.gs = gs

    def push(self, tangents):
        """J t for tangents t (one per primal leaf), as a list matching the output leaves."""
        pairs = [(g, t.to(g.dtype)) for g, t in zip(self.gs, tangents) if g is not None and g.requires_grad]
        us = [u for u in self.us if u is not None]
        jv = iter([None] * len(us))
        if pairs and us:
            with enable_grad():
                jv = iter(double_backward(self.api, [g for g, _ in pairs], us, [t for _, t in pairs],
                                           create_graph=True, retain_graph=True, allow_unused=True))
        res = []
        for o, u in zip(self.o_leaves, self.us):
            j = next(jv) if u is not None else None
            res.append(o.detach().new_zeros(o.shape) if j is None else j)
        return P.unflatten(res, self.o_spec)


def jvp(func, primals, tangents, *, strict=False, has_aux=False):
    """torch.func.jvp: (func(*primals), J(primals) @ tangents), with aux third when has_aux. primals and tangents are
    tuples of the same structure (nested tuples / lists / dicts of tensors). The results stay on the tape (so they
    can be differentiated again); torch's require grad only where a tensor given to it does."""
    api = "jvp(f, primals, tangents)"
    if not isinstance(primals, tuple):
        raise RuntimeError(f"{api}: Expected primals to be a tuple. E.g. it should be valid to call f(*primals).")
    p_leaves, p_spec = P.flatten(primals)
    t_leaves, t_spec = P.flatten(tangents)
    if p_spec != t_spec:
        raise RuntimeError(f"{api}: Expected primals and tangents to have the same python structure. For example, if "
                           f"primals is a tuple of 3 tensors, tangents also must be. Got primals with structure "
                           f"{P.spec_repr(p_spec)} and tangents with structure {P.spec_repr(t_spec)}")
    _check_primals(api, p_leaves)
    for p, t in zip(p_leaves, t_leaves):
        if not isinstance(t, Tensor):
            raise RuntimeError(f"{api}: Expected tangents to only contain Tensors, got {type(t)}")
        if t.shape != p.shape:
            raise RuntimeError(f"Trying to set a forward gradient that has a different size than that of the original "
                               f"Tensor, this is not supported. Tensor is of size {list(p.shape)} while the given "
                               f"forward gradient is of size {list(t.shape)}.")
    lin = _Linearized(api, func, p_leaves, p_spec, has_aux)
    tout = lin.push(t_leaves)
    return (lin.out, tout, lin.aux) if has_aux else (lin.out, tout)


def linearize(func, *primals):
    """torch.func.linearize: (func(*primals), jvp_fn) with jvp_fn(*tangents) = J(primals) @ tangents. func runs once;
    each jvp_fn call is one backward through the recorded J^T u."""
    api = "linearize"
    p_leaves, p_spec = P.flatten(primals)
    _check_primals(api, p_leaves)
    lin = _Linearized(api, func, p_leaves, p_spec, False)

    def jvp_fn(*tangents):
        t_leaves, t_spec = P.flatten(tangents)
        if t_spec != p_spec:
            raise RuntimeError(f"Expected the tangents {P.spec_repr(t_spec)} to have the same argspec as the primals "
                               f"{P.spec_repr(p_spec)}")
        for i, (t, p) in enumerate(zip(t_leaves, p_leaves)):
            if not isinstance(t, Tensor):
                raise RuntimeError(f"linearize: tangent:{i} is of type {type(t)}, expected a Tensor")
            if t.shape != p.shape:
                raise RuntimeError(f"tangent:{i} with shape {t.shape} in flattened pytree doesn't match the shape "
                                   f"{p.shape} of the corresponding primal.")
            if t.dtype != p.dtype:
                raise RuntimeError(f"tangent:{i} with dtype {t.dtype} in flattened pytree doesn't match the dtype "
                                   f"{p.dtype} of the corresponding primal.")
        return lin.push(t_leaves)
    return lin.out, jvp_fn


def _argnums(argnums, nargs):
    if not isinstance(argnums, (int, tuple)) or isinstance(argnums, bool):
        raise RuntimeError(f"argnums must be int or Tuple[int, ...], got: {type(argnums)}")
    nums = (argnums,) if isinstance(argnums, int) else argnums
    if not nums:
        raise RuntimeError("argnums must be non-empty")
    for n in nums:
        if not isinstance(n, int) or isinstance(n, bool):
            raise RuntimeError(f"argnums must be int or Tuple[int, ...], got: {type(argnums)}")
        if not -nargs <= n < nargs:
            raise RuntimeError(f"Got argnum={n}, but only {nargs} positional inputs")
    nums = tuple(n % nargs for n in nums)
    if len(set(nums)) != len(nums):
        raise RuntimeError(f"argnums must be unique, got {argnums}")
    return nums


def jacobian(api, func, args, argnums, has_aux, randomness="same"):
    """The Jacobian of func's outputs (any structure of tensors) with respect to args[argnums] (each any structure of
    floating tensors): for each output leaf o, the structure of the selected arguments with each leaf x replaced by
    d o / d x of shape o.shape + x.shape (a tuple over argnums when argnums is a tuple). Rows by reverse mode: one
    backward per output element, recorded (create_graph) so that Jacobians nest."""
    if randomness not in _RANDOMNESS:
        raise RuntimeError(f"Only allowed values for randomness are 'error', 'different', or 'same'. Got {randomness}")
    nums = _argnums(argnums, len(args))
    a = list(args)
    specs, xs = [], []
    with enable_grad():
        for n in nums:
            leaves, spec = P.flatten(args[n])
            _check_primals(api, leaves)
            stand = [_differentiable(p) for p in leaves]
            a[n] = P.unflatten(stand, spec)
            specs.append((spec, len(xs), len(xs) + len(stand)))
            xs.extend(stand)
        start = default_generator.get_state()
        out = func(*a)
        if randomness == "error" and default_generator.get_state() != start:
            default_generator.set_state(start)
            raise RuntimeError(_RANDOM_ERROR)
        out, aux = _split_aux(api, out, has_aux)
        o_leaves, o_spec = _output_leaves(api, out)
        jac = []
        for o in o_leaves:
            blocks = _rows(o, xs)
            per_arg = [P.unflatten(blocks[lo:hi], spec) for spec, lo, hi in specs]
            jac.append(per_arg[0] if isinstance(argnums, int) else tuple(per_arg))
    jac = P.unflatten(jac, o_spec)
    return (jac, aux) if has_aux else jac


def _rows(o, xs):
    """[d o / d x for x in xs], each of shape o.shape + x.shape: one recorded backward per element of o, seeded
    with that element's one-hot cotangent."""
    n = o.numel()
    rows = [[] for _ in xs]
    if o.requires_grad and _is_float(o):
        for k in range(n):
            seed = o.detach().new_zeros(n)
            seed[k] = 1
            gs = recorded_grad([o], xs, [seed.reshape(o.shape)], retain_graph=True, allow_unused=True)
            for r, g, x in zip(rows, gs, xs):
                r.append(x.detach().new_zeros(x.shape) if g is None else g)
    blocks = []
    for r, x in zip(rows, xs):
        if len(r) != n or not n:
            blocks.append(x.detach().new_zeros(tuple(o.shape) + tuple(x.shape)))
        else:
            blocks.append(stack(r).reshape(tuple(o.shape) + tuple(x.shape)))
    return blocks


def jacfwd(func, argnums=0, has_aux=False, *, randomness="error"):
    """torch.func.jacfwd: the Jacobian of func with respect to its argnums arguments -- the same values as jacrev,
    computed by rows (see the module docstring). randomness='error' raises when func draws from the default
    generator (torch's jacfwd runs func under vmap); otherwise func runs once and every column sees its draws."""
    def wrapper(*args):
        return jacobian("jacfwd", func, args, argnums, has_aux, randomness)
    return wrapper


__all__ = ["jvp", "linearize", "jacfwd"]
