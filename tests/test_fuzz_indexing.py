"""Differential fuzzing against PyTorch of indexing reads and writes, forward values and gradients: basic and advanced
indexing mixed (ints, slices -- negative steps refused as torch refuses them --, None, Ellipsis, bool masks over some
of the dims, int tensors of several dims broadcasting together, Python lists, advanced indices separated by a slice,
whose dims torch moves to the front), setitem with broadcast values and duplicate positions, index_put_ with and
without accumulate, index_add_/index_copy_/index_fill_, masked_fill_/masked_scatter_, put_/take/take_along_dim,
scatter_ (src, value, reduce='add'/'multiply'), scatter_add and scatter_reduce (sum/prod/mean/amax/amin,
include_self).

Where torch leaves a result undefined -- a plain write to one position twice (index_put_, index_copy_, scatter_, put_
without accumulate) -- the generators draw distinct positions, or values that agree at the repeated positions. The
harness is test_fuzz_recent's (outcome kind, values, every float input's gradient); ``run_case(name, arrays, kw,
SPECS)`` from test_fuzz_torch reproduces a failure."""
import numpy as np
import pytest
import torch
from hypothesis import strategies as st

import tensorgrad as tg

from test_fuzz_recent import EXAMPLES, arr, check_against_torch, lay
from test_fuzz_torch import BOOL, F32, F64, I64, Op, shapes

OPS = []


def op(name, gen, call, **kw):
    OPS.append(Op(name, gen, call, **kw))


# ------------------------------------------------------------------------------------------ index expressions
@st.composite
def index_expr(draw, shape, first_array):
    """An index for shape as tokens (the index arrays drawn alongside, numbered from first_array): ('i', k) an int,
    ('s', a, b, c) a slice, ('n',) None, ('e',) Ellipsis, ('a', j) an int or bool array, ('l', [..]) a list."""
    toks, arrays, d = [], [], 0
    bshape = draw(st.sampled_from([(), (2,), (1,), (2, 1), (1, 3), (0,)]))   # what the int arrays broadcast to
    ellipsis = draw(st.integers(0, 4)) == 0
    while d < len(shape):
        s = shape[d]
        kind = draw(st.sampled_from(["i", "s", "s", "n", "a", "a", "m", "l", "full"] + (["e"] if ellipsis else [])))
        if kind == "e":
            toks.append(("e",))
            ellipsis = False
            d = max(d, len(shape) - draw(st.integers(0, len(shape) - d)))
            continue
        if kind == "n":
            toks.append(("n",))
            continue
        if kind == "i":
            toks.append(("i", draw(st.integers(-s - 1 if draw(st.integers(0, 9)) == 0 else -s, max(s - 1, 0)))))
        elif kind == "s":
            step = draw(st.sampled_from([1, 1, 2, 3, -1]))   # (-1: torch refuses negative steps)
            toks.append(("s", draw(st.sampled_from([None, 0, 1, -1, -s, s + 1])),
                         draw(st.sampled_from([None, s, -1, 1, 0])), step))
        elif kind == "a":
            sh = tuple(draw(st.sampled_from([b, 1])) for b in bshape[len(bshape) - draw(st.integers(0, len(bshape))):])
            hi = max(s, 1)
            a = draw(arr(I64, sh, lo=-hi, hi=hi - 1)) if s else np.zeros(sh, I64)
            toks.append(("a", first_array + len(arrays)))
            arrays.append(a)
        elif kind == "m":   # a bool mask over this and maybe the next dim
            k = draw(st.integers(1, max(1, min(2, len(shape) - d))))
            toks.append(("a", first_array + len(arrays)))
            arrays.append(draw(arr(BOOL, tuple(shape[d:d + k]))))
            d += k
            continue
        elif kind == "l":
            toks.append(("l", draw(st.lists(st.integers(-max(s, 1), max(s, 1) - 1), min_size=1, max_size=3))))
        else:
            toks.append(("s", None, None, 1))
        d += 1
    if draw(st.integers(0, 5)) == 0:
        toks.insert(draw(st.integers(0, len(toks))), ("n",))
    return toks, arrays


def build(toks, idx_tensors):
    out = []
    for t in toks:
        out.append({"i": lambda: t[1], "s": lambda: slice(t[1], t[2], t[3]), "n": lambda: None,
                    "e": lambda: Ellipsis, "a": lambda: idx_tensors[t[1]], "l": lambda: list(t[1])}[t[0]]())
    return tuple(out)


