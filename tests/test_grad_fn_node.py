"""grad_fn as torch's autograd graph Node: name() with the overload index, repr, next_functions (AccumulateGrad for
leaves, one object per leaf), metadata, register_hook / register_prehook. Compared with torch on graphs whose ops
carry the same names in both frameworks."""
import numpy as np
import pytest
import torch

import tensorgrad as tg


def _graph(lib):
    x = lib.tensor([1.0, -2.0, 3.0], requires_grad=True)
    w = lib.tensor([0.5, 0.25, 2.0], requires_grad=True)
    c = lib.tensor([1.0, 1.0, 1.0])
    y = ((x * w).exp() + x * c).mean()
    return x, w, y


def _walk(node, seen=None):
    """The graph as nested (name, children) with leaves named by their values, and None kept."""
    if node is None:
        return None
    if hasattr(node, "variable"):
        return ("leaf", tuple(np.asarray(node.variable.detach().tolist()).round(4)))
    return (node.name(), tuple(_walk(n) for n, _ in node.next_functions if n is not None))


def test_names_and_structure_match_torch():
    _, _, ours = _graph(tg)
    _, _, theirs = _graph(torch)
    assert _walk(ours.grad_fn) == _walk(theirs.grad_fn)
    assert ours.grad_fn.name() == theirs.grad_fn.name() == "MeanBackward0"


def test_next_functions_pairs_and_constants():
    x, w, y = _graph(tg)
    tx, tw, ty = _graph(torch)
    add = y.grad_fn.next_functions[0][0]
    tadd = ty.grad_fn.next_functions[0][0]
    assert add.name() == tadd.name() == "AddBackward0"
    # x * c with c constant: the second entry is None in both
    mul_c = add.next_functions[1][0]
    tmul_c = tadd.next_functions[1][0]
    assert [e[0] is None for e in mul_c.next_functions] == [e[0] is None for e in tmul_c.next_functions] == [False, True]
    assert all(idx == 0 for _, idx in mul_c.next_functions)


def test_accumulate_grad_is_one_object_per_leaf_and_holds_it():
    x, w, y = _graph(tg)
    add = y.grad_fn.next_functions[0][0]
    via_exp = add.next_functions[0][0].next_functions[0][0].next_functions[0][0]
    via_c = add.next_functions[1][0].next_functions[0][0]
    assert via_exp is via_c and via_exp.variable is x
    assert via_exp.name() == torch.tensor([1.0], requires_grad=True).mul(2).grad_fn.next_functions[0][0].name()
    assert repr(via_exp).startswith("<AccumulateGrad object at 0x")
    assert via_exp.next_functions == ()


def test_repr_as_torch():
    _, _, y = _graph(tg)
    assert repr(y.grad_fn).startswith("<MeanBackward0 object at 0x")
    assert repr(y).endswith("grad_fn=<MeanBackward0>)")


def test_metadata_is_a_per_node_dict():
    _, _, y = _graph(tg)
    y.grad_fn.metadata["tag"] = 1
    assert y.grad_fn.metadata == {"tag": 1}
    assert y.grad_fn.next_functions[0][0].metadata == {}


def _hooked_grads(lib, kind):
    x, w, y = _graph(lib)
    add = y.grad_fn.next_functions[0][0]
    calls = []
    if kind == "post":
        def hook(grad_inputs, grad_outputs):
            calls.append((len(grad_inputs), len(grad_outputs)))
            return (grad_inputs[0] * 3, grad_inputs[1])
        h = add.register_hook(hook)
    else:
        def hook(grad_outputs):
            calls.append(len(grad_outputs))
            return (grad_outputs[0] * -2,)
        h = add.register_prehook(hook)
    y.backward(retain_graph=True)
    first = (x.grad.detach().numpy().copy(), w.grad.detach().numpy().copy())
    h.remove()
    x.grad = w.grad = None
    y.backward()
    second = (x.grad.detach().numpy().copy(), w.grad.detach().numpy().copy())
    return first, second, calls


@pytest.mark.parametrize("kind", ["post", "pre"])
def test_node_hooks_change_gradients_as_torch(kind):
    ours = _hooked_grads(tg, kind)
    theirs = _hooked_grads(torch, kind)
    for a, b in zip(ours[0] + ours[1], theirs[0] + theirs[1]):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    assert ours[2] == theirs[2]
    assert not np.allclose(ours[0][0], ours[1][0])  # the hook did change the gradient, and remove() took it off


def _create_graph_hooked(lib):
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x * x).sum()
    y.grad_fn.next_functions[0][0].register_hook(lambda gi, go: (gi[0] * 2, gi[1] * 3))
    (g,) = lib.autograd.grad(y, x, create_graph=True)
    (gg,) = lib.autograd.grad(g.sum(), x)
    return g.detach().numpy(), gg.numpy()


def test_node_hooks_under_create_graph_as_torch():
    for a, b in zip(_create_graph_hooked(tg), _create_graph_hooked(torch)):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_hook_returning_wrong_count_is_refused_by_name():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.grad_fn.next_functions[0][0].register_hook(lambda gi, go: (gi[0],))
    with pytest.raises(RuntimeError, match=r"MulBackward0: a hook registered with register_hook returned 1 gradients, "
                                           r"expected 2"):
        y.backward()


def test_slab_getitem_nodes_run_their_post_hooks():
    # a plain basic-index view takes the engine's slab shortcut unless a hook needs its gradients
    x = tg.arange(6.0).requires_grad_()
    y = x[1:4]
    seen = []
    y.grad_fn.register_hook(lambda gi, go: seen.append(gi[0].shape))
    y.sum().backward()
    assert seen == [(6,)]
    np.testing.assert_allclose(x.grad.numpy(), [0, 1, 1, 1, 0, 0])


@pytest.mark.parametrize("expr", [lambda b: 2 * b + 1, lambda b: 1 + b * 2.5, lambda b: 3 * (0.5 + b)])
def test_reflected_scalar_ops_keep_the_tensor_first(expr):
    # `2 * b` runs as b.mul(2) in torch: the tensor's node is next_functions[0], the constant (None) second
    def run(lib):
        a = lib.tensor([0.1, 0.7, 1.3], dtype=lib.float64, requires_grad=True)
        d = expr(lib.sin(a))
        d.sum().backward()
        return d, a.grad
    d, g = run(tg)
    td, tgr = run(torch)
    assert _walk(d.grad_fn) == _walk(td.grad_fn)
    node, tnode = d.grad_fn, td.grad_fn
    while node.next_functions:
        assert [e[0] is None for e in node.next_functions] == [e[0] is None for e in tnode.next_functions]
        node, tnode = node.next_functions[0][0], tnode.next_functions[0][0]
    np.testing.assert_allclose(d.detach().numpy(), td.detach().numpy(), rtol=1e-15)
    np.testing.assert_allclose(g.numpy(), tgr.numpy(), rtol=1e-15)
