"""unique/unique_consecutive, bincount, searchsorted/bucketize and histc vs PyTorch: values, inverse indices,
counts and dtypes on random integer/bool/float data with repeats and ties, NaN, 0-d and empty input; no gradient
(as torch, except that torch marks unique's float output as requiring a gradient it cannot compute); bad-input
errors for each."""
import math

import numpy as np
import pytest

import tensorgrad as tg
from tensorgrad.backend import cuda_available
from helpers import check_op, lib, raises, FLOATS

RNG = np.random.default_rng(4321)
# random shapes of 1 to 3 dims (sizes 1..5), next to the edge cases each test adds
RANDOM_SHAPES = [tuple(int(s) for s in RNG.integers(1, 6, size=RNG.integers(1, 4))) for _ in range(4)]


def dup_ints(shape, high=4, seed=0, dtype=np.int64):
    return np.random.default_rng(seed).integers(0, high, size=shape).astype(dtype)


# ----------------------------------------------------------------------------------- unique, unique_consecutive
UNIQUE_FLAGS = [dict(), dict(return_inverse=True), dict(return_counts=True),
                dict(return_inverse=True, return_counts=True), dict(sorted=False, return_inverse=True)]


@pytest.mark.parametrize("flags", UNIQUE_FLAGS, ids=str)
@pytest.mark.parametrize("dim", [None, 0, 1, -1])
def test_unique(flags, dim):
    kw = dict(flags) if dim is None else dict(flags, dim=dim)
    shapes = [(6, 3), (4, 5), (8, 2, 3), (1, 1), (7, 1)] + [s for s in RANDOM_SHAPES if len(s) >= 2]
    for i, shape in enumerate(shapes):
        for arr in (dup_ints(shape, 3, i), dup_ints(shape, 2, i, np.uint8), dup_ints(shape, 2, i) == 1,
                    dup_ints(shape, 3, i) * 0.5 - 0.25, dup_ints(shape, 3, i).astype(np.float32)):
            check_op(lambda x: lib(x).unique(x, **kw), inputs=[arr], requires_grad=False)
            check_op(lambda x: x.unique(**kw), inputs=[arr], requires_grad=False)


def test_unique_nan_0d_empty_and_no_grad():
    nan = np.array([3.0, np.nan, 1.0, np.nan, 3.0, -np.inf, 1.0])
    both = dict(return_inverse=True, return_counts=True)
    check_op(lambda x: lib(x).unique(x, **both), inputs=[nan], requires_grad=False)
    check_op(lambda x: lib(x).unique_consecutive(x, **both), inputs=[nan], requires_grad=False)
    for arr in (np.array(5.0), np.array(2), np.zeros(0), np.zeros((0, 3))):
        check_op(lambda x: lib(x).unique(x, **both), inputs=[arr], requires_grad=False)
        check_op(lambda x: lib(x).unique_consecutive(x, **both), inputs=[arr], requires_grad=False)
    check_op(lambda x: lib(x).unique(x, dim=0, **both), inputs=[np.zeros((0, 3))], requires_grad=False)
    check_op(lambda x: lib(x).unique(x, dim=0, **both), inputs=[np.array([5.0])], requires_grad=False)
    x = tg.tensor([1.0, 2.0, 1.0], requires_grad=True)
    assert not tg.unique(x).requires_grad and not tg.unique_consecutive(x).requires_grad


@pytest.mark.parametrize("flags", UNIQUE_FLAGS[:4], ids=str)
@pytest.mark.parametrize("dim", [None, 0, 1, -1])
def test_unique_consecutive(flags, dim):
    kw = dict(flags) if dim is None else dict(flags, dim=dim)
    for i, shape in enumerate([(9, 2), (3, 8), (6, 1, 2), (1, 1)]):
        for arr in (dup_ints(shape, 2, i), dup_ints(shape, 2, i) == 0, dup_ints(shape, 2, i) * 1.5):
            # runs: repeat each slice along dim a random number of times
            if dim is not None:
                reps = np.random.default_rng(i).integers(1, 3, size=arr.shape[dim])
                arr = np.repeat(arr, reps, axis=dim)
            check_op(lambda x: lib(x).unique_consecutive(x, **kw), inputs=[arr], requires_grad=False)
            check_op(lambda x: x.unique_consecutive(**kw), inputs=[arr], requires_grad=False)