def _np_target(x_shape, toks, arrays):
    """The shape x[index] has, by NumPy's rules (torch's for these indices), or None when NumPy refuses it."""
    try:
        ids = np.arange(int(np.prod(x_shape))).reshape(x_shape)
        idx = tuple(slice(t[1], t[2], abs(t[3])) if t[0] == "s" else t[1] if t[0] in "il" else None if t[0] == "n"
                    else Ellipsis if t[0] == "e" else arrays[t[1]] for t in toks)
        sel = ids[idx]
        return sel.shape, len(np.unique(sel)) != sel.size
    except (IndexError, ValueError):
        return None, False


@st.composite
def getitem_gen(draw, write=False):
    x = draw(arr(draw(st.sampled_from([F32, F64])), draw(shapes(1, 4, 0, 4))))
    toks, idx = draw(index_expr(x.shape, 1))
    kw = {"toks": toks, "layout": draw(st.sampled_from(["c", "t", "s", "e"]))}
    if not write:
        return [x] + idx, kw
    target, dup = _np_target(x.shape, toks, idx)
    if target is None or draw(st.integers(0, 6)) == 0:
        vshape = ()
    else:   # a value broadcasting to the target, constant over its dims where positions repeat
        vshape = tuple(1 if dup or draw(st.integers(0, 3)) == 0 else t for t in target)
        vshape = vshape[draw(st.integers(0, len(vshape))):]
    kw["nv"] = len(idx)
    return [x] + idx + [draw(arr(x.dtype.type, vshape, special=False))], kw


def _get(m, x, *rest, toks, layout):
    return lay(m, x, layout)[build(toks, (None,) + rest)]


def _set(m, x, *rest, toks, layout, nv):
    y = lay(m, x, layout) * 1   # (a non-leaf copy: the write's gradient reaches x through the unwritten part)
    y[build(toks, (None,) + rest[:-1])] = rest[-1]
    return y


op("getitem-mixed", getitem_gen(), _get)
op("setitem-mixed", getitem_gen(write=True), _set)
# (a value of another dtype: a basic index copies it in with a cast, an advanced one is torch's index_put_, which
# refuses it -- except a lone bool mask with a 0-d value, its masked_fill_)
op("setitem-other-dtype", getitem_gen(write=True), lambda m, x, *rest, toks, layout, nv: _set(
    m, x, *rest[:-1], rest[-1].to(m.float64 if rest[-1].dtype == m.float32 else m.float32), toks=toks,
    layout=layout, nv=nv))


# ------------------------------------------------------------------------------------ index_put_ and friends
@st.composite
def put_gen(draw, distinct=False, k_max=2):
    x = draw(arr(draw(st.sampled_from([F32, F64])), draw(shapes(1, 3, 1, 4))))
    k = draw(st.integers(1, min(k_max, x.ndim)))
    n = draw(st.integers(0, 4))
    if distinct:
        flat = draw(st.permutations(range(int(np.prod(x.shape[:k])))))[:n]
        idx = [a.astype(I64) for a in np.unravel_index(np.array(flat, dtype=I64), x.shape[:k])]
        idx = [np.where(draw(st.booleans()), a - s, a) for a, s in zip(idx, x.shape)]   # (some negative)
    else:
        idx = [draw(arr(I64, (n,), lo=-s, hi=s - 1)) for s in x.shape[:k]]
    target = (len(idx[0]),) + x.shape[k:]
    vshape = target[draw(st.integers(0, len(target))):]
    vshape = tuple(1 if draw(st.integers(0, 3)) == 0 else s for s in vshape)
    return [x, draw(arr(x.dtype.type, vshape, special=False))] + idx, {"layout": draw(st.sampled_from("cts"))}


op("index_put-accumulate", put_gen(), lambda m, x, v, *idx, layout: lay(m, x, layout).index_put(
    tuple(idx), v, accumulate=True))
op("index_put-distinct", put_gen(distinct=True), lambda m, x, v, *idx, layout: lay(m, x, layout).index_put(
    tuple(idx), v))
op("index_put_-inplace", put_gen(), lambda m, x, v, *idx, layout: (lay(m, x, layout) * 1).index_put_(
    tuple(idx), v, accumulate=True))


@st.composite
def dim_index_gen(draw, distinct=False, min_dims=1):
    """x, a source of x's shape with dim d resized to len(index), and the index along d."""
    x = draw(arr(draw(st.sampled_from([F32, F64])), draw(shapes(min_dims, 3, 1, 4))))
    d = draw(st.integers(-x.ndim, x.ndim - 1)) if x.ndim else 0
    s = x.shape[d] if x.ndim else 1
    n = draw(st.integers(0, 4))
    if distinct:
        idx = np.array(draw(st.permutations(range(s)))[:n], dtype=I64)
    else:
        idx = draw(arr(I64, (n,), lo=0, hi=s - 1 if draw(st.integers(0, 9)) else s))   # (rarely out of range)
    src_shape = list(x.shape)
    if x.ndim:
        src_shape[d] = len(idx)
    src = draw(arr(x.dtype.type, tuple(src_shape), special=False))
    return [x, src, idx], {"d": d, "layout": draw(st.sampled_from("cts")),
                           "alpha": draw(st.sampled_from([1, 2.5, -1]))}


