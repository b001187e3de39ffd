"""The fused recurrent nodes (tensorgrad/ops/rnn_cell.py) against torch written out in plain ops: one LSTM / GRU step
(lstm_cell, gru_cell) and one whole layer and direction (recurrent_layer, RecurrentLayer) -- forward, every gradient,
float64 gradcheck, second and third derivatives -- and the kernels (csrc/cpu/rnn_cell.cpp) against the reference.
Also the walk's slab path (Function.slab): a basic-index view's gradient written into its input's in place."""
import numpy as np
import pytest
import torch

import tensorgrad as tg
from tensorgrad.backend import cpu, reference
from tensorgrad.ops.rnn_cell import gru_cell, lstm_cell, recurrent_layer
from helpers import check_op, gradcheck_op, gradgradcheck_op, raises

torch.set_num_threads(1)


# ------------------------------------------------------------------------------------ torch, written out
def _t_lstm(xw, hw, c):
    i, f, g, o = (xw + hw).chunk(4, -1)
    c = f.sigmoid() * c + i.sigmoid() * g.tanh()
    return o.sigmoid() * c.tanh(), c


def _t_gru(xw, hw, h):
    H = h.shape[-1]
    r, z = (xw[:, :2 * H] + hw[:, :2 * H]).sigmoid().chunk(2, -1)
    n = (xw[:, 2 * H:] + r * hw[:, 2 * H:]).tanh()
    return n + z * (h - n)


def _t_layer(mode, xw, h0, c0, w_hh, b_hh, w_hr, reverse):
    L = xw.shape[0]
    h, c, out = h0, c0, [None] * L
    for t in (range(L - 1, -1, -1) if reverse else range(L)):
        hw = torch.nn.functional.linear(h, w_hh, b_hh)
        if mode == "LSTM":
            h, c = _t_lstm(xw[t], hw, c)
            h = h if w_hr is None else h @ w_hr.T
        elif mode == "GRU":
            h = _t_gru(xw[t], hw, h)
        else:
            h = (torch.tanh if mode == "RNN_TANH" else torch.relu)(xw[t] + hw)
        out[t] = h
    ys = torch.stack(out)
    return ys, ys[0 if reverse else L - 1], c


def _lib(x):
    return "torch" if isinstance(x, torch.Tensor) else "tg"


def cell(kind):
    def fn(xw, hw, state):
        if _lib(xw) == "torch":
            return _t_lstm(xw, hw, state) if kind == "LSTM" else _t_gru(xw, hw, state)
        return lstm_cell(xw, hw, state) if kind == "LSTM" else gru_cell(xw, hw, state)
    return fn


def layer(mode, reverse, proj=False, bias=True):
    lstm = mode == "LSTM"

    def fn(xw, h0, w_hh, *rest):
        rest = list(rest)
        c0 = rest.pop(0) if lstm else None
        b_hh = rest.pop(0) if bias else None
        w_hr = rest.pop(0) if proj else None
        if _lib(xw) == "torch":
            ys, h_n, c_n = _t_layer(mode, xw, h0, c0, w_hh, b_hh, w_hr, reverse)
        else:
            ys, h_n, c_n = recurrent_layer(mode, xw, h0, c0, w_hh, b_hh, w_hr, reverse)
        return (ys, h_n, c_n) if lstm else (ys, h_n)
    return fn


def layer_inputs(mode, L, N, H, Hout, proj, bias, scale=1.0):
    G = {"LSTM": 4, "GRU": 3}.get(mode, 1)
    specs = [(L, N, G * H), (N, Hout), (G * H, Hout)]
    if mode == "LSTM":
        specs.append((N, H))
    if bias:
        specs.append((G * H,))
    if proj:
        specs.append((Hout, H))
    return specs


MODES = ["LSTM", "GRU", "RNN_TANH", "RNN_RELU"]


