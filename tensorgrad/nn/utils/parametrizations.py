"""torch.nn.utils.parametrizations: weight_norm, spectral_norm and orthogonal as parametrizations (parametrize.py).

weight_norm keeps weight = g * v / ||v|| with g = parametrizations.weight.original0 and v = original1; the norm is
taken over every dim but ``dim`` (dim=None: over the whole tensor). spectral_norm divides the weight by its
largest singular value, estimated by power iteration on the weight reshaped to a matrix (rows along ``dim``); the
estimate's vectors are the buffers parametrizations.weight.0._u / ._v, advanced once per read in training mode and
frozen in eval mode, as torch's.
"""
import numpy as np

from ...autograd.grad_mode import no_grad
from ...factories import eye, zeros, randn
from ...linalg import vector_norm, matrix_exp, solve, qr, householder_product
from ...ops.linalg_householder import geqrf
from ...ops.matmul import mv, vdot
from ...ops.movement import cat
from ...ops.elementwise import abs as _abs
from ...tensor import Tensor
from .. import functional as F
from ..conv import ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from ..module import Module
from . import parametrize

__all__ = ["orthogonal", "spectral_norm", "weight_norm"]


def norm_except_dim(v, pow=2, dim=0):
    """torch.norm_except_dim: the ``pow``-norm over every dim of v but ``dim``, kept as size-1 dims; dim=-1 (torch's
    spelling of None) is the norm of the whole tensor, a 0-d tensor."""
    if dim == -1:
        return vector_norm(v, pow)
    if not -v.ndim <= dim < v.ndim:
        raise IndexError(f"norm_except_dim: dim {dim} is out of range for a tensor of {v.ndim} dims "
                         f"(shape {tuple(v.shape)})")
    dim %= v.ndim
    others = tuple(d for d in range(v.ndim) if d != dim)
    if not others:  # a 1-D v: each element is its own "row"
        return _abs(v) if pow != 0 else (v != 0).to(v.dtype)
    return vector_norm(v, pow, dim=others, keepdim=True)


def _weight_norm(v, g, dim=0):
    """torch._weight_norm: v * (g / ||v||) with the norm of norm_except_dim."""
    return v * (g / norm_except_dim(v, 2, dim))


class _WeightNorm(Module):
    def __init__(self, dim=0):
        super().__init__()
        self.dim = -1 if dim is None else dim

    def forward(self, weight_g, weight_v):
        return _weight_norm(weight_v, weight_g, self.dim)

    def right_inverse(self, weight):
        return norm_except_dim(weight, 2, self.dim), weight


def weight_norm(module, name="weight", dim=0):
    """Reparametrize module.<name> as g * v / ||v||: module.parametrizations.<name>.original0 is g (the norms,
    shaped to broadcast along ``dim``), original1 is v (the direction), both trained."""
    parametrize.register_parametrization(module, name, _WeightNorm(dim), unsafe=True)
    return module


class _SpectralNorm(Module):
    def __init__(self, weight, n_power_iterations=1, dim=0, eps=1e-12):
        super().__init__()
        ndim = weight.ndim
        if dim >= ndim or dim < -ndim:
            raise IndexError(f"Dimension out of range (expected to be in range of [-{ndim}, {ndim - 1}] but got {dim})")
        if n_power_iterations <= 0:
            raise ValueError("Expected n_power_iterations to be positive, but got "
                             f"n_power_iterations={n_power_iterations}")
        self.dim = dim if dim >= 0 else dim + ndim
        self.eps = eps
        if ndim > 1:
            self.n_power_iterations = n_power_iterations
            with no_grad():
                weight_mat = self._reshape_weight_to_matrix(weight)
                h, w = weight_mat.shape
                u = randn(h, dtype=weight.dtype, device=weight.device)
                v = randn(w, dtype=weight.dtype, device=weight.device)
                self.register_buffer("_u", F.normalize(u, dim=0, eps=self.eps))
                self.register_buffer("_v", F.normalize(v, dim=0, eps=self.eps))
            self._power_method(weight_mat, 15)

    def _reshape_weight_to_matrix(self, weight):
        if self.dim != 0:
            weight = weight.permute(self.dim, *(d for d in range(weight.ndim) if d != self.dim))
        return weight.flatten(1)

    def _power_method(self, weight_mat, n_power_iterations):
        # In place, as torch's normalize(..., out=self._u): the buffers are the estimate carried between steps.
        with no_grad():
            weight_mat = weight_mat.detach()
            for _ in range(n_power_iterations):
                self._u.copy_(F.normalize(mv(weight_mat, self._v), dim=0, eps=self.eps))
                self._v.copy_(F.normalize(mv(weight_mat.t(), self._u), dim=0, eps=self.eps))

    def forward(self, weight):
        if weight.ndim == 1:
            return F.normalize(weight, dim=0, eps=self.eps)
        weight_mat = self._reshape_weight_to_matrix(weight)
        if self.training:
            self._power_method(weight_mat, self.n_power_iterations)
        # clones: the next power iteration writes the buffers, which this step's graph must not see change
        u, v = self._u.clone(), self._v.clone()
        sigma = vdot(u, mv(weight_mat, v))
        return weight / sigma

    def right_inverse(self, value):
        return value


