"""Differential fuzzing against PyTorch for the functions the last two swap-in rounds added and nobody but their
authors had tested: torch.* compat functions (extra_compat, extra_math), shape helpers (extra_shape), statistics
(extra_stats), index writes (extra_index), in-place methods on views (extra_methods), the recurrent cells,
torch.distributions and sparse COO tensors. Same harness as test_fuzz_torch (outcome kind, shapes, dtypes, values,
every floating input's gradient for a random cotangent). Inputs also come non-contiguous: ``layout`` turns an input
into a transposed, step-sliced or expanded view holding the same values before the op sees it, in both frameworks.
``run_case(name, arrays, kw)`` here reproduces a failure."""
import math
import os

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st

import tensorgrad as tg
import test_fuzz_torch as _fuzz
from test_fuzz_torch import BOOL, F32, F64, I64, Op, _kw, shapes

F16 = np.float16
OPS = []
# Examples per op in the default run (the two recent-op tables stay near a minute on 2 cores); the deep variant,
# marked slow and run with TENSORGRAD_FUZZ_DEEP=1, draws DEEP; TENSORGRAD_FUZZ_EXAMPLES sets both.
EXAMPLES = int(os.environ.get("TENSORGRAD_FUZZ_EXAMPLES", "20"))
DEEP = int(os.environ.get("TENSORGRAD_FUZZ_EXAMPLES", "300"))
deep = pytest.mark.skipif(not os.environ.get("TENSORGRAD_FUZZ_DEEP"), reason="set TENSORGRAD_FUZZ_DEEP=1")


def check_against_torch(spec, examples):
    """test_fuzz_torch.check_against_torch with this file's example count."""
    @settings(derandomize=True, deadline=None, database=None, max_examples=examples,
              suppress_health_check=list(HealthCheck), print_blob=False)
    @given(case=spec.gen, cot_seed=st.integers(0, 2 ** 16))
    def check(case, cot_seed):
        arrays, kw = case
        diff = _fuzz.compare(spec, arrays, kw, cot_seed)
        assert diff is None, f"{spec.name}: {diff}\n  reproduce: {_fuzz.reproducer(spec.name, arrays, kw)}"

    check()


def op(name, gen, call, **kw):
    OPS.append(Op(name, gen, call, **kw))


# ------------------------------------------------------------------------------------------------- strategies
def lay(m, x, layout):
    """x's values as a non-contiguous view: 't' a transposed copy transposed back, 's' every other element of a
    stack, 'e' an expanded size-1 dim sliced back; the gradient reaches x through each."""
    if layout == "t" and x.ndim >= 2:
        return x.mT.contiguous().mT
    if layout == "s":
        return m.stack([x, x * 0], -1)[..., 0]
    if layout == "e":
        return x.unsqueeze(0).expand((2,) + tuple(x.shape))[1]
    return x


_LAYOUT = st.sampled_from(["c", "t", "s", "e"])
_EDGE = {F32: [0.0, -0.0, 1.0, -1.0, math.inf, -math.inf, math.nan, 1e-40, 3e38, -2.5, 0.5],
         F64: [0.0, -0.0, 1.0, -1.0, math.inf, -math.inf, math.nan, 5e-320, 1e300, -2.5, 0.5],
         F16: [0.0, -0.0, 1.0, -1.0, math.inf, -math.inf, math.nan, 6e-8, 6e4, -2.5, 0.5]}


def values(dt, special=True, lo=-4, hi=4):
    if dt == BOOL:
        return st.booleans()
    if np.dtype(dt).kind in "iu":
        return st.integers(lo, hi)
    width = {F16: 16, F32: 32, F64: 64}[dt]
    plain = st.floats(lo, hi, width=width)
    ties = st.sampled_from([0.0, 1.0, -1.0, 2.0, 0.5])
    if not special:
        return st.one_of(plain, ties)
    return st.one_of(plain, ties, st.sampled_from(_EDGE[dt]))


def arr(dt, shape, special=True, lo=-4, hi=4):
    from hypothesis.extra import numpy as hnp
    return hnp.arrays(dt, shape, elements=values(dt, special, lo, hi))


