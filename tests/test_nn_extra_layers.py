"""nn.Bilinear / F.bilinear, nn.EmbeddingBag / F.embedding_bag, nn.ParameterDict, nn.Buffer, the lazy modules
(LazyLinear, LazyConv1d, LazyConv2d) vs torch: outputs, every input and parameter gradient with the same weights,
state_dict keys, reprs, initialisation ranges, errors."""
import numpy as np
import pytest
import torch

import tensorgrad as tg
from tensorgrad import nn
from helpers import assert_param_grads_match, copy_to_torch
from nn_extra_common import compare, F, TDT, TOL

torch.set_num_threads(1)
RNG = np.random.default_rng(0)
FLOATS = [np.float64, np.float32]


def _x(*shape):
    return RNG.standard_normal(shape)


def check_module(m, tm, *xs, dtype=np.float64, kwargs=None):
    """Forward and the gradients of every float input and every parameter of m vs tm (same weights)."""
    tol = TOL[dtype]
    m.to(dtype)
    tm.to(TDT[dtype])
    copy_to_torch(m, tm)
    kwargs = kwargs or {}
    y = compare(lambda L, *ts: (m if L is tg else tm)(*ts, **kwargs.get(L.__name__, {})), *xs, dtype=dtype)
    assert y.dtype == dtype
    assert_param_grads_match(m, tm, tol, tol)


# --------------------------------------------------------------------------------------------------- bilinear
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(5,), (4,), (2, 3)])
@pytest.mark.parametrize("bias", [True, False])
def test_bilinear_module(shape, bias, dtype):
    m, tm = nn.Bilinear(3, 4, 2, bias=bias), torch.nn.Bilinear(3, 4, 2, bias=bias)
    lead = shape if len(shape) > 1 or shape != (4,) else ()  # (4,): unbatched 1-D inputs
    check_module(m, tm, _x(*lead, 3), _x(*lead, 4), dtype=dtype)


def test_bilinear_functional_size0_and_init():
    compare(lambda L, a, b, w, c: F(L).bilinear(a, b, w, c), _x(0, 3), _x(0, 4), _x(5, 3, 4), _x(5))
    compare(lambda L, a, b, w: F(L).bilinear(a, b, w), _x(2, 3), _x(2, 4), _x(5, 3, 4))
    m = nn.Bilinear(16, 3, 40)
    bound = 1 / 4
    w = m.weight.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound
    assert np.abs(m.bias.detach().numpy()).max() <= bound
    assert repr(m) == repr(torch.nn.Bilinear(16, 3, 40))
    assert list(m.state_dict()) == ["weight", "bias"]


@pytest.mark.parametrize("args", [((2, 3), (3, 4), (5, 3, 4)), ((2, 3), (4,), (5, 3, 4)), ((2, 3), (2, 4), (5, 2, 4)),
                                  ((2, 3), (2, 5), (5, 3, 4))])
def test_bilinear_errors(args):
    for L in (tg, torch):
        with pytest.raises(RuntimeError):
            F(L).bilinear(*(L.ones(*s) for s in args))
    for L in (tg, torch):
        with pytest.raises(RuntimeError):
            F(L).bilinear(L.ones(2, 3), L.ones(2, 4), L.ones(5, 3, 4), L.ones(4))


