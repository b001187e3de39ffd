"""torch.special's orthogonal polynomials P_n(x): Chebyshev T, U, V, W and their shifted forms, physicists' and
probabilists' Hermite, Laguerre and Legendre, evaluated as torch evaluates them (ATen's Math.h), vectorized over the
broadcast (x, n): closed values at the ends of the interval, the trigonometric form for large n inside it, otherwise
the three-term recurrence run in x's dtype up to each element's n. n is truncated to an integer; n < 0 gives 0.
No gradient (torch has none): the result never requires grad.
"""
import numpy as np

from .. import dtypes
from ..backend import xp_of
from ..tensor import Tensor
from . import elementwise as E

_ERR = dict(divide="ignore", invalid="ignore", over="ignore")


def _recurrence(xp, x, n, q0, q1, step):
    """P_n from P_0 = q0, P_1 = q1 and P_{k} = step(k, P_{k-1}, P_{k-2}) for k = 2..n, where n >= 2 (else q0/q1)."""
    p, q = xp.broadcast_to(q0, x.shape).astype(x.dtype), xp.broadcast_to(q1, x.shape).astype(x.dtype)
    out = xp.where(n == 0, p, q)
    top = int(n.max()) if n.size else 0
    for k in range(2, top + 1):
        r = step(k, q, p)
        p, q = q, r
        out = xp.where(n == k, r, out)
    return out


def _odd(n):
    return n % 2 == 1


def _cheb(kind, shifted):
    """Chebyshev T/U/V/W (shifted: of 2x - 1), torch's forms."""
    big = {"t": 6, "u": 8, "v": 8, "w": 8} if not shifted else {"t": 6, "u": 6, "v": 6, "w": 4}

    def f(xp, x, n):
        one = x.dtype.type(1)
        y = (x + x - one) if shifted else x
        nf = n.astype(x.dtype)
        # the recurrence's first two terms, then P_k = 2y P_{k-1} - P_{k-2}
        q1 = {"t": y, "u": y + y, "v": y + y - one, "w": y + y + one}[kind]
        rec = _recurrence(xp, x, n, xp.ones((), x.dtype), q1, lambda k, q, p: (y + y) * q - p)
        theta = xp.arccos(y)
        with np.errstate(**_ERR):
            trig = {"t": xp.cos(nf * theta),
                    "u": xp.where(xp.sin(theta) != 0, xp.sin((nf + 1) * theta) / xp.sin(theta),
                                  (nf + 1) * xp.cos((nf + 1) * theta) / y),
                    "v": xp.where(xp.sin(theta / 2) != 1, xp.cos((nf + 0.5) * theta) / xp.cos(theta / 2),
                                  xp.where(_odd(n), -(nf + nf + 1), nf + nf + 1)),
                    "w": xp.where(xp.cos(theta / 2) != 1, xp.sin((nf + 0.5) * theta) / xp.sin(theta / 2),
                                  xp.where(y > 0, nf + nf + 1, xp.where(_odd(n), -one, one)))}[kind]
        sgn = xp.where(_odd(n), -one, one)
        # values at the ends: at y = 1 (x = 1) and y = -1 (x = -1, or x = 0 when shifted)
        at_hi = {"t": one + 0 * nf, "u": nf + 1, "v": one + 0 * nf, "w": nf + nf + 1}[kind]
        at_lo = {"t": sgn, "u": sgn * (nf + 1), "v": sgn * (nf + nf + 1), "w": sgn}[kind]
        hi, lo = (x == 1, x == 0) if shifted else ((xp.abs(x) == 1) & (x > 0), (xp.abs(x) == 1) & (x < 0))
        out = xp.where(n > big[kind], xp.where(xp.abs(y) < 1, trig, rec), rec)
        out = xp.where(hi, at_hi, xp.where(lo, at_lo, out))
        return xp.where(n < 0, xp.zeros((), x.dtype), out)
    return f


def _hermite_h(xp, x, n):
    two_x = x + x
    return xp.where(n < 0, 0, _recurrence(xp, x, n, xp.ones((), x.dtype), two_x,
                                           lambda k, q, p: two_x * q - x.dtype.type(2 * (k - 1)) * p))


