"""More of torch's elementwise math: tan, the inverse and hyperbolic trigonometric functions, lgamma / digamma /
polygamma / erfinv (SciPy's, or CuPy's copies of them), logit, deg2rad / rad2deg; the binary atan2, hypot,
logaddexp / logaddexp2, xlogy, fmod, copysign, fmax / fmin; the bitwise ops on integers and bools; and the sign
tests signbit / isposinf / isneginf. Each differentiable op's backward and double backward sit beside its forward.

Derivatives are torch's formulas (torch/csrc/autograd/derivatives.yaml), so the values at the edges agree: e.g.
atan2's and hypot's gradient at (0, 0) is NaN, xlogy's gradient in y where x == 0 is 0, fmod's in b is
-g trunc(a / b). Integer and bool inputs of the float ops become the default float dtype, as in torch.
"""
import math

import numpy as np

from ..autograd.function import Function
from ..backend import xp_of
from ..tensor import Tensor, check_device_as
from .util import is_float, to_float, shape_of, unbroadcast
from .graph import sum_to
from . import elementwise as E
from . import composite as C
from .elementwise_math import _TWO_OVER_SQRT_PI, _check_tensor, _float_unary

_ERR = dict(divide="ignore", invalid="ignore", over="ignore")


def _special(xp):
    if xp.__name__ == "cupy":
        import cupyx.scipy.special as sp
    else:
        import scipy.special as sp
    return sp


def _const(like, array):
    return Tensor._make(array.astype(like.dtype, copy=False), None)


# ------------------------------------------------------------------------------------------- unary float ops
class _Unary:
    """y = f(a), mixed into a Function (a plain base: the coverage gate counts Functions); the op gives f (``fn``)
    and f' on arrays (``d``, from a and y) and on graph Tensors (``dg``)."""

    def forward(self, a):
        with np.errstate(**_ERR):
            y = self.fn(xp_of(a), a)
        self.save_for_backward(a, y)
        return y

    def backward(self, g):
        a, y = self.saved_tensors
        with np.errstate(**_ERR):
            return g * self.d(xp_of(g), a, y)

    def backward_graph(self, g):
        a, y = self.saved_tensors
        return g * self.dg(self.input(0, a), self.output(y))


def _unary(name, fn, d, dg):
    return type(name, (_Unary, Function), {"fn": staticmethod(fn), "d": staticmethod(d), "dg": staticmethod(dg)})


Tan = _unary("Tan", lambda xp, a: xp.tan(a), lambda xp, a, y: 1 + y * y, lambda a, y: 1 + y * y)
Asin = _unary("Asin", lambda xp, a: xp.arcsin(a), lambda xp, a, y: 1 / xp.sqrt(1 - a * a),
              lambda a, y: (1 - a * a).rsqrt())
Acos = _unary("Acos", lambda xp, a: xp.arccos(a), lambda xp, a, y: -1 / xp.sqrt(1 - a * a),
              lambda a, y: -(1 - a * a).rsqrt())
Atan = _unary("Atan", lambda xp, a: xp.arctan(a), lambda xp, a, y: 1 / (1 + a * a), lambda a, y: 1 / (1 + a * a))
Sinh = _unary("Sinh", lambda xp, a: xp.sinh(a), lambda xp, a, y: xp.cosh(a), lambda a, y: cosh(a))
Cosh = _unary("Cosh", lambda xp, a: xp.cosh(a), lambda xp, a, y: xp.sinh(a), lambda a, y: sinh(a))
Asinh = _unary("Asinh", lambda xp, a: xp.arcsinh(a), lambda xp, a, y: 1 / xp.sqrt(a * a + 1),
               lambda a, y: (a * a + 1).rsqrt())
Acosh = _unary("Acosh", lambda xp, a: xp.arccosh(a), lambda xp, a, y: 1 / xp.sqrt(a * a - 1),
               lambda a, y: (a * a - 1).rsqrt())
Atanh = _unary("Atanh", lambda xp, a: xp.arctanh(a), lambda xp, a, y: 1 / (1 - a * a), lambda a, y: 1 / (1 - a * a))
Erfc = _unary("Erfc", lambda xp, a: _special(xp).erfc(a).astype(a.dtype, copy=False),
               lambda xp, a, y: -_TWO_OVER_SQRT_PI * xp.exp(-a * a), lambda a, y: -_TWO_OVER_SQRT_PI * (-a * a).exp())