# ----------------------------------------------------------------------------------------------- embedding_bag
BAGS = [  # (input, offsets, include_last_offset)
    (np.array([0, 2, 1, 4, 4, 3, 1, 0, 2]), np.array([0, 2, 2, 6]), False),   # with an empty bag
    (np.array([0, 2, 1, 4, 4, 3, 1, 0, 2]), np.array([0, 3, 3, 7, 9]), True),
    (np.array([[0, 2, 1], [4, 4, 3], [1, 1, 2]]), None, False),                 # 2-D: fixed-size bags
    (np.array([], dtype=np.int64), np.array([0, 0]), False),                    # empty bags only
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("bag", range(len(BAGS)))
@pytest.mark.parametrize("padding_idx", [None, 1, -1])
def test_embedding_bag_functional(bag, mode, padding_idx, dtype):
    idx, off, last = BAGS[bag]
    w = _x(5, 3)
    w[2] = w[0]  # a tie for max: the first maximal row gets the gradient, as torch's max_indices
    off_t = {L: None if off is None else L.tensor(off) for L in (tg, torch)}
    compare(lambda L, w_, i: F(L).embedding_bag(i, w_, off_t[L], mode=mode, include_last_offset=last,
                                                padding_idx=padding_idx),
            w, idx, dtype=dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("bag", [0, 1, 3])
def test_embedding_bag_per_sample_weights(bag, dtype):
    idx, off, last = BAGS[bag]
    psw = RNG.random(idx.shape)
    off_t = {L: None if off is None else L.tensor(off) for L in (tg, torch)}
    compare(lambda L, w_, i, p: F(L).embedding_bag(i, w_, off_t[L], mode="sum", per_sample_weights=p,
                                                   include_last_offset=last, padding_idx=2),
            _x(5, 3), idx, psw, dtype=dtype)


def test_embedding_bag_scale_grad_by_freq_and_max_norm():
    """scale_grad_by_freq divides each row's gradient by its count in the batch, as F.embedding's (torch's own
    embedding_bag scales by the wrong counts, e.g. row 2 of [0, 2, 2, 4, 2, 0] by 2, so it is not the oracle)."""
    idx, off = np.array([0, 2, 2, 4, 2, 0]), np.array([0, 3])
    for mode in ("sum", "mean"):
        def via_embedding(L, w_, i):
            if L is tg:
                return F(L).embedding_bag(i, w_, L.tensor(off), mode=mode, scale_grad_by_freq=True)
            rows = F(L).embedding(i, w_, scale_grad_by_freq=True)
            bags = torch.stack([rows[:3].sum(0), rows[3:].sum(0)])
            return bags / 3 if mode == "mean" else bags
        compare(via_embedding, _x(5, 3), idx)
    w = _x(5, 3) * 3
    ws = {L: L.tensor(w.copy()) for L in (tg, torch)}
    outs = [F(L).embedding_bag(L.tensor(idx), ws[L], L.tensor(off), max_norm=1.5, norm_type=1.0).numpy()
            for L in (tg, torch)]
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-12)
    np.testing.assert_allclose(ws[tg].numpy(), ws[torch].numpy(), rtol=1e-12)  # rows renormalized in place


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("kw", [dict(mode="sum"), dict(mode="mean", padding_idx=0), dict(mode="max"),
                                dict(mode="sum", include_last_offset=True)])
def test_embedding_bag_module(kw, dtype):
    m, tm = nn.EmbeddingBag(6, 4, **kw), torch.nn.EmbeddingBag(6, 4, **kw)
    assert repr(m) == repr(tm)
    # (include_last_offset: offsets end at the input's length, as torch's docs ask; its float32 and float64 kernels
    # differ when they do not)
    idx, off = np.array([1, 5, 0, 3, 3, 2, 4]), np.array([0, 2, 2, 5] + [7] * kw.get("include_last_offset", 0))
    kwargs = {"tensorgrad": {"offsets": tg.tensor(off)}, "torch": {"offsets": torch.tensor(off)}}
    check_module(m, tm, idx, dtype=dtype, kwargs=kwargs)
    if "padding_idx" in kw:
        assert (m.weight.detach().numpy()[0] == 0).all()


def test_embedding_bag_module_misc():
    m = nn.EmbeddingBag(4, 2, mode="sum", padding_idx=-1)
    assert m.padding_idx == 3 and repr(m) == repr(torch.nn.EmbeddingBag(4, 2, mode="sum", padding_idx=-1))
    pre = nn.EmbeddingBag.from_pretrained(tg.tensor(_x(4, 2)), mode="max")
    assert not pre.weight.requires_grad and pre.mode == "max"
    y = pre(tg.tensor([[0, 1], [2, 3]]))
    assert y.shape == (2, 2)
    with pytest.raises(ValueError):  # (torch asserts: AssertionError)
        nn.EmbeddingBag(4, 2, padding_idx=4)


EB_ERRORS = [
    (RuntimeError, lambda L: F(L).embedding_bag(L.tensor([0, 1]), L.ones(5, 3), L.tensor([1]))),
    (RuntimeError, lambda L: F(L).embedding_bag(L.tensor([0, 1]), L.ones(5, 3), L.tensor([0, 3]))),
    (RuntimeError, lambda L: F(L).embedding_bag(L.tensor([0, 9]), L.ones(5, 3), L.tensor([0]))),
    (RuntimeError, lambda L: F(L).embedding_bag(L.tensor([0, 1]), L.ones(5, 3), L.tensor([0]), padding_idx=7)),
    (RuntimeError, lambda L: F(L).embedding_bag(L.tensor([0.0, 1.0]), L.ones(5, 3), L.tensor([0]))),
    (ValueError, lambda L: F(L).embedding_bag(L.tensor([[0, 1]]), L.ones(5, 3), L.tensor([0]))),
    (ValueError, lambda L: F(L).embedding_bag(L.tensor([0, 1]), L.ones(5, 3))),
    (ValueError, lambda L: F(L).embedding_bag(L.tensor([0, 1]), L.ones(5, 3), L.tensor([[0]]))),
    (ValueError, lambda L: F(L).embedding_bag(L.tensor([[[0]]]), L.ones(5, 3))),
    (ValueError, lambda L: F(L).embedding_bag(L.tensor([0, 1]), L.ones(5, 3, 1), L.tensor([0]))),
    (ValueError, lambda L: F(L).embedding_bag(L.tensor([0, 1]), L.ones(5, 3), L.tensor([0]), mode="min")),
    (ValueError, lambda L: F(L).embedding_bag(L.tensor([0, 1]), L.ones(5, 3), L.tensor([0]), mode="max",
                                              scale_grad_by_freq=True)),
    (ValueError, lambda L: F(L).embedding_bag(L.tensor([0, 1]), L.ones(5, 3), L.tensor([0]),
                                              per_sample_weights=L.ones(3))),
    (NotImplementedError, lambda L: F(L).embedding_bag(L.tensor([0, 1]), L.ones(5, 3), L.tensor([0]), mode="mean",
                                                       per_sample_weights=L.ones(2))),
]


@pytest.mark.parametrize("exc,fn", EB_ERRORS)
def test_embedding_bag_errors(exc, fn):
    for L in (tg, torch):
        with pytest.raises(exc):
            fn(L)


# ------------------------------------------------------------------------------------------ ParameterDict
def test_parameter_dict():
    for L in (tg, torch):
        d = L.nn.ParameterDict({"b": L.nn.Parameter(L.ones(2, 3)), "a": L.zeros(2)})
        d["c"] = L.nn.Parameter(L.ones(1))
        d.update([("e", L.ones(4))])
        assert list(d.keys()) == ["a", "b", "c", "e"]  # a plain dict is taken in sorted order
        assert isinstance(d["a"], L.nn.Parameter) and d["a"].requires_grad
        assert "c" in d and len(d) == 4 and list(d) == ["a", "b", "c", "e"]
        assert [k for k, _ in d.named_parameters()] == ["a", "b", "c", "e"]
        assert list(d.state_dict()) == ["a", "b", "c", "e"]
        p = d.pop("c")
        assert tuple(p.shape) == (1,) and "c" not in d and len(list(d.parameters())) == 3
        del d["e"]
        assert list(d.keys()) == ["a", "b"]
        assert d.get("zz") is None and d.setdefault("f", L.ones(1)) is d["f"]
        assert list(d.values())[0] is d["a"]
        k, v = d.popitem()
        assert k == "f"
    torch_repr = repr(torch.nn.ParameterDict({"a": torch.nn.Parameter(torch.ones(2, 3)), "b": torch.zeros(2)}))
    ours = repr(nn.ParameterDict({"a": nn.Parameter(tg.ones(2, 3)), "b": tg.zeros(2)}).float())
    assert ours == torch_repr


def test_parameter_dict_in_a_model_trains():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.p = nn.ParameterDict({"w": tg.tensor(_x(3, 2)), "b": tg.zeros(2)})

        def forward(self, x):
            return x @ self.p["w"] + self.p["b"]

    m = M()
    assert list(m.state_dict()) == ["p.b", "p.w"]
    m(tg.tensor(_x(4, 3))).sum().backward()
    assert m.p["w"].grad is not None and m.p["b"].grad.shape == (2,)


# ---------------------------------------------------------------------------------------------------- Buffer
def test_buffer_registers():
    for L in (tg, torch):
        class M(L.nn.Module):
            def __init__(self):
                super().__init__()
                self.running = L.nn.Buffer(L.zeros(3))
                self.scratch = L.nn.Buffer(L.ones(2), persistent=False)
                self.plain = L.ones(1)  # a plain Tensor attribute is not a buffer

        m = M()
        assert [k for k, _ in m.named_buffers()] == ["running", "scratch"]
        assert list(m.state_dict()) == ["running"]
        m.running = L.nn.Buffer(L.ones(3), persistent=False)
        assert list(m.state_dict()) == []
        m.double()
        assert m.running.dtype == L.float64 and isinstance(m.running, L.Tensor)
        assert not L.nn.Buffer(L.ones(2)).requires_grad


# ------------------------------------------------------------------------------------------------------ lazy
def test_lazy_linear():
    m = nn.LazyLinear(4)
    assert repr(m) == repr(torch.nn.LazyLinear(4))
    assert isinstance(m.weight, nn.UninitializedParameter) and m.has_uninitialized_params()
    x = tg.tensor(_x(2, 5).astype(np.float32))
    y = m(x)
    assert type(m) is nn.Linear and m.in_features == 5 and tuple(m.weight.shape) == (4, 5)
    assert type(m.weight) is nn.Parameter and m.weight.dtype == np.float32
    assert repr(m) == "Linear(in_features=5, out_features=4, bias=True)"
    bound = 1 / np.sqrt(5)
    assert np.abs(m.weight.detach().numpy()).max() <= bound and np.abs(m.bias.detach().numpy()).max() <= bound
    tm = torch.nn.Linear(5, 4)
    check_module(m, tm, _x(3, 5))
    assert y.shape == (2, 4)
    nb = nn.LazyLinear(3, bias=False, dtype=tg.float64)
    nb(tg.tensor(_x(7)))
    assert nb.bias is None and nb.weight.shape == (3, 7) and nb.weight.dtype == np.float64


def test_lazy_load_state_dict():
    src = nn.Linear(6, 2)
    m = nn.LazyLinear(2)
    m.load_state_dict(src.state_dict())
    assert type(m) is nn.Linear and m.in_features == 6
    np.testing.assert_array_equal(m.weight.detach().numpy(), src.weight.detach().numpy())


@pytest.mark.parametrize("cls,shape", [("LazyConv1d", (2, 3, 9)), ("LazyConv1d", (3, 9)), ("LazyConv2d", (2, 4, 6, 5)),
                                       ("LazyConv3d", (2, 3, 4, 5, 4))])
def test_lazy_conv(cls, shape):
    m = getattr(nn, cls)(6, 3, stride=2, padding=1)
    assert repr(m) == repr(getattr(torch.nn, cls)(6, 3, stride=2, padding=1))
    m(tg.tensor(_x(*shape).astype(np.float32)))
    plain = cls.replace("Lazy", "")
    assert type(m) is getattr(nn, plain)
    cin = shape[1] if len(shape) == len(m.kernel_size) + 2 else shape[0]
    assert m.in_channels == cin
    tm = getattr(torch.nn, plain)(cin, 6, 3, stride=2, padding=1)
    assert repr(m) == repr(tm)
    check_module(m, tm, _x(*shape))


def test_lazy_conv_groups():
    m = nn.LazyConv2d(4, 1, groups=2)
    m(tg.tensor(_x(1, 6, 2, 2).astype(np.float32)))
    assert m.weight.shape == (4, 3, 1, 1)
    with pytest.raises(ValueError):
        nn.LazyConv2d(4, 1, groups=2)(tg.tensor(_x(1, 5, 2, 2).astype(np.float32)))
