"""More of nn.functional's losses: the margin losses (margin_ranking, hinge_embedding, cosine_embedding, soft_margin,
multilabel_soft_margin, multilabel_margin, multi_margin, triplet_margin, triplet_margin_with_distance) and the
Poisson / Gaussian negative log likelihoods (functional.py re-exports them).

Each is torch's formula written with differentiable ops, so the gradients are autograd's. Where torch's kernel
clamps at 0 (clamp_min, whose gradient passes at the clamp point) the same clamp is used; where its backward tests
z > 0 strictly (multi_margin, multilabel_margin) a `where` on z > 0 gives the same 0 at the kink."""
import math

import numpy as np

from ..backend.capture import capturing_on
from ..ops.elementwise import where, clamp, minimum
from ..ops.reduce import vector_norm
from ..ops.util import is_float
from ..tensor import Tensor


def _mode(op, size_average, reduce, reduction):
    """The legacy size_average / reduce flags mapped to a reduction as torch does (both default to True)."""
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "mean" if size_average and reduce else "sum" if reduce else "none"
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{op}: {reduction!r} is not a valid value for reduction ('mean', 'sum' or 'none')")
    return reduction


def _reduce(x, reduction):
    return x if reduction == "none" else x.sum() if reduction == "sum" else x.mean()


def _tensors(op, **ts):
    for name, t in ts.items():
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: {name} must be a Tensor, got {type(t).__name__}")


def _float(op, name, x):
    if not is_float(x.dtype):
        raise TypeError(f"{op}: {name} must be a floating point tensor, got {x.dtype} (shape {tuple(x.shape)})")


def _broadcast(op, *ts, into=None):
    """The broadcast shape of ts; with ``into``, the shape must be that one's (torch writes into a tensor of it)."""
    try:
        shape = tuple(np.broadcast_shapes(*(tuple(t.shape) for t in ts)))
    except ValueError:
        shapes = " and ".join(str(tuple(t.shape)) for t in ts)
        raise RuntimeError(f"{op}: tensors of shapes {shapes} cannot be broadcast together") from None
    if into is not None and shape != tuple(into.shape):
        raise RuntimeError(f"{op}: output with shape {tuple(into.shape)} doesn't match the broadcast shape {shape}")
    return shape


def _host(t):
    a = t.array
    return a.get() if hasattr(a, "get") else np.asarray(a)


def _logsigmoid(x):
    """log(sigmoid(x)) = min(x, 0) - log1p(e^-|x|), the min and |x| taking the x >= 0 side at 0."""
    nonneg = x >= 0
    return where(nonneg, 0.0, x) - (-where(nonneg, x, -x)).exp().log1p()


# ------------------------------------------------------------------------------------------ margin losses
def margin_ranking_loss(input1, input2, target, margin=0, size_average=None, reduce=None, reduction="mean"):
    """max(0, -target (input1 - input2) + margin)."""
    op = "margin_ranking_loss"
    reduction = _mode(op, size_average, reduce, reduction)
    _tensors(op, input1=input1, input2=input2, target=target)
    if not input1.ndim == input2.ndim == target.ndim:
        raise RuntimeError(f"{op}: all input tensors should have the same dimension but got sizes: input1: "
                           f"{tuple(input1.shape)}, input2: {tuple(input2.shape)}, target: {tuple(target.shape)}")
    _broadcast(op, input1, input2, target)
    return _reduce(clamp(-target * (input1 - input2) + margin, min=0), reduction)


def hinge_embedding_loss(input, target, margin=1.0, size_average=None, reduce=None, reduction="mean"):
    """x where target == 1, max(0, margin - x) where target == -1 (both terms for any other target value)."""
    op = "hinge_embedding_loss"
    reduction = _mode(op, size_average, reduce, reduction)
    _tensors(op, input=input, target=target)
    _broadcast(op, input, target)
    loss = where(target != 1, clamp(margin - input, min=0), 0.0) + where(target != -1, input, 0.0)
    return _reduce(loss, reduction)


