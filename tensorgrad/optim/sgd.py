"""SGD with momentum, dampening, Nesterov, weight decay and maximize (PyTorch's update rule)."""
from ._common import check_unsupported
from .optimizer import Optimizer, required
from ..tensor import Tensor


class SGD(Optimizer):
    """g = grad (+ wd * p);  buf = g at the first step, else momentum * buf + (1 - dampening) * g;
    g = g + momentum * buf (nesterov) or buf;  p -= lr * g  (p += lr * g with maximize)."""

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None):
        if lr is not required and lr < 0.0:
            raise ValueError(f"SGD: invalid learning rate {lr}")
        if momentum < 0.0:
            raise ValueError(f"SGD: invalid momentum value {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"SGD: invalid weight_decay value {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum requires a momentum and zero dampening")
        # foreach/fused are accepted for PyTorch compatibility: the math is the same per-parameter update.
        check_unsupported("SGD", differentiable=differentiable)
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize))

    def _step_group(self, group):
        lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
        wd, nesterov, maximize = group["weight_decay"], group["nesterov"], group["maximize"]
        for p in group["params"]:
            if p.grad is None:
                continue
            g = p.grad.array
            if g.dtype != p.array.dtype:
                g = g.astype(p.array.dtype)
            if maximize:
                g = -g
            if wd != 0:
                g = g + wd * p.array
            if momentum != 0:
                st = self._state(p)
                buf = st.get("momentum_buffer")
                if buf is None:
                    buf = st["momentum_buffer"] = Tensor._make(g.copy(), None)
                else:
                    buf.array *= momentum
                    buf.array += (1 - dampening) * g
                g = g + momentum * buf.array if nesterov else buf.array
            p.array -= lr * g
            p._bump()
