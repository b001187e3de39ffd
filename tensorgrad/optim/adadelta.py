"""Adadelta (PyTorch's update rule)."""
from ._common import check, check_unsupported, ZEROS, with_grads
from .optimizer import Optimizer


class Adadelta(Optimizer):
    """g = grad (+ wd * p);  square_avg = rho * square_avg + (1 - rho) * g^2;
    delta = sqrt(acc_delta + eps) / sqrt(square_avg + eps) * g;  acc_delta = rho * acc_delta + (1 - rho) * delta^2;
    p -= lr * delta  (g negated first with maximize)."""

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *, capturable=False,
                 maximize=False, differentiable=False):
        check(0.0 <= lr, "Adadelta", "learning rate", lr)
        check(0.0 <= rho <= 1.0, "Adadelta", "rho value", rho)
        check(0.0 <= eps, "Adadelta", "epsilon value", eps)
        check(0.0 <= weight_decay, "Adadelta", "weight_decay value", weight_decay)
        check_unsupported("Adadelta", capturable, differentiable)
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize))

    def _step_group(self, group):
        lr, rho, eps = group["lr"], group["rho"], group["eps"]
        for p, g, xp, st in with_grads(self, group, square_avg=ZEROS, acc_delta=ZEROS):
            sq, acc = st["square_avg"].array, st["acc_delta"].array
            sq *= rho
            sq += (1 - rho) * g * g
            std = xp.sqrt(sq + eps)
            delta = xp.sqrt(acc + eps)
            delta /= std
            delta *= g
            acc *= rho
            acc += (1 - rho) * delta * delta
            p.array -= lr * delta
            p._bump()
