"""tensorgrad.func's jvp, linearize, jacfwd (and the nested-argument grad / vjp / jacrev they share code with) against
torch.func on the same inputs: values and gradients through them, nested transforms, torch's error messages, and
what happens at an op without double backward."""
import numpy as np
import pytest
import torch

import tensorgrad as tg
from test_func_vmap import run_both, arr, RNG

FUNCS = {
    "sin_mul": lambda L, a: L.sin(a) * a,
    "softmax": lambda L, a: L.softmax(a, dim=-1) * a.sum(),
    "matmul": lambda L, a: a @ a.transpose(-1, -2) if a.dim() > 1 else a * a.sum(),
    "norm": lambda L, a: L.tanh(a).norm() * a,
    "cumprod": lambda L, a: L.cumprod(a, 0),
}


@pytest.mark.parametrize("name", sorted(FUNCS))
@pytest.mark.parametrize("seed", range(3))
def test_jvp_matches_torch(name, seed):
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in rng.integers(1, 4, size=int(rng.integers(1, 3))))
    f = FUNCS[name]
    run_both(lambda L, x, t: L.func.jvp(lambda a: f(L, a), (x,), (t,)), [rng.standard_normal(shape),
                                                                          rng.standard_normal(shape)])


def test_jvp_structures_and_aux():
    def make(L, x, y, t, u):
        def f(a, d):
            return {"p": a * d["k"], "q": [L.exp(a).sum(), d["k"] ** 2]}, a.sum() * 3
        out, jv, aux = L.func.jvp(f, (x, {"k": y}), (t, {"k": u}), has_aux=True)
        return out, jv, aux
    run_both(make, [arr(3), arr(3), arr(3), arr(3)])
    # an unused primal, an output that does not depend on the primals, an integer output
    run_both(lambda L, x, y, t: L.func.jvp(lambda a, b: (a * 2, L.ones(2, dtype=L.float64), L.arange(3)), (x, y),
                                           (t, t)), [arr(3), arr(3), arr(3)])


def test_linearize_matches_torch():
    def f(L):
        return lambda a, b: (L.sin(a) * b, (a * b).sum())

    def make(L, x, y, t, u):
        out, fn = L.func.linearize(f(L), x, y)
        return out, fn(t, u), fn(u, t)
    data = [arr(2, 3), arr(2, 3), arr(2, 3), arr(2, 3)]
    run_both(make, data, grad=False)

    # differentiated, jvp_fn's results are torch.func.jvp's: torch's linearize folds the primals' part into
    # constants (its gradient with respect to a primal is None), tensorgrad's keeps it
    def make_jvp(L, x, y, t, u):
        if L is tg:
            return make(L, x, y, t, u)
        return L.func.jvp(f(L), (x, y), (t, u)) + (L.func.jvp(f(L), (x, y), (u, t))[1],)
    run_both(make_jvp, data)


def test_jacfwd_matches_torch():
    run_both(lambda L, x: L.func.jacfwd(lambda a: L.sin(a) * a.sum())(x), [arr(4)])
    run_both(lambda L, x, y: L.func.jacfwd(lambda a, b: a[:, None] * b, argnums=(0, 1))(x, y), [arr(3), arr(2)])
    run_both(lambda L, x, y: L.func.jacfwd(lambda a, b: a @ b, argnums=1)(x, y), [arr(2, 3), arr(3, 2)])
    # a negative argnum counts from the end, as jacrev's (torch 2.13's jacfwd gives zeros for argnums=-1: compared
    # with its jacrev)
    run_both(lambda L, x, y: (L.func.jacfwd if L is tg else L.func.jacrev)(lambda a, b: a @ b, argnums=-1)(x, y),
             [arr(2, 3), arr(3, 2)])
    run_both(lambda L, x: L.func.jacfwd(lambda a: (a.sin(), a.cos()), has_aux=True)(x), [arr(3)])
    run_both(lambda L, x: L.func.jacfwd(lambda d: {"s": d["a"].sum() * d["b"], "t": d["a"]})({"a": x, "b": x * 2}),
             [arr(3)])


def test_jacrev_grad_vjp_take_structures():
    run_both(lambda L, x: L.func.jacrev(lambda d: (d["a"] * d["b"][0], d["b"][1].exp()), has_aux=False)(
        {"a": x, "b": [x * 2, x[:2]]}), [arr(3)])
    run_both(lambda L, x: L.func.jacrev(lambda a: (a.sin(), {"aux": a.sum()}), has_aux=True)(x), [arr(3)])
    run_both(lambda L, x, y: L.func.grad(lambda d, k=None: (d["a"] * d["b"] * k).sum(), has_aux=False)(
        {"a": x, "b": y}, k=2.0), [arr(3), arr(3)])
    run_both(lambda L, x: L.func.grad_and_value(lambda a: ((a ** 2).sum(), [a.mean()]), has_aux=True)(x), [arr(4)])

    def make(L, x, y, c):
        out, fn = L.func.vjp(lambda a, d: (a * d["k"], a.sum()), x, {"k": y})
        return out, fn((c, c.sum()))
    run_both(make, [arr(3), arr(3), arr(3)])


