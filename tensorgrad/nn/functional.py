"""nn.functional: the functional neural-network API (PyTorch's names, signatures, defaults and reductions).

The fused ops (softmax, cross_entropy over class indices, layer_norm, attention, gelu, dropout, ...) live in
ops/ with a backward of their own. Everything defined here is a composite of differentiable ops, so its gradient
is autograd through the formula. Where PyTorch's gradient at a kink (x == 0 for leaky_relu and elu, the end
points of hardtanh/hardsigmoid/hardswish) is a convention, the formula is written with `where` so that the
branch taken there gives the same number."""
import numpy as np

from ..amp.autocast import cast_float32, cast_float32_all
from ..backend.capture import capturing_on
from ..ops import nn as NN
from ..ops.elementwise import relu as _relu, sigmoid, tanh, where, clamp, result_type
from ..ops.matmul import linear
from ..ops.resample import pad, interpolate, pixel_shuffle, pixel_unshuffle, prelu
from ..ops.pool import (max_pool1d, max_pool2d, avg_pool1d, avg_pool2d, adaptive_avg_pool1d, adaptive_avg_pool2d,
                        adaptive_max_pool1d, adaptive_max_pool2d)
from ..ops.normalization import (batch_norm, instance_norm, group_norm, local_response_norm, dropout1d,
                                 dropout2d)
from ..ops.conv import conv1d, conv2d, conv_transpose1d, conv_transpose2d, unfold, fold
from ..ops.volumetric import (conv3d, conv_transpose3d, max_pool3d, avg_pool3d, adaptive_avg_pool3d,  # noqa: F401
                              adaptive_max_pool3d, max_pool1d_with_indices, max_pool2d_with_indices,
                              max_pool3d_with_indices, adaptive_max_pool1d_with_indices,
                              adaptive_max_pool2d_with_indices, adaptive_max_pool3d_with_indices, lp_pool1d, lp_pool2d,
                              lp_pool3d, max_unpool1d, max_unpool2d, max_unpool3d, fractional_max_pool2d,
                              fractional_max_pool3d, fractional_max_pool2d_with_indices,
                              fractional_max_pool3d_with_indices, dropout3d)
from ..ops.sampling import affine_grid, grid_sample
from ..ops.nn import softmax, log_softmax, gelu, dropout, embedding, one_hot, bias_dropout_add
from ..ops.layernorm import layer_norm
from ..ops.attention import scaled_dot_product_attention, packed_attention
from ..ops.ctc import ctc_loss
from ..ops.util import is_float, normalize_dim, write_back
from ..ops.reduce import vector_norm as _vector_norm_op
from ..autograd.function import Function
from ..backend import xp_of
from ..tensor import Tensor, check_device_as


# ------------------------------------------------------------------------------------------------- helpers
def _need_float(op, x):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    if not is_float(x.dtype):
        raise TypeError(f"{op}: expected a floating point tensor, got {x.dtype} (shape {tuple(x.shape)})")


def _softplus(x):
    """log(1 + e^x) without overflow: max(x, 0) + log1p(e^-|x|). The max and |x| are `where`s taking the x >= 0
    branch at 0, so the derivative there is 1/2 (plain relu/abs would give 0 for their part)."""
    nonneg = x >= 0
    return where(nonneg, x, 0.0) + (-where(nonneg, x, -x)).exp().log1p()


def _reduction(op, size_average, reduce, reduction, extra=()):
    """The legacy size_average/reduce flags mapped as PyTorch does (both default to True); then validated."""
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "mean" if size_average and reduce else "sum" if reduce else "none"
    allowed = ("mean", "sum", "none") + tuple(extra)
    if reduction not in allowed:
        names = ", ".join(repr(a) for a in allowed[:-1]) + f" or {allowed[-1]!r}"
        raise ValueError(f"{op}: reduction must be {names}, got {reduction!r}")
    return reduction


def _reduce(x, reduction):
    return x if reduction == "none" else x.sum() if reduction == "sum" else x.mean()


