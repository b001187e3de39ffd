"""Reference implementations of the fused kernels, written once against xp (numpy or cupy).

They define the contract every compiled kernel (csrc/cpu/<op>.cpp, csrc/cuda/<op>.cu) must meet:
same arguments, same outputs, same dtypes. Inputs are C-contiguous. Half-precision inputs are computed
in float32 and their outputs cast back; statistics (mean, rstd, lse) are float32 for float16/float32
inputs and float64 for float64 inputs.
"""
import math

import numpy as np

from . import xp_of
from .capture import GraphOffset
from .reference_ctc import ctc_loss_backward, ctc_loss_forward  # noqa: F401  (kept in their own file for size)
from ..dtypes import bfloat16 as _BF16


def _acc(dtype):
    """Accumulation dtype: float64 stays float64, anything smaller accumulates in float32."""
    import numpy as np
    return np.float64 if dtype == np.float64 else np.float32


# ----------------------------------------------------------------------------------------------- layernorm
def layernorm_forward(x, weight, bias, eps):
    """x: (N, C); weight, bias: (C,) or None. Returns y (N, C) in x.dtype, mean (N,), rstd (N,)."""
    xp = xp_of(x)
    acc = _acc(x.dtype)
    xf = x.astype(acc, copy=False)
    mean = xf.mean(axis=1)
    xc = xf - mean[:, None]
    var = (xc * xc).mean(axis=1)
    rstd = 1.0 / xp.sqrt(var + eps)
    y = xc * rstd[:, None]
    if weight is not None:
        y = y * weight.astype(acc, copy=False)
    if bias is not None:
        y = y + bias.astype(acc, copy=False)
    return y.astype(x.dtype, copy=False), mean.astype(acc), rstd.astype(acc)


def layernorm_backward(dy, x, weight, mean, rstd):
    """Returns dx (N, C) in x.dtype, dweight (C,) or None when weight is None, dbias (C,) (always)."""
    acc = _acc(x.dtype)
    dyf = dy.astype(acc, copy=False)
    xhat = (x.astype(acc, copy=False) - mean[:, None]) * rstd[:, None]
    dbias = dyf.sum(axis=0)
    dweight = None if weight is None else (dyf * xhat).sum(axis=0).astype(weight.dtype, copy=False)
    g = dyf if weight is None else dyf * weight.astype(acc, copy=False)
    dx = (g - g.mean(axis=1, keepdims=True) - xhat * (g * xhat).mean(axis=1, keepdims=True)) * rstd[:, None]
    return dx.astype(x.dtype, copy=False), dweight, dbias.astype(x.dtype if weight is None else weight.dtype, copy=False)


def layernorm_double_backward(a, dy, x, weight, mean, rstd, need_dy, need_x, need_w):
    """The derivative of layernorm_backward's dx for a cotangent ``a`` on it (torch's layer_norm_double_backward):
    (d/ddy, d/dx, d/dweight), each None where not needed (d/dweight also without a weight). Row-wise, with h = xhat,
    r = rstd, g' = dy * weight and row means m(.), dx = r (g' - m(g') - h m(g' h)); in closed form:
        d/dg' = r (a - m(a) - h m(a h))             (d/ddy = weight d/dg', d/dweight = sum over rows of dy d/dg')
        d/dx  = r^2 (c0 + c1 h - m(g' h) a - m(a h) g'),  c0 = m(a) m(g' h) + m(g') m(a h),
                c1 = 3 m(g' h) m(a h) + m(g') m(a) - m(a g')"""
    xp = xp_of(x)
    acc = _acc(x.dtype)
    a, g, xf = a.astype(acc, copy=False), dy.astype(acc, copy=False), x.astype(acc, copy=False)
    wf = None if weight is None else weight.astype(acc, copy=False)
    r = rstd.astype(acc, copy=False)[:, None]
    h = xf - mean.astype(acc, copy=False)[:, None]
    h *= r
    gw = g if wf is None else g * wf
    inv_c = 1.0 / max(x.shape[1], 1)

    def m(u, v):  # row means of u * v, without the product array
        return xp.einsum("ij,ij->i", u, v)[:, None] * inv_c
    m_a, m_ah = a.mean(axis=1, keepdims=True), m(a, h)
    d_g = d_w = d_x = None
    need_w = need_w and weight is not None
    if need_dy or need_w:
        d_gw = a - m_a
        d_gw -= h * m_ah
        d_gw *= r
        d_g = (d_gw if wf is None else d_gw * wf).astype(x.dtype, copy=False) if need_dy else None
        d_w = xp.einsum("ij,ij->j", d_gw, g).astype(weight.dtype, copy=False) if need_w else None
    if need_x:
        m_g, m_gh, m_ag = gw.mean(axis=1, keepdims=True), m(gw, h), m(a, gw)
        c0 = m_a * m_gh + m_g * m_ah
        c1 = 3.0 * m_gh * m_ah + m_g * m_a - m_ag
        d_x = h * c1
        d_x += c0
        d_x -= a * m_gh
        d_x -= gw * m_ah
        d_x *= r * r
        d_x = d_x.astype(x.dtype, copy=False)
    return d_g, d_x, d_w


