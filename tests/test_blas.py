"""backend.blas: the CPU GEMM/dot through MKL must equal NumPy's for every layout it accepts, decline (None) what it
cannot read in place, and be selectable with TENSORGRAD_BLAS."""
import os
import subprocess
import sys

import numpy as np
import pytest

from tensorgrad.backend import blas

needs_mkl = pytest.mark.skipif(not blas._gemm, reason=f"MKL not loaded: {blas.backend()}")


def _layout(rng, shape, how, dt):
    """An operand of `shape` laid out as: C order, a transposed view (F order), or a column slice of a wider array."""
    if how == "C":
        return rng.standard_normal(shape).astype(dt)
    if how == "T":
        return rng.standard_normal(shape[::-1]).astype(dt).T
    wide = rng.standard_normal((shape[0], shape[1] + 5)).astype(dt)
    return wide[:, 2:2 + shape[1]]


@needs_mkl
@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("la", ["C", "T", "slice"])
@pytest.mark.parametrize("lb", ["C", "T", "slice"])
@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (1, 7, 1), (5, 1, 3), (7, 13, 5), (64, 33, 129), (1, 40, 9)])
def test_gemm_matches_numpy(dt, la, lb, m, k, n):
    rng = np.random.default_rng(m * 100 + k * 10 + n)
    a, b = _layout(rng, (m, k), la, dt), _layout(rng, (k, n), lb, dt)
    out = blas.gemm(a, b)
    assert out is not None and out.dtype == dt and out.shape == (m, n) and out.flags.c_contiguous
    tol = 1e-5 if dt == np.float32 else 1e-12
    np.testing.assert_allclose(out, a.astype(np.float64) @ b.astype(np.float64), rtol=tol, atol=tol * k)


@needs_mkl
@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("lb", ["C", "T"])
@pytest.mark.parametrize("m,k,n", [(1, 3, 1), (33, 17, 65), (768, 128, 384)])
def test_gemm_with_bias_matches_numpy(dt, lb, m, k, n):
    rng = np.random.default_rng(7)
    a, b = rng.standard_normal((m, k)).astype(dt), _layout(rng, (k, n), lb, dt)
    bias = rng.standard_normal(n).astype(dt)
    tol = 1e-5 if dt == np.float32 else 1e-12
    np.testing.assert_allclose(blas.gemm(a, b, bias), a.astype(np.float64) @ b + bias, rtol=tol, atol=tol * k)
    wide = rng.standard_normal(2 * n).astype(dt)       # a strided bias takes NumPy's fill
    np.testing.assert_allclose(blas.gemm(a, b, wide[::2]), a.astype(np.float64) @ b + wide[::2], rtol=tol,
                               atol=tol * k)
    assert blas.gemm(a, b, bias.astype(np.float16)) is None


BATCHED = [  # (a shape, b shape): batch dims broadcast as np.matmul does
    ((3, 4, 5, 6), (3, 4, 6, 7)),
    ((3, 4, 5, 6), (6, 7)),           # a weight shared by every batch element: stride 0
    ((5, 6), (2, 3, 6, 7)),
    ((1, 5, 6), (3, 6, 7)),           # a size-1 batch dim broadcast: stride 0
    ((2, 1, 1, 6), (2, 1, 6, 1)),
    ((12, 4, 64, 32), (12, 4, 32, 64)),
]


@needs_mkl
@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("sa,sb", BATCHED)
@pytest.mark.parametrize("tb", [False, True])
def test_gemm_batched_matches_numpy(dt, sa, sb, tb, monkeypatch):
    rng = np.random.default_rng(len(sa) * 10 + len(sb))
    a = rng.standard_normal(sa).astype(dt)
    b = rng.standard_normal(sb).astype(dt)
    if tb:  # the transposed view MatMul's backward passes
        b = np.ascontiguousarray(b.swapaxes(-1, -2)).swapaxes(-1, -2)
    monkeypatch.setattr(blas, "_BATCH_MIN_WORK", 1)   # small shapes here; the size cut-off is tested below
    got = blas.gemm_batched(a, b)
    assert got is not None and got.flags.c_contiguous
    tol = 1e-5 if dt == np.float32 else 1e-12
    np.testing.assert_allclose(got, a.astype(np.float64) @ b, rtol=tol, atol=tol * sa[-1])


