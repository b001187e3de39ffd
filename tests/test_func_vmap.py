"""tensorgrad.func.vmap (and tensorgrad.vmap) against torch.func.vmap on the same inputs: values and gradients for
random shapes and in_dims / out_dims, structures of inputs and outputs, size-1 and size-0 batches, nesting,
composition with grad / jacrev / hessian (per-sample gradients of an MLP and a CNN), randomness, torch's ensembling
recipe with stack_module_state, and torch's error messages."""
import copy
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import tensorgrad as tg
from tensorgrad.func import _pytree as P

RNG = np.random.default_rng(0)


def _tensors(L, arrays, grad=True):
    return [L.tensor(a, requires_grad=grad and a.dtype.kind == "f") for a in arrays]


def _np(t):
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else t.detach().numpy()


def run_both(make, arrays, grad=True, atol=1e-10):
    """make(L, *inputs) with L = tensorgrad and L = torch on the same arrays: the outputs (any structure) must match,
    and so must the gradients of sum(w * out) (w fixed random weights) with respect to every float input."""
    res = {}
    for L in (tg, torch):
        ins = _tensors(L, arrays, grad)
        out = make(L, *ins)
        leaves, spec = P.flatten(out)
        res[L] = [leaves, spec, None]
        floats = [x for x in ins if x.requires_grad]
        if grad and floats:
            w = np.random.default_rng(1)
            loss = sum((o * L.tensor(w.standard_normal(tuple(o.shape)))).sum() for o in leaves
                       if isinstance(o, (tg.Tensor, torch.Tensor)) and o.dtype in (tg.float64, torch.float64))
            gs = L.autograd.grad(loss, floats, allow_unused=True) if isinstance(loss, (tg.Tensor, torch.Tensor)) \
                else [None] * len(floats)
            res[L][2] = [np.zeros(x.shape) if g is None else _np(g) for g, x in zip(gs, floats)]
    (a, sa, ga), (b, sb, gb) = res[tg], res[torch]
    assert len(a) == len(b) and sa == sb
    for x, y in zip(a, b):
        if isinstance(y, torch.Tensor):
            assert tuple(x.shape) == tuple(y.shape), (x.shape, y.shape)
            np.testing.assert_allclose(_np(x), _np(y), atol=atol, rtol=1e-9)
        else:
            assert x == y
    if ga is not None:
        for x, y in zip(ga, gb):
            np.testing.assert_allclose(x, y, atol=atol, rtol=1e-9)
    return res[tg][0]


def arr(*shape):
    return RNG.standard_normal(shape)


# --------------------------------------------------------------------------------------------------- in/out dims
FUNCS = {  # per-sample functions of one or two same-shape samples, each a different kind of op
    "mul_sin": lambda L, a, b: L.sin(a) * b,
    "sum_last": lambda L, a, b: (a * b).sum(-1),
    "softmax": lambda L, a, b: L.softmax(a + b, dim=0),
    "cumsum": lambda L, a, b: L.cumsum(a, 0) - b,
    "outer": lambda L, a, b: a.reshape(-1)[:, None] * b.reshape(-1)[None, :],
    "scalar": lambda L, a, b: (a * b).sum(),
}


@pytest.mark.parametrize("name", sorted(FUNCS))
@pytest.mark.parametrize("seed", range(4))
def test_random_shapes_and_dims(name, seed):
    rng = np.random.default_rng(seed)
    sample = tuple(int(s) for s in rng.integers(1, 4, size=int(rng.integers(1, 4))))
    batch = int(rng.integers(1, 5))
    in_a = int(rng.integers(-len(sample) - 1, len(sample) + 1))
    in_b = [None, 0, -1][seed % 3]
    a = np.moveaxis(rng.standard_normal((batch,) + sample), 0, in_a)
    b = rng.standard_normal(sample) if in_b is None else np.moveaxis(rng.standard_normal((batch,) + sample), 0, in_b)
    f = FUNCS[name]

    def make(L, x, y):
        out_nd = f(L, L.zeros(sample, dtype=L.float64), L.zeros(sample, dtype=L.float64)).dim()
        od = int(np.random.default_rng(seed).integers(-out_nd - 1, out_nd + 1))
        return L.func.vmap(lambda p, q: f(L, p, q), in_dims=(in_a, in_b), out_dims=od)(x, y)
    run_both(make, [a, b])


