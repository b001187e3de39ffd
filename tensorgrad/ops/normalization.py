"""Channel-wise normalization, as PyTorch's F.batch_norm, instance_norm, group_norm and local_response_norm, and the
channel-wise dropouts F.dropout1d / dropout2d. All are composites of differentiable ops.

The three norms compute

    y = (x - mean) * (weight * rsqrt(var + eps)) + bias

with mean and the biased var taken over the normalized dims -- batch statistics, which the gradient flows through,
or the running buffers, which are constants. The scale is formed per channel (or per sample and channel) before it
meets the full-size tensor. The mean is subtracted first rather than folded into a shift (x * scale + (bias -
mean * scale)): through the folded form autograd would get the weight's gradient as sum(g x) - mean sum(g), which
cancels when |mean| >> std.

Running buffers are updated in place, as PyTorch: running = (1 - momentum) * running + momentum * batch value,
with the unbiased variance (n / (n - 1) times the biased one) for running_var."""
import warnings

import math

import numpy as np

from ..amp.autocast import cast_float32
from ..autograd.function import Function
from ..backend import xp_of
from .indexing import pad as _pad
from .pool import _strided_sum
from .util import is_float, write_back
from ..tensor import Tensor
from .nn import Dropout
from ..random import default_generator
from .graph import vjp_by_recompute


def _check_input(op, x, min_ndim):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    if not is_float(x.dtype):
        raise TypeError(f"{op}: expected a floating point input, got {x.dtype} (shape {tuple(x.shape)})")
    if x.ndim < min_ndim:
        raise RuntimeError(f"{op}: expected an input of shape (N, C, *) with at least {min_ndim} dims, got shape "
                           f"{tuple(x.shape)}")


def _check_per_channel(op, x, **tensors):
    c = x.shape[1]
    for name, t in tensors.items():
        if t is not None and tuple(t.shape) != (c,):
            raise RuntimeError(f"{op}: {name} of shape {tuple(t.shape)} should have one entry per channel: ({c},) "
                               f"for the input of shape {tuple(x.shape)}")


def _compute(x):
    # float16 is normalized in float32 (PyTorch's accumulate type) and cast back at the end.
    return x.to(np.float32) if x.dtype == np.float16 else x


def _centered(x, dims):
    """x - mean, the mean and the biased variance over dims (keepdim)."""
    mean = x.mean(dims, keepdim=True)
    xc = x - mean
    return xc, mean, (xc * xc).mean(dims, keepdim=True)


def _scale_shift(xc, var, weight, bias, eps, cshape):
    scale = (var + eps).rsqrt()
    if weight is not None:
        scale = scale * weight.reshape(cshape)
    y = xc * scale
    return y + bias.reshape(cshape) if bias is not None else y


def _empty(x, weight, bias, cshape):
    """No elements: nothing to normalize, but the result stays connected to weight and bias (as PyTorch)."""
    y = x * weight.reshape(cshape) if weight is not None else x.clone()
    return y + bias.reshape(cshape) if bias is not None else y


def _update(op, running, batch, momentum):
    """running <- (1 - momentum) running + momentum batch, in place (batch: an array of running's shape)."""
    if running is None:
        return
    new = running.array * (1 - momentum) + batch.astype(running.dtype, copy=False) * momentum
    running._inplace_assign(new.astype(running.dtype, copy=False), f"{op} (running statistics update)")


def _check_momentum(op, momentum):
    if isinstance(momentum, bool) or not isinstance(momentum, (int, float, np.floating, np.integer)):
        raise TypeError(f"{op}: momentum must be a float, got {momentum!r} (the BatchNorm modules turn "
                        "momentum=None into a cumulative average)")


