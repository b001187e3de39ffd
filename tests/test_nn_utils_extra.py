"""nn.init's orthogonal_ / eye_ / dirac_ / sparse_ and the deprecated un-suffixed spellings; nn.utils' fusion,
stateless.functional_call, get_total_norm / clip_grads_with_norm_ and skip_init, against torch. The random
initialisers are checked by their properties (orthogonality, zeros per column, moments), the rest value for
value on the same NumPy inputs."""
import warnings

import numpy as np
import pytest
import torch

import tensorgrad as tg

RNG = np.random.default_rng(1)


def _np(t):
    return t.detach().numpy() if isinstance(t, torch.Tensor) else np.asarray(t.detach())


# ------------------------------------------------------------------------------------------ nn.init
@pytest.mark.parametrize("shape", [(3, 3), (4, 7), (7, 4), (6, 2, 3, 3), (2, 5, 3)])
@pytest.mark.parametrize("gain", [1.0, 2.5])
def test_orthogonal_is_orthogonal(shape, gain):
    w = tg.nn.init.orthogonal_(tg.empty(*shape, dtype=tg.float64), gain=gain)
    m = _np(w).reshape(shape[0], -1) / gain
    gram = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
    np.testing.assert_allclose(gram, np.eye(min(m.shape)), atol=1e-12)


def test_orthogonal_is_uniform_over_the_group():
    """Haar-distributed 3x3 orthogonal matrices: each entry has mean 0 and variance 1/3 (torch's sign fix; without
    it the diagonal would be biased)."""
    tg.manual_seed(3)
    mats = np.stack([_np(tg.nn.init.orthogonal_(tg.empty(3, 3, dtype=tg.float64))) for _ in range(3000)])
    assert np.abs(mats.mean(0)).max() < 0.04
    np.testing.assert_allclose(mats.var(0), 1 / 3, atol=0.03)
    g = tg.Generator().manual_seed(5)
    a = _np(tg.nn.init.orthogonal_(tg.empty(4, 4), generator=g))
    b = _np(tg.nn.init.orthogonal_(tg.empty(4, 4), generator=tg.Generator().manual_seed(5)))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("shape", [(3, 3), (2, 5), (5, 2), (0, 3)])
def test_eye_matches_torch(shape):
    for dt in ("float32", "float64"):
        t = torch.nn.init.eye_(torch.empty(*shape, dtype=getattr(torch, dt), requires_grad=True))
        g = tg.nn.init.eye_(tg.empty(*shape, dtype=getattr(tg, dt), requires_grad=True))
        np.testing.assert_array_equal(_np(g), _np(t))
        assert g.requires_grad and g.is_leaf


@pytest.mark.parametrize("shape,groups", [((4, 4, 3), 1), ((6, 3, 3, 3), 1), ((4, 2, 3, 3), 2), ((6, 1, 2, 3, 4), 3),
                                          ((2, 5, 4, 4), 1), ((8, 2, 5), 4)])
def test_dirac_matches_torch(shape, groups):
    t = torch.nn.init.dirac_(torch.empty(*shape), groups=groups)
    g = tg.nn.init.dirac_(tg.empty(*shape), groups=groups)
    np.testing.assert_array_equal(_np(g), _np(t))


@pytest.mark.parametrize("sparsity", [0.0, 0.1, 0.5, 0.9, 1.0])
def test_sparse_zeroes_the_right_count_per_column(sparsity):
    rows, cols = 40, 300
    w = _np(tg.nn.init.sparse_(tg.empty(rows, cols, dtype=tg.float64), sparsity, std=0.5))
    want = int(np.ceil(sparsity * rows))
    # a drawn normal is never exactly 0, so every zero is one sparse_ set
    np.testing.assert_array_equal((w == 0).sum(0), np.full(cols, want))
    nz = w[w != 0]
    if nz.size > 1000:
        assert abs(nz.mean()) < 0.03 and abs(nz.std() - 0.5) < 0.03


def test_init_errors_match_torch():
    cases = [("eye_", (3,), {}), ("eye_", (2, 2, 2), {}), ("dirac_", (3, 3), {}), ("dirac_", (5, 2, 3), dict(groups=2)),
             ("orthogonal_", (4,), {}), ("sparse_", (2, 2, 2), dict(sparsity=0.5))]
    for name, shape, kw in cases:
        msgs = []
        for lib in (torch, tg):
            with pytest.raises(ValueError) as e:
                getattr(lib.nn.init, name)(lib.empty(*shape), **kw)
            msgs.append(str(e.value))
        assert msgs[1].startswith(msgs[0]), (name, msgs)


@pytest.mark.parametrize("name,args", [("uniform", (-1, 2)), ("normal", (0, 3)), ("constant", (0.5,)), ("eye", ()),
                                       ("dirac", ()), ("xavier_uniform", ()), ("xavier_normal", ()),
                                       ("kaiming_uniform", ()), ("kaiming_normal", ()), ("orthogonal", ()),
                                       ("sparse", (0.5,))])
