"""Differential fuzzing against PyTorch of type promotion: tensor op tensor, tensor op 0-d tensor and tensor op
Python scalar across bool/uint8/int8/int16/int32/int64/float16/bfloat16/float32/float64 (torch.result_type: a 0-d
tensor or a scalar does not promote a dimensioned tensor of its own category), in-place ops refusing a result type
they cannot hold, integer division and remainders with negatives and zeros, bitwise and shift ops, comparisons, where
and clamp with mixed operands, the dtype= of sum/prod/cumsum, and the dtype the factories infer.

Same harness as test_fuzz_recent (outcome kind, then values, then gradients of every float input). Every output is
returned as float64 values plus a code for its dtype, so a result of the right values and the wrong dtype (or a
bfloat16 one, which NumPy cannot hold in torch) is compared too. ``run_case(name, arrays, kw, SPECS)`` from
test_fuzz_torch reproduces a failure."""
import operator

import numpy as np
import pytest
import torch
from hypothesis import strategies as st

import tensorgrad as tg
from test_fuzz_recent import EXAMPLES, F16, check_against_torch, lay
from test_fuzz_torch import BOOL, F32, F64, I64, Op, _kw, shapes
from hypothesis.extra import numpy as hnp

U8, I8, I16, I32 = np.uint8, np.int8, np.int16, np.int32
NAMES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32", "float64"]
NP = {"bool": BOOL, "uint8": U8, "int8": I8, "int16": I16, "int32": I32, "int64": I64, "float16": F16,
      "bfloat16": F32, "float32": F32, "float64": F64}   # (bfloat16: drawn in float32, cast in both frameworks)
INTS = NAMES[:6]
OPS = []


def op(name, gen, call, **kw):
    OPS.append(Op(name, gen, call, **kw))


def out(m, *results):
    """Each result with its dtype's code, so the dtype is compared as a value (a bfloat16 result as float32, which
    holds it exactly: NumPy has no bfloat16 for torch's side)."""
    flat = []
    for r in results:
        name = str(r.dtype).split(".")[-1]
        flat += [r.float() if name == "bfloat16" else r, m.tensor(NAMES.index(name))]
    return tuple(flat)


def _elems(name, lo, hi):
    if name == "bool":
        return st.booleans()
    if name in INTS:
        return st.integers(0 if name == "uint8" else lo, hi)
    return st.one_of(st.integers(lo, hi).map(float), st.sampled_from([0.5, -2.5, 1.25, -0.0]))


def operands(n, names=NAMES, lo=-5, hi=5, zero_d=True, scalars=(), min_dims=0):
    """n operands, each a dimensioned or (zero_d) 0-d array of its own dtype name, broadcastable; kw 'dt' names
    the dtypes (bfloat16's cast happens in the call), 'zd' which operands were drawn 0-d, 's' a Python scalar."""
    @st.composite
    def g(draw):
        s = draw(shapes(min_dims=max(min_dims, 1), max_dims=3, min_side=0, max_side=3))
        arrays, dts = [], []
        for i in range(n):
            name = draw(st.sampled_from(names))
            si = s
            if i:
                k = draw(st.integers(0, len(s)))
                si = tuple(1 if draw(st.booleans()) else d for d in s[len(s) - k:])
                if zero_d and draw(st.integers(0, 2)) == 0:
                    si = ()
            arrays.append(draw(hnp.arrays(NP[name], si, elements=_elems(name, lo, hi))))
            dts.append(name)
        kw = {"dt": tuple(dts), "layout": draw(st.sampled_from(["c", "t", "s"]))}
        if scalars:
            kw["s"] = draw(st.sampled_from(scalars))
        return arrays, kw
    return g()


def cast(m, xs, dt, layout="c"):
    """The operands in their drawn dtypes, the first one laid out non-contiguously. bfloat16 is a cast of a detached
    float32 input: gradients in bfloat16 differ in their last bits with the order of operations (torch's s / x is
    s * x.reciprocal())."""
    ys = [x.detach().to(getattr(m, d)) if d == "bfloat16" else x for x, d in zip(xs, dt)]
    return [lay(m, ys[0], layout)] + ys[1:] if ys else ys


