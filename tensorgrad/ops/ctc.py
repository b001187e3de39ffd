"""Connectionist temporal classification loss (Graves et al. 2006), torch's F.ctc_loss.

The target s_1..s_S of sample b is extended with blanks to l' = (blank, s_1, blank, s_2, ..., s_S, blank), length
2S+1. In log space, with lp = log_probs[t, b] and the forward variables alpha (T, N, 2S+1):
    alpha[0, 0] = lp[0, blank], alpha[0, 1] = lp[0, l'_1]
    alpha[t, s] = lp[t, l'_s] + logsumexp(alpha[t-1, s], alpha[t-1, s-1], alpha[t-1, s-2] if l'_s != blank and
                                                                                            l'_s != l'_{s-2})
    nll[b] = -logsumexp(alpha[T_b-1, 2S_b], alpha[T_b-1, 2S_b-1])
and beta the same recursion run backwards from t = T_b-1. The gradient is torch's, which is not d nll / d lp but
    grad[t, b, c] = exp(lp[t, c]) - sum_{s: l'_s = c} exp(alpha[t, s] + beta[t, s] + nll[b] - lp[t, c])   (t < T_b)
and 0 for t >= T_b: torch's kernel assumes log_probs = log_softmax(x) and adds exp(lp), which log_softmax's backward
removes again (it subtracts softmax * sum_c grad, and the added terms sum to 1 at every t); the gradient reaching x is
the true one either way. The second term is the occupancy probability of each class (alpha + beta + nll - lp <= 0),
summed over the states of that class. An impossible alignment (nll = inf) gives NaN for t < T_b as torch's
exp(-inf + inf), or 0 under zero_infinity, which also zeroes its loss; so does a log-probability of -inf (a masked
class) as in torch.

The recursions run in the kernels ctc_loss_forward / ctc_loss_backward (backend/kernels.py): csrc/cpu/ctc.cpp on
the CPU (one sample per thread, a frame's states vectorized), the NumPy reference in backend/reference_ctc.py
otherwise; both compute in float64 whatever the input's dtype, and round the results to it.
torch has no double backward for ctc_loss (its backward is not differentiable), nor has this op.
"""
import numpy as np

from ..amp.autocast import cast_float32_all
from ..autograd.function import Function
from ..backend import kernels, xp_of
from .. import dtypes
from ..tensor import Tensor


class CTCLoss(Function):
    """Per-sample negative log likelihood (N,) of log_probs (T, N, C) given the extended labels (N, 2*Smax+1)."""

    def forward(self, log_probs, labels, input_lengths, target_lengths, zero_infinity):
        xp = xp_of(log_probs)
        dev = kernels.device_type(log_probs)
        nll, alpha = kernels.get("ctc_loss_forward", dev)(log_probs, labels, input_lengths, target_lengths)
        self.save_for_backward(log_probs, alpha, nll)
        self.problem = (labels, input_lengths, target_lengths)
        self.zero_infinity = zero_infinity
        if zero_infinity:
            nll = xp.where(xp.isposinf(nll), 0.0, nll)
        return nll.astype(log_probs.dtype)

    def backward(self, grad):
        log_probs, alpha, nll = self.saved_tensors
        labels, input_lengths, target_lengths = self.problem
        out = kernels.get("ctc_loss_backward", kernels.device_type(log_probs))(
            grad.astype(np.float64), log_probs, alpha, nll, labels, input_lengths, target_lengths, self.zero_infinity)
        return out, None, None, None, None


