"""tensorgrad.save / tensorgrad.load: torch.save / torch.load's call shape, without pickle.

What training scripts save (nested dicts, lists and tuples of Tensors, numbers, strings, bools and None; model and
optimizer state_dicts; RNG states; NumPy arrays) goes into ONE safetensors file: every tensor or array as a named
entry, the structure around them as JSON in the header's ``__metadata__["tensorgrad"]``. Loading parses JSON and
copies bytes, nothing else, so a file from anywhere can be loaded without running its code. Files are written
atomically and validated on reading by tensorgrad.io (a truncated or hostile file raises CheckpointError).

Where it differs from torch, and why:
- Pickle files (torch.save's zip archives, raw pickles) are refused with an error explaining the conversion:
  unpickling can execute arbitrary code.
- Only plain data is stored, plus whole nn.Modules (torch.save(model)): a module is stored as its class's name and its
  attributes (the same plain data, submodules, and module-level functions such as an activation), never as code. As
  torch's weights_only load (its default), loading one needs every class and function it names allowlisted with
  serialization.add_safe_globals / the safe_globals context manager; weights_only=False instead takes them from the
  modules the program has already imported (nothing is imported by the load). Either way the object is made with
  cls.__new__ and its attributes set, as unpickling does, without calling __init__. An object of any other class (a
  namedtuple, a dataclass) is refused at save time with its place in the structure.
- Storage sharing: the same Tensor object saved twice is stored once and comes back as one object (as pickle's memo
  does), but distinct tensors that share storage (views, tied weights in a state_dict) are stored once each and come
  back independent.
- weights_only matters only for saved modules (above); mmap and pickle load arguments are accepted for compatibility
  and change nothing: the file is read whole.
- A plain safetensors file without tensorgrad's structure (e.g. from safetensors.torch.save_file) loads as a dict of
  name -> Tensor.
- torch tensors may be passed to save (converted through NumPy), so a PyTorch checkpoint loaded with torch can be
  re-saved in this format; they load back as tensorgrad Tensors.
"""
import base64
import collections
import json
import math
import os
import sys
import types

import numpy as np

from .backend import Device, cuda_available, to_device
from .io import CheckpointError, atomic_write_bytes, parse_safetensors, read_file, safetensors_bytes
from .nn.module import Module, Parameter
from .tensor import Tensor

__all__ = ["save", "load", "add_safe_globals", "get_safe_globals",
           "clear_safe_globals", "safe_globals"]

FORMAT = "tensorgrad-save-1"
_CHECKPOINT_FORMAT = "tensorgrad-checkpoint-1"  # tensorgrad.io.save_checkpoint's files
_STORABLE = {np.dtype(t) for t in (np.float16, np.float32, np.float64, np.int8, np.int16, np.int32, np.int64,
                                   np.uint8, np.uint16, np.uint32, np.uint64, np.bool_)}
_FLOAT_NAMES = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}
_CONVERT = ("To convert a PyTorch checkpoint that you trust: load it in PyTorch (torch.load with "
            "weights_only=True), then either save a flat dict of tensors with safetensors.torch.save_file(sd, "
            "'model.safetensors') (tensorgrad.load reads plain safetensors files) or pass the loaded object to "
            "tensorgrad.save, which accepts torch tensors.")


# ------------------------------------------------------------------------------ allowlisted classes and functions
_SAFE_GLOBALS = {}  # "module.qualname" -> the object, as torch.serialization keeps them


def _global_name(obj):
    return f"{obj.__module__}.{obj.__qualname__}"


def _allow(items, where):
    out = {}
    for item in items:
        # torch also takes (obj, "module.qualname") for an object saved under another name
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], str):
            out[item[1]] = item[0]
        elif isinstance(item, (type, types.FunctionType, types.BuiltinFunctionType)):
            out[_global_name(item)] = item
        else:
            raise TypeError(f"{where}: expected classes, functions or (object, name) tuples, got {item!r}")
    return out


def add_safe_globals(safe_globals):
    """Allowlist classes and functions that a weights_only load may rebuild saved modules from (torch's API)."""
    _SAFE_GLOBALS.update(_allow(safe_globals, "add_safe_globals"))


def get_safe_globals():
    return [obj if name == _global_name(obj) else (obj, name) for name, obj in _SAFE_GLOBALS.items()]


