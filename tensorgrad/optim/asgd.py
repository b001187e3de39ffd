"""ASGD, averaged stochastic gradient descent (PyTorch's update rule, its single-tensor path)."""
import numpy as np

from ._common import check, check_unsupported, scalar_dtype, with_grads, ZEROS
from .optimizer import Optimizer


class ASGD(Optimizer):
    """g = grad (+ wd * p);  p *= 1 - lambd * eta;  p -= eta * g;  ax = p while mu is 1, else ax += mu * (p - ax);
    then eta = lr / (1 + lambd * lr * step)^alpha and mu = 1 / max(1, step - t0). eta and mu are 0-d tensors of
    torch's scalar dtype (float32 unless the default dtype is float64), so their rounding is torch's; ax, the
    running average of the iterates after step t0, is what SWA-style evaluation reads."""

    def __init__(self, params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0, foreach=None, maximize=False,
                 differentiable=False, capturable=False):
        check(0.0 <= lr, "ASGD", "learning rate", lr)
        check(0.0 <= weight_decay, "ASGD", "weight_decay value", weight_decay)
        check_unsupported("ASGD", capturable, differentiable)
        super().__init__(params, dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay,
                                      maximize=maximize))

    def _step_group(self, group):
        lr, lambd, alpha, t0 = group["lr"], group["lambd"], group["alpha"], group["t0"]
        dt = scalar_dtype()
        # eta and mu are host scalars (0-d NumPy arrays) on every device: the update reads them as numbers
        for p, g, xp, st in with_grads(self, group, eta=lambda: np.asarray(lr, dtype=dt),
                                       mu=lambda: np.asarray(1, dtype=dt), ax=ZEROS):
            eta = float(st["eta"].array)
            p.array *= 1 - lambd * eta
            p.array += -eta * g
            p._bump()
            ax = st["ax"].array
            mu = float(st["mu"].array)
            if mu != 1:
                ax += (p.array - ax) * mu
            else:
                ax[...] = p.array
            step = st["step"]
            st["eta"].array[...] = np.asarray(lr / ((1 + lambd * lr * step) ** alpha), dtype=dt)
            st["mu"].array[...] = np.asarray(1 / max(1, step - t0), dtype=dt)
