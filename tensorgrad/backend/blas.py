"""CPU GEMM through Intel MKL's cblas_sgemm / cblas_dgemm, loaded with ctypes from the `mkl` wheel; NumPy's
own BLAS where MKL is missing or does not apply.

Why not just NumPy's `@`: the baby-GPT CPU step is mostly GEMMs of a few hundred rows and columns, and NumPy's
wheels ship OpenBLAS, which on this project's benchmark machine (Sapphire Rapids, AVX-512) runs the step's 15
GEMM shapes 1.19x slower than PyTorch at one thread (benchmarks/bench_gemm_cpu.py) -- more than the whole
step-time gap to PyTorch. PyTorch's CPU build links MKL; calling the same library closes that gap with no
GEMM code of our own to maintain.

MKL is told to run its threads on GNU OpenMP (libgomp), the runtime tensorgrad._C already uses, so the GEMMs and
the fused kernels share one thread pool and one wait policy instead of two pools fighting for the cores.

TENSORGRAD_BLAS selects: `auto` (default: MKL if it loads), `mkl` (fail loudly if it does not), `numpy`.
"""
import ctypes
import ctypes.util
import glob
import os
import site
import sys

import numpy as np

from ..dtypes import bfloat16 as _BF16

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
_MKL_THREADING_GNU = 3

_lib = None          # the loaded libmkl_rt, or None
_gemm = {}           # dtype -> cblas_?gemm
_dot = {}            # dtype -> cblas_?dot
_gemm_batch = {}     # dtype -> cblas_?gemm_batch_strided
_gemm_half = {}      # bfloat16 / float16 -> cblas_gemm_bf16bf16f32 / cblas_gemm_f16f16f32 (float32 output)
_gemm_pack = {}      # dtype -> (cblas_?gemm_pack_get_size, cblas_?gemm_pack, cblas_?gemm_compute)
_gnu_openmp = False  # MKL's threads are libgomp's (the runtime of tensorgrad._C)
_reason = "not loaded yet"
_bf16_hw = None      # bf16_hardware(), once read


def _candidates():
    dirs = [os.path.join(p, "lib") for p in dict.fromkeys((sys.prefix, sys.base_prefix, site.USER_BASE))]
    for d in dirs:
        yield from sorted(glob.glob(os.path.join(d, "libmkl_rt.so*")), reverse=True)  # .so.3 before .so.2
    found = ctypes.util.find_library("mkl_rt")
    if found:
        yield found


def _bind(lib):
    """{dtype: function} tables for cblas_?gemm, cblas_?dot and cblas_?gemm_batch_strided (MKL >= 2020.2, else
    absent) of a loaded libmkl_rt; AttributeError if a required symbol is missing."""
    gemm, dot, batch = {}, {}, {}
    for dt, name, scalar in ((np.dtype(np.float32), "cblas_sgemm", ctypes.c_float),
                             (np.dtype(np.float64), "cblas_dgemm", ctypes.c_double)):
        f = gemm[dt] = getattr(lib, name)
        f.restype = None
        f.argtypes = [ctypes.c_int] * 6 + [scalar, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
                                           ctypes.c_int, scalar, ctypes.c_void_p, ctypes.c_int]
        d = dot[dt] = getattr(lib, name.replace("gemm", "dot"))
        d.restype = scalar
        d.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
        bs = getattr(lib, name + "_batch_strided", None)
        if bs is not None:
            bs.restype = None
            bs.argtypes = [ctypes.c_int] * 6 + [scalar, ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                                               ctypes.c_void_p, ctypes.c_int, ctypes.c_int, scalar,
                                               ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int]
            batch[dt] = bs
    return gemm, dot, batch


def _bind_half(lib):
    """{dtype: function} for MKL's half-precision GEMMs with float32 output (MKL >= 2019 for bf16, 2021 for f16;
    absent entries where the library lacks them): same arguments as cblas_sgemm, A and B of 2-byte elements.
    MKL has no batched form of them."""
    half = {}
    for dt, name in ((_BF16, "cblas_gemm_bf16bf16f32"), (np.dtype(np.float16), "cblas_gemm_f16f16f32")):
        f = getattr(lib, name, None)
        if f is not None:
            f.restype = None
            f.argtypes = [ctypes.c_int] * 6 + [ctypes.c_float, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
                                               ctypes.c_int, ctypes.c_float, ctypes.c_void_p, ctypes.c_int]
            half[dt] = f
    return half


