"""More of nn.functional: softmin, the shrink / threshold activations, rrelu, alpha dropouts, channel_shuffle,
gumbel_softmax, the in-place variants (relu_, elu_, ...), bilinear and embedding_bag (functional.py re-exports them).

Every function is a composite of differentiable ops, so its gradient (and double backward) is autograd through the
formula. The functions with a trailing underscore modify their input as torch's do (ops/methods.py's in-place
machinery: a leaf that requires grad is refused); the `inplace=True` flags behave as F.relu's (ops/util.write_back).
Random draws (rrelu's slopes, the dropout masks, the Gumbel noise) come from tensorgrad's default generator."""
import math
import warnings

import numpy as np

from ..autograd.grad_mode import no_grad
from ..ops.elementwise import relu as _relu, where
from ..ops.methods import _apply_inplace
from ..ops.nn import softmax, embedding
from ..ops.indexing import index_add
from ..ops.shrink import hardshrink, softshrink, tanhshrink, threshold as _threshold
from ..ops.util import is_float, normalize_dim, write_back
from ..random import default_generator
from ..tensor import Tensor


def _need_tensor(op, x, name="input"):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor, got {type(x).__name__}")


def _need_float(op, x):
    _need_tensor(op, x)
    if not is_float(x.dtype):
        raise TypeError(f"{op}: expected a floating point tensor, got {x.dtype} (shape {tuple(x.shape)})")


# -------------------------------------------------------------------------------------------- activations
def _implicit_dim(op, ndim):
    warnings.warn(f"Implicit dimension choice for {op} has been deprecated. Change the call to include dim=X as an "
                  "argument.", stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    """softmax(-input) along dim."""
    _need_tensor("softmin", input)
    if dim is None:
        dim = _implicit_dim("softmin", input.ndim)
    return softmax(-input, dim, dtype=dtype)


def threshold(input, threshold, value, inplace=False):
    return write_back("threshold", input, _threshold(input, threshold, value), inplace)


def threshold_(input, threshold, value):
    return _apply_inplace(input, lambda s: _threshold(s, threshold, value), "threshold_")


def _check_bounds(lower, upper):
    if lower > upper:
        raise RuntimeError(f"rrelu: lower bound should be less than or equal to the upper bound, got lower={lower} "
                           f"> upper={upper}")


def _rrelu(input, lower, upper, training):
    _need_float("rrelu", input)
    _check_bounds(lower, upper)
    if not training:  # leaky_relu with the mean slope (x == 0 on the sloped side: torch's gradient there)
        return where(input > 0, input, input * ((lower + upper) / 2))
    # one slope per element, U(lower, upper), used where x <= 0 (torch's rrelu_with_noise takes x == 0 there too)
    u = default_generator.random(tuple(input.shape), input.dtype, input.device)
    slope = Tensor._make((lower + (upper - lower) * u).astype(input.dtype, copy=False), None)
    return where(input <= 0, input * slope, input)


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False):
    """leaky_relu with a random negative slope U(lower, upper) per element in training, (lower + upper) / 2 in eval."""
    return write_back("rrelu", input, _rrelu(input, lower, upper, training), inplace)


def rrelu_(input, lower=1.0 / 8, upper=1.0 / 3, training=False):
    return _apply_inplace(input, lambda s: _rrelu(s, lower, upper, training), "rrelu_")


def relu_(input):
    return _apply_inplace(input, _relu, "relu_")


def _inplace_variant(fn):
    """fn_(input, *args): fn's result written into input (functional.py makes elu_, celu_, selu_, leaky_relu_ and
    hardtanh_ of its activations with this, as they live there)."""
    name = fn.__name__ + "_"

    def inplace(input, *args, **kwargs):
        _need_tensor(name, input)
        return _apply_inplace(input, lambda s: fn(s, *args, **kwargs), name)
    inplace.__name__ = inplace.__qualname__ = name
    inplace.__doc__ = f"In-place version of {fn.__name__}: input holds the result, which is returned."
    return inplace