def _same_shape(op, input, target):
    for name, t in (("input", input), ("target", target)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: {name} must be a Tensor, got {type(t).__name__}")
    if tuple(input.shape) != tuple(target.shape):
        raise RuntimeError(f"{op}: input shape {tuple(input.shape)} and target shape {tuple(target.shape)} differ")


def _broadcast_shape(op, *ts):
    try:
        return tuple(np.broadcast_shapes(*(tuple(t.shape) for t in ts)))
    except ValueError:
        shapes = " and ".join(str(tuple(t.shape)) for t in ts)
        raise RuntimeError(f"{op}: tensors of shapes {shapes} cannot be broadcast together") from None


def _weighted(op, loss, weight, reduction, input):
    """l1_loss / mse_loss with an elementwise weight of the input's shape: 'mean' is sum(w * l) / sum(w)."""
    if tuple(weight.shape) != tuple(input.shape):
        raise ValueError(f"{op}: weight of shape {tuple(weight.shape)} must have the input's shape "
                         f"{tuple(input.shape)}")
    loss = loss * weight
    if reduction == "mean":
        return loss.sum() / weight.sum()
    return _reduce(loss, reduction)


def _vector_norm(op, x, p, dims, keepdim):
    """The p-norm over dims (p > 0, inf, -inf, or 0: the count of non-zeros, which has no gradient), with PyTorch's
    gradient of 0 (not 0 * inf = nan) where the norm is 0."""
    if p == float("inf"):
        return x.abs().amax(dims, keepdim)
    if p == -float("inf"):
        return x.abs().amin(dims, keepdim)
    if p == 0:
        return (x != 0).to(x.dtype).sum(dims, keepdim)
    if p < 0:
        raise ValueError(f"{op}: p must be positive, 0 or +-inf, got {p} (input of shape {tuple(x.shape)})")
    if p == 1:
        return x.abs().sum(dims, keepdim)
    # The fused norm gives torch's zero gradient where the norm is 0
    return _vector_norm_op(x, p, dims, keepdim, _op=op)


# -------------------------------------------------------------------------------------------- activations
def relu(input, inplace=False):
    return write_back("relu", input, _relu(input), inplace)


def silu(input, inplace=False):
    return write_back("silu", input, input * sigmoid(input), inplace)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    _need_float("leaky_relu", input)
    # x == 0 takes the negative branch: PyTorch's gradient there is negative_slope.
    return write_back("leaky_relu", input, where(input > 0, input, input * negative_slope), inplace)


def _elu(op, x, alpha, scale=1.0, input_scale=1.0):
    _need_float(op, x)
    # e^x only of the non-positive part: for large x, e^x = inf would turn the masked branch's 0 gradient into nan.
    # (a where, not clamp: a NaN input must not reach expm1's backward either, where 0 * NaN = NaN)
    xn = where(x <= 0, x, 0.0)
    neg = (xn * input_scale if input_scale != 1.0 else xn).expm1() * (alpha * scale)
    # x <= 0 picks the exponential branch, as torch's elu_backward tests it, so NaN takes the linear one (its
    # gradient passes) instead of a NaN from the masked branch
    return where(x <= 0, neg, x * scale if scale != 1.0 else x)


def elu(input, alpha=1.0, inplace=False):
    return write_back("elu", input, _elu("elu", input, alpha), inplace)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(input, inplace=False):
    return write_back("selu", input, _elu("selu", input, _SELU_ALPHA, _SELU_SCALE), inplace)


def celu(input, alpha=1.0, inplace=False):
    if alpha == 0:
        raise ValueError("celu: alpha must not be 0 (it divides the input)")
    return write_back("celu", input, _elu("celu", input, alpha, 1.0, 1.0 / alpha), inplace)


def softplus(input, beta=1.0, threshold=20.0):
    """log(1 + e^(beta x)) / beta, and x itself where beta x > threshold (as PyTorch)."""
    _need_float("softplus", input)
    input, = cast_float32(input)
    bx = input * beta if beta != 1 else input
    sp = _softplus(bx) / beta if beta != 1 else _softplus(bx)
    return where(bx > threshold, input, sp)


def logsigmoid(input):
    _need_float("logsigmoid", input)
    return -_softplus(-input)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    _need_float("hardtanh", input)
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) cannot be greater than max_val ({max_val})")
    # Strict interior, as PyTorch: the gradient is 0 at min_val and max_val themselves (clamp passes it there).
    out = where(input <= min_val, min_val, where(input >= max_val, max_val, input))
    return write_back("hardtanh", input, out, inplace)


