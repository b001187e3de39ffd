"""Adam and AdamW. All float32/float64 parameters of a group that share a step count and a device are updated
by ONE call of the fused multi-tensor kernel ``adamw_step`` (backend.kernels: csrc/cpu, csrc/cuda, or the xp
reference). Adam's L2 decay is folded into the gradient first (g + wd * p) and the kernel runs with weight_decay=0;
AdamW's decoupled decay (p *= 1 - lr * wd) is done by the kernel. amsgrad and float16 parameters take the
per-tensor xp path below, which is the same math."""
import numpy as np

from ..backend import kernels, xp_of
from ..backend.capture import is_capturing
from ..tensor import Tensor
from ._common import refuse_sparse
from .optimizer import Optimizer


class Adam(Optimizer):
    _decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, *,
                 foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=False):
        if differentiable:
            raise ValueError(f"{type(self).__name__}: differentiable=True is not supported (updates are not recorded)")
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
        # capturable: the learning rate and the step count live in device scalars (one pair per group) that the
        # update kernel reads, so a CUDA graph replaying step() follows the lr schedule and the bias
        # corrections (tensorgrad.cuda.graphs). Each state's "step" is then that shared 0-d float32 tensor.
        self.capturable = bool(capturable)
        if decoupled_weight_decay:  # torch 2.13: Adam(decoupled_weight_decay=True) is AdamW
            self._decoupled = True
        if self.capturable and amsgrad:
            raise ValueError(f"{type(self).__name__}: capturable=True does not support amsgrad")
        self._lr_dev, self._step_dev, self._found_inf = {}, {}, None

    def step(self, closure=None, found_inf=None):
        """found_inf (capturable only): a device scalar, non-zero to skip this update (GradScaler's overflow
        flag), so that skipping needs no host synchronisation."""
        if not self.capturable:
            if found_inf is not None:
                raise TypeError(f"{type(self).__name__}.step: found_inf is only accepted with capturable=True")
            return super().step(closure)
        if not is_capturing():
            self._capturable_advance()
        self._found_inf = found_inf
        try:
            return super().step(closure)
        finally:
            self._found_inf = None

    def _capturable_advance(self):
        """Write each group's current lr into its device scalar (outside any capture: before every replay)."""
        for group in self.param_groups:
            lr = self._lr_dev.get(id(group))
            if lr is not None:
                lr.fill(group["lr"])

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        self._step_dev = {}   # rebuilt from the loaded integer step counts at the next step

    def _step_group_capturable(self, group):
        (beta1, beta2), eps, wd = group["betas"], group["eps"], group["weight_decay"]
        live = [p for p in group["params"] if p.grad is not None]
        if not live:
            return
        for p in live:
            if p.array.dtype != np.float32 or (p.device.type == "cuda") != (live[0].device.type == "cuda"):
                raise TypeError(f"{type(self).__name__}(capturable=True): needs float32 parameters on one device "
                                f"type; got shape {tuple(p.shape)}, dtype {p.dtype} on {p.device}")
        xp = xp_of(live[0].array)
        if id(group) not in self._lr_dev:
            self._lr_dev[id(group)] = xp.full((), group["lr"], dtype=np.float32)
        step = self._step_dev.get(id(group))
        if step is None:
            # integer counts (fresh or loaded state) or the 0-d step tensor of an earlier capturable optimizer
            counts = [self._state(p).get("step", 0) for p in live]
            start = max(int(round(float(c.array))) if isinstance(c, Tensor) else int(c) for c in counts)
            step = self._step_dev[id(group)] = Tensor._make(xp.full((), start, dtype=np.float32), None)
        ps, gs, ms, vs = [], [], [], []
        for p in live:
            g = self._grad(p, group)
            st = self._state(p)
            if "exp_avg" not in st:
                st["exp_avg"] = Tensor._make(xp.zeros_like(p.array), None)
                st["exp_avg_sq"] = Tensor._make(xp.zeros_like(p.array), None)
            st["step"] = step
            for lst, a in zip((ps, gs, ms, vs), (p.array, g, st["exp_avg"].array, st["exp_avg_sq"].array)):
                lst.append(a)
        found = self._found_inf
        found = found.array if isinstance(found, Tensor) else found
        # Counted on the device: a skipped (overflowed) step does not advance the bias corrections.
        step.array += np.float32(1) if found is None else xp.asarray(found == 0, dtype=np.float32)
        decoupled_wd = wd if self._decoupled else 0.0
        kernels.get("adamw_step_capturable", "cpu" if xp is np else "cuda")(
            ps, gs, ms, vs, self._lr_dev[id(group)], step.array,
            None if found is None else xp.asarray(found, dtype=np.float32), beta1, beta2, eps, decoupled_wd)
        for p in live:
            p._bump()

    def _grad(self, p, group):
        """The gradient the update uses: negated for maximize; Adam's L2 decay (not AdamW's) folded in."""
        refuse_sparse(type(self).__name__, p, ", please consider SparseAdam instead")
        g = p.grad.array
        if group["maximize"]:
            g = -g
        if group["weight_decay"] != 0 and not self._decoupled:
            g = g + group["weight_decay"] * p.array.astype(g.dtype, copy=False)
        return g

    def _step_group(self, group):
        if self.capturable:
            return self._step_group_capturable(group)
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        wd, amsgrad = group["weight_decay"], group["amsgrad"]
        batches = {}  # (device type, step) -> lists for one fused call
        for p in group["params"]:
            if p.grad is None:
                continue
            g = self._grad(p, group)
            st = self._state(p)
            if not st:
                xp = xp_of(p.array)
                st["step"] = 0
                st["exp_avg"] = Tensor._make(xp.zeros_like(p.array), None)
                st["exp_avg_sq"] = Tensor._make(xp.zeros_like(p.array), None)
                if amsgrad:
                    st["max_exp_avg_sq"] = Tensor._make(xp.zeros_like(p.array), None)
            st["step"] += 1
            if amsgrad or p.array.dtype not in (np.float32, np.float64):
                self._single(p, g, st, lr, beta1, beta2, eps, wd if self._decoupled else 0.0, amsgrad)
                continue
            if g.dtype != p.array.dtype:
                g = g.astype(p.array.dtype)
            dev = "cpu" if isinstance(p.array, np.ndarray) else "cuda"
            b = batches.setdefault((dev, st["step"]), ([], [], [], [], []))
            for lst, a in zip(b, (p.array, g, st["exp_avg"].array, st["exp_avg_sq"].array)):
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
        xp = xp_of(p.array)
        step = st["step"]
        acc = np.float64 if p.array.dtype == np.float64 else np.float32
        m, v = st["exp_avg"], st["exp_avg_sq"]
        if m.array.dtype != acc:
            m.array, v.array = m.array.astype(acc), v.array.astype(acc)
        w = p.array.astype(acc)
        g = g.astype(acc, copy=False)
        if decoupled_wd:
            w *= 1.0 - lr * decoupled_wd
        m.array *= beta1
        m.array += (1.0 - beta1) * g
        v.array *= beta2
        v.array += (1.0 - beta2) * g * g
        bc1, bc2 = 1.0 - beta1 ** step, 1.0 - beta2 ** step
        if amsgrad:
            mx = st["max_exp_avg_sq"]
            if mx.array.dtype != acc:
                mx.array = mx.array.astype(acc)
            xp.maximum(mx.array, v.array, out=mx.array)
            denom = xp.sqrt(mx.array) / np.sqrt(bc2) + eps
        else:
            denom = xp.sqrt(v.array) / np.sqrt(bc2) + eps
        w -= (lr / bc1) * m.array / denom
        p.array[...] = w.astype(p.array.dtype, copy=False)
        p._bump()


class AdamW(Adam):
    """Adam with decoupled weight decay: p *= 1 - lr * wd before the Adam update (default wd = 0.01)."""
    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
                 maximize=False, foreach=None, capturable=False, differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize, foreach=foreach,
                         capturable=capturable, differentiable=differentiable, fused=fused)
