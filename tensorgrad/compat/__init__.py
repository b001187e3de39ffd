"""A ``torch`` alias: PyTorch scripts run unchanged on tensorgrad.

    python -m tensorgrad.compat train.py --lr 3e-4      # like `python train.py --lr 3e-4`, with torch = tensorgrad
    python -m tensorgrad.compat -m mypkg.train ...       # like `python -m mypkg.train ...`

    import tensorgrad.compat; tensorgrad.compat.install()   # in a notebook, before the first `import torch`
    import torch                                           # tensorgrad

After install(), a finder at the front of sys.meta_path answers every ``torch`` / ``torch.X.Y`` import: ``torch`` is
tensorgrad, and ``torch.X.Y`` is tensorgrad.X.Y for X among the torch namespaces tensorgrad provides (_NAMESPACES).
Each alias is a module object of its own, named as torch names it, that reads and writes through to tensorgrad's
module, so that what tensorgrad lacks is reported as a torch feature, at the line that uses it:
``import torch.fx`` raises ModuleNotFoundError and ``torch.fft`` (or ``from torch.nn import RNNBase``) raises
AttributeError (ImportError), each saying that tensorgrad does not provide that torch feature. tensorgrad modules
that are not torch's API (tensorgrad.profiler is a memory profiler; ops, models, ...) are not exposed under torch's
names; torch.profiler (and torch.autograd.profiler) is tensorgrad.profiler.torch_api (_REMAP).

Nothing happens on import of this module: real torch stays untouched unless install() is called, and install()
refuses to run once real torch is imported (the two would mix in one process).
"""
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import runpy
import sys
import types

import tensorgrad

__all__ = ["install", "uninstall", "is_installed", "main"]

# torch.X that imports but whose every attribute fails naming it: scripts import these at the top for an optional
# step (word_language_model's `import torch.onnx`, used only with --onnx-export), which tensorgrad cannot do
_IMPORT_ONLY = ("onnx",)
# torch.X (and everything below it) that maps to tensorgrad.X
_NAMESPACES = ("nn", "optim", "utils", "cuda", "backends", "distributed", "autograd", "amp", "linalg", "random",
               "accelerator", "special", "testing", "distributions", "sparse",
               "jit", "multiprocessing", "fft", "func", "serialization", "compiler", "hub",
               "_utils", "version", "functional")
# torch modules that tensorgrad provides under another name (tensorgrad.profiler is its memory profiler; torch's
# profiler API is a module of it; torch._dynamo, private but probed by libraries, is torch.compiler's stand-in)
_REMAP = {"torch.profiler": "tensorgrad.profiler.torch_api",
          "torch.autograd.profiler": "tensorgrad.profiler.torch_api",
          "torch._dynamo": "tensorgrad.compiler", "torch._dynamo.config": "tensorgrad.compiler.config"}
# each aliased library: the tensorgrad package it stands for; torch maps only _NAMESPACES, torchvision all of it
_ROOTS = {"torch": "tensorgrad", "torchvision": "tensorgrad.vision"}
# torch.__version__ under the alias: the torch API tensorgrad follows (its oracle, pinned in pyproject's test extra),
# with tensorgrad's own version as the local label. Libraries gate on it (einx refuses torch < 2.2; x-transformers and
# einops pick code paths by it): tensorgrad's "0.1.0" read as a torch version sent them to refusals or pre-2.0 paths
TORCH_VERSION = f"2.13.0+tensorgrad{tensorgrad.__version__}"
_HOW = {"torch": "this 'torch' is tensorgrad, aliased by tensorgrad.compat",
        "torchvision": "this 'torchvision' is tensorgrad.vision, aliased by tensorgrad.compat"}


def _root(fullname):
    return fullname.split(".", 1)[0]


def _target(fullname):
    """The tensorgrad module that the torch (or torchvision) module ``fullname`` stands for, or None if tensorgrad
    has none."""
    if fullname in _REMAP:
        return _REMAP[fullname]
    parts = fullname.split(".")
    if len(parts) == 1:
        return _ROOTS[fullname]
    if parts[0] == "torch" and parts[1] not in _NAMESPACES:
        return None
    name = _ROOTS[parts[0]] + "." + ".".join(parts[1:])
    try:
        found = importlib.util.find_spec(name)
    except ModuleNotFoundError:  # a parent on the way is a plain module, not a package, or missing
        return None
    return name if found is not None else None


def _unsupported(what):
    return f"{what}: a {_root(what)} feature tensorgrad does not provide ({_HOW[_root(what)]})"


_MISSING = object()


