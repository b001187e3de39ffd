"""bfloat16 end to end on the CPU: casts bit-identical to torch's, op results equal to torch's bfloat16 results,
autocast("cpu", dtype=bfloat16) output dtypes per op as torch.autocast's, fp32 master weights and grads, BF16
safetensors, and a tiny GPT trained under bf16 autocast ending within 2% of its fp32 loss."""
import os
import tempfile

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import tensorgrad as tg
import tensorgrad.nn.functional as F
from tensorgrad import io
from tensorgrad.amp import autocast, GradScaler
from tensorgrad.backend import blas, kernels, reference
from tensorgrad.backend.host import set_num_threads

from helpers import train_tiny_gpt

BF = tg.bfloat16


def _bits_tg(t):
    return np.asarray(t.detach().array).view(np.uint16)


def _bits_torch(t):
    return t.detach().contiguous().view(torch.int16).numpy().view(np.uint16)


def _wide_floats(n, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n) * 10.0 ** rng.integers(-44, 38, n)
    x[:12] = [np.inf, -np.inf, 0.0, -0.0, 1e-40, -1e-45, 3.4e38, 3.39e38, 9.2e-41, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 6e-39]
    return x.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cast_rounding_bit_identical_to_torch(dtype):
    """Round to nearest even with subnormals kept; float64 through float32 (c10 rounds doubles via float)."""
    x = _wide_floats(200_000, dtype)
    if dtype == np.float64:
        x[12:14] = [1 + 2 ** -8 + 2 ** -30, 1 + 2 ** -8 + 2 ** -40]  # double rounding differs from direct here
    with np.errstate(over="ignore"):
        ours = _bits_tg(tg.tensor(x).to(BF))
    assert np.array_equal(ours, _bits_torch(torch.from_numpy(x).to(torch.bfloat16)))
    # the factory path (Python floats) rounds the same way
    vals = x[:64].tolist()
    assert np.array_equal(_bits_tg(tg.tensor(vals, dtype=BF)), _bits_torch(torch.tensor(vals, dtype=torch.bfloat16)))


def test_cast_nan_and_back_exact():
    x = np.array([np.nan, -np.nan, 1.5, -2.0], np.float32)
    b = tg.tensor(x).bfloat16()
    assert b.dtype == BF and np.isnan(b.float().numpy()[:2]).all()
    y = _wide_floats(10_000, np.float32)
    with np.errstate(over="ignore"):
        b = tg.tensor(y).bfloat16()
    assert np.array_equal(b.float().numpy(), torch.from_numpy(y).bfloat16().float().numpy())


def test_cast_kernel_matches_reference():
    x = _wide_floats(100_003, np.float32).reshape(7, -1) if 100_003 % 7 == 0 else _wide_floats(100_002, np.float32)
    with np.errstate(over="ignore"):
        k = kernels.get("cast", "cpu")(x, BF)
        r = reference.cast(x, BF)
    assert k.dtype == BF and np.array_equal(k.view(np.uint16), r.view(np.uint16))
    assert np.array_equal(kernels.get("cast", "cpu")(k, np.float32), r.astype(np.float32))
    nc = x.reshape(2, -1)[:, ::3]  # non-contiguous input
    assert np.array_equal(kernels.get("cast", "cpu")(nc, BF).view(np.uint16), reference.cast(nc, BF).view(np.uint16))


def test_dtype_names_factories_methods():
    assert tg.dtypes.to_dtype("bfloat16") == BF and tg.dtypes.to_dtype(torch.bfloat16) == BF
    assert tg.dtypes.is_float(BF) and tg.dtypes.name(BF) == "bfloat16"
    for t in (tg.zeros(2, 3, dtype=BF), tg.ones(4, dtype=BF), tg.randn(3, dtype=BF), tg.rand(3, dtype=BF),
              tg.full((2,), 1.5, dtype=BF), tg.ones(3).bfloat16(), tg.ones(3).to(BF), tg.ones(3).to("bfloat16")):
        assert t.dtype == BF
    x = tg.randn(3, requires_grad=True)
    y = x.bfloat16()
    y.float().sum().backward()
    assert x.grad.dtype == tg.float32 and np.array_equal(x.grad.numpy(), np.ones(3, np.float32))


@pytest.mark.parametrize("vals", [[1.0, 2.0, 3.0], [0.1234, 2.5, -3.0], [1e-5, 1e3, 7.0], [float("nan"), float("inf"), 1.5]])
def test_printing_as_torch(vals):
    ours = repr(tg.tensor(vals, dtype=BF)).replace("tensorgrad.", "torch.")
    assert ours == repr(torch.tensor(vals, dtype=torch.bfloat16))


