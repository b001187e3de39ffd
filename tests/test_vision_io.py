"""torchvision.io's image functions (tensorgrad.vision.io): read_image gives uint8 (C, H, W) with the channels
ImageReadMode asks for, as torchvision's (checked once against torchvision 0.29: exact except GRAY from color, which
may round 1 apart); write_png round-trips; bad input is refused with the shapes named."""
import numpy as np
import pytest
from PIL import Image

import tensorgrad as tg
from tensorgrad.vision.io import ImageReadMode, decode_image, read_file, read_image, write_png


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(0)
    arrs = {"RGB": rng.integers(0, 255, (5, 7, 3), dtype=np.uint8), "L": rng.integers(0, 255, (5, 7), dtype=np.uint8),
            "RGBA": rng.integers(0, 255, (5, 7, 4), dtype=np.uint8)}
    paths = {}
    for mode, a in arrs.items():
        paths[mode] = str(tmp_path / f"{mode}.png")
        Image.fromarray(a).save(paths[mode])
    return arrs, paths


def _chw(a):
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)


def test_read_image_modes(images):
    arrs, paths = images
    for mode, a in arrs.items():
        out = read_image(paths[mode])
        assert out.dtype == np.uint8 and out.shape == _chw(a).shape
        np.testing.assert_array_equal(out.numpy(), _chw(a))
        rgb = read_image(paths[mode], ImageReadMode.RGB).numpy()
        np.testing.assert_array_equal(rgb, _chw(np.asarray(Image.fromarray(a).convert("RGB"))))
        gray = read_image(paths[mode], ImageReadMode.GRAY).numpy()
        assert gray.shape == (1, 5, 7)
        luma = a if a.ndim == 2 else a[..., :3].astype(float) @ [0.299, 0.587, 0.114]
        assert np.abs(gray[0].astype(float) - luma).max() <= 1.0
    same = decode_image(read_file(paths["RGB"]))
    np.testing.assert_array_equal(same.numpy(), _chw(arrs["RGB"]))


def test_write_png_round_trip_and_errors(images, tmp_path):
    arrs, _ = images
    for a in (arrs["RGB"], arrs["L"]):
        t = tg.from_numpy(np.ascontiguousarray(_chw(a)))
        write_png(t, str(tmp_path / "o.png"))
        np.testing.assert_array_equal(read_image(str(tmp_path / "o.png")).numpy(), _chw(a))
    with pytest.raises(RuntimeError, match=r"write_png: expected a uint8 tensor of shape \(1 or 3, H, W\)"):
        write_png(tg.zeros(3, 4, 4), str(tmp_path / "bad.png"))
    with pytest.raises(RuntimeError, match="decode_image: expected a 1-D uint8 tensor"):
        decode_image(tg.zeros(2, 2))
