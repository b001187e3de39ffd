"""Differential fuzzing against PyTorch of reductions where real code breaks quietly: dim tuples, negative dims,
keepdim and empty dims (sum of nothing is 0, max of nothing raises), NaN propagation in max/min/argmax/median/sort/
topk/unique, and the index each returns among ties (argmax and max(dim) the first, sort(stable=True) and argsort in
order, median/kthvalue/mode as torch's CPU kernels pick). test_fuzz_torch's tables draw these without NaN and
without ties; here values are small integers (many ties) plus NaN and infinities.

The harness is test_fuzz_recent's (outcome kind, values, every float input's gradient -- the gradient of a max or
a sort lands on the index chosen, so it checks the tie rule too); ``run_case(name, arrays, kw, SPECS)`` from
test_fuzz_torch reproduces a failure."""
import pytest
from hypothesis import strategies as st

from test_fuzz_recent import EXAMPLES, check_against_torch, gen, un
from test_fuzz_torch import F32, F64, I64, Op, dim_arg, distinct_gen

OPS = []


def op(name, gen_, call, **kw):
    OPS.append(Op(name, gen_, call, **kw))


def _ties(special=True, dtypes=(F32, F64), min_dims=0, extra=None):
    """Arrays of small integer values (ties everywhere) with, when special, NaN and +-inf among them."""
    return gen(1, dtypes, special=special, min_dims=min_dims, max_side=4, lo=-2, hi=2, extra=extra)


def _dims(tup=True, none=True, keep=True):
    def e(out):
        @st.composite
        def g(draw):
            kw = {"dim": dim_arg(draw, out[0].ndim, tup, none)}
            if keep:  # (dim=() with keepdim=False trips a shape check in torch's logsumexp, its bug)
                kw["keepdim"] = draw(st.booleans()) or kw["dim"] == ()
            return kw
        return g()
    return e


def _one_dim(keep=True):
    def e(out):
        nd = out[0].ndim
        opts = list(range(-max(nd, 1), max(nd, 1)))
        return st.fixed_dictionaries({"dim": st.sampled_from(opts), **({"keepdim": st.booleans()} if keep else {})})
    return e


def _kw_dim(dim, keepdim):
    return {} if dim is None else {"dim": dim, "keepdim": keepdim}


# dim tuples, negative and empty dims
for _n in ["sum", "mean", "amax", "amin", "nansum", "logsumexp", "prod"]:
    op(f"{_n}-dims", _ties(extra=_dims(tup=_n != "prod", none=_n not in ("logsumexp",))),
       (lambda n: un(lambda m, x, dim, keepdim: getattr(m, n)(x, **_kw_dim(dim, keepdim))))(_n),
       tol="loose")
for _n in ["std", "var"]:
    op(f"{_n}-dims", _ties(extra=_dims()), (lambda n: un(lambda m, x, dim, keepdim: getattr(m, n)(
        x, dim, correction=0, keepdim=keepdim)))(_n), tol="loose")
op("count_nonzero-dims", _ties(extra=_dims(keep=False)), un(lambda m, x, dim: m.count_nonzero(x, dim)))
op("all-any-dims", _ties(extra=_dims()), un(lambda m, x, dim, keepdim: (
    m.all(x, **_kw_dim(dim, keepdim)), m.any(x, **_kw_dim(dim, keepdim)))), grad=False)
op("norm-dims", _ties(extra=_dims()), un(lambda m, x, dim, keepdim: m.linalg.vector_norm(x, 2, dim, keepdim)),
   tol="loose")

# values and indices: NaN propagates (max/min return the NaN and its index), ties give the first
for _n in ["max", "min"]:
    op(f"{_n}-dim-nan", _ties(extra=_one_dim()), (lambda n: un(lambda m, x, dim, keepdim: tuple(
        getattr(m, n)(x, dim, keepdim))))(_n))
    op(f"{_n}-all-nan", _ties(), (lambda n: un(lambda m, x: getattr(x, n)()))(_n))
for _n in ["argmax", "argmin"]:
    op(f"{_n}-nan", _ties(dtypes=(F32, F64, I64), extra=_dims(tup=False)), (lambda n: un(
        lambda m, x, dim, keepdim: getattr(m, n)(x, dim, keepdim)))(_n))
