"""What SummaryWriter is handed (tensorgrad Tensors, NumPy arrays, Python numbers, matplotlib figures) turned into the
NumPy arrays that the summary builders read, and images laid out as one HWC picture, as torch's _convert_np / _utils
do."""
import numpy as np

from ...dtypes import bfloat16
from ...tensor import Tensor


def make_np(x):
    """A NumPy array of ``x`` (a tensorgrad Tensor on any device, a NumPy array, or a Python/NumPy scalar, which
    becomes a 1-element array as in torch)."""
    if isinstance(x, np.ndarray):
        return x
    if np.isscalar(x):
        return np.array([x])
    if isinstance(x, Tensor):
        arr = x.detach().cpu().numpy()
        # bfloat16 is ml_dtypes' extension type, which np.histogram and PIL do not take; float32 holds every bfloat16
        # exactly (torch goes through float16, which overflows past 65504)
        return arr.astype(np.float32) if arr.dtype == bfloat16 else arr
    raise NotImplementedError(f"Got {type(x)}, but numpy array or tensorgrad tensor are expected.")


def make_grid(images, ncols=8):
    """N images (N1HW or N3HW) tiled row by row into one 3HW canvas, ``ncols`` wide, the last row padded with zeros."""
    if not isinstance(images, np.ndarray):
        raise TypeError(f"make_grid expects a NumPy array, got {type(images).__name__}")
    if images.ndim == 4 and images.shape[1] == 1:
        images = np.concatenate([images, images, images], 1)
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"a batch of images must be N x C x H x W with C = 1 or 3, got shape {images.shape}")
    n, _, h, w = images.shape
    ncols = min(n, ncols)
    nrows = int(np.ceil(n / ncols)) if n else 0
    canvas = np.zeros((3, h * nrows, w * ncols), dtype=images.dtype)
    for i in range(n):
        y, x = divmod(i, ncols)
        canvas[:, y * h:(y + 1) * h, x * w:(x + 1) * w] = images[i]
    return canvas


def convert_to_HWC(tensor, input_format):  # noqa: N802  (torch's name)
    """``tensor`` (a NumPy array laid out as ``input_format``: some order of NCHW, CHW / HWC, or HW) as one H x W x C
    picture: a batch tiled by make_grid, one channel or a 2-d array repeated into RGB."""
    fmt = input_format.upper()
    if len(set(fmt)) != len(fmt):
        raise ValueError(f"dataformats {input_format!r} names a dimension twice")
    if tensor.ndim != len(fmt):
        raise ValueError(f"the image has {tensor.ndim} dimensions (shape {tensor.shape}) but dataformats "
                         f"{input_format!r} has {len(fmt)}")
    wanted = {4: "NCHW", 3: "HWC", 2: "HW"}.get(len(fmt))
    if wanted is None or set(fmt) != set(wanted):
        raise ValueError(f"dataformats must be a permutation of NCHW, CHW/HWC or HW, got {input_format!r}")
    arranged = tensor.transpose([fmt.find(c) for c in wanted])
    if len(fmt) == 4:
        return make_grid(arranged).transpose(1, 2, 0)
    if len(fmt) == 3:
        return np.concatenate([arranged] * 3, 2) if arranged.shape[2] == 1 else arranged
    return np.stack([arranged] * 3, 2)


def figure_to_image(figures, close=True):
    """A matplotlib figure rendered by the Agg canvas as a CHW uint8 RGB array (a list of figures: NCHW)."""
    import matplotlib.pyplot as plt  # matplotlib is a dependency, but pyplot picks a backend: only when asked
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    def render(figure):
        canvas = FigureCanvasAgg(figure)
        canvas.draw()
        w, h = figure.canvas.get_width_height()
        rgba = np.frombuffer(canvas.buffer_rgba(), dtype=np.uint8).reshape(h, w, 4)
        if close:
            plt.close(figure)
        return np.moveaxis(rgba[:, :, :3], 2, 0)

    if isinstance(figures, list):
        return np.stack([render(f) for f in figures])
    return render(figures)


def prepare_video(video):
    """A B x T x C x H x W batch of clips as T frames of H' x W' x C, the clips tiled on a grid (the batch padded with
    blank clips to a power of two), values in [0, 1] (uint8 scaled down)."""
    b, t, c, h, w = video.shape
    if video.dtype == np.uint8:
        video = np.float32(video) / 255.0
    if b & (b - 1):
        pad = 2 ** b.bit_length() - b
        video = np.concatenate((video, np.zeros((pad, t, c, h, w))), axis=0)
    n_rows = 2 ** ((b.bit_length() - 1) // 2)
    n_cols = video.shape[0] // n_rows
    video = video.reshape(n_rows, n_cols, t, c, h, w).transpose(2, 0, 4, 1, 5, 3)
    return video.reshape(t, n_rows * h, n_cols * w, c)
