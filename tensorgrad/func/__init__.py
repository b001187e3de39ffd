"""torch.func's transforms over tensorgrad's tape: grad, grad_and_value, vjp, jacrev, hessian here (each call records
the function and differentiates it with create_graph=True, so transforms nest: grad(grad(f))); vmap (a loop over the
batch, _vmap.py); jvp, linearize, jacfwd (forward-mode products as double backward, _forward.py); functional_call and
stack_module_state for running stacked copies of a module. jacrev, jacfwd and hessian loop over output elements in
Python."""
from ..autograd.grad_mode import enable_grad
from ..tensor import Tensor
from ..nn.utils.stateless import _functional_call as _stateless_call
from ..ops.movement import stack as _stack
from ._vmap import vmap
from ._forward import jvp, linearize, jacfwd, jacobian as _jacobian, recorded_grad as _recorded_grad
from ._forward import _argnums, _differentiable
from . import _pytree as _P


def _stand_ins(args, nums):
    """args with the leaves of args[n] (n in nums) replaced by differentiable stand-ins, and per n the stand-ins with
    their structure. torch's checks: every such leaf a floating Tensor."""
    a, picked = list(args), []
    for n in nums:
        leaves, spec = _P.flatten(args[n])
        for x in leaves:
            if not isinstance(x, Tensor):
                raise ValueError(f"Thing passed to transform API must be Tensor, got {type(x)}")
            if not (x.is_floating_point() or x.is_complex()):
                raise RuntimeError("only Tensors of floating point dtype can require gradients")
        xs = [_differentiable(x) for x in leaves]
        a[n] = _P.unflatten(xs, spec)
        picked.append((xs, spec))
    return a, picked


def _grads_like(gs, picked, single):
    """The gradients (None: zeros) in the structure of the differentiated arguments."""
    it = iter(gs)
    per = [_P.unflatten([x.detach().new_zeros(x.shape) if g is None else g for x, g in zip(xs, it)], spec)
           for xs, spec in picked]
    return per[0] if single else tuple(per)


def grad_and_value(func, argnums=0, has_aux=False):
    """torch.func.grad_and_value: (gradient, value) of a scalar-valued func with respect to args[argnums] (each a
    tensor or a nested tuple / list / dict of them; a tuple of such when argnums is a tuple). Recorded
    (create_graph), so it nests with itself and with vmap / jacrev / jvp."""
    api = "grad_and_value(f)(*args)"

    def wrapper(*args, **kwargs):
        nums = _argnums(argnums, len(args))
        with enable_grad():
            a, picked = _stand_ins(args, nums)
            out = func(*a, **kwargs)
            aux = None
            if has_aux:
                if not (isinstance(out, tuple) and len(out) == 2):
                    raise RuntimeError(f"{api}: output of function f should be a tuple: (output, aux) if has_aux is "
                                       "True")
                out, aux = out
            if not isinstance(out, Tensor):
                raise RuntimeError(f"{api}: Expected f(*args) to return a Tensor, got {type(out)}")
            if out.dim() != 0:
                raise RuntimeError(f"{api}: Expected f(*args) to return a scalar Tensor, got tensor with {out.dim()} "
                                   "dims. Maybe you wanted to use the vjp or jacrev APIs instead?")
            xs = [x for xs, _ in picked for x in xs]
            gs = _recorded_grad(out, xs, allow_unused=True) if out.requires_grad else [None] * len(xs)
        g = _grads_like(gs, picked, isinstance(argnums, int))
        return (g, (out, aux)) if has_aux else (g, out)
    return wrapper


def grad(func, argnums=0, has_aux=False):
    """torch.func.grad: grad_and_value's gradient (and aux when has_aux)."""
    gv = grad_and_value(func, argnums, has_aux)

    def wrapper(*args, **kwargs):
        g, v = gv(*args, **kwargs)
        return (g, v[1]) if has_aux else g
    return wrapper


