"""Elementwise math beyond arithmetic: sin/cos, erf, accurate log1p/expm1, log2/log10, reciprocal, the rounding
family (zero gradient, as PyTorch), lerp, logical ops, and the square/addcmul/addcdiv composites.

dtype rules follow PyTorch: the transcendental ops turn integer and bool inputs into the default float dtype;
sign/floor/ceil/round/trunc keep an integer dtype (they are the identity there); frac and lerp take floats only."""
import math

import numpy as np

from ..autograd.function import Function
from ..backend import xp_of
from ..backend.reference import _erf
from .util import unbroadcast, shape_of, is_float, to_float
from . import elementwise as E
from ..tensor import Tensor, check_device_as
from .graph import sum_to

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_LN2 = math.log(2.0)
_LN10 = math.log(10.0)


def _shape(t):
    return tuple(t.shape)


def _check_tensor(op, x, what="input"):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: {what} must be a Tensor, got {type(x).__name__}")


# ------------------------------------------------------------------------------------------ trig, erf
class Sin(Function):
    def forward(self, a):
        self.save_for_backward(a)
        return xp_of(a).sin(a)

    def backward(self, g):
        return g * xp_of(g).cos(self.saved_tensors[0])

    def backward_graph(self, g):
        return g * self.input(0, self.saved_tensors[0]).cos()


class Cos(Function):
    def forward(self, a):
        self.save_for_backward(a)
        return xp_of(a).cos(a)

    def backward(self, g):
        return -g * xp_of(g).sin(self.saved_tensors[0])

    def backward_graph(self, g):
        return -g * self.input(0, self.saved_tensors[0]).sin()


class Erf(Function):
    """d/da erf(a) = 2/sqrt(pi) exp(-a^2). scipy's / cupyx's erf are accurate to a few ulp in float64; they have
    no float16 loop (the result comes back float32), hence the cast."""

    def forward(self, a):
        self.save_for_backward(a)
        return _erf(xp_of(a), a).astype(a.dtype, copy=False)

    def backward(self, g):
        a, = self.saved_tensors
        return g * (_TWO_OVER_SQRT_PI * xp_of(g).exp(-a * a))

    def backward_graph(self, g):
        a = self.input(0, self.saved_tensors[0])
        return g * (_TWO_OVER_SQRT_PI * (-a * a).exp())


# ------------------------------------------------------------------------------------------ logs, exps
class Log1p(Function):
    """log(1 + a) without the rounding of 1 + a, which loses every digit of a below the dtype's epsilon."""

    def forward(self, a):
        self.save_for_backward(a)
        with np.errstate(divide="ignore", invalid="ignore"):
            return xp_of(a).log1p(a)

    def backward(self, g):
        with np.errstate(divide="ignore", invalid="ignore"):
            return g / (1 + self.saved_tensors[0])

    def backward_graph(self, g):
        return g / (1 + self.input(0, self.saved_tensors[0]))


class Expm1(Function):
    """exp(a) - 1, exact for small a where exp(a) - 1 would cancel. The derivative is exp(a) from the input, not
    torch's result + 1, which rounds to 0 once exp(a) is below half an ulp of 1 (a < -37 in float64): elu and
    selu build on this and must keep the tail of their gradient."""

    def forward(self, a):
        with np.errstate(over="ignore"):
            out = xp_of(a).expm1(a)
        self.save_for_backward(a)
        return out

    def backward(self, g):
        with np.errstate(over="ignore"):
            return g * xp_of(g).exp(self.saved_tensors[0])

    def backward_graph(self, g):
        return g * self.input(0, self.saved_tensors[0]).exp()


class Log2(Function):
    """A Function rather than log(a) / ln 2, which misses exact results (log2(8) must be 3, as in PyTorch)."""

    def forward(self, a):
        self.save_for_backward(a)
        with np.errstate(divide="ignore", invalid="ignore"):
            return xp_of(a).log2(a)

    def backward(self, g):
        with np.errstate(divide="ignore", invalid="ignore"):
            return g / (self.saved_tensors[0] * _LN2)

    def backward_graph(self, g):
        return g / (self.input(0, self.saved_tensors[0]) * _LN2)


class Log10(Function):
    def forward(self, a):
        self.save_for_backward(a)
        with np.errstate(divide="ignore", invalid="ignore"):
            return xp_of(a).log10(a)

    def backward(self, g):
        with np.errstate(divide="ignore", invalid="ignore"):
            return g / (self.saved_tensors[0] * _LN10)

    def backward_graph(self, g):
        return g / (self.input(0, self.saved_tensors[0]) * _LN10)


