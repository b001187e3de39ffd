"""torch's top-level names added by ops/toplevel_compat.py, ops/strided.py, nn/torch_aliases.py, amp/state.py,
testing_make.py, random.fork_rng and nn.utils.memory_format, each compared with torch: values, dtypes, gradients,
errors, broadcasting and size-0 inputs; the Functions gradchecked in float64."""
import warnings

import numpy as np
import pytest
import torch

import tensorgrad as tg
from tensorgrad.ops import toplevel_compat as TC
from helpers import check_op, gradcheck_op, gradgradcheck_op, ints, unif, pos

RNG = np.random.default_rng(0)

# ------------------------------------------------------------------------------- in-place functions
# the arguments after the tensor for the in-place functions that take some; the domain of the input
_ARGS = {"addmv_": lambda L: (L.tensor(np.ones((3, 2))), L.tensor(np.ones(2))), "clamp_": lambda L: (-0.3, 0.4),
         "clamp_max_": lambda L: (0.2,), "clamp_min_": lambda L: (0.2,), "clip_": lambda L: (-0.3, 0.4),
         "fill_": lambda L: (2.5,), "gcd_": lambda L: (L.tensor([4, 6, 9]),), "lcm_": lambda L: (L.tensor([4, 6, 9]),),
         "ldexp_": lambda L: (L.tensor([1.0, 2.0, -1.0]),), "xlogy_": lambda L: (L.tensor([0.5, 2.0, 3.0]),),
         "index_put_": lambda L: ((L.tensor([0, 2]),), L.tensor(np.array([7.0, 8.0]))), "logit_": lambda L: (0.1,),
         "resize_as_": lambda L: (L.ones(3),), "nan_to_num_": lambda L: (0.0, 5.0, -5.0)}
_INTS = ("gcd_", "lcm_")
_DOMAIN = {"acosh_": (1.5, 3.0), "arccosh_": (1.5, 3.0), "log_": (0.2, 3), "log2_": (0.2, 3), "log10_": (0.2, 3),
           "sqrt_": (0.2, 3), "rsqrt_": (0.2, 3), "reciprocal_": (0.2, 3), "logit_": (0.2, 0.8), "xlogy_": (0.1, 2)}
_SKIP_VALUES = {"detach_", "as_strided_"}  # (own tests below)
INPLACE_NAMES = sorted(n for n in dir(torch) if n.endswith("_") and not n.startswith("_") and hasattr(tg.Tensor, n))


def test_every_torch_inplace_function_that_is_a_method_is_top_level():
    assert len(INPLACE_NAMES) > 50
    assert [n for n in INPLACE_NAMES if not callable(getattr(tg, n, None))] == []


@pytest.mark.parametrize("name", [n for n in INPLACE_NAMES if n not in _SKIP_VALUES])
def test_inplace_function_matches_torch(name):
    lo, hi = _DOMAIN.get(name, (-0.9, 0.9))
    data = np.array([12, 18, 5]) if name in _INTS else RNG.uniform(lo, hi, 3)
    x, tx = tg.tensor(data.copy()), torch.tensor(data.copy())
    if name == "nan_to_num_":
        x.array[0], tx[0] = np.nan, float("nan")
    args = _ARGS.get(name, lambda L: ())
    r, tr = getattr(tg, name)(x, *args(tg)), getattr(torch, name)(tx, *args(torch))
    assert r is x and tr is tx  # the input, changed, is the result
    np.testing.assert_allclose(np.asarray(x), tx.numpy(), rtol=1e-12, atol=1e-12)
    assert x.dtype == tg.tensor(tx.numpy()).dtype
    if name in TC.INPLACE:  # (generated from the method: a non-tensor is refused by name)
        with pytest.raises(TypeError, match=name):
            getattr(tg, name)([1.0, 2.0], *args(tg))


def test_detach_functions():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    d = tg.detach(y)
    assert not d.requires_grad and np.shares_memory(d.array, y.array)
    assert tg.detach_(y) is y and not y.requires_grad and y.grad_fn is None
    c = tg.detach_copy(x)
    assert not c.requires_grad and not np.shares_memory(c.array, x.array)


# ---------------------------------------------------------------------------------------- *_copy
COPY_CASES = {
    "alias_copy": ((2, 3), ()), "as_strided_copy": ((6,), ((2, 2), (1, 2), 1)),
    "diagonal_copy": ((3, 4), (1, 0, 1)), "expand_copy": ((3, 1), ((3, 4),)), "permute_copy": ((2, 3, 4), ((2, 0, 1),)),
    "select_copy": ((3, 4), (1, -1)), "slice_copy": ((5, 4), (0, 1, 5, 2)), "squeeze_copy": ((3, 1, 2), (1,)),
    "t_copy": ((3, 4), ()), "transpose_copy": ((2, 3, 4), (0, 2)), "unfold_copy": ((7,), (0, 3, 2)),
    "unsqueeze_copy": ((3,), (1,)), "view_copy": ((2, 6), ((3, 4),)), "split_copy": ((5, 2), (2,)),
    "split_with_sizes_copy": ((5, 2), ([1, 4],)), "unbind_copy": ((3, 2), (1,)),
}


@pytest.mark.parametrize("name", sorted(COPY_CASES))
def test_copy_variants_match_torch_and_own_their_memory(name):
    shape, args = COPY_CASES[name]
    f, tf = getattr(tg, name), getattr(torch, name)
    check_op(lambda x: f(x, *args), lambda x: tf(x, *args), [shape])
    x = tg.tensor(RNG.standard_normal(shape))
    out = f(x, *args)
    for o in (out if isinstance(out, (tuple, list)) else [out]):
        assert not np.shares_memory(o.array, x.array)
    want = tf(torch.zeros(shape), *args)
    assert isinstance(out, tuple) == isinstance(want, tuple) and isinstance(out, list) == isinstance(want, list)


