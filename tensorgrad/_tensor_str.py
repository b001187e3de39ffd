"""repr(Tensor) in PyTorch's format (torch/_tensor_str.py rules: precision 4, threshold 1000, edgeitems 3, linewidth 80).

Floats print in one of three modes chosen from the nonzero finite values: integer mode ("1., 2."), fixed
("0.5000") or scientific ("1.0000e-05", when max/min > 1000, max > 1e8 or min < 1e-4); every element is
right-aligned to the widest one.
"""
import math

import numpy as np

from .dtypes import is_float

PRECISION, THRESHOLD, EDGEITEMS, LINEWIDTH = 4, 1000, 3, 80
SCI_MODE = None  # None: chosen from the values; True / False: forced (set_printoptions)
_PROFILES = {"default": (4, 1000, 3, 80), "short": (2, 1000, 2, 80), "full": (4, math.inf, 3, 80)}


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None, sci_mode=None):
    """torch.set_printoptions: a profile ('default', 'short', 'full') first, then the options given; sci_mode is
    set by every call (None: chosen from the values), as torch's."""
    global PRECISION, THRESHOLD, EDGEITEMS, LINEWIDTH, SCI_MODE
    if profile is not None:
        if profile not in _PROFILES:
            raise ValueError(f"set_printoptions: unknown profile {profile!r}; expected one of {sorted(_PROFILES)}")
        PRECISION, THRESHOLD, EDGEITEMS, LINEWIDTH = _PROFILES[profile]
    PRECISION = PRECISION if precision is None else int(precision)
    THRESHOLD = THRESHOLD if threshold is None else threshold
    EDGEITEMS = EDGEITEMS if edgeitems is None else int(edgeitems)
    LINEWIDTH = LINEWIDTH if linewidth is None else int(linewidth)
    SCI_MODE = sci_mode


class _Formatter:
    def __init__(self, arr):
        self.floating = is_float(arr.dtype)
        self.int_mode, self.sci_mode, self.max_width = True, False, 1
        flat = arr.reshape(-1)
        if not self.floating:
            for v in flat.tolist():
                self.max_width = max(self.max_width, len(f"{v}"))
            return
        vals = flat[np.isfinite(flat) & (flat != 0)].astype(np.float64)
        if vals.size == 0:
            return
        a = np.abs(vals)
        lo, hi = a.min(), a.max()
        self.int_mode = bool((vals == np.ceil(vals)).all())
        self.sci_mode = bool(hi / lo > 1000.0 or hi > 1.0e8 or lo < 1.0e-4) if SCI_MODE is None else bool(SCI_MODE)
        for v in vals.tolist():
            if self.sci_mode:
                w = len(f"{v:.{PRECISION}e}")
            elif self.int_mode:
                w = len(f"{v:.0f}") + 1
            else:
                w = len(f"{v:.{PRECISION}f}")
            self.max_width = max(self.max_width, w)

    def format(self, v):
        if self.floating:
            if self.sci_mode:
                s = f"{v:{self.max_width}.{PRECISION}e}"
            elif self.int_mode:
                s = f"{v:.0f}" + ("" if math.isinf(v) or math.isnan(v) else ".")
            else:
                s = f"{v:.{PRECISION}f}"
        else:
            s = f"{v}"
        return " " * (self.max_width - len(s)) + s


class _ComplexFormatter:
    """torch's complex elements: the real parts and the imaginary parts each formatted as a real tensor's, joined
    as "re+imj" (the imaginary part's padding dropped)."""

    def __init__(self, arr):
        self.re, self.im = _Formatter(np.ascontiguousarray(arr.real)), _Formatter(np.ascontiguousarray(arr.imag))
        self.max_width = self.re.max_width + self.im.max_width + 1

    def format(self, v):
        re, im = self.re.format(v.real), (self.im.format(v.imag) + "j").lstrip()
        return re + im if im[0] in "+-" else re + "+" + im


def _summarized(arr):
    if arr.ndim == 0:
        return arr
    if arr.ndim == 1:
        return np.concatenate([arr[:EDGEITEMS], arr[-EDGEITEMS:]]) if arr.shape[0] > 2 * EDGEITEMS else arr
    rows = list(range(EDGEITEMS)) + list(range(arr.shape[0] - EDGEITEMS, arr.shape[0])) \
        if arr.shape[0] > 2 * EDGEITEMS else range(arr.shape[0])
    return np.stack([_summarized(arr[i]) for i in rows])


def _body(arr, indent, summarize, fmt):
    if arr.ndim == 0:
        return fmt.format(arr.item())
    if arr.ndim == 1:
        per_line = max(1, math.floor((LINEWIDTH - indent) / (fmt.max_width + 2)))
        if summarize and arr.shape[0] > 2 * EDGEITEMS:
            data = ([fmt.format(v) for v in arr[:EDGEITEMS].tolist()] + [" ..."]
                    + [fmt.format(v) for v in arr[-EDGEITEMS:].tolist()])
        else:
            data = [fmt.format(v) for v in arr.tolist()]
        lines = [", ".join(data[i:i + per_line]) for i in range(0, len(data), per_line)]
        return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"
    n = arr.shape[0]
    if summarize and n > 2 * EDGEITEMS:
        parts = ([_body(arr[i], indent + 1, summarize, fmt) for i in range(EDGEITEMS)] + ["..."]
                 + [_body(arr[i], indent + 1, summarize, fmt) for i in range(n - EDGEITEMS, n)])
    else:
        parts = [_body(arr[i], indent + 1, summarize, fmt) for i in range(n)]
    return "[" + ("," + "\n" * (arr.ndim - 1) + " " * (indent + 1)).join(parts) + "]"


def tensor_repr(arr, dtype_name, default_dtype, device=None, grad_fn_name=None, requires_grad=False):
    """arr: a numpy array (already on the host)."""
    prefix = "tensor("
    indent = len(prefix)
    suffixes = []
    if device is not None:
        suffixes.append(f"device='{device}'")
    if arr.size == 0:
        if arr.ndim != 1:
            suffixes.append(f"size={tuple(arr.shape)}")
        if arr.dtype != default_dtype:
            suffixes.append(f"dtype=tensorgrad.{dtype_name}")
        body = "[]"
    else:
        default_complex = np.dtype(np.complex128 if default_dtype == np.float64 else np.complex64)
        if arr.dtype not in (default_dtype, np.dtype(np.int64), np.dtype(np.bool_), default_complex):
            suffixes.append(f"dtype=tensorgrad.{dtype_name}")
        if arr.dtype.kind != "f" and is_float(arr.dtype):  # bfloat16: printed from its exact float32 values
            arr = arr.astype(np.float32)
        summarize = arr.size > THRESHOLD
        fmt = _ComplexFormatter if arr.dtype.kind == "c" else _Formatter
        body = _body(arr, indent, summarize, fmt(_summarized(arr) if summarize else arr))
    if grad_fn_name is not None:
        suffixes.append(f"grad_fn=<{grad_fn_name}>")
    elif requires_grad:
        suffixes.append("requires_grad=True")
    out = [prefix + body]
    last = len(out[0]) - out[0].rfind("\n") + 1
    for s in suffixes:
        if last + len(s) + 2 > LINEWIDTH:
            out.append(",\n" + " " * indent + s)
            last = indent + len(s)
        else:
            out.append(", " + s)
            last += len(s) + 2
    return "".join(out) + ")"
