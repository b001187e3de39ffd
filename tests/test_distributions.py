"""tensorgrad.distributions against torch.distributions: for each distribution, parameters of random broadcasting
shapes, every statistic and density compared with torch in float64 together with its gradients with respect to the
parameters and the value (check_op), kl_divergence for the registered pairs, and torch's validation errors.
Sampling (shapes, dtypes, seeding, moments, reparameterized gradients) is in test_distributions_sampling.py."""
import re

import numpy as np
import pytest
import torch

import tensorgrad as tg
from helpers import Arg, check_op, gradcheck_op

SEEDS = range(5)


def D(x):
    """The distributions package of x's library."""
    return torch.distributions if isinstance(x, torch.Tensor) else tg.distributions


def lib(x):
    return torch if isinstance(x, torch.Tensor) else tg


def random_shapes(seed, n):
    """(n parameter shapes that broadcast together, a value shape with leading sample dims over their batch)."""
    rng = np.random.default_rng(seed)
    batch = tuple(int(s) for s in rng.integers(1, 4, size=rng.integers(0, 4)))
    shapes = []
    for _ in range(n):
        suffix = batch[int(rng.integers(0, len(batch) + 1)):]
        shapes.append(tuple(1 if rng.random() < 0.3 else s for s in suffix))
    shapes[int(rng.integers(n))] = batch  # some parameter carries the whole batch shape
    sample = tuple(int(s) for s in rng.integers(1, 3, size=rng.integers(0, 2)))
    return shapes, sample + batch


def real(shape):
    return Arg(shape)


def pos(shape):
    return Arg(shape, "uniform", 0.5, 2.0)


def unit(shape):
    return Arg(shape, "uniform", 0.05, 0.95)


# name -> (parameter kinds, constructor from (D, *params), value kind)
UNIVARIATE = {
    "Normal": ((real, pos), lambda d, a, b: d.Normal(a, b), real),
    "Laplace": ((real, pos), lambda d, a, b: d.Laplace(a, b), real),
    "Cauchy": ((real, pos), lambda d, a, b: d.Cauchy(a, b), real),
    "Uniform": ((lambda s: Arg(s, "uniform", -0.05, 0.05), pos), lambda d, a, w: d.Uniform(a - w, a + w),
                lambda s: Arg(s, "uniform", -0.4, 0.4)),
    "Bernoulli(probs)": ((unit,), lambda d, p: d.Bernoulli(probs=p), lambda s: Arg(s, "bool")),
    "Bernoulli(logits)": ((real,), lambda d, lg: d.Bernoulli(logits=lg), lambda s: Arg(s, "bool")),
}
STATS = ["mean", "mode", "variance", "stddev", "entropy"]
HAS = {"Normal": {"cdf", "icdf"}, "Laplace": {"cdf", "icdf"}, "Cauchy": {"cdf", "icdf"}, "Uniform": {"cdf", "icdf"}}
NAN_STATS = {("Cauchy", "mean"), ("Cauchy", "variance"), ("Cauchy", "stddev"), ("Uniform", "mode")}


def _univariate_case(name, seed):
    kinds, make, value_kind = UNIVARIATE[name]
    shapes, vshape = random_shapes(seed, len(kinds))
    return [k(s) for k, s in zip(kinds, shapes)], make, value_kind(vshape), len(kinds)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", list(UNIVARIATE))
def test_univariate_log_prob_cdf_icdf(name, seed):
    specs, make, value, n = _univariate_case(name, seed)

    def fn(method):
        def f(*args):
            v = args[n]
            if value.kind == "bool":  # Bernoulli scores 0./1. in the parameters' dtype
                v = v.to(args[0].dtype)
            return getattr(make(D(args[0]), *args[:n]), method)(v)
        return f
    check_op(fn("log_prob"), inputs=specs + [value], seed=seed)
    for method in sorted(HAS.get(name, ())):
        v = unit(value.shape) if method == "icdf" else value
        check_op(fn(method), inputs=specs + [v], seed=seed)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", list(UNIVARIATE))
