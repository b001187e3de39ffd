"""Convolutions as im2col + GEMM: unfold (im2col) and fold (col2im), and conv1d/conv2d, conv_transpose1d/2d built on
them (PyTorch's names, signatures and results).

Im2Col and Col2Im are the only Functions here, and each is the other's backward: im2col copies every kernel-offset
window of the (zero-padded) input into a column matrix, col2im scatter-adds columns back into an image. Both loop
over the kh*kw kernel offsets only; each offset is one strided slice covering every output pixel at once, so they
are plain xp slicing and run unchanged on NumPy and CuPy. The spatial rank is generic (1-D, 2-D, ...).

The convolutions are composites with no backward of their own: conv = weight @ im2col(x) (+ bias) and
conv_transpose = col2im(weight^T @ x), so their gradients are matmul's and im2col/col2im's. A dedicated Conv
Function would save the same columns (matmul keeps im2col(x) for the weight gradient; im2col keeps nothing) and
run the same GEMMs, so it would only duplicate those backward rules. What makes the composite cheap is the column
layout: the convolutions ask im2col for (C*K, N*L) columns (batch inside the columns) rather than torch's unfold
layout (N, C*K, L), so the forward product and both gradient products are single 2-D GEMMs (one batched GEMM over
groups), never a GEMM per sample followed by a sum over the batch for the weight gradient.

mode_pad is the 'reflect' / 'replicate' / 'circular' padding of the Conv modules' padding_mode (a gather per dim).
"""
import itertools
from collections import namedtuple

import math

import numpy as np

from ..autograd.function import Function
from ..backend import xp_of
from ..amp.autocast import cast_lower
from .util import is_float
from .matmul import matmul
from ..tensor import Tensor
from .movement import getitem
from .graph import linear_map

# kernel, dilation, stride: per spatial dim; pads: (before, after) per spatial dim; size: the image's spatial size
# (unpadded); blocks: the number of window positions per spatial dim.
Geom = namedtuple("Geom", "kernel dilation pads stride size blocks")

_ALL = slice(None)


def _windows(geom):
    """(kernel offset, the slices of the padded image that offset reads for every block at once)."""
    for offs in itertools.product(*(range(k) for k in geom.kernel)):
        yield offs, tuple(slice(o * d, o * d + s * (b - 1) + 1, s)
                          for o, d, s, b in zip(offs, geom.dilation, geom.stride, geom.blocks))


def _at(offs, batch_first):
    """The index of one kernel offset's columns: cols[_at(offs)] is (N, C, *blocks) for batch_first columns
    (N, C, *kernel, *blocks), else (C, N, *blocks) of (C, *kernel, N, *blocks)."""
    return (_ALL, _ALL) + offs if batch_first else (_ALL,) + offs


def _im2col(x, geom, batch_first):
    """x (N, C, *size) -> columns (N, C, *kernel, *blocks) or (C, *kernel, N, *blocks), zeros where a window
    reads padding. For the second layout the image is first moved to (C, N, ...) once, so that each offset's copy
    reads and writes in the same order (a strided transposing copy per offset was 3x slower)."""
    xp = xp_of(x)
    n, c = x.shape[0], x.shape[1]
    img = x if batch_first else x.swapaxes(0, 1)
    if any(lo or hi for lo, hi in geom.pads) or not batch_first:
        full = tuple(s + lo + hi for s, (lo, hi) in zip(geom.size, geom.pads))
        padded = (xp.zeros if full != tuple(geom.size) else xp.empty)(img.shape[:2] + full, dtype=x.dtype)
        padded[(_ALL, _ALL) + tuple(slice(lo, lo + s) for s, (lo, _) in zip(geom.size, geom.pads))] = img
        img = padded
    cols = xp.empty((n, c) + geom.kernel + geom.blocks if batch_first else (c,) + geom.kernel + (n,) + geom.blocks,
                    dtype=x.dtype)
    for offs, src in _windows(geom):
        cols[_at(offs, batch_first)] = img[(_ALL, _ALL) + src]
    return cols


