"""tensorgrad.vision.transforms (torchvision's v1 transforms) against the oracles torchvision itself is defined by:
PIL's own operations for PIL images, NumPy formulas for the exact values of ToTensor / Normalize / crops / flips /
pads / dtype conversions, and torch's F.interpolate (antialias on and off, values and gradients) for the tensor
resize path. torchvision cannot be imported beside this torch, so it is never called here."""
import colorsys

import numpy as np
import pytest
import torch
from PIL import Image

import tensorgrad as tg
from tensorgrad.vision import transforms as T
from tensorgrad.vision.transforms import InterpolationMode
from tensorgrad.vision.transforms import functional as F

SIZES = [(1, 1), (5, 7), (13, 17), (16, 16), (31, 9)]


def _rgb(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _t(a):
    return tg.from_numpy(np.ascontiguousarray(a))


# ---- conversions -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("h,w", SIZES)
def test_to_tensor_exact_values(h, w):
    a = _rgb(h, w, h * w)
    want = a.transpose(2, 0, 1).astype(np.float32) / np.float32(255)
    for pic in (a, Image.fromarray(a)):
        x = T.ToTensor()(pic)
        assert x.dtype == np.float32 and tuple(x.shape) == (3, h, w)
        np.testing.assert_array_equal(x.numpy(), want)
    gray = a[:, :, 0]
    np.testing.assert_array_equal(F.to_tensor(gray).numpy(), gray[None].astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(F.to_tensor(Image.fromarray(gray)).numpy(), F.to_tensor(gray).numpy())


def test_to_tensor_modes_and_non_uint8_arrays():
    a = np.random.default_rng(1).integers(0, 2, (4, 6)).astype(bool)
    x = F.to_tensor(Image.fromarray(a))  # mode "1": 0 / 255 before scaling
    np.testing.assert_array_equal(x.numpy(), a[None].astype(np.float32))
    i32 = np.arange(24, dtype=np.int32).reshape(4, 6) * 1000
    x = F.to_tensor(Image.fromarray(i32))  # mode "I" stays int32, unscaled
    assert x.dtype == np.int32
    np.testing.assert_array_equal(x.numpy()[0], i32)
    f = np.random.default_rng(2).random((3, 5)).astype(np.float32)
    np.testing.assert_array_equal(F.to_tensor(Image.fromarray(f)).numpy()[0], f)
    d = np.random.default_rng(3).random((3, 5, 2))  # a float64 ndarray is returned as it is, CHW
    x = F.to_tensor(d)
    assert x.dtype == np.float64
    np.testing.assert_array_equal(x.numpy(), d.transpose(2, 0, 1))
    with pytest.raises(ValueError, match="2/3 dimensional"):
        F.to_tensor(np.zeros((1, 2, 3, 4), np.uint8))
    with pytest.raises(TypeError, match="PIL Image or ndarray"):
        F.to_tensor([1, 2])


def test_pil_to_tensor_keeps_dtype():
    a = _rgb(5, 4)
    x = T.PILToTensor()(Image.fromarray(a))
    assert x.dtype == np.uint8
    np.testing.assert_array_equal(x.numpy(), a.transpose(2, 0, 1))


def test_to_pil_image_modes_and_float_truncation():
    rng = np.random.default_rng(4)
    f = rng.random((3, 6, 5)).astype(np.float32)
    img = T.ToPILImage()(_t(f))
    assert img.mode == "RGB" and img.size == (5, 6)
    np.testing.assert_array_equal(np.asarray(img), (f.transpose(1, 2, 0) * 255).astype(np.uint8))
    assert F.to_pil_image(_t(f[:1])).mode == "L"
    assert F.to_pil_image(rng.integers(0, 256, (4, 4, 4), dtype=np.uint8)).mode == "RGBA"
    assert F.to_pil_image(rng.integers(0, 256, (4, 4, 2), dtype=np.uint8)).mode == "LA"
    fimg = F.to_pil_image(f[0], mode="F")
    assert fimg.mode == "F"
    np.testing.assert_array_equal(np.asarray(fimg), f[0])
    hsv = F.to_pil_image(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8), mode="HSV")
    assert hsv.mode == "HSV"
    with pytest.raises(ValueError, match="only modes"):
        F.to_pil_image(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8), mode="RGBA")
    with pytest.raises(ValueError, match="more than 4 channels"):
        F.to_pil_image(np.zeros((2, 2, 5), np.uint8))
    a = _rgb(7, 3)
    np.testing.assert_array_equal(np.asarray(F.to_pil_image(F.pil_to_tensor(Image.fromarray(a)))), a)