# ------------------------------------------------------------------------------------------ alpha dropout
_SELU_NEG = 1.7580993408473766  # SELU's scale * alpha: the value a large negative input saturates to (negated)


def _alpha_dropout(op, input, p, training, feature):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: dropout probability has to be between 0 and 1, but got {p}")
    _need_tensor(op, input)
    if feature and input.ndim < 2:
        raise RuntimeError(f"{op}: feature dropout requires at least 2 dimensions in the input, got shape "
                           f"{tuple(input.shape)}")
    if not training or p == 0.0 or input.numel() == 0:
        return input
    if p == 1.0:
        return input * 0.0
    # dropped units are set to SELU's saturation value -alpha', then a * x + b keeps mean 0 and variance 1
    shape = tuple(input.shape[:2]) + (1,) * (input.ndim - 2) if feature else tuple(input.shape)
    keep = (default_generator.random(shape, device=input.device) < 1.0 - p).astype(input.dtype)
    a = 1.0 / math.sqrt((_SELU_NEG ** 2 * p + 1) * (1 - p))
    b = (keep - 1) * (_SELU_NEG * a) + _SELU_NEG * a * p
    return input * Tensor._make((keep * a).astype(input.dtype), None) + Tensor._make(b.astype(input.dtype), None)


def alpha_dropout(input, p=0.5, training=False, inplace=False):
    return write_back("alpha_dropout", input, _alpha_dropout("alpha_dropout", input, p, training, False), inplace)


def feature_alpha_dropout(input, p=0.5, training=False, inplace=False):
    out = _alpha_dropout("feature_alpha_dropout", input, p, training, True)
    return write_back("feature_alpha_dropout", input, out, inplace)


