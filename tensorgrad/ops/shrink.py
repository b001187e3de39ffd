"""The shrinkage and threshold activations (torch.hardshrink, torch.threshold; nn.functional's softshrink and
tanhshrink), as `where`s of differentiable ops, so that their gradients and double backward come from autograd.

Each `where` picks the branch torch's backward picks at the break points: hardshrink's and softshrink's gradient is
0 on the closed interval [-lambd, lambd], threshold's is 0 where x <= threshold. NaN goes to the branch that passes
it on (x itself), as torch's kernels do."""
import numpy as np

from ..tensor import Tensor
from .elementwise import where, tanh
from .util import is_float


def _check(op, x, floats_only=True):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    if floats_only and not is_float(x.dtype):
        # torch has no integer kernel for these ("hardshrink_cpu" not implemented for 'Long')
        raise NotImplementedError(f"{op}: not implemented for {x.dtype} (shape {tuple(x.shape)}); it needs a "
                                  "floating point tensor")


def hardshrink(input, lambd=0.5):
    """x where |x| > lambd, else 0."""
    _check("hardshrink", input)
    inside = (input >= -lambd) & (input <= lambd)
    return where(inside, 0.0, input)


def softshrink(input, lambd=0.5):
    """x - lambd above lambd, x + lambd below -lambd, 0 between."""
    _check("softshrink", input)
    if not lambd >= 0:
        raise RuntimeError(f"softshrink: lambda must be in range [0, inf) but found {lambd} (input of shape "
                           f"{tuple(input.shape)}, {input.dtype})")
    inside = (input >= -lambd) & (input <= lambd)
    return where(inside, 0.0, where(input > lambd, input - lambd, input + lambd))


def tanhshrink(input):
    """x - tanh(x)."""
    _check("tanhshrink", input)
    return input - tanh(input)


def threshold(input, threshold, value):
    """x where x > threshold, else value (integer tensors keep their dtype, as torch)."""
    _check("threshold", input, floats_only=False)
    if input.dtype == np.bool_:
        raise RuntimeError(f"threshold: not implemented for bool (shape {tuple(input.shape)})")
    fill = Tensor._make(input._xp.asarray(value).astype(input.dtype), None)
    return where(input <= threshold, fill, input)
