"""Statistics and reductions of torch's namespace composed of differentiable tensorgrad ops (their gradients and
double backward come from the ops they are made of): nan-aware reductions (nansum, nanmean, nanmedian,
nanquantile), quantile (every interpolation), std_mean/var_mean, aminmax, mode, kthvalue, msort, cummax/cummin,
cov/corrcoef, distances (dist, pdist; cosine_similarity and pairwise_distance are nn.functional's), renorm, trapezoid,
cumulative_trapezoid, gradient, histogram.

Where an order statistic is picked (median, quantile, kthvalue, mode, cummax), its index is found on the raw array
and the value is gathered, so the gradient goes to the picked element, as in torch."""
from collections import namedtuple

import numpy as np

from ..dtypes import get_default_dtype, to_dtype
from ..dtypes import to_real
from ..tensor import Tensor
from .composite import sort, isnan
from .elementwise import where, sqrt, clamp
from .indexing import Gather
from .movement import reshape, cat, movedim, getitem, unsqueeze
from .reduce import sum as total, mean, var, std, amax, amin, vector_norm, median
from .scan import cumsum
from .util import normalize_dim, is_float, to_float

_MinMax = namedtuple("aminmax", ["min", "max"])
_Mode = namedtuple("mode", ["values", "indices"])
_Kth = namedtuple("kthvalue", ["values", "indices"])
_CumMax = namedtuple("cummax", ["values", "indices"])
_CumMin = namedtuple("cummin", ["values", "indices"])
_NanMedian = namedtuple("nanmedian", ["values", "indices"])
_Hist = namedtuple("histogram", ["hist", "bin_edges"])


def _const(like, arr):
    return Tensor._make(like._xp.asarray(arr), None)


def _float_only(op, x):
    if not is_float(x.dtype):
        raise RuntimeError(f"{op}: expected a floating point tensor, got {x.dtype} (shape {tuple(x.shape)})")


# --------------------------------------------------------------------------------------------- nan-aware
def nansum(input, dim=None, keepdim=False, *, dtype=None):
    x = where(isnan(input), 0, input) if is_float(input.dtype) else input
    return total(x, dim, keepdim, dtype=dtype)


def nanmean(input, dim=None, keepdim=False, *, dtype=None):
    _float_only("nanmean", input)
    if dtype is not None and not is_float(to_dtype(dtype)):
        raise RuntimeError(f"nanmean(): could not infer output dtype. Optional dtype must be either a floating point "
                           f"or complex dtype. Got: {to_dtype(dtype)} (input shape {tuple(input.shape)})")
    keep = ~isnan(input)
    count = total(keep, dim, keepdim).to(input.dtype if dtype is None else dtype)
    return nansum(input, dim, keepdim, dtype=dtype) / count


def std_mean(input, dim=None, *, correction=None, keepdim=False, unbiased=None):
    return std(input, dim, unbiased, keepdim, correction), mean(input, dim, keepdim)


def var_mean(input, dim=None, *, correction=None, keepdim=False, unbiased=None):
    return var(input, dim, unbiased, keepdim, correction), mean(input, dim, keepdim)


def aminmax(input, *, dim=None, keepdim=False):
    if dim is None and keepdim:
        dims = tuple(range(input.ndim))
        return _MinMax(amin(input, dims, True), amax(input, dims, True))
    return _MinMax(amin(input, dim, keepdim), amax(input, dim, keepdim))


# ----------------------------------------------------------------------------------- order statistics
def _pick(input, idx, d, keepdim):
    """Values gathered at int64 indices ``idx`` (keepdim shape along d) and the indices, shaped as torch's."""
    x = reshape(input, 1) if input.ndim == 0 else input
    values = Gather.apply(x, _const(input, idx), d)
    ind = _const(input, idx)
    if not keepdim or input.ndim == 0:
        values, ind = values.squeeze(d), ind.squeeze(d)
    if input.ndim == 0:
        values, ind = reshape(values, ()), reshape(ind, ())
    return values, ind


def _dim_data(op, input, dim):
    a = input.array.reshape(1) if input.ndim == 0 else input.array
    d = normalize_dim(op, dim, input.ndim, input.shape)
    if a.shape[d] == 0:
        raise IndexError(f"{op}: cannot compute over dim {dim} of size 0 (shape {tuple(input.shape)})")
    return a, d