def test_univariate_statistics(name, seed):
    specs, make, _, n = _univariate_case(name, seed)
    for stat in STATS:
        def f(*args):
            d = make(D(args[0]), *args)
            return d.entropy() if stat == "entropy" else getattr(d, stat)
        # NaN/inf statistics (a Cauchy's mean) carry no gradient in torch; compare their values only
        check_op(f, inputs=specs, seed=seed, grad=(name, stat) not in NAN_STATS and stat != "mode")


def test_gradcheck_normal_log_prob_and_kl():
    """Finite differences agree with the analytic gradients, second order included (log_prob's Hessian in loc,
    scale is what a natural-gradient or Laplace-approximation code differentiates)."""
    f = lambda loc, scale, x: tg.distributions.Normal(loc, scale).log_prob(x)  # noqa: E731
    gradcheck_op(f, [(3, 1), pos((4,)), (2, 3, 4)])
    kl = lambda a, b, c, e: tg.distributions.kl_divergence(tg.distributions.Normal(a, b),  # noqa: E731
                                                              tg.distributions.Normal(c, e))
    gradcheck_op(kl, [(3,), pos((3,)), (3,), pos((3,))])
    loc = tg.tensor(np.array([0.3, -1.0]), requires_grad=True)
    scale = tg.tensor(np.array([0.7, 1.5]), requires_grad=True)
    x = tg.tensor(np.array([0.1, 0.4]))
    assert tg.autograd.gradgradcheck(lambda a, b: tg.distributions.Normal(a, b).log_prob(x), [loc, scale])


# ------------------------------------------------------------------------------------------------ categorical
def _categorical_specs(seed, param):
    shapes, vshape = random_shapes(seed, 1)
    k = 2 + seed % 3
    spec = pos(shapes[0] + (k,)) if param == "probs" else real(shapes[0] + (k,))
    return spec, k, vshape


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("param", ["probs", "logits"])
def test_categorical(param, seed):
    spec, k, vshape = _categorical_specs(seed, param)
    make = lambda p: D(p).Categorical(**{param: p})  # noqa: E731
    check_op(lambda p, v: make(p).log_prob(v), inputs=[spec, Arg(vshape, "int", 0, k)], seed=seed)
    for stat in ("probs", "logits", "entropy", "mean", "variance", "mode", "param_shape"):
        def f(p):
            d = make(p)
            out = d.entropy() if stat == "entropy" else getattr(d, stat)
            return lib(p).tensor(tuple(out)) if stat == "param_shape" else out
        check_op(f, inputs=[spec], seed=seed, grad=stat in ("probs", "logits", "entropy"))
    for expand in (True, False):
        check_op(lambda p: make(p).enumerate_support(expand), inputs=[spec], seed=seed, grad=False)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("param", ["probs", "logits"])
def test_one_hot_categorical(param, seed):
    spec, k, vshape = _categorical_specs(seed, param)
    make = lambda p: D(p).OneHotCategorical(**{param: p})  # noqa: E731

    def log_prob(p, idx):
        onehot = lib(p).nn.functional.one_hot(idx, k).to(p.dtype)
        return make(p).log_prob(onehot)
    check_op(log_prob, inputs=[spec, Arg(vshape, "int", 0, k)], seed=seed)
    for stat in ("probs", "logits", "entropy", "mean", "variance", "mode"):
        check_op(lambda p: make(p).entropy() if stat == "entropy" else getattr(make(p), stat), inputs=[spec],
                 seed=seed, grad=stat != "mode")
    check_op(lambda p: make(p).enumerate_support(), inputs=[spec], seed=seed, grad=False)
    check_op(lambda p: make(p).enumerate_support(False), inputs=[spec], seed=seed, grad=False)


def test_categorical_zero_probability():
    """A zero-probability category: entropy stays finite, log_prob is -inf there, KL against it is inf."""
    p = np.array([[0.0, 0.3, 0.7], [0.5, 0.5, 0.0]])
    check_op(lambda p: D(p).Categorical(probs=p).entropy(), inputs=[p])
    v = np.array([0, 2])
    check_op(lambda p, v: D(p).Categorical(probs=p).log_prob(v), inputs=[p, v], grad=False)
    check_op(lambda p, q: D(p).kl_divergence(D(p).Categorical(probs=p), D(p).Categorical(probs=q)),
             inputs=[p, p[::-1].copy()], grad=False)


