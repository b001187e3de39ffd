"""The differentiable sparse COO primitives, forward and backward side by side.

Gradient convention (torch's): the gradient handed to a sparse input is a sparse array at that input's coalesced
pattern -- the dense gradient read at the positions the input stores, each position once -- so a sparse leaf's
``.grad`` is sparse with the leaf's pattern, and sparse_coo_tensor hands every stored entry (duplicates included)
the gradient at its position. The products run on scipy.sparse (cupyx.scipy.sparse on CUDA) in CSR form.

Every op here is linear in each input given the others, so each backward_graph is the same rule written with these
Functions on Tensors: SparseCooTensor and SparseGather are each other's adjoints, as are SpMM and SDDMM (the
sampled product that gives a sparse operand's gradient).
"""
import numpy as np

from ..autograd.function import Function
from ..backend import xp_of
from ..backend.sparse_coo import SparseCOO, flat_keys

_SP = {}


def sparse_module(xp):
    """scipy.sparse for NumPy arrays, cupyx.scipy.sparse for CuPy ones (imported on first use)."""
    mod = _SP.get(xp)
    if mod is None:
        if xp is np:
            import scipy.sparse as mod
        else:
            import cupyx.scipy.sparse as mod
        _SP[xp] = mod
    return mod


def xp_any(a):
    return xp_of(a.values if a.__class__ is SparseCOO else a)


def csr(s):
    """The 2-D SparseCOO s as a CSR matrix (duplicates summed by the conversion)."""
    xp = xp_of(s.values)
    return sparse_module(xp).coo_matrix((s.values, (s.indices[0], s.indices[1])), shape=s.shape).tocsr()


def from_scipy(m, dtype):
    """A scipy/cupyx sparse matrix as a coalesced SparseCOO (row-major sorted)."""
    m = m.tocsr()
    m.sum_duplicates()
    m.sort_indices()
    c = m.tocoo()
    xp = xp_any(c.data)
    idx = xp.stack([xp.asarray(c.row, dtype=np.int64), xp.asarray(c.col, dtype=np.int64)]) if c.nnz else \
        xp.zeros((2, 0), dtype=np.int64)
    return SparseCOO(idx, c.data.astype(dtype, copy=False), m.shape, True)


def pattern(s):
    """s's stored positions, each once, sorted (the indices of its coalesced form)."""
    return s.indices if s.coalesced else s.coalesce().indices


def gather(g, indices):
    """The values of g (sparse or dense) at the index columns ``indices``."""
    if g.__class__ is SparseCOO:
        return g.values_at(indices)
    return g[tuple(indices)]


def mask(g, idx, shape):
    """g read at the unique sorted positions idx: the gradient of a sparse input of that pattern."""
    return SparseCOO(idx, gather(g, idx), shape, True)


def scatter(values, idx, shape):
    xp = xp_of(values)
    out = xp.zeros(shape, dtype=values.dtype)
    xp.add.at(out, tuple(idx), values)
    return out


# ------------------------------------------------------------------------------------- construction
class SparseCooTensor(Function):
    """values (nnz, *dense) -> the sparse array with those values at ``indices``."""
    def forward(self, values, indices, shape, coalesced):
        self.indices = indices
        return SparseCOO(indices, values, shape, coalesced)

    def backward(self, g):
        return gather(g, self.indices), None, None, None

    def backward_graph(self, g):
        return SparseGather.apply(g, self.indices), None, None, None


class SparseGather(Function):
    """A sparse or dense array read at index columns: the values (k, *dense)."""
    takes_sparse = True

    def forward(self, g, indices):
        self.indices, self.shape, self.sparse_in = indices, g.shape, g.__class__ is SparseCOO
        return gather(g, indices)

    def backward(self, gv):
        if self.sparse_in:
            return SparseCOO(self.indices, gv, self.shape), None
        return scatter(gv, self.indices, self.shape), None

    def backward_graph(self, gv):
        s = SparseCooTensor.apply(gv, self.indices, self.shape, False)
        return (s if self.sparse_in else ToDense.apply(s)), None


