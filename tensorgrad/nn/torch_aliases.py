"""torch.* spellings of nn.functional computations whose signatures are ATen's, not F's: torch.embedding(weight,
input), the losses with an integer reduction (0 none, 1 mean, 2 sum), batch_norm / instance_norm with their
positional cudnn_enabled, convolution(transposed=...), grid_sampler's integer modes, the in-place dropouts with a
positional ``train``, and the recurrent cells on explicit weights. Each takes torch's positional order and computes
with tensorgrad.nn.functional."""
from ..ops.methods import _apply_inplace
from .. import dtypes
from ..autograd.grad_mode import no_grad
from ..ops.normalization import _channel_dropout, _check_p
from ..ops.nn import Dropout
from ..random import default_generator
from ..ops.matmul import linear
from ..ops.linalg_methods import norm as _norm
from ..ops.movement import stack as _stack, cat as _cat
from ..ops.rnn_cell import lstm_cell as _lstm_gates, gru_cell as _gru_gates
from ..ops.elementwise import relu as _relu, tanh as _tanh
from ..tensor import Tensor
from . import functional as F

_REDUCTION = {0: "none", 1: "mean", 2: "sum"}


def _reduction(op, r):
    if isinstance(r, str) and r in ("none", "mean", "sum"):
        return r
    if r not in _REDUCTION:
        raise ValueError(f"{op}: reduction must be 0 (none), 1 (mean) or 2 (sum), got {r!r}")
    return _REDUCTION[r]


def embedding(weight, indices, padding_idx=-1, scale_grad_by_freq=False, sparse=False):
    """torch.embedding: weight first; padding_idx -1 means none."""
    return F.embedding(indices, weight, padding_idx=None if padding_idx == -1 else padding_idx,
                       scale_grad_by_freq=scale_grad_by_freq, sparse=sparse)


def batch_norm(input, weight, bias, running_mean, running_var, training, momentum, eps, cudnn_enabled):
    return F.batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)


def instance_norm(input, weight, bias, running_mean, running_var, use_input_stats, momentum, eps, cudnn_enabled):
    return F.instance_norm(input, running_mean, running_var, weight, bias, use_input_stats, momentum, eps)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5, cudnn_enable=True):
    return F.layer_norm(input, normalized_shape, weight, bias, eps)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5, cudnn_enabled=True):
    return F.group_norm(input, num_groups, weight, bias, eps)


def rms_norm(input, normalized_shape, weight=None, eps=None):
    return F.rms_norm(input, normalized_shape, weight, eps)


def binary_cross_entropy_with_logits(input, target, weight=None, pos_weight=None, reduction=1):
    return F.binary_cross_entropy_with_logits(input, target, weight, pos_weight=pos_weight,
                                              reduction=_reduction("binary_cross_entropy_with_logits", reduction))


def cosine_embedding_loss(input1, input2, target, margin=0.0, reduction=1):
    return F.cosine_embedding_loss(input1, input2, target, margin,
                                   reduction=_reduction("cosine_embedding_loss", reduction))


def hinge_embedding_loss(input, target, margin=1.0, reduction=1):
    return F.hinge_embedding_loss(input, target, margin, reduction=_reduction("hinge_embedding_loss", reduction))


def margin_ranking_loss(input1, input2, target, margin=0.0, reduction=1):
    return F.margin_ranking_loss(input1, input2, target, margin,
                                 reduction=_reduction("margin_ranking_loss", reduction))


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2.0, eps=1e-6, swap=False, reduction=1):
    return F.triplet_margin_loss(anchor, positive, negative, margin, p, eps, swap,
                                 reduction=_reduction("triplet_margin_loss", reduction))


def kl_div(input, target, reduction=1, *, log_target=False):
    return F.kl_div(input, target, reduction=_reduction("kl_div", reduction), log_target=log_target)


