"""torchvision.utils for tensorgrad: make_grid (a batch of images tiled into one CHW image) and save_image (that
grid written through PIL, rounded to uint8 as torchvision rounds)."""
import math

import numpy as np
from PIL import Image

import tensorgrad as tg

__all__ = ["make_grid", "save_image"]


def _normalize(t, low, high):
    return (t.clamp(min=low, max=high) - low) / max(high - low, 1e-5)


@tg.no_grad()
def make_grid(tensor, nrow=8, padding=2, normalize=False, value_range=None, scale_each=False, pad_value=0.0):
    """Tile a (B, C, H, W) tensor (or a list of CHW tensors) nrow per row, with padding pixels of pad_value
    between and around them; one-channel images become three. normalize rescales to [0, 1] by value_range or by
    the min and max (of each image with scale_each)."""
    if isinstance(tensor, list):
        for t in tensor:
            if not isinstance(t, tg.Tensor):
                raise TypeError(f"make_grid: tensor or list of tensors expected, got a list containing {type(t)}")
        tensor = tg.stack(tensor, dim=0)
    elif not isinstance(tensor, tg.Tensor):
        raise TypeError(f"make_grid: tensor or list of tensors expected, got {type(tensor)}")
    if tensor.ndim == 2:
        tensor = tensor.unsqueeze(0)
    if tensor.ndim == 3:
        if tensor.shape[0] == 1:
            tensor = tg.cat((tensor, tensor, tensor), 0)
        tensor = tensor.unsqueeze(0)
    if tensor.ndim != 4:
        raise ValueError(f"make_grid: expected a 2-, 3- or 4-d tensor, got shape {tuple(tensor.shape)}")
    if tensor.shape[1] == 1:
        tensor = tg.cat((tensor, tensor, tensor), 1)
    if normalize:
        if value_range is not None and not isinstance(value_range, tuple):
            raise TypeError("make_grid: value_range has to be a tuple (min, max) if specified")

        def rescale(t):
            low, high = value_range if value_range is not None else (float(t.min()), float(t.max()))
            return _normalize(t, low, high)

        tensor = tg.stack([rescale(t) for t in tensor]) if scale_each else rescale(tensor)
    if tensor.shape[0] == 1:
        return tensor.squeeze(0)
    n = tensor.shape[0]
    xmaps = min(nrow, n)
    ymaps = int(math.ceil(float(n) / xmaps))
    height, width = int(tensor.shape[2] + padding), int(tensor.shape[3] + padding)
    grid = tensor.new_full((tensor.shape[1], height * ymaps + padding, width * xmaps + padding), pad_value)
    for k in range(n):
        y, x = divmod(k, xmaps)
        grid[:, y * height + padding:(y + 1) * height, x * width + padding:(x + 1) * width] = tensor[k]
    return grid


@tg.no_grad()
def save_image(tensor, fp, format=None, **kwargs):
    """make_grid(tensor, **kwargs) saved as an 8-bit image: values in [0, 1] scaled by 255, +0.5 and clamped, so
    they round to the nearest integer."""
    grid = make_grid(tensor, **kwargs)
    arr = (grid * 255 + 0.5).clamp(0, 255).permute(1, 2, 0).detach().cpu().numpy().astype(np.uint8)
    Image.fromarray(arr).save(fp, format=format)
