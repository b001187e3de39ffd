"""Differential fuzzing of nn modules against PyTorch: hypothesis draws a module's constructor arguments (kernel,
stride, padding in all its spellings, dilation, groups, bias, padding_mode; pooling's ceil_mode, padding and
count_include_pad, adaptive output sizes; recurrent layers' layers, directions, batch_first, proj_size; attention's
kdim/vdim, masks and weight averaging; transformer encoder/decoder layers' norm_first, activation and bias;
batch/instance/group/layer norm's affine, running stats and train/eval) and an input shape. Both libraries build the
module (tensorgrad's parameters copied into torch's, names and order checked), run it in float64, and must agree on
the outcome (both raise, or neither), every output, the input's gradient and every parameter's gradient."""
import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings, strategies as st

import tensorgrad as tg
from helpers import copy_to_torch
from test_fuzz_torch import EXAMPLES, SETTINGS

SETTINGS_M = settings(SETTINGS, max_examples=max(EXAMPLES // 2, 20))


@st.composite
def conv(draw, nd, transpose):
    groups = draw(st.sampled_from([1, 1, 2]))
    cin, cout = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    k = draw(st.integers(1, 3)) if draw(st.booleans()) else tuple(draw(st.integers(1, 3)) for _ in range(nd))
    stride = draw(st.integers(1, 2))
    dilation = draw(st.integers(1, 2))
    kw = dict(in_channels=cin, out_channels=cout, kernel_size=k, stride=stride, dilation=dilation, groups=groups,
              bias=draw(st.booleans()))
    if transpose:
        kw["padding"] = draw(st.integers(0, 1))
        kw["output_padding"] = draw(st.integers(0, max(stride, dilation) - 1))
    else:
        kw["padding"] = draw(st.sampled_from([0, 1, "same", "valid"])) if stride == 1 else draw(st.integers(0, 2))
        kw["padding_mode"] = draw(st.sampled_from(["zeros", "zeros", "reflect", "replicate", "circular"]))
    shape = (draw(st.integers(1, 2)), cin) + tuple(draw(st.integers(1, 7)) for _ in range(nd))
    return kw, shape, {}


def _window_in_padding(n, k, s, p, d, ceil_mode):
    """Whether some max-pool window of a dim of size n lies wholly in the padding (possible with dilation): torch
    returns -inf there and its backward then writes outside the input (glibc aborts the process), so such cases
    are checked by test_fuzz_regressions against torch's forward only."""
    num = n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)
    o = int(num / s) + 1  # (torch's pooling_output_shape: C++ division, toward zero)
    if ceil_mode and (o - 1) * s >= n + p:
        o -= 1
    return any(all(not 0 <= i * s - p + j * d < n for j in range(k)) for i in range(o))


@st.composite
def pool(draw, kind, nd=2):
    k = draw(st.integers(1, 3))
    kw = dict(kernel_size=k, stride=draw(st.sampled_from([None, 1, 2])), padding=draw(st.integers(0, k // 2)),
              ceil_mode=draw(st.booleans()))
    if kind.startswith("Max"):
        kw["dilation"] = draw(st.integers(1, 2)) if nd == 2 else 1
    else:
        kw["count_include_pad"] = draw(st.booleans())
    shape = (draw(st.integers(1, 2)), 2) + tuple(draw(st.integers(1, 7)) for _ in range(nd))
    if kind.startswith("Max"):
        assume(not any(_window_in_padding(n, k, kw["stride"] or k, kw["padding"], kw["dilation"], kw["ceil_mode"])
                       for n in shape[2:]))
    return kw, shape, {}


@st.composite
def rnn(draw, kind):
    kw = dict(input_size=draw(st.integers(1, 3)), hidden_size=draw(st.integers(1, 4)),
              num_layers=draw(st.integers(1, 2)), bias=draw(st.booleans()), batch_first=draw(st.booleans()),
              bidirectional=draw(st.booleans()))
    if kind == "LSTM" and draw(st.booleans()):
        kw["proj_size"] = draw(st.integers(1, kw["hidden_size"]))
        assume(kw["proj_size"] < kw["hidden_size"])
    if kind == "RNN":
        kw["nonlinearity"] = draw(st.sampled_from(["tanh", "relu"]))
    t, n = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    shape = ((n, t) if kw["batch_first"] else (t, n)) + (kw["input_size"],)
    if draw(st.booleans()):
        shape = shape[1:] if kw["batch_first"] else (shape[0], shape[2])  # unbatched
    return kw, shape, {}


@st.composite
def mha(draw):
    heads = draw(st.integers(1, 2))
    e = heads * draw(st.integers(1, 3))
    kw = dict(embed_dim=e, num_heads=heads, bias=draw(st.booleans()), batch_first=draw(st.booleans()))
    if draw(st.booleans()):
        kw["kdim"], kw["vdim"] = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    n, lq, lk = draw(st.integers(1, 2)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    call = dict(need_weights=draw(st.booleans()), average_attn_weights=draw(st.booleans()),
                is_causal=False, lk=lk, kdim=kw.get("kdim", e), vdim=kw.get("vdim", e),
                causal_mask=draw(st.booleans()) and lq == lk, pad_mask=draw(st.booleans()))
    return kw, ((n, lq, e) if kw["batch_first"] else (lq, n, e)), call


@st.composite
def norm(draw, kind):
    c = draw(st.integers(1, 4))
    if kind == "GroupNorm":
        g = draw(st.sampled_from([d for d in (1, 2, 4) if c % d == 0]))
        return dict(num_groups=g, num_channels=c, affine=draw(st.booleans())), \
            (draw(st.integers(1, 3)), c, draw(st.integers(1, 4))), {}
    kw = dict(num_features=c, affine=draw(st.booleans()), track_running_stats=draw(st.booleans()),
              momentum=draw(st.sampled_from([0.1, None])))
    shape = (draw(st.integers(1, 4)), c) + ((draw(st.integers(1, 3)),) * (2 if kind == "BatchNorm2d" else
                                                                           draw(st.integers(0, 1))))
    return kw, shape, {"train": draw(st.booleans())}


@st.composite
def layer_norm(draw):
    d = draw(st.integers(1, 4))
    shape = tuple(draw(st.integers(1, 3)) for _ in range(draw(st.integers(0, 2)))) + (d,)
    ns = d if draw(st.booleans()) else (shape[-2:] if len(shape) >= 2 and draw(st.booleans()) else (d,))
    return dict(normalized_shape=ns, elementwise_affine=draw(st.booleans()), bias=draw(st.booleans()),
                eps=draw(st.sampled_from([1e-5, 0.1]))), shape, {}


@st.composite
def instance_norm(draw, nd):
    c = draw(st.integers(1, 3))
    kw = dict(num_features=c, affine=draw(st.booleans()), track_running_stats=draw(st.booleans()))
    shape = (draw(st.integers(1, 2)), c) + tuple(draw(st.integers(1, 4)) for _ in range(nd))
    return kw, shape, {"train": draw(st.booleans())}


@st.composite
def adaptive(draw, nd):
    out = draw(st.integers(1, 4)) if nd == 1 or draw(st.booleans()) else \
        tuple(draw(st.one_of(st.integers(1, 4), st.none())) for _ in range(nd))
    return dict(output_size=out), (1, 2) + tuple(draw(st.integers(1, 7)) for _ in range(nd)), {}


@st.composite
def encoder_layer(draw, decoder):
    heads = draw(st.integers(1, 2))
    d = heads * draw(st.integers(1, 3))
    kw = dict(d_model=d, nhead=heads, dim_feedforward=draw(st.integers(1, 5)), dropout=0.0,
              activation=draw(st.sampled_from(["relu", "gelu"])), batch_first=draw(st.booleans()),
              norm_first=draw(st.booleans()), bias=draw(st.booleans()))
    n, t = draw(st.integers(1, 2)), draw(st.integers(1, 4))
    return kw, ((n, t, d) if kw["batch_first"] else (t, n, d)), {"decoder": decoder, "lk": draw(st.integers(1, 4))}


SPECS = {
    "Conv1d": conv(1, False), "Conv2d": conv(2, False), "ConvTranspose1d": conv(1, True),
    "ConvTranspose2d": conv(2, True), "MaxPool2d": pool("MaxPool2d"), "AvgPool2d": pool("AvgPool2d"),
    "RNN": rnn("RNN"), "LSTM": rnn("LSTM"), "GRU": rnn("GRU"), "MultiheadAttention": mha(),
    "BatchNorm1d": norm("BatchNorm1d"), "BatchNorm2d": norm("BatchNorm2d"), "GroupNorm": norm("GroupNorm"),
    "LayerNorm": layer_norm(), "InstanceNorm1d": instance_norm(1), "InstanceNorm2d": instance_norm(2),
    "MaxPool1d": pool("MaxPool1d", 1), "AvgPool1d": pool("AvgPool1d", 1), "AdaptiveAvgPool1d": adaptive(1),
    "AdaptiveAvgPool2d": adaptive(2), "AdaptiveMaxPool2d": adaptive(2),
    "TransformerEncoderLayer": encoder_layer(False), "TransformerDecoderLayer": encoder_layer(True),
}


def _arr(t):
    return np.array(t.detach().numpy() if isinstance(t, torch.Tensor) else np.asarray(t.detach()))


def _flat(out):
    if isinstance(out, (tuple, list)):
        return [y for o in out for y in _flat(o)]
    return [] if out is None else [out]


def _run(lib, name, kw, shape, call, state=None):
    """("raises", what) or ("returns", outputs, input grad, {param: grad}, module)."""
    rng = np.random.default_rng(0)
    lib.manual_seed(0)
    try:
        m = getattr(lib.nn, name)(**kw).double()
    except Exception as e:  # noqa: BLE001 - the outcome kind is compared
        return "raises", f"{type(e).__name__}: {e}"
    if state is not None:
        copy_to_torch(state, m)
    if "train" in call:
        m.train(call["train"])
    x = lib.tensor(rng.standard_normal(shape), requires_grad=True)
    try:
        if name == "MultiheadAttention":
            lead = shape[:-1]
            n_lk = (lead[0], call["lk"]) if kw["batch_first"] else (call["lk"], lead[1])
            k = lib.tensor(rng.standard_normal(n_lk + (call["kdim"],)))
            v = lib.tensor(rng.standard_normal(n_lk + (call["vdim"],)))
            extra = {}
            if call["causal_mask"]:
                extra["attn_mask"] = lib.tensor(np.triu(np.ones((shape[1 if kw["batch_first"] else 0],) * 2), 1) > 0)
            if call["pad_mask"]:
                pm = np.zeros((lead[0] if kw["batch_first"] else lead[1], call["lk"]), bool)
                pm[:, -1] = call["lk"] > 1
                extra["key_padding_mask"] = lib.tensor(pm)
            out = m(x, k, v, need_weights=call["need_weights"], average_attn_weights=call["average_attn_weights"],
                    **extra)
        elif name == "TransformerDecoderLayer":
            lead = shape[:-1]
            mem_shape = ((lead[0], call["lk"]) if kw["batch_first"] else (call["lk"], lead[1])) + (shape[-1],)
            memory = lib.tensor(rng.standard_normal(mem_shape), requires_grad=True)
            out = m(x, memory)
        else:
            out = m(x)
        outs = [o for o in _flat(out) if o.dtype in (lib.float64,)]
        loss = sum(((o * lib.tensor(np.random.default_rng(i + 1).standard_normal(tuple(o.shape)))).sum()
                    for i, o in enumerate(outs) if o.requires_grad), 0)
        if not isinstance(loss, int):
            loss.backward()
    except Exception as e:  # noqa: BLE001
        return "raises", f"{type(e).__name__}: {e}"
    grads = {k: (None if p.grad is None else _arr(p.grad)) for k, p in m.named_parameters()}
    return "returns", [_arr(o) for o in _flat(out)], None if x.grad is None else _arr(x.grad), grads, m


@pytest.mark.parametrize("name", list(SPECS))
def test_module_matches_torch(name):
    @SETTINGS_M
    @given(case=SPECS[name])
    def check(case):
        kw, shape, call = case
        ours = _run(tg, name, kw, shape, call)
        theirs = _run(torch, name, kw, shape, call, state=ours[-1] if ours[0] == "returns" else None)
        where = f"{name}({kw}) on {shape} {call}"
        assert ours[0] == theirs[0], f"{where}: torch {theirs[0]} {theirs[1] if theirs[0] == 'raises' else ''}, " \
                                     f"tensorgrad {ours[0]} {ours[1] if ours[0] == 'raises' else ''}"
        if ours[0] == "raises":
            return
        _, o1, gx1, gp1, _ = ours
        _, o2, gx2, gp2, _ = theirs
        assert len(o1) == len(o2), f"{where}: {len(o1)} outputs, torch {len(o2)}"
        for i, (a, b) in enumerate(zip(o1, o2)):
            assert a.shape == b.shape, f"{where}: output {i} shape {a.shape}, torch {b.shape}"
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-10, err_msg=f"{where}: output {i}")
        assert (gx1 is None) == (gx2 is None), f"{where}: input grad {gx1 is None} vs torch {gx2 is None}"
        if gx1 is not None:
            np.testing.assert_allclose(gx1, gx2, rtol=1e-9, atol=1e-10, err_msg=f"{where}: input grad")
        assert list(gp1) == list(gp2), f"{where}: parameters {list(gp1)} vs torch {list(gp2)}"
        for k in gp1:
            assert (gp1[k] is None) == (gp2[k] is None), f"{where}: grad of {k}"
            if gp1[k] is not None:
                np.testing.assert_allclose(gp1[k], gp2[k], rtol=1e-9, atol=1e-10, err_msg=f"{where}: grad of {k}")

    check()
