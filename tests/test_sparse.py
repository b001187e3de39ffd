"""Sparse COO tensors (tensorgrad/sparse/, backend/sparse_coo.py) against torch: construction, conversions, the
products and their gradients, the elementwise ops and sums, the refusal of every other op, and a GCN trained step by
step beside torch's."""
import numpy as np
import pytest
import torch

import tensorgrad as tg
from tensorgrad.sparse import functions as SF
from helpers import check_op, gradcheck_op, gradgradcheck_op, double_backward_raises, lib, raises, FLOATS


def coo(rng, shape, density, dup=0.0):
    """Random COO indices (unsorted, with a share ``dup`` of duplicates) for ``shape``."""
    n = int(round(density * np.prod(shape)))
    flat = rng.choice(int(np.prod(shape)), size=n, replace=False) if n else np.zeros(0, np.int64)
    if n and dup:
        flat = np.concatenate([flat, rng.choice(flat, size=max(1, int(dup * n)))])
    rng.shuffle(flat)
    return np.stack(np.unravel_index(flat, shape)).astype(np.int64).reshape(len(shape), -1)


def sp(L, idx, v, shape):
    return L.sparse_coo_tensor(L.tensor(idx), v, shape)


def dense_of(x):
    x = x.to_dense() if x.is_sparse else x
    return x.detach().numpy() if isinstance(x, torch.Tensor) else np.asarray(x.detach())


def same_sparse(a, b, exact_flag=True):
    """tensorgrad sparse a vs torch sparse b: shape, dtype, stored entries once coalesced, and the flag."""
    assert a.is_sparse and b.is_sparse
    assert tuple(a.shape) == tuple(b.shape)
    assert str(a.dtype) == str(b.dtype).replace("torch.", "")
    if exact_flag:
        assert a.is_coalesced() == b.is_coalesced()
    ac, bc = a.detach().coalesce(), b.detach().coalesce()
    np.testing.assert_array_equal(np.asarray(ac.indices()), bc.indices().numpy())
    np.testing.assert_allclose(np.asarray(ac.values()), bc.values().numpy(), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------------- construction
def test_construction_duplicates_unsorted_and_coalesce():
    idx = np.array([[1, 0, 1, 0], [2, 0, 2, 2]])
    v = np.array([1., 2., 3., 4.], np.float32)
    a, b = sp(tg, idx, tg.tensor(v), (2, 3)), sp(torch, idx, torch.tensor(v), (2, 3))
    assert a._nnz() == b._nnz() == 4 and not a.is_coalesced()
    np.testing.assert_array_equal(np.asarray(a._indices()), b._indices().numpy())
    same_sparse(a.coalesce(), b.coalesce())
    assert a.coalesce()._nnz() == 3 and a.coalesce().is_coalesced()
    np.testing.assert_array_equal(dense_of(a), dense_of(b))
    assert repr(a).replace("tensorgrad.", "torch.") == repr(b)
    assert repr(a.coalesce().double()).replace("tensorgrad.", "torch.") == repr(b.coalesce().double())
    with raises(RuntimeError, "uncoalesced"):
        a.indices()
    with raises(RuntimeError, "uncoalesced"):
        a.values()
    assert a.layout is tg.sparse_coo and tg.randn(2).layout is tg.strided and a.is_sparse
    assert (a.sparse_dim(), a.dense_dim()) == (2, 0) and a.device == tg.device("cpu")


@pytest.mark.parametrize("idx,size", [([[0, 3], [1, 1]], None), ([[0], [2]], None), ([[4, 1]], (6,)),
                                      (np.zeros((2, 0), np.int64), (3, 2)), ([[1]], None)])
def test_size_inference_and_flags(idx, size):
    idx = np.asarray(idx, np.int64)
    v = np.arange(idx.shape[1], dtype=np.float32)
    a, b = [L.sparse_coo_tensor(L.tensor(idx), L.tensor(v), *([size] if size else [])) for L in (tg, torch)]
    same_sparse(a, b)


def test_construction_errors_as_torch_with_invariants():
    v = tg.tensor([1., 2.])
    with raises(RuntimeError, "size is inconsistent with indices: for dim 0, size is 3 but found index 5"):
        tg.sparse_coo_tensor(tg.tensor([[0, 5]]), v, (3,))
    with raises(RuntimeError, "found negative index -1 for dim 0"):
        tg.sparse_coo_tensor(tg.tensor([[0, -1]]), v, (3,))
    with raises(RuntimeError, "same nnz"):
        tg.sparse_coo_tensor(tg.tensor([[0, 1]]), tg.tensor([1., 2., 3.]), (3,))
    with raises(RuntimeError, "len\\(size\\) == sparse_dim \\+ dense_dim"):
        tg.sparse_coo_tensor(tg.tensor([[0, 1]]), v, (3, 4))
    with raises(RuntimeError, "int64"):
        tg.sparse_coo_tensor(tg.tensor([[0., 1.]]), v, (3,))
    with raises(RuntimeError, "sparse_dim x nnz"):
        tg.sparse_coo_tensor(tg.tensor([0, 1]), v, (3,))
    with raises(RuntimeError, "not sorted and unique"):
        tg.sparse_coo_tensor(tg.tensor([[1, 0]]), v, (3,), is_coalesced=True)
    # the torch messages above are its check_invariants=True ones: torch checks only when asked
    with pytest.raises(RuntimeError, match="found index 5"):
        torch.sparse_coo_tensor(torch.tensor([[0, 5]]), torch.tensor([1., 2.]), (3,), check_invariants=True)


def test_dtype_device_and_requires_grad():
    idx = np.array([[0, 1], [1, 0]])
    for L in (tg, torch):
        s = L.sparse_coo_tensor(L.tensor(idx), [1, 2], (2, 2))
        assert str(s.dtype).endswith("int64")
        f = L.sparse_coo_tensor(L.tensor(idx), [1, 2], (2, 2), dtype=L.float64, requires_grad=True)
        assert f.requires_grad and f.is_leaf and str(f.dtype).endswith("float64")
        assert str(s.to(L.float32).dtype).endswith("float32") and s.double().is_sparse and s.to("cpu").is_sparse
        assert s.to_dense().layout == L.strided and s.to_dense().to_dense().layout == L.strided


# ------------------------------------------------------------------------------------- conversions
@pytest.mark.parametrize("shape,sparse_dim", [((4, 5), None), ((3, 4, 2), 2), ((3, 4, 2), 1), ((6,), None),
                                              ((0, 3), None), ((3, 3), 1)])
def test_to_sparse_to_dense_round_trip(shape, sparse_dim):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape) * (rng.random(shape) < 0.4)
    a = tg.tensor(x).to_sparse(sparse_dim) if sparse_dim else tg.tensor(x).to_sparse()
    b = torch.tensor(x).to_sparse(sparse_dim) if sparse_dim else torch.tensor(x).to_sparse()
    assert (a.sparse_dim(), a.dense_dim()) == (b.sparse_dim(), b.dense_dim())
    same_sparse(a, b)
    np.testing.assert_array_equal(dense_of(a), x)
    with raises(RuntimeError, "sparse_dim"):
        a.to_sparse(a.sparse_dim() + 1 if a.sparse_dim() < len(shape) else 0)


