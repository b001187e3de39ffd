"""ExponentialFamily: distributions whose density is exp(<t(x), theta> - F(theta) + k(x)). Its entropy comes from the
log normalizer F by autograd (H = F - <theta, dF/dtheta> - E[k]), for subclasses without a closed form of their own;
kl_divergence between two members of one family uses the same Bregman identity (kl.py)."""
from ..autograd import grad
from .distribution import Distribution


class ExponentialFamily(Distribution):
    @property
    def _natural_params(self):
        raise NotImplementedError

    def _log_normalizer(self, *natural_params):
        raise NotImplementedError

    @property
    def _mean_carrier_measure(self):
        raise NotImplementedError

    def entropy(self):
        params = [p.detach().requires_grad_() for p in self._natural_params]
        lg_normal = self._log_normalizer(*params)
        grads = grad(lg_normal.sum(), params, create_graph=True)
        result = lg_normal - self._mean_carrier_measure
        for p, g in zip(params, grads):
            result = result - (p * g).reshape(self._batch_shape + (-1,)).sum(-1)
        return result
