"""Spatial transformers, PyTorch's names, signatures and results: F.affine_grid (2-D and 3-D) and F.grid_sample
(4-D input: bilinear, nearest, bicubic; 5-D input: bilinear, nearest; padding modes zeros, border, reflection;
align_corners), composed of differentiable ops, so the gradients to input, grid and theta come from those ops.

grid_sample reads, per output point, the input at a few integer taps around a source position that is a
differentiable function of the grid (unnormalize, then clip or reflect as the padding mode says):
    out = sum over taps of weight(fraction of the source position) * input[tap]     (zero for a tap off the input)
The taps' integer positions are found on the raw arrays (floor / round: no gradient), the values are one Gather of
the flattened input per tap (its backward scatter-adds into the input), and the weights are tensor expressions in
the grid. The grid's gradient is then torch's: through the weights only, times the slope of unnormalize and of the
padding transform (0 where border clipping or reflection's clip holds a coordinate at an end, -1 on a reflected
stretch). The source position is computed with torch's CPU formulas, in the grid's own dtype, so floor() and round()
pick the same taps: 4-D input uses the vectorized kernel's unnormalize (x + 1) * s - 0.5, 5-D the scalar one.
"""
import itertools
import math
import warnings

import numpy as np

from ..tensor import Tensor
from .elementwise import where
from .indexing import Gather
from .matmul import matmul
from .util import is_float

_A = -0.75  # torch's cubic convolution coefficient
_MODES = ("bilinear", "nearest", "bicubic")
_PADDING = ("zeros", "border", "reflection")


def _align_default(op, align_corners):
    if align_corners is None:
        warnings.warn(f"{op}: default grid_sample and affine_grid behavior has changed to align_corners=False "
                      "since 1.3.0. Please specify align_corners=True if the old behavior is desired.",
                      stacklevel=3)
        return False
    return bool(align_corners)