def poisson_nll_loss(input, target, log_input, full, eps, reduction):
    return F.poisson_nll_loss(input, target, log_input, full, eps=eps,
                              reduction=_reduction("poisson_nll_loss", reduction))


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction=1, zero_infinity=False):
    return F.ctc_loss(log_probs, targets, input_lengths, target_lengths, blank,
                      _reduction("ctc_loss", reduction), zero_infinity)


def constant_pad_nd(input, pad, value=0):
    return F.pad(input, tuple(pad), mode="constant", value=value)


_CONV = {1: (F.conv1d, F.conv_transpose1d), 2: (F.conv2d, F.conv_transpose2d), 3: (F.conv3d, F.conv_transpose3d)}


def convolution(input, weight, bias, stride, padding, dilation, transposed, output_padding, groups):
    """ATen's one convolution entry: the spatial rank from weight, transposed or not."""
    k = weight.ndim - 2
    if k not in _CONV:
        raise RuntimeError(f"convolution: expected a 3-D, 4-D or 5-D weight (1 to 3 spatial dims), got shape "
                           f"{tuple(weight.shape)}")
    conv, conv_t = _CONV[k]
    stride, padding, dilation = (tuple(v) if isinstance(v, (list, tuple)) else v for v in (stride, padding, dilation))
    if transposed:
        op = tuple(output_padding) if isinstance(output_padding, (list, tuple)) else output_padding
        return conv_t(input, weight, bias, stride, padding, op, groups, dilation)
    if any(output_padding) if isinstance(output_padding, (list, tuple)) else output_padding:
        raise RuntimeError(f"convolution: output_padding {output_padding} is only meaningful for transposed "
                           "convolution")
    return conv(input, weight, bias, stride, padding, dilation, groups)


def max_pool1d_with_indices(input, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False):
    stride = None if stride in ((), []) else stride
    return F.max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices=True)


def adaptive_max_pool1d(input, output_size):
    """(values, indices), as torch's top-level one returns both."""
    return F.adaptive_max_pool1d(input, output_size, return_indices=True)


_INTERP = {0: "bilinear", 1: "nearest", 2: "bicubic"}
_PADDING = {0: "zeros", 1: "border", 2: "reflection"}


def grid_sampler(input, grid, interpolation_mode, padding_mode, align_corners):
    if interpolation_mode not in _INTERP or padding_mode not in _PADDING:
        raise ValueError(f"grid_sampler: interpolation_mode must be 0, 1 or 2 and padding_mode 0, 1 or 2, got "
                         f"{interpolation_mode!r} and {padding_mode!r}")
    return F.grid_sample(input, grid, _INTERP[interpolation_mode], _PADDING[padding_mode], align_corners)


def grid_sampler_2d(input, grid, interpolation_mode, padding_mode, align_corners):
    if input.ndim != 4:
        raise RuntimeError(f"grid_sampler_2d: expected a 4-D input, got shape {tuple(input.shape)}")
    return grid_sampler(input, grid, interpolation_mode, padding_mode, align_corners)


def grid_sampler_3d(input, grid, interpolation_mode, padding_mode, align_corners):
    if input.ndim != 5:
        raise RuntimeError(f"grid_sampler_3d: expected a 5-D input, got shape {tuple(input.shape)}")
    return grid_sampler(input, grid, interpolation_mode, padding_mode, align_corners)


def affine_grid_generator(theta, size, align_corners):
    return F.affine_grid(theta, list(size), align_corners=align_corners)


def conv_tbc(input, weight, bias, pad=0):
    """1-d convolution over (time, batch, channels) input with a (kernel, in, out) weight, zero-padded by pad on
    both ends of time; the result is (time', batch, out)."""
    if input.ndim != 3 or weight.ndim != 3 or input.shape[2] != weight.shape[1]:
        raise RuntimeError(f"conv_tbc: expected input (time, batch, in) and weight (kernel, in, out) with the same "
                           f"in, got {tuple(input.shape)} and {tuple(weight.shape)}")
    out = F.conv1d(input.permute(1, 2, 0), weight.permute(2, 1, 0), bias, padding=pad)
    return out.permute(2, 0, 1)


