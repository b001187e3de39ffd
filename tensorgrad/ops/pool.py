"""Pooling over the trailing 1 or 2 (spatial) dims, as PyTorch's F.max_pool1d/2d, avg_pool1d/2d,
adaptive_avg_pool1d/2d and adaptive_max_pool1d/2d. All of them are composites of existing differentiable ops.

Each pool is described, per spatial dim, by a window table: ``pos`` (k, out), the input position that offset j of
output i reads (clipped into range), and ``valid`` (k, out), whether that position really belongs to the window
(not padding, not past the end of the input or of an adaptive window).
  * max: the first maximum of every window is found on the raw arrays (index arithmetic, one pass per kernel
    offset, no gradient), and the values are a single Gather of the flattened input at those positions, so the
    gradient goes to that one position, as in PyTorch (a NaN counts as the maximum; ties go to the first).
  * avg: one spatial dim at a time, the window entries are summed -- strided slices of the zero-padded input for
    a regular pool, a Gather of the k entries of each window for an adaptive one whose windows do not tile --
    and the sum is divided once by the window sizes, as PyTorch divides.
"""
import math

import numpy as np

from ..backend import xp_of
from .indexing import Gather, pad as _pad
from .elementwise import where
from .util import is_float
from ..tensor import Tensor


# ------------------------------------------------------------------------------------------- arguments
def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _ntuple(op, name, v, nd):
    """An int or a tuple of 1 or nd ints -> a tuple of nd ints (PyTorch accepts a 1-tuple for every dim)."""
    if _is_int(v):
        return (int(v),) * nd
    if isinstance(v, (tuple, list)) and all(_is_int(e) for e in v):
        if len(v) == 1:
            return (int(v[0]),) * nd
        if len(v) == nd:
            return tuple(int(e) for e in v)
        raise RuntimeError(f"{op}: {name} must be a single int or a tuple of {nd} ints, got {tuple(v)}")
    raise TypeError(f"{op}: {name} must be an int or a tuple of ints, got {v!r}")


def _check_input(op, x, nd, ints=True):
    """(C, *spatial) or (N, C, *spatial) with only N allowed to be 0; bool is never pooled (PyTorch)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    if x.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"{op}: expected a {nd + 1}-D (unbatched) or {nd + 2}-D (batched) input, got shape "
                           f"{tuple(x.shape)}")
    if any(s == 0 for s in x.shape[-(nd + 1):]):
        raise RuntimeError(f"{op}: expected non-zero sizes in every dim but the batch dim, got shape "
                           f"{tuple(x.shape)}")
    if x.dtype == np.bool_ or not (is_float(x.dtype) or ints):
        raise TypeError(f"{op}: not implemented for {x.dtype} (input of shape {tuple(x.shape)})")


def _regular_args(op, x, nd, kernel_size, stride, padding, dilation, ceil_mode):
    """Validated per-dim (kernel, stride, padding, dilation, output size)."""
    k = _ntuple(op, "kernel_size", kernel_size, nd)
    s = k if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0) else \
        _ntuple(op, "stride", stride, nd)
    p = _ntuple(op, "padding", padding, nd)
    d = _ntuple(op, "dilation", dilation, nd)
    args = dict(kernel_size=k, stride=s, padding=p, dilation=d)
    for name, vals, low in (("kernel_size", k, 1), ("stride", s, 1), ("padding", p, 0), ("dilation", d, 1)):
        if any(v < low for v in vals):
            raise RuntimeError(f"{op}: {name} must be {'>= 0' if low == 0 else '> 0'}, got {vals} "
                               f"(input of shape {tuple(x.shape)})")
    if any(pi > ki // 2 for ki, pi in zip(k, p)):  # half the kernel, dilated or not (PyTorch's check)
        raise RuntimeError(f"{op}: padding {p} must be at most half of kernel_size {k} (input of shape "
                           f"{tuple(x.shape)})")
    outs = []
    for n, ki, si, pi, di in zip(x.shape[-nd:], k, s, p, d):
        span = n + 2 * pi - di * (ki - 1) - 1
        o = (span + (si - 1 if ceil_mode else 0)) // si + 1
        if ceil_mode and (o - 1) * si >= n + pi:  # the last window must start inside the input or left padding
            o -= 1
        outs.append(o)
    if any(o < 1 for o in outs):
        raise RuntimeError(f"{op}: input of shape {tuple(x.shape)} is too small for "
                           + ", ".join(f"{a}={v}" for a, v in args.items())
                           + f" (calculated output size {tuple(outs)})")
    return k, s, p, d, tuple(outs)


def _output_size(op, x, nd, output_size):
    """Adaptive output size: an int, or a tuple whose None entries keep the input's size."""
    sizes = (output_size,) * nd if _is_int(output_size) or output_size is None else tuple(output_size)
    if len(sizes) != nd or not all(o is None or _is_int(o) for o in sizes):
        raise RuntimeError(f"{op}: output_size must be an int or a tuple of {nd} ints (or None), "
                           f"got {output_size!r}")
    sizes = tuple(n if o is None else int(o) for n, o in zip(x.shape[-nd:], sizes))
    if any(o < 0 for o in sizes):
        raise RuntimeError(f"{op}: output_size must be >= 0, got {sizes} (input of shape {tuple(x.shape)})")
    return sizes


