"""nn.RNN, nn.LSTM, nn.GRU and nn.RNNCell / LSTMCell / GRUCell vs torch.nn with the same weights: output, h_n, c_n
and the gradients of the input, h_0 / c_0 and every parameter (a random cotangent on every output), in float64 and
float32, one and two layers, both directions, batch_first both ways, unbatched, with and without h_0, bias=False,
LSTM proj_size; state_dict keys / order / shapes, initialisation, inter-layer dropout, and bad arguments."""
import itertools
import re

import numpy as np
import pytest
import torch

import tensorgrad as tg
from tensorgrad import nn
from helpers import assert_param_grads_match, copy_to_torch

torch.set_num_threads(1)
# torch notes that its oneDNN path lacks LSTM projections (it falls back to its reference implementation)
pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported")
TDT = {np.float64: torch.float64, np.float32: torch.float32}
TOL = {np.float64: 1e-10, np.float32: 2e-5}
FLOATS = [np.float64, np.float32]


def _flat(out):
    """(output, h_n) or (output, (h_n, c_n)) or a cell's h / (h, c) as a flat tuple."""
    if not isinstance(out, tuple):
        return (out,)
    return tuple(itertools.chain.from_iterable(_flat(o) if isinstance(o, tuple) else (o,) for o in out))


def check(make, call, args, dtype=np.float64, seed=0):
    """make(lib_nn) builds the module; call(module, *tensors) runs it. Compares every output, then the gradients of
    every input and parameter for one random cotangent per output, after copying our weights into torch's."""
    rng = np.random.default_rng(seed)
    tol = TOL[dtype]
    m, tm = make(nn), make(torch.nn)
    m.to(dtype)
    tm.to(TDT[dtype])
    copy_to_torch(m, tm)
    ins = [None if a is None else tg.tensor(np.asarray(a).astype(dtype), requires_grad=True) for a in args]
    tins = [None if a is None else torch.tensor(np.asarray(a).astype(dtype), requires_grad=True) for a in args]
    out, tout = _flat(call(m, *ins)), _flat(call(tm, *tins))
    assert len(out) == len(tout)
    cots = []
    for i, (a, b) in enumerate(zip(out, tout)):
        assert a.dtype == np.dtype(dtype), f"output {i} dtype {a.dtype}"
        assert tuple(a.shape) == tuple(b.shape), f"output {i}: {tuple(a.shape)} vs torch {tuple(b.shape)}"
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=tol, atol=tol, err_msg=f"output {i}")
        cots.append(rng.standard_normal(tuple(b.shape)).astype(dtype))
    sum((a * tg.tensor(c)).sum() for a, c in zip(out, cots)).backward()
    sum((b * torch.tensor(c)).sum() for b, c in zip(tout, cots)).backward()
    for i, (a, b) in enumerate(zip(ins, tins)):
        if a is not None:
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=tol, atol=tol, err_msg=f"grad input {i}")
    assert_param_grads_match(m, tm, tol, tol)
    return m, tm


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


I, H, L, N = 3, 4, 5, 2


def _x(batched, batch_first, seed=0):
    if not batched:
        return rand(L, I, seed=seed)
    return rand(N, L, I, seed=seed) if batch_first else rand(L, N, I, seed=seed)


def _h(layers, bidir, batched, size=H, seed=1):
    rows = layers * (2 if bidir else 1)
    return rand(rows, N, size, seed=seed) if batched else rand(rows, size, seed=seed)