def gen(n=1, dtypes=(F32, F64), special=True, min_dims=0, max_dims=3, min_side=0, max_side=3, bcast=True,
        mixed=False, lo=-4, hi=4, extra=None):
    """n arrays (broadcastable shapes when bcast, one dtype unless mixed) and kw with a layout and extra's keys."""
    @st.composite
    def g(draw):
        dt = draw(st.sampled_from(dtypes))
        s = draw(shapes(min_dims, max_dims, min_side, max_side))
        out = []
        for i in range(n):
            si = s
            if i and bcast:
                k = draw(st.integers(0, len(s)))
                si = tuple(1 if draw(st.booleans()) else d for d in s[len(s) - k:])
            dti = draw(st.sampled_from(dtypes)) if mixed else dt
            out.append(draw(arr(dti, si, special, lo, hi)))
        kw = {"layout": draw(_LAYOUT)}
        if extra is not None:
            kw.update(draw(extra(out) if callable(extra) else extra))
        return out, kw
    return g()


def _dim(min_nd=0, tup=False, keep=True, none=False):
    """extra= for gen: a dim valid (or, rarely, invalid) for the first array, optionally keepdim."""
    def e(out):
        nd = out[0].ndim
        opts = list(range(-max(nd, 1), max(nd, 1)))
        ds = st.sampled_from(opts + ([None] if none else []) + [max(nd, 1)])   # (the last: out of range)
        kw = {"dim": ds}
        if keep:
            kw["keepdim"] = st.booleans()
        return st.fixed_dictionaries(kw)
    return e


def un(f):
    """call for a one-input op: f(m, x_laid_out, **kw)."""
    return lambda m, x, layout, **k: f(m, lay(m, x, layout), **k)


def bi(f):
    return lambda m, a, b, layout, **k: f(m, lay(m, a, layout), b, **k)


INT_F = (F32, F64, I64, BOOL, F16)

# ------------------------------------------------------------------------------------------------ extra_math
op("divide-mode", gen(2, (F32, F64, I64), mixed=True, extra=_kw(mode=st.sampled_from([None, "trunc", "floor"]))),
   bi(lambda m, a, b, mode: m.divide(a, b, rounding_mode=mode)))
op("div-mode-int", gen(2, (I64,), special=False, lo=-7, hi=7,
                       extra=_kw(mode=st.sampled_from(["trunc", "floor"]))),
   bi(lambda m, a, b, mode: m.div(a, b + (b == 0).to(b.dtype), rounding_mode=mode)), grad=False)
# (finite: torch's a - alpha * b is one fused multiply-add, inf - 2 * 3e38 stays inf where the product alone overflows)
op("subtract-alpha", gen(2, (F32, F64, I64), special=False, extra=_kw(alpha=st.sampled_from([1, 2, -1]))),
   bi(lambda m, a, b, alpha: m.subtract(a, b, alpha=alpha)))
# (loose: near 0 torch's float64 gradient cancels to 0 where tensorgrad's series keeps -pi^2 x / 3, ~1e-10)
op("sinc", gen(1, (F32, F64, I64, BOOL)), un(lambda m, x: m.sinc(x)), tol="loose")
op("heaviside", gen(2, (F32, F64, I64)), bi(lambda m, a, b: m.heaviside(a, b)), grad=False)
op("nextafter", gen(2, (F32, F64)), bi(lambda m, a, b: m.nextafter(a, b)), grad=False)
# (float64 values only: torch's mantissa gradient is grad / exp2(exponent) with exp2 in float32, inf below 2**-126 --
# test_torch_frexp_gradient_overflows_below_float32_range)
op("frexp", gen(1, (F32, F16)), un(lambda m, x: tuple(m.frexp(x))))
op("frexp-f64", gen(1, (F64,)), un(lambda m, x: tuple(m.frexp(x))), grad=False)
# (exponents >= 0 with gradients: torch's gradient for a negative exponent is 0, its 2**other taken in integers --
# test_torch_ldexp_gradient_is_zero_for_negative_exponents)
op("ldexp", gen(2, (F32, F64)), bi(lambda m, a, b: m.ldexp(a, b.nan_to_num().round().clamp(0, 8).to(m.int64))))
op("ldexp-negative", gen(2, (F32, F64, I64)),
   bi(lambda m, a, b: m.ldexp(a, b.nan_to_num().round().clamp(-8, 8).to(m.int64))),
   grad=False)
op("isin", gen(2, (F32, I64, F64), extra=_kw(invert=st.booleans())),
   bi(lambda m, a, b, invert: m.isin(a, b, invert=invert)), grad=False)
op("logspace", st.tuples(st.sampled_from([-2.0, 0.0, 1.5]), st.sampled_from([0.0, 2.0, -1.0]),
                         st.integers(0, 5), st.sampled_from([10.0, 2.0, 0.5])).map(
    lambda c: ([], {"layout": "c", "a": c[0], "b": c[1], "n": c[2], "base": c[3]})),
   lambda m, layout, a, b, n, base: m.logspace(a, b, n, base=base), grad=False)

