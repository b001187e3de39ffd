"""Sparse embedding gradients vs torch: F.embedding(..., sparse=True) and nn.Embedding(sparse=True) give the weight a
sparse COO gradient with torch's exact layout (uncoalesced, one entry per looked-up index in lookup order, padding_idx
entries left out); two sparse gradients accumulate by concatenation; a sparse and a dense gradient of one weight (tied
weights) accumulate into a dense one in either order; create_graph gives a differentiable sparse gradient; SGD,
Adagrad and LBFGS step on sparse gradients as torch's do, the other dense optimizers refuse them as torch's do;
zero_grad(set_to_none=False) empties a sparse gradient; clip_grad_norm_ refuses sparse gradients, as torch's does."""
import numpy as np
import pytest
import torch

import tensorgrad as tg

torch.set_num_threads(1)


def _np(t):
    return np.array(t.detach().numpy() if isinstance(t, torch.Tensor) else np.asarray(t.detach()))


def _layout(g):
    """(indices, values, shape, coalesced) of a sparse gradient, uncoalesced as stored."""
    return _np(g._indices()), _np(g._values()), tuple(g.shape), g.is_coalesced()


def _assert_same_sparse(ours, theirs):
    assert ours.is_sparse and theirs.is_sparse
    (ia, va, sa, ca), (ib, vb, sb, cb) = _layout(ours), _layout(theirs)
    assert sa == sb and ca == cb, (sa, sb, ca, cb)
    np.testing.assert_array_equal(ia, ib)
    np.testing.assert_allclose(va, vb, rtol=1e-13, atol=1e-15)


def _pair(shape=(7, 3), seed=0):
    w = np.random.default_rng(seed).standard_normal(shape)
    return tg.tensor(w, requires_grad=True), torch.tensor(w, requires_grad=True)


IDX = [np.array([1, 4, 1, 0]), np.array([[1, 4, 1], [0, 2, 2]]), np.array([[[6]], [[6]]]), np.array([5]),
       np.zeros((0,), np.int64), np.zeros((2, 0), np.int64)]


@pytest.mark.parametrize("idx", IDX, ids=lambda a: str(a.shape))
@pytest.mark.parametrize("padding_idx", [None, 2, 1, -1])
def test_sparse_gradient_layout_matches_torch(idx, padding_idx):
    w, tw = _pair()
    c = np.random.default_rng(1).standard_normal(idx.shape + (3,))
    (tg.nn.functional.embedding(tg.tensor(idx), w, padding_idx=padding_idx, sparse=True) * tg.tensor(c)).sum() \
        .backward()
    (torch.nn.functional.embedding(torch.tensor(idx), tw, padding_idx=padding_idx, sparse=True)
     * torch.tensor(c)).sum().backward()
    _assert_same_sparse(w.grad, tw.grad)
    np.testing.assert_allclose(_np(w.grad.to_dense()), _np(tw.grad.to_dense()), rtol=1e-13)


def test_module_sparse_gradient_and_repr():
    m = tg.nn.Embedding(6, 2, padding_idx=0, sparse=True)
    tm = torch.nn.Embedding(6, 2, padding_idx=0, sparse=True)
    assert repr(m) == repr(tm) and m.sparse
    with torch.no_grad():
        tm.weight.copy_(torch.tensor(_np(m.weight)))
    idx = np.array([[0, 3, 3, 5]])
    (m(tg.tensor(idx)) ** 2).sum().backward()
    (tm(torch.tensor(idx)) ** 2).sum().backward()
    _assert_same_sparse(m.weight.grad, tm.weight.grad)
    assert not tg.nn.Embedding(6, 2).sparse and repr(tg.nn.Embedding(6, 2)) == repr(torch.nn.Embedding(6, 2))


def test_two_sparse_gradients_accumulate_sparse():
    """The sum stays sparse and equals torch's. (Its stored layout is torch's internal choice: its in-place sparse
    add merge-walks two uncoalesced index lists, giving [1, 4, 3] for [1, 4] + [4, 3] here but [1, 4, 4, 3]
    elsewhere; tensorgrad concatenates, as torch's out-of-place sparse add does.)"""
    w, tw = _pair()
    for lib, p in ((tg, w), (torch, tw)):
        lib.nn.functional.embedding(lib.tensor([1, 4]), p, sparse=True).sum().backward()
        (lib.nn.functional.embedding(lib.tensor([[4, 3]]), p, sparse=True) * 2).sum().backward()
    assert w.grad.is_sparse and tw.grad.is_sparse and not w.grad.is_coalesced()
    np.testing.assert_array_equal(_np(w.grad._indices()), [[1, 4, 4, 3]])
    np.testing.assert_allclose(_np(w.grad.to_dense()), _np(tw.grad.to_dense()), rtol=1e-13)
    _assert_same_sparse(w.grad.coalesce(), tw.grad.coalesce())


