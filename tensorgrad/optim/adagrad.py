"""Adagrad (PyTorch's update rule)."""
from ..backend import xp_of
from ..tensor import Tensor
from ._common import check, check_unsupported, grad_of, sparse_grad
from .optimizer import Optimizer


class Adagrad(Optimizer):
    """g = grad (+ wd * p);  sum += g^2;  p -= clr * g / (sqrt(sum) + eps) with clr = lr / (1 + (step - 1) * lr_decay)
    (g negated first with maximize). As in torch, every parameter's state exists from construction, the sums
    starting at initial_accumulator_value (the constructor's value, also for groups added later)."""

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
                 foreach=None, *, maximize=False, differentiable=False, fused=None):
        check(0.0 <= lr, "Adagrad", "learning rate", lr)
        check(0.0 <= lr_decay, "Adagrad", "lr_decay value", lr_decay)
        check(0.0 <= weight_decay, "Adagrad", "weight_decay value", weight_decay)
        check(0.0 <= initial_accumulator_value, "Adagrad", "initial_accumulator_value", initial_accumulator_value)
        check(0.0 <= eps, "Adagrad", "epsilon value", eps)
        check_unsupported("Adagrad", differentiable=differentiable)
        # foreach/fused are accepted for PyTorch compatibility: the math is the same per-parameter update.
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, maximize=maximize))
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p)

    def _init_state(self, p):
        st = self._state(p)
        st["step"] = 0
        st["sum"] = Tensor._make(xp_of(p.array).full_like(p.array, self.defaults["initial_accumulator_value"]), None)
        return st

    def _step_group(self, group):
        lr, lr_decay, eps = group["lr"], group["lr_decay"], group["eps"]
        for p in group["params"]:
            if p.grad is None:
                continue
            st = self.state.get(p) or self._init_state(p)
            st["step"] += 1
            clr = lr / (1 + (st["step"] - 1) * lr_decay)
            if sparse_grad(p):
                self._sparse_update(p, group, st, clr)
                continue
            g = grad_of(p, group)
            s = st["sum"].array
            s += g * g
            std = xp_of(s).sqrt(s)
            std += eps
            p.array += -clr * g / std
            p._bump()

    @staticmethod
    def _sparse_update(p, group, st, clr):
        """torch's Adagrad on a sparse gradient: the gradient coalesced, then only its rows' sums and values change
        (sum[rows] += v^2;  p[rows] -= clr * v / (sqrt(sum[rows]) + eps)); weight decay is refused, as torch does."""
        if group["weight_decay"] != 0:
            raise RuntimeError(f"Adagrad: weight_decay option is not compatible with sparse gradients (parameter of "
                               f"shape {tuple(p.shape)}, weight_decay={group['weight_decay']})")
        g = p.grad.array.coalesce()
        vals = g.values.astype(p.array.dtype, copy=False)
        if group["maximize"]:
            vals = -vals
        rows = tuple(g.indices)
        s = st["sum"].array
        s[rows] += vals * vals
        std = xp_of(s).sqrt(s[rows])
        std += group["eps"]
        p.array[rows] += -clr * (vals / std)
        p._bump()
