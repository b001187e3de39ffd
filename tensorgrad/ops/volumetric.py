"""The 3-D layers and the pooling extras, PyTorch's names, signatures and results: conv3d / conv_transpose3d (conv.py's
N-d im2col / col2im at nd=3), max_pool3d / avg_pool3d / adaptive_avg_pool3d / adaptive_max_pool3d (pool.py's per-dim
window tables at nd=3), the *_with_indices names, lp_pool1d/2d/3d, max_unpool1d/2d/3d, fractional_max_pool2d/3d and
dropout3d. All are composites of existing differentiable ops: no Function of their own.

  * max_unpool writes each value at its index of the flattened output plane (a Scatter into zeros), so the
    input's gradient is the output gradient gathered at the indices, as torch's.
  * fractional_max_pool draws one pseudo-random window sequence per (sample, channel) plane and spatial dim; the
    first maximum of each window is found on the raw arrays and the values are one Gather, as the max pools do.
"""
import math
import warnings

import numpy as np

from ..random import default_generator
from ..tensor import Tensor
from .conv import _conv, _conv_transpose
from .elementwise import relu
from .indexing import Gather, scatter
from .normalization import _channel_dropout, _check_p
from .pool import (_max_pool_nd, _avg_pool_nd, _adaptive_avg_pool_nd, _adaptive_max_pool_nd, _check_input, _ntuple)
from .util import write_back


