"""nn.MultiheadAttention, TransformerEncoder/DecoderLayer, TransformerEncoder/Decoder and Transformer vs torch.nn with
the same weights: outputs, attention weights and the gradients of every input and parameter, in float64 and float32,
for every mask kind, batch_first and norm_first both ways, relu and gelu; state_dict keys and loading torch's,
initialisation, and bad arguments.

Torch runs in training mode with dropout=0 for the exact comparisons: in eval mode, without grad, it takes fused
inference kernels that compute the same function with other rounding (compared separately, looser)."""
import math
import re
import warnings

import numpy as np
import pytest
import torch

import tensorgrad as tg
from tensorgrad import nn
from helpers import assert_param_grads_match, copy_to_torch, _ops_recorded

torch.set_num_threads(1)
# torch's note that its nested-tensor inference path is off for these layers (there is none here)
pytestmark = pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")
TDT = {np.float64: torch.float64, np.float32: torch.float32}
TOL = {np.float64: 1e-9, np.float32: 5e-5}
FLOATS = [np.float64, np.float32]


class Fixed:
    """An input that takes no gradient (a mask): bool stays bool, floats are cast to the test dtype."""

    def __init__(self, a):
        self.a = np.asarray(a)


def _lib_tensor(lib, a, dtype, grad):
    a = a if a.dtype == np.bool_ else a.astype(dtype)
    return (torch.tensor(a, requires_grad=grad) if lib is torch else tg.tensor(a, requires_grad=grad))


def check(make, call, args, dtype=np.float64, train=True, tol=None, seed=0, grads=True):
    """make(lib_nn) builds the module with either library's nn; call(module, *tensors) runs it (one lambda for
    both). Compares every output (None where torch gives None), the gradient of every float input and every
    parameter, after copying our weights into torch's (which checks the state_dict keys, order and shapes)."""
    rng = np.random.default_rng(seed)
    tol = tol or TOL[dtype]
    m, tm = make(nn), make(torch.nn)
    m.to(dtype)
    tm.to(TDT[dtype])
    copy_to_torch(m, tm)
    m.train(train)
    tm.train(train)
    ins, tins = [], []
    for a in args:
        if a is None:
            ins.append(None)
            tins.append(None)
            continue
        grad = grads and not isinstance(a, Fixed)
        arr = a.a if isinstance(a, Fixed) else np.asarray(a)
        ins.append(_lib_tensor(tg, arr, dtype, grad))
        tins.append(_lib_tensor(torch, arr, dtype, grad))
    out, tout = call(m, *ins), call(tm, *tins)
    out, tout = (out, tout) if isinstance(tout, tuple) else ((out,), (tout,))
    assert len(out) == len(tout)
    pairs = []
    for i, (a, b) in enumerate(zip(out, tout)):
        assert (a is None) == (b is None), f"output {i}: {a is None} vs torch {b is None}"
        if b is None:
            continue
        assert a.dtype == np.dtype(dtype), f"output {i} dtype {a.dtype}"
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=tol, atol=tol, equal_nan=True,
                                   err_msg=f"output {i}")
        pairs.append((a, b, rng.standard_normal(tuple(b.shape)).astype(dtype)))
    if not grads or any(np.isnan(b.detach().numpy()).any() for _, b, _ in pairs):
        return m, tm
    sum(((a * tg.tensor(c)).sum() for a, _, c in pairs), tg.tensor(np.zeros((), dtype))).backward()
    sum((b * torch.tensor(c)).sum() for _, b, c in pairs).backward()
    for i, (a, b) in enumerate(zip(ins, tins)):
        if a is not None and a.requires_grad:
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=tol, atol=tol, err_msg=f"grad input {i}")
    assert_param_grads_match(m, tm, tol, tol)
    return m, tm


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def bool_mask(*shape, p=0.3, seed=1, keep_col=True):
    """True = may not attend; with keep_col the first key stays open so that no row is fully masked."""
    m = np.random.default_rng(seed).random(shape) < p
    if keep_col:
        m[..., 0] = False
    return m