def test_convert_image_dtype():
    u = np.arange(256, dtype=np.uint8).reshape(1, 16, 16)
    x = T.ConvertImageDtype(tg.float32)(_t(u))
    np.testing.assert_array_equal(x.numpy(), u.astype(np.float32) / np.float32(255))
    f = np.random.default_rng(5).random((2, 3, 3)).astype(np.float32)
    np.testing.assert_array_equal(F.convert_image_dtype(_t(f), tg.uint8).numpy(),
                                  (f * np.float32(255.999)).astype(np.uint8))
    np.testing.assert_array_equal(F.convert_image_dtype(_t(u), tg.int16).numpy(), u.astype(np.int16) * 128)
    i16 = np.array([[[0, 32767, 256]]], np.int16)
    np.testing.assert_array_equal(F.convert_image_dtype(_t(i16), tg.uint8).numpy(), (i16 // 128).astype(np.uint8))
    with pytest.raises(RuntimeError, match="cannot be performed safely"):
        F.convert_image_dtype(_t(f), tg.int32)


# ---- normalize, crops, flips, pad -----------------------------------------------------------------------------

def test_normalize_values_gradient_and_refusals():
    rng = np.random.default_rng(6)
    x = rng.random((2, 3, 5, 4)).astype(np.float32)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    want = (x - np.array(mean, np.float32)[:, None, None]) / np.array(std, np.float32)[:, None, None]
    xt = _t(x).requires_grad_()
    y = T.Normalize(mean, std)(xt)
    np.testing.assert_array_equal(y.detach().numpy(), want)
    np.testing.assert_array_equal(xt.detach().numpy(), x)  # not in place by default
    y.sum().backward()
    np.testing.assert_allclose(xt.grad.numpy(), np.broadcast_to(1 / np.array(std, np.float32)[:, None, None],
                                                                 x.shape), rtol=1e-6)
    z = _t(x.copy())
    assert F.normalize(z, mean, std, inplace=True) is z
    np.testing.assert_array_equal(z.numpy(), want)
    with pytest.raises(TypeError, match="float tensor"):
        F.normalize(_t((x * 255).astype(np.uint8)), mean, std)
    with pytest.raises(ValueError, match="std evaluated to zero"):
        F.normalize(_t(x), mean, (1.0, 0.0, 1.0))


def _center_box(h, w, ch, cw):
    return int(round((h - ch) / 2.0)), int(round((w - cw) / 2.0))


@pytest.mark.parametrize("h,w", SIZES)
@pytest.mark.parametrize("crop", [(1, 1), (4, 3), (5, 5)])
def test_center_crop_pil_and_tensor(h, w, crop):
    a = _rgb(h, w, 7)
    ch, cw = crop
    pil = np.asarray(T.CenterCrop(crop)(Image.fromarray(a)))
    ten = T.CenterCrop(crop)(_t(a.transpose(2, 0, 1))).numpy().transpose(1, 2, 0)
    if ch <= h and cw <= w:
        top, left = _center_box(h, w, ch, cw)
        want = a[top:top + ch, left:left + cw]
    else:  # padded with zeros first, the odd pixel going to the bottom / right
        pt, pl = max(ch - h, 0) // 2, max(cw - w, 0) // 2
        big = np.pad(a, ((pt, max(ch - h, 0) - pt), (pl, max(cw - w, 0) - pl), (0, 0)))
        top, left = _center_box(big.shape[0], big.shape[1], ch, cw)
        want = big[top:top + ch, left:left + cw]
    np.testing.assert_array_equal(pil, want)
    np.testing.assert_array_equal(ten, want)


def test_crop_outside_the_image_zero_pads_like_pil():
    a = _rgb(6, 8, 8)
    for box in [(-2, -3, 5, 6), (3, 4, 6, 7), (-1, 2, 9, 3)]:
        pil = np.asarray(F.crop(Image.fromarray(a), *box))
        ten = F.crop(_t(a.transpose(2, 0, 1)), *box).numpy().transpose(1, 2, 0)
        np.testing.assert_array_equal(ten, pil)


@pytest.mark.parametrize("h,w", SIZES)
def test_flips(h, w):
    a = _rgb(h, w, 9)
    chw = _t(a.transpose(2, 0, 1))
    np.testing.assert_array_equal(np.asarray(F.hflip(Image.fromarray(a))), a[:, ::-1])
    np.testing.assert_array_equal(np.asarray(F.vflip(Image.fromarray(a))), a[::-1])
    np.testing.assert_array_equal(F.hflip(chw).numpy(), a.transpose(2, 0, 1)[:, :, ::-1])
    np.testing.assert_array_equal(F.vflip(chw).numpy(), a.transpose(2, 0, 1)[:, ::-1])
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1.0)(chw).numpy(), F.hflip(chw).numpy())
    np.testing.assert_array_equal(T.RandomVerticalFlip(p=0.0)(chw).numpy(), a.transpose(2, 0, 1))


