"""Householder QR in LAPACK's compact form: torch.geqrf, linalg.householder_product (torch.orgqr) and torch.ormqr.

geqrf(A) = (a, tau): R on and above a's diagonal, the reflectors' vectors below it (v_i = e_i + a[i+1:, i]), with
Q = H_1 ... H_k, H_i = I - tau_i v_i v_i^T, k = min(m, n). LAPACK per matrix (SciPy); torch defines no derivative
for geqrf, so backward through it raises, as torch's.
householder_product(A, tau) = the first n columns of H_1 ... H_k (LAPACK orgqr); ormqr(A, tau, C) = op(Q) C or
C op(Q) (LAPACK ormqr). Their gradients are those of the same product written as k rank-one updates in
differentiable tensorgrad ops (``reflect``): the backward differentiates that recomputation, and the double
backward records it (ops/graph.vjp_by_recompute), so both are the exact derivatives of the polynomial map
(A's strictly lower triangle in its first k columns, tau, C) -> result, which is torch's.
"""
from collections import namedtuple

import numpy as np
import scipy.linalg.lapack

from .. import dtypes
from ..autograd.engine import grad as _grad
from ..autograd.function import Function
from ..autograd.grad_mode import enable_grad
from ..tensor import Tensor
from .movement import tril
from .graph import vjp_by_recompute
from .linalg_util import batch_shape, flat, unflat, pack_batch, unpack
from .linalg_lu import check_lapack_input

_Geqrf = namedtuple("geqrf", ["a", "tau"])


def reflect(A, tau, C, left, trans):
    """op(Q) C (left) or C op(Q), Q = H_1 ... H_k from A's first k = len(tau) columns, in differentiable ops."""
    k = tau.shape[-1]
    m = A.shape[-2]
    V = tril(A[..., :, :k], -1) + Tensor._make(np.eye(m, k, dtype=A.array.dtype), None)
    # op(Q) C applies H_k first (Q C = H_1 (... (H_k C))); C Q applies H_1 first; the transposes reverse the order
    order = range(k - 1, -1, -1) if left != trans else range(k)
    for i in order:
        v = V[..., :, i:i + 1]
        t = tau[..., i:i + 1].unsqueeze(-1)
        C = C - t * (v @ (v.mT @ C)) if left else C - t * ((C @ v) @ v.mT)
    return C


def _vjp(fn, arrays, needs, g):
    """The gradients of fn (Tensor ops) at arrays for cotangent g, as arrays, without recording (first backward)."""
    leaves = [Tensor._make(a, None) for a in arrays]
    for x, n in zip(leaves, needs):
        if n:
            x.requires_grad_(True)
    with enable_grad():
        out = fn(*leaves)
    want = [x for x, n in zip(leaves, needs) if n]
    gs = iter(_grad(out, want, Tensor._make(g, None), allow_unused=True) if want else ())
    res = []
    for x, n in zip(leaves, needs):
        gx = next(gs) if n else None
        res.append(None if not n else (np.zeros_like(x.array) if gx is None else gx.array))
    return res


# --------------------------------------------------------------------------------------------------- geqrf
class Geqrf(Function):
    """a and tau packed on a last axis (one output); torch defines no derivative."""

    def forward(self, a):
        m, n = a.shape[-2:]
        k = min(m, n)
        batch = batch_shape(a)
        af = flat(a)
        out = np.array(af, order="C", copy=True)
        tau = np.zeros((af.shape[0], k), a.dtype)
        if k:
            geqrf, = scipy.linalg.lapack.get_lapack_funcs(("geqrf",), (af,))
            for i in range(af.shape[0]):
                out[i], tau[i], _, _ = geqrf(af[i])
        return pack_batch(batch, unflat(out, batch), tau.reshape(batch + (k,)))

    def backward(self, g):
        raise NotImplementedError("geqrf: the derivative for 'geqrf' is not implemented (as in PyTorch); "
                                  "differentiate through linalg.qr instead")

    backward_graph = backward


def geqrf(input):
    check_lapack_input("torch.geqrf", "geqrf_cpu", input)
    m, n = input.shape[-2:]
    return _Geqrf(*unpack(Geqrf.apply(input), batch_shape(input), ((m, n), (min(m, n),))))


# ---------------------------------------------------------------------------------------- orgqr / ormqr
def _check_tau(op, input, tau, kernel):
    check_lapack_input(op, kernel, input)
    if not isinstance(tau, Tensor):
        raise TypeError(f"{op}: tau must be a Tensor, got {type(tau).__name__}")
    if tau.ndim != input.ndim - 1:
        raise RuntimeError(f"{op}: Expected tau to have one dimension less than input, but got tau.ndim equal to "
                           f"{tau.ndim} and input.ndim is equal to {input.ndim}")
    if tuple(tau.shape[:-1]) != batch_shape(input):
        raise RuntimeError(f"{op}: Expected batch dimensions of tau to be equal to input.shape[:-2], but got "
                           f"{list(tau.shape[:-1])} (input {tuple(input.shape)})")
    if tau.dtype != input.dtype:
        raise RuntimeError(f"{op}: tau dtype {dtypes.name(tau.dtype)} does not match input dtype "
                           f"{dtypes.name(input.dtype)}")
    if tau.shape[-1] > input.shape[-1]:
        raise RuntimeError(f"{op}: input.shape[-1] must be greater than or equal to tau.shape[-1] (input "
                           f"{tuple(input.shape)}, tau {tuple(tau.shape)})")


