"""tensorgrad.nn vs torch.nn: layers (forward + grads with identical weights), Module API, init, clipping."""
import copy
import math
from collections import OrderedDict

import numpy as np
import pytest
import torch

import tensorgrad as tg
from tensorgrad import nn
from tensorgrad.nn import functional as F
from helpers import copy_to_torch

torch.set_num_threads(1)  # tiny oracle ops: a thread pool only adds latency on a busy machine


def close(a, b, tol=1e-12):
    a = a.detach().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def check_layer(m, tm, x_np, dtype=np.float64, tol=1e-12, int_input=False):
    """Forward and every gradient (input and parameters) of m vs tm with the same weights."""
    m.to(dtype)
    tm.to({np.float64: torch.float64, np.float32: torch.float32}[np.dtype(dtype).type])
    copy_to_torch(m, tm)
    if int_input:
        x, tx = tg.tensor(x_np), torch.tensor(x_np)
    else:
        x = tg.tensor(x_np.astype(dtype), requires_grad=True)
        tx = torch.tensor(x_np.astype(dtype), requires_grad=True)
    y, ty = m(x), tm(tx)
    close(y.detach(), ty, tol)
    w = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    (y * tg.tensor(w)).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    if not int_input:
        close(x.grad, tx.grad, tol)
    tparams = dict(tm.named_parameters())
    for name, p in m.named_parameters():
        close(p.grad, tparams[name].grad, tol)


rng = np.random.default_rng(0)


@pytest.mark.parametrize("bias", [True, False])
def test_linear(bias):
    check_layer(nn.Linear(6, 4, bias=bias), torch.nn.Linear(6, 4, bias=bias), rng.standard_normal((2, 3, 6)))
    check_layer(nn.Linear(6, 4, bias=bias), torch.nn.Linear(6, 4, bias=bias), rng.standard_normal((5, 6)),
                dtype=np.float32, tol=1e-5)


def test_embedding():
    idx = np.array([[1, 2, 2], [0, 9, 1]])
    check_layer(nn.Embedding(10, 4), torch.nn.Embedding(10, 4), idx, int_input=True)


@pytest.mark.parametrize("kw", [{}, {"bias": False}, {"elementwise_affine": False}, {"eps": 1e-3}])
def test_layernorm(kw):
    m, tm = nn.LayerNorm(8, **kw), torch.nn.LayerNorm(8, **kw)
    if m.weight is not None:  # non-trivial affine params
        m.weight.array[...] = rng.standard_normal(8)
    if m.bias is not None:
        m.bias.array[...] = rng.standard_normal(8)
    check_layer(m, tm, rng.standard_normal((3, 5, 8)))


def test_layernorm_multi_dim_shape():
    check_layer(nn.LayerNorm((4, 5)), torch.nn.LayerNorm((4, 5)), rng.standard_normal((3, 4, 5)))


@pytest.mark.parametrize("make", [lambda T: T.GELU(), lambda T: T.GELU(approximate="tanh"), lambda T: T.ReLU(),
                                  lambda T: T.Tanh(), lambda T: T.Sigmoid(), lambda T: T.Identity(),
                                  lambda T: T.SiLU(), lambda T: T.Softmax(dim=-1)])
def test_activations(make):
    check_layer(make(nn), make(torch.nn), rng.standard_normal((4, 7)) + 0.05)


def test_sequential_mlp_and_losses():
    def build(T):
        return T.Sequential(T.Linear(5, 16), T.GELU(), T.LayerNorm(16), T.Dropout(0.0), T.Linear(16, 3))
    m, tm = build(nn), build(torch.nn)
    check_layer(m, tm, rng.standard_normal((6, 5)))
    x = rng.standard_normal((6, 5))
    y = np.array([0, 1, 2, 2, 1, 0])
    loss = nn.CrossEntropyLoss()(m(tg.tensor(x)), tg.tensor(y))
    tloss = torch.nn.CrossEntropyLoss()(tm(torch.tensor(x)), torch.tensor(y))
    close(loss.detach(), tloss)
    close(nn.MSELoss()(m(tg.tensor(x)), tg.zeros(6, 3, dtype=tg.float64)).detach(),
          torch.nn.MSELoss()(tm(torch.tensor(x)), torch.zeros(6, 3, dtype=torch.float64)))


