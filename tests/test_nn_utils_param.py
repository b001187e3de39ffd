"""torch.nn.utils.parametrize / parametrizations and the hook-based weight_norm / spectral_norm against torch: the
same module built in both libraries from NumPy weights (the power iteration's random u, v copied from torch's into
tensorgrad's), then several training steps (forward, backward, SGD) with outputs, every parameter's gradient and
the whole state_dict (keys in order, values) compared after each; eval mode, removal, assignment through
right_inverse, cached() and the errors."""
import warnings

import numpy as np
import pytest
import torch

import tensorgrad as tg
import tensorgrad.nn.utils.parametrize as P

RNG = np.random.default_rng(0)


def _np(t):
    return t.detach().numpy() if isinstance(t, torch.Tensor) else np.asarray(t.detach())


def _build(name):
    """(torch module, tensorgrad module, input shape) in float64 with the same weights."""
    kinds = {
        "linear": (lambda lib: lib.nn.Linear(5, 4), (3, 5)),
        "linear_nobias": (lambda lib: lib.nn.Linear(3, 6, bias=False), (2, 3)),
        "conv1d": (lambda lib: lib.nn.Conv1d(3, 4, 3), (2, 3, 7)),
        "conv2d": (lambda lib: lib.nn.Conv2d(2, 3, (2, 3)), (2, 2, 5, 6)),
        "convT2d": (lambda lib: lib.nn.ConvTranspose2d(3, 2, 3), (2, 3, 4, 4)),
        "embedding": (lambda lib: lib.nn.Embedding(6, 3), None),
    }
    make, shape = kinds[name]
    tm = make(torch).double()
    gm = make(tg).double()
    gm.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    return tm, gm, shape


def _copy_buffers(tm, gm):
    """The power iteration's random start (drawn by each library's own generator) made equal."""
    gm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})


def _compare(tm, gm, shape, steps=3, lr=0.1, where=""):
    assert list(tm.state_dict()) == list(gm.state_dict()), where
    assert [n for n, _ in tm.named_parameters()] == [n for n, _ in gm.named_parameters()], where
    topt = torch.optim.SGD(tm.parameters(), lr=lr)
    gopt = tg.optim.SGD(gm.parameters(), lr=lr)
    for k in range(steps):
        x = RNG.standard_normal(shape) if shape is not None else RNG.integers(0, 6, (4,))
        outs = []
        for lib, m, opt in ((torch, tm, topt), (tg, gm, gopt)):
            opt.zero_grad()
            y = m(lib.tensor(x))
            (y * y).sum().backward() if y.dtype != lib.int64 else None
            opt.step()
            outs.append((_np(y), {n: _np(p.grad) for n, p in m.named_parameters() if p.grad is not None},
                         {n: _np(v) for n, v in m.state_dict().items()}))
        (ty, tgr, tsd), (gy, ggr, gsd) = outs
        np.testing.assert_allclose(gy, ty, rtol=1e-9, atol=1e-11, err_msg=f"{where} step {k}: output")
        assert sorted(tgr) == sorted(ggr), f"{where} step {k}: parameters with gradients"
        for n in tgr:
            np.testing.assert_allclose(ggr[n], tgr[n], rtol=1e-8, atol=1e-10, err_msg=f"{where} step {k}: grad {n}")
        for n in tsd:
            np.testing.assert_allclose(gsd[n], tsd[n], rtol=1e-8, atol=1e-10, err_msg=f"{where} step {k}: {n}")


# ------------------------------------------------------------------------------------------ parametrize
class Symmetric:
    """Built per library: X -> triu(X) + triu(X, 1)^T, right_inverse triu (torch's tutorial example)."""

    @staticmethod
    def make(lib):
        class Sym(lib.nn.Module):
            def forward(self, x):
                return x.triu() + x.triu(1).transpose(-1, -2)

            def right_inverse(self, a):
                return a.triu()
        return Sym()


def _scale(lib, s):
    class Scale(lib.nn.Module):
        def forward(self, x):
            return x * s

        def right_inverse(self, y):
            return y / s
    return Scale()


def _noinv(lib):
    class Tanh(lib.nn.Module):
        def forward(self, x):
            return lib.tanh(x)
    return Tanh()


