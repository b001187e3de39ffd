"""SparseAdam (torch.optim.SparseAdam): Adam for parameters whose gradients are sparse COO tensors (the weight of an
Embedding(sparse=True)). Only the rows the gradient stores are updated, their moments included ("lazy" Adam: a row
not looked up keeps its moments and its value); the bias corrections use the parameter's step count.

The update follows torch's _functional.sparse_adam operation by operation: the gradient coalesced (duplicate rows
summed), then with v the stored values and m0, s0 the moments at those rows
    dm = (v - m0) * (1 - beta1),  m[rows] += dm;   ds = (v^2 - s0) * (1 - beta2),  s[rows] += ds;
    p[rows] += -(lr * sqrt(1 - beta2^t) / (1 - beta1^t)) * ((dm + m0) / (sqrt(ds + s0) + eps))."""
import math

from ..backend import xp_of
from ..tensor import Tensor
from ._common import lr_value, sparse_grad
from .optimizer import Optimizer


class SparseAdam(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, maximize=False):
        lr_v = lr_value("SparseAdam", lr)
        if not 0.0 < lr_v:
            raise ValueError(f"SparseAdam: invalid learning rate: {lr}")
        if not 0.0 < eps:
            raise ValueError(f"SparseAdam: invalid epsilon value: {eps}")
        for i in range(2):
            if not 0.0 <= betas[i] < 1.0:
                raise ValueError(f"SparseAdam: invalid beta parameter at index {i}: {betas[i]}")
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, maximize=maximize))
        sparse_params, complex_params = [], []
        for gi, group in enumerate(self.param_groups):
            for pi, p in enumerate(group["params"]):
                if p.is_sparse:
                    sparse_params.append([gi, pi])
                elif p.array.dtype.kind == "c":
                    complex_params.append([gi, pi])
        if sparse_params:
            raise ValueError(f"Sparse params at indices {sparse_params}: SparseAdam requires dense parameter tensors")
        if complex_params:
            raise ValueError(f"Complex params at indices {complex_params}: SparseAdam does not support complex "
                             f"parameters")

    def _step_group(self, group):
        lr = lr_value("SparseAdam", group["lr"])
        (beta1, beta2), eps, maximize = group["betas"], group["eps"], group.get("maximize", False)
        for p in group["params"]:
            if p.grad is None:
                continue
            if not sparse_grad(p):
                raise RuntimeError(f"SparseAdam does not support dense gradients, please consider Adam instead "
                                   f"(parameter of shape {tuple(p.shape)})")
            xp = xp_of(p.array)
            st = self._state(p)
            if not st:
                st["step"] = 0
                st["exp_avg"] = Tensor._make(xp.zeros_like(p.array), None)
                st["exp_avg_sq"] = Tensor._make(xp.zeros_like(p.array), None)
            st["step"] += 1
            g = p.grad.array.coalesce()
            values = g.values.astype(p.array.dtype, copy=False)
            if maximize:
                values = -values
            if values.size == 0:
                continue
            rows = tuple(g.indices)
            m, s = st["exp_avg"].array, st["exp_avg_sq"].array
            m0, s0 = m[rows], s[rows]
            dm = (values - m0) * (1 - beta1)
            m[rows] += dm
            ds = (values ** 2 - s0) * (1 - beta2)
            s[rows] += ds
            numer = dm + m0
            denom = xp.sqrt(ds + s0)
            denom += eps
            step = st["step"]
            step_size = lr * math.sqrt(1 - beta2 ** step) / (1 - beta1 ** step)
            p.array[rows] += -step_size * (numer / denom)
            p._bump()