def float_mask(*shape, seed=2):
    m = np.random.default_rng(seed).standard_normal(shape)
    m[bool_mask(*shape, seed=seed + 1)] = -np.inf
    return m


def causal(n):
    return np.triu(np.ones((n, n), dtype=bool), 1)


def seq_batch(L, N, E, batch_first, seed=0):
    return rand(N, L, E, seed=seed) if batch_first else rand(L, N, E, seed=seed)


# ------------------------------------------------------------------------------------------ MultiheadAttention
E, H, L, S, N = 8, 2, 5, 6, 3

MASKS = {  # name -> (attn_mask, key_padding_mask) for self-attention over L positions
    "none": (None, None),
    "attn-bool-2d": (bool_mask(L, L), None),
    "attn-float-2d": (float_mask(L, L), None),
    "attn-bool-3d": (bool_mask(N * H, L, L), None),
    "attn-float-3d": (float_mask(N * H, L, L), None),
    "kpm-bool": (None, bool_mask(N, L)),
    "kpm-float": (None, float_mask(N, L)),
    "attn+kpm-bool": (bool_mask(L, L), bool_mask(N, L, seed=5)),
    "attn+kpm-float": (float_mask(N * H, L, L), float_mask(N, L, seed=7)),
    "causal-bool": (causal(L), None),
    "causal-float": (np.where(causal(L), -np.inf, 0.0), None),
}


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("mask", list(MASKS))
def test_mha_self_attention_masks(mask, need_weights, batch_first, dtype):
    am, kpm = MASKS[mask]
    is_causal = mask.startswith("causal")
    x = seq_batch(L, N, E, batch_first)
    make = lambda T: T.MultiheadAttention(E, H, batch_first=batch_first)  # noqa: E731
    call = lambda m, x, am, kpm: m(x, x, x, key_padding_mask=kpm, attn_mask=am,  # noqa: E731
                                   need_weights=need_weights, is_causal=is_causal)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mixed mask types: torch's deprecation warning, mirrored
        check(make, call, [x, None if am is None else Fixed(am), None if kpm is None else Fixed(kpm)], dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("kind", ["kv-shared", "distinct", "kdim-vdim"])
@pytest.mark.parametrize("need_weights,average", [(True, True), (True, False), (False, True)])
@pytest.mark.parametrize("batch_first", [False, True])
def test_mha_cross_attention(kind, need_weights, average, batch_first, dtype):
    kd, vd = (5, 7) if kind == "kdim-vdim" else (E, E)
    q = seq_batch(L, N, E, batch_first, seed=0)
    k = seq_batch(S, N, kd, batch_first, seed=1)
    v = seq_batch(S, N, vd, batch_first, seed=2)
    am, kpm = Fixed(bool_mask(L, S)), Fixed(bool_mask(N, S, seed=3))
    make = lambda T: T.MultiheadAttention(E, H, kdim=kd, vdim=vd, batch_first=batch_first)  # noqa: E731
    if kind == "kv-shared":
        call = lambda m, q, k, am, kpm: m(q, k, k, kpm, need_weights, am, average)  # noqa: E731
        check(make, call, [q, k, am, kpm], dtype)
    else:
        call = lambda m, q, k, v, am, kpm: m(q, k, v, kpm, need_weights, am, average)  # noqa: E731
        check(make, call, [q, k, v, am, kpm], dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("bias_kv,zero_attn,bias", [(True, False, True), (False, True, True), (True, True, True),
                                                    (False, False, False), (True, True, False)])
@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("masks", [False, True])
def test_mha_options(bias_kv, zero_attn, bias, need_weights, masks, dtype):
    x, mem = rand(L, N, E), rand(S, N, E, seed=1)
    am = Fixed(float_mask(N * H, L, S)) if masks else None
    kpm = Fixed(bool_mask(N, S, seed=4)) if masks else None
    make = lambda T: T.MultiheadAttention(E, H, bias=bias, add_bias_kv=bias_kv,  # noqa: E731
                                          add_zero_attn=zero_attn)
    call = lambda m, x, mem, am, kpm: m(x, mem, mem, key_padding_mask=kpm, attn_mask=am,  # noqa: E731
                                        need_weights=need_weights, average_attn_weights=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(make, call, [x, mem, am, kpm], dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("masks", ["none", "2d", "3d+kpm", "float-3d"])
@pytest.mark.parametrize("need_weights,average", [(True, True), (True, False), (False, True)])
def test_mha_unbatched(masks, need_weights, average, dtype):
    q, kv = rand(L, E), rand(S, E, seed=1)
    am = {"none": None, "2d": Fixed(bool_mask(L, S)), "3d+kpm": Fixed(bool_mask(H, L, S)),
          "float-3d": Fixed(float_mask(H, L, S))}[masks]
    kpm = Fixed(bool_mask(S, seed=9)) if masks == "3d+kpm" else None
    make = lambda T: T.MultiheadAttention(E, H, batch_first=True)  # noqa: E731 (ignored for unbatched input)
    call = lambda m, q, kv, am, kpm: m(q, kv, kv, kpm, need_weights, am, average)  # noqa: E731
    m, _ = check(make, call, [q, kv, am, kpm], dtype)
    out, w = m(tg.tensor(q.astype(dtype)), tg.tensor(kv.astype(dtype)), tg.tensor(kv.astype(dtype)),
               need_weights=True, average_attn_weights=average)
    assert out.shape == (L, E) and w.shape == ((L, S) if average else (H, L, S))


@pytest.mark.parametrize("kw", [dict(), dict(add_bias_kv=True), dict(add_zero_attn=True)])
@pytest.mark.parametrize("src_len", [L, S])
def test_mha_causal_hint_drops_the_mask_as_torch(kw, src_len):
    """is_causal with need_weights=False and no padding mask: torch drops attn_mask and runs SDPA's causal
    kernel (top-left aligned, over the appended bias / zero keys too); so do we."""
    x, mem = rand(L, N, E), rand(src_len, N, E, seed=1)
    am = Fixed(np.triu(np.ones((L, src_len), dtype=bool), 1))
    call = lambda m, x, mem, am: m(x, mem, mem, attn_mask=am, need_weights=False, is_causal=True)  # noqa: E731
    check(lambda T: T.MultiheadAttention(E, H, **kw), call, [x, mem, am])


@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_fully_masked_rows_as_torch(need_weights):
    """A query row with every key masked: nan with need_weights (plain softmax), 0 without (torch's SDPA), and
    then gradients that agree with torch's (none nan)."""
    x = rand(L, N, E)
    kpm = bool_mask(N, L)
    kpm[1] = True  # batch entry 1 attends to nothing
    make = lambda T: T.MultiheadAttention(E, H)  # noqa: E731
    call = lambda m, x, kpm: m(x, x, x, key_padding_mask=kpm, need_weights=need_weights)  # noqa: E731
    with np.errstate(invalid="ignore"):  # softmax over a row of -inf: nan, as torch's
        m, tm = check(make, call, [x, Fixed(kpm)])
        out, _ = m(tg.tensor(x), tg.tensor(x), tg.tensor(x), key_padding_mask=tg.tensor(kpm),
                   need_weights=need_weights)
    assert np.isnan(out.detach().numpy()[:, 1]).all() == need_weights


@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_dropout(need_weights):
    """p=1 drops every attention weight, in both libraries alike; eval mode ignores dropout; 0 < p < 1 keeps
    the output finite and changes it."""
    x = rand(L, N, E)
    call = lambda m, x: m(x, x, x, need_weights=need_weights)  # noqa: E731
    check(lambda T: T.MultiheadAttention(E, H, dropout=1.0), call, [x])
    check(lambda T: T.MultiheadAttention(E, H, dropout=0.5), call, [x], train=False)
    m = nn.MultiheadAttention(E, H, dropout=0.5).double()
    xt = tg.tensor(x)
    a, b = m(xt, xt, xt, need_weights=need_weights)[0], m.eval()(xt, xt, xt, need_weights=need_weights)[0]
    a, b = a.detach().numpy(), b.detach().numpy()
    assert np.isfinite(a).all() and not np.allclose(a, b)


def test_mha_need_weights_false_runs_the_fused_attention():
    """Without masks (or with the causal hint alone) the heads go through scaled_dot_product_attention's fused
    kernel; weights or masks take the explicit softmax."""
    m = nn.MultiheadAttention(E, H).double()
    x = tg.tensor(rand(L, N, E))
    mask = nn.Transformer.generate_square_subsequent_mask(L, dtype=tg.float64)
    for kw, fused in [(dict(need_weights=False), True), (dict(need_weights=False, attn_mask=mask, is_causal=True), True),
                      (dict(need_weights=True), False), (dict(need_weights=False, attn_mask=mask), False)]:
        with _ops_recorded(set()) as ran:
            m(x, x, x, **kw)
        assert ("Attention" in ran) == fused, (kw, ran)


def test_mha_eval_no_grad_matches_torch_fast_path():
    """torch's inference fast path (eval, no grad, batch_first self-attention) vs ours, to rounding."""
    x = rand(N, L, E)
    kpm = bool_mask(N, L)
    m = nn.MultiheadAttention(E, H, batch_first=True).eval()
    tm = torch.nn.MultiheadAttention(E, H, batch_first=True).eval()
    copy_to_torch(m, tm)
    with tg.no_grad(), torch.no_grad():
        xt, tx = tg.tensor(x.astype(np.float32)), torch.tensor(x, dtype=torch.float32)
        for kw, tkw in [({}, {}), (dict(key_padding_mask=tg.tensor(kpm)), dict(key_padding_mask=torch.tensor(kpm)))]:
            a, w = m(xt, xt, xt, **kw)
            b, tw = tm(tx, tx, tx, **tkw)
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(w.numpy(), tw.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kw", [dict(), dict(bias=False), dict(add_bias_kv=True), dict(kdim=5, vdim=7),
                                dict(kdim=5, add_bias_kv=True, bias=False)])
def test_mha_parameters_state_dict_and_init(kw):
    m, tm = nn.MultiheadAttention(12, 3, **kw), torch.nn.MultiheadAttention(12, 3, **kw)
    assert list(m.state_dict()) == list(tm.state_dict())
    assert [(k, tuple(v.shape)) for k, v in m.named_parameters()] == \
           [(k, tuple(v.shape)) for k, v in tm.named_parameters()]
    for name in ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight", "in_proj_bias", "bias_k",
                 "bias_v"):
        assert (getattr(m, name) is None) == (getattr(tm, name) is None), name
    for name, p in m.named_parameters():
        a = p.detach().numpy()
        if name.endswith("bias") and name != "bias_k" and name != "bias_v":
            assert (a == 0).all(), name  # in_proj_bias and out_proj.bias start at zero, as torch's
        elif name in ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight"):
            bound = math.sqrt(6.0 / (a.shape[0] + a.shape[1]))
            assert np.abs(a).max() <= bound and np.abs(a).max() > 0.8 * bound, name
    if kw.get("add_bias_kv"):
        assert m.bias_k.shape == (1, 1, 12) and m.bias_k.detach().numpy().std() > 0
    # torch's state_dict (torch tensors) loads as it is, and then both compute the same.
    m.load_state_dict(tm.state_dict())
    x = rand(4, 2, 12).astype(np.float32)
    kv = rand(3, 2, m.kdim, seed=1).astype(np.float32)
    vv = rand(3, 2, m.vdim, seed=2).astype(np.float32)
    a = m(tg.tensor(x), tg.tensor(kv), tg.tensor(vv))
    b = tm(torch.tensor(x), torch.tensor(kv), torch.tensor(vv))
    for u, w in zip(a, b):
        np.testing.assert_allclose(u.detach().numpy(), w.detach().numpy(), rtol=1e-5, atol=1e-5)
    assert repr(m) == repr(tm)


def test_mha_attributes_as_torch():
    m, tm = nn.MultiheadAttention(8, 4, dropout=0.1, kdim=3), torch.nn.MultiheadAttention(8, 4, dropout=0.1, kdim=3)
    for a in ("embed_dim", "kdim", "vdim", "_qkv_same_embed_dim", "num_heads", "dropout", "batch_first", "head_dim",
              "add_zero_attn"):
        assert getattr(m, a) == getattr(tm, a), a


# ------------------------------------------------------------------------------------------ encoder / decoder
D_MODEL, NHEAD, FF = 8, 2, 16
ACTS = {"relu": lambda T: "relu", "gelu": lambda T: "gelu",
        "F.gelu": lambda T: T.functional.gelu,
        "GELU-tanh": lambda T: T.GELU(approximate="tanh")}
SRC_MASKS = {
    "none": (None, None, None),
    "src_mask-bool": (bool_mask(L, L), None, None),
    "src_mask-float": (float_mask(L, L), None, None),
    "kpm-bool": (None, bool_mask(N, L), None),
    "both-bool": (bool_mask(L, L), bool_mask(N, L, seed=3), None),
    "causal-hint": (np.where(causal(L), -np.inf, 0.0), None, True),
    "causal-detected": (causal(L), None, None),
}


def enc_layer(T, batch_first, norm_first, act="relu", dropout=0.0, bias=True):
    return T.TransformerEncoderLayer(D_MODEL, NHEAD, FF, dropout, ACTS[act](T), 1e-5, batch_first, norm_first, bias)


def dec_layer(T, batch_first, norm_first, act="relu", dropout=0.0, bias=True):
    return T.TransformerDecoderLayer(D_MODEL, NHEAD, FF, dropout, ACTS[act](T), 1e-5, batch_first, norm_first, bias)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("act", list(ACTS))
def test_encoder_layer(act, norm_first, batch_first, dtype):
    x = seq_batch(L, N, D_MODEL, batch_first)
    am, kpm = Fixed(bool_mask(L, L)), Fixed(bool_mask(N, L, seed=3))
    check(lambda T: enc_layer(T, batch_first, norm_first, act), lambda m, x, am, kpm: m(x, am, kpm), [x, am, kpm],
          dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("mask", list(SRC_MASKS))
@pytest.mark.parametrize("batch_first", [False, True])
def test_encoder_stack_masks(mask, batch_first, dtype):
    am, kpm, hint = SRC_MASKS[mask]
    x = seq_batch(L, N, D_MODEL, batch_first)

    def make(T):
        return T.TransformerEncoder(enc_layer(T, batch_first, mask.endswith("float")), 2, T.LayerNorm(D_MODEL))

    call = lambda m, x, am, kpm: m(x, mask=am, src_key_padding_mask=kpm, is_causal=hint)  # noqa: E731
    check(make, call, [x, None if am is None else Fixed(am), None if kpm is None else Fixed(kpm)], dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("act", ["relu", "gelu", "GELU-tanh"])
def test_decoder_layer(act, norm_first, batch_first, dtype):
    tgt, mem = seq_batch(L, N, D_MODEL, batch_first), seq_batch(S, N, D_MODEL, batch_first, seed=1)
    args = [tgt, mem, Fixed(causal(L)), Fixed(bool_mask(L, S)), Fixed(bool_mask(N, L, seed=4)),
            Fixed(bool_mask(N, S, seed=5))]
    check(lambda T: dec_layer(T, batch_first, norm_first, act), lambda m, *a: m(*a), args, dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("masks", ["none", "causal-detected", "causal-hint", "all-float", "kpm-only"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_decoder_stack(masks, batch_first, dtype):
    tgt, mem = seq_batch(L, N, D_MODEL, batch_first), seq_batch(S, N, D_MODEL, batch_first, seed=1)
    tm_, mm_, tk, mk, hint = {
        "none": (None, None, None, None, None),
        "causal-detected": (np.where(causal(L), -np.inf, 0.0), None, None, None, None),
        "causal-hint": (causal(L), None, None, None, True),
        "all-float": (float_mask(L, L), float_mask(L, S, seed=3), float_mask(N, L, seed=4), float_mask(N, S, seed=5),
                      None),
        "kpm-only": (None, None, bool_mask(N, L, seed=4), bool_mask(N, S, seed=5), None)}[masks]
    fx = [None if a is None else Fixed(a) for a in (tm_, mm_, tk, mk)]

    def make(T):
        return T.TransformerDecoder(dec_layer(T, batch_first, masks == "none"), 2, T.LayerNorm(D_MODEL))

    call = lambda m, t, mem, a, b, c, d: m(t, mem, a, b, c, d, tgt_is_causal=hint)  # noqa: E731
    check(make, call, [tgt, mem] + fx, dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("batch_first,norm_first", [(False, False), (True, True)])
def test_transformer(batch_first, norm_first, dtype):
    src, tgt = seq_batch(S, N, D_MODEL, batch_first), seq_batch(L, N, D_MODEL, batch_first, seed=1)

    def make(T):
        return T.Transformer(D_MODEL, NHEAD, 2, 2, FF, 0.0, "gelu", batch_first=batch_first, norm_first=norm_first)

    tmask = nn.Transformer.generate_square_subsequent_mask(L).numpy()
    args = [src, tgt, Fixed(tmask), Fixed(bool_mask(N, S, seed=6)), Fixed(bool_mask(N, S, seed=6))]
    check(make, lambda m, s, t, tm_, sk, mk: m(s, t, tgt_mask=tm_, src_key_padding_mask=sk,
                                               memory_key_padding_mask=mk), args, dtype)


def test_unbatched_layers():
    x, mem = rand(L, D_MODEL), rand(S, D_MODEL, seed=1)
    check(lambda T: enc_layer(T, True, False), lambda m, x, kpm: m(x, src_key_padding_mask=kpm),
          [x, Fixed(bool_mask(L))])
    check(lambda T: dec_layer(T, False, True), lambda m, t, mem, tm_: m(t, mem, tm_), [x, mem, Fixed(causal(L))])


def test_encoder_layer_dropout_and_eval():
    """Dropout 1 zeroes the attention and feed-forward branches in both libraries; eval mode drops nothing and
    agrees with torch's fused inference kernel to rounding."""
    x = rand(L, N, D_MODEL)
    check(lambda T: enc_layer(T, False, False, dropout=1.0), lambda m, x: m(x), [x])
    for batch_first in (False, True):
        xb = seq_batch(L, N, D_MODEL, batch_first).astype(np.float32)
        kpm = bool_mask(N, L)
        m, tm = enc_layer(nn, batch_first, False, "gelu", 0.3), enc_layer(torch.nn, batch_first, False, "gelu", 0.3)
        copy_to_torch(m, tm)
        m.eval(), tm.eval()
        with torch.no_grad():
            b = tm(torch.tensor(xb), src_key_padding_mask=torch.tensor(kpm))
        a = m(tg.tensor(xb), src_key_padding_mask=tg.tensor(kpm))
        np.testing.assert_allclose(a.detach().numpy(), b.numpy(), rtol=1e-4, atol=1e-4)


def test_stack_state_dicts_and_deep_copies():
    for make in (lambda T: T.TransformerEncoder(enc_layer(T, False, False), 3, T.LayerNorm(D_MODEL)),
                 lambda T: T.TransformerDecoder(dec_layer(T, True, True, "GELU-tanh"), 2),
                 lambda T: T.Transformer(D_MODEL, NHEAD, 2, 1, FF, bias=False),
                 lambda T: enc_layer(T, False, False, bias=False)):
        m, tm = make(nn), make(torch.nn)
        assert list(m.state_dict()) == list(tm.state_dict())
        assert [tuple(v.shape) for v in m.state_dict().values()] == [tuple(v.shape) for v in tm.state_dict().values()]
        m.load_state_dict(tm.state_dict())  # torch checkpoints load as they are
    layer = enc_layer(nn, False, False)
    enc = nn.TransformerEncoder(layer, 2)
    assert enc.layers[0] is not layer and enc.layers[0].linear1.weight is not enc.layers[1].linear1.weight
    np.testing.assert_array_equal(enc.layers[0].linear1.weight.detach().numpy(), enc.layers[1].linear1.weight.detach().numpy())
    with tg.no_grad():
        enc.layers[0].linear1.weight.fill_(1.0)
    assert not (enc.layers[1].linear1.weight.detach().numpy() == 1.0).all() and not (layer.linear1.weight.detach().numpy() == 1).all()
    # Transformer re-initialises every matrix xavier-uniform, biases and norms as their modules do.
    t = nn.Transformer(D_MODEL, NHEAD, 1, 1, FF)
    w = t.encoder.layers[0].linear1.weight.detach().numpy()
    assert np.abs(w).max() <= math.sqrt(6.0 / (D_MODEL + FF))
    assert (t.encoder.norm.weight.detach().numpy() == 1).all()


def test_layer_attributes_as_torch():
    for act in ("relu", "gelu", "F.gelu", "GELU-tanh"):
        m, tm = enc_layer(nn, True, True, act), enc_layer(torch.nn, True, True, act)
        assert m.activation_relu_or_gelu == tm.activation_relu_or_gelu, act
        assert m.norm_first and m.self_attn.batch_first and m.self_attn.dropout == tm.self_attn.dropout
    e, te = nn.TransformerEncoder(enc_layer(nn, False, False), 2), torch.nn.TransformerEncoder(
        enc_layer(torch.nn, False, False), 2, enable_nested_tensor=False)
    assert e.num_layers == te.num_layers == 2 and e.norm is None and len(e.layers) == 2
    t = nn.Transformer(D_MODEL, NHEAD, 1, 1, FF, batch_first=True)
    assert (t.d_model, t.nhead, t.batch_first) == (D_MODEL, NHEAD, True)


@pytest.mark.parametrize("sz,dtype", [(1, None), (4, tg.float64), (5, tg.float32)])
def test_generate_square_subsequent_mask(sz, dtype):
    got = nn.Transformer.generate_square_subsequent_mask(sz, dtype=dtype)
    want = torch.nn.Transformer.generate_square_subsequent_mask(
        sz, dtype=None if dtype is None else TDT[np.dtype(dtype).type])
    assert got.dtype == np.dtype(str(want.dtype).replace("torch.", ""))
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_mismatched_mask_types_warn_as_torch():
    m = nn.MultiheadAttention(E, H)
    x = tg.tensor(rand(L, N, E).astype(np.float32))
    with pytest.warns(UserWarning, match="mismatched key_padding_mask and attn_mask"):
        m(x, x, x, key_padding_mask=tg.tensor(bool_mask(N, L)), attn_mask=tg.tensor(float_mask(L, L)))


# ------------------------------------------------------------------------------------------------- errors
def _x(*shape):
    return tg.tensor(rand(*shape).astype(np.float32))


def _mha(*shapes, **kw):
    def f():
        m = nn.MultiheadAttention(E, H, **{k: v for k, v in kw.items() if k in ("kdim", "vdim", "batch_first")})
        ts = [_x(*s) for s in shapes]
        fw = {k: v for k, v in kw.items() if k not in ("kdim", "vdim", "batch_first")}
        return m(*ts, **fw)
    return f


ERRORS = [
    ("heads-divide", lambda: nn.MultiheadAttention(10, 3), AssertionError, [r"MultiheadAttention", "10", "3"]),
    ("zero-dim", lambda: nn.MultiheadAttention(0, 2), ValueError, [r"MultiheadAttention", "embed_dim=0"]),
    ("enc-heads", lambda: nn.TransformerEncoderLayer(10, 4), AssertionError, [r"embed_dim=10", "num_heads=4"]),
    ("embed-dim", _mha((L, N, 6), (L, N, 6), (L, N, 6)), AssertionError,
     [r"MultiheadAttention", r"query has embedding dim 6", r"embed_dim=8", r"\(5, 3, 6\)"]),
    ("kdim", _mha((L, N, E), (S, N, 4), (S, N, 4), kdim=5), AssertionError, [r"key has embedding dim 4", "kdim=5"]),
    ("4d-query", _mha((1, L, N, E), (1, L, N, E), (1, L, N, E)), AssertionError, [r"4-D", r"\(1, 5, 3, 8\)"]),
    ("key-ndim", _mha((L, N, E), (S, E), (S, E)), AssertionError, [r"3-D query", r"key \(6, 8\)"]),
    ("batch", _mha((L, N, E), (S, 2, E), (S, 2, E)), AssertionError, [r"batch", r"key \(6, 2, 8\)"]),
    ("kv-len", _mha((L, N, E), (S, N, E), (S + 1, N, E)), AssertionError, [r"sequence", r"value \(7, 3, 8\)"]),
    ("attn-mask-2d", _mha((L, N, E), (S, N, E), (S, N, E), attn_mask=tg.zeros(L, L)), RuntimeError,
     [r"MultiheadAttention", r"attn_mask of shape \(5, 5\)", r"\(5, 6\)", r"\(6, 5, 6\)"]),
    ("attn-mask-3d", _mha((L, N, E), (S, N, E), (S, N, E), attn_mask=tg.zeros(N, L, S)), RuntimeError,
     [r"attn_mask of shape \(3, 5, 6\)", r"batch \* num_heads"]),
    ("attn-mask-bf", _mha((N, L, E), (N, S, E), (N, S, E), batch_first=True, attn_mask=tg.zeros(S, L)), RuntimeError,
     [r"attn_mask of shape \(6, 5\)", r"\(5, 6\)"]),
    ("kpm-shape", _mha((L, N, E), (S, N, E), (S, N, E), key_padding_mask=tg.zeros(N, L, dtype=tg.bool)),
     AssertionError, [r"key_padding_mask of shape \(3, 5\)", r"\(3, 6\)"]),
    ("kpm-unbatched", _mha((L, E), (S, E), (S, E), key_padding_mask=tg.zeros(N, S, dtype=tg.bool)),
     AssertionError, [r"key_padding_mask of shape \(3, 6\)", r"\(6,\)"]),
    ("int-mask", _mha((L, N, E), (L, N, E), (L, N, E), attn_mask=tg.zeros(L, L, dtype=tg.int64)), AssertionError,
     [r"only bool and floating point attn_mask", "int64"]),
    ("causal-no-mask", _mha((L, N, E), (L, N, E), (L, N, E), is_causal=True), RuntimeError,
     [r"need attn_mask", r"generate_square_subsequent_mask"]),
    ("mask-not-tensor", _mha((L, N, E), (L, N, E), (L, N, E), attn_mask=np.zeros((L, L))), TypeError,
     [r"MultiheadAttention: attn_mask must be a Tensor or None", "ndarray"]),
    ("not-tensor", lambda: nn.MultiheadAttention(E, H)(np.zeros((L, N, E)), _x(L, N, E), _x(L, N, E)), TypeError,
     [r"query must be a Tensor", "ndarray"]),
    ("activation", lambda: nn.TransformerEncoderLayer(8, 2, activation="tanh"), RuntimeError,
     [r"TransformerEncoderLayer", r"relu/gelu, not tanh"]),
    ("transformer-batch", lambda: nn.Transformer(8, 2, 1, 1, 16)(_x(L, 2, 8), _x(L, 3, 8)), RuntimeError,
     [r"batch number of src and tgt", r"\(5, 2, 8\)"]),
    ("transformer-dim", lambda: nn.Transformer(8, 2, 1, 1, 16)(_x(L, 2, 6), _x(L, 2, 6)), RuntimeError,
     [r"d_model=8", r"\(5, 2, 6\)"]),
]


@pytest.mark.parametrize("case", ERRORS, ids=[c[0] for c in ERRORS])
def test_errors(case):
    _, thunk, exc, patterns = case
    with pytest.raises(exc) as info:
        thunk()
    for p in patterns:
        assert re.search(p, str(info.value)), (p, str(info.value))
