"""Differential fuzzing against PyTorch for the ops added in the swap-in round after tests/test_fuzz_torch.py's table
was written: recurrent layers (the fused RecurrentLayer node) with the gradient of their parameters differentiated
again, torch.linalg, the quantile / nan-reduction / cumulative-extreme family, the index writes, the new losses and
activations, 3-D convolution and pooling, grid_sample. Same harness as test_fuzz_torch (outcome kind, shapes,
dtypes, values, every input's gradient for a random cotangent); ``run_case(name, arrays, kw)`` here reproduces."""
import numpy as np
import pytest
import torch
from hypothesis import strategies as st

import tensorgrad as tg
import test_fuzz_torch as _fuzz
from test_fuzz_torch import F32, F64, Op, _kw, arrays, binary_gen, reduce_gen, shapes, unary_gen

OPS = []


def op(name, gen, call, **kw):
    OPS.append(Op(name, gen, call, **kw))


def _det_weights(m, module):
    """Parameters as fixed functions of their positions, the same in both frameworks."""
    with m.no_grad():
        for k, p in enumerate(module.parameters()):
            n = int(np.prod(p.shape))
            vals = 0.4 * np.sin(np.arange(n) * 0.37 + k)
            p.copy_(m.tensor(vals.astype(np.float64)).to(p.dtype).reshape(tuple(p.shape)))
    return module


# ----------------------------------------------------------------------------------------- recurrent layers
@st.composite
def rnn_case(draw):
    dt = draw(st.sampled_from([F32, F64]))
    mode = draw(st.sampled_from(["LSTM", "GRU", "RNN", "RNN-relu"]))
    L, N, I, H = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    layers, bidir, batch_first = draw(st.integers(1, 2)), draw(st.booleans()), draw(st.booleans())
    proj = draw(st.integers(0, H - 1)) if mode == "LSTM" else 0
    unbatched = draw(st.integers(0, 4)) == 0
    shape = (L, I) if unbatched else ((N, L, I) if batch_first else (L, N, I))
    x = draw(arrays(dt, shape, special=False, lo=-2.0, hi=2.0))
    return [x], dict(mode=mode, H=H, layers=layers, bidir=bidir, batch_first=batch_first, proj=proj)


def rnn_call(m, x, mode, H, layers, bidir, batch_first, proj):
    kw = dict(num_layers=layers, bidirectional=bidir, batch_first=batch_first)
    if mode == "RNN-relu":
        mod = m.nn.RNN(x.shape[-1], H, nonlinearity="relu", **kw)
    elif mode == "LSTM":
        mod = m.nn.LSTM(x.shape[-1], H, proj_size=proj, **kw)
    else:
        mod = getattr(m.nn, mode)(x.shape[-1], H, **kw)
    mod = _det_weights(m, mod.to(x.dtype))
    out, h = mod(x)
    hs = list(h) if isinstance(h, tuple) else [h]
    params = list(mod.parameters())
    # the parameters' gradient, itself differentiated by the harness: RecurrentLayer's double backward
    grads = m.autograd.grad((out * out).sum() + sum((t * t).sum() for t in hs), params, create_graph=True)
    return [out] + hs + [g for g in grads if g is not None]


op("rnn-layers", rnn_case(), rnn_call, tol="loose")


# ---------------------------------------------------------------------------------------------------- linalg
@st.composite
def square_gen(draw, n_min=1, batch=True, extra=None):
    dt = draw(st.sampled_from([F32, F64]))
    n = draw(st.integers(n_min, 4))
    lead = tuple(draw(shapes(0, 2, 0 if batch else 1, 2))) if batch else ()
    x = draw(arrays(dt, lead + (n, n), special=False, lo=-1.0, hi=1.0))
    kw = draw(extra) if extra is not None else {}
    return [x], kw


def _well(m, x):
    """x + (n + 1) I: diagonally dominant, so conditioning stays mild and float32 comparisons stay meaningful."""
    n = x.shape[-1]
    return x + (n + 1) * m.eye(n, dtype=x.dtype)