def test_type_promotion_as_torch():
    b = tg.ones(3, dtype=BF)
    tb = torch.ones(3, dtype=torch.bfloat16)
    cases = [(tg.ones(3), torch.ones(3)), (tg.ones(3).half(), torch.ones(3).half()), (tg.ones(3, dtype=tg.float64),
             torch.ones(3, dtype=torch.float64)), (tg.ones(3, dtype=tg.int64), torch.ones(3, dtype=torch.int64))]
    for o, to in cases:
        assert tg.dtypes.name((b + o).dtype) == str((tb + to).dtype).replace("torch.", "")
    assert (b + 1.5).dtype == BF and (b * 2).dtype == BF


def test_sum_accumulates_in_float32():
    assert tg.ones(100_000, dtype=BF).sum().item() == torch.ones(100_000, dtype=torch.bfloat16).sum().item() == 99840.0


def _pair(shape=(48, 200), seed=0):
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return tg.tensor(x).bfloat16(), torch.from_numpy(x).bfloat16()


def _assert_same(ours, theirs, ulps=0):
    assert ours.dtype == BF and theirs.dtype == torch.bfloat16
    a, b = ours.float().detach().numpy(), theirs.float().detach().numpy()
    if ulps == 0:
        np.testing.assert_array_equal(a, b)
    else:  # within `ulps` units in the last place of bfloat16 (8 bits of mantissa)
        np.testing.assert_array_less(np.abs(a - b), ulps * np.maximum(np.abs(b), 1e-30) * 2.0 ** -7 * 1.01 + 1e-30)


EXACT_OPS = {
    "add": (lambda x: x + x * 3, None), "div": (lambda x: x / (x.abs() + 3), None), "pow": (lambda x: x ** 2, None),
    "exp": (lambda x: x.exp(), None), "tanh": (lambda x: x.tanh(), None), "sigmoid": (lambda x: x.sigmoid(), None),
    "sqrt": (lambda x: x.abs().sqrt(), None), "relu": (F.relu, TF.relu), "gelu": (F.gelu, TF.gelu),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), lambda x: TF.gelu(x, approximate="tanh")),
    "sum": (lambda x: x.sum(1), None), "sum_all": (lambda x: x.sum(), None), "mean": (lambda x: x.mean(0), None),
    "var": (lambda x: x.var(1), None), "cumsum": (lambda x: x.cumsum(1), None), "norm": (lambda x: x.norm(), None),
    "softmax": (lambda x: F.softmax(x, -1), lambda x: TF.softmax(x, -1)),
}


@pytest.mark.parametrize("name", sorted(EXACT_OPS))
def test_op_results_equal_torch_bf16(name):
    fn, tfn = EXACT_OPS[name]
    a, b = _pair()
    _assert_same(fn(a), (tfn or fn)(b), ulps=0 if name not in ("gelu", "gelu_tanh") else 1)


def test_log_softmax_and_logsumexp_within_one_ulp():
    """torch's bf16 log_softmax kernel rounds an intermediate; ours rounds once: they differ by at most 1 ulp."""
    a, b = _pair()
    _assert_same(F.log_softmax(a, -1), TF.log_softmax(b, -1), ulps=1)
    _assert_same(a.logsumexp(1), b.logsumexp(1), ulps=1)


def test_layer_norm_matmul_linear_equal_torch():
    a, b = _pair((64, 96))
    w = np.random.default_rng(1).standard_normal((96,)).astype(np.float32)
    m = np.random.default_rng(2).standard_normal((96, 80)).astype(np.float32)
    wt, wb = tg.tensor(w).bfloat16(), torch.from_numpy(w).bfloat16()
    _assert_same(F.layer_norm(a, (96,), wt, wt), TF.layer_norm(b, (96,), wb, wb), ulps=1)
    mt, mb = tg.tensor(m).bfloat16(), torch.from_numpy(m).bfloat16()
    _assert_same(a @ mt, b @ mb, ulps=1)
    bias = tg.tensor(m[0]).bfloat16()
    _assert_same(F.linear(a, mt.T, bias), TF.linear(b, mb.T, torch.from_numpy(m[0]).bfloat16()), ulps=1)
    x3, y3 = tg.randn(3, 16, 24).bfloat16(), tg.randn(3, 24, 20).bfloat16()
    _assert_same(x3 @ y3, torch.from_numpy(x3.float().numpy()).bfloat16() @ torch.from_numpy(y3.float().numpy()).bfloat16(),
                 ulps=1)


