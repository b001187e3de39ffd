"""torch.optim.swa_utils: stochastic weight averaging and EMA of a model's weights (AveragedModel), the SWA
learning-rate schedule (SWALR) and update_bn, which recomputes BatchNorm statistics for the averaged weights.

AveragedModel keeps a deep copy of the model; update_parameters(model) folds the model's current parameters (and
buffers with use_buffers=True) into the copy: the first call copies them, later ones apply avg_fn (one tensor at a
time) or multi_avg_fn (the lists at once), by default the running mean avg + (p - avg) / (n + 1). Without
use_buffers the buffers are copied from the model each time, as torch."""
import copy
import itertools
import math

from ..autograd.grad_mode import no_grad
from ..dtypes import int64
from ..nn.module import Module
from ..nn.norm import _BatchNorm
from ..tensor import Tensor, tensor
from ._common import lerp_
from .schedulers import LRScheduler

__all__ = ["AveragedModel", "update_bn", "SWALR", "get_ema_multi_avg_fn", "get_swa_multi_avg_fn", "get_ema_avg_fn",
           "get_swa_avg_fn"]


def _check_decay(decay):
    if decay < 0.0 or decay > 1.0:
        raise ValueError(f"Invalid decay value {decay} provided. Please provide a value in [0,1] range.")


def _lerp_all(dst, src, w):
    """torch._foreach_lerp_ (ATen's two-branch lerp), in place."""
    for a, b in zip(dst, src):
        lerp_(a.array, b.array.astype(a.array.dtype, copy=False), w)
        a._bump()


def get_ema_multi_avg_fn(decay=0.999):
    """multi_avg_fn for an exponential moving average: ema = lerp(ema, p, 1 - decay)."""
    _check_decay(decay)

    def ema_update(ema_param_list, current_param_list, _):
        with no_grad():
            if ema_param_list[0].is_floating_point():
                _lerp_all(ema_param_list, current_param_list, 1 - decay)
            else:
                for p_ema, p_model in zip(ema_param_list, current_param_list):
                    p_ema.copy_(p_ema * decay + p_model * (1 - decay))
    return ema_update


def get_swa_multi_avg_fn():
    """multi_avg_fn for the running mean: avg = lerp(avg, p, 1 / (n + 1))."""
    def swa_update(averaged_param_list, current_param_list, num_averaged):
        n = float(num_averaged)
        with no_grad():
            if averaged_param_list[0].is_floating_point():
                # a Tensor count divides in the default dtype (float32), as torch's 1 / (num_averaged + 1)
                _lerp_all(averaged_param_list, current_param_list, float(1 / (num_averaged + 1)))
            else:
                for a, p in zip(averaged_param_list, current_param_list):
                    d = p - a
                    a.copy_(a + (d / (num_averaged + 1) if isinstance(num_averaged, Tensor) else d * (1.0 / (n + 1))))
    return swa_update


def get_ema_avg_fn(decay=0.999):
    """avg_fn for an exponential moving average: decay * ema + (1 - decay) * p."""
    _check_decay(decay)

    def ema_update(ema_param, current_param, num_averaged):
        with no_grad():
            return decay * ema_param + (1 - decay) * current_param
    return ema_update


def get_swa_avg_fn():
    """avg_fn for the running mean: avg + (p - avg) / (n + 1)."""
    def swa_update(averaged_param, current_param, num_averaged):
        with no_grad():
            return averaged_param + (current_param - averaged_param) / (num_averaged + 1)
    return swa_update


