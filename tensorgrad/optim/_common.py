"""What the per-parameter optimizers (RMSprop, Adagrad, Adadelta, Adamax, NAdam, RAdam) share: option checks
in one message style, the gradient an update starts from, PyTorch's lerp, and PyTorch's scalar-state dtype.

Their updates follow torch.optim's single-tensor path (the one torch runs on CPU) operation by operation, in
the same order, so float64 trajectories agree with torch to rounding. ATen evaluates ``addcmul_(t1, t2, value=v)``
as ``self + v * t1 * t2`` and ``addcdiv_(t1, t2, value=v)`` as ``self + v * t1 / t2``; the optimizers write
those expressions out in that order.
"""
import numpy as np

from .. import dtypes
from ..backend import xp_of
from ..backend.sparse_coo import SparseCOO
from ..tensor import Tensor


def check(ok, opt, what, value):
    """ValueError naming the optimizer, the option and the offending value (PyTorch raises ValueError too)."""
    if not ok:
        raise ValueError(f"{opt}: invalid {what} {value}")


def lr_value(opt, lr):
    """A float lr, or a 1-element Tensor's value (torch accepts both)."""
    if isinstance(lr, Tensor):
        if lr.numel() != 1:
            raise ValueError(f"{opt}: Tensor lr must be 1-element, got shape {tuple(lr.shape)}")
        return float(lr.array.reshape(()))
    return lr


def check_betas(opt, betas):
    if len(betas) != 2:
        raise ValueError(f"{opt}: betas must be a pair (beta1, beta2), got {betas}")
    for i, b in enumerate(betas):
        check(0.0 <= b < 1.0, opt, f"beta parameter at index {i}:", b)


def check_unsupported(opt, capturable=False, differentiable=False):
    """Accepted for PyTorch's signatures; only the default is implemented."""
    if capturable:
        # A CUDA graph would freeze lr and the bias corrections (host floats here); Adam/AdamW keep them in device
        # scalars for that (optim/adam.py).
        raise ValueError(f"{opt}: capturable=True is not supported; only Adam and AdamW can be captured in a CUDA "
                         f"graph")
    if differentiable:
        raise ValueError(f"{opt}: differentiable=True is not supported; updates are written in place, outside "
                         f"autograd")


def sparse_grad(p):
    """Whether p's gradient is a sparse COO tensor (an Embedding(sparse=True) weight's)."""
    return p.grad is not None and p.grad.array.__class__ is SparseCOO


def refuse_sparse(opt, p, hint=""):
    """torch's refusal of a sparse gradient by an optimizer that only has a dense update."""
    if sparse_grad(p):
        raise RuntimeError(f"{opt} does not support sparse gradients{hint} (parameter of shape {tuple(p.shape)})")


def grad_of(p, group):
    """The gradient the update starts from: in the parameter's dtype, negated for maximize, with the L2 decay
    (g + wd * p) folded in unless the group asks for decoupled decay."""
    g = p.grad.array
    if g.dtype != p.array.dtype:
        g = g.astype(p.array.dtype)
    if group["maximize"]:
        g = -g
    wd = group["weight_decay"]
    if wd != 0 and not group.get("decoupled_weight_decay", False):
        g = g + wd * p.array
    return g


ZEROS = "zeros"  # a state buffer shaped like the parameter, zero-filled


def with_grads(opt, group, **initial):
    """(p, g, xp, state) for each parameter of the group that has a gradient. A parameter's first step creates
    its state: "step" 0, then the entries of ``initial`` in their order (ZEROS, or a callable giving the value),
    the key order of torch's state_dict; the step count is then incremented before the update, as torch does."""
    for p in group["params"]:
        if p.grad is None:
            continue
        refuse_sparse(type(opt).__name__, p)
        g = grad_of(p, group)
        xp = xp_of(p.array)
        st = opt._state(p)
        if not st:
            st["step"] = 0
            for name, init in initial.items():
                st[name] = Tensor._make(xp.zeros_like(p.array) if init is ZEROS else init(), None)
        st["step"] += 1
        yield p, g, xp, st


def lerp_(a, b, w):
    """a <- lerp(a, b, w) in place, in ATen's two-branch form (exact at w = 0 and w = 1)."""
    if abs(w) < 0.5:
        a += w * (b - a)
    else:
        a[...] = b - (b - a) * (1 - w)


def scalar_dtype():
    """torch.optim's _get_scalar_dtype(): scalar state (NAdam's mu_product) is float64 only under a float64
    default dtype, and float32 otherwise, whatever the parameters' dtype."""
    return np.dtype(np.float64) if dtypes.get_default_dtype() == np.float64 else np.dtype(np.float32)
