"""The PyTorch APIs added after test_ops_cuda.py, on CUDA against the CPU result, forward and the gradient of every
input: elementwise math (sin ... addcdiv), flip/roll/repeat/tile/repeat_interleave/unbind/narrow/broadcast_to,
gather/scatter/index_*/masked_select/nonzero/diag family/pad/sort/topk/argsort/new_*, the scans, prod, median, norms,
allclose/equal, einsum, the mm family, and the new nn.functional activations, normalizations, losses and nn modules.

test_ops_cuda.py's harness (check_cuda) runs each case on CPU tensors and on CUDA tensors made from the same data;
the cases are the CPU tests' own tables (test_ops_elementwise_math, test_ops_movement.MOVES2, test_ops_indexing,
test_ops_scan, test_ops_norm, test_ops_einsum, test_ops_matmul, test_nn_functional, test_nn_modules). float32 with
gradients everywhere, float64 on a subset, float16 forward where the CPU tests do float16. Integer and bool results
(indices, masks) are compared exactly. Sort / topk / median run on tie-free data only: with ties, which index wins
(and so where the gradient goes) is not fixed. Index tensors are inputs of a case, so the harness puts them on CUDA,
or are built on x's device inside the lambda (test_ops_movement.T). Skipped without CuPy and a GPU.
"""
import math

import numpy as np
import pytest

import tensorgrad as tg
from tensorgrad.backend import cuda_available
from helpers import lib, F, pos, nz, unif, ints, bools
from test_ops_cuda import Case, _params, run, _close, F16, F32, F64, DEVICE, DEVICE_TYPE

import test_nn_functional as NF
import test_nn_modules as NM
import test_ops_einsum as ES
import test_ops_elementwise_math as EM
import test_ops_indexing as IXT
import test_ops_matmul as MM
import test_ops_movement as MV
import test_ops_norm as NO
import test_ops_scan as SC

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not cuda_available(), reason="needs CuPy and a CUDA GPU"),
]


def _normal(shape, seed=0, scale=1.0):
    return np.asarray(np.random.default_rng(seed).standard_normal(shape) * scale)


# ----------------------------------------------------------------------------------------- elementwise math
def _elementwise_math_cases():
    c = []
    for name, (fn, dom) in EM.SMOOTH.items():
        for shape in [(), (1,), (3, 4), (2, 3, 4), (0,)]:
            c.append(Case(f"{name}-{shape}", fn, [dom(shape)]))
    for name in EM.METHODS:
        fn, dom = EM.SMOOTH[name]
        c.append(Case(f"{name}-(3, 4)", fn, [dom((3, 4))], F64))
        c.append(Case(f"{name}-(4, 5)", fn, [dom((4, 5))], F16, grad=False))
        c.append(Case(f"{name}-int64", fn, [np.arange(0, 6)]))  # -> the default float dtype
        c.append(Case(f"{name}-bool", fn, [np.array([True, False, True])]))
    c.append(Case("log1p-expm1-tiny", lambda t: (t.log1p(), t.expm1()), [np.array([1e-30, -1e-20, 1e-12, 3e-8])],
                  atol=0, rtol=1e-6))
    c.append(Case("domain-edges", lambda t: (t.log1p(), t.reciprocal(), t.log2(), t.log10()),
                  [np.array([-1.0, -2.0, 0.0, 4.0])], grad=False))
    for name, (fn, away) in EM.STEPS.items():
        for shape in [(), (3, 4), (0,)]:
            c.append(Case(f"{name}-{shape}", fn, [EM._step_input(shape, away)]))
    for name in EM.STEP_METHODS:
        fn, away = EM.STEPS[name]
        c.append(Case(f"{name}-(3, 4)", fn, [EM._step_input((3, 4), away)], F64))
    for name in ["sign", "floor", "ceil", "trunc", "round"]:
        for dt in (np.int64, np.int32):
            c.append(Case(f"{name}-{np.dtype(dt).name}", EM.STEPS[name][0], [np.arange(-3, 4).astype(dt)]))
    c.append(Case("sign-bool", lambda x: x.sign(), [np.array([True, False])]))
    c.append(Case("sign-nan-inf-zero", lambda x: x.sign(), [np.array([np.nan, -0.0, 0.0, np.inf, -np.inf, 3.0])]))
    c.append(Case("round-half-even", lambda x: x.round(), [np.array([0.5, 1.5, 2.5, -0.5, -1.5, 2.4999])]))
    c.append(Case("frac-edges", lambda x: x.frac(), [np.array([-1.5, 2.25, -0.0, np.inf, -np.inf, np.nan])]))
    tricky = np.array([2.675, 1.25, -1.55, 0.125, 15.0, 25.0, -35.0, 1234.5678, 0.0, 0.05, 999.95])
    for d in EM.ROUND_DECIMALS:  # rint(x * 10^d) / 10^d: IEEE-exact steps on both devices
        f = lambda x, d=d: x.round(decimals=d)  # noqa: E731
        c.append(Case(f"round-decimals{d}", f, [tricky], atol=0, rtol=0))
        c.append(Case(f"round-decimals{d}", f, [tricky], F64, atol=0, rtol=0))
        c.append(Case(f"round-decimals{d}", f, [tricky], F16, grad=False, atol=0, rtol=0))
        c.append(Case(f"fn_round-decimals{d}", lambda x, d=d: lib(x).round(x, decimals=d),
                      [unif(4, 5, low=-100.0, high=100.0)], atol=0, rtol=0))
    for sa, sb, sw in EM.LERP_SHAPES:
        fn = lambda a, b, w: lib(a).lerp(a, b, w)  # noqa: E731
        c.append(Case(f"lerp-{sa}-{sb}-{sw}", fn, [sa, sb, unif(*sw, low=-0.5, high=1.5)]))
    c.append(Case("lerp-(3, 1, 4)", lambda a, b, w: a.lerp(b, w), [(3, 1, 4), (5, 1), unif(4, low=-0.5, high=1.5)],
                  F64))
    c.append(Case("lerp-grad-end", lambda a, b, w: a.lerp(b, w), [(3, 1, 4), (5, 1), unif(4, low=-0.5, high=1.5)],
                  requires_grad=[False, True, False]))
    for w in EM.LERP_WEIGHTS:
        c.append(Case(f"lerp-scalar-{w!r}", lambda a, b, w=w: lib(a).lerp(a, b, w), [(3, 1, 4), (5, 1)]))
    c.append(Case("lerp-0d-weight-float64", lambda a, b, w: a.lerp(b, w.double()),
                  [(4,), (4,), unif(low=0.2, high=0.8)]))
    for name in ["logical_and", "logical_or", "logical_xor"]:
        for kinds in [("bool", "bool"), ("float", "int"), ("int", "bool"), ("uint8", "float"), ("nan", "float")]:
            for sa, sb in [((3, 4), (3, 4)), ((3, 1, 4), (5, 1)), ((0,), (1,))]:
                a, b = EM._mixed(sa, 0, kinds[0]), EM._mixed(sb, 1, kinds[1])
                c.append(Case(f"{name}-{kinds}-{sa}-{sb}", lambda x, y, n=name: getattr(lib(x), n)(x, y), [a, b]))
        c.append(Case(f"{name}-method", lambda x, y, n=name: getattr(x, n)(y), [EM._mixed((2, 3), 0, "float"),
                                                                                 EM._mixed((3,), 1, "bool")]))
    for kind in ["bool", "float", "int", "uint8", "nan"]:
        c.append(Case(f"logical_not-{kind}", lambda t: t.logical_not(), [EM._mixed((3, 4), 0, kind)]))
    for shape in [(3, 4), (), (0,)]:
        c.append(Case(f"square-{shape}", lambda x: lib(x).square(x), [shape]))
    c.append(Case("square-(3, 4)", lambda x: x.square(), [(3, 4)], F64))
    for x in (np.arange(-3, 4), np.arange(-3, 4).astype(np.int32), np.arange(0, 7).astype(np.uint8),
              np.array([True, False])):
        c.append(Case(f"square-{x.dtype.name}", lambda t: t.square(), [x]))
    for sa, s1, s2 in EM.ADDC_SHAPES:
        for value in [1, 0.5, -2]:
            c.append(Case(f"addcmul-{sa}-{s1}-{s2}-{value}", lambda a, b, d, v=value: lib(a).addcmul(a, b, d, value=v),
                          [sa, s1, s2]))
            c.append(Case(f"addcdiv-{sa}-{s1}-{s2}-{value}", lambda a, b, d, v=value: a.addcdiv(b, d, value=v),
                          [sa, s1, nz(*s2)]))
        c.append(Case(f"addcmul-{sa}-{s1}-{s2}", lambda a, b, d: a.addcmul(b, d, value=0.5), [sa, s1, s2], F64))
        c.append(Case(f"addcdiv-{sa}-{s1}-{s2}", lambda a, b, d: lib(a).addcdiv(a, b, d), [sa, s1, nz(*s2)], F64))
    i = np.arange(1, 4)
    c.append(Case("addcmul-ints", lambda x, y, z: x.addcmul(y, z, value=2), [i, i, i.astype(np.uint8)]))
    c.append(Case("addcmul-promote", lambda x, y, z: x.addcmul(y.double(), z, value=2.0), [(3,), (3,), i]))
    c.append(Case("addcdiv-int-input", lambda x, y, z: x.addcdiv(y, z, value=0.5), [i, (3,), i]))
    return c