def native_dropout(input, p, train):
    """(dropout(input), the bool mask of kept elements); not training: (input, all True)."""
    _check_p("native_dropout", input, p)
    if not train:
        return input, Tensor._make(input._xp.ones(input.shape, dtype=bool), None)
    keep = default_generator.random(input.shape, device=input.device) >= p
    scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)
    return Dropout.apply(input, (keep * input.dtype.type(scale)).astype(input.dtype)), Tensor._make(keep, None)


def native_layer_norm(input, normalized_shape, weight, bias, eps):
    """(layer_norm(...), mean, 1 / std) with mean and rstd of shape input.shape[:-k] + (1,) * k; those two carry no
    gradient, as torch's."""
    k = len(normalized_shape)
    dims = tuple(range(input.ndim - k, input.ndim))
    with no_grad():
        x = input.detach().to(dtypes.float64) if input.dtype == dtypes.float64 else input.detach().float()
        mean = x.mean(dims, keepdim=True)
        rstd = (x.var(dims, unbiased=False, keepdim=True) + eps).rsqrt()
    return F.layer_norm(input, normalized_shape, weight, bias, eps), mean.to(input.dtype), rstd.to(input.dtype)


def native_batch_norm(input, weight, bias, running_mean, running_var, training, momentum, eps):
    """(batch_norm(...), the batch's mean and 1 / std per channel) in training (or without running stats); in eval
    with running stats the two are empty, as torch's."""
    dims = (0,) + tuple(range(2, input.ndim))
    use_batch = training or running_mean is None
    if use_batch:
        with no_grad():
            mean = input.detach().mean(dims)
            invstd = (input.detach().var(dims, unbiased=False) + eps).rsqrt()
    else:
        mean = invstd = Tensor._make(input._xp.zeros((0,), dtype=input.dtype), None)
    out = F.batch_norm(input, running_mean, running_var, weight, bias, use_batch, momentum, eps)
    return out, mean, invstd


def native_group_norm(input, weight, bias, N, C, HxW, group, eps):
    """(group_norm(...), mean, 1 / std) per (sample, group), shape (N, group); the two are differentiable, as
    torch's."""
    if tuple(input.shape[:2]) != (N, C) or input.numel() != N * C * HxW:
        raise RuntimeError(f"native_group_norm: input of shape {tuple(input.shape)} does not match N={N}, C={C}, "
                           f"HxW={HxW}")
    g = input.reshape(N, group, -1)
    mean = g.mean(-1)
    rstd = (g.var(-1, unbiased=False) + eps).rsqrt()
    return F.group_norm(input, group, weight, bias, eps), mean, rstd


def native_channel_shuffle(input, groups):
    """channel_shuffle; differentiable (torch's native_ form raises at backward)."""
    return F.channel_shuffle(input, groups)


def norm_except_dim(v, pow=2, dim=0):
    """The pow-norm of v over every dim but ``dim``, kept as size-1 dims (dim=-1: over all, a 0-d result); weight
    norm's g."""
    if dim == -1:
        return v.norm(pow)
    d = dim + v.ndim if dim < 0 else dim
    others = tuple(i for i in range(v.ndim) if i != d)
    return v.norm(pow, dim=others, keepdim=True) if others else v.abs()  # (a 1-d v: each element's own norm)


def frobenius_norm(input, dim=(), keepdim=False):
    """Deprecated torch.frobenius_norm: the 2-norm over dim (all dims when empty)."""
    dims = tuple(dim) if isinstance(dim, (list, tuple)) else (dim,)
    return input.norm(2, dim=dims or None, keepdim=keepdim)


