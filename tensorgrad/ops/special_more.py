"""The rest of torch.special, on SciPy's scipy.special (CuPy's copy on CUDA): the Bessel family, Airy's Ai, the
scaled and log forms of the normal and error functions, entropy, the incomplete gamma functions, Hurwitz's zeta, the
multivariate log-gamma, and the orthogonal polynomials.

Gradients are exactly torch's (derivatives.yaml): i0 / i0e / i1 / i1e, ndtri, log_ndtr, erfcx, entr and xlog1py have
them; zeta, gammainc and gammaincc only in their second argument (a gradient asked of the first raises torch's
"the derivative for ... is not implemented" at backward); the Bessel functions of torch.special's second family
(bessel_j0, modified_bessel_k1, airy_ai, ...) and the polynomials have none: their results do not require grad.
The polynomials follow torch's own evaluation (ATen's Math.h: the recurrences, the trigonometric forms for large n
inside [-1, 1], the closed values at the interval's ends), in the input's dtype, so float32 overflows where torch's
does; n is truncated to an integer, and n < 0 gives 0.
"""
import math

import numpy as np

from ..autograd.function import Function
from ..backend import xp_of
from ..tensor import Tensor
from .util import to_float, unbroadcast as _unb
from .graph import sum_to as _sum_to
from . import composite as C
from .elementwise_math import _check_tensor, _float_unary
from .special import _ERR, _Unary, _Binary, _special, _float_binary, lgamma

_SQRT_2PI = math.sqrt(2 * math.pi)
_TWO_OVER_SQRT_PI = 2 / math.sqrt(math.pi)


def _sp(name):
    """SciPy's ``name`` on an array, in the array's dtype."""
    return lambda xp, a: getattr(_special(xp), name)(a).astype(a.dtype, copy=False)


def _unary(name, fn, d, dg):
    return type(name, (_Unary, Function), {"fn": staticmethod(fn), "d": staticmethod(d), "dg": staticmethod(dg)})


def _at_zero(xp, a, value, other):
    """other, with value where a == 0 (other computed at a stand-in there, so no 0/0 warning)."""
    return xp.where(a == 0, xp.asarray(value, a.dtype), other)


def _i1_d(xp, a, y):
    safe = xp.where(a == 0, xp.ones((), a.dtype), a)
    return _at_zero(xp, a, 0.5, _special(xp).i0(a).astype(a.dtype) - y / safe)


def _i1e_d(xp, a, y):
    safe = xp.where(a == 0, xp.ones((), a.dtype), a)
    return _at_zero(xp, a, 0.5, _special(xp).i0e(a).astype(a.dtype) - y * (xp.sign(a) + 1 / safe))


def _graph_at_zero(a, value, expr_of_safe):
    zero = Tensor._make(a.array == 0, None)
    return C.where(zero, value, expr_of_safe(C.where(zero, 1.0, a)))


I0 = _unary("I0", _sp("i0"), lambda xp, a, y: _special(xp).i1(a).astype(a.dtype), lambda a, y: i1(a))
I0e = _unary("I0e", _sp("i0e"), lambda xp, a, y: _special(xp).i1e(a).astype(a.dtype) - xp.sign(a) * y,
             lambda a, y: i1e(a) - a.sign() * y)
I1 = _unary("I1", _sp("i1"), _i1_d, lambda a, y: _graph_at_zero(a, 0.5, lambda s: i0(a) - y / s))
I1e = _unary("I1e", _sp("i1e"), _i1e_d, lambda a, y: _graph_at_zero(a, 0.5, lambda s: i0e(a) - y * (a.sign() + 1 / s)))
Ndtri = _unary("Ndtri", _sp("ndtri"), lambda xp, a, y: _SQRT_2PI * xp.exp(y * y / 2),
               lambda a, y: _SQRT_2PI * (y * y / 2).exp())
LogNdtr = _unary("LogNdtr", _sp("log_ndtr"), lambda xp, a, y: xp.exp(-a * a / 2 - y) / _SQRT_2PI,
                 lambda a, y: (-a * a / 2 - y).exp() / _SQRT_2PI)
Erfcx = _unary("Erfcx", _sp("erfcx"), lambda xp, a, y: 2 * a * y - _TWO_OVER_SQRT_PI,
               lambda a, y: 2 * a * y - _TWO_OVER_SQRT_PI)
Entr = _unary("Entr", _sp("entr"), lambda xp, a, y: -(1 + xp.log(a)), lambda a, y: -(1 + a.log()))

i0, i0e, i1, i1e = (_float_unary(c, n) for c, n in ((I0, "i0"), (I0e, "i0e"), (I1, "i1"), (I1e, "i1e")))
ndtri, log_ndtr, erfcx, entr = (_float_unary(c, n) for c, n in ((Ndtri, "ndtri"), (LogNdtr, "log_ndtr"),
                                                                 (Erfcx, "erfcx"), (Entr, "entr")))


# ------------------------------------------------------------------------------------------- binary
def _not_implemented(what):
    def d(*args):
        raise RuntimeError(f"the derivative for '{what}' is not implemented.")
    return d


def _igamma_dx(xp, a, x, c):
    sp = _special(xp)
    return xp.exp(-x + (a - 1) * xp.log(x) - sp.gammaln(a).astype(x.dtype))


def _igamma_dx_graph(a, x, c):
    return (-x + (a - 1) * x.log() - lgamma(a)).exp()


def _zeta(xp, x, q):
    return _special(xp).zeta(x, q).astype(x.dtype, copy=False)