def _spd(m, x):
    return x @ x.mT + x.shape[-1] * m.eye(x.shape[-1], dtype=x.dtype)


op("linalg.inv", square_gen(), lambda m, x: m.linalg.inv(_well(m, x)))
# (well conditioned: at an exactly singular matrix whose LU meets a zero pivot torch's gradient is 0, not the cofactor
# matrix; test_det_gradient_where_torchs_is_zero below)
op("linalg.det", square_gen(), lambda m, x: m.linalg.det(_well(m, x)), tol="loose")
op("linalg.slogdet", square_gen(), lambda m, x: tuple(m.linalg.slogdet(_well(m, x))))
op("linalg.solve", square_gen(extra=_kw(k=st.integers(1, 3), left=st.booleans())),
   lambda m, x, k, left: m.linalg.solve(_well(m, x), (x[..., :k] if left else x[..., :k, :]) + 1.0, left=left))
op("linalg.cholesky", square_gen(extra=_kw(upper=st.booleans())),
   lambda m, x, upper: m.linalg.cholesky(_spd(m, x), upper=upper))
# (a spectral function of the eigenvalues: within a repeated eigenvalue single eigenvalues' gradients depend on the
# basis LAPACK happened to return, sums over them do not)
op("linalg.eigvalsh", square_gen(), lambda m, x: (m.linalg.eigvalsh(_spd(m, x)) ** 2).sum(), tol="loose")
op("linalg.svdvals", square_gen(), lambda m, x: (m.linalg.svdvals(_well(m, x)) ** 3).sum(), tol="loose")
op("linalg.qr-product", square_gen(), lambda m, x: (lambda q, r: q @ r)(*m.linalg.qr(_well(m, x))))
op("linalg.matrix_norm", square_gen(extra=_kw(ord=st.sampled_from(["fro", "nuc", 1, -1, 2, -2, float("inf")]))),
   # (a ramp splits repeated singular values, where ord=+-2's gradient depends on the basis returned)
   lambda m, x, ord: m.linalg.matrix_norm(_well(m, x) + 0.03 * m.arange(x.shape[-1] ** 2, dtype=x.dtype).reshape(
       x.shape[-2:]) ** 1.5, ord=ord), tol="loose")
op("linalg.pinv", square_gen(), lambda m, x: m.linalg.pinv(_well(m, x)), tol="loose")
op("linalg.matrix_power", square_gen(extra=_kw(n=st.integers(-2, 3))),
   lambda m, x, n: m.linalg.matrix_power(_well(m, x) / x.shape[-1], n), tol="loose")
op("linalg.matrix_exp", square_gen(), lambda m, x: m.linalg.matrix_exp(x), tol="loose")
op("linalg.cross", unary_gen(special=False, min_dims=1, big=False).map(lambda c: ([c[0][0]], {})),
   lambda m, x: m.linalg.cross(x[..., :1].expand(*x.shape[:-1], 3) * 0.5 + x.sum(-1, keepdim=True),
                               x.sum(-1, keepdim=True).expand(*x.shape[:-1], 3) - 1.0))


# --------------------------------------------------------------------------------------- statistics family
_Q = st.sampled_from([0.0, 0.25, 0.5, 0.9, 1.0])
_INTERP = st.sampled_from(["linear", "lower", "higher", "midpoint", "nearest"])
op("quantile", reduce_gen(allow_tuple=False, special=False, big=False, extra=_kw(q=_Q, interpolation=_INTERP)),
   lambda m, x, dim, keepdim, q, interpolation: m.quantile(x, q, dim=dim, keepdim=keepdim,
                                                             interpolation=interpolation))
op("nanquantile", reduce_gen(allow_tuple=False, big=False, extra=_kw(q=_Q, interpolation=_INTERP)),
   lambda m, x, dim, keepdim, q, interpolation: m.nanquantile(x, q, dim=dim, keepdim=keepdim,
                                                                interpolation=interpolation))
