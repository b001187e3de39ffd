"""Adafactor, Muon and SparseAdam vs torch.optim: identical parameters and gradients fed to both, parameters and
every state entry compared after each step (several parameter shapes, 1-D, 2-D and 3-D, with and without weight
decay, maximize, param groups, lr schedules from lr_scheduler, float64 and float32); Muon's bfloat16 Newton-Schulz
iteration against torch's own function; SparseAdam on an Embedding(sparse=True) model; state_dict round trips (saved
here and loaded back, and torch's loaded here); signatures and argument errors."""
import copy
import inspect
import pickle

import numpy as np
import pytest
import torch
from torch.optim._muon import _zeropower_via_newtonschulz as torch_ns

import tensorgrad as tg
from tensorgrad.optim.muon import zeropower_via_newtonschulz

torch.set_num_threads(1)


def _np(t):
    return np.array(t.detach().numpy() if isinstance(t, torch.Tensor) else np.asarray(t.detach()))


def _state_np(opt, lib):
    out = {}
    for i, st in opt.state_dict()["state"].items():
        out[i] = {k: (float(v) if not hasattr(v, "shape") or v.ndim == 0 else _np(v)) for k, v in st.items()}
    return out


def _trajectory(lib, name, shapes, kw, steps=6, dtype="float64", groups=None, sched=None, seed=0):
    """Parameters and state after each of ``steps`` steps of random gradients (parameter 1 has none at step 2)."""
    rng = np.random.default_rng(seed)
    ps = [lib.tensor(rng.standard_normal(s).astype(dtype), requires_grad=True) for s in shapes]
    params = [{"params": ps[:1]}, {"params": ps[1:], **groups}] if groups else ps
    opt = getattr(lib.optim, name)(params, **kw)
    sch = getattr(lib.optim.lr_scheduler, sched[0])(opt, **sched[1]) if sched else None
    out = []
    for k in range(steps):
        for i, (p, s) in enumerate(zip(ps, shapes)):
            p.grad = None if (i == 1 and k == 2) else lib.tensor(rng.standard_normal(s).astype(dtype))
        opt.step()
        if sch is not None:
            sch.step()
        out.append(([_np(p) for p in ps], _state_np(opt, lib)))
    return out


def _compare(ours, theirs, rtol, atol, where):
    for k, ((pa, sa), (pb, sb)) in enumerate(zip(ours, theirs)):
        for i, (x, y) in enumerate(zip(pa, pb)):
            np.testing.assert_allclose(x, y, rtol=rtol, atol=atol, err_msg=f"{where}: step {k}, param {i}")
        assert sorted(sa) == sorted(sb), f"{where}: step {k}: state of params {sorted(sa)} vs torch {sorted(sb)}"
        for i in sa:
            assert list(sa[i]) == list(sb[i]), f"{where}: state keys {list(sa[i])} vs torch {list(sb[i])}"
            for key in sa[i]:
                np.testing.assert_allclose(sa[i][key], sb[i][key], rtol=rtol, atol=atol,
                                           err_msg=f"{where}: step {k}, state {i}.{key}")


SHAPES_ANY = [(5,), (4, 3), (2, 3, 4), (), (1, 1), (3, 1, 2)]

ADAFACTOR = [
    dict(),
    dict(lr=0.5, weight_decay=0.1, maximize=True),
    dict(lr=2.0, eps=(1e-3, 1e-2), d=1.5, beta2_decay=-0.5),
    dict(eps=(0.3, 1.0), d=100.0, beta2_decay=0.0),     # eps1 and eps2 dominate the clamps
    dict(lr=0.05, foreach=True, weight_decay=0.01),
]


@pytest.mark.parametrize("kw", ADAFACTOR, ids=str)
@pytest.mark.parametrize("dtype,rtol,atol", [("float64", 1e-12, 1e-14), ("float32", 2e-5, 1e-6)])
def test_adafactor_matches_torch(kw, dtype, rtol, atol):
    args = ("Adafactor", SHAPES_ANY, kw)
    _compare(_trajectory(tg, *args, dtype=dtype), _trajectory(torch, *args, dtype=dtype), rtol, atol,
             f"Adafactor({kw}) {dtype}")