# ---------------------------------------------------------------------------------------------- extra_compat
op("exp2", gen(1, INT_F), un(lambda m, x: m.exp2(x)))
op("float_power", gen(2, (F32, F64, I64), mixed=True, special=False, lo=-3, hi=3),
   bi(lambda m, a, b: m.float_power(a, b)))
op("positive", gen(1, INT_F), un(lambda m, x: m.positive(x)))
op("gcd-lcm", gen(2, (I64,), lo=-12, hi=12), bi(lambda m, a, b: (m.gcd(a, b), m.lcm(a, b))), grad=False)
# (C-ordered first operand: torch's kron of a transposed one fails in its own view(), 'view size is not compatible')
# (finite: a gradient summing 3e38s overflows or not with the order of the additions)
op("kron", gen(2, (F32, F64, I64), bcast=False, max_dims=3, special=False), lambda m, a, b, layout: m.kron(
    lay(m, a, "s" if layout == "t" else layout), b))
op("diagflat", gen(1, (F32, F64, I64), extra=_kw(offset=st.integers(-2, 2))),
   un(lambda m, x, offset: m.diagflat(x, offset)))
op("broadcast_tensors", gen(3, INT_F, mixed=True), lambda m, a, b, c, layout: tuple(
    m.broadcast_tensors(lay(m, a, layout), b, c)))
op("unravel_index", gen(1, (I64,), lo=-30, hi=30, extra=_kw(shape=st.sampled_from([(3, 4), (5,), (2, 3, 2), ()]))),
   un(lambda m, x, shape: tuple(m.unravel_index(x, shape))), grad=False)
# (no infinities: inf - inf in a product's gradient depends on the order of the additions)
op("chain_matmul", gen(1, (F32, F64), min_dims=2, max_dims=2, min_side=1, special=False),
   un(lambda m, x: m.chain_matmul(x, x.mT, x)))
for _w in ["hann_window", "hamming_window", "blackman_window", "bartlett_window", "kaiser_window"]:
    op(_w, st.tuples(st.integers(0, 6), st.booleans(), st.sampled_from([None, "float64"])).map(
        lambda c: ([], {"layout": "c", "n": c[0], "periodic": c[1], "dt": c[2]})),
       (lambda w: lambda m, layout, n, periodic, dt: getattr(m, w)(
           n, periodic, dtype=None if dt is None else getattr(m, dt)))(_w), grad=False)

# ----------------------------------------------------------------------------------------------- extra_shape
for _n in ["atleast_1d", "atleast_2d", "atleast_3d", "ravel", "fliplr", "flipud"]:
    op(_n, gen(1, INT_F), (lambda n: un(lambda m, x: getattr(m, n)(x)))(_n))
for _n in ["hstack", "vstack", "dstack", "column_stack"]:
    op(_n, gen(2, (F32, F64, I64), bcast=False, mixed=True), (lambda n: bi(lambda m, a, b: getattr(m, n)([a, b])))(_n))
for _n in ["hsplit", "vsplit", "dsplit"]:
    op(_n, gen(1, (F32, F64), extra=_kw(k=st.sampled_from([1, 2, 3, [1], [0, 2]]))),
       (lambda n: un(lambda m, x, k: tuple(getattr(m, n)(x, k))))(_n))
op("block_diag", gen(3, (F32, F64, I64), max_dims=2, bcast=False, mixed=True),
   lambda m, a, b, c, layout: m.block_diag(lay(m, a, layout), b, c))
op("combinations", gen(1, (F32, F64, I64), min_dims=1, max_dims=1, max_side=4,
                       extra=_kw(r=st.integers(0, 3), wr=st.booleans())),
   un(lambda m, x, r, wr: m.combinations(x, r, with_replacement=wr)))
op("tril_triu_indices", st.tuples(st.integers(0, 4), st.integers(0, 4), st.integers(-3, 3)).map(
    lambda c: ([], {"layout": "c", "r": c[0], "c": c[1], "o": c[2]})),
   lambda m, layout, r, c, o: (m.tril_indices(r, c, o), m.triu_indices(r, c, o)), grad=False)
# (values: torch 2.13's vander backward raises -- a saved tensor modified in place -- test_vander_gradient)
op("vander", gen(1, (F32, F64, I64), min_dims=1, max_dims=1, special=False,
                 extra=_kw(N=st.sampled_from([None, 0, 1, 3]), inc=st.booleans())),
   un(lambda m, x, N, inc: m.vander(x, N, inc)), grad=False)