# (big=False in this family: sums of +-1e20 and 1 depend on the order of the additions)
op("nansum", reduce_gen(big=False), lambda m, x, dim, keepdim: m.nansum(x, dim=dim, keepdim=keepdim))
# (values only: on an all-NaN slice torch's gradient is NaN -- its nansum backward multiplies an inf by 0 -- and
# tensorgrad's 0; on other slices the gradients agree, tests/test_extra_stats.py)
op("nanmean", reduce_gen(big=False), lambda m, x, dim, keepdim: m.nanmean(x, dim=dim, keepdim=keepdim), grad=False)
op("nanmean-finite", reduce_gen(special=False, big=False), lambda m, x, dim, keepdim: m.nanmean(x, dim=dim, keepdim=keepdim))
# (dim=() left out: torch 2.13's std_mean backward takes dim=() as no reduction there -- gradient [-1, 1] for
# [0, 0.37] where its std's is [-0.5, 0.5], as tensorgrad's)
op("std_mean", reduce_gen(special=False, allow_empty_tuple=False, big=False, extra=_kw(correction=st.sampled_from([0, 1]))),
   # (a ramp added: at zero spread torch's std_mean gradient is NaN while its own std's is 0; tensorgrad's is 0)
   lambda m, x, dim, keepdim, correction: tuple(m.std_mean(
       x + 0.37 * m.arange(x.numel(), dtype=x.dtype).reshape(x.shape), dim=dim, keepdim=keepdim,
       correction=correction)))
op("cummax", reduce_gen(keepdim=False, allow_tuple=False, allow_none=False),
   lambda m, x, dim: tuple(m.cummax(x, dim)))
op("cummin", reduce_gen(keepdim=False, allow_tuple=False, allow_none=False),
   lambda m, x, dim: tuple(m.cummin(x, dim)))
# (a ramp makes the values distinct: among ties torch's index is unspecified)
op("kthvalue", reduce_gen(allow_tuple=False, allow_none=False, special=False, big=False, extra=_kw(k=st.integers(1, 3))),
   lambda m, x, dim, keepdim, k: tuple(m.kthvalue(x + 1e-3 * m.arange(x.numel(), dtype=x.dtype).reshape(x.shape),
                                                  k, dim, keepdim)))
op("renorm", reduce_gen(keepdim=False, allow_tuple=False, allow_none=False, special=False, min_dims=1, big=False,
                        extra=_kw(p=st.sampled_from([1, 2, 3.5]), maxnorm=st.sampled_from([0.5, 2.0]))),
   lambda m, x, dim, p, maxnorm: m.renorm(x, p, dim, maxnorm))


# ------------------------------------------------------------------------------------------------ index writes
@st.composite
def index_case(draw):
    dt = draw(st.sampled_from([F32, F64]))
    x = draw(arrays(dt, draw(shapes(1, 3, 1, 3)), special=False, big=False))
    d = draw(st.integers(0, x.ndim - 1))
    k = draw(st.integers(0, 4))
    idx = np.array(draw(st.lists(st.integers(0, x.shape[d] - 1), min_size=k, max_size=k)), np.int64)
    src_shape = x.shape[:d] + (k,) + x.shape[d + 1:]
    src = draw(arrays(dt, src_shape, special=False, big=False))
    return [x, idx, src], {"dim": d}


op("index_fill", index_case(), lambda m, x, idx, src, dim: x.index_fill(dim, idx, 1.5))
op("index_copy-unique", index_case(),   # (unique indices: with repeats which copy lands is unspecified)
   lambda m, x, idx, src, dim: x.index_copy(dim, m.unique(idx), src.narrow(dim, 0, m.unique(idx).shape[0])))
op("index_put-accumulate", index_case(),
   lambda m, x, idx, src, dim: x.index_put((idx,), src.movedim(dim, 0).sum(tuple(range(1, src.ndim)))
                                           .reshape((-1,) + (1,) * (x.ndim - 1)).expand((idx.shape[0],) + x.shape[1:]),
                                           accumulate=True))