# ------------------------------------------------------------------------------------------ window tables
def _regular_table(n, k, s, p, d, o):
    pos = np.arange(o)[None, :] * s - p + np.arange(k)[:, None] * d
    return np.clip(pos, 0, n - 1), (pos >= 0) & (pos < n)


def _adaptive_bounds(n, o):
    """PyTorch's adaptive windows: [floor(i n / o), ceil((i + 1) n / o))."""
    i = np.arange(o)
    return (i * n) // o, -((-(i + 1) * n) // o)


def _adaptive_table(n, o):
    start, end = _adaptive_bounds(n, o)
    k = int((end - start).max()) if o else 0
    pos = start[None, :] + np.arange(k)[:, None]
    return np.minimum(pos, n - 1), pos < end[None, :]


def _flat_tables(tables, spatial):
    """Per kernel offset (in PyTorch's row-major kernel order) the flat in-plane position of every output and
    whether it is in its window: two (K, O) arrays."""
    nd = len(tables)
    ks, outs = tuple(p.shape[0] for p, _ in tables), tuple(p.shape[1] for p, _ in tables)
    flat, valid = np.zeros((), np.int64), np.ones((), bool)
    for i, (pos, ok) in enumerate(tables):
        shape = [1] * (2 * nd)
        shape[i], shape[nd + i] = pos.shape
        flat = flat + pos.reshape(shape) * math.prod(spatial[i + 1:])
        valid = valid & ok.reshape(shape)
    kk, oo = math.prod(ks), math.prod(outs)
    return np.broadcast_to(flat, ks + outs).reshape(kk, oo), np.broadcast_to(valid, ks + outs).reshape(kk, oo)


# --------------------------------------------------------------------------------------------- max pools
def _first_max(x2, flat, valid):
    """For x2 (planes, plane size): per output, the flat in-plane index PyTorch's kernels pick -- the first valid
    entry, replaced by every later one that is greater or NaN (so the first of tied maxima, the last NaN).
    flat, valid: the host (K, O) tables of _flat_tables."""
    xp = xp_of(x2)
    shape = (x2.shape[0], flat.shape[1])
    if 0 in flat.shape:  # an adaptive output size of 0
        return xp.zeros(shape, dtype=np.int64)
    # The running maximum starts below every value, and the winning kernel offset is kept in a small int and
    # turned into a flat index once at the end. Both updates are branch-free (maximum, and won += (j - won) * upd):
    # masked copies cost ten times more on random masks.
    low = -np.inf if is_float(x2.dtype) else np.iinfo(x2.dtype).min
    best = xp.full(shape, low, dtype=x2.dtype)
    won = xp.zeros(shape, dtype=np.int16 if flat.shape[0] < 2 ** 15 else np.int64)
    flat_dev = xp.asarray(flat)
    for j in range(flat.shape[0]):
        v = xp.take(x2, flat_dev[j], axis=1)
        if not valid[j].all():  # host tables: no device read
            v[:, xp.asarray(np.flatnonzero(~valid[j]))] = low  # out of the window: can never win
        upd = v > best
        if is_float(x2.dtype):
            upd |= xp.isnan(v)
        xp.maximum(best, v, out=best)  # NaN propagates, as the update rule wants
        won += (won.dtype.type(j) - won) * upd
    # A window whose values never beat the start (all -inf, or all the int minimum) keeps offset 0; where that
    # offset is padding, PyTorch's index is the window's first valid entry.
    pad0 = ~valid[0]
    if pad0.any():
        won = xp.where((won == 0) & xp.asarray(pad0), xp.asarray(valid.argmax(axis=0)).astype(won.dtype), won)
    return xp.take_along_axis(flat_dev, won.astype(np.int64), axis=0)