def test_hybrid_construct_coalesce_to_dense():
    idx = np.array([[0, 2, 0]])
    v = np.arange(6, dtype=np.float64).reshape(3, 2)
    a, b = [L.sparse_coo_tensor(L.tensor(idx), L.tensor(v), (4, 2)) for L in (tg, torch)]
    same_sparse(a, b)
    same_sparse(a.coalesce(), b.coalesce())
    np.testing.assert_array_equal(dense_of(a), dense_of(b))
    with raises(RuntimeError, "mm", "2-D tensor without dense dims"):
        tg.sparse.mm(a, tg.randn(2, 3, dtype=tg.float64))


# ------------------------------------------------------------------------------------- products
PRODUCTS = {
    "sparse.mm": lambda s, d: lib(d).sparse.mm(s, d),
    "spmm": lambda s, d: lib(d).spmm(s, d),
    "mm": lambda s, d: lib(d).mm(s, d),
    "matmul": lambda s, d: lib(d).matmul(s, d),
    "@": lambda s, d: s @ d,
}


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", list(PRODUCTS))
@pytest.mark.parametrize("m,k,n,density,dup", [(5, 7, 3, 0.3, 0.3), (8, 4, 6, 0.0, 0.0), (6, 6, 2, 0.1, 0.0),
                                               (1, 9, 4, 0.5, 0.5), (7, 3, 1, 1.0, 0.0), (4, 5, 0, 0.4, 0.0)])
