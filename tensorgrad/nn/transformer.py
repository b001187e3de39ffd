"""nn.MultiheadAttention and the Transformer encoder / decoder stacks, with PyTorch's constructor arguments,
parameter names and shapes (torch state_dicts load as they are), initialisation and forward semantics.

Everything here is a composite of differentiable ops. torch's inference fast paths (_native_multi_head_attention,
_transformer_encoder_layer_fwd, nested tensors) compute the same function as its training-mode path, which is the
one written out here; they differ from it only in rounding."""
import copy
import math
import warnings

import numpy as np

from .. import factories
from ..ops.movement import cat
from ..ops.util import is_float
from ..tensor import Tensor
from . import functional as F
from . import init
from .activations import GELU, ReLU
from .layers import Dropout, LayerNorm, Linear, ModuleList, _empty
from .module import Module, Parameter

_NEG_INF = float("-inf")


# ------------------------------------------------------------------------------------------------ masks
def _canonical_mask(owner, mask, name, dtype, other=None, other_name=""):
    """A bool mask (True = may not attend) becomes an additive float mask (-inf there, 0 elsewhere) of ``dtype``;
    a float mask is added as it is. Differing mask types are accepted with torch's deprecation warning."""
    if mask is None:
        return None
    if not isinstance(mask, Tensor):
        raise TypeError(f"{owner}: {name} must be a Tensor or None, got {type(mask).__name__}")
    if mask.dtype != np.bool_ and not is_float(mask.dtype):
        raise AssertionError(f"{owner}: only bool and floating point {name} are supported, got {mask.dtype} "
                             f"(shape {tuple(mask.shape)})")
    if other is not None and isinstance(other, Tensor) and other.dtype != mask.dtype:
        warnings.warn(f"Support for mismatched {name} and {other_name} is deprecated. Use same type for both "
                      "instead.", stacklevel=3)
    if mask.dtype == np.bool_:
        return factories.zeros(*mask.shape, dtype=dtype, device=mask.device).masked_fill(mask, _NEG_INF)
    return mask.to(dtype) if mask.dtype != dtype else mask


def _pad_key(mask):
    """One more key position that may be attended (bias_k / add_zero_attn append a key)."""
    zero = factories.zeros(*mask.shape[:-1], 1, dtype=mask.dtype, device=mask.device)
    return cat([mask, zero], -1)


def _generate_square_subsequent_mask(sz, device=None, dtype=None):
    return factories.full((sz, sz), _NEG_INF, dtype=dtype, device=device).triu(1)


def _detect_is_causal_mask(mask, is_causal=None, size=None):
    """is_causal as given, or (None) whether ``mask`` is exactly the float causal mask of that size; a causal
    mask then runs as the fused causal kernel instead of an added mask."""
    if is_causal is not None or mask is None:
        return is_causal is True
    sz = size if size is not None else mask.shape[-2]
    causal = _generate_square_subsequent_mask(sz, device=mask.device, dtype=mask.dtype)
    return tuple(mask.shape) == tuple(causal.shape) and bool((mask == causal).all())


def _get_seq_len(src, batch_first):
    return src.shape[0] if src.ndim == 2 else src.shape[1 if batch_first else 0]


# ------------------------------------------------------------------------------------- MultiheadAttention
class NonDynamicallyQuantizableLinear(Linear):
    """MultiheadAttention.out_proj: a Linear under torch's class name (kept for the same repr)."""


