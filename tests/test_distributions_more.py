"""The second group of tensorgrad.distributions against torch: Exponential, Gamma, Chi2, Beta, Dirichlet, StudentT,
Poisson, Geometric, Binomial, LogNormal, TransformedDistribution with the transforms, and MixtureSameFamily.
Densities, statistics and KL divergences with their gradients (float64, random broadcasting shapes, check_op); the
implicit reparameterization gradient of gamma draws against torch's _standard_gamma_grad and by Monte Carlo; sample
shapes and moments."""
import numpy as np
import pytest
import torch

import tensorgrad as tg
from helpers import Arg, check_op as _check_op
from test_distributions import D, SEEDS, lib, pos, random_shapes, real, unit


def check_op(*args, **kw):
    """check_op at 1e-8: lgamma / digamma and their derivatives agree with torch's to a few 1e-10 only."""
    kw.setdefault("atol", 1e-8)
    kw.setdefault("rtol", 1e-8)
    return _check_op(*args, **kw)


def count(shape, high=6):
    return Arg(shape, "int", 0, high)


def _f(v, like):
    """An integer-valued count as a float tensor of the parameters' dtype (torch scores counts as floats)."""
    return v.to(like.dtype)


# name -> (parameter kinds, constructor from (D, *params), value kind, value transform, methods with gradients)
CASES = {
    "Exponential": ((pos,), lambda d, r: d.Exponential(r), pos, None, ("cdf", "icdf")),
    "Gamma": ((pos, pos), lambda d, c, r: d.Gamma(c, r), pos, None, ()),
    "Chi2": ((pos,), lambda d, df: d.Chi2(df), pos, None, ()),
    "Beta": ((pos, pos), lambda d, a, b: d.Beta(a, b), unit, None, ()),
    "StudentT": ((lambda s: Arg(s, "uniform", 2.5, 6.0), real, pos), lambda d, df, a, b: d.StudentT(df, a, b), real,
                 None, ()),
    "LogNormal": ((real, pos), lambda d, a, b: d.LogNormal(a, b), pos, None, ("cdf", "icdf")),
    "Poisson": ((pos,), lambda d, r: d.Poisson(r), count, _f, ()),
    "Geometric(probs)": ((unit,), lambda d, p: d.Geometric(probs=p), count, _f, ()),
    "Geometric(logits)": ((real,), lambda d, lg: d.Geometric(logits=lg), count, _f, ()),
    "Binomial(probs)": ((unit,), lambda d, p: d.Binomial(5, probs=p), count, _f, ()),
    "Binomial(logits)": ((real,), lambda d, lg: d.Binomial(5, logits=lg), count, _f, ()),
}
STATS = {"mean", "mode", "variance", "stddev", "entropy"}
NO_STAT = {("Poisson", "entropy"), ("Chi2", "mode")}
NO_GRAD = {"mode"}


def _case(name, seed):
    kinds, make, vkind, vfix, methods = CASES[name]
    shapes, vshape = random_shapes(seed, len(kinds))
    return [k(s) for k, s in zip(kinds, shapes)], make, vkind(vshape), vfix, methods, len(kinds)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", list(CASES))
def test_densities_and_statistics(name, seed):
    specs, make, value, vfix, methods, n = _case(name, seed)

    def method(m):
        def f(*args):
            v = args[n]
            v = vfix(v, args[0]) if vfix else v
            return getattr(make(D(args[0]), *args[:n]), m)(v)
        return f
    check_op(method("log_prob"), inputs=specs + [value], seed=seed)
    for m in methods:
        check_op(method(m), inputs=specs + [unit(value.shape) if m == "icdf" else value], seed=seed)
    for stat in sorted(STATS):
        if (name.split("(")[0], stat) in NO_STAT:
            continue
        check_op(lambda *a: make(D(a[0]), *a).entropy() if stat == "entropy" else getattr(make(D(a[0]), *a), stat),
                 inputs=specs, seed=seed, grad=stat not in NO_GRAD)


