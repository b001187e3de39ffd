"""tensorgrad.special: torch.special (erf, erfc, erfinv, expit, logit, xlogy, gammaln, digamma/psi, polygamma, log1p,
expm1, exp2, ndtr, logsumexp, softmax, log_softmax, round, and ops/special_more.py's and ops/polynomials.py's: the
Bessel family, i0/i0e/i1/i1e, ndtri, log_ndtr, erfcx, entr, xlog1py, zeta, gammainc(c), multigammaln, sinc, the
orthogonal polynomials); the alias maps torch.special here."""
import math

from .ops.elementwise import sigmoid as expit
from .ops.elementwise_math import erf, log1p, expm1, round
from .ops.special import erfc, erfinv, logit, xlogy, lgamma as gammaln, digamma, polygamma
from .ops.special import digamma as psi
from .ops.reduce import logsumexp
from .ops.nn import softmax, log_softmax
from .ops.util import to_float
from .ops.extra_math import sinc
from .ops.special_more import (i0, i0e, i1, i1e, ndtri, log_ndtr, erfcx, entr, xlog1py, zeta, gammainc, gammaincc,
                               airy_ai, bessel_j0, bessel_j1, bessel_y0, bessel_y1, modified_bessel_i0,
                               modified_bessel_i1, modified_bessel_k0, modified_bessel_k1, scaled_modified_bessel_k0,
                               scaled_modified_bessel_k1, spherical_bessel_j0, mvlgamma as multigammaln)
from .ops.polynomials import (chebyshev_polynomial_t, chebyshev_polynomial_u, chebyshev_polynomial_v,
                              chebyshev_polynomial_w, shifted_chebyshev_polynomial_t, shifted_chebyshev_polynomial_u,
                              shifted_chebyshev_polynomial_v, shifted_chebyshev_polynomial_w, hermite_polynomial_h,
                              hermite_polynomial_he, laguerre_polynomial_l, legendre_polynomial_p, NAMES as _POLY)

__all__ = ["erf", "erfc", "erfinv", "expit", "logit", "xlogy", "gammaln", "digamma", "psi", "polygamma", "log1p",
           "expm1", "exp2", "ndtr", "logsumexp", "softmax", "log_softmax", "round", "sinc", "i0", "i0e", "i1", "i1e",
           "ndtri", "log_ndtr", "erfcx", "entr", "xlog1py", "zeta", "gammainc", "gammaincc", "multigammaln",
           "airy_ai", "bessel_j0", "bessel_j1", "bessel_y0", "bessel_y1", "modified_bessel_i0", "modified_bessel_i1",
           "modified_bessel_k0", "modified_bessel_k1", "scaled_modified_bessel_k0", "scaled_modified_bessel_k1",
           "spherical_bessel_j0", *_POLY]


def exp2(input):
    return 2.0 ** to_float(input)


def ndtr(input):
    """The standard normal CDF, 0.5 erfc(-x / sqrt(2)) (accurate in the lower tail, where 0.5 (1 + erf) is not)."""
    return 0.5 * erfc(to_float(input) * (-1 / math.sqrt(2)))
