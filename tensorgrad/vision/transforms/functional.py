"""torchvision.transforms.functional for tensorgrad: each function takes a PIL Image (handled by Pillow, _pil.py) or
a tensorgrad Tensor image of shape (..., C, H, W) (tensorgrad ops, _tensor.py), with torchvision's argument forms,
defaults and conversions (to_tensor's uint8 -> [0, 1] float, to_pil_image's float * 255 truncation, resize's
smaller-edge rule, center_crop's rounding, ...)."""
import numbers
import sys
from enum import Enum

import numpy as np
from PIL import Image

import tensorgrad as tg

from . import _pil as F_pil
from . import _tensor as F_t

__all__ = ["InterpolationMode", "get_dimensions", "get_image_size", "get_image_num_channels", "to_tensor",
           "pil_to_tensor", "convert_image_dtype", "to_pil_image", "normalize", "resize", "pad", "crop",
           "center_crop", "resized_crop", "hflip", "vflip", "five_crop", "ten_crop", "adjust_brightness",
           "adjust_contrast", "adjust_saturation", "adjust_hue", "rotate", "to_grayscale", "rgb_to_grayscale",
           "erase"]


class InterpolationMode(Enum):
    NEAREST = "nearest"
    NEAREST_EXACT = "nearest-exact"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    BOX = "box"  # the last three exist for PIL images only
    HAMMING = "hamming"
    LANCZOS = "lanczos"


# Pillow's integer resampling constants, which torchvision accepts in place of the enum
_FROM_PIL = {0: InterpolationMode.NEAREST, 2: InterpolationMode.BILINEAR, 3: InterpolationMode.BICUBIC,
             4: InterpolationMode.BOX, 5: InterpolationMode.HAMMING, 1: InterpolationMode.LANCZOS}
_TO_PIL = {InterpolationMode.NEAREST: 0, InterpolationMode.NEAREST_EXACT: 0, InterpolationMode.BILINEAR: 2,
           InterpolationMode.BICUBIC: 3, InterpolationMode.BOX: 4, InterpolationMode.HAMMING: 5,
           InterpolationMode.LANCZOS: 1}


def interpolation_mode(value, op):
    if isinstance(value, InterpolationMode):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value in _FROM_PIL:
        return _FROM_PIL[value]
    raise TypeError(f"{op}: interpolation must be an InterpolationMode or a Pillow resampling constant "
                    f"(0, 1, 2, 3, 4, 5), got {value!r}")


def _is_tensor(img):
    return isinstance(img, tg.Tensor)


def _check_image(op, img):
    if not (_is_tensor(img) or F_pil.is_pil_image(img)):
        raise TypeError(f"{op}: img should be a PIL Image or a Tensor, got {type(img).__name__}")


def get_dimensions(img):
    """[channels, height, width]."""
    _check_image("get_dimensions", img)
    return F_t.get_dimensions(img) if _is_tensor(img) else F_pil.get_dimensions(img)


def get_image_size(img):
    """[width, height]."""
    _, h, w = get_dimensions(img)
    return [w, h]


def get_image_num_channels(img):
    return get_dimensions(img)[0]


def _to_float(chw):
    """A uint8 CHW array becomes the default float dtype in [0, 1]; other dtypes stay as they are (torchvision)."""
    t = tg.from_numpy(np.ascontiguousarray(chw))
    if chw.dtype == np.uint8:
        return t.to(tg.get_default_dtype()).div(255)
    return t


def to_tensor(pic):
    """A PIL Image or an HWC (or HW) ndarray as a CHW tensor; uint8 data is scaled to [0, 1]."""
    if isinstance(pic, np.ndarray):
        if pic.ndim not in (2, 3):
            raise ValueError(f"to_tensor: pic should be 2/3 dimensional, got {pic.ndim} dimensions")
        return _to_float((pic[:, :, None] if pic.ndim == 2 else pic).transpose(2, 0, 1))
    if not F_pil.is_pil_image(pic):
        raise TypeError(f"to_tensor: pic should be a PIL Image or ndarray, got {type(pic).__name__}")
    i16 = "I;16" if sys.byteorder == "little" else "I;16B"
    arr = np.array(pic, {"I": np.int32, i16: np.int16, "F": np.float32}.get(pic.mode, np.uint8), copy=True)
    if pic.mode == "1":
        arr = 255 * arr
    arr = arr.reshape(pic.size[1], pic.size[0], len(pic.getbands()))
    return _to_float(arr.transpose(2, 0, 1))


