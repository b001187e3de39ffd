"""Gradient clipping and flat-vector helpers (torch.nn.utils names and math), and torch.nn.utils' submodules: rnn
(PackedSequence and the pad / pack helpers), parametrize / parametrizations, the hook-based weight_norm and
spectral_norm, fusion (conv/linear + BatchNorm folding), stateless.functional_call and skip_init."""
import math
import warnings

from ...autograd.grad_mode import no_grad
from ...backend import blas
from ...tensor import Tensor
from ...factories import zeros
from ..grads import zero_grad_  # noqa: F401  (its home before nn.utils grew modules that build on Module)
from . import rnn  # noqa: F401  (torch.nn.utils.rnn is an attribute of torch.nn.utils once it is imported)
from . import parametrize, parametrizations, stateless, fusion  # noqa: F401
from .weight_norm import weight_norm, remove_weight_norm
from .spectral_norm import spectral_norm, remove_spectral_norm
from .fusion import fuse_conv_bn_eval, fuse_conv_bn_weights, fuse_linear_bn_eval, fuse_linear_bn_weights
from .init import skip_init
from . import memory_format  # noqa: F401
from .memory_format import convert_conv2d_weight_memory_format, convert_conv3d_weight_memory_format


def _grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """The norm of the norms of ``tensors`` (usually gradients): ||(||t_1||, ..., ||t_n||)||, a 0-d Tensor on
    the tensors' device (0.0 for none)."""
    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    norm_type = float(norm_type)
    if not tensors:
        return zeros(())
    with no_grad():
        xp = tensors[0]._xp
        # Folded pairwise instead of xp.stack(norms): on CUDA, stacking 0-d arrays copies a pointer table from the
        # host, which a CUDA graph capture does not allow.
        total = None
        if math.isinf(norm_type):
            for t in tensors:
                n = xp.abs(t.array).max() if norm_type > 0 else xp.abs(t.array).min()
                total = n if total is None else (xp.maximum if norm_type > 0 else xp.minimum)(total, n)
        else:
            for t in tensors:
                n = _vector_norm(xp, t.array, norm_type) ** norm_type
                total = n if total is None else total + n
            total = total ** (1.0 / norm_type)
        if error_if_nonfinite and not bool(xp.isfinite(total)):
            raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is non-finite "
                               "(nan or inf), so it cannot be clipped; pass error_if_nonfinite=False to skip this check")
    return Tensor._make(xp.asarray(total), None)


def clip_grads_with_norm_(parameters, max_norm, total_norm, foreach=None):
    """Scale every gradient by min(max_norm / (total_norm + 1e-6), 1), total_norm given (get_total_norm's)."""
    grads = _grads(parameters)
    if not grads:
        return
    with no_grad():
        xp = grads[0]._xp
        total = total_norm.array if isinstance(total_norm, Tensor) else xp.asarray(total_norm)
        coef = xp.minimum(float(max_norm) / (total + 1e-6), 1.0)
        for g in grads:
            g.array *= coef.astype(g.array.dtype)
            g._bump()


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Scale all gradients together so that their joint norm is at most max_norm:
    total = ||(||g_1||, ..., ||g_n||)||, coef = min(max_norm / (total + 1e-6), 1), g *= coef.
    Returns the total norm (before clipping) as a 0-d Tensor, left on the gradients' device."""
    parameters = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    total = get_total_norm(_grads(parameters), norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(parameters, max_norm, total, foreach)
    return total


def clip_grad_norm(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    warnings.warn("`torch.nn.utils.clip_grad_norm` is now deprecated in favor of `torch.nn.utils.clip_grad_norm_`.",
                  FutureWarning, stacklevel=2)
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


def _vector_norm(xp, a, p):
    a = a.reshape(-1)
    if p == 2.0:
        if xp.__name__ == "numpy" and a.dtype.kind == "f" and a.dtype.itemsize >= 4:
            d = blas.dot(a, a)                    # MKL, on the GEMMs' thread pool (backend/blas.py)
            return xp.sqrt(xp.dot(a, a) if d is None else d)  # on CUDA a dot is cuBLAS, which capture refuses
        acc = a.dtype if a.dtype.itemsize >= 4 and a.dtype.kind == "f" else xp.float32
        return xp.sqrt(xp.square(a.astype(acc, copy=False)).sum()).astype(a.dtype)
    if p == 1.0:
        return xp.abs(a).sum()
    if p == 0.0:
        return (a != 0).sum().astype(a.dtype)
    return (xp.abs(a) ** p).sum() ** (1.0 / p)


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient element into [-clip_value, clip_value] in place."""
    clip_value = float(clip_value)
    with no_grad():
        for g in _grads(parameters):
            xp = g._xp
            xp.clip(g.array, -clip_value, clip_value, out=g.array)


def parameters_to_vector(parameters):
    """One flat 1-D Tensor holding every parameter (a copy, not a view)."""
    ps = list(parameters)
    xp = ps[0]._xp
    return Tensor._make(xp.concatenate([p.array.reshape(-1) for p in ps]), None)


def vector_to_parameters(vec, parameters):
    """Copy consecutive slices of vec into the parameters, in place."""
    v = vec.array if isinstance(vec, Tensor) else vec
    i = 0
    with no_grad():
        for p in parameters:
            n = p.numel()
            p.array[...] = v[i:i + n].reshape(p.shape).astype(p.dtype, copy=False)
            p._bump()
            i += n
    if i != v.shape[0]:
        raise RuntimeError(f"vector_to_parameters: vector has {v.shape[0]} elements but the parameters hold {i}")