@pytest.mark.parametrize("case", _params(_elementwise_math_cases()))
def test_elementwise_math(case):
    run(case)


# ----------------------------------------------------------------------------------------------- movement
def _movement_cases():
    c = [Case(name, fn, [shape]) for name, (shape, fn) in MV.MOVES2.items()]
    for name in ["flip_many", "roll_many", "roll_same_dim_twice", "repeat_new_dims", "tile_more",
                 "repeat_interleave_dim", "repeat_interleave_tensor", "narrow", "unbind_neg", "broadcast_to"]:
        shape, fn = MV.MOVES2[name]
        c.append(Case(name, fn, [shape], F64))
    for name in ["flip_many", "roll_many", "tile_more", "repeat_interleave_tensor"]:
        shape, fn = MV.MOVES2[name]
        c.append(Case(name, fn, [shape], F16))
    c.append(Case("repeat_interleave-counts-only", lambda r: lib(r).repeat_interleave(r), [np.array([1, 0, 3, 2])]))
    c.append(Case("repeat_interleave-int", lambda x: x.repeat_interleave(2, 0), [np.arange(4).reshape(2, 2)]))
    c.append(Case("flip-roll-repeat-int", lambda x: x.flip(0).roll(1, 1).repeat(2, 1), [np.arange(6).reshape(2, 3)]))
    c.append(Case("flip-non-contiguous", lambda x: x.transpose(0, 1).flip(0).roll(2, 1), [(3, 5)]))
    return c


@pytest.mark.parametrize("case", _params(_movement_cases()))
def test_movement(case):
    run(case)


# ----------------------------------------------------------------------------------------------- indexing
def _scatter_index(shape, dim, ishape):
    return IXT.unique_index(shape[dim] if shape else 1, ishape or (1,), dim if ishape else 0).reshape(ishape)


