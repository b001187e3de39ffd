"""tensorgrad.distributions: torch.distributions on tensorgrad's differentiable ops. Parameters may require grad;
log_prob, entropy, cdf, kl_divergence and rsample are differentiable in them. Draws come from tensorgrad's
generators (tensorgrad.manual_seed makes them reproducible) on the parameters' device, in their dtype."""
from . import constraints
from .bernoulli import Bernoulli
from .categorical import Categorical, OneHotCategorical, OneHotCategoricalStraightThrough
from .distribution import Distribution
from .exp_family import ExponentialFamily
from .independent import Independent
from .kl import kl_divergence, register_kl
from .multivariate_normal import MultivariateNormal
from .normal import Normal, Laplace, Cauchy
from .uniform import Uniform

__all__ = ["Bernoulli", "Categorical", "Cauchy", "Distribution", "ExponentialFamily", "Independent", "Laplace",
           "MultivariateNormal", "Normal", "OneHotCategorical", "OneHotCategoricalStraightThrough", "Uniform",
           "constraints", "kl_divergence", "register_kl"]
