"""Elementwise ops (broadcasting): arithmetic, unary math, activations, comparisons, where, clamp, casts."""
import numpy as np

from ..autograd.function import Function
from ..backend import xp_of
from .util import unbroadcast, shape_of, is_float, to_float, refuse_complex
from ..tensor import Tensor, tensor as make_tensor, check_device_as
from ..dtypes import get_default_dtype, bfloat16, to_complex, to_real, default_complex
from ..backend import to_device, device_of, kernels
from .graph import sum_to


# --------------------------------------------------------------------------------------- promotion
def _category(dt):
    return 0 if dt == np.bool_ else 2 if is_float(dt) else 3 if dt.kind == "c" else 1


def promote_types(x, y):
    """torch.promote_types: the higher category (bool < int < float < complex) wins as is (int64 + float32 ->
    float32), except that a float meeting a complex widens its parts (float64 + complex64 -> complex128); within a
    category, the wider type (float32 + float64 -> float64, uint8 + int8 -> int16)."""
    cx, cy = _category(x), _category(y)
    if cx != cy:
        if cx + cy == 5:  # float and complex
            f, c = (x, y) if cx == 2 else (y, x)
            return to_complex(np.result_type(f, to_real(c)), "promote_types")
        return x if cx > cy else y
    return np.result_type(x, y)


def result_type(*tensors):
    """PyTorch's result type of tensor operands: 0-d tensors only matter when they are of a higher category
    than the dimensioned ones (float32 (3,) + float64 0-d -> float32; int64 (3,) + float64 0-d -> float64)."""
    dim = zero = None
    for t in tensors:
        if t.ndim:
            dim = t.dtype if dim is None else promote_types(dim, t.dtype)
        else:
            zero = t.dtype if zero is None else promote_types(zero, t.dtype)
    if dim is None or zero is None:
        return dim if zero is None else zero
    cd, cz = _category(dim), _category(zero)
    if cd == 2 and cz == 3:  # (torch's combine_categories: the dimensioned float's complex type)
        return to_complex(dim, "result_type")
    return dim if cd >= cz else promote_types(dim, zero)


def _promote(op, a, b):
    """Bring a binary op's operands to a common dtype with PyTorch's rules:
    tensor-tensor -> result_type (casting via the differentiable Cast); a Python scalar keeps the
    tensor's dtype unless it is a float meeting an integer/bool tensor (-> the default float dtype)."""
    if a.__class__ is Tensor and b.__class__ is Tensor and a.array.dtype is b.array.dtype:
        return a, b  # the common case first: two tensors of one dtype
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        raise TypeError(f"{op}: expected at least one Tensor, got {type(a).__name__} and {type(b).__name__}")
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        if a.dtype != b.dtype:
            rt = result_type(a, b)
            a = a.to(rt) if a.dtype != rt else a
            b = b.to(rt) if b.dtype != rt else b
        return a, b
    t, s = (a, b) if isinstance(a, Tensor) else (b, a)
    if isinstance(s, (bool, int, float, np.integer, np.floating)):
        if isinstance(s, (float, np.floating)) and not is_float(t.dtype) and t.dtype.kind != "c":
            t = t.to(get_default_dtype())
        elif isinstance(s, (int, np.integer)) and not isinstance(s, bool) and t.dtype == np.bool_:
            t = t.to(np.int64)
        if not isinstance(s, bool) or t.dtype == np.bool_:
            # (an int into a narrower integer type wraps as torch's cast does: uint8 + -2 adds 254)
            s = np.asarray(s).astype(t.dtype)[()] if t.dtype.kind in "iu" else t.dtype.type(s)
    elif isinstance(s, (complex, np.complexfloating)):
        if t.dtype.kind != "c":  # (torch: a float tensor's complex type; an int or bool one's the default complex)
            t = t.to(to_complex(t.dtype, op) if is_float(t.dtype) else default_complex())
        s = t.dtype.type(s)
    else:
        s = make_tensor(s, device=t.device)
        return _promote(op, *((t, s) if isinstance(a, Tensor) else (s, t)))
    return (t, s) if isinstance(a, Tensor) else (s, t)