# ------------------------------------------------------------------------------------------------ shuffles
def channel_shuffle(input, groups):
    """(N, C, *) -> channels regrouped: (N, g, C / g, *) transposed to (N, C / g, g, *), flattened back."""
    _need_tensor("channel_shuffle", input)
    if input.ndim <= 2:
        raise RuntimeError(f"channel_shuffle: expects input with > 2 dims, but got input with shape "
                           f"{tuple(input.shape)}")
    if groups <= 0:
        raise RuntimeError(f"channel_shuffle: number of groups to divide channels in must be positive, got {groups}")
    n, c = input.shape[:2]
    if c % groups:
        raise RuntimeError(f"channel_shuffle: number of channels must be divisible by groups, got {c} channels "
                           f"and {groups} groups (input shape {tuple(input.shape)})")
    rest = tuple(input.shape[2:])
    return input.reshape((n, groups, c // groups) + rest).transpose(1, 2).reshape(tuple(input.shape))


# ---------------------------------------------------------------------------------------------- gumbel
def _gumbel_softmax_with(logits, gumbels, tau, hard, dim):
    """gumbel_softmax for given Gumbel(0, 1) noise (the tests pass torch's and tensorgrad's the same noise)."""
    y_soft = softmax((logits + gumbels) / tau, dim)
    if not hard:
        return y_soft
    d = normalize_dim("gumbel_softmax", dim, y_soft.ndim, y_soft.shape)
    index = y_soft.detach().argmax(d, keepdim=True) if y_soft.ndim else None
    xp = y_soft._xp
    if index is None:
        y_hard = Tensor._make(xp.ones((), dtype=y_soft.dtype), None)
    else:
        y_hard = Tensor._make(xp.zeros(y_soft.shape, dtype=y_soft.dtype), None).scatter(d, index, 1.0)
    # straight through: the one-hot forward, the soft sample's gradient
    return y_hard - y_soft.detach() + y_soft


def gumbel_softmax(logits, tau=1, hard=False, eps=1e-10, dim=-1):
    """softmax((logits + g) / tau) with g ~ Gumbel(0, 1) from the default generator; hard=True returns the one-hot
    argmax in the forward pass with the soft sample's gradient (straight-through)."""
    _need_float("gumbel_softmax", logits)
    if eps != 1e-10:
        warnings.warn("gumbel_softmax: `eps` parameter is deprecated and has no effect.", stacklevel=2)
    u = default_generator.random(tuple(logits.shape), logits.dtype, logits.device)
    xp = logits._xp
    with np.errstate(divide="ignore"):
        e = -xp.log1p(-u)  # Exponential(1); u == 0 would give e == 0 and an infinite g
    e = xp.maximum(e, np.finfo(e.dtype).tiny)
    g = Tensor._make((-xp.log(e)).astype(logits.dtype, copy=False), None)
    return _gumbel_softmax_with(logits, g, tau, hard, dim)


# ------------------------------------------------------------------------------------------------ layers
def bilinear(input1, input2, weight, bias=None):
    """y[..., o] = sum_ij x1[..., i] W[o, i, j] x2[..., j] + b[o]: one matmul with W laid out (i, o * j), then a
    product with x2 summed over j."""
    for name, t in (("input1", input1), ("input2", input2), ("weight", weight)):
        _need_tensor("bilinear", t, name)
    if input1.ndim != input2.ndim:
        raise RuntimeError(f"bilinear(): input dimensions do not match: got {input1.ndim} and {input2.ndim} "
                           f"(shapes {tuple(input1.shape)} and {tuple(input2.shape)})")
    for i in range(input1.ndim - 1):
        if input1.shape[i] != input2.shape[i]:
            raise RuntimeError(f"bilinear(): input batch dimensions do not match at dim {i}: got "
                               f"{input1.shape[i]} and {input2.shape[i]}")
    if weight.ndim != 3:
        raise RuntimeError(f"bilinear(): weight must be 3-D (out, in1, in2), got shape {tuple(weight.shape)}")
    o, i1, i2 = weight.shape
    if input1.ndim == 0 or input1.shape[-1] != i1:
        raise RuntimeError(f"bilinear(): input1 size does not match weight size: got {tuple(input1.shape)[-1:]} "
                           f"but expected {i1} (weight {tuple(weight.shape)})")
    if input2.shape[-1] != i2:
        raise RuntimeError(f"bilinear(): input2 size does not match weight size: got {input2.shape[-1]} but "
                           f"expected {i2} (weight {tuple(weight.shape)})")
    if bias is not None and tuple(bias.shape) != (o,):
        raise RuntimeError(f"bilinear(): bias size does not match weight size: got {tuple(bias.shape)} but "
                           f"expected ({o},)")
    batch = tuple(input1.shape[:-1])
    x1, x2 = input1.reshape(-1, i1), input2.reshape(-1, 1, i2)
    a = (x1 @ weight.permute(1, 0, 2).reshape(i1, o * i2)).reshape(-1, o, i2)
    y = (a * x2).sum(-1)
    if bias is not None:
        y = y + bias
    return y.reshape(batch + (o,))


def _renorm_rows(weight, idx, max_norm, norm_type):
    """torch's embedding_renorm_: the rows idx refers to with a norm above max_norm are scaled to max_norm, in
    place and outside autograd."""
    xp = weight._xp
    rows = xp.unique(idx)
    if not rows.size:
        return
    w = weight.array[rows]
    norms = xp.linalg.norm(w, ord=norm_type, axis=1, keepdims=True) if norm_type != 0 else \
        (w != 0).sum(1, keepdims=True).astype(w.dtype)
    scale = xp.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0).astype(w.dtype)
    with no_grad():
        weight[Tensor._make(rows, None)] = Tensor._make(w * scale, None)


def _host(a):
    return a.get() if hasattr(a, "get") else np.asarray(a)


def _bags(op, offsets, include_last_offset, m):
    """The bag of each of the m indices (or -1 past the last bag) and the number of bags, checking offsets."""
    if not np.issubdtype(offsets.dtype, np.integer):
        raise RuntimeError(f"{op}: offsets must be an integer tensor (int64 or int32), got {offsets.dtype}")
    off = _host(offsets.array).astype(np.int64)
    nb = off.shape[0] - 1 if include_last_offset else off.shape[0]
    if off.size:
        if off[0] != 0:
            raise RuntimeError(f"{op}: offsets[0] has to be 0, i.e., the first sequence in the mini-batch has to "
                               f"start from position 0. However, got {off[0]}")
        if off[-1] > m:
            raise RuntimeError(f"{op}: offsets[-1] can not be greater than input's length {m} but got offsets[-1] "
                               f"of {off[-1]}")
        if (np.diff(off) < 0).any():
            raise RuntimeError(f"{op}: offsets must be non-decreasing, got {off.tolist()}")
    bag = np.searchsorted(off[:max(nb, 0)], np.arange(m), side="right") - 1
    if include_last_offset and off.size:
        bag[np.arange(m) >= off[-1]] = -1
    return bag, max(nb, 0)


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2, scale_grad_by_freq=False, mode="mean",
                  sparse=False, per_sample_weights=None, include_last_offset=False, padding_idx=None):
    """The sum, mean or max of each bag of embedding rows: input 1-D with offsets (bag b is input[offsets[b]:
    offsets[b + 1]]) or 2-D (each row a bag). Rows at padding_idx are left out of the bags (and of the mean's count);
    an empty bag gives zeros. The rows are an embedding lookup (its backward scatters into weight), the bags an
    index_add; max takes each column's first maximal row per bag, and that row alone gets its gradient."""
    op = "embedding_bag"
    for name, t in (("input", input), ("weight", weight)):
        _need_tensor(op, t, name)
    if weight.dtype == np.int64 and is_float(input.dtype):
        warnings.warn("Argument order of nn.functional.embedding_bag was changed. Usage `embedding_bag(weight, "
                      "input, ...)` is deprecated, and should now be `embedding_bag(input, weight, ...)`.",
                      stacklevel=2)
        weight, input = input, weight
    if per_sample_weights is not None and tuple(input.shape) != tuple(per_sample_weights.shape):
        raise ValueError(f"{op}: If per_sample_weights ({tuple(per_sample_weights.shape)}) is not None, then it must "
                         f"have the same shape as the input ({tuple(input.shape)})")
    if weight.ndim != 2:
        raise ValueError(f"{op}: weight has to be a 2D Tensor, but got Tensor of dimension {weight.ndim}")
    if input.ndim == 2:
        if offsets is not None:
            raise ValueError(f"{op}: if input is 2D, then offsets has to be None, as input is treated is a "
                             f"mini-batch of fixed length sequences. However, found offsets of type {type(offsets)}")
        offsets = Tensor._make(input._xp.arange(0, input.numel(), max(input.shape[1], 1), dtype=np.int64)
                               [:input.shape[0]], None)
        include_last_offset = False
        input = input.reshape(-1)
        if per_sample_weights is not None:
            per_sample_weights = per_sample_weights.reshape(-1)
    elif input.ndim == 1:
        if offsets is None:
            raise ValueError(f"{op}: offsets has to be a 1D Tensor but got None")
        _need_tensor(op, offsets, "offsets")
        if offsets.ndim != 1:
            raise ValueError(f"{op}: offsets has to be a 1D Tensor, got shape {tuple(offsets.shape)}")
    else:
        raise ValueError(f"{op}: input has to be 1D or 2D Tensor, but got Tensor of dimension {input.ndim}")
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"{op}: mode has to be one of sum, mean or max, got {mode!r}")
    if mode == "max" and scale_grad_by_freq:
        raise ValueError(f"{op}: max mode does not support scaling the gradient by the frequency")
    if sparse:
        raise NotImplementedError(f"{op}: sparse=True (a sparse weight gradient) is not supported; tensorgrad's "
                                  "gradients are dense")
    if not np.issubdtype(input.dtype, np.integer):
        raise RuntimeError(f"{op}: expected tensor for argument 'indices' to have one of the following scalar types: "
                           f"Long, Int; but got {input.dtype} instead")
    n, dim = weight.shape
    if padding_idx is not None:
        if not -n <= padding_idx < n:
            raise RuntimeError(f"{op}: padding_idx must be within the number of embeddings, {-n} through {n - 1}, "
                               f"but got {padding_idx}")
        padding_idx = int(padding_idx) % n
    # the bags are bookkept on the host (small int arrays); the rows and sums stay on the weight's device
    xp = weight._xp
    idx = _host(input.array).astype(np.int64, copy=False)
    m = idx.shape[0]
    bad = np.flatnonzero((idx < 0) | (idx >= n))
    if bad.size:
        raise RuntimeError(f"{op}: index {bad[0]} of input takes value {int(idx[bad[0]])} which is not in the valid "
                           f"range [0, {n}) (weight of shape {tuple(weight.shape)})")
    if max_norm is not None:
        _renorm_rows(weight, xp.asarray(idx), max_norm, norm_type)
    if per_sample_weights is not None and mode != "sum":
        raise NotImplementedError(f"{op}: per_sample_weights was not None. per_sample_weights is only supported for "
                                  f"mode='sum' (got mode='{mode}')")
    bag, nb = _bags(op, offsets, include_last_offset, m)
    keep = bag >= 0
    if padding_idx is not None:
        keep &= idx != padding_idx
    pos = np.flatnonzero(keep)
    bag_k, sel_h = bag[pos], idx[pos]
    sel = Tensor._make(xp.asarray(sel_h), None)
    zeros = Tensor._make(xp.zeros((nb, dim), dtype=weight.dtype), None)
    if mode == "max":
        return _bag_max(weight, sel_h, bag_k, nb, zeros)
    rows = embedding(sel, weight)
    if scale_grad_by_freq and pos.size:
        # the forward value unchanged (rows - rows.detach() is exactly 0), the weight's gradient divided by each
        # index's count in the batch (as F.embedding's)
        _, inv, cnt = np.unique(sel_h, return_inverse=True, return_counts=True)
        freq = Tensor._make(xp.asarray((1.0 / cnt[inv]).astype(weight.dtype))[:, None], None)
        rows = rows.detach() + (rows - rows.detach()) * freq
    if per_sample_weights is not None:
        rows = rows * per_sample_weights.reshape(-1)[Tensor._make(xp.asarray(pos), None)].unsqueeze(1)
    out = index_add(zeros, 0, Tensor._make(xp.asarray(bag_k), None), rows)
    if mode == "mean":
        count = np.maximum(np.bincount(bag_k, minlength=nb), 1).astype(weight.dtype)
        out = out / Tensor._make(xp.asarray(count)[:, None], None)
    return out


