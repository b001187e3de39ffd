"""Attention: the fused op (csrc/cpu/attention.cpp, csrc/cuda/attention.cu, backend/reference.py's
attention_forward / attention_backward and their packed forms), its dropout, scaled_dot_product_attention and the
packed form the GPT uses, with the packed gradient as an op of its own so that it is differentiable again."""
import copy
import math

import numpy as np

from ..autograd.engine import grad as _grad
from ..autograd.function import Function
from ..autograd.grad_mode import enable_grad
from ..backend import xp_of, kernels
from ..amp.autocast import cast_lower
from ..tensor import Tensor
from ..random import default_generator
from ..backend.reference import _dropout_scale
from ..backends.cuda import _state as _sdp_switches
from .graph import frozen_backward, vjp_by_recompute
from .movement import cat
from .util import rowdot
from .nn import Softmax, softmax, dropout, _dev


class Attention(Function):
    """dropout_p(softmax(scale * Q K^T [causal])) V over (B, H, T, D); saves only lse (flash style). The dropout
    mask is Philox at (seed, offset) (csrc/common/philox.h), drawn inside the kernels in forward and again in
    backward, never stored; the wrappers take the pair from the Generator once per call."""

    def forward(self, q, k, v, causal, scale, dropout_p=0.0, seed=0, offset=0):
        self.args = (causal, scale, dropout_p, seed, offset)
        out, lse = kernels.get("attention_forward", _dev(q))(q, k, v, *self.args)
        self.save_for_backward(q, k, v, out, lse)
        return out

    def backward(self, g):
        q, k, v, out, lse = self.saved_tensors
        g = xp_of(g).ascontiguousarray(g)
        dq, dk, dv = kernels.get("attention_backward", _dev(q))(g, q, k, v, out, lse, *self.args)
        return dq, dk, dv, None, None, None, None, None

    def backward_graph(self, g):
        q, k, v = self.saved_tensors[:3]
        f = copy.copy(self)  # (this node's backward, kept past the engine's release())
        first = lambda g: xp_of(g).concatenate(f.backward(g)[:3], axis=-2)  # noqa: E731
        cat = AttentionBackward.apply(g, *(self.input(i, a) for i, a in enumerate((q, k, v))), first, self.args,
                                      self.saved_tensors[4])
        tq, tk = q.shape[-2], k.shape[-2]
        return (cat[..., :tq, :], cat[..., tq:tq + tk, :], cat[..., tq + tk:, :]) + (None,) * 5


class AttentionBackward(Function):
    """(dq, dk, dv) of attention, concatenated along the sequence axis, as a node of its own: Attention's
    backward_graph records it and slices it apart, so a gradient taken with create_graph runs the fused backward
    kernel, and its derivative is _attention_second's, on arrays (PackedAttentionBackward's docstring has the math)."""

    def forward(self, g, q, k, v, first, args, lse):
        self.args, self.lse = args, lse
        self.save_for_backward(g, q, k, v)
        return first(g)

    def backward(self, u):
        g, q, k, v = self.saved_tensors
        tq, tk = q.shape[-2], k.shape[-2]
        gdo, gq, gk, gv = _attention_second(q, k, v, g, u[..., :tq, :], u[..., tq:tq + tk, :], u[..., tq + tk:, :],
                                            self.args, self.lse)
        return tuple(x.astype(q.dtype, copy=False) if n else None
                     for x, n in zip((gdo, gq, gk, gv), self.needs_input_grad[:4])) + (None, None, None)

    def backward_graph(self, u):
        g, q, k, v = self.saved_tensors
        causal, scale = self.args[:2]
        z = _dropout_z(xp_of(q), q.shape[:-1] + k.shape[-2:-1], q.dtype, self.args)

        def dqkv(g, q, k, v):  # the first derivative through the math path, recorded (third derivatives and up)
            with enable_grad():
                xs = [x if x.requires_grad else x.detach().requires_grad_() for x in (q, k, v)]
                return cat(_grad(_attention_math(*xs, causal, scale, z), xs, g, create_graph=True), -2)
        return vjp_by_recompute(dqkv, [self.input(i, a) for i, a in enumerate((g, q, k, v))], u) + (None, None, None)