def test_top_level_name_and_defaults():
    assert tg.vmap is tg.func.vmap
    run_both(lambda L, x: L.vmap(L.sin)(x), [arr(3, 2)])
    run_both(lambda L, x, y: L.vmap(L.dot)(x, y), [arr(4, 3), arr(4, 3)])
    run_both(lambda L, x, y: L.vmap(L.mv, in_dims=(0, None))(x, y), [arr(4, 3, 2), arr(2)])


@pytest.mark.parametrize("batch", [1, 0])
def test_size_one_and_zero_batches(batch):
    # torch runs f on the empty batch and returns empty outputs of the right shape; tensorgrad gets the shape from
    # one call on zeros
    run_both(lambda L, x, y: L.vmap(lambda a, b: (a @ b).sum(0), in_dims=(0, None))(x, y),
             [arr(batch, 3, 2), arr(2, 4)])
    run_both(lambda L, x: L.vmap(lambda a: (a.sum(), a * 2), in_dims=1, out_dims=(0, -1))(x), [arr(3, batch)])
    run_both(lambda L, x: L.vmap(lambda a: (a, L.ones(2, dtype=L.float64)), out_dims=(1, None))(x), [arr(batch, 2)])


def test_structured_inputs_and_outputs():
    def make(L, x, y, z):
        def f(d, lst, scale, flag=None):
            assert scale == 2.5 and flag == "k"
            return {"u": d["a"] * d["b"] * scale, "v": [lst[0] + lst[1], lst[1].sum()]}
        return L.vmap(f, in_dims=({"a": 0, "b": None}, [1, 0], None), out_dims={"u": 1, "v": [0, -1]})(
            {"a": x, "b": z}, [y.transpose(0, 1), x], 2.5, flag="k")
    run_both(make, [arr(4, 3), arr(4, 3), arr(3)])
    # in_dims as a prefix: one int for a whole dict; None for a whole list
    run_both(lambda L, x, y: L.vmap(lambda d, lst: d["p"] + d["q"] * lst[0], in_dims=(0, None))(
        {"p": x, "q": x * 2}, [y]), [arr(5, 2), arr(2)])
    # a 1-tuple out_dims for a single tensor output, an int broadcast over a tuple output, namedtuples
    run_both(lambda L, x: L.vmap(lambda a: a * 3, out_dims=(1,))(x), [arr(4, 2)])
    run_both(lambda L, x: L.vmap(lambda a: (a, a.exp()), out_dims=-1)(x), [arr(4, 2)])
    import collections
    Pair = collections.namedtuple("Pair", "a b")
    out = run_both(lambda L, x: L.vmap(lambda p: Pair(p.a * p.b, p.a), in_dims=(Pair(0, None),))(Pair(x, x[0])),
                   [arr(3, 2)])
    assert len(out) == 2


def test_out_dims_none_and_non_tensor_outputs():
    run_both(lambda L, x, y: L.vmap(lambda a: (a * 2, y, 7), out_dims=(0, None, None))(x)[:2], [arr(3, 2), arr(5)])
    with pytest.raises(ValueError, match="can not return a BatchedTensor when out_dim is None"):
        tg.vmap(lambda a: a, out_dims=None)(tg.randn(3, 2))


def test_keyword_arguments_are_not_batched():
    run_both(lambda L, x, k: L.vmap(lambda a, k=None: a * k)(x, k=k), [arr(3, 4), arr(3, 4)])


def test_inplace_writes_through_to_the_batched_input():
    for L in (tg, torch):
        x = L.zeros(3, 2, dtype=L.float64)
        L.vmap(lambda a: a.add_(1.0))(x)
        np.testing.assert_array_equal(_np(x), np.ones((3, 2)))


# ----------------------------------------------------------------------------------------------- nesting, transforms
def test_nested_vmap():
    run_both(lambda L, x, y: L.vmap(L.vmap(L.dot))(x, y), [arr(2, 3, 4), arr(2, 3, 4)])
    # outer products: the inner map over y's rows, the outer over x's
    run_both(lambda L, x, y: L.vmap(L.vmap(lambda a, b: (a * b).sum(), in_dims=(None, 0)), in_dims=(0, None))(x, y),
             [arr(3, 5), arr(4, 5)])
    run_both(lambda L, x: L.vmap(L.vmap(lambda a: a.cumsum(0), in_dims=1, out_dims=1), in_dims=-1, out_dims=0)(x),
             [arr(2, 3, 4)])


def _mlp_params(L, w1, b1, w2, b2):
    return {"w1": w1, "b1": b1, "w2": w2, "b2": b2}


def _mlp_loss(L, p, x, y):
    h = L.tanh(x @ p["w1"].T + p["b1"])
    return ((h @ p["w2"].T + p["b2"] - y) ** 2).mean()