# ------------------------------------------------------------------------------------ binary arithmetic
_ND, _BIG = np.ndarray, kernels.THREADED_MIN


def _big(a, b):
    return (a.__class__ is _ND and a.size >= _BIG) or (b.__class__ is _ND and b.size >= _BIG)


def _as_first(out, a):
    """out laid out as the first operand a when a is dense in another order than C (channels_last, a transpose) and
    NumPy chose C order because the operands disagree: torch's TensorIterator lets the first operand decide
    (cl + x is channels_last, x + cl is C). Only in that case is anything copied. (The callers test a.ndim > 1
    first, inline: this is every small add's path, and a call costs more than the test.)"""
    if out.__class__ is _ND and a.__class__ is _ND and out.flags.c_contiguous and not a.flags.c_contiguous \
            and a.shape == out.shape and a.size > 1:
        o = np.empty_like(a, dtype=out.dtype)
        if o.strides == a.strides:  # (a dense: empty_like kept its order)
            o[...] = out
            return o
    return out


def _times(a, b):
    """a * b in a backward, on the kernel's threads for large NumPy operands as forward's."""
    return kernels.get("binary")("mul", a, b) if _big(a, b) else a * b


class Add(Function):
    def forward(self, a, b):
        self.shapes = (getattr(a, "shape", ()), getattr(b, "shape", ()))  # shape_of, without a Python call
        out = kernels.get("binary")("add", a, b) if _big(a, b) else a + b
        return _as_first(out, a) if a.__class__ is _ND and a.ndim > 1 else out

    def backward(self, g):
        na, nb = self.needs_input_grad
        return (unbroadcast(g, self.shapes[0]) if na else None, unbroadcast(g, self.shapes[1]) if nb else None)

    def backward_graph(self, g):
        na, nb = self.needs_input_grad
        return (sum_to(g, self.shapes[0]) if na else None, sum_to(g, self.shapes[1]) if nb else None)


class Sub(Function):
    def forward(self, a, b):
        self.shapes = (getattr(a, "shape", ()), getattr(b, "shape", ()))  # shape_of, without a Python call
        out = kernels.get("binary")("sub", a, b) if _big(a, b) else a - b
        return _as_first(out, a) if a.__class__ is _ND and a.ndim > 1 else out

    def backward(self, g):
        na, nb = self.needs_input_grad
        return (unbroadcast(g, self.shapes[0]) if na else None, unbroadcast(-g, self.shapes[1]) if nb else None)

    def backward_graph(self, g):
        na, nb = self.needs_input_grad
        return (sum_to(g, self.shapes[0]) if na else None, sum_to(-g, self.shapes[1]) if nb else None)


class Mul(Function):
    def forward(self, a, b):
        na, nb = self.needs_input_grad
        self.save_for_backward(a if nb else None, b if na else None)
        self.shapes = (getattr(a, "shape", ()), getattr(b, "shape", ()))  # shape_of, without a Python call
        out = kernels.get("binary")("mul", a, b) if _big(a, b) else a * b
        return _as_first(out, a) if a.__class__ is _ND and a.ndim > 1 else out

    def backward(self, g):
        a, b = self.saved_tensors
        na, nb = self.needs_input_grad
        return (unbroadcast(_times(g, b), self.shapes[0]) if na else None,
                unbroadcast(_times(g, a), self.shapes[1]) if nb else None)

    def backward_graph(self, g):
        a, b = self.saved_tensors
        na, nb = self.needs_input_grad
        return (sum_to(g * self.input(1, b), self.shapes[0]) if na else None,
                sum_to(g * self.input(0, a), self.shapes[1]) if nb else None)