def _indexing_cases():
    c = []
    for shape, dim, ishape in IXT.GATHER:
        n = shape[dim] if shape else 1
        c.append(Case(f"gather-{shape}-{dim}-{ishape}", lambda x, i, d=dim: lib(x).gather(x, d, i),
                      [shape, ints(*ishape, high=n)]))
    for shape, dim, ishape in IXT.GATHER[:4]:
        c.append(Case(f"gather-{shape}-{dim}-{ishape}", lambda x, i, d=dim: x.gather(d, i),
                      [shape, ints(*ishape, high=shape[dim])], F64))
    c.append(Case("gather-int32-index", lambda x, i: x.gather(1, i),
                  [(3, 4), np.array([[0, 3, 3], [1, 1, 0], [2, 2, 2]], np.int32)]))
    c.append(Case("gather-int-input", lambda x, i: x.gather(0, i), [np.arange(12).reshape(3, 4), ints(2, 4, high=3)]))
    for shape, ishape, dim in IXT.TAKE:
        n = int(np.prod(shape)) if dim is None else (shape[dim] if shape else 1)
        low = 0 if dim is None else -n
        c.append(Case(f"take_along_dim-{shape}-{ishape}-{dim}", lambda x, i, d=dim: lib(x).take_along_dim(x, i, d),
                      [shape, ints(*ishape, low=low, high=n)]))
    c.append(Case("take_along_dim-argsort", lambda x: lib(x).take_along_dim(x, x.argsort(dim=1), dim=1), [(3, 5)]))
    c.append(Case("take_along_dim-argmax", lambda x: x.take_along_dim(x.argmax().reshape(1)), [(3, 5)]))
    for shape, dim, ishape, sshape in IXT.SCATTER:
        idx = _scatter_index(shape, dim, ishape)
        n = shape[dim] if shape else 1
        key = f"{shape}-{dim}-{ishape}-{sshape}"
        c.append(Case(f"scatter-{key}", lambda x, i, s, d=dim: lib(x).scatter(x, d, i, s), [shape, idx, sshape]))
        c.append(Case(f"scatter-value-{key}", lambda x, i, d=dim: x.scatter(d, i, 2.5), [shape, idx]))
        c.append(Case(f"scatter-kw-value-{key}", lambda x, i, d=dim: lib(x).scatter(x, d, i, value=-1.0), [shape, idx]))
        c.append(Case(f"scatter_add-{key}", lambda x, i, s, d=dim: lib(x).scatter_add(x, d, i, s),
                      [shape, ints(*ishape, high=n), sshape]))  # random indices: duplicates accumulate
        c.append(Case(f"scatter_add-src-only-{key}", lambda x, i, s, d=dim: x.scatter_add(d, i, s),
                      [shape, ints(*ishape, high=n), sshape], requires_grad=[False, False, True]))
    c.append(Case("scatter-(5, 4)", lambda x, i, s: x.scatter(0, i, s), [(5, 4), _scatter_index((5, 4), 0, (3, 4)),
                                                                         (3, 4)], F64))
    c.append(Case("scatter_add-(3, 6)", lambda x, i, s: x.scatter_add(1, i, s), [(3, 6), ints(3, 4, high=6), (3, 4)],
                  F64))
    c.append(Case("scatter-reduce-add", lambda x, i, s: x.scatter(1, i, s, reduce="add"),
                  [(3, 4), ints(3, 5, high=4), (3, 5)]))
    c.append(Case("scatter-reduce-add-value", lambda x, i: x.scatter(1, i, 1.5, reduce="add"),
                  [(3, 4), ints(3, 5, high=4)]))
    for name in ("scatter", "scatter_add"):  # src bigger than index: the unread part of src gets a zero gradient
        c.append(Case(f"{name}-src-bigger", lambda x, i, s, n=name: getattr(x, n)(1, i, s),
                      [(3, 4), IXT.unique_index(4, (2, 2), 1), (4, 5)]))
    c.append(Case("scatter-empty-index", lambda x, i, s: x.scatter(1, i, s),
                  [(3, 4), np.zeros((3, 0), np.int64), (3, 4)]))
    c.append(Case("scatter-int32-index", lambda x, i, s: x.scatter(1, i, s),
                  [(3, 4), IXT.unique_index(4, (3, 2), 1).astype(np.int32), (3, 2)]))
    c.append(Case("scatter_add-int", lambda x, i, s: x.scatter_add(1, i, s),
                  [np.zeros((2, 4), np.int64), ints(2, 5, high=4), np.arange(10).reshape(2, 5)]))
    c.append(Case("scatter-int-float-value", lambda x, i: x.scatter(1, i, 2.5),
                  [np.zeros((2, 4), np.int64), IXT.unique_index(4, (2, 2), 1)]))
    for shape, dim, ishape in IXT.INDEX_SELECT:
        n = shape[dim] if shape else 1
        c.append(Case(f"index_select-{shape}-{dim}-{ishape}", lambda x, i, d=dim: lib(x).index_select(x, d, i),
                      [shape, ints(*ishape, high=n)]))
        idx32 = np.asarray(np.random.default_rng(3).integers(0, n, size=ishape), dtype=np.int32)
        c.append(Case(f"index_select-int32-{shape}-{dim}-{ishape}", lambda x, i, d=dim: x.index_select(d, i),
                      [shape, idx32]))
    c.append(Case("index_select-(4, 5)", lambda x, i: x.index_select(1, i), [(4, 5), ints(3, high=5)], F64))
    for shape, dim, k in IXT.INDEX_ADD:
        n = shape[dim] if shape else 1
        src = list(shape)
        if shape:
            src[dim] = 1 if k is None else k
        ishape = () if k is None else (k,)
        for alpha in [1, -2.5]:
            c.append(Case(f"index_add-{shape}-{dim}-{k}-{alpha}",
                          lambda x, i, s, d=dim, a=alpha: lib(x).index_add(x, d, i, s, alpha=a),
                          [shape, ints(*ishape, high=n), tuple(src)]))
        c.append(Case(f"index_add-src-only-{shape}-{dim}-{k}", lambda x, i, s, d=dim: x.index_add(d, i, s),
                      [shape, ints(*ishape, high=n), tuple(src)], requires_grad=[False, False, True]))
    c.append(Case("index_add-(5, 3)", lambda x, i, s: x.index_add(0, i, s, alpha=1.5),
                  [(5, 3), ints(7, high=5), (7, 3)],
                  F64))
    c.append(Case("index_add-int", lambda x, i, s: x.index_add(0, i, s, alpha=2),
                  [np.zeros(4, np.int64), np.array([1, 1, 3]), np.array([5, 6, 7])]))
    for shape, mshape in IXT.MASKED_SELECT:
        c.append(Case(f"masked_select-{shape}-{mshape}", lambda x, m: lib(x).masked_select(x, m),
                      [shape, bools(*mshape)]))
    c.append(Case("masked_select-(3, 4)", lambda x, m: x.masked_select(m), [(3, 4), bools(4, p=0.8)], F64))
    for k, data in enumerate(IXT.NONZERO):
        c.append(Case(f"nonzero-{k}", lambda x: lib(x).nonzero(x), [data]))
        c.append(Case(f"nonzero-tuple-{k}", lambda x: x.nonzero(as_tuple=True), [data]))
        c.append(Case(f"argwhere-{k}", lambda x: lib(x).argwhere(x), [data]))
    for shape, k in IXT.DIAG:
        c.append(Case(f"diag-{shape}-{k}", lambda x, k=k: lib(x).diag(x, k), [shape]))
    for shape, off, d1, d2 in IXT.DIAGONAL:
        c.append(Case(f"diagonal-{shape}-{off}-{d1}-{d2}", lambda x, o=off, a=d1, b=d2: x.diagonal(o, a, b), [shape]))
    for shape, off, d1, d2 in IXT.DIAG_EMBED:
        c.append(Case(f"diag_embed-{shape}-{off}-{d1}-{d2}", lambda x, o=off, a=d1, b=d2: lib(x).diag_embed(x, o, a, b),
                      [shape]))
    for shape in [(3, 3), (2, 5), (5, 2), (0, 3)]:
        c.append(Case(f"trace-{shape}", lambda x: x.trace(), [shape]))
    c.append(Case("diag-(3, 5)", lambda x: x.diag(1), [(3, 5)], F64))
    c.append(Case("diagonal-(2, 3, 4)", lambda x: x.diagonal(1, 2, 0), [(2, 3, 4)], F64))
    c.append(Case("diag_embed-(2, 3)", lambda x: tg.diag_embed(x, -1, 0, 2), [(2, 3)], F64))
    c.append(Case("trace-int", lambda x: x.trace(), [np.arange(12, dtype=np.int32).reshape(3, 4)]))
    for shape, pad in IXT.PADS:
        c.append(Case(f"pad-{shape}-{pad}", lambda x, p=pad: IXT.pad_fn(x, p), [shape]))
        c.append(Case(f"pad-value-{shape}-{pad}", lambda x, p=pad: F(x).pad(x, list(p), mode="constant", value=-2.5),
                      [shape]))
    c.append(Case("pad-(2, 3, 4)", lambda x: IXT.pad_fn(x, (1, -1, 2, 0), value=3.0), [(2, 3, 4)], F64))
    c.append(Case("pad-int", lambda x: IXT.pad_fn(x, (1, 1), value=2.5), [np.arange(6).reshape(2, 3)]))
    c.append(Case("pad-bool", lambda x: IXT.pad_fn(x, (1, 0, 0, 2), value=True), [np.ones((2, 2), bool)]))
    c.append(Case("pad-inf-softmax", lambda x: IXT.pad_fn(x, (1, 1), value=float("-inf")).softmax(-1), [(2, 3)]))
    for shape, k, dim, largest in IXT.TOPK:  # standard normal data: no ties
        key = f"{shape}-{k}-{dim}-{largest}"
        c.append(Case(f"topk-{key}", lambda x, k=k, d=dim, lg=largest: x.topk(k, dim=d, largest=lg), [shape]))
        c.append(Case(f"fn_topk-{key}", lambda x, k=k, d=dim, lg=largest: lib(x).topk(x, k, d, lg), [shape], F64))
    for shape, dim, desc in IXT.SORTS:
        c.append(Case(f"sort-{shape}-{dim}-{desc}", lambda x, d=dim, ds=desc: lib(x).sort(x, d, ds), [shape]))
        c.append(Case(f"sort-stable-{shape}-{dim}-{desc}", lambda x, d=dim, ds=desc: x.sort(dim=d, descending=ds,
                                                                                             stable=True), [shape]))
        c.append(Case(f"argsort-{shape}-{dim}-{desc}", lambda x, d=dim, ds=desc: x.argsort(dim=d, descending=ds),
                      [shape]))
        c.append(Case(f"sort-{shape}-{dim}-{desc}", lambda x, d=dim, ds=desc: x.sort(d, ds), [shape], F64))
    one_nan = np.array([[3.0, np.nan, 1.0, -1.0], [2.0, 0.5, np.nan, 0.0]])  # one NaN per row: no ties
    for desc in (False, True):
        c.append(Case(f"sort-nan-{desc}", lambda x, ds=desc: x.sort(descending=ds), [one_nan]))
        c.append(Case(f"argsort-nan-{desc}", lambda x, ds=desc: x.argsort(descending=ds), [one_nan]))
    c.append(Case("topk-nan", lambda x: x.topk(2), [np.array([3.0, np.nan, 1.0, 5.0])]))
    c.append(Case("topk-nan-smallest", lambda x: x.topk(2, largest=False), [np.array([3.0, np.nan, 1.0, 5.0])]))
    c.append(Case("sort-int", lambda x: x.sort(dim=-1, stable=True), [np.array([3, 1, 2, 0], np.uint8)]))
    c.append(Case("sort-values-times-weights", lambda t: t.sort(descending=True).values * MV.T(t, [1.0, 2.0, 3.0, 4.0]),
                  [np.array([1.0, 2.5, 2.0, 0.0])]))
    for k, fn in enumerate(IXT.NEW):
        c.append(Case(f"new-{k}", fn, [(3,)], requires_grad=False))
        c.append(Case(f"new-{k}", fn, [(3,)], F64, requires_grad=False))
    return c