def test_sparse_dense_product_and_grads_vs_torch(name, m, k, n, density, dup, dtype):
    rng = np.random.default_rng(m * 100 + k * 10 + n)
    idx = coo(rng, (m, k), density, dup)
    v, d, g = rng.standard_normal(idx.shape[1]), rng.standard_normal((k, n)), rng.standard_normal((m, n))
    res = []
    for L in (tg, torch):
        vv, dd = L.tensor(v.astype(dtype), requires_grad=True), L.tensor(d.astype(dtype), requires_grad=True)
        out = PRODUCTS[name](sp(L, idx, vv, (m, k)), dd)
        out.backward(L.tensor(g.astype(dtype)))
        res.append((dense_of(out), dense_of(vv.grad) if vv.grad is not None else np.zeros(len(v)), dense_of(dd.grad)))
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    for a, b in zip(*res):
        assert a.dtype == b.dtype
        np.testing.assert_allclose(a, b, **tol)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("m,k,n,density", [(5, 7, 3, 0.3), (4, 4, 4, 0.0), (2, 6, 5, 0.6)])
def test_leaf_sparse_grad_is_sparse_at_its_pattern(m, k, n, density, dtype):
    """torch.sparse.mm's gradient of a sparse leaf: sparse, the dense gradient read at the leaf's positions; the
    same for dense @ sparse through sparse.mm, and accumulated over two backward passes."""
    rng = np.random.default_rng(m + k + n)
    idx = coo(rng, (m, k), density, 0.3)
    v, d, d2 = rng.standard_normal(idx.shape[1]), rng.standard_normal((k, n)), rng.standard_normal((n, m))
    grads = []
    for L in (tg, torch):
        s = L.sparse_coo_tensor(L.tensor(idx), L.tensor(v.astype(dtype)), (m, k)).requires_grad_()
        (L.sparse.mm(s, L.tensor(d.astype(dtype))) ** 2).sum().backward()
        L.sparse.mm(L.tensor(d2.astype(dtype)), s).sum().backward()
        grads.append(s.grad)
    assert grads[0].is_sparse and grads[1].is_sparse
    same_sparse(grads[0], grads[1], exact_flag=False)


@pytest.mark.parametrize("density", [0.0, 0.3, 0.7])
def test_dense_sparse_and_sparse_sparse_products(density):
    rng = np.random.default_rng(int(density * 10))
    i1, i2 = coo(rng, (4, 5), density, 0.2), coo(rng, (5, 3), density)
    v1, v2, x = rng.standard_normal(i1.shape[1]), rng.standard_normal(i2.shape[1]), rng.standard_normal((6, 4))
    outs = []
    for L in (tg, torch):
        a, b = sp(L, i1, L.tensor(v1), (4, 5)), sp(L, i2, L.tensor(v2), (5, 3))
        outs.append((L.mm(a, b), a @ b, L.sparse.mm(a, b), L.tensor(x) @ a, L.mm(L.tensor(x), a),
                     a @ L.tensor(np.ones(5))))
    for p, q in zip(*outs):
        assert p.is_sparse == q.is_sparse
        if p.is_sparse:
            same_sparse(p, q)
        np.testing.assert_allclose(dense_of(p), dense_of(q), rtol=1e-12, atol=1e-12)


def test_product_errors():
    s = tg.tensor(np.eye(3)).to_sparse()
    with raises(TypeError, "matmul", "dtype"):
        s @ tg.randn(3, 2)
    with raises(RuntimeError, "matmul", "cannot be multiplied"):
        s @ tg.randn(4, 2, dtype=tg.float64)
    with raises(RuntimeError, "sparse.mm", "at least one sparse"):
        tg.sparse.mm(tg.randn(2, 2), tg.randn(2, 2))


# ------------------------------------------------------------------------------------- elementwise and sums
def test_add_sub_scale_neg_vs_torch():
    rng = np.random.default_rng(3)
    i1, i2 = coo(rng, (4, 5), 0.4, 0.3), coo(rng, (4, 5), 0.3)
    v1, v2, x = rng.standard_normal(i1.shape[1]), rng.standard_normal(i2.shape[1]), rng.standard_normal((4, 5))
    outs = []
    for L in (tg, torch):
        a, b = sp(L, i1, L.tensor(v1), (4, 5)), sp(L, i2, L.tensor(v2), (4, 5))
        ac, bc = a.coalesce(), b.coalesce()
        outs.append((a + b, ac + bc, a + a, a - b, a * 2.5, 3 * a, a / 4, -a, L.tensor(x) + a, L.tensor(x) - b,
                     a.long() * 2.5, a.long() / 2, L.eye(5)[:4] + a.long(), ac.t(), a.transpose(0, 1),
                     L.sum(a, 1), L.sum(a, 0), L.sum(a), L.sparse.sum(a, 1), L.sparse.sum(a), a.sum(1),
                     L.sparse.sum(a, (0, 1)), a * L.tensor(2.0)))
    for p, q in zip(*outs):
        assert p.is_sparse == q.is_sparse
        if p.is_sparse:
            same_sparse(p, q)
        assert dense_of(p).dtype == dense_of(q).dtype
        np.testing.assert_allclose(dense_of(p), dense_of(q), rtol=1e-12, atol=1e-12)
    a = tg.tensor(x).to_sparse()
    with raises(RuntimeError, "add\\(sparse, dense\\) is not supported"):
        a + tg.tensor(x)
    with raises(RuntimeError, "add", "same shape"):
        a + tg.tensor(x).t().contiguous().to_sparse()
    with pytest.raises(RuntimeError, match="add\\(sparse, dense\\) is not supported"):
        torch.tensor(x).to_sparse() + torch.tensor(x)