class MultiheadAttention(Module):
    """Multi-head attention as torch.nn.MultiheadAttention: in_proj_weight (3E, E) / in_proj_bias (3E,) (or
    q/k/v_proj_weight when kdim or vdim differ from embed_dim), out_proj, optional bias_k / bias_v (1, 1, E).
    Inputs are (L, N, E), (N, L, E) with batch_first, or unbatched (L, E); returns (output, weights or None)."""

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False, add_zero_attn=False,
                 kdim=None, vdim=None, batch_first=False, device=None, dtype=None):
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"MultiheadAttention: embed_dim and num_heads must be greater than 0, got "
                             f"embed_dim={embed_dim} and num_heads={num_heads}")
        super().__init__()
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        if self.head_dim * num_heads != embed_dim:
            raise AssertionError(f"MultiheadAttention: embed_dim={embed_dim} must be divisible by "
                                 f"num_heads={num_heads}")
        if not self._qkv_same_embed_dim:
            self.q_proj_weight = Parameter(_empty((embed_dim, embed_dim), device, dtype))
            self.k_proj_weight = Parameter(_empty((embed_dim, self.kdim), device, dtype))
            self.v_proj_weight = Parameter(_empty((embed_dim, self.vdim), device, dtype))
            self.register_parameter("in_proj_weight", None)
        else:
            self.in_proj_weight = Parameter(_empty((3 * embed_dim, embed_dim), device, dtype))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(_empty((3 * embed_dim,), device, dtype))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias, device=device, dtype=dtype)
        if add_bias_kv:
            self.bias_k = Parameter(_empty((1, 1, embed_dim), device, dtype))
            self.bias_v = Parameter(_empty((1, 1, embed_dim), device, dtype))
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self):
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
        if self.bias_v is not None:
            init.xavier_normal_(self.bias_v)

    # ----------------------------------------------------------------------------------------- checks
    def _check_inputs(self, query, key, value, key_padding_mask, attn_mask):
        """Shapes as torch's _mha_shape_check plus the embedding, batch and mask sizes; returns is_batched."""
        shapes = f"query {tuple(query.shape)}, key {tuple(key.shape)}, value {tuple(value.shape)}"
        if query.ndim not in (2, 3):
            raise AssertionError(f"MultiheadAttention: query should be unbatched 2-D (L, E) or batched 3-D, got "
                                 f"{query.ndim}-D shape {tuple(query.shape)}")
        batched = query.ndim == 3
        if key.ndim != query.ndim or value.ndim != query.ndim:
            raise AssertionError(f"MultiheadAttention: for a {query.ndim}-D query, key and value must be "
                                 f"{query.ndim}-D too ({shapes})")
        seq, bat = (1, 0) if batched and self.batch_first else (0, 1)
        L, S = query.shape[seq], key.shape[seq]
        n = query.shape[bat] if batched else None
        for name, t, want in (("query", query, self.embed_dim), ("key", key, self.kdim),
                              ("value", value, self.vdim)):
            if t.shape[-1] != want:
                dim = "embed_dim" if name == "query" else "kdim" if name == "key" else "vdim"
                raise AssertionError(f"MultiheadAttention: {name} has embedding dim {t.shape[-1]}, expected "
                                     f"{dim}={want} ({shapes})")
        if value.shape[seq] != S or (batched and (key.shape[bat] != n or value.shape[bat] != n)):
            raise AssertionError(f"MultiheadAttention: the sequence and batch dims of key and value must agree, "
                                 f"and the batch dims with query's ({shapes}, batch_first={self.batch_first})")
        if key_padding_mask is not None:
            want = (n, S) if batched else (S,)
            if tuple(key_padding_mask.shape) != want:
                raise AssertionError(f"MultiheadAttention: key_padding_mask of shape "
                                     f"{tuple(key_padding_mask.shape)} should be {want} ({shapes})")
        if attn_mask is not None:
            heads = (n if batched else 1) * self.num_heads
            if tuple(attn_mask.shape) not in ((L, S), (heads, L, S)):
                raise RuntimeError(f"MultiheadAttention: attn_mask of shape {tuple(attn_mask.shape)} should be "
                                   f"{(L, S)} or {(heads, L, S)} (batch * num_heads, L, S) ({shapes})")
        return batched

    def _in_projection(self, query, key, value, self_attn, kv_same):
        E, b = self.embed_dim, self.in_proj_bias
        bq, bk, bv = (None, None, None) if b is None else b.chunk(3)
        if not self._qkv_same_embed_dim:
            return (F.linear(query, self.q_proj_weight, bq), F.linear(key, self.k_proj_weight, bk),
                    F.linear(value, self.v_proj_weight, bv))
        w = self.in_proj_weight
        if self_attn:  # one GEMM for q, k and v
            return F.linear(query, w, b).chunk(3, -1)
        if kv_same:
            k, v = F.linear(key, w[E:], None if b is None else b[E:]).chunk(2, -1)
            return F.linear(query, w[:E], bq), k, v
        wq, wk, wv = w.chunk(3)
        return F.linear(query, wq, bq), F.linear(key, wk, bk), F.linear(value, wv, bv)

    # ---------------------------------------------------------------------------------------- forward
    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        for name, t in (("query", query), ("key", key), ("value", value)):
            if not isinstance(t, Tensor):
                raise TypeError(f"MultiheadAttention: {name} must be a Tensor, got {type(t).__name__}")
        key_padding_mask = _canonical_mask("MultiheadAttention", key_padding_mask, "key_padding_mask", query.dtype,
                                           attn_mask, "attn_mask")
        attn_mask = _canonical_mask("MultiheadAttention", attn_mask, "attn_mask", query.dtype)
        batched = self._check_inputs(query, key, value, key_padding_mask, attn_mask)
        self_attn, kv_same = query is key and key is value, key is value
        if not batched:
            query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        elif self.batch_first:
            query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
        if is_causal and attn_mask is None:
            raise RuntimeError("MultiheadAttention: need attn_mask if specifying the is_causal hint. You may use "
                               "the Transformer module method `generate_square_subsequent_mask` to create this mask.")
        if is_causal and key_padding_mask is None and not need_weights:
            attn_mask = None  # the hint stands for the mask: the fused causal kernel applies it
        elif key_padding_mask is not None:
            is_causal = False  # the merged mask is no longer causal

        L, N, E = query.shape
        H, D = self.num_heads, self.head_dim
        q, k, v = self._in_projection(query, key, value, self_attn, kv_same)
        if attn_mask is not None and attn_mask.ndim == 3:
            attn_mask = attn_mask.reshape(N, H, L, attn_mask.shape[-1])
        if self.bias_k is not None and self.bias_v is not None:
            k = cat([k, self.bias_k.expand(1, N, E)])
            v = cat([v, self.bias_v.expand(1, N, E)])
            attn_mask = None if attn_mask is None else _pad_key(attn_mask)
            key_padding_mask = None if key_padding_mask is None else _pad_key(key_padding_mask)
        elif self.bias_k is not None or self.bias_v is not None:
            raise AssertionError("MultiheadAttention: bias_k and bias_v must be both set or both None")
        # (T, N, E) -> (N, H, T, D): heads become a batch dim of the attention matmuls.
        q = q.reshape(L, N, H, D).permute(1, 2, 0, 3)
        k = k.reshape(k.shape[0], N, H, D).permute(1, 2, 0, 3)
        v = v.reshape(v.shape[0], N, H, D).permute(1, 2, 0, 3)
        if self.add_zero_attn:
            zeros = factories.zeros(N, H, 1, D, dtype=k.dtype, device=k.device)
            k, v = cat([k, zeros], 2), cat([v, zeros], 2)
            attn_mask = None if attn_mask is None else _pad_key(attn_mask)
            key_padding_mask = None if key_padding_mask is None else _pad_key(key_padding_mask)
        mask = attn_mask
        if key_padding_mask is not None:
            kpm = key_padding_mask.reshape(N, 1, 1, key_padding_mask.shape[-1])
            mask = kpm if mask is None else mask + kpm
        dropout_p = self.dropout if self.training else 0.0

        weights = None
        if need_weights:
            w = self._weights(q, k, mask)
            if dropout_p > 0.0:
                w = F.dropout(w, dropout_p, True)
            o = w @ v
            weights = w.mean(1) if average_attn_weights else w
            if not batched:
                weights = weights.squeeze(0)
        else:
            # Rows whose every key is masked give 0 here (SDPA's safe softmax, as torch's), not nan as with weights.
            o = F.scaled_dot_product_attention(q, k, v, mask, dropout_p, bool(is_causal) and mask is None)
        out = F.linear(o.permute(2, 0, 1, 3).reshape(L * N, E), self.out_proj.weight, self.out_proj.bias)
        out = out.reshape(L, N, E)
        if not batched:
            out = out.squeeze(1)
        elif self.batch_first:
            out = out.transpose(0, 1)
        return out, weights

    def _weights(self, q, k, mask):
        """softmax(q k^T / sqrt(D) + mask) over the keys (a row with every key masked is nan, as torch's)."""
        s = (q * math.sqrt(1.0 / self.head_dim)) @ k.transpose(-2, -1)
        return F.softmax(s if mask is None else s + mask, -1)