def clear_safe_globals():
    _SAFE_GLOBALS.clear()


class safe_globals:
    """``with safe_globals([Net, nn.Linear]): tensorgrad.load(f)``: allowlists them inside the block only."""

    def __init__(self, safe_globals):
        self._items = _allow(safe_globals, "safe_globals")

    def __enter__(self):
        self._saved = dict(_SAFE_GLOBALS)
        _SAFE_GLOBALS.update(self._items)

    def __exit__(self, *exc):
        _SAFE_GLOBALS.clear()
        _SAFE_GLOBALS.update(self._saved)


# ------------------------------------------------------------------------------------------------ save
def _is_torch_tensor(x):
    return any(c.__module__ == "torch" and c.__name__ == "Tensor" for c in type(x).__mro__)


def _where(path):
    return "obj" + path


class _Encoder:
    """Python object -> JSON tree + {key: numpy array}. Tensors are memoized by identity; the memo keeps them alive so
    an id is never reused while encoding."""

    def __init__(self):
        self.arrays, self._memo, self._alive, self._objects = {}, {}, [], {}

    def _store(self, x, arr, path):
        arr = np.asarray(arr)
        if arr.dtype not in _STORABLE:
            raise TypeError(f"tensorgrad.save: {_where(path)} has dtype {arr.dtype} (shape {tuple(arr.shape)}), which the "
                            f"safetensors format cannot hold; supported: "
                            f"{', '.join(sorted(str(d) for d in _STORABLE))}")
        key = str(len(self.arrays))
        self.arrays[key] = arr
        self._memo[id(x)] = key
        self._alive.append(x)
        return key

    def encode(self, x, path=""):
        if x is None or type(x) in (bool, str):
            return x
        if type(x) is int:
            return x
        if type(x) is float:
            return x if math.isfinite(x) else {"$": "float", "v": repr(x)}
        if isinstance(x, Tensor):
            key = self._memo.get(id(x)) or self._store(x, to_device(x.array, "cpu"), path)
            return {"$": "tensor", "key": key, "device": str(x.device), "requires_grad": bool(x.requires_grad),
                    "parameter": isinstance(x, Parameter)}
        if _is_torch_tensor(x):
            if str(x.dtype) == "torch.bfloat16":
                raise TypeError(f"tensorgrad.save: {_where(path)} is a torch bfloat16 tensor (shape "
                                f"{tuple(x.shape)}), which NumPy cannot hold; convert it with .float() first")
            key = self._memo.get(id(x)) or self._store(x, x.detach().cpu().numpy(), path)
            return {"$": "tensor", "key": key, "device": str(x.device), "requires_grad": bool(x.requires_grad),
                    "parameter": type(x).__name__ == "Parameter"}
        if isinstance(x, np.ndarray):
            return {"$": "ndarray", "key": self._memo.get(id(x)) or self._store(x, x, path)}
        if isinstance(x, np.generic):
            return {"$": "npscalar", "key": self._store(x, x, path)}
        if isinstance(x, np.dtype):
            return {"$": "dtype", "v": x.name}
        if isinstance(x, Device):
            return {"$": "device", "v": str(x)}
        if type(x) is bytes:
            return {"$": "bytes", "v": base64.b64encode(x).decode("ascii")}
        if type(x) is list:
            return [self.encode(v, f"{path}[{i}]") for i, v in enumerate(x)]
        if type(x) is tuple:
            return {"$": "tuple", "items": [self.encode(v, f"{path}[{i}]") for i, v in enumerate(x)]}
        if type(x) in (set, frozenset):
            return {"$": type(x).__name__, "items": [self.encode(v, f"{path}{{...}}") for v in x]}
        if type(x) in (dict, collections.OrderedDict):
            return {"$": "dict" if type(x) is dict else "odict",
                    "items": [[self.encode(k, f"{path} key {k!r}"), self.encode(v, f"{path}[{k!r}]")]
                              for k, v in x.items()]}
        if isinstance(x, Module):
            return self._module(x, path)
        if isinstance(x, (type, types.FunctionType, types.BuiltinFunctionType)):
            return self._global(x, path)
        raise TypeError(f"tensorgrad.save: {_where(path)} is a {type(x).__module__}.{type(x).__qualname__}, which "
                        f"cannot be stored without pickle; save plain data instead (Tensors, NumPy arrays, numbers, "
                        f"strings, bools, None, and dicts, lists, tuples of these: e.g. a namedtuple's ._asdict(), a "
                        f"module's .state_dict())")

    def _global(self, x, path):
        """A class or function by name; only one reachable as module.qualname can be found again by a load."""
        found = sys.modules.get(x.__module__)
        for part in x.__qualname__.split("."):
            found = getattr(found, part, None)
        if found is not x:
            raise TypeError(f"tensorgrad.save: {_where(path)} is {x!r}, which cannot be stored without pickle: "
                            f"classes and functions are stored by name, and {_global_name(x)} (a lambda or a local "
                            f"definition) cannot be found by its name")
        return {"$": "global", "module": x.__module__, "qualname": x.__qualname__}

    def _module(self, x, path):
        if id(x) in self._objects:  # a submodule reached twice (shared, tied) comes back as one object
            return {"$": "ref", "id": self._objects[id(x)]}
        self._objects[id(x)] = len(self._objects)
        self._alive.append(x)
        return {"$": "module", "id": self._objects[id(x)], "class": self._global(type(x), path),
                "state": self.encode(dict(vars(x)), f"{path}.__dict__")}


