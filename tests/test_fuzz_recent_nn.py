"""Differential fuzzing against PyTorch for the nn pieces and tensor kinds the last two rounds added: recurrent cells,
PackedSequence helpers through the recurrent layers, CTC loss, AdaptiveLogSoftmaxWithLoss, 3-D layers, lazy modules,
sparse COO tensors and memory formats. Same harness as test_fuzz_torch (outcome kind, shapes, dtypes, values, every
floating input's gradient for a random cotangent, parameter gradients returned as outputs);
``run_case(name, arrays, kw)`` here reproduces a failure."""
import pytest
import torch
from hypothesis import strategies as st

import tensorgrad as tg
import test_fuzz_torch as _fuzz
from test_fuzz_new_ops import _det_weights
from test_fuzz_recent import DEEP, EXAMPLES, arr, check_against_torch, deep, lay, _LAYOUT
from test_fuzz_torch import F32, F64, Op

OPS = []


def op(name, gen, call, **kw):
    OPS.append(Op(name, gen, call, **kw))


def _with_param_grads(m, mod, outs, create_graph=True):
    """outs plus the gradient of a fixed function of them toward every parameter (itself compared, and
    differentiated again with create_graph)."""
    params = [p for p in mod.parameters() if p.requires_grad]
    loss = sum(((o * o).sum() for o in outs if o.is_floating_point()), 0.0)
    grads = m.autograd.grad(loss, params, allow_unused=True, create_graph=create_graph) if params else []
    return list(outs) + [g for g in grads if g is not None]


# ------------------------------------------------------------------------------------------------ recurrent cells
@st.composite
def cell_case(draw):
    dt = draw(st.sampled_from([F32, F64]))
    kind = draw(st.sampled_from(["LSTMCell", "GRUCell", "RNNCell", "RNNCell-relu"]))
    n, i, h = draw(st.integers(0, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    batched = draw(st.booleans())
    x = draw(arr(dt, (n, i) if batched else (i,), special=False, lo=-2, hi=2))
    hs = (n, h) if batched else (h,)
    states = [draw(arr(dt, hs, special=False, lo=-1, hi=1)) for _ in range(2)]
    return [x] + states, {"layout": draw(_LAYOUT), "kind": kind, "H": h, "given": draw(st.booleans()),
                          "bias": draw(st.booleans())}


def cell_call(m, x, h0, c0, layout, kind, H, given, bias):
    if kind == "RNNCell-relu":
        mod = m.nn.RNNCell(x.shape[-1], H, bias=bias, nonlinearity="relu")
    else:
        mod = getattr(m.nn, kind)(x.shape[-1], H, bias=bias)
    mod = _det_weights(m, mod.to(x.dtype))
    x = lay(m, x, layout)
    state = None if not given else ((h0, c0) if kind == "LSTMCell" else h0)
    out = mod(x, state)
    return _with_param_grads(m, mod, list(out) if isinstance(out, tuple) else [out])


op("nn.RNN-cells", cell_case(), cell_call, tol="loose")


# ------------------------------------------------------------------------------------------- packed sequences
@st.composite
def packed_case(draw):
    dt = draw(st.sampled_from([F32, F64]))
    n, t, i = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 3))
    lengths = draw(st.lists(st.integers(0, t), min_size=n, max_size=n))
    sort = draw(st.booleans())
    if sort:
        lengths = sorted(lengths, reverse=True)
    x = draw(arr(dt, (t, n, i), special=False, lo=-2, hi=2))
    return [x], {"lengths": lengths, "enforce": draw(st.booleans()), "bf": draw(st.booleans()),
                 "mode": draw(st.sampled_from(["LSTM", "GRU", "RNN"])), "bidir": draw(st.booleans()),
                 "total": draw(st.sampled_from([None, t, t + 1, 0])), "pad": draw(st.sampled_from([0.0, -1.5]))}


def packed_call(m, x, lengths, enforce, bf, mode, bidir, total, pad):
    U = m.nn.utils.rnn
    x_in = x.transpose(0, 1) if bf else x
    packed = U.pack_padded_sequence(x_in, m.tensor(lengths), batch_first=bf, enforce_sorted=enforce)
    mod = _det_weights(m, getattr(m.nn, mode)(x.shape[-1], 2, batch_first=bf, bidirectional=bidir).to(x.dtype))
    out, h = mod(packed)
    padded, lens = U.pad_packed_sequence(out, batch_first=bf, padding_value=pad, total_length=total)
    hs = list(h) if isinstance(h, tuple) else [h]
    return [padded, lens, packed.data, packed.batch_sizes] + hs