class Div(Function):
    def forward(self, a, b):
        out = kernels.get("binary")("div", a, b) if _big(a, b) else a / b
        if a.__class__ is _ND and a.ndim > 1:
            out = _as_first(out, a)
        self.save_for_backward(b, out if self.needs_input_grad[1] else None)
        self.shapes = (getattr(a, "shape", ()), getattr(b, "shape", ()))  # shape_of, without a Python call
        return out

    def backward(self, g):
        b, out = self.saved_tensors
        na, nb = self.needs_input_grad
        ga = kernels.get("binary")("div", g, b) if _big(g, b) else g / b
        return (unbroadcast(ga, self.shapes[0]) if na else None,
                unbroadcast(-_times(ga, out), self.shapes[1]) if nb else None)

    def backward_graph(self, g):
        b, out = self.saved_tensors
        na, nb = self.needs_input_grad
        ga = g / self.input(1, b)
        return (sum_to(ga, self.shapes[0]) if na else None,
                sum_to(-ga * self.output(out), self.shapes[1]) if nb else None)


def _int_pow(a, b):
    """Integer ** integer tensor with torch's C semantics where an exponent is negative (NumPy refuses): 1 ** -n = 1,
    (-1) ** -n = +-1 by parity, anything else ** -n = 0 (the integer part of 1 / a ** n)."""
    xp = xp_of(a)
    neg = b < 0
    pos = xp.where(neg, 0, b).astype(b.dtype, copy=False)
    out = a ** pos
    if neg.any():
        one = a == 1
        minus = a == -1
        small = xp.where(one, 1, xp.where(minus, xp.where(b % 2 == 0, 1, -1), 0)).astype(out.dtype)
        out = xp.where(neg, small, out)
    return out


class Pow(Function):
    """a ** b; d/da = b a^(b-1); d/db = a^b log a (defined as 0 where a == 0, like PyTorch for b > 0)."""

    def forward(self, a, b):
        if a.dtype.kind in "iu" and getattr(b, "dtype", None) is not None and b.dtype.kind == "i" \
                and not isinstance(b, np.generic):  # a tensor exponent (a Python int one is refused, as torch)
            out = _int_pow(a, b)
        else:
            out = a ** b
        self.save_for_backward(a, b, out)
        self.shapes = (shape_of(a), shape_of(b))
        return out

    def backward(self, g):
        a, b, out = self.saved_tensors
        na, nb = self.needs_input_grad
        xp = xp_of(g)
        ga = gb = None
        if na:
            with np.errstate(divide="ignore", invalid="ignore"):
                ga = g * b * a ** (b - 1)
            # d(a**0)/da = 0, also at a == 0 where 0 * 0**-1 would be nan (as PyTorch). A Python-number
            # exponent is decided on the host; an array one by a where on its own device (no host sync).
            if np.isscalar(b) or getattr(b, "ndim", 1) == 0 and isinstance(b, np.ndarray):
                if b == 0:
                    ga = xp.zeros_like(ga)
            else:
                ga = xp.where(b == 0, ga.dtype.type(0), ga)
            ga = unbroadcast(ga, self.shapes[0])
        if nb:
            with np.errstate(divide="ignore", invalid="ignore"):
                # 0 at a == 0 only where b >= 0 (torch): there out * log(a) is 0 * -inf; for b < 0 it is -inf
                la = xp.where((a == 0) & (b >= 0), 0, xp.log(xp.where((a == 0) & (b >= 0), 1, a)))
            gb = unbroadcast(g * out * la, self.shapes[1])
        return ga, gb

    def backward_graph(self, g):
        a, b, out = self.saved_tensors
        na, nb = self.needs_input_grad
        A, B = self.input(0, a), self.input(1, b)
        ga = gb = None
        if na:
            if np.isscalar(b) or getattr(b, "ndim", 1) == 0 and isinstance(b, np.ndarray):
                ga = g * 0 if b == 0 else g * B * A ** (B - 1)
            else:
                ga = where(Tensor._make(b == 0, None), 0.0, g * B * A ** (B - 1))
            ga = sum_to(ga, self.shapes[0])
        if nb:
            zero = Tensor._make(a == 0, None)
            la = where(zero, 0.0, log(where(zero, 1.0, A)))
            gb = sum_to(g * self.output(out) * la, self.shapes[1])
        return ga, gb


