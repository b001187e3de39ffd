"""nn.functional: the functional neural-network API (PyTorch names)."""
from ..ops.nn import (softmax, log_softmax, cross_entropy, nll_loss, layer_norm, gelu, scaled_dot_product_attention,
                      dropout, embedding, one_hot, packed_attention, mse_loss, binary_cross_entropy, binary_cross_entropy_with_logits)
from ..ops.matmul import linear
from ..ops.elementwise import relu, sigmoid, tanh


def silu(x):
    return x * x.sigmoid()


__all__ = ["softmax", "log_softmax", "cross_entropy", "nll_loss", "layer_norm", "gelu", "scaled_dot_product_attention",
           "dropout", "embedding", "one_hot", "packed_attention", "mse_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits",
           "linear", "relu", "sigmoid", "tanh", "silu"]