def _xlog1py(xp, a, b):
    return xp.where((a == 0) & ~xp.isnan(b), xp.zeros((), a.dtype), a * xp.log1p(b))


class Igamma(_Binary, Function):
    """The regularized lower incomplete gamma function P(a, x); its derivative in x is x^(a-1) e^-x / Gamma(a),
    in a torch has none."""
    fn = staticmethod(lambda xp, a, x: _special(xp).gammainc(a, x).astype(x.dtype, copy=False))
    da = dga = staticmethod(_not_implemented("igamma: input"))
    db, dgb = staticmethod(_igamma_dx), staticmethod(_igamma_dx_graph)


class Igammac(_Binary, Function):
    """Q(a, x) = 1 - P(a, x)."""
    fn = staticmethod(lambda xp, a, x: _special(xp).gammaincc(a, x).astype(x.dtype, copy=False))
    da = dga = staticmethod(_not_implemented("igammac: input"))
    db = staticmethod(lambda xp, a, x, c: -_igamma_dx(xp, a, x, c))
    dgb = staticmethod(lambda a, x, c: -_igamma_dx_graph(a, x, c))


class Zeta(_Binary, Function):
    """Hurwitz's zeta(x, q) = sum_k (k + q)^-x; d/dq = -x zeta(x + 1, q), d/dx not in torch."""
    fn = staticmethod(_zeta)
    da = dga = staticmethod(_not_implemented("zeta"))
    db = staticmethod(lambda xp, x, q, c: -x * _zeta(xp, x + 1, q))
    dgb = staticmethod(lambda x, q, c: -x * zeta(x + 1, q))


class XLog1pY(_Binary, Function):
    """x log1p(y), 0 where x == 0 (unless y is NaN); gradients as torch's xlog1py: in x, xlog1py(g, y) set to 0
    where x == 0 and y <= -1; in y, g x / (y + 1)."""
    fn = staticmethod(_xlog1py)

    def backward(self, g):
        a, b, _ = self.saved_tensors
        xp = xp_of(g)
        na, nb = self.needs_input_grad
        with np.errstate(**_ERR):
            ga = xp.where((a == 0) & (b <= -1), xp.zeros((), g.dtype), _xlog1py(xp, g, b)) if na else None
            return (_unb(ga, self.shapes[0]) if na else None, _unb(g * a / (b + 1), self.shapes[1]) if nb else None)

    def backward_graph(self, g):
        a, b, _ = self.saved_tensors
        ta, tb = self.input(0, a), self.input(1, b)
        na, nb = self.needs_input_grad
        return (_sum_to(C.where(Tensor._make((a == 0) & (b <= -1), None), 0.0, xlog1py(g, tb)), self.shapes[0])
                if na else None, _sum_to(g * ta / (tb + 1), self.shapes[1]) if nb else None)


igamma = gammainc = _float_binary(Igamma, "igamma")
igammac = gammaincc = _float_binary(Igammac, "igammac")
zeta = _float_binary(Zeta, "zeta")
xlog1py = _float_binary(XLog1pY, "xlog1py")


def mvlgamma(input, p):
    """The multivariate log-gamma of dimension p: sum_{i<p} lgamma(x - i/2) + p (p - 1)/4 log(pi). As torch (2.x)
    the domain x > (p - 1)/2 is not checked: below it the terms are log |Gamma| (inf at the poles)."""
    _check_tensor("mvlgamma", input)
    if not isinstance(p, (int, np.integer)) or isinstance(p, bool) or p < 1:
        raise RuntimeError(f"p has to be greater than or equal to 1, got {p!r}")
    x = to_float(input)
    steps = Tensor._make(xp_of(x.array).arange(p, dtype=x.dtype) / -2, None)
    return lgamma(x.unsqueeze(-1) + steps).sum(-1) + p * (p - 1) / 4 * math.log(math.pi)


# ------------------------------------------------------------------------------ no gradient in torch
def _nograd_unary(name, fn):
    def f(input):
        _check_tensor(name, input)
        x = to_float(input)
        with np.errstate(**_ERR):
            return Tensor._make(fn(xp_of(x.array), x.array).astype(x.dtype, copy=False), None)
    f.__name__ = name
    return f


def _spherical_j0(xp, a):
    safe = xp.where(a == 0, xp.ones((), a.dtype), a)
    return xp.where(xp.isinf(a), xp.zeros((), a.dtype), xp.where(a == 0, xp.ones((), a.dtype), xp.sin(safe) / safe))


airy_ai = _nograd_unary("airy_ai", lambda xp, a: _special(xp).airy(a)[0])
bessel_j0, bessel_j1 = _nograd_unary("bessel_j0", _sp("j0")), _nograd_unary("bessel_j1", _sp("j1"))
bessel_y0, bessel_y1 = _nograd_unary("bessel_y0", _sp("y0")), _nograd_unary("bessel_y1", _sp("y1"))
modified_bessel_i0 = _nograd_unary("modified_bessel_i0", _sp("i0"))
modified_bessel_i1 = _nograd_unary("modified_bessel_i1", _sp("i1"))
modified_bessel_k0 = _nograd_unary("modified_bessel_k0", _sp("k0"))
modified_bessel_k1 = _nograd_unary("modified_bessel_k1", _sp("k1"))
scaled_modified_bessel_k0 = _nograd_unary("scaled_modified_bessel_k0", _sp("k0e"))
scaled_modified_bessel_k1 = _nograd_unary("scaled_modified_bessel_k1", _sp("k1e"))
spherical_bessel_j0 = _nograd_unary("spherical_bessel_j0", _spherical_j0)