def test_deprecated_spellings_warn_as_torch_and_do_the_same(name, args):
    shape = (4, 3, 3) if name == "dirac" else (6, 5)
    msgs = []
    for lib in (torch, tg):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = getattr(lib.nn.init, name)(lib.empty(*shape, dtype=lib.float64), *args)
        msgs.append([(w.category, str(w.message)) for w in caught])
        assert out.shape == shape
        if name in ("constant", "eye", "dirac"):
            np.testing.assert_array_equal(_np(out), _np(getattr(torch.nn.init, name + "_")(
                torch.empty(*shape, dtype=torch.float64), *args)))
    assert msgs[0] == msgs[1] and msgs[0][0][0] is FutureWarning, msgs
    assert name in tg.nn.init.__all__ and name + "_" in tg.nn.init.__all__


# ------------------------------------------------------------------------------------------ fusion
@pytest.mark.parametrize("conv", ["conv1d", "conv2d", "conv3d", "convT2d", "conv2d_nobias"])
@pytest.mark.parametrize("affine", [True, False])
def test_fuse_conv_bn_eval_matches_torch(conv, affine):
    spec = {"conv1d": ("Conv1d", "BatchNorm1d", (2, 3, 9), {}), "conv2d": ("Conv2d", "BatchNorm2d", (2, 3, 6, 5), {}),
            "conv3d": ("Conv3d", "BatchNorm3d", (2, 3, 4, 4, 4), {}),
            "convT2d": ("ConvTranspose2d", "BatchNorm2d", (2, 3, 5, 5), {}),
            "conv2d_nobias": ("Conv2d", "BatchNorm2d", (2, 3, 6, 5), dict(bias=False))}[conv]
    cls, bn_cls, shape, kw = spec
    x = RNG.standard_normal(shape)
    outs = []
    tconv = getattr(torch.nn, cls)(3, 4, 3, **kw).double().eval()
    tbn = getattr(torch.nn, bn_cls)(4, affine=affine).double().eval()
    with torch.no_grad():
        tbn.running_mean.copy_(torch.tensor(RNG.standard_normal(4)))
        tbn.running_var.copy_(torch.tensor(RNG.uniform(0.5, 2, 4)))
        if affine:
            tbn.weight.copy_(torch.tensor(RNG.standard_normal(4)))
            tbn.bias.copy_(torch.tensor(RNG.standard_normal(4)))
    for lib in (torch, tg):
        c = getattr(lib.nn, cls)(3, 4, 3, **kw).double().eval()
        bn = getattr(lib.nn, bn_cls)(4, affine=affine).double().eval()
        c.load_state_dict({k: lib.tensor(v.numpy()) for k, v in tconv.state_dict().items()})
        bn.load_state_dict({k: lib.tensor(v.numpy()) for k, v in tbn.state_dict().items()})
        fused = lib.nn.utils.fuse_conv_bn_eval(c, bn, transpose=conv == "convT2d")
        assert fused is not c and isinstance(fused.weight, lib.nn.Parameter) and fused.bias is not None
        y = fused(lib.tensor(x))
        np.testing.assert_allclose(_np(y), _np(bn(c(lib.tensor(x)))), rtol=1e-10, atol=1e-12)
        outs.append((_np(y), _np(fused.weight), _np(fused.bias)))
    for a, b in zip(*outs):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-14)
    for lib in (torch, tg):
        with pytest.raises(AssertionError, match="Fusion only for eval"):
            lib.nn.utils.fuse_conv_bn_eval(getattr(lib.nn, cls)(3, 4, 3), getattr(lib.nn, bn_cls)(4))


def test_fuse_linear_bn_eval_matches_torch():
    tl, tbn = torch.nn.Linear(5, 4).double().eval(), torch.nn.BatchNorm1d(4).double().eval()
    with torch.no_grad():
        tbn.running_mean.copy_(torch.tensor(RNG.standard_normal(4)))
        tbn.running_var.copy_(torch.tensor(RNG.uniform(0.5, 2, 4)))
        tbn.weight.copy_(torch.tensor(RNG.standard_normal(4)))
    gl, gbn = tg.nn.Linear(5, 4).double().eval(), tg.nn.BatchNorm1d(4).double().eval()
    gl.load_state_dict({k: v.numpy() for k, v in tl.state_dict().items()})
    gbn.load_state_dict({k: v.numpy() for k, v in tbn.state_dict().items()})
    x = RNG.standard_normal((3, 5))
    tf, gf = torch.nn.utils.fuse_linear_bn_eval(tl, tbn), tg.nn.utils.fuse_linear_bn_eval(gl, gbn)
    np.testing.assert_allclose(_np(gf(tg.tensor(x))), _np(tf(torch.tensor(x))), rtol=1e-12)
    np.testing.assert_allclose(_np(gf(tg.tensor(x))), _np(gbn(gl(tg.tensor(x)))), rtol=1e-10)
    for lib in (torch, tg):
        with pytest.raises(AssertionError, match="linear.out_features == bn.num_features"):
            lib.nn.utils.fuse_linear_bn_eval(lib.nn.Linear(5, 4).eval(), lib.nn.BatchNorm1d(3).eval())


