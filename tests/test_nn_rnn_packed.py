"""torch.nn.utils.rnn (PackedSequence, pack_padded_sequence, pad_packed_sequence, pad_sequence, unpad_sequence,
pack_sequence, unpack_sequence, invert_permutation) and RNN / LSTM / GRU on PackedSequence input, against torch:
values, batch_sizes and indices, the gradient reaching the data through each helper, and, for the layers, the packed
output, h_n, c_n and the gradients of the input, h_0 / c_0 and every parameter, with random lengths (length-1 and
equal lengths among them), sorted or not, batch_first both ways, two layers, both directions, proj_size; the errors
torch raises; and the torch alias resolving torch.nn.utils.rnn."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from torch.nn.utils import rnn as TR

import tensorgrad as tg
from tensorgrad import nn
from tensorgrad.nn.utils import rnn as R
from helpers import assert_param_grads_match, copy_to_torch

torch.set_num_threads(1)
pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported")
TOL = 1e-10
I, H = 3, 4


def _pair(a, grad=True):
    return tg.tensor(a, requires_grad=grad), torch.tensor(a, requires_grad=grad)


def _close(a, b, what):
    assert tuple(a.shape) == tuple(b.shape), f"{what}: {tuple(a.shape)} vs torch {tuple(b.shape)}"
    np.testing.assert_allclose(np.asarray(a.detach()), b.detach().numpy(), rtol=TOL, atol=TOL, err_msg=what)


def _backward(pairs, rng):
    """One random cotangent per (ours, torch's) output pair, backpropagated on both sides."""
    cots = [rng.standard_normal(tuple(b.shape)) for _, b in pairs]
    sum((a * tg.tensor(c)).sum() for (a, _), c in zip(pairs, cots)).backward()
    sum((b * torch.tensor(c)).sum() for (_, b), c in zip(pairs, cots)).backward()


def _same_packed(p, tp):
    _close(p.data, tp.data, "data")
    assert p.batch_sizes.dtype == np.int64 and p.batch_sizes.device.type == "cpu"
    assert p.batch_sizes.tolist() == tp.batch_sizes.tolist()
    for name in ("sorted_indices", "unsorted_indices"):
        a, b = getattr(p, name), getattr(tp, name)
        assert (a is None) == (b is None), name
        if a is not None:
            assert a.dtype == np.int64 and a.tolist() == b.tolist(), name


LENGTHS = {"mixed": [4, 1, 6, 3, 6], "equal": [3, 3, 3], "ones": [1, 1], "single": [5], "sorted": [6, 4, 4, 2, 1]}
# enforce_sorted=True only with sorted lengths (unsorted ones are an error, tested below)
PACK_CASES = [(name, es) for name, lens in LENGTHS.items() for es in (True, False)
              if not es or lens == sorted(lens, reverse=True)]


# --------------------------------------------------------------------------------------------- the helpers
@pytest.mark.parametrize("trail", [(), (2,), (2, 3)])
@pytest.mark.parametrize("lengths,enforce_sorted", PACK_CASES)
@pytest.mark.parametrize("batch_first", [False, True])
def test_pack_then_pad(batch_first, enforce_sorted, lengths, trail):
    lens = LENGTHS[lengths]
    rng = np.random.default_rng(len(lens))
    T, B = max(lens) + 1, len(lens)  # one step more than the longest: the input's own padding is dropped
    x, tx = _pair(rng.standard_normal(((B, T) if batch_first else (T, B)) + trail))
    as_tensor = lengths == "mixed"  # lengths as a 1-D int64 CPU tensor here, a list elsewhere
    p = R.pack_padded_sequence(x, tg.tensor(lens) if as_tensor else lens, batch_first, enforce_sorted)
    tp = TR.pack_padded_sequence(tx, torch.tensor(lens) if as_tensor else lens, batch_first, enforce_sorted)
    assert type(p) is R.PackedSequence
    _same_packed(p, tp)
    pad, plen = R.pad_packed_sequence(p, batch_first=batch_first, padding_value=-2.5, total_length=T + 1)
    tpad, tplen = TR.pad_packed_sequence(tp, batch_first=batch_first, padding_value=-2.5, total_length=T + 1)
    _close(pad, tpad, "padded")
    assert plen.dtype == np.int64 and plen.tolist() == tplen.tolist() == lens
    pad2, _ = R.pad_packed_sequence(p, batch_first=not batch_first)
    tpad2, _ = TR.pad_packed_sequence(tp, batch_first=not batch_first)
    _close(pad2, tpad2, "padded, other layout, no total_length")
    _backward([(pad, tpad), (pad2, tpad2), (p.data, tp.data)], rng)
    _close(x.grad, tx.grad, "grad input")


@pytest.mark.parametrize("padding_side", ["right", "left"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_pad_sequence(batch_first, padding_side):
    rng = np.random.default_rng(1)
    shapes = [(3, 2), (5, 2), (1, 2), (0, 2), (5, 2)]
    pairs = [_pair(rng.standard_normal(s)) for s in shapes]
    out = R.pad_sequence([a for a, _ in pairs], batch_first, 7.0, padding_side)
    tout = TR.pad_sequence([b for _, b in pairs], batch_first, 7.0, padding_side)
    _close(out, tout, "padded")
    _backward([(out, tout)], rng)
    for i, (a, b) in enumerate(pairs):
        _close(a.grad, b.grad, f"grad sequence {i}")


def test_pad_sequence_dtypes_broadcast_and_tensor_input():
    # the first sequence fixes dtype and trailing shape; others are cast and broadcast into it, as torch copies
    ints = [torch.tensor([1, 2, 3]), torch.tensor([4])]
    got = R.pad_sequence([tg.tensor(t.numpy()) for t in ints], padding_value=2.7)
    want = TR.pad_sequence(ints, padding_value=2.7)
    assert got.dtype == np.int64 and got.tolist() == want.tolist()
    seqs = [np.ones((2, 3)), np.full((1, 1), 5.0)]
    got = R.pad_sequence([tg.tensor(seqs[0], dtype=tg.float32), tg.tensor(seqs[1])], batch_first=True)
    want = TR.pad_sequence([torch.tensor(seqs[0], dtype=torch.float32), torch.tensor(seqs[1])], batch_first=True)
    assert got.dtype == np.float32 and got.tolist() == want.tolist()
    x = np.arange(12.0).reshape(3, 2, 2)  # a tensor is a sequence of its rows
    assert R.pad_sequence(tg.tensor(x)).tolist() == TR.pad_sequence(torch.tensor(x)).tolist()
    empty = [np.zeros((0, 2)), np.zeros((0, 2))]
    assert tuple(R.pad_sequence([tg.tensor(e) for e in empty]).shape) == \
        tuple(TR.pad_sequence([torch.tensor(e) for e in empty]).shape) == (0, 2, 2)


@pytest.mark.parametrize("batch_first", [False, True])
def test_unpad_sequence(batch_first):
    rng = np.random.default_rng(2)
    lens = [2, 4, 1]
    x, tx = _pair(rng.standard_normal((3, 4, 2) if batch_first else (4, 3, 2)))
    outs = R.unpad_sequence(x, tg.tensor(lens), batch_first)
    touts = TR.unpad_sequence(tx * 1, torch.tensor(lens), batch_first)  # torch transposes its argument in place
    assert len(outs) == len(touts) == 3
    for i, (a, b) in enumerate(zip(outs, touts)):
        _close(a, b, f"sequence {i}")
    assert tuple(x.shape) == ((3, 4, 2) if batch_first else (4, 3, 2))  # ours leaves the argument alone
    _backward(list(zip(outs, touts)), rng)
    _close(x.grad, tx.grad, "grad padded")


@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_pack_sequence_and_unpack_sequence(enforce_sorted):
    rng = np.random.default_rng(3)
    shapes = [(5, 2), (3, 2), (3, 2), (1, 2)] if enforce_sorted else [(2, 2), (5, 2), (1, 2), (5, 2)]
    pairs = [_pair(rng.standard_normal(s)) for s in shapes]
    p = R.pack_sequence([a for a, _ in pairs], enforce_sorted)
    tp = TR.pack_sequence([b for _, b in pairs], enforce_sorted)
    _same_packed(p, tp)
    outs, touts = R.unpack_sequence(p), TR.unpack_sequence(tp)
    for i, (a, b) in enumerate(zip(outs, touts)):
        _close(a, b, f"sequence {i}")
    _backward(list(zip(outs, touts)) + [(p.data, tp.data)], rng)
    for i, (a, b) in enumerate(pairs):
        _close(a.grad, b.grad, f"grad sequence {i}")


def test_packed_sequence_object():
    p = R.pack_sequence([tg.tensor([1.0, 2.0]), tg.tensor([3.0])], enforce_sorted=False)
    tp = TR.pack_sequence([torch.tensor([1.0, 2.0]), torch.tensor([3.0])], enforce_sorted=False)
    data, batch_sizes, sorted_indices, unsorted_indices = p  # a namedtuple, as torch's
    assert p._fields == tp._fields and isinstance(p, tuple)
    assert repr(p) == repr(tp)
    assert p.to(tg.float32) is p and p.float() is p and p.cpu() is p and p.is_cuda is False and not p.is_pinned()
    d = p.double()
    assert type(d) is R.PackedSequence and d.data.dtype == np.float64 and d.batch_sizes is p.batch_sizes
    assert d.sorted_indices.tolist() == p.sorted_indices.tolist() and p.long().data.dtype == np.int64
    assert p.half().data.dtype == np.float16 and p.int().data.dtype == np.int32 and p.byte().data.dtype == np.uint8
    # torch's constructor forms: unsorted_indices inferred from sorted_indices; (data, batch_sizes) as one pair
    q = R.PackedSequence(data, batch_sizes, tg.tensor([1, 0]))
    assert q.unsorted_indices.tolist() == [1, 0]
    q = R.PackedSequence((data, batch_sizes))
    assert q.sorted_indices is None and q.unsorted_indices is None and q.data is data
    perm = [3, 0, 4, 1, 2]
    assert R.invert_permutation(tg.tensor(perm)).tolist() == TR.invert_permutation(torch.tensor(perm)).tolist()
    assert R.invert_permutation(None) is None


def _both_raise(fn):
    """fn(lib, utils) raises under torch and tensorgrad alike; returns the two exceptions."""
    errs = []
    for lib, utils in ((torch, TR), (tg, R)):
        with pytest.raises(Exception) as info:
            fn(lib, utils)
        errs.append(info.value)
    assert type(errs[1]) is type(errs[0]), f"{type(errs[1]).__name__}: {errs[1]} vs torch's {errs[0]!r}"
    return errs


@pytest.mark.parametrize("case,pattern", [
    (lambda lib, u: u.pack_padded_sequence(lib.zeros(4, 3, 2), [2, 4, 1]), "must be sorted in decreasing order"),
    (lambda lib, u: u.pack_sequence([lib.zeros(1), lib.zeros(3)]), "must be sorted in decreasing order"),
    (lambda lib, u: u.pack_padded_sequence(lib.zeros(4, 3, 2), [4, 2, 0]), "has to be greater than 0"),
    (lambda lib, u: u.pack_padded_sequence(lib.zeros(4, 3, 2), [0, 4, 2], enforce_sorted=False),
     "has to be greater than 0"),
    (lambda lib, u: u.pack_padded_sequence(lib.zeros(4, 3, 2), [4, 2]), "equal to batch_size"),
    (lambda lib, u: u.pack_padded_sequence(lib.zeros(4, 3, 2), lib.tensor([[4, 2, 1]])), "1D CPU int64 tensor"),
    (lambda lib, u: u.pack_padded_sequence(lib.zeros(4, 0, 2), []), "Cannot pack empty tensors"),
    (lambda lib, u: u.pack_padded_sequence(lib.zeros(4), [4]), "at least 2 dims"),
    (lambda lib, u: u.pad_packed_sequence(u.pack_padded_sequence(lib.zeros(4, 3), [4, 2, 1]), total_length=3),
     "total_length=3 and max sequence length being 4"),
    (lambda lib, u: u.pad_sequence([]), "empty list of sequences"),
    (lambda lib, u: u.pad_sequence(5), "Expected iterable"),
    (lambda lib, u: u.pad_sequence([lib.zeros(2)], padding_side="middle"), "one of left or right"),
    (lambda lib, u: u.pad_sequence([lib.zeros(2, 3), lib.zeros(1, 4)]), "trailing shape"),
])
def test_helper_errors(case, pattern):
    _, ours = _both_raise(case)
    assert pattern in str(ours), str(ours)


def test_lengths_longer_than_input_raise():
    # torch does not check this: it returns a PackedSequence whose batch_sizes count more rows than its data holds
    tp = TR.pack_padded_sequence(torch.zeros(4, 3, 2), [5, 2, 1])
    assert int(tp.batch_sizes.sum()) != tp.data.shape[0]
    for x, bf in ((tg.zeros(4, 3, 2), False), (tg.zeros(3, 4, 2), True)):
        with pytest.raises(RuntimeError, match="pack_padded_sequence: a sequence of length 5 does not fit the "
                                               "input's 4 steps"):
            R.pack_padded_sequence(x, [5, 2, 1], batch_first=bf)


def test_unsorted_with_fewer_lengths_packs_the_first_sequences_as_torch():
    x = np.arange(24.0).reshape(4, 3, 2)
    p = R.pack_padded_sequence(tg.tensor(x), [2, 4], enforce_sorted=False)
    tp = TR.pack_padded_sequence(torch.tensor(x), [2, 4], enforce_sorted=False)
    _same_packed(p, tp)


# ------------------------------------------------------------------------------------- RNN / LSTM / GRU
# (kind, num_layers, bidirectional, proj_size); proj_size is LSTM's only
KINDS = ("LSTM", "GRU", "RNN_tanh", "RNN_relu")
CONFIGS = [(k, 1, False, 0) for k in KINDS] + [(k, 2, True, 0) for k in KINDS] + \
          [("LSTM", 2, False, 2), ("LSTM", 1, True, 2)]


def _make(kind, layers, bidir, proj, lib_nn, batch_first=False, dropout=0.0):
    kw = dict(num_layers=layers, bidirectional=bidir, batch_first=batch_first, dropout=dropout)
    if kind == "LSTM":
        return lib_nn.LSTM(I, H, proj_size=proj, **kw)
    if kind == "GRU":
        return lib_nn.GRU(I, H, **kw)
    return lib_nn.RNN(I, H, nonlinearity=kind[4:], **kw)


def _run_packed(kind, layers, bidir, proj, lens, enforce_sorted, batch_first, with_h0, seed):
    rng = np.random.default_rng(seed)
    m = _make(kind, layers, bidir, proj, nn, batch_first).double()
    tm = _make(kind, layers, bidir, proj, torch.nn, batch_first).double()
    copy_to_torch(m, tm)
    T, B = max(lens), len(lens)
    x, tx = _pair(rng.standard_normal((B, T, I) if batch_first else (T, B, I)))
    rows = layers * (2 if bidir else 1)
    states = []
    if with_h0:
        states.append(_pair(rng.standard_normal((rows, B, proj or H))))
        if kind == "LSTM":
            states.append(_pair(rng.standard_normal((rows, B, H))))
    hx = None if not with_h0 else (states[0][0], states[1][0]) if kind == "LSTM" else states[0][0]
    thx = None if not with_h0 else (states[0][1], states[1][1]) if kind == "LSTM" else states[0][1]
    out, hn = m(R.pack_padded_sequence(x, lens, batch_first, enforce_sorted), hx)
    tout, thn = tm(TR.pack_padded_sequence(tx, lens, batch_first, enforce_sorted), thx)
    assert type(out) is R.PackedSequence
    _same_packed(out, tout)
    hn, thn = (hn, thn) if kind == "LSTM" else ((hn,), (thn,))
    for i, (a, b) in enumerate(zip(hn, thn)):
        _close(a, b, "h_n" if i == 0 else "c_n")
    pad, _ = R.pad_packed_sequence(out, batch_first, total_length=T + 1)
    tpad, _ = TR.pad_packed_sequence(tout, batch_first, total_length=T + 1)
    _close(pad, tpad, "padded output")
    _backward([(pad, tpad), (out.data, tout.data)] + list(zip(hn, thn)), rng)
    _close(x.grad, tx.grad, "grad input")
    for i, (a, b) in enumerate(states):
        _close(a.grad, b.grad, "grad h_0" if i == 0 else "grad c_0")
    assert_param_grads_match(m, tm, TOL, TOL)


@pytest.mark.parametrize("with_h0", [False, True])
@pytest.mark.parametrize("enforce_sorted,batch_first", [(True, False), (False, True), (False, False)])
@pytest.mark.parametrize("kind,layers,bidir,proj", CONFIGS)
def test_rnn_on_packed_input(kind, layers, bidir, proj, enforce_sorted, batch_first, with_h0):
    lens = [5, 4, 4, 2, 1] if enforce_sorted else [3, 5, 1, 5, 2]
    _run_packed(kind, layers, bidir, proj, lens, enforce_sorted, batch_first, with_h0, seed=layers + 2 * bidir)


@pytest.mark.parametrize("lens", [[3, 3, 3], [1], [1, 1, 1], [6, 1], [1, 6, 2, 6]])
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_rnn_on_packed_input_edge_lengths(kind, lens):
    """Equal lengths (nothing ends early), one step only, and 6 steps (blocked per-step slicing in the loop)."""
    _run_packed(kind, 2, True, 0, lens, False, False, True, seed=7)


def test_packed_matches_each_sequence_run_alone():
    """h_n of a packed batch is each sequence's own final state: the same as running it by itself."""
    m = nn.GRU(I, H, 1, bidirectional=True).double()
    rng = np.random.default_rng(4)
    seqs = [tg.tensor(rng.standard_normal((n, I))) for n in (2, 5, 1)]
    out, h_n = m(R.pack_sequence(seqs, enforce_sorted=False))
    padded, _ = R.pad_packed_sequence(out, batch_first=True)
    for b, s in enumerate(seqs):
        o, h = m(s)
        np.testing.assert_allclose(h.detach().numpy(), h_n[:, b].detach().numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(o.detach().numpy(), padded[b, :s.shape[0]].detach().numpy(), rtol=1e-12,
                                   atol=1e-12)


def test_packed_float32_and_dropout_between_layers():
    m = nn.LSTM(I, H, 3, dropout=0.5)
    x = tg.tensor(np.random.default_rng(5).standard_normal((4, 3, I)).astype(np.float32))
    p = R.pack_padded_sequence(x, [4, 2, 1])
    tg.manual_seed(0)
    a, (h_a, _) = m(p)
    tg.manual_seed(1)
    b, _ = m(p)
    assert a.data.dtype == np.float32 and h_a.dtype == np.float32 and tuple(h_a.shape) == (3, 3, H)
    assert not np.allclose(a.data.detach().numpy(), b.data.detach().numpy())  # another mask between layers
    m.eval()
    np.testing.assert_array_equal(m(p)[0].data.detach().numpy(), m(p)[0].data.detach().numpy())


def test_rnn_packed_errors():
    p = R.pack_padded_sequence(tg.zeros(4, 3, I, dtype=tg.float64), [4, 2, 1])
    with pytest.raises(RuntimeError, match=r"GRU: expected hx of shape \(1, 3, 4\), got \(1, 2, 4\)"):
        nn.GRU(I, H).double()(p, tg.zeros(1, 2, H, dtype=tg.float64))
    with pytest.raises(RuntimeError, match="LSTM: for a PackedSequence of 3 sequences, h_0 should be 3-D"):
        nn.LSTM(I, H).double()(p, (tg.zeros(3, H, dtype=tg.float64), tg.zeros(3, H, dtype=tg.float64)))
    with pytest.raises(RuntimeError, match="RNN: input.size\\(-1\\) must be equal to input_size"):
        nn.RNN(I + 1, H).double()(p)
    with pytest.raises(ValueError, match="GRU: input dtype float64 .* does not match weight dtype float32"):
        nn.GRU(I, H)(p)
    _both_raise(lambda lib, u: lib.nn.GRU(I, H).double()(
        u.PackedSequence(lib.zeros(7, 1, I, dtype=lib.float64), lib.tensor([3, 2, 1, 1]))))
    _both_raise(lambda lib, u: lib.nn.RNN(I, H).double()(
        u.pack_padded_sequence(lib.zeros(4, 3, I, dtype=lib.float64), [4, 2, 1]), lib.zeros(1, 2, H).double()))


# ------------------------------------------------------------------------------------------- torch alias
def test_torch_alias_runs_a_packed_lstm_program_as_torch(tmp_path):
    """`import torch.nn.utils.rnn`, `from torch.nn.utils.rnn import ...` and attribute access resolve to
    tensorgrad.nn.utils.rnn; a pack -> LSTM -> pad -> Linear -> backward program prints torch's losses."""
    prog = tmp_path / "prog.py"
    prog.write_text(textwrap.dedent("""
        import numpy as np
        import torch
        import torch.nn.utils.rnn
        from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence, PackedSequence
        rng = np.random.default_rng(0)
        lstm, head = torch.nn.LSTM(3, 4, 2, batch_first=True, bidirectional=True).double(), torch.nn.Linear(8, 1)
        head = head.double()
        with torch.no_grad():
            for p in list(lstm.parameters()) + list(head.parameters()):
                p.copy_(torch.tensor(rng.uniform(-0.5, 0.5, tuple(p.shape))))
        lengths = torch.tensor([2, 5, 1, 5])
        x = torch.nn.utils.rnn.pad_sequence([torch.tensor(rng.standard_normal((int(n), 3))) for n in lengths],
                                            batch_first=True)
        opt = torch.optim.SGD(list(lstm.parameters()) + list(head.parameters()), lr=0.5)
        for step in range(2):
            opt.zero_grad()
            out, (h, c) = lstm(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
            y, n = pad_packed_sequence(out, batch_first=True)
            loss = head(y).pow(2).mean() + h.sum() * 0.1
            loss.backward()
            opt.step()
            print(isinstance(out, PackedSequence), n.tolist(), f"{loss.item():.12f}")
        print(type(torch.nn.utils.rnn).__name__, torch.nn.utils.rnn.__name__)
    """))
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=repo + os.pathsep + os.environ.get("PYTHONPATH", ""))
    run = lambda *args: subprocess.run([sys.executable, *args], capture_output=True, text=True,  # noqa: E731
                                       cwd=str(tmp_path), env=env, timeout=300)
    real, alias = run(str(prog)), run("-m", "tensorgrad.compat", str(prog))
    assert real.returncode == 0, real.stderr
    assert alias.returncode == 0, alias.stderr
    real_lines, alias_lines = real.stdout.splitlines(), alias.stdout.splitlines()
    assert alias_lines[:-1] == real_lines[:-1]
    assert real_lines[-1] == "module torch.nn.utils.rnn" and alias_lines[-1] == "_Alias torch.nn.utils.rnn"