def test_hessian_of_structures():
    run_both(lambda L, x, y: L.func.hessian(lambda a, b: (a * b).sin().sum(), argnums=(0, 1))(x, y), [arr(3), arr(3)])
    run_both(lambda L, x: L.func.hessian(lambda d: (d["a"] ** 3).sum() * d["b"].sum())({"a": x, "b": x[:2] * 1}),
             [arr(3)])
    for L in (tg, torch):
        with pytest.raises(ValueError, match="jacrev: `chunk_size` should be greater than 0."):
            L.func.jacrev(L.sin, chunk_size=0)


def test_nested_forward_and_reverse():
    # jvp of jvp: a second directional derivative; forward-over-reverse Hessian-vector product
    run_both(lambda L, x, t, u: L.func.jvp(lambda a: L.func.jvp(lambda b: L.sin(b) * b, (a,), (t,))[1], (x,), (u,)),
             [arr(3), arr(3), arr(3)])
    run_both(lambda L, x, v: L.func.jvp(L.func.grad(lambda a: (L.tanh(a) ** 3).sum()), (x,), (v,))[1],
             [arr(4), arr(4)])
    run_both(lambda L, x: L.func.jacfwd(L.func.jacrev(lambda a: (a.exp() * a[0]).sum()))(x), [arr(3)])
    run_both(lambda L, x, t: L.vmap(lambda a: L.func.jvp(L.sin, (a,), (t,))[1])(x), [arr(2, 3), arr(3)])
    run_both(lambda L, x: L.func.grad(lambda a: L.func.jacfwd(L.sin)(a).sum())(x), [arr(3)])


def _x(L):
    return L.tensor([0.3, -0.5, 1.2])


ERRORS = [
    lambda L: L.func.jvp(L.sin, _x(L), (_x(L),)),
    lambda L: L.func.jvp(L.sin, (_x(L),), (_x(L), _x(L))),
    lambda L: L.func.jvp(L.sin, (_x(L),), (L.zeros(4),)),
    lambda L: L.func.jvp(lambda a: a * 2, (L.arange(3),), (L.arange(3),)),
    lambda L: L.func.jvp(lambda a: a * 2, (3.0,), (1.0,)),
    lambda L: L.func.jvp(lambda a: 3, (_x(L),), (_x(L),)),
    lambda L: L.func.jvp(lambda a: a, (_x(L),), (_x(L),), has_aux=True),
    lambda L: L.func.jvp(lambda: _x(L), (), ()),
    lambda L: L.func.linearize(L.sin, _x(L))[1](_x(L), _x(L)),
    lambda L: L.func.jacfwd(lambda a: a)(L.arange(3)),
    lambda L: L.func.jacfwd(lambda a: a, argnums=1)(_x(L)),
    lambda L: L.func.jacfwd(lambda a: a, argnums=0.5)(_x(L)),
    lambda L: L.func.jacfwd(lambda a: a, argnums=())(_x(L)),
    lambda L: L.func.jacfwd(lambda a: a * L.randn(3))(_x(L)),
    lambda L: L.func.grad(lambda a: a)(_x(L)),
    lambda L: L.func.grad(lambda a: 3.0)(_x(L)),
    lambda L: L.func.grad(lambda a: a.sum(), has_aux=True)(_x(L)),
    lambda L: L.func.grad(lambda a: a.sum())(L.arange(3)),
    lambda L: L.func.grad(lambda a: a)(3.0),
    lambda L: L.func.grad(lambda: _x(L).sum())(),
    lambda L: L.func.vjp(lambda a: 3, _x(L)),
    lambda L: L.func.vjp(lambda a: a * 2, _x(L), has_aux=True),
]


@pytest.mark.parametrize("i", range(len(ERRORS)))
def test_errors_match_torch(i):
    caught = {}
    for L in (tg, torch):
        with pytest.raises(Exception) as info:
            ERRORS[i](L)
        caught[L] = info.value
    assert type(caught[tg]) is type(caught[torch])
    assert str(caught[tg]).replace("torch.", "") == str(caught[torch]).replace("torch.", "")


def test_linearize_tangent_checks():
    _, fn = tg.func.linearize(tg.sin, tg.zeros(3))
    with pytest.raises(RuntimeError, match=r"tangent:0 with shape \(4,\) in flattened pytree doesn't match"):
        fn(tg.zeros(4))
    with pytest.raises(RuntimeError, match="tangent:0 with dtype float64 in flattened pytree doesn't match the dtype "
                                           "float32"):
        fn(tg.zeros(3, dtype=tg.float64))


def _ctc(L, w):
    targets, lengths, tl = L.tensor([[1, 2], [1, 1]]), L.tensor([5, 5]), L.tensor([2, 2])
    return lambda lp: L.nn.functional.ctc_loss(lp * w, targets, lengths, tl)