# ------------------------------------------------------------------------------------------------- cells
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("N,H", [(3, 5), (1, 1), (0, 4), (4, 37)])
def test_cell_against_torch(kind, dtype, N, H):
    G = 4 if kind == "LSTM" else 3
    check_op(cell(kind), inputs=[(N, G * H), (N, G * H), (N, H)], dtype=dtype, seed=N * 7 + H)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_cell_gradcheck_and_double_backward(kind):
    G = 4 if kind == "LSTM" else 3
    gradcheck_op(cell(kind), [(2, G * 3), (2, G * 3), (2, 3)], seed=1)
    rng = np.random.default_rng(2)
    ins = [tg.tensor(rng.standard_normal(s), requires_grad=True) for s in [(2, G * 3), (2, G * 3), (2, 3)]]
    gradgradcheck_op(lambda *a: cell(kind)(*a), ins)


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_cell_gradient_of_gradient_against_torch(kind):
    """create_graph through the cell (its backward_graph, built on _SavedActivation): the gradient's gradient equals
    torch's, and a third derivative passes gradgradcheck."""
    G = 4 if kind == "LSTM" else 3

    def first_grads(xw, hw, state):
        lib = torch if _lib(xw) == "torch" else tg
        with lib.enable_grad():   # (gradcheck evaluates under no_grad)
            out = cell(kind)(xw, hw, state)
            out = out if isinstance(out, tuple) else (out,)
            loss = sum((o * o).sum() for o in out) + (out[0] * xw[:, :out[0].shape[1]]).sum()
            return lib.autograd.grad(loss, (xw, hw, state), create_graph=True)
    check_op(first_grads, inputs=[(3, G * 4), (3, G * 4), (3, 4)], seed=3)
    gradcheck_op(first_grads, [(2, G * 2), (2, G * 2), (2, 2)], seed=4)
    rng = np.random.default_rng(5)
    ins = [tg.tensor(rng.standard_normal(s), requires_grad=True) for s in [(2, G * 2), (2, G * 2), (2, 2)]]
    gradgradcheck_op(lambda *a: first_grads(*a), ins)


def test_cell_saturated_and_nonfinite():
    """Saturated gates (|a| up to 1e4) give torch's values and gradients; NaN and inf propagate as in torch."""
    rng = np.random.default_rng(6)
    xw = rng.standard_normal((4, 8)) * np.array([1e4, 30, 1e-9, 0.1, 1e4, 30, 1e-9, 0.1])
    xw[3, 0], xw[3, 3] = np.nan, np.inf
    hw, c = rng.standard_normal((4, 8)), rng.standard_normal((4, 2))
    got = [t.numpy() for t in lstm_cell(tg.tensor(xw), tg.tensor(hw), tg.tensor(c))]
    want = [t.numpy() for t in _t_lstm(torch.tensor(xw), torch.tensor(hw), torch.tensor(c))]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-300, equal_nan=True)
    check_op(cell("LSTM"), inputs=[(4, 8), (4, 8), (4, 2)], seed=7)


def test_cell_mixed_dtypes_promote_and_bad_shapes_raise():
    xw, hw, c = tg.randn(2, 8, dtype=tg.bfloat16), tg.randn(2, 8, dtype=tg.bfloat16), tg.randn(2, 2)
    h, c1 = lstm_cell(xw, hw, c)
    assert h.dtype == c1.dtype == tg.float32
    with raises(ValueError, "lstm_cell", r"\(N, 4H\)", r"\(2, 6\)"):
        lstm_cell(tg.randn(2, 6), tg.randn(2, 6), tg.randn(2, 2))
    with raises(ValueError, "gru_cell", r"\(N, 3H\)"):
        gru_cell(tg.randn(2, 6), tg.randn(2, 3), tg.randn(2, 2))
    with raises(TypeError, "gru_cell", "floating point"):
        gru_cell(tg.zeros(2, 6, dtype=tg.int64), tg.zeros(2, 6, dtype=tg.int64), tg.zeros(2, 2, dtype=tg.int64))


# --------------------------------------------------------------------------------------------- kernels
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("N,H", [(1, 1), (3, 17), (64, 40)])
def test_kernels_match_reference(dtype, N, H):
    rng = np.random.default_rng(N + H)
    tol = 3e-6 if dtype == np.float32 else 1e-13

    def close(a, b):
        scale = np.abs(b).max() + 1e-30
        np.testing.assert_allclose(a / scale, b / scale, rtol=tol * 10, atol=tol)

    xw, hw = (rng.standard_normal((N, 4 * H)) * 3).astype(dtype), rng.standard_normal((N, 4 * H)).astype(dtype)
    c, dhc = rng.standard_normal((N, H)).astype(dtype), rng.standard_normal((2, N, H)).astype(dtype)
    (hc_k, act_k), (hc_r, act_r) = cpu.lstm_cell_forward(xw, hw, c), reference.lstm_cell_forward(xw, hw, c)
    assert hc_k.dtype == act_k.dtype == dtype and hc_k.shape == (2, N, H) and act_k.shape == (N, 4 * H)
    close(hc_k, hc_r)
    close(act_k, act_r)
    for k, r in zip(cpu.lstm_cell_backward(dhc, act_r, c, hc_r[1]), reference.lstm_cell_backward(dhc, act_r, c, hc_r[1])):
        close(k, r)
    xw3, hw3, dh = xw[:, :3 * H].copy(), hw[:, :3 * H].copy(), dhc[0].copy()
    (h_k, a_k), (h_r, a_r) = cpu.gru_cell_forward(xw3, hw3, c), reference.gru_cell_forward(xw3, hw3, c)
    close(h_k, h_r)
    close(a_k, a_r)
    for k, r in zip(cpu.gru_cell_backward(dh, a_r, hw3, c), reference.gru_cell_backward(dh, a_r, hw3, c)):
        close(k, r)