def soft_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """log(1 + e^(-target x))."""
    op = "soft_margin_loss"
    reduction = _mode(op, size_average, reduce, reduction)
    _tensors(op, input=input, target=target)
    _broadcast(op, input, target, into=input)
    return _reduce((-input * target).exp().log1p(), reduction)


def cosine_embedding_loss(input1, input2, target, margin=0, size_average=None, reduce=None, reduction="mean"):
    """1 - cos(x1, x2) where target == 1, max(0, cos(x1, x2) - margin) where target == -1 (0 for other targets);
    cos = x1.x2 / sqrt((|x1|^2 + 1e-12)(|x2|^2 + 1e-12)) over the last dim."""
    op = "cosine_embedding_loss"
    reduction = _mode(op, size_average, reduce, reduction)
    _tensors(op, input1=input1, input2=input2, target=target)
    if target.ndim not in (0, 1):
        raise RuntimeError(f"{op}: 0D or 1D target tensor expected, multi-target not supported (target of shape "
                           f"{tuple(target.shape)})")
    want = target.ndim + 1
    if input1.ndim != want or input2.ndim != want:
        raise RuntimeError(f"{op}: {target.ndim}D target tensor expects {want}D input tensors, but found inputs "
                           f"with sizes {tuple(input1.shape)} and {tuple(input2.shape)}")
    d = target.ndim
    eps = 1e-12
    prod = (input1 * input2).sum(d)
    mag = (((input1 * input1).sum(d) + eps) * ((input2 * input2).sum(d) + eps)).sqrt()
    cos = prod / mag
    _broadcast(op, cos, target)
    loss = where(target == 1, 1 - cos, 0.0) + where(target == -1, clamp(cos - margin, min=0), 0.0)
    return _reduce(loss, reduction)