def nuclear_norm(input, dim=None, keepdim=False):
    """Deprecated torch.nuclear_norm: nuclear_norm(input, keepdim=False) of a matrix, or (input, dim, keepdim) over
    two dims."""
    if isinstance(dim, bool):
        dim, keepdim = None, dim
    if dim is None:
        out = _norm(input, "nuc")
        return out.reshape(1, 1) if keepdim else out
    return _norm(input, "nuc", dim=tuple(dim), keepdim=keepdim)


def embedding_renorm_(weight, indices, max_norm, norm_type):
    """The rows of weight that indices name, rescaled in place to norm max_norm where theirs exceeds it (torch's
    scale max_norm / (norm + 1e-7)); returns weight."""
    with no_grad():
        rows = Tensor._make(weight._xp.unique(indices.array.reshape(-1)), None)
        norms = weight[rows].norm(norm_type, dim=1, keepdim=True)
        scale = (max_norm / (norms + 1e-7)).clamp(max=1.0)
        weight[rows] = weight[rows] * scale.where(norms > max_norm, 1.0)
    return weight


def feature_dropout(input, p, train):
    """Whole channels (dim 1 of a >= 2-d input) zeroed with probability p, the rest scaled by 1 / (1 - p)."""
    _check_p("feature_dropout", input, p)
    if input.ndim < 2:
        raise RuntimeError(f"feature_dropout: feature dropout requires at least 2 dimensions in the input, got shape "
                           f"{tuple(input.shape)}")
    return _channel_dropout("feature_dropout", input, p, train)


def _inplace(name, fn):
    def f(input, p, train):
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}(): argument 'input' must be Tensor, not {type(input).__name__}")
        return _apply_inplace(input, lambda s: fn(s, p, train), name)
    f.__name__ = f.__qualname__ = name
    return f


dropout_ = _inplace("dropout_", lambda s, p, train: F.dropout(s, p, train))
alpha_dropout_ = _inplace("alpha_dropout_", lambda s, p, train: F.alpha_dropout(s, p, train))
feature_dropout_ = _inplace("feature_dropout_", feature_dropout)
feature_alpha_dropout_ = _inplace("feature_alpha_dropout_", lambda s, p, train: F.feature_alpha_dropout(s, p, train))


def _check_batched(op, input, states):
    """ATen's cells take (N, features) only (nn.LSTMCell & co. are the ones that accept an unbatched input)."""
    for name, t in (("input", input),) + tuple(("hx", h) for h in states):
        if not isinstance(t, Tensor) or t.ndim != 2:
            raise IndexError(f"{op}: expected 2-D (batch, features) {name}, got "
                             f"{tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__}")