@pytest.mark.parametrize("seed", SEEDS)
def test_dirichlet(seed):
    shapes, vshape = random_shapes(seed, 1)
    k = 2 + seed % 3
    alpha = pos(shapes[0] + (k,))
    make = lambda c: D(c).Dirichlet(c)  # noqa: E731
    simplex = lambda x: lib(x).softmax(x, -1)  # noqa: E731
    check_op(lambda c, x: make(c).log_prob(simplex(x)), inputs=[alpha, real(vshape + (k,))], seed=seed)
    for stat in ("mean", "mode", "variance", "entropy"):
        check_op(lambda c: make(c).entropy() if stat == "entropy" else getattr(make(c), stat), inputs=[alpha],
                 seed=seed, grad=stat != "mode")
    small = Arg(shapes[0] + (k,), "uniform", 0.2, 0.9)  # all below 1: the mode is a vertex
    check_op(lambda c: make(c).mode, inputs=[small], seed=seed, grad=False)


def _transformed(d, loc, scale, which):
    """A TransformedDistribution of a Normal through the named transform chain (in the library of d)."""
    tr = d.transforms
    chains = {
        "tanh": [tr.TanhTransform()],
        "sigmoid": [tr.SigmoidTransform()],
        "affine": [tr.AffineTransform(loc * 0.5, scale + 1.0)],
        "exp-affine": [tr.ExpTransform(), tr.AffineTransform(2.0, -3.0)],
        "compose": [tr.ComposeTransform([tr.AffineTransform(0.3, 0.5), tr.TanhTransform()])],
        "softplus": [tr.SoftplusTransform()],
        "power": [tr.ExpTransform(), tr.PowerTransform(scale)],
        "affine-event": [tr.AffineTransform(loc, scale, event_dim=1)],
    }
    return d.TransformedDistribution(d.Normal(loc, scale), chains[which])


TRANSFORM_VALUES = {"tanh": lambda s: Arg(s, "uniform", -0.9, 0.9), "sigmoid": unit, "affine": real,
                    "exp-affine": lambda s: Arg(s, "uniform", -10.0, 1.5),
                    "compose": lambda s: Arg(s, "uniform", -0.5, 0.5),
                    "softplus": pos, "power": pos, "affine-event": real}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("which", list(TRANSFORM_VALUES))
def test_transformed_distribution(which, seed):
    shapes, vshape = random_shapes(seed, 2)
    if which == "affine-event":
        shapes = [s + (3,) for s in shapes]
        vshape = vshape + (3,)
    specs = [real(shapes[0]), pos(shapes[1])]
    make = lambda a, b: _transformed(D(a), a, b, which)  # noqa: E731
    vals = TRANSFORM_VALUES[which](vshape)
    check_op(lambda a, b, y: make(a, b).log_prob(y), inputs=specs + [vals], seed=seed)
    if which not in ("power", "affine-event"):  # (torch's cdf needs a scalar sign)
        check_op(lambda a, b, y: make(a, b).cdf(y), inputs=specs + [vals], seed=seed)
        check_op(lambda a, b, u: make(a, b).icdf(u), inputs=specs + [unit(vshape)], seed=seed)
    tg_d, th_d = (make(*[lib_.tensor(np.ones(s)) for s in shapes]) for lib_ in (tg, torch))
    assert (tuple(tg_d.batch_shape), tuple(tg_d.event_shape)) == (tuple(th_d.batch_shape), tuple(th_d.event_shape))
    assert repr(tg_d.support) == repr(th_d.support).replace("torch", "tensorgrad")