# ------------------------------------------------------------------------------------------------ init
def test_default_init_matches_pytorch_distributions():
    lin = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    w, b = lin.weight.detach().numpy(), lin.bias.detach().numpy()
    assert w.dtype == np.float32 and lin.weight.requires_grad and isinstance(lin.weight, nn.Parameter)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.01 * bound  # U(-b, b) has std b/sqrt(3)
    assert np.abs(b).max() <= bound
    emb = nn.Embedding(1000, 64).weight.detach().numpy()
    assert abs(emb.mean()) < 0.01 and abs(emb.std() - 1) < 0.01
    ln = nn.LayerNorm(7)
    assert (ln.weight.detach().numpy() == 1).all() and (ln.bias.detach().numpy() == 0).all()


def test_init_functions():
    t = tg.empty(200, 300, dtype=tg.float64)
    fan_in, fan_out = 300, 200
    nn.init.xavier_uniform_(t)
    a = math.sqrt(6 / (fan_in + fan_out))
    assert np.abs(t.numpy()).max() <= a and np.abs(t.numpy()).max() > 0.99 * a
    nn.init.xavier_normal_(t, gain=2.0)
    assert abs(t.numpy().std() - 2 * math.sqrt(2 / (fan_in + fan_out))) < 0.02 * t.numpy().std()
    nn.init.kaiming_normal_(t, nonlinearity="relu")
    assert abs(t.numpy().std() - math.sqrt(2 / fan_in)) < 0.02 * t.numpy().std()
    nn.init.kaiming_uniform_(t, mode="fan_out", nonlinearity="relu")
    assert np.abs(t.numpy()).max() <= math.sqrt(6 / fan_out)
    nn.init.trunc_normal_(t, std=0.5, a=-0.4, b=0.4)
    assert np.abs(t.numpy()).max() <= 0.4 and t.numpy().std() > 0.1
    nn.init.constant_(t, 3.0)
    assert (t.numpy() == 3).all()
    nn.init.zeros_(t)
    assert (t.numpy() == 0).all()
    nn.init.ones_(t)
    assert (t.numpy() == 1).all()
    nn.init.normal_(t, 2.0, 0.1)
    assert abs(t.numpy().mean() - 2) < 0.01
    # in place on a Parameter while grad mode is on, identity kept, no graph
    p = nn.Parameter(tg.zeros(3, 4))
    q = nn.init.uniform_(p, -1, 1)
    assert q is p and p.grad_fn is None and p.requires_grad and np.abs(p.detach().numpy()).max() <= 1
    # generator= makes draws reproducible and independent of the default generator
    g1, g2 = tg.Generator(seed=5), tg.Generator(seed=5)
    a1 = nn.init.normal_(tg.empty(10), generator=g1).numpy()
    tg.randn(3)
    a2 = nn.init.normal_(tg.empty(10), generator=g2).numpy()
    np.testing.assert_array_equal(a1, a2)
    assert nn.init.calculate_gain("tanh") == 5 / 3 and nn.init.calculate_gain("relu") == math.sqrt(2)


def test_manual_seed_reproducible_init():
    tg.manual_seed(123)
    a = nn.Linear(4, 4).weight.detach().numpy().copy()
    tg.manual_seed(123)
    b = nn.Linear(4, 4).weight.detach().numpy().copy()
    np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------------------------------ Module API
class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.ln = nn.LayerNorm(4)
        self.register_buffer("running", tg.zeros(4))
        self.register_buffer("scratch", tg.ones(2), persistent=False)
        self.scale = 2.0

    def forward(self, x):
        return self.ln(self.fc(x)) * self.scale


class TBlock(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3, 4)
        self.ln = torch.nn.LayerNorm(4)
        self.register_buffer("running", torch.zeros(4))
        self.register_buffer("scratch", torch.ones(2), persistent=False)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([Block(), Block()])
        self.heads = nn.ModuleDict({"a": nn.Linear(4, 2), "b": nn.Linear(4, 2, bias=False)})
        self.drop = nn.Dropout(0.5)


class TNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = torch.nn.ModuleList([TBlock(), TBlock()])
        self.heads = torch.nn.ModuleDict({"a": torch.nn.Linear(4, 2), "b": torch.nn.Linear(4, 2, bias=False)})
        self.drop = torch.nn.Dropout(0.5)


def test_registration_and_traversal_match_torch():
    m, tm = Net(), TNet()
    assert [n for n, _ in m.named_parameters()] == [n for n, _ in tm.named_parameters()]
    assert [n for n, _ in m.named_buffers()] == [n for n, _ in tm.named_buffers()]
    assert list(m.state_dict()) == list(tm.state_dict())  # non-persistent buffers excluded, same order
    assert [n for n, _ in m.named_modules()] == [n for n, _ in tm.named_modules()]
    assert [n for n, _ in m.named_children()] == [n for n, _ in tm.named_children()]
    assert repr(m) == repr(tm).replace("TNet", "Net").replace("TBlock", "Block")
    assert len(list(m.parameters())) == 11 and len(list(m.buffers())) == 4
    assert all(isinstance(p, nn.Parameter) and isinstance(p, tg.Tensor) for p in m.parameters())
    assert m.blocks[1].fc is m.get_submodule("blocks.1.fc")
    assert m.get_parameter("heads.a.bias") is m.heads["a"].bias
    assert "running" in dir(m.blocks[0]) and m.blocks[0].scale == 2.0
    for v in m.state_dict().values():
        assert not v.requires_grad and v.grad_fn is None
    # apply visits every module; children before parent
    seen = []
    m.apply(lambda mod: seen.append(type(mod).__name__))
    assert seen[-1] == "Net" and seen.count("Linear") == 4
    # reassignment / deletion
    blk = m.blocks[0]
    blk.fc = nn.Identity()
    assert "fc.weight" not in dict(blk.named_parameters())
    with pytest.raises(TypeError):
        blk.ln.weight = tg.ones(4)  # a plain Tensor is not a Parameter
    del blk.running
    assert "running" not in dict(blk.named_buffers())
    with pytest.raises(AttributeError):
        blk.nonexistent


def test_attribute_before_init_errors():
    class Bad(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)
    with pytest.raises(AttributeError, match="__init__"):
        Bad()


def test_train_eval_switches_dropout():
    m = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    assert m.training and m[1].training
    x = tg.ones(200, 4)
    lin = m[0](x).detach().numpy()
    y = m(x).detach().numpy()
    zero_frac = (y == 0).mean()
    assert 0.4 < zero_frac < 0.6
    np.testing.assert_allclose(y[y != 0], (2 * lin)[y != 0], rtol=1e-6)
    assert m.eval() is m and not m.training and not m[1].training
    np.testing.assert_array_equal(m(x).detach().numpy(), lin)
    m.train()
    assert m[1].training
    with pytest.raises(ValueError):
        m.train("yes")


def test_forward_hooks():
    m = nn.Sequential(nn.Linear(3, 3), nn.ReLU())
    calls = []
    h1 = m[0].register_forward_pre_hook(lambda mod, args: calls.append(("pre", type(mod).__name__, args[0].shape)))
    h2 = m[0].register_forward_hook(lambda mod, args, out: calls.append(("post", out.shape)))
    h3 = m.register_forward_hook(lambda mod, args, out: out * 0 + 7)  # a return value replaces the output
    out = m(tg.randn(2, 3))
    assert calls == [("pre", "Linear", (2, 3)), ("post", (2, 3))]
    assert (out.detach().numpy() == 7).all()
    # a pre-hook can replace the inputs
    h4 = m[0].register_forward_pre_hook(lambda mod, args: (args[0] * 0,))
    h1.remove(), h2.remove(), h3.remove()
    out = m(tg.randn(2, 3))
    np.testing.assert_allclose(out.detach().numpy(), np.maximum(m[0].bias.detach().numpy(), 0)[None].repeat(2, 0))
    h4.remove()
    calls.clear()
    m(tg.randn(2, 3))
    assert calls == []