# ------------------------------------------------------------------------------------------------ multivariate
def _spd(x, n):
    """A well-conditioned SPD matrix from any square x (in x's library)."""
    return lib(x).matmul(x, x.transpose(-2, -1)) + n * lib(x).eye(n, dtype=x.dtype)


def _tril(x):
    """A lower-triangular matrix with a positive diagonal from any square x."""
    L = lib(x)
    return L.tril(x, -1) + L.diag_embed(L.exp(x.diagonal(dim1=-2, dim2=-1)))


MVN_PARAMS = {
    "covariance_matrix": lambda x, n: _spd(x, n),
    "precision_matrix": lambda x, n: _spd(x, n),
    "scale_tril": lambda x, n: _tril(x),
}


def _mvn_shapes(seed):
    (loc_b, mat_b), vshape = random_shapes(seed, 2)
    n = 1 + seed % 3
    return loc_b + (n,), mat_b + (n, n), vshape + (n,), n


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("param", list(MVN_PARAMS))
def test_multivariate_normal(param, seed):
    loc_s, mat_s, v_s, n = _mvn_shapes(seed)
    make = lambda loc, m: D(loc).MultivariateNormal(loc, **{param: MVN_PARAMS[param](m, n)})  # noqa: E731
    check_op(lambda loc, m, v: make(loc, m).log_prob(v), inputs=[real(loc_s), real(mat_s), real(v_s)], seed=seed,
             atol=1e-9, rtol=1e-9)
    for stat in ("mean", "mode", "variance", "stddev", "entropy", "covariance_matrix", "precision_matrix",
                 "scale_tril"):
        check_op(lambda loc, m: make(loc, m).entropy() if stat == "entropy" else getattr(make(loc, m), stat),
                 inputs=[real(loc_s), real(mat_s)], seed=seed, atol=1e-9, rtol=1e-9)


@pytest.mark.parametrize("seed", SEEDS)
def test_independent(seed):
    shapes, vshape = random_shapes(seed, 2)
    nd = len(np.broadcast_shapes(*shapes))
    for r in range(nd + 1):
        make = lambda a, b: D(a).Independent(D(a).Normal(a, b), r)  # noqa: E731
        check_op(lambda a, b, v: make(a, b).log_prob(v), inputs=[real(shapes[0]), pos(shapes[1]), real(vshape)],
                 seed=seed)
        for stat in ("entropy", "mean", "variance"):
            check_op(lambda a, b: make(a, b).entropy() if stat == "entropy" else getattr(make(a, b), stat),
                     inputs=[real(shapes[0]), pos(shapes[1])], seed=seed)
        d = tg.distributions.Independent(tg.distributions.Normal(tg.zeros(shapes[0]), tg.ones(shapes[1])), r)
        t = torch.distributions.Independent(torch.distributions.Normal(torch.zeros(shapes[0]),
                                                                       torch.ones(shapes[1])), r)
        assert (d.batch_shape, d.event_shape) == (tuple(t.batch_shape), tuple(t.event_shape))
        assert repr(d.support).replace("tensorgrad", "torch") == repr(t.support)


# ------------------------------------------------------------------------------------------------ kl
def _kl_pairs(seed):
    shapes, _ = random_shapes(seed, 4)
    k = 3
    s0, s1, s2, s3 = shapes
    return {
        "Normal": ([real(s0), pos(s1), real(s2), pos(s3)], lambda d, a, b, c, e: (d.Normal(a, b), d.Normal(c, e))),
        "Laplace": ([real(s0), pos(s1), real(s2), pos(s3)],
                    lambda d, a, b, c, e: (d.Laplace(a, b), d.Laplace(c, e))),
        "Cauchy": ([real(s0), pos(s1), real(s2), pos(s3)], lambda d, a, b, c, e: (d.Cauchy(a, b), d.Cauchy(c, e))),
        # (torch's Bernoulli pair masks with q's shape: only same-shape pairs work there)
        "Bernoulli": ([unit(s0), real(s0)], lambda d, p, lg: (d.Bernoulli(probs=p), d.Bernoulli(logits=lg))),
        "Categorical": ([pos(s0 + (k,)), real(s1 + (k,))],
                        lambda d, p, lg: (d.Categorical(probs=p), d.Categorical(logits=lg))),
        "OneHotCategorical": ([real(s0 + (k,)), pos(s1 + (k,))],
                              lambda d, lg, p: (d.OneHotCategorical(logits=lg), d.OneHotCategorical(probs=p))),
        # q's interval contains p's (else the divergence is inf, tested below)
        "Uniform": ([real(s0), pos(s1), pos(s2), pos(s3)],
                    lambda d, a, w, l2, h2: (d.Uniform(a - w, a + w), d.Uniform(a - w - l2, a + w + h2))),
        "Uniform-Normal": ([real(s0), pos(s1), real(s2), pos(s3)],
                           lambda d, a, w, c, e: (d.Uniform(a - w, a + w), d.Normal(c, e))),
        "Independent": ([real(s0 + (2,)), pos(s1 + (2,)), real(s2 + (2,)), pos(s3 + (2,))],
                        lambda d, a, b, c, e: (d.Independent(d.Normal(a, b), 1), d.Independent(d.Normal(c, e), 1))),
    }