_NP_MODE = {"constant": "constant", "edge": "edge", "reflect": "reflect", "symmetric": "symmetric"}


@pytest.mark.parametrize("mode", list(_NP_MODE))
@pytest.mark.parametrize("padding", [2, [1, 3], [0, 2, 4, 1], (3,)])
def test_pad_modes_against_numpy(mode, padding):
    a = _rgb(6, 5, 10)
    left, top, right, bottom = {1: lambda p: (p[0],) * 4, 2: lambda p: (p[0], p[1], p[0], p[1]),
                                4: lambda p: tuple(p)}[1 if isinstance(padding, int) else len(padding)](
        [padding] if isinstance(padding, int) else list(padding))
    kw = {"constant_values": 7} if mode == "constant" else {}
    want = np.pad(a, ((top, bottom), (left, right), (0, 0)), mode=_NP_MODE[mode], **kw)
    pil = np.asarray(T.Pad(padding, fill=7, padding_mode=mode)(Image.fromarray(a)))
    np.testing.assert_array_equal(pil, want)
    for arr in (a.transpose(2, 0, 1), a.transpose(2, 0, 1).astype(np.float32) / 255):
        ten = T.Pad(padding, fill=7 if arr.dtype == np.uint8 else 7 / 255, padding_mode=mode)(_t(arr)).numpy()
        ref = np.pad(arr, ((0, 0), (top, bottom), (left, right)), mode=_NP_MODE[mode],
                     **({"constant_values": 7 if arr.dtype == np.uint8 else np.float32(7 / 255)}
                        if mode == "constant" else {}))
        assert ten.dtype == arr.dtype
        np.testing.assert_array_equal(ten, ref)


def test_pad_refusals_and_negative_padding():
    a = _rgb(6, 5, 11)
    with pytest.raises(ValueError, match="padding_mode"):
        T.Pad(1, padding_mode="wrap")
    with pytest.raises(ValueError, match="1, 2, or 4 element"):
        T.Pad([1, 2, 3])
    ten = F.pad(_t(a.transpose(2, 0, 1)), [-1, 1, 2, -2], padding_mode="symmetric").numpy().transpose(1, 2, 0)
    pil = np.asarray(F.pad(Image.fromarray(a), [-1, 1, 2, -2], padding_mode="symmetric"))
    np.testing.assert_array_equal(ten, pil)
    np.testing.assert_array_equal(pil, np.pad(a[:-2, 1:], ((1, 0), (0, 2), (0, 0)), mode="symmetric"))


