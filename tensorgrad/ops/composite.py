"""Tensor functions that are not one differentiable primitive of their own.

Results with no gradient: indices, samples, counts and predicates (sort/topk indices, multinomial, unique, bincount,
searchsorted/bucketize, histc, isnan/isclose, any/all/count_nonzero, where(condition)). Composites whose gradient
comes from the ops they are made of: topk/sort values (gather), meshgrid/cartesian_prod (expand), cdist (matmul or
vector_norm), clamp_min/clamp_max (clamp), clone.

any, all and where shadow the builtins in this module, as in torch's namespace: use builtins.any here if needed.
"""
import math
import warnings
from collections import namedtuple

import numpy as np

from ..dtypes import finfo
from ..random import default_generator
from ..tensor import Tensor, tensor, check_device_as, check_same_device
from .elementwise import abs as _abs, clamp, promote_types, sqrt, where as select
from .indexing import Gather, nonzero
from .matmul import matmul
from .movement import cat, expand, reshape, stack, unsqueeze
from .reduce import amax, close_elements, sum as total, vector_norm
from .util import is_float, normalize_dim, normalize_dims, refuse_complex

_TopK = namedtuple("topk", ["values", "indices"])
_Sort = namedtuple("sort", ["values", "indices"])


def _order(t, dim, descending, k, op):
    """(int64 indices of the first k entries along dim in sorted order, the normalized dim); a 0-d t is treated as
    1-d (the caller shapes the results back). Stable: equal entries keep their input order; NaN counts as the
    largest value, as in torch."""
    refuse_complex(op, t)
    data = t.array.reshape(1) if t.ndim == 0 else t.array
    d = normalize_dim(op, dim, t.ndim, t.shape)
    n = data.shape[d]
    if k is not None and not 0 <= k <= n:
        raise RuntimeError(f"{op}: k={k} is out of range for dim {dim} of size {n} (shape {tuple(t.shape)})")
    if t.ndim == 0:
        k = None  # torch returns the element for k=0 as well as for k=1
    xp = t._xp
    if descending:
        # Sorting the reversed data ascending and reversing back keeps ties in input order and puts NaN first;
        # negating the data would do neither (and breaks bool / unsigned data).
        idx = (n - 1) - xp.flip(xp.argsort(xp.flip(data, d), axis=d, kind="stable"), d)
    else:
        idx = xp.argsort(data, axis=d, kind="stable")
    if k is not None and k < n:
        idx = idx[(slice(None),) * d + (slice(0, k),)]
    return idx.astype(np.int64), d


def _values(t, idx, d):
    if t.ndim == 0:
        return reshape(Gather.apply(reshape(t, 1), Tensor._make(idx, None), 0), ())
    return Gather.apply(t, Tensor._make(idx, None), d)  # the indices are valid by construction: no range check


def _shaped(t, idx):
    return Tensor._make(idx.reshape(()) if t.ndim == 0 else idx, None)


def topk(t, k, dim=-1, largest=True, sorted=True):
    """Values and indices of the k largest (or smallest) entries along dim; the values carry gradient (gather)."""
    idx, d = _order(t, dim, largest, k, "topk")
    return _TopK(_values(t, idx, d), _shaped(t, idx))


def sort(t, dim=-1, descending=False, *, stable=False):
    """Sorted values (with gradient) and their indices; always stable, so ``stable`` changes nothing."""
    idx, d = _order(t, dim, descending, None, "sort")
    return _Sort(_values(t, idx, d), _shaped(t, idx))


def argsort(t, dim=-1, descending=False, *, stable=False):
    idx, _ = _order(t, dim, descending, None, "argsort")
    return _shaped(t, idx)


