"""torch.autograd.forward_ad -- dual_level, make_dual, unpack_dual -- over the reverse-mode tape, lazily.

make_dual(p, t) gives a stand-in for p that the tape records from (a leaf sharing p's memory, or a copy on p's graph
when p requires grad) and remembers its tangent t in the current level. Nothing is computed as ops run: unpack_dual(y)
finds y's tangent J t by the double-vjp trick (as func.jvp): g(u) = J^T u recorded for a fresh u, then the vjp of g
against the tangents. So each unpack_dual costs two backward passes over what lies between the duals and y, every
op on that path needs a double backward (one without raises, naming it), and a tensor computed with grad recording
off (no_grad) has no tangent here (torch's forward AD runs under no_grad). One level at a time, as torch.
unpack_dual's primal is y detached: reverse mode through it is not followed (its tangent stays differentiable).
"""
from typing import NamedTuple, Optional

from ..tensor import Tensor
from .engine import grad as _grad
from .grad_mode import enable_grad

_levels = []  # the open level: a list of (dual, tangent)


class UnpackedDualTensor(NamedTuple):
    primal: Tensor
    tangent: Optional[Tensor]


def enter_dual_level():
    if _levels:
        raise RuntimeError("Nested forward mode AD is not supported at the moment")
    _levels.append([])
    return 0


def exit_dual_level(*, level=None):
    if not _levels or level not in (None, 0):
        raise RuntimeError("Trying to exit a forward AD level that was not the last one that was created. This is "
                           "not supported.")
    _levels.pop()


class dual_level:
    """Context manager of one forward-AD level: tangents given by make_dual inside it are forgotten on exit."""

    def __enter__(self):
        return enter_dual_level()

    def __exit__(self, *exc):
        exit_dual_level()


def _float(t):
    return t.is_floating_point() or t.is_complex()


def make_dual(tensor, tangent, *, level=None):
    if not _levels:
        raise RuntimeError("Trying to create a dual Tensor for forward AD but no level exists, make sure to "
                           "enter_dual_level() first.")
    if not _float(tensor):
        raise ValueError(f"Expected primal to be floating point or complex, but got: {tensor.dtype}")
    if not _float(tangent):
        raise ValueError(f"Expected tangent to be floating point or complex, but got: {tangent.dtype}")
    if tuple(tangent.shape) != tuple(tensor.shape):
        raise RuntimeError(f"Trying to set a forward gradient that has a different size than that of the original "
                           f"Tensor, this is not supported. Tensor is of size {list(tensor.shape)} while the given "
                           f"forward gradient is of size {list(tangent.shape)}.")
    if any(d is tensor for d, _ in _levels[-1]):
        raise RuntimeError("Making a dual Tensor based on a Tensor that already has a forward gradient at the same "
                           "level 0 is not supported.")
    with enable_grad():
        dual = tensor.clone() if tensor.requires_grad else tensor.detach().requires_grad_(True)
    _levels[-1].append((dual, tangent))
    return dual


def double_backward(api, *args, **kwargs):
    """autograd.grad for forward-mode derivatives (here the derivative of a vjp with respect to its cotangent): an op
    without a differentiable backward is named with what api needed it for."""
    try:
        return _grad(*args, **kwargs)
    except (NotImplementedError, RuntimeError) as e:
        if "double backward" in str(e) or "once_differentiable" in str(e):
            raise RuntimeError(f"{api}: forward-mode derivatives are computed here as a double backward (the "
                               f"derivative of a vjp with respect to its cotangent), which needs every op's backward "
                               f"to be differentiable: {e}") from e
        raise


def unpack_dual(tensor, *, level=None):
    """(primal, tangent): the tangent is None where tensor does not depend on a dual of the open level."""
    if not isinstance(tensor, Tensor) or not _levels:
        return UnpackedDualTensor(tensor, None)
    duals = _levels[-1]
    primal = tensor.detach()
    for d, t in duals:
        if d is tensor:
            return UnpackedDualTensor(primal, t)
    if not (tensor.requires_grad and _float(tensor)) or not duals:
        return UnpackedDualTensor(primal, None)
    with enable_grad():
        u = tensor.detach().new_zeros(tensor.shape).requires_grad_(True)
        gs = double_backward("forward_ad.unpack_dual", [tensor], [d for d, _ in duals], [u], create_graph=True,
                             allow_unused=True)
        pairs = [(g, t) for g, (_, t) in zip(gs, duals) if g is not None]
        if not pairs:
            return UnpackedDualTensor(primal, None)
        live = [(g, t.to(g.dtype)) for g, t in pairs if g.requires_grad]
        jv = double_backward("forward_ad.unpack_dual", [g for g, _ in live], [u], [t for _, t in live],
                             create_graph=True, allow_unused=True)[0] if live else None
    return UnpackedDualTensor(primal, u.detach() if jv is None else jv)


__all__ = ["dual_level", "enter_dual_level", "exit_dual_level", "make_dual", "unpack_dual", "UnpackedDualTensor"]