def kthvalue(input, k, dim=-1, keepdim=False):
    """The k-th smallest entry along dim (1-based) and its index."""
    a, d = _dim_data("kthvalue", input, dim)
    if not 1 <= k <= a.shape[d]:
        raise RuntimeError(f"kthvalue: selected number k = {k} out of range for dimension {dim} of size {a.shape[d]}")
    order = input._xp.argsort(a, axis=d, kind="stable")
    idx = order[(slice(None),) * d + (slice(k - 1, k),)]
    return _Kth(*_pick(input, idx.astype(np.int64), d, keepdim))


def mode(input, dim=-1, keepdim=False):
    """The most frequent value along dim (the smallest among ties) and the index of its last occurrence."""
    a, d = _dim_data("mode", input, dim)
    xp = input._xp
    moved = xp.moveaxis(a, d, -1)
    rows = moved.reshape(-1, moved.shape[-1])
    n = rows.shape[1]
    order = xp.argsort(rows, axis=1, kind="stable")
    s = xp.take_along_axis(rows, order, 1)
    new = xp.ones(s.shape, dtype=bool)
    new[:, 1:] = s[:, 1:] != s[:, :-1]
    if is_float(a.dtype):
        new[:, 1:] &= ~(xp.isnan(s[:, 1:]) & xp.isnan(s[:, :-1]))
    run_start = xp.maximum.accumulate(xp.where(new, xp.arange(n), 0), axis=1)
    run_len = xp.arange(n) - run_start + 1  # length of the run so far, at each sorted position
    best = xp.argmax(run_len, axis=1)  # the first maximum: the smallest value among the most frequent
    idx = order[xp.arange(rows.shape[0]), best]  # the run's last element: its latest input index (stable sort)
    shape = moved.shape[:-1] + (1,)
    idx = xp.moveaxis(idx.reshape(shape), -1, d)
    return _Mode(*_pick(input, idx.astype(np.int64), d, keepdim))


def msort(input):
    return sort(input, 0).values


def _cum_extreme(op, input, dim, is_max):
    d = normalize_dim(op, dim, input.ndim, input.shape)
    xp = input._xp
    a = input.array.reshape(1) if input.ndim == 0 else input.array
    n = a.shape[d]
    ufunc = xp.maximum if is_max else xp.minimum  # (both propagate NaN, as torch's running extreme)
    run = ufunc.accumulate(a, axis=d) if n else a
    prev = xp.concatenate([xp.take(a, [0], axis=d), xp.take(run, xp.arange(max(n - 1, 0)), axis=d)], axis=d) \
        if n else a
    # the index moves on at a new extreme, a tie, or a NaN (the latest of each, as torch)
    take = (a >= prev) if is_max else (a <= prev)
    if is_float(a.dtype):
        take = (take & ~xp.isnan(prev)) | xp.isnan(a)
    pos = xp.arange(n, dtype=np.int64).reshape((n,) + (1,) * (a.ndim - d - 1))
    idx = xp.maximum.accumulate(xp.where(take, pos, 0), axis=d) if n else xp.zeros(a.shape, dtype=np.int64)
    x = reshape(input, 1) if input.ndim == 0 else input
    values = Gather.apply(x, _const(input, idx), d)
    ind = _const(input, idx)
    if input.ndim == 0:
        values, ind = reshape(values, ()), reshape(ind, ())
    return values, ind


def cummax(input, dim):
    return _CumMax(*_cum_extreme("cummax", input, dim, True))


def cummin(input, dim):
    return _CumMin(*_cum_extreme("cummin", input, dim, False))