class AveragedModel(Module):
    def __init__(self, model, device=None, avg_fn=None, multi_avg_fn=None, use_buffers=False):
        super().__init__()
        if avg_fn is not None and multi_avg_fn is not None:
            raise AssertionError("Only one of avg_fn and multi_avg_fn should be provided")
        self.module = copy.deepcopy(model)  # new leaves: the average shares no memory with the model
        if device is not None:
            self.module = self.module.to(device)
        self.register_buffer("n_averaged", tensor(0, dtype=int64, device=device))
        self.avg_fn = avg_fn
        self.multi_avg_fn = multi_avg_fn
        self.use_buffers = use_buffers

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def update_parameters(self, model):
        """Fold model's current weights into the average (the first call copies them)."""
        mine = itertools.chain(self.module.parameters(), self.module.buffers()) if self.use_buffers \
            else self.parameters()
        theirs = itertools.chain(model.parameters(), model.buffers()) if self.use_buffers else model.parameters()
        with no_grad():
            pairs = [(a.detach(), p.detach().to(a.device)) for a, p in zip(mine, theirs)]
            n = int(self.n_averaged.item())
            if n == 0:
                for a, p in pairs:
                    a.copy_(p)
            elif self.multi_avg_fn is not None or self.avg_fn is None:
                groups = {}
                for a, p in pairs:  # torch groups the lists by device and dtype
                    groups.setdefault((str(a.device), str(a.dtype)), []).append((a, p))
                for (device, _), grp in groups.items():
                    avg, cur = [a for a, _ in grp], [p for _, p in grp]
                    if self.multi_avg_fn is not None:
                        self.multi_avg_fn(avg, cur, self.n_averaged.to(device))
                    elif device.startswith("cuda"):  # torch's foreach devices take the lerp form
                        get_swa_multi_avg_fn()(avg, cur, self.n_averaged.to(device))
                    else:
                        fn = get_swa_avg_fn()
                        for a, p in grp:
                            a.copy_(fn(a, p, self.n_averaged.to(device)))
            else:
                for a, p in pairs:
                    a.copy_(self.avg_fn(a, p, self.n_averaged.to(a.device)))
            if not self.use_buffers:
                for b_swa, b_model in zip(self.module.buffers(), model.buffers()):
                    b_swa.copy_(b_model.detach().to(b_swa.device))
            self.n_averaged += 1


def update_bn(loader, model, device=None):
    """One pass over ``loader`` in training mode to recompute every BatchNorm's running statistics as a plain
    average (momentum None) of the batches; (input, target) batches use their first item."""
    momenta = {}
    for module in model.modules():
        if isinstance(module, _BatchNorm):
            module.reset_running_stats()
            momenta[module] = module.momentum
    if not momenta:
        return
    was_training = model.training
    model.train()
    for module in momenta:
        module.momentum = None
    with no_grad():
        for input in loader:
            if isinstance(input, (list, tuple)):
                input = input[0]
            if device is not None:
                input = input.to(device)
            model(input)
    for module, m in momenta.items():
        module.momentum = m
    model.train(was_training)


class SWALR(LRScheduler):
    """Anneal each group's lr to its swa_lr over anneal_epochs steps (cosine or linear), then hold it."""

    def __init__(self, optimizer, swa_lr, anneal_epochs=10, anneal_strategy="cos", last_epoch=-1):
        n = len(optimizer.param_groups)
        if isinstance(swa_lr, (list, tuple)):
            if len(swa_lr) != n:
                raise ValueError(f"swa_lr must have the same length as optimizer.param_groups: "
                                 f"swa_lr has {len(swa_lr)}, optimizer.param_groups has {n}")
            swa_lrs = list(swa_lr)
        else:
            swa_lrs = [swa_lr] * n
        for lr, group in zip(swa_lrs, optimizer.param_groups):
            group["swa_lr"] = lr
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy}")
        self._set_anneal_func(anneal_strategy)
        if not isinstance(anneal_epochs, int) or anneal_epochs < 0:
            raise ValueError(f"anneal_epochs must be equal or greater than 0, got {anneal_epochs}")
        self.anneal_epochs = anneal_epochs
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _linear_anneal(t):
        return t

    @staticmethod
    def _cosine_anneal(t):
        return (1 - math.cos(math.pi * t)) / 2

    @staticmethod
    def _get_initial_lr(lr, swa_lr, alpha):
        return swa_lr if alpha == 1 else (lr - alpha * swa_lr) / (1 - alpha)

    def _set_anneal_func(self, strategy):
        self._anneal_strategy = strategy
        self.anneal_func = self._cosine_anneal if strategy == "cos" else self._linear_anneal

    def get_lr(self):
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        prev_alpha = self.anneal_func(max(0, min(1, (step - 1) / max(1, self.anneal_epochs))))
        prev_lrs = [self._get_initial_lr(g["lr"], g["swa_lr"], prev_alpha) for g in self.optimizer.param_groups]
        alpha = self.anneal_func(max(0, min(1, step / max(1, self.anneal_epochs))))
        return [g["swa_lr"] * alpha + lr * (1 - alpha) for g, lr in zip(self.optimizer.param_groups, prev_lrs)]

    def state_dict(self):
        return {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "anneal_func")}

    def load_state_dict(self, state_dict):
        self.__dict__.update(state_dict)
        self._set_anneal_func(self._anneal_strategy)