@pytest.mark.parametrize("path", ["mkl", "upcast"])
def test_bf16_gemm_both_paths_match_reference_and_torch(path, monkeypatch):
    """Both ways a bf16 GEMM can run on the CPU (MKL's bf16 GEMM; the upcast to sgemm that CPUs without bf16
    hardware take) give torch's bf16 results: 2-D with a transposed weight view and a bias of either dtype,
    C-ordered, and batched."""
    if path == "mkl" and not blas.has_half_gemm(BF):
        pytest.skip("MKL's cblas_gemm_bf16bf16f32 is not loaded")
    monkeypatch.setenv("TENSORGRAD_BF16_GEMM", path)
    assert blas.bf16_gemm_path() == path
    gemm = kernels.get("gemm", "cpu")
    rng = np.random.default_rng(0)
    a = rng.standard_normal((70, 33)).astype(BF)
    w = rng.standard_normal((50, 33)).astype(BF)
    for b in (w.T, np.ascontiguousarray(w.T)):  # a Linear's weight.T view is read in place; C order too
        for bias in (None, rng.standard_normal(50).astype(BF), rng.standard_normal(50).astype(np.float32)):
            out = gemm(a, b, bias)
            assert out.dtype == BF and out.shape == (70, 50)
            ref = reference.gemm(a, b, bias)
            np.testing.assert_allclose(out.astype(np.float32), ref.astype(np.float32), rtol=2 ** -7, atol=1e-6)
            tb = torch.from_numpy(b.astype(np.float32)).bfloat16()
            tt = torch.from_numpy(a.astype(np.float32)).bfloat16() @ tb
            if bias is not None:
                tt = TF.linear(torch.from_numpy(a.astype(np.float32)).bfloat16(), tb.T,
                               torch.from_numpy(bias.astype(np.float32)).bfloat16())
            np.testing.assert_allclose(out.astype(np.float32), tt.float().numpy(), rtol=2 ** -7, atol=1e-2)
    x, y = rng.standard_normal((3, 16, 24)).astype(BF), rng.standard_normal((24, 20)).astype(BF)
    out = gemm(x, y)
    assert out.dtype == BF and out.shape == (3, 16, 20)
    tt = torch.from_numpy(x.astype(np.float32)).bfloat16() @ torch.from_numpy(y.astype(np.float32)).bfloat16()
    np.testing.assert_allclose(out.astype(np.float32), tt.float().numpy(), rtol=2 ** -7, atol=1e-2)


def test_bf16_gemm_path_auto_follows_the_hardware(monkeypatch):
    monkeypatch.delenv("TENSORGRAD_BF16_GEMM", raising=False)
    monkeypatch.setattr(blas, "_bf16_hw", False)
    assert blas.bf16_gemm_path() == "upcast"
    monkeypatch.setattr(blas, "_bf16_hw", True)
    assert blas.bf16_gemm_path() == ("mkl" if blas.has_half_gemm(BF) else "upcast")
    monkeypatch.setenv("TENSORGRAD_BF16_GEMM", "fast")
    with pytest.raises(ValueError, match="TENSORGRAD_BF16_GEMM must be auto, mkl or upcast, got 'fast'"):
        blas.bf16_gemm_path()


def test_train_notes_a_cpu_without_bf16_hardware(monkeypatch, tmp_path, capsys):
    from tensorgrad.train import train
    monkeypatch.delenv("TENSORGRAD_BF16_GEMM", raising=False)
    for hw in (False, True):
        monkeypatch.setattr(blas, "_bf16_hw", hw)
        train(dtype="bfloat16", max_iters=0, n_layer=1, n_head=1, n_embd=8, block_size=8, batch_size=2,
              eval_iters=1, out_dir=str(tmp_path / str(hw)), verbose=True, plot=False)
        said = "this CPU has no bfloat16 instructions" in capsys.readouterr().out
        assert said == (not hw)