class Coalesce(Function):
    takes_sparse = True

    def forward(self, s):
        out = s.coalesce()
        self.idx, self.shape = out.indices, s.shape
        return out

    def backward(self, g):
        return mask(g, self.idx, self.shape)

    def backward_graph(self, g):
        return SparseCooTensor.apply(SparseGather.apply(g, self.idx), self.idx, self.shape, True)


class Values(Function):
    """The values of a coalesced sparse tensor (torch's differentiable .values())."""
    takes_sparse = True

    def forward(self, s):
        self.idx, self.shape = s.indices, s.shape
        return s.values

    def backward(self, g):
        return SparseCOO(self.idx, g, self.shape, True)

    def backward_graph(self, g):
        return SparseCooTensor.apply(g, self.idx, self.shape, True)


# ------------------------------------------------------------------------------------- conversions
class ToDense(Function):
    takes_sparse = True

    def forward(self, s):
        c = s.coalesce()
        self.idx, self.shape = c.indices, s.shape
        return c.to_dense()

    def backward(self, g):
        return mask(g, self.idx, self.shape)

    def backward_graph(self, g):
        return SparseCooTensor.apply(SparseGather.apply(g, self.idx), self.idx, self.shape, True)


class ToSparse(Function):
    """Dense -> coalesced COO of its nonzero entries over the first ``sparse_dim`` dims (a slice over the rest is
    stored when any of its elements is nonzero)."""
    def forward(self, a, sparse_dim):
        xp = xp_of(a)
        nz = a != 0
        if sparse_dim < a.ndim:
            nz = nz.reshape(a.shape[:sparse_dim] + (-1,)).any(-1)
        idx = xp.stack([xp.asarray(i, dtype=np.int64) for i in xp.nonzero(nz)]).reshape(sparse_dim, -1)
        return SparseCOO(idx, a[tuple(idx)], a.shape, True)

    def backward(self, g):
        return (g.to_dense() if g.__class__ is SparseCOO else g), None

    def backward_graph(self, g):
        return (ToDense.apply(g) if g.array.__class__ is SparseCOO else g), None


class SparseCast(Function):
    takes_sparse = True

    def forward(self, s, dtype):
        self.in_dtype = s.dtype
        return s.astype(dtype)

    def backward(self, g):
        return g.astype(self.in_dtype), None

    def backward_graph(self, g):
        return (SparseCast.apply(g, self.in_dtype) if g.array.__class__ is SparseCOO else g.to(self.in_dtype)), None


# ------------------------------------------------------------------------------------- shape
class SparsePermute(Function):
    """Permuted sparse dims (t(), transpose); the result is marked uncoalesced, as torch's."""
    takes_sparse = True

    def forward(self, s, perm):
        self.perm = perm
        return SparseCOO(s.indices[list(perm)], s.values, tuple(s.shape[p] for p in perm) + s.shape[s.sparse_dim:])

    def _inverse(self):
        return tuple(int(i) for i in np.argsort(self.perm))

    def backward(self, g):
        inv = self._inverse()
        if g.__class__ is SparseCOO:
            return SparseCOO(g.indices[list(inv)], g.values, tuple(g.shape[p] for p in inv) + g.shape[len(inv):],
                             False), None
        return g.transpose(inv + tuple(range(len(inv), g.ndim))), None

    def backward_graph(self, g):
        inv = self._inverse()
        if g.array.__class__ is SparseCOO:
            return SparsePermute.apply(g, inv), None
        return g.permute(*(inv + tuple(range(len(inv), g.ndim)))), None


# ------------------------------------------------------------------------------------- arithmetic
class SparseScale(Function):
    """s * c or s / c for a scalar c (neg is s * -1)."""
    takes_sparse = True

    def forward(self, s, c, divide):
        self.c, self.divide = c, divide
        return s.with_values(s.values / c if divide else s.values * c)

    def backward(self, g):
        c = self.c
        if g.__class__ is SparseCOO:
            return g.with_values(g.values / c if self.divide else g.values * c), None, None
        return (g / c if self.divide else g * c), None, None

    def backward_graph(self, g):
        if g.array.__class__ is SparseCOO:
            return SparseScale.apply(g, self.c, self.divide), None, None
        return (g / self.c if self.divide else g * self.c), None, None


