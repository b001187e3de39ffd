"""torch's ``out=`` argument for the functions of the top-level namespace: the result is computed as usual, then
written into ``out`` (resized when its shape differs, cast when the result's dtype may be cast into out's, as
torch.can_cast says), and ``out`` is returned. As in torch, out= does not take part in autograd: it is refused
while gradients are recorded for an argument that requires grad."""
import functools

from .autograd.grad_mode import is_grad_enabled, no_grad
from .dtypes import can_cast, name as dtype_name
from .tensor import Tensor, check_same_device


def _tensors(args, kwargs):
    for a in list(args) + list(kwargs.values()):
        if isinstance(a, Tensor):
            yield a
        elif isinstance(a, (list, tuple)):
            yield from (x for x in a if isinstance(x, Tensor))


# the ops whose out must have the result's dtype exactly in torch (the GEMMs; the (values, indices) pairs)
STRICT = {"matmul", "mm", "bmm", "mv", "dot", "vdot", "addmm", "addmv", "baddbmm", "addbmm", "max", "min", "sort",
          "topk", "median"}


def _write(op, result, out):
    if not isinstance(out, Tensor):
        raise TypeError(f"{op}(): argument 'out' must be a Tensor, got {type(out).__name__}")
    check_same_device(op, (result, out))
    if op in STRICT and result.dtype != out.dtype:
        raise RuntimeError(f"{op}(): expected out tensor to have dtype {dtype_name(result.dtype)}, but got "
                           f"{dtype_name(out.dtype)} instead")
    if not can_cast(result.dtype, out.dtype):
        raise RuntimeError(f"{op}(): result type {dtype_name(result.dtype)} can't be cast to the desired output type "
                           f"{dtype_name(out.dtype)} (out= tensor of shape {tuple(out.shape)})")
    if tuple(out.shape) != tuple(result.shape):
        # torch resizes out (a new allocation when it grows: views of the old memory no longer see it)
        out.array = out._xp.empty(tuple(result.shape), dtype=out.dtype)
    out.array[...] = result.array.astype(out.dtype, copy=False)
    out._bump()
    return out


def with_out(fn, op):
    @functools.wraps(fn)
    def f(*args, out=None, **kwargs):
        if out is None:
            return fn(*args, **kwargs)
        if is_grad_enabled() and any(t.requires_grad for t in _tensors(args + (out,), kwargs)):
            raise RuntimeError(f"{op}(): functions with out=... arguments don't support automatic differentiation, "
                               "but one of the arguments requires grad.")
        with no_grad():
            result = fn(*args, **kwargs)
        if isinstance(result, tuple):  # (values, indices) of max/min/sort/topk/median: out is a pair
            if not isinstance(out, (tuple, list)) or len(out) != len(result):
                raise TypeError(f"{op}(): out must be a tuple of {len(result)} tensors")
            return type(result)(*(_write(op, r, o) for r, o in zip(result, out))) if hasattr(result, "_fields") \
                else tuple(_write(op, r, o) for r, o in zip(result, out))
        return _write(op, result, out)
    return f


# torch's functions with an out= argument that tensorgrad's namespace has
NAMES = (
    "add", "sub", "mul", "div", "pow", "neg", "exp", "log", "sqrt", "rsqrt", "abs", "tanh", "sigmoid", "maximum",
    "minimum", "clamp", "clip", "eq", "ne", "lt", "le", "gt", "ge", "sin", "cos", "erf", "log1p", "expm1", "log2",
    "log10", "reciprocal", "sign", "floor", "ceil", "round", "trunc", "frac", "square", "lerp", "logical_not",
    "logical_and", "logical_or", "logical_xor", "addcmul", "addcdiv", "floor_divide", "remainder", "sum", "mean",
    "std", "var", "amax", "amin", "max", "min", "argmax", "argmin", "logsumexp", "norm", "median", "prod", "cumsum",
    "cumprod", "logcumsumexp", "cat", "concat", "stack", "tril", "triu", "gather", "take_along_dim", "index_select",
    "masked_select", "nonzero", "diag", "matmul", "mm", "bmm", "mv", "dot", "vdot", "outer", "ger", "inner",
    "tensordot", "addmm", "addmv", "baddbmm", "addbmm", "addr", "topk", "sort", "where", "clamp_min", "clamp_max",
    "searchsorted", "bucketize", "histc", "nan_to_num", "diff", "zeros", "ones", "empty", "full", "randn", "rand",
    "randint", "randperm", "arange", "linspace", "eye",
)


def install(namespace):
    for n in NAMES:
        if n in namespace:
            namespace[n] = with_out(namespace[n], n)