def nanmedian(input, dim=None, keepdim=False):
    """median ignoring NaN (the lower middle of the numbers); NaN only where a slice is all NaN."""
    if not is_float(input.dtype):
        return median(input) if dim is None else median(input, dim, keepdim)
    if dim is None:
        flat = reshape(input, -1)
        if flat.shape[0] == 0:
            return median(input)
        keep = ~np.isnan(np.asarray(flat.detach()))
        if not keep.any():
            return median(input)
        return median(getitem(flat, _const(input, np.nonzero(keep)[0])))
    a, d = _dim_data("nanmedian", input, dim)
    xp = input._xp
    order = xp.argsort(a, axis=d, kind="stable")  # NaN sort last
    valid = (~xp.isnan(a)).sum(axis=d, keepdims=True)
    k = xp.where(valid > 0, (valid - 1) // 2, 0)
    idx = xp.take_along_axis(order, k, axis=d)
    return _NanMedian(*_pick(input, idx.astype(np.int64), d, keepdim))


_INTERP = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile(op, input, q, dim, keepdim, interpolation, ignore_nan):
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(input).__name__}")
    if input.dtype not in (np.float32, np.float64):
        raise RuntimeError(f"{op}: input tensor must be either float or double dtype, got {input.dtype}")
    if interpolation not in _INTERP:
        raise RuntimeError(f"{op}: interpolation must be one of {_INTERP}, got {interpolation!r}")
    scalar_q = not isinstance(q, Tensor)
    qa = np.asarray(q, dtype=np.float64) if scalar_q else np.asarray(q.detach()).astype(np.float64)
    if not scalar_q and q.dtype != input.dtype:
        raise RuntimeError(f"{op}: q tensor must be same dtype as the input tensor ({q.dtype} vs {input.dtype})")
    if qa.ndim > 1:
        raise RuntimeError(f"{op}: q must be a scalar or 1D tensor, got shape {tuple(qa.shape)}")
    if qa.size and ((qa < 0).any() or (qa > 1).any()):
        raise RuntimeError(f"{op}: q values must be in the range [0, 1], got {qa.tolist()}")
    if input.numel() == 0:
        raise RuntimeError(f"{op}() input tensor must be non-empty (shape {tuple(input.shape)})")
    if dim is None:
        x, d = reshape(input, -1), 0
    else:
        x = reshape(input, 1) if input.ndim == 0 else input
        d = normalize_dim(op, dim, x.ndim, input.shape)
        if x.shape[d] == 0:
            raise IndexError(f"{op}: cannot compute quantile over dim {dim} of size 0 (shape {tuple(input.shape)})")
    xp = input._xp
    n = x.shape[d]
    s = sort(x, d).values  # NaN last
    s = movedim(s, d, -1)
    lead = s.shape[:-1]
    nan_count = xp.isnan(xp.moveaxis(x.array, d, -1)).sum(axis=-1, keepdims=True)
    valid = (n - nan_count) if ignore_nan else xp.full(lead + (1,), n, dtype=np.int64)
    qs = xp.asarray(qa.reshape(-1))
    pos = qs * xp.maximum(valid - 1, 0).astype(np.float64)  # (..., nq)
    lo = xp.floor(pos).astype(np.int64)
    hi = xp.ceil(pos).astype(np.int64)
    frac = pos - lo
    if interpolation == "lower":
        hi, frac = lo, frac * 0
    elif interpolation == "higher":
        lo, frac = hi, frac * 0
    elif interpolation == "nearest":  # round half to even, as torch (and numpy's round)
        lo = hi = xp.round(pos).astype(np.int64)
        frac = frac * 0
    elif interpolation == "midpoint":
        frac = xp.where(hi > lo, 0.5, 0.0)
    if not ignore_nan:  # a slice holding NaN gives its last sorted entry, a NaN (which gets the gradient, as torch)
        lo = xp.where(nan_count > 0, n - 1, lo)
        hi = xp.where(nan_count > 0, n - 1, hi)
        frac = xp.where(nan_count > 0, 0.0, frac)
    vlo = Gather.apply(s, _const(input, lo), s.ndim - 1)
    if interpolation in ("lower", "higher", "nearest"):
        out = vlo   # (a pick, no arithmetic: inf stays inf)
    else:
        # torch's lerp, which switches form at 1/2 (so [1, inf] at q = 0.5 is NaN, as torch's)
        vhi = Gather.apply(s, _const(input, hi), s.ndim - 1)
        w = _const(input, frac.astype(input.dtype))
        out = where(_const(input, frac < 0.5), vlo + (vhi - vlo) * w, vhi - (vhi - vlo) * (1 - w))
    out = movedim(out, -1, 0)  # (nq, ...)
    if dim is None:
        out = reshape(out, (qs.size,) + ((1,) * input.ndim if keepdim else ()))
    elif keepdim:
        out = unsqueeze(out, d + 1) if input.ndim else out
    if qa.ndim == 0:
        out = reshape(out, out.shape[1:])
    return out


def quantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):
    return _quantile("quantile", input, q, dim, keepdim, interpolation, False)


def nanquantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):
    return _quantile("nanquantile", input, q, dim, keepdim, interpolation, True)