class Maximum(Function):
    """Ties split the gradient evenly between the inputs (as PyTorch does)."""

    def forward(self, a, b):
        self.save_for_backward(a, b)
        self.shapes = (shape_of(a), shape_of(b))
        return xp_of(a).maximum(a, b)

    def backward(self, g):
        return _extremum_backward(self, g, True)

    def backward_graph(self, g):
        a, b = self.saved_tensors
        xp = xp_of(g.array)
        tie = a == b
        a_loses, b_loses = (a < b, a > b) if self.__class__ is Maximum else (a > b, a < b)
        na, nb = self.needs_input_grad
        wa = xp.where(tie, 0.5, xp.where(a_loses, 0.0, 1.0)).astype(g.dtype)
        wb = xp.where(tie, 0.5, xp.where(b_loses, 0.0, 1.0)).astype(g.dtype)
        return (sum_to(g * Tensor._make(wa, None), self.shapes[0]) if na else None,
                sum_to(g * Tensor._make(wb, None), self.shapes[1]) if nb else None)


def _extremum_backward(ctx, g, is_max):
    """torch's rule: half each at a tie, nothing to the losing side, and the whole gradient to both sides where a
    NaN makes the comparison false (a weight of 1 - w would send the NaN's gradient to one side only)."""
    a, b = ctx.saved_tensors
    xp = xp_of(g)
    tie = a == b
    a_loses, b_loses = (a < b, a > b) if is_max else (a > b, a < b)
    na, nb = ctx.needs_input_grad
    wa = xp.where(tie, 0.5, xp.where(a_loses, 0.0, 1.0)).astype(g.dtype)
    wb = xp.where(tie, 0.5, xp.where(b_loses, 0.0, 1.0)).astype(g.dtype)
    return (unbroadcast(g * wa, ctx.shapes[0]) if na else None, unbroadcast(g * wb, ctx.shapes[1]) if nb else None)


class Minimum(Function):
    def forward(self, a, b):
        self.save_for_backward(a, b)
        self.shapes = (shape_of(a), shape_of(b))
        return xp_of(a).minimum(a, b)

    def backward(self, g):
        return _extremum_backward(self, g, False)

    def backward_graph(self, g):
        a, b = self.saved_tensors
        xp = xp_of(g.array)
        tie = a == b
        a_loses, b_loses = (a < b, a > b) if self.__class__ is Maximum else (a > b, a < b)
        na, nb = self.needs_input_grad
        wa = xp.where(tie, 0.5, xp.where(a_loses, 0.0, 1.0)).astype(g.dtype)
        wb = xp.where(tie, 0.5, xp.where(b_loses, 0.0, 1.0)).astype(g.dtype)
        return (sum_to(g * Tensor._make(wa, None), self.shapes[0]) if na else None,
                sum_to(g * Tensor._make(wb, None), self.shapes[1]) if nb else None)


# ------------------------------------------------------------------------------------------ unary math
class Neg(Function):
    def forward(self, a):
        return -a

    def backward(self, g):
        return -g

    def backward_graph(self, g):
        return -g


class Exp(Function):
    def forward(self, a):
        out = xp_of(a).exp(a)
        self.save_for_backward(out)
        return out

    def backward(self, g):
        return g * self.saved_tensors[0]

    def backward_graph(self, g):
        return g * self.output(self.saved_tensors[0])


class Log(Function):
    def forward(self, a):
        self.save_for_backward(a)
        with np.errstate(divide="ignore", invalid="ignore"):
            return xp_of(a).log(a)

    def backward(self, g):
        with np.errstate(divide="ignore", invalid="ignore"):
            return g / self.saved_tensors[0]

    def backward_graph(self, g):
        return g / self.input(0, self.saved_tensors[0])


class Sqrt(Function):
    def forward(self, a):
        with np.errstate(invalid="ignore"):
            out = xp_of(a).sqrt(a)
        self.save_for_backward(out)
        return out

    def backward(self, g):
        with np.errstate(divide="ignore"):
            return g / (2 * self.saved_tensors[0])

    def backward_graph(self, g):
        return g / (2 * self.output(self.saved_tensors[0]))


class Rsqrt(Function):
    def forward(self, a):
        with np.errstate(divide="ignore", invalid="ignore"):
            out = 1 / xp_of(a).sqrt(a)
        self.save_for_backward(out)
        return out

    def backward(self, g):
        out = self.saved_tensors[0]
        return -0.5 * g * out * out * out

    def backward_graph(self, g):
        y = self.output(self.saved_tensors[0])
        return -0.5 * g * y * y * y