def test_transforms_directly():
    """Forward, inverse and log|det J| of each transform, differentiated, with torch's caching semantics."""
    for name in ("ExpTransform", "TanhTransform", "SigmoidTransform", "SoftplusTransform"):
        def f(x, name=name):
            t = getattr(D(x).transforms, name)()
            y = t(x)
            return y, t.inv(y), t.log_abs_det_jacobian(x, y)
        check_op(f, inputs=[Arg((4, 3), "uniform", -2.0, 2.0)])
    check_op(lambda x, a, b: D(x).transforms.AffineTransform(a, b).inv(x), inputs=[(2, 3), (3,), pos((2, 1))])
    t = tg.distributions.TanhTransform(cache_size=1)
    x = tg.tensor([30.0])
    y = t(x)  # tanh rounds to 1 in float32: atanh(y) would be inf; the cache returns x itself
    assert t.inv(y) is x
    assert float(tg.distributions.TanhTransform().inv(y)) == float("inf")
    with pytest.raises(ValueError, match="cache_size must be 0 or 1"):
        tg.distributions.ExpTransform(cache_size=2)
    comp = tg.distributions.ComposeTransform([tg.distributions.ExpTransform(), tg.distributions.AffineTransform(1, 2)])
    assert comp.inv.inv is comp and comp == tg.distributions.ComposeTransform(
        [tg.distributions.ExpTransform(), tg.distributions.AffineTransform(1, 2)])
    assert repr(comp.inv) == repr(torch.distributions.ComposeTransform(
        [torch.distributions.ExpTransform(), torch.distributions.AffineTransform(1, 2)]).inv)


@pytest.mark.parametrize("seed", SEEDS)
def test_mixture_same_family(seed):
    shapes, vshape = random_shapes(seed, 1)
    k = 3
    batch = shapes[0]

    def make(w, a, b):
        d = D(w)
        return d.MixtureSameFamily(d.Categorical(logits=w), d.Normal(a, b))
    specs = [real(batch + (k,)), real(batch + (k,)), pos(batch + (k,))]
    check_op(lambda w, a, b, x: make(w, a, b).log_prob(x), inputs=specs + [real(vshape)], seed=seed)
    check_op(lambda w, a, b, x: make(w, a, b).cdf(x), inputs=specs + [real(vshape)], seed=seed)
    for stat in ("mean", "variance"):
        check_op(lambda w, a, b: getattr(make(w, a, b), stat), inputs=specs, seed=seed)

    def make_mvn(w, a, s):  # mixture of diagonal Gaussians over vectors: the GMM of public code
        d = D(w)
        return d.MixtureSameFamily(d.Categorical(logits=w), d.Independent(d.Normal(a, s), 1))
    specs = [real(batch + (k,)), real(batch + (k, 2)), pos(batch + (k, 2))]
    check_op(lambda w, a, s, x: make_mvn(w, a, s).log_prob(x), inputs=specs + [real(vshape + (2,))], seed=seed)
    check_op(lambda w, a, s: make_mvn(w, a, s).variance, inputs=specs, seed=seed)


def test_mixture_errors():
    for d, t in ((torch.distributions, torch.tensor), (tg.distributions, tg.tensor)):
        with pytest.raises(ValueError, match="`mixture_distribution component` \\(2\\) does not equal"):
            d.MixtureSameFamily(d.Categorical(logits=t([0.0, 0.0])), d.Normal(t([0.0, 1.0, 2.0]), 1.0))
        with pytest.raises(ValueError, match="needs to be an"):
            d.MixtureSameFamily(d.Normal(0.0, 1.0), d.Normal(t([0.0]), 1.0))


@pytest.mark.parametrize("seed", SEEDS)
def test_kl_second_group(seed):
    (s0, s1, s2, s3), _ = random_shapes(seed, 4)
    pairs = {
        "Exponential": ([pos(s0), pos(s1)], lambda d, a, b: (d.Exponential(a), d.Exponential(b))),
        "Gamma": ([pos(s0), pos(s1), pos(s2), pos(s3)], lambda d, a, b, c, e: (d.Gamma(a, b), d.Gamma(c, e))),
        "Beta": ([pos(s0), pos(s1), pos(s2), pos(s3)], lambda d, a, b, c, e: (d.Beta(a, b), d.Beta(c, e))),
        "Dirichlet": ([pos(s0 + (3,)), pos(s1 + (3,))], lambda d, a, b: (d.Dirichlet(a), d.Dirichlet(b))),
        "Poisson": ([pos(s0), pos(s1)], lambda d, a, b: (d.Poisson(a), d.Poisson(b))),
        "Geometric": ([unit(s0), unit(s1)], lambda d, a, b: (d.Geometric(a), d.Geometric(b))),
        "Binomial": ([unit(s0), real(s0)], lambda d, a, b: (d.Binomial(4, a), d.Binomial(4, logits=b))),
        "LogNormal": ([real(s0), pos(s1), real(s2), pos(s3)],
                      lambda d, a, b, c, e: (d.LogNormal(a, b), d.LogNormal(c, e))),
    }
    for name, (specs, make) in pairs.items():
        check_op(lambda *a: D(a[0]).kl_divergence(*make(D(a[0]), *a)), inputs=specs, seed=seed)