def _max_pool(x, nd, tables, outs, return_indices):
    xp = x._xp
    lead, spatial = tuple(x.shape[:-nd]), tuple(x.shape[-nd:])
    planes, size = math.prod(lead), math.prod(spatial)
    flat, valid = _flat_tables(tables, spatial)
    arg = _first_max(x.array.reshape(planes, size), flat, valid)
    where_in_input = (xp.arange(planes, dtype=np.int64)[:, None] * size + arg).reshape(-1)
    values = Gather.apply(x.reshape(-1), where_in_input, 0).reshape(lead + outs)
    empty = ~valid.any(axis=0) if valid.size else np.zeros(0, bool)
    if empty.any():
        # a window wholly in the padding (possible with dilation): the maximum of nothing, -inf as torch's forward,
        # with no input to send a gradient to (torch's backward writes outside the input there); index -1
        low = -np.inf if is_float(x.dtype) else np.iinfo(x.dtype).min
        mask = Tensor._make(xp.asarray(np.broadcast_to(empty.reshape(outs), lead + outs)), None)
        values = where(mask, low, values)
        arg = xp.where(xp.asarray(empty)[None, :], -1, arg)
    if return_indices:
        return values, Tensor._make(arg.reshape(lead + outs), None)
    return values


def _max_pool_nd(op, nd, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    _check_input(op, input, nd)
    k, s, p, d, outs = _regular_args(op, input, nd, kernel_size, stride, padding, dilation, ceil_mode)
    tables = [_regular_table(n, *a) for n, a in zip(input.shape[-nd:], zip(k, s, p, d, outs))]
    return _max_pool(input, nd, tables, outs, return_indices)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    return _max_pool_nd("max_pool1d", 1, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    return _max_pool_nd("max_pool2d", 2, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def _adaptive_max_pool_nd(op, nd, input, output_size, return_indices):
    _check_input(op, input, nd, ints=False)
    outs = _output_size(op, input, nd, output_size)
    tables = [_adaptive_table(n, o) for n, o in zip(input.shape[-nd:], outs)]
    return _max_pool(input, nd, tables, outs, return_indices)


def adaptive_max_pool1d(input, output_size, return_indices=False):
    return _adaptive_max_pool_nd("adaptive_max_pool1d", 1, input, output_size, return_indices)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    return _adaptive_max_pool_nd("adaptive_max_pool2d", 2, input, output_size, return_indices)


# --------------------------------------------------------------------------------------------- avg pools
def _strided_sum(y, dim, k, s, o):
    """sum over j < k of y[..., j : j + s (o - 1) + 1 : s, ...] along dim, y padded to exactly (o - 1) s + k."""
    if s == k:  # the windows tile the dim: one reshape and one sum
        return y.reshape(tuple(y.shape[:dim]) + (o, k) + tuple(y.shape[dim + 1:])).sum(dim + 1)
    out = None
    for j in range(k):
        part = y[(slice(None),) * dim + (slice(j, j + s * (o - 1) + 1, s),)]
        out = part if out is None else out + part
    return out


def _gathered_sum(y, dim, pos, valid):
    """sum over j of y[..., pos[j, i], ...] where valid[j, i], along dim: one Gather of the flattened y, whose
    backward is a 1-D scatter-add."""
    xp = y._xp
    shape = tuple(y.shape)
    k, o = pos.shape
    n, lead, rest = shape[dim], math.prod(shape[:dim]), math.prod(shape[dim + 1:])
    idx = (xp.arange(lead, dtype=np.int64).reshape(-1, 1, 1, 1) * (n * rest)
           + xp.asarray(pos).reshape(1, k, o, 1) * rest + xp.arange(rest, dtype=np.int64).reshape(1, 1, 1, -1))
    g = Gather.apply(y.reshape(-1), idx.reshape(-1), 0).reshape(shape[:dim] + (k, o) + shape[dim + 1:])
    keep = Tensor._make(xp.asarray(valid).reshape((k, o) + (1,) * (len(shape) - dim - 1)), None)
    return where(keep, g, 0).sum(dim)


def _divide(total, divisor, dtype):
    """total / divisor (an int or per-window sizes), cast back to the input dtype; int64 pools divide with C's
    truncation, as PyTorch."""
    xp = total._xp
    if is_float(dtype):
        out = total / (divisor if _is_int(divisor) else Tensor._make(xp.asarray(divisor, dtype=total.dtype), None))
        return out.to(dtype) if out.dtype != dtype else out
    num, den = total.array, xp.asarray(divisor, dtype=np.int64)
    q = xp.abs(num) // xp.abs(den)
    return Tensor._make(xp.where((num < 0) != (den < 0), -q, q).astype(dtype), None)


def _avg_input(op, x, nd, ints):
    _check_input(op, x, nd, ints=ints)
    if not is_float(x.dtype) and x.dtype != np.int64:
        raise TypeError(f"{op}: not implemented for {x.dtype} (input of shape {tuple(x.shape)})")
    # float16 sums in float32 (PyTorch's accumulate type) and is cast back at the end.
    return x.to(np.float32) if x.dtype == np.float16 else x


def _avg_pool_nd(op, nd, input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    y = _avg_input(op, input, nd, True)
    k, s, p, _, outs = _regular_args(op, input, nd, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None and (not _is_int(divisor_override) or divisor_override == 0):
        raise RuntimeError(f"{op}: divisor_override must be a non-zero int, got {divisor_override!r}")
    spatial = tuple(input.shape[-nd:])
    # Pad (with zeros) or crop each spatial dim to exactly the span its windows cover: (o - 1) s + k.
    amounts = [(pi, (oi - 1) * si + ki - n - pi) for n, ki, si, pi, oi in zip(spatial, k, s, p, outs)]
    if any(a for pair in amounts for a in pair):
        y = _pad(y, [a for pair in reversed(amounts) for a in pair])
    for i in range(nd):
        y = _strided_sum(y, y.ndim - nd + i, k[i], s[i], outs[i])
    if divisor_override is not None:
        return _divide(y, divisor_override, input.dtype)
    counts = []
    for n, ki, si, pi, oi in zip(spatial, k, s, p, outs):
        start = np.arange(oi) * si - pi
        end = np.minimum(start + ki, n + pi)  # the right padding counts, the ceil_mode overhang does not
        counts.append(end - start if count_include_pad else np.minimum(end, n) - np.maximum(start, 0))
    return _divide(y, _outer(counts), input.dtype)


def _outer(counts):
    """The window sizes of a separable pool: the outer product of the per-dim sizes."""
    div = counts[0]
    for c in counts[1:]:
        div = np.multiply.outer(div, c)
    return div


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    return _avg_pool_nd("avg_pool1d", 1, input, kernel_size, stride, padding, ceil_mode, count_include_pad, None)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    return _avg_pool_nd("avg_pool2d", 2, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                        divisor_override)


def _adaptive_avg_pool_nd(op, nd, input, output_size):
    y = _avg_input(op, input, nd, False)
    outs = _output_size(op, input, nd, output_size)
    counts = []
    for i, (n, o) in enumerate(zip(input.shape[-nd:], outs)):
        dim = y.ndim - nd + i
        if o and n % o == 0:  # equal windows that tile the dim
            y = _strided_sum(y, dim, n // o, n // o, o)
            counts.append(np.full(o, n // o))
        else:
            y = _gathered_sum(y, dim, *_adaptive_table(n, o))
            start, end = _adaptive_bounds(n, o)
            counts.append(end - start)
    return _divide(y, _outer(counts), input.dtype)


def adaptive_avg_pool1d(input, output_size):
    return _adaptive_avg_pool_nd("adaptive_avg_pool1d", 1, input, output_size)


def adaptive_avg_pool2d(input, output_size):
    return _adaptive_avg_pool_nd("adaptive_avg_pool2d", 2, input, output_size)