class Abs(Function):
    def forward(self, a):
        self.save_for_backward(a)
        return xp_of(a).abs(a)

    def backward(self, g):
        a = self.saved_tensors[0]
        # torch's sgn: 0 at NaN (numpy's sign gives NaN)
        return g * ((a > 0).astype(g.dtype) - (a < 0).astype(g.dtype))

    def backward_graph(self, g):
        a = self.saved_tensors[0]
        return g * Tensor._make((a > 0).astype(g.dtype) - (a < 0).astype(g.dtype), None)


class Tanh(Function):
    def forward(self, a):
        out = xp_of(a).tanh(a)
        self.save_for_backward(out)
        return out

    def backward(self, g):
        y = self.saved_tensors[0]
        return g * (1 - y * y)

    def backward_graph(self, g):
        y = self.output(self.saved_tensors[0])
        return g * (1 - y * y)


class Sigmoid(Function):
    def forward(self, a):
        xp = xp_of(a)
        # Split by sign so exp never overflows.
        e = xp.exp(-xp.abs(a))
        out = xp.where(a >= 0, 1 / (1 + e), e / (1 + e)).astype(a.dtype, copy=False)
        self.save_for_backward(out)
        return out

    def backward(self, g):
        y = self.saved_tensors[0]
        return g * y * (1 - y)

    def backward_graph(self, g):
        y = self.output(self.saved_tensors[0])
        return g * y * (1 - y)


class Relu(Function):
    def forward(self, a):
        out = xp_of(a).maximum(a, 0)
        self.save_for_backward(out)
        return out

    def backward(self, g):
        # torch's threshold_backward selects 0 where out <= 0 -- also when g is inf or NaN there (relu(x).sqrt() at
        # x = 0, lp_pool of a zero window), which a product turned into NaN -- so a NaN input passes its gradient on
        return xp_of(g).where(self.saved_tensors[0] <= 0, g.dtype.type(0), g)

    def backward_graph(self, g):
        return where(Tensor._make(self.saved_tensors[0] <= 0, None), 0.0, g)


class Clamp(Function):
    """Gradient passes where lo <= a <= hi (inclusive, as PyTorch)."""

    def forward(self, a, lo, hi):
        xp = xp_of(a)
        self.save_for_backward(a)
        self.bounds = (lo, hi)
        out = a
        if lo is not None:
            out = xp.maximum(out, lo)
        if hi is not None:
            out = xp.minimum(out, hi)
        return out.astype(a.dtype, copy=False)

    def backward(self, g):
        a, = self.saved_tensors
        lo, hi = self.bounds
        mask = True
        if lo is not None:
            mask = mask & (a >= lo)
        if hi is not None:
            mask = mask & (a <= hi)
        return g * mask, None, None

    def backward_graph(self, g):
        a, = self.saved_tensors
        lo, hi = self.bounds
        mask = a == a
        if lo is not None:
            mask = mask & (a >= lo)
        if hi is not None:
            mask = mask & (a <= hi)
        return g * Tensor._make(mask.astype(g.dtype), None), None, None


