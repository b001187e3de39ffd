"""Anomaly detection: name the op whose forward or backward first produced NaN or Inf.

    with tg.autograd.detect_anomaly():
        loss = model(x, y)[1]      # forward check: the first op whose *output* has a NaN/Inf raises here
        loss.backward()            # backward check: the first node whose *returned gradients* have a NaN/Inf

PyTorch's ``detect_anomaly`` checks backward outputs only (a forward -inf such as ``log(0)`` is often
legitimate, e.g. a masked-out logit). tensorgrad checks both by default, because the first op that makes a
non-finite value is usually the bug; pass ``check_forward=False`` for PyTorch's behaviour (then ``log(0)`` is
reported by ``LogBackward``, whose gradient ``g / 0`` is inf or nan).

The error (a RuntimeError) names the op (``Log`` in forward, ``LogBackward`` in backward), how many values are
NaN / +Inf / -Inf, the shapes and dtypes of its inputs and output, and the traceback of the Python code that
called the op (for a backward anomaly that is the forward call that created the node, recorded while the mode
was on).

Cost. Off (the default), nothing is hooked: ``Function.apply`` pays its one existing ``if _forward_hooks``
test and the engine one ``if _grad_hooks`` test per node; no traceback is recorded. On, every op's output and
every node's gradients are scanned (one ``isfinite`` reduction each, a device sync on CUDA) and every recorded
node keeps a stack summary: expect training to run several times slower -- a debugging tool.

Anomaly mode is process-wide (the hooks are module-level lists, like the profiler's), and nests: it stays on
until the outermost ``detect_anomaly`` exits.
"""
import os
import threading
from cmath import isinf as cmath_isinf, isnan as cmath_isnan
import traceback

from . import engine as _engine
from . import function as _function
from ..backend import xp_of
from ..tensor import Tensor

_lock = threading.Lock()
_stack = []  # one entry per active detect_anomaly/set_detect_anomaly(True): its check_forward flag
_PKG = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # .../tensorgrad
MAX_FRAMES = 12  # innermost frames shown in the creation traceback
_HERE = os.path.dirname(os.path.abspath(__file__))  # .../tensorgrad/autograd


def is_anomaly_enabled():
    return bool(_stack)


def is_anomaly_check_forward_enabled():
    return bool(_stack) and _stack[-1]  # the innermost detect_anomaly decides


# ----------------------------------------------------------------------------------------- formatting
def _desc(x):
    """'(2, 3) float32' for an array/Tensor, repr for a plain Python value."""
    shape, dtype = getattr(x, "shape", None), getattr(x, "dtype", None)
    if shape is None or dtype is None:
        return repr(x) if isinstance(x, (int, float, bool)) or x is None else type(x).__name__
    return f"{tuple(shape)} {getattr(dtype, 'name', dtype)}"


def _nonfinite(a):
    """None if a (an xp array, or None) is finite or not floating point, else a summary string."""
    if a is None or not hasattr(a, "dtype") or a.dtype.kind not in "fc":
        return None
    xp = _xp(a)
    fin = xp.isfinite(a)
    if bool(fin.all()):
        return None
    nan = int(xp.isnan(a).sum())
    pinf = int(xp.isposinf(a).sum()) if a.dtype.kind == "f" else 0
    ninf = int(xp.isneginf(a).sum()) if a.dtype.kind == "f" else 0
    kinds = [f"{n} {k}" for n, k in ((nan, "NaN"), (pinf, "+Inf"), (ninf, "-Inf")) if n]
    if not kinds:  # complex inf
        kinds = [f"{int(a.size - fin.sum())} non-finite"]
    return f"{', '.join(kinds)} among its {a.size} values"


def _xp(a):
    import numpy as np
    if isinstance(a, np.ndarray) or np.isscalar(a):
        return np
    return xp_of(a)


def _creation_stack():
    """The caller's stack, without the frames of Function.apply and of this module."""
    st = traceback.extract_stack()
    while st and os.path.dirname(os.path.abspath(st[-1].filename)) == _HERE:
        st.pop()  # anomaly.py, function.py (apply)
    return st


def _user_frame(st):
    """The innermost frame outside the tensorgrad package (where the user's code called the op)."""
    for fr in reversed(st):
        if not os.path.abspath(fr.filename).startswith(_PKG + os.sep):
            return fr
    return st[-1] if st else None


def _where(st):
    if not st:
        return "(no traceback recorded: the node was created while anomaly mode was off)"
    fr = _user_frame(st)
    head = f"created at {fr.filename}:{fr.lineno} in {fr.name}" + (f": {fr.line}" if fr.line else "")
    skipped = max(0, len(st) - MAX_FRAMES)
    return (head + "\nTraceback of the forward call that created it (most recent call last"
            + (f"; {skipped} outer frames left out" if skipped else "") + "):\n"
            + "".join(traceback.format_list(st[skipped:])).rstrip("\n"))