def test_softmax_vs_torch():
    rng = np.random.default_rng(4)
    idx = coo(rng, (5, 6), 0.4, 0.2)
    v = rng.standard_normal(idx.shape[1])
    for dim in (0, 1, -1):
        a, b = [L.sparse.softmax(sp(L, idx, L.tensor(v), (5, 6)), dim) for L in (tg, torch)]
        same_sparse(a, b, exact_flag=False)


# ------------------------------------------------------------------------------------- every Function vs torch
I1 = np.array([[0, 2, 1, 2, 3], [1, 0, 3, 0, 2]])        # a duplicate (2, 0), unsorted
I2 = np.array([[0, 1, 3, 3], [2, 0, 1, 2]])


def _s(L, v, idx=I1, shape=(4, 4)):
    return L.sparse_coo_tensor(L.tensor(idx), v, shape)


CASES = {   # name: (fn over dense inputs, input shapes); each output dense
    "spmm": (lambda v, d: lib(v).sparse.mm(_s(lib(v), v), d), [(5,), (4, 3)]),
    "dense_spmm": (lambda v, d: d @ _s(lib(v), v), [(5,), (2, 4)]),
    "coalesce_values": (lambda v: _s(lib(v), v).coalesce().values() * 1.0, [(5,)]),
    "to_dense_t": (lambda v: _s(lib(v), v).t().to_dense(), [(5,)]),
    "to_sparse": (lambda x, d: lib(x).sparse.mm(x.to_sparse(), d), [(4, 4), (4, 2)]),
    "cast": (lambda v: _s(lib(v), v).float().double().to_dense(), [(5,)]),
    "scale_neg": (lambda v: (-(_s(lib(v), v) * 3.0) / 2.0).to_dense(), [(5,)]),
    "sparse_add": (lambda v, w: (_s(lib(v), v) - _s(lib(v), w, I2)).to_dense(), [(5,), (4,)]),
    "dense_sparse_add": (lambda x, v: x + _s(lib(v), v), [(4, 4), (5,)]),
    "spspmm": (lambda v, w: lib(v).sparse.mm(_s(lib(v), v), _s(lib(v), w, I2)).to_dense(), [(5,), (4,)]),
    "sum_dim": (lambda v: lib(v).sparse.sum(_s(lib(v), v), 0).to_dense(), [(5,)]),
    "sum_all": (lambda v: lib(v).sparse.sum(_s(lib(v), v)), [(5,)]),
    "softmax": (lambda v: lib(v).sparse.softmax(_s(lib(v), v), 1).to_dense(), [(5,)]),
}
NO_DOUBLE = {"spspmm": "SpSpMM", "softmax": "SparseSoftmax"}


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", list(CASES))
def test_function_vs_torch(name, dtype):
    fn, shapes = CASES[name]
    check_op(fn, inputs=shapes, dtype=dtype)


@pytest.mark.parametrize("name", list(CASES))
def test_function_gradcheck_and_double_backward(name):
    fn, shapes = CASES[name]
    # (the cast case goes through float32: finite differences of a float32 value need a larger step)
    tol = dict(eps=1e-3, atol=1e-3, rtol=1e-2) if name == "cast" else {}
    gradcheck_op(fn, shapes, **tol)
    rng = np.random.default_rng(7)
    ins = [tg.tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]
    if name in NO_DOUBLE:
        double_backward_raises(fn, ins, NO_DOUBLE[name])
    else:
        gradgradcheck_op(fn, ins, **tol)