@pytest.mark.parametrize("case", _params(_indexing_cases()))
def test_indexing(case):
    run(case)


@pytest.mark.parametrize("i", range(len(IXT.INPLACE)))
def test_inplace_index_variants(i):
    """scatter_ / scatter_add_ / index_add_ write in place on the device, as on the CPU."""
    rng = np.random.default_rng(i)
    x, s = rng.standard_normal((3, 4)).astype(F32), rng.standard_normal((3, 2)).astype(F32)
    idx = IXT.unique_index(4, (3, 2), 1, seed=i)
    res = {}
    for d in ("cpu", DEVICE):
        a = tg.tensor(x, device=d)
        r = IXT.INPLACE[i](a, tg.tensor(idx, device=d), tg.tensor(s, device=d))
        assert r is a and a.device.type == tg.device(d).type and a.dtype == F32
        res[d] = a
    _close("in-place result", res[DEVICE], res["cpu"], 1e-6, 1e-6)


# ---------------------------------------------------------------------- scans, prod, median, logsumexp with inf
def _scan_cases():
    c = []
    for name in SC.SCANS:
        for shape, dim in SC.SCAN_SHAPES:
            c.append(Case(f"{name}-{shape}-{dim}", lambda x, n=name, d=dim: getattr(x, n)(d), [shape]))
        for shape, dim in SC.SCAN_SHAPES[1:5]:
            c.append(Case(f"fn_{name}-{shape}-{dim}", lambda x, n=name, d=dim: getattr(lib(x), n)(x, dim=d), [shape],
                          F64))
        c.append(Case(f"{name}-0d", lambda x, n=name: getattr(x, n)(0), [()]))
    x = np.arange(1, 13).reshape(3, 4)
    for name in ["cumsum", "cumprod"]:
        c.append(Case(f"{name}-int64", lambda t, n=name: getattr(t, n)(1), [x]))
        c.append(Case(f"{name}-int32", lambda t, n=name: getattr(t, n)(0), [x.astype(np.int32)]))
        c.append(Case(f"{name}-bool", lambda t, n=name: getattr(t, n)(1), [x % 3 == 0]))
        c.append(Case(f"{name}-int32-to-float64", lambda t, n=name: getattr(t, n)(1, dtype=tg.float64),
                      [x.astype(np.int32)]))
        c.append(Case(f"{name}-dtype-float64", lambda t, n=name: getattr(t, n)(1, dtype=tg.float64), [(3, 4)]))
    for dt in (F32, F64):
        c.append(Case("cumprod-zeros-1", lambda t: t.cumprod(1), [SC.CUMPROD_ZEROS], dt))
        c.append(Case("cumprod-zeros-0", lambda t: t.cumprod(0), [SC.CUMPROD_ZEROS.T.copy()], dt))
        c.append(Case("cumprod-zeros-3d", lambda t: t.cumprod(-1), [SC.CUMPROD_ZEROS.reshape(2, 3, 4)], dt))
    wide = np.array([[-1000.0, 0.0, 1000.0, -5.0, 999.0], [50.0, -50.0, 3.0, 80.0, -200.0]])
    c.append(Case("logcumsumexp-wide", lambda t: t.logcumsumexp(1), [wide]))
    c.append(Case("logcumsumexp-wide", lambda t: t.logcumsumexp(0), [wide.T.copy()], F64))
    c.append(Case("logcumsumexp-minus-inf", lambda t: t.logcumsumexp(0),
                  [np.array([-np.inf, -np.inf, 1.0, -np.inf, 2.0])],
                  grad=False))
    inf_rows = np.array([[-np.inf, -np.inf, -np.inf], [np.inf, 1.0, -np.inf], [-np.inf, 1.0, 2.0]])
    c.append(Case("logsumexp-infinite", lambda t: t.logsumexp(1), [inf_rows]))  # no inf - inf = NaN
    c.append(Case("logsumexp-infinite-keepdim", lambda t: t.logsumexp(0, keepdim=True), [inf_rows], grad=False))
    for shape, kw in SC.PROD_CASES:
        c.append(Case(f"prod-{shape}-{kw}", lambda t, kw=kw: t.prod(**kw), [shape]))
        c.append(Case(f"fn_prod-{shape}-{kw}", lambda t, kw=kw: lib(t).prod(t, **kw), [shape], F64))
    for k, z in enumerate(SC.PROD_ZEROS):
        c.append(Case(f"prod-zeros-{k}", lambda t: t.prod(), [z]))
        for d in range(z.ndim):
            c.append(Case(f"prod-zeros-{k}-dim{d}", lambda t, d=d: t.prod(d), [z]))
            c.append(Case(f"prod-zeros-{k}-dim{d}-keepdim", lambda t, d=d, n=z.ndim: t.prod(d - n, keepdim=True), [z],
                          F64))
    c.append(Case("prod-int32", lambda t: t.prod(), [np.arange(1, 7).reshape(2, 3).astype(np.int32)]))
    c.append(Case("prod-bool", lambda t: t.prod(), [np.arange(1, 7).reshape(2, 3) > 2]))
    c.append(Case("prod-dtype-float64", lambda t: t.prod(0, dtype=tg.float64), [(3, 4)]))
    for shape in [(7,), (6,), (3, 4), (2, 3, 5), (1,), ()]:  # standard normal: no ties
        c.append(Case(f"median-{shape}", lambda t: t.median(), [shape]))
        c.append(Case(f"fn_median-{shape}", lambda t: lib(t).median(t), [shape], F64))
    c.append(Case("median-one-nan", lambda t: t.median(), [np.array([1.0, np.nan, 2.0, 0.5])]))
    c.append(Case("median-empty", lambda t: t.median(), [np.zeros((0, 3))]))
    for shape, dim in SC.MEDIAN_DIMS:
        for keepdim in (False, True):
            c.append(Case(f"median-{shape}-{dim}-{keepdim}", lambda t, d=dim, k=keepdim: t.median(d, keepdim=k),
                          [shape]))
        c.append(Case(f"fn_median-{shape}-{dim}", lambda t, d=dim: lib(t).median(t, dim=d), [shape], F64))
    c.append(Case("median-0d-dim", lambda t: t.median(-1, keepdim=True), [()]))
    c.append(Case("median-dim-one-nan-per-row", lambda t: t.median(1),
                  [np.array([[1.0, np.nan, 2.0, 0.5], [3.0, 4.0, 5.0, 6.0], [np.nan, 0.0, 1.0, 2.0]])]))
    c.append(Case("median-int", lambda t: t.median(), [np.array([[1, 3, 2, 4], [9, 7, 8, 6]])]))
    c.append(Case("median-int-dim", lambda t: t.median(1), [np.array([[1, 3, 2], [9, 7, 8]])]))
    return c


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # inf - inf in logsumexp's backward of an all -inf row
@pytest.mark.parametrize("case", _params(_scan_cases()))
def test_scan_prod_median(case):
    run(case)