def test_squeeze_copy_without_dim_and_size0():
    check_op(lambda x: tg.squeeze_copy(x), lambda x: torch.squeeze_copy(x), [(3, 1, 1)])
    check_op(lambda x: tg.permute_copy(x, (1, 0)), lambda x: torch.permute_copy(x, (1, 0)), [(0, 3)])


# --------------------------------------------------------------------------------------- small functions
def test_fill_rsub_concatenate_isreal_and_queries():
    check_op(lambda x: tg.fill(x, 2.5), lambda x: torch.fill(x, 2.5), [(2, 3)])
    check_op(lambda x, v: tg.fill(x, v), lambda x, v: torch.fill(x, v), [(2, 3), ()])
    for lib in (tg, torch):
        with pytest.raises(RuntimeError, match="0-dimension value tensor"):
            lib.fill(lib.ones(2), lib.ones(2))
    check_op(lambda a, b: tg.rsub(a, b, alpha=2), lambda a, b: torch.rsub(a, b, alpha=2), [(3, 1), (1, 4)])
    check_op(lambda a: tg.rsub(a, 3.0), lambda a: torch.rsub(a, 3.0), [(3,)])
    for args in (([1, 2], 2.5), ([1, 2], 3)):
        a, b = tg.rsub(tg.tensor(args[0]), args[1], alpha=2), torch.rsub(torch.tensor(args[0]), args[1], alpha=2)
        assert a.tolist() == b.tolist() and str(a.dtype) == str(b.dtype).replace("torch.", "")
    for lib in (tg, torch):
        with pytest.raises(RuntimeError, match="with two bool tensors is not supported"):
            lib.rsub(lib.tensor([True]), True)
    check_op(lambda a, b: tg.concatenate([a, b], axis=1), lambda a, b: torch.concatenate([a, b], axis=1),
             [(2, 3), (2, 0)])
    for data in ([1.0, -2.0], [[1, 2]], [True], []):
        assert tg.isreal(tg.tensor(data)).tolist() == torch.isreal(torch.tensor(data)).tolist()
        assert tg.isreal(tg.tensor(data)).dtype == tg.bool
    assert tg.is_nonzero(tg.tensor([1.5])) is True and tg.is_nonzero(tg.tensor(0)) is False
    for lib in (tg, torch):
        with pytest.raises(RuntimeError, match="ambiguous"):
            lib.is_nonzero(lib.tensor([1.0, 2.0]))
    assert tg.get_device(tg.ones(2)) == torch.get_device(torch.ones(2)) == -1
    assert tg.is_inference(tg.ones(1)) is torch.is_inference(torch.ones(1)) is False
    assert tg.is_storage(tg.ones(1)) is torch.is_storage(torch.ones(1)) is False


def test_put_and_index_put():
    idx = np.array([5, 0, -1])
    check_op(lambda x, s: tg.put(x, tg.tensor(idx), s), lambda x, s: torch.put(x, torch.tensor(idx), s),
             [(2, 3), (3,)])
    check_op(lambda x, s: tg.put(x, tg.tensor([1, 1]), s, accumulate=True),
             lambda x, s: torch.put(x, torch.tensor([1, 1]), s, accumulate=True), [(2, 3), (2,)])
    x, tx = tg.zeros(2, 3), torch.zeros(2, 3)
    x.put_(tg.tensor([0, 4]), tg.tensor([1.0, 2.0]))
    tx.put_(torch.tensor([0, 4]), torch.tensor([1.0, 2.0]))
    assert x.tolist() == tx.tolist()
    x, tx = tg.zeros(3), torch.zeros(3)
    assert tg.index_put_(x, (tg.tensor([0, 0]),), tg.tensor([1.0, 2.0]), True) is x
    torch.index_put_(tx, (torch.tensor([0, 0]),), torch.tensor([1.0, 2.0]), True)
    assert x.tolist() == tx.tolist()