# ------------------------------------------------------------------------------------ softmax cross-entropy
def softmax_cross_entropy_forward(logits, target, ignore_index, label_smoothing):
    """logits: (N, V); target: (N,) int64. Returns the per-row loss (N,) (0 where target == ignore_index) and
    stats (N, 2) = [max_j x_j, log sum_j exp(x_j - max)], the row's logsumexp in two parts (their sum rounds the
    second away when |max| dwarfs it: float32 1e20 + 0.69), both in the accumulation dtype.
    Row loss = (max - sum_j q_j x_j) + log sum exp(x - max) with q = (1 - ls) * onehot(target) + ls / V."""
    xp = xp_of(logits)
    acc = _acc(logits.dtype)
    x = logits.astype(acc, copy=False)
    n, v = x.shape
    m = x.max(axis=1)
    s = xp.log(xp.exp(x - m[:, None]).sum(axis=1))
    valid = target != ignore_index
    t = xp.where(valid, target, 0)
    xt = x[xp.arange(n), t]
    loss = (1.0 - label_smoothing) * ((m - xt) + s)
    if label_smoothing:
        loss = loss + label_smoothing * ((m - x.mean(axis=1)) + s)
    loss = xp.where(valid, loss, 0).astype(acc, copy=False)
    return loss, xp.stack([m, s], axis=1).astype(acc, copy=False)


def softmax_cross_entropy_backward(logits, target, stats, dloss, ignore_index, label_smoothing):
    """dlogits[i] = (softmax(logits[i]) - q_i) * dloss[i]; zero rows where ignored. Returns logits.dtype."""
    xp = xp_of(logits)
    acc = _acc(logits.dtype)
    x = logits.astype(acc, copy=False)
    n, v = x.shape
    p = xp.exp((x - stats[:, :1]) - stats[:, 1:])
    if label_smoothing:
        p -= label_smoothing / v
    valid = target != ignore_index
    t = xp.where(valid, target, 0)
    p[xp.arange(n), t] -= 1.0 - label_smoothing
    scale = xp.where(valid, dloss, 0).astype(acc, copy=False)
    return (p * scale[:, None]).astype(logits.dtype, copy=False)


# ----------------------------------------------------------------------------------------------- attention
def _causal_mask(xp, tq, tk):
    # PyTorch's is_causal convention: query i sees keys j <= i (top-left aligned).
    return xp.tril(xp.ones((tq, tk), dtype=bool))


_M32 = 0xFFFFFFFF