op("rot90", gen(1, INT_F, extra=_kw(k=st.integers(-5, 5),
                                    d=st.sampled_from([(0, 1), (1, 0), (-1, 0), (0, 2), (0, 0)]))),
   un(lambda m, x, k, d: m.rot90(x, k, d)))
op("unflatten", gen(1, (F32, F64, I64), min_dims=1, extra=_kw(d=st.integers(-1, 0), s=st.sampled_from(
    [(-1,), (1, -1), (-1, 1), (2, -1), (0, -1)]))), un(lambda m, x, d, s: m.unflatten(x, d, s)))
op("swapaxes", gen(1, INT_F, extra=_kw(a=st.integers(-1, 0), b=st.integers(-1, 1))),
   un(lambda m, x, a, b: m.swapaxes(x, a, b)))
op("take", gen(2, (F32, F64), bcast=False, extra=lambda out: _kw(i=st.lists(
    st.integers(-max(out[0].size, 1), max(out[0].size, 1) - 1), max_size=5))),
   bi(lambda m, a, b, i: m.take(a, m.tensor(i, dtype=m.int64))))
# (start >= 0: torch's narrow_copy backward drops the gradient for a negative start -- test_torch_narrow_copy_...)
op("narrow_copy", gen(1, (F32, F64, I64), min_dims=1, extra=_kw(d=st.integers(-1, 0), s=st.integers(0, 2),
                                                                 n=st.integers(0, 2))),
   un(lambda m, x, d, s, n: m.narrow_copy(x, d, s, n)))
op("sum_to_size", gen(2, (F32, F64)), bi(lambda m, a, b: (a + b * 0).sum_to_size(b.shape)))
op("select_scatter", gen(1, (F32, F64), min_dims=1, extra=_kw(d=st.integers(-1, 0), i=st.integers(-2, 2))),
   un(lambda m, x, d, i: m.select_scatter(x, x.select(d, 0) * 2 + 1, d, i)))
op("slice_scatter", gen(1, (F32, F64), min_dims=1, extra=_kw(d=st.integers(-1, 0), s=st.sampled_from([None, 0, 1]),
                                                             st_=st.sampled_from([1, 2]))),
   un(lambda m, x, d, s, st_: m.slice_scatter(x, x.narrow(d, 0, len(range(x.shape[d])[s:None:st_])) * 3, d, s, None,
                                              st_)))
op("diagonal_scatter", gen(1, (F32, F64), min_dims=2, extra=_kw(o=st.integers(-2, 2))),
   un(lambda m, x, o: m.diagonal_scatter(x, x.diagonal(o) * -2, o)))
op("Tensor.unfold", gen(1, (F32, F64, I64), min_dims=0, extra=_kw(d=st.integers(-1, 0), size=st.integers(0, 3),
                                                                  step=st.integers(1, 2))),
   un(lambda m, x, d, size, step: x.unfold(d, size, step)))

# ----------------------------------------------------------------------------------------------- extra_stats
op("aminmax", gen(1, (F32, F64, I64), min_dims=0, extra=_dim(none=True)),
   un(lambda m, x, dim, keepdim: tuple(m.aminmax(x, dim=dim, keepdim=keepdim))))
# (values only: among ties torch's mode index is unspecified)
op("mode", gen(1, (F32, F64, I64), special=False, extra=_dim()),
   un(lambda m, x, dim, keepdim: m.mode(x, dim, keepdim)[0]))
op("msort", gen(1, (F32, F64, I64)), un(lambda m, x: m.msort(x)))
op("nanmedian", gen(1, (F32, F64), extra=_dim()),
   un(lambda m, x, dim, keepdim: m.nanmedian(x, dim, keepdim)[0]), grad=False)
op("nanmedian-all", gen(1, (F32, F64)), un(lambda m, x: m.nanmedian(x)), grad=False)
op("var_mean", gen(1, (F32, F64), special=False, extra=_dim(none=True)),
   un(lambda m, x, dim, keepdim: tuple(m.var_mean(
       x + 0.37 * m.arange(x.numel(), dtype=x.dtype).reshape(x.shape), dim=dim, keepdim=keepdim))))
# (one observation included: with one kind of weight torch zeroes the centred input, so the gradient of the 0/0
# result is 0, not NaN)
op("cov-values", gen(1, (F32, F64, I64), min_dims=1, max_dims=2, extra=_kw(c=st.integers(0, 2))),
   un(lambda m, x, c: m.cov(x, correction=c)), grad=False)