# ------------------------------------------------------------------------------------------------ conv 3-D
def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """input (N, C_in, D, H, W) or (C_in, D, H, W), weight (C_out, C_in / groups, kd, kh, kw); padding: int, tuple,
    'same' or 'valid'."""
    return _conv("conv3d", 3, input, weight, bias, stride, padding, dilation, groups)


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """input (N, C_in, D, H, W) or (C_in, D, H, W), weight (C_in, C_out / groups, kd, kh, kw)."""
    return _conv_transpose("conv_transpose3d", 3, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


# ------------------------------------------------------------------------------------------------ pools 3-D
def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    return _max_pool_nd("max_pool3d", 3, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    # torch's 3-D average pool (unlike its 1-D/2-D ones and max_pool3d) refuses an input smaller than the kernel in
    # any spatial dim, padding or not (found by tests/test_fuzz_new_ops.py)
    if isinstance(input, Tensor) and input.ndim in (4, 5):
        k = (kernel_size,) * 3 if isinstance(kernel_size, int) else tuple(kernel_size)
        sp = tuple(input.shape[-3:])
        if len(k) == 3 and any(n < kk for n, kk in zip(sp, k)):
            raise RuntimeError(f"avg_pool3d: input image (T: {sp[0]} H: {sp[1]} W: {sp[2]}) smaller than kernel size "
                               f"(kT: {k[0]} kH: {k[1]} kW: {k[2]}) (input shape {tuple(input.shape)})")
    return _avg_pool_nd("avg_pool3d", 3, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                        divisor_override)


def adaptive_avg_pool3d(input, output_size):
    return _adaptive_avg_pool_nd("adaptive_avg_pool3d", 3, input, output_size)


def adaptive_max_pool3d(input, output_size, return_indices=False):
    return _adaptive_max_pool_nd("adaptive_max_pool3d", 3, input, output_size, return_indices)


# torch's *_with_indices: always (values, indices), whatever return_indices says.
def max_pool1d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=False):
    return _max_pool_nd("max_pool1d_with_indices", 1, input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool2d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=False):
    return _max_pool_nd("max_pool2d_with_indices", 2, input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool3d_with_indices(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                            return_indices=False):
    return _max_pool_nd("max_pool3d_with_indices", 3, input, kernel_size, stride, padding, dilation, ceil_mode, True)


def adaptive_max_pool1d_with_indices(input, output_size, return_indices=False):
    return _adaptive_max_pool_nd("adaptive_max_pool1d_with_indices", 1, input, output_size, True)


def adaptive_max_pool2d_with_indices(input, output_size, return_indices=False):
    return _adaptive_max_pool_nd("adaptive_max_pool2d_with_indices", 2, input, output_size, True)


def adaptive_max_pool3d_with_indices(input, output_size, return_indices=False):
    return _adaptive_max_pool_nd("adaptive_max_pool3d_with_indices", 3, input, output_size, True)


# ------------------------------------------------------------------------------------------------ lp pools
def _lp_pool(op, nd, input, norm_type, kernel_size, stride, ceil_mode):
    """(sum over the window of x^p)^(1/p), no padding. The sum is avg_pool times the kernel volume, passed through
    sign(s) * relu(|s|) as in torch, so that the gradient where a window sums to exactly 0 is torch's: relu's
    backward selects 0 there in place of pow's infinite slope."""
    _check_input(op, input, nd, ints=False)
    k = _ntuple(op, "kernel_size", kernel_size, nd)
    if norm_type == float("inf"):
        return _max_pool_nd(op, nd, input.abs(), k, stride, 0, 1, ceil_mode, False)
    if norm_type == -float("inf"):
        return -_max_pool_nd(op, nd, -input.abs(), k, stride, 0, 1, ceil_mode, False)
    s = _avg_pool_nd(op, nd, input.pow(norm_type), k, stride, 0, ceil_mode, True, None)
    return (s.sign() * relu(s.abs()) * math.prod(k)).pow(1.0 / norm_type)


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    return _lp_pool("lp_pool1d", 1, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    return _lp_pool("lp_pool2d", 2, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool3d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    return _lp_pool("lp_pool3d", 3, input, norm_type, kernel_size, stride, ceil_mode)


# ----------------------------------------------------------------------------------------------- max unpool
def _unpool_size(op, input, nd, kernel, stride, padding, output_size):
    default = [(n - 1) * s + k - 2 * p for n, k, s, p in zip(input.shape[-nd:], kernel, stride, padding)]
    if output_size is None:
        sizes = default
    else:
        sizes = [int(v) for v in output_size]
        if len(sizes) == nd + 2:
            sizes = sizes[2:]
        if len(sizes) != nd:
            raise ValueError(f"{op}: output_size should be a sequence of {nd} or {nd + 2} elements, but it has "
                             f"{len(sizes)}: {tuple(output_size)}")
        for d in range(nd):
            lo, hi = default[d] - stride[d], default[d] + stride[d]
            if not lo < sizes[d] < hi:
                raise ValueError(f"{op}: invalid output_size {tuple(output_size)} (dim {d} must be between {lo} and "
                                 f"{hi}, exclusive) for input of shape {tuple(input.shape)}")
    if any(v < 0 for v in sizes):
        raise ValueError(f"{op}: output_size must contain non-negative spatial dims, got {tuple(sizes)} (input of "
                         f"shape {tuple(input.shape)})")
    return tuple(sizes)


def _max_unpool(op, nd, input, indices, kernel_size, stride, padding, output_size):
    if not isinstance(input, Tensor) or not isinstance(indices, Tensor):
        raise TypeError(f"{op}: expected input and indices to be Tensors, got {type(input).__name__} and "
                        f"{type(indices).__name__}")
    if indices.dtype != np.int64:
        raise RuntimeError(f"{op}: elements in indices should be type int64, got {indices.dtype} (input of shape "
                           f"{tuple(input.shape)})")
    if tuple(input.shape) != tuple(indices.shape):
        raise RuntimeError(f"{op}: expected input and indices of one shape, got {tuple(input.shape)} and "
                           f"{tuple(indices.shape)}")
    if input.ndim not in (nd + 1, nd + 2) or any(s == 0 for s in input.shape[-(nd + 1):]):
        raise RuntimeError(f"{op}: expected a non-empty {nd + 1}-D (unbatched) or {nd + 2}-D (batched) input, got "
                           f"shape {tuple(input.shape)}")
    kernel = _ntuple(op, "kernel_size", kernel_size, nd)
    stride = kernel if stride is None else _ntuple(op, "stride", stride, nd)
    padding = _ntuple(op, "padding", padding, nd)
    sizes = _unpool_size(op, input, nd, kernel, stride, padding, output_size)
    lead = tuple(input.shape[:-nd])
    plane = math.prod(sizes)
    idx = indices.reshape(lead + (-1,))
    if idx.numel():
        lo, hi = int(idx.array.min()), int(idx.array.max())
        if lo < 0 or hi >= plane:
            bad = lo if lo < 0 else hi
            raise RuntimeError(f"{op}: found an invalid max index {bad} (the output planes {sizes} hold {plane} "
                               f"entries; input of shape {tuple(input.shape)})")
    zeros = Tensor._make(input._xp.zeros(lead + (plane,), dtype=input.dtype), None)
    out = scatter(zeros, -1, idx, input.reshape(lead + (-1,)))
    return out.reshape(lead + sizes)


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    return _max_unpool("max_unpool1d", 1, input, indices, kernel_size, stride, padding, output_size)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    return _max_unpool("max_unpool2d", 2, input, indices, kernel_size, stride, padding, output_size)


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    return _max_unpool("max_unpool3d", 3, input, indices, kernel_size, stride, padding, output_size)


# --------------------------------------------------------------------------------------- fractional max pool
def _intervals(sample, n, o, k):
    """Window starts of one dim for every plane (sample: (planes,) in the input's float type), torch's pseudo-random
    sequence: the stride alpha = (n - k) / (o - 1), start i = int((i + u) alpha) - int(u alpha), the last window
    ending at the input's end; computed in that float type as torch does."""
    t = sample.dtype.type
    seq = np.empty((sample.shape[0], o), np.int64)
    if o > 1:
        alpha = t(n - k) / t(o - 1)
        i = np.arange(o - 1).astype(sample.dtype)
        seq[:, :-1] = (((i[None, :] + sample[:, None]) * alpha).astype(np.int64)
                       - (sample * alpha).astype(np.int64)[:, None])
    if o > 0:
        seq[:, -1] = n - k
    return seq


def _fractional_max_pool(op, nd, input, kernel_size, output_size, output_ratio, return_indices, samples):
    _check_input(op, input, nd, ints=False)
    if output_size is None and output_ratio is None:
        raise ValueError(f"{op} requires specifying either an output_size or an output_ratio")
    kernel = _ntuple(op, "kernel_size", kernel_size, nd)
    spatial = tuple(input.shape[-nd:])
    if output_size is None:
        if not isinstance(output_ratio, (tuple, list)):  # torch's functional form takes only a sequence
            raise TypeError(f"{op}: output_ratio must be a tuple of {nd} ratios, got {output_ratio!r}")
        ratio = tuple(output_ratio) * nd if len(output_ratio) == 1 else tuple(output_ratio)
        if len(ratio) != nd:
            raise ValueError(f"{op}: output_ratio must be a tuple of {nd} ratios, got {output_ratio!r}")
        outs = tuple(int(n * r) for n, r in zip(spatial, ratio))
    else:
        outs = _ntuple(op, "output_size", output_size, nd)
    for n, k, o in zip(spatial, kernel, outs):
        if k < 1 or o < 0 or o + k - 1 > n:
            raise RuntimeError(f"{op}: kernel_size {kernel} with output_size {outs} is too large for input of shape "
                               f"{tuple(input.shape)} (need output_size + kernel_size - 1 <= input size per dim)")
    x = input if input.ndim == nd + 2 else input.unsqueeze(0)
    nb, c = x.shape[0], x.shape[1]
    xp = x._xp
    if samples is None:
        u = default_generator.random((nb, c, nd), dtype=x.dtype, device=x.device)
    else:
        if not isinstance(samples, Tensor) or tuple(samples.shape) != (nb, c, nd):
            got = tuple(samples.shape) if isinstance(samples, Tensor) else type(samples).__name__
            raise RuntimeError(f"{op}: expected _random_samples of shape {(nb, c, nd)} for input of shape "
                               f"{tuple(input.shape)}, got {got}")
        if samples.dtype != x.dtype:
            raise RuntimeError(f"{op}: expected _random_samples of dtype {x.dtype}, got {samples.dtype}")
        u = samples.array
    u = np.asarray(u.get() if hasattr(u, "get") else u).reshape(nb * c, nd)
    planes, size = nb * c, math.prod(spatial)
    # torch's samples are ordered (W, H) in 2-D and (T, H, W) in 3-D.
    order = (1, 0) if nd == 2 else tuple(range(nd))
    flat = np.zeros((planes,) + (1,) * (2 * nd), np.int64)
    for d in range(nd):
        starts = _intervals(u[:, order[d]], spatial[d], outs[d], kernel[d])
        shape = [planes] + [1] * (2 * nd)
        shape[1 + d] = outs[d]
        offs = [1] * (2 * nd + 1)
        offs[1 + nd + d] = kernel[d]
        pos = starts.reshape(shape) + np.arange(kernel[d]).reshape(offs)
        flat = flat + pos * math.prod(spatial[d + 1:])
    o, kk = math.prod(outs), math.prod(kernel)
    flat = np.broadcast_to(flat, (planes,) + outs + kernel).reshape(planes, o, kk)
    x2 = x.array.reshape(planes, size)
    idx = xp.asarray(flat)
    arg = _window_first_max(xp, x2, idx)
    values = Gather.apply(x.reshape(-1), (xp.arange(planes, dtype=np.int64)[:, None] * size + arg).reshape(-1), 0)
    values = values.reshape(tuple(x.shape[:2]) + outs)
    arg = Tensor._make(arg.reshape(tuple(x.shape[:2]) + outs), None)
    if input.ndim == nd + 1:
        values, arg = values.squeeze(0), arg.squeeze(0)
    return (values, arg) if return_indices else values


def _window_first_max(xp, x2, idx):
    """idx (planes, O, K) in-plane positions -> per (plane, output) the position torch picks: the first maximum in
    window order, replaced by any later NaN."""
    planes, o, kk = idx.shape
    if 0 in (planes, o):
        return xp.zeros((planes, o), np.int64)
    vals = xp.take_along_axis(x2, idx.reshape(planes, o * kk), axis=1).reshape(planes, o, kk)
    best, won = vals[:, :, 0].copy(), xp.zeros((planes, o), np.int64)
    for j in range(1, kk):
        v = vals[:, :, j]
        upd = (v > best) | xp.isnan(v)
        best = xp.where(upd, v, best)
        won = xp.where(upd, j, won)
    return xp.take_along_axis(idx, won[:, :, None], axis=2)[:, :, 0]


def fractional_max_pool2d(input, kernel_size, output_size=None, output_ratio=None, return_indices=False,
                          _random_samples=None):
    return _fractional_max_pool("fractional_max_pool2d", 2, input, kernel_size, output_size, output_ratio,
                                return_indices, _random_samples)


def fractional_max_pool3d(input, kernel_size, output_size=None, output_ratio=None, return_indices=False,
                          _random_samples=None):
    return _fractional_max_pool("fractional_max_pool3d", 3, input, kernel_size, output_size, output_ratio,
                                return_indices, _random_samples)


def fractional_max_pool2d_with_indices(input, kernel_size, output_size=None, output_ratio=None, return_indices=False,
                                       _random_samples=None):
    return _fractional_max_pool("fractional_max_pool2d_with_indices", 2, input, kernel_size, output_size,
                                output_ratio, True, _random_samples)


def fractional_max_pool3d_with_indices(input, kernel_size, output_size=None, output_ratio=None, return_indices=False,
                                       _random_samples=None):
    return _fractional_max_pool("fractional_max_pool3d_with_indices", 3, input, kernel_size, output_size,
                                output_ratio, True, _random_samples)


# -------------------------------------------------------------------------------------------------- dropout3d
def dropout3d(input, p=0.5, training=True, inplace=False):
    """Channel-wise dropout of (N, C, D, H, W) or unbatched (C, D, H, W) input. As torch, other ranks are accepted
    with a warning and taken as unbatched."""
    op = "dropout3d"
    _check_p(op, input, p)
    if input.ndim not in (4, 5):
        warnings.warn(f"{op}: received a {input.ndim}-D input (shape {tuple(input.shape)}); dropout3d is meant for "
                      "4-D or 5-D inputs, use dropout instead", stacklevel=2)
    x = input if input.ndim == 5 else input.unsqueeze(0)
    out = _channel_dropout(op, x, p, training)
    out = input if out is x else out if input.ndim == 5 else out.squeeze(0)
    return write_back(op, input, out, inplace)


__all__ = ["conv3d", "conv_transpose3d", "max_pool3d", "avg_pool3d", "adaptive_avg_pool3d", "adaptive_max_pool3d",
           "max_pool1d_with_indices", "max_pool2d_with_indices", "max_pool3d_with_indices",
           "adaptive_max_pool1d_with_indices", "adaptive_max_pool2d_with_indices", "adaptive_max_pool3d_with_indices",
           "lp_pool1d", "lp_pool2d", "lp_pool3d", "max_unpool1d", "max_unpool2d", "max_unpool3d",
           "fractional_max_pool2d", "fractional_max_pool3d", "fractional_max_pool2d_with_indices",
           "fractional_max_pool3d_with_indices", "dropout3d"]