SCALARS = (True, False, 0, 2, -3, 7, 2.5, -0.5, 0.0)
BINARY = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "truediv": operator.truediv,
          "floordiv": operator.floordiv, "mod": operator.mod, "pow": operator.pow, "and": operator.and_,
          "or": operator.or_, "xor": operator.xor, "lshift": operator.lshift, "rshift": operator.rshift,
          "lt": operator.lt, "le": operator.le, "eq": operator.eq, "ne": operator.ne, "gt": operator.gt,
          "maximum": lambda a, b: (torch if isinstance(a, torch.Tensor) else tg).maximum(a, b),
          "fmod": lambda a, b: a.fmod(b), "remainder": lambda a, b: a.remainder(b),
          "atan2": lambda a, b: a.atan2(b), "hypot": lambda a, b: a.hypot(b)}


def _pos_exp(f, name):
    # (integer ** negative integer: torch raises for a scalar exponent and gives C's truncation for a tensor one;
    # the shifts by negative or >= width amounts are undefined in C -- both kept non-negative and small)
    if name in ("pow", "lshift", "rshift"):
        def g(a, b):
            if isinstance(b, (torch.Tensor, tg.Tensor)) and b.dtype not in (torch.bool, tg.bool):
                b = b.abs() % 4 if not b.is_floating_point() else b.abs()
            elif isinstance(b, (int, float)) and not isinstance(b, bool):
                b = abs(b) % 4 if isinstance(b, int) else abs(b)
            return f(a, b)
        return g
    return f


for _n, _f in BINARY.items():
    _f = _pos_exp(_f, _n)
    # (atan2 without bools and uint8: torch's gradient for the float operand negates the other one, which raises
    # for a bool and wraps for a uint8 -- test_torch_atan2_gradient_negates_in_uint8)
    op(f"{_n}-tensors", operands(2, names=NAMES[2:] if _n == "atan2" else NAMES), (lambda f: lambda m, a, b, dt, layout: out(m, f(*cast(m, [a, b], dt, layout))))(
        _f))
    if _n in ("maximum", "atan2", "hypot"):
        continue  # (torch's functions take no Python scalar and raise a TypeError; tensorgrad's accept one)
    # (no gradients for the remainders, torch has no derivative of remainder(scalar, tensor) and raises; nor for
    # pow, whose backward for a bool exponent raises in torch)
    op(f"{_n}-scalar", operands(1, scalars=SCALARS), (lambda f: lambda m, a, dt, layout, s: out(
        m, f(cast(m, [a], dt, layout)[0], s), f(s, cast(m, [a], dt)[0])))(_f),
       grad=_n not in ("mod", "fmod", "remainder", "pow"))

# in place: the result type must be castable to the tensor's own (float into int, anything but bool into bool
# refused with torch's "result type Float can't be cast to the desired output type Long")
for _n in ["add_", "sub_", "mul_", "div_", "floor_divide_", "remainder_", "fmod_", "bitwise_and_", "clamp_min_",
           "maximum", "copy_", "masked_fill_"]:
    def _inplace(n):
        def call(m, a, b, dt, layout):
            a, b = cast(m, [a, b], dt)
            y = a.clone()
            if n == "maximum":
                m.maximum(y, b, out=y)
            elif n == "masked_fill_":
                y.masked_fill_(y != 0, b.reshape(-1)[0] if b.numel() else b.new_zeros(()))
            elif n == "copy_":
                y.copy_(b)
            else:
                getattr(y, n)(b)
            return out(m, y)
        return call
    op(f"inplace-{_n}", operands(2), _inplace(_n), grad=False)

# the augmented assignments with a Python scalar: in place (a view taken before sees the write; a missing
# __ifloordiv__ made x //= 2 rebind x to a new tensor), refused where the result type cannot be cast back
_IOPS = {"+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv,
         "//=": operator.ifloordiv, "%=": operator.imod, "**=": operator.ipow, "&=": operator.iand,
         "|=": operator.ior, "^=": operator.ixor, "<<=": operator.ilshift, ">>=": operator.irshift}