def _col2im(cols, n, c, geom, batch_first):
    """The adjoint of _im2col: columns of either layout -> (N, C, *size), overlapping windows summed; what lands in
    the padding is dropped."""
    xp = xp_of(cols)
    cols = cols.reshape((n, c) + geom.kernel + geom.blocks if batch_first
                        else (c,) + geom.kernel + (n,) + geom.blocks)
    # The windows may reach past the padded image (conv_transpose with output_padding >= stride): make room.
    full = tuple(max(s + lo + hi, st * (b - 1) + d * (k - 1) + 1)
                 for s, (lo, hi), st, b, d, k in zip(geom.size, geom.pads, geom.stride, geom.blocks, geom.dilation,
                                                     geom.kernel))
    out = xp.zeros(((n, c) if batch_first else (c, n)) + full, dtype=cols.dtype)
    for offs, dst in _windows(geom):
        out[(_ALL, _ALL) + dst] += cols[_at(offs, batch_first)]
    if full != tuple(geom.size):
        out = out[(_ALL, _ALL) + tuple(slice(lo, lo + s) for s, (lo, _) in zip(geom.size, geom.pads))]
    return xp.ascontiguousarray(out if batch_first else out.swapaxes(0, 1))


def _cols_shape(n, c, geom, batch_first):
    k, nb = int(math.prod(geom.kernel)), int(math.prod(geom.blocks))
    return (n, c * k, nb) if batch_first else (c * k, n * nb)


class Im2Col(Function):
    """x (N, C, *size) -> columns (N, C*K, L) (batch_first, torch's unfold) or (C*K, N*L), K = prod(kernel), L =
    prod(blocks); rows ordered (c, kernel offset), as torch. The gradient is col2im of the incoming gradient."""

    def forward(self, x, geom, batch_first):
        self.args = (x.shape[0], x.shape[1], geom, batch_first)
        return _im2col(x, geom, batch_first).reshape(_cols_shape(x.shape[0], x.shape[1], geom, batch_first))

    def backward(self, g):
        return _col2im(g, *self.args), None, None

    def backward_graph(self, g):
        n, c, geom, bf = self.args
        shape = _cols_shape(n, c, geom, bf)
        return linear_map(g, lambda x: _col2im(x, n, c, geom, bf),
                          lambda x: _im2col(x, geom, bf).reshape(shape)), None, None


class Col2Im(Function):
    """Columns (N, C*K, L) or (C*K, N*L) -> (N, C, *size), overlapping windows summed (torch's fold). The gradient
    is im2col of the incoming gradient."""

    def forward(self, cols, n, c, geom, batch_first):
        self.args = (n, c, geom, batch_first)
        return _col2im(cols, n, c, geom, batch_first)

    def backward(self, g):
        n, c, geom, batch_first = self.args
        return _im2col(g, geom, batch_first).reshape(_cols_shape(n, c, geom, batch_first)), None, None, None, None

    def backward_graph(self, g):
        n, c, geom, bf = self.args
        shape = _cols_shape(n, c, geom, bf)
        return linear_map(g, lambda x: _im2col(x, geom, bf).reshape(shape),
                          lambda x: _col2im(x, n, c, geom, bf)), None, None, None, None


# ------------------------------------------------------------------------------------------ argument checks
def _shape(t):
    return tuple(t.shape)


def _tuple(op, name, v, nd, low):
    """An int or a sequence of 1 or nd ints -> a tuple of nd ints, each >= low."""
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        v = (int(v),) * nd
    elif isinstance(v, (tuple, list)) and all(isinstance(e, (int, np.integer)) and not isinstance(e, bool) for e in v):
        v = tuple(int(e) for e in v)
        v = v * nd if len(v) == 1 else v
    else:
        raise TypeError(f"{op}: {name} must be an int or a tuple of {nd} ints, got {v!r}")
    if len(v) != nd:
        raise RuntimeError(f"{op}: expected {name} to be a single int or {nd} ints (one per spatial dim), "
                           f"got {name}={v}")
    if any(e < low for e in v):
        what = "positive" if low == 1 else "non-negative"
        raise RuntimeError(f"{op}: {name} must be {what}, got {name}={v}")
    return v


def _blocks(size, kernel, dilation, pads, stride):
    return tuple((s + lo + hi - d * (k - 1) - 1) // st + 1 if s + lo + hi >= d * (k - 1) + 1 else 0
                 for s, k, d, (lo, hi), st in zip(size, kernel, dilation, pads, stride))


def _check_input(op, input, ranks, what):
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: expected input to be a Tensor, got {type(input).__name__}")
    if input.ndim not in ranks:
        raise RuntimeError(f"{op}: expected {what}, got input of shape {_shape(input)}")
    if not is_float(input.dtype):
        raise TypeError(f"{op}: expected a floating point input, got {input.dtype} (shape {_shape(input)})")