op("cov", gen(3, (F32, F64), min_dims=1, max_dims=2, min_side=1, bcast=False, special=False,
              extra=_kw(c=st.integers(0, 2), fw=st.booleans(), aw=st.booleans())),
   # (x * 1: with weights and one observation torch's cov writes in place into a view of its input, refused on a leaf)
   lambda m, x, f, a, layout, c, fw, aw: m.cov(lay(m, x * 1, layout), correction=c,
                                               fweights=(m.arange(x.shape[-1]) % 3 + 1) if fw else None,
                                               aweights=(a.detach().reshape(-1)[:1].abs() + m.arange(x.shape[-1])) if aw
                                               else None), tol="loose")
op("corrcoef", gen(1, (F32, F64), min_dims=1, max_dims=2, min_side=1, special=False),
   un(lambda m, x: m.corrcoef(x + 0.1 * m.arange(x.numel(), dtype=x.dtype).reshape(x.shape) ** 2)), tol="loose")
# (p=0 values only: torch has no backward for dist's p=0 and raises; tensorgrad's gradient is 0, as norm's)
op("dist", gen(2, (F32, F64), special=False, extra=_kw(p=st.sampled_from([1, 2, 3.5, math.inf, -math.inf]))),
   bi(lambda m, a, b, p: m.dist(a, b + 0.25, p)), tol="loose")
op("dist-p0", gen(2, (F32, F64, F16)), bi(lambda m, a, b: m.dist(a, b, 0)), grad=False)
# (at least one row: torch's pdist backward of a (0, M) input is a segmentation fault)
op("pdist-empty", gen(1, (F32, F64), min_dims=2, max_dims=2, max_side=0), un(lambda m, x: m.pdist(x)), grad=False)
op("pdist", gen(1, (F32, F64), min_dims=2, max_dims=2, min_side=1, special=False,
                extra=_kw(p=st.sampled_from([0, 1, 2, 3.5, math.inf]))),
   # (a quadratic ramp: the row differences are distinct, where p=inf's tie gradient differs -- torch's pdist gives
   # each tied element the whole gradient, tensorgrad's, as torch's own vector_norm, shares it)
   un(lambda m, x, p: m.pdist(x + 0.1 * m.arange(x.numel(), dtype=x.dtype).reshape(x.shape) ** 2, p)), tol="loose")
# (finite: torch's trapezoid is sum - (first + last) / 2, NaN for an infinite end where the trapezoids sum to inf;
# tensorgrad's sums the trapezoids -- test_torch_trapezoid_infinite_end_is_nan)
op("trapezoid", gen(2, (F32, F64), min_dims=1, special=False,
                    extra=_kw(d=st.integers(-1, 0), dx=st.sampled_from([None, 0.5]))),
   bi(lambda m, a, b, d, dx: m.trapezoid(a, dim=d) if dx is None else m.trapezoid(a, dx=dx, dim=d)))
op("trapezoid-x", gen(2, (F32, F64), min_dims=1, special=False, bcast=False),
   bi(lambda m, a, b: m.trapezoid(a, b)))
op("cumulative_trapezoid", gen(1, (F32, F64), min_dims=1, extra=_kw(d=st.integers(-1, 0))),
   un(lambda m, x, d: m.cumulative_trapezoid(x, dim=d)))
op("gradient", gen(1, (F32, F64), min_dims=1, special=False, extra=_kw(
    d=st.sampled_from([None, 0, -1]), eo=st.sampled_from([1, 2]), sp=st.sampled_from([1, 2.0, None]))),
   un(lambda m, x, d, eo, sp: tuple(m.gradient(x, dim=d, edge_order=eo, **({} if sp is None else {"spacing": sp})))))
op("histogram", gen(1, (F32, F64), min_dims=1, special=False, extra=_kw(
    bins=st.integers(1, 4), rng=st.sampled_from([None, (-1.0, 1.0)]), dens=st.booleans())),
   un(lambda m, x, bins, rng, dens: tuple(m.histogram(x, bins, range=rng, density=dens))), grad=False)

# ----------------------------------------------------------------------------------------------- extra_index
op("put", gen(1, (F32, F64), min_dims=0, extra=lambda out: _kw(i=st.lists(
    st.integers(-max(out[0].size, 1), max(out[0].size, 1) - 1), max_size=4, unique=True), acc=st.booleans())),
   un(lambda m, x, i, acc: x.put(m.tensor(i, dtype=m.int64), m.arange(len(i), dtype=x.dtype) + 0.5,
                                 accumulate=acc)))