def multilabel_soft_margin_loss(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """-(t log sigmoid(x) + (1 - t) log sigmoid(-x)) (times weight), averaged over the last (class) dim."""
    op = "multilabel_soft_margin_loss"
    reduction = _mode(op, size_average, reduce, reduction)
    _tensors(op, input=input, target=target)
    loss = -(target * _logsigmoid(input) + (1 - target) * _logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    c = input.shape[-1] if input.ndim else 1
    return _reduce(loss.sum(input.ndim - 1 if input.ndim else None) / c, reduction)


def _class_rows(op, input, target):
    """input (N, C) or (C,) as (N, C) rows, a 0-d batch dim allowed; returns (x, C, unbatched)."""
    if input.ndim not in (1, 2) or (input.ndim == 2 and input.shape[1] == 0) or (input.ndim == 1 and
                                                                               input.shape[0] == 0):
        raise RuntimeError(f"{op}: expected a non-empty vector or matrix with optional 0-dim batch size, but got "
                           f"input of shape {tuple(input.shape)}")
    _float(op, "input", input)
    if not np.issubdtype(target.dtype, np.integer):
        raise RuntimeError(f"{op}: target must be an integer tensor of class indices, got {target.dtype}")
    return (input.unsqueeze(0) if input.ndim == 1 else input), input.shape[-1], input.ndim == 1


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, size_average=None, reduce=None,
                      reduction="mean"):
    """sum over i != y of max(0, margin - x[y] + x[i])^p (times weight[y]), divided by C; y = target."""
    op = "multi_margin_loss"
    reduction = _mode(op, size_average, reduce, reduction)
    if p not in (1, 2):
        raise ValueError(f"{op}: only p == 1 and p == 2 supported, got p={p}")
    _tensors(op, input=input, target=target)
    if weight is not None and weight.ndim != 1:
        raise ValueError(f"{op}: weight must be one-dimensional, got shape {tuple(weight.shape)}")
    x, c, unbatched = _class_rows(op, input, target)
    n = x.shape[0]
    if (unbatched and target.numel() != 1) or (not unbatched and tuple(target.shape) != (n,)):
        raise RuntimeError(f"{op}: target tensor should be 1-D with size equal to the number of input samples (batch "
                           f"size). Expected target size ({n},), but got {tuple(target.shape)}. Input has shape "
                           f"{tuple(input.shape)}.")
    if weight is not None and weight.numel() != c:
        raise RuntimeError(f"{op}: inconsistent weight size, expected {c} but got {tuple(weight.shape)}")
    t = target.reshape(n, 1)
    if t.numel() and not capturing_on(t.array) and ((_host(t) < 0).any() or (_host(t) >= c).any()):
        raise RuntimeError(f"{op}: target out of range: values must be in [0, {c - 1}], got "
                           f"{_host(t).ravel().tolist()}")
    t = t.to(np.int64)
    z = margin - x.gather(1, t) + x
    h = where(z > 0, z, 0.0)
    if p == 2:
        h = h * h
    other = Tensor._make(x._xp.arange(c)[None, :] != t.array, None)
    h = where(other, h, 0.0)
    if weight is not None:
        h = h * weight[t.reshape(-1)].unsqueeze(1)
    loss = h.sum(1) / c
    return _reduce(loss.reshape(()) if unbatched else loss, reduction)


def multilabel_margin_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """sum over the target classes j (target's entries up to the first -1) and the other classes i of
    max(0, 1 - (x[j] - x[i])), divided by C."""
    op = "multilabel_margin_loss"
    reduction = _mode(op, size_average, reduce, reduction)
    _tensors(op, input=input, target=target)
    x, c, unbatched = _class_rows(op, input, target)
    if tuple(target.shape) != tuple(input.shape):
        raise RuntimeError(f"{op}: inconsistent target size: {tuple(target.shape)} for input of size: "
                           f"{tuple(input.shape)}")
    n = x.shape[0]
    t = _host(target).reshape(n, c).astype(np.int64)
    if ((t < -1) | (t >= c)).any():
        raise RuntimeError(f"{op}: target values must be in [-1, {c - 1}] (-1 ends a sample's targets), got "
                           f"{t.ravel().tolist()} (input of shape {tuple(input.shape)})")
    # the targets of each row run up to its first -1: as (n, c) slots with a mask of the live ones
    live = np.cumprod(t != -1, axis=1).astype(bool)
    slots = np.where(live, t, 0)
    is_target = np.zeros((n, c), dtype=bool)
    rows = np.repeat(np.arange(n), c)[live.ravel()]
    is_target[rows, slots[live]] = True
    xp = x._xp
    xj = x.gather(1, Tensor._make(xp.asarray(slots), None))                       # (n, c): x at each target slot
    z = 1 - xj.unsqueeze(2) + x.unsqueeze(1)                                       # (n, slot, i)
    mask = Tensor._make(xp.asarray(live[:, :, None] & ~is_target[:, None, :]), None)
    h = where(mask & (z > 0), z, 0.0)
    loss = h.sum((1, 2)) / c
    if unbatched:
        loss = loss.reshape(())
    if reduction == "mean" and n == 0:  # torch's mean of no samples is 0 here
        return loss.sum()
    return _reduce(loss, reduction)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False, size_average=None,
                        reduce=None, reduction="mean"):
    """max(0, margin + d(a, p) - d(a, n)) with d the pairwise p-distance ||x - y + eps||_p over the last dim; with
    swap, d(a, n) is min(d(a, n), d(p, n))."""
    op = "triplet_margin_loss"
    reduction = _mode(op, size_average, reduce, reduction)
    if margin <= 0:
        raise ValueError(f"{op}: margin must be greater than 0, got {margin}")

    def dist(x, y):
        return vector_norm(x - y + eps, p, -1, _op=op)
    return _triplet(op, anchor, positive, negative, dist, margin, swap, reduction)


def _triplet(op, anchor, positive, negative, dist, margin, swap, reduction):
    _tensors(op, anchor=anchor, positive=positive, negative=negative)
    if not anchor.ndim == positive.ndim == negative.ndim:
        raise RuntimeError(f"{op}: the anchor, positive, and negative tensors are expected to have the same number "
                           f"of dimensions, but got: anchor {anchor.ndim}D, positive {positive.ndim}D, and negative "
                           f"{negative.ndim}D inputs")
    d_pos, d_neg = dist(anchor, positive), dist(anchor, negative)
    if swap:
        d_neg = minimum(d_neg, dist(positive, negative))
    return _reduce(clamp(margin + d_pos - d_neg, min=0), reduction)


