"""The torch.nn modules that were missing, each against torch: AdaptiveLogSoftmaxWithLoss, the lazy norms and
transposed convolutions, CrossMapLRN2d, NLLLoss2d, Container, and torch.nn.attention's sdpa_kernel / SDPBackend
(outputs, gradients, state_dicts, errors)."""
import warnings

import numpy as np
import pytest
import torch

import tensorgrad as tg
from helpers import assert_param_grads_match, copy_to_torch, raises


def _np(t):
    return np.asarray(t.detach().numpy() if isinstance(t, torch.Tensor) else t.detach().numpy())


# ------------------------------------------------------------------------------ AdaptiveLogSoftmaxWithLoss
def _asm_pair(cutoffs=(4, 9, 15), n_classes=20, head_bias=True):
    m = tg.nn.AdaptiveLogSoftmaxWithLoss(16, n_classes, list(cutoffs), div_value=2.0, head_bias=head_bias).double()
    tm = torch.nn.AdaptiveLogSoftmaxWithLoss(16, n_classes, list(cutoffs), div_value=2.0, head_bias=head_bias).double()
    copy_to_torch(m, tm)
    return m, tm


@pytest.mark.parametrize("targets", [[0, 3, 5, 19, 12, 4, 9, 1], [2, 2, 1], [18, 16, 15], [7]])
def test_adaptive_forward_backward(targets):
    m, tm = _asm_pair()
    x = np.random.default_rng(len(targets)).standard_normal((len(targets), 16))
    xg, xt = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, tout = m(xg, tg.tensor(targets)), tm(xt, torch.tensor(targets))
    np.testing.assert_allclose(_np(out.output), _np(tout.output), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(_np(out.loss), _np(tout.loss), rtol=1e-12)
    assert out._fields == tout._fields == ("output", "loss")
    w = np.random.default_rng(9).standard_normal(len(targets))
    (out.output * tg.tensor(w)).sum().backward()
    (tout.output * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(xg.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert_param_grads_match(m, tm, rtol=1e-10, atol=1e-12)


def test_adaptive_unbatched_log_prob_predict_state_dict():
    m, tm = _asm_pair(head_bias=False)
    assert list(m.state_dict()) == list(tm.state_dict())
    x = np.random.default_rng(0).standard_normal((6, 16)) * 3
    out, tout = m(tg.tensor(x[0]), tg.tensor(13)), tm(torch.tensor(x[0]), torch.tensor(13))
    assert out.output.shape == tuple(tout.output.shape) == ()
    np.testing.assert_allclose(_np(out.loss), _np(tout.loss), rtol=1e-12)
    np.testing.assert_allclose(_np(m.log_prob(tg.tensor(x))), _np(tm.log_prob(torch.tensor(x))), rtol=1e-12)
    # predict's three branches: rows all in the shortlist, none, and a mix (set by the head's bias)
    m, tm = _asm_pair(head_bias=True)
    x = np.random.default_rng(1).standard_normal((40, 16))
    for shift in ("short", "clusters", None):
        bias = np.zeros(m.head_size)
        if shift == "short":
            bias[:m.shortlist_size] = 1e3
        elif shift == "clusters":
            bias[m.shortlist_size:] = 1e3
        with torch.no_grad():
            tm.head.bias.copy_(torch.tensor(bias))
        m.head.bias.data.copy_(tg.tensor(bias))
        want = tm.predict(torch.tensor(x)).numpy()
        assert shift != "short" or (want < m.shortlist_size).all()
        assert shift != "clusters" or (want >= m.shortlist_size).all()
        assert shift or 0 < (want < m.shortlist_size).sum() < len(x)
        np.testing.assert_array_equal(m.predict(tg.tensor(x)).numpy(), want)


def test_adaptive_errors():
    for cutoffs in ([], [5, 3], [0, 4], [4, 20], [4, 4], [4.5]):
        with pytest.raises(ValueError):
            torch.nn.AdaptiveLogSoftmaxWithLoss(8, 20, cutoffs)
        with pytest.raises(ValueError):
            tg.nn.AdaptiveLogSoftmaxWithLoss(8, 20, cutoffs)
    m, tm = _asm_pair()
    x = np.zeros((2, 16))
    for xs, t, pat in ((x, [0, 20], r"Target values should be in \[0, 19\]"), (x, [0], "same size"),
                       (x, [[0, 1]], "multi-target"), (x[0], [1, 2], "same size"), (x, 3, "0D target")):
        with pytest.raises(RuntimeError):
            tm(torch.tensor(xs), torch.tensor(t))
        with raises(RuntimeError, pat):
            m(tg.tensor(xs), tg.tensor(t))


# ------------------------------------------------------------------------------ lazy modules
LAZY = [("LazyBatchNorm1d", (4, 3, 5), {}), ("LazyBatchNorm2d", (4, 3, 5, 2), dict(affine=False)),
        ("LazyBatchNorm3d", (2, 3, 2, 2, 2), dict(track_running_stats=False)),
        ("LazyBatchNorm1d", (6, 4), dict(momentum=None, bias=False)),
        ("LazyInstanceNorm1d", (2, 3, 6), dict(affine=True, track_running_stats=True)),
        ("LazyInstanceNorm2d", (2, 3, 4, 4), {}), ("LazyInstanceNorm3d", (2, 3, 2, 3, 2), dict(affine=True)),
        ("LazyConvTranspose1d", (2, 4, 5), dict(out_channels=6, kernel_size=3, stride=2, groups=2)),
        ("LazyConvTranspose2d", (2, 3, 4, 4), dict(out_channels=2, kernel_size=2, padding=1, output_padding=1,
                                                   stride=2, dilation=1)),
        ("LazyConvTranspose3d", (3, 2, 2, 3), dict(out_channels=2, kernel_size=2, bias=False))]


@pytest.mark.parametrize("name, shape, kw", LAZY, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(LAZY)])
def test_lazy_against_torch(name, shape, kw):
    m, tm = getattr(tg.nn, name)(**kw).double(), getattr(torch.nn, name)(**kw).double()
    assert m.has_uninitialized_params() == tm.has_uninitialized_params()
    x = np.random.default_rng(1).standard_normal(shape)
    xg, xt = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, ty = m(xg), tm(xt)  # materializes both (random init differs: copy torch's over, then compare a 2nd step)
    assert type(m).__name__ == type(tm).__name__ and type(m).__name__ == name[4:]
    assert [(k, tuple(v.shape)) for k, v in m.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in tm.state_dict().items()]
    for attr in ("num_features", "in_channels", "out_channels"):
        assert getattr(m, attr, None) == getattr(tm, attr, None), attr
    assert y.shape == tuple(ty.shape)
    tg_state = {k: tg.tensor(v.detach().numpy().copy()) for k, v in tm.state_dict().items()}
    m.load_state_dict(tg_state)
    y, ty = m(xg), tm(xt)
    np.testing.assert_allclose(_np(y), _np(ty), rtol=1e-10, atol=1e-12)
    g = np.random.default_rng(2).standard_normal(ty.shape)
    xg.grad = None
    xt.grad = None
    (y * tg.tensor(g)).sum().backward()
    (ty * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(xg.grad.numpy(), xt.grad.numpy(), rtol=1e-9, atol=1e-11)
    for (k, v), (_, tv) in zip(m.state_dict().items(), tm.state_dict().items()):
        np.testing.assert_allclose(_np(v), _np(tv), rtol=1e-10, atol=1e-12, err_msg=k)


@pytest.mark.parametrize("name, shape, kw", [LAZY[0], LAZY[4], LAZY[7]], ids=["bn", "in", "convT"])
def test_lazy_load_state_dict_materializes(name, shape, kw):
    tm = getattr(torch.nn, name)(**kw)
    tm(torch.randn(*shape))
    m = getattr(tg.nn, name)(**kw)
    m.load_state_dict({k: tg.tensor(v.detach().numpy().copy()) for k, v in tm.state_dict().items()})
    assert type(m).__name__ == name[4:]  # loading gave every shape, so the module is the plain class at once
    x = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    tm.eval()
    m.eval()
    np.testing.assert_allclose(_np(m(tg.tensor(x))), _np(tm(torch.tensor(x))), rtol=1e-5, atol=1e-6)


def test_lazy_instance_norm_without_state_becomes_plain():
    """Nothing to infer (affine and running stats off; torch's lazy defaults are on): still becomes InstanceNorm on the first call, num_features 0,
    as torch's."""
    kw = dict(affine=False, track_running_stats=False)
    m, tm = tg.nn.LazyInstanceNorm2d(**kw), torch.nn.LazyInstanceNorm2d(**kw)
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_allclose(_np(m(tg.tensor(x))), _np(tm(torch.tensor(x))), rtol=1e-12, atol=1e-12)
    assert type(m).__name__ == type(tm).__name__ == "InstanceNorm2d" and m.num_features == tm.num_features == 0


def test_lazy_conv_transpose_groups_error():
    """out_channels not divisible by groups: torch fails at the first call on a bias size; tensorgrad refuses it at
    construction, as lazy.py's LazyConv does."""
    with pytest.raises(RuntimeError):
        torch.nn.LazyConvTranspose1d(3, 2, groups=2)(torch.zeros(1, 4, 5))
    with raises(ValueError, "LazyConvTranspose1d", "divisible by groups"):
        tg.nn.LazyConvTranspose1d(3, 2, groups=2)
    m = tg.nn.LazyConvTranspose1d(4, 2, groups=2)
    with raises(ValueError, "in_channels must be divisible by groups", "3"):
        m(tg.zeros(1, 3, 5))


# ------------------------------------------------------------------------------ CrossMapLRN2d
@pytest.mark.parametrize("size, channels", [(5, 7), (3, 9), (4, 6), (2, 5), (5, 2), (1, 4)])
def test_cross_map_lrn2d_forward_and_gradient(size, channels):
    m, tm = tg.nn.CrossMapLRN2d(size, alpha=0.5, beta=0.75, k=1.5), torch.nn.CrossMapLRN2d(size, 0.5, 0.75, 1.5)
    assert repr(m) == repr(tm)
    x = np.random.default_rng(size * 10 + channels).standard_normal((2, channels, 3, 4))
    xg = tg.tensor(x, requires_grad=True)
    np.testing.assert_allclose(_np(m(xg)), _np(tm(torch.tensor(x))), rtol=1e-12, atol=1e-14)
    # the gradient is the true one of torch's forward (torch's own backward fails its gradcheck, see the module)
    assert tg.autograd.gradcheck(m, [xg], eps=1e-6, atol=1e-6, rtol=1e-4)
    pre_pad = int((size - 1) / 2 + 1)
    if channels <= pre_pad:  # no channel-0 term: torch's hand-written backward is right, and equal to ours
        xt = torch.tensor(x, requires_grad=True)
        g = np.random.default_rng(1).standard_normal(x.shape)
        (m(xg) * tg.tensor(g)).sum().backward()
        (tm(xt) * torch.tensor(g)).sum().backward()
        np.testing.assert_allclose(xg.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_cross_map_lrn2d_errors():
    with pytest.raises(ValueError, match="Expected input to be 4D, got 3D"):
        torch.nn.CrossMapLRN2d(3)(torch.zeros(2, 3, 4))
    with raises(ValueError, "CrossMapLRN2d", "Expected input to be 4D, got 3D"):
        tg.nn.CrossMapLRN2d(3)(tg.zeros(2, 3, 4))


# ------------------------------------------------------------------------------ deprecated aliases
def test_nll_loss2d_and_container():
    x = np.random.default_rng(0).standard_normal((2, 4, 3, 3))
    t = np.random.default_rng(1).integers(0, 4, (2, 3, 3))
    for lib_ in (tg, torch):
        with pytest.warns(FutureWarning, match="NLLLoss2d"):
            lib_.nn.NLLLoss2d(reduction="sum", ignore_index=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m, tm = tg.nn.NLLLoss2d(reduction="sum", ignore_index=2), torch.nn.NLLLoss2d(reduction="sum", ignore_index=2)
        c = tg.nn.Container(a=tg.nn.Linear(2, 3), b=tg.nn.ReLU())
        tc = torch.nn.Container(a=torch.nn.Linear(2, 3), b=torch.nn.ReLU())
    assert isinstance(m, tg.nn.NLLLoss)
    np.testing.assert_allclose(_np(m(tg.tensor(x), tg.tensor(t))), _np(tm(torch.tensor(x), torch.tensor(t))))
    assert list(c.state_dict()) == list(tc.state_dict()) == ["a.weight", "a.bias"]
    assert [n for n, _ in c.named_children()] == [n for n, _ in tc.named_children()]
    with pytest.warns(FutureWarning, match="Container"):
        tg.nn.Container()


# ------------------------------------------------------------------------------ torch.nn.attention
def _sdpa_flags(lib_):
    b = lib_.backends.cuda
    return (b.flash_sdp_enabled(), b.mem_efficient_sdp_enabled(), b.math_sdp_enabled(), b.cudnn_sdp_enabled())


@pytest.mark.parametrize("choice", ["FLASH_ATTENTION", "MATH", ["MATH", "FLASH_ATTENTION"],
                                    ["EFFICIENT_ATTENTION", "CUDNN_ATTENTION"], [], "ERROR", "OVERRIDEABLE",
                                    ["FLASH_ATTENTION", "FLASH_ATTENTION"]])
def test_sdpa_kernel_as_torch(choice):
    """The switches inside the block and after it, the value yielded, and whether CPU attention runs (then its
    result) or raises torch's no-viable-backend error."""
    q = np.random.default_rng(0).standard_normal((2, 3, 4, 8)).astype(np.float32)
    results = []
    for lib_, A in ((torch, torch.nn.attention), (tg, tg.nn.attention)):
        b = [getattr(A.SDPBackend, c) for c in choice] if isinstance(choice, list) else getattr(A.SDPBackend, choice)
        before = _sdpa_flags(lib_)
        with A.sdpa_kernel(b) as got:
            inside = _sdpa_flags(lib_)
            x = lib_.tensor(q)
            try:
                out = _np(lib_.nn.functional.scaled_dot_product_attention(x, x, x, is_causal=True))
            except RuntimeError as e:
                assert "No viable backend" in str(e)
                out = None
        results.append((got, inside, _sdpa_flags(lib_) == before, out))
    (g1, i1, r1, o1), (g2, i2, r2, o2) = results
    assert g1 == g2 == {} and i1 == i2 and r1 and r2
    assert (o1 is None) == (o2 is None)
    if o1 is not None:
        np.testing.assert_allclose(o2, o1, rtol=1e-5, atol=1e-6)


def test_sdpa_kernel_argument_checks_and_restore_on_error():
    for lib_ in (torch, tg):
        A = lib_.nn.attention
        for bad in ("flash", (A.SDPBackend.MATH,), 1):
            with pytest.raises(AssertionError, match="Backend must be an instance of SDPBackend"):
                with A.sdpa_kernel(bad):
                    pass
        with pytest.raises(KeyError):
            with A.sdpa_kernel(A.SDPBackend.MATH):
                raise KeyError("inside")
        assert _sdpa_flags(lib_) == (True, True, True, True)
        assert str(A.SDPBackend.FLASH_ATTENTION) == "SDPBackend.FLASH_ATTENTION"
        assert int(A.SDPBackend.CUDNN_ATTENTION) == 3
    # torch takes a list holding a string and ignores it; tensorgrad says it is not a backend
    with raises(TypeError, "sdpa_kernel", "'flash'"):
        with tg.nn.attention.sdpa_kernel([tg.nn.attention.SDPBackend.MATH, "flash"]):
            pass


def test_sdpa_kernel_under_the_alias(tmp_path):
    """`from torch.nn.attention import sdpa_kernel, SDPBackend` resolves under tensorgrad.compat."""
    import subprocess
    import sys
    import os
    script = tmp_path / "s.py"
    script.write_text("import torch\nfrom torch.nn.attention import sdpa_kernel, SDPBackend\n"
                      "q = torch.ones(1, 2, 3, 4)\nwith sdpa_kernel(SDPBackend.FLASH_ATTENTION):\n"
                      "    print(torch.nn.functional.scaled_dot_product_attention(q, q, q).sum().item(), "
                      "torch.backends.cuda.math_sdp_enabled())\nprint(torch.backends.cuda.math_sdp_enabled())\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root)
    got = subprocess.run([sys.executable, "-m", "tensorgrad.compat", str(script)], capture_output=True, text=True,
                         env=env, check=True).stdout
    want = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True).stdout
    assert got == want
