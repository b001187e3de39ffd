"""The tensor side of torchvision's transforms: images are tensorgrad Tensors of shape (..., C, H, W), uint8 in
[0, 255] or floating point in [0, 1], and every function here is built from tensorgrad ops (so a float image keeps
its autograd history through crops, flips, pads, resizes and colour changes, as in torchvision).

torchvision computes integer images in float32 and rounds back; so does this module. Antialiased resizing (the
default of Resize for bilinear / bicubic) is written as two weight matrices, one per spatial axis, whose rows are
the filter torch's _upsample_*_aa kernels and PIL's ImagingResample use, so it is an ordinary matmul for autograd.
"""
import math

import numpy as np

import tensorgrad as tg
import tensorgrad.nn.functional as F

_INT_MAX = {np.dtype(d): np.iinfo(d).max for d in (np.uint8, np.int8, np.int16, np.uint16, np.int32, np.int64)}


def is_float(img):
    return np.issubdtype(np.dtype(img.dtype), np.floating)


def max_value(dtype):
    """The value of full intensity: 1 for floating point images, the largest integer for integer ones."""
    return _INT_MAX.get(np.dtype(dtype), 1)


def check_image(op, img):
    if not isinstance(img, tg.Tensor):
        raise TypeError(f"{op}: expected a tensor image, got {type(img).__name__}")
    if img.ndim < 2:
        raise TypeError(f"{op}: a tensor image has shape (..., H, W), got shape {tuple(img.shape)}")


def check_channels(op, img, permitted):
    c = 1 if img.ndim == 2 else img.shape[-3]
    if c not in permitted:
        raise TypeError(f"{op}: the image has {c} channels (shape {tuple(img.shape)}); expected one of {permitted}")


def get_dimensions(img):
    check_image("get_dimensions", img)
    c = 1 if img.ndim == 2 else img.shape[-3]
    return [c, img.shape[-2], img.shape[-1]]


def convert_image_dtype(image, dtype):
    """torchvision's scaling between dtypes: int -> float divides by the int's max; float -> int multiplies by
    max + 1 - 1e-3 and truncates (so that [0, 1] spreads evenly over the integers); int -> int shifts by a power
    of two."""
    src, dst = np.dtype(image.dtype), np.dtype(dtype)
    if src == dst:
        return image
    if np.issubdtype(src, np.floating):
        if np.issubdtype(dst, np.floating):
            return image.to(dst)
        if (src == np.float32 and dst in (np.int32, np.int64)) or (src == np.float64 and dst == np.int64):
            raise RuntimeError(f"convert_image_dtype: the cast from {src} to {dst} cannot be performed safely "
                               f"(the float cannot hold every integer of the range)")
        return image.mul(float(max_value(dst)) + 1.0 - 1e-3).to(dst)
    in_max = float(max_value(src))
    if np.issubdtype(dst, np.floating):
        return image.to(dst) / in_max
    out_max = float(max_value(dst))
    if in_max > out_max:
        return (image // int((in_max + 1) // (out_max + 1))).to(dst)
    return image.to(dst) * int((out_max + 1) // (in_max + 1))


def hflip(img):
    check_image("hflip", img)
    return img.flip(-1)


def vflip(img):
    check_image("vflip", img)
    return img.flip(-2)


def crop(img, top, left, height, width):
    """img[..., top:top+height, left:left+width], zero-padded where the box leaves the image."""
    check_image("crop", img)
    _, h, w = get_dimensions(img)
    right, bottom = left + width, top + height
    if left < 0 or top < 0 or right > w or bottom > h:
        inside = img[..., max(top, 0):max(bottom, 0), max(left, 0):max(right, 0)]
        ltrb = [max(-left + min(0, right), 0), max(-top + min(0, bottom), 0), max(right - max(w, left), 0),
                max(bottom - max(h, top), 0)]
        return pad(inside, ltrb, fill=0)
    return img[..., top:bottom, left:right]


def parse_padding(padding):
    """torchvision's padding forms (int, [all], [left/right, top/bottom], [left, top, right, bottom]) as
    (left, top, right, bottom)."""
    if isinstance(padding, int):
        return padding, padding, padding, padding
    padding = list(padding)
    if len(padding) == 1:
        return tuple(padding * 4)
    if len(padding) == 2:
        return padding[0], padding[1], padding[0], padding[1]
    if len(padding) == 4:
        return tuple(padding)
    raise ValueError(f"pad: padding must be an int or a 1, 2, or 4 element sequence, not a {len(padding)} element "
                     f"sequence")


def _symmetric_index(n, before, after):
    # the edge pixel repeats: [1, 2, 3] padded by 2 is [2, 1, 1, 2, 3, 3, 2]
    idx = np.arange(-before, n + after)
    period = 2 * n
    idx = np.mod(idx, period)
    return np.where(idx >= n, period - 1 - idx, idx)


def pad(img, padding, fill=0, padding_mode="constant"):
    check_image("pad", img)
    if fill is None:
        fill = 0
    if not isinstance(fill, (int, float)):
        raise TypeError(f"pad: a tensor image takes a number as fill, got {fill!r}")
    if padding_mode not in ("constant", "edge", "reflect", "symmetric"):
        raise ValueError(f"pad: padding_mode must be constant, edge, reflect or symmetric, got {padding_mode!r}")
    left, top, right, bottom = parse_padding(padding)
    if padding_mode == "symmetric":
        # negative padding crops first, as torchvision does
        img = img[..., max(-top, 0):img.shape[-2] - max(-bottom, 0), max(-left, 0):img.shape[-1] - max(-right, 0)]
        ys = _symmetric_index(img.shape[-2], max(top, 0), max(bottom, 0))
        xs = _symmetric_index(img.shape[-1], max(left, 0), max(right, 0))
        return img[..., tg.as_tensor(ys)[:, None], tg.as_tensor(xs)[None, :]]
    squeeze = img.ndim < 4 and padding_mode != "constant"
    x = img.unsqueeze(0) if squeeze else img
    out_dtype = x.dtype
    cast = padding_mode != "constant" and not is_float(x)
    if cast:
        x = x.to(tg.float32)
    mode = "replicate" if padding_mode == "edge" else padding_mode
    p = [left, right, top, bottom]
    x = F.pad(x, p, mode=mode, value=float(fill)) if mode == "constant" else F.pad(x, p, mode=mode)
    if squeeze:
        x = x.squeeze(0)
    return x.to(out_dtype) if cast else x


def _aa_filter(kind, x):
    x = np.abs(x)
    if kind == "bilinear":
        return np.maximum(1.0 - x, 0.0)
    a = -0.5  # PIL's and torch's antialiased bicubic (not the a=-0.75 of plain bicubic interpolation)
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = (((x - 5) * x + 8) * x - 4) * a
    return np.where(x < 1, near, np.where(x < 2, far, 0.0))


def aa_weights(n_in, n_out, kind):
    """(n_out, n_in) rows of the antialiasing filter: output pixel i averages the input pixels whose centres lie
    within the filter's support (stretched by the scale when shrinking) around its centre, normalized to sum 1."""
    scale = n_in / n_out
    support = (1.0 if kind == "bilinear" else 2.0) * max(scale, 1.0)
    inv = 1.0 / scale if scale >= 1.0 else 1.0
    w = np.zeros((n_out, n_in), np.float64)
    for i in range(n_out):
        center = scale * (i + 0.5)
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), n_in)
        taps = _aa_filter(kind, (np.arange(lo, hi) - center + 0.5) * inv)
        total = taps.sum()
        w[i, lo:hi] = taps / total if total != 0 else taps
    return w


