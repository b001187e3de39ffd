"""torchvision.io's image half, decoded with PIL: read_file / decode_image / read_image give uint8 CHW tensors as
torchvision's do (channels by ImageReadMode), write_file / write_png / write_jpeg write them back. No video."""
import enum
import io as _io

import numpy as np
from PIL import Image

import tensorgrad as tg

from .transforms.functional import pil_to_tensor


class ImageReadMode(enum.Enum):
    UNCHANGED = 0
    GRAY = 1
    GRAY_ALPHA = 2
    RGB = 3
    RGB_ALPHA = 4
    RGBA = 4


# the PIL mode each read mode converts to (UNCHANGED keeps the file's channels: L, LA, RGB or RGBA)
_PIL_MODE = {ImageReadMode.GRAY: "L", ImageReadMode.GRAY_ALPHA: "LA", ImageReadMode.RGB: "RGB",
             ImageReadMode.RGB_ALPHA: "RGBA"}


def read_file(path):
    """The file's bytes as a 1-D uint8 tensor."""
    with open(path, "rb") as f:
        return tg.from_numpy(np.frombuffer(f.read(), np.uint8).copy())


def decode_image(input, mode=ImageReadMode.UNCHANGED):
    """A PNG/JPEG/... as a uint8 tensor of shape (C, H, W); input is the encoded bytes (1-D uint8) or a path."""
    if isinstance(input, str):
        input = read_file(input)
    if not isinstance(input, tg.Tensor) or input.dtype != np.uint8 or input.dim() != 1:
        raise RuntimeError(f"decode_image: expected a 1-D uint8 tensor of encoded bytes, got "
                           f"{type(input).__name__}" + (f" {input.dtype} of shape {tuple(input.shape)}"
                                                         if isinstance(input, tg.Tensor) else ""))
    if isinstance(mode, str):
        mode = ImageReadMode[mode.upper()]
    img = Image.open(_io.BytesIO(input.numpy().tobytes()))
    # (GRAY from color is PIL's luma, which can differ from torchvision's libpng/libjpeg conversion by 1)
    if mode == ImageReadMode.UNCHANGED:
        target = {"1": "L", "L": "L", "P": "RGBA" if "transparency" in img.info else "RGB", "LA": "LA",
                  "RGB": "RGB", "RGBA": "RGBA"}.get(img.mode, "RGB")
    else:
        target = _PIL_MODE[mode]
    return pil_to_tensor(img.convert(target))


def read_image(path, mode=ImageReadMode.UNCHANGED):
    return decode_image(read_file(path), mode)


def write_file(filename, data):
    with open(filename, "wb") as f:
        f.write(data.numpy().tobytes())


def _to_pil(input, what):
    if not isinstance(input, tg.Tensor) or input.dtype != np.uint8 or input.dim() != 3 or input.shape[0] not in (1, 3):
        raise RuntimeError(f"{what}: expected a uint8 tensor of shape (1 or 3, H, W), got "
                           f"{getattr(input, 'dtype', type(input).__name__)} of shape {tuple(getattr(input, 'shape', ()))}")
    arr = np.ascontiguousarray(input.numpy().transpose(1, 2, 0))
    return Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)


def write_png(input, filename, compression_level=6):
    _to_pil(input, "write_png").save(filename, format="PNG", compress_level=compression_level)


def write_jpeg(input, filename, quality=75):
    _to_pil(input, "write_jpeg").save(filename, format="JPEG", quality=quality)


__all__ = ["ImageReadMode", "read_file", "decode_image", "read_image", "write_file", "write_png", "write_jpeg"]