# ------------------------------------------------------------------------------------------ functional_call
def _mlp(lib):
    return lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.BatchNorm1d(4), lib.nn.Tanh(), lib.nn.Linear(4, 2)).double()


def test_functional_call_matches_torch():
    tm, gm = _mlp(torch), _mlp(tg)
    gm.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    before = {k: _np(v).copy() for k, v in gm.state_dict().items()}
    new = {"0.weight": RNG.standard_normal((4, 3)), "3.bias": RNG.standard_normal(2),
           "1.running_mean": RNG.standard_normal(4)}
    x = RNG.standard_normal((5, 3))
    res = []
    for lib, m in ((torch, tm), (tg, gm)):
        params = {k: lib.tensor(v, requires_grad=k != "1.running_mean") for k, v in new.items()}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            y = lib.nn.utils.stateless.functional_call(m, params, (lib.tensor(x),))
        assert any(issubclass(w.category, FutureWarning) for w in caught)
        y.pow(2).sum().backward()
        res.append((_np(y), _np(params["0.weight"].grad), _np(params["3.bias"].grad), _np(m[1].running_mean),
                    _np(m[0].weight)))
        assert m[0].weight.grad is None and m[3].bias.grad is None  # the replaced ones got no gradient
        assert m[3].weight.grad is not None
    for a, b in zip(*res):
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(_np(gm[0].weight), before["0.weight"])  # put back


def test_functional_call_strict_and_tied():
    for lib in (torch, tg):
        m = lib.nn.Linear(2, 2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(RuntimeError, match="Missing key\\(s\\): 'bias'"):
                lib.nn.utils.stateless.functional_call(m, {"weight": lib.zeros(2, 2)}, lib.zeros(1, 2), strict=True)
            seq = lib.nn.Sequential(lib.nn.Linear(2, 2, bias=False), lib.nn.Linear(2, 2, bias=False))
            seq[1].weight = seq[0].weight
            y = lib.nn.utils.stateless.functional_call(seq, {"0.weight": 2 * lib.eye(2)}, lib.ones(1, 2))
            np.testing.assert_array_equal(_np(y), [[4.0, 4.0]])  # the tied 1.weight took the value too
            with pytest.raises(ValueError, match="tied"):
                lib.nn.utils.stateless.functional_call(seq, {"0.weight": lib.eye(2), "1.weight": 2 * lib.eye(2)},
                                                       lib.ones(1, 2))


# ------------------------------------------------------------------------------------------ norms, skip_init
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf"), 0.5])
@pytest.mark.parametrize("max_norm", [0.1, 100.0])
def test_get_total_norm_and_clip_grads_with_norm_match_torch(norm_type, max_norm):
    shapes = [(3, 4), (5,), (2, 2, 2)]
    grads = [RNG.standard_normal(s) for s in shapes]
    out = []
    for lib in (torch, tg):
        ps = [lib.zeros(s, dtype=lib.float64, requires_grad=True) for s in shapes]
        for p, g in zip(ps, grads):
            p.grad = lib.tensor(g)
        total = lib.nn.utils.get_total_norm([p.grad for p in ps], norm_type)
        lib.nn.utils.clip_grads_with_norm_(ps, max_norm, total)
        out.append([_np(total)] + [_np(p.grad) for p in ps])
        assert tuple(total.shape) == ()
    for a, b in zip(*out):
        np.testing.assert_allclose(b, a, rtol=1e-12)
    for lib in (torch, tg):
        assert float(lib.nn.utils.get_total_norm([])) == 0.0
        with pytest.raises(RuntimeError, match="non-finite"):
            lib.nn.utils.get_total_norm([lib.tensor([float("nan")])], error_if_nonfinite=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            p = lib.ones(2, requires_grad=True)
            p.grad = lib.tensor([3.0, 4.0])
            n = lib.nn.utils.clip_grad_norm(p, 1.0)
        assert float(n) == 5.0 and any(issubclass(w.category, FutureWarning) for w in caught)


def test_skip_init():
    for lib in (torch, tg):
        m = lib.nn.utils.skip_init(lib.nn.Linear, 3, 4)
        assert isinstance(m, lib.nn.Linear) and tuple(m.weight.shape) == (4, 3)
        with pytest.raises(RuntimeError, match="Expected a Module"):
            lib.nn.utils.skip_init(int, 3)

        class NoDevice(lib.nn.Module):
            def __init__(self, n):
                super().__init__()
        with pytest.raises(RuntimeError, match="support a 'device' arg"):
            lib.nn.utils.skip_init(NoDevice, 3)