def test_state_dict_roundtrip_and_strict_errors():
    a, b = Net(), Net()
    sd = a.state_dict()
    assert isinstance(sd, OrderedDict)
    res = b.load_state_dict(sd)
    assert res.missing_keys == [] and res.unexpected_keys == []
    for (k, v), (k2, v2) in zip(a.state_dict().items(), b.state_dict().items()):
        np.testing.assert_array_equal(v.numpy(), v2.numpy())
    # loading copies values (no aliasing) and keeps parameter identity
    w = b.blocks[0].fc.weight
    b.load_state_dict(a.state_dict())
    assert b.blocks[0].fc.weight is w and w.array is not a.blocks[0].fc.weight.array
    # values may be numpy arrays or torch tensors (loaded from a torch checkpoint)
    tsd = TNet().state_dict()
    b.load_state_dict({k: v for k, v in tsd.items()})
    np.testing.assert_array_equal(b.blocks[1].fc.weight.detach().numpy(), tsd["blocks.1.fc.weight"].numpy())
    b.load_state_dict({k: v.numpy() for k, v in sd.items()})
    np.testing.assert_array_equal(b.heads["a"].weight.detach().numpy(), sd["heads.a.weight"].numpy())

    bad = dict(sd)
    del bad["blocks.0.fc.bias"]
    bad["extra.weight"] = tg.zeros(1)
    with pytest.raises(RuntimeError) as e:
        b.load_state_dict(bad)
    msg = str(e.value)
    assert "Missing key(s)" in msg and '"blocks.0.fc.bias"' in msg
    assert "Unexpected key(s)" in msg and '"extra.weight"' in msg
    res = b.load_state_dict(bad, strict=False)
    assert res.missing_keys == ["blocks.0.fc.bias"] and res.unexpected_keys == ["extra.weight"]
    wrong = dict(sd)
    wrong["heads.a.weight"] = tg.zeros(3, 4)
    for strict in (True, False):
        with pytest.raises(RuntimeError, match=r"size mismatch for heads.a.weight.*\(3, 4\).*\(2, 4\)"):
            b.load_state_dict(wrong, strict=strict)


def test_weight_tying():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(7, 5)
            self.head = nn.Linear(5, 7, bias=False)
            self.head.weight = self.emb.weight

        def forward(self, idx):
            return self.head(self.emb(idx))

    m = Tied()
    names = [n for n, _ in m.named_parameters()]
    assert names == ["emb.weight"] and len(list(m.parameters())) == 1
    assert list(m.state_dict()) == ["emb.weight", "head.weight"]  # like torch: every name is saved
    idx = np.array([[1, 2, 3], [3, 6, 0]])
    logits = m(tg.tensor(idx))
    loss = F.cross_entropy(logits.reshape(-1, 7), tg.tensor(idx.reshape(-1)))
    loss.backward()
    tw = torch.tensor(m.emb.weight.detach().numpy(), requires_grad=True)
    tl = torch.nn.functional.cross_entropy((torch.nn.functional.embedding(torch.tensor(idx), tw) @ tw.T).reshape(-1, 7),
                                           torch.tensor(idx.reshape(-1)))
    tl.backward()
    np.testing.assert_allclose(m.emb.weight.grad.numpy(), tw.grad.numpy(), rtol=1e-5, atol=1e-6)
    # loading a state_dict with both names works and keeps them tied
    m2 = Tied()
    m2.load_state_dict(m.state_dict())
    assert m2.head.weight is m2.emb.weight


def test_zero_grad():
    m = nn.Linear(3, 2)
    m(tg.randn(4, 3)).sum().backward()
    m.zero_grad(set_to_none=False)
    assert m.weight.grad is not None and (m.weight.grad.numpy() == 0).all()
    m(tg.randn(4, 3)).sum().backward()
    assert np.abs(m.weight.grad.numpy()).sum() > 0
    m.zero_grad()
    assert m.weight.grad is None and m.bias.grad is None


