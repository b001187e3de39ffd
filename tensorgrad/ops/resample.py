"""Resampling and the non-constant paddings, as compositions of differentiable gathers: F.interpolate
(nearest, nearest-exact, linear, bilinear, trilinear, bicubic, area), F.pad's reflect / replicate / circular modes,
pixel_shuffle / pixel_unshuffle and prelu. Gradients and double backward are those of index_select (a scatter-add,
so positions read twice get both contributions), mul and add: no Function of its own to get wrong.

Interpolation is separable: one spatial dim at a time, each output position reads 1 (nearest), 2 (linear) or 4
(cubic) input positions with weights. Positions and weights follow torch's CPU kernels (aten UpSample.h), computed
in torch's precision: float32 for nearest's index, the input's own float type for the linear/cubic source
coordinate and weights, so that floor() lands on the same input position as torch's at every output position.
"""
import math

import numpy as np

from ..tensor import Tensor
from .indexing import index_select, pad as _constant_pad
from .pool import adaptive_avg_pool1d, adaptive_avg_pool2d
from .volumetric import adaptive_avg_pool3d
from .elementwise import where
from .util import is_float

_MODES = {"nearest": None, "nearest-exact": None, "linear": 1, "bilinear": 2, "trilinear": 3, "bicubic": 2,
          "area": None}
_A = -0.75  # torch's cubic convolution coefficient


def _sizes(op, input, size, scale_factor, recompute_scale_factor):
    """Output sizes and, per dim, the scale torch's kernels divide by (None: input / output size)."""
    n = input.ndim - 2
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{op}: exactly one of size and scale_factor must be given (got size={size!r}, "
                         f"scale_factor={scale_factor!r})")
    if size is not None:
        sizes = [int(size)] * n if isinstance(size, (int, np.integer)) else [int(s) for s in size]
        if len(sizes) != n:
            raise ValueError(f"{op}: size {size!r} must have {n} entries for an input of shape {tuple(input.shape)} "
                             f"({n} spatial dims)")
        return sizes, [None] * n
    sf = [float(scale_factor)] * n if isinstance(scale_factor, (int, float, np.number)) else \
        [float(s) for s in scale_factor]
    if len(sf) != n:
        raise ValueError(f"{op}: scale_factor {scale_factor!r} must have {n} entries for an input of shape "
                         f"{tuple(input.shape)}")
    sizes = [int(math.floor(float(i) * s)) for i, s in zip(input.shape[2:], sf)]
    return sizes, [None] * n if recompute_scale_factor else sf


def _scale(t, in_size, out_size, align_corners, scale):
    """torch's area_pixel_compute_scale, in the float type t."""
    if align_corners:
        return t(in_size - 1) / t(out_size - 1) if out_size > 1 else t(0)
    return t(1.0 / scale) if scale is not None and scale > 0 else t(in_size) / t(out_size)


def _nearest(in_size, out_size, scale, exact):
    if out_size == in_size and not exact:
        return np.arange(out_size)
    f = np.float32
    s = f(1.0 / scale) if scale is not None and scale > 0 else f(in_size) / f(out_size)
    o = np.arange(out_size, dtype=f)
    src = np.floor((o + f(0.5)) * s if exact else o * s).astype(np.int64)
    return np.minimum(src, in_size - 1)


def _linear_taps(t, in_size, out_size, align_corners, scale, cubic):
    """Per output position: the (unclamped) first input position and the fraction t in [0, 1) past it."""
    s = _scale(t, in_size, out_size, align_corners, scale)
    o = np.arange(out_size).astype(t)
    real = s * o if align_corners else s * (o + t(0.5)) - t(0.5)
    if not cubic:
        real = np.maximum(real, t(0))
    # (torch's guard_index_and_lambda: the position at most the last, the fraction within [0, 1])
    first = np.minimum(np.floor(real).astype(np.int64), in_size - 1)
    return first, np.clip(real - first.astype(t), t(0), t(1)).astype(t)


def _cubic_weights(f):
    a = f.dtype.type(_A)
    x1, x2 = f, 1 - f
    c1 = lambda x: ((a + 2) * x - (a + 3)) * x * x + 1  # noqa: E731
    c2 = lambda x: ((a * x - 5 * a) * x + 8 * a) * x - 4 * a  # noqa: E731
    return [c2(x1 + 1), c1(x1), c1(x2), c2(x2 + 1)]