def _pairwise_distance(x1, x2, p=2.0, eps=1e-6):
    return vector_norm(x1 - x2 + eps, p, -1, _op="pairwise_distance")


def triplet_margin_with_distance_loss(anchor, positive, negative, *, distance_function=None, margin=1.0, swap=False,
                                      reduction="mean"):
    """triplet_margin_loss with any distance_function(x, y) (default: the pairwise 2-distance)."""
    op = "triplet_margin_with_distance_loss"
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{op}: {reduction!r} is not a valid value for reduction")
    if margin <= 0:
        raise ValueError(f"{op}: margin must be greater than 0, got {margin}")
    dist = _pairwise_distance if distance_function is None else distance_function
    return _triplet(op, anchor, positive, negative, dist, margin, swap, reduction)


# ------------------------------------------------------------------------------------ likelihood losses
def poisson_nll_loss(input, target, log_input=True, full=False, size_average=None, eps=1e-8, reduce=None,
                     reduction="mean"):
    """e^x - t x (log_input) or x - t log(x + eps); full adds Stirling's t log t - t + log(2 pi t) / 2 where t > 1."""
    op = "poisson_nll_loss"
    reduction = _mode(op, size_average, reduce, reduction)
    _tensors(op, input=input, target=target)
    _broadcast(op, input, target)
    loss = input.exp() - target * input if log_input else input - target * (input + eps).log()
    if full:
        big = target > 1
        ts = where(big, target, 2.0)  # (a value with a finite log where the term is dropped: no NaN gradient)
        stirling = ts * ts.log() - ts + 0.5 * (2 * math.pi * ts).log()
        loss = loss + where(big, stirling, 0.0)
    return _reduce(loss, reduction)


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    """(log max(var, eps) + (input - target)^2 / max(var, eps)) / 2 (+ log(2 pi) / 2 with full). var has the input's
    shape, or one dim fewer (then it is unsqueezed at the end), or the input's rank with one dim of size 1, or is a
    number. The clamp at eps is outside autograd, as torch's: var's gradient is that of the unclamped formula at the
    clamped value."""
    op = "gaussian_nll_loss"
    _tensors(op, input=input, target=target)
    if isinstance(var, (int, float)) and not isinstance(var, bool):
        if var < 0:
            raise ValueError(f"{op}: var has negative entry/entries ({var})")
        var = Tensor._make(input._xp.full(tuple(input.shape), var, dtype=input.dtype), None)
    else:
        _tensors(op, var=var)
        if var.numel() and not capturing_on(var.array) and bool((_host(var) < 0).any()):
            raise ValueError(f"{op}: var has negative entry/entries (var of shape {tuple(var.shape)})")
    if tuple(var.shape) != tuple(input.shape):
        if tuple(input.shape[:-1]) == tuple(var.shape):
            var = var.unsqueeze(-1)
        elif not (input.ndim == var.ndim and sum(v for i, v in zip(input.shape, var.shape) if i != v) == 1):
            raise ValueError(f"{op}: var is of incorrect size: {tuple(var.shape)} for the input of shape "
                             f"{tuple(input.shape)} (the input's shape, one dim fewer, or one dim of size 1)")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{op}: {reduction!r} is not valid")
    v = var.detach()
    var = where(v < eps, (var - v) + eps, var)
    loss = 0.5 * (var.log() + (input - target) ** 2 / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


__all__ = ["margin_ranking_loss", "hinge_embedding_loss", "soft_margin_loss", "cosine_embedding_loss",
           "multilabel_soft_margin_loss", "multi_margin_loss", "multilabel_margin_loss", "triplet_margin_loss",
           "triplet_margin_with_distance_loss", "poisson_nll_loss", "gaussian_nll_loss"]