# ---- resize -----------------------------------------------------------------------------------------------------

def _short_edge_size(h, w, size):
    if w <= h:
        return int(size * h / w), size
    return size, int(size * w / h)


@pytest.mark.parametrize("h,w", [(13, 17), (31, 9), (16, 16), (40, 25)])
@pytest.mark.parametrize("mode", [InterpolationMode.BILINEAR, InterpolationMode.BICUBIC, InterpolationMode.NEAREST,
                                  InterpolationMode.LANCZOS, InterpolationMode.BOX])
def test_resize_pil_path_is_pils_resize(h, w, mode):
    a = _rgb(h, w, 12)
    img = Image.fromarray(a)
    pil_const = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "nearest": Image.NEAREST,
                 "lanczos": Image.LANCZOS, "box": Image.BOX}[mode.value]
    for size in (7, 20):
        oh, ow = _short_edge_size(h, w, size)
        out = T.Resize(size, interpolation=mode)(img)
        assert out.size == (ow, oh)
        if (oh, ow) != (h, w):
            np.testing.assert_array_equal(np.asarray(out), np.asarray(img.resize((ow, oh), pil_const)))
    out = T.Resize((5, 11), interpolation=mode)(img)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(img.resize((11, 5), pil_const)))
    # the Pillow integer constants are accepted in place of the enum
    np.testing.assert_array_equal(np.asarray(T.Resize((5, 11), interpolation=pil_const)(img)), np.asarray(out))


def test_resize_max_size_and_refusals():
    img = Image.fromarray(_rgb(10, 40))
    assert T.Resize(8, max_size=20)(img).size == (20, 5)
    with pytest.raises(ValueError, match="strictly greater"):
        T.Resize(8, max_size=8)(img)
    with pytest.raises(ValueError, match="max_size should only be passed"):
        F.resize(img, [4, 4], max_size=10)
    with pytest.raises(TypeError, match="InterpolationMode"):
        F.resize(img, 4, interpolation="bilinear")
    with pytest.raises(ValueError, match="nearest, nearest-exact, bilinear or bicubic"):
        F.resize(_t(np.zeros((1, 4, 4), np.float32)), 2, interpolation=InterpolationMode.LANCZOS)


@pytest.mark.parametrize("h,w,oh,ow", [(13, 17, 5, 7), (9, 31, 18, 8), (16, 16, 16, 5), (7, 5, 20, 13),
                                       (1, 6, 3, 2)])
@pytest.mark.parametrize("mode", ["bilinear", "bicubic", "nearest", "nearest-exact"])
@pytest.mark.parametrize("antialias", [True, False])
def test_resize_tensor_path_matches_torch_interpolate(h, w, oh, ow, mode, antialias):
    rng = np.random.default_rng(h * ow)
    x = rng.random((2, 3, h, w)).astype(np.float32)
    xt = _t(x).requires_grad_()
    y = F.resize(xt, [oh, ow], interpolation=InterpolationMode(mode), antialias=antialias)
    ref = torch.from_numpy(x).requires_grad_()
    aa = antialias and mode in ("bilinear", "bicubic")
    corners = False if mode in ("bilinear", "bicubic") else None
    r = torch.nn.functional.interpolate(ref, size=(oh, ow), mode=mode, align_corners=corners, antialias=aa)
    np.testing.assert_allclose(y.detach().numpy(), r.detach().numpy(), rtol=1e-5, atol=1e-5)
    g = rng.standard_normal(r.shape).astype(np.float32)
    y.backward(_t(g))
    r.backward(torch.from_numpy(g))
    np.testing.assert_allclose(xt.grad.numpy(), ref.grad.numpy(), rtol=1e-4, atol=1e-5)
    # uint8 images are computed in float32 and rounded back (torch's uint8 antialias kernel rounds in fixed point)
    u = (x * 255).astype(np.uint8)
    yu = F.resize(_t(u), [oh, ow], interpolation=InterpolationMode(mode), antialias=antialias).numpy()
    ru = torch.nn.functional.interpolate(torch.from_numpy(u).float(), size=(oh, ow), mode=mode, align_corners=corners,
                                         antialias=aa)
    if mode == "bicubic":
        ru = ru.clamp(0, 255)
    assert yu.dtype == np.uint8
    assert np.abs(yu.astype(int) - ru.round().numpy().astype(int)).max() <= 1