def _check_same(op, *ts):
    ts = [t for t in ts if t is not None]
    if len({t.dtype for t in ts}) > 1 or len({str(t.device) for t in ts}) > 1:
        raise RuntimeError(f"{op}: input, weight and bias must have one dtype and device, got " + ", ".join(
            f"{_shape(t)} {t.dtype} on {t.device}" for t in ts))


# ---------------------------------------------------------------------------------------------- unfold/fold
def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Sliding blocks of (C, H, W) / (N, C, H, W) as columns (C*kh*kw, L) / (N, C*kh*kw, L)."""
    _check_input("unfold", input, (3, 4), "a 3-D (unbatched) or 4-D (batched) input")
    kernel = _tuple("unfold", "kernel_size", kernel_size, 2, 1)
    dilation = _tuple("unfold", "dilation", dilation, 2, 1)
    pad = _tuple("unfold", "padding", padding, 2, 0)
    stride = _tuple("unfold", "stride", stride, 2, 1)
    x = input.unsqueeze(0) if input.ndim == 3 else input
    if x.shape[1] == 0 or 0 in x.shape[2:]:
        raise RuntimeError(f"unfold: expected non-empty channel and spatial dims, got input of shape {_shape(input)}")
    size, pads = tuple(x.shape[2:]), tuple((p, p) for p in pad)
    blocks = _blocks(size, kernel, dilation, pads, stride)
    if 0 in blocks:
        raise RuntimeError(f"unfold: input of shape {_shape(input)} with padding={pad} is smaller than the kernel "
                           f"{kernel} with dilation={dilation}: no sliding block fits")
    out = Im2Col.apply(x, Geom(kernel, dilation, pads, stride, size, blocks), True)
    return out.squeeze(0) if input.ndim == 3 else out


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """The adjoint of unfold: columns (C*kh*kw, L) / (N, C*kh*kw, L) summed into (C, H, W) / (N, C, H, W) with
    (H, W) = output_size."""
    _check_input("fold", input, (2, 3), "a 2-D (unbatched) or 3-D (batched) input of columns")
    size = _tuple("fold", "output_size", output_size, 2, 1)
    kernel = _tuple("fold", "kernel_size", kernel_size, 2, 1)
    dilation = _tuple("fold", "dilation", dilation, 2, 1)
    pad = _tuple("fold", "padding", padding, 2, 0)
    stride = _tuple("fold", "stride", stride, 2, 1)
    cols = input.unsqueeze(0) if input.ndim == 2 else input
    k = kernel[0] * kernel[1]
    if cols.shape[1] % k:
        raise RuntimeError(f"fold: input of shape {_shape(input)}: the size of its column dim ({cols.shape[1]}) must "
                           f"be divisible by the product of kernel_size {kernel} ({k})")
    pads = tuple((p, p) for p in pad)
    blocks = _blocks(size, kernel, dilation, pads, stride)
    if cols.shape[2] != blocks[0] * blocks[1] or 0 in blocks:
        raise RuntimeError(f"fold: input of shape {_shape(input)} has {cols.shape[2]} blocks, but output_size={size}, "
                           f"kernel_size={kernel}, dilation={dilation}, padding={pad}, stride={stride} give "
                           f"{blocks[0]} * {blocks[1]} = {blocks[0] * blocks[1]}")
    out = Col2Im.apply(cols, cols.shape[0], cols.shape[1] // k, Geom(kernel, dilation, pads, stride, size, blocks),
                       True)
    return out.squeeze(0) if input.ndim == 2 else out


# --------------------------------------------------------------------------------------------- convolutions
def _source_index(n, lo, hi, mode):
    """For padding a dim of size n by (lo, hi): which input entry each output entry copies."""
    i = np.arange(-lo, n + hi)
    if mode == "reflect":
        i = np.abs(i)
        return np.where(i >= n, 2 * (n - 1) - i, i)
    if mode == "replicate":
        return np.clip(i, 0, n - 1)
    return i % n  # circular


def mode_pad(op, x, pads, mode):
    """Pad the trailing spatial dims of x by pads[i] = (before, after) with copies of its own entries ('reflect',
    'replicate' or 'circular', torch's rules): one gather per dim, so the gradient scatter-adds back."""
    nd = len(pads)
    for i, (lo, hi) in enumerate(pads):
        d = x.ndim - nd + i
        n = x.shape[d]
        if mode == "reflect" and max(lo, hi) >= n or mode == "circular" and max(lo, hi) > n or n == 0:
            rule = "smaller than" if mode == "reflect" else "at most"
            raise RuntimeError(f"{op}: padding_mode={mode!r} needs each padding {rule} the input dim it pads, got "
                               f"padding ({lo}, {hi}) for dim {d} of input of shape {_shape(x)}")
        if lo or hi:
            index = Tensor._make(x._xp.asarray(_source_index(n, lo, hi, mode)), None)
            x = getitem(x, (_ALL,) * d + (index,))
    return x


def _check_conv(op, input, weight, bias, nd):
    """Shapes of input (C, *s) / (N, C, *s), weight and bias; returns whether the input is unbatched."""
    _check_input(op, input, (nd + 1, nd + 2), f"a {nd + 1}-D (unbatched) or {nd + 2}-D (batched) input")
    if not isinstance(weight, Tensor) or weight.ndim != nd + 2:
        got = f"shape {_shape(weight)}" if isinstance(weight, Tensor) else type(weight).__name__
        raise RuntimeError(f"{op}: expected a {nd + 2}-D weight, got {got} (input of shape {_shape(input)})")
    if bias is not None and not isinstance(bias, Tensor):
        raise TypeError(f"{op}: bias must be a Tensor or None, got {type(bias).__name__}")
    _check_same(op, input, weight, bias)
    return input.ndim == nd + 1


def _check_groups(op, input, weight, groups, transposed):
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool) or groups < 1:
        raise RuntimeError(f"{op}: groups must be a positive int, got {groups!r}")
    if weight.shape[0] == 0 or weight.shape[0] % groups:
        raise RuntimeError(f"{op}: groups={groups} must divide the weight's first dim (and it must be at least 1), "
                           f"got weight of shape {_shape(weight)}")
    c = input.shape[-len(weight.shape) + 1]
    want = weight.shape[0] if transposed else weight.shape[1] * groups
    if c != want:
        raise RuntimeError(f"{op}: groups={groups} and weight of shape {_shape(weight)} expect an input with {want} "
                           f"channels, got input of shape {_shape(input)} ({c} channels)")