# ---------------------------------------------------------------------------------------------- affine_grid
def _linspace(n, dtype, align_corners):
    """torch's base-grid coordinates of a dim of n points in dtype: linspace(-1, 1, n), computed from both ends
    as torch's linspace is, shrunk by (n - 1) / n unless align_corners; a single point is 0."""
    t = np.dtype(dtype).type
    if n <= 1:
        return np.zeros(max(n, 0), dtype)
    step = (t(1) - t(-1)) / t(n - 1)
    i = np.arange(n)
    r = np.where(i < n // 2, t(-1) + step * i.astype(dtype), t(1) - step * (n - 1 - i).astype(dtype)).astype(dtype)
    return r if align_corners else (r * t(n - 1) / t(n)).astype(dtype)


def affine_grid(theta, size, align_corners=None):
    """theta (N, 2, 3) with size (N, C, H, W) -> grid (N, H, W, 2); theta (N, 3, 4) with size (N, C, D, H, W) ->
    grid (N, D, H, W, 3). Each grid point is theta @ (x, y[, z], 1) over the base grid of normalized coordinates."""
    op = "affine_grid"
    align_corners = _align_default(op, align_corners)
    if not isinstance(theta, Tensor):
        raise TypeError(f"{op}: expected theta to be a Tensor, got {type(theta).__name__}")
    if not is_float(theta.dtype):
        raise ValueError(f"{op}: expected theta to have floating point type, but got {theta.dtype}")
    size = [int(s) for s in size]
    if len(size) not in (4, 5):
        raise NotImplementedError(f"{op}: only 4-D and 5-D sizes are supported, for 2-D and 3-D affine transforms, "
                                  f"respectively; got size {size}")
    nd = len(size) - 2
    if theta.ndim != 3 or tuple(theta.shape[1:]) != (nd, nd + 1):
        raise ValueError(f"{op}: expected a batch of {nd}-D affine matrices of shape Nx{nd}x{nd + 1} for size "
                         f"{size}, got theta of shape {tuple(theta.shape)}")
    spatial = size[2:]
    if align_corners and min(spatial) == 1:
        warnings.warn(f"{op}: since version 1.3.0, affine_grid behavior has changed for unit-size grids when "
                      "align_corners=True. This is not an intended use case of affine_grid.", stacklevel=2)
    elif min(size) <= 0:
        raise ValueError(f"{op}: expected non-zero, positive output size, got {size}")
    if theta.shape[0] != size[0]:
        raise RuntimeError(f"{op}: theta of shape {tuple(theta.shape)} holds {theta.shape[0]} matrices, but size "
                           f"{size} asks for a batch of {size[0]}")
    xp, dt = theta._xp, theta.dtype
    # base (*spatial, nd + 1): the last dim holds (x, y[, z], 1), x running along the last spatial dim
    base = np.ones(tuple(spatial) + (nd + 1,), dt)
    for k in range(nd):
        d = nd - 1 - k  # coordinate k varies along spatial dim d
        shape = [1] * nd
        shape[d] = spatial[d]
        base[..., k] = _linspace(spatial[d], dt, align_corners).reshape(shape)
    points = math.prod(spatial)
    b = Tensor._make(xp.asarray(base.reshape(1, points, nd + 1)), None)
    return matmul(b, theta.transpose(1, 2)).reshape([size[0]] + spatial + [nd])


# ---------------------------------------------------------------------------------------------- grid_sample
def _unnormalize(c, n, align_corners, vectorized):
    """Grid coordinate in [-1, 1] -> input position, torch's CPU arithmetic (vectorized 2-D / scalar 3-D)."""
    if vectorized:
        return (c + 1) * ((n - 1) / 2) if align_corners else (c + 1) * (n / 2) - 0.5
    return ((c + 1) / 2) * (n - 1) if align_corners else ((c + 1) * n - 1) / 2


def _clip(ix, n):
    """Clamp into [0, n - 1] with a zero slope at and beyond both ends (torch's border gradient)."""
    return where(ix <= 0, 0.0, where(ix >= n - 1, float(n - 1), ix))


def _reflect(ix, twice_low, twice_high):
    """Reflect off the ends of [twice_low / 2, twice_high / 2] until inside; slope +1 or -1 by the number of
    reflections (a coordinate exactly at the lower end keeps slope +1, as torch)."""
    if twice_low == twice_high:
        return ix * 0.0
    lo, span = twice_low / 2, (twice_high - twice_low) / 2
    d = ix - lo
    a = where(d < 0, -d, d)
    flips = np.floor(a.array / a.dtype.type(span))
    extra = a - Tensor._make(flips * a.dtype.type(span), None)
    odd = Tensor._make(flips % 2 == 1, None)
    return where(odd, span - extra + lo, extra + lo)


def _source(c, n, padding_mode, align_corners, vectorized):
    ix = _unnormalize(c, n, align_corners, vectorized)
    if padding_mode == "border":
        return _clip(ix, n)
    if padding_mode == "reflection":
        ix = _reflect(ix, 0, 2 * (n - 1)) if align_corners else _reflect(ix, -1, 2 * n - 1)
        return _clip(ix, n)
    return ix


def _tap_coordinates(pos, n, padding_mode, align_corners):
    """Integer tap positions of bicubic (raw float arrays) -> the position read, torch's get_value_bounded: the
    padding transform applied to the tap itself, then truncated; off-input taps (zeros mode) are masked later."""
    t = pos.dtype.type
    if padding_mode == "zeros":
        return pos
    if padding_mode == "reflection":
        lo2, hi2 = (0, 2 * (n - 1)) if align_corners else (-1, 2 * n - 1)
        if lo2 == hi2:
            pos = np.zeros_like(pos)
        else:
            lo, span = t(lo2 / 2), t((hi2 - lo2) / 2)
            a = np.abs(pos - lo)
            flips = np.floor(a / span)
            extra = np.fmod(a, span)
            pos = np.where(flips % 2 == 0, extra + lo, span - extra + lo)
    return np.clip(pos, t(0), t(n - 1))


def _cubic(t):
    """The four cubic-convolution weights of fraction t (torch's A = -0.75), as tensor expressions of t."""
    def near(x):
        return ((_A + 2) * x - (_A + 3)) * x * x + 1

    def far(x):
        return ((_A * x - 5 * _A) * x + 8 * _A) * x - 4 * _A
    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def _check_grid_sample(op, input, grid, mode, padding_mode):
    if mode not in _MODES:
        raise ValueError(f"{op}: expected mode to be 'bilinear', 'nearest' or 'bicubic', but got: {mode!r}")
    if padding_mode not in _PADDING:
        raise ValueError(f"{op}: expected padding_mode to be 'zeros', 'border', or 'reflection', but got: "
                         f"{padding_mode!r}")
    for name, t in (("input", input), ("grid", grid)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: expected {name} to be a Tensor, got {type(t).__name__}")
    shapes = f"input of shape {tuple(input.shape)} and grid of shape {tuple(grid.shape)}"
    if input.dtype != grid.dtype or not is_float(input.dtype):
        raise RuntimeError(f"{op}: expected input and grid of one floating point dtype, got {input.dtype} and "
                           f"{grid.dtype} ({shapes})")
    if input.ndim not in (4, 5) or grid.ndim != input.ndim:
        raise RuntimeError(f"{op}: expected a 4-D or 5-D input and a grid of the same rank, got {shapes}")
    nd = input.ndim - 2
    if grid.shape[0] != input.shape[0]:
        raise RuntimeError(f"{op}: expected grid and input to have the same batch size, got {shapes}")
    if grid.shape[-1] != nd:
        raise RuntimeError(f"{op}: expected grid to have size {nd} in the last dim, got {shapes}")
    if any(s == 0 for s in input.shape[2:]):
        raise RuntimeError(f"{op}: expected input to have non-empty spatial dims, got {shapes}")
    if mode == "bicubic" and nd != 2:
        raise RuntimeError(f"{op}: bicubic interpolation only supports 4-D input, got {shapes}")


def grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=None):
    """input (N, C, H, W) / (N, C, D, H, W), grid (N, H_out, W_out, 2) / (N, D_out, H_out, W_out, 3) of (x, y[, z])
    in [-1, 1] -> (N, C, H_out, W_out) / (N, C, D_out, H_out, W_out)."""
    op = "grid_sample"
    _check_grid_sample(op, input, grid, mode, padding_mode)
    align_corners = _align_default(op, align_corners)
    xp = input._xp
    nd = input.ndim - 2
    n, c, spatial = input.shape[0], input.shape[1], tuple(input.shape[2:])
    outs = tuple(grid.shape[1:-1])
    size, points = math.prod(spatial), math.prod(outs)
    g = grid.reshape(n, points, nd)
    vectorized = nd == 2
    # per spatial dim d (D, H, W order): the grid coordinate that addresses it is the (nd - 1 - d)-th
    coords = [g[:, :, nd - 1 - d] for d in range(nd)]
    flat_x = input.reshape(-1)
    base = (xp.arange(n, dtype=np.int64)[:, None, None] * (c * size)
            + xp.arange(c, dtype=np.int64)[None, :, None] * size)

    def read(positions):
        """Input values at integer positions (one (N, P) array per dim), zero off the input: (N, C, P)."""
        flat = np.zeros((n, points), np.int64)
        ok = np.ones((n, points), bool)
        for d, p in enumerate(positions):
            ok &= (p >= 0) & (p < spatial[d])
            flat = flat * spatial[d] + np.clip(p, 0, spatial[d] - 1)
        idx = base + xp.asarray(flat)[:, None, :]
        vals = Gather.apply(flat_x, idx.reshape(-1), 0).reshape(n, c, points)
        if ok.all():
            return vals
        return where(Tensor._make(xp.asarray(ok)[:, None, :], None), vals, 0.0)

    def host(t):
        a = t.array
        return np.asarray(a.get() if hasattr(a, "get") else a)

    if mode == "bicubic":
        src = [_unnormalize(cd, m, align_corners, vectorized) for cd, m in zip(coords, spatial)]
        first = [np.floor(host(s)) for s in src]
        weights = [_cubic(s - Tensor._make(xp.asarray(f), None)) for s, f in zip(src, first)]
        out = None
        for taps in itertools.product(range(4), repeat=nd):
            pos = [_tap_coordinates(f + f.dtype.type(k - 1), m, padding_mode, align_corners)
                   for f, k, m in zip(first, taps, spatial)]
            pos = [np.where(np.isfinite(p), p, -1).astype(np.int64) for p in pos]
            w = math.prod((weights[d][k] for d, k in enumerate(taps)), start=1.0)
            term = w.unsqueeze(1) * read(pos)
            out = term if out is None else out + term
    else:
        src = [_source(cd, m, padding_mode, align_corners, vectorized) for cd, m in zip(coords, spatial)]
        if mode == "nearest":
            pos = [np.rint(host(s)) for s in src]
            out = read([np.where(np.isfinite(p), p, -1).astype(np.int64) for p in pos])
            # The output does not depend on the grid, yet torch gives the grid a zero gradient rather than none.
            if grid.requires_grad:
                out = out + where(Tensor._make(xp.zeros((1, 1, 1), bool), None), src[0].unsqueeze(1), 0.0)
        else:
            first = [np.floor(host(s)) for s in src]
            frac = [s - Tensor._make(xp.asarray(f), None) for s, f in zip(src, first)]
            out = None
            for corner in itertools.product((0, 1), repeat=nd):
                w = math.prod((frac[d] if k else 1 - frac[d] for d, k in enumerate(corner)), start=1.0)
                pos = [np.where(np.isfinite(f), f + k, -1).astype(np.int64) for f, k in zip(first, corner)]
                term = w.unsqueeze(1) * read(pos)
                out = term if out is None else out + term
    return out.reshape((n, c) + outs)
