"""NAdam (PyTorch's update rule, with its optional decoupled weight decay)."""
import numpy as np

from ..backend import to_device
from ..tensor import Tensor
from ._common import check, check_betas, check_unsupported, ZEROS, with_grads, lerp_, scalar_dtype
from .optimizer import Optimizer


class NAdam(Optimizer):
    """g = grad (+ wd * p, or p *= 1 - lr * wd with decoupled_weight_decay);  mu_t = beta1 * (1 - 0.5 * 0.96^(t * psi))
    (psi = momentum_decay);  mu_product *= mu_t;  exp_avg = lerp(exp_avg, g, 1 - beta1);
    exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * g^2;  denom = sqrt(exp_avg_sq / (1 - beta2^t)) + eps;
    p -= lr * (1 - mu_t) / (1 - mu_product) * g / denom + lr * mu_{t+1} / (1 - mu_product * mu_{t+1}) * exp_avg / denom.

    As in torch, "mu_product" is a 0-d tensor kept on the host, of torch's scalar dtype (float32 unless the default
    dtype is float64), so its rounding matches torch's; load_state_dict casts it to the parameter's dtype, as torch's
    does."""

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False):
        check(0.0 <= lr, "NAdam", "learning rate", lr)
        check(0.0 <= eps, "NAdam", "epsilon value", eps)
        check_betas("NAdam", betas)
        check(0.0 <= weight_decay, "NAdam", "weight_decay value", weight_decay)
        check(0.0 <= momentum_decay, "NAdam", "momentum_decay value", momentum_decay)
        check_unsupported("NAdam", capturable, differentiable)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      momentum_decay=momentum_decay, decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize))

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        for st in self.state.values():
            mp = st.get("mu_product")
            if isinstance(mp, Tensor):
                # Read back as a float every step: on the device that would be a synchronisation per parameter.
                st["mu_product"] = Tensor._make(to_device(mp.array, "cpu"), None)
            elif mp is not None:
                st["mu_product"] = Tensor._make(np.asarray(mp, dtype=scalar_dtype()), None)

    def _step_group(self, group):
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        wd, psi = group["weight_decay"], group["momentum_decay"]
        host_one = lambda: np.ones((), dtype=scalar_dtype())  # noqa: E731 - mu_product stays on the host, as torch's
        for p, g, xp, st in with_grads(self, group, mu_product=host_one, exp_avg=ZEROS, exp_avg_sq=ZEROS):
            step = st["step"]
            bias_correction2 = 1 - beta2 ** step
            if wd != 0 and group["decoupled_weight_decay"]:
                p.array *= 1 - lr * wd
            mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * psi)))
            mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * psi)))
            mp = st["mu_product"].array
            mp *= mp.dtype.type(mu)  # in mu_product's own precision, as torch's 0-d tensor multiply
            mu_product = float(mp)
            m, v = st["exp_avg"].array, st["exp_avg_sq"].array
            lerp_(m, g, 1 - beta1)
            v *= beta2
            v += (1 - beta2) * g * g
            denom = xp.sqrt(v / bias_correction2)
            denom += eps
            p.array += (-lr * (1.0 - mu) / (1.0 - mu_product)) * g / denom
            p.array += ((-lr * mu_next) / (1.0 - mu_product * mu_next)) * m / denom
            p._bump()