# ------------------------------------------------------------------------------------------------ batch_norm
class BatchNorm(Function):
    """Training-mode batch norm of x (N, C, L) with batch statistics per channel: xhat = (x - mean) * rstd,
    y = xhat * weight + bias (weight, bias: (C,) or None). One class with the closed-form backward

        dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)),  dxhat = g * weight,

    instead of the composite's dozen ops and their full-size temporaries (4.7x PyTorch's time as a composite).
    The batch mean and biased variance go into ``stats`` for the running buffers."""

    def forward(self, x, weight, bias, eps, stats):
        xp = xp_of(x)
        mean = x.mean(axis=(0, 2), keepdims=True)
        xhat = x - mean
        var = xp.mean(xhat * xhat, axis=(0, 2), keepdims=True)
        rstd = (1.0 / xp.sqrt(var + eps)).astype(x.dtype, copy=False)
        xhat *= rstd
        stats.extend((mean, var))
        self.bias_dtype = None if bias is None else bias.dtype
        self.eps = eps
        self.save_for_backward(xhat, rstd, weight)
        y = xhat * weight.reshape(1, -1, 1) if weight is not None else xhat.copy()
        if bias is not None:
            y += bias.reshape(1, -1, 1)
        return y.astype(x.dtype, copy=False)

    def backward(self, g):
        xhat, rstd, weight = self.saved_tensors
        nx, nw, nb = self.needs_input_grad[:3]
        dw = (g * xhat).sum(axis=(0, 2)).astype(weight.dtype, copy=False) if nw else None
        db = g.sum(axis=(0, 2)).astype(self.bias_dtype, copy=False) if nb else None
        dx = None
        if nx:
            dxhat = g * weight.reshape(1, -1, 1) if weight is not None else g
            dx = dxhat - dxhat.mean(axis=(0, 2), keepdims=True)
            dx -= xhat * (dxhat * xhat).mean(axis=(0, 2), keepdims=True)
            dx *= rstd
        return dx, dw, db, None, None

    def backward_graph(self, g):
        xhat, rstd, weight = self.saved_tensors
        eps, c = self.eps, xhat.shape[1]
        # x - mean as the input's graph Tensor (batch norm is shift-invariant in every derivative)
        x = self.input(0, xhat / rstd)
        w = None if weight is None else self.input(1, weight)
        b = None if self.bias_dtype is None else self.input(2, xp_of(xhat).zeros(c, xhat.dtype))

        def reference(x, w, b):
            xc = x - x.mean(dim=(0, 2), keepdim=True)
            y = xc * ((xc * xc).mean(dim=(0, 2), keepdim=True) + eps).rsqrt()
            if w is not None:
                y = y * w.reshape(1, -1, 1)
            if b is not None:
                y = y + b.reshape(1, -1, 1)
            return y
        return vjp_by_recompute(reference, [x, w, b], g) + (None, None)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Normalizes each channel (dim 1) over the batch and every dim after 1. training=True uses the batch's
    statistics and updates the running buffers given; training=False uses the running buffers."""
    op = "batch_norm"
    _check_input(op, input, 2)
    _check_per_channel(op, input, running_mean=running_mean, running_var=running_var, weight=weight, bias=bias)
    _check_momentum(op, momentum)
    c = input.shape[1]
    cshape = (1, c) + (1,) * (input.ndim - 2)
    if not training and (running_mean is None or running_var is None):
        raise RuntimeError(f"{op}: running_mean and running_var must be given when training=False (input of shape "
                           f"{tuple(input.shape)})")
    n = input.numel() // c if c else 0
    if training and n == 1:
        raise ValueError(f"{op}: expected more than 1 value per channel when training, got input of shape "
                         f"{tuple(input.shape)}")
    x = _compute(input)
    if input.numel() == 0:
        return _empty(x, weight, bias, cshape).to(input.dtype)
    if training:
        w, b = (None if t is None else _compute(t) for t in (weight, bias))
        stats = []
        y = BatchNorm.apply(x.reshape(x.shape[0], c, -1), w, b, eps, stats).reshape(x.shape)
        mean, var = stats
        _update(op, running_mean, mean.reshape(c), momentum)
        _update(op, running_var, var.reshape(c) * (n / (n - 1)), momentum)
        return y.to(input.dtype)
    else:
        xc = x - Tensor._make(running_mean.array.reshape(cshape), None)
        var = Tensor._make(running_var.array.reshape(cshape), None)
    return _scale_shift(xc, var, weight, bias, eps, cshape).to(input.dtype)


# --------------------------------------------------------------------------------------------- instance_norm
def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-5):
    """Normalizes each (sample, channel) over the dims after 1. With use_input_stats, the running buffers given
    move towards the batch average of the per-instance statistics; without, they are used instead."""
    op = "instance_norm"
    _check_input(op, input, 2)
    _check_per_channel(op, input, running_mean=running_mean, running_var=running_var, weight=weight, bias=bias)
    _check_momentum(op, momentum)
    c = input.shape[1]
    cshape = (1, c) + (1,) * (input.ndim - 2)
    s = int(math.prod(input.shape[2:]))
    if use_input_stats and s == 1:
        raise ValueError(f"{op}: expected more than 1 spatial element when training, got input of shape "
                         f"{tuple(input.shape)}")
    if not use_input_stats and (running_mean is None or running_var is None):
        raise RuntimeError(f"{op}: running_mean and running_var must be given when use_input_stats=False (input "
                           f"of shape {tuple(input.shape)})")
    x = _compute(input)
    if input.numel() == 0:
        return _empty(x, weight, bias, cshape).to(input.dtype)
    if use_input_stats:
        xc, mean, var = _centered(x, tuple(range(2, x.ndim)))
        _update(op, running_mean, mean.array.reshape(-1, c).mean(axis=0), momentum)
        _update(op, running_var, var.array.reshape(-1, c).mean(axis=0) * (s / (s - 1)), momentum)
    else:
        xc = x - Tensor._make(running_mean.array.reshape(cshape), None)
        var = Tensor._make(running_var.array.reshape(cshape), None)
    return _scale_shift(xc, var, weight, bias, eps, cshape).to(input.dtype)


# ------------------------------------------------------------------------------------------------ group_norm
def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalizes each sample over groups of num_groups consecutive channels (and every dim after 1)."""
    op = "group_norm"
    input, weight, bias = cast_float32(input, weight, bias)  # autocast runs group_norm in float32, as PyTorch's
    _check_input(op, input, 2)
    n, c = input.shape[0], input.shape[1]
    if isinstance(num_groups, bool) or not isinstance(num_groups, (int, np.integer)) or num_groups <= 0 \
            or c % num_groups:
        raise RuntimeError(f"{op}: the {c} channels of the input of shape {tuple(input.shape)} are not divisible "
                           f"into num_groups={num_groups!r} groups")
    _check_per_channel(op, input, weight=weight, bias=bias)
    if n * c // int(num_groups) * math.prod(input.shape[2:]) == 1:  # torch's check (_verify_batch_size)
        raise ValueError(f"{op}: expected more than 1 value per channel when training, got input of shape "
                         f"{tuple(input.shape)} in {num_groups} groups")
    x = _compute(input)
    if input.numel() == 0:
        return _empty(x, weight, bias, (1, c) + (1,) * (input.ndim - 2)).to(input.dtype)
    g = int(num_groups)
    xc, _, var = _centered(x.reshape(n, g, -1), (2,))
    # The per-(sample, group) rstd, spread over the group's channels, so weight folds in per (sample, channel).
    rstd = (var + eps).rsqrt()
    scale = rstd.expand(n, g, c // g).reshape(n, c, 1)
    if weight is not None:
        scale = scale * weight.reshape(1, c, 1)
    y = xc.reshape(n, c, -1) * scale
    if bias is not None:
        y = y + bias.reshape(1, c, 1)
    return y.reshape(input.shape).to(input.dtype)


# --------------------------------------------------------------------------------------- local_response_norm
def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """input / (k + alpha * mean of input^2 over a window of `size` channels) ** beta; the window is centred
    (size // 2 channels before, (size - 1) // 2 after) and zero-padded at the ends, as PyTorch."""
    op = "local_response_norm"
    _check_input(op, input, 1)
    if input.ndim < 3:
        raise ValueError(f"{op}: expected a 3-D or higher input (N, C, *), got shape {tuple(input.shape)}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"{op}: size must be a positive int, got {size!r}")
    if input.numel() == 0:
        return input
    sq = input * input
    sq = _pad(sq, [0, 0] * (input.ndim - 2) + [size // 2, (size - 1) // 2])
    div = _strided_sum(sq, 1, int(size), 1, input.shape[1]) / size
    return input / (div * alpha + k) ** beta


# -------------------------------------------------------------------------------------- channel-wise dropout
def _channel_dropout(op, input, p, training):
    """Zeroes whole channels (dim 1) with probability p, scaling the rest by 1 / (1 - p); the mask comes from
    the default generator, as F.dropout's."""
    if not training or p == 0.0 or input.numel() == 0:
        return input
    shape = tuple(input.shape[:2]) + (1,) * (input.ndim - 2)
    keep = default_generator.random(shape, device=input.device) >= p
    scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)
    return Dropout.apply(input, (keep * input.dtype.type(scale)).astype(input.dtype))


def _check_p(op, input, p):
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(input).__name__}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: dropout probability has to be between 0 and 1, but got {p}")


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Channel-wise dropout of (N, C, L) or unbatched (C, L) input."""
    op = "dropout1d"
    _check_p(op, input, p)
    if input.ndim not in (2, 3):
        raise RuntimeError(f"{op}: expected a 2-D (C, L) or 3-D (N, C, L) input, got shape {tuple(input.shape)}")
    x = input if input.ndim == 3 else input.unsqueeze(0)
    out = _channel_dropout(op, x, p, training)
    out = input if out is x else out if input.ndim == 3 else out.squeeze(0)
    return write_back(op, input, out, inplace)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Channel-wise dropout of (N, C, H, W) input. As PyTorch, a 3-D input is taken as (N, C, L) (with a
    warning), and other ranks are accepted with a warning too."""
    op = "dropout2d"
    _check_p(op, input, p)
    if input.ndim not in (3, 4):
        warnings.warn(f"{op}: received a {input.ndim}-D input (shape {tuple(input.shape)}); dropout2d is meant "
                      "for 3-D or 4-D inputs, use dropout instead", stacklevel=2)
    if input.ndim == 3:
        warnings.warn(f"{op}: received a 3-D input (shape {tuple(input.shape)}): it is taken as (N, C, L), "
                      "channel-wise 1-D dropout, as PyTorch does; use dropout1d for that", stacklevel=2)
    return write_back(op, input, _channel_dropout(op, input, p, training), inplace)
