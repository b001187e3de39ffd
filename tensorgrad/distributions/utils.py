"""Helpers shared by the distributions (torch.distributions.utils): parameter broadcasting, probs <-> logits, the
standard-normal draw of rsample, and lazy_property for parameters derived on first use."""
import math
from functools import update_wrapper
from numbers import Number

import numpy as np

from .. import dtypes
from ..autograd import enable_grad
from ..dtypes import get_default_dtype
from ..factories import randn, rand, tensor
from ..ops.elementwise import clamp, log, sigmoid
from ..ops.elementwise_math import log1p
from ..ops.nn import softmax
from ..tensor import Tensor

euler_constant = 0.57721566490153286060
LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def broadcast_all(*values):
    """The values as Tensors of one broadcast shape: Python numbers become tensors of the first tensor's dtype and
    device (the default dtype when all are numbers)."""
    if not all(isinstance(v, (Tensor, Number)) for v in values):
        raise ValueError("Input arguments must all be instances of numbers.Number or tensorgrad.Tensor, got "
                         + ", ".join(type(v).__name__ for v in values))
    ref = next((v for v in values if isinstance(v, Tensor)), None)
    dtype = ref.dtype if ref is not None else get_default_dtype()
    device = ref.device if ref is not None else "cpu"
    ts = [v if isinstance(v, Tensor) else tensor(v, dtype=dtype, device=device) for v in values]
    shape = broadcast_shapes(*(t.shape for t in ts))
    return tuple(t if tuple(t.shape) == shape else t.expand(shape) for t in ts)


def broadcast_shapes(*shapes):
    try:
        return tuple(np.broadcast_shapes(*(tuple(s) for s in shapes)))
    except ValueError:
        raise ValueError(f"shapes {', '.join(str(tuple(s)) for s in shapes)} cannot be broadcast together") from None


def standard_normal(shape, dtype, device):
    return randn(tuple(shape), dtype=dtype, device=device)


def standard_uniform(shape, dtype, device):
    return rand(tuple(shape), dtype=dtype, device=device)


def sum_rightmost(value, dim):
    """value summed over its rightmost ``dim`` dimensions."""
    if dim == 0:
        return value
    return value.reshape(tuple(value.shape[:value.dim() - dim]) + (-1,)).sum(-1)


def clamp_probs(probs):
    """Probabilities kept one machine epsilon inside (0, 1), so their logs and log1p(-p) stay finite."""
    eps = dtypes.finfo(probs.dtype).eps
    return clamp(probs, eps, 1 - eps)


def logits_to_probs(logits, is_binary=False):
    return sigmoid(logits) if is_binary else softmax(logits, dim=-1)


def probs_to_logits(probs, is_binary=False):
    p = clamp_probs(probs)
    return log(p) - log1p(-p) if is_binary else log(p)


class lazy_property:
    """A parameter computed on first access and then stored on the instance (as torch's, with grad enabled, so a
    logits derived from probs stays on the graph even when first read under no_grad)."""

    def __init__(self, wrapped):
        self.wrapped = wrapped
        update_wrapper(self, wrapped)

    def __get__(self, instance, obj_type=None):
        if instance is None:
            return self
        with enable_grad():
            value = self.wrapped(instance)
        setattr(instance, self.wrapped.__name__, value)
        return value