class SparseAdd(Function):
    """sparse + sparse -> sparse (SparseCOO.__add__'s rule)."""
    takes_sparse = True

    def forward(self, a, b):
        na, nb = self.needs_input_grad
        self.shape = a.shape
        self.pa = pattern(a) if na else None
        self.pb = pattern(b) if nb else None
        return a + b

    def backward(self, g):
        return (mask(g, self.pa, self.shape) if self.pa is not None else None,
                mask(g, self.pb, self.shape) if self.pb is not None else None)

    def backward_graph(self, g):
        return tuple(None if p is None else SparseCooTensor.apply(SparseGather.apply(g, p), p, self.shape, True)
                     for p in (self.pa, self.pb))


class DenseSparseAdd(Function):
    """dense + sparse -> dense."""
    takes_sparse = True

    def forward(self, d, s):
        self.shape = s.shape
        self.ps = pattern(s) if self.needs_input_grad[1] else None
        out = d.copy()
        xp_of(d).add.at(out, tuple(s.indices), s.values)
        return out

    def backward(self, g):
        return g, (mask(g, self.ps, self.shape) if self.ps is not None else None)

    def backward_graph(self, g):
        p = self.ps
        return g, (None if p is None else SparseCooTensor.apply(SparseGather.apply(g, p), p, self.shape, True))


# ------------------------------------------------------------------------------------- products
def _mm(m, d, dtype):
    out = m @ d
    return out.astype(dtype, copy=False)


class SpMM(Function):
    """sparse (m, k) @ dense (k, n) -> dense (m, n)."""
    takes_sparse = True

    def forward(self, s, d):
        ns, nd = self.needs_input_grad
        self.m = csr(s)
        self.s, self.shape = s, s.shape
        self.idx = pattern(s) if ns else None
        self.save_for_backward(d if ns else None)
        return _mm(self.m, d, d.dtype)

    def backward(self, g):
        d, = self.saved_tensors
        gs = None if self.idx is None else SparseCOO(self.idx, sddmm(g, d, self.idx), self.shape, True)
        gd = _mm(self.m.T, g, g.dtype) if self.needs_input_grad[1] else None
        return gs, gd

    def backward_graph(self, g):
        d, = self.saved_tensors
        gs = gd = None
        if self.idx is not None:
            gs = SparseCooTensor.apply(SDDMM.apply(g, self.input(1, d), self.idx), self.idx, self.shape, True)
        if self.needs_input_grad[1]:
            gd = SpMM.apply(SparsePermute.apply(self.input(0, self.s), (1, 0)), g)
        return gs, gd


def sddmm(g, d, idx):
    """values_k = g[i_k] . d[j_k]: the dense product g @ d.T read at the positions idx (never formed whole)."""
    xp = xp_of(g)
    return xp.einsum("ij,ij->i", g[idx[0]], d[idx[1]])


class SDDMM(Function):
    """(g (m, n), d (k, n)) -> the values of g @ d.T at the positions idx (2, nnz)."""
    def forward(self, g, d, idx):
        self.idx, self.shape = idx, (g.shape[0], d.shape[0])
        self.save_for_backward(g, d)
        return sddmm(g, d, idx)

    def backward(self, gv):
        g, d = self.saved_tensors
        m = csr(SparseCOO(self.idx, gv, self.shape))
        ng, nd = self.needs_input_grad[:2]
        return (_mm(m, d, d.dtype) if ng else None), (_mm(m.T, g, g.dtype) if nd else None), None

    def backward_graph(self, gv):
        g, d = self.saved_tensors
        ng, nd = self.needs_input_grad[:2]
        s = SparseCooTensor.apply(gv, self.idx, self.shape, False)
        return (SpMM.apply(s, self.input(1, d)) if ng else None,
                SpMM.apply(SparsePermute.apply(s, (1, 0)), self.input(0, g)) if nd else None, None)