# (amax/amin with include_self=False: where self equals the result torch still counts it among the ties, so src
# gets half the gradient and self none -- half of it is lost; tensorgrad gives src all of it. Fuzzed with
# include_self=True there; test_scatter_reduce_amax_without_self_keeps_the_whole_gradient below)
op("scatter_reduce", index_case().flatmap(lambda c: st.sampled_from(["sum", "prod", "mean", "amax", "amin"]).flatmap(
    lambda r: st.booleans().map(lambda inc: (c[0], dict(c[1], reduce=r,
                                                          include_self=inc or r in ("amax", "amin")))))),
   lambda m, x, idx, src, dim, reduce, include_self: x.scatter_reduce(
       dim, idx.reshape((1,) * dim + (-1,) + (1,) * (x.ndim - dim - 1)).expand(src.shape), src, reduce,
       include_self=include_self))


# ------------------------------------------------------------------------------------- activations and losses
# (no NaN: torch's gradient at NaN is 0 in its vectorized loop and passes through in its scalar tail)
for _n in ["softshrink", "hardshrink", "tanhshrink"]:
    op("F." + _n, unary_gen(special=False), (lambda n: lambda m, x: getattr(m.nn.functional, n)(x))(_n))
op("F.softmin", reduce_gen(keepdim=False, allow_tuple=False, allow_none=False),
   lambda m, x, dim: m.nn.functional.softmin(x, dim))
op("F.threshold", unary_gen(), lambda m, x: m.nn.functional.threshold(x, 0.5, -2.0))
_RED = st.sampled_from(["mean", "sum", "none"])
op("F.margin_ranking_loss", binary_gen(special=False, same_shape=True).map(lambda c: (c[0], {})).flatmap(
    lambda c: _RED.map(lambda r: (c[0], {"reduction": r}))),
   lambda m, a, b, reduction: m.nn.functional.margin_ranking_loss(a, b, m.sign(a - b + 0.1), margin=0.2,
                                                                  reduction=reduction))
op("F.soft_margin_loss", binary_gen(special=False, same_shape=True).flatmap(
    lambda c: _RED.map(lambda r: (c[0], {"reduction": r}))),
   lambda m, a, b, reduction: m.nn.functional.soft_margin_loss(a, (m.sign(b) + (b == 0).to(b.dtype)).detach(),
                                                               reduction=reduction))
op("F.poisson_nll_loss", binary_gen(special=False, same_shape=True).flatmap(
    lambda c: st.booleans().map(lambda full: (c[0], {"full": full}))),
   # (target detached: with full=True torch's target gradient is NaN where the target is 0)
   lambda m, a, b, full: m.nn.functional.poisson_nll_loss(a, (b.abs() * 3).detach(), full=full))
op("F.gaussian_nll_loss", binary_gen(special=False, same_shape=True),
   lambda m, a, b: m.nn.functional.gaussian_nll_loss(a, b, a * a + 0.1))


@st.composite
def triplet_case(draw):
    dt = draw(st.sampled_from([F32, F64]))
    n, d = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    return [draw(arrays(dt, (n, d), special=False)) for _ in range(3)], {
        "p": draw(st.sampled_from([1.0, 2.0])), "swap": draw(st.booleans())}


op("F.triplet_margin_loss", triplet_case(),
   lambda m, a, p_, n, p, swap: m.nn.functional.triplet_margin_loss(a, p_, n, margin=0.5, p=p, swap=swap))
op("F.cosine_embedding_loss", triplet_case(),
   lambda m, a, b, c, p, swap: m.nn.functional.cosine_embedding_loss(a, b, m.sign(c[:, 0]) + (c[:, 0] == 0).to(
       c.dtype), margin=0.1), tol="loose")


# ------------------------------------------------------------------------------------- 3-D and sampling layers
@st.composite
def vol_case(draw):
    dt = draw(st.sampled_from([F32, F64]))
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    sp = tuple(draw(st.integers(1, 4)) for _ in range(3))
    # (no 1e20s: sums of +-1e20 and 1 depend on the order of the additions, which differs between the kernels)
    x = draw(arrays(dt, (n, c) + sp, special=False, big=False))
    k = draw(st.integers(1, 2))
    w = draw(arrays(dt, (2, c, k, k, k), special=False, big=False))
    return [x, w], {"stride": draw(st.integers(1, 2)), "padding": draw(st.integers(0, 1)),
                    "ceil": draw(st.booleans())}