@pytest.mark.parametrize("h,w,oh,ow", [(13, 17, 5, 7), (30, 20, 11, 9), (8, 8, 15, 21)])
@pytest.mark.parametrize("mode", [InterpolationMode.BILINEAR, InterpolationMode.BICUBIC])
def test_resize_tensor_antialias_is_within_pils_float_result(h, w, oh, ow, mode):
    # PIL resamples a mode-F image in float: the tensor path's filter is the same one
    x = np.random.default_rng(13).random((h, w)).astype(np.float32)
    pil = np.asarray(Image.fromarray(x, mode="F").resize((ow, oh), {"bilinear": Image.BILINEAR,
                                                                    "bicubic": Image.BICUBIC}[mode.value]))
    ten = F.resize(_t(x[None]), [oh, ow], interpolation=mode).numpy()[0]
    np.testing.assert_allclose(ten, pil, atol=2e-5)


# ---- random transforms: reproducible with tensorgrad.manual_seed, results are crops of the padded image ---------

def _find(sub, big):
    """The (top, left) offsets at which sub occurs in big (HWC)."""
    h, w = sub.shape[:2]
    return [(i, j) for i in range(big.shape[0] - h + 1) for j in range(big.shape[1] - w + 1)
            if np.array_equal(big[i:i + h, j:j + w], sub)]


@pytest.mark.parametrize("padding,pad_if_needed,size", [(None, False, (4, 5)), (2, False, (8, 6)),
                                                        ([1, 2], False, (3, 3)), (None, True, (9, 12))])
def test_random_crop(padding, pad_if_needed, size):
    a = _rgb(7, 6, 14)
    t = T.RandomCrop(size, padding=padding, pad_if_needed=pad_if_needed, fill=3)
    big = a if padding is None else np.asarray(F.pad(Image.fromarray(a), padding, fill=3))
    if pad_if_needed:
        dh, dw = max(size[0] - big.shape[0], 0), max(size[1] - big.shape[1], 0)
        big = np.pad(big, ((dh, dh), (dw, dw), (0, 0)), constant_values=3)
    outs = []
    for _ in range(2):
        tg.manual_seed(5)
        pil = np.asarray(t(Image.fromarray(a)))
        tg.manual_seed(5)
        ten = t(_t(a.transpose(2, 0, 1))).numpy().transpose(1, 2, 0)
        np.testing.assert_array_equal(pil, ten)  # the same draws on both paths
        assert pil.shape[:2] == tuple(size) and _find(pil, big)
        outs.append(pil)
    np.testing.assert_array_equal(outs[0], outs[1])
    with pytest.raises(ValueError, match="larger than input image size"):
        T.RandomCrop(20)(Image.fromarray(a))


def test_random_resized_crop_params_and_output():
    a = _rgb(20, 30, 15)
    t = T.RandomResizedCrop((8, 9), scale=(0.2, 0.9))
    tg.manual_seed(3)
    boxes = [T.RandomResizedCrop.get_params(Image.fromarray(a), (0.2, 0.9), (3 / 4, 4 / 3)) for _ in range(50)]
    for i, j, h, w in boxes:
        assert 0 <= i <= 20 - h and 0 <= j <= 30 - w and h > 0 and w > 0
        assert 0.2 * 600 * 0.8 <= h * w <= 0.9 * 600 * 1.2
    tg.manual_seed(3)
    again = [T.RandomResizedCrop.get_params(Image.fromarray(a), (0.2, 0.9), (3 / 4, 4 / 3)) for _ in range(50)]
    assert boxes == again
    tg.manual_seed(4)
    out = t(Image.fromarray(a))
    tg.manual_seed(4)
    i, j, h, w = T.RandomResizedCrop.get_params(Image.fromarray(a), t.scale, t.ratio)
    want = Image.fromarray(a).crop((j, i, j + w, i + h)).resize((9, 8), Image.BILINEAR)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(want))
    # impossible ratio: the central fallback box
    assert T.RandomResizedCrop.get_params(Image.fromarray(a), (1.0, 1.0), (10.0, 10.0)) == (8, 0, 3, 30)


