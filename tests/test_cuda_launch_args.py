"""Every CUDA launcher in backend/cuda.py against the kernels it launches, without a GPU: NumPy stands in for CuPy and
a recorder for each kernel, which checks the name exists in the PTX nvcc makes of csrc/cuda/<file>.cu and that the
arguments match the entry's parameters one by one (count; pointers and 8-byte integers for .u64, 4-byte integers for
.u32/.s32, float32 for .f32), the block size, the grid and the shared memory. A launcher and a kernel that disagree
(a parameter added to one side only) fail here instead of on the first GPU run."""
import types

import numpy as np
import pytest

from tensorgrad.backend import cuda as cu
from tensorgrad.backend.capture import GraphOffset
from tensorgrad.dtypes import bfloat16 as BF16

from helpers import ptx_entries

DTYPES = [np.float32, np.float16, BF16]
_EIGHT = (np.ndarray, np.uint64, np.int64)
_FOUR_INT = (np.int32, np.uint32)


def _fits(arg, ptype):
    if ptype in (".u64", ".s64", ".b64"):
        return isinstance(arg, _EIGHT) and (not isinstance(arg, np.ndarray) or arg.size >= 0)
    if ptype in (".u32", ".s32", ".b32"):
        return isinstance(arg, _FOUR_INT)
    if ptype == ".f32":
        return isinstance(arg, np.float32)
    if ptype == ".f64":
        return isinstance(arg, np.float64)
    return False


class _Dev(np.ndarray):
    """A NumPy array with CuPy's .data.ptr (the launchers read device addresses for the AdamW table)."""

    @property
    def data(self):
        return types.SimpleNamespace(ptr=self.ctypes.data)


def _dev(fn):
    return lambda *a, **k: fn(*a, **k).view(_Dev)


class _Kernel:
    def __init__(self, file, name, params, launches):
        self.file, self.name, self.params, self.launches = file, name, params, launches
        self.max_dynamic_shared_size_bytes = 0

    def __call__(self, grid, block, args, shared_mem=0):
        where = f"{self.file}.cu {self.name}"
        assert len(args) == len(self.params), f"{where}: {len(args)} arguments for {len(self.params)} parameters"
        for i, (a, p) in enumerate(zip(args, self.params)):
            assert _fits(a, p), f"{where}: argument {i} is {type(a).__name__} for a {p} parameter"
        assert all(isinstance(g, (int, np.integer)) and 1 <= g < 2 ** 31 for g in grid), (where, grid)
        assert len(block) == 1 and 32 <= block[0] <= 1024 and block[0] % 32 == 0, (where, block)
        assert 0 <= shared_mem <= 227 * 1024, (where, shared_mem)
        self.launches.append(self.name)


@pytest.fixture
def launches(monkeypatch):
    """Patches backend.cuda to run on NumPy with recording kernels; yields the names launched."""
    seen = []
    fake = types.SimpleNamespace(
        ascontiguousarray=_dev(np.ascontiguousarray), empty=_dev(np.zeros), empty_like=_dev(np.zeros_like),
        zeros=_dev(np.zeros), asarray=_dev(np.asarray), broadcast_to=np.broadcast_to, float32=np.float32,
        float16=np.float16, int64=np.int64, int32=np.int32, uint64=np.uint64)

    def get_kernel(file, name, smem=0):
        entries = ptx_entries(file)
        assert name in entries, f"{file}.cu has no kernel {name}"
        return _Kernel(file, name, entries[name], seen)
    monkeypatch.setattr(cu, "_cp", lambda: fake)
    monkeypatch.setattr(cu, "get_kernel", get_kernel)
    monkeypatch.setattr(cu, "_sm_count", lambda: 132)
    monkeypatch.setattr(cu, "_device_id", lambda: 0)
    monkeypatch.setattr(cu, "_adamw_table", {"key": None, "dev": None, "buf": None, "views": None})  # (a GPU's own)
    monkeypatch.setattr(cu, "_aligned", lambda nbytes, *arrays: True)
    yield seen


def _r(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype).view(_Dev)


