"""SGD with momentum, dampening, Nesterov, weight decay and maximize (PyTorch's update rule)."""
from ._common import check_unsupported, sparse_grad
from .optimizer import Optimizer, required
from ..backend.sparse_coo import SparseCOO
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
            if sparse_grad(p):
                self._sparse_update(p, group)
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

    def _sparse_update(self, p, group):
        """torch's SGD on a sparse gradient (an Embedding(sparse=True) weight's): the same rule with the gradient and a
        momentum buffer born from it kept sparse, so only the rows they store change; weight decay would make the
        gradient dense, and torch refuses it."""
        lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
        g = p.grad.array.astype(p.array.dtype, copy=False)
        if group["maximize"]:
            g = -g
        if group["weight_decay"] != 0:
            raise RuntimeError(f"SGD: weight_decay={group['weight_decay']} is not supported with a sparse gradient "
                               f"(parameter of shape {tuple(p.shape)}): add(sparse, dense) is not supported")
        if momentum != 0:
            st = self._state(p)
            buf = st.get("momentum_buffer")
            if buf is None:
                buf = st["momentum_buffer"] = Tensor._make(g.copy(), None)
            else:
                b = buf.array
                b = b.with_values(b.values * momentum) if isinstance(b, SparseCOO) else b * momentum
                b = b + g.with_values(g.values * (1 - dampening))
                # coalesced, or the buffer would keep every row of every step's gradient (its sum is the same)
                buf.array = b.coalesce() if isinstance(b, SparseCOO) else b
            b = buf.array
            if group["nesterov"]:
                g = g + (b.with_values(b.values * momentum) if isinstance(b, SparseCOO) else b * momentum)
            else:
                g = b
        if isinstance(g, SparseCOO):
            g.with_values(g.values * -lr).add_to_dense(p.array, out=p.array)
        else:
            p.array -= lr * g
        p._bump()
