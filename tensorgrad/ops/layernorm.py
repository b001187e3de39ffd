"""Layer norm: the fused op (csrc/cpu/layernorm.cpp, csrc/cuda/layernorm.cu, backend/reference.py's
layernorm_forward / layernorm_backward) and its gradient as an op of its own, so that it is differentiable again."""
import math

import numpy as np

from ..autograd.function import Function
from ..backend import xp_of, kernels
from .util import is_float
from ..amp.autocast import cast_float32
from .. import dtypes
from ..tensor import Tensor
from .graph import vjp_by_recompute


def _dev(a):
    return "cpu" if isinstance(a, np.ndarray) else "cuda"


class LayerNorm(Function):
    """Over the trailing dims of x flattened to (N, C); forward saves mean and rstd per row."""

    def forward(self, x, weight, bias, eps, c):
        if x.size == 0:  # nothing to normalize (torch returns the empty tensor); the kernels divide by c
            self.shapes = (x.shape, None if weight is None else weight.shape, None if bias is None else bias.shape)
            self.empty = True
            return x.copy()
        self.empty = False
        self.eps = eps
        x2 = x.reshape(-1, c)
        w2 = None if weight is None else weight.reshape(-1)
        b2 = None if bias is None else bias.reshape(-1)
        y, mean, rstd = kernels.get("layernorm_forward", _dev(x))(x2, w2, b2, eps)
        self.save_for_backward(x2, w2, mean, rstd)
        self.shapes = (x.shape, None if weight is None else weight.shape, None if bias is None else bias.shape)
        return y.reshape(x.shape)

    def backward(self, g):
        nx, nw, nb = self.needs_input_grad[:3]
        if self.empty:
            xp = xp_of(g)
            return tuple(xp.zeros(s, g.dtype) if n else None for s, n in zip(self.shapes, (nx, nw, nb))) + (None, None)
        x2, w2, mean, rstd = self.saved_tensors
        dx, dw, db = kernels.get("layernorm_backward", _dev(x2))(g.reshape(x2.shape), x2, w2, mean, rstd)
        xs, ws, bs = self.shapes
        return (dx.reshape(xs) if nx else None,
                dw.reshape(ws) if nw else None,
                db.reshape(bs) if nb else None, None, None)

    def backward_graph(self, g):
        xs, ws, bs = self.shapes
        if getattr(self, "empty", False):
            return tuple(g.sum() * 0 + Tensor._make(xp_of(g.array).zeros(s, g.dtype), None) if n else None
                         for s, n in zip(self.shapes, self.needs_input_grad[:3])) + (None, None)
        nx, nw, nb = self.needs_input_grad[:3]
        x2, w2, mean, rstd = self.saved_tensors
        c, eps = x2.shape[1], self.eps
        g2 = g.reshape(-1, c)
        x = self.input(0, x2.reshape(xs)).reshape(-1, c)
        w = None if ws is None else self.input(1, w2.reshape(ws)).reshape(-1)
        dx = LayerNormBackward.apply(g2, x, w, mean, rstd, eps).reshape(xs) if nx else None
        # dweight = sum over rows of g * xhat, xhat being this op without weight and bias (its own double backward)
        dw = (g2 * LayerNorm.apply(x, None, None, eps, c)).sum(dim=0).reshape(ws) if nw else None
        db = g2.sum(dim=0).reshape(bs) if nb else None
        return dx, dw, db, None, None


class LayerNormBackward(Function):
    """dx of layer norm, r (g' - mean(g') - xhat mean(g' xhat)) with g' = g * weight, as a node of its own: what
    LayerNorm's backward_graph records (torch's layer_norm_backward -> layer_norm_double_backward), so a gradient
    taken with create_graph runs the fused kernel, and its derivative, in backward, is worked out on arrays below
    instead of recomputing layer norm in a dozen recorded ops. mean and rstd are x's, saved by the forward."""

    def forward(self, g, x, w, mean, rstd, eps):
        self.eps = eps
        self.save_for_backward(g, x, w, mean, rstd)
        return kernels.get("layernorm_backward", _dev(x))(g, x, w, mean, rstd)[0]

    def backward(self, a):
        # Its derivative on arrays in closed form: the fused kernel layernorm_double_backward (csrc/cpu/layernorm.cpp;
        # the math in reference.layernorm_double_backward).
        g, x, w, mean, rstd = self.saved_tensors
        n_g, n_x, n_w = self.needs_input_grad[:3]
        d_g, d_x, d_w = kernels.get("layernorm_double_backward", _dev(x))(a, g, x, w, mean, rstd, n_g, n_x, n_w)
        return d_g, d_x, d_w, None, None, None

    def backward_graph(self, a):
        g, x, w, mean, rstd = self.saved_tensors
        eps = self.eps

        def dx(g, x, w):  # the kernel's math in recorded ops (third derivatives and up)
            xc = x - x.mean(dim=-1, keepdim=True)
            r = ((xc * xc).mean(dim=-1, keepdim=True) + eps).rsqrt()
            h = xc * r
            gw = g if w is None else g * w
            return r * (gw - gw.mean(dim=-1, keepdim=True) - h * (gw * h).mean(dim=-1, keepdim=True))
        ins = [self.input(0, g), self.input(1, x), None if w is None else self.input(2, w)]
        return vjp_by_recompute(dx, ins, a) + (None, None, None)


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    x, weight, bias = cast_float32(x, weight, bias)
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    normalized_shape = tuple(normalized_shape)
    k = len(normalized_shape)
    if tuple(x.shape[x.ndim - k:]) != normalized_shape or k == 0 or k > x.ndim:
        raise RuntimeError(f"layer_norm: normalized_shape {list(normalized_shape)} does not match the trailing dims of "
                           f"input shape {tuple(x.shape)}")
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and tuple(p.shape) != normalized_shape:
            raise RuntimeError(f"layer_norm: {name} of shape {tuple(p.shape)} does not match normalized_shape {list(normalized_shape)}")
        if p is not None and (p.dtype != x.dtype and not dtypes.is_half(x.dtype)):
            raise TypeError(f"layer_norm: {name} dtype {p.dtype} differs from input dtype {x.dtype}")
    if not is_float(x.dtype):
        raise TypeError(f"layer_norm: input must be floating point, got {x.dtype} (shape {tuple(x.shape)})")
    return LayerNorm.apply(x.contiguous(), weight, bias, float(eps), int(math.prod(normalized_shape)))