def save(obj, f, pickle_module=None, pickle_protocol=None, _use_new_zipfile_serialization=True,
         _disable_byteorder_record=False):
    """Save ``obj`` to ``f`` (a path, or a binary file object opened for writing) as one safetensors file. A path is
    written atomically: a crash leaves the old file or the new one. pickle_protocol and the underscored options are
    accepted for torch's call shape and ignored; pickle_module is refused (nothing is pickled)."""
    if pickle_module is not None:
        raise TypeError("tensorgrad.save: pickle_module is not supported: tensorgrad stores data as safetensors + "
                        "JSON and never pickles")
    enc = _Encoder()
    try:
        tree = enc.encode(obj)
    except RecursionError:
        raise ValueError("tensorgrad.save: the object is nested too deeply to store") from None
    data = safetensors_bytes(enc.arrays, {"tensorgrad": json.dumps({"format": FORMAT, "obj": tree},
                                                                   allow_nan=False)})
    if isinstance(f, (str, os.PathLike)):
        atomic_write_bytes(os.fspath(f), data)
    elif hasattr(f, "write"):
        f.write(data)
    else:
        raise TypeError(f"tensorgrad.save: f must be a path (str or os.PathLike) or a binary file object, got "
                        f"{type(f).__name__}")


# ------------------------------------------------------------------------------------------------ load
def _read(f):
    """-> (bytes, name for messages)."""
    if isinstance(f, (str, os.PathLike)):
        return read_file(os.fspath(f)), os.fspath(f)
    if not hasattr(f, "read"):
        raise TypeError(f"tensorgrad.load: f must be a path (str or os.PathLike) or a binary file object, got "
                        f"{type(f).__name__}")
    buf = f.read()
    name = str(getattr(f, "name", "<file object>"))
    if isinstance(buf, str):
        raise TypeError(f"tensorgrad.load: {name} was opened in text mode; open it in binary mode ('rb')")
    return bytes(buf), name


def _refuse_pickle(buf, name):
    if buf[:4] == b"PK\x03\x04":
        what = "a zip archive, PyTorch's torch.save format (a pickle inside a zip)"
    elif len(buf) > 1 and buf[0] == 0x80 and 2 <= buf[1] <= 5:
        what = f"a pickle (protocol {buf[1]}), e.g. an old torch.save file"
    else:
        return
    raise CheckpointError(f"{name}: refused: the file is {what}, and unpickling can execute arbitrary code, so "
                          f"tensorgrad.load never unpickles. {_CONVERT}")


def _target(location, map_location, cpu_tensor):
    """The device a tensor saved on ``location`` goes to (or, from a callable, the tensor itself), as torch's
    map_location: None keeps the saved device; a str/device sends everything there; a dict maps saved locations."""
    if map_location is None:
        return location
    if isinstance(map_location, dict):
        return str(map_location.get(location, location))
    if callable(map_location):
        # torch calls fn(storage, location); here the tensor as loaded on the CPU stands in for the storage
        out = map_location(cpu_tensor, location)
        return location if out is None else out
    return str(map_location)