class Reciprocal(Function):
    """1 / a. Its own Function (not 1 / a through Div) so only the result is saved: d/da = -out^2."""

    def forward(self, a):
        with np.errstate(divide="ignore"):
            out = 1 / a
        self.save_for_backward(out)
        return out

    def backward(self, g):
        out, = self.saved_tensors
        return -g * out * out

    def backward_graph(self, g):
        return -g * self.output(self.saved_tensors[0]) * self.output(self.saved_tensors[0])


# ---------------------------------------------------------------------- piecewise constant: zero gradient
# PyTorch gives these a gradient of zeros (not None), so they stay in the graph with a backward of zeros.
class Sign(Function):
    """(0 < a) - (a < 0), as PyTorch computes it: NaN and -0.0 give 0 (numpy's sign gives NaN and -0.0)."""

    def forward(self, a):
        if a.dtype == np.bool_:
            return a.copy()
        return (a > 0).astype(a.dtype) - (a < 0).astype(a.dtype)

    def backward(self, g):
        return xp_of(g).zeros_like(g)

    def backward_graph(self, g):
        return g * 0


class Floor(Function):
    def forward(self, a):
        return xp_of(a).floor(a) if is_float(a.dtype) else a.copy()  # numpy's floor would turn ints to float64

    def backward(self, g):
        return xp_of(g).zeros_like(g)

    def backward_graph(self, g):
        return g * 0


class Ceil(Function):
    def forward(self, a):
        return xp_of(a).ceil(a) if is_float(a.dtype) else a.copy()

    def backward(self, g):
        return xp_of(g).zeros_like(g)

    def backward_graph(self, g):
        return g * 0


class Trunc(Function):
    def forward(self, a):
        return xp_of(a).trunc(a) if is_float(a.dtype) else a.copy()

    def backward(self, g):
        return xp_of(g).zeros_like(g)

    def backward_graph(self, g):
        return g * 0


class Round(Function):
    """Half to even. With decimals, PyTorch's formula: rint(a * 10^d) / 10^d, or rint(a / 10^-d) * 10^-d for d < 0,
    in float32 at least (its opmath type), so float16 results agree with it."""

    def forward(self, a, decimals):
        xp = xp_of(a)
        if not is_float(a.dtype):
            return a.copy()
        if decimals == 0:
            return xp.rint(a)
        acc = np.promote_types(a.dtype, np.float32)
        with np.errstate(over="ignore"):
            p = acc.type(np.power(np.float64(10.0), abs(decimals)))
        x = a.astype(acc, copy=False)
        with np.errstate(invalid="ignore", over="ignore"):
            out = xp.rint(x / p) * p if decimals < 0 else xp.rint(x * p) / p
        return out.astype(a.dtype, copy=False)

    def backward(self, g):
        return xp_of(g).zeros_like(g), None

    def backward_graph(self, g):
        return g * 0, None


# ------------------------------------------------------------------------------------------------ lerp
class Lerp(Function):
    """a + w (b - a). Forward by PyTorch's two-sided formula, b - (b - a)(1 - w) for |w| >= 0.5, so w == 1 gives b
    exactly. w: an array (broadcasting with a and b) or a Python/numpy scalar of a's dtype."""

    def forward(self, a, b, w):
        xp = xp_of(a)
        na, nb, nw = self.needs_input_grad
        self.shapes = (shape_of(a), shape_of(b), shape_of(w))
        self.save_for_backward(w if na or nb else None, a if nw else None, b if nw else None)
        d = b - a
        if np.isscalar(w):  # decided on the host: one branch, no where
            return a + w * d if abs(w) < 0.5 else b - d * (1 - w)
        return xp.where(xp.abs(w) < 0.5, a + w * d, b - d * (1 - w))

    def backward(self, g):
        w, a, b = self.saved_tensors
        na, nb, nw = self.needs_input_grad
        return (unbroadcast(g * (1 - w), self.shapes[0]) if na else None,
                unbroadcast(g * w, self.shapes[1]) if nb else None,
                unbroadcast(g * (b - a), self.shapes[2]) if nw else None)

    def backward_graph(self, g):
        w, a, b = self.saved_tensors
        na, nb, nw = self.needs_input_grad
        W = self.input(2, w) if w is not None else None
        return (sum_to(g * (1 - W), self.shapes[0]) if na else None,
                sum_to(g * W, self.shapes[1]) if nb else None,
                sum_to(g * (self.input(1, b) - self.input(0, a)), self.shapes[2]) if nw else None)


# ------------------------------------------------------------------------------------------ functional API
def _float_unary(cls, name):
    def f(input):
        _check_tensor(name, input)
        return cls.apply(to_float(input))
    f.__name__ = name
    return f


sin = _float_unary(Sin, "sin")
cos = _float_unary(Cos, "cos")
erf = _float_unary(Erf, "erf")
log1p = _float_unary(Log1p, "log1p")
expm1 = _float_unary(Expm1, "expm1")
log2 = _float_unary(Log2, "log2")
log10 = _float_unary(Log10, "log10")
reciprocal = _float_unary(Reciprocal, "reciprocal")


