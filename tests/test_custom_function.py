"""autograd.Function subclasses in torch's style (tensorgrad/autograd/custom_function.py): each case is written once,
against a library argument, and run with real torch and with tensorgrad on the same data; forward values, gradients,
double gradients and the errors raised are compared."""
import warnings

import numpy as np
import torch

import tensorgrad as tg
from helpers import COVERED, check_op, gradcheck_op, gradgradcheck_op, raises
from tensorgrad.autograd.custom_function import CustomBackward


def defs(lib):
    """The custom Functions of these tests, subclassing ``lib.autograd.Function`` and computing with ``lib``."""
    Function = lib.autograd.Function
    seen = []  # what backward received, per call (materialize_grads tests)

    class RoundSTE(Function):  # straight-through estimator
        @staticmethod
        def forward(ctx, x):
            return x.round()

        @staticmethod
        def backward(ctx, g):
            return g

    class GradReverse(Function):
        @staticmethod
        def forward(ctx, x, lambd):
            ctx.lambd = lambd
            return x.view_as(x)

        @staticmethod
        def backward(ctx, g):
            return g.neg() * ctx.lambd, None

    class MyExp(Function):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, g):
            y, = ctx.saved_tensors
            return g * y

    class MulAdd(Function):  # two tensor inputs, a Python scalar between them, intermediates saved
        @staticmethod
        def forward(ctx, x, k, w):
            t = x * w
            ctx.save_for_backward(x, w, t)
            ctx.k = k
            return t * k + x

        @staticmethod
        def backward(ctx, g):
            x, w, t = ctx.saved_tensors
            return g * (w * ctx.k + 1), None, g * x * ctx.k

    class SplitExp(Function):  # two differentiable outputs; the second saved and used in backward
        @staticmethod
        def forward(ctx, x):
            a = x * 2
            b = x.exp()
            ctx.save_for_backward(b)
            return a, b

        @staticmethod
        def backward(ctx, ga, gb):
            seen.append((ga is None, gb is None))
            b, = ctx.saved_tensors
            return ga * 2 + gb * b

    class SortLike(Function):  # values (differentiable) and indices (integer, so not)
        @staticmethod
        def forward(ctx, x):
            v, i = x.sort(dim=-1)
            ctx.save_for_backward(i)
            ctx.mark_non_differentiable(i)
            return v, i

        @staticmethod
        def backward(ctx, gv, gi):
            seen.append(gi.dtype)
            i, = ctx.saved_tensors
            return lib.zeros_like(gv).scatter(-1, i, gv)

    class ScaleTagged(Function):  # non-Tensor inputs, a keyword argument and non-Tensor outputs
        @staticmethod
        def forward(ctx, x, scale, tag, power=2):
            ctx.save_for_backward(x)
            ctx.scale, ctx.power = scale, power
            return (x * scale) ** power, tag + "!", 3

        @staticmethod
        def backward(ctx, g, g_tag, g_n):
            seen.append((g_tag, g_n))
            x, = ctx.saved_tensors
            return g * ctx.power * (x * ctx.scale) ** (ctx.power - 1) * ctx.scale, None, None, None

    class MaxArg(Function):  # mark_non_differentiable on an output that would otherwise be float
        @staticmethod
        def forward(ctx, x):
            m = x.max()
            where = (x == m).to(x.dtype)
            ctx.save_for_backward(where)
            ctx.mark_non_differentiable(where)
            return m, where

        @staticmethod
        def backward(ctx, gm, gw):
            seen.append(float(gw.abs().sum()))
            where, = ctx.saved_tensors
            return gm * where

    class SplitNoMat(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.set_materialize_grads(False)
            return x[:2].clone(), x[2:].clone() * 3

        @staticmethod
        def backward(ctx, g1, g2):
            seen.append((g1 is None, g2 is None))
            z1 = lib.zeros(2, dtype=lib.float64) if g1 is None else g1
            z2 = lib.zeros(1, dtype=lib.float64) if g2 is None else g2 * 3
            return lib.cat([z1, z2])

    class InplaceDouble(Function):  # mark_dirty
        @staticmethod
        def forward(ctx, x):
            x.mul_(2)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, g):
            return g * 2

    class SaveInput(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            return 2 * x * g

    class TooFew(Function):
        @staticmethod
        def forward(ctx, x, y):
            return x + y

        @staticmethod
        def backward(ctx, g):
            return g

    class TooMany(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2, g

    class ConstGradIgnored(Function):  # a wrong-shaped gradient for an input that requires none
        @staticmethod
        def forward(ctx, x, y):
            return x + y

        @staticmethod
        def backward(ctx, g):
            return g, lib.ones(7)

    class ExtraNones(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2, None, None

    class GradForNumber(Function):
        @staticmethod
        def forward(ctx, x, n):
            return x * n

        @staticmethod
        def backward(ctx, g):
            return g, g

    class RowSum(Function):  # wrong gradient shape
        @staticmethod
        def forward(ctx, x):
            return x.sum(0)

        @staticmethod
        def backward(ctx, g):
            return g

    class Stretched(Function):  # a gradient the input broadcasts to: summed down to the input's shape
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, g):
            return g.expand(4, *g.shape) * 1

    class Square1(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 2

        @staticmethod
        @lib.autograd.function.once_differentiable
        def backward(ctx, g):
            x, = ctx.saved_tensors
            seen.append(lib.is_grad_enabled())
            return 2 * x * g

    class ExpSC(Function):  # setup_context style
        @staticmethod
        def forward(x, k=2.0):
            return (x * k).exp()

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(output)
            ctx.k = inputs[1]

        @staticmethod
        def backward(ctx, g):
            out, = ctx.saved_tensors
            return g * out * ctx.k, None

    class NoBackward(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

    class Identity(Function):  # an input returned as it is
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, g):
            return g * 5

    class BadNaN(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, g):
            return g * float("nan")

    return {k: v for k, v in locals().items() if isinstance(v, type)} | {"seen": seen}


TG, TH = defs(tg), defs(torch)


def fns(x):
    return TH if isinstance(x, torch.Tensor) else TG


def pair(a, requires_grad=True, dtype=np.float64):
    a = np.asarray(a, dtype=dtype)
    return tg.tensor(a, requires_grad=requires_grad), torch.tensor(a, requires_grad=requires_grad)


def close(a, b, **kw):
    def arr(v):
        return v.detach().numpy() if isinstance(v, (tg.Tensor, torch.Tensor)) else np.asarray(v)
    np.testing.assert_allclose(arr(a), arr(b), **kw)


def both_raise(fn, exc, *patterns):
    """fn(lib) raises exc in torch and in tensorgrad, each message matching every pattern."""
    for lib in (torch, tg):
        with raises(exc, *patterns):
            fn(lib)


# -- forward, gradients and double gradients against torch ---------------------------------------------------------
def test_straight_through_round():
    out = check_op(lambda x: fns(x)["RoundSTE"].apply(x * 3), inputs=[(4, 5)])
    assert np.all(out[2][0] != 0)  # (round's own derivative is zero: the gradient passed straight through)


def test_gradient_reversal_with_lambda():
    check_op(lambda x: fns(x)["GradReverse"].apply(x, 0.5) * x, inputs=[(3, 4)])


def test_custom_exp_saving_its_output():
    fn = lambda x: fns(x)["MyExp"].apply(x)  # noqa: E731
    check_op(fn, inputs=[(3, 4)])
    check_op(fn, inputs=[(3, 4)], dtype=np.float32)
    gradcheck_op(fn, inputs=[(3, 4)])
    gradgradcheck_op(fn, [tg.tensor(np.random.randn(3, 4), requires_grad=True)])
    COVERED["torch"].add("CustomBackward")  # (the base of every <Name>Backward node class: what ran above)
    COVERED["gradcheck"].add("CustomBackward")
    COVERED["gradgradcheck"].add("CustomBackward")


def test_grad_fn_name_and_class():
    x, tx = pair([1.0, 2.0])
    y, ty = TG["MyExp"].apply(x), TH["MyExp"].apply(tx)
    assert y.grad_fn.name() == type(ty.grad_fn).__name__ == "MyExpBackward"
    assert type(y.grad_fn).__name__ == "MyExpBackward" and isinstance(y.grad_fn, CustomBackward)
    assert "grad_fn=<MyExpBackward>" in repr(y)
    assert isinstance(y.grad_fn, tg.autograd.function.FunctionCtx)
    assert isinstance(ty.grad_fn, torch.autograd.function.FunctionCtx)
    assert TG["MyExp"].apply.__self__ is TG["MyExp"]  # a classmethod, as torch's
    assert TG["MyExp"]._backward_cls is type(y.grad_fn)


def test_second_order_against_torch():
    x, tx = pair(np.random.default_rng(1).standard_normal(5))
    for name, fn in [("MyExp", lambda F, v: F["MyExp"].apply(v)),
                     ("MulAdd", lambda F, v: F["MulAdd"].apply(v, 1.5, v * v)),
                     ("ExpSC", lambda F, v: F["ExpSC"].apply(v)),
                     ("SplitExp", lambda F, v: (lambda a, b: a * b)(*F["SplitExp"].apply(v))),
                     ("GradReverse", lambda F, v: F["GradReverse"].apply(v * v, 0.25))]:
        results = []
        for L, v in ((tg, x), (torch, tx)):
            F = TG if L is tg else TH
            y = fn(F, v)
            g, = L.autograd.grad(y.sum(), v, create_graph=True)
            gg, = L.autograd.grad((g * g).sum(), v)
            results.append((y, g, gg))
        for a, b in zip(*results):
            close(a, b, rtol=1e-10, err_msg=name)


def test_multi_output_split():
    fn = lambda x: fns(x)["SplitExp"].apply(x)  # noqa: E731
    check_op(fn, inputs=[(3, 4)])
    gradcheck_op(lambda x: (lambda a, b: a * b)(*TG["SplitExp"].apply(x)), inputs=[(3, 4)])
    gradgradcheck_op(lambda x: (lambda a, b: a * b.sin())(*TG["SplitExp"].apply(x)),
                     [tg.tensor(np.random.randn(3, 4), requires_grad=True)])
    COVERED["torch"].add("CustomOutput")  # (the node of each differentiable output of a call with several: above)
    COVERED["gradcheck"].add("CustomOutput")
    COVERED["gradgradcheck"].add("CustomOutput")
    # one output used: the other's gradient is materialized as zeros in both
    for F, L in ((TG, tg), (TH, torch)):
        del F["seen"][:]
        x = L.tensor([0.5, -1.0, 2.0], dtype=L.float64, requires_grad=True)
        a, b = F["SplitExp"].apply(x)
        assert a.grad_fn is not None and b.grad_fn is not None
        a.sum().backward()
        assert F["seen"] == [(False, False)]
        close(x.grad, np.full(3, 2.0))


def test_multi_output_sort_like_with_indices():
    out = check_op(lambda x: fns(x)["SortLike"].apply(x), inputs=[(4, 6)])
    assert not out[0][1].requires_grad and out[0][1].dtype == tg.int64
    assert TG["seen"][-1] == tg.int64 and TH["seen"][-1] == torch.int64  # zeros of the indices' dtype reach backward


def test_non_tensor_args_and_outputs():
    x, tx = pair(np.random.default_rng(2).standard_normal((2, 3)))
    (y, tag, n), (ty, ttag, tn) = (TG["ScaleTagged"].apply(x, 0.5, "a", power=3),
                                   TH["ScaleTagged"].apply(tx, 0.5, "a", power=3))
    assert (tag, n) == (ttag, tn) == ("a!", 3)
    close(y, ty)
    y.sum().backward()
    ty.sum().backward()
    close(x.grad, tx.grad)
    assert TG["seen"][-1] == TH["seen"][-1] == (None, None)


def test_mark_non_differentiable():
    out = check_op(lambda x: fns(x)["MaxArg"].apply(x), inputs=[(5,)])
    assert not out[0][1].requires_grad and not out[1][1].requires_grad
    assert TG["seen"][-1] == TH["seen"][-1] == 0.0


def test_set_materialize_grads_false():
    for F, L in ((TG, tg), (TH, torch)):
        del F["seen"][:]
        x = L.tensor([0.5, -1.0, 2.0], dtype=L.float64, requires_grad=True)
        a, b = F["SplitNoMat"].apply(x)
        b.sum().backward()
        assert F["seen"] == [(True, False)]
        close(x.grad, np.array([0.0, 0.0, 3.0]))


def test_mark_dirty():
    def run(L):
        F = TG if L is tg else TH
        x = L.tensor([1.0, -2.0, 3.0], dtype=L.float64, requires_grad=True)
        h = x * 3
        y = F["InplaceDouble"].apply(h)
        assert y is h and type(y.grad_fn).__name__ == "InplaceDoubleBackward"
        (y * y).sum().backward()
        return y, x.grad
    (y, g), (ty, tg_) = run(tg), run(torch)
    close(y, ty)
    close(g, tg_)
    both_raise(lambda L: (TG if L is tg else TH)["InplaceDouble"].apply(
        L.tensor([1.0], requires_grad=True)), RuntimeError, "leaf Variable that requires grad")


def test_mark_dirty_on_a_view_is_refused():
    # torch rewrites the base's history (CopySlices); tensorgrad refuses, naming the Function
    x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    h = x * 1
    with raises(RuntimeError, "InplaceDoubleBackward", "mark_dirty", "clone"):
        TG["InplaceDouble"].apply(h[1:])


def test_mark_dirty_without_returning_raises():
    class Bad(tg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            x.mul_(2)
            ctx.mark_dirty(x)
            return x * 1

        @staticmethod
        def backward(ctx, g):
            return g
    with raises(RuntimeError, "BadBackward", "marked as dirty during the forward method were not returned"):
        Bad.apply(tg.tensor([1.0], requires_grad=True) * 1)


def test_saved_tensor_modified_in_place_raises():
    def run(L):
        F = TG if L is tg else TH
        x = L.tensor([1.0, 2.0], dtype=L.float64, requires_grad=True)
        y = F["SaveInput"].apply(x)
        with L.no_grad():
            x.mul_(2)
        y.sum().backward()
    both_raise(run, RuntimeError, "modified by an inplace operation|modified in place")


def test_backward_twice_without_retain_graph_raises():
    def run(L):
        F = TG if L is tg else TH
        x = L.tensor([1.0, 2.0], dtype=L.float64, requires_grad=True)
        y = F["MyExp"].apply(x)
        y.backward(L.ones(2, dtype=L.float64))
        y.backward(L.ones(2, dtype=L.float64))
    both_raise(run, RuntimeError, "backward through the graph a second time")
    for L in (tg, torch):  # retain_graph, and a call that saved nothing (ctx attributes stay): both backward twice
        F = TG if L is tg else TH
        x = L.tensor([1.0, 2.0], dtype=L.float64, requires_grad=True)
        y = F["MyExp"].apply(x)
        y.backward(L.ones(2, dtype=L.float64), retain_graph=True)
        y.backward(L.ones(2, dtype=L.float64))
        z = F["GradReverse"].apply(x, 2.0)
        z.backward(L.ones(2, dtype=L.float64))
        z.backward(L.ones(2, dtype=L.float64))
        close(x.grad, 2 * np.exp([1.0, 2.0]) - 4)


def test_wrong_number_of_gradients():
    def call(name, *args):
        def run(L):
            F = TG if L is tg else TH
            ins = [L.tensor([1.0, 2.0], requires_grad=True) if a == "t" else a for a in args]
            F[name].apply(*ins).sum().backward()
        return run
    both_raise(call("TooFew", "t", "t"), RuntimeError,
               r"function TooFewBackward returned an incorrect number of gradients \(expected 2, got 1\)")
    both_raise(call("TooMany", "t"), RuntimeError,
               r"function TooManyBackward returned an incorrect number of gradients \(expected 1, got 2\)")
    both_raise(call("GradForNumber", "t", 3), RuntimeError,
               "function GradForNumberBackward returned a gradient different than None at position 2, but the "
               "corresponding forward input was not a Variable")
    for L in (tg, torch):  # trailing Nones beyond the inputs are allowed
        F = TG if L is tg else TH
        x = L.tensor([1.0, 2.0], requires_grad=True)
        F["ExtraNones"].apply(x).sum().backward()
        close(x.grad, np.full(2, 2.0))


def test_wrong_gradient_shape():
    def run(L):
        F = TG if L is tg else TH
        F["RowSum"].apply(L.ones(2, 3, requires_grad=True)).sum().backward()
    both_raise(run, RuntimeError,
               r"Function RowSumBackward returned an invalid gradient at index 0 - got \[3\] but expected shape "
               r"compatible with \[2, 3\]")
    # a gradient the input's shape broadcasts to is summed down to it, as torch does
    check_op(lambda x: fns(x)["Stretched"].apply(x), inputs=[(2, 3)])
    # a gradient for an input that requires none is dropped unchecked
    for L in (tg, torch):
        F = TG if L is tg else TH
        x = L.ones(2, requires_grad=True)
        F["ConstGradIgnored"].apply(x, L.ones(2)).sum().backward()
        close(x.grad, np.ones(2))


def test_non_tensor_gradient_and_missing_backward():
    class ReturnsFloat(tg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, g):
            return 3.0
    with raises(RuntimeError, "ReturnsFloatBackward", r"expected Variable or None \(got float\)"):
        ReturnsFloat.apply(tg.ones(2, requires_grad=True)).sum().backward()
    both_raise(lambda L: (TG if L is tg else TH)["NoBackward"].apply(L.ones(2, requires_grad=True)).sum().backward(),
               NotImplementedError, "You must implement either the backward or vjp method")


def test_once_differentiable():
    for F, L in ((TG, tg), (TH, torch)):  # first order as usual; backward ran with grad mode off
        x = L.tensor([1.0, -2.0], dtype=L.float64, requires_grad=True)
        g, = L.autograd.grad(F["Square1"].apply(x).sum(), x)
        close(g, np.array([2.0, -4.0]))
        # create_graph with a constant seed: the gradient does not require grad (torch's once_differentiable)
        g, = L.autograd.grad(F["Square1"].apply(x).sum(), x, create_graph=True)
        assert not g.requires_grad
        assert F["seen"][-1] is False
    def twice(L):  # a seed that requires grad: the gradient may be used, not differentiated again
        F = TG if L is tg else TH
        x = L.tensor([1.0, -2.0], dtype=L.float64, requires_grad=True)
        y = F["Square1"].apply(x)
        seed = L.ones(2, dtype=L.float64, requires_grad=True)
        g, = L.autograd.grad(y, x, grad_outputs=seed, create_graph=True)
        assert g.requires_grad
        close(g, np.array([2.0, -4.0]))
        g.sum().backward()
    both_raise(twice, RuntimeError, "trying to differentiate twice a function that was marked with "
                                    "@once_differentiable")
    for kind in ("torch", "gradcheck", "gradgradcheck"):  # (DelayedError: the node of that refusal, checked above)
        COVERED[kind].add("DelayedError")


def test_setup_context_style():
    fn = lambda x: fns(x)["ExpSC"].apply(x)  # noqa: E731
    check_op(fn, inputs=[(3, 2)])
    check_op(lambda x: fns(x)["ExpSC"].apply(x, k=-0.5), inputs=[(3, 2)])
    gradcheck_op(fn, inputs=[(3, 2)])
    gradgradcheck_op(fn, [tg.tensor(np.random.randn(3, 2), requires_grad=True)])


def test_input_returned_as_is():
    for F, L in ((TG, tg), (TH, torch)):
        x = L.tensor([1.0, 2.0], requires_grad=True)
        h = x * 1
        y = F["Identity"].apply(h)
        assert y is not h and h.grad_fn is not y.grad_fn
        y.sum().backward()
        close(x.grad, np.full(2, 5.0))


def test_needs_input_grad_and_ctx_attributes():
    got = {}
    for L in (tg, torch):
        class Probe(L.autograd.Function):
            @staticmethod
            def forward(ctx, x, y, n):
                got[L, "fwd"] = (ctx.needs_input_grad, L.is_grad_enabled())
                ctx.foo = 3
                return x * y * n

            @staticmethod
            def backward(ctx, g):
                got[L, "bwd"] = (ctx.needs_input_grad, ctx.foo, L.is_grad_enabled())
                return g, g, None
        x = L.ones(2, requires_grad=True)
        Probe.apply(x, L.ones(2), 2).sum().backward()
        with L.no_grad():
            y = Probe.apply(x, L.ones(2), 2)
        assert not y.requires_grad
        got[L, "no_grad"] = got[L, "fwd"]
    for k in ("fwd", "bwd", "no_grad"):
        assert got[tg, k] == got[torch, k], k


def test_legacy_call_and_instantiation():
    for L in (tg, torch):
        F = TG if L is tg else TH
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            f = F["MyExp"]()
        assert any(issubclass(i.category, DeprecationWarning) for i in w)
        with raises(RuntimeError, "Legacy autograd function with non-static forward method is deprecated"):
            f(L.ones(2))


def test_save_for_backward_refuses_non_tensors():
    class SaveInt(tg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x, 3)
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g
    with raises(TypeError, "SaveIntBackward", "save_for_backward can only save variables, but argument 1 is of type int"):
        SaveInt.apply(tg.ones(2, requires_grad=True))
