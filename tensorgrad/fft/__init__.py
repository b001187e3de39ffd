"""torch.fft: discrete Fourier transforms of tensors (NumPy's pocketfft), differentiable.

Three Functions carry every transform: C2C (fftn / ifftn over some dims), R2C (rfftn: the last transformed dim keeps
its n // 2 + 1 non-negative frequencies) and C2R (irfftn, its inverse). hfft / ihfft are irfft / rfft of the
conjugate with the normalization swapped (NumPy's definition); fft, fft2, ifft, ... pick dims; padding and truncation
to n / s are differentiable slices and zero concatenations done before the transform, as torch does.

Gradients follow torch's convention for complex numbers (ops/complex.py): a C2C transform is linear, so its backward
is the adjoint, the opposite transform with the dual normalization ("backward" <-> "forward", "ortho" stays). R2C's
backward zero-fills the dropped frequencies and keeps the real part of that adjoint; C2R's backward is R2C of the
gradient with the bins that stand for two conjugate frequencies doubled (torch's fft_c2r_backward): both are what
torch computes, including torch's choice for the parts irfft ignores (the imaginary part of the zero frequency).

Differs from torch: only NumPy's CPU path (a CUDA tensor raises); complex32 does not exist, so a float16 input raises
where torch would return complex32; out= is not supported.
"""
import numpy as np

from .. import dtypes
from ..autograd.function import Function
from ..tensor import Tensor
from ..factories import zeros
from ..ops import movement as _mv
from ..ops.complex import conj as _conj, real as _real

_NORMS = ("backward", "ortho", "forward")
_DUAL = {"backward": "forward", "forward": "backward", "ortho": "ortho"}


def _np(a, op):
    if a.__class__ is not np.ndarray:
        raise RuntimeError(f"fft.{op}: only CPU tensors are supported (got a {type(a).__module__} array)")
    return a


class C2C(Function):
    """Complex-to-complex transform over ``axes`` (inverse: ifftn); the input is complex already."""
    takes_complex = True

    def forward(self, a, axes, norm, inverse):
        self.args = (axes, norm, inverse)
        f = np.fft.ifftn if inverse else np.fft.fftn
        return f(_np(a, "fftn"), axes=axes, norm=norm).astype(a.dtype, copy=False)

    def backward(self, g):
        axes, norm, inverse = self.args
        f = np.fft.fftn if inverse else np.fft.ifftn
        return f(g, axes=axes, norm=_DUAL[norm]).astype(g.dtype, copy=False), None, None, None

    def backward_graph(self, g):
        axes, norm, inverse = self.args
        return C2C.apply(g, axes, _DUAL[norm], not inverse), None, None, None


class R2C(Function):
    """Real-to-complex transform over ``axes`` (rfftn), the last axis one-sided."""

    def forward(self, a, axes, norm):
        self.args = (axes, norm, a.shape[axes[-1]])
        return np.fft.rfftn(_np(a, "rfftn"), axes=axes, norm=norm).astype(dtypes.to_complex(a.dtype, "fft.rfftn"),
                                                                           copy=False)

    def backward(self, g):
        axes, norm, n = self.args
        shape = list(g.shape)
        shape[axes[-1]] = n
        full = np.zeros(shape, g.dtype)
        idx = [slice(None)] * g.ndim
        idx[axes[-1]] = slice(0, g.shape[axes[-1]])
        full[tuple(idx)] = g
        return np.fft.ifftn(full, axes=axes, norm=_DUAL[norm]).real.astype(dtypes.to_real(g.dtype)), None, None

    def backward_graph(self, g):
        axes, norm, n = self.args
        full = _resize(g, axes[-1], n)
        return _real(C2C.apply(full, axes, _DUAL[norm], True)), None, None


def _doubling(m, n, axis, ndim, dtype):
    """The factor per one-sided bin (m of them, of a length-n signal) in C2R's backward: 2 for the bins that stand
    for a frequency and its conjugate, 1 for the zero frequency (and Nyquist's when n is even)."""
    w = np.ones(m, dtype)
    w[1:1 + max(n - m, 0)] = 2
    shape = [1] * ndim
    shape[axis] = m
    return w.reshape(shape)