def test_unique_errors():
    with raises(IndexError, "unique", "dim 0", "0-d"):
        tg.unique(tg.tensor(5.0), dim=0)
    with raises(IndexError, "unique", "dim 2", r"\(2,\)"):
        tg.unique(tg.ones(2), dim=2)
    with raises(RuntimeError, "unique", r"\(2, 0\)", "size-0"):
        tg.unique(tg.ones(2, 0), dim=0)
    with raises(RuntimeError, "unique_consecutive", r"\(0, 3\)"):
        tg.unique_consecutive(tg.ones(0, 3), dim=1)
    with raises(TypeError, "unique", "Tensor"):
        tg.unique([1, 2])


# --------------------------------------------------------------------------------------------------- bincount
@pytest.mark.parametrize("minlength", [0, 1, 10])
@pytest.mark.parametrize("n", [0, 1, 7, 50])
def test_bincount(n, minlength):
    for i, dtype in enumerate([np.int64, np.int32, np.uint8, np.int8]):
        x = dup_ints((n,), 6, i, dtype)
        check_op(lambda x: lib(x).bincount(x, minlength=minlength), inputs=[x])
        check_op(lambda x: x.bincount(None, minlength), inputs=[x])
        for w in (np.random.default_rng(i).standard_normal(n), dup_ints((n,), 5, i + 1), dup_ints((n,), 2, i) == 1):
            for wdt in ([np.float64, np.float32, np.float16] if w.dtype.kind == "f" else [w.dtype]):
                tol = wdt if w.dtype.kind == "f" else np.float64
                check_op(lambda x, w: lib(x).bincount(x, weights=w, minlength=minlength),
                         inputs=[x, w.astype(wdt)], requires_grad=False, dtype=tol)
    x = tg.tensor([1, 1, 3])
    assert not tg.bincount(x, weights=tg.ones(3, requires_grad=True)).requires_grad


def test_bincount_errors():
    with raises(RuntimeError, "bincount", r"\(1, 2\)", "int64"):
        tg.bincount(tg.tensor([[1, 2]]))
    with raises(RuntimeError, "bincount", "float32"):
        tg.bincount(tg.tensor([1.0, 2.0]))
    with raises(RuntimeError, "bincount", "bool"):
        tg.bincount(tg.tensor([True, False]))
    with raises(RuntimeError, "bincount", "non-negative", "-1"):
        tg.bincount(tg.tensor([-1, 2]))
    with raises(RuntimeError, "bincount", "minlength", "-1"):
        tg.bincount(tg.tensor([1]), minlength=-1)
    with raises(RuntimeError, "bincount", "minlength", "True"):
        tg.bincount(tg.tensor([1]), minlength=True)
    with raises(RuntimeError, "bincount", "weights", r"\(1,\)", r"\(2,\)"):
        tg.bincount(tg.tensor([1, 2]), weights=tg.ones(1))


# ------------------------------------------------------------------------------------ searchsorted, bucketize
def sorted_seq(shape, seed=0, dtype=np.float64, high=6):
    """Ascending rows with repeated entries (ties decide left vs right)."""
    return np.sort(np.random.default_rng(seed).integers(0, high, size=shape), axis=-1).astype(dtype)


SIDES = [dict(), dict(right=True), dict(side="left"), dict(side="right"), dict(side="right", right=True),
         dict(out_int32=True)]


@pytest.mark.parametrize("kw", SIDES, ids=str)
@pytest.mark.parametrize("seq_shape,val_shape", [((5,), (7,)), ((5,), (2, 3)), ((5,), ()), ((1,), (4,)),
                                                 ((0,), (3,)), ((6,), (0,)), ((3, 5), (3, 4)), ((2, 3, 4), (2, 3, 1)),
                                                 ((2, 0), (2, 3)), ((2, 4), (2, 0)), ((4, 1), (4, 3))], ids=str)
def test_searchsorted(seq_shape, val_shape, kw):
    for i, (sdt, vdt) in enumerate([(np.float64, np.float64), (np.float32, np.float32), (np.int64, np.int64),
                                    (np.int64, np.float32), (np.float32, np.int64), (np.int32, np.int64)]):
        seq = sorted_seq(seq_shape, i, sdt)
        vals = (np.random.default_rng(i + 7).integers(-1, 14, size=val_shape) / 2).astype(vdt)
        check_op(lambda s, v: lib(s).searchsorted(s, v, **kw), inputs=[seq, vals], requires_grad=False)


