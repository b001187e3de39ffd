"""GradScaler: dynamic loss scaling for float16 training.

scale(loss) multiplies by S; unscale_(opt) divides the grads by S and records whether any is inf/nan;
step(opt) skips the update when one was; update() halves S after an overflow and doubles it after
``growth_interval`` clean steps. Works with gradient accumulation (scale every micro-batch's loss,
unscale once) and with clip_grad_norm_ (call unscale_ first).
"""
import numpy as np


class GradScaler:
    def __init__(self, init_scale=2.0 ** 16, growth_factor=2.0, backoff_factor=0.5, growth_interval=2000, enabled=True):
        if growth_factor <= 1.0 or not 0.0 < backoff_factor < 1.0:
            raise ValueError(f"GradScaler: need growth_factor > 1 and 0 < backoff_factor < 1, got {growth_factor}, {backoff_factor}")
        self._scale = float(init_scale)
        self.growth_factor = float(growth_factor)
        self.backoff_factor = float(backoff_factor)
        self.growth_interval = int(growth_interval)
        self._growth_tracker = 0
        self.enabled = enabled
        self._per_opt = {}  # id(optimizer) -> {"unscaled": bool, "found_inf": bool}

    def is_enabled(self):
        return self.enabled

    def get_scale(self):
        return self._scale if self.enabled else 1.0

    def scale(self, loss):
        if not self.enabled:
            return loss
        return loss * float(self._scale)

    def _grads(self, optimizer):
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    yield p.grad

    def unscale_(self, optimizer):
        if not self.enabled:
            return
        st = self._per_opt.setdefault(id(optimizer), {"unscaled": False, "found_inf": False})
        if st["unscaled"]:
            raise RuntimeError("GradScaler.unscale_: unscale_() has already been called on this optimizer since the last update()")
        inv = 1.0 / self._scale
        found = False
        for g in self._grads(optimizer):
            xp = g._xp
            g.data *= g.data.dtype.type(inv)
            if not found and not bool(xp.isfinite(g.data).all()):
                found = True
        st["unscaled"] = True
        st["found_inf"] = found

    def step(self, optimizer, *args, **kwargs):
        """optimizer.step() unless an inf/nan gradient was found; returns its result or None when skipped."""
        if not self.enabled:
            return optimizer.step(*args, **kwargs)
        st = self._per_opt.get(id(optimizer))
        if st is None or not st["unscaled"]:
            self.unscale_(optimizer)
            st = self._per_opt[id(optimizer)]
        if st["found_inf"]:
            return None
        return optimizer.step(*args, **kwargs)

    def update(self, new_scale=None):
        if not self.enabled:
            return
        if new_scale is not None:
            self._scale = float(new_scale)
        else:
            found = any(st["found_inf"] for st in self._per_opt.values())
            if found:
                self._scale *= self.backoff_factor
                self._growth_tracker = 0
            else:
                self._growth_tracker += 1
                if self._growth_tracker == self.growth_interval:
                    self._scale *= self.growth_factor
                    self._growth_tracker = 0
        self._per_opt = {}

    def found_inf(self, optimizer):
        st = self._per_opt.get(id(optimizer))
        return bool(st and st["found_inf"])

    def state_dict(self):
        return {"scale": self._scale, "growth_factor": self.growth_factor, "backoff_factor": self.backoff_factor,
                "growth_interval": self.growth_interval, "_growth_tracker": self._growth_tracker} if self.enabled else {}

    def load_state_dict(self, state):
        if not state:
            return
        self._scale = float(state["scale"])
        self.growth_factor = float(state["growth_factor"])
        self.backoff_factor = float(state["backoff_factor"])
        self.growth_interval = int(state["growth_interval"])
        self._growth_tracker = int(state["_growth_tracker"])