@pytest.mark.parametrize("chain", [["sym"], ["sym", "scale"], ["noinv"], ["scale", "noinv", "scale"]])
def test_register_parametrization_trains_as_torch(chain):
    tm, gm, _ = _build("linear")
    tm, gm = torch.nn.Linear(4, 4).double(), tg.nn.Linear(4, 4).double()
    gm.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    for lib, m in ((torch, tm), (tg, gm)):
        for c in chain:
            p = {"sym": lambda: Symmetric.make(lib), "scale": lambda: _scale(lib, 2.0),
                 "noinv": lambda: _noinv(lib)}[c]()
            lib.nn.utils.parametrize.register_parametrization(m, "weight", p)
    assert type(gm).__name__ == "ParametrizedLinear" and isinstance(gm, tg.nn.Linear)
    assert P.is_parametrized(gm) and P.is_parametrized(gm, "weight") and not P.is_parametrized(gm, "bias")
    assert P.type_before_parametrizations(gm) is tg.nn.Linear
    assert len(gm.parametrizations.weight) == len(chain)
    np.testing.assert_allclose(_np(gm.parametrizations.weight.original), _np(tm.parametrizations.weight.original))
    _compare(tm, gm, (3, 4), where=str(chain))


def test_assignment_goes_through_right_inverse_and_keeps_the_parameter():
    a = RNG.standard_normal((4, 4))
    ms = []
    for lib in (torch, tg):
        m = lib.nn.Linear(4, 4).double()
        lib.nn.utils.parametrize.register_parametrization(m, "weight", Symmetric.make(lib))
        orig = m.parametrizations.weight.original
        m.weight = lib.tensor(a)
        assert m.parametrizations.weight.original is orig  # set_ in place: an optimizer keeps the right tensor
        ms.append(m)
    np.testing.assert_allclose(_np(ms[1].parametrizations.weight.original), _np(ms[0].parametrizations.weight.original))
    np.testing.assert_allclose(_np(ms[1].weight), _np(ms[0].weight))
    # a chain with a member lacking right_inverse cannot be assigned to
    for lib, m in zip((torch, tg), ms):
        lib.nn.utils.parametrize.register_parametrization(m, "weight", _noinv(lib))
        with pytest.raises(RuntimeError, match="right_inverse"):
            m.weight = lib.tensor(a)


@pytest.mark.parametrize("leave", [True, False])
def test_remove_parametrizations(leave):
    tm, gm = torch.nn.Linear(3, 3).double(), tg.nn.Linear(3, 3).double()
    gm.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    for lib, m in ((torch, tm), (tg, gm)):
        lib.nn.utils.parametrize.register_parametrization(m, "weight", Symmetric.make(lib))
        lib.nn.utils.parametrize.register_parametrization(m, "bias", _scale(lib, 3.0))
        orig = m.parametrizations.weight.original
        lib.nn.utils.parametrize.remove_parametrizations(m, "weight", leave_parametrized=leave)
        assert m.weight is orig
        assert type(m).__name__ == "ParametrizedLinear"
        lib.nn.utils.parametrize.remove_parametrizations(m, "bias", leave_parametrized=leave)
        assert type(m) is lib.nn.Linear and not hasattr(m, "parametrizations")
    assert list(tm.state_dict()) == list(gm.state_dict()) == ["weight", "bias"]
    for k in ("weight", "bias"):
        np.testing.assert_allclose(_np(getattr(gm, k)), _np(getattr(tm, k)))
    with pytest.raises(ValueError, match="does not have a parametrization"):
        P.remove_parametrizations(gm, "weight")


def test_parametrize_errors_match_torch():
    for lib in (torch, tg):
        m = lib.nn.Linear(3, 2)

        class Shrink(lib.nn.Module):
            def forward(self, x):
                return x[:1]
        with pytest.raises(ValueError, match="may not change the shape"):
            lib.nn.utils.parametrize.register_parametrization(m, "weight", Shrink())
        assert not lib.nn.utils.parametrize.is_parametrized(m)

        class Cast(lib.nn.Module):
            def forward(self, x):
                return x.double()
        with pytest.raises(ValueError, match="may not change the dtype"):
            lib.nn.utils.parametrize.register_parametrization(m, "weight", Cast())
        with pytest.raises(ValueError, match="does not have a parameter, a buffer"):
            lib.nn.utils.parametrize.register_parametrization(m, "nothing", Shrink())
        # unsafe: the shape may change, and does
        lib.nn.utils.parametrize.register_parametrization(m, "weight", Shrink(), unsafe=True)
        assert tuple(m.weight.shape) == (1, 3)