# ------------------------------------------------------------------------------------------- RNN / GRU / LSTM
LAYERS = [(1, False), (2, False), (1, True), (2, True)]  # (num_layers, bidirectional)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("layers,bidir", LAYERS)
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("with_h0", [False, True])
@pytest.mark.parametrize("kind", ["RNN_tanh", "RNN_relu", "GRU"])
def test_rnn_gru(kind, with_h0, batch_first, layers, bidir, dtype):
    def make(lib):
        if kind == "GRU":
            return lib.GRU(I, H, layers, batch_first=batch_first, bidirectional=bidir)
        return lib.RNN(I, H, layers, nonlinearity=kind[4:], batch_first=batch_first, bidirectional=bidir)
    args = [_x(True, batch_first), _h(layers, bidir, True) if with_h0 else None]
    check(make, lambda m, x, h: m(x, h), args, dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("layers,bidir", LAYERS)
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("with_h0", [False, True])
def test_lstm(with_h0, batch_first, layers, bidir, dtype):
    make = lambda lib: lib.LSTM(I, H, layers, batch_first=batch_first, bidirectional=bidir)  # noqa: E731
    if with_h0:
        args = [_x(True, batch_first), _h(layers, bidir, True), _h(layers, bidir, True, seed=2)]
        check(make, lambda m, x, h, c: m(x, (h, c)), args, dtype)
    else:
        check(make, lambda m, x: m(x), [_x(True, batch_first)], dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("layers,bidir", LAYERS)
@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
def test_unbatched_and_no_bias(kind, layers, bidir, dtype):
    make = lambda lib: getattr(lib, kind)(I, H, layers, bias=False, bidirectional=bidir)  # noqa: E731
    check(make, lambda m, x: m(x), [_x(False, False)], dtype)
    if kind == "LSTM":
        args = [_x(False, False), _h(layers, bidir, False), _h(layers, bidir, False, seed=2)]
        check(make, lambda m, x, h, c: m(x, (h, c)), args, dtype)
    else:
        check(make, lambda m, x, h: m(x, h), [_x(False, False), _h(layers, bidir, False)], dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("layers,bidir", LAYERS)
@pytest.mark.parametrize("batched", [True, False])
def test_lstm_proj_size(batched, layers, bidir, dtype):
    P = 2
    make = lambda lib: lib.LSTM(I, H, layers, bidirectional=bidir, proj_size=P)  # noqa: E731
    args = [_x(batched, False), _h(layers, bidir, batched, size=P), _h(layers, bidir, batched, seed=2)]
    m, _ = check(make, lambda m, x, h, c: m(x, (h, c)), args, dtype)
    assert tuple(m.weight_hr_l0.shape) == (P, H) and tuple(m.weight_hh_l0.shape) == (4 * H, P)


@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
def test_long_sequence(kind):
    """17 steps: the per-step slices are taken in blocks (uneven last block), as for any long sequence."""
    make = lambda lib: getattr(lib, kind)(I, H, 2, bidirectional=True, batch_first=True)  # noqa: E731
    check(make, lambda m, x: m(x), [rand(N, 17, I)], np.float64)


def test_state_dict_loads_from_torch_and_names():
    torch.manual_seed(0)
    t = torch.nn.LSTM(I, H, 2, bidirectional=True).double()
    m = nn.LSTM(I, H, 2, bidirectional=True).double()
    assert list(m.state_dict()) == list(t.state_dict())
    m.load_state_dict({k: tg.tensor(v.numpy()) for k, v in t.state_dict().items()})
    x = rand(L, N, I)
    out, (h, c) = m(tg.tensor(x))
    tout, (th, tc) = t(torch.tensor(x))
    for a, b in ((out, tout), (h, th), (c, tc)):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-12, atol=1e-12)
    assert [[tuple(w.shape) for w in ws] for ws in m.all_weights] == \
        [[tuple(w.shape) for w in ws] for ws in t.all_weights]
    assert m._flat_weights_names == t._flat_weights_names
    m.flatten_parameters()


@pytest.mark.parametrize("make", [lambda lib: lib.LSTM(I, H, 2, bidirectional=True, proj_size=2),
                                  lambda lib: lib.RNN(I, H, 2, nonlinearity="relu", batch_first=True, dropout=0.1),
                                  lambda lib: lib.GRU(I, H, bias=False), lambda lib: lib.LSTMCell(I, H),
                                  lambda lib: lib.RNNCell(I, H, bias=False, nonlinearity="relu"),
                                  lambda lib: lib.GRUCell(I, H)])
def test_repr_and_init(make):
    m, t = make(nn), make(torch.nn)
    assert repr(m) == repr(t)
    bound = 1 / np.sqrt(H)
    for (k, p), (tk, tp) in zip(m.named_parameters(), t.named_parameters()):
        assert k == tk and tuple(p.shape) == tuple(tp.shape) and p.dtype == np.float32
        a = p.detach().numpy()
        assert np.all(np.abs(a) <= bound) and a.std() > 0.2 * bound, k


def test_default_dtype_float32_forward():
    m = nn.GRU(I, H, 2)
    out, h = m(tg.tensor(rand(L, N, I).astype(np.float32)))
    assert out.dtype == np.float32 and h.dtype == np.float32


def test_dropout_between_layers():
    m = nn.LSTM(I, H, 3, dropout=0.5)
    x = tg.tensor(rand(L, N, I).astype(np.float32))
    tg.manual_seed(0)
    a = m(x)[0].detach().numpy()
    tg.manual_seed(1)
    b = m(x)[0].detach().numpy()
    assert not np.allclose(a, b)  # a different mask between layers
    m.eval()
    np.testing.assert_array_equal(m(x)[0].detach().numpy(), m(x)[0].detach().numpy())
    # dropout=1 in training zeroes every layer input after the first: the last layer sees only zeros
    m1 = nn.RNN(I, H, 2, dropout=1.0)
    m0 = nn.RNN(I, H, 2)
    m0.load_state_dict(m1.state_dict())
    with tg.no_grad():
        z = m1(x)[0].detach().numpy()
        m0.weight_ih_l1.fill_(0.0)
        np.testing.assert_allclose(z, m0(x)[0].detach().numpy(), rtol=1e-6, atol=1e-6)
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        nn.GRU(I, H, dropout=0.2)


def test_input_projection_is_one_matmul_per_layer_and_direction():
    from tensorgrad.ops import matmul as MM
    calls = []
    orig = MM.Linear.apply

    def spy(*a, **k):
        calls.append(tuple(a[0].shape))
        return orig(*a, **k)
    MM.Linear.apply = spy
    from tensorgrad.autograd import function as FN
    layers = []
    hook = lambda ctx, args, out, recorded: layers.append(type(ctx).__name__)  # noqa: E731
    FN._forward_hooks.append(hook)
    try:
        nn.LSTM(I, H, 2, bidirectional=True)(tg.randn(L, N, I, requires_grad=True))
        with tg.autocast("cpu", dtype=tg.bfloat16):  # under autocast the steps run as ops, one GEMM each
            nn.GRU(I, H)(tg.randn(L, N, I))
    finally:
        MM.Linear.apply = orig
        FN._forward_hooks.remove(hook)
    big = [s for s in calls if len(s) == 3]
    assert big == [(L, N, I), (L, N, I), (L, N, 2 * H), (L, N, 2 * H), (L, N, I)]
    # the hidden projections run inside one RecurrentLayer node per layer and direction (and per step under autocast)
    assert layers.count("RecurrentLayer") == 2 * 2
    assert len(calls) - len(big) == L


# --------------------------------------------------------------------------------------------------- cells
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("with_h0", [False, True])
@pytest.mark.parametrize("kind", ["RNNCell_tanh", "RNNCell_relu", "GRUCell", "LSTMCell"])
def test_cells(kind, with_h0, batched, bias, dtype):
    x = rand(N, I) if batched else rand(I)
    h = (rand(N, H, seed=1) if batched else rand(H, seed=1)) if with_h0 else None
    c = (rand(N, H, seed=2) if batched else rand(H, seed=2)) if with_h0 else None
    if kind.startswith("RNNCell"):
        make = lambda lib: lib.RNNCell(I, H, bias=bias, nonlinearity=kind[8:])  # noqa: E731
    else:
        make = lambda lib: getattr(lib, kind)(I, H, bias=bias)  # noqa: E731
    if kind == "LSTMCell":
        if with_h0:
            check(make, lambda m, x, h, c: m(x, (h, c)), [x, h, c], dtype)
        else:
            check(make, lambda m, x: m(x), [x], dtype)
    else:
        check(make, lambda m, x, h: m(x, h), [x, h], dtype)


def test_cells_unrolled_match_layer():
    """An LSTMCell stepped by hand computes the same as a one-layer LSTM with its weights."""
    layer, cell = nn.LSTM(I, H).double(), nn.LSTMCell(I, H).double()
    cell.load_state_dict({k[:-3]: v for k, v in layer.state_dict().items()})
    x = tg.tensor(rand(L, N, I))
    out, (h_n, c_n) = layer(x)
    h = c = tg.zeros(N, H, dtype=tg.float64)
    for t in range(L):
        h, c = cell(x[t], (h, c))
        np.testing.assert_allclose(h.detach().numpy(), out[t].detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(c.detach().numpy(), c_n[0].detach().numpy(), rtol=1e-12, atol=1e-12)


# -------------------------------------------------------------------------------------------------- errors
def _raises(exc, pattern, fn):
    with pytest.raises(exc, match=pattern):
        fn()


def test_constructor_errors():
    _raises(ValueError, "LSTM: dropout should be a number in range", lambda: nn.LSTM(I, H, 2, dropout=2))
    _raises(ValueError, "only supported for LSTM", lambda: nn.RNNBase("GRU", I, H, proj_size=2))
    _raises(ValueError, "proj_size has to be smaller than hidden_size", lambda: nn.LSTM(I, H, proj_size=H))
    _raises(ValueError, "proj_size should be a positive integer", lambda: nn.LSTM(I, H, proj_size=-1))
    _raises(ValueError, "RNN: unknown nonlinearity 'gelu'", lambda: nn.RNN(I, H, nonlinearity="gelu"))
    _raises(ValueError, "RNNCell: unknown nonlinearity 'gelu'", lambda: nn.RNNCell(I, H, nonlinearity="gelu"))
    _raises(ValueError, "GRU: hidden_size must be greater than zero", lambda: nn.GRU(I, 0))
    _raises(ValueError, "LSTM: num_layers must be greater than zero", lambda: nn.LSTM(I, H, 0))
    _raises(TypeError, "RNN: hidden_size should be of type int", lambda: nn.RNN(I, 4.0))
    with pytest.raises(TypeError):
        nn.GRU(I, H, proj_size=2)  # as torch: GRU takes no proj_size


def test_forward_errors():
    lstm, gru = nn.LSTM(I, H, 2), nn.GRU(I, H)
    x = tg.randn(L, N, I)
    _raises(RuntimeError, re.escape("LSTM: input.size(-1) must be equal to input_size. Expected 3, got 4 "
                                    "(input shape (5, 2, 4))"), lambda: lstm(tg.randn(L, N, 4)))
    _raises(ValueError, re.escape("LSTM: Expected input to be 2D or 3D, got 4D input of shape (5, 2, 3, 1)"),
            lambda: lstm(tg.randn(L, N, I, 1)))
    _raises(RuntimeError, re.escape("LSTM: expected c_0 of shape (2, 2, 4), got (2, 3, 4)"),
            lambda: lstm(x, (tg.randn(2, N, H), tg.randn(2, 3, H))))
    _raises(RuntimeError, re.escape("LSTM: expected h_0 of shape (2, 2, 4), got (1, 2, 4)"),
            lambda: lstm(x, (tg.randn(1, N, H), tg.randn(2, N, H))))
    _raises(RuntimeError, "LSTM: for unbatched 2-D input of shape \\(5, 3\\), h_0 should be 2-D",
            lambda: lstm(tg.randn(L, I), (tg.randn(2, N, H), tg.randn(2, N, H))))
    _raises(TypeError, "LSTM: hx must be a tuple", lambda: lstm(x, tg.randn(2, N, H)))
    _raises(RuntimeError, re.escape("GRU: expected hx of shape (1, 2, 4), got (1, 2, 5)"),
            lambda: gru(x, tg.randn(1, N, 5)))
    _raises(TypeError, "GRU: hx must be a Tensor", lambda: gru(x, (tg.randn(1, N, H),)))
    _raises(ValueError, "GRU: input dtype float64 .* does not match weight dtype float32",
            lambda: gru(x.double()))
    _raises(ValueError, "GRU: hx dtype float64 does not match input dtype float32",
            lambda: gru(x, tg.randn(1, N, H).double()))
    _raises(RuntimeError, "GRU: expected sequence length to be larger than 0",
            lambda: gru(tg.randn(0, N, I)))
    _raises(TypeError, "GRU: input must be a Tensor", lambda: gru(np.zeros((L, N, I))))


def test_cell_errors():
    cell = nn.LSTMCell(I, H)
    _raises(RuntimeError, re.escape("LSTMCell: input has inconsistent input_size: got 5 expected 3"),
            lambda: cell(tg.randn(N, 5)))
    _raises(ValueError, re.escape("LSTMCell: Expected input to be 1D or 2D, got 3D input of shape (2, 2, 3)"),
            lambda: cell(tg.randn(N, N, I)))
    _raises(RuntimeError, re.escape("LSTMCell: expected h_0 of shape (2, 4), got (3, 4)"),
            lambda: cell(tg.randn(N, I), (tg.randn(3, H), tg.randn(3, H))))
    _raises(RuntimeError, re.escape("GRUCell: expected hx of shape (4,), got (2, 4)"),
            lambda: nn.GRUCell(I, H)(tg.randn(I), tg.randn(N, H)))
