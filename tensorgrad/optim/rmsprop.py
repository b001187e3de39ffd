"""RMSprop (PyTorch's update rule, centered and momentum variants included)."""
from ..tensor import Tensor
from ._common import check, check_unsupported, ZEROS, with_grads, lerp_
from .optimizer import Optimizer


class RMSprop(Optimizer):
    """g = grad (+ wd * p);  square_avg = alpha * square_avg + (1 - alpha) * g^2;
    avg = sqrt(square_avg - grad_avg^2) + eps with centered (grad_avg = lerp(grad_avg, g, 1 - alpha)),
    else sqrt(square_avg) + eps;  buf = momentum * buf + g / avg, p -= lr * buf with momentum > 0,
    else p -= lr * g / avg  (g negated first with maximize)."""

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                 capturable=False, foreach=None, maximize=False, differentiable=False):
        check(0.0 <= lr, "RMSprop", "learning rate", lr)
        check(0.0 <= eps, "RMSprop", "epsilon value", eps)
        check(0.0 <= momentum, "RMSprop", "momentum value", momentum)
        check(0.0 <= weight_decay, "RMSprop", "weight_decay value", weight_decay)
        check(0.0 <= alpha, "RMSprop", "alpha value", alpha)
        check_unsupported("RMSprop", capturable, differentiable)
        super().__init__(params, dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                                      weight_decay=weight_decay, maximize=maximize))

    def _step_group(self, group):
        lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
        momentum, centered = group["momentum"], group["centered"]
        for p, g, xp, st in with_grads(self, group, square_avg=ZEROS):
            # Created when first needed, so a group switched to momentum/centered mid-run starts from zeros
            # (torch raises a KeyError there).
            if momentum > 0 and "momentum_buffer" not in st:
                st["momentum_buffer"] = Tensor._make(xp.zeros_like(p.array), None)
            if centered and "grad_avg" not in st:
                st["grad_avg"] = Tensor._make(xp.zeros_like(p.array), None)
            sq = st["square_avg"].array
            sq *= alpha
            sq += (1 - alpha) * g * g
            if centered:
                ga = st["grad_avg"].array
                lerp_(ga, g, 1 - alpha)
                avg = xp.sqrt(sq - ga * ga)
            else:
                avg = xp.sqrt(sq)
            avg += eps
            if momentum > 0:
                buf = st["momentum_buffer"].array
                buf *= momentum
                buf += g / avg
                p.array -= lr * buf
            else:
                p.array += -lr * g / avg
            p._bump()