@pytest.mark.parametrize("dtype", DTYPES)
def test_layernorm_softmax_ce_gelu(launches, dtype):
    x, w = _r((8, 48), dtype), _r(48, np.float32)
    for weight, bias in ((w, w), (None, None)):
        y, mean, rstd = cu.layernorm_forward(x, weight, bias, 1e-5)
        cu.layernorm_backward(x, x, weight, mean, rstd)
    logits, target = _r((6, 70), dtype), np.arange(6, dtype=np.int64)
    loss, stats = cu.softmax_cross_entropy_forward(logits, target, -100, 0.1)
    cu.softmax_cross_entropy_backward(logits, target, stats, np.float32(1.0), -100, 0.1)
    cu.gelu_forward(x, "tanh")
    cu.gelu_backward(x, x, "none")
    sfx = cu._SUFFIX[np.dtype(dtype)]
    assert launches == [f"layernorm_forward_kernel_{sfx}", f"layernorm_backward_kernel_{sfx}"] * 2 + [
        f"softmax_cross_entropy_forward_kernel_{sfx}", f"softmax_cross_entropy_backward_kernel_{sfx}",
        f"gelu_forward_kernel_{sfx}", f"gelu_backward_kernel_{sfx}"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("d", [32, 64, 128])
@pytest.mark.parametrize("offset", [0, 7, "graph"])
@pytest.mark.parametrize("p", [0.0, 0.2])
def test_attention(launches, dtype, d, offset, p):
    if offset == "graph":
        offset = GraphOffset(3, np.zeros(2, np.uint64))
    q, k, v = (_r((2, 3, 40, d), dtype, s) for s in range(3))
    out, lse = cu.attention_forward(q, k, v, True, d ** -0.5, p, 5, offset)
    cu.attention_backward(out, q, k, v, out, lse, True, d ** -0.5, p, 5, offset)
    tc = dtype in (np.float16, BF16) and d in (64, 128)
    sfx = cu._SUFFIX[np.dtype(dtype)]
    dp = 64 if d <= 64 else 128
    kind = f"{sfx}_tc_d{d}" if tc else f"{sfx}_d{dp}"
    assert launches == [f"attention_forward_kernel_{kind}", f"attention_delta_kernel_{sfx}",
                        f"attention_backward_kernel_{kind}"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("offset", [9, "graph"])
def test_bias_dropout_add(launches, dtype, offset):
    if offset == "graph":
        offset = GraphOffset(1, np.zeros(2, np.uint64))
    x, h, b = _r((4, 24), dtype), _r((4, 24), dtype, 1), _r(24, dtype, 2)
    for bias in (b, None):
        cu.bias_dropout_add_forward(x, h, bias, 0.1, 3, offset)
    cu.bias_dropout_add_backward(h, 0.1, 3, offset)
    sfx = cu._SUFFIX[np.dtype(dtype)]
    assert launches == [f"bias_dropout_add_forward_kernel_{sfx}"] * 2 + [f"bias_dropout_add_backward_kernel_{sfx}"]


@pytest.mark.parametrize("capturable", [False, True])
def test_adamw(launches, capturable):
    ps = [_r((5, 3), np.float32), _r(7, np.float32, 1), _r(4, np.float32, 2)]
    gs = [_r((5, 3), np.float32, 3), _r(7, np.float16, 4), _r(4, BF16, 5)]
    ms, vs = [np.zeros_like(p) for p in ps], [np.ones_like(p) for p in ps]
    if capturable:
        cu.adamw_step_capturable(ps, gs, ms, vs, np.array(1e-3, np.float32), np.array(1.0, np.float32), None, 0.9,
                                 0.95, 1e-8, 0.1)
    else:
        cu.adamw_step(ps, gs, ms, vs, 1e-3, 0.9, 0.95, 1e-8, 0.1, 1)
    assert launches == ["adamw_step_capturable_kernel" if capturable else "adamw_step_kernel"]


def test_the_recorder_catches_a_mismatch(launches):
    """(the check itself can fail: one argument fewer than the kernel takes)"""
    k = cu.get_kernel("gelu", "gelu_forward_kernel_f32")
    x = np.zeros(4, np.float32)
    with pytest.raises(AssertionError, match="arguments for"):
        k((1,), (256,), (x, x, np.int64(4), np.int32(0)))
    with pytest.raises(AssertionError, match="argument 2 is int"):
        k((1,), (256,), (x, x, 4, np.int32(0), np.int32(1)))
    with pytest.raises(AssertionError, match="has no kernel"):
        cu.get_kernel("gelu", "gelu_forward_kernel_f64")