op("masked_scatter", gen(2, (F32, F64)), bi(lambda m, a, b: a.masked_scatter(
    b > 0, m.arange(a.numel() + b.numel() + 4, dtype=a.dtype).reshape(-1) * 0.5 + a.sum())))
op("fill_diagonal_", gen(1, (F32, F64, I64), min_dims=2, max_dims=3, extra=_kw(wrap=st.booleans())),
   un(lambda m, x, wrap: x.clone().fill_diagonal_(-3, wrap=wrap)))

# ---------------------------------------------------------------------------------- in-place methods on views
# name -> the method's arguments given the view (the view holds 2 elements per row of its last dim, at least)
_INPLACE = {
    "absolute_": lambda m, v: (), "negative_": lambda m, v: (), "fix_": lambda m, v: (), "sgn_": lambda m, v: (),
    "sinc_": lambda m, v: (), "exp2_": lambda m, v: (), "cumsum_": lambda m, v: (-1,), "cumprod_": lambda m, v: (0,),
    "clip_": lambda m, v: (-1.0, 2.0), "divide_": lambda m, v: (v.flip(-1) + 3.0,),
    "true_divide_": lambda m, v: (2.0,), "multiply_": lambda m, v: (v.flip(-1),), "subtract_": lambda m, v: (v + 1.0,),
    "greater_": lambda m, v: (0.5,), "less_equal_": lambda m, v: (v.flip(-1),), "not_equal_": lambda m, v: (1.0,),
    "eq_": lambda m, v: (0.0,), "gt_": lambda m, v: (v.flip(-1),), "heaviside_": lambda m, v: (v.flip(-1),),
    "nextafter_": lambda m, v: (v.flip(-1),), "ldexp_": lambda m, v: (m.ones(v.shape[-1:], dtype=m.int64),),
    "tril_": lambda m, v: (0,), "triu_": lambda m, v: (1,), "float_power_": lambda m, v: (2,),
    "renorm_": lambda m, v: (2, 0, 1.0), "floor_divide_": lambda m, v: (0.75,),
    "index_fill_": lambda m, v: (-1, m.tensor([0]), -7.0), "put_": lambda m, v: (m.tensor([0, -1]), m.tensor(
        [5.0, 6.0], dtype=v.dtype)), "masked_scatter_": lambda m, v: (v > 0, m.arange(v.numel(), dtype=v.dtype)),
    "addmm_": lambda m, v: (m.ones(v.shape[-2], 2, dtype=v.dtype), m.ones(2, v.shape[-1], dtype=v.dtype)),
    "t_": lambda m, v: (), "transpose_": lambda m, v: (0, -1), "squeeze_": lambda m, v: (),
    "unsqueeze_": lambda m, v: (1,), "swapdims_": lambda m, v: (-1, 0),
}
_VIEWS = ["mT", "step", "narrow", "unsqueeze", "expand-clone"]


def _view(m, base, kind):
    if kind == "mT":
        return base.mT
    if kind == "step":
        return base[..., ::2]
    if kind == "narrow":
        return base.narrow(-1, 1, base.shape[-1] - 1)
    if kind == "unsqueeze":
        return base.unsqueeze(0)[0]
    return base


def inplace_view_call(m, x, layout, name, view, ff):
    # (a non-leaf, so the writes are recorded; C-ordered: a write recording a gradient through a view of an F-ordered
    # root -- x.t() * 1 keeps NumPy's F order -- is refused by tensorgrad's view_history, which torch accepts;
    # test_write_through_a_view_of_an_f_ordered_root)
    base = lay(m, x, layout).contiguous() * 1.0
    if ff == "f64":
        base = base.double()
    v = _view(m, base, view)
    if name in ("t_", "addmm_", "tril_", "triu_") and v.ndim != 2:
        v = v.reshape(-1, v.shape[-1]) if v.ndim else v.reshape(1, 1)
    r = getattr(v, name)(*_INPLACE[name](m, v))
    return (base, v, r) if name not in ("t_", "transpose_", "squeeze_", "unsqueeze_", "swapdims_") else (v, r)


# (heaviside_ and nextafter_ values only: torch has no derivative for them -- its backward raises, or for nextafter_
# passes the gradient through -- where tensorgrad's is 0, as for the comparisons; sgn_ too: torch's backward needs
# the overwritten input and raises)
op("inplace-on-view", gen(1, (F32, F64), min_dims=1, min_side=1, max_side=4, special=False, extra=_kw(
    name=st.sampled_from(sorted(set(_INPLACE) - {"heaviside_", "nextafter_", "sgn_"})), view=st.sampled_from(_VIEWS),
    ff=st.sampled_from(["same", "f64"]))),
   inplace_view_call)
