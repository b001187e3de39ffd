"""Neural-network ops. The fused ones (softmax-CE, gelu here; layernorm.py, attention.py) call their kernel through
backend.kernels, which resolves to csrc/cpu, csrc/cuda or the xp reference of the same name."""
import math

import numpy as np

from ..autograd.function import Function
from ..backend import xp_of, kernels
from .util import normalize_dim, is_float, write_back, to_float, rows, fsum, rowdot
from ..amp.autocast import cast_float32
from .. import dtypes
from ..tensor import Tensor, check_device_as
from ..random import default_generator
from ..backend.capture import capturing_on
from .graph import linear_map, frozen_backward, vjp_by_recompute
from ..backend.reference import elem_dropout_scale
from ..backend.sparse_coo import SparseCOO
from ..sparse import functions as SF


def _dev(a):
    return "cpu" if isinstance(a, np.ndarray) else "cuda"


# --------------------------------------------------------------------------------------------- softmax
class Softmax(Function):
    def forward(self, a, dim):
        xp = xp_of(a)
        if a.shape[dim] == 0:  # nothing to normalize (torch returns the empty tensor); max() has no identity
            self.save_for_backward(a)
            self.dim = dim
            return a.copy()
        e = xp.exp(a - a.max(axis=dim, keepdims=True))
        out = e / e.sum(axis=dim, keepdims=True)
        self.save_for_backward(out)
        self.dim = dim
        return out

    def backward(self, g):
        y, = self.saved_tensors
        return y * (g - (g * y).sum(axis=self.dim, keepdims=True)), None

    def backward_graph(self, g):
        y = self.output(self.saved_tensors[0])
        return y * (g - (g * y).sum(dim=self.dim, keepdim=True)), None


class LogSoftmax(Function):
    def forward(self, a, dim):
        xp = xp_of(a)
        if a.shape[dim] == 0:  # nothing to normalize (torch returns the empty tensor); max() has no identity
            self.save_for_backward(a)
            self.dim = dim
            return a.copy()
        m = a.max(axis=dim, keepdims=True)
        shifted = a - m  # subtracted first: a - (m + lse) loses lse when |m| dwarfs it (1e20 - (1e20 + 0.69) = 0)
        out = shifted - xp.log(xp.exp(shifted).sum(axis=dim, keepdims=True))
        self.save_for_backward(out)
        self.dim = dim
        return out

    def backward(self, g):
        y, = self.saved_tensors
        return g - xp_of(g).exp(y) * g.sum(axis=self.dim, keepdims=True), None

    def backward_graph(self, g):
        y = self.output(self.saved_tensors[0])
        return g - y.exp() * g.sum(dim=self.dim, keepdim=True), None


def softmax(a, dim=-1, dtype=None):
    a, = cast_float32(a)
    if dtype is not None:
        a = a.to(dtype)
    if a.dtype == dtypes.bfloat16:  # computed in float32, rounded once (PyTorch's opmath)
        return softmax(a.float(), dim).to(dtypes.bfloat16)
    d = normalize_dim("softmax", dim, a.ndim, a.shape)
    if a.ndim == 0:  # a 0-d tensor is its own (one-element) dim 0
        return Softmax.apply(to_float(a).reshape(1), 0).reshape(())
    return Softmax.apply(to_float(a), d)


def log_softmax(a, dim=-1, dtype=None):
    a, = cast_float32(a)
    if dtype is not None:
        a = a.to(dtype)
    if a.dtype == dtypes.bfloat16:  # computed in float32, rounded once (PyTorch's opmath)
        return log_softmax(a.float(), dim).to(dtypes.bfloat16)
    d = normalize_dim("log_softmax", dim, a.ndim, a.shape)
    if a.ndim == 0:
        return LogSoftmax.apply(to_float(a).reshape(1), 0).reshape(())
    return LogSoftmax.apply(to_float(a), d)