class _Decoder:
    def __init__(self, arrays, name, map_location, weights_only=None):
        self.arrays, self.name, self.map_location, self._memo = arrays, name, map_location, {}
        self.weights_only, self._objects = weights_only is not False, {}  # torch's default: weights_only=True

    def _bad(self, path, what):
        return CheckpointError(f"{self.name}: corrupt structure at {_where(path)}: {what}")

    def _array(self, node, path):
        key = node.get("key")
        if not isinstance(key, str) or key not in self.arrays:
            raise self._bad(path, f"refers to tensor {key!r}, which the file does not hold")
        return self.arrays[key]

    def _tensor(self, node, path):
        key = node.get("key")
        if isinstance(key, str) and key in self._memo:
            return self._memo[key]
        arr, location = self._array(node, path), node.get("device", "cpu")
        if not isinstance(location, str):
            raise self._bad(path, f"device {location!r} is not a string")
        t = Tensor._make(np.array(arr), None)  # a copy: the loaded buffer is read-only
        target = _target(location, self.map_location, t)
        if isinstance(target, Tensor):
            t = target
        else:
            device = Device(str(target))
            if device.type == "cuda" and not cuda_available():
                raise RuntimeError(f"tensorgrad.load: {self.name}: {_where(path)} was saved on {location} and would "
                                   f"be loaded onto {device}, but CUDA is not available (no GPU or no CuPy); pass "
                                   f"map_location='cpu' to load it on the CPU")
            if device.type == "cuda":
                t = Tensor._make(to_device(t.array, device), None)
        rg = bool(node.get("requires_grad"))
        if node.get("parameter"):
            t = Parameter(t, requires_grad=rg)
        elif rg:
            t.requires_grad = True
        self._memo[key] = t
        return t

    def decode(self, node, path=""):
        if node is None or type(node) in (bool, int, float, str):
            return node
        if type(node) is list:
            return [self.decode(v, f"{path}[{i}]") for i, v in enumerate(node)]
        if type(node) is not dict:
            raise self._bad(path, f"unexpected JSON {type(node).__name__}")
        kind = node.get("$")
        if kind == "tensor":
            return self._tensor(node, path)
        if kind == "ndarray":  # one object saved twice comes back as one object, as tensors do
            key = ("ndarray", node.get("key"))
            if key not in self._memo:
                self._memo[key] = np.array(self._array(node, path))
            return self._memo[key]
        if kind == "npscalar":
            return self._array(node, path)[()]
        if kind == "global":
            return self._global(node, path)
        if kind == "module":
            return self._module(node, path)
        if kind == "ref":
            if node.get("id") not in self._objects:
                raise self._bad(path, f"refers to module {node.get('id')!r}, which the file does not hold")
            return self._objects[node["id"]]
        if kind in ("tuple", "set", "frozenset", "dict", "odict"):
            items = node.get("items")
            if type(items) is not list:
                raise self._bad(path, f"a {kind} without a list of items")
            if kind in ("dict", "odict"):
                if not all(type(kv) is list and len(kv) == 2 for kv in items):
                    raise self._bad(path, "dict items must be [key, value] pairs")
                cls = dict if kind == "dict" else collections.OrderedDict
                return cls((self._key(k, path), self.decode(v, f"{path}[{k!r}]")) for k, v in items)
            values = [self.decode(v, f"{path}[{i}]") for i, v in enumerate(items)]
            return {"tuple": tuple, "set": set, "frozenset": frozenset}[kind](values)
        v = node.get("v")
        if kind == "float" and v in _FLOAT_NAMES:
            return _FLOAT_NAMES[v]
        if kind == "dtype" and isinstance(v, str) and v in {d.name for d in _STORABLE}:
            return np.dtype(v)
        if kind == "device" and isinstance(v, str):
            return Device(v)
        if kind == "bytes" and isinstance(v, str):
            return base64.b64decode(v.encode("ascii"), validate=True)
        raise self._bad(path, f"unknown node {json.dumps(node)[:200]}")

    def _global(self, node, path):
        module, qualname = node.get("module"), node.get("qualname")
        if not (isinstance(module, str) and isinstance(qualname, str)):
            raise self._bad(path, "a class or function without a module and qualname")
        name = f"{module}.{qualname}"
        if name in _SAFE_GLOBALS:
            return _SAFE_GLOBALS[name]
        if self.weights_only:
            raise CheckpointError(
                f"{self.name}: weights only load refused {_where(path)}: it needs {name}, which is not an allowed "
                f"global. If you trust this class or function, allowlist it with "
                f"torch.serialization.add_safe_globals([{qualname.split('.')[-1]}]) or the "
                f"torch.serialization.safe_globals([...]) context manager (tensorgrad.serialization under "
                f"tensorgrad's name), or pass weights_only=False to take it from the modules already imported")
        found = sys.modules.get(module)  # never imported by the load: importing would run the module's code
        if found is None:
            raise CheckpointError(f"{self.name}: {_where(path)} needs {name}, but module {module!r} is not imported; "
                                  f"import it before loading")
        for part in qualname.split("."):
            found = getattr(found, part, None)
        if not isinstance(found, (type, types.FunctionType, types.BuiltinFunctionType)):
            raise CheckpointError(f"{self.name}: {_where(path)} needs {name}, which module {module!r} does not "
                                  f"define as a class or function")
        return found

    def _module(self, node, path):
        cls, state = self._global(node.get("class") or {}, path), node.get("state")
        if not (isinstance(cls, type) and issubclass(cls, Module)):
            raise self._bad(path, f"a module of class {cls!r}, which is not an nn.Module")
        obj = cls.__new__(cls)  # as unpickling: attributes set, __init__ not called
        self._objects[node.get("id")] = obj
        state = self.decode(state, f"{path}.__dict__")
        if type(state) is not dict or not all(type(k) is str for k in state):
            raise self._bad(path, "a module whose attributes are not a dict of names")
        if getattr(cls, "__setstate__", None) is not None:  # (on the class: the half-made module has no attributes)
            obj.__setstate__(state)
        else:
            obj.__dict__.update(state)
        return obj

    def _key(self, k, path):
        key = self.decode(k, f"{path} key")
        try:
            hash(key)
        except TypeError:
            raise self._bad(path, f"an unhashable dict key {type(key).__name__}") from None
        return key