def _lengths(op, name, v):
    """A lengths argument as a 1-d int64 NumPy array: a Tensor of integers (0-d or 1-d) or a sequence of ints."""
    if isinstance(v, Tensor):
        if np.dtype(v.dtype).kind not in "iu":
            raise RuntimeError(f"{op}: {name} must be integral, got a tensor of dtype {v.dtype}")
        return np.asarray(v).astype(np.int64).reshape(-1)
    if isinstance(v, (list, tuple)) and all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in v):
        return np.asarray(v, dtype=np.int64).reshape(-1)
    raise TypeError(f"{op}: {name} must be a Tensor of integers or a tuple/list of ints, got {type(v).__name__}")


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean", zero_infinity=False):
    """torch.nn.functional.ctc_loss: log_probs (T, N, C) or unbatched (T, C) log-probabilities (log_softmax outputs);
    targets (N, S) padded or 1-d concatenated; input_lengths, target_lengths both Tensors or both sequences of ints.
    'mean' divides each loss by its target length (at least 1) and averages over the batch."""
    op = "ctc_loss"
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    if not isinstance(log_probs, Tensor) or not isinstance(targets, Tensor):
        raise TypeError(f"{op}: log_probs and targets must be Tensors, got {type(log_probs).__name__} and "
                        f"{type(targets).__name__}")
    if isinstance(input_lengths, Tensor) != isinstance(target_lengths, Tensor):
        raise TypeError(f"{op}: input_lengths and target_lengths must both be Tensors or both tuples of ints, got "
                        f"{type(input_lengths).__name__} and {type(target_lengths).__name__}")
    (log_probs,) = cast_float32_all(log_probs)
    if log_probs.dtype not in (dtypes.float32, dtypes.float64):
        raise NotImplementedError(f"{op}: log_probs must be float32 or float64 (as torch's CPU kernel), got "
                                  f"{log_probs.dtype}")
    if log_probs.ndim not in (2, 3):
        raise RuntimeError(f"{op}: expected log_probs of 3 dimensions (T, N, C) or 2 (T, C) unbatched, got shape "
                           f"{tuple(log_probs.shape)}")
    batched = log_probs.ndim == 3
    lp = log_probs if batched else log_probs.unsqueeze(1)
    T, N, C = lp.shape
    il, tl = _lengths(op, "input_lengths", input_lengths), _lengths(op, "target_lengths", target_lengths)
    if T * N * C == 0:
        raise RuntimeError(f"{op}: log_probs tensor must not be empty, got shape {tuple(log_probs.shape)}")
    if not 0 <= blank < C:
        raise RuntimeError(f"{op}: blank must be in label range [0, {C}), got {blank}")
    if len(il) != N:
        raise RuntimeError(f"{op}: input_lengths must be of size batch_size ({N}), got {len(il)}")
    if len(tl) != N:
        raise RuntimeError(f"{op}: target_lengths must be of size batch_size ({N}), got {len(tl)}")
    if (tl < 0).any():
        raise RuntimeError(f"{op}: expected target_lengths to have values at least 0, got {tl.tolist()}")
    if (il < 0).any() or (il > T).any():
        raise RuntimeError(f"{op}: expected input_lengths to have values in [0, {T}] (log_probs of shape "
                           f"{tuple(log_probs.shape)}), got {il.tolist()}")
    tgt = np.asarray(targets).astype(np.int64)
    smax = int(tl.max()) if N else 0
    if tgt.ndim == 1:  # concatenated
        if tgt.shape[0] != tl.sum():
            raise RuntimeError(f"{op}: 1-d targets must hold sum(target_lengths) = {int(tl.sum())} labels, got "
                               f"{tgt.shape[0]}")
        offsets = np.concatenate([[0], np.cumsum(tl)[:-1]])
    elif tgt.ndim == 2:
        if tgt.shape[0] != N or tgt.shape[1] < smax:
            raise RuntimeError(f"{op}: 2-d targets must have shape (batch_size={N}, at least max(target_lengths)="
                               f"{smax}), got {tuple(tgt.shape)}")
        offsets = np.arange(N) * tgt.shape[1]
    else:
        raise RuntimeError(f"{op}: targets must have 1 (concatenated) or 2 (padded) dimensions, got shape "
                           f"{tuple(tgt.shape)}")
    k = np.arange(smax)
    used = k[None, :] < tl[:, None]  # (N, Smax)
    picked = tgt.reshape(-1)[np.where(used, offsets[:, None] + k[None, :], 0)] if tgt.size else np.zeros(used.shape, np.int64)
    picked = np.where(used, picked, blank)
    if ((picked < 0) | (picked >= C)).any():
        raise RuntimeError(f"{op}: target labels must be in [0, {C}) (log_probs has {C} classes), got "
                           f"{sorted(set(picked[(picked < 0) | (picked >= C)].tolist()))}")
    labels = np.full((N, 2 * smax + 1), blank, dtype=np.int64)
    labels[:, 1::2] = picked
    loss = CTCLoss.apply(lp, labels, il, tl, bool(zero_infinity))
    if reduction == "mean":
        per_label = xp_of(loss.array).asarray(np.maximum(tl, 1).astype(loss.array.dtype))
        return (loss / Tensor._make(per_label, None)).mean()
    if reduction == "sum":
        return loss.sum()
    return loss if batched else loss.squeeze(0)