def test_adafactor_groups_and_schedule():
    args = ("Adafactor", SHAPES_ANY, dict(lr=0.3, weight_decay=0.05))
    extra = dict(groups={"lr": 0.02, "weight_decay": 0.0, "maximize": True},
                 sched=("ExponentialLR", {"gamma": 0.7}), steps=8)
    _compare(_trajectory(tg, *args, **extra), _trajectory(torch, *args, **extra), 1e-12, 1e-14, "Adafactor groups")


def test_adafactor_state_layout():
    """Factored row / column means for >= 2-D parameters, a full variance for 1-D and 0-d ones (torch's shapes)."""
    ps = [tg.zeros(2, 3, 4, requires_grad=True), tg.zeros(5, requires_grad=True), tg.zeros((), requires_grad=True)]
    opt = tg.optim.Adafactor(ps)
    for p in ps:
        p.grad = tg.ones_like(p)
    opt.step()
    st = [opt.state[p] for p in ps]
    assert list(st[0]) == ["step", "row_var", "col_var"]
    assert tuple(st[0]["row_var"].shape) == (2, 3, 1) and tuple(st[0]["col_var"].shape) == (2, 1, 4)
    assert list(st[1]) == ["step", "variance"] and tuple(st[1]["variance"].shape) == (5,)
    assert tuple(st[2]["variance"].shape) == ()


# ------------------------------------------------------------------------------------------------------ Muon
SHAPES_2D = [(4, 6), (6, 4), (5, 5), (1, 3), (3, 1)]

MUON = [
    dict(),
    dict(lr=0.05, nesterov=False, adjust_lr_fn="match_rms_adamw"),
    dict(lr=0.02, momentum=0.0, weight_decay=0.0, adjust_lr_fn="original"),
    dict(lr=0.1, momentum=0.5, ns_steps=2, ns_coefficients=(2.0, -1.5, 0.5), eps=1e-3),
    dict(lr=0.1, ns_steps=0),
]


@pytest.mark.parametrize("kw", MUON, ids=str)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_muon_matches_torch(kw, dtype):
    """Small matrices: the bfloat16 iteration's float32 products agree with torch's, so the trajectories agree to
    the parameters' own rounding."""
    args = ("Muon", SHAPES_2D, kw)
    rtol, atol = (1e-12, 1e-14) if dtype == "float64" else (1e-6, 1e-7)
    _compare(_trajectory(tg, *args, dtype=dtype), _trajectory(torch, *args, dtype=dtype), rtol, atol,
             f"Muon({kw}) {dtype}")


def test_muon_groups_and_schedule():
    args = ("Muon", SHAPES_2D, dict(lr=0.05))
    extra = dict(groups={"lr": 0.01, "weight_decay": 0.3, "nesterov": False}, sched=("StepLR", {"step_size": 2}))
    _compare(_trajectory(tg, *args, **extra), _trajectory(torch, *args, **extra), 1e-12, 1e-14, "Muon groups")