class C2R(Function):
    """Complex-to-real transform over ``axes`` (irfftn): the last axis holds n // 2 + 1 bins of a length-n output."""
    takes_complex = True

    def forward(self, a, axes, norm, n):
        self.args = (axes, norm, n)
        s = [a.shape[ax] for ax in axes[:-1]] + [n]
        return np.fft.irfftn(_np(a, "irfftn"), s=s, axes=axes, norm=norm).astype(dtypes.to_real(a.dtype), copy=False)

    def backward(self, g):
        axes, norm, n = self.args
        gi = np.fft.rfftn(g, axes=axes, norm=_DUAL[norm]).astype(dtypes.to_complex(g.dtype), copy=False)
        return gi * _doubling(gi.shape[axes[-1]], n, axes[-1], gi.ndim, g.dtype), None, None, None

    def backward_graph(self, g):
        axes, norm, n = self.args
        gi = R2C.apply(g, axes, _DUAL[norm])
        w = _doubling(gi.shape[axes[-1]], n, axes[-1], gi.ndim, gi.dtype)
        return gi * Tensor._make(w, None), None, None, None


# ------------------------------------------------------------------------------------------- argument handling
def _check_norm(op, norm):
    norm = "backward" if norm is None else norm
    if norm not in _NORMS:
        raise ValueError(f"fft.{op}: Invalid normalization mode: {norm!r} (expected one of {_NORMS} or None)")
    return norm


def _input(op, x, complex_):
    """x as a floating (complex_: complex) tensor of its precision: ints become the default float, as torch."""
    if not isinstance(x, Tensor):
        raise TypeError(f"fft.{op}: expected a Tensor, got {type(x).__name__}")
    dt = x.dtype
    if dt.kind == "c":
        if not complex_:
            raise RuntimeError(f"fft.{op}: expects a real input tensor, but got {dt} (shape {tuple(x.shape)})")
        return x
    if not dtypes.is_float(dt):
        x = x.to(dtypes.get_default_dtype())
    elif dt == dtypes.float16 or dt == dtypes.bfloat16:
        raise RuntimeError(f"fft.{op}: {dt} input is not supported (torch would return complex32, which tensorgrad "
                           "does not have); convert to float32 first")
    return x.to(dtypes.to_complex(x.dtype)) if complex_ else x


def _resize(x, dim, n):
    """x zero-padded or truncated along dim to length n (differentiable)."""
    m = x.shape[dim]
    if m == n:
        return x
    if m > n:
        return _mv.narrow(x, dim, 0, n)
    shape = list(x.shape)
    shape[dim] = n - m
    return _mv.cat([x, zeros(shape, dtype=x.dtype, device=x.device)], dim)


def _dims(op, x, s, dim, default_all=True):
    """torch's (s, dim) rules: dim defaults to the last len(s) dims when s is given, else to every dim; -1 in s
    keeps that dim's size. Returns (dims, sizes)."""
    nd = x.ndim
    if dim is None:
        dims = list(range(nd - len(s), nd)) if s is not None else list(range(nd))
    else:
        dims = [dim] if isinstance(dim, int) else list(dim)
    for d in dims:
        if not -nd <= d < max(nd, 1):
            raise IndexError(f"fft.{op}: dimension {d} out of range for a {nd}-d tensor of shape {tuple(x.shape)}")
    dims = [d % nd for d in dims] if nd else []
    if len(set(dims)) != len(dims):
        raise RuntimeError(f"fft.{op}: dims must be unique, got {dim}")
    if s is None:
        sizes = [x.shape[d] for d in dims]
    else:
        s = [s] if isinstance(s, int) else list(s)
        if len(s) != len(dims):
            raise RuntimeError(f"fft.{op}: when given, dim and shape arguments must have the same length (s={s}, "
                               f"dim={dim})")
        sizes = [x.shape[d] if n == -1 else n for d, n in zip(dims, s)]
    for n in sizes:
        if n is not None and n < 1:
            raise RuntimeError(f"fft.{op}: Invalid number of data points ({n}) specified (shape {tuple(x.shape)})")
    if not dims and nd == 0:
        raise RuntimeError(f"fft.{op}: a 0-d tensor has no dimension to transform")
    return dims, sizes


def _c2c(op, x, s, dim, norm, inverse):
    norm = _check_norm(op, norm)
    x = _input(op, x, True)
    dims, sizes = _dims(op, x, s, dim)
    for d, n in zip(dims, sizes):
        x = _resize(x, d, n)
    return C2C.apply(x, tuple(dims), norm, inverse)


def _r2c(op, x, s, dim, norm):
    norm = _check_norm(op, norm)
    x = _input(op, x, False)
    dims, sizes = _dims(op, x, s, dim)
    for d, n in zip(dims, sizes):
        x = _resize(x, d, n)
    return R2C.apply(x, tuple(dims), norm)