class ClampTensor(Function):
    """clamp with tensor bounds, PyTorch's clamp_backward: a tie with a bound sends the whole gradient to the input
    (maximum/minimum would split it 0.5/0.5); a bound gets it where it is the result, max winning when min > max."""

    def forward(self, a, lo, hi):
        xp = xp_of(a)
        self.save_for_backward(a, lo, hi)
        self.shapes = (shape_of(a), shape_of(lo), shape_of(hi))
        out = a
        if lo is not None:
            out = xp.maximum(out, lo)
        if hi is not None:
            out = xp.minimum(out, hi)
        return out

    def backward(self, g):
        a, lo, hi = self.saved_tensors
        xp, zero = xp_of(g), g.dtype.type(0)
        na, nlo, nhi = self.needs_input_grad
        keep = True
        if lo is not None:
            keep = keep & (a >= lo)
        if hi is not None:
            keep = keep & (a <= hi)
        ga = unbroadcast(xp.where(keep, g, zero), self.shapes[0]) if na else None
        glo = ghi = None
        if nlo:
            to_lo = a < lo if hi is None else (a < lo) & (lo < hi)
            glo = unbroadcast(xp.where(to_lo, g, zero), self.shapes[1])
        if nhi:
            to_hi = a > hi if lo is None else (a > hi) | (hi < lo)
            ghi = unbroadcast(xp.where(to_hi, g, zero), self.shapes[2])
        return ga, glo, ghi

    def backward_graph(self, g):
        a, lo, hi = self.saved_tensors
        na, nlo, nhi = self.needs_input_grad
        keep = a == a
        if lo is not None:
            keep = keep & (a >= lo)
        if hi is not None:
            keep = keep & (a <= hi)
        ga = sum_to(where(Tensor._make(keep, None), g, 0.0), self.shapes[0]) if na else None
        glo = ghi = None
        if nlo:
            to_lo = a < lo if hi is None else (a < lo) & (lo < hi)
            glo = sum_to(where(Tensor._make(to_lo, None), g, 0.0), self.shapes[1])
        if nhi:
            to_hi = a > hi if lo is None else (a > hi) | (hi < lo)
            ghi = sum_to(where(Tensor._make(to_hi, None), g, 0.0), self.shapes[2])
        return ga, glo, ghi


class Where(Function):
    def forward(self, cond, a, b):
        self.save_for_backward(cond)
        self.shapes = (shape_of(a), shape_of(b))
        if cond.__class__ is _ND and cond.size >= _BIG:
            return kernels.get("where")(cond, a, b)
        return xp_of(cond).where(cond, a, b)

    def backward(self, g):
        cond, = self.saved_tensors
        _, na, nb = self.needs_input_grad
        zero = g.dtype.type(0)
        return (None, unbroadcast(xp_of(g).where(cond, g, zero), self.shapes[0]) if na else None,
                unbroadcast(xp_of(g).where(cond, zero, g), self.shapes[1]) if nb else None)

    def backward_graph(self, g):
        cond = Tensor._make(self.saved_tensors[0], None)
        _, na, nb = self.needs_input_grad
        return (None, sum_to(where(cond, g, 0.0), self.shapes[0]) if na else None,
                sum_to(where(cond, 0.0, g), self.shapes[1]) if nb else None)


def _astype(a, dtype):
    """a new array of dtype with PyTorch's rounding, through the device's "cast" kernel (vectorized bfloat16)."""
    return kernels.get("cast", kernels.device_type(a))(a, dtype)


class Cast(Function):
    def forward(self, a, dtype):
        self.in_dtype = a.dtype
        return _astype(a, dtype)

    def backward(self, g):
        if g.dtype.kind == "c" and self.in_dtype.kind != "c":  # (a real input's gradient is the real part: torch)
            g = g.real
        return _astype(g, self.in_dtype), None

    def backward_graph(self, g):
        return g.to(self.in_dtype), None


class ToDevice(Function):
    def forward(self, a, device):
        self.src = device_of(a)
        return to_device(a, device)

    def backward(self, g):
        return to_device(g, self.src), None

    def backward_graph(self, g):
        return g.to(self.src), None


# ------------------------------------------------------------------------------------ functional API
def _bin(cls, name):
    apply = cls.apply

    def f(a, b):
        # _promote's common cases without its call: two tensors of one dtype; a float tensor and a Python scalar,
        # which takes the tensor's dtype
        if a.__class__ is Tensor:
            dt = a.array.dtype
            if b.__class__ is Tensor:
                if dt is b.array.dtype:
                    return apply(a, b)
            elif (b.__class__ is float or b.__class__ is int) and dt.kind == "f":
                return apply(a, dt.type(b))
        elif (a.__class__ is float or a.__class__ is int) and b.__class__ is Tensor and b.array.dtype.kind == "f":
            return apply(b.array.dtype.type(a), b)
        a, b = _promote(name, a, b)
        return apply(a, b)
    f.__name__ = name
    return f