# ---------------------------------------------------------------------------------------------------- norms
def _norm_cases():
    c = []
    for p in NO.PS:
        for dim in NO.DIMS:
            c.append(Case(f"vector_norm-{p}-{dim}", lambda t, p=p, d=dim: lib(t).linalg.vector_norm(t, p, d),
                          [nz(2, 3, 4)]))
        for dim in [None, -1, (0, 2)]:
            c.append(Case(f"vector_norm-{p}-{dim}-keepdim", lambda t, p=p, d=dim: lib(t).linalg.vector_norm(
                t, ord=p, dim=d, keepdim=True), [nz(2, 3, 4)]))
            c.append(Case(f"norm-{p}-{dim}", lambda t, p=p, d=dim: t.norm(p, d), [nz(2, 3, 4)]))
        c.append(Case(f"vector_norm-{p}-(-1, -2)", lambda t, p=p: lib(t).linalg.vector_norm(t, p, (-1, -2), True),
                      [nz(2, 3, 4)], F64))
        c.append(Case(f"norm-{p}-0d", lambda t, p=p: lib(t).linalg.vector_norm(t, p), [nz()]))
        c.append(Case(f"norm-{p}-size1", lambda t, p=p: t.norm(p, 1), [nz(3, 1)]))
    c.append(Case("norm-default", lambda t: t.norm(), [(3, 4)]))
    c.append(Case("fn_norm-default", lambda t: lib(t).norm(t), [(3, 4)], F64))
    c.append(Case("norm-fro-dims", lambda t: t.norm("fro", (0, 1)), [(3, 4, 2)]))
    c.append(Case("norm-fro-keepdim", lambda t: t.norm("fro", 1, True), [(3, 4)]))
    for p in NO.PS + ["fro"]:  # 0 where the norm is 0 (not NaN); +-inf ties share the gradient
        c.append(Case(f"norm-zeros-{p}", lambda t, p=p: t.norm(p, 1), [NO.ZEROS]))
        c.append(Case(f"norm-all-zero-{p}", lambda t, p=p: t.norm(p), [np.zeros((2, 3))]))
        c.append(Case(f"norm-zeros-keepdim-{p}", lambda t, p=p: t.norm(p, 0, keepdim=True), [NO.ZEROS], F64))
    for p in (2, 1, 0, 3):
        c.append(Case(f"norm-empty-{p}", lambda t, p=p: lib(t).linalg.vector_norm(t, p), [np.zeros((0, 3))]))
    for p in (math.inf, -math.inf, -1):
        c.append(Case(f"norm-empty-nonempty-dim-{p}", lambda t, p=p: lib(t).linalg.vector_norm(t, p, 1),
                      [np.zeros((0, 3))]))
    c.append(Case("norm-inf-value", lambda t: t.norm(2), [np.array([1.0, np.inf])]))
    c.append(Case("vector_norm-dtype", lambda t: tg.linalg.vector_norm(t, dtype=tg.float64), [(3, 4)]))
    c.append(Case("norm-dtype", lambda t: t.norm(dtype=tg.float64), [(3, 4)]))
    for p in (2, 1, math.inf):
        c.append(Case(f"norm-{p}", lambda t, p=p: t.norm(p, -1), [(4, 8)], F16, grad=False))
    return c


@pytest.mark.parametrize("case", _params(_norm_cases()))
def test_norm(case):
    run(case)


def _bools_agree(name, a, b, **kw):
    """tg.<name> on CUDA tensors: a Python bool, the same as on the CPU (test_ops_norm checks the CPU's vs torch)."""
    a, b = np.asarray(a), np.asarray(b)
    want = getattr(tg, name)(tg.tensor(a), tg.tensor(b), **kw)
    x, y = tg.tensor(a, device=DEVICE), tg.tensor(b, device=DEVICE)
    got, got_method = getattr(tg, name)(x, y, **kw), getattr(x, name)(y, **kw)
    assert type(got) is bool and got == got_method == want, (got, got_method, want)


@pytest.mark.parametrize("a,b,kw", NO.ALLCLOSE, ids=str)
def test_allclose_on_device(a, b, kw):
    _bools_agree("allclose", a, b, **kw)


@pytest.mark.parametrize("a,b", NO.EQUAL, ids=str)
def test_equal_on_device(a, b):
    _bools_agree("equal", a, b)