# ------------------------------------------------------------------------------- softmax cross-entropy
class SoftmaxCrossEntropy(Function):
    """Fused log-softmax + NLL over rows of (N, V) logits: forward keeps only each row's logsumexp (as its max and
    log sum exp(x - max)), backward recomputes the probabilities (kernel: softmax_cross_entropy_forward/_backward)."""

    def forward(self, logits, target, ignore_index, label_smoothing, reduction):
        fwd = kernels.get("softmax_cross_entropy_forward", _dev(logits))
        loss, stats = fwd(logits, target, ignore_index, label_smoothing)
        self.save_for_backward(logits, target, stats)
        self.args = (ignore_index, label_smoothing, reduction)
        if reduction == "none":
            return loss.astype(logits.dtype, copy=False)
        total = loss.sum()
        if reduction == "sum":
            return total.astype(logits.dtype)
        # Mean over non-ignored rows; 0/0 -> nan when every row is ignored, as in PyTorch. On CUDA the count
        # stays on the device (no host synchronisation; capturable in a CUDA graph).
        count = (target != ignore_index).sum()
        self.count = count if xp_of(logits) is not np else int(count)
        with np.errstate(invalid="ignore", divide="ignore"):
            return (total / self.count.astype(total.dtype) if xp_of(logits) is not np
                    else total / logits.dtype.type(self.count)).astype(logits.dtype)

    def backward(self, g):
        logits, target, stats = self.saved_tensors
        ignore_index, label_smoothing, reduction = self.args
        xp = xp_of(logits)
        n = logits.shape[0]
        acc = stats.dtype
        if reduction == "none":
            dloss = g.astype(acc)
        elif reduction == "sum":
            dloss = xp.full((n,), g, dtype=acc)
        elif xp is not np:
            dloss = xp.empty((n,), dtype=acc)
            dloss[...] = xp.where(self.count > 0, g.astype(acc) / xp.maximum(self.count, 1).astype(acc), acc.type(np.nan))
        else:
            dloss = xp.full((n,), g / max(self.count, 1) if self.count else xp.nan, dtype=acc)
        bwd = kernels.get("softmax_cross_entropy_backward", _dev(logits))
        return bwd(logits, target, stats, dloss, ignore_index, label_smoothing), None, None, None, None

    def backward_graph(self, g):
        logits, target, stats = self.saved_tensors
        ignore_index, smoothing, reduction = self.args
        if target.dtype.kind == "f":
            raise NotImplementedError(f"{self.name()}: no double backward with class-probability targets")
        n = logits.shape[0]
        keep = Tensor._make((target != ignore_index).astype(logits.dtype), None)
        # each row's loss cotangent, recorded (so differentiable in g): g itself, or g spread over the rows / count
        if reduction == "none":
            dloss = g * keep
        else:
            dloss = g.reshape(1).expand(n) * keep
            if reduction == "mean":  # (every row ignored: keep is all 0, and so is dloss, not 0/0, as torch)
                dloss = dloss / keep.sum().clamp(min=1.0)
        return (SoftmaxCrossEntropyBackward.apply(self.input(0, logits), dloss, target, stats, ignore_index,
                                                  smoothing),) + (None,) * 4