@pytest.mark.parametrize("seed", SEEDS)
def test_kl_divergence(seed):
    for name, (specs, make) in _kl_pairs(seed).items():
        def f(*args):
            p, q = make(D(args[0]), *args)
            return D(args[0]).kl_divergence(p, q)
        check_op(f, inputs=specs, seed=seed)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("pq", [("scale_tril", "covariance_matrix"), ("precision_matrix", "scale_tril"),
                                ("covariance_matrix", "covariance_matrix")])
def test_kl_multivariate_normal(seed, pq):
    loc_s, mat_s, _, n = _mvn_shapes(seed)

    def f(a, m, b, m2):
        d = D(a)
        p = d.MultivariateNormal(a, **{pq[0]: MVN_PARAMS[pq[0]](m, n)})
        q = d.MultivariateNormal(b, **{pq[1]: MVN_PARAMS[pq[1]](m2, n)})
        return d.kl_divergence(p, q)
    check_op(f, inputs=[real(loc_s), real(mat_s), real(loc_s[-1:]), real(mat_s[-2:])], seed=seed, atol=1e-9,
             rtol=1e-9)


def test_kl_infinite_and_edge_cases():
    """Disjoint supports and degenerate probabilities give torch's inf / 0."""
    lo = np.array([0.0, 0.0, -1.0])
    hi = np.array([1.0, 2.0, 0.5])
    check_op(lambda a, b: D(a).kl_divergence(D(a).Uniform(a, b), D(a).Uniform(a + 0.5, b)), inputs=[lo, hi],
             grad=False)
    p = np.array([0.0, 1.0, 0.3, 0.0, 1.0])
    q = np.array([0.5, 0.5, 0.0, 0.0, 1.0])
    check_op(lambda p, q: D(p).kl_divergence(D(p).Bernoulli(p), D(p).Bernoulli(q)), inputs=[p, q], grad=False)


def test_kl_registry():
    d = tg.distributions

    class MyNormal(d.Normal):
        pass
    loc = tg.tensor([0.0, 1.0])
    p, q = MyNormal(loc, 1.0), d.Normal(loc, 2.0)
    before = d.kl_divergence(p, q)  # the Normal pair serves subclasses
    np.testing.assert_allclose(before.numpy(), d.kl_divergence(d.Normal(loc, 1.0), q).numpy())

    @d.register_kl(MyNormal, d.Normal)
    def _kl(p, q):
        return p.loc * 0 + 7.0
    assert d.kl_divergence(p, q).tolist() == [7.0, 7.0]  # the more specific registration wins, memo cleared
    with pytest.raises(NotImplementedError, match="No KL\\(p \\|\\| q\\) is implemented for p type Normal and q "
                                                  "type Categorical"):
        d.kl_divergence(d.Normal(0.0, 1.0), d.Categorical(logits=tg.zeros(3)))
    with pytest.raises(TypeError, match="Distribution subclass"):
        d.register_kl(int, d.Normal)
    # two same-family exponential distributions without a closed form go through the Bregman identity
    b1, b2 = d.Bernoulli(tg.tensor([0.3, 0.8])), d.Bernoulli(tg.tensor([0.6, 0.1]))
    bregman = d.kl.__dict__["_kl_expfamily_expfamily"](b1, b2)
    np.testing.assert_allclose(bregman.detach().numpy(), d.kl_divergence(b1, b2).numpy(), rtol=1e-5)
    np.testing.assert_allclose(d.ExponentialFamily.entropy(b1).detach().numpy(), b1.entropy().numpy(), rtol=1e-5)


