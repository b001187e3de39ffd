"""Parameter and Module: PyTorch's nn.Module API (registration, traversal, state_dict, hooks, to()).

A Module keeps its Parameters, buffers and child Modules in three ordered dicts, filled by __setattr__.
Traversals (named_parameters, named_modules, ...) are iterative over the module tree and deduplicate by
identity, so a Parameter shared by two modules (weight tying) is listed, and optimized, once.
"""
import copy
import itertools
from collections import OrderedDict, namedtuple

import numpy as np

from .. import dtypes
from ..autograd.grad_mode import no_grad
from ..backend import Device, as_device, get_xp, to_device, xp_of
from ..tensor import Tensor
from .. import _memory_format
from .grads import zero_grad_
from .buffer import Buffer


class Parameter(Tensor):
    """A Tensor that a Module registers as a learnable parameter (requires_grad=True by default).

    Parameter(t) shares t's array, like torch.nn.Parameter. Ops on a Parameter return plain Tensors."""
    __slots__ = ()

    def __new__(cls, data=None, requires_grad=True):
        return object.__new__(cls)

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            data = np.empty((0,), dtype=dtypes.get_default_dtype())
        if isinstance(data, Tensor):
            data = data.array
        Tensor._init(self, data, None, None, requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + Tensor.__repr__(self)

    __str__ = __repr__

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        out = Parameter(self.array.copy(), requires_grad=self.requires_grad)
        if self.grad is not None:
            out.grad = Tensor._make(self.grad.array.copy(), None)
        memo[id(self)] = out
        return out

    def __reduce_ex__(self, proto):
        return (_rebuild_parameter, (self.__array__(), self.requires_grad))


def _rebuild_parameter(arr, requires_grad):
    return Parameter(arr, requires_grad)


class _RemovableHandle:
    _ids = itertools.count()

    def __init__(self, hooks):
        self.hooks = hooks
        self.id = next(_RemovableHandle._ids)

    def remove(self):
        self.hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    def __repr__(self):
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()


def _addindent(s, n):
    lines = s.split("\n")
    if len(lines) == 1:
        return s
    return lines[0] + "\n" + "\n".join(" " * n + line for line in lines[1:])


class Module:
    """Base class of all layers. Subclasses call super().__init__() and define forward()."""

    training: bool

    def __init__(self):
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = OrderedDict()
        d["_buffers"] = OrderedDict()
        d["_non_persistent_buffers"] = set()
        d["_modules"] = OrderedDict()
        d["_forward_hooks"] = OrderedDict()
        d["_forward_pre_hooks"] = OrderedDict()

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__}: Module subclasses must implement forward()")

    # ------------------------------------------------------------------------------- attributes
    def _check_init(self, name):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {name!r} before Module.__init__() call "
                                 f"(call super().__init__() first in {type(self).__name__}.__init__)")

    def __setattr__(self, name, value):
        d = self.__dict__
        if isinstance(value, Parameter):
            self._check_init(name)
            self._discard(name, keep="_parameters")
            d["_parameters"][name] = value
        elif isinstance(value, Buffer):  # nn.Buffer: registered as a buffer, persistent as it says
            self.register_buffer(name, value, value.persistent)
        elif isinstance(value, Module):
            self._check_init(name)
            self._discard(name, keep="_modules")
            d["_modules"][name] = value
        elif "_parameters" in d and name in d["_parameters"]:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as parameter {name!r} of "
                                f"{type(self).__name__} (nn.Parameter or None expected)")
            d["_parameters"][name] = None
        elif "_modules" in d and name in d["_modules"]:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as child module {name!r} of "
                                f"{type(self).__name__} (nn.Module or None expected)")
            d["_modules"][name] = None
        elif "_buffers" in d and name in d["_buffers"]:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign {type(value).__name__} as buffer {name!r} of "
                                f"{type(self).__name__} (Tensor or None expected)")
            d["_buffers"][name] = value
        else:
            object.__setattr__(self, name, value)

    def _discard(self, name, keep):
        """Forget ``name`` everywhere but in the dict ``keep`` it is about to be stored in: a name reassigned with
        its own kind keeps its place, so named_parameters()/state_dict() order stays as torch's."""
        d = self.__dict__
        d.pop(name, None)
        for k in ("_parameters", "_buffers", "_modules"):
            if k != keep:
                d[k].pop(name, None)
        d["_non_persistent_buffers"].discard(name)

    def __getattr__(self, name):  # only called when normal lookup fails
        d = self.__dict__
        for k in ("_parameters", "_buffers", "_modules"):
            if k in d and name in d[k]:
                return d[k][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        d = self.__dict__
        for k in ("_parameters", "_buffers", "_modules"):
            if name in d.get(k, ()):
                del d[k][name]
                d["_non_persistent_buffers"].discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        keys = list(super().__dir__())
        for k in ("_parameters", "_buffers", "_modules"):
            keys += list(self.__dict__[k])
        return sorted(set(keys))

    def register_parameter(self, name, param):
        self._check_init(name)
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"register_parameter: invalid parameter name {name!r}")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: cannot assign {type(param).__name__} as parameter {name!r} "
                            "(nn.Parameter or None expected)")
        self._discard(name, keep="_parameters")
        self._parameters[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        self._check_init(name)
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"register_buffer: invalid buffer name {name!r}")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer: cannot assign {type(tensor).__name__} as buffer {name!r} "
                            "(Tensor or None expected)")
        self._discard(name, keep="_buffers")
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent_buffers.add(name)

    def add_module(self, name, module):
        self._check_init(name)
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: {type(module).__name__} is not a Module subclass")
        if not isinstance(name, str) or "." in name or not name:
            raise KeyError(f"add_module: invalid module name {name!r}")
        self._discard(name, keep="_modules")
        self._modules[name] = module

    register_module = add_module

    def get_submodule(self, target):
        mod = self
        for item in target.split(".") if target else ():
            if item not in mod._modules:
                raise AttributeError(f"{type(mod).__name__} has no submodule {item!r} (looking up {target!r})")
            mod = mod._modules[item]
        return mod

    def get_parameter(self, target):
        mod_path, _, name = target.rpartition(".")
        mod = self.get_submodule(mod_path)
        if name not in mod._parameters:
            raise AttributeError(f"{type(mod).__name__} has no parameter {name!r} (looking up {target!r})")
        return mod._parameters[name]

    # ------------------------------------------------------------------------------- traversal
    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        """Pre-order walk (self first), iterative; each module once unless remove_duplicate=False."""
        if memo is None:
            memo = set()
        stack = [(prefix, self)]
        while stack:
            name, mod = stack.pop()
            if remove_duplicate:
                if id(mod) in memo:
                    continue
                memo.add(id(mod))
            yield name, mod
            kids = [((name + "." if name else "") + k, m) for k, m in mod._modules.items() if m is not None]
            stack.extend(reversed(kids))

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self):
        for _, m in self.named_children():
            yield m

    def _named_members(self, attr, prefix="", recurse=True, remove_duplicate=True):
        mods = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse else [(prefix, self)]
        seen = set()
        for mprefix, mod in mods:
            for k, v in getattr(mod, attr).items():
                if v is None:
                    continue
                if remove_duplicate:
                    if id(v) in seen:
                        continue
                    seen.add(id(v))
                yield (mprefix + "." if mprefix else "") + k, v

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn):
        """fn(module) on every submodule (children first, as in PyTorch), then on self."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------------------- modes, grads
    def train(self, mode=True):
        if not isinstance(mode, bool):
            raise ValueError(f"train: mode is expected to be a bool, got {type(mode).__name__}")
        for m in self.modules():
            m.__dict__["training"] = mode
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        zero_grad_(self.parameters(), set_to_none)

    # ------------------------------------------------------------------------------- device / dtype
    def to(self, *args, device=None, dtype=None, non_blocking=False, memory_format=None):
        """Move/cast parameters and buffers in place: Parameter objects keep their identity (so optimizers
        built on them stay valid); only floating-point tensors are cast to ``dtype``."""
        for a in args:
            if isinstance(a, Tensor):
                device, dtype = a.device, a.dtype
            elif isinstance(a, Device) or (isinstance(a, str) and a.split(":")[0] in ("cpu", "cuda")):
                device = a
            elif isinstance(a, int) and not isinstance(a, bool):  # a CUDA device index, as torch
                device = f"cuda:{a}"
            elif isinstance(a, str) and a.split(":")[0] == "meta":
                raise NotImplementedError(
                    "Module.to('meta'): tensorgrad has no meta device (tensors without data). torch.func's ensembling "
                    "recipe does not need one: use copy.deepcopy(models[0]) as the base module, since "
                    "functional_call replaces all its parameters and buffers")
            else:
                dtype = a
        dev = None if device is None else as_device(device)
        dt = None if dtype is None else dtypes.to_dtype(dtype)
        fmt = _memory_format.check(memory_format, "Module.to")
        if dt is not None and not dtypes.is_float(dt):
            raise TypeError(f"Module.to: only floating point dtypes are accepted, got {dt}")

        def conv(arr):
            if dev is not None:
                arr = to_device(arr, dev)
            if dt is not None and dtypes.is_float(arr.dtype) and arr.dtype != dt:
                arr = arr.astype(np.float32).astype(dt) if dt == dtypes.bfloat16 else arr.astype(dt)
            # a memory format reaches the tensors of its rank (4-d for channels_last), as torch's Module.to
            if fmt is not None and arr.ndim == _memory_format._RANK.get(fmt, arr.ndim + 1):
                arr = _memory_format.layout_array(arr, fmt, force=True)
            return arr

        with no_grad():
            for t in itertools.chain(self.parameters(), self.buffers()):
                new = conv(t.array)
                if new is not t.array:
                    t.array = new
                    t._bump()
                if t.grad is not None:
                    t.grad.array = conv(t.grad.array)
        return self

    _COMPILE_OPTIONS = ("fullgraph", "dynamic", "backend", "mode", "options", "disable")

    def compile(self, **kwargs):
        """torch's in-place Module.compile(**torch.compile's options), which returns None. tensorgrad runs eagerly
        (tensorgrad.compile returns what it is given), so the module stays as it is; the options are checked by
        name, as torch.compile's keyword-only signature does."""
        unknown = [k for k in kwargs if k not in self._COMPILE_OPTIONS]
        if unknown:
            raise TypeError(f"compile() got an unexpected keyword argument '{unknown[0]}' (torch.compile takes "
                            f"{', '.join(self._COMPILE_OPTIONS)})")

    def share_memory(self):
        """torch's: every parameter and buffer (and a gradient already there) moved into shared memory in place
        (Tensor.share_memory_), so that processes given this module (forked after this, or sent through
        torch.multiprocessing) train the same values. A gradient made later is each process's own."""
        for t in itertools.chain(self.parameters(), self.buffers()):
            t.share_memory_()
            if t.grad is not None:
                t.grad.share_memory_()
        return self

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to("cuda" if device is None else f"cuda:{device}" if isinstance(device, int) else device)

    def to_empty(self, *, device=None, recurse=True):
        """torch's: parameters and buffers moved to device with unset values (here: zeros)."""
        with no_grad():
            for t in itertools.chain(self.parameters(recurse=recurse), self.buffers(recurse=recurse)):
                t.array = get_xp(device).zeros(t.array.shape, t.array.dtype)
                t._bump()
        return self

    def float(self):
        return self.to(dtype=dtypes.float32)

    def double(self):
        return self.to(dtype=dtypes.float64)

    def half(self):
        return self.to(dtype=dtypes.float16)

    def type(self, dst_type):
        return self.to(dtype=dst_type)

    # ------------------------------------------------------------------------------- state_dict
    def state_dict(self, destination=None, prefix="", keep_vars=False):
        """Ordered {qualified name: tensor} of parameters and persistent buffers (detached unless keep_vars).
        Tied parameters appear under every name, as in PyTorch."""
        out = OrderedDict() if destination is None else destination
        for mprefix, mod in self.named_modules(prefix=prefix.rstrip("."), remove_duplicate=False):
            pre = mprefix + "." if mprefix else ""
            for k, p in mod._parameters.items():
                if p is not None:
                    out[pre + k] = p if keep_vars else p.detach()
            for k, b in mod._buffers.items():
                if b is not None and k not in mod._non_persistent_buffers:
                    out[pre + k] = b if keep_vars else b.detach()
        return out

    def load_state_dict(self, state_dict, strict=True, assign=False):
        """Copy values into the existing parameters/buffers in place (cast to their dtype and device).

        strict=True: missing or unexpected keys raise a RuntimeError listing them. Shape mismatches always raise.
        Returns (missing_keys, unexpected_keys)."""
        if not hasattr(state_dict, "keys"):
            raise TypeError(f"load_state_dict: expected a dict-like state_dict, got {type(state_dict).__name__}")
        expected = self.state_dict(keep_vars=True)
        missing = [k for k in expected if k not in state_dict]
        unexpected = [k for k in state_dict if k not in expected]
        errors = []
        todo = []
        for k, t in expected.items():
            if k not in state_dict:
                continue
            v = state_dict[k]
            arr = v.array if isinstance(v, Tensor) else v
            if hasattr(arr, "detach") and hasattr(arr, "cpu") and not hasattr(arr, "get"):  # a torch tensor
                arr = arr.detach().cpu().numpy()
            if not hasattr(arr, "shape") and not isinstance(arr, (bool, int, float, np.number, list, tuple)):
                errors.append(f'While copying the parameter named "{k}", expected a Tensor or array-like object from '
                              f"checkpoint but received {type(v).__name__} ({tuple(t.shape)} {t.dtype} in the model)")
                continue
            shape = tuple(getattr(arr, "shape", np.shape(arr)))
            if shape != t.shape:
                errors.append(f"size mismatch for {k}: copying a param with shape {shape} from checkpoint, "
                              f"the shape in current model is {tuple(t.shape)}.")
                continue
            todo.append((t, arr))
        if strict:
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ". ")
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ". ")
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t" + "\n\t".join(errors))
        with no_grad():
            for t, arr in todo:
                xp = xp_of(t.array)
                src = to_device(arr, t.device) if hasattr(arr, "shape") and not isinstance(arr, np.ndarray) \
                    else xp.asarray(arr)
                if src is t.array:
                    continue
                if assign:
                    t.array = src.astype(t.dtype, copy=True)
                else:
                    t.array[...] = src.astype(t.dtype, copy=False)
                t._bump()
        return _IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------------------- call + hooks
    def register_forward_pre_hook(self, hook):
        """hook(module, args) -> None or new args (a tuple, or one value), before forward."""
        h = _RemovableHandle(self._forward_pre_hooks)
        self._forward_pre_hooks[h.id] = hook
        return h

    def register_forward_hook(self, hook):
        """hook(module, args, output) -> None or a replacement output, after forward."""
        h = _RemovableHandle(self._forward_hooks)
        self._forward_hooks[h.id] = hook
        return h

    def __call__(self, *args, **kwargs):
        for hook in tuple(self._forward_pre_hooks.values()):
            r = hook(self, args)
            if r is not None:
                args = r if isinstance(r, tuple) else (r,)
        out = self.forward(*args, **kwargs)
        for hook in tuple(self._forward_hooks.values()):
            r = hook(self, args, out)
            if r is not None:
                out = r
        return out

    # ------------------------------------------------------------------------------- misc
    def num_parameters(self, trainable_only=False):
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def __deepcopy__(self, memo):
        new = object.__new__(type(self))
        memo[id(self)] = new
        for k, v in self.__dict__.items():
            new.__dict__[k] = copy.deepcopy(v, memo)
        return new

    def extra_repr(self):
        return ""

    def _get_name(self):
        return type(self).__name__

    def __repr__(self):
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({k}): " + _addindent(repr(m), 2) for k, m in self._modules.items()]
        lines = extra_lines + child_lines
        s = self._get_name() + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                s += extra_lines[0]
            else:
                s += "\n  " + "\n  ".join(lines) + "\n"
        return s + ")"
