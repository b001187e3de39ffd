"""torch.jit's decorators and queries, for code that marks functions or modules for TorchScript: tensorgrad has no
TorchScript compiler, so script() and trace() give back what they are given and the program runs eagerly with the
same results (as tensorgrad.compile does for torch.compile); is_scripting() / is_tracing() are False, which is what
such code branches on. Saving or loading a TorchScript archive is refused: there is no compiled program to write."""
import typing

Final = typing.Final

_HOW = "tensorgrad has no TorchScript: script/trace return their argument, which runs eagerly"


class ScriptModule:
    """Never instantiated: isinstance(m, torch.jit.ScriptModule) is False for every tensorgrad module, as for an
    unscripted torch module."""


class ScriptFunction:
    pass


RecursiveScriptModule = ScriptModule


def script(obj=None, optimize=None, _frames_up=0, _rcb=None, example_inputs=None):
    return obj


def trace(func, example_inputs=None, *args, **kwargs):
    return func


def trace_module(mod, inputs, *args, **kwargs):
    return mod


def script_if_tracing(fn):
    return fn


def _decorator(fn=None, **kwargs):
    # @ignore, @ignore(drop=True), @unused, @export, @interface: each marks a function for the compiler only
    return fn if fn is not None else (lambda f: f)


ignore = unused = export = interface = _decorator


def is_scripting():
    return False


def is_tracing():
    return False


def annotate(the_type, the_value):
    return the_value


def Attribute(value, type=None):  # noqa: N802 - torch's name
    return value


def freeze(mod, preserved_attrs=None, optimize_numerics=True):
    return mod


def optimize_for_inference(mod, other_methods=None):
    return mod


class Future:
    """jit.fork's result: the call already ran (eagerly); wait() returns its value."""

    def __init__(self, value):
        self._value = value

    def wait(self):
        return self._value

    def done(self):
        return True


def fork(func, *args, **kwargs):
    return Future(func(*args, **kwargs))


def wait(future):
    return future.wait()


def save(m, f, _extra_files=None):
    raise RuntimeError(f"torch.jit.save: {_HOW}, so there is no TorchScript program to save; save the state_dict "
                       "with torch.save(model.state_dict(), path)")


def load(f, map_location=None, _extra_files=None):
    raise RuntimeError(f"torch.jit.load: {_HOW}, so a TorchScript archive cannot be loaded; load the weights into "
                       "the model's Python class with model.load_state_dict")