def _bag_max(weight, sel, bag, nb, zeros):
    """Each (bag, column)'s maximum, as weight[row, column] of its first maximal row (torch's max_indices); found on
    the host."""
    xp = weight._xp
    dim = weight.shape[1]
    m = sel.shape[0]
    vals = _host(weight.array[xp.asarray(sel)])  # (m, dim)
    best = np.full((nb, dim), -np.inf, dtype=vals.dtype)
    np.maximum.at(best, bag, vals)
    first = np.full((nb, dim), m, dtype=np.int64)
    np.minimum.at(first, bag, np.where(vals == best[bag], np.arange(m)[:, None], m))
    empty = first >= m  # an empty bag (or NaN rows only): zeros
    rows = np.where(empty, 0, sel[np.minimum(first, max(m - 1, 0))] if m else 0).astype(np.int64)
    cols = np.broadcast_to(np.arange(dim), (nb, dim))
    picked = weight[Tensor._make(xp.asarray(rows), None), Tensor._make(xp.asarray(cols), None)]
    return where(Tensor._make(xp.asarray(empty), None), zeros, picked)


__all__ = ["softmin", "hardshrink", "softshrink", "tanhshrink", "threshold", "threshold_", "rrelu", "rrelu_",
           "relu_", "alpha_dropout", "feature_alpha_dropout",
           "channel_shuffle", "gumbel_softmax", "bilinear", "embedding_bag"]
