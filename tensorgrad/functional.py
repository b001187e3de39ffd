"""Tensor functions that return indices or samples: topk, sort, argsort (values differentiable through gather),
multinomial."""
from collections import namedtuple

import numpy as np

from .tensor import Tensor
from .ops.util import normalize_dim

_TopK = namedtuple("topk", ["values", "indices"])
_Sort = namedtuple("sort", ["values", "indices"])


def _order(t, dim, descending, k, op):
    """(int64 indices of the first k entries along dim in sorted order, the normalized dim); a 0-d t is treated as
    1-d (the caller shapes the results back). Stable: equal entries keep their input order; NaN counts as the
    largest value, as in torch."""
    data = t.data.reshape(1) if t.ndim == 0 else t.data
    d = normalize_dim(op, dim, t.ndim, t.shape)
    n = data.shape[d]
    if k is not None and not 0 <= k <= n:
        raise RuntimeError(f"{op}: k={k} is out of range for dim {dim} of size {n} (shape {t.shape})")
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
    from .ops.indexing import Gather
    from .ops.movement import reshape
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
    from .random import default_generator
    gen = generator or default_generator
    if probs.ndim not in (1, 2):
        raise RuntimeError(f"multinomial: probs must be 1-D or 2-D, got shape {probs.shape}")
    p = np.asarray(probs, dtype=np.float64)
    p2 = p.reshape(-1, p.shape[-1])
    if (p2 < 0).any() or not np.isfinite(p2).all() or (p2.sum(axis=1) <= 0).any():
        raise RuntimeError("multinomial: probabilities must be finite, non-negative and have a positive sum per row")
    if not replacement and num_samples > p2.shape[1]:
        raise RuntimeError(f"multinomial: cannot draw {num_samples} samples without replacement from {p2.shape[1]} categories")
    if not replacement and num_samples > int((p2 > 0).sum(axis=1).min()):
        raise RuntimeError(f"multinomial: cannot draw {num_samples} samples without replacement: a row has only "
                           f"{int((p2 > 0).sum(axis=1).min())} categories with non-zero probability (shape {probs.shape})")
    rng = gen._gen("cpu")
    out = np.empty((p2.shape[0], num_samples), dtype=np.int64)
    for i, row in enumerate(p2):
        row = row / row.sum()
        out[i] = rng.choice(row.size, size=num_samples, replace=replacement, p=row)
    out = out.reshape(p.shape[:-1] + (num_samples,))
    t = Tensor._make(out, None)
    return t.to(probs.device) if probs.device.type != "cpu" else t