def test_per_sample_gradients_mlp():
    def make(L, w1, b1, w2, b2, x, y):
        p = _mlp_params(L, w1, b1, w2, b2)
        g = L.func.grad(lambda p_, a, t: _mlp_loss(L, p_, a[None], t[None]))
        out = L.func.vmap(g, in_dims=(None, 0, 0))(p, x, y)
        return [out[k] for k in ("w1", "b1", "w2", "b2")]
    got = run_both(make, [arr(5, 3), arr(5), arr(2, 5), arr(2), arr(6, 3), arr(6, 2)])
    assert tuple(got[0].shape) == (6, 5, 3)


def test_per_sample_gradients_cnn():
    def make(L, w, b, v, x, y):
        def loss(w_, b_, v_, img, t):
            h = L.relu(L.nn.functional.conv2d(img[None], w_, b_, padding=1))
            h = L.nn.functional.max_pool2d(h, 2).reshape(1, -1)
            return L.nn.functional.cross_entropy(h @ v_, t[None])
        return L.func.vmap(L.func.grad(loss, argnums=(0, 1, 2)), in_dims=(None, None, None, 0, 0))(w, b, v, x, y)
    x = arr(4, 2, 6, 6)
    y = RNG.integers(0, 3, size=4)
    run_both(make, [arr(3, 2, 3, 3), arr(3), arr(27, 3), x, y], atol=1e-9)


def test_jacrev_of_vmap_and_vmap_of_jacrev():
    run_both(lambda L, x: L.func.jacrev(L.vmap(lambda a: L.sin(a) * a.sum()))(x), [arr(3, 2)])
    run_both(lambda L, x: L.vmap(L.func.jacrev(lambda a: L.tanh(a) * a[0]))(x), [arr(4, 3)])
    run_both(lambda L, x: L.vmap(L.func.hessian(lambda a: (a ** 3).sum() * a[1]))(x), [arr(2, 3)])
    run_both(lambda L, x: L.func.grad(lambda a: L.vmap(lambda r: r.exp().sum())(a).prod())(x), [arr(3, 2)])


def test_vmap_of_jvp():
    run_both(lambda L, x, t: L.vmap(lambda a, u: L.func.jvp(lambda z: L.sin(z) * z, (a,), (u,))[1])(x, t),
             [arr(3, 4), arr(3, 4)])


# --------------------------------------------------------------------------------------------------- randomness
def test_randomness_error_raises_as_torch():
    msg = "vmap: called random operation while in randomness error mode"
    for L in (tg, torch):
        for f in (lambda a: a + L.randn(3), lambda a: L.rand_like(a),
                  lambda a: L.nn.functional.dropout(a, 0.5, training=True)):
            with pytest.raises(RuntimeError, match=msg):
                L.vmap(f)(L.zeros(2, 3))
    state = tg.get_rng_state()
    with pytest.raises(RuntimeError, match=msg):
        tg.vmap(lambda a: a * tg.randn(3))(tg.zeros(2, 3))
    tg.set_rng_state(state)  # (works whatever get_rng_state returns) and the failed call drew nothing:
    first = tg.randn(3)
    tg.set_rng_state(state)
    with pytest.raises(RuntimeError, match=msg):
        tg.vmap(lambda a: a * tg.randn(3))(tg.zeros(2, 3))
    np.testing.assert_array_equal(tg.randn(3).numpy(), first.numpy())
    # a size-0 batch still runs f once, and draws there are refused too
    with pytest.raises(RuntimeError, match=msg):
        tg.vmap(lambda a: a * tg.randn(3))(tg.zeros(0, 3))


def test_randomness_same_and_different():
    tg.manual_seed(3)
    out = tg.vmap(lambda a: a + tg.randn(3), randomness="same")(tg.zeros(4, 3))
    after = tg.randn(2)
    tg.manual_seed(3)
    once = tg.randn(3)
    np.testing.assert_array_equal(out.numpy(), np.broadcast_to(once.numpy(), (4, 3)))
    np.testing.assert_array_equal(after.numpy(), tg.randn(2).numpy())  # the generator moved as for one draw
    tg.manual_seed(3)
    out = tg.vmap(lambda a: tg.nn.functional.dropout(a, 0.5) + tg.randn(()), randomness="different")(tg.ones(4, 50))
    rows = out.numpy()
    assert all(not np.array_equal(rows[0], r) for r in rows[1:])
    tg.manual_seed(3)
    same = tg.vmap(lambda a: tg.nn.functional.dropout(a, 0.5), randomness="same")(tg.ones(4, 50)).numpy()
    assert all(np.array_equal(same[0], r) for r in same[1:]) and (same[0] == 0).any() and (same[0] == 2).any()


