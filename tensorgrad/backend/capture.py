"""CUDA-graph capture state: which captures are in progress, and what must outlive them.

Kept in the backend so that ops, optimizers and kernel launchers can ask "am I being captured?" without
importing the user-facing tensorgrad.cuda.graphs (which builds on this module, not the reverse).
"""
_capturing = []       # the CUDAGraph objects whose capture is in progress (innermost last)


def is_capturing():
    """True while a tensorgrad CUDA graph capture is in progress on this thread."""
    return bool(_capturing)


def capturing_on(array):
    """True when ``array`` is a device array and a capture is in progress: host reads of it must be skipped."""
    return bool(_capturing) and array.__class__.__module__.split(".")[0] == "cupy"


def keep_alive(obj):
    """Tie ``obj`` (a pinned host buffer, a device array the graph reads) to the graph being captured, if any,
    so it outlives every replay."""
    if _capturing:
        _capturing[-1]._keep.append(obj)


def begin(graph):
    _capturing.append(graph)


def end():
    _capturing.pop()