_HALF_SQRT_PI = math.sqrt(math.pi) / 2
Erfinv = _unary("Erfinv", lambda xp, a: _special(xp).erfinv(a).astype(a.dtype, copy=False),
                lambda xp, a, y: _HALF_SQRT_PI * xp.exp(y * y), lambda a, y: _HALF_SQRT_PI * (y * y).exp())
def _lgamma(xp, a):
    y = _special(xp).gammaln(a).astype(a.dtype, copy=False)
    return xp.where(a == -xp.inf, xp.inf, y)  # (SciPy's gammaln(-inf) is -inf; log |gamma| there is inf, as torch's)


Lgamma = _unary("Lgamma", _lgamma,
                lambda xp, a, y: _special(xp).psi(a).astype(a.dtype, copy=False), lambda a, y: digamma(a))


class Polygamma(Function):
    """The n-th derivative of digamma (n = 0: digamma itself); its derivative is polygamma(n + 1)."""

    def forward(self, a, n):
        self.n = n
        self.save_for_backward(a)
        with np.errstate(**_ERR):
            sp = _special(xp_of(a))
            return (sp.psi(a) if n == 0 else sp.polygamma(n, a)).astype(a.dtype, copy=False)

    def backward(self, g):
        with np.errstate(**_ERR):
            return g * _special(xp_of(g)).polygamma(self.n + 1, self.saved_tensors[0]).astype(g.dtype), None

    def backward_graph(self, g):
        return g * polygamma(self.n + 1, self.input(0, self.saved_tensors[0])), None


tan, asin, acos, atan = (_float_unary(c, n) for c, n in ((Tan, "tan"), (Asin, "asin"), (Acos, "acos"), (Atan, "atan")))
sinh, cosh = _float_unary(Sinh, "sinh"), _float_unary(Cosh, "cosh")
asinh, acosh, atanh = _float_unary(Asinh, "asinh"), _float_unary(Acosh, "acosh"), _float_unary(Atanh, "atanh")
erfinv, lgamma = _float_unary(Erfinv, "erfinv"), _float_unary(Lgamma, "lgamma")
erfc = _float_unary(Erfc, "erfc")  # (SciPy's: 1 - erf(x) would lose every digit where erf(x) rounds to 1)


def polygamma(n, input):
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
        raise RuntimeError(f"polygamma: n must be a non-negative int, got {n!r}")
    _check_tensor("polygamma", input)
    return Polygamma.apply(to_float(input), int(n))


def digamma(input):
    return polygamma(0, input)


class Logit(Function):
    """log(x / (1 - x)), x clamped to [eps, 1 - eps] first when eps is given. torch's gradient: 1 / (x (1 - x)),
    0 outside [eps, 1 - eps] with eps, NaN outside [0, 1] without (not the clamp's or the formula's values)."""

    def forward(self, a, eps):
        self.eps = eps
        self.save_for_backward(a)
        x = a if eps is None else xp_of(a).clip(a, eps, 1 - eps)
        with np.errstate(**_ERR):
            return xp_of(a).log(x / (1 - x))

    def _outside(self, a):
        if self.eps is None:
            return (a < 0) | (a > 1), np.nan
        return ~((a >= self.eps) & (a <= 1 - self.eps)), 0.0  # (NaN counts as outside: 0, as torch's vector loop)

    def backward(self, g):
        a = self.saved_tensors[0]
        out, fill = self._outside(a)
        with np.errstate(**_ERR):
            return xp_of(g).where(out, fill, g / (a * (1 - a))).astype(g.dtype, copy=False), None

    def backward_graph(self, g):
        a = self.saved_tensors[0]
        out, fill = self._outside(a)
        cond = Tensor._make(out, None)
        x = C.where(cond, 0.5, self.input(0, a))  # (a finite stand-in where the value is replaced: no NaN flows back)
        return C.where(cond, fill, g / (x * (1 - x))), None


def logit(input, eps=None):
    _check_tensor("logit", input)
    return Logit.apply(to_float(input), None if eps is None else float(eps))