def spectral_norm(module, name="weight", n_power_iterations=1, eps=1e-12, dim=None):
    """Reparametrize module.<name> as W / sigma(W), sigma estimated by power iteration (15 iterations at
    registration from a random start, then n_power_iterations per read in training mode). dim defaults to 1 for
    transposed convolutions (their output channels), 0 otherwise."""
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if dim is None:
        dim = 1 if isinstance(module, (ConvTranspose1d, ConvTranspose2d, ConvTranspose3d)) else 0
    parametrize.register_parametrization(module, name, _SpectralNorm(weight, n_power_iterations, dim, eps))
    return module


# ------------------------------------------------------------------------------------------------- orthogonal
_MAPS = ("matrix_exp", "cayley", "householder")


def _make_orthogonal(a):
    """The Q of a's QR with R's diagonal made positive (torch's geqrf + householder_product + sign fix)."""
    q, r = qr(a)
    d = r.diagonal(dim1=-2, dim2=-1).sign()
    d = d + (d == 0).to(d.dtype)
    return q * d.unsqueeze(-2)


class _Orthogonal(Module):
    def __init__(self, weight, orthogonal_map, *, use_trivialization=True):
        super().__init__()
        self.shape = weight.shape
        self.orthogonal_map = orthogonal_map
        if use_trivialization:
            self.register_buffer("base", None)

    def forward(self, x):
        n, k = x.shape[-2], x.shape[-1]
        transposed = n < k
        if transposed:
            x = x.mT
            n, k = k, n
        if self.orthogonal_map in ("matrix_exp", "cayley"):
            x = x.tril()
            if n != k:
                x = cat([x, zeros(n, n - k, dtype=x.dtype, device=x.device).expand(*x.shape[:-2], -1, -1)], dim=-1)
            a = x - x.mT
            if self.orthogonal_map == "matrix_exp":
                q = matrix_exp(a)
            else:
                i = eye(n, dtype=a.dtype, device=a.device)
                q = solve(i - 0.5 * a, i + 0.5 * a)
            if n != k:
                q = q[..., :k]
        else:
            a = x.tril(diagonal=-1)
            tau = 2.0 / (1.0 + (a * a).sum(dim=-2))
            q = householder_product(a, tau)
            # torch multiplies by diagonal().int(): the signs, not differentiated
            q = q * x.diagonal(dim1=-2, dim2=-1).detach().trunc().unsqueeze(-2)
        if "base" in self._buffers:
            q = self.base @ q
        return q.mT if transposed else q

    def right_inverse(self, q):
        if q.shape != self.shape:
            raise ValueError(f"Expected a matrix or batch of matrices of shape {self.shape}. Got a tensor of shape "
                             f"{q.shape}.")
        with no_grad():
            q_init = q
            n, k = q.shape[-2], q.shape[-1]
            transposed = n < k
            if transposed:
                q = q.mT
                n, k = k, n
            if "base" not in self._buffers:
                # Without the trivialization only the Householder map has an inverse: geqrf's reflectors, with the
                # diagonal holding the signs that make R's diagonal positive (tau == 0: LAPACK skipped the reflection)
                if self.orthogonal_map in ("matrix_exp", "cayley"):
                    raise NotImplementedError("It is not possible to assign to the matrix exponential or the Cayley "
                                              "parametrizations when use_trivialization=False.")
                a, tau = geqrf(q)
                d = a.diagonal(dim1=-2, dim2=-1)
                d.copy_(d.sign() * (1.0 - 2.0 * (tau == 0.0).to(a.dtype)))
                return a.mT if transposed else a
            if n == k:
                eye_k = eye(k, dtype=q.dtype, device=q.device)
                tol = 10.0 * n * float(np.finfo(np.dtype(q.dtype)).eps)
                ok = bool((((q.mT @ q) - eye_k).abs() <= tol + 1e-5 * eye_k).all())  # torch.allclose(rtol=1e-5)
                q = q.clone() if ok else _make_orthogonal(q)
            else:
                q = _make_orthogonal(cat([q, randn(*q.shape[:-2], n, n - k, dtype=q.dtype, device=q.device)], dim=-1))
            self.base = q
            neg_id = zeros(*q_init.shape, dtype=q_init.dtype, device=q_init.device)
            neg_id.diagonal(dim1=-2, dim2=-1).fill_(-1.0)
            return neg_id


def orthogonal(module, name="weight", orthogonal_map=None, *, use_trivialization=True):
    """Keep module.<name> orthogonal (Q^T Q = I for a tall matrix, Q Q^T = I for a wide one) through the
    matrix exponential, the Cayley map or Householder reflections of an unconstrained original."""
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if weight.ndim < 2:
        raise ValueError(f"Expected a matrix or batch of matrices. Got a tensor of {weight.ndim} dimensions.")
    if orthogonal_map is None:
        orthogonal_map = "matrix_exp" if weight.shape[-2] == weight.shape[-1] else "householder"
    if orthogonal_map not in _MAPS:
        raise ValueError(f'orthogonal_map has to be one of "matrix_exp", "cayley", "householder". Got: {orthogonal_map}')
    parametrize.register_parametrization(module, name, _Orthogonal(weight, orthogonal_map,
                                                                   use_trivialization=use_trivialization),
                                         unsafe=True)
    return module