op("nn.utils.rnn-packed", packed_case(), packed_call, tol="loose")


@st.composite
def seqs_case(draw):
    dt = draw(st.sampled_from([F32, F64]))
    k = draw(st.integers(1, 4))
    tail = tuple(draw(st.lists(st.integers(0, 2), max_size=2)))
    # (1-D sequences at least 1 long: cat skips a (0,) tensor, so padding only empty ones loses requires_grad)
    return [draw(arr(dt, (draw(st.integers(0 if tail else 1, 3)),) + tail, special=False)) for _ in range(k)], {
        "bf": draw(st.booleans()), "side": draw(st.sampled_from(["right", "left"])),
        "pad": draw(st.sampled_from([0.0, 7.0]))}


op("nn.utils.rnn-pad_sequence", seqs_case(), lambda m, *xs, bf, side, pad: m.nn.utils.rnn.pad_sequence(
    list(xs), batch_first=bf, padding_value=pad, padding_side=side))
op("nn.utils.rnn-pack_sequence", seqs_case(), lambda m, *xs, bf, side, pad: (lambda p: [
    p.data, p.batch_sizes] + list(m.nn.utils.rnn.unpack_sequence(p)))(m.nn.utils.rnn.pack_sequence(
        list(xs), enforce_sorted=False)))


# ----------------------------------------------------------------------------------------------------- CTC loss
@st.composite
def ctc_case(draw):
    dt = draw(st.sampled_from([F32, F64]))
    t, n, c = draw(st.integers(1, 6)), draw(st.integers(1, 3)), draw(st.integers(2, 4))
    s = draw(st.integers(0, 4))
    x = draw(arr(dt, (t, n, c), special=False, lo=-3, hi=3))
    blank = draw(st.integers(0, c - 1))
    labels = [v for v in range(c) if v != blank]
    targets = draw(st.lists(st.sampled_from(labels), min_size=n * s, max_size=n * s))
    in_len = draw(st.lists(st.integers(0, t), min_size=n, max_size=n))
    tg_len = draw(st.lists(st.integers(0, s), min_size=n, max_size=n))
    return [x], {"targets": targets, "S": s, "in_len": in_len, "tg_len": tg_len, "blank": blank,
                 "red": draw(st.sampled_from(["mean", "sum", "none"])), "zi": draw(st.booleans()),
                 "flat": draw(st.booleans())}


def ctc_call(m, x, targets, S, in_len, tg_len, blank, red, zi, flat):
    lp = x.log_softmax(-1)
    n = x.shape[1]
    tgt = m.tensor(targets, dtype=m.int64).reshape(n, S)
    if flat:   # (the concatenated form: each sample's first tg_len labels)
        tgt = m.cat([tgt[i, :tg_len[i]] for i in range(n)]) if n else tgt.reshape(-1)
    return m.nn.functional.ctc_loss(lp, tgt, m.tensor(in_len), m.tensor(tg_len), blank=blank, reduction=red,
                                    zero_infinity=zi)


op("F.ctc_loss", ctc_case(), ctc_call, tol="loose")


# ------------------------------------------------------------------------------------ AdaptiveLogSoftmaxWithLoss
@st.composite
def asm_case(draw):
    dt = draw(st.sampled_from([F32, F64]))
    feat, n_classes = draw(st.integers(1, 4)), draw(st.integers(3, 9))
    cut = sorted(set(draw(st.lists(st.integers(1, n_classes - 1), min_size=1, max_size=3))))
    if draw(st.integers(0, 6)) == 0:
        cut = cut + [n_classes + draw(st.integers(0, 1))]   # (invalid: torch raises)
    batched = draw(st.booleans())
    n = draw(st.integers(1, 4))
    x = draw(arr(dt, (n, feat) if batched else (feat,), special=False, lo=-2, hi=2))
    y = draw(st.lists(st.integers(0, n_classes - 1), min_size=n, max_size=n))
    return [x], {"n_classes": n_classes, "cut": cut, "y": y if batched else y[0],
                 "div": draw(st.sampled_from([4.0, 2.0, 1.5])), "hb": draw(st.booleans()),
                 "what": draw(st.sampled_from(["forward", "log_prob", "predict"]))}


def asm_call(m, x, n_classes, cut, y, div, hb, what):
    mod = _det_weights(m, m.nn.AdaptiveLogSoftmaxWithLoss(x.shape[-1], n_classes, cut, div_value=div,
                                                          head_bias=hb).to(x.dtype))
    if what == "forward":
        out, loss = mod(x, m.tensor(y))
        return _with_param_grads(m, mod, [out, loss])
    if what == "log_prob":
        return _with_param_grads(m, mod, [mod.log_prob(x if x.ndim == 2 else x[None])])
    return mod.predict(x if x.ndim == 2 else x[None])


