"""torch's keyword spellings that tensorgrad's signatures do not have, accepted on the top-level functions and the
Tensor methods (installed once, at the end of package import, as out_arg.py's out=):

- NumPy's names, which torch's argument parser takes for every native function: ``axis`` for ``dim`` and
  ``keepdims`` for ``keepdim`` (torch.stack(xs, axis=-1), x.mean(axis=0), torch.min(x, 1, keepdims=True): public
  diffusion and timm code writes them);
- the name of a size or dims list that tensorgrad takes as ``*args``: x.flip(dims=(-1,)), x.reshape(shape=s),
  x.view(size=s), x.permute(dims=p), x.expand(size=s), x.repeat(repeats=r), x.tile(dims=r), x.new_zeros(size=s).

A function is wrapped only where it can take these: its signature names dim / keepdim, its *args is the list, or it
is a forwarding (*args, **kwargs) method whose target's signature inspect cannot see. The wrapper renames and calls
through; a call without keywords costs one extra frame.
"""
import functools
import inspect

_NUMPY = (("axis", "dim"), ("keepdims", "keepdim"))
# torch's keyword for the list that tensorgrad's function takes as *args, where it is not the *args' own name
_VARARG_NAME = {"view": "size", "expand": "size", "repeat": "repeats", "tile": "dims", "reshape": "shape",
                "permute": "dims", "flip": "dims", "broadcast_to": "size", "new_zeros": "size", "new_ones": "size",
                "new_empty": "size"}


def _plan(fn, name):
    """(numpy renames, torch's keyword for the *args list) that fn needs, or None when it needs neither."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return None
    kinds = {p.name: p.kind for p in params.values()}
    var = next((n for n, k in kinds.items() if k == inspect.Parameter.VAR_POSITIONAL), None)
    forwarding = var is not None and any(k == inspect.Parameter.VAR_KEYWORD for k in kinds.values()) \
        and len(kinds) <= 3  # (self, *args, **kwargs): the target's names are not visible here
    renames = tuple((a, d) for a, d in _NUMPY if a not in kinds and (d in kinds or forwarding))
    listed = None
    if var is not None and not forwarding and name in _VARARG_NAME:
        listed = _VARARG_NAME.get(name)
        if kinds.get(listed, inspect.Parameter.VAR_POSITIONAL) != inspect.Parameter.VAR_POSITIONAL:
            listed = None  # (a parameter of that name exists: the keyword already works)
    if not renames and listed is None:
        return None
    return renames, listed


def _wrap(fn, name, renames, listed):
    @functools.wraps(fn)
    def f(*args, **kwargs):
        if kwargs:
            for alias, canonical in renames:
                if alias in kwargs:
                    if canonical in kwargs:
                        raise TypeError(f"{name}() got multiple values for argument '{canonical}' (also given as "
                                        f"'{alias}', NumPy's name for it)")
                    kwargs[canonical] = kwargs.pop(alias)
            if listed is not None and listed in kwargs:
                if len(args) > 1:
                    raise TypeError(f"{name}() got multiple values for argument '{listed}'")
                seq = kwargs.pop(listed)
                args = args + (tuple(seq) if isinstance(seq, (list, tuple)) else (seq,))
        return fn(*args, **kwargs)
    f._kwarg_aliases = True
    return f


def wrap(fn, name):
    """fn, taking torch's keyword spellings (itself when it needs none)."""
    if getattr(fn, "_kwarg_aliases", False):
        return fn
    plan = _plan(fn, name)
    return fn if plan is None else _wrap(fn, name, *plan)


def install(namespace, tensor_cls):
    for name, fn in list(namespace.items()):
        if not name.startswith("_") and inspect.isfunction(fn):
            namespace[name] = wrap(fn, name)
    for name, fn in list(vars(tensor_cls).items()):
        if not name.startswith("_") and inspect.isfunction(fn):
            setattr(tensor_cls, name, wrap(fn, name))