def _augmented(m, a, dt, layout, s, o):
    x = cast(m, [a], dt)[0] * 1 if dt[0] != "bool" else cast(m, [a], dt)[0].clone()
    view = x[...]
    y = _IOPS[o](x, abs(s) if "<" in o or ">" in o else s)
    if y is not x:
        raise AssertionError(f"{o} returned a new tensor")
    return out(m, x, view)


op("augmented-assign", operands(1, scalars=SCALARS).flatmap(lambda c: st.sampled_from(sorted(_IOPS)).map(
    lambda o: (c[0], {**c[1], "o": o}))), _augmented)

# integer division: by zero torch raises ZeroDivisionError on CPU; floor/trunc rounding of negatives
for _mode in [None, "trunc", "floor"]:
    op(f"div-int-{_mode}", operands(2, names=INTS + ["float32"], lo=-7, hi=7),
       (lambda mode: lambda m, a, b, dt, layout: out(m, m.div(*cast(m, [a, b], dt, layout), rounding_mode=mode)))(
        _mode))
for _n in ["floor_divide", "remainder", "fmod"]:
    op(f"{_n}-int", operands(2, names=INTS + ["float64"], lo=-7, hi=7),
       (lambda n: lambda m, a, b, dt, layout: out(m, getattr(m, n)(*cast(m, [a, b], dt, layout))))(_n))
for _n in ["bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_left_shift", "bitwise_right_shift"]:
    op(f"{_n}-fn", operands(2, names=INTS, lo=0, hi=3),
       (lambda n: lambda m, a, b, dt, layout: out(m, getattr(m, n)(*cast(m, [a, b], dt, layout))))(_n))
op("bitwise_not", operands(1, names=INTS), lambda m, a, dt, layout: out(m, ~cast(m, [a], dt, layout)[0]))

# where / clamp with scalar or tensor arguments of other dtypes
op("where-tensors", operands(3), lambda m, c, a, b, dt, layout: out(m, m.where(
    *[c != 0] + cast(m, [a, b], dt[1:], layout))))
op("where-scalar", operands(2, scalars=SCALARS), lambda m, c, a, dt, layout, s: out(m, m.where(
    c != 0, cast(m, [a], dt[1:], layout)[0], s), m.where(c != 0, s, cast(m, [a], dt[1:])[0])))
op("where-scalars", operands(1, scalars=SCALARS), lambda m, c, dt, layout, s: out(m, m.where(c != 0, s, 1),
                                                                                    m.where(c != 0, 1.5, s)))
op("clamp-tensors", operands(3), lambda m, a, lo, hi, dt, layout: out(m, m.clamp(*cast(m, [a, lo, hi], dt, layout))))
op("clamp-min-tensor", operands(2), lambda m, a, lo, dt, layout: out(m, m.clamp(*cast(m, [a, lo], dt, layout))))
op("clamp-scalar", operands(1, scalars=SCALARS), lambda m, a, dt, layout, s: out(
    m, m.clamp(cast(m, [a], dt, layout)[0], min=s), m.clamp(cast(m, [a], dt)[0], max=s)))

# reductions' result dtypes: int and bool sum/prod/cumsum give int64, dtype= casts the input first, mean of an int
# tensor raises, std/var refuse non-float input
_RED = st.sampled_from([None] + NAMES)
for _n in ["sum", "prod", "cumsum", "cumprod", "nansum", "mean", "nanmean"]:
    def _red(n):
        def call(m, a, dt, layout, s):
            x = cast(m, [a], dt, layout)[0]
            d = None if s is None else getattr(m, s)
            if n in ("cumsum", "cumprod"):
                return out(m, getattr(m, n)(x, 0 if x.ndim else 0, dtype=d))
            return out(m, getattr(m, n)(x, dtype=d), getattr(m, n)(x, -1, dtype=d, keepdim=True))
        return call
    # (values that fit every target: torch casts a negative float into uint8 with C's undefined conversion; no
    # bfloat16 input, whose gradient's rounding differs with the order of the products)
    op(f"{_n}-dtype", operands(1, NAMES[:7] + NAMES[8:], lo=0, hi=3).flatmap(
        lambda c: _RED.map(lambda s: (c[0], {**c[1], "s": s}))), _red(_n))
