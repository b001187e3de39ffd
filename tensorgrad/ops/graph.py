"""What the ops' backward_graph methods (create_graph=True: gradients that are differentiable again) share.

- sum_to: unbroadcast on Tensors (a recorded sum + reshape).
- LinearMap: a linear map g -> L g whose coefficients are constants (indices, masks, shapes), given as two array
  functions, L and its adjoint L^T. Its backward is L^T and its backward_graph is LinearMap(L^T, L): differentiable
  to any order. The backward of every linear op (reshape, index, scatter, im2col, embedding's weight gradient...)
  is one of these.
- vjp_by_recompute: a fused op's double backward (MLX's fast.cpp habit: kernel + a fallback built from plain ops):
  its forward again in differentiable tensorgrad ops on the saved inputs, differentiated with create_graph.
"""
import copy

from ..autograd.function import Function
from ..autograd.engine import grad as _grad
from ..autograd.grad_mode import enable_grad


def sum_to(t, shape):
    """Sum a broadcast Tensor back down to ``shape`` (recorded)."""
    shape = tuple(shape)
    if tuple(t.shape) == shape:
        return t
    nlead = t.ndim - len(shape)
    axes = tuple(range(nlead)) + tuple(i + nlead for i, s in enumerate(shape) if s == 1 and t.shape[i + nlead] != 1)
    if axes:
        t = t.sum(dim=axes, keepdim=True)
    return t.reshape(shape) if nlead or tuple(t.shape) != shape else t


def expand_back(g, in_shape, dims, keepdim):
    """A reduced Tensor gradient broadcast back over the reduced dims (recorded)."""
    if not keepdim:
        g = g.reshape(tuple(1 if i in dims else s for i, s in enumerate(in_shape)))
    return g.expand(tuple(in_shape))


def frozen_backward(node, i):
    """node's backward for input i as an array function of the gradient, kept past the engine's release() of the
    node (a shallow copy of the node: its own attributes, the same saved arrays)."""
    f = copy.copy(node)
    return lambda x: f.backward(x)[i]


class LinearMap(Function):
    """y = L g for a linear L with constant coefficients: ``apply_fn`` (L) and ``adjoint_fn`` (L^T) on arrays."""

    def forward(self, g, apply_fn, adjoint_fn):
        self.fns = (apply_fn, adjoint_fn)
        return apply_fn(g)

    def backward(self, v):
        return self.fns[1](v), None, None

    def backward_graph(self, v):
        return LinearMap.apply(v, self.fns[1], self.fns[0]), None, None


def linear_map(g, apply_fn, adjoint_fn):
    return LinearMap.apply(g, apply_fn, adjoint_fn)


class _Identity(Function):
    """A node of its own over an input of a recomputation, so that grad() captures each input's partial
    derivative separately even when one tensor is passed for several (attention(x, x, x))."""
    takes_complex = True  # (the identity: complex inputs hold as written)

    def forward(self, a):
        return a

    def backward(self, g):
        return g

    def backward_graph(self, g):
        return g


def vjp_by_recompute(fn, inputs, g):
    """The vector-Jacobian product of ``fn`` at ``inputs`` (graph Tensors, or None) with cotangent ``g``, recorded:
    fn is run again in differentiable ops and differentiated with create_graph=True. One entry per input (None where
    the input is None or does not require grad)."""
    with enable_grad():
        xs = [None if x is None else (_Identity.apply(x) if x.requires_grad else x) for x in inputs]
        out = fn(*xs)
        want = [x for x in xs if x is not None and x.requires_grad]
        gs = iter(_grad(out, want, g, create_graph=True, allow_unused=True) if want else ())
    res = []
    for x in xs:
        if x is None or not x.requires_grad:
            res.append(None)
        else:
            gx = next(gs)
            res.append(gx if gx is not None else x * 0)
    return tuple(res)
