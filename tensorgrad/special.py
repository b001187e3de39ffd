"""tensorgrad.special: the torch.special functions tensorgrad has (erf, erfc, erfinv, expit, logit, xlogy, gammaln,
digamma/psi, polygamma, log1p, expm1, exp2, ndtr, logsumexp, softmax, log_softmax, round); the alias maps
torch.special here, and any other name fails naming the torch feature."""
import math

from .ops.elementwise import sigmoid as expit
from .ops.elementwise_math import erf, log1p, expm1, round
from .ops.special import erfc, erfinv, logit, xlogy, lgamma as gammaln, digamma, polygamma
from .ops.special import digamma as psi
from .ops.reduce import logsumexp
from .ops.nn import softmax, log_softmax
from .ops.util import to_float

__all__ = ["erf", "erfc", "erfinv", "expit", "logit", "xlogy", "gammaln", "digamma", "psi", "polygamma", "log1p",
           "expm1", "exp2", "ndtr", "logsumexp", "softmax", "log_softmax", "round"]


def exp2(input):
    return 2.0 ** to_float(input)


def ndtr(input):
    """The standard normal CDF, 0.5 erfc(-x / sqrt(2)) (accurate in the lower tail, where 0.5 (1 + erf) is not)."""
    return 0.5 * erfc(to_float(input) * (-1 / math.sqrt(2)))
