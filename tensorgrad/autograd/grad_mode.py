"""Global grad-recording switch: no_grad / enable_grad / set_grad_enabled / inference_mode (context managers and
decorators)."""
import functools
import threading

_state = threading.local()


def is_grad_enabled():
    return getattr(_state, "enabled", True)


def _set(flag):
    _state.enabled = bool(flag)


def is_inference_mode_enabled():
    return getattr(_state, "inference", False)


class _GradMode:
    flag = True

    def __new__(cls, fn=None):
        # Like torch: usable as @no_grad() and as a bare @no_grad.
        if fn is None or cls is set_grad_enabled:
            return super().__new__(cls)
        return cls()(fn)

    def __enter__(self):
        self._prev = is_grad_enabled()
        _set(self.flag)
        return self

    def __exit__(self, *exc):
        _set(self._prev)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_GradMode):
    """Ops inside record nothing: results have requires_grad=False and no grad_fn."""
    flag = False


class enable_grad(_GradMode):
    flag = True


class set_grad_enabled(_GradMode):
    def __init__(self, mode):
        self.flag = bool(mode)
        self._prev = is_grad_enabled()
        _set(self.flag)  # like torch: takes effect as a function call too

    def __enter__(self):
        return self

    def __call__(self, fn):
        flag = self.flag
        _set(self._prev)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(flag):
                return fn(*args, **kwargs)
        return wrapper


class inference_mode(_GradMode):
    """torch.inference_mode: no_grad that is_inference_mode_enabled() reports; inference_mode(False) turns grad
    recording back on, even inside no_grad, as in torch. Tensors made inside are ordinary tensors: torch's
    "inference tensors" (refused later by autograd) have no counterpart here."""

    def __new__(cls, mode=True):
        if isinstance(mode, bool):
            return object.__new__(cls)
        return cls()(mode)  # bare @inference_mode on a function

    def __init__(self, mode=True):
        self.mode = mode

    def __enter__(self):
        self._prev = (is_grad_enabled(), is_inference_mode_enabled())
        _set(not self.mode)
        _state.inference = self.mode
        return self

    def __exit__(self, *exc):
        _set(self._prev[0])
        _state.inference = self._prev[1]
        return False

    def __call__(self, fn):
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with inference_mode(mode):
                return fn(*args, **kwargs)
        return wrapper