# --------------------------------------------------------------------------------------------------- einsum
def _einsum_cases():
    c = []
    for k, (eq, shapes) in enumerate(ES.EQUATIONS):
        fn = lambda *xs, eq=eq: lib(xs[0]).einsum(eq, *xs)  # noqa: E731
        c.append(Case(f"einsum-{eq}", fn, shapes))
        if k % 3 == 0:
            c.append(Case(f"einsum-{eq}", fn, shapes, F64))
        if len(shapes) > 1 and k % 4 == 0:
            c.append(Case(f"einsum-{eq}-partial-grad", fn, shapes, requires_grad=[False] + [True] * (len(shapes) - 1)))
    for eq, shapes in [("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]), ("bhqd,bhkd->bhqk", [(2, 3, 4, 5), (2, 3, 6, 5)])]:
        c.append(Case(f"einsum-{eq}", lambda *xs, eq=eq: lib(xs[0]).einsum(eq, *xs), shapes, F16))
    c.append(Case("einsum-list", lambda a, b: lib(a).einsum("ij,jk", [a, b]), [(2, 3), (3, 4)]))
    c.append(Case("einsum-sublist", lambda a, b: lib(a).einsum(a, [0, 1], b, [1, 2], [0, 2]), [(2, 3), (3, 4)]))
    c.append(Case("einsum-sublist-ellipsis", lambda a, b: lib(a).einsum(a, [..., 30, 1], b, [1, 2], [..., 30, 2]),
                  [(4, 2, 3), (3, 5)]))
    c.append(Case("einsum-sublist-trace", lambda a: lib(a).einsum(a, [7, 7], []), [(3, 3)]))
    a, b = np.arange(6).reshape(2, 3), np.arange(12).reshape(3, 4)
    c.append(Case("einsum-int", lambda x, y: lib(x).einsum("ij,jk->ik", x, y), [a, b]))
    c.append(Case("einsum-int32-sum", lambda x: lib(x).einsum("ij->", x), [a.astype(np.int32)]))
    c.append(Case("einsum-int-diagonal", lambda x: lib(x).einsum("ii->i", x), [np.arange(9).reshape(3, 3)]))
    for seed in range(60):
        eq, shapes = ES._random_equation(np.random.default_rng(seed))
        c.append(Case(f"einsum-random{seed}-{eq}", lambda *xs, eq=eq: lib(xs[0]).einsum(eq, *xs), shapes))
    return c


@pytest.mark.parametrize("case", _params(_einsum_cases()))
def test_einsum(case):
    run(case)


# --------------------------------------------------------------------------------------------- mm family
def _matmul_family_cases():
    c = []
    for name, sa, sb in MM.PRODUCTS:
        c.append(Case(f"{name}-{sa}-{sb}", lambda a, b, n=name: getattr(a, n)(b), [sa, sb]))
        c.append(Case(f"fn_{name}-{sa}-{sb}", lambda a, b, n=name: getattr(lib(a), n)(a, b), [sa, sb], F64))
        c.append(Case(f"{name}-{sa}-{sb}-grad-b", lambda a, b, n=name: getattr(a, n)(b), [sa, sb],
                      requires_grad=[False, True]))
    c.append(Case("mm", lambda a, b: a.mm(b), [(8, 32), (32, 12)], F16))
    c.append(Case("bmm", lambda a, b: a.bmm(b), [(2, 8, 32), (2, 32, 12)], F16))
    c.append(Case("outer-int-float", lambda a, b: lib(a).outer(a, b), [np.arange(3), (4,)]))
    c.append(Case("mm-int", lambda x, y: x.mm(y), [np.arange(6).reshape(2, 3), np.arange(12).reshape(3, 4)]))
    c.append(Case("mm-int32", lambda x, y: x.mm(y), [np.arange(6).reshape(2, 3).astype(np.int32),
                                                     np.arange(12).reshape(3, 4).astype(np.int32)]))
    c.append(Case("mm-non-contiguous", lambda a, b: a.t().mm(b.t()), [(4, 3), (5, 4)]))
    for sa, sb, dims in MM.TENSORDOT:
        c.append(Case(f"tensordot-{sa}-{sb}-{dims}", lambda a, b, d=dims: lib(a).tensordot(a, b, d), [sa, sb]))
        c.append(Case(f"tensordot-{sa}-{sb}-{dims}", lambda a, b, d=dims: lib(a).tensordot(a, b, dims=d), [sa, sb], F64,
                      requires_grad=[True, False]))
    for name, si, s1, s2 in MM.ADD_PRODUCTS:
        for kw in MM.SCALES:
            fn = lambda i, a, b, n=name, kw=kw: getattr(lib(i), n)(i, a, b, **kw)  # noqa: E731
            c.append(Case(f"{name}-{si}-{s1}-{s2}-{kw}", fn, [si, s1, s2]))
        c.append(Case(f"{name}-method-{si}-{s1}-{s2}", lambda i, a, b, n=name: getattr(i, n)(a, b, beta=0.5, alpha=2.0),
                      [si, s1, s2], F64))
        c.append(Case(f"{name}-beta0-nan-{si}", lambda i, a, b, n=name: getattr(lib(i), n)(i, a, b, beta=0),
                      [np.full(si, np.nan), s1, s2]))
        c.append(Case(f"{name}-beta0-inf-{si}", lambda i, a, b, n=name: getattr(lib(i), n)(i, a, b, beta=0, alpha=3.0),
                      [np.full(si, np.inf), s1, s2]))
    return c


@pytest.mark.parametrize("case", _params(_matmul_family_cases()))
def test_matmul_family(case):
    run(case)


# ---------------------------------------------------------------------------------------- nn.functional
def _nn_functional_cases():
    c = []
    for k, (name, fn) in enumerate(NF.ACTS.items()):
        for shape in [(3, 4), (2, 3, 5), (), (0, 3)]:
            c.append(Case(f"{name}-{shape}", fn, [_normal(shape, k, 4.0)]))
        c.append(Case(f"{name}-edges", fn, [NF.EDGE]))  # every kink exactly, and far out
        c.append(Case(f"{name}-edges", fn, [NF.EDGE], F64))
        c.append(Case(f"{name}-(4, 5)", fn, [_normal((4, 5), k, 4.0)], F16, grad=False))
    for dim in [0, 1, -1]:
        c.append(Case(f"glu-{dim}", lambda x, d=dim: F(x).glu(x, d), [(4, 6, 2)]))
    c.append(Case("glu-1d", lambda x: F(x).glu(x), [(8,)], F64))
    for p in [2.0, 1.0, 3.0, 0.5, float("inf"), -float("inf"), 0.0]:
        for dim in [1, 0, -1]:
            inp = NF.Arg_away((3, 4, 2)) if p == 0.5 else (3, 4, 2)
            c.append(Case(f"normalize-{p}-{dim}", lambda x, p=p, d=dim: F(x).normalize(x, p=p, dim=d), [inp]))
        c.append(Case(f"normalize-{p}", lambda x, p=p: F(x).normalize(x, p=p), [NF.Arg_away((3, 4))], F64))
    zero_rows = np.array([[0.0, 0.0, 0.0], [1.0, -2.0, 2.0], [1e-13, 0.0, -1e-13]])
    for p in (2.0, 1.0, 3.0, float("inf")):
        c.append(Case(f"normalize-zero-rows-{p}", lambda a, p=p: F(a).normalize(a, p=p), [zero_rows], F64))
    c.append(Case("normalize-eps", lambda a: F(a).normalize(a, dim=0, eps=0.5), [zero_rows]))
    for xs, ns, w in [((3, 4), (4,), True), ((2, 3, 4), (3, 4), True), ((2, 5, 3), (5, 3), False), ((6,), (6,), False)]:
        if w:
            c.append(Case(f"rms_norm-{xs}-{ns}", lambda x, w, ns=ns: F(x).rms_norm(x, ns, w), [xs, ns]))
            c.append(Case(f"rms_norm-{xs}-{ns}", lambda x, w, ns=ns: F(x).rms_norm(x, ns, w, eps=1e-3), [xs, ns], F64))
            c.append(Case(f"rms_norm-{xs}-{ns}", lambda x, w, ns=ns: F(x).rms_norm(x, ns, w), [xs, ns], F16,
                          grad=False))
        else:
            c.append(Case(f"rms_norm-{xs}-{ns}", lambda x, ns=ns: F(x).rms_norm(x, list(ns)), [xs]))
    c.append(Case("rms_norm-zero-rows", lambda x: F(x).rms_norm(x, (3,)), [np.zeros((2, 3))]))
    for case, (a, b, kw) in NF.COS_CASES.items():
        fn = lambda x, y, kw=kw: F(x).cosine_similarity(x, y, **kw)  # noqa: E731
        c.append(Case(f"cosine_similarity-{case}", fn, [a, b]))
        c.append(Case(f"cosine_similarity-{case}", fn, [a, b], F64))
    x_small, y_small = np.array([[0.1, 0.2], [3.0, 4.0], [0.0, 0.0]]), np.array([[0.3, 0.1], [0.1, 0.05], [1.0, 2.0]])
    c.append(Case("cosine_similarity-clamped", lambda a, b: F(a).cosine_similarity(a, b, eps=1.0), [x_small, y_small]))
    c.append(Case("cosine_similarity-zero-vector", lambda a, b: F(a).cosine_similarity(a, b), [x_small, y_small]))
    for p in [2.0, 1.0, 3.0, float("inf"), -float("inf"), 0.0]:
        for shapes in [((3, 4), (3, 4)), ((3, 4), (4,)), ((5,), (5,)), ((2, 3, 4), (3, 4))]:
            c.append(Case(f"pairwise_distance-{p}-{shapes}", lambda x, y, p=p: F(x).pairwise_distance(x, y, p=p),
                          list(shapes)))
        c.append(Case(f"pairwise_distance-{p}-keepdim", lambda x, y, p=p: F(x).pairwise_distance(
            x, y, p=p, eps=1e-3, keepdim=True), [(3, 4), (4,)], F64))
    same = _normal((3, 4), 7)
    c.append(Case("pairwise_distance-identical", lambda a, b: F(a).pairwise_distance(a, b, eps=0.0),
                  [same, same.copy()]))
    for k, (name, f) in enumerate(NF.REG_LOSSES.items()):
        for reduction in NF.REDUCTIONS:
            for shape in [(3, 4), (), (2, 0)]:
                c.append(Case(f"{name}-{reduction}-{shape}", lambda a, b, f=f, r=reduction: f(a, b, r),
                              [_normal(shape, k, 2.0), _normal(shape, k + 100, 2.0)]))
        c.append(Case(f"{name}-mean", lambda a, b, f=f: f(a, b, "mean"), [(3, 4), (3, 4)], F64))
        d = np.array([0.0, 0.3, -0.3, 0.5, -0.5, 1.0, -1.0, 2.0, -2.0, 2.5, -2.5, 3.0])  # the kinks
        y = _normal(d.shape, k).round(2)
        c.append(Case(f"{name}-kinks", lambda a, b, f=f: f(a, b, "none"), [y + d, y], requires_grad=[True, False]))
    for name in ["l1_loss", "mse_loss", "huber_loss"]:
        for reduction in NF.REDUCTIONS:
            c.append(Case(f"{name}-weight-{reduction}", lambda x, y, w, n=name, r=reduction: getattr(F(x), n)(
                x, y, reduction=r, weight=w), [(3, 4), (3, 4), pos(3, 4)]))
    for name in ["l1_loss", "mse_loss", "smooth_l1_loss", "kl_div"]:
        for legacy in [{"size_average": False}, {"reduce": False}]:
            c.append(Case(f"{name}-legacy-{legacy}", lambda x, y, n=name, kw=legacy: getattr(F(x), n)(x, y, **kw),
                          [(3, 4), pos(3, 4)]))
    for reduction in NF.REDUCTIONS + ["batchmean"]:
        for log_target in (False, True):
            def kl(x, y, r=reduction, lt=log_target):
                t = F(y).log_softmax(y, -1) if lt else F(y).softmax(y, -1)
                return F(x).kl_div(F(x).log_softmax(x, -1), t, reduction=r, log_target=lt)
            c.append(Case(f"kl_div-softmax-{reduction}-{log_target}", kl, [(3, 5), (3, 5)]))
            c.append(Case(f"kl_div-{reduction}-{log_target}", lambda x, y, r=reduction, lt=log_target: F(x).kl_div(
                x, y, reduction=r, log_target=lt), [(2, 3, 4), unif(2, 3, 4, low=0.1, high=1.0)]))
        c.append(Case(f"kl_div-{reduction}", lambda x, y, r=reduction: F(x).kl_div(x, y, reduction=r),
                      [(3, 4), pos(3, 4)], F64))
    c.append(Case("kl_div-zero-targets", lambda x, y: F(x).kl_div(x, y, reduction="none"),
                  [(2, 3), np.array([[0.0, 0.5, 0.5], [0.2, 0.0, 0.8]])], requires_grad=[True, False]))
    c.append(Case("kl_div-batchmean-broadcast", lambda x, y: F(x).kl_div(x, y, reduction="batchmean"),
                  [(4, 3), pos(3)]))
    for case, (xs, t) in NF.NLL_CASES.items():
        cls = xs[0] if len(xs) == 1 else xs[1]
        for reduction in NF.REDUCTIONS:
            key = f"{case}-{reduction}"
            c.append(Case(f"nll_loss-{key}", lambda x, t, r=reduction: F(x).nll_loss(x, t, reduction=r), [xs, t]))
            c.append(Case(f"nll_loss-weighted-{key}", lambda x, t, w, r=reduction: F(x).nll_loss(x, t, w, reduction=r),
                          [xs, t, pos(cls)], requires_grad=[True, False, False]))
            c.append(Case(f"nll_loss-ignore1-{key}", lambda x, t, r=reduction: F(x).nll_loss(x, t, reduction=r,
                                                                                              ignore_index=1),
                          [xs, np.asarray(np.abs(t) % cls)]))
            if case == "empty":
                continue
            for ls in [0.0, 0.15]:
                c.append(Case(f"cross_entropy-weighted-{key}-{ls}",
                              lambda x, t, w, r=reduction, ls=ls: F(x).cross_entropy(
                                  x, t, w, reduction=r, label_smoothing=ls),
                              [xs, t, pos(cls)], requires_grad=[True, False, False]))
                c.append(Case(f"cross_entropy-weighted-ignore0-{key}-{ls}",
                              lambda x, t, w, r=reduction, ls=ls: F(x).cross_entropy(
                                  x, t, weight=w, ignore_index=0, reduction=r, label_smoothing=ls),
                              [xs, np.asarray(np.abs(t) % cls), pos(cls)], requires_grad=[True, False, False]))
        c.append(Case(f"nll_loss-weighted-{case}", lambda x, t, w: F(x).nll_loss(x, t, w), [xs, t, pos(cls)], F64,
                      requires_grad=[True, False, False]))
    for shape in [(4, 5), (3, 4, 2), (2, 3, 2, 2), (6,), (0, 3)]:
        cls, cdim = (shape[0], 0) if len(shape) == 1 else (shape[1], 1)
        for reduction in NF.REDUCTIONS:
            for ls in [0.0, 0.2]:
                kw = dict(reduction=reduction, label_smoothing=ls)
                c.append(Case(f"cross_entropy-probs-{shape}-{reduction}-{ls}",
                              lambda x, y, kw=kw, d=cdim: F(x).cross_entropy(x, F(y).softmax(y, d), **kw),
                              [shape, shape]))
                c.append(Case(f"cross_entropy-probs-weighted-{shape}-{reduction}-{ls}",
                              lambda x, y, w, kw=kw, d=cdim: F(x).cross_entropy(x, F(y).softmax(y, d), w, **kw),
                              [shape, shape, pos(cls)], requires_grad=[True, True, False]))
        c.append(Case(f"cross_entropy-probs-{shape}", lambda x, y, d=cdim: F(x).cross_entropy(x, F(y).softmax(y, d)),
                      [shape, shape], F64))
    return c


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # 0/0 = nan of empty / all-ignored batches (NumPy warns)
@pytest.mark.parametrize("case", _params(_nn_functional_cases()))
def test_nn_functional(case):
    run(case)


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "elu", "selu", "celu", "hardtanh", "relu6", "hardsigmoid",
                                  "hardswish", "mish", "silu"])