def test_to_dtype_keeps_parameter_identity():
    m = Block()
    opt = tg.optim.SGD(m.parameters(), lr=0.1)
    ids = [id(p) for p in m.parameters()]
    assert m.to(tg.float64) is m
    assert [id(p) for p in m.parameters()] == ids
    assert all(p.dtype == np.float64 for p in m.parameters()) and m.running.dtype == np.float64
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in m.parameters())
    before = m.fc.weight.detach().numpy().copy()
    (m(tg.randn(2, 3, dtype=tg.float64)) * tg.randn(2, 4, dtype=tg.float64)).sum().backward()
    opt.step()  # the optimizer built before to() updates the converted parameters
    assert m.fc.weight.dtype == np.float64 and not np.allclose(m.fc.weight.detach().numpy(), before)
    m.float()
    assert m.fc.weight.dtype == np.float32 and m.fc.weight.grad.dtype == np.float32
    assert [id(p) for p in m.parameters()] == ids
    m.to("cpu", dtype=tg.float64)
    assert m.fc.weight.dtype == np.float64
    # integer buffers are not cast
    m.register_buffer("steps", tg.zeros(3, dtype=tg.int64))
    m.to(tg.float32)
    assert m.steps.dtype == np.int64


def test_containers():
    s = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    assert len(s) == 2 and isinstance(s[0], nn.Linear) and isinstance(s[-1], nn.ReLU)
    s.append(nn.Linear(3, 1))
    assert len(s) == 3 and [type(x).__name__ for x in s] == ["Linear", "ReLU", "Linear"]
    assert isinstance(s[1:], nn.Sequential) and len(s[1:]) == 2
    assert s(tg.randn(5, 2)).shape == (5, 1)
    with pytest.raises(IndexError):
        s[3]
    od = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.Tanh())]))
    assert [n for n, _ in od.named_children()] == ["fc", "act"] and od.fc is od[0]
    ml = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    ml.append(nn.ReLU())
    ml.extend([nn.Tanh()])
    assert len(ml) == 5 and isinstance(ml[-1], nn.Tanh) and len(list(ml.parameters())) == 6
    ml.insert(0, nn.Identity())
    assert isinstance(ml[0], nn.Identity) and len(ml) == 6 and isinstance(ml[1], nn.Linear)
    md = nn.ModuleDict({"x": nn.Linear(1, 1)})
    md["y"] = nn.ReLU()
    assert list(md.keys()) == ["x", "y"] and "x" in md and len(md) == 2
    assert [n for n, _ in md.named_parameters()] == ["x.weight", "x.bias"]
    pl = nn.ParameterList([tg.ones(2), tg.zeros(3)])
    assert len(list(pl.parameters())) == 2 and pl[1].shape == (3,)


def test_parameter_basics():
    p = nn.Parameter(tg.ones(2, 3))
    assert isinstance(p, tg.Tensor) and p.requires_grad and p.is_leaf and p.shape == (2, 3)
    q = nn.Parameter(np.zeros(3), requires_grad=False)
    assert not q.requires_grad and q.dtype == np.float64
    y = (p * 2).sum()
    assert type(p * 2) is tg.Tensor
    y.backward()
    np.testing.assert_array_equal(p.grad.numpy(), 2 * np.ones((2, 3)))
    assert repr(p).startswith("Parameter containing:\ntensor(")
    m = Net()
    m2 = copy.deepcopy(m)
    for (n, a), (_, b) in zip(m.named_parameters(), m2.named_parameters()):
        assert a is not b and isinstance(b, nn.Parameter)
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    assert m2.blocks[0].running is not m.blocks[0].running