def test_kernel_tanh_is_accurate_near_zero():
    """The cell's tanh keeps its relative accuracy as u -> 0 (where 1 - 2 / (e^2u + 1) would lose it all)."""
    for dtype, ulps in ((np.float32, 4), (np.float64, 8)):
        u = np.concatenate([np.linspace(-4, 4, 20001), np.logspace(-30, 0.5, 4001), -np.logspace(-30, 0.5, 4001)])
        u = u.astype(dtype)
        n = u.size
        xw = np.zeros((1, 4 * n), dtype)
        xw[0, 2 * n:3 * n] = u          # g = tanh(u); i = sigmoid(0) = 1/2
        act = cpu.lstm_cell_forward(xw, np.zeros_like(xw), np.zeros((1, n), dtype))[1]
        want = np.tanh(u.astype(np.float64))
        err = np.abs(act[0, 2 * n:3 * n] - want) / np.spacing(np.abs(want).astype(dtype)).astype(np.float64)
        assert err.max() <= ulps, (dtype, err.max())


def test_kernels_refuse_bad_arguments():
    with raises(ValueError, "lstm_cell_forward", "xw must have shape"):
        cpu._C.lstm_cell_forward(np.zeros((2, 7)), np.zeros((2, 8)), np.zeros((2, 2)))
    with raises(TypeError, "gru_cell_backward", "must have the dtype"):
        cpu._C.gru_cell_backward(np.zeros((2, 2), np.float32), np.zeros((2, 6)), np.zeros((2, 6)), np.zeros((2, 2)))
    with raises(ValueError, "C-contiguous"):
        cpu._C.gru_cell_forward(np.zeros((6, 2)).T, np.zeros((2, 6)), np.zeros((2, 2)))


# ------------------------------------------------------------------------------------------ whole layer
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_layer_against_torch(mode, reverse, dtype):
    proj = mode == "LSTM" and dtype == np.float64
    H, Hout = 5, (3 if proj else 5)
    specs = layer_inputs(mode, 6, 2, H, Hout, proj, True)
    check_op(layer(mode, reverse, proj), inputs=specs, dtype=dtype, seed=11)


@pytest.mark.parametrize("mode", MODES)
def test_layer_without_bias_one_step_and_gradcheck(mode):
    check_op(layer(mode, False, bias=False), inputs=layer_inputs(mode, 1, 3, 4, 4, False, False), seed=12)
    gradcheck_op(layer(mode, True, proj=mode == "LSTM"),
                 layer_inputs(mode, 3, 2, 3, 2 if mode == "LSTM" else 3, mode == "LSTM", True), seed=13)


@pytest.mark.parametrize("mode", MODES)
def test_layer_double_backward(mode):
    """RecurrentLayer's backward_graph (the per-step ops differentiated again): second derivatives against finite
    differences, and the gradient's gradient against torch's."""
    proj = mode == "LSTM"
    specs = layer_inputs(mode, 3, 2, 3, 2 if proj else 3, proj, True)
    rng = np.random.default_rng(14)
    ins = [tg.tensor(rng.standard_normal(s), requires_grad=True) for s in specs]
    fn = layer(mode, False, proj)
    gradgradcheck_op(lambda *a: fn(*a), ins)

    def grads(*a):
        lib = torch if _lib(a[0]) == "torch" else tg
        out = fn(*a)
        loss = sum((o * o).sum() for o in out)
        return lib.autograd.grad(loss, a, create_graph=True)
    check_op(grads, inputs=specs, seed=15)


def test_layer_inplace_change_of_saved_weight_is_caught():
    w = tg.randn(8, 2, requires_grad=True)
    ys, h, c = recurrent_layer("LSTM", tg.randn(3, 1, 8, requires_grad=True), tg.zeros(1, 2), tg.zeros(1, 2), w,
                               None, None, False)
    with tg.no_grad():
        w.mul_(2)
    with raises(RuntimeError, "RecurrentLayerBackward", "modified in place"):
        ys.sum().backward()


