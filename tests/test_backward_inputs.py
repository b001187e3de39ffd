"""Tensor.backward(inputs=...) and autograd.backward(..., inputs=...): gradients accumulate only into the given
tensors' .grad (leaves or not), compared with torch."""
import numpy as np
import pytest
import torch

import tensorgrad as tg

# (torch warns on reading a non-leaf .grad and on backward(create_graph=True); both are what these tests do)
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _grads(lib, call):
    x = lib.tensor([1.0, -2.0, 0.5], requires_grad=True)
    w = lib.tensor([3.0, 4.0, -1.0], requires_grad=True)
    b = lib.tensor([0.25, 0.5, 1.0], requires_grad=True)
    h = x * w + b
    y = (h * h * x).sum()
    call(lib, y, dict(x=x, w=w, b=b, h=h))
    return {k: None if t.grad is None else t.grad.detach().numpy().copy() for k, t in dict(x=x, w=w, b=b, h=h).items()}


CALLS = {
    "one_leaf": lambda lib, y, t: y.backward(inputs=t["x"]),
    "two_leaves": lambda lib, y, t: y.backward(inputs=[t["x"], t["b"]]),
    "non_leaf": lambda lib, y, t: y.backward(inputs=[t["h"]]),
    "leaf_and_non_leaf": lambda lib, y, t: y.backward(inputs=(t["w"], t["h"])),
    "twice_accumulates": lambda lib, y, t: (y.backward(inputs=[t["x"]], retain_graph=True),
                                            y.backward(inputs=[t["x"], t["w"]])),
    "duplicate_input": lambda lib, y, t: y.backward(inputs=[t["x"], t["x"]]),
    "autograd_backward": lambda lib, y, t: lib.autograd.backward([y], inputs=[t["b"]]),
    "gradient_arg": lambda lib, y, t: (y * lib.tensor(2.0)).backward(lib.tensor(3.0), inputs=[t["w"]]),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_backward_inputs_as_torch(name):
    ours, theirs = _grads(tg, CALLS[name]), _grads(torch, CALLS[name])
    assert {k for k, v in ours.items() if v is None} == {k for k, v in theirs.items() if v is None}
    for k in theirs:
        if theirs[k] is not None:
            np.testing.assert_allclose(ours[k], theirs[k], rtol=1e-6, err_msg=k)


def test_create_graph_gradient_is_differentiable_as_torch():
    out = []
    for lib in (tg, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        w = lib.tensor([0.5, -1.0], requires_grad=True)
        (x ** 3 * w).sum().backward(inputs=[x], create_graph=True)
        gx = x.grad
        (gg,) = lib.autograd.grad(gx.sum(), [w])
        out.append((gx.detach().numpy(), gg.numpy(), w.grad is None))
    np.testing.assert_allclose(out[0][0], out[1][0])
    np.testing.assert_allclose(out[0][1], out[1][1])
    assert out[0][2] and out[1][2]


def test_leaf_hooks_run_for_a_chosen_input():
    seen = []
    for lib in (tg, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        x.register_hook(lambda g: g * 10)
        x.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.detach().numpy().copy()))
        (x * x).sum().backward(inputs=[x])
    np.testing.assert_allclose(seen[0], seen[1])


def test_errors():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="'inputs' argument cannot be empty"):
        (x * 2).sum().backward(inputs=[])
    with pytest.raises(RuntimeError, match=r"input 0 \(shape \(2,\)\) does not require grad"):
        (x * 2).sum().backward(inputs=[tg.ones(2)])


# ---- autograd.grad(inputs=...) asks each node only for the gradients that reach an input, as torch's engine does:
# an op input without a derivative (gammainc's first argument) stands in the way only when it is asked for
def _gammainc_grads(lib, wrt):
    a = lib.tensor([2.0, 0.5], dtype=lib.float64, requires_grad=True)
    x = lib.tensor([1.5, 0.25], dtype=lib.float64, requires_grad=True)
    y = (lib.special.gammainc(a, x) * lib.exp(x)).sum()
    return lib.autograd.grad(y, [dict(a=a, x=x)[w] for w in wrt])


def test_grad_of_the_differentiable_input_as_torch():
    (ours,), (theirs,) = _gammainc_grads(tg, ["x"]), _gammainc_grads(torch, ["x"])
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)
    cdf = [lib.autograd.grad(lib.distributions.Gamma(lib.tensor([2.0], requires_grad=True), lib.tensor([1.0]))
                            .cdf(v).sum(), [v])[0].numpy()
           for lib, v in ((tg, tg.tensor([1.5], requires_grad=True)), (torch, torch.tensor([1.5], requires_grad=True)))]
    np.testing.assert_allclose(cdf[0], cdf[1], rtol=1e-6)


@pytest.mark.parametrize("lib", [tg, torch], ids=["tensorgrad", "torch"])
def test_grad_of_the_input_without_derivative_still_raises(lib):
    with pytest.raises(RuntimeError, match="not implemented"):
        _gammainc_grads(lib, ["a", "x"])