add = _bin(Add, "add")
_sub = _bin(Sub, "sub")
_sub_apply = Sub.apply


def sub(a, b):
    if a.__class__ is Tensor and b.__class__ is Tensor:
        dt = a.array.dtype
        if dt is b.array.dtype and dt.kind == "f":
            return _sub_apply(a, b)  # (the common case, past both checks below)
    if any(x.array.dtype == np.bool_ if isinstance(x, Tensor) else isinstance(x, (bool, np.bool_)) for x in (a, b)):
        raise RuntimeError(f"sub: subtraction, the `-` operator, with a bool tensor is not supported (shapes "
                           f"{[tuple(x.shape) for x in (a, b) if isinstance(x, Tensor)]}); use ~ or logical_not() to "
                           "invert a mask")
    return _sub(a, b)
mul = _bin(Mul, "mul")
maximum = _bin(Maximum, "maximum")
minimum = _bin(Minimum, "minimum")


def _integral(x):
    return x.dtype.kind in "biu" if isinstance(x, Tensor) else isinstance(x, (bool, int, np.integer, np.bool_))


def div(a, b):
    # True division of integers gives the default float dtype (float32 unless changed), as in PyTorch, each operand
    # cast to it directly: uint8 [3] / int8 0-d -3 is -1, where promoting to uint8 first would divide 3 by 253.
    if _integral(a) and _integral(b):
        dt = get_default_dtype()
        a = a.to(dt) if isinstance(a, Tensor) else float(a)
        b = b.to(dt) if isinstance(b, Tensor) else float(b)
    a, b = _promote("div", a, b)
    return Div.apply(a, b)


def pow(a, b):
    if isinstance(a, Tensor) and a.dtype.kind in "biu" and isinstance(b, (int, np.integer)) and b < 0:
        raise RuntimeError(f"pow: Integers to negative integer powers are not allowed ({a.dtype} tensor of shape "
                           f"{tuple(a.shape)} ** {int(b)}); use a float tensor")
    a, b = _promote("pow", a, b)
    t = a if isinstance(a, Tensor) else b
    if isinstance(a, (bool, np.bool_)) or isinstance(b, (bool, np.bool_)):  # (a bool scalar stays bool in _promote)
        if t.dtype == np.bool_ and a is t:  # torch's bool ** bool scalar is bool: 1 ** b or 0 ** b
            return pow(a.to(np.int64), int(b)).to(np.bool_)
        a, b = (a, t.dtype.type(b)) if a is t else (t.dtype.type(a), b)
    if all(not isinstance(x, Tensor) or x.dtype == np.bool_ for x in (a, b)):
        raise RuntimeError(f"pow: not implemented for bool tensors (shapes "
                           f"{[tuple(x.shape) for x in (a, b) if isinstance(x, Tensor)]})")
    if isinstance(a, Tensor) and isinstance(b, np.number) and is_float(a.dtype):
        b = int(b) if np.isfinite(b) and b == int(b) else float(b)  # integer powers stay exact and keep dtype
    return Pow.apply(a, b)


def _unary(cls, name, float_only=True):
    apply = cls.apply

    def f(a):
        if not float_only or (a.array.dtype.kind == "f" if a.__class__ is Tensor else False):
            return apply(a)  # (the common case in one test: float16/32/64, or an op for every dtype)
        if a.dtype == bfloat16:  # computed in float32 and rounded once, as PyTorch (sigmoid's
            return apply(a.float()).to(bfloat16)  # few ops would round at each step in bfloat16)
        return apply(to_float(a))
    f.__name__ = name
    return f


neg = _unary(Neg, "neg", float_only=False)
exp = _unary(Exp, "exp")
log = _unary(Log, "log")
sqrt = _unary(Sqrt, "sqrt")
rsqrt = _unary(Rsqrt, "rsqrt")
abs = _unary(Abs, "abs", float_only=False)
tanh = _unary(Tanh, "tanh")
sigmoid = _unary(Sigmoid, "sigmoid")
relu = _unary(Relu, "relu", float_only=False)