def relu6(input, inplace=False):
    return hardtanh(input, 0.0, 6.0, inplace)


def hardsigmoid(input, inplace=False):
    _need_float("hardsigmoid", input)
    out = where(input <= -3, 0.0, where(input >= 3, 1.0, (input + 3) / 6))
    return write_back("hardsigmoid", input, out, inplace)


def hardswish(input, inplace=False):
    _need_float("hardswish", input)
    # the middle formula only on the middle range: at +-inf it would give inf * inf and a NaN gradient
    mid = clamp(input, -3.0, 3.0)
    out = where(input <= -3, 0.0, where(input >= 3, input, mid * (mid + 3) / 6))
    return write_back("hardswish", input, out, inplace)


def mish(input, inplace=False):
    _need_float("mish", input)
    return write_back("mish", input, input * tanh(_softplus(input)), inplace)


def softsign(input):
    _need_float("softsign", input)
    return input / (input.abs() + 1)


def glu(input, dim=-1):
    """a * sigmoid(b) where a, b are the two halves of input along dim."""
    _need_float("glu", input)
    if input.ndim == 0:
        raise RuntimeError("glu: does not support 0-d tensors (the halving dimension must be even)")
    d = normalize_dim("glu", dim, input.ndim, input.shape)
    if input.shape[d] % 2:
        raise RuntimeError(f"glu: halving dimension must be even, but dimension {dim} is size {input.shape[d]} "
                           f"(shape {tuple(input.shape)})")
    a, b = input.chunk(2, d)
    return a * sigmoid(b)


# ------------------------------------------------------------------------------------------ normalization
def normalize(input, p=2.0, dim=1, eps=1e-12):
    """input / max(||input||_p, eps) along dim (a complex input's norm is that of |input|, as torch's)."""
    cplx = isinstance(input, Tensor) and input.dtype.kind == "c"
    if not cplx:
        _need_float("normalize", input)
    d = normalize_dim("normalize", dim, input.ndim, input.shape)
    return input / clamp(_vector_norm("normalize", input.abs() if cplx else input, p, d, True), min=eps)


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """x / sqrt(mean(x^2 over the trailing normalized_shape dims) + eps) * weight; eps defaults to the
    machine epsilon of the computation dtype (float16 is computed in float32 and cast back, as PyTorch)."""
    _need_float("rms_norm", input)
    shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else tuple(normalized_shape)
    k = len(shape)
    if k == 0 or k > input.ndim or tuple(input.shape[input.ndim - k:]) != shape:
        raise RuntimeError(f"rms_norm: normalized_shape={list(shape)} does not match the trailing dims of the "
                           f"input of shape {tuple(input.shape)} (expected input of shape (*, "
                           f"{', '.join(map(str, shape))}))")
    if weight is not None and tuple(weight.shape) != shape:
        raise RuntimeError(f"rms_norm: weight of shape {tuple(weight.shape)} does not match normalized_shape "
                           f"{list(shape)}")
    x = input.to(np.float32) if input.dtype == np.float16 else input
    if eps is None:
        eps = float(np.finfo(x.dtype).eps)
    dims = tuple(range(input.ndim - k, input.ndim))
    out = x * ((x * x).mean(dims, keepdim=True) + eps).rsqrt()
    out = out.to(input.dtype) if out.dtype != input.dtype else out
    return out * weight if weight is not None else out