def test_grayscale_pil_and_tensor():
    a = _rgb(9, 11, 16)
    g = T.Grayscale()(Image.fromarray(a))
    np.testing.assert_array_equal(np.asarray(g), np.asarray(Image.fromarray(a).convert("L")))
    g3 = T.Grayscale(3)(Image.fromarray(a))
    assert g3.mode == "RGB" and (np.asarray(g3) == np.asarray(g)[:, :, None]).all()
    f = a.transpose(2, 0, 1).astype(np.float32) / 255
    want = (0.2989 * f[0] + 0.587 * f[1] + 0.114 * f[2]).astype(np.float32)
    np.testing.assert_allclose(T.Grayscale()(_t(f)).numpy()[0], want, rtol=1e-6)
    assert tuple(T.Grayscale(3)(_t(f)).shape) == (3, 9, 11)


def test_color_adjustments_tensor_formulas():
    rng = np.random.default_rng(17)
    f = rng.random((3, 6, 7)).astype(np.float32)
    x = _t(f)
    np.testing.assert_allclose(F.adjust_brightness(x, 1.3).numpy(), np.clip(1.3 * f, 0, 1), rtol=1e-6)
    gray = 0.2989 * f[0] + 0.587 * f[1] + 0.114 * f[2]
    np.testing.assert_allclose(F.adjust_contrast(x, 0.6).numpy(), np.clip(0.6 * f + 0.4 * gray.mean(), 0, 1),
                               rtol=1e-5)
    np.testing.assert_allclose(F.adjust_saturation(x, 1.7).numpy(), np.clip(1.7 * f - 0.7 * gray, 0, 1), rtol=1e-5,
                               atol=1e-6)
    out = F.adjust_hue(x, 0.2).numpy()
    want = np.empty_like(f)
    for i in range(6):
        for j in range(7):
            hh, s, v = colorsys.rgb_to_hsv(*f[:, i, j])
            want[:, i, j] = colorsys.hsv_to_rgb((hh + 0.2) % 1.0, s, v)
    np.testing.assert_allclose(out, want, atol=1e-5)
    with pytest.raises(ValueError, match="hue_factor"):
        F.adjust_hue(x, 0.7)


def test_color_adjustments_pil_are_pils():
    from PIL import ImageEnhance
    img = Image.fromarray(_rgb(8, 8, 18))
    np.testing.assert_array_equal(np.asarray(F.adjust_brightness(img, 1.4)),
                                  np.asarray(ImageEnhance.Brightness(img).enhance(1.4)))
    np.testing.assert_array_equal(np.asarray(F.adjust_saturation(img, 0.3)),
                                  np.asarray(ImageEnhance.Color(img).enhance(0.3)))
    # the hue of the PIL path agrees with the tensor path's to a few levels of 255 (PIL's HSV is 8-bit)
    pil = np.asarray(F.adjust_hue(img, -0.3)).astype(int)
    ten = F.adjust_hue(F.pil_to_tensor(img), -0.3).numpy().transpose(1, 2, 0).astype(int)
    assert np.median(np.abs(pil - ten)) <= 2