for _n in ["std", "var", "amax", "max", "logsumexp", "all", "any", "count_nonzero", "argmax"]:
    op(f"{_n}-dtype", operands(1), (lambda n: lambda m, a, dt, layout: out(m, getattr(m, n)(
        cast(m, [a], dt, layout)[0])))(_n))


# factories: the dtype inferred from Python numbers, or the dtype= given
def _fac(gen_args):
    return st.tuples(gen_args, st.sampled_from([None, "int64", "int32", "uint8", "float32", "float64",
                                                "float16"])).map(lambda c: ([], {"layout": "c", "a": c[0],
                                                                                 "d": c[1]}))


_NUM = st.sampled_from([0, 1, 2, 5, -3, 0.5, 2.5, -1.5, True, 10])
op("arange", _fac(st.lists(_NUM, min_size=1, max_size=3)), lambda m, layout, a, d: out(
    m, m.arange(*a, dtype=None if d is None else getattr(m, d))), grad=False)
op("linspace", _fac(st.tuples(_NUM, _NUM, st.integers(0, 5))), lambda m, layout, a, d: out(
    m, m.linspace(*a, dtype=None if d is None else getattr(m, d))), grad=False)
op("full", _fac(_NUM), lambda m, layout, a, d: out(m, m.full((2,), a, dtype=None if d is None else getattr(m, d))),
   grad=False)
op("tensor-infer", _fac(st.lists(_NUM, max_size=3)), lambda m, layout, a, d: out(
    m, m.tensor(a, dtype=None if d is None else getattr(m, d)), m.as_tensor(a)), grad=False)
op("full_like", operands(1, scalars=(0, 2, 2.5, True)), lambda m, a, dt, layout, s: out(
    m, m.full_like(cast(m, [a], dt)[0], s), m.zeros_like(cast(m, [a], dt)[0]) + s), grad=False)

SPECS = {s.name: s for s in OPS}
assert len(SPECS) == len(OPS), "op names in the table must be unique"


@pytest.mark.parametrize("spec", [pytest.param(s, id=s.name) for s in OPS])
def test_matches_torch(spec):
    check_against_torch(spec, EXAMPLES)


# ------------------------------------------------------------------------- torch's own defects, for the record
def test_torch_atan2_gradient_negates_in_uint8():
    # d atan2(y, x) / dx = -y / (x^2 + y^2): torch negates the uint8 y in uint8 (-1 is 255); tensorgrad's is -1
    for m in (tg, torch):
        x = m.tensor(0.0, requires_grad=True)
        m.atan2(m.tensor([1], dtype=m.uint8), x).sum().backward()
        assert x.grad.item() == (-1.0 if m is tg else 255.0)


# ------------------------------------------------------------------------------------- output layout of binary ops
@pytest.mark.parametrize("opname", ["add", "sub", "mul", "div"])
def test_binary_output_takes_the_first_operands_layout(opname):
    """torch's TensorIterator lays a binary op's output out as its first operand where the operands' orders differ
    (channels_last + C-order is channels_last, C-order + channels_last is C); NumPy alone gives C order for both."""
    rng = np.random.default_rng(0)
    base = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    mat = rng.standard_normal((5, 4)).astype(np.float32)
    for m in (tg, torch):
        x = m.tensor(base)
        cl = x.contiguous(memory_format=m.channels_last)
        t = m.tensor(mat).t()
        f = getattr(m, opname)
        pairs = [(x, cl), (cl, x), (cl, cl), (cl, m.tensor(base[0, :, :1, :1])), (t, m.tensor(mat.T.copy())),
                 (m.tensor(mat.T.copy()), t), (t, m.tensor(mat[:1].T.copy())), (x.permute(0, 2, 3, 1), 2.0)]
        got = [tuple(f(a, b).stride()) for a, b in pairs]
        if m is tg:
            ours = got
    assert ours == got
