"""Common torch.* functions outside the op families, vs PyTorch (forward, and gradients where differentiable):
randperm, inference_mode, isnan/isinf/isfinite, isclose, any/all/count_nonzero, where(condition), clone,
clamp_min/clamp_max, meshgrid/cartesian_prod, cdist (both of torch's compute paths, every p, the zero-distance
gradient); bad-input errors for each. unique, bincount, searchsorted, histc: test_misc_api_index.py."""
import math

import numpy as np
import pytest
import torch

import tensorgrad as tg
from tensorgrad.backend import cuda_available
from helpers import check_op, gradcheck_op, lib, ints, bools, unif, raises, FLOATS

RNG = np.random.default_rng(1234)
# random shapes of 1 to 3 dims (sizes 1..5), next to the edge cases each test adds
RANDOM_SHAPES = [tuple(int(s) for s in RNG.integers(1, 6, size=RNG.integers(1, 4))) for _ in range(4)]
EDGE_SHAPES = [(), (1,), (0,), (3, 0), (2, 1, 3)]


def special(shape, dtype=np.float64, seed=0):
    """Normal floats with some NaN, +-inf, zeros and repeats mixed in."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    pick = rng.random(shape)
    x = np.where(pick < 0.1, np.nan, x)
    x = np.where((pick >= 0.1) & (pick < 0.2), np.inf, x)
    x = np.where((pick >= 0.2) & (pick < 0.25), -np.inf, x)
    x = np.where((pick >= 0.25) & (pick < 0.35), 0.0, x)
    return np.asarray(x).astype(dtype)


# -------------------------------------------------------------------------------------------------- randperm
@pytest.mark.parametrize("n", [0, 1, 2, 7, 100])
@pytest.mark.parametrize("dtype", ["int64", "int32", "int16", "uint8", "float32", "float64", "float16"])
def test_randperm_is_a_permutation_of_torch_dtype(n, dtype):
    if dtype in ("uint8", "int16", "float16") and n > 100:
        pytest.skip("n too large for the dtype")
    check_op(lambda: tg.randperm(n, dtype=getattr(tg, dtype)).sort().values,
             lambda: torch.randperm(n, dtype=getattr(torch, dtype)).sort().values)
    assert tg.randperm(n).dtype == tg.int64


def test_randperm_seeded_reproducible_and_advancing():
    tg.manual_seed(7)
    a, b = tg.randperm(50).tolist(), tg.randperm(50).tolist()
    tg.manual_seed(7)
    assert tg.randperm(50).tolist() == a and tg.randperm(50).tolist() == b
    assert a != b  # each call is a new draw
    g1, g2 = tg.Generator(seed=3), tg.Generator(seed=3)
    state = tg.get_rng_state()
    assert tg.randperm(40, generator=g1).tolist() == tg.randperm(40, generator=g2).tolist()
    assert tg.get_rng_state()["cpu"] == state["cpu"]  # an explicit generator leaves the default one alone
    other = tg.randperm(40, generator=tg.Generator(seed=4)).tolist()
    assert other != tg.randperm(40, generator=tg.Generator(seed=3)).tolist()
    assert sorted(tg.randperm(5, device="cpu").tolist()) == list(range(5))


def test_randperm_requires_grad_and_errors():
    x = tg.randperm(5, dtype=tg.float32, requires_grad=True)
    assert x.requires_grad and x.is_leaf and sorted(x.tolist()) == [0, 1, 2, 3, 4]
    with raises(RuntimeError, "requires_grad", "int64"):
        tg.randperm(5, requires_grad=True)
    with raises(ValueError, "randperm", "-1"):
        tg.randperm(-1)
    with raises(ValueError, "randperm", "2.5"):
        tg.randperm(2.5)
    with raises(TypeError, "randperm", "bool"):
        tg.randperm(3, dtype=tg.bool)
    with raises(RuntimeError, "randperm", "300", "uint8", "256"):
        tg.randperm(300, dtype=tg.uint8)
    with raises(RuntimeError, "randperm", "float16", "2049"):
        tg.randperm(2050, dtype=tg.float16)
    assert tg.randperm(256, dtype=tg.uint8).max().item() == 255
    assert tg.randperm(2049, dtype=tg.float16).shape == (2049,)


# -------------------------------------------------------------------------------------------- inference_mode
def _modes(lib_):
    return (lib_.is_grad_enabled(), lib_.is_inference_mode_enabled())


def test_inference_mode_context_manager_matches_torch():
    for L in (tg, torch):
        assert _modes(L) == (True, False)
        x = L.ones(3, requires_grad=True)
        with L.inference_mode():
            assert _modes(L) == (False, True)
            y = x * 2
            with L.inference_mode(False):
                assert _modes(L) == (True, False)
            assert _modes(L) == (False, True)
        assert not y.requires_grad and y.grad_fn is None
        assert _modes(L) == (True, False)
        with L.no_grad():
            with L.inference_mode(False):  # turns grad recording back on, as torch
                assert _modes(L) == (True, False)
                assert (x * 2).requires_grad
            assert _modes(L) == (False, False)
        with L.inference_mode(mode=True):
            assert _modes(L) == (False, True)


def test_inference_mode_decorators_match_torch():
    for L in (tg, torch):
        @L.inference_mode
        def bare(a):
            return _modes(L), a

        @L.inference_mode()
        def called():
            return _modes(L)

        @L.inference_mode(False)
        def off():
            return _modes(L)

        assert bare(5) == (((False, True)), 5) and bare.__name__ == "bare"
        assert called() == (False, True)
        with L.no_grad():
            assert off() == (True, False)
        assert _modes(L) == (True, False)


def test_inference_mode_restores_on_exception():
    with pytest.raises(KeyError):
        with tg.inference_mode():
            raise KeyError("x")
    assert _modes(tg) == (True, False)


# ------------------------------------------------------------------------------------ isnan / isinf / isfinite
@pytest.mark.parametrize("name", ["isnan", "isinf", "isfinite"])
@pytest.mark.parametrize("shape", RANDOM_SHAPES + EDGE_SHAPES, ids=str)
def test_classify_floats(name, shape):
    for dtype in FLOATS + [np.float16]:
        x = special(shape, dtype)
        check_op(lambda x: getattr(lib(x), name)(x), inputs=[x], dtype=dtype)
        check_op(lambda x: getattr(x, name)(), inputs=[x], dtype=dtype)


@pytest.mark.parametrize("name", ["isnan", "isinf", "isfinite"])
def test_classify_int_and_bool(name):
    for arr in (np.array([3, -1, 0]), np.array([1, 2], np.uint8), np.array([[True, False]]), np.array(7, np.int32),
                np.zeros((0, 2), np.int64)):
        check_op(lambda x: getattr(lib(x), name)(x), inputs=[arr])


# ---------------------------------------------------------------------------------------------------- isclose
def close_pair(shape, dtype, seed=0, scale=1e-5):
    """b with a - b of about scale * |b|, some exact repeats, NaNs and infinities: every branch of isclose."""
    rng = np.random.default_rng(seed)
    b = special(shape, np.float64, seed)
    a = b * (1 + scale * rng.standard_normal(shape) * 3) + 1e-8 * rng.standard_normal(shape)
    a = np.where(rng.random(shape) < 0.2, b, a)
    a = np.where(rng.random(shape) < 0.1, -b, a)
    return np.asarray(a).astype(dtype), np.asarray(b).astype(dtype)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", RANDOM_SHAPES + EDGE_SHAPES, ids=str)
@pytest.mark.parametrize("kw", [{}, {"rtol": 1e-3}, {"atol": 1e-2, "rtol": 0}, {"rtol": 0, "atol": 0},
                                {"equal_nan": True}], ids=str)
def test_isclose_floats(shape, kw, dtype):
    a, b = close_pair(shape, dtype)
    check_op(lambda x, y: lib(x).isclose(x, y, **kw), inputs=[a, b], dtype=dtype)
    check_op(lambda x, y: x.isclose(y, **kw), inputs=[a, b], dtype=dtype)


def test_isclose_broadcasts():
    a, b = close_pair((3, 1, 4), np.float64)
    check_op(lambda x, y: lib(x).isclose(x, y, rtol=1e-4), inputs=[a, b[:1, :, :1].copy()])
    check_op(lambda x, y: lib(x).isclose(x, y, rtol=1e-4), inputs=[a[0, 0].copy(), b.reshape(3, 4, 1)])
    check_op(lambda x, y: lib(x).isclose(x, y), inputs=[np.array(1.0), b])


@pytest.mark.parametrize("kw", [{}, {"rtol": 0.5}, {"atol": 1}, {"atol": 100}, {"rtol": 0, "atol": 0.5}], ids=str)
def test_isclose_int_and_bool_compare_in_the_default_float_dtype(kw):
    pairs = [(np.array([1, 2, 5, -3]), np.array([1, 3, 4, 3])),
             (np.array([100, 1, 3], np.int8), np.array([-100, 2, 2], np.int8)),
             (np.array([1, 3, 0], np.uint8), np.array([2, 2, 255], np.uint8)),
             (np.array([2 ** 40 + 1, 7]), np.array([2 ** 40, 7])),
             (np.array([True, False, True]), np.array([True, True, False]))]
    for a, b in pairs:
        check_op(lambda x, y: lib(x).isclose(x, y, **kw), inputs=[a, b])


def test_isclose_errors():
    x = tg.ones(2, 3)
    with raises(RuntimeError, "isclose", "float32", "float64"):
        tg.isclose(x, tg.ones(2, 3, dtype=tg.float64))
    with raises(RuntimeError, "isclose", "rtol=-1"):
        tg.isclose(x, x, rtol=-1)
    with raises(RuntimeError, "isclose", r"\(2, 3\)", r"\(4,\)"):
        tg.isclose(x, tg.ones(4))
    with raises(TypeError, "isclose", "other", "float"):
        tg.isclose(x, 1.0)


# -------------------------------------------------------------------------------- any / all / count_nonzero
DIMS = [None, 0, -1, (0, 1), (-1, 0), ()]


@pytest.mark.parametrize("name", ["any", "all"])
@pytest.mark.parametrize("dim", DIMS, ids=str)
@pytest.mark.parametrize("keepdim", [False, True])
def test_any_all(name, dim, keepdim):
    kw = {} if dim is None else {"dim": dim}
    shapes = [(3, 4), (2, 3, 4), (1, 5), (0, 3), (3, 0)] + [s for s in RANDOM_SHAPES if len(s) >= 2]
    for i, shape in enumerate(shapes):
        rng = np.random.default_rng(i)
        sparse = np.where(rng.random(shape) < 0.7, 0.0, rng.standard_normal(shape))
        for arr in (sparse, np.where(rng.random(shape) < 0.1, 0.0, 1.5), (sparse != 0), sparse.astype(np.int64) * 3,
                    (sparse != 0).astype(np.uint8), np.where(sparse == 0, np.nan, 0.0)):
            check_op(lambda x: getattr(lib(x), name)(x, keepdim=keepdim, **kw), inputs=[arr])
            if dim is not None:
                check_op(lambda x: getattr(x, name)(dim, keepdim), inputs=[arr])


@pytest.mark.parametrize("name", ["any", "all"])
def test_any_all_0d_1d_and_requires_grad(name):
    for arr in (np.array(0.0), np.array(2.0), np.array([0.0, 1.0]), np.zeros(0), np.array([1, 1], np.uint8)):
        check_op(lambda x: getattr(lib(x), name)(x), inputs=[arr])
        check_op(lambda x: getattr(x, name)(), inputs=[arr])
        check_op(lambda x: getattr(lib(x), name)(x, dim=0), inputs=[arr])
        check_op(lambda x: getattr(x, name)(-1, True), inputs=[arr])
    x = tg.ones(2, requires_grad=True)
    assert not getattr(x, name)().requires_grad


@pytest.mark.parametrize("dim", [None, 0, -1, 1, (0, 1), (1, -3), ()], ids=str)
def test_count_nonzero(dim):
    kw = {} if dim is None else {"dim": dim}
    for i, shape in enumerate([(2, 3, 4), (3, 2, 1), (0, 2, 3), (2, 0, 1)]):
        rng = np.random.default_rng(i)
        sparse = np.where(rng.random(shape) < 0.5, 0.0, rng.standard_normal(shape))
        for arr in (sparse, sparse != 0, (sparse * 5).astype(np.int32), np.where(sparse == 0, np.nan, 0.0)):
            check_op(lambda x: lib(x).count_nonzero(x, **kw), inputs=[arr])
            check_op(lambda x: x.count_nonzero(**kw), inputs=[arr])


def test_count_nonzero_0d():
    for arr in (np.array(0.0), np.array(3.0)):
        check_op(lambda x: lib(x).count_nonzero(x), inputs=[arr])
        check_op(lambda x: lib(x).count_nonzero(x, dim=0), inputs=[arr])


def test_any_all_count_nonzero_errors():
    x = tg.ones(2, 3)
    for fn in (tg.any, tg.all, tg.count_nonzero):
        with raises(IndexError, fn.__name__, "dim 2", r"\(2, 3\)"):
            fn(x, dim=2)
        with raises(ValueError, fn.__name__, "twice"):
            fn(x, dim=(0, -2))
        with raises(TypeError, fn.__name__, "Tensor", "list"):
            fn([1, 2])


# ---------------------------------------------------------------------------------------- where(condition)
def test_where_one_argument_is_nonzero_as_tuple():
    for i, arr in enumerate([np.array([[1.0, 0.0], [2.0, 0.0]]), np.array(1.0), np.array(0), np.zeros((0, 3)),
                             np.array([True, False, True]), np.arange(24).reshape(2, 3, 4) % 3]):
        check_op(lambda x: lib(x).where(x), inputs=[arr], seed=i)
    check_op(lambda x: lib(x).where(x > 0), inputs=[(3, 4)])


@pytest.mark.parametrize("dtype", FLOATS)
def test_where_three_arguments_unchanged(dtype):
    check_op(lambda c, x, y: lib(x).where(c, x, y), inputs=[bools(3, 1), (1, 4), (3, 4)], dtype=dtype)
    check_op(lambda c, x: lib(x).where(c, x, 0.0), inputs=[bools(3, 4), (3, 4)], dtype=dtype)


def test_where_errors():
    with raises(TypeError, "where", "only one of input and other"):
        tg.where(tg.ones(2) > 0, tg.ones(2))
    with raises(TypeError, "where", "condition", "list"):
        tg.where([True, False])


# ------------------------------------------------------------------------------------ clone, clamp_min / max
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", RANDOM_SHAPES + EDGE_SHAPES, ids=str)
def test_clone(shape, dtype):
    check_op(lambda x: lib(x).clone(x) * 2, inputs=[shape], dtype=dtype)
    x = tg.ones(*shape)
    y = tg.clone(x)
    y.fill_(3.0)
    assert (x.numpy() == 1).all()  # its own memory
    check_op(lambda x: lib(x).clone(x), inputs=[ints(*shape)])


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", ["clamp_min", "clamp_max"])
def test_clamp_min_max(name, dtype):
    for shape in RANDOM_SHAPES + [(), (0,)]:
        check_op(lambda x: getattr(lib(x), name)(x, 0.3), inputs=[unif(*shape, away=0.3)], dtype=dtype)
        check_op(lambda x: getattr(x, name)(-0.2), inputs=[unif(*shape, away=-0.2)], dtype=dtype)
    # a tensor bound broadcasts and gets its gradient too
    check_op(lambda x, b: getattr(lib(x), name)(x, b), inputs=[(3, 4), (4,)], dtype=dtype)
    check_op(lambda x, b: getattr(x, name)(b), inputs=[(3, 1), (1, 5)], dtype=dtype)
    # an int tensor with a float bound becomes float; with an int bound it stays int
    check_op(lambda x: getattr(lib(x), name)(x, 1.5), inputs=[ints(5, low=-3, high=4)])
    check_op(lambda x: getattr(lib(x), name)(x, 1), inputs=[ints(5, low=-3, high=4)])


@pytest.mark.parametrize("name", ["clamp_min_", "clamp_max_"])
def test_clamp_min_max_inplace(name):
    data = np.random.default_rng(0).standard_normal((3, 4))
    a, b = tg.tensor(data), torch.tensor(data)
    assert getattr(a, name)(0.1) is a
    getattr(b, name)(0.1)
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_clamp_min_max_errors():
    with raises(TypeError, "clamp_min", "None", r"\(2,\)"):
        tg.clamp_min(tg.ones(2), None)
    with raises(TypeError, "clamp_max", "None"):
        tg.ones(2).clamp_max(None)


# ----------------------------------------------------------------------------------- meshgrid, cartesian_prod
MESH = [[(3,)], [(2,), (3,)], [(2,), (), (4,)], [(1,), (3,), (2,)], [(0,), (3,)], [(), ()], [(4,), (1,), (2,), (3,)]]


@pytest.mark.filterwarnings("ignore:.*meshgrid.*indexing")  # indexing=None warns in both libraries
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("indexing", ["ij", "xy", None])
@pytest.mark.parametrize("shapes", MESH, ids=str)
def test_meshgrid(shapes, indexing, dtype):
    kw = {} if indexing is None else {"indexing": indexing}
    check_op(lambda *xs: lib(xs[0]).meshgrid(*xs, **kw), inputs=shapes, dtype=dtype)
    check_op(lambda *xs: lib(xs[0]).meshgrid(list(xs), **kw), inputs=shapes, dtype=dtype, seed=1)
    # each output used differently, so every input's gradient sums a different cotangent
    check_op(lambda *xs: sum((g * (i + 1)).sum() for i, g in enumerate(lib(xs[0]).meshgrid(*xs, **kw))),
             inputs=shapes, dtype=dtype, seed=2)


def test_meshgrid_without_indexing_warns_as_torch():
    with pytest.warns(UserWarning, match="meshgrid.*indexing"):
        grids = tg.meshgrid(tg.ones(2), tg.ones(3))
    assert [g.shape for g in grids] == [(2, 3), (2, 3)]


def test_meshgrid_ints_and_gradcheck():
    check_op(lambda x, y: lib(x).meshgrid(x, y, indexing="xy"), inputs=[ints(3), ints(2)])
    gradcheck_op(lambda x, y: tg.meshgrid(x, y, indexing="xy")[0] * tg.meshgrid(x, y, indexing="xy")[1],
                 [(3,), (2,)])


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shapes", [[(2,), (3,)], [(2,), (1,), (3,)], [(4,)], [(0,), (2,)], [(3,), (2,), (2,), (1,)]],
                         ids=str)
def test_cartesian_prod(shapes, dtype):
    check_op(lambda *xs: lib(xs[0]).cartesian_prod(*xs), inputs=shapes, dtype=dtype)
    check_op(lambda *xs: lib(xs[0]).cartesian_prod(*xs), inputs=[ints(*s) for s in shapes])


def test_meshgrid_cartesian_prod_errors():
    a, b = tg.ones(2), tg.ones(3, dtype=tg.float64)
    with raises(RuntimeError, "meshgrid", "one dtype", "float32", "float64"):
        tg.meshgrid(a, b, indexing="ij")
    with raises(RuntimeError, "meshgrid", "0-d or 1-d", r"\(2, 2\)"):
        tg.meshgrid(tg.ones(2, 2), indexing="xy")
    with raises(RuntimeError, "meshgrid", "indexing", "'foo'"):
        tg.meshgrid(a, indexing="foo")
    with raises(RuntimeError, "meshgrid", "non-empty"):
        tg.meshgrid(indexing="ij")
    with raises(TypeError, "meshgrid", "list"):
        tg.meshgrid(a, [1, 2], indexing="ij")
    with raises(RuntimeError, "cartesian_prod", "1-d", r"\(\)"):
        tg.cartesian_prod(tg.tensor(1.0))
    with raises(RuntimeError, "meshgrid", "one dtype"):
        tg.cartesian_prod(a, b)


# ------------------------------------------------------------------------------------------------------ cdist
PS = [0, 0.5, 1, 1.5, 2, 3, math.inf]
MODES = ["use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist", "donot_use_mm_for_euclid_dist"]
CDIST_SHAPES = [((4, 3), (5, 3)), ((1, 2), (3, 2)), ((2, 4, 3), (2, 6, 3)), ((3, 1, 4, 2), (2, 5, 2)),
                ((1, 3, 2), (4, 2, 2)), ((0, 3), (2, 3)), ((3, 2), (0, 2)), ((2, 0), (3, 0)), ((30, 3), (4, 3)),
                ((2, 27, 4), (3, 4)), ((5, 1), (6, 1))]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("p", PS, ids=str)
@pytest.mark.parametrize("s1,s2", CDIST_SHAPES, ids=str)
def test_cdist(s1, s2, p, dtype):
    check_op(lambda a, b: lib(a).cdist(a, b, p=p), inputs=[s1, s2], dtype=dtype)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", FLOATS)
def test_cdist_compute_modes(mode, dtype):
    for i, (s1, s2) in enumerate([((4, 3), (5, 3)), ((30, 2), (3, 2)), ((2, 3, 4), (26, 4))]):
        check_op(lambda a, b: lib(a).cdist(a, b, compute_mode=mode), inputs=[s1, s2], dtype=dtype, seed=i)
        check_op(lambda a, b: lib(a).cdist(a, b, 3.0, mode), inputs=[s1, s2], dtype=dtype, seed=i)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("p", PS, ids=str)
def test_cdist_zero_distances_and_ties(p, mode):
    """Shared rows (distance 0: gradient 0, no NaN) and integer coordinates (ties for p=inf, exact matmul path)."""
    rng = np.random.default_rng(0)
    for n in (4, 30):
        a = rng.integers(-2, 3, size=(n, 3)).astype(np.float64)
        b = np.concatenate([a[:3], rng.integers(-2, 3, size=(5, 3))]).astype(np.float64)
        _, _, grads, _ = check_op(lambda x, y: lib(x).cdist(x, y, p=p, compute_mode=mode), inputs=[a, b])
        assert all(np.isfinite(g).all() for g in grads)


def test_cdist_gradcheck():
    for p in (1.5, 2, 3):
        gradcheck_op(lambda a, b: tg.cdist(a, b, p=p), [(3, 2), (2, 4, 2)])
    gradcheck_op(lambda a, b: tg.cdist(a, b, compute_mode="use_mm_for_euclid_dist"), [(3, 2), (4, 2)])


def test_cdist_errors():
    x = tg.ones(2, 3)
    with raises(RuntimeError, "cdist", "x1", "2 dims", r"\(3,\)"):
        tg.cdist(tg.ones(3), x)
    with raises(RuntimeError, "cdist", r"\(2, 3\)", r"\(2, 4\)", "columns"):
        tg.cdist(x, tg.ones(2, 4))
    with raises(RuntimeError, "cdist", "x1", "int64"):
        tg.cdist(tg.ones(2, 3, dtype=tg.int64), x)
    with raises(RuntimeError, "cdist", "float32", "float64"):
        tg.cdist(x, tg.ones(2, 3, dtype=tg.float64))
    with raises(RuntimeError, "cdist", "non-negative", "-1"):
        tg.cdist(x, x, p=-1)
    with raises(ValueError, "cdist", "compute_mode", "'bad'"):
        tg.cdist(x, x, compute_mode="bad")
    with raises(RuntimeError, "cdist", r"\(5, 2, 3\)", r"\(7, 4, 3\)", "batch"):
        tg.cdist(tg.ones(5, 2, 3), tg.ones(7, 4, 3))


# ------------------------------------------------------------------------------------ on CUDA, vs the CPU result
# Forward and gradients on a second device against the CPU: "cpu" runs here (it checks the harness), "cuda" where
# CuPy and a GPU are present.
DEVICES = ["cpu", pytest.param("cuda", marks=[pytest.mark.gpu,
                                              pytest.mark.skipif(not cuda_available(), reason="needs a CUDA GPU")])]


@pytest.mark.parametrize("device", DEVICES)
def test_differentiable_functions_on_device_match_cpu(device):
    rng = np.random.default_rng(0)
    cases = [(lambda a, b: [tg.cdist(a, b, p=p) for p in (0, 1, 1.5, 2, math.inf)], [(4, 3), (2, 5, 3)]),
             (lambda a, b: [tg.cdist(a, b, compute_mode="use_mm_for_euclid_dist"), tg.cdist(a, a)], [(30, 3), (6, 3)]),
             (lambda a, b: [g * (i + 1) for i, g in enumerate(tg.meshgrid(a, b, indexing="xy"))], [(3,), (4,)]),
             (lambda a, b: [tg.clamp_min(a, 0.1), tg.clamp_max(a, b[0]), tg.clone(b)], [(2, 4), (3, 4)])]
    for fn, shapes in cases:
        arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        results = []
        for dev in ("cpu", device):
            xs = [tg.tensor(a, device=dev, requires_grad=True) for a in arrays]
            outs = fn(*xs)
            sum((o * tg.tensor(np.cos(np.arange(o.numel())).reshape(o.shape).astype(np.float32), device=dev)).sum()
                for o in outs).backward()
            assert all(o.device.type == dev for o in outs)
            results.append([np.asarray(o.detach().cpu()) for o in outs] + [np.asarray(x.grad.cpu()) for x in xs])
        for w, g in zip(*results):
            np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)
