"""Elementwise functions and dtype queries of torch's namespace composed of existing ops: the alias spellings
(absolute, negative, divide with rounding_mode, true_divide, multiply, subtract, greater..., fix, sgn), sinc,
heaviside, nextafter, frexp, ldexp, isin, logspace, and result_type / promote_types / is_floating_point."""
import numpy as np

from .. import dtypes
from ..dtypes import get_default_dtype
from ..tensor import Tensor, check_device_as
from .elementwise import (abs, neg, div, mul, sub, gt, ge, lt, le, ne, where, pow as power, promote_types as _promote2,
                          result_type as _tensor_result_type, _promote)
from .elementwise import add as _add
from .elementwise_math import trunc, sign, floor_divide, sin
from .util import is_float, to_float, refuse_complex

absolute = abs
negative = neg
multiply = mul
greater = gt
greater_equal = ge
less = lt
less_equal = le
not_equal = ne
fix = trunc
sgn = sign  # (real tensors: torch's sgn is sign there; tensorgrad.sgn is ops/complex.py's, z / |z| for complex)


def divide(input, other, *, rounding_mode=None):
    """torch.div with rounding_mode: None (true division), 'trunc' or 'floor'."""
    if rounding_mode is None:
        return div(input, other)
    if rounding_mode not in ("floor", "trunc"):
        raise RuntimeError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found "
                           f"'{rounding_mode}'")
    ins = [t for t in (input, other) if isinstance(t, Tensor) and t.requires_grad]
    if ins:
        # torch's gradient of a rounded quotient is zero, also where a / b is not finite (floor_divide has none, so
        # 'floor' refused the backward, and trunc(a / b)'s was NaN at 0 / 0): the detached quotient, linked to each
        # input that requires grad by a -0.0 (which leaves every value, -0.0 included, as it is)
        out = divide(*(t.detach() if isinstance(t, Tensor) else t for t in (input, other)), rounding_mode=rounding_mode)
        for t in ins:
            out = out + where(Tensor._make(t._xp.zeros((), dtype=bool), None), t, -0.0)
        return out
    if rounding_mode == "floor":
        return floor_divide(input, other)
    a, b = _promote("div", input, other)
    if not is_float((a if isinstance(a, Tensor) else b).dtype):
        return _int_trunc_div(a, b)  # (exact in integers: no round trip through floats)
    return trunc(div(a, b))


def _int_trunc_div(a, b):
    x = a.array if isinstance(a, Tensor) else a
    y = b.array if isinstance(b, Tensor) else b
    t = a if isinstance(a, Tensor) else b
    xp = t._xp
    # (nothing is divided when the broadcast result is empty: torch returns it, a zero divisor included)
    if (xp.asarray(y) == 0).any() and 0 not in np.broadcast_shapes(np.shape(x), np.shape(y)):
        raise RuntimeError("div: ZeroDivisionError (integer division by zero, rounding_mode='trunc')")
    q = xp.abs(x) // xp.abs(y) * xp.sign(x) * xp.sign(y)
    return Tensor._make(xp.asarray(q).astype(t.dtype), None)


true_divide = div


def _scaled(op, name, input, other, alpha):
    """input (op) alpha * other, torch.add / torch.sub's alpha: refused where it cannot be the result's type, as
    torch (a float alpha with an integral result, a bool alpha with a non-bool one, a complex alpha with a real one)."""
    if alpha.__class__ is int and alpha == 1:
        return op(input, other)  # (the common call, checked like torch's: int 1 fits every result type)
    a, b = _promote(name, input, other)
    kind = (a if isinstance(a, Tensor) else b).array.dtype.kind
    if isinstance(alpha, bool) and kind != "b":
        raise RuntimeError(f"{name}: Boolean alpha only supported for Boolean results (alpha={alpha!r}, result dtype "
                           f"{(a if isinstance(a, Tensor) else b).dtype})")
    if isinstance(alpha, float) and kind in "biu":
        raise RuntimeError(f"{name}: For integral input tensors, argument alpha must not be a floating point number "
                           f"(alpha={alpha!r}, result dtype {(a if isinstance(a, Tensor) else b).dtype})")
    if isinstance(alpha, complex) and kind != "c":
        raise RuntimeError(f"{name}: For non-complex input tensors, argument alpha must not be a complex number "
                           f"(alpha={alpha!r})")
    if kind == "b":  # (torch: any nonzero alpha leaves a bool sum as it is)
        return op(a, b) if alpha else op(a, b & False)
    return op(a, mul(b, alpha) if isinstance(b, Tensor) else b * alpha)


def add(input, other, *, alpha=1):
    """torch.add: input + alpha * other."""
    return _scaled(_add, "add", input, other, alpha)


def subtract(input, other, *, alpha=1):
    """torch.sub / torch.subtract: input - alpha * other."""
    return _scaled(sub, "sub", input, other, alpha)


def sinc(input):
    """sin(pi x) / (pi x), 1 at 0 (where the gradient is 0, as the true derivative); integers give floats."""
    x = to_float(input)
    # Near 0 the series 1 - p^2/6 + p^4/120 (p = pi x; the next term is below the dtype's rounding there): the
    # quotient's gradient divides by p^2, which underflows to 0 for denormal x and gave NaN where torch gives 0, and
    # in float32 it cancels to 0 well before that
    px = x * np.pi
    small = abs(px) < (1e-3 if x.dtype == dtypes.float64 else 0.05)
    safe = where(small, 1.0, px)
    p2 = where(small, px, 0.0) ** 2      # (0 off the series' range: inf there made its unused gradient NaN)
    return where(small, 1.0 - p2 / 6.0 + p2 * p2 / 120.0, sin(safe) / safe)


