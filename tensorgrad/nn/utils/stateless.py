"""torch.nn.utils.stateless.functional_call (deprecated in torch for torch.func.functional_call, the same call):
run a module with some of its parameters and buffers replaced by the given tensors for that one call, the
module's own tensors put back afterwards, so gradients flow to the given tensors."""
import contextlib
import warnings

from ...tensor import Tensor

__all__ = ["functional_call"]


def _untie(module, given):
    """tie_weights: a value given for one name of tied tensors (the same Parameter under several names) goes to
    every name it is tied to, as torch's _untie_named_tensors_map."""
    names_of = {}
    for name, t in list(module.named_parameters(remove_duplicate=False)) + \
            list(module.named_buffers(remove_duplicate=False)):
        names_of.setdefault(id(t), set()).add(name)
    tied = {n: ns for ns in names_of.values() if len(ns) > 1 for n in ns}
    out = dict(given)
    for name in given:
        if name not in tied:
            continue
        group = tied[name]
        if len({id(given[n]) for n in group if n in given}) > 1:
            raise ValueError(f"functional_call got multiple values for keys {sorted(group)}, which are tied. "
                             "Consider using tie_weights=False")
        for n in group:
            out[n] = given[name]
    return out


def _swap(module, name, value):
    """Put ``value`` at the dotted ``name``; returns what was there."""
    prefix, _, attr = name.rpartition(".")
    mod = module.get_submodule(prefix)
    for d in (mod._parameters, mod._buffers):
        if attr in d:
            old, d[attr] = d[attr], value
            return old
    old = mod.__dict__.get(attr)  # a plain attribute (torch's swap allows missing names too)
    if value is None:
        mod.__dict__.pop(attr, None)
    else:
        object.__setattr__(mod, attr, value)
    return old


@contextlib.contextmanager
def _reparametrize_module(module, parameters_and_buffers, tie_weights=False, strict=False):
    given = _untie(module, parameters_and_buffers) if tie_weights else dict(parameters_and_buffers)
    if strict:
        known = {n for n, _ in module.named_parameters(remove_duplicate=False)} | \
                {n for n, _ in module.named_buffers(remove_duplicate=False)}
        missing, unexpected = sorted(known - set(given)), sorted(set(given) - known)
        msgs = []
        if unexpected:
            msgs.append(f"Unexpected key(s): {', '.join(map(repr, unexpected))}.")
        if missing:
            msgs.append(f"Missing key(s): {', '.join(map(repr, missing))}.")
        if msgs:
            raise RuntimeError(f"Error(s) in reparametrizing for {module._get_name()}:\n\t" + "\n\t".join(msgs))
    saved = []
    try:
        for name, value in given.items():
            if not isinstance(value, Tensor):
                raise TypeError(f"functional_call: the value for {name!r} must be a Tensor, got "
                                f"{type(value).__name__}")
            saved.append((name, _swap(module, name, value)))
        yield
    finally:
        for name, old in reversed(saved):
            _swap(module, name, old)


def functional_call(module, parameters_and_buffers, args=None, kwargs=None, *, tie_weights=True, strict=False):
    """module(*args, **kwargs) with the named parameters / buffers replaced by the dict's tensors."""
    warnings.warn("`torch.nn.utils.stateless.functional_call` is deprecated as of PyTorch 2.0 and will be removed "
                  "in a future version of PyTorch. Please use `torch.func.functional_call` instead which is a "
                  "drop-in replacement.", FutureWarning, stacklevel=2)
    return _functional_call(module, parameters_and_buffers, args, kwargs, tie_weights=tie_weights, strict=strict)


def _functional_call(module, parameters_and_buffers, args=None, kwargs=None, *, tie_weights=True, strict=False):
    if type(module).__name__ == "DataParallel":
        raise RuntimeError("The stateless API can't be used with nn.DataParallel module")
    kwargs = {} if kwargs is None else kwargs
    args = () if args is None else args if isinstance(args, tuple) else (args,)
    with _reparametrize_module(module, parameters_and_buffers, tie_weights=tie_weights, strict=strict):
        return module(*args, **kwargs)