def test_nested_randomness_as_torch():
    # any level in 'error' mode refuses a draw; 'same' inside 'different' (and the reverse) share draws along the
    # 'same' level only
    x = np.zeros((2, 3, 4))
    for L in (tg, torch):
        def f(a):
            return a + L.randn(4, dtype=L.float64)
        for outer, inner in (("error", "same"), ("error", "different"), ("same", "error")):
            with pytest.raises(RuntimeError, match="randomness error mode"):
                L.vmap(L.vmap(f, randomness=inner), randomness=outer)(L.tensor(x))
        r = _np(L.vmap(L.vmap(f, randomness="same"), randomness="different")(L.tensor(x)))
        assert np.array_equal(r[0, 0], r[0, 1]) and not np.array_equal(r[0, 0], r[1, 0])
        r = _np(L.vmap(L.vmap(f, randomness="different"), randomness="same")(L.tensor(x)))
        assert not np.array_equal(r[0, 0], r[0, 1]) and np.array_equal(r[0, 0], r[1, 0])


# --------------------------------------------------------------------------------------------------- ensembling
def _ensemble(L, n, seed):
    models = []
    for i in range(n):
        L.manual_seed(seed + i)
        models.append(L.nn.Sequential(L.nn.Linear(4, 8), L.nn.BatchNorm1d(8), L.nn.ReLU(), L.nn.Linear(8, 3)).double())
    return models


def test_stack_module_state_and_ensembling_recipe():
    tmods, gmods = _ensemble(torch, 3, 0), _ensemble(tg, 3, 0)
    for tm, gm in zip(tmods, gmods):
        for (_, tp), (_, gp) in zip(tm.state_dict().items(), gm.state_dict().items()):
            gp.copy_(tg.tensor(tp.detach().numpy()))
        tm.eval()
        gm.eval()
    x = arr(5, 4)
    res = {}
    for L, models in ((torch, tmods), (tg, gmods)):
        params, buffers = L.func.stack_module_state(models)
        assert params["0.weight"].shape == (3, 8, 4) and params["0.weight"].requires_grad
        assert params["0.weight"].is_leaf and not buffers["1.running_mean"].requires_grad
        base = copy.deepcopy(models[0])
        if L is torch:
            base = base.to("meta")
        else:  # no meta device here: the deep copy serves, since functional_call replaces all its tensors
            with pytest.raises(NotImplementedError, match="no meta device.*copy.deepcopy"):
                copy.deepcopy(base).to("meta")
        out = L.vmap(lambda p, b, a: L.func.functional_call(base, (p, b), (a,)), in_dims=(0, 0, None))(
            params, buffers, L.tensor(x))
        out.pow(2).sum().backward()
        res[L] = (_np(out), {k: _np(v.grad) for k, v in params.items()})
        assert models[0][0].weight.grad is None  # gradients reach the stacked leaves, not the models
    np.testing.assert_allclose(res[tg][0], res[torch][0], atol=1e-10)
    for k in res[torch][1]:
        np.testing.assert_allclose(res[tg][1][k], res[torch][1][k], atol=1e-10)


def test_stack_module_state_errors():
    with pytest.raises(RuntimeError, match="Expected at least one model, got 0"):
        tg.func.stack_module_state([])
    a, b = tg.nn.Linear(2, 2), tg.nn.Linear(2, 2)
    b.eval()
    with pytest.raises(RuntimeError, match="same training/eval mode"):
        tg.func.stack_module_state([a, b])
    with pytest.raises(RuntimeError, match="same class"):
        tg.func.stack_module_state([a, tg.nn.Tanh()])
    b.train()
    b.weight.requires_grad_(False)
    with pytest.raises(RuntimeError, match="Expected weight from each model to have the same .requires_grad"):
        tg.func.stack_module_state([a, b])


# --------------------------------------------------------------------------------------------------- errors
def _x(L):
    return L.arange(12.0).reshape(3, 4)  # distinct rows: out_dims=None sees the batch