def test_inplace_activations_on_device(name):
    x_np = _normal((3, 4), 0, 4.0).astype(F32)
    want = getattr(tg.nn.functional, name)(tg.tensor(x_np), inplace=True)
    x = tg.tensor(x_np, device=DEVICE)
    y = getattr(tg.nn.functional, name)(x, inplace=True)
    assert y is x and x.device.type == DEVICE_TYPE
    _close(name, x, want, 5e-5, 1e-4)


# ----------------------------------------------------------------------------------------------- nn modules
def _module_cases():
    """(id, make(nn) -> Module, input arrays)."""
    c = [(f"act-{name}", make, [_normal((4, 6), k, 4.0)]) for k, (name, make) in enumerate(NM.ACTIVATIONS.items())]
    for shape in [8, (3, 8)]:
        for kw in [{}, {"eps": 1e-5}, {"elementwise_affine": False}]:
            c.append((f"RMSNorm-{shape}-{kw}", lambda T, s=shape, kw=kw: T.RMSNorm(s, **kw), [_normal((2, 3, 8))]))
    c += [("Flatten", lambda T: T.Flatten(), [_normal((2, 3, 4))]),
          ("Flatten-1-2", lambda T: T.Flatten(1, 2), [_normal((2, 3, 4, 5))]),
          ("Unflatten", lambda T: T.Unflatten(-1, (2, -1)), [_normal((3, 8))]),
          ("Flatten-Linear-Unflatten", lambda T: T.Sequential(T.Flatten(), T.Linear(12, 6), T.Unflatten(1, (2, 3))),
           [_normal((5, 3, 4))]),
          ("CosineSimilarity", lambda T: T.CosineSimilarity(dim=-1, eps=1e-3), [_normal((2, 3, 4)), _normal(4, 1)]),
          ("PairwiseDistance", lambda T: T.PairwiseDistance(p=1.0, keepdim=True), [_normal((3, 4)), _normal(4, 1)]),
          ("small-model", lambda T: T.Sequential(T.Linear(5, 8), T.RMSNorm(8), T.Mish(), T.Linear(8, 6), T.GLU(),
                                                 T.Hardswish()), [_normal((7, 5))])]
    for k, (name, (make, spec)) in enumerate(NM.LOSSES.items()):
        data = [_normal(s, k) if isinstance(s, tuple) else np.asarray(s) for s in spec()]
        for reduction in ["mean", "sum", "none"]:
            c.append((f"{name}-{reduction}", lambda T, m=make, r=reduction: m(T, r), data))
    w = np.random.default_rng(5).uniform(0.5, 2.0, 4)
    probs = 1 / (1 + np.exp(-_normal((3, 4), 6)))
    c += [("CrossEntropyLoss-weight", lambda T: T.CrossEntropyLoss(weight=tg.tensor(w), label_smoothing=0.2),
           [_normal((5, 4)), np.array([0, 3, -100, 2, 1])]),
          ("NLLLoss-weight", lambda T: T.NLLLoss(weight=tg.tensor(w)), [_normal((5, 4, 3)), ints(5, 3, high=4).make(
              np.random.default_rng(0), F32)]),
          ("BCELoss-weight", lambda T: T.BCELoss(weight=tg.tensor(w)), [probs, probs[::-1].copy()]),
          ("BCEWithLogitsLoss-weight", lambda T: T.BCEWithLogitsLoss(weight=tg.tensor(w), pos_weight=tg.tensor(w * 2)),
           [_normal((3, 4)), probs])]
    return c