@pytest.mark.parametrize("shape", [(2, 3), (7, 5), (16, 16), (8, 24), (40, 12), (64, 96)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_newton_schulz_matches_torch(shape, dtype):
    """Equal to torch's bfloat16 iteration on small matrices. On larger ones a float32 product summed in another
    order rounds to a neighbouring bfloat16 and the five iterations carry it on: on Intel Xeons in under 2% of the
    entries, on an AMD EPYC (torch's bf16 GEMM without bf16 instructions) in 40%, by up to 2 ulps of the largest
    entries. So the large shapes are held to that (a wrong coefficient or step moves entries by far more) and to
    the same singular values, which is what the iteration is for."""
    rng = np.random.default_rng(shape[0] * 100 + shape[1])
    g = rng.standard_normal(shape).astype(dtype)
    ours = zeropower_via_newtonschulz(g, (3.4445, -4.7750, 2.0315), 5, 1e-7)
    theirs = torch_ns(torch.tensor(g), (3.4445, -4.7750, 2.0315), 5, 1e-7).float().numpy()
    assert ours.shape == theirs.shape
    diff = ours != theirs
    if max(shape) <= 16:
        assert not diff.any(), f"{shape}: {diff.sum()} entries differ"
    else:
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=2 ** -6 * np.abs(theirs).max())
        sv = [np.linalg.svd(m.astype(np.float64), compute_uv=False) for m in (ours, theirs)]
        np.testing.assert_allclose(sv[0], sv[1], rtol=0.02)


def test_muon_large_matrix_close_to_torch():
    """Past the sizes where every product agrees, the few one-ulp bfloat16 differences keep the updates within a
    fraction of a percent of torch's: the distance travelled from the start agrees to 1%, entry by entry to a
    small fraction of one step."""
    args = ("Muon", [(48, 32), (32, 64)], dict(lr=0.02))
    ours, theirs = _trajectory(tg, *args, steps=4), _trajectory(torch, *args, steps=4)
    rng = np.random.default_rng(0)  # the starting parameters, as _trajectory draws them
    p0 = [rng.standard_normal(s) for s in args[1]]
    for (pa, _), (pb, _) in zip(ours, theirs):
        for x, y, x0 in zip(pa, pb, p0):
            dx, dy = x - x0, y - x0
            assert np.linalg.norm(dx - dy) < 0.01 * np.linalg.norm(dy)
            np.testing.assert_allclose(x, y, atol=0.02 * 0.05, rtol=0)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_muon_half_precision(dtype):
    """Half-precision parameters: each op computed in float32 and rounded, as torch's opmath; within two ulps of
    torch (nesterov=True: torch 2.13 rescales a bfloat16 buffer in place with nesterov=False, see optim/muon.py)."""
    res = []
    for lib in (tg, torch):
        rng = np.random.default_rng(0)
        mk = lambda s: lib.tensor(rng.standard_normal(s).astype(np.float32)).to(getattr(lib, dtype))  # noqa: E731
        ps = [mk(s).requires_grad_() for s in [(4, 6), (6, 4)]]
        opt = lib.optim.Muon(ps, lr=0.02)
        for _ in range(4):
            for p in ps:
                p.grad = mk(tuple(p.shape))
            opt.step()
        res.append([_np(p.float()) for p in ps])
    ulp = 2 ** -10 if dtype == "float16" else 2 ** -7
    for a, b in zip(*res):
        np.testing.assert_allclose(a, b, rtol=2 * ulp, atol=0)


def test_muon_bfloat16_buffer_keeps_its_average():
    p = tg.nn.Parameter(tg.randn(4, 6).to(tg.bfloat16))
    opt = tg.optim.Muon([p], nesterov=False, momentum=0.5)
    p.grad = tg.full((4, 6), 3.0).to(tg.bfloat16)
    opt.step()
    np.testing.assert_array_equal(_np(opt.state[p]["momentum_buffer"].float()), np.full((4, 6), 1.5))


def test_muon_refuses_non_matrix_parameters():
    for shape in [(3,), (2, 3, 4), ()]:
        p = tg.zeros(shape, requires_grad=True)
        with pytest.raises(ValueError, match="Muon only supports 2D parameters"):
            tg.optim.Muon([tg.zeros(2, 2, requires_grad=True), p])
        with pytest.raises(ValueError):
            torch.optim.Muon([torch.zeros(2, 2, requires_grad=True), torch.zeros(shape, requires_grad=True)])


# ------------------------------------------------------------------------------------------------ SparseAdam
class _Bag:
    """Embedding(sparse=True) -> mean over the sequence -> Linear, and a squared loss; SparseAdam on the table,
    Adam on the linear layer (the usual split)."""

    def __init__(self, lib, rng, padding_idx=None):
        self.lib = lib
        self.emb = lib.nn.Embedding(12, 4, padding_idx=padding_idx, sparse=True).double()
        self.lin = lib.nn.Linear(4, 2).double()
        with lib.no_grad():
            for p, a in zip([self.emb.weight, self.lin.weight, self.lin.bias],
                            [rng.standard_normal((12, 4)), rng.standard_normal((2, 4)), rng.standard_normal(2)]):
                p.copy_(lib.tensor(a))

    def loss(self, idx, y):
        return ((self.lin(self.emb(idx).mean(1)) - y) ** 2).sum()


def _sparse_adam_run(lib, kw, steps=8, padding_idx=None, seed=0):
    rng = np.random.default_rng(seed)
    m = _Bag(lib, rng, padding_idx)
    sparse_opt = lib.optim.SparseAdam(list(m.emb.parameters()), **kw)
    dense_opt = lib.optim.Adam(list(m.lin.parameters()), lr=0.01)
    out = []
    for _ in range(steps):
        idx = lib.tensor(rng.integers(0, 12, (3, 5)))  # repeats within a batch, rows never looked up
        y = lib.tensor(rng.standard_normal((3, 2)))
        sparse_opt.zero_grad()
        dense_opt.zero_grad()
        m.loss(idx, y).backward()
        assert m.emb.weight.grad.is_sparse
        sparse_opt.step()
        dense_opt.step()
        out.append(([_np(m.emb.weight), _np(m.lin.weight)], _state_np(sparse_opt, lib)))
    return out


@pytest.mark.parametrize("kw,padding_idx", [({}, None), (dict(lr=0.05, betas=(0.5, 0.9), eps=1e-4), 3),
                                            (dict(lr=0.02, maximize=True), None)], ids=str)
def test_sparse_adam_matches_torch(kw, padding_idx):
    _compare(_sparse_adam_run(tg, kw, padding_idx=padding_idx), _sparse_adam_run(torch, kw, padding_idx=padding_idx),
             1e-12, 1e-14, f"SparseAdam({kw})")


def test_sparse_adam_lazy_rows():
    """Rows not in the gradient keep their value and moments (the lazy update), and an empty gradient counts a
    step but changes nothing."""
    w = tg.nn.Parameter(tg.randn(6, 3, dtype=tg.float64))
    opt = tg.optim.SparseAdam([w], lr=0.1)
    before = _np(w)
    tg.nn.functional.embedding(tg.tensor([1, 4, 1]), w, sparse=True).sum().backward()
    opt.step()
    after = _np(w)
    changed = np.nonzero((after != before).any(1))[0].tolist()
    assert changed == [1, 4]
    assert not opt.state[w]["exp_avg"].numpy()[[0, 2, 3, 5]].any()
    w.grad = None
    tg.nn.functional.embedding(tg.tensor([], dtype=tg.int64), w, sparse=True).sum().backward()
    opt.step()
    assert opt.state[w]["step"] == 2 and (_np(w) == after).all()


def test_sparse_adam_refuses_dense_gradients_and_sparse_params():
    w = tg.nn.Parameter(tg.randn(4, 2))
    opt = tg.optim.SparseAdam([w])
    (w ** 2).sum().backward()
    with pytest.raises(RuntimeError, match="SparseAdam does not support dense gradients, please consider Adam"):
        opt.step()
    tw = torch.nn.Parameter(torch.randn(4, 2))
    (tw ** 2).sum().backward()
    with pytest.raises(RuntimeError, match="does not support dense gradients"):
        torch.optim.SparseAdam([tw]).step()
    s = tg.sparse_coo_tensor([[0, 1]], [1.0, 2.0], (3,), requires_grad=True)
    with pytest.raises(ValueError, match=r"Sparse params at indices \[\[0, 1\]\]"):
        tg.optim.SparseAdam([w, s])


# --------------------------------------------------------------------------------------- state_dict round trips
def _fresh(lib, name, shapes, kw, seed):
    rng = np.random.default_rng(seed)
    ps = [lib.tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]
    return ps, getattr(lib.optim, name)(ps, **kw)


def _steps(lib, ps, opt, shapes, rng, n):
    for _ in range(n):
        for p, s in zip(ps, shapes):
            p.grad = lib.tensor(rng.standard_normal(s))
        opt.step()


@pytest.mark.parametrize("name,shapes,kw", [("Adafactor", SHAPES_ANY, dict(weight_decay=0.1)),
                                            ("Muon", SHAPES_2D, dict(lr=0.05))], ids=["Adafactor", "Muon"])
def test_state_dict_round_trip(name, shapes, kw):
    """3 steps, state_dict (through pickle) into a new optimizer over copies of the parameters, 3 more steps: the
    same as 6 uninterrupted steps; torch's state_dict after 3 steps loads here and continues as torch does."""
    ps, opt = _fresh(tg, name, shapes, kw, 0)
    rng = np.random.default_rng(1)
    _steps(tg, ps, opt, shapes, rng, 3)
    sd = pickle.loads(pickle.dumps(opt.state_dict()))
    ps2 = [tg.tensor(_np(p), requires_grad=True) for p in ps]
    opt2 = getattr(tg.optim, name)(ps2, **kw)
    opt2.load_state_dict(sd)
    rng_a, rng_b = copy.deepcopy(rng), copy.deepcopy(rng)
    _steps(tg, ps, opt, shapes, rng_a, 3)
    _steps(tg, ps2, opt2, shapes, rng_b, 3)
    for a, b in zip(ps, ps2):
        assert (_np(a) == _np(b)).all()

    tps, topt = _fresh(torch, name, shapes, kw, 0)
    rng = np.random.default_rng(1)
    _steps(torch, tps, topt, shapes, rng, 3)
    ps3 = [tg.tensor(_np(p), requires_grad=True) for p in tps]
    opt3 = getattr(tg.optim, name)(ps3, **kw)
    opt3.load_state_dict(topt.state_dict())
    rng_a, rng_b = copy.deepcopy(rng), copy.deepcopy(rng)
    _steps(torch, tps, topt, shapes, rng_a, 3)
    _steps(tg, ps3, opt3, shapes, rng_b, 3)
    for a, b in zip(ps3, tps):
        np.testing.assert_allclose(_np(a), _np(b), rtol=1e-12, atol=1e-14)


def test_sparse_adam_state_dict_round_trip():
    rng = np.random.default_rng(0)
    w = tg.nn.Parameter(tg.tensor(rng.standard_normal((8, 3))))
    opt = tg.optim.SparseAdam([w], lr=0.05)

    def step(w, opt, idx):
        opt.zero_grad()
        (tg.nn.functional.embedding(tg.tensor(idx), w, sparse=True) ** 2).sum().backward()
        opt.step()

    batches = [rng.integers(0, 8, 5) for _ in range(6)]
    for b in batches[:3]:
        step(w, opt, b)
    w2 = tg.nn.Parameter(tg.tensor(_np(w)))
    opt2 = tg.optim.SparseAdam([w2], lr=0.05)
    opt2.load_state_dict(pickle.loads(pickle.dumps(opt.state_dict())))
    for b in batches[3:]:
        step(w, opt, b)
        step(w2, opt2, b)
    assert (_np(w) == _np(w2)).all()


# --------------------------------------------------------------------------------------- signatures and errors
@pytest.mark.parametrize("name", ["Adafactor", "Muon", "SparseAdam"])
def test_signature_matches_torch(name):
    ours = inspect.signature(getattr(tg.optim, name)).parameters
    theirs = inspect.signature(getattr(torch.optim, name)).parameters
    assert list(ours) == list(theirs)
    for k in ours:
        assert ours[k].default == theirs[k].default, k
        assert ours[k].kind == theirs[k].kind, k


BAD = [
    ("Adafactor", dict(lr=-1.0)), ("Adafactor", dict(beta2_decay=0.5)), ("Adafactor", dict(eps=(-1.0, 1e-3))),
    ("Adafactor", dict(eps=(None, -1.0))), ("Adafactor", dict(d=0.5)), ("Adafactor", dict(weight_decay=-0.1)),
    ("Muon", dict(lr=-1.0)), ("Muon", dict(momentum=-0.5)), ("Muon", dict(weight_decay=-1.0)),
    ("Muon", dict(adjust_lr_fn="spectral")),
    ("SparseAdam", dict(lr=0.0)), ("SparseAdam", dict(eps=0.0)), ("SparseAdam", dict(betas=(1.0, 0.9))),
    ("SparseAdam", dict(betas=(0.9, -0.1))),
]


@pytest.mark.parametrize("name,kw", BAD, ids=str)
def test_invalid_arguments_raise_as_torch(name, kw):
    with pytest.raises(ValueError) as ours:
        getattr(tg.optim, name)([tg.zeros(2, 2, requires_grad=True)], **kw)
    with pytest.raises(ValueError):
        getattr(torch.optim, name)([torch.zeros(2, 2, requires_grad=True)], **kw)
    value = next(iter(kw.values()))
    assert any(str(v) in str(ours.value) for v in (value if isinstance(value, tuple) else (value,))
               if v is not None), f"the message names no offending value: {ours.value}"


def test_step_time_errors():
    """Errors torch raises only at step(): Muon's Newton-Schulz step bound, a parameter added later with the wrong
    number of dims, an lr tensor of several elements."""
    p = tg.zeros(2, 2, requires_grad=True)
    opt = tg.optim.Muon([p], ns_steps=100)
    p.grad = tg.ones(2, 2)
    with pytest.raises(ValueError, match="less than 100"):
        opt.step()
    opt = tg.optim.Muon([p])
    q = tg.zeros(3, requires_grad=True)
    opt.add_param_group({"params": [q]})
    q.grad = tg.ones(3)
    with pytest.raises(ValueError, match="2D matrix"):
        opt.step()
    with pytest.raises(ValueError, match="1-element"):
        tg.optim.Adafactor([p], lr=tg.tensor([0.1, 0.2]))