class HouseholderProduct(Function):
    """The first n columns of H_1 ... H_k (LAPACK orgqr per matrix)."""

    def forward(self, a, tau):
        m, n = a.shape[-2:]
        k = tau.shape[-1]
        self.save_for_backward(a, tau)
        out = np.zeros(a.shape, a.dtype)
        if not out.size:
            return out
        if not k:  # no reflector: the identity's first n columns
            out[...] = np.eye(m, n, dtype=a.dtype)
            return out
        af, tf, of = flat(a), tau.reshape((-1, k)), flat(out)
        orgqr, = scipy.linalg.lapack.get_lapack_funcs(("orgqr",), (af,))
        for i in range(af.shape[0]):
            of[i], _, _ = orgqr(af[i], tf[i], lwork=max(1, 64 * n))
        return out

    @staticmethod
    def _fn(a, tau):
        m, n = a.shape[-2:]
        eye = Tensor._make(np.broadcast_to(np.eye(m, n, dtype=a.array.dtype), a.shape).copy(), None)
        return reflect(a, tau, eye, True, False)

    def backward(self, g):
        a, tau = self.saved_tensors
        return tuple(_vjp(self._fn, [a, tau], self.needs_input_grad[:2], g))

    def backward_graph(self, g):
        a, tau = self.saved_tensors
        return vjp_by_recompute(self._fn, [self.input(0, a), self.input(1, tau)], g)


def householder_product(A, tau):
    op = "torch.linalg.householder_product"
    check_lapack_input(op, "orgqr_cpu", A, name="input")
    if A.shape[-2] < A.shape[-1]:
        raise RuntimeError(f"{op}: input.shape[-2] must be greater than or equal to input.shape[-1] (got "
                           f"{tuple(A.shape)})")
    _check_tau(op, A, tau, "orgqr_cpu")
    return HouseholderProduct.apply(A, tau)


def orgqr(input, tau):
    """torch.orgqr: linalg.householder_product."""
    return householder_product(input, tau)


class Ormqr(Function):
    """op(Q) C or C op(Q) (LAPACK ormqr per matrix), Q from a's first k = len(tau) columns."""

    def forward(self, a, tau, c, left, trans):
        self.args = (left, trans)
        self.save_for_backward(a, tau, c)
        k = tau.shape[-1]
        out = np.array(c, order="C", copy=True)  # (C order: flat(out) is a view)
        if not out.size or not k:
            return out
        af, tf, cf, of = flat(a[..., :, :k]), tau.reshape((-1, k)), flat(c), flat(out)
        ormqr, = scipy.linalg.lapack.get_lapack_funcs(("ormqr",), (af,))
        side, tr = ("L" if left else "R"), ("T" if trans else "N")
        lwork = max(1, 64 * max(c.shape[-2:]))
        for i in range(af.shape[0]):
            of[i], _, _ = ormqr(side, tr, np.asfortranarray(af[i]), tf[i], cf[i], lwork)
        return out

    def _fn(self, a, tau, c):
        return reflect(a, tau, c, *self.args)

    def backward(self, g):
        a, tau, c = self.saved_tensors
        return tuple(_vjp(self._fn, [a, tau, c], self.needs_input_grad[:3], g)) + (None, None)

    def backward_graph(self, g):
        a, tau, c = self.saved_tensors
        return vjp_by_recompute(self._fn, [self.input(0, a), self.input(1, tau), self.input(2, c)], g) + (None, None)


def ormqr(input, tau, other, left=True, transpose=False):
    op = "torch.ormqr"
    check_lapack_input(op, "ormqr_cpu", input)
    if not isinstance(other, Tensor) or other.ndim < 2:
        raise RuntimeError(f"{op}: other must have at least 2 dimensions (got "
                           f"{tuple(other.shape) if isinstance(other, Tensor) else type(other).__name__})")
    if other.ndim != input.ndim:
        raise RuntimeError(f"{op}: Expected other to have the same number of dimensions as input, but got other.ndim "
                           f"equal to {other.ndim} and input.ndim is equal to {input.ndim}")
    if tuple(other.shape[:-2]) != batch_shape(input):
        raise RuntimeError(f"{op}: Expected batch dimensions of other to be equal to input.shape[:-2], but got "
                           f"{list(other.shape[:-2])} (input {tuple(input.shape)})")
    if other.dtype != input.dtype:
        raise RuntimeError(f"{op}: Expected input and other to have the same dtype, but input has dtype "
                           f"{dtypes.name(input.dtype)} and other has dtype {dtypes.name(other.dtype)}")
    _check_tau(op, input, tau, "ormqr_cpu")
    dim = -2 if left else -1
    if other.shape[dim] != input.shape[-2]:
        raise RuntimeError(f"{op}: other.shape[{dim}] must be equal to input.shape[-2] (other {tuple(other.shape)}, "
                           f"input {tuple(input.shape)})")
    if tau.shape[-1] != min(other.shape[dim], input.shape[-1]):
        raise RuntimeError(f"{op}: tau.shape[-1] must be equal to min(other.shape[{dim}], input.shape[-1]) (tau "
                           f"{tuple(tau.shape)}, other {tuple(other.shape)}, input {tuple(input.shape)})")
    return Ormqr.apply(input, tau, other, bool(left), bool(transpose))


__all__ = ["geqrf", "householder_product", "orgqr", "ormqr"]