@pytest.mark.parametrize("kw", SIDES[:4], ids=str)
def test_searchsorted_scalar_values_sorter_and_random_floats(kw):
    seq = sorted_seq((6,), 3)
    for v in (2.0, 2, -1.0, 99, True, 2.5):
        check_op(lambda s: lib(s).searchsorted(s, v, **kw), inputs=[seq])
    check_op(lambda s, v: lib(s).searchsorted(s, v, **kw), inputs=[seq, np.array(3.0)])
    rng = np.random.default_rng(0)
    for seq_shape, val_shape in [((20,), (30,)), ((4, 9), (4, 11))]:
        s = np.sort(rng.standard_normal(seq_shape), axis=-1)
        check_op(lambda s, v: lib(s).searchsorted(s, v, **kw), inputs=[s, rng.standard_normal(val_shape)])
        unsorted = rng.permutation(s.reshape(-1)).reshape(seq_shape) if len(seq_shape) == 1 else \
            rng.permuted(s, axis=-1)
        sorter = np.argsort(unsorted, axis=-1, kind="stable")
        check_op(lambda s, v, o: lib(s).searchsorted(s, v, sorter=o, **kw),
                 inputs=[unsorted, rng.standard_normal(val_shape), sorter])


@pytest.mark.parametrize("right", [False, True])
@pytest.mark.parametrize("shape", RANDOM_SHAPES + [(), (0,), (2, 0)], ids=str)
def test_bucketize(shape, right):
    bounds = sorted_seq((5,), 1)
    vals = np.asarray(np.random.default_rng(2).integers(-1, 14, size=shape) / 2)
    check_op(lambda v, b: lib(v).bucketize(v, b, right=right), inputs=[vals, bounds])
    check_op(lambda v, b: lib(v).bucketize(v, b, right=right, out_int32=True), inputs=[vals.astype(np.int64), bounds])
    check_op(lambda b: lib(b).bucketize(2.0, b, right=right), inputs=[bounds])


def test_searchsorted_bucketize_errors():
    s = tg.tensor([1.0, 2.0, 3.0])
    with raises(RuntimeError, "searchsorted", "side", "'mid'"):
        tg.searchsorted(s, s, side="mid")
    with raises(RuntimeError, "searchsorted", "left", "right=True"):
        tg.searchsorted(s, s, side="left", right=True)
    with raises(RuntimeError, "searchsorted", "0-d"):
        tg.searchsorted(tg.tensor(1.0), s)
    with raises(RuntimeError, "searchsorted", r"\(2, 3\)", r"\(2,\)"):
        tg.searchsorted(tg.ones(2, 3), tg.ones(2))
    with raises(RuntimeError, "searchsorted", r"\(2, 3\)", r"\(3, 1\)"):
        tg.searchsorted(tg.ones(2, 3), tg.ones(3, 1))
    with raises(RuntimeError, "searchsorted", r"\(1, 3\)", r"\(\)"):
        tg.searchsorted(tg.ones(1, 3), 1.0)
    with raises(RuntimeError, "searchsorted", "sorter", "int64", "int32"):
        tg.searchsorted(s, s, sorter=tg.tensor([0, 1, 2], dtype=tg.int32))
    with raises(RuntimeError, "searchsorted", "sorter", r"\[0, 2\]"):
        tg.searchsorted(s, s, sorter=tg.tensor([0, 1, 5]))
    with raises(TypeError, "searchsorted", "values", "str"):
        tg.searchsorted(s, "a")
    with raises(TypeError, "searchsorted", "sorted_sequence", "list"):
        tg.searchsorted([1, 2], s)
    with raises(RuntimeError, "bucketize", "1-d", r"\(1, 3\)"):
        tg.bucketize(s, tg.ones(1, 3))


# ------------------------------------------------------------------------------------------------------ histc
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("kw", [dict(), dict(bins=7), dict(bins=5, min=-1, max=1), dict(bins=3, min=0.5, max=0.5),
                                dict(bins=1), dict(bins=4, min=-0.3, max=2)], ids=str)