# ------------------------------------------------------------------------------------------------ validation
BAD_ARGS = [
    ("Normal", lambda d, t: d.Normal(t([0.0, 1.0]), t([1.0, 0.0])), "scale", "GreaterThan(lower_bound=0.0)"),
    ("Normal", lambda d, t: d.Normal(t([float("nan")]), t([1.0])), "loc", "Real()"),
    ("Laplace", lambda d, t: d.Laplace(t([0.0]), t([-1.0])), "scale", "GreaterThan"),
    ("Bernoulli", lambda d, t: d.Bernoulli(probs=t([0.5, 1.5])), "probs",
     "Interval(lower_bound=0.0, upper_bound=1.0)"),
    ("Categorical", lambda d, t: d.Categorical(probs=t([[0.5, -0.5, 1.0]])), "probs", "Simplex()"),
    ("OneHotCategorical", lambda d, t: d.OneHotCategorical(logits=t([[0.0, float("nan")]])), "logits",
     "IndependentConstraint(Real(), 1)"),
    ("Uniform", lambda d, t: d.Uniform(t([0.0, 2.0]), t([1.0, 1.0])), "low", "LessThan"),
    ("MultivariateNormal", lambda d, t: d.MultivariateNormal(t([0.0, 0.0]), t([[1.0, 2.0], [2.0, 1.0]])),
     "covariance_matrix", "PositiveDefinite()"),
    ("MultivariateNormal", lambda d, t: d.MultivariateNormal(t([0.0, 0.0]), scale_tril=t([[1.0, 1.0], [0.0, 1.0]])),
     "scale_tril", "LowerCholesky()"),
]


@pytest.mark.parametrize("name,make,param,constraint", BAD_ARGS)
def test_invalid_parameters_raise(name, make, param, constraint):
    owners = []
    for lib_, d in ((torch, torch.distributions), (tg, tg.distributions)):
        with pytest.raises(ValueError) as info:
            make(d, lambda v: lib_.tensor(v, dtype=lib_.float64))
        msg = str(info.value)
        assert msg.startswith(f"Expected parameter {param} (Tensor of shape ")
        assert f"to satisfy the constraint {constraint}" in msg and "but found invalid values:" in msg
        owners.append(msg.split("of distribution ")[1].split("(")[0])
    assert owners[0] == owners[1]  # (OneHotCategorical's is raised by the Categorical inside it, in both)
    # validate_args=False (here through the default) builds it anyway, as torch does; MVN's Cholesky of a
    # non-positive-definite matrix fails in both regardless
    if name != "MultivariateNormal":
        for d, t in ((torch.distributions, torch.tensor), (tg.distributions, tg.tensor)):
            d.Distribution.set_default_validate_args(False)
            try:
                make(d, lambda v: t(v, dtype=torch.float64 if d is torch.distributions else tg.float64))
            finally:
                d.Distribution.set_default_validate_args(True)


