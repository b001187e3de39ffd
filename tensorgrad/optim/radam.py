"""RAdam (PyTorch's update rule, with its optional decoupled weight decay)."""
from ._common import check, check_betas, check_unsupported, ZEROS, with_grads, lerp_
from .optimizer import Optimizer


class RAdam(Optimizer):
    """g = grad (+ wd * p, or p *= 1 - lr * wd with decoupled_weight_decay);  exp_avg = lerp(exp_avg, g, 1 - beta1);
    exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * g^2;  rho_inf = 2 / (1 - beta2) - 1;
    rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t);  m_hat = exp_avg / (1 - beta1^t);
    p -= lr * m_hat * sqrt(1 - beta2^t) / (sqrt(exp_avg_sq) + eps) * r_t  if rho_t > 5, with
    r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t)),  else p -= lr * m_hat."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, decoupled_weight_decay=False,
                 *, foreach=None, maximize=False, capturable=False, differentiable=False):
        check(0.0 <= lr, "RAdam", "learning rate", lr)
        check(0.0 <= eps, "RAdam", "epsilon value", eps)
        check_betas("RAdam", betas)
        check(0.0 <= weight_decay, "RAdam", "weight_decay value", weight_decay)
        check_unsupported("RAdam", capturable, differentiable)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay, maximize=maximize))

    def _step_group(self, group):
        lr, (beta1, beta2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        for p, g, xp, st in with_grads(self, group, exp_avg=ZEROS, exp_avg_sq=ZEROS):
            step = st["step"]
            if wd != 0 and group["decoupled_weight_decay"]:
                p.array *= 1 - lr * wd
            m, v = st["exp_avg"].array, st["exp_avg_sq"].array
            lerp_(m, g, 1 - beta1)
            v *= beta2
            v += (1 - beta2) * g * g
            bias_correction1 = 1 - beta1 ** step
            bias_correction2 = 1 - beta2 ** step
            m_hat = m / bias_correction1
            rho_inf = 2 / (1 - beta2) - 1
            rho_t = rho_inf - 2 * step * (beta2 ** step) / bias_correction2
            if rho_t > 5.0:
                # The variance of the adaptive lr is tractable from here on: rectify it; before, plain momentum SGD.
                rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
                root = xp.sqrt(v)
                root += eps
                p.array -= m_hat * lr * (bias_correction2 ** 0.5 / root) * rect
            else:
                p.array -= m_hat * lr
            p._bump()