op("inplace-on-view-special", gen(1, (F32, F64), min_dims=1, min_side=1, max_side=4, extra=_kw(
    name=st.sampled_from(sorted(set(_INPLACE) - {"renorm_", "addmm_"})), view=st.sampled_from(_VIEWS),
    ff=st.just("same"))), inplace_view_call, grad=False)


# ---------------------------------------------------------------------------------------------- distributions
def _pos(t):
    return t.abs() + 0.25


def _unit(t):
    return t.sigmoid() * 0.9 + 0.05


# name -> (number of parameter arrays, constructor from transformed parameters, parameter transforms)
_DISTS = {
    "Normal": (2, lambda D, a, b: D.Normal(a, _pos(b))), "Laplace": (2, lambda D, a, b: D.Laplace(a, _pos(b))),
    "Cauchy": (2, lambda D, a, b: D.Cauchy(a, _pos(b))),
    "Uniform": (2, lambda D, a, b: D.Uniform(a - _pos(b), a + _pos(b))),
    "Exponential": (1, lambda D, a: D.Exponential(_pos(a))), "Gamma": (2, lambda D, a, b: D.Gamma(_pos(a), _pos(b))),
    "Chi2": (1, lambda D, a: D.Chi2(_pos(a))), "Beta": (2, lambda D, a, b: D.Beta(_pos(a), _pos(b))),
    "StudentT": (2, lambda D, a, b: D.StudentT(_pos(a) + 2.0, b, _pos(b))),
    "LogNormal": (2, lambda D, a, b: D.LogNormal(a, _pos(b))),
    "Poisson": (1, lambda D, a: D.Poisson(_pos(a))), "Geometric": (1, lambda D, a: D.Geometric(_unit(a))),
    "Binomial": (1, lambda D, a: D.Binomial(5, _unit(a))), "Bernoulli": (1, lambda D, a: D.Bernoulli(_unit(a))),
    "Bernoulli-logits": (1, lambda D, a: D.Bernoulli(logits=a)),
    "Categorical": (1, lambda D, a: D.Categorical(logits=a)), "Dirichlet": (1, lambda D, a: D.Dirichlet(_pos(a))),
    "OneHotCategorical": (1, lambda D, a: D.OneHotCategorical(probs=_pos(a))),
}
_METHODS = ["log_prob", "cdf", "icdf", "entropy", "mean", "variance", "stddev", "mode", "log_prob-raw"]


@st.composite
def dist_case(draw):
    dt = draw(st.sampled_from([F32, F64]))
    name = draw(st.sampled_from(sorted(_DISTS)))
    s = draw(shapes(0, 2, 1, 3))
    if name in ("Categorical", "Dirichlet", "OneHotCategorical") and not s:
        s = (2,)
    params = [draw(arr(dt, s, special=False)) for _ in range(_DISTS[name][0])]
    meth = draw(st.sampled_from(_METHODS))
    vs = s[:-1] if name == "Categorical" else s
    vs = vs[len(vs) - draw(st.integers(0, len(vs))):]     # (broadcast against the batch shape)
    if meth == "icdf":
        v = draw(arr(dt, vs, special=False, lo=0, hi=1))
    elif name in ("Poisson", "Geometric", "Binomial", "Bernoulli", "Bernoulli-logits", "Categorical",
                  "OneHotCategorical"):
        v = draw(arr(dt, vs, special=False, lo=-1, hi=6)).round()
    else:
        v = draw(arr(dt, vs, special=True))
    return params + [v], {"layout": "c", "name": name, "meth": meth, "n": len(params)}


def dist_call(m, *ts, layout, name, meth, n):
    params, v = ts[:n], ts[n]
    D = m.distributions
    d = _DISTS[name][1](D, *params)
    if meth in ("mean", "variance", "stddev", "mode"):
        return getattr(d, meth)
    if meth == "entropy":
        return d.entropy()
    if meth == "log_prob-raw":
        return d.log_prob(v)       # (outside the support: both raise ValueError)
    if name == "Dirichlet" or name == "OneHotCategorical":
        v = (v.abs() + 0.1) / (v.abs() + 0.1).sum(-1, keepdim=True) if name == "Dirichlet" else \
            m.nn.functional.one_hot(v.abs().long() % params[0].shape[-1], params[0].shape[-1]).to(v.dtype)
    elif name == "Categorical":
        v = v.abs() % params[0].shape[-1]
    return getattr(d, meth)(v)