class _Alias(types.ModuleType):
    """torch's name for a tensorgrad module: attribute reads and writes go to that module."""

    def __init__(self, name, target):
        super().__init__(name, target.__doc__)
        object.__setattr__(self, "_tensorgrad_module", target)
        if name in ("torch", "torch.version"):  # (torch.version.__version__ is torch.__version__)
            object.__setattr__(self, "__version__", TORCH_VERSION)
        self.__path__ = []  # a package, so that `from torch.X import missing` comes to the finder and its message
        # Scripts also read a module's __dict__ (pytorch/examples' imagenet lists its architectures as the callables in
        # models.__dict__): the target's public functions and classes are mirrored here, as they never change after
        # import; plain values stay reads through __getattr__, so a setting changed on tensorgrad's module is seen.
        for k, v in list(target.__dict__.items()):
            if not k.startswith("_") and callable(v) and not isinstance(v, types.ModuleType):
                object.__setattr__(self, k, v)

    def __getattr__(self, name):
        target = self.__dict__["_tensorgrad_module"]
        if f"{self.__name__}.{name}" in _REMAP:  # (tensorgrad's module of that name is another thing)
            return importlib.import_module(f"{self.__name__}.{name}")
        try:
            value = getattr(target, name)
        except AttributeError:
            value = _MISSING  # (not None: an attribute whose value is None, torch.version.cuda, is found)
            if name.startswith("__"):
                raise
        sub = f"{self.__name__}.{name}"
        if isinstance(value, types.ModuleType) or value is _MISSING:
            # a submodule: torch's name for it if tensorgrad's module is the one torch has under that name
            mapped = _target(sub)
            if mapped is not None and (value is _MISSING or value.__name__ == mapped):
                return importlib.import_module(sub)
            raise AttributeError(_unsupported(sub), name=name, obj=self)
        return value

    def __setattr__(self, name, value):
        # the import system binds each imported submodule on its parent: the alias of a submodule stays on the
        # parent alias, never on tensorgrad's module (which keeps its own submodule)
        if (name.startswith("__") and name.endswith("__")) or isinstance(value, (_Alias, _ImportOnly)):
            object.__setattr__(self, name, value)
        else:
            setattr(self.__dict__["_tensorgrad_module"], name, value)
            if name in self.__dict__:  # (a mirrored function replaced: torch.nn.functional.gelu = my_gelu)
                object.__setattr__(self, name, value)

    def __delattr__(self, name):
        delattr(self.__dict__["_tensorgrad_module"], name)
        self.__dict__.pop(name, None)

    def __dir__(self):
        return dir(self.__dict__["_tensorgrad_module"])

    def __repr__(self):
        return (f"<module {self.__name__!r}: tensorgrad's {self.__dict__['_tensorgrad_module'].__name__} "
                f"({_HOW[_root(self.__name__)]})>")


class _ImportOnly(types.ModuleType):
    """A torch namespace tensorgrad lacks (_IMPORT_ONLY): importing it works, using anything in it raises."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        raise AttributeError(_unsupported(f"{self.__name__}.{name}"), name=name, obj=self)


class _ImportOnlyLoader(importlib.abc.Loader):
    def create_module(self, spec):
        return _ImportOnly(spec.name, f"{spec.name}: {_unsupported(spec.name)}")

    def exec_module(self, module):
        pass


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target):
        self.target = target

    def create_module(self, spec):
        return _Alias(spec.name, self.target)

    def exec_module(self, module):
        pass  # the tensorgrad module behind it is already imported


class _TorchFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if _root(fullname) not in _ROOTS:
            return None
        if _root(fullname) == "torch" and fullname.count(".") == 1 and fullname.split(".")[1] in _IMPORT_ONLY:
            return importlib.machinery.ModuleSpec(fullname, _ImportOnlyLoader())
        name = _target(fullname)
        if name is None:
            # name unset: `from torch.nn import missing` reports this message instead of Python's generic one
            raise ModuleNotFoundError(_unsupported(fullname))
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(importlib.import_module(name)), is_package=True)


_finder = _TorchFinder()


def is_installed():
    return _finder in sys.meta_path


def install():
    """Make ``import torch`` (and torch.nn, torch.optim, torch.utils.data, torch.cuda, ...) import tensorgrad, and
    ``import torchvision`` import tensorgrad.vision, in this process, until uninstall(). Call it before the first
    ``import torch``."""
    if is_installed():
        return
    real = sys.modules.get("torch")
    if real is not None and not isinstance(real, _Alias):
        raise RuntimeError("tensorgrad.compat.install: the real torch is already imported in this process; install "
                           "the alias before the first `import torch` (or run the script with "
                           "`python -m tensorgrad.compat script.py`)")
    sys.meta_path.insert(0, _finder)


def uninstall():
    """Remove the alias: later imports of torch find the real one (if installed)."""
    while _finder in sys.meta_path:
        sys.meta_path.remove(_finder)
    for name, mod in list(sys.modules.items()):
        if isinstance(mod, _Alias):
            del sys.modules[name]


_USAGE = ("usage: python -m tensorgrad.compat script.py [args ...]\n"
          "       python -m tensorgrad.compat -m module [args ...]\n"
          "Runs a PyTorch program with `import torch` resolving to tensorgrad (tensorgrad.compat).")


def main(argv=None):
    """Run a script (or ``-m module``) as __main__ with the alias installed and sys.argv as the program sees it
    under plain ``python``."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help") or (argv[0] == "-m" and len(argv) < 2):
        print(_USAGE, file=sys.stderr if not argv or argv[0] == "-m" else sys.stdout)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    install()
    if argv[0] == "-m":
        sys.argv = argv[1:]
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    else:
        path = argv[0]
        sys.argv = argv
        sys.path[0] = os.path.dirname(os.path.abspath(path))  # the script's folder, as `python script.py` has
        runpy.run_path(path, run_name="__main__")
    return 0
