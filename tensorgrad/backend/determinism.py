"""torch.use_deterministic_algorithms' state, kept at the backend so that the CUDA launchers can check it: a kernel
whose result can vary from run to run (float atomics) calls alert() before it runs."""
import warnings

_deterministic = {"on": False, "warn_only": False}


def use_deterministic_algorithms(mode, *, warn_only=False):
    if not isinstance(mode, bool):
        raise RuntimeError(f"use_deterministic_algorithms expects a bool, but got {type(mode).__name__}")
    _deterministic["on"], _deterministic["warn_only"] = mode, bool(warn_only)


def are_deterministic_algorithms_enabled():
    return _deterministic["on"]


def is_deterministic_algorithms_warn_only_enabled():
    return _deterministic["warn_only"]


def set_deterministic_debug_mode(mode):
    level = {"default": 0, "warn": 1, "error": 2}.get(mode, mode) if isinstance(mode, str) else mode
    if level not in (0, 1, 2):
        raise RuntimeError(f"invalid value of debug_mode, expected one of `default`, `warn`, `error`, but got {mode}")
    use_deterministic_algorithms(level > 0, warn_only=level == 1)


def get_deterministic_debug_mode():
    if not _deterministic["on"]:
        return 0
    return 1 if _deterministic["warn_only"] else 2


def enabled():
    return _deterministic["on"]


def alert(what):
    """Called by a kernel whose result can vary from run to run (CUDA atomics) before it runs."""
    if not _deterministic["on"]:
        return
    msg = (f"{what} does not have a deterministic implementation, but you set "
           "'torch.use_deterministic_algorithms(True)'. You can turn off determinism just for this operation, or you "
           "can use the 'warn_only=True' option, if that's acceptable for your application.")
    if _deterministic["warn_only"]:
        warnings.warn(msg, UserWarning, stacklevel=3)
    else:
        raise RuntimeError(msg)