def deg2rad(input):
    return to_float(input) * (math.pi / 180)


def rad2deg(input):
    return to_float(input) * (180 / math.pi)


# ------------------------------------------------------------------------------------------- binary float ops
class _Binary:
    """c = f(a, b), a and b broadcast, mixed into a Function as _Unary; the op gives f (``fn``) and the partial
    derivatives on arrays (``da``, ``db``: from a, b, c) and on graph Tensors (``dga``, ``dgb``)."""

    def forward(self, a, b):
        self.shapes = (shape_of(a), shape_of(b))
        with np.errstate(**_ERR):
            c = self.fn(xp_of(a), a, b)
        self.save_for_backward(a, b, c)
        return c

    def backward(self, g):
        a, b, c = self.saved_tensors
        xp = xp_of(g)
        na, nb = self.needs_input_grad
        with np.errstate(**_ERR):
            return (unbroadcast(g * self.da(xp, a, b, c), self.shapes[0]) if na else None,
                    unbroadcast(g * self.db(xp, a, b, c), self.shapes[1]) if nb else None)

    def backward_graph(self, g):
        a, b, c = self.saved_tensors
        ta, tb, tc = self.input(0, a), self.input(1, b), self.output(c)
        na, nb = self.needs_input_grad
        return (sum_to(g * self.dga(ta, tb, tc), self.shapes[0]) if na else None,
                sum_to(g * self.dgb(ta, tb, tc), self.shapes[1]) if nb else None)


def _binary(name, fn, da, db, dga, dgb):
    return type(name, (_Binary, Function), {"fn": staticmethod(fn), "da": staticmethod(da), "db": staticmethod(db),
                                             "dga": staticmethod(dga), "dgb": staticmethod(dgb)})


def _atan2_recip(xp, a, b):
    r2 = a * a + b * b
    return xp.where(r2 == 0, xp.zeros((), a.dtype), 1 / xp.where(r2 == 0, xp.ones((), a.dtype), r2))


def _atan2_recip_graph(a, b):
    # (torch's gradient at (0, 0) is 0: the reciprocal is taken as 0 there, through a finite stand-in)
    zero = Tensor._make(a.array * a.array + b.array * b.array == 0, None)
    return C.where(zero, 0.0, 1 / C.where(zero, 1.0, a * a + b * b))


Atan2 = _binary("Atan2", lambda xp, a, b: xp.arctan2(a, b),
                lambda xp, a, b, c: b * _atan2_recip(xp, a, b), lambda xp, a, b, c: -a * _atan2_recip(xp, a, b),
                lambda a, b, c: b * _atan2_recip_graph(a, b), lambda a, b, c: -a * _atan2_recip_graph(a, b))
Hypot = _binary("Hypot", lambda xp, a, b: xp.hypot(a, b),
                lambda xp, a, b, c: a / c, lambda xp, a, b, c: b / c, lambda a, b, c: a / c, lambda a, b, c: b / c)
LogAddExp = _binary("LogAddExp", lambda xp, a, b: xp.logaddexp(a, b),
                    lambda xp, a, b, c: 1 / (1 + xp.exp(b - a)), lambda xp, a, b, c: 1 / (1 + xp.exp(a - b)),
                    lambda a, b, c: 1 / (1 + (b - a).exp()), lambda a, b, c: 1 / (1 + (a - b).exp()))
LogAddExp2 = _binary("LogAddExp2", lambda xp, a, b: xp.logaddexp2(a, b),
                     lambda xp, a, b, c: 1 / (1 + xp.exp2(b - a)), lambda xp, a, b, c: 1 / (1 + xp.exp2(a - b)),
                     lambda a, b, c: 1 / (1 + 2 ** (b - a)), lambda a, b, c: 1 / (1 + 2 ** (a - b)))


def _xlogy(xp, a, b):
    return xp.where((a == 0) & ~xp.isnan(b), xp.zeros((), a.dtype), a * xp.log(b))