# ---------------------------------------------------------------------------------------------- layers
def _get_activation_fn(owner, activation):
    if activation == "relu":
        return F.relu
    if activation == "gelu":
        return F.gelu
    raise RuntimeError(f"{owner}: activation should be relu/gelu, not {activation}")


class TransformerEncoderLayer(Module):
    """Self-attention then a feed-forward block, each with a residual and LayerNorm (after the residual, or
    before the block with norm_first)."""

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation=F.relu, layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True, device=None, dtype=None):
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        if isinstance(activation, str):
            activation = _get_activation_fn("TransformerEncoderLayer", activation)
        # torch's flag for its fused inference kernel; kept as an attribute for code that reads it.
        self.activation_relu_or_gelu = (1 if activation is F.relu or isinstance(activation, ReLU) else
                                        2 if activation is F.gelu or isinstance(activation, GELU) else 0)
        self.activation = activation

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        src_key_padding_mask = _canonical_mask("TransformerEncoderLayer", src_key_padding_mask,
                                               "src_key_padding_mask", src.dtype, src_mask, "src_mask")
        src_mask = _canonical_mask("TransformerEncoderLayer", src_mask, "src_mask", src.dtype)
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal=False):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, need_weights=False,
                           is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x):
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerDecoderLayer(Module):
    """Self-attention over tgt, attention over the encoder's memory, then a feed-forward block; each with a
    residual and LayerNorm (norm_first: the norm before the block)."""

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation=F.relu, layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True, device=None, dtype=None):
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, batch_first=batch_first, bias=bias, **kw)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, batch_first=batch_first, bias=bias,
                                                 **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        if isinstance(activation, str):
            activation = _get_activation_fn("TransformerDecoderLayer", activation)
        self.activation = activation

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False):
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask, memory_is_causal)
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask, memory_is_causal))
            x = self.norm3(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal=False):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, is_causal=is_causal,
                           need_weights=False)[0]
        return self.dropout1(x)

    def _mha_block(self, x, mem, attn_mask, key_padding_mask, is_causal=False):
        x = self.multihead_attn(x, mem, mem, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                                is_causal=is_causal, need_weights=False)[0]
        return self.dropout2(x)

    def _ff_block(self, x):
        return self.dropout3(self.linear2(self.dropout(self.activation(self.linear1(x)))))