@pytest.mark.parametrize("shape", RANDOM_SHAPES + [(), (0,), (40,), (6, 7)], ids=str)
def test_histc(shape, kw, dtype):
    check_op(lambda x: lib(x).histc(x, **kw), inputs=[shape], dtype=dtype)
    check_op(lambda x: x.histc(**kw), inputs=[shape], dtype=dtype, seed=1)
    # values on the bin edges, max included in the last bin, a constant input (its range widened by 1 each side)
    check_op(lambda x: lib(x).histc(x, bins=4, min=0, max=4), inputs=[dup_ints((30,), 5).astype(dtype)], dtype=dtype)
    check_op(lambda x: lib(x).histc(x, bins=3), inputs=[np.full(shape, 2.5)], dtype=dtype)


def test_histc_errors():
    with raises(RuntimeError, "histc", "floating point", "int64"):
        tg.histc(tg.tensor([1, 2]))
    with raises(RuntimeError, "histc", "bins", "0"):
        tg.histc(tg.ones(2), bins=0)
    with raises(RuntimeError, "histc", "max", "min"):
        tg.histc(tg.ones(2), min=3, max=1)
    with raises(RuntimeError, "histc", "not finite"):
        tg.histc(tg.tensor([1.0, math.nan]))
    with raises(RuntimeError, "histc", "not finite"):
        tg.histc(tg.ones(2), min=0, max=math.inf)


# ------------------------------------------------------------------------------------ on CUDA, vs the CPU result
# The same cases on a second device against the CPU: "cpu" runs here (it checks the harness), "cuda" where CuPy and
# a GPU are present.
DEVICES = ["cpu", pytest.param("cuda", marks=[pytest.mark.gpu,
                                              pytest.mark.skipif(not cuda_available(), reason="needs a CUDA GPU")])]


def _on_device_cases():
    rng = np.random.default_rng(0)
    x = np.where(rng.random((5, 4)) < 0.3, np.nan, rng.integers(0, 3, (5, 4)).astype(np.float32))
    ints = rng.integers(0, 4, (6, 3))
    seq = np.sort(rng.integers(0, 6, (3, 7)), axis=-1).astype(np.float32)
    return [
        (lambda a: (tg.isnan(a), tg.isfinite(a), a.isclose(a + 1e-6, equal_nan=True)), [x]),
        (lambda a: (a.any(dim=1), a.all(dim=(0, 1)), tg.count_nonzero(a, dim=0), *tg.where(a > 1)), [ints]),
        (lambda a: tg.unique(a, return_inverse=True, return_counts=True), [x]),
        (lambda a: tg.unique(a, dim=0, return_inverse=True, return_counts=True), [ints]),
        (lambda a: tg.unique_consecutive(a, dim=1, return_inverse=True, return_counts=True), [ints]),
        (lambda a, w: (tg.bincount(a), tg.bincount(a, weights=w, minlength=9), tg.bincount(a[:0], minlength=3)),
         [ints[:, 0].copy(), rng.standard_normal(6).astype(np.float32)]),
        (lambda s, v: (tg.searchsorted(s, v), tg.searchsorted(s[0], v, right=True), tg.bucketize(v, s[1])),
         [seq, rng.integers(-1, 7, (3, 5)).astype(np.float32)]),
        (lambda a: (tg.histc(a, bins=5), tg.histc(a, bins=3, min=10, max=11), tg.histc(a[:0], bins=2)),
         [rng.standard_normal(20).astype(np.float32)]),
    ]


@pytest.mark.parametrize("device", DEVICES)
def test_functions_on_device_match_cpu(device):
    for fn, arrays in _on_device_cases():
        want = fn(*[tg.tensor(a) for a in arrays])
        got = fn(*[tg.tensor(a, device=device) for a in arrays])
        for w, g in zip(want, got):
            assert g.device.type == device and g.dtype == w.dtype and g.shape == w.shape
            np.testing.assert_allclose(np.asarray(g.cpu()), np.asarray(w), rtol=1e-5, atol=1e-6, equal_nan=True)


@pytest.mark.parametrize("device", DEVICES)
def test_randperm_on_device_is_a_seeded_permutation(device):
    tg.manual_seed(5)
    a = tg.randperm(1000, device=device)
    b = tg.randperm(1000, device=device)
    tg.manual_seed(5)
    assert tg.randperm(1000, device=device).tolist() == a.tolist() and a.tolist() != b.tolist()
    assert a.device.type == device and a.dtype == tg.int64 and sorted(a.tolist()) == list(range(1000))
    assert tg.randperm(0, device=device).shape == (0,)