# ------------------------------------------------------------------------------------------------ autocast
def _policy_cases():
    def lin(m):
        return m.linear(m.x, m.w)
    return {
        "linear": (lambda x, w, m: m.F.linear(x, w)),
        "matmul": (lambda x, w, m: x @ w),
        "bmm": (lambda x, w, m: m.bmm(x[None], w[None])),
        "baddbmm": (lambda x, w, m: m.baddbmm(x[None], x[None], w[None])),
        "conv1d": (lambda x, w, m: m.F.conv1d(x[None], w[None, :, :3])),
        "sdpa": (lambda x, w, m: m.F.scaled_dot_product_attention(x[None, None], x[None, None], x[None, None])),
        "softmax_of_bf16": (lambda x, w, m: m.F.softmax(x @ w, -1)),
        "softmax_of_fp32": (lambda x, w, m: m.F.softmax(x, -1)),
        "log_softmax_of_bf16": (lambda x, w, m: m.F.log_softmax(x @ w, -1)),
        "layer_norm_of_bf16": (lambda x, w, m: m.F.layer_norm(x @ w, (8,))),
        "layer_norm_of_fp32": (lambda x, w, m: m.F.layer_norm(x, (8,))),
        "cross_entropy_of_bf16": (lambda x, w, m: m.F.cross_entropy(x @ w, m.zeros(8, dtype=m.long))),
        "mse_of_bf16": (lambda x, w, m: m.F.mse_loss(x @ w, x)),
        "sum_of_bf16": (lambda x, w, m: (x @ w).sum()),
        "mean_of_bf16": (lambda x, w, m: (x @ w).mean()),
        "prod_of_bf16": (lambda x, w, m: (x @ w).prod()),
        "gelu_of_bf16": (lambda x, w, m: m.F.gelu(x @ w)),
        "residual_add": (lambda x, w, m: x + x @ w),
    }


class _NS:
    def __init__(self, mod, F_):
        self.F, self.bmm, self.baddbmm, self.zeros, self.long = F_, mod.bmm, mod.baddbmm, mod.zeros, mod.long


@pytest.mark.parametrize("name", sorted(_policy_cases()))
def test_autocast_output_dtypes_follow_torch_cpu_policy(name):
    fn = _policy_cases()[name]
    x = np.random.default_rng(0).standard_normal((8, 8)).astype(np.float32)
    w = np.random.default_rng(1).standard_normal((8, 8)).astype(np.float32)
    with autocast("cpu", dtype=tg.bfloat16):
        ours = fn(tg.tensor(x), tg.tensor(w), _NS(tg, F))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        theirs = fn(torch.from_numpy(x), torch.from_numpy(w), _NS(torch, TF))
    assert tg.dtypes.name(ours.dtype) == str(theirs.dtype).replace("torch.", "")


def test_autocast_master_weights_and_grads_stay_fp32():
    tg.manual_seed(0)
    model = tg.nn.Sequential(tg.nn.Linear(16, 32), tg.nn.GELU(), tg.nn.LayerNorm(32), tg.nn.Linear(32, 4))
    x, y = tg.randn(8, 16), tg.randint(0, 4, (8,))
    with autocast("cpu", dtype=tg.bfloat16):
        out = model(x)
        loss = F.cross_entropy(out, y)
    assert out.dtype == BF and loss.dtype == tg.float32
    loss.backward()
    for p in model.parameters():
        assert p.dtype == tg.float32 and p.grad is not None and p.grad.dtype == tg.float32


def test_grad_scaler_disabled_is_pass_through():
    scaler = GradScaler(enabled=False)
    p = tg.nn.Parameter(tg.ones(3))
    opt = tg.optim.SGD([p], lr=0.1)
    loss = (p * 2).sum()
    assert scaler.scale(loss) is loss
    loss.backward()
    scaler.step(opt)
    scaler.update()
    np.testing.assert_allclose(p.detach().numpy(), np.full(3, 0.8, np.float32), rtol=1e-6)


def test_safetensors_bf16_roundtrip_and_torch_interop():
    from safetensors.torch import load_file, save_file
    a = tg.randn(3, 5).bfloat16()
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "x.safetensors")
        io.save_safetensors(p, {"a": a.array})
        arrays, _ = io.load_safetensors(p)
        assert arrays["a"].dtype == BF and np.array_equal(arrays["a"].view(np.uint16), _bits_tg(a))
        assert np.array_equal(_bits_torch(load_file(p)["a"]), _bits_tg(a))
        t = torch.randn(4, 2).bfloat16()
        save_file({"t": t}, p)
        assert np.array_equal(io.load_safetensors(p)[0]["t"].view(np.uint16), _bits_torch(t))


# ------------------------------------------------------------------------------------------------ training
def test_tiny_gpt_bf16_autocast_loss_within_2pct_of_fp32():
    # one thread: tiny matrices, and on a loaded 2-core machine 2 threads made each step ~50x slower
    prev = set_num_threads(1)
    try:
        fp32, _ = train_tiny_gpt()
        bf16, model = train_tiny_gpt(tg.bfloat16)
    finally:
        set_num_threads(prev)
    assert all(p.dtype == tg.float32 for p in model.parameters())
    assert fp32 < 1.5  # it learned (ln 32 = 3.47 at the start)
    assert abs(bf16 - fp32) <= 0.02 * fp32, (bf16, fp32)