def _c2r(op, x, s, dim, norm):
    norm = _check_norm(op, norm)
    x = _input(op, x, True)
    dims, sizes = _dims(op, x, s, dim)
    last = dims[-1]
    n = 2 * (x.shape[last] - 1) if s is None or (s[-1] if not isinstance(s, int) else s) == -1 else sizes[-1]
    if n < 1:
        raise RuntimeError(f"fft.{op}: Invalid number of data points ({n}) specified (input of shape "
                           f"{tuple(x.shape)} along dim {last})")
    for d, m in zip(dims[:-1], sizes[:-1]):
        x = _resize(x, d, m)
    x = _resize(x, last, n // 2 + 1)
    return C2R.apply(x, tuple(dims), norm, n)


def _one(s):
    return None if s is None else [s]


# ------------------------------------------------------------------------------------------------- public API
def fft(input, n=None, dim=-1, norm=None):
    return _c2c("fft", input, _one(n), [dim], norm, False)


def ifft(input, n=None, dim=-1, norm=None):
    return _c2c("ifft", input, _one(n), [dim], norm, True)


def fft2(input, s=None, dim=(-2, -1), norm=None):
    return _c2c("fft2", input, s, dim, norm, False)


def ifft2(input, s=None, dim=(-2, -1), norm=None):
    return _c2c("ifft2", input, s, dim, norm, True)


def fftn(input, s=None, dim=None, norm=None):
    return _c2c("fftn", input, s, dim, norm, False)


def ifftn(input, s=None, dim=None, norm=None):
    return _c2c("ifftn", input, s, dim, norm, True)


def rfft(input, n=None, dim=-1, norm=None):
    return _r2c("rfft", input, _one(n), [dim], norm)


def irfft(input, n=None, dim=-1, norm=None):
    return _c2r("irfft", input, _one(n) if n is not None else None, [dim], norm)


def rfft2(input, s=None, dim=(-2, -1), norm=None):
    return _r2c("rfft2", input, s, dim, norm)


def irfft2(input, s=None, dim=(-2, -1), norm=None):
    return _c2r("irfft2", input, s, dim, norm)


def rfftn(input, s=None, dim=None, norm=None):
    return _r2c("rfftn", input, s, dim, norm)


def irfftn(input, s=None, dim=None, norm=None):
    return _c2r("irfftn", input, s, dim, norm)


def hfft(input, n=None, dim=-1, norm=None):
    """The real spectrum of a Hermitian-symmetric signal given by its one-sided half: irfft(conj(x)) with the
    normalization swapped."""
    norm = _check_norm("hfft", norm)
    return _c2r("hfft", _conj(_input("hfft", input, True)), _one(n), [dim], _DUAL[norm])


def ihfft(input, n=None, dim=-1, norm=None):
    """The inverse of hfft for a real signal: conj(rfft(x)) with the normalization swapped."""
    norm = _check_norm("ihfft", norm)
    return _conj(_r2c("ihfft", input, _one(n), [dim], _DUAL[norm]))


def _freq_tensor(arr, dtype, device, requires_grad):
    t = Tensor._from(arr.astype(dtypes.to_dtype(dtype) or dtypes.get_default_dtype()), device=device)
    return t.requires_grad_() if requires_grad else t


def fftfreq(n, d=1.0, *, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False):
    """The sample frequencies of an n-point fft with spacing d: [0, 1, ..., n//2 - 1 (or (n-1)//2), -n//2, ..., -1]
    / (d n)."""
    return _freq_tensor(np.fft.fftfreq(n, d), dtype, device, requires_grad)


def rfftfreq(n, d=1.0, *, dtype=None, device=None, requires_grad=False, layout=None, pin_memory=False):
    return _freq_tensor(np.fft.rfftfreq(n, d), dtype, device, requires_grad)


def _shift(op, input, dim, sign):
    if not isinstance(input, Tensor):
        raise TypeError(f"fft.{op}: expected a Tensor, got {type(input).__name__}")
    dims = list(range(input.ndim)) if dim is None else [dim] if isinstance(dim, int) else list(dim)
    if not dims:
        return input
    shifts = [sign * (input.shape[d] // 2) for d in dims]
    return _mv.roll(input, shifts, dims)


def fftshift(input, dim=None):
    """Rolls the zero frequency to the middle: by n // 2 along each dim (all by default)."""
    return _shift("fftshift", input, dim, 1)


def ifftshift(input, dim=None):
    """fftshift's inverse: rolls by -(n // 2)."""
    return _shift("ifftshift", input, dim, -1)