def clamp(a, min=None, max=None):
    if min is None and max is None:
        raise ValueError(f"clamp: at least one of min and max must be given (tensor of shape {tuple(a.shape)})")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        def bound(v):
            if v is None or isinstance(v, Tensor):
                return v
            float_bound = isinstance(v, (float, np.floating)) and not is_float(a.dtype)
            return make_tensor(v, dtype=get_default_dtype() if float_bound else a.dtype, device=a.device)
        lo, hi = bound(min), bound(max)
        ts = [t for t in (a, lo, hi) if t is not None]
        check_device_as("clamp", a, lo, hi)
        dt = result_type(*ts)
        if lo is not None and hi is not None:  # (one tensor bound is torch's clamp_min/max: bool tensors allowed)
            _no_bool_clamp(dt, a)
        lo, hi = (None if t is None else t.to(dt) for t in (lo, hi))
        try:
            np.broadcast_shapes(*(t.shape for t in ts))
        except ValueError:
            raise RuntimeError(f"clamp: input of shape {tuple(a.shape)} and bounds of shapes "
                               f"{[None if t is None else tuple(t.shape) for t in (min, max)]} cannot be broadcast "
                               "together") from None
        return ClampTensor.apply(a.to(dt), lo, hi)
    if not is_float(a.dtype) and any(isinstance(v, (float, np.floating)) for v in (min, max)):
        a = to_float(a)  # int tensor, float bound -> float result (as PyTorch); a complex one stays, refused below
    elif a.dtype == np.bool_ and any(_integral(v) and not isinstance(v, (bool, np.bool_)) for v in (min, max)):
        a = a.to(np.int64)  # (an int bound promotes a bool tensor, as in any binary op)
    _no_bool_clamp(a.dtype, a)
    _, lo = _promote("clamp", a, min) if min is not None else (a, None)
    _, hi = _promote("clamp", a, max) if max is not None else (a, None)
    return Clamp.apply(a, lo, hi)


def _no_bool_clamp(dt, a):
    if dt == np.bool_:
        raise NotImplementedError(f"\"clamp\" not implemented for 'Bool' (input of shape {tuple(a.shape)}); compare "
                                  "with the bounds or cast to an integer type first")


def where(cond, a, b):
    if not isinstance(cond, Tensor):
        cond = make_tensor(cond)
    if cond.dtype != np.bool_:
        raise TypeError(f"where: condition must be a bool tensor, got dtype {cond.dtype} (shape {tuple(cond.shape)})")
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        a, b = _promote("where", a, b)
    else:  # two Python scalars: torch's scalar type (the default float for a float, int64 for an int), not NumPy's
        kinds = {type(v) for v in (a, b)}
        dt = (default_complex() if any(issubclass(k, (complex, np.complexfloating)) for k in kinds) else
              get_default_dtype() if any(issubclass(k, (float, np.floating)) for k in kinds) else
              np.dtype(np.bool_) if kinds <= {bool, np.bool_} else np.dtype(np.int64))
        a, b = make_tensor(a, dtype=dt, device=cond.device), make_tensor(b, dtype=dt, device=cond.device)
    return Where.apply(cond, a, b)


def _cmp(opname, fn, ordered=False):
    def f(a, b):
        if isinstance(a, Tensor) and isinstance(b, Tensor):
            check_device_as(opname, a, b)  # the arrays go to the kernel directly, past Function.apply's check
        a, b = _promote(opname, a, b)
        if ordered and (a if isinstance(a, Tensor) else b).dtype.kind == "c":
            refuse_complex(opname, a if isinstance(a, Tensor) else b)
        x = a.array if isinstance(a, Tensor) else a
        y = b.array if isinstance(b, Tensor) else b
        return Tensor._make(fn(x, y), None)
    f.__name__ = opname
    return f


eq = _cmp("eq", lambda x, y: x == y)
ne = _cmp("ne", lambda x, y: x != y)
lt = _cmp("lt", lambda x, y: x < y, ordered=True)
le = _cmp("le", lambda x, y: x <= y, ordered=True)
gt = _cmp("gt", lambda x, y: x > y, ordered=True)
ge = _cmp("ge", lambda x, y: x >= y, ordered=True)