class SoftmaxCrossEntropyBackward(Function):
    """dlogits = (softmax(x) - q) * dloss per row (q: the one-hot target, smoothed; ignored rows 0) as a node of its
    own: what SoftmaxCrossEntropy's backward_graph records, so a gradient taken with create_graph runs the fused
    backward kernel, and its derivative is worked out on arrays below: for a cotangent U,
    d/dx = dloss * p (U - <U, p>) and d/ddloss = <U, p - q>, row by row."""

    def forward(self, logits, dloss, target, stats, ignore_index, smoothing):
        self.args = (ignore_index, smoothing)
        self.save_for_backward(logits, dloss, target, stats)
        return kernels.get("softmax_cross_entropy_backward", _dev(logits))(logits, target, stats, dloss,
                                                                           ignore_index, smoothing)

    def backward(self, u):
        logits, dloss, target, stats = self.saved_tensors
        ignore_index, smoothing = self.args
        n_x, n_d = self.needs_input_grad[:2]
        xp = xp_of(logits)
        acc = stats.dtype
        n, v = logits.shape
        u = u.astype(acc, copy=False)
        p = xp.exp((logits.astype(acc, copy=False) - stats[:, :1]) - stats[:, 1:])
        valid = (target != ignore_index).astype(acc)
        up = rowdot(u, p)
        dx = dd = None
        if n_x:
            dx = u - up
            dx *= p
            dx *= (dloss.astype(acc, copy=False) * valid)[:, None]
            dx = dx.astype(logits.dtype, copy=False)
        if n_d:
            # <U, p - q> with q = (1 - s) onehot(t) + s / V
            t = xp.where(valid > 0, target, 0)
            uq = (1.0 - smoothing) * u[xp.arange(n), t]
            if smoothing:
                uq = uq + smoothing / v * u.sum(axis=1)
            dd = ((up[:, 0] - uq) * valid).astype(dloss.dtype, copy=False)
        return dx, dd, None, None, None, None

    def backward_graph(self, u):
        logits, dloss, target, _ = self.saved_tensors
        ignore_index, smoothing = self.args
        xp = xp_of(logits)
        n, v = logits.shape
        valid = target != ignore_index
        q = xp.zeros((n, v), logits.dtype)
        q[xp.arange(n), xp.where(valid, target, 0)] = 1.0 - smoothing
        q += smoothing / v
        q *= valid[:, None]
        q_t, keep = Tensor._make(q, None), Tensor._make(valid.astype(logits.dtype)[:, None], None)

        def dlogits(x, d):  # the kernel's math in recorded ops (third derivatives and up)
            return (Softmax.apply(x, 1) * keep - q_t) * d.reshape(n, 1)
        return vjp_by_recompute(dlogits, [self.input(0, logits), self.input(1, dloss)], u) + (None,) * 4


# ----------------------------------------------------------------------------------------------- gelu
class Gelu(Function):
    def forward(self, x, approximate):
        self.save_for_backward(x)
        self.approximate = approximate
        return kernels.get("gelu_forward", _dev(x))(x, approximate)

    def backward(self, g):
        x, = self.saved_tensors
        return kernels.get("gelu_backward", _dev(x))(g, x, self.approximate), None

    def backward_graph(self, g):
        # torch's pattern (gelu_backward -> its own double backward): the gradient is one node running the fused
        # kernel, not GELU's formula recomputed in a dozen differentiable ops (scipy's erf alone took 4 ms of each
        # (768, 512) call in the baby GPT's Hessian-vector product).
        return GeluBackward.apply(g, self.input(0, self.saved_tensors[0]), self.approximate), None


_K_TANH, _C_TANH, _INV_SQRT_2PI = math.sqrt(2.0 / math.pi), 0.044715, 1.0 / math.sqrt(2.0 * math.pi)


def _gelu_first_graph(x, approximate):
    """GELU'(x) in differentiable ops (for third and higher derivatives)."""
    if approximate == "tanh":
        t = (_K_TANH * (x + _C_TANH * x * x * x)).tanh()
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _K_TANH * (1 + 3 * _C_TANH * x * x)
    return 0.5 * (1 + (x * (1 / math.sqrt(2.0))).erf()) + x * (-0.5 * x * x).exp() * _INV_SQRT_2PI


class GeluBackward(Function):
    """g * GELU'(x), GELU's gradient as a node of its own: its backward, d/dg = gg GELU'(x) and d/dx = gg g GELU''(x),
    is the fused gelu_double_backward kernel (one pass for both)."""

    def forward(self, g, x, approximate):
        self.approximate = approximate
        self.save_for_backward(g, x)
        return kernels.get("gelu_backward", _dev(x))(g, x, approximate)

    def backward(self, gg):
        g, x = self.saved_tensors
        ng, nx = self.needs_input_grad[:2]
        return kernels.get("gelu_double_backward", _dev(x))(gg, g, x, self.approximate, ng, nx) + (None,)

    def backward_graph(self, gg):
        g, x = self.saved_tensors
        approximate = self.approximate
        return vjp_by_recompute(lambda g, x: g * _gelu_first_graph(x, approximate),
                                [self.input(0, g), self.input(1, x)], gg) + (None,)


