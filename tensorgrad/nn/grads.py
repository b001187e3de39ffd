"""zero_grad_, shared by Module.zero_grad and Optimizer.zero_grad. It lives below nn.utils because nn.utils holds
the parametrization helpers, which build on Module: module.py imports this file, nn.utils imports module.py."""
from ..backend.sparse_coo import SparseCOO


def zero_grad_(parameters, set_to_none=True):
    """Drop (set_to_none) or zero the .grad of each parameter: Module.zero_grad and Optimizer.zero_grad."""
    for p in parameters:
        if p.grad is None:
            continue
        if set_to_none:
            p.grad = None
        elif p.grad.array.__class__ is SparseCOO:  # torch's zero_() of a sparse tensor: no entries left
            s = p.grad.array
            p.grad.array = SparseCOO(s.indices[:, :0], s.values[:0], s.shape, True)
        else:
            p.grad.array[...] = 0