def _hermite_he(xp, x, n):
    return xp.where(n < 0, 0, _recurrence(xp, x, n, xp.ones((), x.dtype), x,
                                           lambda k, q, p: x * q - x.dtype.type(k - 1) * p))


def _laguerre(xp, x, n):
    one = x.dtype.type(1)
    out = _recurrence(xp, x, n, xp.ones((), x.dtype), one - x,
                      lambda k, q, p: ((x.dtype.type(2 * (k - 1)) + (one - x)) * q - x.dtype.type(k - 1) * p)
                      / x.dtype.type(k))
    return xp.where(n < 0, 0, xp.where(x == 0, one, out))


def _legendre(xp, x, n):
    one = x.dtype.type(1)
    out = _recurrence(xp, x, n, xp.ones((), x.dtype), x,
                      lambda k, q, p: (x.dtype.type(2 * k - 1) * x * q - x.dtype.type(k - 1) * p) / x.dtype.type(k))
    edge = xp.where((x > 0) | ~_odd(n), one, -one)  # (1 at x = 1, (-1)^n at x = -1)
    return xp.where(n < 0, 0, xp.where(xp.abs(x) == 1, edge, out))


def _polynomial(name, fn):
    def f(input, n, *, out=None):
        if not isinstance(input, Tensor) and not isinstance(n, Tensor):
            raise TypeError(f"{name}(): expected input or n to be a Tensor, got {type(input).__name__} and "
                            f"{type(n).__name__}")
        like = input if isinstance(input, Tensor) else n
        xt = input if isinstance(input, Tensor) else Tensor._make(like._xp.asarray(input), None)
        nt = n if isinstance(n, Tensor) else Tensor._make(like._xp.asarray(n), None)
        dt = np.promote_types(xt.dtype, nt.dtype) if (isinstance(input, Tensor) and isinstance(n, Tensor)) \
            else xt.dtype if isinstance(input, Tensor) else nt.dtype
        if not dtypes.is_float(dt):
            dt = dtypes.get_default_dtype()
        xp = like._xp
        x, nn = xp.broadcast_arrays(xt.array.astype(dt), nt.array)
        with np.errstate(**_ERR):
            nint = xp.where(xp.isnan(nn), -1, xp.trunc(nn)).astype(np.int64) if nn.dtype.kind == "f" \
                else nn.astype(np.int64)
            res = Tensor._make(xp.asarray(fn(xp, x, nint), dtype=dt), None)
        return res if out is None else out.copy_(res)
    f.__name__ = f.__qualname__ = name
    return f


chebyshev_polynomial_t = _polynomial("chebyshev_polynomial_t", _cheb("t", False))
chebyshev_polynomial_u = _polynomial("chebyshev_polynomial_u", _cheb("u", False))
chebyshev_polynomial_v = _polynomial("chebyshev_polynomial_v", _cheb("v", False))
chebyshev_polynomial_w = _polynomial("chebyshev_polynomial_w", _cheb("w", False))
shifted_chebyshev_polynomial_t = _polynomial("shifted_chebyshev_polynomial_t", _cheb("t", True))
shifted_chebyshev_polynomial_u = _polynomial("shifted_chebyshev_polynomial_u", _cheb("u", True))
shifted_chebyshev_polynomial_v = _polynomial("shifted_chebyshev_polynomial_v", _cheb("v", True))
shifted_chebyshev_polynomial_w = _polynomial("shifted_chebyshev_polynomial_w", _cheb("w", True))
hermite_polynomial_h = _polynomial("hermite_polynomial_h", _hermite_h)
hermite_polynomial_he = _polynomial("hermite_polynomial_he", _hermite_he)
laguerre_polynomial_l = _polynomial("laguerre_polynomial_l", _laguerre)
legendre_polynomial_p = _polynomial("legendre_polynomial_p", _legendre)

NAMES = ("chebyshev_polynomial_t", "chebyshev_polynomial_u", "chebyshev_polynomial_v", "chebyshev_polynomial_w",
         "shifted_chebyshev_polynomial_t", "shifted_chebyshev_polynomial_u", "shifted_chebyshev_polynomial_v",
         "shifted_chebyshev_polynomial_w", "hermite_polynomial_h", "hermite_polynomial_he", "laguerre_polynomial_l",
         "legendre_polynomial_p")