def gelu(x, approximate="none"):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return Gelu.apply(to_float(x).contiguous(), approximate)


# -------------------------------------------------------------------------------------- dropout etc.
class Dropout(Function):
    def forward(self, x, mask):
        self.save_for_backward(mask)
        return x * mask

    def backward(self, g):
        return g * self.saved_tensors[0], None

    def backward_graph(self, g):
        return g * Tensor._make(self.saved_tensors[0], None), None


def dropout(input, p=0.5, training=True, inplace=False, generator=None):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return input
    gen = generator or default_generator
    keep = gen.random(input.shape, device=input.device) >= p
    scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)
    mask = (keep * input.dtype.type(scale)).astype(input.dtype)
    return write_back("dropout", input, Dropout.apply(input, mask), inplace)


class BiasDropoutAdd(Function):
    """x + dropout_p(h + bias) in one kernel pass (the GPT's residual branches: h is the projection without its bias);
    the mask is Philox at (seed, offset) (csrc/common/philox.h, tg_elem_dropout_keep), regenerated in backward."""

    def forward(self, x, h, bias, p, seed, offset):
        self.args = (p, seed, offset)
        self.h_meta = (h.shape, h.dtype)
        return kernels.get("bias_dropout_add_forward", _dev(h))(x, h, bias, p, seed, offset)

    def backward(self, g):
        nx, nh, nb = self.needs_input_grad[:3]
        dh = kernels.get("bias_dropout_add_backward", _dev(g))(xp_of(g).ascontiguousarray(g), *self.args) \
            if nh or nb else None
        return (g if nx else None, dh if nh else None, fsum(rows(dh), 0) if nb else None, None, None, None)

    def backward_graph(self, g):
        nx, nh, nb = self.needs_input_grad[:3]
        shape, dtype = self.h_meta
        z = elem_dropout_scale(xp_of(g.array).zeros(shape, dtype), *self.args)  # the kernels' mask, as a constant
        dh = g * Tensor._make(z, None)
        return (g if nx else None, dh if nh else None, dh.reshape(-1, shape[-1]).sum(0) if nb else None,
                None, None, None)