# --------------------------------------------------------------------------------------- cov, corrcoef
def cov(input, *, correction=1, fweights=None, aweights=None):
    """Covariance of the variables in input's rows (observations in columns), numpy's weighting rules."""
    if input.ndim > 2:
        raise RuntimeError(f"cov: expected input to have two or fewer dimensions but got an input with "
                           f"{input.ndim} dimensions (shape {tuple(input.shape)})")
    x = to_float(reshape(input, (1, -1)) if input.ndim < 2 else input)
    wdt = to_real(x.dtype)  # (the weights, their sum and the normalization stay real for a complex input)
    n = x.shape[1]
    w = None
    if fweights is not None:
        if fweights.dtype.kind not in "iu":
            raise RuntimeError(f"cov: expected fweights to have integral dtype, got {fweights.dtype}")
        w = fweights.to(wdt)
    if aweights is not None:
        if not is_float(aweights.dtype):
            raise RuntimeError(f"cov: expected aweights to have floating point dtype, got {aweights.dtype}")
        w = aweights.to(wdt) if w is None else w * aweights.to(wdt)
    for wt, name in ((fweights, "fweights"), (aweights, "aweights")):
        if wt is not None and (wt.ndim > 1 or wt.numel() != n):
            raise RuntimeError(f"cov: expected {name} to be a 1-d tensor with {n} elements, got shape "
                               f"{tuple(wt.shape)}")
        # (torch's checks: negative weights and a zero total have no normalization; returning inf/NaN hid them)
        if wt is not None and bool((wt.array < 0).any()):
            raise RuntimeError(f"cov(): {name} cannot be negative")
    if w is not None and not bool((w.array != 0).any()):
        raise RuntimeError("cov(): weights sum to zero, can't be normalized")
    if w is None:
        wsum = float(n)
        avg = mean(x, 1, keepdim=True) if n else total(x, 1, keepdim=True) * float("nan")
        norm = wsum - correction
    else:
        wsum = total(w)
        avg = total(x * w, 1, keepdim=True) / wsum
        if correction == 0:
            norm = wsum
        elif aweights is None:
            norm = wsum - correction
        elif fweights is None and n == 1 and correction == 1:
            norm = 0.0  # (torch's: exactly 0, where aw - aw * aw / aw may round to a tiny positive)
        else:
            norm = wsum - correction * total(w * aweights.to(wdt)) / wsum
    xc = x - avg
    if n == 1 and (fweights is None) != (aweights is None):
        # one observation and one kind of weight: torch zeroes the centred input outright (its avg is the input),
        # so the gradient is 0 however the 0/0 above comes out; where() passes none of a NaN cotangent through
        xc = where(Tensor._make(xc._xp.zeros(xc.shape, dtype=bool), None), xc, 0.0)
    xw = xc if w is None else xc * w
    c = xw @ xc.conj().t() if hasattr(xc, "conj") else xw @ xc.t()
    if isinstance(norm, Tensor):
        norm = clamp(norm, min=0)
    else:
        norm = max(norm, 0)
    out = c / norm
    # (torch squeezes a single variable's 1x1 matrix to 0-d, also for a one-row 2-d input)
    return reshape(out, ()) if input.ndim < 2 or input.shape[0] == 1 else out


def corrcoef(input):
    c = cov(input)
    if c.ndim == 0:
        return c / c
    d = c.diagonal()
    sd = sqrt(d)
    c = c / unsqueeze(sd, 1)
    c = c / unsqueeze(sd, 0)
    return clamp(c, -1, 1)


# ---------------------------------------------------------------------------------------------- distances
def dist(input, other, p=2):
    return vector_norm(input - other, p)


def pdist(input, p=2):
    """The p-norm distances between the rows of an (N, M) input, for each pair i < j, in row-major order."""
    if input.ndim != 2:
        raise RuntimeError(f"pdist: only supports 2D tensors, got: {input.ndim}D (shape {tuple(input.shape)})")
    _float_only("pdist", input)
    if p < 0:
        raise RuntimeError(f"pdist: only supports non-negative p values, got {p}")
    i, j = np.triu_indices(input.shape[0], 1)
    a = getitem(input, _const(input, i.astype(np.int64)))
    b = getitem(input, _const(input, j.astype(np.int64)))
    return vector_norm(a - b, p, dim=-1)