def sign(input):
    _check_tensor("sign", input)
    return Sign.apply(input)


def _rounding(cls, name):
    def f(input):
        _check_tensor(name, input)
        if input.dtype == np.bool_:
            raise TypeError(f"{name}: not implemented for bool tensors (shape {_shape(input)})")
        return cls.apply(input)
    f.__name__ = name
    return f


floor = _rounding(Floor, "floor")
ceil = _rounding(Ceil, "ceil")
trunc = _rounding(Trunc, "trunc")


def round(input, *, decimals=0):
    _check_tensor("round", input)
    if not isinstance(decimals, (int, np.integer)) or isinstance(decimals, bool):
        raise TypeError(f"round: decimals must be an int, got {decimals!r}")
    if input.dtype == np.bool_:
        raise TypeError(f"round: not implemented for bool tensors (shape {_shape(input)})")
    if decimals != 0 and not is_float(input.dtype):
        raise TypeError(f"round: decimals={decimals} needs a floating point tensor, got {input.dtype} "
                        f"(shape {_shape(input)})")
    return Round.apply(input, int(decimals))


def frac(input):
    """a - trunc(a), exact in floating point. trunc of the detached input: its gradient is zero anyway."""
    _check_tensor("frac", input)
    if not is_float(input.dtype):
        raise TypeError(f"frac: expects a floating point tensor, got {input.dtype} (shape {_shape(input)})")
    with np.errstate(invalid="ignore"):  # inf - inf -> nan, as PyTorch
        return E.sub(input, trunc(input.detach()))


def square(input):
    _check_tensor("square", input)
    if input.dtype == np.bool_:
        input = input.long()  # PyTorch squares bools as pow(x, 2): int64
    return E.mul(input, input)


def lerp(input, end, weight):
    """PyTorch's dtype rules: input and end of the same float dtype; a tensor weight of that dtype too, except a
    0-d one (cast, differentiably); a Python number weight takes input's dtype."""
    _check_tensor("lerp", input)
    _check_tensor("lerp", end, "end")
    if not is_float(input.dtype):
        raise TypeError(f"lerp: expects floating point tensors, got input of {input.dtype} (shape {_shape(input)})")
    if end.dtype != input.dtype:
        raise TypeError(f"lerp: end of dtype {end.dtype} (shape {_shape(end)}) does not match input of dtype "
                        f"{input.dtype} (shape {_shape(input)})")
    if isinstance(weight, Tensor):
        if weight.dtype != input.dtype:
            if weight.ndim:
                raise TypeError(f"lerp: weight of dtype {weight.dtype} (shape {_shape(weight)}) does not match input "
                                f"of dtype {input.dtype} (shape {_shape(input)})")
            weight = weight.to(input.dtype)
    elif isinstance(weight, (bool, int, float, np.integer, np.floating)):
        weight = input.dtype.type(weight)
    else:
        raise TypeError(f"lerp: weight must be a Tensor or a real number, got {type(weight).__name__}")
    return Lerp.apply(input, end, weight)


def logical_not(input):
    _check_tensor("logical_not", input)
    return Tensor._make(xp_of(input.array).logical_not(input.array), None)


def _logical(name):
    def f(input, other):
        _check_tensor(name, input)
        _check_tensor(name, other, "other")
        check_device_as(name, input, other)
        try:
            out = getattr(xp_of(input.array), name)(input.array, other.array)
        except ValueError:
            raise RuntimeError(f"{name}: tensors of shapes {_shape(input)} and {_shape(other)} cannot be broadcast "
                               "together") from None
        return Tensor._make(out, None)
    f.__name__ = name
    return f


logical_and = _logical("logical_and")
logical_or = _logical("logical_or")
logical_xor = _logical("logical_xor")


def _value(op, value, *tensors):
    """value as the op multiplies by it: an int when every tensor is an integer one, so the result stays integer."""
    if not isinstance(value, (bool, int, float, np.integer, np.floating)):
        raise TypeError(f"{op}: value must be a real number, got {type(value).__name__}")
    if any(is_float(t.dtype) for t in tensors):
        return value
    if value != int(value):
        # PyTorch silently truncates value to the integer result type; refuse rather than drop its fraction.
        raise TypeError(f"{op}: value={value} must be an integer for integer tensors ("
                        + ", ".join(f"{t.dtype} {_shape(t)}" for t in tensors) + ")")
    return int(value)