def bias_dropout_add(x, h, bias=None, p=0.5, training=True, generator=None):
    """x + dropout(h + bias, p, training): the residual add after a projection, fused (one pass, no mask stored) for
    float tensors of one dtype, shape and device with bias (h.shape[-1],) or None; any other case is computed as
    those ops (torch's promotion and broadcasting)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"bias_dropout_add: probability must be in [0, 1], got {p}")
    fused = (training and p > 0.0 and isinstance(x, Tensor) and x.dtype == h.dtype and tuple(x.shape) == tuple(h.shape)
             and h.ndim >= 1 and is_float(h.dtype)
             and (bias is None or (bias.dtype == h.dtype and tuple(bias.shape) == (h.shape[-1],)))
             and generator is None)
    if not fused:  # (the fused op adds the bias itself: h + bias exists only here)
        y = h if bias is None else h + bias
        return x + dropout(y, p, training, generator=generator)  # (y itself in eval or at p = 0)
    seed, offset = default_generator.philox_seed_offset()
    return BiasDropoutAdd.apply(x.contiguous(), h.contiguous(), bias, p, seed, offset)


class Embedding(Function):
    """weight[idx]; rows at padding_idx get no gradient (torch's padding_idx). sparse: the weight's gradient is a
    sparse COO tensor, torch's layout: uncoalesced, one entry per looked-up index in lookup order (repeats kept),
    those at padding_idx left out, the values the output gradient's rows."""

    def forward(self, weight, idx, padding_idx=None, sparse=False):
        self.n = weight.shape[0]
        self.padding_idx = padding_idx
        self.sparse = sparse
        self.save_for_backward(idx)
        return weight[idx]

    def _sparse_pattern(self, idx):
        """The looked-up rows that get a gradient (as a (1, nnz) index array) and where they sit in idx's flat order."""
        flat = idx.reshape(-1)
        keep = None if self.padding_idx is None else flat != self.padding_idx
        rows_ = flat if keep is None else flat[keep]
        return rows_.astype(np.int64).reshape(1, -1), keep

    def backward(self, g):
        idx, = self.saved_tensors
        if self.sparse:
            ind, keep = self._sparse_pattern(idx)
            vals = rows(g)
            vals = vals.copy() if keep is None else vals[keep]
            # (torch's is_coalesced() is true for nnz <= 1: nothing to sum or sort)
            return SparseCOO(ind, vals, (self.n,) + tuple(g.shape[-1:]), ind.shape[1] <= 1), None, None, None
        embedding_backward = kernels.get("embedding_backward", _dev(g))
        gw = embedding_backward(idx.reshape(-1), rows(g), self.n)
        if self.padding_idx is not None:
            gw[self.padding_idx] = 0
        return gw, None, None, None

    def backward_graph(self, g):
        idx, = self.saved_tensors
        pad = getattr(self, "padding_idx", None)
        if getattr(self, "sparse", False):
            ind, keep = self._sparse_pattern(idx)
            vals = g.reshape(-1, g.shape[-1])
            if keep is not None:
                vals = vals[Tensor._make(keep, None)]
            out = SF.SparseCooTensor.apply(vals, ind, (self.n, g.shape[-1]), ind.shape[1] <= 1)
            return (out,) + (None,) * (len(self.next) - 1)

        def rows_of(y):
            out = y[idx]
            if pad is not None:
                out = out * (idx != pad)[..., None].astype(out.dtype)
            return out
        return (linear_map(g, frozen_backward(self, 0), rows_of),) + (None,) * (len(self.next) - 1)


def _padding_index(op, padding_idx, n):
    """torch's padding_idx: None, or a row in [-n, n) (negative counts from the end); returns it non-negative."""
    if padding_idx is None:
        return None
    if not -n <= padding_idx < n:
        raise ValueError(f"{op}: padding_idx must be within num_embeddings ({n}), got {padding_idx}")
    return int(padding_idx) % n


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
              sparse=False):
    if max_norm is not None or scale_grad_by_freq:
        raise NotImplementedError(f"embedding: max_norm and scale_grad_by_freq are not supported (got "
                                  f"max_norm={max_norm}, scale_grad_by_freq={scale_grad_by_freq})")
    if not np.issubdtype(input.dtype, np.integer):
        raise TypeError(f"embedding: indices must be an integer tensor, got {input.dtype} (shape {tuple(input.shape)})")
    if weight.ndim != 2:
        raise RuntimeError(f"embedding: weight must be 2-D (num_embeddings, dim), got shape {tuple(weight.shape)}")
    check_device_as("embedding", weight, input)  # the indices go to the kernel as an array
    n = weight.shape[0]
    # The range check reads the indices on the host; inside a CUDA graph capture it cannot (the eager
    # warm-up steps before a capture check their batches).
    if input.array.size and not capturing_on(input.array) and (int(input.array.min()) < 0 or int(input.array.max()) >= n):
        raise IndexError(f"embedding: index out of range: indices span [{int(input.array.min())}, {int(input.array.max())}] "
                         f"but weight has {n} rows (shape {tuple(weight.shape)})")
    return Embedding.apply(weight, input.array, _padding_index("embedding", padding_idx, n), bool(sparse))


def one_hot(t, num_classes=-1):
    if not np.issubdtype(t.dtype, np.integer):
        raise TypeError(f"one_hot: expects an integer tensor, got {t.dtype}")
    n = int(t.array.max()) + 1 if num_classes < 0 else num_classes
    if t.array.size and (int(t.array.min()) < 0 or int(t.array.max()) >= n):
        raise RuntimeError(f"one_hot: class values must be in [0, {n - 1}] (num_classes={num_classes})")
    xp = t._xp
    return Tensor._make((t.array[..., None] == xp.arange(n)).astype(np.int64), None)