def test_validation_second_group():
    for d, t in ((torch.distributions, torch.tensor), (tg.distributions, tg.tensor)):
        for make, param in ((lambda: d.Gamma(t([1.0]), t([-1.0])), "rate"), (lambda: d.Beta(t([0.0]), t([1.0])),
                                                                                 "concentration"),
                            (lambda: d.Dirichlet(t([[1.0, -1.0]])), "concentration"),
                            (lambda: d.Poisson(t([-1.0])), "rate"), (lambda: d.Binomial(t([2.5]), t([0.5])),
                                                                     "total_count"),
                            (lambda: d.Geometric(t([0.0])), "probs"), (lambda: d.StudentT(t([0.0])), "df")):
            with pytest.raises(ValueError, match=f"Expected parameter {param}"):
                make()
        with pytest.raises(ValueError, match="within the support"):
            d.Poisson(t([1.0])).log_prob(t([1.5]))
        with pytest.raises(ValueError, match="`concentration` parameter must be at least one-dimensional."):
            d.Dirichlet(t(1.0))
        with pytest.raises(NotImplementedError, match="Inhomogeneous total count"):
            d.Binomial(t([2.0, 3.0]), t([0.5, 0.5])).entropy()


# ------------------------------------------------------------------------------------------------ sampling
def test_gamma_implicit_gradient_matches_torch():
    alpha = tg.tensor(np.array([0.05, 0.3, 1.0, 2.5, 10.0, 60.0]), requires_grad=True)
    x = tg.distributions.gamma.standard_gamma(alpha)
    (g,) = tg.autograd.grad(x.sum(), [alpha])
    want = torch._standard_gamma_grad(torch.tensor(alpha.detach().numpy()), torch.tensor(x.detach().numpy()))
    np.testing.assert_allclose(g.numpy(), want.numpy(), rtol=2e-3)  # torch's own series is ~1e-4 accurate


def test_gamma_family_rsample_gradients_by_monte_carlo():
    """d E[x] / d params by Monte Carlo against the closed-form mean's gradient (n = 100,000; standard errors of the
    estimates are ~1e-3 relative)."""
    d, n = tg.distributions, 100000
    c = tg.tensor([0.7, 3.0], dtype=tg.float64, requires_grad=True)
    r = tg.tensor([2.0, 0.5], dtype=tg.float64, requires_grad=True)
    gc, gr = tg.autograd.grad(d.Gamma(c, r).rsample((n,)).sum() / n, [c, r])  # E = c / r
    cv, rv = c.detach().numpy(), r.detach().numpy()
    np.testing.assert_allclose(gc.numpy(), 1 / rv, rtol=0.03)
    np.testing.assert_allclose(gr.numpy(), -cv / rv ** 2, rtol=0.03)
    a = tg.tensor([0.8, 2.0], dtype=tg.float64, requires_grad=True)
    b = tg.tensor([1.5, 4.0], dtype=tg.float64, requires_grad=True)
    ga, gb = tg.autograd.grad(d.Beta(a, b).rsample((n,)).sum() / n, [a, b])  # E = a / (a + b)
    av, bv = a.detach().numpy(), b.detach().numpy()
    np.testing.assert_allclose(ga.numpy(), bv / (av + bv) ** 2, rtol=0.05)
    np.testing.assert_allclose(gb.numpy(), -av / (av + bv) ** 2, rtol=0.05)
    conc = tg.tensor([0.5, 1.0, 2.0], dtype=tg.float64, requires_grad=True)
    x = d.Dirichlet(conc).rsample((n,))
    (gd,) = tg.autograd.grad((x[:, 0] ** 2).sum() / n, [conc])  # E[x0^2] = a0 (a0 + 1) / (A (A + 1))
    cv, A = conc.detach().numpy(), 3.5
    want = -cv[0] * (cv[0] + 1) * (2 * A + 1) / (A * (A + 1)) ** 2 * np.ones(3)
    want[0] += (2 * cv[0] + 1) / (A * (A + 1))
    np.testing.assert_allclose(gd.numpy(), want, rtol=0.05, atol=2e-3)
    e = tg.tensor([0.5, 2.0], dtype=tg.float64, requires_grad=True)
    (ge,) = tg.autograd.grad(d.Exponential(e).rsample((n,)).sum() / n, [e])  # E = 1 / rate
    np.testing.assert_allclose(ge.numpy(), -1 / e.detach().numpy() ** 2, rtol=0.03)