def _bind_pack(lib):
    """{dtype: (get_size, pack, compute)} for MKL's packed GEMM (cblas_?gemm_pack_get_size / _pack / _compute, MKL
    >= 2017; empty where the library lacks them)."""
    pack = {}
    for dt, p, scalar in ((np.dtype(np.float32), "s", ctypes.c_float), (np.dtype(np.float64), "d", ctypes.c_double)):
        fns = [getattr(lib, f"cblas_{p}gemm_{what}", None) for what in ("pack_get_size", "pack", "compute")]
        if None in fns:
            continue
        size, pk, compute = fns
        size.restype, size.argtypes = ctypes.c_size_t, [ctypes.c_int] * 4
        pk.restype = None
        pk.argtypes = [ctypes.c_int] * 6 + [scalar, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
        compute.restype = None
        compute.argtypes = [ctypes.c_int] * 6 + [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int,
                                                 scalar, ctypes.c_void_p, ctypes.c_int]
        pack[dt] = (size, pk, compute)
    return pack


def _load():
    global _lib, _reason, _gnu_openmp
    _lib, _gnu_openmp = None, False
    for table in (_gemm, _dot, _gemm_batch, _gemm_half, _gemm_pack):
        table.clear()
    choice = os.environ.get("TENSORGRAD_BLAS", "auto").lower()
    if choice not in ("auto", "mkl", "numpy"):
        raise ValueError(f"TENSORGRAD_BLAS={choice!r}: expected auto, mkl or numpy")
    if choice == "numpy":
        _reason = "TENSORGRAD_BLAS=numpy"
        return
    errors = []
    for path in _candidates():
        try:
            lib = ctypes.CDLL(path)
            # Must precede every other MKL call; returns the layer in force (another library may have chosen first).
            lib.MKL_Set_Threading_Layer.argtypes = [ctypes.c_int]
            layer = lib.MKL_Set_Threading_Layer(_MKL_THREADING_GNU)
            tables = _bind(lib) + (_bind_half(lib), _bind_pack(lib))
        except (OSError, AttributeError) as e:
            errors.append(f"{path}: {e}")
            continue
        for table, fns in zip((_gemm, _dot, _gemm_batch, _gemm_half, _gemm_pack), tables):
            table.update(fns)
        _lib, _reason, _gnu_openmp = lib, path, layer == _MKL_THREADING_GNU
        return
    _reason = "libmkl_rt not found (pip install mkl)" + (f"; tried {'; '.join(errors)}" if errors else "")
    if choice == "mkl":
        raise ImportError(f"tensorgrad.backend.blas: TENSORGRAD_BLAS=mkl but MKL cannot be loaded: {_reason}")


def backend():
    """'mkl (<path>)' or 'numpy (<why>)': which BLAS the CPU matmuls use."""
    return f"mkl ({_reason})" if _lib is not None else f"numpy ({_reason})"


def shares_openmp():
    """True when the GEMMs run on libgomp, tensorgrad._C's OpenMP runtime: then no second thread pool (NumPy's
    OpenBLAS) competes with it during a step, and idle OpenMP threads may spin between kernels."""
    return _lib is not None and _gnu_openmp


def _operand(x, rows, cols):
    """(transpose flag, leading dim) for a 2-D operand BLAS can read in place: row-major with unit column
    stride (C order, or a row slice of a wider array), or its transpose (a `.T` view); None otherwise."""
    s0, s1 = x.strides
    it = x.itemsize
    if s1 == it and s0 % it == 0 and s0 // it >= max(1, cols):
        return _NO_TRANS, s0 // it
    if s0 == it and s1 % it == 0 and s1 // it >= max(1, rows):
        return _TRANS, s1 // it
    if x.flags.c_contiguous:     # a dim of size 1 lets NumPy report any stride for it
        return _NO_TRANS, max(1, cols)
    return None


def as_operand(x):
    """x itself where BLAS can read it in place, else a C-ordered copy. A gradient such as that of `.sum()` is a
    broadcast view with zero strides: BLAS cannot take it, and NumPy's matmul then runs its slow non-BLAS loop
    (about half the step of a conv net with a `.sum()` loss); the copy costs O(rows * cols) against the
    product's O(m * n * k)."""
    return x if _operand(x, *x.shape) is not None else np.ascontiguousarray(x)


def gemm(a, b, bias=None, fill_rows=None):
    """a @ b (+ bias, broadcast over rows) for 2-D NumPy arrays of one dtype (float32 or float64) through MKL, as
    a new C-ordered array; None where MKL is not loaded or the operands do not fit (the caller then uses NumPy).
    fill_rows(c, bias) writes the bias into every row of c (backend/cpu passes tensorgrad._C's threaded fill).
    The bias is copied into the output first and the GEMM adds to it (beta = 1), as PyTorch's addmm does: a
    separate `y += bias` pass after the GEMM cost a third of the GEMM's time at 2 threads (768 x 384 output)."""
    f = _gemm.get(a.dtype)
    if f is None or a.ndim != 2 or b.ndim != 2 or b.dtype != a.dtype or (bias is not None and bias.dtype != a.dtype):
        return None
    if 0 in a.shape or b.shape[1] == 0:
        return None
    return _gemm_2d(f, a, b, bias, fill_rows, a.dtype)


def _gemm_2d(f, a, b, bias, fill_rows, out_dtype):
    """c = a @ b (+ bias) through one CBLAS-style GEMM f into a new C-ordered out_dtype array: the bias is written
    into c first (fill_rows when given) and the GEMM adds to it (beta = 1)."""
    m, k = a.shape
    n = b.shape[1]
    a, b = as_operand(a), as_operand(b)
    la, lb = _operand(a, m, k), _operand(b, k, n)
    c = np.empty((m, n), out_dtype)
    if bias is not None:
        if fill_rows is not None and bias.ndim == 1 and bias.flags.c_contiguous:
            fill_rows(c, bias)
        else:
            c[...] = bias
    f(_ROW_MAJOR, la[0], lb[0], m, n, k, 1.0, a.ctypes.data, la[1], b.ctypes.data, lb[1],
      0.0 if bias is None else 1.0, c.ctypes.data, n)
    return c


_B_MATRIX, _PACKED = 162, 151


class PackedB:
    """b (k, n) packed once in MKL's internal layout for products a @ b with a of m rows (cblas_?gemm_pack): a
    recurrent layer multiplies one weight by every step's state, and packing it for each of those GEMMs was about a
    third of their time (20 x 200 by 200 x 800, one thread: 76 -> 52 us per product, the same results)."""

    def __init__(self, b, m, fns):
        size, pack, self._compute = fns
        self.m, (self.k, self.n), self.dtype = m, b.shape, b.dtype
        nbytes = size(_B_MATRIX, m, self.n, self.k)
        raw = np.empty(nbytes + 64, np.uint8)
        off = -raw.ctypes.data % 64          # MKL's packed buffers want 64-byte alignment
        self._buf = raw[off:off + nbytes]
        b = as_operand(b)
        trans, ld = _operand(b, self.k, self.n)
        pack(_ROW_MAJOR, _B_MATRIX, trans, m, self.n, self.k, 1.0, b.ctypes.data, ld, self._buf.ctypes.data)

    def matmul(self, a, bias=None, fill_rows=None):
        """a (m, k) @ b (+ bias over rows) as a new C-ordered array."""
        if a.shape != (self.m, self.k) or a.dtype != self.dtype:
            raise ValueError(f"PackedB.matmul: a {tuple(a.shape)} {a.dtype} does not fit b packed for ({self.m}, {self.k}) "
                             f"{self.dtype}")
        a = as_operand(a)
        la = _operand(a, self.m, self.k)
        c = np.empty((self.m, self.n), self.dtype)
        if bias is not None:
            if fill_rows is not None and bias.ndim == 1 and bias.flags.c_contiguous and bias.dtype == self.dtype:
                fill_rows(c, bias)
            else:
                c[...] = bias
        self._compute(_ROW_MAJOR, la[0], _PACKED, self.m, self.n, self.k, a.ctypes.data, la[1],
                      self._buf.ctypes.data, self.n, 0.0 if bias is None else 1.0, c.ctypes.data, self.n)
        return c


def pack_b(b, m):
    """b (k, n) packed for m-row products (PackedB), or None where MKL's packed GEMM is not loaded, the dtype is not
    float32/float64 or a dim is 0."""
    fns = _gemm_pack.get(b.dtype)
    if fns is None or b.ndim != 2 or 0 in b.shape or m == 0 or max(m, *b.shape) > _INT_MAX:
        return None
    return PackedB(b, m, fns)


def bf16_hardware():
    """Whether this CPU computes in bfloat16: AVX512-BF16 or AMX-BF16 on x86 (NumPy's CPU feature table, then
    /proc/cpuinfo), the BF16 extension on Arm (/proc/cpuinfo). Without it MKL's bf16 GEMM emulates."""
    global _bf16_hw
    if _bf16_hw is None:
        feats = getattr(getattr(np, "_core", None), "_multiarray_umath", None)
        found = bool(getattr(feats, "__cpu_features__", {}).get("AVX512BF16"))
        if not found:
            try:
                with open("/proc/cpuinfo") as f:
                    flags = set(" ".join(ln for ln in f if ln.startswith(("flags", "Features"))).split())
                found = bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})
            except OSError:
                pass
        _bf16_hw = found
    return _bf16_hw