def _along(x, d, taps):
    """sum_k x.index_select(d, idx_k) * w_k, each w_k broadcast along dim d."""
    out = None
    for idx, w in taps:
        g = index_select(x, d, Tensor._make(x._xp.asarray(idx), None))
        if w is not None:
            shape = [1] * x.ndim
            shape[d] = len(idx)
            g = g * Tensor._make(x._xp.asarray(w.astype(x.dtype)).reshape(shape), None)
        out = g if out is None else out + g
    return out


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    op = "interpolate"
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(input).__name__}")
    if mode not in _MODES:
        raise NotImplementedError(f"{op}: mode {mode!r} is not supported; use one of {sorted(_MODES)}")
    if antialias:
        raise NotImplementedError(f"{op}: antialias=True is not supported (input shape {tuple(input.shape)})")
    spatial = _MODES[mode]
    if input.ndim < 3 or input.ndim > 5 or (spatial is not None and input.ndim - 2 != spatial):
        want = f"{spatial + 2}-d" if spatial is not None else "3-d, 4-d or 5-d"
        raise ValueError(f"{op}: mode {mode!r} expects a {want} input (batch, channels, spatial...), got shape "
                         f"{tuple(input.shape)}")
    if align_corners is not None and spatial is None:
        raise ValueError(f"{op}: align_corners can only be set with the interpolating modes (linear, bilinear, "
                         f"bicubic, trilinear), not {mode!r}")
    sizes, scales = _sizes(op, input, size, scale_factor, recompute_scale_factor)
    if mode != "area" and any(s <= 0 for s in sizes):
        raise ValueError(f"{op}: output size {tuple(sizes)} must be positive (input shape {tuple(input.shape)})")
    if mode == "area":
        pool = {3: adaptive_avg_pool1d, 4: adaptive_avg_pool2d, 5: adaptive_avg_pool3d}[input.ndim]
        return pool(input, tuple(sizes))
    if not is_float(input.dtype) and not mode.startswith("nearest"):
        raise RuntimeError(f"{op}: mode {mode!r} needs a floating point input, got {input.dtype}")
    x = input
    t = np.float64 if x.dtype == np.float64 else np.float32
    for k, (out_size, scale) in enumerate(zip(sizes, scales)):
        d = k + 2
        n = x.shape[d]
        if mode.startswith("nearest"):
            x = _along(x, d, [(_nearest(n, out_size, scale, mode == "nearest-exact"), None)])
        elif mode == "bicubic":
            first, f = _linear_taps(t, n, out_size, bool(align_corners), scale, cubic=True)
            x = _along(x, d, [(np.clip(first - 1 + j, 0, n - 1), w) for j, w in enumerate(_cubic_weights(f))])
        else:
            first, f = _linear_taps(t, n, out_size, bool(align_corners), scale, cubic=False)
            nxt = np.minimum(first + 1, n - 1)
            x = _along(x, d, [(first, 1 - f), (nxt, f)])
    return x


# ------------------------------------------------------------------------------------------- padding modes
def _pad_index(n, lo, hi, mode):
    if mode == "circular":  # torch crops first (negative amounts), then wraps around what is left
        a, b = max(-lo, 0), n - max(-hi, 0)
        return a + np.arange(-max(lo, 0), b - a + max(hi, 0)) % max(b - a, 1)
    p = np.arange(-lo, n + hi)
    if mode == "reflect":
        p = np.abs(p)
        return np.where(p > n - 1, 2 * (n - 1) - p, p)
    return np.clip(p, 0, n - 1)  # replicate