def pil_to_tensor(pic):
    """A PIL Image as a CHW tensor of the image's own dtype (no scaling)."""
    if not F_pil.is_pil_image(pic):
        raise TypeError(f"pil_to_tensor: pic should be a PIL Image, got {type(pic).__name__}")
    arr = np.array(pic, copy=True)
    arr = arr.reshape(pic.size[1], pic.size[0], len(pic.getbands()))
    return tg.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))


def convert_image_dtype(image, dtype=tg.float32):
    if not _is_tensor(image):
        raise TypeError(f"convert_image_dtype: expected a tensor image, got {type(image).__name__}")
    return F_t.convert_image_dtype(image, dtype)


def image_from_array(arr, mode):
    """A PIL Image of ``mode`` over the bytes of ``arr`` (HW or HWC): the bytes are read in that mode, which
    Image.fromarray no longer does for a mode that differs from the array's (Pillow 11.3 deprecated its mode)."""
    arr = np.ascontiguousarray(arr)
    return Image.frombuffer(mode, (arr.shape[1], arr.shape[0]), arr.tobytes(), "raw", mode, 0, 1)


_MODES = {1: ("L", "I;16" if sys.byteorder == "little" else "I;16B", "I", "F"), 2: ("LA",),
          3: ("RGB", "YCbCr", "HSV"), 4: ("RGBA", "CMYK", "RGBX")}


def to_pil_image(pic, mode=None):
    """A CHW tensor or HWC ndarray as a PIL Image; floating point data is scaled by 255 and truncated to uint8
    (unless mode is "F"); the mode is inferred from the channels and dtype as torchvision does."""
    if _is_tensor(pic):
        if pic.ndim == 3:
            pic = pic.permute(1, 2, 0)
        pic = pic.detach().cpu().numpy()
    elif not isinstance(pic, np.ndarray):
        raise TypeError(f"to_pil_image: pic should be a Tensor or ndarray, got {type(pic).__name__}")
    if pic.ndim == 2:
        pic = pic[:, :, None]
    if pic.ndim != 3:
        raise ValueError(f"to_pil_image: pic should be 2/3 dimensional, got {pic.ndim} dimensions")
    channels = pic.shape[-1]
    if channels > 4:
        raise ValueError(f"to_pil_image: pic should not have more than 4 channels, got {channels} channels")
    if np.issubdtype(pic.dtype, np.floating) and mode != "F":
        pic = (pic * 255).astype(np.uint8)
    if channels == 1:
        pic = pic[:, :, 0]
        by_dtype = {np.dtype(np.uint8): "L", np.dtype(np.int16): _MODES[1][1], np.dtype(np.int32): "I",
                    np.dtype(np.float32): "F"}
        expected = by_dtype.get(pic.dtype)
        if mode is not None and mode != expected:
            raise ValueError(f"to_pil_image: mode {mode!r} does not fit a 1-channel {pic.dtype} image; it should be "
                             f"{expected!r}")
        mode = expected
    else:
        if mode is not None and mode not in _MODES[channels]:
            raise ValueError(f"to_pil_image: only modes {list(_MODES[channels])} are supported for {channels}-channel "
                             f"inputs, got {mode!r}")
        if mode is None and pic.dtype == np.uint8:
            mode = _MODES[channels][0]
    if mode is None:
        raise TypeError(f"to_pil_image: input type {pic.dtype} is not supported")
    return image_from_array(pic, mode)


def normalize(tensor, mean, std, inplace=False):
    """(tensor - mean) / std per channel, on a float (..., C, H, W) tensor."""
    if not _is_tensor(tensor):
        raise TypeError(f"normalize: img should be a Tensor image, got {type(tensor).__name__}")
    return F_t.normalize(tensor, mean, std, inplace)