def test_cached_computes_once_per_context():
    calls = {}
    for lib in (torch, tg):
        n = [0]

        class Count(lib.nn.Module):
            def forward(self, x):
                n[0] += 1
                return x * 2
        m = lib.nn.Linear(3, 3)
        lib.nn.utils.parametrize.register_parametrization(m, "weight", Count())
        n[0] = 0
        with lib.nn.utils.parametrize.cached():
            a, b = m.weight, m.weight
            with lib.nn.utils.parametrize.cached():
                c = m.weight
        assert a is b is c
        d = m.weight
        assert d is not a
        calls[lib.__name__] = n[0]
    assert calls["torch"] == calls["tensorgrad"] == 2


def test_buffer_parametrization_and_state_dict_round_trip():
    for lib in (torch, tg):
        m = lib.nn.BatchNorm1d(3)
        lib.nn.utils.parametrize.register_parametrization(m, "running_var", _scale(lib, 2.0))
        assert "parametrizations.running_var.original" in m.state_dict()
        assert not m.parametrizations.running_var.original.requires_grad
    tm = torch.nn.Linear(3, 3).double()
    torch.nn.utils.parametrize.register_parametrization(tm, "weight", Symmetric.make(torch))
    gm = tg.nn.Linear(3, 3).double()
    tg.nn.utils.parametrize.register_parametrization(gm, "weight", Symmetric.make(tg))
    gm.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    np.testing.assert_allclose(_np(gm.weight), _np(tm.weight))


def test_transfer_parametrizations_and_params():
    src = tg.nn.Linear(3, 3)
    P.register_parametrization(src, "weight", Symmetric.make(tg))
    dst = tg.nn.Linear(3, 3)
    P.transfer_parametrizations_and_params(src, dst)
    assert dst.parametrizations.weight.original is src.parametrizations.weight.original
    np.testing.assert_array_equal(_np(dst.weight), _np(src.weight))


# ------------------------------------------------------------------------------------------ weight_norm
@pytest.mark.parametrize("kind", ["linear", "linear_nobias", "conv1d", "conv2d", "convT2d"])
@pytest.mark.parametrize("dim", [0, 1, None, -1])
@pytest.mark.parametrize("style", ["parametrizations", "hook"])
def test_weight_norm_matches_torch(kind, dim, style):
    tm, gm, shape = _build(kind)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for lib, m in ((torch, tm), (tg, gm)):
            fn = lib.nn.utils.parametrizations.weight_norm if style == "parametrizations" else lib.nn.utils.weight_norm
            fn(m, dim=dim)
    deprecations = [str(w.message) for w in caught if issubclass(w.category, FutureWarning)]
    assert len(deprecations) == (2 if style == "hook" else 0), deprecations
    if style == "hook":
        assert len(set(deprecations)) == 1  # the same message from both
        assert list(gm.state_dict())[-2:] == ["weight_g", "weight_v"]
    _compare(tm, gm, shape, where=f"weight_norm {style} {kind} dim={dim}")
    # removal gives back one Parameter holding g * v / ||v||
    for lib, m in ((torch, tm), (tg, gm)):
        if style == "hook":
            lib.nn.utils.remove_weight_norm(m)
        else:
            lib.nn.utils.parametrize.remove_parametrizations(m, "weight")
    assert list(tm.state_dict()) == list(gm.state_dict())
    assert isinstance(gm.weight, tg.nn.Parameter)
    np.testing.assert_allclose(_np(gm.weight), _np(tm.weight), rtol=1e-9, atol=1e-12)