op("aminmax-nan", _ties(extra=_dims(tup=False)), un(lambda m, x, dim, keepdim: tuple(
    m.aminmax(x, dim=dim, keepdim=keepdim))))
op("median-dim-nan", _ties(extra=_one_dim()), un(lambda m, x, dim, keepdim: tuple(m.median(x, dim, keepdim))))
op("median-all-nan", _ties(), un(lambda m, x: m.median(x)))
op("nanmedian-dim", _ties(extra=_one_dim()), un(lambda m, x, dim, keepdim: tuple(m.nanmedian(x, dim, keepdim))))
# (values only among ties: which tied index torch's quickselect returns is its implementation's; indices and
# gradients on distinct values)
op("kthvalue-ties", _ties(extra=lambda out: st.fixed_dictionaries({"k": st.integers(0, 4), "dim": st.sampled_from(
    [-1, 0]), "keepdim": st.booleans()})), un(lambda m, x, k, dim, keepdim: m.kthvalue(x, k, dim, keepdim)[0]),
   grad=False)
op("kthvalue", distinct_gen(), lambda m, x, dim, k: tuple(m.kthvalue(x, max(1, min(k, x.shape[dim] if x.ndim else 1)),
                                                                     dim)))
op("mode-indices", _ties(special=False, dtypes=(F32, F64, I64), extra=_one_dim()),
   un(lambda m, x, dim, keepdim: tuple(m.mode(x, dim, keepdim))))
op("sort-stable", _ties(extra=lambda out: st.fixed_dictionaries({"dim": st.sampled_from([-1, 0]),
                                                                 "desc": st.booleans()})),
   un(lambda m, x, dim, desc: tuple(m.sort(x, dim=dim, descending=desc, stable=True))))
op("argsort-stable", _ties(dtypes=(F32, F64, I64), extra=lambda out: st.fixed_dictionaries({
    "dim": st.sampled_from([-1, 0]), "desc": st.booleans()})),
   un(lambda m, x, dim, desc: m.argsort(x, dim=dim, descending=desc, stable=True)))
op("msort-nan", _ties(), un(lambda m, x: m.msort(x)))
# (values only: among ties torch's topk may return any of the tied indices; the gradient follows the index)
op("topk-values", _ties(extra=lambda out: st.fixed_dictionaries({"k": st.integers(0, 3), "dim": st.sampled_from(
    [-1, 0]), "largest": st.booleans()})), un(lambda m, x, k, dim, largest: m.topk(x, k, dim, largest)[0]),
   grad=False)
for _n in ["cummax", "cummin"]:
    op(f"{_n}-nan", _ties(extra=lambda out: st.fixed_dictionaries({"dim": st.sampled_from([-1, 0])})),
       (lambda n: un(lambda m, x, dim: tuple(getattr(m, n)(x, dim))))(_n))
op("unique-nan", _ties(extra=lambda out: st.fixed_dictionaries({"inv": st.booleans(), "cnt": st.booleans()})),
   un(lambda m, x, inv, cnt: m.unique(x, sorted=True, return_inverse=inv, return_counts=cnt)), grad=False)
op("unique-dim", _ties(special=False, min_dims=1, extra=lambda out: st.fixed_dictionaries(
    {"dim": st.sampled_from([0, -1])})), un(lambda m, x, dim: tuple(m.unique(
        x, sorted=True, return_inverse=True, return_counts=True, dim=dim))), grad=False)
op("unique_consecutive", _ties(extra=lambda out: st.fixed_dictionaries({"dim": st.sampled_from([None, 0])})),
   un(lambda m, x, dim: tuple(m.unique_consecutive(x, return_inverse=True, return_counts=True, dim=dim))),
   grad=False)

SPECS = {s.name: s for s in OPS}
assert len(SPECS) == len(OPS), "op names in the table must be unique"


@pytest.mark.parametrize("spec", [pytest.param(s, id=s.name) for s in OPS])
def test_matches_torch(spec):
    check_against_torch(spec, EXAMPLES)