op("index_add", dim_index_gen(), lambda m, x, src, i, d, layout, alpha: lay(m, x, layout).index_add(
    d, i, src, alpha=alpha))
op("index_add_-inplace", dim_index_gen(), lambda m, x, src, i, d, layout, alpha: (lay(m, x, layout) * 1).index_add_(
    d, i, src, alpha=alpha))
op("index_copy", dim_index_gen(distinct=True), lambda m, x, src, i, d, layout, alpha: lay(m, x, layout).index_copy(
    d, i, src))
op("index_fill-tensor", dim_index_gen(), lambda m, x, src, i, d, layout, alpha: (lay(m, x, layout) * 1).index_fill_(
    d, i, src.reshape(-1)[:1].sum() * alpha))
op("index_fill-scalar", dim_index_gen(), lambda m, x, src, i, d, layout, alpha: lay(m, x, layout).index_fill(
    d, i, alpha))
op("index_select", dim_index_gen(), lambda m, x, src, i, d, layout, alpha: lay(m, x, layout).index_select(d, i))


@st.composite
def mask_gen(draw):
    x = draw(arr(draw(st.sampled_from([F32, F64])), draw(shapes(0, 3, 0, 3))))
    k = draw(st.integers(0, x.ndim))
    mask = draw(arr(BOOL, x.shape[k:]))
    need = int(mask.sum()) * int(np.prod(x.shape[:k]))   # (one short now and then: both must refuse)
    src = draw(arr(x.dtype.type, (draw(st.integers(max(need - 1, 0), need + 2)),), special=False))
    return [x, src, mask], {"layout": draw(st.sampled_from("cts"))}


op("masked_fill-tensor", mask_gen(), lambda m, x, src, mask, layout: lay(m, x, layout).masked_fill(
    mask, src[:1].sum() - 1))
op("masked_fill_-inplace", mask_gen(), lambda m, x, src, mask, layout: (lay(m, x, layout) * 1).masked_fill_(
    mask, 2.5))
op("masked_scatter", mask_gen(), lambda m, x, src, mask, layout: lay(m, x, layout).masked_scatter(mask, src))
op("masked_scatter_-inplace", mask_gen(), lambda m, x, src, mask, layout: (lay(m, x, layout) * 1).masked_scatter_(
    mask, src))
op("masked_select", mask_gen(), lambda m, x, src, mask, layout: lay(m, x, layout).masked_select(mask))


@st.composite
def flat_gen(draw, distinct=False):
    x = draw(arr(draw(st.sampled_from([F32, F64])), draw(shapes(0, 3, 0, 3))))
    n = draw(st.integers(0, 5))
    size = x.size
    if distinct:
        idx = np.array(draw(st.permutations(range(size)))[:n], dtype=I64) - (size if draw(st.booleans()) else 0)
    else:
        idx = draw(arr(I64, (n,), lo=-max(size, 1), hi=max(size, 1) - (1 if draw(st.integers(0, 9)) else 0)))
    ishape = draw(st.sampled_from([(len(idx),), (1, len(idx))]))
    return [x, draw(arr(x.dtype.type, ishape, special=False)), idx.reshape(ishape)], {
        "layout": draw(st.sampled_from("cts"))}


op("take", flat_gen(), lambda m, x, src, i, layout: m.take(lay(m, x, layout), i))
op("put-accumulate", flat_gen(), lambda m, x, src, i, layout: lay(m, x, layout).put(i, src, accumulate=True))
op("put-distinct", flat_gen(distinct=True), lambda m, x, src, i, layout: lay(m, x, layout).put(i, src))
op("put_-inplace", flat_gen(), lambda m, x, src, i, layout: (lay(m, x, layout) * 1).put_(i, src, accumulate=True))