def renorm(input, p, dim, maxnorm):
    """Each slice along dim whose p-norm exceeds maxnorm is scaled to norm maxnorm (torch's 1e-7 guard)."""
    if input.ndim <= 1:
        raise RuntimeError(f"renorm: input needs at least 2 dimensions, got {input.ndim} dimensions")
    if p <= 0:
        raise RuntimeError(f"renorm: non-positive-norm not supported, got p = {p}")
    if maxnorm < 0:
        raise RuntimeError(f"renorm: expected maxnorm to be >= 0 but got {maxnorm}")
    _float_only("renorm", input)
    d = normalize_dim("renorm", dim, input.ndim, input.shape)
    others = tuple(i for i in range(input.ndim) if i != d)
    norm = vector_norm(input, p, dim=others, keepdim=True)
    factor = where(norm > maxnorm, maxnorm / (norm + 1e-7), 1.0)
    return input * factor


# --------------------------------------------------------------------------------------- integration
def _spacing_along(y, x, dx, d):
    if x is not None and dx is not None:
        raise RuntimeError("trapezoid: cannot pass both x and dx")
    if x is None:
        return None, 1.0 if dx is None else dx
    if x.ndim == 1:
        if x.shape[0] != y.shape[d]:
            raise RuntimeError(f"trapezoid: there must be one `x` value for each sample point, got x of shape "
                               f"{tuple(x.shape)} for dim {d} of size {y.shape[d]}")
        shape = [1] * y.ndim
        shape[d] = x.shape[0]
        x = reshape(x, shape)
        dd = d
    else:
        dd = normalize_dim("trapezoid", d - y.ndim, x.ndim, x.shape)
    n = x.shape[dd]
    hi = getitem(x, (slice(None),) * dd + (slice(1, None),))
    lo = getitem(x, (slice(None),) * dd + (slice(0, max(n - 1, 0)),))
    return hi - lo, None


def _pairs(y, d):
    n = y.shape[d]
    return (getitem(y, (slice(None),) * d + (slice(1, None),)),
            getitem(y, (slice(None),) * d + (slice(0, max(n - 1, 0)),)))


def trapezoid(y, x=None, *, dx=None, dim=-1):
    d = normalize_dim("trapezoid", dim, y.ndim, y.shape)
    y = to_float(y)
    if y.shape[d] == 0:  # (torch: zeros, outside the graph)
        return Tensor._make(y._xp.zeros(y.shape[:d] + y.shape[d + 1:], dtype=y.dtype), None)
    dxs, c = _spacing_along(y, x, dx, d)
    hi, lo = _pairs(y, d)
    if dxs is None:
        return total(hi + lo, d) * (c / 2)
    return total((hi + lo) * dxs, d) / 2


def trapz(y, x=None, *, dx=None, dim=-1):
    return trapezoid(y, x, dx=dx, dim=dim)


def cumulative_trapezoid(y, x=None, *, dx=None, dim=-1):
    d = normalize_dim("cumulative_trapezoid", dim, y.ndim, y.shape)
    y = to_float(y)
    dxs, c = _spacing_along(y, x, dx, d)
    hi, lo = _pairs(y, d)
    parts = (hi + lo) * (c / 2) if dxs is None else (hi + lo) * dxs / 2
    return cumsum(parts, d)


def gradient(input, *, spacing=1, dim=None, edge_order=1):
    """Central differences inside, one-sided (edge_order 1 or 2) at the ends, along each dim in ``dim``; spacing is
    a number, one number per dim, or one coordinate tensor per dim. A tuple with one tensor per dim."""
    if edge_order not in (1, 2):
        raise RuntimeError(f"gradient: torch.gradient only supports edge_order=1 and edge_order=2, got {edge_order}")
    dims = list(range(input.ndim)) if dim is None else \
        [normalize_dim("gradient", d, input.ndim, input.shape) for d in ((dim,) if isinstance(dim, int) else dim)]
    if isinstance(spacing, (list, tuple)):
        if len(spacing) != len(dims):
            raise RuntimeError(f"gradient: expected spacing to be unspecified, a scalar or a list of length "
                               f"{len(dims)}, got a list of length {len(spacing)}")
        sp = list(spacing)
    else:
        sp = [spacing] * len(dims)
    x = to_float(input)
    outs = []
    for d, h in zip(dims, sp):
        n = x.shape[d]
        if n < edge_order + 1:
            raise RuntimeError(f"gradient: each dimension size should be at least edge_order+1, got dim {d} of size "
                               f"{n} (shape {tuple(input.shape)})")
        outs.append(_grad_1d(x, d, h, edge_order))
    return tuple(outs)


