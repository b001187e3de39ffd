"""Sampling from tensorgrad.distributions: sample / rsample shapes and dtypes against torch's for several
sample_shapes, reproducibility under tensorgrad.manual_seed, sample moments against the distribution's own
mean / variance (tolerances of several standard errors of the estimate at the sample size used), and reparameterized
gradients: d E[f(rsample)] / d params by Monte Carlo against the analytic value."""
import numpy as np
import pytest
import torch

import tensorgrad as tg

SAMPLE_SHAPES = [(), (5,), (2, 3)]


def builders(d, t):
    """name -> distribution over parameters built by t (a tensor constructor of the library d belongs to)."""
    return {
        "Normal": d.Normal(t([[0.5], [-1.0]]), t([1.0, 2.0, 0.5])),
        "Laplace": d.Laplace(t([0.5, -1.0]), t([1.0, 2.0])),
        "Cauchy": d.Cauchy(t([0.5]), t([2.0])),
        "Uniform": d.Uniform(t([0.0, -2.0]), t([1.0, 3.0])),
        "Bernoulli": d.Bernoulli(t([0.2, 0.9, 0.5])),
        "Categorical": d.Categorical(probs=t([[0.1, 0.2, 0.7], [0.5, 0.5, 0.0]])),
        "OneHotCategorical": d.OneHotCategorical(logits=t([0.0, 1.0, -1.0, 2.0])),
        "MultivariateNormal": d.MultivariateNormal(t([[0.0, 1.0], [2.0, -1.0]]),
                                                   covariance_matrix=t([[2.0, 0.5], [0.5, 1.0]])),
        "Independent": d.Independent(d.Normal(t([0.0, 1.0, 2.0]), t([1.0, 0.5, 2.0])), 1),
    }


def _ours_and_torch(dtype):
    ours = builders(tg.distributions, lambda v: tg.tensor(v, dtype=getattr(tg, dtype)))
    theirs = builders(torch.distributions, lambda v: torch.tensor(v, dtype=getattr(torch, dtype)))
    return ours, theirs


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sample_shapes_and_dtypes(dtype):
    ours, theirs = _ours_and_torch(dtype)
    for name in ours:
        for shape in SAMPLE_SHAPES:
            a, b = ours[name].sample(shape), theirs[name].sample(shape)
            assert tuple(a.shape) == tuple(b.shape), (name, shape)
            assert str(a.dtype) == str(b.dtype).replace("torch.", ""), (name, shape, a.dtype, b.dtype)
            assert not a.requires_grad
            if theirs[name].has_rsample:
                assert ours[name].has_rsample
                r = ours[name].rsample(shape)
                assert tuple(r.shape) == tuple(b.shape) and str(r.dtype) == dtype
            else:
                assert not ours[name].has_rsample
            assert bool(ours[name].support.check(a).all()), name


def test_manual_seed_reproduces_samples():
    ours, _ = _ours_and_torch("float32")
    for name, dist in ours.items():
        tg.manual_seed(7)
        first = dist.sample((4,)).numpy()
        second = dist.sample((4,)).numpy()
        tg.manual_seed(7)
        np.testing.assert_array_equal(dist.sample((4,)).numpy(), first, err_msg=name)
        if name not in ("Bernoulli", "Categorical", "OneHotCategorical"):  # discrete draws can repeat
            assert not np.array_equal(first, second), name


@pytest.mark.parametrize("name", ["Normal", "Laplace", "Uniform", "Bernoulli", "Categorical", "OneHotCategorical",
                                  "MultivariateNormal", "Independent"])
def test_sample_moments(name):
    """Sample mean and variance agree with the distribution's to 5 standard errors (n = 40,000, float64)."""
    dist = builders(tg.distributions, lambda v: tg.tensor(v, dtype=tg.float64))[name]
    n = 40000
    x = dist.sample((n,)).numpy().astype(np.float64)
    if name == "Categorical":  # compare the category frequencies instead of the (undefined) mean
        probs = dist.probs.numpy()
        freq = np.stack([(x == k).mean(0) for k in range(probs.shape[-1])], -1)
        np.testing.assert_allclose(freq, probs, atol=5 * np.sqrt(0.25 / n))
        return
    mean, var = dist.mean.detach().numpy(), dist.variance.detach().numpy()
    m4 = ((x - mean) ** 4).mean(0)
    np.testing.assert_allclose(x.mean(0), mean, atol=5 * np.sqrt(var.max() / n) + 1e-12)
    np.testing.assert_allclose(x.var(0), var, atol=5 * np.sqrt(np.maximum(m4 - var ** 2, 1e-12) / n).max())
    if name == "MultivariateNormal":  # the covariance too, not only its diagonal
        c = x - x.mean(0)
        cov = np.einsum("nbi,nbj->bij", c, c) / n
        np.testing.assert_allclose(cov, dist.covariance_matrix.numpy(), atol=0.06)