def bf16_gemm_path():
    """How a bfloat16 GEMM runs on the CPU: 'mkl' (cblas_gemm_bf16bf16f32) or 'upcast' (the bf16 operands widened
    to float32, exactly, then sgemm; same products, same float32 accumulation). TENSORGRAD_BF16_GEMM=mkl|upcast
    overrides 'auto', which takes MKL where the CPU has bf16 hardware and the upcast elsewhere: on a Xeon without
    it (AVX-512, Ice Lake; two runs) MKL's bf16 GEMM took 1.15-1.55x sgemm's time at the GPT shapes, the upcast
    0.77-1.01x MKL's at the shakespeare-char ones and 0.81-1.22x at the baby config's smaller ones, where the casts
    weigh more; PyTorch's bf16 mm took 2.5-5.7x its sgemm (benchmarks/bench_bf16_cpu.py,
    results/bf16_cpu_nobf16hw.json). With AMX, MKL's took 0.23-0.77x sgemm's."""
    choice = os.environ.get("TENSORGRAD_BF16_GEMM", "auto").strip().lower() or "auto"
    if choice not in ("auto", "mkl", "upcast"):
        raise ValueError(f"TENSORGRAD_BF16_GEMM must be auto, mkl or upcast, got {choice!r}")
    if choice == "upcast" or not has_half_gemm(_BF16):
        return "upcast"
    return "mkl" if choice == "mkl" or bf16_hardware() else "upcast"