@pytest.mark.parametrize("reduce", ["prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_index_reduce_matches_torch(reduce, include_self):
    idx = np.array([0, 4, 2, 0, 4])
    for dim, shape, src in ((0, (5, 3), (5, 3)), (1, (2, 5), (2, 5)), (-1, (2, 5), (2, 5))):
        check_op(lambda x, s: tg.index_reduce(x, dim, tg.tensor(idx), s, reduce, include_self=include_self),
                 lambda x, s: torch.index_reduce(x, dim, torch.tensor(idx), s, reduce, include_self=include_self),
                 [unif(*shape, low=0.5, high=2), unif(*src, low=0.5, high=2)])
    x, tx = tg.ones(5, 2, dtype=tg.float64), torch.ones(5, 2, dtype=torch.float64)
    s = RNG.uniform(1, 2, (5, 2))
    x.index_reduce_(0, tg.tensor(idx), tg.tensor(s), reduce, include_self=include_self)
    tx.index_reduce_(0, torch.tensor(idx), torch.tensor(s), reduce, include_self=include_self)
    np.testing.assert_allclose(np.asarray(x), tx.numpy(), rtol=1e-12)
    for lib in (tg, torch):
        with pytest.raises(RuntimeError, match="Expected reduce to be one of prod, mean, amax or amin"):
            lib.index_reduce(lib.ones(3), 0, lib.tensor([0]), lib.ones(1), "sum")


@pytest.mark.parametrize("reduce", ["sum", "mean", "max", "min", "prod"])
def test_segment_reduce_matches_torch(reduce):
    lengths = np.array([2, 0, 3, 1])
    for axis, shape in ((0, (6,)), (0, (6, 2)), (-2, (6, 3))):
        check_op(lambda d: tg.segment_reduce(d, reduce, lengths=tg.tensor(lengths), axis=axis),
                 lambda d: torch.segment_reduce(d, reduce, lengths=torch.tensor(lengths), axis=axis),
                 [unif(*shape, low=0.5, high=2)])
    offsets = np.array([0, 2, 2, 5, 6])
    check_op(lambda d: tg.segment_reduce(d, reduce, offsets=tg.tensor(offsets), initial=1.5),
             lambda d: torch.segment_reduce(d, reduce, offsets=torch.tensor(offsets), initial=1.5),
             [unif(6, low=0.5, high=2)], grad=reduce not in ("max", "min"))
    for lib in (tg, torch):
        with pytest.raises(RuntimeError, match="sum to"):
            lib.segment_reduce(lib.ones(5), reduce, lengths=lib.tensor([2, 2]))
        with pytest.raises(RuntimeError, match="Expected axis to be the last dimension of lengths"):
            lib.segment_reduce(lib.ones(2, 5), reduce, lengths=lib.tensor([2, 3]), axis=1)


def test_histogramdd_matches_torch():
    pts = RNG.standard_normal((50, 2)).astype(np.float32)
    w = RNG.uniform(0, 1, 50).astype(np.float32)
    for kw in (dict(bins=[3, 4]), dict(bins=5, density=True), dict(bins=[2, 3], range=[-1.0, 1.0, -2.0, 2.0]),
               dict(bins=[3, 3], weight=True)):
        kw_t = dict(kw, weight=torch.tensor(w)) if "weight" in kw else kw
        kw_g = dict(kw, weight=tg.tensor(w)) if "weight" in kw else kw
        h, th = tg.histogramdd(tg.tensor(pts), **kw_g), torch.histogramdd(torch.tensor(pts), **kw_t)
        np.testing.assert_allclose(np.asarray(h.hist), th.hist.numpy(), rtol=1e-5, atol=1e-6)
        for e, te in zip(h.bin_edges, th.bin_edges):
            np.testing.assert_allclose(np.asarray(e), te.numpy(), rtol=1e-6)
        assert h.hist.dtype == tg.float32
    edges = [torch.tensor([-3.0, 0.0, 3.0]), torch.tensor([-1.0, 1.0])]
    h = tg.histogramdd(tg.tensor(pts), bins=[tg.tensor(e.numpy()) for e in edges])
    assert np.asarray(h.hist).tolist() == torch.histogramdd(torch.tensor(pts), bins=edges).hist.tolist()
    with pytest.raises(RuntimeError, match="range should have 4"):
        tg.histogramdd(tg.tensor(pts), bins=3, range=[0.0, 1.0])


def test_binomial_is_distributed_as_torchs():
    n, p = np.array([5.0, 40.0, 0.0, 12.0]), np.array([0.3, 0.8, 0.5, 0.0])
    tg.manual_seed(0)
    torch.manual_seed(0)
    ours = np.stack([np.asarray(tg.binomial(tg.tensor(n), tg.tensor(p))) for _ in range(4000)])
    theirs = np.stack([torch.binomial(torch.tensor(n), torch.tensor(p)).numpy() for _ in range(4000)])
    mean, var = n * p, n * p * (1 - p)
    se = np.sqrt(var / 4000) + 1e-12
    assert (np.abs(ours.mean(0) - mean) < 5 * se + 1e-12).all()
    assert (np.abs(theirs.mean(0) - mean) < 5 * se + 1e-12).all()
    np.testing.assert_allclose(ours.var(0), theirs.var(0), rtol=0.15, atol=1e-12)
    assert ours.dtype == np.float64 and (ours[:, 2] == 0).all() and (ours[:, 3] == 0).all()
    for lib in (tg, torch):
        with pytest.raises(ValueError, match="binomial only supports floating-point dtypes for count"):
            lib.binomial(lib.tensor([5, 10]), lib.tensor([0.5, 0.2]))


# ---------------------------------------------------------------------------------------- as_strided
GEOMS = [((2, 2), (1, 1), None), ((3,), (2,), 0), ((2, 2), (1, 1), 2), ((0, 3), (1, 1), None), ((), (), 3),
         ((3, 2), (1, 2), 1), ((2, 3), (0, 1), None)]
BASES = {"fresh": lambda L, x: x * 1, "sliced": lambda L, x: (x * 1)[1:], "transposed": lambda L, x: (x * 1).t(),
         "expanded": lambda L, x: x[0].expand(3, 4)}


@pytest.mark.parametrize("base", sorted(BASES))
@pytest.mark.parametrize("geom", GEOMS)
def test_as_strided_matches_torch(base, geom):
    size, stride, off = geom
    mk = BASES[base]
    if base == "sliced" and off is None and size == (0, 3):
        off = 0
    check_op(lambda x: tg.as_strided(mk(tg, x), size, stride, off),
             lambda x: torch.as_strided(mk(torch, x), size, stride, off), [(3, 4)])
    check_op(lambda x: mk(tg, x).as_strided(size, stride, off), lambda x: mk(torch, x).as_strided(size, stride, off),
             [(3, 4)])


def test_as_strided_gradchecks_and_errors():
    gradcheck_op(lambda x: tg.as_strided(x * 1, (3, 2), (1, 2), 1), [(2, 4)])
    gradcheck_op(lambda x: tg.as_strided(x[0].expand(2, 4), (3,), (1,), 1), [(2, 4)])
    x = tg.tensor(RNG.standard_normal((2, 4)), requires_grad=True)
    gradgradcheck_op(lambda x: tg.as_strided(x * x, (3, 2), (1, 2), 1), [x])
    gradgradcheck_op(lambda x: tg.as_strided((x * x)[0].expand(2, 4), (2, 2), (1, 1), 1), [x])
    for lib in (tg, torch):
        with pytest.raises(RuntimeError, match="requiring a storage size of 28 are out of bounds for storage of "
                                               "size 24"):
            lib.as_strided(lib.arange(6.0), (3, 3), (1, 1), 2)
        with pytest.raises(RuntimeError, match="Negative strides are not supported"):
            lib.as_strided(lib.arange(6.0), (2,), (-1,), 3)


def test_as_strided_is_a_view_and_writes_reach_the_base():
    for lib in (tg, torch):
        b = lib.arange(6.0)
        v = b.as_strided((2, 2), (1, 2), 1)
        v.mul_(10)
        assert b.tolist() == [0.0, 10.0, 20.0, 30.0, 40.0, 5.0]
        with pytest.raises(RuntimeError, match="more than one element of the written-to tensor"):
            lib.zeros(3).as_strided((3,), (0,)).add_(1)
    # elements partly sharing memory: torch's kernels update them one after another (order-dependent results);
    # tensorgrad refuses the write with a clear error rather than compute something else
    v = tg.arange(6.0).as_strided((2, 2), (1, 1))
    for write in (lambda: v.add_(1), lambda: v.copy_(tg.ones(2, 2))):
        with pytest.raises(RuntimeError, match="read-only memory: a view whose elements overlap"):
            write()
    # a write recording a gradient into an as_strided view of a non-leaf: gradients as torch's
    out = []
    for lib in (tg, torch):
        x = lib.tensor(np.arange(6.0), requires_grad=True)
        y = x * 1
        y.as_strided((2,), (2,), 1).mul_(lib.tensor([2.0, 3.0]))
        (y * lib.tensor(np.arange(1.0, 7.0))).sum().backward()
        out.append(np.asarray(x.grad.detach()) if lib is tg else x.grad.numpy())
    np.testing.assert_allclose(out[0], out[1])


def test_as_strided_inplace():
    for lib in (tg, torch):
        x = lib.arange(6.0)
        assert lib.as_strided_(x, (2, 2), (2, 1), 1) is x
        assert x.tolist() == [[1.0, 2.0], [3.0, 4.0]]
        leaf = lib.ones(4, requires_grad=True)
        with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
            leaf.as_strided_((2,), (1,))
    check_op(lambda x: (x * 1).as_strided_((2, 2), (1, 2), 1), lambda x: (x * 1).as_strided_((2, 2), (1, 2), 1),
             [(6,)])


def test_as_strided_scatter():
    for geom in (((2, 2), (1, 2), 1), ((3,), (2,), 0), ((2, 2), (1, 1), None), ((0,), (1,), 2)):
        size, stride, off = geom
        # the src gradient and the values are torch's; torch's input gradient is wrong (it keeps g where src was
        # written and zeroes the rest; it fails torch's own gradcheck), so the input gradient is checked against
        # torch's in-place form of the same computation, and by gradcheck
        check_op(lambda x, s: tg.as_strided_scatter(x, s, size, stride, off),
                 lambda x, s: torch.as_strided_scatter(x, s, size, stride, off), [(2, 4), size],
                 requires_grad=[False, True])

        def composed(x, s):
            y = x.clone()
            y.as_strided(size, stride, off).copy_(s)
            return y
        check_op(lambda x, s: tg.as_strided_scatter(x, s, size, stride, off), composed, [(2, 4), size],
                 requires_grad=[True, False])
        if 0 not in size and stride != (1, 1):  # (overlapping writes: the last one wins, no derivative to check)
            gradcheck_op(lambda x, s: tg.as_strided_scatter(x, s, size, stride, off), [(2, 4), size])
    x = tg.tensor(RNG.standard_normal((2, 4)), requires_grad=True)
    s = tg.tensor(RNG.standard_normal((2, 2)), requires_grad=True)
    gradgradcheck_op(lambda x, s: tg.as_strided_scatter(x * x, s * s, (2, 2), (1, 2), 1), [x, s])
    # a view input: the offset counts from its storage's start, as torch's
    for off in (None, 3):
        a = tg.as_strided_scatter(tg.arange(6.0)[2:], tg.tensor([10.0, 20.0]), (2,), (1,), off)
        b = torch.as_strided_scatter(torch.arange(6.0)[2:], torch.tensor([10.0, 20.0]), (2,), (1,), off)
        assert a.tolist() == b.tolist()
    for lib in (tg, torch):
        with pytest.raises(RuntimeError, match="more than one element of the written-to tensor"):
            lib.as_strided_scatter(lib.arange(6.0), lib.tensor([1.0, 2, 3]), (3,), (0,))


def test_strided_factories_match_torch():
    for size, stride in (((2, 3), (1, 2)), ((2, 3), (4, 1)), ((0, 2), (1, 1)), ((3,), (0,))):
        a, b = tg.empty_strided(size, stride), torch.empty_strided(size, stride)
        assert tuple(a.shape) == tuple(b.shape) and a.stride() == b.stride() and a.dtype == tg.float32
    assert tg.empty_strided((2,), (1,), dtype=tg.int64, requires_grad=False).dtype == tg.int64
    assert tg.empty_strided((2,), (1,), requires_grad=True).requires_grad
    for size, perm in (((2, 3, 4, 5), (0, 2, 3, 1)), ((2, 3), (1, 0)), ((4,), (0,))):
        a, b = tg.empty_permuted(size, perm), torch.empty_permuted(size, perm)
        assert tuple(a.shape) == tuple(b.shape) and a.stride() == b.stride()
    with pytest.raises(RuntimeError, match="not a permutation"):
        tg.empty_permuted((2, 3), (0, 0))


def test_frombuffer_matches_torch_and_shares_memory():
    raw = bytearray(np.arange(6, dtype=np.float32).tobytes())
    for kw in (dict(dtype=tg.float32), dict(dtype=tg.float32, count=2, offset=4), dict(dtype=tg.int16, offset=2)):
        t = tg.frombuffer(raw, **kw)
        tkw = dict(kw, dtype=getattr(torch, str(kw["dtype"])))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tt = torch.frombuffer(raw, **tkw)
        assert t.tolist() == tt.tolist()
    t = tg.frombuffer(raw, dtype=tg.float32)
    t[0] = 42.0
    assert np.frombuffer(raw, dtype=np.float32)[0] == 42.0
    for lib in (tg, torch):
        with pytest.raises(ValueError, match="must be a multiple of element size"):
            lib.frombuffer(bytearray(5), dtype=lib.float32)
        with pytest.raises(ValueError, match="must not be greater than actual buffer length"):
            lib.frombuffer(bytearray(8), dtype=lib.float32, count=3)


# ------------------------------------------------------------------- functionals in ATen's signatures
def _lib_pair(fn_tg, fn_th):
    return fn_tg, fn_th


def test_embedding_and_norms_in_aten_order():
    idx = np.array([[0, 2], [3, 3]])
    check_op(lambda w: tg.embedding(w, tg.tensor(idx)), lambda w: torch.embedding(w, torch.tensor(idx)), [(4, 3)])
    check_op(lambda w: tg.embedding(w, tg.tensor(idx), 3), lambda w: torch.embedding(w, torch.tensor(idx), 3),
             [(4, 3)])
    for training in (True, False):
        rm, rv = RNG.standard_normal(3), RNG.uniform(0.5, 2, 3)
        check_op(lambda x, w, b: tg.batch_norm(x, w, b, tg.tensor(rm.copy()), tg.tensor(rv.copy()), training, 0.1,
                                               1e-5, False),
                 lambda x, w, b: torch.batch_norm(x, w, b, torch.tensor(rm.copy()), torch.tensor(rv.copy()),
                                                  training, 0.1, 1e-5, False), [(4, 3, 2), (3,), (3,)])
    check_op(lambda x, w, b: tg.instance_norm(x, w, b, None, None, True, 0.1, 1e-5, False),
             lambda x, w, b: torch.instance_norm(x, w, b, None, None, True, 0.1, 1e-5, False), [(2, 3, 5), (3,), (3,)])
    check_op(lambda x, w, b: tg.layer_norm(x, [4], w, b, 1e-5, True),
             lambda x, w, b: torch.layer_norm(x, [4], w, b, 1e-5, True), [(2, 3, 4), (4,), (4,)])
    check_op(lambda x, w, b: tg.group_norm(x, 2, w, b, 1e-5, True),
             lambda x, w, b: torch.group_norm(x, 2, w, b, 1e-5, True), [(2, 4, 3), (4,), (4,)])
    check_op(lambda x, w: tg.rms_norm(x, [4], w, 1e-6), lambda x, w: torch.rms_norm(x, [4], w, 1e-6),
             [(2, 3, 4), (4,)])


@pytest.mark.parametrize("reduction", [0, 1, 2])
def test_losses_with_integer_reduction(reduction):
    r = reduction
    sign = np.where(RNG.random((4,)) < 0.5, -1.0, 1.0)
    check_op(lambda x, t, w, pw: tg.binary_cross_entropy_with_logits(x, t, w, pw, r),
             lambda x, t, w, pw: torch.binary_cross_entropy_with_logits(x, t, w, pw, r),
             [(4, 3), unif(4, 3, low=0, high=1), pos(3), pos(3)], requires_grad=[True, True, False, False])
    check_op(lambda a, b: tg.cosine_embedding_loss(a, b, tg.tensor(sign), 0.1, r),
             lambda a, b: torch.cosine_embedding_loss(a, b, torch.tensor(sign), 0.1, r), [(4, 5), (4, 5)])
    check_op(lambda x: tg.hinge_embedding_loss(x, tg.tensor(sign), 1.0, r),
             lambda x: torch.hinge_embedding_loss(x, torch.tensor(sign), 1.0, r), [(4,)])
    check_op(lambda a, b: tg.margin_ranking_loss(a, b, tg.tensor(sign), 0.2, r),
             lambda a, b: torch.margin_ranking_loss(a, b, torch.tensor(sign), 0.2, r), [(4,), (4,)])
    check_op(lambda a, p, n: tg.triplet_margin_loss(a, p, n, 1.0, 2.0, 1e-6, True, r),
             lambda a, p, n: torch.triplet_margin_loss(a, p, n, 1.0, 2.0, 1e-6, True, r), [(4, 5), (4, 5), (4, 5)])
    check_op(lambda x, t: tg.kl_div(x, t, r, log_target=True), lambda x, t: torch.kl_div(x, t, r, log_target=True),
             [(4, 3), (4, 3)])
    check_op(lambda x, t: tg.poisson_nll_loss(x, t, True, True, 1e-8, r),
             lambda x, t: torch.poisson_nll_loss(x, t, True, True, 1e-8, r), [(4, 3), pos(4, 3)])
    lp = RNG.standard_normal((6, 2, 4))
    lp = lp - np.log(np.exp(lp).sum(-1, keepdims=True))
    tgt, il, tl = np.array([[1, 2], [3, 3]]), np.array([6, 5]), np.array([2, 1])
    check_op(lambda x: tg.ctc_loss(x, tg.tensor(tgt), tg.tensor(il), tg.tensor(tl), 0, r),
             lambda x: torch.ctc_loss(x, torch.tensor(tgt), torch.tensor(il), torch.tensor(tl), 0, r), [lp])
    with pytest.raises(ValueError, match="reduction must be 0"):
        tg.kl_div(tg.ones(2), tg.ones(2), 3)


def test_pad_convolution_pools_and_grid_sampler():
    check_op(lambda x: tg.constant_pad_nd(x, [1, 2, 0, 1], 3.0), lambda x: torch.constant_pad_nd(x, [1, 2, 0, 1], 3.0),
             [(2, 3, 4)])
    for k, shape, w in ((1, (2, 4, 7), (6, 2, 3)), (2, (1, 4, 5, 6), (4, 2, 2, 3)), (3, (1, 2, 4, 4, 4), (2, 2, 2, 2, 2))):
        s, p, d = [2] * k, [1] * k, [1] * k
        check_op(lambda x, w, b: tg.convolution(x, w, b, s, p, d, False, [0] * k, 2 if k < 3 else 1),
                 lambda x, w, b: torch.convolution(x, w, b, s, p, d, False, [0] * k, 2 if k < 3 else 1),
                 [shape, w, (w[0],)])
    check_op(lambda x, w: tg.convolution(x, w, None, [2], [1], [1], True, [1], 1),
             lambda x, w: torch.convolution(x, w, None, [2], [1], [1], True, [1], 1), [(2, 3, 5), (3, 4, 3)])
    check_op(lambda x: tg.max_pool1d_with_indices(x, 3, 2, 1), lambda x: torch.max_pool1d_with_indices(x, 3, 2, 1),
             [(2, 3, 9)])
    check_op(lambda x: tg.max_pool1d_with_indices(x, 2), lambda x: torch.max_pool1d_with_indices(x, 2), [(2, 3, 8)])
    check_op(lambda x: tg.adaptive_max_pool1d(x, 3), lambda x: torch.adaptive_max_pool1d(x, 3), [(2, 3, 8)])
    for interp in (0, 1, 2):
        for pad in (0, 1, 2):
            check_op(lambda x, g: tg.grid_sampler(x, g, interp, pad, False),
                     lambda x, g: torch.grid_sampler(x, g, interp, pad, False),
                     [(1, 2, 4, 5), unif(1, 3, 3, 2, low=-1.1, high=1.1)], grad=interp != 1, atol=1e-8)


def test_dropouts_in_aten_order():
    for lib in (tg, torch):
        lib.manual_seed(0)
        x = lib.ones(4, 6, 5)
        out = lib.feature_dropout(x, 0.5, True)
        per_channel = out.detach().numpy() if lib is torch else np.asarray(out)
        # whole channels are dropped or scaled by 2
        assert set(np.unique(per_channel)) <= {0.0, 2.0}
        assert (per_channel == per_channel[:, :, :1]).all()
        assert lib.feature_dropout(x, 0.5, False) is x or (lib.feature_dropout(x, 0.5, False) == x).all()
        for name in ("dropout_", "feature_dropout_", "alpha_dropout_", "feature_alpha_dropout_"):
            y = lib.ones(4, 6, 5)
            assert getattr(lib, name)(y, 0.5, True) is y
            assert not (y == 1).all()
            z = lib.ones(4, 6)
            getattr(lib, name)(z, 0.5, False)
            assert (z == 1).all()
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        tg.feature_dropout(tg.ones(3), 0.5, True)


def test_recurrent_cells_on_explicit_weights():
    check_op(lambda x, h, c, wi, wh, bi, bh: tg.lstm_cell(x, (h, c), wi, wh, bi, bh),
             lambda x, h, c, wi, wh, bi, bh: torch.lstm_cell(x, (h, c), wi, wh, bi, bh),
             [(3, 4), (3, 5), (3, 5), (20, 4), (20, 5), (20,), (20,)])
    check_op(lambda x, h, wi, wh, bi, bh: tg.gru_cell(x, h, wi, wh, bi, bh),
             lambda x, h, wi, wh, bi, bh: torch.gru_cell(x, h, wi, wh, bi, bh),
             [(3, 4), (3, 5), (15, 4), (15, 5), (15,), (15,)])
    check_op(lambda x, h, wi, wh: tg.gru_cell(x, h, wi, wh), lambda x, h, wi, wh: torch.gru_cell(x, h, wi, wh),
             [(2, 4), (2, 5), (15, 4), (15, 5)])
    for lib in (tg, torch):  # (the ATen cells take batches only; nn.GRUCell is the one that unbatches)
        with pytest.raises(IndexError):
            lib.gru_cell(lib.ones(4), lib.ones(5), lib.ones(15, 4), lib.ones(15, 5))
    for name in ("rnn_tanh_cell", "rnn_relu_cell"):
        check_op(lambda x, h, wi, wh, bi, bh: getattr(tg, name)(x, h, wi, wh, bi, bh),
                 lambda x, h, wi, wh, bi, bh: getattr(torch, name)(x, h, wi, wh, bi, bh),
                 [(3, 4), (3, 5), (5, 4), (5, 5), (5,), (5,)])


def test_aten_grid_and_conv_tbc_spellings():
    check_op(lambda x, g: tg.grid_sampler_2d(x, g, 0, 1, True), lambda x, g: torch.grid_sampler_2d(x, g, 0, 1, True),
             [(1, 2, 4, 5), unif(1, 3, 3, 2, low=-1, high=1)])
    check_op(lambda x, g: tg.grid_sampler_3d(x, g, 0, 0, False),
             lambda x, g: torch.grid_sampler_3d(x, g, 0, 0, False), [(1, 2, 3, 4, 5), unif(1, 2, 2, 2, 3)])
    check_op(lambda t: tg.affine_grid_generator(t, [2, 3, 4, 5], False),
             lambda t: torch.affine_grid_generator(t, [2, 3, 4, 5], False), [(2, 2, 3)])
    for pad in (0, 2):
        check_op(lambda x, w, b: tg.conv_tbc(x, w, b, pad), lambda x, w, b: torch.conv_tbc(x, w, b, pad),
                 [(6, 2, 3), (3, 3, 4), (4,)])
    with pytest.raises(RuntimeError, match="conv_tbc"):
        tg.conv_tbc(tg.ones(6, 2, 3), tg.ones(3, 2, 4), tg.zeros(4))


def test_small_queries():
    assert isinstance(tg.float32, tg.dtype) and isinstance(tg.bfloat16, tg.dtype)
    assert not isinstance("float32", tg.dtype) and not isinstance(tg.ones(1), tg.dtype)
    assert isinstance(tg.strided, tg.layout) and isinstance(tg.ones(2).layout, tg.layout)
    assert tg.is_vulkan_available() is torch.is_vulkan_available() is False
    assert tg.set_flush_denormal(False) is True and tg.set_flush_denormal(True) is False
    t = tg.arange(4.0)
    back = tg.from_dlpack(tg.to_dlpack(t))
    assert np.shares_memory(back.array, t.array) and back.tolist() == t.tolist()
    for data, size, fill in (([0, 1, 0, 2], 3, -1), ([[0, 1], [1, 1]], 2, -5), ([0, 0], 2, 9), ([1, 2], 0, -1)):
        a = tg.nonzero_static(tg.tensor(data), size=size, fill_value=fill)
        b = torch.nonzero_static(torch.tensor(data), size=size, fill_value=fill)
        assert a.tolist() == b.tolist() and tuple(a.shape) == tuple(b.shape) and a.dtype == tg.int64


def test_set_default_tensor_type():
    try:
        for lib in (tg, torch):
            with pytest.warns(UserWarning, match="set_default_tensor_type\\(\\) is deprecated"):
                lib.set_default_tensor_type(lib.DoubleTensor)
            assert lib.get_default_dtype() == lib.float64 and lib.ones(1).dtype == lib.float64
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                lib.set_default_tensor_type("torch.FloatTensor")
                assert lib.get_default_dtype() == lib.float32
                with pytest.raises(TypeError, match="only floating-point types are supported as the default type"):
                    lib.set_default_tensor_type(lib.LongTensor)
                with pytest.raises(TypeError, match="only floating-point types are supported as the default type"):
                    lib.set_default_tensor_type(lib.float64)
                if not tg.cuda_available():
                    with pytest.raises(TypeError, match="not available"):
                        lib.set_default_tensor_type("torch.cuda.FloatTensor")
    finally:
        tg.set_default_dtype(tg.float32)
        torch.set_default_dtype(torch.float32)


def test_native_norms_dropout_and_embedding_renorm():
    for shape, ns in (((2, 3, 4), [4]), ((2, 3, 4), [3, 4]), ((0, 4), [4])):
        check_op(lambda x, w, b: tg.native_layer_norm(x, ns, w, b, 1e-5),
                 lambda x, w, b: torch.native_layer_norm(x, ns, w, b, 1e-5), [shape, tuple(ns), tuple(ns)])
    for training in (True, False):
        rm, rv = RNG.standard_normal(3), RNG.uniform(0.5, 2, 3)
        check_op(lambda x, w, b: tg.native_batch_norm(x, w, b, tg.tensor(rm.copy()), tg.tensor(rv.copy()), training,
                                                      0.1, 1e-5),
                 lambda x, w, b: torch.native_batch_norm(x, w, b, torch.tensor(rm.copy()), torch.tensor(rv.copy()),
                                                         training, 0.1, 1e-5), [(4, 3, 2), (3,), (3,)])
    check_op(lambda x: tg.native_batch_norm(x, None, None, None, None, True, 0.1, 1e-5),
             lambda x: torch.native_batch_norm(x, None, None, None, None, True, 0.1, 1e-5), [(4, 3)])
    x = tg.ones(50, 40, requires_grad=True)
    out, mask = tg.native_dropout(x, 0.3, True)
    assert mask.dtype == tg.bool and out.requires_grad
    np.testing.assert_allclose(np.asarray(out.detach()), np.where(np.asarray(mask), 1 / 0.7, 0.0), rtol=1e-6)
    assert 0.6 < float(np.asarray(mask).mean()) < 0.8
    out.sum().backward()
    np.testing.assert_allclose(np.asarray(x.grad), np.asarray(out.detach()), rtol=1e-6)
    out, mask = tg.native_dropout(x, 0.3, False)
    assert out is x and bool(np.asarray(mask).all())
    w = RNG.standard_normal((5, 3)) * 2
    a, b = tg.tensor(w.copy()), torch.tensor(w.copy())
    assert tg.embedding_renorm_(a, tg.tensor([0, 2, 2]), 1.0, 2.0) is a
    torch.embedding_renorm_(b, torch.tensor([0, 2, 2]), 1.0, 2.0)
    np.testing.assert_allclose(np.asarray(a), b.numpy(), rtol=1e-12)


@pytest.mark.parametrize("name,args", [("sin_", ()), ("clamp_", (-0.2, 0.3)), ("xlogy_", (2.0,)), ("sigmoid_", ()),
                                       ("nan_to_num_", ()), ("fill_", (1.5,)), ("zero_", ())])
def test_inplace_functions_record_gradients_as_torch(name, args):
    """On a non-leaf, torch.<name>(y) writes y and records the op: the gradient reaching the leaf is torch's; on a
    leaf that requires grad both refuse."""
    check_op(lambda x: getattr(tg, name)(x * 1, *args), lambda x: getattr(torch, name)(x * 1, *args),
             [unif(2, 3, low=0.1, high=0.9)])
    for lib in (tg, torch):
        with pytest.raises(RuntimeError, match="leaf (Variable|tensor) that requires grad"):
            getattr(lib, name)(lib.ones(2, requires_grad=True), *args)


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
@pytest.mark.parametrize("bidirectional,batch_first,has_biases", [(False, False, True), (True, True, False),
                                                                  (True, False, True)])
def test_functional_recurrent_layers(mode, bidirectional, batch_first, has_biases):
    """torch.lstm / gru / rnn_tanh / rnn_relu on a flat parameter list: outputs, final states and every gradient."""
    L, N, T, I, H = 2, 3, 4, 5, 6
    D = 2 if bidirectional else 1
    G = {"lstm": 4, "gru": 3}.get(mode, 1)
    shapes = []
    for layer in range(L):
        for _ in range(D):
            shapes += [(G * H, I if layer == 0 else D * H), (G * H, H)] + ([(G * H,), (G * H,)] if has_biases else [])
    n = len(shapes)
    xs = (N, T, I) if batch_first else (T, N, I)
    states = [(L * D, N, H)] * (2 if mode == "lstm" else 1)

    def run(lib):
        def f(x, *rest):
            hx = tuple(rest[:2]) if mode == "lstm" else rest[0]
            params = list(rest[len(states):])
            return getattr(lib, mode)(x, hx, params, has_biases, L, 0.0, False, bidirectional, batch_first)
        return f
    check_op(run(tg), run(torch), [xs] + states + shapes)
    assert n == len(shapes)
    with pytest.raises(RuntimeError, match="parameters"):
        run(tg)(tg.ones(*xs), *[tg.ones(*s) for s in states], *[tg.ones(*s) for s in shapes[:-1]])


def test_functional_lstm_with_projection():
    L, N, T, I, H, P = 1, 2, 3, 4, 5, 2
    shapes = [(4 * H, I), (4 * H, P), (4 * H,), (4 * H,), (P, H)]

    def run(lib):
        return lambda x, h, c, *ps: lib.lstm(x, (h, c), list(ps), True, L, 0.0, False, False, False)
    check_op(run(tg), run(torch), [(T, N, I), (L, N, P), (L, N, H)] + shapes)


def test_native_group_norm_shuffle_and_deprecated_norms():
    check_op(lambda x, w, b: tg.native_group_norm(x, w, b, 2, 4, 3, 2, 1e-5),
             lambda x, w, b: torch.native_group_norm(x, w, b, 2, 4, 3, 2, 1e-5), [(2, 4, 3), (4,), (4,)])
    # (torch's native_channel_shuffle has no derivative; tensorgrad's is channel_shuffle's, checked against it)
    check_op(lambda x: tg.native_channel_shuffle(x, 2), lambda x: torch.native_channel_shuffle(x, 2), [(2, 4, 3, 1)],
             grad=False)
    check_op(lambda x: tg.native_channel_shuffle(x, 2), lambda x: torch.channel_shuffle(x, 2), [(2, 4, 3, 1)])
    for shape, p, d in (((2, 4, 3), 2, 1), ((2, 4, 3), 3, 2), ((2, 4, 3), 2, -1), ((2, 4, 3), 2, 0), ((5,), 2, 0)):
        check_op(lambda v: tg.norm_except_dim(v, p, d), lambda v: torch.norm_except_dim(v, p, d), [shape])
    check_op(lambda x: tg.frobenius_norm(x, [1, 2], False), lambda x: torch.frobenius_norm(x, [1, 2], False),
             [(2, 4, 3)])
    check_op(lambda x: tg.frobenius_norm(x, [0], True), lambda x: torch.frobenius_norm(x, [0], True), [(2, 4, 3)])
    check_op(lambda x: tg.nuclear_norm(x), lambda x: torch.nuclear_norm(x), [(4, 3)])
    check_op(lambda x: tg.nuclear_norm(x, True), lambda x: torch.nuclear_norm(x, True), [(4, 3)])
    check_op(lambda x: tg.nuclear_norm(x, [1, 2]), lambda x: torch.nuclear_norm(x, [1, 2]), [(2, 4, 3)])