def test_same_weight_twice_in_one_graph():
    w, tw = _pair()
    outs = []
    for lib, p in ((tg, w), (torch, tw)):
        e = lib.nn.functional.embedding
        (e(lib.tensor([1, 2]), p, sparse=True).sum() + 3 * e(lib.tensor([2, 6]), p, sparse=True).sum()).backward()
        outs.append(p.grad)
    np.testing.assert_allclose(_np(outs[0].to_dense()), _np(outs[1].to_dense()), rtol=1e-13)
    assert outs[0].is_sparse == outs[1].is_sparse


@pytest.mark.parametrize("order", ["one graph", "dense first", "sparse first"])
def test_sparse_and_dense_gradients_accumulate_dense(order):
    """Tied weights: the table also used densely. torch's .grad is dense in every order."""
    res = []
    for lib, p in zip((tg, torch), _pair()):
        ones = lib.ones(3, 5, dtype=lib.float64)

        def sparse_part():
            return (lib.nn.functional.embedding(lib.tensor([[1, 4, 1]]), p, sparse=True) ** 2).sum()

        def dense_part():
            return (p @ ones).tanh().sum()
        if order == "one graph":
            (sparse_part() + dense_part()).backward()
        elif order == "dense first":
            dense_part().backward()
            sparse_part().backward()
        else:
            sparse_part().backward()
            dense_part().backward()
        res.append(p.grad)
    assert not res[0].is_sparse and not res[1].is_sparse
    np.testing.assert_allclose(_np(res[0]), _np(res[1]), rtol=1e-13)


def test_large_dense_plus_sparse_accumulation():
    """A table large enough for the engine's threaded dense add, used densely and sparsely in one graph."""
    w, tw = _pair((300, 200))
    res = []
    for lib, p in ((tg, w), (torch, tw)):
        idx = lib.tensor([5, 299, 5])
        ((p * p).sum() + lib.nn.functional.embedding(idx, p, sparse=True).sum() + (p * 3).sum()).backward()
        res.append(_np(p.grad))
    np.testing.assert_allclose(res[0], res[1], rtol=1e-13)


def test_create_graph_gives_a_differentiable_sparse_gradient():
    w, tw = _pair()
    gs = []
    for lib, p in ((tg, w), (torch, tw)):
        y = lib.nn.functional.embedding(lib.tensor([[1, 2], [1, 3]]), p, padding_idx=3, sparse=True)
        g, = lib.autograd.grad((y ** 3).sum(), p, create_graph=True)
        assert g.is_sparse and g.requires_grad
        gs.append(g)
        (g.coalesce().values() ** 2).sum().backward()
    _assert_same_sparse(gs[0].detach(), gs[1].detach())
    _assert_same_sparse(w.grad, tw.grad)


def _train(lib, name, kw, padding_idx=None, steps=6):
    rng = np.random.default_rng(0)
    w = lib.nn.Parameter(lib.tensor(rng.standard_normal((10, 4))))
    opt = getattr(lib.optim, name)([w], **kw)

    def loss(idx, c):
        return (lib.nn.functional.embedding(idx, w, padding_idx=padding_idx, sparse=True) * c).pow(2).sum()
    out = []
    for _ in range(steps):
        idx, c = lib.tensor(rng.integers(0, 10, (3, 4))), lib.tensor(rng.standard_normal((3, 4, 4)))
        opt.zero_grad()
        loss(idx, c).backward()
        if name == "LBFGS":
            def closure():
                opt.zero_grad()
                lv = loss(idx, c)
                lv.backward()
                return lv
            opt.step(closure)
        else:
            opt.step()
        out.append(_np(w))
    return out


SUPPORTED = [("SGD", dict(lr=0.01)), ("SGD", dict(lr=0.01, momentum=0.9, dampening=0.1)),
             ("SGD", dict(lr=0.01, momentum=0.9, nesterov=True, maximize=True)),
             ("Adagrad", dict(lr=0.1, lr_decay=0.01)), ("Adagrad", dict(lr=0.1, maximize=True,
                                                                        initial_accumulator_value=0.1)),
             ("SparseAdam", dict(lr=0.05)), ("LBFGS", dict(lr=0.1, max_iter=4))]


@pytest.mark.parametrize("name,kw", SUPPORTED, ids=str)
@pytest.mark.parametrize("padding_idx", [None, 3])
def test_optimizers_step_on_sparse_gradients_as_torch(name, kw, padding_idx):
    for k, (a, b) in enumerate(zip(_train(tg, name, kw, padding_idx), _train(torch, name, kw, padding_idx))):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13, err_msg=f"{name}({kw}) step {k}")