def addcmul(input, tensor1, tensor2, *, value=1):
    """input + value * tensor1 * tensor2."""
    for t, what in ((input, "input"), (tensor1, "tensor1"), (tensor2, "tensor2")):
        _check_tensor("addcmul", t, what)
    if all(t.dtype == np.bool_ for t in (input, tensor1, tensor2)):
        raise TypeError(f"addcmul: not implemented for bool tensors (shapes {_shape(input)}, {_shape(tensor1)}, "
                        f"{_shape(tensor2)})")
    value = _value("addcmul", value, input, tensor1, tensor2)
    prod = E.mul(tensor1, tensor2)
    return E.add(input, prod if value == 1 else E.mul(prod, value))


def addcdiv(input, tensor1, tensor2, *, value=1):
    """input + value * tensor1 / tensor2 (true division; two integer tensors are refused, as PyTorch does)."""
    for t, what in ((input, "input"), (tensor1, "tensor1"), (tensor2, "tensor2")):
        _check_tensor("addcdiv", t, what)
    if not is_float(tensor1.dtype) and not is_float(tensor2.dtype):
        raise TypeError(f"addcdiv: integer division is not supported: tensor1 is {tensor1.dtype} "
                        f"{_shape(tensor1)} and tensor2 is {tensor2.dtype} {_shape(tensor2)}; make one of them float")
    value = _value("addcdiv", value, tensor1, tensor2)
    q = E.div(tensor1, tensor2)
    return E.add(input, q if value == 1 else E.mul(q, value))


# --------------------------------------------------------------------------------- floor_divide, remainder
class FloorDivide(Function):
    """floor(a / b), Python's // (torch's floor_divide). PyTorch defines no derivative: backward through it is an
    error there, so it is one here too rather than a silent zero."""

    def forward(self, a, b):
        with np.errstate(divide="ignore", invalid="ignore"):
            # (for floats too: NumPy's floor_divide is torch's fmod-corrected quotient -- 1 // 0.1 is 9, inf // 2
            # NaN, -1 // inf -1 -- where floor(a / b) gave 10, inf and -0)
            return xp_of(a).floor_divide(a, b)

    def backward(self, g):
        raise RuntimeError("floor_divide (//): the derivative is not implemented (as in PyTorch); use "
                           "torch.div(a, b, rounding_mode='floor') on detached inputs or a differentiable formula")

    def backward_graph(self, g):
        return self.backward(g)  # the same error as the first derivative


class Remainder(Function):
    """a - floor(a / b) * b with the divisor's sign (Python's %, torch.remainder); d/da = 1, d/db = -(a // b)."""

    def forward(self, a, b):
        self.save_for_backward(a, b)
        self.shapes = (shape_of(a), shape_of(b))
        with np.errstate(divide="ignore", invalid="ignore"):
            return xp_of(a).remainder(a, b)

    def backward(self, g):
        a, b = self.saved_tensors
        na, nb = self.needs_input_grad
        with np.errstate(divide="ignore", invalid="ignore"):
            gb = unbroadcast(-g * xp_of(g).floor_divide(a, b), self.shapes[1]) if nb else None
        return (unbroadcast(g, self.shapes[0]) if na else None), gb

    def backward_graph(self, g):
        a, b = self.saved_tensors
        na, nb = self.needs_input_grad
        with np.errstate(divide="ignore", invalid="ignore"):
            q = Tensor._make(xp_of(a).floor_divide(a, b).astype(g.dtype), None)
        return (sum_to(g, self.shapes[0]) if na else None), (sum_to(-g * q, self.shapes[1]) if nb else None)


def _int_divisor_check(op, a, b):
    """Integer division by zero has no value: torch raises (a RuntimeError saying ZeroDivisionError); NumPy would give
    0 with a warning."""
    if any(isinstance(t, Tensor) and t.array.size == 0 for t in (a, b)):
        return  # no element is divided
    x = b.array if isinstance(b, Tensor) else b
    if not is_float(getattr(x, "dtype", np.dtype(type(x)))) and bool((x == 0).any() if hasattr(x, "any") else x == 0):
        shapes = [f"shape {tuple(t.shape)}" if isinstance(t, Tensor) else f"scalar {t!r}" for t in (a, b)]
        raise RuntimeError(f"{op}: ZeroDivisionError: integer division by zero ({shapes[0]} by {shapes[1]})")


def _divmod_operands(op, a, b):
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        check_device_as(op, a, b)
    a, b = E._promote(op, a, b)
    for x in (a, b):
        if isinstance(x, Tensor) and x.dtype == np.bool_:
            raise TypeError(f"{op}: not implemented for bool tensors (shape {tuple(x.shape)})")
    _int_divisor_check(op, a, b)
    return a, b


def floor_divide(input, other):
    return FloorDivide.apply(*_divmod_operands("floor_divide (//)", input, other))


def remainder(input, other):
    return Remainder.apply(*_divmod_operands("remainder (%)", input, other))
