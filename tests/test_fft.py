"""tensorgrad.fft against torch.fft: every transform's values, dtype and gradients (odd and even n, padding and
truncation through n / s, every norm, several dims), gradcheck and gradgradcheck in float64 through real inputs
(a complex input is built as complex(a, b), a complex output read through view_as_real), and torch.fft under the
compat alias."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import tensorgrad as tg
from helpers import check_op, gradcheck_op, gradgradcheck_op, lib, make_inputs, raises


def Z(a, b):
    return lib(a).complex(a, b)


def R(z):
    return lib(z).view_as_real(z.resolve_conj()) if z.is_complex() else z


NORMS = [None, "backward", "ortho", "forward"]
C2C = {"fft": ((4, 6), {}), "ifft": ((6, 3), {"dim": 0}), "fft2": ((2, 3, 5), {}), "ifft2": ((2, 3, 5), {}),
       "fftn": ((2, 3, 4), {}), "ifftn": ((2, 3, 4), {"dim": (0, 2)})}
SIZES_1D = [None, 1, 3, 4, 6, 9]
SIZES_ND = [None, (3, 4), (2, -1), (4, 7)]


def _f(name, **kw):
    return lambda m, x: getattr(m.fft, name)(x, **kw)


def _cases():
    out = []
    for norm in NORMS:
        for n in SIZES_1D:
            out += [("fft", "c", (3, 6), dict(n=n, norm=norm)), ("fft", "r", (2, 5), dict(n=n, norm=norm)),
                    ("ifft", "c", (5, 2), dict(n=n, dim=0, norm=norm)), ("rfft", "r", (3, 6), dict(n=n, norm=norm)),
                    ("rfft", "r", (2, 7), dict(n=n, norm=norm)), ("irfft", "c", (2, 4), dict(n=n, norm=norm)),
                    ("irfft", "c", (3, 5), dict(n=n, dim=0, norm=norm)), ("hfft", "c", (2, 4), dict(n=n, norm=norm)),
                    ("hfft", "c", (5,), dict(n=n, norm=norm)), ("ihfft", "r", (2, 5), dict(n=n, norm=norm)),
                    ("ihfft", "r", (6,), dict(n=n, norm=norm))]
        for s in SIZES_ND:
            for name, kind in (("fft2", "c"), ("ifft2", "c"), ("rfft2", "r"), ("irfft2", "c"), ("fftn", "c"),
                               ("ifftn", "c"), ("rfftn", "r"), ("irfftn", "c")):
                out.append((name, kind, (2, 3, 5), dict(s=s, norm=norm)))
        out += [("fftn", "c", (2, 3, 4), dict(dim=(0, 2), norm=norm)), ("rfftn", "r", (3, 2, 4), dict(norm=norm)),
                ("irfftn", "c", (3, 2, 4), dict(norm=norm)), ("irfftn", "c", (3, 2, 5), dict(dim=(2, 0), norm=norm)),
                ("rfftn", "r", (3, 2, 5), dict(dim=(2, 0), s=(6, 2), norm=norm))]
    out += [("fftshift", "c", (4, 5), {}), ("ifftshift", "c", (4, 5), {}), ("fftshift", "r", (3, 4, 5), dict(dim=1)),
            ("ifftshift", "r", (5, 4), dict(dim=(0,)))]
    return out


CASES = _cases()


def _ids(c):
    return f"{c[0]}-{c[1]}-{'x'.join(map(str, c[2]))}-" + "-".join(f"{k}={v}" for k, v in c[3].items())


def _fn(name, kind, kw):
    f = _f(name, **kw)
    if kind == "c":
        return lambda a, b: R(f(lib(a), Z(a, b)))
    return lambda a: R(f(lib(a), a))


def _specs(kind, shape):
    return [shape, shape] if kind == "c" else [shape]


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_vs_torch(case):
    name, kind, shape, kw = case
    for dtype in (np.float64, np.float32):
        check_op(_fn(name, kind, kw), inputs=_specs(kind, shape), dtype=dtype)


@pytest.mark.parametrize("case", CASES[::7], ids=[_ids(c) for c in CASES[::7]])
def test_gradcheck_and_gradgradcheck(case):
    name, kind, shape, kw = case
    fn = _fn(name, kind, kw)
    gradcheck_op(fn, _specs(kind, shape))
    data, _ = make_inputs(_specs(kind, shape), np.float64, seed=5)
    gradgradcheck_op(fn, [tg.tensor(x, requires_grad=True) for x in data])


def test_dtypes_like_torch():
    for m in (tg, torch):
        assert str(m.fft.rfft(m.ones(4)).dtype).endswith("complex64")
        assert str(m.fft.fft(m.arange(4)).dtype).endswith("complex64")
        assert str(m.fft.irfft(m.ones(3, dtype=m.complex128)).dtype).endswith("float64")
        assert str(m.fft.ifft(m.ones(3, dtype=m.float64)).dtype).endswith("complex128")
        assert str(m.fft.hfft(m.ones(3, dtype=m.complex64)).dtype).endswith("float32")
        assert str(m.fft.ihfft(m.ones(3)).dtype).endswith("complex64")
    with raises(RuntimeError, "rfft", "real input"):
        tg.fft.rfft(tg.ones(4, dtype=tg.complex64))
    with raises(ValueError, "normalization"):
        tg.fft.fft(tg.ones(4), norm="bad")
    with raises(RuntimeError, "complex32"):
        tg.fft.fft(tg.ones(4, dtype=tg.float16))
    with raises(RuntimeError, "Invalid number of data points"):
        tg.fft.fft(tg.ones(4), n=0)


@pytest.mark.parametrize("n", [1, 4, 7, 10])
@pytest.mark.parametrize("d", [1.0, 0.25])
def test_freqs(n, d):
    for name in ("fftfreq", "rfftfreq"):
        a, b = getattr(tg.fft, name)(n, d), getattr(torch.fft, name)(n, d)
        assert a.dtype == tg.float32
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)
        assert getattr(tg.fft, name)(n, d, dtype=tg.float64).dtype == tg.float64


def test_torch_fft_under_compat(tmp_path):
    script = tmp_path / "spectrum.py"
    script.write_text(
        "import torch\nimport torch.fft\n"
        "x = torch.linspace(0, 1, 64, requires_grad=True)\n"
        "spec = torch.fft.rfft(torch.sin(2 * torch.pi * 5 * x), norm='ortho')\n"
        "k = int(spec.abs().argmax())\n"
        "loss = (torch.fft.irfft(spec * 2, n=64) ** 2).sum() + spec.abs().sum()\n"
        "loss.backward()\n"
        "print(k, type(torch.fft.fftshift(torch.fft.fftfreq(8))).__module__, x.grad.shape[0])\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root)
    out = subprocess.run([sys.executable, "-m", "tensorgrad.compat", str(script)], capture_output=True, text=True,
                         env=env, cwd=str(tmp_path), timeout=120)
    assert out.returncode == 0, out.stderr
    k, mod, n = out.stdout.split()
    assert k == "5" and mod.startswith("tensorgrad") and n == "64"


STFT_CASES = [dict(L=32, n_fft=8), dict(L=33, n_fft=8, hop=3, win=True),
              dict(L=40, n_fft=16, hop=4, win_length=10, win=True, normalized=True),
              dict(L=40, n_fft=16, hop=5, win=True, center=False, batch=True),
              dict(L=30, n_fft=8, hop=2, win=True, pad_mode="constant", onesided=False),
              dict(L=30, n_fft=8, hop=2, win=True, length=25), dict(L=30, n_fft=8, hop=2, win=True, length=35, batch=True),
              dict(L=31, n_fft=7, hop=2, win=True, pad_mode="replicate")]


def _stft_loss(m, x, w, c, L, n_fft, hop=None, win_length=None, win=False, center=True, pad_mode="reflect",
               normalized=False, onesided=None, batch=False, length=None):
    kw = dict(hop_length=hop, win_length=win_length, window=w, center=center, normalized=normalized)
    s = m.stft(x, n_fft, pad_mode=pad_mode, onesided=onesided, return_complex=True, **kw)
    loss = (m.view_as_real(s).sum(-1) * m.tensor(c)).sum()
    y = None
    if onesided is not False:
        y = s.istft(n_fft, length=length, **kw) if m is tg else m.istft(s, n_fft, length=length, **kw)
        loss = loss + (y ** 2).sum()
    return s, y, loss


@pytest.mark.parametrize("case", STFT_CASES, ids=[str(i) for i in range(len(STFT_CASES))])
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_stft_istft_vs_torch(case):
    rng = np.random.default_rng(1)
    x0 = rng.standard_normal((2, case["L"]) if case.get("batch") else (case["L"],))
    w0 = np.hanning(case.get("win_length") or case["n_fft"]) + 0.1
    got = []
    c = None
    for m in (tg, torch):
        x = m.tensor(x0, requires_grad=True)
        w = m.tensor(w0, requires_grad=True) if case.get("win") else None
        if c is None:
            c = rng.standard_normal(tuple(m.stft(x, case["n_fft"], hop_length=case.get("hop"), window=w,
                                                 win_length=case.get("win_length"), center=case.get("center", True),
                                                 onesided=case.get("onesided"), return_complex=True).shape))
        s, y, loss = _stft_loss(m, x, w, c, **case)
        loss.backward()
        got.append([t.detach().resolve_conj().numpy() for t in (s, y, x.grad, None if w is None else w.grad)
                    if t is not None])
    for a, b in zip(*got):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(a, b, atol=1e-9, rtol=1e-9)


def test_stft_gradcheck_and_errors():
    fn = lambda x, w: R(tg.stft(x, 8, hop_length=3, window=w, return_complex=True))  # noqa: E731
    gradcheck_op(fn, [(2, 20), (8,)])
    x, w = tg.randn(20, dtype=tg.float64), tg.ones(8, dtype=tg.float64)
    with raises(RuntimeError, "return_complex"):
        tg.stft(x, 8)
    with raises(RuntimeError, "NOLA"):
        tg.istft(tg.stft(x, 8, hop_length=4, window=w, return_complex=True), 8, hop_length=4,
                 window=tg.zeros(8, dtype=tg.float64))
    assert x.stft(8, return_complex=True).dtype == tg.complex128