def test_categorical_sample_follows_logits_device_and_skips_zero_probability():
    c = tg.distributions.Categorical(logits=tg.tensor([[0.0, -np.inf, 1.0]] * 2))
    s = c.sample((2000,))
    assert s.dtype == tg.int64 and not bool((s == 1).any())
    assert s.device == c.logits.device


def _mc_grad(make, params, f, n=200000):
    for p in params:
        p.grad = None
    (f(make(*params).rsample((n,))).sum() / n).backward()
    return [p.grad.numpy() for p in params]


def test_rsample_gradients_by_monte_carlo():
    """E[x^2] under each reparameterized sampler, differentiated by Monte Carlo, against the closed form (the
    standard error of each estimate is a few 1e-3 at n = 200,000; the tolerance is ~5 of them)."""
    d = tg.distributions
    loc = tg.tensor([0.5, -1.0], dtype=tg.float64, requires_grad=True)
    scale = tg.tensor([1.5, 0.5], dtype=tg.float64, requires_grad=True)
    sq = lambda x: x ** 2  # noqa: E731
    gl, gs = _mc_grad(d.Normal, [loc, scale], sq)  # E = loc^2 + scale^2
    np.testing.assert_allclose(gl, 2 * loc.detach().numpy(), atol=0.03)
    np.testing.assert_allclose(gs, 2 * scale.detach().numpy(), atol=0.03)
    gl, gs = _mc_grad(d.Laplace, [loc, scale], sq)  # E = loc^2 + 2 scale^2
    np.testing.assert_allclose(gl, 2 * loc.detach().numpy(), atol=0.05)
    np.testing.assert_allclose(gs, 4 * scale.detach().numpy(), atol=0.08)
    low = tg.tensor([0.0, 1.0], dtype=tg.float64, requires_grad=True)
    high = tg.tensor([1.0, 3.0], dtype=tg.float64, requires_grad=True)
    gl, gh = _mc_grad(d.Uniform, [low, high], sq)  # E = (l^2 + l h + h^2) / 3
    lo, hi = low.detach().numpy(), high.detach().numpy()
    np.testing.assert_allclose(gl, (2 * lo + hi) / 3, atol=0.03)
    np.testing.assert_allclose(gh, (lo + 2 * hi) / 3, atol=0.03)
    m = tg.tensor([1.0, -0.5], dtype=tg.float64, requires_grad=True)
    L = tg.tensor([[1.0, 0.0], [0.3, 0.8]], dtype=tg.float64, requires_grad=True)
    gm, gL = _mc_grad(lambda m, L: d.MultivariateNormal(m, scale_tril=L), [m, L],
                      lambda x: (x ** 2).sum(-1))  # E = |m|^2 + |L|_F^2
    np.testing.assert_allclose(gm, 2 * m.detach().numpy(), atol=0.03)
    np.testing.assert_allclose(np.tril(gL), 2 * L.detach().numpy(), atol=0.03)


def test_rsample_reparameterization_identity():
    """rsample is loc + scale * eps: its gradient is 1 in loc and (x - loc) / scale in scale, sample by sample."""
    for cls in (tg.distributions.Normal, tg.distributions.Laplace, tg.distributions.Cauchy):
        loc = tg.tensor([0.3, -2.0], requires_grad=True)
        scale = tg.tensor([0.5, 3.0], requires_grad=True)
        x = cls(loc, scale).rsample((6,))
        gl, gs = tg.autograd.grad(x.sum(), [loc, scale])
        np.testing.assert_allclose(gl.numpy(), [6.0, 6.0])
        np.testing.assert_allclose(gs.numpy(), ((x.detach() - loc.detach()) / scale.detach()).sum(0).numpy(),
                                   rtol=1e-5)
    p = tg.tensor([0.2, 0.3, 0.5], requires_grad=True)
    st = tg.distributions.OneHotCategoricalStraightThrough(probs=p)
    s = st.rsample((3,))
    assert set(np.unique(s.detach().numpy())) <= {0.0, 1.0}
    (g,) = tg.autograd.grad((s * tg.tensor([1.0, 2.0, 3.0])).sum(), [p])
    # d/dp of probs = p / sum(p) with the weights (1, 2, 3) taken 3 times: 3 (w - <w, probs>) / sum(p)
    np.testing.assert_allclose(g.numpy(), 3 * (np.array([1.0, 2.0, 3.0]) - 2.3), rtol=1e-5)
