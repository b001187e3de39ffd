"""torch.testing.make_tensor (tensorgrad.testing exports it).

make_tensor draws from tensorgrad's default generator, so tensorgrad.manual_seed makes it repeatable; its value
ranges, argument checks and layouts (noncontiguous: every other element of a doubled last dim; memory_format: the
layout clone gives) are torch's."""
import math
import numbers
import warnings

import numpy as np

from . import dtypes
from .factories import randint, rand, empty

def _name(dt):
    return f"torch.{dtypes.name(dt)}"


def _low_high(dt, low, high, lowest, highest_excl, default_low, default_high, integral):
    low = default_low if low is None else low
    high = default_high if high is None else high
    if any(isinstance(v, float) and math.isnan(v) for v in (low, high)):
        raise ValueError(f"`low` and `high` cannot be NaN, but got low={low} and high={high}")
    if low == high and not integral:
        warnings.warn("Passing `low==high` to `torch.testing.make_tensor` for floating or complex types is "
                      "deprecated since 2.1 and will be removed in 2.3. Use `torch.full(...)` instead.",
                      FutureWarning, stacklevel=3)
    elif low >= high:
        raise ValueError(f"`low` must be less than `high`, but got {low} >= {high}")
    elif high < lowest or low >= highest_excl:
        raise ValueError(f"The value interval specified by `low` and `high` is [{low}, {high}), but {_name(dt)} "
                         f"only supports [{lowest}, {highest_excl})")
    low, high = min(max(low, lowest), highest_excl), min(max(high, lowest), highest_excl)
    return (math.ceil(low), math.ceil(high)) if integral else (low, high)


def make_tensor(*shape, dtype, device, low=None, high=None, requires_grad=False, noncontiguous=False,
                exclude_zero=False, memory_format=None):
    """A tensor of ``shape`` filled with values uniform in [low, high) (ints: randint's; defaults -9 and 10 for
    integers, -9 and 9 for floats, clamped to the dtype's range; bool: True or False)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    if not all(isinstance(s, numbers.Integral) for s in shape):
        raise TypeError(f"make_tensor: shape must be ints or one sequence of ints, got {shape!r}")
    dt = dtypes.to_dtype(dtype)
    integral = dt == np.bool_ or not dtypes.is_float(dt)
    if requires_grad and integral:
        raise ValueError(f"`requires_grad=True` is not supported for boolean and integral dtypes, but got "
                         f"dtype={_name(dt)}")
    if noncontiguous and memory_format is not None:
        raise ValueError(f"The parameters `noncontiguous` and `memory_format` are mutually exclusive, but got "
                         f"noncontiguous={noncontiguous} and memory_format={memory_format}")
    if dt == np.bool_:
        result = randint(0, 2, shape, device=device).to(dt)
    elif integral:
        info = np.iinfo(dt)
        top = info.max + (1 if dt != np.int64 else 0)
        lo, hi = _low_high(dt, low, high, int(info.min), top, -9, 10, True)
        result = randint(lo, hi, shape, device=device).to(dt)
    else:
        info = dtypes.finfo(dt)
        lo, hi = _low_high(dt, low, high, float(info.min), float(info.max), -9, 9, False)
        # (the draw is made in float64 where the span overflows the dtype, then rounded into it)
        u = rand(shape, dtype=np.float64, device=device)
        result = (u * (hi - lo) + lo).clamp(float(info.min), float(info.max)).to(dt) if lo != hi \
            else empty(shape, dtype=dt, device=device).fill_(lo)
    if noncontiguous and result.numel() > 1:
        result = result.repeat_interleave(2, dim=-1)[..., ::2]
    elif memory_format is not None:
        result = result.clone(memory_format=memory_format)
    if exclude_zero:
        zero = result == 0
        one = True if dt == np.bool_ else 1 if integral else float(dtypes.finfo(dt).tiny)
        result = result.masked_fill(zero, one) if not noncontiguous else _fill_view(result, zero, one)
    if not integral:
        result.requires_grad = requires_grad
    return result


def _fill_view(result, mask, value):
    """exclude_zero on a noncontiguous result: written in place, so the strides stay torch's."""
    result.array[mask.array] = value
    return result