def _check_bias(op, weight, bias, out_channels):
    if bias is not None and _shape(bias) != (out_channels,):
        raise RuntimeError(f"{op}: weight of shape {_shape(weight)} expects a 1-D bias of {out_channels} elements, "
                           f"got bias of shape {_shape(bias)}")


def _conv_pads(op, padding, kernel, dilation, stride, nd):
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * nd
        if padding != "same":
            raise RuntimeError(f"{op}: invalid padding string {padding!r}, should be 'same' or 'valid'")
        if any(s != 1 for s in stride):
            raise RuntimeError(f"{op}: padding='same' is not supported for strided convolutions (stride={stride})")
        # torch's split: an odd total puts the extra zero after (right / bottom).
        return tuple((d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2) for k, d in zip(kernel, dilation))
    return tuple((p, p) for p in _tuple(op, "padding", padding, nd, 0))


def _conv(op, nd, input, weight, bias, stride, padding, dilation, groups):
    input, weight, bias = cast_lower(input, weight, bias)
    unbatched = _check_conv(op, input, weight, bias, nd)
    stride = _tuple(op, "stride", stride, nd, 1)
    dilation = _tuple(op, "dilation", dilation, nd, 1)
    _check_groups(op, input, weight, groups, False)
    o, kernel = weight.shape[0], tuple(weight.shape[2:])
    _check_bias(op, weight, bias, o)
    pads = _conv_pads(op, padding, kernel, dilation, stride, nd)
    x = input.unsqueeze(0) if unbatched else input
    n, c, size = x.shape[0], x.shape[1], tuple(x.shape[2:])
    blocks = _blocks(size, kernel, dilation, pads, stride)
    if 0 in blocks:
        padded = tuple(s + lo + hi for s, (lo, hi) in zip(size, pads))
        raise RuntimeError(f"{op}: input of shape {_shape(input)} padded to spatial size {padded} is smaller than the "
                           f"kernel {kernel} with dilation {dilation} (spatial extent "
                           f"{tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))})")
    geom = Geom(kernel, dilation, pads, stride, size, blocks)
    nl = int(math.prod(size))
    if all(k == 1 for k in kernel) and all(s == 1 for s in stride) and not any(lo or hi for lo, hi in pads):
        cols = x.reshape(n, c, nl).permute(1, 0, 2).reshape(c, n * nl)  # 1x1: the columns are the pixels themselves
    else:
        cols = Im2Col.apply(x, geom, False)  # (C*K, N*L)
    ck = weight[0].numel()
    if groups == 1:
        out = matmul(weight.reshape(o, ck), cols)
    elif o == groups:
        # One output channel per group (depthwise): a multiply and a sum over the ck taps. As a batched matmul
        # these are `groups` (1 x ck) @ (ck x N*L) products, which NumPy runs one small GEMV at a time (~10x
        # slower than this at 64 channels of 16x16).
        out = (weight.reshape(groups, ck, 1) * cols.reshape(groups, ck, cols.shape[-1])).sum(1)
    else:
        out = matmul(weight.reshape(groups, o // groups, ck), cols.reshape(groups, ck, cols.shape[-1]))
    out = out.reshape((o,) + blocks) if unbatched else out.reshape((o, n) + blocks).permute(
        (1, 0) + tuple(range(2, nd + 2)))
    return out if bias is None else out + bias.reshape((o,) + (1,) * nd)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """input (N, C_in, L) or (C_in, L), weight (C_out, C_in / groups, k); padding: int, tuple, 'same' or 'valid'."""
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """input (N, C_in, H, W) or (C_in, H, W), weight (C_out, C_in / groups, kh, kw); padding: int, tuple, 'same' or
    'valid'."""
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def _conv_transpose(op, nd, input, weight, bias, stride, padding, output_padding, groups, dilation):
    """The adjoint of conv (its input gradient): columns weight^T @ x, summed into the image by col2im."""
    input, weight, bias = cast_lower(input, weight, bias)
    unbatched = _check_conv(op, input, weight, bias, nd)
    if isinstance(padding, str):
        raise TypeError(f"{op}: padding must be an int or a tuple of {nd} ints, got {padding!r} (no 'same' / 'valid' "
                        "for transposed convolutions)")
    stride = _tuple(op, "stride", stride, nd, 1)
    pad = _tuple(op, "padding", padding, nd, 0)
    dilation = _tuple(op, "dilation", dilation, nd, 1)
    opad = _tuple(op, "output_padding", output_padding, nd, 0)
    if any(p >= s and p >= d for p, s, d in zip(opad, stride, dilation)):
        raise RuntimeError(f"{op}: output_padding must be smaller than either stride or dilation, got "
                           f"output_padding={opad}, stride={stride}, dilation={dilation}")
    _check_groups(op, input, weight, groups, True)
    cin, kernel = weight.shape[0], tuple(weight.shape[2:])
    o = weight.shape[1] * groups
    _check_bias(op, weight, bias, o)
    x = input.unsqueeze(0) if unbatched else input
    n, blocks = x.shape[0], tuple(x.shape[2:])
    size = tuple((b - 1) * s - 2 * p + d * (k - 1) + op_ + 1
                 for b, s, p, d, k, op_ in zip(blocks, stride, pad, dilation, kernel, opad))
    if any(s < 1 for s in size) or 0 in blocks:
        raise RuntimeError(f"{op}: input of shape {_shape(input)}, weight of shape {_shape(weight)}, stride={stride}, "
                           f"padding={pad}, dilation={dilation}, output_padding={opad} give an output of spatial "
                           f"size {size}, which must be positive")
    og, kk, nl = o // groups, int(math.prod(kernel)), int(math.prod(blocks))
    xs = x.reshape(n, cin, nl).permute(1, 0, 2).reshape(cin, n * nl)  # (C_in, N*L)
    if groups == 1:
        cols = matmul(weight.reshape(cin, og * kk).t(), xs)
    else:
        cg = cin // groups
        cols = matmul(weight.reshape(groups, cg, og * kk).transpose(1, 2), xs.reshape(groups, cg, xs.shape[-1]))
    geom = Geom(kernel, dilation, tuple((p, p) for p in pad), stride, size, blocks)
    out = Col2Im.apply(cols.reshape(o * kk, n * nl), n, o, geom, False)
    if bias is not None:
        out = out + bias.reshape((o,) + (1,) * nd)
    return out.squeeze(0) if unbatched else out


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """input (N, C_in, L) or (C_in, L), weight (C_in, C_out / groups, k)."""
    return _conv_transpose("conv_transpose1d", 1, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """input (N, C_in, H, W) or (C_in, H, W), weight (C_in, C_out / groups, kh, kw)."""
    return _conv_transpose("conv_transpose2d", 2, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)
