"""Muon (torch.optim.Muon): momentum, then the update orthogonalized by a quintic Newton-Schulz iteration, for 2-D
parameters (hidden layers' weight matrices; biases and embeddings belong to another optimizer, as in torch).

torch runs the Newton-Schulz iteration in bfloat16 whatever the parameter's dtype: every op of it computes in
float32 (its opmath) and rounds its result to bfloat16. The iteration here does the same on float32 arrays, rounding
to the nearest bfloat16 after each of torch's ops, so its result equals torch's wherever the float32 matrix products
agree (they can differ in the order of a long accumulation: then by a bfloat16 ulp in a few entries).

One deliberate difference: for a bfloat16 parameter with nesterov=False, torch's grad.bfloat16() returns the momentum
buffer itself and the iteration's in-place div_ then rescales the buffer to unit norm every step (torch 2.13); here
the buffer keeps its momentum average, as for every other dtype."""
import math

import numpy as np

from ..backend import xp_of
from ..tensor import Tensor
from ._common import lerp_, lr_value, refuse_sparse
from .optimizer import Optimizer

# Keller Jordan's constants, torch's defaults
EPS = 1e-7
DEFAULT_A, DEFAULT_B, DEFAULT_C = 3.4445, -4.7750, 2.0315
DEFAULT_NS_STEPS = 5


def _bf16(a):
    """float32 array rounded to the nearest bfloat16 (ties to even), kept as float32; NaN stays NaN."""
    xp = xp_of(a)
    bits = a.view(np.uint32)
    rounded = ((bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1)))
               & np.uint32(0xFFFF0000)).view(np.float32)
    return xp.where(xp.isnan(a), a, rounded)


def _lerp(a, b, w):
    """a <- lerp(a, b, w) in place; for the half types computed in float32 and rounded once, as torch's lerp_."""
    if a.dtype in (np.float32, np.float64):
        lerp_(a, b.astype(a.dtype, copy=False), w)
    else:
        a32 = a.astype(np.float32)
        lerp_(a32, b.astype(np.float32), w)
        a[...] = a32.astype(a.dtype)


def zeropower_via_newtonschulz(grad, ns_coefficients, ns_steps, eps):
    """torch's _zeropower_via_newtonschulz on an xp array: X = G / ||G||_F (transposed to be wide), then ns_steps
    times A = X X^T, B = b A + c A A, X = a X + B X; in bfloat16 (float32 arrays rounded after each op)."""
    if ns_steps >= 100:
        raise ValueError(f"Muon: number of steps must be less than 100 for computational efficiency, got {ns_steps}")
    if grad.ndim != 2:
        raise ValueError(f"Muon: input tensor gradient must be a 2D matrix, got shape {tuple(grad.shape)}")
    if len(ns_coefficients) != 3:
        raise ValueError(f"Muon: coefficients must be a tuple of exactly 3 values, got {ns_coefficients}")
    xp = xp_of(grad)
    a, b, c = (np.float32(v) for v in ns_coefficients)
    x = _bf16(xp.array(grad, dtype=np.float32))  # (float64 goes to bfloat16 through float32, as c10 casts)
    wide = grad.shape[0] <= grad.shape[1]
    if not wide:
        x = xp.ascontiguousarray(x.T)
    norm = _bf16(xp.sqrt(xp.sum(x * x, dtype=np.float32)).reshape(1))
    norm = xp.maximum(norm, _bf16(xp.full(1, eps, np.float32)))
    x = _bf16(x / norm)
    for _ in range(ns_steps):
        gram = _bf16(x @ x.T)
        gram_update = _bf16(b * gram + c * (gram @ gram))
        x = _bf16(a * x + gram_update @ x)
    return x if wide else x.T


def adjust_lr(lr, adjust_lr_fn, shape):
    """torch's _adjust_lr: "original" (or None) scales by sqrt(max(1, A / B)), "match_rms_adamw" by
    0.2 * sqrt(max(A, B))."""
    A, B = shape[:2]
    if adjust_lr_fn is None or adjust_lr_fn == "original":
        ratio = math.sqrt(max(1, A / B))
    elif adjust_lr_fn == "match_rms_adamw":
        ratio = 0.2 * math.sqrt(max(A, B))
    else:
        ratio = 1.0
    return lr * ratio


class Muon(Optimizer):
    """B = lerp(B, g, 1 - momentum);  U = lerp(g, B, momentum) with nesterov, else B;  O = NS(U);
    p *= 1 - lr * wd;  p -= adjust_lr(lr) * O."""

    def __init__(self, params, lr=1e-3, weight_decay=0.1, momentum=0.95, nesterov=True,
                 ns_coefficients=(DEFAULT_A, DEFAULT_B, DEFAULT_C), eps=EPS, ns_steps=DEFAULT_NS_STEPS,
                 adjust_lr_fn=None):
        lr_v = lr_value("Muon", lr)
        if not 0.0 <= lr_v:
            raise ValueError(f"Muon: learning rate should be >= 0 but is: {lr}")
        if not 0.0 <= momentum:
            raise ValueError(f"Muon: momentum should be >= 0 but is: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Muon: weight decay should be >= 0 but is: {weight_decay}")
        if adjust_lr_fn is not None and adjust_lr_fn not in ("original", "match_rms_adamw"):
            raise ValueError(f"Muon: adjust learning rate function {adjust_lr_fn} is not supported (use None, "
                             f"'original' or 'match_rms_adamw')")
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay, momentum=momentum, nesterov=nesterov,
                                      ns_coefficients=ns_coefficients, eps=eps, ns_steps=ns_steps,
                                      adjust_lr_fn=adjust_lr_fn))
        for group in self.param_groups:
            for p in group["params"]:
                if p.ndim != 2:
                    raise ValueError(f"Muon only supports 2D parameters whereas we found a parameter with size: "
                                     f"{p.size()}")

    def _step_group(self, group):
        lr = lr_value("Muon", group["lr"])
        wd, momentum, nesterov = group["weight_decay"], group["momentum"], group["nesterov"]
        for p in group["params"]:
            if p.grad is None:
                continue
            if p.array.dtype.kind == "c":
                raise RuntimeError(f"Muon does not support complex parameters (shape {tuple(p.shape)})")
            refuse_sparse("Muon", p)
            g = p.grad.array
            if g.ndim != 2:
                raise ValueError(f"Muon: param gradient must be a 2D matrix, got shape {tuple(g.shape)}")
            st = self._state(p)
            if "momentum_buffer" not in st:
                st["momentum_buffer"] = Tensor._make(xp_of(g).zeros_like(g), None)
            buf = st["momentum_buffer"].array
            _lerp(buf, g, 1 - momentum)
            if nesterov:
                update = g.astype(buf.dtype, copy=True)
                _lerp(update, buf, momentum)
            else:
                update = buf
            ortho = zeropower_via_newtonschulz(update, group["ns_coefficients"], group["ns_steps"], group["eps"])
            lr_adj = adjust_lr(lr, group["adjust_lr_fn"], p.shape)
            # mul_ then add_(bf16 update, alpha): each in the parameter's dtype, computed in float32 and rounded
            # for the half types (torch's opmath)
            if p.array.dtype in (np.float32, np.float64):
                p.array *= 1 - lr * wd
                p.array += p.array.dtype.type(-lr_adj) * ortho.astype(p.array.dtype, copy=False)
            else:
                p.array[...] = (p.array.astype(np.float32) * np.float32(1 - lr * wd)).astype(p.array.dtype)
                p.array[...] = (p.array.astype(np.float32) + np.float32(-lr_adj) * ortho).astype(p.array.dtype)
            p._bump()
