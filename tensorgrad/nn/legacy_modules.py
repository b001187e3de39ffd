"""Torch's legacy modules still in torch.nn: CrossMapLRN2d (Lua Torch's cross-channel LRN) and the deprecated
Container (a Module taking its children as keyword arguments)."""
import warnings

import numpy as np

from ..tensor import Tensor
from .module import Module


def _cross_map_window(channels, size):
    """(C, C) 0/1 matrix: row c marks the squares torch's CrossMapLRN2d sums for channel c. Its running-sum loop
    (torch/nn/modules/_functions.py) adds channel c + pre_pad - 1 and drops channel c - pre_pad only for
    c > pre_pad, so channel 0 is never dropped: every channel c >= pre_pad also sums channel 0's square. That is
    torch's forward, kept as it is so that models trained with it give the same outputs."""
    pre_pad = int((size - 1) / 2 + 1)
    w = np.zeros((channels, channels))
    for c in range(channels):
        hi = min(c + pre_pad - 1, channels - 1)
        w[c, :hi + 1] = 1.0
        w[c, 1:max(c - pre_pad, 0) + 1] = 0.0
    return w


class CrossMapLRN2d(Module):
    """x / (k + alpha / size * sum of squares over a window of channels) ** beta on (N, C, H, W) input, torch's
    forward exactly (see _cross_map_window). The gradient is autograd's, the true gradient of that forward; torch's
    hand-written backward is the gradient of the windowed LRN without the channel-0 term, so it differs from this
    (and fails torch's own gradcheck) wherever that term is present: channels >= pre_pad + 1."""

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, input):
        if not isinstance(input, Tensor) or input.ndim != 4:
            got = f"{input.ndim}D" if isinstance(input, Tensor) else type(input).__name__
            raise ValueError(f"CrossMapLRN2d: Expected input to be 4D, got {got} instead.")
        w = input._xp.asarray(_cross_map_window(input.shape[1], self.size).T.astype(input.dtype))
        sums = (input * input).movedim(1, -1) @ Tensor._make(w, None)
        scale = sums.movedim(-1, 1) * (self.alpha / self.size) + self.k
        return input * scale ** -self.beta

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class Container(Module):
    """Deprecated in torch (subclass Module instead): Container(name=module, ...) adds each as a child."""

    def __init__(self, **kwargs):
        warnings.warn("`nn.Container` is deprecated. All of its functionality is now implemented in `nn.Module`. "
                      "Subclass that instead.", FutureWarning, stacklevel=2)
        super().__init__()
        for key, value in kwargs.items():
            self.add_module(key, value)
