"""torch.func's grad, grad_and_value, vjp, jacrev, hessian as function transforms over tensorgrad's tape (each call
records the function and differentiates it with create_graph=True, so transforms nest: grad(grad(f))). No vmap:
jacrev and hessian loop over output elements in Python."""
from ..autograd.engine import grad as _grad
from ..autograd.grad_mode import enable_grad
from ..autograd import functional as _F
from ..tensor import Tensor
from ..nn.utils.stateless import _functional_call as _stateless_call


def _args(args, argnums):
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    args = list(args)
    for i in nums:
        x = args[i]
        args[i] = x if x.requires_grad else x.detach().requires_grad_(True)
    return args, nums


def grad_and_value(func, argnums=0, has_aux=False):
    def wrapper(*args):
        with enable_grad():
            a, nums = _args(args, argnums)
            out = func(*a)
            aux = None
            if has_aux:
                out, aux = out
            if out.numel() != 1:
                raise RuntimeError(f"grad: the function must return a single-element Tensor, got shape {tuple(out.shape)}")
            gs = _grad(out, [a[i] for i in nums], create_graph=True, allow_unused=True)
        gs = tuple(a[i].detach() * 0 if g is None else g for g, i in zip(gs, nums))
        g = gs[0] if isinstance(argnums, int) else gs
        return (g, (out, aux)) if has_aux else (g, out)
    return wrapper


def grad(func, argnums=0, has_aux=False):
    gv = grad_and_value(func, argnums, has_aux)

    def wrapper(*args):
        g, v = gv(*args)
        return (g, v[1]) if has_aux else g
    return wrapper


def vjp(func, *primals):
    with enable_grad():
        xs = [x if x.requires_grad else x.detach().requires_grad_(True) for x in primals]
        out = func(*xs)

    def vjp_fn(v):
        with enable_grad():
            outs = [out] if isinstance(out, Tensor) else list(out)
            vs = [v] if isinstance(v, Tensor) else list(v)
            gs = _grad(outs, xs, vs, create_graph=True, allow_unused=True, retain_graph=True)
        return tuple(x.detach() * 0 if g is None else g for g, x in zip(gs, xs))
    return out, vjp_fn


def jacrev(func, argnums=0):
    def wrapper(*args):
        nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)

        def f(*xs):
            a = list(args)
            for i, x in zip(nums, xs):
                a[i] = x
            return func(*a)
        ins = tuple(args[i] for i in nums)
        return _F.jacobian(f, ins[0] if isinstance(argnums, int) else ins, create_graph=True)
    return wrapper


def hessian(func, argnums=0):
    return jacrev(jacrev(func, argnums), argnums)


__all__ = ["grad", "grad_and_value", "vjp", "jacrev", "hessian"]


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