def _float_pair(op, x1, x2):
    for name, t in (("x1", x1), ("x2", x2)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: {name} must be a Tensor, got {type(t).__name__}")
    dt = result_type(x1, x2)
    if not is_float(dt):
        raise TypeError(f"{op}: expected floating point inputs, got {x1.dtype} and {x2.dtype} "
                        f"(shapes {tuple(x1.shape)} and {tuple(x2.shape)})")
    shape = _broadcast_shape(op, x1, x2)
    return [t.to(dt) if t.dtype != dt else t for t in (x1, x2)], shape


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """sum(x1 / max(||x1||, eps) * x2 / max(||x2||, eps)) along dim of the broadcast shape."""
    (x1, x2), shape = _float_pair("cosine_similarity", x1, x2)
    x1, x2 = cast_float32(x1, x2)
    d = normalize_dim("cosine_similarity", dim, len(shape), shape)
    x1, x2 = x1.expand(shape), x2.expand(shape)
    out = None
    for x in (x1, x2):
        n = _vector_norm("cosine_similarity", x, 2, d, True)
        # PyTorch clamps the norms under no_grad: the clamped value, but the gradient of the unclamped norm.
        n = n + (clamp(n.detach(), min=eps) - n.detach())
        out = x / n if out is None else out * (x / n)
    return out.sum(d)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """||x1 - x2 + eps||_p over the last dim of the broadcast shape."""
    (x1, x2), shape = _float_pair("pairwise_distance", x1, x2)
    return _vector_norm("pairwise_distance", x1 - x2 + eps, p, max(len(shape) - 1, 0), keepdim)


# ------------------------------------------------------------------------------------------------- losses
def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    reduction = _reduction("l1_loss", size_average, reduce, reduction)
    _same_shape("l1_loss", input, target)
    input, target = cast_float32_all(input, target)
    loss = (input - target).abs()
    return _reduce(loss, reduction) if weight is None else _weighted("l1_loss", loss, weight, reduction, input)


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    reduction = _reduction("mse_loss", size_average, reduce, reduction)
    _same_shape("mse_loss", input, target)
    input, target = cast_float32_all(input, target)
    d = input - target
    return _reduce(d * d, reduction) if weight is None else _weighted("mse_loss", d * d, weight, reduction, input)


def _diff(op, input, target):
    _same_shape(op, input, target)
    input, target = cast_float32_all(input, target)
    d = input - target
    return d, d.abs()


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta; beta = 0 is l1_loss."""
    reduction = _reduction("smooth_l1_loss", size_average, reduce, reduction)
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    if beta == 0:
        return l1_loss(input, target, reduction=reduction)
    d, a = _diff("smooth_l1_loss", input, target)
    return _reduce(where(a < beta, 0.5 * d * d / beta, a - 0.5 * beta), reduction)


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta). With weight, 'mean' is mean(w * l) (PyTorch's
    huber_loss, unlike its l1_loss / mse_loss, does not divide by sum(w))."""
    reduction = _reduction("huber_loss", None, None, reduction)
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    d, a = _diff("huber_loss", input, target)
    loss = where(a < delta, 0.5 * d * d, delta * (a - 0.5 * delta))
    if weight is not None:
        if tuple(weight.shape) != tuple(input.shape):
            raise ValueError(f"huber_loss: weight of shape {tuple(weight.shape)} must have the input's shape "
                             f"{tuple(input.shape)}")
        loss = loss * weight
    return _reduce(loss, reduction)


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """Pointwise target * (log target - input) (0 where target == 0), input holding log-probabilities; with
    log_target the target is given as log-probabilities too. 'batchmean' divides the sum by input.shape[0]; 'mean'
    (PyTorch's default) divides by the number of elements. Input and target broadcast, as in PyTorch."""
    reduction = _reduction("kl_div", size_average, reduce, reduction, extra=("batchmean",))
    for name, t in (("input", input), ("target", target)):
        if not isinstance(t, Tensor):
            raise TypeError(f"kl_div: {name} must be a Tensor, got {type(t).__name__}")
    _broadcast_shape("kl_div", input, target)
    input, target = cast_float32_all(input, target)
    if log_target:
        loss = target.exp() * (target - input)
    else:
        zero = target == 0  # xlogy: 0 * log 0 = 0
        loss = where(zero, 0.0, target * where(zero, 1.0, target).log()) - target * input
    if reduction == "batchmean":
        total = loss.sum()
        return total / input.shape[0] if input.ndim else total
    return _reduce(loss, reduction)


def _bce_denom(x):
    # torch's max(x (1 - x), eps) of binary_cross_entropy_backward and its double backward
    return xp_of(x).maximum((1 - x) * x, x.dtype.type(1e-12))


def _bce_grad_derivatives(gg, g, x, t, denom, needs):
    """The derivatives of g (x - t) / denom for the cotangent gg, in g, x and t (torch's
    binary_cross_entropy_double_backward formulas): on arrays or graph Tensors alike."""
    eps = 1e-12
    ng, nx, nt = needs
    return (gg * (x - t) / denom if ng else None,
            gg * g * (x * x - 2 * x * t + t) / ((x + eps) ** 2 * (1 - x + eps) ** 2) if nx else None,
            -gg * g / denom if nt else None)


class _BinaryCrossEntropy(Function):
    """-(t log x + (1 - t) log(1 - x)), each log clamped at -100 as PyTorch does so that x in {0, 1} gives a finite
    loss; the gradients are torch's formulas, (x - t) / max(x (1 - x), 1e-12) for x, so x = t = 0 gives 0 where the
    chain rule through the clamped log would give 0 * inf = NaN."""

    def forward(self, x, t):
        xp = xp_of(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            lx = xp.maximum(xp.log(x), -100)
            l1x = xp.maximum(xp.log(1 - x), -100)
        self.save_for_backward(x, t, lx, l1x)
        return (-(t * lx + (1 - t) * l1x)).astype(x.dtype, copy=False)

    def backward(self, g):
        x, t, lx, l1x = self.saved_tensors
        xp = xp_of(g)
        nx, nt = self.needs_input_grad
        gx = (g * (x - t) / _bce_denom(x)).astype(g.dtype) if nx else None
        with np.errstate(divide="ignore", invalid="ignore"):  # torch's target gradient uses the unclamped logs
            gt = (g * (xp.log1p(-x) - xp.log(x))).astype(g.dtype) if nt else None
        return gx, gt

    def backward_graph(self, g):
        x, t, _, _ = self.saved_tensors
        nx, nt = self.needs_input_grad
        xg, tg_ = self.input(0, x), self.input(1, t)
        gx = _BinaryCrossEntropyGrad.apply(g, xg, tg_) if nx else None
        gt = g * ((-xg).log1p() - xg.log()) if nt else None
        return gx, gt


class _BinaryCrossEntropyGrad(Function):
    """binary_cross_entropy's input gradient g (x - t) / max(x (1 - x), 1e-12) as an op of its own (torch's
    binary_cross_entropy_backward), so that its derivatives are torch's double-backward formulas with their eps
    where torch puts it: written in plain ops, the clamp would make x = t = 0 give 1e12 where torch gives 0."""

    def forward(self, g, x, t):
        self.save_for_backward(g, x, t)
        return (g * (x - t) / _bce_denom(x)).astype(x.dtype, copy=False)

    def backward(self, gg):
        g, x, t = self.saved_tensors
        ds = _bce_grad_derivatives(gg, g, x, t, _bce_denom(x), self.needs_input_grad)
        return tuple(None if v is None else v.astype(x.dtype, copy=False) for v in ds)

    def backward_graph(self, gg):
        # the same formulas on graph Tensors (third order and up; the clamp's eps is not differentiated, as torch's
        # in-place clamp_min_ under no_grad)
        g0, x0, t0 = self.saved_tensors
        g, x, t = self.input(0, g0), self.input(1, x0), self.input(2, t0)
        small = Tensor._make(((1 - x0) * x0) < 1e-12, None)
        return _bce_grad_derivatives(gg, g, x, t, where(small, 1e-12, (1 - x) * x), self.needs_input_grad)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    reduction = _reduction("binary_cross_entropy", size_average, reduce, reduction)
    _same_shape("binary_cross_entropy", input, target)
    for name, t in (("input", input), ("target", target)):
        # Outside [0, 1] (or NaN) the loss is a log of a negative number: torch raises rather than return NaN. No
        # host read inside a CUDA graph capture.
        x = t.array
        if not capturing_on(x) and x.size and not bool(((x >= 0) & (x <= 1)).all()):
            raise RuntimeError(f"binary_cross_entropy: all elements of {name} should be between 0 and 1 (input "
                               f"{tuple(input.shape)} {input.dtype}, target {tuple(target.shape)} {target.dtype})")
    loss = _BinaryCrossEntropy.apply(input, target)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None, reduction="mean",
                                     pos_weight=None):
    reduction = _reduction("binary_cross_entropy_with_logits", size_average, reduce, reduction)
    _same_shape("binary_cross_entropy_with_logits", input, target)
    input, target = cast_float32_all(input, target)
    # Stable form: log(1 + e^x) - x*y = relu(x) - x*y + log(1 + e^-|x|). relu and |x| take the x >= 0 branch
    # at x == 0 alike (plain relu/abs have derivative 0 there, which made the gradient at x == 0 wrong by 0.5).
    nonneg = input >= 0
    log1pexp = (-where(nonneg, input, -input)).exp().log1p()  # log1p: exp(-|x|) < eps must not round to 0
    if pos_weight is None:
        loss = where(nonneg, input, 0.0) - input * target + log1pexp
    else:
        lw = 1 + (pos_weight - 1) * target
        loss = (1 - target) * input + lw * (log1pexp + where(nonneg, 0.0, -input))
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


# ------------------------------------------------------------------------------- nll_loss, cross_entropy
def _check_classes(op, input, target, weight):
    """input (C,), (N, C) or (N, C, d1, ...) and an integer target (), (N,) or (N, d1, ...); returns C."""
    _need_float(op, input)
    if not isinstance(target, Tensor) or not np.issubdtype(target.dtype, np.integer):
        raise TypeError(f"{op}: target must be an integer tensor of class indices, got "
                        f"{getattr(target, 'dtype', type(target).__name__)}"
                        f"{' of shape ' + str(tuple(target.shape)) if isinstance(target, Tensor) else ''} "
                        f"(input {tuple(input.shape)} {input.dtype})")
    check_device_as(op, input, target)  # the target's array is used directly
    ok = (input.ndim == 1 and target.ndim == 0) or (
        input.ndim >= 2 and target.ndim == input.ndim - 1 and target.shape[0] == input.shape[0]
        and tuple(target.shape[1:]) == tuple(input.shape[2:]))
    if not ok:
        raise RuntimeError(f"{op}: input of shape {tuple(input.shape)} and target of shape {tuple(target.shape)} "
                           "do not match (expected input (N, C, d1, ...) and target (N, d1, ...), or (C,) and ())")
    c = input.shape[0] if input.ndim == 1 else input.shape[1]
    if weight is not None and tuple(weight.shape) != (c,):
        raise RuntimeError(f"{op}: weight of shape {tuple(weight.shape)} must have one entry per class ({c},) "
                           f"(input {tuple(input.shape)})")
    return c


def _nll_parts(op, input, target, weight, ignore_index, c):
    """Per-element -w[t] * input[t] (0 where ignored) as a flat (M,) tensor, the per-element weights w[t] and the
    float mask of the non-ignored elements (both 0 where ignored)."""
    xp = input._xp
    t = target.array.reshape(-1)
    bad = (t != ignore_index) & ((t < 0) | (t >= c))
    if not capturing_on(target.array) and bool(bad.any()):  # no host reads inside a CUDA graph capture
        raise IndexError(f"{op}: target values must be in [0, {c - 1}] or ignore_index={ignore_index}; "
                         f"got {int(t[bad].reshape(-1)[0])} (input {tuple(input.shape)})")
    x = input.reshape(1, c) if input.ndim == 1 else input.movedim(1, -1).reshape(-1, c) if input.ndim > 2 else input
    valid = t != ignore_index
    t0 = Tensor._make(xp.where(valid, t, 0), None)
    mask = Tensor._make(valid.astype(x.dtype), None)
    w = weight[t0] * mask if weight is not None else mask
    picked = x[Tensor._make(xp.arange(t.shape[0]), None), t0]
    return -(picked * w), w, mask


def _weighted_mean(total, wsum):
    """total / wsum, and nan when no target counts (0/0, as PyTorch) with a zero gradient rather than 0 * inf."""
    none = wsum == 0
    return where(none, float("nan"), total / where(none, 1.0, wsum))


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    """-input[n, target[n]] (times weight[target[n]]) for input of log-probabilities; 'mean' divides by the summed
    weight of the non-ignored targets (nan when all are ignored, as PyTorch)."""
    reduction = _reduction("nll_loss", size_average, reduce, reduction)
    input, = cast_float32_all(input)
    c = _check_classes("nll_loss", input, target, weight)
    losses, w, _ = _nll_parts("nll_loss", input, target, weight, ignore_index, c)
    if reduction == "none":
        return losses.reshape(target.shape)
    return losses.sum() if reduction == "sum" else _weighted_mean(losses.sum(), w.sum())


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean",
                  label_smoothing=0.0):
    """Class indices (the fused softmax-CE kernel; with a class weight, log_softmax + nll_loss) or, when the target
    has the input's shape, class probabilities: -sum(target * log_softmax(input)) over the class dim."""
    reduction = _reduction("cross_entropy", size_average, reduce, reduction)
    if not isinstance(input, Tensor):
        raise TypeError(f"cross_entropy: input must be a Tensor, got {type(input).__name__}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    if isinstance(target, Tensor) and tuple(target.shape) == tuple(input.shape):
        return _cross_entropy_probs(input, target, weight, ignore_index, reduction, label_smoothing)
    if isinstance(target, Tensor) and is_float(target.dtype) and target.ndim == input.ndim:
        raise RuntimeError(f"cross_entropy: a floating point target holds class probabilities and must have the "
                           f"input's shape {tuple(input.shape)}, got {tuple(target.shape)} ({target.dtype}); class "
                           "indices must be an integer tensor")
    input, = cast_float32_all(input)
    c = _check_classes("cross_entropy", input, target, weight)
    if weight is None:
        return _cross_entropy_fused(input, target, c, ignore_index, reduction, label_smoothing)
    cdim = 0 if input.ndim == 1 else 1
    logp = log_softmax(input, cdim)
    losses, w, mask = _nll_parts("cross_entropy", logp, target, weight, ignore_index, c)
    if label_smoothing > 0:
        # PyTorch's smoothing term with a class weight: -sum_c weight[c] * logp[c] per element, 0 where ignored,
        # normalized like the nll term.
        wb = weight.reshape([c if i == cdim else 1 for i in range(input.ndim)])
        smooth = -(logp * wb).sum(cdim).reshape(-1) * mask
        losses = (1 - label_smoothing) * losses + (label_smoothing / c) * smooth
    if reduction == "none":
        return losses.reshape(target.shape)
    return losses.sum() if reduction == "sum" else _weighted_mean(losses.sum(), w.sum())


def _cross_entropy_fused(input, target, c, ignore_index, reduction, label_smoothing):
    """The fused softmax-cross-entropy kernel over rows of (N, C) logits (ops/nn.py SoftmaxCrossEntropy)."""
    t = target.array.reshape(-1)
    bad = (t != ignore_index) & ((t < 0) | (t >= c))
    if not capturing_on(target.array) and bool(bad.any()):  # no host reads inside a CUDA graph capture
        raise IndexError(f"cross_entropy: target values must be in [0, {c - 1}] or ignore_index={ignore_index}; "
                         f"got {int(t[bad].reshape(-1)[0])} (input {tuple(input.shape)})")
    x = input.reshape(1, c) if input.ndim == 1 else input.movedim(1, -1).reshape(-1, c) if input.ndim > 2 else input
    out = NN.SoftmaxCrossEntropy.apply(x.contiguous(), t.astype(np.int64, copy=False), ignore_index,
                                       float(label_smoothing), reduction)
    return out.reshape(target.shape) if reduction == "none" else out


def _cross_entropy_probs(input, target, weight, ignore_index, reduction, label_smoothing):
    if not is_float(target.dtype):
        raise TypeError(f"cross_entropy: a target of the input's shape {tuple(input.shape)} holds class "
                        f"probabilities and must be floating point, got {target.dtype}")
    if ignore_index >= 0:
        raise ValueError(f"cross_entropy: ignore_index ({ignore_index}) is not supported for class-probability "
                         f"targets (shape {tuple(target.shape)})")
    _need_float("cross_entropy", input)
    if input.ndim == 0:
        raise RuntimeError("cross_entropy: input must have a class dimension, got a 0-d tensor")
    input, target = cast_float32_all(input, target)
    cdim = 0 if input.ndim == 1 else 1
    c = input.shape[cdim]
    logp = log_softmax(input, cdim)
    if label_smoothing > 0:
        target = target * (1 - label_smoothing) + label_smoothing / c
    prod = logp * target
    if weight is not None:
        if tuple(weight.shape) != (c,):
            raise RuntimeError(f"cross_entropy: weight of shape {tuple(weight.shape)} must have one entry per class "
                               f"({c},) (input {tuple(input.shape)})")
        prod = prod * weight.reshape([c if i == cdim else 1 for i in range(input.ndim)])
    if reduction == "none":
        return -prod.sum(cdim)
    total = -prod.sum()
    # 'mean' averages over the N * d1 * ... positions, not over classes (0/0 = nan for an empty batch).
    return total if reduction == "sum" else total / (input.numel() // c if c else 0)


__all__ = ["softmax", "log_softmax", "cross_entropy", "nll_loss", "layer_norm", "gelu", "scaled_dot_product_attention",
           "dropout", "embedding", "one_hot", "packed_attention", "bias_dropout_add", "mse_loss", "binary_cross_entropy",
           "binary_cross_entropy_with_logits", "linear", "relu", "sigmoid", "tanh", "silu", "leaky_relu", "elu",
           "selu", "celu", "softplus", "logsigmoid", "hardtanh", "relu6", "hardsigmoid", "hardswish", "mish",
           "softsign", "glu", "normalize", "rms_norm", "cosine_similarity", "pairwise_distance", "l1_loss",
           "smooth_l1_loss", "huber_loss", "kl_div", "pad", "interpolate", "upsample", "upsample_nearest",
           "upsample_bilinear", "pixel_shuffle", "pixel_unshuffle", "prelu"]
__all__ += ["conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d", "unfold", "fold"]
__all__ += ["max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
            "adaptive_max_pool1d", "adaptive_max_pool2d", "batch_norm", "instance_norm", "group_norm",
            "local_response_norm", "dropout1d", "dropout2d"]
__all__ += ["conv3d", "conv_transpose3d", "max_pool3d", "avg_pool3d", "adaptive_avg_pool3d", "adaptive_max_pool3d",
            "lp_pool1d", "lp_pool2d", "lp_pool3d", "max_unpool1d", "max_unpool2d", "max_unpool3d",
            "fractional_max_pool2d", "fractional_max_pool3d", "dropout3d", "affine_grid", "grid_sample"]


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """torch's deprecated name for interpolate."""
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


# softmin, the shrinks, rrelu, alpha dropouts, gumbel_softmax, bilinear, embedding_bag, the margin / NLL losses, ...
from .functional_extra import *  # noqa: E402,F401,F403
from .functional_losses import *  # noqa: E402,F401,F403
from .functional_extra import _inplace_variant, __all__ as _extra_all  # noqa: E402
from .functional_losses import __all__ as _losses_all  # noqa: E402
elu_, celu_, selu_, leaky_relu_, hardtanh_ = map(_inplace_variant, (elu, celu, selu, leaky_relu, hardtanh))
__all__ += _extra_all + _losses_all + ["elu_", "celu_", "selu_", "leaky_relu_", "hardtanh_", "ctc_loss"]
