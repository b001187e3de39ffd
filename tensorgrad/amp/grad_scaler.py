"""GradScaler: dynamic loss scaling for float16 training.

scale(loss) multiplies by S; unscale_(opt) divides the grads by S and records whether any is inf/nan;
step(opt) skips the update when one was; update() halves S after an overflow and doubles it after
``growth_interval`` clean steps. Works with gradient accumulation (scale every micro-batch's loss,
unscale once) and with clip_grad_norm_ (call unscale_ first).

On CUDA the scale, the growth tracker and the overflow flags live in device scalars (created at the first
scale() of a cuda loss) and every decision is made on the device: no host synchronisation per step, and the
whole sequence can be captured in a CUDA graph. A capturable optimizer (AdamW(capturable=True)) takes the
overflow flag itself and skips on the device; any other optimizer makes step() read the flag on the host.
get_scale(), found_inf() and state_dict() read the device values (one synchronisation each).
"""
import numpy as np

import warnings

from ..backend import cuda_available, xp_of
from ..tensor import Tensor


class GradScaler:
    """torch.amp.GradScaler. device: None (tensorgrad's default: scale on whatever device the loss is, CPU float16
    training included) or "cuda"/"cpu" as torch; "cuda" without a GPU disables the scaler with a warning, as torch
    does. A number in the first position is taken as init_scale (torch.cuda.amp.GradScaler's order)."""

    def __init__(self, device=None, init_scale=2.0 ** 16, growth_factor=2.0, backoff_factor=0.5, growth_interval=2000,
                 enabled=True):
        if isinstance(device, (int, float)) and not isinstance(device, bool):
            device, init_scale = None, device
        if device is not None and str(device).split(":")[0] == "cuda" and enabled and not cuda_available():
            warnings.warn("tensorgrad.amp.GradScaler is enabled, but CUDA is not available.  Disabling.",
                          UserWarning, stacklevel=2)
            enabled = False
        self.device = device
        if growth_factor <= 1.0 or not 0.0 < backoff_factor < 1.0:
            raise ValueError(f"GradScaler: need growth_factor > 1 and 0 < backoff_factor < 1, got {growth_factor}, {backoff_factor}")
        self._scale = float(init_scale)
        self.growth_factor = float(growth_factor)
        self.backoff_factor = float(backoff_factor)
        self.growth_interval = int(growth_interval)
        self._growth_tracker = 0
        self.enabled = enabled
        self._per_opt = {}  # id(optimizer) -> {"unscaled": bool, "found_inf": bool or device scalar}
        self._dev = None    # cuda: {"scale": float32, "tracker": int32} 0-d cupy arrays

    def is_enabled(self):
        return self.enabled

    def get_scale(self):
        if not self.enabled:
            return 1.0
        return float(self._dev["scale"]) if self._dev is not None else self._scale

    def scale(self, loss):
        if not self.enabled:
            return loss
        if loss.device.type == "cuda":
            if self._dev is None:
                xp = loss._xp
                self._dev = {"scale": xp.full((), self._scale, dtype=np.float32),
                             "tracker": xp.full((), self._growth_tracker, dtype=np.int32)}
            return loss * Tensor._make(self._dev["scale"], None)
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
        if self._dev is not None:
            found = None
            inv = 1.0 / self._dev["scale"]
            for g in self._grads(optimizer):
                xp = g._xp
                g.array *= inv.astype(g.array.dtype)
                bad = ~xp.isfinite(g.array).all()
                found = bad if found is None else (found | bad)
            st["unscaled"] = True
            st["found_inf"] = found.astype(np.float32) if found is not None else self._dev["scale"] * 0
            return
        inv = 1.0 / self._scale
        found = False
        for g in self._grads(optimizer):
            xp = g._xp
            g.array *= g.array.dtype.type(inv)
            if not found and not bool(xp.isfinite(g.array).all()):
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
        if self._dev is not None:
            if getattr(optimizer, "capturable", False):
                return optimizer.step(*args, found_inf=st["found_inf"], **kwargs)
            if bool(st["found_inf"]):
                return None
            return optimizer.step(*args, **kwargs)
        if st["found_inf"]:
            return None
        return optimizer.step(*args, **kwargs)

    def update(self, new_scale=None):
        if not self.enabled:
            return
        if self._dev is not None:
            self._update_device(new_scale)
        elif new_scale is not None:
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

    def _update_device(self, new_scale):
        d = self._dev
        if new_scale is not None:
            d["scale"].fill(float(new_scale))
            return
        flags = [st["found_inf"] for st in self._per_opt.values()]
        if not flags:
            return
        found = flags[0]
        for f in flags[1:]:
            found = found + f
        xp = xp_of(d["scale"])
        found = found != 0
        tracker = xp.where(found, 0, d["tracker"] + 1).astype(np.int32)
        grow = tracker >= self.growth_interval
        d["scale"][...] = xp.where(found, d["scale"] * np.float32(self.backoff_factor),
                                   xp.where(grow, d["scale"] * np.float32(self.growth_factor), d["scale"]))
        d["tracker"][...] = xp.where(grow, 0, tracker)

    def found_inf(self, optimizer):
        st = self._per_opt.get(id(optimizer))
        return bool(st and bool(st["found_inf"]))

    def _sync_from_device(self):
        if self._dev is not None:
            self._scale = float(self._dev["scale"])
            self._growth_tracker = int(self._dev["tracker"])

    def state_dict(self):
        self._sync_from_device()
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
        if self._dev is not None:
            self._dev["scale"].fill(self._scale)
            self._dev["tracker"].fill(self._growth_tracker)