def _get_clones(module, n):
    return ModuleList([copy.deepcopy(module) for _ in range(n)])


def _check_layer(owner, layer, cls):
    if not isinstance(layer, Module):
        raise TypeError(f"{owner}: expected a {cls} (an nn.Module), got {type(layer).__name__}")


class TransformerEncoder(Module):
    """num_layers deep copies of encoder_layer, then the optional norm. enable_nested_tensor and mask_check are
    accepted for torch's signature; there are no nested tensors here, padding always goes through the mask."""

    def __init__(self, encoder_layer, num_layers, norm=None, enable_nested_tensor=True, mask_check=True):
        super().__init__()
        _check_layer("TransformerEncoder", encoder_layer, "TransformerEncoderLayer")
        self.layers = _get_clones(encoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm
        self.enable_nested_tensor = enable_nested_tensor
        self.use_nested_tensor = False
        self.mask_check = mask_check

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        src_key_padding_mask = _canonical_mask("TransformerEncoder", src_key_padding_mask, "src_key_padding_mask",
                                               src.dtype, mask, "mask")
        mask = _canonical_mask("TransformerEncoder", mask, "mask", src.dtype)
        batch_first = getattr(getattr(self.layers[0], "self_attn", None), "batch_first", False)
        is_causal = _detect_is_causal_mask(mask, is_causal, _get_seq_len(src, batch_first))
        output = src
        for mod in self.layers:
            output = mod(output, src_mask=mask, is_causal=is_causal, src_key_padding_mask=src_key_padding_mask)
        return self.norm(output) if self.norm is not None else output


class TransformerDecoder(Module):
    """num_layers deep copies of decoder_layer, then the optional norm."""

    def __init__(self, decoder_layer, num_layers, norm=None):
        super().__init__()
        _check_layer("TransformerDecoder", decoder_layer, "TransformerDecoderLayer")
        self.layers = _get_clones(decoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False):
        batch_first = getattr(getattr(self.layers[0], "self_attn", None), "batch_first", False)
        tgt_is_causal = _detect_is_causal_mask(tgt_mask, tgt_is_causal, _get_seq_len(tgt, batch_first))
        output = tgt
        for mod in self.layers:
            output = mod(output, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                         tgt_key_padding_mask=tgt_key_padding_mask, memory_key_padding_mask=memory_key_padding_mask,
                         tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)
        return self.norm(output) if self.norm is not None else output


class Transformer(Module):
    """Encoder-decoder Transformer: encoder (num_encoder_layers + LayerNorm) and decoder (num_decoder_layers +
    LayerNorm); every parameter of more than one dim is re-initialised xavier-uniform, as torch."""

    def __init__(self, d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6, dim_feedforward=2048,
                 dropout=0.1, activation=F.relu, custom_encoder=None, custom_decoder=None, layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True, device=None, dtype=None):
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        layer_args = (d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps, batch_first, norm_first,
                      bias)
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            self.encoder = TransformerEncoder(TransformerEncoderLayer(*layer_args, **kw), num_encoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw))
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            self.decoder = TransformerDecoder(TransformerDecoderLayer(*layer_args, **kw), num_decoder_layers,
                                              LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw))
        self._reset_parameters()
        self.d_model = d_model
        self.nhead = nhead
        self.batch_first = batch_first

    def forward(self, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None, src_key_padding_mask=None,
                tgt_key_padding_mask=None, memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
                memory_is_causal=False):
        b = 0 if self.batch_first else 1
        if src.ndim == 3 and src.shape[b] != tgt.shape[b]:
            raise RuntimeError(f"Transformer: the batch number of src and tgt must be equal (src {tuple(src.shape)}, "
                               f"tgt {tuple(tgt.shape)}, batch_first={self.batch_first})")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise RuntimeError(f"Transformer: the feature number of src and tgt must be equal to "
                               f"d_model={self.d_model} (src {tuple(src.shape)}, tgt {tuple(tgt.shape)})")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask, is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask, memory_key_padding_mask=memory_key_padding_mask,
                            tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz, device=None, dtype=None):
        """(sz, sz) float mask: -inf above the diagonal (future positions), 0 on and below it."""
        return _generate_square_subsequent_mask(sz, device=device, dtype=dtype)

    def _reset_parameters(self):
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)


__all__ = ["MultiheadAttention", "TransformerEncoderLayer", "TransformerDecoderLayer", "TransformerEncoder",
           "TransformerDecoder", "Transformer"]