def resize(img, size, interpolation="bilinear", antialias=True):
    """img (..., H, W) resized to size [h, w]; integer images are computed in float32 and rounded back."""
    check_image("resize", img)
    if interpolation not in ("nearest", "nearest-exact", "bilinear", "bicubic"):
        raise ValueError(f"resize: a tensor image takes interpolation nearest, nearest-exact, bilinear or bicubic, "
                         f"got {interpolation!r}")
    h, w = int(size[0]), int(size[1])
    out_dtype = img.dtype
    cast = not is_float(img)
    x = img.to(tg.float32) if cast else img
    if antialias and interpolation in ("bilinear", "bicubic"):
        wh = tg.as_tensor(aa_weights(x.shape[-2], h, interpolation), dtype=x.dtype)
        ww = tg.as_tensor(aa_weights(x.shape[-1], w, interpolation).T, dtype=x.dtype)
        x = tg.matmul(tg.matmul(wh, x), ww)
    else:
        lead = tuple(x.shape[:-2])
        x4 = x.reshape(-1, 1, x.shape[-2], x.shape[-1])
        corners = False if interpolation in ("bilinear", "bicubic") else None
        x = F.interpolate(x4, size=(h, w), mode=interpolation, align_corners=corners).reshape(*lead, h, w)
    if interpolation == "bicubic" and np.dtype(out_dtype) == np.uint8:
        x = x.clamp(0, 255)
    if cast:
        x = x.round().to(out_dtype)
    return x


def rgb_to_grayscale(img, num_output_channels=1):
    if img.ndim < 3:
        raise TypeError(f"rgb_to_grayscale: expected a (..., C, H, W) image, got shape {tuple(img.shape)}")
    check_channels("rgb_to_grayscale", img, [1, 3])
    if num_output_channels not in (1, 3):
        raise ValueError(f"rgb_to_grayscale: num_output_channels must be 1 or 3, got {num_output_channels}")
    if img.shape[-3] == 3:
        r, g, b = img.unbind(-3)
        gray = (0.2989 * r + 0.587 * g + 0.114 * b).to(img.dtype).unsqueeze(-3)
    else:
        gray = img.clone()
    return gray.expand(*img.shape) if num_output_channels == 3 else gray