def resized_output_size(height, width, size, max_size=None):
    """torchvision's rule: a single size sets the smaller edge (the other keeps the aspect ratio, truncated),
    capped so that the longer edge is at most max_size; two sizes are (h, w)."""
    if len(size) == 2:
        if max_size is not None:
            raise ValueError("resize: max_size should only be passed if size specifies the length of the smaller "
                             "edge, i.e. size should be an int or a sequence of length 1")
        return [int(size[0]), int(size[1])]
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = int(size[0]), int(int(size[0]) * long / short)
    if max_size is not None:
        if max_size <= new_short:
            raise ValueError(f"resize: max_size = {max_size} must be strictly greater than the requested size for the "
                             f"smaller edge size = {list(size)}")
        if new_long > max_size:
            new_short, new_long = int(max_size * new_short / new_long), max_size
    new_w, new_h = (new_short, new_long) if width <= height else (new_long, new_short)
    return [new_h, new_w]


def _size_list(op, size):
    if isinstance(size, numbers.Integral):
        return [int(size)]
    if isinstance(size, (list, tuple)) and len(size) in (1, 2):
        return list(size)
    raise ValueError(f"{op}: size must be an int or a 1 or 2 element sequence, got {size!r}")


def resize(img, size, interpolation=InterpolationMode.BILINEAR, max_size=None, antialias=True):
    interpolation = interpolation_mode(interpolation, "resize")
    _check_image("resize", img)
    _, h, w = get_dimensions(img)
    out = resized_output_size(h, w, _size_list("resize", size), max_size)
    if out == [h, w]:
        return img
    if not _is_tensor(img):
        return F_pil.resize(img, out, _TO_PIL[interpolation])
    return F_t.resize(img, out, interpolation.value, antialias=bool(antialias))


def pad(img, padding, fill=0, padding_mode="constant"):
    """Pad each border: padding is an int, [all], [left/right, top/bottom] or [left, top, right, bottom]."""
    _check_image("pad", img)
    if not isinstance(padding, (numbers.Number, tuple, list)):
        raise TypeError(f"pad: inappropriate padding {padding!r}")
    if padding_mode not in ("constant", "edge", "reflect", "symmetric"):
        raise ValueError(f"pad: padding_mode should be constant, edge, reflect or symmetric, got {padding_mode!r}")
    if _is_tensor(img):
        return F_t.pad(img, padding, fill, padding_mode)
    return F_pil.pad(img, F_t.parse_padding(padding), fill, padding_mode)


def crop(img, top, left, height, width):
    _check_image("crop", img)
    if _is_tensor(img):
        return F_t.crop(img, top, left, height, width)
    return F_pil.crop(img, top, left, height, width)