def multinomial(probs, num_samples, replacement=False, generator=None):
    """Sample indices from each row of non-negative (unnormalized) weights, 1-D or 2-D."""
    gen = generator or default_generator
    if probs.ndim not in (1, 2):
        raise RuntimeError(f"multinomial: probs must be 1-D or 2-D, got shape {tuple(probs.shape)}")
    p = np.asarray(probs, dtype=np.float64)
    p2 = p.reshape(-1, p.shape[-1])
    if (p2 < 0).any() or not np.isfinite(p2).all() or (p2.sum(axis=1) <= 0).any():
        raise RuntimeError("multinomial: probabilities must be finite, non-negative and have a positive sum per row")
    if not replacement and num_samples > p2.shape[1]:
        raise RuntimeError(f"multinomial: cannot draw {num_samples} samples without replacement from {p2.shape[1]} categories")
    if not replacement and num_samples > int((p2 > 0).sum(axis=1).min()):
        raise RuntimeError(f"multinomial: cannot draw {num_samples} samples without replacement: a row has only "
                           f"{int((p2 > 0).sum(axis=1).min())} categories with non-zero probability (shape {tuple(probs.shape)})")
    rng = gen._gen("cpu")
    out = np.empty((p2.shape[0], num_samples), dtype=np.int64)
    for i, row in enumerate(p2):
        row = row / row.sum()
        out[i] = rng.choice(row.size, size=num_samples, replace=replacement, p=row)
    out = out.reshape(p.shape[:-1] + (num_samples,))
    t = Tensor._make(out, None)
    return t.to(probs.device) if probs.device.type != "cpu" else t


def _check_tensor(op, x, name="input"):
    if not isinstance(x, Tensor):
        kind = type(x).__name__ if type(x).__module__ == "builtins" else f"{type(x).__module__}.{type(x).__name__}"
        raise TypeError(f"{op}: {name} must be a tensorgrad Tensor, got {kind}")


def _broadcast(op, a, b):
    try:
        return np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise RuntimeError(f"{op}: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be broadcast together") from None


# ------------------------------------------------------------------------------------------------ predicates
def _classify(op, input, non_float):
    _check_tensor(op, input)
    xp = input._xp
    if is_float(input.dtype) or input.dtype.kind == "c":  # (complex: either part, as torch)
        return Tensor._make(getattr(xp, op)(input.array), None)
    # integer and bool tensors hold no NaN or infinity (and numpy's isnan refuses some of them)
    return Tensor._make(xp.full(input.shape, non_float, dtype=np.bool_), None)


def isnan(input):
    return _classify("isnan", input, False)


def isinf(input):
    return _classify("isinf", input, False)


