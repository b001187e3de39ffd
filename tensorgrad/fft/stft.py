"""torch.stft / torch.istft (and their Tensor methods), from differentiable pieces: reflect padding (F.pad), framing
(Tensor.unfold), the window product, fft.rfft / fft.fft over each frame; istft's overlap-add is a LinearMap whose
adjoint is the framing, so gradients and double gradients come from those ops.

Differs from torch: input is real (a complex signal raises); return_complex=False gives view_as_real of the result
(torch deprecates it); without a window a rectangular one is used silently (torch warns).
"""
import math

import numpy as np

from .. import dtypes
from ..tensor import Tensor
from ..factories import ones
from ..ops.resample import pad as _pad
from ..ops.graph import linear_map
from ..ops.complex import view_as_real, view_as_complex
from . import rfft, fft, irfft, ifft


def _window(op, window, n_fft, win_length, like):
    win_length = n_fft if win_length is None else int(win_length)
    if not 0 < win_length <= n_fft:
        raise RuntimeError(f"{op}: expected 0 < win_length <= n_fft, but got win_length={win_length}, n_fft={n_fft}")
    if window is None:
        window = ones(win_length, dtype=like, device=None)
    elif window.ndim != 1 or window.shape[0] != win_length:
        raise RuntimeError(f"{op}: expected a 1D window tensor of size equal to win_length={win_length}, but got "
                           f"window with size {tuple(window.shape)}")
    if win_length < n_fft:  # centered in n_fft, as torch
        left = (n_fft - win_length) // 2
        window = _pad(window, (left, n_fft - win_length - left))
    return window


def _check(op, n_fft, hop_length):
    if not isinstance(n_fft, (int, np.integer)) or n_fft <= 0:
        raise RuntimeError(f"{op}: expected 0 < n_fft, but got n_fft={n_fft}")
    hop = n_fft // 4 if hop_length is None else int(hop_length)
    if hop <= 0:
        raise RuntimeError(f"{op}: expected hop_length > 0, but got hop_length={hop}")
    return hop


def stft(input, n_fft, hop_length=None, win_length=None, window=None, center=True, pad_mode="reflect",
         normalized=False, onesided=None, return_complex=None):
    """Short-time Fourier transform of a real (L,) or (B, L) signal: (B?, n_fft // 2 + 1 (onesided) or n_fft,
    n_frames) complex, frame t starting at t * hop_length of the (centered: reflect-padded by n_fft // 2) signal."""
    op = "stft"
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(input).__name__}")
    if return_complex is None:
        raise RuntimeError("stft requires the return_complex parameter be given for real inputs, and will further "
                           "require that return_complex=True in a future PyTorch release.")
    if input.dtype.kind == "c" or (window is not None and window.dtype.kind == "c"):
        raise RuntimeError(f"{op}: complex input or window is not supported by tensorgrad (got {input.dtype})")
    if input.ndim not in (1, 2):
        raise RuntimeError(f"{op}: expected a 1D or 2D tensor, got shape {tuple(input.shape)}")
    hop = _check(op, n_fft, hop_length)
    x = input if dtypes.is_float(input.dtype) else input.to(dtypes.get_default_dtype())
    batched = x.ndim == 2
    if not batched:
        x = x.unsqueeze(0)
    if center:
        p = n_fft // 2
        x = _pad(x.unsqueeze(0), (p, p), mode=pad_mode).squeeze(0)
    L = x.shape[-1]
    if not 0 < n_fft <= L:
        raise RuntimeError(f"{op}: expected 0 < n_fft <= {L} (the padded signal's length), but got n_fft={n_fft}")
    w = _window(op, window, n_fft, win_length, x.dtype)
    frames = x.unfold(-1, n_fft, hop) * w  # (B, n_frames, n_fft)
    onesided = True if onesided is None else onesided
    spec = rfft(frames, dim=-1) if onesided else fft(frames, dim=-1)
    if normalized:
        spec = spec * (1.0 / math.sqrt(n_fft))
    spec = spec.transpose(-1, -2)
    if not batched:
        spec = spec.squeeze(0)
    return spec if return_complex else view_as_real(spec)


def _overlap_add(frames, hop, length):
    """(B, T, n) frames summed into (B, length) at offsets t * hop, and its adjoint (framing) on arrays."""
    B, T, n = frames.shape
    idx = (np.arange(T)[:, None] * hop + np.arange(n)[None, :]).reshape(-1)

    def add(a):
        out = np.zeros(a.shape[:-2] + (length,), a.dtype)
        np.add.at(out, (Ellipsis, idx), a.reshape(a.shape[:-2] + (T * n,)))
        return out

    def frame(g):
        return g[..., idx].reshape(g.shape[:-1] + (T, n))

    return linear_map(frames, add, frame)


def istft(input, n_fft, hop_length=None, win_length=None, window=None, center=True, normalized=False, onesided=None,
          length=None, return_complex=False):
    """The inverse of stft (least-squares overlap-add, divided by the summed squared window), (B?, length)."""
    op = "istft"
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(input).__name__}")
    if input.dtype.kind != "c":
        if input.ndim >= 1 and input.shape[-1] == 2 and input.dtype in (dtypes.float32, dtypes.float64):
            input = view_as_complex(input)
        else:
            raise RuntimeError(f"{op}: expected a complex input tensor, got {input.dtype} of shape {tuple(input.shape)}")
    if input.ndim not in (2, 3):
        raise RuntimeError(f"{op}: expected a 2D or 3D complex tensor (freq, frames), got shape {tuple(input.shape)}")
    if return_complex:
        raise RuntimeError(f"{op}: return_complex=True is not supported by tensorgrad (a real signal is returned)")
    hop = _check(op, n_fft, hop_length)
    batched = input.ndim == 3
    spec = input if batched else input.unsqueeze(0)
    onesided = spec.shape[-2] != n_fft if onesided is None else onesided
    n_freq = n_fft // 2 + 1 if onesided else n_fft
    if spec.shape[-2] != n_freq:
        raise RuntimeError(f"{op}: expected the frequency dimension (-2) of input to be {n_freq} for n_fft={n_fft} "
                           f"(onesided={onesided}), got shape {tuple(input.shape)}")
    rdt = dtypes.to_real(spec.dtype)
    w = _window(op, window, n_fft, win_length, rdt)
    spec = spec.transpose(-1, -2)  # (B, T, freq)
    if normalized:
        spec = spec * math.sqrt(n_fft)
    frames = irfft(spec, n=n_fft, dim=-1) if onesided else ifft(spec, dim=-1).real
    frames = frames * w
    T = frames.shape[-2]
    full = n_fft + hop * (T - 1)
    y = _overlap_add(frames, hop, full)
    # the squared window's overlap-add, which the window's gradient flows through too (as torch's)
    env = _overlap_add((w * w).expand(1, T, n_fft), hop, full)[0]
    start = n_fft // 2 if center else 0
    end = full - (n_fft // 2 if center else 0) if length is None else min(start + int(length), full)
    env = env[start:end]
    low = float(np.abs(env.detach().numpy()).min()) if env.numel() else 1.0
    if low < 1e-11:
        raise RuntimeError(f"{op}: window overlap add min: {low:.3g} (the window's squared overlap-add must be "
                           "nonzero everywhere: the NOLA condition)")
    y = y[..., start:end] / env
    if length is not None and y.shape[-1] < length:
        y = _pad(y, (0, int(length) - y.shape[-1]))
    return y if batched else y.squeeze(0)


def install():
    Tensor.stft = stft
    Tensor.istft = istft


install()
