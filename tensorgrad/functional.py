"""Non-differentiable tensor functions that return indices or samples: topk, multinomial, sort."""
from collections import namedtuple

import numpy as np

from .tensor import Tensor
from .ops.util import normalize_dim

_TopK = namedtuple("topk", ["values", "indices"])


def topk(t, k, dim=-1, largest=True, sorted=True):
    """Values and indices of the k largest (or smallest) entries along dim (no gradient)."""
    d = normalize_dim("topk", dim, t.ndim, t.shape)
    n = t.shape[d] if t.ndim else 1
    if not 0 <= k <= n:
        raise RuntimeError(f"topk: k={k} is out of range for dim {dim} of size {n} (shape {t.shape})")
    xp = t._xp
    key = -t.data if largest else t.data
    idx = xp.argsort(key, axis=d, kind="stable")
    idx = xp.take(idx, xp.arange(k), axis=d)
    vals = xp.take_along_axis(t.data, idx, axis=d)
    return _TopK(Tensor._make(vals, None), Tensor._make(idx.astype(np.int64), None))


def sort(t, dim=-1, descending=False):
    d = normalize_dim("sort", dim, t.ndim, t.shape)
    return topk(t, t.shape[d], d, largest=descending)


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