REFUSED = [("Adam", {}, "Adam does not support sparse gradients, please consider SparseAdam"),
           ("AdamW", {}, "does not support sparse gradients, please consider SparseAdam"),
           ("RMSprop", {}, "RMSprop does not support sparse gradients"),
           ("Adadelta", {}, "Adadelta does not support sparse"), ("Adamax", {}, "Adamax does not support sparse"),
           ("NAdam", {}, "NAdam does not support sparse"), ("RAdam", {}, "RAdam does not support sparse"),
           ("Rprop", {}, "Rprop does not support sparse"), ("ASGD", {}, "ASGD does not support sparse"),
           ("Adafactor", {}, "Adafactor does not support sparse"), ("Muon", {}, "Muon does not support sparse"),
           ("SGD", dict(weight_decay=0.1), "add\\(sparse, dense\\) is not supported"),
           ("Adagrad", dict(weight_decay=0.1), "weight_decay option is not compatible with sparse gradients")]


@pytest.mark.parametrize("name,kw,msg", REFUSED, ids=lambda x: str(x)[:30])
def test_dense_optimizers_refuse_sparse_gradients_as_torch(name, kw, msg):
    for lib in (tg, torch):
        with pytest.raises(RuntimeError, match=msg):
            _train(lib, name, kw, steps=1)


def test_zero_grad_keeps_an_empty_sparse_gradient():
    for set_to_none in (False, True):
        grads = []
        for lib, p in zip((tg, torch), _pair()):
            opt = lib.optim.SGD([p], lr=0.1)
            lib.nn.functional.embedding(lib.tensor([1, 1, 3]), p, sparse=True).sum().backward()
            opt.zero_grad(set_to_none=set_to_none)
            grads.append(p.grad)
            if not set_to_none:
                lib.nn.functional.embedding(lib.tensor([2]), p, sparse=True).sum().backward()
                grads.append(p.grad)
        if set_to_none:
            assert grads == [None, None]
            continue
        assert grads[0] is grads[1] and grads[2] is grads[3]  # (torch zeroes in place; so does tensorgrad)
        _assert_same_sparse(grads[0], grads[2])


def test_clip_grad_norm_refuses_sparse_gradients_as_torch():
    """torch 2.13's clip_grad_norm_ has no sparse norm (NotImplementedError for linalg_vector_norm on SparseCPU);
    tensorgrad refuses too, naming the function, instead of clipping a norm computed some other way."""
    for lib, p in zip((tg, torch), _pair()):
        lib.nn.functional.embedding(lib.tensor([1, 1, 3]), p, sparse=True).sum().backward()
        with pytest.raises((RuntimeError, NotImplementedError)) as e:
            lib.nn.utils.clip_grad_norm_([p], 1.0)
        if lib is tg:
            assert "clip_grad_norm_" in str(e.value) or "get_total_norm" in str(e.value), str(e.value)


def test_sgd_sparse_momentum_state_dict_round_trip():
    """The momentum buffer born from a sparse gradient stays sparse (torch's clone of the gradient) and survives a
    state_dict round trip: the loaded optimizer continues exactly as the original."""
    w = tg.nn.Parameter(tg.randn(6, 3, dtype=tg.float64))
    opt = tg.optim.SGD([w], lr=0.1, momentum=0.9)
    tg.nn.functional.embedding(tg.tensor([1, 4, 1]), w, sparse=True).sum().backward()
    opt.step()
    assert opt.state[w]["momentum_buffer"].is_sparse
    w2 = tg.nn.Parameter(w.detach().clone())
    opt2 = tg.optim.SGD([w2], lr=0.1, momentum=0.9)
    opt2.load_state_dict(opt.state_dict())
    assert opt2.state[w2]["momentum_buffer"].is_sparse
    for p, o in ((w, opt), (w2, opt2)):
        o.zero_grad()
        (tg.nn.functional.embedding(tg.tensor([2, 4]), p, sparse=True) ** 2).sum().backward()
        o.step()
    assert (_np(w) == _np(w2)).all()


def test_sgd_sparse_momentum_buffer_stays_bounded():
    """The sparse momentum buffer holds each row once (coalesced after each update), not every step's rows."""
    w, tw = _pair((10, 3))
    opt, topt = tg.optim.SGD([w], lr=0.01, momentum=0.9), torch.optim.SGD([tw], lr=0.01, momentum=0.9)
    rng = np.random.default_rng(0)
    for _ in range(20):
        idx = rng.integers(0, 10, 8)
        for lib, p, o in ((tg, w, opt), (torch, tw, topt)):
            o.zero_grad()
            (lib.nn.functional.embedding(lib.tensor(idx), p, sparse=True) ** 2).sum().backward()
            o.step()
    assert opt.state[w]["momentum_buffer"]._nnz() <= 10
    np.testing.assert_allclose(_np(w), _np(tw), rtol=1e-11, atol=1e-13)