def _blend(img1, img2, ratio):
    ratio = float(ratio)
    return (ratio * img1 + (1.0 - ratio) * img2).clamp(0, max_value(img1.dtype)).to(img1.dtype)


def adjust_brightness(img, factor):
    if factor < 0:
        raise ValueError(f"adjust_brightness: brightness_factor ({factor}) is not non-negative")
    check_channels("adjust_brightness", img, [1, 3])
    return _blend(img, tg.zeros_like(img), factor)


def adjust_contrast(img, factor):
    if factor < 0:
        raise ValueError(f"adjust_contrast: contrast_factor ({factor}) is not non-negative")
    check_channels("adjust_contrast", img, [1, 3])
    dtype = img.dtype if is_float(img) else tg.float32
    gray = rgb_to_grayscale(img) if img.shape[-3] == 3 else img
    mean = gray.to(dtype).mean(dim=(-3, -2, -1), keepdim=True)
    return _blend(img, mean, factor)


def adjust_saturation(img, factor):
    if factor < 0:
        raise ValueError(f"adjust_saturation: saturation_factor ({factor}) is not non-negative")
    check_channels("adjust_saturation", img, [1, 3])
    if img.shape[-3] == 1:  # as PIL: a grey image has no saturation to change
        return img
    return _blend(img, rgb_to_grayscale(img), factor)


def _rgb2hsv(img):
    r, g, b = img.unbind(-3)
    maxc = img.max(dim=-3).values
    minc = img.min(dim=-3).values
    eqc = maxc == minc
    cr = maxc - minc
    ones = tg.ones_like(maxc)
    s = cr / tg.where(eqc, ones, maxc)
    div = tg.where(eqc, ones, cr)
    rc, gc, bc = (maxc - r) / div, (maxc - g) / div, (maxc - b) / div
    hr = (maxc == r).to(img.dtype) * (bc - gc)
    hg = ((maxc == g) & (maxc != r)).to(img.dtype) * (2.0 + rc - bc)
    hb = ((maxc != g) & (maxc != r)).to(img.dtype) * (4.0 + gc - rc)
    h = tg.fmod((hr + hg + hb) / 6.0 + 1.0, 1.0)
    return tg.stack((h, s, maxc), dim=-3)


def _hsv2rgb(img):
    h, s, v = img.unbind(-3)
    i = tg.floor(h * 6.0)
    f = h * 6.0 - i
    i = i.to(tg.int32) % 6
    p = (v * (1.0 - s)).clamp(0.0, 1.0)
    q = (v * (1.0 - s * f)).clamp(0.0, 1.0)
    t = (v * (1.0 - s * (1.0 - f))).clamp(0.0, 1.0)
    mask = (i.unsqueeze(-3) == tg.arange(6).view(-1, 1, 1)).to(img.dtype)
    table = tg.stack((tg.stack((v, q, p, p, t, v), dim=-3), tg.stack((t, v, v, q, p, p), dim=-3),
                      tg.stack((p, p, t, v, v, q), dim=-3)), dim=-4)
    return tg.einsum("...ijk,...xijk->...xjk", mask, table)


def adjust_hue(img, factor):
    if not -0.5 <= factor <= 0.5:
        raise ValueError(f"adjust_hue: hue_factor ({factor}) is not in [-0.5, 0.5]")
    check_channels("adjust_hue", img, [1, 3])
    if img.shape[-3] == 1:
        return img
    dtype = img.dtype
    hsv = _rgb2hsv(convert_image_dtype(img, tg.float32))
    h, s, v = hsv.unbind(-3)
    rgb = _hsv2rgb(tg.stack(((h + factor) % 1.0, s, v), dim=-3))
    return convert_image_dtype(rgb, dtype)


def normalize(tensor, mean, std, inplace=False):
    check_image("normalize", tensor)
    if not is_float(tensor):
        raise TypeError(f"normalize: the input must be a float tensor, got {tensor.dtype}")
    if tensor.ndim < 3:
        raise ValueError(f"normalize: expected a tensor image of shape (..., C, H, W), got {tuple(tensor.shape)}")
    mean = tg.as_tensor(mean, dtype=tensor.dtype)
    std = tg.as_tensor(std, dtype=tensor.dtype)
    if bool((std == 0).any()):
        raise ValueError(f"normalize: std evaluated to zero after conversion to {tensor.dtype}, leading to division "
                         f"by zero")
    if mean.ndim == 1:
        mean = mean.view(-1, 1, 1)
    if std.ndim == 1:
        std = std.view(-1, 1, 1)
    if inplace:
        return tensor.sub_(mean).div_(std)
    return (tensor - mean) / std