op("F.conv3d", vol_case(), lambda m, x, w, stride, padding, ceil: m.nn.functional.conv3d(x, w, stride=stride,
                                                                                          padding=padding))
op("F.max_pool3d", vol_case(), lambda m, x, w, stride, padding, ceil: m.nn.functional.max_pool3d(
    x, 2, stride, padding if 2 >= 2 * padding else 0, ceil_mode=ceil))
op("F.avg_pool3d", vol_case(), lambda m, x, w, stride, padding, ceil: m.nn.functional.avg_pool3d(
    x, 2, stride, padding, ceil_mode=ceil))


@st.composite
def grid_case(draw):
    dt = draw(st.sampled_from([F32, F64]))
    n, c, h, w = draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    x = draw(arrays(dt, (n, c, h, w), special=False, big=False))
    grid = draw(arrays(dt, (n, draw(st.integers(1, 3)), draw(st.integers(1, 3)), 2), special=False, lo=-1.25, hi=1.25))
    return [x, grid], {"mode": draw(st.sampled_from(["bilinear", "nearest", "bicubic"])),
                       "padding_mode": draw(st.sampled_from(["zeros", "border", "reflection"])),
                       "align_corners": draw(st.booleans())}


op("F.grid_sample", grid_case(), lambda m, x, g, **kw: m.nn.functional.grid_sample(x, g, **kw), tol="loose")

SPECS = {s.name: s for s in OPS}
assert len(SPECS) == len(OPS), "op names in the table must be unique"


def run_case(name, arrays, kw):
    """The reproducer for this table (test_fuzz_torch.run_case)."""
    return _fuzz.run_case(name, arrays, kw, SPECS)


@pytest.mark.parametrize("spec", [pytest.param(s, id=s.name) for s in OPS])
def test_matches_torch(spec):
    _fuzz.check_against_torch(spec)


def test_det_gradient_where_torchs_is_zero():
    """det's gradient is the cofactor matrix, also at a singular matrix. torch 2.13 returns 0 where its LU meets an
    exactly zero pivot ([[1, 1], [1, 1]]: torch [[0, 0], [0, 0]]) and the cofactor matrix where rounding leaves a tiny
    pivot (tests/test_linalg_edges.py); tensorgrad gives the cofactor matrix in both cases."""
    for a, cof in (([[1.0, 1.0], [1.0, 1.0]], [[1.0, -1.0], [-1.0, 1.0]]),
                   ([[1.0, 2.0], [3.0, 6.0]], [[6.0, -3.0], [-2.0, 1.0]])):
        x = tg.tensor(a, dtype=tg.float64, requires_grad=True)
        tg.linalg.det(x).backward()
        np.testing.assert_allclose(x.grad.numpy(), cof, atol=1e-12)
        y = torch.tensor(a, dtype=torch.float64, requires_grad=True)
        torch.linalg.det(y).backward()
        assert not y.grad.any()     # torch's, for the record: if this starts failing, torch fixed it


def test_scatter_reduce_amax_without_self_keeps_the_whole_gradient():
    """include_self=False: self takes no part in the reduction, so src gets the whole gradient. torch 2.13 gives src
    half of it and self none when self happens to equal the result (it counts self among the ties)."""
    x, s_ = tg.tensor([0.0], requires_grad=True), tg.tensor([0.0], requires_grad=True)
    x.scatter_reduce(0, tg.tensor([0]), s_, "amax", include_self=False).backward()
    assert x.grad.item() == 0.0 and s_.grad.item() == 1.0
    y, t = torch.tensor([0.0], requires_grad=True), torch.tensor([0.0], requires_grad=True)
    y.scatter_reduce(0, torch.tensor([0]), t, "amax", include_self=False).backward()
    assert t.grad.item() == 0.5     # torch's, for the record