def load(f, map_location=None, pickle_module=None, *, weights_only=None, mmap=None, **pickle_load_args):
    """Load what tensorgrad.save wrote to ``f`` (a path or a binary file object). Tensors go back to the device they
    were saved from unless ``map_location`` says otherwise: 'cpu', 'cuda', 'cuda:1', a tensorgrad.device, a dict
    {saved location: target}, or a callable fn(tensor_on_cpu, saved_location) returning a Tensor or None (None keeps
    the saved location). weights_only (torch's default True) governs only saved modules: see the module docstring;
    mmap and pickle_load_args change nothing."""
    if pickle_module is not None:
        raise TypeError("tensorgrad.load: pickle_module is not supported: tensorgrad files hold safetensors + JSON "
                        "and are never unpickled")
    buf, name = _read(f)
    _refuse_pickle(buf, name)
    arrays, metadata = parse_safetensors(buf, name)
    if "tensorgrad" not in metadata:  # a plain safetensors file: its tensors by name
        dec = _Decoder(arrays, name, map_location)
        return {k: dec._tensor({"key": k}, f"[{k!r}]") for k in arrays}
    try:
        meta = json.loads(metadata["tensorgrad"])
    except (json.JSONDecodeError, RecursionError) as e:
        raise CheckpointError(f"{name}: corrupt structure metadata ({type(e).__name__}: {str(e)[:200]})") from None
    fmt = meta.get("format") if isinstance(meta, dict) else None
    if fmt == _CHECKPOINT_FORMAT:
        raise CheckpointError(f"{name}: a tensorgrad training checkpoint (tensorgrad.io.save_checkpoint), not a "
                              f"tensorgrad.save file; read it with tensorgrad.io.load_checkpoint")
    if fmt != FORMAT or "obj" not in meta:
        raise CheckpointError(f"{name}: a safetensors file with tensorgrad metadata of an unknown format {fmt!r} "
                              f"(expected {FORMAT!r})")
    try:
        return _Decoder(arrays, name, map_location, weights_only).decode(meta["obj"])
    except RecursionError:
        raise CheckpointError(f"{name}: corrupt structure metadata: nested too deeply") from None