def test_invalid_values_and_constructor_errors():
    for d, t in ((torch.distributions, torch.tensor), (tg.distributions, tg.tensor)):
        n = d.Normal(t([0.0, 1.0]), t([1.0, 2.0]))
        with pytest.raises(ValueError, match=r"Value is not broadcastable with batch_shape\+event_shape"):
            n.log_prob(t([0.0, 1.0, 2.0]))
        with pytest.raises(ValueError, match="The value argument to log_prob must be a Tensor"):
            n.log_prob(0.5)
        c = d.Categorical(logits=t([0.0, 1.0, 2.0]))
        with pytest.raises(ValueError, match=r"Expected value argument \(Tensor of shape .*\) to be within the "
                                             r"support \(IntegerInterval\(lower_bound=0, upper_bound=2\)\)"):
            c.log_prob(t([3]))
        with pytest.raises(ValueError, match="The right-most size of value must match event_shape"):
            d.MultivariateNormal(t([0.0, 0.0]), scale_tril=t([[1.0, 0.0], [0.0, 1.0]])).log_prob(t([0.0, 0.0, 0.0]))
        with pytest.raises(ValueError, match="Either `probs` or `logits` must be specified, but not both."):
            d.Categorical(probs=t([0.5, 0.5]), logits=t([0.0, 0.0]))
        with pytest.raises(ValueError, match="Either `probs` or `logits` must be specified, but not both."):
            d.Bernoulli()
        with pytest.raises(ValueError, match="`probs` parameter must be at least one-dimensional."):
            d.Categorical(probs=t(1.0))
        with pytest.raises(ValueError, match="Exactly one of covariance_matrix or precision_matrix or scale_tril"):
            d.MultivariateNormal(t([0.0]))
        with pytest.raises(ValueError, match="loc must be at least one-dimensional."):
            d.MultivariateNormal(t(0.0), t([[1.0]]))
        with pytest.raises(ValueError, match="Expected reinterpreted_batch_ndims <= len"):
            d.Independent(d.Normal(t([0.0]), t([1.0])), 2)
        with pytest.raises(NotImplementedError, match="Enumeration over cartesian product"):
            d.Independent(d.Bernoulli(t([[0.5]])), 1).enumerate_support()
        with pytest.raises(ValueError):
            d.Distribution.set_default_validate_args("yes")
        # Bernoulli scores only 0/1; with validate_args=False a value outside passes through the formula
        with pytest.raises(ValueError, match=r"within the support \(Boolean\(\)\)"):
            d.Bernoulli(t([0.3])).log_prob(t([0.5]))
        assert abs(float(d.Bernoulli(t([0.3]), validate_args=False).log_prob(t([0.5]))) - 0.5 * (
            np.log(0.3) + np.log(0.7))) < 1e-6


def _shape_repr(text):
    """torch.Size([3, 1]), tensorgrad's shape and a tuple (3, 1) all read as (3, 1)."""
    return re.sub(r"(?:torch|tensorgrad)\.Size\(\[([^\]]*)\]\)", r"(\1)", text).replace(",)", ")")


def test_shapes_expand_repr_support():
    pairs = []
    for d, t in ((torch.distributions, torch.tensor), (tg.distributions, tg.tensor)):
        z = t(np.zeros((3, 1)))
        dists = [d.Normal(z, 1.0), d.Normal(0.0, 1.0), d.Bernoulli(logits=z), d.Categorical(logits=t(np.zeros((2, 4)))),
                 d.OneHotCategorical(probs=t(np.ones((2, 4)))), d.Uniform(z, 2.0), d.Laplace(z, 1.0),
                 d.MultivariateNormal(t(np.zeros((2, 3))), covariance_matrix=t(np.eye(3))),
                 d.Independent(d.Normal(z, 1.0), 1)]
        rows = []
        for dist in dists:
            e = dist.expand((2,) + tuple(dist.batch_shape))
            rows.append((type(dist).__name__, tuple(dist.batch_shape), tuple(dist.event_shape), tuple(e.batch_shape),
                         tuple(e.event_shape), dist.has_rsample, dist.has_enumerate_support,
                         _shape_repr(repr(dist)),
                         type(e).__name__, tuple(e.mean.shape), tuple(e.sample((2,)).shape),
                         repr(type(dist).support) if not isinstance(type(dist).support, property) else "dep"))
        pairs.append(rows)
    assert pairs[0] == pairs[1]
    n = tg.distributions.Normal(tg.zeros(3, 1), 1.0)
    for shape in (n.batch_shape, n.event_shape, n.expand((2, 3, 1)).batch_shape, n._extended_shape((4,))):
        assert type(shape) is type(tg.zeros(1).shape)  # a Size, as torch's torch.Size
    u = tg.distributions.Uniform(tg.tensor([0.0]), tg.tensor([2.0]))
    assert repr(u.support).startswith("Interval(lower_bound=tensor([0.]), upper_bound=tensor([2.]")
    assert tg.distributions.constraints.is_dependent(tg.distributions.Uniform.support)
    assert tg.distributions.Categorical(logits=tg.zeros(3)).support.upper_bound == 2