def center_crop(img, output_size):
    """The central (h, w) box; an image smaller than the box is zero-padded first (more on the bottom/right)."""
    if isinstance(output_size, numbers.Number):
        output_size = (int(output_size), int(output_size))
    elif isinstance(output_size, (tuple, list)) and len(output_size) == 1:
        output_size = (output_size[0], output_size[0])
    _, h, w = get_dimensions(img)
    ch, cw = output_size
    if cw > w or ch > h:
        ltrb = [(cw - w) // 2 if cw > w else 0, (ch - h) // 2 if ch > h else 0, (cw - w + 1) // 2 if cw > w else 0,
                (ch - h + 1) // 2 if ch > h else 0]
        img = pad(img, ltrb, fill=0)
        _, h, w = get_dimensions(img)
        if cw == w and ch == h:
            return img
    return crop(img, int(round((h - ch) / 2.0)), int(round((w - cw) / 2.0)), ch, cw)


def resized_crop(img, top, left, height, width, size, interpolation=InterpolationMode.BILINEAR, antialias=True):
    return resize(crop(img, top, left, height, width), size, interpolation, antialias=antialias)


def hflip(img):
    _check_image("hflip", img)
    return F_t.hflip(img) if _is_tensor(img) else F_pil.hflip(img)


def vflip(img):
    _check_image("vflip", img)
    return F_t.vflip(img) if _is_tensor(img) else F_pil.vflip(img)


def five_crop(img, size):
    """The four corner crops and the central crop, each of size (h, w)."""
    if isinstance(size, numbers.Number):
        size = (int(size), int(size))
    elif isinstance(size, (tuple, list)) and len(size) == 1:
        size = (size[0], size[0])
    if len(size) != 2:
        raise ValueError(f"five_crop: please provide only two dimensions (h, w) for size, got {size!r}")
    _, h, w = get_dimensions(img)
    ch, cw = size
    if cw > w or ch > h:
        raise ValueError(f"five_crop: requested crop size {size} is bigger than input size {(h, w)}")
    return (crop(img, 0, 0, ch, cw), crop(img, 0, w - cw, ch, cw), crop(img, h - ch, 0, ch, cw),
            crop(img, h - ch, w - cw, ch, cw), center_crop(img, [ch, cw]))


def ten_crop(img, size, vertical_flip=False):
    first = five_crop(img, size)
    return first + five_crop(vflip(img) if vertical_flip else hflip(img), size)


def adjust_brightness(img, brightness_factor):
    _check_image("adjust_brightness", img)
    if _is_tensor(img):
        return F_t.adjust_brightness(img, brightness_factor)
    return F_pil.adjust_brightness(img, brightness_factor)


def adjust_contrast(img, contrast_factor):
    _check_image("adjust_contrast", img)
    if _is_tensor(img):
        return F_t.adjust_contrast(img, contrast_factor)
    return F_pil.adjust_contrast(img, contrast_factor)


def adjust_saturation(img, saturation_factor):
    _check_image("adjust_saturation", img)
    if _is_tensor(img):
        return F_t.adjust_saturation(img, saturation_factor)
    return F_pil.adjust_saturation(img, saturation_factor)


def adjust_hue(img, hue_factor):
    _check_image("adjust_hue", img)
    return F_t.adjust_hue(img, hue_factor) if _is_tensor(img) else F_pil.adjust_hue(img, hue_factor)


def rotate(img, angle, interpolation=InterpolationMode.NEAREST, expand=False, center=None, fill=None):
    """Rotate counter-clockwise by angle degrees about center (default: the image centre)."""
    interpolation = interpolation_mode(interpolation, "rotate")
    if not isinstance(angle, (int, float)):
        raise TypeError(f"rotate: angle should be int or float, got {type(angle).__name__}")
    if center is not None and not isinstance(center, (list, tuple)):
        raise TypeError(f"rotate: center should be a sequence, got {type(center).__name__}")
    _check_image("rotate", img)
    if not _is_tensor(img):
        return F_pil.rotate(img, angle, _TO_PIL[interpolation], expand, center, fill)
    center_f = [0.0, 0.0]
    if center is not None:
        _, h, w = get_dimensions(img)
        center_f = [1.0 * (c - s * 0.5) for c, s in zip(center, [w, h])]
    # the grid maps output to input pixels, so the tensor path takes the inverse rotation (-angle)
    matrix = F_t.inverse_affine_matrix(center_f, -angle, [0.0, 0.0], 1.0, [0.0, 0.0])
    return F_t.rotate(img, matrix, interpolation.value, expand, fill)


def to_grayscale(img, num_output_channels=1):
    """A PIL Image in mode L (or RGB with three equal bands)."""
    if not F_pil.is_pil_image(img):
        raise TypeError(f"to_grayscale: input should be a PIL Image, got {type(img).__name__}")
    return F_pil.to_grayscale(img, num_output_channels)


def rgb_to_grayscale(img, num_output_channels=1):
    _check_image("rgb_to_grayscale", img)
    if not _is_tensor(img):
        return F_pil.to_grayscale(img, num_output_channels)
    return F_t.rgb_to_grayscale(img, num_output_channels)


def erase(img, i, j, h, w, v, inplace=False):
    if not _is_tensor(img):
        raise TypeError(f"erase: img should be a Tensor image, got {type(img).__name__}")
    return F_t.erase(img, i, j, h, w, v, inplace)