class SpSpMM(Function):
    """sparse (m, k) @ sparse (k, n) -> coalesced sparse (m, n); each gradient read at its operand's pattern."""
    takes_sparse = True

    def forward(self, a, b):
        na, nb = self.needs_input_grad
        self.ma, self.mb = csr(a), csr(b)
        self.sa, self.sb = a.shape, b.shape
        self.pa = pattern(a) if na else None
        self.pb = pattern(b) if nb else None
        return from_scipy(self.ma @ self.mb, np.result_type(a.dtype, b.dtype))

    def backward(self, g):
        gm = csr(g) if g.__class__ is SparseCOO else g
        ga = gb = None
        if self.pa is not None:
            ga = mask(from_scipy(sparse_module(xp_any(g)).csr_matrix(gm @ self.mb.T), g.dtype), self.pa, self.sa)
        if self.pb is not None:
            gb = mask(from_scipy(sparse_module(xp_any(g)).csr_matrix(self.ma.T @ gm), g.dtype), self.pb, self.sb)
        return ga, gb


# ------------------------------------------------------------------------------------- reductions
class SparseSum(Function):
    """Sum over sparse dims: over all of them -> dense (0-d for a non-hybrid tensor); over some -> coalesced
    sparse over the rest (torch.sparse.sum / torch.sum)."""
    takes_sparse = True

    def forward(self, s, dims):
        self.shape, self.dense = s.shape, s.shape[s.sparse_dim:]
        self.keep = [d for d in range(s.sparse_dim) if d not in dims]
        self.idx = pattern(s) if self.needs_input_grad[0] else None
        if not self.keep:
            return s.values.sum(0)
        out = SparseCOO(s.indices[self.keep], s.values, tuple(s.shape[d] for d in self.keep) + self.dense)
        return out.coalesce()

    def backward(self, g):
        idx = self.idx
        if not self.keep:
            xp = xp_of(g)
            v = xp.broadcast_to(g, (idx.shape[1],) + self.dense).copy()
            return SparseCOO(idx, v, self.shape, True), None
        return SparseCOO(idx, gather(g, idx[self.keep]), self.shape, True), None

    def backward_graph(self, g):
        idx = self.idx
        if not self.keep:
            v = g.expand(*((idx.shape[1],) + self.dense))
        else:
            v = SparseGather.apply(g, idx[self.keep])
        return SparseCooTensor.apply(v, idx, self.shape, True), None


class SparseSoftmax(Function):
    """torch.sparse.softmax: a softmax over the stored entries of each slice along ``dim`` (the entries not
    stored count as -inf: they stay unstored), on the coalesced input."""
    takes_sparse = True

    def forward(self, s, dim):
        xp = xp_of(s.values)
        c = s.coalesce()
        others = [d for d in range(s.sparse_dim) if d != dim]
        keys = flat_keys(c.indices[others], [s.shape[d] for d in others])
        _, group = xp.unique(keys, return_inverse=True)
        group = group.reshape(-1)
        n = int(group.max()) + 1 if group.shape[0] else 0
        top = xp.full((n,) + c.values.shape[1:], -xp.inf, dtype=c.values.dtype)
        xp.maximum.at(top, group, c.values)
        e = xp.exp(c.values - top[group])
        tot = xp.zeros_like(top)
        xp.add.at(tot, group, e)
        y = e / tot[group]
        self.group, self.n, self.idx, self.shape, self.y = group, n, c.indices, s.shape, y
        return SparseCOO(c.indices, y, s.shape, True)

    def backward(self, g):
        xp = xp_of(self.y)
        gv = gather(g, self.idx)
        dot = xp.zeros((self.n,) + self.y.shape[1:], dtype=self.y.dtype)
        xp.add.at(dot, self.group, gv * self.y)
        return SparseCOO(self.idx, self.y * (gv - dot[self.group]), self.shape, True), None