def _dropout_z(xp, shape, dtype, args):
    """The kernels' attention-dropout scale Z = keep / (1 - p) over (B, H, Tq, Tk), materialized from the same Philox
    stream (backend.reference.attention_dropout_keep, which the kernels are tested to draw bit for bit), or None."""
    _, _, dropout_p, seed, offset = args
    if dropout_p <= 0:
        return None
    return _dropout_scale(xp, tuple(shape), dropout_p, seed, offset, np.dtype(dtype).type)


def _attention_math(q, k, v, causal, scale, z=None):
    """Attention in differentiable ops (the math path): the fused kernels' double backward differentiates this.
    z: the dropout scale (a constant array, _dropout_z) or None."""
    s = (q @ k.transpose(-1, -2)) * scale
    if causal:
        tq, tk = s.shape[-2], s.shape[-1]
        s = s.masked_fill(Tensor._make(~xp_of(s.array).tri(tq, tk, dtype=bool), None), -math.inf)
    p = Softmax.apply(s, s.ndim - 1)
    if z is not None:
        p = p * Tensor._make(z, None)
    return p @ v


class PackedAttention(Function):
    """Multi-head attention straight from a fused QKV projection (B, T, 3C) to merged heads (B, T, C).

    Same kernels as Attention; the head split/merge happens inside this one node, so the tape holds no
    split, permute or copy nodes and backward writes dq, dk, dv once into a single packed gradient. Where the
    device has packed kernels (the CPU's: attention_forward_packed / attention_backward_packed) they read and write
    these layouts in place, with no split or merge copies at all."""

    def forward(self, qkv, n_head, causal, scale, dropout_p=0.0, seed=0, offset=0):
        dev = _dev(qkv)
        self.args = (causal, scale, dropout_p, seed, offset)
        self.packed = kernels.which("attention_forward_packed", dev) == "kernel"
        if self.packed:
            out, lse = kernels.get("attention_forward_packed", dev)(qkv, n_head, *self.args)
            self.n_head = n_head
            self.save_for_backward(qkv, out, lse)
            return out
        xp = xp_of(qkv)
        b, t, c3 = qkv.shape
        c = c3 // 3
        heads = xp.ascontiguousarray(qkv.reshape(b, t, 3, n_head, c // n_head).transpose(2, 0, 3, 1, 4))
        q, k, v = heads[0], heads[1], heads[2]
        out, lse = kernels.get("attention_forward", _dev(qkv))(q, k, v, *self.args)
        self.save_for_backward(q, k, v, out, lse)
        return out.transpose(0, 2, 1, 3).reshape(b, t, c)

    def backward(self, g):
        xp = xp_of(g)
        nones = (None,) * 6
        if self.packed:
            qkv, out, lse = self.saved_tensors
            dqkv = kernels.get("attention_backward_packed", _dev(qkv))(xp.ascontiguousarray(g), qkv, out, lse,
                                                                        self.n_head, *self.args)
            return (dqkv,) + nones
        q, k, v, out, lse = self.saved_tensors
        b, h, t, d = q.shape
        g4 = xp.ascontiguousarray(g.reshape(b, t, h, d).transpose(0, 2, 1, 3))
        dq, dk, dv = kernels.get("attention_backward", _dev(q))(g4, q, k, v, out, lse, *self.args)
        dqkv = xp.empty((b, t, 3, h, d), dtype=dq.dtype)
        for i, di in enumerate((dq, dk, dv)):
            dqkv[:, :, i] = di.transpose(0, 2, 1, 3)
        return (dqkv.reshape(b, t, 3 * h * d),) + nones

    def backward_graph(self, g):
        if self.packed:
            qkv = self.saved_tensors[0]
        else:
            q, k, v = self.saved_tensors[:3]
            b, h, t, d = q.shape
            qkv = xp_of(q).stack((q, k, v)).transpose(1, 3, 0, 2, 4).reshape(b, t, 3 * h * d)
        n_head = self.n_head if self.packed else q.shape[1]
        lse = self.saved_tensors[2 if self.packed else 4]
        dqkv = PackedAttentionBackward.apply(g, self.input(0, qkv), frozen_backward(self, 0), n_head, self.args, lse)
        return (dqkv,) + (None,) * 6


class PackedAttentionBackward(Function):
    """dqkv of packed attention as a node of its own: what PackedAttention's backward_graph records, so a gradient
    taken with create_graph runs the fused backward kernel (first: PackedAttention's own backward), and the
    derivative of that gradient is worked out on arrays (_attention_second; torch's math path has one, its fused
    attention has none) rather than by recomputing attention in recorded ops. Per head, with P = softmax(scale Q K^T [causal]),
    the kernels' dropout scale Z (P~ = P Z) and g = dO:
        dV = P~^T dO,  dP = (dO V^T) Z,  D = rowsum(P dP),  dS = P (dP - D),  dQ = scale dS K,  dK = scale dS^T Q."""

    def forward(self, g, qkv, first, n_head, args, lse):
        self.n_head, self.args, self.lse = n_head, args, lse
        self.save_for_backward(g, qkv)
        return first(g)

    def backward(self, u):
        g, qkv = self.saved_tensors
        n_g, n_qkv = self.needs_input_grad[:2]
        xp = xp_of(qkv)
        b, t, c3 = qkv.shape
        h = self.n_head
        d = c3 // (3 * h)
        heads = qkv.reshape(b, t, 3, h, d).transpose(2, 0, 3, 1, 4)
        uh = u.reshape(b, t, 3, h, d).transpose(2, 0, 3, 1, 4)
        do = g.reshape(b, t, h, d).transpose(0, 2, 1, 3)
        gdo, gq, gk, gv = _attention_second(heads[0], heads[1], heads[2], do, uh[0], uh[1], uh[2], self.args, self.lse)
        dg = gdo.transpose(0, 2, 1, 3).reshape(b, t, h * d).astype(g.dtype, copy=False) if n_g else None
        dqkv = None
        if n_qkv:
            dqkv = xp.empty((b, t, 3, h, d), qkv.dtype)
            for i, gi in enumerate((gq, gk, gv)):
                dqkv[:, :, i] = gi.transpose(0, 2, 1, 3)
            dqkv = dqkv.reshape(b, t, c3)
        return dg, dqkv, None, None, None, None

    def backward_graph(self, u):
        g, qkv = self.saved_tensors
        h, (causal, scale) = self.n_head, self.args[:2]
        z = _dropout_z(xp_of(qkv), (qkv.shape[0], h, qkv.shape[1], qkv.shape[1]), qkv.dtype, self.args)

        def dqkv(g, qkv):  # the first derivative through the math path, recorded (third derivatives and up)
            with enable_grad():
                x = qkv if qkv.requires_grad else qkv.detach().requires_grad_()
                return _grad(_packed_math(x, h, causal, scale, z), [x], g, create_graph=True)[0]
        return vjp_by_recompute(dqkv, [self.input(0, g), self.input(1, qkv)], u) + (None, None, None, None)


def _attention_second(q, k, v, do, uq, uk, uv, args, lse=None):
    """The derivative of attention's backward (dq, dk, dv) = B(dO, q, k, v) for cotangents (uq, uk, uv) of its
    three outputs: (d/d dO, d/dq, d/dk, d/dv), over (..., Tq, D) queries and (..., Tk, D) keys and values (views
    welcome), in float32 (float64 for float64). The math is in PackedAttentionBackward's docstring; in place where
    an array is not needed again (each Tq x Tk pass costs as much as a small product here). lse (..., Tq), the
    forward's row log-sum-exp, gives P as exp(S - lse) without the row max and sum passes."""
    xp = xp_of(q)
    causal, scale = args[:2]
    acc = np.float64 if q.dtype == np.float64 else np.float32
    q, k, v, do, uq, uk, uv = (x.astype(acc, copy=False) for x in (q, k, v, do, uq, uk, uv))
    tq, tk = q.shape[-2], k.shape[-2]
    # Right operands transposed into C order first: NumPy's stacked matmul ran X @ Y.swapaxes 2.5x slower than the
    # copy and the product together ((48, 64, 32) x (48, 32, 64): 0.34 vs 0.13 ms).
    kt, vt, ukt, uvt = (xp.ascontiguousarray(a.swapaxes(-1, -2)) for a in (k, v, uk, uv))
    qs, ks, uqs, uks = q * scale, k * scale, uq * scale, uk * scale
    p = qs @ kt                                             # S, then P in the same memory
    if causal:
        p += xp.where(xp.tri(tq, tk, dtype=bool), acc(0), acc(-xp.inf))
    if lse is not None:
        p -= lse.astype(acc, copy=False)[..., None]
        xp.exp(p, out=p)
    else:
        p -= p.max(axis=-1, keepdims=True)
        xp.exp(p, out=p)
        p /= p.sum(axis=-1, keepdims=True)
    z = _dropout_z(xp, p.shape, acc, args)
    dp = do @ vt                                            # dP~, then dP
    if z is not None:
        dp *= z
    e = dp - rowdot(p, dp)                                  # dP - D
    ds = e * p
    # through dQ = scale dS K, dK = scale dS^T Q and dV = P~^T dO
    gds = uqs @ kt
    gds += qs @ ukt
    gq = ds @ uks
    gk = ds.swapaxes(-1, -2) @ uqs
    del ds
    gp = do @ uvt
    if z is not None:
        gp *= z
    # through dS = P (dP - D) and D = rowsum(P dP)
    e *= gds
    gp += e
    del e
    gdp = gds
    gdp *= p
    gd = gdp.sum(axis=-1, keepdims=True)                    # rowsum(gds P): the cotangent of D is -gd
    dp *= gd
    gp -= dp
    del dp
    gdp -= gd * p
    if z is not None:
        gdp *= z                                            # d/d(dP~)
    gdo = gdp @ v
    gdo += (p if z is None else p * z) @ uv
    gv = gdp.swapaxes(-1, -2) @ do
    del gdp
    # through P = softmax(S), S = scale Q K^T
    gp -= rowdot(gp, p)
    gp *= p                                                 # gS
    gq += gp @ ks
    gk += gp.swapaxes(-1, -2) @ qs
    return gdo, gq, gk, gv


def _packed_math(qkv, h, causal, scale, z):
    b, t, c3 = qkv.shape
    heads = qkv.reshape(b, t, 3, h, c3 // (3 * h)).permute(2, 0, 3, 1, 4)
    o = _attention_math(heads[0], heads[1], heads[2], causal, scale, z)
    return o.permute(0, 2, 1, 3).reshape(b, t, c3 // 3)


def packed_attention(qkv, n_head, is_causal=True, dropout_p=0.0, scale=None):
    """Attention over the output of one QKV projection: qkv (B, T, 3C) laid out [q | k | v], each C split
    into n_head heads (the nanoGPT / GPT-2 layout). Returns (B, T, C) with heads merged. Equivalent to
    splitting q, k, v, calling scaled_dot_product_attention per head and merging, in one node."""
    qkv, = cast_lower(qkv)
    if qkv.ndim != 3 or qkv.shape[-1] % 3 or (qkv.shape[-1] // 3) % n_head:
        raise RuntimeError(f"packed_attention: expected qkv of shape (B, T, 3C) with C divisible by n_head={n_head}, "
                           f"got {tuple(qkv.shape)}")
    b, t, c3 = qkv.shape
    c = c3 // 3
    d = c // n_head
    scale = (1.0 / math.sqrt(d) if d else 1.0) if scale is None else float(scale)
    # The fused kernels divide by the sizes (an empty input raised SIGFPE): compose from ordinary ops there.
    if qkv.array.size == 0:
        heads = qkv.reshape(b, t, 3, n_head, d).permute(2, 0, 3, 1, 4)
        y = scaled_dot_product_attention(heads[0], heads[1], heads[2], dropout_p=dropout_p, is_causal=is_causal,
                                         scale=scale)
        return y.transpose(1, 2).reshape(b, t, c)
    return PackedAttention.apply(qkv.contiguous(), n_head, bool(is_causal), scale,
                                 *_attention_dropout("packed_attention", qkv, dropout_p))


def _attention_dropout(name, x, p):
    """(dropout_p, seed, offset) for the fused attention kernels: the Philox pair is drawn from the default
    Generator once per call and saved on the node, so backward (and checkpoint's replay, which restores the
    Generator) regenerates the very mask of forward; (0.0, 0, 0) without dropout."""
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name}: dropout_p must be in [0, 1], got {p}")
    if p == 0.0:
        return 0.0, 0, 0
    seed, offset = default_generator.philox_seed_offset()
    return p, seed, offset


def _check_sdp_backend(q):
    """torch's refusal when the sdpa_kernel / enable_*_sdp switches leave no kernel for the device (the CPU has only
    math and flash). Any enabled one lets tensorgrad's kernel run: all compute the same exact attention
    (nn/attention/__init__.py says why a selection is not honoured path by path)."""
    s = _sdp_switches
    if not (s["math"] or s["flash"] or (q.array.__class__ is not np.ndarray and (s["mem_efficient"] or s["cudnn_sdp"]))):
        raise RuntimeError("scaled_dot_product_attention: No viable backend for scaled_dot_product_attention was "
                           "found. This is likely due to turning off both the math kernel and the fused kernels "
                           f"(enabled: {sorted(k for k, on in s.items() if on and k != 'allow_tf32')}, "
                           f"{'cpu' if q.array.__class__ is np.ndarray else 'cuda'} tensors)")


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    q, k, v = cast_lower(query, key, value)
    _check_sdp_backend(q)
    if q.ndim < 2 or k.ndim != q.ndim or v.ndim != q.ndim or q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2] \
            or q.shape[:-2] != k.shape[:-2] or k.shape[:-2] != v.shape[:-2]:
        raise RuntimeError(f"scaled_dot_product_attention: incompatible shapes query {tuple(q.shape)}, key {tuple(k.shape)}, "
                           f"value {tuple(v.shape)} (expected (..., L, E), (..., S, E), (..., S, Ev))")
    if len({q.dtype, k.dtype, v.dtype}) != 1:
        raise TypeError(f"scaled_dot_product_attention: query/key/value dtypes differ: {q.dtype}, {k.dtype}, {v.dtype}")
    if attn_mask is not None and is_causal:
        raise RuntimeError("scaled_dot_product_attention: pass either attn_mask or is_causal=True, not both")
    # Head dim 0: every score is an empty dot product, 0, whatever the scale (torch attends uniformly), so any
    # finite scale gives torch's result where 1/sqrt(0) would make 0 * inf = NaN.
    scale = (1.0 / math.sqrt(q.shape[-1]) if q.shape[-1] else 1.0) if scale is None else float(scale)
    # The kernels divide by the sizes: an empty query, key or value (or head dim 0) takes the composed path,
    # which gives torch's empty or zero results instead of a SIGFPE.
    empty = 0 in q.shape or 0 in k.shape or 0 in v.shape
    if attn_mask is None and q.shape[-1] == v.shape[-1] and not empty:
        # Dropout runs inside the kernels: the mask of element (b, h, i, j) is Philox at (seed, offset, (bh, i, j)),
        # bh counting the leading dims flattened.
        lead = q.shape[:-2]
        b = int(math.prod(lead)) if lead else 1
        q4, k4, v4 = (x.contiguous().reshape(1, b, x.shape[-2], x.shape[-1]) for x in (q, k, v))
        out = Attention.apply(q4, k4, v4, bool(is_causal), scale,
                              *_attention_dropout("scaled_dot_product_attention", q, dropout_p))
        return out.reshape(lead + (q.shape[-2], v.shape[-1]))
    # General path (masks, Ev != E, empty inputs): composed from ordinary ops, dropout as a Dropout node.
    s = (q @ k.transpose(-2, -1)) * scale
    if is_causal:
        L, S = q.shape[-2], k.shape[-2]
        keep = Tensor._make(q._xp.tril(q._xp.ones((L, S), dtype=bool)), None)
        p = softmax(s.masked_fill(~keep, float("-inf")), -1)
    elif attn_mask is not None:
        if attn_mask.dtype == np.bool_:
            s = s.masked_fill(~attn_mask, float("-inf"))
        else:
            s = s + attn_mask
        # A query row whose keys are all masked attends to nothing: its output is 0 with zero gradients, as torch's
        # _safe_softmax (a plain softmax gives 0/0 = NaN). The row's scores are zeroed first so that no NaN reaches
        # the backward either; done for every row, without asking the device whether any such row exists (a host
        # sync, and a CUDA graph capture would fail on it).
        none = Tensor._make(q._xp.isneginf(s.array).all(-1, keepdims=True), None)
        p = softmax(s.masked_fill(none, 0.0), -1).masked_fill(none, 0.0)
    else:
        p = softmax(s, -1)
    if dropout_p > 0.0:
        p = dropout(p, dropout_p, True)
    return p @ v