def lstm_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One LSTM step on explicit weights: hx = (h, c); returns (h', c')."""
    if not isinstance(hx, (tuple, list)) or len(hx) != 2:
        raise RuntimeError(f"lstm_cell: hx must be a sequence of two tensors (h, c), got {type(hx).__name__}")
    h, c = hx
    _check_batched("lstm_cell", input, (h, c))
    return _lstm_gates(linear(input, w_ih, b_ih), linear(h, w_hh, b_hh), c)


def gru_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    _check_batched("gru_cell", input, (hx,))
    return _gru_gates(linear(input, w_ih, b_ih), linear(hx, w_hh, b_hh), hx)


def rnn_tanh_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    _check_batched("rnn_tanh_cell", input, (hx,))
    return _tanh(linear(input, w_ih, b_ih) + linear(hx, w_hh, b_hh))


def rnn_relu_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    _check_batched("rnn_relu_cell", input, (hx,))
    return _relu(linear(input, w_ih, b_ih) + linear(hx, w_hh, b_hh))


def _recurrent(mode, input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first):
    """ATen's whole-sequence RNN on a flat parameter list (per layer and direction: w_ih, w_hh, then b_ih, b_hh with
    biases, then w_hr for a projected LSTM), stepping the cells above; dropout between layers when training."""
    if isinstance(hx, Tensor) and not dtypes.is_float(hx.dtype):
        raise NotImplementedError(f"{mode}: the packed-sequence form (data, batch_sizes, ...) is not provided; run "
                                  "nn.LSTM / nn.GRU / nn.RNN on the PackedSequence instead")
    lstm = mode == "lstm"
    states = list(hx) if lstm else [hx]
    if input.ndim != 3 or any(h.ndim != 3 for h in states):
        raise RuntimeError(f"{mode}: expected a 3-D input and 3-D hidden states (the batched form), got input "
                           f"{tuple(input.shape)} and states {[tuple(h.shape) for h in states]}")
    dirs = 2 if bidirectional else 1
    proj = lstm and states[0].shape[-1] != states[1].shape[-1]
    per = 2 + 2 * bool(has_biases) + proj
    if len(params) != num_layers * dirs * per:
        raise RuntimeError(f"{mode}: expected {num_layers * dirs * per} parameters ({num_layers} layers, {dirs} "
                           f"directions, {per} each), got {len(params)}")
    x = input.transpose(0, 1) if batch_first else input
    cell = {"lstm": None, "gru": gru_cell, "rnn_tanh": rnn_tanh_cell, "rnn_relu": rnn_relu_cell}[mode]
    last_h, last_c = [], []
    for layer in range(num_layers):
        outs = []
        for d in range(dirs):
            k = layer * dirs + d
            w = params[k * per:(k + 1) * per]
            b_ih, b_hh = (w[2], w[3]) if has_biases else (None, None)
            h, c = states[0][k], (states[1][k] if lstm else None)
            ys = [None] * x.shape[0]
            for t in (range(x.shape[0] - 1, -1, -1) if d else range(x.shape[0])):
                if lstm:
                    h, c = lstm_cell(x[t], (h, c), w[0], w[1], b_ih, b_hh)
                    h = linear(h, w[-1]) if proj else h
                else:
                    h = cell(x[t], h, w[0], w[1], b_ih, b_hh)
                ys[t] = h
            outs.append(_stack(ys) if ys else x.new_zeros((0,) + tuple(h.shape)))
            last_h.append(h)
            last_c.append(c)
        x = outs[0] if dirs == 1 else _cat(outs, -1)
        if dropout and train and layer < num_layers - 1:
            x = F.dropout(x, dropout, True)
    out = x.transpose(0, 1) if batch_first else x
    return (out, _stack(last_h), _stack(last_c)) if lstm else (out, _stack(last_h))


def lstm(input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first):
    return _recurrent("lstm", input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first)


def gru(input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first):
    return _recurrent("gru", input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first)


def rnn_tanh(input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first):
    return _recurrent("rnn_tanh", input, hx, params, has_biases, num_layers, dropout, train, bidirectional,
                      batch_first)


def rnn_relu(input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first):
    return _recurrent("rnn_relu", input, hx, params, has_biases, num_layers, dropout, train, bidirectional,
                      batch_first)


NAMES = ("embedding", "batch_norm", "instance_norm", "layer_norm", "group_norm", "rms_norm",
         "binary_cross_entropy_with_logits", "cosine_embedding_loss", "hinge_embedding_loss", "margin_ranking_loss",
         "triplet_margin_loss", "kl_div", "poisson_nll_loss", "ctc_loss", "constant_pad_nd", "convolution",
         "max_pool1d_with_indices", "adaptive_max_pool1d", "grid_sampler", "grid_sampler_2d", "grid_sampler_3d",
         "affine_grid_generator", "conv_tbc", "native_dropout", "native_layer_norm", "native_batch_norm",
         "embedding_renorm_", "native_group_norm", "native_channel_shuffle", "norm_except_dim", "frobenius_norm",
         "nuclear_norm", "feature_dropout", "dropout_",
         "alpha_dropout_", "feature_dropout_", "feature_alpha_dropout_", "lstm_cell", "gru_cell", "rnn_tanh_cell",
         "rnn_relu_cell", "lstm", "gru", "rnn_tanh", "rnn_relu")