def _affine_grid(matrix, w, h, ow, oh, dtype):
    # output pixel centres, relative to the output's centre, mapped by the inverse matrix and scaled to
    # grid_sample's [-1, 1] over the input (align_corners=False)
    theta = np.asarray(matrix, np.float64).reshape(2, 3)
    xs = np.linspace(-ow * 0.5 + 0.5, ow * 0.5 - 0.5, ow)
    ys = np.linspace(-oh * 0.5 + 0.5, oh * 0.5 - 0.5, oh)
    base = np.stack(np.broadcast_arrays(xs[None, :], ys[:, None], np.ones((oh, ow))), axis=-1)
    grid = base @ theta.T / np.array([0.5 * w, 0.5 * h])
    return tg.as_tensor(grid[None].astype(np.dtype(dtype)))


def rotated_size(matrix, w, h):
    """The (width, height) that holds the whole rotated image (expand=True), computed as PIL does."""
    pts = np.array([[-0.5 * w, -0.5 * h, 1.0], [-0.5 * w, 0.5 * h, 1.0], [0.5 * w, 0.5 * h, 1.0],
                    [0.5 * w, -0.5 * h, 1.0]])
    new = pts @ np.asarray(matrix, np.float64).reshape(2, 3).T
    tol = 1e-4  # a corner at 3.0000000001 must not round up to 4
    hi = np.ceil(np.trunc((new.max(0) + [w * 0.5, h * 0.5]) / tol) * tol)
    lo = np.floor(np.trunc((new.min(0) + [w * 0.5, h * 0.5]) / tol) * tol)
    size = hi - lo
    return int(size[0]), int(size[1])


def rotate(img, matrix, interpolation="nearest", expand=False, fill=None):
    check_image("rotate", img)
    if interpolation not in ("nearest", "bilinear"):
        raise ValueError(f"rotate: a tensor image takes interpolation nearest or bilinear, got {interpolation!r}")
    w, h = img.shape[-1], img.shape[-2]
    ow, oh = rotated_size(matrix, w, h) if expand else (w, h)
    out_dtype = img.dtype
    cast = not is_float(img)
    x = img.to(tg.float32) if cast else img
    lead = tuple(x.shape[:-3])
    x = x.reshape(-1, *x.shape[-3:]) if x.ndim >= 4 else x.unsqueeze(0)
    grid = _affine_grid(matrix, w, h, ow, oh, x.dtype).expand(x.shape[0], oh, ow, 2)
    if fill is not None:  # a channel of ones marks where the rotated image lands
        x = tg.cat((x, tg.ones_like(x[:, :1])), dim=1)
    x = F.grid_sample(x, grid, mode=interpolation, padding_mode="zeros", align_corners=False)
    if fill is not None:
        mask = x[:, -1:].expand(x.shape[0], x.shape[1] - 1, oh, ow)
        x = x[:, :-1]
        values = list(fill) if isinstance(fill, (list, tuple)) else [float(fill)]
        fill_img = tg.as_tensor(values, dtype=x.dtype).view(1, len(values), 1, 1).expand(*x.shape)
        if interpolation == "nearest":
            x = tg.where(mask < 0.5, fill_img, x)
        else:
            x = x * mask + (1.0 - mask) * fill_img
    x = x.reshape(*lead, *x.shape[-3:]) if img.ndim >= 4 else x.squeeze(0)
    if cast:
        x = x.round().to(out_dtype)
    return x


def erase(img, i, j, h, w, v, inplace=False):
    check_image("erase", img)
    if not inplace:
        img = img.clone()
    img[..., i:i + h, j:j + w] = v
    return img


def inverse_affine_matrix(center, angle, translate, scale, shear):
    """PIL's inverse affine matrix (6 numbers) for rotation by angle degrees about center, then translation,
    scale and shear (degrees), as torchvision's _get_inverse_affine_matrix."""
    rot, sx, sy = math.radians(angle), math.radians(shear[0]), math.radians(shear[1])
    cx, cy = center
    tx, ty = translate
    a = math.cos(rot - sy) / math.cos(sy)
    b = -math.cos(rot - sy) * math.tan(sx) / math.cos(sy) - math.sin(rot)
    c = math.sin(rot - sy) / math.cos(sy)
    d = -math.sin(rot - sy) * math.tan(sx) / math.cos(sy) + math.cos(rot)
    m = [d / scale, -b / scale, 0.0, -c / scale, a / scale, 0.0]
    m[2] += m[0] * (-cx - tx) + m[1] * (-cy - ty) + cx
    m[5] += m[3] * (-cx - tx) + m[4] * (-cy - ty) + cy
    return m
