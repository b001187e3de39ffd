"""Rprop (PyTorch's update rule, its single-tensor path operation by operation)."""
from ._common import check, check_unsupported, refuse_sparse
from .optimizer import Optimizer
from ..backend import xp_of
from ..tensor import Tensor


class Rprop(Optimizer):
    """Per element: s = sign(g * prev) mapped to etaplus (> 0), etaminus (< 0) or 1 (= 0);
    step_size = clamp(step_size * s, *step_sizes);  g = 0 where s is etaminus (the sign flipped: skip this step);
    p -= sign(g) * step_size;  prev = g.  Only the gradients' signs matter, so there is no weight decay."""

    def __init__(self, params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *, capturable=False, foreach=None,
                 maximize=False, differentiable=False):
        check(0.0 <= lr, "Rprop", "learning rate", lr)
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Rprop: invalid eta values: {etas[0]}, {etas[1]} (0 < etaminus < 1 < etaplus needed)")
        check_unsupported("Rprop", capturable, differentiable)
        super().__init__(params, dict(lr=lr, etas=tuple(etas), step_sizes=tuple(step_sizes), maximize=maximize))

    def _step_group(self, group):
        etaminus, etaplus = group["etas"]
        lo, hi = group["step_sizes"]
        for p in group["params"]:
            if p.grad is None:
                continue
            refuse_sparse("Rprop", p)
            g = p.grad.array
            g = g.astype(p.array.dtype) if g.dtype != p.array.dtype else g
            g = -g if group["maximize"] else g
            xp = xp_of(p.array)
            st = self._state(p)
            if not st:
                st["step"] = 0
                st["prev"] = Tensor._make(xp.zeros_like(p.array), None)
                st["step_size"] = Tensor._make(xp.full_like(g, group["lr"]), None)
            st["step"] += 1
            prev, step_size = st["prev"].array, st["step_size"].array
            s = xp.sign(g * prev)
            s = xp.where(s > 0, etaplus, xp.where(s < 0, etaminus, 1.0)).astype(step_size.dtype)
            step_size *= s
            xp.clip(step_size, lo, hi, out=step_size)
            g = xp.where(s == etaminus, 0, g).astype(g.dtype)
            p.array += -(xp.sign(g) * step_size)
            p._bump()
            prev[...] = g