# ----------------------------------------------------------------------------------------------- hooks
def _flags(x):
    """(has NaN, has +-Inf) of a Tensor, xp array or Python/NumPy number; (False, False) for anything else."""
    if isinstance(x, Tensor):
        x = x.array
    if isinstance(x, (int, float, complex)) and not isinstance(x, bool):
        return cmath_isnan(x), cmath_isinf(x)
    if not hasattr(x, "dtype") or getattr(x.dtype, "kind", None) not in ("f", "c"):
        return False, False
    xp = _xp(x)
    if bool(xp.isfinite(x).all()):
        return False, False
    return bool(xp.isnan(x).any()), bool(xp.isinf(x).any())


def _on_forward(ctx, args, out, recorded):
    """Function.apply forward hook: record where the op was called; check its output.

    The forward check reports the op that *makes* a non-finite value: a NaN in the output when no input holds
    a NaN, or an Inf when every input (Python scalars included) is finite. An op that only carries an existing
    Inf along is not reported: that is how deliberate infinities work (``masked_fill(mask, -inf)`` before a
    softmax -- the causal attention mask), and a non-finite value made by an earlier op has already raised."""
    st = None
    if recorded:
        st = _creation_stack()
        ctx._anomaly_info = (st, tuple(_desc(a) for a in args))
    if not is_anomaly_check_forward_enabled():
        return
    out_nan, out_inf = _flags(out.array)
    if not (out_nan or out_inf):
        return
    in_flags = [_flags(a) for a in args]
    in_nan = any(n for n, _ in in_flags)
    in_nonfinite = any(n or i for n, i in in_flags)
    if not ((out_nan and not in_nan) or (out_inf and not in_nonfinite)):
        return
    if st is None:
        st = _creation_stack()
    op = type(ctx).__name__
    ins = ", ".join(_desc(a) for a in args)
    note = ("all its inputs are finite" if not in_nonfinite else
            f"no input holds a NaN; input(s) {[k for k, f in enumerate(in_flags) if any(f)]} hold an Inf")
    raise RuntimeError(
        f"detect_anomaly: the forward of {op} produced {_nonfinite(out.array)} in its output of shape "
        f"{_desc(out.array)} ({note}: this op made the first {'NaN' if out_nan and not in_nan else 'Inf'}). "
        f"Inputs: {ins}. The op was {_where(st)}")


def _on_grads(node, grad_out, in_grads):
    """Engine hook after a node's backward: check the gradients it returned."""
    for i, ig in enumerate(in_grads):
        bad = _nonfinite(ig)
        if bad is None:
            continue
        info = node.__dict__.get("_anomaly_info")
        st, ins = info if info is not None else (None, None)
        gbad = _nonfinite(grad_out)
        came = (f"the gradient flowing into it ({_desc(grad_out)}) already had {gbad}" if gbad
                else f"the gradient flowing into it ({_desc(grad_out)}) is finite: this backward made the first "
                     f"non-finite value")
        ins_s = f"Forward inputs: {', '.join(ins)}. " if ins is not None else ""
        raise RuntimeError(
            f"detect_anomaly: {node.name()} returned {bad} in its gradient for input {i} "
            f"(shape {_desc(ig)}); {came}. {ins_s}The forward op of this node was {_where(st)}")


def _enable(check_forward):
    with _lock:
        if not _stack:
            _function._forward_hooks.append(_on_forward)
            _engine._grad_hooks.append(_on_grads)
        _stack.append(bool(check_forward))


def _disable():
    with _lock:
        if not _stack:
            return
        _stack.pop()
        if not _stack:
            _function._forward_hooks.remove(_on_forward)
            _engine._grad_hooks.remove(_on_grads)


# ------------------------------------------------------------------------------------------- public API
class detect_anomaly:
    """Context manager (and decorator): raise at the first op whose forward output (``check_forward=True``)
    or whose backward's returned gradients contain NaN or Inf, naming the op and where it was created."""

    def __init__(self, check_forward=True):
        self.check_forward = check_forward

    def __enter__(self):
        _enable(self.check_forward)
        return self

    def __exit__(self, *exc):
        _disable()
        return False

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*a, **k):
            with detect_anomaly(self.check_forward):
                return fn(*a, **k)
        return wrapper


class set_detect_anomaly:
    """``set_detect_anomaly(True)`` turns anomaly mode on (``False``: fully off) from here on; also usable as a
    context manager, which restores the previous state on exit."""

    def __init__(self, mode, check_forward=True):
        with _lock:
            self.prev = list(_stack)
        if mode:
            if not _stack:
                _enable(check_forward)
        else:
            while _stack:
                _disable()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        while _stack:
            _disable()
        for cf in self.prev:
            _enable(cf)
        return False
