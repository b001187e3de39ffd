"""The PIL side of torchvision's transforms: each function takes and returns a PIL Image and leaves the pixel work
to Pillow (resizing, rotation, colour enhancement), as torchvision does, so results are Pillow's own."""
import numbers

import numpy as np
from PIL import Image, ImageEnhance, ImageOps


def is_pil_image(img):
    return isinstance(img, Image.Image)


def check_pil(op, img):
    if not is_pil_image(img):
        raise TypeError(f"{op}: expected a PIL Image, got {type(img).__name__}")


def get_dimensions(img):
    check_pil("get_dimensions", img)
    width, height = img.size
    return [len(img.getbands()), height, width]


def hflip(img):
    check_pil("hflip", img)
    return img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)


def vflip(img):
    check_pil("vflip", img)
    return img.transpose(Image.Transpose.FLIP_TOP_BOTTOM)


def crop(img, top, left, height, width):
    # PIL fills the part of the box outside the image with zeros, as the tensor path pads
    check_pil("crop", img)
    return img.crop((left, top, left + width, top + height))


def resize(img, size, resample):
    """size is [h, w]; PIL takes (w, h) and always antialiases its bilinear / bicubic filters."""
    check_pil("resize", img)
    return img.resize((int(size[1]), int(size[0])), resample)


def parse_fill(fill, img, name="fillcolor"):
    """fill as Pillow takes it for this image: one int per band (a float for mode F)."""
    bands = len(img.getbands())
    fill = 0 if fill is None else fill
    if isinstance(fill, numbers.Number) and bands > 1:
        fill = (fill,) * bands
    if isinstance(fill, (list, tuple)):
        if len(fill) == 1:
            fill = tuple(fill) * bands
        elif len(fill) != bands:
            raise ValueError(f"the number of elements in {name!r} does not match the number of channels of the image "
                             f"({len(fill)} != {bands})")
        fill = tuple(fill)
    if img.mode != "F":
        fill = tuple(int(v) for v in fill) if isinstance(fill, tuple) else int(fill)
    return {name: fill}


def pad(img, ltrb, fill=0, padding_mode="constant"):
    check_pil("pad", img)
    left, top, right, bottom = ltrb
    if padding_mode == "constant":
        opts = parse_fill(fill, img, name="fill")
        palette = img.getpalette() if img.mode == "P" else None
        out = ImageOps.expand(img, border=(left, top, right, bottom), **opts)  # a negative border crops
        if palette is not None:
            out.putpalette(palette)
        return out
    # edge / reflect / symmetric through NumPy's pad modes of the same names (edge: the border pixel repeats)
    cut = [max(-p, 0) for p in ltrb]
    if any(cut):
        img = img.crop((cut[0], cut[1], img.width - cut[2], img.height - cut[3]))
    left, top, right, bottom = (max(p, 0) for p in ltrb)
    arr = np.asarray(img)
    widths = ((top, bottom), (left, right)) + (((0, 0),) if arr.ndim == 3 else ())
    out = Image.fromarray(np.pad(arr, widths, mode=padding_mode))
    if img.mode == "P":
        out.putpalette(img.getpalette())
    return out


def to_grayscale(img, num_output_channels):
    check_pil("to_grayscale", img)
    if num_output_channels not in (1, 3):
        raise ValueError(f"to_grayscale: num_output_channels must be 1 or 3, got {num_output_channels}")
    gray = img.convert("L")
    if num_output_channels == 1:
        return gray
    return Image.merge("RGB", (gray, gray, gray))


def adjust_brightness(img, factor):
    check_pil("adjust_brightness", img)
    return ImageEnhance.Brightness(img).enhance(factor)


def adjust_contrast(img, factor):
    check_pil("adjust_contrast", img)
    return ImageEnhance.Contrast(img).enhance(factor)


def adjust_saturation(img, factor):
    check_pil("adjust_saturation", img)
    return ImageEnhance.Color(img).enhance(factor)


def adjust_hue(img, factor):
    """Shift the hue channel by factor of a turn (uint8 arithmetic wraps around, as it should for an angle)."""
    if not -0.5 <= factor <= 0.5:
        raise ValueError(f"adjust_hue: hue_factor ({factor}) is not in [-0.5, 0.5]")
    check_pil("adjust_hue", img)
    mode = img.mode
    if mode in ("L", "1", "I", "F"):
        return img
    h, s, v = img.convert("HSV").split()
    shifted = np.asarray(h, dtype=np.uint8) + np.array(int(factor * 255)).astype(np.uint8)
    return Image.merge("HSV", (Image.fromarray(shifted.astype(np.uint8)), s, v)).convert(mode)


def rotate(img, angle, resample, expand=False, center=None, fill=None):
    check_pil("rotate", img)
    return img.rotate(angle, resample, expand, center, **parse_fill(fill, img))