def test_internal_gather_and_sddmm_vs_torch():
    """SparseGather and SDDMM run inside backward passes; checked here directly against their dense meaning."""
    idx = I1
    check_op(lambda x: SF.SparseGather.apply(x, idx) if isinstance(x, tg.Tensor) else x[idx[0], idx[1]],
             inputs=[(4, 4)])
    check_op(lambda g, d: SF.SDDMM.apply(g, d, idx) if isinstance(g, tg.Tensor) else (g @ d.T)[idx[0], idx[1]],
             inputs=[(4, 3), (4, 3)])
    for f, shapes in ((lambda x: SF.SparseGather.apply(x, idx), [(4, 4)]),
                      (lambda g, d: SF.SDDMM.apply(g, d, idx), [(4, 3), (4, 3)])):
        gradcheck_op(f, shapes)
        rng = np.random.default_rng(0)
        gradgradcheck_op(f, [tg.tensor(rng.standard_normal(s), requires_grad=True) for s in shapes])


# ------------------------------------------------------------------------------------- refusals
def test_unsupported_ops_raise_naming_the_op():
    s = tg.tensor(np.eye(3)).to_sparse()
    cases = [("exp", lambda: tg.exp(s)), ("relu", lambda: tg.relu(s)), ("getitem", lambda: s[0]),
             ("numpy", lambda: s.numpy()), ("linear", lambda: tg.nn.functional.linear(s, tg.randn(2, 3).double())),
             ("mul", lambda: s * tg.randn(3, 3).double()),
             ("gt", lambda: s > 0), ("where", lambda: tg.where(tg.ones(3, 3).bool(), s, s)),
             ("tolist", lambda: s.tolist()),
             ("mean", lambda: s.mean()), ("cat", lambda: tg.cat([s, s]))]
    for op, f in cases:
        with raises(RuntimeError, op, "sparse COO", "to_dense"):
            f()


def test_optimizer_and_save_refuse_sparse():
    s = tg.tensor(np.eye(3)).to_sparse().requires_grad_()
    opt = tg.optim.Adam([s], lr=0.1)
    tg.sparse.mm(s, tg.ones(3, 1, dtype=tg.float64)).sum().backward()
    assert s.grad.is_sparse
    with raises(RuntimeError, "Adam does not support sparse gradients", "SparseAdam"):  # torch's refusal
        opt.step()
    with raises(RuntimeError, "save", "sparse COO"):
        tg.save({"adj": tg.tensor(np.eye(2)).to_sparse()}, "/tmp/never_written_sparse.pt")


def test_legacy_sizes_constructor():
    """torch.Tensor(n_in, n_out), as gcn's GraphConv makes its kernel: a tensor of that shape."""
    assert tg.Tensor(3, 4).shape == (3, 4) and tg.Tensor(2, 3, 4).dtype == tg.float32
    with pytest.raises(TypeError, match="sizes"):
        tg.Tensor(2, 3, "x")


# ------------------------------------------------------------------------------------- a GCN beside torch's
def test_gcn_training_matches_torch_step_by_step():
    rng = np.random.default_rng(0)
    n, f, h, c = 40, 12, 8, 3
    edges = coo(rng, (n, n), 0.08)
    adj = np.zeros((n, n))
    adj[edges[0], edges[1]] = 1
    adj = np.maximum(adj, adj.T) + np.eye(n)
    dinv = 1 / np.sqrt(adj.sum(1))
    norm = adj * dinv[:, None] * dinv[None, :]
    nzi = np.stack(np.nonzero(norm))
    x = (rng.random((n, f)) < 0.3).astype(np.float32)
    y = rng.integers(0, c, n)
    w1, w2 = rng.standard_normal((f, h)) * 0.3, rng.standard_normal((h, c)) * 0.3
    losses, params = [], []
    for L in (tg, torch):
        A = L.sparse_coo_tensor(L.tensor(nzi), L.tensor(norm[nzi[0], nzi[1]].astype(np.float32)), (n, n))
        X, Y = L.tensor(x).to_sparse(), L.tensor(y)
        W1, W2 = (L.nn.Parameter(L.tensor(w.astype(np.float32))) for w in (w1, w2))
        opt = L.optim.Adam([W1, W2], lr=0.05, weight_decay=5e-4)
        ls = []
        for _ in range(15):
            opt.zero_grad()
            hid = L.relu(L.spmm(A, L.mm(X, W1)))
            out = L.nn.functional.log_softmax(L.spmm(A, hid @ W2), dim=1)
            loss = L.nn.functional.nll_loss(out[:30], Y[:30])
            loss.backward()
            opt.step()
            ls.append(loss.item())
        losses.append(ls)
        params.append([np.asarray(p.detach().numpy()) for p in (W1, W2)])
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5, atol=1e-6)
    for a, b in zip(*params):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert losses[0][-1] < losses[0][0]
