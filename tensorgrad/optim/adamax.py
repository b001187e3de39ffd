"""Adamax (PyTorch's update rule)."""
from ._common import check, check_betas, check_unsupported, ZEROS, with_grads, lerp_
from .optimizer import Optimizer


class Adamax(Optimizer):
    """g = grad (+ wd * p);  exp_avg = lerp(exp_avg, g, 1 - beta1);  exp_inf = max(beta2 * exp_inf, |g| + eps);
    p -= lr / (1 - beta1^step) * exp_avg / exp_inf  (g negated first with maximize)."""

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, foreach=None, *,
                 maximize=False, differentiable=False, capturable=False):
        check(0.0 <= lr, "Adamax", "learning rate", lr)
        check(0.0 <= eps, "Adamax", "epsilon value", eps)
        check_betas("Adamax", betas)
        check(0.0 <= weight_decay, "Adamax", "weight_decay value", weight_decay)
        check_unsupported("Adamax", capturable, differentiable)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      maximize=maximize))

    def _step_group(self, group):
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        for p, g, xp, st in with_grads(self, group, exp_avg=ZEROS, exp_inf=ZEROS):
            m, u = st["exp_avg"].array, st["exp_inf"].array
            lerp_(m, g, 1 - beta1)
            u *= beta2
            xp.maximum(u, xp.abs(g) + eps, out=u)
            clr = lr / (1 - beta1 ** st["step"])
            p.array += -clr * m / u
            p._bump()
