"""torch._utils' two helpers that public fp16 training code imports (guided-diffusion's fp16_util keeps its float32
master weights as one flat tensor): every tensor laid end to end in one 1-D tensor, and the views of such a flat
tensor shaped as the originals. Both are differentiable (cat; narrow + view_as), as torch's."""
from .ops.movement import cat

__all__ = ["_flatten_dense_tensors", "_unflatten_dense_tensors"]


def _flatten_dense_tensors(tensors):
    """One 1-D tensor holding each tensor's elements in order (one tensor: a view of it, as torch's)."""
    tensors = list(tensors)
    if len(tensors) == 1:
        return tensors[0].contiguous().view(-1)
    return cat([t.contiguous().view(-1) for t in tensors])


def _unflatten_dense_tensors(flat, tensors):
    """Views of ``flat``, in order, each shaped as the matching tensor of ``tensors``."""
    out, offset = [], 0
    for t in tensors:
        n = t.numel()
        out.append(flat.narrow(0, offset, n).view_as(t))
        offset += n
    return tuple(out)