def pad(input, pad, mode="constant", value=None):
    """torch.nn.functional.pad: ``pad`` = (before, after) pairs from the LAST dim; mode constant (any dims,
    negative amounts crop), reflect, replicate or circular (the last 1-3 dims of a batched or unbatched input)."""
    if mode == "constant":
        return _constant_pad(input, pad, mode, value)
    if mode not in ("reflect", "replicate", "circular"):
        raise NotImplementedError(f"pad: mode {mode!r} is not supported; use 'constant', 'reflect', 'replicate' or "
                                  "'circular'")
    if value is not None and value != 0:
        raise ValueError(f"pad: padding mode {mode!r} doesn't take in value argument (got {value!r})")
    pad = [int(p) for p in pad]
    k = len(pad) // 2
    if len(pad) % 2 or not 1 <= k <= 3 or input.ndim not in (k + 1, k + 2):
        raise NotImplementedError(f"pad: mode {mode!r} pads the last 1, 2 or 3 dims of an input with one or two more "
                                  f"dims; got pad {pad} for an input of shape {tuple(input.shape)}")
    x = input
    for i in range(k):
        d = input.ndim - 1 - i
        n, lo, hi = input.shape[d], pad[2 * i], pad[2 * i + 1]
        # (replicate: any amount; circular: at most what is left after the crops)
        limit = {"circular": n - max(-lo, 0) - max(-hi, 0), "reflect": n - 1}.get(mode)
        if limit is not None and max(lo, hi) > limit or (mode == "circular" and limit <= 0 and max(lo, hi) > 0):
            raise RuntimeError(f"pad: {mode} padding ({lo}, {hi}) of dim {d} must be at most {limit} for its size "
                               f"{n} (input shape {tuple(input.shape)})")
        if n + lo + hi < (0 if mode == "circular" else 1):
            raise RuntimeError(f"pad: input (size {n} in dim {d}) is too small for padding ({lo}, {hi}): the output "
                               f"size would be {n + lo + hi}")
        x = index_select(x, d, Tensor._make(x._xp.asarray(_pad_index(n, lo, hi, mode)), None))
    return x


# ------------------------------------------------------------------------------------------- pixel shuffle, prelu
def pixel_shuffle(input, upscale_factor):
    r = int(upscale_factor)
    if input.ndim < 3 or input.shape[-3] % (r * r):
        raise RuntimeError(f"pixel_shuffle: expects an input of at least 3 dims whose channel dim (-3) divides by "
                           f"upscale_factor^2 = {r * r}, got shape {tuple(input.shape)}")
    *lead, c, h, w = input.shape
    x = input.reshape(*lead, c // (r * r), r, r, h, w)
    n = len(lead)
    x = x.permute(*range(n), n, n + 3, n + 1, n + 4, n + 2)
    return x.reshape(*lead, c // (r * r), h * r, w * r)


def pixel_unshuffle(input, downscale_factor):
    r = int(downscale_factor)
    if input.ndim < 3 or input.shape[-1] % r or input.shape[-2] % r:
        raise RuntimeError(f"pixel_unshuffle: expects an input of at least 3 dims whose height and width divide by "
                           f"downscale_factor = {r}, got shape {tuple(input.shape)}")
    *lead, c, h, w = input.shape
    x = input.reshape(*lead, c, h // r, r, w // r, r)
    n = len(lead)
    x = x.permute(*range(n), n, n + 2, n + 4, n + 1, n + 3)
    return x.reshape(*lead, c * r * r, h // r, w // r)


def prelu(input, weight):
    """x where x > 0, else weight * x; weight has 1 entry or one per channel (dim 1; an input of fewer dims has
    one channel, as in torch)."""
    if weight.dtype != input.dtype:
        raise RuntimeError(f"prelu: the weight's dtype {weight.dtype} differs from the input's {input.dtype} (torch "
                           "does not promote here)")
    if weight.ndim != 1 and weight.numel() != 1:
        raise RuntimeError(f"prelu: weight must be 1-d (1 entry or one per channel), got shape {tuple(weight.shape)}")
    w = weight.reshape(-1)
    c = w.shape[0]
    if c == 1:
        w = w.reshape(())
    else:
        channels = input.shape[1] if input.ndim >= 2 else 1
        if channels != c:
            raise RuntimeError(f"prelu: {c} weights but the input (shape {tuple(input.shape)}) has {channels} "
                               "channels (dim 1)")
        shape = [1] * input.ndim
        shape[1] = c
        w = w.reshape(*shape)
    # (w times the negative part only: at x = inf the weight's gradient is 0, not inf * 0, as torch's)
    positive = input > 0
    return where(positive, input, w * where(positive, 0.0, input))