def has_half_gemm(dtype):
    """Whether MKL's GEMM taking `dtype` (bfloat16 or float16) inputs with float32 output is loaded."""
    return np.dtype(dtype) in _gemm_half


def gemm_half(a, b, bias=None, fill_rows=None):
    """a @ b (+ bias) for 2-D bfloat16 (or float16) arrays of one dtype through MKL's cblas_gemm_bf16bf16f32
    (cblas_gemm_f16f16f32): products accumulated in float32 and returned as a new C-ordered float32 array (the
    caller rounds, or keeps it); the bias, of any float dtype, is written into the output in float32 first and the
    GEMM adds to it (beta = 1), as gemm. None where MKL or the function is missing or the operands do not fit.
    On this project's Xeon (AMX-BF16) 1024^3 took 1.49 ms in bf16 vs 5.85 ms in cblas_sgemm."""
    f = _gemm_half.get(a.dtype)
    if f is None or a.ndim != 2 or b.ndim != 2 or b.dtype != a.dtype:
        return None
    m, k = a.shape
    n = b.shape[1]
    if m == 0 or n == 0 or k == 0 or max(m, n, k) > _INT_MAX:
        return None
    if bias is not None and bias.dtype != np.float32:
        bias = bias.astype(np.float32)
    return _gemm_2d(f, a, b, bias, fill_rows, np.float32)