# -------------------------------------------------------------------------------------------- slab path
def _slices(lib, x, w):
    parts = [x[t] * w for t in range(x.shape[0])]           # int index: one view per row
    parts += [x[:, 1:3].sum() * w, x[::2, 1:][1] * 2]       # slices of slices
    return lib.stack(parts[:x.shape[0]]).sum() + parts[-2].sum() + parts[-1].sum() + (x * x).sum()


@pytest.mark.parametrize("retain", [False, True])
def test_slab_gradients_equal_torch(retain):
    rng = np.random.default_rng(16)
    a, wa = rng.standard_normal((5, 4)), rng.standard_normal(4)
    x, w = tg.tensor(a, requires_grad=True), tg.tensor(wa, requires_grad=True)
    tx, tw = torch.tensor(a, requires_grad=True), torch.tensor(wa, requires_grad=True)
    y = _slices(tg, x * 1.0, w)    # through a node (x * 1.0) and straight from the leaf below
    ty = _slices(torch, tx * 1.0, tw)
    y.backward(retain_graph=retain)
    ty.backward(retain_graph=retain)
    _slices(tg, x, w).backward()
    _slices(torch, tx, tw).backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-12)
    if retain:
        y.backward()
        ty.backward()
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)
    else:
        with raises(RuntimeError, "backward through the graph a second time"):
            y.backward()


def test_slab_with_hooks_and_shared_gradient():
    """A hook on a slice sees its gradient; a gradient another backward hands out (broadcast, read-only) is copied,
    not written into."""
    x = tg.randn(4, 3, requires_grad=True)
    seen = []
    s = x[1]
    s.register_hook(lambda g: seen.append(g.numpy().copy()))
    y = s.sum() * 3 + x.sum() + x[2:].sum()
    y.backward()
    np.testing.assert_array_equal(seen[0], np.full(3, 3.0))
    want = np.ones((4, 3))
    want[1] += 3
    want[2:] += 1
    np.testing.assert_array_equal(x.grad.numpy(), want)


# ------------------------------------------------------------------------------------------------ on CUDA
@pytest.mark.gpu
@pytest.mark.skipif(not __import__("tensorgrad.backend", fromlist=["cuda_available"]).cuda_available(),
                    reason="needs CuPy and a CUDA GPU")
@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN"])
def test_layers_on_cuda_equal_cpu(mode):
    """nn.LSTM / GRU / RNN on CUDA (RecurrentLayer and the cells through the xp reference kernels on CuPy) equal the
    CPU run: outputs, final states and every gradient."""
    tg.manual_seed(0)
    m = getattr(tg.nn, mode)(5, 6, 2, bidirectional=True)
    x = np.random.default_rng(17).standard_normal((7, 3, 5)).astype(np.float32)
    results = []
    for dev in ("cpu", "cuda"):
        mm = m.to(dev)
        mm.zero_grad()
        xx = tg.tensor(x, device=dev, requires_grad=True)
        out, h = mm(xx)
        h = h[0] if isinstance(h, tuple) else h
        (out.sum() + (h * h).sum()).backward()
        results.append([out.cpu().numpy(), h.cpu().numpy(), xx.grad.cpu().numpy()]
                       + [p.grad.cpu().numpy() for p in mm.parameters()])
    for a, b in zip(*results):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------------------- packed weights
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("transposed", [False, True])
def test_packed_weight_products_equal_gemm(dtype, transposed):
    """The "pack_b" kernel (MKL's packed GEMM on the CPU, the reference elsewhere): a @ b (+ bias) equal to gemm's."""
    from tensorgrad.backend import blas, kernels
    rng = np.random.default_rng(18)
    w = rng.standard_normal((24, 10)).astype(dtype)
    b = w.T if transposed else w.T.copy()     # a transposed view, or C order
    a, bias = rng.standard_normal((5, 10)).astype(dtype), rng.standard_normal(24).astype(dtype)
    # (sums of 10 products of size ~1: a result near 0 carries the rounding of its terms, ~1e-7 in float32, which
    # differs between MKL's kernels (packed vs plain, and by CPU: AMD's path showed it), so an absolute term too)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-14)
    for pack in (kernels.get("pack_b", "cpu"), reference.pack_b):
        f = pack(b, 5)
        np.testing.assert_allclose(f(a), a @ b, **tol)
        np.testing.assert_allclose(f(a, bias), a @ b + bias, **tol)
    if blas.pack_b(b, 5) is not None:
        with raises(ValueError, "PackedB.matmul", r"\(6, 10\)"):
            blas.pack_b(b, 5).matmul(rng.standard_normal((6, 10)).astype(dtype))
    assert blas.pack_b(b.astype(np.float16), 5) is None and blas.pack_b(np.zeros((0, 3), dtype), 5) is None