op("nn.AdaptiveLogSoftmaxWithLoss", asm_case(), asm_call, tol="loose")


# ---------------------------------------------------------------------------------------------- 3-D and lazy
@st.composite
def vol3_case(draw):
    dt = draw(st.sampled_from([F32, F64]))
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    sp = tuple(draw(st.integers(1, 3)) for _ in range(3))
    x = draw(arr(dt, (n, c) + sp, special=False, lo=-2, hi=2))
    return [x], {"layout": draw(_LAYOUT), "which": draw(st.sampled_from(sorted(_VOL))), "k": draw(st.integers(1, 2)),
                 "s": draw(st.integers(1, 2)), "p": draw(st.integers(0, 1)), "train": draw(st.booleans())}


_VOL = {
    # (padding below the kernel: where it eats the whole output torch's float32 kernel returns an empty batch and its
    # float64 one raises 'Output size is too small', as tensorgrad does for both -- test_conv_transpose_empty_output)
    "ConvTranspose3d": lambda m, c, k, s, p: m.nn.ConvTranspose3d(c, 2, k, s, min(p, (k + s - 2) // 2),
                                                                  output_padding=s - 1),
    "ConvTranspose3d-groups": lambda m, c, k, s, p: m.nn.ConvTranspose3d(c, c, k, s, 0, groups=c, dilation=2),
    "Conv3d-pad": lambda m, c, k, s, p: m.nn.Conv3d(c, 2, k + 1, 1, padding="same", padding_mode="reflect"
                                                    if k == 1 else "circular"),
    "BatchNorm3d": lambda m, c, k, s, p: m.nn.BatchNorm3d(c, momentum=None if p else 0.3),
    "InstanceNorm3d": lambda m, c, k, s, p: m.nn.InstanceNorm3d(c, affine=bool(p), track_running_stats=s == 2),
    "AdaptiveAvgPool3d": lambda m, c, k, s, p: m.nn.AdaptiveAvgPool3d((k, None, s + 1)),
    "AdaptiveMaxPool3d": lambda m, c, k, s, p: m.nn.AdaptiveMaxPool3d((s + 1, k, 1)),
    "LPPool3d": lambda m, c, k, s, p: m.nn.LPPool3d(2.0 if p else 1.0, k, s),
    "LazyConv3d": lambda m, c, k, s, p: m.nn.LazyConv3d(2, k, s, p),
    "LazyConvTranspose3d": lambda m, c, k, s, p: m.nn.LazyConvTranspose3d(2, k, s, p),
    "LazyBatchNorm3d": lambda m, c, k, s, p: m.nn.LazyBatchNorm3d(),
    "LazyInstanceNorm3d": lambda m, c, k, s, p: m.nn.LazyInstanceNorm3d(affine=True),
}


def vol3_call(m, x, layout, which, k, s, p, train):
    mod = _VOL[which](m, x.shape[1], k, s, p).to(x.dtype)
    mod.train(train)
    x = lay(m, x, layout)
    if "Norm" in which:
        # (a ramp: the second derivative of a norm of a constant window is float32 noise times 1/sqrt(eps))
        x = x + 0.05 * m.arange(x.numel(), dtype=x.dtype).reshape(x.shape)
    if which.startswith("Lazy"):
        with m.no_grad():
            mod(x)       # (materializes; the weights are then set as in the other framework)
    mod = _det_weights(m, mod)
    out = mod(x)
    bufs = [b.clone() for b in mod.buffers() if b.is_floating_point()]
    return _with_param_grads(m, mod, [out]) + bufs


op("nn.3d-and-lazy", vol3_case(), vol3_call, tol="loose")


# ------------------------------------------------------------------------------------ other modules of the round
@st.composite
def misc_case(draw):
    dt = draw(st.sampled_from([F32, F64]))
    which = draw(st.sampled_from(sorted(_MISC)))
    n, c, h, w = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    x = draw(arr(dt, (n, c, h, w), special=False, lo=-2, hi=2))
    ids = draw(st.lists(st.integers(0, 5), min_size=1, max_size=7))
    cuts = sorted(draw(st.lists(st.integers(0, len(ids)), min_size=1, max_size=3)))
    return [x], {"which": which, "ids": ids, "offsets": [0] + cuts[1:], "mode": draw(st.sampled_from(
        ["sum", "mean", "max"])), "pad": draw(st.sampled_from([None, 0, 3])), "last": draw(st.booleans()),
        "psw": draw(st.booleans())}


def _bag(m, x, ids, offsets, mode, pad, last, psw):
    mod = _det_weights(m, m.nn.EmbeddingBag(6, 3, mode=mode, padding_idx=pad, include_last_offset=last).to(x.dtype))
    w = (m.arange(len(ids), dtype=x.dtype) * 0.3 + x.reshape(-1)[0]) if psw and mode == "sum" else None
    if last and len(offsets) < 2:
        offsets = offsets + [len(ids)]     # (no bag at all with include_last_offset: torch's backward segfaults)
    # (first order: torch has no double backward for embedding_bag)
    return _with_param_grads(m, mod, [mod(m.tensor(ids), m.tensor(offsets), per_sample_weights=w)], False)


_MISC = {
    "EmbeddingBag": _bag,
    "Bilinear": lambda m, x, **k: (lambda mod: _with_param_grads(m, mod, [mod(x.flatten(1)[:, :2], x.flatten(
        1)[:, -3:])]))(_det_weights(m, m.nn.Bilinear(min(2, x[0].numel()), min(3, x[0].numel()), 2).to(x.dtype))),
    # (values: torch's hand-written CrossMapLRN2d backward is not its forward's derivative; tensorgrad's is)
    "CrossMapLRN2d": lambda m, x, **k: m.nn.CrossMapLRN2d(3, 1e-2, 0.75, 1.0)(x.detach()),
    "LocalResponseNorm": lambda m, x, **k: m.nn.LocalResponseNorm(2)(x),
    "MaxUnpool2d": lambda m, x, **k: (lambda o, i: m.nn.functional.max_unpool2d(o, i, 2, output_size=x.shape[-2:]))(
        *m.nn.functional.max_pool2d(x + 0.01 * m.arange(x.numel(), dtype=x.dtype).reshape(x.shape), 2,
                                    return_indices=True, ceil_mode=True)),
    "LPPool2d": lambda m, x, **k: m.nn.LPPool2d(3.0, 2, ceil_mode=True)(x.abs() + 0.1),
    "RReLU-eval": lambda m, x, **k: m.nn.RReLU(0.1, 0.3).eval()(x),
    "AlphaDropout-eval": lambda m, x, **k: m.nn.FeatureAlphaDropout(0.5).eval()(x) + m.nn.AlphaDropout(0.2).eval()(x),
    "Softmax2d": lambda m, x, **k: m.nn.Softmax2d()(x),
    "ChannelShuffle": lambda m, x, **k: m.nn.ChannelShuffle(1 if x.shape[1] % 2 else 2)(x),
    "Fold-Unfold": lambda m, x, **k: m.nn.Fold(x.shape[-2:], 1)(m.nn.Unfold(1)(x)),
    "ZeroPad3d": lambda m, x, **k: m.nn.ZeroPad3d((1, 0, 0, 1, 1, 0))(x),
}


def misc_call(m, x, which, **k):
    return _MISC[which](m, x, **k)


op("nn.misc-modules", misc_case(), misc_call, tol="loose")


# ------------------------------------------------------------------------------------------------- sparse COO
@st.composite
def sparse_case(draw):
    dt = draw(st.sampled_from([F32, F64]))
    r, c = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    nnz = draw(st.integers(0, 5)) if r and c else 0
    rows = draw(st.lists(st.integers(0, max(r - 1, 0)), min_size=nnz, max_size=nnz))
    cols = draw(st.lists(st.integers(0, max(c - 1, 0)), min_size=nnz, max_size=nnz))
    vals = draw(arr(dt, (nnz,), special=False))
    dense = draw(arr(dt, (c, draw(st.integers(0, 3))), special=False))
    other = draw(arr(dt, (r, c), special=False))
    return [vals, dense, other], {"idx": [rows, cols], "shape": (r, c),
                                  "what": draw(st.sampled_from(sorted(_SPARSE)))}


_SPARSE = {
    "to_dense": lambda m, s, d, o: s.to_dense(),
    "coalesce": lambda m, s, d, o: (lambda c: (c.indices(), c.values()))(s.coalesce()),
    "mm": lambda m, s, d, o: m.sparse.mm(s, d),
    "spmm-matmul": lambda m, s, d, o: s @ d,
    "dense-sparse-mm": lambda m, s, d, o: m.mm(d.mT, s.t()),
    "add-dense": lambda m, s, d, o: o + s,
    "add-sparse": lambda m, s, d, o: (s + s * 2.0).to_dense(),
    "sub-div": lambda m, s, d, o: ((s - s * 0.5) / 4.0).to_dense(),
    "sum": lambda m, s, d, o: m.sparse.sum(s),
    "sum-dim": lambda m, s, d, o: m.sparse.sum(s, dim=1).to_dense(),
    "softmax": lambda m, s, d, o: m.sparse.softmax(s, 1).to_dense(),
    "t": lambda m, s, d, o: s.t().to_dense(),
    "to_sparse": lambda m, s, d, o: (lambda c: (c.indices(), c.values()))(o.to_sparse().coalesce()),
    "double": lambda m, s, d, o: s.double().to_dense(),
}


def sparse_call(m, vals, dense, other, idx, shape, what):
    s = m.sparse_coo_tensor(m.tensor(idx, dtype=m.int64).reshape(2, -1), vals, shape)
    return _SPARSE[what](m, s, dense, other)


op("sparse", sparse_case(), sparse_call)


# ---------------------------------------------------------------------------------------------- memory formats
@st.composite
def mf_case(draw):
    dt = draw(st.sampled_from([F32, F64]))
    nd = draw(st.sampled_from([3, 4, 5]))
    x = draw(arr(dt, tuple(draw(st.integers(1, 3)) for _ in range(nd)), special=False))
    return [x], {"layout": draw(_LAYOUT), "fmt": draw(st.sampled_from(
        ["channels_last", "channels_last_3d", "contiguous_format", "preserve_format"])),
        "how": draw(st.sampled_from(["contiguous", "to", "clone", "empty_like", "is_contiguous"]))}


def mf_call(m, x, layout, fmt, how):
    x = lay(m, x, layout)
    f = getattr(m, fmt)
    if how == "is_contiguous":
        return m.tensor([x.is_contiguous(memory_format=f)])
    y = {"contiguous": lambda: x.contiguous(memory_format=f), "to": lambda: x.to(memory_format=f),
         "clone": lambda: x.clone(memory_format=f),
         # (zeros_like's own strides: a binary op of mixed layouts takes the first operand's in torch, NumPy's C
         # order in tensorgrad -- test_mixed_layout_binary_op_strides)
         "empty_like": lambda: m.zeros_like(x, memory_format=f).add_(x)}[how]()
    if how == "to" and fmt == "contiguous_format":
        # (values only: torch's .to(memory_format=contiguous_format) returns a non-contiguous self unchanged when
        # its suggested format is already contiguous_format; tensorgrad's returns a contiguous copy)
        return [y]
    # (strides of size-1 dims left out, but by clone's: which of two equally valid ones .to() keeps differs)
    return [y, m.tensor([st_ if n > 1 or how == "clone" else 0 for st_, n in zip(y.stride(), y.shape)],
                        dtype=m.int64)]


op("memory_format", mf_case(), mf_call)

SPECS = {s.name: s for s in OPS}
assert len(SPECS) == len(OPS), "op names in the table must be unique"


def run_case(name, arrays, kw):
    """The reproducer for this table (test_fuzz_torch.run_case)."""
    return _fuzz.run_case(name, arrays, kw, SPECS)


# (nn cases cost more each: twice the examples of test_fuzz_recent's cheap ops still fits the minute)
@pytest.mark.parametrize("spec", [pytest.param(s, id=s.name) for s in OPS])
def test_matches_torch(spec):
    check_against_torch(spec, 2 * EXAMPLES)


@pytest.mark.slow
@deep
@pytest.mark.parametrize("spec", [pytest.param(s, id=s.name) for s in OPS])
def test_matches_torch_deep(spec):
    check_against_torch(spec, DEEP)


def test_conv_transpose_empty_output():
    """Padding that eats the whole output: torch 2.13 returns an empty batch in float32 and raises in float64;
    tensorgrad raises in both (a clear error rather than an empty result)."""
    x, w = torch.ones(2, 1, 1, 1), torch.ones(1, 2, 2, 2)
    assert tuple(torch.nn.functional.conv_transpose2d(x, w, padding=1).shape) == (2, 2, 0, 0)
    with pytest.raises(RuntimeError, match="Output size is too small"):
        torch.nn.functional.conv_transpose2d(x.double(), w.double(), padding=1)
    for dt in (tg.float32, tg.float64):
        with pytest.raises(RuntimeError, match="must be positive"):
            tg.nn.functional.conv_transpose2d(tg.ones(2, 1, 1, 1, dtype=dt), tg.ones(1, 2, 2, 2, dtype=dt), padding=1)