class XLogY(_Binary, Function):
    """x log(y), 0 where x == 0 (unless y is NaN). torch's gradient in x is xlogy(g, y), set to 0 where x == 0 and
    y <= 0; in y, g x / y."""
    fn = staticmethod(_xlogy)

    def backward(self, g):
        a, b, _ = self.saved_tensors
        xp = xp_of(g)
        na, nb = self.needs_input_grad
        with np.errstate(**_ERR):
            ga = xp.where((a == 0) & (b <= 0), xp.zeros((), g.dtype), _xlogy(xp, g, b)) if na else None
            return (unbroadcast(ga, self.shapes[0]) if na else None,
                    unbroadcast(g * a / b, self.shapes[1]) if nb else None)

    def backward_graph(self, g):
        a, b, _ = self.saved_tensors
        ta, tb = self.input(0, a), self.input(1, b)
        na, nb = self.needs_input_grad
        return (sum_to(C.where(Tensor._make((a == 0) & (b <= 0), None), 0.0, xlogy(g, tb)), self.shapes[0])
                if na else None, sum_to(g * ta / tb, self.shapes[1]) if nb else None)
# (fmod's quotient is piecewise constant: its derivative is 0, so the graph forms use it as a constant)
Fmod = _binary("Fmod", lambda xp, a, b: xp.fmod(a, b),
               lambda xp, a, b, c: xp.ones((), a.dtype), lambda xp, a, b, c: -xp.trunc(a / b),
               lambda a, b, c: 1.0, lambda a, b, c: -_const(a, xp_of(a.array).trunc(a.array / b.array)))


def _copysign_da(xp, a, b, c):
    return xp.where(a == 0, xp.zeros((), a.dtype), c / a)


CopySign = _binary("CopySign", lambda xp, a, b: xp.copysign(a, b), _copysign_da,
                   lambda xp, a, b, c: xp.zeros((), a.dtype),
                   lambda a, b, c: _const(a, _copysign_da(xp_of(a.array), a.array, b.array, c.array)),
                   lambda a, b, c: 0.0)


def _fm_take_a(xp, a, b, is_max):
    # torch: the gradient goes to a where a wins or b is NaN, else to b (ties: to a)
    return ((a >= b) if is_max else (a <= b)) | xp.isnan(b)


Fmax = _binary("Fmax", lambda xp, a, b: xp.fmax(a, b),
               lambda xp, a, b, c: _fm_take_a(xp, a, b, True).astype(a.dtype),
               lambda xp, a, b, c: (~_fm_take_a(xp, a, b, True)).astype(a.dtype),
               lambda a, b, c: _const(a, _fm_take_a(xp_of(a.array), a.array, b.array, True)),
               lambda a, b, c: _const(a, ~_fm_take_a(xp_of(a.array), a.array, b.array, True)))
Fmin = _binary("Fmin", lambda xp, a, b: xp.fmin(a, b),
               lambda xp, a, b, c: _fm_take_a(xp, a, b, False).astype(a.dtype),
               lambda xp, a, b, c: (~_fm_take_a(xp, a, b, False)).astype(a.dtype),
               lambda a, b, c: _const(a, _fm_take_a(xp_of(a.array), a.array, b.array, False)),
               lambda a, b, c: _const(a, ~_fm_take_a(xp_of(a.array), a.array, b.array, False)))


def _float_binary(cls, name, ints=None, float_only=False, no_bool=False):
    """The op on two operands (one may be a Python number), promoted as torch's; integer and bool operands become
    the default float dtype, unless ``ints`` (an array function) computes integer results with no gradient; refused
    as by torch: any but floats (``float_only``), bools (``no_bool``)."""
    def f(input, other):
        a, b = E._promote(name, input, other)
        t = a if isinstance(a, Tensor) else b
        if not is_float(t.dtype) and (float_only or (no_bool and t.dtype == np.bool_)):
            raise NotImplementedError(f"{name}: not implemented for {t.dtype} tensors (shape {tuple(t.shape)}); it "
                                      "takes floating point" + (" and integer" if ints is not None else "") +
                                      " tensors")
        if not is_float(t.dtype):
            if ints is not None:
                check_device_as(name, *(x for x in (a, b) if isinstance(x, Tensor)))
                return _int_result(name, ints, a, b)
            a = to_float(a) if isinstance(a, Tensor) else float(a)
            b = to_float(b) if isinstance(b, Tensor) else float(b)
            a, b = E._promote(name, a, b)
        return cls.apply(a, b)
    f.__name__ = name
    return f