def gemm_half_batched(a, b):
    """a @ b for bfloat16 (float16) arrays with batch dims (broadcast as np.matmul) as float32, one
    gemm_half call per matrix (MKL has no batched half-precision GEMM); None where it does not apply."""
    if a.dtype not in _gemm_half or b.dtype != a.dtype or a.ndim < 2 or b.ndim < 2:
        return None
    m, k = a.shape[-2:]
    n = b.shape[-1]
    if b.shape[-2] != k or 0 in (m, n, k):
        return None
    try:
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        return None
    av, bv = np.broadcast_to(a, batch + (m, k)), np.broadcast_to(b, batch + (k, n))
    c = np.empty(batch + (m, n), np.float32)
    f = _gemm_half[a.dtype]
    for i in np.ndindex(*batch):
        ai, bi = as_operand(av[i]), as_operand(bv[i])
        la, lb = _operand(ai, m, k), _operand(bi, k, n)
        f(_ROW_MAJOR, la[0], lb[0], m, n, k, 1.0, ai.ctypes.data, la[1], bi.ctypes.data, lb[1], 0.0,
          c[i].ctypes.data, n)
    return c


_INT_MAX = 2 ** 31 - 1   # MKL's LP64 interface takes 32-bit sizes, leading dims and strides
_BATCH_MIN_WORK = 1 << 18  # m * n * k per matrix below which batched products stay with NumPy (see gemm_batched)


def _batch_stride(x, nb):
    """The element stride between consecutive matrices of x's first nb (batch) dims in C order, 0 when they are
    all broadcast, None when they do not collapse to one stride (NumPy then copies)."""
    dims = [(n, st) for n, st in zip(x.shape[:nb], x.strides[:nb]) if n != 1]
    if not dims or all(st == 0 for _, st in dims):
        return 0
    for (_, st0), (n1, st1) in zip(dims, dims[1:]):
        if st0 != st1 * n1:
            return None
    st = dims[-1][1]
    return st // x.itemsize if st > 0 and st % x.itemsize == 0 else None


def gemm_batched(a, b):
    """a @ b for NumPy arrays of one float dtype with at least one of them over 2-D (batch dims broadcast as in
    np.matmul), through MKL's cblas_?gemm_batch_strided: one call for the whole batch, on the GEMMs' thread pool.
    None where it does not apply (the caller then uses NumPy). For 96 x 256x64 @ 64x256 NumPy took 7.3 ms at 2
    threads, MKL 3.1 ms, PyTorch 3.6 ms. Small matrices stay with NumPy: at 48 x 64x32 @ 32x64 the batch call was
    slower than NumPy's loop at one thread (0.13 vs 0.09 ms) and no faster at two."""
    f = _gemm_batch.get(a.dtype)
    if f is None or a.ndim < 2 or b.ndim < 2 or max(a.ndim, b.ndim) < 3 or b.dtype != a.dtype:
        return None
    m, k = a.shape[-2:]
    n = b.shape[-1]
    if b.shape[-2] != k or 0 in (m, n, k) or m * n * k < _BATCH_MIN_WORK:
        return None
    try:
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        return None
    count = int(np.prod(batch))
    if count == 0 or max(m, n, k, count, m * n * count) > _INT_MAX:
        return None
    nb = len(batch)
    av, bv = np.broadcast_to(a, batch + (m, k)), np.broadcast_to(b, batch + (k, n))
    sa, sb = _batch_stride(av, nb), _batch_stride(bv, nb)
    if sa is None or sb is None or max(sa, sb) > _INT_MAX:
        return None
    la, lb = _operand(av[(0,) * nb], m, k), _operand(bv[(0,) * nb], k, n)
    if la is None or lb is None:
        return None
    c = np.empty(batch + (m, n), a.dtype)
    f(_ROW_MAJOR, la[0], lb[0], m, n, k, 1.0, a.ctypes.data, la[1], sa, b.ctypes.data, lb[1], sb, 0.0,
      c.ctypes.data, n, m * n, count)
    return c


def dot(a, b):
    """Inner product of two 1-D contiguous arrays of one float dtype through MKL, as a NumPy scalar of that dtype;
    None where MKL does not apply."""
    f = _dot.get(a.dtype)
    if f is None or a.ndim != 1 or b.ndim != 1 or b.dtype != a.dtype or a.shape != b.shape \
            or not (a.flags.c_contiguous and b.flags.c_contiguous):
        return None
    return a.dtype.type(f(a.shape[0], a.ctypes.data, 1, b.ctypes.data, 1))


_load()