@needs_mkl
def test_gemm_batched_declines_batches_without_one_stride(monkeypatch):
    small = np.ones((2, 8, 8), np.float32)
    assert blas.gemm_batched(small, small) is None                      # below the size cut-off: NumPy's
    monkeypatch.setattr(blas, "_BATCH_MIN_WORK", 1)
    a = np.ones((3, 4, 5, 6), np.float32)
    b = np.ones((3, 4, 6, 7), np.float32)
    assert blas.gemm_batched(a[:, :1], b) is None                       # strides (s, 0): no single stride
    assert blas.gemm_batched(a[:1], b) is None                          # strides (0, s): neither
    assert blas.gemm_batched(a.transpose(1, 0, 2, 3), b.transpose(1, 0, 2, 3)) is None  # batch dims not C order
    assert blas.gemm_batched(a, b.astype(np.float64)) is None
    assert blas.gemm_batched(a[0, 0], b[0, 0]) is None                  # 2-D: gemm's job
    assert blas.gemm_batched(a, np.ones((3, 4, 5, 7), np.float32)) is None   # inner dims differ


@needs_mkl
def test_batched_matmul_runs_on_mkl_and_agrees_with_torch(monkeypatch):
    torch = pytest.importorskip("torch")
    import tensorgrad as tg
    calls, f = [], blas._gemm_batch[np.dtype(np.float32)]
    monkeypatch.setattr(blas, "_BATCH_MIN_WORK", 1)
    monkeypatch.setitem(blas._gemm_batch, np.dtype(np.float32), lambda *a: (calls.append(a[3:6]), f(*a))[1])
    rng = np.random.default_rng(8)
    q, k = rng.standard_normal((2, 3, 5, 4)).astype(np.float32), rng.standard_normal((2, 3, 6, 4)).astype(np.float32)
    tq, tk = tg.tensor(q, requires_grad=True), tg.tensor(k, requires_grad=True)
    s = tq @ tk.transpose(-2, -1)
    (s * s).sum().backward()
    pq, pk = torch.tensor(q, requires_grad=True), torch.tensor(k, requires_grad=True)
    ps = pq @ pk.transpose(-2, -1)
    (ps * ps).sum().backward()
    assert len(calls) == 3   # forward, dq, dk: one MKL call each for the whole batch
    np.testing.assert_allclose(s.detach().numpy(), ps.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(tq.grad.numpy(), pq.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(tk.grad.numpy(), pk.grad.numpy(), rtol=1e-4, atol=1e-4)


@needs_mkl
def test_gemm_declines_what_it_cannot_compute():
    a = np.ones((6, 8), np.float32)
    assert blas.gemm(a, np.ones((8, 3), np.float64)) is None                   # mixed dtypes
    assert blas.gemm(a.astype(np.int64), np.ones((8, 3), np.int64)) is None    # not a float GEMM
    assert blas.gemm(a.astype(np.float16), np.ones((8, 3), np.float16)) is None
    assert blas.gemm(np.ones((0, 8), np.float32), np.ones((8, 3), np.float32)) is None
    assert blas.gemm(np.ones((2, 3, 8), np.float32), np.ones((8, 3), np.float32)) is None


@needs_mkl
def test_gemm_copies_operands_blas_cannot_read_in_place():
    # a broadcast (zero-stride) gradient, as `.sum().backward()` gives, and non-unit strides both ways: copied,
    # then one MKL GEMM (NumPy's matmul would run its slow non-BLAS loop on them)
    rng = np.random.default_rng(0)
    b = rng.standard_normal((8, 3)).astype(np.float32)
    wide = rng.standard_normal((12, 16)).astype(np.float32)
    for a in (np.broadcast_to(rng.standard_normal(8).astype(np.float32), (6, 8)), wide[::2, ::2]):
        assert blas.as_operand(a) is not a and blas.as_operand(b) is b
        np.testing.assert_allclose(blas.gemm(a, b), np.ascontiguousarray(a) @ b, rtol=1e-5, atol=1e-5)


@needs_mkl
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_dot_matches_numpy(dt):
    x = np.random.default_rng(0).standard_normal(10007).astype(dt)
    d = blas.dot(x, x)
    assert d is not None and d.dtype == dt
    np.testing.assert_allclose(d, np.dot(x.astype(np.float64), x), rtol=1e-5 if dt == np.float32 else 1e-12)
    assert blas.dot(x[::2], x[::2]) is None and blas.dot(x, x[:-1]) is None


@needs_mkl
def test_mkl_runs_on_libgomp():
    # One OpenMP pool for the GEMMs and tensorgrad._C; backend/cpu.py relies on it to leave libgomp spinning.
    assert blas.shares_openmp() and blas.backend().startswith("mkl")


@needs_mkl
def test_linear_runs_its_three_gemms_through_mkl_and_agrees_with_torch(monkeypatch):
    torch = pytest.importorskip("torch")
    import tensorgrad as tg
    calls, sgemm = [], blas._gemm[np.dtype(np.float32)]
    monkeypatch.setitem(blas._gemm, np.dtype(np.float32), lambda *a: (calls.append(a[3:6]), sgemm(*a))[1])
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((2, 5, 7)).astype(np.float32), rng.standard_normal((4, 7)).astype(np.float32)
    tx, tw = tg.tensor(x, requires_grad=True), tg.tensor(w, requires_grad=True)
    y = tg.nn.functional.linear(tx, tw)
    (y * y).sum().backward()
    px, pw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    py = torch.nn.functional.linear(px, pw)
    (py * py).sum().backward()
    assert sorted(calls) == sorted([(10, 4, 7), (10, 7, 4), (4, 7, 10)])   # y, dx, dw as (m, n, k)
    np.testing.assert_allclose(y.detach().numpy(), py.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(tx.grad.numpy(), px.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(tw.grad.numpy(), pw.grad.numpy(), rtol=1e-5, atol=1e-5)


def _run(env_value, code):
    env = dict(os.environ, TENSORGRAD_BLAS=env_value)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


def test_env_numpy_forces_numpy_blas_and_results_agree():
    code = ("import numpy as np, tensorgrad as tg\n"
            "from tensorgrad.backend import blas\n"
            "assert blas.backend().startswith('numpy'), blas.backend()\n"
            "assert blas.gemm(np.ones((2, 2), np.float32), np.ones((2, 2), np.float32)) is None\n"
            "a = tg.tensor(np.arange(12.).reshape(3, 4), requires_grad=True)\n"
            "(a @ a.T).sum().backward()\n"
            "print(a.grad.numpy().sum())\n")
    r = _run("numpy", code)
    assert r.returncode == 0, r.stderr
    a = np.arange(12.).reshape(3, 4)
    assert float(r.stdout) == pytest.approx(float((2 * np.ones((3, 3)) @ a).sum()))


def test_env_rejects_unknown_value():
    r = _run("openblas", "import tensorgrad.backend.blas")
    assert r.returncode != 0 and "TENSORGRAD_BLAS='openblas'" in r.stderr and "auto, mkl or numpy" in r.stderr


def test_env_mkl_fails_loudly_when_missing(monkeypatch):
    monkeypatch.setenv("TENSORGRAD_BLAS", "mkl")
    monkeypatch.setattr(blas, "_candidates", lambda: iter(["/nonexistent/libmkl_rt.so.3"]))
    try:
        with pytest.raises(ImportError, match="TENSORGRAD_BLAS=mkl but MKL cannot be loaded.*nonexistent"):
            blas._load()
        assert blas.gemm(np.ones((2, 2), np.float32), np.ones((2, 2), np.float32)) is None
    finally:
        monkeypatch.undo()
        blas._load()   # back to this process's BLAS