def vjp(func, *primals, has_aux=False):
    """torch.func.vjp: (func(*primals), vjp_fn[, aux]); vjp_fn(cotangents), cotangents in the structure of func's
    output, gives the gradients in the structure of primals (a tuple, one per primal)."""
    api = "vjp(f, *primals)"
    with enable_grad():
        a, picked = _stand_ins(primals, range(len(primals)))
        out = func(*a)
        aux = None
        if has_aux:
            if not (isinstance(out, tuple) and len(out) == 2):
                raise RuntimeError(f"{api}: output of function f should be a tuple: (output, aux) if has_aux is True")
            out, aux = out
    o_leaves, o_spec = _P.flatten(out)
    for o in o_leaves:
        if not isinstance(o, Tensor):
            raise RuntimeError(f"{api}: expected f(*primals) to return only tensors, got unsupported type {type(o)}")
    xs = [x for xs_, _ in picked for x in xs_]

    def vjp_fn(cotangents):
        c_leaves, c_spec = _P.flatten(cotangents)
        if c_spec != o_spec:
            raise RuntimeError("Expected pytree structure of cotangents to be the same as pytree structure of outputs "
                               f"to the function. cotangents: {_P.spec_repr(c_spec)}, primal output: "
                               f"{_P.spec_repr(o_spec)}")
        for c, o in zip(c_leaves, o_leaves):
            if not isinstance(c, Tensor) or c.shape != o.shape:
                got = tuple(c.shape) if isinstance(c, Tensor) else type(c)
                raise RuntimeError(f"vjp_fn: a cotangent of shape {got} for an output of shape {tuple(o.shape)}; "
                                   "each cotangent has its output's shape")
        pairs = [(o, c) for o, c in zip(o_leaves, c_leaves) if o.requires_grad]
        with enable_grad():
            gs = _recorded_grad([o for o, _ in pairs], xs, [c for _, c in pairs], allow_unused=True,
                                retain_graph=True) if pairs else [None] * len(xs)
        return _grads_like(gs, picked, False)
    return (out, vjp_fn, aux) if has_aux else (out, vjp_fn)


def jacrev(func, argnums=0, *, has_aux=False, chunk_size=None, _preallocate_and_copy=False):
    """torch.func.jacrev: one recorded backward per output element (chunk_size is accepted: rows are one at a
    time); arguments and outputs may be nested tuples / lists / dicts of tensors, as torch's."""
    if chunk_size is not None and chunk_size <= 0:
        raise ValueError("jacrev: `chunk_size` should be greater than 0.")

    def wrapper(*args):
        return _jacobian("jacrev", func, args, argnums, has_aux)
    return wrapper


def hessian(func, argnums=0):
    return jacrev(jacrev(func, argnums), argnums)


__all__ = ["grad", "grad_and_value", "vjp", "jacrev", "hessian", "vmap", "jvp", "linearize", "jacfwd",
           "functional_call", "stack_module_state"]


def functional_call(module, parameter_and_buffer_dicts, args=None, kwargs=None, *, tie_weights=True, strict=False):
    """module(*args, **kwargs) with its named parameters / buffers replaced by the given tensors for this call (one
    dict, or several whose keys must not repeat), as torch.func.functional_call."""
    if isinstance(parameter_and_buffer_dicts, (tuple, list)):
        merged = {}
        for d in parameter_and_buffer_dicts:
            repeated = sorted(merged.keys() & d.keys())
            if repeated:
                raise ValueError(f"{repeated} appeared in multiple dictionaries; behavior of functional call is "
                                 "ambiguous")
            merged.update(d)
        parameter_and_buffer_dicts = merged
    return _stateless_call(module, parameter_and_buffer_dicts, args, kwargs, tie_weights=tie_weights, strict=strict)


def stack_module_state(models):
    """torch.func.stack_module_state: (params, buffers), dicts from each name to the stack of that tensor over the
    models (a new leading dimension), for vmap over functional_call. Stacked parameters are new leaves that require
    grad when the models' do (gradients reach them, not the models' own parameters)."""
    if len(models) == 0:
        raise RuntimeError("stack_module_state: Expected at least one model, got 0.")
    if not (all(m.training for m in models) or all(not m.training for m in models)):
        raise RuntimeError("stack_module_state: Expected all models to have the same training/eval mode.")
    if not all(type(m) is type(models[0]) for m in models):
        raise RuntimeError("stack_module_state: Expected all models to be of the same class.")
    all_params = [dict(m.named_parameters()) for m in models]
    params = {k: _stacked_leaf([p[k] for p in all_params], k) for k in all_params[0]}
    all_buffers = [dict(m.named_buffers()) for m in models]
    buffers = {k: _stacked_leaf([b[k] for b in all_buffers], k) for k in all_buffers[0]}
    return params, buffers


def _stacked_leaf(tensors, name):
    needs = [t.requires_grad for t in tensors]
    if any(needs) and not all(needs):
        raise RuntimeError(f"Expected {name} from each model to have the same .requires_grad")
    out = _stack([t.detach() for t in tensors])
    return out.requires_grad_() if all(needs) else out