op("distributions", dist_case(), dist_call, tol="loose")

# parameters as drawn (negative scales, probabilities outside [0, 1], NaN): torch's validation raises ValueError
_RAW = {"Normal": lambda D, a, b: D.Normal(a, b), "Gamma": lambda D, a, b: D.Gamma(a, b),
        "Beta": lambda D, a, b: D.Beta(a, b), "Uniform": lambda D, a, b: D.Uniform(a, b),
        "Laplace": lambda D, a, b: D.Laplace(a, b), "StudentT": lambda D, a, b: D.StudentT(a, b, b),
        "Exponential": lambda D, a, b: D.Exponential(a), "Poisson": lambda D, a, b: D.Poisson(a),
        "Geometric": lambda D, a, b: D.Geometric(a), "Bernoulli": lambda D, a, b: D.Bernoulli(a),
        "Binomial": lambda D, a, b: D.Binomial(3, a), "Categorical": lambda D, a, b: D.Categorical(probs=a),
        "Dirichlet": lambda D, a, b: D.Dirichlet(a), "Chi2": lambda D, a, b: D.Chi2(a)}
op("distributions-validation", gen(2, (F32, F64), min_dims=1, max_side=3, lo=-1, hi=2, extra=_kw(
    name=st.sampled_from(sorted(_RAW)))), lambda m, a, b, layout, name: _RAW[name](
        m.distributions, lay(m, a, layout), b).mean, tol="loose")


SPECS = {s.name: s for s in OPS}
assert len(SPECS) == len(OPS), "op names in the table must be unique"


def run_case(name, arrays, kw):
    """The reproducer for this table (test_fuzz_torch.run_case)."""
    return _fuzz.run_case(name, arrays, kw, SPECS)


@pytest.mark.parametrize("spec", [pytest.param(s, id=s.name) for s in OPS])
def test_matches_torch(spec):
    check_against_torch(spec, EXAMPLES)


@pytest.mark.slow
@deep
@pytest.mark.parametrize("spec", [pytest.param(s, id=s.name) for s in OPS])
def test_matches_torch_deep(spec):
    check_against_torch(spec, DEEP)


# ------------------------------------------------------------------------- torch's own defects, for the record
# (each kept out of the fuzz above; if one of these starts failing, torch fixed it and the fuzz can widen)
def test_torch_ldexp_gradient_is_zero_for_negative_exponents():
    for m in (tg, torch):
        x = m.tensor([3.0], requires_grad=True)
        m.ldexp(x, m.tensor([-1])).sum().backward()
        assert x.grad.tolist() == ([0.5] if m is tg else [0.0])


def test_torch_narrow_copy_gradient_is_lost_for_a_negative_start():
    for m in (tg, torch):
        x = m.tensor([0.0, 1.0, 2.0], requires_grad=True)
        m.narrow_copy(x, 0, -1, 1).sum().backward()
        assert x.grad.tolist() == ([0.0, 0.0, 1.0] if m is tg else [0.0, 0.0, 0.0])


def test_torch_frexp_gradient_overflows_below_float32_range():
    for m in (tg, torch):
        x = m.tensor([2.0 ** -200], dtype=m.float64, requires_grad=True)
        m.frexp(x)[0].sum().backward()
        assert x.grad.tolist() == ([2.0 ** 199] if m is tg else [math.inf])


def test_torch_trapezoid_infinite_end_is_nan():
    y = [math.inf, 1.0]
    assert math.isnan(torch.trapezoid(torch.tensor(y)).item()) and tg.trapezoid(tg.tensor(y)).item() == math.inf


def test_vander_gradient():
    # torch 2.13's vander backward raises; the gradient is compared with torch's of the explicit powers
    x = np.array([0.0, 1.5, -2.0])
    for N, inc in [(None, False), (4, True), (1, False)]:
        t = tg.tensor(x, requires_grad=True)
        cot = np.arange(3.0 * (N or 3)).reshape(3, -1)
        (tg.vander(t, N, inc) * tg.tensor(cot)).sum().backward()
        r = torch.tensor(x, requires_grad=True)
        p = torch.arange(N or 3, dtype=torch.float64)
        (r.unsqueeze(-1) ** (p if inc else p.flip(0)) * torch.tensor(cot)).sum().backward()
        np.testing.assert_allclose(np.asarray(t.grad), r.grad.numpy())
