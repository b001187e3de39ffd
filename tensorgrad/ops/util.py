"""Helpers shared by ops: unbroadcast and type promotion."""
import numpy as np

from ..dtypes import get_default_dtype, is_float, bfloat16, float32  # noqa: F401  (is_float re-exported: ops import it from here)
from ..backend import kernels, xp_of
from ..autograd.grad_mode import is_grad_enabled

_ND, _BIG = np.ndarray, kernels.THREADED_MIN


def fsum(x, axis=None, keepdims=False):
    """x.sum(axis) of a raw array with PyTorch's accumulation: bfloat16 is summed in float32 and rounded once
    (ml_dtypes' own sum accumulates in bfloat16: 100,000 ones sum to 256). Large NumPy arrays sum on the
    "reduce_sum" kernel's threads (NumPy's reductions run on one)."""
    if x.dtype == bfloat16:
        cast = kernels.get("cast", kernels.device_type(x))
        return cast(fsum(cast(x, float32), axis, keepdims), bfloat16)
    if x.__class__ is _ND and x.size >= _BIG:
        return kernels.get("reduce_sum")(x, axis, keepdims)
    return x.sum(axis=axis, keepdims=keepdims)


def unbroadcast(g, shape):
    """Sum a broadcast gradient back down to ``shape``."""
    if g.shape == shape:
        return g
    nlead = g.ndim - len(shape)
    axes = tuple(range(nlead)) + tuple(i + nlead for i, s in enumerate(shape) if s == 1 and g.shape[i + nlead] != 1)
    if axes:
        g = fsum(g, axis=axes, keepdims=True)
    if nlead:
        g = g.reshape(shape)
    return g


def rowdot(a, b):
    """Sums of a * b over the last axis, kept as a trailing axis of 1, without the product array (einsum): the row
    dot products of the fused ops' double backwards (layer norm, softmax-CE, attention)."""
    return xp_of(a).einsum("...i,...i->...", a, b)[..., None]


def rows(x):
    """x as a matrix of its last dim: (prod(leading dims), last). Spelled out rather than reshape(-1, n), which
    NumPy refuses for an empty array (-1 is ambiguous when n == 0)."""
    lead = 1
    for s in x.shape[:-1]:
        lead *= s
    return x.reshape(lead, x.shape[-1])


def to_float(a):
    """Integer and bool tensors become the default float dtype (as PyTorch) for ops whose result is a float."""
    return a if is_float(a.dtype) or a.dtype.kind == "c" else a.to(get_default_dtype())


def refuse_complex(op, *tensors):
    """For ops that Function.apply's complex gate never sees (they compute on the arrays directly): a complex
    tensor among ``tensors`` is refused, naming the op, as torch refuses these (no ordering of complex numbers)."""
    for t in tensors:
        if getattr(t, "dtype", None) is not None and t.dtype.kind == "c":
            raise RuntimeError(f"{op}: complex tensors are not supported by this op (got {t.dtype}, shape "
                               f"{tuple(t.shape)})")


def shape_of(x):
    return x.shape if hasattr(x, "shape") else ()


def normalize_dim(op, dim, ndim, shape=None):
    """Wrap a negative dim; raise a clear IndexError naming the op and the shape."""
    n = max(ndim, 1)
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise TypeError(f"{op}: dim must be an int, got {dim!r}")
    if not -n <= dim < n:
        raise IndexError(f"{op}: dim {dim} is out of range for a tensor of shape {tuple(shape) if shape is not None else ndim} "
                         f"(expected a dim in [{-n}, {n - 1}])")
    return dim % n


def normalize_dims(op, dim, ndim, shape=None, empty_is_all=True):
    """None -> all dims; int or sequence -> sorted tuple of non-negative dims. An empty sequence means all dims,
    as in torch's sum/mean/amax/var/norm...; any/all pass empty_is_all=False (torch reduces nothing there)."""
    if dim is None or (empty_is_all and isinstance(dim, (list, tuple)) and not dim):
        return tuple(range(ndim))
    if ndim == 0:  # a 0-d tensor accepts dim 0 / -1 (as PyTorch); reducing over it reduces nothing
        for d in (dim if isinstance(dim, (list, tuple)) else (dim,)):
            normalize_dim(op, d, ndim, shape)
        return ()
    if isinstance(dim, (list, tuple)):
        dims = tuple(sorted(normalize_dim(op, d, ndim, shape) for d in dim))
        if len(set(dims)) != len(dims):
            raise ValueError(f"{op}: dim {dim} names a dimension twice")
        return dims
    return (normalize_dim(op, dim, ndim, shape),)


def write_back(op, input, out, inplace):
    """The result of an op called with inplace=True: written into ``input`` when no gradient is recorded for it. When
    one is, a non-leaf input whose memory nothing else sees takes the result's array and node, torch's in-place
    history (Tensor._take_result, ops/methods.py), as does one whose memory views share (written there, and the
    views' histories rewritten: ops/view_history.py); otherwise (.data, an array saved for a gradient) the result
    comes back out of place, which is what the caller uses in `y = F.relu(x, inplace=True)` (torch refuses a leaf
    that requires grad)."""
    if not inplace or out is input:
        return out
    if input.requires_grad and is_grad_enabled():
        return input if input._take_result(out) else out
    return input._inplace_assign(out.array.reshape(input.shape), f"{op}(inplace=True)")
