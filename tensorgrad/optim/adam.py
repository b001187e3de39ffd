"""Adam and AdamW. All float32/float64 parameters of a group that share a step count and a device are updated
by ONE call of the fused multi-tensor kernel ``adamw_step`` (backend.kernels: csrc/cpu, csrc/cuda, or the xp
reference). Adam's L2 decay is folded into the gradient first (g + wd * p) and the kernel runs with weight_decay=0;
AdamW's decoupled decay (p *= 1 - lr * wd) is done by the kernel. amsgrad and float16 parameters take the
per-tensor xp path below, which is the same math."""
import numpy as np

from ..backend import kernels, xp_of
from ..tensor import Tensor
from .optimizer import Optimizer


class Adam(Optimizer):
    _decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
                 maximize=False, foreach=None, fused=None):
        if not 0.0 <= lr:
            raise ValueError(f"{type(self).__name__}: invalid learning rate {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"{type(self).__name__}: invalid epsilon value {eps}")
        for i, b in enumerate(betas):
            if not 0.0 <= b < 1.0:
                raise ValueError(f"{type(self).__name__}: invalid beta parameter at index {i}: {b}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"{type(self).__name__}: invalid weight_decay value {weight_decay}")
        # foreach/fused are accepted for PyTorch compatibility: the fused kernel is always used when it applies.
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize))

    def _step_group(self, group):
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        wd, amsgrad, maximize = group["weight_decay"], group["amsgrad"], group["maximize"]
        batches = {}  # (device type, step) -> lists for one fused call
        for p in group["params"]:
            if p.grad is None:
                continue
            g = p.grad.data
            if maximize:
                g = -g
            if wd != 0 and not self._decoupled:
                g = g + wd * p.data.astype(g.dtype, copy=False)
            st = self._state(p)
            if not st:
                xp = xp_of(p.data)
                st["step"] = 0
                st["exp_avg"] = Tensor._make(xp.zeros_like(p.data), None)
                st["exp_avg_sq"] = Tensor._make(xp.zeros_like(p.data), None)
                if amsgrad:
                    st["max_exp_avg_sq"] = Tensor._make(xp.zeros_like(p.data), None)
            st["step"] += 1
            if amsgrad or p.data.dtype not in (np.float32, np.float64):
                self._single(p, g, st, lr, beta1, beta2, eps, wd if self._decoupled else 0.0, amsgrad)
                continue
            if g.dtype != p.data.dtype:
                g = g.astype(p.data.dtype)
            dev = "cpu" if isinstance(p.data, np.ndarray) else "cuda"
            b = batches.setdefault((dev, st["step"]), ([], [], [], [], []))
            for lst, a in zip(b, (p.data, g, st["exp_avg"].data, st["exp_avg_sq"].data)):
                lst.append(a)
            b[4].append(p)
        for (dev, step), (ps, gs, ms, vs, params) in batches.items():
            kernels.get("adamw_step", dev)(ps, gs, ms, vs, lr, beta1, beta2, eps,
                                           wd if self._decoupled else 0.0, step)
            for p in params:
                p._bump()

    @staticmethod
    def _single(p, g, st, lr, beta1, beta2, eps, decoupled_wd, amsgrad):
        """One tensor, PyTorch's single-tensor math; moments and arithmetic in float32 for float16 params."""
        xp = xp_of(p.data)
        step = st["step"]
        acc = np.float64 if p.data.dtype == np.float64 else np.float32
        m, v = st["exp_avg"], st["exp_avg_sq"]
        if m.data.dtype != acc:
            m.data, v.data = m.data.astype(acc), v.data.astype(acc)
        w = p.data.astype(acc)
        g = g.astype(acc, copy=False)
        if decoupled_wd:
            w *= 1.0 - lr * decoupled_wd
        m.data *= beta1
        m.data += (1.0 - beta1) * g
        v.data *= beta2
        v.data += (1.0 - beta2) * g * g
        bc1, bc2 = 1.0 - beta1 ** step, 1.0 - beta2 ** step
        if amsgrad:
            mx = st["max_exp_avg_sq"]
            if mx.data.dtype != acc:
                mx.data = mx.data.astype(acc)
            xp.maximum(mx.data, v.data, out=mx.data)
            denom = xp.sqrt(mx.data) / np.sqrt(bc2) + eps
        else:
            denom = xp.sqrt(v.data) / np.sqrt(bc2) + eps
        w -= (lr / bc1) * m.data / denom
        p.data[...] = w.astype(p.data.dtype, copy=False)
        p._bump()


class AdamW(Adam):
    """Adam with decoupled weight decay: p *= 1 - lr * wd before the Adam update (default wd = 0.01)."""
    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False,
                 maximize=False, foreach=None, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize, foreach, fused)