def heaviside(input, values):
    """0 where input < 0, values where input == 0, 1 where input > 0; no gradient (as torch)."""
    if not isinstance(values, Tensor):
        raise TypeError(f"heaviside: values must be a Tensor, got {type(values).__name__}")
    refuse_complex("heaviside", input, values)
    if input.dtype != values.dtype:
        raise RuntimeError(f"heaviside is not yet implemented for tensors with different dtypes ({input.dtype} and "
                           f"{values.dtype})")
    check_device_as("heaviside", input, values)
    xp = input._xp
    x, v = input.array, values.array
    out = xp.where(x == 0, v, (x > 0).astype(x.dtype))
    return Tensor._make(xp.asarray(out, dtype=x.dtype), None)


def nextafter(input, other):
    """The next representable float after input toward other (no gradient, as torch)."""
    a, b = _promote("nextafter", input, other)
    t = a if isinstance(a, Tensor) else b
    if not is_float(t.dtype):
        raise RuntimeError(f"nextafter: not implemented for {t.dtype}")
    x = a.array if isinstance(a, Tensor) else a
    y = b.array if isinstance(b, Tensor) else b
    return Tensor._make(t._xp.asarray(t._xp.nextafter(x, y), dtype=t.dtype), None)


def frexp(input):
    """(mantissa, exponent) with input = mantissa * 2**exponent, |mantissa| in [0.5, 1); the mantissa's gradient
    is the input's scaled by 2**-exponent, exponent is int32."""
    if not is_float(input.dtype):
        raise RuntimeError(f"frexp: only supports floating-point dtypes, got {input.dtype}")
    xp = input._xp
    _, e = xp.frexp(input.array)
    e = e.astype(np.int32)
    # 2**-e in two factors: for a denormal input 2**-e itself overflows the dtype (the mantissa came out inf), while
    # each half stays finite and multiplying by powers of two is exact; the gradient is still g * 2**-e
    half = e // 2
    one = xp.ones((), dtype=input.dtype)
    mant = input * Tensor._make(xp.ldexp(one, -half).astype(input.dtype), None)
    mant = mant * Tensor._make(xp.ldexp(one, half - e).astype(input.dtype), None)
    return _Frexp(mant, Tensor._make(e, None))


class _Frexp(tuple):
    """torch.return_types.frexp: (mantissa, exponent)."""

    def __new__(cls, mantissa, exponent):
        return super().__new__(cls, (mantissa, exponent))

    mantissa = property(lambda self: self[0])
    exponent = property(lambda self: self[1])


def ldexp(input, other):
    """input * 2**other, a float result (input's float dtype, or the default one)."""
    base = to_float(input)
    if isinstance(other, Tensor):
        two = power(2.0, other if is_float(other.dtype) else other.to(base.dtype))
    else:
        two = 2.0 ** other
    return mul(base, two)


def isin(elements, test_elements, *, assume_unique=False, invert=False):
    """Whether each element of ``elements`` is in ``test_elements`` (either may be a number), a bool tensor."""
    if not isinstance(elements, Tensor) and not isinstance(test_elements, Tensor):
        raise TypeError("isin: expected elements or test_elements to be a Tensor")
    ref = elements if isinstance(elements, Tensor) else test_elements
    xp = ref._xp
    e = elements.array if isinstance(elements, Tensor) else xp.asarray(elements)
    t = test_elements.array if isinstance(test_elements, Tensor) else xp.asarray(test_elements)
    return Tensor._make(xp.asarray(xp.isin(e, t, assume_unique=assume_unique, invert=invert)), None)


def logspace(start, end, steps, base=10.0, *, dtype=None, device=None, requires_grad=False, layout=None):
    """base ** linspace(start, end, steps), computed in float64 and cast (so integer dtypes truncate as torch)."""
    if steps < 0:
        raise RuntimeError(f"logspace: number of steps must be non-negative, got {steps}")
    dt = dtypes.to_dtype(dtype) or get_default_dtype()
    vals = np.power(float(base), np.linspace(float(start), float(end), int(steps)))
    t = Tensor._from(vals.astype(dt), dtype=dt, device=device)
    if requires_grad:
        t.requires_grad = True
    return t


# ----------------------------------------------------------------------------------------- dtype queries
def is_floating_point(input):
    if not isinstance(input, Tensor):
        raise TypeError(f"is_floating_point(): argument 'input' must be Tensor, not {type(input).__name__}")
    return is_float(input.dtype)


def promote_types(type1, type2):
    return _promote2(dtypes.to_dtype(type1), dtypes.to_dtype(type2))


def _category(dt):
    return 0 if dt == np.bool_ else 2 if is_float(dt) else 1


def _scalar_dtype(s):
    if isinstance(s, (bool, np.bool_)):
        return np.dtype(np.bool_)
    if isinstance(s, (int, np.integer)):
        return np.dtype(np.int64)
    if isinstance(s, (float, np.floating)):
        return get_default_dtype()
    raise TypeError(f"result_type: expected a Tensor or a number, got {type(s).__name__}")


def result_type(tensor1, tensor2):
    """The dtype of an arithmetic op on the two operands (tensors, 0-d tensors and numbers rank lower, as torch)."""
    ts = [t for t in (tensor1, tensor2) if isinstance(t, Tensor)]
    scalars = [s for s in (tensor1, tensor2) if not isinstance(s, Tensor)]
    dt = _tensor_result_type(*ts) if ts else None
    for s in scalars:
        sd = _scalar_dtype(s)
        if dt is None:
            dt = sd
        elif _category(sd) > _category(dt):
            dt = sd
    return dt