# ------------------------------------------------------------------------------------------------- scatter
@st.composite
def scatter_gen(draw, distinct=False, special=True):
    """x, src and an index for dim d no larger than x (or src) in any dim, as torch's scatter asks."""
    x = draw(arr(draw(st.sampled_from([F32, F64])), draw(shapes(1, 3, 1, 4)), special=special))
    d = draw(st.integers(-x.ndim, x.ndim - 1))
    # (no empty index: torch's backward of a scatter through one raises where the forward returned)
    ishape = tuple(draw(st.integers(1, s)) for s in x.shape)
    size = x.shape[d]
    if distinct:   # each index row along d a permutation prefix: no position written twice
        ishape = tuple(min(s, size) if i == d % x.ndim else s for i, s in enumerate(ishape))
        rows = [draw(st.permutations(range(size)))[:ishape[d]] for _ in range(int(np.prod(ishape)) // max(
            ishape[d], 1) if ishape[d] else 0)]
        idx = np.moveaxis(np.array(rows, dtype=I64).reshape(tuple(np.delete(ishape, d % x.ndim)) + (ishape[d],)),
                          -1, d) if rows else np.zeros(ishape, I64)
    else:
        idx = draw(arr(I64, ishape, lo=0, hi=size - 1 if draw(st.integers(0, 9)) else size))
    # (src of the index's shape: torch's gradient for a larger src raises in scatter and is wrong in scatter_reduce)
    src = draw(arr(x.dtype.type, ishape, special=False))
    return [x, src, idx], {"d": d, "layout": draw(st.sampled_from("cts"))}


op("scatter-src", scatter_gen(distinct=True), lambda m, x, src, i, d, layout: lay(m, x, layout).scatter(d, i, src))
op("scatter-value", scatter_gen(), lambda m, x, src, i, d, layout: lay(m, x, layout).scatter(d, i, -1.5))
op("scatter_-inplace", scatter_gen(distinct=True), lambda m, x, src, i, d, layout: (lay(m, x, layout) * 1).scatter_(
    d, i, src))
op("scatter_add", scatter_gen(), lambda m, x, src, i, d, layout: lay(m, x, layout).scatter_add(d, i, src))
# (no gradients: torch has none for scatter_'s reduce= and raises)
for _r in ["add", "multiply"]:
    op(f"scatter-reduce-{_r}", scatter_gen(), (lambda r: lambda m, x, src, i, d, layout: (lay(m, x, layout) * 1).scatter_(
        d, i, src, reduce=r))(_r), grad=False)
    op(f"scatter-value-reduce-{_r}", scatter_gen(), (lambda r: lambda m, x, src, i, d, layout: (
        lay(m, x, layout) * 1).scatter_(d, i, 2.0, reduce=r))(_r), grad=False)
# (include_self=False with amax/amin: self kept clear of the src values, torch counts an excluded self equal to the
# result among the ties and loses its share of the gradient -- test_torch_scatter_reduce_amax_excluded_self_tie;
# a finite self: torch's gradient formulas give NaN for a NaN or infinite self even where it is not scattered to)
for _r in ["sum", "prod", "mean", "amax", "amin"]:
    for _inc in [True, False]:
        op(f"scatter_reduce-{_r}-{'self' if _inc else 'noself'}", scatter_gen(special=_r in ("sum", "mean")),
           (lambda r, inc: lambda m, x, src, i, d, layout: (lay(m, x, layout) + (
               0 if inc or r not in ("amax", "amin") else 1000)).scatter_reduce(d, i, src, r, include_self=inc))(
               _r, _inc), tol="loose")
op("gather", scatter_gen(), lambda m, x, src, i, d, layout: lay(m, x, layout).gather(d, i))
op("take_along_dim", scatter_gen(), lambda m, x, src, i, d, layout: m.take_along_dim(lay(m, x, layout), i, d))
op("take_along_dim-flat", flat_gen(), lambda m, x, src, i, layout: m.take_along_dim(lay(m, x, layout), i.reshape(-1)))

SPECS = {s.name: s for s in OPS}
assert len(SPECS) == len(OPS), "op names in the table must be unique"


@pytest.mark.parametrize("spec", [pytest.param(s, id=s.name) for s in OPS])
def test_matches_torch(spec):
    check_against_torch(spec, EXAMPLES)


# ------------------------------------------------------------------------- torch's own defects, for the record
def test_torch_scatter_reduce_amax_excluded_self_tie():
    # out[0] = max(src[0], src[1]) = src[0], a unique maximum: d out[0] / d src[0] = 1. torch counts the excluded
    # self[0] (equal to the result) among the ties and gives 0.5
    for m in (tg, torch):
        s = m.tensor([3.0, 5.0], requires_grad=True)
        src = m.tensor([3.0, 1.0], requires_grad=True)
        s.scatter_reduce(0, m.tensor([0, 0]), src, "amax", include_self=False).backward(m.ones(2))
        assert src.grad.tolist() == ([1.0, 0.0] if m is tg else [0.5, 0.0])
        assert s.grad.tolist() == [0.0, 1.0]