MODULES = _module_cases()


@pytest.mark.filterwarnings("ignore::UserWarning")  # KLDivLoss(reduction='mean')
@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("name,make,data", MODULES, ids=[m[0] for m in MODULES])
def test_module_on_device(name, make, data, dtype):
    """The same module (same seed, so the same weights) on the CPU and moved to CUDA: parameters and buffers move,
    and the output, every float input's gradient and every parameter's gradient match."""
    atol, rtol = (5e-5, 1e-4) if dtype == F32 else (1e-9, 1e-9)
    res = {}
    for d in ("cpu", DEVICE):
        tg.manual_seed(0)
        m = make(tg.nn).to(d, dtype)
        for n, t in list(m.named_parameters()) + list(m.named_buffers()):
            assert t.device.type == tg.device(d).type, f"{n} on {t.device}"
        xs = [tg.tensor(a.astype(dtype) if a.dtype.kind == "f" else a, device=d, requires_grad=a.dtype.kind == "f")
              for a in data]
        y = m(*xs)
        assert y.device.type == tg.device(d).type and y.dtype == dtype
        y.backward(tg.tensor(np.random.default_rng(1).standard_normal(y.shape).astype(dtype), device=d))
        res[d] = (y, xs, dict(m.named_parameters()))
    (y, xs, ps), (yc, xc, pc) = res[DEVICE], res["cpu"]
    _close("output", y, yc, atol, rtol)
    for i, (a, b) in enumerate(zip(xs, xc)):
        if b.requires_grad:
            assert a.grad.device.type == DEVICE_TYPE
            _close(f"grad of input {i}", a.grad, b.grad, atol, rtol)
    assert list(ps) == list(pc)
    for n in pc:
        assert ps[n].grad.device.type == DEVICE_TYPE, n
        _close(f"grad of {n}", ps[n].grad, pc[n].grad, atol, rtol)