def _second_group(d, t):
    return {
        "Exponential": d.Exponential(t([0.5, 2.0])), "Gamma": d.Gamma(t([[0.5], [3.0]]), t([1.0, 2.0])),
        "Chi2": d.Chi2(t([3.0])), "Beta": d.Beta(t([0.5, 2.0]), t([1.5, 3.0])),
        "Dirichlet": d.Dirichlet(t([[0.5, 1.0, 2.0], [3.0, 3.0, 3.0]])),
        "StudentT": d.StudentT(t([5.0, 10.0]), t([0.0, 1.0]), t([1.0, 2.0])),
        "Poisson": d.Poisson(t([0.5, 4.0])), "Geometric": d.Geometric(t([0.2, 0.7])),
        "Binomial": d.Binomial(t([3.0, 10.0]), t([0.2, 0.7])), "LogNormal": d.LogNormal(t([0.0, 0.5]), t([0.3, 0.5])),
        "Mixture": d.MixtureSameFamily(d.Categorical(t([0.3, 0.7])), d.Normal(t([-1.0, 2.0]), t([0.5, 1.0]))),
        "Tanh": d.TransformedDistribution(d.Normal(t([0.0]), t([1.0])), [d.TanhTransform()]),
    }


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sample_shapes_second_group(dtype):
    ours = _second_group(tg.distributions, lambda v: tg.tensor(v, dtype=getattr(tg, dtype)))
    theirs = _second_group(torch.distributions, lambda v: torch.tensor(v, dtype=getattr(torch, dtype)))
    for name, dist in ours.items():
        assert dist.has_rsample == theirs[name].has_rsample, name
        for shape in [(), (4,), (2, 3)]:
            a, b = dist.sample(shape), theirs[name].sample(shape)
            assert tuple(a.shape) == tuple(b.shape) and str(a.dtype) == str(b.dtype).replace("torch.", ""), name
            assert bool(dist.support.check(a).all()), name


@pytest.mark.parametrize("name", ["Exponential", "Gamma", "Chi2", "Beta", "Dirichlet", "StudentT", "Poisson",
                                  "Geometric", "Binomial", "LogNormal", "Mixture"])
def test_sample_moments_second_group(name):
    dist = _second_group(tg.distributions, lambda v: tg.tensor(v, dtype=tg.float64))[name]
    n = 60000
    x = dist.sample((n,)).numpy()
    mean, var = dist.mean.detach().numpy(), dist.variance.detach().numpy()
    m4 = ((x - mean) ** 4).mean(0)
    np.testing.assert_allclose(x.mean(0), mean, atol=5 * np.sqrt(var.max() / n))
    np.testing.assert_allclose(x.var(0), var, atol=5 * np.sqrt((m4 - var ** 2).max() / n))
