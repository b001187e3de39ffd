"""Maximum-likelihood fits with torch.distributions, in the style of public PyTorch code: a heteroscedastic Normal
regression (an MLP predicting loc and log-scale, loss -Normal.log_prob), a Categorical classifier trained on
-log_prob with an entropy bonus, a full-covariance MultivariateNormal fitted through a Cholesky parameterization
with a KL term toward a prior, and a Beta / Gamma / mixture-of-Gaussians likelihood, all by Adam. Everything
printed is a density, KL or entropy: no sampling, because the two frameworks' generators differ (the data come from
NumPy). tests/test_swapin_corpus.py compares the output with real torch's.

usage: python distributions_fit.py [--steps N]
"""
import argparse

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.distributions import (Beta, Categorical, Gamma, Independent, MixtureSameFamily, MultivariateNormal, Normal,
                                 kl_divergence)


def init_from_numpy(model, rng):
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.from_numpy(rng.normal(0.0, 0.3, size=tuple(p.shape)).astype(np.float32)))


class GaussianHead(nn.Module):
    def __init__(self, d_in, d_h):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d_in, d_h), nn.Tanh())
        self.loc = nn.Linear(d_h, 1)
        self.log_scale = nn.Linear(d_h, 1)

    def forward(self, x):
        h = self.body(x)
        return Normal(self.loc(h).squeeze(-1), F.softplus(self.log_scale(h)).squeeze(-1) + 1e-3)


def fit_normal(rng, steps):
    x = rng.uniform(-2, 2, size=(128, 1)).astype(np.float32)
    y = (np.sin(2 * x[:, 0]) + rng.normal(0, 0.1 + 0.2 * np.abs(x[:, 0]))).astype(np.float32)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    model = GaussianHead(1, 16)
    init_from_numpy(model, rng)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for step in range(steps):
        dist = model(x)
        nll = -dist.log_prob(y).mean()
        opt.zero_grad()
        nll.backward()
        opt.step()
        if step % (steps // 4) == 0 or step == steps - 1:
            print(f"normal step {step} nll {nll.item():.5f} mean scale {dist.stddev.mean().item():.5f}")
    with torch.no_grad():
        d = model(x[:4])
        print("normal cdf", [round(v, 4) for v in d.cdf(y[:4]).tolist()])
        print("normal entropy", [round(v, 4) for v in d.entropy().tolist()])


def fit_categorical(rng, steps):
    x = rng.normal(size=(96, 5)).astype(np.float32)
    w = rng.normal(size=(5, 4)).astype(np.float32)
    labels = np.argmax(x @ w + rng.gumbel(size=(96, 4)), axis=1)
    x, labels = torch.from_numpy(x), torch.from_numpy(labels)
    model = nn.Linear(5, 4)
    init_from_numpy(model, rng)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for step in range(steps):
        dist = Categorical(logits=model(x))
        loss = -dist.log_prob(labels).mean() - 0.01 * dist.entropy().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % (steps // 4) == 0 or step == steps - 1:
            acc = (dist.probs.argmax(-1) == labels).float().mean().item()
            print(f"categorical step {step} loss {loss.item():.5f} acc {acc:.4f}")
    prior = Categorical(probs=torch.full((4,), 0.25))
    print(f"categorical kl to uniform {kl_divergence(dist, prior).mean().item():.5f}")


def fit_mvn(rng, steps):
    true_cov = np.array([[1.0, 0.6, 0.2], [0.6, 2.0, -0.4], [0.2, -0.4, 0.5]])
    data = rng.multivariate_normal([1.0, -1.0, 0.5], true_cov, size=256).astype(np.float32)
    data = torch.from_numpy(data)
    loc = nn.Parameter(torch.zeros(3))
    raw = nn.Parameter(torch.zeros(3, 3))
    opt = torch.optim.Adam([loc, raw], lr=0.05)
    prior = MultivariateNormal(torch.zeros(3), covariance_matrix=torch.eye(3) * 4.0)
    for step in range(steps):
        scale_tril = torch.tril(raw, -1) + torch.diag_embed(torch.exp(torch.diagonal(raw)))
        dist = MultivariateNormal(loc, scale_tril=scale_tril)
        nll = -dist.log_prob(data).mean()
        loss = nll + 1e-3 * kl_divergence(dist, prior)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % (steps // 4) == 0 or step == steps - 1:
            print(f"mvn step {step} nll {nll.item():.5f} entropy {dist.entropy().item():.5f}")
    print("mvn loc", [round(v, 3) for v in loc.tolist()])
    print("mvn covariance diag", [round(v, 3) for v in dist.covariance_matrix.diagonal().tolist()])
    by_precision = MultivariateNormal(loc.detach(), precision_matrix=torch.linalg.inv(dist.covariance_matrix.detach()))
    print(f"mvn precision-parameterized log_prob {by_precision.log_prob(data[:8]).mean().item():.5f}")
    diag = Independent(Normal(loc.detach(), dist.stddev.detach()), 1)
    print(f"mvn diagonal log_prob {diag.log_prob(data[:8]).mean().item():.5f}")


def fit_beta_gamma_mixture(rng, steps):
    p = torch.from_numpy(rng.beta(2.0, 5.0, size=200).astype(np.float32))
    g = torch.from_numpy(rng.gamma(3.0, 0.5, size=200).astype(np.float32))
    z = rng.integers(0, 2, size=200)
    m = torch.from_numpy(np.where(z == 0, rng.normal(-2, 0.5, 200), rng.normal(1.5, 1.0, 200)).astype(np.float32))
    params = {k: nn.Parameter(torch.zeros(v)) for k, v in (("beta", 2), ("gamma", 2), ("logits", 2), ("locs", 2),
                                                          ("scales", 2))}
    with torch.no_grad():
        params["locs"].copy_(torch.tensor([-1.0, 1.0]))
    opt = torch.optim.Adam(params.values(), lr=0.05)
    for step in range(steps):
        beta = Beta(params["beta"].exp()[0], params["beta"].exp()[1])
        gamma = Gamma(params["gamma"].exp()[0], params["gamma"].exp()[1])
        mix = MixtureSameFamily(Categorical(logits=params["logits"]),
                                Normal(params["locs"], params["scales"].exp()))
        losses = [-beta.log_prob(p).mean(), -gamma.log_prob(g).mean(), -mix.log_prob(m).mean()]
        opt.zero_grad()
        sum(losses).backward()
        opt.step()
        if step % (steps // 4) == 0 or step == steps - 1:
            print(f"beta/gamma/mixture step {step} nll " + " ".join(f"{v.item():.5f}" for v in losses))
    print("beta concentrations", [round(v, 3) for v in params["beta"].exp().tolist()])
    print("gamma concentration, rate", [round(v, 3) for v in params["gamma"].exp().tolist()])
    print("mixture locs", [round(v, 3) for v in params["locs"].tolist()])
    print(f"mixture mean {mix.mean.item():.4f} variance {mix.variance.item():.4f}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=120)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    fit_normal(rng, args.steps)
    fit_categorical(rng, args.steps)
    fit_mvn(rng, args.steps)
    fit_beta_gamma_mixture(rng, args.steps)


if __name__ == "__main__":
    main()