# ------------------------------------------------------------------------------------------ clipping
@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf"), 3.0])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm(norm_type, max_norm):
    shapes = [(4, 3), (3,), (2, 2, 2)]
    gs = [np.random.default_rng(i).standard_normal(s) for i, s in enumerate(shapes)]
    ps = [nn.Parameter(tg.zeros(*s, dtype=tg.float64)) for s in shapes]
    tps = [torch.zeros(s, dtype=torch.float64, requires_grad=True) for s in shapes]
    for p, tp, g in zip(ps, tps, gs):
        p.grad = tg.tensor(g)
        tp.grad = torch.tensor(g)
    ps.append(nn.Parameter(tg.zeros(2)))  # no grad: ignored
    total = nn.utils.clip_grad_norm_(ps, max_norm, norm_type=norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(tps, max_norm, norm_type=norm_type)
    assert isinstance(total, tg.Tensor) and total.shape == ()
    np.testing.assert_allclose(total.item(), ttotal.item(), rtol=1e-12)
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_clip_grad_norm_float32_and_value():
    m = nn.Linear(5, 3)
    m(tg.randn(4, 5)).pow(2).sum().backward()
    tw, tb = (torch.tensor(p.grad.numpy().copy()) for p in (m.weight, m.bias))
    tps = [torch.zeros_like(tw, requires_grad=True), torch.zeros_like(tb, requires_grad=True)]
    tps[0].grad, tps[1].grad = tw, tb
    total = nn.utils.clip_grad_norm_(m.parameters(), 0.1)
    ttotal = torch.nn.utils.clip_grad_norm_(tps, 0.1)
    assert total.dtype == np.float32
    np.testing.assert_allclose(total.item(), ttotal.item(), rtol=1e-6)
    np.testing.assert_allclose(m.weight.grad.numpy(), tps[0].grad.numpy(), rtol=1e-5, atol=1e-7)
    nn.utils.clip_grad_value_(m.parameters(), 0.01)
    torch.nn.utils.clip_grad_value_(tps, 0.01)
    np.testing.assert_allclose(m.bias.grad.numpy(), tps[1].grad.numpy(), rtol=1e-6)
    with pytest.raises(RuntimeError, match="non-finite"):
        m.weight.grad.array[0, 0] = np.nan
        nn.utils.clip_grad_norm_(m.parameters(), 1.0, error_if_nonfinite=True)


def test_parameters_to_vector_roundtrip():
    m = nn.Linear(3, 2)
    v = nn.utils.parameters_to_vector(m.parameters())
    assert v.shape == (8,)
    nn.utils.vector_to_parameters(v * 0 + 1, m.parameters())
    assert (m.weight.detach().numpy() == 1).all() and (m.bias.detach().numpy() == 1).all()


def test_functional_importable():
    import tensorgrad.nn.functional as F2
    assert F2 is F and F.linear is tg.nn.functional.linear


def test_parameter_list_registers_items_as_torch():
    # torch's ParameterList registers each item by index: a Parameter as a parameter, a Tensor made one, a Module
    # (a nested ParameterList, as lucidrains' normalized_vit keeps its per-layer pairs of scales) as a submodule,
    # and any other object as an attribute; the state_dict keys and parameter order follow
    def build(lib):
        pl = lib.nn.ParameterList([lib.ones(2)])
        pl.append(lib.nn.ParameterList([lib.nn.Parameter(lib.zeros(3)), lib.nn.Parameter(lib.ones(1))]))
        pl.append(lib.nn.Linear(2, 2))
        pl.append("tag")
        pl += [lib.nn.Parameter(lib.ones(4))]
        return pl

    ours, theirs = build(tg), build(torch)
    assert len(ours) == len(theirs) == 5
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [tuple(p.shape) for p in ours.parameters()] == [tuple(p.shape) for p in theirs.parameters()]
    assert [type(x).__name__ for x in ours] == [type(x).__name__ for x in theirs]
    assert isinstance(ours[0], nn.Parameter) and ours[3] == "tag" and len(ours[1]) == 2
    assert [tuple(p.shape) for p in ours[3:][1:]] == [(4,)] and len(ours[-2:]) == 2
    ours[0] = tg.zeros(5)  # a Tensor set by index becomes a Parameter
    assert isinstance(ours[0], nn.Parameter) and ours[0].shape == (5,)
    theirs.load_state_dict({k: v.clone() for k, v in theirs.state_dict().items()})
    ours.load_state_dict({k: tg.tensor(v.detach().numpy()) if k != "0" else tg.zeros(5)
                          for k, v in theirs.state_dict().items()})
    with pytest.raises(IndexError):
        ours[5]
    with pytest.raises(TypeError, match="ParameterList.extend should be called with an iterable"):
        ours.extend(3)