def _sl(x, d, a, b=None):
    return getitem(x, (slice(None),) * d + (slice(a, b),))


def _bshape(v, nd, d):
    shape = [1] * nd
    shape[d] = v.shape[0]
    return reshape(v, shape)


def _grad_1d(x, d, h, edge_order):
    n = x.shape[d]
    if isinstance(h, Tensor):  # coordinates: numpy's non-uniform formulas
        c = np.asarray(h.detach()).astype(np.float64)
        if c.ndim != 1 or c.shape[0] != n:
            raise RuntimeError(f"gradient: a coordinate tensor must be 1-d with {n} entries, got shape {tuple(c.shape)}")
        dx = np.diff(c)
        h1, h2 = dx[:-1], dx[1:]
        a = -h2 / (h1 * (h1 + h2))
        b = (h2 - h1) / (h1 * h2)
        cc = h1 / (h2 * (h1 + h2))
        w = lambda v: _bshape(_const(x, v.astype(x.dtype)), x.ndim, d)  # noqa: E731
        mid = _sl(x, d, 0, n - 2) * w(a) + _sl(x, d, 1, n - 1) * w(b) + _sl(x, d, 2) * w(cc) if n > 2 else None
        if edge_order == 1:
            first = (_sl(x, d, 1, 2) - _sl(x, d, 0, 1)) / float(dx[0])
            last = (_sl(x, d, n - 1) - _sl(x, d, n - 2, n - 1)) / float(dx[-1])
        else:
            d1, d2 = dx[0], dx[1]
            ea = -(2. * d1 + d2) / (d1 * (d1 + d2)); eb = (d1 + d2) / (d1 * d2); ec = -d1 / (d2 * (d1 + d2))  # noqa
            first = _sl(x, d, 0, 1) * float(ea) + _sl(x, d, 1, 2) * float(eb) + _sl(x, d, 2, 3) * float(ec)
            d1, d2 = dx[-2], dx[-1]
            ea = d2 / (d1 * (d1 + d2)); eb = -(d2 + d1) / (d1 * d2); ec = (2. * d2 + d1) / (d2 * (d1 + d2))  # noqa
            last = _sl(x, d, n - 3, n - 2) * float(ea) + _sl(x, d, n - 2, n - 1) * float(eb) + _sl(x, d, n - 1) * float(ec)
    else:
        h = float(h)
        mid = (_sl(x, d, 2) - _sl(x, d, 0, n - 2)) / (2 * h) if n > 2 else None
        if edge_order == 1:
            first = (_sl(x, d, 1, 2) - _sl(x, d, 0, 1)) / h
            last = (_sl(x, d, n - 1) - _sl(x, d, n - 2, n - 1)) / h
        else:
            first = (_sl(x, d, 0, 1) * -1.5 + _sl(x, d, 1, 2) * 2.0 - _sl(x, d, 2, 3) * 0.5) / h
            last = (_sl(x, d, n - 3, n - 2) * 0.5 - _sl(x, d, n - 2, n - 1) * 2.0 + _sl(x, d, n - 1) * 1.5) / h
    return cat([first] + ([mid] if mid is not None else []) + [last], d)


def histogram(input, bins=100, *, range=None, weight=None, density=False):
    """numpy.histogram's counts (weighted, or a density) and bin edges, in input's float dtype; no gradient."""
    _float_only("histogram", input)
    a = np.asarray(input.detach()).reshape(-1)
    w = None if weight is None else np.asarray(weight.detach()).reshape(-1)
    if w is not None and w.shape != a.shape:
        raise RuntimeError(f"histogram: if weight tensor is provided it should have the same shape as the input "
                           f"tensor, got {tuple(weight.shape)} and {tuple(input.shape)}")
    b = np.asarray(bins.detach()) if isinstance(bins, Tensor) else int(bins)
    if isinstance(b, int) and b <= 0:
        raise RuntimeError(f"histogram: bins must be > 0, but got {b} for dimension 0")
    if range is not None and range[0] > range[1]:
        raise RuntimeError(f"histogram: min should not exceed max, got min {range[0]} max {range[1]}")
    hist, edges = np.histogram(a.astype(np.float64), b, range=None if not isinstance(b, int) else range,
                               weights=None if w is None else w.astype(np.float64), density=density)
    mk = lambda v: Tensor._make(input._xp.asarray(v.astype(input.dtype)), None)  # noqa: E731
    return _Hist(mk(hist), mk(edges))