def isfinite(input):
    return _classify("isfinite", input, True)


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Elementwise |input - other| <= atol + rtol * |other| (broadcasting), or equal (so infinities of one sign
    match); NaN matches NaN only with equal_nan. Integer and bool tensors are compared in the default float dtype,
    as torch does."""
    _check_tensor("isclose", input)
    _check_tensor("isclose", other, "other")
    check_device_as("isclose", input, other)
    return Tensor._make(close_elements("isclose", input, other, rtol, atol, equal_nan), None)


def _any_all(op, input, dim, keepdim):
    _check_tensor(op, input)
    dims = normalize_dims(op, dim, input.ndim, input.shape, empty_is_all=False)
    out = getattr(input._xp, op)(input.array, axis=dims, keepdims=keepdim)
    # torch keeps uint8 for uint8 input (its convention from before bool tensors); every other dtype gives bool
    return Tensor._make(out.astype(np.uint8) if input.dtype == np.uint8 else out, None)


def any(input, dim=None, keepdim=False):
    """Whether any element (over dim: an int, a tuple, or None for all) is non-zero; NaN counts as non-zero."""
    return _any_all("any", input, dim, keepdim)


def all(input, dim=None, keepdim=False):
    """Whether every element (over dim: an int, a tuple, or None for all) is non-zero; True over nothing."""
    return _any_all("all", input, dim, keepdim)


def count_nonzero(input, dim=None):
    """int64 count of the non-zero elements over dim (an int or a tuple; None or () count them all)."""
    _check_tensor("count_nonzero", input)
    dims = normalize_dims("count_nonzero", dim, input.ndim, input.shape)
    return Tensor._make((input.array != 0).sum(axis=dims).astype(np.int64), None)


def where(condition, input=None, other=None):
    """where(condition, input, other) picks elementwise (differentiable in input and other); where(condition)
    alone is nonzero(condition, as_tuple=True)."""
    if input is None and other is None:
        _check_tensor("where", condition, "condition")
        return nonzero(condition, as_tuple=True)
    if input is None or other is None:
        raise TypeError("where: takes a condition alone, or a condition, input and other; got only one of input "
                        "and other")
    return select(condition, input, other)


# ---------------------------------------------------------------------------------------- small composites
def clone(input, *, memory_format=None):
    """A copy with its own memory, laid out as memory_format asks (the input's own order by default); the gradient
    flows back to input."""
    _check_tensor("clone", input)
    return input.clone(memory_format=memory_format)


def clamp_min(input, min):
    if min is None:
        raise TypeError(f"clamp_min: min must be a number or a Tensor, got None (input shape {tuple(input.shape)})")
    return clamp(input, min=min)


def clamp_max(input, max):
    if max is None:
        raise TypeError(f"clamp_max: max must be a number or a Tensor, got None (input shape {tuple(input.shape)})")
    return clamp(input, max=max)


def nan_to_num(input, nan=0.0, posinf=None, neginf=None):
    """NaN -> nan, +inf -> posinf, -inf -> neginf (by default the dtype's largest and lowest finite values); an
    integer or bool input comes back as a copy, as torch. The gradient passes where the value was kept, 0 where it
    was replaced (torch's nan_to_num_backward)."""
    _check_tensor("nan_to_num", input)
    if input.dtype.kind == "c":  # each part on its own, as torch
        parts = [nan_to_num(p, nan, posinf, neginf) for p in (input.real, input.imag)]
        return parts[0] + parts[1] * 1j
    if not is_float(input.dtype):
        return input.clone()
    info = finfo(input.dtype)
    posinf = float(info.max) if posinf is None else posinf
    neginf = float(info.min) if neginf is None else neginf
    x = input.array
    out = select(Tensor._make(x != x, None), float(nan), input)
    out = select(Tensor._make(x == np.inf, None), float(posinf), out)
    return select(Tensor._make(x == -np.inf, None), float(neginf), out)


def tensor_split(input, indices_or_sections, dim=0):
    """Views of input along dim: n sections (the first size % n one longer, as torch; n may exceed the size: empty
    pieces), or the pieces between the given indices (input[:i0], input[i0:i1], ..., Python slice rules)."""
    _check_tensor("tensor_split", input)
    if input.ndim == 0:
        raise RuntimeError("tensor_split: expected at least a 1-dimensional tensor, got a 0-d tensor")
    d = normalize_dim("tensor_split", dim, input.ndim, input.shape)
    spec = indices_or_sections
    if isinstance(spec, Tensor):
        if spec.dtype.kind not in "iu" or spec.ndim > 1:
            raise RuntimeError(f"tensor_split: indices_or_sections must be a 0-d or 1-d integer tensor, got "
                               f"{spec.dtype} of shape {tuple(spec.shape)}")
        spec = int(spec.item()) if spec.ndim == 0 else [int(v) for v in spec.array.tolist()]
    head = (slice(None),) * d
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        n, size = int(spec), input.shape[d]
        if n <= 0:
            raise RuntimeError(f"tensor_split: number of sections must be larger than 0, got {n}")
        q, r = divmod(size, n)
        bounds = [i * q + min(i, r) for i in range(n + 1)]
        return tuple(input[head + (slice(bounds[i], bounds[i + 1]),)] for i in range(n))
    if not isinstance(spec, (list, tuple)) or [i for i in spec
                                                if not isinstance(i, (int, np.integer)) or isinstance(i, bool)]:
        raise TypeError(f"tensor_split: indices_or_sections must be an int, a list/tuple of ints or an integer "
                        f"tensor, got {indices_or_sections!r}")
    cuts = [None] + [int(i) for i in spec] + [None]
    return tuple(input[head + (slice(a, b),)] for a, b in zip(cuts[:-1], cuts[1:]))


def diff(input, n=1, dim=-1, prepend=None, append=None):
    """The n-th forward difference along dim, after prepend/append are concatenated there (bool: !=, as torch)."""
    _check_tensor("diff", input)
    if input.ndim == 0:
        raise RuntimeError("diff: expected at least a 1-dimensional tensor, got a 0-d tensor")
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
        raise RuntimeError(f"diff: order must be a non-negative int, got {n!r}")
    d = normalize_dim("diff", dim, input.ndim, input.shape)
    if n == 0:  # (torch: the input itself, prepend and append ignored)
        return input
    parts = [t for t in (prepend, input, append) if t is not None]
    for t in parts:
        _check_tensor("diff", t, "prepend/append")
        if t.ndim != input.ndim:
            raise RuntimeError(f"diff: prepend/append of shape {tuple(t.shape)} must have the input's number of "
                               f"dimensions ({input.ndim}, shape {tuple(input.shape)})")
    x = cat(parts, d) if len(parts) > 1 else input
    head = (slice(None),) * d
    for _ in range(int(n)):
        if x.shape[d] == 0:
            break
        hi, lo = x[head + (slice(1, None),)], x[head + (slice(None, -1),)]
        x = hi != lo if x.dtype == np.bool_ else hi - lo
    return x


def meshgrid(*tensors, indexing=None):
    """Coordinate grids from 0-d / 1-d tensors (or one list of them): with 'ij' (the default) output i varies along
    dim i; with 'xy' the first two dims swap (x along columns). Outputs are expand()ed, so gradients sum back."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing is None:
        warnings.warn("meshgrid: in an upcoming release, it will be required to pass the indexing argument "
                      "(as torch warns); taking indexing='ij'", UserWarning, stacklevel=2)
        indexing = "ij"
    if indexing not in ("ij", "xy"):
        raise RuntimeError(f'meshgrid: indexing must be "ij" or "xy", got {indexing!r}')
    if not tensors:
        raise RuntimeError("meshgrid: expects a non-empty list of tensors")
    for t in tensors:
        _check_tensor("meshgrid", t, "every argument")
        if t.ndim > 1:
            raise RuntimeError(f"meshgrid: expects 0-d or 1-d tensors, got shape {tuple(t.shape)}")
    if len({t.dtype for t in tensors}) > 1:
        raise RuntimeError(f"meshgrid: expects tensors of one dtype, got {[str(t.dtype) for t in tensors]}")
    check_same_device("meshgrid", tensors)
    axes = list(range(len(tensors)))
    if indexing == "xy" and len(tensors) > 1:
        axes[0], axes[1] = 1, 0
    shape = [0] * len(tensors)
    for t, a in zip(tensors, axes):
        shape[a] = t.numel()
    return tuple(expand(reshape(t, [shape[a] if i == a else 1 for i in range(len(shape))]), shape)
                 for t, a in zip(tensors, axes))


def cartesian_prod(*tensors):
    """Every combination of the elements of 1-d tensors, one per row (the first varies slowest); one tensor is
    returned as is."""
    for t in tensors:
        _check_tensor("cartesian_prod", t, "every argument")
        if t.ndim != 1:
            raise RuntimeError(f"cartesian_prod: expects 1-d tensors, got shape {tuple(t.shape)}")
    if len(tensors) == 1:
        return tensors[0]
    return stack([reshape(g, -1) for g in meshgrid(*tensors, indexing="ij")], dim=1)


_CDIST_MODES = ("use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist", "donot_use_mm_for_euclid_dist")


def cdist(x1, x2, p=2.0, compute_mode="use_mm_for_euclid_dist_if_necessary"):
    """p-norm distances between the rows of x1 (..., P, M) and of x2 (..., R, M): (..., P, R), batch dims
    broadcast. With p=2 and more than 25 rows on a side (or compute_mode='use_mm_for_euclid_dist') it is
    sqrt(|a|^2 + |b|^2 - 2 a.b) through one matmul, as in torch: fast, but a distance near 0 loses precision.
    Otherwise it is the vector norm of the (..., P, R, M) differences. Where a distance is 0 the gradient is 0."""
    for name, x in (("x1", x1), ("x2", x2)):
        _check_tensor("cdist", x, name)
        if x.ndim < 2:
            raise RuntimeError(f"cdist: {name} must have at least 2 dims (rows, columns), got shape {tuple(x.shape)}")
        if not is_float(x.dtype):
            raise RuntimeError(f"cdist: only floating point tensors are supported, {name} has dtype {x.dtype}")
    if x1.dtype != x2.dtype:
        raise RuntimeError(f"cdist: x1 and x2 must have one dtype, got {x1.dtype} and {x2.dtype}")
    if x1.shape[-1] != x2.shape[-1]:
        raise RuntimeError(f"cdist: x1 of shape {tuple(x1.shape)} and x2 of shape {tuple(x2.shape)} must have the "
                           "same number of columns")
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)) or not p >= 0:
        raise RuntimeError(f"cdist: p must be a non-negative number, got {p!r}")
    if compute_mode not in _CDIST_MODES:
        raise ValueError(f"cdist: compute_mode must be one of {_CDIST_MODES}, got {compute_mode!r}")
    try:
        np.broadcast_shapes(x1.shape[:-2], x2.shape[:-2])
    except ValueError:
        raise RuntimeError(f"cdist: the batch dims of x1 {tuple(x1.shape)} and x2 {tuple(x2.shape)} cannot be "
                           "broadcast together") from None
    many = x1.shape[-2] > 25 or x2.shape[-2] > 25
    if p == 2 and (compute_mode == _CDIST_MODES[1] or (compute_mode == _CDIST_MODES[0] and many)):
        sq = total(x1 * x1, -1, keepdim=True) + unsqueeze(total(x2 * x2, -1), -2) - 2 * matmul(x1, x2.mT)
        sq = clamp(sq, min=0)  # rounding can take a zero distance below 0
        pos = sq > 0
        return select(pos, sqrt(select(pos, sq, 1.0)), 0.0)  # sqrt's gradient is infinite at 0: route around it
    diff = unsqueeze(x1, -2) - unsqueeze(x2, -3)
    if math.isinf(p) and diff.numel():
        # torch's cdist gives every tied largest |difference| the whole gradient (vector_norm splits it): the
        # value is the detached max, and a term that is 0 in value carries sign(difference) to each tie.
        ad = _abs(diff)
        top = amax(ad, -1, keepdim=True).detach()
        return total((ad - ad.detach()) * (ad.detach() == top), -1) + top.squeeze(-1)
    # Otherwise vector_norm's gradient is torch's cdist gradient. Rows of no columns are 0 apart for every p, and
    # vector_norm refuses the max over nothing (p=inf), so take p=2 there.
    return vector_norm(diff, p if x1.shape[-1] else 2, dim=-1, _op="cdist")


# ---------------------------------------------------------------------------------------- unique, bincount
def _unique(op, input, sort, return_inverse, return_counts, dim):
    _check_tensor(op, input)
    refuse_complex(op, input)
    xp, data = input._xp, input.array
    if dim is None:
        rows = data.reshape(-1, 1)
    else:
        if input.ndim == 0:
            raise IndexError(f"{op}: dim {dim} is out of range for a 0-d tensor")
        d = normalize_dim(op, dim, input.ndim, input.shape)
        if 0 in input.shape[:d] + input.shape[d + 1:]:
            raise RuntimeError(f"{op}: input of shape {tuple(input.shape)} has a size-0 dim besides dim {dim}, so "
                               "there are no slices along dim to compare")
        moved = xp.moveaxis(data, d, 0)
        rows = moved.reshape(moved.shape[0], int(math.prod(moved.shape[1:])))
    n = rows.shape[0]
    order = None
    if sort:  # lexicographic and stable: one stable argsort per column, the least significant first
        order = xp.arange(n)
        for c in range(rows.shape[1] - 1, -1, -1):
            order = order[xp.argsort(rows[order, c], kind="stable")]
        rows = rows[order]
    starts = xp.ones(n, dtype=np.bool_)
    if n > 1:
        starts[1:] = (rows[1:] != rows[:-1]).any(axis=1)  # NaN != NaN: each NaN stays apart, as in torch
    first = xp.nonzero(starts)[0]
    values = rows[first]
    values = values.reshape(-1) if dim is None else xp.moveaxis(values.reshape((-1,) + moved.shape[1:]), 0, d)
    out = [Tensor._make(values, None)]
    if return_inverse:
        group = xp.cumsum(starts).astype(np.int64) - 1
        if order is not None:
            inverse = xp.empty(n, dtype=np.int64)
            inverse[order] = group
            group = inverse
        out.append(Tensor._make(group.reshape(input.shape if dim is None else (n,)), None))
    if return_counts:
        out.append(Tensor._make(xp.diff(xp.append(first, n)).astype(np.int64), None))
    return out[0] if len(out) == 1 else tuple(out)


def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):
    """The distinct elements (dim=None, flattened) or distinct slices along dim, in ascending (lexicographic)
    order; with return_inverse, each element's (slice's) index into them; with return_counts, how often each
    occurs. sorted=False sorts too (torch leaves that order unspecified; its CPU kernel sorts as well). No
    gradient: torch records one for float input but cannot compute it."""
    return _unique("unique", input, True, return_inverse, return_counts, dim)


def unique_consecutive(input, return_inverse=False, return_counts=False, dim=None):
    """unique for runs: collapses consecutive equal elements (or slices along dim), keeping the input's order."""
    return _unique("unique_consecutive", input, False, return_inverse, return_counts, dim)


def _bincount(xp, x, minlength, weights=None):
    """xp.bincount, but an empty x gives minlength zeros on CUDA too (cupy.bincount first takes the max of x)."""
    if not x.size:
        return xp.zeros(minlength, dtype=np.int64 if weights is None else np.float64)
    return xp.bincount(x, weights=weights, minlength=minlength)


def bincount(input, weights=None, minlength=0):
    """How often each value 0..max(input) occurs in a 1-d non-negative integer tensor (int64), or the sum of the
    weights at those places (float32 for float32 weights, else float64); at least minlength bins."""
    _check_tensor("bincount", input)
    if input.ndim != 1 or not np.issubdtype(input.dtype, np.integer):
        raise RuntimeError(f"bincount: input must be a 1-d tensor of non-negative integers, got shape "
                           f"{tuple(input.shape)} and dtype {input.dtype}")
    if isinstance(minlength, bool) or not isinstance(minlength, (int, np.integer)) or minlength < 0:
        raise RuntimeError(f"bincount: minlength must be an int >= 0, got {minlength!r}")
    if weights is not None:
        _check_tensor("bincount", weights, "weights")
        check_device_as("bincount", input, weights)
        if weights.shape != input.shape:
            raise RuntimeError(f"bincount: weights of shape {tuple(weights.shape)} must be 1-d, one per element of "
                               f"the input of shape {tuple(input.shape)}")
    xp, x = input._xp, input.array.astype(np.int64, copy=False)
    if x.size and int(x.min()) < 0:  # a host read, as in torch: the output length depends on the data
        raise RuntimeError(f"bincount: input values must be non-negative, got {int(x.min())} (shape "
                           f"{tuple(input.shape)})")
    if weights is None or not x.size:  # torch: an empty input gives int64 zeros even with weights
        return Tensor._make(_bincount(xp, x, int(minlength)).astype(np.int64, copy=False), None)
    dt = np.float32 if weights.dtype == np.float32 else np.float64  # torch's choice, float16 weights included
    counts = _bincount(xp, x, int(minlength), weights.array.astype(np.float64))
    return Tensor._make(counts.astype(dt, copy=False), None)


# ----------------------------------------------------------------------------------- searchsorted, histc
def _merge_searchsorted(xp, seq, values, right):
    """searchsorted row by row with no Python loop (numpy and cupy search one sequence only): stable-argsort each
    row's values and sequence side by side, values first for 'left' (so a value goes before equal sequence
    entries) and last for 'right'; a value's answer is the number of sequence entries sorted before it."""
    n, m = seq.shape[-1], values.shape[-1]
    merged = xp.concatenate([seq, values] if right else [values, seq], axis=-1)
    order = xp.argsort(merged, axis=-1, kind="stable")
    from_seq = (order < n) if right else (order >= m)
    before = xp.cumsum(from_seq, axis=-1) - from_seq
    slot = xp.argsort(order, axis=-1)  # the inverse permutation: where each entry of merged went
    return xp.take_along_axis(before, slot[..., n:] if right else slot[..., :m], axis=-1)


def searchsorted(sorted_sequence, values, *, out_int32=False, right=False, side=None, sorter=None):
    """Where values would go in the (ascending) last dim of sorted_sequence: the first index whose entry is
    >= the value, or > it with right=True / side='right'. A 1-d sequence serves values of any shape (a number
    gives a 0-d result); an n-d one holds one sequence per row and its leading dims must equal the values'.
    sorter: int64 indices that sort an unsorted sequence. int64 indices (int32 with out_int32), no gradient."""
    op = "searchsorted"
    _check_tensor(op, sorted_sequence, "sorted_sequence")
    refuse_complex(op, sorted_sequence, values)
    if not isinstance(values, Tensor):
        if not isinstance(values, (bool, int, float, np.number, np.bool_)):
            raise TypeError(f"{op}: values must be a Tensor or a number, got {type(values).__name__}")
        values = tensor(values, device=sorted_sequence.device)
    check_device_as(op, sorted_sequence, values, sorter)
    if side is not None:
        if side not in ("left", "right"):
            raise RuntimeError(f"{op}: side must be 'left' or 'right', got {side!r}")
        if right and side == "left":
            raise RuntimeError(f"{op}: side='left' contradicts right=True")
        right = side == "right"
    seq = sorted_sequence
    if seq.ndim == 0:
        raise RuntimeError(f"{op}: sorted_sequence must have at least 1 dim, got a 0-d tensor")
    if seq.ndim > 1 and (values.ndim != seq.ndim or values.shape[:-1] != seq.shape[:-1]):
        raise RuntimeError(f"{op}: sorted_sequence of shape {tuple(seq.shape)} must be 1-d, or have the leading "
                           f"dims of the values, of shape {tuple(values.shape)}")
    xp, s = seq._xp, seq.array
    if sorter is not None:
        _check_tensor(op, sorter, "sorter")
        if sorter.dtype != np.int64 or sorter.shape != seq.shape:
            raise RuntimeError(f"{op}: sorter must be an int64 tensor of the sequence's shape {tuple(seq.shape)}, "
                               f"got dtype {sorter.dtype} and shape {tuple(sorter.shape)}")
        n = seq.shape[-1]
        if sorter.numel() and (int(sorter.array.min()) < 0 or int(sorter.array.max()) >= n):
            raise RuntimeError(f"{op}: sorter values must be in [0, {n - 1}] (sequence shape {tuple(seq.shape)})")
        s = xp.take_along_axis(s, sorter.array, axis=-1)
    dt = promote_types(s.dtype, values.dtype)
    s, v = s.astype(dt, copy=False), values.array.astype(dt, copy=False)
    # A 1-d sequence (bucketize's case, often long next to few values) keeps xp.searchsorted's O(m log n).
    idx = xp.searchsorted(s, v, side="right" if right else "left") if s.ndim == 1 else \
        _merge_searchsorted(xp, s, v, right)
    return Tensor._make(xp.asarray(idx).astype(np.int32 if out_int32 else np.int64), None)


def bucketize(input, boundaries, *, out_int32=False, right=False):
    """The bucket of each input element among 1-d ascending boundaries: searchsorted(boundaries, input)."""
    _check_tensor("bucketize", boundaries, "boundaries")
    if boundaries.ndim != 1:
        raise RuntimeError(f"bucketize: boundaries must be 1-d, got shape {tuple(boundaries.shape)}")
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)


def histc(input, bins=100, min=0, max=0):
    """Histogram of a float tensor over `bins` equal bins between min and max (both 0: the data's min and max);
    elements outside are ignored, max falls in the last bin. Same dtype as input, no gradient."""
    _check_tensor("histc", input)
    if not is_float(input.dtype):
        raise RuntimeError(f"histc: input must be a floating point tensor, got dtype {input.dtype}")
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins <= 0:
        raise RuntimeError(f"histc: bins must be an int > 0, got {bins!r}")
    xp, x = input._xp, input.array.reshape(-1)
    lo, hi = float(min), float(max)
    if lo == hi and x.size:
        lo, hi = float(x.min()), float(x.max())
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise RuntimeError(f"histc: the range [{lo}, {hi}] is not finite (input shape {tuple(input.shape)})")
    if lo > hi:
        raise RuntimeError(f"histc: max ({hi}) must be larger than min ({lo})")
    t = x.dtype.type
    lo, hi = t(lo), t(hi)
    x = x[(x >= lo) & (x <= hi)]
    # torch's arithmetic, in the input dtype: the bin is trunc((x - min) * bins / (max - min)), max in the last
    pos = xp.minimum(((x - lo) * t(bins) / (hi - lo)).astype(np.int64), bins - 1)
    return Tensor._make(_bincount(xp, pos, int(bins)).astype(input.dtype), None)
