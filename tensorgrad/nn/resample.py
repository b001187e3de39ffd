"""Upsampling, pixel shuffling and padding modules (PyTorch's names, arguments and reprs); the math is in
ops/resample.py through nn.functional."""
from . import functional as F
from .module import Module


class Upsample(Module):
    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None,
                 recompute_scale_factor=None):
        super().__init__()
        self.name = type(self).__name__
        self.size, self.mode, self.align_corners = size, mode, align_corners
        self.scale_factor = float(scale_factor) if isinstance(scale_factor, (int, float)) else \
            (tuple(float(s) for s in scale_factor) if scale_factor is not None else None)
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, x):
        return F.interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners,
                             recompute_scale_factor=self.recompute_scale_factor)

    def extra_repr(self):
        what = f"scale_factor={self.scale_factor!r}" if self.scale_factor is not None else f"size={self.size!r}"
        return f"{what}, mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)


class PixelShuffle(Module):
    def __init__(self, upscale_factor):
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, x):
        return F.pixel_shuffle(x, self.upscale_factor)

    def extra_repr(self):
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    def __init__(self, downscale_factor):
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, x):
        return F.pixel_unshuffle(x, self.downscale_factor)

    def extra_repr(self):
        return f"downscale_factor={self.downscale_factor}"


class _PadNd(Module):
    mode, dims = "constant", 1

    def __init__(self, padding, value=0.0):
        super().__init__()
        self.padding = (padding,) * (2 * self.dims) if isinstance(padding, int) else tuple(padding)
        if len(self.padding) != 2 * self.dims:
            raise ValueError(f"{type(self).__name__}: padding must be an int or {2 * self.dims} ints, got {padding!r}")
        self.value = value

    def forward(self, x):
        if self.mode == "constant":
            return F.pad(x, self.padding, "constant", self.value)
        return F.pad(x, self.padding, self.mode)

    def extra_repr(self):
        if self.mode == "constant" and not type(self).__name__.startswith("Zero"):
            return f"padding={self.padding}, value={self.value}"
        return f"{self.padding}"


def _pad_class(name, mode, dims, doc, zero=False):
    if zero:
        def init(self, padding):
            _PadNd.__init__(self, padding, 0.0)
    else:
        init = _PadNd.__init__
    return type(name, (_PadNd,), {"mode": mode, "dims": dims, "__init__": init, "__doc__": doc})


ConstantPad1d, ConstantPad2d, ConstantPad3d = (
    _pad_class(f"ConstantPad{n}d", "constant", n, f"Pad the last {n} dims with a constant.") for n in (1, 2, 3))
ZeroPad1d, ZeroPad2d, ZeroPad3d = (
    _pad_class(f"ZeroPad{n}d", "constant", n, f"Pad the last {n} dims with zeros.", zero=True) for n in (1, 2, 3))
ReflectionPad1d, ReflectionPad2d, ReflectionPad3d = (
    _pad_class(f"ReflectionPad{n}d", "reflect", n, f"Pad the last {n} dims with their reflection.") for n in (1, 2, 3))
ReplicationPad1d, ReplicationPad2d, ReplicationPad3d = (
    _pad_class(f"ReplicationPad{n}d", "replicate", n, f"Pad the last {n} dims with their edge values.")
    for n in (1, 2, 3))
CircularPad1d, CircularPad2d, CircularPad3d = (
    _pad_class(f"CircularPad{n}d", "circular", n, f"Pad the last {n} dims periodically.") for n in (1, 2, 3))