def test_color_jitter_is_seeded_and_keeps_range():
    img = _t(np.random.default_rng(19).random((3, 10, 10)).astype(np.float32))
    t = T.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1)
    tg.manual_seed(8)
    a = t(img).numpy()
    tg.manual_seed(8)
    b = t(img).numpy()
    np.testing.assert_array_equal(a, b)
    assert a.min() >= 0 and a.max() <= 1 and not np.array_equal(a, img.numpy())
    assert T.ColorJitter().brightness is None
    with pytest.raises(ValueError, match="hue values"):
        T.ColorJitter(hue=0.6)
    pil = t(Image.fromarray(_rgb(6, 6)))
    assert pil.size == (6, 6) and pil.mode == "RGB"


def test_rotation():
    a = _rgb(9, 9, 20)
    chw = _t(a.transpose(2, 0, 1))
    # a quarter turn of an odd square maps pixel centres onto pixel centres: nearest is np.rot90 (counter-clockwise)
    np.testing.assert_array_equal(F.rotate(chw, 90.0).numpy(), np.rot90(a, 1).transpose(2, 0, 1))
    np.testing.assert_array_equal(np.asarray(F.rotate(Image.fromarray(a), 90.0)), np.rot90(a, 1))
    tg.manual_seed(2)
    out = T.RandomRotation(30, fill=5)(Image.fromarray(a))
    tg.manual_seed(2)
    angle = T.RandomRotation.get_params([-30.0, 30.0])
    np.testing.assert_array_equal(np.asarray(out), np.asarray(Image.fromarray(a).rotate(angle, Image.NEAREST,
                                                                                         fillcolor=(5, 5, 5))))
    r = F.rotate(chw, 45.0, expand=True, fill=[1.0, 2.0, 3.0])
    assert tuple(r.shape[1:]) == Image.fromarray(a).rotate(45.0, expand=True).size[::-1]
    assert (r.numpy()[:, 0, 0] == [1, 2, 3]).all()


def test_compose_lambda_random_apply_and_reprs():
    t = T.Compose([T.ToTensor(), T.Lambda(lambda x: x * 2), T.Normalize((0.5,), (0.5,))])
    a = _rgb(4, 4)[:, :, :1]
    np.testing.assert_allclose(t(a).numpy(), (a.transpose(2, 0, 1) / 255.0 * 2 - 0.5) / 0.5, rtol=1e-6,
                               atol=1e-6)
    assert repr(t).startswith("Compose(\n    ToTensor()\n    Lambda()\n    Normalize(mean=(0.5,), std=(0.5,))")
    x = _t(np.ones((1, 2, 2), np.float32))
    assert T.RandomApply([T.Lambda(lambda v: v * 3)], p=1.0)(x).numpy().max() == 3
    assert T.RandomApply([T.Lambda(lambda v: v * 3)], p=0.0)(x).numpy().max() == 1
    assert repr(T.Resize(5)) == "Resize(size=5, interpolation=bilinear, max_size=None, antialias=True)"
    with pytest.raises(TypeError, match="callable"):
        T.Lambda(3)


def test_five_and_ten_crop():
    a = _rgb(7, 8, 21)
    crops = T.FiveCrop(3)(Image.fromarray(a))
    want = [a[:3, :3], a[:3, 5:], a[4:, :3], a[4:, 5:], a[2:5, 2:5]]
    for c, w in zip(crops, want):
        np.testing.assert_array_equal(np.asarray(c), w)
    ten = T.TenCrop(3)(_t(a.transpose(2, 0, 1)))
    assert len(ten) == 10
    np.testing.assert_array_equal(ten[5].numpy().transpose(1, 2, 0), a[:, ::-1][:3, :3])


def test_random_erasing_erases_a_box():
    x = _t(np.ones((3, 20, 20), np.float32))
    tg.manual_seed(1)
    y = T.RandomErasing(p=1.0, value=0)(x).numpy()
    zero = (y == 0).all(0)
    rows, cols = np.nonzero(zero)
    assert zero.sum() > 0 and zero.sum() == (np.ptp(rows) + 1) * (np.ptp(cols) + 1)
    assert (x.numpy() == 1).all()