def philox4x32_10(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 (csrc/common/philox.h) on arrays of counter words c0..c3 (uint32, broadcast together) under the
    key (k0, k1) (Python ints, or uint64 arrays under CUDA-graph capture): returns its four uint32 output words,
    computed exactly as the C++ and CUDA."""
    xp = xp_of(c0)
    u32, u64 = np.uint32, np.uint64
    c0, c1, c2, c3 = (xp.asarray(c, dtype=u32) for c in (c0, c1, c2, c3))
    as32 = u32 if isinstance(k0, int) else (lambda k: k.astype(u32))
    for r in range(10):
        if r:
            k0, k1 = (k0 + 0x9E3779B9) & _M32, (k1 + 0xBB67AE85) & _M32
        p0 = c0.astype(u64) * u64(0xD2511F53)
        p1 = c2.astype(u64) * u64(0xCD9E8D57)
        c0, c1, c2, c3 = ((p1 >> u64(32)).astype(u32) ^ c1 ^ as32(k0), p1.astype(u32),
                          (p0 >> u64(32)).astype(u32) ^ c3 ^ as32(k1), p0.astype(u32))
    return c0, c1, c2, c3


def _dropout_words(n, p, seed, offset):
    """csrc/common/philox.h's draw for dropout: the four words of Philox at counters n (uint64: low, high 32 bits),
    (offset low, high) under key seed, each shifted to its 24-bit uniform, and the keep threshold ceil(p * 2**24)
    (kept iff uniform >= threshold). Under CUDA-graph capture (offset a GraphOffset) seed and offset are read on the
    device from the graph's state array, as the kernels do (philox.h, tg_philox_graph_state)."""
    if isinstance(offset, GraphOffset):
        with np.errstate(over="ignore"):  # wraps modulo 2**64, as in the kernels
            seed, offset = offset.state[0], offset.state[1] + np.uint64(int(offset))
    else:
        seed, offset = int(seed) % 2 ** 64, int(offset) % 2 ** 64
    words = philox4x32_10(n & np.uint64(_M32), n >> np.uint64(32), offset & _M32, offset >> 32, seed & _M32,
                          seed >> 32)
    return [w >> np.uint32(8) for w in words], math.ceil(p * 16777216.0)


def _keep_scale(p):
    """1 / (1 - p), and 0 for p >= 1 (philox.h's tg_dropout_keep_scale)."""
    return 0.0 if p >= 1.0 else 1.0 / (1.0 - p)


def attention_dropout_keep(xp, bh, tq, tk, p, seed, offset):
    """The attention-dropout keep mask (bh, tq, tk) (bool) for key ``seed`` and draw ``offset``, as
    csrc/common/philox.h defines it: element (h, i, j) takes word i % 4 of Philox at counter
    n = (h * ceil(tq / 4) + i // 4) * tk + j (low, high 32 bits), (offset low, high); kept iff
    (word >> 8) >= ceil(p * 2**24)."""
    g = (tq + 3) // 4
    words, thr = _dropout_words(xp.arange(bh * g * tk, dtype=np.uint64), p, seed, offset)
    keep = xp.stack([u.reshape(bh, g, tk) >= thr for u in words], axis=2)  # (bh, g, 4, tk)
    return keep.reshape(bh, 4 * g, tk)[:, :tq]


def elem_dropout_keep(xp, n, p, seed, offset):
    """The elementwise dropout keep mask (n,) (bool) of csrc/common/philox.h's tg_elem_dropout_keep: flat element e
    takes word e % 4 of Philox at counter (e // 4 low, high 32 bits, offset low, high) under key seed."""
    words, thr = _dropout_words(xp.arange((n + 3) // 4, dtype=np.uint64), p, seed, offset)
    return xp.stack(words, axis=1).reshape(-1)[:n] >= thr


def elem_dropout_scale(h, p, seed, offset):
    """keep / (1 - p) in h's dtype and shape (0 everywhere for p = 1): the factor bias_dropout_add applies."""
    keep = elem_dropout_keep(xp_of(h), h.size, p, seed, offset).reshape(h.shape)
    return keep.astype(h.dtype) * h.dtype.type(_keep_scale(p))


def bias_dropout_add_forward(x, h, bias, p, seed, offset):
    """x + dropout_p(h + bias): the GPT's residual branch after its projection; bias (C,) over h's last dim or None.
    The mask is elem_dropout_keep at (seed, offset), regenerated by the backward."""
    y = h if bias is None else h + bias
    return x + elem_dropout_scale(h, p, seed, offset) * y


def bias_dropout_add_backward(g, p, seed, offset):
    """dh = g * keep / (1 - p) (dx is g, dbias is dh summed over the leading dims)."""
    return elem_dropout_scale(g, p, seed, offset) * g


def _dropout_scale(xp, shape, p, seed, offset, acc):
    """Z = keep / (1 - p) over a (B, H, Tq, Tk) score grid, in the accumulation dtype (0 everywhere for p = 1)."""
    b, h, tq, tk = shape
    keep = attention_dropout_keep(xp, b * h, tq, tk, p, seed, offset).reshape(shape)
    return keep.astype(acc) * acc(_keep_scale(p))


def attention_forward(q, k, v, causal, scale, dropout_p=0.0, seed=0, offset=0):
    """q: (B, H, Tq, D), k, v: (B, H, Tk, D). Returns out (B, H, Tq, D) in q.dtype and lse (B, H, Tq) in the
    accumulation dtype: lse = logsumexp_j(scale * q.k_j) over visible j. dropout_p > 0: out = (P o Z) V with
    Z = keep / (1 - p), keep drawn from Philox at (seed, offset) (attention_dropout_keep); lse is unchanged."""
    xp = xp_of(q)
    acc = _acc(q.dtype)
    qf, kf, vf = (a.astype(acc, copy=False) for a in (q, k, v))
    s = (qf @ kf.swapaxes(-1, -2)) * scale
    if causal:
        s = xp.where(_causal_mask(xp, s.shape[-2], s.shape[-1]), s, -xp.inf)
    m = s.max(axis=-1, keepdims=True)
    p = xp.exp(s - m)
    l = p.sum(axis=-1, keepdims=True)
    p = p / l
    if dropout_p > 0:
        p = p * _dropout_scale(xp, s.shape, dropout_p, seed, offset, acc)
    out = p @ vf
    lse = (m + xp.log(l))[..., 0]
    return out.astype(q.dtype, copy=False), lse.astype(acc, copy=False)


def attention_backward(dout, q, k, v, out, lse, causal, scale, dropout_p=0.0, seed=0, offset=0):
    """Returns dq, dk, dv (dtypes of q, k, v). Uses only lse from forward: P = exp(scale*QK^T - lse); with dropout the
    same mask Z is drawn again: dv = (P o Z)^T dout, dS = P o (Z o dout V^T - delta) * scale."""
    xp = xp_of(q)
    acc = _acc(q.dtype)
    qf, kf, vf, of, dof = (a.astype(acc, copy=False) for a in (q, k, v, out, dout))
    s = (qf @ kf.swapaxes(-1, -2)) * scale
    p = xp.exp(s - lse[..., None])
    if causal:
        p = xp.where(_causal_mask(xp, s.shape[-2], s.shape[-1]), p, 0)
    dp = dof @ vf.swapaxes(-1, -2)
    if dropout_p > 0:
        z = _dropout_scale(xp, s.shape, dropout_p, seed, offset, acc)
        dv = (p * z).swapaxes(-1, -2) @ dof
        dp = dp * z
    else:
        dv = p.swapaxes(-1, -2) @ dof
    delta = (dof * of).sum(axis=-1, keepdims=True)
    ds = p * (dp - delta) * scale
    dq = ds @ kf
    dk = ds.swapaxes(-1, -2) @ qf
    return dq.astype(q.dtype, copy=False), dk.astype(k.dtype, copy=False), dv.astype(v.dtype, copy=False)


def _split_heads(x, n_head):
    """(B, T, C) -> (B, H, T, D) view."""
    b, t, c = x.shape
    return x.reshape(b, t, n_head, c // n_head).transpose(0, 2, 1, 3)


def _merge_heads(x):
    b, h, t, d = x.shape
    return x.transpose(0, 2, 1, 3).reshape(b, t, h * d)


def attention_forward_packed(qkv, n_head, causal, scale, dropout_p=0.0, seed=0, offset=0):
    """attention_forward in the GPT layouts: qkv (B, T, 3C) = [q | k | v], each C = n_head heads of D. Returns out
    (B, T, C) with the heads merged and lse (B, n_head, T). The dropout mask is that of the (B, n_head, T, T) grid."""
    c = qkv.shape[-1] // 3
    q, k, v = (_split_heads(qkv[..., i * c:(i + 1) * c], n_head) for i in range(3))
    out, lse = attention_forward(q, k, v, causal, scale, dropout_p, seed, offset)
    return _merge_heads(out), lse


def attention_backward_packed(dout, qkv, out, lse, n_head, causal, scale, dropout_p=0.0, seed=0, offset=0):
    """attention_backward in the GPT layouts: dout and out (B, T, C); returns dqkv (B, T, 3C)."""
    xp = xp_of(qkv)
    c = qkv.shape[-1] // 3
    q, k, v = (_split_heads(qkv[..., i * c:(i + 1) * c], n_head) for i in range(3))
    grads = attention_backward(_split_heads(dout, n_head), q, k, v, _split_heads(out, n_head), lse, causal, scale,
                               dropout_p, seed, offset)
    return xp.concatenate([_merge_heads(g) for g in grads], axis=-1)


# ----------------------------------------------------------------------------------------------- embedding
def embedding_backward(idx, dy, num_embeddings):
    """dweight (num_embeddings, C) in dy's dtype with dweight[idx[i]] += dy[i]; idx (N,) integers, dy (N, C)."""
    xp = xp_of(dy)
    acc = _acc(dy.dtype)
    out = xp.zeros((num_embeddings, dy.shape[-1]), dtype=acc)
    if xp.__name__ == "numpy":
        xp.add.at(out, idx, dy.astype(acc, copy=False))
    else:
        import cupyx
        cupyx.scatter_add(out, idx, dy.astype(acc, copy=False))
    return out.astype(dy.dtype, copy=False)


# ---------------------------------------------------------------------------------------------------- gelu
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT2 = 1.0 / math.sqrt(2.0)


def _erf(xp, x):
    if xp.__name__ == "cupy":
        from cupyx.scipy.special import erf
    else:
        from scipy.special import erf
    return erf(x)


def gelu_forward(x, approximate):
    """approximate: 'none' (x * Phi(x)) or 'tanh'. Returns x.dtype."""
    xp = xp_of(x)
    xf = x.astype(_acc(x.dtype), copy=False)
    if approximate == "tanh":
        y = 0.5 * xf * (1.0 + xp.tanh(_SQRT_2_OVER_PI * (xf + 0.044715 * xf ** 3)))
    else:
        y = 0.5 * xf * (1.0 + _erf(xp, xf * _INV_SQRT2))
    return y.astype(x.dtype, copy=False)


def gelu_backward(dy, x, approximate):
    xp = xp_of(x)
    xf = x.astype(_acc(x.dtype), copy=False)
    if approximate == "tanh":
        u = _SQRT_2_OVER_PI * (xf + 0.044715 * xf ** 3)
        t = xp.tanh(u)
        d = 0.5 * (1.0 + t) + 0.5 * xf * (1.0 - t * t) * _SQRT_2_OVER_PI * (1.0 + 3 * 0.044715 * xf * xf)
    else:
        cdf = 0.5 * (1.0 + _erf(xp, xf * _INV_SQRT2))
        pdf = xp.exp(-0.5 * xf * xf) / math.sqrt(2.0 * math.pi)
        d = cdf + xf * pdf
    return (dy.astype(d.dtype, copy=False) * d).astype(x.dtype, copy=False)


def gelu_double_backward(gg, dy, x, approximate, need_dy, need_x):
    """GELU's gradient dy * GELU'(x) differentiated for a cotangent gg: (gg GELU'(x), gg dy GELU''(x)), None where
    not needed, in x's dtype. GELU''(x) = phi(x) (2 - x^2) exactly; with tanh, t = tanh u, u = k (x + c x^3):
    (1 - t^2) (u' - x t u'^2 + 3 k c x^2)."""
    xp = xp_of(x)
    xf = x.astype(_acc(x.dtype), copy=False)
    ggf = gg.astype(xf.dtype, copy=False)
    d_dy = gelu_backward(ggf, xf, approximate).astype(x.dtype, copy=False) if need_dy else None
    d_x = None
    if need_x:
        if approximate == "tanh":
            k, c = _SQRT_2_OVER_PI, 0.044715
            u = k * (xf + c * xf * xf * xf)
            e = xp.exp(-2 * xp.abs(u))
            t = xp.tanh(u)
            du = k * (1 + 3 * c * xf * xf)
            # 1 - t^2 as sech^2 u = 4 e / (1 + e)^2: the difference cancels near |t| = 1, where x u'^2 is large
            second = 4 * e / (1 + e) ** 2 * (du - xf * t * du * du + 3 * k * c * xf * xf)
        else:
            second = xp.exp(-0.5 * xf * xf) * (1.0 / math.sqrt(2.0 * math.pi)) * (2 - xf * xf)
        d_x = (ggf * dy.astype(xf.dtype, copy=False) * second).astype(x.dtype, copy=False)
    return d_dy, d_x


# ------------------------------------------------------------------------------------------------ rnn cells
# One LSTM / GRU step's pointwise part after its two GEMMs (xw = W_ih x + b_ih, hw = W_hh h + b_hh); the formulas
# are csrc/cpu/rnn_cell.cpp's header. Inputs share one float dtype; half precision is computed in float32 and every
# output (act included) cast back.
def _sigmoid(xp, a):
    return 1.0 / (1.0 + xp.exp(-a))


def _up(*arrays):
    acc = _acc(arrays[-1].dtype)
    return [a.astype(acc, copy=False) for a in arrays]


def _down(dtype, *arrays):
    return tuple(a.astype(dtype, copy=False) for a in arrays)


def lstm_cell_forward(xw, hw, c):
    """xw, hw: (N, 4H) pre-activations in gate order i, f, g, o; c: (N, H). Returns hc = [h'; c'] (2, N, H) and
    act = [i f g o] (N, 4H), the activated gates backward reads."""
    xp, dt = xp_of(c), c.dtype
    xw, hw, c = _up(xw, hw, c)
    H = c.shape[1]
    a = xw + hw
    act = xp.concatenate([_sigmoid(xp, a[:, :2 * H]), xp.tanh(a[:, 2 * H:3 * H]), _sigmoid(xp, a[:, 3 * H:])], 1)
    i, f, g, o = (act[:, k * H:(k + 1) * H] for k in range(4))
    cn = f * c + i * g
    return _down(dt, xp.stack([o * xp.tanh(cn), cn]), act)


def lstm_cell_backward(dhc, act, c, c_new):
    """dhc = [dh'; dc'] (2, N, H). Returns (d pre-activations (N, 4H), dc (N, H))."""
    xp, dt = xp_of(c), c.dtype
    dhc, act, c_new, c = _up(dhc, act, c_new, c)
    H = c.shape[1]
    i, f, g, o = (act[:, k * H:(k + 1) * H] for k in range(4))
    dh, dcn = dhc[0], dhc[1]
    t = xp.tanh(c_new)
    dC = dcn + dh * o * (1 - t * t)
    da = xp.concatenate([dC * g * i * (1 - i), dC * c * f * (1 - f), dC * i * (1 - g * g), dh * t * o * (1 - o)], 1)
    return _down(dt, da, dC * f)


def gru_cell_forward(xw, hw, h):
    """xw, hw: (N, 3H) in gate order r, z, n (hw includes b_hh: r gates its n part); h: (N, H). Returns
    (h' (N, H), act = [r z n] (N, 3H))."""
    xp, dt = xp_of(h), h.dtype
    xw, hw, h = _up(xw, hw, h)
    H = h.shape[1]
    rz = _sigmoid(xp, xw[:, :2 * H] + hw[:, :2 * H])
    r, z = rz[:, :H], rz[:, H:]
    n = xp.tanh(xw[:, 2 * H:] + r * hw[:, 2 * H:])
    return _down(dt, n + z * (h - n), xp.concatenate([rz, n], 1))


def gru_cell_backward(dh_new, act, hw, h):
    """Returns (dxw (N, 3H), dhw (N, 3H), dh (N, H))."""
    xp, dt = xp_of(h), h.dtype
    dh_new, act, hw, h = _up(dh_new, act, hw, h)
    H = h.shape[1]
    r, z, n = act[:, :H], act[:, H:2 * H], act[:, 2 * H:]
    dn = dh_new * (1 - z) * (1 - n * n)
    dz = dh_new * (h - n) * z * (1 - z)
    dr = dn * hw[:, 2 * H:] * r * (1 - r)
    return _down(dt, xp.concatenate([dr, dz, dn], 1), xp.concatenate([dr, dz, dn * r], 1), dh_new * z)


# --------------------------------------------------------------------------------------------------- adamw
def adamw_step(params, grads, exp_avgs, exp_avg_sqs, lr, beta1, beta2, eps, weight_decay, step):
    """In place over lists of same-shaped arrays (float32 or float64 master weights):
    p *= 1 - lr*wd;  m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2;
    p -= lr * (m / (1-b1^step)) / (sqrt(v / (1-b2^step)) + eps)."""
    bc1 = 1.0 - beta1 ** step
    bc2 = 1.0 - beta2 ** step
    for p, g, m, v in zip(params, grads, exp_avgs, exp_avg_sqs):
        xp = xp_of(p)
        g = g.astype(p.dtype, copy=False)
        if weight_decay:
            p *= 1.0 - lr * weight_decay
        m *= beta1
        m += (1.0 - beta1) * g
        v *= beta2
        v += (1.0 - beta2) * g * g
        denom = xp.sqrt(v / bc2)
        denom += eps
        p -= (lr / bc1) * m / denom


def gemm(a, b, bias=None):
    """a @ b (+ bias over the last dim) in a.dtype; float16 and bfloat16 are multiplied in float32 and rounded once
    (fp32 accumulation, the bias added before the rounding)."""
    if a.dtype == np.float16 or a.dtype == _BF16:
        out = cast(a, np.float32) @ cast(b, np.float32)
        if bias is not None:
            out += cast(bias, np.float32)
        return cast(out, a.dtype)
    out = a @ b
    if bias is not None:
        out += bias
    return out


def pack_b(b, m):
    """b (k, n) prepared for many products a (m, k) @ b (+ bias): a callable (a, bias=None) -> array. The reference
    prepares nothing; the CPU backend packs b once in MKL's layout (blas.PackedB)."""
    return lambda a, bias=None: gemm(a, b, bias)


def binary(op, a, b):
    """a op b for op in add, sub, mul, div: the arrays' own operators (NumPy or CuPy; broadcasting, dtypes and IEEE
    results as theirs). The CPU launcher runs large same-shape float operands on the kernel threads."""
    if op == "add":
        return a + b
    if op == "sub":
        return a - b
    if op == "mul":
        return a * b
    if op == "div":
        return a / b
    raise ValueError(f"binary: op must be add, sub, mul or div, got {op!r}")


def reduce_sum(a, axis=None, keepdims=False):
    """a.sum(axis, keepdims) in a's dtype (NumPy's or CuPy's own reduction and accumulation)."""
    return a.sum(axis=axis, keepdims=keepdims)


def where(cond, a, b):
    """cond ? a : b elementwise, with the array library's broadcasting and dtype rules."""
    return xp_of(cond).where(cond, a, b)


def cast(a, dtype):
    """a.astype(dtype), a new array, with PyTorch's rounding: to bfloat16, float64 and integers go through float32
    (c10's static_cast<BFloat16>(double) is BFloat16(float(x)): 1 + 2**-8 + 2**-30 becomes 1, not 1 + 2**-7)."""
    dtype = np.dtype(dtype)
    if dtype == _BF16 and a.dtype != _BF16 and a.dtype != np.float32:
        return a.astype(np.float32).astype(dtype)
    return a.astype(dtype)


def scatter_add(out, index, values):
    """out[index] += values, with repeated indices accumulating (unbuffered)."""
    xp = xp_of(out)
    if xp is np:
        np.add.at(out, index, values)
    else:
        import cupyx  # CuPy's unbuffered add lives in cupyx
        cupyx.scatter_add(out, index, values)


def adamw_step_capturable(params, grads, exp_avgs, exp_avg_sqs, lr, step, found_inf, beta1, beta2, eps,
                          weight_decay):
    """adamw_step with lr, step (already counting this step) and found_inf (skip when != 0; None: never) given as
    0-d arrays, as the CUDA kernel reads them on the device. The reference reads them on the host."""
    if found_inf is not None and float(found_inf) != 0:
        return
    adamw_step(params, grads, exp_avgs, exp_avg_sqs, float(lr), beta1, beta2, eps, weight_decay, float(step))
