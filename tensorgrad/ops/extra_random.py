"""Random draws of torch's namespace from tensorgrad's generators (tensorgrad/random.py): normal (all overloads),
bernoulli, poisson, randint_like, and the arrays behind the in-place fills (bernoulli_, random_, exponential_,
cauchy_, log_normal_, geometric_), which ops/extra_methods.py attaches.

Continuous draws are transformed uniforms / normals of the generator, so they work on each device; poisson draws on
the host (NumPy's sampler) and is moved. As in torch, a draw from tensors that require grad requires grad too, with
a zero gradient (torch's NormalBackward / BernoulliBackward / PoissonBackward)."""
import numpy as np

from .. import dtypes
from ..backend import as_device
from ..dtypes import get_default_dtype
from ..out_arg import _write as _write_out
from ..random import default_generator
from ..tensor import Tensor
from .elementwise import where
from .util import is_float


def _gen(generator):
    return generator or default_generator


def _zero_grad_link(out, *inputs):
    """out with a zero gradient toward each input that requires grad (their values never reach out's)."""
    for x in inputs:
        if isinstance(x, Tensor) and x.requires_grad:
            out = out + where(Tensor._make(x._xp.zeros((), dtype=bool), None), x, 0.0)
    return out


def _size(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    return tuple(int(s) for s in size)


def normal(mean=0.0, std=1.0, size=None, *, generator=None, dtype=None, device=None, requires_grad=False,
           out=None, layout=None):
    """Normal draws with the given mean and std: two tensors (broadcast), a tensor and a number, or two numbers and
    a size."""
    if out is not None:  # (torch's out=: the draw written into out, outside autograd)
        return _write_out("normal", normal(mean, std, size, generator=generator, dtype=dtype or out.dtype,
                                           device=device).detach(), out)
    g = _gen(generator)
    mt, st = isinstance(mean, Tensor), isinstance(std, Tensor)
    if st and (std.array < 0).any():
        raise RuntimeError(f"normal expects all elements of std >= 0.0 (std of shape {tuple(std.shape)})")
    if not st and std < 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
    if not mt and not st:
        if size is None:
            raise TypeError("normal(): with float mean and std, the size argument is required")
        dt = dtypes.to_dtype(dtype) or get_default_dtype()
        arr = g.normal(_size((size,)), dt, as_device(device or "cpu")) * dt.type(std) + dt.type(mean)
        t = Tensor._make(arr.astype(dt, copy=False), None)
        if requires_grad:
            t.requires_grad = True
        return t
    ref = mean if mt else std
    for x in (mean, std):
        if isinstance(x, Tensor) and not is_float(x.dtype):
            raise RuntimeError(f"normal: expected a floating point tensor for mean/std, got {x.dtype}")
    dt = ref.dtype if not (mt and st) else np.result_type(mean.dtype, std.dtype)
    shape = np.broadcast_shapes(*(x.shape for x in (mean, std) if isinstance(x, Tensor)))
    m = mean.array if mt else mean
    s = std.array if st else std
    z = g.normal(shape, dt, ref.device)
    t = Tensor._make((z * s + m).astype(dt, copy=False), None)
    return _zero_grad_link(t, mean, std)


def bernoulli(input, p=None, *, generator=None, out=None):
    """1 with probability input (or p, a number, for every element), else 0, in input's dtype."""
    if not is_float(input.dtype):
        raise RuntimeError(f"bernoulli: expected a floating point tensor of probabilities, got {input.dtype}")
    if out is not None:
        return _write_out("bernoulli", bernoulli(input, p, generator=generator).detach(), out)
    prob = input.array if p is None else p
    if p is None and ((prob < 0).any() or (prob > 1).any()):
        raise RuntimeError("bernoulli: all elements of input should be between 0 and 1")
    u = _gen(generator).random(input.shape, np.float64, input.device)
    t = Tensor._make((u < prob).astype(input.dtype), None)
    return _zero_grad_link(t, input)


def poisson(input, generator=None):
    """Poisson counts with rates ``input``, in input's dtype."""
    if not is_float(input.dtype):
        raise RuntimeError(f"poisson: expected a floating point tensor of rates, got {input.dtype}")
    rates = np.asarray(input.detach()).astype(np.float64)
    if (rates < 0).any() or not np.isfinite(rates).all():
        raise RuntimeError("poisson: invalid Poisson rate, expected rate to be non-negative and finite")
    arr = _gen(generator)._gen("cpu").poisson(rates).astype(input.dtype)
    t = Tensor._make(input._xp.asarray(arr), None)
    return _zero_grad_link(t, input)


def randint_like(input, low=0, high=None, *, dtype=None, device=None, requires_grad=False, generator=None,
                 layout=None, memory_format=None):
    """randint over input's shape (and dtype, device unless given): randint_like(x, high) or (x, low, high)."""
    if high is None:
        low, high = 0, low
    if high <= low:
        raise RuntimeError(f"randint_like: random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    d = dtypes.to_dtype(dtype) or input.dtype
    dev = device if device is not None else input.device
    arr = _gen(generator).integers(int(low), int(high), input.shape, np.int64, as_device(dev)).astype(d)
    t = Tensor._make(arr, None)
    if requires_grad:
        t.requires_grad = True
    return t


# ------------------------------------------------------------------ the arrays of the in-place fills
def _uniform(t, generator):
    """Uniforms in (0, 1] of t's shape, in float64 (the transforms below take their logs)."""
    return 1.0 - _gen(generator).random(t.shape, np.float64, t.device)


def bernoulli_array(t, p, generator):
    prob = p.array if isinstance(p, Tensor) else p
    if isinstance(p, Tensor):
        if (prob < 0).any() or (prob > 1).any():
            raise RuntimeError("bernoulli_: all elements of p should be between 0 and 1")
    elif not 0 <= p <= 1:
        raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={p}")
    return (_gen(generator).random(t.shape, np.float64, t.device) < prob).astype(t.dtype)


def random_array(t, low, high, generator):
    """Integers in [low, high): by default [0, 2**mantissa] for floats (every one exact), [0, max] for integers."""
    if high is None:
        if low is not None and low != 0 and high is None:
            low, high = 0, low
        else:
            low = 0 if low is None else low
            if t.dtype == np.bool_:
                high = 2
            elif is_float(t.dtype):
                high = 2 ** (dtypes.finfo(t.dtype).nmant + 1) + 1
            else:
                high = int(np.iinfo(t.dtype).max) + 1
    if high <= low:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    return _gen(generator).integers(int(low), int(high), t.shape, np.int64, t.device).astype(t.dtype)


def exponential_array(t, lambd, generator):
    if lambd <= 0:
        raise RuntimeError(f"exponential_ expects lambda > 0.0, but found lambda={lambd}")
    return (-t._xp.log(_uniform(t, generator)) / lambd).astype(t.dtype)


def cauchy_array(t, median, sigma, generator):
    if sigma <= 0:
        raise RuntimeError(f"cauchy_ expects sigma > 0.0, but found sigma={sigma}")
    u = _gen(generator).random(t.shape, np.float64, t.device)
    return (median + sigma * t._xp.tan(np.pi * (u - 0.5))).astype(t.dtype)


def log_normal_array(t, mean, std, generator):
    if std <= 0:
        raise RuntimeError(f"log_normal_ expects std > 0.0, but found std={std}")
    z = _gen(generator).normal(t.shape, np.float64, t.device)
    return t._xp.exp(mean + std * z).astype(t.dtype)


def geometric_array(t, p, generator):
    if not 0 < p < 1:
        raise RuntimeError(f"geometric_ expects p to be in (0, 1), but got p={p}")
    u = _uniform(t, generator)
    return t._xp.maximum(t._xp.ceil(t._xp.log(u) / np.log1p(-p)), 1).astype(t.dtype)