def test_op_without_double_backward():
    # ctc_loss has a backward but no double backward (as torch): forward mode, built on double backward, refuses
    # it by name; reverse-mode transforms of first order work; differentiating them again refuses too
    lp = RNG.standard_normal((5, 2, 4))
    lp = lp - np.log(np.exp(lp).sum(-1, keepdims=True))
    x, w = tg.tensor(lp), tg.ones(4, dtype=tg.float64, requires_grad=True)
    with pytest.raises(RuntimeError, match="jvp.*double backward.*CTCLoss has no double backward"):
        tg.func.jvp(_ctc(tg, w), (x,), (x,))
    with pytest.raises(RuntimeError, match="linearize.*CTCLoss has no double backward"):
        tg.func.linearize(_ctc(tg, w), x)
    xt, wt = torch.tensor(lp), torch.ones(4, dtype=torch.float64)
    for name in ("jacfwd", "jacrev", "grad"):
        got = getattr(tg.func, name)(_ctc(tg, w))(x)
        want = getattr(torch.func, "jacrev" if name == "jacfwd" else name)(_ctc(torch, wt))(xt)
        np.testing.assert_allclose(got.detach().numpy(), want.numpy(), atol=1e-10)
    with pytest.raises(RuntimeError, match="CTCLoss has no double backward"):
        tg.func.hessian(_ctc(tg, w))(x)
    with pytest.raises(RuntimeError, match="CTCLoss has no double backward"):  # through a captured tensor too
        tg.autograd.grad(tg.func.grad(_ctc(tg, w))(x).sum(), [w])


def test_once_differentiable_custom_function():
    class Twice(tg.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        @tg.autograd.function.once_differentiable
        def backward(ctx, g):
            return g * 2
    with pytest.raises(RuntimeError, match="jvp.*once_differentiable"):
        tg.func.jvp(lambda a: Twice.apply(a).sin(), (tg.ones(3),), (tg.ones(3),))


# --------------------------------------------------------------------------------------------------- forward_ad
def _fw(L):
    return L.autograd.forward_ad


def test_forward_ad_matches_torch():
    def make(L, x, y, t, s):
        fw = _fw(L)
        with fw.dual_level():
            a, b = fw.make_dual(x, t), fw.make_dual(y, s)
            out = L.softmax(a * b, dim=-1) @ b.transpose(0, 1)
            p, tan = fw.unpack_dual(out)
            p2, tan2 = fw.unpack_dual(L.tanh(a).sum())
            assert fw.unpack_dual(a).tangent is t and fw.unpack_dual(x * 2).tangent is None
        return p, tan, p2, tan2
    # tangents (and their gradients with respect to the tangent inputs) as torch's; the primal comes back detached
    data = [arr(2, 3), arr(2, 3), arr(2, 3), arr(2, 3)]
    run_both(make, data, grad=False)

    def make_tangent(L, x, y, t, s):
        return make(L, x.detach(), y.detach(), t, s)[1]
    run_both(make_tangent, data)


def test_forward_ad_levels_and_errors():
    for L in (tg, torch):
        fw = _fw(L)
        x = L.ones(3)
        with pytest.raises(RuntimeError, match="no level exists, make sure to enter_dual_level"):
            fw.make_dual(x, x)
        with fw.dual_level():
            d = fw.make_dual(x, x * 2)
            y = d * 3
            np.testing.assert_allclose(_np_(fw.unpack_dual(y).tangent), [6.0, 6.0, 6.0])
            with pytest.raises(RuntimeError, match="Nested forward mode AD is not supported at the moment"):
                fw.enter_dual_level()
            with pytest.raises(RuntimeError, match="different size than that of the original Tensor"):
                fw.make_dual(x, L.ones(4))
            with pytest.raises(ValueError, match="Expected primal to be floating point or complex"):
                fw.make_dual(L.arange(3), L.arange(3))
            with pytest.raises(RuntimeError, match="already has a forward gradient at the same level 0"):
                fw.make_dual(d, x)
        assert fw.unpack_dual(y).tangent is None  # the level is gone
    with tg.autograd.forward_ad.dual_level():
        lp = tg.randn(5, 2, 4, dtype=tg.float64).log_softmax(2)
        d = tg.autograd.forward_ad.make_dual(lp, tg.ones_like(lp))
        loss = _ctc(tg, 1.0)(d)
        with pytest.raises(RuntimeError, match="unpack_dual.*CTCLoss has no double backward"):
            tg.autograd.forward_ad.unpack_dual(loss)


def _np_(t):
    return t.detach().numpy()


def test_forward_ad_and_vmap_under_compat(tmp_path):
    import os
    import subprocess
    import sys
    script = tmp_path / "fwad.py"
    script.write_text(
        "import torch\n"
        "import torch.autograd.forward_ad as fwAD\n"
        "x, t = torch.randn(4), torch.randn(4)\n"
        "with fwAD.dual_level():\n"
        "    y = fwAD.make_dual(x, t).sin() * 2\n"
        "    tangent = fwAD.unpack_dual(y).tangent\n"
        "assert torch.allclose(tangent, 2 * x.cos() * t)\n"
        "assert torch.allclose(torch.vmap(torch.dot)(x[None], t[None]), (x * t).sum()[None])\n"
        "print('ok')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    r = subprocess.run([sys.executable, "-m", "tensorgrad.compat", str(script)], capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