def _int_result(name, fn, a, b):
    xa = a.array if isinstance(a, Tensor) else a
    xb = b.array if isinstance(b, Tensor) else b
    xp = xp_of(xa if isinstance(a, Tensor) else xb)
    try:
        return Tensor._make(xp.asarray(fn(xp, xa, xb)), None)
    except ValueError:
        raise RuntimeError(f"{name}: shapes {[tuple(x.shape) for x in (a, b) if isinstance(x, Tensor)]} cannot be "
                           "broadcast together") from None


def _int_fmod(xp, a, b):
    if xp.asarray(a).size and bool((xp.asarray(b) == 0).any()):  # (an empty result divides nothing: torch returns)
        raise RuntimeError("fmod: ZeroDivisionError (an integer divisor is 0)")
    return xp.fmod(a, b)


atan2 = _float_binary(Atan2, "atan2")
hypot = _float_binary(Hypot, "hypot", float_only=True)
logaddexp = _float_binary(LogAddExp, "logaddexp")
logaddexp2 = _float_binary(LogAddExp2, "logaddexp2")
xlogy = _float_binary(XLogY, "xlogy")
fmod = _float_binary(Fmod, "fmod", ints=_int_fmod, no_bool=True)
copysign = _float_binary(CopySign, "copysign")
fmax = _float_binary(Fmax, "fmax", ints=lambda xp, a, b: xp.fmax(a, b))
fmin = _float_binary(Fmin, "fmin", ints=lambda xp, a, b: xp.fmin(a, b))


# ------------------------------------------------------------------------------------------- no gradient
def _bitwise(name, np_name):
    def f(input, other):
        a, b = E._promote(name, input, other)
        for x in (a, b):
            if isinstance(x, Tensor) and is_float(x.dtype) or isinstance(x, float):
                raise RuntimeError(f"{name}: not implemented for floating point operands (dtypes "
                                   f"{[str(t.dtype) for t in (a, b) if isinstance(t, Tensor)]}); it takes integer "
                                   "and bool tensors")
        t = a if isinstance(a, Tensor) else b
        if np_name.endswith("_shift") and t.dtype == np.bool_:
            raise NotImplementedError(f'"{name}" not implemented for \'Bool\' (shapes '
                                      f"{[tuple(x.shape) for x in (a, b) if isinstance(x, Tensor)]})")
        check_device_as(name, *(x for x in (a, b) if isinstance(x, Tensor)))
        xa = a.array if isinstance(a, Tensor) else a
        xb = b.array if isinstance(b, Tensor) else b
        try:
            return Tensor._make(xp_of(t.array).asarray(getattr(xp_of(t.array), np_name)(xa, xb)), None)
        except ValueError:
            raise RuntimeError(f"{name}: shapes {[tuple(x.shape) for x in (a, b) if isinstance(x, Tensor)]} cannot "
                               "be broadcast together") from None
    f.__name__ = name
    return f


bitwise_and = _bitwise("bitwise_and", "bitwise_and")
bitwise_or = _bitwise("bitwise_or", "bitwise_or")
bitwise_xor = _bitwise("bitwise_xor", "bitwise_xor")
bitwise_left_shift = _bitwise("bitwise_left_shift", "left_shift")
bitwise_right_shift = _bitwise("bitwise_right_shift", "right_shift")


def bitwise_not(input):
    if is_float(input.dtype):
        raise RuntimeError(f"bitwise_not: not implemented for floating point tensors ({input.dtype}, shape "
                           f"{tuple(input.shape)})")
    return Tensor._make(xp_of(input.array).invert(input.array), None)


def signbit(input):
    return Tensor._make(xp_of(input.array).signbit(input.array), None)


def isposinf(input):
    return Tensor._make(xp_of(input.array).isposinf(input.array) if is_float(input.dtype)
                        else xp_of(input.array).zeros(input.shape, bool), None)


def isneginf(input):
    return Tensor._make(xp_of(input.array).isneginf(input.array) if is_float(input.dtype)
                        else xp_of(input.array).zeros(input.shape, bool), None)