def test_weight_norm_hook_errors():
    for lib in (torch, tg):
        m = lib.nn.Linear(2, 2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lib.nn.utils.weight_norm(m)
            with pytest.raises(RuntimeError, match="Cannot register two weight_norm hooks"):
                lib.nn.utils.weight_norm(m)
        with pytest.raises(ValueError, match="weight_norm of 'bias' not found"):
            lib.nn.utils.remove_weight_norm(m, "bias")


# ------------------------------------------------------------------------------------------ spectral_norm
@pytest.mark.parametrize("kind", ["linear", "linear_nobias", "conv1d", "conv2d", "convT2d", "embedding"])
@pytest.mark.parametrize("n_iter", [1, 3])
@pytest.mark.parametrize("style", ["parametrizations", "hook"])
def test_spectral_norm_matches_torch(kind, n_iter, style):
    tm, gm, shape = _build(kind)
    for lib, m in ((torch, tm), (tg, gm)):
        mod = lib.nn.utils.parametrizations if style == "parametrizations" else lib.nn.utils
        mod.spectral_norm(m, n_power_iterations=n_iter)
    _copy_buffers(tm, gm)
    keys = list(gm.state_dict())
    assert keys[-2:] == (["parametrizations.weight.0._u", "parametrizations.weight.0._v"] if style != "hook"
                         else ["weight_u", "weight_v"]), keys
    _compare(tm, gm, shape, where=f"spectral_norm {style} {kind} n={n_iter}")
    # eval: no power iteration, the buffers stay as they are
    tm.eval(), gm.eval()
    before = {k: _np(v) for k, v in gm.state_dict().items()}
    _compare(tm, gm, shape, steps=2, lr=0.0, where=f"spectral_norm eval {style} {kind}")
    for k, v in gm.state_dict().items():
        if k.endswith(("_u", "_v")):
            np.testing.assert_array_equal(_np(v), before[k])
    tm.train(), gm.train()
    for lib, m in ((torch, tm), (tg, gm)):
        if style == "hook":
            lib.nn.utils.remove_spectral_norm(m)
        else:
            lib.nn.utils.parametrize.remove_parametrizations(m, "weight")
    assert list(tm.state_dict()) == list(gm.state_dict())
    np.testing.assert_allclose(_np(gm.weight), _np(tm.weight), rtol=1e-9, atol=1e-12)


def test_spectral_norm_estimates_the_largest_singular_value():
    m = tg.nn.Linear(8, 6).double()
    tg.nn.utils.parametrizations.spectral_norm(m, n_power_iterations=5)
    for _ in range(20):
        m(tg.zeros(1, 8, dtype=tg.float64))
    s = np.linalg.svd(_np(m.weight), compute_uv=False)
    assert abs(s[0] - 1.0) < 1e-6


@pytest.mark.parametrize("style", ["parametrizations", "hook"])
def test_spectral_norm_errors(style):
    for lib in (torch, tg):
        mod = lib.nn.utils.parametrizations if style == "parametrizations" else lib.nn.utils
        with pytest.raises(ValueError, match="n_power_iterations to be positive"):
            mod.spectral_norm(lib.nn.Linear(2, 2), n_power_iterations=0)
    if style == "parametrizations":
        for lib in (torch, tg):
            with pytest.raises(IndexError, match="Dimension out of range"):
                lib.nn.utils.parametrizations.spectral_norm(lib.nn.Linear(2, 2), dim=2)
    else:
        for lib in (torch, tg):
            m = lib.nn.utils.spectral_norm(lib.nn.Linear(2, 2))
            with pytest.raises(RuntimeError, match="Cannot register two spectral_norm hooks"):
                lib.nn.utils.spectral_norm(m)
            with pytest.raises(ValueError, match="spectral_norm of 'bias' not found"):
                lib.nn.utils.remove_spectral_norm(m, "bias")


def test_spectral_norm_one_dim_weight_is_normalized():
    tm, gm = torch.nn.Linear(3, 3).double(), tg.nn.Linear(3, 3).double()
    gm.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    for lib, m in ((torch, tm), (tg, gm)):
        lib.nn.utils.parametrizations.spectral_norm(m, "bias")
    assert list(tm.state_dict()) == list(gm.state_dict())
    _compare(tm, gm, (2, 3), where="spectral_norm of a bias")


# ------------------------------------------------------------------------------------------ orthogonal
@pytest.mark.parametrize("shape", [(4, 4), (5, 3), (3, 5)])
@pytest.mark.parametrize("orth_map", ["matrix_exp", "cayley", "householder"])
def test_orthogonal_stays_orthogonal_while_training(shape, orth_map):
    m = tg.nn.Linear(shape[1], shape[0], bias=False).double()
    w0 = _np(m.weight).copy()
    tg.nn.utils.parametrizations.orthogonal(m, orthogonal_map=orth_map)
    opt = tg.optim.SGD(m.parameters(), lr=0.05)
    losses = []
    target = tg.tensor(RNG.standard_normal((8, shape[0])))
    for _ in range(6):
        opt.zero_grad()
        q = _np(m.weight)
        gram = q.T @ q if shape[0] >= shape[1] else q @ q.T
        np.testing.assert_allclose(gram, np.eye(min(shape)), atol=1e-10)
        x = tg.tensor(RNG.standard_normal((8, shape[1])))
        loss = ((m(x) - target) ** 2).mean()
        loss.backward()
        assert m.parametrizations.weight.original.grad is not None
        opt.step()
        losses.append(float(loss))
    # the orthogonal weight it starts from is the Q of the original weight's QR (torch's right_inverse)
    if shape[0] == shape[1]:
        q, r = np.linalg.qr(w0)
        q = q * np.sign(np.diag(r))
        m2 = tg.nn.Linear(shape[1], shape[0], bias=False).double()
        m2.load_state_dict({"weight": w0})
        tg.nn.utils.parametrizations.orthogonal(m2, orthogonal_map=orth_map)
        np.testing.assert_allclose(_np(m2.weight), q, atol=1e-10)


def test_orthogonal_matches_torch_on_a_square_weight():
    """Square weights have no random completion: torch's and tensorgrad's weights and gradients agree."""
    for orth_map in ("matrix_exp", "cayley", "householder"):
        tm, gm = torch.nn.Linear(4, 4).double(), tg.nn.Linear(4, 4).double()
        gm.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
        for lib, m in ((torch, tm), (tg, gm)):
            lib.nn.utils.parametrizations.orthogonal(m, orthogonal_map=orth_map)
        _compare(tm, gm, (3, 4), where=f"orthogonal {orth_map}")


def test_orthogonal_errors():
    for lib in (torch, tg):
        with pytest.raises(ValueError, match="orthogonal_map has to be one of"):
            lib.nn.utils.parametrizations.orthogonal(lib.nn.Linear(2, 2), orthogonal_map="qr")
        with pytest.raises(ValueError, match="Expected a matrix"):
            lib.nn.utils.parametrizations.orthogonal(lib.nn.Linear(2, 2), "bias")


@pytest.mark.parametrize("shape", [(4, 4), (5, 3), (3, 5)])
def test_orthogonal_householder_without_trivialization_matches_torch(shape):
    """use_trivialization=False: the weight is stored as geqrf's reflectors (no random completion), so weights,
    outputs and gradients agree with torch's for every shape."""
    tm = torch.nn.Linear(shape[1], shape[0], bias=False).double()
    gm = tg.nn.Linear(shape[1], shape[0], bias=False).double()
    gm.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    for lib, m in ((torch, tm), (tg, gm)):
        lib.nn.utils.parametrizations.orthogonal(m, orthogonal_map="householder", use_trivialization=False)
    np.testing.assert_allclose(_np(gm.parametrizations.weight.original),
                               _np(tm.parametrizations.weight.original), atol=1e-12)
    _compare(tm, gm, (3, shape[1]), where=f"orthogonal householder no trivialization {shape}")
    q = RNG.standard_normal(shape)
    with torch.no_grad():
        tm.weight = torch.tensor(q)
    with tg.no_grad():
        gm.weight = tg.tensor(q)
    np.testing.assert_allclose(_np(gm.weight), _np(tm.weight), atol=1e-12)


def test_orthogonal_on_a_batch_of_matrices_matches_torch():
    class Batched:
        def __init__(self, lib, w):
            self.m = lib.nn.Module()
            self.m.weight = lib.nn.Parameter(lib.tensor(w))

    w = RNG.standard_normal((2, 4, 4))
    for orth_map in ("matrix_exp", "cayley", "householder"):
        outs = []
        for lib in (torch, tg):
            m = Batched(lib, w).m
            lib.nn.utils.parametrizations.orthogonal(m, orthogonal_map=orth_map)
            y = m.weight
            (y * lib.tensor(w)).sum().backward()
            outs.append((_np(y), _np(m.parametrizations.weight.original.grad)))
        np.testing.assert_allclose(outs[1][0], outs[0][0], atol=1e-10, err_msg=orth_map)
        np.testing.assert_allclose(outs[1][1], outs[0][1], atol=1e-9, err_msg=orth_map)


def test_orthogonal_maps_without_an_inverse_refuse_assignment_as_torch():
    for lib in (torch, tg):
        m = lib.nn.Linear(3, 3).double()
        lib.nn.utils.parametrizations.orthogonal(m, orthogonal_map="cayley", use_trivialization=False)
        with pytest.raises(NotImplementedError, match="not possible to assign to the matrix exponential or the Cayley"):
            with lib.no_grad():
                m.weight = lib.eye(3, dtype=lib.float64)
