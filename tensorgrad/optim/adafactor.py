"""Adafactor (torch.optim.Adafactor's update rule: the second moment factored into row and column means for
parameters of 2 or more dims, a relative step size, update clipping; PyTorch's use of lr and eps1 included).

Written after torch's single-tensor path, operation by operation: the row and column means of g^2 are taken over the
last and the second-to-last dim, so a (..., m, n) parameter keeps (..., m, 1) and (..., 1, n) state, and the variance
estimate is their outer product over the mean of the row factor."""
import numpy as np

from ..backend import xp_of
from ..tensor import Tensor
from ._common import lerp_, lr_value, refuse_sparse
from .optimizer import Optimizer


def _norm(xp, a):
    """||a||_2 as a float (torch's a.norm(2).item())."""
    flat = a.reshape(-1)
    return float(xp.sqrt(xp.vdot(flat, flat)))


class Adafactor(Optimizer):
    """G = grad (negated with maximize);  beta2_t-complement w = t^beta2_decay;  rho = min(lr, 1/sqrt(t));
    alpha = max(eps2, RMS(p)) * rho;  p *= 1 - lr * wd;
    dim > 1: R = lerp(R, mean(G^2, -1), w), C = lerp(C, mean(G^2, -2), w), V = R C / max(mean(R, -2), eps1);
    else V = lerp(V, G^2, w);  U = G / sqrt(max(V, eps1^2));  p -= alpha * U / max(1, RMS(U) / d).
    eps1 None means the parameter dtype's machine epsilon."""

    def __init__(self, params, lr=1e-2, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0, weight_decay=0.0, *,
                 foreach=None, maximize=False):
        lr_v = lr_value("Adafactor", lr)
        if not 0.0 <= lr_v:
            raise ValueError(f"Adafactor: learning rate should be >= 0 but is: {lr}")
        if not 0.0 >= beta2_decay:
            raise ValueError(f"Adafactor: beta2_decay should be <= 0 but is: {beta2_decay}")
        if eps[0] is not None and not 0.0 <= eps[0]:
            raise ValueError(f"Adafactor: epsilon1 should be >= 0 but is: {eps[0]}")
        if not 0.0 <= eps[1]:
            raise ValueError(f"Adafactor: epsilon2 should be >= 0 but is: {eps[1]}")
        if not 1.0 <= d:
            raise ValueError(f"Adafactor: clipping threshold d should be >= 1 but is: {d}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Adafactor: weight_decay should be >= 0 but is: {weight_decay}")
        # foreach is kept in the groups as torch keeps it; both of torch's paths compute the same update.
        super().__init__(params, dict(lr=lr, beta2_decay=beta2_decay, eps=eps, d=d, weight_decay=weight_decay,
                                      foreach=foreach, maximize=maximize))

    def _step_group(self, group):
        lr = lr_value("Adafactor", group["lr"])
        beta2_decay, (eps1, eps2), d = group["beta2_decay"], group["eps"], group["d"]
        wd, maximize = group["weight_decay"], group["maximize"]
        for p in group["params"]:
            if p.grad is None:
                continue
            if p.array.dtype.kind == "c":
                raise RuntimeError(f"Adafactor does not support complex parameters (shape {tuple(p.shape)}, "
                                   f"dtype {p.dtype})")
            refuse_sparse("Adafactor", p)
            xp = xp_of(p.array)
            g = p.grad.array
            if g.dtype != p.array.dtype:
                g = g.astype(p.array.dtype)
            if maximize:
                g = -g
            st = self._state(p)
            if not st:
                st["step"] = 0
                if g.ndim > 1:
                    st["row_var"] = Tensor._make(xp.zeros(g.shape[:-1] + (1,), g.dtype), None)
                    st["col_var"] = Tensor._make(xp.zeros(g.shape[:-2] + (1,) + g.shape[-1:], g.dtype), None)
                else:
                    st["variance"] = Tensor._make(xp.zeros_like(g), None)
            st["step"] += 1
            e1 = float(np.finfo(p.array.dtype).eps) if eps1 is None else eps1
            t = float(st["step"])
            w = t ** beta2_decay
            rho = min(lr, 1 / (t ** 0.5))
            alpha = max(eps2, _norm(xp, p.array) / (p.array.size ** 0.5)) * rho
            if wd != 0:
                p.array *= 1 - lr * wd
            if g.ndim > 1:
                gg = g * g
                row, col = st["row_var"].array, st["col_var"].array
                lerp_(row, gg.sum(axis=-1, keepdims=True) / g.shape[-1], w)
                lerp_(col, gg.sum(axis=-2, keepdims=True) / g.shape[-2], w)
                var = row * col  # row_var @ col_var: an outer product (inner dim 1), each entry one product
                var /= xp.maximum(row.mean(axis=-2, keepdims=True), e1)
            else:
                v = st["variance"].array
                lerp_(v, g * g, w)
                var = v.copy()
            update = 1.0 / xp.sqrt(xp.maximum(var, e1 * e1))
            update *= g
            denom = max(1.0, _norm(xp, update) / ((update.size ** 0.5) * d))
            p.array += (-alpha / denom) * update
            p._bump()