ERRORS = [  # (vmap call given the library L), compared with torch's exception type and message
    lambda L: L.vmap(L.add)(L.zeros(3, 4), L.zeros(5, 4)),
    lambda L: L.vmap(L.sin, in_dims=2)(_x(L)),
    lambda L: L.vmap(L.sin, in_dims=-3)(_x(L)),
    lambda L: L.vmap(L.sin, in_dims=None)(_x(L)),
    lambda L: L.vmap(lambda a, b: a * b, in_dims=(0, 0))(_x(L), 2.0),
    lambda L: L.vmap(lambda a, b: a * b, in_dims=(0,))(_x(L), _x(L)),
    lambda L: L.vmap(lambda a: a, in_dims="a")(_x(L)),
    lambda L: L.vmap(lambda a: a, in_dims=[0])(_x(L)),
    lambda L: L.vmap(lambda a: a, in_dims=(0.5,))(_x(L)),
    lambda L: L.vmap(lambda a: 3)(_x(L)),
    lambda L: L.vmap(lambda a: (a, None))(_x(L)),
    lambda L: L.vmap(lambda a: a, out_dims=None)(_x(L)),
    lambda L: L.vmap(lambda a: a, out_dims=2)(_x(L)),
    lambda L: L.vmap(lambda a: a.sum(), out_dims=-3)(_x(L)),
    lambda L: L.vmap(lambda a: (a, a), out_dims=(0,))(_x(L)),
    lambda L: L.vmap(lambda a: (a, a), out_dims="x")(_x(L)),
    lambda L: L.vmap(lambda a: [a, {"k": a}], out_dims=(0, 1))(_x(L)),
    lambda L: L.vmap(lambda a, b: a, in_dims=(0, None))(_x(L)[0, 0], 1),
    lambda L: L.vmap(lambda a: a, in_dims=(None,))(_x(L)),
    lambda L: L.vmap(lambda: L.ones(2))(),
    lambda L: L.vmap(lambda a: a, randomness="foo")(_x(L)),
    lambda L: L.vmap(lambda a: a, chunk_size=0)(_x(L)),
    lambda L: L.vmap(lambda d: d["a"], in_dims=({"a": 0},))({"a": _x(L), "b": _x(L)}),
    lambda L: L.vmap(lambda d: d["a"], in_dims=(0,))({"a": _x(L), "n": None}),
    lambda L: L.vmap(L.vmap(L.add))(L.zeros(2, 3), L.zeros(2, 4)),
]


@pytest.mark.parametrize("i", range(len(ERRORS)))
def test_errors_match_torch(i):
    caught = {}
    for L in (tg, torch):
        with pytest.raises(Exception) as info:
            ERRORS[i](L)
        caught[L] = info.value
    assert type(caught[tg]) is type(caught[torch])
    assert str(caught[tg]) == str(caught[torch])


def test_differences_documented():
    # a loop can run per-sample Python that torch's batched tensors refuse
    out = tg.vmap(lambda a: a * a.sum().item())(tg.ones(2, 3))
    np.testing.assert_array_equal(out.numpy(), np.full((2, 3), 3.0))
    with pytest.raises(ValueError, match="different shapes or dtypes for different samples"):
        tg.vmap(lambda a: a[: int(a[0].item())])(tg.tensor([[1.0, 5.0], [2.0, 5.0]]))


# --------------------------------------------------------------------------------------------------- under compat
PER_SAMPLE = textwrap.dedent("""
    import copy
    import torch
    from torch.func import functional_call, grad, vmap, stack_module_state
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    params = {k: v.detach() for k, v in model.named_parameters()}
    x, y = torch.randn(5, 3), torch.randn(5, 1)
    def loss(p, a, t):
        return torch.nn.functional.mse_loss(functional_call(model, p, (a[None],)), t[None])
    g = vmap(grad(loss), in_dims=(None, 0, 0))(params, x, y)
    ref = [grad(loss)(params, x[i], y[i]) for i in range(5)]
    for k in g:
        assert torch.allclose(g[k], torch.stack([r[k] for r in ref])), k
    assert torch.vmap is vmap and torch.func.vmap is vmap and g["0.weight"].shape == (5, 4, 3)
    ps, bs = stack_module_state([copy.deepcopy(model) for _ in range(3)])
    out = vmap(lambda p, b, a: functional_call(model, (p, b), (a,)), in_dims=(0, 0, None))(ps, bs, x)
    assert out.shape == (3, 5, 1)
    print("ok", sorted(g))
""")


def _run_compat(tmp_path, runner):
    script = tmp_path / "per_sample.py"
    script.write_text(PER_SAMPLE)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    return subprocess.run([sys.executable, *runner, str(script)], capture_output=True, text=True, env=env, timeout=120)


def test_per_sample_gradients_under_compat(tmp_path):
    r = _run_compat(tmp_path, ["-m", "tensorgrad.compat"])
    assert r.returncode == 0, r.stderr
