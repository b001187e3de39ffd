"""Reference CTC kernels (re-exported by reference.py): the contract of csrc/cpu/ctc.cpp, and the path for CuPy
arrays and for TENSORGRAD_KERNELS=reference. tensorgrad/ops/ctc.py states the math.

The recursion runs over the whole batch at once, one NumPy step per frame, on the host in float64 whatever the
input's dtype (CuPy inputs are copied over; the outputs go back to the input's array module). States past 2S_b of a
shorter target never reach the ones read (the recursion only moves up in s), so padding l' with blanks needs no mask
in alpha; beta starts at -inf there.
"""
import numpy as np

from . import xp_of

_NEG_INF = -np.inf


def _host(a):
    return a if isinstance(a, np.ndarray) else a.get()


def _lse3(a, b, c):
    return np.logaddexp(np.logaddexp(a, b), c)


def _skip(labels):
    """(N, L) bool: the s-2 -> s transition is allowed (a label differing from the blank l'_0 and from l'_{s-2})."""
    skip = np.zeros(labels.shape, dtype=bool)
    skip[:, 2:] = (labels[:, 2:] != labels[:, :1]) & (labels[:, 2:] != labels[:, :-2])
    return skip


def ctc_loss_forward(log_probs, labels, input_lengths, target_lengths):
    """log_probs (T, N, C) float32/float64; labels (N, L = 2 Smax + 1) int64, the extended labels (blank, s_1, blank,
    ..., blank) padded with blanks; input_lengths, target_lengths (N,) int64. Returns (nll (N,), alpha (T, N, L)),
    float64: the per-sample negative log likelihood (+inf for an impossible alignment, -0.0 for no frames and an
    empty target) and the forward variables the backward reads (those at t >= input_lengths[b] or s > 2 S_b are
    not read, and the kernels need not agree on them)."""
    xp = xp_of(log_probs)
    lp = np.asarray(_host(log_probs), dtype=np.float64)
    labels, input_lengths, target_lengths = _host(labels), _host(input_lengths), _host(target_lengths)
    T, N, _ = lp.shape
    L = labels.shape[1]
    lpl = np.take_along_axis(lp, labels[None], axis=2)  # (T, N, L): lp of each extended state's label
    # two -inf columns in front, so the s-1 and s-2 neighbours are views; the skip mask as an additive 0 / -inf
    pad = np.full((T, N, L + 2), _NEG_INF)
    skip_add = np.where(_skip(labels), 0.0, _NEG_INF)
    if T:
        pad[0, :, 2:4] = lpl[0, :, :2]
    for t in range(1, T):
        prev = pad[t - 1]
        pad[t, :, 2:] = lpl[t] + _lse3(prev[:, 2:], prev[:, 1:-1], prev[:, :-2] + skip_add)
    alpha = pad[:, :, 2:]
    b = np.arange(N)
    last = np.maximum(input_lengths - 1, 0)
    if T:
        end = alpha[last, b, 2 * target_lengths]
        end_1 = np.where(target_lengths > 0, alpha[last, b, np.maximum(2 * target_lengths - 1, 0)], _NEG_INF)
        nll = -np.logaddexp(end, end_1)
    else:
        nll = np.zeros(N)
    # no input frames: the empty path explains only an empty target (torch's -0.0 for it)
    nll = np.where(input_lengths == 0, np.where(target_lengths == 0, -0.0, np.inf), nll)
    return xp.asarray(nll), xp.asarray(np.ascontiguousarray(alpha))


def ctc_loss_backward(grad, log_probs, alpha, nll, labels, input_lengths, target_lengths, zero_infinity):
    """torch's gradient for log_probs (T, N, C), in its dtype, for the loss cotangent grad (N,) float64, from the
    forward's alpha and nll: g (exp(lp) - class occupancies) for t < input_lengths, 0 after; NaN where lp = -inf and
    for every live frame of a sample with nll = +inf, unless zero_infinity zeroes that sample."""
    xp = xp_of(log_probs)
    g = np.asarray(_host(grad), dtype=np.float64)
    lp = np.asarray(_host(log_probs), dtype=np.float64)
    alpha, nll = _host(alpha), _host(nll)
    labels, input_lengths, target_lengths = _host(labels), _host(input_lengths), _host(target_lengths)
    T, N, C = lp.shape
    L = labels.shape[1]
    lpl = np.take_along_axis(lp, labels[None], axis=2)
    s = np.arange(L)
    two_s = 2 * target_lengths[:, None]
    start = (s == two_s) | ((s == two_s - 1) & (two_s > 0))  # beta's first states: the last label or blank
    skip_up = np.full((N, L), _NEG_INF)  # s -> s+2 is allowed where s+2's own skip is (additive 0 / -inf)
    skip_up[:, :-2] = np.where(_skip(labels)[:, 2:], 0.0, _NEG_INF)
    start = np.where(start, 0.0, _NEG_INF)
    pad = np.full((T + 1, N, L + 2), _NEG_INF)  # two -inf columns behind, and a row of -inf after t = T-1
    for t in range(T - 1, -1, -1):
        nxt = pad[t + 1]
        rec = lpl[t] + _lse3(nxt[:, :-2], nxt[:, 1:-1], nxt[:, 2:] + skip_up)
        pad[t, :, :-2] = np.where((t == input_lengths - 1)[:, None], lpl[t] + start,
                                  np.where((t >= input_lengths)[:, None], _NEG_INF, rec))
    with np.errstate(invalid="ignore"):
        occupancy = np.exp(alpha + pad[:T, :, :-2] + nll[None, :, None] - lpl)
    flat = (np.arange(T * N)[:, None] * C + np.broadcast_to(labels, (T, N, L)).reshape(T * N, L)).ravel()
    occ = np.bincount(flat, weights=np.nan_to_num(occupancy, nan=0.0).ravel(), minlength=T * N * C)
    out = np.exp(lp) - occ.reshape(T, N, C)
    live = np.arange(T)[:, None] < input_lengths[None, :]  # (T, N)
    impossible = np.isinf(nll) & (nll > 0)
    # torch's exp(-inf + inf) = NaN: for a log-probability of -inf (a masked class), and wherever an impossible
    # sample had frames, unless zero_infinity zeroes that sample
    out[np.isneginf(lp)] = np.nan
    if zero_infinity:
        out[:, impossible] = 0.0
    else:
        out[live & impossible[None, :]] = np.nan
    out[~live] = 0.0
    out *= g[None, :, None]
    return xp.asarray(out.astype(log_probs.dtype))
