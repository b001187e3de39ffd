"""Property tests (hypothesis): random shapes and broadcastable shape pairs for elementwise, broadcast, reduce,
movement and matmul ops, each compared to PyTorch forward + backward (random cotangent) in float64."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

from helpers import check_op, lib, F, pos, nz, bools

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
seeds = st.integers(0, 2 ** 16)
shapes = array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4)
pairs = mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, min_side=1, max_side=4)

BINARY = {
    "add": (lambda a, b: a + b, lambda s: s, lambda s: s),
    "sub": (lambda a, b: a - b, lambda s: s, lambda s: s),
    "mul": (lambda a, b: a * b, lambda s: s, lambda s: s),
    "div": (lambda a, b: a / b, lambda s: s, lambda s: nz(*s, away=0.0)),
    "pow": (lambda a, b: a ** b, lambda s: pos(*s), lambda s: s),
    "maximum": (lambda a, b: lib(a).maximum(a, b), lambda s: s, lambda s: s),
    "minimum": (lambda a, b: lib(a).minimum(a, b), lambda s: s, lambda s: s),
}


@SETTINGS
@given(name=st.sampled_from(sorted(BINARY)), shp=pairs, seed=seeds)
def test_binary_broadcast(name, shp, seed):
    fn, da, db = BINARY[name]
    sa, sb = shp.input_shapes
    check_op(fn, inputs=[da(sa), db(sb)], seed=seed)


UNARY = {
    "exp": (lambda x: x.exp(), lambda s: s), "log": (lambda x: x.log(), lambda s: pos(*s)),
    "sqrt": (lambda x: x.sqrt(), lambda s: pos(*s)), "rsqrt": (lambda x: x.rsqrt(), lambda s: pos(*s)),
    "tanh": (lambda x: x.tanh(), lambda s: s), "sigmoid": (lambda x: x.sigmoid(), lambda s: s),
    "relu": (lambda x: x.relu(), lambda s: nz(*s)), "abs": (lambda x: x.abs(), lambda s: nz(*s)),
    "neg": (lambda x: -x, lambda s: s), "clamp": (lambda x: x.clamp(-0.5, 0.5), lambda s: nz(*s, away=[-0.5, 0.5])),
    "gelu": (lambda x: F(x).gelu(x), lambda s: s),
    "softmax": (lambda x: x.softmax(-1) if x.ndim else x * 1, lambda s: s),
}


@SETTINGS
@given(name=st.sampled_from(sorted(UNARY)), shape=shapes, seed=seeds)
def test_unary(name, shape, seed):
    fn, dom = UNARY[name]
    check_op(fn, inputs=[dom(shape)], seed=seed)


@SETTINGS
@given(shp=mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, min_side=1, max_side=4), seed=seeds)
def test_where_broadcast(shp, seed):
    sc, sa, sb = shp.input_shapes
    check_op(lambda c, a, b: lib(a).where(c, a, b), inputs=[bools(*sc), sa, sb], seed=seed)


@SETTINGS
@given(shp=pairs, seed=seeds, value=st.sampled_from([0.0, -1e9, 3.5]))
def test_masked_fill_broadcast(shp, seed, value):
    sx, sm = shp.input_shapes
    # The mask must broadcast *to* x: keep pairs where x already has the full broadcast shape.
    if np.broadcast_shapes(sx, sm) != tuple(sx):
        sx = shp.result_shape
    check_op(lambda x, m: x.masked_fill(m, value), inputs=[sx, bools(*sm)], seed=seed)


@st.composite
def reduce_case(draw):
    shape = draw(array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4))
    n = len(shape)
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none":
        dim = None
    elif kind == "int":
        dim = draw(st.integers(-n, n - 1))
    else:
        ds = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n, unique=True))
        dim = tuple(d - n if draw(st.booleans()) else d for d in ds)  # mix of negative and positive dims
    return shape, dim, draw(st.booleans())


REDUCE = ["sum", "mean", "amax", "amin", "var", "std", "logsumexp"]


@SETTINGS
@given(name=st.sampled_from(REDUCE), case=reduce_case(), seed=seeds, correction=st.sampled_from([0, 1]))
def test_reductions(name, case, seed, correction):
    shape, dim, keepdim = case
    if name == "logsumexp" and dim is None:
        dim = tuple(range(len(shape)))
    kw = {} if dim is None else {"dim": dim, "keepdim": keepdim}
    if name in ("var", "std"):
        reduced = np.prod([shape[d] for d in (range(len(shape)) if dim is None else np.atleast_1d(dim))])
        if reduced <= correction:
            correction = 0  # n - correction must stay positive (else inf / nan in both libraries)
        if reduced == 1 and name == "std":
            return  # std of one element: sqrt(0) has an infinite derivative
        kw["correction"] = correction
    if name == "logsumexp":
        check_op(lambda x: x.logsumexp(dim, keepdim=keepdim), inputs=[shape], seed=seed)
    else:
        check_op(lambda x: getattr(x, name)(**kw), inputs=[shape], seed=seed)


@SETTINGS
@given(case=reduce_case(), seed=seeds, name=st.sampled_from(["max", "min"]))
def test_max_min_dim(case, seed, name):
    shape, dim, keepdim = case
    d = dim if isinstance(dim, int) else len(shape) - 1
    check_op(lambda x: getattr(x, name)(d, keepdim=keepdim), inputs=[shape], seed=seed)


@st.composite
def movement_case(draw):
    shape = draw(array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4))
    n = len(shape)
    kind = draw(st.sampled_from(["permute", "transpose", "reshape", "unsqueeze", "squeeze", "expand", "flatten",
                                 "slice", "index", "chain"]))
    if kind == "permute":
        perm = draw(st.permutations(range(n)))
        return shape, lambda x: x.permute(*perm)
    if kind == "transpose":
        a, b = draw(st.integers(-n, n - 1)), draw(st.integers(-n, n - 1))
        return shape, lambda x: x.transpose(a, b)
    if kind == "reshape":
        total = int(np.prod(shape))
        divs = [d for d in range(1, total + 1) if total % d == 0]
        d0 = draw(st.sampled_from(divs))
        new = (d0, -1) if draw(st.booleans()) else (-1, d0)
        return shape, lambda x: x.reshape(*new)
    if kind == "unsqueeze":
        d = draw(st.integers(-n - 1, n))
        return shape, lambda x: x.unsqueeze(d)
    if kind == "squeeze":
        shape = tuple(1 if draw(st.booleans()) else s for s in shape)
        d = draw(st.one_of(st.none(), st.integers(-n, n - 1)))
        return shape, (lambda x: x.squeeze()) if d is None else (lambda x: x.squeeze(d))
    if kind == "expand":
        shape = tuple(1 if draw(st.booleans()) else s for s in shape)
        lead = draw(st.lists(st.integers(1, 3), max_size=2))
        target = tuple(lead) + tuple(draw(st.integers(1, 3)) if s == 1 else s for s in shape)
        return shape, lambda x: x.expand(*target)
    if kind == "flatten":
        a = draw(st.integers(0, n - 1))
        b = draw(st.integers(a, n - 1))
        return shape, lambda x: x.flatten(a, b)
    if kind == "slice":
        idx = []
        for s in shape:
            start = draw(st.integers(-s, s - 1))
            stop = draw(st.one_of(st.none(), st.integers(-s, s)))
            step = draw(st.integers(1, 3))
            idx.append(slice(start, stop, step))
        idx = tuple(idx)
        return shape, lambda x: x[idx]
    if kind == "index":
        # integer-array indexing along the first dim, duplicates likely (gradients must accumulate)
        rows = draw(st.lists(st.integers(-shape[0], shape[0] - 1), min_size=1, max_size=6))
        return shape, lambda x: x[rows]
    perm = draw(st.permutations(range(n)))
    return shape, lambda x: x.permute(*perm).contiguous().reshape(-1).unsqueeze(0) * 2


@SETTINGS
@given(case=movement_case(), seed=seeds)
def test_movement(case, seed):
    shape, fn = case
    check_op(fn, inputs=[shape], seed=seed)


@SETTINGS
@given(shp=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2, min_side=1, max_side=3),
       m=st.integers(1, 4), k=st.integers(1, 4), n=st.integers(1, 4), seed=seeds,
       vec=st.sampled_from(["none", "left", "right"]))
def test_matmul_broadcast(shp, m, k, n, seed, vec):
    ba, bb = shp.input_shapes
    sa = (k,) if vec == "left" else tuple(ba) + (m, k)
    sb = (k,) if vec == "right" else tuple(bb) + (k, n)
    check_op(lambda a, b: a @ b, inputs=[sa, sb], seed=seed)


@SETTINGS
@given(shapes_=st.lists(array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3), min_size=1, max_size=3),
       seed=seeds, dim_seed=st.integers(0, 100))
def test_cat_stack(shapes_, seed, dim_seed):
    base = list(shapes_[0])
    d = dim_seed % len(base)
    ins = []
    for s in shapes_:
        sh = list(base)
        sh[d] = s[0]
        ins.append(tuple(sh))
    check_op(lambda *xs: lib(xs[0]).cat(xs, d - len(base) if dim_seed % 2 else d), inputs=ins, seed=seed)
    check_op(lambda *xs: lib(xs[0]).stack(xs, d), inputs=[tuple(base)] * len(ins), seed=seed)
