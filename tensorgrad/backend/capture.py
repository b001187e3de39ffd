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


class GraphOffset(int):
    """The offset of a Philox draw made while a CUDA graph is captured.

    A captured kernel cannot take the draw's (seed, offset) as launch arguments: they would be frozen into the
    graph and every replay would repeat one mask. So under capture the Generator hands out this int -- the draw's
    position within the captured step, which flows through nodes, checkpoint's replay and the launchers like any
    offset -- carrying ``state``, the device array {seed, base offset} that the graph's replay prologue rewrites
    from the Generator before every launch. Kernels take (state[0], state[1] + offset) (csrc/common/philox.h,
    tg_philox_graph_state); the reference path computes the same on arrays. Replay k thus draws exactly what an
    eager step would from the Generator's state at that replay."""

    def __new__(cls, delta, state):
        if delta < 0:
            raise RuntimeError(f"CUDA graph capture: a random draw at offset {delta} before the captured step's first "
                               "draw (was the generator reseeded or its state set back during the capture?)")
        self = super().__new__(cls, delta)
        self.state = state
        return self

    def __reduce__(self):  # a pickled (saved) offset is a plain int: the device array means nothing elsewhere
        return int, (int(self),)
